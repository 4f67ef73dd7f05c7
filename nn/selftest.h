/* nn/selftest.h: the parts of nn_test() (nn/selftest.c), each runnable alone
 * so tests/nn_test.c reports them as separate cmocka tests. */
#ifndef SHOP_NN_SELFTEST_H
#define SHOP_NN_SELFTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/nn.h"

/* Largest relative error between numerical and analytic gradients accepted:
 * float32 central differences (h = 1e-2, or 2e-3 across ReLU and max-pool
 * kinks) stay below 5e-3 on every OpenBLAS kernel, the generic one included. */
#define NN_GRADCHECK_TOL 2e-2
/* Test accuracy the small net must reach on the bars problem. */
#define NN_LEARN_MIN_ACC 0.95

/* The small residual DS-CNN of the tests (1 x 8 x 8 in, 2 classes), with a
 * layer named "embedding"; caller destroys. NULL on failure. */
nn_net_t *nn_selftest_small_net(uint64_t seed);
/* Trains it on the bars problem with opt; returns test accuracy, or < 0 on
 * failure (-2 when the augmentation callback never ran). */
double nn_selftest_learn(nn_optimizer_t opt, bool verbose);
/* save -> load gives bit-identical outputs, labels, metadata, names: 0 or -1. */
int nn_selftest_roundtrip(bool verbose);
/* Truncated, flipped and huge-count files fail with a message: 0 or -1. */
int nn_selftest_broken(bool verbose);
/* Re-stamps the header checksum of a model image (for fuzzing past it). */
void nn_selftest_fix_crc(uint8_t *buf, size_t len);

#endif
