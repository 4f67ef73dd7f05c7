/* ipc/client.h: the C client library of shopd (shopctl and C frontends link it).
 *
 * client_t sends requests on a DEALER socket and waits for the reply that
 * carries the same request id. Ids are unique per process and per request
 * ("<pid>-<random>-<counter>"), so a late reply to a request that timed out
 * is recognised and dropped instead of being taken for the next one's.
 * client_sub_t receives the event stream of a shopd PUB socket.
 * Both speak CURVE when given keys, and NULL security otherwise (for ipc://
 * and loopback endpoints). Neither is thread-safe: one per thread. */
#ifndef SHOP_IPC_CLIENT_H
#define SHOP_IPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ipc/proto.h"

typedef struct _client_t client_t;
typedef struct _client_sub_t client_sub_t;

/* CURVE parameters: all three Z85 keys (40 characters), or pass NULL for none. */
typedef struct {
    const char *server_public;
    const char *client_public;
    const char *client_secret;
} client_curve_t;

/* Connects to a shopd request endpoint. Returns the client, or NULL with
 * err filled. Connection happens in the background: a server that is not
 * up yet is reached once it is. */
client_t *client_new(const char *endpoint, const client_curve_t *curve, char *err,
                     size_t errlen);
/* Closes the client; safe on NULL, nulls *self_p. */
void client_destroy(client_t **self_p);

/* Sends one request (type, optional session, body borrowed, may be NULL) with
 * nframes binary frames (frames[i] of sizes[i] bytes, may be 0 frames), and
 * waits up to timeout_ms for its reply.
 * Returns 0 with *reply filled (reply->ok false for an error reply from
 * shopd; release with proto_reply_clear), or -1 with err filled when nothing
 * usable came back in time (reply->code = PROTO_E_TIMEOUT) or the reply was
 * unreadable. */
int client_request(client_t *self, const char *type, const char *session, const json_t *body,
                   const void *const *frames, const size_t *sizes, size_t nframes,
                   int timeout_ms, proto_reply_t *reply, char *err, size_t errlen);

/* The raw DEALER socket, for tests that must send hand-made frames. */
void *client_socket(client_t *self);

/* Subscribes to the events endpoint: the events of session (topics
 * "@SESSION/TYPE"), or with session NULL those of every session (an
 * operator's view: shopd refuses it to other clients) and the daemon's own
 * (status); types is a NULL-terminated list of event types ("status",
 * "intent", ...), or NULL for all. shopd decides which subscriptions it
 * honours (docs/protocol.md). Returns the subscriber, or NULL with err. */
client_sub_t *client_sub_new(const char *endpoint, const client_curve_t *curve,
                             const char *session, const char *const *types, char *err,
                             size_t errlen);
void client_sub_destroy(client_sub_t **self_p);

/* Waits up to timeout_ms (-1: forever) for the next event of the types
 * asked for. Returns 0 with topic filled with its type and *event a new JSON envelope (caller json_decref's), 1 on
 * timeout, -1 on error or interruption with err filled. */
int client_sub_recv(client_sub_t *self, int timeout_ms, char *topic, size_t topiclen,
                    json_t **event, char *err, size_t errlen);

#endif
