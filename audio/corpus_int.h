/* audio/corpus_int.h: what the corpus generator (corpus.c) and the store
 * and mixer (corpus_store.c) share; not part of the corpus API. */
#ifndef SHOP_AUDIO_CORPUS_INT_H
#define SHOP_AUDIO_CORPUS_INT_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "common/util.h"

#define S_MAX_CLIP (5 * CORPUS_RATE)   /* longer synthesiser output is dropped */
#define S_TSV_MAGIC "#shopd-speech-corpus 1"

/* ================================================================ random */

/* xoshiro256** seeded through splitmix64: fast, and the same everywhere. */
typedef struct {
    uint64_t s[4];
} s_rng_t;

static inline void
s_rng_seed(s_rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = shop_splitmix64(&seed);
}

static inline uint64_t
s_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t
s_rng_next(s_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = s_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static inline double
s_rng_unit(s_rng_t *r)
{
    return (double) (s_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double
s_rng_range(s_rng_t *r, double lo, double hi)
{
    return lo + (hi - lo) * s_rng_unit(r);
}

/* Uniform integer in [0, n). */
static inline int
s_rng_int(s_rng_t *r, int n)
{
    return n <= 1 ? 0 : (int) (s_rng_unit(r) * n);
}

static inline float
s_rng_gauss(s_rng_t *r)
{
    double u = s_rng_unit(r), v = s_rng_unit(r);
    return (float) (sqrt(-2.0 * log(u + 1e-300)) * cos(2.0 * M_PI * v));
}

static inline void __attribute__((format(printf, 3, 4)))
s_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#endif
