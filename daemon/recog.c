/* daemon/recog.c: see recog.h */
#include "config.h"

#include "daemon/recog.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/source.h"
#include "common/log.h"
#include "common/util.h"
#include "vision/camera.h"

struct _recog_shared_t {
    models_t *models;          /* borrowed */
    sandbox_t **sb;            /* the decoders forked for the workers, taken by them */
    int nsb;
    pthread_mutex_t lock;      /* guards the counters */
    recog_stats_t totals;      /* of the workers gone and the last sample of each live one */
};

typedef struct {
    recog_shared_t *shared;
    sandbox_t *sb;             /* this worker's decoder, NULL: in-process */
    sandbox_stats_t last;      /* its counters when last added to the totals */
    int stop_fd;               /* readable once the pool stops */
} s_worker_t;

/* Whether the pool is stopping (a decode that failed was cut short). */
static bool
s_stopping(const s_worker_t *w)
{
    struct pollfd p = { .fd = w->stop_fd, .events = POLLIN };
    return w->stop_fd >= 0 && poll(&p, 1, 0) == 1;
}

/* A failed decode: the input's fault, or cut short because shopd stops. */
static void
s_decode_failed(const s_worker_t *w, recog_job_t *j)
{
    if (s_stopping(w)) {
        j->code = PROTO_E_NOT_AVAILABLE;
        shop_errf(j->err, sizeof j->err, "shopd is stopping");
    } else {
        j->code = PROTO_E_INVALID;
    }
}

recog_shared_t *
recog_shared_new(models_t *models, bool jail, int workers, int timeout_ms)
{
    recog_shared_t *self = xcalloc(1, sizeof *self);
    self->models = models;
    pthread_mutex_init(&self->lock, NULL);
    if (jail && workers > 0) {
        self->nsb = workers;
        self->sb = xcalloc((size_t) workers, sizeof *self->sb);
        for (int i = 0; i < workers; i++) {
            char err[256];
            sandbox_opts_t o = { .timeout_ms = timeout_ms };
            self->sb[i] = sandbox_new(&o, err, sizeof err);
            if (!self->sb[i])
                log_warn("worker %d: no jailed decoder (%s): it decodes in-process", i, err);
        }
    }
    return self;
}

void
recog_shared_destroy(recog_shared_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int i = 0; i < (*self_p)->nsb; i++)
        sandbox_destroy(&(*self_p)->sb[i]);
    free((*self_p)->sb);
    pthread_mutex_destroy(&(*self_p)->lock);
    free(*self_p);
    *self_p = NULL;
}

void
recog_shared_stats(recog_shared_t *self, recog_stats_t *stats)
{
    pthread_mutex_lock(&self->lock);
    *stats = self->totals;
    pthread_mutex_unlock(&self->lock);
}

/* Adds what the worker's decoder did since the last call to the totals. */
static void
s_count(s_worker_t *w)
{
    if (!w->sb)
        return;
    sandbox_stats_t now;
    sandbox_stats(w->sb, &now);
    pthread_mutex_lock(&w->shared->lock);
    w->shared->totals.requests += now.requests - w->last.requests;
    w->shared->totals.rejected += now.rejected - w->last.rejected;
    w->shared->totals.restarts += now.restarts - w->last.restarts;
    pthread_mutex_unlock(&w->shared->lock);
    w->last = now;
}

void *
recog_worker_start(int index, int stop_fd, void *arg)
{
    s_worker_t *w = xcalloc(1, sizeof *w);
    w->shared = arg;
    w->stop_fd = stop_fd;
    if (index < w->shared->nsb) {
        /* each index is taken by one thread only: no lock needed */
        w->sb = w->shared->sb[index];
        w->shared->sb[index] = NULL;
    }
    if (w->sb) {
        sandbox_set_cancel_fd(w->sb, stop_fd);
        pthread_mutex_lock(&w->shared->lock);
        w->shared->totals.workers++;
        pthread_mutex_unlock(&w->shared->lock);
    }
    return w;
}

void
recog_worker_stop(void *state)
{
    s_worker_t *w = state;
    if (!w)
        return;
    s_count(w);
    if (w->sb) {
        pthread_mutex_lock(&w->shared->lock);
        w->shared->totals.workers--;
        pthread_mutex_unlock(&w->shared->lock);
    }
    sandbox_destroy(&w->sb);
    free(w);
}

recog_job_t *
recog_job_new(recog_kind_t kind, uint8_t *bytes, size_t len)
{
    recog_job_t *j = xcalloc(1, sizeof *j);
    j->kind = kind;
    j->bytes = bytes;
    j->len = len;
    return j;
}

void
recog_job_free(recog_job_t *j)
{
    if (!j)
        return;
    free(j->bytes);
    free(j->embedding);
    free(j);
}

int
recog_decode_frame(sandbox_t *sb, const vision_frame_format_t *fmt, const uint8_t *data,
                   size_t len, int channels, vision_image_t *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    if (fmt->fourcc != VISION_FMT_MJPEG) {
        vision_image_t rgb;
        if (vision_frame_to_image(fmt->fourcc, data, len, fmt->w, fmt->h, fmt->stride, &rgb,
                                  err, errlen) != 0)
            return -1;
        if (channels == 3) {
            *img = rgb;
            return 0;
        }
        vision_image_alloc(img, rgb.w, rgb.h, 1);
        for (size_t i = 0; i < (size_t) rgb.w * (size_t) rgb.h; i++) {
            const uint8_t *p = rgb.px + i * 3;
            img->px[i] = (uint8_t) ((77u * p[0] + 150u * p[1] + 29u * p[2] + 128u) >> 8);
        }
        vision_image_release(&rgb);
        return 0;
    }
    /* a frame claiming more than the stream's size is refused before decoding */
    vision_limits_t lim = { .max_pixels = (uint64_t) fmt->w * (uint64_t) fmt->h,
                            .max_side = SHOP_MAX(fmt->w, fmt->h) };
    size_t fixed_len = 0;
    uint8_t *fixed = vision_mjpeg_add_dht(data, len, &fixed_len);
    char derr[512] = "";
    int rc = sb ? sandbox_decode_image(sb, fixed ? fixed : data, fixed ? fixed_len : len, &lim,
                                       channels, img, derr, sizeof derr)
                : vision_decode_mem(fixed ? fixed : data, fixed ? fixed_len : len, &lim, channels,
                                    img, derr, sizeof derr);
    free(fixed);
    if (rc != 0) {
        shop_errf(err, errlen, "MJPEG frame: %s", derr);
        return -1;
    }
    if (img->w != fmt->w || img->h != fmt->h) {
        shop_errf(err, errlen, "MJPEG frame is %dx%d, the stream is %dx%d", img->w, img->h,
                  fmt->w, fmt->h);
        vision_image_release(img);
        return -1;
    }
    return 0;
}

/* Decodes and classifies a photo or frame. */
static void
s_vision(s_worker_t *w, recog_job_t *j)
{
    uint64_t t0 = shop_now_ns();
    vision_image_t img;
    int rc;
    if (j->kind == RECOG_FRAME)
        rc = recog_decode_frame(w->sb, &j->fmt, j->bytes, j->len, 1, &img, j->err,
                                sizeof j->err);
    else if (w->sb)
        rc = sandbox_decode_image(w->sb, j->bytes, j->len, NULL, 1, &img, j->err, sizeof j->err);
    else
        rc = vision_decode_mem(j->bytes, j->len, NULL, 1, &img, j->err, sizeof j->err);
    uint64_t t1 = shop_now_ns();
    j->decode_ms = (double) (t1 - t0) / 1e6;
    if (rc != 0) {
        s_decode_failed(w, j);
        return;
    }
    models_t *m = w->shared->models;
    models_lock(m);
    vision_classifier_t *clf = models_vision(m);
    vision_result_t res;
    if (!clf) {
        j->code = PROTO_E_NOT_AVAILABLE;
        shop_errf(j->err, sizeof j->err, "product recognition is not available: no model");
    } else if (vision_classify(clf, &img, &res) != 0) {
        j->code = PROTO_E_INVALID;
        shop_errf(j->err, sizeof j->err, "product recognition failed: %s",
                  vision_classifier_error(clf));
    } else {
        /* copies: the classifier's buffers change with its next call */
        j->vision = res;
        for (int i = 0; i < res.n; i++) {
            shop_strlcpy(j->names[i], res.top[i].name ? res.top[i].name : "", RECOG_LABEL_MAX);
            j->vision.top[i].name = j->names[i];
        }
        j->embedding = xmallocarray((size_t) res.dim, sizeof *j->embedding);
        memcpy(j->embedding, res.embedding, (size_t) res.dim * sizeof *j->embedding);
        j->vision.embedding = j->embedding;
        j->code = PROTO_OK;
    }
    models_unlock(m);
    vision_image_release(&img);
    j->recognise_ms = (double) (shop_now_ns() - t1) / 1e6;
}

/* Decodes an audio request and spots its words. */
static void
s_audio(s_worker_t *w, recog_job_t *j)
{
    uint64_t t0 = shop_now_ns();
    float *pcm = NULL;
    size_t n = 0;
    int rc = w->sb ? sandbox_decode_audio(w->sb, j->bytes, j->len, NULL, &pcm, &n, j->err,
                                          sizeof j->err)
                   : audio_source_decode_mem(j->bytes, j->len, NULL, &pcm, &n, j->err,
                                             sizeof j->err);
    uint64_t t1 = shop_now_ns();
    j->decode_ms = (double) (t1 - t0) / 1e6;
    if (rc != 0) {
        s_decode_failed(w, j);
        return;
    }
    j->samples = n;
    models_t *m = w->shared->models;
    models_lock(m);
    kws_t *kws = models_kws(m);
    if (!kws) {
        j->code = PROTO_E_NOT_AVAILABLE;
        shop_errf(j->err, sizeof j->err, "speech recognition is not available: no model");
    } else {
        j->nhits = kws_decode(kws, pcm, n, j->hits, RECOG_MAX_HITS);
        if (j->nhits < 0) {
            j->code = PROTO_E_INTERNAL;
            shop_errf(j->err, sizeof j->err, "speech recognition failed: %s", kws_error(kws));
            j->nhits = 0;
        } else {
            j->code = PROTO_OK;
        }
    }
    models_unlock(m);
    free(pcm);
    j->recognise_ms = (double) (shop_now_ns() - t1) / 1e6;
}

void
recog_work(void *state, void *arg)
{
    s_worker_t *w = state;
    recog_job_t *j = arg;
    if (j->kind == RECOG_AUDIO)
        s_audio(w, j);
    else
        s_vision(w, j);
    s_count(w);
}

void
recog_run(models_t *models, sandbox_t *sb, recog_job_t *job)
{
    recog_shared_t shared = { .models = models };
    s_worker_t w = { .shared = &shared, .sb = sb, .stop_fd = -1 };
    if (job->kind == RECOG_AUDIO)
        s_audio(&w, job);
    else
        s_vision(&w, job);
}
