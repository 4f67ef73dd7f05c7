/* vision/preprocess.h: a product photo -> the model's input (Fashion-MNIST domain).
 *
 * Fashion-MNIST was made from Zalando product photos on white: the background
 * was trimmed, the longest edge resized to 28, the result centred on 28x28,
 * converted to grayscale and negated so the product is light on black. We do
 * the same to any photo so it looks like what the model learnt from:
 *   1. estimate the background level from the image border (median, and its
 *      spread for the foreground threshold);
 *   2. find the bounding box of the pixels that differ from it and trim;
 *   3. grayscale and take the distance from the background, which negates a
 *      light background and keeps a dark one, so the same product on white
 *      and on black lands on the same input;
 *   4. resize the longest edge to `size` by area averaging (every source pixel
 *      contributes its exact overlap: proper antialiasing for 4000x3000
 *      photos), centre it on size x size;
 *   5. stretch the levels so the brightest pixel is 255, as in the dataset;
 *   6. normalise with the model's mean and std.
 * A vision_prep_t keeps its workspace, so after the largest image has been
 * seen no call allocates. */
#ifndef SHOP_VISION_PREPROCESS_H
#define SHOP_VISION_PREPROCESS_H

#include <stdbool.h>

#include "vision/decode.h"

/* The model's input: size x size, one channel, x = (v/255 - mean) / std. */
typedef struct {
    int size;             /* side of the square input (28) */
    float mean, std;      /* normalisation, from the model's metadata */
} vision_prep_spec_t;

/* What preprocessing found, for callers and tests. */
typedef struct {
    int bg;               /* background gray level 0..255 */
    bool light_bg;        /* background was light, so the image was negated */
    int x0, y0, x1, y1;   /* product bounding box in the source, x1/y1 exclusive */
    bool empty;           /* nothing stands out from the background */
} vision_prep_info_t;

typedef struct _vision_prep_t vision_prep_t;

/* Returns a preprocessor for spec (copied), or NULL if spec is invalid
 * (size outside 4..256, std <= 0). Destroy with vision_prep_destroy. */
vision_prep_t *vision_prep_new(const vision_prep_spec_t *spec);

/* Frees prep and sets *prep_p to NULL; safe on NULL. */
void vision_prep_destroy(vision_prep_t **prep_p);

/* Turns img (gray or RGB) into spec.size^2 floats in out (caller-owned).
 * info may be NULL. Returns 0, or -1 when img is not a valid image. An image
 * with no foreground is not an error: info->empty is set and out holds the
 * background (the classifier then answers "unsure"). */
int vision_prep_run(vision_prep_t *prep, const vision_image_t *img, float *out,
                    vision_prep_info_t *info);

/* The same as vision_prep_run, but writes 0..255 gray levels before
 * normalisation into out8 (size^2 bytes): for inspection and tests. */
int vision_prep_run_u8(vision_prep_t *prep, const vision_image_t *img, unsigned char *out8,
                       vision_prep_info_t *info);

#endif
