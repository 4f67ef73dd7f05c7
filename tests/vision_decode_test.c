/* tests/vision_decode_test.c: vision/decode accepts JPEG, PNG and BMP photos
 * and refuses everything else with a clear message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tests/vision_util.h"
#include "vision/decode.h"

static uint8_t *
s_load(const char *name, size_t *len)
{
    char rel[256], path[4096];
    snprintf(rel, sizeof rel, "tests/data/vision/%s", name);
    assert_non_null(shop_data_path(rel, path, sizeof path));
    uint8_t *b = shop_read_file(path, 1 << 24, len, NULL, 0);
    assert_non_null(b);
    return b;
}

/* decodes the file and checks a dark product in the centre of a light
 * photo (or light on dark) */
static void
s_check_photo(const char *name, int w, int h, vision_format_t fmt, bool light_bg)
{
    size_t len;
    uint8_t *b = s_load(name, &len);
    assert_int_equal(vision_detect_format(b, len), fmt);
    vision_image_t img;
    char err[256] = "";
    assert_int_equal(vision_decode_mem(b, len, NULL, 3, &img, err, sizeof err), 0);
    assert_int_equal(img.w, w);
    assert_int_equal(img.h, h);
    assert_int_equal(img.channels, 3);
    const uint8_t *corner = img.px;
    if (light_bg)
        assert_true(corner[0] > 200 && corner[1] > 200 && corner[2] > 200);
    else
        assert_true(corner[0] < 40 && corner[1] < 40 && corner[2] < 40);
    vision_image_release(&img);
    /* gray output: one channel, same size */
    assert_int_equal(vision_decode_mem(b, len, NULL, 1, &img, err, sizeof err), 0);
    assert_int_equal(img.channels, 1);
    assert_int_equal(img.w, w);
    vision_image_release(&img);
    vision_image_release(&img); /* twice is safe */
    free(b);
}

static void
test_decodes_jpeg_png_bmp(void **state)
{
    (void) state;
    s_check_photo("boot_light.jpg", 120, 90, VISION_FMT_JPEG, true);
    s_check_photo("boot_light.bmp", 120, 90, VISION_FMT_BMP, true);
    s_check_photo("boot_dark.png", 90, 120, VISION_FMT_PNG, false);
}

/* the file is refused and the message contains want */
static void
s_check_refused(const char *name, const char *want)
{
    size_t len;
    uint8_t *b = s_load(name, &len);
    vision_image_t img = { 0 };
    char err[256] = "";
    assert_int_equal(vision_decode_mem(b, len, NULL, 3, &img, err, sizeof err), -1);
    assert_null(img.px);
    if (!strstr(err, want))
        fail_msg("%s: message '%s' lacks '%s'", name, err, want);
    free(b);
}

static void
test_refuses_broken_and_foreign_input(void **state)
{
    (void) state;
    s_check_refused("truncated.jpg", "truncated JPEG");
    s_check_refused("zero_bytes.jpg", "empty input (0 bytes)");
    s_check_refused("forged_100000x100000.png", "image 100000x100000 exceeds limit");
    s_check_refused("not_an_image.txt", "unsupported format: text");
    s_check_refused("pixel.gif", "unsupported format: GIF");
}

static void
test_every_truncation_is_refused(void **state)
{
    (void) state;
    static const char *const files[] = { "boot_light.jpg", "boot_dark.png", "boot_light.bmp" };
    for (size_t f = 0; f < SHOP_ARRAY_LEN(files); f++) {
        size_t len;
        uint8_t *b = s_load(files[f], &len);
        for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 97)) {
            uint8_t *copy = xmalloc(cut + 1); /* exact size so ASan sees overreads */
            memcpy(copy, b, cut);
            vision_image_t img;
            char err[256] = "";
            int rc = vision_decode_mem(copy, cut, NULL, 3, &img, err, sizeof err);
            if (rc != -1)
                fail_msg("%s cut at %zu bytes was accepted", files[f], cut);
            assert_true(err[0] != 0);
            free(copy);
        }
        free(b);
    }
}

static void
test_limits_are_configurable(void **state)
{
    (void) state;
    size_t len;
    uint8_t *b = s_load("boot_light.jpg", &len);
    vision_image_t img;
    char err[256];
    vision_limits_t small_input = { .max_bytes = 1000 };
    assert_int_equal(vision_decode_mem(b, len, &small_input, 3, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, "exceeds limit of 1000 bytes"));
    vision_limits_t few_pixels = { .max_pixels = 120 * 90 - 1 };
    assert_int_equal(vision_decode_mem(b, len, &few_pixels, 3, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, "image 120x90 exceeds limit"));
    vision_limits_t narrow = { .max_side = 100 };
    assert_int_equal(vision_decode_mem(b, len, &narrow, 3, &img, err, sizeof err), -1);
    vision_limits_t exact = { .max_pixels = 120 * 90, .max_side = 120, .max_bytes = len };
    assert_int_equal(vision_decode_mem(b, len, &exact, 3, &img, err, sizeof err), 0);
    vision_image_release(&img);
    /* a request for 2 channels is a programming error reported as such */
    assert_int_equal(vision_decode_mem(b, len, NULL, 2, &img, err, sizeof err), -1);
    free(b);
}

static void
test_large_photo_decodes(void **state)
{
    (void) state;
    /* a 4000x3000 JPEG (12 MP) is within the default limits */
    uint8_t item[784] = { 0 };
    for (int y = 6; y < 22; y++)
        for (int x = 4; x < 24; x++)
            item[y * 28 + x] = 255;
    static const uint8_t fg[3] = { 30, 30, 30 }, bg[3] = { 245, 245, 245 };
    uint8_t *rgb = vt_render(item, 4000, 3000, 0.6f, 0.5f, 0.5f, fg, bg, 0, 1);
    size_t len;
    uint8_t *jpg = vt_encode_jpeg(rgb, 4000, 3000, 85, &len);
    free(rgb);
    assert_non_null(jpg);
    vision_image_t img;
    char err[256];
    assert_int_equal(vision_decode_mem(jpg, len, NULL, 1, &img, err, sizeof err), 0);
    assert_int_equal(img.w, 4000);
    assert_int_equal(img.h, 3000);
    assert_true(img.px[1500 * 4000 + 2000] < 60);   /* the product */
    assert_true(img.px[10 * 4000 + 10] > 200);      /* the background */
    vision_image_release(&img);
    free(jpg);
}

static void
test_alpha_png_lands_on_white(void **state)
{
    (void) state;
    /* 2x1 RGBA: opaque red, fully transparent */
    static const uint8_t px[8] = { 255, 0, 0, 255, 0, 0, 0, 0 };
    size_t len;
    uint8_t *png = vt_encode_png(px, 2, 1, 4, &len);
    vision_image_t img;
    char err[256];
    assert_int_equal(vision_decode_mem(png, len, NULL, 3, &img, err, sizeof err), 0);
    assert_int_equal(img.px[0], 255);
    assert_int_equal(img.px[1], 0);
    assert_int_equal(img.px[3], 255);
    assert_int_equal(img.px[4], 255);
    assert_int_equal(img.px[5], 255);
    vision_image_release(&img);
    free(png);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_jpeg_png_bmp),
        cmocka_unit_test(test_refuses_broken_and_foreign_input),
        cmocka_unit_test(test_every_truncation_is_refused),
        cmocka_unit_test(test_limits_are_configurable),
        cmocka_unit_test(test_large_photo_decodes),
        cmocka_unit_test(test_alpha_png_lands_on_white),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
