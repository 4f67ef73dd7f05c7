/* daemon/handlers.h: the request types shopd answers, one dispatch table.
 *
 * Adding a request type is one handler function (daemon/handler.h says
 * what it gets and gives back) and one row in the table in handlers.c (and
 * its section in docs/protocol.md). */
#ifndef SHOP_DAEMON_HANDLERS_H
#define SHOP_DAEMON_HANDLERS_H

#include <stddef.h>

#include <jansson.h>

#include "daemon/handler.h"

typedef struct {
    const char *type;  /* the envelope's "type" */
    size_t frames;     /* binary frames the request must carry */
    handler_fn fn;
} handler_route_t;

/* Returns the route for type, or NULL when there is none. */
const handler_route_t *handlers_find(const char *type);

/* The status of the daemon (version, uptime, counters, sockets, models,
 * recommendations) from env: a new object. The status reply adds the
 * store's counts; the server publishes it as the heartbeat. */
json_t *handlers_status_json(const handler_env_t *env);

#endif
