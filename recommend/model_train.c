/* recommend/model_train.c: training of the recommendation models (offline
 * library): popularity and trend, item-kNN and bought-together neighbours,
 * EASE, implicit ALS and the neural recommender (see model.h). */
#include "recommend/model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "nn/nn.h"
#include "recommend/linalg.h"
#include "recommend/model_internal.h"

static float
s_uniform(uint64_t *s)
{
    return (float) ((shop_splitmix64(s) >> 40) * (1.0 / 16777216.0));
}
/* --- training ------------------------------------------------------------ */

/* Per-customer distinct items before the cutoff, with counts and last time:
 * a CSR over users. Baskets are events sharing (user, time). */
typedef struct {
    int nu, ni;
    size_t *start;       /* nu + 1 */
    int32_t *item;       /* distinct items of each user, sorted */
    float *count;        /* purchase events of that item */
    size_t nnz;
} s_ui_t;

static int
s_cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *) a, y = *(const int32_t *) b;
    return (x > y) - (x < y);
}

static void
s_ui_build(const rec_data_t *d, int64_t until, s_ui_t *m)
{
    m->nu = rec_dict_size(d->users);
    m->ni = rec_dict_size(d->items);
    m->start = xcalloc((size_t) m->nu + 1, sizeof *m->start);
    m->item = xmallocarray(d->n_ev + 1, sizeof *m->item);
    m->count = xmallocarray(d->n_ev + 1, sizeof *m->count);
    int32_t *tmp = xmallocarray(d->n_ev + 1, sizeof *tmp);
    size_t out = 0;
    for (int u = 0; u < m->nu; u++) {
        m->start[u] = out;
        size_t nt = 0;
        for (size_t e = d->user_start[u]; e < d->user_start[u + 1]; e++)
            if (d->ev[e].time < until && d->ev[e].type == STORE_EVENT_PURCHASE)
                tmp[nt++] = d->ev[e].item;
        qsort(tmp, nt, sizeof *tmp, s_cmp_i32);
        for (size_t a = 0; a < nt;) {
            size_t b = a;
            while (b < nt && tmp[b] == tmp[a])
                b++;
            m->item[out] = tmp[a];
            m->count[out++] = (float) (b - a);
            a = b;
        }
    }
    m->start[m->nu] = out;
    m->nnz = out;
    free(tmp);
}

static void
s_ui_free(s_ui_t *m)
{
    free(m->start);
    free(m->item);
    free(m->count);
}

/* Keeps the k largest off-diagonal entries of each row of the n x n matrix c
 * (after dividing by sqrt(diag_i diag_j): cosine) in idx/sim. */
static void
s_topk_cosine(const float *c, const float *diag, int n, int k, int32_t *idx, float *sim)
{
    float *row = xmallocarray((size_t) n, sizeof *row);
    int32_t *top = xmallocarray((size_t) k, sizeof *top);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            float v = c[(size_t) i * n + j];
            row[j] = (j == i || v <= 0) ? -INFINITY : v / sqrtf(diag[i] * diag[j]);
        }
        int m = rec_topk(row, n, k, top);
        for (int j = 0; j < k; j++) {
            idx[(size_t) i * k + j] = j < m ? top[j] : -1;
            sim[(size_t) i * k + j] = j < m ? row[top[j]] : 0;
        }
    }
    free(row);
    free(top);
}

static void
s_train_pop(rec_model_t *m, const rec_data_t *d, int64_t until, int64_t tmax)
{
    double hl = m->p.trend_half_life_days * REC_DAY;
    for (size_t e = 0; e < d->n_ev; e++) {
        const rec_event_t *x = &d->ev[e];
        if (x->time >= until || x->type != STORE_EVENT_PURCHASE)
            continue;
        m->pop[x->item] += 1;
        m->trend[x->item] += (float) exp2(-(double) (tmax - x->time) / hl);
    }
}

/* Customer-level co-occurrence (diagonal = customers per item) into c. */
static void
s_cooc_users(const s_ui_t *ui, float *c, int n)
{
    memset(c, 0, (size_t) n * n * sizeof *c);
    for (int u = 0; u < ui->nu; u++) {
        for (size_t a = ui->start[u]; a < ui->start[u + 1]; a++) {
            float *row = c + (size_t) ui->item[a] * n;
            for (size_t b = ui->start[u]; b < ui->start[u + 1]; b++)
                row[ui->item[b]] += 1;
        }
    }
}

/* Basket-level co-occurrence: a basket is one customer's purchases at one time. */
static void
s_cooc_baskets(const rec_data_t *d, int64_t until, float *c, int n)
{
    memset(c, 0, (size_t) n * n * sizeof *c);
    int32_t *b = NULL;
    size_t cap = 0;
    for (size_t e = 0; e < d->n_ev;) {
        size_t f = e;
        while (f < d->n_ev && d->ev[f].user == d->ev[e].user && d->ev[f].time == d->ev[e].time)
            f++;
        if (d->ev[e].time < until) {
            size_t nb = 0;
            if (f - e > cap) {
                cap = f - e;
                b = xrealloc(b, cap * sizeof *b);
            }
            for (size_t g = e; g < f; g++)
                if (d->ev[g].type == STORE_EVENT_PURCHASE
                    && (nb == 0 || b[nb - 1] != d->ev[g].item))
                    b[nb++] = d->ev[g].item;   /* sorted by item within a basket */
            for (size_t x = 0; x < nb; x++)
                for (size_t y = 0; y < nb; y++)
                    c[(size_t) b[x] * n + b[y]] += 1;
        }
        e = f;
    }
    free(b);
}

static int
s_train_ease(rec_model_t *m, float *g, int n)
{
    /* g holds the customers' co-occurrence: G = X'X */
    for (int i = 0; i < n; i++)
        g[(size_t) i * n + i] += m->p.ease_lambda;
    if (la_spd_inverse(g, n) != 0)
        return -1;
    /* B = I - P diag(1/diag(P)): B[j][i] = -P[j][i] / P[i][i], zero diagonal */
    float *dinv = xmallocarray((size_t) n, sizeof *dinv);
    for (int i = 0; i < n; i++)
        dinv[i] = 1.0f / g[(size_t) i * n + i];
    for (int j = 0; j < n; j++) {
        float *row = g + (size_t) j * n;
        for (int i = 0; i < n; i++)
            row[i] = i == j ? 0 : -row[i] * dinv[i];
    }
    free(dinv);
    m->ease = g;
    return 0;
}

/* Solves one side of implicit ALS for the rows of a CSR (rows x ny):
 * x_r = (Y'Y + Y'(C_r - I)Y + reg I)^-1 Y' C_r 1, with Y (ny x f). */
static void
s_als_half(const size_t *start, const int32_t *col, const float *cnt, int rows, const float *y,
           int ny, int f, float reg, float alpha, float *x)
{
    float *yty = xmallocarray((size_t) f * f, sizeof *yty);
    float *a = xmallocarray((size_t) f * f, sizeof *a);
    la_gemm(true, false, f, f, ny, 1.0f, y, f, y, f, 0.0f, yty, f);
    for (int r = 0; r < rows; r++) {
        float *xr = x + (size_t) r * f;
        if (start[r] == start[r + 1]) {
            memset(xr, 0, (size_t) f * sizeof *xr);
            continue;
        }
        rec_als_solve(y, yty, f, reg, alpha, col + start[r], start[r + 1] - start[r],
                      cnt + start[r], false, a, xr);
    }
    free(yty);
    free(a);
}

static void
s_train_als(rec_model_t *m, const s_ui_t *ui)
{
    int f = m->p.als_factors, ni = m->n, nu = ui->nu;
    uint64_t rng = m->p.seed ^ 0xA15;
    float *x = xmallocarray((size_t) nu * f, sizeof *x);
    float *y = xmallocarray((size_t) ni * f, sizeof *y);
    for (size_t k = 0; k < (size_t) ni * f; k++)
        y[k] = (s_uniform(&rng) - 0.5f) * 0.1f;
    /* the transpose: items -> customers */
    size_t *istart = xcalloc((size_t) ni + 1, sizeof *istart);
    int32_t *icol = xmallocarray(ui->nnz + 1, sizeof *icol);
    float *icnt = xmallocarray(ui->nnz + 1, sizeof *icnt);
    for (size_t e = 0; e < ui->nnz; e++)
        istart[ui->item[e] + 1]++;
    for (int i = 0; i < ni; i++)
        istart[i + 1] += istart[i];
    size_t *fill = xmallocarray((size_t) ni + 1, sizeof *fill);
    memcpy(fill, istart, ((size_t) ni + 1) * sizeof *fill);
    for (int u = 0; u < nu; u++)
        for (size_t e = ui->start[u]; e < ui->start[u + 1]; e++) {
            size_t at = fill[ui->item[e]]++;
            icol[at] = u;
            icnt[at] = ui->count[e];
        }
    for (int it = 0; it < m->p.als_iters; it++) {
        s_als_half(ui->start, ui->item, ui->count, nu, y, ni, f, m->p.als_reg, m->p.als_alpha, x);
        s_als_half(istart, icol, icnt, ni, x, nu, f, m->p.als_reg, m->p.als_alpha, y);
    }
    m->als_f = f;
    m->als_y = y;
    m->als_yty = xmallocarray((size_t) f * f, sizeof *m->als_yty);
    la_gemm(true, false, f, f, ni, 1.0f, y, f, y, f, 0.0f, m->als_yty, f);
    free(x);
    free(istart);
    free(icol);
    free(icnt);
    free(fill);
}

typedef struct {
    int32_t user;
    uint32_t from, to;     /* the target basket: events [from, to) of the log */
} s_example_t;

/* The recommender's net, built with nn/: profile -> dense h ReLU -> dense
 * over all items -> softmax cross-entropy (Mult-DAE shape, Liang et al.
 * 2018; its input dropout is s_nn_dropout, applied to training batches).
 * Returns the net or NULL (message in err). */
static nn_net_t *
s_nn_build(int n, const rec_params_t *p, char *err, size_t errlen)
{
    nn_net_t *net = nn_new(p->seed);
    if (!net) {
        snprintf(err, errlen, "neural: out of memory");
        return NULL;
    }
    int x = nn_input(net, (nn_shape_t) { n, 1, 1 });
    x = nn_relu(net, nn_dense(net, x, p->nn_hidden));
    x = nn_softmax_xent(net, nn_dense(net, x, n));
    if (x < 0 || nn_meta_set(net, "arch", "recommend-mult-dae") < 0) {
        snprintf(err, errlen, "neural: %s", nn_error(net));
        nn_destroy(&net);
    }
    return net;
}

/* Input dropout of a training batch (nn's augmentation hook): each item of
 * a profile is dropped with probability *rate, the rest scaled by 1 / (1 -
 * rate), as Mult-DAE denoises its input. Done here rather than by an
 * nn_dropout layer: a dense layer straight on the input skips the gradient
 * with respect to its 3,659-wide input, a sixth of the training work. */
static void
s_nn_dropout(float *x, int n, const nn_shape_t *shape, uint64_t *rng, void *user)
{
    float rate = *(const float *) user, keep = 1.0f / (1.0f - rate);
    size_t total = (size_t) n * shape->c * shape->h * shape->w;
    for (size_t i = 0; i < total; i++)
        if (x[i] != 0)
            x[i] = nn_rand_float(rng) < rate ? 0 : x[i] * keep;
}

/* After each epoch (nn's progress hook): logs it and records the epoch of
 * the best validation accuracy (with soft targets, the mean share of the
 * next basket taken by the top-1 item: a ranking figure, and the one
 * nn_train's patience watches; the loss rises with over-confidence while
 * rankings still improve). */
static void
s_nn_progress(const nn_epoch_t *e, void *user)
{
    nn_epoch_t *best = user;
    log_info("recommend: neural epoch %d: loss %.4f; validation loss %.4f, top-1 %.4f (%.0f s)",
             e->epoch, (double) e->loss, (double) e->val_loss, (double) e->val_acc, e->seconds);
    if (isfinite(e->val_acc) && (best->epoch == 0 || e->val_acc > best->val_acc))
        *best = *e;
}

/* The neural recommender, trained by nn_train on next-basket targets: for
 * each basket of each customer after the first, the input is the
 * recency-weighted, L2-normalised purchase profile before it and the target
 * is the basket itself as a distribution over the items (each purchase
 * line 1 / the basket's lines): nn's soft-target softmax cross-entropy is
 * then Mult-DAE's multinomial likelihood of the whole basket, every item
 * of it at every step. Early stop: the baskets of the last nn_val_days
 * before until are held out (as the blend's tuning holds out the last month
 * of train) and the weights of the epoch with the best validation top-1
 * are kept (the neural part then learns from baskets before that month
 * only; it still reads a customer's whole history at query time). Sets
 * m->nn_blob (the nn model file in memory). Returns 0, or -1 with a message
 * in err. */
static int
s_train_neural(rec_model_t *m, const rec_data_t *d, int64_t until, int64_t tmax, char *err,
               size_t errlen)
{
    const rec_params_t *p = &m->p;
    const int n = m->n;
    if (n > NN_MAX_DIM) {
        log_warn("recommend: neural model skipped: %d items exceed nn's %d units", n,
                 NN_MAX_DIM);
        return 0;
    }
    /* baskets after a customer's first one with purchases on both sides */
    s_example_t *ex = NULL;
    size_t nex = 0, cap = 0;
    for (int u = 0; u < rec_dict_size(d->users); u++) {
        size_t s0 = d->user_start[u], s1 = d->user_start[u + 1];
        bool bought = false;
        for (size_t e = s0; e < s1;) {
            size_t f = e;
            bool has = false;
            while (f < s1 && d->ev[f].time == d->ev[e].time)
                has |= d->ev[f++].type == STORE_EVENT_PURCHASE;
            if (d->ev[e].time >= until)
                break;
            if (has && bought) {
                if (nex == cap) {
                    cap = cap ? cap * 2 : 4096;
                    ex = xrealloc(ex, cap * sizeof *ex);
                }
                ex[nex++] = (s_example_t) { u, (uint32_t) e, (uint32_t) f };
            }
            bought |= has;
            e = f;
        }
    }
    /* validation baskets last, so the two sets are contiguous */
    int64_t cut = p->nn_val_days > 0 ? tmax - (int64_t) (p->nn_val_days * REC_DAY) : INT64_MAX;
    size_t ntr = 0;
    for (size_t k = 0; k < nex; k++)
        if (d->ev[ex[k].from].time < cut) {
            s_example_t t = ex[ntr];
            ex[ntr++] = ex[k];
            ex[k] = t;
        }
    if (nex == 0 || nex > (size_t) INT32_MAX / 2) {
        free(ex);
        snprintf(err, errlen, "neural: %zu training baskets", nex);
        return -1;
    }
    /* one row per basket: the profile before it, the basket as a distribution */
    float *x = xcalloc(nex * (size_t) n, sizeof *x);
    float *t = xcalloc(nex * (size_t) n, sizeof *t);
    int32_t *nz = xmallocarray((size_t) n, sizeof *nz);
    rec_hist_ev_t *hist = xmallocarray(d->n_ev + 1, sizeof *hist);
    for (size_t k = 0; k < nex; k++) {
        const s_example_t *e = &ex[k];
        int hn = 0;
        for (size_t q = d->user_start[e->user]; q < e->from; q++)
            if (d->ev[q].type == STORE_EVENT_PURCHASE)
                hist[hn++] = (rec_hist_ev_t) { d->ev[q].item, d->ev[q].time, 1.0f };
        float *row = x + k * (size_t) n, *target = t + k * (size_t) n;
        int lines = 0;
        for (uint32_t q = e->from; q < e->to; q++)
            lines += d->ev[q].type == STORE_EVENT_PURCHASE;
        for (uint32_t q = e->from; q < e->to; q++)
            if (d->ev[q].type == STORE_EVENT_PURCHASE)
                target[d->ev[q].item] += 1.0f / (float) lines;
        int cnt = rec_profile(&(rec_hist_t) { hist, hn }, d->ev[e->from].time,
                            p->nn_profile_half_life_days, row, nz);
        rec_l2_normalise(row, nz, cnt);
    }
    free(hist);
    free(nz);
    nn_shape_t shape = { n, 1, 1 };
    float rate = p->nn_dropout;
    nn_data_t tr = { .x = x, .t = t, .n = (int) ntr, .shape = shape,
                     .augment = rate > 0 ? s_nn_dropout : NULL, .augment_user = &rate };
    nn_data_t va = { .x = x + ntr * (size_t) n, .t = t + ntr * (size_t) n,
                     .n = (int) (nex - ntr), .shape = shape };
    nn_train_opts_t o;
    nn_train_opts_default(&o);
    o.epochs = p->nn_epochs;
    o.batch = 128;
    o.optimizer = NN_ADAMW;
    o.lr = p->nn_lr;
    o.weight_decay = p->nn_weight_decay;
    o.schedule = NN_SCHED_CONSTANT;
    o.warmup = 0;
    o.seed = p->seed;
    o.verbose = 0;
    nn_epoch_t best = { 0 };
    o.progress = s_nn_progress;
    o.progress_user = &best;
    /* early stop only when both sides hold a tenth of the baskets */
    if (ntr >= nex / 10 && nex - ntr >= nex / 10 && ntr > 0 && ntr < nex) {
        o.val = &va;
        o.patience = p->nn_patience;
        o.restore_best = true;
        log_info("recommend: neural: %zu training and %zu validation baskets", ntr, nex - ntr);
    } else {
        tr.n = (int) nex;    /* too little for a split: train on all */
    }
    int rc = -1;
    nn_net_t *net = s_nn_build(n, p, err, errlen);
    if (!net || nn_train(net, &tr, &o, NULL, err, errlen) < 0)
        goto out;
    if (best.epoch > 0)
        log_info("recommend: neural: kept epoch %d (validation top-1 %.4f)", best.epoch,
                 (double) best.val_acc);
    m->nn_blob = nn_save_mem(net, &m->nn_len, err, errlen);
    if (m->nn_blob)
        rc = 0;
out:
    nn_destroy(&net);
    free(x);
    free(t);
    free(ex);
    return rc;
}

rec_model_t *
rec_model_train(const rec_data_t *d, int64_t until, const rec_params_t *p, char *err,
                size_t errlen)
{
    if (!d->indexed) {
        snprintf(err, errlen, "the log is not indexed");
        return NULL;
    }
    if (!rec_params_sane(p)) {
        snprintf(err, errlen, "parameters out of range");
        return NULL;
    }
    int n = rec_dict_size(d->items);
    if (n < 2) {
        snprintf(err, errlen, "need at least 2 items, have %d", n);
        return NULL;
    }
    rec_model_t *m = rec_model_alloc(n, p);
    for (int i = 0; i < n; i++)
        rec_model_set_id(m, i, rec_dict_str(d->items, i));
    int64_t tmax = INT64_MIN;
    for (size_t e = 0; e < d->n_ev; e++)
        if (d->ev[e].time < until && d->ev[e].time > tmax)
            tmax = d->ev[e].time;
    double t0 = shop_now_s();
    s_train_pop(m, d, until, tmax);
    m->secs[REC_POP] = m->secs[REC_TREND] = shop_now_s() - t0;
    s_ui_t ui;
    s_ui_build(d, until, &ui);

    t0 = shop_now_s();
    float *c = xmallocarray((size_t) n * n, sizeof *c);
    float *diag = xmallocarray((size_t) n, sizeof *diag);
    s_cooc_baskets(d, until, c, n);
    for (int i = 0; i < n; i++)
        diag[i] = c[(size_t) i * n + i];
    s_topk_cosine(c, diag, n, m->knn_k, m->tog_idx, m->tog_sim);
    s_cooc_users(&ui, c, n);
    for (int i = 0; i < n; i++)
        diag[i] = c[(size_t) i * n + i];
    s_topk_cosine(c, diag, n, m->knn_k, m->knn_idx, m->knn_sim);
    m->secs[REC_KNN] = shop_now_s() - t0;
    free(diag);

    if (p->train_ease) {
        t0 = shop_now_s();
        if (s_train_ease(m, c, n) != 0) {
            snprintf(err, errlen, "EASE: the Gram matrix is not positive definite");
            free(c);
            s_ui_free(&ui);
            rec_model_destroy(&m);
            return NULL;
        }
        m->secs[REC_EASE] = shop_now_s() - t0;
    } else {
        free(c);
    }
    if (p->train_als) {
        t0 = shop_now_s();
        s_train_als(m, &ui);
        m->secs[REC_ALS] = shop_now_s() - t0;
    }
    s_ui_free(&ui);
    if (p->train_neural) {
        t0 = shop_now_s();
        if (s_train_neural(m, d, until, tmax, err, errlen) != 0) {
            rec_model_destroy(&m);
            return NULL;
        }
        m->secs[REC_NEURAL] = shop_now_s() - t0;
    }
    return m;
}

