/* tests/audio_io_bench.c: speed of the audio input path (make bench-audio-io).
 *
 * Real-time factors (CPU seconds per second of audio, on one thread) of the
 * streaming log-mel front end fed 10 ms at a time, of 48 -> 16 kHz
 * resampling, and of decoding a WAV and a FLAC file from memory, plus the
 * time to match a spoken command against the shipped grammar. Prints one
 * JSON object. The audio is 60 s of coloured noise (the front end does the
 * same work whatever the signal). */
#include "config.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio/features.h"
#include "audio/intent.h"
#include "audio/resample.h"
#include "audio/source.h"
#include "audio/vocab.h"
#include "common/util.h"

static double
s_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *
s_noise(size_t n)
{
    float *x = xmallocarray(n, sizeof(float));
    unsigned s = 1;
    float prev = 0;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float w = (float) ((s >> 8) / 8388608.0 - 1.0);
        prev = 0.9f * prev + 0.1f * w; /* a little colour */
        x[i] = 0.5f * prev + 0.05f * w;
    }
    return x;
}

/* writes x (n samples at rate) as a 16-bit file of the given format in
 * memory through a temporary file; returns the bytes (caller frees) */
static uint8_t *
s_encode(const float *x, size_t n, int rate, int format, size_t *len)
{
    char path[] = "/tmp/shop-audio-bench-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    SF_INFO info = { .samplerate = rate, .channels = 1, .format = format };
    SNDFILE *sf = sf_open_fd(fd, SFM_WRITE, &info, 1);
    if (!sf) {
        unlink(path);
        return NULL;
    }
    sf_write_float(sf, x, (sf_count_t) n);
    sf_close(sf);
    char err[256];
    uint8_t *b = shop_read_file(path, 1u << 28, len, err, sizeof err);
    unlink(path);
    return b;
}

int
main(void)
{
    const double seconds = 60.0;
    const size_t n16 = (size_t) (seconds * 16000);
    float *x = s_noise(n16 * 3);

    /* streaming log-mel, 160 samples (10 ms) per push */
    features_t *f = features_new(NULL);
    float frames[40 * 4];
    double t0 = s_cpu();
    size_t nf = 0;
    for (size_t at = 0; at + 160 <= n16; at += 160)
        nf += (size_t) features_push(f, x + at, 160, frames, 4);
    double feat_cpu = s_cpu() - t0;
    features_destroy(&f);

    /* 48 kHz -> 16 kHz, 10 ms blocks */
    char err[256];
    resample_t *r = resample_new(48000, 16000, err, sizeof err);
    float out[1024];
    t0 = s_cpu();
    for (size_t at = 0; at + 480 <= n16 * 3; at += 480)
        resample_process(r, x + at, 480, out, sizeof out / sizeof out[0], false);
    double rs_cpu = s_cpu() - t0;
    resample_destroy(&r);

    /* decoding from memory, 22.05 kHz (resampled) */
    const size_t n22 = (size_t) (seconds * 22050);
    size_t wav_len = 0, flac_len = 0, n = 0;
    uint8_t *wav = s_encode(x, n22, 22050, SF_FORMAT_WAV | SF_FORMAT_PCM_16, &wav_len);
    uint8_t *flac = s_encode(x, n22, 22050, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, &flac_len);
    audio_source_limits_t lim;
    audio_source_limits_default(&lim);
    lim.max_seconds = seconds + 1;
    float *pcm = NULL;
    t0 = s_cpu();
    int rc1 = audio_source_decode_mem(wav, wav_len, &lim, &pcm, &n, err, sizeof err);
    double wav_cpu = s_cpu() - t0;
    free(pcm);
    t0 = s_cpu();
    int rc2 = audio_source_decode_mem(flac, flac_len, &lim, &pcm, &n, err, sizeof err);
    double flac_cpu = s_cpu() - t0;
    free(pcm);
    if (rc1 || rc2) {
        fprintf(stderr, "bench: decoding failed: %s\n", err);
        return 1;
    }

    /* intent matching of "shopwise add two sneakers to cart" */
    intent_t *g = intent_new_from_file(NULL, NULL, err, sizeof err);
    if (!g) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    int words[] = { VOCAB_WAKE, VOCAB_ADD, VOCAB_TWO, VOCAB_SNEAKERS, VOCAB_CART };
    float conf[] = { 0.9f, 0.9f, 0.8f, 0.9f, 0.7f };
    intent_result_t res;
    const int reps = 20000;
    t0 = s_cpu();
    for (int i = 0; i < reps; i++)
        intent_match(g, words, conf, 5, &res, err, sizeof err);
    double intent_us = (s_cpu() - t0) / reps * 1e6;
    intent_destroy(&g);

    printf("{\"audio_seconds\": %.0f, \"features_frames\": %zu,"
           " \"features_rtf\": %.6f, \"features_us_per_frame\": %.3f,"
           " \"resample_48k_to_16k_rtf\": %.6f,"
           " \"decode_wav_22k_rtf\": %.6f, \"decode_flac_22k_rtf\": %.6f,"
           " \"intent_match_us\": %.2f}\n",
           seconds, nf, feat_cpu / seconds, feat_cpu / (double) nf * 1e6, rs_cpu / (seconds),
           wav_cpu / seconds, flac_cpu / seconds, intent_us);
    free(wav);
    free(flac);
    free(x);
    return 0;
}
