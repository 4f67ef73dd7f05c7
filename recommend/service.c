/* recommend/service.c: the ZeroMQ recommendation service, broker and
 * Lazy Pirate client (see service.h). */
#include "recommend/service.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zmq.h>

#include "common/log.h"
#include "common/util.h"

#define MAX_WORKERS 64

/* --- request handling ---------------------------------------------------- */

static char *
s_dump(json_t *j)
{
    char *txt = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return txt ? txt : xstrdup("{\"ok\":false,\"error\":\"out of memory\"}");
}

static char *
s_error(json_t *id, const char *worker, const char *msg)
{
    json_t *r = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "worker", worker);
    if (id)
        json_object_set(r, "id", id);
    return s_dump(r);
}

static const char *
s_str(json_t *req, const char *key)
{
    json_t *v = json_object_get(req, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
s_parse_query(json_t *req, rec_query_t *q, const char **cart, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    const char *kind = s_str(req, "kind");
    int k = rec_qkind_from_name(kind ? kind : "personal");
    if (k < 0) {
        snprintf(err, errlen, "unknown kind (personal, similar, together, category, popular)");
        return -1;
    }
    q->kind = (rec_qkind_t) k;
    q->customer = s_str(req, "customer");
    q->item = s_str(req, "item");
    q->category = s_str(req, "category");
    json_t *v = json_object_get(req, "k");
    q->k = json_is_integer(v) ? (int) json_integer_value(v) : 10;
    if (json_is_integer(v) && (json_integer_value(v) < 1 || json_integer_value(v) > REC_MAX_K)) {
        snprintf(err, errlen, "k must be 1..%d", REC_MAX_K);
        return -1;
    }
    v = json_object_get(req, "min_price");
    q->min_price = json_is_number(v) ? json_number_value(v) : 0;
    v = json_object_get(req, "max_price");
    q->max_price = json_is_number(v) ? json_number_value(v) : 0;
    q->exclude_bought = json_is_true(json_object_get(req, "exclude_bought"));
    q->include_out_of_stock = json_is_false(json_object_get(req, "in_stock"));
    v = json_object_get(req, "now");
    q->now = json_is_integer(v) ? json_integer_value(v) : 0;
    json_t *c = json_object_get(req, "cart");
    if (c && !json_is_array(c)) {
        snprintf(err, errlen, "cart must be an array of item ids");
        return -1;
    }
    if (json_array_size(c) > REC_MAX_SEEDS) {
        snprintf(err, errlen, "at most %d cart items", REC_MAX_SEEDS);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(c); i++) {
        json_t *x = json_array_get(c, i);
        if (!json_is_string(x)) {
            snprintf(err, errlen, "cart must be an array of item ids");
            return -1;
        }
        cart[q->n_cart++] = json_string_value(x);
    }
    q->cart = cart;
    return 0;
}

/* The recommend reply is the hot path: written by hand (a third of the
 * service's CPU went to building and dumping it with jansson). */
typedef struct {
    char *p;
    size_t n, cap;
} s_out_t;

#define s_out_lit(o, lit) s_out_raw((o), (lit), sizeof(lit) - 1)

static void
s_out_raw(s_out_t *o, const char *s, size_t n)
{
    if (o->n + n + 1 > o->cap) {
        o->cap = SHOP_MAX(o->cap * 2, o->n + n + 1024);
        o->p = xrealloc(o->p, o->cap);
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
}

/* A number with `digits` significant digits (JSON has no NaN: 0). */
static void
s_out_num(s_out_t *o, double v, int digits)
{
    char num[64];
    int n = snprintf(num, sizeof num, "%.*g", digits, isfinite(v) ? v : 0.0);
    s_out_raw(o, num, (size_t) n);
}

/* Length of the valid UTF-8 sequence at s, or 0 when invalid. */
static int
s_utf8_len(const unsigned char *s)
{
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
          : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 2 && s[0] < 0xC2)
        return 0;     /* overlong */
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* A JSON string: quotes, backslashes and control bytes escaped, invalid
 * UTF-8 replaced by U+FFFD so the reply always parses. */
static void
s_out_str(s_out_t *o, const char *str)
{
    s_out_raw(o, "\"", 1);
    const unsigned char *s = (const unsigned char *) str;
    while (*s) {
        const unsigned char *run = s;
        while (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
            s++;
        s_out_raw(o, (const char *) run, (size_t) (s - run));
        if (!*s)
            break;
        if (*s == '"' || *s == '\\') {
            char esc[2] = { '\\', (char) *s++ };
            s_out_raw(o, esc, 2);
        } else if (*s < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", *s++);
            s_out_raw(o, esc, 6);
        } else {
            int n = s_utf8_len(s);
            if (n == 0) {
                s_out_raw(o, "\\ufffd", 6);
                s++;
            } else {
                s_out_raw(o, (const char *) s, (size_t) n);
                s += n;
            }
        }
    }
    s_out_raw(o, "\"", 1);
}

/* Appends ,"id":<the request's id> when the request carried one. */
static void
s_out_id(s_out_t *o, json_t *id)
{
    if (!id)
        return;
    char *idtxt = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
    if (idtxt) {
        s_out_lit(o, ",\"id\":");
        s_out_raw(o, idtxt, strlen(idtxt));
        free(idtxt);
    }
}

static char *
s_reply_results(json_t *id, const char *worker, rec_qkind_t kind, const rec_result_t *res, int n)
{
    s_out_t o = { 0 };
    s_out_lit(&o, "{\"ok\":true,\"worker\":");
    s_out_str(&o, worker);
    s_out_lit(&o, ",\"kind\":");
    s_out_str(&o, rec_qkind_name(kind));
    s_out_id(&o, id);
    s_out_lit(&o, ",\"results\":[");
    for (int r = 0; r < n; r++) {
        if (r)
            s_out_lit(&o, ",");
        s_out_lit(&o, "{\"item\":");
        s_out_str(&o, res[r].item);
        s_out_lit(&o, ",\"name\":");
        s_out_str(&o, res[r].name);
        s_out_lit(&o, ",\"category\":");
        s_out_str(&o, res[r].category);
        s_out_lit(&o, ",\"price\":");
        s_out_num(&o, res[r].price, 10);
        s_out_lit(&o, ",\"score\":");
        s_out_num(&o, (double) res[r].score, 6);
        s_out_lit(&o, ",\"reason\":");
        s_out_str(&o, res[r].reason);
        s_out_lit(&o, "}");
    }
    s_out_lit(&o, "]}");
    return o.p;
}

static char *s_handle(rec_engine_t *engine, const char *worker, json_t *j, bool top);

/* {"op":"batch","requests":[...]}: every request answered in order, in one
 * reply frame {"ok":true,"replies":[...]} (a kiosk's personal, similar and
 * category rows in one round trip; ZeroMQ's per-message costs paid once). */
static char *
s_batch(rec_engine_t *engine, const char *worker, json_t *id, json_t *reqs)
{
    if (!json_is_array(reqs) || json_array_size(reqs) > REC_MAX_BATCH) {
        char msg[96];
        snprintf(msg, sizeof msg, "batch needs \"requests\": an array of at most %d requests",
                 REC_MAX_BATCH);
        return s_error(id, worker, msg);
    }
    s_out_t o = { 0 };
    s_out_lit(&o, "{\"ok\":true,\"worker\":");
    s_out_str(&o, worker);
    s_out_id(&o, id);
    s_out_lit(&o, ",\"replies\":[");
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        json_t *r = json_array_get(reqs, i);
        char *one = json_is_object(r) ? s_handle(engine, worker, r, false)
                                      : s_error(NULL, worker, "request is not a JSON object");
        if (i)
            s_out_lit(&o, ",");
        s_out_raw(&o, one, strlen(one));
        free(one);
    }
    s_out_lit(&o, "]}");
    return o.p;
}

char *
rec_service_handle(rec_engine_t *engine, const char *worker, const char *req, size_t len)
{
    json_error_t jerr;
    if (len > REC_MAX_REQUEST)
        return s_error(NULL, worker, "request too large");
    json_t *j = json_loadb(req, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return s_error(NULL, worker, "request is not a JSON object");
    }
    char *out = s_handle(engine, worker, j, true);
    json_decref(j);
    return out;
}

/* The reply (new text) to one request object j; top: not inside a batch. */
static char *
s_handle(rec_engine_t *engine, const char *worker, json_t *j, bool top)
{
    char err[256];
    json_t *id = json_object_get(j, "id");
    const char *op = s_str(j, "op");
    char *out = NULL;
    if (!op) {
        out = s_error(id, worker, "missing \"op\"");
    } else if (strcmp(op, "batch") == 0) {
        out = top ? s_batch(engine, worker, id, json_object_get(j, "requests"))
                  : s_error(id, worker, "a batch cannot hold a batch");
    } else if (strcmp(op, "recommend") == 0) {
        rec_query_t q;
        const char *cart[REC_MAX_SEEDS];
        rec_result_t res[REC_MAX_K];
        int n = -1;
        if (s_parse_query(j, &q, cart, err, sizeof err) == 0)
            n = rec_engine_query(engine, &q, res, err, sizeof err);
        if (n < 0)
            out = s_error(id, worker, err);
        else
            out = s_reply_results(id, worker, q.kind, res, n);
    } else if (strcmp(op, "event") == 0) {
        const char *type = s_str(j, "type");
        int t = store_event_type_from_name(type ? type : "purchase");
        json_t *qv = json_object_get(j, "quantity"), *tv = json_object_get(j, "time");
        int qty = json_is_integer(qv) ? (int) json_integer_value(qv) : 1;
        int64_t when = json_is_integer(tv) ? json_integer_value(tv) : (int64_t) time(NULL);
        bool to_store = !json_is_false(json_object_get(j, "store"));
        if (t < 0) {
            out = s_error(id, worker, "type must be view, cart or purchase");
        } else if (json_is_integer(qv) && (json_integer_value(qv) < 1
                                           || json_integer_value(qv) > 1000000)) {
            out = s_error(id, worker, "quantity must be 1..1000000");
        } else if (rec_engine_add_event(engine, s_str(j, "customer"), s_str(j, "item"), when,
                                        (store_event_type_t) t, qty, to_store, err,
                                        sizeof err) != 0) {
            out = s_error(id, worker, err);
        } else {
            json_t *r = json_pack("{s:b, s:s}", "ok", 1, "worker", worker);
            if (id)
                json_object_set(r, "id", id);
            out = s_dump(r);
        }
    } else if (strcmp(op, "reload") == 0) {
        const char *path = s_str(j, "path");
        int rc = -1;
        if (!path)
            snprintf(err, sizeof err, "reload needs a \"path\"");
        else if ((rc = rec_engine_refresh_catalogue(engine, err, sizeof err)) == 0)
            rc = rec_engine_reload(engine, path, err, sizeof err);
        if (rc != 0) {
            out = s_error(id, worker, err);
        } else {
            json_t *r = json_pack("{s:b, s:s, s:b}", "ok", 1, "worker", worker, "started", 1);
            if (id)
                json_object_set(r, "id", id);
            out = s_dump(r);
        }
    } else if (strcmp(op, "status") == 0 || strcmp(op, "ping") == 0) {
        rec_engine_stats_t st;
        rec_engine_stats(engine, &st);
        json_t *r = json_pack("{s:b, s:s, s:i, s:i, s:i, s:I, s:i, s:s}", "ok", 1, "worker",
                              worker, "items", st.items, "items_in_model", st.items_in_model,
                              "customers", st.customers, "events", (json_int_t) st.events,
                              "generation", st.generation, "model", st.model);
        if (id)
            json_object_set(r, "id", id);
        out = s_dump(r);
    } else {
        out = s_error(id, worker, "unknown op (recommend, batch, event, reload, status, ping)");
    }
    return out;
}

/* --- service ------------------------------------------------------------- */

typedef struct {
    rec_service_t *svc;
    int index;
    void *sock;                /* REP, created by the starter so errors surface at once */
} s_worker_t;

struct _rec_service_t {
    void *ctx;                 /* borrowed */
    rec_engine_t *engine;      /* borrowed */
    char name[64];
    void *front, *back;        /* bind mode: ROUTER, inproc DEALER */
    void *ctl_send, *ctl_recv; /* PAIR: TERMINATE for zmq_proxy_steerable */
    pthread_t proxy_th;
    bool proxy_running;
    s_worker_t workers[MAX_WORKERS];
    pthread_t th[MAX_WORKERS];
    int n_threads;
    atomic_bool stop;
    atomic_long served;
};

static void *
s_worker_main(void *arg)
{
    s_worker_t *w = arg;
    rec_service_t *s = w->svc;
    char name[80];
    if (s->n_threads > 1)
        snprintf(name, sizeof name, "%s.%d", s->name, w->index);
    else
        snprintf(name, sizeof name, "%s", s->name);
    zmq_pollitem_t item = { w->sock, 0, ZMQ_POLLIN, 0 };
    while (!atomic_load(&s->stop)) {
        int rc = zmq_poll(&item, 1, 100);
        if (rc < 0) {
            if (errno == ETERM)
                break;
            continue;
        }
        if (rc == 0)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, w->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        /* a REP must answer every request, even a multi-part one we refuse */
        bool more = zmq_msg_more(&msg);
        char *reply;
        if (more) {
            while (zmq_msg_more(&msg)) {
                zmq_msg_close(&msg);
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, w->sock, 0) < 0)
                    break;
            }
            reply = s_error(NULL, name, "one JSON frame per request");
        } else {
            reply = rec_service_handle(s->engine, name, zmq_msg_data(&msg), zmq_msg_size(&msg));
        }
        zmq_msg_close(&msg);
        /* counted before the send, so a client that has its reply sees the count */
        atomic_fetch_add(&s->served, 1);
        zmq_send(w->sock, reply, strlen(reply), 0);
        free(reply);
    }
    zmq_close(w->sock);
    w->sock = NULL;
    return NULL;
}

static void *
s_proxy_main(void *arg)
{
    rec_service_t *s = arg;
    zmq_proxy_steerable(s->front, s->back, NULL, s->ctl_recv);
    return NULL;
}

static int
s_bind_all(void *sock, const char *endpoints, char *err, size_t errlen)
{
    char *list = xstrdup(endpoints), *save = NULL;
    int rc = 0;
    for (char *ep = strtok_r(list, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
        if (zmq_bind(sock, ep) != 0) {
            snprintf(err, errlen, "cannot bind %s: %s", ep, zmq_strerror(errno));
            rc = -1;
            break;
        }
    }
    free(list);
    return rc;
}

rec_service_t *
rec_service_new(void *ctx, rec_engine_t *engine, const rec_service_opts_t *opts, char *err,
                size_t errlen)
{
    if (opts->threads < 1 || opts->threads > MAX_WORKERS || (!opts->bind == !opts->connect)) {
        snprintf(err, errlen, "service: give bind or connect, and 1..%d threads", MAX_WORKERS);
        return NULL;
    }
    rec_service_t *s = xcalloc(1, sizeof *s);
    s->ctx = ctx;
    s->engine = engine;
    shop_strlcpy(s->name, opts->name && opts->name[0] ? opts->name : "rec", sizeof s->name);
    atomic_init(&s->stop, false);
    atomic_init(&s->served, 0);
    char back[96];
    int linger = 0;
    if (opts->bind) {
        snprintf(back, sizeof back, "inproc://rec-workers-%p", (void *) s);
        s->front = zmq_socket(ctx, ZMQ_ROUTER);
        s->back = zmq_socket(ctx, ZMQ_DEALER);
        zmq_setsockopt(s->front, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(s->back, ZMQ_LINGER, &linger, sizeof linger);
        if (s_bind_all(s->front, opts->bind, err, errlen) != 0 || zmq_bind(s->back, back) != 0)
            goto err;
        char ctl[96];
        snprintf(ctl, sizeof ctl, "inproc://rec-ctl-%p", (void *) s);
        s->ctl_recv = zmq_socket(ctx, ZMQ_PAIR);
        s->ctl_send = zmq_socket(ctx, ZMQ_PAIR);
        if (zmq_bind(s->ctl_recv, ctl) != 0 || zmq_connect(s->ctl_send, ctl) != 0) {
            snprintf(err, errlen, "service control socket: %s", zmq_strerror(errno));
            goto err;
        }
    }
    for (int i = 0; i < opts->threads; i++) {
        s_worker_t *w = &s->workers[i];
        w->svc = s;
        w->index = i;
        w->sock = zmq_socket(ctx, ZMQ_REP);
        zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof linger);
        const char *ep = opts->bind ? back : opts->connect;
        if (zmq_connect(w->sock, ep) != 0) {
            snprintf(err, errlen, "cannot connect %s: %s", ep, zmq_strerror(errno));
            zmq_close(w->sock);
            w->sock = NULL;
            goto err;
        }
        if (pthread_create(&s->th[i], NULL, s_worker_main, w) != 0) {
            snprintf(err, errlen, "cannot start a worker thread");
            zmq_close(w->sock);
            w->sock = NULL;
            goto err;
        }
        s->n_threads++;
    }
    if (opts->bind) {
        if (pthread_create(&s->proxy_th, NULL, s_proxy_main, s) != 0) {
            snprintf(err, errlen, "cannot start the proxy thread");
            goto err;
        }
        s->proxy_running = true;
    }
    return s;
err:
    rec_service_destroy(&s);
    return NULL;
}

void
rec_service_destroy(rec_service_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    rec_service_t *s = *s_p;
    atomic_store(&s->stop, true);
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->th[i], NULL);
    if (s->proxy_running) {
        zmq_send(s->ctl_send, "TERMINATE", 9, 0);
        pthread_join(s->proxy_th, NULL);
    }
    if (s->ctl_send)
        zmq_close(s->ctl_send);
    if (s->ctl_recv)
        zmq_close(s->ctl_recv);
    if (s->front)
        zmq_close(s->front);
    if (s->back)
        zmq_close(s->back);
    free(s);
    *s_p = NULL;
}

long
rec_service_served(rec_service_t *s)
{
    return atomic_load(&s->served);
}

/* --- broker -------------------------------------------------------------- */

struct _rec_broker_t {
    void *front, *back;        /* ROUTER for clients, DEALER for workers */
    void *ctl_send, *ctl_recv; /* PAIR to stop zmq_proxy_steerable */
    pthread_t th;
    bool running;
};

static void *
s_broker_main(void *arg)
{
    rec_broker_t *b = arg;
    zmq_proxy_steerable(b->front, b->back, NULL, b->ctl_recv);
    return NULL;
}

rec_broker_t *
rec_broker_new(void *ctx, const char *front, const char *back, char *err, size_t errlen)
{
    rec_broker_t *b = xcalloc(1, sizeof *b);
    int linger = 0;
    b->front = zmq_socket(ctx, ZMQ_ROUTER);
    b->back = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(b->front, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(b->back, ZMQ_LINGER, &linger, sizeof linger);
    char ctl[96];
    snprintf(ctl, sizeof ctl, "inproc://rec-broker-ctl-%p", (void *) b);
    b->ctl_recv = zmq_socket(ctx, ZMQ_PAIR);
    b->ctl_send = zmq_socket(ctx, ZMQ_PAIR);
    if (s_bind_all(b->front, front, err, errlen) != 0 || s_bind_all(b->back, back, err, errlen))
        goto err;
    if (zmq_bind(b->ctl_recv, ctl) != 0 || zmq_connect(b->ctl_send, ctl) != 0) {
        snprintf(err, errlen, "broker control socket: %s", zmq_strerror(errno));
        goto err;
    }
    if (pthread_create(&b->th, NULL, s_broker_main, b) != 0) {
        snprintf(err, errlen, "cannot start the broker thread");
        goto err;
    }
    b->running = true;
    return b;
err:
    rec_broker_destroy(&b);
    return NULL;
}

void
rec_broker_destroy(rec_broker_t **b_p)
{
    if (!b_p || !*b_p)
        return;
    rec_broker_t *b = *b_p;
    if (b->running) {
        zmq_send(b->ctl_send, "TERMINATE", 9, 0);
        pthread_join(b->th, NULL);
    }
    zmq_close(b->ctl_send);
    zmq_close(b->ctl_recv);
    zmq_close(b->front);
    zmq_close(b->back);
    free(b);
    *b_p = NULL;
}

/* --- Lazy Pirate client -------------------------------------------------- */

struct _rec_client_t {
    void *ctx;                 /* borrowed */
    char *endpoint;
    void *sock;                /* REQ, replaced after every timeout */
    int timeout_ms, retries;
    long n_retries;
    unsigned long next_id;
};

static void
s_client_connect(rec_client_t *c)
{
    if (c->sock)
        zmq_close(c->sock);
    c->sock = zmq_socket(c->ctx, ZMQ_REQ);
    int linger = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(c->sock, c->endpoint);
}

rec_client_t *
rec_client_new(void *ctx, const char *endpoint, int timeout_ms, int retries)
{
    rec_client_t *c = xcalloc(1, sizeof *c);
    c->ctx = ctx;
    c->endpoint = xstrdup(endpoint);
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    c->retries = retries >= 0 ? retries : 3;
    s_client_connect(c);
    return c;
}

void
rec_client_destroy(rec_client_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    rec_client_t *c = *c_p;
    if (c->sock)
        zmq_close(c->sock);
    free(c->endpoint);
    free(c);
    *c_p = NULL;
}

long
rec_client_retries(rec_client_t *c)
{
    return c->n_retries;
}

char *
rec_client_request(rec_client_t *c, const char *json, char *err, size_t errlen)
{
    size_t len = strlen(json);
    for (int attempt = 0; attempt <= c->retries; attempt++) {
        if (attempt > 0) {
            c->n_retries++;
            s_client_connect(c);    /* a REQ that missed its reply is stuck: replace it */
        }
        if (zmq_send(c->sock, json, len, 0) < 0)
            continue;
        zmq_pollitem_t item = { c->sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&item, 1, c->timeout_ms) == 1 && (item.revents & ZMQ_POLLIN)) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, c->sock, 0) >= 0) {
                size_t n = zmq_msg_size(&msg);
                char *out = xmalloc(n + 1);
                memcpy(out, zmq_msg_data(&msg), n);
                out[n] = '\0';
                zmq_msg_close(&msg);
                return out;
            }
            zmq_msg_close(&msg);
        }
    }
    s_client_connect(c);
    snprintf(err, errlen, "no reply from %s after %d tries of %d ms", c->endpoint,
             c->retries + 1, c->timeout_ms);
    return NULL;
}

int
rec_client_query(rec_client_t *c, const rec_query_t *q, rec_result_t *out, char *worker,
                 size_t worker_len, char *err, size_t errlen)
{
    json_t *r = json_pack("{s:s, s:I, s:s, s:i, s:b, s:b}", "op", "recommend", "id",
                          (json_int_t) ++c->next_id, "kind", rec_qkind_name(q->kind), "k", q->k,
                          "exclude_bought", q->exclude_bought, "in_stock",
                          !q->include_out_of_stock);
    if (q->customer)
        json_object_set_new(r, "customer", json_string(q->customer));
    if (q->item)
        json_object_set_new(r, "item", json_string(q->item));
    if (q->category)
        json_object_set_new(r, "category", json_string(q->category));
    if (q->min_price > 0)
        json_object_set_new(r, "min_price", json_real(q->min_price));
    if (q->max_price > 0)
        json_object_set_new(r, "max_price", json_real(q->max_price));
    if (q->now)
        json_object_set_new(r, "now", json_integer(q->now));
    if (q->n_cart > 0) {
        json_t *cart = json_array();
        for (int i = 0; i < q->n_cart; i++)
            json_array_append_new(cart, json_string(q->cart[i]));
        json_object_set_new(r, "cart", cart);
    }
    char *txt = s_dump(r);
    char *reply = rec_client_request(c, txt, err, errlen);
    free(txt);
    if (!reply)
        return -1;
    json_error_t jerr;
    json_t *j = json_loads(reply, 0, &jerr);
    free(reply);
    int n = -1;
    if (!j || !json_is_object(j)) {
        snprintf(err, errlen, "reply is not a JSON object");
    } else if (!json_is_true(json_object_get(j, "ok"))) {
        const char *why = s_str(j, "error");
        snprintf(err, errlen, "%s", why ? why : "request refused");
    } else {
        json_t *res = json_object_get(j, "results");
        n = 0;
        for (size_t i = 0; i < json_array_size(res) && n < q->k; i++) {
            json_t *x = json_array_get(res, i);
            rec_result_t *o = &out[n++];
            memset(o, 0, sizeof *o);
            const char *s;
            if ((s = s_str(x, "item")))
                shop_strlcpy(o->item, s, sizeof o->item);
            if ((s = s_str(x, "name")))
                shop_strlcpy(o->name, s, sizeof o->name);
            if ((s = s_str(x, "category")))
                shop_strlcpy(o->category, s, sizeof o->category);
            if ((s = s_str(x, "reason")))
                shop_strlcpy(o->reason, s, sizeof o->reason);
            o->price = json_number_value(json_object_get(x, "price"));
            o->score = (float) json_number_value(json_object_get(x, "score"));
        }
        if (worker && worker_len) {
            const char *w = s_str(j, "worker");
            shop_strlcpy(worker, w ? w : "", worker_len);
        }
    }
    json_decref(j);
    return n;
}
