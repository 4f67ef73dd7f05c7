/* daemon/handler.h: the contract between the server and a request handler.
 *
 * The server fills a handler_env_t (what a handler may use, including the
 * server's counters for status) and passes an empty handler_result_t; the
 * handler answers by filling the result: on success the reply body and the
 * events to publish, otherwise an error code and a message. The handler
 * never touches a socket: the server alone replies and publishes, in the
 * order events first (in the order they were added), then the reply.
 *
 * A result owns everything it holds (no pointer into the request or the
 * environment), so work done elsewhere (another thread) can fill one and
 * hand it back to the server's thread to be sent. A handler whose answer
 * needs a worker (photo, audio, look) returns a job instead (below). */
#ifndef SHOP_DAEMON_HANDLER_H
#define SHOP_DAEMON_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/conf.h"
#include "daemon/mic.h"
#include "daemon/models.h"
#include "daemon/recog.h"
#include "daemon/recommender.h"
#include "ipc/proto.h"
#include "recommend/store.h"

/* Events one answer may publish (the flow publishes five at most). */
#define HANDLER_EVENTS_MAX 8

/* The server's own figures that the status reply reports (in). */
typedef struct {
    uint64_t started_ns;            /* monotonic start, for uptime */
    unsigned long requests;         /* requests answered before this one */
    unsigned long errors;           /* of which error replies */
    unsigned long reloads;          /* successful reloads */
    bool curve;                     /* CURVE and the allow-list are on */
    unsigned long allowed_keys;     /* client keys allowed */
    unsigned long refused;          /* connections the allow-list refused */
    unsigned long refused_subscriptions; /* event subscriptions not allowed */
    const char *conf_path;          /* config file, "" = built-in defaults */
} handler_status_t;

/* The worker pool's and the camera's figures for status (in). */
typedef struct {
    bool pool;                      /* the fields below are set */
    int threads, busy;              /* worker threads, of which running a job */
    size_t queued;                  /* jobs waiting for a worker */
    uint64_t submitted, completed, refused;
    recog_stats_t decoders;         /* the workers' jailed decoders together */
} handler_workers_t;

/* What a handler may use (in, borrowed for the call). */
typedef struct {
    store_t *store;                 /* the store requests use now (daemon/storelink.h) */
    struct _storelink_t *link;      /* the link to it; NULL: store is used directly */
    const conf_t *cfg;
    models_t *models;
    recommender_t *rec;             /* NULL when no recommendation service */
    mic_t *mic;                     /* the microphone, NULL when none */
    struct _camera_t *camera;       /* shopd's camera (daemon/camera.h), NULL when none */
    handler_status_t status;
    const char *user;               /* the client's CURVE key (ZAP User-Id); NULL or "" without */
    bool operator;                  /* an operator: may watch every session, forget customers */
    handler_workers_t workers;
} handler_env_t;

/* One binary frame of a request (in, borrowed). */
typedef struct {
    const void *data;
    size_t size;
} handler_frame_t;

/* One event to publish: [type][envelope naming session with body]. */
typedef struct {
    char type[PROTO_TYPE_MAX + 1];
    char session[PROTO_SESSION_MAX + 1];
    json_t *body;                   /* owned */
} handler_event_t;

/* A handler's answer (out; the caller owns it and releases it with
 * handler_result_clear). */
typedef struct {
    proto_err_t code;               /* PROTO_OK or why the request failed */
    char message[512];              /* for a person; "" on success */
    json_t *body;                   /* reply body on success (owned), else NULL */
    handler_event_t events[HANDLER_EVENTS_MAX];
    size_t nevents;
    /* Set (owned) by a handler whose answer needs a worker: decoding
     * untrusted bytes and a CNN (daemon/recog.h). code is PROTO_OK and body
     * NULL; the server runs the job on its worker pool, then completes the
     * result on its own thread with handlers_finish. */
    recog_job_t *job;
    bool job_camera;                /* a camera picture: answered on the camera's session */
} handler_result_t;

/* Answers req into out (empty on entry). Returns out->code. */
typedef proto_err_t (*handler_fn)(const handler_env_t *env, const proto_request_t *req,
                                  const handler_frame_t *frames, size_t nframes,
                                  handler_result_t *out);

/* Empties r (code PROTO_OK, nothing held). */
void handler_result_init(handler_result_t *r);
/* Releases the body and the events and empties r; safe twice. */
void handler_result_clear(handler_result_t *r);

/* Records a failure: sets the code and the message (printf format), drops
 * any body and events gathered so far. Returns code, so a handler can
 * `return handler_fail(out, PROTO_E_INVALID, "...")`. */
proto_err_t handler_fail(handler_result_t *r, proto_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the reply body (takes the reference) and returns PROTO_OK. */
proto_err_t handler_reply(handler_result_t *r, json_t *body);

/* Appends the event type on session (NULL: none) with body (a new
 * reference is taken: body stays the caller's). Past HANDLER_EVENTS_MAX it
 * is a programmer error (assert). */
void handler_event(handler_result_t *r, const char *type, const char *session,
                   json_t *body);

/* Records ev through env->link (into the store, or the outbox while a
 * shared store is away: *queued then, and the built-in engine learns of it
 * at once) or straight into env->store without a link. *id gets the event's
 * id when the store gave one (0 when queued). Returns 0, or -1 with err. */
int handler_add_event(const handler_env_t *env, store_event_t *ev, bool *queued, int64_t *id,
                      char *err, size_t errlen);

/* Buys session's cart for customer (store_cart_checkout, or the outbox
 * while a shared store is away; see storelink_checkout). *lines gets the
 * lines bought. Returns 0, or -1 with err. */
int handler_checkout(const handler_env_t *env, const char *session, const char *customer,
                     int64_t now, int *lines, char *err, size_t errlen);

#endif
