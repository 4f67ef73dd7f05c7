/* nn/exec.c: the training executor: a shard's buffers, and its forward and
 * backward passes over the layers through the op table. Used by the
 * trainer (nn/train.c) and the gradient checks; not by inference. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nn/ops.h"

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

void
nn_shard_forward_train(nn_net_t *net, nn_shard_t *s)
{
    s->relu_done = -1;
    for (int l = 0; l < net->n_layers; l++) {
        const nn_op_t *op = nn_ops[net->layers[l].type];
        if (op->forward)
            op->forward(net, l, s);
    }
}

void
nn_shard_backward(nn_net_t *net, nn_shard_t *s)
{
    memset(s->gparams, 0, net->n_params * sizeof(float));
    /* gset[l]: grad[l] holds a gradient. The first consumer to reach a
     * layer writes its gradient, later ones add: no zeroing pass, and layers
     * no gradient reaches are skipped. */
    bool *gset = s->gset;
    memset(gset, 0, (size_t) net->n_layers * sizeof(bool));
    /* a caller's loss wrote the output layer's gradient before this pass */
    if (s->loss_fn)
        gset[net->output] = true;
    /* and a second head's loss its output layer's */
    if (s->aux_fn)
        gset[s->aux] = true;
    for (int l = net->n_layers - 1; l >= 1 && l >= s->frozen; l--) {
        const nn_layer_t *L = &net->layers[l];
        const nn_op_t *op = nn_ops[L->type];
        if (op->loss ? l != net->output || (!s->labels && !s->targets) : !gset[l])
            continue;
        int p = L->in[0];
        /* no gradient for the input image itself, nor into a frozen layer */
        float *dx = net->layers[p].type == NN_L_INPUT || p < s->frozen ? NULL : s->grad[p];
        bool acc = dx && gset[p];
        op->backward(net, l, s, dx, acc);
        if (dx)
            gset[p] = true;
    }
}
