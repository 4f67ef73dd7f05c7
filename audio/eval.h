/* audio/eval.h: the speech-to-intent measures of the keyword spotter (the
 * work of `shop-eval audio`, whose options tools/audio.c parses). */
#ifndef SHOP_AUDIO_EVAL_H
#define SHOP_AUDIO_EVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio/corpus.h"
#include "audio/intent.h"
#include "audio/kws.h"
#include "audio/listener.h"
#include "audio/realdata.h"

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
    double bg_min;            /* minutes of background streams (> 0): half non-command
                               * speech in noise, half noise alone */
    double noise_hours;       /* > 0: hours of noise alone instead of bg_min / 2 minutes */
    float skip_penalty;       /* the grammar's unmatched_penalty; 0: its default */
    double wake_min;          /* the listener's wake_min (audio/listener.h); negative:
                               * the model's, as shopd listens by default */
} audio_eval_opts_t;

/* Measures on opts->corpus_dir and/or opts->real_dir (at least one) and
 * prints the results on stdout (per-SNR progress on stderr). Returns 0, or
 * -1 with a message in err. */
int audio_eval_run(const audio_eval_opts_t *opts, char *err, size_t errlen);

/* The two parts of the background: non-command speech in noise, and noise
 * alone. */
enum { AUDIO_BG_SPEECH = 0, AUDIO_BG_NOISE = 1, AUDIO_BG_PARTS = 2 };

/* What the detector made of the background, per part and noise kind. */
typedef struct {
    double seconds[AUDIO_BG_PARTS][CORPUS_NOISE_COUNT];
    int words[AUDIO_BG_PARTS][CORPUS_NOISE_COUNT];     /* every reported word */
    int intents[AUDIO_BG_PARTS][CORPUS_NOISE_COUNT];   /* utterances (hits < 1.5 s apart)
                                                        * the grammar makes an intent of */
    int wake[AUDIO_BG_PARTS][CORPUS_NOISE_COUNT];      /* wake words reported */
    int heard[AUDIO_BG_PARTS][CORPUS_NOISE_COUNT];     /* commands the listener made an
                                                        * intent of (wake word required) */
    bool listened;            /* heard was counted (opts->listener) */
    float *wake_peaks;        /* confidence of every wake word the detector reports at
                               * threshold 0.05 (owned; audio_background_clear) */
    int n_wake_peaks;
} audio_background_t;

typedef struct {
    const corpus_t *corpus;   /* source of the speech and of babble; NULL: noise
                               * alone without babble only */
    corpus_split_t split;     /* the noises of this split (fan only in the test split) */
    const int *speech;        /* non-command clips of corpus, played in turn */
    int n_speech;
    double speech_s;          /* seconds of speech in noise: 60 s streams, a random
                               * noise kind each, 6-24 dB SNR (needs n_speech > 0) */
    double noise_s;           /* seconds of noise alone, shared equally by the
                               * split's noise kinds, in streams of up to 60 s */
    uint64_t seed;            /* of the mixer: the same seed, the same streams */
    bool verbose;             /* every false accept on stderr */
    listener_t *listener;     /* shopd's listener over the same model, or NULL */
} audio_background_opts_t;

/* Streams the background through kws (operating thresholds; every word and
 * every intent of intent counts, as if every word began a command), low
 * (threshold 0.05: wake-word peaks) and, when opts->listener is set, the
 * listener (commands count only after the wake word, as shopd listens by
 * default), and counts into *out (zeroed first). Returns 0, or -1 with a
 * message in err; either way audio_background_clear frees what *out holds. */
int audio_eval_background(kws_t *kws, kws_t *low, intent_t *intent,
                          const audio_background_opts_t *opts, audio_background_t *out,
                          char *err, size_t errlen);
void audio_background_clear(audio_background_t *bg);

/* One stream through a listener as a microphone feeds it: listener_reset,
 * the n samples of x in 100 ms pushes, then AUDIO_LISTEN_TAIL_S of silence
 * so that a command in progress ends (the pause that ends a command is 1 s
 * by default, and the spotter reports a word up to 0.5 s after it ended).
 * Returns how many commands the listener made an intent of, the first of
 * them into *first when first is not NULL (zeroed when none), or -1 with
 * listener_error(). */
#define AUDIO_LISTEN_TAIL_S 3.0
int audio_eval_listen(listener_t *l, const float *x, size_t n, intent_result_t *first);

/* Real people talking near a device that is not spoken to: every Speech
 * Commands speech clip (no noise clip) of the validation speakers
 * (calibration: the calibration speakers) of set, one after another in a
 * seeded order, no clip twice; with talkers > 1, that many such orders
 * (each from its own draw of seed) summed sample by sample and scaled by
 * 1 / sqrt(talkers), several people at once. Returns the stream (free it;
 * *n samples at 16 kHz, *clips the clips of one order), or NULL with a
 * message in err when a clip cannot be read, the split has none or
 * talkers < 1. */
float *audio_real_talk(const real_t *set, bool calibration, int talkers, uint64_t seed,
                       size_t *n, int *clips, char *err, size_t errlen);

/* audio_real_talk's streams of one talker and of AUDIO_REAL_CROWD through
 * the listener l as shopd listens by default: the words yes, no and stop
 * in them are said without the wake word, so every intent is a false
 * accept. Returns {"talk", "crowd"} with each stream's hours, intents, rate
 * and 95 % upper bound (audio_poisson_upper), or NULL with err. */
#define AUDIO_REAL_CROWD 3
json_t *audio_real_listen(const real_t *set, listener_t *l, bool calibration, uint64_t seed,
                          char *err, size_t errlen);

/* The "false_accepts" object of `shop-eval audio --json` (a new reference):
 * hours, words, intents and rates per part, per noise kind, noise alone
 * without babble and babble alone, each with the 95 % upper bound of its
 * rate; when the listener was measured (bg->listened), the same counts of
 * its commands under "with_wake_word" and per kind. Rates of parts that
 * have no hours are null. */
json_t *audio_background_json(const audio_background_t *bg);

/* The upper bound of a one-sided confidence interval at level (0.95) of the
 * mean of a Poisson variable of which events were counted: the mu at which
 * P(X <= events; mu) = 1 - level (Garwood's exact bound; 2.996 for 0
 * events at 0.95). Divided by the hours observed, the upper bound of a
 * rate per hour. */
double audio_poisson_upper(int events, double level);

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
