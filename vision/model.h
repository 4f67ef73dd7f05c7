/* vision/model.h: what the product model's file says about its input and its
 * "unsure" answer, shared by training, classification and evaluation.
 *
 * Metadata keys written by `shop-train vision` and read back here:
 *   image_size "28", channels "1", mean / std (x = (v/255 - mean) / std, the
 *   Fashion-MNIST training set's figures), preprocess "fmnist-v1" (the steps of
 *   vision/preprocess.h), unsure_threshold (see vision_model_threshold) and
 *   unsure_rule (the rule in words with its validation figures). */
#ifndef SHOP_VISION_MODEL_H
#define SHOP_VISION_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "nn/nn.h"
#include "vision/preprocess.h"

/* Mean and standard deviation of Fashion-MNIST training pixels, on 0..1. */
#define VISION_MEAN 0.2860f
#define VISION_STD 0.3530f
/* Accuracy the confident answers must reach on the held-out images. */
#define VISION_UNSURE_TARGET 0.98

/* Normalises n gray bytes into out with VISION_MEAN / VISION_STD. */
void vision_model_normalise(const uint8_t *px, size_t n, float *out);
/* The normalised value of one gray level. */
float vision_model_normalise_value(uint8_t v);

/* Writes image_size, channels, mean, std and preprocess into net's metadata. */
void vision_model_set_input_meta(nn_net_t *net);

/* Reads the input spec back from a loaded net and checks it against the
 * net's input shape. Returns 0, or -1 with a message. */
int vision_model_input_spec(const nn_net_t *net, vision_prep_spec_t *spec, char *err,
                            size_t errlen);

/* Test-time augmentation: the model may answer with the mean over the first
 * "tta_views" variants of the image (1 = the image alone, 2 = with its
 * mirror, 10 = both with their one-pixel shifts; it was trained on such
 * variants, and products face either way). `shop-train vision` chooses the
 * count on validation data and stores it; a model without the key (written
 * before it existed) uses all 10. */
#define VISION_TTA_VARIANTS 10
/* Reads tta_views from a loaded net: 1..VISION_TTA_VARIANTS, or
 * VISION_TTA_VARIANTS when the key is absent; -1 if present but invalid. */
int vision_model_tta_views(const nn_net_t *net);
/* Writes variant v (0..VISION_TTA_VARIANTS-1) of the size x size input x into
 * out; pixels shifted in take the value bg (the normalised black). */
void vision_model_variant(const float *x, int size, int v, float bg, float *out);

/* The unsure threshold and what it costs on the data that chose it. */
typedef struct {
    float threshold;      /* answer when the top probability is >= this */
    float coverage;       /* fraction of images answered */
    float accepted_acc;   /* accuracy among the answered */
} vision_threshold_t;

/* Chooses the lowest top-probability threshold at which the images answered
 * (top probability >= threshold) are at least VISION_UNSURE_TARGET correct,
 * from probs (n x classes) and true labels y. Fills *th. */
void vision_model_threshold(const float *probs, const int32_t *y, int n, int classes,
                            vision_threshold_t *th);

#endif
