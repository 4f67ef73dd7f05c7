/* daemon/mic.c: see mic.h */
#include "config.h"

#include "daemon/mic.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "audio/capture.h"
#include "audio/vocab.h"
#include "common/log.h"
#include "common/util.h"

/* samples the listening thread reads at most at once (100 ms) */
#define S_BLOCK 1600
/* how long a read waits, so a stop request is seen soon */
#define S_READ_MS 100

struct _mic_t {
    char device[CONF_PATH_MAX];     /* as configured ("default": the default input) */
    char session[CONF_PATH_MAX];
    char wake_word[32];
    bool require_wake;
    double wake_min;             /* in use: configured, or the model's */
    const char *wake_min_from;   /* "config", "model" or "none" */
    char endpoint[64];              /* inproc:// name of the PAIR */
    void *ctx;                      /* borrowed */
    void *main_end;                 /* the main thread's PAIR socket */
    audio_capture_t *capture;       /* its own thread */
    listener_t *listener;           /* used by the listening thread only */
    pthread_t thread;
    bool started;                   /* thread is running */
    atomic_bool stop;
    pthread_mutex_t lock;           /* guards stats */
    listener_stats_t stats;         /* the listener's, copied after each read */
    uint64_t dropped;               /* commands the PAIR had no room for */
};

/* The listening thread: capture -> listener -> PAIR. */
static void *
s_listen(void *arg)
{
    mic_t *self = arg;
    pthread_setname_np(pthread_self(), "mic-listen");
    void *out = zmq_socket(self->ctx, ZMQ_PAIR);
    if (!out || zmq_connect(out, self->endpoint) != 0) {
        log_err("microphone: cannot connect %s: %s", self->endpoint, zmq_strerror(zmq_errno()));
        if (out)
            zmq_close(out);
        return NULL;
    }
    float *buf = xmallocarray(S_BLOCK, sizeof *buf);
    uint64_t opens = 0;
    while (!atomic_load(&self->stop)) {
        size_t n = audio_capture_read(self->capture, buf, S_BLOCK, S_READ_MS);
        audio_capture_stats_t cs;
        audio_capture_stats(self->capture, &cs);
        if (cs.opens != opens) {
            /* a reopened device is a new stream: no command spans the gap */
            opens = cs.opens;
            listener_reset(self->listener);
        }
        if (n == 0)
            continue;
        listener_utterance_t u[2];
        int k = listener_push(self->listener, buf, n, u, 2);
        if (k < 0) {
            log_err("microphone: %s", listener_error(self->listener));
            listener_reset(self->listener);
            continue;
        }
        uint64_t dropped = 0;
        for (int i = 0; i < k; i++)
            if (zmq_send(out, &u[i], sizeof u[i], ZMQ_DONTWAIT) < 0)
                dropped++;
        pthread_mutex_lock(&self->lock);
        listener_stats(self->listener, &self->stats);
        self->dropped += dropped;
        pthread_mutex_unlock(&self->lock);
    }
    free(buf);
    zmq_close(out);
    return NULL;
}

mic_t *
mic_new(void *ctx, const conf_t *cfg, char *err, size_t errlen)
{
    listener_config_t lc;
    listener_config_default(&lc);
    lc.wake_word = vocab_find(cfg->mic_wake_word);
    lc.require_wake = cfg->mic_require_wake;
    lc.gap_s = cfg->mic_gap_ms / 1000.0;
    lc.wake_timeout_s = cfg->mic_wake_timeout_ms / 1000.0;
    lc.max_command_s = cfg->mic_max_command_ms / 1000.0;
    lc.wake_min = cfg->mic_wake_min;   /* negative: the model's */
    if (!cfg->mic_device[0]) {
        snprintf(err, errlen, "no microphone configured");
        return NULL;
    }
    if (listener_config_check(&lc, err, errlen) != 0)
        return NULL;
    char buf[CONF_PATH_MAX], kerr[400];
    const char *path = cfg->kws_model[0] == '/' ? cfg->kws_model
                                                : shop_data_path(cfg->kws_model, buf, sizeof buf);
    if (!path) {
        snprintf(err, errlen, "microphone: keyword spotter %s not found", cfg->kws_model);
        return NULL;
    }
    kws_t *kws = kws_new(path, NULL, kerr, sizeof kerr);
    if (!kws) {
        snprintf(err, errlen, "microphone: keyword spotter %s: %s", path, kerr);
        return NULL;
    }
    mic_t *self = xcalloc(1, sizeof *self);
    pthread_mutex_init(&self->lock, NULL);
    atomic_init(&self->stop, false);
    self->ctx = ctx;
    shop_strlcpy(self->device, cfg->mic_device, sizeof self->device);
    shop_strlcpy(self->session, cfg->mic_session, sizeof self->session);
    shop_strlcpy(self->wake_word, vocab_name(lc.wake_word), sizeof self->wake_word);
    self->require_wake = lc.require_wake;
    snprintf(self->endpoint, sizeof self->endpoint, "inproc://shopd-mic-%p", (void *) self);
    self->listener = listener_new(&kws, NULL, &lc, err, errlen);
    if (!self->listener)
        goto fail;
    self->wake_min = listener_wake_min(self->listener, &self->wake_min_from);
    self->main_end = zmq_socket(ctx, ZMQ_PAIR);
    if (!self->main_end || zmq_bind(self->main_end, self->endpoint) != 0) {
        snprintf(err, errlen, "microphone: cannot bind %s: %s", self->endpoint,
                 zmq_strerror(zmq_errno()));
        goto fail;
    }
    audio_capture_config_t cc;
    audio_capture_config_default(&cc);
    cc.device = strcmp(self->device, "default") == 0 ? NULL : self->device;
    self->capture = audio_capture_new(&cc);
    if (!self->capture) {
        snprintf(err, errlen, "microphone: the capture thread did not start");
        goto fail;
    }
    int e = pthread_create(&self->thread, NULL, s_listen, self);
    if (e != 0) {
        snprintf(err, errlen, "microphone: cannot start the listening thread: %s", strerror(e));
        goto fail;
    }
    self->started = true;
    if (self->require_wake)
        log_notice("microphone: listening on '%s' for \"%s\"; commands go to session '%s'",
                   self->device, self->wake_word, self->session);
    else
        log_notice("microphone: listening on '%s' (push-to-talk: no wake word); commands go "
                   "to session '%s'", self->device, self->session);
    return self;
fail:
    kws_destroy(&kws);
    mic_destroy(&self);
    return NULL;
}

void
mic_destroy(mic_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mic_t *self = *self_p;
    atomic_store(&self->stop, true);
    if (self->started)
        pthread_join(self->thread, NULL);
    audio_capture_destroy(&self->capture);
    if (self->main_end)
        zmq_close(self->main_end);
    listener_destroy(&self->listener);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void *
mic_socket(mic_t *self)
{
    return self->main_end;
}

int
mic_recv(mic_t *self, listener_utterance_t *u)
{
    int n = zmq_recv(self->main_end, u, sizeof *u, ZMQ_DONTWAIT);
    if (n < 0) {
        if (zmq_errno() == EAGAIN)
            return 0;
        log_err("microphone: receive: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    /* only the listening thread writes this socket, one whole struct each */
    if ((size_t) n != sizeof *u) {
        log_err("microphone: a message of %d bytes instead of %zu", n, sizeof *u);
        return -1;
    }
    return 1;
}

const char *
mic_session(const mic_t *self)
{
    return self->session;
}

json_t *
mic_status_json(mic_t *self)
{
    audio_capture_stats_t cs;
    audio_capture_stats(self->capture, &cs);
    pthread_mutex_lock(&self->lock);
    listener_stats_t ls = self->stats;
    uint64_t dropped = self->dropped;
    pthread_mutex_unlock(&self->lock);
    const char *state = cs.state == AUDIO_CAPTURE_RUNNING ? "listening"
                                                          : audio_capture_state_name(cs.state);
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I,"
                     " s:I, s:I, s:s, s:s, s:b, s:f, s:s}",
                     "device", self->device, "device_name", cs.device, "state", state,
                     "error", cs.error, "opens", (json_int_t) cs.opens,
                     "failures", (json_int_t) cs.failures,
                     "overruns", (json_int_t) cs.overruns,
                     "samples_lost", (json_int_t) cs.samples_lost,
                     "audio_seconds", ls.audio_s, "detections", (json_int_t) ls.words,
                     "wakes", (json_int_t) ls.wakes, "ignored", (json_int_t) ls.ignored,
                     "timeouts", (json_int_t) ls.timeouts,
                     "commands", (json_int_t) ls.commands,
                     "understood", (json_int_t) ls.understood,
                     "dropped", (json_int_t) dropped, "session", self->session,
                     "wake_word", self->wake_word, "require_wake", self->require_wake,
                     "wake_min", self->wake_min, "wake_min_from", self->wake_min_from);
}
