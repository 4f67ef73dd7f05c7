/* recommend/model.c: the recommendation models' parameters, accessors and
 * scoring (see model.h); the model file is recommend/model_file.c, training
 * recommend/model_train.c (offline library). */
#include "recommend/model.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "nn/nn.h"
#include "recommend/linalg.h"
#include "recommend/model_internal.h"

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
bool
rec_params_sane(const rec_params_t *p)
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
rec_params_line(const rec_params_t *p, size_t i, char *line, size_t len)
{
    if (i >= SHOP_ARRAY_LEN(s_pdesc))
        return -1;
    const void *src = (const char *) p + s_pdesc[i].off;
    int n = 0;
    switch (s_pdesc[i].type) {
    case P_FLOAT: n = snprintf(line, len, "%s=%.9g\n", s_pdesc[i].name,
                               (double) *(const float *) src); break;
    case P_INT: n = snprintf(line, len, "%s=%d\n", s_pdesc[i].name, *(const int *) src); break;
    case P_BOOL: n = snprintf(line, len, "%s=%d\n", s_pdesc[i].name,
                              *(const bool *) src ? 1 : 0); break;
    case P_U64: n = snprintf(line, len, "%s=%llu\n", s_pdesc[i].name,
                             (unsigned long long) *(const uint64_t *) src); break;
    }
    return n < 0 || (size_t) n >= len ? -1 : n;
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
        rec_params_t q = *p;
        void *dst = (char *) &q + s_pdesc[i].off;
        const char *why;
        double x;
        int64_t k;
        int rc = SHOP_NUM_OK;
        switch (s_pdesc[i].type) {
        case P_FLOAT:
            if ((rc = shop_parse_double(v, -FLT_MAX, FLT_MAX, 0, &x, &why)) == SHOP_NUM_OK)
                *(float *) dst = (float) x;
            break;
        case P_INT:
            if ((rc = shop_parse_int(v, -1000000, 1000000, &k, &why)) == SHOP_NUM_OK)
                *(int *) dst = (int) k;
            break;
        case P_BOOL:
            if ((rc = shop_parse_int(v, 0, 1, &k, &why)) == SHOP_NUM_OK)
                *(bool *) dst = k != 0;
            break;
        case P_U64:
            rc = shop_parse_uint(v, 0, UINT64_MAX, (uint64_t *) dst, &why);
            break;
        }
        if (rc != SHOP_NUM_OK || !rec_params_sane(&q))
            return -1;
        *p = q;
        return 0;
    }
    return -1;
}

/* --- small helpers ------------------------------------------------------- */

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

/* Recency-weighted profile of a history at time now: x[i] = sum of w *
 * 2^(-age / half-life) (half-life 0: every item 1). Returns the number of
 * distinct items; x must be zero on entry. Items listed in nz. */
int
rec_profile(const rec_hist_t *h, int64_t now, float half_life_days, float *x, int32_t *nz)
{
    int n = 0;
    double hl = half_life_days * REC_DAY;
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

/* L2-normalises the nnz listed entries of a profile in place (the net's
 * input: a history's length should not set the scale of its logits). */
void
rec_l2_normalise(float *x, const int32_t *nz, int nnz)
{
    double norm = 0;
    for (int k = 0; k < nnz; k++)
        norm += (double) x[nz[k]] * x[nz[k]];
    float inv = norm > 0 ? (float) (1.0 / sqrt(norm)) : 0;
    for (int k = 0; k < nnz; k++)
        x[nz[k]] *= inv;
}

rec_model_t *
rec_model_alloc(int n, const rec_params_t *p)
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

void
rec_model_set_id(rec_model_t *m, int i, const char *id)
{
    m->ids[i] = xstrdup(id);
    rec_dict_add(m->index, id);
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

void
rec_als_solve(const float *y, const float *yty, int f, float reg, float alpha,
              const int32_t *rows, size_t n, const float *cnt, bool cnt_by_row, float *a,
              float *x)
{
    memcpy(a, yty, (size_t) f * f * sizeof *a);
    for (int k = 0; k < f; k++)
        a[(size_t) k * f + k] += reg;
    memset(x, 0, (size_t) f * sizeof *x);
    for (size_t q = 0; q < n; q++) {
        const float *yi = y + (size_t) rows[q] * f;
        float c = 1.0f + alpha * logf(1.0f + (cnt_by_row ? cnt[rows[q]] : cnt[q]));
        for (int k = 0; k < f; k++) {
            float s = (c - 1.0f) * yi[k];
            float *ak = a + (size_t) k * f;
            for (int l = 0; l < f; l++)
                ak[l] += s * yi[l];
            x[k] += c * yi[k];
        }
    }
    if (la_spd_solve(a, x, f) != 0)
        memset(x, 0, (size_t) f * sizeof *x);
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
    rec_l2_normalise(x, nz, nnz);
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
        nnz = rec_profile(h, now, 0, x, nz);
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
        nnz = rec_profile(h, now, 0, x, nz);
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
        rec_als_solve(m->als_y, m->als_yty, f, m->p.als_reg, m->p.als_alpha, nz, (size_t) nnz,
                      x, true, a, b);
        la_gemv(false, n, f, 1.0f, m->als_y, f, b, 0.0f, scores);
        return 0;
    }
    case REC_NEURAL:
        nnz = rec_profile(h, now, m->p.nn_profile_half_life_days, x, nz);
        return s_nn_scores(m, ws, x, nz, nnz, scores);
    case REC_BLEND: {
        const rec_params_t *p = &m->p;
        /* collaborative part: EASE on the recency-weighted profile */
        nnz = rec_profile(h, now, p->profile_half_life_days, x, nz);
        s_ease_add(m, x, nz, nnz, scores);
        for (int i = 0; i < n; i++)
            scores[i] = fmaxf(scores[i], 0);
        s_scale_max(scores, n);
        if (m->nn_blob && p->blend_nn_weight > 0) {
            memset(x2, 0, (size_t) n * sizeof *x2);
            int nnz2 = rec_profile(h, now, p->nn_profile_half_life_days, x2, nz);
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
        int nr = rec_profile(h, now, p->rep_half_life_days, x2, nz);
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
