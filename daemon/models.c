/* daemon/models.c: see models.h */
#include "config.h"

#include "daemon/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "vision/index.h"

static const char *const s_names[MODELS_COUNT] = { "kws", "vision" };

typedef struct {
    void *obj;                  /* kws_t or vision_classifier_t, NULL when none */
    char path[CONF_PATH_MAX];   /* resolved file it came from */
    char error[2048];           /* why the last load failed, "" when it did not */
} s_model_t;

struct _models_t {
    s_model_t m[MODELS_COUNT];
    intent_t *grammar;          /* shipped grammar, wake word not required */
    vision_index_t *index;      /* catalogue photo embeddings, id = position in items */
    char (*items)[STORE_ID_MAX]; /* product of each indexed photo */
    float *emb;                 /* their embeddings, n_items x dim */
    int n_items, dim;
    sandbox_t *sandbox;         /* decoder worker for request bytes, NULL when none */
};

static const char *
s_config_path(const conf_t *cfg, models_kind_t k)
{
    return k == MODELS_KWS ? cfg->kws_model : cfg->vision_model;
}

static void
s_free_obj(models_kind_t k, void **obj)
{
    if (k == MODELS_KWS)
        kws_destroy((kws_t **) obj);
    else
        vision_classifier_destroy((vision_classifier_t **) obj);
}

/* Loads one model; keeps the old one when the new file fails. */
static int
s_load(s_model_t *m, models_kind_t k, const char *want)
{
    const char *name = s_names[k];
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
    void *obj = k == MODELS_KWS ? (void *) kws_new(path, NULL, err, sizeof err)
                                : (void *) vision_classifier_new(path, err, sizeof err);
    if (!obj) {
        snprintf(m->error, sizeof m->error, "%s model %s: %s", name, path, err);
        log_warn("models: %s%s", m->error, m->obj ? " (keeping the one loaded before)" : "");
        return -1;
    }
    s_free_obj(k, &m->obj);
    m->obj = obj;
    shop_strlcpy(m->path, path, sizeof m->path);
    m->error[0] = 0;
    log_info("models: %s loaded from %s", name, path);
    return 0;
}

static void
s_index_clear(models_t *self)
{
    vision_index_destroy(&self->index);
    free(self->items);
    free(self->emb);
    self->items = NULL;
    self->emb = NULL;
    self->n_items = self->dim = 0;
}

/* Finds a catalogue photo: relative to the data directory, else to data/demo
 * (where the bundled store's catalogue.csv names "photos/x.png"). */
static const char *
s_photo_path(const char *photo, char *buf, size_t len)
{
    if (photo[0] == '/')
        return photo;
    const char *p = shop_data_path(photo, buf, len);
    if (p)
        return p;
    char rel[STORE_PHOTO_MAX + 16];
    snprintf(rel, sizeof rel, "data/demo/%s", photo);
    return shop_data_path(rel, buf, len);
}

/* Embeds every catalogue photo with the loaded classifier. A photo that
 * cannot be read or classified is logged and left out. */
static void
s_index_build(models_t *self, store_t *store)
{
    s_index_clear(self);
    vision_classifier_t *clf = self->m[MODELS_VISION].obj;
    if (!clf || !store)
        return;
    uint64_t t0 = shop_now_ns();
    int dim = vision_classifier_dim(clf), cap = 0, skipped = 0;
    vision_index_t *idx = vision_index_new(dim);
    if (!idx)
        return;
    enum { PAGE = 200 };
    for (int64_t off = 0;; off += PAGE) {
        store_item_t *items = NULL;
        size_t n = 0;
        if (store_item_list(store, "", off, PAGE, &items, &n) != 0) {
            log_warn("models: listing the catalogue for the visual index: %s",
                     store_errmsg(store));
            break;
        }
        for (size_t i = 0; i < n; i++) {
            char buf[CONF_PATH_MAX], err[256];
            if (!items[i].photo[0])
                continue;
            const char *path = s_photo_path(items[i].photo, buf, sizeof buf);
            vision_image_t img;
            vision_result_t res;
            if (!path || vision_decode_file(path, NULL, 1, &img, err, sizeof err) != 0) {
                skipped++;
                log_debug("models: photo %s of %s: %s", items[i].photo, items[i].id,
                          path ? err : "not found");
                continue;
            }
            int c = vision_classify(clf, &img, &res);
            vision_image_release(&img);
            if (c != 0 || vision_index_add(idx, self->n_items, res.embedding) != 0) {
                skipped++;
                continue;
            }
            if (self->n_items == cap) {
                cap = cap ? 2 * cap : 256;
                self->items = xrealloc(self->items, (size_t) cap * sizeof *self->items);
                self->emb = xrealloc(self->emb, (size_t) cap * (size_t) dim * sizeof(float));
            }
            shop_strlcpy(self->items[self->n_items], items[i].id, STORE_ID_MAX);
            memcpy(self->emb + (size_t) self->n_items * (size_t) dim, res.embedding,
                   (size_t) dim * sizeof(float));
            self->n_items++;
        }
        free(items);
        if (n < PAGE)
            break;
    }
    self->index = idx;
    self->dim = dim;
    log_info("models: visual index of %d catalogue photos built in %.0f ms (%d skipped)",
             self->n_items, (double) (shop_now_ns() - t0) / 1e6, skipped);
}

models_t *
models_new(const conf_t *cfg, store_t *store)
{
    models_t *self = xcalloc(1, sizeof *self);
    char err[512];
    self->sandbox = sandbox_new(NULL, err, sizeof err);
    if (!self->sandbox)
        log_warn("models: no decoder worker (%s); photos and audio are decoded in-process", err);
    models_reload(self, cfg, store);
    return self;
}

void
models_destroy(models_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    models_t *self = *self_p;
    for (int k = 0; k < MODELS_COUNT; k++)
        s_free_obj((models_kind_t) k, &self->m[k].obj);
    intent_destroy(&self->grammar);
    s_index_clear(self);
    sandbox_destroy(&self->sandbox);
    free(self);
    *self_p = NULL;
}

int
models_reload(models_t *self, const conf_t *cfg, store_t *store)
{
    int rc = 0;
    for (int k = 0; k < MODELS_COUNT; k++)
        if (s_load(&self->m[k], (models_kind_t) k, s_config_path(cfg, (models_kind_t) k)) != 0)
            rc = -1;
    intent_config_t ic;
    intent_config_default(&ic);
    ic.require_wake = false;
    char err[400];
    intent_t *g = intent_new_from_file(NULL, &ic, err, sizeof err);
    if (g) {
        intent_destroy(&self->grammar);
        self->grammar = g;
    } else {
        log_warn("models: grammar: %s%s", err,
                 self->grammar ? " (keeping the one loaded before)" : "");
        if (!self->grammar)
            snprintf(self->m[MODELS_KWS].error, sizeof self->m[MODELS_KWS].error,
                     "grammar: %s", err);
        rc = -1;
    }
    s_index_build(self, store);
    return rc;
}

bool
models_ready(const models_t *self, models_kind_t kind, const char **why)
{
    const s_model_t *m = &self->m[kind];
    bool ok = m->obj && (kind != MODELS_KWS || self->grammar);
    if (!ok && why)
        *why = m->error;
    return ok;
}

kws_t *
models_kws(models_t *self)
{
    return self->m[MODELS_KWS].obj;
}

const intent_t *
models_grammar(models_t *self)
{
    return self->grammar;
}

vision_classifier_t *
models_vision(models_t *self)
{
    return self->m[MODELS_VISION].obj;
}

sandbox_t *
models_sandbox(models_t *self)
{
    return self->sandbox;
}

int
models_visual_search(models_t *self, const float *emb, int k, const char *exclude,
                     models_match_t *out)
{
    if (!self->index || self->n_items == 0 || k <= 0)
        return 0;
    /* a product may have several photos: ask for more and keep one each */
    int want = k * 2 + 1 < self->n_items ? k * 2 + 1 : self->n_items;
    vision_hit_t *hits = xcalloc((size_t) want, sizeof *hits);
    int nh = vision_index_search(self->index, emb, want, -1, hits), n = 0;
    for (int i = 0; i < nh && n < k; i++) {
        const char *item = self->items[hits[i].id];
        bool dup = exclude && !strcmp(item, exclude);
        for (int j = 0; j < n && !dup; j++)
            dup = !strcmp(out[j].item, item);
        if (dup)
            continue;
        shop_strlcpy(out[n].item, item, sizeof out[n].item);
        out[n++].score = hits[i].score;
    }
    free(hits);
    return n;
}

const float *
models_item_embedding(models_t *self, const char *item)
{
    for (int i = 0; i < self->n_items; i++)
        if (!strcmp(self->items[i], item))
            return self->emb + (size_t) i * (size_t) self->dim;
    return NULL;
}

json_t *
models_status_json(const models_t *self)
{
    json_t *o = json_object();
    for (int k = 0; k < MODELS_COUNT; k++) {
        const s_model_t *m = &self->m[k];
        json_t *e = json_pack("{s:b}", "loaded", models_ready(self, (models_kind_t) k, NULL));
        if (m->obj)
            json_object_set_new(e, "path", json_string(m->path));
        if (m->error[0])
            json_object_set_new(e, "error", json_string(m->error));
        if (k == MODELS_VISION)
            json_object_set_new(e, "indexed_photos", json_integer(self->n_items));
        json_object_set_new(o, s_names[k], e);
    }
    json_t *dec = json_pack("{s:b}", "jailed", self->sandbox != NULL);
    if (self->sandbox) {
        sandbox_stats_t st;
        sandbox_stats(self->sandbox, &st);
        json_object_set_new(dec, "requests", json_integer((json_int_t) st.requests));
        json_object_set_new(dec, "rejected", json_integer((json_int_t) st.rejected));
        json_object_set_new(dec, "restarts", json_integer((json_int_t) st.restarts));
    }
    json_object_set_new(o, "decoder", dec);
    return o;
}
