/* recommend/eval.c: the offline evaluation protocol (see eval.h). */
#include "recommend/eval.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void
rec_eval_one(const int32_t *ranked, int n, const int32_t *truth, int nt, double *hr10,
             double *recall20, double *ndcg10)
{
    int hits10 = 0, hits20 = 0;
    double dcg = 0, idcg = 0;
    for (int r = 0; r < n && r < 20; r++) {
        bool hit = false;
        for (int t = 0; t < nt && !hit; t++)
            hit = truth[t] == ranked[r];
        if (!hit)
            continue;
        hits20++;
        if (r < 10) {
            hits10++;
            dcg += 1.0 / log2(r + 2.0);
        }
    }
    for (int r = 0; r < nt && r < 10; r++)
        idcg += 1.0 / log2(r + 2.0);
    *hr10 = hits10 > 0;
    *recall20 = nt ? (double) hits20 / nt : 0;
    *ndcg10 = idcg > 0 ? dcg / idcg : 0;
}

int
rec_eval(const rec_data_t *d, const rec_model_t *m, rec_kind_t k, int64_t train_until,
         int64_t test_until, rec_metrics_t *all, rec_metrics_t *new_items)
{
    if (!rec_model_has(m, k))
        return -1;
    int n = rec_model_n_items(m);
    memset(all, 0, sizeof *all);
    memset(new_items, 0, sizeof *new_items);
    float *scores = xmallocarray((size_t) n, sizeof *scores);
    bool *seen = xcalloc((size_t) n, sizeof *seen);
    bool *in_truth = xcalloc((size_t) n, sizeof *in_truth);
    int32_t *truth = xmallocarray((size_t) n, sizeof *truth);
    int32_t *truth_new = xmallocarray((size_t) n, sizeof *truth_new);
    int32_t top[20];
    rec_hist_ev_t *hist = xmallocarray(d->n_ev + 1, sizeof *hist);
    rec_ws_t *ws = rec_ws_new();
    for (int u = 0; u < rec_dict_size(d->users); u++) {
        int hn = 0, nt = 0, ntn = 0;
        for (size_t e = d->user_start[u]; e < d->user_start[u + 1]; e++) {
            const rec_event_t *x = &d->ev[e];
            if (x->type != STORE_EVENT_PURCHASE || x->item >= n)
                continue;
            if (x->time < train_until) {
                hist[hn++] = (rec_hist_ev_t) { x->item, x->time, 1.0f };
                seen[x->item] = true;
            } else if (x->time < test_until && !in_truth[x->item]) {
                in_truth[x->item] = true;
                truth[nt++] = x->item;
            }
        }
        if (hn > 0 && nt > 0) {
            for (int t = 0; t < nt; t++)
                if (!seen[truth[t]])
                    truth_new[ntn++] = truth[t];
            rec_hist_t h = { hist, hn };
            rec_model_score(m, k, &h, train_until, scores, ws);
            double hr, rc, nd;
            int got = rec_topk(scores, n, 20, top);
            rec_eval_one(top, got, truth, nt, &hr, &rc, &nd);
            all->hr10 += hr, all->recall20 += rc, all->ndcg10 += nd, all->users++;
            if (ntn > 0) {
                for (int e = 0; e < hn; e++)
                    scores[hist[e].item] = -INFINITY;
                got = rec_topk(scores, n, 20, top);
                rec_eval_one(top, got, truth_new, ntn, &hr, &rc, &nd);
                new_items->hr10 += hr, new_items->recall20 += rc, new_items->ndcg10 += nd;
                new_items->users++;
            }
        }
        for (int e = 0; e < hn; e++)
            seen[hist[e].item] = false;
        for (int t = 0; t < nt; t++)
            in_truth[truth[t]] = false;
    }
    rec_metrics_t *ms[2] = { all, new_items };
    for (int j = 0; j < 2; j++) {
        if (ms[j]->users > 0) {
            ms[j]->hr10 /= ms[j]->users;
            ms[j]->recall20 /= ms[j]->users;
            ms[j]->ndcg10 /= ms[j]->users;
        }
    }
    rec_ws_destroy(&ws);
    free(hist);
    free(scores);
    free(seen);
    free(in_truth);
    free(truth);
    free(truth_new);
    return 0;
}
