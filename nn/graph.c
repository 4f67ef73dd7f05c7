/* nn/graph.c: nets as graphs of layers: creating and freeing a net, adding
 * layers (arguments and shapes checked by each kind's op, so the model
 * loader can use the same builders on untrusted files), names, queries and
 * the engine options; the inference workspace is freed with the net. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "nn/ops.h"

const nn_op_t *const nn_ops[NN_L_COUNT] = {
    [NN_L_INPUT] = &nn_op_input,     [NN_L_CONV] = &nn_op_conv,
    [NN_L_DWCONV] = &nn_op_dwconv,   [NN_L_BN] = &nn_op_bn,
    [NN_L_RELU] = &nn_op_relu,       [NN_L_MAXPOOL] = &nn_op_maxpool,
    [NN_L_AVGPOOL] = &nn_op_avgpool, [NN_L_GAP] = &nn_op_gap,
    [NN_L_DENSE] = &nn_op_dense,     [NN_L_DROPOUT] = &nn_op_dropout,
    [NN_L_ADD] = &nn_op_add,         [NN_L_SOFTMAX_XENT] = &nn_op_softmax_xent,
    [NN_L_GRAD_REVERSE] = &nn_op_grad_reverse,
};

const char *
nn_ltype_name(int type)
{
    return type >= 0 && type < NN_L_COUNT ? nn_ops[type]->name : "?";
}

int
nn_fail(nn_net_t *net, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(net->err, sizeof net->err, fmt, ap);
    va_end(ap);
    return -1;
}

int
nn_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int
nn_argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

void
nn_opts_default(nn_opts_t *opts)
{
    *opts = (nn_opts_t) { .conv_shift_min_c = 16, .conv_wino_min_c = 16, .conv_poly_min_c = 16,
                          .dw_cl_min_c = 16, .fuse_relu = true, .fuse_add = true };
}

nn_net_t *
nn_new(uint64_t seed)
{
    nn_net_t *net = xcalloc(1, sizeof *net);
    net->init_rng = seed;
    net->input = -1;
    net->output = -1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    net->threads = cpus >= 2 ? 2 : 1;
    nn_opts_default(&net->opts);
    return net;
}

/* Frees the inference workspace the executor (nn/infer.c) grew inside the
 * net: it belongs to the net and goes with it, or with a change of layers or
 * options that invalidates it. */
void
nn_infer_free(nn_net_t *net)
{
    if (net->ibuf)
        for (int l = 0; l < net->n_layers; l++)
            free(net->ibuf[l]);
    free(net->ibuf);
    free(net->iout);
    free(net->folded);
    free(net->relu_fused);
    net->relu_fused = NULL;
    free(net->ialias);
    net->ialias = NULL;
    free(net->ires);
    net->ires = NULL;
    if (net->iwt)
        for (int l = 0; l < net->n_layers; l++)
            free(net->iwt[l]);
    free(net->iwt);
    net->iwt = NULL;
    free(net->iparams);
    for (int t = 0; t < net->n_ishards; t++) {
        free(net->ishards[t].out);
        free(net->ishards[t].col);
        free(net->ishards[t].tmp);
        free(net->ishards[t].pad);
        free(net->ishards[t].pad2);
        free(net->ishards[t].wt);
        free(net->ishards[t].wu);
        nn_wino_ws_free(&net->ishards[t].wino);
    }
    free(net->ishards);
    free(net->prof);
    net->prof = NULL;
    net->ibuf = net->iout = NULL;
    net->folded = NULL;
    net->iparams = NULL;
    net->ishards = NULL;
    net->n_ishards = 0;
    net->icap = 0;
    net->ibatch = 0;
    net->fold_valid = false;
}

void
nn_set_opts(nn_net_t *net, const nn_opts_t *opts)
{
    if (!net || !opts)
        return;
    net->opts = *opts;
    for (int l = 0; l < net->n_layers; l++) {
        nn_layer_t *L = &net->layers[l];
        if (nn_ops[L->type]->choose)
            nn_ops[L->type]->choose(net, L);
    }
    nn_infer_free(net);
}

void
nn_destroy(nn_net_t **net_p)
{
    if (!net_p || !*net_p)
        return;
    nn_net_t *net = *net_p;
    nn_infer_free(net);
    free(net->layers);
    free(net->params);
    free(net->state);
    for (int i = 0; i < net->n_meta; i++) {
        free(net->meta_k[i]);
        free(net->meta_v[i]);
    }
    free(net->meta_k);
    free(net->meta_v);
    for (int i = 0; i < net->n_labels; i++)
        free(net->labels[i]);
    free(net->labels);
    free(net);
    *net_p = NULL;
}

const char *
nn_error(const nn_net_t *net)
{
    return net ? net->err : "no net";
}

void
nn_invalidate(nn_net_t *net)
{
    net->fold_valid = false;
}

static size_t
s_reserve_params(nn_net_t *net, size_t n)
{
    size_t off = net->n_params;
    if (off + n > net->cap_params) {
        size_t cap = SHOP_MAX(net->cap_params * 2, off + n);
        net->params = xrealloc(net->params, cap * sizeof(float));
        net->cap_params = cap;
    }
    net->n_params += n;
    return off;
}

static size_t
s_reserve_state(nn_net_t *net, size_t n)
{
    size_t off = net->n_state;
    if (off + n > net->cap_state) {
        size_t cap = SHOP_MAX(net->cap_state * 2, off + n);
        net->state = xrealloc(net->state, cap * sizeof(float));
        net->cap_state = cap;
    }
    net->n_state += n;
    return off;
}

static long
s_shape_size(nn_shape_t s)
{
    return (long) s.c * s.h * s.w;
}

int
nn_add_layer(nn_net_t *net, nn_ltype_t type, int in0, int in1, const int *args, float rate)
{
    if (!net)
        return -1;
    if (net->n_layers >= NN_MAX_LAYERS)
        return nn_fail(net, "too many layers (limit %d)", NN_MAX_LAYERS);
    if ((int) type < 0 || type >= NN_L_COUNT)
        return nn_fail(net, "unknown layer type %d", (int) type);
    const nn_op_t *op = nn_ops[type];
    nn_layer_t L;
    memset(&L, 0, sizeof L);
    L.type = type;
    L.in[0] = L.in[1] = -1;
    L.bn_slot = -1;
    const char *tn = op->name;
    if (type == NN_L_INPUT) {
        if (net->n_layers != 0)
            return nn_fail(net, "input must be the first layer");
    } else {
        if (in0 < 0 || in0 >= net->n_layers)
            return nn_fail(net, "%s: input layer %d does not exist", tn, in0);
        if (net->layers[in0].type == NN_L_SOFTMAX_XENT)
            return nn_fail(net, "%s: cannot read the output of softmax_xent (a loss)", tn);
        L.in[0] = in0;
        L.is = net->layers[in0].os;
    }
    if (!op->shape)
        L.os = L.is;
    else if (op->shape(net, &L, args, rate, in1) < 0)
        return -1;
    long osz = s_shape_size(L.os);
    if (osz > NN_MAX_SAMPLE)
        return nn_fail(net, "%s: output of %ld floats per sample over the limit %d", tn, osz,
                       NN_MAX_SAMPLE);
    long total = osz;
    for (int l = 0; l < net->n_layers; l++)
        total += (long) net->layers[l].osz;
    if (total > NN_MAX_TOTAL_SAMPLE)
        return nn_fail(net, "%s: activations of the net over %ld floats per sample", tn,
                       (long) NN_MAX_TOTAL_SAMPLE);
    long nw = (long) L.n_w, nb = (long) L.n_b;
    if (nw + nb > (long) NN_MAX_PARAMS - (long) net->n_params)
        return nn_fail(net, "%s: more than %d parameters", tn, NN_MAX_PARAMS);
    /* refuse before allocating what a model file cannot hold */
    if (net->param_budget && (size_t) (nw + nb) + net->n_params > net->param_budget)
        return nn_fail(net, "%s: %ld parameters, more than the file holds", tn, nw + nb);
    L.isz = (size_t) s_shape_size(L.is);
    L.osz = (size_t) osz;
    L.w_off = s_reserve_params(net, L.n_w);
    L.b_off = s_reserve_params(net, L.n_b);
    if (L.n_s)
        L.s_off = s_reserve_state(net, L.n_s);
    if (op->init) {
        op->init(net, &L);
    } else if (nw && !net->loading) {
        /* He normal: keeps activation variance through ReLU nets */
        float *w = net->params + L.w_off;
        long fan_in = nw / L.args[NN_A_OUTC];
        float sd = sqrtf(2.0f / (float) fan_in);
        for (long i = 0; i < nw; i++)
            w[i] = sd * nn_rand_normal(&net->init_rng);
        if (nb)
            memset(net->params + L.b_off, 0, (size_t) nb * sizeof(float));
    }
    if (net->n_layers == net->cap_layers) {
        net->cap_layers = net->cap_layers ? net->cap_layers * 2 : 16;
        net->layers = xrealloc(net->layers, (size_t) net->cap_layers * sizeof *net->layers);
    }
    /* the structure changed: inference buffers and plan are rebuilt lazily */
    nn_infer_free(net);
    int id = net->n_layers++;
    if (op->choose)
        op->choose(net, &L);
    net->layers[id] = L;
    if (L.in[0] >= 0)
        net->layers[L.in[0]].consumers++;
    if (L.in[1] >= 0)
        net->layers[L.in[1]].consumers++;
    if (type == NN_L_INPUT)
        net->input = id;
    net->output = id;
    net->err[0] = 0;
    return id;
}

int
nn_input(nn_net_t *net, nn_shape_t shape)
{
    int a[NN_NARGS] = { shape.c, shape.h, shape.w };
    return nn_add_layer(net, NN_L_INPUT, -1, -1, a, 0);
}

int
nn_conv2d(nn_net_t *net, int in, int out_c, int kh, int kw, int sh, int sw, int ph, int pw,
          bool bias)
{
    int a[NN_NARGS] = { out_c, kh, kw, sh, sw, ph, pw, bias };
    return nn_add_layer(net, NN_L_CONV, in, -1, a, 0);
}

int
nn_depthwise(nn_net_t *net, int in, int kh, int kw, int sh, int sw, int ph, int pw, bool bias)
{
    int a[NN_NARGS] = { 0, kh, kw, sh, sw, ph, pw, bias };
    return nn_add_layer(net, NN_L_DWCONV, in, -1, a, 0);
}

int
nn_pointwise(nn_net_t *net, int in, int out_c, bool bias)
{
    return nn_conv2d(net, in, out_c, 1, 1, 1, 1, 0, 0, bias);
}

static int
s_simple(nn_net_t *net, nn_ltype_t type, int in)
{
    int a[NN_NARGS] = { 0 };
    return nn_add_layer(net, type, in, -1, a, 0);
}

int nn_batchnorm(nn_net_t *net, int in) { return s_simple(net, NN_L_BN, in); }
int nn_relu(nn_net_t *net, int in) { return s_simple(net, NN_L_RELU, in); }
int nn_global_avgpool(nn_net_t *net, int in) { return s_simple(net, NN_L_GAP, in); }
int nn_softmax_xent(nn_net_t *net, int in) { return s_simple(net, NN_L_SOFTMAX_XENT, in); }

int
nn_maxpool(nn_net_t *net, int in, int k, int stride)
{
    int a[NN_NARGS] = { 0, k, 0, stride };
    return nn_add_layer(net, NN_L_MAXPOOL, in, -1, a, 0);
}

int
nn_avgpool(nn_net_t *net, int in, int k, int stride)
{
    int a[NN_NARGS] = { 0, k, 0, stride };
    return nn_add_layer(net, NN_L_AVGPOOL, in, -1, a, 0);
}

int
nn_dense(nn_net_t *net, int in, int units)
{
    int a[NN_NARGS] = { units };
    return nn_add_layer(net, NN_L_DENSE, in, -1, a, 0);
}

int
nn_dropout(nn_net_t *net, int in, float rate)
{
    int a[NN_NARGS] = { 0 };
    return nn_add_layer(net, NN_L_DROPOUT, in, -1, a, rate);
}

int
nn_add(nn_net_t *net, int x, int y)
{
    int a[NN_NARGS] = { 0 };
    return nn_add_layer(net, NN_L_ADD, x, y, a, 0);
}

int
nn_grad_reverse(nn_net_t *net, int in, float lambda)
{
    int a[NN_NARGS] = { 0 };
    return nn_add_layer(net, NN_L_GRAD_REVERSE, in, -1, a, lambda);
}

int
nn_grad_reverse_set(nn_net_t *net, int layer, float lambda)
{
    if (!net)
        return -1;
    if (layer < 0 || layer >= net->n_layers || net->layers[layer].type != NN_L_GRAD_REVERSE)
        return nn_fail(net, "layer %d is not a gradient reversal", layer);
    if (!(lambda >= 0.0f && lambda <= 1e6f))
        return nn_fail(net, "grad_reverse: lambda must be in [0, 1e6]");
    net->layers[layer].rate = lambda;
    return 0;
}

int
nn_truncate(nn_net_t *net, int n_layers)
{
    if (!net)
        return -1;
    if (n_layers < 2 || n_layers > net->n_layers)
        return nn_fail(net, "truncate: %d layers, the net has %d (at least 2 stay)", n_layers,
                       net->n_layers);
    if (net->output >= n_layers)
        return nn_fail(net, "truncate: the output layer %d would go", net->output);
    /* layers read only earlier ones: the kept layers read none of the
     * removed; their parameters and statistics are the arrays' tails */
    nn_infer_free(net);
    size_t n_state = 0;
    for (int l = 0; l < n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        if (L->n_s)
            n_state = L->s_off + L->n_s;
    }
    for (int l = n_layers; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        for (int i = 0; i < 2; i++)
            if (L->in[i] >= 0 && L->in[i] < n_layers)
                net->layers[L->in[i]].consumers--;
        if (L->type == NN_L_BN)
            net->n_bn--;
    }
    net->n_params = net->layers[n_layers].w_off;
    net->n_state = n_state;
    net->n_layers = n_layers;
    return 0;
}

int
nn_layer_set_name(nn_net_t *net, int layer, const char *name)
{
    if (!net)
        return -1;
    if (layer < 0 || layer >= net->n_layers)
        return nn_fail(net, "no layer %d", layer);
    if (!name || strlen(name) >= NN_MAX_NAME)
        return nn_fail(net, "layer name missing or longer than %d bytes", NN_MAX_NAME - 1);
    int other = nn_find_layer(net, name);
    if (*name && other >= 0 && other != layer)
        return nn_fail(net, "layer name '%s' already used by layer %d", name, other);
    shop_strlcpy(net->layers[layer].name, name, NN_MAX_NAME);
    return 0;
}

int
nn_find_layer(const nn_net_t *net, const char *name)
{
    if (!net || !name || !*name)
        return -1;
    for (int l = 0; l < net->n_layers; l++)
        if (strcmp(net->layers[l].name, name) == 0)
            return l;
    return -1;
}

int
nn_set_output(nn_net_t *net, int layer)
{
    if (!net)
        return -1;
    if (layer < 0 || layer >= net->n_layers)
        return nn_fail(net, "no layer %d", layer);
    net->output = layer;
    nn_infer_free(net);
    return 0;
}

int nn_num_layers(const nn_net_t *net) { return net ? net->n_layers : 0; }

nn_shape_t
nn_layer_shape(const nn_net_t *net, int layer)
{
    if (!net || layer < 0 || layer >= net->n_layers)
        return (nn_shape_t) { 0, 0, 0 };
    return net->layers[layer].os;
}

const char *
nn_layer_type(const nn_net_t *net, int layer)
{
    if (!net || layer < 0 || layer >= net->n_layers)
        return "?";
    return nn_ops[net->layers[layer].type]->name;
}

nn_shape_t
nn_input_shape(const nn_net_t *net)
{
    return nn_layer_shape(net, net ? net->input : -1);
}

int
nn_output_size(const nn_net_t *net)
{
    if (!net || net->output < 0)
        return 0;
    return (int) net->layers[net->output].osz;
}

size_t nn_num_params(const nn_net_t *net) { return net ? net->n_params : 0; }

double
nn_flops_per_sample(const nn_net_t *net)
{
    double macs = 0;
    for (int l = 0; net && l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        if (L->type == NN_L_CONV || L->type == NN_L_DWCONV || L->type == NN_L_DENSE)
            macs += (double) L->n_w * (L->type == NN_L_DENSE ? 1 : L->os.h * L->os.w);
    }
    return 2.0 * macs;
}

void
nn_print_summary(const nn_net_t *net)
{
    if (!net)
        return;
    for (int l = 0; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        fprintf(stderr, "%3d %-15s in %3d %3d  out %4dx%3dx%3d  params %8zu %s\n", l,
                nn_ops[L->type]->name, L->in[0], L->in[1], L->os.c, L->os.h, L->os.w,
                L->n_w + L->n_b, L->name);
    }
    fprintf(stderr, "    %zu parameters, %.1f MFLOP per sample\n", net->n_params,
            nn_flops_per_sample(net) / 1e6);
}

int
nn_set_threads(nn_net_t *net, int threads)
{
    if (!net)
        return -1;
    if (threads < 1 || threads > 64)
        return nn_fail(net, "threads must be 1..64");
    net->threads = threads;
    return 0;
}
