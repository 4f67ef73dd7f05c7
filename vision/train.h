/* vision/train.h: training of the product CNN (offline library).
 *
 * The net is a small ResNet trained on Fashion-MNIST; the last `val` images
 * of a seeded shuffle of the training set are held out and make every choice
 * (epoch kept, test-time views, "unsure" threshold). `shop-train vision`
 * (tools/vision.c) fills the options from its command line. */
#ifndef SHOP_VISION_TRAIN_H
#define SHOP_VISION_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *data_dir;   /* Fashion-MNIST idx files */
    const char *out;        /* model file written */
    const char *finalize;   /* no training: take this checkpoint's weights; may be NULL */
    const char *init;       /* start from this model's weights; may be NULL */
    int epochs, batch, width, blocks, val, threads, limit;
    float lr, wd, smoothing, erase;
    bool adamw;             /* AdamW instead of SGD with Nesterov momentum */
    uint64_t seed;
} vision_train_opts_t;

/* Trains (or finalizes) and writes o->out; cmd is the command line recorded
 * in the model's provenance. Progress and errors go to stderr. Returns 0 or
 * -1. */
int vision_train_run(const vision_train_opts_t *o, const char *cmd);

#endif
