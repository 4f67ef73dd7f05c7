/* nn/op_bn.c: the batch normalisation layer. Training normalises with the
 * statistics of the shard ("ghost batch norm"; the trainer keeps running
 * means); inference uses the running statistics, and the planner folds a BN
 * into the conv, depthwise or dense layer before it when it can
 * (nn/plan.c), so this op then does nothing. */
#include <math.h>
#include <string.h>

#include "nn/ops.h"

/* Training batch norm of s's samples with this shard's statistics; relu
 * writes max(0, .) of the result instead (y is then the ReLU's output, the
 * BN's own output is never read). */
static NN_HOT void
s_bn_forward_train(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y,
                   const float *gamma, const float *beta, bool relu)
{
    int C = L->is.c, HW = L->is.h * L->is.w, b = s->b;
    float *mean = s->bnstat[L->bn_slot], *invstd = mean + C, *var = mean + 2 * C;
    double cnt = (double) b * HW;
    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (int n = 0; n < b; n++)
            sum += nn_vsum(x + ((size_t) n * C + c) * HW, HW);
        float mu = (float) (sum / cnt);
        double sq = 0.0;
        for (int n = 0; n < b; n++)
            sq += nn_vsum_sq_dev(x + ((size_t) n * C + c) * HW, HW, mu);
        float v = (float) (sq / cnt);
        float is = 1.0f / sqrtf(v + BN_EPS);
        mean[c] = mu;
        var[c] = v;
        invstd[c] = is;
        float k = gamma[c] * is, sh = beta[c] - mu * k;
        for (int n = 0; n < b; n++) {
            const float *p = x + ((size_t) n * C + c) * HW;
            float *q = y + ((size_t) n * C + c) * HW;
            if (relu)
                for (int i = 0; i < HW; i++)
                    q[i] = p[i] * k + sh > 0.0f ? p[i] * k + sh : 0.0f;
            else
                for (int i = 0; i < HW; i++)
                    q[i] = p[i] * k + sh;
        }
    }
}

static NN_HOT void
s_bn_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy, float *dx,
              bool acc, const float *gamma, float *dgamma, float *dbeta)
{
    int C = L->is.c, HW = L->is.h * L->is.w, b = s->b;
    const float *mean = s->bnstat[L->bn_slot], *invstd = mean + C;
    float cnt = (float) b * HW;
    for (int c = 0; c < C; c++) {
        float mu = mean[c], is = invstd[c];
        double sg = 0.0, sb = 0.0;
        for (int n = 0; n < b; n++) {
            const float *p = x + ((size_t) n * C + c) * HW;
            const float *d = dy + ((size_t) n * C + c) * HW;
            float ab = nn_vsum(d, HW);
            /* sum d * (p - mu) = sum d * p - mu * sum d */
            sg += (double) nn_vdot(d, p, HW) - (double) mu * ab;
            sb += ab;
        }
        float dg = (float) sg * is, dbv = (float) sb;
        dgamma[c] += dg;
        dbeta[c] += dbv;
        if (!dx)
            continue;
        float k = gamma[c] * is / cnt;
        for (int n = 0; n < b; n++) {
            const float *p = x + ((size_t) n * C + c) * HW;
            const float *d = dy + ((size_t) n * C + c) * HW;
            float *q = dx + ((size_t) n * C + c) * HW;
            if (acc)
                for (int i = 0; i < HW; i++)
                    q[i] += k * (cnt * d[i] - dbv - (p[i] - mu) * is * dg);
            else
                for (int i = 0; i < HW; i++)
                    q[i] = k * (cnt * d[i] - dbv - (p[i] - mu) * is * dg);
        }
    }
}

static NN_HOT void
s_bn_infer(const nn_layer_t *L, int b, const float *x, float *y, const float *gamma,
           const float *beta, const float *state)
{
    int C = L->is.c, HW = L->is.h * L->is.w;
    for (int c = 0; c < C; c++) {
        float k = gamma[c] / sqrtf(state[C + c] + BN_EPS);
        float sh = beta[c] - state[c] * k;
        for (int n = 0; n < b; n++) {
            const float *p = x + ((size_t) n * C + c) * HW;
            float *q = y + ((size_t) n * C + c) * HW;
            for (int i = 0; i < HW; i++)
                q[i] = p[i] * k + sh;
        }
    }
}

static int
s_bn_shape(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1)
{
    (void) net;
    (void) args;
    (void) rate;
    (void) in1;
    L->os = L->is;
    L->n_w = L->n_b = (size_t) L->is.c;
    L->n_s = 2 * (size_t) L->is.c;
    return 0;
}

/* gamma 1, beta 0, running mean 0 and variance 1 */
static void
s_bn_init(nn_net_t *net, nn_layer_t *L)
{
    int C = L->is.c;
    float *w = net->params + L->w_off, *bias = net->params + L->b_off;
    float *st = net->state + L->s_off;
    for (int c = 0; c < C; c++) {
        w[c] = 1.0f;
        bias[c] = 0.0f;
        st[c] = 0.0f;
        st[C + c] = 1.0f;
    }
    L->bn_slot = net->n_bn++;
}

/* A frozen layer's batch norm: the running statistics, as inference
 * normalises, with the ReLU fused as in training. */
static void
s_bn_forward_frozen(const nn_layer_t *L, int b, const float *x, float *y, const float *gamma,
                    const float *beta, const float *state, bool relu)
{
    s_bn_infer(L, b, x, y, gamma, beta, state);
    if (relu) {
        size_t n = (size_t) b * L->is.c * L->is.h * L->is.w;
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    }
}

static void
s_batchnorm_forward(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    const float *x = s->out[L->in[0]];
    const float *w = net->params + L->w_off, *bias = net->params + L->b_off;
    if (l < s->frozen) {
        bool relu = l + 1 < net->n_layers && net->layers[l + 1].type == NN_L_RELU
                    && net->layers[l + 1].in[0] == l && L->consumers == 1;
        s_bn_forward_frozen(L, s->b, x, relu ? s->out[l + 1] : s->out[l], w, bias,
                            net->state + L->s_off, relu);
        if (relu)
            s->relu_done = l + 1;
        return;
    }
    /* BN -> ReLU, nothing else reading the BN: one pass into the ReLU's
     * output (the backward needs only x and the ReLU output) */
    if (l + 1 < net->n_layers && net->layers[l + 1].type == NN_L_RELU
        && net->layers[l + 1].in[0] == l && L->consumers == 1) {
        s_bn_forward_train(L, s, x, s->out[l + 1], w, bias, true);
        s->relu_done = l + 1;
    } else {
        s_bn_forward_train(L, s, x, s->out[l], w, bias, false);
    }
}

static void
s_batchnorm_backward(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    const nn_layer_t *L = &net->layers[l];
    s_bn_backward(L, s, s->out[L->in[0]], s->grad[l], dx, acc, net->params + L->w_off,
                  s->gparams + L->w_off, s->gparams + L->b_off);
}

static void
s_batchnorm_infer(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    if (!net->folded[l])
        s_bn_infer(L, s->b, s->out[L->in[0]], s->out[l], net->iparams + L->w_off,
                   net->iparams + L->b_off, net->state + L->s_off);
}

const nn_op_t nn_op_bn = {
    .name = "batchnorm",
    .shape = s_bn_shape,
    .init = s_bn_init,
    .forward = s_batchnorm_forward,
    .backward = s_batchnorm_backward,
    .infer = s_batchnorm_infer,
};
