/* audio/align.h: where a word ends inside a longer synthesised utterance.
 *
 * The corpus generator (audio/corpus.c) learns where each vocabulary word of
 * a sentence ends by synthesising the prefix that ends in it, with the same
 * voice and settings: the prefix's end of speech is taken as the word's end
 * in the sentence. A prefix is a whole utterance, so its last word carries
 * phrase-final lengthening and a released final stop that the same word
 * followed by more speech does not: flite's awb says "add" in 290 ms alone
 * and in 123 ms before "six" (its own segment times, `flite -psdur`), so the
 * stored end of a sentence-initial "add" lies 100-200 ms inside the next
 * word. align_prefix_end finds the end again by aligning the prefix's
 * log-mel frames to the sentence's with dynamic time warping, both anchored
 * at their first frame of speech, the sentence's end left open; the frame of
 * the sentence that the prefix's last frame of speech maps to is the word's
 * end. corpus_realign_marks applies it to every word of a corpus that is
 * not the last of its clip. */
#ifndef SHOP_AUDIO_ALIGN_H
#define SHOP_AUDIO_ALIGN_H

#include <stdbool.h>

#include "audio/corpus.h"

/* Aligns np frames of prefix (np x f floats, row-major) to the start of the
 * ns frames of sentence, both beginning at the same moment of speech, by
 * symmetric dynamic time warping (steps (1,1) weight 2, (1,0) and (0,1)
 * weight 1, Euclidean frame distance) with an open end in the sentence.
 * Returns the index of the sentence frame matched to the prefix's last
 * frame (the end minimising the path cost over its length), or -1 when a
 * count is below 1. Needs np x ns floats of scratch (allocated here). */
int align_prefix_end(const float *prefix, int np, const float *sentence, int ns, int f);

/* What corpus_realign_marks did. */
typedef struct {
    int marks;          /* word ends moved (words not last in their clip) */
    int missing;        /* such words whose prefix clip is not in the corpus: kept */
    double mean_shift;  /* mean of new - old end, samples (negative: earlier) */
} align_stats_t;

/* Moves the end of every vocabulary word that is not the last of its
 * command clip to where align_prefix_end puts the end of that word's prefix
 * clip (the shorter clip of the same voice stored before it whose text is
 * the words up to and including this one), never later than the stored
 * end, never before the end of the word before it. Clips for which want
 * returns false are left as they are (want NULL: all). Returns 0, or -1 for
 * a clip whose audio cannot be read. */
int corpus_realign_marks(corpus_t *corpus, bool (*want)(const corpus_clip_t *c, void *user),
                         void *user, align_stats_t *stats);

/* Self-test: a known boundary between two tones found again when the
 * prefix's tone is twice as long and followed by a quiet tail. Returns 0 or -1. */
int align_test(bool verbose);

#endif
