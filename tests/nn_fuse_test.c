/* tests/nn_fuse_test.c: nn_fuse_experts, one net from several classifiers
 * (a product of experts). Its output must be softmax(sum_i w_i z_i), where
 * z_i are the logits each member computes on its own affinely normalised
 * input: the reference runs every member net on its own and sums in double
 * here. Members that cannot be fused are refused with a message naming the
 * member and the reason. nn_add_outputs (a head grown by copied units) is
 * checked against the softmax of the original's logits, likewise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/internal.h"
#include "nn/nn.h"
#include "nn/ops.h"

#define H 12
#define W 10
#define K 5

static const char *const s_labels[K] = { "a", "b", "c", "d", "e" };

/* Untrained parameters and batch-norm statistics made non-trivial, so that
 * every copied value matters. */
static void
s_perturb(nn_net_t *net, uint64_t seed)
{
    for (size_t i = 0; i < net->n_params; i++)
        net->params[i] += 0.3f * nn_rand_normal(&seed);
    for (int l = 0; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        int C = L->is.c;
        for (int c = 0; L->type == NN_L_BN && c < C; c++) {
            net->state[L->s_off + (size_t) c] = 0.5f * nn_rand_normal(&seed);
            net->state[L->s_off + (size_t) (C + c)] = 0.5f + nn_rand_float(&seed);
        }
    }
}

/* Member A: padded convs (the input affine must come before the padding),
 * BN, depthwise stride 2, dropout, a dense head. *logits: its dense layer. */
static nn_net_t *
s_member_a(int *logits)
{
    nn_net_t *net = nn_new(3);
    int x = nn_input(net, (nn_shape_t) { 1, H, W });
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, 4, 3, 3, 1, 1, 1, 1, false)));
    x = nn_relu(net, nn_batchnorm(net, nn_depthwise(net, x, 3, 3, 2, 2, 1, 1, false)));
    nn_layer_set_name(net, x, "embedding");
    x = nn_dropout(net, x, 0.1f);
    *logits = nn_dense(net, x, K);
    nn_softmax_xent(net, *logits);
    nn_set_labels(net, s_labels, K);
    s_perturb(net, 11);
    return net;
}

/* Member B: another shape of net on the same input: pooling first, a conv
 * with bias, a residual add, global pooling. */
static nn_net_t *
s_member_b(int *logits)
{
    nn_net_t *net = nn_new(4);
    int x = nn_input(net, (nn_shape_t) { 1, H, W });
    x = nn_avgpool(net, x, 2, 2);
    int c = nn_relu(net, nn_conv2d(net, x, 6, 3, 3, 1, 1, 1, 1, true));
    int d = nn_batchnorm(net, nn_conv2d(net, c, 6, 3, 3, 1, 1, 1, 1, false));
    x = nn_global_avgpool(net, nn_relu(net, nn_add(net, c, d)));
    nn_layer_set_name(net, x, "embedding");
    *logits = nn_dense(net, x, K);
    nn_softmax_xent(net, *logits);
    nn_set_labels(net, s_labels, K);
    s_perturb(net, 12);
    return net;
}

static void
s_input(float *x, int n, uint64_t seed)
{
    for (int i = 0; i < n * H * W; i++)
        x[i] = 3.f * nn_rand_normal(&seed) - 4.f;
}

/* The logits of member m (its layer `logits`) on a * x + b. */
static void
s_member_logits(nn_net_t *m, int logits, const float *x, int n, float a, float b, double *z)
{
    float *xa = malloc((size_t) n * H * W * sizeof *xa), p[8 * K];
    for (int i = 0; i < n * H * W; i++)
        xa[i] = a * x[i] + b;
    assert_int_equal(nn_forward(m, xa, n, p), 0);
    const float *zl = nn_layer_output(m, logits, NULL);
    assert_non_null(zl);
    for (int i = 0; i < n * K; i++)
        z[i] = zl[i];
    free(xa);
}

/* softmax(sum_i w_i z_i) in double, row by row */
static void
s_softmax(const double *z, int n, double *p)
{
    for (int r = 0; r < n; r++) {
        double mx = z[r * K], s = 0;
        for (int k = 1; k < K; k++)
            mx = fmax(mx, z[r * K + k]);
        for (int k = 0; k < K; k++)
            s += exp(z[r * K + k] - mx);
        for (int k = 0; k < K; k++)
            p[r * K + k] = exp(z[r * K + k] - mx) / s;
    }
}

static void
s_expect_close(const float *got, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > tol)
            fail_msg("output %d: %.8g, the reference %.8g", i, (double) got[i], want[i]);
}

static void
test_output_is_softmax_of_weighted_logits(void **state)
{
    (void) state;
    int la, lb;
    nn_net_t *a = s_member_a(&la), *b = s_member_b(&lb);
    nn_net_t *m[2] = { a, b };
    const float w[2] = { 0.7f, 0.4f }, scale[2] = { 0.5f, 2.f }, shift[2] = { -1.f, 0.3f };
    char err[256];
    nn_net_t *f = nn_fuse_experts(m, 2, w, scale, shift, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    /* both members' layers, two input affines, the add, the softmax */
    assert_int_equal(nn_num_layers(f), 1 + 2 + nn_num_layers(a) - 2 + nn_num_layers(b) - 2 + 1 + 1);
    assert_int_equal(nn_num_params(f), nn_num_params(a) + nn_num_params(b) + 2 * 2);
    assert_true(nn_find_layer(f, "e0.embedding") >= 0);
    assert_true(nn_find_layer(f, "e1.embedding") >= 0);
    assert_int_equal(nn_num_labels(f), K);
    assert_string_equal(nn_label(f, 3), "d");
    int n = 4;
    float x[4 * H * W], got[4 * K], got1[K];
    double za[4 * K], zb[4 * K], z[4 * K], want[4 * K];
    s_input(x, n, 99);
    s_member_logits(a, la, x, n, scale[0], shift[0], za);
    s_member_logits(b, lb, x, n, scale[1], shift[1], zb);
    for (int i = 0; i < n * K; i++)
        z[i] = w[0] * za[i] + w[1] * zb[i];
    s_softmax(z, n, want);
    assert_int_equal(nn_forward(f, x, n, got), 0);
    s_expect_close(got, want, n * K, 2e-6);
    /* each branch's input: a x + b (the batchnorm's divisor sqrt(1 - eps + eps) is 1) */
    assert_true((1.f - BN_EPS) + BN_EPS == 1.f);
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "e%d.input", i);
        const float *xi = nn_layer_output(f, nn_find_layer(f, name), NULL);
        assert_non_null(xi);
        for (int k = 0; k < n * H * W; k++) {
            float ax = scale[i] * x[k] + shift[i];
            assert_true(fabsf(xi[k] - ax) <= 1e-6f * (1.f + fabsf(ax)));
        }
    }
    /* the summed logits themselves */
    const float *zf = nn_layer_output(f, nn_find_layer(f, "logits"), NULL);
    for (int i = 0; i < n * K; i++)
        assert_true(fabs(zf[i] - z[i]) <= 1e-5 * (1 + fabs(z[i])));
    /* one sample at a time gives the same */
    for (int r = 0; r < n; r++) {
        assert_int_equal(nn_forward(f, x + r * H * W, 1, got1), 0);
        s_expect_close(got1, want + r * K, K, 2e-6);
    }
    /* an ordinary model file: saved and loaded, the same outputs bit for bit */
    size_t len;
    void *mem = nn_save_mem(f, &len, err, sizeof err);
    assert_non_null(mem);
    nn_net_t *g = nn_load_mem(mem, len, err, sizeof err);
    free(mem);
    if (!g)
        fail_msg("%s", err);
    float again[4 * K];
    assert_int_equal(nn_forward(g, x, n, again), 0);
    assert_memory_equal(again, got, sizeof again);
    /* the members are unchanged: their own outputs still match the reference logits */
    double za2[4 * K];
    s_member_logits(a, la, x, n, scale[0], shift[0], za2);
    assert_memory_equal(za2, za, sizeof za);
    nn_destroy(&g);
    nn_destroy(&f);
    nn_destroy(&a);
    nn_destroy(&b);
}

/* A fused net fuses again (its logits are a sum of dense layers), without
 * affines (scale and shift NULL) and with one member only. */
static void
test_fused_nets_fuse_again(void **state)
{
    (void) state;
    int la, lb;
    nn_net_t *a = s_member_a(&la), *b = s_member_b(&lb);
    nn_net_t *m[2] = { a, b };
    const float w[2] = { 0.5f, 0.25f };
    char err[256];
    nn_net_t *f = nn_fuse_experts(m, 2, w, NULL, NULL, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    /* no affine layer when there is none to apply */
    assert_int_equal(nn_find_layer(f, "e0.input"), -1);
    nn_net_t *m2[2] = { f, a };
    const float w2[2] = { 2.f, 3.f }, sc[2] = { 1.f, -0.5f }, sh[2] = { 0.f, 1.5f };
    nn_net_t *g = nn_fuse_experts(m2, 2, w2, sc, sh, err, sizeof err);
    if (!g)
        fail_msg("%s", err);
    assert_int_equal(nn_find_layer(g, "e0.input"), -1);   /* scale 1, shift 0 */
    assert_true(nn_find_layer(g, "e1.input") >= 0);
    assert_true(nn_find_layer(g, "e0.e1.embedding") >= 0);
    int n = 3;
    float x[3 * H * W], got[3 * K];
    double za[3 * K], zb[3 * K], za2[3 * K], z[3 * K], want[3 * K];
    s_input(x, n, 7);
    s_member_logits(a, la, x, n, 1.f, 0.f, za);
    s_member_logits(b, lb, x, n, 1.f, 0.f, zb);
    s_member_logits(a, la, x, n, sc[1], sh[1], za2);
    for (int i = 0; i < n * K; i++)
        z[i] = w2[0] * (w[0] * za[i] + w[1] * zb[i]) + w2[1] * za2[i];
    s_softmax(z, n, want);
    assert_int_equal(nn_forward(g, x, n, got), 0);
    s_expect_close(got, want, n * K, 2e-6);
    /* one member: its own posteriors (softmax of 1 * z) */
    nn_net_t *one = nn_fuse_experts(&a, 1, (const float[]) { 1.f }, NULL, NULL, err, sizeof err);
    if (!one)
        fail_msg("%s", err);
    float p[3 * K];
    assert_int_equal(nn_forward(one, x, n, got), 0);
    assert_int_equal(nn_forward(a, x, n, p), 0);
    for (int i = 0; i < n * K; i++)
        assert_true(fabsf(got[i] - p[i]) <= 1e-6f);
    nn_destroy(&one);
    nn_destroy(&g);
    nn_destroy(&f);
    nn_destroy(&a);
    nn_destroy(&b);
}

static void
s_refused(nn_net_t *x, nn_net_t *y, const float *w, const char *want)
{
    nn_net_t *m[2] = { x, y };
    char err[256] = "";
    nn_net_t *f = nn_fuse_experts(m, 2, w, NULL, NULL, err, sizeof err);
    assert_null(f);
    if (!strstr(err, want))
        fail_msg("message \"%s\" does not say \"%s\"", err, want);
}

static void
test_refuses_what_cannot_be_fused(void **state)
{
    (void) state;
    int la, lb;
    nn_net_t *a = s_member_a(&la), *b = s_member_b(&lb);
    const float w[2] = { 0.5f, 0.5f };
    /* other labels */
    nn_net_t *c = s_member_b(&lb);
    const char *other[K] = { "a", "b", "x", "d", "e" };
    nn_set_labels(c, other, K);
    s_refused(a, c, w, "member 1: label 2 is \"x\", member 0's \"c\"");
    /* another input shape */
    nn_net_t *d = nn_new(5);
    int x = nn_input(d, (nn_shape_t) { 1, H, W + 1 });
    nn_softmax_xent(d, nn_dense(d, nn_global_avgpool(d, x), K));
    nn_set_labels(d, s_labels, K);
    s_refused(a, d, w, "member 1: input 1x12x11, member 0's 1x12x10");
    /* another number of outputs */
    nn_net_t *e = nn_new(6);
    x = nn_input(e, (nn_shape_t) { 1, H, W });
    nn_softmax_xent(e, nn_dense(e, nn_global_avgpool(e, x), K + 1));
    s_refused(a, e, w, "member 1: 6 outputs, member 0 5");
    /* a softmax that does not read a dense layer */
    nn_net_t *g = nn_new(7);
    x = nn_input(g, (nn_shape_t) { 1, H, W });
    nn_softmax_xent(g, nn_global_avgpool(g, nn_conv2d(g, x, K, 3, 3, 1, 1, 1, 1, true)));
    nn_set_labels(g, s_labels, K);
    s_refused(a, g, w, "member 1: its softmax reads global_avgpool, not a dense layer");
    /* logits read by another layer too */
    nn_net_t *h = nn_new(8);
    x = nn_input(h, (nn_shape_t) { 1, H, W });
    int z = nn_dense(h, nn_global_avgpool(h, x), K);
    nn_relu(h, z);
    nn_softmax_xent(h, z);
    nn_set_labels(h, s_labels, K);
    s_refused(h, a, w, "member 0: its softmax reads dense, not a dense layer");
    /* no softmax at the output */
    nn_net_t *o = nn_new(9);
    x = nn_input(o, (nn_shape_t) { 1, H, W });
    nn_dense(o, nn_global_avgpool(o, x), K);
    s_refused(a, o, w, "member 1: its output layer is dense, not softmax_xent");
    /* weights must be positive and finite, scales non-zero */
    s_refused(a, b, (const float[]) { 0.5f, 0.f }, "member 1: weight 0");
    s_refused(a, b, (const float[]) { NAN, 0.5f }, "member 0: weight nan");
    nn_net_t *m[2] = { a, b };
    char err[256];
    assert_null(nn_fuse_experts(m, 2, w, (const float[]) { 1.f, 0.f }, NULL, err, sizeof err));
    assert_non_null(strstr(err, "member 1"));
    assert_null(nn_fuse_experts(m, 0, w, NULL, NULL, err, sizeof err));
    assert_null(nn_fuse_experts(NULL, 2, w, NULL, NULL, err, sizeof err));
    nn_destroy(&o);
    nn_destroy(&h);
    nn_destroy(&g);
    nn_destroy(&e);
    nn_destroy(&d);
    nn_destroy(&c);
    nn_destroy(&a);
    nn_destroy(&b);
}

/* nn_add_outputs: the copy's output is the softmax of m's logits with
 * the copied units appended and every shift added, computed here in double
 * from m's own logits; names, labels and metadata are kept; what has no
 * dense head, or a unit out of range, is refused. */
static void
test_add_outputs_appends_copied_units(void **state)
{
    (void) state;
    int la;
    nn_net_t *a = s_member_a(&la);
    nn_meta_set(a, "kws.mean", "-5");
    const int from[2] = { 1, 3 };
    const float shift[K + 2] = { 0, -0.6931472f, 0, 0.5f, 0, -0.6931472f, -0.7f };
    const char *labels[2] = { "b2", "d2" };
    char err[256];
    nn_net_t *w = nn_add_outputs(a, 2, from, shift, labels, err, sizeof err);
    if (!w)
        fail_msg("%s", err);
    assert_int_equal(nn_output_size(w), K + 2);
    assert_int_equal(nn_num_labels(w), K + 2);
    assert_string_equal(nn_label(w, 2), "c");
    assert_string_equal(nn_label(w, K + 1), "d2");
    assert_string_equal(nn_meta_get(w, "kws.mean"), "-5");
    assert_int_equal(nn_find_layer(w, "embedding"), nn_find_layer(a, "embedding"));
    enum { N = 4 };
    float x[N * H * W], p[N * (K + 2)];
    uint64_t rng = 5;
    for (int i = 0; i < N * H * W; i++)
        x[i] = nn_rand_normal(&rng);
    assert_int_equal(nn_forward(a, x, N, NULL), 0);
    float z[N * K];
    memcpy(z, nn_layer_output(a, la, NULL), sizeof z);
    assert_int_equal(nn_forward(w, x, N, p), 0);
    for (int i = 0; i < N; i++) {
        double e[K + 2], sum = 0;
        for (int u = 0; u < K; u++)
            e[u] = (double) z[i * K + u] + shift[u];
        e[K] = (double) z[i * K + 1] + shift[K];
        e[K + 1] = (double) z[i * K + 3] + shift[K + 1];
        for (int u = 0; u < K + 2; u++)
            sum += exp(e[u]);
        for (int u = 0; u < K + 2; u++)
            assert_true(fabs(p[i * (K + 2) + u] - exp(e[u]) / sum) < 1e-6);
    }
    /* refused: no labels for the new units of a labelled net, a unit out
     * of range, a softmax reading no dense layer */
    assert_null(nn_add_outputs(a, 2, from, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "cannot add 2 outputs to 5"));
    assert_null(nn_add_outputs(a, 1, (const int[]) { K }, NULL, labels, err, sizeof err));
    assert_non_null(strstr(err, "output 5: copies unit 5 of 5"));
    nn_net_t *g = nn_new(7);
    int y = nn_input(g, (nn_shape_t) { 1, H, W });
    nn_softmax_xent(g, nn_global_avgpool(g, nn_conv2d(g, y, K, 3, 3, 1, 1, 1, 1, true)));
    assert_null(nn_add_outputs(g, 1, from, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "not a softmax_xent reading a dense layer"));
    nn_destroy(&g);
    nn_destroy(&w);
    nn_destroy(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_is_softmax_of_weighted_logits),
        cmocka_unit_test(test_fused_nets_fuse_again),
        cmocka_unit_test(test_refuses_what_cannot_be_fused),
        cmocka_unit_test(test_add_outputs_appends_copied_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
