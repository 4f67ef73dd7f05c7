/* vision/model.c: the product model's input spec and unsure threshold. */
#include "config.h"

#include "vision/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void
vision_model_normalise(const uint8_t *px, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = vision_model_normalise_value(px[i]);
}

float
vision_model_normalise_value(uint8_t v)
{
    return ((float) v / 255.0f - VISION_MEAN) / VISION_STD;
}

void
vision_model_set_input_meta(nn_net_t *net)
{
    char buf[32];
    nn_meta_set(net, "image_size", "28");
    nn_meta_set(net, "channels", "1");
    snprintf(buf, sizeof buf, "%.4f", VISION_MEAN);
    nn_meta_set(net, "mean", buf);
    snprintf(buf, sizeof buf, "%.4f", VISION_STD);
    nn_meta_set(net, "std", buf);
    nn_meta_set(net, "preprocess", "fmnist-v1");
}

/* Parses a float from metadata; returns 0 or -1. */
static int
s_meta_float(const nn_net_t *net, const char *key, float *out)
{
    const char *v = nn_meta_get(net, key);
    if (!v)
        return -1;
    char *end;
    float f = strtof(v, &end);
    if (end == v || *end != 0 || !isfinite(f))
        return -1;
    *out = f;
    return 0;
}

int
vision_model_input_spec(const nn_net_t *net, vision_prep_spec_t *spec, char *err, size_t errlen)
{
    float size = 0;
    const char *pre = nn_meta_get(net, "preprocess");
    if (!pre || strcmp(pre, "fmnist-v1") != 0) {
        snprintf(err, errlen, "not a product model: preprocess is '%s', expected 'fmnist-v1'",
                 pre ? pre : "(missing)");
        return -1;
    }
    if (s_meta_float(net, "image_size", &size) < 0 || s_meta_float(net, "mean", &spec->mean) < 0
        || s_meta_float(net, "std", &spec->std) < 0 || !(spec->std > 0)) {
        snprintf(err, errlen, "model metadata lacks a valid image_size, mean or std");
        return -1;
    }
    spec->size = (int) size;
    nn_shape_t in = nn_input_shape(net);
    if (in.c != 1 || in.h != spec->size || in.w != spec->size) {
        snprintf(err, errlen, "model input %dx%dx%d does not match image_size %d", in.c, in.h,
                 in.w, spec->size);
        return -1;
    }
    return 0;
}

int
vision_model_tta_views(const nn_net_t *net)
{
    if (!nn_meta_get(net, "tta_views"))
        return VISION_TTA_VARIANTS;
    float v;
    if (s_meta_float(net, "tta_views", &v) < 0 || v < 1 || v > VISION_TTA_VARIANTS
        || v != (float) (int) v)
        return -1;
    return (int) v;
}

void
vision_model_variant(const float *x, int n, int v, float bg, float *out)
{
    static const int variants[VISION_TTA_VARIANTS][3] = { /* mirror, dx, dy */
        { 0, 0, 0 }, { 1, 0, 0 }, { 0, 1, 0 }, { 1, 1, 0 }, { 0, -1, 0 }, { 1, -1, 0 },
        { 0, 0, 1 }, { 1, 0, 1 }, { 0, 0, -1 }, { 1, 0, -1 },
    };
    int mirror = variants[v][0], dx = variants[v][1], dy = variants[v][2];
    for (int y = 0; y < n; y++)
        for (int c = 0; c < n; c++) {
            int sy = y - dy, sc = c - dx;
            if (mirror)
                sc = n - 1 - sc;
            out[y * n + c] = sy >= 0 && sy < n && sc >= 0 && sc < n ? x[sy * n + sc] : bg;
        }
}

typedef struct {
    float p;
    int ok;
} s_conf_t;

static int
s_by_conf_desc(const void *a, const void *b)
{
    float pa = ((const s_conf_t *) a)->p, pb = ((const s_conf_t *) b)->p;
    return pa < pb ? 1 : pa > pb ? -1 : 0;
}

void
vision_model_threshold(const float *probs, const int32_t *y, int n, int classes,
                       vision_threshold_t *th)
{
    memset(th, 0, sizeof *th);
    th->threshold = 1.0f;
    if (n <= 0 || classes <= 0)
        return;
    s_conf_t *c = xmallocarray((size_t) n, sizeof *c);
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t) i * (size_t) classes;
        int top = nn_argmax(p, classes);
        c[i].p = p[top];
        c[i].ok = top == y[i];
    }
    qsort(c, (size_t) n, sizeof *c, s_by_conf_desc);
    /* answered = the k most confident; the largest k still on target wins,
     * cutting only between distinct probabilities */
    int right = 0, best_k = 0, best_right = 0;
    for (int k = 1; k <= n; k++) {
        right += c[k - 1].ok;
        bool cut = k == n || c[k].p < c[k - 1].p;
        if (cut && right >= VISION_UNSURE_TARGET * k) {
            best_k = k;
            best_right = right;
        }
    }
    if (best_k > 0) {
        th->threshold = c[best_k - 1].p;
        th->coverage = (float) best_k / (float) n;
        th->accepted_acc = (float) best_right / (float) best_k;
    }
    free(c);
}
