/* recommend/store.c: the SQLite store (see store.h and docs/store.md). */
#include "recommend/store.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/log.h"
#include "common/util.h"

/* Migration i brings user_version from i to i+1. Append only: a released
 * migration is never edited, so every existing file upgrades the same way. */
static const char *const s_migrations[] = {
    /* 0 -> 1: the first schema */
    "CREATE TABLE catalogue ("
    "  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),"
    "  name TEXT NOT NULL,"
    "  category TEXT NOT NULL,"
    "  price REAL NOT NULL CHECK (price >= 0),"
    "  attributes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),"
    "  photo TEXT NOT NULL DEFAULT '',"
    "  in_stock INTEGER NOT NULL DEFAULT 1 CHECK (in_stock IN (0, 1)),"
    "  updated INTEGER NOT NULL);"
    "CREATE INDEX catalogue_by_category ON catalogue (category, id);"
    "CREATE TABLE customers ("
    "  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE interactions ("
    "  id INTEGER PRIMARY KEY,"
    "  customer TEXT NOT NULL,"
    "  item TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  type TEXT NOT NULL CHECK (type IN ('view', 'cart', 'purchase')),"
    "  quantity INTEGER NOT NULL CHECK (quantity > 0),"
    "  source TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX interactions_by_customer ON interactions (customer, time);"
    "CREATE INDEX interactions_by_item ON interactions (item);"
    "CREATE TABLE carts ("
    "  session TEXT NOT NULL,"
    "  customer TEXT,"
    "  item TEXT NOT NULL,"
    "  quantity INTEGER NOT NULL CHECK (quantity > 0),"
    "  updated INTEGER NOT NULL,"
    "  PRIMARY KEY (session, item));"
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);",
};

/* Every statement the store runs, prepared once per connection on first use. */
typedef enum {
    Q_ITEM_UPSERT,
    Q_ITEM_GET,
    Q_ITEM_LIST_ALL,
    Q_ITEM_LIST_CAT,
    Q_ITEM_STOCK,
    Q_CATEGORIES,
    Q_CUST_INSERT,
    Q_CUST_UPSERT,
    Q_CUST_EXISTS,
    Q_EVENT_ADD,
    Q_EVENT_FROM,
    Q_EVENT_OF_CUST,
    Q_EVENT_LAST,
    Q_CART_GET,
    Q_CART_QTY,
    Q_CART_SET,
    Q_CART_DEL,
    Q_CART_CLEAR,
    Q_CART_CUST,
    Q_COUNT_ITEMS,
    Q_COUNT_STOCK,
    Q_COUNT_CUST,
    Q_COUNT_EVENTS,
    Q_COUNT_BUY,
    Q_COUNT_CARTS,
    Q_META_SET,
    Q_META_GET,
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_COUNT
} query_t;

static const char *const s_sql[Q_COUNT] = {
    [Q_ITEM_UPSERT] = "INSERT INTO catalogue (id, name, category, price, attributes, photo,"
                      " in_stock, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, strftime('%s'))"
                      " ON CONFLICT (id) DO UPDATE SET name = ?2, category = ?3, price = ?4,"
                      " attributes = ?5, photo = ?6, in_stock = ?7, updated = strftime('%s')",
    [Q_ITEM_GET] = "SELECT id, name, category, price, attributes, photo, in_stock"
                   " FROM catalogue WHERE id = ?1",
    [Q_ITEM_LIST_ALL] = "SELECT id, name, category, price, attributes, photo, in_stock"
                        " FROM catalogue ORDER BY id LIMIT ?2 OFFSET ?3",
    [Q_ITEM_LIST_CAT] = "SELECT id, name, category, price, attributes, photo, in_stock"
                        " FROM catalogue WHERE category = ?1 ORDER BY id LIMIT ?2 OFFSET ?3",
    [Q_ITEM_STOCK] = "UPDATE catalogue SET in_stock = ?2, updated = strftime('%s') WHERE id = ?1",
    [Q_CATEGORIES] = "SELECT DISTINCT category FROM catalogue ORDER BY category",
    [Q_CUST_INSERT] = "INSERT OR IGNORE INTO customers (id, created) VALUES (?1, strftime('%s'))",
    [Q_CUST_UPSERT] = "INSERT INTO customers (id, name, created) VALUES (?1, coalesce(?2, ''),"
                      " strftime('%s')) ON CONFLICT (id) DO UPDATE SET name = coalesce(?2, name)",
    [Q_CUST_EXISTS] = "SELECT 1 FROM customers WHERE id = ?1",
    [Q_EVENT_ADD] = "INSERT INTO interactions (customer, item, time, type, quantity, source)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_EVENT_FROM] = "SELECT id, customer, item, time, type, quantity, source FROM interactions"
                     " WHERE id > ?1 ORDER BY id",
    [Q_EVENT_OF_CUST] = "SELECT id, customer, item, time, type, quantity, source FROM interactions"
                        " WHERE customer = ?1 ORDER BY time DESC, id DESC LIMIT ?2",
    [Q_EVENT_LAST] = "SELECT coalesce(max(id), 0) FROM interactions",
    [Q_CART_GET] = "SELECT item, quantity, updated FROM carts WHERE session = ?1 ORDER BY item",
    [Q_CART_QTY] = "SELECT quantity FROM carts WHERE session = ?1 AND item = ?2",
    [Q_CART_SET] = "INSERT INTO carts (session, item, customer, quantity, updated)"
                   " VALUES (?1, ?2, ?3, ?4, strftime('%s')) ON CONFLICT (session, item)"
                   " DO UPDATE SET customer = coalesce(?3, customer), quantity = ?4,"
                   " updated = strftime('%s')",
    [Q_CART_DEL] = "DELETE FROM carts WHERE session = ?1 AND item = ?2",
    [Q_CART_CLEAR] = "DELETE FROM carts WHERE session = ?1",
    [Q_CART_CUST] = "SELECT customer FROM carts WHERE session = ?1 AND customer IS NOT NULL"
                    " ORDER BY updated DESC LIMIT 1",
    [Q_COUNT_ITEMS] = "SELECT count(*) FROM catalogue",
    [Q_COUNT_STOCK] = "SELECT count(*) FROM catalogue WHERE in_stock = 1",
    [Q_COUNT_CUST] = "SELECT count(*) FROM customers",
    [Q_COUNT_EVENTS] = "SELECT count(*) FROM interactions",
    [Q_COUNT_BUY] = "SELECT count(*) FROM interactions WHERE type = 'purchase'",
    [Q_COUNT_CARTS] = "SELECT count(DISTINCT session) FROM carts",
    [Q_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                   " ON CONFLICT (key) DO UPDATE SET value = ?2",
    [Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
};

/* The statements that change the database: refused on a read-only one.
 * Q_META_SET is not among them (it goes to an in-memory table there). */
static const bool s_writes[Q_COUNT] = {
    [Q_ITEM_UPSERT] = true, [Q_ITEM_STOCK] = true, [Q_CUST_INSERT] = true,
    [Q_CUST_UPSERT] = true, [Q_EVENT_ADD] = true, [Q_CART_SET] = true,
    [Q_CART_DEL] = true, [Q_CART_CLEAR] = true, [Q_BEGIN] = true,
};

struct _store_t {
    sqlite3 *db;                  /* the one connection of this store_t */
    char *path;                   /* as given to store_open */
    sqlite3_stmt *stmt[Q_COUNT];  /* prepared lazily, finalised by store_close */
    bool in_tx;                   /* inside store_begin ... store_commit */
    bool readonly;                /* opened read-only (see store_open) */
    char err[512];                /* last failure, "" after success */
};

static const char *const s_type_names[] = { "view", "cart", "purchase" };

static int
s_fail(store_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int
s_fail_db(store_t *s, const char *what)
{
    return s_fail(s, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* Returns the cached statement q, reset and unbound, or NULL (message set). */
static sqlite3_stmt *
s_stmt(store_t *s, query_t q)
{
    s->err[0] = '\0';
    if (s->readonly && s_writes[q]) {
        s_fail(s, "database is read-only");
        return NULL;
    }
    if (!s->stmt[q]) {
        if (sqlite3_prepare_v3(s->db, s_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[q],
                               NULL) != SQLITE_OK) {
            s_fail_db(s, "prepare");
            return NULL;
        }
    }
    sqlite3_reset(s->stmt[q]);
    sqlite3_clear_bindings(s->stmt[q]);
    return s->stmt[q];
}

/* Binds text or refuses it when it does not fit the fixed-size fields. */
static int
s_bind_text(store_t *s, sqlite3_stmt *st, int i, const char *txt, size_t max, const char *what)
{
    if (!txt)
        return sqlite3_bind_null(st, i) == SQLITE_OK ? 0 : s_fail_db(s, "bind");
    size_t len = strlen(txt);
    if (len >= max)
        return s_fail(s, "%s too long (%zu bytes, at most %zu)", what, len, max - 1);
    return sqlite3_bind_text(st, i, txt, (int) len, SQLITE_TRANSIENT) == SQLITE_OK
               ? 0 : s_fail_db(s, "bind");
}

static int
s_check_id(store_t *s, const char *id, const char *what)
{
    if (!id || !id[0])
        return s_fail(s, "empty %s", what);
    if (strlen(id) >= STORE_ID_MAX)
        return s_fail(s, "%s too long (at most %d bytes)", what, STORE_ID_MAX - 1);
    return 0;
}

/* Runs a statement that returns no rows. */
static int
s_exec_step(store_t *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return s_fail_db(s, what);
    return 0;
}

static void
s_col_text(sqlite3_stmt *st, int col, char *dst, size_t len)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    shop_strlcpy(dst, t ? (const char *) t : "", len);
}

static int
s_count(store_t *s, query_t q, int64_t *out)
{
    sqlite3_stmt *st = s_stmt(s, q);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return s_fail_db(s, "count");
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

static int
s_migrate(store_t *s)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version < 0)
        return s_fail_db(s, "reading the schema version");
    int known = (int) SHOP_ARRAY_LEN(s_migrations);
    if (version > known)
        return s_fail(s, "schema version %d is newer than this shopd knows (%d)", version, known);
    if (version == known)
        return 0;
    if (s->readonly)
        return s_fail(s, "%s is read-only and has schema version %d; this shopd needs %d",
                      s->path, version, known);
    char *msg = NULL;
    if (sqlite3_exec(s->db, "BEGIN EXCLUSIVE", NULL, NULL, &msg) != SQLITE_OK)
        goto err;
    for (int v = version; v < known; v++) {
        if (sqlite3_exec(s->db, s_migrations[v], NULL, NULL, &msg) != SQLITE_OK)
            goto err_rollback;
    }
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", known);
    if (sqlite3_exec(s->db, pragma, NULL, NULL, &msg) != SQLITE_OK
        || sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
        goto err_rollback;
    if (version > 0)
        log_info("store: %s migrated from schema %d to %d", s->path, version, known);
    return 0;
err_rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
err:
    s_fail(s, "migrating %s from schema %d: %s", s->path, version,
           msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return -1;
}

/* Opens s->path read-write (created when missing) in WAL mode. Returns 0,
 * -1 on failure, 1 when the file or its directory cannot be written (the
 * caller then opens it read-only); a message is set in both cases. */
static int
s_open_rw(store_t *s)
{
    const char *path = s->path;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                          | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        return s_fail(s, "opening %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 5000);
    /* SQLite opens a file it may not write read-only without saying so */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        s_fail(s, "%s cannot be written: %s", path,
               access(path, W_OK) != 0 ? strerror(errno) : "SQLite opened it read-only");
        return 1;
    }
    /* WAL must be confirmed: on a filesystem without shared memory it stays
     * "delete", and we would rather know. */
    sqlite3_stmt *st = NULL;
    bool wal = false;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        wal = mode && strcmp((const char *) mode, "wal") == 0;
    }
    sqlite3_finalize(st);
    if (!wal) {
        int code = sqlite3_errcode(s->db) & 0xff;
        s_fail(s, "%s: cannot switch to WAL mode: %s", path, sqlite3_errmsg(s->db));
        /* the -wal and -shm files cannot be created next to the database */
        return code == SQLITE_CANTOPEN || code == SQLITE_READONLY ? 1 : -1;
    }
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", NULL, NULL,
                     &msg) != SQLITE_OK) {
        s_fail(s, "%s: %s", path, msg ? msg : "pragma failed");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Opens s->db read-only on s->path; flags: extra open flags, name: the
 * file name or URI. Returns 0 once the schema could be read, else -1 with
 * s->db closed and *why set from SQLite's message. */
static int
s_open_ro_try(store_t *s, const char *name, int flags, char *why, size_t whylen)
{
    if (sqlite3_open_v2(name, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | flags, NULL)
        == SQLITE_OK) {
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_timeout(s->db, 5000);
        /* opening is lazy: reading the schema is what needs the WAL index */
        if (sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL)
            == SQLITE_OK)
            return 0;
    }
    shop_strlcpy(why, s->db ? sqlite3_errmsg(s->db) : "out of memory", whylen);
    sqlite3_close(s->db);
    s->db = NULL;
    return -1;
}

/* Opens s->path read-only after s_open_rw found it unwritable (its message
 * is in s->err). SQLite reads a WAL database on read-only media when its
 * -wal and -shm files exist or can be created (mode=ro; a read-only -shm is
 * then replaced by heap memory), or else when opened immutable=1, which
 * ignores any -wal file: changes still in it are not seen (warned about).
 * Returns 0 or -1 with a message. */
static int
s_open_ro(store_t *s)
{
    char rw_why[sizeof s->err], why[256], mode[64] = "read-only";
    shop_strlcpy(rw_why, s->err, sizeof rw_why);
    sqlite3_close(s->db);
    s->db = NULL;
    if (s_open_ro_try(s, s->path, 0, why, sizeof why) != 0) {
        /* a URI: the path with every byte outside [A-Za-z0-9/._~-] escaped */
        size_t len = strlen(s->path);
        char *uri = xmalloc(len * 3 + 32), *u = uri;
        u += sprintf(u, "file:");
        for (const unsigned char *p = (const unsigned char *) s->path; *p; p++)
            u += isalnum(*p) || strchr("/._~-", *p) ? sprintf(u, "%c", *p)
                                                     : sprintf(u, "%%%02X", *p);
        sprintf(u, "?immutable=1");
        int rc = s_open_ro_try(s, uri, SQLITE_OPEN_URI, why, sizeof why);
        free(uri);
        if (rc != 0)
            return s_fail(s, "%s; opening it read-only failed too: %s", rw_why, why);
        shop_strlcpy(mode, "read-only, immutable", sizeof mode);
        char wal[4096];
        struct stat sb;
        snprintf(wal, sizeof wal, "%s-wal", s->path);
        if (stat(wal, &sb) == 0 && sb.st_size > 0)
            log_warn("store: %s holds %lld bytes of changes that cannot be read without "
                     "its -shm file: the database is served as it was before them", wal,
                     (long long) sb.st_size);
    }
    s->readonly = true;
    /* one warning per process: the daemon opens several connections */
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    log_msg(atomic_flag_test_and_set(&warned) ? LOG_DEBUG : LOG_WARNING,
            "store: %s; opened %s: serving reads, refusing events, cart changes and imports "
            "(\"database is read-only\"), sessions kept in memory only", rw_why, mode);
    return 0;
}

/* On a read-only store, a temporary table named meta hides the file's own
 * (temp comes first in name lookup): sessions saved with store_meta_set live
 * in memory for the connection's life. Returns 0 or -1 with a message. */
static int
s_ro_meta(store_t *s)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA temp_store = MEMORY;"
                            "CREATE TEMP TABLE meta (key TEXT PRIMARY KEY NOT NULL,"
                            " value TEXT NOT NULL);"
                            "INSERT INTO temp.meta SELECT key, value FROM main.meta;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        s_fail(s, "%s: in-memory session table: %s", s->path, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

store_t *
store_open(const char *path, char **err)
{
    store_t *s = xcalloc(1, sizeof *s);
    s->path = xstrdup(path ? path : "");
    if (!path || !path[0]) {
        s_fail(s, "no database path given");
        goto err;
    }
    int rc = s_open_rw(s);
    if (rc < 0 || (rc > 0 && s_open_ro(s) != 0))
        goto err;
    if (s_migrate(s) != 0)
        goto err;
    if (s->readonly && s_ro_meta(s) != 0)
        goto err;
    s->err[0] = '\0';
    return s;
err:
    if (err)
        *err = xstrdup(s->err);
    store_close(&s);
    return NULL;
}

void
store_close(store_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    store_t *s = *s_p;
    if (s->in_tx && s->db)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->db)
        sqlite3_close(s->db);
    free(s->path);
    free(s);
    *s_p = NULL;
}

const char *
store_errmsg(const store_t *s)
{
    return s ? s->err : "no store";
}

const char *
store_path(const store_t *s)
{
    return s->path;
}

bool
store_readonly(const store_t *s)
{
    return s->readonly;
}

static int
s_tx(store_t *s, query_t q, const char *what)
{
    sqlite3_stmt *st = s_stmt(s, q);
    if (!st)
        return -1;
    return s_exec_step(s, st, what);
}

int
store_begin(store_t *s)
{
    if (s->in_tx)
        return s_fail(s, "store_begin: a transaction is already open");
    if (s_tx(s, Q_BEGIN, "begin") != 0)
        return -1;
    s->in_tx = true;
    return 0;
}

int
store_commit(store_t *s)
{
    if (!s->in_tx)
        return s_fail(s, "store_commit: no open transaction");
    if (s_tx(s, Q_COMMIT, "commit") != 0)
        return -1;
    s->in_tx = false;
    return 0;
}

int
store_rollback(store_t *s)
{
    if (!s->in_tx)
        return s_fail(s, "store_rollback: no open transaction");
    s->in_tx = false;
    return s_tx(s, Q_ROLLBACK, "rollback");
}

/* Rolls back the open transaction, if any, keeping the message of the
 * failure that led here (the rollback's own would replace it). */
static void
s_rollback_keep(store_t *s)
{
    if (!s->in_tx)
        return;
    char keep[sizeof s->err];
    shop_strlcpy(keep, s->err, sizeof keep);
    store_rollback(s);
    shop_strlcpy(s->err, keep, sizeof s->err);
}

/* --- catalogue --------------------------------------------------------- */

int
store_item_upsert(store_t *s, const store_item_t *it)
{
    if (s_check_id(s, it->id, "item id") != 0)
        return -1;
    if (!it->name[0] || !it->category[0])
        return s_fail(s, "item %s: empty name or category", it->id);
    if (!isfinite(it->price) || it->price < 0)
        return s_fail(s, "item %s: price must be a number >= 0", it->id);
    sqlite3_stmt *st = s_stmt(s, Q_ITEM_UPSERT);
    if (!st)
        return -1;
    const char *attrs = it->attributes[0] ? it->attributes : "{}";
    if (s_bind_text(s, st, 1, it->id, sizeof it->id, "item id")
        || s_bind_text(s, st, 2, it->name, sizeof it->name, "name")
        || s_bind_text(s, st, 3, it->category, sizeof it->category, "category")
        || sqlite3_bind_double(st, 4, it->price)
        || s_bind_text(s, st, 5, attrs, sizeof it->attributes, "attributes")
        || s_bind_text(s, st, 6, it->photo, sizeof it->photo, "photo")
        || sqlite3_bind_int(st, 7, it->in_stock ? 1 : 0))
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_CHECK)
        return s_fail(s, "item %s: attributes are not a valid JSON text", it->id);
    if (rc != SQLITE_DONE)
        return s_fail_db(s, "item upsert");
    return 0;
}

/* Steps st (bound, from s_stmt) to its end, one element of elem bytes per
 * row, filled by fill; the array grows from cap0 elements. Returns 0 with
 * *arr (the caller frees it; NULL when no row) and *n, or -1 after a
 * database error (message "what"), with *arr NULL and *n 0 and, when
 * release is not NULL, release() called on every filled element first.
 * Resets st either way. */
static int
s_rows(store_t *s, sqlite3_stmt *st, size_t elem, size_t cap0, void (*fill)(sqlite3_stmt *, void *),
       void (*release)(void *), void **arr, size_t *n, const char *what)
{
    char *a = NULL;
    size_t cap = 0, k = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : cap0;
            a = xrealloc(a, cap * elem);
        }
        fill(st, a + k++ * elem);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; release && i < k; i++)
            release(a + i * elem);
        free(a);
        *arr = NULL;
        *n = 0;
        return s_fail_db(s, what);
    }
    *arr = a;
    *n = k;
    return 0;
}

static void
s_row_item(sqlite3_stmt *st, store_item_t *out)
{
    memset(out, 0, sizeof *out);
    s_col_text(st, 0, out->id, sizeof out->id);
    s_col_text(st, 1, out->name, sizeof out->name);
    s_col_text(st, 2, out->category, sizeof out->category);
    out->price = sqlite3_column_double(st, 3);
    s_col_text(st, 4, out->attributes, sizeof out->attributes);
    s_col_text(st, 5, out->photo, sizeof out->photo);
    out->in_stock = sqlite3_column_int(st, 6) != 0;
}

static void
s_fill_item(sqlite3_stmt *st, void *out)
{
    s_row_item(st, out);
}

int
store_item_get(store_t *s, const char *id, store_item_t *out)
{
    sqlite3_stmt *st = s_stmt(s, Q_ITEM_GET);
    if (!st || s_bind_text(s, st, 1, id, STORE_ID_MAX, "item id"))
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s_row_item(st, out);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return 1;
    return s_fail_db(s, "item get");
}

int
store_item_list(store_t *s, const char *category, int64_t offset, int64_t limit,
                store_item_t **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    bool by_cat = category && category[0];
    sqlite3_stmt *st = s_stmt(s, by_cat ? Q_ITEM_LIST_CAT : Q_ITEM_LIST_ALL);
    if (!st)
        return -1;
    if (by_cat && s_bind_text(s, st, 1, category, STORE_CATEGORY_MAX, "category"))
        return -1;
    sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
    sqlite3_bind_int64(st, 3, offset > 0 ? offset : 0);
    return s_rows(s, st, sizeof **items, 64, s_fill_item, NULL, (void **) items, n, "item list");
}

int
store_item_set_stock(store_t *s, const char *id, bool in_stock)
{
    sqlite3_stmt *st = s_stmt(s, Q_ITEM_STOCK);
    if (!st || s_bind_text(s, st, 1, id, STORE_ID_MAX, "item id"))
        return -1;
    sqlite3_bind_int(st, 2, in_stock ? 1 : 0);
    if (s_exec_step(s, st, "set stock") != 0)
        return -1;
    return sqlite3_changes(s->db) > 0 ? 0 : 1;
}

/* s_rows' element for one text column: a copy of it (never NULL) */
static void
s_fill_string(sqlite3_stmt *st, void *out)
{
    const unsigned char *t = sqlite3_column_text(st, 0);
    *(char **) out = xstrdup(t ? (const char *) t : "");
}

static void
s_release_string(void *elem)
{
    free(*(char **) elem);
}

int
store_categories(store_t *s, char ***cats, size_t *n)
{
    *cats = NULL;
    *n = 0;
    sqlite3_stmt *st = s_stmt(s, Q_CATEGORIES);
    if (!st)
        return -1;
    return s_rows(s, st, sizeof **cats, 16, s_fill_string, s_release_string, (void **) cats, n,
                  "categories");
}

void
store_strings_free(char **strs, size_t n)
{
    for (size_t i = 0; strs && i < n; i++)
        free(strs[i]);
    free(strs);
}

/* --- customers --------------------------------------------------------- */

int
store_customer_upsert(store_t *s, const char *id, const char *name)
{
    if (s_check_id(s, id, "customer id") != 0)
        return -1;
    sqlite3_stmt *st = s_stmt(s, Q_CUST_UPSERT);
    if (!st || s_bind_text(s, st, 1, id, STORE_ID_MAX, "customer id")
        || s_bind_text(s, st, 2, name, STORE_NAME_MAX, "customer name"))
        return -1;
    return s_exec_step(s, st, "customer upsert");
}

int
store_customer_exists(store_t *s, const char *id)
{
    sqlite3_stmt *st = s_stmt(s, Q_CUST_EXISTS);
    if (!st || s_bind_text(s, st, 1, id, STORE_ID_MAX, "customer id"))
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return 1;
    return s_fail_db(s, "customer exists");
}

/* --- interactions ------------------------------------------------------ */

/* The two inserts of one event; the caller owns the transaction. */
static int
s_insert_event(store_t *s, const store_event_t *ev)
{
    sqlite3_stmt *st = s_stmt(s, Q_CUST_INSERT);
    if (!st || s_bind_text(s, st, 1, ev->customer, STORE_ID_MAX, "customer id")
        || s_exec_step(s, st, "customer insert"))
        return -1;
    st = s_stmt(s, Q_EVENT_ADD);
    if (!st || s_bind_text(s, st, 1, ev->customer, STORE_ID_MAX, "customer id")
        || s_bind_text(s, st, 2, ev->item, STORE_ID_MAX, "item id"))
        return -1;
    sqlite3_bind_int64(st, 3, ev->time);
    sqlite3_bind_text(st, 4, s_type_names[ev->type], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, ev->quantity);
    if (s_bind_text(s, st, 6, ev->source, STORE_SOURCE_MAX, "source"))
        return -1;
    return s_exec_step(s, st, "event insert");
}

int
store_add_event(store_t *s, const store_event_t *ev)
{
    if (s_check_id(s, ev->customer, "customer id") || s_check_id(s, ev->item, "item id"))
        return -1;
    if ((int) ev->type < 0 || ev->type > STORE_EVENT_PURCHASE)
        return s_fail(s, "event type %d unknown", (int) ev->type);
    if (ev->quantity < 1)
        return s_fail(s, "event quantity %d must be >= 1", ev->quantity);
    if (s->in_tx)
        return s_insert_event(s, ev);
    /* customer row + event row: one transaction, durable at COMMIT */
    if (store_begin(s) != 0)
        return -1;
    if (s_insert_event(s, ev) != 0) {
        s_rollback_keep(s);
        return -1;
    }
    return store_commit(s);
}

static void
s_row_event(sqlite3_stmt *st, store_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->id = sqlite3_column_int64(st, 0);
    s_col_text(st, 1, ev->customer, sizeof ev->customer);
    s_col_text(st, 2, ev->item, sizeof ev->item);
    ev->time = sqlite3_column_int64(st, 3);
    const unsigned char *t = sqlite3_column_text(st, 4);
    int type = store_event_type_from_name(t ? (const char *) t : "");
    ev->type = type < 0 ? STORE_EVENT_VIEW : (store_event_type_t) type;
    ev->quantity = sqlite3_column_int(st, 5);
    s_col_text(st, 6, ev->source, sizeof ev->source);
}

static void
s_fill_event(sqlite3_stmt *st, void *out)
{
    s_row_event(st, out);
}

int
store_event_foreach(store_t *s, int64_t after_id, store_event_fn fn, void *ud)
{
    /* Not the cached statement: fn may call back into the store. */
    sqlite3_stmt *st = NULL;
    s->err[0] = '\0';
    if (sqlite3_prepare_v2(s->db, s_sql[Q_EVENT_FROM], -1, &st, NULL) != SQLITE_OK)
        return s_fail_db(s, "prepare");
    sqlite3_bind_int64(st, 1, after_id);
    int rc, ret = 0;
    store_event_t ev;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        s_row_event(st, &ev);
        if (fn(&ev, ud) != 0) {
            ret = 1;
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = s_fail_db(s, "event scan");
    sqlite3_finalize(st);
    return ret;
}

int
store_customer_events(store_t *s, const char *customer, int64_t limit, store_event_t **evs,
                      size_t *n)
{
    *evs = NULL;
    *n = 0;
    sqlite3_stmt *st = s_stmt(s, Q_EVENT_OF_CUST);
    if (!st || s_bind_text(s, st, 1, customer, STORE_ID_MAX, "customer id"))
        return -1;
    sqlite3_bind_int64(st, 2, limit > 0 ? limit : 1);
    return s_rows(s, st, sizeof **evs, 32, s_fill_event, NULL, (void **) evs, n, "customer events");
}

int
store_last_event_id(store_t *s, int64_t *id)
{
    return s_count(s, Q_EVENT_LAST, id);
}

/* --- carts ------------------------------------------------------------- */

/* The cached cart statement q with ?1 = session and, when item is not
 * NULL, ?2 = item bound; NULL (message set) on failure. Every cart
 * statement takes its parameters in this order. */
static sqlite3_stmt *
s_cart_stmt(store_t *s, query_t q, const char *session, const char *item)
{
    sqlite3_stmt *st = s_stmt(s, q);
    if (!st || s_bind_text(s, st, 1, session, STORE_ID_MAX, "session id")
        || (item && s_bind_text(s, st, 2, item, STORE_ID_MAX, "item id")))
        return NULL;
    return st;
}

/* Steps a statement that yields at most one row: 1 with a row to read (the
 * caller resets st after reading it), 0 without (st reset), -1 on error
 * (st reset, message set). */
static int
s_step_one(store_t *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : s_fail_db(s, what);
}

static void
s_fill_cart_line(sqlite3_stmt *st, void *out)
{
    store_cart_line_t *l = out;
    s_col_text(st, 0, l->item, sizeof l->item);
    l->quantity = sqlite3_column_int(st, 1);
    l->updated = sqlite3_column_int64(st, 2);
}

int
store_cart_get(store_t *s, const char *session, store_cart_line_t **lines, size_t *n)
{
    *lines = NULL;
    *n = 0;
    sqlite3_stmt *st = s_cart_stmt(s, Q_CART_GET, session, NULL);
    if (!st)
        return -1;
    return s_rows(s, st, sizeof **lines, 8, s_fill_cart_line, NULL, (void **) lines, n, "cart get");
}

/* Sets or deletes one line; the caller owns the transaction. */
static int
s_cart_write(store_t *s, const char *session, const char *customer, const char *item, int qty)
{
    sqlite3_stmt *st = s_cart_stmt(s, qty > 0 ? Q_CART_SET : Q_CART_DEL, session, item);
    if (!st)
        return -1;
    if (qty > 0) {
        if (s_bind_text(s, st, 3, customer && customer[0] ? customer : NULL, STORE_ID_MAX,
                        "customer id"))
            return -1;
        sqlite3_bind_int(st, 4, qty);
    }
    return s_exec_step(s, st, "cart write");
}

int
store_cart_set(store_t *s, const char *session, const char *customer, const char *item,
               int quantity)
{
    if (s_check_id(s, session, "session id") || s_check_id(s, item, "item id"))
        return -1;
    return s_cart_write(s, session, customer, item, quantity);
}

int
store_cart_add(store_t *s, const char *session, const char *customer, const char *item,
               int delta, int *new_qty)
{
    if (s_check_id(s, session, "session id") || s_check_id(s, item, "item id"))
        return -1;
    bool own_tx = !s->in_tx;
    if (own_tx && store_begin(s) != 0)
        return -1;
    sqlite3_stmt *st = s_cart_stmt(s, Q_CART_QTY, session, item);
    int row = st ? s_step_one(s, st, "cart read") : -1;
    if (row < 0)
        goto err;
    int64_t qty = row ? sqlite3_column_int64(st, 0) : 0;
    if (row)
        sqlite3_reset(st);
    qty += delta;
    if (qty > 1000000) {
        s_fail(s, "cart quantity %lld too large", (long long) qty);
        goto err;
    }
    if (qty < 0)
        qty = 0;
    if (s_cart_write(s, session, customer, item, (int) qty) != 0)
        goto err;
    if (own_tx && store_commit(s) != 0)
        goto err;
    if (new_qty)
        *new_qty = (int) qty;
    return 0;
err:
    if (own_tx)
        s_rollback_keep(s);
    return -1;
}

int
store_cart_remove(store_t *s, const char *session, const char *item)
{
    sqlite3_stmt *st = s_cart_stmt(s, Q_CART_DEL, session, item);
    if (!st || s_exec_step(s, st, "cart remove"))
        return -1;
    return sqlite3_changes(s->db) > 0 ? 0 : 1;
}

int
store_cart_clear(store_t *s, const char *session)
{
    sqlite3_stmt *st = s_cart_stmt(s, Q_CART_CLEAR, session, NULL);
    return st ? s_exec_step(s, st, "cart clear") : -1;
}

int
store_cart_customer(store_t *s, const char *session, char *buf, size_t buflen)
{
    if (buflen)
        buf[0] = '\0';
    sqlite3_stmt *st = s_cart_stmt(s, Q_CART_CUST, session, NULL);
    int row = st ? s_step_one(s, st, "cart customer") : -1;
    if (row > 0) {
        s_col_text(st, 0, buf, buflen);
        sqlite3_reset(st);
    }
    return row < 0 ? -1 : 0;
}

int
store_cart_checkout(store_t *s, const char *session, const char *customer, int64_t now,
                    int *n_lines)
{
    if (n_lines)
        *n_lines = 0;
    if (s_check_id(s, session, "session id") || s_check_id(s, customer, "customer id"))
        return -1;
    if (s->in_tx)
        return s_fail(s, "store_cart_checkout runs its own transaction");
    store_cart_line_t *lines = NULL;
    size_t n = 0;
    if (store_begin(s) != 0)
        return -1;
    if (store_cart_get(s, session, &lines, &n) != 0)
        goto err;
    for (size_t i = 0; i < n; i++) {
        store_event_t ev = { .time = now, .type = STORE_EVENT_PURCHASE,
                             .quantity = lines[i].quantity };
        shop_strlcpy(ev.customer, customer, sizeof ev.customer);
        shop_strlcpy(ev.item, lines[i].item, sizeof ev.item);
        /* a session id longer than a source is cut: the source is a hint */
        shop_strlcpy(ev.source, session, sizeof ev.source);
        if (s_insert_event(s, &ev) != 0)
            goto err;
    }
    if (store_cart_clear(s, session) != 0 || store_commit(s) != 0)
        goto err;
    free(lines);
    if (n_lines)
        *n_lines = (int) n;
    return 0;
err:
    free(lines);
    s_rollback_keep(s);
    return -1;
}

/* --- erasure ------------------------------------------------------------- */

/* Runs sql with ?1 = text a and ?2 = integer b (when the statement has
 * them); *changes (may be NULL) gets the rows changed. */
static int
s_run(store_t *s, const char *sql, const char *a, int64_t b, int64_t *changes, const char *what)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return s_fail_db(s, what);
    if (a && sqlite3_bind_parameter_index(st, "?1"))
        sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (sqlite3_bind_parameter_index(st, "?2"))
        sqlite3_bind_int64(st, 2, b);
    int rc;
    /* a pragma answers with a row */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return s_fail_db(s, what);
    if (changes)
        *changes = sqlite3_changes(s->db);
    return 0;
}

/* The session contexts (meta rows) whose JSON has customer ?1. */
#define S_SESSIONS_OF "SELECT key FROM meta WHERE substr(key, 1, 8) = 'session:'" \
                      " AND json_valid(value) AND json_extract(value, '$.customer') = ?1"

int
store_forget_customer(store_t *s, const char *customer, store_forget_t *out)
{
    memset(out, 0, sizeof *out);
    if (s_check_id(s, customer, "customer id") != 0)
        return -1;
    if (s->readonly)
        return s_fail(s, "database is read-only");
    if (s->in_tx)
        return s_fail(s, "store_forget_customer runs its own transaction");
    /* zeros over what is deleted, in the file and in every page the WAL gets */
    if (s_run(s, "PRAGMA secure_delete = ON", NULL, 0, NULL, "secure_delete") != 0
        || store_begin(s) != 0)
        return -1;
    store_forget_t n = { 0 };
    if (s_run(s, "DELETE FROM carts WHERE customer = ?1 OR 'session:' || session IN ("
                 S_SESSIONS_OF ")", customer, 0, &n.cart_lines, "forget carts") != 0
        || s_run(s, "DELETE FROM meta WHERE key IN (" S_SESSIONS_OF ")", customer, 0,
                 &n.sessions, "forget sessions") != 0
        || s_run(s, "DELETE FROM interactions WHERE customer = ?1", customer, 0, &n.events,
                 "forget events") != 0
        || s_run(s, "DELETE FROM customers WHERE id = ?1", customer, 0, &n.customers,
                 "forget customer") != 0)
        goto err;
    /* the crash test: killed with everything deleted but nothing committed */
    if (getenv("SHOP_STORE_TEST_KILL_IN_FORGET"))
        raise(SIGKILL);
    if (store_commit(s) != 0)
        goto err;
    s_run(s, "PRAGMA secure_delete = OFF", NULL, 0, NULL, "secure_delete");
    int logged = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &logged, &done);
    if (rc != SQLITE_OK)
        log_info("store: forget: the -wal of %s keeps its old pages until the next "
                 "checkpoint (%s)", s->path, sqlite3_errmsg(s->db));
    *out = n;
    s->err[0] = '\0';
    return 0;
err:
    s_rollback_keep(s);
    char keep[sizeof s->err];
    shop_strlcpy(keep, s->err, sizeof keep);
    s_run(s, "PRAGMA secure_delete = OFF", NULL, 0, NULL, "secure_delete");
    shop_strlcpy(s->err, keep, sizeof s->err);
    return -1;
}

int
store_expire_sessions(store_t *s, int64_t before, int64_t *sessions, int64_t *cart_lines)
{
    int64_t ns = 0, nc = 0;
    if (s->readonly)
        return s_fail(s, "database is read-only");
    bool own_tx = !s->in_tx;
    if (own_tx && store_begin(s) != 0)
        return -1;
    /* contexts still fresh keep their carts; carts still fresh keep their contexts */
    if (s_run(s, "DELETE FROM carts WHERE session IN (SELECT session FROM carts GROUP BY session"
                 " HAVING max(updated) < ?2) AND 'session:' || session NOT IN (SELECT key"
                 " FROM meta WHERE substr(key, 1, 8) = 'session:' AND json_valid(value)"
                 " AND coalesce(json_extract(value, '$.touched'), 0) >= ?2)",
              NULL, before, &nc, "expire carts") != 0
        || s_run(s, "DELETE FROM meta WHERE substr(key, 1, 8) = 'session:'"
                    " AND (NOT json_valid(value)"
                    " OR coalesce(json_extract(value, '$.touched'), 0) < ?2)"
                    " AND substr(key, 9) NOT IN (SELECT session FROM carts)",
                 NULL, before, &ns, "expire sessions") != 0)
        goto err;
    if (own_tx && store_commit(s) != 0)
        goto err;
    if (sessions)
        *sessions = ns;
    if (cart_lines)
        *cart_lines = nc;
    return 0;
err:
    if (own_tx)
        s_rollback_keep(s);
    return -1;
}

/* --- status and settings ----------------------------------------------- */

int
store_counts(store_t *s, store_counts_t *out)
{
    memset(out, 0, sizeof *out);
    if (s_count(s, Q_COUNT_ITEMS, &out->items) || s_count(s, Q_COUNT_STOCK, &out->in_stock)
        || s_count(s, Q_COUNT_CUST, &out->customers) || s_count(s, Q_COUNT_EVENTS, &out->events)
        || s_count(s, Q_COUNT_BUY, &out->purchases)
        || s_count(s, Q_COUNT_CARTS, &out->cart_sessions))
        return -1;
    return 0;
}

int
store_meta_set(store_t *s, const char *key, const char *value)
{
    if (!key || !key[0] || !value)
        return s_fail(s, "meta: empty key or value");
    sqlite3_stmt *st = s_stmt(s, Q_META_SET);
    if (!st || s_bind_text(s, st, 1, key, 256, "meta key")
        || s_bind_text(s, st, 2, value, 65536, "meta value"))
        return -1;
    return s_exec_step(s, st, "meta set");
}

int
store_meta_get(store_t *s, const char *key, char *buf, size_t buflen)
{
    if (buflen)
        buf[0] = '\0';
    sqlite3_stmt *st = s_stmt(s, Q_META_GET);
    if (!st || s_bind_text(s, st, 1, key, 256, "meta key"))
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s_col_text(st, 0, buf, buflen);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return 1;
    return s_fail_db(s, "meta get");
}

int
store_event_type_from_name(const char *name)
{
    for (size_t i = 0; name && i < SHOP_ARRAY_LEN(s_type_names); i++)
        if (strcmp(name, s_type_names[i]) == 0)
            return (int) i;
    return -1;
}

/* --- self-test ----------------------------------------------------------- */

#define T_CHECK(cond)                                                                   \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "store_test: %s:%d: %s failed (%s)\n", __FILE__, __LINE__,  \
                    #cond, s ? store_errmsg(s) : "");                                   \
            goto out;                                                                   \
        }                                                                               \
    } while (0)

static int
s_count_events_fn(const store_event_t *ev, void *ud)
{
    (void) ev;
    (*(int *) ud)++;
    return 0;
}

int
store_test(bool verbose)
{
    char dir[] = "/tmp/shop-store-test-XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    char path[512];
    snprintf(path, sizeof path, "%s/shop.db", dir);
    int ret = -1;
    store_t *s = NULL;
    char *err = NULL;
    store_item_t *items = NULL;
    store_cart_line_t *lines = NULL;
    store_event_t *evs = NULL;
    char **cats = NULL;
    size_t n = 0, ncats = 0;

    /* refusing an unusable path, with a message */
    T_CHECK(store_open("/nonexistent-dir/x/shop.db", &err) == NULL && err && err[0]);
    free(err);
    err = NULL;

    s = store_open(path, &err);
    T_CHECK(s != NULL);
    T_CHECK(!store_readonly(s));
    store_item_t it = { .price = 12.5, .in_stock = true };
    shop_strlcpy(it.id, "sneaker-01", sizeof it.id);
    shop_strlcpy(it.name, "Runner", sizeof it.name);
    shop_strlcpy(it.category, "sneaker", sizeof it.category);
    shop_strlcpy(it.attributes, "{\"colour\":\"white\"}", sizeof it.attributes);
    T_CHECK(store_item_upsert(s, &it) == 0);
    shop_strlcpy(it.id, "sneaker-02", sizeof it.id);
    it.price = 30;
    T_CHECK(store_item_upsert(s, &it) == 0);
    shop_strlcpy(it.id, "bag-01", sizeof it.id);
    shop_strlcpy(it.category, "bag", sizeof it.category);
    T_CHECK(store_item_upsert(s, &it) == 0);
    /* bad JSON, negative price: refused with a reason */
    shop_strlcpy(it.attributes, "{oops", sizeof it.attributes);
    T_CHECK(store_item_upsert(s, &it) == -1 && strstr(store_errmsg(s), "JSON"));
    it.attributes[0] = '\0';
    it.price = -1;
    T_CHECK(store_item_upsert(s, &it) == -1);
    /* an upsert replaces */
    it.price = 45;
    shop_strlcpy(it.name, "Tote", sizeof it.name);
    T_CHECK(store_item_upsert(s, &it) == 0);
    store_item_t got;
    T_CHECK(store_item_get(s, "bag-01", &got) == 0 && got.price == 45
            && strcmp(got.name, "Tote") == 0 && strcmp(got.attributes, "{}") == 0);
    T_CHECK(store_item_get(s, "nope", &got) == 1);
    T_CHECK(store_item_list(s, "sneaker", 0, 0, &items, &n) == 0 && n == 2
            && strcmp(items[1].id, "sneaker-02") == 0);
    free(items);
    items = NULL;
    T_CHECK(store_item_list(s, NULL, 1, 1, &items, &n) == 0 && n == 1
            && strcmp(items[0].id, "sneaker-01") == 0);
    free(items);
    items = NULL;
    T_CHECK(store_item_set_stock(s, "sneaker-02", false) == 0);
    T_CHECK(store_item_set_stock(s, "nope", false) == 1);
    T_CHECK(store_categories(s, &cats, &ncats) == 0 && ncats == 2
            && strcmp(cats[0], "bag") == 0);

    /* events, implicit customers */
    store_event_t ev = { .time = 1000, .type = STORE_EVENT_PURCHASE, .quantity = 2 };
    shop_strlcpy(ev.customer, "c1", sizeof ev.customer);
    shop_strlcpy(ev.item, "sneaker-01", sizeof ev.item);
    T_CHECK(store_add_event(s, &ev) == 0);
    ev.time = 2000;
    ev.type = STORE_EVENT_VIEW;
    shop_strlcpy(ev.item, "bag-01", sizeof ev.item);
    T_CHECK(store_add_event(s, &ev) == 0);
    ev.quantity = 0;
    T_CHECK(store_add_event(s, &ev) == -1 && strstr(store_errmsg(s), "quantity"));
    ev.quantity = 1;
    T_CHECK(store_customer_exists(s, "c1") == 0 && store_customer_exists(s, "c2") == 1);
    T_CHECK(store_customer_upsert(s, "c1", "Ada") == 0);
    T_CHECK(store_customer_events(s, "c1", 10, &evs, &n) == 0 && n == 2
            && strcmp(evs[0].item, "bag-01") == 0 && evs[1].type == STORE_EVENT_PURCHASE
            && evs[1].quantity == 2);
    int64_t last = 0;
    T_CHECK(store_last_event_id(s, &last) == 0 && last == evs[0].id);
    int visited = 0;
    T_CHECK(store_event_foreach(s, 0, s_count_events_fn, &visited) == 0 && visited == 2);
    /* a rolled-back bulk write leaves nothing */
    T_CHECK(store_begin(s) == 0 && store_add_event(s, &ev) == 0 && store_rollback(s) == 0);
    T_CHECK(store_begin(s) == 0 && store_begin(s) == -1 && store_commit(s) == 0);

    /* carts */
    int q = 0;
    T_CHECK(store_cart_add(s, "kiosk-1", NULL, "sneaker-01", 2, &q) == 0 && q == 2);
    T_CHECK(store_cart_add(s, "kiosk-1", "c1", "sneaker-01", 1, &q) == 0 && q == 3);
    T_CHECK(store_cart_set(s, "kiosk-1", NULL, "bag-01", 1) == 0);
    T_CHECK(store_cart_add(s, "kiosk-1", NULL, "bag-01", -5, &q) == 0 && q == 0);
    T_CHECK(store_cart_set(s, "kiosk-1", NULL, "sneaker-02", 4) == 0);
    T_CHECK(store_cart_remove(s, "kiosk-1", "sneaker-02") == 0);
    T_CHECK(store_cart_remove(s, "kiosk-1", "sneaker-02") == 1);
    T_CHECK(store_cart_get(s, "kiosk-1", &lines, &n) == 0 && n == 1 && lines[0].quantity == 3);
    free(lines);
    lines = NULL;
    char cust[STORE_ID_MAX];
    T_CHECK(store_cart_customer(s, "kiosk-1", cust, sizeof cust) == 0
            && strcmp(cust, "c1") == 0);
    T_CHECK(store_meta_set(s, "demo", "1") == 0);

    /* reopening keeps everything (the cart survives a restart) */
    store_close(&s);
    store_close(&s);
    s = store_open(path, &err);
    T_CHECK(s != NULL);
    store_counts_t c;
    T_CHECK(store_counts(s, &c) == 0 && c.items == 3 && c.in_stock == 2 && c.customers == 1
            && c.events == 2 && c.purchases == 1 && c.cart_sessions == 1);
    char val[8];
    T_CHECK(store_meta_get(s, "demo", val, sizeof val) == 0 && strcmp(val, "1") == 0);
    T_CHECK(store_meta_get(s, "other", val, sizeof val) == 1);
    int bought = 0;
    T_CHECK(store_cart_checkout(s, "kiosk-1", "c1", 3000, &bought) == 0 && bought == 1);
    T_CHECK(store_counts(s, &c) == 0 && c.purchases == 2 && c.cart_sessions == 0);
    T_CHECK(store_cart_clear(s, "kiosk-1") == 0);
    T_CHECK(store_event_type_from_name("cart") == STORE_EVENT_CART
            && store_event_type_from_name("x") == -1);
    ret = 0;
    if (verbose)
        fprintf(stderr, "store_test: ok\n");
out:
    free(err);
    free(items);
    free(lines);
    free(evs);
    store_strings_free(cats, ncats);
    store_close(&s);
    char f[600];
    const char *suffix[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(suffix); i++) {
        snprintf(f, sizeof f, "%s%s", path, suffix[i]);
        unlink(f);
    }
    rmdir(dir);
    return ret;
}

json_t *
store_item_json(const store_item_t *it)
{
    json_t *attrs = json_loads(it->attributes, 0, NULL);
    if (attrs && !json_is_object(attrs)) {
        json_decref(attrs);
        attrs = NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:f, s:o, s:s, s:b}", "id", it->id, "name", it->name,
                     "category", it->category, "price", it->price, "attributes",
                     attrs ? attrs : json_object(), "photo", it->photo, "in_stock", it->in_stock);
}
