/* audio/phones.h: sub-word units for the keyword spotter: a set of 39
 * English phones (espeak-ng's phoneme names, merged), the mapping from
 * espeak-ng's phoneme output, and the spotter that finds the vocabulary's
 * words in a stream of per-frame phone posteriors (the output of a CTC
 * phone model, see audio/kws.h for the model and audio/phones_train.h for
 * its training).
 *
 * Word spotting: every keyword is a left-to-right path of its phones with
 * an optional blank between them (CTC's topology). Per frame, each class
 * scores r = log p(class) - log max p (0 for the frame's best class: the
 * filler, a free loop over all phones and the blank, scores 0 on every
 * frame). A word's score at frame t is the best path through its phones
 * ending at t, started anywhere (Viterbi), and its confidence exp(score /
 * phones): 1 when every frame of the path is the most probable class. A word
 * is a candidate while its confidence is at or above its threshold; the
 * candidate's peak is reported once the stream is `delay` frames past it,
 * unless an overlapping candidate of another word is more confident (a
 * longer word wins near-ties: "t-shirt" over "shirt"), and not again
 * within the refractory time. */
#ifndef SHOP_AUDIO_PHONES_H
#define SHOP_AUDIO_PHONES_H

#include <stdbool.h>
#include <stddef.h>

#define PHONES_COUNT 39               /* phones; the blank is class PHONES_COUNT */
#define PHONES_BLANK PHONES_COUNT
#define PHONES_CLASSES (PHONES_COUNT + 1)
#define PHONES_MAX_WORD 16            /* phones in one word */

/* Name of phone id ("S", "oU", "_" for the blank), or NULL. */
const char *phones_name(int id);
/* Id of a phone name, or -1. */
int phones_id(const char *name);

/* Phones of one line of `espeak-ng -q -x --sep=_` output (words separated
 * by spaces, phonemes by '_', stress marks ignored), mapped onto the set.
 * Writes up to max ids into out; returns their count, or -1 (message in
 * err) for a phoneme the mapping does not know. */
int phones_from_espeak(const char *line, int *out, int max, char *err, size_t errlen);

/* Phones of text as espeak-ng (American English) says it. Runs espeak-ng;
 * text is letters, apostrophes, hyphens and spaces only. Returns the count
 * or -1 with a message in err. Training only. */
int phones_of_text(const char *text, int *out, int max, char *err, size_t errlen);

/* Pronunciations "word=p p p;word=p p ..." (phone names) as model metadata:
 * parses them into per-vocab-id sequences; returns 0 or -1 with a message. */
typedef struct {
    int n[64];                        /* phones per vocab id, 0: not spotted */
    int ph[64][PHONES_MAX_WORD];
} phones_lexicon_t;
int phones_lexicon_parse(const char *spec, phones_lexicon_t *lex, char *err, size_t errlen);
/* Writes lex in that format into buf (NUL-terminated); returns 0 or -1 when it does not fit. */
int phones_lexicon_format(const phones_lexicon_t *lex, char *buf, size_t len);

/* One spotted word. */
typedef struct {
    int word;                         /* vocab id */
    long long start, end;             /* first and last frame of its best path */
    float confidence;
} phones_hit_t;

typedef struct _phones_spotter_t phones_spotter_t;

/* A spotter for the words of lex with per-vocab-id thresholds thr (a word
 * with threshold > 1 is never reported), reporting a candidate `delay`
 * frames after its peak, the same word not again within `refractory`
 * frames. Returns NULL on bad arguments. */
phones_spotter_t *phones_spotter_new(const phones_lexicon_t *lex, const float *thr, int delay,
                                     int refractory);
void phones_spotter_destroy(phones_spotter_t **self_p);
/* Forgets the stream (frame numbers restart at 0). */
void phones_spotter_reset(phones_spotter_t *self);
/* Takes one frame of log posteriors (PHONES_CLASSES floats, log-softmax).
 * Appends decided words to hits[n..max) in time order; returns the new count. */
int phones_spotter_frame(phones_spotter_t *self, const float *logp, phones_hit_t *hits, int n,
                         int max);
/* Ends the stream: decides every open candidate; returns the new count. */
int phones_spotter_close(phones_spotter_t *self, phones_hit_t *hits, int n, int max);
/* True while a word is a candidate not yet decided. */
bool phones_spotter_busy(const phones_spotter_t *self);
/* Highest confidence each word reached since the last reset (64 floats by
 * vocab id, 0 for words not spotted): threshold calibration. */
void phones_spotter_peaks(const phones_spotter_t *self, float *peaks);
/* Frames seen since the last reset. */
long long phones_spotter_frames(const phones_spotter_t *self);

/* Log-softmax of column t of K x T class-major logits into out (K floats). */
void phones_log_softmax(const float *logits, int T, int K, int t, float *out);

#endif
