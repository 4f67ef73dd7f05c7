/* audio/belief.h: fitting a spotter's confidence-to-belief constants.
 *
 * The intent grammar (audio/intent.h) turns a spotter confidence c into a
 * belief b, the probability that the word was said:
 *     b / (1 - b) = odds * (c / (1 - c)) ^ power
 * which is a logistic model of "said" on logit(c): log odds is its
 * intercept, power its slope. belief_fit finds the two by maximum
 * likelihood from words whose truth is known (Newton's method, i.e.
 * iteratively reweighted least squares, with step halving so that every
 * step raises the likelihood). Data with no finite maximum (fewer than
 * BELIEF_MIN_WORDS words, one label only, or labels the confidence separates
 * completely) are refused: they cannot tell the constants. */
#ifndef SHOP_AUDIO_BELIEF_H
#define SHOP_AUDIO_BELIEF_H

#include <stddef.h>

#define BELIEF_MIN_WORDS 50   /* fewest words a fit accepts */
#define BELIEF_CONF_EPS 1e-6  /* confidences are clamped to [eps, 1 - eps] before logit */

typedef struct {
    double odds;             /* exp(intercept) */
    double power;            /* slope on logit(c) */
    double se_log_odds;      /* standard errors of log odds and power, from the */
    double se_power;         /* inverse of the information matrix at the fit */
    double log_likelihood;   /* at the fit, natural log */
    int n;                   /* words */
    int n_said;              /* of which said */
    int iterations;          /* Newton steps taken */
} belief_fit_t;

/* Fits the constants to n words: conf[i] in [0, 1] (clamped to
 * [BELIEF_CONF_EPS, 1 - BELIEF_CONF_EPS]) and said[i] (0: not said, else
 * said). Returns 0 with *out filled, or -1 with the reason in err: fewer than
 * BELIEF_MIN_WORDS words, a confidence that is not a number in [0, 1], all
 * words said or none, labels separated by the confidence (every said word
 * above, or at, every other: the likelihood has no maximum), or no
 * convergence in 100 steps. */
int belief_fit(const float *conf, const unsigned char *said, int n, belief_fit_t *out,
               char *err, size_t errlen);

#endif
