/* tests/recommend_test.c: CSV and importers (bad rows counted by reason),
 * every model on a tiny log with a known answer, the model file (round trip,
 * corruption refused), the query engine (filters, reasons, cold start, a new
 * event changing the next answer at once, a model swap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "recommend/csv.h"
#include "recommend/eval.h"
#include "recommend/import.h"
#include "recommend/model.h"
#include "recommend/query.h"
#include "recommend/retrain.h"
#include "tests/pg_fixture.h"

#define DAY 86400

/* Two shops in one: customers buy either in {i0..i4} (category "a") or in
 * {i5..i9} ("b"), 3 baskets each, and i0+i1 always go together. */
static rec_data_t *
s_cluster_log(void)
{
    rec_data_t *d = rec_data_new();
    char id[16], cust[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "i%d", i);
        rec_data_set_item(d, id, id, i < 5 ? "a" : "b", 10.0f + (float) i, true);
    }
    uint64_t r = 7;
    for (int u = 0; u < 60; u++) {
        snprintf(cust, sizeof cust, "u%d", u);
        int base = (u % 2) * 5;
        for (int b = 0; b < 3; b++) {
            int64_t t = 1000000 + (int64_t) (u + b * 70) * DAY / 10;
            if (base == 0 && (u / 2 + b) % 2 == 0) {
                rec_data_add_event(d, cust, "i0", t, 1, STORE_EVENT_PURCHASE);
                rec_data_add_event(d, cust, "i1", t, 1, STORE_EVENT_PURCHASE);
            }
            for (int k = 0; k < 2; k++) {
                r = r * 6364136223846793005ULL + 1442695040888963407ULL;
                snprintf(id, sizeof id, "i%d", base + (int) ((r >> 33) % 5));
                rec_data_add_event(d, cust, id, t, 1, STORE_EVENT_PURCHASE);
            }
        }
    }
    rec_data_index(d);
    return d;
}

static rec_params_t
s_small_params(void)
{
    rec_params_t p;
    rec_params_default(&p);
    p.knn_k = 5;
    p.als_factors = 2;   /* two clusters: more factors would fit single items */
    p.als_iters = 8;
    p.nn_hidden = 16;
    p.nn_epochs = 60;
    p.nn_lr = 0.01f;
    p.nn_dropout = 0;
    return p;
}

static void
test_csv_parser_quotes_and_bad_rows(void **state)
{
    (void) state;
    assert_int_equal(csv_test(), 0);
}

static void
test_importers_count_bad_rows_by_reason(void **state)
{
    (void) state;
    assert_int_equal(import_test(), 0);
}

static void
test_time_parsing(void **state)
{
    (void) state;
    int64_t t;
    assert_int_equal(rec_parse_time("2011-11-09", &t), 0);
    assert_int_equal(t, 1320796800);
    assert_int_equal(rec_parse_time("2010-12-01 08:26:00", &t), 0);
    assert_int_equal(t, 1291191960);
    assert_int_equal(rec_parse_time("1300000000", &t), 0);
    assert_int_equal(t, 1300000000);
    assert_int_equal(rec_parse_time("2011-13-01", &t), -1);
    assert_int_equal(rec_parse_time("soon", &t), -1);
}

/* Every model, asked for a cluster-"a" customer's next new item, answers
 * from cluster "a"; the co-bought i1 is the first answer for i0 alone. */
static void
test_models_known_answers(void **state)
{
    (void) state;
    rec_data_t *d = s_cluster_log();
    rec_params_t p = s_small_params();
    char err[256];
    rec_model_t *m = rec_model_train(d, INT64_MAX, &p, err, sizeof err);
    assert_non_null(m);
    int n = rec_model_n_items(m);
    assert_int_equal(n, 10);
    float *sc = calloc((size_t) n, sizeof *sc);
    rec_ws_t *ws = rec_ws_new();
    int i0 = rec_model_item_index(m, "i0"), i1 = rec_model_item_index(m, "i1");
    int i2 = rec_model_item_index(m, "i2");
    rec_hist_ev_t h1[] = { { i0, 5000000, 1 } };
    rec_hist_ev_t h2[] = { { i2, 5000000, 1 }, { i2, 5100000, 1 } };
    rec_hist_t hist_i0 = { h1, 1 }, hist_i2 = { h2, 2 };
    rec_kind_t collab[] = { REC_KNN, REC_EASE, REC_ALS, REC_NEURAL, REC_BLEND };
    for (size_t k = 0; k < SHOP_ARRAY_LEN(collab); k++) {
        assert_true(rec_model_has(m, collab[k]));
        assert_int_equal(rec_model_score(m, collab[k], &hist_i2, 5200000, sc, ws), 0);
        sc[i2] = -INFINITY;
        int32_t top[3];
        assert_int_equal(rec_topk(sc, n, 3, top), 3);
        for (int r = 0; r < 3; r++) {
            if (top[r] >= 5)
                fail_msg("%s ranked %s at %d for a cluster-a customer",
                         rec_kind_name(collab[k]), rec_model_item_id(m, top[r]), r);
        }
    }
    /* bought together: i1 is i0's first neighbour over baskets and for EASE */
    const int32_t *nb;
    const float *sim;
    assert_true(rec_model_neighbours(m, i0, true, &nb, &sim) > 0);
    assert_int_equal(nb[0], i1);
    assert_int_equal(rec_model_score(m, REC_EASE, &hist_i0, 5200000, sc, ws), 0);
    sc[i0] = -INFINITY;
    int32_t top1;
    rec_topk(sc, n, 1, &top1);
    assert_int_equal(top1, i1);
    /* personal frequency: what the customer bought most comes first */
    assert_int_equal(rec_model_score(m, REC_FREQ, &hist_i2, 5200000, sc, ws), 0);
    rec_topk(sc, n, 1, &top1);
    assert_int_equal(top1, i2);
    /* the blend keeps a repeat purchase on top for a customer who rebuys */
    assert_int_equal(rec_model_score(m, REC_BLEND, &hist_i2, 5200000, sc, ws), 0);
    rec_topk(sc, n, 1, &top1);
    assert_int_equal(top1, i2);
    /* popularity: i0 and i1 are bought most (the pair plus random picks) */
    assert_int_equal(rec_model_score(m, REC_POP, &hist_i2, 0, sc, ws), 0);
    rec_topk(sc, n, 1, &top1);
    assert_true(top1 == i0 || top1 == i1);
    rec_ws_destroy(&ws);
    free(sc);
    rec_model_destroy(&m);
    rec_data_destroy(&d);
}

static void
test_eval_metrics_by_hand(void **state)
{
    (void) state;
    int32_t ranked[] = { 5, 3, 9, 1 }, truth[] = { 3, 1, 7 };
    double hr, rc, nd;
    rec_eval_one(ranked, 4, truth, 3, &hr, &rc, &nd);
    assert_true(hr == 1.0);
    assert_true(fabs(rc - 2.0 / 3.0) < 1e-9);
    double dcg = 1 / log2(3.0) + 1 / log2(5.0), idcg = 1 + 1 / log2(3.0) + 1 / log2(4.0);
    assert_true(fabs(nd - dcg / idcg) < 1e-9);
    rec_eval_one(ranked, 4, (int32_t[]) { 42 }, 1, &hr, &rc, &nd);
    assert_true(hr == 0 && rc == 0 && nd == 0);
}

static void
test_model_file_round_trip_and_corruption(void **state)
{
    (void) state;
    rec_data_t *d = s_cluster_log();
    rec_params_t p = s_small_params();
    p.nn_epochs = 2;
    char err[256], path[] = "/tmp/shop-rec-model-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    rec_model_t *m = rec_model_train(d, INT64_MAX, &p, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(rec_model_save(m, path, err, sizeof err), 0);
    rec_model_t *l = rec_model_load(path, err, sizeof err);
    assert_non_null(l);
    int n = rec_model_n_items(m);
    float *a = calloc((size_t) n, sizeof *a), *b = calloc((size_t) n, sizeof *b);
    rec_ws_t *ws = rec_ws_new();
    rec_hist_ev_t h[] = { { 2, 5000000, 1 }, { 7, 5000100, 1 } };
    rec_hist_t hist = { h, 2 };
    for (int k = 0; k < REC_N_KINDS; k++) {
        assert_int_equal(rec_model_score(m, (rec_kind_t) k, &hist, 5200000, a, ws), 0);
        assert_int_equal(rec_model_score(l, (rec_kind_t) k, &hist, 5200000, b, ws), 0);
        for (int i = 0; i < n; i++)
            assert_true(fabsf(a[i] - b[i]) <= 1e-5f * (1 + fabsf(a[i])));
    }
    assert_string_equal(rec_model_item_id(l, 3), rec_model_item_id(m, 3));
    rec_model_destroy(&l);
    /* a flipped byte, a truncation, a wrong magic: each refused with a reason */
    size_t len;
    uint8_t *buf = shop_read_file(path, 1 << 26, &len, err, sizeof err);
    assert_non_null(buf);
    buf[len / 2] ^= 0x40;
    assert_null(rec_model_load_buffer(buf, len, err, sizeof err));
    assert_non_null(strstr(err, "CRC"));
    buf[len / 2] ^= 0x40;
    assert_null(rec_model_load_buffer(buf, len - 9, err, sizeof err));
    buf[0] = 'X';
    assert_null(rec_model_load_buffer(buf, len, err, sizeof err));
    assert_non_null(strstr(err, "magic"));
    free(buf);
    unlink(path);
    rec_ws_destroy(&ws);
    free(a);
    free(b);
    rec_model_destroy(&m);
    rec_data_destroy(&d);
}

static void
test_params_parse_and_bounds(void **state)
{
    (void) state;
    rec_params_t p;
    rec_params_default(&p);
    assert_int_equal(rec_params_set(&p, "ease_lambda=80"), 0);
    assert_true(p.ease_lambda == 80.0f);
    assert_int_equal(rec_params_set(&p, "knn_k=0"), -1);
    assert_int_equal(rec_params_set(&p, "nope=1"), -1);
    assert_int_equal(rec_params_set(&p, "rep_weight=abc"), -1);
    assert_int_equal(rec_kind_from_name("ease"), REC_EASE);
    assert_int_equal(rec_kind_from_name("magic"), -1);
}

/* An engine over the cluster log, with catalogue prices and stock. */
static rec_engine_t *
s_engine(rec_params_t *p)
{
    char err[256];
    rec_data_t *d = s_cluster_log();
    rec_engine_t *e = rec_engine_new(NULL, err, sizeof err);
    assert_non_null(e);
    for (int i = 0; i < 10; i++) {
        char id[8], name[32];
        snprintf(id, sizeof id, "i%d", i);
        snprintf(name, sizeof name, "Item %d", i);
        rec_engine_set_item(e, id, name, i < 5 ? "a" : "b", 10.0 + i, i != 3);
    }
    for (size_t k = 0; k < d->n_ev; k++)
        assert_int_equal(rec_engine_add_event(e, rec_dict_str(d->users, d->ev[k].user),
                                              rec_dict_str(d->items, d->ev[k].item),
                                              d->ev[k].time, STORE_EVENT_PURCHASE, 1, false,
                                              err, sizeof err), 0);
    rec_model_t *m = rec_model_train(d, INT64_MAX, p, err, sizeof err);
    assert_non_null(m);
    rec_engine_set_model(e, &m);
    assert_null(m);
    rec_data_destroy(&d);
    return e;
}

static bool
s_has(const rec_result_t *r, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(r[i].item, id) == 0)
            return true;
    return false;
}

static void
test_queries_filters_reasons_cold_start(void **state)
{
    (void) state;
    rec_params_t p = s_small_params();
    p.train_neural = false;
    rec_engine_t *e = s_engine(&p);
    rec_result_t r[REC_MAX_K];
    char err[256];
    const int64_t now = 8000000;
    /* personal: u0 bought in cluster a; the top answers come from it */
    rec_query_t q = { .kind = REC_Q_PERSONAL, .customer = "u0", .k = 3, .now = now };
    int n = rec_engine_query(e, &q, r, err, sizeof err);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        assert_string_equal(r[i].category, "a");
    assert_false(s_has(r, n, "i3"));                /* out of stock */
    assert_string_equal(r[0].reason, "you bought this before");
    /* exclude bought + price range: nothing bought, nothing outside [12, 14] */
    q.exclude_bought = true;
    q.min_price = 12;
    q.max_price = 14;
    q.k = 10;
    n = rec_engine_query(e, &q, r, err, sizeof err);
    for (int i = 0; i < n; i++)
        assert_true(r[i].price >= 12 && r[i].price <= 14);
    /* category query, anonymous: popular in that category, with the reason */
    rec_query_t qc = { .kind = REC_Q_CATEGORY, .category = "b", .k = 2, .now = now };
    n = rec_engine_query(e, &qc, r, err, sizeof err);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].category, "b");
    assert_string_equal(r[0].reason, "popular in b");
    /* bought together with i0: i1, explained */
    rec_query_t qt = { .kind = REC_Q_TOGETHER, .item = "i0", .k = 1, .now = now };
    assert_int_equal(rec_engine_query(e, &qt, r, err, sizeof err), 1);
    assert_string_equal(r[0].item, "i1");
    assert_string_equal(r[0].reason, "often bought with Item 0");
    /* similar to i6: cluster b */
    rec_query_t qs = { .kind = REC_Q_SIMILAR, .item = "i6", .k = 2, .now = now };
    n = rec_engine_query(e, &qs, r, err, sizeof err);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].category, "b");
    assert_non_null(strstr(r[0].reason, "similar to Item 6"));
    /* cold customer: trending items, no error */
    rec_query_t qn = { .kind = REC_Q_PERSONAL, .customer = "stranger", .k = 4, .now = now };
    assert_int_equal(rec_engine_query(e, &qn, r, err, sizeof err), 4);
    assert_non_null(strstr(r[0].reason, "popular in"));
    /* cold item (new in the catalogue, unknown to the model): same category */
    rec_engine_set_item(e, "new-b", "New B", "b", 16, true);
    rec_query_t qi = { .kind = REC_Q_SIMILAR, .item = "new-b", .k = 3, .now = now };
    n = rec_engine_query(e, &qi, r, err, sizeof err);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        assert_string_equal(r[i].category, "b");
    /* refusals with a message */
    rec_query_t bad = { .kind = REC_Q_SIMILAR, .item = "nothing", .k = 3 };
    assert_int_equal(rec_engine_query(e, &bad, r, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown item"));
    bad.kind = REC_Q_PERSONAL;
    bad.k = 0;
    assert_int_equal(rec_engine_query(e, &bad, r, err, sizeof err), -1);
    rec_engine_destroy(&e);
    assert_null(e);
}

static void
test_new_event_changes_next_answer(void **state)
{
    (void) state;
    rec_params_t p = s_small_params();
    p.train_neural = false;
    rec_engine_t *e = s_engine(&p);
    rec_result_t r[REC_MAX_K];
    char err[256];
    /* a brand-new customer gets trending items; after buying i7 (cluster b)
     * the very next answer is personal and comes from cluster b */
    rec_query_t q = { .kind = REC_Q_PERSONAL, .customer = "fresh", .k = 3,
                      .exclude_bought = true, .now = 9000000 };
    assert_int_equal(rec_engine_query(e, &q, r, err, sizeof err), 3);
    assert_int_equal(rec_engine_add_event(e, "fresh", "i7", 8999000, STORE_EVENT_PURCHASE, 1,
                                          false, err, sizeof err), 0);
    int n = rec_engine_query(e, &q, r, err, sizeof err);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        assert_string_equal(r[i].category, "b");
        assert_string_not_equal(r[i].item, "i7");
    }
    assert_non_null(strstr(r[0].reason, "because you bought Item 7"));
    /* asked again: the same answer (from the customer's score cache) */
    rec_result_t again[REC_MAX_K];
    assert_int_equal(rec_engine_query(e, &q, again, err, sizeof err), n);
    for (int i = 0; i < n; i++)
        assert_string_equal(again[i].item, r[i].item);
    /* buying the first answer: it leaves the next answer at once */
    char first[STORE_ID_MAX];
    snprintf(first, sizeof first, "%s", r[0].item);
    assert_int_equal(rec_engine_add_event(e, "fresh", first, 8999500, STORE_EVENT_PURCHASE, 1,
                                          false, err, sizeof err), 0);
    n = rec_engine_query(e, &q, again, err, sizeof err);
    assert_int_equal(n, 3);
    assert_false(s_has(again, n, first));
    rec_engine_destroy(&e);
}

static void
test_model_swap_without_stopping(void **state)
{
    (void) state;
    rec_params_t p = s_small_params();
    p.train_neural = false;
    rec_engine_t *e = s_engine(&p);
    char err[256], path[] = "/tmp/shop-rec-swap-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    rec_data_t *d = s_cluster_log();
    rec_model_t *m = rec_model_train(d, INT64_MAX, &p, err, sizeof err);
    assert_int_equal(rec_model_save(m, path, err, sizeof err), 0);
    rec_model_destroy(&m);
    int g = rec_engine_generation(e);
    assert_int_equal(rec_engine_reload(e, path, err, sizeof err), 0);
    /* queries keep being answered while the file loads */
    rec_result_t r[5];
    rec_query_t q = { .kind = REC_Q_POPULAR, .k = 5, .now = 9000000 };
    for (int i = 0; i < 50; i++)
        assert_int_equal(rec_engine_query(e, &q, r, err, sizeof err), 5);
    assert_int_equal(rec_engine_reload_wait(e, err, sizeof err), 0);
    assert_int_equal(rec_engine_generation(e), g + 1);
    /* a bad file keeps the old model */
    assert_int_equal(rec_engine_reload(e, "/nonexistent/model", err, sizeof err), 0);
    assert_int_equal(rec_engine_reload_wait(e, err, sizeof err), -1);
    assert_int_equal(rec_engine_generation(e), g + 1);
    assert_int_equal(rec_engine_query(e, &q, r, err, sizeof err), 5);
    unlink(path);
    rec_data_destroy(&d);
    rec_engine_destroy(&e);
}

/* The store path: events written to the store reach the engine's next answer. */
/* The engine on a store at where (a file in dir, or a server's database),
 * written by another connection as the daemon's is. */
static void
s_engine_follows(const char *where, const char *dir)
{
    char err[256];
    store_t *s = store_open(where, NULL);
    assert_non_null(s);
    for (int i = 0; i < 10; i++) {
        store_item_t it = { .price = 5 + i, .in_stock = true };
        snprintf(it.id, sizeof it.id, "i%d", i);
        snprintf(it.name, sizeof it.name, "Item %d", i);
        snprintf(it.category, sizeof it.category, "%s", i < 5 ? "a" : "b");
        assert_int_equal(store_item_upsert(s, &it), 0);
    }
    store_t *writer = store_open(where, NULL);     /* the daemon's connection */
    assert_non_null(writer);
    rec_engine_t *e = rec_engine_new(&s, err, sizeof err);
    assert_non_null(e);
    assert_null(s);
    store_event_t ev = { .time = 1000, .type = STORE_EVENT_PURCHASE, .quantity = 1 };
    snprintf(ev.customer, sizeof ev.customer, "c1");
    snprintf(ev.item, sizeof ev.item, "i4");
    assert_int_equal(store_add_event(writer, &ev), 0);
    rec_result_t r[3];
    rec_query_t q = { .kind = REC_Q_PERSONAL, .customer = "c1", .k = 3, .now = 2000 };
    assert_true(rec_engine_query(e, &q, r, err, sizeof err) > 0);
    q.exclude_bought = true;
    int n = rec_engine_query(e, &q, r, err, sizeof err);
    assert_false(s_has(r, n, "i4"));              /* the store's purchase is known */
    /* through the engine: written to the store once, seen once */
    assert_int_equal(rec_engine_add_event(e, "c1", "i5", 3000, STORE_EVENT_PURCHASE, 1, true,
                                          err, sizeof err), 0);
    rec_engine_stats_t st;
    rec_engine_stats(e, &st);
    assert_int_equal(st.events, 2);
    store_counts_t c;
    assert_int_equal(store_counts(writer, &c), 0);
    assert_int_equal(c.events, 2);
    /* retraining from the store swaps a model in (and writes it) */
    rec_params_t p = s_small_params();
    p.train_neural = false;
    p.train_als = false;
    char model[300];
    snprintf(model, sizeof model, "%s/m.rec", dir);
    int g = rec_engine_generation(e);
    assert_int_equal(rec_engine_retrain(e, where, &p, model, err, sizeof err), 0);
    assert_int_equal(rec_engine_generation(e), g + 1);
    assert_int_equal(access(model, R_OK), 0);
    unlink(model);
    store_close(&writer);
    rec_engine_destroy(&e);
}

static void
test_engine_follows_the_store(void **state)
{
    (void) state;
    char dir[] = "/tmp/shop-rec-engine-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s.db", dir);
    s_engine_follows(path, dir);
    const char *suffix[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/s.db%s", dir, suffix[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* The same on a PostgreSQL database (a real server, tests/pg_server.sh,
 * stopped by the teardown even when the test fails). */
static pg_fixture_t s_pg;

static int
s_pg_up(void **state)
{
    (void) state;
    return pg_fixture_start(&s_pg);
}

static int
s_pg_down(void **state)
{
    (void) state;
    pg_fixture_destroy(&s_pg);
    return 0;
}

static void
test_engine_follows_a_postgresql_store(void **state)
{
    (void) state;
    char dir[] = "/tmp/shop-rec-engine-XXXXXX", uri[600];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(pg_fixture_newdb(&s_pg, uri, sizeof uri), 0);
    s_engine_follows(uri, dir);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_parser_quotes_and_bad_rows),
        cmocka_unit_test(test_importers_count_bad_rows_by_reason),
        cmocka_unit_test(test_time_parsing),
        cmocka_unit_test(test_models_known_answers),
        cmocka_unit_test(test_eval_metrics_by_hand),
        cmocka_unit_test(test_model_file_round_trip_and_corruption),
        cmocka_unit_test(test_params_parse_and_bounds),
        cmocka_unit_test(test_queries_filters_reasons_cold_start),
        cmocka_unit_test(test_new_event_changes_next_answer),
        cmocka_unit_test(test_model_swap_without_stopping),
        cmocka_unit_test(test_engine_follows_the_store),
        cmocka_unit_test_setup_teardown(test_engine_follows_a_postgresql_store, s_pg_up,
                                        s_pg_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
