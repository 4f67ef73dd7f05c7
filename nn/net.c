/* nn/net.c: building nets, the layers' forward and backward passes, and
 * inference with batchnorm folded into the layer before it.
 *
 * Every layer's output for a shard of b samples is one contiguous b x osz
 * block (N x C x H x W). Convolutions go through im2col + GEMM; when the
 * output plane is small, several images share one GEMM (their columns side
 * by side) so the GEMM stays wide enough to run near peak. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "nn/blas.h"
#include "nn/internal.h"

#define BN_EPS 1e-5f
/* per-sample floats of all activations together, and of one im2col matrix */
#define MAX_TOTAL_SAMPLE (1L << 26)
/* columns one conv GEMM aims for when it batches images (see s_group) */
#define GEMM_TARGET_N 1024

static const char *const s_type_names[NN_L_COUNT] = {
    "input", "conv2d", "depthwise", "batchnorm", "relu", "maxpool", "avgpool",
    "global_avgpool", "dense", "dropout", "add", "softmax_xent"
};

const char *
nn_ltype_name(int type)
{
    return type >= 0 && type < NN_L_COUNT ? s_type_names[type] : "?";
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

uint64_t
nn_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint32_t
nn_rand_u32(uint64_t *state)
{
    return (uint32_t) (nn_splitmix64(state) >> 32);
}

float
nn_rand_float(uint64_t *state)
{
    return (float) (nn_splitmix64(state) >> 40) * (1.0f / 16777216.0f);
}

float
nn_rand_normal(uint64_t *state)
{
    /* Box-Muller; u1 in (0, 1] so the log is finite */
    float u1 = 1.0f - nn_rand_float(state);
    float u2 = nn_rand_float(state);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
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

/* ------------------------------------------------------------------ building */

nn_net_t *
nn_new(uint64_t seed)
{
    nn_net_t *net = xcalloc(1, sizeof *net);
    net->init_rng = seed;
    net->input = -1;
    net->output = -1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    net->threads = cpus >= 2 ? 2 : 1;
    return net;
}

static bool s_wino_choice(const nn_layer_t *L);
static bool s_poly_choice(const nn_layer_t *L);

static void
s_free_inference(nn_net_t *net)
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
nn_destroy(nn_net_t **net_p)
{
    if (!net_p || !*net_p)
        return;
    nn_net_t *net = *net_p;
    s_free_inference(net);
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

static bool
s_dim_ok(long v)
{
    return v >= 1 && v <= NN_MAX_DIM;
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
    nn_layer_t L;
    memset(&L, 0, sizeof L);
    L.type = type;
    L.in[0] = L.in[1] = -1;
    L.bn_slot = -1;
    const char *tn = s_type_names[type];
    if (type == NN_L_INPUT) {
        if (net->n_layers != 0)
            return nn_fail(net, "input must be the first layer");
        if (!s_dim_ok(args[0]) || !s_dim_ok(args[1]) || !s_dim_ok(args[2]))
            return nn_fail(net, "input shape %dx%dx%d out of range 1..%d", args[0], args[1],
                           args[2], NN_MAX_DIM);
        L.os = (nn_shape_t) { args[0], args[1], args[2] };
        L.is = L.os;
        L.args[0] = args[0];
        L.args[1] = args[1];
        L.args[2] = args[2];
    } else {
        if (in0 < 0 || in0 >= net->n_layers)
            return nn_fail(net, "%s: input layer %d does not exist", tn, in0);
        if (net->layers[in0].type == NN_L_SOFTMAX_XENT)
            return nn_fail(net, "%s: cannot read the output of softmax_xent (a loss)", tn);
        L.in[0] = in0;
        L.is = net->layers[in0].os;
    }
    nn_shape_t is = L.is;
    long nw = 0, nb = 0, ns = 0;
    int *a = L.args;
    switch (type) {
    case NN_L_INPUT:
        break;
    case NN_L_CONV:
    case NN_L_DWCONV: {
        for (int i = 0; i < NN_NARGS; i++)
            a[i] = args[i];
        if (type == NN_L_DWCONV)
            a[NN_A_OUTC] = is.c;
        if (!s_dim_ok(a[NN_A_OUTC]) || !s_dim_ok(a[NN_A_KH]) || !s_dim_ok(a[NN_A_KW])
            || !s_dim_ok(a[NN_A_SH]) || !s_dim_ok(a[NN_A_SW]))
            return nn_fail(net, "%s: channels, kernel and stride must be 1..%d", tn, NN_MAX_DIM);
        if (a[NN_A_PH] < 0 || a[NN_A_PW] < 0 || a[NN_A_PH] >= a[NN_A_KH]
            || a[NN_A_PW] >= a[NN_A_KW])
            return nn_fail(net, "%s: padding must be 0..kernel-1", tn);
        if (a[NN_A_BIAS] != 0 && a[NN_A_BIAS] != 1)
            return nn_fail(net, "%s: bias flag must be 0 or 1", tn);
        long hp = (long) is.h + 2L * a[NN_A_PH], wp = (long) is.w + 2L * a[NN_A_PW];
        if (hp < a[NN_A_KH] || wp < a[NN_A_KW])
            return nn_fail(net, "%s: kernel %dx%d larger than the padded input %ldx%ld", tn,
                           a[NN_A_KH], a[NN_A_KW], hp, wp);
        L.os.c = a[NN_A_OUTC];
        L.os.h = (int) ((hp - a[NN_A_KH]) / a[NN_A_SH] + 1);
        L.os.w = (int) ((wp - a[NN_A_KW]) / a[NN_A_SW] + 1);
        long k = (long) a[NN_A_KH] * a[NN_A_KW] * (type == NN_L_CONV ? is.c : 1);
        if (type == NN_L_CONV && k * L.os.h * L.os.w > MAX_TOTAL_SAMPLE)
            return nn_fail(net, "%s: im2col matrix too large", tn);
        nw = k * a[NN_A_OUTC];
        nb = a[NN_A_BIAS] ? a[NN_A_OUTC] : 0;
        break;
    }
    case NN_L_BN:
        nw = nb = is.c;
        ns = 2L * is.c;
        L.os = is;
        break;
    case NN_L_RELU:
    case NN_L_DROPOUT:
        L.os = is;
        if (type == NN_L_DROPOUT) {
            if (!(rate >= 0.0f && rate < 1.0f))
                return nn_fail(net, "dropout: rate must be in [0, 1)");
            L.rate = rate;
        }
        break;
    case NN_L_MAXPOOL:
    case NN_L_AVGPOOL: {
        int k = args[NN_A_KH], st = args[NN_A_SH];
        if (!s_dim_ok(k) || !s_dim_ok(st))
            return nn_fail(net, "%s: window and stride must be 1..%d", tn, NN_MAX_DIM);
        if (k > is.h || k > is.w)
            return nn_fail(net, "%s: window %d larger than the input %dx%d", tn, k, is.h, is.w);
        a[NN_A_KH] = k;
        a[NN_A_SH] = st;
        L.os = (nn_shape_t) { is.c, (is.h - k) / st + 1, (is.w - k) / st + 1 };
        break;
    }
    case NN_L_GAP:
        L.os = (nn_shape_t) { is.c, 1, 1 };
        break;
    case NN_L_DENSE: {
        int u = args[NN_A_OUTC];
        if (!s_dim_ok(u))
            return nn_fail(net, "dense: units must be 1..%d", NN_MAX_DIM);
        a[NN_A_OUTC] = u;
        L.os = (nn_shape_t) { u, 1, 1 };
        nw = (long) u * s_shape_size(is);
        nb = u;
        break;
    }
    case NN_L_ADD: {
        if (in1 < 0 || in1 >= net->n_layers)
            return nn_fail(net, "add: input layer %d does not exist", in1);
        if (net->layers[in1].type == NN_L_SOFTMAX_XENT)
            return nn_fail(net, "add: cannot read the output of softmax_xent");
        nn_shape_t s2 = net->layers[in1].os;
        if (s2.c != is.c || s2.h != is.h || s2.w != is.w)
            return nn_fail(net, "add: shapes differ (%dx%dx%d and %dx%dx%d)", is.c, is.h, is.w,
                           s2.c, s2.h, s2.w);
        L.in[1] = in1;
        L.os = is;
        break;
    }
    case NN_L_SOFTMAX_XENT:
        L.os = is;
        break;
    default:
        return nn_fail(net, "unknown layer type %d", (int) type);
    }
    long osz = s_shape_size(L.os);
    if (osz > NN_MAX_SAMPLE)
        return nn_fail(net, "%s: output of %ld floats per sample over the limit %d", tn, osz,
                       NN_MAX_SAMPLE);
    long total = osz;
    for (int l = 0; l < net->n_layers; l++)
        total += (long) net->layers[l].osz;
    if (total > MAX_TOTAL_SAMPLE)
        return nn_fail(net, "%s: activations of the net over %ld floats per sample", tn,
                       (long) MAX_TOTAL_SAMPLE);
    if (nw + nb > (long) NN_MAX_PARAMS - (long) net->n_params)
        return nn_fail(net, "%s: more than %d parameters", tn, NN_MAX_PARAMS);
    /* refuse before allocating what a model file cannot hold */
    if (net->param_budget && (size_t) (nw + nb) + net->n_params > net->param_budget)
        return nn_fail(net, "%s: %ld parameters, more than the file holds", tn, nw + nb);
    L.isz = (size_t) s_shape_size(L.is);
    L.osz = (size_t) osz;
    L.n_w = (size_t) nw;
    L.n_b = (size_t) nb;
    L.w_off = s_reserve_params(net, L.n_w);
    L.b_off = s_reserve_params(net, L.n_b);
    /* a parameterless first layer leaves params NULL: no offset on NULL (UBSan) */
    float *w = net->params ? net->params + L.w_off : NULL;
    float *bias = net->params ? net->params + L.b_off : NULL;
    if (type == NN_L_BN) {
        for (long i = 0; i < nw; i++)
            w[i] = 1.0f;
        memset(bias, 0, (size_t) nb * sizeof(float));
        L.n_s = (size_t) ns;
        L.s_off = s_reserve_state(net, L.n_s);
        float *st = net->state + L.s_off;
        for (int c = 0; c < is.c; c++) {
            st[c] = 0.0f;
            st[is.c + c] = 1.0f;
        }
        L.bn_slot = net->n_bn++;
    } else if (nw && !net->loading) {
        /* He normal: keeps activation variance through ReLU nets */
        long fan_in = nw / (type == NN_L_DENSE ? a[NN_A_OUTC] : a[NN_A_OUTC]);
        float sd = sqrtf(2.0f / (float) fan_in);
        for (long i = 0; i < nw; i++)
            w[i] = sd * nn_rand_normal(&net->init_rng);
        memset(bias, 0, (size_t) nb * sizeof(float));
    }
    if (net->n_layers == net->cap_layers) {
        net->cap_layers = net->cap_layers ? net->cap_layers * 2 : 16;
        net->layers = xrealloc(net->layers, (size_t) net->cap_layers * sizeof *net->layers);
    }
    /* the structure changed: inference buffers and plan are rebuilt lazily */
    s_free_inference(net);
    int id = net->n_layers++;
    L.wino = s_wino_choice(&L);
    L.poly = s_poly_choice(&L);
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
    s_free_inference(net);
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
    return s_type_names[net->layers[layer].type];
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
                s_type_names[L->type], L->in[0], L->in[1], L->os.c, L->os.h, L->os.w,
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

/* ------------------------------------------------------------------ metadata */

int
nn_meta_set(nn_net_t *net, const char *key, const char *value)
{
    if (!net)
        return -1;
    if (!key || !*key || strlen(key) >= NN_MAX_KEY)
        return nn_fail(net, "metadata key missing or longer than %d bytes", NN_MAX_KEY - 1);
    if (!value || strlen(value) >= NN_MAX_VALUE)
        return nn_fail(net, "metadata value missing or longer than %d bytes", NN_MAX_VALUE - 1);
    for (int i = 0; i < net->n_meta; i++)
        if (strcmp(net->meta_k[i], key) == 0) {
            free(net->meta_v[i]);
            net->meta_v[i] = xstrdup(value);
            return 0;
        }
    if (net->n_meta >= NN_MAX_META)
        return nn_fail(net, "more than %d metadata keys", NN_MAX_META);
    net->meta_k = xrealloc(net->meta_k, (size_t) (net->n_meta + 1) * sizeof(char *));
    net->meta_v = xrealloc(net->meta_v, (size_t) (net->n_meta + 1) * sizeof(char *));
    net->meta_k[net->n_meta] = xstrdup(key);
    net->meta_v[net->n_meta] = xstrdup(value);
    net->n_meta++;
    return 0;
}

const char *
nn_meta_get(const nn_net_t *net, const char *key)
{
    for (int i = 0; net && key && i < net->n_meta; i++)
        if (strcmp(net->meta_k[i], key) == 0)
            return net->meta_v[i];
    return NULL;
}

int nn_meta_count(const nn_net_t *net) { return net ? net->n_meta : 0; }

int
nn_meta_at(const nn_net_t *net, int i, const char **key, const char **value)
{
    if (!net || i < 0 || i >= net->n_meta)
        return -1;
    if (key)
        *key = net->meta_k[i];
    if (value)
        *value = net->meta_v[i];
    return 0;
}

int
nn_set_labels(nn_net_t *net, const char *const *labels, int n)
{
    if (!net)
        return -1;
    if (n < 0 || n > NN_MAX_LABELS || (n > 0 && !labels))
        return nn_fail(net, "labels: count must be 0..%d", NN_MAX_LABELS);
    for (int i = 0; i < n; i++)
        if (!labels[i] || strlen(labels[i]) >= NN_MAX_NAME)
            return nn_fail(net, "label %d missing or longer than %d bytes", i, NN_MAX_NAME - 1);
    for (int i = 0; i < net->n_labels; i++)
        free(net->labels[i]);
    free(net->labels);
    net->labels = n ? xcalloc((size_t) n, sizeof(char *)) : NULL;
    for (int i = 0; i < n; i++)
        net->labels[i] = xstrdup(labels[i]);
    net->n_labels = n;
    return 0;
}

int nn_num_labels(const nn_net_t *net) { return net ? net->n_labels : 0; }

const char *
nn_label(const nn_net_t *net, int i)
{
    return net && i >= 0 && i < net->n_labels ? net->labels[i] : NULL;
}

/* ------------------------------------------------------------------ kernels */

static void
s_reserve(float **buf, size_t *cap, size_t n)
{
    if (n > *cap) {
        free(*buf);
        *buf = xmallocarray(n, sizeof(float));
        *cap = n;
    }
}

/* Columns of the forward im2col GEMM: a K x 256 column block stays in L2
 * (at 1024 the 128x7x7 conv's 1152 x 980 block is 4.5 MB); measured at batch
 * 64 on the 7x7 and stride-2 layers: 77-87 -> 86-98 GFLOPS. */
#define GEMM_IM2COL_FWD_N 256

/* Images per conv GEMM: enough that the GEMM has ~target columns. */
static int
s_group(int n_cols, int b, int target)
{
    int g = target / n_cols;
    if (g < 1)
        g = 1;
    return g < b ? g : b;
}

static bool
s_conv_is_1x1(const int *a)
{
    return a[NN_A_KH] == 1 && a[NN_A_KW] == 1 && a[NN_A_SH] == 1 && a[NN_A_SW] == 1
           && a[NN_A_PH] == 0 && a[NN_A_PW] == 0;
}

/* Reductions with 16 independent partial sums: strict float order forbids
 * the compiler from vectorising a single running sum (latency bound, ~8x
 * slower); fixed lanes keep the result deterministic. */
#define NN_LANES 16

static NN_HOT float
s_sum(const float *x, int n)
{
    float acc[NN_LANES] = { 0 };
    int i = 0;
    for (; i + NN_LANES <= n; i += NN_LANES)
        for (int k = 0; k < NN_LANES; k++)
            acc[k] += x[i + k];
    float t = 0.0f;
    for (; i < n; i++)
        t += x[i];
    for (int k = 0; k < NN_LANES; k++)
        t += acc[k];
    return t;
}

/* Sum of (x - mu)^2. */
static NN_HOT float
s_sum_sq_dev(const float *x, int n, float mu)
{
    float acc[NN_LANES] = { 0 };
    int i = 0;
    for (; i + NN_LANES <= n; i += NN_LANES)
        for (int k = 0; k < NN_LANES; k++) {
            float d = x[i + k] - mu;
            acc[k] += d * d;
        }
    float t = 0.0f;
    for (; i < n; i++)
        t += (x[i] - mu) * (x[i] - mu);
    for (int k = 0; k < NN_LANES; k++)
        t += acc[k];
    return t;
}

/* Sum of a[i] * b[i]. */
static NN_HOT float
s_dot(const float *a, const float *b, int n)
{
    float acc[NN_LANES] = { 0 };
    int i = 0;
    for (; i + NN_LANES <= n; i += NN_LANES)
        for (int k = 0; k < NN_LANES; k++)
            acc[k] += a[i + k] * b[i + k];
    float t = 0.0f;
    for (; i < n; i++)
        t += a[i] * b[i];
    for (int k = 0; k < NN_LANES; k++)
        t += acc[k];
    return t;
}

/* Range [lo, hi) of output columns whose input column ow*s - p + j is inside [0, w). */
static void
s_valid_range(int out_w, int w, int s, int p, int j, int *lo, int *hi)
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

/* Copies the receptive fields of one C x H x W image into col (K rows of
 * OH*OW values, row stride ld), zeros for the padding. */
static NN_HOT void
s_im2col(const float *x, const nn_layer_t *L, float *col, int ld)
{
    const int *a = L->args;
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int kh = a[NN_A_KH], kw = a[NN_A_KW], sh = a[NN_A_SH], sw = a[NN_A_SW];
    int ph = a[NN_A_PH], pw = a[NN_A_PW];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float *dst = col + (size_t) ((c * kh + i) * kw + j) * ld;
                int lo, hi;
                s_valid_range(OW, W, sw, pw, j, &lo, &hi);
                for (int oh = 0; oh < OH; oh++) {
                    float *d = dst + oh * OW;
                    int ih = oh * sh - ph + i;
                    if (ih < 0 || ih >= H) {
                        memset(d, 0, (size_t) OW * sizeof(float));
                        continue;
                    }
                    const float *src = x + ((size_t) c * H + ih) * W + j - pw;
                    for (int ow = 0; ow < lo; ow++)
                        d[ow] = 0.0f;
                    /* rows are short (28 floats): an inline loop beats a memcpy call */
                    if (sw == 1)
                        for (int ow = lo; ow < hi; ow++)
                            d[ow] = src[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            d[ow] = src[ow * sw];
                    for (int ow = hi; ow < OW; ow++)
                        d[ow] = 0.0f;
                }
            }
}

/* Adds the columns back into the image gradient dx (the adjoint of s_im2col). */
static NN_HOT void
s_col2im(const float *col, int ld, const nn_layer_t *L, float *dx)
{
    const int *a = L->args;
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int kh = a[NN_A_KH], kw = a[NN_A_KW], sh = a[NN_A_SH], sw = a[NN_A_SW];
    int ph = a[NN_A_PH], pw = a[NN_A_PW];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                const float *src = col + (size_t) ((c * kh + i) * kw + j) * ld;
                int lo, hi;
                s_valid_range(OW, W, sw, pw, j, &lo, &hi);
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * sh - ph + i;
                    if (ih < 0 || ih >= H)
                        continue;
                    float *d = dx + ((size_t) c * H + ih) * W + j - pw;
                    const float *s = src + oh * OW;
                    if (sw == 1)
                        for (int ow = lo; ow < hi; ow++)
                            d[ow] += s[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            d[ow * sw] += s[ow];
                }
            }
}

/* Fills each of rows rows of n floats with its bias (0 without) plus res
 * (rows x n, a fused residual; may be NULL), so the GEMM accumulates onto it
 * (beta = 1): no separate zeroing, bias or add pass. */
static NN_HOT void
s_fill_bias_rows(float *y, const float *bias, const float *res, int rows, int n)
{
    if (res) {
        for (int m = 0; m < rows; m++) {
            float bv = bias ? bias[m] : 0.0f;
            float *r = y + (size_t) m * n;
            const float *q = res + (size_t) m * n;
            for (int i = 0; i < n; i++)
                r[i] = q[i] + bv;
        }
        return;
    }
    if (!bias) {
        memset(y, 0, (size_t) rows * n * sizeof(float));
        return;
    }
    for (int m = 0; m < rows; m++) {
        float bv = bias[m];
        float *r = y + (size_t) m * n;
        for (int i = 0; i < n; i++)
            r[i] = bv;
    }
}

/* Copies image j of a group GEMM result tmp (M rows of NN) into y, plus
 * bias and the image's residual rn (may be NULL), through a ReLU if asked. */
static NN_HOT void
s_scatter_group(const float *tmp, int M, int NN, int j, int N, const float *bias,
                const float *rn, float *yn, bool relu)
{
    for (int m = 0; m < M; m++) {
        const float *src = tmp + (size_t) m * NN + (size_t) j * N;
        float *dst = yn + (size_t) m * N;
        float bv = bias ? bias[m] : 0.0f;
        if (rn) {
            const float *r = rn + (size_t) m * N;
            for (int i = 0; i < N; i++) {
                float v = src[i] + bv + r[i];
                dst[i] = relu ? (v > 0.0f ? v : 0.0f) : v;
            }
            continue;
        }
        if (relu)
            for (int i = 0; i < N; i++)
                dst[i] = src[i] + bv > 0.0f ? src[i] + bv : 0.0f;
        else
            for (int i = 0; i < N; i++)
                dst[i] = src[i] + bv;
    }
}

/* The output gradient of g images (each osz floats, M maps of OH x OW) laid
 * onto the grids of the shifted-GEMM and phase paths: map m of image n at
 * tmp + m * g * img + n * img, rows wgrid apart, zero where no output
 * exists. Adds each map's sum to db[m] when db is not NULL. */
static void
s_dy_to_grid(const float *dy, size_t osz, int g, int M, int OH, int OW, int wgrid, size_t img,
             float *tmp, float *db)
{
    size_t P = (size_t) g * img;
    memset(tmp, 0, (size_t) M * P * sizeof(float));
    for (int n = 0; n < g; n++)
        for (int m = 0; m < M; m++) {
            const float *src = dy + (size_t) n * osz + (size_t) m * OH * OW;
            float *dst = tmp + (size_t) m * P + (size_t) n * img;
            for (int oh = 0; oh < OH; oh++)
                memcpy(dst + (size_t) oh * wgrid, src + (size_t) oh * OW, (size_t) OW * sizeof(float));
            if (db)
                db[m] += s_sum(src, OH * OW);
        }
}

/* ---- stride-1 convolution as shifted GEMMs
 *
 * With the input zero-padded to Hp x Wp and output positions numbered on the
 * padded grid (p = oh * Wp + ow), tap (i, j) of the kernel reads input
 * position p + i * Wp + j: for every tap the input is one strided matrix
 * [C x P] at a shifted offset, so out = sum over taps of W_tap [M x C] times
 * that matrix, with no im2col (measured 1.4x to 2x faster at 28x28 and
 * 14x14). Several images share the GEMMs, one after the other in each padded
 * channel row; positions outside the output (ow >= OW, oh >= OH) are computed
 * and dropped. */
int nn_conv_shift_min_c = 16;

static bool
s_use_shift(const nn_layer_t *L)
{
    const int *a = L->args;
    /* below ~10x10 the padding costs more than im2col does (measured at 7x7) */
    return a[NN_A_SH] == 1 && a[NN_A_SW] == 1 && L->is.c >= nn_conv_shift_min_c
           && !s_conv_is_1x1(a) && (L->is.h * L->is.w >= 100 || nn_conv_shift_min_c < 16);
}

typedef struct {
    int C, M, H, W, kh, kw, ph, pw, OH, OW, Hp, Wp, taps;
    size_t img;             /* Hp * Wp */
    size_t slack;           /* reads past the last position of a row */
} s_shift_t;

static s_shift_t
s_shift_geom(const nn_layer_t *L)
{
    const int *a = L->args;
    s_shift_t g = { L->is.c, L->os.c, L->is.h, L->is.w, a[NN_A_KH], a[NN_A_KW], a[NN_A_PH],
                    a[NN_A_PW], L->os.h, L->os.w, 0, 0, 0, 0, 0 };
    g.Hp = g.H + 2 * g.ph;
    g.Wp = g.W + 2 * g.pw;
    g.taps = g.kh * g.kw;
    g.img = (size_t) g.Hp * g.Wp;
    g.slack = (size_t) g.kh * g.Wp + (size_t) g.kw;
    return g;
}

/* Copies images [0, g) of x (C x H x W each) into the padded rows of pad,
 * zeroing only what the GEMMs read around them (borders and the slack after
 * the last image), not the whole buffer first: one write per float. */
static NN_HOT void
s_shift_pad(const s_shift_t *q, const float *x, int g, float *pad, size_t ld)
{
    size_t gap = (size_t) 2 * q->pw;        /* right border of a row + left of the next */
    size_t head = (size_t) q->ph * q->Wp + q->pw;
    size_t tail = (size_t) q->ph * q->Wp + q->pw;
    for (int c = 0; c < q->C; c++) {
        float *row = pad + (size_t) c * ld;
        for (int n = 0; n < g; n++) {
            const float *src = x + ((size_t) n * q->C + c) * q->H * q->W;
            float *d = row + (size_t) n * q->img;
            memset(d, 0, head * sizeof(float));
            d += head;
            for (int h = 0; h < q->H; h++) {
                memcpy(d, src + (size_t) h * q->W, (size_t) q->W * sizeof(float));
                d += q->W;
                if (h + 1 < q->H) {
                    memset(d, 0, gap * sizeof(float));
                    d += gap;
                }
            }
            memset(d, 0, tail * sizeof(float));
        }
        memset(row + (size_t) g * q->img, 0, q->slack * sizeof(float));
    }
}

/* Weights [M][C][kh][kw] -> per tap [taps][M][C]. */
static void
s_shift_weights(const s_shift_t *q, const float *w, float *wt)
{
    for (int m = 0; m < q->M; m++)
        for (int c = 0; c < q->C; c++)
            for (int t = 0; t < q->taps; t++)
                wt[((size_t) t * q->M + m) * q->C + c] = w[((size_t) m * q->C + c) * q->taps + t];
}

static void s_relu(const float *x, float *y, size_t n);

/* Copies the valid positions of one output plane off the padded grid, plus
 * bias and the plane of a fused residual res (may be NULL), through a ReLU
 * when asked (the fused epilogue). */
static NN_HOT void
s_shift_unpad(const float *src, float *dst, int OH, int OW, int Wp, float bv, const float *res,
              bool relu)
{
    for (int oh = 0; oh < OH; oh++) {
        const float *sr = src + (size_t) oh * Wp;
        float *dr = dst + (size_t) oh * OW;
        if (res) {
            const float *rr = res + (size_t) oh * OW;
            for (int ow = 0; ow < OW; ow++) {
                float v = sr[ow] + bv + rr[ow];
                dr[ow] = relu ? (v > 0.0f ? v : 0.0f) : v;
            }
        } else if (relu)
            for (int ow = 0; ow < OW; ow++)
                dr[ow] = sr[ow] + bv > 0.0f ? sr[ow] + bv : 0.0f;
        else
            for (int ow = 0; ow < OW; ow++)
                dr[ow] = sr[ow] + bv;
    }
}

static void
s_shift_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y, const float *w,
                const float *bias, bool relu)
{
    s_shift_t q = s_shift_geom(L);
    int b = s->b;
    int G = (int) (GEMM_TARGET_N / q.img);
    G = G < 1 ? 1 : G > b ? b : G;
    size_t ld = (size_t) G * q.img + q.slack;
    s_reserve(&s->pad, &s->pad_cap, (size_t) q.C * ld);
    s_reserve(&s->tmp, &s->tmp_cap, (size_t) q.M * G * q.img);
    const float *wt = s->wt_pre;
    size_t tap = s->wt_tap;
    if (!wt) {
        s_reserve(&s->wt, &s->wt_cap, (size_t) q.M * q.C * q.taps);
        s_shift_weights(&q, w, s->wt);
        wt = s->wt;
        tap = (size_t) q.M * q.C;
    }
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0);
        int P = (int) ((size_t) g * q.img);
        s_shift_pad(&q, x + (size_t) n0 * L->isz, g, s->pad, ld);
        for (int t = 0; t < q.taps; t++) {
            int i = t / q.kw, j = t % q.kw;
            nn_gemm(false, false, q.M, P, q.C, 1.0f, wt + (size_t) t * tap, q.C,
                    s->pad + (size_t) i * q.Wp + j, (int) ld, t ? 1.0f : 0.0f, s->tmp, P);
        }
        for (int n = 0; n < g; n++)
            for (int m = 0; m < q.M; m++) {
                const float *src = s->tmp + (size_t) m * P + (size_t) n * q.img;
                size_t o = (size_t) (n0 + n) * L->osz + (size_t) m * q.OH * q.OW;
                s_shift_unpad(src, y + o, q.OH, q.OW, q.Wp, bias ? bias[m] : 0.0f,
                              s->res ? s->res + o : NULL, relu);
            }
    }
}

static void
s_shift_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy,
                 float *dx, bool acc, const float *w, float *dw, float *db)
{
    s_shift_t q = s_shift_geom(L);
    int b = s->b;
    int G = (int) (GEMM_TARGET_N / q.img);
    G = G < 1 ? 1 : G > b ? b : G;
    size_t ld = (size_t) G * q.img + q.slack;
    s_reserve(&s->pad, &s->pad_cap, (size_t) q.C * ld);
    s_reserve(&s->tmp, &s->tmp_cap, (size_t) q.M * G * q.img);
    if (dx)
        s_reserve(&s->pad2, &s->pad2_cap, (size_t) q.C * ld);
    /* wt: the per-tap weights, then dW per tap */
    size_t wsz = (size_t) q.M * q.C * q.taps;
    s_reserve(&s->wt, &s->wt_cap, 2 * wsz);
    s_shift_weights(&q, w, s->wt);
    float *dwt = s->wt + wsz;
    memset(dwt, 0, wsz * sizeof(float));
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0);
        int P = (int) ((size_t) g * q.img);
        s_shift_pad(&q, x + (size_t) n0 * L->isz, g, s->pad, ld);
        /* dY on the padded grid, zero where no output exists */
        s_dy_to_grid(dy + (size_t) n0 * L->osz, L->osz, g, q.M, q.OH, q.OW, q.Wp, q.img, s->tmp,
                     db);
        for (int t = 0; t < q.taps; t++) {
            int i = t / q.kw, j = t % q.kw;
            nn_gemm(false, true, q.M, q.C, P, 1.0f, s->tmp, P, s->pad + (size_t) i * q.Wp + j,
                    (int) ld, 1.0f, dwt + (size_t) t * q.M * q.C, q.C);
        }
        if (!dx)
            continue;
        memset(s->pad2, 0, (size_t) q.C * ld * sizeof(float));
        for (int t = 0; t < q.taps; t++) {
            int i = t / q.kw, j = t % q.kw;
            nn_gemm(true, false, q.C, P, q.M, 1.0f, s->wt + (size_t) t * q.M * q.C, q.C, s->tmp,
                    P, 1.0f, s->pad2 + (size_t) i * q.Wp + j, (int) ld);
        }
        for (int c = 0; c < q.C; c++)
            for (int n = 0; n < g; n++) {
                const float *src = s->pad2 + (size_t) c * ld + (size_t) n * q.img
                                   + (size_t) q.ph * q.Wp + q.pw;
                float *dst = dx + ((size_t) (n0 + n) * q.C + c) * q.H * q.W;
                for (int h = 0; h < q.H; h++) {
                    const float *sr = src + (size_t) h * q.Wp;
                    float *dr = dst + (size_t) h * q.W;
                    if (acc)
                        for (int k = 0; k < q.W; k++)
                            dr[k] += sr[k];
                    else
                        memcpy(dr, sr, (size_t) q.W * sizeof(float));
                }
            }
    }
    for (int m = 0; m < q.M; m++)
        for (int c = 0; c < q.C; c++)
            for (int t = 0; t < q.taps; t++)
                dw[((size_t) m * q.C + c) * q.taps + t] += dwt[((size_t) t * q.M + m) * q.C + c];
}

/* ---- stride-2 convolution as shifted GEMMs on the input's phases
 *
 * With x split into its four phases P_ab[u][v] = x[2u + a - ph][2v + b - pw]
 * (zero outside x), a stride-2 conv is a sum of stride-1 convs on the phases:
 * y[oh][ow] = sum over (a, b) and (di, dj) of w[2di + a][2dj + b] times
 * P_ab[oh + di][ow + dj], sub-kernels of ceil(kh/2) x ceil(kw/2) taps at most
 * (3x3: 2x2, 2x1, 1x2 and 1x1). The phases sit on one Hq x Wq grid as
 * nph x C rows, ordered (0,1), (0,0), (1,0), (1,1): the phases that share a
 * shift (di, dj) are then always adjacent rows, so each shift is ONE GEMM
 * over np x C rows (3x3: 4 GEMMs of 4C, 2C, 2C and C rows instead of im2col
 * and one GEMM of 9C). As in the stride-1 shifted path, positions on the grid
 * outside the output (oh = OH, ow = OW) are computed and dropped. */
int nn_conv_poly_min_c = 16;

static bool
s_poly_choice(const nn_layer_t *L)
{
    const int *a = L->args;
    /* 1x1 kernels (a subsample) and outputs below 10x10 (the grid's extra
     * row and column: 31 % more work at 7x7) stay faster with im2col
     * (measured at batch 64: 32@28 and 64@14 -> 1x1 s2, 64@14 -> 128@7) */
    return L->type == NN_L_CONV && a[NN_A_SH] == 2 && a[NN_A_SW] == 2 && a[NN_A_KH] <= 8
           && a[NN_A_KW] <= 8 && L->is.c >= nn_conv_poly_min_c
           && (nn_conv_poly_min_c < 16
               || (a[NN_A_KH] * a[NN_A_KW] > 1 && L->os.h * L->os.w >= 100));
}

typedef struct {
    int C, M, H, W, kh, kw, ph, pw, OH, OW, Hq, Wq;
    int nph;                /* phases the kernel reads (4, 2 or 1) */
    int pa[4], pb[4];       /* phase i is (pa[i], pb[i]) */
    int nsh;                /* shifts (di, dj) */
    int di[4 * 4], dj[4 * 4], p0[4 * 4], np[4 * 4];
    size_t woff[4 * 4];     /* offset of shift t's M x np*C weights */
    size_t img;             /* Hq * Wq */
    size_t slack;           /* reads past the last position of a row */
} s_poly_t;

/* kh, kw <= 8: at most 4 x 4 shifts (layers with larger kernels keep im2col) */
static bool
s_poly_geom(const nn_layer_t *L, s_poly_t *q)
{
    const int *a = L->args;
    static const int order[4][2] = { { 0, 1 }, { 0, 0 }, { 1, 0 }, { 1, 1 } };
    memset(q, 0, sizeof *q);
    q->C = L->is.c;
    q->M = L->os.c;
    q->H = L->is.h;
    q->W = L->is.w;
    q->kh = a[NN_A_KH];
    q->kw = a[NN_A_KW];
    q->ph = a[NN_A_PH];
    q->pw = a[NN_A_PW];
    q->OH = L->os.h;
    q->OW = L->os.w;
    int kh2 = (q->kh + 1) / 2, kw2 = (q->kw + 1) / 2;
    if (kh2 > 4 || kw2 > 4)
        return false;
    q->Hq = q->OH + kh2 - 1;
    q->Wq = q->OW + kw2 - 1;
    q->img = (size_t) q->Hq * q->Wq;
    q->slack = (size_t) kh2 * q->Wq + (size_t) kw2;
    for (int i = 0; i < 4; i++)
        if (order[i][0] < q->kh && order[i][1] < q->kw) {
            q->pa[q->nph] = order[i][0];
            q->pb[q->nph] = order[i][1];
            q->nph++;
        }
    size_t off = 0;
    for (int di = 0; di < kh2; di++)
        for (int dj = 0; dj < kw2; dj++) {
            int t = q->nsh++, first = -1, n = 0;
            for (int i = 0; i < q->nph; i++)
                if (2 * di + q->pa[i] < q->kh && 2 * dj + q->pb[i] < q->kw) {
                    if (first < 0)
                        first = i;
                    n++;
                }
            q->di[t] = di;
            q->dj[t] = dj;
            q->p0[t] = first;
            q->np[t] = n;
            q->woff[t] = off;
            off += (size_t) q->M * n * q->C;
        }
    return true;
}

static bool
s_use_poly(const nn_layer_t *L)
{
    return L->poly;
}

/* Weights [M][C][kh][kw] -> per shift t an M x np[t]*C matrix whose column
 * (i - p0[t]) * C + c is the tap of phase i at that shift; M*C*kh*kw floats
 * in all (every tap belongs to one phase and one shift): dst = that layout
 * of src. back: the adjoint, src in the shift layout added into dst (the
 * weight gradient). */
static void
s_poly_weights(const s_poly_t *q, const float *src, float *dst, bool back)
{
    for (int t = 0; t < q->nsh; t++) {
        int npc = q->np[t] * q->C;
        for (int m = 0; m < q->M; m++)
            for (int i = 0; i < q->np[t]; i++) {
                int p = q->p0[t] + i;
                int r = 2 * q->di[t] + q->pa[p], s = 2 * q->dj[t] + q->pb[p];
                for (int c = 0; c < q->C; c++) {
                    size_t a = q->woff[t] + (size_t) m * npc + (size_t) i * q->C + c;
                    size_t b = (((size_t) m * q->C + c) * q->kh + r) * q->kw + s;
                    if (back)
                        dst[b] += src[a];
                    else
                        dst[a] = src[b];
                }
            }
    }
}

/* Copies the phases of images [0, g) of x into the rows of pad (phase-major,
 * C rows per phase, images one after the other in a row), zeros outside x
 * and in the slack after the last image. Each input row is read once and
 * split into its two column phases (measured at batch 64, 32@28: 0.83 ->
 * 0.64 ms against one pass per phase). */
static NN_HOT void
s_poly_pad(const s_poly_t *q, const float *x, int g, float *pad, size_t ld)
{
    int idx[2][2] = { { -1, -1 }, { -1, -1 } };
    for (int p = 0; p < q->nph; p++)
        idx[q->pa[p]][q->pb[p]] = p;
    int W = q->W, Wq = q->Wq, half = W / 2;
    /* column w goes to phase (w + pw) & 1 at v = (w + pw) >> 1 */
    int be = q->pw & 1, bo = (1 + q->pw) & 1;
    int ve = q->pw >> 1, vo = (1 + q->pw) >> 1;
    bool fast = ve + (W + 1) / 2 <= Wq && vo + half <= Wq;
    for (int c = 0; c < q->C; c++)
        for (int n = 0; n < g; n++) {
            const float *src = x + ((size_t) n * q->C + c) * q->H * W;
            float *base[4] = { NULL, NULL, NULL, NULL };
            for (int p = 0; p < q->nph; p++) {
                base[p] = pad + ((size_t) p * q->C + c) * ld + (size_t) n * q->img;
                memset(base[p], 0, q->img * sizeof(float));
            }
            for (int h = 0; h < q->H; h++) {
                int u = (h + q->ph) >> 1, a = (h + q->ph) & 1;
                if (u >= q->Hq)
                    continue;
                const float *sr = src + (size_t) h * W;
                int pe = idx[a][be], po = idx[a][bo];
                if (fast && pe >= 0 && po >= 0) {
                    float *de = base[pe] + (size_t) u * Wq + ve;
                    float *dd = base[po] + (size_t) u * Wq + vo;
                    for (int v = 0; v < half; v++) {
                        de[v] = sr[2 * v];
                        dd[v] = sr[2 * v + 1];
                    }
                    if (W & 1)
                        de[half] = sr[W - 1];
                    continue;
                }
                for (int w = 0; w < W; w++) {
                    int v = (w + q->pw) >> 1, p = idx[a][(w + q->pw) & 1];
                    if (p >= 0 && v < Wq)
                        base[p][(size_t) u * Wq + v] = sr[w];
                }
            }
        }
    for (int r = 0; r < q->nph * q->C; r++)
        memset(pad + (size_t) r * ld + (size_t) g * q->img, 0, q->slack * sizeof(float));
}

/* Images of one GEMM: a grid of ~GEMM_TARGET_N positions (measured best on
 * the reference net's 32@28 -> 64@14 and 64@14 -> 128@7 layers). */
static int
s_poly_group(const s_poly_t *q, int b)
{
    int G = (int) (GEMM_TARGET_N / q->img);
    return G < 1 ? 1 : G > b ? b : G;
}

static void
s_poly_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y, const float *w,
               const float *bias, bool relu)
{
    s_poly_t q;
    s_poly_geom(L, &q);
    int b = s->b, G = s_poly_group(&q, b);
    size_t ld = (size_t) G * q.img + q.slack;
    s_reserve(&s->pad, &s->pad_cap, (size_t) q.nph * q.C * ld);
    s_reserve(&s->tmp, &s->tmp_cap, (size_t) q.M * G * q.img);
    const float *wt = s->wt_pre;
    if (!wt) {
        s_reserve(&s->wt, &s->wt_cap, L->n_w);
        s_poly_weights(&q, w, s->wt, false);
        wt = s->wt;
    }
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0);
        int P = (int) ((size_t) g * q.img);
        s_poly_pad(&q, x + (size_t) n0 * L->isz, g, s->pad, ld);
        for (int t = 0; t < q.nsh; t++) {
            int npc = q.np[t] * q.C;
            nn_gemm(false, false, q.M, P, npc, 1.0f, wt + q.woff[t], npc,
                    s->pad + (size_t) q.p0[t] * q.C * ld + (size_t) q.di[t] * q.Wq + q.dj[t],
                    (int) ld, t ? 1.0f : 0.0f, s->tmp, P);
        }
        for (int n = 0; n < g; n++)
            for (int m = 0; m < q.M; m++) {
                const float *src = s->tmp + (size_t) m * P + (size_t) n * q.img;
                size_t o = (size_t) (n0 + n) * L->osz + (size_t) m * q.OH * q.OW;
                s_shift_unpad(src, y + o, q.OH, q.OW, q.Wq, bias ? bias[m] : 0.0f,
                              s->res ? s->res + o : NULL, relu);
            }
    }
}

/* Adds (acc) or writes the gradient on the phase grid back to the input
 * positions of images [0, g): every input position is in one phase; those
 * the conv never reads get 0. */
static NN_HOT void
s_poly_unpad(const s_poly_t *q, const float *pad, size_t ld, int g, float *dx, bool acc)
{
    int idx[2][2] = { { -1, -1 }, { -1, -1 } };
    for (int p = 0; p < q->nph; p++)
        idx[q->pa[p]][q->pb[p]] = p;
    for (int c = 0; c < q->C; c++)
        for (int n = 0; n < g; n++) {
            float *dst = dx + ((size_t) n * q->C + c) * q->H * q->W;
            for (int h = 0; h < q->H; h++) {
                float *dr = dst + (size_t) h * q->W;
                int u = (h + q->ph) >> 1, a = (h + q->ph) & 1;
                const float *sr[2] = { NULL, NULL };
                for (int bb = 0; bb < 2; bb++)
                    if (u < q->Hq && idx[a][bb] >= 0)
                        sr[bb] = pad + ((size_t) idx[a][bb] * q->C + c) * ld
                                 + (size_t) n * q->img + (size_t) u * q->Wq;
                for (int w = 0; w < q->W; w++) {
                    int v = (w + q->pw) >> 1, bb = (w + q->pw) & 1;
                    float val = sr[bb] && v < q->Wq ? sr[bb][v] : 0.0f;
                    dr[w] = acc ? dr[w] + val : val;
                }
            }
        }
}

static void
s_poly_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy,
                float *dx, bool acc, const float *w, float *dw, float *db)
{
    s_poly_t q;
    s_poly_geom(L, &q);
    int b = s->b, G = s_poly_group(&q, b);
    size_t ld = (size_t) G * q.img + q.slack;
    size_t rows = (size_t) q.nph * q.C;
    s_reserve(&s->pad, &s->pad_cap, rows * ld);
    s_reserve(&s->tmp, &s->tmp_cap, (size_t) q.M * G * q.img);
    if (dx)
        s_reserve(&s->pad2, &s->pad2_cap, rows * ld);
    /* wt: the per-shift weights, then their gradient */
    s_reserve(&s->wt, &s->wt_cap, 2 * L->n_w);
    s_poly_weights(&q, w, s->wt, false);
    float *dwt = s->wt + L->n_w;
    memset(dwt, 0, L->n_w * sizeof(float));
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0);
        int P = (int) ((size_t) g * q.img);
        s_poly_pad(&q, x + (size_t) n0 * L->isz, g, s->pad, ld);
        /* dY on the grid, zero where no output exists */
        s_dy_to_grid(dy + (size_t) n0 * L->osz, L->osz, g, q.M, q.OH, q.OW, q.Wq, q.img, s->tmp,
                     db);
        for (int t = 0; t < q.nsh; t++) {
            int npc = q.np[t] * q.C;
            size_t off = (size_t) q.p0[t] * q.C * ld + (size_t) q.di[t] * q.Wq + q.dj[t];
            nn_gemm(false, true, q.M, npc, P, 1.0f, s->tmp, P, s->pad + off, (int) ld, 1.0f,
                    dwt + q.woff[t], npc);
        }
        if (!dx)
            continue;
        memset(s->pad2, 0, rows * ld * sizeof(float));
        for (int t = 0; t < q.nsh; t++) {
            int npc = q.np[t] * q.C;
            size_t off = (size_t) q.p0[t] * q.C * ld + (size_t) q.di[t] * q.Wq + q.dj[t];
            nn_gemm(true, false, npc, P, q.M, 1.0f, s->wt + q.woff[t], npc, s->tmp, P, 1.0f,
                    s->pad2 + off, (int) ld);
        }
        s_poly_unpad(&q, s->pad2, ld, g, dx + (size_t) n0 * L->isz, acc);
    }
    s_poly_weights(&q, dwt, dw, true);
}

/* ---- Winograd F(4x4, 3x3) for 3x3 stride-1 pad-1 convs (nn/wino.c) */
int nn_conv_wino_min_c = 16;

/* Decided once per layer when it is built (and so when a model is loaded):
 * the path, and the weights prepared at fold time, never change under it. */
static bool
s_wino_choice(const nn_layer_t *L)
{
    const int *a = L->args;
    return L->type == NN_L_CONV && a[NN_A_KH] == 3 && a[NN_A_KW] == 3 && a[NN_A_SH] == 1
           && a[NN_A_SW] == 1 && a[NN_A_PH] == 1 && a[NN_A_PW] == 1
           && L->is.c >= nn_conv_wino_min_c && L->os.c >= nn_conv_wino_min_c
           /* the transformed weights are 4x the layer's: past 2^19 channel
            * pairs (72 MB of them) a loaded file could ask for gigabytes */
           && (size_t) L->is.c * (size_t) L->os.c <= ((size_t) 1 << 19);
}

static bool
s_use_wino(const nn_layer_t *L)
{
    return L->wino;
}

/* Forward of a conv layer on s->b images; relu (inference only) applies a
 * ReLU to the output, fused into the copy out of the GEMM where there is one;
 * s->res (inference only, may be NULL) is added before it. */
static void
s_conv_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y, const float *w,
               const float *bias, bool relu)
{
    if (s_use_wino(L)) {
        /* inference: weights transformed at fold time; training: now */
        const float *u = s->wt_pre;
        if (!u) {
            s_reserve(&s->wu, &s->wu_cap, nn_wino_weights_size(L->is.c, L->os.c));
            nn_wino_weights(w, L->os.c, L->is.c, false, s->wu);
            u = s->wu;
        }
        nn_wino_conv(s->b, L->is.c, L->os.c, L->is.h, L->is.w, x, u, bias, s->res, relu, false,
                     y, &s->wino);
        return;
    }
    if (s_use_poly(L)) {
        s_poly_forward(L, s, x, y, w, bias, relu);
        return;
    }
    if (s_use_shift(L)) {
        s_shift_forward(L, s, x, y, w, bias, relu);
        return;
    }
    int b = s->b, M = L->os.c, N = L->os.h * L->os.w;
    int K = (int) (L->n_w / (size_t) M);
    if (s_conv_is_1x1(L->args)) {
        for (int n = 0; n < b; n++) {
            float *yn = y + (size_t) n * L->osz;
            s_fill_bias_rows(yn, bias, s->res ? s->res + (size_t) n * L->osz : NULL, M, N);
            nn_gemm(false, false, M, N, K, 1.0f, w, K, x + (size_t) n * L->isz, N, 1.0f, yn, N);
            if (relu)
                s_relu(yn, yn, (size_t) M * N);
        }
        return;
    }
    int G = s_group(N, b, GEMM_IM2COL_FWD_N);
    s_reserve(&s->col, &s->col_cap, (size_t) K * G * N);
    if (G > 1)
        s_reserve(&s->tmp, &s->tmp_cap, (size_t) M * G * N);
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0), NN = g * N;
        for (int j = 0; j < g; j++)
            s_im2col(x + (size_t) (n0 + j) * L->isz, L, s->col + (size_t) j * N, NN);
        if (g == 1) {
            float *yn = y + (size_t) n0 * L->osz;
            s_fill_bias_rows(yn, bias, s->res ? s->res + (size_t) n0 * L->osz : NULL, M, N);
            nn_gemm(false, false, M, N, K, 1.0f, w, K, s->col, N, 1.0f, yn, N);
            if (relu)
                s_relu(yn, yn, (size_t) M * N);
            continue;
        }
        nn_gemm(false, false, M, NN, K, 1.0f, w, K, s->col, NN, 0.0f, s->tmp, NN);
        for (int j = 0; j < g; j++)
            s_scatter_group(s->tmp, M, NN, j, N, bias,
                            s->res ? s->res + (size_t) (n0 + j) * L->osz : NULL,
                            y + (size_t) (n0 + j) * L->osz, relu);
    }
}

static NN_HOT void
s_row_sums_add(const float *dy, int rows, int n, float *db)
{
    for (int m = 0; m < rows; m++)
        db[m] += s_sum(dy + (size_t) m * n, n);
}

static void
s_conv_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy,
                float *dx, bool acc, const float *w, float *dw, float *db)
{
    if (s_use_wino(L)) {
        int b = s->b, C = L->is.c, K = L->os.c, H = L->os.h, W = L->os.w;
        nn_wino_weight_grad(b, C, K, H, W, x, dy, dw, &s->wino);
        if (db)
            for (int n = 0; n < b; n++)
                s_row_sums_add(dy + (size_t) n * L->osz, K, H * W, db);
        if (dx) {
            /* the input gradient is the same conv of dy with the kernel
             * flipped and its channels swapped */
            s_reserve(&s->wu, &s->wu_cap, nn_wino_weights_size(K, C));
            nn_wino_weights(w, K, C, true, s->wu);
            nn_wino_conv(b, K, C, H, W, dy, s->wu, NULL, NULL, false, acc, dx, &s->wino);
        }
        return;
    }
    if (s_use_poly(L)) {
        s_poly_backward(L, s, x, dy, dx, acc, w, dw, db);
        return;
    }
    if (s_use_shift(L)) {
        s_shift_backward(L, s, x, dy, dx, acc, w, dw, db);
        return;
    }
    int b = s->b, M = L->os.c, N = L->os.h * L->os.w;
    int K = (int) (L->n_w / (size_t) M);
    if (s_conv_is_1x1(L->args)) {
        for (int n = 0; n < b; n++) {
            const float *dyn = dy + (size_t) n * L->osz;
            const float *xn = x + (size_t) n * L->isz;
            nn_gemm(false, true, M, K, N, 1.0f, dyn, N, xn, N, 1.0f, dw, K);
            if (db)
                s_row_sums_add(dyn, M, N, db);
            if (dx)
                nn_gemm(true, false, K, N, M, 1.0f, w, K, dyn, N, acc ? 1.0f : 0.0f,
                        dx + (size_t) n * L->isz, N);
        }
        return;
    }
    int G = s_group(N, b, GEMM_TARGET_N);
    s_reserve(&s->col, &s->col_cap, (size_t) K * G * N);
    if (G > 1)
        s_reserve(&s->tmp, &s->tmp_cap, (size_t) M * G * N);
    if (dx && !acc)
        memset(dx, 0, (size_t) b * L->isz * sizeof(float));   /* col2im accumulates */
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0), NN = g * N;
        for (int j = 0; j < g; j++)
            s_im2col(x + (size_t) (n0 + j) * L->isz, L, s->col + (size_t) j * N, NN);
        const float *dyg = dy + (size_t) n0 * L->osz;
        if (g > 1) {
            for (int j = 0; j < g; j++)
                for (int m = 0; m < M; m++)
                    memcpy(s->tmp + (size_t) m * NN + (size_t) j * N,
                           dy + (size_t) (n0 + j) * L->osz + (size_t) m * N,
                           (size_t) N * sizeof(float));
            dyg = s->tmp;
        }
        nn_gemm(false, true, M, K, NN, 1.0f, dyg, NN, s->col, NN, 1.0f, dw, K);
        if (db)
            s_row_sums_add(dyg, M, NN, db);
        if (dx) {
            nn_gemm(true, false, K, NN, M, 1.0f, w, K, dyg, NN, 0.0f, s->col, NN);
            for (int j = 0; j < g; j++)
                s_col2im(s->col + (size_t) j * N, NN, L, dx + (size_t) (n0 + j) * L->isz);
        }
    }
}

/* Strided depthwise forward with channels innermost from this many channels
 * up: one output position accumulates C-wide vectors per tap (16 channels per
 * AVX-512 instruction, no strided short rows), between two transposes.
 * Measured on the speech net's 64-channel 24x10 map at batch 1, stride 2:
 * 30.8 -> 12.3 us. Stride 1 stays on padded planes (s_dw1_plane_forward): there
 * the transposes cost more than they save (17.5 -> 28.7 us). */
int nn_dw_cl_min_c = 16;

/* dst (cols x rows) = transpose of src (rows x cols), in cache-sized tiles. */
static NN_HOT void
s_transpose(const float *src, float *dst, int rows, int cols)
{
    enum { T = 16 };
    for (int r0 = 0; r0 < rows; r0 += T)
        for (int c0 = 0; c0 < cols; c0 += T) {
            int r1 = SHOP_MIN(r0 + T, rows), c1 = SHOP_MIN(c0 + T, cols);
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c++)
                    dst[(size_t) c * rows + r] = src[(size_t) r * cols + c];
        }
}

/* One image, channels innermost: xt is H x W x C, yt OH x OW x C, wt the
 * taps x C weights, bt C biases. */
static NN_HOT void
s_dw_cl(const float *restrict xt, float *restrict yt, const float *restrict wt,
        const float *restrict bt, const nn_layer_t *L)
{
    const int *a = L->args;
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int kh = a[NN_A_KH], kw = a[NN_A_KW], sh = a[NN_A_SH], sw = a[NN_A_SW];
    int ph = a[NN_A_PH], pw = a[NN_A_PW];
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float *restrict acc = yt + ((size_t) oh * OW + ow) * C;
            for (int c = 0; c < C; c++)
                acc[c] = bt[c];
            for (int i = 0; i < kh; i++) {
                int ih = oh * sh - ph + i;
                if (ih < 0 || ih >= H)
                    continue;
                for (int j = 0; j < kw; j++) {
                    int iw = ow * sw - pw + j;
                    if (iw < 0 || iw >= W)
                        continue;
                    const float *restrict xv = xt + ((size_t) ih * W + iw) * C;
                    const float *restrict wv = wt + (size_t) (i * kw + j) * C;
                    for (int c = 0; c < C; c++)
                        acc[c] += wv[c] * xv[c];
                }
            }
        }
}

/* Stride-1 depthwise convolution on one zero-padded plane: as for the
 * shifted-GEMM conv, output positions live on the padded grid, so each tap is
 * one long contiguous multiply-add instead of many short rows (~4x faster on
 * 20x25 planes). pad holds Hp*Wp + slack floats, acc OH*Wp. */
static NN_HOT void
s_dw1_plane_forward(const float *xp, float *yp, const float *wc, float bv, int H, int W, int kh,
                    int kw, int ph, int pw, float *pad, float *acc)
{
    int Hp = H + 2 * ph, Wp = W + 2 * pw, OH = Hp - kh + 1, OW = Wp - kw + 1, P = OH * Wp;
    memset(pad, 0, ((size_t) Hp * Wp + (size_t) kh * Wp + kw) * sizeof(float));
    for (int h = 0; h < H; h++)
        memcpy(pad + (size_t) (h + ph) * Wp + pw, xp + (size_t) h * W, (size_t) W * sizeof(float));
    for (int p = 0; p < P; p++)
        acc[p] = bv;
    for (int i = 0; i < kh; i++)
        for (int j = 0; j < kw; j++) {
            float wv = wc[i * kw + j];
            const float *src = pad + (size_t) i * Wp + j;
            for (int p = 0; p < P; p++)
                acc[p] += wv * src[p];
        }
    for (int oh = 0; oh < OH; oh++)
        memcpy(yp + (size_t) oh * OW, acc + (size_t) oh * Wp, (size_t) OW * sizeof(float));
}

/* Backward of s_dw1_plane_forward: dW and, when dxp, dX (written or added). */
static NN_HOT void
s_dw1_plane_backward(const float *xp, const float *dyp, float *dxp, bool acc_dx, const float *wc,
                     float *dwc, int H, int W, int kh, int kw, int ph, int pw, float *pad,
                     float *dyg, float *dpad)
{
    int Hp = H + 2 * ph, Wp = W + 2 * pw, OH = Hp - kh + 1, OW = Wp - kw + 1, P = OH * Wp;
    size_t plane = (size_t) Hp * Wp + (size_t) kh * Wp + kw;
    memset(pad, 0, plane * sizeof(float));
    for (int h = 0; h < H; h++)
        memcpy(pad + (size_t) (h + ph) * Wp + pw, xp + (size_t) h * W, (size_t) W * sizeof(float));
    memset(dyg, 0, (size_t) P * sizeof(float));
    for (int oh = 0; oh < OH; oh++)
        memcpy(dyg + (size_t) oh * Wp, dyp + (size_t) oh * OW, (size_t) OW * sizeof(float));
    for (int i = 0; i < kh; i++)
        for (int j = 0; j < kw; j++)
            dwc[i * kw + j] += s_dot(dyg, pad + (size_t) i * Wp + j, P);
    if (!dxp)
        return;
    memset(dpad, 0, plane * sizeof(float));
    for (int i = 0; i < kh; i++)
        for (int j = 0; j < kw; j++) {
            float wv = wc[i * kw + j];
            float *dst = dpad + (size_t) i * Wp + j;
            for (int p = 0; p < P; p++)
                dst[p] += wv * dyg[p];
        }
    for (int h = 0; h < H; h++) {
        const float *src = dpad + (size_t) (h + ph) * Wp + pw;
        float *dst = dxp + (size_t) h * W;
        if (acc_dx)
            for (int k = 0; k < W; k++)
                dst[k] += src[k];
        else
            memcpy(dst, src, (size_t) W * sizeof(float));
    }
}

static NN_HOT void
s_dw_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y, const float *w,
             const float *bias)
{
    const int *a = L->args;
    int b = s->b;
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int kh = a[NN_A_KH], kw = a[NN_A_KW], sh = a[NN_A_SH], sw = a[NN_A_SW];
    int ph = a[NN_A_PH], pw = a[NN_A_PW];
    if (C >= nn_dw_cl_min_c && (sh > 1 || sw > 1)) {
        s_reserve(&s->col, &s->col_cap, (size_t) H * W * C);
        s_reserve(&s->tmp, &s->tmp_cap, (size_t) OH * OW * C);
        s_reserve(&s->wt, &s->wt_cap, (size_t) kh * kw * C + C);
        float *wt = s->wt, *bt = s->wt + (size_t) kh * kw * C;
        for (int c = 0; c < C; c++) {
            for (int t = 0; t < kh * kw; t++)
                wt[(size_t) t * C + c] = w[(size_t) c * kh * kw + t];
            bt[c] = bias ? bias[c] : 0.0f;
        }
        for (int n = 0; n < b; n++) {
            s_transpose(x + (size_t) n * L->isz, s->col, C, H * W);
            s_dw_cl(s->col, s->tmp, wt, bt, L);
            s_transpose(s->tmp, y + (size_t) n * L->osz, OH * OW, C);
        }
        return;
    }
    if (sh == 1 && sw == 1) {
        size_t Wp = (size_t) W + 2 * pw, plane = ((size_t) H + 2 * ph) * Wp + (size_t) kh * Wp + kw;
        s_reserve(&s->pad, &s->pad_cap, plane);
        s_reserve(&s->tmp, &s->tmp_cap, (size_t) OH * Wp);
        for (int n = 0; n < b; n++)
            for (int c = 0; c < C; c++)
                s_dw1_plane_forward(x + ((size_t) n * C + c) * H * W,
                                    y + ((size_t) n * C + c) * OH * OW, w + (size_t) c * kh * kw,
                                    bias ? bias[c] : 0.0f, H, W, kh, kw, ph, pw, s->pad, s->tmp);
        return;
    }
    for (int n = 0; n < b; n++)
        for (int c = 0; c < C; c++) {
            const float *xp = x + ((size_t) n * C + c) * H * W;
            float *yp = y + ((size_t) n * C + c) * OH * OW;
            const float *wc = w + (size_t) c * kh * kw;
            float bv = bias ? bias[c] : 0.0f;
            for (int i = 0; i < OH * OW; i++)
                yp[i] = bv;
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++) {
                    float wv = wc[i * kw + j];
                    int lo, hi;
                    s_valid_range(OW, W, sw, pw, j, &lo, &hi);
                    for (int oh = 0; oh < OH; oh++) {
                        int ih = oh * sh - ph + i;
                        if (ih < 0 || ih >= H)
                            continue;
                        const float *xr = xp + (size_t) ih * W + j - pw;
                        float *yr = yp + (size_t) oh * OW;
                        if (sw == 1)
                            for (int ow = lo; ow < hi; ow++)
                                yr[ow] += wv * xr[ow];
                        else
                            for (int ow = lo; ow < hi; ow++)
                                yr[ow] += wv * xr[ow * sw];
                    }
                }
        }
}

static NN_HOT void
s_dw_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy, float *dx,
              bool accum, const float *w, float *dw, float *db)
{
    const int *a = L->args;
    int b = s->b;
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int kh = a[NN_A_KH], kw = a[NN_A_KW], sh = a[NN_A_SH], sw = a[NN_A_SW];
    int ph = a[NN_A_PH], pw = a[NN_A_PW];
    if (sh == 1 && sw == 1) {
        size_t Wp = (size_t) W + 2 * pw, plane = ((size_t) H + 2 * ph) * Wp + (size_t) kh * Wp + kw;
        s_reserve(&s->pad, &s->pad_cap, plane);
        s_reserve(&s->pad2, &s->pad2_cap, plane);
        s_reserve(&s->tmp, &s->tmp_cap, (size_t) OH * Wp);
        for (int n = 0; n < b; n++)
            for (int c = 0; c < C; c++) {
                const float *dyp = dy + ((size_t) n * C + c) * OH * OW;
                if (db)
                    db[c] += s_sum(dyp, OH * OW);
                s_dw1_plane_backward(x + ((size_t) n * C + c) * H * W, dyp,
                                     dx ? dx + ((size_t) n * C + c) * H * W : NULL, accum,
                                     w + (size_t) c * kh * kw, dw + (size_t) c * kh * kw, H, W, kh,
                                     kw, ph, pw, s->pad, s->tmp, s->pad2);
            }
        return;
    }
    if (dx && !accum)
        memset(dx, 0, (size_t) b * L->isz * sizeof(float));
    for (int n = 0; n < b; n++)
        for (int c = 0; c < C; c++) {
            const float *xp = x + ((size_t) n * C + c) * H * W;
            const float *dyp = dy + ((size_t) n * C + c) * OH * OW;
            float *dxp = dx ? dx + ((size_t) n * C + c) * H * W : NULL;
            const float *wc = w + (size_t) c * kh * kw;
            float *dwc = dw + (size_t) c * kh * kw;
            if (db) {
                float acc = 0.0f;
                for (int i = 0; i < OH * OW; i++)
                    acc += dyp[i];
                db[c] += acc;
            }
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++) {
                    float wv = wc[i * kw + j], acc = 0.0f;
                    int lo, hi;
                    s_valid_range(OW, W, sw, pw, j, &lo, &hi);
                    for (int oh = 0; oh < OH; oh++) {
                        int ih = oh * sh - ph + i;
                        if (ih < 0 || ih >= H)
                            continue;
                        size_t off = (size_t) ih * W + j - pw;
                        const float *xr = xp + off;
                        const float *dr = dyp + (size_t) oh * OW;
                        for (int ow = lo; ow < hi; ow++)
                            acc += dr[ow] * xr[ow * sw];
                        if (dxp) {
                            float *dxr = dxp + off;
                            for (int ow = lo; ow < hi; ow++)
                                dxr[ow * sw] += wv * dr[ow];
                        }
                    }
                    dwc[i * kw + j] += acc;
                }
        }
}

/* Training batchnorm: statistics of this shard, kept for backward. */
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
            sum += s_sum(x + ((size_t) n * C + c) * HW, HW);
        float mu = (float) (sum / cnt);
        double sq = 0.0;
        for (int n = 0; n < b; n++)
            sq += s_sum_sq_dev(x + ((size_t) n * C + c) * HW, HW, mu);
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
            float ab = s_sum(d, HW);
            /* sum d * (p - mu) = sum d * p - mu * sum d */
            sg += (double) s_dot(d, p, HW) - (double) mu * ab;
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

static NN_HOT void
s_relu(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

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

/* 2x2 stride-2 pooling of one plane, the common case, in straight loops the
 * compiler vectorises (same comparisons and sum order as the general loop,
 * so results are identical): vision net at batch 1, 32x28x28 max pool
 * 39 -> N us. idx as in s_pool_forward, may be NULL. */
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

static void
s_softmax(const float *x, float *p, int b, int k)
{
    for (int n = 0; n < b; n++) {
        const float *xr = x + (size_t) n * k;
        float *pr = p + (size_t) n * k;
        float mx = xr[0];
        for (int i = 1; i < k; i++)
            mx = xr[i] > mx ? xr[i] : mx;
        float sum = 0.0f;
        for (int i = 0; i < k; i++) {
            pr[i] = expf(xr[i] - mx);
            sum += pr[i];
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < k; i++)
            pr[i] *= inv;
    }
}

/* ------------------------------------------------------------------ training passes */

void
nn_shard_free(const nn_net_t *net, nn_shard_t *s)
{
    (void) net;
    free(s->out);
    free(s->grad);
    free(s->idx);
    free(s->mask);
    free(s->bnstat);
    free(s->gparams);
    free(s->gset);
    free(s->col);
    free(s->tmp);
    free(s->pad);
    free(s->pad2);
    free(s->wt);
    free(s->wu);
    nn_wino_ws_free(&s->wino);
    free(s->own);
    memset(s, 0, sizeof *s);
}

int
nn_shard_reserve(nn_net_t *net, nn_shard_t *s, int cap)
{
    if (s->own && s->own_cap >= (size_t) cap)
        return 0;
    int n = net->n_layers;
    size_t total = 0;
    for (int l = 0; l < n; l++) {
        const nn_layer_t *L = &net->layers[l];
        size_t per = L->osz * (L->type == NN_L_INPUT ? 1 : 2);
        if (L->type == NN_L_MAXPOOL || L->type == NN_L_DROPOUT)
            per += L->osz;
        total += per * (size_t) cap;
        if (L->type == NN_L_BN)
            total += 3 * (size_t) L->is.c;
    }
    free(s->own);
    s->own = malloc(total * sizeof(float));
    if (!s->own)
        return nn_fail(net, "out of memory for %d training samples (%zu MB)", cap,
                       total * sizeof(float) >> 20);
    s->own_cap = (size_t) cap;
    s->out = xrealloc(s->out, (size_t) n * sizeof(float *));
    s->grad = xrealloc(s->grad, (size_t) n * sizeof(float *));
    s->idx = xrealloc(s->idx, (size_t) n * sizeof(int32_t *));
    s->mask = xrealloc(s->mask, (size_t) n * sizeof(float *));
    s->bnstat = xrealloc(s->bnstat, (size_t) (net->n_bn ? net->n_bn : 1) * sizeof(float *));
    float *p = s->own;
    for (int l = 0; l < n; l++) {
        const nn_layer_t *L = &net->layers[l];
        size_t sz = L->osz * (size_t) cap;
        s->out[l] = p;
        p += sz;
        s->grad[l] = NULL;
        s->idx[l] = NULL;
        s->mask[l] = NULL;
        if (L->type != NN_L_INPUT) {
            s->grad[l] = p;
            p += sz;
        }
        if (L->type == NN_L_MAXPOOL) {
            s->idx[l] = (int32_t *) p;   /* int32 and float have the same size */
            p += sz;
        } else if (L->type == NN_L_DROPOUT) {
            s->mask[l] = p;
            p += sz;
        }
        if (L->type == NN_L_BN) {
            s->bnstat[L->bn_slot] = p;
            p += 3 * (size_t) L->is.c;
        }
    }
    free(s->gparams);
    s->gparams = xmallocarray(net->n_params ? net->n_params : 1, sizeof(float));
    free(s->gset);
    s->gset = xcalloc((size_t) n, sizeof(bool));
    return 0;
}

/* Target probability of class i for one example: the hard label y (targets
 * NULL) or the soft row t, mixed with the uniform distribution by label
 * smoothing eps. Written so that a one-hot row gives the same floats as its
 * label: (1 - eps) * 1 == 1 - eps and (1 - eps) * 0 == 0 exactly. */
static inline float
s_target(const float *t, int y, int i, float eps, float off)
{
    return (t ? (1.0f - eps) * t[i] : (i == y ? 1.0f - eps : 0.0f)) + off;
}

/* Cross-entropy of one row of probabilities pr against its target; the
 * target's mass at the top-1 class goes into *hit (1 or 0 for a label). */
static double
s_xent_row(const float *pr, const float *t, int y, int k, float eps, double *hit)
{
    float off = eps / (float) k;
    double loss = 0.0;
    for (int i = 0; i < k; i++) {
        float ti = s_target(t, y, i, eps, off);
        if (ti > 0.0f)
            loss -= ti * logf(pr[i] > 1e-30f ? pr[i] : 1e-30f);
    }
    int top = nn_argmax(pr, k);
    *hit = t ? t[top] : (double) (top == y);
    return loss;
}

/* d loss / d logits of one row, times scale, written (acc false) or added. */
static void
s_xent_grad_row(const float *pr, const float *t, int y, int k, float eps, float scale, bool acc,
                float *d)
{
    float off = eps / (float) k;
    for (int i = 0; i < k; i++) {
        float ti = s_target(t, y, i, eps, off);
        d[i] = (acc ? d[i] : 0.0f) + (pr[i] - ti) * scale;
    }
}

double
nn_softmax_xent_soft(const float *logits, const float *targets, int n, int k, float smoothing,
                     float *probs, float *grad)
{
    if (!logits || !targets || n < 1 || k < 1 || !(smoothing >= 0.0f && smoothing < 1.0f))
        return NAN;
    /* without the caller's buffer, one row of probabilities at a time */
    float *own = probs ? NULL : xmallocarray((size_t) k, sizeof(float));
    double loss = 0.0, hit;
    for (int q = 0; q < n; q++) {
        const float *t = targets + (size_t) q * k;
        float *pr = probs ? probs + (size_t) q * k : own;
        s_softmax(logits + (size_t) q * k, pr, 1, k);
        loss += s_xent_row(pr, t, 0, k, smoothing, &hit);
        if (grad)
            s_xent_grad_row(pr, t, 0, k, smoothing, 1.0f / (float) n, false,
                            grad + (size_t) q * k);
    }
    free(own);
    return loss / n;
}

static void
s_softmax_xent_forward(nn_shard_t *s, const nn_layer_t *L, const float *x, float *p)
{
    int k = (int) L->osz;
    s_softmax(x, p, s->b, k);
    if (!s->labels && !s->targets)
        return;
    double loss = 0.0, hits = 0.0, hit;
    for (int n = 0; n < s->b; n++) {
        const float *t = s->targets ? s->targets + (size_t) n * k : NULL;
        loss += s_xent_row(p + (size_t) n * k, t, t ? 0 : s->labels[n], k, s->smoothing, &hit);
        hits += hit;
    }
    s->loss = loss;
    s->correct = hits;
}

void
nn_shard_forward_train(nn_net_t *net, nn_shard_t *s)
{
    int b = s->b;
    int relu_done = -1;     /* a ReLU its BN already wrote */
    for (int l = 0; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        const float *x = L->in[0] >= 0 ? s->out[L->in[0]] : NULL;
        float *y = s->out[l];
        const float *w = net->params + L->w_off;
        const float *bias = L->n_b ? net->params + L->b_off : NULL;
        switch (L->type) {
        case NN_L_INPUT:
            break;
        case NN_L_CONV:
            s_conv_forward(L, s, x, y, w, bias, false);
            break;
        case NN_L_DWCONV:
            s_dw_forward(L, s, x, y, w, bias);
            break;
        case NN_L_BN:
            /* BN -> ReLU, nothing else reading the BN: one pass into the
             * ReLU's output (the backward needs only x and the ReLU output) */
            if (l + 1 < net->n_layers && net->layers[l + 1].type == NN_L_RELU
                && net->layers[l + 1].in[0] == l && L->consumers == 1) {
                s_bn_forward_train(L, s, x, s->out[l + 1], w, bias, true);
                relu_done = l + 1;
            } else {
                s_bn_forward_train(L, s, x, y, w, bias, false);
            }
            break;
        case NN_L_RELU:
            if (l != relu_done)
                s_relu(x, y, (size_t) b * L->osz);
            break;
        case NN_L_MAXPOOL:
        case NN_L_AVGPOOL:
            s_pool_forward(L, b, x, y, s->idx[l]);
            break;
        case NN_L_GAP: {
            int HW = L->is.h * L->is.w;
            for (size_t p = 0; p < (size_t) b * L->is.c; p++)
                y[p] = s_sum(x + p * HW, HW) / (float) HW;
            break;
        }
        case NN_L_DENSE:
            s_dense_forward(L, b, x, y, w, bias);
            break;
        case NN_L_DROPOUT: {
            size_t n = (size_t) b * L->osz;
            float keep = 1.0f / (1.0f - L->rate), *m = s->mask[l];
            for (size_t i = 0; i < n; i++) {
                m[i] = nn_rand_float(&s->rng) >= L->rate ? keep : 0.0f;
                y[i] = x[i] * m[i];
            }
            break;
        }
        case NN_L_ADD: {
            const float *x2 = s->out[L->in[1]];
            size_t n = (size_t) b * L->osz;
            for (size_t i = 0; i < n; i++)
                y[i] = x[i] + x2[i];
            break;
        }
        case NN_L_SOFTMAX_XENT:
            s_softmax_xent_forward(s, L, x, y);
            break;
        default:
            break;
        }
    }
}

void
nn_shard_backward(nn_net_t *net, nn_shard_t *s)
{
    int b = s->b;
    memset(s->gparams, 0, net->n_params * sizeof(float));
    /* gset[l]: grad[l] holds a gradient. The first consumer to reach a
     * layer writes its gradient, later ones add: no zeroing pass, and layers
     * no gradient reaches are skipped. */
    bool *gset = s->gset;
    memset(gset, 0, (size_t) net->n_layers * sizeof(bool));
    for (int l = net->n_layers - 1; l >= 1; l--) {
        const nn_layer_t *L = &net->layers[l];
        if (L->type == NN_L_SOFTMAX_XENT ? l != net->output || (!s->labels && !s->targets)
                                        : !gset[l])
            continue;
        int p = L->in[0];
        const float *x = s->out[p];
        const float *dy = s->grad[l];
        /* no gradient for the input image itself */
        float *dx = net->layers[p].type == NN_L_INPUT ? NULL : s->grad[p];
        bool acc = dx && gset[p];
        const float *w = net->params + L->w_off;
        float *dw = s->gparams + L->w_off;
        float *db = L->n_b ? s->gparams + L->b_off : NULL;
        size_t n = (size_t) b * L->osz;
        switch (L->type) {
        case NN_L_CONV:
            s_conv_backward(L, s, x, dy, dx, acc, w, dw, db);
            break;
        case NN_L_DWCONV:
            s_dw_backward(L, s, x, dy, dx, acc, w, dw, db);
            break;
        case NN_L_BN:
            s_bn_backward(L, s, x, dy, dx, acc, w, dw, db);
            break;
        case NN_L_RELU:
            if (dx)
                s_relu_backward(s->out[l], dy, dx, acc, n);
            break;
        case NN_L_MAXPOOL:
        case NN_L_AVGPOOL:
            if (dx)
                s_pool_backward(L, b, dy, dx, acc, s->idx[l]);
            break;
        case NN_L_GAP:
            if (dx) {
                int HW = L->is.h * L->is.w;
                float inv = 1.0f / (float) HW;
                for (size_t q = 0; q < (size_t) b * L->is.c; q++) {
                    float g = dy[q] * inv;
                    float *d = dx + q * HW;
                    for (int i = 0; i < HW; i++)
                        d[i] = (acc ? d[i] : 0.0f) + g;
                }
            }
            break;
        case NN_L_DENSE: {
            int U = L->os.c, I = (int) L->isz;
            nn_gemm(true, false, U, I, b, 1.0f, dy, U, x, I, 1.0f, dw, I);
            for (int q = 0; q < b; q++)
                for (int u = 0; u < U; u++)
                    db[u] += dy[(size_t) q * U + u];
            if (dx)
                nn_gemm(false, false, b, I, U, 1.0f, dy, U, w, I, acc ? 1.0f : 0.0f, dx, I);
            break;
        }
        case NN_L_DROPOUT:
            if (dx)
                s_scale_into(dy, s->mask[l], dx, acc, n);
            break;
        case NN_L_ADD:
            if (dx) {
                s_scale_into(dy, NULL, dx, acc, n);
                gset[p] = true;
            }
            if (net->layers[L->in[1]].type != NN_L_INPUT) {
                int p2 = L->in[1];
                s_scale_into(dy, NULL, s->grad[p2], gset[p2], n);
                gset[p2] = true;
            }
            break;
        case NN_L_SOFTMAX_XENT: {
            if (!dx)
                break;
            int k = (int) L->osz;
            for (int q = 0; q < b; q++) {
                const float *t = s->targets ? s->targets + (size_t) q * k : NULL;
                s_xent_grad_row(s->out[l] + (size_t) q * k, t, t ? 0 : s->labels[q], k,
                                s->smoothing, s->grad_scale, acc, dx + (size_t) q * k);
            }
            break;
        }
        default:
            break;
        }
        if (dx)
            gset[p] = true;
    }
}

/* ------------------------------------------------------------------ inference */

static bool
s_foldable(const nn_net_t *net, int bn)
{
    int p = net->layers[bn].in[0];
    const nn_layer_t *P = &net->layers[p];
    return (P->type == NN_L_CONV || P->type == NN_L_DWCONV || P->type == NN_L_DENSE)
           && P->consumers == 1 && p != net->output;
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
bool nn_fuse_relu = true;
bool nn_fuse_add = true;

static void
s_build_fold(nn_net_t *net)
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
            if ((L->type == NN_L_CONV || L->type == NN_L_DWCONV) && !L->n_b)
                extra += (size_t) L->os.c;
            net->ialias[l] = L->in[0];
            net->ires[l] = -1;
            if (L->type == NN_L_BN && s_foldable(net, l))
                net->folded[l] = true;
        }
        net->iparams = xmallocarray(net->n_params + extra + 1, sizeof(float));
        if (nn_fuse_add)
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
                if (net->folded[l] && nn_fuse_relu
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
        if (L->type != NN_L_CONV && L->type != NN_L_DWCONV && L->type != NN_L_DENSE)
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
    /* shifted-GEMM convs: their weights per tap, once, not at every call
     * (64x64 at 14x14, batch 1: 12-17 us of 125) */
    if (!net->iwt)
        net->iwt = xcalloc((size_t) n, sizeof(float *));
    for (int l = 0; l < n; l++) {
        const nn_layer_t *L = &net->layers[l];
        if (s_use_wino(L)) {
            if (!net->iwt[l])
                net->iwt[l] = xmallocarray(nn_wino_weights_size(L->is.c, L->os.c), sizeof(float));
            nn_wino_weights(net->iparams + L->w_off, L->os.c, L->is.c, false, net->iwt[l]);
            continue;
        }
        if (s_use_poly(L)) {
            s_poly_t q;
            s_poly_geom(L, &q);
            if (!net->iwt[l])
                net->iwt[l] = xmallocarray(L->n_w, sizeof(float));
            s_poly_weights(&q, net->iparams + L->w_off, net->iwt[l], false);
            continue;
        }
        if (L->type != NN_L_CONV || !s_use_shift(L))
            continue;
        s_shift_t q = s_shift_geom(L);
        if (!net->iwt[l])
            net->iwt[l] = xmallocarray((size_t) q.M * q.C * q.taps, sizeof(float));
        s_shift_weights(&q, net->iparams + L->w_off, net->iwt[l]);
    }
    net->fold_valid = true;
}

/* Bias of layer l in iparams (see s_build_fold). */
static const float *
s_ibias(const nn_net_t *net, int l)
{
    const nn_layer_t *L = &net->layers[l];
    if (L->n_b)
        return net->iparams + L->b_off;
    size_t extra = net->n_params;
    for (int m = 0; m < l; m++) {
        const nn_layer_t *P = &net->layers[m];
        if ((P->type == NN_L_CONV || P->type == NN_L_DWCONV) && !P->n_b)
            extra += (size_t) P->os.c;
    }
    return net->iparams + extra;
}

/* Grows the inference buffers to cap samples; aliased layers share them. */
static void
s_inference_reserve(nn_net_t *net, int cap)
{
    int n = net->n_layers;
    if (!net->ibuf) {
        net->ibuf = xcalloc((size_t) n, sizeof(float *));
        net->iout = xcalloc((size_t) n, sizeof(float *));
    }
    if (cap > net->icap) {
        for (int l = 0; l < n; l++) {
            free(net->ibuf[l]);
            net->ibuf[l] = NULL;
            if (!net->folded[l])
                net->ibuf[l] = xmallocarray((size_t) cap * net->layers[l].osz, sizeof(float));
        }
        net->icap = cap;
    }
    for (int l = 0; l < n; l++)
        net->iout[l] = net->folded[l] ? net->iout[net->ialias[l]] : net->ibuf[l];
}

/* CPU time of the calling thread: profiles stay meaningful on a busy machine. */
static double
s_thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}


static void
s_infer_shard(nn_net_t *net, nn_shard_t *s)
{
    int b = s->b;
    /* profiling is for single-threaded benchmark runs */
    bool prof = net->prof && s == &net->ishards[0];
    for (int l = 0; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        const float *x = L->in[0] >= 0 ? s->out[L->in[0]] : NULL;
        float *y = s->out[l];
        const float *w = net->iparams + L->w_off;
        double t0 = prof ? s_thread_cpu_s() : 0;
        size_t n = (size_t) b * L->osz;
        switch (L->type) {
        case NN_L_INPUT:
            break;
        case NN_L_CONV:
            s->wt_pre = net->iwt[l];
            s->wt_tap = (size_t) L->os.c * L->is.c;
            s->res = net->ires[l] >= 0 ? s->out[net->ires[l]] : NULL;
            s_conv_forward(L, s, x, y, w, s_ibias(net, l), net->relu_fused[l]);
            s->wt_pre = NULL;
            s->res = NULL;
            break;
        case NN_L_DWCONV:
            s_dw_forward(L, s, x, y, w, s_ibias(net, l));
            break;
        case NN_L_BN:
            if (!net->folded[l])
                s_bn_infer(L, b, x, y, w, net->iparams + L->b_off, net->state + L->s_off);
            break;
        case NN_L_RELU:
            if (!net->relu_fused[l])
                s_relu(x, y, n);
            break;
        case NN_L_MAXPOOL:
        case NN_L_AVGPOOL:
            s_pool_forward(L, b, x, y, NULL);
            break;
        case NN_L_GAP: {
            int HW = L->is.h * L->is.w;
            for (size_t p = 0; p < (size_t) b * L->is.c; p++)
                y[p] = s_sum(x + p * HW, HW) / (float) HW;
            break;
        }
        case NN_L_DENSE:
            s_dense_forward(L, b, x, y, w, net->iparams + L->b_off);
            break;
        case NN_L_DROPOUT:
            memcpy(y, x, n * sizeof(float));
            break;
        case NN_L_ADD:
            if (!net->folded[l])    /* else done by the conv (s_build_fold) */
                s_add(x, s->out[L->in[1]], y, n, net->relu_fused[l]);
            break;
        case NN_L_SOFTMAX_XENT:
            s_softmax(x, y, b, (int) L->osz);
            break;
        default:
            break;
        }
        if (prof)
            net->prof[l] += s_thread_cpu_s() - t0;
    }
}

static void *
s_infer_thread(void *arg)
{
    nn_shard_t *s = arg;
    s_infer_shard(s->net, s);
    return NULL;
}

int
nn_forward(nn_net_t *net, const float *x, int batch, float *out)
{
    if (!net)
        return -1;
    if (net->input < 0 || net->n_layers < 2)
        return nn_fail(net, "nn_forward: the net has no layers after its input");
    if (!x || batch < 1 || batch > (1 << 20))
        return nn_fail(net, "nn_forward: bad input or batch %d", batch);
    if (!net->fold_valid)
        s_build_fold(net);
    s_inference_reserve(net, batch);
    /* split big batches over threads; below ~8 samples each a thread costs more than it gives */
    int T = SHOP_MIN(net->threads, batch / 8);
    if (T < 1)
        T = 1;
    if (T > net->n_ishards) {
        net->ishards = xrealloc(net->ishards, (size_t) T * sizeof(nn_shard_t));
        for (int t = net->n_ishards; t < T; t++) {
            memset(&net->ishards[t], 0, sizeof(nn_shard_t));
            net->ishards[t].out = xcalloc((size_t) net->n_layers, sizeof(float *));
        }
        net->n_ishards = T;
    }
    const nn_layer_t *in = &net->layers[net->input];
    memcpy(net->iout[net->input], x, (size_t) batch * in->osz * sizeof(float));
    pthread_t tid[64];
    bool started[64] = { false };
    int start = 0;
    for (int t = 0; t < T; t++) {
        nn_shard_t *s = &net->ishards[t];
        s->b = batch / T + (t < batch % T);
        for (int l = 0; l < net->n_layers; l++)
            s->out[l] = net->iout[l] + (size_t) start * net->layers[l].osz;
        s->net = net;
        start += s->b;
        if (t > 0)
            started[t] = pthread_create(&tid[t], NULL, s_infer_thread, s) == 0;
    }
    s_infer_shard(net, &net->ishards[0]);
    for (int t = 1; t < T; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            s_infer_shard(net, &net->ishards[t]);   /* no thread: do it here */
    }
    net->ibatch = batch;
    if (out)
        memcpy(out, net->iout[net->output],
               (size_t) batch * net->layers[net->output].osz * sizeof(float));
    return 0;
}

const float *
nn_layer_output(nn_net_t *net, int layer, nn_shape_t *shape)
{
    if (!net || layer < 0 || layer >= net->n_layers || net->ibatch == 0 || !net->iout)
        return NULL;
    if (shape)
        *shape = net->layers[layer].os;
    return net->iout[layer];
}
