/* daemon/web.c: see web.h.
 *
 * One thread runs libwebsockets' event loop. The ZeroMQ sockets of the
 * thread are created, used and closed there; their notification fds
 * (ZMQ_FD, duplicated so libwebsockets may close its copy) are adopted into
 * the loop as raw files, so a reply or an event wakes it. ZMQ_FD only says
 * that ZMQ_EVENTS may have changed: every loop turn drains both sockets
 * until they have nothing to read, and a one-second timer turns the loop
 * even when nothing happens. */
#include "config.h"

#include "daemon/web.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <zmq.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "ipc/sock.h"

#define S_RX_MAX (64 * 1024)   /* largest message a page may send */
#define S_QUEUE_MAX 256        /* messages waiting for a slow page; more closes it */
#define S_SESSION_MAX 64
#define S_RECENT 64            /* sessions whose last answer a new page gets at once */

/* one message waiting to be written to a page (LWS_PRE bytes of headroom) */
typedef struct s_msg {
    struct s_msg *next;
    size_t len;
    unsigned char buf[];
} s_msg_t;

/* the last answer published on a session, as the message a page gets */
typedef struct {
    char session[S_SESSION_MAX + 1];
    char *msg;                   /* NULL when the slot is free */
    size_t len;
    uint64_t used;               /* when it was stored: the oldest goes first */
} s_recent_t;

/* one page's WebSocket (libwebsockets' per-session user data) */
typedef struct s_conn {
    struct s_conn *next;         /* in web->conns */
    struct lws *wsi;
    uint64_t serial;             /* names it in request ids */
    char session[S_SESSION_MAX + 1];
    s_msg_t *head, *tail;        /* to write */
    int queued;
    bool overflow;               /* the page stopped reading: close it */
    char *rx;                    /* a message arriving in fragments */
    size_t rxlen;
} s_conn_t;

struct _web_t {
    void *ctx;                             /* the daemon's ZeroMQ context, not owned */
    char addr[WEB_LISTEN_MAX];
    int port;
    char token[WEB_TOKEN_MAX];
    char requests[256], events[256];
    char server_public[41], client_public[41], client_secret[41];
    char webdir[1024];                     /* the page's files */
    struct lws_context *lws;
    struct lws_vhost *vhost;
    struct lws_protocols protocols[4];
    struct lws_http_mount mounts[2];
    pthread_t thread;
    bool started;
    atomic_bool stop;
    sem_t ready;                           /* the thread posts once set up */
    int thread_rc;                         /* 0 when it set up, else -1 ... */
    char thread_err[256];                  /* ... and why */
    /* owned by the thread */
    void *dealer;                          /* requests, replies */
    void *sub;                             /* events */
    s_conn_t *conns;
    uint64_t next_serial;
    s_recent_t recent[S_RECENT];
    uint64_t clock;                        /* orders the recent answers */
    lws_sorted_usec_list_t tick;
};

/* --- parsing outside input ------------------------------------------------ */

int
web_parse_listen(const char *listen, char *addr, size_t addrlen, int *port, char *err,
                 size_t errlen)
{
    const char *colon;
    const char *host = listen, *host_end;
    if (!listen || !*listen) {
        snprintf(err, errlen, "web: no listen address (ADDR:PORT)");
        return -1;
    }
    if (listen[0] == '[') {
        host = listen + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':') {
            snprintf(err, errlen, "web: \"%s\" is not [IPV6]:PORT", listen);
            return -1;
        }
        colon = host_end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || strchr(listen, ':') != colon) {
            snprintf(err, errlen, "web: \"%s\" is not ADDR:PORT (IPv6 in brackets)", listen);
            return -1;
        }
        host_end = colon;
    }
    size_t hl = (size_t) (host_end - host);
    if (hl == 0 || hl >= addrlen) {
        snprintf(err, errlen, "web: \"%s\" has no address or a too long one", listen);
        return -1;
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (!isdigit((unsigned char) colon[1]) || *end || errno || p < 1 || p > 65535) {
        snprintf(err, errlen, "web: the port of \"%s\" must be 1..65535", listen);
        return -1;
    }
    memcpy(addr, host, hl);
    addr[hl] = 0;
    *port = (int) p;
    return 0;
}

bool
web_addr_is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(addr, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

int
web_check(const char *listen, const char *token, char *err, size_t errlen)
{
    char addr[WEB_LISTEN_MAX];
    int port;
    if (web_parse_listen(listen, addr, sizeof addr, &port, err, errlen) != 0)
        return -1;
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(addr, "localhost") != 0 && inet_pton(AF_INET, addr, &a4) != 1
        && inet_pton(AF_INET6, addr, &a6) != 1) {
        snprintf(err, errlen, "web: \"%s\" is not an IP address or localhost", addr);
        return -1;
    }
    if (token && strlen(token) >= WEB_TOKEN_MAX) {
        snprintf(err, errlen, "web: the token is longer than %d bytes", WEB_TOKEN_MAX - 1);
        return -1;
    }
    if (!web_addr_is_loopback(addr) && (!token || !*token)) {
        snprintf(err, errlen, "web: refusing to serve the kiosk page on %s without a token "
                              "([web] token)", listen);
        return -1;
    }
    return 0;
}

bool
web_session_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > S_SESSION_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char) *s) && !strchr("._:-", *s))
            return false;
    return true;
}

int
web_page_message(const char *data, size_t len, long long *id, char *type, size_t typelen,
                 json_t **body, char *err, size_t errlen)
{
    *body = NULL;
    json_error_t jerr;
    json_t *m = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(m)) {
        snprintf(err, errlen, "not a JSON object%s%s", m ? "" : ": ", m ? "" : jerr.text);
        json_decref(m);
        return -1;
    }
    const json_t *jid = json_object_get(m, "id"), *jt = json_object_get(m, "type");
    const json_t *jb = json_object_get(m, "body");
    if (!json_is_integer(jid) || json_integer_value(jid) < 0
        || json_integer_value(jid) > 1000000000) {
        snprintf(err, errlen, "\"id\" must be an integer from 0 to 1000000000");
        goto fail;
    }
    if (!json_is_string(jt) || json_string_length(jt) == 0
        || json_string_length(jt) > PROTO_TYPE_MAX || json_string_length(jt) >= typelen
        || memchr(json_string_value(jt), 0, json_string_length(jt))) {
        snprintf(err, errlen, "\"type\" must be a request type of 1 to %d bytes", PROTO_TYPE_MAX);
        goto fail;
    }
    if (jb && !json_is_object(jb)) {
        snprintf(err, errlen, "\"body\" must be an object");
        goto fail;
    }
    const char *t = json_string_value(jt);
    if (!strcmp(t, "audio") || !strcmp(t, "photo")) {
        snprintf(err, errlen, "\"%s\" takes a file: not through the kiosk page", t);
        goto fail;
    }
    *id = json_integer_value(jid);
    memcpy(type, t, json_string_length(jt) + 1);
    *body = jb ? json_incref((json_t *) jb) : json_object();
    json_decref(m);
    return 0;
fail:
    json_decref(m);
    return -1;
}

const char *
web_photo_file(const char *rel, char *buf, size_t len)
{
    size_t n = strlen(rel);
    if (n == 0 || n > 255 || rel[0] == '/' || strstr(rel, ".."))
        return NULL;
    for (const char *p = rel; *p; p++)
        if (!isalnum((unsigned char) *p) && !strchr("._-/", *p))
            return NULL;
    const char *dot = strrchr(rel, '.');
    if (!dot || (strcasecmp(dot, ".png") && strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg")
                 && strcasecmp(dot, ".bmp")))
        return NULL;
    /* the visual index's rule: the data directory, else data/demo */
    if (shop_data_path(rel, buf, len))
        return buf;
    char demo[300];
    snprintf(demo, sizeof demo, "data/demo/%s", rel);
    return shop_data_path(demo, buf, len);
}

/* --- the thread: pages ------------------------------------------------------- */

/* Queues len bytes for conn; closes a page that stopped reading. */
static void
s_send(s_conn_t *c, const char *data, size_t len)
{
    if (c->overflow)
        return;
    if (c->queued >= S_QUEUE_MAX) {
        c->overflow = true;
        log_info("web: session %s: the page does not read its messages; closing it", c->session);
        lws_callback_on_writable(c->wsi);
        return;
    }
    s_msg_t *m = xmalloc(sizeof *m + LWS_PRE + len);
    m->next = NULL;
    m->len = len;
    memcpy(m->buf + LWS_PRE, data, len);
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
    c->queued++;
    lws_callback_on_writable(c->wsi);
}

static void
s_send_error(s_conn_t *c, long long id, const char *msg)
{
    json_t *o = json_pack("{s:s, s:I, s:s}", "kind", "error", "id", (json_int_t) id, "message",
                          msg);
    char *s = json_dumps(o, JSON_COMPACT);
    if (s)
        s_send(c, s, strlen(s));
    free(s);
    json_decref(o);
}

static s_conn_t *
s_conn_by_serial(web_t *w, uint64_t serial)
{
    for (s_conn_t *c = w->conns; c; c = c->next)
        if (c->serial == serial)
            return c;
    return NULL;
}

/* A page's message: forwarded to shopd as a request on the page's session. */
static void
s_page_request(web_t *w, s_conn_t *c, const char *data, size_t len)
{
    long long id;
    char type[PROTO_TYPE_MAX + 1], err[256];
    json_t *body;
    if (web_page_message(data, len, &id, type, sizeof type, &body, err, sizeof err) != 0) {
        s_send_error(c, -1, err);
        return;
    }
    char rid[PROTO_ID_MAX + 1];
    snprintf(rid, sizeof rid, "web-%llu-%lld", (unsigned long long) c->serial, id);
    size_t elen;
    char *env = proto_request_encode(rid, type, c->session, body, &elen);
    json_decref(body);
    if (!env || zmq_send(w->dealer, env, elen, ZMQ_DONTWAIT) < 0)
        s_send_error(c, id, "shopd cannot take the request now");
    free(env);
}

/* A reply from shopd: to the page whose id it carries (gone pages: dropped). */
static void
s_reply(web_t *w, const char *data, size_t len)
{
    json_t *env = json_loadb(data, len, 0, NULL);
    const char *rid = json_string_value(json_object_get(env, "id"));
    unsigned long long serial;
    long long id;
    int used = 0;
    s_conn_t *c = NULL;
    if (rid && sscanf(rid, "web-%llu-%lld%n", &serial, &id, &used) == 2 && !rid[used])
        c = s_conn_by_serial(w, serial);
    json_decref(env);
    if (!c)
        return;
    size_t cap = len + 64;
    char *msg = xmalloc(cap);
    int n = snprintf(msg, cap, "{\"kind\":\"reply\",\"id\":%lld,\"reply\":%.*s}", id, (int) len,
                     data);
    s_send(c, msg, (size_t) n);
    free(msg);
}

/* Keeps msg (len bytes, taken over) as the last answer of session. */
static void
s_remember(web_t *w, const char *session, char *msg, size_t len)
{
    s_recent_t *slot = &w->recent[0];
    for (int i = 0; i < S_RECENT; i++) {
        s_recent_t *r = &w->recent[i];
        if (r->msg && strcmp(r->session, session) == 0) {
            slot = r;
            break;
        }
        if (!r->msg || (slot->msg && r->used < slot->used))
            slot = r;
    }
    free(slot->msg);
    shop_strlcpy(slot->session, session, sizeof slot->session);
    slot->msg = msg;
    slot->len = len;
    slot->used = ++w->clock;
}

/* An event: to every page of its session; an answer is also remembered. */
static void
s_event(web_t *w, const char *data, size_t len)
{
    json_t *env = json_loadb(data, len, 0, NULL);
    const char *session = json_string_value(json_object_get(env, "session"));
    const char *type = json_string_value(json_object_get(env, "type"));
    if (session && type && strlen(session) <= S_SESSION_MAX) {
        size_t cap = len + 32;
        char *msg = xmalloc(cap);
        int n = snprintf(msg, cap, "{\"kind\":\"event\",\"event\":%.*s}", (int) len, data);
        for (s_conn_t *c = w->conns; c; c = c->next)
            if (strcmp(c->session, session) == 0)
                s_send(c, msg, (size_t) n);
        if (strcmp(type, "answer") == 0)
            s_remember(w, session, msg, (size_t) n);
        else
            free(msg);
    }
    json_decref(env);
}

/* Reads everything waiting on the two sockets (see the top of the file). */
static void
s_drain(web_t *w)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, w->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        bool more = zmq_msg_more(&m);
        if (!more)
            s_reply(w, zmq_msg_data(&m), zmq_msg_size(&m));
        zmq_msg_close(&m);
        while (more) { /* a reply is one frame: drop anything else */
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, w->dealer, 0) < 0)
                more = false;
            else
                more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
    }
    for (;;) {
        zmq_msg_t topic, env;
        zmq_msg_init(&topic);
        if (zmq_msg_recv(&topic, w->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&topic);
            break;
        }
        bool more = zmq_msg_more(&topic);
        zmq_msg_close(&topic);
        /* the envelope is the last frame, whatever the topic frames are */
        zmq_msg_init(&env);
        while (more) {
            zmq_msg_close(&env);
            zmq_msg_init(&env);
            if (zmq_msg_recv(&env, w->sub, 0) < 0)
                break;
            more = zmq_msg_more(&env);
            if (!more)
                s_event(w, zmq_msg_data(&env), zmq_msg_size(&env));
        }
        zmq_msg_close(&env);
    }
    /* reading ZMQ_EVENTS re-arms the notification fds */
    int ev;
    size_t sz = sizeof ev;
    zmq_getsockopt(w->dealer, ZMQ_EVENTS, &ev, &sz);
    zmq_getsockopt(w->sub, ZMQ_EVENTS, &ev, &sz);
}

static void
s_conn_free(web_t *w, s_conn_t *c)
{
    for (s_conn_t **p = &w->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    for (s_msg_t *m = c->head, *n; m; m = n) {
        n = m->next;
        free(m);
    }
    c->head = c->tail = NULL;
    free(c->rx);
    c->rx = NULL;
}

/* Constant-time comparison of the presented token with the configured one. */
static bool
s_token_ok(const web_t *w, const char *given)
{
    size_t a = strlen(w->token), b = strlen(given);
    unsigned char diff = (unsigned char) (a != b);
    for (size_t i = 0; i < a; i++)
        diff |= (unsigned char) (w->token[i] ^ (i < b ? given[i] : 0));
    return diff == 0;
}

static int
s_ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    web_t *w = lws_context_user(lws_get_context(wsi));
    s_conn_t *c = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char buf[256];
        const char *sess = lws_get_urlarg_by_name(wsi, "session=", buf, sizeof buf);
        if (!sess || !web_session_valid(sess)) {
            log_info("web: a page without a valid ?session= was refused");
            return 1;
        }
        char session[S_SESSION_MAX + 1];
        shop_strlcpy(session, sess, sizeof session);
        if (w->token[0]) {
            const char *tok = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof buf);
            if (!tok || !s_token_ok(w, tok)) {
                log_info("web: a page with a wrong or no token was refused");
                return 1;
            }
        }
        memset(c, 0, sizeof *c);
        shop_strlcpy(c->session, session, sizeof c->session);
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        c->wsi = wsi;
        c->serial = ++w->next_serial;
        c->next = w->conns;
        w->conns = c;
        log_debug("web: page of session %s connected", c->session);
        for (int i = 0; i < S_RECENT; i++)
            if (w->recent[i].msg && strcmp(w->recent[i].session, c->session) == 0)
                s_send(c, w->recent[i].msg, w->recent[i].len);
        return 0;
    case LWS_CALLBACK_RECEIVE: {
        if (c->rxlen + len > S_RX_MAX) {
            s_send_error(c, -1, "message over 64 KiB");
            free(c->rx);
            c->rx = NULL;
            c->rxlen = 0;
            return lws_is_final_fragment(wsi) ? 0 : -1;
        }
        c->rx = xrealloc(c->rx, c->rxlen + len + 1);
        memcpy(c->rx + c->rxlen, in, len);
        c->rxlen += len;
        if (!lws_is_final_fragment(wsi))
            return 0;
        s_page_request(w, c, c->rx, c->rxlen);
        free(c->rx);
        c->rx = NULL;
        c->rxlen = 0;
        s_drain(w);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (c->overflow)
            return -1;
        s_msg_t *m = c->head;
        if (!m)
            return 0;
        if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int) m->len)
            return -1;
        c->head = m->next;
        if (!c->head)
            c->tail = NULL;
        c->queued--;
        free(m);
        if (c->head)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        log_debug("web: page of session %s closed", c->session);
        s_conn_free(w, c);
        return 0;
    default:
        return 0;
    }
}

/* HTTP: the page's files come from the mount; product photos from here. */
static int
s_http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    if (reason == LWS_CALLBACK_HTTP) {
        /* in: the whole path, "/photo/photos/bag-01.png" */
        const char *rel = in ? (const char *) in : "";
        if (strncmp(rel, "/photo/", 7) == 0)
            rel += 7;
        char path[1024];
        const char *file = web_photo_file(rel, path, sizeof path);
        if (!file) {
            lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        const char *dot = strrchr(file, '.');
        const char *mime = !strcasecmp(dot, ".png")   ? "image/png"
                           : !strcasecmp(dot, ".bmp") ? "image/bmp"
                                                      : "image/jpeg";
        int n = lws_serve_http_file(wsi, file, mime, NULL, 0);
        if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
            return -1;
        return 0;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ZeroMQ's notification fds: a turn of the loop drains the sockets. */
static int
s_zmq_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    if (reason == LWS_CALLBACK_RAW_RX_FILE)
        s_drain(lws_context_user(lws_get_context(wsi)));
    return 0;
}

static void
s_tick(lws_sorted_usec_list_t *sul)
{
    web_t *w = lws_container_of(sul, web_t, tick);
    s_drain(w);
    lws_sul_schedule(w->lws, 0, &w->tick, s_tick, LWS_US_PER_SEC);
}

static void *
s_socket(web_t *w, int type, const char *endpoint)
{
    void *s = zmq_socket(w->ctx, type);
    if (!s) {
        snprintf(w->thread_err, sizeof w->thread_err, "web: socket: %s",
                 zmq_strerror(zmq_errno()));
        return NULL;
    }
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    /* CURVE on the request socket; the events come from a PUB of its own */
    if (w->server_public[0] && type == ZMQ_DEALER
        && (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, w->server_public, 40) != 0
            || zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, w->client_public, 40) != 0
            || zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, w->client_secret, 40) != 0)) {
        snprintf(w->thread_err, sizeof w->thread_err, "web: CURVE keys: %s",
                 zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(s, endpoint) != 0) {
        snprintf(w->thread_err, sizeof w->thread_err, "web: cannot connect to %.100s: %s",
                 endpoint, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    /* libwebsockets closes the fds it adopted: give it a copy */
    int fd;
    size_t fl = sizeof fd;
    lws_sock_file_fd_type u;
    if (zmq_getsockopt(s, ZMQ_FD, &fd, &fl) != 0 || (u.filefd = dup(fd)) < 0
        || !lws_adopt_descriptor_vhost(w->vhost, LWS_ADOPT_RAW_FILE_DESC, u, "shopd-zmq",
                                       NULL)) {
        snprintf(w->thread_err, sizeof w->thread_err, "web: cannot watch a socket's fd");
        zmq_close(s);
        return NULL;
    }
    return s;
}

static void *
s_thread(void *arg)
{
    web_t *w = arg;
    w->dealer = s_socket(w, ZMQ_DEALER, w->requests);
    w->sub = w->dealer ? s_socket(w, ZMQ_SUB, w->events) : NULL;
    w->thread_rc = w->sub ? 0 : -1;
    sem_post(&w->ready);
    if (w->thread_rc == 0) {
        lws_sul_schedule(w->lws, 0, &w->tick, s_tick, LWS_US_PER_SEC);
        while (!atomic_load(&w->stop)) {
            s_drain(w);
            if (lws_service(w->lws, 0) < 0)
                break;
        }
        lws_sul_cancel(&w->tick);
    }
    while (w->conns)
        s_conn_free(w, w->conns);
    for (int i = 0; i < S_RECENT; i++)
        free(w->recent[i].msg);
    if (w->dealer)
        zmq_close(w->dealer);
    if (w->sub)
        zmq_close(w->sub);
    w->dealer = w->sub = NULL;
    return NULL;
}

/* libwebsockets' own messages go to shopd's log */
static void
s_lws_log(int level, const char *line)
{
    char buf[512];
    shop_strlcpy(buf, line, sizeof buf);
    buf[strcspn(buf, "\n")] = 0;
    if (level & LLL_ERR)
        log_warn("web: %s", buf);
    else
        log_info("web: %s", buf);
}

web_t *
web_new(void *ctx, const web_opts_t *o, char *err, size_t errlen)
{
    if (web_check(o->listen, o->token, err, errlen) != 0)
        return NULL;
    web_t *w = xcalloc(1, sizeof *w);
    w->ctx = ctx;
    web_parse_listen(o->listen, w->addr, sizeof w->addr, &w->port, err, errlen);
    shop_strlcpy(w->token, o->token ? o->token : "", sizeof w->token);
    shop_strlcpy(w->requests, o->requests, sizeof w->requests);
    shop_strlcpy(w->events, o->events, sizeof w->events);
    if (o->server_public) {
        shop_strlcpy(w->server_public, o->server_public, sizeof w->server_public);
        shop_strlcpy(w->client_public, o->client_public, sizeof w->client_public);
        shop_strlcpy(w->client_secret, o->client_secret, sizeof w->client_secret);
    }
    char index[1024];
    if (!shop_data_path("data/web/index.html", index, sizeof index)) {
        snprintf(err, errlen, "web: the kiosk page (data/web/index.html) is missing");
        free(w);
        return NULL;
    }
    *strrchr(index, '/') = 0;
    shop_strlcpy(w->webdir, index, sizeof w->webdir);
    sem_init(&w->ready, 0, 0);

    lws_set_log_level(LLL_ERR | LLL_WARN, s_lws_log);
    w->protocols[0] = (struct lws_protocols) { .name = "http", .callback = s_http_cb };
    w->protocols[1] = (struct lws_protocols) { .name = "shopd-kiosk", .callback = s_ws_cb,
                                               .per_session_data_size = sizeof(s_conn_t),
                                               .rx_buffer_size = 16384 };
    w->protocols[2] = (struct lws_protocols) { .name = "shopd-zmq", .callback = s_zmq_cb };
    w->mounts[0] = (struct lws_http_mount) { .mount_next = &w->mounts[1], .mountpoint = "/",
                                             .mountpoint_len = 1, .origin = w->webdir,
                                             .def = "index.html",
                                             .origin_protocol = LWSMPRO_FILE };
    w->mounts[1] = (struct lws_http_mount) { .mountpoint = "/photo", .mountpoint_len = 6,
                                             .origin = "http",
                                             .origin_protocol = LWSMPRO_CALLBACK };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = w->port;
    /* lws binds a name as an interface: give it the address */
    info.iface = strcmp(w->addr, "localhost") == 0 ? "127.0.0.1" : w->addr;
    info.protocols = w->protocols;
    info.mounts = w->mounts;
    info.user = w;
    info.vhost_name = "shopd";
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (strchr(w->addr, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    w->lws = lws_create_context(&info);
    w->vhost = w->lws ? lws_get_vhost_by_name(w->lws, "shopd") : NULL;
    if (!w->vhost) {
        snprintf(err, errlen, "web: cannot listen on %s (see the log above)", o->listen);
        web_destroy(&w);
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, s_thread, w) != 0) {
        snprintf(err, errlen, "web: cannot start its thread");
        web_destroy(&w);
        return NULL;
    }
    w->started = true;
    sem_wait(&w->ready);
    if (w->thread_rc != 0) {
        snprintf(err, errlen, "%s", w->thread_err);
        web_destroy(&w);
        return NULL;
    }
    log_info("web: kiosk page on http://%s/?session=ID%s", o->listen,
             w->token[0] ? " (with the token)" : "");
    return w;
}

void
web_destroy(web_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    web_t *w = *self_p;
    if (w->started) {
        atomic_store(&w->stop, true);
        lws_cancel_service(w->lws);
        pthread_join(w->thread, NULL);
    }
    if (w->lws)
        lws_context_destroy(w->lws);
    sem_destroy(&w->ready);
    explicit_bzero(w->client_secret, sizeof w->client_secret);
    free(w);
    *self_p = NULL;
}
