/* nn/conv.h: the convolution algorithms nn/op_conv.c chooses from, per
 * layer, when the layer is built. All take the layer L (shapes, arguments),
 * the shard s (batch size s->b and scratch), the input x (b x L->isz) and
 * the output y (b x L->osz), the weights w [M][C][kh][kw] and an optional
 * bias. Forward passes with relu apply a ReLU as they write y, and add
 * s->res (b x L->osz, a fused residual; NULL for none) before it; both are
 * inference only. Inference also passes the weights already in the
 * algorithm's layout in s->wt_pre (NULL: built from w in scratch).
 * Backward passes add dW into dw and the bias gradient into db (may be NULL)
 * and write (acc false) or add dX into dx (may be NULL). Internal to nn/. */
#ifndef SHOP_NN_CONV_H
#define SHOP_NN_CONV_H

#include "nn/internal.h"

/* Columns one conv GEMM aims for when it batches images. */
#define GEMM_TARGET_N 1024

static inline bool
nn_conv_is_1x1(const int *a)
{
    return a[NN_A_KH] == 1 && a[NN_A_KW] == 1 && a[NN_A_SH] == 1 && a[NN_A_SW] == 1
           && a[NN_A_PH] == 0 && a[NN_A_PW] == 0;
}

/* ---- im2col + GEMM, and 1x1 stride-1 convs as one GEMM per image (conv_gemm.c) */
void nn_gemm_conv_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y,
                          const float *w, const float *bias, bool relu);
void nn_gemm_conv_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy,
                           float *dx, bool acc, const float *w, float *dw, float *db);

/* ---- stride-1 convs as shifted GEMMs on a padded input (conv_shift.c) */
/* True when L runs best this way under the threshold min_c (nn_opts_t). */
bool nn_shift_fits(const nn_layer_t *L, int min_c);
/* Floats of the per-tap weights, and w in that layout into wt. */
size_t nn_shift_weights_size(const nn_layer_t *L);
void nn_shift_weights(const nn_layer_t *L, const float *w, float *wt);
void nn_shift_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y,
                      const float *w, const float *bias, bool relu);
void nn_shift_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy,
                       float *dx, bool acc, const float *w, float *dw, float *db);

/* ---- stride-2 convs as shifted GEMMs on the input's phases (conv_phase.c) */
bool nn_phase_fits(const nn_layer_t *L, int min_c);
/* w in the per-shift layout (L->n_w floats) into wt. */
void nn_phase_weights(const nn_layer_t *L, const float *w, float *wt);
void nn_phase_forward(const nn_layer_t *L, nn_shard_t *s, const float *x, float *y,
                      const float *w, const float *bias, bool relu);
void nn_phase_backward(const nn_layer_t *L, nn_shard_t *s, const float *x, const float *dy,
                       float *dx, bool acc, const float *w, float *dw, float *db);

/* ---- helpers the two grid paths share (conv_shift.c) */
/* Copies the valid positions of one output plane off a grid of rows Wp
 * apart, plus bias bv and the plane of a fused residual res (may be NULL),
 * through a ReLU when asked (the fused epilogue). */
void nn_grid_unpad(const float *src, float *dst, int OH, int OW, int Wp, float bv,
                   const float *res, bool relu);
/* The output gradient of g images (each osz floats, M maps of OH x OW) laid
 * onto a grid: map m of image n at tmp + m * g * img + n * img, rows wgrid
 * apart, zero where no output exists. Adds each map's sum to db[m] when db
 * is not NULL. */
void nn_dy_to_grid(const float *dy, size_t osz, int g, int M, int OH, int OW, int wgrid,
                   size_t img, float *tmp, float *db);

#endif
