/* tests/audio_phones_test.c: the phone set and the word spotter over phone
 * posteriors (audio/phones.h).
 *
 * - espeak-ng's phoneme strings (copied from `espeak-ng -v en-us -q -x
 *   --sep=_` output) map to the phones written by hand; an unknown phoneme
 *   is refused; espeak-ng itself gives "yes" as j E s;
 * - pronunciations round-trip through their metadata format, bad ones are
 *   refused;
 * - the spotter on made-up posteriors: a word's phones in order give one
 *   report with its frames; "go" is not "no"; noise (blank) gives nothing;
 *   "t-shirt" beats the "shirt" inside it; a word said twice 1 s apart is
 *   reported twice;
 * - the detector (audio/kws.h) runs a phone model: a small untrained one
 *   with the metadata of a phone model loads, and a recording gives the
 *   same words in 100 ms pushes as in one push, in time order; metadata
 *   without pronunciations or with an odd look-ahead is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "audio/features.h"
#include "audio/kws.h"
#include "audio/phones.h"
#include "audio/vocab.h"
#include "nn/nn.h"

static void
s_expect(const char *espeak, const char *want)
{
    int got[32], w[32], nw = 0;
    char err[128];
    int n = phones_from_espeak(espeak, got, 32, err, sizeof err);
    char buf[128];
    snprintf(buf, sizeof buf, "%s", want);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
        w[nw++] = phones_id(t);
    assert_int_equal(n, nw);
    for (int i = 0; i < n; i++)
        assert_int_equal(got[i], w[i]);
}

static void
test_espeak_mapping(void **state)
{
    (void) state;
    s_expect("S_'0_p_w_aI_z", "S 0 p w aI z");
    s_expect("s_t2_'0_p", "s t 0 p");
    s_expect("s_'a_n_d_@L_z", "s a n d @ l z");
    s_expect("t_'i: S_'3:_t", "t i S 3 t");
    s_expect("k_'A@_t", "k 0 r t");
    s_expect("tS_'E_k_aU_t", "tS E k aU t");
    int out[8];
    char err[128];
    assert_int_equal(phones_from_espeak("k_Q9_t", out, 8, err, sizeof err), -1);
    assert_non_null(strstr(err, "Q9"));
    assert_int_equal(phones_of_text("yes", out, 8, err, sizeof err), 3);
    assert_int_equal(out[0], phones_id("j"));
    assert_int_equal(out[1], phones_id("E"));
    assert_int_equal(out[2], phones_id("s"));
    assert_int_equal(phones_of_text("yes; rm x", out, 8, err, sizeof err), -1);
    assert_string_equal(phones_name(PHONES_BLANK), "_");
    assert_null(phones_name(PHONES_CLASSES));
}

static void
test_lexicon(void **state)
{
    (void) state;
    phones_lexicon_t lex, back;
    char err[128], buf[512];
    assert_int_equal(phones_lexicon_parse("yes=j E s;no=n oU;t-shirt=t i S 3 t", &lex, err,
                                          sizeof err), 0);
    assert_int_equal(lex.n[VOCAB_YES], 3);
    assert_int_equal(lex.n[VOCAB_TSHIRT], 5);
    assert_int_equal(lex.n[VOCAB_SHOW], 0);
    assert_int_equal(phones_lexicon_format(&lex, buf, sizeof buf), 0);
    assert_string_equal(buf, "yes=j E s;no=n oU;t-shirt=t i S 3 t");
    assert_int_equal(phones_lexicon_parse(buf, &back, err, sizeof err), 0);
    assert_memory_equal(&lex, &back, sizeof lex);
    assert_int_equal(phones_lexicon_parse("yes=j E Q", &lex, err, sizeof err), -1);
    assert_int_equal(phones_lexicon_parse("banana=b a n", &lex, err, sizeof err), -1);
    assert_int_equal(phones_lexicon_parse("_unknown_=b a", &lex, err, sizeof err), -1);
    assert_int_equal(phones_lexicon_parse("yes=j;yes=j", &lex, err, sizeof err), -1);
    assert_int_equal(phones_lexicon_parse("yes", &lex, err, sizeof err), -1);
    assert_int_equal(phones_lexicon_parse("yes=", &lex, err, sizeof err), -1);
}

/* Frames of log posteriors: blank-dominated, each listed phone one frame
 * with 0.9, blanks between (and `gap` blank frames first). */
static int
s_feed(phones_spotter_t *sp, const char *phones, int gap, phones_hit_t *hits, int n, int max)
{
    float lp[PHONES_CLASSES];
    char buf[128];
    snprintf(buf, sizeof buf, "%s", phones);
    int seq[32], m = 0;
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
        seq[m++] = phones_id(t);
    int frames = gap + 2 * m;
    for (int f = 0; f < frames; f++) {
        int top = PHONES_BLANK;
        if (f >= gap && (f - gap) % 2 == 0)
            top = seq[(f - gap) / 2];
        for (int k = 0; k < PHONES_CLASSES; k++)
            lp[k] = logf(k == top ? 0.9f : 0.1f / (PHONES_CLASSES - 1));
        n = phones_spotter_frame(sp, lp, hits, n, max);
    }
    return n;
}

static void
test_spotter(void **state)
{
    (void) state;
    phones_lexicon_t lex;
    char err[128];
    assert_int_equal(phones_lexicon_parse("yes=j E s;no=n oU;t-shirt=t i S 3 t;shirt=S 3 t",
                                          &lex, err, sizeof err), 0);
    float thr[64];
    for (int i = 0; i < 64; i++)
        thr[i] = 0.5f;
    phones_spotter_t *sp = phones_spotter_new(&lex, thr, 8, 20);
    assert_non_null(sp);
    phones_hit_t hits[8];
    /* "yes" after 10 blank frames: phones at frames 10, 12, 14 */
    int n = s_feed(sp, "j E s", 10, hits, 0, 8);
    n = s_feed(sp, "", 20, hits, n, 8);
    assert_int_equal(n, 1);
    assert_int_equal(hits[0].word, VOCAB_YES);
    assert_int_equal(hits[0].start, 10);
    assert_int_equal(hits[0].end, 14);
    assert_true(hits[0].confidence > 0.99f);
    assert_false(phones_spotter_busy(sp));
    /* "go": no word */
    n = s_feed(sp, "g oU", 5, hits, 0, 8);
    n = s_feed(sp, "", 20, hits, n, 8);
    assert_int_equal(n, 0);
    float peaks[64];
    phones_spotter_peaks(sp, peaks);
    /* best "no" path: n on a frame where it has 0.1/39 against 0.9, oU exact:
     * confidence = sqrt of that ratio */
    assert_true(fabsf(peaks[VOCAB_NO] - sqrtf((0.1f / 39.f) / 0.9f)) < 1e-4f);
    assert_true(peaks[VOCAB_YES] > 0.99f);
    /* noise only */
    phones_spotter_reset(sp);
    n = s_feed(sp, "", 200, hits, 0, 8);
    assert_int_equal(n, 0);
    /* t-shirt holds shirt: only t-shirt */
    n = s_feed(sp, "t i S 3 t", 5, hits, 0, 8);
    n = phones_spotter_close(sp, hits, n, 8);
    assert_int_equal(n, 1);
    assert_int_equal(hits[0].word, VOCAB_TSHIRT);
    /* "no" twice, 1 s (50 frames) apart: two reports, in order */
    phones_spotter_reset(sp);
    n = s_feed(sp, "n oU", 5, hits, 0, 8);
    n = s_feed(sp, "n oU", 46, hits, n, 8);
    n = phones_spotter_close(sp, hits, n, 8);
    assert_int_equal(n, 2);
    assert_int_equal(hits[0].word, VOCAB_NO);
    assert_int_equal(hits[1].word, VOCAB_NO);
    assert_int_equal(hits[0].end, 7);
    assert_int_equal(hits[1].end, 9 + 46 + 2);
    phones_spotter_destroy(&sp);
    phones_spotter_destroy(&sp);
}

/* An untrained phone model: 1 x 160 x 40 -> 40 x 80 x 1, with metadata. */
static nn_net_t *
s_phone_net(const char *lookahead, bool with_phones)
{
    nn_net_t *net = nn_new(11);
    int x = nn_input(net, (nn_shape_t) { 1, 160, 40 });
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, 8, 4, 40, 2, 1, 1, 0, false)));
    x = nn_pointwise(net, x, PHONES_CLASSES, true);
    assert_true(x >= 0);
    assert_int_equal(nn_layer_shape(net, x).h, 80);
    features_config_t fc;
    features_config_default(&fc);
    float thr[VOCAB_COUNT];
    for (int i = 0; i < VOCAB_COUNT; i++)
        thr[i] = 0.5f;
    assert_int_equal(kws_net_set_meta(net, &fc, -5.f, 3.f, thr, 10), 0);
    nn_meta_set(net, "kws.units", "phones");
    nn_meta_set(net, "kws.lookahead", lookahead);
    if (with_phones)
        nn_meta_set(net, "kws.phones", "yes=j E s;no=n oU;stop=s t 0 p;two=t u;six=s I k s");
    return net;
}

static void
test_kws_runs_a_phone_model(void **state)
{
    (void) state;
    char err[256];
    kws_opts_t o;
    kws_opts_default(&o);
    o.threshold = 0.15f;   /* low: an untrained model must report some words */
    nn_net_t *net = s_phone_net("24", true);
    kws_t *a = kws_new_from_net(&net, &o, err, sizeof err);
    assert_non_null(a);
    assert_int_equal(kws_stride(a), 10);
    net = s_phone_net("24", true);
    kws_t *b = kws_new_from_net(&net, &o, err, sizeof err);
    assert_non_null(b);
    /* 3 s of a rising tone with bursts */
    enum { N = 48000 };
    static float pcm[N];
    for (int i = 0; i < N; i++)
        pcm[i] = 0.3f * sinf(0.02f * (float) i * (1.f + (float) i / N))
                 * (((i / 3000) % 2) ? 1.f : 0.1f);
    kws_hit_t h1[64], h2[64];
    int n1 = kws_decode(a, pcm, N, h1, 64);
    int n2 = kws_push(b, pcm, N, h2, 64);
    assert_true(n2 >= 0);
    int r = kws_flush(b, h2 + n2, 64 - n2);
    assert_true(r >= 0);
    n2 += r;
    assert_true(n1 > 0);
    assert_int_equal(n1, n2);
    for (int i = 0; i < n1; i++) {
        assert_int_equal(h1[i].word, h2[i].word);
        assert_true(fabs(h1[i].time - h2[i].time) < 1e-9);
        assert_true(h1[i].confidence == h2[i].confidence);
        assert_true(h1[i].time >= 0 && h1[i].time <= 3.5);
        if (i)
            assert_true(h1[i].time >= h1[i - 1].time - 0.5);
    }
    assert_false(kws_in_word(a));
    kws_destroy(&a);
    kws_destroy(&b);
    /* refusals */
    net = s_phone_net("24", false);
    assert_null(kws_new_from_net(&net, &o, err, sizeof err));
    assert_non_null(strstr(err, "kws.phones"));
    net = s_phone_net("23", true);
    assert_null(kws_new_from_net(&net, &o, err, sizeof err));
    assert_non_null(strstr(err, "lookahead"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_espeak_mapping),
        cmocka_unit_test(test_lexicon),
        cmocka_unit_test(test_spotter),
        cmocka_unit_test(test_kws_runs_a_phone_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
