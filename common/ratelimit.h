/* common/ratelimit.h: one log line per key per interval, with a count of
 * the lines held back (the journald / syslog-ng "N messages suppressed"
 * habit, per key so one noisy peer does not hide another).
 *
 * A refusal that a peer can trigger at will (an unknown CURVE key, a
 * connection over the cap) costs at most one line per interval per key.
 * The table holds at most RATELIMIT_KEYS keys; when it is full, the key
 * idle longest is reused (its suppressed count is reported with it).
 * Thread-safe. */
#ifndef SHOP_COMMON_RATELIMIT_H
#define SHOP_COMMON_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_KEYS 256
#define RATELIMIT_KEY_MAX 96

typedef struct _ratelimit_t ratelimit_t;

/* A limiter allowing one line per key every interval_ms. */
ratelimit_t *ratelimit_new(int interval_ms);
/* Safe on NULL, nulls *self_p. */
void ratelimit_destroy(ratelimit_t **self_p);
/* Changes the interval (SIGHUP). */
void ratelimit_set_interval(ratelimit_t *self, int interval_ms);

/* Whether a line for key may be written at now_ns (monotonic). When true,
 * *suppressed gets the lines held back for key since its last line (the
 * caller appends it to its line when non-zero); when false, the line is
 * counted as held back. Keys longer than RATELIMIT_KEY_MAX - 1 are cut. */
bool ratelimit_allow(ratelimit_t *self, const char *key, uint64_t now_ns,
                     unsigned long *suppressed);

/* Self-test: per-key intervals, counts, eviction. Returns 0 or -1. */
int ratelimit_test(bool verbose);

#endif
