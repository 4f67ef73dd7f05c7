/* ipc/zap.h: the ZAP handler (ZeroMQ RFC 27) enforcing the CURVE allow-list.
 *
 * Bound on inproc://zeromq.zap.01 of a context BEFORE any CURVE server socket
 * of that context binds, so no peer is ever accepted unchecked. A CURVE
 * client whose public key is not on the list is refused during the handshake
 * and never gets a message through; other mechanisms (PLAIN) are refused;
 * NULL is accepted because shopd only offers it on local endpoints. The
 * handler lives in the daemon's poll loop: poll zap_socket(), call
 * zap_handle() when it is readable. */
#ifndef SHOP_IPC_ZAP_H
#define SHOP_IPC_ZAP_H

#include <stdbool.h>
#include <stddef.h>

#include "ipc/keys.h"

typedef struct _zap_t zap_t;

/* Binds the handler on ctx. Returns the handler, or NULL with err filled
 * (for example when another handler is already bound on ctx). */
zap_t *zap_new(void *ctx, char *err, size_t errlen);
/* Closes the handler; safe on NULL, nulls *self_p. */
void zap_destroy(zap_t **self_p);

/* Replaces the allow-list with the count keys (copied). */
void zap_set_allowed(zap_t *self, const char (*keys)[KEYS_Z85_LEN + 1], size_t count);
/* Allows the public key z85 besides the list, also after zap_set_allowed:
 * the key of a client inside the daemon (its kiosk page bridge). NULL or ""
 * removes it. */
void zap_set_internal(zap_t *self, const char *z85);
/* Number of keys allowed (the list's). */
size_t zap_allowed_count(const zap_t *self);
/* True when the Z85 public key is on the list. */
bool zap_is_allowed(const zap_t *self, const char *z85);

/* The socket to poll for ZMQ_POLLIN (owned by the handler). */
void *zap_socket(zap_t *self);
/* Answers every pending ZAP request without blocking. Returns the number
 * answered, or -1 on a socket error. */
int zap_handle(zap_t *self);
/* Refusals are logged at most once per peer address (else per client key,
 * else per reason) per interval_ms, the line counting those held back since the
 * last one (default 10 s; 0 logs every refusal). */
void zap_set_log_interval(zap_t *self, int interval_ms);

/* Counts of connections accepted and refused since zap_new. */
void zap_stats(const zap_t *self, unsigned long *accepted, unsigned long *refused);

#endif
