/* nn/train.c: the trainer: mini-batches split into shards run by worker
 * threads, gradients summed in a fixed order (so a seed gives the same
 * weights whatever the thread count), SGD with Nesterov momentum or AdamW,
 * cosine / one-cycle schedules, hard labels or soft targets, label smoothing,
 * early stopping. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nn/internal.h"

#define MAX_SHARDS 16

void
nn_train_opts_default(nn_train_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 10;
    o->batch = 128;
    o->optimizer = NN_SGD;
    o->lr = 0.05f;
    o->momentum = 0.9f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->weight_decay = 5e-4f;
    o->schedule = NN_SCHED_COSINE;
    o->warmup = 0.05f;
    o->seed = 1;
    o->restore_best = true;
    o->verbose = 1;
}

void
nn_history_free(nn_history_t *hist)
{
    if (!hist)
        return;
    free(hist->epochs);
    memset(hist, 0, sizeof *hist);
}

/* Learning rate at step t of total. */
static float
s_lr(const nn_train_opts_t *o, long t, long total)
{
    double f = total > 1 ? (double) t / (double) (total - 1) : 1.0;
    double w = o->warmup;
    if (o->schedule == NN_SCHED_ONECYCLE) {
        /* rise from lr/25 to lr, then anneal to lr/1e4, both cosine */
        double up = w > 0 ? w : 0.3;
        if (f < up)
            return (float) (o->lr / 25.0 + (o->lr - o->lr / 25.0) * 0.5 * (1.0 - cos(M_PI * f / up)));
        double g = (f - up) / (1.0 - up);
        return (float) (o->lr / 1e4 + (o->lr - o->lr / 1e4) * 0.5 * (1.0 + cos(M_PI * g)));
    }
    if (w > 0 && f < w)
        return (float) (o->lr * (f + 1.0 / (double) total) / w);
    if (o->schedule == NN_SCHED_COSINE) {
        double g = w < 1.0 ? (f - w) / (1.0 - w) : 1.0;
        return (float) (o->lr * 0.5 * (1.0 + cos(M_PI * g)));
    }
    return o->lr;
}

static void *
s_shard_job(void *arg)
{
    nn_shard_t *s = arg;
    nn_shard_forward_train(s->net, s);
    if (s->loss_fn) {
        const nn_net_t *net = s->net;
        s->loss = s->loss_fn(s->out[net->output], s->b, (int) net->layers[net->output].osz,
                             s->sample_idx, false, s->grad_scale, s->grad[net->output],
                             s->loss_user);
        s->correct = 0.0;
    }
    if (s->aux_fn) {
        const nn_net_t *net = s->net;
        s->aux_loss = s->aux_fn(s->out[s->aux], s->b, (int) net->layers[s->aux].osz,
                                s->sample_idx, false, s->grad_scale, s->grad[s->aux],
                                s->aux_user);
    }
    nn_shard_backward(s->net, s);
    return NULL;
}

/* Copies samples idx[0..b) of d into dst with their labels, or their soft
 * targets (k floats each) when d has them, and their subset ids (subset
 * non-NULL), then augments the samples. */
static void
s_gather(const nn_data_t *d, const int *idx, int b, int k, float *dst, int32_t *labels,
         float *targets, uint8_t *subset, uint64_t *rng)
{
    size_t sz = (size_t) d->shape.c * d->shape.h * d->shape.w;
    for (int i = 0; i < b; i++) {
        memcpy(dst + (size_t) i * sz, d->x + (size_t) idx[i] * sz, sz * sizeof(float));
        if (subset)
            subset[i] = d->subset[idx[i]];
        if (!labels && !targets)
            continue;
        if (d->t)
            memcpy(targets + (size_t) i * k, d->t + (size_t) idx[i] * k, (size_t) k * sizeof(float));
        else
            labels[i] = d->y[idx[i]];
    }
    if (d->augment)
        d->augment(dst, b, &d->shape, rng, d->augment_user);
}

/* Subsets (nn_data_t.subset): ids in range, no subset empty, each sample's
 * label or soft target mass within its subset. */
static int
s_check_subsets(const nn_data_t *d, int k, const char *what, char *err, size_t errlen)
{
    if (!d->subsets || d->n_subsets < 1 || d->n_subsets > 256)
        return nn_errf(err, errlen, "%s data: subset ids without 1..256 subsets", what);
    for (int g = 0; g < d->n_subsets; g++) {
        int any = 0;
        for (int c = 0; c < k; c++)
            any |= d->subsets[(size_t) g * k + c];
        if (!any)
            return nn_errf(err, errlen, "%s data: subset %d holds no class", what, g);
    }
    for (int i = 0; i < d->n; i++) {
        int g = d->subset[i];
        if (g >= d->n_subsets)
            return nn_errf(err, errlen, "%s subset %d of sample %d not in 0..%d", what, g, i,
                           d->n_subsets - 1);
        const uint8_t *m = d->subsets + (size_t) g * k;
        if (d->t) {
            for (int c = 0; c < k; c++)
                if (!m[c] && d->t[(size_t) i * k + c] > 0.0f)
                    return nn_errf(err, errlen, "%s sample %d has target mass on class %d, "
                                   "outside its subset %d", what, i, c, g);
        } else if (d->y[i] >= 0 && d->y[i] < k && !m[d->y[i]]) {
            return nn_errf(err, errlen, "%s label %d of sample %d is outside its subset %d",
                           what, d->y[i], i, g);
        }
    }
    return 0;
}

double
nn_evaluate(nn_net_t *net, const nn_data_t *data, double *loss)
{
    if (!net || !data || !data->x || (!data->y && !data->t) || data->n < 1)
        return -1;
    nn_shape_t in = nn_input_shape(net);
    if (in.c != data->shape.c || in.h != data->shape.h || in.w != data->shape.w)
        return nn_fail(net, "evaluate: data shape differs from the net's input");
    int k = nn_output_size(net);
    char why[256];
    if (data->subset && s_check_subsets(data, k, "evaluation", why, sizeof why) < 0)
        return nn_fail(net, "%s", why);
    size_t sz = (size_t) in.c * in.h * in.w;
    enum { CHUNK = 256 };
    float *out = xmallocarray((size_t) CHUNK * k, sizeof(float));
    double hits = 0.0, total = 0.0;
    for (int i = 0; i < data->n; i += CHUNK) {
        int b = SHOP_MIN(CHUNK, data->n - i);
        if (nn_forward(net, data->x + (size_t) i * sz, b, out) < 0) {
            free(out);
            return -1;
        }
        for (int j = 0; j < b; j++) {
            float *p = out + (size_t) j * k;
            if (data->subset) {
                /* the softmax over the sample's subset: renormalised */
                const uint8_t *m = data->subsets + (size_t) data->subset[i + j] * k;
                double sum = 0.0;
                for (int c = 0; c < k; c++)
                    sum += m[c] ? p[c] : 0.0f;
                for (int c = 0; c < k; c++)
                    p[c] = m[c] && sum > 0.0 ? (float) (p[c] / sum) : 0.0f;
            }
            if (data->t) {
                /* soft target: cross-entropy, and its mass at the top-1 class */
                const float *t = data->t + (size_t) (i + j) * k;
                hits += t[nn_argmax(p, k)];
                for (int c = 0; c < k; c++)
                    if (t[c] > 0.0f)
                        total -= t[c] * log(p[c] > 1e-30f ? p[c] : 1e-30f);
                continue;
            }
            int y = data->y[i + j];
            if (y < 0 || y >= k)
                continue;
            hits += nn_argmax(p, k) == y;
            total -= log(p[y] > 1e-30f ? p[y] : 1e-30f);
        }
    }
    free(out);
    if (loss)
        *loss = total / data->n;
    return hits / data->n;
}

/* Mean of a caller's loss over the validation set (inference mode) into
 * *loss; returns 0 or -1. */
static double
s_val_loss(nn_net_t *net, const nn_data_t *data, const nn_train_opts_t *o, double *loss)
{
    nn_shape_t in = nn_input_shape(net);
    int k = nn_output_size(net);
    size_t sz = (size_t) in.c * in.h * in.w;
    enum { CHUNK = 64 };
    float *out = xmallocarray((size_t) CHUNK * k, sizeof(float));
    int idx[CHUNK];
    double total = 0.0;
    for (int i = 0; i < data->n; i += CHUNK) {
        int b = SHOP_MIN(CHUNK, data->n - i);
        if (nn_forward(net, data->x + (size_t) i * sz, b, out) < 0) {
            free(out);
            return -1;
        }
        for (int j = 0; j < b; j++)
            idx[j] = i + j;
        total += o->loss(out, b, k, idx, true, 1.0f, NULL, o->loss_user);
    }
    free(out);
    *loss = total / data->n;
    return 0;
}

static void
s_fmt_time(double s, char *buf, size_t len)
{
    if (s < 0 || !isfinite(s))
        s = 0;
    long t = (long) (s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
}

static int
s_check_data(const nn_net_t *net, const nn_data_t *d, bool own_loss, const char *what, char *err,
             size_t errlen)
{
    nn_shape_t in = nn_input_shape(net);
    if (!d->x || (!own_loss && !d->y && !d->t) || d->n < 1)
        return nn_errf(err, errlen, "%s data empty", what);
    if (d->shape.c != in.c || d->shape.h != in.h || d->shape.w != in.w)
        return nn_errf(err, errlen, "%s data is %dx%dx%d, the net takes %dx%dx%d", what,
                       d->shape.c, d->shape.h, d->shape.w, in.c, in.h, in.w);
    if (own_loss)
        return 0;
    int k = nn_output_size(net);
    if (d->subset && s_check_subsets(d, k, what, err, errlen) < 0)
        return -1;
    if (d->t) {
        /* each row a probability distribution: a mistake here would train
         * towards a wrong optimum without any other sign */
        for (int i = 0; i < d->n; i++) {
            const float *t = d->t + (size_t) i * k;
            double sum = 0.0;
            for (int c = 0; c < k; c++) {
                if (!(t[c] >= 0.0f && t[c] <= 1.0f))
                    return nn_errf(err, errlen, "%s target %d of sample %d is %g, not in [0, 1]",
                                   what, c, i, (double) t[c]);
                sum += t[c];
            }
            if (fabs(sum - 1.0) > 1e-3)
                return nn_errf(err, errlen, "%s targets of sample %d sum to %g, not 1", what, i,
                               sum);
        }
        return 0;
    }
    for (int i = 0; i < d->n; i++)
        if (d->y[i] < 0 || d->y[i] >= k)
            return nn_errf(err, errlen, "%s label %d of sample %d not in 0..%d", what, d->y[i],
                           i, k - 1);
    return 0;
}

int
nn_train(nn_net_t *net, const nn_data_t *train, const nn_train_opts_t *opts,
         nn_history_t *hist, char *err, size_t errlen)
{
    if (hist)
        memset(hist, 0, sizeof *hist);
    if (!net || !train || !opts)
        return nn_errf(err, errlen, "nn_train: missing argument");
    bool own = opts->loss != NULL;
    if (net->output < 0 || (net->layers[net->output].type == NN_L_SOFTMAX_XENT) == own
        || net->layers[net->output].type == NN_L_INPUT)
        return nn_errf(err, errlen, own ? "nn_train: with a caller's loss the net's output must "
                                          "be a layer other than softmax_xent or the input"
                                        : "nn_train: the net's output must be a softmax_xent layer");
    if (s_check_data(net, train, own, "training", err, errlen) < 0)
        return -1;
    if (opts->val && s_check_data(net, opts->val, own, "validation", err, errlen) < 0)
        return -1;
    if (own && !opts->val && opts->val_split > 0)
        return nn_errf(err, errlen, "nn_train: a caller's loss needs opts.val, not val_split");
    const nn_train_opts_t *o = opts;
    if (o->epochs < 1 || o->batch < 1 || !(o->lr > 0) || o->label_smoothing < 0
        || o->label_smoothing >= 1 || o->val_split < 0 || o->val_split >= 1 || o->weight_decay < 0)
        return nn_errf(err, errlen, "nn_train: epochs, batch, lr, smoothing, split out of range");
    if (o->aux_loss
        && (o->aux <= 0 || o->aux >= net->n_layers || o->aux == net->output
            || o->aux < o->freeze || net->layers[o->aux].type == NN_L_SOFTMAX_XENT))
        return nn_errf(err, errlen, "nn_train: the second head's layer %d must be a trained "
                       "layer other than the output or a softmax_xent", o->aux);
    if (o->freeze < 0 || o->freeze > net->output)
        return nn_errf(err, errlen, "nn_train: freeze %d not in 0..%d (the output layer trains)",
                       o->freeze, net->output);
    int shards = o->shards > 0 ? o->shards : 2;
    if (shards > MAX_SHARDS)
        shards = MAX_SHARDS;
    int threads = o->threads > 0 ? o->threads : net->threads;
    if (threads > shards)
        threads = shards;

    /* hold out a validation split: a seeded shuffle, the tail is validation */
    uint64_t rng = o->seed * 0x2545f4914f6cdd1dULL + 1;
    int n = train->n;
    int *perm = xmallocarray((size_t) n, sizeof(int));
    for (int i = 0; i < n; i++)
        perm[i] = i;
    nn_data_t val = { 0 };
    float *val_x = NULL, *val_t = NULL;
    int32_t *val_y = NULL;
    uint8_t *val_g = NULL;
    int k = nn_output_size(net);
    int n_train = n;
    if (o->val) {
        val = *o->val;
    } else if (o->val_split > 0) {
        for (int i = n - 1; i > 0; i--) {
            int j = (int) (shop_splitmix64(&rng) % (uint64_t) (i + 1));
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        int n_val = (int) (n * o->val_split);
        if (n_val < 1 || n_val >= n) {
            free(perm);
            return nn_errf(err, errlen, "nn_train: validation split leaves no data");
        }
        n_train = n - n_val;
        size_t sz = (size_t) train->shape.c * train->shape.h * train->shape.w;
        val_x = xmallocarray((size_t) n_val * sz, sizeof(float));
        if (train->t)
            val_t = xmallocarray((size_t) n_val * k, sizeof(float));
        else
            val_y = xmallocarray((size_t) n_val, sizeof(int32_t));
        if (train->subset)
            val_g = xmallocarray((size_t) n_val, 1);
        for (int i = 0; i < n_val; i++) {
            int j = perm[n_train + i];
            memcpy(val_x + (size_t) i * sz, train->x + (size_t) j * sz, sz * sizeof(float));
            if (train->t)
                memcpy(val_t + (size_t) i * k, train->t + (size_t) j * k,
                       (size_t) k * sizeof(float));
            else
                val_y[i] = train->y[j];
            if (val_g)
                val_g[i] = train->subset[j];
        }
        val = (nn_data_t) { .x = val_x, .y = val_y, .t = val_t, .n = n_val,
                            .shape = train->shape, .subset = val_g,
                            .subsets = train->subsets, .n_subsets = train->n_subsets };
    }
    bool has_val = val.n > 0;

    int batch = SHOP_MIN(o->batch, n_train);
    int per_shard = (batch + shards - 1) / shards;
    nn_shard_t sh[MAX_SHARDS];
    memset(sh, 0, sizeof sh);
    int rc = -1;
    float *mom = NULL, *vel = NULL, *best_p = NULL, *best_s = NULL;
    int32_t *labels = xmallocarray((size_t) batch, sizeof(int32_t));
    float *targets = train->t ? xmallocarray((size_t) batch * k, sizeof(float)) : NULL;
    uint8_t *subset = train->subset && !own ? xmallocarray((size_t) batch, 1) : NULL;
    for (int t = 0; t < shards; t++) {
        if (nn_shard_reserve(net, &sh[t], per_shard) < 0) {
            nn_errf(err, errlen, "%s", net->err);
            goto out;
        }
        sh[t].net = net;
        sh[t].frozen = o->freeze;
        sh[t].aux = o->aux_loss ? o->aux : -1;
        sh[t].aux_fn = o->aux_loss;
        sh[t].aux_user = o->aux_user;
    }
    size_t np = net->n_params;
    mom = xcalloc(np + 1, sizeof(float));
    if (o->optimizer == NN_ADAMW)
        vel = xcalloc(np + 1, sizeof(float));
    /* weight decay (1) on conv and dense weights only, not on biases or BN */
    uint8_t *decay = xcalloc(np + 1, 1);
    for (int l = 0; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        if (L->type == NN_L_CONV || L->type == NN_L_DWCONV || L->type == NN_L_DENSE)
            memset(decay + L->w_off, 1, L->n_w);
    }
    /* frozen layers' parameters: never updated (decay 2) */
    for (int l = 0; l < o->freeze; l++) {
        const nn_layer_t *L = &net->layers[l];
        if (L->n_w)
            memset(decay + L->w_off, 2, L->n_w);
        if (L->n_b)
            memset(decay + L->b_off, 2, L->n_b);
    }

    long steps = n_train / batch;   /* the last partial batch is dropped: tiny BN shards are noise */
    if (o->max_steps_per_epoch > 0 && steps > o->max_steps_per_epoch)
        steps = o->max_steps_per_epoch;
    long total = steps * o->epochs, t_step = 0;
    float best_acc = -INFINITY;   /* val acc, or minus the val loss of a caller's loss */
    int since_best = 0;
    if (hist)
        hist->epochs = xcalloc((size_t) o->epochs, sizeof(nn_epoch_t));
    double t_start = shop_now_s();
    float lr = o->lr;
    for (int ep = 1; ep <= o->epochs; ep++) {
        double t0 = shop_now_s(), t_last = t0;
        /* reshuffle the training part each epoch */
        for (int i = n_train - 1; i > 0; i--) {
            int j = (int) (shop_splitmix64(&rng) % (uint64_t) (i + 1));
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        double loss_sum = 0.0, aux_sum = 0.0;
        double correct = 0.0;
        long seen = 0;
        for (long st = 0; st < steps; st++, t_step++) {
            if (o->step)
                o->step(t_step, total, o->step_user);
            const int *bidx = perm + st * batch;
            int off = 0;
            for (int t = 0; t < shards; t++) {
                nn_shard_t *s = &sh[t];
                s->b = batch / shards + (t < batch % shards);
                uint64_t srng = o->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t) (t_step * MAX_SHARDS + t + 1));
                shop_splitmix64(&srng);
                s->labels = own ? NULL : labels + off;
                s->targets = targets && !own ? targets + (size_t) off * k : NULL;
                s->loss_fn = o->loss;
                s->loss_user = o->loss_user;
                s->sample_idx = bidx + off;
                s->smoothing = o->label_smoothing;
                s->grad_scale = 1.0f / (float) batch;
                s->subset = subset ? subset + off : NULL;
                s->subsets = train->subsets;
                s_gather(train, bidx + off, s->b, k, s->out[net->input], own ? NULL : labels + off,
                         targets && !own ? targets + (size_t) off * k : NULL,
                         subset ? subset + off : NULL, &srng);
                s->rng = srng;   /* dropout continues the stream the augmentation used */
                off += s->b;
            }
            /* run the shards: up to `threads` at a time, the caller's thread included */
            for (int t0s = 0; t0s < shards; t0s += threads) {
                pthread_t tid[MAX_SHARDS];
                bool started[MAX_SHARDS] = { false };
                int end = SHOP_MIN(shards, t0s + threads);
                for (int t = t0s + 1; t < end; t++)
                    started[t] = pthread_create(&tid[t], NULL, s_shard_job, &sh[t]) == 0;
                s_shard_job(&sh[t0s]);
                for (int t = t0s + 1; t < end; t++) {
                    if (started[t])
                        pthread_join(tid[t], NULL);
                    else
                        s_shard_job(&sh[t]);
                }
            }
            /* reduce in shard order: deterministic */
            float *g = sh[0].gparams;
            for (int t = 1; t < shards; t++) {
                const float *gt = sh[t].gparams;
                for (size_t i = 0; i < np; i++)
                    g[i] += gt[i];
            }
            for (int t = 0; t < shards; t++) {
                loss_sum += sh[t].loss;
                aux_sum += sh[t].aux_loss;
                correct += sh[t].correct;
            }
            seen += batch;
            /* BN running statistics: shard means and variances averaged */
            for (int l = o->freeze; l < net->n_layers; l++) {
                const nn_layer_t *L = &net->layers[l];
                if (L->type != NN_L_BN)
                    continue;
                int C = L->is.c;
                float *rm = net->state + L->s_off, *rv = rm + C;
                for (int c = 0; c < C; c++) {
                    double m = 0.0, v = 0.0;
                    for (int t = 0; t < shards; t++) {
                        m += (double) sh[t].bnstat[L->bn_slot][c] * sh[t].b;
                        v += (double) sh[t].bnstat[L->bn_slot][2 * C + c] * sh[t].b;
                    }
                    m /= batch;
                    v /= batch;
                    double cnt = (double) per_shard * L->is.h * L->is.w;
                    if (cnt > 1)
                        v *= cnt / (cnt - 1);   /* unbiased, as PyTorch keeps it */
                    rm[c] = 0.9f * rm[c] + 0.1f * (float) m;
                    rv[c] = 0.9f * rv[c] + 0.1f * (float) v;
                }
            }
            lr = s_lr(o, t_step, total);
            float *p = net->params, wd = o->weight_decay;
            if (o->optimizer == NN_ADAMW) {
                float b1 = o->beta1, b2 = o->beta2;
                double c1 = 1.0 - pow(b1, (double) (t_step + 1));
                double c2 = 1.0 - pow(b2, (double) (t_step + 1));
                float a = (float) (lr * sqrt(c2) / c1);
                for (size_t i = 0; i < np; i++) {
                    if (decay[i] == 2)
                        continue;
                    float gi = g[i];
                    mom[i] = b1 * mom[i] + (1.0f - b1) * gi;
                    vel[i] = b2 * vel[i] + (1.0f - b2) * gi * gi;
                    if (decay[i])
                        p[i] -= lr * wd * p[i];
                    p[i] -= a * mom[i] / (sqrtf(vel[i]) + o->eps);
                }
            } else {
                float mu = o->momentum;
                for (size_t i = 0; i < np; i++) {
                    if (decay[i] == 2)
                        continue;
                    float gi = g[i] + (decay[i] ? wd * p[i] : 0.0f);
                    mom[i] = mu * mom[i] + gi;
                    p[i] -= lr * (gi + mu * mom[i]);
                }
            }
            nn_invalidate(net);
            if (o->verbose >= 2 && shop_now_s() - t_last > 10.0) {
                t_last = shop_now_s();
                fprintf(stderr, "  epoch %d step %ld/%ld loss %.4f acc %.4f %.0f img/s\n", ep,
                        st + 1, steps, loss_sum / seen, correct / seen,
                        seen / (t_last - t0));
            }
        }
        double t_train = shop_now_s() - t0;
        nn_epoch_t e = { .epoch = ep, .lr = lr, .loss = (float) (loss_sum / (seen ? seen : 1)),
                         .acc = (float) (correct / (seen ? seen : 1)), .val_loss = NAN,
                         .val_acc = NAN, .images_per_s = seen / (t_train > 0 ? t_train : 1e-9),
                         .aux_loss = o->aux_loss ? (float) (aux_sum / (seen ? seen : 1)) : NAN };
        if (has_val) {
            double vl = 0.0;
            double va = own ? s_val_loss(net, &val, o, &vl) : nn_evaluate(net, &val, &vl);
            if (va < 0) {
                nn_errf(err, errlen, "validation failed: %s", net->err);
                free(decay);
                goto out;
            }
            e.val_acc = own ? NAN : (float) va;
            e.val_loss = (float) vl;
        }
        e.seconds = shop_now_s() - t0;
        if (hist)
            hist->epochs[hist->n++] = e;
        if (o->verbose >= 1) {
            char eta[32];
            double elapsed = shop_now_s() - t_start;
            s_fmt_time(elapsed / ep * (o->epochs - ep), eta, sizeof eta);
            fprintf(stderr,
                    "epoch %3d/%d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  lr %.5f  "
                    "%6.0f img/s  %5.1f s  ETA %s\n",
                    ep, o->epochs, e.loss, e.acc, e.val_loss, e.val_acc, e.lr, e.images_per_s,
                    e.seconds, eta);
        }
        if (o->progress)
            o->progress(&e, o->progress_user);
        if (has_val) {
            float score = own ? -e.val_loss : e.val_acc;
            if (score > best_acc) {
                best_acc = score;
                since_best = 0;
                if (hist)
                    hist->best_epoch = ep;
                if (o->restore_best) {
                    if (!best_p) {
                        best_p = xmallocarray(np + 1, sizeof(float));
                        best_s = xmallocarray(net->n_state + 1, sizeof(float));
                    }
                    memcpy(best_p, net->params, np * sizeof(float));
                    memcpy(best_s, net->state, net->n_state * sizeof(float));
                }
            } else if (o->patience > 0 && ++since_best >= o->patience) {
                if (hist)
                    hist->stopped_early = true;
                if (o->verbose >= 1)
                    fprintf(stderr, "early stop: no better val_acc for %d epochs\n", o->patience);
                break;
            }
        }
    }
    if (best_p) {
        memcpy(net->params, best_p, np * sizeof(float));
        memcpy(net->state, best_s, net->n_state * sizeof(float));
        nn_invalidate(net);
    }
    free(decay);
    rc = 0;
out:
    for (int t = 0; t < shards; t++)
        nn_shard_free(net, &sh[t]);
    free(labels);
    free(targets);
    free(subset);
    free(mom);
    free(vel);
    free(best_p);
    free(best_s);
    free(perm);
    free(val_x);
    free(val_y);
    free(val_t);
    free(val_g);
    if (rc < 0 && hist)
        nn_history_free(hist);
    return rc;
}
