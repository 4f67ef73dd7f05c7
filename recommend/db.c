/* recommend/db.c: the driver's front (see db.h): argument checks, the
 * location parsers, and the calls into the backend of each connection. */
#include "recommend/db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

/* A URI longer than this is refused (the daemon's settings hold 1023 bytes). */
#define DB_URI_MAX 1023

static const char *const s_schemes[] = { "postgresql://", "postgres://" };

int
db_fail(db_t *db, db_error_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->err, sizeof db->err, fmt, ap);
    va_end(ap);
    db->code = code;
    return -1;
}

static void
s_ok(db_t *db)
{
    db->code = DB_OK;
    db->err[0] = '\0';
}

/* --- locations ------------------------------------------------------------ */

/* Length of the scheme where starts with, 0 when none. */
static size_t
s_scheme_len(const char *where)
{
    for (size_t i = 0; where && i < SHOP_ARRAY_LEN(s_schemes); i++)
        if (strncmp(where, s_schemes[i], strlen(s_schemes[i])) == 0)
            return strlen(s_schemes[i]);
    return 0;
}

bool
db_is_uri(const char *where)
{
    return s_scheme_len(where) > 0;
}

static int
s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Whether the len bytes at p, percent-decoded, spell word. */
static bool
s_decoded_is(const char *p, size_t len, const char *word)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '%' && i + 2 < len) {
            int hi = s_hexval(p[i + 1]), lo = s_hexval(p[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (char) (hi * 16 + lo);
                i += 2;
            }
        }
        if (word[w] == '\0' || word[w] != c)
            return false;
        w++;
    }
    return word[w] == '\0';
}

void
db_redact(const char *where, char *buf, size_t buflen)
{
    if (!buflen)
        return;
    size_t sl = s_scheme_len(where);
    if (!sl) {
        shop_strlcpy(buf, where ? where : "", buflen);
        return;
    }
    /* as libpq reads a URI: user[:password]@ ends at the first '@' met
     * before any '/'; the query starts at the first '?' after it */
    char *out = xmalloc(strlen(where) + 1);
    size_t o = 0;
    memcpy(out, where, sl);
    o = sl;
    const char *p = where + sl;
    const char *at = p;
    while (*at && *at != '@' && *at != '/')
        at++;
    if (*at == '@') {
        const char *colon = memchr(p, ':', (size_t) (at - p));
        size_t userlen = (size_t) ((colon ? colon : at) - p);
        memcpy(out + o, p, userlen);
        o += userlen;
        p = at;
    }
    const char *q = strchr(p, '?');
    size_t head = q ? (size_t) (q - p) : strlen(p);
    memcpy(out + o, p, head);
    o += head;
    if (q) {
        /* keep every parameter but the password ones */
        const char *param = q + 1;
        char sep = '?';
        while (*param) {
            const char *end = strchr(param, '&');
            size_t plen = end ? (size_t) (end - param) : strlen(param);
            const char *eq = memchr(param, '=', plen);
            size_t klen = eq ? (size_t) (eq - param) : plen;
            if (!s_decoded_is(param, klen, "password") && plen > 0) {
                out[o++] = sep;
                memcpy(out + o, param, plen);
                o += plen;
                sep = '&';
            }
            param += plen + (end ? 1 : 0);
        }
    }
    out[o] = '\0';
    shop_strlcpy(buf, out, buflen);
    free(out);
}

/* Whether s is a port number 1..65535 (a multi-host URI lists several,
 * comma-separated; an empty entry means the default). */
static bool
s_ports_ok(const char *s)
{
    while (true) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t) (end - s) : strlen(s);
        if (len > 0) {
            if (len > 5)
                return false;
            long v = 0;
            for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                    return false;
                v = v * 10 + (s[i] - '0');
            }
            if (v < 1 || v > 65535)
                return false;
        }
        if (!end)
            return true;
        s = end + 1;
    }
}

int
db_uri_check(const char *uri, char *err, size_t errlen)
{
    if (!uri || !s_scheme_len(uri)) {
        shop_errf(err, errlen, "not a PostgreSQL URI (postgresql://...)");
        return -1;
    }
    size_t len = strlen(uri);
    if (len > DB_URI_MAX) {
        shop_errf(err, errlen, "PostgreSQL URI too long (%zu bytes, at most %d)", len, DB_URI_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) uri[i];
        if (c <= ' ' || c == 0x7f) {
            shop_errf(err, errlen, "PostgreSQL URI: byte %zu is a space or a control "
                      "character (write it %%%02X)", i, c);
            return -1;
        }
    }
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(uri, &msg);
    if (!opts) {
        /* libpq's message may quote the URI (and so its password): cut it */
        char why[256] = "out of memory";
        if (msg) {
            shop_strlcpy(why, msg, sizeof why);
            char *quote = strstr(why, ": \"");
            if (quote)
                *quote = '\0';
            size_t wl = strlen(why);
            while (wl && (why[wl - 1] == '\n' || why[wl - 1] == ' '))
                why[--wl] = '\0';
        }
        PQfreemem(msg);
        char safe[DB_URI_MAX + 1];
        db_redact(uri, safe, sizeof safe);
        shop_errf(err, errlen, "PostgreSQL URI %s: %s", safe, why);
        return -1;
    }
    int ret = 0;
    for (PQconninfoOption *o = opts; o->keyword && ret == 0; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "port") == 0 && !s_ports_ok(o->val)) {
            shop_errf(err, errlen, "PostgreSQL URI: port \"%s\" is not a number 1..65535",
                      o->val);
            ret = -1;
        } else if (strcmp(o->keyword, "connect_timeout") == 0
                   && (!o->val[0] || strspn(o->val, "0123456789") != strlen(o->val)
                       || strlen(o->val) > 6)) {
            shop_errf(err, errlen, "PostgreSQL URI: connect_timeout \"%s\" is not a number "
                      "of seconds", o->val);
            ret = -1;
        }
    }
    PQconninfoFree(opts);
    return ret;
}

int
db_check(const char *where, char *err, size_t errlen)
{
    if (!where || !where[0]) {
        shop_errf(err, errlen, "no database path given");
        return -1;
    }
    if (db_is_uri(where))
        return db_uri_check(where, err, errlen);
    if (strncasecmp(where, "postgres:", 9) == 0 || strncasecmp(where, "postgresql:", 11) == 0
        || strncasecmp(where, "postgres://", 11) == 0
        || strncasecmp(where, "postgresql://", 13) == 0) {
        shop_errf(err, errlen, "not a PostgreSQL URI (they start with postgresql:// or "
                  "postgres://, in lower case) nor meant as a file name");
        return -1;
    }
    return 0;
}

/* --- connections ---------------------------------------------------------- */

db_t *
db_open(const char *where, char *err, size_t errlen)
{
    if (db_check(where, err, errlen) != 0)
        return NULL;
    bool uri = db_is_uri(where);
    db_t *db = xcalloc(1, sizeof *db);
    db->backend = uri ? DB_POSTGRESQL : DB_SQLITE;
    db->ops = uri ? &db_pg_ops : &db_sqlite_ops;
    char safe[DB_URI_MAX + 1];
    db_redact(where, safe, sizeof safe);
    db->where = xstrdup(uri ? safe : where);
    if (db->ops->open(db, where) != 0) {
        shop_errf(err, errlen, "%s", db->err);
        db_close(&db);
        return NULL;
    }
    s_ok(db);
    return db;
}

void
db_close(db_t **db_p)
{
    if (!db_p || !*db_p)
        return;
    db_t *db = *db_p;
    db->ops->close(db);
    free(db->where);
    free(db);
    *db_p = NULL;
}

db_backend_t
db_backend(const db_t *db)
{
    return db->backend;
}

const char *
db_backend_name(const db_t *db)
{
    return db->ops->name;
}

const char *
db_where(const db_t *db)
{
    return db->where;
}

bool
db_readonly(const db_t *db)
{
    return db->readonly;
}

db_error_t
db_error(const db_t *db)
{
    return db->code;
}

const char *
db_errmsg(const db_t *db)
{
    return db->err;
}

/* Fails at once while the server is lost (no call blocks on a dead one). */
static int
s_usable(db_t *db)
{
    if (db->unavailable)
        return db_fail(db, DB_UNAVAILABLE, "the database server is unavailable (%s)",
                       db->where);
    s_ok(db);
    return 0;
}

int
db_exec(db_t *db, const char *sql)
{
    return s_usable(db) ? -1 : db->ops->exec(db, sql);
}

int
db_begin(db_t *db)
{
    if (db->in_tx)
        return db_fail(db, DB_ERROR, "a transaction is already open");
    if (s_usable(db) || db->ops->begin(db) != 0)
        return -1;
    db->in_tx = true;
    return 0;
}

int
db_commit(db_t *db)
{
    if (!db->in_tx)
        return db_fail(db, DB_ERROR, "no open transaction");
    if (s_usable(db)) {
        db->in_tx = false;
        return -1;
    }
    int rc = db->ops->commit(db);
    /* a failed COMMIT leaves SQLite's transaction open (SQLITE_BUSY): the
     * caller rolls back; PostgreSQL's is over either way */
    if (rc == 0 || db->backend == DB_POSTGRESQL)
        db->in_tx = false;
    return rc;
}

int
db_rollback(db_t *db)
{
    if (!db->in_tx)
        return db_fail(db, DB_ERROR, "no open transaction");
    db->in_tx = false;
    if (s_usable(db))
        return -1;
    return db->ops->rollback(db);
}

bool
db_in_transaction(const db_t *db)
{
    return db->in_tx;
}

/* The largest ?N of sql outside quotes; -1 for a bare '?' or ?0. */
static int
s_count_params(const char *sql)
{
    int max = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            if (p[1] < '1' || p[1] > '9')
                return -1;
            int n = 0;
            while (p[1] >= '0' && p[1] <= '9' && n < 1000)
                n = n * 10 + (*++p - '0');
            if (n > max)
                max = n;
        }
    }
    return max;
}

db_stmt_t *
db_prepare(db_t *db, const char *sql, bool cache)
{
    if (s_usable(db))
        return NULL;
    int n = s_count_params(sql);
    if (n < 0) {
        db_fail(db, DB_ERROR, "prepare: parameters are written ?1, ?2, ...: %s", sql);
        return NULL;
    }
    db_stmt_t *st = xcalloc(1, sizeof *st);
    st->db = db;
    st->cache = cache;
    st->nparams = n;
    st->row = -1;
    st->sql = xstrdup(sql);
    if (db->ops->prepare(st) != 0) {
        free(st->sql);
        free(st);
        return NULL;
    }
    return st;
}

void
db_finalize(db_stmt_t **st_p)
{
    if (!st_p || !*st_p)
        return;
    db_stmt_t *st = *st_p;
    st->db->ops->finalize(st);
    free(st->sql);
    free(st);
    *st_p = NULL;
}

static int
s_param(db_stmt_t *st, int i)
{
    if (i < 1 || i > st->nparams)
        return db_fail(st->db, DB_ERROR, "bind: no parameter ?%d", i);
    return 0;
}

int
db_bind_text(db_stmt_t *st, int i, const char *txt)
{
    return s_param(st, i) ? -1 : st->db->ops->bind_text(st, i, txt);
}

int
db_bind_int64(db_stmt_t *st, int i, int64_t v)
{
    return s_param(st, i) ? -1 : st->db->ops->bind_int64(st, i, v);
}

int
db_bind_double(db_stmt_t *st, int i, double v)
{
    return s_param(st, i) ? -1 : st->db->ops->bind_double(st, i, v);
}

int
db_step(db_stmt_t *st)
{
    return s_usable(st->db) ? -1 : st->db->ops->step(st);
}

void
db_reset(db_stmt_t *st)
{
    st->db->ops->reset(st);
}

const char *
db_col_text(db_stmt_t *st, int col)
{
    return st->db->ops->col_text(st, col);
}

int64_t
db_col_int64(db_stmt_t *st, int col)
{
    return st->db->ops->col_int64(st, col);
}

double
db_col_double(db_stmt_t *st, int col)
{
    return st->db->ops->col_double(st, col);
}

int64_t
db_changes(const db_t *db)
{
    return db->changes;
}

int
db_schema_version(db_t *db, int *version)
{
    *version = -1;
    return s_usable(db) ? -1 : db->ops->schema_version(db, version);
}

int
db_migrate_begin(db_t *db)
{
    if (db->in_tx)
        return db_fail(db, DB_ERROR, "a transaction is already open");
    if (s_usable(db) || db->ops->migrate_begin(db) != 0)
        return -1;
    db->in_tx = true;
    return 0;
}

int
db_schema_version_set(db_t *db, int version)
{
    return s_usable(db) ? -1 : db->ops->schema_version_set(db, version);
}

int
db_xact_lock(db_t *db, int64_t key)
{
    if (!db->in_tx)
        return db_fail(db, DB_ERROR, "db_xact_lock outside a transaction");
    return s_usable(db) ? -1 : db->ops->xact_lock(db, key);
}

int
db_notify(db_t *db, const char *channel, const char *payload)
{
    return s_usable(db) ? -1 : db->ops->notify(db, channel, payload);
}

int
db_listen(db_t *db, const char *channel)
{
    return s_usable(db) ? -1 : db->ops->listen(db, channel);
}

int
db_notify_fd(const db_t *db)
{
    return db->unavailable ? -1 : db->ops->notify_fd(db);
}

int
db_notifications(db_t *db, db_notify_fn fn, void *ud)
{
    return s_usable(db) ? -1 : db->ops->notifications(db, fn, ud);
}

bool
db_unavailable(const db_t *db)
{
    return db->unavailable;
}

int
db_reconnect(db_t *db)
{
    s_ok(db);
    if (!db->unavailable)
        return 0;
    db->in_tx = false;
    return db->ops->reconnect(db);
}

int
db_secure_delete(db_t *db, bool on)
{
    return s_usable(db) ? -1 : db->ops->secure_delete(db, on);
}

int
db_checkpoint(db_t *db)
{
    return s_usable(db) ? -1 : db->ops->checkpoint(db);
}

/* --- self-test ------------------------------------------------------------ */

int
db_test(bool verbose)
{
    static const struct {
        const char *in, *out;
    } redact[] = {
        { "/var/lib/shopd/shop.db", "/var/lib/shopd/shop.db" },
        { "postgresql://shop:s3cret@db.example:5432/shop",
          "postgresql://shop@db.example:5432/shop" },
        { "postgres://:pw@h/d", "postgres://@h/d" },
        { "postgresql://u@h/d?password=x&sslmode=require",
          "postgresql://u@h/d?sslmode=require" },
        { "postgresql://h/d?sslmode=require&pass%77ord=x", "postgresql://h/d?sslmode=require" },
        { "postgresql:///shop?host=/tmp/pg&password=a&user=b",
          "postgresql:///shop?host=/tmp/pg&user=b" },
        { "postgresql://u:p?w@h/d", "postgresql://u@h/d" },
    };
    char buf[256], err[256];
    for (size_t i = 0; i < SHOP_ARRAY_LEN(redact); i++) {
        db_redact(redact[i].in, buf, sizeof buf);
        if (strcmp(buf, redact[i].out) != 0) {
            fprintf(stderr, "db_test: redact %s: %s, not %s\n", redact[i].in, buf, redact[i].out);
            return -1;
        }
    }
    static const char *const good[] = {
        "postgresql://",
        "postgresql:///shop?host=/tmp/pg-x&port=5432&user=postgres",
        "postgres://shop:pw@db.example:6432/shop?sslmode=verify-full&connect_timeout=3",
        "postgresql://h1:5432,h2:5433/shop?target_session_attrs=read-write",
        "postgresql://[::1]:5432/shop",
    };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(good); i++) {
        if (db_uri_check(good[i], err, sizeof err) != 0) {
            fprintf(stderr, "db_test: %s refused: %s\n", good[i], err);
            return -1;
        }
    }
    static const char *const bad[] = {
        "/var/lib/shop.db",
        "postgresql://u:s3cret@h/d?nosuch=1",
        "postgresql://u:s3cret@h:99999/d",
        "postgresql://u:s3cret@h:54x2/d",
        "postgresql://u:s3cret@h/d?port=0",
        "postgresql://u:s3cret@h/d?connect_timeout=soon",
        "postgresql://u:s3cret%zz@h/d",
        "postgresql://u:s3cret@[::1/d",
        "postgresql://u:s3cret@h/d?sslmode",
        "postgresql://u:s3cret@h/d?a=b=c",
        "postgresql://u:s3cret@h/my db",
        "postgresql://u:s3cret@h/d%00",
    };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        if (db_uri_check(bad[i], err, sizeof err) == 0 || !err[0] || strstr(err, "s3cret")) {
            fprintf(stderr, "db_test: %s: accepted or a bad message (%s)\n", bad[i], err);
            return -1;
        }
        if (verbose)
            fprintf(stderr, "db_test: %s -> %s\n", bad[i], err);
    }
    static const char *const misspelt[] = {
        "postgresql:/h/d", "POSTGRESQL://h/d", "postgres:d", "",
    };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(misspelt); i++)
        if (db_check(misspelt[i], err, sizeof err) == 0)
            return -1;
    if (db_check("postgres.db", err, sizeof err) != 0
        || db_check("/var/lib/x.db", err, sizeof err) != 0)
        return -1;
    char *long_uri = xmalloc(DB_URI_MAX + 32);
    snprintf(long_uri, DB_URI_MAX + 32, "postgresql://h/%0*d", DB_URI_MAX, 0);
    int rc = db_uri_check(long_uri, err, sizeof err);
    free(long_uri);
    if (rc == 0)
        return -1;
    return 0;
}
