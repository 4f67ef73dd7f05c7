/* nn/conv_phase.c: stride-2 convolution as shifted GEMMs on the input's
 * phases.
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
#include <string.h>

#include "common/util.h"
#include "nn/blas.h"
#include "nn/conv.h"
#include "nn/ops.h"

bool
nn_phase_fits(const nn_layer_t *L, int min_c)
{
    const int *a = L->args;
    /* 1x1 kernels (a subsample) and outputs below 10x10 (the grid's extra
     * row and column: 31 % more work at 7x7) stay faster with im2col
     * (measured at batch 64: 32@28 and 64@14 -> 1x1 s2, 64@14 -> 128@7) */
    return a[NN_A_SH] == 2 && a[NN_A_SW] == 2 && a[NN_A_KH] <= 8
           && a[NN_A_KW] <= 8 && L->is.c >= min_c
           && (min_c < 16
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

void
nn_phase_weights(const nn_layer_t *L, const float *w, float *wt)
{
    s_poly_t q;
    s_poly_geom(L, &q);
    s_poly_weights(&q, w, wt, false);
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

void
nn_phase_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y, const float *w,
               const float *bias, bool relu)
{
    s_poly_t q;
    s_poly_geom(L, &q);
    int b = s->b, G = s_poly_group(&q, b);
    size_t ld = (size_t) G * q.img + q.slack;
    nn_reserve(&s->pad, &s->pad_cap, (size_t) q.nph * q.C * ld);
    nn_reserve(&s->tmp, &s->tmp_cap, (size_t) q.M * G * q.img);
    const float *wt = s->wt_pre;
    if (!wt) {
        nn_reserve(&s->wt, &s->wt_cap, L->n_w);
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
                nn_grid_unpad(src, y + o, q.OH, q.OW, q.Wq, bias ? bias[m] : 0.0f,
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

void
nn_phase_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy,
                float *dx, bool acc, const float *w, float *dw, float *db)
{
    s_poly_t q;
    s_poly_geom(L, &q);
    int b = s->b, G = s_poly_group(&q, b);
    size_t ld = (size_t) G * q.img + q.slack;
    size_t rows = (size_t) q.nph * q.C;
    nn_reserve(&s->pad, &s->pad_cap, rows * ld);
    nn_reserve(&s->tmp, &s->tmp_cap, (size_t) q.M * G * q.img);
    if (dx)
        nn_reserve(&s->pad2, &s->pad2_cap, rows * ld);
    /* wt: the per-shift weights, then their gradient */
    nn_reserve(&s->wt, &s->wt_cap, 2 * L->n_w);
    s_poly_weights(&q, w, s->wt, false);
    float *dwt = s->wt + L->n_w;
    memset(dwt, 0, L->n_w * sizeof(float));
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0);
        int P = (int) ((size_t) g * q.img);
        s_poly_pad(&q, x + (size_t) n0 * L->isz, g, s->pad, ld);
        /* dY on the grid, zero where no output exists */
        nn_dy_to_grid(dy + (size_t) n0 * L->osz, L->osz, g, q.M, q.OH, q.OW, q.Wq, q.img, s->tmp,
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
