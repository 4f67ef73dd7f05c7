/* vision/train.c: training of the product CNN on Fashion-MNIST (`shop-train
 * vision` parses its options in tools/vision.c).
 *
 * The net is a small ResNet: a 3x3 stem at 28x28, then stages of residual
 * blocks at 14x14 and 7x7 (two 3x3 conv+BN, a 1x1 projection when the width
 * changes), global average pooling to the embedding used for visual search,
 * a dense layer to the ten classes. Training holds out the last --val images
 * of a seeded shuffle of the training set; they are never trained on and make
 * every choice: the epoch kept (the best validation accuracy), the number of
 * test-time views (s_choose_views) and the "unsure" threshold
 * (vision_model_threshold). The test set is not read here: `shop-eval
 * vision` measures it once, afterwards. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "nn/nn.h"
#include "vision/fmnist.h"
#include "vision/model.h"
#include "vision/train.h"

/* Residual block: conv-BN-ReLU-conv-BN + shortcut, ReLU. Returns the id. */
static int
s_block(nn_net_t *net, int x, int out_c)
{
    int in_c = nn_layer_shape(net, x).c;
    int y = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, out_c, 3, 3, 1, 1, 1, 1, false)));
    y = nn_batchnorm(net, nn_conv2d(net, y, out_c, 3, 3, 1, 1, 1, 1, false));
    int sc = x;
    if (in_c != out_c)
        sc = nn_batchnorm(net, nn_pointwise(net, x, out_c, false));
    return nn_relu(net, nn_add(net, y, sc));
}

/* Builds the net; returns it or NULL with a message. */
static nn_net_t *
s_build(int width, int blocks, uint64_t seed, char *err, size_t errlen)
{
    nn_net_t *net = nn_new(seed);
    if (!net) {
        snprintf(err, errlen, "cannot create a net");
        return NULL;
    }
    int x = nn_input(net, (nn_shape_t) { 1, 28, 28 });
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, width, 3, 3, 1, 1, 1, 1, false)));
    x = nn_maxpool(net, x, 2, 2);
    for (int b = 0; b < blocks; b++)
        x = s_block(net, x, 2 * width);
    x = nn_maxpool(net, x, 2, 2);
    for (int b = 0; b < blocks; b++)
        x = s_block(net, x, 4 * width);
    x = nn_global_avgpool(net, x);
    if (x >= 0 && nn_layer_set_name(net, x, "embedding") < 0)
        x = -1;
    x = nn_softmax_xent(net, nn_dense(net, x, VISION_FMNIST_CLASSES));
    if (x < 0) {
        snprintf(err, errlen, "building the net: %s", nn_error(net));
        nn_destroy(&net);
        return NULL;
    }
    return net;
}

/* Augmentation of a batch of 1x28x28 normalised images: shift by up to 2
 * pixels (the padding is the background value), mirror half of them (shoes
 * and bags face both ways in real photos), optionally erase a random
 * rectangle (occlusion by a hand holding the product). */
typedef struct {
    float bg;      /* normalised value of a black pixel */
    float erase;   /* probability of erasing */
} s_aug_t;

static void
s_augment(float *x, int n, const nn_shape_t *shape, uint64_t *rng, void *user)
{
    const s_aug_t *aug = user;
    enum { S = 28 };
    if (shape->c != 1 || shape->h != S || shape->w != S)
        return;
    float tmp[S * S];
    for (int i = 0; i < n; i++) {
        float *img = x + (size_t) i * S * S;
        int dx = (int) (nn_rand_u32(rng) % 5) - 2, dy = (int) (nn_rand_u32(rng) % 5) - 2;
        bool flip = nn_rand_u32(rng) & 1;
        for (int y = 0; y < S; y++) {
            for (int xx = 0; xx < S; xx++) {
                int sx = (flip ? S - 1 - xx : xx) - dx, sy = y - dy;
                tmp[y * S + xx] = sx >= 0 && sx < S && sy >= 0 && sy < S ? img[sy * S + sx]
                                                                         : aug->bg;
            }
        }
        if (aug->erase > 0 && nn_rand_float(rng) < aug->erase) {
            int ew = 4 + (int) (nn_rand_u32(rng) % 10), eh = 4 + (int) (nn_rand_u32(rng) % 10);
            int ex = (int) (nn_rand_u32(rng) % (S - ew + 1));
            int ey = (int) (nn_rand_u32(rng) % (S - eh + 1));
            for (int y = ey; y < ey + eh; y++)
                for (int xx = ex; xx < ex + ew; xx++)
                    tmp[y * S + xx] = aug->bg;
        }
        memcpy(img, tmp, sizeof tmp);
    }
}

/* After each epoch: a line of figures, and the weights so far in
 * <out>.partial, so a run cut short still leaves a model to finish with
 * --finalize. */
typedef struct {
    nn_net_t *net;
    int epochs;
    double t0;
    char partial[4096];
} s_progress_t;

static void
s_progress(const nn_epoch_t *e, void *user)
{
    s_progress_t *p = user;
    double done = shop_now_s() - p->t0;
    fprintf(stderr,
            "vision: epoch %d/%d lr %.4f loss %.4f acc %.4f val_loss %.4f val_acc %.4f "
            "%.0f img/s %.0f s; %.1f min so far, about %.1f min to go\n",
            e->epoch, p->epochs, e->lr, e->loss, e->acc, e->val_loss, e->val_acc,
            e->images_per_s, e->seconds, done / 60, done / e->epoch * (p->epochs - e->epoch) / 60);
    char err[256];
    if (nn_save(p->net, p->partial, err, sizeof err) < 0)
        fprintf(stderr, "vision: checkpoint: %s\n", err);
}

/* Accuracy of probs (n x classes) against y. */
static double
s_accuracy(const float *probs, const int32_t *y, int n)
{
    int right = 0;
    for (int k = 0; k < n; k++)
        right += nn_argmax(probs + (size_t) k * VISION_FMNIST_CLASSES, VISION_FMNIST_CLASSES)
                 == y[k];
    return (double) right / n;
}

/* The candidate test-time view counts (see vision_model_variant) and the
 * rule between them: more views cost a forward each, so they are taken only
 * when they beat the fewer-view choice by more than VIEWS_MARGIN on the
 * validation images (0.002 = 10 of 5,000: less is within noise). */
static const int s_views[] = { 1, 2, VISION_TTA_VARIANTS };
enum { N_VIEWS = (int) (sizeof s_views / sizeof s_views[0]) };
#define VIEWS_MARGIN 0.002

/* Runs the variants over val as vision_classify does (the mean probability
 * of the first `views` of them), in chunks so the workspace stays small;
 * fills acc[N_VIEWS] with the validation accuracy of each candidate and
 * probs (n x classes) with the answers of the one chosen. Returns the index
 * of the chosen candidate, or -1 (nn_error). */
static int
s_choose_views(nn_net_t *net, const nn_data_t *val, float bg, double *acc, float *probs)
{
    enum { CHUNK = 500, C = VISION_FMNIST_CLASSES };
    int n = val->n;
    size_t np = (size_t) n * C;
    float *sum = xcalloc(np, sizeof(float));
    float *mean = xmallocarray(np, sizeof(float));
    float *xv = xmallocarray((size_t) CHUNK * 784, sizeof(float));
    float *pv = xmallocarray((size_t) CHUNK * C, sizeof(float));
    int best = -1, next = 0;
    for (int v = 0; v < VISION_TTA_VARIANTS && next < N_VIEWS; v++) {
        for (int s = 0; s < n; s += CHUNK) {
            int m = SHOP_MIN(CHUNK, n - s);
            for (int k = 0; k < m; k++)
                vision_model_variant(val->x + (size_t) (s + k) * 784, 28, v, bg,
                                     xv + (size_t) k * 784);
            if (nn_forward(net, xv, m, pv) < 0)
                goto out;
            for (size_t i = 0; i < (size_t) m * C; i++)
                sum[(size_t) s * C + i] += pv[i];
        }
        if (v + 1 != s_views[next])
            continue;
        for (size_t i = 0; i < np; i++)
            mean[i] = sum[i] / (float) (v + 1);
        acc[next] = s_accuracy(mean, val->y, n);
        if (best < 0 || acc[next] > acc[best] + VIEWS_MARGIN) {
            best = next;
            memcpy(probs, mean, np * sizeof(float));
        }
        next++;
    }
out:
    free(sum);
    free(mean);
    free(xv);
    free(pv);
    return next == N_VIEWS ? best : -1;
}

int
vision_train_run(const vision_train_opts_t *opts_in, const char *cmd)
{
    /* nn threads over the batch itself; OpenBLAS's own threads would spin
     * against them */
    nn_blas_init();
    double t_start = shop_now_s();
    const vision_train_opts_t o = *opts_in;
    int rc;    char err[512];
    vision_fmnist_t ds;
    if (vision_fmnist_load_set(o.data_dir, "train", &ds, err, sizeof err) < 0) {
        fprintf(stderr, "shop-train vision: %s\n", err);
        return -1;
    }
    if (ds.rows != 28 || ds.cols != 28 || ds.n <= o.val + 100) {
        fprintf(stderr, "shop-train vision: need more than %d 28x28 images, got %d of %dx%d\n",
                o.val + 100, ds.n, ds.rows, ds.cols);
        vision_fmnist_release(&ds);
        return -1;
    }
    /* seeded shuffle; the last o.val of it is the validation split */
    int n = ds.n;
    int *perm = xmallocarray((size_t) n, sizeof(int));
    for (int i = 0; i < n; i++)
        perm[i] = i;
    uint64_t rng = o.seed ^ 0x5DEECE66DULL;
    for (int i = n - 1; i > 0; i--) {
        int j = (int) (nn_rand_u32(&rng) % (uint32_t) (i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int n_val = o.val, n_train = n - n_val;
    if (o.limit > 0 && o.limit < n_train)
        n_train = o.limit;
    float *x = xmallocarray((size_t) (n_train + n_val) * 784, sizeof(float));
    int32_t *y = xmallocarray((size_t) (n_train + n_val), sizeof(int32_t));
    for (int k = 0; k < n_train + n_val; k++) {
        int src = k < n_train ? perm[k] : perm[n - n_val + (k - n_train)];
        vision_model_normalise(ds.pixels + (size_t) src * 784, 784, x + (size_t) k * 784);
        y[k] = ds.labels[src];
    }
    free(perm);
    vision_fmnist_release(&ds);

    const char *from = o.finalize ? o.finalize : o.init;
    nn_net_t *net = from ? nn_load(from, err, sizeof err)
                         : s_build(o.width, o.blocks, o.seed, err, sizeof err);
    if (!net) {
        fprintf(stderr, "shop-train vision: %s\n", err);
        free(x);
        free(y);
        return -1;
    }
    nn_set_threads(net, o.threads);
    fprintf(stderr, "vision: %d train, %d validation images; %zu parameters, %.1f M multiply-adds"
                    " per image; BLAS kernel %s\n",
            n_train, n_val, nn_num_params(net), nn_flops_per_sample(net) / 1e6,
            nn_blas_corename());
    nn_print_summary(net);

    s_aug_t aug = { .bg = vision_model_normalise_value(0), .erase = o.erase };
    nn_data_t train = { .x = x, .y = y, .n = n_train, .shape = { 1, 28, 28 },
                        .augment = s_augment, .augment_user = &aug };
    nn_data_t val = { .x = x + (size_t) n_train * 784, .y = y + n_train, .n = n_val,
                      .shape = { 1, 28, 28 } };
    nn_train_opts_t opts;
    nn_train_opts_default(&opts);
    opts.epochs = o.epochs;
    opts.batch = o.batch;
    opts.optimizer = o.adamw ? NN_ADAMW : NN_SGD;
    opts.lr = o.lr;
    opts.weight_decay = o.wd;
    opts.schedule = NN_SCHED_COSINE;
    opts.label_smoothing = o.smoothing;
    opts.seed = o.seed;
    opts.val = &val;
    opts.restore_best = true; /* the epoch with the best validation accuracy */
    opts.threads = o.threads;
    opts.verbose = 2;
    s_progress_t prog = { .net = net, .epochs = o.epochs, .t0 = shop_now_s() };
    snprintf(prog.partial, sizeof prog.partial, "%s.partial", o.out);
    opts.progress = s_progress;
    opts.progress_user = &prog;
    double t0 = shop_now_s();
    nn_history_t hist = { 0 };
    rc = o.finalize ? 0 : nn_train(net, &train, &opts, &hist, err, sizeof err);
    double secs = shop_now_s() - t0;
    if (rc < 0) {
        fprintf(stderr, "shop-train vision: training failed: %s\n", err);
        goto out;
    }
    double val_acc = nn_evaluate(net, &val, NULL);

    /* test-time views, then the "unsure" threshold on the answers of the
     * views chosen, all on the held-out images */
    float *probs = xmallocarray((size_t) n_val * VISION_FMNIST_CLASSES, sizeof(float));
    double views_acc[N_VIEWS];
    int vi = s_choose_views(net, &val, aug.bg, views_acc, probs);
    if (vi < 0) {
        fprintf(stderr, "shop-train vision: %s\n", nn_error(net));
        free(probs);
        rc = -1;
        goto out;
    }
    rc = -1;
    vision_threshold_t th;
    vision_model_threshold(probs, val.y, n_val, VISION_FMNIST_CLASSES, &th);
    free(probs);

    char buf[2048];
    nn_set_labels(net, vision_fmnist_labels, VISION_FMNIST_CLASSES);
    nn_meta_set(net, "arch", "vision-resnet");
    snprintf(buf, sizeof buf, "width=%d blocks=%d", o.width, o.blocks);
    nn_meta_set(net, "arch_params", buf);
    vision_model_set_input_meta(net);
    snprintf(buf, sizeof buf, "%.4f", th.threshold);
    nn_meta_set(net, "unsure_threshold", buf);
    snprintf(buf, sizeof buf,
             "lowest max-probability at which the held-out images answered are %.0f%% right: "
             "%.4f of them answered, %.4f accuracy among those",
             100.0 * VISION_UNSURE_TARGET, th.coverage, th.accepted_acc);
    nn_meta_set(net, "unsure_rule", buf);
    snprintf(buf, sizeof buf, "%.4f", val_acc);
    nn_meta_set(net, "val_acc", buf);
    snprintf(buf, sizeof buf, "%d", s_views[vi]);
    nn_meta_set(net, "tta_views", buf);
    size_t l = (size_t) snprintf(buf, sizeof buf, "validation accuracy by test-time views:");
    for (int i = 0; i < N_VIEWS; i++)
        l += (size_t) snprintf(buf + l, sizeof buf - l, " %d: %.4f;", s_views[i], views_acc[i]);
    snprintf(buf + l, sizeof buf - l, " chosen %d (more views only if > %.3f better)",
             s_views[vi], VIEWS_MARGIN);
    nn_meta_set(net, "tta_rule", buf);
    nn_meta_set(net, "train_command", cmd);
    snprintf(buf, sizeof buf,
             "epochs %d, batch %d, lr %g (%s, cosine with warm-up), wd %g, width %d, blocks %d, "
             "smoothing %g, erase %g, val %d, seed %llu, threads %d, BLAS kernel %s",
             o.epochs, o.batch, o.lr, o.adamw ? "AdamW" : "SGD Nesterov", o.wd, o.width,
             o.blocks, o.smoothing, o.erase, o.val, (unsigned long long) o.seed, o.threads,
             nn_blas_corename());
    nn_meta_set(net, "train_recipe", buf);
    double total = shop_now_s() - t_start;
    if (o.finalize)
        snprintf(buf, sizeof buf, "finalized from the checkpoint %s in %.0f s (see the training "
                 "log for its epochs)", o.finalize, total);
    else
        snprintf(buf, sizeof buf,
                 "%.0f s wall in all (%.0f s training), %d threads, %d epochs of %d images",
                 total, secs, o.threads, hist.n, n_train);
    nn_meta_set(net, "train_time", buf);
    if (!o.finalize) {
        l = (size_t) snprintf(buf, sizeof buf, "best epoch %d (kept); val_acc per epoch:",
                              hist.best_epoch);
        for (int i = 0; i < hist.n && l < sizeof buf; i++)
            l += (size_t) snprintf(buf + l, sizeof buf - l, " %.4f", hist.epochs[i].val_acc);
        nn_meta_set(net, "val_history", buf);
    }
    if (nn_save(net, o.out, err, sizeof err) < 0) {
        fprintf(stderr, "shop-train vision: %s\n", err);
        goto out;
    }
    printf("vision: wrote %s: validation accuracy %.4f (best epoch %d); with views 1/2/%d: "
           "%.4f/%.4f/%.4f, chosen %d; unsure threshold %.4f (answers %.4f of validation "
           "images at %.4f accuracy); %zu parameters\n",
           o.out, val_acc, hist.best_epoch, VISION_TTA_VARIANTS, views_acc[0], views_acc[1],
           views_acc[2], s_views[vi], th.threshold, th.coverage, th.accepted_acc,
           nn_num_params(net));
    printf("vision: total wall time %.0f s (%.1f min), training %.0f s\n",
           shop_now_s() - t_start, (shop_now_s() - t_start) / 60, secs);
    rc = 0;
out:
    nn_history_free(&hist);
    nn_destroy(&net);
    free(x);
    free(y);
    return rc < 0 ? -1 : 0;
}
