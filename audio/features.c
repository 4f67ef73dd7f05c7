/* audio/features.c: streaming log-mel spectrogram (the one FFTW call site).
 *
 * Each frame is computed once, when its last sample arrives: the object keeps
 * only the win_length - hop_length samples the next frame shares with this
 * one. The FFT plan for each size is made once per process (FFTW's planner
 * is not thread-safe, fftwf_execute_* on distinct arrays is) with
 * FFTW_ESTIMATE, so the same algorithm and the same bits come out on every
 * run and every machine; a 512-point real FFT costs about a microsecond
 * either way. */
#include "config.h"

#include "audio/features.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

struct _features_t {
    features_config_t cfg;  /* copy of the configuration */
    fftwf_plan plan;        /* shared r2c plan of size n_fft (owned by s_plans) */
    float *window;          /* win_length periodic Hann weights */
    float *buf;             /* the last samples of the stream, win_length capacity */
    size_t fill;            /* samples in buf */
    float *fft_in;          /* n_fft, fftwf_malloc'ed; tail past win stays zero */
    fftwf_complex *fft_out; /* n_fft/2 + 1 bins, fftwf_malloc'ed */
    float *power;           /* n_fft/2 + 1 power values */
    int *band_first;        /* per band: first bin with a non-zero weight */
    int *band_count;        /* per band: number of bins with non-zero weight */
    float *band_weights;    /* per band, band_count weights, concatenated */
    size_t *band_offset;    /* per band: index of its first weight */
};

/* Plans shared by every object, one per FFT size, kept for the process. */
#define S_MAX_PLANS 8
static struct {
    int n_fft;
    fftwf_plan plan;
} s_plans[S_MAX_PLANS];
static int s_n_plans;
static pthread_mutex_t s_plan_lock = PTHREAD_MUTEX_INITIALIZER;

/* Returns the process-wide r2c plan for n_fft (created on first use), or
 * NULL when FFTW cannot plan it or the table is full. */
static fftwf_plan
s_plan_get(int n_fft)
{
    fftwf_plan plan = NULL;
    pthread_mutex_lock(&s_plan_lock);
    for (int i = 0; i < s_n_plans; i++)
        if (s_plans[i].n_fft == n_fft)
            plan = s_plans[i].plan;
    if (!plan && s_n_plans < S_MAX_PLANS) {
        /* planning needs arrays with the alignment of those executed later:
         * fftwf_malloc gives the same (SIMD) alignment to all of them */
        float *in = fftwf_malloc(sizeof(float) * (size_t) n_fft);
        fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * (size_t) (n_fft / 2 + 1));
        if (in && out)
            plan = fftwf_plan_dft_r2c_1d(n_fft, in, out, FFTW_ESTIMATE);
        fftwf_free(in);
        fftwf_free(out);
        if (plan) {
            s_plans[s_n_plans].n_fft = n_fft;
            s_plans[s_n_plans].plan = plan;
            s_n_plans++;
        }
    }
    pthread_mutex_unlock(&s_plan_lock);
    return plan;
}

void
features_config_default(features_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->sample_rate = 16000;
    cfg->win_length = 400;
    cfg->hop_length = 160;
    cfg->n_fft = 512;
    cfg->n_mels = 40;
    cfg->fmin = 20.0f;
    cfg->fmax = 8000.0f;
    cfg->log_floor = 1e-6f;
    cfg->mel_scale = FEATURES_MEL_HTK;
}

int
features_config_check(const features_config_t *cfg, char *err, size_t errlen)
{
    const char *why = NULL;
    if (!cfg)
        why = "no configuration";
    else if (cfg->sample_rate < 1000 || cfg->sample_rate > 384000)
        why = "sample_rate must be in 1000..384000 Hz";
    else if (cfg->n_fft < 16 || cfg->n_fft > FEATURES_MAX_FFT)
        why = "n_fft must be in 16..8192";
    else if (cfg->win_length < 2 || cfg->win_length > cfg->n_fft)
        why = "win_length must be in 2..n_fft";
    else if (cfg->hop_length < 1 || cfg->hop_length > cfg->win_length)
        why = "hop_length must be in 1..win_length";
    else if (cfg->n_mels < 1 || cfg->n_mels > FEATURES_MAX_MELS)
        why = "n_mels must be in 1..256";
    else if (!(cfg->fmin >= 0.0f) || !(cfg->fmax > cfg->fmin)
             || !(cfg->fmax <= cfg->sample_rate / 2.0f))
        why = "need 0 <= fmin < fmax <= sample_rate/2";
    else if (!(cfg->log_floor > 0.0f) || !isfinite(cfg->log_floor))
        why = "log_floor must be a positive number";
    else if (cfg->mel_scale != FEATURES_MEL_HTK && cfg->mel_scale != FEATURES_MEL_SLANEY)
        why = "mel_scale must be FEATURES_MEL_HTK or FEATURES_MEL_SLANEY";
    if (!why)
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "features: %s", why);
    return -1;
}

bool
features_config_equal(const features_config_t *a, const features_config_t *b)
{
    return a->sample_rate == b->sample_rate && a->win_length == b->win_length
           && a->hop_length == b->hop_length && a->n_fft == b->n_fft
           && a->n_mels == b->n_mels && a->fmin == b->fmin && a->fmax == b->fmax
           && a->log_floor == b->log_floor && a->mel_scale == b->mel_scale;
}

size_t
features_frames_for_samples(const features_config_t *cfg, size_t n)
{
    size_t win = (size_t) cfg->win_length, hop = (size_t) cfg->hop_length;
    return n < win ? 0 : 1 + (n - win) / hop;
}

static double
s_hz_to_mel(double hz, int scale)
{
    if (scale == FEATURES_MEL_HTK)
        return 2595.0 * log10(1.0 + hz / 700.0);
    /* Slaney: linear 200/3 Hz per mel below 1 kHz, log above */
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0;
    const double min_log_mel = min_log_hz / f_sp, logstep = log(6.4) / 27.0;
    if (hz < min_log_hz)
        return hz / f_sp;
    return min_log_mel + log(hz / min_log_hz) / logstep;
}

static double
s_mel_to_hz(double mel, int scale)
{
    if (scale == FEATURES_MEL_HTK)
        return 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0;
    const double min_log_mel = min_log_hz / f_sp, logstep = log(6.4) / 27.0;
    if (mel < min_log_mel)
        return mel * f_sp;
    return min_log_hz * exp(logstep * (mel - min_log_mel));
}

/* Builds the sparse triangular filterbank of self->cfg. */
static void
s_build_filters(features_t *self)
{
    const features_config_t *c = &self->cfg;
    int n_bins = c->n_fft / 2 + 1, n_mels = c->n_mels;
    double lo = s_hz_to_mel(c->fmin, c->mel_scale), hi = s_hz_to_mel(c->fmax, c->mel_scale);
    double *edge = xmallocarray((size_t) n_mels + 2, sizeof(double));
    for (int i = 0; i < n_mels + 2; i++)
        edge[i] = s_mel_to_hz(lo + (hi - lo) * i / (n_mels + 1), c->mel_scale);

    float *dense = xcalloc((size_t) n_mels * (size_t) n_bins, sizeof(float));
    size_t total = 0;
    for (int m = 0; m < n_mels; m++) {
        double left = edge[m], centre = edge[m + 1], right = edge[m + 2];
        for (int k = 0; k < n_bins; k++) {
            double f = (double) k * c->sample_rate / c->n_fft;
            double up = (f - left) / (centre - left), down = (right - f) / (right - centre);
            double w = fmin(up, down);
            if (w > 0.0) {
                dense[(size_t) m * n_bins + k] = (float) w;
                total++;
            }
        }
    }
    self->band_first = xcalloc((size_t) n_mels, sizeof(int));
    self->band_count = xcalloc((size_t) n_mels, sizeof(int));
    self->band_offset = xcalloc((size_t) n_mels, sizeof(size_t));
    self->band_weights = xcalloc(total ? total : 1, sizeof(float));
    size_t at = 0;
    for (int m = 0; m < n_mels; m++) {
        const float *row = dense + (size_t) m * n_bins;
        int first = 0, last = -1;
        for (int k = 0; k < n_bins; k++)
            if (row[k] > 0.0f) {
                if (last < 0)
                    first = k;
                last = k;
            }
        self->band_first[m] = first;
        self->band_offset[m] = at;
        /* bins between first and last are all non-zero for a triangle */
        self->band_count[m] = last >= first ? last - first + 1 : 0;
        for (int k = first; k <= last; k++)
            self->band_weights[at++] = row[k];
    }
    free(dense);
    free(edge);
}

features_t *
features_new(const features_config_t *cfg)
{
    features_config_t def;
    char err[128];
    if (!cfg) {
        features_config_default(&def);
        cfg = &def;
    }
    if (features_config_check(cfg, err, sizeof err) < 0) {
        log_err("%s", err);
        return NULL;
    }
    fftwf_plan plan = s_plan_get(cfg->n_fft);
    if (!plan) {
        log_err("features: FFTW cannot plan a %d-point transform", cfg->n_fft);
        return NULL;
    }
    features_t *self = xcalloc(1, sizeof *self);
    self->cfg = *cfg;
    self->plan = plan;
    size_t win = (size_t) cfg->win_length, n_fft = (size_t) cfg->n_fft;
    self->window = xmallocarray(win, sizeof(float));
    for (size_t i = 0; i < win; i++)
        self->window[i] = (float) (0.5 - 0.5 * cos(2.0 * M_PI * (double) i / (double) win));
    self->buf = xmallocarray(win, sizeof(float));
    self->fft_in = fftwf_malloc(sizeof(float) * n_fft);
    self->fft_out = fftwf_malloc(sizeof(fftwf_complex) * (n_fft / 2 + 1));
    if (!self->fft_in || !self->fft_out) {
        log_err("features: out of memory for FFT buffers");
        features_destroy(&self);
        return NULL;
    }
    memset(self->fft_in, 0, sizeof(float) * n_fft);
    self->power = xmallocarray(n_fft / 2 + 1, sizeof(float));
    s_build_filters(self);
    return self;
}

void
features_destroy(features_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    features_t *self = *self_p;
    free(self->window);
    free(self->buf);
    fftwf_free(self->fft_in);
    fftwf_free(self->fft_out);
    free(self->power);
    free(self->band_first);
    free(self->band_count);
    free(self->band_offset);
    free(self->band_weights);
    free(self);
    *self_p = NULL;
}

const features_config_t *
features_config(const features_t *self)
{
    return &self->cfg;
}

size_t
features_frames_pending(const features_t *self, size_t n)
{
    size_t win = (size_t) self->cfg.win_length, hop = (size_t) self->cfg.hop_length;
    size_t have = self->fill + n;
    return have < win ? 0 : 1 + (have - win) / hop;
}

/* Computes the frame held in self->buf (full) into out[n_mels]. */
static void
s_frame(features_t *self, float *out)
{
    const features_config_t *c = &self->cfg;
    const int win = c->win_length, n_bins = c->n_fft / 2 + 1;
    for (int i = 0; i < win; i++)
        self->fft_in[i] = self->buf[i] * self->window[i];
    fftwf_execute_dft_r2c(self->plan, self->fft_in, self->fft_out);
    for (int k = 0; k < n_bins; k++) {
        float re = self->fft_out[k][0], im = self->fft_out[k][1];
        self->power[k] = re * re + im * im;
    }
    for (int m = 0; m < c->n_mels; m++) {
        const float *w = self->band_weights + self->band_offset[m];
        const float *p = self->power + self->band_first[m];
        float acc = 0.0f;
        for (int j = 0; j < self->band_count[m]; j++)
            acc += w[j] * p[j];
        out[m] = logf(acc > c->log_floor ? acc : c->log_floor);
    }
}

ssize_t
features_push(features_t *self, const float *pcm, size_t n, float *frames_out,
              size_t max_frames)
{
    if (features_frames_pending(self, n) > max_frames)
        return -1;
    const size_t win = (size_t) self->cfg.win_length, hop = (size_t) self->cfg.hop_length;
    const size_t n_mels = (size_t) self->cfg.n_mels;
    size_t done = 0;
    while (n > 0) {
        size_t take = SHOP_MIN(n, win - self->fill);
        memcpy(self->buf + self->fill, pcm, take * sizeof(float));
        self->fill += take;
        pcm += take;
        n -= take;
        if (self->fill < win)
            break;
        s_frame(self, frames_out + done * n_mels);
        done++;
        /* keep the overlap with the next frame */
        memmove(self->buf, self->buf + hop, (win - hop) * sizeof(float));
        self->fill = win - hop;
    }
    return (ssize_t) done;
}

void
features_reset(features_t *self)
{
    self->fill = 0;
}

int
features_compute(const features_config_t *cfg, const float *pcm, size_t n,
                 float **frames_out, size_t *n_frames)
{
    *frames_out = NULL;
    *n_frames = 0;
    features_t *f = features_new(cfg);
    if (!f)
        return -1;
    size_t count = features_frames_pending(f, n);
    if (count > 0) {
        float *out = xmallocarray(count, (size_t) f->cfg.n_mels * sizeof(float));
        ssize_t got = features_push(f, pcm, n, out, count);
        *frames_out = out;
        *n_frames = (size_t) got;
    }
    features_destroy(&f);
    return 0;
}
