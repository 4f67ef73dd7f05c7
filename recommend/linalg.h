/* recommend/linalg.h: the recommender's only calls into BLAS and LAPACK
 * (OpenBLAS). nn/ keeps its own GEMM call site (nn/blas.c) and does not
 * export LAPACK, so recommend/ has this one file of its own.
 * All matrices are float, row-major. */
#ifndef SHOP_RECOMMEND_LINALG_H
#define SHOP_RECOMMEND_LINALG_H

#include <stdbool.h>

/* C = alpha * op(A) * op(B) + beta * C; op(A) is m x k, op(B) k x n. */
void la_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a,
             int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* y = alpha * op(A) * x + beta * y, A is m x n. */
void la_gemv(bool trans, int m, int n, float alpha, const float *a, int lda, const float *x,
             float beta, float *y);

/* Inverts the symmetric positive definite n x n matrix a in place (Cholesky:
 * spotrf then spotri) and fills both triangles. Returns 0, or -1 when a is
 * not positive definite (a is then garbage). */
int la_spd_inverse(float *a, int n);

/* Solves a x = b for symmetric positive definite a (n x n, destroyed) and
 * b (n, replaced by x). Returns 0, or -1 when a is not positive definite. */
int la_spd_solve(float *a, float *b, int n);

#endif
