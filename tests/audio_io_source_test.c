/* tests/audio_io_source_test.c: audio/source and audio/resample self-test.
 *
 * One utterance is synthesised with espeak-ng and converted with sox (both
 * in scripts/setup's packages) to FLAC, OGG/Vorbis, 8 kHz stereo WAV and
 * 44.1 kHz float WAV; every version must decode to the same 16 kHz mono
 * signal, judged by its log-mel features. Broken inputs must be refused
 * with a message that says why. Skips (77) when espeak-ng or sox is absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/features.h"
#include "audio/resample.h"
#include "audio/source.h"
#include "common/util.h"

static char s_dir[] = "/tmp/shop-audio-source-XXXXXX";

static void
s_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", s_dir, name);
}

static int
s_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
s_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int
s_setup(void **state)
{
    (void) state;
    if (!mkdtemp(s_dir))
        return -1;
    /* the reference utterance and its re-encodings; sox's own rate
     * converter makes the 8 kHz and 44.1 kHz versions, independently of
     * the code under test */
    if (s_sh("cd %s && espeak-ng -v en-us -s 150 -w utt.wav 'shopwise add two sneakers to my cart'"
             " && sox utt.wav utt.flac && sox utt.wav utt.ogg"
             " && sox utt.wav -r 8000 -c 2 utt8k.wav"
             " && sox utt.wav -r 44100 -e floating-point -b 32 utt44f.wav"
             " && sox utt.wav -r 16000 long.wav repeat 20"
             " && head -c 20000 utt.wav > cut.wav && head -c 9000 utt.flac > cut.flac"
             " && printf 'show me sneakers, this is text\\n' > note.txt"
             " && : > empty.wav && sox -n -r 16000 -c 1 nothing.wav trim 0 0",
             s_dir) != 0)
        return -1;
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    s_sh("rm -rf %s", s_dir);
    return 0;
}

static float *
s_decode(const char *name, size_t *n, audio_source_info_t *info)
{
    char path[512], err[256];
    s_path(path, sizeof path, name);
    float *pcm = NULL;
    int rc = audio_source_decode_file(path, NULL, &pcm, n, info, err, sizeof err);
    if (rc != 0)
        print_error("decoding %s: %s\n", name, err);
    assert_int_equal(rc, 0);
    assert_non_null(pcm);
    return pcm;
}

/* Mean absolute difference of the log-mel features of a and b over the
 * frames where a has speech energy and over the bands centred below
 * max_band (HTK bands of the default config). */
static double
s_feature_distance(const float *a, size_t na, const float *b, size_t nb, int max_band)
{
    float *fa = NULL, *fb = NULL;
    size_t ta = 0, tb = 0;
    assert_int_equal(features_compute(NULL, a, na, &fa, &ta), 0);
    assert_int_equal(features_compute(NULL, b, nb, &fb, &tb), 0);
    size_t t = SHOP_MIN(ta, tb);
    double sum = 0;
    size_t count = 0;
    for (size_t i = 0; i < t; i++) {
        double energy = 0;
        for (int m = 0; m < 40; m++)
            energy += fa[i * 40 + m];
        if (energy / 40 < -6.0) /* skip pauses: their log values are noise */
            continue;
        for (int m = 0; m < max_band; m++) {
            sum += fabs(fa[i * 40 + m] - fb[i * 40 + m]);
            count++;
        }
    }
    free(fa);
    free(fb);
    assert_true(count > 1000);
    return sum / (double) count;
}

static void
test_formats_decode_to_the_same_signal(void **state)
{
    (void) state;
    audio_source_info_t info;
    size_t n_ref = 0, n = 0;
    float *ref = s_decode("utt.wav", &n_ref, &info);
    /* espeak-ng writes 22.05 kHz mono: 2.x s of it */
    assert_int_equal(info.rate, 22050);
    assert_int_equal(info.channels, 1);
    assert_non_null(strstr(info.format, "WAV"));
    assert_true(fabs((double) n_ref - info.seconds * 16000) < 64);
    assert_true(n_ref > 16000);

    float *flac = s_decode("utt.flac", &n, &info);
    assert_non_null(strstr(info.format, "FLAC"));
    assert_int_equal(n, n_ref);
    /* FLAC is lossless: the same samples */
    for (size_t i = 0; i < n; i++)
        assert_float_equal(flac[i], ref[i], 1e-6);
    free(flac);

    float *ogg = s_decode("utt.ogg", &n, &info);
    assert_non_null(strstr(info.format, "OGG"));
    assert_true(labs((long) n - (long) n_ref) < 64);
    double d_ogg = s_feature_distance(ref, n_ref, ogg, n, 27);
    free(ogg);

    float *st8 = s_decode("utt8k.wav", &n, &info);
    assert_int_equal(info.rate, 8000);
    assert_int_equal(info.channels, 2);
    assert_true(labs((long) n - (long) n_ref) < 64);
    /* 8 kHz keeps what is below 4 kHz: HTK band 27 is centred at 3.6 kHz */
    double d_8k = s_feature_distance(ref, n_ref, st8, n, 27);
    free(st8);

    float *f44 = s_decode("utt44f.wav", &n, &info);
    assert_int_equal(info.rate, 44100);
    assert_true(labs((long) n - (long) n_ref) < 64);
    double d_44 = s_feature_distance(ref, n_ref, f44, n, 40);
    free(f44);

    /* the yardstick: the same file 50 ms late is far from itself */
    double d_late = s_feature_distance(ref, n_ref, ref + 800, n_ref - 800, 40);
    print_message("# log-mel distance to the WAV: ogg %.3f, 8k stereo %.3f, 44.1k float %.3f,"
                  " itself 50 ms late %.3f\n", d_ogg, d_8k, d_44, d_late);
    assert_true(d_late > 1.0);
    /* ln units: 0.1 is about 10 % in band energy; Vorbis is lossy */
    assert_true(d_ogg < 0.5);
    assert_true(d_8k < 0.5);
    assert_true(d_44 < 0.1);
    free(ref);
}

static void
s_expect_refusal(const char *name, const audio_source_limits_t *limits, const char *why)
{
    char path[512], err[256] = "";
    s_path(path, sizeof path, name);
    float *pcm = (float *) 1;
    size_t n = 99;
    assert_int_equal(audio_source_decode_file(path, limits, &pcm, &n, NULL, err, sizeof err), -1);
    assert_null(pcm);
    assert_int_equal(n, 0);
    if (!strstr(err, why))
        print_error("%s: message '%s' lacks '%s'\n", name, err, why);
    assert_non_null(strstr(err, why));
    assert_non_null(strstr(err, name)); /* the file is named */
}

static void
test_broken_inputs_are_refused(void **state)
{
    (void) state;
    s_expect_refusal("cut.wav", NULL, "truncated");
    s_expect_refusal("cut.flac", NULL, "FLAC");
    s_expect_refusal("note.txt", NULL, "not an audio file");
    s_expect_refusal("empty.wav", NULL, "empty");
    s_expect_refusal("nothing.wav", NULL, "no samples");
    s_expect_refusal("missing.wav", NULL, "missing.wav");

    audio_source_limits_t lim;
    audio_source_limits_default(&lim);
    assert_true(lim.max_seconds == 30.0);
    s_expect_refusal("long.wav", NULL, "limit of 30.0 s"); /* 20 x 2.x s */
    lim.max_seconds = 1.0;
    s_expect_refusal("utt.wav", &lim, "limit of 1.0 s");
    lim.max_seconds = 30.0;
    lim.max_bytes = 1000;
    s_expect_refusal("utt.wav", &lim, "1000");
    lim.max_bytes = 64u << 20;
    lim.max_channels = 1;
    s_expect_refusal("utt8k.wav", &lim, "2 channels");

    /* bytes from memory: random garbage and nothing at all */
    unsigned char junk[4096];
    unsigned seed = 5;
    for (size_t i = 0; i < sizeof junk; i++) {
        seed = seed * 1103515245u + 12345u;
        junk[i] = (unsigned char) (seed >> 16);
    }
    float *pcm = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(audio_source_decode_mem(junk, sizeof junk, NULL, &pcm, &n, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "not an audio file"));
    assert_int_equal(audio_source_decode_mem(junk, 0, NULL, &pcm, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
}

static void
test_memory_and_file_agree(void **state)
{
    (void) state;
    char path[512], err[256];
    s_path(path, sizeof path, "utt8k.wav");
    size_t len = 0, n1 = 0, n2 = 0;
    uint8_t *bytes = shop_read_file(path, 1 << 24, &len, err, sizeof err);
    assert_non_null(bytes);
    float *a = NULL, *b = NULL;
    assert_int_equal(audio_source_decode_mem(bytes, len, NULL, &a, &n1, err, sizeof err), 0);
    assert_int_equal(audio_source_decode_file(path, NULL, &b, &n2, NULL, err, sizeof err), 0);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1 * sizeof(float));
    /* each prefix of a WAV's header is refused, never read past */
    for (size_t cut = 1; cut < 64; cut += 3) {
        float *p = NULL;
        size_t n = 0;
        assert_int_equal(audio_source_decode_mem(bytes, cut, NULL, &p, &n, err, sizeof err), -1);
        assert_null(p);
    }
    free(a);
    free(b);
    free(bytes);
}

static void
test_resample_tone(void **state)
{
    (void) state;
    const size_t n = 48000;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float) (0.8 * sin(2 * M_PI * 1000.0 * i / 48000.0));
    char err[128];
    size_t m = 0;
    float *y = resample_buffer(x, n, 48000, 16000, &m, err, sizeof err);
    assert_non_null(y);
    assert_true(labs((long) m - 16000) <= 2);
    /* away from the edges the 1 kHz tone keeps its amplitude and phase:
     * compare with the ideal 16 kHz sine, allowing the converter's delay-free
     * alignment (libsamplerate compensates its filter delay) */
    double worst = 0;
    for (size_t i = 200; i < m - 200; i++) {
        double ideal = 0.8 * sin(2 * M_PI * 1000.0 * i / 16000.0);
        worst = fmax(worst, fabs(y[i] - ideal));
    }
    assert_true(worst < 1e-3);

    /* streaming in uneven chunks gives the same samples as one shot */
    resample_t *r = resample_new(48000, 16000, err, sizeof err);
    assert_non_null(r);
    float *z = malloc((m + 256) * sizeof *z);
    assert_non_null(z);
    size_t got = 0, at = 0, step = 1;
    while (at < n) {
        size_t len = SHOP_MIN(step, n - at);
        bool end = at + len == n;
        size_t room = resample_max_out(r, len);
        assert_true(got + room <= m + 256);
        ssize_t k = resample_process(r, x + at, len, z + got, room, end);
        assert_true(k >= 0);
        got += (size_t) k;
        at += len;
        step = step * 3 + 1;
        if (step > 5000)
            step = 7;
    }
    assert_int_equal(got, m);
    for (size_t i = 0; i < m; i++)
        assert_float_equal(z[i], y[i], 1e-5);
    /* too little room is refused */
    resample_reset(r);
    assert_int_equal(resample_process(r, x, 4800, z, 10, false), -1);
    resample_destroy(&r);
    assert_null(r);
    resample_destroy(&r);

    /* equal rates copy; impossible rates are refused with a message */
    float *c = resample_buffer(x, 100, 16000, 16000, &m, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(m, 100);
    assert_memory_equal(c, x, 100 * sizeof(float));
    free(c);
    assert_null(resample_buffer(x, 100, 16000, 10, &m, err, sizeof err));
    assert_non_null(strstr(err, "outside"));
    assert_int_equal(m, 0);
    free(z);
    free(y);
    free(x);
}

int
main(void)
{
    if (system("command -v espeak-ng >/dev/null && command -v sox >/dev/null") != 0) {
        printf("1..0 # SKIP espeak-ng or sox is not installed\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_decode_to_the_same_signal),
        cmocka_unit_test(test_broken_inputs_are_refused),
        cmocka_unit_test(test_memory_and_file_agree),
        cmocka_unit_test(test_resample_tone),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
