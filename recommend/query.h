/* recommend/query.h: the query engine: a model + the catalogue + every
 * customer's history, answering personalised, similar, bought-together,
 * category and popular queries with filters and reasons.
 *
 * Thread-safe: queries from several threads run in parallel (read lock);
 * events, catalogue refreshes and model swaps take the write lock for a few
 * microseconds. rec_engine_reload() loads a model file in a background
 * thread and swaps it in when ready, so answers never stop ("no downtime").
 *
 * With a store attached, each query first applies the store's new events
 * (rows with an id above the last one seen), so a purchase recorded by the
 * daemon, or by another worker, changes that customer's very next answer.
 * With manual sync (rec_engine_set_manual_sync) queries touch no store:
 * the owner calls rec_engine_sync when it learns of new events (shopd on
 * PostgreSQL: a notification), so a query costs no round trip to a server
 * and keeps answering from memory while the server is unreachable.
 * The engine owns the store handle it is given and is its only user.
 *
 * Cold start: an unknown customer gets what is trending (in the category
 * asked for); an item unknown to the model gets neighbours from its category
 * at a similar price.
 */
#ifndef SHOP_RECOMMEND_QUERY_H
#define SHOP_RECOMMEND_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recommend/model.h"
#include "recommend/store.h"

typedef enum {
    REC_Q_PERSONAL = 0,   /* for a customer (optionally within a category) */
    REC_Q_SIMILAR,        /* like an item */
    REC_Q_TOGETHER,       /* bought with an item or a cart */
    REC_Q_CATEGORY,       /* best of a category (personalised when a customer is given) */
    REC_Q_POPULAR,        /* trending overall */
    REC_Q_N
} rec_qkind_t;

/* "personal", "similar", "together", "category", "popular"; -1 if unknown. */
const char *rec_qkind_name(rec_qkind_t k);
int rec_qkind_from_name(const char *name);

#define REC_MAX_K     100
#define REC_MAX_SEEDS 64
#define REC_REASON_MAX 160

typedef struct {
    rec_qkind_t kind;
    const char *customer;          /* may be NULL */
    const char *item;              /* SIMILAR / TOGETHER seed */
    const char *const *cart;       /* TOGETHER: more seeds (the cart) */
    int n_cart;
    const char *category;          /* restricts results; required for CATEGORY */
    double min_price, max_price;   /* max_price <= 0: no upper bound */
    bool exclude_bought;           /* drop what the customer bought before */
    bool include_out_of_stock;     /* default false: only items in stock */
    int k;                         /* 1..REC_MAX_K */
    int64_t now;                   /* 0: the current time */
} rec_query_t;

typedef struct {
    char item[STORE_ID_MAX];
    char name[STORE_NAME_MAX];
    char category[STORE_CATEGORY_MAX];
    double price;
    float score;
    char reason[REC_REASON_MAX];   /* "often bought with X", "you bought this before" */
} rec_result_t;

typedef struct _rec_engine_t rec_engine_t;

/* A new engine. When s is non-NULL the engine takes it (*s_p is set to
 * NULL), loads its catalogue and events, and follows new events before each
 * query. Returns NULL with a message in err. */
rec_engine_t *rec_engine_new(store_t **s_p, char *err, size_t errlen);
/* Stops a reload in progress, frees everything; NULLs *e_p. */
void rec_engine_destroy(rec_engine_t **e_p);

/* Adds or updates a catalogue item (for engines without a store, and tests). */
void rec_engine_set_item(rec_engine_t *e, const char *id, const char *name, const char *category,
                         double price, bool in_stock);
/* Re-reads the catalogue from the store (prices, stock). Returns 0 / -1. */
int rec_engine_refresh_catalogue(rec_engine_t *e, char *err, size_t errlen);

/* Swaps in a model (takes *m_p, sets it NULL; the old one is freed once no
 * query uses it). */
void rec_engine_set_model(rec_engine_t *e, rec_model_t **m_p);
/* Loads path in a background thread and swaps it in. Returns 0 when the load
 * started, -1 when one is already running (message in err). */
int rec_engine_reload(rec_engine_t *e, const char *path, char *err, size_t errlen);
/* Waits for a background reload; returns its result (0 or -1 with err). */
int rec_engine_reload_wait(rec_engine_t *e, char *err, size_t errlen);
/* The number of models swapped in so far (tests watch reloads with it). */
int rec_engine_generation(rec_engine_t *e);

/* Records an event in memory (and in the store when one is attached and
 * to_store is true). Returns 0 / -1. */
int rec_engine_add_event(rec_engine_t *e, const char *customer, const char *item, int64_t time,
                         store_event_type_t type, int quantity, bool to_store, char *err,
                         size_t errlen);

/* Applies the store's events newer than the last one seen (all of them:
 * no "anything new?" query first). A lost database server is connected
 * again once (store_reconnect). *applied (may be NULL) gets how many were
 * new. Returns 0 / -1 with err. */
int rec_engine_sync(rec_engine_t *e, long *applied, char *err, size_t errlen);

/* manual: queries no longer apply the store's new events themselves (the
 * default is false: every query does). */
void rec_engine_set_manual_sync(rec_engine_t *e, bool manual);

/* Applies ev (with its uid, not in the store yet: a device's outbox holds
 * it) in memory now; when the store later shows an event with that uid,
 * rec_engine_sync skips it, so it counts once. Returns 0 / -1 with err. */
int rec_engine_add_local(rec_engine_t *e, const store_event_t *ev, char *err, size_t errlen);

/* Erases customer's history from memory (the store's rows are erased by
 * store_forget_customer): its events no longer count for it, nor for the
 * items' popularity; its cached scores go. *events (may be NULL) gets the
 * events dropped. Returns 1 when the customer had a history, 0 when not. */
int rec_engine_forget(rec_engine_t *e, const char *customer, long *events);

/* Answers q into out[0..q->k). Returns the number of results (>= 0), or -1
 * with a message in err (unknown kind, bad k, missing item for SIMILAR...). */
int rec_engine_query(rec_engine_t *e, const rec_query_t *q, rec_result_t *out, char *err,
                     size_t errlen);

typedef struct {
    int items, items_in_model, customers;
    long events;
    int generation;
    char model[32];    /* kind used for personal queries, "" without a model */
} rec_engine_stats_t;
void rec_engine_stats(rec_engine_t *e, rec_engine_stats_t *st);

#endif
