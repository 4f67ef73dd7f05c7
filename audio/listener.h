/* audio/listener.h: a live stream of samples to spoken commands.
 *
 * The pipeline a microphone runs, without the device and without threads
 * (daemon/mic.c adds those):
 *
 *   16 kHz PCM -> keyword spotter (audio/kws: streaming log-mel + CNN)
 *              -> wake word -> command words -> end of the command
 *              -> grammar (audio/intent) -> one utterance
 *
 * Wake word: with require_wake, words count only after the wake word
 * (cfg.wake_word, any keyword of audio/vocab.h; "shopwise" by default)
 * reported at a confidence of at least the wake_min in use (cfg.wake_min,
 * or the spotter model's own, listener_wake_min); a weaker one is counted
 * with the words heard without a wake word and dropped.
 * Words heard without it are counted and dropped. A wake word heard during
 * a command starts the command again. Without require_wake (push-to-talk
 * devices) any keyword starts a command.
 *
 * End of a command: the speaker paused. No word is being heard
 * (kws_in_word) and none was reported for gap_s of stream time. The pause
 * is measured from the moment the spotter reported the last word, not from
 * the word's estimated end: the spotter reports a word 0.3-0.5 s after it
 * ended (the model fires late and its smoothed posterior must fall below
 * the threshold first), and that delay differs from word to word, so a
 * pause counted from word ends splits commands whose words end 0.66 s
 * apart. A wake word alone waits wake_timeout_s for the command to begin,
 * then is forgotten. A command still going after max_command_s ends there.
 *
 * Every decision is taken on a 10 ms grid of stream time, whatever block
 * sizes the caller pushes, so the utterances do not depend on how a device
 * delivers its audio. Nothing is stored: samples live only in the
 * spotter's one-second window.
 *
 * Threads: one listener_t per stream, used by one thread at a time. */
#ifndef SHOP_AUDIO_LISTENER_H
#define SHOP_AUDIO_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio/intent.h"
#include "audio/kws.h"

#define LISTENER_MAX_WORDS 32  /* words one command keeps; later ones are dropped */

typedef struct {
    int wake_word;          /* vocab id of the wake word; VOCAB_WAKE ("shopwise") */
    bool require_wake;      /* commands must follow the wake word; true */
    double gap_s;           /* pause that ends a command; 1.0 */
    double wake_timeout_s;  /* wait for a command after the wake word alone; 3.0 */
    double max_command_s;   /* longest command, from its first word; 8.0 */
    double wake_min;        /* least confidence of a wake word that begins a command
                             * (0..1; 0: the spotter's threshold alone), or
                             * negative (LISTENER_WAKE_MIN_MODEL, the default): the spotter
                             * model's kws.wake_min, chosen for its confidences
                             * (docs/speech.md), 0 when it carries none */
} listener_config_t;

#define LISTENER_WAKE_MIN_MODEL (-1.0)

/* One command, ended (out). */
typedef struct {
    int n_words;                          /* command words (the wake word not among them) */
    kws_hit_t words[LISTENER_MAX_WORDS];  /* in order; times in seconds of the stream */
    float wake_confidence;                /* the wake word's, 1 without require_wake */
    double start;                         /* stream time the command began (wake word or
                                           * first word reported) */
    double end;                           /* stream time it was ended */
    bool understood;                      /* result holds an intent */
    intent_result_t result;               /* its confidence includes the wake word's belief;
                                           * below min_confidence it is not understood */
    char reason[256];                     /* when not understood: why */
} listener_utterance_t;

typedef struct {
    double audio_s;         /* seconds of audio pushed */
    uint64_t words;         /* keywords the spotter reported */
    uint64_t wakes;         /* wake words that began a command */
    uint64_t ignored;       /* words heard without a wake word before them */
    uint64_t timeouts;      /* wake words no command followed */
    uint64_t commands;      /* utterances returned */
    uint64_t understood;    /* of which matched an intent */
} listener_stats_t;

typedef struct _listener_t listener_t;

/* Fills cfg with the defaults above. */
void listener_config_default(listener_config_t *cfg);

/* Returns 0 if cfg is usable (a keyword as wake word, 0.1 s <= gap_s <= 10 s,
 * 0.1 <= wake_timeout_s <= 60, gap_s <= max_command_s <= 60, 0 <= wake_min
 * <= 1 or negative), else -1 with
 * the reason in err. */
int listener_config_check(const listener_config_t *cfg, char *err, size_t errlen);

/* Makes a listener over the spotter *kws_p (ownership moves: *kws_p is set
 * to NULL, also on failure) and the grammar file grammar_path (NULL: the
 * shipped one), compiled without its own wake-word rule since the listener
 * applies it. cfg NULL means the defaults. Returns the listener (free with
 * listener_destroy) or NULL with the reason in err. The grammar turns
 * confidences into beliefs with the spotter model's constants when it
 * carries them (kws_belief). */
listener_t *listener_new(kws_t **kws_p, const char *grammar_path, const listener_config_t *cfg,
                         char *err, size_t errlen);

/* Frees *self_p and sets it to NULL; safe on NULL and twice. */
void listener_destroy(listener_t **self_p);

/* Feeds n samples (16 kHz mono, [-1, 1]) and writes the commands they end
 * to out (caller's array of max_out >= 1; a command that finds no room
 * ends at the next push). Returns the number written, or -1 with
 * listener_error() when the spotter fails. */
int listener_push(listener_t *self, const float *pcm, size_t n, listener_utterance_t *out,
                  int max_out);

/* The stream broke (the device was reopened): forgets the command in
 * progress and the spotter's window. Stream time keeps running. */
void listener_reset(listener_t *self);

/* Copies the counters into *st. */
void listener_stats(const listener_t *self, listener_stats_t *st);

/* The grammar the listener matches commands with (owned by self): the
 * file's, with the spotter model's belief constants when it carries them
 * (kws_belief), else the grammar's defaults. */
const intent_t *listener_grammar(const listener_t *self);

/* The wake_min in use: cfg.wake_min, or when that is negative the
 * spotter model's (0 when it carries none). *from (may be NULL) is set to
 * "config", "model" or "none" (the spotter's threshold alone). */
double listener_wake_min(const listener_t *self, const char **from);

/* The spotter's CPU and wall time (kws_timing). */
const kws_t *listener_kws(const listener_t *self);

/* Message of the last failure (never NULL). */
const char *listener_error(const listener_t *self);

/* Self-test: configuration checks, and the wake word, endpointing, time-out
 * and restart rules driven with made-up words on a small untrained
 * spotter. Returns 0 or -1. */
int listener_test(bool verbose);

#endif
