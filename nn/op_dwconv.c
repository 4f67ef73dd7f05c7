/* nn/op_dwconv.c: the depthwise convolution layer (one kh x kw filter per
 * channel): stride 1 on zero-padded planes, strided convs channels
 * innermost (from nn_opts_t.dw_cl_min_c channels) or in direct loops. */
#include <string.h>

#include "common/util.h"
#include "nn/ops.h"

/* Strided depthwise forward with channels innermost from this many channels
 * up: one output position accumulates C-wide vectors per tap (16 channels per
 * AVX-512 instruction, no strided short rows), between two transposes.
 * Measured on the speech net's 64-channel 24x10 map at batch 1, stride 2:
 * 30.8 -> 12.3 us. Stride 1 stays on padded planes (s_dw1_plane_forward): there
 * the transposes cost more than they save (17.5 -> 28.7 us). */

/* dst (cols x rows) = transpose of src (rows x cols), in cache-sized tiles. */
static NN_HOT void
s_transpose(const float *src, float *dst, int rows, int cols)
{
    enum { T = 16 };
    for (int r0 = 0; r0 < rows; r0 += T)
        for (int c0 = 0; c0 < cols; c0 += T) {
            int r1 = SHOP_MIN(r0 + T, rows), c1 = SHOP_MIN(c0 + T, cols);
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c++)
                    dst[(size_t) c * rows + r] = src[(size_t) r * cols + c];
        }
}

/* One image, channels innermost: xt is H x W x C, yt OH x OW x C, wt the
 * taps x C weights, bt C biases. */
static NN_HOT void
s_dw_cl(const float *restrict xt, float *restrict yt, const float *restrict wt,
        const float *restrict bt, const nn_layer_t *L)
{
    const int *a = L->args;
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int kh = a[NN_A_KH], kw = a[NN_A_KW], sh = a[NN_A_SH], sw = a[NN_A_SW];
    int ph = a[NN_A_PH], pw = a[NN_A_PW];
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float *restrict acc = yt + ((size_t) oh * OW + ow) * C;
            for (int c = 0; c < C; c++)
                acc[c] = bt[c];
            for (int i = 0; i < kh; i++) {
                int ih = oh * sh - ph + i;
                if (ih < 0 || ih >= H)
                    continue;
                for (int j = 0; j < kw; j++) {
                    int iw = ow * sw - pw + j;
                    if (iw < 0 || iw >= W)
                        continue;
                    const float *restrict xv = xt + ((size_t) ih * W + iw) * C;
                    const float *restrict wv = wt + (size_t) (i * kw + j) * C;
                    for (int c = 0; c < C; c++)
                        acc[c] += wv[c] * xv[c];
                }
            }
        }
}

/* Stride-1 depthwise convolution on one zero-padded plane: as for the
 * shifted-GEMM conv, output positions live on the padded grid, so each tap is
 * one long contiguous multiply-add instead of many short rows (~4x faster on
 * 20x25 planes). pad holds Hp*Wp + slack floats, acc OH*Wp. */
static NN_HOT void
s_dw1_plane_forward(const float *xp, float *yp, const float *wc, float bv, int H, int W, int kh,
                    int kw, int ph, int pw, float *pad, float *acc)
{
    int Hp = H + 2 * ph, Wp = W + 2 * pw, OH = Hp - kh + 1, OW = Wp - kw + 1, P = OH * Wp;
    memset(pad, 0, ((size_t) Hp * Wp + (size_t) kh * Wp + kw) * sizeof(float));
    for (int h = 0; h < H; h++)
        memcpy(pad + (size_t) (h + ph) * Wp + pw, xp + (size_t) h * W, (size_t) W * sizeof(float));
    for (int p = 0; p < P; p++)
        acc[p] = bv;
    for (int i = 0; i < kh; i++)
        for (int j = 0; j < kw; j++) {
            float wv = wc[i * kw + j];
            const float *src = pad + (size_t) i * Wp + j;
            for (int p = 0; p < P; p++)
                acc[p] += wv * src[p];
        }
    for (int oh = 0; oh < OH; oh++)
        memcpy(yp + (size_t) oh * OW, acc + (size_t) oh * Wp, (size_t) OW * sizeof(float));
}

/* Backward of s_dw1_plane_forward: dW and, when dxp, dX (written or added). */
static NN_HOT void
s_dw1_plane_backward(const float *xp, const float *dyp, float *dxp, bool acc_dx, const float *wc,
                     float *dwc, int H, int W, int kh, int kw, int ph, int pw, float *pad,
                     float *dyg, float *dpad)
{
    int Hp = H + 2 * ph, Wp = W + 2 * pw, OH = Hp - kh + 1, OW = Wp - kw + 1, P = OH * Wp;
    size_t plane = (size_t) Hp * Wp + (size_t) kh * Wp + kw;
    memset(pad, 0, plane * sizeof(float));
    for (int h = 0; h < H; h++)
        memcpy(pad + (size_t) (h + ph) * Wp + pw, xp + (size_t) h * W, (size_t) W * sizeof(float));
    memset(dyg, 0, (size_t) P * sizeof(float));
    for (int oh = 0; oh < OH; oh++)
        memcpy(dyg + (size_t) oh * Wp, dyp + (size_t) oh * OW, (size_t) OW * sizeof(float));
    for (int i = 0; i < kh; i++)
        for (int j = 0; j < kw; j++)
            dwc[i * kw + j] += nn_vdot(dyg, pad + (size_t) i * Wp + j, P);
    if (!dxp)
        return;
    memset(dpad, 0, plane * sizeof(float));
    for (int i = 0; i < kh; i++)
        for (int j = 0; j < kw; j++) {
            float wv = wc[i * kw + j];
            float *dst = dpad + (size_t) i * Wp + j;
            for (int p = 0; p < P; p++)
                dst[p] += wv * dyg[p];
        }
    for (int h = 0; h < H; h++) {
        const float *src = dpad + (size_t) (h + ph) * Wp + pw;
        float *dst = dxp + (size_t) h * W;
        if (acc_dx)
            for (int k = 0; k < W; k++)
                dst[k] += src[k];
        else
            memcpy(dst, src, (size_t) W * sizeof(float));
    }
}

static NN_HOT void
s_dw_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y, const float *w,
             const float *bias)
{
    const int *a = L->args;
    int b = s->b;
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int kh = a[NN_A_KH], kw = a[NN_A_KW], sh = a[NN_A_SH], sw = a[NN_A_SW];
    int ph = a[NN_A_PH], pw = a[NN_A_PW];
    if (L->algo == NN_ALGO_DW_CL) {
        nn_reserve(&s->col, &s->col_cap, (size_t) H * W * C);
        nn_reserve(&s->tmp, &s->tmp_cap, (size_t) OH * OW * C);
        nn_reserve(&s->wt, &s->wt_cap, (size_t) kh * kw * C + C);
        float *wt = s->wt, *bt = s->wt + (size_t) kh * kw * C;
        for (int c = 0; c < C; c++) {
            for (int t = 0; t < kh * kw; t++)
                wt[(size_t) t * C + c] = w[(size_t) c * kh * kw + t];
            bt[c] = bias ? bias[c] : 0.0f;
        }
        for (int n = 0; n < b; n++) {
            s_transpose(x + (size_t) n * L->isz, s->col, C, H * W);
            s_dw_cl(s->col, s->tmp, wt, bt, L);
            s_transpose(s->tmp, y + (size_t) n * L->osz, OH * OW, C);
        }
        return;
    }
    if (L->algo == NN_ALGO_DW_PLANE) {
        size_t Wp = (size_t) W + 2 * pw, plane = ((size_t) H + 2 * ph) * Wp + (size_t) kh * Wp + kw;
        nn_reserve(&s->pad, &s->pad_cap, plane);
        nn_reserve(&s->tmp, &s->tmp_cap, (size_t) OH * Wp);
        for (int n = 0; n < b; n++)
            for (int c = 0; c < C; c++)
                s_dw1_plane_forward(x + ((size_t) n * C + c) * H * W,
                                    y + ((size_t) n * C + c) * OH * OW, w + (size_t) c * kh * kw,
                                    bias ? bias[c] : 0.0f, H, W, kh, kw, ph, pw, s->pad, s->tmp);
        return;
    }
    for (int n = 0; n < b; n++)
        for (int c = 0; c < C; c++) {
            const float *xp = x + ((size_t) n * C + c) * H * W;
            float *yp = y + ((size_t) n * C + c) * OH * OW;
            const float *wc = w + (size_t) c * kh * kw;
            float bv = bias ? bias[c] : 0.0f;
            for (int i = 0; i < OH * OW; i++)
                yp[i] = bv;
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++) {
                    float wv = wc[i * kw + j];
                    int lo, hi;
                    nn_valid_range(OW, W, sw, pw, j, &lo, &hi);
                    for (int oh = 0; oh < OH; oh++) {
                        int ih = oh * sh - ph + i;
                        if (ih < 0 || ih >= H)
                            continue;
                        const float *xr = xp + (size_t) ih * W + j - pw;
                        float *yr = yp + (size_t) oh * OW;
                        if (sw == 1)
                            for (int ow = lo; ow < hi; ow++)
                                yr[ow] += wv * xr[ow];
                        else
                            for (int ow = lo; ow < hi; ow++)
                                yr[ow] += wv * xr[ow * sw];
                    }
                }
        }
}

static NN_HOT void
s_dw_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy, float *dx,
              bool accum, const float *w, float *dw, float *db)
{
    const int *a = L->args;
    int b = s->b;
    int C = L->is.c, H = L->is.h, W = L->is.w, OH = L->os.h, OW = L->os.w;
    int kh = a[NN_A_KH], kw = a[NN_A_KW], sh = a[NN_A_SH], sw = a[NN_A_SW];
    int ph = a[NN_A_PH], pw = a[NN_A_PW];
    if (L->algo == NN_ALGO_DW_PLANE) {
        size_t Wp = (size_t) W + 2 * pw, plane = ((size_t) H + 2 * ph) * Wp + (size_t) kh * Wp + kw;
        nn_reserve(&s->pad, &s->pad_cap, plane);
        nn_reserve(&s->pad2, &s->pad2_cap, plane);
        nn_reserve(&s->tmp, &s->tmp_cap, (size_t) OH * Wp);
        for (int n = 0; n < b; n++)
            for (int c = 0; c < C; c++) {
                const float *dyp = dy + ((size_t) n * C + c) * OH * OW;
                if (db)
                    db[c] += nn_vsum(dyp, OH * OW);
                s_dw1_plane_backward(x + ((size_t) n * C + c) * H * W, dyp,
                                     dx ? dx + ((size_t) n * C + c) * H * W : NULL, accum,
                                     w + (size_t) c * kh * kw, dw + (size_t) c * kh * kw, H, W, kh,
                                     kw, ph, pw, s->pad, s->tmp, s->pad2);
            }
        return;
    }
    if (dx && !accum)
        memset(dx, 0, (size_t) b * L->isz * sizeof(float));
    for (int n = 0; n < b; n++)
        for (int c = 0; c < C; c++) {
            const float *xp = x + ((size_t) n * C + c) * H * W;
            const float *dyp = dy + ((size_t) n * C + c) * OH * OW;
            float *dxp = dx ? dx + ((size_t) n * C + c) * H * W : NULL;
            const float *wc = w + (size_t) c * kh * kw;
            float *dwc = dw + (size_t) c * kh * kw;
            if (db) {
                float acc = 0.0f;
                for (int i = 0; i < OH * OW; i++)
                    acc += dyp[i];
                db[c] += acc;
            }
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++) {
                    float wv = wc[i * kw + j], acc = 0.0f;
                    int lo, hi;
                    nn_valid_range(OW, W, sw, pw, j, &lo, &hi);
                    for (int oh = 0; oh < OH; oh++) {
                        int ih = oh * sh - ph + i;
                        if (ih < 0 || ih >= H)
                            continue;
                        size_t off = (size_t) ih * W + j - pw;
                        const float *xr = xp + off;
                        const float *dr = dyp + (size_t) oh * OW;
                        for (int ow = lo; ow < hi; ow++)
                            acc += dr[ow] * xr[ow * sw];
                        if (dxp) {
                            float *dxr = dxp + off;
                            for (int ow = lo; ow < hi; ow++)
                                dxr[ow * sw] += wv * dr[ow];
                        }
                    }
                    dwc[i * kw + j] += acc;
                }
        }
}

static void
s_dw_choose(const nn_net_t *net, nn_layer_t *L)
{
    const int *a = L->args;
    if (a[NN_A_SH] == 1 && a[NN_A_SW] == 1)
        L->algo = NN_ALGO_DW_PLANE;
    else if (L->is.c >= net->opts.dw_cl_min_c)
        L->algo = NN_ALGO_DW_CL;
    else
        L->algo = NN_ALGO_DIRECT;
}

static void
s_dwconv_forward(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    s_dw_forward(L, s, s->out[L->in[0]], s->out[l], net->params + L->w_off,
                 L->n_b ? net->params + L->b_off : NULL);
}

static void
s_dwconv_backward(const nn_net_t *net, int l, nn_shard_t *s, float *dx, bool acc)
{
    const nn_layer_t *L = &net->layers[l];
    s_dw_backward(L, s, s->out[L->in[0]], s->grad[l], dx, acc, net->params + L->w_off,
                  s->gparams + L->w_off, L->n_b ? s->gparams + L->b_off : NULL);
}

static void
s_dwconv_infer(const nn_net_t *net, int l, nn_shard_t *s)
{
    const nn_layer_t *L = &net->layers[l];
    s_dw_forward(L, s, s->out[L->in[0]], s->out[l], net->iparams + L->w_off, nn_plan_bias(net, l));
}

const nn_op_t nn_op_dwconv = {
    .name = "depthwise",
    .shape = nn_conv_shape,
    .choose = s_dw_choose,
    .forward = s_dwconv_forward,
    .backward = s_dwconv_backward,
    .infer = s_dwconv_infer,
    .fold_bn = true,
};
