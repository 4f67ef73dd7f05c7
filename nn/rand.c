/* nn/rand.c: the engine's random numbers (weight initialisation, dropout,
 * shuffling, augmentation), from splitmix64 (common/util.h) so that a seed
 * gives the same net and the same training on every platform. */
#include <math.h>

#include "common/util.h"
#include "nn/internal.h"

uint32_t
nn_rand_u32(uint64_t *state)
{
    return (uint32_t) (shop_splitmix64(state) >> 32);
}

float
nn_rand_float(uint64_t *state)
{
    return (float) (shop_splitmix64(state) >> 40) * (1.0f / 16777216.0f);
}

float
nn_rand_normal(uint64_t *state)
{
    /* Box-Muller; u1 in (0, 1] so the log is finite */
    float u1 = 1.0f - nn_rand_float(state);
    float u2 = nn_rand_float(state);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}
