/* tests/audio_align_test.c: word ends inside synthesised sentences
 * (audio/align.h), against the synthesiser's own segment times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio/align.h"
#include "audio/vocab.h"

extern char **environ;

static void
test_align_self_test_passes(void **state)
{
    (void) state;
    assert_int_equal(align_test(false), 0);
}

/* Runs flite with voice awb on text, the wave to wav and the segment list
 * with end times (-psdur) to dur. */
static void
s_flite(const char *text, const char *wav, const char *dur)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, dur, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char *argv[] = { "flite", "-voice", "awb", "-psdur", "-t", (char *) text, "-o", (char *) wav,
                     NULL };
    pid_t pid;
    assert_int_equal(posix_spawnp(&pid, "flite", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The end time (s) of the n-th segment named seg in flite's -psdur list. */
static double
s_segment_end(const char *dur, const char *seg, int nth)
{
    FILE *f = fopen(dur, "r");
    assert_non_null(f);
    char tok[64];
    double t = -1;
    while (fscanf(f, "%63s", tok) == 1) {
        char *colon = strchr(tok, ':');
        if (!colon)
            continue;
        *colon = 0;
        if (strcmp(tok, seg) == 0 && nth-- == 0) {
            t = atof(colon + 1);
            break;
        }
    }
    fclose(f);
    assert_true(t > 0);
    return t;
}

static float *
s_read(const char *wav, int *n)
{
    SF_INFO info = { 0 };
    SNDFILE *sf = sf_open(wav, SFM_READ, &info);
    assert_non_null(sf);
    assert_int_equal(info.samplerate, 16000);
    assert_int_equal(info.channels, 1);
    float *x = malloc((size_t) info.frames * sizeof *x);
    assert_non_null(x);
    *n = (int) sf_readf_float(sf, x, info.frames);
    sf_close(sf);
    return x;
}

/* The corpus generator's end of speech: first and one-past-last sample of
 * the 10 ms frames within 35 dB of the loudest. */
static void
s_extent(const float *x, int n, int *on, int *end)
{
    float peak = 0;
    for (int f = 0; f < n / 160; f++) {
        float e = 0;
        for (int i = 0; i < 160; i++)
            e += x[f * 160 + i] * x[f * 160 + i];
        peak = fmaxf(peak, e);
    }
    *on = -1;
    for (int f = 0; f < n / 160; f++) {
        float e = 0;
        for (int i = 0; i < 160; i++)
            e += x[f * 160 + i] * x[f * 160 + i];
        if (e >= peak * 3.16e-4f) {
            if (*on < 0)
                *on = f * 160;
            *end = (f + 1) * 160;
        }
    }
}

static void
s_write_pcm(FILE *f, const float *x, int n)
{
    for (int i = 0; i < n; i++) {
        int16_t v = (int16_t) lrintf(fmaxf(-1.f, fminf(1.f, x[i])) * 32767.f);
        assert_int_equal(fwrite(&v, sizeof v, 1, f), 1);
    }
}

/* The corpus index at path: the prefix "add" (np samples, voice
 * prefix_voice) and the sentence of awb after it, as the generator stores
 * them: "add" ends in the sentence where the prefix's speech ends. */
static void
s_write_index(const char *path, const char *prefix_voice, int np, int p_on, int p_end, int ns,
              int s_on, int stored, int s_end)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#shopd-speech-corpus 1\n");
    fprintf(f, "train\tflite\t%s\tcommand\t0\t%d\t%d\t%d@%d\tadd\n", prefix_voice, np, p_on,
            VOCAB_ADD, p_end);
    fprintf(f, "train\tflite\tawb\tcommand\t%d\t%d\t%d\t%d@%d,%d@%d\tadd six sneakers to my cart\n",
            np, ns, s_on, VOCAB_ADD, stored, VOCAB_CART, s_end);
    fclose(f);
}

/* "add" alone and "add six sneakers to my cart" by flite's awb, stored as
 * the corpus generator stores a sentence and its prefix: the prefix's end
 * of speech is the stored end of "add" in the sentence. flite's own segment
 * times say where "add" (its "d") ends in the sentence: the stored end is
 * well after it, the realigned end within 40 ms of it; the sentence's last
 * word keeps its end. */
static void
test_realigned_end_matches_the_synthesiser(void **state)
{
    (void) state;
    char dir[] = "/tmp/shop-align-test-XXXXXX", p_wav[300], s_wav[300], p_dur[300], s_dur[300];
    char path[300];
    assert_non_null(mkdtemp(dir));
    snprintf(p_wav, sizeof p_wav, "%s/p.wav", dir);
    snprintf(s_wav, sizeof s_wav, "%s/s.wav", dir);
    snprintf(p_dur, sizeof p_dur, "%s/p.dur", dir);
    snprintf(s_dur, sizeof s_dur, "%s/s.dur", dir);
    s_flite("add", p_wav, p_dur);
    s_flite("add six sneakers to my cart", s_wav, s_dur);
    int np, ns, p_on, p_end, s_on, s_end;
    float *p = s_read(p_wav, &np), *s = s_read(s_wav, &ns);
    s_extent(p, np, &p_on, &p_end);
    s_extent(s, ns, &s_on, &s_end);
    /* the sentence's "add" ends with its "d", the first d of the sentence */
    int truth = (int) lrint(s_segment_end(s_dur, "d", 0) * 16000);
    int stored = s_on + (p_end - p_on);

    snprintf(path, sizeof path, "%s/clips.pcm", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    s_write_pcm(f, p, np);
    s_write_pcm(f, s, ns);
    fclose(f);
    snprintf(path, sizeof path, "%s/clips.tsv", dir);
    s_write_index(path, "awb", np, p_on, p_end, ns, s_on, stored, s_end);

    char err[256];
    corpus_t *c = corpus_open(dir, err, sizeof err);
    assert_non_null(c);
    align_stats_t st;
    assert_int_equal(corpus_realign_marks(c, NULL, NULL, &st), 0);
    const corpus_clip_t *sc = corpus_clip(c, 1);
    int got = sc->marks[0].end;
    assert_true(stored - truth > 1600);              /* the stored end: > 100 ms late */
    assert_true(abs(got - truth) <= 640);            /* realigned: within 40 ms */
    assert_int_equal(sc->marks[1].end, s_end);       /* the last word: its own end */
    assert_int_equal(corpus_clip(c, 0)->marks[0].end, p_end);
    assert_int_equal(st.marks, 1);
    assert_int_equal(st.missing, 0);
    assert_true(st.mean_shift < -1600);
    corpus_destroy(&c);

    /* a clip of another voice is no prefix: the end stays */
    s_write_index(path, "slt", np, p_on, p_end, ns, s_on, stored, s_end);
    c = corpus_open(dir, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(corpus_realign_marks(c, NULL, NULL, &st), 0);
    assert_int_equal(corpus_clip(c, 1)->marks[0].end, stored);
    assert_int_equal(st.marks, 0);
    assert_int_equal(st.missing, 1);
    corpus_destroy(&c);

    free(p);
    free(s);
    const char *names[] = { "p.wav", "s.wav", "p.dur", "s.dur", "clips.pcm", "clips.tsv" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_align_self_test_passes),
        cmocka_unit_test(test_realigned_end_matches_the_synthesiser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
