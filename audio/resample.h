/* audio/resample.h: sample-rate conversion of mono float streams.
 *
 * A thin, bounded wrapper over libsamplerate's SRC_SINC_MEDIUM_QUALITY
 * converter (97 dB SNR, 90 % bandwidth), streaming so a microphone running
 * at 44.1 or 48 kHz can feed the 16 kHz front end, plus a one-shot helper for
 * whole files. Equal rates pass samples through unchanged. */
#ifndef SHOP_AUDIO_RESAMPLE_H
#define SHOP_AUDIO_RESAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RESAMPLE_MIN_RATE 1000
#define RESAMPLE_MAX_RATE 384000

typedef struct _resample_t resample_t;

/* Creates a converter from in_rate to out_rate (Hz, each within
 * RESAMPLE_MIN_RATE..RESAMPLE_MAX_RATE). Returns it (free with
 * resample_destroy) or NULL with a message in err (if non-NULL). */
resample_t *resample_new(int in_rate, int out_rate, char *err, size_t errlen);

/* Frees *self_p and sets it to NULL; safe on NULL and twice. */
void resample_destroy(resample_t **self_p);

/* Upper bound on the samples one resample_process call of n inputs writes
 * (also with end set). */
size_t resample_max_out(const resample_t *self, size_t n);

/* Converts n samples (all consumed) and writes the output produced so far to
 * out (caller owns it, room for max_out samples); end flushes the
 * converter's delay line at the end of the stream. Returns the number of
 * samples written, or -1 when max_out < resample_max_out(self, n) or
 * libsamplerate fails (reason logged). */
ssize_t resample_process(resample_t *self, const float *in, size_t n, float *out,
                         size_t max_out, bool end);

/* Forgets the stream's history: the next call starts a new stream. */
void resample_reset(resample_t *self);

/* One-shot: converts a whole buffer. Returns a new array of *n_out samples
 * (caller frees with free()) or NULL with *n_out = 0 and a message in err. */
float *resample_buffer(const float *in, size_t n, int in_rate, int out_rate, size_t *n_out,
                       char *err, size_t errlen);

#endif
