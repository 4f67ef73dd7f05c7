/* tests/vision_preprocess_test.c: photos of a product on light and dark
 * backgrounds, large and small, centred or not, land on nearly the same
 * 28x28 input, close to the Fashion-MNIST image they were rendered from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/vision_util.h"
#include "vision/decode.h"
#include "vision/fmnist.h"
#include "vision/preprocess.h"

static vision_fmnist_t s_test;

static int
s_setup(void **state)
{
    (void) state;
    char err[512];
    if (vision_fmnist_load_set(VISION_FMNIST_DIR, "t10k", &s_test, err, sizeof err) < 0) {
        fprintf(stderr, "# %s\n", err);
        return -1;
    }
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    vision_fmnist_release(&s_test);
    return 0;
}

/* Pearson correlation of two 784-byte images. */
static double
s_corr(const uint8_t *a, const uint8_t *b)
{
    double ma = 0, mb = 0;
    for (int i = 0; i < 784; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= 784;
    mb /= 784;
    double sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < 784; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb + 1e-9);
}

static double
s_mad(const uint8_t *a, const uint8_t *b)
{
    double s = 0;
    for (int i = 0; i < 784; i++)
        s += fabs((double) a[i] - b[i]);
    return s / 784;
}

typedef enum { AS_JPEG, AS_PNG, AS_BMP } s_enc_t;

/* Renders item as a w x h photo, encodes and decodes it, preprocesses it. */
static void
s_photo(const uint8_t *item, int w, int h, float cx, float cy, const uint8_t fg[3],
        const uint8_t bg[3], s_enc_t enc, vision_prep_t *prep, uint8_t *out,
        vision_prep_info_t *info)
{
    uint8_t *rgb = vt_render(item, w, h, 0.75f, cx, cy, fg, bg, 4, (uint32_t) (w + h));
    size_t len = 0;
    uint8_t *file = enc == AS_JPEG ? vt_encode_jpeg(rgb, w, h, 90, &len)
                  : enc == AS_PNG  ? vt_encode_png(rgb, w, h, 3, &len)
                                   : vt_encode_bmp(rgb, w, h, &len);
    free(rgb);
    assert_non_null(file);
    vision_image_t img;
    char err[256];
    if (vision_decode_mem(file, len, NULL, 3, &img, err, sizeof err) < 0)
        fail_msg("decode: %s", err);
    free(file);
    assert_int_equal(vision_prep_run_u8(prep, &img, out, info), 0);
    vision_image_release(&img);
}

static void
test_light_and_dark_backgrounds_agree(void **state)
{
    (void) state;
    vision_prep_spec_t spec = { 28, 0.2860f, 0.3530f };
    vision_prep_t *prep = vision_prep_new(&spec);
    assert_non_null(prep);
    static const uint8_t grey[3] = { 140, 125, 110 };
    static const uint8_t white[3] = { 252, 252, 250 }, black[3] = { 8, 8, 10 };
    static const uint8_t paper[3] = { 225, 220, 205 };
    /* items 0..9 of the test set cover several classes */
    double corr_sum = 0, corr_min = 1;
    for (int k = 0; k < 10; k++) {
        const uint8_t *item = s_test.pixels + (size_t) k * 784;
        uint8_t light[784], dark[784], tall[784], wide[784];
        vision_prep_info_t il, id, it, iw;
        s_photo(item, 640, 480, 0.5f, 0.5f, grey, white, AS_JPEG, prep, light, &il);
        s_photo(item, 480, 640, 0.5f, 0.5f, grey, black, AS_PNG, prep, dark, &id);
        s_photo(item, 300, 900, 0.45f, 0.6f, grey, paper, AS_JPEG, prep, tall, &it);
        s_photo(item, 900, 300, 0.6f, 0.45f, grey, black, AS_BMP, prep, wide, &iw);
        assert_true(il.light_bg && !id.light_bg && it.light_bg && !iw.light_bg);
        assert_false(il.empty || id.empty || it.empty || iw.empty);
        double d_ld = s_mad(light, dark), d_lt = s_mad(light, tall), d_dw = s_mad(dark, wide);
        double c_l = s_corr(light, item), c_d = s_corr(dark, item);
        double c_t = s_corr(tall, item), c_w = s_corr(wide, item);
        printf("# item %d (label %d): light/dark %.1f light/tall %.1f dark/wide %.1f; "
               "corr with original %.3f %.3f %.3f %.3f\n",
               k, s_test.labels[k], d_ld, d_lt, d_dw, c_l, c_d, c_t, c_w);
        assert_true(d_ld < 12 && d_lt < 16 && d_dw < 16);
        corr_sum += c_l + c_d + c_t + c_w;
        corr_min = fmin(corr_min, fmin(fmin(c_l, c_d), fmin(c_t, c_w)));
    }
    /* faint parts of a product (a dark coat's lining) can fall under the
     * foreground threshold; on average the input keeps the original's shape */
    printf("# correlation with the originals: mean %.3f, min %.3f\n", corr_sum / 40, corr_min);
    assert_true(corr_sum / 40 > 0.85);
    assert_true(corr_min > 0.55);
    vision_prep_destroy(&prep);
    vision_prep_destroy(&prep);
}

static void
test_4000x3000_photo_matches_small_one(void **state)
{
    (void) state;
    vision_prep_spec_t spec = { 28, 0.2860f, 0.3530f };
    vision_prep_t *prep = vision_prep_new(&spec);
    static const uint8_t grey[3] = { 140, 125, 110 }, white[3] = { 252, 252, 250 };
    const uint8_t *item = s_test.pixels + 1 * 784; /* a pullover */
    uint8_t big[784], small[784];
    vision_prep_info_t ib, is;
    s_photo(item, 4000, 3000, 0.5f, 0.5f, grey, white, AS_JPEG, prep, big, &ib);
    s_photo(item, 400, 300, 0.5f, 0.5f, grey, white, AS_JPEG, prep, small, &is);
    printf("# 4000x3000 vs 400x300: mad %.1f, corr with original %.3f / %.3f, box %dx%d\n",
           s_mad(big, small), s_corr(big, item), s_corr(small, item), ib.x1 - ib.x0,
           ib.y1 - ib.y0);
    assert_true(s_mad(big, small) < 8);
    assert_true(s_corr(big, item) > 0.9);
    /* the product fills 75% of 3000 px: its box is about that */
    assert_true(ib.y1 - ib.y0 > 1800 && ib.y1 - ib.y0 <= 2260);
    vision_prep_destroy(&prep);
}

static void
test_output_is_normalised_and_centred(void **state)
{
    (void) state;
    vision_prep_spec_t spec = { 28, 0.5f, 0.25f };
    vision_prep_t *prep = vision_prep_new(&spec);
    /* a 10x4 white bar at the top left of a black 100x50 gray image */
    vision_image_t img;
    assert_int_equal(vision_image_alloc(&img, 100, 50, 1), 0);
    for (int y = 5; y < 9; y++)
        for (int x = 5; x < 15; x++)
            img.px[y * 100 + x] = 255;
    float out[784];
    vision_prep_info_t info;
    assert_int_equal(vision_prep_run(prep, &img, out, &info), 0);
    assert_int_equal(info.x0, 5);
    assert_int_equal(info.x1, 15);
    assert_int_equal(info.y0, 5);
    assert_int_equal(info.y1, 9);
    assert_int_equal(info.bg, 0);
    /* the bar becomes 28 wide, 11.2 high, centred: rows 8..19 */
    assert_float_equal(out[14 * 28 + 0], (1.0f - 0.5f) / 0.25f, 1e-4);
    assert_float_equal(out[14 * 28 + 27], (1.0f - 0.5f) / 0.25f, 1e-4);
    assert_float_equal(out[2 * 28 + 14], (0.0f - 0.5f) / 0.25f, 1e-4);
    assert_float_equal(out[25 * 28 + 14], (0.0f - 0.5f) / 0.25f, 1e-4);
    /* row 8 is 0.6 covered (the bar starts at 8.4) */
    assert_float_equal(out[8 * 28 + 14], (0.6f - 0.5f) / 0.25f, 1e-3);
    vision_image_release(&img);

    /* a blank photo: nothing to see, not an error */
    assert_int_equal(vision_image_alloc(&img, 64, 64, 3), 0);
    memset(img.px, 200, 64 * 64 * 3);
    assert_int_equal(vision_prep_run(prep, &img, out, &info), 0);
    assert_true(info.empty);
    assert_float_equal(out[400], -2.0f, 1e-5);
    vision_image_release(&img);
    /* invalid images and specs are refused */
    assert_int_equal(vision_prep_run(prep, &img, out, &info), -1);
    vision_prep_spec_t bad = { 28, 0.5f, 0.0f };
    assert_null(vision_prep_new(&bad));
    vision_prep_destroy(&prep);
}

/* The resampling as first written, pixel by pixel: each pixel of the crop
 * adds |gray - bg| times its exact overlap to every output cell it covers,
 * then rows are merged the same way; the product box and background come
 * from vision_prep_run's info. Writes the 0..255 levels vision_prep_run_u8
 * would (stretch included) as floats. */
static void
s_reference(const vision_image_t *img, const vision_prep_info_t *in, int n, float *acc)
{
    int w = img->w, cw = in->x1 - in->x0, ch = in->y1 - in->y0;
    double k = (double) n / (double) (cw > ch ? cw : ch);
    double offx = ((double) n - cw * k) / 2.0, offy = ((double) n - ch * k) / 2.0;
    float *rows = calloc((size_t) ch * (size_t) n, sizeof(float));
    memset(acc, 0, (size_t) n * (size_t) n * sizeof(float));
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++) {
            size_t i = (size_t) (in->y0 + y) * (size_t) w + (size_t) (in->x0 + x);
            const uint8_t *p = img->px + i * (size_t) img->channels;
            int g = img->channels == 1 ? p[0] : (299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000;
            float v = (float) abs(g - in->bg);
            double a = offx + x * k, b = a + k;
            for (int c = (int) floor(a) < 0 ? 0 : (int) floor(a); c < (int) ceil(b) && c < n; c++) {
                double lo = a > c ? a : c, hi = b < c + 1 ? b : c + 1;
                if (hi > lo)
                    rows[(size_t) y * (size_t) n + (size_t) c] += (float) (hi - lo) * v;
            }
        }
    for (int y = 0; y < ch; y++) {
        double a = offy + y * k, b = a + k;
        for (int r = (int) floor(a) < 0 ? 0 : (int) floor(a); r < (int) ceil(b) && r < n; r++) {
            double lo = a > r ? a : r, hi = b < r + 1 ? b : r + 1;
            if (hi <= lo)
                continue;
            for (int c = 0; c < n; c++)
                acc[r * n + c] += (float) (hi - lo) * rows[(size_t) y * (size_t) n + (size_t) c];
        }
    }
    free(rows);
    float vmax = 0;
    for (int i = 0; i < n * n; i++)
        vmax = acc[i] > vmax ? acc[i] : vmax;
    if (vmax >= 8.0f)
        for (int i = 0; i < n * n; i++)
            acc[i] *= 255.0f / vmax;
}

/* vision_prep_run resamples rows in registers, several at a time, with the
 * overlaps computed once per column: it must give the pixel-by-pixel sums to
 * the bit, for gray and RGB photos larger and smaller than the input. */
static void
test_fast_resampling_equals_pixel_by_pixel(void **state)
{
    (void) state;
    vision_prep_spec_t spec = { 28, 0.2860f, 0.3530f };
    vision_prep_t *prep = vision_prep_new(&spec);
    uint32_t seed = 7;
    int checked = 0;
    for (int t = 0; t < 400; t++) {
        seed = seed * 1664525u + 1013904223u;
        /* mostly small images (both directions of resampling), a few large */
        int big = t % 40 == 0;
        int w = big ? 900 + (int) (seed >> 8) % 400 : 1 + (int) (seed >> 8) % 70;
        seed = seed * 1664525u + 1013904223u;
        int h = big ? 600 + (int) (seed >> 8) % 400 : 1 + (int) (seed >> 8) % 70;
        int chans = t % 2 ? 3 : 1;
        vision_image_t img;
        assert_int_equal(vision_image_alloc(&img, w, h, chans), 0);
        uint8_t bgv = (uint8_t) (seed >> 24);
        for (size_t i = 0; i < (size_t) w * h * chans; i++) {
            seed = seed * 1664525u + 1013904223u;
            img.px[i] = (uint8_t) (bgv + (int) (seed >> 29) - 4);
        }
        /* a random product: a box of random levels */
        int x0 = (int) (seed >> 4) % w, y0 = (int) (seed >> 12) % h;
        for (int y = y0; y < h && y < y0 + h / 2 + 1; y++)
            for (int x = x0; x < w && x < x0 + w / 3 + 1; x++)
                for (int c = 0; c < chans; c++) {
                    seed = seed * 1664525u + 1013904223u;
                    img.px[((size_t) y * w + x) * chans + c] = (uint8_t) (seed >> 24);
                }
        uint8_t out8[784];
        float out[784], ref[784];
        vision_prep_info_t info;
        assert_int_equal(vision_prep_run(prep, &img, out, &info), 0);
        assert_int_equal(vision_prep_run_u8(prep, &img, out8, &info), 0);
        if (!info.empty) {
            s_reference(&img, &info, 28, ref);
            for (int i = 0; i < 784; i++) {
                float v = ref[i] < 0.0f ? 0.0f : ref[i] > 255.0f ? 255.0f : ref[i];
                float want = (v / 255.0f - spec.mean) * (1.0f / spec.std);
                if (memcmp(&want, &out[i], sizeof want) != 0)
                    fail_msg("%dx%dx%d, cell %d: %.9g, pixel by pixel %.9g", w, h, chans, i,
                             (double) out[i], (double) want);
            }
            checked++;
        }
        vision_image_release(&img);
    }
    assert_true(checked > 300);
    vision_prep_destroy(&prep);
}

int
main(void)
{
    if (access(VISION_FMNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("1..0 # SKIP needs dataset-fashion-mnist\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_is_normalised_and_centred),
        cmocka_unit_test(test_light_and_dark_backgrounds_agree),
        cmocka_unit_test(test_4000x3000_photo_matches_small_one),
        cmocka_unit_test(test_fast_resampling_equals_pixel_by_pixel),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
