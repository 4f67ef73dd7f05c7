/* audio/ctc.h: connectionist temporal classification (Graves et al., ICML
 * 2006): the loss of a label sequence given per-frame logits, summed over
 * every alignment (blanks and repeats), and its gradient, by the
 * forward-backward recursions in log space. Training of the phone model
 * (audio/phones.h) calls it through nn's caller-loss hook. */
#ifndef SHOP_AUDIO_CTC_H
#define SHOP_AUDIO_CTC_H

#include <stdbool.h>

/* -log p(labels | logits) for T frames of K classes laid out class-major,
 * logits[k * T + t] (the C x T x 1 output of a convolutional net); class
 * `blank` is the blank, labels are n_labels ids in [0, K) other than blank
 * (n_labels 0: every frame blank). When grad is not NULL, writes scale *
 * d loss / d logits there (same layout). Returns the loss, or INFINITY (and
 * a zero gradient) when no alignment fits in T frames, or NAN for bad
 * arguments. */
double ctc_loss(const float *logits, int T, int K, int blank, const int *labels, int n_labels,
                float scale, float *grad);

/* Frames the shortest alignment of labels needs: one per label plus one
 * blank between equal neighbours. */
int ctc_min_frames(const int *labels, int n_labels);

/* Best path decoding: per frame the most probable class, repeats merged,
 * blanks dropped. Writes up to max ids into out, returns their count. */
int ctc_greedy(const float *logits, int T, int K, int blank, int *out, int max);

/* Levenshtein distance between two id sequences. */
int ctc_edit_distance(const int *a, int na, const int *b, int nb);

#endif
