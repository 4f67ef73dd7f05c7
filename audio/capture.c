/* audio/capture.c: PortAudio capture thread with retry and resampling.
 *
 * The PortAudio callback runs on the audio driver's thread and must not
 * block: it only averages channels and copies into a ring whose two indices
 * are C11 atomics (one writer: the callback; one reader: the capture
 * thread). The capture thread owns every other PortAudio call, including
 * Pa_Initialize/Pa_Terminate around each attempt so a device plugged in
 * later is found by a fresh enumeration. */
#include "config.h"

#include "audio/capture.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <portaudio.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "audio/resample.h"
#include "common/log.h"
#include "common/util.h"

/* how often the capture thread moves samples and checks the device */
#define S_TICK_MS 10
/* seconds destroy waits for the capture thread */
#define S_JOIN_TIMEOUT_S 10
/* most channels read from a device that cannot give mono */
#define S_MAX_CHANNELS 8

/* Single-producer single-consumer ring of floats. head and tail count
 * samples written and read since the last reset; cap is a power of two. */
typedef struct {
    float *data;
    size_t cap;
    _Atomic size_t head;
    _Atomic size_t tail;
} s_ring_t;

struct _audio_capture_t {
    audio_capture_config_t cfg;   /* copy, with device pointing to device_name */
    char *device_name;            /* owned copy of cfg.device (or NULL) */
    pthread_t thread;             /* the capture thread */
    pthread_mutex_t lock;         /* guards out_*, stats, stop */
    pthread_cond_t cond;          /* signals new output and stop */
    bool stop;                    /* destroy asked the thread to finish */

    /* shared with the PortAudio callback (lock-free) */
    s_ring_t raw;                 /* device-rate mono samples */
    int channels;                 /* channels of the open stream */
    _Atomic uint64_t cb_overruns; /* callback found the ring full or the driver overflowed */
    _Atomic uint64_t cb_lost;     /* samples the callback dropped */
    _Atomic uint64_t cb_samples;  /* samples the callback received */

    /* output, 16 kHz, guarded by lock */
    float *out;                   /* circular buffer */
    size_t out_cap, out_start, out_len;

    audio_capture_stats_t stats;  /* guarded by lock */
};

void
audio_capture_config_default(audio_capture_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->device = NULL;
    cfg->device_rate = 0;
    cfg->buffer_s = 4.0;
    cfg->retry_min_s = 0.25;
    cfg->retry_max_s = 8.0;
    cfg->stall_s = 2.0;
}

/* ---- the ring ---------------------------------------------------------- */

static void
s_ring_init(s_ring_t *r, size_t min_cap)
{
    size_t cap = 1024;
    while (cap < min_cap)
        cap <<= 1;
    r->data = xmallocarray(cap, sizeof(float));
    r->cap = cap;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
}

/* producer side; returns samples written (fewer when full) */
static size_t
s_ring_write(s_ring_t *r, const float *x, size_t n)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t room = r->cap - (head - tail);
    if (n > room)
        n = room;
    for (size_t i = 0; i < n; i++)
        r->data[(head + i) & (r->cap - 1)] = x[i];
    atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}

/* consumer side; returns samples read */
static size_t
s_ring_read(s_ring_t *r, float *x, size_t max)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t n = head - tail;
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        x[i] = r->data[(tail + i) & (r->cap - 1)];
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}

/* ---- the PortAudio callback (driver thread: no locks, no allocation) ---- */

static int
s_callback(const void *input, void *output, unsigned long frames,
           const PaStreamCallbackTimeInfo *time_info, PaStreamCallbackFlags flags, void *user)
{
    audio_capture_t *self = user;
    if (flags & paInputOverflow)
        atomic_fetch_add_explicit(&self->cb_overruns, 1, memory_order_relaxed);
    if (!input)
        return paContinue;
    const float *in = input;
    int ch = self->channels;
    float mono[512];
    unsigned long done = 0;
    while (done < frames) {
        size_t n = SHOP_MIN((size_t) (frames - done), SHOP_ARRAY_LEN(mono));
        const float *src = in + done * (unsigned long) ch;
        for (size_t i = 0; i < n; i++) {
            float sum = 0.0f;
            for (int c = 0; c < ch; c++)
                sum += src[i * (size_t) ch + (size_t) c];
            mono[i] = sum / (float) ch;
        }
        size_t put = s_ring_write(&self->raw, mono, n);
        if (put < n) {
            atomic_fetch_add_explicit(&self->cb_overruns, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&self->cb_lost, n - put, memory_order_relaxed);
        }
        done += n;
    }
    atomic_fetch_add_explicit(&self->cb_samples, frames, memory_order_relaxed);
    return paContinue;
}

/* ---- device selection --------------------------------------------------- */

/* Returns the PortAudio index of the configured input device, or -1 with
 * the reason in why. */
static int
s_find_device(const char *want, char *why, size_t whylen)
{
    int count = Pa_GetDeviceCount();
    if (count < 0) {
        snprintf(why, whylen, "PortAudio cannot list devices: %s", Pa_GetErrorText(count));
        return -1;
    }
    if (!want || !*want) {
        int d = Pa_GetDefaultInputDevice();
        if (d == paNoDevice)
            snprintf(why, whylen, "there is no default input device");
        return d == paNoDevice ? -1 : d;
    }
    bool digits = true;
    for (const char *p = want; *p; p++)
        digits = digits && isdigit((unsigned char) *p);
    if (digits) {
        long i = strtol(want, NULL, 10);
        const PaDeviceInfo *info = i < count ? Pa_GetDeviceInfo((int) i) : NULL;
        if (!info || info->maxInputChannels < 1) {
            snprintf(why, whylen, "device %s is not an input device (%d devices)", want, count);
            return -1;
        }
        return (int) i;
    }
    int partial = -1;
    for (int i = 0; i < count; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (!info || !info->name || info->maxInputChannels < 1)
            continue;
        if (strcasecmp(info->name, want) == 0)
            return i;
        if (partial < 0 && strcasestr(info->name, want))
            partial = i;
    }
    if (partial < 0)
        snprintf(why, whylen, "no input device named like '%s' among %d devices", want, count);
    return partial;
}

/* Opens and starts the configured device. Returns the stream or NULL with
 * the reason in why; on success fills *rate and self->channels. */
static PaStream *
s_open(audio_capture_t *self, int *rate, char *name, size_t namelen, char *why, size_t whylen)
{
    int dev = s_find_device(self->cfg.device, why, whylen);
    if (dev < 0)
        return NULL;
    const PaDeviceInfo *info = Pa_GetDeviceInfo(dev);
    shop_strlcpy(name, info->name ? info->name : "?", namelen);
    PaStreamParameters p = {
        .device = dev,
        .channelCount = 1,
        .sampleFormat = paFloat32,
        .suggestedLatency = info->defaultLowInputLatency,
    };
    double want_rate = self->cfg.device_rate > 0 ? self->cfg.device_rate : AUDIO_CAPTURE_RATE;
    if (Pa_IsFormatSupported(&p, NULL, want_rate) != paFormatIsSupported) {
        /* some hardware only records in stereo */
        p.channelCount = SHOP_MIN(info->maxInputChannels, 2);
        if (Pa_IsFormatSupported(&p, NULL, want_rate) != paFormatIsSupported
            && self->cfg.device_rate == 0) {
            want_rate = info->defaultSampleRate;
            p.channelCount = 1;
            if (Pa_IsFormatSupported(&p, NULL, want_rate) != paFormatIsSupported)
                p.channelCount = SHOP_MIN(info->maxInputChannels, 2);
        }
    }
    if (want_rate < RESAMPLE_MIN_RATE || want_rate > RESAMPLE_MAX_RATE) {
        snprintf(why, whylen, "device '%s' runs at %.0f Hz", name, want_rate);
        return NULL;
    }
    self->channels = p.channelCount;
    PaStream *stream = NULL;
    PaError e = Pa_OpenStream(&stream, &p, NULL, want_rate, (unsigned long) (want_rate / 100),
                              paClipOff, s_callback, self);
    if (e != paNoError) {
        snprintf(why, whylen, "cannot open '%s' at %.0f Hz, %d channel(s): %s", name, want_rate,
                 p.channelCount, Pa_GetErrorText(e));
        return NULL;
    }
    e = Pa_StartStream(stream);
    if (e != paNoError) {
        snprintf(why, whylen, "cannot start '%s': %s", name, Pa_GetErrorText(e));
        Pa_CloseStream(stream);
        return NULL;
    }
    *rate = (int) want_rate;
    return stream;
}

/* ---- the capture thread ------------------------------------------------- */

/* Appends n 16 kHz samples to the output buffer; when it is full the new
 * samples are dropped and counted, as the callback's ring does, so what a
 * reader gets is always a gap-free run up to the first loss. */
static void
s_output(audio_capture_t *self, const float *x, size_t n)
{
    pthread_mutex_lock(&self->lock);
    size_t room = self->out_cap - self->out_len, put = SHOP_MIN(n, room);
    for (size_t i = 0; i < put; i++)
        self->out[(self->out_start + self->out_len + i) % self->out_cap] = x[i];
    self->out_len += put;
    if (put < n) {
        self->stats.overruns++;
        self->stats.samples_lost += n - put;
    }
    self->stats.samples_out += put;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->lock);
}

/* Sleeps up to seconds unless stop is asked; returns true when stopping. */
static bool
s_wait(audio_capture_t *self, double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double whole = floor(seconds);
    ts.tv_sec += (time_t) whole;
    ts.tv_nsec += (long) ((seconds - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&self->lock);
    while (!self->stop)
        if (pthread_cond_timedwait(&self->cond, &self->lock, &ts) == ETIMEDOUT)
            break;
    bool stop = self->stop;
    pthread_mutex_unlock(&self->lock);
    return stop;
}

static bool
s_stopping(audio_capture_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool stop = self->stop;
    pthread_mutex_unlock(&self->lock);
    return stop;
}

/* The open device is lost: one log line, the reason kept for stats. */
static void
s_lost(audio_capture_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_lost(audio_capture_t *self, const char *fmt, ...)
{
    char why[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    log_warn("capture: %s: reopening it", why);
    /* said now: closing a device that hangs can take until it moves again */
    pthread_mutex_lock(&self->lock);
    self->stats.state = AUDIO_CAPTURE_REOPENING;
    self->stats.running = false;
    shop_strlcpy(self->stats.error, why, sizeof self->stats.error);
    pthread_mutex_unlock(&self->lock);
}

/* Runs one opened stream until it fails or stop; returns true on stop. */
static bool
s_run_stream(audio_capture_t *self, PaStream *stream, int rate, const char *name)
{
    char err[160];
    resample_t *rs = resample_new(rate, AUDIO_CAPTURE_RATE, err, sizeof err);
    if (!rs) {
        log_err("capture: %s", err);
        return false;
    }
    float raw[4096];
    size_t out_cap = resample_max_out(rs, SHOP_ARRAY_LEN(raw)) + 4096;
    float *conv = xmallocarray(out_cap, sizeof(float));
    uint64_t last_samples = atomic_load(&self->cb_samples);
    uint64_t seen_cb_overruns = atomic_load(&self->cb_overruns), logged_overruns = 0;
    double last_audio = shop_now_s(), last_log = 0;
    bool stop = false;
    for (;;) {
        if (s_stopping(self)) {
            stop = true;
            break;
        }
        /* at most one ring's worth per tick, so a device that delivers
         * faster than real time cannot keep this loop from checking on it */
        size_t got, moved = 0;
        while (moved < self->raw.cap
               && (got = s_ring_read(&self->raw, raw, SHOP_ARRAY_LEN(raw))) > 0) {
            ssize_t k = resample_process(rs, raw, got, conv, out_cap, false);
            if (k > 0)
                s_output(self, conv, (size_t) k);
            moved += got;
        }
        double now = shop_now_s();
        uint64_t samples = atomic_load(&self->cb_samples);
        if (samples != last_samples) {
            last_samples = samples;
            last_audio = now;
        }
        uint64_t cb_overruns = atomic_load(&self->cb_overruns);
        pthread_mutex_lock(&self->lock);
        self->stats.running = true;
        self->stats.samples_lost += atomic_exchange(&self->cb_lost, 0);
        self->stats.overruns += cb_overruns - seen_cb_overruns;
        uint64_t overruns = self->stats.overruns, lost = self->stats.samples_lost;
        pthread_mutex_unlock(&self->lock);
        seen_cb_overruns = cb_overruns;
        if (overruns != logged_overruns && now - last_log >= 5.0) {
            log_warn("capture: '%s' overran: %" PRIu64 " overruns, %" PRIu64
                     " samples lost so far", name, overruns, lost);
            last_log = now;
            logged_overruns = overruns;
        }
        if (Pa_IsStreamActive(stream) != 1) {
            s_lost(self, "the stream of '%s' stopped", name);
            break;
        }
        if (now - last_audio > self->cfg.stall_s) {
            s_lost(self, "no audio from '%s' for %.1f s", name, now - last_audio);
            break;
        }
        struct timespec ts = { 0, S_TICK_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
    free(conv);
    resample_destroy(&rs);
    return stop;
}

static void *
s_thread(void *arg)
{
    audio_capture_t *self = arg;
    /* named for top -H and the CPU benchmark */
    pthread_setname_np(pthread_self(), "mic-capture");
    double delay = self->cfg.retry_min_s;
    /* the current outage has its log line (one per state change) */
    bool outage_logged = false;
    for (;;) {
        if (s_stopping(self))
            break;
        char why[256] = "", name[128] = "";
        int rate = 0;
        PaStream *stream = NULL;
        PaError e = Pa_Initialize();
        if (e != paNoError)
            snprintf(why, sizeof why, "PortAudio: %s", Pa_GetErrorText(e));
        else
            stream = s_open(self, &rate, name, sizeof name, why, sizeof why);
        bool stop = false;
        if (stream) {
            log_info("capture: recording from '%s' at %d Hz, %d channel(s)", name, rate,
                     self->channels);
            outage_logged = false;
            pthread_mutex_lock(&self->lock);
            self->stats.state = AUDIO_CAPTURE_RUNNING;
            self->stats.opens++;
            shop_strlcpy(self->stats.device, name, sizeof self->stats.device);
            self->stats.device_rate = rate;
            self->stats.device_channels = self->channels;
            pthread_mutex_unlock(&self->lock);
            double opened = shop_now_s();
            stop = s_run_stream(self, stream, rate, name);
            /* Abort, not Stop: a device that hangs must not hang us */
            Pa_AbortStream(stream);
            Pa_CloseStream(stream);
            /* the callback is gone: the ring can be reset by this thread */
            atomic_store(&self->raw.head, 0);
            atomic_store(&self->raw.tail, 0);
            pthread_mutex_lock(&self->lock);
            self->stats.state = AUDIO_CAPTURE_REOPENING;
            self->stats.running = false;
            self->stats.device[0] = 0;
            self->stats.device_rate = 0;
            self->stats.device_channels = 0;
            if (!stop)
                self->stats.failures++;
            pthread_mutex_unlock(&self->lock);
            outage_logged = !stop;
            /* a device that worked for a while starts the back-off afresh */
            if (shop_now_s() - opened > 10 * self->cfg.retry_max_s)
                delay = self->cfg.retry_min_s;
        } else {
            pthread_mutex_lock(&self->lock);
            self->stats.failures++;
            shop_strlcpy(self->stats.error, why, sizeof self->stats.error);
            pthread_mutex_unlock(&self->lock);
            if (outage_logged) {
                log_debug("capture: %s; retrying in %.2f s", why, delay);
            } else {
                log_warn("capture: %s; retrying with back-off (%.2f s, up to %.2f s)", why,
                         delay, self->cfg.retry_max_s);
                outage_logged = true;
            }
        }
        if (e == paNoError)
            Pa_Terminate();
        if (stop || s_wait(self, delay))
            break;
        delay = SHOP_MIN(delay * 2, self->cfg.retry_max_s);
    }
    return NULL;
}

/* ---- public API ---------------------------------------------------------- */

audio_capture_t *
audio_capture_new(const audio_capture_config_t *cfg)
{
    audio_capture_config_t def;
    if (!cfg) {
        audio_capture_config_default(&def);
        cfg = &def;
    }
    if (!(cfg->buffer_s >= 0.1 && cfg->buffer_s <= 600) || !(cfg->retry_min_s > 0)
        || !(cfg->retry_max_s >= cfg->retry_min_s) || !(cfg->stall_s > 0)
        || (cfg->device_rate != 0
            && (cfg->device_rate < RESAMPLE_MIN_RATE || cfg->device_rate > RESAMPLE_MAX_RATE))) {
        log_err("capture: invalid configuration (buffer_s 0.1..600, 0 < retry_min_s <= "
                "retry_max_s, stall_s > 0, device_rate 0 or %d..%d)", RESAMPLE_MIN_RATE,
                RESAMPLE_MAX_RATE);
        return NULL;
    }
    audio_capture_t *self = xcalloc(1, sizeof *self);
    self->cfg = *cfg;
    self->device_name = cfg->device ? xstrdup(cfg->device) : NULL;
    self->cfg.device = self->device_name;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->cond, NULL);
    /* sized for devices up to 96 kHz; faster ones get a shorter ring */
    s_ring_init(&self->raw, (size_t) (cfg->buffer_s * 96000));
    self->out_cap = (size_t) (cfg->buffer_s * AUDIO_CAPTURE_RATE);
    self->out = xmallocarray(self->out_cap, sizeof(float));
    int e = pthread_create(&self->thread, NULL, s_thread, self);
    if (e != 0) {
        log_err("capture: cannot start the capture thread: %s", strerror(e));
        pthread_mutex_destroy(&self->lock);
        pthread_cond_destroy(&self->cond);
        free(self->raw.data);
        free(self->out);
        free(self->device_name);
        free(self);
        return NULL;
    }
    return self;
}

void
audio_capture_destroy(audio_capture_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    audio_capture_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->lock);
    /* A driver can block inside PortAudio (closing a stream waits for its
     * thread); then the capture thread and this object are left behind
     * rather than hanging the caller or freeing memory still in use. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += S_JOIN_TIMEOUT_S;
    if (pthread_timedjoin_np(self->thread, NULL, &ts) != 0) {
        log_err("capture: the audio driver does not return; leaving its thread behind");
        pthread_detach(self->thread);
        *self_p = NULL;
        return;
    }
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->cond);
    free(self->raw.data);
    free(self->out);
    free(self->device_name);
    free(self);
    *self_p = NULL;
}

size_t
audio_capture_read(audio_capture_t *self, float *out, size_t max, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (timeout_ms > 0) {
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&self->lock);
    while (self->out_len == 0 && !self->stop && timeout_ms != 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&self->cond, &self->lock);
        else if (pthread_cond_timedwait(&self->cond, &self->lock, &ts) == ETIMEDOUT)
            break;
    }
    size_t n = SHOP_MIN(max, self->out_len);
    for (size_t i = 0; i < n; i++)
        out[i] = self->out[(self->out_start + i) % self->out_cap];
    self->out_start = (self->out_start + n) % self->out_cap;
    self->out_len -= n;
    pthread_mutex_unlock(&self->lock);
    return n;
}

void
audio_capture_flush(audio_capture_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->out_start = 0;
    self->out_len = 0;
    pthread_mutex_unlock(&self->lock);
}

void
audio_capture_stats(audio_capture_t *self, audio_capture_stats_t *stats)
{
    pthread_mutex_lock(&self->lock);
    *stats = self->stats;
    pthread_mutex_unlock(&self->lock);
}

const char *
audio_capture_state_name(audio_capture_state_t state)
{
    switch (state) {
    case AUDIO_CAPTURE_OPENING: return "opening";
    case AUDIO_CAPTURE_RUNNING: return "running";
    case AUDIO_CAPTURE_REOPENING: return "reopening";
    }
    return "?";
}
