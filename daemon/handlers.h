/* daemon/handlers.h: the request types shopd answers, one dispatch table.
 *
 * Adding a request type is one handler function and one row in the table
 * in handlers.c (and its section in docs/protocol.md). */
#ifndef SHOP_DAEMON_HANDLERS_H
#define SHOP_DAEMON_HANDLERS_H

#include <stddef.h>

#include <jansson.h>

#include "daemon/conf.h"
#include "daemon/models.h"
#include "ipc/proto.h"
#include "recommend/service.h"
#include "recommend/store.h"

struct _server_t;

/* What a handler may use (in). */
typedef struct {
    struct _server_t *server; /* for server_publish and server_status_json */
    store_t *store;
    const conf_t *cfg;
    models_t *models;
    rec_client_t *rec;        /* recommendation service client, NULL when none */
} handler_env_t;

/* One binary frame of a request (in, borrowed). */
typedef struct {
    const void *data;
    size_t size;
} handler_frame_t;

/* Answers req. On PROTO_OK, *body is the reply body (a new reference the
 * caller releases); otherwise err says why and *body stays NULL. */
typedef proto_err_t (*handler_fn)(handler_env_t *env, const proto_request_t *req,
                                  const handler_frame_t *frames, size_t nframes,
                                  json_t **body, char *err, size_t errlen);

typedef struct {
    const char *type;  /* the envelope's "type" */
    size_t frames;     /* binary frames the request must carry */
    handler_fn fn;
} handler_route_t;

/* Returns the route for type, or NULL when there is none. */
const handler_route_t *handlers_find(const char *type);

/* The server's part of the status reply (uptime, counters, sockets, models):
 * a new object. Implemented in server.c. */
json_t *server_status_json(struct _server_t *server);

#endif
