/* tests/audio_kws_corpus_test.c: corpus texts, store format and mixer (SNR, noise, reverb). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/corpus.h"
#include "audio/train.h"
#include "audio/vocab.h"

static void
test_corpus_self_test_passes(void **state)
{
    (void) state;
    assert_int_equal(corpus_test(false), 0);
}

static void
test_snr_from_loudest_frames(void **state)
{
    (void) state;
    enum { N = 32000 };
    float *speech = calloc(N, sizeof *speech), *noise = calloc(N, sizeof *noise);
    assert_non_null(speech);
    assert_non_null(noise);
    /* a loud 100 ms burst in quiet: only the loudest frame counts */
    for (int i = 8000; i < 9600; i++)
        speech[i] = 0.4f * sinf(0.3f * (float) i);
    corpus_mixer_t *m = corpus_mixer_new(NULL, CORPUS_TRAIN, 11);
    assert_non_null(m);
    for (int snr = 6; snr <= 24; snr += 3) {
        corpus_noise_t t = corpus_mixer_pick_noise(m);
        assert_true(t != CORPUS_NOISE_FAN && t != CORPUS_NOISE_BABBLE);
        corpus_mixer_noise(m, t, noise, N);
        float ps = corpus_peak_frame_power(speech, N);
        float *mix = malloc(N * sizeof *mix);
        assert_non_null(mix);
        for (int i = 0; i < N; i++)
            mix[i] = speech[i];
        float g = corpus_add_at_snr(mix, noise, N, (float) snr);
        for (int i = 0; i < N; i++)
            noise[i] *= g;
        assert_float_equal(10.f * log10f(ps / corpus_peak_frame_power(noise, N)), (float) snr,
                           0.01f);
        free(mix);
    }
    corpus_mixer_destroy(&m);
    assert_null(m);
    corpus_mixer_destroy(&m);
    free(speech);
    free(noise);
}

static void
test_missing_corpus_is_an_error(void **state)
{
    (void) state;
    char err[256] = "";
    assert_null(corpus_open("/nonexistent/shop-corpus", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/shop-corpus"));
}

/* The words of Speech Commands v0.02 that are not shopd vocabulary words:
 * what the confusables plan may say (the dataset's README lists its 35). */
static const char *const s_sc_other[] = {
    "up", "down", "left", "right", "on", "off", "go", "zero", "bed", "bird", "cat", "dog",
    "happy", "house", "marvin", "sheila", "tree", "wow", "learn", "follow", "forward",
    "backward", "visual",
};

static bool
s_is_sc_other(const char *w)
{
    for (size_t i = 0; i < sizeof s_sc_other / sizeof s_sc_other[0]; i++)
        if (strcmp(w, s_sc_other[i]) == 0)
            return true;
    return false;
}

static void
test_confusables_plan_says_only_other_words(void **state)
{
    (void) state;
    char dir[] = "/tmp/shop-conf-test-XXXXXX", err[512] = "";
    assert_non_null(mkdtemp(dir));
    corpus_gen_opts_t g = { .out_dir = dir, .seed = 5, .scale = 1, .limit = 16,
                            .confusables = true };
    if (corpus_generate(&g, err, sizeof err) != 0)
        fail_msg("%s", err);
    corpus_t *c = corpus_open(dir, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(corpus_count(c), 16);
    int words = 0, several = 0;
    for (int i = 0; i < corpus_count(c); i++) {
        const corpus_clip_t *cl = corpus_clip(c, i);
        assert_int_equal(cl->split, CORPUS_TRAIN);
        assert_int_equal(cl->kind, CORPUS_KIND_UNKNOWN);
        assert_int_equal(cl->n_marks, 0);
        assert_false(corpus_voice_is_test(cl->engine, cl->voice));
        assert_true(cl->n > 1600);
        char text[CORPUS_MAX_TEXT];
        snprintf(text, sizeof text, "%s", cl->text);
        int n = 0;
        for (char *save = NULL, *w = strtok_r(text, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            if (!s_is_sc_other(w) || vocab_find(w) >= 0)
                fail_msg("clip %d says \"%s\"", i, cl->text);
            n++;
        }
        assert_true(n >= 1 && n <= 3);
        words += n;
        several += n > 1;
    }
    assert_true(words > 16 && several < 16);   /* mostly single words, some strings */
    corpus_destroy(&c);
    /* one plan at a time */
    g.extra = true;
    assert_int_equal(corpus_generate(&g, err, sizeof err), -1);
    assert_non_null(strstr(err, "one at a time"));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_cut_before_onset_stays_in_the_window(void **state)
{
    (void) state;
    assert_int_equal(audio_samples_before_onset(8000, 16000, 16000), 8000);
    assert_int_equal(audio_samples_before_onset(0, 16000, 16000), 0);
    assert_int_equal(audio_samples_before_onset(100, 30000, 16000), 0);
    /* the window ends before the onset: all of it, never more */
    assert_int_equal(audio_samples_before_onset(20000, 16000, 16000), 16000);
    assert_int_equal(audio_samples_before_onset(2400, 800, 16000), 16000);
    assert_int_equal(audio_samples_before_onset(16000, 16000, 16000), 16000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_self_test_passes),
        cmocka_unit_test(test_snr_from_loudest_frames),
        cmocka_unit_test(test_missing_corpus_is_an_error),
        cmocka_unit_test(test_confusables_plan_says_only_other_words),
        cmocka_unit_test(test_cut_before_onset_stays_in_the_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
