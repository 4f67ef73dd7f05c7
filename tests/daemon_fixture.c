/* tests/daemon_fixture.c: see daemon_fixture.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/daemon_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

static const struct {
    const char *id, *name, *category;
    double price;
    bool in_stock;
    int purchases;
} s_items[FIXTURE_ITEMS] = {
    { "sneaker-01", "Urban black Sneakers", "sneaker", 43.99, true, 8 },
    { "sneaker-02", "Essential black Sneakers", "sneaker", 47.99, true, 4 },
    { "sneaker-03", "Classic grey Sneakers", "sneaker", 51.99, true, 9 },
    { "sneaker-04", "Slim red Sneakers", "sneaker", 53.99, true, 6 },
    { "sneaker-08", "Trail blue Sneakers", "sneaker", 70.99, false, 10 },
    { "boot-01", "Urban beige Ankle Boots", "boot", 64.99, true, 3 },
    { "boot-02", "Studio beige Ankle Boots", "boot", 66.99, true, 7 },
    { "bag-01", "Relaxed grey Bag", "bag", 23.99, true, 2 },
    { "bag-02", "Harbour red Bag", "bag", 26.99, true, 5 },
};

static void
s_seed(store_t *st)
{
    int n = 0;
    for (size_t i = 0; i < FIXTURE_ITEMS; i++) {
        store_item_t it = { .price = s_items[i].price, .in_stock = s_items[i].in_stock };
        shop_strlcpy(it.id, s_items[i].id, sizeof it.id);
        shop_strlcpy(it.name, s_items[i].name, sizeof it.name);
        shop_strlcpy(it.category, s_items[i].category, sizeof it.category);
        shop_strlcpy(it.attributes, "{}", sizeof it.attributes);
        snprintf(it.photo, sizeof it.photo, "photos/%s.png", s_items[i].id);
        assert_int_equal(store_item_upsert(st, &it), 0);
        /* one customer per purchase: nobody has a history to personalise */
        for (int k = 0; k < s_items[i].purchases; k++) {
            store_event_t ev = { .type = STORE_EVENT_PURCHASE, .quantity = 1,
                                 .time = 1700000000 + n };
            snprintf(ev.customer, sizeof ev.customer, "c%d", ++n);
            shop_strlcpy(ev.item, s_items[i].id, sizeof ev.item);
            assert_int_equal(store_add_event(st, &ev), 0);
        }
    }
    assert_int_equal(n, FIXTURE_PURCHASES);
}

void
fixture_open(fixture_t *f, bool models, bool rec)
{
    memset(f, 0, sizeof *f);
    shop_strlcpy(f->dir, "/tmp/shopd-unit-XXXXXX", sizeof f->dir);
    assert_non_null(mkdtemp(f->dir));
    conf_defaults(&f->cfg);
    snprintf(f->cfg.database, sizeof f->cfg.database, "%s/shop.db", f->dir);
    snprintf(f->cfg.endpoint, sizeof f->cfg.endpoint, "ipc://%s/req", f->dir);
    snprintf(f->cfg.events_endpoint, sizeof f->cfg.events_endpoint, "ipc://%s/ev", f->dir);
    f->cfg.import_demo = false;
    /* popularity only: the order the header lists */
    snprintf(f->cfg.rec_model, sizeof f->cfg.rec_model, "%s/no-such.model", f->dir);
    char *err = NULL;
    f->store = store_open(f->cfg.database, &err);
    if (!f->store)
        fail_msg("store: %s", err);
    s_seed(f->store);
    if (models)
        assert_non_null(f->models = models_new(&f->cfg, f->store));
    if (rec)
        assert_non_null(f->rec = recommender_new(NULL, &f->cfg));
    f->env = (handler_env_t) { .store = f->store, .cfg = &f->cfg, .models = f->models,
                               .rec = f->rec };
    f->env.status.started_ns = shop_now_ns();
    f->env.status.conf_path = "";
}

void
fixture_close(fixture_t *f)
{
    proto_request_clear(&f->req);
    recommender_destroy(&f->rec);
    models_destroy(&f->models);
    store_close(&f->store);
    if (f->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "# cannot remove %s\n", f->dir);
        f->dir[0] = 0;
    }
}

const proto_request_t *
fixture_request(fixture_t *f, const char *type, const char *session, json_t *body)
{
    proto_request_clear(&f->req);
    memset(&f->req, 0, sizeof f->req);
    f->req.version = PROTO_VERSION;
    snprintf(f->req.id, sizeof f->req.id, "t-%s", type);
    shop_strlcpy(f->req.type, type, sizeof f->req.type);
    shop_strlcpy(f->req.session, session ? session : "", sizeof f->req.session);
    f->req.body = body ? body : json_object();
    return &f->req;
}

void *
fixture_read(const char *rel, size_t *len)
{
    char path[CONF_PATH_MAX];
    if (!shop_data_path(rel, path, sizeof path))
        fail_msg("%s not found (SHOPD_DATADIR)", rel);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n > 0);
    rewind(fp);
    void *buf = malloc((size_t) n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) n, fp), (size_t) n);
    fclose(fp);
    *len = (size_t) n;
    return buf;
}

void
fixture_events_are(const handler_result_t *r, const char *session, const char *const *types)
{
    size_t n = 0;
    while (types[n])
        n++;
    if (r->nevents != n) {
        char got[256] = "";
        for (size_t i = 0; i < r->nevents; i++) {
            strncat(got, " ", sizeof got - strlen(got) - 1);
            strncat(got, r->events[i].type, sizeof got - strlen(got) - 1);
        }
        fail_msg("%zu events (%s ), want %zu", r->nevents, got, n);
    }
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r->events[i].type, types[i]);
        assert_string_equal(r->events[i].session, session);
        assert_non_null(r->events[i].body);
    }
}

const char *
fixture_result_item(const json_t *recs, size_t i)
{
    const json_t *x = json_array_get(json_object_get(recs, "results"), i);
    if (!x)
        fail_msg("no result %zu", i);
    return json_string_value(json_object_get(x, "item"));
}
