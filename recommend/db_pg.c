/* recommend/db_pg.c: the driver's PostgreSQL backend (see db.h), through
 * libpq.
 *
 * Every query is sent asynchronously and its answer awaited with poll(), so
 * no call waits longer than the server's statement_timeout plus 5 s even
 * when the server or the network goes silent; the connection is then
 * dropped and the db_t is "unavailable" until db_reconnect. Parameters are
 * sent as text and typed by the server from the SQL. */
#include "config.h"

#include "recommend/db_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Connection settings a URI may override (it comes after them); the
 * application_name is the program's (shopd, shop-recommend, ...). */
static const char *const s_default_keys[] = {
    "connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout", "options", "application_name",
};
static const char *const s_default_vals[] = {
    "5", "10", "3", "3", "15000", "-c statement_timeout=15000", NULL,
};

/* Extra wait for an answer beyond the server's statement_timeout. */
#define S_CLIENT_MARGIN_MS 5000

/* Advisory lock of the migrations (pg_advisory_xact_lock's key). */
#define S_LOCK_MIGRATE 0x73686f7064000001LL

/* Drops the connection after it was lost. Returns -1. */
static int
s_lost(db_t *db, const char *why)
{
    if (db->pg)
        PQfinish(db->pg);
    db->pg = NULL;
    db->unavailable = true;
    db->in_tx = false;
    return db_fail(db, DB_UNAVAILABLE, "the database server is unavailable (%s): %s", db->where,
                   why);
}

/* libpq's connection message, one line, without its trailing newline. */
static void
s_conn_msg(PGconn *pg, char *buf, size_t len)
{
    shop_strlcpy(buf, pg ? PQerrorMessage(pg) : "out of memory", len);
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    size_t n = strlen(buf);
    while (n && buf[n - 1] == ' ')
        buf[--n] = '\0';
}

/* Waits for the answer to what was sent and returns its last result (the
 * first failed one of a script), or NULL with the failure recorded: the
 * server gone or silent past the client timeout makes db unavailable. */
static PGresult *
s_collect(db_t *db)
{
    uint64_t deadline = db->client_timeout_ms
                            ? shop_now_ns() + (uint64_t) db->client_timeout_ms * 1000000u : 0;
    PGresult *keep = NULL;
    while (true) {
        while (PQisBusy(db->pg)) {
            int wait = -1;
            if (deadline) {
                uint64_t now = shop_now_ns();
                if (now >= deadline)
                    goto silent;
                wait = (int) ((deadline - now) / 1000000u) + 1;
            }
            struct pollfd pfd = { .fd = PQsocket(db->pg), .events = POLLIN };
            int rc = poll(&pfd, 1, wait);
            if (rc < 0 && errno != EINTR)
                goto silent;
            if (rc == 0 && deadline && shop_now_ns() >= deadline)
                goto silent;
            if (!PQconsumeInput(db->pg)) {
                char msg[256];
                s_conn_msg(db->pg, msg, sizeof msg);
                PQclear(keep);
                s_lost(db, msg);
                return NULL;
            }
        }
        PGresult *res = PQgetResult(db->pg);
        if (!res)
            break;
        /* the first failure of a script is the one to report */
        if (keep && PQresultStatus(keep) != PGRES_COMMAND_OK
            && PQresultStatus(keep) != PGRES_TUPLES_OK) {
            PQclear(res);
            continue;
        }
        PQclear(keep);
        keep = res;
    }
    if (!keep) {
        char msg[256];
        s_conn_msg(db->pg, msg, sizeof msg);
        if (PQstatus(db->pg) == CONNECTION_BAD) {
            s_lost(db, msg);
            return NULL;
        }
        db_fail(db, DB_ERROR, "no answer: %s", msg);
        return NULL;
    }
    return keep;
silent:
    PQclear(keep);
    char why[64];
    snprintf(why, sizeof why, "no answer in %d ms", db->client_timeout_ms);
    s_lost(db, why);
    return NULL;
}

/* The failure of res (an error result, cleared here). Returns -1. */
static int
s_fail_res(db_t *db, PGresult *res)
{
    const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    char msg[sizeof db->err], state[8];
    shop_strlcpy(state, sqlstate ? sqlstate : "", sizeof state);
    if (primary)
        shop_strlcpy(msg, primary, sizeof msg);
    else
        s_conn_msg(db->pg, msg, sizeof msg);
    PQclear(res);
    if (PQstatus(db->pg) == CONNECTION_BAD || strncmp(state, "08", 2) == 0
        || strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0
        || strcmp(state, "57P03") == 0)
        return s_lost(db, msg);
    db_error_t code = DB_ERROR;
    if (strcmp(state, "23514") == 0)
        code = DB_CHECK;
    else if (strncmp(state, "23", 2) == 0)
        code = DB_CONSTRAINT;
    else if (strcmp(state, "25006") == 0)
        code = DB_READONLY;
    else if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0
             || strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0)
        code = DB_BUSY;
    return db_fail(db, code, "%s", msg);
}

/* Runs sql (no parameters, or nparams text values) and returns its result
 * on success (the caller clears it), NULL with the failure recorded. */
static PGresult *
s_query(db_t *db, const char *sql, int nparams, const char *const *params)
{
    int sent = nparams ? PQsendQueryParams(db->pg, sql, nparams, NULL, params, NULL, NULL, 0)
                       : PQsendQuery(db->pg, sql);
    if (!sent) {
        char msg[256];
        s_conn_msg(db->pg, msg, sizeof msg);
        if (PQstatus(db->pg) == CONNECTION_BAD) {
            s_lost(db, msg);
            return NULL;
        }
        db_fail(db, DB_ERROR, "%s", msg);
        return NULL;
    }
    PGresult *res = s_collect(db);
    if (!res)
        return NULL;
    ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        s_fail_res(db, res);
        return NULL;
    }
    return res;
}

static int
s_exec(db_t *db, const char *sql)
{
    PGresult *res = s_query(db, sql, 0, NULL);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* The first column of the first row of sql, copied into buf ("" for none
 * or NULL). 0 / -1. */
static int
s_value(db_t *db, const char *sql, char *buf, size_t len)
{
    PGresult *res = s_query(db, sql, 0, NULL);
    if (!res)
        return -1;
    shop_strlcpy(buf, PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0)
                          ? PQgetvalue(res, 0, 0) : "", len);
    PQclear(res);
    return 0;
}

/* Connects (or connects again) with db->conninfo and sets the session up. */
static int
s_connect(db_t *db)
{
    enum { NDEF = SHOP_ARRAY_LEN(s_default_keys) };
    const char *keys[NDEF + 3], *vals[NDEF + 3];
    for (size_t i = 0; i < NDEF; i++) {
        keys[i] = s_default_keys[i];
        vals[i] = s_default_vals[i] ? s_default_vals[i] : program_invocation_short_name;
    }
    keys[NDEF] = "dbname";
    vals[NDEF] = db->conninfo;
    /* the store reads and writes UTF-8 whatever the URI says */
    keys[NDEF + 1] = "client_encoding";
    vals[NDEF + 1] = "UTF8";
    keys[NDEF + 2] = NULL;
    vals[NDEF + 2] = NULL;
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        char msg[384];
        s_conn_msg(pg, msg, sizeof msg);
        if (pg)
            PQfinish(pg);
        db->unavailable = true;
        return db_fail(db, DB_UNAVAILABLE, "cannot connect to %s: %s", db->where, msg);
    }
    if (PQserverVersion(pg) < 100000) {
        int v = PQserverVersion(pg);
        PQfinish(pg);
        db->unavailable = true;
        return db_fail(db, DB_ERROR, "%s: PostgreSQL %d.%d is too old (10 or newer is needed)",
                       db->where, v / 10000, v % 10000);
    }
    db->pg = pg;
    db->gen++;
    db->unavailable = false;
    db->client_timeout_ms = 0;
    char val[64];
    if (s_value(db, "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'", val,
                sizeof val) != 0)
        return -1;
    long ms = strtol(val, NULL, 10);
    if (ms > 0 && ms < 24L * 3600 * 1000)
        db->client_timeout_ms = (int) ms + S_CLIENT_MARGIN_MS;
    if (s_value(db, "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'",
                val, sizeof val) != 0)
        return -1;
    db->readonly = strcmp(val, "t") == 0;
    return 0;
}

static int
s_open(db_t *db, const char *uri)
{
    db->conninfo = xstrdup(uri);
    return s_connect(db);
}

static void
s_close(db_t *db)
{
    if (db->pg)
        PQfinish(db->pg);
    db->pg = NULL;
    for (int i = 0; i < db->nlistening; i++)
        free(db->listening[i]);
    db->nlistening = 0;
    if (db->conninfo) {
        /* the URI may hold a password: not left in freed memory */
        memset(db->conninfo, 0, strlen(db->conninfo));
        free(db->conninfo);
    }
    db->conninfo = NULL;
}

static int
s_begin(db_t *db)
{
    return s_exec(db, "BEGIN");
}

static int
s_commit(db_t *db)
{
    PGresult *res = s_query(db, "COMMIT", 0, NULL);
    if (!res)
        return -1;
    /* the server answers a COMMIT of a failed transaction with ROLLBACK */
    bool rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back)
        return db_fail(db, DB_ERROR, "the transaction was rolled back after an earlier error");
    return 0;
}

static int
s_rollback(db_t *db)
{
    return s_exec(db, "ROLLBACK");
}

/* Rewrites ?N placeholders as $N (outside quotes) in st->sql. */
static int
s_prepare(db_stmt_t *st)
{
    db_t *db = st->db;
    char *out = xmalloc(strlen(st->sql) + 1);
    char quote = 0;
    size_t o = 0;
    for (const char *p = st->sql; *p; p++) {
        char c = *p;
        if (quote) {
            if (c == quote)
                quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '?') {
            c = '$';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    free(st->sql);
    st->sql = out;
    if (st->cache)
        snprintf(st->name, sizeof st->name, "shop_%u", ++db->next_name);
    if (st->nparams)
        st->params = xcalloc((size_t) st->nparams, sizeof *st->params);
    return 0;
}

static void
s_clear_params(db_stmt_t *st)
{
    for (int i = 0; i < st->nparams; i++) {
        free(st->params[i]);
        st->params[i] = NULL;
    }
}

static void
s_finalize(db_stmt_t *st)
{
    PQclear(st->res);
    st->res = NULL;
    if (st->params)
        s_clear_params(st);
    free(st->params);
    st->params = NULL;
    /* a server-side statement goes with its connection */
}

static int
s_bind_text(db_stmt_t *st, int i, const char *txt)
{
    free(st->params[i - 1]);
    st->params[i - 1] = txt ? xstrdup(txt) : NULL;
    return 0;
}

static int
s_bind_int64(db_stmt_t *st, int i, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return s_bind_text(st, i, buf);
}

static int
s_bind_double(db_stmt_t *st, int i, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return s_bind_text(st, i, buf);
}

/* Sends st (preparing it on this connection first when cached) and keeps
 * its result. 0 / -1. */
static int
s_run(db_stmt_t *st)
{
    db_t *db = st->db;
    const char *const *params = (const char *const *) st->params;
    PGresult *res;
    if (!st->cache) {
        if (!PQsendQueryParams(db->pg, st->sql, st->nparams, NULL, params, NULL, NULL, 0))
            goto send_failed;
    } else {
        if (st->prepared_gen != db->gen) {
            if (!PQsendPrepare(db->pg, st->name, st->sql, st->nparams, NULL))
                goto send_failed;
            res = s_collect(db);
            if (!res)
                return -1;
            if (PQresultStatus(res) != PGRES_COMMAND_OK)
                return s_fail_res(db, res);
            PQclear(res);
            st->prepared_gen = db->gen;
        }
        if (!PQsendQueryPrepared(db->pg, st->name, st->nparams, params, NULL, NULL, 0))
            goto send_failed;
    }
    res = s_collect(db);
    if (!res)
        return -1;
    ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        return s_fail_res(db, res);
    const char *n = PQcmdTuples(res);
    db->changes = n && n[0] ? strtoll(n, NULL, 10) : 0;
    st->res = res;
    st->row = -1;
    return 0;
send_failed:;
    char msg[256];
    s_conn_msg(db->pg, msg, sizeof msg);
    if (PQstatus(db->pg) == CONNECTION_BAD)
        return s_lost(db, msg);
    return db_fail(db, DB_ERROR, "%s", msg);
}

static int
s_step(db_stmt_t *st)
{
    if (!st->res && s_run(st) != 0)
        return -1;
    if (st->row < PQntuples(st->res))
        st->row++;
    return st->row < PQntuples(st->res) ? 1 : 0;
}

static void
s_reset(db_stmt_t *st)
{
    PQclear(st->res);
    st->res = NULL;
    st->row = -1;
    if (st->params)
        s_clear_params(st);
}

static const char *
s_col_text(db_stmt_t *st, int col)
{
    if (!st->res || st->row < 0 || st->row >= PQntuples(st->res) || col >= PQnfields(st->res)
        || PQgetisnull(st->res, st->row, col))
        return NULL;
    return PQgetvalue(st->res, st->row, col);
}

/* Numbers arrive as text (int8, float8 output): NULL reads as 0, as in SQLite. */
static int64_t
s_col_int64(db_stmt_t *st, int col)
{
    const char *t = s_col_text(st, col);
    return t ? strtoll(t, NULL, 10) : 0;
}

static double
s_col_double(db_stmt_t *st, int col)
{
    const char *t = s_col_text(st, col);
    return t ? strtod(t, NULL) : 0;
}

static int
s_schema_version(db_t *db, int *version)
{
    char val[32];
    if (s_value(db, "SELECT to_regclass('schema_version') IS NOT NULL", val, sizeof val) != 0)
        return -1;
    if (strcmp(val, "t") != 0) {
        *version = 0;
        return 0;
    }
    if (s_value(db, "SELECT version FROM schema_version", val, sizeof val) != 0)
        return -1;
    *version = val[0] ? (int) strtol(val, NULL, 10) : 0;
    return 0;
}

static int
s_migrate_begin(db_t *db)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_xact_lock(%lld);"
             " CREATE TABLE IF NOT EXISTS schema_version ("
             "  one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one), version INTEGER NOT NULL)",
             (long long) S_LOCK_MIGRATE);
    if (s_exec(db, sql) == 0)
        return 0;
    /* the BEGIN may have run: end the transaction it opened */
    if (db->pg && PQtransactionStatus(db->pg) != PQTRANS_IDLE) {
        char keep[sizeof db->err];
        db_error_t code = db->code;
        shop_strlcpy(keep, db->err, sizeof keep);
        s_exec(db, "ROLLBACK");
        db_fail(db, code, "%s", keep);
    }
    return -1;
}

static int
s_schema_version_set(db_t *db, int version)
{
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT INTO schema_version (version) VALUES (%d)"
             " ON CONFLICT (one) DO UPDATE SET version = %d", version, version);
    return s_exec(db, sql);
}

static int
s_xact_lock(db_t *db, int64_t key)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%" PRId64 ")", key);
    return s_exec(db, sql);
}

static int
s_notify(db_t *db, const char *channel, const char *payload)
{
    const char *params[] = { channel, payload };
    PGresult *res = s_query(db, "SELECT pg_notify($1, $2)", 2, params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* LISTEN on channel over the current connection. */
static int
s_listen_now(db_t *db, const char *channel)
{
    char *ident = PQescapeIdentifier(db->pg, channel, strlen(channel));
    if (!ident)
        return db_fail(db, DB_ERROR, "LISTEN %s: %s", channel, PQerrorMessage(db->pg));
    char *sql = xmalloc(strlen(ident) + 8);
    sprintf(sql, "LISTEN %s", ident);
    PQfreemem(ident);
    int rc = s_exec(db, sql);
    free(sql);
    return rc;
}

static int
s_listen(db_t *db, const char *channel)
{
    for (int i = 0; i < db->nlistening; i++)
        if (strcmp(db->listening[i], channel) == 0)
            return 0;
    if (db->nlistening == DB_LISTEN_MAX)
        return db_fail(db, DB_ERROR, "LISTEN: at most %d channels", DB_LISTEN_MAX);
    if (s_listen_now(db, channel) != 0)
        return -1;
    db->listening[db->nlistening++] = xstrdup(channel);
    return 0;
}

static int
s_notify_fd(const db_t *db)
{
    return db->pg ? PQsocket(db->pg) : -1;
}

static int
s_notifications(db_t *db, db_notify_fn fn, void *ud)
{
    if (!PQconsumeInput(db->pg)) {
        char msg[256];
        s_conn_msg(db->pg, msg, sizeof msg);
        return s_lost(db, msg);
    }
    int n = 0;
    PGnotify *note;
    while ((note = PQnotifies(db->pg))) {
        if (fn)
            fn(note->relname, note->extra, ud);
        PQfreemem(note);
        n++;
    }
    return n;
}

static int
s_reconnect(db_t *db)
{
    if (db->pg)
        PQfinish(db->pg);
    db->pg = NULL;
    if (s_connect(db) != 0) {
        if (db->pg)
            s_lost(db, db->err);
        return -1;
    }
    for (int i = 0; i < db->nlistening; i++)
        if (s_listen_now(db, db->listening[i]) != 0)
            return -1;
    return 0;
}

static int
s_secure_delete(db_t *db, bool on)
{
    return 0;
}

static int
s_checkpoint(db_t *db)
{
    return 0;
}

const db_ops_t db_pg_ops = {
    .name = "postgresql",
    .open = s_open,
    .close = s_close,
    .exec = s_exec,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .prepare = s_prepare,
    .finalize = s_finalize,
    .bind_text = s_bind_text,
    .bind_int64 = s_bind_int64,
    .bind_double = s_bind_double,
    .step = s_step,
    .reset = s_reset,
    .col_text = s_col_text,
    .col_int64 = s_col_int64,
    .col_double = s_col_double,
    .schema_version = s_schema_version,
    .migrate_begin = s_migrate_begin,
    .schema_version_set = s_schema_version_set,
    .xact_lock = s_xact_lock,
    .notify = s_notify,
    .listen = s_listen,
    .notify_fd = s_notify_fd,
    .notifications = s_notifications,
    .reconnect = s_reconnect,
    .secure_delete = s_secure_delete,
    .checkpoint = s_checkpoint,
};
