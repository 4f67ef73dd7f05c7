/* nn/internal.h: the engine's private structures, shared by the files of nn/
 * (graph, layer ops, convolution algorithms, planner, executors, trainer,
 * model files, self-test). Not for use outside nn/, bench/ and tests/nn_*.
 *
 * Layout of nn/:
 *   graph.c     nets, layers and shapes (through the op table), options
 *   meta.c      metadata and class labels
 *   rand.c      random numbers
 *   ops.h       the op table: per layer kind shape, forward, backward, infer
 *   op_*.c      the layer kinds: op_conv.c, op_dwconv.c, op_bn.c, op_dense.c,
 *               op_softmax.c, op_pool.c (max, average, global average),
 *               op_eltwise.c (input, relu, dropout, add, gradient reversal)
 *   conv.h      the convolution algorithms op_conv.c chooses from:
 *               conv_gemm.c (im2col and 1x1), conv_shift.c (stride-1
 *               shifted GEMMs), conv_phase.c (stride-2 phases), wino.c
 *   vec.c       vectorised loops the ops share
 *   plan.c      inference planner: BN folding, fused ReLUs and adds
 *   infer.c     inference executor (nn_forward)
 *   exec.c      training executor: a shard's forward and backward passes
 *   train.c     the trainer (nn_train, nn_evaluate)
 *   model.c     model files;  blas.c  GEMM and the OpenBLAS kernel choice
 *   fuse.c      one net made of several trained ones (product of experts)
 *   selftest.c  gradient checks and the other parts of nn_test()
 * Inference needs none of exec.c, train.c and selftest.c (training and
 * tests only); the op table's backward passes live with their forward ones. */
#ifndef SHOP_NN_INTERNAL_H
#define SHOP_NN_INTERNAL_H

#include "nn/nn.h"
#include "nn/wino.h"

/* Hot element-wise loops: compiled for AVX-512, AVX2 and baseline, picked at
 * load time (ifunc), so the binary stays portable. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define NN_HOT __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
#else
#define NN_HOT
#endif

typedef enum {
    NN_L_INPUT = 0,
    NN_L_CONV,
    NN_L_DWCONV,
    NN_L_BN,
    NN_L_RELU,
    NN_L_MAXPOOL,
    NN_L_AVGPOOL,
    NN_L_GAP,
    NN_L_DENSE,
    NN_L_DROPOUT,
    NN_L_ADD,
    NN_L_SOFTMAX_XENT,
    NN_L_GRAD_REVERSE,
    NN_L_COUNT
} nn_ltype_t;

/* How a conv or depthwise layer is computed, chosen when it is built (or
 * when nn_set_opts changes the options) from its shape and the net's
 * options; other layers have one way (NN_ALGO_DIRECT). */
typedef enum {
    NN_ALGO_DIRECT = 0,     /* plain loops (strided depthwise, other layers) */
    NN_ALGO_GEMM,           /* conv: im2col + GEMM, or one GEMM per image for 1x1 stride 1 */
    NN_ALGO_SHIFT,          /* conv stride 1: shifted GEMMs on a padded input */
    NN_ALGO_PHASE,          /* conv stride 2: shifted GEMMs on the input's four phases */
    NN_ALGO_WINO,           /* conv 3x3 stride 1 pad 1: Winograd F(4x4, 3x3) */
    NN_ALGO_DW_PLANE,       /* depthwise stride 1: padded planes */
    NN_ALGO_DW_CL,          /* depthwise strided: channels innermost (forward) */
} nn_algo_t;

/* Engine options of one net: thresholds of the fast convolution paths and
 * the inference fusions. Tests lower or raise them to force or avoid a
 * path and compare; the defaults are what the product uses. */
typedef struct {
    int conv_shift_min_c;   /* stride-1 convs with at least this many input channels
                             * (and maps of >= 10x10) use shifted GEMMs; 16 */
    int conv_wino_min_c;    /* 3x3 stride-1 pad-1 convs with at least this many input
                             * and output channels use Winograd; 16 */
    int conv_poly_min_c;    /* stride-2 convs with at least this many input channels
                             * (kernel > 1x1, output >= 10x10) use the phases; 16 */
    int dw_cl_min_c;        /* strided depthwise convs with at least this many
                             * channels run channels innermost; 16 */
    bool fuse_relu;         /* inference applies an in-place ReLU inside the conv
                             * (after a folded BN) or add producing its input; true */
    bool fuse_add;          /* inference adds a residual in the epilogue of the conv
                             * computing one of its operands last; true */
} nn_opts_t;

/* Integer arguments of a layer, as saved in the model file. */
enum { NN_A_OUTC = 0, NN_A_KH, NN_A_KW, NN_A_SH, NN_A_SW, NN_A_PH, NN_A_PW, NN_A_BIAS, NN_NARGS };
/* pooling reuses NN_A_KH (k) and NN_A_SH (stride); dense NN_A_OUTC (units) */

typedef struct {
    nn_ltype_t type;
    int in[2];              /* input layer ids (-1 unused) */
    int args[NN_NARGS];     /* see the enum above */
    float rate;             /* dropout rate; gradient reversal: its lambda */
    nn_shape_t is, os;      /* input (of in[0]) and output shape per sample */
    size_t isz, osz;        /* floats per sample in and out */
    size_t w_off, n_w;      /* weights (BN: gamma) in net->params */
    size_t b_off, n_b;      /* bias (BN: beta) in net->params */
    size_t s_off, n_s;      /* BN running mean then var in net->state */
    int consumers;          /* layers reading this one */
    nn_algo_t algo;         /* conv and depthwise: how it is computed */
    int bn_slot;            /* index of this BN among BN layers, else -1 */
    char name[NN_MAX_NAME];
} nn_layer_t;

/* One shard of a batch: the views and scratch one worker thread uses. */
typedef struct {
    int b;                  /* samples in this shard */
    float **out;            /* per layer: b x osz activations */
    float **grad;           /* per layer: b x osz gradient of the loss (training) */
    int32_t **idx;          /* per max-pool layer: argmax of each output (training) */
    float **mask;           /* per dropout layer: 0 or 1/(1-rate) (training) */
    float **bnstat;         /* per BN layer: mean[C], invstd[C] of this shard */
    float *gparams;         /* gradient of the parameters (training) */
    bool *gset;             /* per layer: grad holds a value in this backward pass */
    float *col, *tmp;       /* im2col and GEMM scratch */
    size_t col_cap, tmp_cap;
    float *pad, *pad2, *wt; /* shifted-GEMM conv: padded input, its gradient, per-tap weights */
    size_t pad_cap, pad2_cap, wt_cap;
    const float *wt_pre;    /* inference: the conv's per-tap weights prepared at fold time
                             * (NULL: build them in wt), taps wt_tap floats apart */
    size_t wt_tap;
    const float *res;       /* inference: added to the conv's output in its epilogue
                             * (a fused residual add), NULL for none */
    float *wu;              /* Winograd conv: transformed weights (training) */
    size_t wu_cap;
    nn_wino_ws_t wino;      /* Winograd conv scratch */
    float *own;             /* one block holding this shard's training buffers */
    size_t own_cap;         /* samples the training buffers hold */
    uint64_t rng;           /* dropout */
    int relu_done;          /* training forward: a ReLU its BN already wrote, else -1 */
    int frozen;             /* training: layers below this id are frozen (nn_train_opts_t.freeze) */
    nn_net_t *net;          /* the net this shard belongs to (for worker threads) */
    const int32_t *labels;  /* training labels of the shard */
    const float *targets;   /* or soft targets, b x classes (wins over labels) */
    const uint8_t *subset;  /* or NULL: b subset ids of the shard's samples (nn_data_t) */
    const uint8_t *subsets; /* the subsets' class masks, n_subsets x classes */
    nn_loss_fn loss_fn;     /* or the caller's loss of the output layer (nn_train_opts_t.loss) */
    void *loss_user;
    const int *sample_idx;  /* its samples' indices in the training set (for loss_fn) */
    int aux;                /* a second head's output layer (nn_train_opts_t.aux), or -1 */
    nn_loss_fn aux_fn;      /* its loss, and its summed value after forward */
    void *aux_user;
    double aux_loss;
    float smoothing;        /* label smoothing */
    float grad_scale;       /* 1 / whole batch size */
    double loss;            /* summed loss of the shard after backward */
    double correct;         /* top-1 hits of the shard (soft targets: their mass at the top-1) */
} nn_shard_t;

struct _nn_net_t {
    nn_layer_t *layers;     /* n_layers built */
    int n_layers, cap_layers;
    int input, output;      /* ids of the input and output layers */
    int n_bn;               /* batchnorm layers */
    float *params;          /* all trainable parameters */
    size_t n_params, cap_params;
    float *state;           /* BN running statistics */
    size_t n_state, cap_state;
    uint64_t init_rng;      /* weight initialisation stream */
    char err[256];          /* last error message */
    char **meta_k, **meta_v;/* metadata pairs */
    int n_meta;
    char **labels;
    int n_labels;
    int threads;            /* workers for training and batched inference */
    nn_opts_t opts;         /* engine options (nn_set_opts) */
    /* inference */
    float *iparams;         /* params with BN folded into the producer */
    bool fold_valid;        /* iparams matches params/state */
    bool *folded;           /* per layer: BN folded away / ReLU in place / add done by a conv */
    float **iwt;            /* per shifted-GEMM conv: folded weights per tap; per
                             * Winograd conv: folded weights transformed; else NULL */
    bool *relu_fused;       /* per layer: conv or add applying the in-place ReLU after it
                             * (and on that ReLU: skipped) */
    int *ialias;            /* per folded layer: the layer whose buffer it shares */
    int *ires;              /* per conv: layer whose output its epilogue adds (a residual
                             * add fused into it, see nn/plan.c), else -1 */
    float **ibuf;           /* per layer: owned inference buffer or NULL when aliased */
    float **iout;           /* per layer: where its output lives */
    int icap;               /* samples the inference buffers hold */
    int ibatch;             /* batch of the last nn_forward, 0 before */
    nn_shard_t *ishards;    /* per thread views and scratch */
    int n_ishards;
    double *prof;           /* per layer seconds spent in inference, when profiling (bench) */
    size_t param_budget;    /* loader: parameters the file can still hold (0 = no limit) */
    bool loading;           /* loader: skip the random initialisation */
};

/* Sets net->err and returns -1. */
int nn_fail(nn_net_t *net, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes into err (may be NULL) and returns -1. */
int nn_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Builds a layer of any type from saved arguments (the loader's entry). */
int nn_add_layer(nn_net_t *net, nn_ltype_t type, int in0, int in1, const int *args, float rate);
const char *nn_ltype_name(int type);

/* The defaults of nn_opts_t (written above). */
void nn_opts_default(nn_opts_t *opts);
/* Sets net's engine options and chooses every conv's algorithm again under
 * them (a loaded model takes the paths its builder's options gave); the
 * inference plan is rebuilt at the next nn_forward. */
void nn_set_opts(nn_net_t *net, const nn_opts_t *opts);

/* Shard life cycle for training: buffers for cap samples. */
int nn_shard_reserve(nn_net_t *net, nn_shard_t *s, int cap);
void nn_shard_free(const nn_net_t *net, nn_shard_t *s);
/* Training forward of s->b samples (copied into s->out[input] beforehand),
 * then backward from the loss into s->gparams (zeroed here). */
void nn_shard_forward_train(nn_net_t *net, nn_shard_t *s);
void nn_shard_backward(nn_net_t *net, nn_shard_t *s);
/* Marks the folded inference parameters stale (after any weight change). */
void nn_invalidate(nn_net_t *net);
/* Frees the inference plan and buffers (after a change of structure or
 * options); the next nn_forward plans again. */
void nn_infer_free(nn_net_t *net);

/* Standard normal number (Box-Muller) for init, trainer and tests. */
float nn_rand_normal(uint64_t *state);

/* Numerical gradient check of one layer type inside a small net: returns the
 * largest relative error found (params and input), or a negative value on
 * setup failure. */
double nn_gradcheck(nn_ltype_t type, bool verbose);
/* The same with the net built under opts (e.g. a conv path forced on). */
double nn_gradcheck_opts(nn_ltype_t type, const nn_opts_t *opts, bool verbose);
/* The same for the softmax cross-entropy against soft targets (smoothing 0.1). */
double nn_gradcheck_soft(bool verbose);
/* The same for a net of two heads, the second (a caller's loss on two
 * domain logits, nn_train_opts_t.aux) behind a gradient reversal of this
 * lambda: the shared layers' gradient must be the class loss's minus lambda
 * times the domain loss's. */
double nn_gradcheck_two_heads(float lambda, bool verbose);

#endif
