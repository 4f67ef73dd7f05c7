/* recommend/db.h: the store's database driver, one small API over two
 * backends: SQLite (a file, embedded) and PostgreSQL (a server, through
 * libpq). recommend/store.c holds the store's logic and its SQL once and
 * talks to the database only through these calls.
 *
 * SQL is written once, in the subset both backends accept: parameters are
 * numbered ?1, ?2, ... (rewritten to $1, $2, ... for libpq), upserts are
 * INSERT ... ON CONFLICT ... DO NOTHING / DO UPDATE, new rows report their
 * id with RETURNING. What differs (the schema's types, how the schema
 * version is kept, LISTEN/NOTIFY, SQLite's pragmas) lives in the backends
 * (db_sqlite.c, db_pg.c) and in the per-backend migrations of store.c.
 *
 * A db_t is ONE connection and is not thread-safe. Statements belong to the
 * db_t that prepared them.
 *
 * Errors: calls return 0 (or a row/no-row flag) on success, -1 on failure;
 * db_error() then gives a class to switch on and db_errmsg() the backend's
 * message (both valid until the next call on the db_t). */
#ifndef SHOP_RECOMMEND_DB_H
#define SHOP_RECOMMEND_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DB_SQLITE,
    DB_POSTGRESQL,
} db_backend_t;

/* The class of the last failure. */
typedef enum {
    DB_OK = 0,
    DB_ERROR,        /* anything not below (bad SQL, I/O error, ...) */
    DB_CONSTRAINT,   /* a UNIQUE, PRIMARY KEY or NOT NULL constraint */
    DB_CHECK,        /* a CHECK constraint */
    DB_READONLY,     /* the database accepts no writes */
    DB_BUSY,         /* a lock was not granted in time, or a statement timed out */
    DB_UNAVAILABLE,  /* the server cannot be reached (PostgreSQL): see db_reconnect */
} db_error_t;

typedef struct _db_t db_t;
typedef struct _db_stmt_t db_stmt_t;

/* Whether where names a PostgreSQL server (a libpq URI, postgresql:// or
 * postgres://) rather than a SQLite file. */
bool db_is_uri(const char *where);

/* Checks a libpq URI strictly: the scheme, a length limit, no control
 * characters, and libpq's own parser (unknown parameters, bad escapes and
 * bad ports are refused). Returns 0, or -1 with a message in err that never
 * repeats a password. */
int db_uri_check(const char *uri, char *err, size_t errlen);

/* Checks a location without opening it: not empty; a URI as db_uri_check;
 * a path that starts like a misspelt URI ("postgresql:/h/d",
 * "POSTGRES://...") is refused rather than taken for a SQLite file name.
 * Returns 0, or -1 with a message in err. */
int db_check(const char *where, char *err, size_t errlen);

/* Copies where into buf with any password removed (a URI's user:password@
 * keeps the user, ?password=... goes); a file path is copied as it is. */
void db_redact(const char *where, char *buf, size_t buflen);

/* Opens where: a SQLite file (created when missing; WAL, synchronous=FULL,
 * a 5 s busy timeout; read-only when the file or its directory cannot be
 * written, see store.h) or a PostgreSQL server (a libpq URI; connect_timeout
 * 5 s and statement_timeout 15 s unless the URI sets its own, see
 * docs/store.md). Returns the connection, or NULL with a message in err. */
db_t *db_open(const char *where, char *err, size_t errlen);

/* Closes the connection (finalising its statements) and NULLs *db_p. Safe
 * on NULL and twice. Every db_stmt_t of it must be finalised first. */
void db_close(db_t **db_p);

db_backend_t db_backend(const db_t *db);
/* "sqlite" or "postgresql". */
const char *db_backend_name(const db_t *db);
/* The location as given to db_open, any password removed. */
const char *db_where(const db_t *db);
/* Whether the database accepts no writes (a read-only file; a standby or a
 * read-only PostgreSQL session). */
bool db_readonly(const db_t *db);

db_error_t db_error(const db_t *db);
const char *db_errmsg(const db_t *db);

/* Runs a script of statements without parameters or rows. 0 / -1. */
int db_exec(db_t *db, const char *sql);

/* Transactions: db_begin starts one that takes the write lock at once
 * (SQLite: BEGIN IMMEDIATE); db_commit fails when the server rolled it back
 * instead (PostgreSQL aborts a transaction at its first error). 0 / -1. */
int db_begin(db_t *db);
int db_commit(db_t *db);
int db_rollback(db_t *db);
bool db_in_transaction(const db_t *db);

/* Prepares sql (placeholders ?1..?N). cache: the statement is kept for
 * repeated use (SQLite: persistent; PostgreSQL: a named server-side
 * statement, prepared on first use and again after a reconnect). Returns
 * the statement (owned by the caller, freed with db_finalize) or NULL. */
db_stmt_t *db_prepare(db_t *db, const char *sql, bool cache);
void db_finalize(db_stmt_t **st_p);

/* Binds parameter i (1-based). Text is copied; NULL text binds NULL. */
int db_bind_text(db_stmt_t *st, int i, const char *txt);
int db_bind_int64(db_stmt_t *st, int i, int64_t v);
int db_bind_double(db_stmt_t *st, int i, double v);

/* Runs the statement or moves to its next row: 1 with a row to read, 0
 * when done, -1 on error. */
int db_step(db_stmt_t *st);
/* Ends the current run and clears the bindings; the statement can run again. */
void db_reset(db_stmt_t *st);

/* The current row's column col (0-based). Text is NULL for SQL NULL and
 * valid until the next db_step or db_reset. */
const char *db_col_text(db_stmt_t *st, int col);
int64_t db_col_int64(db_stmt_t *st, int col);
double db_col_double(db_stmt_t *st, int col);

/* Rows changed by the last INSERT, UPDATE or DELETE run on db. */
int64_t db_changes(const db_t *db);

/* The schema version (0 for an empty database) and its update, for the
 * migrations of store.c: SQLite keeps it in PRAGMA user_version,
 * PostgreSQL in the one-row table schema_version. db_migrate_begin opens
 * the migration's transaction: SQLite BEGIN EXCLUSIVE; PostgreSQL BEGIN,
 * then a transaction-level advisory lock (two devices starting at once
 * migrate one after the other) and the schema_version table. */
int db_schema_version(db_t *db, int *version);
int db_migrate_begin(db_t *db);
int db_schema_version_set(db_t *db, int version);

/* Serialises writers until the end of the current transaction on a
 * transaction-level advisory lock named key (PostgreSQL). SQLite: a no-op
 * (db_begin already holds the database's one write lock). 0 / -1. */
int db_xact_lock(db_t *db, int64_t key);

/* Queues a notification on channel, delivered to listeners at commit
 * (PostgreSQL pg_notify). SQLite: a no-op. 0 / -1. */
int db_notify(db_t *db, const char *channel, const char *payload);

/* Subscribes to channel (PostgreSQL LISTEN, repeated after a reconnect).
 * SQLite: a no-op (one device per file). 0 / -1. */
int db_listen(db_t *db, const char *channel);

/* The socket to poll for notifications: -1 on SQLite or while the server
 * is unavailable. */
int db_notify_fd(const db_t *db);

/* Reads what the socket holds and calls fn for each notification received
 * (any channel). Returns how many, 0 when none, -1 on error (the server is
 * unavailable then). */
typedef void (*db_notify_fn)(const char *channel, const char *payload, void *ud);
int db_notifications(db_t *db, db_notify_fn fn, void *ud);

/* Whether the server was lost (a call failed with DB_UNAVAILABLE). Calls
 * then fail at once with DB_UNAVAILABLE until db_reconnect succeeds.
 * SQLite: always false. */
bool db_unavailable(const db_t *db);

/* Connects again (once; blocks at most the connect timeout), re-LISTENing
 * on the channels listened to. A transaction open when the server was lost
 * is gone. Returns 0 or -1. SQLite: 0. */
int db_reconnect(db_t *db);

/* SQLite erasure helpers (PostgreSQL: no-ops returning 0): secure_delete
 * overwrites deleted cells with zeros; the TRUNCATE checkpoint empties the
 * -wal (returns -1 with a message when a reader keeps it). */
int db_secure_delete(db_t *db, bool on);
int db_checkpoint(db_t *db);

/* Self-test: both parsers of locations (db_uri_check, db_redact). */
int db_test(bool verbose);

#endif
