/* nn/op_pool.c: the pooling layers: max and average pooling of k x k
 * windows (no padding), with a vectorised loop for 2x2 stride 2, and the
 * global average pool (C x H x W -> C x 1 x 1). */
#include <string.h>

#include "nn/ops.h"

/* 2x2 stride-2 pooling of one plane, the common case, in straight loops the
 * compiler vectorises (same comparisons and sum order as the general loop,
 * so results are identical). idx as in s_pool_forward, may be NULL. */
static NN_HOT void
s_pool2_plane(const float *restrict xp, float *restrict yp, int32_t *restrict ip, int W, int OH,
              int OW, bool mx)
{
    for (int oh = 0; oh < OH; oh++) {
        const float *r0 = xp + (size_t) 2 * oh * W, *r1 = r0 + W;
        float *yr = yp + (size_t) oh * OW;
        if (!mx) {
            for (int ow = 0; ow < OW; ow++)
                yr[ow] = (r0[2 * ow] + r0[2 * ow + 1] + r1[2 * ow] + r1[2 * ow + 1]) * 0.25f;
        } else if (!ip) {
            for (int ow = 0; ow < OW; ow++) {
                float m = r0[2 * ow];
                m = r0[2 * ow + 1] > m ? r0[2 * ow + 1] : m;
                m = r1[2 * ow] > m ? r1[2 * ow] : m;
                yr[ow] = r1[2 * ow + 1] > m ? r1[2 * ow + 1] : m;
            }
        } else {
            int32_t *ir = ip + (size_t) oh * OW;
            for (int ow = 0; ow < OW; ow++) {
                int base = 2 * oh * W + 2 * ow, a = base;
                float m = r0[2 * ow];
                if (r0[2 * ow + 1] > m) {
                    m = r0[2 * ow + 1];
                    a = base + 1;
                }
                if (r1[2 * ow] > m) {
                    m = r1[2 * ow];
                    a = base + W;
                }
                if (r1[2 * ow + 1] > m) {
                    m = r1[2 * ow + 1];
                    a = base + W + 1;
                }
                yr[ow] = m;
                ir[ow] = a;
            }
        }
    }
}

static void
s_pool_forward(const nn_layer_t *L, int b, const float *x, float *y, int32_t *idx)
{
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int k = L->args[NN_A_KH], st = L->args[NN_A_SH];
    bool mx = L->type == NN_L_MAXPOOL;
    float inv = 1.0f / (float) (k * k);
    if (k == 2 && st == 2) {
        for (int p = 0; p < b * C; p++)
            s_pool2_plane(x + (size_t) p * H * W, y + (size_t) p * OH * OW,
                          idx ? idx + (size_t) p * OH * OW : NULL, W, OH, OW, mx);
        return;
    }
    for (int p = 0; p < b * C; p++) {
        const float *xp = x + (size_t) p * H * W;
        float *yp = y + (size_t) p * OH * OW;
        int32_t *ip = idx ? idx + (size_t) p * OH * OW : NULL;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int base = oh * st * W + ow * st;
                float acc = mx ? xp[base] : 0.0f;
                int arg = base;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int o = base + i * W + j;
                        if (mx) {
                            if (xp[o] > acc) {
                                acc = xp[o];
                                arg = o;
                            }
                        } else {
                            acc += xp[o];
                        }
                    }
                yp[oh * OW + ow] = mx ? acc : acc * inv;
                if (ip)
                    ip[oh * OW + ow] = arg;
            }
    }
}

static void
s_pool_backward(const nn_layer_t *L, int b, const float *dy, float *dx, bool acc,
                const int32_t *idx)
{
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int k = L->args[NN_A_KH], st = L->args[NN_A_SH];
    float inv = 1.0f / (float) (k * k);
    if (!acc)
        memset(dx, 0, (size_t) b * L->isz * sizeof(float));
    for (int p = 0; p < b * C; p++) {
        const float *dyp = dy + (size_t) p * OH * OW;
        float *dxp = dx + (size_t) p * H * W;
        if (L->type == NN_L_MAXPOOL) {
            const int32_t *ip = idx + (size_t) p * OH * OW;
            for (int o = 0; o < OH * OW; o++)
                dxp[ip[o]] += dyp[o];
            continue;
        }
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float g = dyp[oh * OW + ow] * inv;
                int base = oh * st * W + ow * st;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++)
                        dxp[base + i * W + j] += g;
            }
    }
}

static int
s_pool_shape(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1)
{
    (void) rate;
    (void) in1;
    const char *tn = nn_ops[L->type]->name;
    nn_shape_t is = L->is;
    int k = args[NN_A_KH], st = args[NN_A_SH];
    if (!nn_dim_ok(k) || !nn_dim_ok(st))
        return nn_fail(net, "%s: window and stride must be 1..%d", tn, NN_MAX_DIM);
    if (k > is.h || k > is.w)
        return nn_fail(net, "%s: window %d larger than the input %dx%d", tn, k, is.h, is.w);
    L->args[NN_A_KH] = k;
    L->args[NN_A_SH] = st;
    L->os = (nn_shape_t) { is.c, (is.h - k) / st + 1, (is.w - k) / st + 1 };
    return 0;
}

static void
s_pool_forward_op(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    s_pool_forward(L, s->b, s->out[L->in[0]], s->out[l], s->idx[l]);
}

static void
s_pool_backward_op(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    if (dx)
        s_pool_backward(&net->layers[l], s->b, s->grad[l], dx, acc, s->idx[l]);
}

/* no argmax kept at inference */
static void
s_pool_infer(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    s_pool_forward(L, s->b, s->out[L->in[0]], s->out[l], NULL);
}

const nn_op_t nn_op_maxpool = {
    .name = "maxpool",
    .shape = s_pool_shape,
    .forward = s_pool_forward_op,
    .backward = s_pool_backward_op,
    .infer = s_pool_infer,
};

const nn_op_t nn_op_avgpool = {
    .name = "avgpool",
    .shape = s_pool_shape,
    .forward = s_pool_forward_op,
    .backward = s_pool_backward_op,
    .infer = s_pool_infer,
};

static int
s_gap_shape(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1)
{
    (void) net;
    (void) args;
    (void) rate;
    (void) in1;
    L->os = (nn_shape_t) { L->is.c, 1, 1 };
    return 0;
}

/* training and inference alike */
static void
s_gap_forward(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    const float *x = s->out[L->in[0]];
    float *y = s->out[l];
    int HW = L->is.h * L->is.w;
    for (size_t p = 0; p < (size_t) s->b * L->is.c; p++)
        y[p] = nn_vsum(x + p * HW, HW) / (float) HW;
}

static void
s_gap_backward(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    if (!dx)
        return;
    const nn_layer_t *L = &net->layers[l];
    const float *dy = s->grad[l];
    int HW = L->is.h * L->is.w;
    float inv = 1.0f / (float) HW;
    for (size_t q = 0; q < (size_t) s->b * L->is.c; q++) {
        float g = dy[q] * inv;
        float *d = dx + q * HW;
        for (int i = 0; i < HW; i++)
            d[i] = (acc ? d[i] : 0.0f) + g;
    }
}

const nn_op_t nn_op_gap = {
    .name = "global_avgpool",
    .shape = s_gap_shape,
    .forward = s_gap_forward,
    .backward = s_gap_backward,
    .infer = s_gap_forward,
};
