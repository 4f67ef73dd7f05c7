/* tests/daemon_index_cache_test.c: the visual index of the catalogue photos
 * is cached next to the database (daemon/models.h) and the cache is used
 * only while it still describes the same model and photos:
 *   - the first start embeds the photos and writes <database>.vindex; the
 *     second start loads it, and a photo request then finds the same
 *     nearest products with the same scores;
 *   - a changed catalogue photo, a changed model file (the same net saved
 *     again with one more metadata entry) and a damaged cache each make the
 *     next start embed the photos again, say why in the log, and write a
 *     cache that the start after that uses.
 * A real shopd over its ipc sockets, on a catalogue of six demo photos so
 * that each start takes a second. Skipped (77) when shopd is not built or the
 * product model is not shipped. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/shopd_harness.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/client.h"
#include "ipc/proto.h"
#include "nn/nn.h"
#include "recommend/store.h"

enum { PHOTOS = 6 };

static const char *const s_photos[PHOTOS] = {
    "bag-01.png", "sneaker-01.png", "trouser-01.png", "dress-01.png", "coat-01.png",
    "sandal-01.png",
};

static harness_t s_d;

static int
s_teardown(void **state)
{
    (void) state;
    harness_cleanup(&s_d);
    return 0;
}

/* The bytes of a file (fails the test when it cannot be read). */
static uint8_t *
s_read(const char *path, size_t *len)
{
    char err[256];
    uint8_t *data = shop_read_file(path, 1 << 26, len, err, sizeof err);
    if (!data)
        fail_msg("%s", err);
    return data;
}

/* A JSON string's value, "" when it is not one. */
static const char *
s_str(const json_t *j)
{
    const char *v = json_string_value(j);
    return v ? v : "";
}

static void
s_copy(const char *from, const char *to)
{
    size_t len;
    uint8_t *data = s_read(from, &len);
    assert_int_equal(shop_write_file_atomic(to, data, len), 0);
    free(data);
}

static void
s_demo_photo(const char *name, char *buf, size_t len)
{
    char rel[128];
    snprintf(rel, sizeof rel, "data/demo/photos/%s", name);
    if (!shop_data_path(rel, buf, len))
        fail_msg("%s not found", rel);
}

/* The test's catalogue: six products whose photos are copies in d's dir. */
static void
s_make_catalogue(void)
{
    char *err = NULL;
    store_t *st = store_open(s_d.db, &err);
    if (!st)
        fail_msg("%s: %s", s_d.db, err);
    for (int i = 0; i < PHOTOS; i++) {
        char src[4096];
        s_demo_photo(s_photos[i], src, sizeof src);
        store_item_t it = { .price = 10.0 + i, .in_stock = true };
        snprintf(it.id, sizeof it.id, "item-%d", i);
        snprintf(it.name, sizeof it.name, "Product %d", i);
        shop_strlcpy(it.category, s_photos[i], sizeof it.category);
        it.category[strcspn(it.category, "-")] = 0;
        shop_strlcpy(it.attributes, "{}", sizeof it.attributes);
        snprintf(it.photo, sizeof it.photo, "%s/p%d.png", s_d.dir, i);
        s_copy(src, it.photo);
        assert_int_equal(store_item_upsert(st, &it), 0);
    }
    store_close(&st);
}

/* What one start did with the index. */
typedef struct {
    char from[16];                /* "cache" or "photos" */
    int photos;                   /* indexed_photos */
    char nearest[5][64];          /* a photo request's nearest products */
    double score[5];
    int n;
} s_start_t;

/* Starts shopd on a fresh log, reads status and the answer to a photo of
 * the sneaker, stops it. */
static void
s_start(s_start_t *out)
{
    memset(out, 0, sizeof *out);
    harness_write(s_d.log, "");
    harness_start(&s_d);
    client_t *c = harness_client(&s_d);
    proto_reply_t r;
    char err[256];
    assert_int_equal(client_request(c, "status", NULL, NULL, NULL, NULL, 0, 10000, &r, err,
                                    sizeof err),
                     0);
    assert_true(r.ok);
    json_t *v = json_object_get(json_object_get(r.body, "models"), "vision");
    shop_strlcpy(out->from, s_str(json_object_get(v, "index_from")),
                 sizeof out->from);
    out->photos = (int) json_integer_value(json_object_get(v, "indexed_photos"));
    char cache[200];
    snprintf(cache, sizeof cache, "%s.vindex", s_d.db);
    assert_string_equal(json_string_value(json_object_get(v, "index_cache")), cache);
    proto_reply_clear(&r);

    char path[4096];
    s_demo_photo("sneaker-02.png", path, sizeof path);
    size_t len;
    uint8_t *photo = s_read(path, &len);
    const void *frames[] = { photo };
    assert_int_equal(client_request(c, "photo", "cache-test", NULL, frames, &len, 1, 30000, &r,
                                    err, sizeof err),
                     0);
    free(photo);
    if (!r.ok)
        fail_msg("photo refused: %s", r.message);
    json_t *near = json_object_get(json_object_get(r.body, "product"), "nearest");
    for (size_t i = 0; i < json_array_size(near) && out->n < 5; i++, out->n++) {
        json_t *e = json_array_get(near, i);
        shop_strlcpy(out->nearest[out->n], s_str(json_object_get(e, "item")),
                     sizeof out->nearest[out->n]);
        out->score[out->n] = json_real_value(json_object_get(e, "score"));
    }
    proto_reply_clear(&r);
    client_destroy(&c);
    assert_int_equal(harness_stop(&s_d, SIGTERM), 0);
    printf("# start: index of %d photos from %s; nearest %s (%.4f)\n", out->photos, out->from,
           out->n ? out->nearest[0] : "-", out->n ? out->score[0] : 0.0);
}

static void
s_expect(const s_start_t *st, const char *from, const char *log_says)
{
    assert_string_equal(st->from, from);
    assert_int_equal(st->photos, PHOTOS);
    assert_true(st->n >= 3);
    if (log_says && !harness_log_has(&s_d, log_says, 0))
        fail_msg("shopd's log does not say '%s'", log_says);
}

static void
test_cache_used_while_model_and_photos_unchanged(void **state)
{
    (void) state;
    harness_prepare(&s_d, "vindex", NULL);
    char model[200], src[4096], conf[512], cache[200];
    snprintf(model, sizeof model, "%s/vision.nn", s_d.dir);
    snprintf(cache, sizeof cache, "%s.vindex", s_d.db);
    if (!shop_data_path("models/vision.nn", src, sizeof src))
        skip();
    s_copy(src, model);
    snprintf(conf, sizeof conf, "[store]\nimport_demo = no\n[models]\nvision = %s\n", model);
    harness_write(s_d.conf, conf);
    s_make_catalogue();

    s_start_t first, st;
    s_start(&first);
    s_expect(&first, "photos", "catalogue photos built in");
    assert_int_equal(access(cache, R_OK), 0);

    /* unchanged: from the cache, with the same answer to the bit */
    s_start(&st);
    s_expect(&st, "cache", "catalogue photos loaded from");
    assert_int_equal(st.n, first.n);
    for (int i = 0; i < st.n; i++) {
        assert_string_equal(st.nearest[i], first.nearest[i]);
        assert_true(st.score[i] == first.score[i]);
    }

    /* a catalogue photo replaced by another */
    char p3[200], other[4096];
    snprintf(p3, sizeof p3, "%s/p3.png", s_d.dir);
    s_demo_photo("dress-02.png", other, sizeof other);
    s_copy(other, p3);
    s_start(&st);
    s_expect(&st, "photos", "is out of date (from \"item-3");
    s_start(&st);
    s_expect(&st, "cache", NULL);

    /* the model file changed: the same net saved again with one more note */
    char err[256];
    nn_net_t *net = nn_load(model, err, sizeof err);
    assert_non_null(net);
    assert_int_equal(nn_meta_set(net, "note", "saved again by daemon_index_cache_test"), 0);
    assert_int_equal(nn_save(net, model, err, sizeof err), 0);
    nn_destroy(&net);
    s_start(&st);
    s_expect(&st, "photos", "is out of date (from \"model crc32");

    /* a damaged cache: refused with the reason, rebuilt, then used again */
    size_t len;
    uint8_t *bytes = s_read(cache, &len);
    bytes[len / 2] ^= 0x10;
    assert_int_equal(shop_write_file_atomic(cache, bytes, len), 0);
    free(bytes);
    s_start(&st);
    s_expect(&st, "photos", "visual index cache refused");
    assert_true(harness_log_has(&s_d, "checksum mismatch", 0));
    /* not a cache at all */
    harness_write(cache, "hello\n");
    s_start(&st);
    s_expect(&st, "photos", "not a visual search index");
    s_start(&st);
    s_expect(&st, "cache", NULL);
    for (int i = 0; i < st.n; i++)
        printf("# nearest %d: %s %.4f\n", i, st.nearest[i], st.score[i]);
}

int
main(void)
{
    if (harness_init() < 0) {
        printf("1..0 # SKIP shopd not built\n");
        return 77;
    }
    char path[4096];
    if (!shop_data_path("models/vision.nn", path, sizeof path)
        || !shop_data_path("data/demo/photos/bag-01.png", path, sizeof path)) {
        printf("1..0 # SKIP models/vision.nn or the demo photos are not shipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cache_used_while_model_and_photos_unchanged, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
