/* daemon/recommender.h: how shopd asks for recommendations.
 *
 * Built in (no [recommend] endpoint): the engine runs inside shopd with its
 * own store connection and queries are plain function calls (the engine is
 * thread-safe). Remote ([recommend] endpoint = tcp://...): queries go to a
 * shop-recommend service or broker through the Lazy Pirate client, in the
 * service's JSON wire format (recommend/service.h). Callers see one API and
 * one error convention either way. Used by one thread at a time in remote
 * mode (the client's REQ socket). */
#ifndef SHOP_DAEMON_RECOMMENDER_H
#define SHOP_DAEMON_RECOMMENDER_H

#include <stddef.h>

#include <jansson.h>

#include "daemon/conf.h"
#include "ipc/proto.h"
#include "recommend/query.h"

typedef struct _recommender_t recommender_t;

/* The worker name the built-in engine puts in replies. */
#define RECOMMENDER_BUILTIN_NAME "shopd"

/* Starts the built-in engine (its own connection to cfg->database, the
 * model cfg->rec_model loading in the background; on PostgreSQL its
 * queries touch no store: recommender_sync follows the store's
 * notifications) or a client of
 * cfg->rec_endpoint on the ZeroMQ context ctx (kept alive by the caller
 * until recommender_destroy). Returns NULL when it cannot start (logged):
 * recommendations are then not available. */
recommender_t *recommender_new(void *ctx, const conf_t *cfg);
/* Checks what would stop recommender_new for good, before shopd serves: the
 * [recommend] key files. Returns 0, or -1 with err naming the setting and
 * the file's fault. */
int recommender_check(const conf_t *cfg, char *err, size_t errlen);
void recommender_destroy(recommender_t **self_p);

/* Answers q into out[0..q->k). Returns the number of results, or -1 with
 * *code (PROTO_E_NOT_AVAILABLE: the remote service does not answer;
 * PROTO_E_INTERNAL: its reply is unreadable; PROTO_E_INVALID: the query was
 * refused) and a message in err. worker (may be NULL) receives the name of
 * who answered. */
int recommender_query(recommender_t *self, const rec_query_t *q, rec_result_t *out,
                      char *worker, size_t worker_len, proto_err_t *code, char *err,
                      size_t errlen);

/* Drops customer's history from the engine (built in: directly; remote: the
 * service's "forget" op, answered by one of its workers). *had and *events
 * get whether it had one and its events. Returns 0, or -1 with err when the
 * remote service did not answer. */
int recommender_forget(recommender_t *self, const char *customer, bool *had, long *events,
                       char *err, size_t errlen);

/* Built-in engine: re-reads the catalogue and loads cfg->rec_model again.
 * Remote: nothing to do. Failures are logged. */
void recommender_reload(recommender_t *self, const conf_t *cfg);

/* Built-in engine: applies the store's new events now (shopd calls it
 * when the store notifies it of new events; a lost server is connected
 * again once). Remote: nothing to do (the service follows the store).
 * Returns the events applied, or -1 (logged). */
long recommender_sync(recommender_t *self);

/* Built-in engine: applies ev (queued in the outbox, not in the store yet)
 * in memory now; it counts once when the store shows it later. Remote:
 * nothing (the service learns of it when it reaches the store). */
void recommender_add_local(recommender_t *self, const store_event_t *ev);

/* True for the built-in engine. */
bool recommender_builtin(const recommender_t *self);

/* The status reply's "recommend" member: {"available": true, "model",
 * "generation", "items_in_model", "events"} built in, {"available": true,
 * "endpoint"} remote, {"available": false} when self is NULL. */
json_t *recommender_status_json(recommender_t *self);

#endif
