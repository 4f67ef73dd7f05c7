/* nn/op_conv.c: the conv2d layer: its shape (shared with depthwise), the
 * choice of algorithm per layer, and the dispatch of its forward, backward
 * and inference to that algorithm (nn/conv.h, nn/wino.h). The choice is
 * made when the layer is built, also when a model is loaded, so the path and
 * the weights prepared for it at planning time never change under it. */
#include <stdlib.h>

#include "common/util.h"
#include "nn/conv.h"
#include "nn/ops.h"

int
nn_conv_shape(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1)
{
    (void) rate;
    (void) in1;
    const char *tn = nn_ops[L->type]->name;
    nn_shape_t is = L->is;
    int *a = L->args;
    for (int i = 0; i < NN_NARGS; i++)
        a[i] = args[i];
    if (L->type == NN_L_DWCONV)
        a[NN_A_OUTC] = is.c;
    if (!nn_dim_ok(a[NN_A_OUTC]) || !nn_dim_ok(a[NN_A_KH]) || !nn_dim_ok(a[NN_A_KW])
        || !nn_dim_ok(a[NN_A_SH]) || !nn_dim_ok(a[NN_A_SW]))
        return nn_fail(net, "%s: channels, kernel and stride must be 1..%d", tn, NN_MAX_DIM);
    if (a[NN_A_PH] < 0 || a[NN_A_PW] < 0 || a[NN_A_PH] >= a[NN_A_KH] || a[NN_A_PW] >= a[NN_A_KW])
        return nn_fail(net, "%s: padding must be 0..kernel-1", tn);
    if (a[NN_A_BIAS] != 0 && a[NN_A_BIAS] != 1)
        return nn_fail(net, "%s: bias flag must be 0 or 1", tn);
    long hp = (long) is.h + 2L * a[NN_A_PH], wp = (long) is.w + 2L * a[NN_A_PW];
    if (hp < a[NN_A_KH] || wp < a[NN_A_KW])
        return nn_fail(net, "%s: kernel %dx%d larger than the padded input %ldx%ld", tn,
                       a[NN_A_KH], a[NN_A_KW], hp, wp);
    L->os.c = a[NN_A_OUTC];
    L->os.h = (int) ((hp - a[NN_A_KH]) / a[NN_A_SH] + 1);
    L->os.w = (int) ((wp - a[NN_A_KW]) / a[NN_A_SW] + 1);
    long k = (long) a[NN_A_KH] * a[NN_A_KW] * (L->type == NN_L_CONV ? is.c : 1);
    if (L->type == NN_L_CONV && k * L->os.h * L->os.w > NN_MAX_TOTAL_SAMPLE)
        return nn_fail(net, "%s: im2col matrix too large", tn);
    L->n_w = (size_t) (k * a[NN_A_OUTC]);
    L->n_b = a[NN_A_BIAS] ? (size_t) a[NN_A_OUTC] : 0;
    return 0;
}

/* Winograd F(4x4, 3x3) for 3x3 stride-1 pad-1 convs with at least min_c
 * input and output channels. */
static bool
s_wino_fits(const nn_layer_t *L, int min_c)
{
    const int *a = L->args;
    return a[NN_A_KH] == 3 && a[NN_A_KW] == 3 && a[NN_A_SH] == 1 && a[NN_A_SW] == 1
           && a[NN_A_PH] == 1 && a[NN_A_PW] == 1 && L->is.c >= min_c && L->os.c >= min_c
           /* the transformed weights are 4x the layer's: past 2^19 channel
            * pairs (72 MB of them) a loaded file could ask for gigabytes */
           && (size_t) L->is.c * (size_t) L->os.c <= ((size_t) 1 << 19);
}

static void
s_conv_choose(const nn_net_t *net, nn_layer_t *L)
{
    const nn_opts_t *o = &net->opts;
    if (s_wino_fits(L, o->conv_wino_min_c))
        L->algo = NN_ALGO_WINO;
    else if (nn_phase_fits(L, o->conv_poly_min_c))
        L->algo = NN_ALGO_PHASE;
    else if (nn_shift_fits(L, o->conv_shift_min_c))
        L->algo = NN_ALGO_SHIFT;
    else
        L->algo = NN_ALGO_GEMM;
}

/* Forward of a conv layer on s->b images by its algorithm; relu (inference
 * only) applies a ReLU to the output as it is written; s->res (inference
 * only, may be NULL) is added before it. */
static void
s_conv_run(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y, const float *w,
           const float *bias, bool relu)
{
    switch (L->algo) {
    case NN_ALGO_WINO: {
        /* inference: weights transformed at planning time; training: now */
        const float *u = s->wt_pre;
        if (!u) {
            nn_reserve(&s->wu, &s->wu_cap, nn_wino_weights_size(L->is.c, L->os.c));
            nn_wino_weights(w, L->os.c, L->is.c, false, s->wu);
            u = s->wu;
        }
        nn_wino_conv(s->b, L->is.c, L->os.c, L->is.h, L->is.w, x, u, bias, s->res, relu, false,
                     y, &s->wino);
        break;
    }
    case NN_ALGO_PHASE:
        nn_phase_forward(L, s, x, y, w, bias, relu);
        break;
    case NN_ALGO_SHIFT:
        nn_shift_forward(L, s, x, y, w, bias, relu);
        break;
    default:
        nn_gemm_conv_forward(L, s, x, y, w, bias, relu);
        break;
    }
}

static void
s_conv_forward(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    s_conv_run(L, s, s->out[L->in[0]], s->out[l], net->params + L->w_off,
               L->n_b ? net->params + L->b_off : NULL, false);
}

static void
s_wino_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy, float *dx,
                bool acc, const float *w, float *dw, float *db)
{
    int b = s->b, C = L->is.c, K = L->os.c, H = L->os.h, W = L->os.w;
    nn_wino_weight_grad(b, C, K, H, W, x, dy, dw, &s->wino);
    if (db)
        for (int n = 0; n < b; n++)
            nn_row_sums_add(dy + (size_t) n * L->osz, K, H * W, db);
    if (dx) {
        /* the input gradient is the same conv of dy with the kernel flipped
         * and its channels swapped */
        nn_reserve(&s->wu, &s->wu_cap, nn_wino_weights_size(K, C));
        nn_wino_weights(w, K, C, true, s->wu);
        nn_wino_conv(b, K, C, H, W, dy, s->wu, NULL, NULL, false, acc, dx, &s->wino);
    }
}

static void
s_conv_backward(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    const nn_layer_t *L = &net->layers[l];
    const float *x = s->out[L->in[0]], *dy = s->grad[l], *w = net->params + L->w_off;
    float *dw = s->gparams + L->w_off, *db = L->n_b ? s->gparams + L->b_off : NULL;
    switch (L->algo) {
    case NN_ALGO_WINO:
        s_wino_backward(L, s, x, dy, dx, acc, w, dw, db);
        break;
    case NN_ALGO_PHASE:
        nn_phase_backward(L, s, x, dy, dx, acc, w, dw, db);
        break;
    case NN_ALGO_SHIFT:
        nn_shift_backward(L, s, x, dy, dx, acc, w, dw, db);
        break;
    default:
        nn_gemm_conv_backward(L, s, x, dy, dx, acc, w, dw, db);
        break;
    }
}

static void
s_conv_infer(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    s->wt_pre = net->iwt[l];
    s->wt_tap = (size_t) L->os.c * L->is.c;
    s->res = net->ires[l] >= 0 ? s->out[net->ires[l]] : NULL;
    s_conv_run(L, s, s->out[L->in[0]], s->out[l], net->iparams + L->w_off, nn_plan_bias(net, l),
               net->relu_fused[l]);
    s->wt_pre = NULL;
    s->res = NULL;
}

/* The folded weights in the algorithm's layout, once, not at every call
 * (shifted GEMMs, 64x64 at 14x14, batch 1: 12-17 us of 125). */
static void
s_conv_prepare(nn_net_t *net, int l)
{
    const nn_layer_t *L = &net->layers[l];
    const float *w = net->iparams + L->w_off;
    size_t n = L->algo == NN_ALGO_WINO    ? nn_wino_weights_size(L->is.c, L->os.c)
               : L->algo == NN_ALGO_PHASE ? L->n_w
               : L->algo == NN_ALGO_SHIFT ? nn_shift_weights_size(L)
                                          : 0;
    if (!n)
        return;
    if (!net->iwt[l])
        net->iwt[l] = xmallocarray(n, sizeof(float));
    if (L->algo == NN_ALGO_WINO)
        nn_wino_weights(w, L->os.c, L->is.c, false, net->iwt[l]);
    else if (L->algo == NN_ALGO_PHASE)
        nn_phase_weights(L, w, net->iwt[l]);
    else
        nn_shift_weights(L, w, net->iwt[l]);
}

const nn_op_t nn_op_conv = {
    .name = "conv2d",
    .shape = nn_conv_shape,
    .choose = s_conv_choose,
    .forward = s_conv_forward,
    .backward = s_conv_backward,
    .infer = s_conv_infer,
    .prepare = s_conv_prepare,
    .fold_bn = true,
};
