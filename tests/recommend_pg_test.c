/* tests/recommend_pg_test.c: `shop-recommend` workers on a shared
 * PostgreSQL store (a real server from tests/pg_server.sh):
 * - two worker processes, `--db postgresql://...`, the first importing the
 *   demo store; an event written by a third connection (this test's own
 *   store_open on the same URI) changes both workers' answers to exactly
 *   what the engine computes on a SQLite copy of the same data with the same
 *   event (the reference);
 * - a third worker on the shared store, behind a CURVE broker
 *   (`shop-recommend --broker` with key files and allow-lists), answers a
 *   CURVE client like the reference too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "common/util.h"
#include "ipc/keys.h"
#include "recommend/import.h"
#include "recommend/service.h"
#include "tests/pg_fixture.h"
#include "tests/shopd_harness.h"

enum { WORKERS = 2, PROCS = WORKERS + 2 };

static struct {
    char dir[64], bin[1024], demo[1024], model[1100];
    pg_fixture_t pg;
    pid_t pid[PROCS];          /* the two workers, the broker, the worker behind it */
    char ep[WORKERS][64];
} s;

static int
s_setup(void **state)
{
    (void) state;
    const char *top = getenv("SHOP_TOP_BUILDDIR");
    snprintf(s.bin, sizeof s.bin, "%s/shop-recommend", top ? top : ".");
    if (access(s.bin, X_OK) != 0) {
        fprintf(stderr, "%s is not built\n", s.bin);
        return -1;
    }
    if (!shop_data_path("data/demo", s.demo, sizeof s.demo)
        || !shop_data_path("data/demo/recommend.model", s.model, sizeof s.model)) {
        fprintf(stderr, "the demo store is not found\n");
        return -1;
    }
    snprintf(s.dir, sizeof s.dir, "/tmp/shop-rec-pg-XXXXXX");
    if (!mkdtemp(s.dir))
        return -1;
    return pg_fixture_start(&s.pg);
}

static void
s_stop_workers(void)
{
    for (int i = 0; i < PROCS; i++)
        if (s.pid[i] > 0) {
            kill(s.pid[i], SIGKILL);
            waitpid(s.pid[i], NULL, 0);
            s.pid[i] = 0;
        }
}

static int
s_teardown(void **state)
{
    (void) state;
    s_stop_workers();
    char cmd[256];
    pg_fixture_destroy(&s.pg);
    if (s.dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s.dir);
    }
    return 0;
}

static pid_t
s_spawn(const char *const *args, const char *log)
{
    return harness_spawn_program(s.bin, args, log, false);
}

/* Waits until the service on ep answers a ping, the process still up. */
static void
s_wait_ready(void *ctx, const char *ep, pid_t pid, const char *log)
{
    rec_client_t *c = rec_client_new(ctx, ep, 500, 0);
    char err[256];
    for (int i = 0; i < 600; i++) {
        char *rep = rec_client_request(c, "{\"op\":\"ping\"}", err, sizeof err);
        bool ok = rep && strstr(rep, "\"ok\":true");
        free(rep);
        if (ok) {
            rec_client_destroy(&c);
            return;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            size_t len;
            char *text = (char *) shop_read_file(log, 1 << 20, &len, err, sizeof err);
            fail_msg("the worker on %s exited: %s", ep, text ? text : err);
        }
    }
    fail_msg("the worker on %s never answered", ep);
}

/* The reference: the engine over a SQLite copy of the demo store, with the
 * event (customer bought item at t) when item is not NULL. */
static int
s_reference(const char *customer, const char *item, int64_t t, int64_t now, rec_result_t *out)
{
    char path[160], err[512], *oerr = NULL;
    snprintf(path, sizeof path, "%s/ref-%s.db", s.dir, item ? item : "none");
    unlink(path);
    store_t *st = store_open(path, &oerr);
    assert_non_null(st);
    import_report_t rc, re;
    assert_int_equal(import_demo_store(st, s.demo, &rc, &re, err, sizeof err), 0);
    if (item) {
        store_event_t ev = { .time = t, .type = STORE_EVENT_PURCHASE, .quantity = 1 };
        shop_strlcpy(ev.customer, customer, sizeof ev.customer);
        shop_strlcpy(ev.item, item, sizeof ev.item);
        shop_strlcpy(ev.source, "test", sizeof ev.source);
        assert_int_equal(store_add_event(st, &ev), 0);
    }
    rec_engine_t *e = rec_engine_new(&st, err, sizeof err);
    assert_non_null(e);
    rec_model_t *m = rec_model_load(s.model, err, sizeof err);
    assert_non_null(m);
    rec_engine_set_model(e, &m);
    rec_query_t q = { .kind = REC_Q_PERSONAL, .customer = customer, .k = 8, .now = now };
    int n = rec_engine_query(e, &q, out, err, sizeof err);
    rec_engine_destroy(&e);
    return n;
}

static bool
s_same(const rec_result_t *a, int na, const rec_result_t *b, int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i].item, b[i].item) != 0)
            return false;
    return true;
}

static void
test_two_workers_see_a_third_connections_event(void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new();
    char log[160];
    snprintf(log, sizeof log, "%s/workers.log", s.dir);
    for (int i = 0; i < WORKERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "pg%d", i + 1);
        snprintf(s.ep[i], sizeof s.ep[i], "tcp://127.0.0.1:%d", harness_free_port());
        const char *args[] = { "--db", s.pg.uri, "--demo", "--bind", s.ep[i], "--name", name,
                               NULL };
        s.pid[i] = s_spawn(args, log);
        /* one at a time: the first imports the demo store into PostgreSQL */
        s_wait_ready(ctx, s.ep[i], s.pid[i], log);
    }
    const char *cust = "chain-c1", *item = "boot-07";
    const int64_t t = 1780000000, now = t + 600;
    rec_result_t before[8], after[8], got[8];
    int nb = s_reference(cust, NULL, 0, now, before);
    int na = s_reference(cust, item, t, now, after);
    assert_true(nb > 0 && na > 0);
    assert_false(s_same(before, nb, after, na));   /* the event matters */
    rec_query_t q = { .kind = REC_Q_PERSONAL, .customer = cust, .k = 8, .now = now };
    char err[256], worker[64];
    rec_client_t *c[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        c[i] = rec_client_new(ctx, s.ep[i], 5000, 1);
        int n = rec_client_query(c[i], &q, got, worker, sizeof worker, err, sizeof err);
        assert_true(s_same(got, n, before, nb));
    }
    /* a third connection writes the purchase */
    char *oerr = NULL;
    store_t *st = store_open(s.pg.uri, &oerr);
    if (!st)
        fail_msg("store_open(%s): %s", s.pg.uri, oerr ? oerr : "?");
    store_event_t ev = { .time = t, .type = STORE_EVENT_PURCHASE, .quantity = 1 };
    shop_strlcpy(ev.customer, cust, sizeof ev.customer);
    shop_strlcpy(ev.item, item, sizeof ev.item);
    shop_strlcpy(ev.source, "till-3", sizeof ev.source);
    assert_int_equal(store_add_event(st, &ev), 0);
    store_close(&st);
    /* both answers change to the reference's (waiting for the change, at
     * most 30 s: a worker reads new events before a query) */
    for (int i = 0; i < WORKERS; i++) {
        int n = -1;
        for (int k = 0; k < 300; k++) {
            n = rec_client_query(c[i], &q, got, worker, sizeof worker, err, sizeof err);
            if (!s_same(got, n, before, nb))
                break;
            struct timespec ts = { 0, 100 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
        if (!s_same(got, n, after, na))
            fail_msg("worker %s: answer %d items, first %s; the reference's %d, first %s",
                     worker, n, n > 0 ? got[0].item : "-", na, after[0].item);
        rec_client_destroy(&c[i]);
    }

    /* behind a CURVE broker: keys as `shopctl keygen` writes them */
    const char *names[] = { "broker", "client", "worker" };
    char path[160], pub[KEYS_Z85_LEN + 1], sec[KEYS_Z85_LEN + 1], text[128];
    for (size_t i = 0; i < SHOP_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof path, "%s/%s", s.dir, names[i]);
        assert_int_equal(keys_generate(pub, sec, err, sizeof err), 0);
        assert_int_equal(keys_write_pair(path, pub, sec, err, sizeof err), 0);
        if (i > 0) {
            snprintf(text, sizeof text, "%s\n", pub);
            snprintf(path, sizeof path, "%s/%s.allow", s.dir, names[i]);
            harness_write(path, text);
        }
    }
    char bkey[160], bpub[160], callow[160], wallow[160], wkey[160], ckey[160];
    char front[64], back[64];
    snprintf(bkey, sizeof bkey, "%s/broker.key", s.dir);
    snprintf(bpub, sizeof bpub, "%s/broker.pub", s.dir);
    snprintf(callow, sizeof callow, "%s/client.allow", s.dir);
    snprintf(wallow, sizeof wallow, "%s/worker.allow", s.dir);
    snprintf(wkey, sizeof wkey, "%s/worker.key", s.dir);
    snprintf(ckey, sizeof ckey, "%s/client.key", s.dir);
    snprintf(front, sizeof front, "tcp://127.0.0.1:%d", harness_free_port());
    snprintf(back, sizeof back, "tcp://127.0.0.1:%d", harness_free_port());
    const char *bargs[] = { "--broker", front, back, "--key", bkey, "--worker-keys", wallow,
                            "--client-keys", callow, NULL };
    s.pid[WORKERS] = s_spawn(bargs, log);
    const char *wargs[] = { "--db", s.pg.uri, "--demo", "--connect", back, "--key", wkey,
                            "--server-key", bpub, "--name", "pg-curve", NULL };
    s.pid[WORKERS + 1] = s_spawn(wargs, log);
    rec_client_t *bc = rec_client_new(ctx, front, 1000, 2);
    assert_int_equal(rec_client_set_curve(bc, ckey, bpub, err, sizeof err), 0);
    int n = -1;
    for (int k = 0; k < 120 && n < 0; k++)
        n = rec_client_query(bc, &q, got, worker, sizeof worker, err, sizeof err);
    assert_string_equal(worker, "pg-curve");
    assert_true(s_same(got, n, after, na));
    rec_client_destroy(&bc);
    s_stop_workers();
    zmq_ctx_term(ctx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_workers_see_a_third_connections_event),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
