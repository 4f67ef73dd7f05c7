/* audio/kws.h: streaming keyword spotter.
 *
 * A DS-CNN (ARM's Hello-Edge design: one 10x4 convolution with stride 2, then
 * depthwise-separable blocks; here after a 2x2 average of the input, and with
 * a head that keeps time order instead of Hello-Edge's global average pool,
 * see kws_build_net) looks at the last ~1 s of log-mel frames (98 x 40) every
 * `stride` frames. Its
 * posteriors are averaged over the last `smooth` runs; a word is reported
 * once per contiguous stretch where it is the most probable class above its
 * threshold, at the run where its smoothed posterior peaked, and not again
 * within `refractory` seconds of its last report. The model is trained to
 * fire 30-250 ms after a word ends, so hits come in speaking order and the
 * word sequence goes straight to the intent parser (audio/intent.h).
 *
 * The model file (nn format) carries everything needed to run it: labels
 * (checked against audio/vocab.h), the feature configuration (checked
 * against the running features module), input normalisation and the
 * per-word thresholds, as metadata keys "kws.*" and "features.*"; and, when
 * they were fitted for it, the intent grammar's belief constants
 * (kws.belief_odds, kws.belief_power: how its confidences translate into the
 * probability that a word was said, audio/intent.h), which whoever builds a
 * grammar for its words takes from kws_belief.
 *
 * Threads: one kws_t per stream, used by one thread at a time. */
#ifndef SHOP_AUDIO_KWS_H
#define SHOP_AUDIO_KWS_H

#include <stdbool.h>
#include <stddef.h>

#include "audio/features.h"
#include "nn/nn.h"

#define KWS_FRAMES 98   /* frames per window: 1 s at a 10 ms hop, 25 ms window */

/* One recognised word. */
typedef struct {
    int word;           /* vocab id (audio/vocab.h), never _silence_/_unknown_ */
    double time;        /* estimated end of the word, seconds from the stream start */
    float confidence;   /* peak smoothed posterior, 0..1 */
} kws_hit_t;

/* Run-time settings; model metadata provides the defaults. */
typedef struct {
    int stride;         /* frames between CNN runs; 0: the model's (metadata
                         * kws.stride, 3 = 30 ms when absent) */
    int smooth;         /* runs averaged; 3 */
    double refractory;  /* seconds before the same word may be reported again; 0.8 */
    float threshold;    /* > 0 overrides every word's threshold (evaluation sweeps); 0 */
    int threads;        /* nn threads; 1 (one core) */
    bool pad_silence;   /* false: the history before a stream and the tail
                         * kws_flush adds repeat the stream's first / last
                         * frame (its background); true: digital silence */
} kws_opts_t;

typedef struct _kws_t kws_t;

/* Fills opts with the defaults above. */
void kws_opts_default(kws_opts_t *opts);

/* Builds the untrained DS-CNN for n_classes outputs with `channels` channels
 * (64) and `blocks` depthwise-separable blocks (4), ending in a head that
 * keeps time order: a 1 x F convolution collapses frequency only, then a
 * dense layer sees the C x T map (a global average pool could not tell a
 * word that just ended from one that ended 600 ms ago). Returns the net
 * (caller frees with nn_destroy) or NULL. */
nn_net_t *kws_build_net(int n_classes, int channels, int blocks, uint64_t seed);

/* Normalises n input values in place: (x - mean) * inv_std, inv_std = 1 /
 * std (model metadata kws.mean, kws.std). Training and the detector both
 * call it, so they agree. */
void kws_normalise(float *x, size_t n, float mean, float inv_std);

/* Writes the feature configuration, normalisation (kws.norm "global",
 * kws.mean, kws.std), thresholds (VOCAB_COUNT floats) and the frames between
 * CNN runs the model was tuned for (stride) into net's metadata, and the
 * vocabulary as its labels; a net with a label for each of its outputs
 * beyond the vocabulary's (up to KWS_MAX_FILLERS) keeps those, its filler
 * labels (kws_check_labels). Returns 0 or -1. */
int kws_net_set_meta(nn_net_t *net, const features_config_t *fc, float mean, float std,
                     const float *thresholds, int stride);

/* Filler classes: a model may have outputs beyond the VOCAB_COUNT labels of
 * the vocabulary, one per word that is not a vocabulary word and that the
 * model learnt as itself ("up", "off", ...: `shop-train audio
 * --filler-classes`), so that it can reject such a word as that word rather
 * than by widening _unknown_. Their labels follow the vocabulary's in the
 * model's label table: KWS_FILLER_PREFIX and the word, in lower-case ASCII
 * letters (at most KWS_FILLER_WORD_MAX), each once, never a vocabulary word
 * ("_filler_up"). The spotter adds their posteriors into _unknown_'s
 * (kws_merge_posteriors) before it decides: thresholds, the grammar and
 * every measure see the vocabulary's classes only. */
#define KWS_FILLER_PREFIX "_filler_"
#define KWS_FILLER_WORD_MAX 20
#define KWS_MAX_FILLERS 64

/* Checks the labels of net: the vocabulary's, in its order, then only
 * well-formed filler labels (above), one per output. Returns the number of
 * filler classes (0 for a model of the vocabulary alone), or -1 with a
 * message naming the bad label in err. */
int kws_check_labels(const nn_net_t *net, char *err, size_t errlen);

/* True when word (NUL-terminated) may name a filler class: 1 to
 * KWS_FILLER_WORD_MAX lower-case ASCII letters, not a vocabulary word. */
bool kws_filler_word_ok(const char *word);

/* The vocabulary's posteriors of one run of a net with VOCAB_COUNT +
 * n_fillers outputs: post[i] = out[i], plus, for _unknown_, the sum of the
 * filler outputs out[VOCAB_COUNT..]. With no fillers post is out, copied. */
void kws_merge_posteriors(const float *out, int n_fillers, float *post);

/* Metadata keys of the grammar's belief constants (audio/intent.h). */
#define KWS_META_BELIEF_ODDS "kws.belief_odds"
#define KWS_META_BELIEF_POWER "kws.belief_power"

/* Writes the grammar's belief constants fitted for net's confidences into
 * its metadata. Returns 0, or -1 with a message in err when a value is not
 * finite or lies outside the grammar's ranges (odds in (0, 1e6], power in
 * (0, 100]). */
int kws_net_set_belief(nn_net_t *net, double odds, double power, char *err, size_t errlen);

/* Metadata key of the least confidence at which the model's wake word
 * begins a command (audio/listener.h, wake_min), chosen for the model's
 * confidences (docs/speech.md). */
#define KWS_META_WAKE_MIN "kws.wake_min"

/* Writes wake_min into net's metadata (KWS_META_WAKE_MIN). Returns 0, or -1
 * with a message in err when it is not a number in [0, 1]. */
int kws_net_set_wake_min(nn_net_t *net, double wake_min, char *err, size_t errlen);

/* Loads a model file (path NULL: the shipped models/kws.nn via shop_data_path)
 * and makes a detector. opts NULL means the model's defaults. Returns the
 * detector (free with kws_destroy) or NULL with a message in err: unreadable
 * or corrupt file, labels that differ from audio/vocab.h, a feature
 * configuration the features module does not accept, or metadata out of
 * range (thresholds, stride, belief constants: one without the other, not
 * a number, or outside the grammar's ranges; a wake_min outside [0, 1]). */
kws_t *kws_new(const char *path, const kws_opts_t *opts, char *err, size_t errlen);

/* As kws_new with a net in memory; takes ownership of *net_p (set to NULL),
 * also on failure. */
kws_t *kws_new_from_net(nn_net_t **net_p, const kws_opts_t *opts, char *err, size_t errlen);

/* Frees *self_p and sets it to NULL; safe on NULL and twice. */
void kws_destroy(kws_t **self_p);

/* Forgets the stream: the next sample is at time 0 after an (unheard) silence. */
void kws_reset(kws_t *self);

/* Feeds n samples of 16 kHz mono PCM in [-1, 1]. Writes up to max_hits words
 * completed by them to hits (caller's array) in time order. Returns the
 * number written (words beyond max_hits are dropped and logged), or -1 with
 * kws_error() on an internal failure. */
int kws_push(kws_t *self, const float *pcm, size_t n, kws_hit_t *hits, int max_hits);

/* Ends the stream: feeds the silence the model needs to decide on a word
 * that ended in the last samples and reports it. Then behaves as after
 * kws_reset. Returns the number of hits written, or -1. */
int kws_flush(kws_t *self, kws_hit_t *hits, int max_hits);

/* One-shot word sequence of a whole recording: reset, pushes of 100 ms (as
 * the microphone path feeds it), flush. Returns the number of hits, or -1. */
int kws_decode(kws_t *self, const float *pcm, size_t n, kws_hit_t *hits, int max_hits);

/* Frames between CNN runs in use (the option or the model's). */
int kws_stride(const kws_t *self);

/* True while a word is being heard: a keyword is the most probable class
 * above its threshold and has not been reported yet (the push that ends
 * that stretch reports it, or drops it as a refractory repeat). A caller
 * that ends a command after a pause must not end it now. */
bool kws_in_word(const kws_t *self);

/* When the model carries belief constants (kws.belief_odds and
 * kws.belief_power) writes them to *odds and *power and returns true;
 * otherwise leaves both alone (the grammar's defaults stay) and returns
 * false. Build a grammar for this spotter's words with:
 *     intent_config_default(&ic); kws_belief(kws, &ic.belief_odds, &ic.belief_power); */
bool kws_belief(const kws_t *self, float *odds, float *power);

/* When the model carries a wake_min (KWS_META_WAKE_MIN) writes it to
 * *wake_min and returns true; otherwise leaves it alone and returns false. */
bool kws_wake_min(const kws_t *self, double *wake_min);

/* Threshold of word (vocab id), or -1 for a bad id. */
float kws_threshold(const kws_t *self, int word);

/* Seconds of audio pushed since the detector was made, and the wall-clock
 * and thread CPU seconds spent in kws_push/kws_flush (any may be NULL). The
 * real-time factor is time / audio; CPU time is what one core would need
 * on an otherwise idle machine, wall time includes waiting for the CPU. */
void kws_timing(const kws_t *self, double *audio_s, double *wall_s, double *cpu_s);

/* Message of the last failure (never NULL). */
const char *kws_error(const kws_t *self);

/* Self-test: net shape, metadata round trip, streaming bookkeeping (chunking
 * invariance, one report per word, silence reports nothing) on a small
 * untrained net. Returns 0 or -1. */
int kws_test(bool verbose);

#endif
