/* tests/audio_io_features_test.c: audio/features self-test.
 *
 * Checks the log-mel front end against an independent double-precision
 * reference (direct DFT, dense filterbank written from the definition in
 * features.h), that a pure tone lands in the band centred on it, that any
 * chunking of a stream gives bit-identical frames to the one-shot helper,
 * and the API's edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/features.h"

/* deterministic uniform noise in [-1, 1) */
static float
s_rand(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float) ((*state >> 8) / 8388608.0 - 1.0);
}

static float *
s_noise(size_t n, unsigned seed)
{
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * s_rand(&seed);
    return x;
}

static double
s_htk_mel(double f)
{
    return 2595.0 * log10(1.0 + f / 700.0);
}

static double
s_htk_hz(double m)
{
    return 700.0 * (pow(10.0, m / 2595.0) - 1.0);
}

/* Reference log-mel of one frame starting at x, written straight from the
 * definition: periodic Hann, O(N^2) DFT in double, dense HTK triangles. */
static void
s_reference_frame(const features_config_t *c, const float *x, double *out)
{
    int n_fft = c->n_fft, n_bins = n_fft / 2 + 1;
    double *power = calloc((size_t) n_bins, sizeof *power);
    assert_non_null(power);
    for (int k = 0; k < n_bins; k++) {
        double re = 0, im = 0;
        for (int i = 0; i < c->win_length; i++) {
            double w = 0.5 - 0.5 * cos(2 * M_PI * i / c->win_length);
            double v = x[i] * w, a = -2 * M_PI * (double) k * i / n_fft;
            re += v * cos(a);
            im += v * sin(a);
        }
        power[k] = re * re + im * im;
    }
    double lo = s_htk_mel(c->fmin), hi = s_htk_mel(c->fmax);
    for (int m = 0; m < c->n_mels; m++) {
        double l = s_htk_hz(lo + (hi - lo) * m / (c->n_mels + 1));
        double ce = s_htk_hz(lo + (hi - lo) * (m + 1) / (c->n_mels + 1));
        double r = s_htk_hz(lo + (hi - lo) * (m + 2) / (c->n_mels + 1));
        double acc = 0;
        for (int k = 0; k < n_bins; k++) {
            double f = (double) k * c->sample_rate / n_fft;
            double w = fmin((f - l) / (ce - l), (r - f) / (r - ce));
            if (w > 0)
                acc += w * power[k];
        }
        out[m] = log(fmax(acc, c->log_floor));
    }
    free(power);
}

static void
test_defaults_and_checks(void **state)
{
    (void) state;
    features_config_t c, bad;
    char err[128];
    features_config_default(&c);
    assert_int_equal(c.sample_rate, 16000);
    assert_int_equal(c.win_length, 400);
    assert_int_equal(c.hop_length, 160);
    assert_int_equal(c.n_fft, 512);
    assert_int_equal(c.n_mels, 40);
    assert_int_equal(c.mel_scale, FEATURES_MEL_HTK);
    assert_int_equal(features_config_check(&c, err, sizeof err), 0);

    bad = c;
    bad.win_length = 600; /* longer than the FFT */
    assert_int_equal(features_config_check(&bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "win_length"));
    assert_null(features_new(&bad));
    bad = c;
    bad.fmax = 9000; /* above Nyquist */
    assert_int_equal(features_config_check(&bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "fmax"));
    bad = c;
    bad.hop_length = 0;
    assert_int_equal(features_config_check(&bad, err, sizeof err), -1);
    bad = c;
    bad.log_floor = NAN;
    assert_int_equal(features_config_check(&bad, err, sizeof err), -1);
    bad = c;
    bad.mel_scale = 7;
    assert_int_equal(features_config_check(&bad, err, sizeof err), -1);

    features_config_t d;
    features_config_default(&d);
    assert_true(features_config_equal(&c, &d));
    d.n_mels = 64;
    assert_false(features_config_equal(&c, &d));

    /* frame counts: no padding, 1 + (n - win) / hop */
    assert_int_equal(features_frames_for_samples(&c, 0), 0);
    assert_int_equal(features_frames_for_samples(&c, 399), 0);
    assert_int_equal(features_frames_for_samples(&c, 400), 1);
    assert_int_equal(features_frames_for_samples(&c, 559), 1);
    assert_int_equal(features_frames_for_samples(&c, 560), 2);
    assert_int_equal(features_frames_for_samples(&c, 16000), 98);

    features_t *f = features_new(NULL);
    assert_non_null(f);
    assert_true(features_config_equal(features_config(f), &c));
    features_destroy(&f);
    assert_null(f);
    features_destroy(&f); /* safe twice */
}

static void
test_matches_direct_dft_reference(void **state)
{
    (void) state;
    features_config_t c;
    features_config_default(&c);
    const size_t n = 16000;
    float *x = s_noise(n, 42);
    /* give the spectrum some shape so bands differ by orders of magnitude */
    for (size_t i = 0; i < n; i++)
        x[i] = (float) (x[i] * 0.1 + 0.4 * sin(2 * M_PI * 440.0 * i / 16000.0));
    float *frames = NULL;
    size_t nf = 0;
    assert_int_equal(features_compute(&c, x, n, &frames, &nf), 0);
    assert_int_equal(nf, 98);
    double ref[40], max_err = 0;
    for (size_t t = 0; t < nf; t += 7) {
        s_reference_frame(&c, x + t * 160, ref);
        for (int m = 0; m < 40; m++) {
            double e = fabs(ref[m] - frames[t * 40 + m]);
            if (e > max_err)
                max_err = e;
        }
    }
    /* single-precision FFT vs double DFT: agreement to 1e-4 in ln units
     * (0.01 % in energy) across 14 frames x 40 bands (measured: 4e-6) */
    assert_true(max_err < 1e-4);
    free(frames);
    free(x);
}

/* index of the band with the most energy in frame f */
static int
s_argmax(const float *frame, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (frame[i] > frame[best])
            best = i;
    return best;
}

static void
s_check_tone(int scale, double hz)
{
    features_config_t c;
    features_config_default(&c);
    c.mel_scale = scale;
    const size_t n = 4000;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float) (0.5 * sin(2 * M_PI * hz * i / 16000.0));
    float *frames = NULL;
    size_t nf = 0;
    assert_int_equal(features_compute(&c, x, n, &frames, &nf), 0);
    assert_true(nf > 10);
    /* the band whose centre frequency is nearest the tone */
    int expect = 0;
    double best = 1e9;
    for (int m = 0; m < 40; m++) {
        /* centres from the scale's own formula, computed here independently */
        double lo, hi, centre_mel, centre;
        if (scale == FEATURES_MEL_HTK) {
            lo = s_htk_mel(c.fmin);
            hi = s_htk_mel(c.fmax);
            centre_mel = lo + (hi - lo) * (m + 1) / 41.0;
            centre = s_htk_hz(centre_mel);
        } else {
            double sp = 200.0 / 3, step = log(6.4) / 27;
            lo = c.fmin / sp;
            hi = 15 + log(c.fmax / 1000.0) / step;
            centre_mel = lo + (hi - lo) * (m + 1) / 41.0;
            centre = centre_mel < 15 ? centre_mel * sp : 1000 * exp(step * (centre_mel - 15));
        }
        if (fabs(centre - hz) < best) {
            best = fabs(centre - hz);
            expect = m;
        }
    }
    for (size_t t = 0; t < nf; t++)
        assert_int_equal(s_argmax(frames + t * 40, 40), expect);
    /* and it stands well above the bands far from it (> 10 in ln = 43 dB) */
    assert_true(frames[expect] - frames[(expect + 20) % 40] > 10.0f);
    free(frames);
    free(x);
}

static void
test_tone_lands_in_its_band(void **state)
{
    (void) state;
    s_check_tone(FEATURES_MEL_HTK, 1000.0);
    s_check_tone(FEATURES_MEL_HTK, 300.0);
    s_check_tone(FEATURES_MEL_HTK, 5000.0);
    s_check_tone(FEATURES_MEL_SLANEY, 1000.0);
    s_check_tone(FEATURES_MEL_SLANEY, 3200.0);
}

static void
test_silence_hits_the_floor(void **state)
{
    (void) state;
    float zeros[800] = { 0 };
    float *frames = NULL;
    size_t nf = 0;
    assert_int_equal(features_compute(NULL, zeros, 800, &frames, &nf), 0);
    assert_int_equal(nf, 3);
    for (size_t i = 0; i < nf * 40; i++)
        assert_float_equal(frames[i], logf(1e-6f), 1e-6);
    free(frames);
    /* too short for one frame: success, no frames */
    assert_int_equal(features_compute(NULL, zeros, 399, &frames, &nf), 0);
    assert_null(frames);
    assert_int_equal(nf, 0);
}

static void
test_streaming_equals_one_shot(void **state)
{
    (void) state;
    const size_t n = 12345;
    float *x = s_noise(n, 7);
    float *ref = NULL;
    size_t nref = 0;
    assert_int_equal(features_compute(NULL, x, n, &ref, &nref), 0);
    assert_int_equal(nref, 1 + (n - 400) / 160);

    const size_t chunks[] = { 1, 7, 159, 160, 161, 399, 400, 401, 1000, 4097 };
    features_t *f = features_new(NULL);
    assert_non_null(f);
    float *out = malloc((nref + 1) * 40 * sizeof *out);
    assert_non_null(out);
    for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
        features_reset(f);
        size_t got = 0;
        unsigned seed = (unsigned) ci;
        for (size_t at = 0; at < n;) {
            /* fixed chunk, or random sizes 0..500 for the last pattern */
            size_t len = ci + 1 < sizeof chunks / sizeof chunks[0] ? chunks[ci]
                                                                   : (s_rand(&seed) + 1) * 250;
            if (len > n - at)
                len = n - at;
            size_t expect = features_frames_pending(f, len);
            ssize_t r = features_push(f, x + at, len, out + got * 40, nref + 1 - got);
            assert_int_equal(r, (ssize_t) expect);
            got += (size_t) r;
            at += len;
        }
        assert_int_equal(got, nref);
        assert_memory_equal(out, ref, nref * 40 * sizeof(float));
    }
    free(out);
    features_destroy(&f);
    free(ref);
    free(x);
}

static void
test_push_refuses_small_output(void **state)
{
    (void) state;
    float *x = s_noise(1000, 3);
    float out[40 * 4];
    features_t *f = features_new(NULL);
    assert_non_null(f);
    /* 1000 samples make 4 frames: room for 3 is refused, nothing consumed */
    assert_int_equal(features_frames_pending(f, 1000), 4);
    assert_int_equal(features_push(f, x, 1000, out, 3), -1);
    assert_int_equal(features_frames_pending(f, 0), 0);
    assert_int_equal(features_push(f, x, 1000, out, 4), 4);
    /* 1000 - 400 - 3*160 = 120 samples carried: 40 more complete a frame */
    assert_int_equal(features_frames_pending(f, 39), 0);
    assert_int_equal(features_frames_pending(f, 40), 1);
    features_reset(f);
    assert_int_equal(features_frames_pending(f, 399), 0);
    assert_int_equal(features_push(f, x, 0, out, 0), 0);
    features_destroy(&f);
    free(x);
}

struct s_thread_arg {
    const float *x;
    size_t n;
    float *out;
    size_t nf;
};

static void *
s_thread(void *p)
{
    struct s_thread_arg *a = p;
    features_config_t c;
    features_config_default(&c);
    c.n_fft = 1024; /* a size no other test planned: threads race to plan it */
    c.win_length = 1024;
    features_compute(&c, a->x, a->n, &a->out, &a->nf);
    return NULL;
}

static void
test_threads_plan_safely(void **state)
{
    (void) state;
    const size_t n = 8000;
    float *x = s_noise(n, 11);
    struct s_thread_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct s_thread_arg) { x, n, NULL, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, s_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(args[i].nf, 1 + (n - 1024) / 160);
        assert_memory_equal(args[i].out, args[0].out, args[0].nf * 40 * sizeof(float));
    }
    for (int i = 0; i < 4; i++)
        free(args[i].out);
    free(x);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_checks),
        cmocka_unit_test(test_matches_direct_dft_reference),
        cmocka_unit_test(test_tone_lands_in_its_band),
        cmocka_unit_test(test_silence_hits_the_floor),
        cmocka_unit_test(test_streaming_equals_one_shot),
        cmocka_unit_test(test_push_refuses_small_output),
        cmocka_unit_test(test_threads_plan_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
