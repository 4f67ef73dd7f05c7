/* vision/classify.c: see classify.h */
#include "config.h"

#include "vision/classify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nn/nn.h"
#include "vision/model.h"

struct _vision_classifier_t {
    nn_net_t *net;            /* the loaded model */
    vision_prep_t *prep;      /* photo -> input, with its workspace */
    vision_prep_spec_t spec;  /* input size and normalisation */
    int classes;              /* outputs of the net */
    int emb_layer;            /* id of the "embedding" layer */
    int dim;                  /* its size */
    float threshold;          /* top probability under which we are unsure */
    int views;                /* test-time variants averaged (model's tta_views) */
    float *x;                 /* one input, size^2 */
    float *xm;                /* its mirrored / shifted variants, one per view */
    float *probs;             /* classes, averaged over the variants */
    float *probs_m;           /* classes of each variant */
    float *emb;               /* dim, normalised copy handed out */
    char err[256];            /* last failure */
};

vision_classifier_t *
vision_classifier_new(const char *model_path, char *err, size_t errlen)
{
    char buf[4096];
    if (!model_path) {
        model_path = shop_data_path("models/vision.nn", buf, sizeof buf);
        if (!model_path) {
            snprintf(err, errlen, "models/vision.nn not found (set SHOPD_DATADIR?)");
            return NULL;
        }
    }
    char lerr[256];
    nn_net_t *net = nn_load(model_path, lerr, sizeof lerr);
    if (!net) {
        snprintf(err, errlen, "%s", lerr);   /* nn_load names the file */
        return NULL;
    }
    vision_classifier_t *self = xcalloc(1, sizeof *self);
    self->net = net;
    if (vision_model_input_spec(net, &self->spec, lerr, sizeof lerr) < 0) {
        snprintf(err, errlen, "%s: %s", model_path, lerr);
        goto fail;
    }
    self->classes = nn_output_size(net);
    self->emb_layer = nn_find_layer(net, "embedding");
    if (self->emb_layer < 0 || self->classes < 2 || nn_num_labels(net) != self->classes) {
        snprintf(err, errlen, "%s: not a product model (needs an 'embedding' layer and labels)",
                 model_path);
        goto fail;
    }
    nn_shape_t es = nn_layer_shape(net, self->emb_layer);
    self->dim = es.c * es.h * es.w;
    const char *th = nn_meta_get(net, "unsure_threshold");
    char *end = NULL;
    self->threshold = th ? strtof(th, &end) : -1.0f;
    if (!th || end == th || *end || !(self->threshold >= 0.0f && self->threshold <= 1.0f)) {
        snprintf(err, errlen, "%s: missing or invalid unsure_threshold", model_path);
        goto fail;
    }
    self->views = vision_model_tta_views(net);
    if (self->views < 1) {
        snprintf(err, errlen, "%s: invalid tta_views (1..%d)", model_path, VISION_TTA_VARIANTS);
        goto fail;
    }
    self->prep = vision_prep_new(&self->spec);
    if (!self->prep) {
        snprintf(err, errlen, "%s: invalid input spec", model_path);
        goto fail;
    }
    self->x = xmallocarray((size_t) self->spec.size * (size_t) self->spec.size, sizeof(float));
    self->xm = xmallocarray((size_t) self->views * (size_t) self->spec.size
                            * (size_t) self->spec.size, sizeof(float));
    self->probs = xmallocarray((size_t) self->classes, sizeof(float));
    self->probs_m = xmallocarray((size_t) self->views * (size_t) self->classes, sizeof(float));
    self->emb = xmallocarray((size_t) self->dim, sizeof(float));
    return self;
fail:
    vision_classifier_destroy(&self);
    return NULL;
}

void
vision_classifier_destroy(vision_classifier_t **clf_p)
{
    if (!clf_p || !*clf_p)
        return;
    vision_classifier_t *self = *clf_p;
    nn_destroy(&self->net);
    vision_prep_destroy(&self->prep);
    free(self->x);
    free(self->probs);
    free(self->xm);
    free(self->probs_m);
    free(self->emb);
    free(self);
    *clf_p = NULL;
}

int
vision_classify_input(vision_classifier_t *self, const float *x, vision_result_t *res)
{
    memset(res, 0, sizeof *res);
    /* the model was trained on mirrored and shifted images, and products
     * face either way: the answer is the mean over as many variants (image,
     * mirror, one-pixel shifts) as helped on validation data */
    int n = self->spec.size, nv = self->views;
    float bgv = (0.0f - self->spec.mean) / self->spec.std;
    memset(self->probs, 0, (size_t) self->classes * sizeof(float));
    memset(self->emb, 0, (size_t) self->dim * sizeof(float));
    /* the views go through the net as one batch: one pass over the weights
     * instead of nv */
    for (int v = 0; v < nv; v++)
        vision_model_variant(x, n, v, bgv, self->xm + (size_t) v * (size_t) n * (size_t) n);
    const float *e;
    if (nn_forward(self->net, self->xm, nv, self->probs_m) < 0
        || !(e = nn_layer_output(self->net, self->emb_layer, NULL)))
        goto fail;
    for (int v = 0; v < nv; v++) {
        for (int c = 0; c < self->classes; c++)
            self->probs[c] += self->probs_m[(size_t) v * self->classes + c] / (float) nv;
        for (int i = 0; i < self->dim; i++)
            self->emb[i] += e[(size_t) v * self->dim + i];
    }
    double ss = 0;
    for (int i = 0; i < self->dim; i++)
        ss += (double) self->emb[i] * self->emb[i];
    float inv = ss > 0 ? (float) (1.0 / sqrt(ss)) : 0.0f;
    for (int i = 0; i < self->dim; i++)
        self->emb[i] *= inv;
    res->embedding = self->emb;
    res->dim = self->dim;
    /* top-k by selection: k and classes are small */
    int k = SHOP_MIN(VISION_TOPK, self->classes);
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int c = 0; c < self->classes; c++) {
            bool taken = false;
            for (int t = 0; t < j; t++)
                taken |= res->top[t].label == c;
            if (!taken && (best < 0 || self->probs[c] > self->probs[best]))
                best = c;
        }
        res->top[j].label = best;
        res->top[j].prob = self->probs[best];
        res->top[j].name = nn_label(self->net, best);
    }
    res->n = k;
    res->unsure = res->top[0].prob < self->threshold;
    return 0;
fail:
    snprintf(self->err, sizeof self->err, "model: %s", nn_error(self->net));
    return -1;
}

int
vision_classify(vision_classifier_t *self, const vision_image_t *img, vision_result_t *res)
{
    vision_prep_info_t info;
    if (vision_prep_run(self->prep, img, self->x, &info) < 0) {
        memset(res, 0, sizeof *res);
        snprintf(self->err, sizeof self->err, "not a valid image");
        return -1;
    }
    if (vision_classify_input(self, self->x, res) < 0)
        return -1;
    res->prep = info;
    if (info.empty)
        res->unsure = true;
    return 0;
}

const char *
vision_classifier_error(const vision_classifier_t *self)
{
    return self->err;
}

int
vision_classifier_classes(const vision_classifier_t *self)
{
    return self->classes;
}

int
vision_classifier_dim(const vision_classifier_t *self)
{
    return self->dim;
}

int
vision_classifier_views(const vision_classifier_t *self)
{
    return self->views;
}

float
vision_classifier_threshold(const vision_classifier_t *self)
{
    return self->threshold;
}

const char *
vision_classifier_label(const vision_classifier_t *self, int i)
{
    return nn_label(self->net, i);
}

const vision_prep_spec_t *
vision_classifier_spec(const vision_classifier_t *self)
{
    return &self->spec;
}
