/* daemon/session.c: see session.h */
#include "config.h"

#include "daemon/session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* store_meta values are read into a fixed buffer: a session is a few
 * hundred bytes of JSON */
#define S_VALUE_MAX 2048

static void
s_key(const char *id, char *key, size_t len)
{
    snprintf(key, len, "session:%s", id);
}

static void
s_copy(const json_t *o, const char *key, char *dst, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (v && strlen(v) < cap)
        memcpy(dst, v, strlen(v) + 1);
}

static double
s_num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    double d = json_is_number(v) ? json_number_value(v) : 0;
    return isfinite(d) && d >= 0 && d < 1e9 ? d : 0;
}

int
session_load(store_t *store, const char *id, session_t *s)
{
    memset(s, 0, sizeof *s);
    shop_strlcpy(s->id, id, sizeof s->id);
    char key[PROTO_SESSION_MAX + 16], *buf = xmalloc(S_VALUE_MAX);
    s_key(id, key, sizeof key);
    int g = store_meta_get(store, key, buf, S_VALUE_MAX);
    if (g != 0) {
        free(buf);
        return g < 0 ? -1 : 0;
    }
    json_t *o = json_loads(buf, 0, NULL);
    free(buf);
    if (!json_is_object(o)) {
        /* written by us, so only a damaged database gets here: start afresh */
        log_warn("session %s: saved context is unreadable; starting an empty one", id);
        json_decref(o);
        return 0;
    }
    s_copy(o, "customer", s->customer, sizeof s->customer);
    s_copy(o, "category", s->category, sizeof s->category);
    s_copy(o, "product", s->product, sizeof s->product);
    s->price = s_num(o, "price");
    s->page = (int) s_num(o, "page");
    s_copy(o, "pending", s->pending, sizeof s->pending);
    s_copy(o, "owner", s->owner, sizeof s->owner);
    const json_t *t = json_object_get(o, "touched");
    s->touched = json_is_integer(t) ? json_integer_value(t) : 0;
    const json_t *q = json_object_get(o, "last");
    if (json_is_object(q)) {
        s_copy(q, "kind", s->last.kind, sizeof s->last.kind);
        s_copy(q, "category", s->last.category, sizeof s->last.category);
        s_copy(q, "item", s->last.item, sizeof s->last.item);
        s->last.max_price = s_num(q, "max_price");
    }
    json_decref(o);
    return 0;
}

json_t *
session_json(const session_t *s)
{
    json_t *o = json_pack("{s:s, s:s?, s:s?, s:s?, s:f, s:i, s:s?}", "session", s->id,
                          "customer", s->customer[0] ? s->customer : NULL, "category",
                          s->category[0] ? s->category : NULL, "product",
                          s->product[0] ? s->product : NULL, "price", s->price, "page",
                          s->page, "pending", s->pending[0] ? s->pending : NULL);
    if (s->last.kind[0])
        json_object_set_new(o, "last",
                            json_pack("{s:s, s:s, s:s, s:f}", "kind", s->last.kind, "category",
                                      s->last.category, "item", s->last.item, "max_price",
                                      s->last.max_price));
    return o;
}

int
session_may_use(store_t *store, const char *id, const char *user)
{
    session_t s;
    if (session_load(store, id, &s) != 0)
        return -1;
    return !s.owner[0] || strcmp(s.owner, user ? user : "") == 0;
}

int
session_claim(store_t *store, const char *id, const char *user)
{
    session_t s;
    if (session_load(store, id, &s) != 0)
        return -1;
    if (s.owner[0])
        return strcmp(s.owner, user) == 0;
    shop_strlcpy(s.owner, user, sizeof s.owner);
    return session_save(store, &s) == 0 ? 1 : -1;
}

int
session_save(store_t *store, const session_t *s)
{
    json_t *o = session_json(s);
    json_object_set_new(o, "touched", json_integer((json_int_t) time(NULL)));
    if (s->owner[0])
        json_object_set_new(o, "owner", json_string(s->owner));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char key[PROTO_SESSION_MAX + 16];
    s_key(s->id, key, sizeof key);
    int rc = text ? store_meta_set(store, key, text) : -1;
    free(text);
    return rc;
}

#define S_CHECK(c)                                                               \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "session_test: %s:%d: %s\n", __FILE__, __LINE__, #c); \
            goto done;                                                           \
        }                                                                        \
    } while (0)

int
session_test(bool verbose)
{
    int rc = -1;
    char dir[] = "/tmp/shop-session-test-XXXXXX", path[128];
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/shop.db", dir);
    store_t *st = store_open(path, NULL);
    session_t s, t;
    S_CHECK(st);
    S_CHECK(session_load(st, "kiosk-1", &s) == 0);
    S_CHECK(!strcmp(s.id, "kiosk-1") && !s.customer[0] && !s.product[0] && s.page == 0);
    shop_strlcpy(s.customer, "c0042", sizeof s.customer);
    shop_strlcpy(s.category, "sneaker", sizeof s.category);
    shop_strlcpy(s.product, "sneaker-03", sizeof s.product);
    s.price = 59.99;
    s.page = 2;
    shop_strlcpy(s.pending, "checkout", sizeof s.pending);
    shop_strlcpy(s.last.kind, "cheaper", sizeof s.last.kind);
    shop_strlcpy(s.last.category, "sneaker", sizeof s.last.category);
    s.last.max_price = 59.98;
    S_CHECK(session_save(st, &s) == 0);
    S_CHECK(session_load(st, "kiosk-1", &t) == 0);
    S_CHECK(!strcmp(t.customer, "c0042") && !strcmp(t.category, "sneaker")
            && !strcmp(t.product, "sneaker-03") && fabs(t.price - 59.99) < 1e-9 && t.page == 2
            && !strcmp(t.pending, "checkout") && !strcmp(t.last.kind, "cheaper")
            && fabs(t.last.max_price - 59.98) < 1e-9);
    /* another session is independent, and an overwrite replaces */
    S_CHECK(session_load(st, "speaker-1", &t) == 0 && !t.customer[0]);
    s.pending[0] = 0;
    S_CHECK(session_save(st, &s) == 0 && session_load(st, "kiosk-1", &t) == 0 && !t.pending[0]);
    /* a damaged value loads as an empty context */
    S_CHECK(store_meta_set(st, "session:bad", "{not json") == 0);
    S_CHECK(session_load(st, "bad", &t) == 0 && !strcmp(t.id, "bad") && !t.product[0]);
    /* the context survives closing and reopening the database */
    store_close(&st);
    st = store_open(path, NULL);
    S_CHECK(st && session_load(st, "kiosk-1", &t) == 0 && !strcmp(t.product, "sneaker-03"));
    rc = 0;
    if (verbose)
        printf("session_test: ok\n");
done:
    store_close(&st);
    char f[160];
    const char *sfx[] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(sfx); i++) {
        snprintf(f, sizeof f, "%s%s", path, sfx[i]);
        unlink(f);
    }
    rmdir(dir);
    return rc;
}
