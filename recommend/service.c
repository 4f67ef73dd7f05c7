/* recommend/service.c: the ZeroMQ recommendation service, broker and
 * Lazy Pirate client (see service.h). */
#include "recommend/service.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zmq.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/keys.h"
#include "ipc/sock.h"
#include "ipc/zap.h"

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
    } else if (strcmp(op, "forget") == 0) {
        const char *cust = s_str(j, "customer");
        if (!cust || !cust[0]) {
            out = s_error(id, worker, "forget needs a \"customer\"");
        } else {
            long n = 0;
            int had = rec_engine_forget(engine, cust, &n);
            json_t *r = json_pack("{s:b, s:s, s:b, s:I}", "ok", 1, "worker", worker,
                                  "history", had, "events", (json_int_t) n);
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

/* --- CURVE ----------------------------------------------------------------- */

/* A ZAP handler on a context, answered by a thread of its own (the service
 * and broker threads block in ZeroMQ calls and cannot poll it). */
typedef struct {
    zap_t *zap;
    pthread_t th;
    atomic_bool stop;
    bool running;
} s_zapper_t;

static void *
s_zapper_main(void *arg)
{
    s_zapper_t *z = arg;
    while (!atomic_load(&z->stop)) {
        zmq_pollitem_t it = { zap_socket(z->zap), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 100) > 0)
            zap_handle(z->zap);
    }
    return NULL;
}

static void
s_zapper_destroy(s_zapper_t **z_p)
{
    if (!z_p || !*z_p)
        return;
    s_zapper_t *z = *z_p;
    if (z->running) {
        atomic_store(&z->stop, true);
        pthread_join(z->th, NULL);
    }
    zap_destroy(&z->zap);
    free(z);
    *z_p = NULL;
}

/* Binds a ZAP handler on ctx admitting the public keys listed in
 * allow_path (what: "worker", "client", put in messages). Returns it, or
 * NULL with a message. */
static s_zapper_t *
s_zapper_new(void *ctx, const char *allow_path, const char *what, char *err, size_t errlen)
{
    char (*keys)[KEYS_Z85_LEN + 1] = NULL;
    size_t n = 0;
    char kerr[512];
    if (keys_read_allowlist(allow_path, &keys, &n, kerr, sizeof kerr) != 0) {
        snprintf(err, errlen, "%s allow-list: %s", what, kerr);
        return NULL;
    }
    s_zapper_t *z = xcalloc(1, sizeof *z);
    atomic_init(&z->stop, false);
    z->zap = zap_new(ctx, err, errlen);
    if (!z->zap) {
        free(keys);
        s_zapper_destroy(&z);
        return NULL;
    }
    zap_set_allowed(z->zap, (const char (*)[KEYS_Z85_LEN + 1]) keys, n);
    free(keys);
    if (pthread_create(&z->th, NULL, s_zapper_main, z) != 0) {
        snprintf(err, errlen, "cannot start the ZAP thread");
        s_zapper_destroy(&z);
        return NULL;
    }
    z->running = true;
    log_info("curve: %zu %s key%s allowed (%s)", n, what, n == 1 ? "" : "s", allow_path);
    return z;
}

/* Reads the key pair file key_file (what: whose keys, for messages). */
static int
s_read_pair(const char *key_file, const char *what, char pub[KEYS_Z85_LEN + 1],
            char sec[KEYS_Z85_LEN + 1], char *err, size_t errlen)
{
    char kerr[512];
    if (!key_file || !key_file[0]) {
        snprintf(err, errlen, "CURVE needs the %s's key pair file", what);
        return -1;
    }
    if (keys_read(key_file, pub, sec, kerr, sizeof kerr) != 0) {
        snprintf(err, errlen, "%s key: %s", what, kerr);
        return -1;
    }
    return 0;
}

/* Refuses an endpoint of the comma-separated list that another machine
 * could reach when there is no CURVE (verb: "listen on", "connect to"). */
static int
s_check_local(const char *endpoints, bool curve, const char *verb, char *err, size_t errlen)
{
    if (curve)
        return 0;
    char *list = xstrdup(endpoints), *save = NULL;
    int rc = 0;
    for (char *ep = strtok_r(list, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
        if (!sock_endpoint_is_local(ep)) {
            snprintf(err, errlen, "refusing to %s %s without CURVE (give key files: "
                     "docs/protocol.md, \"Security\")", verb, ep);
            rc = -1;
            break;
        }
    }
    free(list);
    return rc;
}

/* The transport options of a hop between machines (ipc/sock.h: handshake
 * deadline, ZMTP heartbeats, so a worker whose host vanished is dropped
 * instead of being handed queries), without linger. */
static int
s_hop_opts(void *sock, char *err, size_t errlen)
{
    sock_opts_t o;
    sock_opts_default(&o);
    o.linger_ms = 0;
    return sock_apply(sock, &o, err, errlen);
}

/* --- service ------------------------------------------------------------- */

/* A socket that worker threads share. ZeroMQ sockets are not thread-safe,
 * so every call on sock is made under lock; a thread waiting for requests
 * sleeps in poll(2) on the socket's ZMQ_FD without the lock, so the others
 * can send their replies meanwhile. In bind mode all workers share the one
 * front ROUTER (no proxy thread, no inproc hop: a request wakes a worker
 * directly); in connect mode each worker has its own REP to the broker. */
typedef struct {
    void *sock;                /* ROUTER (bind) or REP (connect) */
    bool router;               /* replies carry the request's envelope */
    int fd;                    /* ZMQ_FD: readable when the socket has news */
    pthread_mutex_t lock;
} s_conn_t;

typedef struct {
    rec_service_t *svc;
    char name[80];             /* put in replies: the service's, ".index" with several threads */
    s_conn_t *conn;            /* shared front (bind) or own (connect) */
} s_worker_t;

struct _rec_service_t {
    void *ctx;                 /* borrowed */
    rec_engine_t *engine;      /* borrowed */
    char name[64];
    bool curve;                /* CURVE on the sockets below */
    char pub[KEYS_Z85_LEN + 1], sec[KEYS_Z85_LEN + 1]; /* the service's key pair */
    char server[KEYS_Z85_LEN + 1]; /* connect mode: the broker's public key */
    s_zapper_t *zapper;        /* bind mode with CURVE: the clients' allow-list */
    void *mon[MAX_WORKERS];    /* connect mode with CURVE: PAIRs of the handshake monitors */
    int n_mon;
    pthread_t mon_th;          /* logs refused and accepted handshakes */
    bool mon_running;
    s_conn_t conns[MAX_WORKERS]; /* bind: conns[0] only; connect: one per worker */
    int n_conns;
    s_worker_t workers[MAX_WORKERS];
    pthread_t th[MAX_WORKERS];
    int n_threads;
    atomic_bool stop;
    atomic_long served;
};

/* Envelope frames a ROUTER request may carry (identities through broker
 * hops, then the empty delimiter); more is refused. */
#define MAX_FRAMES 16

static void
s_free_reply(void *data, void *hint)
{
    (void) hint;
    free(data);
}

/* Receives one whole request from c (lock held, a message ready): the
 * envelope into env[0..*n_env) and the body into body. Returns NULL when
 * body holds the one JSON frame, or a refusal to send back instead. */
static const char *
s_recv_request(s_conn_t *c, zmq_msg_t *env, int *n_env, zmq_msg_t *body)
{
    zmq_msg_t f[MAX_FRAMES];
    int n = 0;
    bool more = true, too_many = false;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < MAX_FRAMES)
            f[n++] = m;
        else {
            too_many = true;
            zmq_msg_close(&m);
        }
    }
    /* ROUTER: the envelope is everything up to the first empty frame (a REQ,
     * or a DEALER sending as one), or the identity alone without one */
    int d = 0;
    if (c->router) {
        d = 1;
        for (int i = 1; i < n; i++)
            if (zmq_msg_size(&f[i]) == 0) {
                d = i + 1;
                break;
            }
        d = SHOP_MIN(d, n);
    }
    for (int i = 0; i < d; i++)
        env[i] = f[i];
    *n_env = d;
    const char *why = NULL;
    if (too_many || n - d != 1)
        why = "one JSON frame per request";
    else
        *body = f[d];
    if (why) {
        for (int i = d; i < n; i++)
            zmq_msg_close(&f[i]);
        zmq_msg_init(body);
    }
    return why;
}

/* Sends reply (ownership moves to ZeroMQ, no copy) after the envelope (lock
 * held). A ROUTER drops a reply to a client that went away; a REP blocks
 * while its broker's queue is full, as it must answer before its next
 * request. */
static void
s_send_reply(s_conn_t *c, zmq_msg_t *env, int n_env, char *reply)
{
    for (int i = 0; i < n_env; i++)
        if (zmq_msg_send(&env[i], c->sock, ZMQ_SNDMORE) < 0)
            zmq_msg_close(&env[i]);
    zmq_msg_t m;
    zmq_msg_init_data(&m, reply, strlen(reply), s_free_reply, NULL);
    if (zmq_msg_send(&m, c->sock, 0) < 0)
        zmq_msg_close(&m);
}

static void *
s_worker_main(void *arg)
{
    s_worker_t *w = arg;
    rec_service_t *s = w->svc;
    s_conn_t *c = w->conn;
    const char *name = w->name;
    pthread_mutex_lock(&c->lock);
    while (!atomic_load(&s->stop)) {
        /* ZMQ_EVENTS under the lock after every call on the socket: a message
         * whose wake-up another call consumed is found here, before sleeping */
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt(c->sock, ZMQ_EVENTS, &events, &len) != 0 && errno == ETERM)
            break;
        if (!(events & ZMQ_POLLIN)) {
            pthread_mutex_unlock(&c->lock);
            struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
            poll(&pfd, 1, 100);
            pthread_mutex_lock(&c->lock);
            continue;
        }
        zmq_msg_t env[MAX_FRAMES], body;
        int n_env = 0;
        const char *why = s_recv_request(c, env, &n_env, &body);
        pthread_mutex_unlock(&c->lock);
        char *reply = why ? s_error(NULL, name, why)
                          : rec_service_handle(s->engine, name, zmq_msg_data(&body),
                                               zmq_msg_size(&body));
        zmq_msg_close(&body);
        /* counted before the send, so a client that has its reply sees the count */
        atomic_fetch_add(&s->served, 1);
        pthread_mutex_lock(&c->lock);
        s_send_reply(c, env, n_env, reply);
    }
    pthread_mutex_unlock(&c->lock);
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

/* A worker whose key the broker refuses would wait for queries forever
 * without a word: the handshake monitors of its sockets say why, once per
 * change (refused, then accepted again after the broker's list changed). */
static void *
s_monitor_main(void *arg)
{
    rec_service_t *s = arg;
    zmq_pollitem_t it[MAX_WORKERS];
    for (int i = 0; i < s->n_mon; i++)
        it[i] = (zmq_pollitem_t) { s->mon[i], 0, ZMQ_POLLIN, 0 };
    int state = 0;   /* 0 unknown, 1 accepted, -1 refused */
    while (!atomic_load(&s->stop)) {
        if (zmq_poll(it, s->n_mon, 100) <= 0)
            continue;
        for (int i = 0; i < s->n_mon; i++) {
            if (!(it[i].revents & ZMQ_POLLIN))
                continue;
            zmq_msg_t ev, addr;
            zmq_msg_init(&ev);
            zmq_msg_init(&addr);
            if (zmq_msg_recv(&ev, s->mon[i], 0) < 0 || zmq_msg_recv(&addr, s->mon[i], 0) < 0) {
                zmq_msg_close(&ev);
                zmq_msg_close(&addr);
                continue;
            }
            uint16_t what = 0;
            uint32_t value = 0;
            if (zmq_msg_size(&ev) == 6) {
                memcpy(&what, zmq_msg_data(&ev), 2);
                memcpy(&value, (char *) zmq_msg_data(&ev) + 2, 4);
            }
            int now = what == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? 1 : what ? -1 : 0;
            if (now == -1 && state != -1)
                log_warn("%s: the broker at %.*s refused the CURVE handshake%s: is this "
                         "service's public key on its --worker-keys list, and --server-key "
                         "the broker's public key?", s->name, (int) zmq_msg_size(&addr),
                         (const char *) zmq_msg_data(&addr),
                         what == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 400
                             ? " (key not allowed)" : "");
            else if (now == 1 && state != 1)
                log_info("%s: CURVE handshake with the broker at %.*s done", s->name,
                         (int) zmq_msg_size(&addr), (const char *) zmq_msg_data(&addr));
            if (now)
                state = now;
            zmq_msg_close(&ev);
            zmq_msg_close(&addr);
        }
    }
    return NULL;
}

/* Watches the handshakes of conns[i] (connect mode with CURVE). */
static int
s_monitor_add(rec_service_t *s, int i, char *err, size_t errlen)
{
    char ep[96];
    snprintf(ep, sizeof ep, "inproc://rec-service-mon-%p-%d", (void *) s, i);
    if (zmq_socket_monitor(s->conns[i].sock, ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                           | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                           | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                           | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
        snprintf(err, errlen, "service socket monitor: %s", zmq_strerror(errno));
        return -1;
    }
    void *m = zmq_socket(s->ctx, ZMQ_PAIR);
    int linger = 0;
    zmq_setsockopt(m, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(m, ep) != 0) {
        snprintf(err, errlen, "service socket monitor: %s", zmq_strerror(errno));
        zmq_close(m);
        return -1;
    }
    s->mon[s->n_mon++] = m;
    return 0;
}

/* Opens conns[s->n_conns] as a ROUTER bound to endpoints or a REP connected
 * to a broker. Returns 0, or -1 with a message. */
static int
s_conn_open(rec_service_t *s, const char *bind, const char *connect, char *err, size_t errlen)
{
    s_conn_t *c = &s->conns[s->n_conns];
    c->router = bind != NULL;
    c->sock = zmq_socket(s->ctx, c->router ? ZMQ_ROUTER : ZMQ_REP);
    if (!c->sock) {
        snprintf(err, errlen, "service socket: %s", zmq_strerror(errno));
        return -1;
    }
    pthread_mutex_init(&c->lock, NULL);
    s->n_conns++;
    int linger = 0;
    size_t len = sizeof c->fd;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (!c->router && s_hop_opts(c->sock, err, errlen) != 0)
        return -1;
    if (s->curve && c->router && sock_curve_server(c->sock, s->sec, err, errlen) != 0)
        return -1;
    if (s->curve && !c->router
        && sock_curve_client(c->sock, s->server, s->pub, s->sec, err, errlen) != 0)
        return -1;
    if (c->router && s_bind_all(c->sock, bind, err, errlen) != 0)
        return -1;
    /* the monitor first: the handshake starts with the connect */
    if (s->curve && !c->router && s_monitor_add(s, s->n_conns - 1, err, errlen) != 0)
        return -1;
    if (!c->router && zmq_connect(c->sock, connect) != 0) {
        snprintf(err, errlen, "cannot connect %s: %s", connect, zmq_strerror(errno));
        return -1;
    }
    if (zmq_getsockopt(c->sock, ZMQ_FD, &c->fd, &len) != 0) {
        snprintf(err, errlen, "service socket: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
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
    if (opts->key_file) {
        char kerr[512];
        s->curve = true;
        if (s_read_pair(opts->key_file, "service", s->pub, s->sec, err, errlen) != 0)
            goto err;
        if (opts->connect && (!opts->server_key
                              || keys_read_public(opts->server_key, s->server, kerr,
                                                  sizeof kerr) != 0)) {
            snprintf(err, errlen, "broker key: %s",
                     opts->server_key ? kerr : "CURVE needs the broker's public key");
            goto err;
        }
        if (opts->bind) {
            if (!opts->allow_list) {
                snprintf(err, errlen, "CURVE needs an allow-list of client keys");
                goto err;
            }
            s->zapper = s_zapper_new(s->ctx, opts->allow_list, "client", err, errlen);
            if (!s->zapper)
                goto err;
        }
    }
    if (s_check_local(opts->bind ? opts->bind : opts->connect, s->curve,
                      opts->bind ? "listen on" : "connect to", err, errlen) != 0)
        goto err;
    if (opts->bind && s_conn_open(s, opts->bind, NULL, err, errlen) != 0)
        goto err;
    for (int i = 0; i < opts->threads; i++) {
        if (opts->connect && s_conn_open(s, NULL, opts->connect, err, errlen) != 0)
            goto err;
        s_worker_t *w = &s->workers[i];
        w->svc = s;
        if (opts->threads > 1)
            snprintf(w->name, sizeof w->name, "%s.%d", s->name, i);
        else
            snprintf(w->name, sizeof w->name, "%s", s->name);
        w->conn = &s->conns[s->n_conns - 1];
        if (pthread_create(&s->th[i], NULL, s_worker_main, w) != 0) {
            snprintf(err, errlen, "cannot start a worker thread");
            goto err;
        }
        s->n_threads++;
    }
    if (s->n_mon > 0) {
        if (pthread_create(&s->mon_th, NULL, s_monitor_main, s) != 0) {
            snprintf(err, errlen, "cannot start the monitor thread");
            goto err;
        }
        s->mon_running = true;
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
    if (s->mon_running)
        pthread_join(s->mon_th, NULL);
    for (int i = 0; i < s->n_mon; i++) {
        zmq_socket_monitor(s->conns[i].sock, NULL, 0);   /* conns[i] is mon[i]'s socket */
        zmq_close(s->mon[i]);
    }
    for (int i = 0; i < s->n_conns; i++) {
        zmq_close(s->conns[i].sock);
        pthread_mutex_destroy(&s->conns[i].lock);
    }
    s_zapper_destroy(&s->zapper);
    explicit_bzero(s->sec, sizeof s->sec);
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
    void *ctx_front, *ctx_back; /* the CURVE ends' own contexts (owned), or NULL */
    s_zapper_t *zap_front, *zap_back; /* their allow-lists */
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

/* Opens one end of the broker: a socket of type on ctx, or with allow (a
 * file of peer keys) on a context of its own with its ZAP handler and the
 * broker's secret key; then binds endpoints. Returns the socket or NULL. */
static void *
s_broker_end(void *ctx, void **own_ctx, s_zapper_t **zapper, int type, const char *endpoints,
             const char *allow, const char *what, const char *secret, char *err,
             size_t errlen)
{
    if (s_check_local(endpoints, allow != NULL, "listen on", err, errlen) != 0)
        return NULL;
    if (allow) {
        ctx = *own_ctx = zmq_ctx_new();
        /* the handler first: no peer is ever admitted unchecked */
        *zapper = s_zapper_new(ctx, allow, what, err, errlen);
        if (!*zapper)
            return NULL;
    }
    void *sock = zmq_socket(ctx, type);
    if (s_hop_opts(sock, err, errlen) != 0
        || (allow && sock_curve_server(sock, secret, err, errlen) != 0)
        || s_bind_all(sock, endpoints, err, errlen) != 0) {
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

rec_broker_t *
rec_broker_new(void *ctx, const char *front, const char *back, const rec_broker_curve_t *curve,
               char *err, size_t errlen)
{
    rec_broker_t *b = xcalloc(1, sizeof *b);
    char pub[KEYS_Z85_LEN + 1], sec[KEYS_Z85_LEN + 1] = "";
    const char *wallow = curve ? curve->worker_allow : NULL;
    const char *callow = curve ? curve->client_allow : NULL;
    if ((wallow || callow || (curve && curve->key_file))
        && s_read_pair(curve->key_file, "broker", pub, sec, err, errlen) != 0)
        goto err;
    if (curve && curve->key_file && !wallow && !callow) {
        snprintf(err, errlen, "the broker's key pair needs an allow-list of worker keys, "
                 "of client keys, or both");
        goto err;
    }
    b->front = s_broker_end(ctx, &b->ctx_front, &b->zap_front, ZMQ_ROUTER, front, callow,
                            "client", sec, err, errlen);
    if (!b->front)
        goto err;
    b->back = s_broker_end(ctx, &b->ctx_back, &b->zap_back, ZMQ_DEALER, back, wallow,
                           "worker", sec, err, errlen);
    if (!b->back)
        goto err;
    char ctl[96];
    snprintf(ctl, sizeof ctl, "inproc://rec-broker-ctl-%p", (void *) b);
    b->ctl_recv = zmq_socket(ctx, ZMQ_PAIR);
    b->ctl_send = zmq_socket(ctx, ZMQ_PAIR);
    if (zmq_bind(b->ctl_recv, ctl) != 0 || zmq_connect(b->ctl_send, ctl) != 0) {
        snprintf(err, errlen, "broker control socket: %s", zmq_strerror(errno));
        goto err;
    }
    if (pthread_create(&b->th, NULL, s_broker_main, b) != 0) {
        snprintf(err, errlen, "cannot start the broker thread");
        goto err;
    }
    b->running = true;
    explicit_bzero(sec, sizeof sec);
    return b;
err:
    explicit_bzero(sec, sizeof sec);
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
    if (b->ctl_send)
        zmq_close(b->ctl_send);
    if (b->ctl_recv)
        zmq_close(b->ctl_recv);
    if (b->front)
        zmq_close(b->front);
    if (b->back)
        zmq_close(b->back);
    s_zapper_destroy(&b->zap_front);
    s_zapper_destroy(&b->zap_back);
    if (b->ctx_front)
        zmq_ctx_term(b->ctx_front);
    if (b->ctx_back)
        zmq_ctx_term(b->ctx_back);
    free(b);
    *b_p = NULL;
}

/* --- Lazy Pirate client -------------------------------------------------- */

struct _rec_client_t {
    void *ctx;                 /* borrowed */
    char *endpoint;
    void *sock;                /* REQ, replaced after every timeout */
    int timeout_ms, retries;
    bool curve;                /* the keys below are set */
    char pub[KEYS_Z85_LEN + 1], sec[KEYS_Z85_LEN + 1], server[KEYS_Z85_LEN + 1];
    long n_retries;
    unsigned long next_id;
    rec_client_err_t last_error; /* why the last request failed */
};

static void
s_client_connect(rec_client_t *c)
{
    if (c->sock)
        zmq_close(c->sock);
    c->sock = zmq_socket(c->ctx, ZMQ_REQ);
    int linger = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    /* a send waits at most a try's time: a REQ whose only peer refused its
     * CURVE handshake has no pipe, and a blocking send would never return */
    zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &c->timeout_ms, sizeof c->timeout_ms);
    char err[256];
    if (c->curve && sock_curve_client(c->sock, c->server, c->pub, c->sec, err, sizeof err) != 0)
        log_warn("recommend client: %s", err);   /* keys were checked when set */
    zmq_connect(c->sock, c->endpoint);
}

int
rec_client_set_curve(rec_client_t *c, const char *key_file, const char *server_key, char *err,
                     size_t errlen)
{
    char pub[KEYS_Z85_LEN + 1], sec[KEYS_Z85_LEN + 1], server[KEYS_Z85_LEN + 1], kerr[512];
    if (s_read_pair(key_file, "client", pub, sec, err, errlen) != 0)
        return -1;
    if (!server_key || keys_read_public(server_key, server, kerr, sizeof kerr) != 0) {
        snprintf(err, errlen, "server key: %s",
                 server_key ? kerr : "CURVE needs the server's public key");
        explicit_bzero(sec, sizeof sec);
        return -1;
    }
    memcpy(c->pub, pub, sizeof pub);
    memcpy(c->sec, sec, sizeof sec);
    memcpy(c->server, server, sizeof server);
    explicit_bzero(sec, sizeof sec);
    c->curve = true;
    s_client_connect(c);
    return 0;
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
    explicit_bzero(c->sec, sizeof c->sec);
    free(c->endpoint);
    free(c);
    *c_p = NULL;
}

long
rec_client_retries(rec_client_t *c)
{
    return c->n_retries;
}

rec_client_err_t
rec_client_last_error(const rec_client_t *c)
{
    return c->last_error;
}

char *
rec_client_request(rec_client_t *c, const char *json, char *err, size_t errlen)
{
    size_t len = strlen(json);
    c->last_error = REC_CLIENT_OK;
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
    c->last_error = REC_CLIENT_NO_REPLY;
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
        c->last_error = REC_CLIENT_BAD_REPLY;
        snprintf(err, errlen, "reply is not a JSON object");
    } else if (!json_is_true(json_object_get(j, "ok"))) {
        const char *why = s_str(j, "error");
        c->last_error = REC_CLIENT_REFUSED;
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
