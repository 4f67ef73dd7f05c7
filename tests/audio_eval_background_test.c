/* tests/audio_eval_background_test.c: the background false accepts of
 * `shop-eval audio` per noise kind (audio_eval_background) and the Poisson
 * upper bound of their rates.
 *
 * - audio_poisson_upper against the chi-square table: the one-sided upper
 *   bound at level 1 - a of k events is chi2(1 - a; 2k + 2) / 2;
 * - a short real run with the shipped model on a small corpus of
 *   non-command speech synthesised here by espeak-ng (the confusables plan,
 *   training split): every noise kind of the split gets exactly the seconds
 *   asked for, the fan (a test-split noise) none; the per-kind events and
 *   hours add up to the totals of the JSON, and its rates and bounds are
 *   those of its counts; in the test split without a corpus, babble gets
 *   none and the fan its share;
 * - shopd's listener in the background (audio_eval_listen): espeak-ng's
 *   "shopwise, show me sneakers" and "shopwise, add three to my cart" in one
 *   stream are two commands with their intents and slots; "show me
 *   sneakers" without the wake word is none, though the words alone make
 *   the intent the wake-less measure counts; the listener's counts in the
 *   background JSON are those of its kinds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/corpus.h"
#include "audio/eval.h"
#include "audio/intent.h"
#include "audio/kws.h"
#include "audio/listener.h"
#include "audio/source.h"
#include "audio/vocab.h"
#include "common/util.h"

static corpus_t *s_corpus;
static kws_t *s_kws, *s_low;
static intent_t *s_intent;
static char s_dir[] = "/tmp/shop-eval-bg-test-XXXXXX";

static void
test_poisson_upper_matches_chi_square_table(void **state)
{
    (void) state;
    /* chi2 quantiles (0.95; df 2, 4, 6, 8, 22) and (0.975; df 2), halved */
    static const struct {
        int k;
        double level, want;
    } t[] = {
        { 0, 0.95, 5.991465 / 2 },  { 1, 0.95, 9.487729 / 2 },  { 2, 0.95, 12.591587 / 2 },
        { 3, 0.95, 15.507313 / 2 }, { 10, 0.95, 33.924438 / 2 }, { 0, 0.975, 7.377759 / 2 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        double got = audio_poisson_upper(t[i].k, t[i].level);
        if (fabs(got - t[i].want) > 2e-6)
            fail_msg("k=%d level %.3f: %.7f, want %.7f", t[i].k, t[i].level, got, t[i].want);
    }
    /* 0 events: exactly -ln(1 - level) */
    assert_true(fabs(audio_poisson_upper(0, 0.95) - -log(0.05)) < 1e-9);
    assert_true(isnan(audio_poisson_upper(-1, 0.95)));
    assert_true(isnan(audio_poisson_upper(1, 1.0)));
}

static double
s_num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    return json_number_value(v);
}

/* The JSON's totals, rates and bounds against the per-kind counts. */
static void
s_check_json(const audio_background_t *bg)
{
    json_t *o = audio_background_json(bg);
    assert_non_null(o);
    const json_t *by = json_object_get(o, "by_noise");
    assert_int_equal(json_object_size(by), CORPUS_NOISE_COUNT);
    double sh = 0, nh = 0, bh = 0;
    int sw = 0, nw = 0, si = 0, ni = 0, bi = 0;
    for (int t = 0; t < CORPUS_NOISE_COUNT; t++) {
        const json_t *k = json_object_get(by, corpus_noise_name((corpus_noise_t) t));
        assert_non_null(k);
        sh += s_num(k, "speech_hours");
        nh += s_num(k, "noise_hours");
        sw += (int) s_num(k, "speech_words");
        nw += (int) s_num(k, "noise_words");
        si += (int) s_num(k, "speech_intents");
        ni += (int) s_num(k, "noise_intents");
        assert_true(fabs(s_num(k, "noise_hours") - bg->seconds[AUDIO_BG_NOISE][t] / 3600) < 1e-12);
        assert_int_equal((int) s_num(k, "noise_intents"), bg->intents[AUDIO_BG_NOISE][t]);
        if (t == CORPUS_NOISE_BABBLE) {
            bh = s_num(k, "noise_hours");
            bi = (int) s_num(k, "noise_intents");
        }
        if (s_num(k, "noise_hours") > 0)
            assert_true(fabs(s_num(k, "noise_upper95_per_hour")
                             - audio_poisson_upper((int) s_num(k, "noise_intents"), 0.95)
                                   / s_num(k, "noise_hours")) < 1e-9);
        else
            assert_true(json_is_null(json_object_get(k, "noise_upper95_per_hour")));
    }
    assert_true(fabs(sh - s_num(o, "speech_hours")) < 1e-12);
    assert_true(fabs(nh - s_num(o, "noise_hours")) < 1e-12);
    assert_int_equal(sw, (int) s_num(o, "words_speech"));
    assert_int_equal(nw, (int) s_num(o, "words_noise"));
    assert_int_equal(si, (int) s_num(o, "intents_speech"));
    assert_int_equal(ni, (int) s_num(o, "intents_noise"));
    assert_true(fabs(s_num(o, "intents_per_hour_noise") - ni / nh) < 1e-9);
    assert_true(fabs(s_num(o, "words_per_hour_noise") - nw / nh) < 1e-9);
    assert_true(fabs(s_num(o, "intents_per_hour") - (si + ni) / (sh + nh)) < 1e-9);
    const json_t *alone = json_object_get(o, "noise_alone");
    const json_t *wo = json_object_get(o, "noise_alone_without_babble");
    const json_t *bab = json_object_get(o, "babble_alone");
    assert_true(fabs(s_num(alone, "hours") - nh) < 1e-12);
    assert_int_equal((int) s_num(alone, "intents"), ni);
    assert_true(fabs(s_num(wo, "hours") - (nh - bh)) < 1e-12);
    assert_int_equal((int) s_num(wo, "intents"), ni - bi);
    assert_true(fabs(s_num(wo, "upper95_per_hour")
                     - audio_poisson_upper(ni - bi, 0.95) / (nh - bh)) < 1e-9);
    assert_true(fabs(s_num(bab, "hours") - bh) < 1e-12);
    assert_int_equal((int) s_num(bab, "intents"), bi);
    json_decref(o);
}

/* The corpus's non-command clips (at most max) into speech; their count. */
static int
s_speech_clips(int *speech, int max)
{
    int n = 0;
    for (int i = 0; i < corpus_count(s_corpus) && n < max; i++)
        if (corpus_clip(s_corpus, i)->kind == CORPUS_KIND_UNKNOWN)
            speech[n++] = i;
    return n;
}

static void
test_training_split_every_kind_but_fan(void **state)
{
    (void) state;
    int speech[64], n = s_speech_clips(speech, 64);
    assert_true(n > 0);
    audio_background_opts_t o = { .corpus = s_corpus, .split = CORPUS_TRAIN, .speech = speech,
                                  .n_speech = n, .speech_s = 20, .noise_s = 6 * 5.0, .seed = 9 };
    audio_background_t bg;
    char err[256] = "";
    /* the low-threshold detector also as the operating one: many words to count */
    for (int pass = 0; pass < 2; pass++) {
        if (audio_eval_background(pass ? s_low : s_kws, s_low, s_intent, &o, &bg, err, sizeof err)
            != 0)
            fail_msg("%s", err);
        double speech_s = 0;
        for (int t = 0; t < CORPUS_NOISE_COUNT; t++) {
            speech_s += bg.seconds[AUDIO_BG_SPEECH][t];
            /* five seconds of every noise of the split, none of the fan */
            assert_true(bg.seconds[AUDIO_BG_NOISE][t] == (t == CORPUS_NOISE_FAN ? 0.0 : 5.0));
        }
        assert_true(speech_s == 20.0);
        assert_true(bg.seconds[AUDIO_BG_SPEECH][CORPUS_NOISE_FAN] == 0.0);
        assert_int_equal(bg.words[AUDIO_BG_NOISE][CORPUS_NOISE_FAN], 0);
        assert_int_equal(bg.intents[AUDIO_BG_NOISE][CORPUS_NOISE_FAN], 0);
        if (pass == 1) {
            int words = 0;
            for (int t = 0; t < CORPUS_NOISE_COUNT; t++)
                words += bg.words[AUDIO_BG_SPEECH][t] + bg.words[AUDIO_BG_NOISE][t];
            assert_true(words > 0);   /* the sums below are not of zeros alone */
        }
        s_check_json(&bg);
        audio_background_clear(&bg);
    }
}

static void
test_test_split_without_corpus_has_fan_no_babble(void **state)
{
    (void) state;
    audio_background_opts_t o = { .split = CORPUS_TEST, .noise_s = 6 * 3.0, .seed = 4 };
    audio_background_t bg;
    char err[256] = "";
    if (audio_eval_background(s_low, s_low, s_intent, &o, &bg, err, sizeof err) != 0)
        fail_msg("%s", err);
    for (int t = 0; t < CORPUS_NOISE_COUNT; t++) {
        assert_true(bg.seconds[AUDIO_BG_SPEECH][t] == 0.0);
        assert_true(bg.seconds[AUDIO_BG_NOISE][t] == (t == CORPUS_NOISE_BABBLE ? 0.0 : 3.0));
    }
    s_check_json(&bg);
    json_t *j = audio_background_json(&bg);
    /* no speech hours: its rates are null, not a division by zero */
    assert_true(json_is_null(json_object_get(j, "intents_per_hour_speech")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "babble_alone"),
                                             "upper95_per_hour")));
    json_decref(j);
    audio_background_clear(&bg);
    /* speech asked for without clips: refused */
    o.speech_s = 10;
    assert_int_equal(audio_eval_background(s_kws, s_low, s_intent, &o, &bg, err, sizeof err), -1);
    assert_non_null(strstr(err, "non-command"));
    audio_background_clear(&bg);
}

/* espeak-ng's en-us+f4 (a voice the spotter never trained on) saying text,
 * at 16 kHz; *n samples. */
static float *
s_say(const char *text, size_t *n)
{
    char path[512], cmd[1024], err[256] = "";
    snprintf(path, sizeof path, "%s/say.wav", s_dir);
    snprintf(cmd, sizeof cmd, "espeak-ng -v en-us+f4 -w '%s' '%s'", path, text);
    if (system(cmd) != 0)
        fail_msg("espeak-ng failed: %s", cmd);
    float *pcm = NULL;
    if (audio_source_decode_file(path, NULL, &pcm, n, NULL, err, sizeof err) != 0)
        fail_msg("%s: %s", path, err);
    return pcm;
}

/* A stream of 1.5 s of silence, each text said, 1.5 s of silence after each. */
static float *
s_stream(const char *const *texts, int k, size_t *n)
{
    const size_t gap = 24000;
    float *x = xcalloc(gap, sizeof *x);
    *n = gap;
    for (int i = 0; i < k; i++) {
        size_t m;
        float *w = s_say(texts[i], &m);
        x = xrealloc(x, (*n + m + gap) * sizeof *x);
        memcpy(x + *n, w, m * sizeof *x);
        memset(x + *n + m, 0, gap * sizeof *x);
        *n += m + gap;
        free(w);
    }
    return x;
}

static listener_t *
s_listener(void)
{
    char err[256] = "";
    kws_t *k = kws_new(NULL, NULL, err, sizeof err);
    listener_t *l = k ? listener_new(&k, NULL, NULL, err, sizeof err) : NULL;
    if (!l)
        fail_msg("listener: %s", err);
    return l;
}

static void
test_listener_counts_commands_after_the_wake_word(void **state)
{
    (void) state;
    listener_t *l = s_listener();
    char b[160];
    intent_result_t got;
    size_t n;
    const char *two[] = { "shopwise, show me sneakers", "shopwise, add three to my cart" };
    float *x = s_stream(two, 2, &n);
    assert_int_equal(audio_eval_listen(l, x, n, &got), 2);
    assert_string_equal(intent_result_format(&got, b, sizeof b), "search{category=sneaker}");
    /* a second time on the same listener: the same, its state reset */
    assert_int_equal(audio_eval_listen(l, x, n, NULL), 2);
    /* the stream ends right after the second command: the silence added
     * after it still ends it */
    assert_int_equal(audio_eval_listen(l, x, n - 24000 + 1600, NULL), 2);
    free(x);

    const char *nowake[] = { "show me sneakers" };
    x = s_stream(nowake, 1, &n);
    assert_int_equal(audio_eval_listen(l, x, n, &got), 0);
    assert_string_equal(got.intent, "");
    /* the words alone make the intent that the measure without the wake
     * word counts */
    kws_hit_t h[16];
    int nh = kws_decode(s_kws, x, n, h, 16), w[16];
    float cf[16];
    assert_true(nh > 0);
    for (int i = 0; i < nh; i++) {
        w[i] = h[i].word;
        cf[i] = h[i].confidence;
    }
    assert_int_equal(intent_match(s_intent, w, cf, (size_t) nh, &got, NULL, 0), 0);
    assert_string_equal(intent_result_format(&got, b, sizeof b), "search{category=sneaker}");
    free(x);
    listener_destroy(&l);
}

static void
test_listener_in_the_background_json(void **state)
{
    (void) state;
    int speech[64], n = s_speech_clips(speech, 64);
    listener_t *l = s_listener();
    audio_background_opts_t o = { .corpus = s_corpus, .split = CORPUS_TRAIN, .speech = speech,
                                  .n_speech = n, .speech_s = 20, .noise_s = 6 * 2.0, .seed = 9,
                                  .listener = l };
    audio_background_t bg;
    char err[256] = "";
    if (audio_eval_background(s_kws, s_low, s_intent, &o, &bg, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_true(bg.listened);
    json_t *j = audio_background_json(&bg);
    const json_t *w = json_object_get(j, "with_wake_word"), *by = json_object_get(j, "by_noise");
    assert_non_null(w);
    int hs = 0, hn = 0;
    for (int t = 0; t < CORPUS_NOISE_COUNT; t++) {
        const json_t *k = json_object_get(by, corpus_noise_name((corpus_noise_t) t));
        assert_int_equal((int) s_num(k, "listener_speech_intents"), bg.heard[AUDIO_BG_SPEECH][t]);
        assert_int_equal((int) s_num(k, "listener_noise_intents"), bg.heard[AUDIO_BG_NOISE][t]);
        hs += bg.heard[AUDIO_BG_SPEECH][t];
        hn += bg.heard[AUDIO_BG_NOISE][t];
    }
    const json_t *sp = json_object_get(w, "speech"), *no = json_object_get(w, "noise_alone");
    assert_int_equal((int) s_num(sp, "intents"), hs);
    assert_true(fabs(s_num(sp, "hours") - 20.0 / 3600) < 1e-12);
    assert_int_equal((int) s_num(no, "intents"), hn);
    assert_true(fabs(s_num(no, "hours") - 12.0 / 3600) < 1e-12);
    assert_true(fabs(s_num(no, "upper95_per_hour") - audio_poisson_upper(hn, 0.95) / (12.0 / 3600))
                < 1e-9);
    int hb = bg.heard[AUDIO_BG_NOISE][CORPUS_NOISE_BABBLE];
    assert_int_equal((int) s_num(json_object_get(w, "babble_alone"), "intents"), hb);
    assert_int_equal((int) s_num(json_object_get(w, "noise_alone_without_babble"), "intents"),
                     hn - hb);
    json_decref(j);
    audio_background_clear(&bg);
    /* without a listener: not measured, not in the JSON */
    o.listener = NULL;
    if (audio_eval_background(s_kws, s_low, s_intent, &o, &bg, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_false(bg.listened);
    j = audio_background_json(&bg);
    assert_null(json_object_get(j, "with_wake_word"));
    assert_null(json_object_get(json_object_get(json_object_get(j, "by_noise"), "white"),
                                "listener_noise_intents"));
    json_decref(j);
    audio_background_clear(&bg);
    listener_destroy(&l);
}

static int
s_setup(void **state)
{
    (void) state;
    char err[512] = "";
    if (!mkdtemp(s_dir))
        return -1;
    corpus_gen_opts_t g = { .out_dir = s_dir, .seed = 5, .scale = 1, .limit = 12,
                            .confusables = true };
    if (corpus_generate(&g, err, sizeof err) != 0
        || !(s_corpus = corpus_open(s_dir, err, sizeof err))) {
        fprintf(stderr, "# corpus: %s\n", err);
        return -1;
    }
    kws_opts_t ko, lo;
    kws_opts_default(&ko);
    kws_opts_default(&lo);
    lo.threshold = 0.05f;
    s_kws = kws_new(NULL, &ko, err, sizeof err);
    s_low = s_kws ? kws_new(NULL, &lo, err, sizeof err) : NULL;
    intent_config_t ic;
    intent_config_default(&ic);
    ic.require_wake = false;
    s_intent = s_low ? intent_new_from_file(NULL, &ic, err, sizeof err) : NULL;
    if (!s_intent) {
        fprintf(stderr, "# %s\n", err);
        return -1;
    }
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    corpus_destroy(&s_corpus);
    kws_destroy(&s_kws);
    kws_destroy(&s_low);
    intent_destroy(&s_intent);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poisson_upper_matches_chi_square_table),
        cmocka_unit_test(test_training_split_every_kind_but_fan),
        cmocka_unit_test(test_test_split_without_corpus_has_fan_no_babble),
        cmocka_unit_test(test_listener_counts_commands_after_the_wake_word),
        cmocka_unit_test(test_listener_in_the_background_json),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
