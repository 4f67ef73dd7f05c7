/* recommend/model.h: the recommendation models, their training and their
 * model file.
 *
 * One rec_model_t holds every trained part over one item index space:
 * popularity (global count, time-decayed trend), item-based CF (cosine over
 * customers, top-K neighbours), "bought together" neighbours (cosine over
 * baskets), EASE (Steck 2019, dense item-item weights), implicit ALS (Hu,
 * Koren, Volinsky 2008, item factors; a customer's factors are solved from
 * the history at query time, so a new event counts at once), a neural
 * recommender built and trained with nn/ (history -> dropout -> dense ReLU ->
 * dense -> softmax over items, Mult-DAE style, AdamW on next-basket targets
 * with early stopping, see docs/recommend.md) and the
 * repeat-aware blend (TIFU-KNN style: personal frequency with recency decay
 * + EASE on a recency-weighted profile + the neural model + trend).
 *
 * Scoring is by a customer's history (rec_hist_t), never by a stored user
 * vector, so unknown customers and fresh events need no retraining.
 * A trained model is read-only: several threads may score with it at once,
 * each with its own workspace.
 *
 * File format (little endian), checked on load (docs/recommend.md):
 *   "SHOPREC1" | u32 version | u32 n_items | u32 n_sections
 *   n_sections x { u32 tag | u32 0 | u64 bytes | payload } | u32 CRC-32 of all before
 */
#ifndef SHOP_RECOMMEND_MODEL_H
#define SHOP_RECOMMEND_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recommend/data.h"

typedef enum {
    REC_POP = 0,    /* global popularity */
    REC_TREND,      /* time-decayed popularity */
    REC_FREQ,       /* personal top-frequency (the simple baseline) */
    REC_KNN,        /* item-based CF, cosine */
    REC_EASE,
    REC_ALS,
    REC_NEURAL,
    REC_BLEND,      /* repeat-aware blend */
    REC_N_KINDS
} rec_kind_t;

/* "pop", "trend", "freq", "itemknn", "ease", "als", "neural", "blend". */
const char *rec_kind_name(rec_kind_t k);
/* -1 when unknown. */
int rec_kind_from_name(const char *name);

typedef struct {
    float trend_half_life_days;   /* decay of the trending popularity */
    int knn_k;                    /* neighbours kept per item */
    float ease_lambda;            /* L2 weight of EASE */
    int als_factors;
    float als_reg;
    float als_alpha;              /* confidence = 1 + alpha * log(1 + count) */
    int als_iters;
    int nn_hidden;
    int nn_epochs;                /* at most; early stopping picks fewer */
    float nn_lr;                  /* AdamW */
    float nn_weight_decay;        /* AdamW's decoupled decay */
    float nn_dropout;             /* input dropout during training */
    float nn_profile_half_life_days;
    float nn_val_days;            /* early stop on the last days of train; 0: off */
    int nn_patience;              /* epochs without a better validation */
    float rep_weight;             /* blend: weight of the personal repeat signal */
    float rep_half_life_days;     /* blend: recency decay of the repeat signal */
    float profile_half_life_days; /* blend: recency decay of EASE's input profile */
    float blend_nn_weight;        /* blend: weight of the neural scores */
    float blend_trend_weight;     /* blend: weight of the trend */
    bool train_ease;              /* EASE needs n_items^2 floats: off for huge catalogues */
    bool train_als;
    bool train_neural;
    uint64_t seed;
} rec_params_t;

/* The defaults, as tuned on the validation split (docs/recommend.md). */
void rec_params_default(rec_params_t *p);
/* Sets one parameter from "name=value" text. Returns 0 / -1 (unknown name or
 * bad value). */
int rec_params_set(rec_params_t *p, const char *assignment);

/* A history event in model item space; histories are sorted by time. */
typedef struct {
    int32_t item;
    int64_t time;
    float w;          /* 1 purchase; less for cart and view (rec_event_weight) */
} rec_hist_ev_t;

typedef struct {
    const rec_hist_ev_t *ev;
    int n;
} rec_hist_t;

/* Weight of an event type in a history (purchase 1, cart 0.5, view 0.2). */
float rec_event_weight(store_event_type_t t);

typedef struct _rec_model_t rec_model_t;
typedef struct _rec_ws_t rec_ws_t;

/* Trains every enabled part on the purchases of d (indexed) with time <
 * until (INT64_MAX: all). Items are d's items, in d's order. log_every > 0
 * prints progress. Returns the model or NULL (message in err). */
rec_model_t *rec_model_train(const rec_data_t *d, int64_t until, const rec_params_t *p,
                             char *err, size_t errlen);
void rec_model_destroy(rec_model_t **m_p);

/* Changes a scoring-time parameter of a trained model (the blend's
 * rep_weight, rep_half_life_days, profile_half_life_days, blend_nn_weight,
 * blend_trend_weight), as the validation tuning does. Returns 0 / -1. Not
 * while other threads score with m. */
int rec_model_set_param(rec_model_t *m, const char *assignment);

int rec_model_n_items(const rec_model_t *m);
/* Item id of index i (owned by the model). */
const char *rec_model_item_id(const rec_model_t *m, int i);
/* Index of an item id, or -1. */
int rec_model_item_index(const rec_model_t *m, const char *id);
/* Whether the model can score kind k (EASE, ALS, neural may be disabled). */
bool rec_model_has(const rec_model_t *m, rec_kind_t k);
/* Seconds each part took to train (0 when loaded from a file). */
double rec_model_train_seconds(const rec_model_t *m, rec_kind_t k);
/* Time-decayed popularity (trend) of item i. */
float rec_model_trend(const rec_model_t *m, int i);

/* Neighbours of item i: *idx / *sim point into the model (valid while it
 * lives), sorted by decreasing similarity; returns how many (<= K).
 * together = false: customers' cosine ("similar"); true: baskets' cosine
 * ("bought together"). */
int rec_model_neighbours(const rec_model_t *m, int i, bool together, const int32_t **idx,
                         const float **sim);

/* EASE weight of item j for item i (how much having j supports i); 0 without EASE. */
float rec_model_ease_weight(const rec_model_t *m, int j, int i);

/* A per-thread scoring workspace (grows as needed); free with rec_ws_destroy. */
rec_ws_t *rec_ws_new(void);
void rec_ws_destroy(rec_ws_t **ws_p);

/* Scores every item for a history at time now into scores[n_items] (higher
 * is better; items bought before are NOT removed here). Returns 0, or -1
 * when the model lacks kind k. */
int rec_model_score(const rec_model_t *m, rec_kind_t k, const rec_hist_t *h, int64_t now,
                    float *scores, rec_ws_t *ws);

/* Writes / reads the model file (see the format above). Load checks the
 * magic, version, CRC and every length and index; returns NULL with a
 * message on any mismatch. */
int rec_model_save(const rec_model_t *m, const char *path, char *err, size_t errlen);
rec_model_t *rec_model_load(const char *path, char *err, size_t errlen);
rec_model_t *rec_model_load_buffer(const uint8_t *buf, size_t len, char *err, size_t errlen);

/* Top k of scores[0..n) (skipping -INFINITY) into idx, best first;
 * returns how many (<= k). */
int rec_topk(const float *scores, int n, int k, int32_t *idx);

#endif
