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

/* Strict numbers from text (command-line options, configuration values):
 * the whole of v is one number, nothing before or after it (no blank, no
 * '+', no unit), within the range. Each returns SHOP_NUM_OK (0) with the
 * number in *out, or a negative code with *out untouched and the reason in
 * *why (a static string: "not an integer", "not a number", "out of range").
 * shop_parse_int: base 10, an optional '-', digits (no fraction, no
 * exponent), lo <= x <= hi. */
enum { SHOP_NUM_OK = 0, SHOP_NUM_SYNTAX = -1, SHOP_NUM_RANGE = -2 };
int shop_parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out, const char **why);
/* The same for unsigned numbers (seeds): digits only, lo <= x <= hi. */
int shop_parse_uint(const char *v, uint64_t lo, uint64_t hi, uint64_t *out, const char **why);
/* A finite decimal number ("0.5", "-2", ".5", "1e-3"; not "inf", "nan" or
 * hexadecimal) between lo and hi; an end whose flag is in open
 * (SHOP_OPEN_LO, SHOP_OPEN_HI) excludes that end itself. */
enum { SHOP_OPEN_LO = 1, SHOP_OPEN_HI = 2 };
int shop_parse_double(const char *v, double lo, double hi, int open, double *out,
                      const char **why);

/* A numeric command-line option: parses its value v as above and, when it
 * is bad, prints PROG: OPT "V": REASON on stderr (with the range when it is
 * out of range) and returns -1; else stores it and returns 0. The
 * float and double forms take the open flags of shop_parse_double. */
int shop_opt_int(const char *prog, const char *opt, const char *v, int lo, int hi, int *out);
int shop_opt_uint64(const char *prog, const char *opt, const char *v, uint64_t *out);
int shop_opt_double(const char *prog, const char *opt, const char *v, double lo, double hi,
                    int open, double *out);
int shop_opt_float(const char *prog, const char *opt, const char *v, double lo, double hi,
                   int open, float *out);

#endif
