/* tests/daemon_models_test.c: the recognisers shopd loads (daemon/models)
 * on a test store (tests/daemon_fixture.h): the shipped models load and
 * index the catalogue photos (then the index comes from its cache); a photo
 * is its own nearest neighbour; a missing, an unconfigured or a damaged
 * model file is not fatal but a warning in the log and a reason that names
 * the file; a reload that fails keeps the model loaded before; the grammar
 * reads confidences with the spotter model's belief constants when it
 * carries them, with its defaults when not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/intent.h"
#include "audio/kws.h"
#include "common/util.h"
#include "daemon/models.h"
#include "nn/nn.h"
#include "tests/daemon_fixture.h"

static fixture_t s_f;
static int s_saved_stderr = -1;
static char s_log[CONF_PATH_MAX + 16];

static int
s_setup(void **state)
{
    (void) state;
    fixture_open(&s_f, false, false);
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    if (s_saved_stderr >= 0) {
        dup2(s_saved_stderr, STDERR_FILENO);
        close(s_saved_stderr);
        s_saved_stderr = -1;
    }
    fixture_close(&s_f);
    return 0;
}

/* Sends what the daemon logs to a file of the test's directory. */
static void
s_log_begin(void)
{
    snprintf(s_log, sizeof s_log, "%s/log", s_f.dir);
    int fd = open(s_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    s_saved_stderr = dup(STDERR_FILENO);
    assert_true(s_saved_stderr >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
}

/* Restores stderr; returns what was logged (caller frees). */
static char *
s_log_end(void)
{
    dup2(s_saved_stderr, STDERR_FILENO);
    close(s_saved_stderr);
    s_saved_stderr = -1;
    FILE *fp = fopen(s_log, "r");
    assert_non_null(fp);
    char *text = calloc(1, 65536);
    assert_non_null(text);
    size_t n = fread(text, 1, 65535, fp);
    text[n] = 0;
    fclose(fp);
    fputs(text, stderr);
    return text;
}

static void
s_contains(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("\"%s\" not in:\n%s", want, text);
}

static void
test_the_shipped_models_load_and_index_every_catalogue_photo(void **state)
{
    (void) state;
    models_t *m = models_new(&s_f.cfg, s_f.store);
    assert_non_null(m);
    assert_true(models_ready(m, MODELS_KWS, NULL));
    assert_true(models_ready(m, MODELS_VISION, NULL));
    assert_non_null(models_kws(m));
    assert_non_null(models_grammar(m));
    assert_non_null(models_vision(m));
    json_t *st = models_status_json(m);
    const json_t *kws = json_object_get(st, "kws"), *vis = json_object_get(st, "vision");
    assert_true(json_is_true(json_object_get(kws, "loaded")));
    assert_null(json_object_get(kws, "error"));
    const char *path = json_string_value(json_object_get(kws, "path"));
    assert_non_null(path);
    assert_string_equal(path + strlen(path) - strlen("models/kws.nn"), "models/kws.nn");
    assert_int_equal(json_integer_value(json_object_get(vis, "indexed_photos")), FIXTURE_ITEMS);
    assert_string_equal(json_string_value(json_object_get(vis, "index_from")), "photos");
    json_decref(st);
    models_destroy(&m);
    assert_null(m);
    models_destroy(&m);     /* safe twice */

    /* same model, same photos: the index comes from its cache */
    m = models_new(&s_f.cfg, s_f.store);
    st = models_status_json(m);
    vis = json_object_get(st, "vision");
    assert_int_equal(json_integer_value(json_object_get(vis, "indexed_photos")), FIXTURE_ITEMS);
    assert_string_equal(json_string_value(json_object_get(vis, "index_from")), "cache");
    json_decref(st);
    models_destroy(&m);
}

static void
test_a_catalogue_photo_is_its_own_nearest_neighbour(void **state)
{
    (void) state;
    models_t *m = models_new(&s_f.cfg, s_f.store);
    const float *emb = models_item_embedding(m, "bag-02");
    assert_non_null(emb);
    assert_null(models_item_embedding(m, "no-such-item"));
    models_match_t out[FIXTURE_ITEMS];
    int n = models_visual_search(m, emb, FIXTURE_ITEMS, NULL, out);
    assert_int_equal(n, FIXTURE_ITEMS);
    assert_string_equal(out[0].item, "bag-02");
    assert_true(out[0].score > 0.999f);
    for (int i = 1; i < n; i++) {
        assert_string_not_equal(out[i].item, "bag-02");
        assert_true(out[i].score <= out[i - 1].score);
    }
    n = models_visual_search(m, emb, 3, "bag-02", out);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        assert_string_not_equal(out[i].item, "bag-02");
    models_destroy(&m);
}

static void
test_a_missing_model_file_is_a_warning_and_a_reason_naming_it(void **state)
{
    (void) state;
    conf_t cfg = s_f.cfg;
    snprintf(cfg.vision_model, sizeof cfg.vision_model, "%s/none.nn", s_f.dir);
    shop_strlcpy(cfg.kws_model, "models/no-such-kws.nn", sizeof cfg.kws_model);
    s_log_begin();
    models_t *m = models_new(&cfg, s_f.store);
    char *log = s_log_end();
    assert_non_null(m);
    char want[CONF_PATH_MAX + 64];
    const char *why = NULL;
    assert_false(models_ready(m, MODELS_VISION, &why));
    snprintf(want, sizeof want, "vision model %s not found", cfg.vision_model);
    assert_string_equal(why, want);
    assert_false(models_ready(m, MODELS_KWS, &why));
    assert_string_equal(why, "kws model models/no-such-kws.nn not found");
    assert_null(models_vision(m));
    assert_null(models_kws(m));
    /* the grammar ships apart from the spotter */
    assert_non_null(models_grammar(m));
    s_contains(log, "warning: models: kws model models/no-such-kws.nn not found; requests "
                    "that need it answer not_available");
    snprintf(want, sizeof want, "warning: models: vision model %s not found", cfg.vision_model);
    s_contains(log, want);
    free(log);
    json_t *st = models_status_json(m);
    const json_t *vis = json_object_get(st, "vision");
    assert_false(json_is_true(json_object_get(vis, "loaded")));
    snprintf(want, sizeof want, "vision model %s not found", cfg.vision_model);
    assert_string_equal(json_string_value(json_object_get(vis, "error")), want);
    assert_int_equal(json_integer_value(json_object_get(vis, "indexed_photos")), 0);
    json_decref(st);
    /* no index without the classifier */
    models_match_t out[1];
    float emb[4] = { 1, 0, 0, 0 };
    assert_int_equal(models_visual_search(m, emb, 1, NULL, out), 0);
    models_destroy(&m);

    cfg.kws_model[0] = 0;
    s_log_begin();
    m = models_new(&cfg, s_f.store);
    log = s_log_end();
    assert_false(models_ready(m, MODELS_KWS, &why));
    assert_string_equal(why, "no kws model configured");
    s_contains(log, "warning: models: no kws model configured");
    free(log);
    models_destroy(&m);
}

/* Writes n bytes of data to path. */
static void
s_write(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

static void
test_a_damaged_model_file_is_refused_with_a_reason_naming_it(void **state)
{
    (void) state;
    conf_t cfg = s_f.cfg;
    snprintf(cfg.kws_model, sizeof cfg.kws_model, "%s/junk.nn", s_f.dir);
    snprintf(cfg.vision_model, sizeof cfg.vision_model, "%s/cut.nn", s_f.dir);
    s_write(cfg.kws_model, "this is not a model\n", 20);
    /* the shipped classifier cut short */
    size_t len;
    void *real = fixture_read("models/vision.nn", &len);
    s_write(cfg.vision_model, real, len / 2);
    free(real);
    s_log_begin();
    models_t *m = models_new(&cfg, s_f.store);
    char *log = s_log_end();
    assert_non_null(m);
    const char *why = NULL;
    char want[CONF_PATH_MAX + 64];
    assert_false(models_ready(m, MODELS_KWS, &why));
    snprintf(want, sizeof want, "kws model %s: ", cfg.kws_model);
    assert_memory_equal(why, want, strlen(want));
    assert_true(strlen(why) > strlen(want));
    snprintf(want, sizeof want, "warning: models: kws model %s: ", cfg.kws_model);
    s_contains(log, want);
    assert_false(models_ready(m, MODELS_VISION, &why));
    snprintf(want, sizeof want, "vision model %s: ", cfg.vision_model);
    assert_memory_equal(why, want, strlen(want));
    assert_true(strlen(why) > strlen(want));
    /* the path is named once, not repeated by each layer */
    assert_null(strstr(why + strlen(want), cfg.vision_model));
    free(log);
    models_destroy(&m);
}

static void
test_a_reload_that_fails_keeps_the_model_loaded_before(void **state)
{
    (void) state;
    models_t *m = models_new(&s_f.cfg, s_f.store);
    assert_true(models_ready(m, MODELS_VISION, NULL));
    vision_classifier_t *before = models_vision(m);
    conf_t cfg = s_f.cfg;
    snprintf(cfg.vision_model, sizeof cfg.vision_model, "%s/gone.nn", s_f.dir);
    s_log_begin();
    assert_int_equal(models_reload(m, &cfg, s_f.store), -1);
    char *log = s_log_end();
    assert_true(models_ready(m, MODELS_VISION, NULL));
    assert_ptr_equal(models_vision(m), before);
    json_t *st = models_status_json(m);
    const json_t *vis = json_object_get(st, "vision");
    assert_true(json_is_true(json_object_get(vis, "loaded")));
    char want[CONF_PATH_MAX + 64];
    snprintf(want, sizeof want, "vision model %s not found", cfg.vision_model);
    assert_string_equal(json_string_value(json_object_get(vis, "error")), want);
    assert_int_equal(json_integer_value(json_object_get(vis, "indexed_photos")), FIXTURE_ITEMS);
    json_decref(st);
    s_contains(log, want);
    free(log);
    /* a good reload clears the error */
    assert_int_equal(models_reload(m, &s_f.cfg, s_f.store), 0);
    st = models_status_json(m);
    assert_null(json_object_get(json_object_get(st, "vision"), "error"));
    json_decref(st);
    models_destroy(&m);
}

/* The shipped spotter written to path with belief constants odds and power
 * (odds <= 0: none). */
static void
s_spotter(const char *path, double odds, double power)
{
    char src[CONF_PATH_MAX], err[256];
    assert_non_null(shop_data_path("models/kws.nn", src, sizeof src));
    nn_net_t *net = nn_load(src, err, sizeof err);
    assert_non_null(net);
    nn_meta_unset(net, KWS_META_BELIEF_ODDS);
    nn_meta_unset(net, KWS_META_BELIEF_POWER);
    if (odds > 0)
        assert_int_equal(kws_net_set_belief(net, odds, power, err, sizeof err), 0);
    assert_int_equal(nn_save(net, path, err, sizeof err), 0);
    nn_destroy(&net);
}

/* The grammar's belief at c against odds * (c / (1 - c)) ^ power. */
static void
s_belief_is(const intent_t *g, double odds, double power)
{
    static const double cs[] = { 0.1, 0.3, 0.5, 0.7, 0.9 };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        double x = odds * pow(cs[i] / (1 - cs[i]), power);
        assert_true(fabs(intent_belief(g, (float) cs[i]) - x / (1 + x)) < 1e-6);
    }
}

static void
test_the_grammar_reads_confidences_with_the_spotters_constants(void **state)
{
    (void) state;
    conf_t cfg = s_f.cfg;
    snprintf(cfg.kws_model, sizeof cfg.kws_model, "%s/own.nn", s_f.dir);
    s_spotter(cfg.kws_model, 3.5, 1.25);
    models_t *m = models_new(&cfg, s_f.store);
    assert_true(models_ready(m, MODELS_KWS, NULL));
    s_belief_is(models_grammar(m), 3.5, 1.25);
    /* a reload with a spotter without them: the grammar's defaults */
    snprintf(cfg.kws_model, sizeof cfg.kws_model, "%s/plain.nn", s_f.dir);
    s_spotter(cfg.kws_model, 0, 0);
    assert_int_equal(models_reload(m, &cfg, s_f.store), 0);
    s_belief_is(models_grammar(m), 1.64, 2.43);
    models_destroy(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
        T(test_the_shipped_models_load_and_index_every_catalogue_photo),
        T(test_a_catalogue_photo_is_its_own_nearest_neighbour),
        T(test_a_missing_model_file_is_a_warning_and_a_reason_naming_it),
        T(test_a_damaged_model_file_is_refused_with_a_reason_naming_it),
        T(test_a_reload_that_fails_keeps_the_model_loaded_before),
        T(test_the_grammar_reads_confidences_with_the_spotters_constants),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
