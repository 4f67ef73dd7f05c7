/* nn/op_eltwise.c: the element-wise layers: the input, ReLU, dropout, the
 * residual add and the gradient reversal. At inference a ReLU and an add usually cost nothing:
 * the planner runs them in place and fuses them into the conv that writes
 * their input (nn/plan.c). */
#include <string.h>

#include "nn/ops.h"

/* y = a + b, through a ReLU when relu (a fused residual block end). */
static NN_HOT void
s_add(const float *a, const float *b, float *y, size_t n, bool relu)
{
    if (relu)
        for (size_t i = 0; i < n; i++)
            y[i] = a[i] + b[i] > 0.0f ? a[i] + b[i] : 0.0f;
    else
        for (size_t i = 0; i < n; i++)
            y[i] = a[i] + b[i];
}

static NN_HOT void
s_relu_backward(const float *y, const float *dy, float *dx, bool acc, size_t n)
{
    if (acc)
        for (size_t i = 0; i < n; i++)
            dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
    else
        for (size_t i = 0; i < n; i++)
            dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* dx (+)= dy * m, or dx (+)= dy when m is NULL. */
static NN_HOT void
s_scale_into(const float *dy, const float *m, float *dx, bool acc, size_t n)
{
    if (!m && !acc)
        memcpy(dx, dy, n * sizeof(float));
    else if (!m)
        for (size_t i = 0; i < n; i++)
            dx[i] += dy[i];
    else if (acc)
        for (size_t i = 0; i < n; i++)
            dx[i] += dy[i] * m[i];
    else
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * m[i];
}

static int
s_input_shape(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1)
{
    (void) rate;
    (void) in1;
    if (!nn_dim_ok(args[0]) || !nn_dim_ok(args[1]) || !nn_dim_ok(args[2]))
        return nn_fail(net, "input shape %dx%dx%d out of range 1..%d", args[0], args[1],
                       args[2], NN_MAX_DIM);
    L->os = (nn_shape_t) { args[0], args[1], args[2] };
    L->is = L->os;
    L->args[0] = args[0];
    L->args[1] = args[1];
    L->args[2] = args[2];
    return 0;
}

/* the input layer's output is written by the caller */
const nn_op_t nn_op_input = {
    .name = "input",
    .shape = s_input_shape,
};

static void
s_relu_forward(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    if (l != s->relu_done)
        nn_vrelu(s->out[L->in[0]], s->out[l], (size_t) s->b * L->osz);
}

static void
s_relu_backward_op(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    if (dx)
        s_relu_backward(s->out[l], s->grad[l], dx, acc, (size_t) s->b * net->layers[l].osz);
}

static void
s_relu_infer(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    if (!net->relu_fused[l])
        nn_vrelu(s->out[L->in[0]], s->out[l], (size_t) s->b * L->osz);
}

const nn_op_t nn_op_relu = {
    .name = "relu",
    .forward = s_relu_forward,
    .backward = s_relu_backward_op,
    .infer = s_relu_infer,
};

static int
s_dropout_shape(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1)
{
    (void) args;
    (void) in1;
    if (!(rate >= 0.0f && rate < 1.0f))
        return nn_fail(net, "dropout: rate must be in [0, 1)");
    L->rate = rate;
    L->os = L->is;
    return 0;
}

static void
s_dropout_forward(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    const float *x = s->out[L->in[0]];
    float *y = s->out[l];
    size_t n = (size_t) s->b * L->osz;
    float keep = 1.0f / (1.0f - L->rate), *m = s->mask[l];
    for (size_t i = 0; i < n; i++) {
        m[i] = nn_rand_float(&s->rng) >= L->rate ? keep : 0.0f;
        y[i] = x[i] * m[i];
    }
}

static void
s_dropout_backward(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    if (dx)
        s_scale_into(s->grad[l], s->mask[l], dx, acc, (size_t) s->b * net->layers[l].osz);
}

/* the identity: dropout at inference, gradient reversal always */
static void
s_copy_forward(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    memcpy(s->out[l], s->out[L->in[0]], (size_t) s->b * L->osz * sizeof(float));
}

const nn_op_t nn_op_dropout = {
    .name = "dropout",
    .shape = s_dropout_shape,
    .forward = s_dropout_forward,
    .backward = s_dropout_backward,
    .infer = s_copy_forward,
};

static int
s_add_shape(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1)
{
    (void) args;
    (void) rate;
    if (in1 < 0 || in1 >= net->n_layers)
        return nn_fail(net, "add: input layer %d does not exist", in1);
    if (net->layers[in1].type == NN_L_SOFTMAX_XENT)
        return nn_fail(net, "add: cannot read the output of softmax_xent");
    nn_shape_t is = L->is, s2 = net->layers[in1].os;
    if (s2.c != is.c || s2.h != is.h || s2.w != is.w)
        return nn_fail(net, "add: shapes differ (%dx%dx%d and %dx%dx%d)", is.c, is.h, is.w,
                       s2.c, s2.h, s2.w);
    L->in[1] = in1;
    L->os = is;
    return 0;
}

static void
s_add_forward(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    const float *x = s->out[L->in[0]], *x2 = s->out[L->in[1]];
    float *y = s->out[l];
    size_t n = (size_t) s->b * L->osz;
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] + x2[i];
}

/* both operands get dy; the executor marks the first one's gradient set */
static void
s_add_backward(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    const nn_layer_t *L = &net->layers[l];
    const float *dy = s->grad[l];
    size_t n = (size_t) s->b * L->osz;
    if (dx) {
        s_scale_into(dy, NULL, dx, acc, n);
        s->gset[L->in[0]] = true;
    }
    if (net->layers[L->in[1]].type != NN_L_INPUT) {
        int p2 = L->in[1];
        s_scale_into(dy, NULL, s->grad[p2], s->gset[p2], n);
        s->gset[p2] = true;
    }
}

static void
s_add_infer(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    if (!net->folded[l])    /* else done by a conv (nn/plan.c) */
        s_add(s->out[L->in[0]], s->out[L->in[1]], s->out[l], (size_t) s->b * L->osz,
              net->relu_fused[l]);
}

const nn_op_t nn_op_add = {
    .name = "add",
    .shape = s_add_shape,
    .forward = s_add_forward,
    .backward = s_add_backward,
    .infer = s_add_infer,
};

/* Gradient reversal (Ganin & Lempitsky 2015, "Unsupervised domain adaptation
 * by backpropagation"): the identity forward, training and inference; the
 * backward pass hands its input -lambda times the gradient it receives, so
 * the layers below it learn to make the head above it fail. lambda is
 * L->rate, changed between steps by nn_grad_reverse_set (its schedule). */
static int
s_grad_reverse_shape(nn_net_t *net, nn_layer_t *L, const int *args, float rate, int in1)
{
    (void) args;
    (void) in1;
    if (!(rate >= 0.0f && rate <= 1e6f))
        return nn_fail(net, "grad_reverse: lambda must be in [0, 1e6]");
    L->rate = rate;
    L->os = L->is;
    return 0;
}

static NN_HOT void
s_scaled_into(const float *dy, float k, float *dx, bool acc, size_t n)
{
    if (acc)
        for (size_t i = 0; i < n; i++)
            dx[i] += k * dy[i];
    else
        for (size_t i = 0; i < n; i++)
            dx[i] = k * dy[i];
}

static void
s_grad_reverse_backward(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    const nn_layer_t *L = &net->layers[l];
    if (dx)
        s_scaled_into(s->grad[l], -L->rate, dx, acc, (size_t) s->b * L->osz);
}

const nn_op_t nn_op_grad_reverse = {
    .name = "grad_reverse",
    .shape = s_grad_reverse_shape,
    .forward = s_copy_forward,
    .backward = s_grad_reverse_backward,
    .infer = s_copy_forward,
};
