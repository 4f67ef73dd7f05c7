/* tests/audio_belief_test.c: the belief-constant fit (audio/belief.h), a
 * maximum-likelihood logistic regression of "said" on logit(confidence).
 *
 * - Closed form: with two confidences only, the model is saturated and its
 *   maximum fits each group's share said exactly, so the slope is
 *   (logit p2 - logit p1) / (logit c2 - logit c1) and the intercept
 *   logit p1 - slope * logit c1; the fit must give those to 1e-9.
 * - Known constants: 200,000 words drawn (fixed seed) from the grammar's
 *   default constants 1.64 and 2.43 must give them back within 0.05 on the
 *   power and on log odds, and within 4 of the fit's own standard errors.
 * - The score equations (the likelihood's gradient) vanish at the fit,
 *   computed here from the belief formula the grammar uses.
 * - Degenerate data are refused with their reason: too few words, one
 *   label, labels the confidence separates, confidences that are not
 *   numbers in [0, 1]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/belief.h"

static double
s_logit(double p)
{
    return log(p / (1.0 - p));
}

/* splitmix64: a fixed stream of uniform numbers in [0, 1) */
static double
s_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double) (z >> 11) / 9007199254740992.0;
}

/* The grammar's belief: odds * (c / (1 - c)) ^ power as a probability. */
static double
s_belief(double odds, double power, double c)
{
    double x = odds * pow(c / (1.0 - c), power);
    return x / (1.0 + x);
}

static void
test_two_confidences_give_the_closed_form(void **state)
{
    (void) state;
    enum { N1 = 40, S1 = 10, N2 = 60, S2 = 54 };
    float conf[N1 + N2];
    unsigned char said[N1 + N2];
    for (int i = 0; i < N1; i++) {
        conf[i] = 0.3f;
        said[i] = i < S1;
    }
    for (int i = 0; i < N2; i++) {
        conf[N1 + i] = 0.8f;
        said[N1 + i] = i < S2;
    }
    double x1 = s_logit((double) 0.3f), x2 = s_logit((double) 0.8f);
    double b = (s_logit((double) S2 / N2) - s_logit((double) S1 / N1)) / (x2 - x1);
    double a = s_logit((double) S1 / N1) - b * x1;
    belief_fit_t f;
    char err[256] = "";
    assert_int_equal(belief_fit(conf, said, N1 + N2, &f, err, sizeof err), 0);
    assert_true(fabs(f.power - b) < 1e-9);
    assert_true(fabs(log(f.odds) - a) < 1e-9);
    assert_int_equal(f.n, N1 + N2);
    assert_int_equal(f.n_said, S1 + S2);
    /* the log-likelihood of the saturated fit: each group at its share */
    double ll = S1 * log(0.25) + (N1 - S1) * log(0.75) + S2 * log(0.9) + (N2 - S2) * log(0.1);
    assert_true(fabs(f.log_likelihood - ll) < 1e-9);
    assert_true(f.se_power > 0 && f.se_log_odds > 0);
}

static void
test_words_drawn_from_known_constants_give_them_back(void **state)
{
    (void) state;
    enum { N = 200000 };
    const double odds = 1.64, power = 2.43;
    float *conf = malloc(N * sizeof *conf);
    unsigned char *said = malloc(N);
    assert_non_null(conf);
    assert_non_null(said);
    uint64_t rng = 20261207;
    for (int i = 0; i < N; i++) {
        conf[i] = (float) (0.15 + 0.84 * s_uniform(&rng));
        said[i] = s_uniform(&rng) < s_belief(odds, power, conf[i]);
    }
    belief_fit_t f;
    char err[256] = "";
    assert_int_equal(belief_fit(conf, said, N, &f, err, sizeof err), 0);
    double d_power = fabs(f.power - power), d_log_odds = fabs(log(f.odds) - log(odds));
    printf("# fit: odds %.4f power %.4f (se %.4f, %.4f), %d steps\n", f.odds, f.power,
           f.se_log_odds, f.se_power, f.iterations);
    assert_true(d_power < 0.05);
    assert_true(d_log_odds < 0.05);
    assert_true(d_power < 4 * f.se_power);
    assert_true(d_log_odds < 4 * f.se_log_odds);
    /* at the maximum the score equations hold: sum (y - p) = sum (y - p) x = 0 */
    double g0 = 0, g1 = 0;
    for (int i = 0; i < N; i++) {
        double r = said[i] - s_belief(f.odds, f.power, conf[i]);
        g0 += r;
        g1 += r * s_logit(conf[i]);
    }
    assert_true(fabs(g0) < 1e-6 * N);
    assert_true(fabs(g1) < 1e-6 * N);
    /* confidences of exactly 0 and 1 are clamped, not refused */
    conf[0] = 1.0f;
    said[0] = 1;
    conf[1] = 0.0f;
    said[1] = 0;
    assert_int_equal(belief_fit(conf, said, N, &f, err, sizeof err), 0);
    assert_true(isfinite(f.odds) && isfinite(f.power));
    free(conf);
    free(said);
}

static void
test_degenerate_data_are_refused_with_their_reason(void **state)
{
    (void) state;
    enum { N = 100 };
    float conf[N];
    unsigned char said[N];
    belief_fit_t f;
    char err[256];
    /* overlapping data, fit once as a control */
    for (int i = 0; i < N; i++) {
        conf[i] = 0.2f + 0.6f * (float) i / N;
        said[i] = i % 3 != 0 || i > 70;
    }
    assert_int_equal(belief_fit(conf, said, N, &f, err, sizeof err), 0);
    assert_int_equal(belief_fit(conf, said, BELIEF_MIN_WORDS, &f, err, sizeof err), 0);
    /* too few words */
    assert_int_equal(belief_fit(conf, said, BELIEF_MIN_WORDS - 1, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "49 words: a belief fit needs at least 50"));
    assert_int_equal(belief_fit(NULL, said, N, &f, err, sizeof err), -1);
    /* one label only */
    unsigned char all[N], none[N];
    memset(all, 1, sizeof all);
    memset(none, 0, sizeof none);
    assert_int_equal(belief_fit(conf, all, N, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "all 100 words are said"));
    assert_int_equal(belief_fit(conf, none, N, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "all 100 words are not said"));
    /* separated: every said word above every other (no finite maximum),
     * also when they only meet at one confidence, and when all are one */
    unsigned char sep[N];
    for (int i = 0; i < N; i++)
        sep[i] = conf[i] > 0.5f;
    assert_int_equal(belief_fit(conf, sep, N, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "separates"));
    for (int i = 0; i < N; i++)
        sep[i] = conf[i] < 0.5f;
    assert_int_equal(belief_fit(conf, sep, N, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "separates"));
    float same[N];
    for (int i = 0; i < N; i++)
        same[i] = 0.5f;
    assert_int_equal(belief_fit(same, said, N, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "separates"));
    /* confidences that are not numbers in [0, 1] */
    float bad[N];
    memcpy(bad, conf, sizeof bad);
    bad[7] = NAN;
    assert_int_equal(belief_fit(bad, said, N, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "word 7: confidence nan is not a number in [0, 1]"));
    bad[7] = 1.5f;
    assert_int_equal(belief_fit(bad, said, N, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "word 7: confidence 1.5"));
    bad[7] = -0.25f;
    assert_int_equal(belief_fit(bad, said, N, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "word 7: confidence -0.25"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_confidences_give_the_closed_form),
        cmocka_unit_test(test_words_drawn_from_known_constants_give_them_back),
        cmocka_unit_test(test_degenerate_data_are_refused_with_their_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
