/* daemon/events.h: the event socket, and who may see which events.
 *
 * Events go out on an XPUB socket with topics "@SESSION/TYPE" (an event of
 * a session) or "TYPE" (the daemon's own: status). ZMQ_XPUB_MANUAL hands
 * every (un)subscription to shopd, which applies it only when allowed:
 * - a topic that cannot match a session's events ("status", "cart"...):
 *   anyone;
 * - "@SESSION/..." (one whole session id and a slash): an operator, or a
 *   client the session's owner check admits (events_may_fn: the key that
 *   created the session; a session nobody owns is known only to those it
 *   was given to, and anonymous ones are unguessable);
 * - anything wider ("", "@", "@kio"): operators only.
 * An operator is a CURVE key on the [curve] operator_keys list, or, without
 * CURVE, a client of an ipc:// socket file (only shopd's user and root can
 * connect to it: umask 077). Refusals are logged once per key per interval.
 * The subscriber's key is the ZAP User-Id of its subscription message; its
 * connection is recorded with netguard_set_user, so revoking the key cuts
 * it off (netguard_cut_users). */
#ifndef SHOP_DAEMON_EVENTS_H
#define SHOP_DAEMON_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "ipc/keys.h"

typedef struct _events_t events_t;

/* What a subscription topic (len bytes, any bytes) can match. */
typedef enum {
    EVENTS_TOPIC_DAEMON = 0,   /* no session's events: "status", "ca" */
    EVENTS_TOPIC_SESSION,      /* one session's: "@SESSION/..." (*session filled) */
    EVENTS_TOPIC_WIDE,         /* several sessions': "", "@", "@kio", a bad session */
} events_topic_t;

/* Classifies topic; session (PROTO_SESSION_MAX + 1 bytes) gets the session
 * of an EVENTS_TOPIC_SESSION topic. */
events_topic_t events_classify(const char *topic, size_t len, char *session);

/* Whether the client with key user ("" without CURVE) may receive the
 * events of session. */
typedef bool (*events_may_fn)(void *ud, const char *session, const char *user);

/* Configures the XPUB socket xpub (borrowed; not yet bound) for manual
 * subscriptions. null_is_operator: NULL-mechanism subscribers are
 * operators (an ipc:// socket file endpoint without CURVE). Returns the
 * policy, or NULL with err. */
events_t *events_new(void *xpub, bool null_is_operator, char *err, size_t errlen);
/* Safe on NULL; nulls *self_p. Does not close the socket. */
void events_destroy(events_t **self_p);

/* Replaces the operator keys (copied). */
void events_set_operators(events_t *self, const char (*keys)[KEYS_Z85_LEN + 1], size_t n);
/* Refusals logged at most once per key per interval_ms. */
void events_set_log_interval(events_t *self, int interval_ms);

/* Reads every pending (un)subscription on the socket and applies the
 * allowed ones. Returns the number read, or -1 on a socket error. */
int events_handle(events_t *self, events_may_fn may, void *ud);

/* Subscriptions refused so far. */
unsigned long events_refused(const events_t *self);

#endif
