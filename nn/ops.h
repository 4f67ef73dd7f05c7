/* nn/ops.h: the op table. Each layer kind (nn_ltype_t) is one nn_op_t, with
 * its shape, its training forward and backward, and its inference forward
 * side by side (as kann's and ggml's ops); the graph, the executors and the
 * planner dispatch through nn_ops[] and never switch on the layer type to
 * run a layer. Also the loops several ops share (nn/vec.c). Internal to nn/. */
#ifndef SHOP_NN_OPS_H
#define SHOP_NN_OPS_H

#include "nn/internal.h"

#define BN_EPS 1e-5f
/* per-sample floats of all activations together, and of one im2col matrix */
#define NN_MAX_TOTAL_SAMPLE (1L << 26)

typedef struct {
    const char *name;       /* as nn_layer_type() reports it and the summary prints */
    /* Checks the builder's arguments against the input shape L->is and fills
     * L->os, L->args, L->rate, L->in[1] and the parameter counts L->n_w,
     * L->n_b (trainable) and L->n_s (statistics). Returns 0, or -1 through
     * nn_fail. NULL: the output has the input's shape, no arguments. */
    int (*shape)(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1);
    /* Chooses L->algo from L's shape and net->opts (NULL: NN_ALGO_DIRECT). */
    void (*choose)(const nn_net_t *net, nn_layer_t *L);
    /* Initialises a new layer's parameters and statistics, already reserved
     * (NULL: He normal weights from net->init_rng, zero biases). */
    void (*init)(nn_net_t *net, nn_layer_t *L);
    /* Training forward of layer l on shard s: s->out[in] -> s->out[l]. */
    void (*forward)(const nn_net_t *net, int l, nn_shard_t *s);
    /* Backward of layer l: adds the parameter gradients into s->gparams and
     * writes (acc false) or adds the input gradient into dx (NULL: none
     * wanted), from s->grad[l]. */
    void (*backward)(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc);
    /* Inference forward of layer l with the planned (folded) parameters. */
    void (*infer)(const nn_net_t *net, int l, nn_shard_t *s);
    /* Prepares what inference needs beyond the folded weights (a conv's
     * weights in its algorithm's layout, net->iwt[l]); NULL: nothing. */
    void (*prepare)(nn_net_t *net, int l);
    bool fold_bn;           /* a batchnorm reading only this layer folds into its
                             * weights (one row of weights per output channel) */
    bool loss;              /* the backward pass starts here (with targets) */
} nn_op_t;

/* Indexed by nn_ltype_t (nn/graph.c). */
extern const nn_op_t *const nn_ops[NN_L_COUNT];

extern const nn_op_t nn_op_input, nn_op_conv, nn_op_dwconv, nn_op_bn, nn_op_relu,
    nn_op_maxpool, nn_op_avgpool, nn_op_gap, nn_op_dense, nn_op_dropout, nn_op_add,
    nn_op_softmax_xent, nn_op_grad_reverse;

/* A dimension (channels, size, kernel, stride, units) within 1..NN_MAX_DIM. */
static inline bool
nn_dim_ok(long v)
{
    return v >= 1 && v <= NN_MAX_DIM;
}

/* Shape of a conv or depthwise layer (nn/op_conv.c). */
int nn_conv_shape(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1);

/* Plans inference and computes the folded parameters (nn/plan.c). */
void nn_plan_build(nn_net_t *net);
/* Bias of layer l in net->iparams: its own, or zeros appended for a conv
 * without one (nn/plan.c). */
const float *nn_plan_bias(const nn_net_t *net, int l);

/* ---- shared loops (nn/vec.c) */

/* Grows *buf to at least n floats (contents not kept). */
void nn_reserve(float **buf, size_t *cap, size_t n);
/* Sum, sum of (x - mu)^2, dot product: 16 fixed partial sums, so the
 * compiler vectorises them and results stay deterministic. */
float nn_vsum(const float *x, int n);
float nn_vsum_sq_dev(const float *x, int n, float mu);
float nn_vdot(const float *a, const float *b, int n);
/* y = max(x, 0) (y may be x). */
void nn_vrelu(const float *x, float *y, size_t n);
/* db[m] += sum of row m, rows of n floats. */
void nn_row_sums_add(const float *dy, int rows, int n, float *db);
/* Range [lo, hi) of output columns whose input column ow*s - p + j is inside [0, w). */
static inline void
nn_valid_range(int out_w, int w, int s, int p, int j, int *lo, int *hi)
{
    int l = 0, h = out_w;
    int off = j - p;
    if (off < 0)
        l = (-off + s - 1) / s;
    /* ow*s + off <= w - 1 */
    int mx = w - 1 - off;
    h = mx < 0 ? 0 : mx / s + 1;
    if (h > out_w)
        h = out_w;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

#endif
