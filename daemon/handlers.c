/* daemon/handlers.c: one function per request type and the dispatch table
 * (docs/protocol.md describes each message). */
#include "config.h"

#include "daemon/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/camera.h"
#include "daemon/flow.h"
#include "daemon/netguard.h"
#include "daemon/privacy.h"
#include "daemon/web.h"

/* --- body field helpers: each returns PROTO_OK, or PROTO_E_INVALID in out --- */

/* Copies string field key into dst (size cap). Absent: "" when optional. */
static proto_err_t
s_str(const json_t *body, const char *key, char *dst, size_t cap, bool required,
      handler_result_t *out)
{
    dst[0] = 0;
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) {
        if (!required)
            return PROTO_OK;
        return handler_fail(out, PROTO_E_INVALID, "body field \"%s\" is required", key);
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap
        || memchr(json_string_value(v), 0, json_string_length(v)))
        return handler_fail(out, PROTO_E_INVALID,
                            "body field \"%s\" must be a string of 1 to %zu bytes", key,
                            cap - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return PROTO_OK;
}

/* Reads integer field key into *out (default def when absent), in [lo, hi]. */
static proto_err_t
s_int(const json_t *body, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *val,
      handler_result_t *out)
{
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) {
        *val = def;
        return PROTO_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return handler_fail(out, PROTO_E_INVALID,
                            "body field \"%s\" must be an integer from %lld to %lld", key,
                            (long long) lo, (long long) hi);
    *val = json_integer_value(v);
    return PROTO_OK;
}

/* Refuses a body field the request type does not take, so a typo
 * ("recommend catgory=bag") is an error instead of being ignored. allowed
 * is NULL-terminated. */
static proto_err_t
s_known_fields(const proto_request_t *req, const char *const *allowed, handler_result_t *out)
{
    const char *key;
    json_t *v;
    json_object_foreach(req->body, key, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i])
            continue;
        char list[256] = "";
        for (size_t j = 0; allowed[j]; j++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "",
                     allowed[j]);
        return handler_fail(out, PROTO_E_INVALID, "\"%s\" takes no body field \"%.64s\" (%s%s)",
                            req->type, key, list[0] ? "it takes: " : "it takes none",
                            list);
    }
    return PROTO_OK;
}

/* A spoken list of the first (at most three) results' names: "A, B and C". */
static void
s_names(const json_t *results, char *buf, size_t len)
{
    size_t n = json_array_size(results) < 3 ? json_array_size(results) : 3;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
                 i == 0 ? "" : i + 1 == n ? " and " : ", ",
                 json_string_value(json_object_get(json_array_get(results, i), "name")));
}

/* The quantity of item in a cart reply body (0 when absent). */
static int
s_line_quantity(const json_t *cart, const char *item)
{
    size_t i;
    const json_t *l;
    json_array_foreach(json_object_get(cart, "lines"), i, l)
    {
        if (!strcmp(json_string_value(json_object_get(l, "item")), item))
            return (int) json_integer_value(json_object_get(l, "quantity"));
    }
    return 0;
}

static proto_err_t
s_store_err(const handler_env_t *env, const char *what, handler_result_t *out)
{
    handler_fail(out, PROTO_E_STORE, "%s: %s", what, store_errmsg(env->store));
    log_err("store: %s", out->message);
    return PROTO_E_STORE;
}

/* --- status --------------------------------------------------------------- */

static proto_err_t
s_status(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
         size_t nframes, handler_result_t *out)
{
    static const char *const fields[] = { NULL };
    if (s_known_fields(req, fields, out) != PROTO_OK)
        return out->code;
    store_counts_t c;
    if (store_counts(env->store, &c) != 0)
        return s_store_err(env, "counting rows", out);
    json_t *o = handlers_status_json(env);
    json_object_set_new(o, "store",
                        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "database",
                                  store_path(env->store), "items", (json_int_t) c.items,
                                  "in_stock", (json_int_t) c.in_stock, "customers",
                                  (json_int_t) c.customers, "events", (json_int_t) c.events,
                                  "purchases", (json_int_t) c.purchases, "cart_sessions",
                                  (json_int_t) c.cart_sessions));
    return handler_reply(out, o);
}

/* --- catalogue: list / get / categories ----------------------------------- */

static proto_err_t
s_catalogue(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
            size_t nframes, handler_result_t *out)
{
    char op[16], id[STORE_ID_MAX], cat[STORE_CATEGORY_MAX];
    static const char *const fields[] = { "op", "category", "offset", "limit", "id", NULL };
    proto_err_t rc;
    if ((rc = s_known_fields(req, fields, out))
        || (rc = s_str(req->body, "op", op, sizeof op, false, out)) != PROTO_OK)
        return rc;
    if (!op[0] || strcmp(op, "list") == 0) {
        int64_t offset, limit;
        if ((rc = s_str(req->body, "category", cat, sizeof cat, false, out))
            || (rc = s_int(req->body, "offset", 0, 0, INT32_MAX, &offset, out))
            || (rc = s_int(req->body, "limit", 50, 1, 1000, &limit, out)))
            return rc;
        store_item_t *items = NULL;
        size_t n = 0;
        if (store_item_list(env->store, cat, offset, limit, &items, &n) != 0)
            return s_store_err(env, "listing the catalogue", out);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, store_item_json(&items[i]));
        free(items);
        return handler_reply(out, json_pack("{s:o, s:I, s:I}", "items", arr, "offset",
                                            (json_int_t) offset, "count", (json_int_t) n));
    }
    if (strcmp(op, "get") == 0) {
        if ((rc = s_str(req->body, "id", id, sizeof id, true, out)) != PROTO_OK)
            return rc;
        store_item_t it;
        int g = store_item_get(env->store, id, &it);
        if (g < 0)
            return s_store_err(env, "reading an item", out);
        if (g == 1)
            return handler_fail(out, PROTO_E_NOT_FOUND, "no product \"%s\" in the catalogue", id);
        return handler_reply(out, json_pack("{s:o}", "item", store_item_json(&it)));
    }
    if (strcmp(op, "categories") == 0) {
        char **cats = NULL;
        size_t n = 0;
        if (store_categories(env->store, &cats, &n) != 0)
            return s_store_err(env, "listing categories", out);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_string(cats[i]));
        store_strings_free(cats, n);
        return handler_reply(out, json_pack("{s:o}", "categories", arr));
    }
    return handler_fail(out, PROTO_E_INVALID, "catalogue \"op\" must be list, get or categories");
}

/* --- event: record an interaction, acknowledged once committed ------------ */

static proto_err_t
s_event(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
        size_t nframes, handler_result_t *out)
{
    store_event_t ev = { 0 };
    char kind[16];
    int64_t qty, when;
    static const char *const fields[] = { "customer", "item", "kind", "quantity", "time", NULL };
    proto_err_t rc;
    if ((rc = s_known_fields(req, fields, out))
        || (rc = s_str(req->body, "customer", ev.customer, sizeof ev.customer, true, out))
        || (rc = s_str(req->body, "item", ev.item, sizeof ev.item, true, out))
        || (rc = s_str(req->body, "kind", kind, sizeof kind, true, out))
        || (rc = s_int(req->body, "quantity", 1, 1, 1000000, &qty, out))
        || (rc = s_int(req->body, "time", (int64_t) time(NULL), 0, INT64_C(1) << 40, &when, out)))
        return rc;
    int type = store_event_type_from_name(kind);
    if (type < 0)
        return handler_fail(out, PROTO_E_INVALID, "\"kind\" must be view, cart or purchase");
    /* an interaction with a product the shop does not have would only
     * mislead the recommendations */
    store_item_t it;
    int g = store_item_get(env->store, ev.item, &it);
    if (g < 0)
        return s_store_err(env, "reading an item", out);
    if (g == 1)
        return handler_fail(out, PROTO_E_NOT_FOUND, "no product \"%s\" in the catalogue",
                            ev.item);
    ev.type = (store_event_type_t) type;
    ev.quantity = (int) qty;
    ev.time = when;
    shop_strlcpy(ev.source, req->session, sizeof ev.source);
    int64_t id = 0;
    /* returns only once the row is durably committed, with its own id (the
     * newest id may be another device's on a shared server) */
    if (store_add_event_id(env->store, &ev, &id) < 0)
        return s_store_err(env, "recording the event", out);
    char say[300];
    snprintf(say, sizeof say, "Noted: %s %s.",
             type == STORE_EVENT_VIEW ? "you looked at" : type == STORE_EVENT_CART ? "you put in the cart"
                                                                             : "you bought",
             it.name);
    return handler_reply(out, json_pack("{s:b, s:I, s:s}", "recorded", 1, "event_id",
                                        (json_int_t) id, "say", say));
}

/* --- cart: get / add / set / remove / clear / checkout per session -------- */

static proto_err_t
s_cart(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
       size_t nframes, handler_result_t *out)
{
    char op[16], item[STORE_ID_MAX], customer[STORE_ID_MAX];
    int64_t qty;
    proto_err_t rc;
    if (!req->session[0])
        return handler_fail(out, PROTO_E_INVALID,
                            "cart requests need a \"session\" in the envelope");
    static const char *const fields[] = { "op", "item", "quantity", "customer", NULL };
    if ((rc = s_known_fields(req, fields, out))
        || (rc = s_str(req->body, "op", op, sizeof op, false, out))
        || (rc = s_str(req->body, "customer", customer, sizeof customer, false, out)))
        return rc;
    bool changed = true, needs_item = !strcmp(op, "add") || !strcmp(op, "set")
                                      || !strcmp(op, "remove");
    if (needs_item && (rc = s_str(req->body, "item", item, sizeof item, true, out)))
        return rc;
    store_item_t it = { .name = "" };
    if (needs_item) {
        int g = store_item_get(env->store, item, &it);
        if (g < 0)
            return s_store_err(env, "reading an item", out);
        if (g == 1 && strcmp(op, "remove") != 0)
            return handler_fail(out, PROTO_E_NOT_FOUND, "no product \"%s\" in the catalogue", item);
        if (g == 1)
            shop_strlcpy(it.name, item, sizeof it.name); /* a line of a product gone since */
    }
    const char *cust = customer[0] ? customer : NULL;
    int sr = 0, lines = 0, bought = 0;
    double spent = 0;
    if (!op[0] || !strcmp(op, "get")) {
        changed = false;
    } else if (!strcmp(op, "add")) {
        if ((rc = s_int(req->body, "quantity", 1, -1000, 1000, &qty, out)))
            return rc;
        int room = qty > 0 ? flow_cart_room(env->store, req->session, item, (int) qty) : 0;
        if (room < 0)
            return s_store_err(env, "reading the cart", out);
        if (room < qty)
            return handler_fail(out, PROTO_E_INVALID,
                                "a cart line holds at most %d: \"%s\" has %d, adding %lld "
                                "would make %lld", FLOW_CART_LINE_MAX, item,
                                FLOW_CART_LINE_MAX - room, (long long) qty,
                                (long long) (FLOW_CART_LINE_MAX - room + qty));
        sr = store_cart_add(env->store, req->session, cust, item, (int) qty, NULL);
    } else if (!strcmp(op, "set")) {
        if ((rc = s_int(req->body, "quantity", 1, 0, 1000, &qty, out)))
            return rc;
        sr = store_cart_set(env->store, req->session, cust, item, (int) qty);
    } else if (!strcmp(op, "remove")) {
        sr = store_cart_remove(env->store, req->session, item);
        if (sr == 1)
            return handler_fail(out, PROTO_E_NOT_FOUND,
                                "\"%s\" is not in the cart of %s", item, req->session);
    } else if (!strcmp(op, "clear")) {
        sr = store_cart_clear(env->store, req->session);
    } else if (!strcmp(op, "checkout")) {
        if (!cust) {
            if (store_cart_customer(env->store, req->session, customer, sizeof customer) != 0)
                return s_store_err(env, "reading the cart's customer", out);
            cust = customer[0] ? customer : NULL;
        }
        if (!cust)
            return handler_fail(out, PROTO_E_INVALID, "checkout needs a \"customer\"");
        /* what is bought, for the sentence, before the cart empties */
        json_t *before = flow_cart_json(env->store, req->session);
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(before, "lines"), i, l)
        {
            store_item_t b;
            int q = (int) json_integer_value(json_object_get(l, "quantity"));
            bought += q;
            if (store_item_get(env->store, json_string_value(json_object_get(l, "item")), &b) == 0)
                spent += b.price * q;
        }
        json_decref(before);
        sr = store_cart_checkout(env->store, req->session, cust, (int64_t) time(NULL), &lines);
    } else {
        return handler_fail(out, PROTO_E_INVALID,
                            "cart \"op\" must be get, add, set, remove, clear or checkout");
    }
    if (sr < 0)
        return s_store_err(env, "updating the cart", out);
    json_t *o = flow_cart_json(env->store, req->session);
    if (!o)
        return s_store_err(env, "reading the cart", out);
    if (!strcmp(op, "checkout"))
        json_object_set_new(o, "bought_lines", json_integer(lines));
    json_t *reply = o;
    long long count = (long long) json_integer_value(json_object_get(reply, "count"));
    char say[400];
    if (!strcmp(op, "checkout"))
        snprintf(say, sizeof say, "Done: you bought %d item%s for %.2f. Thank you!", bought,
                 bought == 1 ? "" : "s", spent);
    else if (!strcmp(op, "remove"))
        snprintf(say, sizeof say, "Removed %s from your cart.", it.name);
    else if (!strcmp(op, "add") || !strcmp(op, "set"))
        snprintf(say, sizeof say, "You have %d of %s in your cart, %lld item%s in all.",
                 s_line_quantity(reply, item), it.name, count, count == 1 ? "" : "s");
    else if (count == 0)
        snprintf(say, sizeof say, "Your cart is empty.");
    else
        snprintf(say, sizeof say, "You have %lld item%s in your cart.", count,
                 count == 1 ? "" : "s");
    json_object_set_new(reply, "say", json_string(say));
    if (changed)
        handler_event(out, "cart", req->session, reply);
    return handler_reply(out, reply);
}

/* --- recommend / similar: answered by the recommendation service ---------- */

/* Reads a number field (integer or real) into *out, default def. */
static proto_err_t
s_num(const json_t *body, const char *key, double def, double *val, handler_result_t *out)
{
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) {
        *val = def;
        return PROTO_OK;
    }
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e9)
        return handler_fail(out, PROTO_E_INVALID,
                            "body field \"%s\" must be a number from 0 to 1e9", key);
    *val = json_number_value(v);
    return PROTO_OK;
}

static proto_err_t
s_recommend(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
            size_t nframes, handler_result_t *out)
{
    if (!env->rec)
        return handler_fail(out, PROTO_E_NOT_AVAILABLE,
                            "\"%s\" is not available: no recommendation service is running",
                            req->type);
    bool similar = strcmp(req->type, "similar") == 0;
    char kind[16], customer[STORE_ID_MAX], item[STORE_ID_MAX], cat[STORE_CATEGORY_MAX];
    int64_t k;
    rec_query_t q = { 0 };
    static const char *const fields[] = { "kind", "customer", "item", "category", "min_price",
                                          "max_price", "limit", "exclude_bought",
                                          "include_out_of_stock", NULL };
    proto_err_t rc;
    if ((rc = s_known_fields(req, fields, out))
        || (rc = s_str(req->body, "kind", kind, sizeof kind, false, out))
        || (rc = s_str(req->body, "customer", customer, sizeof customer, false, out))
        || (rc = s_str(req->body, "item", item, sizeof item, similar, out))
        || (rc = s_str(req->body, "category", cat, sizeof cat, false, out))
        || (rc = s_int(req->body, "limit", 10, 1, REC_MAX_K, &k, out))
        || (rc = s_num(req->body, "min_price", 0, &q.min_price, out))
        || (rc = s_num(req->body, "max_price", 0, &q.max_price, out)))
        return rc;
    int qk = similar ? REC_Q_SIMILAR : rec_qkind_from_name(kind[0] ? kind : "personal");
    if (qk < 0 || (!similar && qk == REC_Q_SIMILAR))
        return handler_fail(out, PROTO_E_INVALID,
                            "\"kind\" must be personal, together, category or popular "
                            "(use the similar request for similar items)");
    if ((qk == REC_Q_TOGETHER && !item[0]) || (qk == REC_Q_CATEGORY && !cat[0]))
        return handler_fail(out, PROTO_E_INVALID,
                            "kind %s needs \"%s\"", rec_qkind_name((rec_qkind_t) qk),
                            qk == REC_Q_TOGETHER ? "item" : "category");
    q.kind = (rec_qkind_t) qk;
    q.customer = customer[0] ? customer : NULL;
    q.item = item[0] ? item : NULL;
    q.category = cat[0] ? cat : NULL;
    q.k = (int) k;
    q.exclude_bought = json_is_true(json_object_get(req->body, "exclude_bought"));
    q.include_out_of_stock = json_is_true(json_object_get(req->body, "include_out_of_stock"));
    rec_result_t *res = xcalloc((size_t) q.k, sizeof *res);
    char worker[64] = "";
    proto_err_t code;
    char why[256];
    int n = recommender_query(env->rec, &q, res, worker, sizeof worker, &code, why, sizeof why);
    if (n < 0) {
        free(res);
        return handler_fail(out, code, "%s", why);
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
    json_t *reply = o;
    char names[400], say[600];
    s_names(json_object_get(reply, "results"), names, sizeof names);
    store_item_t base;
    if (!names[0])
        snprintf(say, sizeof say, "%s", similar ? "Nothing similar is in stock."
                                                : "I have nothing to recommend.");
    else if (similar && store_item_get(env->store, q.item, &base) == 0)
        snprintf(say, sizeof say, "Similar to %s: %s.", base.name, names);
    else
        snprintf(say, sizeof say, "You might like %s.", names);
    json_object_set_new(reply, "say", json_string(say));
    handler_event(out, "recommendations", req->session, reply);
    return handler_reply(out, reply);
}

/* --- audio / photo: one binary frame each ---------------------------------- */

static bool
s_has_prefix(const handler_frame_t *f, const void *magic, size_t n, size_t at)
{
    return f->size >= at + n && memcmp((const char *) f->data + at, magic, n) == 0;
}

/* Hands the frame's bytes (copied) to a worker: out gets the job. */
static proto_err_t
s_job(handler_result_t *out, recog_kind_t kind, const handler_frame_t *f)
{
    uint8_t *copy = xmalloc(f->size ? f->size : 1);
    memcpy(copy, f->data, f->size);
    out->job = recog_job_new(kind, copy, f->size);
    return PROTO_OK;
}

static proto_err_t
s_audio(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
        size_t nframes, handler_result_t *out)
{
    const handler_frame_t *f = &frames[0];
    static const char *const fields[] = { "name", "customer", NULL };
    if (s_known_fields(req, fields, out) != PROTO_OK)
        return out->code;
    if ((int64_t) f->size > env->cfg->max_audio_bytes)
        return handler_fail(out, PROTO_E_TOO_LARGE,
                            "audio of %zu bytes over the %lld byte limit", f->size,
                            (long long) env->cfg->max_audio_bytes);
    /* the containers libsndfile reads for us: WAV (RIFF, RF64), FLAC, Ogg,
     * AIFF/AIFC, AU and CAF */
    bool form = s_has_prefix(f, "FORM", 4, 0)
                && (s_has_prefix(f, "AIFF", 4, 8) || s_has_prefix(f, "AIFC", 4, 8));
    bool riff = (s_has_prefix(f, "RIFF", 4, 0) || s_has_prefix(f, "RF64", 4, 0))
                && s_has_prefix(f, "WAVE", 4, 8);
    if (!riff && !form && !s_has_prefix(f, "fLaC", 4, 0) && !s_has_prefix(f, "OggS", 4, 0)
        && !s_has_prefix(f, ".snd", 4, 0) && !s_has_prefix(f, "caff", 4, 0))
        return handler_fail(out, PROTO_E_INVALID,
                            "audio frame is not WAV, FLAC, Ogg, AIFF, AU or CAF");
    const char *why = NULL;
    if (!models_ready(env->models, MODELS_KWS, &why))
        return handler_fail(out, PROTO_E_NOT_AVAILABLE,
                            "speech recognition is not available: %s", why);
    return s_job(out, RECOG_AUDIO, f);
}

static proto_err_t
s_photo(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
        size_t nframes, handler_result_t *out)
{
    const handler_frame_t *f = &frames[0];
    static const char *const fields[] = { "name", "customer", NULL };
    if (s_known_fields(req, fields, out) != PROTO_OK)
        return out->code;
    if ((int64_t) f->size > env->cfg->max_photo_bytes)
        return handler_fail(out, PROTO_E_TOO_LARGE,
                            "photo of %zu bytes over the %lld byte limit", f->size,
                            (long long) env->cfg->max_photo_bytes);
    static const unsigned char jpeg[] = { 0xff, 0xd8, 0xff };
    static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    if (!s_has_prefix(f, jpeg, sizeof jpeg, 0) && !s_has_prefix(f, png, sizeof png, 0)
        && !s_has_prefix(f, "BM", 2, 0))
        return handler_fail(out, PROTO_E_INVALID, "photo frame is not JPEG, PNG or BMP");
    const char *why = NULL;
    if (!models_ready(env->models, MODELS_VISION, &why))
        return handler_fail(out, PROTO_E_NOT_AVAILABLE,
                            "product recognition is not available: %s", why);
    return s_job(out, RECOG_PHOTO, f);
}

/* --- look: what shopd's own camera sees now -------------------------------- */

static proto_err_t
s_look(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
       size_t nframes, handler_result_t *out)
{
    static const char *const fields[] = { "customer", NULL };
    if (s_known_fields(req, fields, out) != PROTO_OK)
        return out->code;
    if (!env->camera)
        return handler_fail(out, PROTO_E_NOT_AVAILABLE, "shopd has no camera (set [camera] "
                            "device, or start it with --camera)");
    const char *why = NULL;
    if (!models_ready(env->models, MODELS_VISION, &why))
        return handler_fail(out, PROTO_E_NOT_AVAILABLE,
                            "product recognition is not available: %s", why);
    camera_picture_t pic;
    char err[sizeof out->message];
    if (camera_latest(env->camera, &pic, err, sizeof err) != 0)
        return handler_fail(out, PROTO_E_NOT_AVAILABLE, "%s", err);
    out->job = recog_job_new(RECOG_FRAME, pic.data, pic.len);
    out->job->fmt = pic.fmt;
    out->job_camera = true;
    return PROTO_OK;
}

/* --- text: a typed or externally recognised sentence ---------------------- */

static proto_err_t
s_text(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
       size_t nframes, handler_result_t *out)
{
    static const char *const fields[] = { "text", "customer", NULL };
    if (s_known_fields(req, fields, out) != PROTO_OK)
        return out->code;
    const char *why = NULL;
    if (!models_grammar(env->models)) {
        models_ready(env->models, MODELS_KWS, &why);
        return handler_fail(out, PROTO_E_NOT_AVAILABLE,
                            "the command grammar is not available: %s", why);
    }
    return flow_text(env, req, out);
}

/* --- session: its state, for a screen that opens (the kiosk page) --------- */

static proto_err_t
s_session(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
          size_t nframes, handler_result_t *out)
{
    static const char *const fields[] = { NULL };
    if (s_known_fields(req, fields, out) != PROTO_OK)
        return out->code;
    if (!req->session[0])
        return handler_fail(out, PROTO_E_INVALID,
                            "session requests need a \"session\" in the envelope");
    return flow_session(env, req, out);
}

/* --- the status of the daemon (also the server's heartbeat) --------------- */

json_t *
handlers_status_json(const handler_env_t *env)
{
    const handler_status_t *st = &env->status;
    json_t *o = json_pack("{s:s, s:i, s:I, s:f, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:s}",
                          "version", PACKAGE_VERSION, "protocol", PROTO_VERSION,
                          "pid", (json_int_t) getpid(),
                          "uptime_s", (shop_now_ns() - st->started_ns) / 1e9,
                          "endpoint", env->cfg->endpoint,
                          "events_endpoint", env->cfg->events_endpoint,
                          "curve", st->curve,
                          "allowed_keys", (json_int_t) st->allowed_keys,
                          "refused_connections", (json_int_t) st->refused,
                          "requests", (json_int_t) st->requests,
                          "errors", (json_int_t) st->errors,
                          "reloads", (json_int_t) st->reloads,
                          "config", st->conf_path && st->conf_path[0] ? st->conf_path
                                                                     : "(built-in defaults)");
    netguard_stats_t ng;
    netguard_stats(&ng);
    json_object_set_new(o, "connections",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "open",
                                  (json_int_t) ng.open, "max",
                                  (json_int_t) env->cfg->max_connections, "max_per_peer",
                                  (json_int_t) env->cfg->max_connections_per_peer, "refused",
                                  (json_int_t) ng.refused, "exhausted", (json_int_t) ng.exhausted,
                                  "dropped_over_budget", (json_int_t) ng.dropped, "cut_off",
                                  (json_int_t) ng.cut, "descriptor_limit", (json_int_t) ng.limit));
    json_object_set_new(o, "refused_subscriptions",
                        json_integer((json_int_t) st->refused_subscriptions));
    json_t *models = models_status_json(env->models);
    const handler_workers_t *w = &env->workers;
    json_object_set_new(models, "decoder",
                        json_pack("{s:b, s:i, s:I, s:I, s:I}", "jailed", w->decoders.workers > 0,
                                  "workers", w->decoders.workers, "requests",
                                  (json_int_t) w->decoders.requests, "rejected",
                                  (json_int_t) w->decoders.rejected, "restarts",
                                  (json_int_t) w->decoders.restarts));
    json_object_set_new(o, "models", models);
    if (w->pool)
        json_object_set_new(o, "workers",
                            json_pack("{s:i, s:i, s:I, s:I, s:I, s:I}", "threads", w->threads,
                                      "busy", w->busy, "queued", (json_int_t) w->queued,
                                      "submitted", (json_int_t) w->submitted, "completed",
                                      (json_int_t) w->completed, "refused",
                                      (json_int_t) w->refused));
    json_object_set_new(o, "camera", env->camera ? camera_status_json(env->camera)
                                                 : json_pack("{s:s, s:s}", "device", "",
                                                             "state", "off"));
    json_object_set_new(o, "recommend", recommender_status_json(env->rec));
    char addr[WEB_LISTEN_MAX], why[200];
    int port;
    if (env->cfg->web_listen[0]
        && web_parse_listen(env->cfg->web_listen, addr, sizeof addr, &port, why, sizeof why) == 0)
        json_object_set_new(o, "web", json_pack("{s:s, s:i, s:b}", "listen",
                                                env->cfg->web_listen, "port", port, "token",
                                                env->cfg->web_token[0] != 0));
    json_object_set_new(o, "microphone", env->mic ? mic_status_json(env->mic)
                                                  : json_pack("{s:s}", "state", "off"));
    return o;
}

/* --- forget: erase a customer (operators) ------------------------------------ */

static proto_err_t
s_forget(const handler_env_t *env, const proto_request_t *req, const handler_frame_t *frames,
         size_t nframes, handler_result_t *out)
{
    char customer[STORE_ID_MAX], hash[PRIVACY_HASH_LEN], rerr[256] = "";
    proto_err_t rc;
    static const char *const fields[] = { "customer", NULL };
    if (!env->operator)
        return handler_fail(out, PROTO_E_INVALID,
                            "forget is for operators (an operator key, or the local socket)");
    if ((rc = s_known_fields(req, fields, out))
        || (rc = s_str(req->body, "customer", customer, sizeof customer, true, out)))
        return rc;
    if (privacy_audit_hash(env->store, customer, hash) != 0)
        return s_store_err(env, "the audit key", out);
    store_forget_t f;
    /* one transaction: a crash half-way leaves everything as it was */
    if (store_forget_customer(env->store, customer, &f) != 0)
        return s_store_err(env, "erasing the customer", out);
    bool had = false;
    long hist = 0;
    json_t *model = json_object();
    if (env->rec && recommender_forget(env->rec, customer, &had, &hist, rerr, sizeof rerr) != 0) {
        log_warn("forget: customer %s: the recommendation service: %s (it keeps the history "
                 "until its restart)", hash, rerr);
        json_object_set_new(model, "error", json_string(rerr));
    }
    json_object_set_new(model, "history", json_boolean(had));
    json_object_set_new(model, "events", json_integer(hist));
    log_notice("forget: customer %s erased: %lld events, %lld customer row, %lld session%s, "
               "%lld cart line%s, history in the engine: %s", hash, (long long) f.events,
               (long long) f.customers, (long long) f.sessions, f.sessions == 1 ? "" : "s",
               (long long) f.cart_lines, f.cart_lines == 1 ? "" : "s", had ? "yes" : "no");
    return handler_reply(out, json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "customer_hash", hash,
                                        "events", (json_int_t) f.events, "customers",
                                        (json_int_t) f.customers, "sessions",
                                        (json_int_t) f.sessions, "cart_lines",
                                        (json_int_t) f.cart_lines, "model", model));
}

proto_err_t
handlers_finish(const handler_env_t *env, const proto_request_t *req, const recog_job_t *job,
                handler_result_t *out)
{
    return flow_answer(env, req, job, out);
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
    { "forget", 0, s_forget },
    { "session", 0, s_session },
    { "look", 0, s_look },
};

const handler_route_t *
handlers_find(const char *type)
{
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_routes); i++)
        if (strcmp(s_routes[i].type, type) == 0)
            return &s_routes[i];
    return NULL;
}
