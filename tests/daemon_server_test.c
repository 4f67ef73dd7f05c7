/* tests/daemon_server_test.c: the server (daemon/server) in the test's own
 * thread, without a shopd process: real ZeroMQ sockets (ipc:// in a
 * temporary directory), a test store (tests/daemon_fixture.h) and the
 * shipped models. The test sends a request on a DEALER, turns the server's
 * loop (server_poll) until the reply arrives, and reads the events on a SUB:
 * dispatch through the table (a reply per request carrying its id, errors
 * for unknown types, wrong frame counts and malformed envelopes), the events
 * a handler returns published in order on its session with the reply's
 * bodies, and the status heartbeat. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "common/util.h"
#include "daemon/server.h"
#include "tests/daemon_fixture.h"

#define SESSION "kiosk-3"
/* generous: a loaded shared machine; the loop ends as soon as the reply is in */
#define WAIT_MS 60000

typedef struct {
    fixture_t f;
    server_t *srv;
    void *ctx, *dealer, *sub;
    int next_id;
} s_t;

static s_t s_s;

static void
s_start(int status_interval_s)
{
    s_t *s = &s_s;
    memset(s, 0, sizeof *s);
    fixture_open(&s->f, false, false);  /* the server loads its own */
    s->f.cfg.status_interval_s = status_interval_s;
    char err[512];
    s->srv = server_new(&s->f.cfg, NULL, err, sizeof err);
    if (!s->srv)
        fail_msg("server_new: %s", err);
    s->ctx = zmq_ctx_new();
    s->dealer = zmq_socket(s->ctx, ZMQ_DEALER);
    s->sub = zmq_socket(s->ctx, ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt(s->dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->sub, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_setsockopt(s->sub, ZMQ_SUBSCRIBE, "", 0), 0);
    assert_int_equal(zmq_connect(s->dealer, s->f.cfg.endpoint), 0);
    assert_int_equal(zmq_connect(s->sub, s->f.cfg.events_endpoint), 0);
}

static int
s_teardown(void **state)
{
    (void) state;
    s_t *s = &s_s;
    if (s->dealer)
        zmq_close(s->dealer);
    if (s->sub)
        zmq_close(s->sub);
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    server_destroy(&s->srv);
    fixture_close(&s->f);
    memset(s, 0, sizeof *s);
    return 0;
}

/* Turns the server's loop until sock has a message or WAIT_MS pass. */
static bool
s_turn_until(void *sock)
{
    uint64_t end = shop_now_ns() + (uint64_t) WAIT_MS * 1000000u;
    while (shop_now_ns() < end) {
        zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 0) == 1)
            return true;
        bool ready;
        assert_int_equal(server_poll(s_s.srv, -1, 20, &ready), 0);
    }
    return false;
}

/* Sends the frames (envelope first, then binary frames), turns the loop
 * until the reply arrives and decodes it into r. */
static void
s_send_frames(const void *const *data, const size_t *len, int n, proto_reply_t *r)
{
    for (int i = 0; i < n; i++)
        assert_true(zmq_send(s_s.dealer, data[i], len[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
    if (!s_turn_until(s_s.dealer))
        fail_msg("no reply within %d ms", WAIT_MS);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, s_s.dealer, 0) >= 0);
    assert_false(zmq_msg_more(&m));
    char err[256];
    assert_int_equal(proto_reply_decode(zmq_msg_data(&m), zmq_msg_size(&m), r, err, sizeof err),
                     PROTO_OK);
    zmq_msg_close(&m);
}

/* Sends request type (body borrowed) with nbin copies of bin as binary
 * frames; returns its id in id. */
static void
s_request(const char *type, const char *session, const json_t *body, const void *bin,
          size_t binlen, int nbin, char *id, proto_reply_t *r)
{
    snprintf(id, PROTO_ID_MAX, "r%d", ++s_s.next_id);
    size_t len;
    char *env = proto_request_encode(id, type, session, body, &len);
    const void *data[4] = { env, bin, bin, bin };
    size_t lens[4] = { len, binlen, binlen, binlen };
    s_send_frames(data, lens, 1 + nbin, r);
    free(env);
}

/* Receives the next event, waiting up to wait_ms. Returns the envelope (a
 * new reference) and its topic in topic, or NULL. */
static json_t *
s_event_within(char *topic, size_t cap, int wait_ms)
{
    zmq_pollitem_t it = { s_s.sub, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(&it, 1, wait_ms) != 1)
        return NULL;
    zmq_msg_t t, e;
    zmq_msg_init(&t);
    zmq_msg_init(&e);
    assert_true(zmq_msg_recv(&t, s_s.sub, 0) >= 0);
    assert_true(zmq_msg_more(&t));
    assert_true(zmq_msg_recv(&e, s_s.sub, 0) >= 0);
    /* the topic frame is "@SESSION/TYPE" (or "TYPE" without a session); topic
     * gets the type */
    char frame[PROTO_SESSION_MAX + PROTO_TYPE_MAX + 4], want[sizeof frame];
    size_t n = zmq_msg_size(&t) < sizeof frame - 1 ? zmq_msg_size(&t) : sizeof frame - 1;
    memcpy(frame, zmq_msg_data(&t), n);
    frame[n] = 0;
    json_t *j = json_loadb(zmq_msg_data(&e), zmq_msg_size(&e), 0, NULL);
    assert_non_null(j);
    assert_true(proto_event_topic(json_string_value(json_object_get(j, "type")),
                                  json_string_value(json_object_get(j, "session")), want,
                                  sizeof want) > 0);
    assert_string_equal(frame, want);
    shop_strlcpy(topic, proto_topic_type(frame), cap);
    zmq_msg_close(&t);
    zmq_msg_close(&e);
    return j;
}

/* The next event (it must come), turning the server's loop meanwhile. */
static json_t *
s_event(char *topic, size_t cap)
{
    if (!s_turn_until(s_s.sub))
        fail_msg("no event within %d ms", WAIT_MS);
    return s_event_within(topic, cap, 0);
}

/* Fails unless the request before published nothing: a sentinel request
 * ("help" on its own session) is sent, and the next event must be its
 * first ("intent" on that session). */
static void s_request(const char *type, const char *session, const json_t *body,
                      const void *bin, size_t binlen, int nbin, char *id, proto_reply_t *r);
static void
s_no_event(void)
{
    proto_reply_t r;
    char id[PROTO_ID_MAX], topic[64];
    json_t *b = json_pack("{s:s}", "text", "help");
    s_request("text", "sentinel", b, NULL, 0, 0, id, &r);
    json_decref(b);
    proto_reply_clear(&r);
    json_t *e = s_event(topic, sizeof topic);
    assert_string_equal(topic, "intent");
    assert_string_equal(json_string_value(json_object_get(e, "session")), "sentinel");
    json_decref(e);
    e = s_event(topic, sizeof topic);
    assert_string_equal(topic, "answer");
    json_decref(e);
}

/* Makes sure the SUB's subscription has reached the PUB: asks "help" (an
 * answer with events and no side effect but its session) until an event
 * arrives, then drops whatever is queued. */
static void
s_subscribe(void)
{
    for (int tries = 0; tries < 200; tries++) {
        proto_reply_t r;
        char id[PROTO_ID_MAX];
        json_t *b = json_pack("{s:s}", "text", "help");
        s_request("text", "warm-up", b, NULL, 0, 0, id, &r);
        json_decref(b);
        proto_reply_clear(&r);
        char topic[64];
        json_t *e = s_event_within(topic, sizeof topic, 100);
        if (e) {
            /* this try's other event ("answer"), then nothing is queued */
            json_decref(e);
            if (strcmp(topic, "intent") == 0)
                json_decref(s_event(topic, sizeof topic));
            return;
        }
    }
    fail_msg("the subscription never reached the server");
}

static void
test_each_request_gets_one_reply_with_its_id_and_errors_by_code(void **state)
{
    (void) state;
    s_start(0);
    proto_reply_t r;
    char id[PROTO_ID_MAX];
    s_request("status", NULL, NULL, NULL, 0, 0, id, &r);
    assert_true(r.ok);
    assert_string_equal(r.id, id);
    assert_string_equal(r.type, "status");
    assert_int_equal(json_integer_value(json_object_get(r.body, "requests")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "store"),
                                                        "items")),
                     FIXTURE_ITEMS);
    proto_reply_clear(&r);

    s_request("no-such-type", NULL, NULL, NULL, 0, 0, id, &r);
    assert_false(r.ok);
    assert_string_equal(r.id, id);
    assert_int_equal(r.code, PROTO_E_UNKNOWN_TYPE);
    assert_string_equal(r.message, "unknown request type \"no-such-type\"");
    proto_reply_clear(&r);

    s_request("audio", SESSION, NULL, NULL, 0, 0, id, &r);
    assert_int_equal(r.code, PROTO_E_FRAMES);
    assert_string_equal(r.message, "\"audio\" takes 1 binary frame, got 0");
    proto_reply_clear(&r);
    s_request("status", NULL, NULL, "x", 1, 2, id, &r);
    assert_int_equal(r.code, PROTO_E_FRAMES);
    assert_string_equal(r.message, "\"status\" takes 0 binary frames, got 2");
    proto_reply_clear(&r);

    const void *junk[] = { "{not json" };
    size_t junklen[] = { 9 };
    s_send_frames(junk, junklen, 1, &r);
    assert_int_equal(r.code, PROTO_E_MALFORMED);
    assert_string_equal(r.id, "");
    proto_reply_clear(&r);

    /* a handler's refusal: its code and message travel unchanged */
    json_t *b = json_pack("{s:s, s:s}", "op", "get", "id", "nope");
    s_request("catalogue", NULL, b, NULL, 0, 0, id, &r);
    json_decref(b);
    assert_int_equal(r.code, PROTO_E_NOT_FOUND);
    assert_string_equal(r.message, "no product \"nope\" in the catalogue");
    proto_reply_clear(&r);

    /* the counters the status reply reads from the handler environment */
    s_request("status", NULL, NULL, NULL, 0, 0, id, &r);
    assert_int_equal(json_integer_value(json_object_get(r.body, "requests")), 6);
    assert_int_equal(json_integer_value(json_object_get(r.body, "errors")), 5);
    proto_reply_clear(&r);
}

static void
test_the_events_a_handler_returns_are_published_with_the_reply_bodies(void **state)
{
    (void) state;
    s_start(0);
    s_subscribe();
    proto_reply_t r;
    char id[PROTO_ID_MAX], topic[64];

    /* a cart change: one "cart" event on the request's session */
    json_t *b = json_pack("{s:s, s:s, s:i}", "op", "add", "item", "bag-02", "quantity", 2);
    s_request("cart", SESSION, b, NULL, 0, 0, id, &r);
    json_decref(b);
    assert_true(r.ok);
    json_t *e = s_event(topic, sizeof topic);
    assert_string_equal(topic, "cart");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "cart");
    assert_string_equal(json_string_value(json_object_get(e, "session")), SESSION);
    assert_true(json_equal(json_object_get(e, "body"), r.body));
    json_int_t seq = json_integer_value(json_object_get(e, "seq"));
    json_decref(e);
    s_no_event();
    proto_reply_clear(&r);

    /* a read publishes nothing */
    b = json_pack("{s:s}", "op", "get");
    s_request("cart", SESSION, b, NULL, 0, 0, id, &r);
    json_decref(b);
    assert_true(r.ok);
    s_no_event();
    proto_reply_clear(&r);

    /* an answer of the flow: intent, recommendations, answer, in order */
    b = json_pack("{s:s}", "text", "show boots");
    s_request("text", SESSION, b, NULL, 0, 0, id, &r);
    json_decref(b);
    assert_true(r.ok);
    const char *want[] = { "intent", "recommendations", "answer" };
    for (size_t i = 0; i < 3; i++) {
        e = s_event(topic, sizeof topic);
        assert_string_equal(topic, want[i]);
        assert_string_equal(json_string_value(json_object_get(e, "session")), SESSION);
        /* consecutive numbers: nothing else was published in between */
        json_int_t n = json_integer_value(json_object_get(e, "seq"));
        if (i == 0)
            assert_true(n > seq);
        else
            assert_int_equal(n, seq + (json_int_t) i);
        if (i == 0)
            seq = n;
        const json_t *body = i == 2 ? r.body : json_object_get(r.body, want[i]);
        assert_true(json_equal(json_object_get(e, "body"), (json_t *) body));
        json_decref(e);
    }
    s_no_event();
    proto_reply_clear(&r);

    /* an error reply publishes nothing */
    b = json_pack("{s:s, s:s}", "op", "add", "item", "nope");
    s_request("cart", SESSION, b, NULL, 0, 0, id, &r);
    json_decref(b);
    assert_int_equal(r.code, PROTO_E_NOT_FOUND);
    s_no_event();
    proto_reply_clear(&r);
}

static void
test_the_status_heartbeat_is_published_on_its_period(void **state)
{
    (void) state;
    s_start(1);
    s_subscribe();
    /* the next heartbeat: one second apart, no session */
    char topic[64];
    json_t *e = s_event(topic, sizeof topic);
    /* the warm-up's own events may still be queued */
    while (strcmp(topic, "status") != 0) {
        json_decref(e);
        e = s_event(topic, sizeof topic);
    }
    assert_null(json_object_get(e, "session"));
    const json_t *body = json_object_get(e, "body");
    assert_int_equal(json_integer_value(json_object_get(body, "protocol")), PROTO_VERSION);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(body, "store"),
                                                        "items")),
                     FIXTURE_ITEMS);
    assert_true(json_is_true(json_object_get(json_object_get(body, "recommend"), "available")));
    json_decref(e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_each_request_gets_one_reply_with_its_id_and_errors_by_code,
                                  s_teardown),
        cmocka_unit_test_teardown(
            test_the_events_a_handler_returns_are_published_with_the_reply_bodies, s_teardown),
        cmocka_unit_test_teardown(test_the_status_heartbeat_is_published_on_its_period,
                                  s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
