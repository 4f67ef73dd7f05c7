/* bench/nn_bench.c: measures the nn engine on the reference Fashion-MNIST CNN
 * (the one bench/nn_bench.py builds in PyTorch too): sgemm peak, conv-layer
 * GFLOPS, batch-1 latency, batch-256 throughput, training time per epoch.
 * Prints "key value" lines for bench/nn_bench.py, which runs it interleaved
 * with PyTorch and prints the side-by-side table.
 *
 * Also times the product nets (model files: the speech DS-CNN, the vision
 * net) and prints their layers so the script builds them in PyTorch too.
 *
 *   nn-bench gemm | conv [v] | train IMAGES LABELS [steps]
 *   nn-bench latency|throughput|summary|layers|prof [ref|MODEL.nn] [BATCH] [THREADS] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "nn/blas.h"
#include "nn/internal.h"
#include "nn/nn.h"

/* Fashion-MNIST pixel statistics (training set) */
#define FM_MEAN 0.2860f
#define FM_STD 0.3530f

static int
s_block(nn_net_t *net, int x, int c, int stride)
{
    int in_c = nn_layer_shape(net, x).c;
    int y = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, c, 3, 3, stride, stride, 1, 1, false)));
    y = nn_batchnorm(net, nn_conv2d(net, y, c, 3, 3, 1, 1, 1, 1, false));
    int skip = x;
    if (stride != 1 || in_c != c)
        skip = nn_batchnorm(net, nn_conv2d(net, x, c, 1, 1, stride, stride, 0, 0, false));
    return nn_relu(net, nn_add(net, y, skip));
}

/* Engine options of the nets this program builds or loads (the defaults
 * unless NN_BENCH_WINO_MIN_C, NN_BENCH_OLD or a comparison change them). */
static nn_opts_t s_opts;

/* The reference net: stem 32 @28x28, residual blocks 32 @28, 64 @14, 128 @7,
 * global average pool (the embedding), dense 10. ~0.3 M parameters. */
static nn_net_t *
s_reference_net(void)
{
    nn_net_t *net = nn_new(1);
    nn_set_opts(net, &s_opts);
    int x = nn_input(net, (nn_shape_t) { 1, 28, 28 });
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, 32, 3, 3, 1, 1, 1, 1, false)));
    x = s_block(net, x, 32, 1);
    x = s_block(net, x, 64, 2);
    x = s_block(net, x, 128, 2);
    x = nn_global_avgpool(net, x);
    nn_layer_set_name(net, x, "embedding");
    x = nn_softmax_xent(net, nn_dense(net, x, 10));
    if (x < 0) {
        fprintf(stderr, "nn-bench: %s\n", nn_error(net));
        nn_destroy(&net);
    }
    return net;
}

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_median(double *v, int n)
{
    qsort(v, (size_t) n, sizeof *v, s_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void
s_fill(float *x, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = nn_rand_normal(&seed);
}

/* CPU time of this thread: single-thread rates on a shared machine. */
static double
s_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best single-thread sgemm rate over square sizes (CPU time): the peak. */
static double
s_gemm_peak(void)
{
    double best = 0;
    for (int n = 512; n <= 1024; n *= 2) {
        float *a = xmallocarray((size_t) n * n, sizeof(float));
        float *b = xmallocarray((size_t) n * n, sizeof(float));
        float *c = xmallocarray((size_t) n * n, sizeof(float));
        s_fill(a, (size_t) n * n, 1);
        s_fill(b, (size_t) n * n, 2);
        for (int r = 0; r < 5; r++) {
            double t = s_cpu_s();
            nn_gemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            t = s_cpu_s() - t;
            double g = 2.0 * n * n * (double) n / t / 1e9;
            best = g > best ? g : best;
        }
        free(a);
        free(b);
        free(c);
    }
    return best;
}

/* The conv layers inside the reference net, single thread, batch 64:
 * their forward FLOPs over the CPU time spent in them (median of runs). */
static double
s_conv_gflops(bool verbose)
{
    enum { B = 64, REPS = 7 };
    nn_net_t *net = s_reference_net();
    if (!net)
        return -1;
    nn_set_threads(net, 1);
    float *in = xmallocarray((size_t) B * 784, sizeof(float));
    s_fill(in, (size_t) B * 784, 3);
    nn_forward(net, in, B, NULL);   /* warm-up: workspace, folding */
    int n = net->n_layers;
    double *per = xcalloc((size_t) n * REPS, sizeof(double));
    double tot[REPS];
    for (int r = 0; r < REPS; r++) {
        net->prof = xcalloc((size_t) n, sizeof(double));
        nn_forward(net, in, B, NULL);
        tot[r] = 0;
        for (int l = 0; l < n; l++) {
            per[l * REPS + r] = net->prof[l];
            if (net->layers[l].type == NN_L_CONV)
                tot[r] += net->prof[l];
        }
        free(net->prof);
        net->prof = NULL;
    }
    double flops = 0;
    for (int l = 0; l < n; l++) {
        const nn_layer_t *L = &net->layers[l];
        if (L->type != NN_L_CONV)
            continue;
        double f = 2.0 * (double) L->n_w * L->os.h * L->os.w * B;
        flops += f;
        if (verbose)
            printf("conv_layer %d %dx%dx%d->%dx%dx%d k%d s%d %.1f GFLOPS\n", l, L->is.c, L->is.h,
                   L->is.w, L->os.c, L->os.h, L->os.w, L->args[NN_A_KH], L->args[NN_A_SH],
                   f / s_median(per + l * REPS, REPS) / 1e9);
    }
    free(per);
    free(in);
    nn_destroy(&net);
    return flops / s_median(tot, REPS) / 1e9;
}

/* CPU time of the whole process (every thread of a batch split). */
static double
s_proc_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Median wall time and median process CPU time of nn_forward on batch
 * samples, in ms per call. */
static void
s_time_forward(nn_net_t *net, int batch, int reps, double *wall_ms, double *cpu_ms)
{
    size_t isz = (size_t) nn_input_shape(net).c * nn_input_shape(net).h * nn_input_shape(net).w;
    float *x = xmallocarray((size_t) batch * isz, sizeof(float));
    float *out = xmallocarray((size_t) batch * (size_t) nn_output_size(net), sizeof(float));
    s_fill(x, (size_t) batch * isz, 4);
    double *t = xmallocarray((size_t) reps, sizeof(double));
    double *c = xmallocarray((size_t) reps, sizeof(double));
    for (int r = 0; r < (batch > 1 ? 2 : 20); r++)
        nn_forward(net, x, batch, out);
    for (int r = 0; r < reps; r++) {
        double c0 = s_proc_cpu_s(), t0 = shop_now_s();
        nn_forward(net, x, batch, out);
        t[r] = shop_now_s() - t0;
        c[r] = s_proc_cpu_s() - c0;
    }
    *wall_ms = s_median(t, reps) * 1e3;
    *cpu_ms = s_median(c, reps) * 1e3;
    free(t);
    free(c);
    free(x);
    free(out);
}

/* One k x k conv of stride st and padding p, C -> K at H x W, with BN and
 * ReLU; the fast path (Winograd at stride 1, the phases at stride 2) or the
 * direct one (shifted GEMMs or im2col) as asked. */
static nn_net_t *
s_conv_net(int C, int K, int H, int W, int k, int st, int p, bool fast)
{
    nn_opts_t o = s_opts;
    o.conv_wino_min_c = fast ? 1 : 1 << 30;
    o.conv_poly_min_c = fast ? 1 : 1 << 30;
    nn_net_t *net = nn_new(1);
    nn_set_opts(net, &o);
    int x = nn_input(net, (nn_shape_t) { C, H, W });
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, K, k, k, st, st, p, p, false)));
    x = nn_softmax_xent(net, nn_dense(net, nn_global_avgpool(net, x), 2));
    if (x < 0)
        nn_destroy(&net);
    else
        nn_set_threads(net, 1);
    return net;
}

/* Thread CPU seconds of one training step (forward and backward) of shard s. */
static double
s_step_cpu(nn_net_t *net, nn_shard_t *s)
{
    double t = s_cpu_s();
    nn_shard_forward_train(net, s);
    nn_shard_backward(net, s);
    return s_cpu_s() - t;
}

/* The fast path (Winograd, stride-2 phases) against the direct one on one
 * conv layer, one thread, CPU time per call interleaved (same machine state
 * for both): inference at batch b and a training step (forward + backward)
 * at batch b. */
static int
s_convcmp(int C, int K, int H, int W, int k, int st, int p, int b, int reps)
{
    nn_net_t *net[2] = { s_conv_net(C, K, H, W, k, st, p, false),
                         s_conv_net(C, K, H, W, k, st, p, true) };
    if (!net[0] || !net[1])
        return -1;
    size_t isz = (size_t) C * H * W;
    float *x = xmallocarray((size_t) b * isz, sizeof(float));
    s_fill(x, (size_t) b * isz, 5);
    nn_shard_t sh[2];
    memset(sh, 0, sizeof sh);
    int32_t *labels = xcalloc((size_t) b, sizeof(int32_t));
    for (int i = 0; i < 2; i++) {
        nn_forward(net[i], x, b, NULL);
        if (nn_shard_reserve(net[i], &sh[i], b) < 0)
            return -1;
        sh[i].net = net[i];
        sh[i].b = b;
        sh[i].labels = labels;
        sh[i].grad_scale = 1.0f / (float) b;
        memcpy(sh[i].out[net[i]->input], x, (size_t) b * isz * sizeof(float));
        s_step_cpu(net[i], &sh[i]);
    }
    double *inf[2], *trn[2], *ri = xmallocarray((size_t) reps, sizeof(double)),
                              *rt = xmallocarray((size_t) reps, sizeof(double));
    for (int i = 0; i < 2; i++) {
        inf[i] = xmallocarray((size_t) reps, sizeof(double));
        trn[i] = xmallocarray((size_t) reps, sizeof(double));
    }
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < 2; i++) {
            double t = s_cpu_s();
            nn_forward(net[i], x, b, NULL);
            inf[i][r] = s_cpu_s() - t;
            trn[i][r] = s_step_cpu(net[i], &sh[i]);
        }
        ri[r] = inf[0][r] / inf[1][r];
        rt[r] = trn[0][r] / trn[1][r];
    }
    const nn_layer_t *cl = &net[1]->layers[1];
    double mf = 2.0 * (double) cl->n_w * cl->os.h * cl->os.w * b / 1e6;
    double di = s_median(inf[0], reps), wi = s_median(inf[1], reps);
    printf("convcmp %dx%d@%dx%d k%d s%d p%d b%d: inference direct %.1f us %s %.1f us (%.0f / %.0f "
           "GFLOPS direct-equivalent) speedup %.2f | train step direct %.1f us fast %.1f us "
           "speedup %.2f\n",
           C, K, H, W, k, st, p, b, di * 1e6, cl->algo == NN_ALGO_WINO ? "wino" : cl->algo == NN_ALGO_PHASE ? "phases" : "same", wi * 1e6, mf / di / 1e3, mf / wi / 1e3, s_median(ri, reps),
           s_median(trn[0], reps) * 1e6, s_median(trn[1], reps) * 1e6, s_median(rt, reps));
    for (int i = 0; i < 2; i++) {
        free(inf[i]);
        free(trn[i]);
        nn_shard_free(net[i], &sh[i]);
        nn_destroy(&net[i]);
    }
    free(ri);
    free(rt);
    free(labels);
    free(x);
    return 0;
}

/* The stride-2 phase path and the residual adds fused into convs off (old)
 * or on, for interleaved comparisons in one process. */
static void
s_set_old(bool old)
{
    s_opts.conv_poly_min_c = old ? 1 << 30 : 16;
    s_opts.fuse_add = !old;
}

/* The reference net with the phases and fused adds off and on, process CPU
 * time per nn_forward call of batch b on T threads, interleaved call by call. */
static int
s_refcmp(int b, int T, int reps)
{
    nn_net_t *net[2];
    for (int i = 0; i < 2; i++) {
        s_set_old(i == 0);
        net[i] = s_reference_net();
        if (!net[i])
            return -1;
        nn_set_threads(net[i], T);
    }
    float *x = xmallocarray((size_t) b * 784, sizeof(float));
    s_fill(x, (size_t) b * 784, 6);
    double *c[2] = { xmallocarray((size_t) reps, sizeof(double)),
                     xmallocarray((size_t) reps, sizeof(double)) };
    double *ratio = xmallocarray((size_t) reps, sizeof(double));
    for (int r = -2; r < reps; r++)
        for (int i = 0; i < 2; i++) {
            double t = s_proc_cpu_s();
            nn_forward(net[i], x, b, NULL);
            if (r >= 0)
                c[i][r] = s_proc_cpu_s() - t;
            if (r >= 0 && i == 1)
                ratio[r] = c[0][r] / c[1][r];
        }
    s_set_old(false);
    printf("refcmp b%d T%d: CPU per call old %.3f ms new %.3f ms, old/new %.3f (median of %d)\n", b,
           T, s_median(c[0], reps) * 1e3, s_median(c[1], reps) * 1e3, s_median(ratio, reps), reps);
    for (int i = 0; i < 2; i++) {
        free(c[i]);
        nn_destroy(&net[i]);
    }
    free(ratio);
    free(x);
    return 0;
}

/* "ref" is the reference net; anything else a model file. NULL on error. */
static nn_net_t *
s_net(const char *spec)
{
    if (!spec || strcmp(spec, "ref") == 0)
        return s_reference_net();
    char err[256];
    nn_net_t *net = nn_load(spec, err, sizeof err);
    if (!net)
        fprintf(stderr, "nn-bench: %s\n", err);
    else
        nn_set_opts(net, &s_opts);
    return net;
}

/* One line per layer for bench/nn_bench.py to build the same net in PyTorch:
 * "layer ID TYPE IN0 IN1 C H W OC OH OW KH KW SH SW PH PW BIAS". */
static void
s_print_layers(const nn_net_t *net)
{
    for (int l = 0; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        const int *a = L->args;
        printf("layer %d %s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d\n", l,
               nn_ltype_name(L->type), L->in[0], L->in[1], L->is.c, L->is.h, L->is.w, L->os.c,
               L->os.h, L->os.w, a[NN_A_KH], a[NN_A_KW], a[NN_A_SH], a[NN_A_SW], a[NN_A_PH],
               a[NN_A_PW], a[NN_A_BIAS]);
    }
}

/* Per-layer inference CPU time (one thread), median of reps, in us. */
static void
s_print_profile(nn_net_t *net, int batch)
{
    enum { REPS = 21 };
    nn_set_threads(net, 1);
    double wall, cpu;
    s_time_forward(net, batch, 5, &wall, &cpu);   /* warm-up */
    size_t isz = (size_t) nn_input_shape(net).c * nn_input_shape(net).h * nn_input_shape(net).w;
    float *x = xmallocarray((size_t) batch * isz, sizeof(float));
    s_fill(x, (size_t) batch * isz, 4);
    int n = net->n_layers;
    double *per = xcalloc((size_t) n * REPS, sizeof(double));
    for (int r = 0; r < REPS; r++) {
        net->prof = xcalloc((size_t) n, sizeof(double));
        nn_forward(net, x, batch, NULL);
        for (int l = 0; l < n; l++)
            per[l * REPS + r] = net->prof[l];
        free(net->prof);
        net->prof = NULL;
    }
    double tot = 0;
    for (int l = 0; l < n; l++) {
        const nn_layer_t *L = &net->layers[l];
        double us = s_median(per + l * REPS, REPS) * 1e6;
        tot += us;
        double f = L->type == NN_L_CONV || L->type == NN_L_DWCONV || L->type == NN_L_DENSE
                   ? 2.0 * (double) L->n_w * L->os.h * L->os.w * batch : 0;
        printf("prof %2d %-10s %4dx%3dx%3d -> %4dx%3dx%3d %9.1f us %6.1f GFLOPS\n", l,
               nn_ltype_name(L->type), L->is.c, L->is.h, L->is.w, L->os.c, L->os.h, L->os.w,
               us, f > 0 && us > 0 ? f / us / 1e3 : 0.0);
    }
    printf("prof_total_us %.1f\n", tot);
    free(per);
    free(x);
}

/* Reads an IDX file (already gunzipped) of n items of item bytes. */
static uint8_t *
s_idx(const char *path, int dims, int *n, size_t *item)
{
    size_t len;
    char err[256];
    uint8_t *b = shop_read_file(path, 64u << 20, &len, err, sizeof err);
    if (!b) {
        fprintf(stderr, "nn-bench: %s\n", err);
        return NULL;
    }
    size_t hdr = 4 + 4 * (size_t) dims;
    if (len < hdr || b[2] != 8 || b[3] != dims) {
        fprintf(stderr, "nn-bench: %s is not an IDX file of %d dimensions\n", path, dims);
        free(b);
        return NULL;
    }
    size_t cnt = 1;
    *n = (int) ((uint32_t) b[4] << 24 | (uint32_t) b[5] << 16 | (uint32_t) b[6] << 8 | b[7]);
    for (int d = 1; d < dims; d++)
        cnt *= (size_t) ((uint32_t) b[4 + 4 * d] << 24 | (uint32_t) b[5 + 4 * d] << 16
                         | (uint32_t) b[6 + 4 * d] << 8 | b[7 + 4 * d]);
    *item = cnt;
    if (len != hdr + (size_t) *n * cnt) {
        fprintf(stderr, "nn-bench: %s has the wrong size\n", path);
        free(b);
        return NULL;
    }
    memmove(b, b + hdr, len - hdr);
    return b;
}

/* Trains the reference net on Fashion-MNIST, batches of 128, and estimates
 * the time of one 60000-image epoch from `steps` steady steps plus the
 * once-per-call set-up; *cpu_s gets the process CPU time (all threads)
 * estimated the same way. */
static double
s_train_epoch_s(const char *images, const char *labels, int steps, double *cpu_s)
{
    int n, nl;
    size_t item, litem;
    uint8_t *im = s_idx(images, 3, &n, &item), *lb = s_idx(labels, 1, &nl, &litem);
    if (!im || !lb || n != nl || item != 784) {
        free(im);
        free(lb);
        return -1;
    }
    float *x = xmallocarray((size_t) n * 784, sizeof(float));
    int32_t *y = xmallocarray((size_t) n, sizeof(int32_t));
    for (size_t i = 0; i < (size_t) n * 784; i++)
        x[i] = (im[i] / 255.0f - FM_MEAN) / FM_STD;
    for (int i = 0; i < n; i++)
        y[i] = lb[i];
    free(im);
    free(lb);
    nn_net_t *net = s_reference_net();
    nn_data_t d = { .x = x, .y = y, .n = n, .shape = { 1, 28, 28 } };
    nn_train_opts_t o;
    nn_train_opts_default(&o);
    o.batch = 128;
    o.epochs = 1;
    o.verbose = 0;
    char err[256];
    /* Each nn_train call allocates and first-touches its batch buffers (a
     * few hundred MB for this net at batch 128: ~0.3 s of page faults on
     * this VM), once per call, i.e. per epoch. A short timed call would
     * count that cost 30 times over instead of once per 469 steps, so: one
     * call of 3 steps, one of 3 + steps, the difference is the steady cost
     * per step, and what the short call spent beyond 3 steps is the set-up
     * added once to the epoch. */
    o.max_steps_per_epoch = 3;
    double t0 = shop_now_s(), c0 = s_proc_cpu_s();
    int rc = nn_train(net, &d, &o, NULL, err, sizeof err);
    double ta = shop_now_s() - t0, ca = s_proc_cpu_s() - c0;
    o.max_steps_per_epoch = 3 + steps;
    t0 = shop_now_s();
    c0 = s_proc_cpu_s();
    if (rc == 0)
        rc = nn_train(net, &d, &o, NULL, err, sizeof err);
    double tb = shop_now_s() - t0, cb = s_proc_cpu_s() - c0;
    double step = (tb - ta) / steps, cstep = (cb - ca) / steps, per_epoch = 60000.0 / 128.0;
    double t = step * per_epoch + SHOP_MAX(0.0, ta - 3 * step);
    *cpu_s = cstep * per_epoch + SHOP_MAX(0.0, ca - 3 * cstep);
    if (rc < 0)
        fprintf(stderr, "nn-bench: %s\n", err);
    nn_destroy(&net);
    free(x);
    free(y);
    return rc < 0 ? -1 : t;
}

int
main(int argc, char **argv)
{
    nn_blas_ensure_fast_path(argv);
    if (argc < 2) {
        fprintf(stderr, "usage: nn-bench gemm | conv [v] | train IMAGES LABELS [steps]\n"
                        "       nn-bench convcmp C K H W BATCH [REPS [KSIZE STRIDE PAD]] (fast vs direct conv)\n"
                        "       nn-bench refcmp BATCH THREADS [REPS] (reference net, phases and fused adds off/on)\n"
                        "       nn-bench latency|throughput|summary|layers|prof [NET] [BATCH] "
                        "[THREADS]\n  (NET: ref, the reference CNN, or a model file)\n");
        return 2;
    }
    const char *what = argv[1];
    nn_opts_default(&s_opts);
    printf("blas_core %s\n", nn_blas_corename());
    /* comparisons: NN_BENCH_WINO_MIN_C=100000 builds the nets without Winograd */
    const char *wmin = getenv("NN_BENCH_WINO_MIN_C");
    if (wmin && atoi(wmin) > 0)
        s_opts.conv_wino_min_c = atoi(wmin);
    /* NN_BENCH_OLD=1: nets built and run without the phases and fused adds */
    const char *old = getenv("NN_BENCH_OLD");
    if (old && atoi(old) > 0)
        s_set_old(true);
    if (strcmp(what, "gemm") == 0) {
        printf("gemm_gflops %.2f\n", s_gemm_peak());
    } else if (strcmp(what, "conv") == 0) {
        /* interleaved with the peak so both see the same machine */
        enum { R = 5 };
        double g[R], c[R], ratio[R];
        for (int r = 0; r < R; r++) {
            g[r] = s_gemm_peak();
            c[r] = s_conv_gflops(argc > 2 && r == 0);
            ratio[r] = c[r] / g[r];
        }
        printf("conv_gflops %.2f\ngemm_gflops %.2f\nconv_ratio %.3f\n", s_median(c, R),
               s_median(g, R), s_median(ratio, R));
    } else if (strcmp(what, "latency") == 0 || strcmp(what, "throughput") == 0
               || strcmp(what, "summary") == 0 || strcmp(what, "layers") == 0
               || strcmp(what, "prof") == 0) {
        /* nn-bench MODE [NET] [BATCH] [THREADS]: NET is "ref" or a model file */
        nn_net_t *net = s_net(argc > 2 ? argv[2] : "ref");
        if (!net)
            return 1;
        int batch = argc > 3 ? atoi(argv[3]) : what[0] == 't' ? 256 : 1;
        if (batch < 1 || batch > 4096)
            batch = 1;
        if (argc > 4)
            nn_set_threads(net, atoi(argv[4]));
        double wall, cpu;
        if (strcmp(what, "summary") == 0) {
            nn_print_summary(net);
            printf("params %zu\nmflops %.3f\n", nn_num_params(net),
                   nn_flops_per_sample(net) / 1e6);
        } else if (strcmp(what, "layers") == 0) {
            s_print_layers(net);
        } else if (strcmp(what, "prof") == 0) {
            s_print_profile(net, batch);
        } else if (what[0] == 'l') {
            s_time_forward(net, batch, batch > 16 ? 15 : 300, &wall, &cpu);
            printf("latency_ms %.4f\nlatency_cpu_ms %.4f\n", wall, cpu);
        } else {
            s_time_forward(net, batch, 7, &wall, &cpu);
            printf("throughput_img_s %.1f\nthroughput_cpu_ms %.3f\n", batch / wall * 1e3, cpu);
        }
        nn_destroy(&net);
    } else if (strcmp(what, "convcmp") == 0 && argc >= 7) {
        /* nn-bench convcmp C K H W BATCH [REPS [K S P]]: default 3x3 stride 1 pad 1 */
        int reps = argc > 7 ? atoi(argv[7]) : 21;
        int k = argc > 8 ? atoi(argv[8]) : 3, st = argc > 9 ? atoi(argv[9]) : 1;
        int p = argc > 10 ? atoi(argv[10]) : 1;
        if (s_convcmp(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), k, st, p,
                      atoi(argv[6]), reps < 1 ? 21 : reps) < 0)
            return 1;
    } else if (strcmp(what, "refcmp") == 0 && argc >= 4) {
        /* nn-bench refcmp BATCH THREADS [REPS] */
        int reps = argc > 4 ? atoi(argv[4]) : 15;
        int b = atoi(argv[2]);
        if (s_refcmp(b < 1 || b > 4096 ? 256 : b, atoi(argv[3]), reps < 1 ? 15 : reps) < 0)
            return 1;
    } else if (strcmp(what, "train") == 0 && argc >= 4) {
        int steps = argc > 4 ? atoi(argv[4]) : 40;
        if (steps < 1)
            steps = 40;
        double cpu = 0, s = s_train_epoch_s(argv[2], argv[3], steps, &cpu);
        if (s < 0)
            return 1;
        printf("train_epoch_s %.2f\ntrain_epoch_cpu_s %.2f\n", s, cpu);
    } else {
        fprintf(stderr, "nn-bench: unknown mode %s\n", what);
        return 2;
    }
    return 0;
}
