/* common/util.c: see util.h */
#include "common/util.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
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
