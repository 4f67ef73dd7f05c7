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
#include "nn/nn.h"

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

/* A toy sequence task through nn's caller-loss hook: each sample shows 1-3
 * "phones" (class c lights frequency rows 4c..4c+3 for 4 frames, in time
 * order with gaps); a small conv net trained with CTC must read the sequence
 * back (greedy decoding) on held-out samples. */
enum { TOY_T = 32, TOY_F = 12, TOY_K = 4, TOY_N = 512, TOY_V = 64 };

typedef struct {
    int lab[2][TOY_N][3];
    int n[2][TOY_N];
} s_toy_t;

static double
s_toy_loss(const float *out, int n, int size, const int *idx, bool val, float scale, float *grad,
           void *user)
{
    const s_toy_t *toy = user;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += ctc_loss(out + (size_t) i * size, TOY_T, TOY_K, 0, toy->lab[val][idx[i]],
                        toy->n[val][idx[i]], scale, grad ? grad + (size_t) i * size : NULL);
    return sum;
}

static void
s_toy_data(s_toy_t *toy, int set, float *x, int n, uint64_t *seed)
{
    memset(x, 0, (size_t) n * TOY_T * TOY_F * sizeof *x);
    for (int i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int m = 1 + (int) ((*seed >> 33) % 3);
        toy->n[set][i] = m;
        int t = 2 + (int) ((*seed >> 40) % 4);
        for (int j = 0; j < m; j++) {
            *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
            int c = 1 + (int) ((*seed >> 33) % 3);
            toy->lab[set][i][j] = c;
            for (int u = t; u < t + 4; u++)
                for (int f = 4 * (c - 1); f < 4 * c; f++)
                    x[((size_t) i * TOY_T + u) * TOY_F + f] = 1.f;
            t += 6 + (int) ((*seed >> 45) % 3);
        }
    }
}

static void
test_nn_learns_a_sequence_with_ctc(void **state)
{
    (void) state;
    static s_toy_t toy;
    static float xt[TOY_N * TOY_T * TOY_F], xv[TOY_V * TOY_T * TOY_F];
    uint64_t seed = 3;
    s_toy_data(&toy, 0, xt, TOY_N, &seed);
    s_toy_data(&toy, 1, xv, TOY_V, &seed);
    nn_net_t *net = nn_new(1);
    int x = nn_input(net, (nn_shape_t) { 1, TOY_T, TOY_F });
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, 8, 3, 3, 1, 1, 1, 1, false)));
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, 16, 3, TOY_F, 1, 1, 1, 0, false)));
    x = nn_pointwise(net, x, TOY_K, true);
    assert_true(x >= 0);
    nn_data_t dt = { .x = xt, .n = TOY_N, .shape = { 1, TOY_T, TOY_F } };
    nn_data_t dv = { .x = xv, .n = TOY_V, .shape = { 1, TOY_T, TOY_F } };
    nn_train_opts_t o;
    nn_train_opts_default(&o);
    o.epochs = 12;
    o.batch = 16;
    o.optimizer = NN_ADAMW;
    o.lr = 0.01f;
    o.verbose = 0;
    o.threads = 1;
    o.val = &dv;
    o.loss = s_toy_loss;
    o.loss_user = &toy;
    char err[256];
    assert_int_equal(nn_train(net, &dt, &o, NULL, err, sizeof err), 0);
    float out[TOY_K * TOY_T];
    int right = 0;
    for (int i = 0; i < TOY_V; i++) {
        assert_int_equal(nn_forward(net, xv + (size_t) i * TOY_T * TOY_F, 1, out), 0);
        int hyp[TOY_T];
        int n = ctc_greedy(out, TOY_T, TOY_K, 0, hyp, TOY_T);
        right += n == toy.n[1][i] && memcmp(hyp, toy.lab[1][i], (size_t) n * sizeof *hyp) == 0;
    }
    /* every held-out sequence read back exactly */
    assert_int_equal(right, TOY_V);
    nn_destroy(&net);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_equals_brute_force),
        cmocka_unit_test(test_infeasible_and_bad_arguments),
        cmocka_unit_test(test_greedy_and_edit_distance),
        cmocka_unit_test(test_nn_learns_a_sequence_with_ctc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
