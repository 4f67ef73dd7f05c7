/* audio/source.h: audio files (bytes or a path) to 16 kHz mono float PCM.
 *
 * Decodes anything libsndfile reads (WAV, FLAC, OGG/Vorbis, AIFF, AU, CAF,
 * ...) through its virtual I/O, averages the channels to mono and resamples
 * to limits.out_rate with audio/resample (libsamplerate). Input
 * comes from users and the network: every failure is an error with a
 * message, never a crash, and sizes are bounded before memory is taken.
 * Samples are floats in [-1, 1] (louder float files are clipped). */
#ifndef SHOP_AUDIO_SOURCE_H
#define SHOP_AUDIO_SOURCE_H

#include <stddef.h>

/* Bounds on what is accepted. */
typedef struct {
    double max_seconds;  /* longest accepted duration; 30 */
    size_t max_bytes;    /* largest accepted encoded input; 64 MiB */
    int max_channels;    /* most channels accepted; 16 */
    int out_rate;        /* output sample rate, Hz; 16000 */
} audio_source_limits_t;

/* What the input was, before conversion. */
typedef struct {
    int rate;            /* its sample rate, Hz */
    int channels;        /* its channel count */
    double seconds;      /* its duration */
    char format[64];     /* libsndfile's name for the container, e.g. "WAV (Microsoft)" */
} audio_source_info_t;

/* Fills limits with the defaults above. */
void audio_source_limits_default(audio_source_limits_t *limits);

/* Decodes len bytes of an audio file held in memory (the caller keeps them).
 * limits may be NULL for the defaults. On success returns 0 with *pcm a new
 * array of *n mono samples at limits->out_rate (caller frees with free()).
 * Returns -1 with *pcm = NULL, *n = 0 and a message in err (if non-NULL)
 * for empty, truncated, over-long, non-audio or otherwise broken input. */
int audio_source_decode_mem(const void *bytes, size_t len, const audio_source_limits_t *limits,
                            float **pcm, size_t *n, char *err, size_t errlen);

/* As audio_source_decode_mem, and also describes the input in *info when
 * info is non-NULL. */
int audio_source_decode_mem_info(const void *bytes, size_t len,
                                 const audio_source_limits_t *limits, float **pcm, size_t *n,
                                 audio_source_info_t *info, char *err, size_t errlen);

/* Reads the file at path (at most limits->max_bytes) and decodes it as
 * audio_source_decode_mem_info does (info may be NULL). Same returns. */
int audio_source_decode_file(const char *path, const audio_source_limits_t *limits,
                             float **pcm, size_t *n, audio_source_info_t *info, char *err,
                             size_t errlen);

#endif
