/* tests/daemon_fixture.h: a test store and the shipped models, without a
 * daemon, for the unit tests of daemon/flow, daemon/handlers and
 * daemon/models.
 *
 * The store (a temporary directory) holds nine products taken from the demo
 * catalogue with their photos, and purchases whose counts are all distinct,
 * so the cold recommendation engine (no model file: popularity only) ranks
 * them in one order a reader can check by hand:
 *
 *   sneaker-08 10 (out of stock: never recommended)   sneaker-03 9
 *   sneaker-01 8   boot-02 7   sneaker-04 6   bag-02 5   sneaker-02 4
 *   boot-01 3      bag-01 2
 *
 * Failures are cmocka failures: include cmocka.h before this header. */
#ifndef SHOP_TESTS_DAEMON_FIXTURE_H
#define SHOP_TESTS_DAEMON_FIXTURE_H

#include <stdbool.h>

#include <jansson.h>

#include "daemon/conf.h"
#include "daemon/handler.h"
#include "daemon/models.h"
#include "daemon/recommender.h"
#include "ipc/proto.h"
#include "recommend/store.h"

/* The seeded purchases (events 1..FIXTURE_PURCHASES). */
#define FIXTURE_PURCHASES 54
#define FIXTURE_ITEMS 9

typedef struct {
    char dir[64];               /* temporary directory, "" once removed */
    conf_t cfg;                 /* defaults; database in dir; no rec model */
    store_t *store;
    models_t *models;           /* NULL unless asked for */
    recommender_t *rec;         /* built-in engine; NULL unless asked for */
    handler_env_t env;          /* all of the above */
    proto_request_t req;        /* the last request made by fixture_request */
} fixture_t;

/* Makes the directory and the store; loads the shipped models and starts
 * the built-in recommendation engine when asked. */
void fixture_open(fixture_t *f, bool models, bool rec);
/* Frees everything and removes the directory; safe twice. */
void fixture_close(fixture_t *f);

/* Fills f->req: type, session (may be NULL), body (taken; NULL: {}). */
const proto_request_t *fixture_request(fixture_t *f, const char *type, const char *session,
                                       json_t *body);

/* The bytes of a file of the source tree (relative to SHOPD_DATADIR);
 * *len receives the size. Caller frees. */
void *fixture_read(const char *rel, size_t *len);

/* Fails unless r holds exactly the events named in types (NULL-ended), in
 * that order, each on session. */
void fixture_events_are(const handler_result_t *r, const char *session, const char *const *types);

/* The id of results[i] of a recommendations object ("results" array). */
const char *fixture_result_item(const json_t *recs, size_t i);

#endif
