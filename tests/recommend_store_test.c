/* tests/recommend_store_test.c: the store on both backends, SQLite (a file)
 * and PostgreSQL (a real server started by tests/pg_server.sh): schema and
 * migrations, catalogue, events, carts surviving a reopen, refusing a newer
 * schema; on PostgreSQL also two connections on one server, uid replays
 * stored once, notifications between connections, event ids committed in
 * order, and a reconnect after the server crashed (pg_ctl stop -m immediate).
 * A server that cannot be started fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "recommend/db.h"
#include "recommend/store.h"
#include "tests/pg_fixture.h"

static pg_fixture_t s_pg;

static int
s_pg_up(void **state)
{
    (void) state;
    return pg_fixture_start(&s_pg);
}

static int
s_pg_down(void **state)
{
    (void) state;
    pg_fixture_destroy(&s_pg);
    return 0;
}

/* A new empty PostgreSQL database: its URI in uri. */
static void
s_newdb(char *uri, size_t len)
{
    assert_int_equal(pg_fixture_newdb(&s_pg, uri, len), 0);
}

static store_t *
s_open(const char *where)
{
    char *err = NULL;
    store_t *s = store_open(where, &err);
    if (!s)
        fail_msg("store_open %s: %s", where, err ? err : "?");
    return s;
}

static store_event_t
s_event(const char *customer, const char *item, int64_t time, const char *uid)
{
    store_event_t ev = { .time = time, .type = STORE_EVENT_PURCHASE, .quantity = 1 };
    snprintf(ev.customer, sizeof ev.customer, "%s", customer);
    snprintf(ev.item, sizeof ev.item, "%s", item);
    snprintf(ev.uid, sizeof ev.uid, "%s", uid ? uid : "");
    return ev;
}

/* --- both backends ------------------------------------------------------- */

static void
test_locations(void **state)
{
    (void) state;
    assert_int_equal(db_test(false), 0);
    char err[256] = "";
    assert_int_equal(store_check_location("/var/lib/shopd/shop.db", err, sizeof err), 0);
    assert_int_equal(store_check_location("", err, sizeof err), -1);
    assert_int_equal(store_check_location("postgresql://u:pw@h/d?sslmode=require&bogus=1", err,
                                          sizeof err), -1);
    assert_non_null(strstr(err, "bogus"));
    assert_null(strstr(err, "pw"));
    char red[128];
    store_location_redact("postgresql://u:pw@h:5432/d", red, sizeof red);
    assert_string_equal(red, "postgresql://u@h:5432/d");
    assert_true(store_is_server("postgres://h/d"));
    assert_false(store_is_server("postgresql.db"));
}

static void
test_store_self_test_sqlite(void **state)
{
    (void) state;
    assert_int_equal(store_test(false), 0);
}

static void
test_store_self_test_postgresql(void **state)
{
    (void) state;
    char uri[600];
    s_newdb(uri, sizeof uri);
    assert_int_equal(store_test_at(uri, false), 0);
}

static void
test_store_refuses_newer_schema_sqlite(void **state)
{
    (void) state;
    char path[] = "/tmp/shop-store-newer-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char *err = NULL;
    store_t *s = store_open(path, &err);
    assert_null(s);
    assert_non_null(err);
    assert_non_null(strstr(err, "newer"));
    free(err);
    unlink(path);
}

static void
test_store_refuses_newer_schema_postgresql(void **state)
{
    (void) state;
    char uri[600];
    s_newdb(uri, sizeof uri);
    assert_int_equal(pg_fixture_sql(uri, "CREATE TABLE schema_version (one BOOLEAN PRIMARY KEY"
                                         " DEFAULT true, version INTEGER NOT NULL);"
                                         " INSERT INTO schema_version (version) VALUES (99)",
                                    NULL, 0), 0);
    char *err = NULL;
    store_t *s = store_open(uri, &err);
    assert_null(s);
    assert_non_null(err);
    assert_non_null(strstr(err, "schema version 99 is newer"));
    free(err);
}

static void
test_store_creates_schema_version_sqlite(void **state)
{
    (void) state;
    char dir[] = "/tmp/shop-store-ver-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/a.db", dir);
    store_t *s = store_open(path, NULL);
    assert_non_null(s);
    assert_string_equal(store_backend(s), "sqlite");
    assert_string_equal(store_path(s), path);
    store_close(&s);
    assert_null(s);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *) sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    char f[300];
    snprintf(f, sizeof f, "%s-wal", path);
    unlink(f);
    snprintf(f, sizeof f, "%s-shm", path);
    unlink(f);
    unlink(path);
    rmdir(dir);
}

static void
test_store_creates_schema_version_postgresql(void **state)
{
    (void) state;
    char uri[600], val[64];
    s_newdb(uri, sizeof uri);
    store_t *s = s_open(uri);
    assert_string_equal(store_backend(s), "postgresql");
    assert_string_equal(store_path(s), uri);
    /* a second device opening the migrated database changes nothing */
    store_t *s2 = s_open(uri);
    store_close(&s2);
    store_close(&s);
    assert_int_equal(pg_fixture_sql(uri, "SELECT string_agg(version::text, ',')"
                                         " FROM schema_version", val, sizeof val), 0);
    assert_string_equal(val, "2");
    /* event ids: an identity column; keys compared bytewise as in SQLite */
    assert_int_equal(pg_fixture_sql(uri, "SELECT is_identity FROM information_schema.columns"
                                         " WHERE table_name = 'interactions'"
                                         " AND column_name = 'id'", val, sizeof val), 0);
    assert_string_equal(val, "YES");
    assert_int_equal(pg_fixture_sql(uri, "SELECT collation_name FROM information_schema.columns"
                                         " WHERE table_name = 'catalogue'"
                                         " AND column_name = 'id'", val, sizeof val), 0);
    assert_string_equal(val, "C");
    assert_int_equal(pg_fixture_sql(uri, "SELECT count(*) FROM pg_indexes WHERE indexname ="
                                         " 'interactions_by_uid' AND indexdef LIKE '%UNIQUE%'",
                                    val, sizeof val), 0);
    assert_string_equal(val, "1");
}

/* A schema-1 SQLite file (written by a shopd before event uids) upgrades:
 * its events keep their ids, without uids; new ones carry theirs. */
static void
test_store_migrates_sqlite_1_to_2(void **state)
{
    (void) state;
    char dir[] = "/tmp/shop-store-mig-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/old.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "CREATE TABLE catalogue (id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),"
        " name TEXT NOT NULL, category TEXT NOT NULL, price REAL NOT NULL CHECK (price >= 0),"
        " attributes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),"
        " photo TEXT NOT NULL DEFAULT '', in_stock INTEGER NOT NULL DEFAULT 1"
        " CHECK (in_stock IN (0, 1)), updated INTEGER NOT NULL);"
        "CREATE INDEX catalogue_by_category ON catalogue (category, id);"
        "CREATE TABLE customers (id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),"
        " name TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL);"
        "CREATE TABLE interactions (id INTEGER PRIMARY KEY, customer TEXT NOT NULL,"
        " item TEXT NOT NULL, time INTEGER NOT NULL, type TEXT NOT NULL CHECK (type IN"
        " ('view', 'cart', 'purchase')), quantity INTEGER NOT NULL CHECK (quantity > 0),"
        " source TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX interactions_by_customer ON interactions (customer, time);"
        "CREATE INDEX interactions_by_item ON interactions (item);"
        "CREATE TABLE carts (session TEXT NOT NULL, customer TEXT, item TEXT NOT NULL,"
        " quantity INTEGER NOT NULL CHECK (quantity > 0), updated INTEGER NOT NULL,"
        " PRIMARY KEY (session, item));"
        "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
        "INSERT INTO interactions VALUES (7, 'c1', 'a', 100, 'view', 1, '');"
        "INSERT INTO interactions VALUES (9, 'c1', 'b', 200, 'purchase', 2, 'import');"
        "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store_t *s = s_open(path);
    store_event_t *evs = NULL;
    size_t n = 0;
    assert_int_equal(store_customer_events(s, "c1", 10, &evs, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(evs[0].id, 9);
    assert_int_equal(evs[1].id, 7);
    assert_string_equal(evs[0].uid, "");
    assert_string_equal(evs[1].uid, "");
    assert_string_equal(evs[0].source, "import");
    assert_int_equal(evs[0].quantity, 2);
    /* a new event with a uid: stored once, after the old ones */
    store_event_t ev = s_event("c1", "b", 300, "dev:1");
    int64_t id = 0, id2 = 0;
    assert_int_equal(store_add_event_id(s, &ev, &id), 0);
    assert_int_equal(id, 10);
    assert_int_equal(store_add_event_id(s, &ev, &id2), 1);
    assert_int_equal(id2, 10);
    free(evs);
    store_close(&s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* store_event_foreach reads in pages of 4096: 5000 events are all visited,
 * in id order, on both backends. */
typedef struct {
    int n;
    int64_t last;
    bool ordered;
} s_scan_t;

static int
s_scan_fn(const store_event_t *ev, void *ud)
{
    s_scan_t *sc = ud;
    sc->ordered = sc->ordered && ev->id > sc->last;
    sc->last = ev->id;
    sc->n++;
    return 0;
}

static void
s_many_events(const char *where)
{
    store_t *s = s_open(where);
    assert_int_equal(store_begin(s), 0);
    for (int i = 0; i < 5000; i++) {
        char item[16];
        snprintf(item, sizeof item, "i%d", i % 97);
        store_event_t ev = s_event(i % 2 ? "c1" : "c2", item, 1000 + i, NULL);
        assert_int_equal(store_add_event(s, &ev), 0);
    }
    assert_int_equal(store_commit(s), 0);
    s_scan_t sc = { 0, 0, true };
    assert_int_equal(store_event_foreach(s, 0, s_scan_fn, &sc), 0);
    assert_int_equal(sc.n, 5000);
    assert_true(sc.ordered);
    sc = (s_scan_t) { 0, 0, true };
    assert_int_equal(store_event_foreach(s, 4500, s_scan_fn, &sc), 0);
    assert_int_equal(sc.n, 500);
    store_counts_t c;
    assert_int_equal(store_counts(s, &c), 0);
    assert_int_equal(c.events, 5000);
    assert_int_equal(c.customers, 2);
    store_close(&s);
}

static void
test_event_pages_sqlite(void **state)
{
    (void) state;
    char dir[] = "/tmp/shop-store-pages-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/p.db", dir);
    s_many_events(path);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_event_pages_postgresql(void **state)
{
    (void) state;
    char uri[600];
    s_newdb(uri, sizeof uri);
    s_many_events(uri);
}

/* --- PostgreSQL: several connections on one server ------------------------ */

/* Waits (up to 30 s) until fd is readable: a notification arrived. */
static bool
s_wait_readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 30000) == 1;
}

static void
test_two_connections_postgresql(void **state)
{
    (void) state;
    char uri[600];
    s_newdb(uri, sizeof uri);
    store_t *a = s_open(uri), *b = s_open(uri);
    assert_int_equal(store_listen(b), 0);
    int fd = store_notify_fd(b);
    assert_true(fd >= 0);
    int64_t max = -1;
    assert_int_equal(store_notifications(b, &max), 0);
    assert_int_equal(max, 0);

    /* a purchase through A: B hears its id */
    store_event_t ev = s_event("c1", "boot-01", 1000, "dev-a:00000000000000000000000000000001");
    int64_t id = 0;
    assert_int_equal(store_add_event_id(a, &ev, &id), 0);
    assert_true(id > 0);
    assert_true(s_wait_readable(fd));
    assert_int_equal(store_notifications(b, &max), 1);
    assert_int_equal(max, id);
    /* and reads it */
    int64_t last = 0;
    assert_int_equal(store_last_event_id(b, &last), 0);
    assert_int_equal(last, id);

    /* the same uid replayed through B (an outbox forwarding twice): once */
    int64_t again = 0;
    assert_int_equal(store_add_event_id(b, &ev, &again), 1);
    assert_int_equal(again, id);
    store_counts_t c;
    assert_int_equal(store_counts(a, &c), 0);
    assert_int_equal(c.events, 1);
    /* nothing was committed, nothing is heard */
    assert_int_equal(store_notifications(b, &max), 0);

    /* carts and customers are shared too */
    assert_int_equal(store_cart_set(a, "kiosk-1", "c1", "boot-02", 2), 0);
    store_cart_line_t *lines = NULL;
    size_t n = 0;
    assert_int_equal(store_cart_get(b, "kiosk-1", &lines, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(lines[0].item, "boot-02");
    assert_int_equal(lines[0].quantity, 2);
    free(lines);
    assert_int_equal(store_customer_exists(b, "c1"), 0);

    /* a checkout through B: one notification, naming the newest id */
    int bought = 0;
    assert_int_equal(store_listen(a), 0);
    assert_int_equal(store_cart_checkout(b, "kiosk-1", "c1", 2000, &bought), 0);
    assert_int_equal(bought, 1);
    assert_true(s_wait_readable(store_notify_fd(a)));
    assert_int_equal(store_notifications(a, &max), 1);
    assert_int_equal(store_last_event_id(a, &last), 0);
    assert_int_equal(max, last);
    assert_true(last > id);
    store_close(&a);
    store_close(&b);
}

/* Event ids commit in id order: while A's transaction holds an uncommitted
 * event, B's insert waits for it, so a reader never sees B's id without
 * A's smaller one. */
typedef struct {
    const char *uri;
    int64_t id;
    int rc;
} s_writer_t;

static void *
s_writer(void *arg)
{
    s_writer_t *w = arg;
    store_t *s = store_open(w->uri, NULL);
    store_event_t ev = s_event("c2", "bag-01", 3000, NULL);
    w->rc = s ? store_add_event_id(s, &ev, &w->id) : -1;
    store_close(&s);
    return NULL;
}

static void
test_event_ids_commit_in_order_postgresql(void **state)
{
    (void) state;
    char uri[600], val[32];
    s_newdb(uri, sizeof uri);
    store_t *a = s_open(uri), *reader = s_open(uri);
    assert_int_equal(store_begin(a), 0);
    store_event_t ev = s_event("c1", "boot-01", 1000, NULL);
    int64_t ida = 0;
    assert_int_equal(store_add_event_id(a, &ev, &ida), 0);
    s_writer_t w = { .uri = uri, .id = 0, .rc = -2 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, s_writer, &w), 0);
    /* wait until B waits on the advisory lock (a condition, polled) */
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(pg_fixture_sql(uri, "SELECT count(*) FROM pg_locks WHERE"
                                             " locktype = 'advisory' AND NOT granted",
                                        val, sizeof val), 0);
        if (strcmp(val, "1") == 0)
            break;
        usleep(10000);
    }
    assert_string_equal(val, "1");
    int64_t last = -1;
    assert_int_equal(store_last_event_id(reader, &last), 0);
    assert_int_equal(last, 0);
    assert_int_equal(store_commit(a), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.rc, 0);
    assert_true(w.id > ida);
    assert_int_equal(store_last_event_id(reader, &last), 0);
    assert_int_equal(last, w.id);
    store_close(&a);
    store_close(&reader);
}

/* The server crashes (pg_ctl stop -m immediate): calls fail at once with
 * store_unavailable() true; after the restart store_reconnect brings the
 * connection back, listening again. */
static void
test_reconnect_postgresql(void **state)
{
    (void) state;
    char uri[600];
    s_newdb(uri, sizeof uri);
    store_t *s = s_open(uri);
    assert_int_equal(store_listen(s), 0);
    store_event_t ev = s_event("c1", "boot-01", 1000, "dev-a:1");
    assert_int_equal(store_add_event(s, &ev), 0);
    assert_int_equal(store_notifications(s, NULL), 1);
    assert_false(store_unavailable(s));

    assert_int_equal(pg_fixture_stop(&s_pg, "immediate"), 0);
    int64_t last = 0;
    assert_int_equal(store_last_event_id(s, &last), -1);
    assert_true(store_unavailable(s));
    assert_non_null(strstr(store_errmsg(s), "unavailable"));
    assert_int_equal(store_notify_fd(s), -1);
    /* while down: calls fail fast, reconnecting fails */
    store_event_t ev2 = s_event("c1", "boot-02", 2000, "dev-a:2");
    assert_int_equal(store_add_event(s, &ev2), -1);
    assert_true(store_unavailable(s));
    assert_int_equal(store_reconnect(s), -1);
    assert_true(store_unavailable(s));

    assert_int_equal(pg_fixture_restart(&s_pg), 0);
    assert_int_equal(store_reconnect(s), 0);
    assert_false(store_unavailable(s));
    assert_true(store_notify_fd(s) >= 0);
    /* the event refused while down is stored now, the one before it once */
    assert_int_equal(store_add_event(s, &ev2), 0);
    assert_int_equal(store_add_event(s, &ev), 0);
    store_counts_t c;
    assert_int_equal(store_counts(s, &c), 0);
    assert_int_equal(c.events, 2);
    /* listening again: another connection's insert is heard */
    store_t *other = s_open(uri);
    store_event_t ev3 = s_event("c3", "bag-01", 3000, NULL);
    int64_t id3 = 0;
    assert_int_equal(store_add_event_id(other, &ev3, &id3), 0);
    int64_t max = 0;
    int got = 0;
    while (got < 2 && s_wait_readable(store_notify_fd(s))) {
        int k = store_notifications(s, &max);
        assert_true(k >= 0);
        got += k;
        if (max == id3)
            break;
    }
    assert_int_equal(max, id3);
    store_close(&other);
    store_close(&s);
}

/* A database whose sessions are read-only (as on a standby): a migrated one
 * opens read-only, serves reads and refuses writes; an unmigrated one is
 * refused. */
static void
test_readonly_postgresql(void **state)
{
    (void) state;
    char uri[600], empty[600], sql[700];
    s_newdb(uri, sizeof uri);
    s_newdb(empty, sizeof empty);
    store_t *s = s_open(uri);
    store_event_t ev = s_event("c1", "boot-01", 1000, "dev-a:ro");
    assert_int_equal(store_add_event(s, &ev), 0);
    store_close(&s);
    for (int i = 0; i < 2; i++) {
        const char *u = i ? empty : uri;
        /* the database's name: between "///" and "?" */
        const char *name = strstr(u, "///") + 3;
        snprintf(sql, sizeof sql, "ALTER DATABASE %.*s SET default_transaction_read_only = on",
                 (int) (strchr(name, '?') - name), name);
        assert_int_equal(pg_fixture_sql(s_pg.uri, sql, NULL, 0), 0);
    }
    s = s_open(uri);
    assert_true(store_readonly(s));
    int64_t last = 0;
    assert_int_equal(store_last_event_id(s, &last), 0);
    assert_true(last > 0);
    ev.uid[0] = '\0';
    assert_int_equal(store_add_event(s, &ev), -1);
    assert_string_equal(store_errmsg(s), "database is read-only");
    assert_int_equal(store_cart_set(s, "k1", NULL, "boot-01", 1), -1);
    assert_int_equal(store_meta_set(s, "session:k1", "{}"), -1);
    assert_int_equal(store_begin(s), -1);
    store_forget_t f;
    assert_int_equal(store_forget_customer(s, "c1", &f), -1);
    assert_false(store_unavailable(s));
    store_close(&s);
    char *err = NULL;
    assert_null(store_open(empty, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "read-only and has schema version 0"));
    free(err);
}

/* A statement that waits on a lock stops at the statement_timeout (here
 * 300 ms from the URI): the call fails as busy, the connection stays up.
 * A server that stops answering (its process stopped with SIGSTOP) is
 * given up after the statement_timeout plus 5 s: unavailable. */
static void
test_timeouts_postgresql(void **state)
{
    (void) state;
    char uri[600], short_uri[700], pid[32];
    s_newdb(uri, sizeof uri);
    snprintf(short_uri, sizeof short_uri,
             "%s&options=-c%%20statement_timeout%%3D300&application_name=timeouts", uri);
    store_t *holder = s_open(uri), *s = s_open(short_uri);
    /* the holder keeps the event lock in an open transaction */
    assert_int_equal(store_begin(holder), 0);
    store_event_t ev = s_event("c1", "boot-01", 1000, NULL);
    assert_int_equal(store_add_event(holder, &ev), 0);
    assert_int_equal(store_add_event(s, &ev), -1);
    assert_non_null(strstr(store_errmsg(s), "statement timeout"));
    assert_false(store_unavailable(s));
    assert_int_equal(store_rollback(holder), 0);
    assert_int_equal(store_add_event(s, &ev), 0);

    /* the server process of s, stopped: nothing answers */
    store_close(&holder);
    store_t *probe = s_open(uri);
    assert_int_equal(pg_fixture_sql(uri, "SELECT pid FROM pg_stat_activity WHERE"
                                         " application_name = 'timeouts'", pid, sizeof pid), 0);
    assert_true(atoi(pid) > 0);
    assert_int_equal(kill((pid_t) atoi(pid), SIGSTOP), 0);
    int64_t last = 0;
    assert_int_equal(store_last_event_id(s, &last), -1);
    assert_true(store_unavailable(s));
    assert_non_null(strstr(store_errmsg(s), "no answer in 5300 ms"));
    assert_int_equal(kill((pid_t) atoi(pid), SIGCONT), 0);
    /* the other connection was never affected */
    assert_int_equal(store_last_event_id(probe, &last), 0);
    assert_int_equal(store_reconnect(s), 0);
    assert_int_equal(store_last_event_id(s, &last), 0);
    store_close(&probe);
    store_close(&s);
}

/* A URI naming no server: refused at open with the reason, quickly (the
 * socket does not exist), its password never in the message. */
static void
test_open_unreachable_postgresql(void **state)
{
    (void) state;
    char uri[700], *err = NULL;
    snprintf(uri, sizeof uri, "postgresql://shop:s3cret@/shop?host=%s/nowhere", s_pg.dir);
    assert_null(store_open(uri, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "cannot connect"));
    assert_null(strstr(err, "s3cret"));
    free(err);
}

int
main(void)
{
    /* one plan: the server is started once, before the first test */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_store_self_test_sqlite),
        cmocka_unit_test(test_store_refuses_newer_schema_sqlite),
        cmocka_unit_test(test_store_creates_schema_version_sqlite),
        cmocka_unit_test(test_store_migrates_sqlite_1_to_2),
        cmocka_unit_test(test_event_pages_sqlite),
        cmocka_unit_test(test_store_self_test_postgresql),
        cmocka_unit_test(test_store_refuses_newer_schema_postgresql),
        cmocka_unit_test(test_store_creates_schema_version_postgresql),
        cmocka_unit_test(test_event_pages_postgresql),
        cmocka_unit_test(test_two_connections_postgresql),
        cmocka_unit_test(test_event_ids_commit_in_order_postgresql),
        cmocka_unit_test(test_reconnect_postgresql),
        cmocka_unit_test(test_readonly_postgresql),
        cmocka_unit_test(test_timeouts_postgresql),
        cmocka_unit_test(test_open_unreachable_postgresql),
    };
    return cmocka_run_group_tests(tests, s_pg_up, s_pg_down);
}
