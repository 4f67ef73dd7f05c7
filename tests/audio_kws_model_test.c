/* tests/audio_kws_model_test.c: the shipped keyword-spotting model hears
 * commands spoken by a voice it never trained on, through the streaming path.
 *
 * The utterances are synthesised at test time by espeak-ng with a held-out
 * test voice (en-us+f4, see docs/speech.md), decoded by audio/source and
 * pushed through the detector in 100 ms chunks, as the microphone path
 * does. Skipped (77) when espeak-ng or models/kws.nn is missing.
 *
 * A regression check, not a measure: each utterance must give the
 * vocabulary words of its text, in order, each once; the acceptance rates over
 * hundreds of held-out utterances are in docs/speech.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio/corpus.h"
#include "audio/kws.h"
#include "audio/source.h"
#include "audio/vocab.h"

static kws_t *s_kws;
static char s_dir[] = "/tmp/shop-kws-model-test-XXXXXX";

/* Synthesises text with a held-out voice and streams it; returns hit count. */
static int
s_hear(const char *voice, const char *text, kws_hit_t *hits, int max)
{
    char wav[256], cmd[512];
    snprintf(wav, sizeof wav, "%s/utt.wav", s_dir);
    snprintf(cmd, sizeof cmd, "espeak-ng -v '%s' -w '%s' '%s'", voice, wav, text);
    assert_int_equal(system(cmd), 0);
    float *pcm = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(audio_source_decode_file(wav, NULL, &pcm, &n, NULL, err, sizeof err), 0);
    unlink(wav);
    int nh = 0;
    kws_reset(s_kws);
    for (size_t at = 0; at < n; at += 1600) {
        int r = kws_push(s_kws, pcm + at, n - at < 1600 ? n - at : 1600, hits + nh, max - nh);
        assert_true(r >= 0);
        nh += r;
    }
    int r = kws_flush(s_kws, hits + nh, max - nh);
    assert_true(r >= 0);
    free(pcm);
    return nh + r;
}

static void
s_expect(const char *voice, const char *text, const int *words, int n)
{
    kws_hit_t hits[16];
    int nh = s_hear(voice, text, hits, 16);
    char got[256] = "";
    for (int i = 0; i < nh; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), " %s(%.2f@%.2fs)",
                 vocab_name(hits[i].word), (double) hits[i].confidence, hits[i].time);
    if (nh != n)
        fail_msg("\"%s\" by %s: heard%s, want %d words", text, voice, got, n);
    for (int i = 0; i < n; i++) {
        if (hits[i].word != words[i])
            fail_msg("\"%s\" by %s: heard%s", text, voice, got);
        assert_true(hits[i].confidence >= kws_threshold(s_kws, hits[i].word));
        if (i)
            assert_true(hits[i].time > hits[i - 1].time);
    }
}

static void
test_held_out_voice_commands_each_word_once(void **state)
{
    (void) state;
    assert_true(corpus_voice_is_test("espeak-ng", "en-us+f4"));
    s_expect("en-us+f4", "show me sneakers", (int[]) { VOCAB_SHOW, VOCAB_SNEAKERS }, 2);
    s_expect("en-us+f4", "show my cart", (int[]) { VOCAB_SHOW, VOCAB_CART }, 2);
    s_expect("en-us+f4", "recommend something", (int[]) { VOCAB_RECOMMEND }, 1);
    s_expect("en-gb+m6", "add three to my cart", (int[]) { VOCAB_ADD, VOCAB_THREE, VOCAB_CART }, 3);
    s_expect("en-gb+m6", "shop wise", (int[]) { VOCAB_WAKE }, 1);
    s_expect("en-gb+m6", "checkout", (int[]) { VOCAB_CHECKOUT }, 1);
}

static void
test_silence_and_hum_give_nothing(void **state)
{
    (void) state;
    enum { N = 3 * 16000 };
    float *pcm = calloc(N, sizeof *pcm);
    assert_non_null(pcm);
    kws_hit_t hits[16];
    assert_int_equal(kws_decode(s_kws, pcm, N, hits, 16), 0);
    for (int i = 0; i < N; i++)
        pcm[i] = 0.01f * sinf(2.f * 3.14159265f * 50.f * (float) i / 16000.f);
    assert_int_equal(kws_decode(s_kws, pcm, N, hits, 16), 0);
    free(pcm);
}

static int
s_setup(void **state)
{
    (void) state;
    if (system("command -v espeak-ng >/dev/null 2>&1") != 0)
        return -1;
    if (!mkdtemp(s_dir))
        return -1;
    char err[512];
    s_kws = kws_new(NULL, NULL, err, sizeof err);
    if (!s_kws) {
        fprintf(stderr, "# %s\n", err);
        rmdir(s_dir);
        return -1;
    }
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    kws_destroy(&s_kws);
    rmdir(s_dir);
    return 0;
}

int
main(void)
{
    char path[1024];
    const char *top = getenv("SHOPD_DATADIR");
    snprintf(path, sizeof path, "%s/models/kws.nn", top ? top : ".");
    if (access(path, R_OK) != 0 || system("command -v espeak-ng >/dev/null 2>&1") != 0) {
        printf("1..0 # SKIP models/kws.nn or espeak-ng missing\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_held_out_voice_commands_each_word_once),
        cmocka_unit_test(test_silence_and_hum_give_nothing),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
