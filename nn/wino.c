/* nn/wino.c: Winograd F(4x4, 3x3) convolution (see nn/wino.h).
 *
 * Y = A^T [ (G g G^T) . (B^T d B) ] A per 4x4 output tile, d the 6x6 input
 * tile around it, g the 3x3 kernel, with the matrices of Lavin & Gray (2016)
 * for the points 0, 1, -1, 2, -2 (and infinity). The 36 element-wise products
 * summed over input channels are 36 GEMMs: for transform position xi,
 * M[xi] (tiles x K) = V[xi] (tiles x C) U[xi] (C x K).
 *
 * The weight gradient uses the same transformed tiles: the forward is
 * linear in U = G g G^T, so dU[xi] = sum over tiles of (A dy A^T)[xi] times
 * (B^T x B)[xi] (36 GEMMs reducing over tiles) and dW = G^T dU G.
 *
 * Layout: channels innermost. The input is copied once into padded images
 * with channels innermost (16x16 register transposes), so that every step of
 * the transforms is the same few additions on C (or K) contiguous floats,
 * written with GCC vector extensions (16 channels per AVX-512 instruction);
 * the products are transformed back into output tiles with channels
 * innermost and transposed into the N x K x H x W output, with bias and ReLU
 * on the way. Tiles run in chunks whose transformed tiles and products stay
 * in L2. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nn/blas.h"
#include "nn/internal.h"
#include "nn/wino.h"

enum { T_OUT = 4, T_IN = 6, XI = 36 };

static void
s_reserve(float **buf, size_t *cap, size_t n)
{
    if (n > *cap) {
        free(*buf);
        *buf = xmallocarray(n, sizeof(float));
        *cap = n;
    }
}

void
nn_wino_ws_free(nn_wino_ws_t *ws)
{
    free(ws->pad);
    free(ws->v);
    free(ws->m);
    free(ws->out);
    free(ws->du);
    memset(ws, 0, sizeof *ws);
}

size_t
nn_wino_weights_size(int C, int K)
{
    return (size_t) XI * C * K;
}

/* G of F(4x4, 3x3): U = G g G^T. */
static const float s_G[T_IN][3] = {
    { 1.0f / 4, 0, 0 },
    { -1.0f / 6, -1.0f / 6, -1.0f / 6 },
    { -1.0f / 6, 1.0f / 6, -1.0f / 6 },
    { 1.0f / 24, 1.0f / 12, 1.0f / 6 },
    { 1.0f / 24, -1.0f / 12, 1.0f / 6 },
    { 0, 0, 1 },
};

/* The 36 transformed values of one 3x3 kernel g (row-major), turned by 180
 * degrees first if flip, into u[0..36). */
static void
s_kernel(const float *g, bool flip, float *u)
{
    float gk[3][3], t[T_IN][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            gk[i][j] = flip ? g[(2 - i) * 3 + (2 - j)] : g[i * 3 + j];
    for (int a = 0; a < T_IN; a++)
        for (int j = 0; j < 3; j++)
            t[a][j] = s_G[a][0] * gk[0][j] + s_G[a][1] * gk[1][j] + s_G[a][2] * gk[2][j];
    for (int a = 0; a < T_IN; a++)
        for (int e = 0; e < T_IN; e++)
            u[a * T_IN + e] = t[a][0] * s_G[e][0] + t[a][1] * s_G[e][1] + t[a][2] * s_G[e][2];
}

void
nn_wino_weights(const float *w, int K, int C, bool backward_data, float *u)
{
    /* pair p of u's C x K (K x C backward) matrices, in blocks of 64 pairs
     * transformed into a small buffer and then written out as 36 runs of 64
     * floats: writing each pair's 36 values straight to 36 matrices far
     * apart was 10x slower (cache sets) */
    enum { PB = 64 };
    float tmp[PB][XI];
    size_t P = (size_t) C * K;
    for (size_t p0 = 0; p0 < P; p0 += PB) {
        size_t pn = P - p0 < PB ? P - p0 : PB;
        for (size_t i = 0; i < pn; i++) {
            size_t p = p0 + i, c, k;
            if (backward_data) {   /* u [36][K][C], kernel turned: K in, C out */
                k = p / (size_t) C;
                c = p % (size_t) C;
            } else {               /* u [36][C][K] */
                c = p / (size_t) K;
                k = p % (size_t) K;
            }
            s_kernel(w + (k * C + c) * 9, backward_data, tmp[i]);
        }
        for (int xi = 0; xi < XI; xi++) {
            float *d = u + (size_t) xi * P + p0;
            for (size_t i = 0; i < pn; i++)
                d[i] = tmp[i][xi];
        }
    }
}

/* 16 floats as one value of GCC's vector extension: each clone of the
 * NN_HOT functions below compiles it to its own instructions (one AVX-512
 * register, two AVX2 ones, four SSE ones); unaligned, may alias floats. */
typedef float s_v16 __attribute__((vector_size(64), aligned(4), may_alias));

/* The transforms on lane c (T = s_v16 for 16 lanes, float for one):
 * o[r * os] = (B^T d)[r] for the 6 inputs d[r * ds]. */
#define S_BT(T, d, ds, o, os, c)                                                         \
    do {                                                                                 \
        T d0 = *(const T *) ((d) + (c)), d1 = *(const T *) ((d) + (ds) + (c));           \
        T d2 = *(const T *) ((d) + 2 * (ds) + (c)), d3 = *(const T *) ((d) + 3 * (ds) + (c)); \
        T d4 = *(const T *) ((d) + 4 * (ds) + (c)), d5 = *(const T *) ((d) + 5 * (ds) + (c)); \
        *(T *) ((o) + (c)) = 4.0f * d0 - 5.0f * d2 + d4;                                 \
        *(T *) ((o) + (os) + (c)) = d3 + d4 - 4.0f * (d1 + d2);                          \
        *(T *) ((o) + 2 * (os) + (c)) = 4.0f * (d1 - d2) - d3 + d4;                      \
        *(T *) ((o) + 3 * (os) + (c)) = 2.0f * (d3 - d1) - d2 + d4;                      \
        *(T *) ((o) + 4 * (os) + (c)) = 2.0f * (d1 - d3) - d2 + d4;                      \
        *(T *) ((o) + 5 * (os) + (c)) = 4.0f * d1 - 5.0f * d3 + d5;                      \
    } while (0)

/* o[r * os] = (A^T m)[r], r < 4, for the 6 inputs m[r * ms]. */
#define S_AT(T, m, ms, o, os, c)                                                         \
    do {                                                                                 \
        T m0 = *(const T *) ((m) + (c)), m1 = *(const T *) ((m) + (ms) + (c));           \
        T m2 = *(const T *) ((m) + 2 * (ms) + (c)), m3 = *(const T *) ((m) + 3 * (ms) + (c)); \
        T m4 = *(const T *) ((m) + 4 * (ms) + (c)), m5 = *(const T *) ((m) + 5 * (ms) + (c)); \
        T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;                   \
        *(T *) ((o) + (c)) = m0 + s12 + s34;                                             \
        *(T *) ((o) + (os) + (c)) = d12 + 2.0f * d34;                                    \
        *(T *) ((o) + 2 * (os) + (c)) = s12 + 4.0f * s34;                                \
        *(T *) ((o) + 3 * (os) + (c)) = d12 + 8.0f * d34 + m5;                           \
    } while (0)

/* o[r * os] = (A y)[r], r < 6, for the 4 inputs y[r * ys]: the transpose of
 * the output transform, which the weight gradient applies to dy tiles. */
#define S_A(T, y, ys, o, os, c)                                                          \
    do {                                                                                 \
        T y0 = *(const T *) ((y) + (c)), y1 = *(const T *) ((y) + (ys) + (c));           \
        T y2 = *(const T *) ((y) + 2 * (ys) + (c)), y3 = *(const T *) ((y) + 3 * (ys) + (c)); \
        T s02 = y0 + y2, s13 = y1 + y3, f02 = y0 + 4.0f * y2, f13 = 2.0f * y1 + 8.0f * y3; \
        *(T *) ((o) + (c)) = y0;                                                         \
        *(T *) ((o) + (os) + (c)) = s02 + s13;                                           \
        *(T *) ((o) + 2 * (os) + (c)) = s02 - s13;                                       \
        *(T *) ((o) + 3 * (os) + (c)) = f02 + f13;                                       \
        *(T *) ((o) + 4 * (os) + (c)) = f02 - f13;                                       \
        *(T *) ((o) + 5 * (os) + (c)) = y3;                                              \
    } while (0)

/* A on n lanes. */
static inline __attribute__((always_inline)) void
s_a(const float *y, size_t ys, float *o, size_t os, int n)
{
    int c = 0;
    for (; c + 16 <= n; c += 16)
        S_A(s_v16, y, ys, o, os, c);
    for (; c < n; c++)
        S_A(float, y, ys, o, os, c);
}

/* B^T on n lanes: 16 at a time, then one by one. */
static inline __attribute__((always_inline)) void
s_bt(const float *d, size_t ds, float *o, size_t os, int n)
{
    int c = 0;
    for (; c + 16 <= n; c += 16)
        S_BT(s_v16, d, ds, o, os, c);
    for (; c < n; c++)
        S_BT(float, d, ds, o, os, c);
}

/* A^T on n lanes. */
static inline __attribute__((always_inline)) void
s_at(const float *m, size_t ms, float *o, size_t os, int n)
{
    int c = 0;
    for (; c + 16 <= n; c += 16)
        S_AT(s_v16, m, ms, o, os, c);
    for (; c < n; c++)
        S_AT(float, m, ms, o, os, c);
}

/* Geometry of one call. */
typedef struct {
    int C, K, H, W;
    int th, tw, tpi;        /* tiles per column, per row, per image */
    int Hp, Wp;             /* padded input: th * 4 + 2, tw * 4 + 2 */
    int Ho, Wo;             /* output tiles cover th * 4 x tw * 4 */
} s_geom_t;

typedef int s_i16 __attribute__((vector_size(64)));

/* Transposes the 16 x 16 block r in place: off-diagonal blocks of 8, 4, 2,
 * then 1 swapped (16 two-register permutes per round). The permutes are
 * __builtin_shufflevector with constant indices, which GCC (12+) and clang
 * (the fuzzing build) both provide. */
#define S_LO8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define S_HI8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define S_LO4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define S_HI4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define S_LO2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define S_HI2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define S_LO1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define S_HI1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
/* fully unrolled, so that the 16 rows stay in registers */
#define S_TR_ROUND(D, LO, HI)                                   \
    _Pragma("GCC unroll 16")                                    \
    for (int i = 0; i < 16; i++) {                              \
        if (i & (D))                                            \
            continue;                                           \
        s_v16 a = r[i], b = r[i + (D)];                         \
        r[i] = __builtin_shufflevector(a, b, LO);               \
        r[i + (D)] = __builtin_shufflevector(a, b, HI);         \
    }

static inline __attribute__((always_inline)) void
s_tr16(s_v16 *r)
{
    S_TR_ROUND(8, S_LO8, S_HI8)
    S_TR_ROUND(4, S_LO4, S_HI4)
    S_TR_ROUND(2, S_LO2, S_HI2)
    S_TR_ROUND(1, S_LO1, S_HI1)
}

/* Images [0, g) of x (C x H x W each) into dst (g x Hp x Wp x C, channels
 * innermost) at row and column offset off, zeros around. */
static NN_HOT void
s_to_hwc(const float *x, int g, int C_, int H, int W, int Hp, int Wp, int off, float *dst)
{
    size_t C = (size_t) C_, row = (size_t) Wp * C, HW = (size_t) H * W;
    for (int n = 0; n < g; n++) {
        float *p = dst + (size_t) n * Hp * row;
        memset(p, 0, (size_t) off * row * sizeof(float));
        memset(p + (size_t) (H + off) * row, 0, (size_t) (Hp - H - off) * row * sizeof(float));
        for (int y = 0; y < H; y++) {
            float *r = p + (size_t) (y + off) * row;
            memset(r, 0, (size_t) off * C * sizeof(float));
            memset(r + (size_t) (W + off) * C, 0, (size_t) (Wp - W - off) * C * sizeof(float));
        }
        const float *xn = x + (size_t) n * C * HW;
        /* position i of the plane goes to row i / W + off, column i % W + off;
         * blocks of 16 channels outer, so that 16 planes are read front to
         * back at a time rather than all C (with s_unpad's same order: the
         * reference net 1.03-1.06x, measured interleaved) */
        size_t i0 = 0;
        if (C % 16 == 0) {
            size_t nv = HW / 16 * 16;
            for (size_t c0 = 0; c0 < C; c0 += 16)
                for (size_t i1 = 0; i1 < nv; i1 += 16) {
                    s_v16 r[16];
#pragma GCC unroll 16
                    for (int j = 0; j < 16; j++)
                        r[j] = *(const s_v16 *) (xn + (c0 + (size_t) j) * HW + i1);
                    s_tr16(r);
                    size_t py = i1 / (size_t) W + (size_t) off, px = i1 % (size_t) W;
#pragma GCC unroll 16
                    for (int j = 0; j < 16; j++) {
                        *(s_v16 *) (p + py * row + (px + (size_t) off) * C + c0) = r[j];
                        if (++px == (size_t) W) {
                            px = 0;
                            py++;
                        }
                    }
                }
            i0 = nv;
        }
        for (size_t i = i0; i < HW; i++) {
            float *d = p + (i / (size_t) W + (size_t) off) * row + (i % (size_t) W + (size_t) off) * C;
            for (size_t c = 0; c < C; c++)
                d[c] = xn[c * HW + i];
        }
    }
}

/* Offset of tile t's top-left element in a channels-innermost image stack
 * of rows_per_img rows of row floats each, ch channels per pixel. */
static inline size_t
s_tile_at(const s_geom_t *q, int t, int rows_per_img, size_t row, int ch)
{
    int n = t / q->tpi, r = t % q->tpi, ty = r / q->tw, tx = r % q->tw;
    return ((size_t) n * rows_per_img + (size_t) ty * T_OUT) * row + (size_t) tx * T_OUT * ch;
}

/* Tiles [t0, t0 + tt) of the image group into v (36 x tt x C). */
static NN_HOT void
s_input_tiles(const s_geom_t *q, const float *pad, int t0, int tt, float *v, float *tmp)
{
    int C = q->C;
    size_t row = (size_t) q->Wp * C;
    for (int i = 0; i < tt; i++) {
        const float *base = pad + s_tile_at(q, t0 + i, q->Hp, row, C);
        /* rows of the 6x6 tile, then its columns */
        for (int a = 0; a < T_IN; a++)
            s_bt(base + a * row, (size_t) C, tmp + (size_t) a * T_IN * C, (size_t) C, C);
        for (int e = 0; e < T_IN; e++)
            s_bt(tmp + (size_t) e * C, (size_t) T_IN * C, v + ((size_t) e * tt + i) * C,
                 (size_t) T_IN * tt * C, C);
    }
}

/* Products m (36 x tt x K) of tiles [t0, t0 + tt) into out (g x Ho x Wo x K). */
static NN_HOT void
s_output_tiles(const s_geom_t *q, const float *m, int t0, int tt, float *out, float *tmp)
{
    int K = q->K;
    size_t row = (size_t) q->Wo * K;
    for (int i = 0; i < tt; i++) {
        for (int a = 0; a < T_IN; a++)
            s_at(m + ((size_t) a * T_IN * tt + i) * K, (size_t) tt * K, tmp + (size_t) a * T_OUT * K,
                 (size_t) K, K);
        float *o = out + s_tile_at(q, t0 + i, q->Ho, row, K);
        for (int e = 0; e < T_OUT; e++)
            s_at(tmp + (size_t) e * K, (size_t) T_OUT * K, o + (size_t) e * K, row, K);
    }
}

/* Tiles [t0, t0 + tt) of dy (g x Ho x Wo x K, zero outside the output) into
 * dm (36 x tt x K): A dy A^T. */
static NN_HOT void
s_dy_tiles(const s_geom_t *q, const float *dyh, int t0, int tt, float *dm, float *tmp)
{
    int K = q->K;
    size_t row = (size_t) q->Wo * K;
    for (int i = 0; i < tt; i++) {
        const float *base = dyh + s_tile_at(q, t0 + i, q->Ho, row, K);
        /* rows of the 4x4 tile to 6 columns each, then the columns to 6 rows */
        for (int a = 0; a < T_OUT; a++)
            s_a(base + a * row, (size_t) K, tmp + (size_t) a * T_IN * K, (size_t) K, K);
        for (int e = 0; e < T_IN; e++)
            s_a(tmp + (size_t) e * K, (size_t) T_IN * K, dm + ((size_t) e * tt + i) * K,
                (size_t) T_IN * tt * K, K);
    }
}

/* Output tiles of g images (Ho x Wo x K each) into y (K x H x W each):
 * set with bias and ReLU, or added. Blocks of 16 channels outer, positions
 * inner: each block writes (and reads res from) 16 channel planes front to
 * back, instead of all K planes at once for every 16 positions. */
static NN_HOT void
s_unpad(const s_geom_t *q, const float *out, int g, const float *bias, const float *res,
        bool relu, bool acc, float *y)
{
    size_t K = (size_t) q->K, HW = (size_t) q->H * q->W, row = (size_t) q->Wo * K;
    size_t W = (size_t) q->W;
    for (int n = 0; n < g; n++) {
        const float *on = out + (size_t) n * q->Ho * row;
        float *yn = y + (size_t) n * K * HW;
        const float *rn = res ? res + (size_t) n * K * HW : NULL;
        size_t i0 = 0;
        if (K % 16 == 0) {
            size_t nv = HW / 16 * 16;
            for (size_t k0 = 0; k0 < K; k0 += 16)
                for (size_t i1 = 0; i1 < nv; i1 += 16) {
                    s_v16 r[16];
                    size_t py = i1 / W, px = i1 % W;
#pragma GCC unroll 16
                    for (int j = 0; j < 16; j++) {
                        r[j] = *(const s_v16 *) (on + py * row + px * K + k0);
                        if (++px == W) {
                            px = 0;
                            py++;
                        }
                    }
                    s_tr16(r);
#pragma GCC unroll 16
                    for (int j = 0; j < 16; j++) {
                        s_v16 *d = (s_v16 *) (yn + (k0 + (size_t) j) * HW + i1);
                        if (acc) {
                            *d += r[j];
                        } else {
                            s_v16 v = r[j] + (bias ? bias[k0 + (size_t) j] : 0.0f);
                            if (rn)
                                v += *(const s_v16 *) (rn + (k0 + (size_t) j) * HW + i1);
                            if (relu)   /* keep the lanes above 0: mask & bits */
                                v = (s_v16) ((s_i16) v & (v > 0.0f));
                            *d = v;
                        }
                    }
                }
            i0 = nv;
        }
        for (size_t i = i0; i < HW; i++) {
            const float *s = on + (i / (size_t) q->W) * row + (i % (size_t) q->W) * K;
            for (size_t k = 0; k < K; k++) {
                float *d = yn + k * HW + i;
                if (acc) {
                    *d += s[k];
                } else {
                    float v = s[k] + (bias ? bias[k] : 0.0f);
                    if (rn)
                        v += rn[k * HW + i];
                    *d = relu ? (v > 0.0f ? v : 0.0f) : v;
                }
            }
        }
    }
}

/* Transformed tiles and products of one chunk stay within this many bytes
 * (L2 is 1 MB per core here). */
#define WINO_CHUNK_BYTES (768 * 1024)

/* Geometry and chunking of a call: tiles per chunk (within the byte
 * budget, at least 32 GEMM rows) and images per group (about one chunk). */
static void
s_plan(int b, int C, int K, int H, int W, s_geom_t *q, int *G, int *TT)
{
    *q = (s_geom_t) { .C = C, .K = K, .H = H, .W = W };
    q->th = (H + T_OUT - 1) / T_OUT;
    q->tw = (W + T_OUT - 1) / T_OUT;
    q->tpi = q->th * q->tw;
    q->Hp = q->th * T_OUT + 2;
    q->Wp = q->tw * T_OUT + 2;
    q->Ho = q->th * T_OUT;
    q->Wo = q->tw * T_OUT;
    int tt_max = (int) (WINO_CHUNK_BYTES / ((size_t) XI * (C + K) * sizeof(float)));
    if (tt_max < 32)
        tt_max = 32;
    int g = (tt_max + q->tpi - 1) / q->tpi;
    *G = g < 1 ? 1 : g > b ? b : g;
    *TT = SHOP_MIN(tt_max, *G * q->tpi);
}

void
nn_wino_conv(int b, int C, int K, int H, int W, const float *x, const float *u,
             const float *bias, const float *res, bool relu, bool acc, float *y,
             nn_wino_ws_t *ws)
{
    s_geom_t q;
    int G, TT;
    s_plan(b, C, K, H, W, &q, &G, &TT);
    s_reserve(&ws->pad, &ws->pad_cap, (size_t) G * q.Hp * q.Wp * C + (size_t) XI * C);
    s_reserve(&ws->v, &ws->v_cap, (size_t) XI * TT * C);
    s_reserve(&ws->m, &ws->m_cap, (size_t) XI * TT * K + (size_t) XI * K);
    s_reserve(&ws->out, &ws->out_cap, (size_t) G * q.Ho * q.Wo * K);
    /* per-tile scratch after the padded images and after the products */
    float *tmp_in = ws->pad + (size_t) G * q.Hp * q.Wp * C;
    float *tmp_out = ws->m + (size_t) XI * TT * K;
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0), T = g * q.tpi;
        s_to_hwc(x + (size_t) n0 * C * H * W, g, C, H, W, q.Hp, q.Wp, 1, ws->pad);
        for (int t0 = 0; t0 < T; t0 += TT) {
            int tt = SHOP_MIN(TT, T - t0);
            s_input_tiles(&q, ws->pad, t0, tt, ws->v, tmp_in);
            for (int xi = 0; xi < XI; xi++)
                nn_gemm(false, false, tt, K, C, 1.0f, ws->v + (size_t) xi * tt * C, C,
                        u + (size_t) xi * C * K, K, 0.0f, ws->m + (size_t) xi * tt * K, K);
            s_output_tiles(&q, ws->m, t0, tt, ws->out, tmp_out);
        }
        s_unpad(&q, ws->out, g, bias, res ? res + (size_t) n0 * K * H * W : NULL, relu, acc,
                y + (size_t) n0 * K * H * W);
    }
}

void
nn_wino_weight_grad(int b, int C, int K, int H, int W, const float *x, const float *dy,
                    float *dw, nn_wino_ws_t *ws)
{
    s_geom_t q;
    int G, TT;
    s_plan(b, C, K, H, W, &q, &G, &TT);
    s_reserve(&ws->pad, &ws->pad_cap, (size_t) G * q.Hp * q.Wp * C + (size_t) XI * C);
    s_reserve(&ws->v, &ws->v_cap, (size_t) XI * TT * C);
    s_reserve(&ws->m, &ws->m_cap, (size_t) XI * TT * K + (size_t) XI * K);
    s_reserve(&ws->out, &ws->out_cap, (size_t) G * q.Ho * q.Wo * K);
    s_reserve(&ws->du, &ws->du_cap, (size_t) XI * K * C);
    float *tmp_in = ws->pad + (size_t) G * q.Hp * q.Wp * C;
    float *tmp_dy = ws->m + (size_t) XI * TT * K;
    /* dU[xi] (K x C) = sum over tiles of (A dy A^T)[xi] (x) (B^T x B)[xi] */
    memset(ws->du, 0, (size_t) XI * K * C * sizeof(float));
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0), T = g * q.tpi;
        s_to_hwc(x + (size_t) n0 * C * H * W, g, C, H, W, q.Hp, q.Wp, 1, ws->pad);
        /* dy with zeros where the tiles reach past the output */
        s_to_hwc(dy + (size_t) n0 * K * H * W, g, K, H, W, q.Ho, q.Wo, 0, ws->out);
        for (int t0 = 0; t0 < T; t0 += TT) {
            int tt = SHOP_MIN(TT, T - t0);
            s_input_tiles(&q, ws->pad, t0, tt, ws->v, tmp_in);
            s_dy_tiles(&q, ws->out, t0, tt, ws->m, tmp_dy);
            for (int xi = 0; xi < XI; xi++)
                nn_gemm(true, false, K, C, tt, 1.0f, ws->m + (size_t) xi * tt * K, K,
                        ws->v + (size_t) xi * tt * C, C, 1.0f, ws->du + (size_t) xi * K * C, C);
        }
    }
    /* dW[k][c] += G^T dU[k][c] G */
    size_t P = (size_t) K * C;
    for (size_t p = 0; p < P; p++) {
        float d[T_IN][T_IN], t[3][T_IN];
        for (int xi = 0; xi < XI; xi++)
            d[xi / T_IN][xi % T_IN] = ws->du[(size_t) xi * P + p];
        for (int i = 0; i < 3; i++)
            for (int e = 0; e < T_IN; e++) {
                float acc = 0.0f;
                for (int a = 0; a < T_IN; a++)
                    acc += s_G[a][i] * d[a][e];
                t[i][e] = acc;
            }
        float *o = dw + p * 9;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                float acc = 0.0f;
                for (int e = 0; e < T_IN; e++)
                    acc += t[i][e] * s_G[e][j];
                o[i * 3 + j] += acc;
            }
    }
}
