/* nn/conv_shift.c: stride-1 convolution as shifted GEMMs.
 *
 * With the input zero-padded to Hp x Wp and output positions numbered on the
 * padded grid (p = oh * Wp + ow), tap (i, j) of the kernel reads input
 * position p + i * Wp + j: for every tap the input is one strided matrix
 * [C x P] at a shifted offset, so out = sum over taps of W_tap [M x C] times
 * that matrix, with no im2col (measured 1.4x to 2x faster at 28x28 and
 * 14x14). Several images share the GEMMs, one after the other in each padded
 * channel row; positions outside the output (ow >= OW, oh >= OH) are computed
 * and dropped. */
#include <string.h>

#include "common/util.h"
#include "nn/blas.h"
#include "nn/conv.h"
#include "nn/ops.h"

bool
nn_shift_fits(const nn_layer_t *L, int min_c)
{
    const int *a = L->args;
    /* below ~10x10 the padding costs more than im2col does (measured at 7x7);
     * a threshold below the default forces the path for tests */
    return a[NN_A_SH] == 1 && a[NN_A_SW] == 1 && L->is.c >= min_c
           && !nn_conv_is_1x1(a) && (L->is.h * L->is.w >= 100 || min_c < 16);
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

size_t
nn_shift_weights_size(const nn_layer_t *L)
{
    s_shift_t q = s_shift_geom(L);
    return (size_t) q.M * q.C * q.taps;
}

void
nn_shift_weights(const nn_layer_t *L, const float *w, float *wt)
{
    s_shift_t q = s_shift_geom(L);
    s_shift_weights(&q, w, wt);
}

/* Copies the valid positions of one output plane off the padded grid, plus
 * bias and the plane of a fused residual res (may be NULL), through a ReLU
 * when asked (the fused epilogue). */
NN_HOT void
nn_grid_unpad(const float *src, float *dst, int OH, int OW, int Wp, float bv, const float *res,
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

/* The output gradient of g images (each osz floats, M maps of OH x OW) laid
 * onto the grids of the shifted-GEMM and phase paths: map m of image n at
 * tmp + m * g * img + n * img, rows wgrid apart, zero where no output
 * exists. Adds each map's sum to db[m] when db is not NULL. */
void
nn_dy_to_grid(const float *dy, size_t osz, int g, int M, int OH, int OW, int wgrid, size_t img,
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
                db[m] += nn_vsum(src, OH * OW);
        }
}

void
nn_shift_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y, const float *w,
                const float *bias, bool relu)
{
    s_shift_t q = s_shift_geom(L);
    int b = s->b;
    int G = (int) (GEMM_TARGET_N / q.img);
    G = G < 1 ? 1 : G > b ? b : G;
    size_t ld = (size_t) G * q.img + q.slack;
    nn_reserve(&s->pad, &s->pad_cap, (size_t) q.C * ld);
    nn_reserve(&s->tmp, &s->tmp_cap, (size_t) q.M * G * q.img);
    const float *wt = s->wt_pre;
    size_t tap = s->wt_tap;
    if (!wt) {
        nn_reserve(&s->wt, &s->wt_cap, (size_t) q.M * q.C * q.taps);
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
                nn_grid_unpad(src, y + o, q.OH, q.OW, q.Wp, bias ? bias[m] : 0.0f,
                              s->res ? s->res + o : NULL, relu);
            }
    }
}

void
nn_shift_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy,
                 float *dx, bool acc, const float *w, float *dw, float *db)
{
    s_shift_t q = s_shift_geom(L);
    int b = s->b;
    int G = (int) (GEMM_TARGET_N / q.img);
    G = G < 1 ? 1 : G > b ? b : G;
    size_t ld = (size_t) G * q.img + q.slack;
    nn_reserve(&s->pad, &s->pad_cap, (size_t) q.C * ld);
    nn_reserve(&s->tmp, &s->tmp_cap, (size_t) q.M * G * q.img);
    if (dx)
        nn_reserve(&s->pad2, &s->pad2_cap, (size_t) q.C * ld);
    /* wt: the per-tap weights, then dW per tap */
    size_t wsz = (size_t) q.M * q.C * q.taps;
    nn_reserve(&s->wt, &s->wt_cap, 2 * wsz);
    s_shift_weights(&q, w, s->wt);
    float *dwt = s->wt + wsz;
    memset(dwt, 0, wsz * sizeof(float));
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0);
        int P = (int) ((size_t) g * q.img);
        s_shift_pad(&q, x + (size_t) n0 * L->isz, g, s->pad, ld);
        /* dY on the padded grid, zero where no output exists */
        nn_dy_to_grid(dy + (size_t) n0 * L->osz, L->osz, g, q.M, q.OH, q.OW, q.Wp, q.img, s->tmp,
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
