/* tests/audio_ctc_test.c: the CTC loss and gradient (audio/ctc.h) against
 * independent references: the loss against the sum over every path of
 * frame labels (K^T of them) whose collapse is the label sequence, the
 * gradient against central differences of the loss; and the decoding
 * helpers on hand-made cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/ctc.h"

/* -log of the summed probability of every path that collapses to labels,
 * by enumeration (logits class-major, K x T). */
static double
s_brute(const float *logits, int T, int K, int blank, const int *labels, int n)
{
    double total = 0;
    int path[16];
    long count = 1;
    for (int t = 0; t < T; t++)
        count *= K;
    for (long code = 0; code < count; code++) {
        long c = code;
        double p = 1;
        for (int t = 0; t < T; t++) {
            path[t] = (int) (c % K);
            c /= K;
            double z = 0;
            for (int k = 0; k < K; k++)
                z += exp(logits[k * T + t]);
            p *= exp(logits[path[t] * T + t]) / z;
        }
        int out[16], m = 0, prev = -1;
        for (int t = 0; t < T; t++) {
            if (path[t] != blank && path[t] != prev)
                out[m++] = path[t];
            prev = path[t];
        }
        if (m == n && (n == 0 || memcmp(out, labels, (size_t) n * sizeof *out) == 0))
            total += p;
    }
    return -log(total);
}

static void
s_random_logits(float *x, int n, uint64_t *seed)
{
    for (int i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float) ((double) (*seed >> 33) / (double) (1ULL << 31) * 4.0 - 2.0);
    }
}

static void
test_loss_equals_brute_force(void **state)
{
    (void) state;
    static const struct {
        int T, K, blank, n, labels[4];
    } cases[] = {
        { 4, 3, 0, 2, { 1, 2 } },  { 4, 3, 0, 2, { 1, 1 } }, { 5, 3, 0, 3, { 2, 1, 2 } },
        { 3, 4, 0, 0, { 0 } },     { 5, 4, 3, 1, { 2 } },    { 3, 3, 0, 2, { 1, 1 } },
        { 6, 3, 1, 3, { 0, 2, 2 } },
    };
    uint64_t seed = 7;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int T = cases[c].T, K = cases[c].K;
        float x[64], g[64];
        s_random_logits(x, T * K, &seed);
        double want = s_brute(x, T, K, cases[c].blank, cases[c].labels, cases[c].n);
        double got = ctc_loss(x, T, K, cases[c].blank, cases[c].labels, cases[c].n, 1.f, g);
        assert_true(fabs(got - want) < 1e-6 * fmax(1.0, fabs(want)));
        /* gradient: central differences of the loss */
        for (int i = 0; i < T * K; i++) {
            float keep = x[i];
            x[i] = keep + 1e-3f;
            double up = ctc_loss(x, T, K, cases[c].blank, cases[c].labels, cases[c].n, 1.f, NULL);
            x[i] = keep - 1e-3f;
            double dn = ctc_loss(x, T, K, cases[c].blank, cases[c].labels, cases[c].n, 1.f, NULL);
            x[i] = keep;
            double num = (up - dn) / 2e-3;
            assert_true(fabs(num - g[i]) < 2e-3);
        }
        /* the gradient of each frame sums to zero (softmax minus occupancy) */
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += g[k * T + t];
            assert_true(fabs(s) < 1e-5);
        }
    }
}

static void
test_infeasible_and_bad_arguments(void **state)
{
    (void) state;
    float x[6] = { 0 }, g[6];
    int rep[2] = { 1, 1 }, bad[1] = { 0 };
    /* "1 1" needs a blank between: 3 frames, only 2 here */
    assert_int_equal(ctc_min_frames(rep, 2), 3);
    assert_true(isinf(ctc_loss(x, 2, 3, 0, rep, 2, 1.f, g)));
    for (int i = 0; i < 6; i++)
        assert_true(g[i] == 0.f);
    assert_true(isnan(ctc_loss(x, 2, 3, 0, bad, 1, 1.f, g)));   /* the blank as a label */
    assert_true(isnan(ctc_loss(NULL, 2, 3, 0, rep, 2, 1.f, g)));
    assert_true(isnan(ctc_loss(x, 2, 3, 3, rep, 2, 1.f, g)));
    /* uniform logits, one frame, no labels: p(blank) = 1/3 */
    assert_true(fabs(ctc_loss(x, 1, 3, 0, NULL, 0, 1.f, NULL) - log(3.0)) < 1e-9);
}

static void
test_greedy_and_edit_distance(void **state)
{
    (void) state;
    /* K = 3, T = 6, argmax per frame: 1 1 0 1 2 2 -> 1 1 2 */
    int T = 6, arg[6] = { 1, 1, 0, 1, 2, 2 };
    float x[18] = { 0 };
    for (int t = 0; t < T; t++)
        x[arg[t] * T + t] = 5;
    int out[8];
    int n = ctc_greedy(x, T, 3, 0, out, 8);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 2);
    int a[] = { 1, 2, 3, 4 }, b[] = { 1, 3, 4, 5 };
    assert_int_equal(ctc_edit_distance(a, 4, b, 4), 2);
    assert_int_equal(ctc_edit_distance(a, 4, a, 4), 0);
    assert_int_equal(ctc_edit_distance(a, 4, b, 0), 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_equals_brute_force),
        cmocka_unit_test(test_infeasible_and_bad_arguments),
        cmocka_unit_test(test_greedy_and_edit_distance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
