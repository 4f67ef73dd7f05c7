/* audio/eval.h: the speech-to-intent measures of the keyword spotter (the
 * work of `shop-eval audio`, whose options tools/audio.c parses). */
#ifndef SHOP_AUDIO_EVAL_H
#define SHOP_AUDIO_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "audio/corpus.h"
#include "audio/kws.h"

typedef struct {
    const char *corpus_dir;   /* synthetic corpus, or NULL: real speech only */
    const char *model;        /* keyword model, NULL: the shipped one */
    const char *holdout;      /* training voices the model was trained without, or NULL */
    const char *real_dir;     /* real speech (audio/realdata.h), or NULL */
    bool json;                /* one JSON object on stdout instead of text */
    bool pad_silence;         /* the detector's pad_silence */
    bool val;                 /* the validation voices instead of the test voices, and
                               * the real calibration speakers instead of the
                               * validation speakers */
    int n_cmd;                /* command utterances per SNR (>= 1) */
    int seed;
    int stride;               /* CNN every stride frames; 0: the model's */
    double bg_min;            /* minutes of background streams (> 0) */
    float skip_penalty;       /* the grammar's unmatched_penalty; 0: its default */
} audio_eval_opts_t;

/* Measures on opts->corpus_dir and/or opts->real_dir (at least one) and
 * prints the results on stdout (per-SNR progress on stderr). Returns 0, or
 * -1 with a message in err. */
int audio_eval_run(const audio_eval_opts_t *opts, char *err, size_t errlen);

/* The words the spotter kws reports in the command utterances of the
 * validation voices (and the training voices listed in holdout) that
 * `shop-eval audio --voices val --commands n_cmd --seed seed` streams (the
 * same utterances in the same noise, n_cmd per SNR), for fitting the
 * grammar's belief constants (audio/belief.h). Of the words it reports,
 * the fit counts every keyword but the wake word and show, find and cart,
 * which several intents share: for each, its confidence in (*conf)[i] and
 * in (*said)[i] 1 when it is one of the words spoken in the utterance, 0
 * when not. Both arrays are allocated (caller frees), *n words. Returns 0,
 * or -1 with a message in err (no validation-voice commands, the shipped
 * grammar unreadable, the spotter failing). */
int audio_eval_heard_words(const corpus_t *corpus, kws_t *kws, const char *holdout, int n_cmd,
                           int seed, float **conf, unsigned char **said, int *n, char *err,
                           size_t errlen);

#endif
