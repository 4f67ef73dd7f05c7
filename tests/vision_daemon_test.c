/* tests/vision_daemon_test.c: photos to products through a running
 * shopd (the demo store, the shipped product model, photos decoded in its
 * jailed worker), over the same ipc client shopctl uses:
 *   - one product (Fashion-MNIST test item 0, an ankle boot, never trained
 *     on) photographed on a light background (tests/data/vision/
 *     boot_light.jpg, 120x90), on a dark one (boot_dark.png, 90x120) and as
 *     a 4000x3000 JPEG rendered here is recognised alike: same label, the true one, not
 *     "unsure", probabilities within 0.1;
 *   - a truncated JPEG, a zero-byte file, a forged 100000x100000 PNG header
 *     and a text file are each refused with code "invalid" and a message that
 *     names the problem;
 *   - after every refusal shopd still answers: status, and the good photo
 *     again with the same answer; it exits cleanly on SIGTERM.
 * Skipped (77) when shopd is not built or the model or dataset is missing. */
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
#include "tests/vision_util.h"
#include "vision/fmnist.h"

static harness_t s_d;
static client_t *s_c;

static int
s_setup(void **state)
{
    (void) state;
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    client_destroy(&s_c);
    harness_cleanup(&s_d);
    return 0;
}

/* A file of the source tree into a malloc'd buffer (*len bytes). */
static uint8_t *
s_load(const char *rel, size_t *len)
{
    char path[4096];
    const char *top = getenv("SHOP_TOP_SRCDIR");
    snprintf(path, sizeof path, "%s/%s", top ? top : ".", rel);
    char err[256];
    uint8_t *data = shop_read_file(path, 1 << 24, len, err, sizeof err);
    if (!data)
        fail_msg("%s", err);
    return data;
}

/* The product of a photo reply. */
typedef struct {
    char label[64];
    double confidence;
    bool unsure;
} s_product_t;

/* Sends a photo; returns the reply (the caller clears it). */
static void
s_photo(const void *data, size_t len, proto_reply_t *r)
{
    char err[256];
    const void *frames[] = { data };
    if (client_request(s_c, "photo", "kiosk-vision", NULL, frames, &len, 1, 30000, r, err,
                       sizeof err)
        < 0)
        fail_msg("no reply to a photo of %zu bytes: %s", len, err);
}

static void
s_recognise(const char *what, const void *data, size_t len, s_product_t *p)
{
    proto_reply_t r;
    s_photo(data, len, &r);
    if (!r.ok)
        fail_msg("%s refused: %s", what, r.message);
    json_t *prod = json_object_get(r.body, "product");
    assert_non_null(prod);
    const char *label = json_string_value(json_object_get(prod, "label"));
    assert_non_null(label);
    shop_strlcpy(p->label, label, sizeof p->label);
    p->confidence = json_real_value(json_object_get(prod, "confidence"));
    p->unsure = json_is_true(json_object_get(prod, "unsure"));
    printf("# %s (%zu bytes): %s, probability %.3f%s\n", what, len, p->label, p->confidence,
           p->unsure ? ", unsure" : "");
    proto_reply_clear(&r);
}

static void
s_status_answers(void)
{
    proto_reply_t r;
    char err[256];
    assert_int_equal(client_request(s_c, "status", NULL, NULL, NULL, NULL, 0, 10000, &r, err,
                                    sizeof err),
                     0);
    assert_true(r.ok);
    proto_reply_clear(&r);
}

static void
test_photos_alike_and_bad_files_refused_while_serving(void **state)
{
    (void) state;
    vision_fmnist_t ds;
    char err[512];
    if (vision_fmnist_load_set(VISION_FMNIST_DIR, "t10k", &ds, err, sizeof err) < 0)
        skip();
    /* item 0 in the colours of boot_light (tests/vision_mkdata), as a
     * 4000x3000 camera photo: off-centre on paper, more noise */
    static const uint8_t navy[3] = { 40, 60, 120 }, paper[3] = { 236, 232, 224 };
    uint8_t *rgb = vt_render(ds.pixels, 4000, 3000, 0.7f, 0.45f, 0.55f, navy, paper, 4, 7);
    size_t big_len;
    uint8_t *big = vt_encode_jpeg(rgb, 4000, 3000, 90, &big_len);
    free(rgb);
    assert_non_null(big);
    const char *truth = vision_fmnist_labels[ds.labels[0]];
    vision_fmnist_release(&ds);

    harness_prepare(&s_d, "vision", "[ipc]\nmax_photo_size = 16M\n");
    harness_start(&s_d);
    s_c = harness_client(&s_d);

    size_t light_len, dark_len;
    uint8_t *light = s_load("tests/data/vision/boot_light.jpg", &light_len);
    uint8_t *dark = s_load("tests/data/vision/boot_dark.png", &dark_len);
    s_product_t pl, pd, pb;
    s_recognise("light background, 120x90 JPEG", light, light_len, &pl);
    s_recognise("dark background, 90x120 PNG", dark, dark_len, &pd);
    s_recognise("4000x3000 JPEG", big, big_len, &pb);
    assert_string_equal(pl.label, truth);
    assert_string_equal(pd.label, truth);
    assert_string_equal(pb.label, truth);
    assert_false(pl.unsure || pd.unsure || pb.unsure);
    assert_true(fabs(pl.confidence - pd.confidence) < 0.1);
    assert_true(fabs(pl.confidence - pb.confidence) < 0.1);

    static const struct {
        const char *file, *says;
    } bad[] = {
        { "tests/data/vision/truncated.jpg", "truncated JPEG" },
        { "tests/data/vision/zero_bytes.jpg", "not JPEG, PNG or BMP" },
        { "tests/data/vision/forged_100000x100000.png", "100000x100000 exceeds limit" },
        { "tests/data/vision/not_an_image.txt", "not JPEG, PNG or BMP" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len;
        uint8_t *data = s_load(bad[i].file, &len);
        proto_reply_t r;
        s_photo(data, len, &r);
        printf("# %s: %s: %s\n", bad[i].file, r.ok ? "accepted" : proto_err_name(r.code),
               r.message);
        assert_false(r.ok);
        assert_int_equal(r.code, PROTO_E_INVALID);
        if (!strstr(r.message, bad[i].says))
            fail_msg("%s: message '%s' does not say '%s'", bad[i].file, r.message, bad[i].says);
        proto_reply_clear(&r);
        free(data);
        s_status_answers();
    }
    /* still serving photos, with the same answer */
    s_product_t again;
    s_recognise("light background again", light, light_len, &again);
    assert_string_equal(again.label, pl.label);
    assert_true(fabs(again.confidence - pl.confidence) < 1e-4);
    free(light);
    free(dark);
    free(big);
    client_destroy(&s_c);
    assert_int_equal(harness_stop(&s_d, SIGTERM), 0);
}

int
main(void)
{
    if (harness_init() < 0) {
        printf("1..0 # SKIP shopd not built\n");
        return 77;
    }
    char path[4096];
    if (!shop_data_path("models/vision.nn", path, sizeof path)) {
        printf("1..0 # SKIP models/vision.nn not found\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_photos_alike_and_bad_files_refused_while_serving,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
