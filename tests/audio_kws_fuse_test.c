/* tests/audio_kws_fuse_test.c: audio_fuse_models, one spotter model file
 * made of several (`shop-train audio --fuse`).
 *
 * - The shipped model fused with itself at weights 0.5 / 0.5 is the shipped
 *   model again (softmax(0.5 z + 0.5 z) = softmax(z)): on the log-mel
 *   features of real recordings its posteriors equal those of the shipped
 *   net run on its own normalised input, and through the run-time path
 *   (the model saved to a file, loaded by kws_new, the recordings streamed)
 *   it reports the same words at the same times.
 * - `shop-train audio --fuse` (audio_train_run) calibrates the fused model
 *   as --calibrate does: on a small corpus synthesised here, the shipped
 *   model fused with itself gets the thresholds --calibrate gives the
 *   shipped model, and the file it writes loads in the spotter; both end
 *   with the same belief constants for the grammar, and `--beliefs` fits
 *   the shipped model's own, its thresholds kept: at the file's constants
 *   the likelihood's score equations hold on the words the model reports in
 *   the validation voices' commands (computed here from the grammar's
 *   belief formula). A calibration with a wake_min writes it
 *   (kws.wake_min), a fused model carries none, `--beliefs` keeps the
 *   model's.
 * - Spotter files that cannot be fused are refused with a message naming
 *   the file and what differs: the feature configuration, the labels, a
 *   phone model, a missing file, a weight out of range. */
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
#include "audio/eval.h"
#include "audio/features.h"
#include "audio/kws.h"
#include "audio/source.h"
#include "audio/train.h"
#include "audio/vocab.h"

static char s_model[1024], s_data[1024];
static char s_dir[] = "/tmp/shop-kws-fuse-test-XXXXXX";

static const char *const s_clips[] = {
    "speech-commands/yes/189cbabe_nohash_0.flac", "speech-commands/no/189cbabe_nohash_0.flac",
    "speech-commands/stop/189cbabe_nohash_0.flac", "speech-commands/left/189cbabe_nohash_0.flac",
    "speech-commands/_silence_/1141.flac",         "fsdd/recordings/3_george_0.flac",
};
#define N_CLIPS (int) (sizeof s_clips / sizeof *s_clips)

static float *
s_decode(const char *clip, size_t *n)
{
    char path[1200], err[256];
    snprintf(path, sizeof path, "%s/%s", s_data, clip);
    float *pcm = NULL;
    if (audio_source_decode_file(path, NULL, &pcm, n, NULL, err, sizeof err) != 0)
        fail_msg("%s: %s", path, err);
    return pcm;
}

/* The model's input window of a recording: its last KWS_FRAMES log-mel
 * frames, the first frame repeated before a shorter one. */
static void
s_window(const char *clip, float *x)
{
    size_t n, nf;
    float *pcm = s_decode(clip, &n), *fr = NULL;
    assert_int_equal(features_compute(NULL, pcm, n, &fr, &nf), 0);
    assert_true(nf > 10);
    features_config_t fc;
    features_config_default(&fc);
    int M = fc.n_mels;
    for (int t = 0; t < KWS_FRAMES; t++) {
        long src = (long) nf - KWS_FRAMES + t;
        memcpy(x + (size_t) t * M, fr + (size_t) (src < 0 ? 0 : src) * M, (size_t) M * sizeof *x);
    }
    free(fr);
    free(pcm);
}

static void
test_shipped_model_fused_with_itself_is_itself(void **state)
{
    (void) state;
    const char *paths[2] = { s_model, s_model };
    const float w[2] = { 0.5f, 0.5f };
    char err[512];
    nn_net_t *f = audio_fuse_models(paths, 2, w, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    float mean, std;
    nn_net_t *ship = audio_load_with_stats(s_model, &mean, &std, err, sizeof err);
    assert_non_null(ship);
    /* the fused input is the raw features: each branch normalises its own */
    assert_float_equal(strtof(nn_meta_get(f, "kws.mean"), NULL), 0.f, 0);
    assert_float_equal(strtof(nn_meta_get(f, "kws.std"), NULL), 1.f, 0);
    assert_string_equal(nn_meta_get(f, "kws.thresholds"), nn_meta_get(ship, "kws.thresholds"));
    const char *prov = nn_meta_get(f, "provenance");
    assert_non_null(strstr(prov, "product of 2 spotters"));
    assert_non_null(strstr(prov, "weights 0.5,0.5"));
    assert_non_null(strstr(prov, nn_meta_get(ship, "provenance")));
    assert_int_equal(nn_num_params(f), 2 * nn_num_params(ship) + 2 * 2);
    features_config_t fc;
    features_config_default(&fc);
    size_t per = (size_t) KWS_FRAMES * fc.n_mels;
    float *x = malloc(per * sizeof *x), *xn = malloc(per * sizeof *xn);
    for (int c = 0; c < N_CLIPS; c++) {
        float p[VOCAB_COUNT], q[VOCAB_COUNT];
        s_window(s_clips[c], x);
        memcpy(xn, x, per * sizeof *x);
        kws_normalise(xn, per, mean, 1.f / std);
        assert_int_equal(nn_forward(ship, xn, 1, p), 0);
        assert_int_equal(nn_forward(f, x, 1, q), 0);
        for (int k = 0; k < VOCAB_COUNT; k++)
            if (fabsf(p[k] - q[k]) > 2e-5f)
                fail_msg("%s, %s: fused %.7f, the shipped model %.7f", s_clips[c], vocab_name(k),
                         (double) q[k], (double) p[k]);
    }
    free(x);
    free(xn);
    /* the run-time path: a model file kws_new loads as any other */
    char file[256];
    snprintf(file, sizeof file, "%s/fused.nn", s_dir);
    assert_int_equal(nn_save(f, file, err, sizeof err), 0);
    nn_destroy(&f);
    nn_destroy(&ship);
    kws_t *a = kws_new(s_model, NULL, err, sizeof err), *b = kws_new(file, NULL, err, sizeof err);
    if (!a || !b)
        fail_msg("%s", err);
    int heard = 0;
    for (int c = 0; c < N_CLIPS; c++) {
        size_t n;
        float *pcm = s_decode(s_clips[c], &n);
        kws_hit_t ha[16], hb[16];
        int na = kws_decode(a, pcm, n, ha, 16), nb = kws_decode(b, pcm, n, hb, 16);
        free(pcm);
        assert_int_equal(na, nb);
        heard += na;
        for (int i = 0; i < na; i++) {
            assert_int_equal(ha[i].word, hb[i].word);
            assert_true(fabs(ha[i].time - hb[i].time) < 1e-9);
            assert_true(fabsf(ha[i].confidence - hb[i].confidence) <= 2e-5f);
        }
    }
    assert_true(heard > 0);   /* the comparison compared words */
    kws_destroy(&a);
    kws_destroy(&b);
    unlink(file);
}

/* The thresholds in a model file's metadata. */
static void
s_thresholds(const char *path, float *thr)
{
    char err[256];
    nn_net_t *net = nn_load(path, err, sizeof err);
    if (!net)
        fail_msg("%s", err);
    const char *p = nn_meta_get(net, "kws.thresholds");
    assert_non_null(p);
    for (int i = 0; i < VOCAB_COUNT; i++) {
        char *end;
        thr[i] = strtof(p, &end);
        assert_true(end > p);
        p = *end ? end + 1 : end;
    }
    nn_destroy(&net);
}

/* The belief constants in the model file at path (both must be there). */
static void
s_constants(const char *path, double *odds, double *power)
{
    char err[256];
    nn_net_t *net = nn_load(path, err, sizeof err);
    if (!net)
        fail_msg("%s", err);
    const char *o = nn_meta_get(net, KWS_META_BELIEF_ODDS), *p = nn_meta_get(net, KWS_META_BELIEF_POWER);
    if (!o || !p)
        fail_msg("%s: no belief constants", path);
    *odds = atof(o);
    *power = atof(p);
    nn_destroy(&net);
}

/* The model at path carries the maximum-likelihood constants of the words
 * it reports in the validation voices' commands of corpus: the score
 * equations sum (y - b) = 0 and sum (y - b) logit(c) = 0 hold at them. */
static void
s_check_fit(const char *path, const char *corpus_dir, const char *holdout)
{
    double odds, power;
    s_constants(path, &odds, &power);
    char err[512];
    corpus_t *corpus = corpus_open(corpus_dir, err, sizeof err);
    kws_t *kws = kws_new(path, NULL, err, sizeof err);
    if (!corpus || !kws)
        fail_msg("%s", err);
    float *conf;
    unsigned char *said;
    int n;
    assert_int_equal(audio_eval_heard_words(corpus, kws, holdout, 300, 1, &conf, &said, &n, err,
                                            sizeof err), 0);
    assert_true(n >= 50);
    double g0 = 0, g1 = 0;
    for (int i = 0; i < n; i++) {
        double c = conf[i], x = odds * pow(c / (1 - c), power), r = said[i] - x / (1 + x);
        g0 += r;
        g1 += r * log(c / (1 - c));
    }
    /* the file's 9 digits leave the sums at rounding */
    if (fabs(g0) > 1e-4 * n || fabs(g1) > 1e-4 * n)
        fail_msg("%s: score %g, %g at odds %g power %g (%d words)", path, g0, g1, odds, power, n);
    free(conf);
    free(said);
    kws_destroy(&kws);
    corpus_destroy(&corpus);
}

/* The kws.wake_min of the model at path, or -1 when it carries none. */
static double
s_wake_min(const char *path)
{
    char err[512];
    kws_t *k = kws_new(path, NULL, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    double w = -1;
    kws_wake_min(k, &w);
    kws_destroy(&k);
    return w;
}

static void
test_command_calibrates_as_calibrate(void **state)
{
    (void) state;
    char corpus[256], cal[256], fused[256], err[512];
    snprintf(corpus, sizeof corpus, "%s/corpus", s_dir);
    snprintf(cal, sizeof cal, "%s/calibrated.nn", s_dir);
    snprintf(fused, sizeof fused, "%s/fused.nn", s_dir);
    corpus_gen_opts_t g = { .out_dir = corpus, .seed = 1, .scale = 1, .limit = 160 };
    if (corpus_generate(&g, err, sizeof err) != 0)
        fail_msg("%s", err);
    audio_train_opts_t o = {
        .corpus_dir = corpus, .out = cal, .calibrate = s_model, .fa_rate = 0.01f, .epochs = 1,
        .copies = 1, .channels = 64, .blocks = 4, .batch = 128, .threads = 1, .stride = 5,
        .lr = 0.001f, .between = 1, .thr_min = 0.001f, .seed = 3, .holdout = "kal,kal16,awb,slt",
        .has_wake_min = true, .wake_min = 0.55,
    };
    if (audio_train_run(&o, err, sizeof err) != 0)
        fail_msg("--calibrate: %s", err);
    assert_true(s_wake_min(cal) == 0.55);   /* --wake-min: the model written carries it */
    char two[2100];
    snprintf(two, sizeof two, "%s,%s", s_model, s_model);
    o.calibrate = NULL;
    o.has_wake_min = false;
    o.fuse = two;
    o.fuse_weights = "0.5,0.5";
    o.out = fused;
    if (audio_train_run(&o, err, sizeof err) != 0)
        fail_msg("--fuse: %s", err);
    float a[VOCAB_COUNT], b[VOCAB_COUNT];
    s_thresholds(cal, a);
    s_thresholds(fused, b);
    int set = 0;   /* thresholds the validation windows set (above the floor) */
    for (int i = 0; i < VOCAB_COUNT; i++)
        set += a[i] > 0.0215f;
    assert_true(set >= 10);
    for (int i = 0; i < VOCAB_COUNT; i++)
        if (fabsf(a[i] - b[i]) > 0.0015f)   /* the 3 decimals of the metadata */
            fail_msg("%s: fused %.3f, calibrated %.3f", vocab_name(i), (double) b[i],
                     (double) a[i]);
    kws_t *k = kws_new(fused, NULL, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    assert_int_equal(kws_stride(k), 5);
    kws_destroy(&k);
    assert_true(s_wake_min(fused) < 0);   /* a fused model has none of its own */
    /* the belief constants follow: the same words, the same fit */
    double oc, pc, of, pf;
    s_constants(cal, &oc, &pc);
    s_constants(fused, &of, &pf);
    assert_true(fabs(oc - of) < 1e-3 * oc && fabs(pc - pf) < 1e-3 * pc);
    /* --beliefs: the shipped model's constants, its thresholds kept */
    char own[256];
    snprintf(own, sizeof own, "%s/beliefs.nn", s_dir);
    audio_train_opts_t ob = { .corpus_dir = corpus, .out = own, .beliefs = s_model,
                              .holdout = o.holdout };
    if (audio_train_run(&ob, err, sizeof err) != 0)
        fail_msg("--beliefs: %s", err);
    float ts[VOCAB_COUNT], tb[VOCAB_COUNT];
    s_thresholds(s_model, ts);
    s_thresholds(own, tb);
    assert_memory_equal(ts, tb, sizeof ts);
    assert_true(s_wake_min(own) == s_wake_min(s_model));   /* kept, as the thresholds */
    s_check_fit(own, corpus, o.holdout);
    unlink(own);
    /* bad weights lists are refused */
    o.fuse_weights = "0.5";
    assert_int_equal(audio_train_run(&o, err, sizeof err), -1);
    assert_non_null(strstr(err, "one number per model"));
    o.fuse_weights = "0.5,x";
    assert_int_equal(audio_train_run(&o, err, sizeof err), -1);
    assert_non_null(strstr(err, "one number per model"));
    unlink(cal);
    unlink(fused);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", corpus);
    assert_int_equal(system(cmd), 0);
}

/* Writes a copy of the shipped model changed by change(net) to name. */
static void
s_variant(const char *name, void (*change)(nn_net_t *net), char *path, size_t len)
{
    char err[256];
    nn_net_t *net = nn_load(s_model, err, sizeof err);
    assert_non_null(net);
    change(net);
    snprintf(path, len, "%s/%s", s_dir, name);
    assert_int_equal(nn_save(net, path, err, sizeof err), 0);
    nn_destroy(&net);
}

static void
s_other_fmax(nn_net_t *net)
{
    assert_int_equal(nn_meta_set(net, "features.fmax", "7600"), 0);
}

static void
s_other_label(nn_net_t *net)
{
    const char *l[VOCAB_COUNT];
    for (int i = 0; i < VOCAB_COUNT; i++)
        l[i] = vocab_name(i);
    l[5] = "look";
    assert_int_equal(nn_set_labels(net, l, VOCAB_COUNT), 0);
}

static void
s_phones(nn_net_t *net)
{
    assert_int_equal(nn_meta_set(net, "kws.units", "phones"), 0);
}

static void
s_refused(const char *other, float w, const char *want)
{
    const char *paths[2] = { s_model, other };
    const float ws[2] = { 0.5f, w };
    char err[1024] = "";
    nn_net_t *f = audio_fuse_models(paths, 2, ws, err, sizeof err);
    assert_null(f);
    if (!strstr(err, want) || !strstr(err, other))
        fail_msg("message \"%s\" does not name %s and say \"%s\"", err, other, want);
}

static void
test_refuses_models_that_differ(void **state)
{
    (void) state;
    char fmax[256], label[256], phones[256], missing[256];
    s_variant("fmax.nn", s_other_fmax, fmax, sizeof fmax);
    s_variant("label.nn", s_other_label, label, sizeof label);
    s_variant("phones.nn", s_phones, phones, sizeof phones);
    snprintf(missing, sizeof missing, "%s/none.nn", s_dir);
    s_refused(fmax, 0.5f, "features.fmax is 7600, the features of this build 8000");
    char want[128];
    snprintf(want, sizeof want, "label 5 is \"look\", the vocabulary says \"%s\"", vocab_name(5));
    s_refused(label, 0.5f, want);
    s_refused(phones, 0.5f, "not a whole-word spotter");
    s_refused(missing, 0.5f, "none.nn");
    s_refused(s_model, 0.f, "weight 0 is not in (0, 100]");
    char err[256];
    const char *one[1] = { s_model };
    assert_null(audio_fuse_models(one, 0, (const float[]) { 1.f }, err, sizeof err));
    assert_non_null(strstr(err, "1 to 8 models"));
    unlink(fmax);
    unlink(label);
    unlink(phones);
}

int
main(void)
{
    const char *top = getenv("SHOPD_DATADIR");
    snprintf(s_model, sizeof s_model, "%s/models/kws.nn", top ? top : ".");
    snprintf(s_data, sizeof s_data, "%s/tests/data/realspeech", top ? top : ".");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_model_fused_with_itself_is_itself),
        cmocka_unit_test(test_refuses_models_that_differ),
        cmocka_unit_test(test_command_calibrates_as_calibrate),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(s_dir);
    return rc;
}
