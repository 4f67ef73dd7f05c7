/* recommend/linalg.c: BLAS / LAPACK call site of recommend/ (see linalg.h). */
#include "recommend/linalg.h"

#include <cblas.h>

/* LAPACK's Fortran entry points, exported by OpenBLAS; Debian ships no
 * lapacke.h with libopenblas-dev, and these three need no wrapper. */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void sposv_(const char *uplo, const int *n, const int *nrhs, float *a, const int *lda, float *b,
            const int *ldb, int *info);

void
la_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
        const float *b, int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void
la_gemv(bool trans, int m, int n, float alpha, const float *a, int lda, const float *x,
        float beta, float *y)
{
    cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, m, n, alpha, a, lda, x, 1,
                beta, y, 1);
}

int
la_spd_inverse(float *a, int n)
{
    /* Row-major "L" is column-major "U": the same triangle either way since
     * a is symmetric. */
    int info = 0;
    spotrf_("U", &n, a, &n, &info);
    if (info != 0)
        return -1;
    spotri_("U", &n, a, &n, &info);
    if (info != 0)
        return -1;
    /* column-major upper = row-major lower: mirror it to the upper part */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            a[(long) i * n + j] = a[(long) j * n + i];
    return 0;
}

int
la_spd_solve(float *a, float *b, int n)
{
    int info = 0, one = 1;
    sposv_("U", &n, &one, a, &n, b, &n, &info);
    return info == 0 ? 0 : -1;
}
