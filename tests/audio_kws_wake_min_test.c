/* tests/audio_kws_wake_min_test.c: a spotter model carries the least
 * confidence at which its wake word begins a command (kws.wake_min,
 * audio/kws.h), and shopd's listener uses it unless configured otherwise.
 *
 * - The shipped model carries 0.6 (the real-speaker model models/kws-domain.nn
 *   0: its threshold alone, chosen for it); a listener with the default
 *   configuration uses it ("model"), one configured with another value
 *   uses that ("config"), and over a model without one the wake word's
 *   threshold alone decides ("none", 0).
 * - `shop-train audio --set MODEL --wake-min C` writes MODEL with C and
 *   nothing else changed: with the key taken off both, the two nets save to
 *   the same bytes.
 * - The loader refuses, naming the key, a value that is not a number in
 *   [0, 1]; kws_net_set_wake_min refuses to write one; `--set` on a file
 *   that is not a spotter fails naming it.
 * - `shop-eval audio` on the real recordings of tests/data/realspeech says
 *   which wake_min its listener used and where it came from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio/kws.h"
#include "audio/listener.h"
#include "audio/vocab.h"
#include "nn/nn.h"

static char s_top[1024];
static char s_dir[] = "/tmp/shop-kws-wake-min-test-XXXXXX";
static char s_shipped[1100];

/* The shipped model with kws.wake_min set to value (NULL: absent), written
 * to s_dir/name; returns the path (static buffer). */
static const char *
s_model(const char *name, const char *value)
{
    static char path[1200];
    char err[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    nn_net_t *net = nn_load(s_shipped, err, sizeof err);
    if (!net)
        fail_msg("%s", err);
    assert_int_equal(nn_meta_unset(net, KWS_META_WAKE_MIN), 0);
    if (value)
        assert_int_equal(nn_meta_set(net, KWS_META_WAKE_MIN, value), 0);
    if (nn_save(net, path, err, sizeof err) != 0)
        fail_msg("%s", err);
    nn_destroy(&net);
    return path;
}

/* The wake_min a listener over the model at path uses with configured
 * (negative: the default configuration), and where it comes from. */
static double
s_listener_wake_min(const char *path, double configured, const char **from)
{
    char err[512];
    kws_t *k = kws_new(path, NULL, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    listener_config_t lc;
    listener_config_default(&lc);
    if (configured >= 0)
        lc.wake_min = configured;
    listener_t *l = listener_new(&k, NULL, &lc, err, sizeof err);
    if (!l)
        fail_msg("%s", err);
    double w = listener_wake_min(l, from);
    listener_destroy(&l);
    return w;
}

static void
test_the_listener_takes_the_models_unless_configured(void **state)
{
    (void) state;
    char err[512];
    kws_t *k = kws_new(s_shipped, NULL, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    double w = -1;
    assert_true(kws_wake_min(k, &w));
    assert_true(w == 0.6);
    kws_destroy(&k);

    listener_config_t lc;
    listener_config_default(&lc);
    assert_true(lc.wake_min < 0);   /* the default: the model's */
    const char *from = NULL;
    assert_true(s_listener_wake_min(s_shipped, -1, &from) == 0.6);
    assert_string_equal(from, "model");
    assert_true(s_listener_wake_min(s_shipped, 0.45, &from) == 0.45);
    assert_string_equal(from, "config");
    assert_true(s_listener_wake_min(s_shipped, 0, &from) == 0);
    assert_string_equal(from, "config");
    /* the real-speaker model's own: its threshold alone, chosen for it */
    char domain[1200];
    snprintf(domain, sizeof domain, "%s/models/kws-domain.nn", s_top);
    assert_true(s_listener_wake_min(domain, -1, &from) == 0);
    assert_string_equal(from, "model");
    const char *none = s_model("none.nn", NULL);
    assert_true(s_listener_wake_min(none, -1, &from) == 0);
    assert_string_equal(from, "none");
    k = kws_new(none, NULL, err, sizeof err);
    assert_non_null(k);
    w = 0.25;
    assert_false(kws_wake_min(k, &w));
    assert_true(w == 0.25);   /* left alone */
    kws_destroy(&k);
}

/* The bytes net saves to without its kws.wake_min. */
static void *
s_bytes_without(const char *path, size_t *len)
{
    char err[256];
    nn_net_t *net = nn_load(path, err, sizeof err);
    if (!net)
        fail_msg("%s", err);
    assert_int_equal(nn_meta_unset(net, KWS_META_WAKE_MIN), 0);
    void *mem = nn_save_mem(net, len, err, sizeof err);
    if (!mem)
        fail_msg("%s", err);
    nn_destroy(&net);
    return mem;
}

static void
test_set_writes_the_wake_min_alone(void **state)
{
    (void) state;
    char out[1200], cmd[4096], err[512];
    snprintf(out, sizeof out, "%s/set.nn", s_dir);
    snprintf(cmd, sizeof cmd, "./shop-train audio --set '%s' --wake-min 0.75 --out '%s' "
             ">/dev/null", s_shipped, out);
    assert_int_equal(system(cmd), 0);
    kws_t *k = kws_new(out, NULL, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    double w = -1;
    assert_true(kws_wake_min(k, &w) && w == 0.75);
    kws_destroy(&k);
    size_t la, lb;
    void *a = s_bytes_without(s_shipped, &la);
    void *b = s_bytes_without(out, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);

    /* a file that is not a keyword spotter is refused by name */
    char vision[1100];
    snprintf(vision, sizeof vision, "%s/models/vision.nn", s_top);
    snprintf(cmd, sizeof cmd, "./shop-train audio --set '%s' --wake-min 0.5 --out '%s/v.nn' "
             "2>'%s/err.txt' >/dev/null", vision, s_dir, s_dir);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    snprintf(cmd, sizeof cmd, "%s/v.nn", s_dir);
    assert_int_equal(access(cmd, F_OK), -1);
    snprintf(cmd, sizeof cmd, "%s/err.txt", s_dir);
    FILE *f = fopen(cmd, "r");
    assert_non_null(f);
    char line[1024] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    if (!strstr(line, vision) || !strstr(line, "label"))
        fail_msg("message: %s", line);
}

static void
test_the_loader_refuses_bad_values_by_name(void **state)
{
    (void) state;
    static const char *const bad[] = { "nan", "-0.1", "1.5", "abc", "", "inf", "0.5x", " " };
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kws_t *k = kws_new(s_model("bad.nn", bad[i]), NULL, err, sizeof err);
        if (k)
            fail_msg("kws.wake_min \"%s\" loaded", bad[i]);
        if (!strstr(err, "model metadata kws.wake_min is \"")
            || !strstr(err, "needs a number from 0 to 1"))
            fail_msg("kws.wake_min \"%s\": %s", bad[i], err);
    }
    static const char *const good[] = { "0", "1", "0.6" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        kws_t *k = kws_new(s_model("good.nn", good[i]), NULL, err, sizeof err);
        if (!k)
            fail_msg("kws.wake_min \"%s\": %s", good[i], err);
        double w = -1;
        assert_true(kws_wake_min(k, &w) && w == strtod(good[i], NULL));
        kws_destroy(&k);
    }
    nn_net_t *net = kws_build_net(VOCAB_COUNT, 4, 1, 1);
    assert_non_null(net);
    assert_int_equal(kws_net_set_wake_min(net, NAN, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs a number from 0 to 1"));
    assert_int_equal(kws_net_set_wake_min(net, -0.5, err, sizeof err), -1);
    assert_int_equal(kws_net_set_wake_min(net, 1.01, err, sizeof err), -1);
    assert_null(nn_meta_get(net, KWS_META_WAKE_MIN));
    assert_int_equal(kws_net_set_wake_min(net, 0.35, err, sizeof err), 0);
    assert_string_equal(nn_meta_get(net, KWS_META_WAKE_MIN), "0.35");
    nn_destroy(&net);
}

/* shop-eval audio --json on the test recordings (options extra): the wake
 * word settings of its real talk measure. */
static json_t *
s_eval_talk(const char *model, const char *extra)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "SHOPD_DATADIR='%s' ./shop-eval audio --real-data "
             "'%s/tests/data/realspeech' --model '%s' %s --json 2>/dev/null", s_top, s_top,
             model, extra);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t je;
    json_t *root = json_loadf(p, 0, &je);
    assert_int_equal(pclose(p), 0);
    if (!root)
        fail_msg("shop-eval output: %s", je.text);
    json_t *t = json_incref(json_object_get(json_object_get(root, "real"), "with_wake_word"));
    json_decref(root);
    assert_non_null(t);
    return t;
}

static void
test_shop_eval_says_which_wake_min(void **state)
{
    (void) state;
    json_t *t = s_eval_talk(s_model("eval.nn", "0.75"), "");
    assert_true(json_real_value(json_object_get(t, "wake_min")) == 0.75);
    assert_string_equal(json_string_value(json_object_get(t, "wake_min_from")), "model");
    json_decref(t);
    t = s_eval_talk(s_model("eval.nn", "0.75"), "--wake-min 0.3");
    assert_true(json_real_value(json_object_get(t, "wake_min")) == 0.3);
    assert_string_equal(json_string_value(json_object_get(t, "wake_min_from")), "config");
    json_decref(t);
    t = s_eval_talk(s_model("eval.nn", NULL), "");
    assert_true(json_real_value(json_object_get(t, "wake_min")) == 0);
    assert_string_equal(json_string_value(json_object_get(t, "wake_min_from")), "none");
    json_decref(t);
}

int
main(void)
{
    const char *top = getenv("SHOPD_DATADIR");
    snprintf(s_top, sizeof s_top, "%s", top ? top : ".");
    snprintf(s_shipped, sizeof s_shipped, "%s/models/kws.nn", s_top);
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_listener_takes_the_models_unless_configured),
        cmocka_unit_test(test_set_writes_the_wake_min_alone),
        cmocka_unit_test(test_the_loader_refuses_bad_values_by_name),
        cmocka_unit_test(test_shop_eval_says_which_wake_min),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
