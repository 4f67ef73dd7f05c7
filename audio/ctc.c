/* audio/ctc.c: CTC loss and gradient (see ctc.h). */
#include "audio/ctc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static inline double
s_lse(double a, double b)
{
    if (a == -INFINITY)
        return b;
    if (b == -INFINITY)
        return a;
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

int
ctc_min_frames(const int *labels, int n_labels)
{
    int n = n_labels;
    for (int i = 1; i < n_labels; i++)
        n += labels[i] == labels[i - 1];
    return n;
}

double
ctc_loss(const float *logits, int T, int K, int blank, const int *labels, int n_labels,
         float scale, float *grad)
{
    if (!logits || T < 1 || K < 2 || blank < 0 || blank >= K || n_labels < 0
        || (n_labels > 0 && !labels))
        return NAN;
    for (int i = 0; i < n_labels; i++)
        if (labels[i] < 0 || labels[i] >= K || labels[i] == blank)
            return NAN;
    if (grad)
        memset(grad, 0, (size_t) T * (size_t) K * sizeof *grad);
    if (ctc_min_frames(labels, n_labels) > T)
        return INFINITY;
    int S = 2 * n_labels + 1;
    /* log-softmax per frame */
    double *lp = xmallocarray((size_t) T * (size_t) K, sizeof *lp);
    for (int t = 0; t < T; t++) {
        double mx = -INFINITY;
        for (int k = 0; k < K; k++)
            mx = fmax(mx, logits[(size_t) k * T + t]);
        double sum = 0;
        for (int k = 0; k < K; k++)
            sum += exp(logits[(size_t) k * T + t] - mx);
        double lz = mx + log(sum);
        for (int k = 0; k < K; k++)
            lp[(size_t) t * K + k] = logits[(size_t) k * T + t] - lz;
    }
    /* extended sequence: blank, l1, blank, l2, ..., blank */
    int *ext = xmallocarray((size_t) S, sizeof *ext);
    for (int s = 0; s < S; s++)
        ext[s] = s % 2 ? labels[s / 2] : blank;
    double *al = xmallocarray((size_t) T * (size_t) S, sizeof *al);
    double *be = xmallocarray((size_t) T * (size_t) S, sizeof *be);
    for (int i = 0; i < T * S; i++)
        al[i] = be[i] = -INFINITY;
    /* alpha: probability of the prefix ending in state s at frame t (emissions up to t) */
    al[0] = lp[ext[0]];
    if (S > 1)
        al[1] = lp[ext[1]];
    for (int t = 1; t < T; t++)
        for (int s = 0; s < S; s++) {
            double a = al[(size_t) (t - 1) * S + s];
            if (s > 0)
                a = s_lse(a, al[(size_t) (t - 1) * S + s - 1]);
            if (s > 1 && ext[s] != blank && ext[s] != ext[s - 2])
                a = s_lse(a, al[(size_t) (t - 1) * S + s - 2]);
            if (a != -INFINITY)
                al[(size_t) t * S + s] = a + lp[(size_t) t * K + ext[s]];
        }
    /* beta: probability of the rest after frame t given state s at t (emissions after t) */
    be[(size_t) (T - 1) * S + S - 1] = 0;
    if (S > 1)
        be[(size_t) (T - 1) * S + S - 2] = 0;
    for (int t = T - 2; t >= 0; t--)
        for (int s = 0; s < S; s++) {
            const double *bn = be + (size_t) (t + 1) * S, *ln = lp + (size_t) (t + 1) * K;
            double b = bn[s] + ln[ext[s]];
            if (s + 1 < S)
                b = s_lse(b, bn[s + 1] + ln[ext[s + 1]]);
            if (s + 2 < S && ext[s + 2] != blank && ext[s + 2] != ext[s])
                b = s_lse(b, bn[s + 2] + ln[ext[s + 2]]);
            be[(size_t) t * S + s] = b;
        }
    double lpz = al[(size_t) (T - 1) * S + S - 1];
    if (S > 1)
        lpz = s_lse(lpz, al[(size_t) (T - 1) * S + S - 2]);
    if (grad && isfinite(lpz)) {
        /* d(-log p)/d logit[k][t] = softmax - occupancy of the states labelled k */
        double *occ = xmallocarray((size_t) K, sizeof *occ);
        for (int t = 0; t < T; t++) {
            for (int k = 0; k < K; k++)
                occ[k] = -INFINITY;
            for (int s = 0; s < S; s++)
                occ[ext[s]] = s_lse(occ[ext[s]], al[(size_t) t * S + s] + be[(size_t) t * S + s]);
            for (int k = 0; k < K; k++)
                grad[(size_t) k * T + t] = (float) (scale * (exp(lp[(size_t) t * K + k])
                                                             - exp(occ[k] - lpz)));
        }
        free(occ);
    }
    free(lp);
    free(ext);
    free(al);
    free(be);
    return isfinite(lpz) ? -lpz : INFINITY;
}

int
ctc_greedy(const float *logits, int T, int K, int blank, int *out, int max)
{
    int n = 0, prev = -1;
    for (int t = 0; t < T; t++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (logits[(size_t) k * T + t] > logits[(size_t) best * T + t])
                best = k;
        if (best != blank && best != prev && n < max)
            out[n++] = best;
        prev = best;
    }
    return n;
}

int
ctc_edit_distance(const int *a, int na, const int *b, int nb)
{
    int *row = xmallocarray((size_t) nb + 1, sizeof *row);
    for (int j = 0; j <= nb; j++)
        row[j] = j;
    for (int i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= nb; j++) {
            int up = row[j];
            int sub = diag + (a[i - 1] != b[j - 1]);
            int v = SHOP_MIN(sub, SHOP_MIN(up + 1, row[j - 1] + 1));
            diag = up;
            row[j] = v;
        }
    }
    int d = row[nb];
    free(row);
    return d;
}
