/* daemon/flow.c: see flow.h */
#include "config.h"

#include "daemon/flow.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/vocab.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/session.h"


/* What one request builds up before it is sent and published. */
typedef struct {
    const handler_env_t *env;
    session_t sess;
    json_t *intent;         /* reply members, NULL when absent */
    json_t *product;
    json_t *recs;
    json_t *cart;           /* set when the cart changed */
    json_t *extra;          /* other reply members (heard, help, timing) */
    char say[512];          /* the sentence a speaker says */
} s_answer_t;

static void
s_say(s_answer_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->say, sizeof a->say, fmt, ap);
    va_end(ap);
}

static proto_err_t
s_store_err(s_answer_t *a, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, store_errmsg(a->env->store));
    log_err("flow: %s", err);
    return PROTO_E_STORE;
}

/* --- pieces of answers --------------------------------------------------- */

json_t *
flow_cart_json(store_t *store, const char *session)
{
    store_cart_line_t *lines = NULL;
    size_t n = 0;
    if (store_cart_get(store, session, &lines, &n) != 0)
        return NULL;
    json_t *arr = json_array();
    json_int_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, json_pack("{s:s, s:i, s:I}", "item", lines[i].item,
                                             "quantity", lines[i].quantity, "updated",
                                             (json_int_t) lines[i].updated));
        total += lines[i].quantity;
    }
    free(lines);
    return json_pack("{s:s, s:o, s:I}", "session", session, "lines", arr, "count", total);
}

static json_t *
s_result_json(const char *item, const char *name, const char *category, double price,
              double score, const char *reason)
{
    return json_pack("{s:s, s:s, s:s, s:f, s:f, s:s}", "item", item, "name", name, "category",
                     category, "price", price, "score", score, "reason", reason);
}

static bool
s_has_item(const json_t *arr, const char *item)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "item")), item))
            return true;
    }
    return false;
}

/* Asks for recommendations; appends the results to arr. Returns the
 * count, or -1 with *code and err. */
static int
s_rec(s_answer_t *a, rec_query_t *q, json_t *arr, proto_err_t *code, char *err, size_t errlen)
{
    if (!a->env->rec) {
        *code = PROTO_E_NOT_AVAILABLE;
        snprintf(err, errlen, "no recommendation service is running");
        return -1;
    }
    rec_result_t *res = xcalloc((size_t) q->k, sizeof *res);
    int n = recommender_query(a->env->rec, q, res, NULL, 0, code, err, errlen);
    for (int i = 0; i < n; i++)
        if (!s_has_item(arr, res[i].item))
            json_array_append_new(arr, s_result_json(res[i].item, res[i].name,
                                                     res[i].category, res[i].price,
                                                     res[i].score, res[i].reason));
    free(res);
    return n;
}

/* Visually and behaviourally similar to item, interleaved (visual first),
 * k at most, item itself left out. Returns the array, or NULL with *code
 * and err. */
static json_t *
s_similar(s_answer_t *a, const char *item, int k, proto_err_t *code, char *err, size_t errlen)
{
    rec_query_t q = { .kind = REC_Q_SIMILAR, .item = item, .k = k,
                      .customer = a->sess.customer[0] ? a->sess.customer : NULL };
    json_t *beh = json_array();
    if (s_rec(a, &q, beh, code, err, errlen) < 0) {
        json_decref(beh);
        return NULL;
    }
    json_t *vis = json_array();
    const float *emb = models_item_embedding(a->env->models, item);
    if (emb) {
        models_match_t *m = xcalloc((size_t) k, sizeof *m);
        store_item_t base, it;
        int n = models_visual_search(a->env->models, emb, k, item, m);
        bool have_base = store_item_get(a->env->store, item, &base) == 0;
        for (int i = 0; i < n; i++) {
            if (store_item_get(a->env->store, m[i].item, &it) != 0 || !it.in_stock)
                continue;
            char reason[REC_REASON_MAX];
            snprintf(reason, sizeof reason, "looks like %.140s", have_base ? base.name : item);
            json_array_append_new(vis, s_result_json(it.id, it.name, it.category, it.price,
                                                     m[i].score, reason));
        }
        free(m);
    }
    json_t *out = json_array();
    for (size_t i = 0; json_array_size(out) < (size_t) k
                       && (i < json_array_size(vis) || i < json_array_size(beh));
         i++) {
        json_t *v = json_array_get(vis, i), *b = json_array_get(beh, i);
        const char *vi = json_string_value(json_object_get(v, "item"));
        const char *bi = json_string_value(json_object_get(b, "item"));
        if (v && !s_has_item(out, vi))
            json_array_append(out, v);
        if (b && json_array_size(out) < (size_t) k && !s_has_item(out, bi))
            json_array_append(out, b);
    }
    json_decref(vis);
    json_decref(beh);
    return out;
}

/* Runs the session's last query for its current page and makes it the
 * recommendations of the answer; the first result becomes the product in
 * view. Returns PROTO_OK (an empty page is an answer too) or an error. */
static proto_err_t
s_run_query(s_answer_t *a, char *err, size_t errlen)
{
    session_t *s = &a->sess;
    const session_query_t *l = &s->last;
    int k = (s->page + 1) * FLOW_PAGE;
    if (k > REC_MAX_K) {
        s->page = REC_MAX_K / FLOW_PAGE - 1;
        k = REC_MAX_K;
    }
    const char *cust = s->customer[0] ? s->customer : NULL;
    json_t *all = json_array();
    proto_err_t code;
    if (!strcmp(l->kind, "similar")) {
        json_decref(all);
        if (!(all = s_similar(a, l->item, k, &code, err, errlen)))
            return code;
    } else {
        rec_query_t q = { .customer = cust, .k = k,
                          .category = l->category[0] ? l->category : NULL };
        const char *cart[REC_MAX_SEEDS];
        if (!strcmp(l->kind, "together")) {
            q.kind = REC_Q_TOGETHER;
            q.item = l->item;
            store_cart_line_t *lines = NULL;
            size_t n = 0;
            if (store_cart_get(a->env->store, s->id, &lines, &n) == 0) {
                for (size_t i = 0; i < n && q.n_cart < REC_MAX_SEEDS; i++)
                    cart[q.n_cart++] = xstrdup(lines[i].item);
                q.cart = cart;
            }
            free(lines);
        } else if (!strcmp(l->kind, "recommend")) {
            q.kind = cust ? REC_Q_PERSONAL : REC_Q_POPULAR;
            q.max_price = l->max_price;
        } else {
            /* search and cheaper: the best of the category for this customer */
            q.kind = REC_Q_CATEGORY;
            q.max_price = l->max_price;
        }
        int n = s_rec(a, &q, all, &code, err, errlen);
        for (int i = 0; i < q.n_cart; i++)
            free((char *) cart[i]);
        if (n < 0) {
            json_decref(all);
            return code;
        }
    }
    json_t *page = json_array();
    for (size_t i = (size_t) s->page * FLOW_PAGE; i < json_array_size(all); i++)
        json_array_append(page, json_array_get(all, i));
    size_t total = json_array_size(all);
    json_decref(all);
    json_t *first = json_array_get(page, 0);
    if (first) {
        shop_strlcpy(s->product, json_string_value(json_object_get(first, "item")),
                     sizeof s->product);
        s->price = json_number_value(json_object_get(first, "price"));
        if (!s->category[0] || !strcmp(l->kind, "search"))
            shop_strlcpy(s->category, json_string_value(json_object_get(first, "category")),
                         sizeof s->category);
    }
    json_decref(a->recs); /* a second query in one answer replaces the first's */
    a->recs = json_pack("{s:s, s:o, s:i, s:b}", "kind", l->kind, "results", page, "page",
                        s->page, "more", total == (size_t) k && k < REC_MAX_K);
    if (l->category[0])
        json_object_set_new(a->recs, "category", json_string(l->category));
    if (l->item[0])
        json_object_set_new(a->recs, "item", json_string(l->item));
    if (l->max_price > 0)
        json_object_set_new(a->recs, "max_price", json_real(l->max_price));
    if (cust)
        json_object_set_new(a->recs, "customer", json_string(cust));
    return PROTO_OK;
}

/* Starts a new query of kind at page 0. */
static proto_err_t
s_query(s_answer_t *a, const char *kind, const char *category, const char *item,
        double max_price, char *err, size_t errlen)
{
    session_query_t *l = &a->sess.last;
    memset(l, 0, sizeof *l);
    shop_strlcpy(l->kind, kind, sizeof l->kind);
    shop_strlcpy(l->category, category ? category : "", sizeof l->category);
    shop_strlcpy(l->item, item ? item : "", sizeof l->item);
    l->max_price = max_price;
    a->sess.page = 0;
    return s_run_query(a, err, errlen);
}

static size_t
s_nrecs(const s_answer_t *a)
{
    return json_array_size(json_object_get(a->recs, "results"));
}

static const char *
s_first_name(const s_answer_t *a)
{
    json_t *f = json_array_get(json_object_get(a->recs, "results"), 0);
    return f ? json_string_value(json_object_get(f, "name")) : "";
}

/* How a speaker says a category: "a dress" / "dresses" ("a pair of
 * trousers" / "trousers"). Writes into buf, returns it. */
static const char *
s_spoken(const char *cat, bool plural, char *buf, size_t len)
{
    if (!cat || !cat[0]) {
        snprintf(buf, len, "%s", plural ? "products" : "a product");
        return buf;
    }
    size_t n = strlen(cat);
    bool pair = !strcmp(cat, "trouser");
    if (plural || pair) {
        bool es = n > 0 && (strchr("sxz", cat[n - 1]) || (n > 1 && (!strcmp(cat + n - 2, "ch")
                                                                   || !strcmp(cat + n - 2, "sh"))));
        snprintf(buf, len, "%s%s%s", plural ? "" : "a pair of ", cat, es ? "es" : "s");
        return buf;
    }
    snprintf(buf, len, "%s %s", strchr("aeiou", cat[0]) ? "an" : "a", cat);
    return buf;
}

/* " under 50.00" when max_price is set, else "". */
static const char *
s_under(double max_price, char *buf, size_t len)
{
    if (max_price > 0)
        snprintf(buf, len, " under %.2f", max_price);
    else
        buf[0] = 0;
    return buf;
}

/* The price bound of a typed request ("under 50"), 0 when none. */
static double
s_max_price(const intent_result_t *r)
{
    const char *v = intent_result_slot(r, "max_price");
    double p = v ? strtod(v, NULL) : 0;
    return p > 0 && p <= 1e9 ? p : 0;
}

/* The quantity of item in session's cart (0 when absent), or -1. */
static int
s_cart_quantity(store_t *store, const char *session, const char *item)
{
    store_cart_line_t *lines = NULL;
    size_t n = 0;
    if (store_cart_get(store, session, &lines, &n) != 0)
        return -1;
    int q = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(lines[i].item, item))
            q = lines[i].quantity;
    free(lines);
    return q;
}

int
flow_cart_room(store_t *store, const char *session, const char *item, int delta)
{
    int now = s_cart_quantity(store, session, item);
    if (now < 0)
        return -1;
    return now + delta > FLOW_CART_LINE_MAX ? FLOW_CART_LINE_MAX - now : delta;
}

/* --- intents --------------------------------------------------------------- */

static const char *const s_help[] = {
    "show me sneakers", "cheaper", "similar", "add two to cart", "remove from cart",
    "show my cart", "checkout", "yes / no / cancel", "recommend something", "next", "back",
    "help",
};

static proto_err_t
s_cart_changed(s_answer_t *a, char *err, size_t errlen)
{
    if (!(a->cart = flow_cart_json(a->env->store, a->sess.id)))
        return s_store_err(a, "reading the cart", err, errlen);
    return PROTO_OK;
}

/* The cart line a "remove the bag" means: the product in view when it is
 * of that category, else the first line of the category. Writes "" when
 * the cart has none. Returns 0 / -1. */
static int
s_cart_line_of(s_answer_t *a, const char *cat, char *item, size_t len)
{
    store_cart_line_t *lines = NULL;
    size_t n = 0;
    item[0] = 0;
    if (store_cart_get(a->env->store, a->sess.id, &lines, &n) != 0)
        return -1;
    for (size_t i = 0; i < n && !item[0]; i++) {
        store_item_t it;
        if (store_item_get(a->env->store, lines[i].item, &it) == 0 && !strcmp(it.category, cat))
            shop_strlcpy(item, it.id, len);
    }
    free(lines);
    return 0;
}

static proto_err_t
s_intent_cart(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    session_t *s = &a->sess;
    const char *qs = intent_result_slot(r, "quantity");
    const char *cat = intent_result_slot(r, "category");
    int qty = qs ? atoi(qs) : 0;
    const char *cust = s->customer[0] ? s->customer : NULL;
    bool add = !strcmp(r->intent, "add_to_cart");
    char word[64];
    store_item_t it;
    proto_err_t rc;
    int g = s->product[0] ? store_item_get(a->env->store, s->product, &it) : 1;
    if (g < 0)
        return s_store_err(a, "reading an item", err, errlen);
    if (cat && (g == 1 || strcmp(it.category, cat) != 0)) {
        /* "add two boots" names another category than the product in view:
         * the best boot for this customer; "remove the bag": the bag in the cart */
        char want[STORE_ID_MAX] = "";
        if (add) {
            if ((rc = s_query(a, "search", cat, NULL, s_max_price(r), err, errlen)) != PROTO_OK)
                return rc;
            if (s_nrecs(a))
                shop_strlcpy(want, s->product, sizeof want);
        } else if (s_cart_line_of(a, cat, want, sizeof want) != 0) {
            return s_store_err(a, "reading the cart", err, errlen);
        }
        if (!want[0]) {
            s_say(a, add ? "There are no %s in stock." : "There are no %s in your cart.",
                  s_spoken(cat, true, word, sizeof word));
            return PROTO_OK;
        }
        if ((g = store_item_get(a->env->store, want, &it)) < 0)
            return s_store_err(a, "reading an item", err, errlen);
    }
    if (!s->product[0] && !cat) {
        s_say(a, "Which product? Show me one first, or say for example \"show me sneakers\".");
        return PROTO_OK;
    }
    if (g == 1) {
        s->product[0] = 0;
        s_say(a, "That product is no longer in the catalogue.");
        return PROTO_OK;
    }
    if (add) {
        int want = qty > 0 ? qty : 1, room = flow_cart_room(a->env->store, s->id, it.id, want);
        if (room < 0)
            return s_store_err(a, "reading the cart", err, errlen);
        if (room < want) {
            s_say(a, "You have %d of %s in your cart already: a line holds at most %d.",
                  FLOW_CART_LINE_MAX - room, it.name, FLOW_CART_LINE_MAX);
            return PROTO_OK;
        }
        int now = 0;
        if (store_cart_add(a->env->store, s->id, cust, it.id, want, &now) != 0)
            return s_store_err(a, "updating the cart", err, errlen);
        if ((rc = s_cart_changed(a, err, errlen)) != PROTO_OK
            || (rc = s_query(a, "together", NULL, it.id, 0, err, errlen)) != PROTO_OK)
            return rc;
        /* the product in view stays the one just added */
        shop_strlcpy(s->product, it.id, sizeof s->product);
        s->price = it.price;
        const char *with = s_nrecs(a) ? " Often bought with it: " : "";
        if (now > want)
            s_say(a, "Added %d %s to your cart; you have %d of it now.%s%s", want, it.name, now,
                  with, s_first_name(a));
        else
            s_say(a, "Added %d %s to your cart.%s%s", want, it.name, with, s_first_name(a));
        return PROTO_OK;
    }
    /* "remove two" takes two off the line; "remove" the whole line */
    int in_cart = s_cart_quantity(a->env->store, s->id, it.id);
    if (in_cart < 0)
        return s_store_err(a, "reading the cart", err, errlen);
    if (!in_cart) {
        s_say(a, "%s is not in your cart.", it.name);
        return PROTO_OK;
    }
    int r2 = qty > 0 ? store_cart_add(a->env->store, s->id, cust, it.id, -qty, NULL)
                     : store_cart_remove(a->env->store, s->id, it.id);
    if (r2 < 0)
        return s_store_err(a, "updating the cart", err, errlen);
    s_say(a, "Removed %s from your cart.", it.name);
    return s_cart_changed(a, err, errlen);
}

/* Sums the cart's lines at catalogue prices. Returns 0 / -1. */
static int
s_cart_total(s_answer_t *a, int *count, double *total)
{
    store_cart_line_t *lines = NULL;
    size_t n = 0;
    *count = 0;
    *total = 0;
    if (store_cart_get(a->env->store, a->sess.id, &lines, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        store_item_t it;
        *count += lines[i].quantity;
        if (store_item_get(a->env->store, lines[i].item, &it) == 0)
            *total += it.price * lines[i].quantity;
    }
    free(lines);
    return 0;
}

static proto_err_t
s_do_search(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    const char *cat = intent_result_slot(r, "category");
    double max = s_max_price(r);
    char word[64], under[32];
    proto_err_t rc;
    if ((rc = s_query(a, "search", cat, NULL, max, err, errlen)) != PROTO_OK)
        return rc;
    s_spoken(cat, true, word, sizeof word);
    s_under(max, under, sizeof under);
    if (s_nrecs(a))
        s_say(a, "Here are %s%s for you, starting with %s.", word, under, s_first_name(a));
    else
        s_say(a, "There are no %s%s in stock.", word, under);
    return PROTO_OK;
}

static proto_err_t
s_do_cheaper(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    session_t *s = &a->sess;
    const char *cat = intent_result_slot(r, "category");
    const char *c = cat ? cat : s->category;
    if (!c[0] || s->price <= 0) {
        s_say(a, "Cheaper than what? Show me a product first.");
        return PROTO_OK;
    }
    double shown = s->price;
    proto_err_t rc;
    /* strictly below the shown price */
    if ((rc = s_query(a, "cheaper", c, NULL, shown - 0.005, err, errlen)) != PROTO_OK)
        return rc;
    s_say(a, s_nrecs(a) ? "Cheaper than %.2f: %s at %.2f." : "Nothing cheaper than %.2f.", shown,
          s_first_name(a), s->price);
    return PROTO_OK;
}

static proto_err_t
s_do_similar(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    session_t *s = &a->sess;
    /* "similar sneakers" with nothing in view is a search */
    if (!s->product[0] && intent_result_slot(r, "category"))
        return s_do_search(a, r, err, errlen);
    if (!s->product[0]) {
        s_say(a, "Similar to what? Show me a product first.");
        return PROTO_OK;
    }
    store_item_t base;
    int g = store_item_get(a->env->store, s->product, &base);
    if (g < 0)
        return s_store_err(a, "reading an item", err, errlen);
    if (g == 1) {
        s->product[0] = 0;
        s_say(a, "That product is no longer in the catalogue.");
        return PROTO_OK;
    }
    proto_err_t rc;
    if ((rc = s_query(a, "similar", NULL, base.id, 0, err, errlen)) != PROTO_OK)
        return rc;
    if (s_nrecs(a))
        s_say(a, "Similar to %s: %s.", base.name, s_first_name(a));
    else
        s_say(a, "Nothing similar to %s is in stock.", base.name);
    return PROTO_OK;
}

static proto_err_t
s_do_show_cart(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    (void) r;
    proto_err_t rc;
    if ((rc = s_cart_changed(a, err, errlen)) != PROTO_OK)
        return rc;
    json_t *first = json_array_get(json_object_get(a->cart, "lines"), 0);
    if (!first) {
        s_say(a, "Your cart is empty.");
        return PROTO_OK;
    }
    if ((rc = s_query(a, "together", NULL, json_string_value(json_object_get(first, "item")), 0,
                      err, errlen)) != PROTO_OK)
        return rc;
    long long count = (long long) json_integer_value(json_object_get(a->cart, "count"));
    s_say(a, "You have %lld item%s in your cart.", count, count == 1 ? "" : "s");
    return PROTO_OK;
}

static proto_err_t
s_do_checkout(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    (void) r;
    int count;
    double total;
    if (s_cart_total(a, &count, &total) != 0)
        return s_store_err(a, "reading the cart", err, errlen);
    if (!count) {
        s_say(a, "Your cart is empty.");
        return PROTO_OK;
    }
    shop_strlcpy(a->sess.pending, "checkout", sizeof a->sess.pending);
    s_say(a, "%d item%s for %.2f. Shall I buy %s? Say yes or no.", count, count == 1 ? "" : "s",
          total, count == 1 ? "it" : "them");
    return PROTO_OK;
}

static proto_err_t
s_do_yes(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    (void) r;
    session_t *s = &a->sess;
    if (strcmp(s->pending, "checkout") != 0) {
        s_say(a, "There is nothing to confirm.");
        return PROTO_OK;
    }
    char cust[STORE_ID_MAX + PROTO_SESSION_MAX];
    /* an anonymous session buys as a guest of that session */
    snprintf(cust, sizeof cust, "%s%s", s->customer[0] ? "" : "guest:",
             s->customer[0] ? s->customer : s->id);
    int lines = 0, count;
    double total;
    if (s_cart_total(a, &count, &total) != 0)
        return s_store_err(a, "reading the cart", err, errlen);
    char why[512];
    if (handler_checkout(a->env, s->id, cust, (int64_t) time(NULL), &lines, why,
                         sizeof why) != 0) {
        snprintf(err, errlen, "buying the cart: %s", why);
        log_err("flow: %s", err);
        return PROTO_E_STORE;
    }
    s->pending[0] = 0;
    proto_err_t rc;
    if ((rc = s_cart_changed(a, err, errlen)) != PROTO_OK)
        return rc;
    json_object_set_new(a->cart, "bought_lines", json_integer(lines));
    s_say(a, "Done: you bought %d item%s for %.2f. Thank you!", count, count == 1 ? "" : "s",
          total);
    return PROTO_OK;
}

static proto_err_t
s_do_no(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    (void) r, (void) err, (void) errlen;
    bool asked = a->sess.pending[0] != 0;
    a->sess.pending[0] = 0;
    s_say(a, asked ? "Cancelled: nothing was bought." : "OK.");
    return PROTO_OK;
}

static proto_err_t
s_do_recommend(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    proto_err_t rc;
    if ((rc = s_query(a, "recommend", intent_result_slot(r, "category"), NULL, s_max_price(r),
                      err, errlen)) != PROTO_OK)
        return rc;
    s_say(a, s_nrecs(a) ? "You might like %s." : "I have nothing to recommend.",
          s_first_name(a));
    return PROTO_OK;
}

/* "next" and "back": the last query's next or previous page. */
static proto_err_t
s_do_page(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    session_t *s = &a->sess;
    if (!s->last.kind[0]) {
        s_say(a, "There is nothing to page through yet.");
        return PROTO_OK;
    }
    bool next = !strcmp(r->intent, "next");
    if (!next && s->page == 0) {
        s_say(a, "This is the first page.");
        return PROTO_OK;
    }
    s->page += next ? 1 : -1;
    proto_err_t rc;
    if ((rc = s_run_query(a, err, errlen)) != PROTO_OK)
        return rc;
    if (!s_nrecs(a) && next) {
        /* the screen keeps showing the last page */
        s->page--;
        json_decref(a->recs);
        a->recs = NULL;
        s_say(a, "There are no more results.");
    } else {
        s_say(a, "Page %d: %s.", s->page + 1, s_first_name(a));
    }
    return PROTO_OK;
}

static proto_err_t
s_do_help(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    (void) r, (void) err, (void) errlen;
    json_t *arr = json_array();
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_help); i++)
        json_array_append_new(arr, json_string(s_help[i]));
    json_object_set_new(a->extra, "help", arr);
    s_say(a, "You can say: show me sneakers, cheaper, similar, add two to cart, show my "
             "cart, checkout, recommend something, next, back.");
    return PROTO_OK;
}

typedef proto_err_t (*s_intent_fn)(s_answer_t *a, const intent_result_t *r, char *err,
                                   size_t errlen);

/* The intent table: the grammar's intent name -> what answers it. An
 * intent that answers the pending question keeps it for its function to
 * read; any other drops it first. */
static const struct {
    const char *name;
    bool answers_question;
    s_intent_fn fn;
} s_intents[] = {
    { "search", false, s_do_search },
    { "cheaper", false, s_do_cheaper },
    { "similar", false, s_do_similar },
    { "add_to_cart", false, s_intent_cart },
    { "remove_from_cart", false, s_intent_cart },
    { "show_cart", false, s_do_show_cart },
    { "checkout", false, s_do_checkout },
    { "yes", true, s_do_yes },
    { "no", true, s_do_no },
    { "cancel", true, s_do_no },
    { "recommend", false, s_do_recommend },
    { "next", false, s_do_page },
    { "back", false, s_do_page },
    { "help", false, s_do_help },
};

static proto_err_t
s_intent(s_answer_t *a, const intent_result_t *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_intents); i++) {
        if (strcmp(s_intents[i].name, r->intent) != 0)
            continue;
        if (!s_intents[i].answers_question)
            a->sess.pending[0] = 0;
        return s_intents[i].fn(a, r, err, errlen);
    }
    a->sess.pending[0] = 0;
    s_say(a, "I know \"%s\" but cannot do it here.", r->intent);
    return PROTO_OK;
}

/* --- one request: session in, answer out, events ---------------------------- */

static proto_err_t
s_begin(s_answer_t *a, const handler_env_t *env, const proto_request_t *req, char *err,
        size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->env = env;
    a->extra = json_object();
    const char *sid = req->session[0] ? req->session : "default";
    if (session_load(env->store, sid, &a->sess) != 0)
        return s_store_err(a, "reading the session", err, errlen);
    const char *cust = json_string_value(json_object_get(req->body, "customer"));
    if (cust && cust[0] && strlen(cust) < sizeof a->sess.customer)
        shop_strlcpy(a->sess.customer, cust, sizeof a->sess.customer);
    return PROTO_OK;
}

static void
s_end(s_answer_t *a)
{
    json_decref(a->intent);
    json_decref(a->product);
    json_decref(a->recs);
    json_decref(a->cart);
    json_decref(a->extra);
}

/* Saves the session, puts the reply and its events into out. */
static proto_err_t
s_finish(s_answer_t *a, handler_result_t *out, char *err, size_t errlen)
{
    if (session_save(a->env->store, &a->sess) != 0) {
        proto_err_t rc = s_store_err(a, "saving the session", err, errlen);
        s_end(a);
        return rc;
    }
    json_t *o = json_pack("{s:s, s:o}", "say", a->say, "session", session_json(&a->sess));
    const char *names[] = { "intent", "product", "recommendations", "cart" };
    json_t *parts[] = { a->intent, a->product, a->recs, a->cart };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(parts); i++)
        if (parts[i])
            json_object_set(o, names[i], parts[i]);
    json_object_update(o, a->extra);
    for (size_t i = 0; i < SHOP_ARRAY_LEN(parts); i++)
        if (parts[i])
            handler_event(out, names[i], a->sess.id, parts[i]);
    handler_event(out, "answer", a->sess.id, o);
    handler_reply(out, o);
    s_end(a);
    return PROTO_OK;
}

/* Matches words (or text when words is NULL) and answers the intent. */
static proto_err_t s_answer_intent(s_answer_t *a, const intent_result_t *r, const char *why,
                                   char *err, size_t errlen);

static proto_err_t
s_understand(s_answer_t *a, const int *words, const float *conf, size_t n, const char *text,
             char *err, size_t errlen)
{
    intent_result_t r;
    char why[256];
    const intent_t *g = models_grammar(a->env->models);
    int m = words ? intent_match(g, words, conf, n, &r, why, sizeof why)
                  : intent_match_text(g, text, &r, why, sizeof why);
    return s_answer_intent(a, m == 0 ? &r : NULL, why, err, errlen);
}

/* Answers the intent r, or (r NULL) that nothing was understood and why. */
static proto_err_t
s_answer_intent(s_answer_t *a, const intent_result_t *r, const char *why, char *err,
                size_t errlen)
{
    char fmt[256];
    if (!r) {
        a->intent = json_pack("{s:b, s:s}", "understood", 0, "reason", why);
        s_say(a, "Sorry, I did not understand that. Say \"help\" to hear what you can say.");
        return PROTO_OK;
    }
    json_t *slots = json_object();
    for (int i = 0; i < r->n_slots; i++)
        json_object_set_new(slots, r->slots[i].name, json_string(r->slots[i].value));
    a->intent = json_pack("{s:b, s:s, s:o, s:f, s:s}", "understood", 1, "name", r->intent,
                          "slots", slots, "confidence", (double) r->confidence, "text",
                          intent_result_format(r, fmt, sizeof fmt));
    return s_intent(a, r, err, errlen);
}

/* The words of hits as the "heard" member: [{"word", "confidence", "time"}]. */
static json_t *
s_heard_json(const kws_hit_t *hits, int n)
{
    json_t *heard = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(heard, json_pack("{s:s, s:f, s:f}", "word",
                                               vocab_name(hits[i].word), "confidence",
                                               (double) hits[i].confidence, "time",
                                               hits[i].time));
    return heard;
}

/* The answer's timing_ms: the worker's decode and recognition, and the
 * total with the answer's own time since t2. */
static void
s_timing(s_answer_t *a, const recog_job_t *job, uint64_t t2)
{
    double answer_ms = (double) (shop_now_ns() - t2) / 1e6;
    json_object_set_new(a->extra, "timing_ms",
                        json_pack("{s:f, s:f, s:f}", "decode", job->decode_ms, "recognise",
                                  job->recognise_ms, "total",
                                  job->decode_ms + job->recognise_ms + answer_ms));
}

static proto_err_t
s_audio(const handler_env_t *env, const proto_request_t *req, const recog_job_t *job,
        handler_result_t *out, char *err, size_t errlen)
{
    s_answer_t a;
    proto_err_t rc;
    uint64_t t2 = shop_now_ns();
    if ((rc = s_begin(&a, env, req, err, errlen)) != PROTO_OK) {
        s_end(&a);
        return rc;
    }
    int nh = job->nhits;
    const kws_hit_t *hits = job->hits;
    int words[RECOG_MAX_HITS];
    float conf[RECOG_MAX_HITS];
    for (int i = 0; i < nh; i++) {
        words[i] = hits[i].word;
        conf[i] = hits[i].confidence;
    }
    json_t *heard = s_heard_json(hits, nh);
    json_object_set_new(a.extra, "heard", heard);
    json_object_set_new(a.extra, "audio_seconds", json_real((double) job->samples / 16000.0));
    if ((rc = s_understand(&a, words, conf, (size_t) nh, NULL, err, errlen)) != PROTO_OK) {
        s_end(&a);
        return rc;
    }
    json_object_set(a.intent, "heard", heard);
    s_timing(&a, job, t2);
    return s_finish(&a, out, err, errlen);
}

static proto_err_t
s_heard(const handler_env_t *env, const char *session, const listener_utterance_t *u,
        handler_result_t *out, char *err, size_t errlen)
{
    proto_request_t req = { 0 };
    shop_strlcpy(req.session, session, sizeof req.session);
    s_answer_t a;
    proto_err_t rc = s_begin(&a, env, &req, err, errlen);
    if (rc != PROTO_OK) {
        s_end(&a);
        return rc;
    }
    json_t *heard = s_heard_json(u->words, u->n_words);
    json_object_set_new(a.extra, "heard", heard);
    json_object_set_new(a.extra, "microphone",
                        json_pack("{s:f, s:f, s:f}", "start", u->start, "end", u->end,
                                  "wake_confidence", (double) u->wake_confidence));
    if ((rc = s_answer_intent(&a, u->understood ? &u->result : NULL, u->reason, err, errlen))
        != PROTO_OK) {
        s_end(&a);
        return rc;
    }
    json_object_set(a.intent, "heard", heard);
    char fmt[256];
    log_info("microphone: heard %d word%s on session '%s': %s", u->n_words,
             u->n_words == 1 ? "" : "s", session,
             u->understood ? intent_result_format(&u->result, fmt, sizeof fmt) : u->reason);
    return s_finish(&a, out, err, errlen);
}

static proto_err_t
s_text(const handler_env_t *env, const proto_request_t *req, handler_result_t *out, char *err,
       size_t errlen)
{
    const char *text = json_string_value(json_object_get(req->body, "text"));
    if (!text || !text[0] || strlen(text) > 1000) {
        snprintf(err, errlen, "body field \"text\" must be a string of 1 to 1000 bytes");
        return PROTO_E_INVALID;
    }
    s_answer_t a;
    proto_err_t rc;
    if ((rc = s_begin(&a, env, req, err, errlen)) != PROTO_OK
        || (rc = s_understand(&a, NULL, NULL, 0, text, err, errlen)) != PROTO_OK) {
        s_end(&a);
        return rc;
    }
    json_object_set_new(a.intent, "heard_text", json_string(text));
    return s_finish(&a, out, err, errlen);
}

/* The catalogue's name for a model label among its n categories cats:
 * itself, the part before '/' ("t-shirt/top"), or its last word ("ankle
 * boot"). Writes "" when none. */
static void
s_category_of(char *const *cats, size_t n, const char *label, char *out, size_t len)
{
    char cand[3][STORE_CATEGORY_MAX];
    shop_strlcpy(cand[0], label, sizeof cand[0]);
    shop_strlcpy(cand[1], label, sizeof cand[1]);
    cand[1][strcspn(cand[1], "/")] = 0;
    const char *sp = strrchr(label, ' ');
    shop_strlcpy(cand[2], sp ? sp + 1 : label, sizeof cand[2]);
    out[0] = 0;
    for (int c = 0; c < 3 && !out[0]; c++)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(cats[i], cand[c])) {
                shop_strlcpy(out, cats[i], len);
                break;
            }
}

static proto_err_t
s_photo(const handler_env_t *env, const proto_request_t *req, const recog_job_t *job,
        handler_result_t *out, char *err, size_t errlen)
{
    uint64_t t2 = shop_now_ns();
    const vision_result_t res = job->vision;
    s_answer_t a;
    proto_err_t rc;
    if ((rc = s_begin(&a, env, req, err, errlen)) != PROTO_OK) {
        s_end(&a);
        return rc;
    }
    /* the catalogue's categories, read once for all the guesses */
    char cat[STORE_CATEGORY_MAX], **cats = NULL;
    size_t ncats = 0;
    if (store_categories(env->store, &cats, &ncats) != 0)
        ncats = 0;
    s_category_of(cats, ncats, res.top[0].name, cat, sizeof cat);
    json_t *top = json_array();
    for (int i = 0; i < res.n; i++) {
        char ci[STORE_CATEGORY_MAX];
        s_category_of(cats, ncats, res.top[i].name, ci, sizeof ci);
        json_array_append_new(top, json_pack("{s:s, s:s, s:f}", "label", res.top[i].name,
                                             "category", ci, "probability",
                                             (double) res.top[i].prob));
    }
    store_strings_free(cats, ncats);
    /* nearest catalogue photos; the product is the nearest of the recognised category */
    enum { NEAR = 10 };
    models_match_t m[NEAR];
    int nm = models_visual_search(env->models, res.embedding, NEAR, NULL, m);
    json_t *nearest = json_array();
    store_item_t item = { .id = "" }, it;
    for (int i = 0; i < nm; i++) {
        if (store_item_get(env->store, m[i].item, &it) != 0)
            continue;
        if (!item.id[0] && !strcmp(it.category, cat))
            item = it;
        if (json_array_size(nearest) < FLOW_PAGE)
            json_array_append_new(nearest, json_pack("{s:s, s:s, s:f}", "item", it.id,
                                                     "category", it.category, "score",
                                                     (double) m[i].score));
    }
    bool unsure = res.unsure || !cat[0];
    a.product = json_pack("{s:b, s:s, s:s, s:f, s:o, s:o}", "unsure", unsure, "label",
                          res.top[0].name, "category", cat, "confidence",
                          (double) res.top[0].prob, "top", top, "nearest", nearest);
    if (unsure) {
        if (res.prep.empty)
            s_say(&a, "I cannot make out a product in this photo. Try one "
                                       "with the product alone on a plain background.");
        else
            s_say(&a, "I am not sure what this is (%s? %s?). Try a photo with "
                      "the product alone on a plain background.",
                  res.top[0].name, res.n > 1 ? res.top[1].name : "something else");
    } else if (!item.id[0]) {
        shop_strlcpy(a.sess.category, cat, sizeof a.sess.category);
        a.sess.product[0] = 0;
        a.sess.price = 0;
        if ((rc = s_query(&a, "search", cat, NULL, 0, err, errlen)) != PROTO_OK) {
            s_end(&a);
            return rc;
        }
        char one[64], many[64];
        s_say(&a, "That looks like %s; here are %s from the shop.",
              s_spoken(cat, false, one, sizeof one), s_spoken(cat, true, many, sizeof many));
    } else {
        json_object_set_new(a.product, "item", store_item_json(&item));
        shop_strlcpy(a.sess.category, cat, sizeof a.sess.category);
        if ((rc = s_query(&a, "similar", NULL, item.id, 0, err, errlen)) != PROTO_OK) {
            s_end(&a);
            return rc;
        }
        /* the product in view is the one photographed, not the first suggestion */
        shop_strlcpy(a.sess.product, item.id, sizeof a.sess.product);
        a.sess.price = item.price;
        /* bought together, apart from what the similar list already shows */
        json_t *all = json_array(), *tog = json_array();
        const json_t *shown = json_object_get(a.recs, "results");
        rec_query_t q = { .kind = REC_Q_TOGETHER, .item = item.id,
                          .k = 3 + (int) json_array_size(shown),
                          .customer = a.sess.customer[0] ? a.sess.customer : NULL };
        proto_err_t code;
        if (s_rec(&a, &q, all, &code, err, errlen) < 0) {
            json_decref(all);
            json_decref(tog);
            s_end(&a);
            return code;
        }
        for (size_t i = 0; i < json_array_size(all) && json_array_size(tog) < 3; i++) {
            json_t *x = json_array_get(all, i);
            if (!s_has_item(shown, json_string_value(json_object_get(x, "item"))))
                json_array_append(tog, x);
        }
        json_decref(all);
        json_object_set_new(a.recs, "together", tog);
        s_say(&a, "That looks like %s (%.2f).%s%s", item.name, item.price,
              s_nrecs(&a) ? " Similar: " : "", s_first_name(&a));
    }
    s_timing(&a, job, t2);
    return s_finish(&a, out, err, errlen);
}

/* --- the entry points: one error convention (code + message in out) ------- */

proto_err_t
flow_answer(const handler_env_t *env, const proto_request_t *req, const recog_job_t *job,
            handler_result_t *out)
{
    if (job->code != PROTO_OK)
        return handler_fail(out, job->code, "%s", job->err);
    char err[sizeof out->message] = "";
    proto_err_t rc = job->kind == RECOG_AUDIO ? s_audio(env, req, job, out, err, sizeof err)
                                              : s_photo(env, req, job, out, err, sizeof err);
    return rc == PROTO_OK ? rc : handler_fail(out, rc, "%s", err);
}

/* Recognises bytes of kind on this thread, in-process, then answers. */
static proto_err_t
s_now(const handler_env_t *env, const proto_request_t *req, recog_kind_t kind,
      const void *bytes, size_t len, handler_result_t *out)
{
    uint8_t *copy = xmalloc(len ? len : 1);
    memcpy(copy, bytes, len);
    recog_job_t *job = recog_job_new(kind, copy, len);
    recog_run(env->models, NULL, job);
    proto_err_t rc = flow_answer(env, req, job, out);
    recog_job_free(job);
    return rc;
}

proto_err_t
flow_audio(const handler_env_t *env, const proto_request_t *req, const void *bytes, size_t len,
           handler_result_t *out)
{
    return s_now(env, req, RECOG_AUDIO, bytes, len, out);
}

proto_err_t
flow_text(const handler_env_t *env, const proto_request_t *req, handler_result_t *out)
{
    char err[sizeof out->message] = "";
    proto_err_t rc = s_text(env, req, out, err, sizeof err);
    return rc == PROTO_OK ? rc : handler_fail(out, rc, "%s", err);
}

proto_err_t
flow_photo(const handler_env_t *env, const proto_request_t *req, const void *bytes, size_t len,
           handler_result_t *out)
{
    return s_now(env, req, RECOG_PHOTO, bytes, len, out);
}

proto_err_t
flow_heard(const handler_env_t *env, const char *session, const listener_utterance_t *u,
           handler_result_t *out)
{
    char err[sizeof out->message] = "";
    proto_err_t rc = s_heard(env, session, u, out, err, sizeof err);
    return rc == PROTO_OK ? rc : handler_fail(out, rc, "%s", err);
}

proto_err_t
flow_session(const handler_env_t *env, const proto_request_t *req, handler_result_t *out)
{
    char err[sizeof out->message] = "";
    s_answer_t a;
    proto_err_t rc = s_begin(&a, env, req, err, sizeof err);
    if (rc != PROTO_OK) {
        s_end(&a);
        return handler_fail(out, rc, "%s", err);
    }
    json_t *o = json_object();
    json_t *cart = flow_cart_json(env->store, a.sess.id);
    if (!cart) {
        rc = s_store_err(&a, "reading the cart", err, sizeof err);
        s_end(&a);
        json_decref(o);
        return handler_fail(out, rc, "%s", err);
    }
    json_object_set_new(o, "cart", cart);
    json_object_set_new(o, "session", session_json(&a.sess));
    if (a.sess.product[0]) {
        store_item_t it;
        if (store_item_get(env->store, a.sess.product, &it) == 0)
            json_object_set_new(o, "item", store_item_json(&it));
    }
    if (a.sess.last.kind[0]) {
        /* the page on screen now; what it makes the product in view is not
         * kept (nothing is saved) */
        if (s_run_query(&a, err, sizeof err) == PROTO_OK)
            json_object_set(o, "recommendations", a.recs);
        else
            log_info("flow: session %s: its recommendations are not available: %s", a.sess.id,
                     err);
    }
    s_end(&a);
    return handler_reply(out, o);
}
