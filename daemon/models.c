/* daemon/models.c: see models.h */
#include "config.h"

#include "daemon/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "nn/nn.h"

static const char *const s_names[MODELS_COUNT] = { "kws", "vision" };

typedef struct {
    nn_net_t *net;              /* loaded network, NULL when none */
    char path[CONF_PATH_MAX]; /* resolved file it came from */
    char error[512];            /* why the last load failed, "" when it did not */
} s_model_t;

struct _models_t {
    s_model_t m[MODELS_COUNT];
};

static const char *
s_config_path(const conf_t *cfg, models_kind_t k)
{
    return k == MODELS_KWS ? cfg->kws_model : cfg->vision_model;
}

/* Loads one model; keeps the old network when the new file fails. */
static int
s_load(s_model_t *m, const char *name, const char *want)
{
    char buf[CONF_PATH_MAX];
    const char *path = want[0] == '/' ? want : shop_data_path(want, buf, sizeof buf);
    if (!want[0]) {
        snprintf(m->error, sizeof m->error, "no %s model configured", name);
        return -1;
    }
    if (!path) {
        snprintf(m->error, sizeof m->error, "%s model %s not found", name, want);
        log_warn("models: %s; requests that need it answer not_available", m->error);
        return -1;
    }
    char err[400];
    nn_net_t *net = nn_load(path, err, sizeof err);
    if (!net) {
        snprintf(m->error, sizeof m->error, "%s model %s: %s", name, path, err);
        log_warn("models: %s%s", m->error, m->net ? " (keeping the one loaded before)" : "");
        return -1;
    }
    nn_destroy(&m->net);
    m->net = net;
    shop_strlcpy(m->path, path, sizeof m->path);
    m->error[0] = 0;
    log_info("models: %s loaded from %s (%zu parameters)", name, path, nn_num_params(net));
    return 0;
}

models_t *
models_new(const conf_t *cfg)
{
    models_t *self = xcalloc(1, sizeof *self);
    models_reload(self, cfg);
    return self;
}

void
models_destroy(models_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int k = 0; k < MODELS_COUNT; k++)
        nn_destroy(&(*self_p)->m[k].net);
    free(*self_p);
    *self_p = NULL;
}

int
models_reload(models_t *self, const conf_t *cfg)
{
    int rc = 0;
    for (int k = 0; k < MODELS_COUNT; k++)
        if (s_load(&self->m[k], s_names[k], s_config_path(cfg, (models_kind_t) k)) != 0)
            rc = -1;
    return rc;
}

bool
models_ready(const models_t *self, models_kind_t kind, const char **why)
{
    const s_model_t *m = &self->m[kind];
    if (!m->net && why)
        *why = m->error;
    return m->net != NULL;
}

json_t *
models_status_json(const models_t *self)
{
    json_t *o = json_object();
    for (int k = 0; k < MODELS_COUNT; k++) {
        const s_model_t *m = &self->m[k];
        json_t *e = json_pack("{s:b}", "loaded", m->net != NULL);
        if (m->net)
            json_object_set_new(e, "path", json_string(m->path));
        if (m->error[0])
            json_object_set_new(e, "error", json_string(m->error));
        json_object_set_new(o, s_names[k], e);
    }
    return o;
}
