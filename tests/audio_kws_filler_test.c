/* tests/audio_kws_filler_test.c: filler classes (audio/kws.h), the outputs
 * of a spotter beyond the vocabulary for words that are not vocabulary
 * words, and `shop-train audio --filler-classes`.
 *
 * - the label of unknown speech by its text (audio_filler_label);
 * - the shipped model given three filler classes (audio_add_fillers): its
 *   merged posteriors equal the shipped model's on fixed inputs (each
 *   filler and _unknown_ a quarter of its _unknown_), and the spotter
 *   reports the same words at the same times from real recordings; a model
 *   with fillers already, a vocabulary word or a word twice are refused;
 * - a training with --filler-classes on a small corpus synthesised here and
 *   the six recordings of tests/data/fillerspeech, going on from the
 *   shipped model: its classes are the other words of the training and
 *   calibration speakers (bed, off, up; not the validation speaker's down,
 *   not yes nor three), each real clip's word maps to its own class, the
 *   model loads in the spotter, trains on (--init) and recalibrates with its
 *   classes kept; without --real-data the option is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/corpus.h"
#include "audio/kws.h"
#include "audio/realdata.h"
#include "audio/train.h"
#include "audio/vocab.h"
#include "nn/nn.h"

static char s_model[1024];
static char s_data[1024];
static char s_dir[] = "/tmp/shop-kws-filler-test-XXXXXX";

static void
test_filler_label_by_text(void **state)
{
    (void) state;
    const char *w[] = { "bed", "off", "up" };
    assert_int_equal(audio_filler_label(w, 3, "bed"), VOCAB_COUNT);
    assert_int_equal(audio_filler_label(w, 3, "up"), VOCAB_COUNT + 2);
    assert_int_equal(audio_filler_label(w, 3, "  Up "), VOCAB_COUNT + 2);
    assert_int_equal(audio_filler_label(w, 3, "OFF"), VOCAB_COUNT + 1);
    /* more than one word, another word, nothing: _unknown_ */
    assert_int_equal(audio_filler_label(w, 3, "pick up"), VOCAB_UNKNOWN);
    assert_int_equal(audio_filler_label(w, 3, "upper"), VOCAB_UNKNOWN);
    assert_int_equal(audio_filler_label(w, 3, ""), VOCAB_UNKNOWN);
    assert_int_equal(audio_filler_label(w, 0, "up"), VOCAB_UNKNOWN);
}

/* Decodes the clip of set whose path ends in tail with kws. */
static int
s_decode(kws_t *kws, const real_t *set, const char *tail, kws_hit_t *hits, int max)
{
    for (int i = 0; i < real_count(set); i++) {
        const char *p = real_clip(set, i)->path;
        size_t a = strlen(p), b = strlen(tail);
        if (a < b || strcmp(p + a - b, tail) != 0)
            continue;
        float *pcm;
        size_t n;
        char err[256];
        if (real_clip_pcm(set, i, &pcm, &n, err, sizeof err) != 0)
            fail_msg("%s", err);
        int nh = kws_decode(kws, pcm, n, hits, max);
        free(pcm);
        return nh;
    }
    fail_msg("no clip %s", tail);
    return -1;
}

static void
test_head_extension_keeps_the_merged_posteriors(void **state)
{
    (void) state;
    char err[512] = "";
    nn_net_t *ship = nn_load(s_model, err, sizeof err), *wide = nn_load(s_model, err, sizeof err);
    if (!ship || !wide)
        fail_msg("%s", err);
    const char *words[] = { "up", "off", "go" };
    assert_int_equal(audio_add_fillers(&wide, words, 3, err, sizeof err), 0);
    assert_int_equal(nn_output_size(wide), VOCAB_COUNT + 3);
    assert_int_equal(kws_check_labels(wide, err, sizeof err), 3);
    assert_string_equal(nn_label(wide, VOCAB_COUNT), "_filler_up");
    assert_string_equal(nn_label(wide, VOCAB_COUNT + 2), "_filler_go");
    assert_string_equal(nn_meta_get(wide, "kws.thresholds"), nn_meta_get(ship, "kws.thresholds"));

    enum { N = 8, PER = KWS_FRAMES * 40, W = VOCAB_COUNT + 3 };
    float *x = malloc((size_t) N * PER * sizeof *x);
    assert_non_null(x);
    uint64_t rng = 7;
    for (int i = 0; i < N * PER; i++)
        x[i] = 3.f * nn_rand_float(&rng) - 1.5f;
    float p[N * VOCAB_COUNT], q[N * W], m[VOCAB_COUNT];
    assert_int_equal(nn_forward(ship, x, N, p), 0);
    assert_int_equal(nn_forward(wide, x, N, q), 0);
    for (int i = 0; i < N; i++) {
        const float *pi = p + i * VOCAB_COUNT, *qi = q + i * W;
        kws_merge_posteriors(qi, 3, m);
        for (int c = 0; c < VOCAB_COUNT; c++)
            assert_true(fabsf(m[c] - pi[c]) < 2e-6f);
        /* _unknown_ and its three copies: a quarter each */
        for (int j = 0; j < 3; j++)
            assert_true(fabsf(qi[VOCAB_COUNT + j] - qi[VOCAB_UNKNOWN]) < 1e-7f);
        assert_true(fabsf(4.f * qi[VOCAB_UNKNOWN] - pi[VOCAB_UNKNOWN]) < 2e-6f);
    }
    free(x);

    /* the spotter: the same words at the same times from real speech */
    real_t *set = real_open(s_data, err, sizeof err);
    if (!set)
        fail_msg("%s", err);
    nn_net_t *wide2 = nn_load(s_model, err, sizeof err);
    assert_non_null(wide2);
    assert_int_equal(audio_add_fillers(&wide2, words, 3, err, sizeof err), 0);
    kws_t *a = kws_new_from_net(&ship, NULL, err, sizeof err);
    kws_t *b = kws_new_from_net(&wide, NULL, err, sizeof err);
    if (!a || !b)
        fail_msg("%s", err);
    static const char *const clips[] = { "yes/0ea0e2f4_nohash_0.flac", "up/18f8afd5_nohash_0.flac",
                                         "off/0b57a6ed_nohash_0.flac",
                                         "_unknown_/three_27c30960_nohash_0.flac" };
    int total = 0;
    for (size_t c = 0; c < sizeof clips / sizeof *clips; c++) {
        kws_hit_t ha[8], hb[8];
        int na = s_decode(a, set, clips[c], ha, 8), nb = s_decode(b, set, clips[c], hb, 8);
        assert_true(na >= 0);
        assert_int_equal(na, nb);
        for (int i = 0; i < na; i++) {
            assert_int_equal(ha[i].word, hb[i].word);
            assert_true(ha[i].time == hb[i].time);
            assert_true(fabsf(ha[i].confidence - hb[i].confidence) < 1e-5f);
        }
        total += na;
    }
    /* the shipped model hears "yes" in the yes clip: the comparison saw a word */
    assert_true(total >= 1);
    kws_destroy(&a);
    kws_destroy(&b);
    real_destroy(&set);

    /* a model with filler classes gets no more; a vocabulary word, a bad
     * word or a word twice name none */
    assert_int_equal(audio_add_fillers(&wide2, words, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "vocabulary alone"));
    nn_destroy(&wide2);
    const char *yes[] = { "yes" }, *caps[] = { "Up" }, *twice[] = { "up", "up" };
    nn_net_t *n = nn_load(s_model, err, sizeof err);
    assert_non_null(n);
    assert_int_equal(audio_add_fillers(&n, yes, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "\"yes\" cannot name a filler class"));
    assert_int_equal(audio_add_fillers(&n, caps, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "\"Up\" cannot name a filler class"));
    assert_int_equal(audio_add_fillers(&n, twice, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "are both \"_filler_up\""));
    /* after the refusals the model is the shipped one, untouched */
    assert_int_equal(nn_output_size(n), VOCAB_COUNT);
    nn_destroy(&n);
}

/* One epoch of a training going on from init into dir/name. */
static int
s_train_opts(const char *init, const char *name, bool fillers, audio_domain_classes_t domain,
             const char *real, char *err, size_t errlen)
{
    char corpus[256], out[256];
    snprintf(corpus, sizeof corpus, "%s/corpus", s_dir);
    snprintf(out, sizeof out, "%s/%s", s_dir, name);
    audio_train_opts_t o = {
        .corpus_dir = corpus, .out = out, .fa_rate = 0.01f, .epochs = 1, .copies = 1,
        .channels = 64, .blocks = 4, .batch = 64, .threads = 1, .stride = 5, .lr = 0.0005f,
        .between = 1, .thr_min = 0.25f, .seed = 3, .init = init, .real_dir = real,
        .real_copies = 2, .fsdd_copies = 1, .filler_classes = fillers, .domain_classes = domain,
    };
    return audio_train_run(&o, err, errlen);
}

static int
s_train(const char *init, const char *name, bool fillers, const char *real, char *err,
        size_t errlen)
{
    return s_train_opts(init, name, fillers, AUDIO_DOMAIN_NONE, real, err, errlen);
}

static void
test_training_with_filler_classes(void **state)
{
    (void) state;
    char corpus[256], path[256], err[512] = "";
    snprintf(corpus, sizeof corpus, "%s/corpus", s_dir);
    corpus_gen_opts_t g = { .out_dir = corpus, .seed = 1, .scale = 1, .limit = 120 };
    if (corpus_generate(&g, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (s_train(s_model, "fill.nn", true, s_data, err, sizeof err) != 0)
        fail_msg("%s", err);
    snprintf(path, sizeof path, "%s/fill.nn", s_dir);
    nn_net_t *net = nn_load(path, err, sizeof err);
    if (!net)
        fail_msg("%s", err);
    /* the other words of the training and calibration speakers, sorted */
    assert_int_equal(nn_output_size(net), VOCAB_COUNT + 3);
    assert_int_equal(kws_check_labels(net, err, sizeof err), 3);
    assert_string_equal(nn_label(net, VOCAB_COUNT), "_filler_bed");
    assert_string_equal(nn_label(net, VOCAB_COUNT + 1), "_filler_off");
    assert_string_equal(nn_label(net, VOCAB_COUNT + 2), "_filler_up");
    assert_non_null(strstr(nn_meta_get(net, "provenance"), " --filler-classes"));
    assert_non_null(strstr(nn_meta_get(net, "provenance"), "; 3 filler classes;"));
    /* every recording's word against the model's classes */
    const char *words[3];
    for (int j = 0; j < 3; j++)
        words[j] = nn_label(net, VOCAB_COUNT + j) + strlen(KWS_FILLER_PREFIX);
    real_t *set = real_open(s_data, err, sizeof err);
    if (!set)
        fail_msg("%s", err);
    assert_int_equal(real_count(set), 6);
    int classes = 0;
    for (int i = 0; i < real_count(set); i++) {
        const real_clip_t *rc = real_clip(set, i);
        int want = VOCAB_UNKNOWN;
        if (strcmp(rc->word, "bed") == 0)
            want = VOCAB_COUNT;
        else if (strcmp(rc->word, "off") == 0)
            want = VOCAB_COUNT + 1;
        else if (strcmp(rc->word, "up") == 0)
            want = VOCAB_COUNT + 2;
        if (rc->vocab == VOCAB_UNKNOWN)
            assert_int_equal(audio_filler_label(words, 3, rc->word), want);
        else
            assert_true(vocab_is_keyword(rc->vocab) && want == VOCAB_UNKNOWN);
        classes += want != VOCAB_UNKNOWN;
        /* the validation speaker's "down" has no class */
        if (strcmp(rc->word, "down") == 0)
            assert_true(rc->validation && audio_filler_label(words, 3, "down") == VOCAB_UNKNOWN);
    }
    assert_int_equal(classes, 3);
    real_destroy(&set);
    nn_destroy(&net);
    /* the spotter runs it: 39 thresholds, the fillers merged */
    kws_t *k = kws_new(path, NULL, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    assert_true(kws_threshold(k, VOCAB_YES) >= 0.25f && kws_threshold(k, VOCAB_COUNT) < 0);
    kws_destroy(&k);

    /* trained on without the option, and recalibrated: the classes stay */
    if (s_train(path, "fill2.nn", false, s_data, err, sizeof err) != 0)
        fail_msg("%s", err);
    snprintf(path, sizeof path, "%s/fill2.nn", s_dir);
    net = nn_load(path, err, sizeof err);
    assert_non_null(net);
    assert_int_equal(kws_check_labels(net, err, sizeof err), 3);
    assert_string_equal(nn_label(net, VOCAB_COUNT + 2), "_filler_up");
    nn_destroy(&net);
    char out[256];
    snprintf(out, sizeof out, "%s/fill3.nn", s_dir);
    audio_train_opts_t c = {
        .corpus_dir = corpus, .out = out, .calibrate = path, .fa_rate = 0.01f, .copies = 1,
        .threads = 1, .stride = 5, .between = 1, .thr_min = 0.25f, .seed = 3, .real_dir = s_data,
        .real_copies = 2, .fsdd_copies = 1,
    };
    if (audio_train_run(&c, err, sizeof err) != 0)
        fail_msg("%s", err);
    net = nn_load(out, err, sizeof err);
    assert_non_null(net);
    assert_int_equal(kws_check_labels(net, err, sizeof err), 3);
    assert_string_equal(nn_label(net, VOCAB_COUNT + 1), "_filler_off");
    nn_destroy(&net);

    /* --domain-classes: the real windows over their own classes; the model
     * keeps its classes and says how it was trained */
    if (s_train_opts(path, "dom.nn", false, AUDIO_DOMAIN_WORDS, s_data, err, sizeof err) != 0)
        fail_msg("%s", err);
    snprintf(out, sizeof out, "%s/dom.nn", s_dir);
    net = nn_load(out, err, sizeof err);
    assert_non_null(net);
    assert_int_equal(kws_check_labels(net, err, sizeof err), 3);
    assert_non_null(strstr(nn_meta_get(net, "provenance"), " --domain-classes=words "));
    nn_destroy(&net);
    assert_int_equal(s_train_opts(s_model, "none.nn", false, AUDIO_DOMAIN_ALL, NULL, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "--domain-classes needs --real-data"));

    /* the classes are the real recordings' words: without them, refused */
    assert_int_equal(s_train(s_model, "none.nn", true, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "--filler-classes needs --real-data"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", s_dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const char *top = getenv("SHOPD_DATADIR"), *src = getenv("SHOP_TOP_SRCDIR");
    snprintf(s_model, sizeof s_model, "%s/models/kws.nn", top ? top : ".");
    snprintf(s_data, sizeof s_data, "%s/tests/data/fillerspeech", src ? src : ".");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filler_label_by_text),
        cmocka_unit_test(test_head_extension_keeps_the_merged_posteriors),
        cmocka_unit_test(test_training_with_filler_classes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(s_dir);
    return rc;
}
