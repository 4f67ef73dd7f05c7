/* recommend/model.c: training, scoring and files of the recommendation
 * models (see model.h). */
#include "recommend/model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/log.h"
#include "common/util.h"
#include "nn/nn.h"
#include "recommend/linalg.h"

#define DAY 86400.0

struct _rec_model_t {
    rec_params_t p;            /* the parameters it was trained with */
    int n;                     /* items */
    char **ids;                /* item ids (owned) */
    rec_dict_t *index;         /* id -> item */
    float *pop;                /* purchases per item */
    float *trend;              /* time-decayed purchases at the end of training */
    int knn_k;                 /* neighbours per item (both lists) */
    int32_t *knn_idx;          /* n x knn_k, -1 padded: customers' cosine */
    float *knn_sim;
    int32_t *tog_idx;          /* n x knn_k: baskets' cosine */
    float *tog_sim;
    float *ease;               /* n x n, row j = support given by j; NULL when off */
    int als_f;                 /* factors, 0 when off */
    float *als_y;              /* n x f item factors */
    float *als_yty;            /* f x f */
    uint8_t *nn_blob;          /* the neural net as an nn model file in memory */
    size_t nn_len;
    uint64_t uid;              /* unique per model in this process (workspaces' nets) */
    double secs[REC_N_KINDS];  /* training time per part */
};

struct _rec_ws_t {
    float *buf;                /* scratch floats */
    size_t cap;
    nn_net_t *net;             /* this thread's copy of a model's neural net */
    uint64_t net_uid;          /* the model it belongs to */
};

static const char *const s_kind_names[REC_N_KINDS] = {
    "pop", "trend", "freq", "itemknn", "ease", "als", "neural", "blend",
};

const char *
rec_kind_name(rec_kind_t k)
{
    return (int) k >= 0 && k < REC_N_KINDS ? s_kind_names[k] : "unknown";
}

int
rec_kind_from_name(const char *name)
{
    for (int k = 0; name && k < REC_N_KINDS; k++)
        if (strcmp(name, s_kind_names[k]) == 0)
            return k;
    return -1;
}

float
rec_event_weight(store_event_type_t t)
{
    switch (t) {
    case STORE_EVENT_PURCHASE: return 1.0f;
    case STORE_EVENT_CART: return 0.5f;
    default: return 0.2f;
    }
}

/* --- parameters ---------------------------------------------------------- */

void
rec_params_default(rec_params_t *p)
{
    *p = (rec_params_t) {
        .trend_half_life_days = 14,
        .knn_k = 100,
        .ease_lambda = 250,
        .als_factors = 64,
        .als_reg = 0.1f,
        .als_alpha = 10,
        .als_iters = 10,
        .nn_hidden = 256,
        .nn_epochs = 40,
        .nn_lr = 3e-3f,
        .nn_dropout = 0.3f,
        .nn_profile_half_life_days = 60,
        .nn_val_days = 30,
        .nn_patience = 4,
        .nn_weight_decay = 0.01f,
        /* the blend: tuned on the validation split (docs/recommend.md) */
        .rep_weight = 0.6f,
        .rep_half_life_days = 365,
        .profile_half_life_days = 30,
        .blend_nn_weight = 0.3f,
        .blend_trend_weight = 0.3f,
        .train_ease = true,
        .train_als = true,
        .train_neural = true,
        .seed = 42,
    };
}

typedef enum { P_FLOAT, P_INT, P_BOOL, P_U64 } ptype_t;
static const struct {
    const char *name;
    ptype_t type;
    size_t off;
} s_pdesc[] = {
#define PF(n) { #n, P_FLOAT, offsetof(rec_params_t, n) }
#define PI(n) { #n, P_INT, offsetof(rec_params_t, n) }
#define PB(n) { #n, P_BOOL, offsetof(rec_params_t, n) }
    PF(trend_half_life_days), PI(knn_k), PF(ease_lambda), PI(als_factors), PF(als_reg),
    PF(als_alpha), PI(als_iters), PI(nn_hidden), PI(nn_epochs), PF(nn_lr), PF(nn_dropout),
    PF(nn_profile_half_life_days), PF(nn_val_days), PI(nn_patience),
    PF(nn_weight_decay), PF(rep_weight), PF(rep_half_life_days),
    PF(profile_half_life_days), PF(blend_nn_weight), PF(blend_trend_weight), PB(train_ease),
    PB(train_als), PB(train_neural), { "seed", P_U64, offsetof(rec_params_t, seed) },
#undef PF
#undef PI
#undef PB
};

/* Bounds keep a hostile model file or a typo from asking for absurd sizes. */
static bool
s_params_sane(const rec_params_t *p)
{
    return p->knn_k >= 1 && p->knn_k <= 1000 && p->als_factors >= 1 && p->als_factors <= 512
           && p->als_iters >= 0 && p->als_iters <= 1000 && p->nn_hidden >= 1
           && p->nn_hidden <= 4096 && p->nn_epochs >= 0 && p->nn_epochs <= 10000
           && p->ease_lambda > 0 && p->trend_half_life_days > 0 && p->rep_half_life_days > 0
           && p->profile_half_life_days >= 0 && p->nn_profile_half_life_days >= 0
           && p->nn_dropout >= 0 && p->nn_dropout < 1 && p->rep_weight >= 0
           && p->rep_weight <= 1 && p->nn_lr > 0
           && p->nn_val_days >= 0 && p->nn_patience >= 0 && p->nn_patience <= 1000
           && p->nn_weight_decay >= 0 && p->als_reg >= 0 && p->als_alpha >= 0;
}

int
rec_params_set(rec_params_t *p, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return -1;
    size_t klen = (size_t) (eq - assignment);
    const char *v = eq + 1;
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_pdesc); i++) {
        if (strlen(s_pdesc[i].name) != klen || strncmp(s_pdesc[i].name, assignment, klen) != 0)
            continue;
        char *end = NULL;
        errno = 0;
        rec_params_t q = *p;
        void *dst = (char *) &q + s_pdesc[i].off;
        switch (s_pdesc[i].type) {
        case P_FLOAT: {
            double x = strtod(v, &end);
            if (!isfinite(x))
                return -1;
            *(float *) dst = (float) x;
            break;
        }
        case P_INT: {
            long x = strtol(v, &end, 10);
            if (x < -1000000 || x > 1000000)
                return -1;
            *(int *) dst = (int) x;
            break;
        }
        case P_BOOL:
            *(bool *) dst = strtol(v, &end, 10) != 0;
            break;
        case P_U64:
            *(uint64_t *) dst = strtoull(v, &end, 10);
            break;
        }
        if (errno || end == v || *end || !s_params_sane(&q))
            return -1;
        *p = q;
        return 0;
    }
    return -1;
}

/* --- small helpers ------------------------------------------------------- */

static float
s_uniform(uint64_t *s)
{
    return (float) ((shop_splitmix64(s) >> 40) * (1.0 / 16777216.0));
}

static float *
s_ws(rec_ws_t *ws, size_t n)
{
    if (ws->cap < n) {
        free(ws->buf);
        ws->buf = xmallocarray(n, sizeof(float));
        ws->cap = n;
    }
    return ws->buf;
}

rec_ws_t *
rec_ws_new(void)
{
    return xcalloc(1, sizeof(rec_ws_t));
}

void
rec_ws_destroy(rec_ws_t **ws_p)
{
    if (!ws_p || !*ws_p)
        return;
    free((*ws_p)->buf);
    nn_destroy(&(*ws_p)->net);
    free(*ws_p);
    *ws_p = NULL;
}

typedef struct {
    float v;
    int32_t i;
} s_pair_t;

static void
s_heap_down(s_pair_t *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].v < h[m].v)
            m = l;
        if (r < n && h[r].v < h[m].v)
            m = r;
        if (m == i)
            return;
        s_pair_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int
s_cmp_pair_desc(const void *a, const void *b)
{
    const s_pair_t *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

int
rec_topk(const float *scores, int n, int k, int32_t *idx)
{
    if (k <= 0)
        return 0;
    s_pair_t stack_heap[64];
    s_pair_t *h = k <= 64 ? stack_heap : xmallocarray((size_t) k, sizeof *h);
    int m = 0;
    for (int i = 0; i < n; i++) {
        float v = scores[i];
        if (v == -INFINITY || isnan(v))
            continue;
        if (m < k) {
            h[m++] = (s_pair_t) { v, i };
            if (m == k)
                for (int j = k / 2 - 1; j >= 0; j--)
                    s_heap_down(h, k, j);
        } else if (v > h[0].v) {
            h[0] = (s_pair_t) { v, i };
            s_heap_down(h, k, 0);
        }
    }
    qsort(h, (size_t) m, sizeof *h, s_cmp_pair_desc);
    for (int j = 0; j < m; j++)
        idx[j] = h[j].i;
    if (h != stack_heap)
        free(h);
    return m;
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
    double hl = m->p.trend_half_life_days * DAY;
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

/* Confidence of a (customer, item) pair with count purchases. */
static float
s_als_conf(float alpha, float count)
{
    return 1.0f + alpha * logf(1.0f + count);
}

/* Solves one side of implicit ALS for the rows of a CSR (rows x ny):
 * x_r = (Y'Y + Y'(C_r - I)Y + reg I)^-1 Y' C_r 1, with Y (ny x f). */
static void
s_als_half(const size_t *start, const int32_t *col, const float *cnt, int rows, const float *y,
           int ny, int f, float reg, float alpha, float *x)
{
    float *yty = xmallocarray((size_t) f * f, sizeof *yty);
    float *a = xmallocarray((size_t) f * f, sizeof *a);
    float *b = xmallocarray((size_t) f, sizeof *b);
    la_gemm(true, false, f, f, ny, 1.0f, y, f, y, f, 0.0f, yty, f);
    for (int r = 0; r < rows; r++) {
        float *xr = x + (size_t) r * f;
        if (start[r] == start[r + 1]) {
            memset(xr, 0, (size_t) f * sizeof *xr);
            continue;
        }
        memcpy(a, yty, (size_t) f * f * sizeof *a);
        for (int k = 0; k < f; k++)
            a[(size_t) k * f + k] += reg;
        memset(b, 0, (size_t) f * sizeof *b);
        for (size_t e = start[r]; e < start[r + 1]; e++) {
            const float *yi = y + (size_t) col[e] * f;
            float c = s_als_conf(alpha, cnt[e]);
            for (int k = 0; k < f; k++) {
                float s = (c - 1.0f) * yi[k];
                float *ak = a + (size_t) k * f;
                for (int l = 0; l < f; l++)
                    ak[l] += s * yi[l];
                b[k] += c * yi[k];
            }
        }
        if (la_spd_solve(a, b, f) != 0)
            memset(b, 0, (size_t) f * sizeof *b);
        memcpy(xr, b, (size_t) f * sizeof *xr);
    }
    free(yty);
    free(a);
    free(b);
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

/* Recency-weighted profile of a history at time now: x[i] = sum of w *
 * 2^(-age / half-life) (half-life 0: every item 1). Returns the number of
 * distinct items; x must be zero on entry. Items listed in nz. */
static int
s_profile(const rec_hist_t *h, int64_t now, float half_life_days, float *x, int32_t *nz)
{
    int n = 0;
    double hl = half_life_days * DAY;
    for (int e = 0; e < h->n; e++) {
        int32_t i = h->ev[e].item;
        if (x[i] == 0)
            nz[n++] = i;
        double age = (double) (now - h->ev[e].time);
        if (age < 0)
            age = 0;
        float w = hl > 0 ? h->ev[e].w * (float) exp2(-age / hl) : 1.0f;
        x[i] = hl > 0 ? x[i] + w : 1.0f;
        if (x[i] == 0)          /* underflow: keep it listed */
            x[i] = 1e-30f;
    }
    return n;
}

typedef struct {
    int32_t user;
    uint32_t from, to;     /* the target basket: events [from, to) of the log */
} s_example_t;

/* L2-normalises the nnz listed entries of a profile in place (the net's
 * input: a history's length should not set the scale of its logits). */
static void
s_l2_normalise(float *x, const int32_t *nz, int nnz)
{
    double norm = 0;
    for (int k = 0; k < nnz; k++)
        norm += (double) x[nz[k]] * x[nz[k]];
    float inv = norm > 0 ? (float) (1.0 / sqrt(norm)) : 0;
    for (int k = 0; k < nnz; k++)
        x[nz[k]] *= inv;
}

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
    int64_t cut = p->nn_val_days > 0 ? tmax - (int64_t) (p->nn_val_days * DAY) : INT64_MAX;
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
        int cnt = s_profile(&(rec_hist_t) { hist, hn }, d->ev[e->from].time,
                            p->nn_profile_half_life_days, row, nz);
        s_l2_normalise(row, nz, cnt);
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

static rec_model_t *
s_model_alloc(int n, const rec_params_t *p)
{
    static _Atomic uint64_t s_uids;
    rec_model_t *m = xcalloc(1, sizeof *m);
    m->uid = ++s_uids;
    m->p = *p;
    m->n = n;
    m->ids = xcalloc((size_t) n + 1, sizeof *m->ids);
    m->index = rec_dict_new();
    m->pop = xcalloc((size_t) n + 1, sizeof *m->pop);
    m->trend = xcalloc((size_t) n + 1, sizeof *m->trend);
    m->knn_k = p->knn_k;
    m->knn_idx = xmallocarray((size_t) n * p->knn_k + 1, sizeof *m->knn_idx);
    m->knn_sim = xcalloc((size_t) n * p->knn_k + 1, sizeof *m->knn_sim);
    m->tog_idx = xmallocarray((size_t) n * p->knn_k + 1, sizeof *m->tog_idx);
    m->tog_sim = xcalloc((size_t) n * p->knn_k + 1, sizeof *m->tog_sim);
    return m;
}

static void
s_set_id(rec_model_t *m, int i, const char *id)
{
    m->ids[i] = xstrdup(id);
    rec_dict_add(m->index, id);
}

rec_model_t *
rec_model_train(const rec_data_t *d, int64_t until, const rec_params_t *p, char *err,
                size_t errlen)
{
    if (!d->indexed) {
        snprintf(err, errlen, "the log is not indexed");
        return NULL;
    }
    if (!s_params_sane(p)) {
        snprintf(err, errlen, "parameters out of range");
        return NULL;
    }
    int n = rec_dict_size(d->items);
    if (n < 2) {
        snprintf(err, errlen, "need at least 2 items, have %d", n);
        return NULL;
    }
    rec_model_t *m = s_model_alloc(n, p);
    for (int i = 0; i < n; i++)
        s_set_id(m, i, rec_dict_str(d->items, i));
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

void
rec_model_destroy(rec_model_t **m_p)
{
    if (!m_p || !*m_p)
        return;
    rec_model_t *m = *m_p;
    for (int i = 0; m->ids && i < m->n; i++)
        free(m->ids[i]);
    free(m->ids);
    rec_dict_destroy(&m->index);
    free(m->pop);
    free(m->trend);
    free(m->knn_idx);
    free(m->knn_sim);
    free(m->tog_idx);
    free(m->tog_sim);
    free(m->ease);
    free(m->als_y);
    free(m->als_yty);
    free(m->nn_blob);
    free(m);
    *m_p = NULL;
}

int
rec_model_set_param(rec_model_t *m, const char *assignment)
{
    static const char *const scoring[] = { "rep_weight=", "rep_half_life_days=",
                                           "profile_half_life_days=", "blend_nn_weight=",
                                           "blend_trend_weight=" };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(scoring); i++)
        if (strncmp(assignment, scoring[i], strlen(scoring[i])) == 0)
            return rec_params_set(&m->p, assignment);
    return -1;
}

int
rec_model_n_items(const rec_model_t *m)
{
    return m->n;
}

const char *
rec_model_item_id(const rec_model_t *m, int i)
{
    return i >= 0 && i < m->n ? m->ids[i] : NULL;
}

int
rec_model_item_index(const rec_model_t *m, const char *id)
{
    return rec_dict_find(m->index, id);
}

const rec_params_t *
rec_model_params(const rec_model_t *m)
{
    return &m->p;
}

bool
rec_model_has(const rec_model_t *m, rec_kind_t k)
{
    switch (k) {
    case REC_EASE: return m->ease != NULL;
    case REC_ALS: return m->als_f > 0;
    case REC_NEURAL: return m->nn_blob != NULL;
    case REC_BLEND: return m->ease != NULL;
    default: return (int) k >= 0 && k < REC_N_KINDS;
    }
}

double
rec_model_train_seconds(const rec_model_t *m, rec_kind_t k)
{
    return (int) k >= 0 && k < REC_N_KINDS ? m->secs[k] : 0;
}

float
rec_model_pop(const rec_model_t *m, int i)
{
    return i >= 0 && i < m->n ? m->pop[i] : 0;
}

float
rec_model_trend(const rec_model_t *m, int i)
{
    return i >= 0 && i < m->n ? m->trend[i] : 0;
}

int
rec_model_neighbours(const rec_model_t *m, int i, bool together, const int32_t **idx,
                     const float **sim)
{
    if (i < 0 || i >= m->n)
        return 0;
    const int32_t *ix = (together ? m->tog_idx : m->knn_idx) + (size_t) i * m->knn_k;
    const float *sv = (together ? m->tog_sim : m->knn_sim) + (size_t) i * m->knn_k;
    int k = 0;
    while (k < m->knn_k && ix[k] >= 0)
        k++;
    *idx = ix;
    *sim = sv;
    return k;
}

float
rec_model_ease_weight(const rec_model_t *m, int j, int i)
{
    if (!m->ease || i < 0 || j < 0 || i >= m->n || j >= m->n)
        return 0;
    return m->ease[(size_t) j * m->n + i];
}

/* --- scoring ------------------------------------------------------------- */

static void
s_scale_max(float *v, int n)
{
    float mx = 0;
    for (int i = 0; i < n; i++)
        mx = fmaxf(mx, v[i]);
    if (mx > 0) {
        float inv = 1.0f / mx;
        for (int i = 0; i < n; i++)
            v[i] *= inv;
    }
}

/* scores += sum over profile items j of x[j] * EASE row j */
static void
s_ease_add(const rec_model_t *m, const float *x, const int32_t *nz, int nnz, float *scores)
{
    for (int k = 0; k < nnz; k++) {
        const float *row = m->ease + (size_t) nz[k] * m->n;
        float v = x[nz[k]];
        for (int i = 0; i < m->n; i++)
            scores[i] += v * row[i];
    }
}

static void
s_als_user(const rec_model_t *m, const float *cnt, const int32_t *nz, int nnz, float *a,
           float *b)
{
    int f = m->als_f;
    memcpy(a, m->als_yty, (size_t) f * f * sizeof *a);
    for (int k = 0; k < f; k++)
        a[(size_t) k * f + k] += m->p.als_reg;
    memset(b, 0, (size_t) f * sizeof *b);
    for (int q = 0; q < nnz; q++) {
        const float *yi = m->als_y + (size_t) nz[q] * f;
        float c = s_als_conf(m->p.als_alpha, cnt[nz[q]]);
        for (int k = 0; k < f; k++) {
            float s = (c - 1.0f) * yi[k];
            float *ak = a + (size_t) k * f;
            for (int l = 0; l < f; l++)
                ak[l] += s * yi[l];
            b[k] += c * yi[k];
        }
    }
    if (la_spd_solve(a, b, f) != 0)
        memset(b, 0, (size_t) f * sizeof *b);
}

/* Neural scores (softmax probabilities) of a profile x (its nnz items listed
 * in nz; L2-normalised here) into out[n], through this workspace's own copy
 * of the model's net (an nn net serves one thread at a time), loaded from
 * the model's blob the first time a workspace meets that model. Returns 0,
 * or -1 when the net cannot be made. */
static int
s_nn_scores(const rec_model_t *m, rec_ws_t *ws, float *x, const int32_t *nz, int nnz,
            float *out)
{
    if (!ws->net || ws->net_uid != m->uid) {
        char err[256];
        nn_destroy(&ws->net);
        ws->net = nn_load_mem(m->nn_blob, m->nn_len, err, sizeof err);
        if (!ws->net) {
            log_err("recommend: neural net: %s", err);
            return -1;
        }
        nn_set_threads(ws->net, 1);
        ws->net_uid = m->uid;
    }
    s_l2_normalise(x, nz, nnz);
    return nn_forward(ws->net, x, 1, out) == 0 ? 0 : -1;
}

int
rec_model_score(const rec_model_t *m, rec_kind_t k, const rec_hist_t *h, int64_t now,
                float *scores, rec_ws_t *ws)
{
    const int n = m->n;
    if (!rec_model_has(m, k))
        return -1;
    size_t need = 4 * (size_t) n
                  + (size_t) m->als_f * (m->als_f + 1) + 16;
    float *x = s_ws(ws, need);
    float *x2 = x + n;
    int32_t *nz = (int32_t *) (x2 + n);     /* n int32 fit in n floats */
    float *tmp = (float *) (nz + n);
    float *als = tmp + n;
    memset(x, 0, 2 * (size_t) n * sizeof *x);
    memset(scores, 0, (size_t) n * sizeof *scores);
    int nnz = 0;
    switch (k) {
    case REC_POP:
        memcpy(scores, m->pop, (size_t) n * sizeof *scores);
        return 0;
    case REC_TREND:
        memcpy(scores, m->trend, (size_t) n * sizeof *scores);
        return 0;
    case REC_FREQ:
        /* purchases of each item, popularity breaking ties */
        for (int i = 0; i < n; i++)
            scores[i] = 1e-6f * m->pop[i] / (1.0f + m->pop[i]);
        for (int e = 0; e < h->n; e++)
            scores[h->ev[e].item] += h->ev[e].w;
        return 0;
    case REC_KNN:
        nnz = s_profile(h, now, 0, x, nz);
        for (int q = 0; q < nnz; q++) {
            const int32_t *ix = m->knn_idx + (size_t) nz[q] * m->knn_k;
            const float *sv = m->knn_sim + (size_t) nz[q] * m->knn_k;
            for (int j = 0; j < m->knn_k && ix[j] >= 0; j++)
                scores[ix[j]] += sv[j];
        }
        for (int i = 0; i < n; i++)
            scores[i] += 1e-6f * m->pop[i] / (1.0f + m->pop[i]);
        return 0;
    case REC_EASE:
        nnz = s_profile(h, now, 0, x, nz);
        s_ease_add(m, x, nz, nnz, scores);
        return 0;
    case REC_ALS: {
        /* counts of purchases per item as in training */
        for (int e = 0; e < h->n; e++) {
            if (x[h->ev[e].item] == 0)
                nz[nnz++] = h->ev[e].item;
            x[h->ev[e].item] += h->ev[e].w;
        }
        int f = m->als_f;
        float *a = als, *b = als + (size_t) f * f;
        s_als_user(m, x, nz, nnz, a, b);
        la_gemv(false, n, f, 1.0f, m->als_y, f, b, 0.0f, scores);
        return 0;
    }
    case REC_NEURAL:
        nnz = s_profile(h, now, m->p.nn_profile_half_life_days, x, nz);
        return s_nn_scores(m, ws, x, nz, nnz, scores);
    case REC_BLEND: {
        const rec_params_t *p = &m->p;
        /* collaborative part: EASE on the recency-weighted profile */
        nnz = s_profile(h, now, p->profile_half_life_days, x, nz);
        s_ease_add(m, x, nz, nnz, scores);
        for (int i = 0; i < n; i++)
            scores[i] = fmaxf(scores[i], 0);
        s_scale_max(scores, n);
        if (m->nn_blob && p->blend_nn_weight > 0) {
            memset(x2, 0, (size_t) n * sizeof *x2);
            int nnz2 = s_profile(h, now, p->nn_profile_half_life_days, x2, nz);
            if (s_nn_scores(m, ws, x2, nz, nnz2, tmp) != 0)
                return -1;
            float mx = 0;
            for (int i = 0; i < n; i++)
                mx = fmaxf(mx, tmp[i]);
            float inv = mx > 0 ? p->blend_nn_weight / mx : 0;
            for (int i = 0; i < n; i++)   /* softmax / its max: in [0, 1] */
                scores[i] += inv * tmp[i];
            /* x2 was reused: the repeat part below recomputes its profile */
        }
        float mt = 0;
        for (int i = 0; i < n; i++)
            mt = fmaxf(mt, m->trend[i]);
        if (mt > 0)
            for (int i = 0; i < n; i++)
                scores[i] += p->blend_trend_weight * m->trend[i] / mt;
        /* the repeat signal: personal frequency with recency decay */
        memset(x2, 0, (size_t) n * sizeof *x2);
        int nr = s_profile(h, now, p->rep_half_life_days, x2, nz);
        float mr = 0;
        for (int q = 0; q < nr; q++)
            mr = fmaxf(mr, x2[nz[q]]);
        float sc = 1.0f - p->rep_weight;
        for (int i = 0; i < n; i++)
            scores[i] *= sc;
        if (mr > 0)
            for (int q = 0; q < nr; q++)
                scores[nz[q]] += p->rep_weight * x2[nz[q]] / mr;
        return 0;
    }
    default:
        return -1;
    }
}

/* --- model file ---------------------------------------------------------- */

#define FILE_MAGIC "SHOPREC1"
#define FILE_VERSION 2u   /* 2: the neural section is an nn model file */
#define FILE_MAX (4ull << 30)

enum {
    SEC_ITEMS = 1,     /* n x (u16 length, bytes) */
    SEC_PARAMS,        /* "name=value\n" text */
    SEC_POP,           /* f32 pop[n], f32 trend[n] */
    SEC_KNN,           /* u32 k, i32 idx[n k], f32 sim[n k] */
    SEC_TOGETHER,      /* same layout */
    SEC_EASE,          /* f32 [n n] */
    SEC_ALS,           /* u32 f, f32 y[n f] */
    SEC_NEURAL,        /* an nn model file (docs/model-format.md): the neural net */
};

/* CRC-32 (IEEE, zlib's) of n bytes. */
static uint32_t
s_crc32(const uint8_t *p, size_t n)
{
    return (uint32_t) crc32_z(0L, p, n);
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
} s_buf_t;

static void
s_put(s_buf_t *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = SHOP_MAX(b->cap * 2, b->n + n + 4096);
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void
s_put_u32(s_buf_t *b, uint32_t v)
{
    s_put(b, &v, 4);   /* x86/ARM little endian: the file's order */
}

/* Starts a section; returns the offset of its length field. */
static size_t
s_section(s_buf_t *b, uint32_t tag)
{
    s_put_u32(b, tag);
    s_put_u32(b, 0);
    uint64_t zero = 0;
    size_t at = b->n;
    s_put(b, &zero, 8);
    return at;
}

static void
s_section_end(s_buf_t *b, size_t at)
{
    uint64_t len = b->n - at - 8;
    memcpy(b->p + at, &len, 8);
}

int
rec_model_save(const rec_model_t *m, const char *path, char *err, size_t errlen)
{
    s_buf_t b = { 0 };
    uint32_t nsec = 5 + (m->ease != NULL) + (m->als_f > 0) + (m->nn_blob != NULL);
    s_put(&b, FILE_MAGIC, 8);
    s_put_u32(&b, FILE_VERSION);
    s_put_u32(&b, (uint32_t) m->n);
    s_put_u32(&b, nsec);
    size_t at = s_section(&b, SEC_PARAMS);
    char line[128];
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_pdesc); i++) {
        const void *src = (const char *) &m->p + s_pdesc[i].off;
        int len = 0;
        switch (s_pdesc[i].type) {
        case P_FLOAT: len = snprintf(line, sizeof line, "%s=%.9g\n", s_pdesc[i].name,
                                     (double) *(const float *) src); break;
        case P_INT: len = snprintf(line, sizeof line, "%s=%d\n", s_pdesc[i].name,
                                   *(const int *) src); break;
        case P_BOOL: len = snprintf(line, sizeof line, "%s=%d\n", s_pdesc[i].name,
                                    *(const bool *) src ? 1 : 0); break;
        case P_U64: len = snprintf(line, sizeof line, "%s=%llu\n", s_pdesc[i].name,
                                   (unsigned long long) *(const uint64_t *) src); break;
        }
        s_put(&b, line, (size_t) len);
    }
    s_section_end(&b, at);
    at = s_section(&b, SEC_ITEMS);
    for (int i = 0; i < m->n; i++) {
        size_t len = strlen(m->ids[i]);
        uint16_t l16 = (uint16_t) SHOP_MIN(len, 65535u);
        s_put(&b, &l16, 2);
        s_put(&b, m->ids[i], l16);
    }
    s_section_end(&b, at);
    size_t n = (size_t) m->n, k = (size_t) m->knn_k;
    at = s_section(&b, SEC_POP);
    s_put(&b, m->pop, n * 4);
    s_put(&b, m->trend, n * 4);
    s_section_end(&b, at);
    at = s_section(&b, SEC_KNN);
    s_put_u32(&b, (uint32_t) k);
    s_put(&b, m->knn_idx, n * k * 4);
    s_put(&b, m->knn_sim, n * k * 4);
    s_section_end(&b, at);
    at = s_section(&b, SEC_TOGETHER);
    s_put_u32(&b, (uint32_t) k);
    s_put(&b, m->tog_idx, n * k * 4);
    s_put(&b, m->tog_sim, n * k * 4);
    s_section_end(&b, at);
    if (m->ease) {
        at = s_section(&b, SEC_EASE);
        s_put(&b, m->ease, n * n * 4);
        s_section_end(&b, at);
    }
    if (m->als_f > 0) {
        at = s_section(&b, SEC_ALS);
        s_put_u32(&b, (uint32_t) m->als_f);
        s_put(&b, m->als_y, n * (size_t) m->als_f * 4);
        s_section_end(&b, at);
    }
    if (m->nn_blob) {
        at = s_section(&b, SEC_NEURAL);
        s_put(&b, m->nn_blob, m->nn_len);
        s_section_end(&b, at);
    }
    s_put_u32(&b, s_crc32(b.p, b.n));
    int rc = shop_write_file_atomic(path, b.p, b.n);
    if (rc != 0)
        snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
    free(b.p);
    return rc;
}

typedef struct {
    const uint8_t *p;
    size_t n, pos;
} s_rd_t;

static int
s_get(s_rd_t *r, void *dst, size_t n)
{
    if (n > r->n - r->pos)
        return -1;
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

/* Reads count floats and refuses NaN and infinities. */
static int
s_get_floats(s_rd_t *r, float **dst, size_t count)
{
    if (count > (r->n - r->pos) / 4)
        return -1;
    *dst = xmallocarray(count + 1, sizeof(float));
    memcpy(*dst, r->p + r->pos, count * 4);
    r->pos += count * 4;
    for (size_t i = 0; i < count; i++)
        if (!isfinite((*dst)[i]))
            return -1;
    return 0;
}

static int
s_get_neighbours(s_rd_t *r, int n, int k, int32_t **idx, float **sim)
{
    uint32_t kk;
    if (s_get(r, &kk, 4) || (int) kk != k)
        return -1;
    size_t count = (size_t) n * k;
    if (count > (r->n - r->pos) / 4)
        return -1;
    *idx = xmallocarray(count + 1, sizeof(int32_t));
    if (s_get(r, *idx, count * 4))
        return -1;
    for (size_t i = 0; i < count; i++)
        if ((*idx)[i] < -1 || (*idx)[i] >= n)
            return -1;
    return s_get_floats(r, sim, count);
}

/* Checks an nn model file (nn_load_mem checks every count and shape) is the
 * recommender's net for n items: input n x 1 x 1, output a softmax over n;
 * keeps a copy as m->nn_blob. Returns 0, or -1 with a message in err. */
static int
s_nn_check(rec_model_t *m, const uint8_t *p, size_t len, char *err, size_t errlen)
{
    char nerr[256];
    nn_net_t *net = nn_load_mem(p, len, nerr, sizeof nerr);
    if (!net) {
        snprintf(err, errlen, "model file: neural section: %s", nerr);
        return -1;
    }
    nn_shape_t in = nn_input_shape(net);
    bool ok = in.c == m->n && in.h == 1 && in.w == 1 && nn_output_size(net) == m->n
              && strcmp(nn_layer_type(net, nn_num_layers(net) - 1), "softmax_xent") == 0;
    nn_destroy(&net);
    if (!ok) {
        snprintf(err, errlen, "model file: the neural net does not map %d items to %d", m->n,
                 m->n);
        return -1;
    }
    m->nn_blob = xmalloc(len);
    memcpy(m->nn_blob, p, len);
    m->nn_len = len;
    return 0;
}

#define LOAD_FAIL(...)                                                                  \
    do {                                                                                \
        snprintf(err, errlen, __VA_ARGS__);                                             \
        goto fail;                                                                      \
    } while (0)

rec_model_t *
rec_model_load_buffer(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    rec_model_t *m = NULL;
    s_rd_t r = { buf, len, 0 };
    char magic[8];
    uint32_t version, n, nsec, crc;
    if (len < 24 + 4 || s_get(&r, magic, 8) || memcmp(magic, FILE_MAGIC, 8) != 0)
        LOAD_FAIL("not a shopd recommender model (bad magic)");
    memcpy(&crc, buf + len - 4, 4);
    if (s_crc32(buf, len - 4) != crc)
        LOAD_FAIL("model file corrupt (CRC mismatch)");
    r.n = len - 4;
    if (s_get(&r, &version, 4) || version != FILE_VERSION)
        LOAD_FAIL("model file version %u, this shopd reads %u", version, FILE_VERSION);
    if (s_get(&r, &n, 4) || n < 2 || n > (1u << 22) || s_get(&r, &nsec, 4) || nsec > 64)
        LOAD_FAIL("model file header out of range");
    rec_params_t p;
    rec_params_default(&p);
    bool have[SEC_NEURAL + 1] = { false };
    for (uint32_t s = 0; s < nsec; s++) {
        uint32_t tag, zero;
        uint64_t slen;
        if (s_get(&r, &tag, 4) || s_get(&r, &zero, 4) || s_get(&r, &slen, 8)
            || slen > r.n - r.pos)
            LOAD_FAIL("model file truncated in section %u", s);
        s_rd_t sr = { r.p + r.pos, (size_t) slen, 0 };
        r.pos += slen;
        if (tag < SEC_ITEMS || tag > SEC_NEURAL || have[tag])
            LOAD_FAIL("model file: unknown or repeated section %u", tag);
        if (tag != SEC_ITEMS && tag != SEC_PARAMS && !have[SEC_ITEMS])
            LOAD_FAIL("model file: items must come first");
        have[tag] = true;
        bool ok = true;
        switch (tag) {
        case SEC_PARAMS: {
            /* unknown names are refused: they would mean another format */
            char line[160];
            size_t a = 0;
            while (a < sr.n && ok) {
                size_t e = a;
                while (e < sr.n && sr.p[e] != '\n')
                    e++;
                if (e - a >= sizeof line)
                    ok = false;
                else {
                    memcpy(line, sr.p + a, e - a);
                    line[e - a] = '\0';
                    ok = rec_params_set(&p, line) == 0;
                }
                a = e + 1;
            }
            if (!ok)
                LOAD_FAIL("model file: bad parameter line");
            sr.pos = sr.n;
            break;
        }
        case SEC_ITEMS:
            if (!have[SEC_PARAMS])
                LOAD_FAIL("model file: parameters must precede items");
            /* the two neighbour lists must fit in the file: no huge allocation
             * on the word of a hostile header */
            if ((uint64_t) n * (uint64_t) p.knn_k * 16u > len)
                LOAD_FAIL("model file: %u items x %d neighbours exceed the file", n, p.knn_k);
            m = s_model_alloc((int) n, &p);
            for (uint32_t i = 0; i < n && ok; i++) {
                uint16_t l;
                char id[65536];
                ok = s_get(&sr, &l, 2) == 0 && l > 0 && s_get(&sr, id, l) == 0;
                if (ok) {
                    id[l] = '\0';
                    ok = strlen(id) == l && rec_dict_find(m->index, id) < 0;
                    if (ok)
                        s_set_id(m, (int) i, id);
                }
            }
            if (!ok)
                LOAD_FAIL("model file: bad item list");
            break;
        case SEC_POP:
            free(m->pop);
            free(m->trend);
            m->pop = m->trend = NULL;
            ok = s_get_floats(&sr, &m->pop, n) == 0 && s_get_floats(&sr, &m->trend, n) == 0;
            break;
        case SEC_KNN:
        case SEC_TOGETHER:
            if (tag == SEC_KNN) {
                free(m->knn_idx), free(m->knn_sim);
                m->knn_idx = NULL, m->knn_sim = NULL;
                ok = s_get_neighbours(&sr, (int) n, m->knn_k, &m->knn_idx, &m->knn_sim) == 0;
            } else {
                free(m->tog_idx), free(m->tog_sim);
                m->tog_idx = NULL, m->tog_sim = NULL;
                ok = s_get_neighbours(&sr, (int) n, m->knn_k, &m->tog_idx, &m->tog_sim) == 0;
            }
            break;
        case SEC_EASE:
            ok = s_get_floats(&sr, &m->ease, (size_t) n * n) == 0;
            break;
        case SEC_ALS: {
            uint32_t f;
            ok = s_get(&sr, &f, 4) == 0 && f >= 1 && f <= 512
                 && s_get_floats(&sr, &m->als_y, (size_t) n * f) == 0;
            if (ok) {
                m->als_f = (int) f;
                m->als_yty = xmallocarray((size_t) f * f, sizeof(float));
                la_gemm(true, false, (int) f, (int) f, (int) n, 1.0f, m->als_y, (int) f,
                        m->als_y, (int) f, 0.0f, m->als_yty, (int) f);
            }
            break;
        }
        case SEC_NEURAL:
            if (s_nn_check(m, sr.p, sr.n, err, errlen) != 0)
                goto fail;
            sr.pos = sr.n;
            break;
        }
        if (!ok || sr.pos != sr.n)
            LOAD_FAIL("model file: section %u has a bad length or value", tag);
    }
    if (r.pos != r.n)
        LOAD_FAIL("model file: trailing bytes");
    if (!have[SEC_POP] || !have[SEC_KNN] || !have[SEC_TOGETHER])
        LOAD_FAIL("model file: a required section is missing");
    return m;
fail:
    rec_model_destroy(&m);
    return NULL;
}

rec_model_t *
rec_model_load(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    uint8_t *buf = shop_read_file(path, FILE_MAX, &len, err, errlen);
    if (!buf)
        return NULL;
    rec_model_t *m = rec_model_load_buffer(buf, len, err, errlen);
    free(buf);
    return m;
}
