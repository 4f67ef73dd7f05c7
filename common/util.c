/* common/util.c: see util.h */
#include "common/util.h"
#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SHOP_PKGDATADIR
#define SHOP_PKGDATADIR "/usr/local/share/shopd"
#endif
#ifndef SHOP_SRCDIR
#define SHOP_SRCDIR "."
#endif

static void
s_oom(size_t n)
{
    log_err("out of memory allocating %zu bytes", n);
    abort();
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        s_oom(n);
    return p;
}

void *
xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        s_oom(count * size);
    return p;
}

void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        s_oom(n);
    return q;
}

void *
xmallocarray(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        log_err("allocation overflow: %zu x %zu", count, size);
        abort();
    }
    return xmalloc(count * size);
}

char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

uint64_t
shop_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

double
shop_now_s(void)
{
    return (double) shop_now_ns() * 1e-9;
}

uint8_t *
shop_read_file(const char *path, size_t max_bytes, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISREG(st.st_mode) ? errno : EINVAL;
        if (err)
            snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        errno = e;
        return NULL;
    }
    if ((uint64_t) st.st_size > max_bytes) {
        if (err)
            snprintf(err, errlen, "%s: %lld bytes is over the limit of %zu", path,
                     (long long) st.st_size, max_bytes);
        close(fd);
        errno = EFBIG;
        return NULL;
    }
    size_t cap = (size_t) st.st_size + 1, n = 0;
    uint8_t *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max_bytes) {
                if (err)
                    snprintf(err, errlen, "%s: over the limit of %zu bytes", path, max_bytes);
                free(buf);
                close(fd);
                errno = EFBIG;
                return NULL;
            }
            cap = cap * 2 > max_bytes + 1 ? max_bytes + 2 : cap * 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            if (err)
                snprintf(err, errlen, "%s: %s", path, strerror(e));
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t) r;
    }
    close(fd);
    if (n > max_bytes) {
        if (err)
            snprintf(err, errlen, "%s: over the limit of %zu bytes", path, max_bytes);
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int
shop_write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid()) >= (int) sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto err;
        }
        p += w;
        left -= (size_t) w;
    }
    if (fsync(fd) < 0)
        goto err;
    if (close(fd) < 0) {
        fd = -1;
        goto err;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto err;
    return 0;
err:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = e;
    return -1;
}

static bool
s_exists(const char *path)
{
    return access(path, R_OK) == 0;
}

const char *
shop_data_path(const char *rel, char *buf, size_t buflen)
{
    const char *env = getenv("SHOPD_DATADIR");
    const char *dirs[] = { env, SHOP_PKGDATADIR, SHOP_SRCDIR };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(dirs); i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        if (snprintf(buf, buflen, "%s/%s", dirs[i], rel) >= (int) buflen)
            continue;
        if (s_exists(buf))
            return buf;
        if (i == 0)
            return NULL; /* an explicit SHOPD_DATADIR is the only place looked */
    }
    return NULL;
}

size_t
shop_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t n = strlen(src);
    if (dstlen) {
        size_t c = n < dstlen - 1 ? n : dstlen - 1;
        memcpy(dst, src, c);
        dst[c] = 0;
    }
    return n;
}

void
shop_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

uint64_t
shop_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int
s_out_of_range(const char **why)
{
    *why = "out of range";
    return SHOP_NUM_RANGE;
}

/* The digits of a whole number, after a '-' when minus allows one: the
 * magnitude in *mag, the sign in *neg. strtoull alone would take a blank, a
 * '+' or a '-' before the digits and stop at the first other character. */
static int
s_parse_whole(const char *v, bool minus, bool *neg, uint64_t *mag, const char **why)
{
    *neg = minus && v[0] == '-';
    const char *d = v + *neg;
    char *end;
    errno = 0;
    unsigned long long x = isdigit((unsigned char) d[0]) ? strtoull(d, &end, 10) : 0;
    if (!isdigit((unsigned char) d[0]) || *end) {
        *why = "not an integer";
        return SHOP_NUM_SYNTAX;
    }
    *mag = x;
    return errno == ERANGE ? s_out_of_range(why) : SHOP_NUM_OK;
}

int
shop_parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out, const char **why)
{
    bool neg;
    uint64_t mag = 0;
    int rc = s_parse_whole(v, true, &neg, &mag, why);
    /* -2^63 is the one magnitude a negative number has beyond INT64_MAX */
    int64_t x = neg ? (mag > (uint64_t) INT64_MAX ? INT64_MIN : -(int64_t) mag) : (int64_t) mag;
    if (rc == SHOP_NUM_OK && (mag > (uint64_t) INT64_MAX + neg || x < lo || x > hi))
        rc = s_out_of_range(why);
    if (rc == SHOP_NUM_OK)
        *out = x;
    return rc;
}

int
shop_parse_uint(const char *v, uint64_t lo, uint64_t hi, uint64_t *out, const char **why)
{
    bool neg;
    uint64_t x = 0;
    int rc = s_parse_whole(v, false, &neg, &x, why);
    if (rc == SHOP_NUM_OK && (x < lo || x > hi))
        rc = s_out_of_range(why);
    if (rc == SHOP_NUM_OK)
        *out = x;
    return rc;
}

int
shop_parse_double(const char *v, double lo, double hi, int open, double *out,
                  const char **why)
{
    /* decimal only: strtod would also read "inf", "nan", "0x1p3" and blanks */
    bool digit = false;
    for (const char *p = v; *p; p++) {
        if (!strchr("0123456789.eE+-", *p) || (p == v && *p == '+')) {
            *why = "not a number";
            return SHOP_NUM_SYNTAX;
        }
        digit |= isdigit((unsigned char) *p) != 0;
    }
    char *end;
    double x = strtod(v, &end);
    if (!digit || end == v || *end) {
        *why = "not a number";
        return SHOP_NUM_SYNTAX;
    }
    if (!isfinite(x) || x < lo || x > hi || ((open & SHOP_OPEN_LO) && x == lo)
        || ((open & SHOP_OPEN_HI) && x == hi))
        return s_out_of_range(why);
    *out = x;
    return SHOP_NUM_OK;
}

static void
s_opt_bad(const char *prog, const char *opt, const char *v, const char *why, const char *range)
{
    fprintf(stderr, "%s: %s \"%s\": %s%s%s\n", prog, opt, v, why, range[0] ? ": " : "", range);
}

int
shop_opt_int(const char *prog, const char *opt, const char *v, int lo, int hi, int *out)
{
    int64_t x;
    const char *why;
    int rc = shop_parse_int(v, lo, hi, &x, &why);
    if (rc == SHOP_NUM_OK) {
        *out = (int) x;
        return 0;
    }
    char range[64] = "";
    if (rc == SHOP_NUM_RANGE) {
        if (hi == INT_MAX)
            snprintf(range, sizeof range, "at least %d", lo);
        else
            snprintf(range, sizeof range, "%d to %d", lo, hi);
    }
    s_opt_bad(prog, opt, v, why, range);
    return -1;
}

int
shop_opt_uint64(const char *prog, const char *opt, const char *v, uint64_t *out)
{
    const char *why;
    int rc = shop_parse_uint(v, 0, UINT64_MAX, out, &why);
    if (rc == SHOP_NUM_OK)
        return 0;
    s_opt_bad(prog, opt, v, why, rc == SHOP_NUM_RANGE ? "0 to 2^64 - 1" : "");
    return -1;
}

int
shop_opt_double(const char *prog, const char *opt, const char *v, double lo, double hi,
                int open, double *out)
{
    const char *why;
    int rc = shop_parse_double(v, lo, hi, open, out, &why);
    if (rc == SHOP_NUM_OK)
        return 0;
    char range[96] = "";
    if (rc == SHOP_NUM_RANGE) {
        bool olo = open & SHOP_OPEN_LO, ohi = open & SHOP_OPEN_HI;
        if (hi >= FLT_MAX)
            snprintf(range, sizeof range, "%s %g", olo ? "above" : "at least", lo);
        else
            snprintf(range, sizeof range, "%s%g, %g%s", olo ? "(" : "[", lo, hi, ohi ? ")" : "]");
    }
    s_opt_bad(prog, opt, v, why, range);
    return -1;
}

int
shop_opt_float(const char *prog, const char *opt, const char *v, double lo, double hi,
               int open, float *out)
{
    double x;
    /* a float holds no more than FLT_MAX (no fmin: the client library
     * built from this file does not link libm) */
    lo = lo < -FLT_MAX ? -FLT_MAX : lo;
    hi = hi > FLT_MAX ? FLT_MAX : hi;
    if (shop_opt_double(prog, opt, v, lo, hi, open, &x) != 0)
        return -1;
    *out = (float) x;
    return 0;
}
