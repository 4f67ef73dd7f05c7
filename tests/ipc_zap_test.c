/* tests/ipc_zap_test.c: ipc/zap self-test over real CURVE sockets on
 * loopback TCP: an allowed client key is served, an unknown key gets no
 * message through (not even a refusal), and a PLAIN client is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "common/util.h"
#include "ipc/keys.h"
#include "ipc/sock.h"
#include "ipc/zap.h"

typedef struct {
    void *ctx;
    zap_t *zap;
    void *router;
    char endpoint[128];
    char server_pub[41], server_sec[41];
} s_server_t;

static int
s_setup(void **state)
{
    s_server_t *s = calloc(1, sizeof *s);
    char err[256];
    s->ctx = zmq_ctx_new();
    assert_int_equal(keys_generate(s->server_pub, s->server_sec, err, sizeof err), 0);
    s->zap = zap_new(s->ctx, err, sizeof err);
    assert_non_null(s->zap);
    /* a second handler on the same context is refused */
    assert_null(zap_new(s->ctx, err, sizeof err));
    assert_non_null(strstr(err, "zeromq.zap.01"));
    s->router = zmq_socket(s->ctx, ZMQ_ROUTER);
    sock_opts_t o;
    sock_opts_default(&o);
    assert_int_equal(sock_apply(s->router, &o, err, sizeof err), 0);
    assert_int_equal(sock_curve_server(s->router, s->server_sec, err, sizeof err), 0);
    assert_int_equal(zmq_bind(s->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof s->endpoint;
    zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, s->endpoint, &len);
    *state = s;
    return 0;
}

static int
s_teardown(void **state)
{
    s_server_t *s = *state;
    zmq_close(s->router);
    zap_destroy(&s->zap);
    zap_destroy(&s->zap); /* safe twice */
    zmq_ctx_term(s->ctx);
    free(s);
    return 0;
}

/* Runs the server side for up to ms: answers ZAP, echoes every request.
 * Returns the number of requests echoed. */
static int
s_serve(s_server_t *s, int ms)
{
    int echoed = 0;
    uint64_t end = shop_now_ns() + (uint64_t) ms * 1000000u;
    while (shop_now_ns() < end) {
        zmq_pollitem_t items[2] = {
            { .socket = zap_socket(s->zap), .events = ZMQ_POLLIN },
            { .socket = s->router, .events = ZMQ_POLLIN },
        };
        zmq_poll(items, 2, 20);
        if (items[0].revents & ZMQ_POLLIN)
            assert_true(zap_handle(s->zap) >= 1);
        if (items[1].revents & ZMQ_POLLIN) {
            zmq_msg_t id, body;
            zmq_msg_init(&id);
            zmq_msg_init(&body);
            zmq_msg_recv(&id, s->router, 0);
            zmq_msg_recv(&body, s->router, 0);
            zmq_msg_send(&id, s->router, ZMQ_SNDMORE);
            zmq_msg_send(&body, s->router, 0);
            echoed++;
        }
    }
    return echoed;
}

/* A DEALER client with its own key pair; returns the socket. */
static void *
s_client(void *ctx, s_server_t *s, const char *pub, const char *sec)
{
    char err[256];
    void *c = zmq_socket(ctx, ZMQ_DEALER);
    sock_opts_t o;
    sock_opts_default(&o);
    o.linger_ms = 0;
    assert_int_equal(sock_apply(c, &o, err, sizeof err), 0);
    assert_int_equal(sock_curve_client(c, s->server_pub, pub, sec, err, sizeof err), 0);
    assert_int_equal(zmq_connect(c, s->endpoint), 0);
    return c;
}

static void
test_allowed_and_unknown_keys(void **state)
{
    s_server_t *s = *state;
    char err[256], good_pub[41], good_sec[41], bad_pub[41], bad_sec[41];
    assert_int_equal(keys_generate(good_pub, good_sec, err, sizeof err), 0);
    assert_int_equal(keys_generate(bad_pub, bad_sec, err, sizeof err), 0);
    zap_set_allowed(s->zap, (const char (*)[41]) &good_pub, 1);
    assert_int_equal(zap_allowed_count(s->zap), 1);
    assert_true(zap_is_allowed(s->zap, good_pub));
    assert_false(zap_is_allowed(s->zap, bad_pub));

    void *cctx = zmq_ctx_new();
    void *bad = s_client(cctx, s, bad_pub, bad_sec);
    void *good = s_client(cctx, s, good_pub, good_sec);
    zmq_send(bad, "from-bad", 8, ZMQ_DONTWAIT);
    zmq_send(good, "from-good", 9, 0);
    /* only the allowed client's message reaches the server */
    assert_int_equal(s_serve(s, 700), 1);
    char buf[32];
    int n = zmq_recv(good, buf, sizeof buf, ZMQ_DONTWAIT);
    assert_int_equal(n, 9);
    assert_memory_equal(buf, "from-good", 9);
    assert_int_equal(zmq_recv(bad, buf, sizeof buf, ZMQ_DONTWAIT), -1);
    unsigned long acc, ref;
    zap_stats(s->zap, &acc, &ref);
    assert_true(acc >= 1);
    assert_true(ref >= 1);

    /* the list is replaced at once: the once-good key is now refused */
    zap_set_allowed(s->zap, (const char (*)[41]) &bad_pub, 1);
    void *late = s_client(cctx, s, good_pub, good_sec);
    zmq_send(late, "late", 4, ZMQ_DONTWAIT);
    assert_int_equal(s_serve(s, 500), 0);
    zmq_close(late);
    zmq_close(bad);
    zmq_close(good);
    zmq_ctx_term(cctx);
}

static void
test_plain_refused(void **state)
{
    s_server_t *s = *state;
    /* a PLAIN client cannot even complete a handshake with a CURVE server,
     * and the handler refuses the mechanism if asked */
    void *cctx = zmq_ctx_new();
    void *c = zmq_socket(cctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(c, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c, ZMQ_PLAIN_USERNAME, "admin", 5);
    zmq_setsockopt(c, ZMQ_PLAIN_PASSWORD, "admin", 5);
    assert_int_equal(zmq_connect(c, s->endpoint), 0);
    zmq_send(c, "plain", 5, ZMQ_DONTWAIT);
    assert_int_equal(s_serve(s, 400), 0);
    zmq_close(c);
    zmq_ctx_term(cctx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed_and_unknown_keys),
        cmocka_unit_test(test_plain_refused),
    };
    return cmocka_run_group_tests_name("ipc_zap", tests, s_setup, s_teardown);
}
