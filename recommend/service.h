/* recommend/service.h: the recommendation service over ZeroMQ.
 *
 * Messages are one JSON object per frame (docs/recommend.md lists them):
 *   {"op":"recommend","kind":"personal","customer":"c7","k":10,...}
 *   -> {"ok":true,"id":...,"worker":"w1","results":[{"item":..,"reason":..},...]}
 *   {"op":"batch","requests":[{...},...]} -> {"ok":true,"replies":[{...},...]}
 *   {"op":"event",...}  {"op":"reload","path":...}  {"op":"status"}  {"op":"ping"}
 *   errors: {"ok":false,"error":"why"}
 *
 * Two ways to run a service over an engine:
 * - bind: one ROUTER on the given endpoint(s) ("inproc://recommend" in the
 *   daemon, "tcp://127.0.0.1:5560" for a separate process) that all
 *   `threads` workers serve directly, taking turns on it under a mutex (no
 *   proxy thread: a request wakes a worker, its reply the client);
 * - connect: each worker's REP socket connects to a broker's back end.
 * The broker (rec_broker_*) is zmq_proxy between a ROUTER front end for
 * clients and a DEALER back end for workers: several `shop-recommend`
 * processes, on one machine or many, serve one or many daemons.
 *
 * CURVE (docs/protocol.md, "Security"; the key files of ipc/keys.h, as shopd
 * and shopctl read them): a hop that leaves the machine is encrypted and
 * admits only listed keys. The broker's back end is a CURVE server whose
 * ZAP handler admits the workers' public keys, its front end one that
 * admits the clients' (each end has its own list, so a client key cannot
 * pose as a worker and receive other clients' queries); workers and clients
 * are CURVE clients with their key pair and the broker's public key. An
 * endpoint that is not local (ipc://, inproc://, loopback tcp://) is
 * refused without CURVE, as shopd refuses it.
 *
 * The client (rec_client_*) is a Lazy Pirate REQ client: on a timeout it
 * drops the socket, opens a new one and resends, so a worker that stops
 * mid-request loses no query when another one is up.
 */
#ifndef SHOP_RECOMMEND_SERVICE_H
#define SHOP_RECOMMEND_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "recommend/query.h"

#define REC_SERVICE_ENDPOINT "inproc://recommend"
#define REC_MAX_REQUEST 65536
#define REC_MAX_BATCH 64      /* requests in one {"op":"batch"} */

typedef struct {
    const char *bind;       /* comma-separated endpoints to bind (bind mode) */
    const char *connect;    /* broker back end to connect to (connect mode) */
    int threads;            /* worker threads, >= 1 */
    const char *name;       /* worker name put in replies ("" -> "rec") */
    /* CURVE, NULL = off. key_file: the service's key pair. connect mode:
     * server_key, the broker's public key (Z85 or a key file). bind mode:
     * allow_list, the clients' public keys (the ZAP handler runs in a thread
     * of the service, on ctx, which must have no other). */
    const char *key_file;
    const char *server_key;
    const char *allow_list;
} rec_service_opts_t;

typedef struct _rec_service_t rec_service_t;

/* Starts the service threads on ctx (a zmq context the caller keeps alive
 * until rec_service_destroy) over engine (borrowed: it must outlive the
 * service). Returns NULL with a message in err when a socket cannot bind or
 * connect. */
rec_service_t *rec_service_new(void *ctx, rec_engine_t *engine, const rec_service_opts_t *opts,
                               char *err, size_t errlen);
/* Stops the threads (each finishes its current request) and closes sockets. */
void rec_service_destroy(rec_service_t **s_p);
/* Requests answered so far. */
long rec_service_served(rec_service_t *s);

/* Handles one request text (the workers' code path, exposed for tests and
 * the in-process benchmark). Returns a new JSON text the caller frees. */
char *rec_service_handle(rec_engine_t *engine, const char *worker, const char *req, size_t len);

/* --- broker ----------------------------------------------------------- */
typedef struct _rec_broker_t rec_broker_t;
/* CURVE of the broker, every field NULL = off. */
typedef struct {
    const char *key_file;       /* the broker's key pair: needed by the two below */
    const char *worker_allow;   /* back end: the workers' public keys (CURVE on the back) */
    const char *client_allow;   /* front end: the clients' public keys (CURVE on the front) */
} rec_broker_curve_t;
/* Binds front (ROUTER, clients) and back (DEALER, workers) and runs
 * zmq_proxy in a thread. An end with CURVE gets a zmq context of its own
 * (its ZAP handler and allow-list; the handler runs in a thread of the
 * broker); the others use ctx. curve may be NULL. Returns NULL with a
 * message when a key file is bad or binding fails. */
rec_broker_t *rec_broker_new(void *ctx, const char *front, const char *back,
                             const rec_broker_curve_t *curve, char *err, size_t errlen);

void rec_broker_destroy(rec_broker_t **b_p);

/* --- client (Lazy Pirate) -------------------------------------------- */
typedef struct _rec_client_t rec_client_t;
/* A client of endpoint; each try waits timeout_ms, at most retries + 1 tries. */
rec_client_t *rec_client_new(void *ctx, const char *endpoint, int timeout_ms, int retries);
/* CURVE from now on: the client's key pair file and the server's public key
 * (Z85 or a key file). Returns 0, or -1 with a message (the client is
 * unchanged). */
int rec_client_set_curve(rec_client_t *c, const char *key_file, const char *server_key,
                         char *err, size_t errlen);
void rec_client_destroy(rec_client_t **c_p);
/* Sends a JSON request and returns the reply text (caller frees), or NULL
 * with a message in err when every try timed out. */
char *rec_client_request(rec_client_t *c, const char *json, char *err, size_t errlen);
/* Builds the request of q, sends it, parses the reply into out[0..q->k).
 * Returns the number of results, or -1 (message in err). worker (may be
 * NULL) receives the name of the worker that answered. */
int rec_client_query(rec_client_t *c, const rec_query_t *q, rec_result_t *out, char *worker,
                     size_t worker_len, char *err, size_t errlen);
/* Retries so far (resends after a timeout). */
long rec_client_retries(rec_client_t *c);

/* Why the last rec_client_request or rec_client_query failed. */
typedef enum {
    REC_CLIENT_OK = 0,
    REC_CLIENT_NO_REPLY,    /* every try timed out: no service is answering */
    REC_CLIENT_BAD_REPLY,   /* the reply is not a JSON object */
    REC_CLIENT_REFUSED      /* the service refused the query ({"ok":false}) */
} rec_client_err_t;
rec_client_err_t rec_client_last_error(const rec_client_t *c);

#endif
