/* vision/eval.c: the product model measured on the Fashion-MNIST test set
 * (`shop-eval vision`, whose options tools/vision.c parses): accuracy, per-class precision and recall, the
 * confusion matrix, the unsure answer's cost, precision@5 of visual search
 * and batch-1 latency. Every image goes through the same call the daemon
 * uses (vision_classify_input, batch 1), so the latency is the real one. */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nn/nn.h"
#include "vision/classify.h"
#include "vision/eval.h"
#include "vision/fmnist.h"
#include "vision/index.h"
#include "vision/model.h"

enum { C = VISION_FMNIST_CLASSES };

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* Classifies every image of ds (first n), storing top-1, its probability and
 * the embedding; batch-1 latency of each into lat_ms when non-NULL. */
static int
s_run(vision_classifier_t *clf, const vision_fmnist_t *ds, int n, int *pred, float *conf,
      float *emb, double *lat_ms)
{
    int dim = vision_classifier_dim(clf);
    float x[784];
    vision_result_t r;
    for (int i = 0; i < n; i++) {
        vision_model_normalise(ds->pixels + (size_t) i * 784, 784, x);
        uint64_t t0 = shop_now_ns();
        if (vision_classify_input(clf, x, &r) < 0) {
            fprintf(stderr, "shop-eval vision: %s\n", vision_classifier_error(clf));
            return -1;
        }
        if (lat_ms)
            lat_ms[i] = (double) (shop_now_ns() - t0) / 1e6;
        pred[i] = r.top[0].label;
        conf[i] = r.top[0].prob;
        memcpy(emb + (size_t) i * (size_t) dim, r.embedding, (size_t) dim * sizeof(float));
    }
    return 0;
}

int
vision_eval_run(const vision_eval_opts_t *opts)
{
    nn_blas_init();
    const char *model = opts->model, *data = opts->data;
    bool json = opts->json;
    int limit = opts->limit, index_size = opts->index_size;
    char err[512], mpath[4096];
    if (!model) {
        model = shop_data_path("models/vision.nn", mpath, sizeof mpath);
        if (!model) {
            fprintf(stderr, "shop-eval vision: models/vision.nn not found\n");
            return -1;
        }
    }
    vision_classifier_t *clf = vision_classifier_new(model, err, sizeof err);
    if (!clf) {
        fprintf(stderr, "shop-eval vision: %s\n", err);
        return -1;
    }
    vision_fmnist_t test = { 0 }, train = { 0 };
    int rc = -1;
    if (vision_fmnist_load_set(data, "t10k", &test, err, sizeof err) < 0
        || (index_size > 0 && vision_fmnist_load_set(data, "train", &train, err, sizeof err) < 0)) {
        fprintf(stderr, "shop-eval vision: %s\n", err);
        goto out_clf;
    }
    if (vision_classifier_classes(clf) != C) {
        fprintf(stderr, "shop-eval vision: the model has %d classes, the data %d\n",
                vision_classifier_classes(clf), C);
        goto out_clf;
    }
    int n = limit > 0 && limit < test.n ? limit : test.n;
    int ni = SHOP_MIN(index_size, train.n);
    int dim = vision_classifier_dim(clf);
    int *pred = xmallocarray((size_t) SHOP_MAX(n, ni), sizeof(int));
    float *conf = xmallocarray((size_t) SHOP_MAX(n, ni), sizeof(float));
    float *emb = xmallocarray((size_t) n * (size_t) dim, sizeof(float));
    float *iemb = xmallocarray((size_t) SHOP_MAX(ni, 1) * (size_t) dim, sizeof(float));
    double *lat = xmallocarray((size_t) n, sizeof(double));
    vision_index_t *idx = vision_index_new(dim);

    /* the catalogue first (its predictions are not reported) */
    if (ni > 0 && s_run(clf, &train, ni, pred, conf, iemb, NULL) < 0)
        goto out;
    for (int i = 0; i < ni; i++)
        vision_index_add(idx, i, iemb + (size_t) i * (size_t) dim);
    if (s_run(clf, &test, n, pred, conf, emb, lat) < 0)
        goto out;

    long confusion[C][C];
    memset(confusion, 0, sizeof confusion);
    int right = 0, answered = 0, answered_right = 0;
    float th = vision_classifier_threshold(clf);
    for (int i = 0; i < n; i++) {
        int y = test.labels[i];
        confusion[y][pred[i]]++;
        right += pred[i] == y;
        if (conf[i] >= th) {
            answered++;
            answered_right += pred[i] == y;
        }
    }
    double p5 = 0;
    if (ni > 0) {
        vision_hit_t hits[5];
        for (int i = 0; i < n; i++) {
            int m = vision_index_search(idx, emb + (size_t) i * (size_t) dim, 5, -1, hits);
            int same = 0;
            for (int j = 0; j < m; j++)
                same += train.labels[hits[j].id] == test.labels[i];
            p5 += m ? (double) same / 5.0 : 0.0;
        }
        p5 /= n;
    }
    qsort(lat, (size_t) n, sizeof *lat, s_cmp_double);
    double lat_mean = 0;
    for (int i = 0; i < n; i++)
        lat_mean += lat[i];
    lat_mean /= n;
    double lat_p50 = lat[n / 2], lat_p99 = lat[(int) (0.99 * (n - 1))];
    double acc = (double) right / n;

    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(model));
    json_object_set_new(o, "data", json_string(data));
    json_object_set_new(o, "test_images", json_integer(n));
    json_object_set_new(o, "accuracy", json_real(acc));
    json_t *pc = json_array();
    for (int k = 0; k < C; k++) {
        long tp = confusion[k][k], col = 0, row = 0;
        for (int j = 0; j < C; j++) {
            col += confusion[j][k];
            row += confusion[k][j];
        }
        json_t *e = json_object();
        json_object_set_new(e, "label", json_string(vision_classifier_label(clf, k)));
        json_object_set_new(e, "precision", json_real(col ? (double) tp / col : 0.0));
        json_object_set_new(e, "recall", json_real(row ? (double) tp / row : 0.0));
        json_array_append_new(pc, e);
    }
    json_object_set_new(o, "per_class", pc);
    json_t *cm = json_array();
    for (int k = 0; k < C; k++) {
        json_t *row = json_array();
        for (int j = 0; j < C; j++)
            json_array_append_new(row, json_integer(confusion[k][j]));
        json_array_append_new(cm, row);
    }
    json_object_set_new(o, "confusion_rows_true_cols_predicted", cm);
    json_t *un = json_object();
    json_object_set_new(un, "threshold", json_real(th));
    json_object_set_new(un, "answered", json_real((double) answered / n));
    json_object_set_new(un, "accuracy_answered",
                        json_real(answered ? (double) answered_right / answered : 0.0));
    json_object_set_new(o, "unsure", un);
    json_t *vs = json_object();
    char what[128];
    snprintf(what, sizeof what, "first %d training images", ni);
    json_object_set_new(vs, "index", json_string(what));
    json_object_set_new(vs, "queries", json_string("the test images evaluated"));
    json_object_set_new(vs, "precision_at_5", json_real(p5));
    json_object_set_new(o, "visual_search", vs);
    json_t *lt = json_object();
    snprintf(what, sizeof what,
             "one CNN forward of the model's %d test-time view(s) as a batch, softmax, top-5 and "
             "embedding per image, one thread",
             vision_classifier_views(clf));
    json_object_set_new(lt, "what", json_string(what));
    json_object_set_new(lt, "mean_ms", json_real(lat_mean));
    json_object_set_new(lt, "p50_ms", json_real(lat_p50));
    json_object_set_new(lt, "p99_ms", json_real(lat_p99));
    json_object_set_new(o, "latency", lt);

    if (json) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        printf("%s\n", s);
        free(s);
    } else {
        printf("model %s on %d test images of %s\n", model, n, data);
        printf("accuracy %.4f\n", acc);
        printf("%-12s %9s %9s\n", "class", "precision", "recall");
        for (size_t k = 0; k < json_array_size(pc); k++) {
            json_t *e = json_array_get(pc, k);
            printf("%-12s %9.4f %9.4f\n", json_string_value(json_object_get(e, "label")),
                   json_real_value(json_object_get(e, "precision")),
                   json_real_value(json_object_get(e, "recall")));
        }
        printf("confusion (rows true, columns predicted):\n");
        for (int k = 0; k < C; k++) {
            for (int j = 0; j < C; j++)
                printf(" %5ld", confusion[k][j]);
            printf("\n");
        }
        printf("unsure below %.4f: answers %.4f of images, %.4f of them right\n", th,
               (double) answered / n, answered ? (double) answered_right / answered : 0.0);
        printf("visual search precision@5 %.4f (index: %s; queries: the test images)\n", p5,
               what);
        printf("latency per image: mean %.3f ms, p50 %.3f ms, p99 %.3f ms\n", lat_mean, lat_p50,
               lat_p99);
    }
    json_decref(o);
    rc = 0;
out:
    vision_index_destroy(&idx);
    free(pred);
    free(conf);
    free(emb);
    free(iemb);
    free(lat);
out_clf:
    vision_fmnist_release(&test);
    vision_fmnist_release(&train);
    vision_classifier_destroy(&clf);
    return rc;
}
