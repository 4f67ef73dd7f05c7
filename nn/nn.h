/* nn/nn.h: shopd's CNN engine: build a net, train it, run it, save and load it.
 *
 * A net is a DAG of layers built in order: every builder takes the id(s) of its
 * input layer(s) and returns the new layer's id (>= 0), or -1 with a message in
 * nn_error(net) (bad arguments never assert: the model loader uses the same
 * builders on untrusted files). Shapes are C x H x W per sample; tensors are
 * float, row-major N x C x H x W. The output of the net is the last layer
 * added (or nn_set_output()).
 *
 *     nn_net_t *net = nn_new(42);
 *     int x = nn_input(net, (nn_shape_t) { 1, 28, 28 });
 *     x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, 32, 3, 3, 1, 1, 1, 1, false)));
 *     x = nn_global_avgpool(net, x);
 *     nn_layer_set_name(net, x, "embedding");
 *     x = nn_softmax_xent(net, nn_dense(net, x, 10));
 *     nn_train(net, &train, &opts, &hist, err, sizeof err);
 *     nn_forward(net, image, 1, probs);        // probabilities, 10 floats
 *     nn_save(net, "model.nn", err, sizeof err);
 *
 * Threads: a net is used by one thread at a time (it owns its workspace);
 * internally nn_train and batched nn_forward calls of >= 16 samples split
 * the batch across nn_set_threads() worker threads; batch 1 runs on the
 * caller's thread (a helper thread splitting big convs showed no gain, see
 * docs/performance.md). OpenBLAS itself stays single threaded (measured
 * faster for these small GEMMs).
 *
 * Speed notes for people training with it (details in docs/performance.md):
 * - Call nn_blas_ensure_fast_path(argv) FIRST in main(): without it Debian's
 *   OpenBLAS may use its generic kernel on an AVX-512 CPU (~8x slower GEMM).
 *   By default (SHOPD_BLAS_CORETYPE=auto) it takes the fastest kernel the
 *   CPU supports even over an OPENBLAS_CORETYPE naming a weaker one (this
 *   environment sets Haswell; the AVX-512 kernels make convs ~1.4x faster).
 * - conv -> batchnorm -> relu is the fast pattern: at inference BN is folded
 *   into the conv and the ReLU is applied as the conv writes its output
 *   (likewise relu(add(...)) at the end of a residual block: the conv that
 *   computes one of the add's operands last adds the other one and applies
 *   the ReLU as it writes its output).
 * - Convs without bias before a batchnorm (bias = false): the BN shift does it.
 * - Fastest layers: 3x3 stride-1 convs with padding 1 and >= 16 input and
 *   output channels run as Winograd F(4x4, 3x3) (4x fewer multiplies; the
 *   choice is made per layer when it is built, also when a model is loaded).
 *   Other stride-1 convs with >= 16 input channels on maps of at
 *   least 10x10 (shifted GEMMs, no im2col: ~70 GFLOPS per core with the
 *   Haswell kernel, ~105 with SkylakeX); stride-2 convs (kernel > 1x1,
 *   >= 16 input channels, output of at least 10x10) as shifted GEMMs on the
 *   input's four phases (~90 GFLOPS at 32@28 -> 64@14 with Cooperlake); other
 *   strided convs go through im2col (~55-95); 1x1 stride-1 convs are one GEMM per image; a 1-channel stem is
 *   slow per FLOP but cheap. Depthwise convs run at ~14 GFLOPS (stride 1,
 *   padded planes); strided ones with >= 16 channels run channels-innermost.
 *   2x2 stride-2 pooling has its own vectorised loop.
 * - Batch norm statistics are per shard (batch / shards samples, "ghost
 *   batch norm"), so keep batch >= 64 with the default 2 shards.
 * - Training is deterministic for a given seed and nn_train_opts_t.shards,
 *   whatever the number of threads.
 * - The augmentation callback runs in the trainer's thread, on each shard's
 *   copy of the batch; it must not keep pointers into x.
 */
#ifndef SHOP_NN_NN_H
#define SHOP_NN_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits enforced by the builders and thus by the model loader. */
#define NN_MAX_LAYERS    1024
#define NN_MAX_DIM       4096      /* any of C, H, W, kernel, units */
#define NN_MAX_SAMPLE    (1 << 24) /* floats in one layer's output for one sample */
#define NN_MAX_PARAMS    (1 << 26) /* trainable floats in a net */
#define NN_MAX_META      256       /* key/value pairs */
#define NN_MAX_KEY       128       /* bytes in a metadata key */
#define NN_MAX_VALUE     65536     /* bytes in a metadata value */
#define NN_MAX_LABELS    4096
#define NN_MAX_NAME      64        /* bytes in a layer or label name */

/* Per-sample tensor shape. */
typedef struct {
    int c, h, w;
} nn_shape_t;

typedef struct _nn_net_t nn_net_t;

/* ---------------------------------------------------------------- building */

/* Returns an empty net whose weights will be initialised (He / Glorot) from a
 * generator seeded with seed, or NULL on failure. Free with nn_destroy(). */
nn_net_t *nn_new(uint64_t seed);
/* Frees the net and sets *net_p to NULL; safe on NULL and twice. */
void nn_destroy(nn_net_t **net_p);

/* Message of the last failed call on net (never NULL, "" if none). */
const char *nn_error(const nn_net_t *net);

/* The input layer; exactly one per net, first. */
int nn_input(nn_net_t *net, nn_shape_t shape);
/* 2-D convolution, out_c filters of kh x kw, stride sh/sw, zero padding
 * ph/pw on each side; bias optional (pointless before a batchnorm). */
int nn_conv2d(nn_net_t *net, int in, int out_c, int kh, int kw, int sh, int sw,
              int ph, int pw, bool bias);
/* Depthwise convolution: one kh x kw filter per channel (C stays). */
int nn_depthwise(nn_net_t *net, int in, int kh, int kw, int sh, int sw, int ph, int pw,
                 bool bias);
/* Pointwise (1x1, stride 1) convolution to out_c channels. */
int nn_pointwise(nn_net_t *net, int in, int out_c, bool bias);
/* Batch normalisation over N, H, W per channel, learned scale and shift;
 * running statistics (momentum 0.9) serve at inference. */
int nn_batchnorm(nn_net_t *net, int in);
int nn_relu(nn_net_t *net, int in);
/* Max / average pooling of k x k windows with the given stride, no padding
 * (windows must fit: (H - k) / stride + 1 outputs). */
int nn_maxpool(nn_net_t *net, int in, int k, int stride);
int nn_avgpool(nn_net_t *net, int in, int k, int stride);
/* Average over H x W: C x H x W -> C x 1 x 1. */
int nn_global_avgpool(nn_net_t *net, int in);
/* Fully connected to units outputs (input flattened), with bias. */
int nn_dense(nn_net_t *net, int in, int units);
/* Inverted dropout of the given rate in [0, 1) while training; identity at inference. */
int nn_dropout(nn_net_t *net, int in, float rate);
/* Element-wise sum of two layers of the same shape (residual connection). */
int nn_add(nn_net_t *net, int a, int b);
/* Softmax with cross-entropy loss, the training target. Its output (what
 * nn_forward returns) is the class probabilities; the input holds the logits.
 * The target of an example is its class label (nn_data_t.y) or a probability
 * distribution over the classes (nn_data_t.t, "soft targets"). */
int nn_softmax_xent(nn_net_t *net, int in);
/* Gradient reversal (Ganin & Lempitsky 2015): the identity forward (and at
 * inference); backward it passes -lambda x the gradient it receives. Put
 * between a shared embedding and a second head (nn_train_opts_t.aux) that
 * tells apart two domains, the layers below it learn to make that head fail:
 * the embedding loses what tells the domains apart. lambda >= 0. */
int nn_grad_reverse(nn_net_t *net, int in, float lambda);
/* Sets the lambda of gradient reversal layer `layer` (between training steps,
 * e.g. from nn_train_opts_t.step for a schedule). Returns 0 or -1. */
int nn_grad_reverse_set(nn_net_t *net, int layer, float lambda);
/* Removes the layers from n_layers on (the last ones added) with their
 * parameters and statistics, e.g. a training-only second head before
 * nn_save; the output layer must stay. Returns 0 or -1. */
int nn_truncate(nn_net_t *net, int n_layers);

/* Names a layer (<= NN_MAX_NAME - 1 bytes, saved in the model file) so users
 * of a loaded model find it, e.g. "embedding". Returns 0 or -1. */
int nn_layer_set_name(nn_net_t *net, int layer, const char *name);
/* Id of the layer with that name, or -1. */
int nn_find_layer(const nn_net_t *net, const char *name);
/* Makes layer the one nn_forward() writes out (default: the last added). */
int nn_set_output(nn_net_t *net, int layer);

int nn_num_layers(const nn_net_t *net);
/* Per-sample output shape of a layer ({0,0,0} for a bad id). */
nn_shape_t nn_layer_shape(const nn_net_t *net, int layer);
/* Type of a layer as a short string ("conv2d", "batchnorm", ...), or "?" */
const char *nn_layer_type(const nn_net_t *net, int layer);
nn_shape_t nn_input_shape(const nn_net_t *net);
/* Floats per sample in the output layer (e.g. the number of classes). */
int nn_output_size(const nn_net_t *net);
/* Trainable parameters. */
size_t nn_num_params(const nn_net_t *net);
/* Floating-point operations (2 per multiply-add) of the conv, depthwise and
 * dense layers in one forward pass of one sample (for GFLOPS figures). */
double nn_flops_per_sample(const nn_net_t *net);
/* Writes a one-line-per-layer summary to stderr. */
void nn_print_summary(const nn_net_t *net);

/* Worker threads for nn_train and batched nn_forward (default: online CPUs,
 * at most 2 unless asked). Returns 0 or -1. */
int nn_set_threads(nn_net_t *net, int threads);

/* ---------------------------------------------------------------- metadata */

/* Key/value strings saved with the model: "arch", input spec ("sample_rate",
 * "n_mels", "hop", "image_size", "mean", "std"...), provenance. Copies both;
 * replaces an existing key. Returns 0 or -1 (limits above). */
int nn_meta_set(nn_net_t *net, const char *key, const char *value);
/* Value for key (owned by net, valid until changed), or NULL. */
const char *nn_meta_get(const nn_net_t *net, const char *key);
/* Removes key and its value (a model whose value no longer holds); 0 also
 * when net has no such key, -1 for a NULL net or key. */
int nn_meta_unset(nn_net_t *net, const char *key);
int nn_meta_count(const nn_net_t *net);
/* i-th pair (0 <= i < count); returns 0 or -1. Pointers owned by net. */
int nn_meta_at(const nn_net_t *net, int i, const char **key, const char **value);

/* Class labels, one per output; copies them. Returns 0 or -1. */
int nn_set_labels(nn_net_t *net, const char *const *labels, int n);
int nn_num_labels(const nn_net_t *net);
/* Label i (owned by net), or NULL. */
const char *nn_label(const nn_net_t *net, int i);

/* ---------------------------------------------------------------- training */

/* In-place augmentation of a copy of one mini-batch (n samples of shape, as
 * laid out in nn_data_t.x); rng is the trainer's state for the caller to use
 * with nn_rand_u32() / nn_rand_float() so runs stay reproducible. */
typedef void (*nn_augment_fn)(float *x, int n, const nn_shape_t *shape, uint64_t *rng,
                              void *user);

/* A data set: caller-owned arrays, never modified nor freed by nn (the
 * caller may rewrite y or t between epochs, e.g. from the progress hook).
 * Targets are either hard labels y or soft targets t; t wins when both are
 * set. Soft targets (e.g. a normalised purchase history, as in Mult-DAE,
 * Liang et al. 2018) train the softmax towards the distribution itself:
 * loss = -sum_c t'[c] log p[c] with t' = (1 - s) t + s / classes under label
 * smoothing s; a one-hot row trains exactly (bit for bit) as its label. */
typedef struct {
    const float *x;          /* n x shape.c x shape.h x shape.w */
    const int32_t *y;        /* n class labels in [0, classes), or NULL with t */
    int n;
    nn_shape_t shape;        /* must equal the net's input shape */
    nn_augment_fn augment;   /* optional, applied to training batches only */
    void *augment_user;
    const float *t;          /* or NULL; n x classes soft targets, each row in [0, 1]
                              * summing to 1 (+-1e-3, checked by nn_train) */
    const uint8_t *subset;   /* or NULL; n ids in [0, n_subsets): partial label sets.
                              * A sample trains (and is scored by nn_evaluate) with the
                              * softmax over its subset's classes alone, renormalised;
                              * the other classes get no gradient from it (e.g. data of
                              * a source that can only hold some of the classes). Its
                              * label, or its soft target's mass, must lie in the subset */
    const uint8_t *subsets;  /* n_subsets x classes: 1 where the class is in the subset */
    int n_subsets;
} nn_data_t;

typedef enum { NN_SGD = 0, NN_ADAMW = 1 } nn_optimizer_t;
typedef enum { NN_SCHED_CONSTANT = 0, NN_SCHED_COSINE = 1, NN_SCHED_ONECYCLE = 2 } nn_schedule_t;

/* One epoch's figures. */
typedef struct {
    int epoch;               /* 1-based */
    float lr;                /* learning rate at the end of the epoch */
    float loss, acc;         /* training, running mean over the epoch; with soft
                              * targets acc is the mean target mass at the top-1 class */
    float val_loss, val_acc; /* NAN without validation data */
    float aux_loss;          /* the second head's loss (opts.aux), mean per training
                              * sample over the epoch; NAN without one */
    double seconds;          /* wall time of the epoch (training + validation) */
    double images_per_s;     /* training throughput */
} nn_epoch_t;

typedef void (*nn_progress_fn)(const nn_epoch_t *epoch, void *user);
/* Called before training step `step` (0-based) of `total`, in the trainer's
 * thread (e.g. to set a gradient reversal's lambda). */
typedef void (*nn_step_fn)(long step, long total, void *user);

/* A caller's loss, for outputs softmax_xent cannot score (e.g. CTC over a
 * sequence of per-frame logits). out holds n samples' output-layer values,
 * `size` floats each (the layer's C x H x W, raw: no softmax applied); idx
 * their indices in the data set (the training set, or opts.val when val is
 * true). Writes scale * d(loss of sample i) / d(out of sample i) into grad
 * (n x size floats; NULL for validation) and returns the summed loss of the
 * n samples. Called from the trainer's worker threads at the same time, so
 * it must not write shared state. */
typedef double (*nn_loss_fn)(const float *out, int n, int size, const int *idx, bool val,
                             float scale, float *grad, void *user);

typedef struct {
    int epochs;              /* default 10 */
    int batch;               /* default 128 */
    nn_optimizer_t optimizer;/* default NN_SGD */
    float lr;                /* peak learning rate, default 0.05 (SGD) */
    float momentum;          /* SGD momentum (Nesterov), default 0.9 */
    float beta1, beta2, eps; /* AdamW, defaults 0.9, 0.999, 1e-8 */
    float weight_decay;      /* decoupled for AdamW, L2 for SGD; not on BN / biases; default 5e-4 */
    nn_schedule_t schedule;  /* default NN_SCHED_COSINE */
    float warmup;            /* fraction of steps warming up (one-cycle: rise), default 0.05 */
    float label_smoothing;   /* default 0 */
    uint64_t seed;           /* shuffling, dropout, augmentation; default 1 */
    float val_split;         /* fraction of train held out when val is NULL; default 0 */
    const nn_data_t *val;    /* explicit validation set, or NULL */
    int patience;            /* stop after this many epochs without a better val acc; 0 = never */
    bool restore_best;       /* keep the weights of the best val epoch; default true */
    int threads;             /* 0 = nn_set_threads() value */
    int shards;              /* batch splits (BN groups), fixes results across thread counts; 0 = 2 */
    int max_steps_per_epoch; /* 0 = whole epoch; benchmarks time a fraction */
    int freeze;              /* layers 0..freeze-1 keep their parameters, and their batch
                              * norms normalise with (and keep) their running statistics,
                              * as in inference; no gradient is computed below layer
                              * `freeze` (fine-tuning a head on new data); default 0 */
    int verbose;             /* 0 quiet, 1 a line per epoch on stderr, 2 also every ~10 s */
    nn_progress_fn progress; /* optional, called after each epoch */
    void *progress_user;
    nn_loss_fn loss;         /* NULL: the net ends in nn_softmax_xent and the data
                              * have labels or targets; else the caller's loss of
                              * the net's output layer (any layer but a softmax_xent),
                              * the data need neither, val_acc is NAN and the best
                              * epoch is the one of the lowest validation loss */
    void *loss_user;
    int aux;                 /* > 0: a second head: this layer's output (not the output
                              * layer, nor a softmax_xent; built after the output, e.g.
                              * behind a gradient reversal) trains with aux_loss, its
                              * gradient added to the output's in the shared layers */
    nn_loss_fn aux_loss;     /* that head's loss (val is always false: validation and
                              * the best epoch are the output's alone) */
    void *aux_user;
    nn_step_fn step;         /* optional, called before each training step */
    void *step_user;
} nn_train_opts_t;

/* Fills opts with the defaults above. */
void nn_train_opts_default(nn_train_opts_t *opts);

/* Per-epoch history; free with nn_history_free(). */
typedef struct {
    int n;                   /* epochs run */
    nn_epoch_t *epochs;
    int best_epoch;          /* 1-based epoch of the best val acc (0 if no validation) */
    bool stopped_early;
} nn_history_t;

/* Trains net on train (labels must be < nn_output_size, or soft target rows
 * of nn_output_size floats; the net must end in nn_softmax_xent), or on the
 * caller's loss (opts.loss). hist may be
 * NULL; otherwise the caller frees it with nn_history_free(). Returns 0, or
 * -1 with a message in err. */
int nn_train(nn_net_t *net, const nn_data_t *train, const nn_train_opts_t *opts,
             nn_history_t *hist, char *err, size_t errlen);
void nn_history_free(nn_history_t *hist);

/* Accuracy of net on data (inference mode), mean loss into *loss if non-NULL.
 * Returns accuracy in [0, 1] (soft targets: the mean target mass at the top-1
 * class, which is the accuracy for one-hot rows), or -1 on error. */
double nn_evaluate(nn_net_t *net, const nn_data_t *data, double *loss);

/* Softmax cross-entropy against soft targets for a caller's own training
 * loop (the same formula nn_train uses): logits and targets are n rows of k
 * floats (each target row a distribution, not checked here); smoothing in
 * [0, 1) mixes each row with the uniform 1/k. Writes the softmax
 * probabilities into probs and d(mean loss)/d(logits) (already divided by n)
 * into grad; either may be NULL (caller's buffers of n x k floats, distinct
 * from logits and targets). Returns the mean loss over the n rows, or NAN on
 * bad arguments (NULL logits/targets, n or k < 1, smoothing out of range). */
double nn_softmax_xent_soft(const float *logits, const float *targets, int n, int k,
                            float smoothing, float *probs, float *grad);

/* Deterministic generator (splitmix64) for augmentation. */
uint32_t nn_rand_u32(uint64_t *state);
/* Uniform in [0, 1). */
float nn_rand_float(uint64_t *state);

/* ---------------------------------------------------------------- inference */

/* Runs batch samples x (batch x input shape) in inference mode (BN folded,
 * dropout off) and copies the output layer into out (batch x nn_output_size
 * floats). The workspace grows to the largest batch seen and is then reused:
 * no allocation per call after warm-up. Returns 0 or -1 (nn_error). */
int nn_forward(nn_net_t *net, const float *x, int batch, float *out);
/* Output of any layer from the last nn_forward (batch x its shape), owned by
 * net and valid until the next call on net; NULL for a bad id or no forward
 * yet. shape may be NULL. Use the layer named "embedding" for visual search.
 * Inference computes some layers in place: a conv followed by a folded
 * batchnorm, an in-place ReLU or a residual add done in its epilogue holds
 * their result, so read the last layer of such a chain (the BN, ReLU, add). */
const float *nn_layer_output(nn_net_t *net, int layer, nn_shape_t *shape);
/* Index of the largest of n floats (top-1 class). */
int nn_argmax(const float *v, int n);

/* ---------------------------------------------------------------- model files */

/* Writes net (architecture, names, weights, BN statistics, labels, metadata)
 * to path atomically in the format of docs/model-format.md. Returns 0, or -1
 * with a message in err. */
int nn_save(const nn_net_t *net, const char *path, char *err, size_t errlen);
/* Reads a model file; every count, length, index and shape is checked, so a
 * truncated, corrupted or hostile file gives NULL and a message in err (never
 * a crash). Caller frees the net with nn_destroy(). */
nn_net_t *nn_load(const char *path, char *err, size_t errlen);
/* Same from memory (len bytes at data, not kept). */
nn_net_t *nn_load_mem(const void *data, size_t len, char *err, size_t errlen);
/* Serialises into a new buffer (caller frees) of *len bytes; NULL on error. */
void *nn_save_mem(const nn_net_t *net, size_t *len, char *err, size_t errlen);

/* ---------------------------------------------------------------- fusion */

/* A product of experts: one net whose output is
 *     softmax(sum_i w[i] * z_i(scale[i] * x + shift[i]))
 * where z_i is member i's logits (the input of its softmax), i.e. the
 * members' posteriors' weighted geometric mean, renormalised. members are n
 * (1..16) nets with the same input shape and the same labels (or the same
 * output size without labels), each ending in a dense layer read only by a
 * softmax_xent output (or in a sum of such dense layers: a fused net). Their layers are copied with their parameters and
 * batch-norm statistics into one branch each (names prefixed "e<i>."),
 * reading the shared input through a batchnorm in inference form (gamma
 * scale[i], beta shift[i], mean 0, variance 1 - eps: exactly scale * x +
 * shift, before any padded layer) unless scale[i] is 1 and shift[i] 0; w[i]
 * (> 0) is folded into the weights and bias of member i's logits' dense layers, and add layers
 * (the last one named "logits") sum the branches into one softmax_xent. The
 * result is an inference net (training it would turn the input affines into
 * batch normalisations); it has the members' labels and no metadata.
 * scale and shift may be NULL (1 and 0). The members are not changed.
 * Returns the new net (caller frees with nn_destroy), or NULL with a message
 * in err naming the member at fault. */
nn_net_t *nn_fuse_experts(nn_net_t *const *members, int n, const float *w, const float *scale,
                          const float *shift, char *err, size_t errlen);

/* A copy of m (layers, names, parameters, batch-norm statistics, metadata,
 * labels) with k more outputs: m must end in a softmax_xent reading a dense
 * layer that nothing else reads, of U units; the copy's has U + k, unit U + j
 * starting as a copy of unit from[j] (0 <= from[j] < U: its weights and
 * bias). shift: U + k numbers added to the copy's biases (NULL: none). A
 * classifier's head grown for new classes, e.g. k classes split off class c:
 * from[j] = c, and c's bias and its copies' lowered by log(k + 1), so that
 * the posteriors of c and its copies sum to c's in m. labels: the k new
 * labels, required when m has labels. Returns the new net (caller frees),
 * or NULL with a message in err. */
nn_net_t *nn_add_outputs(const nn_net_t *m, int k, const int *from, const float *shift,
                         const char *const *labels, char *err, size_t errlen);

/* ---------------------------------------------------------------- BLAS */

/* Call FIRST in main() of every program that uses nn (before any BLAS work):
 * picks OpenBLAS's kernel by shopd's policy, SHOPD_BLAS_CORETYPE in the
 * environment (unset or "" = "auto"):
 *   auto  the fastest kernel this CPU and OS support (cpuid + xgetbv:
 *         Cooperlake with AVX-512 BF16, SkylakeX with AVX-512, Haswell with
 *         AVX2+FMA); an OPENBLAS_CORETYPE naming a weaker kernel (or one the
 *         CPU cannot run) is overridden, with one debug-level log line (a
 *         notice in shopd's log: nn_blas_ensure_fast_path_policy);
 *   env   OPENBLAS_CORETYPE as set is respected; when it is unset and OpenBLAS
 *         fell back to a generic kernel, as auto;
 *   NAME  an OpenBLAS kernel (Haswell, SkylakeX, ...), forced if this CPU can
 *         run it, else a log line and auto.
 * A different kernel means setting OPENBLAS_CORETYPE and re-executing the
 * program (the path /proc/self/exe links to, so it keeps its name in ps)
 * once with the same argv (OpenBLAS reads the variable only at
 * load time; an environment marker prevents loops). Also makes OpenBLAS
 * single-threaded. Returns only if no re-exec happened. */
void nn_blas_ensure_fast_path(char **argv);
/* Same with a policy from a config file ([nn] blas_coretype; NULL = auto);
 * SHOPD_BLAS_CORETYPE in the environment, when set, wins over it. For the
 * daemon: overriding OPENBLAS_CORETYPE is logged as a notice, once a start. */
void nn_blas_ensure_fast_path_policy(char **argv, const char *policy);
/* True if policy is a value the above accept without a warning: NULL, "",
 * "auto", "env" or a known kernel name (any case). For config checks. */
bool nn_blas_policy_valid(const char *policy);
/* Makes OpenBLAS single-threaded (nn threads itself); idempotent. */
void nn_blas_init(void);
/* OpenBLAS's kernel name, e.g. "SkylakeX" or "Prescott". */
const char *nn_blas_corename(void);

/* CPU features relevant to the kernel choice. */
typedef struct {
    bool avx2, fma;          /* cpuid */
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512bf16;
    bool os_avx;             /* xgetbv: OS saves YMM state */
    bool os_avx512;          /* xgetbv: OS saves ZMM / opmask state */
} nn_cpu_t;
/* Reads this CPU's features. */
void nn_cpu_detect(nn_cpu_t *cpu);
/* The decision of nn_blas_ensure_fast_path, pure for testing: given the
 * policy (as above, NULL = auto), the current OPENBLAS_CORETYPE (NULL if
 * unset), OpenBLAS's corename and the CPU, returns the kernel to set before
 * re-executing (a static string), or NULL to keep the current one. When the
 * choice overrides a setting, a one-line reason goes into note (caller's
 * buffer of notelen bytes, "" otherwise; note may be NULL). */
const char *nn_blas_choose_coretype(const char *policy, const char *env_coretype,
                                    const char *corename, const nn_cpu_t *cpu, char *note,
                                    size_t notelen);

/* ---------------------------------------------------------------- self-test */

/* Exercises every layer (numerical gradient check), training, save/load and
 * broken files. Returns 0 if all passed. */
int nn_test(bool verbose);

#ifdef __cplusplus
}
#endif
#endif
