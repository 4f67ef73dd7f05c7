/* daemon/handlers.c: one function per request type and the dispatch table
 * (docs/protocol.md describes each message). */
#include "config.h"

#include "daemon/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/flow.h"
#include "daemon/server.h"

/* --- body field helpers: each returns PROTO_OK or PROTO_E_INVALID + err --- */

/* Copies string field key into dst (size cap). Absent: "" when optional. */
static proto_err_t
s_str(const json_t *body, const char *key, char *dst, size_t cap, bool required, char *err,
      size_t errlen)
{
    dst[0] = 0;
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) {
        if (!required)
            return PROTO_OK;
        snprintf(err, errlen, "body field \"%s\" is required", key);
        return PROTO_E_INVALID;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap
        || memchr(json_string_value(v), 0, json_string_length(v))) {
        snprintf(err, errlen, "body field \"%s\" must be a string of 1 to %zu bytes", key,
                 cap - 1);
        return PROTO_E_INVALID;
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return PROTO_OK;
}

/* Reads integer field key into *out (default def when absent), in [lo, hi]. */
static proto_err_t
s_int(const json_t *body, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *out,
      char *err, size_t errlen)
{
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return PROTO_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, errlen, "body field \"%s\" must be an integer from %lld to %lld", key,
                 (long long) lo, (long long) hi);
        return PROTO_E_INVALID;
    }
    *out = json_integer_value(v);
    return PROTO_OK;
}

static proto_err_t
s_store_err(handler_env_t *env, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, store_errmsg(env->store));
    log_err("store: %s", err);
    return PROTO_E_STORE;
}

static json_t *
s_item_json(const store_item_t *it)
{
    json_t *attrs = json_loads(it->attributes, 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:f, s:o, s:s, s:b}", "id", it->id, "name", it->name,
                     "category", it->category, "price", it->price, "attributes",
                     attrs ? attrs : json_object(), "photo", it->photo, "in_stock", it->in_stock);
}

/* --- status --------------------------------------------------------------- */

static proto_err_t
s_status(handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
         size_t nframes, json_t **body, char *err, size_t errlen)
{
    store_counts_t c;
    if (store_counts(env->store, &c) != 0)
        return s_store_err(env, "counting rows", err, errlen);
    json_t *o = server_status_json(env->server);
    json_object_set_new(o, "store",
                        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "database",
                                  store_path(env->store), "items", (json_int_t) c.items,
                                  "in_stock", (json_int_t) c.in_stock, "customers",
                                  (json_int_t) c.customers, "events", (json_int_t) c.events,
                                  "purchases", (json_int_t) c.purchases, "cart_sessions",
                                  (json_int_t) c.cart_sessions));
    *body = o;
    return PROTO_OK;
}

/* --- catalogue: list / get / categories ----------------------------------- */

static proto_err_t
s_catalogue(handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
            size_t nframes, json_t **body, char *err, size_t errlen)
{
    char op[16], id[STORE_ID_MAX], cat[STORE_CATEGORY_MAX];
    proto_err_t rc;
    if ((rc = s_str(req->body, "op", op, sizeof op, false, err, errlen)) != PROTO_OK)
        return rc;
    if (!op[0] || strcmp(op, "list") == 0) {
        int64_t offset, limit;
        if ((rc = s_str(req->body, "category", cat, sizeof cat, false, err, errlen))
            || (rc = s_int(req->body, "offset", 0, 0, INT32_MAX, &offset, err, errlen))
            || (rc = s_int(req->body, "limit", 50, 1, 1000, &limit, err, errlen)))
            return rc;
        store_item_t *items = NULL;
        size_t n = 0;
        if (store_item_list(env->store, cat, offset, limit, &items, &n) != 0)
            return s_store_err(env, "listing the catalogue", err, errlen);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, s_item_json(&items[i]));
        free(items);
        *body = json_pack("{s:o, s:I, s:I}", "items", arr, "offset", (json_int_t) offset,
                          "count", (json_int_t) n);
        return PROTO_OK;
    }
    if (strcmp(op, "get") == 0) {
        if ((rc = s_str(req->body, "id", id, sizeof id, true, err, errlen)) != PROTO_OK)
            return rc;
        store_item_t it;
        int g = store_item_get(env->store, id, &it);
        if (g < 0)
            return s_store_err(env, "reading an item", err, errlen);
        if (g == 1) {
            snprintf(err, errlen, "no product \"%s\" in the catalogue", id);
            return PROTO_E_NOT_FOUND;
        }
        *body = json_pack("{s:o}", "item", s_item_json(&it));
        return PROTO_OK;
    }
    if (strcmp(op, "categories") == 0) {
        char **cats = NULL;
        size_t n = 0;
        if (store_categories(env->store, &cats, &n) != 0)
            return s_store_err(env, "listing categories", err, errlen);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_string(cats[i]));
        store_strings_free(cats, n);
        *body = json_pack("{s:o}", "categories", arr);
        return PROTO_OK;
    }
    snprintf(err, errlen, "catalogue \"op\" must be list, get or categories");
    return PROTO_E_INVALID;
}

/* --- event: record an interaction, acknowledged once committed ------------ */

static proto_err_t
s_event(handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
        size_t nframes, json_t **body, char *err, size_t errlen)
{
    store_event_t ev = { 0 };
    char kind[16];
    int64_t qty, when;
    proto_err_t rc;
    if ((rc = s_str(req->body, "customer", ev.customer, sizeof ev.customer, true, err, errlen))
        || (rc = s_str(req->body, "item", ev.item, sizeof ev.item, true, err, errlen))
        || (rc = s_str(req->body, "kind", kind, sizeof kind, true, err, errlen))
        || (rc = s_int(req->body, "quantity", 1, 1, 1000000, &qty, err, errlen))
        || (rc = s_int(req->body, "time", (int64_t) time(NULL), 0, INT64_C(1) << 40, &when,
                       err, errlen)))
        return rc;
    int type = store_event_type_from_name(kind);
    if (type < 0) {
        snprintf(err, errlen, "\"kind\" must be view, cart or purchase");
        return PROTO_E_INVALID;
    }
    ev.type = (store_event_type_t) type;
    ev.quantity = (int) qty;
    ev.time = when;
    shop_strlcpy(ev.source, req->session, sizeof ev.source);
    int64_t id = 0;
    /* store_add_event returns only once the row is durably committed */
    if (store_add_event(env->store, &ev) != 0)
        return s_store_err(env, "recording the event", err, errlen);
    if (store_last_event_id(env->store, &id) != 0)
        return s_store_err(env, "reading the event id", err, errlen);
    *body = json_pack("{s:b, s:I}", "recorded", 1, "event_id", (json_int_t) id);
    return PROTO_OK;
}

/* --- cart: get / add / set / remove / clear / checkout per session -------- */

static proto_err_t
s_cart(handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
       size_t nframes, json_t **body, char *err, size_t errlen)
{
    char op[16], item[STORE_ID_MAX], customer[STORE_ID_MAX];
    int64_t qty;
    proto_err_t rc;
    if (!req->session[0]) {
        snprintf(err, errlen, "cart requests need a \"session\" in the envelope");
        return PROTO_E_INVALID;
    }
    if ((rc = s_str(req->body, "op", op, sizeof op, false, err, errlen))
        || (rc = s_str(req->body, "customer", customer, sizeof customer, false, err, errlen)))
        return rc;
    bool changed = true, needs_item = !strcmp(op, "add") || !strcmp(op, "set")
                                      || !strcmp(op, "remove");
    if (needs_item && (rc = s_str(req->body, "item", item, sizeof item, true, err, errlen)))
        return rc;
    if ((!strcmp(op, "add") || !strcmp(op, "set"))) {
        store_item_t it;
        int g = store_item_get(env->store, item, &it);
        if (g < 0)
            return s_store_err(env, "reading an item", err, errlen);
        if (g == 1) {
            snprintf(err, errlen, "no product \"%s\" in the catalogue", item);
            return PROTO_E_NOT_FOUND;
        }
    }
    const char *cust = customer[0] ? customer : NULL;
    int sr = 0, lines = 0;
    if (!op[0] || !strcmp(op, "get")) {
        changed = false;
    } else if (!strcmp(op, "add")) {
        if ((rc = s_int(req->body, "quantity", 1, -1000, 1000, &qty, err, errlen)))
            return rc;
        sr = store_cart_add(env->store, req->session, cust, item, (int) qty, NULL);
    } else if (!strcmp(op, "set")) {
        if ((rc = s_int(req->body, "quantity", 1, 0, 1000, &qty, err, errlen)))
            return rc;
        sr = store_cart_set(env->store, req->session, cust, item, (int) qty);
    } else if (!strcmp(op, "remove")) {
        sr = store_cart_remove(env->store, req->session, item);
        if (sr == 1) {
            snprintf(err, errlen, "\"%s\" is not in the cart of %s", item, req->session);
            return PROTO_E_NOT_FOUND;
        }
    } else if (!strcmp(op, "clear")) {
        sr = store_cart_clear(env->store, req->session);
    } else if (!strcmp(op, "checkout")) {
        if (!cust) {
            if (store_cart_customer(env->store, req->session, customer, sizeof customer) != 0)
                return s_store_err(env, "reading the cart's customer", err, errlen);
            cust = customer[0] ? customer : NULL;
        }
        if (!cust) {
            snprintf(err, errlen, "checkout needs a \"customer\"");
            return PROTO_E_INVALID;
        }
        sr = store_cart_checkout(env->store, req->session, cust, (int64_t) time(NULL), &lines);
    } else {
        snprintf(err, errlen, "cart \"op\" must be get, add, set, remove, clear or checkout");
        return PROTO_E_INVALID;
    }
    if (sr < 0)
        return s_store_err(env, "updating the cart", err, errlen);
    json_t *o = flow_cart_json(env->store, req->session);
    if (!o)
        return s_store_err(env, "reading the cart", err, errlen);
    if (!strcmp(op, "checkout"))
        json_object_set_new(o, "bought_lines", json_integer(lines));
    if (changed)
        server_publish(env->server, "cart", req->session, o);
    *body = o;
    return PROTO_OK;
}

/* --- recommend / similar: answered by the recommendation service ---------- */

/* Reads a number field (integer or real) into *out, default def. */
static proto_err_t
s_num(const json_t *body, const char *key, double def, double *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return PROTO_OK;
    }
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e9) {
        snprintf(err, errlen, "body field \"%s\" must be a number from 0 to 1e9", key);
        return PROTO_E_INVALID;
    }
    *out = json_number_value(v);
    return PROTO_OK;
}

static proto_err_t
s_recommend(handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
            size_t nframes, json_t **body, char *err, size_t errlen)
{
    if (!env->rec) {
        snprintf(err, errlen, "\"%s\" is not available: no recommendation service is running",
                 req->type);
        return PROTO_E_NOT_AVAILABLE;
    }
    bool similar = strcmp(req->type, "similar") == 0;
    char kind[16], customer[STORE_ID_MAX], item[STORE_ID_MAX], cat[STORE_CATEGORY_MAX];
    int64_t k;
    rec_query_t q = { 0 };
    proto_err_t rc;
    if ((rc = s_str(req->body, "kind", kind, sizeof kind, false, err, errlen))
        || (rc = s_str(req->body, "customer", customer, sizeof customer, false, err, errlen))
        || (rc = s_str(req->body, "item", item, sizeof item, similar, err, errlen))
        || (rc = s_str(req->body, "category", cat, sizeof cat, false, err, errlen))
        || (rc = s_int(req->body, "limit", 10, 1, REC_MAX_K, &k, err, errlen))
        || (rc = s_num(req->body, "min_price", 0, &q.min_price, err, errlen))
        || (rc = s_num(req->body, "max_price", 0, &q.max_price, err, errlen)))
        return rc;
    int qk = similar ? REC_Q_SIMILAR : rec_qkind_from_name(kind[0] ? kind : "personal");
    if (qk < 0 || (!similar && qk == REC_Q_SIMILAR)) {
        snprintf(err, errlen, "\"kind\" must be personal, together, category or popular "
                 "(use the similar request for similar items)");
        return PROTO_E_INVALID;
    }
    if ((qk == REC_Q_TOGETHER && !item[0]) || (qk == REC_Q_CATEGORY && !cat[0])) {
        snprintf(err, errlen, "kind %s needs \"%s\"", rec_qkind_name((rec_qkind_t) qk),
                 qk == REC_Q_TOGETHER ? "item" : "category");
        return PROTO_E_INVALID;
    }
    q.kind = (rec_qkind_t) qk;
    q.customer = customer[0] ? customer : NULL;
    q.item = item[0] ? item : NULL;
    q.category = cat[0] ? cat : NULL;
    q.k = (int) k;
    q.exclude_bought = json_is_true(json_object_get(req->body, "exclude_bought"));
    q.include_out_of_stock = json_is_true(json_object_get(req->body, "include_out_of_stock"));
    rec_result_t *res = xcalloc((size_t) q.k, sizeof *res);
    char worker[64] = "";
    int n = rec_client_query(env->rec, &q, res, worker, sizeof worker, err, errlen);
    if (n < 0) {
        free(res);
        /* no reply: the service is gone; an unreadable reply: its fault;
         * anything else is its refusal of the query */
        if (strstr(err, "no reply"))
            return PROTO_E_NOT_AVAILABLE;
        return strstr(err, "reply is not") ? PROTO_E_INTERNAL : PROTO_E_INVALID;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:f, s:f, s:s}", "item",
                                             res[i].item, "name", res[i].name, "category",
                                             res[i].category, "price", res[i].price, "score",
                                             (double) res[i].score, "reason", res[i].reason));
    free(res);
    json_t *o = json_pack("{s:s, s:o, s:s}", "kind", rec_qkind_name(q.kind), "results", arr,
                          "worker", worker);
    if (q.customer)
        json_object_set_new(o, "customer", json_string(q.customer));
    if (q.item)
        json_object_set_new(o, "item", json_string(q.item));
    if (q.category)
        json_object_set_new(o, "category", json_string(q.category));
    server_publish(env->server, "recommendations", req->session, o);
    *body = o;
    return PROTO_OK;
}

/* --- audio / photo: one binary frame each ---------------------------------- */

static bool
s_has_prefix(const handler_frame_t *f, const void *magic, size_t n, size_t at)
{
    return f->size >= at + n && memcmp((const char *) f->data + at, magic, n) == 0;
}

static proto_err_t
s_audio(handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
        size_t nframes, json_t **body, char *err, size_t errlen)
{
    const handler_frame_t *f = &frames[0];
    if ((int64_t) f->size > env->cfg->max_audio_bytes) {
        snprintf(err, errlen, "audio of %zu bytes over the %lld byte limit", f->size,
                 (long long) env->cfg->max_audio_bytes);
        return PROTO_E_TOO_LARGE;
    }
    /* the containers libsndfile reads for us: WAV, FLAC, Ogg */
    if (!(s_has_prefix(f, "RIFF", 4, 0) && s_has_prefix(f, "WAVE", 4, 8))
        && !s_has_prefix(f, "fLaC", 4, 0) && !s_has_prefix(f, "OggS", 4, 0)) {
        snprintf(err, errlen, "audio frame is not WAV, FLAC or Ogg");
        return PROTO_E_INVALID;
    }
    const char *why = NULL;
    if (!models_ready(env->models, MODELS_KWS, &why)) {
        snprintf(err, errlen, "speech recognition is not available: %s", why);
        return PROTO_E_NOT_AVAILABLE;
    }
    return flow_audio(env, req, f->data, f->size, body, err, errlen);
}

static proto_err_t
s_photo(handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
        size_t nframes, json_t **body, char *err, size_t errlen)
{
    const handler_frame_t *f = &frames[0];
    if ((int64_t) f->size > env->cfg->max_photo_bytes) {
        snprintf(err, errlen, "photo of %zu bytes over the %lld byte limit", f->size,
                 (long long) env->cfg->max_photo_bytes);
        return PROTO_E_TOO_LARGE;
    }
    static const unsigned char jpeg[] = { 0xff, 0xd8, 0xff };
    static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    if (!s_has_prefix(f, jpeg, sizeof jpeg, 0) && !s_has_prefix(f, png, sizeof png, 0)
        && !s_has_prefix(f, "BM", 2, 0)) {
        snprintf(err, errlen, "photo frame is not JPEG, PNG or BMP");
        return PROTO_E_INVALID;
    }
    const char *why = NULL;
    if (!models_ready(env->models, MODELS_VISION, &why)) {
        snprintf(err, errlen, "product recognition is not available: %s", why);
        return PROTO_E_NOT_AVAILABLE;
    }
    return flow_photo(env, req, f->data, f->size, body, err, errlen);
}

/* --- text: a typed or externally recognised sentence ---------------------- */

static proto_err_t
s_text(handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
       size_t nframes, json_t **body, char *err, size_t errlen)
{
    const char *why = NULL;
    if (!models_grammar(env->models)) {
        models_ready(env->models, MODELS_KWS, &why);
        snprintf(err, errlen, "the command grammar is not available: %s", why);
        return PROTO_E_NOT_AVAILABLE;
    }
    return flow_text(env, req, body, err, errlen);
}

/* The dispatch table: adding a request type is one row. */
static const handler_route_t s_routes[] = {
    { "status", 0, s_status },
    { "catalogue", 0, s_catalogue },
    { "event", 0, s_event },
    { "cart", 0, s_cart },
    { "recommend", 0, s_recommend },
    { "similar", 0, s_recommend },
    { "audio", 1, s_audio },
    { "photo", 1, s_photo },
    { "text", 0, s_text },
};

const handler_route_t *
handlers_find(const char *type)
{
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_routes); i++)
        if (strcmp(s_routes[i].type, type) == 0)
            return &s_routes[i];
    return NULL;
}
