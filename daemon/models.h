/* daemon/models.h: the recognisers shopd loads (keyword spotter with the
 * intent grammar, product CNN with the visual index of the catalogue).
 *
 * A missing or unreadable model is not fatal: it is logged as a warning,
 * status reports it, and the requests that need it answer "not_available".
 * A reload that fails keeps the model already loaded.
 *
 * The visual index holds the embedding of every catalogue photo the store
 * names (paths relative to the data directory or to data/demo); it is made
 * when the product model loads and again on every reload (SIGHUP), so a new
 * catalogue is searchable without a restart. Embedding 250 photos costs
 * seconds of CPU, so the index is cached in a file next to the database
 * (<database>.vindex, written atomically) under a key naming the model's
 * CRC-32 and size and every photo's product, path, size and modification
 * time: a start or reload whose key matches loads the file instead. A cache
 * that does not load (damaged, forged, another format), does not match the
 * key, names photos that do not exist or whose first photo no longer embeds
 * to the cached vector (the code that embeds changed) is logged and rebuilt.
 * Everything here is used by the server's main thread, except the keyword
 * spotter and the product classifier, which the worker pool's threads use
 * too: any thread other than the main one calls models_kws / models_vision
 * and uses what they return only between models_lock and models_unlock;
 * models_reload holds the lock while it swaps models and rebuilds the
 * index. */
#ifndef SHOP_DAEMON_MODELS_H
#define SHOP_DAEMON_MODELS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "audio/intent.h"
#include "audio/kws.h"
#include "daemon/conf.h"
#include "recommend/store.h"
#include "vision/classify.h"

typedef struct _models_t models_t;

typedef enum { MODELS_KWS = 0, MODELS_VISION, MODELS_COUNT } models_kind_t;

/* Loads every model named in cfg and the shipped grammar, and indexes the
 * photos of store's catalogue (store borrowed for the call; its path places
 * the index cache, none for ":memory:"). Never fails as a whole: see
 * models_ready. Returns the set (caller destroys). */
models_t *models_new(const conf_t *cfg, store_t *store);
void models_destroy(models_t **self_p);

/* Loads the models of cfg again (a model that fails keeps its previous
 * version) and rebuilds the visual index from store. Returns 0 when all
 * loaded, -1 when one failed (logged). */
int models_reload(models_t *self, const conf_t *cfg, store_t *store);

/* The lock over the recognisers (see above). Not recursive. */
void models_lock(models_t *self);
void models_unlock(models_t *self);

/* True when the model of that kind is loaded (for MODELS_KWS: with its
 * grammar). When false and why is not NULL, *why is a message saying why
 * (owned by self). */
bool models_ready(const models_t *self, models_kind_t kind, const char **why);

/* The keyword spotter, the grammar (wake word not required: a request is
 * already addressed to the shop; the spotter model's belief constants when
 * it carries them, kws_belief) and the product classifier, owned by self;
 * NULL when not loaded. */
kws_t *models_kws(models_t *self);
const intent_t *models_grammar(models_t *self);
vision_classifier_t *models_vision(models_t *self);

/* One product found by visual search (out). */
typedef struct {
    char item[STORE_ID_MAX];
    float score;            /* cosine similarity */
} models_match_t;

/* Writes up to k catalogue products whose photos look most like emb (the
 * classifier's embedding) to out, best first, one entry per product and
 * never the product `exclude` (may be NULL). Returns the number written (0
 * when there is no index). */
int models_visual_search(models_t *self, const float *emb, int k, const char *exclude,
                         models_match_t *out);

/* The embedding of product item's photo (owned by self, valid until the
 * next reload), or NULL when it has none in the index. */
const float *models_item_embedding(models_t *self, const char *item);

/* {"kws": {"loaded": bool, "path": ..., "error": ...}, "vision": {...,
 * "indexed_photos": n, "index_from": "cache" | "photos", "index_cache":
 * path}}: a new object (the server adds "decoder", its workers' jailed
 * decoders). */
json_t *models_status_json(const models_t *self);

#endif
