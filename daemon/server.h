/* daemon/server.h: shopd's sockets, request dispatch and event publishing.
 *
 * One server_t owns the ZeroMQ context, the ZAP handler (bound before any
 * socket listens), the ROUTER socket for requests, the PUB socket for
 * events and the store connection. Everything runs in the caller's thread:
 * server_poll() waits for traffic and answers every request it reads with
 * exactly one reply. Request types live in one dispatch table in
 * daemon/handlers.c; a handler returns its reply and the events to publish
 * (daemon/handler.h), and the server alone sends both. */
#ifndef SHOP_DAEMON_SERVER_H
#define SHOP_DAEMON_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/conf.h"

typedef struct _server_t server_t;

/* Opens the store (creating it and importing the demo store when the
 * catalogue is empty and cfg->import_demo), checks the models, binds the
 * ZAP handler, then the request and event sockets. conf_path (may be NULL)
 * is only reported by status. Returns the server, or NULL with err filled. */
server_t *server_new(const conf_t *cfg, const char *conf_path, char *err, size_t errlen);
/* Closes sockets and the store (every acknowledged write is already
 * committed); safe on NULL, nulls *self_p. */
void server_destroy(server_t **self_p);

/* Waits up to timeout_ms for requests, ZAP requests, or (when fd >= 0) fd
 * readable, and handles every request that arrived; publishes the status
 * heartbeat when due. Sets *fd_ready when fd became readable (the caller
 * handles it). Returns 0, or -1 on a fatal socket error (logged). An
 * interruption by a signal returns 0. */
int server_poll(server_t *self, int fd, int timeout_ms, bool *fd_ready);

/* Applies a new configuration without dropping clients: log level, allow
 * list, size limits, heartbeat period, database path and models. Endpoints
 * and the server key cannot change while running (a warning says so). On
 * any failure nothing changes and err says why. Returns 0 or -1. */
int server_reload(server_t *self, const conf_t *cfg, char *err, size_t errlen);

#endif
