/* recommend/retrain.h: retraining a running engine from its store (offline
 * library: it trains). `shop-recommend --retrain` runs it on a schedule. */
#ifndef SHOP_RECOMMEND_RETRAIN_H
#define SHOP_RECOMMEND_RETRAIN_H

#include <stddef.h>

#include "recommend/model.h"
#include "recommend/query.h"

/* Reads the store at db_path through a connection of its own, trains a model
 * with p, saves it to save_path when non-NULL (atomically), and swaps it into
 * e. Blocking (seconds to minutes): the caller runs it in a thread of its own;
 * queries go on meanwhile. Returns 0 / -1 with a message in err. */
int rec_engine_retrain(rec_engine_t *e, const char *db_path, const rec_params_t *p,
                       const char *save_path, char *err, size_t errlen);

#endif
