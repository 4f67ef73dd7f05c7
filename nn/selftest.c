/* nn/selftest.c: the engine's self-test: a numerical gradient check of every
 * layer type (convs also through Winograd and the stride-2 phases, the loss
 * also against soft targets, the gradient reversal in a net of two heads), a small net that must learn a small problem, save -> load with
 * bit-identical outputs, broken model files that must fail cleanly, and the
 * OpenBLAS kernel decision. tests/nn_test.c runs each part as a cmocka test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"
#include "nn/internal.h"
#include "nn/selftest.h"

/* A tiny net around the layer under test: input -> conv (so the layer's input
 * gradient is checked through the conv's weights) -> layer -> dense -> loss. */
static nn_net_t *
s_gradcheck_net(nn_ltype_t type, const nn_opts_t *opts)
{
    nn_net_t *net = nn_new(7);
    if (opts)
        nn_set_opts(net, opts);
    int x = nn_input(net, (nn_shape_t) { 2, 7, 6 });
    x = nn_conv2d(net, x, 3, 3, 3, 1, 1, 1, 1, true);
    switch (type) {
    case NN_L_INPUT:
    case NN_L_CONV:
        /* 3x3 stride 1 pad 1 (Winograd when conv_wino_min_c allows), stride 1
         * (shifted GEMMs when conv_shift_min_c allows), then strided (im2col) */
        x = nn_conv2d(net, x, 3, 3, 3, 1, 1, 1, 1, false);
        x = nn_conv2d(net, x, 4, 3, 2, 1, 1, 1, 0, true);
        x = nn_conv2d(net, x, 4, 3, 2, 2, 1, 1, 0, true);
        /* stride 2 both ways on an odd map (phases when conv_poly_min_c allows) */
        x = nn_conv2d(net, x, 3, 3, 3, 2, 2, 1, 1, true);
        break;
    case NN_L_DWCONV:
        /* stride 1 (padded-plane path), then strided (direct loops) */
        x = nn_depthwise(net, x, 3, 2, 1, 1, 1, 1, false);
        x = nn_depthwise(net, x, 3, 3, 2, 1, 1, 1, true);
        break;
    case NN_L_BN:
        x = nn_batchnorm(net, x);
        break;
    case NN_L_RELU:
        x = nn_relu(net, x);
        break;
    case NN_L_MAXPOOL:
        x = nn_maxpool(net, x, 2, 2);
        break;
    case NN_L_AVGPOOL:
        x = nn_avgpool(net, x, 3, 2);
        break;
    case NN_L_GAP:
        x = nn_global_avgpool(net, x);
        break;
    case NN_L_DENSE:
        x = nn_dense(net, x, 5);
        break;
    case NN_L_DROPOUT:
        x = nn_dropout(net, x, 0.3f);
        break;
    case NN_L_ADD: {
        int y = nn_pointwise(net, x, 3, false);
        x = nn_add(net, x, y);
        break;
    }
    case NN_L_SOFTMAX_XENT:
    default:
        break;
    }
    x = nn_dense(net, x, 3);
    x = nn_softmax_xent(net, x);
    if (x < 0) {
        fprintf(stderr, "gradcheck net: %s\n", nn_error(net));
        nn_destroy(&net);
    }
    return net;
}

/* Mean loss of the shard with the same dropout mask every time. */
static double
s_loss(nn_net_t *net, nn_shard_t *s, uint64_t rng)
{
    s->rng = rng;
    nn_shard_forward_train(net, s);
    return s->loss / s->b;
}

/* The gradient check against hard labels or (soft) against random target
 * distributions, one entry of them zero. */
static double
s_gradcheck(nn_ltype_t type, const nn_opts_t *opts, bool soft, bool verbose)
{
    nn_net_t *net = s_gradcheck_net(type, opts);
    if (!net)
        return -1;
    enum { B = 4 };
    nn_shard_t s;
    memset(&s, 0, sizeof s);
    if (nn_shard_reserve(net, &s, B) < 0) {
        nn_destroy(&net);
        return -1;
    }
    s.net = net;
    s.b = B;
    int32_t labels[B] = { 0, 2, 1, 2 };
    float targets[B * 3];
    uint64_t trng = 17;
    for (int q = 0; q < B; q++) {
        float *t = targets + q * 3, sum = 0.0f;
        for (int c = 0; c < 3; c++)
            sum += t[c] = q == 1 && c == 0 ? 0.0f : 0.1f + nn_rand_float(&trng);
        for (int c = 0; c < 3; c++)
            t[c] /= sum;
    }
    s.labels = soft ? NULL : labels;
    s.targets = soft ? targets : NULL;
    s.smoothing = 0.1f;
    s.grad_scale = 1.0f / B;
    uint64_t rng = 99;
    const nn_layer_t *in = &net->layers[net->input];
    for (size_t i = 0; i < B * in->osz; i++)
        s.out[net->input][i] = nn_rand_normal(&rng);
    /* BN makes its gamma/beta matter only if they are not trivially 1/0 */
    for (size_t i = 0; i < net->n_params; i++)
        if (net->params[i] == 1.0f || net->params[i] == 0.0f)
            net->params[i] += 0.3f * nn_rand_normal(&rng);
    uint64_t drop = 1234;
    s_loss(net, &s, drop);
    s.rng = drop;
    nn_shard_forward_train(net, &s);
    nn_shard_backward(net, &s);
    float *g = xmallocarray(net->n_params, sizeof(float));
    memcpy(g, s.gparams, net->n_params * sizeof(float));
    /* Central differences on up to 40 parameters of every layer. The loss is
     * computed in float32, so the numerical derivative carries a rounding
     * noise of about (loss error) / h on top of its h^2 truncation error. The
     * conv net chains five convs with no kink: its loss is smooth, and the
     * rounding of Winograd's transforms and of a GEMM kernel without FMA
     * (OpenBLAS's generic one) makes ~5e-4 of noise at h = 2e-3 against
     * gradients of ~7e-3 (the first conv's biases); h = 1e-2 cuts that noise
     * five times at a negligible truncation error. Nets with a ReLU or max
     * pool keep h = 2e-3 so that a step rarely crosses a kink. */
    double worst = 0.0;
    const float h = type == NN_L_RELU || type == NN_L_MAXPOOL ? 2e-3f : 1e-2f;
    for (int l = 0; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        size_t np = L->n_w + L->n_b;
        for (size_t t = 0; t < np && t < 40; t++) {
            size_t j = np <= 40 ? t : (size_t) (shop_splitmix64(&rng) % np);
            size_t idx = j < L->n_w ? L->w_off + j : L->b_off + (j - L->n_w);
            float keep = net->params[idx];
            net->params[idx] = keep + h;
            double lp = s_loss(net, &s, drop);
            net->params[idx] = keep - h;
            double lm = s_loss(net, &s, drop);
            net->params[idx] = keep;
            double num = (lp - lm) / (2.0 * h);
            double ana = g[idx];
            double err = fabs(num - ana) / fmax(fabs(num) + fabs(ana), 1e-2);
            if (err > worst)
                worst = err;
            if (verbose && err > 0.02)
                fprintf(stderr, "gradcheck %s: layer %d %s param %zu numeric %.6f analytic %.6f\n",
                        nn_ltype_name(type), l, nn_ltype_name(L->type), j, num, ana);
        }
    }
    if (verbose)
        fprintf(stderr, "gradcheck %-15s%s worst relative error %.2e\n", nn_ltype_name(type),
                soft ? " (soft targets)" : "", worst);
    free(g);
    nn_shard_free(net, &s);
    nn_destroy(&net);
    return worst;
}

double
nn_gradcheck(nn_ltype_t type, bool verbose)
{
    return s_gradcheck(type, NULL, false, verbose);
}

double
nn_gradcheck_opts(nn_ltype_t type, const nn_opts_t *opts, bool verbose)
{
    return s_gradcheck(type, opts, false, verbose);
}

double
nn_gradcheck_soft(bool verbose)
{
    return s_gradcheck(NN_L_SOFTMAX_XENT, NULL, true, verbose);
}

/* The second head's loss of the two-head check: softmax cross-entropy of
 * two domain logits against the labels in user (int32, one per sample;
 * -1: no loss), written independently of op_softmax.c. */
static double
s_domain_xent(const float *out, int n, int size, const int *idx, bool val, float scale,
              float *grad, void *user)
{
    (void) val;
    const int32_t *dom = user;
    double loss = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = out + (size_t) i * size;
        int d = dom[idx[i]];
        double mx = z[0], sum = 0.0;
        for (int k = 1; k < size; k++)
            mx = fmax(mx, z[k]);
        for (int k = 0; k < size; k++)
            sum += exp(z[k] - mx);
        if (d >= 0)
            loss -= z[d] - mx - log(sum);
        for (int k = 0; grad && k < size; k++)
            grad[(size_t) i * size + k] =
                d < 0 ? 0.0f : (float) ((exp(z[k] - mx) / sum - (k == d)) * scale);
    }
    return loss;
}

double
nn_gradcheck_two_heads(float lambda, bool verbose)
{
    /* input -> conv -> relu ("embedding") -> dense -> softmax_xent (the
     * output), and embedding -> grad_reverse -> dense -> relu -> dense (the
     * second head's two logits, after the output) */
    nn_net_t *net = nn_new(11);
    int x = nn_input(net, (nn_shape_t) { 2, 5, 4 });
    int emb = nn_relu(net, nn_conv2d(net, x, 3, 3, 3, 1, 1, 1, 1, true));
    int out = nn_softmax_xent(net, nn_dense(net, emb, 3));
    int grl = nn_grad_reverse(net, emb, lambda);
    int aux = nn_dense(net, nn_relu(net, nn_dense(net, grl, 4)), 2);
    if (aux < 0 || nn_set_output(net, out) < 0) {
        fprintf(stderr, "two-head gradcheck net: %s\n", nn_error(net));
        nn_destroy(&net);
        return -1;
    }
    enum { B = 4 };
    nn_shard_t s;
    memset(&s, 0, sizeof s);
    if (nn_shard_reserve(net, &s, B) < 0) {
        nn_destroy(&net);
        return -1;
    }
    int32_t labels[B] = { 0, 2, 1, 2 }, dom[B] = { 1, 0, -1, 0 };
    int idx[B] = { 0, 1, 2, 3 };
    s.net = net;
    s.b = B;
    s.labels = labels;
    s.grad_scale = 1.0f / B;
    s.aux = aux;
    s.aux_fn = s_domain_xent;
    s.aux_user = dom;
    s.sample_idx = idx;
    uint64_t rng = 5;
    for (size_t i = 0; i < B * net->layers[net->input].osz; i++)
        s.out[net->input][i] = nn_rand_normal(&rng);
    for (size_t i = 0; i < net->n_params; i++)
        if (net->params[i] == 0.0f)
            net->params[i] = 0.3f * nn_rand_normal(&rng);
    /* the analytic gradient of both losses, as nn_train computes it */
    nn_shard_forward_train(net, &s);
    s_domain_xent(s.out[aux], B, 2, idx, false, s.grad_scale, s.grad[aux], dom);
    nn_shard_backward(net, &s);
    float *g = xmallocarray(net->n_params, sizeof(float));
    memcpy(g, s.gparams, net->n_params * sizeof(float));
    /* numerically, each loss apart: a parameter below the reversal gets the
     * class loss's derivative minus lambda times the domain loss's, one
     * above it (the domain head) the domain loss's, the class head the
     * class loss's */
    double worst = 0.0;
    const float h = 2e-3f;
    for (int l = 0; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        for (size_t j = 0; j < L->n_w + L->n_b; j++) {
            size_t i = j < L->n_w ? L->w_off + j : L->b_off + (j - L->n_w);
            float keep = net->params[i];
            double lc[2], ld[2];
            for (int side = 0; side < 2; side++) {
                net->params[i] = keep + (side ? -h : h);
                nn_shard_forward_train(net, &s);
                lc[side] = s.loss / B;
                ld[side] = s_domain_xent(s.out[aux], B, 2, idx, false, 1.0f, NULL, dom) / B;
            }
            net->params[i] = keep;
            double dc = (lc[0] - lc[1]) / (2.0 * h), dd = (ld[0] - ld[1]) / (2.0 * h);
            double num = dc + (l < grl ? -(double) lambda : 1.0) * dd, ana = g[i];
            double err = fabs(num - ana) / fmax(fabs(num) + fabs(ana), 1e-2);
            if (err > worst)
                worst = err;
            if (verbose && err > 0.02)
                fprintf(stderr, "gradcheck two heads: layer %d %s param %zu numeric %.6f "
                        "analytic %.6f\n", l, nn_ltype_name(L->type), j, num, ana);
        }
    }
    if (verbose)
        fprintf(stderr, "gradcheck two heads (lambda %g) worst relative error %.2e\n",
                (double) lambda, worst);
    free(g);
    nn_shard_free(net, &s);
    nn_destroy(&net);
    return worst;
}

/* Two classes of 1 x 8 x 8 images: a horizontal or a vertical bar at a
 * random place, in noise. */
static void
s_bars(int n, uint64_t seed, float *x, int32_t *y)
{
    uint64_t rng = seed;
    for (int i = 0; i < n; i++) {
        float *im = x + (size_t) i * 64;
        for (int p = 0; p < 64; p++)
            im[p] = 0.3f * nn_rand_normal(&rng);
        int cls = (int) (nn_rand_u32(&rng) % 2), pos = (int) (nn_rand_u32(&rng) % 8);
        for (int k = 0; k < 8; k++)
            im[cls ? k * 8 + pos : pos * 8 + k] += 1.0f;
        y[i] = cls;
    }
}

/* Flips images left-right at random: the bars stay bars. */
static void
s_flip(float *x, int n, const nn_shape_t *shape, uint64_t *rng, void *user)
{
    int *calls = user;
    (*calls)++;
    for (int i = 0; i < n; i++) {
        if (nn_rand_u32(rng) & 1)
            continue;
        float *im = x + (size_t) i * shape->c * shape->h * shape->w;
        for (int r = 0; r < shape->h; r++)
            for (int c = 0; c < shape->w / 2; c++) {
                float t = im[r * shape->w + c];
                im[r * shape->w + c] = im[r * shape->w + shape->w - 1 - c];
                im[r * shape->w + shape->w - 1 - c] = t;
            }
    }
}

nn_net_t *
nn_selftest_small_net(uint64_t seed)
{
    nn_net_t *net = nn_new(seed);
    int x = nn_input(net, (nn_shape_t) { 1, 8, 8 });
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, 8, 3, 3, 1, 1, 1, 1, false)));
    int r = nn_relu(net, nn_batchnorm(net, nn_depthwise(net, x, 3, 3, 1, 1, 1, 1, false)));
    r = nn_batchnorm(net, nn_pointwise(net, r, 8, false));
    x = nn_relu(net, nn_add(net, x, r));
    x = nn_maxpool(net, x, 2, 2);
    x = nn_global_avgpool(net, x);
    nn_layer_set_name(net, x, "embedding");
    x = nn_dropout(net, x, 0.1f);
    x = nn_softmax_xent(net, nn_dense(net, x, 2));
    if (x < 0)
        nn_destroy(&net);
    return net;
}

double
nn_selftest_learn(nn_optimizer_t opt, bool verbose)
{
    enum { N = 1024, NT = 512 };
    float *x = xmallocarray(N * 64, sizeof(float)), *xt = xmallocarray(NT * 64, sizeof(float));
    int32_t *y = xmallocarray(N, sizeof(int32_t)), *yt = xmallocarray(NT, sizeof(int32_t));
    s_bars(N, 1, x, y);
    s_bars(NT, 2, xt, yt);
    nn_net_t *net = nn_selftest_small_net(3);
    double acc = -1;
    int calls = 0;
    if (net) {
        nn_data_t d = { .x = x, .y = y, .n = N, .shape = { 1, 8, 8 }, .augment = s_flip,
                        .augment_user = &calls };
        nn_data_t t = { .x = xt, .y = yt, .n = NT, .shape = { 1, 8, 8 } };
        nn_train_opts_t o;
        nn_train_opts_default(&o);
        o.epochs = 6;
        o.batch = 32;
        o.optimizer = opt;
        o.lr = opt == NN_ADAMW ? 0.01f : 0.05f;
        o.schedule = opt == NN_ADAMW ? NN_SCHED_ONECYCLE : NN_SCHED_COSINE;
        o.label_smoothing = 0.05f;
        o.val_split = 0.1f;
        o.verbose = verbose;
        char err[256];
        nn_history_t h;
        if (nn_train(net, &d, &o, &h, err, sizeof err) == 0) {
            acc = nn_evaluate(net, &t, NULL);
            if (calls == 0)
                acc = -2;   /* the augmentation callback must have run */
            nn_history_free(&h);
        } else if (verbose) {
            fprintf(stderr, "learn: %s\n", err);
        }
    }
    nn_destroy(&net);
    free(x);
    free(xt);
    free(y);
    free(yt);
    return acc;
}

int
nn_selftest_roundtrip(bool verbose)
{
    nn_net_t *net = nn_selftest_small_net(5);
    if (!net)
        return -1;
    int rc = -1;
    nn_net_t *back = NULL;
    void *buf = NULL;
    const char *labels[] = { "horizontal", "vertical" };
    nn_set_labels(net, labels, 2);
    nn_meta_set(net, "arch", "selftest-bars");
    nn_meta_set(net, "image_size", "8");
    /* give the BN statistics non-trivial values so folding is exercised */
    uint64_t rng = 11;
    for (size_t i = 0; i < net->n_state; i++)
        net->state[i] = 0.5f + nn_rand_float(&rng);
    nn_invalidate(net);
    float x[3 * 64], a[3 * 2], b[3 * 2];
    for (int i = 0; i < 3 * 64; i++)
        x[i] = nn_rand_normal(&rng);
    size_t len;
    char err[256];
    buf = nn_save_mem(net, &len, err, sizeof err);
    if (!buf || nn_forward(net, x, 3, a) < 0)
        goto out;
    back = nn_load_mem(buf, len, err, sizeof err);
    if (!back) {
        if (verbose)
            fprintf(stderr, "roundtrip: %s\n", err);
        goto out;
    }
    if (nn_forward(back, x, 3, b) < 0 || memcmp(a, b, sizeof a) != 0)
        goto out;
    if (nn_num_labels(back) != 2 || strcmp(nn_label(back, 1), "vertical") != 0
        || !nn_meta_get(back, "arch") || strcmp(nn_meta_get(back, "arch"), "selftest-bars") != 0
        || nn_find_layer(back, "embedding") != nn_find_layer(net, "embedding")
        || nn_num_params(back) != nn_num_params(net))
        goto out;
    rc = 0;
out:
    free(buf);
    nn_destroy(&back);
    nn_destroy(&net);
    return rc;
}

/* Re-stamps the checksum so a mutation reaches the parser behind it. */
void
nn_selftest_fix_crc(uint8_t *buf, size_t len)
{
    if (len < 32)
        return;
    uint32_t c = (uint32_t) crc32_z(0, buf + 32, len - 32);
    buf[24] = (uint8_t) c;
    buf[25] = (uint8_t) (c >> 8);
    buf[26] = (uint8_t) (c >> 16);
    buf[27] = (uint8_t) (c >> 24);
}

int
nn_selftest_broken(bool verbose)
{
    nn_net_t *net = nn_selftest_small_net(5);
    if (!net)
        return -1;
    size_t len;
    char err[256];
    uint8_t *good = nn_save_mem(net, &len, err, sizeof err);
    size_t n_params = net->n_params, n_state = net->n_state;
    nn_destroy(&net);
    if (!good)
        return -1;
    int failures = 0;
    uint8_t *buf = xmalloc(len);
    /* every truncation, checksum fixed or not */
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(buf, good, cut);
        nn_net_t *n1 = nn_load_mem(buf, cut, err, sizeof err);
        bool bad1 = n1 || !err[0];
        nn_destroy(&n1);
        if (cut >= 32) {
            uint64_t body = cut - 32;
            for (int i = 0; i < 8; i++)
                buf[16 + i] = (uint8_t) (body >> (8 * i));
            nn_selftest_fix_crc(buf, cut);
            nn_net_t *n2 = nn_load_mem(buf, cut, err, sizeof err);
            bad1 = bad1 || n2 || !err[0];
            nn_destroy(&n2);
        }
        if (bad1) {
            failures++;
            if (verbose)
                fprintf(stderr, "broken: truncation at %zu accepted\n", cut);
        }
    }
    /* every flipped byte is caught by the checksum */
    for (size_t i = 0; i < len; i++) {
        memcpy(buf, good, len);
        buf[i] ^= 0x5a;
        nn_net_t *n1 = nn_load_mem(buf, len, err, sizeof err);
        if (n1 || !err[0]) {
            failures++;
            if (verbose)
                fprintf(stderr, "broken: flipped byte %zu accepted\n", i);
        }
        nn_destroy(&n1);
    }
    /* flipped bytes behind a valid checksum: must fail cleanly or load a
     * net that runs (e.g. a changed weight is still a valid model) */
    uint64_t rng = 5;
    float x[64] = { 0 }, out[NN_MAX_DIM];
    for (int i = 0; i < 2000; i++) {
        memcpy(buf, good, len);
        size_t at = 32 + (size_t) (shop_splitmix64(&rng) % (len - 32));
        buf[at] = (uint8_t) nn_rand_u32(&rng);
        nn_selftest_fix_crc(buf, len);
        nn_net_t *n1 = nn_load_mem(buf, len, err, sizeof err);
        if (n1) {
            nn_shape_t in = nn_input_shape(n1);
            if ((size_t) in.c * in.h * in.w <= 64 && nn_output_size(n1) <= NN_MAX_DIM)
                nn_forward(n1, x, 1, out);
        } else if (!err[0]) {
            failures++;
        }
        nn_destroy(&n1);
    }
    /* huge counts behind a valid checksum: the layer count (after the empty
     * metadata and label counts) and the parameter count */
    size_t at_params = len - 8 - n_state * 4 - n_params * 4 - 8;
    const size_t fields[] = { 32, 36, 40, at_params, at_params + 4 };
    for (size_t f = 0; f < SHOP_ARRAY_LEN(fields); f++) {
        memcpy(buf, good, len);
        memset(buf + fields[f], 0xff, 4);
        nn_selftest_fix_crc(buf, len);
        nn_net_t *n1 = nn_load_mem(buf, len, err, sizeof err);
        if (n1 || !err[0]) {
            failures++;
            if (verbose)
                fprintf(stderr, "broken: huge count at %zu accepted\n", fields[f]);
        } else if (verbose) {
            fprintf(stderr, "broken: huge count at %zu: %s\n", fields[f], err);
        }
        nn_destroy(&n1);
    }
    free(buf);
    free(good);
    return failures ? -1 : 0;
}

int
nn_test(bool verbose)
{
    int fails = 0;
    for (int t = NN_L_CONV; t < NN_L_COUNT; t++) {
        /* gradient reversal: a net of two heads, checked below */
        double e = t == NN_L_GRAD_REVERSE ? nn_gradcheck_two_heads(0.7f, verbose)
                                          : nn_gradcheck((nn_ltype_t) t, verbose);
        if (e < 0 || e > NN_GRADCHECK_TOL) {
            fails++;
            fprintf(stderr, "nn_test: gradient check of %s failed (%.3g)\n", nn_ltype_name(t), e);
        }
    }
    double e = nn_gradcheck_soft(verbose);
    if (e < 0 || e > NN_GRADCHECK_TOL) {
        fails++;
        fprintf(stderr, "nn_test: gradient check with soft targets failed (%.3g)\n", e);
    }
    /* the convs again through Winograd and through the stride-2 phase path
     * (forward, input and weight gradients) */
    static const char *const what[2] = { "Winograd", "the stride-2 phases" };
    for (int k = 0; k < 2; k++) {
        nn_opts_t o;
        nn_opts_default(&o);
        if (k == 0)
            o.conv_wino_min_c = 1;
        else
            o.conv_poly_min_c = 1;
        e = nn_gradcheck_opts(NN_L_CONV, &o, verbose);
        if (e < 0 || e > NN_GRADCHECK_TOL) {
            fails++;
            fprintf(stderr, "nn_test: gradient check through %s failed (%.3g)\n", what[k], e);
        }
    }
    double acc = nn_selftest_learn(NN_SGD, verbose);
    if (acc < NN_LEARN_MIN_ACC) {
        fails++;
        fprintf(stderr, "nn_test: small net reached only %.3f accuracy\n", acc);
    }
    if (nn_selftest_roundtrip(verbose) < 0) {
        fails++;
        fprintf(stderr, "nn_test: save -> load roundtrip failed\n");
    }
    if (nn_selftest_broken(verbose) < 0) {
        fails++;
        fprintf(stderr, "nn_test: a broken model file was not refused cleanly\n");
    }
    return fails ? -1 : 0;
}
