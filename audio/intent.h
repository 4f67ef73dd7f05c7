/* audio/intent.h: spoken word sequences to intents with slots.
 *
 * A grammar file (format in docs/grammar.md; shipped as
 * data/grammar/shop.ini) lists, per intent, the sentences that express it,
 * written with the recogniser's words (audio/vocab.h), alternatives
 * "(a | b)", optional parts "[a]" and slots "{category}" whose values come
 * from slot lists. It can be edited without retraining the recogniser.
 *
 * Matching is forgiving in one direction only: words the recogniser heard
 * that a sentence has no place for may be skipped, while every word a
 * sentence requires must have been heard, in order.
 *
 * Scoring. A spotter confidence c is a posterior peak that passed the
 * word's threshold, not a probability that the word was said, so each heard
 * word first gets a belief b, the calibrated probability that it was said:
 *     b / (1 - b) = belief_odds * (c / (1 - c)) ^ belief_power
 * The constants belong to the spotter model, whose confidences they read:
 * a model file carries its own (kws_belief, audio/kws.h; fitted by
 * `shop-train audio`, audio/belief.h), and 1.64 and 2.43, the defaults,
 * are those of the shipped spotter (the fraction of heard words that were
 * said, by confidence, among its words in commands of the synthetic
 * validation voices; c = 0.3 gives b = 0.17, 0.46 gives 0.53, 0.6 gives
 * 0.81, 0.8 gives 0.98). A sentence that uses a word multiplies
 * its score by b; one that skips it by 1 - b, but by no less than
 * unmatched_penalty. So a word is used exactly when it is more likely said
 * than not (b > 0.5, c above about 0.45), a weak stray word costs little to
 * skip, and a word the spotter is sure of costs the floor: a reading that
 * skips a word heard at c >= 0.7 (b > 0.9) scores at most 0.2, one that
 * skips two such words at most 0.04, below the default min_confidence. The best-scoring sentence of all
 * intents wins; the score is the result's confidence (times the wake word's
 * belief when it is required). Words without confidences (conf NULL, typed
 * text) are certain: each used word counts 1 and each skipped word 0.5, so
 * free typing with a stray vocabulary word ("no, show me one dress") still
 * matches. */
#ifndef SHOP_AUDIO_INTENT_H
#define SHOP_AUDIO_INTENT_H

#include <stdbool.h>
#include <stddef.h>

#define INTENT_NAME_MAX 32   /* intent, slot and value names: < 32 bytes */
#define INTENT_MAX_SLOTS 4   /* slots one result carries */
#define INTENT_BELIEF_ODDS_MAX 1e6f    /* belief_odds lies in (0, this] */
#define INTENT_BELIEF_POWER_MAX 100.f  /* belief_power in (0, this] */

typedef struct _intent_t intent_t;

typedef struct {
    bool require_wake;        /* only words after the wake word count; true */
    float unmatched_penalty;  /* least factor a skipped heard word costs; 0.2 */
    float min_confidence;     /* results below are rejected; 0.1 */
    float belief_odds;        /* confidence to belief, see above; 1.64, or the
                               * spotter model's own (kws_belief, audio/kws.h) */
    float belief_power;       /* 2.43, or the model's */
} intent_config_t;

typedef struct {
    char name[INTENT_NAME_MAX];   /* slot name, e.g. "category" */
    char value[INTENT_NAME_MAX];  /* its value, e.g. "sneaker" */
} intent_slot_t;

typedef struct {
    char intent[INTENT_NAME_MAX]; /* e.g. "add_to_cart" */
    int n_slots;                  /* slots filled, in sentence order */
    intent_slot_t slots[INTENT_MAX_SLOTS];
    float confidence;             /* 0..1, see above */
    int matched;                  /* heard words the sentence used */
    int skipped;                  /* heard words it skipped */
    int line;                     /* grammar line of the winning sentence */
} intent_result_t;

/* Fills cfg with the defaults above. */
void intent_config_default(intent_config_t *cfg);

/* Compiles a grammar from len bytes of text (NUL not needed). cfg may be
 * NULL for the defaults. Returns the parser (free with intent_destroy) or
 * NULL with a message naming the line and the problem in err. */
intent_t *intent_new_from_text(const char *text, size_t len, const intent_config_t *cfg,
                               char *err, size_t errlen);

/* As intent_new_from_text on the file at path (at most 1 MiB). path NULL
 * means the shipped data/grammar/shop.ini (found with shop_data_path). */
intent_t *intent_new_from_file(const char *path, const intent_config_t *cfg, char *err,
                               size_t errlen);

/* Frees *self_p and sets it to NULL; safe on NULL and twice. */
void intent_destroy(intent_t **self_p);

/* Number of intents in the grammar, and the name of intent i (owned by
 * self; NULL when i is out of range), in file order. */
int intent_count(const intent_t *self);
const char *intent_name(const intent_t *self, int i);

/* Matches n heard words (vocab ids, audio/vocab.h; conf[i] in 0..1, NULL
 * means all 1) against the grammar. _silence_ and _unknown_ entries are
 * ignored. Returns 0 with *result filled, or -1 with result->intent empty
 * and a reason in err: no wake word (when required), nothing heard after
 * it, no sentence matches, or confidence below min_confidence. */
int intent_match(const intent_t *self, const int *words, const float *conf, size_t n,
                 intent_result_t *result, char *err, size_t errlen);

/* As intent_match on words heard after a wake word the caller detected
 * itself (a listener whose wake word may be any keyword), at spotter
 * confidence wake_conf: the result's confidence is the sentence's score
 * times the wake word's belief, and min_confidence applies to that product,
 * as it does when intent_match finds the wake word among the words. Wake
 * words among the words count as no word. */
int intent_match_woken(const intent_t *self, float wake_conf, const int *words, const float *conf,
                       size_t n, intent_result_t *result, char *err, size_t errlen);

/* The belief (0..1, see above) this grammar's settings give a spotter
 * confidence c. */
float intent_belief(const intent_t *self, float c);

/* As intent_match on the words of text separated by spaces or punctuation,
 * each looked up with vocab_find (so "shopwise, show me sneakers" or
 * "add 2 boots"; pairs such as "tee shirt" and "check out" are one word).
 * Words outside the recogniser's vocabulary are ignored, as the recogniser
 * never reports them. At most 64 words are used. A typed price bound
 * ("under 50", "below $19.99", "up to 30 euros": under, below, beneath,
 * less than, at most, up to, max, maximum, no more than, followed by a
 * number) adds the slot max_price ("50.00") to a match, and its number is
 * not read as a quantity. */
int intent_match_text(const intent_t *self, const char *text, intent_result_t *result,
                      char *err, size_t errlen);

/* Writes "add_to_cart{quantity=2,category=sneaker}" (no braces without
 * slots) into buf. Returns buf. */
char *intent_result_format(const intent_result_t *result, char *buf, size_t len);

/* Returns the value of slot name in result, or NULL (owned by result). */
const char *intent_result_slot(const intent_result_t *result, const char *name);

#endif
