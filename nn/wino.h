/* nn/wino.h: Winograd convolution F(4x4, 3x3) (Lavin & Gray 2016) for 3x3
 * stride-1 convs with padding 1 (output the size of the input). Each 4x4
 * output tile costs 36 multiplies per input-output channel pair instead of
 * 144: the input's 6x6 tiles and the kernels are transformed, multiplied as
 * 36 GEMMs (tiles x C times C x K, through nn_gemm), and transformed back.
 * Internal to nn/ (op_conv.c chooses it per layer); tests and bench use it to
 * compare against the direct path. */
#ifndef SHOP_NN_WINO_H
#define SHOP_NN_WINO_H

#include <stdbool.h>
#include <stddef.h>

/* Scratch of one thread, grown on demand and reused; zero-initialise,
 * release with nn_wino_ws_free(). */
typedef struct {
    float *pad;             /* input images padded, channels innermost */
    float *v, *m;           /* transformed input tiles, GEMM products */
    float *out;             /* output tiles (or dy), channels innermost */
    float *du;              /* weight gradient in the transformed domain */
    size_t pad_cap, v_cap, m_cap, out_cap, du_cap;
} nn_wino_ws_t;

/* Frees the scratch (safe on a zeroed one) and zeroes it. */
void nn_wino_ws_free(nn_wino_ws_t *ws);

/* Floats of transformed weights for C input and K output channels. */
size_t nn_wino_weights_size(int C, int K);

/* Transforms the weights w [K][C][3][3] of a conv into u [36][C][K] (what
 * nn_wino_conv takes). With backward_data, the conv that gives the input
 * gradient from the output gradient (the kernel flipped, channels swapped)
 * is prepared instead: u [36][K][C], to be run with K input and C output
 * channels. u is the caller's buffer of nn_wino_weights_size(C, K) floats. */
void nn_wino_weights(const float *w, int K, int C, bool backward_data, float *u);

/* y = conv3x3(x) on b images, C x H x W in, K x H x W out (stride 1, pad 1),
 * with u from nn_wino_weights. Without acc, y is overwritten with the result
 * plus bias[k] (bias may be NULL) plus res (b x K x H x W, may be NULL: a
 * residual add), through a ReLU when relu is set; with acc the result is
 * added to y (bias, res and relu must then be unset). Scratch from ws. */
void nn_wino_conv(int b, int C, int K, int H, int W, const float *x, const float *u,
                  const float *bias, const float *res, bool relu, bool acc, float *y,
                  nn_wino_ws_t *ws);

/* Adds the weight gradient of that conv to dw [K][C][3][3], from its input x
 * (b x C x H x W) and output gradient dy (b x K x H x W), in the same
 * transformed domain: dU[xi] = sum over tiles of (A dy A^T)[xi] times
 * (B^T x B)[xi] (36 GEMMs reducing over the tiles), dW = G^T dU G. */
void nn_wino_weight_grad(int b, int C, int K, int H, int W, const float *x, const float *dy,
                         float *dw, nn_wino_ws_t *ws);

#endif
