/* nn/infer.c: the inference executor: nn_forward runs the plan of
 * nn/plan.c layer by layer through the op table, on the caller's thread for
 * small batches and split over nn_set_threads() threads for batches of 16
 * and more. Buffers grow to the largest batch seen and are then reused. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "nn/ops.h"

/* Grows the inference buffers to cap samples; aliased layers share them. */
static void
s_inference_reserve(nn_net_t *net, int cap)
{
    int n = net->n_layers;
    if (!net->ibuf) {
        net->ibuf = xcalloc((size_t) n, sizeof(float *));
        net->iout = xcalloc((size_t) n, sizeof(float *));
    }
    if (cap > net->icap) {
        for (int l = 0; l < n; l++) {
            free(net->ibuf[l]);
            net->ibuf[l] = NULL;
            if (!net->folded[l])
                net->ibuf[l] = xmallocarray((size_t) cap * net->layers[l].osz, sizeof(float));
        }
        net->icap = cap;
    }
    for (int l = 0; l < n; l++)
        net->iout[l] = net->folded[l] ? net->iout[net->ialias[l]] : net->ibuf[l];
}

/* CPU time of the calling thread: profiles stay meaningful on a busy machine. */
static double
s_thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
s_infer_shard(nn_net_t *net, nn_shard_t *s)
{
    /* profiling is for single-threaded benchmark runs */
    bool prof = net->prof && s == &net->ishards[0];
    for (int l = 0; l < net->n_layers; l++) {
        const nn_op_t *op = nn_ops[net->layers[l].type];
        double t0 = prof ? s_thread_cpu_s() : 0;
        if (op->infer)
            op->infer(net, l, s);
        if (prof)
            net->prof[l] += s_thread_cpu_s() - t0;
    }
}

static void *
s_infer_thread(void *arg)
{
    nn_shard_t *s = arg;
    s_infer_shard(s->net, s);
    return NULL;
}

int
nn_forward(nn_net_t *net, const float *x, int batch, float *out)
{
    if (!net)
        return -1;
    if (net->input < 0 || net->n_layers < 2)
        return nn_fail(net, "nn_forward: the net has no layers after its input");
    if (!x || batch < 1 || batch > (1 << 20))
        return nn_fail(net, "nn_forward: bad input or batch %d", batch);
    if (!net->fold_valid)
        nn_plan_build(net);
    s_inference_reserve(net, batch);
    /* split big batches over threads; below ~8 samples each a thread costs more than it gives */
    int T = SHOP_MIN(net->threads, batch / 8);
    if (T < 1)
        T = 1;
    if (T > net->n_ishards) {
        net->ishards = xrealloc(net->ishards, (size_t) T * sizeof(nn_shard_t));
        for (int t = net->n_ishards; t < T; t++) {
            memset(&net->ishards[t], 0, sizeof(nn_shard_t));
            net->ishards[t].out = xcalloc((size_t) net->n_layers, sizeof(float *));
        }
        net->n_ishards = T;
    }
    const nn_layer_t *in = &net->layers[net->input];
    memcpy(net->iout[net->input], x, (size_t) batch * in->osz * sizeof(float));
    pthread_t tid[64];
    bool started[64] = { false };
    int start = 0;
    for (int t = 0; t < T; t++) {
        nn_shard_t *s = &net->ishards[t];
        s->b = batch / T + (t < batch % T);
        for (int l = 0; l < net->n_layers; l++)
            s->out[l] = net->iout[l] + (size_t) start * net->layers[l].osz;
        s->net = net;
        start += s->b;
        if (t > 0)
            started[t] = pthread_create(&tid[t], NULL, s_infer_thread, s) == 0;
    }
    s_infer_shard(net, &net->ishards[0]);
    for (int t = 1; t < T; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            s_infer_shard(net, &net->ishards[t]);   /* no thread: do it here */
    }
    net->ibatch = batch;
    if (out)
        memcpy(out, net->iout[net->output],
               (size_t) batch * net->layers[net->output].osz * sizeof(float));
    return 0;
}

const float *
nn_layer_output(nn_net_t *net, int layer, nn_shape_t *shape)
{
    if (!net || layer < 0 || layer >= net->n_layers || net->ibatch == 0 || !net->iout)
        return NULL;
    if (shape)
        *shape = net->layers[layer].os;
    return net->iout[layer];
}
