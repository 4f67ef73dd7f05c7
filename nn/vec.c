/* nn/vec.c: the vectorised loops several layer ops share: reductions
 * with fixed partial sums, ReLU, row sums, scratch growth. */
#include <string.h>
#include <stdlib.h>

#include "common/util.h"
#include "nn/ops.h"

void
nn_reserve(float **buf, size_t *cap, size_t n)
{
    if (n > *cap) {
        free(*buf);
        *buf = xmallocarray(n, sizeof(float));
        *cap = n;
    }
}

/* Reductions with 16 independent partial sums: strict float order forbids
 * the compiler from vectorising a single running sum (latency bound, ~8x
 * slower); fixed lanes keep the result deterministic. */
#define NN_LANES 16

NN_HOT float
nn_vsum(const float *x, int n)
{
    float acc[NN_LANES] = { 0 };
    int i = 0;
    for (; i + NN_LANES <= n; i += NN_LANES)
        for (int k = 0; k < NN_LANES; k++)
            acc[k] += x[i + k];
    float t = 0.0f;
    for (; i < n; i++)
        t += x[i];
    for (int k = 0; k < NN_LANES; k++)
        t += acc[k];
    return t;
}

/* Sum of (x - mu)^2. */
NN_HOT float
nn_vsum_sq_dev(const float *x, int n, float mu)
{
    float acc[NN_LANES] = { 0 };
    int i = 0;
    for (; i + NN_LANES <= n; i += NN_LANES)
        for (int k = 0; k < NN_LANES; k++) {
            float d = x[i + k] - mu;
            acc[k] += d * d;
        }
    float t = 0.0f;
    for (; i < n; i++)
        t += (x[i] - mu) * (x[i] - mu);
    for (int k = 0; k < NN_LANES; k++)
        t += acc[k];
    return t;
}

/* Sum of a[i] * b[i]. */
NN_HOT float
nn_vdot(const float *a, const float *b, int n)
{
    float acc[NN_LANES] = { 0 };
    int i = 0;
    for (; i + NN_LANES <= n; i += NN_LANES)
        for (int k = 0; k < NN_LANES; k++)
            acc[k] += a[i + k] * b[i + k];
    float t = 0.0f;
    for (; i < n; i++)
        t += a[i] * b[i];
    for (int k = 0; k < NN_LANES; k++)
        t += acc[k];
    return t;
}

NN_HOT void
nn_vrelu(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

NN_HOT void
nn_row_sums_add(const float *dy, int rows, int n, float *db)
{
    for (int m = 0; m < rows; m++)
        db[m] += nn_vsum(dy + (size_t) m * n, n);
}
