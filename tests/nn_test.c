/* tests/nn_test.c: nn/ self-test: gradient check of every layer, learning,
 * determinism, save/load, broken model files, the OpenBLAS kernel choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/internal.h"
#include "nn/nn.h"
#include "nn/ops.h"
#include "nn/selftest.h"

/* The gradient check of a layer type in a net built under opts (NULL: the
 * defaults). */
static void
s_gradcheck_opts(nn_ltype_t type, const nn_opts_t *opts)
{
    double e = nn_gradcheck_opts(type, opts, false);
    if (e < 0 || e > NN_GRADCHECK_TOL)
        nn_gradcheck_opts(type, opts, true);   /* print the offending parameters */
    assert_true(e >= 0.0);
    assert_true(e <= NN_GRADCHECK_TOL);
}

static void
s_gradcheck(nn_ltype_t type)
{
    s_gradcheck_opts(type, NULL);
}

/* The default engine options with one threshold or switch changed. */
static nn_opts_t
s_opts(int shift_min_c, int wino_min_c, int poly_min_c, int dw_cl_min_c)
{
    nn_opts_t o;
    nn_opts_default(&o);
    if (shift_min_c)
        o.conv_shift_min_c = shift_min_c;
    if (wino_min_c)
        o.conv_wino_min_c = wino_min_c;
    if (poly_min_c)
        o.conv_poly_min_c = poly_min_c;
    if (dw_cl_min_c)
        o.dw_cl_min_c = dw_cl_min_c;
    return o;
}

#define GRADCHECK_TEST(name, type) \
    static void test_gradcheck_##name(void **state) { (void) state; s_gradcheck(type); }
GRADCHECK_TEST(conv2d, NN_L_CONV)
GRADCHECK_TEST(depthwise, NN_L_DWCONV)
GRADCHECK_TEST(batchnorm, NN_L_BN)
GRADCHECK_TEST(relu, NN_L_RELU)
GRADCHECK_TEST(maxpool, NN_L_MAXPOOL)
GRADCHECK_TEST(avgpool, NN_L_AVGPOOL)
GRADCHECK_TEST(global_avgpool, NN_L_GAP)
GRADCHECK_TEST(dense, NN_L_DENSE)
GRADCHECK_TEST(dropout, NN_L_DROPOUT)
GRADCHECK_TEST(residual_add, NN_L_ADD)
GRADCHECK_TEST(softmax_xent, NN_L_SOFTMAX_XENT)

/* Softmax cross-entropy against soft targets, through a net (smoothing 0.1). */
static void
test_gradcheck_softmax_xent_soft_targets(void **state)
{
    (void) state;
    double e = nn_gradcheck_soft(false);
    if (e < 0 || e > NN_GRADCHECK_TOL)
        nn_gradcheck_soft(true);
    assert_true(e >= 0.0);
    assert_true(e <= NN_GRADCHECK_TOL);
}

/* The gradient reversal in a net of two heads: the shared layers' gradient
 * is the class loss's minus lambda times the domain loss's (central
 * differences of each loss apart); lambda 0 leaves the class loss's alone. */
static void
test_gradcheck_grad_reverse_two_heads(void **state)
{
    (void) state;
    static const float lambdas[] = { 0.7f, 0.0f, 2.0f };
    for (size_t k = 0; k < sizeof lambdas / sizeof lambdas[0]; k++) {
        double e = nn_gradcheck_two_heads(lambdas[k], false);
        if (e < 0 || e > NN_GRADCHECK_TOL)
            nn_gradcheck_two_heads(lambdas[k], true);
        assert_true(e >= 0.0);
        assert_true(e <= NN_GRADCHECK_TOL);
    }
}

/* grad_reverse: its output is its input bit for bit (training forward and
 * inference); its backward writes, or adds to what is there, exactly -lambda
 * times the upstream gradient; nn_grad_reverse_set changes lambda and
 * refuses another layer or a bad value. */
static void
test_grad_reverse_identity_and_reversed_gradient(void **state)
{
    (void) state;
    nn_net_t *net = nn_new(3);
    int x = nn_input(net, (nn_shape_t) { 2, 3, 3 });
    int c = nn_conv2d(net, x, 2, 3, 3, 1, 1, 1, 1, true);
    int r = nn_grad_reverse(net, c, 0.25f);
    assert_true(r > c);
    assert_string_equal(nn_layer_type(net, r), "grad_reverse");
    assert_int_equal(nn_grad_reverse(net, c, -1.0f), -1);
    assert_int_equal(nn_grad_reverse(net, c, NAN), -1);
    assert_int_equal(nn_grad_reverse_set(net, c, 0.5f), -1);
    assert_int_equal(nn_grad_reverse_set(net, r, -0.5f), -1);
    enum { B = 3 };
    nn_shard_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(nn_shard_reserve(net, &s, B), 0);
    s.net = net;
    s.b = B;
    uint64_t rng = 9;
    size_t n_in = B * net->layers[x].osz, n = B * net->layers[r].osz;
    float in[B * 18];
    for (size_t i = 0; i < n_in; i++)
        in[i] = s.out[x][i] = nn_rand_normal(&rng);
    nn_shard_forward_train(net, &s);
    assert_memory_equal(s.out[r], s.out[c], n * sizeof(float));
    float *y = malloc(n * sizeof(float));
    assert_int_equal(nn_forward(net, in, B, y), 0);
    assert_memory_equal(y, nn_layer_output(net, c, NULL), n * sizeof(float));
    /* multiples of 1/64 below 8: every product and sum below is exact in
     * float, with or without a fused multiply-add */
    float dy[B * 18], dx[B * 18], prev[B * 18];
    for (size_t i = 0; i < n; i++) {
        dy[i] = s.grad[r][i] = roundf(nn_rand_normal(&rng) * 64.0f) / 64.0f;
        prev[i] = dx[i] = roundf(nn_rand_normal(&rng) * 64.0f) / 64.0f;
    }
    const float lambdas[2] = { 0.25f, 1.5f };
    for (int k = 0; k < 2; k++) {
        assert_int_equal(nn_grad_reverse_set(net, r, lambdas[k]), 0);
        nn_ops[NN_L_GRAD_REVERSE]->backward(net, r, &s, dx, false);
        for (size_t i = 0; i < n; i++)
            assert_true(dx[i] == -lambdas[k] * dy[i]);
        memcpy(dx, prev, sizeof dx);
        nn_ops[NN_L_GRAD_REVERSE]->backward(net, r, &s, dx, true);
        for (size_t i = 0; i < n; i++)
            assert_true(dx[i] == prev[i] + -lambdas[k] * dy[i]);
        memcpy(dx, prev, sizeof dx);
    }
    free(y);
    nn_shard_free(net, &s);
    nn_destroy(&net);
}

/* nn_truncate removes a second head built after the output: the rest has the
 * parameters, statistics and outputs it had (bit for bit), as many
 * parameters as the same net built without the head, and saves and loads as
 * that net; it refuses to remove the output layer. */
static void
test_truncate_drops_second_head(void **state)
{
    (void) state;
    nn_net_t *plain = nn_new(21), *net = nn_new(21);
    int outs[2] = { -1, -1 };
    for (int k = 0; k < 2; k++) {
        nn_net_t *m = k ? net : plain;
        int x = nn_input(m, (nn_shape_t) { 1, 6, 5 });
        x = nn_relu(m, nn_batchnorm(m, nn_conv2d(m, x, 4, 3, 3, 1, 1, 1, 1, false)));
        outs[k] = nn_softmax_xent(m, nn_dense(m, x, 3));
        if (k) {
            int h = nn_relu(m, nn_batchnorm(m, nn_dense(m, nn_grad_reverse(m, x, 1.0f), 5)));
            assert_true(nn_dense(m, h, 2) > 0);
            assert_int_equal(nn_set_output(m, outs[k]), 0);
        }
    }
    size_t np = nn_num_params(plain);
    assert_true(nn_num_params(net) > np);
    int n_plain = nn_num_layers(plain);
    assert_int_equal(nn_truncate(net, outs[1]), -1);   /* the output would go */
    assert_int_equal(nn_truncate(net, 1), -1);
    enum { B = 5 };
    float in[B * 30], y0[B * 3], y1[B * 3], y2[B * 3];
    uint64_t rng = 4;
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        in[i] = nn_rand_normal(&rng);
    assert_int_equal(nn_forward(net, in, B, y0), 0);
    assert_int_equal(nn_truncate(net, n_plain), 0);
    assert_int_equal(nn_num_layers(net), n_plain);
    assert_int_equal(nn_num_params(net), np);
    assert_int_equal(net->n_state, plain->n_state);
    assert_int_equal(net->n_bn, plain->n_bn);
    /* the same weights as the plain net's (same seed, same layers first) */
    assert_memory_equal(net->params, plain->params, np * sizeof(float));
    assert_int_equal(nn_forward(net, in, B, y1), 0);
    assert_memory_equal(y0, y1, sizeof y0);
    size_t len = 0;
    char err[256];
    void *buf = nn_save_mem(net, &len, err, sizeof err);
    assert_non_null(buf);
    nn_net_t *back = nn_load_mem(buf, len, err, sizeof err);
    assert_non_null(back);
    assert_int_equal(nn_num_layers(back), n_plain);
    assert_int_equal(nn_forward(back, in, B, y2), 0);
    assert_memory_equal(y0, y2, sizeof y0);
    free(buf);
    nn_destroy(&back);
    nn_destroy(&plain);
    nn_destroy(&net);
}

/* nn_softmax_xent_soft for a caller's own loop: loss equal to the formula
 * computed in double, gradient equal to central differences of the loss, with
 * and without label smoothing; bad arguments give NAN. */
static void
test_softmax_xent_soft_function(void **state)
{
    (void) state;
    enum { N = 3, K = 5 };
    float z[N * K], t[N * K] = { 0.5f, 0.5f, 0, 0, 0,   0.1f, 0.2f, 0.3f, 0.4f, 0,
                                 0, 0, 0, 0, 1 };
    float p[N * K], g[N * K];
    uint64_t rng = 8;
    for (int i = 0; i < N * K; i++)
        z[i] = 2.0f * nn_rand_normal(&rng);
    const float eps_v[2] = { 0.0f, 0.2f };
    for (int e = 0; e < 2; e++) {
        float eps = eps_v[e];
        double loss = nn_softmax_xent_soft(z, t, N, K, eps, p, g);
        double want = 0.0;
        for (int q = 0; q < N; q++) {
            double mx = -INFINITY, sum = 0.0;
            for (int c = 0; c < K; c++)
                mx = fmax(mx, z[q * K + c]);
            for (int c = 0; c < K; c++)
                sum += exp(z[q * K + c] - mx);
            for (int c = 0; c < K; c++) {
                double pc = exp(z[q * K + c] - mx) / sum;
                assert_float_equal(p[q * K + c], pc, 1e-6);
                want -= ((1.0 - eps) * t[q * K + c] + eps / K) * log(pc);
            }
        }
        want /= N;
        assert_float_equal(loss, want, 1e-5 * (1.0 + want));
        /* same loss without the optional outputs */
        assert_float_equal(nn_softmax_xent_soft(z, t, N, K, eps, NULL, NULL), loss, 0);
        for (int i = 0; i < N * K; i++) {
            float keep = z[i], h = 1e-2f;
            z[i] = keep + h;
            double lp = nn_softmax_xent_soft(z, t, N, K, eps, NULL, NULL);
            z[i] = keep - h;
            double lm = nn_softmax_xent_soft(z, t, N, K, eps, NULL, NULL);
            z[i] = keep;
            double num = (lp - lm) / (2.0 * h);
            assert_float_equal(g[i], num, 2e-3 * (fabs(num) + 1e-2));
        }
    }
    assert_true(isnan(nn_softmax_xent_soft(NULL, t, N, K, 0.0f, p, g)));
    assert_true(isnan(nn_softmax_xent_soft(z, NULL, N, K, 0.0f, p, g)));
    assert_true(isnan(nn_softmax_xent_soft(z, t, 0, K, 0.0f, p, g)));
    assert_true(isnan(nn_softmax_xent_soft(z, t, N, K, 1.0f, p, g)));
    assert_true(isnan(nn_softmax_xent_soft(z, t, N, K, NAN, p, g)));
}

/* Training data for the soft-target tests: noise with a bar in column 3 for
 * class 1 (clear enough for the small net to separate in a few epochs). */
static void
s_column_data(int n, float *x, int32_t *y, float *t)
{
    uint64_t rng = 4;
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t) (nn_rand_u32(&rng) % 2);
        for (int p = 0; p < 64; p++)
            x[i * 64 + p] = nn_rand_normal(&rng) + (y[i] && p % 8 == 3 ? 2.5f : 0.0f);
        if (t) {
            t[i * 2] = y[i] ? 0.0f : 1.0f;
            t[i * 2 + 1] = y[i] ? 1.0f : 0.0f;
        }
    }
}

/* One-hot soft targets train exactly as their labels, label smoothing and
 * a validation split included: bit-identical model files. */
static void
test_soft_onehot_trains_as_labels(void **state)
{
    (void) state;
    enum { N = 256 };
    float *x = calloc(N * 64, sizeof(float)), *t = calloc(N * 2, sizeof(float));
    int32_t *y = calloc(N, sizeof(int32_t));
    s_column_data(N, x, y, t);
    void *img[2];
    size_t len[2];
    for (int soft = 0; soft < 2; soft++) {
        nn_net_t *net = nn_selftest_small_net(9);
        assert_non_null(net);
        nn_data_t d = { .x = x, .y = soft ? NULL : y, .t = soft ? t : NULL, .n = N,
                        .shape = { 1, 8, 8 } };
        nn_train_opts_t o;
        nn_train_opts_default(&o);
        o.epochs = 2;
        o.batch = 32;
        o.label_smoothing = 0.1f;
        o.val_split = 0.125f;
        o.verbose = 0;
        char err[256];
        assert_int_equal(nn_train(net, &d, &o, NULL, err, sizeof err), 0);
        img[soft] = nn_save_mem(net, &len[soft], err, sizeof err);
        assert_non_null(img[soft]);
        nn_destroy(&net);
    }
    assert_int_equal(len[0], len[1]);
    assert_memory_equal(img[0], img[1], len[0]);
    free(img[0]);
    free(img[1]);
    free(x);
    free(y);
    free(t);
}

/* Fine-tuning with the first layers frozen (nn_train_opts_t.freeze): the
 * frozen layers keep their weights and batch-norm statistics bit for bit,
 * and the layers above train on what inference computes below them. The
 * reference is one plain SGD step of the dense layer written out: with
 * momentum and weight decay 0 and the whole set in one batch, W' = W - lr *
 * mean_i (softmax(W e_i + b) - onehot_i) e_i^T, e_i the inference embedding
 * (the BN normalising with its running statistics, which are set far from
 * the batch's so that batch statistics would give other numbers). */
static void
test_freeze_trains_the_head_on_inference_features(void **state)
{
    (void) state;
    enum { N = 64, E = 4, K = 2 };
    float *x = calloc(N * 64, sizeof(float));
    int32_t *y = calloc(N, sizeof(int32_t));
    s_column_data(N, x, y, NULL);
    nn_net_t *net = nn_new(11);
    int l = nn_input(net, (nn_shape_t) { 1, 8, 8 });
    l = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, l, E, 3, 3, 1, 1, 1, 1, false)));
    int emb = nn_global_avgpool(net, l);
    int dense = nn_dense(net, emb, K);
    assert_true(nn_softmax_xent(net, dense) > 0);
    assert_int_equal(net->layers[2].type, NN_L_BN);
    /* running statistics unlike any batch's */
    nn_layer_t *bn = &net->layers[2];
    for (int c = 0; c < E; c++) {
        net->state[bn->s_off + c] = 0.3f * (float) (c + 1);
        net->state[bn->s_off + E + c] = 2.0f + (float) c;
    }
    nn_invalidate(net);
    size_t np = net->n_params, ns = net->n_state;
    float *p0 = malloc(np * sizeof(float)), *s0 = malloc(ns * sizeof(float));
    memcpy(p0, net->params, np * sizeof(float));
    memcpy(s0, net->state, ns * sizeof(float));

    /* the reference step from inference embeddings */
    float *out = malloc(N * K * sizeof(float));
    assert_int_equal(nn_forward(net, x, N, out), 0);
    float *e = malloc(N * E * sizeof(float));
    memcpy(e, nn_layer_output(net, emb, NULL), N * E * sizeof(float));
    const nn_layer_t *D = &net->layers[dense];
    const float *W = p0 + D->w_off, *B = p0 + D->b_off;
    float lr = 0.5f;
    double gw[K * E] = { 0 }, gb[K] = { 0 };
    for (int i = 0; i < N; i++) {
        double z[K], m = -1e30, sum = 0;
        for (int k = 0; k < K; k++) {
            z[k] = B[k];
            for (int j = 0; j < E; j++)
                z[k] += (double) W[k * E + j] * e[i * E + j];
            m = fmax(m, z[k]);
        }
        for (int k = 0; k < K; k++)
            sum += exp(z[k] - m);
        for (int k = 0; k < K; k++) {
            double d = exp(z[k] - m) / sum - (y[i] == k ? 1.0 : 0.0);
            gb[k] += d / N;
            for (int j = 0; j < E; j++)
                gw[k * E + j] += d * e[i * E + j] / N;
        }
    }

    nn_data_t d = { .x = x, .y = y, .n = N, .shape = { 1, 8, 8 } };
    nn_train_opts_t o;
    nn_train_opts_default(&o);
    o.epochs = 1;
    o.batch = N;
    o.shards = 1;
    o.lr = lr;
    o.momentum = 0;
    o.weight_decay = 0;
    o.warmup = 0;
    o.schedule = NN_SCHED_CONSTANT;
    o.restore_best = false;
    o.verbose = 0;
    o.freeze = dense;
    char err[256];
    assert_int_equal(nn_train(net, &d, &o, NULL, err, sizeof err), 0);
    for (int q = 0; q < dense; q++) {
        const nn_layer_t *L = &net->layers[q];
        assert_memory_equal(net->params + L->w_off, p0 + L->w_off, L->n_w * sizeof(float));
        assert_memory_equal(net->params + L->b_off, p0 + L->b_off, L->n_b * sizeof(float));
        assert_memory_equal(net->state + L->s_off, s0 + L->s_off, L->n_s * sizeof(float));
    }
    for (int k = 0; k < K; k++) {
        assert_float_equal(net->params[D->b_off + k], B[k] - lr * gb[k], 1e-5);
        for (int j = 0; j < E; j++)
            assert_float_equal(net->params[D->w_off + k * E + j], W[k * E + j] - lr * gw[k * E + j],
                               1e-5);
    }
    /* the step moved the head: the check above is not vacuous */
    assert_true(fabs(gw[0]) + fabs(gw[1]) > 1e-3);

    /* the output layer must train; a negative count is refused */
    o.freeze = net->output + 1;
    assert_int_equal(nn_train(net, &d, &o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "freeze"));
    o.freeze = -1;
    assert_int_equal(nn_train(net, &d, &o, NULL, err, sizeof err), -1);
    nn_destroy(&net);
    free(p0);
    free(s0);
    free(out);
    free(e);
    free(x);
    free(y);
}

/* A net trained on soft targets predicts the distributions themselves:
 * class 0 samples have target (0.8, 0.2), class 1 samples (0.3, 0.7); the
 * mean predicted probability per class lands within 0.05 of them, and
 * nn_evaluate's accuracy is the target mass at the top-1 class. Rows that
 * are not distributions are refused. */
static void
test_soft_targets_learned(void **state)
{
    (void) state;
    enum { N = 1024 };
    float *x = calloc(N * 64, sizeof(float)), *t = calloc(N * 2, sizeof(float));
    int32_t *y = calloc(N, sizeof(int32_t));
    s_column_data(N, x, y, NULL);
    for (int i = 0; i < N; i++) {
        t[i * 2] = y[i] ? 0.3f : 0.8f;
        t[i * 2 + 1] = y[i] ? 0.7f : 0.2f;
    }
    nn_net_t *net = nn_selftest_small_net(5);
    assert_non_null(net);
    nn_data_t d = { .x = x, .t = t, .n = N, .shape = { 1, 8, 8 } };
    nn_train_opts_t o;
    nn_train_opts_default(&o);
    o.epochs = 20;
    o.batch = 32;
    o.verbose = 0;
    char err[256];
    assert_int_equal(nn_train(net, &d, &o, NULL, err, sizeof err), 0);
    float *p = calloc(N * 2, sizeof(float));
    assert_int_equal(nn_forward(net, x, N, p), 0);
    double mean1[2] = { 0, 0 };
    int cnt[2] = { 0, 0 };
    for (int i = 0; i < N; i++) {
        mean1[y[i]] += p[i * 2 + 1];
        cnt[y[i]]++;
    }
    printf("# soft targets 0.2 / 0.7 learned as %.3f / %.3f\n", mean1[0] / cnt[0],
           mean1[1] / cnt[1]);
    assert_float_equal(mean1[0] / cnt[0], 0.2, 0.05);
    assert_float_equal(mean1[1] / cnt[1], 0.7, 0.05);
    double loss, acc = nn_evaluate(net, &d, &loss);
    /* top-1 right for (nearly) all: mass 0.8 on class 0, 0.7 on class 1 */
    double ideal = (0.8 * cnt[0] + 0.7 * cnt[1]) / N;
    printf("# soft-target accuracy %.4f (ideal %.4f), loss %.4f\n", acc, ideal, loss);
    assert_true(acc > ideal - 0.03 && acc <= ideal + 1e-6);
    /* entropy of the targets is the floor of the loss */
    double h = -(cnt[0] * (0.8 * log(0.8) + 0.2 * log(0.2)) + cnt[1] * (0.3 * log(0.3) + 0.7 * log(0.7))) / N;
    assert_true(loss >= h - 1e-6 && loss < h + 0.05);

    t[5 * 2] = 0.9f;   /* row 5 sums to 1.1 or 1.6 */
    assert_int_equal(nn_train(net, &d, &o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "sample 5"));
    t[5 * 2] = -0.1f;
    t[5 * 2 + 1] = 1.1f;
    assert_int_equal(nn_train(net, &d, &o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "not in [0, 1]"));
    nn_destroy(&net);
    free(p);
    free(x);
    free(y);
    free(t);
}

/* The stride-1 shifted-GEMM convolution path, forced on for small channel counts. */
static void
test_gradcheck_conv2d_shifted(void **state)
{
    (void) state;
    nn_opts_t o = s_opts(1, 0, 0, 0);
    s_gradcheck_opts(NN_L_CONV, &o);
}

/* Both conv paths compute the same outputs. */
static void
test_conv_paths_agree(void **state)
{
    (void) state;
    float x[2 * 16 * 9 * 7], a[2 * 10], b[2 * 10];
    uint64_t rng = 3;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = nn_rand_normal(&rng);
    for (int pass = 0; pass < 2; pass++) {
        nn_opts_t o = s_opts(pass ? 1000 : 1, 0, 0, 0);
        nn_net_t *net = nn_new(4);
        nn_set_opts(net, &o);
        int h = nn_input(net, (nn_shape_t) { 16, 9, 7 });
        h = nn_relu(net, nn_conv2d(net, h, 8, 3, 3, 1, 1, 1, 1, true));
        h = nn_conv2d(net, h, 5, 5, 2, 1, 1, 2, 0, false);
        h = nn_dense(net, h, 10);
        assert_true(h > 0);
        assert_int_equal(nn_forward(net, x, 2, pass ? b : a), 0);
        nn_destroy(&net);
    }
    for (int i = 0; i < 20; i++)
        assert_float_equal(a[i], b[i], 1e-4 * (1 + fabsf(a[i])));
}

/* The Winograd path, forced on for small channel counts: gradients of the
 * forward and of the input gradient (the gradient net's second conv is 3x3
 * stride 1 pad 1). */
static void
test_gradcheck_conv2d_winograd(void **state)
{
    (void) state;
    nn_opts_t o = s_opts(0, 1, 0, 0);
    s_gradcheck_opts(NN_L_CONV, &o);
}

/* Largest |a - b| over n floats, relative to the largest |a|. */
static double
s_rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double) a[i] - b[i]));
        m = fmax(m, fabs((double) a[i]));
    }
    return d / m;
}

/* Winograd F(4x4, 3x3) against the direct path (shifted GEMMs or im2col):
 * inference at batch 1 and 5 (maps that are and are not multiples of the
 * 4x4 tile), and a training step's parameter gradients, which include the
 * input and weight gradients Winograd computes. fp32 error stays below 1e-5
 * of the largest output (measured ~1e-6). A saved and loaded net takes the
 * same path and gives the same bits. */
/* One training step of net on b random inputs (normal, from seed) with
 * labels 0, 1, 2, 0, ...: returns the parameter gradients (malloc'd,
 * *np floats). */
static float *
s_step_gradients(nn_net_t *net, int b, uint64_t seed, size_t *np)
{
    nn_shard_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(nn_shard_reserve(net, &s, b), 0);
    s.net = net;
    s.b = b;
    int32_t *labels = malloc((size_t) b * sizeof *labels);
    assert_non_null(labels);
    for (int i = 0; i < b; i++)
        labels[i] = i % 3;
    s.labels = labels;
    s.grad_scale = 1.0f / (float) b;
    for (size_t i = 0; i < (size_t) b * net->layers[net->input].osz; i++)
        s.out[net->input][i] = nn_rand_normal(&seed);
    nn_shard_forward_train(net, &s);
    nn_shard_backward(net, &s);
    *np = net->n_params;
    float *g = malloc(*np * sizeof(float));
    assert_non_null(g);
    memcpy(g, s.gparams, *np * sizeof(float));
    nn_shard_free(net, &s);
    free(labels);
    return g;
}

static void
test_winograd_matches_direct(void **state)
{
    (void) state;
    static const int shapes[][4] = { { 16, 16, 28, 28 }, { 32, 64, 14, 14 }, { 128, 128, 7, 7 },
                                     { 3, 5, 9, 6 },     { 17, 24, 5, 11 } };
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        int C = shapes[sh][0], K = shapes[sh][1], H = shapes[sh][2], W = shapes[sh][3];
        enum { B = 5 };
        size_t isz = (size_t) C * H * W, osz = (size_t) K * H * W;
        float *x = malloc(B * isz * sizeof(float));
        float *out[2] = { malloc(B * osz * sizeof(float)), malloc(B * osz * sizeof(float)) };
        float *out1 = malloc(osz * sizeof(float));
        uint64_t rng = 11 + sh;
        for (size_t i = 0; i < B * isz; i++)
            x[i] = nn_rand_normal(&rng);
        for (int wino = 0; wino < 2; wino++) {
            nn_opts_t o = s_opts(0, wino ? 1 : 100000, 0, 0);
            nn_net_t *net = nn_new(21);
            nn_set_opts(net, &o);
            int h = nn_input(net, (nn_shape_t) { C, H, W });
            int c = nn_conv2d(net, h, K, 3, 3, 1, 1, 1, 1, true);
            h = nn_relu(net, nn_batchnorm(net, c));
            assert_true(h > 0);
            assert_int_equal(nn_forward(net, x, B, NULL), 0);
            memcpy(out[wino], nn_layer_output(net, h, NULL), B * osz * sizeof(float));
            assert_int_equal(nn_forward(net, x + 2 * isz, 1, NULL), 0);
            memcpy(out1, nn_layer_output(net, h, NULL), osz * sizeof(float));
            /* batch 1 is image 2 of the batch (GEMMs of other shapes: rounding) */
            double e1 = s_rel_diff(out[wino] + 2 * osz, out1, osz);
            if (e1 >= 1e-5)
                printf("# %s %dx%d@%dx%d batch 1 vs 5: %.2e\n", wino ? "wino" : "direct", C, K, H, W, e1);
            assert_true(e1 < 1e-5);
            if (wino) {
                /* saved and loaded: the same path, bit-identical outputs */
                char err[256];
                size_t len;
                void *img = nn_save_mem(net, &len, err, sizeof err);
                assert_non_null(img);
                nn_net_t *back = nn_load_mem(img, len, err, sizeof err);
                assert_non_null(back);
                nn_set_opts(back, &o);
                assert_int_equal(back->layers[c].algo, NN_ALGO_WINO);
                assert_int_equal(nn_forward(back, x, B, NULL), 0);
                assert_memory_equal(nn_layer_output(back, h, NULL), out[wino],
                                    B * osz * sizeof(float));
                free(img);
                nn_destroy(&back);
            }
            nn_destroy(&net);
        }
        double e = s_rel_diff(out[0], out[1], B * osz);
        printf("# winograd %dx%d@%dx%d: max error %.2e of the largest output\n", C, K, H, W, e);
        assert_true(e < 1e-5);
        free(x);
        free(out[0]);
        free(out[1]);
        free(out1);
    }

    /* training: input -> conv 3x3 -> BN -> ReLU -> conv 3x3 -> GAP -> dense */
    enum { B = 6, C = 16 };
    float *g[2];
    size_t np = 0;
    for (int wino = 0; wino < 2; wino++) {
        nn_opts_t o = s_opts(0, wino ? 1 : 100000, 0, 0);
        nn_net_t *net = nn_new(5);
        nn_set_opts(net, &o);
        int h = nn_input(net, (nn_shape_t) { 8, 10, 9 });
        h = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, h, C, 3, 3, 1, 1, 1, 1, false)));
        h = nn_conv2d(net, h, C, 3, 3, 1, 1, 1, 1, true);
        h = nn_softmax_xent(net, nn_dense(net, nn_global_avgpool(net, h), 3));
        assert_true(h > 0);
        g[wino] = s_step_gradients(net, B, 77, &np);
        nn_destroy(&net);
    }
    double e = s_rel_diff(g[0], g[1], np);
    printf("# winograd training gradients: max error %.2e of the largest\n", e);
    assert_true(e < 1e-4);
    free(g[0]);
    free(g[1]);
}

/* Stride-2 convs on the input's phases (forced on for small channel counts)
 * against im2col: inference at batch 1 and 5 on even and odd maps, padding 1
 * and 0, 3x3, 1x1, 3x1 and 5x5 kernels; a saved and loaded net takes the
 * same path with the same bits; a training step's gradients (weights, bias
 * and, through the conv before it, the input gradient) agree with im2col's
 * and are the same bits when repeated. */
static void
test_poly_matches_direct(void **state)
{
    (void) state;
    /* C K H W kh kw ph pw */
    static const int shapes[][8] = {
        { 32, 64, 28, 28, 3, 3, 1, 1 }, { 17, 24, 9, 11, 3, 3, 1, 1 },
        { 16, 16, 10, 7, 3, 3, 0, 0 },  { 32, 64, 28, 28, 1, 1, 0, 0 },
        { 16, 8, 11, 10, 3, 1, 1, 0 },  { 5, 6, 13, 12, 5, 5, 2, 2 },
        { 64, 128, 14, 14, 3, 3, 1, 1 },
    };
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const int *d = shapes[sh];
        int C = d[0], K = d[1], H = d[2], W = d[3];
        enum { B = 5 };
        float *x = NULL, *out[2] = { NULL, NULL }, *out1 = NULL;
        size_t isz = (size_t) C * H * W, osz = 0;
        uint64_t rng = 31 + sh;
        x = malloc(B * isz * sizeof(float));
        for (size_t i = 0; i < B * isz; i++)
            x[i] = nn_rand_normal(&rng);
        for (int poly = 0; poly < 2; poly++) {
            nn_opts_t o = s_opts(0, 0, poly ? 1 : 100000, 0);
            nn_net_t *net = nn_new(23);
            nn_set_opts(net, &o);
            int h = nn_input(net, (nn_shape_t) { C, H, W });
            int c = nn_conv2d(net, h, K, d[4], d[5], 2, 2, d[6], d[7], true);
            h = nn_relu(net, nn_batchnorm(net, c));
            assert_true(h > 0);
            assert_int_equal(net->layers[c].algo == NN_ALGO_PHASE, poly);
            osz = net->layers[h].osz;
            if (!out[poly])
                out[poly] = malloc(B * osz * sizeof(float));
            if (!out1)
                out1 = malloc(osz * sizeof(float));
            assert_int_equal(nn_forward(net, x, B, NULL), 0);
            memcpy(out[poly], nn_layer_output(net, h, NULL), B * osz * sizeof(float));
            assert_int_equal(nn_forward(net, x + 2 * isz, 1, NULL), 0);
            memcpy(out1, nn_layer_output(net, h, NULL), osz * sizeof(float));
            assert_true(s_rel_diff(out[poly] + 2 * osz, out1, osz) < 1e-5);
            if (poly) {
                char err[256];
                size_t len;
                void *img = nn_save_mem(net, &len, err, sizeof err);
                assert_non_null(img);
                nn_net_t *back = nn_load_mem(img, len, err, sizeof err);
                assert_non_null(back);
                nn_set_opts(back, &o);
                assert_int_equal(back->layers[c].algo, NN_ALGO_PHASE);
                assert_int_equal(nn_forward(back, x, B, NULL), 0);
                assert_memory_equal(nn_layer_output(back, h, NULL), out[poly],
                                    B * osz * sizeof(float));
                free(img);
                nn_destroy(&back);
            }
            nn_destroy(&net);
        }
        double e = s_rel_diff(out[0], out[1], B * osz);
        printf("# stride-2 phases %dx%d@%dx%d k%dx%d p%d,%d: max error %.2e of the largest output\n",
               C, K, H, W, d[4], d[5], d[6], d[7], e);
        assert_true(e < 1e-5);
        free(x);
        free(out[0]);
        free(out[1]);
        free(out1);
    }

    /* training: input -> conv 3x3 -> BN -> ReLU -> conv 3x3 s2 (odd map) ->
     * conv 1x1 s2 -> GAP -> dense; im2col, then the phases twice */
    enum { B = 6 };
    float *g[3];
    size_t np = 0;
    for (int run = 0; run < 3; run++) {
        nn_opts_t o = s_opts(0, 0, run ? 1 : 100000, 0);
        nn_net_t *net = nn_new(5);
        nn_set_opts(net, &o);
        int h = nn_input(net, (nn_shape_t) { 8, 11, 9 });
        h = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, h, 16, 3, 3, 1, 1, 1, 1, false)));
        h = nn_conv2d(net, h, 12, 3, 3, 2, 2, 1, 1, true);
        h = nn_conv2d(net, h, 10, 1, 1, 2, 2, 0, 0, false);
        h = nn_softmax_xent(net, nn_dense(net, nn_global_avgpool(net, h), 3));
        assert_true(h > 0);
        g[run] = s_step_gradients(net, B, 78, &np);
        nn_destroy(&net);
    }
    double e = s_rel_diff(g[0], g[1], np);
    printf("# stride-2 phases, training gradients: max error %.2e of the largest\n", e);
    assert_true(e < 1e-5);
    assert_memory_equal(g[1], g[2], np * sizeof(float));
    for (int run = 0; run < 3; run++)
        free(g[run]);
}

/* The stride-2 phase path, forced on: numerical gradient check (the gradient
 * net's stride-2 conv, odd map). */
static void
test_gradcheck_conv2d_poly(void **state)
{
    (void) state;
    nn_opts_t o = s_opts(0, 0, 1, 0);
    s_gradcheck_opts(NN_L_CONV, &o);
}

/* Strided depthwise: channels-innermost path == per-plane loops; the 2x2
 * pooling fast path == the definition; and the gradients of the new path. */
static void
test_depthwise_pool_paths_agree(void **state)
{
    (void) state;
    enum { N = 2, C = 24, H = 11, W = 9 };
    static float x[N * C * H * W], a[N * 10], b[N * 10];
    uint64_t rng = 5;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = nn_rand_normal(&rng);
    for (int pass = 0; pass < 2; pass++) {
        nn_opts_t o = s_opts(0, 0, 0, pass ? 1000 : 16);
        nn_net_t *net = nn_new(6);
        nn_set_opts(net, &o);
        int h = nn_input(net, (nn_shape_t) { C, H, W });
        h = nn_relu(net, nn_depthwise(net, h, 3, 3, 2, 2, 1, 1, true));   /* 6 x 5 */
        h = nn_depthwise(net, h, 3, 2, 2, 1, 1, 0, false);                /* 3 x 4 */
        h = nn_dense(net, h, 10);
        assert_true(h > 0);
        assert_int_equal(nn_forward(net, x, N, pass ? b : a), 0);
        nn_destroy(&net);
    }
    for (int i = 0; i < N * 10; i++)
        assert_float_equal(a[i], b[i], 1e-4 * (1 + fabsf(a[i])));
    nn_opts_t o = s_opts(0, 0, 0, 1);   /* the gradient check's 2-channel net takes the new path */
    s_gradcheck_opts(NN_L_DWCONV, &o);

    float img[2 * 4 * 4], out[2 * 2 * 2];
    for (int i = 0; i < 32; i++)
        img[i] = (float) ((i * 7) % 11) - 5.0f;
    for (int mx = 0; mx < 2; mx++) {
        nn_net_t *net = nn_new(1);
        int h = nn_input(net, (nn_shape_t) { 2, 4, 4 });
        h = mx ? nn_maxpool(net, h, 2, 2) : nn_avgpool(net, h, 2, 2);
        assert_true(h > 0);
        assert_int_equal(nn_forward(net, img, 1, out), 0);
        for (int c = 0; c < 2; c++)
            for (int oh = 0; oh < 2; oh++)
                for (int ow = 0; ow < 2; ow++) {
                    const float *p = img + c * 16 + oh * 8 + ow * 2;
                    float want = mx ? fmaxf(fmaxf(p[0], p[1]), fmaxf(p[4], p[5]))
                                    : (p[0] + p[1] + p[4] + p[5]) * 0.25f;
                    assert_float_equal(out[c * 4 + oh * 2 + ow], want, 0);
                }
        nn_destroy(&net);
    }
}

static void
test_small_net_learns_bars_sgd(void **state)
{
    (void) state;
    double acc = nn_selftest_learn(NN_SGD, false);
    printf("# bars test accuracy (SGD) %.4f\n", acc);
    assert_true(acc >= NN_LEARN_MIN_ACC);
}

static void
test_small_net_learns_bars_adamw(void **state)
{
    (void) state;
    double acc = nn_selftest_learn(NN_ADAMW, false);
    printf("# bars test accuracy (AdamW) %.4f\n", acc);
    assert_true(acc >= NN_LEARN_MIN_ACC);
}

/* Same seed and shards with 1 or 2 threads: bit-identical weights. */
static void
test_training_deterministic_across_threads(void **state)
{
    (void) state;
    enum { N = 256 };
    float *x = calloc(N * 64, sizeof(float));
    int32_t *y = calloc(N, sizeof(int32_t));
    uint64_t rng = 4;
    for (int i = 0; i < N; i++) {
        y[i] = (int32_t) (nn_rand_u32(&rng) % 2);
        for (int p = 0; p < 64; p++)
            x[i * 64 + p] = nn_rand_normal(&rng) + (y[i] && p % 8 == 3 ? 1.0f : 0.0f);
    }
    void *img[2];
    size_t len[2];
    for (int t = 0; t < 2; t++) {
        nn_net_t *net = nn_selftest_small_net(9);
        assert_non_null(net);
        nn_data_t d = { .x = x, .y = y, .n = N, .shape = { 1, 8, 8 } };
        nn_train_opts_t o;
        nn_train_opts_default(&o);
        o.epochs = 2;
        o.batch = 32;
        o.threads = t + 1;
        o.shards = 2;
        o.verbose = 0;
        char err[256];
        assert_int_equal(nn_train(net, &d, &o, NULL, err, sizeof err), 0);
        img[t] = nn_save_mem(net, &len[t], err, sizeof err);
        assert_non_null(img[t]);
        nn_destroy(&net);
    }
    assert_int_equal(len[0], len[1]);
    assert_memory_equal(img[0], img[1], len[0]);
    free(img[0]);
    free(img[1]);
    free(x);
    free(y);
}

static void
test_save_load_bit_identical(void **state)
{
    (void) state;
    assert_int_equal(nn_selftest_roundtrip(true), 0);
    /* and through a real file */
    nn_net_t *net = nn_selftest_small_net(2);
    const char *labels[] = { "a", "b" };
    assert_int_equal(nn_set_labels(net, labels, 2), 0);
    assert_int_equal(nn_meta_set(net, "mean", "0.286"), 0);
    char path[] = "/tmp/shop-nn-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256];
    assert_int_equal(nn_save(net, path, err, sizeof err), 0);
    nn_net_t *back = nn_load(path, err, sizeof err);
    unlink(path);
    assert_non_null(back);
    float x[64], a[2], b[2];
    for (int i = 0; i < 64; i++)
        x[i] = (float) (i % 7) - 3.0f;
    assert_int_equal(nn_forward(net, x, 1, a), 0);
    assert_int_equal(nn_forward(back, x, 1, b), 0);
    assert_memory_equal(a, b, sizeof a);
    assert_string_equal(nn_meta_get(back, "mean"), "0.286");
    assert_string_equal(nn_label(back, 0), "a");
    nn_destroy(&back);
    nn_destroy(&net);
    assert_null(net);
    /* a missing file is an error with the path in it */
    assert_null(nn_load("/nonexistent/model.nn", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/model.nn"));
}

static void
test_broken_files_fail_cleanly(void **state)
{
    (void) state;
    assert_int_equal(nn_selftest_broken(false), 0);
    char err[256];
    assert_null(nn_load_mem("SHOPNN\r\n", 8, err, sizeof err));
    assert_true(strlen(err) > 0);
    assert_null(nn_load_mem("hello", 5, err, sizeof err));
    assert_non_null(strstr(err, "magic"));
}

/* Batched inference equals one-by-one inference; BN folding equals the
 * unfolded training-mode arithmetic up to float rounding. */
/* The fuzzing seeds are valid models: each loads and runs. */
static void
test_fuzz_seeds_load_and_run(void **state)
{
    (void) state;
    const char *top = getenv("SHOP_TOP_SRCDIR");
    if (!top)
        top = ".";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/nn_load", top);
    DIR *d = opendir(dir);
    if (!d)
        skip();
    int loaded = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192], err[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        nn_net_t *net = nn_load(path, err, sizeof err);
        if (!net)
            fail_msg("%s", err);
        nn_shape_t in = nn_input_shape(net);
        float *x = calloc((size_t) in.c * in.h * in.w, sizeof(float));
        float *out = calloc((size_t) nn_output_size(net), sizeof(float));
        assert_int_equal(nn_forward(net, x, 1, out), 0);
        float sum = 0;
        for (int i = 0; i < nn_output_size(net); i++)
            sum += out[i];
        assert_float_equal(sum, 1.0, 1e-4);   /* every seed ends in softmax */
        free(x);
        free(out);
        nn_destroy(&net);
        loaded++;
    }
    closedir(d);
    assert_true(loaded >= 3);
}

/* ReLUs fused into the conv / add before them give the same bits as a
 * separate pass, on every conv path (shifted GEMM, im2col, 1x1), batch 1
 * and batched. */
static void
test_fused_relu_same_output(void **state)
{
    (void) state;
    enum { B = 3, C = 16, H = 12, W = 12 };
    static float x[B * C * H * W], out[2][B * 10], emb[2][B * 16];
    uint64_t rng = 10;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = nn_rand_normal(&rng);
    for (int pass = 0; pass < 2; pass++) {
        nn_opts_t opts = s_opts(0, 0, 0, 0);
        opts.fuse_relu = pass == 0;
        nn_net_t *net = nn_new(11);
        nn_set_opts(net, &opts);
        int in = nn_input(net, (nn_shape_t) { C, H, W });
        int a = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, in, 16, 3, 3, 1, 1, 1, 1, false)));
        int b = nn_batchnorm(net, nn_conv2d(net, a, 16, 3, 3, 1, 1, 1, 1, false));
        int r = nn_relu(net, nn_add(net, b, in));
        int c = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, r, 16, 3, 3, 2, 2, 1, 1, false)));
        int d = nn_relu(net, nn_batchnorm(net, nn_pointwise(net, c, 16, false)));
        int g = nn_global_avgpool(net, d);
        int o = nn_dense(net, g, 10);
        assert_true(o > 0);
        assert_int_equal(nn_forward(net, x, 1, out[pass]), 0);
        assert_int_equal(nn_forward(net, x, B, out[pass]), 0);
        memcpy(emb[pass], nn_layer_output(net, g, NULL), sizeof emb[pass]);
        nn_destroy(&net);
    }
    assert_memory_equal(out[0], out[1], sizeof out[0]);
    assert_memory_equal(emb[0], emb[1], sizeof emb[0]);
}

/* Residual adds done in the epilogue of the conv that computes an operand
 * last (Winograd, stride-2 phases, shifted GEMMs, im2col groups, 1x1) give
 * the output of the separate add pass (the same bits where the epilogue adds
 * in the same order, conv + bias then the residual; rounding differences
 * where the GEMM accumulates onto bias + residual). */
static void
test_fused_add_same_output(void **state)
{
    (void) state;
    enum { B = 3, C = 16, H = 20, W = 20 };
    static float x[B * C * H * W], out[2][B * 10], blk[2][B * 32 * 10 * 10];
    uint64_t rng = 12;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = nn_rand_normal(&rng);
    int fused = 0;
    for (int pass = 0; pass < 2; pass++) {
        nn_opts_t opts = s_opts(0, 0, 0, 0);
        opts.fuse_add = pass == 0;
        nn_net_t *net = nn_new(13);
        nn_set_opts(net, &opts);
        int in = nn_input(net, (nn_shape_t) { C, H, W });
        /* Winograd block */
        int a = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, in, C, 3, 3, 1, 1, 1, 1, false)));
        int b = nn_batchnorm(net, nn_conv2d(net, a, C, 3, 3, 1, 1, 1, 1, false));
        int r = nn_relu(net, nn_add(net, b, in));
        /* stride-2 block: phases, and a 1x1 stride-2 projection (im2col groups) last */
        int c = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, r, 32, 3, 3, 2, 2, 1, 1, false)));
        int p = nn_batchnorm(net, nn_conv2d(net, r, 32, 1, 1, 2, 2, 0, 0, false));
        int r2 = nn_relu(net, nn_add(net, c, p));
        /* shifted GEMMs (5x5 stride 1), then a 1x1 conv, each with a residual */
        int d = nn_batchnorm(net, nn_conv2d(net, r2, 32, 5, 5, 1, 1, 2, 2, true));
        int r3 = nn_add(net, r2, d);
        int e = nn_pointwise(net, r3, 32, true);
        int r4 = nn_relu(net, nn_add(net, e, r3));
        int o = nn_dense(net, nn_global_avgpool(net, r4), 10);
        assert_true(o > 0);
        /* non-zero biases and BN shifts, so the order of the additions shows */
        uint64_t prng = 14;
        for (size_t i = 0; i < net->n_params; i++)
            net->params[i] += 0.1f * nn_rand_normal(&prng);
        nn_invalidate(net);
        assert_int_equal(nn_forward(net, x, 1, out[pass]), 0);
        assert_int_equal(nn_forward(net, x, B, out[pass]), 0);
        memcpy(blk[pass], nn_layer_output(net, r4, NULL), sizeof blk[pass]);
        if (pass == 0) {
            for (int l = 0; l < net->n_layers; l++)
                fused += net->ires[l] >= 0;
            assert_int_equal(net->layers[c - 2].algo, NN_ALGO_PHASE);
            assert_int_equal(net->layers[a - 2].algo, NN_ALGO_WINO);
        }
        nn_destroy(&net);
    }
    assert_int_equal(fused, 4);
    double e = s_rel_diff(blk[1], blk[0], sizeof blk[0] / sizeof blk[0][0]);
    printf("# fused residual adds: max difference %.2e of the largest activation\n", e);
    assert_true(e < 1e-5);
    assert_true(s_rel_diff(out[1], out[0], B * 10) < 1e-5);
}

static void
test_batched_forward_matches_batch1(void **state)
{
    (void) state;
    nn_net_t *net = nn_selftest_small_net(6);
    enum { B = 37 };
    float *x = malloc(B * 64 * sizeof(float)), out[B * 2], one[2];
    uint64_t rng = 8;
    for (int i = 0; i < B * 64; i++)
        x[i] = nn_rand_normal(&rng);
    assert_int_equal(nn_forward(net, x, B, out), 0);
    int emb = nn_find_layer(net, "embedding");
    assert_true(emb > 0);
    nn_shape_t es;
    const float *e = nn_layer_output(net, emb, &es);
    assert_non_null(e);
    assert_int_equal(es.c, 8);
    float e5[8];
    memcpy(e5, e + 5 * 8, sizeof e5);
    for (int i = 0; i < B; i++) {
        assert_int_equal(nn_forward(net, x + i * 64, 1, one), 0);
        for (int k = 0; k < 2; k++)
            assert_float_equal(one[k], out[i * 2 + k], 1e-5);
        if (i == 5) {
            const float *e1 = nn_layer_output(net, emb, NULL);
            for (int k = 0; k < 8; k++)
                assert_float_equal(e1[k], e5[k], 1e-5);
        }
        /* probabilities */
        assert_float_equal(one[0] + one[1], 1.0, 1e-5);
    }
    free(x);
    nn_destroy(&net);
}

static void
test_builders_reject_bad_arguments(void **state)
{
    (void) state;
    nn_net_t *net = nn_new(1);
    assert_int_equal(nn_relu(net, 0), -1);           /* no input yet */
    assert_true(strlen(nn_error(net)) > 0);
    int x = nn_input(net, (nn_shape_t) { 1, 28, 28 });
    assert_int_equal(x, 0);
    assert_int_equal(nn_input(net, (nn_shape_t) { 1, 2, 2 }), -1);
    assert_int_equal(nn_conv2d(net, x, 8, 30, 3, 1, 1, 0, 1, false), -1);   /* kernel too big */
    assert_int_equal(nn_conv2d(net, x, 0, 3, 3, 1, 1, 1, 1, false), -1);    /* no filters */
    assert_int_equal(nn_conv2d(net, x, 8, 3, 3, 1, 1, 3, 1, false), -1);    /* pad >= kernel */
    assert_int_equal(nn_maxpool(net, x, 29, 1), -1);
    assert_int_equal(nn_dropout(net, x, 1.0f), -1);
    assert_int_equal(nn_dense(net, 7, 10), -1);
    int c = nn_conv2d(net, x, 8, 3, 3, 2, 2, 1, 1, true);
    assert_true(c > 0);
    nn_shape_t s = nn_layer_shape(net, c);
    assert_int_equal(s.c, 8);
    assert_int_equal(s.h, 14);
    assert_int_equal(s.w, 14);
    assert_int_equal(nn_add(net, x, c), -1);         /* shapes differ */
    assert_int_equal(nn_num_params(net), 8 * 9 + 8);
    int sm = nn_softmax_xent(net, nn_dense(net, c, 10));
    assert_true(sm > 0);
    assert_int_equal(nn_relu(net, sm), -1);          /* nothing reads a loss */
    assert_int_equal(nn_output_size(net), 10);
    assert_int_equal(nn_layer_set_name(net, c, "stem"), 0);
    assert_int_equal(nn_find_layer(net, "stem"), c);
    assert_int_equal(nn_layer_set_name(net, x, "stem"), -1);
    assert_string_equal(nn_layer_type(net, c), "conv2d");
    /* training refuses labels out of range */
    float img[784] = { 0 };
    int32_t lab = 12;
    nn_data_t d = { .x = img, .y = &lab, .n = 1, .shape = { 1, 28, 28 } };
    nn_train_opts_t o;
    nn_train_opts_default(&o);
    o.verbose = 0;
    char err[256];
    assert_int_equal(nn_train(net, &d, &o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "label"));
    nn_destroy(&net);
    nn_destroy(&net);   /* safe twice */
}

/* Shorthand: the kernel chosen, "keep" when nn leaves OpenBLAS as it is. */
static const char *
s_choose(const char *policy, const char *env, const char *core, const nn_cpu_t *cpu,
         char *note)
{
    const char *k = nn_blas_choose_coretype(policy, env, core, cpu, note, 256);
    return k ? k : "keep";
}

static void
test_blas_kernel_policy_table(void **state)
{
    (void) state;
    nn_cpu_t zen4 = { .avx2 = true, .fma = true, .avx512f = true, .avx512bw = true,
                      .avx512vl = true, .avx512dq = true, .avx512bf16 = true, .os_avx = true,
                      .os_avx512 = true };
    nn_cpu_t skx = zen4;
    skx.avx512bf16 = false;
    nn_cpu_t no_os = zen4;   /* CPU has AVX-512 but the OS does not save ZMM state */
    no_os.os_avx512 = false;
    nn_cpu_t avx2 = { .avx2 = true, .fma = true, .os_avx = true };
    nn_cpu_t avx = { .os_avx = true };
    nn_cpu_t old = { 0 };
    char note[256];

    /* auto (the default: NULL, "" and "auto" alike): the best kernel the CPU runs */
    assert_string_equal(s_choose(NULL, NULL, "Prescott", &zen4, note), "Cooperlake");
    assert_string_equal(note, "");                   /* nothing the user set is overridden */
    assert_string_equal(s_choose("", NULL, "Prescott", &skx, note), "SkylakeX");
    assert_string_equal(s_choose("AUTO", NULL, "Prescott", &no_os, note), "Haswell");
    assert_string_equal(s_choose(NULL, NULL, "Core2", &avx2, note), "Haswell");
    assert_string_equal(s_choose(NULL, NULL, "Prescott", &old, note), "keep");
    assert_string_equal(s_choose(NULL, NULL, "Cooperlake", &zen4, note), "keep");
    assert_string_equal(s_choose(NULL, NULL, "Zen", &avx2, note), "keep"); /* same AVX2 level */
    assert_string_equal(s_choose(NULL, NULL, "Zen", &zen4, note), "Cooperlake");
    /* this environment: OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU is overridden, saying so */
    assert_string_equal(s_choose(NULL, "Haswell", "Haswell", &zen4, note), "Cooperlake");
    assert_non_null(strstr(note, "OPENBLAS_CORETYPE=Haswell names a weaker kernel"));
    assert_non_null(strstr(note, "SHOPD_BLAS_CORETYPE=env"));
    assert_string_equal(s_choose("auto", "Prescott", "Prescott", &skx, note), "SkylakeX");
    /* SkylakeX and Cooperlake share their sgemm: either is kept */
    assert_string_equal(s_choose(NULL, "SkylakeX", "SkylakeX", &zen4, note), "keep");
    assert_string_equal(note, "");
    assert_string_equal(s_choose(NULL, "Cooperlake", "Cooperlake", &skx, note), "SkylakeX");
    /* an OPENBLAS_CORETYPE the CPU cannot run is replaced by a safe one */
    assert_string_equal(s_choose(NULL, "SkylakeX", "SkylakeX", &avx2, note), "Haswell");
    assert_non_null(strstr(note, "needs AVX-512"));
    assert_string_equal(s_choose(NULL, "SkylakeX", "SkylakeX", &no_os, note), "Haswell");
    assert_string_equal(s_choose(NULL, "Haswell", "Haswell", &avx, note), "Sandybridge");
    assert_string_equal(s_choose(NULL, "Haswell", "Haswell", &old, note), "Prescott");

    /* env: OPENBLAS_CORETYPE is respected, even when weaker or unsafe */
    assert_string_equal(s_choose("env", "Haswell", "Haswell", &zen4, note), "keep");
    assert_string_equal(s_choose("ENV", "Prescott", "Prescott", &zen4, note), "keep");
    assert_string_equal(s_choose("env", "SkylakeX", "SkylakeX", &avx2, note), "keep");
    /* ... and when unset, only a generic fallback is replaced */
    assert_string_equal(s_choose("env", NULL, "Prescott", &zen4, note), "Cooperlake");
    assert_string_equal(s_choose("env", "", "Core2", &skx, note), "SkylakeX");
    assert_string_equal(s_choose("env", NULL, "Haswell", &zen4, note), "keep");

    /* a kernel name: forced when the CPU runs it, whatever OPENBLAS_CORETYPE says */
    assert_string_equal(s_choose("Haswell", NULL, "Cooperlake", &zen4, note), "Haswell");
    assert_string_equal(s_choose("skylakex", "Haswell", "Haswell", &zen4, note), "SkylakeX");
    assert_string_equal(s_choose("Haswell", "Haswell", "Haswell", &zen4, note), "keep");
    assert_string_equal(s_choose("Prescott", NULL, "Cooperlake", &zen4, note), "Prescott");
    /* ... never an AVX-512 kernel without AVX-512 (CPU or OS): auto instead, with a note */
    assert_string_equal(s_choose("SkylakeX", NULL, "Haswell", &avx2, note), "keep");
    assert_non_null(strstr(note, "needs AVX-512"));
    assert_string_equal(s_choose("Cooperlake", NULL, "Prescott", &skx, note), "SkylakeX");
    assert_non_null(strstr(note, "needs AVX-512 BF16"));
    assert_string_equal(s_choose("SkylakeX", NULL, "Prescott", &no_os, note), "Haswell");
    assert_string_equal(s_choose("Haswell", NULL, "Prescott", &old, note), "keep");
    /* an unknown name: auto, with a note */
    assert_string_equal(s_choose("Pentium9", "Haswell", "Haswell", &zen4, note), "Cooperlake");
    assert_non_null(strstr(note, "not auto, env or a known"));
    /* note may be NULL */
    assert_string_equal(nn_blas_choose_coretype(NULL, "Haswell", "Haswell", &zen4, NULL, 0),
                        "Cooperlake");

    assert_true(nn_blas_policy_valid(NULL));
    assert_true(nn_blas_policy_valid("auto"));
    assert_true(nn_blas_policy_valid("env"));
    assert_true(nn_blas_policy_valid("Cooperlake"));
    assert_true(nn_blas_policy_valid("haswell"));
    assert_false(nn_blas_policy_valid("fast"));

    /* this machine: the detection runs and the name is reported */
    nn_cpu_t here;
    nn_cpu_detect(&here);
    assert_true(strlen(nn_blas_corename()) > 0);
    if (here.avx512f)
        assert_true(here.avx2);
}

/* The module's own self-test (all of the above in one call). */
static void
test_nn_selftest_passes(void **state)
{
    (void) state;
    assert_int_equal(nn_test(false), 0);
}

int
main(void)
{
    nn_blas_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_conv2d),
        cmocka_unit_test(test_gradcheck_conv2d_shifted),
        cmocka_unit_test(test_conv_paths_agree),
        cmocka_unit_test(test_gradcheck_conv2d_winograd),
        cmocka_unit_test(test_winograd_matches_direct),
        cmocka_unit_test(test_poly_matches_direct),
        cmocka_unit_test(test_gradcheck_conv2d_poly),
        cmocka_unit_test(test_depthwise_pool_paths_agree),
        cmocka_unit_test(test_gradcheck_depthwise),
        cmocka_unit_test(test_gradcheck_batchnorm),
        cmocka_unit_test(test_gradcheck_relu),
        cmocka_unit_test(test_gradcheck_maxpool),
        cmocka_unit_test(test_gradcheck_avgpool),
        cmocka_unit_test(test_gradcheck_global_avgpool),
        cmocka_unit_test(test_gradcheck_dense),
        cmocka_unit_test(test_gradcheck_dropout),
        cmocka_unit_test(test_gradcheck_residual_add),
        cmocka_unit_test(test_gradcheck_softmax_xent),
        cmocka_unit_test(test_gradcheck_softmax_xent_soft_targets),
        cmocka_unit_test(test_gradcheck_grad_reverse_two_heads),
        cmocka_unit_test(test_grad_reverse_identity_and_reversed_gradient),
        cmocka_unit_test(test_truncate_drops_second_head),
        cmocka_unit_test(test_softmax_xent_soft_function),
        cmocka_unit_test(test_soft_onehot_trains_as_labels),
        cmocka_unit_test(test_soft_targets_learned),
        cmocka_unit_test(test_small_net_learns_bars_sgd),
        cmocka_unit_test(test_small_net_learns_bars_adamw),
        cmocka_unit_test(test_training_deterministic_across_threads),
        cmocka_unit_test(test_save_load_bit_identical),
        cmocka_unit_test(test_broken_files_fail_cleanly),
        cmocka_unit_test(test_fuzz_seeds_load_and_run),
        cmocka_unit_test(test_batched_forward_matches_batch1),
        cmocka_unit_test(test_fused_relu_same_output),
        cmocka_unit_test(test_fused_add_same_output),
        cmocka_unit_test(test_builders_reject_bad_arguments),
        cmocka_unit_test(test_blas_kernel_policy_table),
        cmocka_unit_test(test_nn_selftest_passes),
        cmocka_unit_test(test_freeze_trains_the_head_on_inference_features),
    };
    return cmocka_run_group_tests_name("nn", tests, NULL, NULL);
}
