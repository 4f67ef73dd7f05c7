/* recommend/query.c: the query engine (see query.h). */
#include "recommend/query.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

typedef struct {
    char *name;            /* owned */
    int32_t category;      /* index into cats */
    double price;
    bool in_stock;
    bool described;        /* in the catalogue (answers need a name and a price) */
    int32_t model_idx;     /* -1: unknown to the model (cold item) */
    float pop;             /* purchases seen by the engine */
    float base;            /* 0.001 x s_pop: every answer's starting score */
} s_item_t;

typedef struct {
    int32_t item;          /* engine index */
    int64_t time;
    float w;
    uint8_t type;
} s_hev_t;

typedef struct {
    s_hev_t *ev;           /* sorted by time (appends are nearly always in order) */
    int n, cap;
} s_hist_t;

/* A customer's personal model scores, reused while the model, the history
 * and the hour are the same (recency decays by days: an hour changes
 * nothing a customer would see). */
typedef struct {
    float *scores;         /* model item space; NULL when never computed */
    int generation;        /* the model it was computed with */
    int hist_len;          /* the history length it saw */
    int64_t now;           /* the query time it used */
} s_pcache_t;

#define PCACHE_STRIPES 64
#define PCACHE_MAX_BYTES (512ull << 20)
#define PCACHE_MAX_AGE 3600

struct _rec_engine_t {
    pthread_rwlock_t lock;     /* readers: queries; writer: events, items, models */
    pthread_mutex_t store_mu;  /* the store connection and last_event_id */
    store_t *store;            /* owned, may be NULL */
    int64_t last_event_id;
    bool manual_sync;          /* queries do not sync: the owner calls rec_engine_sync */
    rec_dict_t *local_uids;    /* uids applied by rec_engine_add_local, not yet seen in the store */
    int local_pending;         /* how many of them the store has not shown yet */
    uint8_t *local_seen;       /* per local_uids entry: the store has shown it */
    int local_cap;
    rec_dict_t *items;
    s_item_t *it;
    int it_cap;
    rec_dict_t *cats;
    rec_dict_t *custs;
    s_hist_t *hist;
    s_pcache_t *pcache;        /* per customer, hist_cap entries */
    pthread_mutex_t pcache_mu[PCACHE_STRIPES]; /* entry c is guarded by c % STRIPES */
    atomic_size_t pcache_bytes; /* allocated score arrays */
    int hist_cap;
    long n_events;
    rec_model_t *model;        /* may be NULL */
    int32_t *m2e;              /* model index -> engine index */
    int generation;
    pthread_mutex_t reload_mu; /* the reload thread's fields */
    pthread_t reload_th;
    bool reload_started;       /* a thread exists (to join) */
    bool reload_done;          /* it has finished */
    int reload_rc;
    char reload_path[1024];
    char reload_err[256];
};

/* Per-thread scratch buffers, freed when the thread ends. */
typedef struct {
    float *es;                 /* engine item scores */
    int32_t *best;             /* per engine item: the seed / history item explaining it */
    float *ms;                 /* model item scores */
    int32_t *top;
    uint32_t *seen;            /* per engine item: == stamp when in this query's history */
    uint8_t *bought;           /* ... and whether bought (valid where seen) */
    uint32_t stamp;
    int32_t *hd;               /* the history's distinct items */
    rec_hist_ev_t *mh;
    int cap_e, cap_m, cap_h;
    rec_ws_t *ws;
} s_tls_t;

static pthread_key_t s_tls_key;
static pthread_once_t s_tls_once = PTHREAD_ONCE_INIT;

static void
s_tls_free(void *p)
{
    s_tls_t *t = p;
    free(t->es);
    free(t->best);
    free(t->ms);
    free(t->top);
    free(t->seen);
    free(t->bought);
    free(t->hd);
    free(t->mh);
    rec_ws_destroy(&t->ws);
    free(t);
}

static void
s_tls_init(void)
{
    pthread_key_create(&s_tls_key, s_tls_free);
}

static s_tls_t *
s_tls(int ne, int nm, int nh)
{
    pthread_once(&s_tls_once, s_tls_init);
    s_tls_t *t = pthread_getspecific(s_tls_key);
    if (!t) {
        t = xcalloc(1, sizeof *t);
        t->ws = rec_ws_new();
        pthread_setspecific(s_tls_key, t);
    }
    if (t->cap_e < ne) {
        t->cap_e = ne;
        t->es = xrealloc(t->es, (size_t) ne * sizeof *t->es);
        t->best = xrealloc(t->best, (size_t) ne * sizeof *t->best);
        t->top = xrealloc(t->top, (size_t) ne * sizeof *t->top);
        t->bought = xrealloc(t->bought, (size_t) ne * sizeof *t->bought);
        t->hd = xrealloc(t->hd, (size_t) ne * sizeof *t->hd);
        free(t->seen);
        t->seen = xcalloc((size_t) ne, sizeof *t->seen);
        t->stamp = 0;
    }
    if (t->cap_m < nm) {
        t->cap_m = nm;
        t->ms = xrealloc(t->ms, (size_t) nm * sizeof *t->ms);
    }
    if (t->cap_h < nh) {
        t->cap_h = nh;
        t->mh = xrealloc(t->mh, (size_t) nh * sizeof *t->mh);
    }
    return t;
}

static const char *const s_qnames[REC_Q_N] = { "personal", "similar", "together", "category",
                                              "popular" };

const char *
rec_qkind_name(rec_qkind_t k)
{
    return (int) k >= 0 && k < REC_Q_N ? s_qnames[k] : "unknown";
}

int
rec_qkind_from_name(const char *name)
{
    for (int k = 0; name && k < REC_Q_N; k++)
        if (strcmp(name, s_qnames[k]) == 0)
            return k;
    return -1;
}

/* --- items, histories (write lock held) ---------------------------------- */

/* Popularity of engine item i in [0, 1): the model's trend when known,
 * else the engine's own purchase count. Breaks ties and fills cold answers. */
static float
s_pop(const rec_engine_t *e, int i)
{
    const s_item_t *it = &e->it[i];
    float t = (e->model && it->model_idx >= 0) ? rec_model_trend(e->model, it->model_idx)
                                                : 0;
    float p = t > 0 ? t : 0.1f * it->pop;
    return p / (1.0f + p);
}

/* Refreshes item i's starting score (after its purchases or the model
 * changed; under the write lock). */
static void
s_update_base(rec_engine_t *e, int i)
{
    e->it[i].base = 0.001f * s_pop(e, i);
}

static int
s_item(rec_engine_t *e, const char *id)
{
    int n0 = rec_dict_size(e->items);
    int i = rec_dict_add(e->items, id);
    if (i == n0) {
        if (i >= e->it_cap) {
            e->it_cap = e->it_cap ? e->it_cap * 2 : 256;
            e->it = xrealloc(e->it, (size_t) e->it_cap * sizeof *e->it);
        }
        e->it[i] = (s_item_t) { .name = xstrdup(id), .model_idx = -1 };
        if (e->model)
            e->it[i].model_idx = rec_model_item_index(e->model, id);
        s_update_base(e, i);
    }
    return i;
}

static void
s_set_item(rec_engine_t *e, const char *id, const char *name, const char *category, double price,
           bool in_stock)
{
    int i = s_item(e, id);
    s_item_t *it = &e->it[i];
    free(it->name);
    it->name = xstrdup(name && name[0] ? name : id);
    it->category = rec_dict_add(e->cats, category ? category : "");
    it->price = price;
    it->in_stock = in_stock;
    it->described = true;
}

static void
s_add_event(rec_engine_t *e, const char *customer, const char *item, int64_t time,
            store_event_type_t type)
{
    int c = rec_dict_add(e->custs, customer);
    if (c >= e->hist_cap) {
        int cap = e->hist_cap ? e->hist_cap * 2 : 256;
        while (cap <= c)
            cap *= 2;
        e->hist = xrealloc(e->hist, (size_t) cap * sizeof *e->hist);
        memset(e->hist + e->hist_cap, 0, (size_t) (cap - e->hist_cap) * sizeof *e->hist);
        e->pcache = xrealloc(e->pcache, (size_t) cap * sizeof *e->pcache);
        memset(e->pcache + e->hist_cap, 0, (size_t) (cap - e->hist_cap) * sizeof *e->pcache);
        e->hist_cap = cap;
    }
    int i = s_item(e, item);
    s_hist_t *h = &e->hist[c];
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 8;
        h->ev = xrealloc(h->ev, (size_t) h->cap * sizeof *h->ev);
    }
    /* keep time order: walk back over later events (rare: late imports) */
    int at = h->n;
    while (at > 0 && h->ev[at - 1].time > time) {
        h->ev[at] = h->ev[at - 1];
        at--;
    }
    h->ev[at] = (s_hev_t) { i, time, rec_event_weight(type), (uint8_t) type };
    h->n++;
    if (type == STORE_EVENT_PURCHASE) {
        e->it[i].pop += 1;
        s_update_base(e, i);
    }
    e->n_events++;
}

typedef struct {
    store_event_t *ev;
    size_t n, cap;
} s_evbuf_t;

static int
s_collect(const store_event_t *ev, void *ud)
{
    s_evbuf_t *b = ud;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->ev = xrealloc(b->ev, b->cap * sizeof *b->ev);
    }
    b->ev[b->n++] = *ev;
    return 0;
}

/* Whether ev was applied already by rec_engine_add_local (it then counts
 * once: the store's copy is skipped, and forgotten from the set). Under
 * store_mu. */
static bool
s_applied_locally(rec_engine_t *e, const store_event_t *ev)
{
    if (!e->local_pending || !ev->uid[0])
        return false;
    int i = rec_dict_find(e->local_uids, ev->uid);
    if (i < 0 || e->local_seen[i])
        return false;
    e->local_seen[i] = 1;
    if (--e->local_pending == 0) {
        /* start afresh: the set only ever holds an outage's events */
        rec_dict_destroy(&e->local_uids);
        free(e->local_seen);
        e->local_seen = NULL;
        e->local_cap = 0;
    }
    return true;
}

/* Reads the store's events newer than the last seen into b (under store_mu).
 * check: ask for the largest id first (a cheap "anything new?"). */
static int
s_fetch(rec_engine_t *e, bool check, s_evbuf_t *b)
{
    int64_t last = 0;
    int rc = check ? store_last_event_id(e->store, &last) : 0;
    if (rc == 0 && (!check || last > e->last_event_id)) {
        rc = store_event_foreach(e->store, e->last_event_id, s_collect, b) < 0 ? -1 : 0;
        if (rc == 0 && b->n)
            e->last_event_id = b->ev[b->n - 1].id;
    }
    return rc;
}

/* Applies the store's events newer than the last seen. A lost database
 * server is connected again once. *applied (may be NULL) gets how many
 * events were new. Returns 0 / -1. */
static int
s_sync_n(rec_engine_t *e, bool check, long *applied, char *err, size_t errlen)
{
    if (applied)
        *applied = 0;
    if (!e->store)
        return 0;
    s_evbuf_t b = { 0 };
    pthread_mutex_lock(&e->store_mu);
    int rc = s_fetch(e, check, &b);
    if (rc != 0 && store_unavailable(e->store) && store_reconnect(e->store) == 0) {
        b.n = 0;
        rc = s_fetch(e, check, &b);
    }
    if (rc != 0)
        snprintf(err, errlen, "store: %s", store_errmsg(e->store));
    size_t kept = 0;
    for (size_t k = 0; k < b.n; k++)
        if (!s_applied_locally(e, &b.ev[k]))
            b.ev[kept++] = b.ev[k];
    b.n = kept;
    pthread_mutex_unlock(&e->store_mu);
    if (b.n) {
        pthread_rwlock_wrlock(&e->lock);
        for (size_t k = 0; k < b.n; k++)
            s_add_event(e, b.ev[k].customer, b.ev[k].item, b.ev[k].time, b.ev[k].type);
        pthread_rwlock_unlock(&e->lock);
    }
    if (applied)
        *applied = (long) b.n;
    free(b.ev);
    return rc;
}

static int
s_sync(rec_engine_t *e, char *err, size_t errlen)
{
    return s_sync_n(e, true, NULL, err, errlen);
}

int
rec_engine_sync(rec_engine_t *e, long *applied, char *err, size_t errlen)
{
    return s_sync_n(e, false, applied, err, errlen);
}

void
rec_engine_set_manual_sync(rec_engine_t *e, bool manual)
{
    pthread_mutex_lock(&e->store_mu);
    e->manual_sync = manual;
    pthread_mutex_unlock(&e->store_mu);
}

int
rec_engine_add_local(rec_engine_t *e, const store_event_t *ev, char *err, size_t errlen)
{
    if (!ev->uid[0]) {
        snprintf(err, errlen, "event: a local event needs its uid");
        return -1;
    }
    if (rec_engine_add_event(e, ev->customer, ev->item, ev->time, ev->type, ev->quantity, false,
                             err, errlen) != 0)
        return -1;
    pthread_mutex_lock(&e->store_mu);
    if (!e->local_uids)
        e->local_uids = rec_dict_new();
    int n0 = rec_dict_size(e->local_uids);
    int i = rec_dict_add(e->local_uids, ev->uid);
    if (i == n0) {
        if (i >= e->local_cap) {
            e->local_cap = e->local_cap ? 2 * e->local_cap : 64;
            e->local_seen = xrealloc(e->local_seen, (size_t) e->local_cap);
        }
        e->local_seen[i] = 0;
        e->local_pending++;
    }
    pthread_mutex_unlock(&e->store_mu);
    return 0;
}

/* --- life cycle ------------------------------------------------------------ */

int
rec_engine_refresh_catalogue(rec_engine_t *e, char *err, size_t errlen)
{
    if (!e->store)
        return 0;
    store_item_t *items = NULL;
    size_t n = 0;
    pthread_mutex_lock(&e->store_mu);
    int rc = store_item_list(e->store, NULL, 0, 0, &items, &n);
    if (rc != 0)
        snprintf(err, errlen, "store: %s", store_errmsg(e->store));
    pthread_mutex_unlock(&e->store_mu);
    if (rc != 0)
        return -1;
    pthread_rwlock_wrlock(&e->lock);
    for (size_t k = 0; k < n; k++)
        s_set_item(e, items[k].id, items[k].name, items[k].category, items[k].price,
                   items[k].in_stock);
    pthread_rwlock_unlock(&e->lock);
    free(items);
    return 0;
}

rec_engine_t *
rec_engine_new(store_t **s_p, char *err, size_t errlen)
{
    rec_engine_t *e = xcalloc(1, sizeof *e);
    pthread_rwlock_init(&e->lock, NULL);
    pthread_mutex_init(&e->store_mu, NULL);
    pthread_mutex_init(&e->reload_mu, NULL);
    for (int i = 0; i < PCACHE_STRIPES; i++)
        pthread_mutex_init(&e->pcache_mu[i], NULL);
    e->items = rec_dict_new();
    e->cats = rec_dict_new();
    e->custs = rec_dict_new();
    rec_dict_add(e->cats, "");
    if (s_p && *s_p) {
        e->store = *s_p;
        *s_p = NULL;
        if (rec_engine_refresh_catalogue(e, err, errlen) != 0 || s_sync(e, err, errlen) != 0) {
            rec_engine_destroy(&e);
            return NULL;
        }
    }
    return e;
}

void
rec_engine_destroy(rec_engine_t **e_p)
{
    if (!e_p || !*e_p)
        return;
    rec_engine_t *e = *e_p;
    char err[256];
    rec_engine_reload_wait(e, err, sizeof err);
    for (int i = 0; i < rec_dict_size(e->items); i++)
        free(e->it[i].name);
    free(e->it);
    for (int c = 0; c < rec_dict_size(e->custs); c++) {
        free(e->hist[c].ev);
        free(e->pcache[c].scores);
    }
    free(e->hist);
    free(e->pcache);
    for (int i = 0; i < PCACHE_STRIPES; i++)
        pthread_mutex_destroy(&e->pcache_mu[i]);
    rec_dict_destroy(&e->items);
    rec_dict_destroy(&e->cats);
    rec_dict_destroy(&e->custs);
    rec_model_destroy(&e->model);
    free(e->m2e);
    store_close(&e->store);
    rec_dict_destroy(&e->local_uids);
    free(e->local_seen);
    pthread_rwlock_destroy(&e->lock);
    pthread_mutex_destroy(&e->store_mu);
    pthread_mutex_destroy(&e->reload_mu);
    free(e);
    *e_p = NULL;
}

void
rec_engine_set_item(rec_engine_t *e, const char *id, const char *name, const char *category,
                    double price, bool in_stock)
{
    pthread_rwlock_wrlock(&e->lock);
    s_set_item(e, id, name, category, price, in_stock);
    pthread_rwlock_unlock(&e->lock);
}

void
rec_engine_set_model(rec_engine_t *e, rec_model_t **m_p)
{
    rec_model_t *m = *m_p;
    *m_p = NULL;
    int n = rec_model_n_items(m);
    int32_t *m2e = xmallocarray((size_t) n, sizeof *m2e);
    pthread_rwlock_wrlock(&e->lock);
    for (int i = 0; i < n; i++)
        m2e[i] = s_item(e, rec_model_item_id(m, i));
    for (int i = 0; i < rec_dict_size(e->items); i++)
        e->it[i].model_idx = rec_model_item_index(m, rec_dict_str(e->items, i));
    rec_model_t *old = e->model;
    int32_t *old_map = e->m2e;
    e->model = m;
    e->m2e = m2e;
    e->generation++;
    for (int i = 0; i < rec_dict_size(e->items); i++)
        s_update_base(e, i);
    /* cached scores belong to the old model's item space */
    for (int c = 0; c < rec_dict_size(e->custs); c++) {
        free(e->pcache[c].scores);
        e->pcache[c].scores = NULL;
    }
    atomic_store(&e->pcache_bytes, 0);
    pthread_rwlock_unlock(&e->lock);
    /* no reader can hold the old model now: the write lock waited for them */
    rec_model_destroy(&old);
    free(old_map);
}

static void *
s_reload_main(void *arg)
{
    rec_engine_t *e = arg;
    char err[256] = "";
    rec_model_t *m = rec_model_load(e->reload_path, err, sizeof err);
    if (m) {
        rec_engine_set_model(e, &m);
        log_info("recommend: model %s swapped in", e->reload_path);
    } else {
        log_warn("recommend: reload of %s failed: %s (the old model stays)", e->reload_path, err);
    }
    pthread_mutex_lock(&e->reload_mu);
    e->reload_rc = m || !err[0] ? 0 : -1;
    shop_strlcpy(e->reload_err, err, sizeof e->reload_err);
    e->reload_done = true;
    pthread_mutex_unlock(&e->reload_mu);
    return NULL;
}

int
rec_engine_reload(rec_engine_t *e, const char *path, char *err, size_t errlen)
{
    pthread_mutex_lock(&e->reload_mu);
    if (e->reload_started) {
        /* a finished reload is joined here; a running one refuses */
        if (!e->reload_done) {
            pthread_mutex_unlock(&e->reload_mu);
            snprintf(err, errlen, "a reload is already running");
            return -1;
        }
        pthread_join(e->reload_th, NULL);
        e->reload_started = false;
    }
    shop_strlcpy(e->reload_path, path, sizeof e->reload_path);
    e->reload_rc = 0;
    e->reload_done = false;
    e->reload_err[0] = '\0';
    int rc = pthread_create(&e->reload_th, NULL, s_reload_main, e);
    e->reload_started = rc == 0;
    pthread_mutex_unlock(&e->reload_mu);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the reload thread");
        return -1;
    }
    return 0;
}

int
rec_engine_reload_wait(rec_engine_t *e, char *err, size_t errlen)
{
    pthread_mutex_lock(&e->reload_mu);
    bool started = e->reload_started;
    pthread_t th = e->reload_th;
    e->reload_started = false;
    pthread_mutex_unlock(&e->reload_mu);
    if (!started)
        return 0;
    pthread_join(th, NULL);
    pthread_mutex_lock(&e->reload_mu);
    int rc = e->reload_rc;
    if (rc != 0)
        snprintf(err, errlen, "%s", e->reload_err);
    pthread_mutex_unlock(&e->reload_mu);
    return rc;
}

int
rec_engine_generation(rec_engine_t *e)
{
    pthread_rwlock_rdlock(&e->lock);
    int g = e->generation;
    pthread_rwlock_unlock(&e->lock);
    return g;
}

int
rec_engine_forget(rec_engine_t *e, const char *customer, long *events)
{
    if (events)
        *events = 0;
    pthread_rwlock_wrlock(&e->lock);
    int c = customer && customer[0] ? rec_dict_find(e->custs, customer) : -1;
    s_hist_t *h = c >= 0 && c < e->hist_cap ? &e->hist[c] : NULL;
    int found = h && h->n > 0;
    if (h) {
        for (int k = 0; k < h->n; k++)
            if (h->ev[k].type == STORE_EVENT_PURCHASE) {
                e->it[h->ev[k].item].pop -= 1;
                s_update_base(e, h->ev[k].item);
            }
        e->n_events -= h->n;
        if (events)
            *events = h->n;
        free(h->ev);
        memset(h, 0, sizeof *h);
        free(e->pcache[c].scores);
        memset(&e->pcache[c], 0, sizeof e->pcache[c]);
    }
    pthread_rwlock_unlock(&e->lock);
    return found;
}

int
rec_engine_add_event(rec_engine_t *e, const char *customer, const char *item, int64_t time,
                     store_event_type_t type, int quantity, bool to_store, char *err,
                     size_t errlen)
{
    if (!customer || !customer[0] || !item || !item[0] || strlen(customer) >= STORE_ID_MAX
        || strlen(item) >= STORE_ID_MAX) {
        snprintf(err, errlen, "event: customer and item must be 1..%d bytes", STORE_ID_MAX - 1);
        return -1;
    }
    if ((int) type < 0 || type > STORE_EVENT_PURCHASE || quantity < 1) {
        snprintf(err, errlen, "event: bad type or quantity");
        return -1;
    }
    if (to_store && e->store) {
        /* the store is the one path into memory: the sync below applies it */
        store_event_t ev = { .time = time, .type = type, .quantity = quantity };
        shop_strlcpy(ev.customer, customer, sizeof ev.customer);
        shop_strlcpy(ev.item, item, sizeof ev.item);
        shop_strlcpy(ev.source, "recommend", sizeof ev.source);
        pthread_mutex_lock(&e->store_mu);
        int rc = store_add_event(e->store, &ev);
        if (rc != 0)
            snprintf(err, errlen, "store: %s", store_errmsg(e->store));
        pthread_mutex_unlock(&e->store_mu);
        return rc != 0 ? -1 : s_sync(e, err, errlen);
    }
    pthread_rwlock_wrlock(&e->lock);
    s_add_event(e, customer, item, time, type);
    pthread_rwlock_unlock(&e->lock);
    return 0;
}

/* --- queries (read lock held) -------------------------------------------- */

static rec_kind_t
s_personal_kind(const rec_model_t *m)
{
    if (rec_model_has(m, REC_BLEND))
        return REC_BLEND;
    if (rec_model_has(m, REC_EASE))
        return REC_EASE;
    return REC_KNN;
}

static void
s_reason_pop(const rec_engine_t *e, int i, char *buf, size_t len)
{
    const char *cat = rec_dict_str(e->cats, e->it[i].category);
    if (cat && cat[0])
        snprintf(buf, len, "popular in %s", cat);
    else
        snprintf(buf, len, "popular now");
}

int
rec_engine_query(rec_engine_t *e, const rec_query_t *q, rec_result_t *out, char *err,
                 size_t errlen)
{
    if ((int) q->kind < 0 || q->kind >= REC_Q_N) {
        snprintf(err, errlen, "unknown query kind");
        return -1;
    }
    if (q->k < 1 || q->k > REC_MAX_K) {
        snprintf(err, errlen, "k must be 1..%d", REC_MAX_K);
        return -1;
    }
    if (q->n_cart < 0 || q->n_cart > REC_MAX_SEEDS) {
        snprintf(err, errlen, "at most %d cart items", REC_MAX_SEEDS);
        return -1;
    }
    pthread_mutex_lock(&e->store_mu);
    bool manual = e->manual_sync;
    pthread_mutex_unlock(&e->store_mu);
    if (!manual && s_sync(e, err, errlen) != 0)
        return -1;
    int64_t now = q->now ? q->now : (int64_t) time(NULL);
    pthread_rwlock_rdlock(&e->lock);
    const rec_model_t *m = e->model;
    int ne = rec_dict_size(e->items), nm = m ? rec_model_n_items(m) : 0;
    int c = q->customer && q->customer[0] ? rec_dict_find(e->custs, q->customer) : -1;
    const s_hist_t *h = c >= 0 ? &e->hist[c] : NULL;
    s_tls_t *t = s_tls(ne + 1, nm + 1, (h ? h->n : 0) + 1);
    float *es = t->es;
    int32_t *best = t->best;
    int cat = -1;
    if (q->category && q->category[0]) {
        cat = rec_dict_find(e->cats, q->category);
        if (cat < 0) {
            pthread_rwlock_unlock(&e->lock);
            snprintf(err, errlen, "no category \"%s\" in the catalogue", q->category);
            return -1;
        }
    } else if (q->kind == REC_Q_CATEGORY) {
        pthread_rwlock_unlock(&e->lock);
        snprintf(err, errlen, "a category query needs a category");
        return -1;
    }
    /* seeds: the item, then the cart */
    int32_t seeds[REC_MAX_SEEDS + 1];
    int nseeds = 0;
    if (q->item && q->item[0]) {
        int s = rec_dict_find(e->items, q->item);
        if (s < 0 && (q->kind == REC_Q_SIMILAR || q->kind == REC_Q_TOGETHER) && !q->n_cart) {
            pthread_rwlock_unlock(&e->lock);
            snprintf(err, errlen, "unknown item \"%s\"", q->item);
            return -1;
        }
        if (s >= 0)
            seeds[nseeds++] = s;
    }
    for (int k = 0; k < q->n_cart; k++) {
        int s = q->cart[k] ? rec_dict_find(e->items, q->cart[k]) : -1;
        if (s >= 0)
            seeds[nseeds++] = s;
    }
    if ((q->kind == REC_Q_SIMILAR || q->kind == REC_Q_TOGETHER) && nseeds == 0) {
        pthread_rwlock_unlock(&e->lock);
        snprintf(err, errlen, "a %s query needs a known item or cart", rec_qkind_name(q->kind));
        return -1;
    }
    /* filters first (-INFINITY: never answered; later sums keep it), the rest
     * starts from popularity, so every answer is full even when cold */
    for (int i = 0; i < ne; i++) {
        const s_item_t *it = &e->it[i];
        bool refused = !it->described || (cat >= 0 && it->category != cat)
                       || (!q->include_out_of_stock && !it->in_stock)
                       || it->price < q->min_price || (q->max_price > 0 && it->price > q->max_price);
        es[i] = refused ? -INFINITY : it->base;
        best[i] = -1;
    }
    enum { R_POP, R_PERSONAL, R_SIMILAR, R_TOGETHER } rmode = R_POP;
    if ((q->kind == REC_Q_PERSONAL || q->kind == REC_Q_CATEGORY) && h && h->n > 0 && m) {
        s_pcache_t *pc = &e->pcache[c];
        pthread_mutex_t *mu = &e->pcache_mu[c % PCACHE_STRIPES];
        pthread_mutex_lock(mu);
        if (pc->scores && pc->generation == e->generation && pc->hist_len == h->n
            && llabs(pc->now - now) < PCACHE_MAX_AGE) {
            for (int i = 0; i < nm; i++)   /* straight from the cache: no copy */
                es[e->m2e[i]] += pc->scores[i];
            rmode = R_PERSONAL;
        }
        pthread_mutex_unlock(mu);
        int hn = 0;
        for (int k = 0; rmode != R_PERSONAL && k < h->n; k++) {
            int mi = e->it[h->ev[k].item].model_idx;
            if (mi >= 0)
                t->mh[hn++] = (rec_hist_ev_t) { mi, h->ev[k].time, h->ev[k].w };
        }
        rec_hist_t mh = { t->mh, hn };
        if (hn > 0 && rec_model_score(m, s_personal_kind(m), &mh, now, t->ms, t->ws) == 0) {
            pthread_mutex_lock(mu);
            if (!pc->scores
                && atomic_fetch_add(&e->pcache_bytes, (size_t) nm * 4) <= PCACHE_MAX_BYTES)
                pc->scores = xmallocarray((size_t) nm, sizeof *pc->scores);
            if (pc->scores) {
                memcpy(pc->scores, t->ms, (size_t) nm * sizeof *t->ms);
                pc->generation = e->generation;
                pc->hist_len = h->n;
                pc->now = now;
            }
            pthread_mutex_unlock(mu);
            for (int i = 0; i < nm; i++)
                es[e->m2e[i]] += t->ms[i];
            rmode = R_PERSONAL;
        }
    } else if (q->kind == REC_Q_SIMILAR || q->kind == REC_Q_TOGETHER) {
        bool tog = q->kind == REC_Q_TOGETHER;
        rmode = tog ? R_TOGETHER : R_SIMILAR;
        for (int k = 0; k < nseeds; k++) {
            int s = seeds[k], mi = e->it[s].model_idx;
            const int32_t *nb;
            const float *sim;
            int nn = m && mi >= 0 ? rec_model_neighbours(m, mi, tog, &nb, &sim) : 0;
            for (int j = 0; j < nn; j++) {
                int x = e->m2e[nb[j]];
                es[x] += sim[j];
                if (best[x] < 0 || sim[j] > 0.5f * es[x])
                    best[x] = s;
            }
            if (!tog) {
                /* "more like this" is the same kind of product first (a cold
                 * item gets neighbours too), nearer in price and taste next */
                for (int i = 0; i < ne; i++) {
                    if (e->it[i].category != e->it[s].category || i == s)
                        continue;
                    double p0 = e->it[s].price, p1 = e->it[i].price;
                    double close = 1.0 / (1.0 + fabs(p1 - p0) / (p0 > 0 ? p0 : 1));
                    es[i] += 0.5f + 0.3f * (float) close;
                    if (best[i] < 0)
                        best[i] = s;
                }
            }
        }
    }
    for (int k = 0; k < nseeds; k++)
        es[seeds[k]] = -INFINITY;
    if (q->exclude_bought && h)
        for (int k = 0; k < h->n; k++)
            if (h->ev[k].type == STORE_EVENT_PURCHASE)
                es[h->ev[k].item] = -INFINITY;
    int n = rec_topk(es, ne, q->k, t->top);
    /* reasons look at the history's distinct items once, not per result */
    int nd = 0;
    if (rmode == R_PERSONAL) {
        if (++t->stamp == 0) {
            memset(t->seen, 0, (size_t) t->cap_e * sizeof *t->seen);
            t->stamp = 1;
        }
        for (int k = 0; k < h->n; k++) {
            int j = h->ev[k].item;
            if (t->seen[j] != t->stamp) {
                t->seen[j] = t->stamp;
                t->bought[j] = 0;
                t->hd[nd++] = j;
            }
            t->bought[j] |= h->ev[k].type == STORE_EVENT_PURCHASE;
        }
    }
    for (int r = 0; r < n; r++) {
        int i = t->top[r];
        const s_item_t *it = &e->it[i];
        rec_result_t *o = &out[r];
        shop_strlcpy(o->item, rec_dict_str(e->items, i), sizeof o->item);
        shop_strlcpy(o->name, it->name, sizeof o->name);
        shop_strlcpy(o->category, rec_dict_str(e->cats, it->category), sizeof o->category);
        o->price = it->price;
        o->score = es[i];
        s_reason_pop(e, i, o->reason, sizeof o->reason);
        if (rmode == R_PERSONAL) {
            if (t->seen[i] == t->stamp && t->bought[i]) {
                snprintf(o->reason, sizeof o->reason, "you bought this before");
                continue;
            }
            /* the history item that supports it most */
            float bw = 0;
            int bj = -1;
            for (int k = 0; k < nd && it->model_idx >= 0; k++) {
                int mj = e->it[t->hd[k]].model_idx;
                float w = 0;
                if (mj < 0)
                    continue;
                if (rec_model_has(m, REC_EASE)) {
                    w = rec_model_ease_weight(m, mj, it->model_idx);
                } else {
                    const int32_t *nb;
                    const float *sim;
                    int nn = rec_model_neighbours(m, mj, false, &nb, &sim);
                    for (int j = 0; j < nn; j++)
                        if (nb[j] == it->model_idx)
                            w = sim[j];
                }
                if (w > bw) {
                    bw = w;
                    bj = t->hd[k];
                }
            }
            if (bj >= 0)
                snprintf(o->reason, sizeof o->reason, "because you bought %s", e->it[bj].name);
        } else if ((rmode == R_SIMILAR || rmode == R_TOGETHER) && best[i] >= 0) {
            snprintf(o->reason, sizeof o->reason,
                     rmode == R_TOGETHER ? "often bought with %s" : "similar to %s",
                     e->it[best[i]].name);
        }
    }
    pthread_rwlock_unlock(&e->lock);
    return n;
}

void
rec_engine_stats(rec_engine_t *e, rec_engine_stats_t *st)
{
    memset(st, 0, sizeof *st);
    pthread_rwlock_rdlock(&e->lock);
    st->items = rec_dict_size(e->items);
    for (int i = 0; i < st->items; i++)
        st->items_in_model += e->it[i].model_idx >= 0;
    st->customers = rec_dict_size(e->custs);
    st->events = e->n_events;
    st->generation = e->generation;
    if (e->model)
        shop_strlcpy(st->model, rec_kind_name(s_personal_kind(e->model)), sizeof st->model);
    pthread_rwlock_unlock(&e->lock);
}
