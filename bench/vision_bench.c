/* bench/vision_bench.c: latency of the whole photo path the daemon runs:
 * decode (JPEG bytes -> pixels), preprocess (-> 28x28), classify (CNN batch 1,
 * top-5, embedding) and a "more like this" search over 10000 catalogue
 * embeddings, for a 640x480 and a 4000x3000 photo. Medians of repeated runs.
 *
 * usage: bench/vision-bench [MODEL]   (default: the shipped models/vision.nn) */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nn/nn.h"
#include "tests/vision_util.h"
#include "vision/classify.h"
#include "vision/decode.h"
#include "vision/fmnist.h"
#include "vision/index.h"

static int
s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_median(double *v, int n)
{
    qsort(v, (size_t) n, sizeof *v, s_cmp);
    return v[n / 2];
}

int
main(int argc, char **argv)
{
    nn_blas_ensure_fast_path(argv);
    char err[512];
    vision_classifier_t *clf = vision_classifier_new(argc > 1 ? argv[1] : NULL, err, sizeof err);
    if (!clf) {
        fprintf(stderr, "vision-bench: %s\n", err);
        return 1;
    }
    vision_fmnist_t ds;
    if (vision_fmnist_load_set(VISION_FMNIST_DIR, "t10k", &ds, err, sizeof err) < 0) {
        fprintf(stderr, "vision-bench: %s\n", err);
        return 1;
    }
    /* a catalogue of 10000 embeddings: the test set's own */
    int dim = vision_classifier_dim(clf);
    vision_index_t *idx = vision_index_new(dim);
    float x[784];
    vision_result_t r;
    for (int i = 0; i < ds.n; i++) {
        for (int j = 0; j < 784; j++)
            x[j] = ((float) ds.pixels[(size_t) i * 784 + (size_t) j] / 255.0f
                    - vision_classifier_spec(clf)->mean) / vision_classifier_spec(clf)->std;
        vision_classify_input(clf, x, &r);
        vision_index_add(idx, i, r.embedding);
    }
    static const int sizes[2][2] = { { 640, 480 }, { 4000, 3000 } };
    static const uint8_t fg[3] = { 150, 135, 120 }, bg[3] = { 250, 250, 247 };
    printf("%-10s %9s %9s %9s %9s %9s   (median ms, %s)\n", "photo", "decode", "preproc",
           "classify", "search", "total", nn_blas_corename());
    for (int s = 0; s < 2; s++) {
        int w = sizes[s][0], h = sizes[s][1], reps = s == 0 ? 50 : 10;
        uint8_t *rgb = vt_render(ds.pixels, w, h, 0.8f, 0.5f, 0.5f, fg, bg, 3, 1);
        size_t len;
        uint8_t *jpg = vt_encode_jpeg(rgb, w, h, 90, &len);
        free(rgb);
        double t[5][50];
        for (int k = 0; k < reps; k++) {
            vision_image_t img;
            uint64_t t0 = shop_now_ns();
            if (vision_decode_mem(jpg, len, NULL, 3, &img, err, sizeof err) < 0) {
                fprintf(stderr, "vision-bench: %s\n", err);
                return 1;
            }
            uint64_t t1 = shop_now_ns();
            vision_prep_t *prep = vision_prep_new(vision_classifier_spec(clf));
            vision_prep_run(prep, &img, x, NULL); /* the preprocessing alone */
            vision_prep_destroy(&prep);
            uint64_t t2 = shop_now_ns();
            vision_classify_input(clf, x, &r);
            uint64_t t3 = shop_now_ns();
            vision_hit_t hits[5];
            vision_index_search(idx, r.embedding, 5, -1, hits);
            uint64_t t4 = shop_now_ns();
            vision_image_release(&img);
            t[0][k] = (double) (t1 - t0) / 1e6;
            t[1][k] = (double) (t2 - t1) / 1e6;
            t[2][k] = (double) (t3 - t2) / 1e6;
            t[3][k] = (double) (t4 - t3) / 1e6;
            t[4][k] = (double) (t4 - t0) / 1e6;
        }
        char name[32];
        snprintf(name, sizeof name, "%dx%d", w, h);
        printf("%-10s %9.3f %9.3f %9.3f %9.3f %9.3f\n", name, s_median(t[0], reps),
               s_median(t[1], reps), s_median(t[2], reps), s_median(t[3], reps),
               s_median(t[4], reps));
        free(jpg);
    }
    vision_index_destroy(&idx);
    vision_fmnist_release(&ds);
    vision_classifier_destroy(&clf);
    return 0;
}
