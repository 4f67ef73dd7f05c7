/* daemon/storelink.c: see storelink.h */
#include "config.h"

#include "daemon/storelink.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/session.h"
#include "ipc/proto.h"
#include "recommend/outbox.h"

#define S_BACKOFF_MIN_NS 100000000ull   /* the first retry after 0.1 s */
#define S_BACKOFF_MAX_NS 5000000000ull  /* at most 5 s apart */
#define S_HOLD_NS 1000000000ull         /* after a failure of the outbox file itself */

typedef char s_session_id_t[PROTO_SESSION_MAX + 1];

struct _storelink_t {
    store_t *store;               /* the server's store: borrowed; or NULL until the
                                     thread of a link started offline opens it */
    bool owns_store;              /* it did: the link closes it */
    char *where;                  /* started offline: the location to open */
    bool shared;                  /* PostgreSQL: the rest below is used */
    bool up;                      /* requests reach the server */
    store_t *offline;             /* the offline copy (SQLite, in the outbox file) */
    outbox_t *outbox;             /* events waiting for the server */
    uint64_t since_ns;            /* when up last changed */
    int64_t down_wall;            /* Unix time it went down (contexts saved since are merged) */
    /* the reconnecting thread: it alone touches store while down, so a try
     * that waits for a silent server never holds up the main loop */
    pthread_t th;
    bool th_running;              /* started, not joined yet */
    pthread_mutex_t mu;           /* guards the three below */
    pthread_cond_t cv;            /* wakes the thread to stop */
    bool th_stop;                 /* asked to give up */
    bool th_connected;            /* it connected: the main loop takes over */
    unsigned attempts;            /* failed tries in this outage */
    int efd;                      /* eventfd: readable once it connected */
    long reconnects;              /* outages that ended */
    bool catalogue_due;           /* copy the catalogue into the offline copy */
    bool news;                    /* the store holds events the caller was not told of */
    bool one_by_one;              /* a batch was refused: find the refused event */
    int64_t forwarded;            /* events forwarded since the outbox last emptied */
    int64_t refused;              /* events the server refused (logged, dropped) */
    uint64_t hold_until_ns;       /* the outbox file failed: no forwarding before then */
    s_session_id_t *touched;      /* sessions used while down (also in the outbox file) */
    size_t ntouched, cap_touched;
};

/* --- state changes ----------------------------------------------------------- */

static uint64_t
s_jitter(uint64_t ns)
{
    uint16_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t) sizeof r)
        r = 32768;
    /* 0.8 .. 1.2 times ns: devices that lost the server together do not
     * knock on it together */
    return ns / 10 * 8 + ns / 10 * 4 * r / 65535;
}

/* The reconnecting thread: tries after 0.1 s, then doubles the wait up to
 * 5 s (each +-20 %), until it connects or is asked to stop. */
static void *
s_reconnect_main(void *arg)
{
    storelink_t *self = arg;
    uint64_t backoff = S_BACKOFF_MIN_NS;
    pthread_mutex_lock(&self->mu);
    while (!self->th_stop) {
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        uint64_t ns = (uint64_t) at.tv_nsec + s_jitter(backoff);
        at.tv_sec += (time_t) (ns / 1000000000u);
        at.tv_nsec = (long) (ns % 1000000000u);
        while (!self->th_stop && pthread_cond_timedwait(&self->cv, &self->mu, &at) != ETIMEDOUT)
            ;
        if (self->th_stop)
            break;
        pthread_mutex_unlock(&self->mu);
        int rc;
        if (self->where) {
            /* started offline: no connection yet (the main loop never reads
             * self->store while down) */
            store_t *st = store_open(self->where, NULL);
            rc = st && store_listen(st) == 0 ? 0 : -1;
            if (rc == 0) {
                self->store = st;
                self->owns_store = true;
                free(self->where);
                self->where = NULL;
            } else {
                store_close(&st);
            }
        } else {
            rc = store_reconnect(self->store);
        }
        pthread_mutex_lock(&self->mu);
        if (rc == 0) {
            self->th_connected = true;
            uint64_t one = 1;
            if (write(self->efd, &one, sizeof one) != (ssize_t) sizeof one)
                log_err("store: eventfd: %s", strerror(errno));
            break;
        }
        self->attempts++;
        backoff = SHOP_MIN(backoff * 2, S_BACKOFF_MAX_NS);
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

/* Stops the reconnecting thread (a try in progress ends first: at most the
 * store's connect timeout) and joins it. */
static void
s_join(storelink_t *self)
{
    if (!self->th_running)
        return;
    pthread_mutex_lock(&self->mu);
    self->th_stop = true;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    pthread_join(self->th, NULL);
    self->th_running = false;
    uint64_t v;
    while (read(self->efd, &v, sizeof v) == (ssize_t) sizeof v)
        ;
}

static void
s_start_thread(storelink_t *self)
{
    self->th_stop = self->th_connected = false;
    self->attempts = 0;
    if (pthread_create(&self->th, NULL, s_reconnect_main, self) != 0) {
        log_err("store: cannot start the reconnecting thread: the device stays offline");
        return;
    }
    self->th_running = true;
}

static void
s_down(storelink_t *self, uint64_t now)
{
    self->up = false;
    self->since_ns = now;
    self->down_wall = (int64_t) time(NULL);
    log_warn("store: the database server %s is unreachable (%s): answering from memory and "
             "the offline copy, events go to the outbox %s (%lld waiting)",
             store_path(self->store), store_errmsg(self->store), outbox_path(self->outbox),
             (long long) outbox_depth(self->outbox));
    s_start_thread(self);
}

/* Copies the server's catalogue into the offline copy, in one transaction. */
static void
s_copy_catalogue(storelink_t *self)
{
    store_item_t *items = NULL;
    size_t n = 0;
    /* once per connection, whatever happens: a failure is logged, not retried */
    self->catalogue_due = false;
    if (store_item_list(self->store, NULL, 0, 0, &items, &n) != 0) {
        if (!store_unavailable(self->store))
            log_warn("store: reading the catalogue for the offline copy: %s",
                     store_errmsg(self->store));
        free(items);
        return;
    }
    int rc = store_begin(self->offline);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = store_item_upsert(self->offline, &items[i]);
    if (rc == 0)
        rc = store_commit(self->offline);
    else
        store_rollback(self->offline);
    free(items);
    if (rc != 0) {
        log_warn("store: the offline copy of the catalogue: %s", store_errmsg(self->offline));
        return;
    }
    log_debug("store: %zu catalogue items copied to the offline copy", n);
}

/* The thread connected: the main loop takes the store back. */
static void
s_up_again(storelink_t *self, uint64_t now)
{
    s_join(self);
    self->up = true;
    self->reconnects++;
    self->catalogue_due = true;
    self->news = true; /* what other devices committed meanwhile */
    self->one_by_one = false;
    log_notice("store: connected to %s again after %.1f s (%u attempt%s failed): %lld events "
               "to forward, %zu sessions to merge", store_path(self->store),
               (now - self->since_ns) / 1e9, self->attempts, self->attempts == 1 ? "" : "s",
               (long long) outbox_depth(self->outbox), self->ntouched);
    self->since_ns = now;
}

/* --- forwarding ---------------------------------------------------------------- */

/* Forwards the oldest events of the outbox in one transaction, then deletes
 * them from the outbox (only after the server committed: an event sent
 * again after a crash in between is stored once, by its uid). */
static void
s_forward(storelink_t *self, uint64_t now)
{
    outbox_entry_t *e = NULL;
    size_t n = 0;
    if (outbox_peek(self->outbox, self->one_by_one ? 1 : STORELINK_BATCH, &e, &n) != 0) {
        log_err("store: reading the outbox: %s (again in %.0f s)", outbox_errmsg(self->outbox),
                S_HOLD_NS / 1e9);
        self->hold_until_ns = now + S_HOLD_NS;
        return;
    }
    if (n == 0)
        return;
    int rc = store_begin(self->store);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = store_add_event(self->store, &e[i].ev) < 0 ? -1 : 0;
    }
    if (rc == 0)
        rc = store_commit(self->store);
    if (rc != 0) {
        char why[512];
        shop_strlcpy(why, store_errmsg(self->store), sizeof why);
        bool lost = store_unavailable(self->store);
        if (!lost)
            store_rollback(self->store);
        if (lost) {
            s_down(self, now);
        } else if (self->one_by_one) {
            /* the server refuses this event for itself: keeping it would
             * hold every later one back forever */
            log_err("store: the server refused the queued event %s (item %s, customer %s): "
                    "%s; it is dropped from the outbox", e[0].ev.uid, e[0].ev.item,
                    e[0].ev.customer, why);
            if (outbox_remove(self->outbox, e[0].seq) == 0)
                self->refused++;
            self->one_by_one = false;
        } else {
            log_warn("store: forwarding %zu queued events: %s; trying them one by one", n, why);
            self->one_by_one = true;
        }
        free(e);
        return;
    }
    self->one_by_one = false;
    if (outbox_remove(self->outbox, e[n - 1].seq) != 0) {
        log_err("store: %s (the events are in the server; sent again, they are stored once)",
                outbox_errmsg(self->outbox));
        self->hold_until_ns = now + S_HOLD_NS;
    }
    self->forwarded += (int64_t) n;
    self->news = true;
    if (outbox_depth(self->outbox) == 0) {
        log_notice("store: the outbox is empty: %lld events forwarded to %s",
                   (long long) self->forwarded, store_path(self->store));
        self->forwarded = 0;
    }
    free(e);
}

/* Merges one session used during the outage into the server, in one
 * transaction (a loss half-way adds nothing twice when it runs again): its
 * context when saved during the outage, and its cart lines, added to the
 * server's cart of the session. Returns 0, or -1 when the server was lost. */
static int
s_merge_session(storelink_t *self, const char *id)
{
    session_t s, on_server;
    if (session_load(self->store, id, &on_server) != 0)
        goto fail;
    if (session_load(self->offline, id, &s) != 0)
        s = on_server;
    /* the offline copy knows no owners: a session a CURVE key owns on the
     * server takes nothing from another key's use of it during the outage */
    if (on_server.owner[0] && strcmp(on_server.owner, s.owner) != 0) {
        log_warn("store: session %s is owned by another key on the server: what was done "
                 "in it during the outage is not merged", id);
        store_cart_clear(self->offline, id);
        return 0;
    }
    store_cart_line_t *lines = NULL;
    size_t n = 0;
    char customer[STORE_ID_MAX] = "";
    if (store_cart_get(self->offline, id, &lines, &n) != 0
        || store_cart_customer(self->offline, id, customer, sizeof customer) != 0) {
        log_warn("store: the offline cart of session %s: %s", id, store_errmsg(self->offline));
        free(lines);
        n = 0;
        lines = NULL;
    }
    int rc = store_begin(self->store);
    if (rc == 0 && s.touched >= self->down_wall)
        rc = session_save(self->store, &s);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = store_cart_add(self->store, id, customer[0] ? customer : NULL, lines[i].item,
                            lines[i].quantity, NULL);
    free(lines);
    if (rc == 0)
        rc = store_commit(self->store);
    if (rc != 0) {
        if (!store_unavailable(self->store))
            store_rollback(self->store);
        goto fail;
    }
    store_cart_clear(self->offline, id);
    session_t empty = { 0 };
    shop_strlcpy(empty.id, id, sizeof empty.id);
    session_save(self->offline, &empty);
    log_info("store: session %s merged into the server (%zu cart line%s)", id, n,
             n == 1 ? "" : "s");
    return 0;
fail:
    if (store_unavailable(self->store))
        return -1;
    log_warn("store: merging session %s into the server: %s", id, store_errmsg(self->store));
    return 0;
}

static void
s_merge(storelink_t *self, uint64_t now)
{
    while (self->ntouched) {
        const char *id = self->touched[self->ntouched - 1];
        if (s_merge_session(self, id) != 0) {
            s_down(self, now);
            return;
        }
        if (outbox_session_remove(self->outbox, id) != 0)
            log_warn("store: %s", outbox_errmsg(self->outbox));
        self->ntouched--;
    }
}

/* Adds session to the sessions to merge; false when it was there already. */
static bool
s_remember(storelink_t *self, const char *session)
{
    for (size_t i = 0; i < self->ntouched; i++)
        if (strcmp(self->touched[i], session) == 0)
            return false;
    if (self->ntouched == self->cap_touched) {
        self->cap_touched = self->cap_touched ? 2 * self->cap_touched : 16;
        self->touched = xrealloc(self->touched, self->cap_touched * sizeof *self->touched);
    }
    shop_strlcpy(self->touched[self->ntouched++], session, sizeof *self->touched);
    return true;
}

/* --- the API ------------------------------------------------------------------------ */

/* The link's own parts: the lock, the eventfd; on a shared store the
 * offline copy and the outbox at outbox_path. Returns it, or NULL with err. */
static storelink_t *
s_new(store_t *store, bool shared, const char *outbox_path, char *err, size_t errlen)
{
    storelink_t *self = xcalloc(1, sizeof *self);
    self->store = store;
    self->up = true;
    self->since_ns = shop_now_ns();
    /* sessions left by an earlier run: their carts are merged, not their
     * contexts (when they were saved is not known) */
    self->down_wall = INT64_MAX;
    self->efd = -1;
    pthread_mutex_init(&self->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cv, &ca);
    pthread_condattr_destroy(&ca);
    self->shared = shared;
    if (!self->shared)
        return self;
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto err;
    }
    char *serr = NULL;
    self->offline = store_open(outbox_path, &serr);
    if (!self->offline || store_readonly(self->offline)) {
        snprintf(err, errlen, "the outbox %s: %s", outbox_path,
                 serr ? serr : "read-only: the device could not queue events");
        free(serr);
        goto err;
    }
    self->outbox = outbox_open(outbox_path, &serr);
    if (!self->outbox) {
        snprintf(err, errlen, "%s", serr);
        free(serr);
        goto err;
    }
    /* sessions used offline before a restart: merged when the server answers */
    char **ids = NULL;
    size_t n = 0;
    if (outbox_session_list(self->outbox, &ids, &n) != 0)
        log_warn("store: %s", outbox_errmsg(self->outbox));
    for (size_t i = 0; i < n; i++)
        s_remember(self, ids[i]);
    store_strings_free(ids, n);
    return self;
err:
    storelink_destroy(&self);
    return NULL;
}

storelink_t *
storelink_new(store_t *store, const char *outbox_path, char *err, size_t errlen)
{
    storelink_t *self = s_new(store, strcmp(store_backend(store), "postgresql") == 0,
                              outbox_path, err, errlen);
    if (!self || !self->shared)
        return self;
    if (store_listen(store) != 0) {
        snprintf(err, errlen, "LISTEN on %s: %s", store_path(store), store_errmsg(store));
        storelink_destroy(&self);
        return NULL;
    }
    s_copy_catalogue(self);
    log_info("store: %s shared with other devices; outbox %s (%lld events waiting)",
             store_path(store), outbox_path, (long long) outbox_depth(self->outbox));
    return self;
}

storelink_t *
storelink_new_offline(const char *where, const char *why, const char *outbox_path, char *err,
                      size_t errlen)
{
    storelink_t *self = s_new(NULL, true, outbox_path, err, errlen);
    if (!self)
        return NULL;
    store_counts_t c;
    if (store_counts(self->offline, &c) != 0 || c.items == 0) {
        snprintf(err, errlen, "no offline copy of the catalogue in %s yet (it is made at the "
                 "first connection)", outbox_path);
        storelink_destroy(&self);
        return NULL;
    }
    self->where = xstrdup(where);
    self->up = false;
    self->down_wall = (int64_t) time(NULL);
    log_warn("store: the database server %s cannot be reached (%s): starting offline from %s "
             "(%lld catalogue items, %lld events waiting); recommendations start when it "
             "answers", where, why, outbox_path, (long long) c.items,
             (long long) outbox_depth(self->outbox));
    s_start_thread(self);
    return self;
}

store_t *
storelink_server_store(const storelink_t *self)
{
    return self->store;
}

void
storelink_destroy(storelink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    storelink_t *self = *self_p;
    s_join(self);
    if (self->efd >= 0)
        close(self->efd);
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->cv);
    outbox_close(&self->outbox);
    store_close(&self->offline);
    if (self->owns_store)
        store_close(&self->store);
    free(self->where);
    free(self->touched);
    free(self);
    *self_p = NULL;
}

bool
storelink_shared(const storelink_t *self)
{
    return self->shared;
}

bool
storelink_up(const storelink_t *self)
{
    return self->up;
}

store_t *
storelink_store(const storelink_t *self)
{
    return self->up ? self->store : self->offline;
}

int
storelink_poll_fd(const storelink_t *self)
{
    if (!self->shared)
        return -1;
    return self->up ? store_notify_fd(self->store) : self->th_running ? self->efd : -1;
}

int
storelink_timeout_ms(const storelink_t *self, uint64_t now_ns)
{
    if (!self->shared)
        return -1;
    if (!self->up)
        return -1; /* the thread's eventfd wakes the loop */
    if (self->ntouched || self->catalogue_due)
        return 0;
    if (!outbox_depth(self->outbox))
        return -1;
    return now_ns >= self->hold_until_ns ? 0
                                         : (int) ((self->hold_until_ns - now_ns) / 1000000u) + 1;
}

bool
storelink_tick(storelink_t *self, uint64_t now_ns)
{
    if (!self->shared)
        return false;
    if (!self->up) {
        pthread_mutex_lock(&self->mu);
        bool connected = self->th_connected;
        pthread_mutex_unlock(&self->mu);
        if (!connected)
            return false;
        s_up_again(self, now_ns);
    }
    int64_t max_id = 0;
    int got = store_notifications(self->store, &max_id);
    if (got < 0 && store_unavailable(self->store)) {
        s_down(self, now_ns);
        return false;
    }
    if (got > 0)
        self->news = true;
    if (self->up && self->ntouched)
        s_merge(self, now_ns);
    if (self->up && outbox_depth(self->outbox) && now_ns >= self->hold_until_ns)
        s_forward(self, now_ns);
    if (self->up && self->catalogue_due)
        s_copy_catalogue(self);
    bool news = self->news && self->up;
    if (news)
        self->news = false;
    return news;
}

bool
storelink_check(storelink_t *self, uint64_t now_ns)
{
    if (!self->shared || !self->up || !store_unavailable(self->store))
        return false;
    s_down(self, now_ns);
    return true;
}

void
storelink_touch_session(storelink_t *self, const char *session)
{
    if (!self->shared || self->up || !session[0])
        return;
    if (s_remember(self, session) && outbox_session_add(self->outbox, session) != 0)
        log_warn("store: %s (session %s is merged only if shopd runs until the server is back)",
                 outbox_errmsg(self->outbox), session);
}

/* Queues evs[0..n) (uids made when empty) in one durable transaction. */
static int
s_queue(storelink_t *self, store_event_t *evs, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (!evs[i].uid[0] && outbox_make_uid(evs[i].uid, sizeof evs[i].uid) != 0) {
            snprintf(err, errlen, "no randomness for an event uid");
            return -1;
        }
    if (outbox_put(self->outbox, evs, n, NULL) != 0) {
        snprintf(err, errlen, "%s", outbox_errmsg(self->outbox));
        return -1;
    }
    return 0;
}

int
storelink_add_event(storelink_t *self, store_event_t *ev, bool *queued, int64_t *id,
                    char *err, size_t errlen)
{
    *queued = false;
    *id = 0;
    if (!ev->uid[0] && outbox_make_uid(ev->uid, sizeof ev->uid) != 0) {
        snprintf(err, errlen, "no randomness for an event uid");
        return -1;
    }
    if (!self->shared || (self->up && outbox_depth(self->outbox) == 0)) {
        if (store_add_event_id(self->store, ev, id) >= 0)
            return 0;
        if (!storelink_check(self, shop_now_ns())) {
            snprintf(err, errlen, "%s", store_errmsg(self->store));
            return -1;
        }
        /* lost during the call: the server may have committed it before; the
         * outbox sends it again with the same uid, stored once */
    }
    if (s_queue(self, ev, 1, err, errlen) != 0)
        return -1;
    *queued = true;
    return 0;
}

int
storelink_checkout(storelink_t *self, const char *session, const char *customer, int64_t now,
                   int *n_lines, store_event_t **evs, char *err, size_t errlen)
{
    *n_lines = 0;
    if (evs)
        *evs = NULL;
    if (self->up) {
        if (store_cart_checkout(self->store, session, customer, now, n_lines) == 0)
            return 0;
        snprintf(err, errlen, "%s", store_errmsg(self->store));
        return -1;
    }
    store_cart_line_t *lines = NULL;
    size_t n = 0;
    if (store_cart_get(self->offline, session, &lines, &n) != 0) {
        snprintf(err, errlen, "%s", store_errmsg(self->offline));
        return -1;
    }
    if (n == 0)
        return 0;
    store_event_t *q = xcalloc(n, sizeof *q);
    for (size_t i = 0; i < n; i++) {
        q[i] = (store_event_t) { .time = now, .type = STORE_EVENT_PURCHASE,
                                 .quantity = lines[i].quantity };
        shop_strlcpy(q[i].customer, customer, sizeof q[i].customer);
        shop_strlcpy(q[i].item, lines[i].item, sizeof q[i].item);
        shop_strlcpy(q[i].source, session, sizeof q[i].source);
    }
    free(lines);
    if (s_queue(self, q, n, err, errlen) != 0) {
        free(q);
        return -1;
    }
    /* queued first: a failure here leaves the lines, never loses a purchase */
    if (store_cart_clear(self->offline, session) != 0)
        log_err("store: emptying the offline cart of %s after its checkout: %s", session,
                store_errmsg(self->offline));
    *n_lines = (int) n;
    if (evs)
        *evs = q;
    else
        free(q);
    return 0;
}

json_t *
storelink_status_json(storelink_t *self)
{
    /* the store is the reconnecting thread's while down: not read here */
    json_t *o = json_pack("{s:s, s:b, s:I, s:f, s:I}", "backend",
                          self->shared ? "postgresql" : store_backend(self->store),
                          "connected", self->up, "outbox",
                          (json_int_t) (self->outbox ? outbox_depth(self->outbox) : 0),
                          "state_since_s", (shop_now_ns() - self->since_ns) / 1e9,
                          "reconnects", (json_int_t) self->reconnects);
    if (self->shared) {
        pthread_mutex_lock(&self->mu);
        unsigned attempts = self->attempts;
        pthread_mutex_unlock(&self->mu);
        if (!self->up)
            json_object_set_new(o, "reconnect_attempts", json_integer(attempts));
        json_object_set_new(o, "outbox_file", json_string(outbox_path(self->outbox)));
        json_object_set_new(o, "outbox_refused", json_integer((json_int_t) self->refused));
        json_object_set_new(o, "offline_sessions", json_integer((json_int_t) self->ntouched));
    }
    return o;
}
