/* tests/daemon_pg_test.c: shopd on a PostgreSQL database (a real server
 * started by tests/pg_server.sh): `shopd --db postgresql://...` starts,
 * imports the demo store into the empty database, answers requests exactly
 * as a shopd on a SQLite file with the same demo store does, restarts
 * without importing again, and never shows the URI's password; two shopd
 * started together on one empty database store the demo events once; a
 * bad URI is refused at start with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "common/util.h"
#include "ipc/client.h"
#include "ipc/proto.h"
#include "tests/pg_fixture.h"
#include "tests/shopd_harness.h"

/* the demo store, no vision model (its photo index is not what is tested) */
#define S_CONF "[daemon]\nstatus_interval = 0\n[store]\nimport_demo = yes\n" \
               "[models]\nvision = /nonexistent/vision.nn\n"

static pg_fixture_t s_pg;
/* the shopd runs: static, so that a failed test's are stopped by s_down */
static harness_t s_ref, s_d;

static int
s_up(void **state)
{
    (void) state;
    if (harness_init() != 0) {
        fprintf(stderr, "shopd is not built\n");
        return -1;
    }
    return pg_fixture_start(&s_pg);
}

static int
s_down(void **state)
{
    (void) state;
    if (s_ref.dir[0])
        harness_cleanup(&s_ref);
    if (s_d.dir[0])
        harness_cleanup(&s_d);
    pg_fixture_destroy(&s_pg);
    return 0;
}

/* Data lines of a CSV file of the source tree (its lines but the header):
 * the demo store's own count, independent of any store. */
static long long
s_csv_rows(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", getenv("SHOP_TOP_SRCDIR") ? getenv("SHOP_TOP_SRCDIR")
                                                                   : ".", rel);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long long n = 0;
    int c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n')
            n++;
        last = c;
    }
    fclose(f);
    return (last == '\n' ? n : n + 1) - 1;
}

/* The reply body of a request that must succeed (a new reference). */
static json_t *
s_ask(client_t *c, const char *type, const char *session, json_t *body)
{
    proto_reply_t r;
    char err[512];
    int rc = client_request(c, type, session, body, NULL, NULL, 0, 20000, &r, err, sizeof err);
    json_decref(body);
    if (rc != 0)
        fail_msg("%s: no reply: %s", type, err);
    if (!r.ok)
        fail_msg("%s: %s: %s", type, proto_err_name(r.code), r.message);
    json_t *out = json_incref(r.body);
    proto_reply_clear(&r);
    return out;
}

static json_int_t
s_store_int(const json_t *status, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(status, "store"), key));
}

/* A recommendation reply without its scores: they decay with the query's
 * clock, which differs between two shopd runs; the ranked items do not. */
static json_t *
s_unscored(json_t *reply)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(reply, "results"), i, r)
        json_object_del(r, "score");
    return reply;
}

/* What the test compares between the two backends, as JSON text. */
static char *
s_answers(client_t *c)
{
    json_t *all = json_object();
    json_object_set_new(all, "recommend",
                        s_unscored(s_ask(c, "recommend", "k1",
                                         json_pack("{s:s, s:i}", "customer", "c0042", "limit",
                                                   10))));
    json_object_set_new(all, "similar",
                        s_unscored(s_ask(c, "similar", "k1", json_pack("{s:s, s:i}", "item",
                                                                       "boot-03", "limit", 5))));
    json_object_set_new(all, "catalogue",
                        s_ask(c, "catalogue", "k1", json_pack("{s:s, s:s, s:i}", "op", "list",
                                                             "category", "bag", "limit", 5)));
    char *text = json_dumps(all, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(all);
    return text;
}

/* Fails unless got is want, showing where they part. */
static void
s_same(const char *got, const char *want)
{
    size_t i = 0;
    while (got[i] && got[i] == want[i])
        i++;
    if (!got[i] && !want[i])
        return;
    size_t from = i > 120 ? i - 120 : 0;
    fail_msg("answers differ at byte %zu:\n# got:  %.240s\n# want: %.240s", i, got + from,
             want + from);
}

static void
test_shopd_on_postgresql(void **state)
{
    (void) state;
    char base[600], uri[700], val[64];
    assert_int_equal(pg_fixture_newdb(&s_pg, base, sizeof base), 0);
    /* the server trusts the socket: the password is only there to be hidden */
    snprintf(uri, sizeof uri, "%s&password=s3cret", base);
    long long items = s_csv_rows("data/demo/catalogue.csv");
    long long events = s_csv_rows("data/demo/events.csv");
    assert_true(items > 100 && events > 10000);

    /* the reference: the same demo store in a SQLite file */
    harness_t *ref = &s_ref, *d = &s_d;
    harness_prepare(ref, "pgref", S_CONF);
    harness_start(ref);
    client_t *c = harness_client(ref);
    char *want = s_answers(c);
    client_destroy(&c);
    assert_int_equal(harness_stop(ref, SIGTERM), 0);
    harness_cleanup(ref);

    harness_prepare(d, "pg", S_CONF);
    assert_true(strlen(uri) < sizeof d->db);
    shop_strlcpy(d->db, uri, sizeof d->db);
    harness_start(d);
    assert_true(harness_log_has(d, "imported the demo store", 1000));
    c = harness_client(d);
    json_t *st = s_ask(c, "status", "k1", NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(st, "store"),
                                                          "database")), base);
    assert_int_equal(s_store_int(st, "items"), items);
    assert_int_equal(s_store_int(st, "events"), events);
    json_decref(st);
    /* the rows are in the server, as another client sees them */
    assert_int_equal(pg_fixture_sql(base, "SELECT count(*) FROM interactions", val, sizeof val), 0);
    assert_int_equal(atoll(val), events);
    char *got = s_answers(c);
    s_same(got, want);
    free(got);
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);

    /* a restart finds the demo store there: nothing imported twice */
    harness_start(d);
    c = harness_client(d);
    st = s_ask(c, "status", "k1", NULL);
    assert_int_equal(s_store_int(st, "items"), items);
    assert_int_equal(s_store_int(st, "events"), events);
    json_decref(st);
    got = s_answers(c);
    s_same(got, want);
    free(got);
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    assert_int_equal(harness_log_count(d, "imported the demo store"), 1);
    assert_int_equal(harness_log_count(d, "s3cret"), 0);
    harness_cleanup(d);
    free(want);
}

/* Two devices started together on one empty database: both run (no lock
 * file keeps the second out), exactly one imports the demo store, and each
 * device, once ready, reports the whole of it (the import is one
 * transaction under the import lock: the other device waits for its commit
 * and never sees the catalogue without the events); each demo event is
 * stored once (its uid is demo:<line>). */
static void
test_two_shopd_start_together(void **state)
{
    (void) state;
    char uri[600], val[64];
    assert_int_equal(pg_fixture_newdb(&s_pg, uri, sizeof uri), 0);
    long long items = s_csv_rows("data/demo/catalogue.csv");
    long long events = s_csv_rows("data/demo/events.csv");
    harness_t *dev[2] = { &s_ref, &s_d };
    for (int i = 0; i < 2; i++) {
        harness_prepare(dev[i], i ? "pgdevb" : "pgdeva", S_CONF);
        shop_strlcpy(dev[i]->db, uri, sizeof dev[i]->db);
    }
    harness_spawn(dev[0], NULL);
    harness_spawn(dev[1], NULL);
    for (int i = 0; i < 2; i++) {
        harness_wait_ready(dev[i], NULL, 120);
        client_t *c = harness_client(dev[i]);
        json_t *st = s_ask(c, "status", "k1", NULL);
        assert_int_equal(s_store_int(st, "items"), items);
        assert_int_equal(s_store_int(st, "events"), events);
        json_decref(st);
        client_destroy(&c);
    }
    assert_int_equal(pg_fixture_sql(uri, "SELECT count(DISTINCT uid) FROM interactions"
                                         " WHERE uid LIKE 'demo:%'", val, sizeof val), 0);
    assert_int_equal(atoll(val), events);
    /* one of them imported it; the other waited for that import's commit */
    assert_int_equal(harness_log_count(dev[0], "imported the demo store")
                         + harness_log_count(dev[1], "imported the demo store"), 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(harness_stop(dev[i], SIGTERM), 0);
        harness_cleanup(dev[i]);
    }
}

/* A URI libpq would not accept stops shopd at start with the reason (and
 * never the password); a server that is not there too. */
static void
test_shopd_refuses_bad_uri(void **state)
{
    (void) state;
    static const char *const bad[] = {
        "postgresql://shop:s3cret@db.example:99999/shop",
        "postgresql://shop:s3cret@db.example/shop?no_such_option=1",
        "postgresql://shop:s3cret@/shop?host=/nonexistent-dir",
    };
    static const char *const why[] = { "port", "no_such_option", "cannot connect" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        harness_t *dd = &s_d;
        harness_prepare(dd, "pgbad", S_CONF);
        shop_strlcpy(dd->db, bad[i], sizeof dd->db);
        harness_spawn(dd, NULL);
        int st;
        assert_int_equal(waitpid(dd->pid, &st, 0), dd->pid);
        dd->pid = 0;
        assert_true(WIFEXITED(st));
        assert_int_not_equal(WEXITSTATUS(st), 0);
        if (!harness_log_has(dd, why[i], 0))
            fail_msg("%s: the log does not say \"%s\"", bad[i], why[i]);
        assert_int_equal(harness_log_count(dd, "s3cret"), 0);
        harness_cleanup(dd);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shopd_refuses_bad_uri),
        cmocka_unit_test(test_shopd_on_postgresql),
        cmocka_unit_test(test_two_shopd_start_together),
    };
    return cmocka_run_group_tests(tests, s_up, s_down);
}
