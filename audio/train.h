/* audio/train.h: training the keyword-spotting DS-CNN (the work of
 * `shop-train audio`, whose options tools/audio.c parses). */
#ifndef SHOP_AUDIO_TRAIN_H
#define SHOP_AUDIO_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/nn.h"

/* highest per-word threshold; --thr-min lies in (0, AUDIO_TRAIN_THR_MAX] */
#define AUDIO_TRAIN_THR_MAX 0.8f

/* --domain-classes: none, every real window (all), or only the real windows
 * of vocabulary words (words: yes, no, stop, the numbers; other words and
 * noise train over every class). */
typedef enum {
    AUDIO_DOMAIN_NONE = 0,
    AUDIO_DOMAIN_ALL,
    AUDIO_DOMAIN_WORDS,
} audio_domain_classes_t;

typedef struct {
    const char *corpus_dir;   /* synthetic corpus (several: comma-separated); required */
    const char *out;          /* model file written */
    const char *calibrate;    /* non-NULL: only recompute this model's thresholds and stride
                               * (and its belief constants, as every training does) */
    const char *beliefs;      /* non-NULL: only fit this model's belief constants (its
                               * thresholds and stride kept) and write it to out */
    const char *set;          /* non-NULL: only write this model to out with wake_min set
                               * (no corpus read; corpus_dir may be NULL) */
    bool has_wake_min;        /* the model written carries wake_min (0..1) as kws.wake_min
                               * (the listener's least wake-word confidence,
                               * audio/listener.h); false: a model trained on,
                               * recalibrated or refitted keeps its own, a new or fused
                               * one has none */
    double wake_min;
    const char *fuse;         /* non-NULL: comma-separated spotter models fused into one
                               * (audio_fuse_models), then calibrated as calibrate */
    const char *fuse_weights; /* their weights, comma-separated; NULL: 1/n each */
    const char *skip;         /* training voices left out (comma-separated), or NULL */
    const char *holdout;      /* training voices made validation voices, or NULL */
    const char *real_dir;     /* recordings of real speakers (audio/realdata.h), or NULL */
    const char *init;         /* non-NULL: go on training this model */
    const char *teacher;      /* non-NULL: a trained spotter whose posteriors (at temperature
                               * teacher_temp) are mixed into the targets of the synthetic
                               * windows with weight teacher_weight (distillation, "learning
                               * without forgetting"); the real windows keep their labels */
    float teacher_weight, teacher_temp;
    int freeze;               /* with init: its first freeze layers keep their weights and
                               * batch-norm statistics (nn_train_opts_t.freeze) */
    float domain_adversarial; /* > 0 (needs real_dir): lambda_max of a real-vs-synthetic
                               * head behind a gradient reversal on the embedding,
                               * trained along and dropped before saving */
    int real_copies;          /* noisy copies of each Speech Commands recording */
    int fsdd_copies;          /* noisy copies of each FSDD recording */
    float real_noise;         /* share of windows mixed with recorded noise of training speakers */
    float fa_rate;            /* thresholds: fraction of other-class validation windows */
    int epochs, copies, channels, blocks, batch, threads;
    int limit;                /* > 0: at most this many training windows */
    int stride;               /* the detector runs the CNN every stride frames */
    float lr;                 /* peak learning rate (AdamW, cosine schedule) */
    float between;            /* windows at random places of each command clip */
    float thr_min;            /* threshold floor */
    uint64_t seed;
    bool filler_classes;      /* with real_dir: each word of the real recordings that is not a
                               * vocabulary word has its own output (audio/kws.h, filler
                               * classes); with init, a model without them gets them, their
                               * head rows started from _unknown_'s */
    audio_domain_classes_t domain_classes;
                              /* with real_dir: which real recordings' windows train the
                               * softmax over the classes the real training windows hold
                               * (their vocabulary words, _unknown_ or filler classes,
                               * _silence_) alone, so that the words no real speaker says
                               * get no gradient from them (nn_data_t.subset) */
    bool prefix_ends;         /* true: a sentence's words end where the corpus stores them (the
                               * end of speech of their prefix clips); false: realigned
                               * (corpus_realign_marks, audio/align.h) */
} audio_train_opts_t;

/* Trains (or, with opts->calibrate, recalibrates; with opts->beliefs, only
 * fits belief constants) and writes opts->out, with progress on stderr and
 * the result on stdout. A training, a calibration and a fusion end with the
 * grammar's belief constants fitted for the model (kws.belief_odds,
 * kws.belief_power: the confidences of the words it reports in the
 * validation voices' commands against whether they were said, audio/belief.h);
 * where the corpus has too few such words for a fit the model carries none
 * and the grammar's defaults apply, said on stderr. Returns 0, or -1 with a
 * message in err (possibly empty when the net could not be built). */
int audio_train_run(const audio_train_opts_t *opts, char *err, size_t errlen);

/* Mean and standard deviation over all n inputs (one pair for every
 * feature): the normalisation a spotter's model file carries as kws.mean and
 * kws.std, computed from the training windows. */
void audio_input_stats(const float *x, size_t n, float *mean, float *std);

/* Loads the spotter model at path (to go on training it, or to recalibrate
 * it) with its input statistics: kws.mean, and kws.std which must be a
 * positive number. Returns the net, or NULL with a message naming the file in err. */
nn_net_t *audio_load_with_stats(const char *path, float *mean, float *std, char *err,
                                size_t errlen);

/* SpecAugment-style masks on one window of T frames x F bands (row-major),
 * drawn from rng in a fixed order so that trainings stay reproducible:
 * audio_mask_bands zeroes, with probability 0.5, up to 5 adjacent bands at
 * a random place; audio_mask_frames, with probability p, up to 7 adjacent
 * frames. Both trainers (whole words, phones) use them. */
void audio_mask_bands(float *s, int T, int F, uint64_t *rng);
void audio_mask_frames(float *s, int T, int F, float p, uint64_t *rng);

/* How many of the first samples of a window of win samples ending at sample
 * t of a clip lie before its onset of speech: 0 to win (a window that ends
 * before the onset, as a real word shorter than 100 ms can give, is all
 * before it). A cut to digital silence before the onset zeroes at most these. */
int audio_samples_before_onset(int onset, int t, int win);

/* The score a fraction fa_rate of the m negative scores in neg reach (neg is
 * sorted in place), the base of a word's threshold; 0.5 when m is 0. */
float audio_fa_score(float *neg, int m, float fa_rate);

/* The label of unknown speech whose whole text (case ignored, spaces
 * around it) is one of the n filler words: VOCAB_COUNT + its index, the
 * output of its filler class (audio/kws.h); else VOCAB_UNKNOWN ("pick up"
 * is two words: _unknown_). */
int audio_filler_label(const char *const *words, int n, const char *text);

/* Gives *net, a spotter of the vocabulary alone, the k filler classes
 * words[0..k-1] (`shop-train audio --filler-classes --init`): an output per
 * word, labelled KWS_FILLER_PREFIX and the word, whose row of the dense
 * head starts as _unknown_'s, with _unknown_'s bias and its k copies'
 * lowered by log(k + 1). The softmax then gives _unknown_ and each copy
 * 1 / (k + 1) of what it gave _unknown_: the merged posteriors
 * (kws_merge_posteriors) start as the model's were, thresholds and all,
 * and the copies part as their words' windows pull them apart. Replaces
 * *net. Returns 0, or -1 with a message in err (a model with filler
 * classes already, a word that cannot name one, a word twice). */
int audio_add_fillers(nn_net_t **net, const char *const *words, int k, char *err, size_t errlen);

/* at most this many models in one fusion */
#define AUDIO_FUSE_MAX 8

/* One spotter made of the whole-word spotter models at paths[0..n-1]
 * (same vocabulary, same feature configuration): its logits are the
 * members' logits weighted by weights[i] (> 0) and summed, its posteriors
 * the members' weighted geometric mean, renormalised (nn_fuse_experts).
 * Its input is the raw log-mel features (kws.mean 0, kws.std 1): each
 * member's branch applies that member's kws.mean and kws.std first. The
 * metadata: today's features, member 1's thresholds and stride (to be
 * recalibrated), the provenance of every member with its weight. Returns
 * the net (caller frees with nn_destroy), or NULL with a message naming the
 * file at fault in err. */
nn_net_t *audio_fuse_models(const char *const *paths, int n, const float *weights, char *err,
                            size_t errlen);

#endif
