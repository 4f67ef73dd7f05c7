/* ipc/zap.c: see zap.h */
#include "config.h"

#include "ipc/zap.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "common/log.h"
#include "common/ratelimit.h"
#include "common/util.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
/* A ZAP request has 6 frames plus the mechanism's credentials (one for CURVE,
 * two for PLAIN); any more is not a ZAP request. */
#define S_MAX_FRAMES 8

struct _zap_t {
    void *sock;                          /* REP bound on the ZAP endpoint */
    char (*keys)[KEYS_Z85_LEN + 1];      /* allowed client public keys, Z85 */
    size_t count;                        /* entries in keys */
    char internal[KEYS_Z85_LEN + 1];     /* the daemon's own client key, "" = none */
    unsigned long accepted, refused;     /* connection decisions so far */
    ratelimit_t *rl;                     /* one refusal line per key per interval */
};

zap_t *
zap_new(void *ctx, char *err, size_t errlen)
{
    zap_t *self = xcalloc(1, sizeof *self);
    self->rl = ratelimit_new(10000);
    self->sock = zmq_socket(ctx, ZMQ_REP);
    if (!self->sock) {
        snprintf(err, errlen, "ZAP socket: %s", zmq_strerror(zmq_errno()));
        goto err;
    }
    int zero = 0;
    zmq_setsockopt(self->sock, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(self->sock, S_ZAP_ENDPOINT) != 0) {
        snprintf(err, errlen, "cannot bind the ZAP handler on %s: %s", S_ZAP_ENDPOINT,
                 zmq_strerror(zmq_errno()));
        goto err;
    }
    return self;
err:
    zap_destroy(&self);
    return NULL;
}

void
zap_destroy(zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zap_t *self = *self_p;
    if (self->sock)
        zmq_close(self->sock);
    free(self->keys);
    ratelimit_destroy(&self->rl);
    free(self);
    *self_p = NULL;
}

void
zap_set_allowed(zap_t *self, const char (*keys)[KEYS_Z85_LEN + 1], size_t count)
{
    free(self->keys);
    self->keys = count ? xmallocarray(count, sizeof *self->keys) : NULL;
    if (count)
        memcpy(self->keys, keys, count * sizeof *self->keys);
    self->count = count;
}

void
zap_set_log_interval(zap_t *self, int interval_ms)
{
    ratelimit_set_interval(self->rl, interval_ms);
}

size_t
zap_allowed_count(const zap_t *self)
{
    return self->count;
}

void
zap_set_internal(zap_t *self, const char *z85)
{
    shop_strlcpy(self->internal, z85 ? z85 : "", sizeof self->internal);
}

bool
zap_is_allowed(const zap_t *self, const char *z85)
{
    if (self->internal[0] && strcmp(self->internal, z85) == 0)
        return true;
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->keys[i], z85) == 0)
            return true;
    return false;
}

void *
zap_socket(zap_t *self)
{
    return self->sock;
}

void
zap_stats(const zap_t *self, unsigned long *accepted, unsigned long *refused)
{
    *accepted = self->accepted;
    *refused = self->refused;
}

static bool
s_frame_is(const zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size((zmq_msg_t *) m) == n && memcmp(zmq_msg_data((zmq_msg_t *) m), s, n) == 0;
}

/* Decides one request made of n frames: returns the ZAP status code and a
 * text, and the user id (the client key) when accepted. */
static const char *
s_decide(zap_t *self, zmq_msg_t *f, int n, const char **text, char user[KEYS_Z85_LEN + 1])
{
    user[0] = 0;
    if (n < 6 || !s_frame_is(&f[0], "1.0")) {
        *text = "not a ZAP 1.0 request";
        return "400";
    }
    if (s_frame_is(&f[5], "NULL")) {
        *text = "NULL mechanism on a local endpoint";
        return "200";
    }
    if (!s_frame_is(&f[5], "CURVE") || n != 7 || zmq_msg_size(&f[6]) != 32) {
        *text = "mechanism not allowed";
        return "400";
    }
    zmq_z85_encode(user, zmq_msg_data(&f[6]), 32);
    if (!zap_is_allowed(self, user)) {
        *text = "client key not allowed";
        return "400";
    }
    *text = "OK";
    return "200";
}

static int
s_send(void *s, const void *data, size_t len, bool more)
{
    return zmq_send(s, data, len, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

int
zap_handle(zap_t *self)
{
    int handled = 0;
    for (;;) {
        zmq_msg_t f[S_MAX_FRAMES];
        int n = 0, more = 1, rc = 0;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            rc = zmq_msg_recv(&m, self->sock, n == 0 ? ZMQ_DONTWAIT : 0);
            if (rc < 0) {
                zmq_msg_close(&m);
                break;
            }
            more = zmq_msg_more(&m);
            if (n < S_MAX_FRAMES)
                f[n++] = m;
            else
                zmq_msg_close(&m);
        }
        if (rc < 0 && n == 0)
            return zmq_errno() == EAGAIN ? handled : -1;
        const char *text, *status;
        char user[KEYS_Z85_LEN + 1];
        status = s_decide(self, f, n, &text, user);
        if (strcmp(status, "200") == 0)
            self->accepted++;
        else {
            self->refused++;
            /* one line per peer address (a client making up a new key for
             * every connection is still one peer), else per key */
            char addr[64] = "";
            if (n >= 4 && zmq_msg_size(&f[3]) > 0 && zmq_msg_size(&f[3]) < sizeof addr) {
                memcpy(addr, zmq_msg_data(&f[3]), zmq_msg_size(&f[3]));
                for (char *p = addr; *p; p++)
                    if (*p < 0x20 || *p > 0x7e)
                        *p = '?';
            }
            unsigned long held = 0;
            const char *key = addr[0] ? addr : user[0] ? user : text;
            if (ratelimit_allow(self->rl, key, shop_now_ns(), &held)) {
                if (held)
                    log_notice("zap: refused a connection%s%s: %s%s%s (%lu more refused since "
                               "the last line)", addr[0] ? " from " : "", addr, text,
                               user[0] ? " " : "", user, held);
                else
                    log_notice("zap: refused a connection%s%s: %s%s%s", addr[0] ? " from " : "",
                               addr, text, user[0] ? " " : "", user);
            }
        }
        /* reply: version, request id, status code, text, user id, metadata */
        int src = s_send(self->sock, "1.0", 3, true);
        if (n >= 2)
            src |= s_send(self->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), true);
        else
            src |= s_send(self->sock, "", 0, true);
        src |= s_send(self->sock, status, 3, true);
        src |= s_send(self->sock, text, strlen(text), true);
        src |= s_send(self->sock, user, strlen(user), true);
        src |= s_send(self->sock, "", 0, false);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        if (src != 0)
            return -1;
        handled++;
    }
}
