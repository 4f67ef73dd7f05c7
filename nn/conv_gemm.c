/* nn/conv_gemm.c: convolution as im2col + GEMM (any kernel, stride and
 * padding), and 1x1 stride-1 convs as one GEMM per image. When the output
 * plane is small, several images share one GEMM (their columns side by
 * side) so the GEMM stays wide enough to run near peak. */
#include <string.h>

#include "common/util.h"
#include "nn/blas.h"
#include "nn/conv.h"
#include "nn/ops.h"

/* Columns of the forward im2col GEMM: a K x 256 column block stays in L2
 * (at 1024 the 128x7x7 conv's 1152 x 980 block is 4.5 MB); measured at batch
 * 64 on the 7x7 and stride-2 layers: 77-87 -> 86-98 GFLOPS. */
#define GEMM_IM2COL_FWD_N 256

/* Images per conv GEMM: enough that the GEMM has ~target columns. */
static int
s_group(int n_cols, int b, int target)
{
    int g = target / n_cols;
    if (g < 1)
        g = 1;
    return g < b ? g : b;
}

/* Copies the receptive fields of one C x H x W image into col (K rows of
 * OH*OW values, row stride ld), zeros for the padding. */
static NN_HOT void
s_im2col(const float *x, const nn_layer_t *L, float *col, int ld)
{
    const int *a = L->args;
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int kh = a[NN_A_KH], kw = a[NN_A_KW], sh = a[NN_A_SH], sw = a[NN_A_SW];
    int ph = a[NN_A_PH], pw = a[NN_A_PW];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float *dst = col + (size_t) ((c * kh + i) * kw + j) * ld;
                int lo, hi;
                nn_valid_range(OW, W, sw, pw, j, &lo, &hi);
                for (int oh = 0; oh < OH; oh++) {
                    float *d = dst + oh * OW;
                    int ih = oh * sh - ph + i;
                    if (ih < 0 || ih >= H) {
                        memset(d, 0, (size_t) OW * sizeof(float));
                        continue;
                    }
                    const float *src = x + ((size_t) c * H + ih) * W + j - pw;
                    for (int ow = 0; ow < lo; ow++)
                        d[ow] = 0.0f;
                    /* rows are short (28 floats): an inline loop beats a memcpy call */
                    if (sw == 1)
                        for (int ow = lo; ow < hi; ow++)
                            d[ow] = src[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            d[ow] = src[ow * sw];
                    for (int ow = hi; ow < OW; ow++)
                        d[ow] = 0.0f;
                }
            }
}

/* Adds the columns back into the image gradient dx (the adjoint of s_im2col). */
static NN_HOT void
s_col2im(const float *col, int ld, const nn_layer_t *L, float *dx)
{
    const int *a = L->args;
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int kh = a[NN_A_KH], kw = a[NN_A_KW], sh = a[NN_A_SH], sw = a[NN_A_SW];
    int ph = a[NN_A_PH], pw = a[NN_A_PW];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                const float *src = col + (size_t) ((c * kh + i) * kw + j) * ld;
                int lo, hi;
                nn_valid_range(OW, W, sw, pw, j, &lo, &hi);
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * sh - ph + i;
                    if (ih < 0 || ih >= H)
                        continue;
                    float *d = dx + ((size_t) c * H + ih) * W + j - pw;
                    const float *s = src + oh * OW;
                    if (sw == 1)
                        for (int ow = lo; ow < hi; ow++)
                            d[ow] += s[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            d[ow * sw] += s[ow];
                }
            }
}

/* Fills each of rows rows of n floats with its bias (0 without) plus res
 * (rows x n, a fused residual; may be NULL), so the GEMM accumulates onto it
 * (beta = 1): no separate zeroing, bias or add pass. */
static NN_HOT void
s_fill_bias_rows(float *y, const float *bias, const float *res, int rows, int n)
{
    if (res) {
        for (int m = 0; m < rows; m++) {
            float bv = bias ? bias[m] : 0.0f;
            float *r = y + (size_t) m * n;
            const float *q = res + (size_t) m * n;
            for (int i = 0; i < n; i++)
                r[i] = q[i] + bv;
        }
        return;
    }
    if (!bias) {
        memset(y, 0, (size_t) rows * n * sizeof(float));
        return;
    }
    for (int m = 0; m < rows; m++) {
        float bv = bias[m];
        float *r = y + (size_t) m * n;
        for (int i = 0; i < n; i++)
            r[i] = bv;
    }
}

/* Copies image j of a group GEMM result tmp (M rows of NN) into y, plus
 * bias and the image's residual rn (may be NULL), through a ReLU if asked. */
static NN_HOT void
s_scatter_group(const float *tmp, int M, int NN, int j, int N, const float *bias,
                const float *rn, float *yn, bool relu)
{
    for (int m = 0; m < M; m++) {
        const float *src = tmp + (size_t) m * NN + (size_t) j * N;
        float *dst = yn + (size_t) m * N;
        float bv = bias ? bias[m] : 0.0f;
        if (rn) {
            const float *r = rn + (size_t) m * N;
            for (int i = 0; i < N; i++) {
                float v = src[i] + bv + r[i];
                dst[i] = relu ? (v > 0.0f ? v : 0.0f) : v;
            }
            continue;
        }
        if (relu)
            for (int i = 0; i < N; i++)
                dst[i] = src[i] + bv > 0.0f ? src[i] + bv : 0.0f;
        else
            for (int i = 0; i < N; i++)
                dst[i] = src[i] + bv;
    }
}

/* Forward of a conv layer on s->b images; relu (inference only) applies a
 * ReLU to the output, fused into the copy out of the GEMM where there is one;
 * s->res (inference only, may be NULL) is added before it. */
void
nn_gemm_conv_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y,
                     const float *w, const float *bias, bool relu)
{
    int b = s->b, M = L->os.c, N = L->os.h * L->os.w;
    int K = (int) (L->n_w / (size_t) M);
    if (nn_conv_is_1x1(L->args)) {
        for (int n = 0; n < b; n++) {
            float *yn = y + (size_t) n * L->osz;
            s_fill_bias_rows(yn, bias, s->res ? s->res + (size_t) n * L->osz : NULL, M, N);
            nn_gemm(false, false, M, N, K, 1.0f, w, K, x + (size_t) n * L->isz, N, 1.0f, yn, N);
            if (relu)
                nn_vrelu(yn, yn, (size_t) M * N);
        }
        return;
    }
    int G = s_group(N, b, GEMM_IM2COL_FWD_N);
    nn_reserve(&s->col, &s->col_cap, (size_t) K * G * N);
    if (G > 1)
        nn_reserve(&s->tmp, &s->tmp_cap, (size_t) M * G * N);
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0), NN = g * N;
        for (int j = 0; j < g; j++)
            s_im2col(x + (size_t) (n0 + j) * L->isz, L, s->col + (size_t) j * N, NN);
        if (g == 1) {
            float *yn = y + (size_t) n0 * L->osz;
            s_fill_bias_rows(yn, bias, s->res ? s->res + (size_t) n0 * L->osz : NULL, M, N);
            nn_gemm(false, false, M, N, K, 1.0f, w, K, s->col, N, 1.0f, yn, N);
            if (relu)
                nn_vrelu(yn, yn, (size_t) M * N);
            continue;
        }
        nn_gemm(false, false, M, NN, K, 1.0f, w, K, s->col, NN, 0.0f, s->tmp, NN);
        for (int j = 0; j < g; j++)
            s_scatter_group(s->tmp, M, NN, j, N, bias,
                            s->res ? s->res + (size_t) (n0 + j) * L->osz : NULL,
                            y + (size_t) (n0 + j) * L->osz, relu);
    }
}

void
nn_gemm_conv_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy,
                      float *dx, bool acc, const float *w, float *dw, float *db)
{
    int b = s->b, M = L->os.c, N = L->os.h * L->os.w;
    int K = (int) (L->n_w / (size_t) M);
    if (nn_conv_is_1x1(L->args)) {
        for (int n = 0; n < b; n++) {
            const float *dyn = dy + (size_t) n * L->osz;
            const float *xn = x + (size_t) n * L->isz;
            nn_gemm(false, true, M, K, N, 1.0f, dyn, N, xn, N, 1.0f, dw, K);
            if (db)
                nn_row_sums_add(dyn, M, N, db);
            if (dx)
                nn_gemm(true, false, K, N, M, 1.0f, w, K, dyn, N, acc ? 1.0f : 0.0f,
                        dx + (size_t) n * L->isz, N);
        }
        return;
    }
    int G = s_group(N, b, GEMM_TARGET_N);
    nn_reserve(&s->col, &s->col_cap, (size_t) K * G * N);
    if (G > 1)
        nn_reserve(&s->tmp, &s->tmp_cap, (size_t) M * G * N);
    if (dx && !acc)
        memset(dx, 0, (size_t) b * L->isz * sizeof(float));   /* col2im accumulates */
    for (int n0 = 0; n0 < b; n0 += G) {
        int g = SHOP_MIN(G, b - n0), NN = g * N;
        for (int j = 0; j < g; j++)
            s_im2col(x + (size_t) (n0 + j) * L->isz, L, s->col + (size_t) j * N, NN);
        const float *dyg = dy + (size_t) n0 * L->osz;
        if (g > 1) {
            for (int j = 0; j < g; j++)
                for (int m = 0; m < M; m++)
                    memcpy(s->tmp + (size_t) m * NN + (size_t) j * N,
                           dy + (size_t) (n0 + j) * L->osz + (size_t) m * N,
                           (size_t) N * sizeof(float));
            dyg = s->tmp;
        }
        nn_gemm(false, true, M, K, NN, 1.0f, dyg, NN, s->col, NN, 1.0f, dw, K);
        if (db)
            nn_row_sums_add(dyg, M, NN, db);
        if (dx) {
            nn_gemm(true, false, K, NN, M, 1.0f, w, K, dyg, NN, 0.0f, s->col, NN);
            for (int j = 0; j < g; j++)
                s_col2im(s->col + (size_t) j * N, NN, L, dx + (size_t) (n0 + j) * L->isz);
        }
    }
}
