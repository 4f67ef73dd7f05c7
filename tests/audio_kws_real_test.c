/* tests/audio_kws_real_test.c: the real-speech evaluation (audio/realdata.h)
 * on the thirteen recordings of tests/data/realspeech (README there).
 *
 * - the speaker split rule (validation and calibration speakers) against
 *   hashes computed by hand (FNV-1a 64);
 * - the listing: words, speakers, vocab ids and split of every file;
 * - the end-of-speech estimate on a signal whose end is known;
 * - real_eval with the shipped model: its counts equal those the test
 *   makes itself from the one-shot decoder (kws_decode) and the grammar on
 *   the validation clips only, and the training speakers' clips are left
 *   out (counts by class and speaker are those of the files); on the
 *   calibration speakers instead, only their clip; the same with the
 *   real-speaker model (models/kws-domain.nn, filler classes merged);
 * - real people talking (audio_real_talk): the stream of one talker is the
 *   validation speakers' speech clips end to end, each once, in a seeded
 *   order; a crowd sums that many orders at 1 / sqrt(talkers); and
 *   audio_real_listen's counts are the listener's on exactly those
 *   streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/eval.h"
#include "audio/intent.h"
#include "audio/kws.h"
#include "audio/realdata.h"
#include "audio/vocab.h"
#include "nn/nn.h"

static char s_data[1024];
static char s_top[1024];

static void
test_split_rule(void **state)
{
    (void) state;
    /* FNV-1a 64 mod 4, by hand: george 0, 189cbabe 0, 91b03183 0, 1141 0;
     * jackson 2, 0ea0e2f4 and 1037 not 0 */
    assert_true(real_speaker_is_validation("george"));
    assert_true(real_speaker_is_validation("189cbabe"));
    assert_true(real_speaker_is_validation("91b03183"));
    assert_true(real_speaker_is_validation("1141"));
    assert_false(real_speaker_is_validation("jackson"));
    assert_false(real_speaker_is_validation("0ea0e2f4"));
    assert_false(real_speaker_is_validation("1037"));
    assert_false(real_speaker_is_validation("lucas"));
    /* calibration speakers, mod 4 == 1: theo ...0f49, 1cb788bc ...38f5,
     * 27c30960 ...ce61; not george (0), jackson (2), lucas ...4527 (3) */
    assert_true(real_speaker_is_calibration("theo"));
    assert_true(real_speaker_is_calibration("1cb788bc"));
    assert_true(real_speaker_is_calibration("27c30960"));
    assert_false(real_speaker_is_calibration("george"));
    assert_false(real_speaker_is_calibration("189cbabe"));
    assert_false(real_speaker_is_calibration("jackson"));
    assert_false(real_speaker_is_calibration("lucas"));
}

static const real_clip_t *
s_find(const real_t *set, const char *tail)
{
    for (int i = 0; i < real_count(set); i++) {
        const char *p = real_clip(set, i)->path;
        size_t a = strlen(p), b = strlen(tail);
        if (a >= b && strcmp(p + a - b, tail) == 0)
            return real_clip(set, i);
    }
    return NULL;
}

static void
test_listing(void **state)
{
    (void) state;
    char err[256];
    real_t *set = real_open(s_data, err, sizeof err);
    assert_non_null(set);
    assert_int_equal(real_count(set), 13);
    const real_clip_t *c = s_find(set, "yes/1cb788bc_nohash_0.flac");
    assert_non_null(c);
    assert_true(c->calibration);
    assert_false(c->validation);
    c = s_find(set, "yes/0ea0e2f4_nohash_0.flac");
    assert_non_null(c);
    assert_string_equal(c->word, "yes");
    assert_string_equal(c->speaker, "0ea0e2f4");
    assert_int_equal(c->vocab, VOCAB_YES);
    assert_false(c->validation);
    c = s_find(set, "_unknown_/three_91b03183_nohash_3.flac");
    assert_non_null(c);
    assert_string_equal(c->word, "three");
    assert_string_equal(c->speaker, "91b03183");
    assert_int_equal(c->vocab, VOCAB_THREE);
    assert_true(c->validation);
    c = s_find(set, "left/189cbabe_nohash_0.flac");
    assert_int_equal(c->vocab, VOCAB_UNKNOWN);
    c = s_find(set, "_silence_/1141.flac");
    assert_int_equal(c->vocab, VOCAB_SILENCE);
    assert_string_equal(c->word, "");
    c = s_find(set, "recordings/0_george_0.flac");
    assert_int_equal(c->source, REAL_FSDD);
    assert_string_equal(c->word, "zero");
    assert_string_equal(c->speaker, "george");
    assert_int_equal(c->vocab, VOCAB_UNKNOWN);
    c = s_find(set, "recordings/3_jackson_0.flac");
    assert_int_equal(c->vocab, VOCAB_THREE);
    assert_false(c->validation);
    assert_false(c->calibration);
    /* FSDD is 8 kHz: decoded at 16 kHz, twice its samples (soxi: 3_george_0
     * holds 3,979 samples at 8 kHz) */
    float *pcm;
    size_t n;
    int i = (int) (s_find(set, "recordings/3_george_0.flac") - real_clip(set, 0));
    assert_int_equal(real_clip_pcm(set, i, &pcm, &n, err, sizeof err), 0);
    assert_true(n >= 2 * 3979 - 4 && n <= 2 * 3979 + 4);
    free(pcm);
    real_destroy(&set);
    assert_null(set);
    assert_null(real_open("/nonexistent-real-data", err, sizeof err));
    assert_non_null(strstr(err, "neither"));
}

static void
test_speech_end(void **state)
{
    (void) state;
    /* 0.3 s of quiet noise, 0.4 s of a loud tone, 0.3 s of quiet noise */
    size_t n = 16000;
    float *x = malloc(n * sizeof *x);
    uint32_t r = 12345;
    for (size_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = 0.001f * ((float) (r >> 8) / 16777216.f - 0.5f);
        if (i >= 4800 && i < 11200)
            x[i] += 0.5f * sinf(2.f * 3.14159265f * 440.f * (float) i / 16000.f);
    }
    int on, end;
    real_speech_extent(x, n, &on, &end);
    /* the first and last 25 ms frames that hold tone: within a frame of
     * 4,800 and 11,200 */
    assert_true(on >= 4800 - 400 && on <= 4800);
    assert_true(end >= 11200 && end <= 11200 + 400);
    free(x);
}

static void
s_eval_counts(const char *model)
{
    char err[256];
    real_t *set = real_open(s_data, err, sizeof err);
    assert_non_null(set);
    kws_t *kws = kws_new(model, NULL, err, sizeof err);
    if (!kws)
        fail_msg("%s: %s", model ? model : "shipped model", err);
    intent_config_t ic;
    intent_config_default(&ic);
    ic.require_wake = false;
    intent_t *g = intent_new_from_file(NULL, &ic, err, sizeof err);
    assert_non_null(g);

    /* the reference: every validation clip through the one-shot decoder */
    int yn_ok = 0, stop_ok = 0, fa = 0, dig_ok = 0, zero_ok = 0;
    for (int i = 0; i < real_count(set); i++) {
        const real_clip_t *c = real_clip(set, i);
        if (!c->validation)
            continue;
        float *pcm;
        size_t n;
        assert_int_equal(real_clip_pcm(set, i, &pcm, &n, err, sizeof err), 0);
        kws_hit_t hits[32];
        int nh = kws_decode(kws, pcm, n, hits, 32), words[32];
        float conf[32];
        free(pcm);
        assert_true(nh >= 0);
        for (int k = 0; k < nh; k++) {
            words[k] = hits[k].word;
            conf[k] = hits[k].confidence;
        }
        intent_result_t got, want;
        bool any = intent_match(g, words, conf, (size_t) nh, &got, NULL, 0) == 0;
        if (strcmp(c->word, "yes") == 0 || strcmp(c->word, "no") == 0) {
            assert_int_equal(intent_match_text(g, c->word, &want, err, sizeof err), 0);
            yn_ok += any && real_same_intent(&want, &got);
        } else if (strcmp(c->word, "stop") == 0) {
            assert_int_equal(intent_match_text(g, "cancel", &want, err, sizeof err), 0);
            stop_ok += any && real_same_intent(&want, &got);
        } else if (c->source == REAL_FSDD) {
            if (strcmp(c->word, "zero") == 0)
                zero_ok += nh == 0;
            else
                dig_ok += nh == 1 && words[0] == vocab_find(c->word);
        } else {
            fa += any;
        }
    }
    json_t *r = real_eval(set, kws, g, false, false, err, sizeof err);
    assert_non_null(r);
    const json_t *yn = json_object_get(r, "yes_no_acceptance");
    /* validation yes/no clips: yes 189cbabe x2, no 189cbabe (not yes 0ea0e2f4) */
    assert_int_equal(json_integer_value(json_object_get(yn, "trials")), 3);
    assert_true(fabs(json_real_value(json_object_get(yn, "acceptance")) - yn_ok / 3.0) < 1e-9);
    const json_t *by = json_object_get(yn, "by_speaker");
    assert_int_equal(json_object_size(by), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(by, "189cbabe"),
                                                        "trials")), 3);
    const json_t *st = json_object_get(r, "stop_acceptance");
    assert_int_equal(json_integer_value(json_object_get(st, "trials")), 1);
    assert_true(fabs(json_real_value(json_object_get(st, "acceptance")) - stop_ok) < 1e-9);
    /* non-command clips: left, three (a number alone makes no intent), noise 1141 */
    const json_t *f = json_object_get(r, "false_accepts");
    assert_int_equal(json_integer_value(json_object_get(f, "trials")), 3);
    assert_true(fabs(json_real_value(json_object_get(f, "per_clip")) - fa / 3.0) < 1e-9);
    const json_t *cls = json_object_get(f, "by_class");
    assert_int_equal(json_object_size(cls), 3);
    assert_non_null(json_object_get(cls, "left"));
    assert_non_null(json_object_get(cls, "three"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(cls, "_silence_"),
                                                        "trials")), 1);
    /* per speaker over speech only: 189cbabe (left) and 91b03183 (three) */
    assert_int_equal(json_object_size(json_object_get(f, "by_speaker")), 2);
    const json_t *d = json_object_get(r, "digits_word_accuracy");
    assert_int_equal(json_integer_value(json_object_get(d, "trials")), 1);
    assert_true(fabs(json_real_value(json_object_get(d, "accuracy")) - dig_ok) < 1e-9);
    assert_non_null(json_object_get(json_object_get(d, "by_speaker"), "george"));
    const json_t *z = json_object_get(r, "zero_rejection");
    assert_int_equal(json_integer_value(json_object_get(z, "trials")), 1);
    assert_true(fabs(json_real_value(json_object_get(z, "accuracy")) - zero_ok) < 1e-9);
    const json_t *sp = json_object_get(r, "speakers");
    assert_int_equal(json_integer_value(json_object_get(sp, "speech_commands")), 2);
    assert_int_equal(json_integer_value(json_object_get(sp, "fsdd")), 1);
    json_decref(r);

    /* the calibration speakers instead: the one calibration clip, yes of
     * 1cb788bc, and nothing else */
    r = real_eval(set, kws, g, true, false, err, sizeof err);
    assert_non_null(r);
    assert_non_null(strstr(json_string_value(json_object_get(r, "split")), "calibration"));
    yn = json_object_get(r, "yes_no_acceptance");
    assert_int_equal(json_integer_value(json_object_get(yn, "trials")), 1);
    assert_non_null(json_object_get(json_object_get(yn, "by_speaker"), "1cb788bc"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "false_accepts"),
                                                        "trials")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "speakers"),
                                                        "speech_commands")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "speakers"),
                                                        "fsdd")), 0);
    json_decref(r);
    intent_destroy(&g);
    kws_destroy(&kws);
    real_destroy(&set);
}

static void
test_eval_counts(void **state)
{
    (void) state;
    s_eval_counts(NULL);
}

/* The same with the real-speaker model (models/kws-domain.nn), whose filler
 * classes the spotter merges into _unknown_ before it decides. */
static void
test_eval_counts_real_speaker_model(void **state)
{
    (void) state;
    char path[1200], err[256];
    snprintf(path, sizeof path, "%s/models/kws-domain.nn", s_top);
    nn_net_t *net = nn_load(path, err, sizeof err);
    if (!net)
        fail_msg("%s", err);
    assert_true(kws_check_labels(net, err, sizeof err) > 0);
    nn_destroy(&net);
    s_eval_counts(path);
}

/* Clip k of the validation speakers' speech, as audio_real_talk selects. */
static bool
s_talk_clip(const real_clip_t *c)
{
    return c->source == REAL_SPEECH_COMMANDS && c->vocab != VOCAB_SILENCE && c->validation;
}

static void
test_real_talk(void **state)
{
    (void) state;
    char err[256];
    real_t *set = real_open(s_data, err, sizeof err);
    assert_non_null(set);
    /* the clips: yes x2, no, stop, left, three; not the noise 1141, not the
     * training or calibration speakers', not FSDD's */
    float *pcm[16];
    size_t len[16], total = 0;
    double sum = 0, sq = 0;
    int m = 0;
    for (int i = 0; i < real_count(set); i++) {
        if (!s_talk_clip(real_clip(set, i)))
            continue;
        assert_true(m < 16);
        assert_int_equal(real_clip_pcm(set, i, &pcm[m], &len[m], err, sizeof err), 0);
        for (size_t k = 0; k < len[m]; k++) {
            sum += pcm[m][k];
            sq += (double) pcm[m][k] * pcm[m][k];
        }
        total += len[m++];
    }
    assert_int_equal(m, 6);

    /* one talker: the clips end to end, each exactly once */
    size_t n;
    int clips;
    float *x = audio_real_talk(set, false, 1, 42, &n, &clips, err, sizeof err);
    assert_non_null(x);
    assert_int_equal(clips, 6);
    assert_int_equal(n, total);
    bool used[16] = { false };
    for (size_t at = 0; at < n;) {
        int found = -1;
        for (int k = 0; k < m && found < 0; k++)
            if (!used[k] && len[k] <= n - at && memcmp(x + at, pcm[k], len[k] * sizeof *x) == 0)
                found = k;
        assert_true(found >= 0);
        used[found] = true;
        at += len[found];
    }
    /* the same seed, the same stream; another seed, another order */
    size_t n2;
    float *y = audio_real_talk(set, false, 1, 42, &n2, &clips, err, sizeof err);
    assert_non_null(y);
    assert_int_equal(n2, n);
    assert_memory_equal(x, y, n * sizeof *x);
    free(y);
    y = audio_real_talk(set, false, 1, 43, &n2, &clips, err, sizeof err);
    assert_non_null(y);
    assert_int_equal(n2, n);
    assert_memory_not_equal(x, y, n * sizeof *x);
    free(y);

    /* a crowd of three: three orders summed at 1 / sqrt(3) */
    y = audio_real_talk(set, false, AUDIO_REAL_CROWD, 42, &n2, &clips, err, sizeof err);
    assert_non_null(y);
    assert_int_equal(n2, total);
    double ysum = 0, xsq = 0;
    for (size_t k = 0; k < n; k++) {
        ysum += y[k];
        xsq += (double) x[k] * x[k];
    }
    assert_true(fabs(xsq - sq) <= 1e-9 * sq);
    assert_true(fabs(ysum - sqrt(3.0) * sum) <= 1e-4 * (fabs(sum) + 1));
    assert_memory_not_equal(x, y, n * sizeof *x);

    /* the calibration speakers' one clip (yes of 1cb788bc); no talker at all */
    float *z = audio_real_talk(set, true, 1, 1, &n2, &clips, err, sizeof err);
    assert_non_null(z);
    assert_int_equal(clips, 1);
    free(z);
    assert_null(audio_real_talk(set, false, 0, 1, &n2, &clips, err, sizeof err));
    assert_non_null(strstr(err, "talker"));

    /* through shopd's listener: the counts are the listener's on exactly
     * those streams (seed for the talk, seed + 1 for the crowd) */
    kws_t *k = kws_new(NULL, NULL, err, sizeof err);
    assert_non_null(k);
    listener_t *l = listener_new(&k, NULL, NULL, err, sizeof err);
    assert_non_null(l);
    json_t *r = audio_real_listen(set, l, false, 42, err, sizeof err);
    assert_non_null(r);
    const json_t *talk = json_object_get(r, "talk"), *crowd = json_object_get(r, "crowd");
    float *c = audio_real_talk(set, false, AUDIO_REAL_CROWD, 43, &n2, &clips, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(json_integer_value(json_object_get(talk, "intents")),
                     audio_eval_listen(l, x, n, NULL));
    assert_int_equal(json_integer_value(json_object_get(crowd, "intents")),
                     audio_eval_listen(l, c, n2, NULL));
    assert_int_equal(json_integer_value(json_object_get(talk, "clips")), 6);
    assert_int_equal(json_integer_value(json_object_get(crowd, "talkers")), AUDIO_REAL_CROWD);
    assert_true(fabs(json_real_value(json_object_get(talk, "hours")) - n / 16000.0 / 3600.0)
                < 1e-12);
    free(c);
    json_decref(r);
    listener_destroy(&l);
    free(y);
    free(x);
    for (int i = 0; i < m; i++)
        free(pcm[i]);
    real_destroy(&set);
}

int
main(void)
{
    const char *top = getenv("SHOP_TOP_SRCDIR");
    snprintf(s_data, sizeof s_data, "%s/tests/data/realspeech", top ? top : ".");
    snprintf(s_top, sizeof s_top, "%s", top ? top : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_rule),
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_speech_end),
        cmocka_unit_test(test_eval_counts),
        cmocka_unit_test(test_eval_counts_real_speaker_model),
        cmocka_unit_test(test_real_talk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
