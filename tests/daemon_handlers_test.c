/* tests/daemon_handlers_test.c: the request handlers (daemon/handlers)
 * without a daemon, through the dispatch table, against a test store
 * (tests/daemon_fixture.h), the shipped models and the built-in
 * recommendation engine, then a real shop-recommend service on ZeroMQ: each
 * request type's reply and the exact events it hands back, and the error
 * code and message of each refusal (a refusal carries no events). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "common/util.h"
#include "daemon/handlers.h"
#include "recommend/service.h"
#include "tests/daemon_fixture.h"

#define SESSION "kiosk-2"

static fixture_t s_f;

static int
s_setup(void **state)
{
    (void) state;
    fixture_open(&s_f, true, true);
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    fixture_close(&s_f);
    return 0;
}

/* Runs request type (body taken) through the table with env and the given
 * frames; returns the code. Caller clears *r. */
static proto_err_t
s_call(const handler_env_t *env, const char *type, const char *session, json_t *body,
       const handler_frame_t *frames, size_t nframes, handler_result_t *r)
{
    const handler_route_t *route = handlers_find(type);
    assert_non_null(route);
    assert_int_equal(route->frames, nframes);
    handler_result_init(r);
    const proto_request_t *req = fixture_request(&s_f, type, session, body);
    proto_err_t rc = route->fn(env, req, frames, nframes, r);
    assert_int_equal(rc, r->code);
    if (rc == PROTO_OK && r->job) {
        /* a job for a worker (photo, audio): no answer yet; run it here, as
         * the server's pool would, and finish the answer as the server does */
        assert_null(r->body);
        assert_int_equal(r->nevents, 0);
        recog_job_t *job = r->job;
        r->job = NULL;
        recog_run(env->models, NULL, job);
        rc = handlers_finish(env, req, job, r);
        recog_job_free(job);
        assert_int_equal(rc, r->code);
    }
    if (rc == PROTO_OK) {
        assert_non_null(r->body);
        assert_string_equal(r->message, "");
    } else {
        assert_null(r->body);
        assert_int_equal(r->nevents, 0);
        assert_true(strlen(r->message) > 0);
    }
    return rc;
}

/* As s_call with s_f.env and no frames; the call must succeed. */
static void
s_ok(const char *type, const char *session, json_t *body, handler_result_t *r)
{
    proto_err_t rc = s_call(&s_f.env, type, session, body, NULL, 0, r);
    if (rc != PROTO_OK)
        fail_msg("%s: %s: %s", type, proto_err_name(rc), r->message);
}

/* As s_call with s_f.env and no frames; the call must fail with code and
 * exactly message. */
static void
s_refused(const char *type, const char *session, json_t *body, proto_err_t code,
          const char *message)
{
    handler_result_t r;
    assert_int_equal(s_call(&s_f.env, type, session, body, NULL, 0, &r), code);
    assert_string_equal(r.message, message);
    handler_result_clear(&r);
}

static const char *
s_str(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

static json_int_t
s_int(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    return json_integer_value(b ? json_object_get(v, b) : v);
}

static void
test_the_table_routes_every_request_type_with_its_frames(void **state)
{
    (void) state;
    const char *zero[] = { "status", "catalogue", "event", "cart", "recommend", "similar",
                           "text" };
    for (size_t i = 0; i < sizeof zero / sizeof *zero; i++) {
        assert_non_null(handlers_find(zero[i]));
        assert_int_equal(handlers_find(zero[i])->frames, 0);
    }
    assert_int_equal(handlers_find("audio")->frames, 1);
    assert_int_equal(handlers_find("photo")->frames, 1);
    assert_null(handlers_find("nope"));
    assert_null(handlers_find(""));
}

static void
test_status_reports_the_environment_counters_and_the_store(void **state)
{
    (void) state;
    handler_env_t env = s_f.env;
    env.status.requests = 41;
    env.status.errors = 3;
    env.status.reloads = 2;
    env.status.conf_path = "/etc/shopd/test.conf";
    handler_result_t r;
    assert_int_equal(s_call(&env, "status", NULL, NULL, NULL, 0, &r), PROTO_OK);
    assert_int_equal(s_int(r.body, "requests", NULL), 41);
    assert_int_equal(s_int(r.body, "errors", NULL), 3);
    assert_int_equal(s_int(r.body, "reloads", NULL), 2);
    assert_int_equal(s_int(r.body, "protocol", NULL), PROTO_VERSION);
    assert_string_equal(s_str(r.body, "config", NULL), "/etc/shopd/test.conf");
    assert_string_equal(s_str(r.body, "endpoint", NULL), s_f.cfg.endpoint);
    assert_false(json_is_true(json_object_get(r.body, "curve")));
    assert_int_equal(s_int(r.body, "store", "items"), FIXTURE_ITEMS);
    assert_int_equal(s_int(r.body, "store", "in_stock"), FIXTURE_ITEMS - 1);
    assert_int_equal(s_int(r.body, "store", "events"), FIXTURE_PURCHASES);
    assert_int_equal(s_int(r.body, "store", "purchases"), FIXTURE_PURCHASES);
    assert_string_equal(s_str(r.body, "store", "database"), s_f.cfg.database);
    const json_t *models = json_object_get(r.body, "models");
    assert_true(json_is_true(json_object_get(json_object_get(models, "kws"), "loaded")));
    assert_true(json_is_true(json_object_get(json_object_get(models, "vision"), "loaded")));
    assert_int_equal(s_int(json_object_get(models, "vision"), "indexed_photos", NULL),
                     FIXTURE_ITEMS);
    assert_true(json_is_true(json_object_get(json_object_get(r.body, "recommend"),
                                             "available")));
    assert_int_equal(r.nevents, 0);
    handler_result_clear(&r);
    /* the defaults when no file was read */
    env.status.conf_path = "";
    assert_int_equal(s_call(&env, "status", NULL, NULL, NULL, 0, &r), PROTO_OK);
    assert_string_equal(s_str(r.body, "config", NULL), "(built-in defaults)");
    handler_result_clear(&r);
}

static void
test_catalogue_lists_gets_and_names_categories(void **state)
{
    (void) state;
    handler_result_t r;
    s_ok("catalogue", NULL, json_pack("{s:s, s:s}", "op", "list", "category", "bag"), &r);
    assert_int_equal(s_int(r.body, "count", NULL), 2);
    const json_t *items = json_object_get(r.body, "items");
    assert_string_equal(s_str(json_array_get(items, 0), "id", NULL), "bag-01");
    assert_string_equal(s_str(json_array_get(items, 1), "id", NULL), "bag-02");
    assert_int_equal(r.nevents, 0);
    handler_result_clear(&r);

    s_ok("catalogue", NULL, json_pack("{s:s, s:s}", "op", "get", "id", "sneaker-08"), &r);
    const json_t *it = json_object_get(r.body, "item");
    assert_string_equal(s_str(it, "name", NULL), "Trail blue Sneakers");
    assert_true(json_real_value(json_object_get(it, "price")) == 70.99);
    assert_false(json_is_true(json_object_get(it, "in_stock")));
    assert_string_equal(s_str(it, "photo", NULL), "photos/sneaker-08.png");
    handler_result_clear(&r);

    s_ok("catalogue", NULL, json_pack("{s:s}", "op", "categories"), &r);
    const json_t *cats = json_object_get(r.body, "categories");
    assert_int_equal(json_array_size(cats), 3);
    assert_string_equal(json_string_value(json_array_get(cats, 0)), "bag");
    assert_string_equal(json_string_value(json_array_get(cats, 1)), "boot");
    assert_string_equal(json_string_value(json_array_get(cats, 2)), "sneaker");
    handler_result_clear(&r);

    s_refused("catalogue", NULL, json_pack("{s:s, s:s}", "op", "get", "id", "nope"),
              PROTO_E_NOT_FOUND, "no product \"nope\" in the catalogue");
    s_refused("catalogue", NULL, json_pack("{s:s}", "op", "delete"), PROTO_E_INVALID,
              "catalogue \"op\" must be list, get or categories");
    s_refused("catalogue", NULL, json_pack("{s:i}", "limit", 0), PROTO_E_INVALID,
              "body field \"limit\" must be an integer from 1 to 1000");
}

static void
test_event_is_recorded_with_the_next_id_and_no_events(void **state)
{
    (void) state;
    handler_result_t r;
    s_ok("event", SESSION,
         json_pack("{s:s, s:s, s:s, s:i}", "customer", "c1", "item", "bag-01", "kind", "view",
                   "quantity", 2),
         &r);
    assert_true(json_is_true(json_object_get(r.body, "recorded")));
    assert_int_equal(s_int(r.body, "event_id", NULL), FIXTURE_PURCHASES + 1);
    assert_int_equal(r.nevents, 0);
    handler_result_clear(&r);
    store_counts_t c;
    assert_int_equal(store_counts(s_f.store, &c), 0);
    assert_int_equal(c.events, FIXTURE_PURCHASES + 1);
    s_refused("event", SESSION,
              json_pack("{s:s, s:s, s:s}", "customer", "c1", "item", "bag-01", "kind", "like"),
              PROTO_E_INVALID, "\"kind\" must be view, cart or purchase");
    s_refused("event", SESSION, json_pack("{s:s, s:s}", "customer", "c1", "kind", "view"),
              PROTO_E_INVALID, "body field \"item\" is required");
}

static void
test_cart_changes_return_a_cart_event_and_reads_none(void **state)
{
    (void) state;
    handler_result_t r;
    s_ok("cart", SESSION, json_pack("{s:s, s:s, s:i}", "op", "add", "item", "boot-01",
                                    "quantity", 2),
         &r);
    assert_int_equal(s_int(r.body, "count", NULL), 2);
    assert_string_equal(s_str(r.body, "session", NULL), SESSION);
    const json_t *line = json_array_get(json_object_get(r.body, "lines"), 0);
    assert_string_equal(s_str(line, "item", NULL), "boot-01");
    assert_int_equal(s_int(line, "quantity", NULL), 2);
    fixture_events_are(&r, SESSION, (const char *[]) { "cart", NULL });
    assert_true(json_equal(r.events[0].body, r.body));
    handler_result_clear(&r);

    s_ok("cart", SESSION, json_pack("{s:s}", "op", "get"), &r);
    assert_int_equal(s_int(r.body, "count", NULL), 2);
    assert_int_equal(r.nevents, 0);
    handler_result_clear(&r);

    s_refused("cart", NULL, json_pack("{s:s}", "op", "get"), PROTO_E_INVALID,
              "cart requests need a \"session\" in the envelope");
    s_refused("cart", SESSION, json_pack("{s:s, s:s}", "op", "add", "item", "nope"),
              PROTO_E_NOT_FOUND, "no product \"nope\" in the catalogue");
    s_refused("cart", SESSION, json_pack("{s:s, s:s}", "op", "remove", "item", "bag-01"),
              PROTO_E_NOT_FOUND, "\"bag-01\" is not in the cart of " SESSION);
    s_refused("cart", SESSION, json_pack("{s:s}", "op", "checkout"), PROTO_E_INVALID,
              "checkout needs a \"customer\"");

    s_ok("cart", SESSION, json_pack("{s:s, s:s}", "op", "checkout", "customer", "c9"), &r);
    assert_int_equal(s_int(r.body, "count", NULL), 0);
    assert_int_equal(s_int(r.body, "bought_lines", NULL), 1);
    fixture_events_are(&r, SESSION, (const char *[]) { "cart", NULL });
    assert_true(json_equal(r.events[0].body, r.body));
    handler_result_clear(&r);
    store_counts_t c;
    assert_int_equal(store_counts(s_f.store, &c), 0);
    assert_int_equal(c.purchases, FIXTURE_PURCHASES + 1);
}

/* Fails unless the reply's "results" are exactly ids, answered by worker. */
static void
s_results_are(const handler_result_t *r, const char *worker, const char *const *ids)
{
    size_t n = 0;
    while (ids[n])
        n++;
    assert_int_equal(json_array_size(json_object_get(r->body, "results")), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(fixture_result_item(r->body, i), ids[i]);
    assert_string_equal(s_str(r->body, "worker", NULL), worker);
}

static void
test_recommend_and_similar_answer_in_process_with_a_recommendations_event(void **state)
{
    (void) state;
    handler_result_t r;
    s_ok("recommend", SESSION, json_pack("{s:s, s:i}", "kind", "popular", "limit", 3), &r);
    s_results_are(&r, "shopd", (const char *[]) { "sneaker-03", "sneaker-01", "boot-02", NULL });
    assert_string_equal(s_str(r.body, "kind", NULL), "popular");
    assert_string_equal(s_str(json_array_get(json_object_get(r.body, "results"), 0), "reason",
                              NULL),
                        "popular in sneaker");
    fixture_events_are(&r, SESSION, (const char *[]) { "recommendations", NULL });
    assert_true(json_equal(r.events[0].body, r.body));
    handler_result_clear(&r);

    s_ok("recommend", SESSION,
         json_pack("{s:s, s:s, s:f}", "kind", "category", "category", "sneaker", "max_price",
                   50.0),
         &r);
    s_results_are(&r, "shopd", (const char *[]) { "sneaker-01", "sneaker-02", NULL });
    handler_result_clear(&r);

    /* cold similar: the same category, nearest in price first */
    s_ok("similar", NULL, json_pack("{s:s, s:i}", "item", "sneaker-03", "limit", 3), &r);
    s_results_are(&r, "shopd", (const char *[]) { "sneaker-04", "sneaker-02", "sneaker-01",
                                                  NULL });
    assert_string_equal(s_str(json_array_get(json_object_get(r.body, "results"), 0), "reason",
                              NULL),
                        "similar to Classic grey Sneakers");
    fixture_events_are(&r, "", (const char *[]) { "recommendations", NULL });
    handler_result_clear(&r);

    s_refused("recommend", SESSION, json_pack("{s:s}", "kind", "similar"), PROTO_E_INVALID,
              "\"kind\" must be personal, together, category or popular (use the similar "
              "request for similar items)");
    s_refused("recommend", SESSION, json_pack("{s:s}", "kind", "together"), PROTO_E_INVALID,
              "kind together needs \"item\"");
    s_refused("similar", SESSION, NULL, PROTO_E_INVALID, "body field \"item\" is required");
    /* refused by the engine itself */
    s_refused("similar", SESSION, json_pack("{s:s}", "item", "nope"), PROTO_E_INVALID,
              "unknown item \"nope\"");
    handler_env_t env = s_f.env;
    env.rec = NULL;
    assert_int_equal(s_call(&env, "recommend", SESSION, NULL, NULL, 0, &r),
                     PROTO_E_NOT_AVAILABLE);
    assert_string_equal(r.message, "\"recommend\" is not available: no recommendation service "
                                   "is running");
    handler_result_clear(&r);
}

/* A REP socket that answers every request with bytes that are not JSON. */
static void *
s_junk_service(void *sock)
{
    char buf[4096];
    while (zmq_recv(sock, buf, sizeof buf, 0) >= 0)
        if (zmq_send(sock, "not json", 8, 0) < 0)
            break;
    return NULL;
}

static void
test_a_remote_service_answers_and_its_failures_map_to_codes(void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new();
    assert_non_null(ctx);
    char err[256];
    /* a real service over its own engine and store connection */
    char *serr = NULL;
    store_t *st = store_open(s_f.cfg.database, &serr);
    assert_non_null(st);
    rec_engine_t *engine = rec_engine_new(&st, err, sizeof err);
    assert_non_null(engine);
    rec_service_opts_t o = { .bind = "inproc://handlers-rec", .threads = 1, .name = "w1" };
    rec_service_t *svc = rec_service_new(ctx, engine, &o, err, sizeof err);
    assert_non_null(svc);
    conf_t cfg = s_f.cfg;
    shop_strlcpy(cfg.rec_endpoint, "inproc://handlers-rec", sizeof cfg.rec_endpoint);
    cfg.rec_timeout_ms = 5000;
    recommender_t *rec = recommender_new(ctx, &cfg);
    assert_non_null(rec);
    assert_false(recommender_builtin(rec));
    handler_env_t env = s_f.env;
    env.rec = rec;
    handler_result_t r;
    assert_int_equal(s_call(&env, "recommend", SESSION,
                            json_pack("{s:s, s:i}", "kind", "popular", "limit", 3), NULL, 0, &r),
                     PROTO_OK);
    s_results_are(&r, "w1", (const char *[]) { "sneaker-03", "sneaker-01", "boot-02", NULL });
    fixture_events_are(&r, SESSION, (const char *[]) { "recommendations", NULL });
    handler_result_clear(&r);
    /* the service refuses: invalid, with its reason */
    assert_int_equal(s_call(&env, "similar", SESSION, json_pack("{s:s}", "item", "nope"), NULL,
                            0, &r),
                     PROTO_E_INVALID);
    assert_string_equal(r.message, "unknown item \"nope\"");
    handler_result_clear(&r);
    const json_t *status = NULL;
    json_t *sj = recommender_status_json(rec);
    status = json_object_get(sj, "endpoint");
    assert_string_equal(json_string_value(status), "inproc://handlers-rec");
    json_decref(sj);
    recommender_destroy(&rec);
    rec_service_destroy(&svc);
    rec_engine_destroy(&engine);

    /* a reply that is not JSON: the service's fault, internal */
    void *junk = zmq_socket(ctx, ZMQ_REP);
    assert_int_equal(zmq_bind(junk, "inproc://handlers-junk"), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_junk_service, junk), 0);
    shop_strlcpy(cfg.rec_endpoint, "inproc://handlers-junk", sizeof cfg.rec_endpoint);
    env.rec = rec = recommender_new(ctx, &cfg);
    assert_int_equal(s_call(&env, "recommend", SESSION, NULL, NULL, 0, &r), PROTO_E_INTERNAL);
    assert_string_equal(r.message, "reply is not a JSON object");
    handler_result_clear(&r);
    recommender_destroy(&rec);

    /* nobody answers: not available, after every try */
    shop_strlcpy(cfg.rec_endpoint, "inproc://handlers-nobody", sizeof cfg.rec_endpoint);
    cfg.rec_timeout_ms = 50;
    env.rec = rec = recommender_new(ctx, &cfg);
    assert_int_equal(s_call(&env, "recommend", SESSION, NULL, NULL, 0, &r),
                     PROTO_E_NOT_AVAILABLE);
    assert_string_equal(r.message, "no reply from inproc://handlers-nobody after 2 tries of "
                                   "50 ms");
    handler_result_clear(&r);
    recommender_destroy(&rec);

    /* the junk thread's recv ends with ETERM; only then is its socket closed */
    zmq_ctx_shutdown(ctx);
    pthread_join(th, NULL);
    zmq_close(junk);
    zmq_ctx_term(ctx);
}

static void
test_audio_and_photo_frames_are_checked_before_recognition(void **state)
{
    (void) state;
    handler_result_t r;
    handler_env_t env = s_f.env;
    conf_t cfg = s_f.cfg;
    env.cfg = &cfg;
    cfg.max_audio_bytes = 16;
    cfg.max_photo_bytes = 16;
    static const char big[32] = "RIFF....WAVE";
    handler_frame_t f = { big, sizeof big };
    assert_int_equal(s_call(&env, "audio", SESSION, NULL, &f, 1, &r), PROTO_E_TOO_LARGE);
    assert_string_equal(r.message, "audio of 32 bytes over the 16 byte limit");
    handler_result_clear(&r);
    assert_int_equal(s_call(&env, "photo", SESSION, NULL, &f, 1, &r), PROTO_E_TOO_LARGE);
    assert_string_equal(r.message, "photo of 32 bytes over the 16 byte limit");
    handler_result_clear(&r);

    f = (handler_frame_t) { "GIF89a....", 10 };
    assert_int_equal(s_call(&s_f.env, "audio", SESSION, NULL, &f, 1, &r), PROTO_E_INVALID);
    assert_string_equal(r.message, "audio frame is not WAV, FLAC, Ogg, AIFF, AU or CAF");
    handler_result_clear(&r);
    assert_int_equal(s_call(&s_f.env, "photo", SESSION, NULL, &f, 1, &r), PROTO_E_INVALID);
    assert_string_equal(r.message, "photo frame is not JPEG, PNG or BMP");
    handler_result_clear(&r);

    /* a good WAV reaches the flow: its reply and its events */
    size_t len;
    void *wav = fixture_read("data/demo/requests/show-me-sneakers.wav", &len);
    f = (handler_frame_t) { wav, len };
    assert_int_equal(s_call(&s_f.env, "audio", SESSION, NULL, &f, 1, &r), PROTO_OK);
    free(wav);
    assert_string_equal(s_str(r.body, "intent", "name"), "search");
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "recommendations", "answer",
                                                       NULL });
    handler_result_clear(&r);
    void *png = fixture_read("data/demo/photos/bag-02.png", &len);
    f = (handler_frame_t) { png, len };
    assert_int_equal(s_call(&s_f.env, "photo", SESSION, NULL, &f, 1, &r), PROTO_OK);
    free(png);
    assert_string_equal(s_str(json_object_get(r.body, "product"), "item", "id"), "bag-02");
    fixture_events_are(&r, SESSION, (const char *[]) { "product", "recommendations", "answer",
                                                       NULL });
    handler_result_clear(&r);
}

static void
test_text_reaches_the_flow(void **state)
{
    (void) state;
    handler_result_t r;
    s_ok("text", SESSION, json_pack("{s:s}", "text", "show boots"), &r);
    assert_string_equal(s_str(r.body, "intent", "name"), "search");
    assert_string_equal(fixture_result_item(json_object_get(r.body, "recommendations"), 0),
                        "boot-02");
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "recommendations", "answer",
                                                       NULL });
    handler_result_clear(&r);
}

/* Requests that need a model the daemon could not load answer
 * not_available with the loader's reason. */
static void
test_missing_models_make_audio_photo_and_text_not_available(void **state)
{
    (void) state;
    conf_t cfg = s_f.cfg;
    snprintf(cfg.kws_model, sizeof cfg.kws_model, "%s/none-kws.nn", s_f.dir);
    snprintf(cfg.vision_model, sizeof cfg.vision_model, "%s/none-vision.nn", s_f.dir);
    models_t *m = models_new(&cfg, s_f.store);
    assert_non_null(m);
    handler_env_t env = s_f.env;
    env.models = m;
    env.cfg = &cfg;
    handler_result_t r;
    handler_frame_t wav = { "RIFF\0\0\0\0WAVE", 12 }, png = { "\x89PNG\r\n\x1a\n", 8 };
    char want[CONF_PATH_MAX + 128];
    assert_int_equal(s_call(&env, "audio", SESSION, NULL, &wav, 1, &r), PROTO_E_NOT_AVAILABLE);
    snprintf(want, sizeof want, "speech recognition is not available: kws model %s not found",
             cfg.kws_model);
    assert_string_equal(r.message, want);
    handler_result_clear(&r);
    assert_int_equal(s_call(&env, "photo", SESSION, NULL, &png, 1, &r), PROTO_E_NOT_AVAILABLE);
    snprintf(want, sizeof want,
             "product recognition is not available: vision model %s not found",
             cfg.vision_model);
    assert_string_equal(r.message, want);
    handler_result_clear(&r);
    /* the grammar is shipped apart from the spotter: typed text still works */
    assert_int_equal(s_call(&env, "text", SESSION, json_pack("{s:s}", "text", "help"), NULL, 0,
                            &r),
                     PROTO_OK);
    handler_result_clear(&r);
    models_destroy(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
        T(test_the_table_routes_every_request_type_with_its_frames),
        T(test_status_reports_the_environment_counters_and_the_store),
        T(test_catalogue_lists_gets_and_names_categories),
        T(test_event_is_recorded_with_the_next_id_and_no_events),
        T(test_cart_changes_return_a_cart_event_and_reads_none),
        T(test_recommend_and_similar_answer_in_process_with_a_recommendations_event),
        T(test_a_remote_service_answers_and_its_failures_map_to_codes),
        T(test_audio_and_photo_frames_are_checked_before_recognition),
        T(test_text_reaches_the_flow),
        T(test_missing_models_make_audio_photo_and_text_not_available),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
