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

/* Completes the answer of a request whose handler returned a job (see
 * handler_result_t.job) once a worker has done it, into out (empty on
 * entry), on the server's thread. req is the request (for a camera picture:
 * one naming the camera's session). Returns out->code. */
proto_err_t handlers_finish(const handler_env_t *env, const proto_request_t *req,
                            const recog_job_t *job, handler_result_t *out);

/* The status of the daemon (version, uptime, counters, sockets, models,
 * recommendations) from env: a new object. The status reply adds the
 * store's counts; the server publishes it as the heartbeat. */
json_t *handlers_status_json(const handler_env_t *env);

#endif
