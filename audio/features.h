/* audio/features.h: log-mel spectrogram front end, computed as a stream.
 *
 * The one place in shopd that calls FFTW. Input is mono float PCM at
 * cfg.sample_rate (16 kHz by default) scaled to [-1, 1]. Output is one frame
 * of cfg.n_mels log-mel energies every cfg.hop_length samples.
 *
 * Definition (exact, so a model trained offline sees the same numbers live):
 *   frame t covers samples [t*hop, t*hop + win) of the stream; there is no
 *   centring or padding, so n samples give 0 frames if n < win, else
 *   1 + (n - win) / hop frames.
 *   x_t[i] = pcm[t*hop + i] * w[i], w[i] = 0.5 - 0.5*cos(2*pi*i/win)
 *            (periodic Hann), zero-padded to n_fft;
 *   P[k]  = |DFT(x_t)[k]|^2 for k = 0 .. n_fft/2 (power, no normalisation);
 *   M[m]  = sum_k H[m][k] * P[k], H = triangular filters of unit peak whose
 *           edges are n_mels + 2 points equally spaced on the mel scale
 *           between fmin and fmax, evaluated at bin frequencies k*sr/n_fft;
 *           mel scale HTK (2595*log10(1 + f/700)) or Slaney (linear below
 *           1 kHz, logarithmic above; librosa's htk=False) per cfg.mel_scale;
 *   out[m] = ln(max(M[m], log_floor)).
 * The framing is Kaldi's (window at the start of the frame, zeros after
 * it). librosa.feature.melspectrogram(center=False, power=2, norm=None,
 * htk=True) gives the same values for a frame starting (n_fft - win) / 2 =
 * 56 samples later, since it centres the window in an n_fft-sample frame.
 *
 * Threads: a features_t is used by one thread at a time; different objects
 * may run in different threads (FFTW plans are made once per n_fft, under a
 * mutex, and shared). */
#ifndef SHOP_AUDIO_FEATURES_H
#define SHOP_AUDIO_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define FEATURES_MAX_FFT 8192
#define FEATURES_MAX_MELS 256

typedef enum {
    FEATURES_MEL_HTK = 0,    /* 2595 * log10(1 + f / 700) */
    FEATURES_MEL_SLANEY = 1, /* Slaney's Auditory Toolbox (librosa default) */
} features_mel_scale_t;

/* Everything that determines the numbers. Plain ints and floats so a model
 * file can store it and a loader can compare it with features_config_equal. */
typedef struct {
    int sample_rate;      /* Hz; 16000 */
    int win_length;       /* samples per analysis window; 400 (25 ms) */
    int hop_length;       /* samples between frame starts; 160 (10 ms) */
    int n_fft;            /* FFT size, >= win_length; 512 */
    int n_mels;           /* mel bands; 40 */
    float fmin;           /* lowest filter edge, Hz; 20 */
    float fmax;           /* highest filter edge, Hz, <= sample_rate/2; 8000 */
    float log_floor;      /* power floor before ln; 1e-6 (ln = -13.8) */
    int mel_scale;        /* a features_mel_scale_t; FEATURES_MEL_HTK */
} features_config_t;

typedef struct _features_t features_t;

/* Fills cfg with the defaults listed above. */
void features_config_default(features_config_t *cfg);

/* Returns 0 if cfg is usable, else -1 with a message in err (if non-NULL). */
int features_config_check(const features_config_t *cfg, char *err, size_t errlen);

/* Returns true when a and b give the same features (floats compared exactly). */
bool features_config_equal(const features_config_t *a, const features_config_t *b);

/* Number of frames n samples of a fresh stream give (see the definition). */
size_t features_frames_for_samples(const features_config_t *cfg, size_t n);

/* Creates a streaming extractor for cfg (copied; NULL means the defaults).
 * Returns the object (free with features_destroy) or NULL if cfg is invalid
 * (the reason is logged) or FFTW cannot plan. */
features_t *features_new(const features_config_t *cfg);

/* Frees *self_p and sets it to NULL; safe on NULL and twice. */
void features_destroy(features_t **self_p);

/* The configuration in use (owned by self). */
const features_config_t *features_config(const features_t *self);

/* Number of frames that pushing n more samples would emit now. */
size_t features_frames_pending(const features_t *self, size_t n);

/* Appends n samples to the stream and writes every frame that becomes
 * complete, each exactly once, to frames_out (row-major: frame f, band m at
 * frames_out[f * n_mels + m]; caller owns it). Samples that do not yet
 * complete a frame are kept for the next call, so any chunking of the same
 * stream gives bit-identical frames. Returns the number of frames written,
 * or -1 without consuming anything when max_frames is smaller than
 * features_frames_pending(self, n). */
ssize_t features_push(features_t *self, const float *pcm, size_t n,
                      float *frames_out, size_t max_frames);

/* Forgets buffered samples: the next push starts a new stream. */
void features_reset(features_t *self);

/* One-shot helper: log-mel of a whole buffer as a fresh stream. On success
 * returns 0 with *frames_out a new array of *n_frames * n_mels floats (caller
 * frees with free(); NULL when n < win_length, *n_frames = 0). Returns -1
 * (reason logged) on an invalid cfg; NULL cfg means the defaults. */
int features_compute(const features_config_t *cfg, const float *pcm, size_t n,
                     float **frames_out, size_t *n_frames);

#endif
