/* nn/blas.h: the ONE place shopd calls BLAS (single-precision GEMM). Internal
 * to nn/ and its benchmark; the rest of shopd goes through nn/nn.h. */
#ifndef SHOP_NN_BLAS_H
#define SHOP_NN_BLAS_H

#include <stdbool.h>

/* C = alpha * op(A) * op(B) + beta * C, row-major; op(X) is X transposed when
 * the flag is set. m x k times k x n into m x n with leading dimensions. */
void nn_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
             const float *a, int lda, const float *b, int ldb, float beta,
             float *c, int ldc);

#endif
