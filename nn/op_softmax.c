/* nn/op_softmax.c: softmax with cross-entropy, the training target:
 * forward gives the class probabilities (and the loss against hard labels
 * or soft targets, with label smoothing; over a sample's subset of the
 * classes when its data has subsets), backward the gradient of the mean
 * loss; also nn_softmax_xent_soft for a caller's own training loop. */
#include <math.h>
#include <stdlib.h>

#include "common/util.h"
#include "nn/ops.h"

/* Softmax of one row of k logits; with a mask m (NULL: every class) over the
 * classes m marks alone, renormalised, the others 0. */
static void
s_softmax_row(const float *xr, float *pr, int k, const uint8_t *m)
{
    float mx = -INFINITY;
    for (int i = 0; i < k; i++)
        if ((!m || m[i]) && xr[i] > mx)
            mx = xr[i];
    float sum = 0.0f;
    for (int i = 0; i < k; i++) {
        pr[i] = !m || m[i] ? expf(xr[i] - mx) : 0.0f;
        sum += pr[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < k; i++)
        pr[i] *= inv;
}

static void
s_softmax(const float *x, float *p, int b, int k)
{
    for (int n = 0; n < b; n++)
        s_softmax_row(x + (size_t) n * k, p + (size_t) n * k, k, NULL);
}

/* Target probability of class i for one example: the hard label y (targets
 * NULL) or the soft row t, mixed with the uniform distribution over the
 * row's classes by label smoothing eps (off = eps / their number); a class
 * outside the row's mask m gets 0. Written so that a one-hot row gives the
 * same floats as its label: (1 - eps) * 1 == 1 - eps and (1 - eps) * 0 == 0
 * exactly. */
static inline float
s_target(const float *t, int y, int i, float eps, float off, const uint8_t *m)
{
    if (m && !m[i])
        return 0.0f;
    return (t ? (1.0f - eps) * t[i] : (i == y ? 1.0f - eps : 0.0f)) + off;
}

/* eps / the number of classes in the row's softmax (all k without a mask). */
static float
s_smooth_off(int k, float eps, const uint8_t *m)
{
    int n = k;
    if (m) {
        n = 0;
        for (int i = 0; i < k; i++)
            n += m[i] != 0;
    }
    return n > 0 ? eps / (float) n : 0.0f;
}

/* Cross-entropy of one row of probabilities pr against its target; the
 * target's mass at the top-1 class goes into *hit (1 or 0 for a label). */
static double
s_xent_row(const float *pr, const float *t, int y, int k, float eps, const uint8_t *m,
           double *hit)
{
    float off = s_smooth_off(k, eps, m);
    double loss = 0.0;
    for (int i = 0; i < k; i++) {
        float ti = s_target(t, y, i, eps, off, m);
        if (ti > 0.0f)
            loss -= ti * logf(pr[i] > 1e-30f ? pr[i] : 1e-30f);
    }
    int top = nn_argmax(pr, k);
    *hit = t ? t[top] : (double) (top == y);
    return loss;
}

/* d loss / d logits of one row, times scale, written (acc false) or added;
 * 0 for the classes outside the mask m (their probability is 0 too). */
static void
s_xent_grad_row(const float *pr, const float *t, int y, int k, float eps, const uint8_t *m,
                float scale, bool acc, float *d)
{
    float off = s_smooth_off(k, eps, m);
    for (int i = 0; i < k; i++) {
        float ti = s_target(t, y, i, eps, off, m);
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
        loss += s_xent_row(pr, t, 0, k, smoothing, NULL, &hit);
        if (grad)
            s_xent_grad_row(pr, t, 0, k, smoothing, NULL, 1.0f / (float) n, false,
                            grad + (size_t) q * k);
    }
    free(own);
    return loss / n;
}

/* The class mask of the shard's sample n (nn_data_t.subset), or NULL. */
static const uint8_t *
s_mask(const nn_shard_t *s, int n, int k)
{
    return s->subset ? s->subsets + (size_t) s->subset[n] * k : NULL;
}

static void
s_softmax_xent_forward(nn_shard_t *s, const nn_layer_t *L, const float *x, float *p)
{
    int k = (int) L->osz;
    if (!s->labels && !s->targets) {
        s_softmax(x, p, s->b, k);
        return;
    }
    double loss = 0.0, hits = 0.0, hit;
    for (int n = 0; n < s->b; n++) {
        const float *t = s->targets ? s->targets + (size_t) n * k : NULL;
        const uint8_t *m = s_mask(s, n, k);
        s_softmax_row(x + (size_t) n * k, p + (size_t) n * k, k, m);
        loss += s_xent_row(p + (size_t) n * k, t, t ? 0 : s->labels[n], k, s->smoothing, m,
                           &hit);
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
                        s_mask(s, q, k), s->grad_scale, acc, dx + (size_t) q * k);
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
