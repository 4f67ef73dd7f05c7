/* nn/fuse.c: one net made of several trained classifiers, a product of
 * experts (G. Hinton 2002): the weighted sum of the members' logits goes
 * through one softmax, so the output is the members' posteriors' weighted
 * geometric mean, renormalised. The result is an ordinary net of the usual
 * layers (batchnorm in inference form as each member's input affine, the
 * members' layers with their parameters and statistics, add), so it saves,
 * loads and runs like any other. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nn/ops.h"

/* Whether layer l of m is a dense layer, or an add of such layers (a fused
 * net's logits), read only by the next layer up: then scaling those dense
 * layers scales l. Marks them in mark (may be NULL). */
static bool
s_mark_logits(const nn_net_t *m, int l, bool *mark)
{
    const nn_layer_t *L = &m->layers[l];
    if (L->consumers != 1)
        return false;
    if (L->type == NN_L_DENSE) {
        if (mark)
            mark[l] = true;
        return true;
    }
    return L->type == NN_L_ADD && s_mark_logits(m, L->in[0], mark)
           && s_mark_logits(m, L->in[1], mark);
}

/* Why member m cannot be fused, into err; 0 when it can. */
static int
s_check_member(const nn_net_t *ref, const nn_net_t *m, int i, char *err, size_t errlen)
{
    if (!m || m->n_layers < 3 || m->output < 0)
        return nn_errf(err, errlen, "member %d: no net", i);
    const nn_layer_t *out = &m->layers[m->output];
    if (out->type != NN_L_SOFTMAX_XENT)
        return nn_errf(err, errlen, "member %d: its output layer is %s, not softmax_xent", i,
                       nn_ltype_name(out->type));
    if (!s_mark_logits(m, out->in[0], NULL))
        return nn_errf(err, errlen, "member %d: its softmax reads %s, not a dense layer (or a sum "
                       "of dense layers) read by nothing else", i,
                       nn_ltype_name(m->layers[out->in[0]].type));
    nn_shape_t a = nn_input_shape(ref), b = nn_input_shape(m);
    if (a.c != b.c || a.h != b.h || a.w != b.w)
        return nn_errf(err, errlen, "member %d: input %dx%dx%d, member 0's %dx%dx%d", i, b.c,
                       b.h, b.w, a.c, a.h, a.w);
    if (nn_output_size(m) != nn_output_size(ref))
        return nn_errf(err, errlen, "member %d: %d outputs, member 0 %d", i, nn_output_size(m),
                       nn_output_size(ref));
    if (m->n_labels != ref->n_labels)
        return nn_errf(err, errlen, "member %d: %d labels, member 0 %d", i, m->n_labels,
                       ref->n_labels);
    for (int k = 0; k < m->n_labels; k++)
        if (strcmp(m->labels[k], ref->labels[k]) != 0)
            return nn_errf(err, errlen, "member %d: label %d is \"%s\", member 0's \"%s\"", i, k,
                           m->labels[k], ref->labels[k]);
    return 0;
}

/* Copies member m's layers 1 .. (its dense logits) into net, reading the
 * layer `in` where m reads its input; their names get the prefix "e<i>.".
 * The dense layers making its logits have their weights and bias scaled by w. Returns the id of the copied
 * logits layer, or -1 with a message in err. */
static int
s_copy_member(nn_net_t *net, const nn_net_t *m, int i, int in, float w, char *err, size_t errlen)
{
    int *map = xmallocarray((size_t) m->n_layers, sizeof *map);
    bool *scaled = xcalloc((size_t) m->n_layers, sizeof *scaled);
    int logits = m->layers[m->output].in[0], id = -1;
    s_mark_logits(m, logits, scaled);
    map[m->input] = in;
    for (int l = 1; l <= logits; l++) {
        const nn_layer_t *L = &m->layers[l];
        id = nn_add_layer(net, L->type, map[L->in[0]], L->in[1] >= 0 ? map[L->in[1]] : -1,
                          L->args, L->rate);
        if (id < 0) {
            nn_errf(err, errlen, "member %d, layer %d: %s", i, l, nn_error(net));
            break;
        }
        map[l] = id;
        const nn_layer_t *N = &net->layers[id];
        memcpy(net->params + N->w_off, m->params + L->w_off, L->n_w * sizeof(float));
        memcpy(net->params + N->b_off, m->params + L->b_off, L->n_b * sizeof(float));
        if (L->n_s)
            memcpy(net->state + N->s_off, m->state + L->s_off, L->n_s * sizeof(float));
        if (scaled[l]) {
            for (size_t k = 0; k < N->n_w; k++)
                net->params[N->w_off + k] *= w;
            for (size_t k = 0; k < N->n_b; k++)
                net->params[N->b_off + k] *= w;
        }
        char name[NN_MAX_NAME + 16];
        if (L->name[0]) {
            snprintf(name, sizeof name, "e%d.%s", i, L->name);
            if (strlen(name) >= NN_MAX_NAME || nn_layer_set_name(net, id, name) != 0) {
                nn_errf(err, errlen, "member %d: layer name %s too long or taken", i, name);
                id = -1;
                break;
            }
        }
    }
    free(map);
    free(scaled);
    return id;
}

nn_net_t *
nn_fuse_experts(nn_net_t *const *members, int n, const float *w, const float *scale,
                const float *shift, char *err, size_t errlen)
{
    if (!members || !w || n < 1 || n > 16) {
        nn_errf(err, errlen, "fusion needs 1 to 16 members with their weights");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (s_check_member(members[0], members[i], i, err, errlen) != 0)
            return NULL;
        if (!(w[i] > 0 && w[i] < 1e6f) || (scale && !(scale[i] > -1e6f && scale[i] < 1e6f
                                                    && scale[i] != 0))
            || (shift && !(shift[i] > -1e6f && shift[i] < 1e6f))) {
            nn_errf(err, errlen, "member %d: weight %g, input scale %g and shift %g: the weight "
                    "must be positive, the scale non-zero, all finite", i, (double) w[i],
                    scale ? (double) scale[i] : 1.0, shift ? (double) shift[i] : 0.0);
            return NULL;
        }
    }
    nn_net_t *net = nn_new(1);
    net->loading = true; /* every parameter is copied: no random initialisation */
    int x = nn_input(net, nn_input_shape(members[0]));
    int sum = -1;
    const char *fail = NULL;
    for (int i = 0; i < n && !fail; i++) {
        int in = x;
        float a = scale ? scale[i] : 1.f, b = shift ? shift[i] : 0.f;
        if (a != 1.f || b != 0.f) {
            /* y = a x + b exactly as a batchnorm at inference: mean 0 and
             * variance 1 - eps make the divisor sqrt(var + eps) exactly 1;
             * before every member layer, so zero padding stays zero */
            char name[NN_MAX_NAME];
            snprintf(name, sizeof name, "e%d.input", i);
            in = nn_batchnorm(net, x);
            if (in < 0 || nn_layer_set_name(net, in, name) != 0) {
                fail = nn_error(net);
                break;
            }
            const nn_layer_t *B = &net->layers[in];
            int C = B->is.c;
            for (int c = 0; c < C; c++) {
                net->params[B->w_off + (size_t) c] = a;
                net->params[B->b_off + (size_t) c] = b;
                net->state[B->s_off + (size_t) c] = 0.f;
                net->state[B->s_off + (size_t) (C + c)] = 1.f - BN_EPS;
            }
        }
        int z = s_copy_member(net, members[i], i, in, w[i], err, errlen);
        if (z < 0) {
            fail = "";
            break;
        }
        sum = sum < 0 ? z : nn_add(net, sum, z);
        if (sum < 0)
            fail = nn_error(net);
    }
    if (!fail && (nn_layer_set_name(net, sum, "logits") != 0 || nn_softmax_xent(net, sum) < 0
                  || (members[0]->n_labels
                      && nn_set_labels(net, (const char *const *) members[0]->labels,
                                       members[0]->n_labels) != 0)))
        fail = nn_error(net);
    net->loading = false;
    if (fail) {
        if (*fail)
            nn_errf(err, errlen, "fusion: %s", fail);
        nn_destroy(&net);
        return NULL;
    }
    nn_set_threads(net, members[0]->threads);
    return net;
}

nn_net_t *
nn_add_outputs(const nn_net_t *m, int k, const int *from, const float *shift,
               const char *const *labels, char *err, size_t errlen)
{
    if (!m || m->n_layers < 3 || m->output < 0 || m->input != 0)
        return nn_errf(err, errlen, "no net"), NULL;
    const nn_layer_t *out = &m->layers[m->output];
    int d = out->type == NN_L_SOFTMAX_XENT ? out->in[0] : -1;
    if (d < 0 || m->layers[d].type != NN_L_DENSE || m->layers[d].consumers != 1) {
        nn_errf(err, errlen, "its output is not a softmax_xent reading a dense layer read by "
                "nothing else");
        return NULL;
    }
    int U = m->layers[d].os.c;
    if (k < 1 || U + k > NN_MAX_DIM || !from || (m->n_labels && !labels)
        || (m->n_labels && m->n_labels != U)) {
        nn_errf(err, errlen, "cannot add %d outputs to %d (labels: %d)", k, U, m->n_labels);
        return NULL;
    }
    for (int j = 0; j < k; j++)
        if (from[j] < 0 || from[j] >= U) {
            nn_errf(err, errlen, "output %d: copies unit %d of %d", U + j, from[j], U);
            return NULL;
        }
    for (int u = 0; shift && u < U + k; u++)
        if (!(fabsf(shift[u]) < 1e6f)) {
            nn_errf(err, errlen, "output %d: bias shift %g", u, (double) shift[u]);
            return NULL;
        }
    nn_net_t *net = nn_new(1);
    net->loading = true; /* every parameter is copied: no random initialisation */
    const char *fail = NULL;
    if (nn_input(net, nn_input_shape(m)) != 0)
        fail = nn_error(net);
    for (int l = 1; l < m->n_layers && !fail; l++) {
        const nn_layer_t *L = &m->layers[l];
        int args[NN_NARGS];
        memcpy(args, L->args, sizeof args);
        if (l == d)
            args[NN_A_OUTC] = U + k;
        int id = nn_add_layer(net, L->type, L->in[0], L->in[1], args, L->rate);
        if (id != l || (L->name[0] && nn_layer_set_name(net, id, L->name) != 0)) {
            fail = nn_error(net);
            break;
        }
        const nn_layer_t *N = &net->layers[id];
        if (L->n_w)
            memcpy(net->params + N->w_off, m->params + L->w_off, L->n_w * sizeof(float));
        if (L->n_b)
            memcpy(net->params + N->b_off, m->params + L->b_off, L->n_b * sizeof(float));
        if (L->n_s)
            memcpy(net->state + N->s_off, m->state + L->s_off, L->n_s * sizeof(float));
        if (l == d) {
            /* the weights are U x I, row u being unit u's */
            size_t I = L->isz;
            for (int j = 0; j < k; j++) {
                memcpy(net->params + N->w_off + (size_t) (U + j) * I,
                       m->params + L->w_off + (size_t) from[j] * I, I * sizeof(float));
                net->params[N->b_off + (size_t) (U + j)] = m->params[L->b_off + (size_t) from[j]];
            }
            for (int u = 0; shift && u < U + k; u++)
                net->params[N->b_off + (size_t) u] += shift[u];
        }
    }
    if (!fail && nn_set_output(net, m->output) != 0)
        fail = nn_error(net);
    for (int i = 0; i < m->n_meta && !fail; i++)
        if (nn_meta_set(net, m->meta_k[i], m->meta_v[i]) != 0)
            fail = nn_error(net);
    if (!fail && m->n_labels) {
        const char **all = xmallocarray((size_t) (U + k), sizeof *all);
        for (int i = 0; i < U; i++)
            all[i] = m->labels[i];
        for (int j = 0; j < k; j++)
            all[U + j] = labels[j];
        if (nn_set_labels(net, all, U + k) != 0)
            fail = nn_error(net);
        free(all);
    }
    net->loading = false;
    if (fail) {
        nn_errf(err, errlen, "adding outputs: %s", fail);
        nn_destroy(&net);
        return NULL;
    }
    nn_set_opts(net, &m->opts);
    nn_set_threads(net, m->threads);
    return net;
}
