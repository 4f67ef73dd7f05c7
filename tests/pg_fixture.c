/* tests/pg_fixture.c: a real PostgreSQL server for a test (see pg_fixture.h). */
#include "tests/pg_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

/* Runs tests/pg_server.sh CMD DIR [ARG], its first output line into out
 * (may be NULL). */
static int
s_script(const char *cmd, const char *dir, const char *arg, char *out, size_t outlen)
{
    const char *top = getenv("SHOP_TOP_SRCDIR");
    char line[1024];
    snprintf(line, sizeof line, "'%s/tests/pg_server.sh' %s '%s' %s", top ? top : ".", cmd, dir,
             arg ? arg : "");
    FILE *p = popen(line, "r");
    if (!p) {
        perror("pg_fixture: popen");
        return -1;
    }
    char buf[1024] = "";
    if (!fgets(buf, sizeof buf, p))
        buf[0] = '\0';
    /* drain: the script prints one line */
    char rest[256];
    while (fgets(rest, sizeof rest, p))
        ;
    int st = pclose(p);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "pg_fixture: pg_server.sh %s %s failed (status %d)\n", cmd, dir, st);
        return -1;
    }
    buf[strcspn(buf, "\n")] = '\0';
    if (out)
        snprintf(out, outlen, "%s", buf);
    return 0;
}

/* Stops the server in dir (immediately) and removes dir. */
static void
s_remove(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return;
    s_script("stop", dir, "immediate", NULL, 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "pg_fixture: could not remove %s\n", dir);
}

/* The guard: a process of its own group (a kill of the test's group spares
 * it) that reads the pipe until the test's end of it closes, however the
 * test ended, then removes what is left. */
static void
s_guard(pg_fixture_t *f)
{
    int p[2];
    if (pipe(p) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        setpgid(0, 0);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        char c;
        /* nobody writes: read returns at the end of the pipe */
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        s_remove(f->dir);
        _exit(0);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return;
    }
    /* programs the test executes (shopd) do not keep the guard waiting */
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    f->guard_fd = p[1];
    f->guard_pid = (int) pid;
}

int
pg_fixture_start(pg_fixture_t *f)
{
    memset(f, 0, sizeof *f);
    f->guard_fd = -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/shop-pg-XXXXXX");
    if (!mkdtemp(f->dir)) {
        perror("pg_fixture: mkdtemp");
        f->dir[0] = '\0';
        return -1;
    }
    s_guard(f);
    if (s_script("start", f->dir, NULL, f->uri, sizeof f->uri) != 0 || !f->uri[0]) {
        fprintf(stderr, "pg_fixture: PostgreSQL did not start in %s (is the Debian package "
                "postgresql installed? scripts/setup installs it)\n", f->dir);
        return -1;
    }
    return 0;
}

int
pg_fixture_stop(pg_fixture_t *f, const char *mode)
{
    return s_script("stop", f->dir, mode, NULL, 0);
}

int
pg_fixture_restart(pg_fixture_t *f)
{
    char uri[sizeof f->uri];
    if (s_script("start", f->dir, NULL, uri, sizeof uri) != 0)
        return -1;
    return strcmp(uri, f->uri) == 0 ? 0 : -1;
}

int
pg_fixture_sql(const char *uri, const char *sql, char *out, size_t outlen)
{
    if (out && outlen)
        out[0] = '\0';
    PGconn *c = PQconnectdb(uri);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pg_fixture: %s: %s", uri, PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PGresult *r = PQexec(c, sql);
    int st = PQresultStatus(r), ret = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "pg_fixture: %s: %s", sql, PQerrorMessage(c));
        ret = -1;
    } else if (out && outlen && st == PGRES_TUPLES_OK && PQntuples(r) > 0
               && !PQgetisnull(r, 0, 0)) {
        snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    PQfinish(c);
    return ret;
}

int
pg_fixture_newdb(pg_fixture_t *f, char *uri, size_t urilen)
{
    char name[32], sql[64];
    snprintf(name, sizeof name, "shop_test_%d", ++f->ndb);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (pg_fixture_sql(f->uri, sql, NULL, 0) != 0)
        return -1;
    /* the script's URI names the database "postgres": postgresql:///postgres?... */
    const char *q = strchr(f->uri, '?');
    if (!q)
        return -1;
    snprintf(uri, urilen, "postgresql:///%s%s", name, q);
    return 0;
}

void
pg_fixture_destroy(pg_fixture_t *f)
{
    if (!f->dir[0])
        return;
    s_remove(f->dir);
    f->dir[0] = '\0';
    if (f->guard_fd >= 0) {
        close(f->guard_fd);
        f->guard_fd = -1;
        waitpid((pid_t) f->guard_pid, NULL, 0);
        f->guard_pid = 0;
    }
}
