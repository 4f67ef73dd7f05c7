/* recommend/db_sqlite.c: the driver's SQLite backend (see db.h): one file,
 * WAL, synchronous=FULL, a 5 s busy timeout, read-only media served
 * read-only. */
#include "recommend/db_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* The class of SQLite's (extended) result code rc. */
static db_error_t
s_class(int rc)
{
    if (rc == SQLITE_CONSTRAINT_CHECK)
        return DB_CHECK;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return DB_CONSTRAINT;
    case SQLITE_READONLY: return DB_READONLY;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return DB_BUSY;
    default: return DB_ERROR;
    }
}

/* Records SQLite's last failure on db. Returns -1. */
static int
s_fail_lite(db_t *db)
{
    return db_fail(db, s_class(sqlite3_extended_errcode(db->lite)), "%s",
                   sqlite3_errmsg(db->lite));
}

/* Opens path read-write (created when missing) in WAL mode. Returns 0, -1
 * on failure, 1 when the file or its directory cannot be written (the
 * caller then opens it read-only); a message is set in both cases. */
static int
s_open_rw(db_t *db, const char *path)
{
    if (sqlite3_open_v2(path, &db->lite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                             | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        return db_fail(db, DB_ERROR, "opening %s: %s", path,
                       db->lite ? sqlite3_errmsg(db->lite) : "out of memory");
    sqlite3_extended_result_codes(db->lite, 1);
    sqlite3_busy_timeout(db->lite, 5000);
    /* SQLite opens a file it may not write read-only without saying so */
    if (sqlite3_db_readonly(db->lite, "main") == 1) {
        db_fail(db, DB_READONLY, "%s cannot be written: %s", path,
                access(path, W_OK) != 0 ? strerror(errno) : "SQLite opened it read-only");
        return 1;
    }
    /* WAL must be confirmed: on a filesystem without shared memory it stays
     * "delete", and we would rather know. */
    sqlite3_stmt *st = NULL;
    bool wal = false;
    if (sqlite3_prepare_v2(db->lite, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        wal = mode && strcmp((const char *) mode, "wal") == 0;
    }
    sqlite3_finalize(st);
    if (!wal) {
        int code = sqlite3_errcode(db->lite) & 0xff;
        db_fail(db, DB_ERROR, "%s: cannot switch to WAL mode: %s", path, sqlite3_errmsg(db->lite));
        /* the -wal and -shm files cannot be created next to the database */
        return code == SQLITE_CANTOPEN || code == SQLITE_READONLY ? 1 : -1;
    }
    char *msg = NULL;
    if (sqlite3_exec(db->lite, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", NULL, NULL,
                     &msg) != SQLITE_OK) {
        db_fail(db, DB_ERROR, "%s: %s", path, msg ? msg : "pragma failed");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Opens db->lite read-only; flags: extra open flags, name: the file name
 * or URI. Returns 0 once the schema could be read, else -1 with db->lite
 * closed and *why set from SQLite's message. */
static int
s_open_ro_try(db_t *db, const char *name, int flags, char *why, size_t whylen)
{
    if (sqlite3_open_v2(name, &db->lite, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | flags, NULL)
        == SQLITE_OK) {
        sqlite3_extended_result_codes(db->lite, 1);
        sqlite3_busy_timeout(db->lite, 5000);
        /* opening is lazy: reading the schema is what needs the WAL index */
        if (sqlite3_exec(db->lite, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL)
            == SQLITE_OK)
            return 0;
    }
    shop_strlcpy(why, db->lite ? sqlite3_errmsg(db->lite) : "out of memory", whylen);
    sqlite3_close(db->lite);
    db->lite = NULL;
    return -1;
}

/* Opens path read-only after s_open_rw found it unwritable (its message is
 * in db->err). SQLite reads a WAL database on read-only media when its
 * -wal and -shm files exist or can be created (mode=ro; a read-only -shm is
 * then replaced by heap memory), or else when opened immutable=1, which
 * ignores any -wal file: changes still in it are not seen (warned about).
 * Returns 0 or -1 with a message. */
static int
s_open_ro(db_t *db, const char *path)
{
    char rw_why[sizeof db->err], why[256], mode[64] = "read-only";
    shop_strlcpy(rw_why, db->err, sizeof rw_why);
    sqlite3_close(db->lite);
    db->lite = NULL;
    if (s_open_ro_try(db, path, 0, why, sizeof why) != 0) {
        /* a URI: the path with every byte outside [A-Za-z0-9/._~-] escaped */
        size_t len = strlen(path);
        char *uri = xmalloc(len * 3 + 32), *u = uri;
        u += sprintf(u, "file:");
        for (const unsigned char *p = (const unsigned char *) path; *p; p++)
            u += isalnum(*p) || strchr("/._~-", *p) ? sprintf(u, "%c", *p)
                                                     : sprintf(u, "%%%02X", *p);
        sprintf(u, "?immutable=1");
        int rc = s_open_ro_try(db, uri, SQLITE_OPEN_URI, why, sizeof why);
        free(uri);
        if (rc != 0)
            return db_fail(db, DB_ERROR, "%s; opening it read-only failed too: %s", rw_why, why);
        shop_strlcpy(mode, "read-only, immutable", sizeof mode);
        char wal[4096];
        struct stat sb;
        snprintf(wal, sizeof wal, "%s-wal", path);
        if (stat(wal, &sb) == 0 && sb.st_size > 0)
            log_warn("store: %s holds %lld bytes of changes that cannot be read without "
                     "its -shm file: the database is served as it was before them", wal,
                     (long long) sb.st_size);
    }
    db->readonly = true;
    /* one warning per process: the daemon opens several connections */
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    log_msg(atomic_flag_test_and_set(&warned) ? LOG_DEBUG : LOG_WARNING,
            "store: %s; opened %s: serving reads, refusing events, cart changes and imports "
            "(\"database is read-only\"), sessions kept in memory only", rw_why, mode);
    return 0;
}

static int
s_open(db_t *db, const char *path)
{
    int rc = s_open_rw(db, path);
    if (rc < 0 || (rc > 0 && s_open_ro(db, path) != 0))
        return -1;
    return 0;
}

static void
s_close(db_t *db)
{
    if (db->in_tx && db->lite)
        sqlite3_exec(db->lite, "ROLLBACK", NULL, NULL, NULL);
    if (db->lite)
        sqlite3_close(db->lite);
    db->lite = NULL;
}

static int
s_exec(db_t *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db->lite, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    db_fail(db, s_class(sqlite3_extended_errcode(db->lite)), "%s",
            msg ? msg : sqlite3_errmsg(db->lite));
    sqlite3_free(msg);
    return -1;
}

static int
s_begin(db_t *db)
{
    return s_exec(db, "BEGIN IMMEDIATE");
}

static int
s_commit(db_t *db)
{
    return s_exec(db, "COMMIT");
}

static int
s_rollback(db_t *db)
{
    return s_exec(db, "ROLLBACK");
}

static int
s_prepare(db_stmt_t *st)
{
    db_t *db = st->db;
    if (sqlite3_prepare_v3(db->lite, st->sql, -1, st->cache ? SQLITE_PREPARE_PERSISTENT : 0,
                           &st->lite, NULL) != SQLITE_OK)
        return s_fail_lite(db);
    return 0;
}

static void
s_finalize(db_stmt_t *st)
{
    sqlite3_finalize(st->lite);
    st->lite = NULL;
}

static int
s_bind_rc(db_stmt_t *st, int rc)
{
    return rc == SQLITE_OK ? 0 : s_fail_lite(st->db);
}

static int
s_bind_text(db_stmt_t *st, int i, const char *txt)
{
    if (!txt)
        return s_bind_rc(st, sqlite3_bind_null(st->lite, i));
    return s_bind_rc(st, sqlite3_bind_text(st->lite, i, txt, -1, SQLITE_TRANSIENT));
}

static int
s_bind_int64(db_stmt_t *st, int i, int64_t v)
{
    return s_bind_rc(st, sqlite3_bind_int64(st->lite, i, v));
}

static int
s_bind_double(db_stmt_t *st, int i, double v)
{
    return s_bind_rc(st, sqlite3_bind_double(st->lite, i, v));
}

static int
s_step(db_stmt_t *st)
{
    int rc = sqlite3_step(st->lite);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        st->db->changes = sqlite3_changes(st->db->lite);
        return 0;
    }
    return s_fail_lite(st->db);
}

static void
s_reset(db_stmt_t *st)
{
    sqlite3_reset(st->lite);
    sqlite3_clear_bindings(st->lite);
}

static const char *
s_col_text(db_stmt_t *st, int col)
{
    return (const char *) sqlite3_column_text(st->lite, col);
}

static int64_t
s_col_int64(db_stmt_t *st, int col)
{
    return sqlite3_column_int64(st->lite, col);
}

static double
s_col_double(db_stmt_t *st, int col)
{
    return sqlite3_column_double(st->lite, col);
}

static int
s_schema_version(db_t *db, int *version)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->lite, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return *version < 0 ? s_fail_lite(db) : 0;
}

static int
s_migrate_begin(db_t *db)
{
    return s_exec(db, "BEGIN EXCLUSIVE");
}

static int
s_schema_version_set(db_t *db, int version)
{
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version);
    return s_exec(db, pragma);
}

static int
s_xact_lock(db_t *db, int64_t key)
{
    return 0;
}

static int
s_notify(db_t *db, const char *channel, const char *payload)
{
    return 0;
}

static int
s_listen(db_t *db, const char *channel)
{
    return 0;
}

static int
s_notify_fd(const db_t *db)
{
    return -1;
}

static int
s_notifications(db_t *db, db_notify_fn fn, void *ud)
{
    return 0;
}

static int
s_reconnect(db_t *db)
{
    return 0;
}

static int
s_secure_delete(db_t *db, bool on)
{
    /* a pragma answers with a row: sqlite3_exec steps through it */
    return s_exec(db, on ? "PRAGMA secure_delete = ON" : "PRAGMA secure_delete = OFF");
}

static int
s_checkpoint(db_t *db)
{
    int logged = 0, done = 0;
    if (sqlite3_wal_checkpoint_v2(db->lite, NULL, SQLITE_CHECKPOINT_TRUNCATE, &logged, &done)
        != SQLITE_OK)
        return s_fail_lite(db);
    return 0;
}

const db_ops_t db_sqlite_ops = {
    .name = "sqlite",
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
