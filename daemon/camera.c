/* daemon/camera.c: see camera.h */
#define _GNU_SOURCE
#include "config.h"

#include "daemon/camera.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/recog.h"
#include "daemon/sandbox.h"

typedef enum { S_STARTING = 0, S_STREAMING, S_UNAVAILABLE } s_state_t;
static const char *const s_state_names[] = { "starting", "streaming", "unavailable" };
static const char *const s_trigger_names[] = { "none", "interval", "scene" };

struct _camera_t {
    camera_opts_t opts;          /* settings (device copied below) */
    char device[1024];
    camera_picture_fn on_picture;
    void *arg;
    pthread_t tid;
    bool started;                /* the thread runs */
    sandbox_t *sb;               /* the trigger's decoder, until the thread takes it */
    int stop_pipe[2];            /* readable once camera_destroy is called */
    pthread_mutex_t lock;        /* guards everything below */
    s_state_t state;
    char error[512];             /* why unavailable */
    vision_frame_format_t fmt;   /* of the source streaming */
    vision_src_kind_t kind;
    uint8_t *latest;             /* the latest frame, latest_len bytes */
    size_t latest_len, latest_cap;
    uint64_t frames;             /* frames read since the start */
    uint64_t pictures;           /* handed to on_picture */
    json_t *last;                /* the last classification, NULL before one */
    uint64_t last_ns;
};

int
camera_trigger_from_name(const char *name)
{
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_trigger_names); i++)
        if (!strcmp(name, s_trigger_names[i]))
            return (int) i;
    return -1;
}

const char *
camera_trigger_name(camera_trigger_t t)
{
    return (size_t) t < SHOP_ARRAY_LEN(s_trigger_names) ? s_trigger_names[t] : "?";
}

static const char *
s_fourcc_name(uint32_t f)
{
    return f == VISION_FMT_MJPEG ? "MJPEG" : f == VISION_FMT_YUYV ? "YUYV" : "?";
}

/* Waits up to ms for the stop pipe. Returns true when stopping. */
static bool
s_wait_stop(camera_t *self, int ms)
{
    struct pollfd p = { .fd = self->stop_pipe[0], .events = POLLIN };
    return poll(&p, 1, ms) > 0;
}

/* Changes state, logging once per change. */
static void
s_set_state(camera_t *self, s_state_t st, const char *why)
{
    pthread_mutex_lock(&self->lock);
    bool changed = st != self->state;
    self->state = st;
    if (st == S_UNAVAILABLE)
        shop_strlcpy(self->error, why, sizeof self->error);
    else
        self->error[0] = 0;
    vision_frame_format_t f = self->fmt;
    pthread_mutex_unlock(&self->lock);
    if (!changed)
        return;
    if (st == S_STREAMING)
        log_notice("camera %s: streaming %dx%d %s%s", self->device, f.w, f.h,
                   s_fourcc_name(f.fourcc),
                   self->kind == VISION_SRC_RECORDING ? " (a recording, looped)" : "");
    else
        log_warn("camera unavailable: %s (retrying, with backoff up to %.1f s)", why,
                 self->opts.backoff_max_ms / 1000.0);
}

/* Hands a copy of the frame to on_picture. */
static void
s_picture(camera_t *self, const uint8_t *data, size_t len, uint64_t seq)
{
    camera_picture_t pic = { .data = xmalloc(len ? len : 1), .len = len, .seq = seq,
                             .by_trigger = true };
    memcpy(pic.data, data, len);
    pthread_mutex_lock(&self->lock);
    pic.fmt = self->fmt;
    self->pictures++;
    pthread_mutex_unlock(&self->lock);
    self->on_picture(&pic, self->arg);
}

static void *
s_main(void *arg)
{
    camera_t *self = arg;
    pthread_setname_np(pthread_self(), "camera");
    sandbox_t *sb = self->sb;
    self->sb = NULL;
    vision_trigger_t *trig = NULL;
    if (self->opts.trigger == CAMERA_TRIGGER_SCENE)
        trig = vision_trigger_new(&self->opts.scene);
    vision_framesrc_t *src = NULL;
    int backoff = self->opts.backoff_min_ms;
    uint64_t next_interval = 0;
    for (;;) {
        char err[512] = "";
        if (!src) {
            src = vision_framesrc_open(self->device, self->opts.width, self->opts.height, err,
                                       sizeof err);
            if (!src) {
                s_set_state(self, S_UNAVAILABLE, err);
                if (s_wait_stop(self, backoff))
                    break;
                backoff = SHOP_MIN(backoff * 2, self->opts.backoff_max_ms);
                continue;
            }
            pthread_mutex_lock(&self->lock);
            vision_framesrc_format(src, &self->fmt);
            self->kind = vision_framesrc_kind(src);
            self->latest_len = 0;
            pthread_mutex_unlock(&self->lock);
            s_set_state(self, S_STREAMING, NULL);
            backoff = self->opts.backoff_min_ms;
            next_interval = shop_now_ns() + (uint64_t) self->opts.interval_ms * 1000000u;
        }
        if (s_wait_stop(self, 0))
            break;
        const uint8_t *data;
        size_t len;
        int rc = vision_framesrc_read(src, 200, &data, &len, err, sizeof err);
        if (rc < 0) {
            vision_framesrc_destroy(&src);
            s_set_state(self, S_UNAVAILABLE, err);
            if (s_wait_stop(self, backoff))
                break;
            continue;
        }
        if (rc == 0)
            continue;
        pthread_mutex_lock(&self->lock);
        if (self->latest_cap < len) {
            self->latest = xrealloc(self->latest, len);
            self->latest_cap = len;
        }
        memcpy(self->latest, data, len);
        self->latest_len = len;
        uint64_t seq = ++self->frames;
        vision_frame_format_t fmt = self->fmt;
        pthread_mutex_unlock(&self->lock);
        if (self->opts.trigger == CAMERA_TRIGGER_INTERVAL && shop_now_ns() >= next_interval) {
            next_interval = shop_now_ns() + (uint64_t) self->opts.interval_ms * 1000000u;
            s_picture(self, data, len, seq);
        } else if (trig) {
            vision_image_t img;
            if (recog_decode_frame(sb, &fmt, data, len, 1, &img, err, sizeof err) != 0) {
                /* a damaged frame is dropped, the stream goes on */
                log_debug("camera %s: frame %llu: %s", self->device, (unsigned long long) seq,
                          err);
                continue;
            }
            int fired = vision_trigger_feed(trig, &img);
            vision_image_release(&img);
            if (fired == 1) {
                log_info("camera %s: the scene changed and holds still (frame %llu)",
                         self->device, (unsigned long long) seq);
                s_picture(self, data, len, seq);
            }
        }
    }
    vision_framesrc_destroy(&src);
    vision_trigger_destroy(&trig);
    sandbox_destroy(&sb);
    return NULL;
}

camera_t *
camera_new(const camera_opts_t *opts, camera_picture_fn on_picture, void *arg, char *err,
           size_t errlen)
{
    if (!opts || !opts->device || !opts->device[0] || !on_picture) {
        shop_errf(err, errlen, "camera: no device");
        return NULL;
    }
    camera_t *self = xcalloc(1, sizeof *self);
    self->opts = *opts;
    shop_strlcpy(self->device, opts->device, sizeof self->device);
    self->opts.device = self->device;
    if (self->opts.interval_ms <= 0)
        self->opts.interval_ms = 5000;
    if (self->opts.backoff_min_ms <= 0)
        self->opts.backoff_min_ms = 500;
    if (self->opts.backoff_max_ms <= 0)
        self->opts.backoff_max_ms = 30000;
    self->opts.backoff_max_ms = SHOP_MAX(self->opts.backoff_max_ms, self->opts.backoff_min_ms);
    self->on_picture = on_picture;
    self->arg = arg;
    self->stop_pipe[0] = self->stop_pipe[1] = -1;
    pthread_mutex_init(&self->lock, NULL);
    vision_trigger_t *probe = NULL;
    if (self->opts.trigger == CAMERA_TRIGGER_SCENE
        && !(probe = vision_trigger_new(&self->opts.scene))) {
        shop_errf(err, errlen, "camera: invalid scene trigger levels");
        goto fail;
    }
    vision_trigger_destroy(&probe);
    if (pipe2(self->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        shop_errf(err, errlen, "camera: %s", strerror(errno));
        goto fail;
    }
    if (self->opts.trigger == CAMERA_TRIGGER_SCENE && self->opts.jail) {
        /* forked here, on the caller's thread: see daemon/recog.h */
        char serr[256];
        sandbox_opts_t so = { .cancel_fd = self->stop_pipe[0] };
        if (!(self->sb = sandbox_new(&so, serr, sizeof serr)))
            log_warn("camera %s: no jailed decoder (%s): frames are decoded in-process",
                     self->device, serr);
    }
    return self;
fail:
    camera_destroy(&self);
    return NULL;
}

int
camera_start(camera_t *self, char *err, size_t errlen)
{
    int rc = pthread_create(&self->tid, NULL, s_main, self);
    if (rc != 0) {
        shop_errf(err, errlen, "camera: thread: %s", strerror(rc));
        return -1;
    }
    self->started = true;
    return 0;
}

void
camera_destroy(camera_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    camera_t *self = *self_p;
    if (self->started) {
        (void) !write(self->stop_pipe[1], "x", 1);
        pthread_join(self->tid, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (self->stop_pipe[i] >= 0)
            close(self->stop_pipe[i]);
    sandbox_destroy(&self->sb);
    pthread_mutex_destroy(&self->lock);
    json_decref(self->last);
    free(self->latest);
    free(self);
    *self_p = NULL;
}

int
camera_latest(camera_t *self, camera_picture_t *pic, char *err, size_t errlen)
{
    memset(pic, 0, sizeof *pic);
    pthread_mutex_lock(&self->lock);
    int rc = -1;
    if (self->state == S_STREAMING && self->latest_len > 0) {
        pic->fmt = self->fmt;
        pic->len = self->latest_len;
        pic->data = xmalloc(pic->len);
        memcpy(pic->data, self->latest, pic->len);
        pic->seq = self->frames;
        self->pictures++;
        rc = 0;
    } else if (self->state == S_UNAVAILABLE) {
        shop_errf(err, errlen, "the camera is unavailable: %s", self->error);
    } else {
        shop_errf(err, errlen, "camera %s has no frame yet", self->device);
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

void
camera_set_last(camera_t *self, const json_t *product, bool by_trigger)
{
    json_t *copy = json_deep_copy(product);
    json_object_set_new(copy, "by", json_string(by_trigger ? "trigger" : "request"));
    pthread_mutex_lock(&self->lock);
    json_decref(self->last);
    self->last = copy;
    self->last_ns = shop_now_ns();
    pthread_mutex_unlock(&self->lock);
}

json_t *
camera_status_json(camera_t *self)
{
    pthread_mutex_lock(&self->lock);
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "device", self->device, "state",
                          s_state_names[self->state], "trigger",
                          camera_trigger_name(self->opts.trigger), "frames",
                          (json_int_t) self->frames, "pictures", (json_int_t) self->pictures,
                          "source", self->kind == VISION_SRC_RECORDING ? "recording" : "camera");
    if (self->state == S_UNAVAILABLE)
        json_object_set_new(o, "error", json_string(self->error));
    if (self->fmt.w > 0) {
        json_object_set_new(o, "format", json_string(s_fourcc_name(self->fmt.fourcc)));
        json_object_set_new(o, "width", json_integer(self->fmt.w));
        json_object_set_new(o, "height", json_integer(self->fmt.h));
        if (self->fmt.fps > 0)
            json_object_set_new(o, "fps", json_real(self->fmt.fps));
    }
    if (self->opts.trigger == CAMERA_TRIGGER_INTERVAL)
        json_object_set_new(o, "interval_s", json_real(self->opts.interval_ms / 1000.0));
    if (self->last) {
        json_t *l = json_deep_copy(self->last);
        json_object_set_new(l, "age_s", json_real((double) (shop_now_ns() - self->last_ns) / 1e9));
        json_object_set_new(o, "last", l);
    }
    pthread_mutex_unlock(&self->lock);
    return o;
}
