/* daemon/lock.c: see lock.h */
#include "config.h"

#include "daemon/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "recommend/store.h"

/* Reads the pid a lock file holds (0 when none). */
static long
s_pid_in(int fd)
{
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return strtol(buf, NULL, 10);
}

int
lock_endpoint(const char *ep, int *fd, char *err, size_t errlen)
{
    *fd = -1;
    if (strncmp(ep, "ipc://", 6) != 0 || ep[6] == '@')
        return 0;
    char path[4096];
    if (snprintf(path, sizeof path, "%s.lock", ep + 6) >= (int) sizeof path) {
        snprintf(err, errlen, "ipc path too long: %s", ep);
        return -1;
    }
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0) {
        snprintf(err, errlen, "cannot open the lock file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        long pid = s_pid_in(f);
        close(f);
        if (e == EWOULDBLOCK && pid > 0)
            snprintf(err, errlen, "%s is in use by shopd pid %ld (lock file %s): refusing to "
                     "take it over", ep, pid, path);
        else if (e == EWOULDBLOCK)
            snprintf(err, errlen, "%s is in use by another shopd (lock file %s): refusing to "
                     "take it over", ep, path);
        else
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long) getpid());
    if (ftruncate(f, 0) != 0 || pwrite(f, pid, (size_t) n, 0) != n) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(f);
        return -1;
    }
    *fd = f;
    return 0;
}

int
lock_database(const char *path, int *fd, char *err, size_t errlen)
{
    *fd = -1;
    /* a server is shared by design: many devices on one PostgreSQL */
    if (store_is_server(path))
        return 0;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0 && errno == ENOENT) {
        char dir[4096];
        shop_strlcpy(dir, path, sizeof dir);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            /* parents as mkdir -p, the database's own directory private */
            for (char *p = dir + 1; *p; p++) {
                if (*p != '/')
                    continue;
                *p = 0;
                if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                    break;
                *p = '/';
            }
            if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
                return -1;
            }
        }
        f = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    }
    if (f < 0) {
        snprintf(err, errlen, "cannot open the database %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(f);
        if (e == EWOULDBLOCK)
            snprintf(err, errlen, "the database %s is in use by another shopd: refusing to "
                     "share it (two daemons would interleave sessions and carts)", path);
        else
            snprintf(err, errlen, "cannot lock the database %s: %s", path, strerror(e));
        return -1;
    }
    *fd = f;
    return 0;
}

void
lock_release(int *fd)
{
    if (fd && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}
