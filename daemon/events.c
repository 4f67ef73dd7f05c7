/* daemon/events.c: see events.h */
#include "config.h"

#include "daemon/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "common/log.h"
#include "common/ratelimit.h"
#include "common/util.h"
#include "daemon/netguard.h"
#include "ipc/proto.h"

struct _events_t {
    void *xpub;                          /* borrowed */
    bool null_is_operator;
    char (*ops)[KEYS_Z85_LEN + 1];       /* operator keys */
    size_t nops;
    unsigned long refused;
    ratelimit_t *rl;
};

events_t *
events_new(void *xpub, bool null_is_operator, char *err, size_t errlen)
{
    int one = 1;
    if (zmq_setsockopt(xpub, ZMQ_XPUB_MANUAL, &one, sizeof one) != 0) {
        snprintf(err, errlen, "ZMQ_XPUB_MANUAL: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    events_t *self = xcalloc(1, sizeof *self);
    self->xpub = xpub;
    self->null_is_operator = null_is_operator;
    self->rl = ratelimit_new(10000);
    return self;
}

void
events_destroy(events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->ops);
    ratelimit_destroy(&(*self_p)->rl);
    free(*self_p);
    *self_p = NULL;
}

void
events_set_operators(events_t *self, const char (*keys)[KEYS_Z85_LEN + 1], size_t n)
{
    free(self->ops);
    self->ops = n ? xmallocarray(n, sizeof *self->ops) : NULL;
    if (n)
        memcpy(self->ops, keys, n * sizeof *self->ops);
    self->nops = n;
}

void
events_set_log_interval(events_t *self, int interval_ms)
{
    ratelimit_set_interval(self->rl, interval_ms);
}

unsigned long
events_refused(const events_t *self)
{
    return self->refused;
}

static bool
s_operator(const events_t *self, const char *user)
{
    if (!user[0])
        return self->null_is_operator;
    for (size_t i = 0; i < self->nops; i++)
        if (strcmp(self->ops[i], user) == 0)
            return true;
    return false;
}

events_topic_t
events_classify(const char *topic, size_t len, char *session)
{
    session[0] = 0;
    if (len == 0)
        return EVENTS_TOPIC_WIDE;
    if (topic[0] != '@')
        return EVENTS_TOPIC_DAEMON; /* never matches "@..." topics */
    const char *slash = memchr(topic, '/', len);
    size_t slen = slash ? (size_t) (slash - topic) - 1 : 0;
    if (!slash || slen == 0 || slen > PROTO_SESSION_MAX || memchr(topic + 1, 0, slen))
        return EVENTS_TOPIC_WIDE;
    memcpy(session, topic + 1, slen);
    session[slen] = 0;
    return EVENTS_TOPIC_SESSION;
}

/* Whether a subscription to topic (len bytes) may be applied for user. */
static bool
s_allowed(const events_t *self, const char *topic, size_t len, const char *user,
          events_may_fn may, void *ud)
{
    if (s_operator(self, user))
        return true;
    char session[PROTO_SESSION_MAX + 1];
    switch (events_classify(topic, len, session)) {
    case EVENTS_TOPIC_DAEMON:
        return true;
    case EVENTS_TOPIC_SESSION:
        return may(ud, session, user);
    case EVENTS_TOPIC_WIDE:
        break;
    }
    return false;
}

int
events_handle(events_t *self, events_may_fn may, void *ud)
{
    int n = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, self->xpub, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&m);
            return e == EAGAIN || e == EINTR ? n : -1;
        }
        n++;
        const char *data = zmq_msg_data(&m);
        size_t len = zmq_msg_size(&m);
        const char *u = zmq_msg_gets(&m, "User-Id");
        char user[KEYS_Z85_LEN + 1];
        shop_strlcpy(user, u ? u : "", sizeof user);
        int fd = zmq_msg_get(&m, ZMQ_SRCFD);
        netguard_message_read(fd);
        if (fd >= 0 && user[0])
            netguard_set_user(fd, user);
        if (len >= 1 && (data[0] == 0 || data[0] == 1) && !zmq_msg_more(&m)) {
            const char *topic = data + 1;
            size_t tlen = len - 1;
            if (data[0] == 0) {
                /* dropping a subscription is always allowed */
                zmq_setsockopt(self->xpub, ZMQ_UNSUBSCRIBE, topic, tlen);
            } else if (s_allowed(self, topic, tlen, user, may, ud)) {
                zmq_setsockopt(self->xpub, ZMQ_SUBSCRIBE, topic, tlen);
            } else {
                self->refused++;
                unsigned long held = 0;
                const char *who = user[0] ? user : "a client without a key";
                if (ratelimit_allow(self->rl, who, shop_now_ns(), &held))
                    log_notice("events: subscription refused to %s: \"%.*s\" is not its "
                               "session%s", who, (int) SHOP_MIN(tlen, 80), topic,
                               held ? " (and more since the last line)" : "");
            }
        }
        while (zmq_msg_more(&m)) {
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, self->xpub, 0) < 0)
                break;
        }
        zmq_msg_close(&m);
    }
}
