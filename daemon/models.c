/* daemon/models.c: see models.h */
#include "config.h"

#include "daemon/models.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "common/log.h"
#include "common/util.h"
#include "recommend/store.h"
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
    char (*items)[STORE_ID_MAX]; /* product of each catalogue photo, n_items */
    int n_items;
    bool index_cached;          /* the index came from the cache file */
    char cache[CONF_PATH_MAX];  /* the cache file, "" when the database has no file */
    pthread_mutex_t lock;       /* the recognisers, against the pool's threads */
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
        log_warn("models: %s; requests that need it answer not_available", m->error);
        return -1;
    }
    if (!path || access(path, F_OK) != 0) {
        snprintf(m->error, sizeof m->error, "%s model %s not found", name, want);
        log_warn("models: %s; requests that need it answer not_available", m->error);
        return -1;
    }
    char err[400];
    void *obj = k == MODELS_KWS ? (void *) kws_new(path, NULL, err, sizeof err)
                                : (void *) vision_classifier_new(path, err, sizeof err);
    if (!obj) {
        /* the loaders' messages start with the path */
        snprintf(m->error, sizeof m->error, "%s model %s", name, err);
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
    self->items = NULL;
    self->n_items = 0;
    self->index_cached = false;
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

/* A catalogue photo to index (path "" when the file was not found). */
typedef struct {
    char item[STORE_ID_MAX];
    char path[CONF_PATH_MAX];
} s_photo_t;

/* Lists the products of store that name a photo. Returns the array (caller
 * frees) and its length in *n; NULL with *n = 0 when there are none or the
 * listing failed (logged). */
static s_photo_t *
s_catalogue_photos(store_t *store, int *n)
{
    s_photo_t *list = NULL;
    int cap = 0;
    *n = 0;
    enum { PAGE = 200 };
    for (int64_t off = 0;; off += PAGE) {
        store_item_t *items = NULL;
        size_t got = 0;
        if (store_item_list(store, "", off, PAGE, &items, &got) != 0) {
            log_warn("models: listing the catalogue for the visual index: %s",
                     store_errmsg(store));
            break;
        }
        for (size_t i = 0; i < got; i++) {
            if (!items[i].photo[0])
                continue;
            if (*n == cap) {
                cap = cap ? 2 * cap : 256;
                list = xrealloc(list, (size_t) cap * sizeof *list);
            }
            s_photo_t *ph = &list[(*n)++];
            shop_strlcpy(ph->item, items[i].id, sizeof ph->item);
            char buf[CONF_PATH_MAX];
            const char *path = s_photo_path(items[i].photo, buf, sizeof buf);
            shop_strlcpy(ph->path, path ? path : "", sizeof ph->path);
        }
        free(items);
        if (got < PAGE)
            break;
    }
    return list;
}

/* Appends printf-style text to the growing string *buf (*len used, *cap
 * allocated). */
static void __attribute__((format(printf, 4, 5)))
s_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    if (*len + (size_t) k + 1 > *cap) {
        *cap = (*len + (size_t) k + 1) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    va_start(ap, fmt);
    vsnprintf(*buf + *len, (size_t) k + 1, fmt, ap);
    va_end(ap);
    *len += (size_t) k;
}

/* What the index is made from, as text: the product model's CRC-32 and size,
 * then one line per photo with its product, path, size and modification
 * time. A cached index is used only when its key is this text exactly.
 * Returns a new string (caller frees), or NULL when the model file cannot
 * be read (then nothing is cached). */
static char *
s_index_key(const char *model_path, const s_photo_t *list, int n)
{
    size_t mlen = 0;
    char err[256];
    uint8_t *model = shop_read_file(model_path, (size_t) 1 << 30, &mlen, err, sizeof err);
    if (!model) {
        log_warn("models: visual index cache not used: %s", err);
        return NULL;
    }
    /* at most 1 GiB: one call of zlib's crc32 */
    uLong crc = crc32(0, model, (uInt) mlen);
    free(model);
    char *key = NULL;
    size_t len = 0, cap = 0;
    s_append(&key, &len, &cap, "shopd visual index of catalogue photos\n"
             "model crc32 %08lx, %zu bytes\n", (unsigned long) crc, mlen);
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (list[i].path[0] && stat(list[i].path, &st) == 0)
            s_append(&key, &len, &cap, "%s\t%s\t%lld bytes\t%lld.%09ld\n", list[i].item,
                     list[i].path, (long long) st.st_size, (long long) st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec);
        else
            s_append(&key, &len, &cap, "%s\t%s\tmissing\n", list[i].item, list[i].path);
    }
    return key;
}

/* The first line where two keys differ, for the log (into buf). */
static const char *
s_key_diff(const char *a, const char *b, char *buf, size_t len)
{
    const char *line = a;
    for (; *a && *a == *b; a++, b++)
        if (*a == '\n')
            line = a + 1;
    size_t n = strcspn(line, "\n");
    snprintf(buf, len, "%.*s", (int) (n > 200 ? 200 : n), line);
    return buf;
}

/* Decodes and classifies one catalogue photo. Returns 0 with its embedding
 * in *res (owned by clf), or -1 (logged at debug level). */
static int
s_embed(vision_classifier_t *clf, const s_photo_t *ph, vision_result_t *res)
{
    char err[256];
    vision_image_t img;
    if (!ph->path[0] || vision_decode_file(ph->path, NULL, 1, &img, err, sizeof err) != 0) {
        log_debug("models: photo of %s: %s", ph->item, ph->path[0] ? err : "not found");
        return -1;
    }
    int c = vision_classify(clf, &img, res);
    vision_image_release(&img);
    return c;
}

/* Loads the cached index when it was made from exactly what key describes
 * and by the classifier as it computes now. Returns it, or NULL (why is
 * logged: a missing cache quietly, a refused one as a warning). */
static vision_index_t *
s_index_load_cache(models_t *self, vision_classifier_t *clf, const char *key,
                   const s_photo_t *list, int n)
{
    struct stat st;
    if (stat(self->cache, &st) != 0 && errno == ENOENT)
        return NULL;
    char err[512], *saved = NULL, why[256];
    vision_index_t *idx = vision_index_load(self->cache, &saved, err, sizeof err);
    if (!idx) {
        log_warn("models: visual index cache refused: %s; rebuilding it", err);
        return NULL;
    }
    if (strcmp(saved, key) != 0) {
        log_info("models: visual index cache %s is out of date (from \"%s\"); rebuilding it",
                 self->cache, s_key_diff(key, saved, why, sizeof why));
        goto refuse;
    }
    /* outside bytes: every id must name a photo of the listing */
    for (int j = 0; j < vision_index_size(idx); j++) {
        int64_t id = -1;
        vision_index_item(idx, j, &id);
        if (id < 0 || id >= n) {
            log_warn("models: visual index cache %s: item %d names photo %lld of %d; "
                     "rebuilding it", self->cache, j, (long long) id, n);
            goto refuse;
        }
    }
    if (vision_index_dim(idx) != vision_classifier_dim(clf)) {
        log_warn("models: visual index cache %s holds %d-float embeddings, the model makes %d; "
                 "rebuilding it", self->cache, vision_index_dim(idx), vision_classifier_dim(clf));
        goto refuse;
    }
    /* the key names the files, not the code that embeds them: one photo is
     * embedded again and must land where the cache says (a different BLAS
     * kernel moves it by ~1e-6, a changed preprocessing by far more) */
    if (vision_index_size(idx) > 0) {
        int64_t id;
        const float *v = vision_index_item(idx, 0, &id);
        vision_result_t res;
        if (s_embed(clf, &list[id], &res) != 0) {
            log_warn("models: visual index cache %s: the photo of %s no longer reads; "
                     "rebuilding it", self->cache, list[id].item);
            goto refuse;
        }
        double dot = 0;
        for (int i = 0; i < res.dim; i++)
            dot += (double) v[i] * res.embedding[i];
        if (!(dot > 0.9999)) {
            log_warn("models: visual index cache %s: the photo of %s embeds differently now "
                     "(cosine %.6f); rebuilding it", self->cache, list[id].item, dot);
            goto refuse;
        }
    }
    free(saved);
    return idx;
refuse:
    free(saved);
    vision_index_destroy(&idx);
    return NULL;
}

/* CPU time of the process (with any BLAS threads), in ns. */
static uint64_t
s_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* Indexes every catalogue photo with the loaded classifier: from the cache
 * file next to the database when it still describes the same model and
 * photos, else by embedding each photo (one that cannot be read or
 * classified is logged and left out) and saving the cache. */
static void
s_index_build(models_t *self, store_t *store)
{
    s_index_clear(self);
    vision_classifier_t *clf = self->m[MODELS_VISION].obj;
    if (!clf || !store)
        return;
    uint64_t t0 = shop_now_ns(), c0 = s_cpu_ns();
    int n = 0;
    s_photo_t *list = s_catalogue_photos(store, &n);
    char *key = self->cache[0] ? s_index_key(self->m[MODELS_VISION].path, list, n) : NULL;
    vision_index_t *idx = key ? s_index_load_cache(self, clf, key, list, n) : NULL;
    int skipped = 0;
    if (idx) {
        self->index_cached = true;
    } else {
        idx = vision_index_new(vision_classifier_dim(clf));
        for (int i = 0; idx && i < n; i++) {
            vision_result_t res;
            if (s_embed(clf, &list[i], &res) != 0 || vision_index_add(idx, i, res.embedding) != 0)
                skipped++;
        }
    }
    if (!idx) {
        free(key);
        free(list);
        return;
    }
    self->items = xcalloc((size_t) (n ? n : 1), sizeof *self->items);
    for (int i = 0; i < n; i++)
        shop_strlcpy(self->items[i], list[i].item, STORE_ID_MAX);
    self->n_items = n;
    self->index = idx;
    /* wall and CPU time: on a busy machine the first is mostly waiting */
    double ms = (double) (shop_now_ns() - t0) / 1e6, cpu = (double) (s_cpu_ns() - c0) / 1e6;
    if (self->index_cached) {
        log_info("models: visual index of %d catalogue photos loaded from %s in %.0f ms "
                 "(%.0f ms CPU)", vision_index_size(idx), self->cache, ms, cpu);
    } else {
        char err[512] = "";
        bool saved = key && vision_index_save(idx, self->cache, key, err, sizeof err) == 0;
        if (key && !saved)
            log_warn("models: visual index cache not saved: %s", err);
        log_info("models: visual index of %d catalogue photos built in %.0f ms (%.0f ms CPU, "
                 "%d skipped)%s%s", vision_index_size(idx), ms, cpu, skipped,
                 saved ? ", cached in " : "", saved ? self->cache : "");
    }
    free(key);
    free(list);
}

models_t *
models_new(const conf_t *cfg, store_t *store)
{
    models_t *self = xcalloc(1, sizeof *self);
    pthread_mutex_init(&self->lock, NULL);
    /* next to the database file, whose directory shopd may write; a server
     * database has no directory here: next to the device's outbox then */
    const char *db = store ? store_path(store) : NULL;
    if (db && store_is_server(db))
        db = cfg->outbox;
    if (db && db[0] && strcmp(db, ":memory:") != 0
        && (size_t) snprintf(self->cache, sizeof self->cache, "%s.vindex", db)
               >= sizeof self->cache)
        self->cache[0] = 0;
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
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void
models_lock(models_t *self)
{
    pthread_mutex_lock(&self->lock);
}

void
models_unlock(models_t *self)
{
    pthread_mutex_unlock(&self->lock);
}

int
models_reload(models_t *self, const conf_t *cfg, store_t *store)
{
    /* workers wait while the models change (their jobs are off the main
     * thread: only they wait) */
    models_lock(self);
    int rc = 0;
    for (int k = 0; k < MODELS_COUNT; k++)
        if (s_load(&self->m[k], (models_kind_t) k, s_config_path(cfg, (models_kind_t) k)) != 0)
            rc = -1;
    intent_config_t ic;
    intent_config_default(&ic);
    ic.require_wake = false;
    /* the spotter's confidences read with its own belief constants */
    if (self->m[MODELS_KWS].obj)
        kws_belief(self->m[MODELS_KWS].obj, &ic.belief_odds, &ic.belief_power);
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
    models_unlock(self);
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

int
models_visual_search(models_t *self, const float *emb, int k, const char *exclude,
                     models_match_t *out)
{
    int size = self->index ? vision_index_size(self->index) : 0;
    if (size == 0 || k <= 0)
        return 0;
    /* a product may have several photos: ask for more and keep one each */
    int want = k * 2 + 1 < size ? k * 2 + 1 : size;
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
    int size = self->index ? vision_index_size(self->index) : 0;
    for (int j = 0; j < size; j++) {
        int64_t id;
        const float *v = vision_index_item(self->index, j, &id);
        if (!strcmp(self->items[id], item))
            return v;
    }
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
        if (k == MODELS_VISION) {
            int size = self->index ? vision_index_size(self->index) : 0;
            json_object_set_new(e, "indexed_photos", json_integer(size));
            json_object_set_new(e, "index_from", json_string(self->index_cached ? "cache"
                                                                                 : "photos"));
            if (self->cache[0])
                json_object_set_new(e, "index_cache", json_string(self->cache));
        }
        json_object_set_new(o, s_names[k], e);
    }
    return o;
}
