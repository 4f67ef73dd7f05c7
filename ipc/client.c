/* ipc/client.c: see client.h */
#include "config.h"

#include "ipc/client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "common/util.h"
#include "ipc/sock.h"

struct _client_t {
    void *ctx;          /* own context: a client never shares sockets */
    void *sock;         /* DEALER connected to shopd's ROUTER */
    uint64_t nonce;     /* random per client: ids stay unique across restarts */
    uint64_t counter;   /* requests sent */
};

#define S_SUB_TYPES 16

struct _client_sub_t {
    void *ctx;
    void *sock;         /* SUB connected to shopd's PUB */
    char types[S_SUB_TYPES][PROTO_TYPE_MAX + 1]; /* types wanted (all when none) */
    int ntypes;
};

static uint64_t
s_random64(void)
{
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &v, sizeof v) != (ssize_t) sizeof v)
            v = 0;
        close(fd);
    }
    return v ^ shop_now_ns() ^ ((uint64_t) getpid() << 32);
}

/* Creates a socket of type on a new context, applies the shared options and
 * CURVE, and connects. Returns 0 or -1 with err filled (nothing left open). */
static int
s_open(int type, const char *endpoint, const client_curve_t *curve, void **ctx_p,
       void **sock_p, char *err, size_t errlen)
{
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, type) : NULL;
    if (!s) {
        snprintf(err, errlen, "cannot create a ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
        goto err;
    }
    sock_opts_t o;
    sock_opts_default(&o);
    o.linger_ms = 0;
    if (sock_apply(s, &o, err, errlen) != 0)
        goto err;
    if (curve && sock_curve_client(s, curve->server_public, curve->client_public,
                                   curve->client_secret, err, errlen) != 0)
        goto err;
    if (!curve && !sock_endpoint_is_local(endpoint)) {
        snprintf(err, errlen, "%s is not a local endpoint: give CURVE keys to reach it",
                 endpoint);
        goto err;
    }
    if (zmq_connect(s, endpoint) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", endpoint, zmq_strerror(zmq_errno()));
        goto err;
    }
    *ctx_p = ctx;
    *sock_p = s;
    return 0;
err:
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    return -1;
}

client_t *
client_new(const char *endpoint, const client_curve_t *curve, char *err, size_t errlen)
{
    client_t *self = xcalloc(1, sizeof *self);
    if (s_open(ZMQ_DEALER, endpoint, curve, &self->ctx, &self->sock, err, errlen) != 0) {
        free(self);
        return NULL;
    }
    self->nonce = s_random64();
    return self;
}

void
client_destroy(client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    client_t *self = *self_p;
    zmq_close(self->sock);
    zmq_ctx_term(self->ctx);
    free(self);
    *self_p = NULL;
}

void *
client_socket(client_t *self)
{
    return self->sock;
}

/* Receives one whole message; returns its first frame in *first (caller
 * closes) and drops any further frames. Returns 0, or -1 (errno). */
static int
s_recv_first(void *s, zmq_msg_t *first)
{
    zmq_msg_init(first);
    if (zmq_msg_recv(first, s, 0) < 0) {
        zmq_msg_close(first);
        return -1;
    }
    while (zmq_msg_more(first)) {
        zmq_msg_t rest;
        zmq_msg_init(&rest);
        int rc = zmq_msg_recv(&rest, s, 0);
        int more = rc >= 0 && zmq_msg_more(&rest);
        zmq_msg_close(&rest);
        if (!more)
            break;
    }
    return 0;
}

int
client_request(client_t *self, const char *type, const char *session, const json_t *body,
               const void *const *frames, const size_t *sizes, size_t nframes,
               int timeout_ms, proto_reply_t *reply, char *err, size_t errlen)
{
    memset(reply, 0, sizeof *reply);
    char id[PROTO_ID_MAX + 1];
    snprintf(id, sizeof id, "%ld-%016llx-%llu", (long) getpid(),
             (unsigned long long) self->nonce, (unsigned long long) ++self->counter);
    size_t len;
    char *env = proto_request_encode(id, type, session, body, &len);
    int rc = zmq_send(self->sock, env, len, nframes ? ZMQ_SNDMORE : 0);
    free(env);
    for (size_t i = 0; rc >= 0 && i < nframes; i++)
        rc = zmq_send(self->sock, frames[i], sizes[i], i + 1 < nframes ? ZMQ_SNDMORE : 0);
    if (rc < 0) {
        snprintf(err, errlen, "cannot send: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    uint64_t deadline = shop_now_ns() + (uint64_t) timeout_ms * 1000000u;
    for (;;) {
        uint64_t now = shop_now_ns();
        long left = now >= deadline ? 0 : (long) ((deadline - now) / 1000000u);
        zmq_pollitem_t item = { .socket = self->sock, .events = ZMQ_POLLIN };
        int n = zmq_poll(&item, 1, left);
        if (n < 0) {
            snprintf(err, errlen, "interrupted while waiting: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        if (n == 0) {
            reply->code = PROTO_E_TIMEOUT;
            snprintf(err, errlen, "no reply to \"%s\" within %d ms", type, timeout_ms);
            return -1;
        }
        zmq_msg_t m;
        if (s_recv_first(self->sock, &m) != 0) {
            snprintf(err, errlen, "cannot receive: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        proto_err_t prc = proto_reply_decode(zmq_msg_data(&m), zmq_msg_size(&m), reply, err,
                                             errlen);
        zmq_msg_close(&m);
        if (prc != PROTO_OK)
            return -1;
        if (strcmp(reply->id, id) == 0)
            return 0;
        /* a late reply to an earlier request that timed out: not ours */
        proto_reply_clear(reply);
    }
}

/* Subscribes to topic prefix t. */
static void
s_subscribe(client_sub_t *self, const char *t)
{
    zmq_setsockopt(self->sock, ZMQ_SUBSCRIBE, t, strlen(t));
}

client_sub_t *
client_sub_new(const char *endpoint, const client_curve_t *curve, const char *session,
               const char *const *types, char *err, size_t errlen)
{
    client_sub_t *self = xcalloc(1, sizeof *self);
    for (size_t i = 0; types && types[i]; i++) {
        if (self->ntypes == S_SUB_TYPES || strlen(types[i]) > PROTO_TYPE_MAX) {
            snprintf(err, errlen, "at most %d event types of at most %d bytes", S_SUB_TYPES,
                     PROTO_TYPE_MAX);
            free(self);
            return NULL;
        }
        shop_strlcpy(self->types[self->ntypes++], types[i], sizeof self->types[0]);
    }
    if (session && (!*session || strlen(session) > PROTO_SESSION_MAX || strchr(session, '/'))) {
        snprintf(err, errlen, "a session is 1 to %d bytes without '/'", PROTO_SESSION_MAX);
        free(self);
        return NULL;
    }
    if (s_open(ZMQ_SUB, endpoint, curve, &self->ctx, &self->sock, err, errlen) != 0) {
        free(self);
        return NULL;
    }
    char t[PROTO_SESSION_MAX + PROTO_TYPE_MAX + 4];
    if (session) {
        /* the session's events, and the daemon's status when asked for */
        bool status = self->ntypes == 0;
        for (int i = 0; i < self->ntypes; i++) {
            status |= strcmp(self->types[i], "status") == 0;
            if (proto_event_topic(self->types[i], session, t, sizeof t) > 0)
                s_subscribe(self, t);
        }
        if (self->ntypes == 0 && proto_event_topic("", session, t, sizeof t) > 0)
            s_subscribe(self, t);
        if (status)
            s_subscribe(self, "status");
    } else if (self->ntypes == 0) {
        s_subscribe(self, "");
    } else {
        /* every session's events of these types: "@" and a filter here */
        s_subscribe(self, "@");
        for (int i = 0; i < self->ntypes; i++)
            s_subscribe(self, self->types[i]);
    }
    return self;
}

/* Whether the event type is one the subscriber asked for. */
static bool
s_wanted(const client_sub_t *self, const char *type)
{
    for (int i = 0; i < self->ntypes; i++)
        if (strcmp(self->types[i], type) == 0)
            return true;
    return self->ntypes == 0;
}

void
client_sub_destroy(client_sub_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    client_sub_t *self = *self_p;
    zmq_close(self->sock);
    zmq_ctx_term(self->ctx);
    free(self);
    *self_p = NULL;
}

/* Receives one event as client_sub_recv does, whatever its type. */
static int
s_sub_recv_any(client_sub_t *self, int timeout_ms, char *topic, size_t topiclen,
               json_t **event, char *err, size_t errlen)
{
    zmq_pollitem_t item = { .socket = self->sock, .events = ZMQ_POLLIN };
    int n = zmq_poll(&item, 1, timeout_ms);
    if (n < 0) {
        snprintf(err, errlen, "interrupted: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (n == 0)
        return 1;
    zmq_msg_t t, m;
    zmq_msg_init(&t);
    zmq_msg_init(&m);
    int rc = -1;
    if (zmq_msg_recv(&t, self->sock, 0) < 0 || !zmq_msg_more(&t)
        || zmq_msg_recv(&m, self->sock, 0) < 0) {
        snprintf(err, errlen, "malformed event: expected [topic][envelope]");
        goto out;
    }
    char full[PROTO_SESSION_MAX + PROTO_TYPE_MAX + 4];
    size_t tl = SHOP_MIN(zmq_msg_size(&t), sizeof full - 1);
    memcpy(full, zmq_msg_data(&t), tl);
    full[tl] = 0;
    shop_strlcpy(topic, proto_topic_type(full), topiclen);
    json_error_t jerr;
    *event = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &jerr);
    if (!*event) {
        snprintf(err, errlen, "event is not JSON: %s", jerr.text);
        goto out;
    }
    rc = 0;
out:
    /* drop any frames beyond the two expected */
    while (zmq_msg_more(&m)) {
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, self->sock, 0) < 0)
            break;
    }
    zmq_msg_close(&t);
    zmq_msg_close(&m);
    return rc;
}

int
client_sub_recv(client_sub_t *self, int timeout_ms, char *topic, size_t topiclen,
                json_t **event, char *err, size_t errlen)
{
    uint64_t end = shop_now_ns() + (uint64_t) (timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
    for (;;) {
        int wait = timeout_ms;
        if (timeout_ms > 0) {
            uint64_t now = shop_now_ns();
            wait = now >= end ? 0 : (int) ((end - now) / 1000000u);
        }
        int rc = s_sub_recv_any(self, wait, topic, topiclen, event, err, errlen);
        if (rc != 0 || s_wanted(self, topic))
            return rc;
        json_decref(*event);
        *event = NULL;
        if (timeout_ms == 0 || (timeout_ms > 0 && shop_now_ns() >= end))
            return 1;
    }
}
