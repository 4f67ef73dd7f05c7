/* tests/audio_kws_corpus_test.c: corpus texts, store format and mixer (SNR, noise, reverb). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio/corpus.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_self_test_passes),
        cmocka_unit_test(test_snr_from_loudest_frames),
        cmocka_unit_test(test_missing_corpus_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
