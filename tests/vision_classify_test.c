/* tests/vision_classify_test.c: the shipped product model on photos made
 * from Fashion-MNIST test items (not seen in training): a product on a light
 * background, on a dark one and in a 4000x3000 JPEG is recognised alike;
 * nothing in the photo means "unsure"; visual search finds the same kind of
 * product; the number of test-time views is the model's tta_views. Without
 * models/vision.nn or the dataset it prints a TAP skip plan. */
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
#include "vision/classify.h"
#include "vision/decode.h"
#include "vision/fmnist.h"
#include "vision/index.h"
#include "vision/model.h"

static vision_fmnist_t s_test;
static vision_classifier_t *s_clf;
static const char *s_model;

static int
s_setup(void **state)
{
    (void) state;
    char err[512];
    if (vision_fmnist_load_set(VISION_FMNIST_DIR, "t10k", &s_test, err, sizeof err) < 0) {
        fprintf(stderr, "# %s\n", err);
        return -1;
    }
    s_clf = vision_classifier_new(s_model, err, sizeof err);
    if (!s_clf) {
        fprintf(stderr, "# %s\n", err);
        return -1;
    }
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    vision_classifier_destroy(&s_clf);
    vision_fmnist_release(&s_test);
    return 0;
}

typedef enum { AS_JPEG, AS_PNG } s_enc_t;

/* Renders item k as a photo, encodes, decodes and classifies it. */
static void
s_classify_photo(int k, int w, int h, const uint8_t fg[3], const uint8_t bg[3], s_enc_t enc,
                 vision_result_t *res)
{
    uint8_t *rgb = vt_render(s_test.pixels + (size_t) k * 784, w, h, 0.8f, 0.5f, 0.5f, fg, bg, 3,
                             (uint32_t) k);
    size_t len;
    uint8_t *file = enc == AS_JPEG ? vt_encode_jpeg(rgb, w, h, 85, &len)
                                   : vt_encode_png(rgb, w, h, 3, &len);
    free(rgb);
    vision_image_t img;
    char err[256];
    if (vision_decode_mem(file, len, NULL, 3, &img, err, sizeof err) < 0)
        fail_msg("decode: %s", err);
    free(file);
    assert_int_equal(vision_classify(s_clf, &img, res), 0);
    vision_image_release(&img);
}

static const uint8_t s_grey[3] = { 150, 135, 120 };
static const uint8_t s_white[3] = { 250, 250, 247 }, s_black[3] = { 10, 10, 12 };

static void
test_light_and_dark_photos_agree(void **state)
{
    (void) state;
    enum { N = 60 };
    int agree = 0, right_light = 0, right_dark = 0, right_orig = 0;
    for (int k = 0; k < N; k++) {
        vision_result_t light, dark, orig;
        s_classify_photo(k, 480, 360, s_grey, s_white, AS_JPEG, &light);
        int l = light.top[0].label;
        s_classify_photo(k, 360, 480, s_grey, s_black, AS_PNG, &dark);
        int d = dark.top[0].label;
        float x[784];
        vision_model_normalise(s_test.pixels + (size_t) k * 784, 784, x);
        assert_int_equal(vision_classify_input(s_clf, x, &orig), 0);
        agree += l == d;
        right_light += l == s_test.labels[k];
        right_dark += d == s_test.labels[k];
        right_orig += orig.top[0].label == s_test.labels[k];
    }
    printf("# %d test items as photos: light and dark agree on %d; right: light %d, dark %d, "
           "original 28x28 %d\n", N, agree, right_light, right_dark, right_orig);
    assert_true(agree >= N * 9 / 10);
    assert_true(right_light >= N * 3 / 4 && right_dark >= N * 3 / 4);
}

static void
test_4000x3000_jpeg_recognised_like_small_photo(void **state)
{
    (void) state;
    for (int k = 0; k < 2; k++) {
        vision_result_t big, small;
        s_classify_photo(k, 4000, 3000, s_grey, s_white, AS_JPEG, &big);
        int b = big.top[0].label;
        float pb = big.top[0].prob;
        s_classify_photo(k, 400, 300, s_grey, s_white, AS_JPEG, &small);
        printf("# item %d (%s): 4000x3000 -> %s %.3f, 400x300 -> %s %.3f\n", k,
               vision_fmnist_labels[s_test.labels[k]], vision_classifier_label(s_clf, b), pb,
               small.top[0].name, small.top[0].prob);
        assert_int_equal(b, small.top[0].label);
        assert_int_equal(b, s_test.labels[k]);
        assert_true(fabsf(pb - small.top[0].prob) < 0.1f);
    }
}

static void
test_blank_photo_is_unsure(void **state)
{
    (void) state;
    vision_image_t img;
    assert_int_equal(vision_image_alloc(&img, 320, 240, 3), 0);
    memset(img.px, 235, (size_t) 320 * 240 * 3);
    vision_result_t r;
    assert_int_equal(vision_classify(s_clf, &img, &r), 0);
    assert_true(r.prep.empty);
    assert_true(r.unsure);
    vision_image_release(&img);
    /* an invalid image is an error, not a crash */
    vision_image_t bad = { 0 };
    assert_int_equal(vision_classify(s_clf, &bad, &r), -1);
    assert_true(vision_classifier_error(s_clf)[0] != 0);
}

static void
test_results_and_more_like_this(void **state)
{
    (void) state;
    int dim = vision_classifier_dim(s_clf);
    assert_true(dim >= 16);
    float th = vision_classifier_threshold(s_clf);
    assert_true(th > 0.0f && th < 1.0f);
    /* catalogue: test items 1000..1999 */
    vision_index_t *idx = vision_index_new(dim);
    float x[784];
    vision_result_t r;
    for (int i = 1000; i < 2000; i++) {
        vision_model_normalise(s_test.pixels + (size_t) i * 784, 784, x);
        assert_int_equal(vision_classify_input(s_clf, x, &r), 0);
        assert_int_equal(vision_index_add(idx, i, r.embedding), 0);
    }
    /* queries: photos of items 0..19 */
    int same = 0, total = 0;
    for (int k = 0; k < 20; k++) {
        s_classify_photo(k, 320, 320, s_grey, s_white, AS_JPEG, &r);
        double norm = 0, psum = 0;
        for (int i = 0; i < r.dim; i++)
            norm += (double) r.embedding[i] * r.embedding[i];
        assert_float_equal(norm, 1.0, 1e-4);
        assert_int_equal(r.n, VISION_TOPK);
        for (int j = 0; j < r.n; j++) {
            psum += r.top[j].prob;
            if (j > 0)
                assert_true(r.top[j].prob <= r.top[j - 1].prob);
        }
        assert_true(psum <= 1.0001);
        assert_int_equal(r.unsure, r.top[0].prob < th);
        vision_hit_t hits[5];
        int m = vision_index_search(idx, r.embedding, 5, -1, hits);
        assert_int_equal(m, 5);
        for (int j = 0; j < m; j++, total++)
            same += s_test.labels[hits[j].id] == s_test.labels[k];
    }
    printf("# more like this: %d of %d neighbours of 20 photos are the same category\n", same,
           total);
    assert_true(same >= total * 7 / 10);
    vision_index_destroy(&idx);
}

static void
test_refuses_a_file_that_is_not_a_model(void **state)
{
    (void) state;
    char path[4096], err[256] = "";
    assert_non_null(shop_data_path("tests/data/vision/not_an_image.txt", path, sizeof path));
    assert_null(vision_classifier_new(path, err, sizeof err));
    assert_true(strlen(err) > 0);
    assert_null(vision_classifier_new("/nonexistent/vision.nn", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/vision.nn"));
}

/* Writes the shipped model with tta_views set to value into path. */
static void
s_model_with_views(const char *value, const char *path)
{
    char err[256];
    nn_net_t *net = nn_load(s_model, err, sizeof err);
    assert_non_null(net);
    assert_int_equal(nn_meta_set(net, "tta_views", value), 0);
    assert_int_equal(nn_save(net, path, err, sizeof err), 0);
    nn_destroy(&net);
}

static void
test_tta_views_come_from_the_model(void **state)
{
    (void) state;
    char path[] = "/tmp/vision-views-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256];
    /* 2 views: the answer is the mean of the net's answers for the image and
     * for its left-right mirror, both made here by hand (not by the
     * classifier's own variant code) */
    s_model_with_views("2", path);
    vision_classifier_t *clf = vision_classifier_new(path, err, sizeof err);
    assert_non_null(clf);
    assert_int_equal(vision_classifier_views(clf), 2);
    nn_net_t *net = nn_load(path, err, sizeof err);
    assert_non_null(net);
    float x[784], xm[784], p[VISION_FMNIST_CLASSES], mean[VISION_FMNIST_CLASSES] = { 0 };
    vision_model_normalise(s_test.pixels + 7 * 784, 784, x);
    for (int row = 0; row < 28; row++)
        for (int col = 0; col < 28; col++)
            xm[row * 28 + col] = x[row * 28 + 27 - col];
    const float *views[2] = { x, xm };
    for (int v = 0; v < 2; v++) {
        assert_int_equal(nn_forward(net, views[v], 1, p), 0);
        for (int c = 0; c < VISION_FMNIST_CLASSES; c++)
            mean[c] += p[c] / 2;
    }
    int best = 0;
    for (int c = 1; c < VISION_FMNIST_CLASSES; c++)
        if (mean[c] > mean[best])
            best = c;
    vision_result_t r;
    assert_int_equal(vision_classify_input(clf, x, &r), 0);
    assert_int_equal(r.top[0].label, best);
    assert_float_equal(r.top[0].prob, mean[best], 1e-5);
    nn_destroy(&net);
    vision_classifier_destroy(&clf);
    /* out of range or not a whole number: refused by name */
    static const char *const bad[] = { "0", "11", "2.5", "two" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_model_with_views(bad[i], path);
        err[0] = 0;
        assert_null(vision_classifier_new(path, err, sizeof err));
        assert_non_null(strstr(err, "tta_views"));
    }
    unlink(path);
}

int
main(int argc, char **argv)
{
    (void) argc;
    /* the fast BLAS kernel and single-threaded OpenBLAS, as in shopd: its
     * own threads would spin against the loaded machine's other jobs */
    nn_blas_ensure_fast_path(argv);
    /* skipped, the TAP way, without the model or the dataset */
    char buf[4096];
    s_model = getenv("SHOP_VISION_MODEL");
    if (!s_model)
        s_model = shop_data_path("models/vision.nn", buf, sizeof buf);
    if (!s_model || access(VISION_FMNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("1..0 # SKIP needs models/vision.nn and dataset-fashion-mnist\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_light_and_dark_photos_agree),
        cmocka_unit_test(test_4000x3000_jpeg_recognised_like_small_photo),
        cmocka_unit_test(test_blank_photo_is_unsure),
        cmocka_unit_test(test_results_and_more_like_this),
        cmocka_unit_test(test_refuses_a_file_that_is_not_a_model),
        cmocka_unit_test(test_tta_views_come_from_the_model),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
