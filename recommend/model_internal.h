/* recommend/model_internal.h: the model's private structures and the helpers
 * shared by recommend/model.c (parameters, scoring), recommend/model_file.c
 * (the model file) and recommend/model_train.c (training, in the offline
 * library). Not for use outside those files. */
#ifndef SHOP_RECOMMEND_MODEL_INTERNAL_H
#define SHOP_RECOMMEND_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/nn.h"
#include "recommend/model.h"

#define REC_DAY 86400.0

struct _rec_model_t {
    rec_params_t p;            /* the parameters it was trained with */
    int n;                     /* items */
    char **ids;                /* item ids (owned) */
    rec_dict_t *index;         /* id -> item */
    float *pop;                /* purchases per item */
    float *trend;              /* time-decayed purchases at the end of training */
    int knn_k;                 /* neighbours per item (both lists) */
    int32_t *knn_idx;          /* n x knn_k, -1 padded: customers' cosine */
    float *knn_sim;
    int32_t *tog_idx;          /* n x knn_k: baskets' cosine */
    float *tog_sim;
    float *ease;               /* n x n, row j = support given by j; NULL when off */
    int als_f;                 /* factors, 0 when off */
    float *als_y;              /* n x f item factors */
    float *als_yty;            /* f x f */
    uint8_t *nn_blob;          /* the neural net as an nn model file in memory */
    size_t nn_len;
    uint64_t uid;              /* unique per model in this process (workspaces' nets) */
    double secs[REC_N_KINDS];  /* training time per part */
};

struct _rec_ws_t {
    float *buf;                /* scratch floats */
    size_t cap;
    nn_net_t *net;             /* this thread's copy of a model's neural net */
    uint64_t net_uid;          /* the model it belongs to */
};

/* A model of n items trained with p: every array allocated (zeroed), item
 * ids not yet set. Free with rec_model_destroy. */
rec_model_t *rec_model_alloc(int n, const rec_params_t *p);
/* Sets the id of item i (copied) and adds it to the id index. */
void rec_model_set_id(rec_model_t *m, int i, const char *id);

/* Whether every parameter of p is in its range. */
bool rec_params_sane(const rec_params_t *p);
/* Parameter i of p as one "name=value\n" line of the model file into line;
 * returns its length, or -1 past the last parameter (or when len is short). */
int rec_params_line(const rec_params_t *p, size_t i, char *line, size_t len);

/* Solves one row of implicit ALS (Hu, Koren, Volinsky 2008):
 * x = (Y'Y + Y'(C - I)Y + reg I)^-1 Y' C 1, where C holds the confidence
 * 1 + alpha log(1 + count) of the n listed rows of Y (f columns; yty = Y'Y).
 * The count of rows[q] is cnt[rows[q]] when cnt_by_row, else cnt[q]. a is
 * f x f scratch; x gets f floats (zero when the system is singular). Training
 * solves customers and items with it, scoring a customer at query time. */
void rec_als_solve(const float *y, const float *yty, int f, float reg, float alpha,
                   const int32_t *rows, size_t n, const float *cnt, bool cnt_by_row, float *a,
                   float *x);

/* Recency-weighted profile of a history at time now: x[i] = sum of w *
 * 2^(-age / half-life) (half-life 0: every item 1). Returns the number of
 * distinct items; x must be zero on entry. Items listed in nz. */
int rec_profile(const rec_hist_t *h, int64_t now, float half_life_days, float *x, int32_t *nz);
/* L2-normalises the nnz listed entries of a profile in place (the neural
 * net's input: a history's length should not set the scale of its logits). */
void rec_l2_normalise(float *x, const int32_t *nz, int nnz);

#endif
