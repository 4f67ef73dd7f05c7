/* vision/framesrc.c: see framesrc.h */
#include "config.h"

#include "vision/framesrc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/util.h"
#include "vision/avi.h"
#include "vision/camera.h"

/* A recording without a frame period plays at 10 frames a second. */
#define S_DEFAULT_PERIOD_US 100000u

struct _vision_framesrc_t {
    vision_src_kind_t kind;
    char path[1024];            /* device or file */
    vision_frame_format_t fmt;
    vision_camera_t *cam;       /* VISION_SRC_V4L2 */
    vision_avi_t *avi;          /* VISION_SRC_RECORDING */
    uint64_t period_ns;         /* recording: time between frames */
    uint64_t next_ns;           /* recording: when the next frame is due */
    uint8_t *buf;               /* the last frame */
    size_t cap, len;
    uint64_t frames;            /* frames read */
};

vision_framesrc_t *
vision_framesrc_open(const char *path, int width, int height, char *err, size_t errlen)
{
    struct stat st;
    vision_framesrc_t *self = xcalloc(1, sizeof *self);
    shop_strlcpy(self->path, path, sizeof self->path);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        self->kind = VISION_SRC_RECORDING;
        self->avi = vision_avi_open(path, err, errlen);
        if (!self->avi)
            goto fail;
        vision_avi_info_t info;
        vision_avi_info(self->avi, &info);
        uint32_t us = info.usec_per_frame ? info.usec_per_frame : S_DEFAULT_PERIOD_US;
        self->period_ns = (uint64_t) us * 1000u;
        self->fmt = (vision_frame_format_t) { .fourcc = info.fourcc, .w = info.w, .h = info.h,
                                              .stride = (size_t) info.w * 2,
                                              .fps = 1e6 / us };
        self->next_ns = shop_now_ns();
        return self;
    }
    self->kind = VISION_SRC_V4L2;
    vision_camera_opts_t o = { .device = path, .width = width, .height = height };
    self->cam = vision_camera_new(&o, err, errlen);
    if (!self->cam)
        goto fail;
    vision_camera_format(self->cam, &self->fmt.w, &self->fmt.h, &self->fmt.fourcc);
    self->fmt.stride = vision_camera_stride(self->cam);
    return self;
fail:
    vision_framesrc_destroy(&self);
    return NULL;
}

void
vision_framesrc_destroy(vision_framesrc_t **src_p)
{
    if (!src_p || !*src_p)
        return;
    vision_framesrc_t *self = *src_p;
    vision_camera_destroy(&self->cam);
    vision_avi_destroy(&self->avi);
    free(self->buf);
    free(self);
    *src_p = NULL;
}

vision_src_kind_t
vision_framesrc_kind(const vision_framesrc_t *self)
{
    return self->kind;
}

void
vision_framesrc_format(const vision_framesrc_t *self, vision_frame_format_t *fmt)
{
    *fmt = self->fmt;
}

uint64_t
vision_framesrc_frames(const vision_framesrc_t *self)
{
    return self->frames;
}

/* Sleeps until ns on the monotonic clock (restarting after signals). */
static void
s_sleep_until(uint64_t ns)
{
    struct timespec ts = { .tv_sec = (time_t) (ns / 1000000000u),
                           .tv_nsec = (long) (ns % 1000000000u) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* The next frame of the recording, looping by opening the file again (so
 * its removal is noticed like an unplugged camera). */
static int
s_recording_read(vision_framesrc_t *self, int timeout_ms, char *err, size_t errlen)
{
    uint64_t now = shop_now_ns();
    if (self->next_ns > now) {
        if (timeout_ms >= 0 && self->next_ns - now > (uint64_t) timeout_ms * 1000000u) {
            s_sleep_until(now + (uint64_t) timeout_ms * 1000000u);
            return 0;
        }
        s_sleep_until(self->next_ns);
    }
    /* a reader that fell behind does not get a burst of late frames */
    now = shop_now_ns();
    self->next_ns = (self->next_ns + self->period_ns > now ? self->next_ns : now)
                    + self->period_ns;
    int rc = vision_avi_next(self->avi, &self->buf, &self->cap, &self->len, err, errlen);
    if (rc != 0)
        return rc;
    vision_avi_destroy(&self->avi);
    self->avi = vision_avi_open(self->path, err, errlen);
    if (!self->avi)
        return -1;
    vision_avi_info_t info;
    vision_avi_info(self->avi, &info);
    if (info.fourcc != self->fmt.fourcc || info.w != self->fmt.w || info.h != self->fmt.h) {
        shop_errf(err, errlen, "%s: the recording changed format while playing", self->path);
        return -1;
    }
    rc = vision_avi_next(self->avi, &self->buf, &self->cap, &self->len, err, errlen);
    if (rc == 0)
        shop_errf(err, errlen, "%s: the recording has no frames", self->path);
    return rc == 1 ? 1 : -1;
}

int
vision_framesrc_read(vision_framesrc_t *self, int timeout_ms, const uint8_t **data,
                     size_t *len, char *err, size_t errlen)
{
    int rc = self->kind == VISION_SRC_RECORDING
                 ? s_recording_read(self, timeout_ms, err, errlen)
                 : vision_camera_read(self->cam, timeout_ms, &self->buf, &self->cap,
                                      &self->len, err, errlen);
    if (rc == 1) {
        self->frames++;
        *data = self->buf;
        *len = self->len;
    }
    return rc;
}
