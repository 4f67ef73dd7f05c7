/* tests/audio_kws_belief_test.c: a spotter model's own belief constants
 * (kws.belief_odds, kws.belief_power; audio/kws.h) reach the grammar.
 *
 * The shipped model is written to a temporary file with constants 3.5 and
 * 1.25, and once without any:
 * - with them, the listener's grammar (audio/listener.h) gives every
 *   confidence the belief 3.5 * (c / (1 - c)) ^ 1.25 as a probability,
 *   computed here; without, the grammar's defaults 1.64 and 2.43;
 * - `shop-eval audio` on the real recordings of tests/data/realspeech says
 *   in its JSON that it read them from the model, and the defaults without;
 * - the loader refuses, naming the key, a value that is not a number, not
 *   finite, <= 0 or beyond the grammar's ranges, and one constant without
 *   the other; kws_net_set_belief refuses to write such values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/intent.h"
#include "audio/kws.h"
#include "audio/listener.h"
#include "audio/vocab.h"
#include "nn/nn.h"

static char s_top[1024];
static char s_dir[] = "/tmp/shop-kws-belief-test-XXXXXX";

/* The shipped model with the belief keys set to odds and power (NULL:
 * absent), written to dir/name; returns the path (static buffer). */
static const char *
s_model(const char *name, const char *odds, const char *power)
{
    static char path[1200];
    char src[1200], err[256];
    snprintf(src, sizeof src, "%s/models/kws.nn", s_top);
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    nn_net_t *net = nn_load(src, err, sizeof err);
    if (!net)
        fail_msg("%s", err);
    assert_int_equal(nn_meta_unset(net, KWS_META_BELIEF_ODDS), 0);
    assert_int_equal(nn_meta_unset(net, KWS_META_BELIEF_POWER), 0);
    assert_null(nn_meta_get(net, KWS_META_BELIEF_ODDS));
    if (odds)
        assert_int_equal(nn_meta_set(net, KWS_META_BELIEF_ODDS, odds), 0);
    if (power)
        assert_int_equal(nn_meta_set(net, KWS_META_BELIEF_POWER, power), 0);
    if (nn_save(net, path, err, sizeof err) != 0)
        fail_msg("%s", err);
    nn_destroy(&net);
    return path;
}

static double
s_expected(double odds, double power, double c)
{
    double x = odds * pow(c / (1.0 - c), power);
    return x / (1.0 + x);
}

/* The listener over the model at path: its grammar's beliefs against the
 * formula with odds and power. */
static void
s_check_listener(const char *path, double odds, double power, bool own)
{
    char err[512];
    kws_t *kws = kws_new(path, NULL, err, sizeof err);
    if (!kws)
        fail_msg("%s", err);
    float o = -1, p = -1;
    assert_int_equal(kws_belief(kws, &o, &p), own);
    if (own) {
        assert_true(o == (float) odds && p == (float) power);
    } else {
        assert_true(o == -1 && p == -1);   /* left alone */
    }
    listener_t *l = listener_new(&kws, NULL, NULL, err, sizeof err);
    if (!l)
        fail_msg("%s", err);
    static const double cs[] = { 0.05, 0.2, 0.3, 0.45, 0.5, 0.62, 0.8, 0.93 };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        double want = s_expected(odds, power, cs[i]);
        double got = intent_belief(listener_grammar(l), (float) cs[i]);
        if (fabs(got - want) > 1e-6)
            fail_msg("c %.2f: belief %.7f, want %.7f", cs[i], got, want);
    }
    listener_destroy(&l);
}

static void
test_a_model_with_constants_gives_their_beliefs(void **state)
{
    (void) state;
    s_check_listener(s_model("own.nn", "3.5", "1.25"), 3.5, 1.25, true);
    /* as kws_net_set_belief writes them */
    char src[1200], path[1200], err[256];
    snprintf(src, sizeof src, "%s/models/kws.nn", s_top);
    snprintf(path, sizeof path, "%s/set.nn", s_dir);
    nn_net_t *net = nn_load(src, err, sizeof err);
    assert_non_null(net);
    assert_int_equal(kws_net_set_belief(net, 47.8968, 3.622, err, sizeof err), 0);
    assert_int_equal(nn_save(net, path, err, sizeof err), 0);
    nn_destroy(&net);
    s_check_listener(path, 47.8968, 3.622, true);
}

static void
test_a_model_without_constants_keeps_the_defaults(void **state)
{
    (void) state;
    s_check_listener(s_model("none.nn", NULL, NULL), 1.64, 2.43, false);
}

/* shop-eval audio --json on the test recordings: its "beliefs" member. */
static json_t *
s_eval_beliefs(const char *model)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "SHOPD_DATADIR='%s' ./shop-eval audio --real-data "
             "'%s/tests/data/realspeech' --model '%s' --json", s_top, s_top, model);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t je;
    json_t *root = json_loadf(p, 0, &je);
    assert_int_equal(pclose(p), 0);
    if (!root)
        fail_msg("shop-eval output: %s", je.text);
    json_t *b = json_incref(json_object_get(root, "beliefs"));
    json_decref(root);
    assert_non_null(b);
    return b;
}

static void
test_shop_eval_reads_the_models_constants(void **state)
{
    (void) state;
    json_t *b = s_eval_beliefs(s_model("eval-own.nn", "3.5", "1.25"));
    assert_string_equal(json_string_value(json_object_get(b, "from")), "model");
    assert_true(fabs(json_real_value(json_object_get(b, "odds")) - 3.5) < 1e-6);
    assert_true(fabs(json_real_value(json_object_get(b, "power")) - 1.25) < 1e-6);
    json_decref(b);
    b = s_eval_beliefs(s_model("eval-none.nn", NULL, NULL));
    assert_string_equal(json_string_value(json_object_get(b, "from")), "grammar defaults");
    assert_true(fabs(json_real_value(json_object_get(b, "odds")) - 1.64) < 1e-6);
    assert_true(fabs(json_real_value(json_object_get(b, "power")) - 2.43) < 1e-6);
    json_decref(b);
}

static void
test_the_loader_refuses_bad_constants_by_name(void **state)
{
    (void) state;
    static const struct {
        const char *odds, *power, *key;
    } bad[] = {
        { "nan", "2", KWS_META_BELIEF_ODDS },    { "inf", "2", KWS_META_BELIEF_ODDS },
        { "0", "2", KWS_META_BELIEF_ODDS },      { "-1.5", "2", KWS_META_BELIEF_ODDS },
        { "1e7", "2", KWS_META_BELIEF_ODDS },    { "abc", "2", KWS_META_BELIEF_ODDS },
        { "2x", "2", KWS_META_BELIEF_ODDS },     { "", "2", KWS_META_BELIEF_ODDS },
        { "1e-50", "2", KWS_META_BELIEF_ODDS },  { "2", "nan", KWS_META_BELIEF_POWER },
        { "2", "-inf", KWS_META_BELIEF_POWER },  { "2", "0", KWS_META_BELIEF_POWER },
        { "2", "100.5", KWS_META_BELIEF_POWER }, { "2", " ", KWS_META_BELIEF_POWER },
    };
    char err[512], want[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = s_model("bad.nn", bad[i].odds, bad[i].power);
        kws_t *k = kws_new(path, NULL, err, sizeof err);
        if (k)
            fail_msg("odds \"%s\" power \"%s\" loaded", bad[i].odds, bad[i].power);
        snprintf(want, sizeof want, "model metadata %s is \"", bad[i].key);
        if (!strstr(err, want) || !strstr(err, "needs a number in (0, "))
            fail_msg("odds \"%s\" power \"%s\": %s", bad[i].odds, bad[i].power, err);
    }
    /* the largest values the grammar takes load */
    kws_t *k = kws_new(s_model("max.nn", "1e6", "100"), NULL, err, sizeof err);
    assert_non_null(k);
    kws_destroy(&k);
    /* one without the other */
    k = kws_new(s_model("half.nn", "2", NULL), NULL, err, sizeof err);
    assert_null(k);
    assert_non_null(strstr(err, "model metadata kws.belief_odds without kws.belief_power"));
    k = kws_new(s_model("half.nn", NULL, "2"), NULL, err, sizeof err);
    assert_null(k);
    assert_non_null(strstr(err, "model metadata kws.belief_power without kws.belief_odds"));
    /* and such values are not written */
    nn_net_t *net = kws_build_net(VOCAB_COUNT, 4, 1, 1);
    assert_non_null(net);
    assert_int_equal(kws_net_set_belief(net, NAN, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "the grammar takes odds in (0, 1e+06] and power in (0, 100]"));
    assert_int_equal(kws_net_set_belief(net, 2, 0, err, sizeof err), -1);
    assert_int_equal(kws_net_set_belief(net, 2e6, 2, err, sizeof err), -1);
    assert_int_equal(kws_net_set_belief(net, 2, INFINITY, err, sizeof err), -1);
    assert_null(nn_meta_get(net, KWS_META_BELIEF_ODDS));
    nn_destroy(&net);
}

int
main(void)
{
    const char *top = getenv("SHOPD_DATADIR");
    snprintf(s_top, sizeof s_top, "%s", top ? top : ".");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_model_with_constants_gives_their_beliefs),
        cmocka_unit_test(test_a_model_without_constants_keeps_the_defaults),
        cmocka_unit_test(test_shop_eval_reads_the_models_constants),
        cmocka_unit_test(test_the_loader_refuses_bad_constants_by_name),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
