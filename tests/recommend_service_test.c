/* tests/recommend_service_test.c: the recommendation service over ZeroMQ:
 * in-process on inproc:// (two worker threads on one front socket, many
 * clients), over TCP loopback, and two `shop-recommend`
 * worker processes behind the broker (both answer; stopping one loses no
 * query: the Lazy Pirate client resends to the other). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>

#include "common/util.h"
#include "recommend/service.h"
#include "tests/shopd_harness.h"

static rec_engine_t *
s_engine(void)
{
    char err[256];
    rec_engine_t *e = rec_engine_new(NULL, err, sizeof err);
    assert_non_null(e);
    static const char *const cats[] = { "sneaker", "bag" };
    for (int i = 0; i < 8; i++) {
        char id[16], name[32];
        snprintf(id, sizeof id, "p%d", i);
        snprintf(name, sizeof name, "Product %d", i);
        rec_engine_set_item(e, id, name, cats[i % 2], 10.0 + i, true);
    }
    /* p0 and p2 go together; p4 sells most */
    for (int u = 0; u < 20; u++) {
        char c[16];
        snprintf(c, sizeof c, "c%d", u);
        int64_t t = 1000 + u;
        rec_engine_add_event(e, c, "p0", t, STORE_EVENT_PURCHASE, 1, false, err, sizeof err);
        rec_engine_add_event(e, c, "p2", t, STORE_EVENT_PURCHASE, 1, false, err, sizeof err);
        rec_engine_add_event(e, c, "p4", t + 5, STORE_EVENT_PURCHASE, 1, false, err, sizeof err);
        rec_engine_add_event(e, c, "p4", t + 9, STORE_EVENT_PURCHASE, 1, false, err, sizeof err);
    }
    return e;
}

static void
s_check_service(void *ctx, const char *endpoint)
{
    rec_client_t *c = rec_client_new(ctx, endpoint, 2000, 1);
    rec_result_t r[5];
    char err[256], worker[64];
    rec_query_t q = { .kind = REC_Q_CATEGORY, .category = "sneaker", .k = 3, .now = 5000 };
    int n = rec_client_query(c, &q, r, worker, sizeof worker, err, sizeof err);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].item, "p4");
    assert_string_equal(r[0].category, "sneaker");
    assert_string_equal(r[0].reason, "popular in sneaker");
    assert_string_equal(worker, "t");
    /* an error travels back as a message, not a timeout */
    q.kind = REC_Q_SIMILAR;
    q.item = "nothing";
    assert_int_equal(rec_client_query(c, &q, r, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown item"));
    /* a live event through the service changes the next answer */
    char *rep = rec_client_request(c, "{\"op\":\"event\",\"customer\":\"new\",\"item\":\"p6\","
                                      "\"type\":\"purchase\",\"time\":4000}", err, sizeof err);
    assert_non_null(rep);
    assert_non_null(strstr(rep, "\"ok\": true") ? rep : strstr(rep, "\"ok\":true"));
    free(rep);
    rep = rec_client_request(c, "{\"op\":\"status\",\"id\":7}", err, sizeof err);
    assert_non_null(rep);
    assert_non_null(strstr(rep, "\"customers\":21"));
    assert_non_null(strstr(rep, "\"id\":7"));
    free(rep);
    rep = rec_client_request(c, "not json", err, sizeof err);
    assert_non_null(strstr(rep, "not a JSON object"));
    free(rep);
    rec_client_destroy(&c);
}

static void
test_service_inproc(void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new();
    rec_engine_t *e = s_engine();
    char err[256];
    rec_service_opts_t o = { .bind = REC_SERVICE_ENDPOINT, .threads = 2, .name = "t" };
    o.threads = 1;
    rec_service_t *s = rec_service_new(ctx, e, &o, err, sizeof err);
    assert_non_null(s);
    s_check_service(ctx, REC_SERVICE_ENDPOINT);
    assert_true(rec_service_served(s) >= 5);
    rec_service_destroy(&s);
    assert_null(s);
    rec_engine_destroy(&e);
    zmq_ctx_term(ctx);
}

/* One REQ client of the shared-front test: n requests, each checked for
 * its own id and the right answer; counts what each worker answered. */
typedef struct {
    void *ctx;
    const char *ep;
    int first_id, n, ok, by[2];
} s_req_client_t;

static void *
s_req_client_main(void *arg)
{
    s_req_client_t *c = arg;
    void *sock = zmq_socket(c->ctx, ZMQ_REQ);
    int timeout = 5000, linger = 0;
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(sock, c->ep);
    char req[256], rep[4096], want[32];
    for (int i = 0; i < c->n; i++) {
        int id = c->first_id + i;
        int len = snprintf(req, sizeof req, "{\"op\":\"recommend\",\"kind\":\"category\","
                           "\"category\":\"sneaker\",\"k\":3,\"now\":5000,\"id\":%d}", id);
        if (zmq_send(sock, req, (size_t) len, 0) != len)
            break;
        int got = zmq_recv(sock, rep, sizeof rep - 1, 0);
        if (got < 0)
            break;   /* a lost reply: the count falls short */
        rep[SHOP_MIN(got, (int) sizeof rep - 1)] = '\0';
        snprintf(want, sizeof want, "\"id\":%d,", id);
        if (strstr(rep, "\"ok\":true") && strstr(rep, want) && strstr(rep, "\"item\":\"p4\""))
            c->ok++;
        if (strstr(rep, "\"worker\":\"t.0\""))
            c->by[0]++;
        if (strstr(rep, "\"worker\":\"t.1\""))
            c->by[1]++;
    }
    zmq_close(sock);
    return NULL;
}

/* Receives one multi-part reply on a DEALER into parts (at most 4).
 * Returns the number of parts, 0 on a timeout. */
static int
s_dealer_recv(void *sock, char parts[4][4096])
{
    int n = 0, more = 1;
    while (more && n < 4) {
        int got = zmq_recv(sock, parts[n], 4095, 0);
        if (got < 0)
            return 0;
        parts[n++][SHOP_MIN(got, 4095)] = '\0';
        size_t ml = sizeof more;
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
    }
    return n;
}

/* Two worker threads serve one front ROUTER directly (no proxy): eight
 * concurrent REQ clients get every reply, each to its own request, from
 * both workers; a DEALER's envelope comes back as it was sent, and a
 * request of two body frames is refused with a reply, not dropped. */
static void
test_shared_front_many_clients(void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new();
    rec_engine_t *e = s_engine();
    char err[256];
    const char *ep = "inproc://rec-shared-front";
    rec_service_opts_t o = { .bind = ep, .threads = 2, .name = "t" };
    rec_service_t *s = rec_service_new(ctx, e, &o, err, sizeof err);
    assert_non_null(s);
    enum { CLIENTS = 8, PER = 300 };
    s_req_client_t c[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = (s_req_client_t) { .ctx = ctx, .ep = ep, .first_id = i * PER, .n = PER };
        assert_int_equal(pthread_create(&th[i], NULL, s_req_client_main, &c[i]), 0);
    }
    int ok = 0, by0 = 0, by1 = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        ok += c[i].ok;
        by0 += c[i].by[0];
        by1 += c[i].by[1];
    }
    print_message("# %d/%d answered: %d by t.0, %d by t.1\n", ok, CLIENTS * PER, by0, by1);
    assert_int_equal(ok, CLIENTS * PER);
    assert_int_equal(by0 + by1, CLIENTS * PER);
    assert_true(by0 > 0 && by1 > 0);
    assert_int_equal(rec_service_served(s), CLIENTS * PER);

    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int timeout = 5000, linger = 0;
    zmq_setsockopt(d, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(d, ep), 0);
    char parts[4][4096];
    /* as a REQ would: the empty delimiter, then the request */
    zmq_send(d, "", 0, ZMQ_SNDMORE);
    zmq_send(d, "{\"op\":\"ping\",\"id\":1}", 20, 0);
    assert_int_equal(s_dealer_recv(d, parts), 2);
    assert_string_equal(parts[0], "");
    assert_non_null(strstr(parts[1], "\"id\":1"));
    /* without a delimiter: the reply alone */
    zmq_send(d, "{\"op\":\"ping\",\"id\":2}", 20, 0);
    assert_int_equal(s_dealer_recv(d, parts), 1);
    assert_non_null(strstr(parts[0], "\"id\":2"));
    /* two body frames: refused, and said so */
    zmq_send(d, "", 0, ZMQ_SNDMORE);
    zmq_send(d, "{\"op\":", 6, ZMQ_SNDMORE);
    zmq_send(d, "\"ping\"}", 7, 0);
    assert_int_equal(s_dealer_recv(d, parts), 2);
    assert_non_null(strstr(parts[1], "one JSON frame per request"));
    zmq_close(d);
    rec_service_destroy(&s);
    rec_engine_destroy(&e);
    zmq_ctx_term(ctx);
}

/* The hand-written reply escapes quotes, control bytes and invalid UTF-8:
 * it always parses, and the names come back intact where they were valid. */
static void
test_reply_escapes_and_parses(void **state)
{
    (void) state;
    rec_engine_t *e = s_engine();
    rec_engine_set_item(e, "q1", "The \"best\" \\ bag\t\xff\xc3\xa9", "bag", 99, true);
    char err[256];
    for (int u = 0; u < 30; u++) {
        char c[16];
        snprintf(c, sizeof c, "c%d", u);
        rec_engine_add_event(e, c, "q1", 2000 + u, STORE_EVENT_PURCHASE, 1, false, err,
                             sizeof err);
    }
    const char req[] = "{\"op\":\"recommend\",\"kind\":\"category\",\"category\":\"bag\","
                       "\"k\":1,\"id\":[1,\"x\"]}";
    char *rep = rec_service_handle(e, "w\"1", req, sizeof req - 1);
    json_error_t jerr;
    json_t *j = json_loads(rep, 0, &jerr);
    assert_non_null(j);
    json_t *r0 = json_array_get(json_object_get(j, "results"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "item")), "q1");
    assert_string_equal(json_string_value(json_object_get(r0, "name")),
                        "The \"best\" \\ bag\t\xef\xbf\xbd\xc3\xa9");
    assert_true(json_real_value(json_object_get(r0, "price")) == 99.0
                || json_integer_value(json_object_get(r0, "price")) == 99);
    assert_string_equal(json_string_value(json_object_get(j, "worker")), "w\"1");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "id"), 0)), 1);
    json_decref(j);
    free(rep);
    rec_engine_destroy(&e);
}

/* A batch answers every request in order in one reply, errors in their
 * place; batches do not nest and have a size limit. */
static void
test_batch_answers_in_order(void **state)
{
    (void) state;
    rec_engine_t *e = s_engine();
    const char req[] = "{\"op\":\"batch\",\"id\":9,\"requests\":["
                       "{\"op\":\"recommend\",\"kind\":\"category\",\"category\":\"sneaker\","
                       "\"k\":2,\"now\":5000,\"id\":1},"
                       "{\"op\":\"recommend\",\"kind\":\"similar\",\"item\":\"nothing\",\"id\":2},"
                       "{\"op\":\"recommend\",\"kind\":\"together\",\"item\":\"p0\",\"k\":1,"
                       "\"now\":5000,\"id\":3},"
                       "{\"op\":\"batch\",\"requests\":[]}, 42]}";
    char *rep = rec_service_handle(e, "w", req, sizeof req - 1);
    json_error_t jerr;
    json_t *j = json_loads(rep, 0, &jerr);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 9);
    json_t *r = json_object_get(j, "replies");
    assert_int_equal(json_array_size(r), 5);
    json_t *r0 = json_array_get(r, 0), *r2 = json_array_get(r, 2);
    assert_int_equal(json_integer_value(json_object_get(r0, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r0, "results"), 0), "item")), "p4");
    assert_true(json_is_false(json_object_get(json_array_get(r, 1), "ok")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r, 1), "id")), 2);
    /* no model here: the seed is never its own answer */
    assert_int_equal(json_array_size(json_object_get(r2, "results")), 1);
    assert_string_not_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(r2, "results"), 0), "item")), "p0");
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(r, 3), "error")),
                           "cannot hold a batch"));
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(r, 4), "error")),
                           "not a JSON object"));
    json_decref(j);
    free(rep);
    /* more than REC_MAX_BATCH requests: refused as a whole */
    char big[8192];
    int len = snprintf(big, sizeof big, "{\"op\":\"batch\",\"requests\":[");
    for (int i = 0; i <= REC_MAX_BATCH; i++)
        len += snprintf(big + len, sizeof big - (size_t) len, "%s{\"op\":\"ping\"}", i ? "," : "");
    len += snprintf(big + len, sizeof big - (size_t) len, "]}");
    rep = rec_service_handle(e, "w", big, (size_t) len);
    assert_non_null(strstr(rep, "at most 64 requests"));
    free(rep);
    rec_engine_destroy(&e);
}

enum { PORT_TRIES = 20 };

static void
test_service_tcp_loopback(void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new();
    rec_engine_t *e = s_engine();
    char err[256] = "", ep[64];
    rec_service_opts_t o = { .bind = ep, .threads = 1, .name = "t" };
    rec_service_t *s = NULL;
    for (int t = 0; t < PORT_TRIES && !s; t++) {
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", harness_free_port());
        s = rec_service_new(ctx, e, &o, err, sizeof err);
    }
    if (!s)
        fail_msg("no loopback port could be bound in %d tries: %s", PORT_TRIES, err);
    s_check_service(ctx, ep);
    /* binding the same port twice is refused with a reason */
    rec_service_t *s2 = rec_service_new(ctx, e, &o, err, sizeof err);
    assert_null(s2);
    assert_non_null(strstr(err, "cannot bind"));
    rec_service_destroy(&s);
    rec_engine_destroy(&e);
    zmq_ctx_term(ctx);
}

/* Worker processes, killed by the group teardown whatever a test did. */
static pid_t s_workers[2];

static int
s_teardown(void **state)
{
    (void) state;
    for (int i = 0; i < 2; i++) {
        if (s_workers[i] > 0) {
            kill(s_workers[i], SIGKILL);
            waitpid(s_workers[i], NULL, 0);
            s_workers[i] = 0;
        }
    }
    return 0;
}

static pid_t
s_spawn_worker(const char *bin, const char *db, const char *back, const char *name)
{
    pid_t pid = fork();
    if (pid == 0) {
        /* die with the test, and keep the TAP pipe to the test alone */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execl(bin, bin, "--db", db, "--demo", "--connect", back, "--name", name, (char *) NULL);
        _exit(127);
    }
    return pid;
}

/* Waits until a worker named `name` answers through the broker. */
static bool
s_wait_worker(rec_client_t *c, const char *name, int tries)
{
    char err[256];
    for (int i = 0; i < tries; i++) {
        char *rep = rec_client_request(c, "{\"op\":\"ping\"}", err, sizeof err);
        bool ok = rep && strstr(rep, name);
        free(rep);
        if (ok)
            return true;
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return false;
}

static void
test_broker_two_workers_lose_no_query(void **state)
{
    (void) state;
    const char *top = getenv("SHOP_TOP_BUILDDIR");
    char bin[1024], dir[] = "/tmp/shop-rec-broker-XXXXXX", db[256], err[256];
    snprintf(bin, sizeof bin, "%s/shop-recommend", top ? top : ".");
    if (access(bin, X_OK) != 0)
        fail_msg("%s is not built", bin);
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/s.db", dir);
    char front[64], back[64];
    void *ctx = zmq_ctx_new();
    rec_broker_t *b = NULL;
    err[0] = 0;
    for (int t = 0; t < PORT_TRIES && !b; t++) {
        snprintf(front, sizeof front, "tcp://127.0.0.1:%d", harness_free_port());
        snprintf(back, sizeof back, "tcp://127.0.0.1:%d", harness_free_port());
        b = rec_broker_new(ctx, front, back, NULL, err, sizeof err);
    }
    if (!b)
        fail_msg("no two loopback ports could be bound in %d tries: %s", PORT_TRIES, err);
    rec_client_t *c = rec_client_new(ctx, front, 400, 5);
    /* the first worker imports the demo store; the second shares it */
    pid_t w1 = s_workers[0] = s_spawn_worker(bin, db, back, "w1");
    assert_true(w1 > 0);
    assert_true(s_wait_worker(c, "w1", 200));
    pid_t w2 = s_workers[1] = s_spawn_worker(bin, db, back, "w2");
    assert_true(w2 > 0);
    /* both answer queries from this one client */
    bool seen1 = false, seen2 = false;
    rec_result_t r[5];
    char worker[64];
    rec_query_t q = { .kind = REC_Q_SIMILAR, .item = "sneaker-01", .k = 5 };
    for (int i = 0; i < 400 && !(seen1 && seen2); i++) {
        int n = rec_client_query(c, &q, r, worker, sizeof worker, err, sizeof err);
        assert_int_equal(n, 5);
        seen1 |= strcmp(worker, "w1") == 0;
        seen2 |= strcmp(worker, "w2") == 0;
        if (!seen2) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    assert_true(seen1);
    assert_true(seen2);
    assert_string_equal(r[0].category, "sneaker");
    /* stop one worker abruptly in the middle of a stream: every query is answered */
    int answered = 0;
    long retries0 = rec_client_retries(c);
    for (int i = 0; i < 200; i++) {
        if (i == 50)
            kill(w1, SIGKILL);
        int n = rec_client_query(c, &q, r, worker, sizeof worker, err, sizeof err);
        if (n == 5)
            answered++;
        if (i > 60)
            assert_string_equal(worker, "w2");
    }
    assert_int_equal(answered, 200);
    print_message("# 200/200 answered across the stop, %ld client retries\n",
                  rec_client_retries(c) - retries0);
    kill(w2, SIGTERM);
    int st;
    waitpid(w1, &st, 0);
    s_workers[0] = 0;
    waitpid(w2, &st, 0);
    s_workers[1] = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);   /* a clean stop on SIGTERM */
    rec_client_destroy(&c);
    rec_broker_destroy(&b);
    zmq_ctx_term(ctx);
    const char *suffix[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        snprintf(db, sizeof db, "%s/s.db%s", dir, suffix[i]);
        unlink(db);
    }
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_escapes_and_parses),
        cmocka_unit_test(test_batch_answers_in_order),
        cmocka_unit_test(test_service_inproc),
        cmocka_unit_test(test_shared_front_many_clients),
        cmocka_unit_test(test_service_tcp_loopback),
        cmocka_unit_test(test_broker_two_workers_lose_no_query),
    };
    return cmocka_run_group_tests(tests, NULL, s_teardown);
}
