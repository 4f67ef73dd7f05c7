/* recommend/eval.h: the offline evaluation protocol of the recommenders.
 *
 * Train on purchases before `train_until`; test customers are those with
 * purchases both before it and in [train_until, test_until); the truth is
 * the set of distinct items each buys in that window. Track "all" ranks every
 * item; track "new" removes the items the customer bought before from both
 * the ranking and the truth (customers left with no truth are skipped).
 * HR@10 (a hit in the top 10), Recall@20 (|top20 & truth| / |truth|) and
 * NDCG@10 (binary gains, ideal = min(|truth|, 10) hits) are averaged over
 * test customers.
 */
#ifndef SHOP_RECOMMEND_EVAL_H
#define SHOP_RECOMMEND_EVAL_H

#include <stdint.h>

#include "recommend/data.h"
#include "recommend/model.h"

typedef struct {
    double hr10, recall20, ndcg10;
    int users;
} rec_metrics_t;

/* Evaluates kind k of m on d (indexed; m trained with until = train_until)
 * for both tracks. Returns 0, or -1 when m cannot score k. */
int rec_eval(const rec_data_t *d, const rec_model_t *m, rec_kind_t k, int64_t train_until,
             int64_t test_until, rec_metrics_t *all, rec_metrics_t *new_items);

/* The metrics of one ranked list against a truth set (for the tests):
 * ranked[0..n) best first, truth[0..nt) distinct. */
void rec_eval_one(const int32_t *ranked, int n, const int32_t *truth, int nt, double *hr10,
                  double *recall20, double *ndcg10);

#endif
