/* nn/op_dense.c: the fully connected layer (input flattened), one GEMM
 * for the whole batch. */
#include <stddef.h>

#include "nn/blas.h"
#include "nn/ops.h"

static void
s_dense_forward(const nn_layer_t *L, int b, const float *x, float *y, const float *w,
                const float *bias)
{
    int U = L->os.c, I = (int) L->isz;
    nn_gemm(false, true, b, U, I, 1.0f, x, I, w, I, 0.0f, y, U);
    if (bias)
        for (int n = 0; n < b; n++)
            for (int u = 0; u < U; u++)
                y[(size_t) n * U + u] += bias[u];
}

static int
s_dense_shape(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1)
{
    (void) rate;
    (void) in1;
    int u = args[NN_A_OUTC];
    if (!nn_dim_ok(u))
        return nn_fail(net, "dense: units must be 1..%d", NN_MAX_DIM);
    L->args[NN_A_OUTC] = u;
    L->os = (nn_shape_t) { u, 1, 1 };
    L->n_w = (size_t) u * (size_t) L->is.c * (size_t) L->is.h * (size_t) L->is.w;
    L->n_b = (size_t) u;
    return 0;
}

static void
s_dense_forward_op(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    s_dense_forward(L, s->b, s->out[L->in[0]], s->out[l], net->params + L->w_off,
                    net->params + L->b_off);
}

static void
s_dense_backward(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    const nn_layer_t *L = &net->layers[l];
    const float *x = s->out[L->in[0]], *dy = s->grad[l], *w = net->params + L->w_off;
    float *dw = s->gparams + L->w_off, *db = s->gparams + L->b_off;
    int U = L->os.c, I = (int) L->isz, b = s->b;
    nn_gemm(true, false, U, I, b, 1.0f, dy, U, x, I, 1.0f, dw, I);
    for (int q = 0; q < b; q++)
        for (int u = 0; u < U; u++)
            db[u] += dy[(size_t) q * U + u];
    if (dx)
        nn_gemm(false, false, b, I, U, 1.0f, dy, U, w, I, acc ? 1.0f : 0.0f, dx, I);
}

static void
s_dense_infer(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    s_dense_forward(L, s->b, s->out[L->in[0]], s->out[l], net->iparams + L->w_off,
                    net->iparams + L->b_off);
}

const nn_op_t nn_op_dense = {
    .name = "dense",
    .shape = s_dense_shape,
    .forward = s_dense_forward_op,
    .backward = s_dense_backward,
    .infer = s_dense_infer,
    .fold_bn = true,
};
