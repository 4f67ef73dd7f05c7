/* vision/eval.h: evaluation of the product model (offline library).
 *
 * Measures a model on the Fashion-MNIST test set: accuracy, per-class
 * precision and recall, the confusion matrix, the unsure answer's cost,
 * precision@5 of visual search over indexed training images and batch-1
 * latency, through the call the daemon uses. `shop-eval vision`
 * (tools/vision.c) fills the options from its command line. */
#ifndef SHOP_VISION_EVAL_H
#define SHOP_VISION_EVAL_H

#include <stdbool.h>

typedef struct {
    const char *model;   /* model file; NULL: the shipped models/vision.nn */
    const char *data;    /* Fashion-MNIST idx files */
    bool json;           /* one JSON object on stdout instead of text */
    int limit;           /* evaluate the first N test images; 0: all */
    int index_size;      /* training images indexed for visual search */
} vision_eval_opts_t;

/* Prints the measures on stdout (errors on stderr). Returns 0 or -1. */
int vision_eval_run(const vision_eval_opts_t *o);

#endif
