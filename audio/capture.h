/* audio/capture.h: the microphone, through PortAudio, as 16 kHz mono floats.
 *
 * audio_capture_new starts a capture thread that owns PortAudio: it opens
 * the configured device (16 kHz mono if the device takes it, else its own
 * rate, converted with audio/resample), and when the device cannot be
 * opened, stops delivering (no audio for stall_s) or its stream ends, it
 * closes it and tries again after an exponentially growing pause
 * (retry_min_s doubling up to retry_max_s). The caller never sees those
 * failures except in the statistics and the log: reads just wait.
 *
 * Path of a sample: PortAudio's callback -> lock-free single-producer /
 * single-consumer ring (device rate) -> capture thread (resampling) ->
 * output buffer (16 kHz) -> audio_capture_read. When a reader falls behind
 * by more than buffer_s, new samples are dropped (never ones already
 * queued), counted as overruns and logged (at most every 5 s).
 *
 * The log gets one line per change of state (recording, lost, cannot open),
 * not one per retry: retries are logged at debug level. */
#ifndef SHOP_AUDIO_CAPTURE_H
#define SHOP_AUDIO_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AUDIO_CAPTURE_RATE 16000  /* rate of every sample audio_capture_read returns */

typedef struct _audio_capture_t audio_capture_t;

typedef struct {
    const char *device;   /* NULL or "": the default input; all digits: a PortAudio
                           * device index; else a case-insensitive substring of the
                           * device name (an exact name wins); copied by _new */
    int device_rate;      /* 0: 16 kHz when supported, else the device's default
                           * rate; > 0: capture at exactly this rate */
    double buffer_s;      /* seconds each ring holds; 4 */
    double retry_min_s;   /* first pause after a failure; 0.25 */
    double retry_max_s;   /* longest pause; 8 */
    double stall_s;       /* no audio for this long means the device is lost; 2 */
} audio_capture_config_t;

/* Where the capture thread is. */
typedef enum {
    AUDIO_CAPTURE_OPENING = 0,    /* no device opened yet (retrying with back-off) */
    AUDIO_CAPTURE_RUNNING,        /* a device is open and delivering */
    AUDIO_CAPTURE_REOPENING,      /* the device was lost (stalled, stream ended,
                                   * unplugged); retrying with back-off */
} audio_capture_state_t;

typedef struct {
    audio_capture_state_t state;
    char error[192];              /* why the last attempt failed or the device was
                                   * lost ("" before any failure) */
    bool running;                 /* a device is open and delivering */
    char device[128];             /* name of the device in use ("" when none) */
    int device_rate;              /* its sample rate, Hz (0 when none) */
    int device_channels;          /* channels read from it (averaged to mono) */
    uint64_t opens;               /* successful opens */
    uint64_t failures;            /* failed opens, stalls and lost streams */
    uint64_t overruns;            /* events that lost samples (full ring, driver overflow) */
    uint64_t samples_lost;        /* samples lost to full rings, at the rate they were lost */
    uint64_t samples_out;         /* 16 kHz samples made available to readers */
} audio_capture_stats_t;

/* Fills cfg with the defaults above. */
void audio_capture_config_default(audio_capture_config_t *cfg);

/* Starts capturing as cfg says (NULL: defaults). Returns the object (free
 * with audio_capture_destroy) or NULL when cfg is invalid or the thread
 * cannot start (reason logged). A missing device is NOT an error here: the
 * capture thread keeps trying. */
audio_capture_t *audio_capture_new(const audio_capture_config_t *cfg);

/* Stops the thread, closes the device and frees *self_p; sets it to NULL.
 * Safe on NULL and twice; not while another thread is inside
 * audio_capture_read on the same object. Returns within about 100 ms plus PortAudio's
 * close time; if the driver keeps PortAudio blocked for more than 10 s, the
 * thread and the object are abandoned (logged) instead of hanging. */
void audio_capture_destroy(audio_capture_t **self_p);

/* Waits up to timeout_ms (0: do not wait, < 0: without limit) until
 * samples are available, then copies up to max of them (16 kHz mono, in
 * [-1, 1], oldest first) to out (caller owns it). Returns the number
 * copied, 0 on timeout. Call from one thread at a time. */
size_t audio_capture_read(audio_capture_t *self, float *out, size_t max, int timeout_ms);

/* Discards every sample not yet read (e.g. after the daemon spoke). */
void audio_capture_flush(audio_capture_t *self);

/* Copies the current statistics into *stats. */
void audio_capture_stats(audio_capture_t *self, audio_capture_stats_t *stats);

/* "opening", "running" or "reopening". */
const char *audio_capture_state_name(audio_capture_state_t state);

#endif
