/* audio/realdata.h: recorded speech of real people, for training and
 * measuring the keyword spotter (offline: training and evaluation only).
 *
 * Two folders under one data directory (DIR):
 *   DIR/speech-commands/CLASS/ *.flac   Speech Commands v0.02 test clips, 1 s,
 *       16 kHz; CLASS is the word (yes, no, go, up, ..., stop), `_unknown_`
 *       (file name WORD_SPEAKER_nohash_N: other words, the numbers among
 *       them) or `_silence_` (background noise, no speaker);
 *   DIR/fsdd/recordings/DIGIT_SPEAKER_TAKE.flac   Free Spoken Digit Dataset,
 *       8 kHz (resampled to 16 kHz on loading).
 * Either folder may be missing.
 *
 * The speaker split: a speaker (the Speech Commands hash before `_nohash_`,
 * the FSDD name; a `_silence_` clip is its own "speaker" by file name) is a
 * validation speaker when the 64-bit FNV-1a hash of its id is 0 modulo 4,
 * a calibration speaker when it is 1 modulo 4, else a training speaker.
 * Gradient steps read training speakers only; calibration speakers are held
 * out of them to choose the best epoch and the thresholds (with the
 * synthetic validation voices); every measure reads validation speakers
 * only, and training never reads them. */
#ifndef SHOP_AUDIO_REALDATA_H
#define SHOP_AUDIO_REALDATA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio/intent.h"
#include "audio/kws.h"

typedef enum { REAL_SPEECH_COMMANDS = 0, REAL_FSDD = 1 } real_source_t;

/* One recording (read-only view owned by the set). */
typedef struct {
    real_source_t source;
    char cls[16];          /* Speech Commands class folder, or "digit" */
    char word[24];         /* the word spoken ("yes", "backward", "three"); "" for noise */
    char speaker[40];
    int vocab;             /* the word's vocab id (audio/vocab.h), VOCAB_UNKNOWN for
                            * other speech, VOCAB_SILENCE for noise */
    bool validation;       /* real_speaker_is_validation(speaker) */
    bool calibration;      /* real_speaker_is_calibration(speaker) */
    char *path;
} real_clip_t;

typedef struct _real_t real_t;

/* The 64-bit FNV-1a hash of a speaker id, which the split rules use. */
uint64_t real_speaker_hash(const char *speaker);

/* True when speaker is a validation speaker (the rule above). */
bool real_speaker_is_validation(const char *speaker);
/* True when speaker is a calibration speaker (the rule above). */
bool real_speaker_is_calibration(const char *speaker);

/* Lists the recordings under dir, in a fixed order (by path). Returns the
 * set (free with real_destroy) or NULL with a message in err when dir holds
 * neither folder or a folder cannot be read. File names that do not follow
 * the layout are refused with an error naming them. */
real_t *real_open(const char *dir, char *err, size_t errlen);
void real_destroy(real_t **self_p);

int real_count(const real_t *self);
/* Clip i (owned by the set) or NULL when out of range. */
const real_clip_t *real_clip(const real_t *self, int i);

/* Decodes clip i to 16 kHz mono floats: returns 0 with *pcm a new array of
 * *n samples (caller frees), or -1 with a message in err. */
int real_clip_pcm(const real_t *self, int i, float **pcm, size_t *n, char *err, size_t errlen);

/* Where speech lies in pcm: *onset is the start of the first and *end the
 * end of the last 10 ms hop's 25 ms frame whose energy is within 25 dB of
 * the loudest frame and at least 8 dB above the clip's median frame (0 and
 * n when no frame is). */
void real_speech_extent(const float *pcm, size_t n, int *onset, int *end);

/* True when two intent results are the same intent with the same slots. */
bool real_same_intent(const intent_result_t *want, const intent_result_t *got);

/* The real-speech measures of a detector on the validation speakers of set
 * (or, with calibration, on the calibration speakers: the split to tune on
 * without looking at the measured speakers; require_wake off in g). Each clip is streamed on its own in 100 ms pushes
 * and flushed; its words go to g.
 * - commands: clips whose word alone makes an intent (yes, no, stop):
 *   accepted when the intent and its slots equal the word's; "yes_no" is
 *   the acceptance over yes and no;
 * - false accepts: every other clip (other words, the numbers said alone,
 *   noise) that yields any intent, per clip;
 * - digits (FSDD): word accuracy, the words reported equal to the digit
 *   said (one..nine), and for "zero" (no vocabulary word) nothing reported.
 * Each overall, per speaker and (false accepts) per class. Returns a new
 * JSON object (caller decrefs) or NULL with a message in err. verbose logs
 * every miss and false accept on stderr. */
json_t *real_eval(const real_t *set, kws_t *kws, const intent_t *g, bool calibration,
                  bool verbose, char *err, size_t errlen);

#endif
