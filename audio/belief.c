/* audio/belief.c: maximum-likelihood fit of the belief constants (see belief.h). */
#include "audio/belief.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"

#define S_MAX_STEPS 100

/* log(1 + e^z) without overflow */
static double
s_softplus(double z)
{
    return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

/* Log-likelihood of intercept a and slope b on (x, y). */
static double
s_loglik(const double *x, const unsigned char *y, int n, double a, double b)
{
    double ll = 0;
    for (int i = 0; i < n; i++) {
        double z = a + b * x[i];
        ll += (y[i] ? z : 0) - s_softplus(z);
    }
    return ll;
}

/* Gradient g and information matrix (i00, i01, i11) at (a, b). */
static void
s_derivatives(const double *x, const unsigned char *y, int n, double a, double b, double g[2],
              double info[3])
{
    g[0] = g[1] = info[0] = info[1] = info[2] = 0;
    for (int i = 0; i < n; i++) {
        double p = 1.0 / (1.0 + exp(-(a + b * x[i]))), w = p * (1.0 - p), r = (y[i] ? 1 : 0) - p;
        g[0] += r;
        g[1] += r * x[i];
        info[0] += w;
        info[1] += w * x[i];
        info[2] += w * x[i] * x[i];
    }
}

int
belief_fit(const float *conf, const unsigned char *said, int n, belief_fit_t *out, char *err,
           size_t errlen)
{
    if (!conf || !said || !out || n < BELIEF_MIN_WORDS) {
        snprintf(err, errlen, "%d words: a belief fit needs at least %d", n < 0 ? 0 : n,
                 BELIEF_MIN_WORDS);
        return -1;
    }
    double *x = xmalloc((size_t) n * sizeof *x);
    /* the extremes of logit(c) among said and other words: a finite maximum
     * exists exactly when the two ranges overlap */
    double lo1 = INFINITY, hi1 = -INFINITY, lo0 = INFINITY, hi0 = -INFINITY;
    int n_said = 0, rc = -1;
    for (int i = 0; i < n; i++) {
        double c = conf[i];
        if (!(c >= 0.0 && c <= 1.0)) {
            snprintf(err, errlen, "word %d: confidence %g is not a number in [0, 1]", i, c);
            goto done;
        }
        c = fmin(fmax(c, BELIEF_CONF_EPS), 1.0 - BELIEF_CONF_EPS);
        x[i] = log(c / (1.0 - c));
        if (said[i]) {
            n_said++;
            lo1 = fmin(lo1, x[i]);
            hi1 = fmax(hi1, x[i]);
        } else {
            lo0 = fmin(lo0, x[i]);
            hi0 = fmax(hi0, x[i]);
        }
    }
    if (n_said == 0 || n_said == n) {
        snprintf(err, errlen, "all %d words are %s: a belief fit needs both", n,
                 n_said ? "said" : "not said");
        goto done;
    }
    if (!(lo1 < hi0 && lo0 < hi1)) {
        snprintf(err, errlen, "the confidence separates said words from the others (said %.4g-%.4g, "
                 "not said %.4g-%.4g in logit): no finite fit", lo1, hi1, lo0, hi0);
        goto done;
    }
    /* start: the share said, flat in c */
    double p0 = (double) n_said / n, a = log(p0 / (1.0 - p0)), b = 0;
    double ll = s_loglik(x, said, n, a, b), g[2], info[3], det = 0;
    int step = 0;
    bool converged = false;
    for (; step < S_MAX_STEPS && !converged; step++) {
        s_derivatives(x, said, n, a, b, g, info);
        det = info[0] * info[2] - info[1] * info[1];
        if (!(det > 0)) {
            snprintf(err, errlen, "singular information matrix after %d steps", step);
            goto done;
        }
        double da = (info[2] * g[0] - info[1] * g[1]) / det;
        double db = (info[0] * g[1] - info[1] * g[0]) / det;
        double t = 1.0, na = a + da, nb = b + db, nll = s_loglik(x, said, n, na, nb);
        for (int h = 0; h < 40 && !(nll >= ll); h++) {
            t /= 2;
            na = a + t * da;
            nb = b + t * db;
            nll = s_loglik(x, said, n, na, nb);
        }
        if (!(nll >= ll))
            break;   /* no step raises it: at the maximum to rounding */
        converged = fabs(t * da) < 1e-10 * (1 + fabs(a)) && fabs(t * db) < 1e-10 * (1 + fabs(b));
        a = na;
        b = nb;
        ll = nll;
    }
    s_derivatives(x, said, n, a, b, g, info);
    det = info[0] * info[2] - info[1] * info[1];
    /* the score is zero at the maximum: a gradient above rounding is no fit */
    double scale = info[0] + sqrt(info[2] * info[0]);
    if (!(det > 0) || !(fabs(g[0]) + fabs(g[1]) <= 1e-6 * (scale + 1))) {
        snprintf(err, errlen, "no convergence in %d steps (gradient %g, %g)", step, g[0], g[1]);
        goto done;
    }
    *out = (belief_fit_t) {
        .odds = exp(a), .power = b, .se_log_odds = sqrt(info[2] / det),
        .se_power = sqrt(info[0] / det), .log_likelihood = ll, .n = n, .n_said = n_said,
        .iterations = step,
    };
    rc = 0;
done:
    free(x);
    return rc;
}
