/* common/ratelimit.c: see ratelimit.h */
#include "config.h"

#include "common/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

typedef struct {
    char key[RATELIMIT_KEY_MAX];  /* "" = free slot */
    uint64_t last_ns;             /* when its last line was allowed */
    unsigned long held;           /* lines held back since */
} s_slot_t;

struct _ratelimit_t {
    pthread_mutex_t mu;
    uint64_t interval_ns;
    s_slot_t slot[RATELIMIT_KEYS];
};

ratelimit_t *
ratelimit_new(int interval_ms)
{
    ratelimit_t *self = xcalloc(1, sizeof *self);
    pthread_mutex_init(&self->mu, NULL);
    ratelimit_set_interval(self, interval_ms);
    return self;
}

void
ratelimit_destroy(ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pthread_mutex_destroy(&(*self_p)->mu);
    free(*self_p);
    *self_p = NULL;
}

void
ratelimit_set_interval(ratelimit_t *self, int interval_ms)
{
    pthread_mutex_lock(&self->mu);
    self->interval_ns = (uint64_t) (interval_ms > 0 ? interval_ms : 0) * 1000000u;
    pthread_mutex_unlock(&self->mu);
}

bool
ratelimit_allow(ratelimit_t *self, const char *key, uint64_t now_ns, unsigned long *suppressed)
{
    char k[RATELIMIT_KEY_MAX];
    shop_strlcpy(k, key ? key : "", sizeof k);
    *suppressed = 0;
    pthread_mutex_lock(&self->mu);
    s_slot_t *hit = NULL, *oldest = &self->slot[0];
    for (size_t i = 0; i < RATELIMIT_KEYS; i++) {
        s_slot_t *s = &self->slot[i];
        if (s->key[0] && strcmp(s->key, k) == 0) {
            hit = s;
            break;
        }
        /* a free slot counts as the oldest */
        if (!s->key[0] ? oldest->key[0] != 0 : oldest->key[0] && s->last_ns < oldest->last_ns)
            oldest = s;
    }
    bool allow;
    if (!hit) {
        /* a reused slot's held-back lines are reported with the new key's
         * line, so no refusal goes uncounted */
        *suppressed = oldest->key[0] ? oldest->held : 0;
        memcpy(oldest->key, k, sizeof k);
        oldest->last_ns = now_ns;
        oldest->held = 0;
        allow = true;
    } else if (now_ns - hit->last_ns >= self->interval_ns) {
        *suppressed = hit->held;
        hit->held = 0;
        hit->last_ns = now_ns;
        allow = true;
    } else {
        hit->held++;
        allow = false;
    }
    pthread_mutex_unlock(&self->mu);
    return allow;
}

#define S_CHECK(c)                                                                  \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "ratelimit_test: %s:%d: %s\n", __FILE__, __LINE__, #c); \
            goto done;                                                              \
        }                                                                           \
    } while (0)

int
ratelimit_test(bool verbose)
{
    int rc = -1;
    ratelimit_t *rl = ratelimit_new(1000);
    unsigned long sup = 99;
    const uint64_t ms = 1000000u;
    /* the first line of a key passes, the next ones within 1 s are held */
    S_CHECK(ratelimit_allow(rl, "a", 5000 * ms, &sup) && sup == 0);
    for (int i = 0; i < 7; i++)
        S_CHECK(!ratelimit_allow(rl, "a", (5001 + (uint64_t) i * 100) * ms, &sup));
    /* another key is independent */
    S_CHECK(ratelimit_allow(rl, "b", 5100 * ms, &sup) && sup == 0);
    /* after the interval, one line with the count held back */
    S_CHECK(ratelimit_allow(rl, "a", 6000 * ms, &sup) && sup == 7);
    S_CHECK(!ratelimit_allow(rl, "a", 6500 * ms, &sup));
    S_CHECK(ratelimit_allow(rl, "a", 7000 * ms, &sup) && sup == 1);
    /* a full table reuses the slot idle longest and reports its count */
    S_CHECK(!ratelimit_allow(rl, "b", 5200 * ms, &sup));
    char key[32];
    for (int i = 0; i < RATELIMIT_KEYS - 2; i++) {
        snprintf(key, sizeof key, "k%d", i);
        S_CHECK(ratelimit_allow(rl, key, 8000 * ms, &sup) && sup == 0);
    }
    /* "b" (last line at 5.1 s) is the oldest: its held line is reported */
    S_CHECK(ratelimit_allow(rl, "new", 8000 * ms, &sup) && sup == 1);
    rc = 0;
    if (verbose)
        printf("ratelimit_test: ok\n");
done:
    ratelimit_destroy(&rl);
    return rc;
}
