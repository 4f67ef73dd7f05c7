/* common/util.h: small helpers every module uses.
 *
 * Memory: xmalloc and friends abort with a message when memory runs out, so
 * ordinary code stays simple (as Redis's zmalloc). Data from outside never
 * reaches an abort: sizes are checked before allocation. */
#ifndef SHOP_COMMON_UTIL_H
#define SHOP_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHOP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SHOP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SHOP_MAX(a, b) ((a) > (b) ? (a) : (b))

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Allocates count*size, aborting on overflow as on exhaustion. */
void *xmallocarray(size_t count, size_t size);

/* splitmix64 (Steele, Lea & Flood 2014): advances *state and returns the
 * next 64 random bits. Tiny, fast and the same on every platform: seeds
 * xoshiro generators and draws initialisation and shuffling numbers. */
uint64_t shop_splitmix64(uint64_t *state);

/* Monotonic time in nanoseconds / seconds. */
uint64_t shop_now_ns(void);
double shop_now_s(void);

/* Reads a whole file of at most max_bytes into a new buffer (caller frees),
 * NUL-terminated (the NUL is not counted in *len). Returns NULL with errno
 * set (EFBIG when over max_bytes) and, when err is non-NULL, a message. */
uint8_t *shop_read_file(const char *path, size_t max_bytes, size_t *len,
                        char *err, size_t errlen);

/* Writes data to path atomically (temporary file, fsync, rename).
 * Returns 0, or -1 with errno set. */
int shop_write_file_atomic(const char *path, const void *data, size_t len);

/* Resolves a file shipped with shopd (a model, the demo store, a grammar):
 * $SHOPD_DATADIR/rel if that variable is set, else the installed package data
 * directory, else the source tree it was built from. Writes into buf;
 * returns buf, or NULL when rel exists nowhere. */
const char *shop_data_path(const char *rel, char *buf, size_t buflen);

/* Copies src into dst of size dstlen, always NUL-terminating; returns
 * strlen(src) (truncation when >= dstlen), like BSD strlcpy. */
size_t shop_strlcpy(char *dst, const char *src, size_t dstlen);

/* Formats an error message into err (errlen bytes, truncated); does nothing
 * when err is NULL or errlen is 0. For the "-1 with a message" convention. */
void shop_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
