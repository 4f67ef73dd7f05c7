/* tests/pg_fixture.h: a real PostgreSQL server for a test program, started
 * by tests/pg_server.sh in a temporary folder (Unix socket only, no TCP).
 *
 * A guard process outlives a test that crashes or is killed: it waits for
 * the end of a pipe the test holds, then stops the server and removes its
 * folder, so no server is left running behind a failed test.
 *
 * A test that cannot start the server fails: CI installs PostgreSQL
 * (scripts/setup), so there is no skip. Plain C (no cmocka): functions
 * return 0 / -1 and print why on stderr. */
#ifndef SHOP_TESTS_PG_FIXTURE_H
#define SHOP_TESTS_PG_FIXTURE_H

#include <stddef.h>

typedef struct {
    char dir[128];    /* the server's folder (cluster, log, socket), "" when none */
    char uri[512];    /* libpq URI of its "postgres" database */
    int ndb;          /* databases made by pg_fixture_newdb */
    int guard_fd;     /* write end of the guard's pipe, -1 when none */
    int guard_pid;    /* the guard process, 0 when none */
} pg_fixture_t;

/* Makes a temporary folder and starts a new server in it. */
int pg_fixture_start(pg_fixture_t *f);

/* Stops the server: mode "fast" or "immediate" (a crash: no shutdown
 * checkpoint, clients cut off). */
int pg_fixture_stop(pg_fixture_t *f, const char *mode);

/* Starts the stopped server again (same cluster, same URI). */
int pg_fixture_restart(pg_fixture_t *f);

/* Creates a new empty database and writes its URI into uri. */
int pg_fixture_newdb(pg_fixture_t *f, char *uri, size_t urilen);

/* Runs one SQL statement on the database at uri and copies the first column
 * of its first row into out (may be NULL; "" when no row or NULL). */
int pg_fixture_sql(const char *uri, const char *sql, char *out, size_t outlen);

/* Stops the server and removes its folder; safe twice. */
void pg_fixture_destroy(pg_fixture_t *f);

#endif
