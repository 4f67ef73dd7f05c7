/* tests/vmic.h: virtual microphones for the tests that capture through
 * real PortAudio (audio_io_capture_test, daemon_mic_test).
 *
 * A virtual microphone is ALSA's `file` plugin reading a named pipe behind
 * a `plug` that fixes the format. The plugin's `null` slave has no clock,
 * so a feeder thread writes 10 ms of audio into the pipe every 10 ms and
 * the device's reads wait on it, which paces it in real time. The devices
 * are the whole ALSA configuration the process gets (ALSA_CONFIG_PATH):
 * PortAudio then probes no other plugin, so enumeration is quick, and none
 * is loaded and unloaded at each retry (the JACK, PulseAudio and A52
 * plugins' libraries leak a few bytes at every load, which LeakSanitizer
 * reports). Failures are cmocka failures: include cmocka.h first. */
#ifndef SHOP_TESTS_VMIC_H
#define SHOP_TESTS_VMIC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One device of the configuration. */
typedef struct {
    const char *name;      /* PCM name, e.g. "vmic16" */
    const char *infile;    /* what the file plugin reads: a pipe or a file */
    const char *format;    /* e.g. "rate 16000; channels 1" (S16_LE samples) */
} vmic_device_t;

/* Writes the ALSA configuration of the n devices to path, with the null
 * "default" device PortAudio's ALSA back end needs in its list (it asserts
 * without one). Point ALSA_CONFIG_PATH at path before PortAudio starts. */
void vmic_write_config(const char *path, const vmic_device_t *devs, size_t n);

/* A feeder: `chunk` bytes every 10 ms from the clip being played, silence
 * when none is. */
typedef struct {
    char fifo[512];
    size_t chunk;             /* bytes per 10 ms */
    pthread_mutex_t lock;     /* guards clip, clip_len, at */
    const uint8_t *clip;      /* borrowed; NULL: silence */
    size_t clip_len, at;
    atomic_bool quit;
    atomic_bool hold;         /* write nothing while set: the device stalls */
    atomic_bool go;           /* start writing (e.g. once the device is open) */
    pthread_t thread;
} vmic_feeder_t;

/* Makes the pipe fifo (replacing a file of that name) and starts the
 * feeder on it, which opens the pipe at once (so a probe never blocks on
 * a pipe without a writer) and writes once f->go is set (go: now). */
void vmic_feeder_start(vmic_feeder_t *f, const char *fifo, size_t chunk, bool go);

/* Plays len bytes of clip (borrowed until played or replaced), from its
 * start; then silence. */
void vmic_feeder_play(vmic_feeder_t *f, const void *clip, size_t len);

/* The device disappears: removes the pipe while the feeder still holds it
 * (a probe must never open a pipe with no writer: it would block), then
 * stops the feeder, which closes it. */
void vmic_feeder_stop(vmic_feeder_t *f);

#endif
