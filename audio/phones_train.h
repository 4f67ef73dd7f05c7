/* audio/phones_train.h: training the phone model of the keyword spotter
 * (the work of `shop-train audio-phones`): a CNN that keeps time gives
 * per-frame phone logits (20 ms frames) over 1.6 s of log-mel frames,
 * trained with CTC (audio/ctc.h) on the synthetic corpus's clips and real
 * speakers' recordings, each labelled with the phones espeak-ng gives its
 * known text; then the per-word thresholds of the word spotter
 * (audio/phones.h) are calibrated on data that is never measured. */
#ifndef SHOP_AUDIO_PHONES_TRAIN_H
#define SHOP_AUDIO_PHONES_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PHONES_TRAIN_FRAMES 160       /* model input: 1.6 s of 10 ms frames */

typedef struct {
    const char *corpus_dir;   /* synthetic corpus (comma-separated list), or NULL */
    const char *real_dir;     /* real speech (audio/realdata.h), or NULL */
    const char *out;          /* model file written */
    const char *init;         /* non-NULL: go on from this phone model */
    const char *calibrate;    /* non-NULL: only new thresholds for this phone model */
    int epochs, copies;       /* noisy copies of every synthetic clip */
    int real_copies;          /* ... of every Speech Commands recording */
    int fsdd_copies;          /* ... of every FSDD recording */
    int channels, batch, threads;
    int limit;                /* > 0: at most this many synthetic clips */
    int stride;               /* frames between CNN runs in the detector (even) */
    int lookahead;            /* input frames right of the committed ones (even) */
    float lr, fa_rate, thr_min;
    uint64_t seed;
} phones_train_opts_t;

/* True for the real training-side speakers whose recordings calibrate
 * thresholds and choose the epoch instead of training: FNV-1a-64 of the
 * speaker id is 1 modulo 8 (never a validation speaker, 0 modulo 4). */
bool phones_speaker_is_calibration(const char *speaker);

/* Trains and writes opts->out. Returns 0, or -1 with a message in err. */
int phones_train_run(const phones_train_opts_t *opts, char *err, size_t errlen);

/* Phone error rate of a phone model (greedy CTC decoding against espeak-ng's
 * phones of the word said) on the real validation speakers' recordings in
 * real_dir, each clip alone in the model's window (the rest filled with
 * white noise at its quietest frame's level), per Speech Commands class and
 * overall (Speech Commands, FSDD). Prints one JSON object on stdout.
 * Returns 0 or -1 with a message in err. */
int phones_eval_run(const char *model, const char *real_dir, char *err, size_t errlen);

#endif
