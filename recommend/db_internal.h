/* recommend/db_internal.h: what db.c shares with its two backends,
 * db_sqlite.c and db_pg.c. Not for other modules: they use db.h. */
#ifndef SHOP_RECOMMEND_DB_INTERNAL_H
#define SHOP_RECOMMEND_DB_INTERNAL_H

#include "recommend/db.h"

#include <stdarg.h>

#include <libpq-fe.h>
#include <sqlite3.h>

/* One backend: db.c checks arguments and calls these. */
typedef struct {
    const char *name;
    int (*open)(db_t *db, const char *where);
    void (*close)(db_t *db);
    int (*exec)(db_t *db, const char *sql);
    int (*begin)(db_t *db);
    int (*commit)(db_t *db);
    int (*rollback)(db_t *db);
    int (*prepare)(db_stmt_t *st);
    void (*finalize)(db_stmt_t *st);
    int (*bind_text)(db_stmt_t *st, int i, const char *txt);
    int (*bind_int64)(db_stmt_t *st, int i, int64_t v);
    int (*bind_double)(db_stmt_t *st, int i, double v);
    int (*step)(db_stmt_t *st);
    void (*reset)(db_stmt_t *st);
    const char *(*col_text)(db_stmt_t *st, int col);
    int64_t (*col_int64)(db_stmt_t *st, int col);
    double (*col_double)(db_stmt_t *st, int col);
    int (*schema_version)(db_t *db, int *version);
    int (*migrate_begin)(db_t *db);
    int (*schema_version_set)(db_t *db, int version);
    int (*xact_lock)(db_t *db, int64_t key);
    int (*notify)(db_t *db, const char *channel, const char *payload);
    int (*listen)(db_t *db, const char *channel);
    int (*notify_fd)(const db_t *db);
    int (*notifications)(db_t *db, db_notify_fn fn, void *ud);
    int (*reconnect)(db_t *db);
    int (*secure_delete)(db_t *db, bool on);
    int (*checkpoint)(db_t *db);
} db_ops_t;

extern const db_ops_t db_sqlite_ops;
extern const db_ops_t db_pg_ops;

#define DB_LISTEN_MAX 4

struct _db_t {
    const db_ops_t *ops;       /* the backend */
    db_backend_t backend;
    char *where;               /* the location, any password removed */
    bool readonly;             /* accepts no writes */
    bool in_tx;                /* inside db_begin ... db_commit/db_rollback */
    int64_t changes;           /* rows changed by the last statement */
    db_error_t code;           /* class of the last failure */
    char err[512];             /* its message, "" after success */
    /* SQLite */
    sqlite3 *lite;             /* the connection */
    /* PostgreSQL */
    PGconn *pg;                /* the connection, NULL while unavailable */
    char *conninfo;            /* the URI as given (with its password) */
    uint64_t gen;              /* connection generation: +1 per (re)connect */
    bool unavailable;          /* the server was lost: calls fail until reconnect */
    int client_timeout_ms;     /* the longest wait for one answer, 0 = none */
    unsigned next_name;        /* names of server-side prepared statements */
    char *listening[DB_LISTEN_MAX];  /* channels LISTENed to */
    int nlistening;
};

struct _db_stmt_t {
    db_t *db;                  /* the connection it belongs to */
    char *sql;                 /* as run by the backend (PostgreSQL: $N placeholders) */
    bool cache;                /* kept for repeated use */
    int nparams;               /* the largest ?N in the SQL */
    /* SQLite */
    sqlite3_stmt *lite;
    /* PostgreSQL */
    char name[24];             /* server-side name ("" for one-off statements) */
    uint64_t prepared_gen;     /* db->gen when prepared, 0 = not prepared */
    char **params;             /* nparams bound values as text, NULL = SQL NULL */
    PGresult *res;             /* the result of the current run, NULL before it */
    int row;                   /* current row of res, -1 before the first */
};

/* Sets db's failure: class code, message from fmt. Returns -1. */
int db_fail(db_t *db, db_error_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
