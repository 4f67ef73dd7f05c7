/* bench/kws_bench.c: cost of the keyword spotter: the real-time factor of
 * the whole streaming path (features + DS-CNN + decisions, 100 ms pushes, one
 * thread; from thread CPU time and from wall-clock time) over 60 s of a
 * noisy tone sweep, and the batch-1 time of one CNN window (median of 300).
 * With a PEER model the two run side by side, rounds alternating, so a
 * loaded machine weighs on both alike; the ratio is what compares.
 *
 * usage: bench/kws-bench [MODEL [PEER]]   (default MODEL: models/kws.nn) */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/kws.h"
#include "common/util.h"
#include "nn/nn.h"

#define S_ROUNDS 5
#define S_SECONDS 60
#define S_REPS 300

typedef struct {
    const char *path;
    kws_t *kws;
    nn_net_t *net;
    float *window, *out;      /* a batch-1 input and output of this model's net */
    double rtf_cpu[S_ROUNDS], rtf_wall[S_ROUNDS], b1_ms[S_ROUNDS];
} s_model_t;

static int
s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_median(double *v, int n)
{
    qsort(v, (size_t) n, sizeof *v, s_cmp);
    return v[n / 2];
}

static int
s_open(s_model_t *m, const char *path)
{
    char err[512];
    char buf[1024];
    m->path = path ? path : shop_data_path("models/kws.nn", buf, sizeof buf);
    m->kws = kws_new(path, NULL, err, sizeof err);
    m->net = m->kws ? nn_load(m->path, err, sizeof err) : NULL;
    if (!m->kws || !m->net) {
        fprintf(stderr, "kws-bench: %s: %s\n", m->path, err);
        return -1;
    }
    m->path = xstrdup(m->path);
    nn_set_threads(m->net, 1);
    /* the models may differ in window (a phone model's is 160 frames) and output */
    nn_shape_t sh = nn_input_shape(m->net);
    size_t per = (size_t) sh.c * (size_t) sh.h * (size_t) sh.w;
    m->window = xmalloc(per * sizeof *m->window);
    for (size_t i = 0; i < per; i++)
        m->window[i] = (float) sin(0.01 * (double) i);
    m->out = xmalloc((size_t) nn_output_size(m->net) * sizeof *m->out);
    return 0;
}

/* One round: stream the audio, then S_REPS batch-1 forwards. */
static int
s_round(s_model_t *m, int r, const float *pcm, size_t n)
{
    kws_hit_t hits[64];
    double a0, w0, c0, a1, w1, c1;
    kws_timing(m->kws, &a0, &w0, &c0);
    kws_reset(m->kws);
    for (size_t at = 0; at < n; at += 1600)
        if (kws_push(m->kws, pcm + at, n - at < 1600 ? n - at : 1600, hits, 64) < 0)
            return -1;
    if (kws_flush(m->kws, hits, 64) < 0)
        return -1;
    kws_timing(m->kws, &a1, &w1, &c1);
    m->rtf_cpu[r] = (c1 - c0) / (a1 - a0);
    m->rtf_wall[r] = (w1 - w0) / (a1 - a0);
    double t[S_REPS];
    for (int k = 0; k < S_REPS; k++) {
        uint64_t t0 = shop_now_ns();
        if (nn_forward(m->net, m->window, 1, m->out) != 0)
            return -1;
        t[k] = (double) (shop_now_ns() - t0) / 1e6;
    }
    m->b1_ms[r] = s_median(t, S_REPS);
    return 0;
}

int
main(int argc, char **argv)
{
    nn_blas_ensure_fast_path(argv);
    int nm = argc > 2 ? 2 : 1;
    s_model_t m[2];
    memset(m, 0, sizeof m);
    for (int i = 0; i < nm; i++)
        if (s_open(&m[i], argc > 1 + i ? argv[1 + i] : NULL) != 0)
            return 1;
    size_t n = (size_t) S_SECONDS * 16000;
    float *pcm = xmalloc(n * sizeof *pcm);
    uint32_t seed = 1;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        double t = (double) i / 16000.0;
        pcm[i] = (float) (0.2 * sin(2 * M_PI * (200 + 50 * sin(t)) * t)
                          + 0.05 * ((double) (seed >> 8) / 16777216.0 - 0.5));
    }
    for (int r = 0; r < S_ROUNDS; r++)
        for (int i = 0; i < nm; i++)
            if (s_round(&m[i], r, pcm, n) != 0) {
                fprintf(stderr, "kws-bench: %s: %s\n", m[i].path, kws_error(m[i].kws));
                return 1;
            }
    printf("keyword spotter: %d s streamed per round, %d rounds (medians), one thread\n",
           S_SECONDS, S_ROUNDS);
    printf("%-44s %10s %10s %12s %8s\n", "model", "RTF cpu", "RTF wall", "batch-1 ms", "stride");
    for (int i = 0; i < nm; i++) {
        printf("%-44.44s %10.4f %10.4f %12.3f %8d\n", m[i].path, s_median(m[i].rtf_cpu, S_ROUNDS),
               s_median(m[i].rtf_wall, S_ROUNDS), s_median(m[i].b1_ms, S_ROUNDS),
               kws_stride(m[i].kws));
    }
    if (nm == 2)
        printf("ratio model/peer: RTF cpu %.3f, batch-1 %.3f\n",
               s_median(m[0].rtf_cpu, S_ROUNDS) / s_median(m[1].rtf_cpu, S_ROUNDS),
               s_median(m[0].b1_ms, S_ROUNDS) / s_median(m[1].b1_ms, S_ROUNDS));
    for (int i = 0; i < nm; i++) {
        kws_destroy(&m[i].kws);
        nn_destroy(&m[i].net);
        free((char *) m[i].path);
        free(m[i].window);
        free(m[i].out);
    }
    free(pcm);
    return 0;
}
