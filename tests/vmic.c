/* tests/vmic.c: see vmic.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/vmic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void
vmic_write_config(const char *path, const vmic_device_t *devs, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot write %s", path);
    fprintf(f, "pcm.default { type null }\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f,
                "pcm.%s_file { type file; slave.pcm { type null }; file \"/dev/null\";"
                " infile \"%s\"; format \"raw\" }\n"
                "pcm.%s { type plug; slave { pcm \"%s_file\"; format S16_LE; %s } }\n",
                devs[i].name, devs[i].infile, devs[i].name, devs[i].name, devs[i].format);
    if (fclose(f) != 0)
        fail_msg("cannot write %s", path);
}

static void *
s_feed(void *arg)
{
    vmic_feeder_t *f = arg;
    /* O_RDWR: opening never blocks, and the capture side may open and close
     * the pipe (device enumeration) without the feeder seeing EPIPE.
     * O_NONBLOCK: once the capture side is gone nobody reads, and a blocking
     * write into the full pipe would never see quit (a CPU-starved run hung
     * like that for 40 min): a full pipe skips the tick, as a microphone
     * whose reader is late overruns, and the data waits in order.
     * O_CLOEXEC: a shopd the test starts must not inherit a write end, or
     * the pipe would never reach end-of-file when the feeder closes it */
    int fd = open(f->fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    /* data written before the device opens would pile up in the pipe and be
     * read in bursts, which invites short reads */
    while (!atomic_load(&f->go) && !atomic_load(&f->quit))
        usleep(1000);
    static const uint8_t zeros[4096];
    /* start 100 ms ahead: the first ten chunks go at once, so the pipe
     * holds a cushion and a feeder that a busy machine wakes late does not
     * leave the device a short read (the file plugin pads those with stale
     * samples) */
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    next.tv_nsec -= 100000000L;
    if (next.tv_nsec < 0) {
        next.tv_sec--;
        next.tv_nsec += 1000000000L;
    }
    while (!atomic_load(&f->quit)) {
        next.tv_nsec += 10000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        if (atomic_load(&f->hold))
            continue;
        pthread_mutex_lock(&f->lock);
        const uint8_t *p = zeros;
        size_t n = f->chunk < sizeof zeros ? f->chunk : sizeof zeros;
        if (f->clip && f->at < f->clip_len) {
            p = f->clip + f->at;
            n = f->chunk < f->clip_len - f->at ? f->chunk : f->clip_len - f->at;
        }
        ssize_t w = write(fd, p, n);
        if (w > 0 && p != zeros)
            f->at += (size_t) w;
        pthread_mutex_unlock(&f->lock);
        if (w < 0 && errno != EAGAIN)
            break;
    }
    close(fd);
    return NULL;
}

void
vmic_feeder_start(vmic_feeder_t *f, const char *fifo, size_t chunk, bool go)
{
    memset(f, 0, sizeof *f);
    snprintf(f->fifo, sizeof f->fifo, "%s", fifo);
    f->chunk = chunk;
    atomic_init(&f->go, go);
    unlink(f->fifo);
    assert_int_equal(mkfifo(f->fifo, 0600), 0);
    pthread_mutex_init(&f->lock, NULL);
    assert_int_equal(pthread_create(&f->thread, NULL, s_feed, f), 0);
}

void
vmic_feeder_play(vmic_feeder_t *f, const void *clip, size_t len)
{
    pthread_mutex_lock(&f->lock);
    f->clip = clip;
    f->clip_len = len;
    f->at = 0;
    pthread_mutex_unlock(&f->lock);
}

void
vmic_feeder_stop(vmic_feeder_t *f)
{
    unlink(f->fifo);
    atomic_store(&f->quit, true);
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->lock);
}
