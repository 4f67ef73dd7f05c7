/* audio/corpus.h: the synthetic speech corpus for the keyword spotter.
 *
 * Three parts:
 * - the generator (corpus_generate, behind `shop-train audio-corpus`) drives
 *   the speech synthesisers espeak-ng, flite and festival with many voices,
 *   speeds and pitches, and stores clean 16 kHz clips with the time at which
 *   each vocabulary word ends;
 * - the store (corpus_open) reads that corpus back;
 * - the mixer (corpus_mixer_*) makes the noisy, reverberant versions the
 *   model trains and is evaluated on: coloured noise, hum, synthetic music,
 *   babble made of many synthetic voices, a fan noise kept for testing, room
 *   reverberation, and SNR measured between the loudest frames of speech and
 *   noise (Picovoice's benchmark method).
 *
 * Voices are split once and for all: every voice (synthesiser + voice name
 * + variant) belongs either to the training split or to the test split, and
 * the test voices are never synthesised for training (see docs/speech.md).
 *
 * On disk (DIR given to the generator):
 *   clips.pcm  16-bit little-endian mono PCM at 16 kHz, clips end to end;
 *   clips.tsv  one line per clip: split, engine, voice, kind, first sample,
 *              sample count, word ends ("id@sample,id@sample" or "-"), text.
 */
#ifndef SHOP_AUDIO_CORPUS_H
#define SHOP_AUDIO_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CORPUS_RATE 16000
#define CORPUS_MAX_MARKS 8
#define CORPUS_MAX_TEXT 160

typedef enum { CORPUS_TRAIN = 0, CORPUS_TEST = 1 } corpus_split_t;

typedef enum {
    CORPUS_KIND_COMMAND = 0,  /* vocabulary words, alone or in a command sentence */
    CORPUS_KIND_UNKNOWN = 1,  /* speech without vocabulary words */
} corpus_kind_t;

/* Where a vocabulary word ends inside a clip. */
typedef struct {
    int word;                 /* a vocab_word_t */
    int end;                  /* sample index just after the word */
} corpus_mark_t;

/* One clean clip (read-only view owned by the corpus). */
typedef struct {
    corpus_split_t split;
    corpus_kind_t kind;
    char engine[16];          /* "espeak-ng", "flite", "festival" */
    char voice[48];           /* e.g. "en-gb-scotland+f3" */
    char text[CORPUS_MAX_TEXT];
    int n_marks;
    corpus_mark_t marks[CORPUS_MAX_MARKS];  /* in time order */
    int onset;                /* first sample of speech */
    size_t offset;            /* first sample in clips.pcm */
    int n;                    /* samples */
} corpus_clip_t;

/* ------------------------------------------------------------ generator */

typedef struct {
    const char *out_dir;      /* created if missing; clips.* replaced */
    uint64_t seed;            /* same seed, same texts, voices and settings */
    double scale;             /* multiplies every count below; default 1 */
    int limit;                /* > 0: stop after this many utterances of the
                               * (seeded, shuffled) plan: a prefix of the full corpus */
    int from;                 /* > 0: start at this utterance of the plan and append
                               * to the corpus in out_dir, which must hold exactly
                               * the utterances before it (continues a --limit run) */
    bool extra;               /* the extra plan instead: training utterances of the
                               * extra voices only (new flite and festival speakers
                               * made by their parameters, festival's non-English
                               * voices), for a second corpus read with the first */
    bool confusables;         /* the confusables plan instead: training utterances of
                               * the main plan's training voices saying the words of
                               * the real recordings that are not vocabulary words
                               * (up, off, left, ...), alone or two or three in a row */
    bool verbose;             /* progress on stderr */
} corpus_gen_opts_t;

/* Synthesises the corpus into opts->out_dir (needs espeak-ng, flite and
 * festival on PATH; voices that are not installed are skipped with a
 * warning). Returns 0, or -1 with a message in err. */
int corpus_generate(const corpus_gen_opts_t *opts, char *err, size_t errlen);

/* True when voice (engine + name) is one of the held-out test voices. */
bool corpus_voice_is_test(const char *engine, const char *voice);

/* True when a training-split voice belongs to the validation voices: a
 * fixed tenth of the training espeak-ng voices (by a hash of engine and
 * name) and two of the extra festival voices (pc_diphone, an unseen
 * diphone voice, and the HTS variant cmu_us_slt_arctic_hts-a37f65), which
 * training never sees and which choose epochs, thresholds and designs.
 * False for test voices. */
bool corpus_voice_is_validation(const char *engine, const char *voice);

/* True when voice is named in list, comma-separated (NULL: none): an entry
 * names a voice and the speakers made from it ("awb" is also
 * "awb-f85s10"). For leaving voices out of training (--skip-voices) or
 * holding them out as extra validation voices (--holdout). */
bool corpus_voice_listed(const char *list, const char *voice);

/* ------------------------------------------------------------ store */

typedef struct _corpus_t corpus_t;

/* Opens the corpus in dir, or several read as one when dir is a
 * comma-separated list ("v2,v3": clip indices run on from one to the next).
 * Returns it (free with corpus_destroy) or NULL with a message in err.
 * Every line and range is checked. */
corpus_t *corpus_open(const char *dir, char *err, size_t errlen);
void corpus_destroy(corpus_t **self_p);

int corpus_count(const corpus_t *self);
/* Clip i (owned by the corpus), or NULL when out of range. */
const corpus_clip_t *corpus_clip(const corpus_t *self, int i);
/* Sets the end (sample) of mark m of clip i in the opened corpus (the
 * files are not touched). Returns 0, or -1 for a bad index or an end
 * outside the clip. */
int corpus_set_mark_end(corpus_t *self, int i, int m, int end);
/* Copies clip i as floats in [-1, 1] into out (room for clip->n samples).
 * Returns 0 or -1 for a bad index. */
int corpus_clip_pcm(const corpus_t *self, int i, float *out);

/* ------------------------------------------------------------ mixer */

typedef enum {
    CORPUS_NOISE_WHITE = 0,
    CORPUS_NOISE_PINK,
    CORPUS_NOISE_BROWN,
    CORPUS_NOISE_HUM,         /* mains hum with harmonics */
    CORPUS_NOISE_MUSIC,       /* synthesised notes and chords */
    CORPUS_NOISE_BABBLE,      /* 3-8 unknown-speech clips of the split's voices at once */
    CORPUS_NOISE_FAN,         /* tonal rumble + band noise: test split only */
    CORPUS_NOISE_COUNT
} corpus_noise_t;

/* Name of a noise type ("pink"), or "?". */
const char *corpus_noise_name(corpus_noise_t type);

typedef struct _corpus_mixer_t corpus_mixer_t;

/* A mixer drawing babble from corpus clips of split (corpus may be NULL: no
 * babble then) and random settings from seed. Test mixers use seeds from a
 * range the training code never uses (seed | 1 << 63). Returns NULL on
 * allocation failure. The corpus must outlive the mixer. */
corpus_mixer_t *corpus_mixer_new(const corpus_t *corpus, corpus_split_t split, uint64_t seed);
void corpus_mixer_destroy(corpus_mixer_t **self_p);

/* A random noise type allowed for the mixer's split (FAN only for test,
 * BABBLE only with a corpus). */
corpus_noise_t corpus_mixer_pick_noise(corpus_mixer_t *self);

/* True when type is one corpus_mixer_pick_noise can draw: FAN only for the
 * test split, BABBLE only with unknown-speech clips of the split. */
bool corpus_mixer_allows(const corpus_mixer_t *self, corpus_noise_t type);

/* Writes n samples of noise of type (random settings) to out, peak about 0.5. */
void corpus_mixer_noise(corpus_mixer_t *self, corpus_noise_t type, float *out, size_t n);

/* Applies a random synthetic room (early reflections and a Schroeder late
 * tail, RT60 0.15-0.7 s) to x in place. */
void corpus_mixer_reverb(corpus_mixer_t *self, float *x, size_t n);

/* Uniform random float in [lo, hi) from the mixer's generator. */
float corpus_mixer_uniform(corpus_mixer_t *self, float lo, float hi);

/* Power of the loudest 25 ms frame (10 ms hop) of x. */
float corpus_peak_frame_power(const float *x, size_t n);

/* Adds noise to speech in place, scaled so that the loudest frame of speech
 * is snr_db above the loudest frame of the noise. Returns the noise gain. */
float corpus_add_at_snr(float *speech, const float *noise, size_t n, float snr_db);

/* Self-test of the text generator, the store format and the mixer. Returns 0 or -1. */
int corpus_test(bool verbose);

#endif
