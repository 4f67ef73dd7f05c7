/* daemon/recog.h: the slow half of a photo, a camera frame or a spoken
 * request, run on a worker of the pool (daemon/pool.h).
 *
 * A job carries its bytes in; on the worker they are decoded in that
 * worker's own jailed decoder (daemon/sandbox.h), then recognised by the
 * shared model under the models lock (the product CNN or the keyword
 * spotter: a few milliseconds); what comes out is plain data the job owns
 * (labels, probabilities, the embedding, the words heard), so the main
 * thread can finish the answer (daemon/flow.h) without touching any state
 * the workers use. Every worker state is made by recog_worker_start as the
 * pool's thread_start. */
#ifndef SHOP_DAEMON_RECOG_H
#define SHOP_DAEMON_RECOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio/kws.h"
#include "daemon/models.h"
#include "daemon/sandbox.h"
#include "ipc/proto.h"
#include "vision/classify.h"
#include "vision/framesrc.h"

#define RECOG_MAX_HITS 64
#define RECOG_LABEL_MAX 64

typedef enum {
    RECOG_PHOTO = 0,   /* a JPEG/PNG/BMP photo */
    RECOG_FRAME,       /* a camera frame (MJPEG or YUYV) */
    RECOG_AUDIO,       /* a WAV/FLAC/Ogg recording */
} recog_kind_t;

/* The decoder workers of all pool threads together (out). */
typedef struct {
    int workers;        /* pool threads with a jailed decoder */
    uint64_t requests, rejected, restarts;
} recog_stats_t;

/* What the workers share: the models and the counters. */
typedef struct _recog_shared_t recog_shared_t;

/* models is borrowed (it must outlive the pool). With jail, forks the
 * jailed decoders of `workers` pool threads here, on the calling thread,
 * before the pool's threads exist: a fork while other threads may hold
 * allocator locks is what a sanitizer runtime does not survive. jail false
 * decodes in the worker threads themselves (tests, or when no decoder can be
 * forked); timeout_ms bounds one decode in a jailed decoder (0: its
 * default). */
recog_shared_t *recog_shared_new(models_t *models, bool jail, int workers, int timeout_ms);
void recog_shared_destroy(recog_shared_t **self_p);
void recog_shared_stats(recog_shared_t *self, recog_stats_t *stats);

/* pool_opts_t.thread_start / thread_stop: arg is the recog_shared_t. Each
 * worker takes the decoder forked for its index, which gives up at once
 * when stop_fd is readable. A worker without a decoder (none could be
 * forked) decodes in-process (logged). */
void *recog_worker_start(int index, int stop_fd, void *arg);
void recog_worker_stop(void *state);

/* One job. The caller fills the "in" part, submits it with recog_work; the
 * done callback reads the "out" part and frees it with recog_job_free. */
typedef struct {
    /* in */
    recog_kind_t kind;
    uint8_t *bytes;            /* owned: freed by recog_job_free */
    size_t len;
    vision_frame_format_t fmt; /* RECOG_FRAME: the stream's format */
    void *owner;               /* the caller's context, untouched */
    /* out */
    proto_err_t code;          /* PROTO_OK, or the error and err */
    char err[512];
    vision_result_t vision;    /* RECOG_PHOTO/FRAME: names and embedding point into the job */
    kws_hit_t hits[RECOG_MAX_HITS]; /* RECOG_AUDIO: the words heard */
    int nhits;
    size_t samples;            /* RECOG_AUDIO: 16 kHz samples decoded */
    double decode_ms, recognise_ms;
    /* storage behind vision's pointers */
    char names[VISION_TOPK][RECOG_LABEL_MAX];
    float *embedding;
} recog_job_t;

/* A new job of kind over bytes (ownership moves to the job). */
recog_job_t *recog_job_new(recog_kind_t kind, uint8_t *bytes, size_t len);
void recog_job_free(recog_job_t *job);

/* pool_work_fn: runs the job on a worker (state from recog_worker_start). */
void recog_work(void *state, void *job);

/* Runs the job on the caller's thread: decoded in sb (NULL: in-process),
 * recognised with models under their lock. For tools and tests; shopd runs
 * jobs on its pool. */
void recog_run(models_t *models, sandbox_t *sb, recog_job_t *job);

/* Turns one camera frame into an image with channels (1 or 3): MJPEG in sb
 * (the standard Huffman tables added when missing, limits of the stream's
 * size; in-process when sb is NULL), YUYV converted here. Returns 0 with
 * *img (caller releases), or -1 with a message. */
int recog_decode_frame(sandbox_t *sb, const vision_frame_format_t *fmt, const uint8_t *data,
                       size_t len, int channels, vision_image_t *img, char *err,
                       size_t errlen);

#endif
