/* tests/vision_scan_limit_test.c: the JPEG scan limit (vision/decode.h).
 *
 * Progressive JPEGs are made by libjpeg (tests/jpeg_prog.c), an encoder
 * independent of the decoder under test, and given extra copies of an AC
 * first scan, which decode to the very same coefficients:
 * - at the limit (VISION_MAX_JPEG_SCANS scans) the file decodes to exactly
 *   the pixels of the file as libjpeg wrote it, and those agree with
 *   libjpeg's own decoder within a few levels (two IDCTs);
 * - one scan over the limit, and the hostile case of 1,500 scans over a
 *   large flat image, are refused with a message naming the scans, before
 *   any pixel is decoded. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "common/util.h"
#include "tests/jpeg_prog.h"
#include "vision/decode.h"

/* A w x h RGB picture with edges, gradients and a little noise. */
static uint8_t *
s_picture(int w, int h)
{
    uint8_t *px = malloc((size_t) w * (size_t) h * 3);
    uint32_t seed = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px + ((size_t) y * (size_t) w + (size_t) x) * 3;
            seed = seed * 1103515245u + 12345u;
            int n = (int) (seed >> 28) - 8;
            bool in = (x - w / 2) * (x - w / 2) + (y - h / 2) * (y - h / 2) < (h / 3) * (h / 3);
            p[0] = (uint8_t) SHOP_MIN(255, SHOP_MAX(0, (in ? 40 : 200) + x * 40 / w + n));
            p[1] = (uint8_t) SHOP_MIN(255, SHOP_MAX(0, (in ? 60 : 190) + y * 40 / h + n));
            p[2] = (uint8_t) SHOP_MIN(255, SHOP_MAX(0, in ? 120 : 180));
        }
    return px;
}

/* libjpeg's decode of a JPEG as gray (the reference). */
static uint8_t *
s_libjpeg_gray(const uint8_t *data, size_t len, int *w, int *h)
{
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr jerr;
    d.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, data, (unsigned long) len);
    assert_int_equal(jpeg_read_header(&d, TRUE), JPEG_HEADER_OK);
    d.out_color_space = JCS_GRAYSCALE;
    jpeg_start_decompress(&d);
    *w = (int) d.output_width;
    *h = (int) d.output_height;
    uint8_t *px = malloc((size_t) *w * (size_t) *h);
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = px + (size_t) d.output_scanline * (size_t) *w;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    return px;
}

static void
test_at_the_limit_decodes_exactly(void **state)
{
    (void) state;
    enum { W = 320, H = 240 };
    uint8_t *rgb = s_picture(W, H);
    size_t len0, len;
    int scans0, scans;
    uint8_t *plain = jp_progressive(rgb, W, H, 3, 90, 0, &len0, &scans0);
    assert_non_null(plain);
    /* libjpeg's progressive script for colour */
    assert_int_equal(scans0, 10);
    uint8_t *many = jp_progressive(rgb, W, H, 3, 90, VISION_MAX_JPEG_SCANS - scans0, &len,
                                   &scans);
    assert_non_null(many);
    assert_int_equal(scans, VISION_MAX_JPEG_SCANS);
    vision_image_t a, b;
    char err[256];
    assert_int_equal(vision_decode_mem(plain, len0, NULL, 1, &a, err, sizeof err), 0);
    assert_int_equal(vision_decode_mem(many, len, NULL, 1, &b, err, sizeof err), 0);
    assert_int_equal(b.w, W);
    assert_int_equal(b.h, H);
    assert_memory_equal(a.px, b.px, (size_t) W * H);
    int rw, rh;
    uint8_t *ref = s_libjpeg_gray(plain, len0, &rw, &rh);
    assert_int_equal(rw, W);
    assert_int_equal(rh, H);
    int worst = 0;
    double mean = 0;
    for (size_t i = 0; i < (size_t) W * H; i++) {
        int d = abs((int) ref[i] - (int) b.px[i]);
        worst = SHOP_MAX(worst, d);
        mean += d;
    }
    mean /= (double) W * H;
    printf("# %d scans, %zu bytes: against libjpeg, mean difference %.3f, worst %d levels\n",
           scans, len, mean, worst);
    assert_true(mean < 1.0);
    assert_true(worst <= 8);
    free(ref);
    vision_image_release(&a);
    vision_image_release(&b);
    free(plain);
    free(many);
    free(rgb);
}

static void
test_over_the_limit_is_refused(void **state)
{
    (void) state;
    enum { W = 64, H = 48 };
    uint8_t *rgb = s_picture(W, H);
    size_t len;
    int scans;
    uint8_t *over = jp_progressive(rgb, W, H, 3, 90, VISION_MAX_JPEG_SCANS + 1 - 10, &len,
                                   &scans);
    assert_non_null(over);
    assert_int_equal(scans, VISION_MAX_JPEG_SCANS + 1);
    vision_image_t img;
    char err[256] = "";
    assert_int_equal(vision_decode_mem(over, len, NULL, 3, &img, err, sizeof err), -1);
    printf("# %d scans: %s\n", scans, err);
    assert_non_null(strstr(err, "more than 100 scans"));
    assert_null(img.px);
    free(over);
    free(rgb);
}

static void
test_hostile_many_scans_refused(void **state)
{
    (void) state;
    /* the hostile file: a large flat image, small on disk, 1,500 scans */
    enum { W = 4000, H = 3000 };
    uint8_t *flat = malloc((size_t) W * H);
    memset(flat, 128, (size_t) W * H);
    size_t len;
    int scans;
    uint8_t *hostile = jp_progressive(flat, W, H, 1, 75, 1500 - 6, &len, &scans);
    free(flat);
    assert_non_null(hostile);
    assert_int_equal(scans, 1500);
    vision_image_t img;
    char err[256] = "";
    uint64_t t0 = shop_now_ns();
    assert_int_equal(vision_decode_mem(hostile, len, NULL, 1, &img, err, sizeof err), -1);
    printf("# %dx%d, %d scans in %zu bytes: refused in %.1f ms: %s\n", W, H, scans, len,
           (double) (shop_now_ns() - t0) / 1e6, err);
    assert_non_null(strstr(err, "more than 100 scans"));
    free(hostile);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_at_the_limit_decodes_exactly),
        cmocka_unit_test(test_over_the_limit_is_refused),
        cmocka_unit_test(test_hostile_many_scans_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
