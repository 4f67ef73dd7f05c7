/* nn/op_softmax.c: softmax with cross-entropy, the training target:
 * forward gives the class probabilities (and the loss against hard labels
 * or soft targets, with label smoothing), backward the gradient of the mean
 * loss; also nn_softmax_xent_soft for a caller's own training loop. */
#include <math.h>
#include <stdlib.h>

#include "common/util.h"
#include "nn/ops.h"

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

static void
s_softmax_xent_forward_op(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    s_softmax_xent_forward(s, L, s->out[L->in[0]], s->out[l]);
}

static void
s_softmax_xent_backward(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    if (!dx)
        return;
    int k = (int) net->layers[l].osz;
    for (int q = 0; q < s->b; q++) {
        const float *t = s->targets ? s->targets + (size_t) q * k : NULL;
        s_xent_grad_row(s->out[l] + (size_t) q * k, t, t ? 0 : s->labels[q], k, s->smoothing,
                        s->grad_scale, acc, dx + (size_t) q * k);
    }
}

static void
s_softmax_infer(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    s_softmax(s->out[L->in[0]], s->out[l], s->b, (int) L->osz);
}

const nn_op_t nn_op_softmax_xent = {
    .name = "softmax_xent",
    .forward = s_softmax_xent_forward_op,
    .backward = s_softmax_xent_backward,
    .infer = s_softmax_infer,
    .loss = true,
};
