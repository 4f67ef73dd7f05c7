/* recommend/outbox.c: see outbox.h */
#include "config.h"

#include "recommend/outbox.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/util.h"

struct _outbox_t {
    sqlite3 *db;              /* the connection, WAL, synchronous=FULL */
    char *path;               /* as opened */
    int64_t depth;            /* rows in the table */
    char err[512];            /* last failure, "" after success */
};

static const char *const s_schema =
    "CREATE TABLE IF NOT EXISTS outbox ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " uid TEXT NOT NULL UNIQUE,"
    " customer TEXT NOT NULL, item TEXT NOT NULL, time INTEGER NOT NULL,"
    " type INTEGER NOT NULL CHECK (type BETWEEN 0 AND 2),"
    " quantity INTEGER NOT NULL CHECK (quantity >= 1),"
    " source TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS outbox_sessions (session TEXT PRIMARY KEY)";

static int
s_fail(outbox_t *ob, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ob->err, sizeof ob->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int
s_exec(outbox_t *ob, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(ob->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        s_fail(ob, "outbox %s: %s", ob->path, msg ? msg : sqlite3_errmsg(ob->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int
s_count(outbox_t *ob)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ob->db, "SELECT count(*) FROM outbox", -1, &st, NULL) != SQLITE_OK
        || sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return s_fail(ob, "outbox %s: %s", ob->path, sqlite3_errmsg(ob->db));
    }
    ob->depth = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

outbox_t *
outbox_open(const char *path, char **err)
{
    outbox_t *ob = xcalloc(1, sizeof *ob);
    ob->path = xstrdup(path);
    if (sqlite3_open_v2(path, &ob->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                           | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        s_fail(ob, "outbox %s: %s", path, ob->db ? sqlite3_errmsg(ob->db) : "out of memory");
        goto err;
    }
    sqlite3_busy_timeout(ob->db, 5000);
    sqlite3_stmt *st = NULL;
    bool wal = sqlite3_prepare_v2(ob->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK
               && sqlite3_step(st) == SQLITE_ROW
               && strcmp((const char *) sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        s_fail(ob, "outbox %s: cannot use WAL mode: %s", path, sqlite3_errmsg(ob->db));
        goto err;
    }
    if (s_exec(ob, "PRAGMA synchronous = FULL") != 0 || s_exec(ob, s_schema) != 0
        || s_count(ob) != 0)
        goto err;
    return ob;
err:
    if (err)
        *err = xstrdup(ob->err);
    outbox_close(&ob);
    return NULL;
}

void
outbox_close(outbox_t **ob_p)
{
    if (!ob_p || !*ob_p)
        return;
    outbox_t *ob = *ob_p;
    sqlite3_close(ob->db);
    free(ob->path);
    free(ob);
    *ob_p = NULL;
}

const char *
outbox_errmsg(const outbox_t *ob)
{
    return ob->err;
}

const char *
outbox_path(const outbox_t *ob)
{
    return ob->path;
}

int64_t
outbox_depth(const outbox_t *ob)
{
    return ob->depth;
}

bool
outbox_uid_valid(const char *uid)
{
    size_t n = uid ? strlen(uid) : 0;
    if (n == 0 || n >= OUTBOX_UID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = uid[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

int
outbox_make_uid(char *buf, size_t len)
{
    unsigned char r[16];
    if (len < 2 * sizeof r + 1)
        return -1;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t) k;
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(buf + 2 * i, 3, "%02x", r[i]);
    return 0;
}

int
outbox_put(outbox_t *ob, const store_event_t *evs, size_t n, int64_t *seq)
{
    ob->err[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const store_event_t *e = &evs[i];
        if (!outbox_uid_valid(e->uid))
            return s_fail(ob, "outbox: event %zu: the uid must be 1 to %d bytes of "
                          "letters, digits and . _ : -", i, OUTBOX_UID_MAX - 1);
        if (!e->customer[0] || !e->item[0] || e->quantity < 1 || (int) e->type < 0
            || e->type > STORE_EVENT_PURCHASE)
            return s_fail(ob, "outbox: event %zu: customer, item, type and a quantity >= 1 "
                          "are required", i);
    }
    if (s_exec(ob, "BEGIN IMMEDIATE") != 0)
        return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ob->db,
                           "INSERT INTO outbox (uid, customer, item, time, type, quantity, "
                           "source) VALUES (?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const store_event_t *e = &evs[i];
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, e->uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->customer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, e->item, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, e->time);
        sqlite3_bind_int(st, 5, (int) e->type);
        sqlite3_bind_int(st, 6, e->quantity);
        sqlite3_bind_text(st, 7, e->source, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (s_exec(ob, "COMMIT") != 0) {
        sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    ob->depth += (int64_t) n;
    if (seq)
        *seq = sqlite3_last_insert_rowid(ob->db);
    return 0;
fail:
    s_fail(ob, "outbox %s: %s", ob->path, sqlite3_errmsg(ob->db));
    sqlite3_finalize(st);
    sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static void
s_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    shop_strlcpy(dst, t ? (const char *) t : "", cap);
}

int
outbox_peek(outbox_t *ob, size_t max, outbox_entry_t **out, size_t *n)
{
    ob->err[0] = 0;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ob->db,
                           "SELECT seq, uid, customer, item, time, type, quantity, source "
                           "FROM outbox ORDER BY seq LIMIT ?", -1, &st, NULL) != SQLITE_OK)
        return s_fail(ob, "outbox %s: %s", ob->path, sqlite3_errmsg(ob->db));
    sqlite3_bind_int64(st, 1, (sqlite3_int64) (max > INT64_MAX ? INT64_MAX : max));
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        outbox_entry_t *e = &(*out)[(*n)++];
        memset(e, 0, sizeof *e);
        e->seq = sqlite3_column_int64(st, 0);
        s_text(st, 1, e->ev.uid, sizeof e->ev.uid);
        s_text(st, 2, e->ev.customer, sizeof e->ev.customer);
        s_text(st, 3, e->ev.item, sizeof e->ev.item);
        e->ev.time = sqlite3_column_int64(st, 4);
        e->ev.type = (store_event_type_t) sqlite3_column_int(st, 5);
        e->ev.quantity = sqlite3_column_int(st, 6);
        s_text(st, 7, e->ev.source, sizeof e->ev.source);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return s_fail(ob, "outbox %s: %s", ob->path, sqlite3_errmsg(ob->db));
    }
    return 0;
}

int
outbox_remove(outbox_t *ob, int64_t upto)
{
    ob->err[0] = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ob->db, "DELETE FROM outbox WHERE seq <= ?", -1, &st, NULL)
            != SQLITE_OK)
        return s_fail(ob, "outbox %s: %s", ob->path, sqlite3_errmsg(ob->db));
    sqlite3_bind_int64(st, 1, upto);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return s_fail(ob, "outbox %s: %s", ob->path, sqlite3_errmsg(ob->db));
    return s_count(ob);
}

/* Runs sql with one text parameter to its end. */
static int
s_run_text(outbox_t *ob, const char *sql, const char *text)
{
    ob->err[0] = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ob->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return s_fail(ob, "outbox %s: %s", ob->path, sqlite3_errmsg(ob->db));
    return 0;
}

int
outbox_session_add(outbox_t *ob, const char *session)
{
    return s_run_text(ob, "INSERT OR IGNORE INTO outbox_sessions (session) VALUES (?)", session);
}

int
outbox_session_remove(outbox_t *ob, const char *session)
{
    return s_run_text(ob, "DELETE FROM outbox_sessions WHERE session = ?", session);
}

int
outbox_session_list(outbox_t *ob, char ***ids, size_t *n)
{
    ob->err[0] = 0;
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ob->db, "SELECT session FROM outbox_sessions ORDER BY session", -1,
                           &st, NULL) != SQLITE_OK)
        return s_fail(ob, "outbox %s: %s", ob->path, sqlite3_errmsg(ob->db));
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *ids = xrealloc(*ids, cap * sizeof **ids);
        }
        (*ids)[(*n)++] = xstrdup((const char *) sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_strings_free(*ids, *n);
        *ids = NULL;
        *n = 0;
        return s_fail(ob, "outbox %s: %s", ob->path, sqlite3_errmsg(ob->db));
    }
    return 0;
}

/* --- self-test ------------------------------------------------------------ */

#define S_CHECK(c)                                                              \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "outbox_test: %s:%d: %s\n", __FILE__, __LINE__, #c); \
            goto done;                                                          \
        }                                                                       \
    } while (0)

static store_event_t
s_ev(const char *customer, const char *item, int64_t time, store_event_type_t type,
     const char *uid)
{
    store_event_t e = { .time = time, .type = type, .quantity = 1 };
    shop_strlcpy(e.uid, uid, sizeof e.uid);
    shop_strlcpy(e.customer, customer, sizeof e.customer);
    shop_strlcpy(e.item, item, sizeof e.item);
    shop_strlcpy(e.source, "kiosk-1", sizeof e.source);
    return e;
}

int
outbox_test(bool verbose)
{
    int rc = -1;
    char dir[] = "/tmp/shop-outbox-test-XXXXXX", path[128], f[160];
    outbox_t *ob = NULL;
    outbox_entry_t *got = NULL;
    size_t n = 0;
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/outbox.db", dir);
    char u1[OUTBOX_UID_MAX], u2[OUTBOX_UID_MAX], u3[OUTBOX_UID_MAX];
    S_CHECK(outbox_make_uid(u1, sizeof u1) == 0 && strlen(u1) == 32 && outbox_uid_valid(u1));
    S_CHECK(outbox_make_uid(u2, sizeof u2) == 0 && strcmp(u1, u2) != 0);
    S_CHECK(outbox_make_uid(u3, 32) == -1);
    S_CHECK(outbox_make_uid(u3, sizeof u3) == 0);
    S_CHECK(!outbox_uid_valid("") && !outbox_uid_valid("a b") && !outbox_uid_valid("x'y"));
    S_CHECK(outbox_uid_valid("kiosk-1:0042.a_b"));

    ob = outbox_open(path, NULL);
    S_CHECK(ob && outbox_depth(ob) == 0);
    store_event_t a = s_ev("c1", "boot-01", 100, STORE_EVENT_PURCHASE, u1);
    store_event_t b[2] = { s_ev("c2", "bag-02", 101, STORE_EVENT_VIEW, u2),
                           s_ev("c1", "coat-03", 102, STORE_EVENT_CART, u3) };
    int64_t seq = 0;
    S_CHECK(outbox_put(ob, &a, 1, &seq) == 0 && seq == 1 && outbox_depth(ob) == 1);
    S_CHECK(outbox_put(ob, b, 2, &seq) == 0 && seq == 3 && outbox_depth(ob) == 3);
    /* a uid already queued refuses the whole batch */
    store_event_t c[2] = { s_ev("c3", "bag-05", 103, STORE_EVENT_VIEW, "fresh-uid"),
                           s_ev("c3", "bag-06", 104, STORE_EVENT_VIEW, u1) };
    S_CHECK(outbox_put(ob, c, 2, NULL) == -1 && outbox_errmsg(ob)[0]);
    S_CHECK(outbox_depth(ob) == 3);
    /* bad events and uids are refused before anything is written */
    store_event_t z = a;
    shop_strlcpy(z.uid, "no spaces", sizeof z.uid);
    S_CHECK(outbox_put(ob, &z, 1, NULL) == -1);
    z = c[0];
    z.quantity = 0;
    S_CHECK(outbox_put(ob, &z, 1, NULL) == -1 && outbox_depth(ob) == 3);

    /* survives a reopen, in order */
    outbox_close(&ob);
    S_CHECK(ob == NULL);
    outbox_close(&ob);
    ob = outbox_open(path, NULL);
    S_CHECK(ob && outbox_depth(ob) == 3);
    S_CHECK(outbox_peek(ob, 2, &got, &n) == 0 && n == 2);
    S_CHECK(got[0].seq == 1 && !strcmp(got[0].ev.uid, u1) && !strcmp(got[0].ev.item, "boot-01")
            && got[0].ev.type == STORE_EVENT_PURCHASE && got[0].ev.time == 100
            && !strcmp(got[0].ev.source, "kiosk-1") && got[0].ev.quantity == 1);
    S_CHECK(got[1].seq == 2 && !strcmp(got[1].ev.uid, u2) && !strcmp(got[1].ev.customer, "c2"));
    S_CHECK(outbox_remove(ob, got[1].seq) == 0 && outbox_depth(ob) == 1);
    free(got);
    got = NULL;
    S_CHECK(outbox_peek(ob, 10, &got, &n) == 0 && n == 1 && got[0].seq == 3
            && !strcmp(got[0].ev.uid, u3) && got[0].ev.type == STORE_EVENT_CART);
    /* removing again is harmless; an emptied outbox peeks nothing */
    S_CHECK(outbox_remove(ob, 3) == 0 && outbox_remove(ob, 3) == 0 && outbox_depth(ob) == 0);
    free(got);
    got = NULL;
    S_CHECK(outbox_peek(ob, 10, &got, &n) == 0 && n == 0 && got == NULL);
    /* seq keeps growing after the outbox empties (AUTOINCREMENT) */
    S_CHECK(outbox_put(ob, &c[0], 1, &seq) == 0 && seq == 4);
    S_CHECK(!strcmp(outbox_path(ob), path));
    /* sessions used offline: idempotent, kept across a reopen, removed one by one */
    char **ids = NULL;
    size_t nid = 0;
    S_CHECK(outbox_session_add(ob, "kiosk-2") == 0 && outbox_session_add(ob, "kiosk-1") == 0
            && outbox_session_add(ob, "kiosk-2") == 0);
    outbox_close(&ob);
    ob = outbox_open(path, NULL);
    S_CHECK(ob && outbox_session_list(ob, &ids, &nid) == 0 && nid == 2
            && !strcmp(ids[0], "kiosk-1") && !strcmp(ids[1], "kiosk-2"));
    store_strings_free(ids, nid);
    ids = NULL;
    S_CHECK(outbox_session_remove(ob, "kiosk-1") == 0
            && outbox_session_list(ob, &ids, &nid) == 0 && nid == 1 && !strcmp(ids[0], "kiosk-2"));
    store_strings_free(ids, nid);
    rc = 0;
    if (verbose)
        fprintf(stderr, "outbox_test: ok\n");
done:
    free(got);
    outbox_close(&ob);
    unlink(path);
    snprintf(f, sizeof f, "%s-wal", path);
    unlink(f);
    snprintf(f, sizeof f, "%s-shm", path);
    unlink(f);
    rmdir(dir);
    return rc;
}
