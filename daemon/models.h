/* daemon/models.h: the recognisers shopd loads (keyword spotter, product CNN).
 *
 * A missing or unreadable model is not fatal: it is logged as a warning,
 * status reports it, and the requests that need it answer "not_available".
 * A reload that fails keeps the model already loaded. */
#ifndef SHOP_DAEMON_MODELS_H
#define SHOP_DAEMON_MODELS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "daemon/conf.h"

typedef struct _models_t models_t;

typedef enum { MODELS_KWS = 0, MODELS_VISION, MODELS_COUNT } models_kind_t;

/* Loads every model named in cfg. Never fails as a whole: see
 * models_ready. Returns the set (caller destroys). */
models_t *models_new(const conf_t *cfg);
void models_destroy(models_t **self_p);

/* Loads the models of cfg again; a model that fails keeps its previous
 * version. Returns 0 when all loaded, -1 when one failed (logged). */
int models_reload(models_t *self, const conf_t *cfg);

/* True when the model of that kind is loaded. When false and why is not
 * NULL, *why is a message saying why (owned by self). */
bool models_ready(const models_t *self, models_kind_t kind, const char **why);

/* {"kws": {"loaded": bool, "path": ..., "error": ...}, "vision": {...}}: a
 * new object. */
json_t *models_status_json(const models_t *self);

#endif
