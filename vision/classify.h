/* vision/classify.h: a photo -> product categories, "unsure", and an embedding.
 *
 * Loads the product model written by `shop-train vision`, brings each image
 * into the model's domain (vision/preprocess.h), runs the CNN at batch 1 and
 * reads the penultimate layer ("embedding") for visual search. All buffers
 * are allocated by vision_classifier_new and on the first call: afterwards a
 * call allocates nothing (the preprocessor's workspace grows only when a
 * larger photo than any before arrives). One classifier serves one thread at
 * a time. */
#ifndef SHOP_VISION_CLASSIFY_H
#define SHOP_VISION_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "vision/decode.h"
#include "vision/preprocess.h"

#define VISION_TOPK 5

typedef struct {
    int label;            /* class index */
    const char *name;     /* its name from the model ("sneaker"), owned by the classifier */
    float prob;           /* softmax probability */
} vision_guess_t;

/* The answer for one image. Pointers stay valid until the next call on the
 * same classifier or its destruction. */
typedef struct {
    int n;                            /* guesses filled, <= VISION_TOPK */
    vision_guess_t top[VISION_TOPK];  /* most probable first */
    bool unsure;                      /* top probability under the model's threshold,
                                         or nothing stands out in the photo */
    const float *embedding;           /* dim floats, L2-normalised, owned by the classifier */
    int dim;
    vision_prep_info_t prep;          /* what preprocessing found */
} vision_result_t;

typedef struct _vision_classifier_t vision_classifier_t;

/* Loads a product model (NULL path = the shipped models/vision.nn). Returns
 * the classifier, or NULL with a message (missing file, not a product model,
 * no "embedding" layer...). Destroy with vision_classifier_destroy. */
vision_classifier_t *vision_classifier_new(const char *model_path, char *err, size_t errlen);
void vision_classifier_destroy(vision_classifier_t **clf_p);

/* Classifies a decoded photo. Returns 0 and fills *res, or -1 with a message
 * in vision_classifier_error() (an invalid image; the model failing). */
int vision_classify(vision_classifier_t *clf, const vision_image_t *img, vision_result_t *res);

/* Classifies an input already in the model's domain (size^2 normalised
 * floats, e.g. a Fashion-MNIST image). Same contract as vision_classify. */
int vision_classify_input(vision_classifier_t *clf, const float *x, vision_result_t *res);

/* The message of the last failure ("" if none). */
const char *vision_classifier_error(const vision_classifier_t *clf);
int vision_classifier_classes(const vision_classifier_t *clf);
int vision_classifier_dim(const vision_classifier_t *clf);
float vision_classifier_threshold(const vision_classifier_t *clf);
/* Test-time variants averaged per image (the model's tta_views). */
int vision_classifier_views(const vision_classifier_t *clf);
/* Label i's name, or NULL. */
const char *vision_classifier_label(const vision_classifier_t *clf, int i);
/* The model's input spec (size, mean, std). */
const vision_prep_spec_t *vision_classifier_spec(const vision_classifier_t *clf);

#endif
