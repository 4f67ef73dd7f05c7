/* nn/plan.c: the inference planner. Before the first nn_forward after a
 * change, it decides which layers fold away or run in place (a batchnorm
 * into the conv, depthwise or dense layer before it; a ReLU into the conv or
 * add producing its input; a residual add into the epilogue of the conv
 * computing one of its operands last), where each output lives, and
 * computes the folded parameters and each conv's weights in the layout of
 * its algorithm. The inference executor (nn/infer.c) then runs the plan. */
#include <math.h>
#include <string.h>

#include "common/util.h"
#include "nn/ops.h"

static bool
s_foldable(const nn_net_t *net, int bn)
{
    int p = net->layers[bn].in[0];
    const nn_layer_t *P = &net->layers[p];
    return nn_ops[P->type]->fold_bn && P->consumers == 1 && p != net->output;
}

/* Residual add l done by a conv: one of its operands is a conv (through a
 * folded BN or directly) that nothing else reads and that runs after the
 * other operand; that conv adds the other operand in its epilogue (one pass
 * over the activations instead of three: measured in docs/performance.md)
 * and the add shares its buffer. The other operand's buffer is not written
 * between the conv and the add: only in-place ReLUs write into another
 * layer's buffer, and they need an input with one reader, which the operand
 * (read by the add too) is not. */
static void
s_plan_add(nn_net_t *net, int l)
{
    const nn_layer_t *A = &net->layers[l];
    int best = -1, side = -1;
    for (int i = 0; i < 2; i++) {
        int p = A->in[i], o = A->in[1 - i], c = p;
        if (net->layers[p].type == NN_L_BN && net->folded[p])
            c = net->layers[p].in[0];
        if (net->layers[c].type != NN_L_CONV || net->layers[c].consumers != 1
            || net->layers[p].consumers != 1 || c == net->output || p == net->output
            || o >= c || c <= best)
            continue;
        best = c;
        side = i;
    }
    if (best < 0)
        return;
    net->ires[best] = A->in[1 - side];
    net->folded[l] = true;
    net->ialias[l] = A->in[side];
}

/* Plans inference (which layers fold or run in place, where each output
 * lives) and computes the folded parameters: iparams holds, per layer with
 * weights, its weights then always a bias (zero when the layer has none). */
void
nn_plan_build(nn_net_t *net)
{
    int n = net->n_layers;
    if (!net->folded) {
        net->folded = xcalloc((size_t) n, sizeof(bool));
        net->relu_fused = xcalloc((size_t) n, sizeof(bool));
        net->ialias = xcalloc((size_t) n, sizeof(int));
        net->ires = xmallocarray((size_t) n, sizeof(int));
        size_t extra = 0;
        for (int l = 0; l < n; l++) {
            const nn_layer_t *L = &net->layers[l];
            if (nn_ops[L->type]->fold_bn && !L->n_b)
                extra += (size_t) L->os.c;
            net->ialias[l] = L->in[0];
            net->ires[l] = -1;
            if (L->type == NN_L_BN && s_foldable(net, l))
                net->folded[l] = true;
        }
        net->iparams = xmallocarray(net->n_params + extra + 1, sizeof(float));
        if (net->opts.fuse_add)
            for (int l = 0; l < n; l++)
                if (net->layers[l].type == NN_L_ADD)
                    s_plan_add(net, l);
        for (int l = 0; l < n; l++) {
            const nn_layer_t *L = &net->layers[l];
            /* ReLU in place when nothing else reads its input */
            if (L->type == NN_L_RELU) {
                int p = L->in[0];
                const nn_layer_t *P = &net->layers[p];
                if (P->consumers == 1 && p != net->output && P->type != NN_L_INPUT
                    && P->type != NN_L_DROPOUT)
                    net->folded[l] = true;
                /* in place after conv -> folded BN, or after an add: the
                 * producer applies it while writing its output */
                int q = P->type == NN_L_BN && net->folded[p] ? P->in[0] : p;
                if (net->folded[l] && net->opts.fuse_relu
                    && (net->layers[q].type == NN_L_CONV || net->layers[q].type == NN_L_ADD)) {
                    net->relu_fused[l] = true;
                    net->relu_fused[q] = true;
                    /* an add done by a conv: that conv applies the ReLU */
                    if (net->layers[q].type == NN_L_ADD && net->folded[q]) {
                        int c = net->ialias[q];
                        if (net->layers[c].type == NN_L_BN)
                            c = net->layers[c].in[0];
                        net->relu_fused[c] = true;
                    }
                }
            }
        }
    }
    if (net->n_params) /* params is NULL in a net without weights */
        memcpy(net->iparams, net->params, net->n_params * sizeof(float));
    size_t extra = net->n_params;
    for (int l = 0; l < n; l++) {
        nn_layer_t *L = &net->layers[l];
        if (!nn_ops[L->type]->fold_bn)
            continue;
        float *w = net->iparams + L->w_off;
        float *bias;
        if (L->n_b) {
            bias = net->iparams + L->b_off;
        } else {
            bias = net->iparams + extra;
            extra += (size_t) L->os.c;
            memset(bias, 0, (size_t) L->os.c * sizeof(float));
        }
        /* consumers == 1 and the consumer a folded BN: scale rows, shift bias */
        for (int m = l + 1; m < n; m++) {
            const nn_layer_t *B = &net->layers[m];
            if (B->type != NN_L_BN || B->in[0] != l || !net->folded[m])
                continue;
            const float *gamma = net->params + B->w_off, *beta = net->params + B->b_off;
            const float *st = net->state + B->s_off;
            int C = B->is.c;
            size_t row = L->n_w / (size_t) C;
            for (int c = 0; c < C; c++) {
                float k = gamma[c] / sqrtf(st[C + c] + BN_EPS);
                for (size_t i = 0; i < row; i++)
                    w[(size_t) c * row + i] *= k;
                bias[c] = bias[c] * k + beta[c] - st[c] * k;
            }
        }
    }
    /* what each layer's algorithm needs beyond the folded weights */
    if (!net->iwt)
        net->iwt = xcalloc((size_t) n, sizeof(float *));
    for (int l = 0; l < n; l++)
        if (nn_ops[net->layers[l].type]->prepare)
            nn_ops[net->layers[l].type]->prepare(net, l);
    net->fold_valid = true;
}

const float *
nn_plan_bias(const nn_net_t *net, int l)
{
    const nn_layer_t *L = &net->layers[l];
    if (L->n_b)
        return net->iparams + L->b_off;
    size_t extra = net->n_params;
    for (int m = 0; m < l; m++) {
        const nn_layer_t *P = &net->layers[m];
        if (nn_ops[P->type]->fold_bn && !P->n_b)
            extra += (size_t) P->os.c;
    }
    return net->iparams + extra;
}
