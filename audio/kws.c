/* audio/kws.c: streaming DS-CNN keyword spotter (see kws.h). */
#include "audio/kws.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/intent.h"
#include "audio/phones.h"
#include "audio/vocab.h"
#include "common/log.h"
#include "common/util.h"

/* The model fires this long after a word ends (middle of the trained range). */
#define S_FIRE_DELAY 0.14
#define S_MAX_SMOOTH 16

/* Word-event state: the decision part, separate from the CNN so it can be
 * tested with made-up posteriors. */
typedef struct {
    int n_classes;
    int smooth;                       /* runs averaged */
    double refractory;                /* seconds */
    float thr[VOCAB_COUNT];           /* per word */
    float hist[S_MAX_SMOOTH][VOCAB_COUNT];
    int n_hist, at;                   /* filled runs, next slot */
    int cur;                          /* word of the open event, -1 none */
    float cur_peak;                   /* its best smoothed posterior */
    double cur_time;                  /* run time of that peak */
    double last_time[VOCAB_COUNT];    /* last report per word */
} s_decider_t;

struct _kws_t {
    nn_net_t *net;                    /* the DS-CNN, batch 1 */
    features_t *feat;                 /* streaming log-mel */
    features_config_t fc;             /* its configuration (from the model) */
    int n_mels;
    float mean, inv_std;
    float floor_value;                /* feature of digital silence (ln log_floor) */
    kws_opts_t opts;
    s_decider_t dec;
    float *ring;                      /* last KWS_FRAMES frames, circular */
    int ring_at;                      /* next frame slot */
    float *window;                    /* the CNN input, time-ordered, normalised */
    float *frames;                    /* scratch for features_push */
    size_t frames_cap;
    long long n_frames;               /* frames seen in this stream */
    float post[VOCAB_COUNT];          /* last CNN output (fillers merged into _unknown_) */
    int n_fillers;                    /* filler classes after the vocabulary's outputs */
    float *out;                       /* with fillers: the CNN's whole output */
    int win;                          /* frames per CNN input (KWS_FRAMES, or the phone model's) */
    phones_spotter_t *ph;             /* phone model (kws.units "phones"): its word spotter */
    int lookahead;                    /* phone model: input frames right of the frames it commits */
    float *logits, *logp;             /* phone model: its output (classes x time), one column */
    bool has_belief;                  /* the model carries the grammar's belief constants */
    bool has_wake_min;                /* and the listener's wake_min (kws.wake_min) */
    double wake_min;
    float belief_odds, belief_power;  /* they (kws.belief_odds, kws.belief_power) */
    double audio_s, wall_s, cpu_s;    /* totals for the real-time factor */
    char err[256];
};

void
kws_opts_default(kws_opts_t *opts)
{
    opts->stride = 0;
    opts->smooth = 3;
    opts->refractory = 0.8;
    opts->threshold = 0;
    opts->threads = 1;
    opts->pad_silence = false;
}

/* CPU time of the calling thread, seconds. */
static double
s_thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
s_err(kws_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->err, sizeof self->err, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- net */

nn_net_t *
kws_build_net(int n_classes, int channels, int blocks, uint64_t seed)
{
    nn_net_t *net = nn_new(seed);
    if (!net)
        return NULL;
    int x = nn_input(net, (nn_shape_t) { 1, KWS_FRAMES, 40 });
    /* 2 x 2 average first (98 x 40 -> 49 x 20: 20 ms, 20 bands, the
     * resolution of Hello-Edge's 49 x 10 MFCC input), then the 10 x 4
     * convolution with stride 2 (24 x 10); a third of the multiply-adds of
     * running it on the full grid, for training and streaming on shared cores */
    x = nn_avgpool(net, x, 2, 2);
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, channels, 10, 4, 2, 2, 4, 1, false)));
    for (int b = 0; b < blocks; b++) {
        /* the second block halves time and frequency again (12 x 5) */
        int s = b == 1 ? 2 : 1;
        x = nn_relu(net, nn_batchnorm(net, nn_depthwise(net, x, 3, 3, s, s, 1, 1, false)));
        x = nn_relu(net, nn_batchnorm(net, nn_pointwise(net, x, channels, false)));
    }
    if (x >= 0) {
        /* The detector must fire 30-250 ms after a word ends and not 600 ms
         * later, nor on a word's first syllable: that is a question of where
         * in the window things happen, which a global average cannot answer.
         * Collapse frequency with a learned 1 x F convolution and let the
         * dense layer see every time step. */
        nn_shape_t sh = nn_layer_shape(net, x);
        x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, channels, 1, sh.w, 1, 1, 0, 0,
                                                     false)));
    }
    nn_layer_set_name(net, x, "embedding");
    x = nn_dropout(net, x, 0.1f);
    x = nn_softmax_xent(net, nn_dense(net, x, n_classes));
    if (x < 0) {
        log_err("kws: cannot build the net: %s", nn_error(net));
        nn_destroy(&net);
    }
    return net;
}

void
kws_normalise(float *x, size_t n, float mean, float inv_std)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (x[i] - mean) * inv_std;
}

int
kws_net_set_meta(nn_net_t *net, const features_config_t *fc, float mean, float std,
                 const float *thresholds, int stride)
{
    /* the vocabulary, then the net's filler labels as they are (a net with
     * a label per output beyond the vocabulary's; a phone model's outputs
     * are no classes) */
    int n_out = nn_output_size(net), n_fill = 0;
    if (n_out > VOCAB_COUNT && n_out <= VOCAB_COUNT + KWS_MAX_FILLERS
        && nn_num_labels(net) == n_out)
        n_fill = n_out - VOCAB_COUNT;
    const char *labels[VOCAB_COUNT + KWS_MAX_FILLERS];
    char fill[KWS_MAX_FILLERS][NN_MAX_NAME];
    for (int i = 0; i < VOCAB_COUNT; i++)
        labels[i] = vocab_name(i);
    for (int i = 0; i < n_fill; i++) {
        snprintf(fill[i], sizeof fill[i], "%s", nn_label(net, VOCAB_COUNT + i));
        labels[VOCAB_COUNT + i] = fill[i];
    }
    char buf[VOCAB_COUNT * 12 + 16];
    size_t at = 0;
    for (int i = 0; i < VOCAB_COUNT; i++)
        at += (size_t) snprintf(buf + at, sizeof buf - at, "%s%.3f", i ? "," : "",
                                (double) thresholds[i]);
    char v[9][48];
    snprintf(v[0], sizeof v[0], "%d", fc->sample_rate);
    snprintf(v[1], sizeof v[1], "%d", fc->win_length);
    snprintf(v[2], sizeof v[2], "%d", fc->hop_length);
    snprintf(v[3], sizeof v[3], "%d", fc->n_fft);
    snprintf(v[4], sizeof v[4], "%d", fc->n_mels);
    snprintf(v[5], sizeof v[5], "%.9g", (double) fc->fmin);
    snprintf(v[6], sizeof v[6], "%.9g", (double) fc->fmax);
    snprintf(v[7], sizeof v[7], "%.9g", (double) fc->log_floor);
    snprintf(v[8], sizeof v[8], "%d", fc->mel_scale);
    char m[32], s[32], st[16];
    snprintf(m, sizeof m, "%.9g", (double) mean);
    snprintf(s, sizeof s, "%.9g", (double) std);
    snprintf(st, sizeof st, "%d", stride);
    if (nn_set_labels(net, labels, VOCAB_COUNT + n_fill) != 0
        || nn_meta_set(net, "arch", "ds-cnn-kws") != 0
        || nn_meta_set(net, "features.sample_rate", v[0]) != 0
        || nn_meta_set(net, "features.win_length", v[1]) != 0
        || nn_meta_set(net, "features.hop_length", v[2]) != 0
        || nn_meta_set(net, "features.n_fft", v[3]) != 0
        || nn_meta_set(net, "features.n_mels", v[4]) != 0
        || nn_meta_set(net, "features.fmin", v[5]) != 0
        || nn_meta_set(net, "features.fmax", v[6]) != 0
        || nn_meta_set(net, "features.log_floor", v[7]) != 0
        || nn_meta_set(net, "features.mel_scale", v[8]) != 0
        || nn_meta_set(net, "kws.frames", "98") != 0 || nn_meta_set(net, "kws.mean", m) != 0
        || nn_meta_set(net, "kws.std", s) != 0 || nn_meta_set(net, "kws.thresholds", buf) != 0
        || nn_meta_set(net, "kws.stride", st) != 0 || nn_meta_set(net, "kws.norm", "global") != 0)
        return -1;
    return 0;
}

/* Reads a number from metadata key into *out. Returns 0 or -1. */
static int
s_meta_num(const nn_net_t *net, const char *key, double lo, double hi, double *out)
{
    const char *v = nn_meta_get(net, key);
    if (!v)
        return -1;
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= lo && d <= hi))
        return -1;
    *out = d;
    return 0;
}

/* Reads belief constant key (a finite number in (0, max]) into *out.
 * Returns 1 when present and good, 0 when absent, -1 when bad. */
static int
s_meta_belief(const nn_net_t *net, const char *key, double max, double *out)
{
    const char *v = nn_meta_get(net, key);
    if (!v)
        return 0;
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d > 0 && d <= max && (float) d > 0))
        return -1;
    *out = d;
    return 1;
}

int
kws_net_set_belief(nn_net_t *net, double odds, double power, char *err, size_t errlen)
{
    if (!(odds > 0 && odds <= INTENT_BELIEF_ODDS_MAX && (float) odds > 0)
        || !(power > 0 && power <= INTENT_BELIEF_POWER_MAX && (float) power > 0)) {
        snprintf(err, errlen, "belief constants odds %g, power %g: the grammar takes odds in "
                 "(0, %g] and power in (0, %g]", odds, power, (double) INTENT_BELIEF_ODDS_MAX,
                 (double) INTENT_BELIEF_POWER_MAX);
        return -1;
    }
    char o[32], p[32];
    snprintf(o, sizeof o, "%.9g", odds);
    snprintf(p, sizeof p, "%.9g", power);
    if (nn_meta_set(net, KWS_META_BELIEF_ODDS, o) != 0
        || nn_meta_set(net, KWS_META_BELIEF_POWER, p) != 0) {
        snprintf(err, errlen, "%s", nn_error(net));
        return -1;
    }
    return 0;
}

int
kws_net_set_wake_min(nn_net_t *net, double wake_min, char *err, size_t errlen)
{
    if (!(wake_min >= 0 && wake_min <= 1)) {
        snprintf(err, errlen, "wake_min %g: needs a number from 0 to 1", wake_min);
        return -1;
    }
    char v[32];
    snprintf(v, sizeof v, "%.9g", wake_min);
    if (nn_meta_set(net, KWS_META_WAKE_MIN, v) != 0) {
        snprintf(err, errlen, "%s", nn_error(net));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- filler classes */

bool
kws_filler_word_ok(const char *word)
{
    size_t n = strlen(word);
    if (n < 1 || n > KWS_FILLER_WORD_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (word[i] < 'a' || word[i] > 'z')
            return false;
    return vocab_find(word) < 0;
}

int
kws_check_labels(const nn_net_t *net, char *err, size_t errlen)
{
    int n = nn_num_labels(net), n_out = nn_output_size(net);
    if (n < VOCAB_COUNT || n > VOCAB_COUNT + KWS_MAX_FILLERS || n != n_out) {
        snprintf(err, errlen, "model has %d labels for %d outputs: needs the vocabulary's %d "
                 "and at most %d filler classes, one label per output", n, n_out, VOCAB_COUNT,
                 KWS_MAX_FILLERS);
        return -1;
    }
    for (int i = 0; i < VOCAB_COUNT; i++)
        if (strcmp(nn_label(net, i), vocab_name(i)) != 0) {
            snprintf(err, errlen, "model label %d is \"%s\", the vocabulary says \"%s\"", i,
                     nn_label(net, i), vocab_name(i));
            return -1;
        }
    size_t pl = strlen(KWS_FILLER_PREFIX);
    for (int i = VOCAB_COUNT; i < n; i++) {
        const char *l = nn_label(net, i);
        if (strncmp(l, KWS_FILLER_PREFIX, pl) != 0 || !kws_filler_word_ok(l + pl)) {
            snprintf(err, errlen, "model label %d is \"%.60s\": a label after the vocabulary "
                     "must be a filler class, \"%s\" and a word of 1 to %d lower-case letters "
                     "that is not a vocabulary word", i, l, KWS_FILLER_PREFIX,
                     KWS_FILLER_WORD_MAX);
            return -1;
        }
        for (int j = VOCAB_COUNT; j < i; j++)
            if (strcmp(l, nn_label(net, j)) == 0) {
                snprintf(err, errlen, "model labels %d and %d are both \"%s\"", j, i, l);
                return -1;
            }
    }
    return n - VOCAB_COUNT;
}

void
kws_merge_posteriors(const float *out, int n_fillers, float *post)
{
    memcpy(post, out, VOCAB_COUNT * sizeof *post);
    for (int j = 0; j < n_fillers; j++)
        post[VOCAB_UNKNOWN] += out[VOCAB_COUNT + j];
}

/* ---------------------------------------------------------------- decisions */

static void
s_decider_init(s_decider_t *d, int smooth, double refractory, const float *thr)
{
    memset(d, 0, sizeof *d);
    d->n_classes = VOCAB_COUNT;
    d->smooth = smooth < 1 ? 1 : smooth > S_MAX_SMOOTH ? S_MAX_SMOOTH : smooth;
    d->refractory = refractory;
    memcpy(d->thr, thr, sizeof d->thr);
    d->cur = -1;
    for (int i = 0; i < VOCAB_COUNT; i++)
        d->last_time[i] = -1e9;
}

static void
s_decider_reset(s_decider_t *d)
{
    float thr[VOCAB_COUNT];
    memcpy(thr, d->thr, sizeof thr);
    s_decider_init(d, d->smooth, d->refractory, thr);
}

/* Closes the open event, reporting it unless its word is refractory. */
static int
s_decider_close(s_decider_t *d, kws_hit_t *hits, int max_hits, int n)
{
    if (d->cur < 0)
        return n;
    int w = d->cur;
    d->cur = -1;
    if (d->cur_time - d->last_time[w] < d->refractory)
        return n;
    d->last_time[w] = d->cur_time;
    if (n < max_hits) {
        double t = d->cur_time - S_FIRE_DELAY;
        hits[n++] = (kws_hit_t) { w, t > 0 ? t : 0, d->cur_peak };
    } else {
        log_warn("kws: more than %d words in one push, \"%s\" dropped", max_hits, vocab_name(w));
    }
    return n;
}

/* One CNN run's posteriors at stream time t (end of its window). Appends
 * finished words to hits[n..max_hits) and returns the new count. */
static int
s_decider_step(s_decider_t *d, const float *post, double t, kws_hit_t *hits, int max_hits, int n)
{
    memcpy(d->hist[d->at], post, sizeof d->hist[0]);
    d->at = (d->at + 1) % d->smooth;
    if (d->n_hist < d->smooth)
        d->n_hist++;
    float avg[VOCAB_COUNT] = { 0 };
    for (int h = 0; h < d->n_hist; h++)
        for (int c = 0; c < VOCAB_COUNT; c++)
            avg[c] += d->hist[h][c];
    int best = 0;
    for (int c = 0; c < VOCAB_COUNT; c++) {
        avg[c] /= (float) d->n_hist;
        if (avg[c] > avg[best])
            best = c;
    }
    bool active = vocab_is_keyword(best) && avg[best] >= d->thr[best];
    if (d->cur >= 0 && (!active || best != d->cur))
        n = s_decider_close(d, hits, max_hits, n);
    if (active) {
        if (d->cur != best) {
            d->cur = best;
            d->cur_peak = -1;
        }
        if (avg[best] > d->cur_peak) {
            d->cur_peak = avg[best];
            d->cur_time = t;
        }
    }
    return n;
}

/* ---------------------------------------------------------------- detector */

/* A phone model (audio/phones.h): its pronunciations (kws.phones) and the
 * input frames it looks ahead (kws.lookahead); the stride must be even (two
 * input frames per output frame). Returns 0 or -1. */
static int
s_phones_configure(kws_t *self, const float *thr)
{
    phones_lexicon_t lex;
    char perr[200];
    const char *spec = nn_meta_get(self->net, "kws.phones");
    double la;
    if (!spec || phones_lexicon_parse(spec, &lex, perr, sizeof perr) != 0) {
        s_err(self, "model metadata kws.phones: %s", spec ? perr : "missing");
        return -1;
    }
    if (s_meta_num(self->net, "kws.lookahead", 0, self->win / 2, &la) != 0 || (int) la % 2
        || self->opts.stride % 2 || (int) la + self->opts.stride > self->win) {
        s_err(self, "phone model: kws.lookahead or the stride is odd or out of range");
        return -1;
    }
    self->lookahead = (int) la;
    /* decide 8 frames (160 ms) after a peak; the same word not within 0.4 s */
    self->ph = phones_spotter_new(&lex, thr, 8, 20);
    self->logits = xmalloc((size_t) nn_output_size(self->net) * sizeof *self->logits);
    self->logp = xmalloc(PHONES_CLASSES * sizeof *self->logp);
    return self->ph ? 0 : -1;
}

/* The phone model's output frames that the run just made commits (those
 * `lookahead` input frames before the window's end, one per two input
 * frames of the stride) go to the word spotter. Returns the new hit count. */
static int
s_phones_step(kws_t *self, kws_hit_t *hits, int max_hits, int nh)
{
    int T = self->win / 2, first = T - self->lookahead / 2 - self->opts.stride / 2;
    double hop = (double) self->fc.hop_length / self->fc.sample_rate;
    phones_hit_t ph[8];
    for (int j = first; j < first + self->opts.stride / 2; j++) {
        phones_log_softmax(self->logits, T, PHONES_CLASSES, j, self->logp);
        int n = phones_spotter_frame(self->ph, self->logp, ph, 0, 8);
        for (int i = 0; i < n && nh < max_hits; i++) {
            /* spotter frame f covers input frames 2f - lookahead and the next */
            double t = (double) (2 * ph[i].end + 2 - self->lookahead) * hop;
            hits[nh++] = (kws_hit_t) { ph[i].word, t > 0 ? t : 0, ph[i].confidence };
        }
    }
    return nh;
}

static int
s_configure(kws_t *self, const kws_opts_t *opts)
{
    nn_net_t *net = self->net;
    nn_shape_t in = nn_input_shape(net);
    const char *units = nn_meta_get(net, "kws.units");
    bool phones = units && strcmp(units, "phones") == 0;
    self->win = phones ? in.h : KWS_FRAMES;
    int n_out = nn_output_size(net);
    if (in.c != 1 || in.h != self->win || in.w < 1 || in.w > FEATURES_MAX_MELS || in.h % 2
        || (phones ? n_out != PHONES_CLASSES * in.h / 2
                   : n_out < VOCAB_COUNT || n_out > VOCAB_COUNT + KWS_MAX_FILLERS)) {
        s_err(self, "model input %dx%dx%d / %d outputs is not a keyword spotter for this "
                    "vocabulary (%d words, at most %d filler classes)", in.c, in.h, in.w, n_out,
              VOCAB_COUNT, KWS_MAX_FILLERS);
        return -1;
    }
    if (phones && nn_num_labels(net) != VOCAB_COUNT) {
        s_err(self, "model has %d labels, the vocabulary %d", nn_num_labels(net), VOCAB_COUNT);
        return -1;
    }
    if (phones) {
        for (int i = 0; i < VOCAB_COUNT; i++)
            if (strcmp(nn_label(net, i), vocab_name(i)) != 0) {
                s_err(self, "model label %d is \"%s\", the vocabulary says \"%s\"", i,
                      nn_label(net, i), vocab_name(i));
                return -1;
            }
    } else {
        int nf = kws_check_labels(net, self->err, sizeof self->err);
        if (nf < 0)
            return -1;
        self->n_fillers = nf;
        if (nf > 0)
            self->out = xmalloc((size_t) n_out * sizeof *self->out);
    }
    double d[9], mean, std;
    static const char *const keys[9] = {
        "features.sample_rate", "features.win_length", "features.hop_length",
        "features.n_fft", "features.n_mels", "features.fmin", "features.fmax",
        "features.log_floor", "features.mel_scale",
    };
    for (int i = 0; i < 9; i++)
        if (s_meta_num(net, keys[i], 0, 1e6, &d[i]) != 0) {
            s_err(self, "model metadata %s is missing or out of range", keys[i]);
            return -1;
        }
    if (s_meta_num(net, "kws.mean", -1e3, 1e3, &mean) != 0
        || s_meta_num(net, "kws.std", 1e-6, 1e3, &std) != 0) {
        s_err(self, "model metadata kws.mean / kws.std missing or out of range");
        return -1;
    }
    self->fc = (features_config_t) {
        .sample_rate = (int) d[0], .win_length = (int) d[1], .hop_length = (int) d[2],
        .n_fft = (int) d[3], .n_mels = (int) d[4], .fmin = (float) d[5], .fmax = (float) d[6],
        .log_floor = (float) d[7], .mel_scale = (int) d[8],
    };
    char ferr[200];
    if (features_config_check(&self->fc, ferr, sizeof ferr) != 0 || self->fc.n_mels != in.w
        || self->fc.sample_rate != 16000) {
        s_err(self, "model feature configuration unusable: %s",
              self->fc.n_mels != in.w ? "mel bands differ from the input width" : ferr);
        return -1;
    }
    float thr[VOCAB_COUNT];
    const char *tv = nn_meta_get(net, "kws.thresholds");
    const char *p = tv;
    for (int i = 0; i < VOCAB_COUNT; i++) {
        char *end;
        thr[i] = p ? strtof(p, &end) : 0;
        if (!p || end == p || !(thr[i] > 0 && thr[i] <= 1) || (*end != ',' && i < VOCAB_COUNT - 1)
            || (i == VOCAB_COUNT - 1 && *end)) {
            s_err(self, "model metadata kws.thresholds needs %d numbers in (0, 1]", VOCAB_COUNT);
            return -1;
        }
        p = end + 1;
    }
    /* one normalisation exists: (x - mean) / std; absent means it too */
    const char *norm = nn_meta_get(net, "kws.norm");
    if (norm && strcmp(norm, "global") != 0) {
        s_err(self, "model metadata kws.norm is \"%s\": only \"global\" is known", norm);
        return -1;
    }
    /* the grammar's belief constants: both or neither, each in its range */
    double bo = 0, bp = 0;
    int ho = s_meta_belief(net, KWS_META_BELIEF_ODDS, INTENT_BELIEF_ODDS_MAX, &bo);
    int hp = s_meta_belief(net, KWS_META_BELIEF_POWER, INTENT_BELIEF_POWER_MAX, &bp);
    if (ho < 0 || hp < 0) {
        s_err(self, "model metadata %s is \"%.40s\": needs a number in (0, %g]",
              ho < 0 ? KWS_META_BELIEF_ODDS : KWS_META_BELIEF_POWER,
              nn_meta_get(net, ho < 0 ? KWS_META_BELIEF_ODDS : KWS_META_BELIEF_POWER),
              ho < 0 ? (double) INTENT_BELIEF_ODDS_MAX : (double) INTENT_BELIEF_POWER_MAX);
        return -1;
    }
    if (ho != hp) {
        s_err(self, "model metadata %s without %s", ho ? KWS_META_BELIEF_ODDS : KWS_META_BELIEF_POWER,
              ho ? KWS_META_BELIEF_POWER : KWS_META_BELIEF_ODDS);
        return -1;
    }
    self->has_belief = ho == 1;
    self->belief_odds = (float) bo;
    self->belief_power = (float) bp;
    /* the listener's least wake-word confidence, when the model has one */
    if (nn_meta_get(net, KWS_META_WAKE_MIN)) {
        if (s_meta_num(net, KWS_META_WAKE_MIN, 0, 1, &self->wake_min) != 0) {
            s_err(self, "model metadata %s is \"%.40s\": needs a number from 0 to 1",
                  KWS_META_WAKE_MIN, nn_meta_get(net, KWS_META_WAKE_MIN));
            return -1;
        }
        self->has_wake_min = true;
    }
    self->mean = (float) mean;
    self->inv_std = (float) (1.0 / std);
    self->n_mels = self->fc.n_mels;
    self->floor_value = logf(self->fc.log_floor);
    if (opts)
        self->opts = *opts;
    else
        kws_opts_default(&self->opts);
    if (self->opts.stride == 0) {
        /* models made before kws.stride existed were tuned at 3 */
        double st = 3;
        if (nn_meta_get(net, "kws.stride") && s_meta_num(net, "kws.stride", 1, 50, &st) != 0) {
            s_err(self, "model metadata kws.stride out of range");
            return -1;
        }
        self->opts.stride = (int) st;
    }
    if (self->opts.stride < 1 || self->opts.stride > 50 || self->opts.smooth < 1
        || self->opts.refractory < 0 || self->opts.threshold < 0 || self->opts.threshold > 1) {
        s_err(self, "bad detector options");
        return -1;
    }
    if (self->opts.threshold > 0)
        for (int i = 0; i < VOCAB_COUNT; i++)
            thr[i] = self->opts.threshold;
    s_decider_init(&self->dec, self->opts.smooth, self->opts.refractory, thr);
    if (nn_set_threads(net, self->opts.threads > 0 ? self->opts.threads : 1) != 0) {
        s_err(self, "%s", nn_error(net));
        return -1;
    }
    if (phones && s_phones_configure(self, thr) != 0)
        return -1;
    self->feat = features_new(&self->fc);
    if (!self->feat) {
        s_err(self, "cannot start the features module");
        return -1;
    }
    self->ring = xmalloc((size_t) self->win * (size_t) self->n_mels * sizeof *self->ring);
    self->window = xmalloc((size_t) self->win * (size_t) self->n_mels * sizeof *self->window);
    kws_reset(self);
    return 0;
}

kws_t *
kws_new_from_net(nn_net_t **net_p, const kws_opts_t *opts, char *err, size_t errlen)
{
    kws_t *self = xcalloc(1, sizeof *self);
    self->net = *net_p;
    *net_p = NULL;
    if (!self->net) {
        if (err)
            snprintf(err, errlen, "no net");
        kws_destroy(&self);
        return NULL;
    }
    if (s_configure(self, opts) != 0) {
        if (err)
            snprintf(err, errlen, "%s", self->err);
        kws_destroy(&self);
    }
    return self;
}

kws_t *
kws_new(const char *path, const kws_opts_t *opts, char *err, size_t errlen)
{
    char found[1024];
    if (!path) {
        path = shop_data_path("models/kws.nn", found, sizeof found);
        if (!path) {
            snprintf(err, errlen, "models/kws.nn not found (set SHOPD_DATADIR)");
            return NULL;
        }
    }
    char lerr[256];
    nn_net_t *net = nn_load(path, lerr, sizeof lerr);
    if (!net) {
        snprintf(err, errlen, "%s", lerr);   /* nn_load names the file */
        return NULL;
    }
    kws_t *self = kws_new_from_net(&net, opts, lerr, sizeof lerr);
    if (!self)
        snprintf(err, errlen, "%s: %s", path, lerr);
    return self;
}

void
kws_destroy(kws_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kws_t *self = *self_p;
    nn_destroy(&self->net);
    phones_spotter_destroy(&self->ph);
    free(self->logits);
    free(self->logp);
    free(self->out);
    features_destroy(&self->feat);
    free(self->ring);
    free(self->window);
    free(self->frames);
    free(self);
    *self_p = NULL;
}

void
kws_reset(kws_t *self)
{
    /* until the first frame arrives the history is digital silence */
    for (int i = 0; i < self->win * self->n_mels; i++)
        self->ring[i] = self->floor_value;
    if (self->ph)
        phones_spotter_reset(self->ph);
    self->ring_at = 0;
    self->n_frames = 0;
    features_reset(self->feat);
    s_decider_reset(&self->dec);
}

/* Runs the CNN on the window ending at the newest frame. Returns 0 or -1. */
static int
s_run(kws_t *self)
{
    int m = self->n_mels;
    for (int f = 0; f < self->win; f++) {
        const float *src = self->ring + (size_t) ((self->ring_at + f) % self->win) * m;
        memcpy(self->window + (size_t) f * m, src, (size_t) m * sizeof *src);
    }
    kws_normalise(self->window, (size_t) self->win * (size_t) m, self->mean, self->inv_std);
    float *out = self->ph ? self->logits : self->n_fillers ? self->out : self->post;
    if (nn_forward(self->net, self->window, 1, out) != 0) {
        s_err(self, "%s", nn_error(self->net));
        return -1;
    }
    if (!self->ph && self->n_fillers)
        kws_merge_posteriors(self->out, self->n_fillers, self->post);
    return 0;
}

/* Takes n new frames. Returns the new hit count or -1. */
static int
s_frames(kws_t *self, const float *frames, size_t n, kws_hit_t *hits, int max_hits, int nh)
{
    int m = self->n_mels;
    double hop = (double) self->fc.hop_length / self->fc.sample_rate;
    double win = (double) self->fc.win_length / self->fc.sample_rate;
    for (size_t i = 0; i < n; i++) {
        /* Most training windows have noise, not digital silence, before the
         * speech: so the unheard past of a stream is taken to sound like its
         * first frame. Measured on short utterances at the start of a
         * stream, which the silence padding missed much more often. */
        if (self->n_frames == 0 && !self->opts.pad_silence)
            for (int f = 0; f < self->win; f++)
                memcpy(self->ring + (size_t) f * m, frames, (size_t) m * sizeof *frames);
        memcpy(self->ring + (size_t) self->ring_at * m, frames + i * (size_t) m,
               (size_t) m * sizeof *frames);
        self->ring_at = (self->ring_at + 1) % self->win;
        self->n_frames++;
        if (self->n_frames % self->opts.stride)
            continue;
        if (s_run(self) != 0)
            return -1;
        if (self->ph) {
            nh = s_phones_step(self, hits, max_hits, nh);
            continue;
        }
        double t = (double) (self->n_frames - 1) * hop + win;
        nh = s_decider_step(&self->dec, self->post, t, hits, max_hits, nh);
    }
    return nh;
}

int
kws_push(kws_t *self, const float *pcm, size_t n, kws_hit_t *hits, int max_hits)
{
    uint64_t t0 = shop_now_ns();
    double c0 = s_thread_cpu();
    int nh = 0;
    const size_t step = 16000;   /* bounded scratch however much is pushed */
    for (size_t at = 0; at < n; at += step) {
        size_t len = n - at < step ? n - at : step;
        size_t want = features_frames_pending(self->feat, len);
        if (want > self->frames_cap) {
            self->frames = xrealloc(self->frames, want * (size_t) self->n_mels * sizeof(float));
            self->frames_cap = want;
        }
        ssize_t got = features_push(self->feat, pcm + at, len, self->frames, self->frames_cap);
        if (got < 0) {
            s_err(self, "features_push failed");
            return -1;
        }
        nh = s_frames(self, self->frames, (size_t) got, hits, max_hits, nh);
        if (nh < 0)
            return -1;
    }
    self->audio_s += (double) n / self->fc.sample_rate;
    self->wall_s += (double) (shop_now_ns() - t0) / 1e9;
    self->cpu_s += s_thread_cpu() - c0;
    return nh;
}

/* Decides the phone spotter's open candidates at the end of a stream. */
static int
s_phones_close(kws_t *self, kws_hit_t *hits, int max_hits, int nh)
{
    double hop = (double) self->fc.hop_length / self->fc.sample_rate;
    phones_hit_t ph[16];
    int n = phones_spotter_close(self->ph, ph, 0, 16);
    for (int i = 0; i < n && nh < max_hits; i++) {
        double t = (double) (2 * ph[i].end + 2 - self->lookahead) * hop;
        hits[nh++] = (kws_hit_t) { ph[i].word, t > 0 ? t : 0, ph[i].confidence };
    }
    return nh;
}

int
kws_flush(kws_t *self, kws_hit_t *hits, int max_hits)
{
    uint64_t t0 = shop_now_ns();
    double c0 = s_thread_cpu();
    /* 400 ms more lets the model see a final word end: the stream's last
     * frame (its background) repeated, or digital silence */
    /* (a phone model: until its output has reached the last frame) */
    int TAIL = self->ph ? self->lookahead + 2 * self->opts.stride : 40;
    int m = self->n_mels;
    float *tail = xmalloc((size_t) TAIL * (size_t) m * sizeof *tail);
    const float *last = self->ring + (size_t) ((self->ring_at + self->win - 1) % self->win) * m;
    for (int f = 0; f < TAIL; f++)
        for (int k = 0; k < m; k++)
            tail[f * m + k] = self->opts.pad_silence || self->n_frames == 0 ? self->floor_value
                                                                            : last[k];
    int nh = s_frames(self, tail, (size_t) TAIL, hits, max_hits, 0);
    free(tail);
    if (nh >= 0 && self->ph)
        nh = s_phones_close(self, hits, max_hits, nh);
    else if (nh >= 0)
        nh = s_decider_close(&self->dec, hits, max_hits, nh);
    self->wall_s += (double) (shop_now_ns() - t0) / 1e9;
    self->cpu_s += s_thread_cpu() - c0;
    kws_reset(self);
    return nh;
}

int
kws_decode(kws_t *self, const float *pcm, size_t n, kws_hit_t *hits, int max_hits)
{
    kws_reset(self);
    int nh = 0;
    /* 100 ms pushes, as the microphone path feeds the spotter */
    for (size_t at = 0; at < n; at += 1600) {
        size_t len = n - at < 1600 ? n - at : 1600;
        int r = kws_push(self, pcm + at, len, hits + nh, max_hits - nh);
        if (r < 0)
            return -1;
        nh += r;
    }
    int r = kws_flush(self, hits + nh, max_hits - nh);
    return r < 0 ? -1 : nh + r;
}

int
kws_stride(const kws_t *self)
{
    return self->opts.stride;
}

bool
kws_in_word(const kws_t *self)
{
    return self->ph ? phones_spotter_busy(self->ph) : self->dec.cur >= 0;
}

bool
kws_belief(const kws_t *self, float *odds, float *power)
{
    if (!self || !self->has_belief)
        return false;
    *odds = self->belief_odds;
    *power = self->belief_power;
    return true;
}

bool
kws_wake_min(const kws_t *self, double *wake_min)
{
    if (!self || !self->has_wake_min)
        return false;
    *wake_min = self->wake_min;
    return true;
}

float
kws_threshold(const kws_t *self, int word)
{
    return word >= 0 && word < VOCAB_COUNT ? self->dec.thr[word] : -1.f;
}

void
kws_timing(const kws_t *self, double *audio_s, double *wall_s, double *cpu_s)
{
    if (audio_s)
        *audio_s = self->audio_s;
    if (wall_s)
        *wall_s = self->wall_s;
    if (cpu_s)
        *cpu_s = self->cpu_s;
}

const char *
kws_error(const kws_t *self)
{
    return self ? self->err : "no detector";
}

/* ---------------------------------------------------------------- self-test */

#define S_CHECK(cond)                                                               \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "kws_test: %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
            goto fail;                                                              \
        }                                                                           \
    } while (0)

int
kws_test(bool verbose)
{
    if (verbose)
        printf(" * kws: ");
    int rc = -1;
    kws_t *k = NULL, *k2 = NULL;
    nn_net_t *net = NULL;
    float *pcm = NULL;
    void *mem = NULL;

    /* decisions: a word rising and falling over several runs is reported
     * once, at its peak; a repeat within the refractory time is not */
    s_decider_t d;
    float thr[VOCAB_COUNT];
    for (int i = 0; i < VOCAB_COUNT; i++)
        thr[i] = 0.5f;
    s_decider_init(&d, 3, 0.5, thr);
    static const float shape[] = { 0, 0.2f, 0.7f, 0.9f, 1.0f, 0.9f, 0.6f, 0.1f, 0, 0, 0, 0 };
    kws_hit_t hits[8];
    int n = 0;
    for (int r = 0; r < 24; r++) {
        float post[VOCAB_COUNT] = { 0 };
        float p = r < 12 ? shape[r] : shape[r - 12];
        post[VOCAB_SHOW] = p;
        post[VOCAB_SILENCE] = 1 - p;
        /* the second rise is 0.36 s after the first: refractory */
        n = s_decider_step(&d, post, 0.03 * r, hits, 8, n);
    }
    n = s_decider_close(&d, hits, 8, n);
    S_CHECK(n == 1 && hits[0].word == VOCAB_SHOW);
    S_CHECK(fabs(hits[0].time - (0.03 * 5 - S_FIRE_DELAY)) < 1e-9);
    S_CHECK(fabsf(hits[0].confidence - (1.0f + 0.9f + 0.9f) / 3) < 1e-6f);
    /* two different words back to back are both reported, in order */
    s_decider_reset(&d);
    n = 0;
    for (int r = 0; r < 20; r++) {
        float post[VOCAB_COUNT] = { 0 };
        int w = r < 10 ? VOCAB_ADD : VOCAB_TWO;
        float p = shape[r % 10];
        post[w] = p;
        post[VOCAB_UNKNOWN] = 1 - p;
        n = s_decider_step(&d, post, 0.03 * r, hits, 8, n);
    }
    n = s_decider_close(&d, hits, 8, n);
    S_CHECK(n == 2 && hits[0].word == VOCAB_ADD && hits[1].word == VOCAB_TWO);
    S_CHECK(hits[0].time < hits[1].time);
    /* below threshold, _unknown_ and _silence_ report nothing */
    s_decider_reset(&d);
    n = 0;
    for (int r = 0; r < 20; r++) {
        float post[VOCAB_COUNT] = { 0 };
        post[VOCAB_CART] = 0.45f;
        post[VOCAB_UNKNOWN] = 0.55f;
        n = s_decider_step(&d, post, 0.03 * r, hits, 8, n);
    }
    S_CHECK(s_decider_close(&d, hits, 8, n) == 0);

    /* an untrained net with metadata: loads, streams, and gives the same
     * posteriors however the audio is chunked */
    net = kws_build_net(VOCAB_COUNT, 8, 1, 5);
    S_CHECK(net != NULL);
    /* the time head keeps the 24 time steps of the first block, one frequency */
    nn_shape_t es = nn_layer_shape(net, nn_find_layer(net, "embedding"));
    S_CHECK(es.c == 8 && es.h == 24 && es.w == 1);
    features_config_t fc;
    features_config_default(&fc);
    /* normalisation: (x - mean) / std */
    {
        float g[3] = { -5.f, -1.f, 3.f };
        kws_normalise(g, 3, -5.f, 0.25f);
        S_CHECK(g[0] == 0.f && g[1] == 1.f && g[2] == 2.f);
    }
    S_CHECK(kws_net_set_meta(net, &fc, -5.f, 4.f, thr, 3) == 0);
    S_CHECK(strcmp(nn_meta_get(net, "kws.norm"), "global") == 0);
    size_t len = 0;
    char err[256];
    mem = nn_save_mem(net, &len, err, sizeof err);
    S_CHECK(mem != NULL);
    nn_net_t *net2 = nn_load_mem(mem, len, err, sizeof err);
    free(mem);
    mem = NULL;
    S_CHECK(net2 != NULL);
    kws_opts_t o;
    kws_opts_default(&o);
    k = kws_new_from_net(&net, &o, err, sizeof err);
    k2 = kws_new_from_net(&net2, &o, err, sizeof err);
    S_CHECK(k != NULL && k2 != NULL && net == NULL);
    S_CHECK(k->opts.stride == 3 && k2->opts.stride == 3);   /* from kws.stride */
    S_CHECK(fabsf(kws_threshold(k, VOCAB_WAKE) - 0.5f) < 1e-6f && kws_threshold(k, -1) < 0);
    pcm = xmalloc(24000 * sizeof *pcm);
    for (int i = 0; i < 24000; i++)
        pcm[i] = 0.3f * sinf(0.05f * (float) i) * sinf(0.0007f * (float) i);
    S_CHECK(kws_push(k, pcm, 24000, hits, 8) >= 0);
    for (int at = 0; at < 24000; at += 777)
        S_CHECK(kws_push(k2, pcm + at, (size_t) (24000 - at < 777 ? 24000 - at : 777), hits,
                         8) >= 0);
    S_CHECK(k->n_frames == k2->n_frames && k->n_frames == 148);
    S_CHECK(memcmp(k->post, k2->post, sizeof k->post) == 0);
    double a, wl, c;
    kws_timing(k, &a, &wl, &c);
    S_CHECK(fabs(a - 1.5) < 1e-9 && wl > 0 && c > 0);
    /* a normalisation the detector does not know is refused */
    net = kws_build_net(VOCAB_COUNT, 8, 1, 5);
    S_CHECK(net != NULL && kws_net_set_meta(net, &fc, -5.f, 4.f, thr, 3) == 0
            && nn_meta_set(net, "kws.norm", "window") == 0);
    kws_destroy(&k2);
    k2 = kws_new_from_net(&net, &o, err, sizeof err);
    S_CHECK(k2 == NULL && strstr(err, "kws.norm") != NULL);
    /* a model for another vocabulary is refused */
    net = kws_build_net(VOCAB_COUNT - 1, 8, 1, 5);
    S_CHECK(net != NULL);
    kws_destroy(&k2);
    k2 = kws_new_from_net(&net, &o, err, sizeof err);
    S_CHECK(k2 == NULL && strstr(err, "vocabulary") != NULL);

    /* filler classes: merged into _unknown_, exactly */
    {
        float out[VOCAB_COUNT + 2], post[VOCAB_COUNT];
        for (int i = 0; i < VOCAB_COUNT + 2; i++)
            out[i] = (float) (i + 1) / 1024.f;
        kws_merge_posteriors(out, 2, post);
        S_CHECK(post[VOCAB_UNKNOWN] == (2.f + 40.f + 41.f) / 1024.f);
        S_CHECK(post[VOCAB_SILENCE] == 1.f / 1024.f && post[VOCAB_COUNT - 1] == 39.f / 1024.f);
        kws_merge_posteriors(out, 0, post);
        S_CHECK(memcmp(post, out, sizeof post) == 0);
    }
    S_CHECK(kws_filler_word_ok("up") && kws_filler_word_ok("go") && !kws_filler_word_ok("yes")
            && !kws_filler_word_ok("Up") && !kws_filler_word_ok("") && !kws_filler_word_ok("t-up")
            && !kws_filler_word_ok("abcdefghijklmnopqrstu"));
    /* a net with two: the metadata keeps their labels, the spotter loads
     * it, and its posteriors are the net's with the fillers merged */
    net = kws_build_net(VOCAB_COUNT + 2, 8, 1, 5);
    S_CHECK(net != NULL);
    {
        const char *lab[VOCAB_COUNT + 2];
        for (int i = 0; i < VOCAB_COUNT; i++)
            lab[i] = vocab_name(i);
        lab[VOCAB_COUNT] = KWS_FILLER_PREFIX "up";
        lab[VOCAB_COUNT + 1] = KWS_FILLER_PREFIX "off";
        S_CHECK(nn_set_labels(net, lab, VOCAB_COUNT + 2) == 0);
    }
    S_CHECK(kws_net_set_meta(net, &fc, -5.f, 4.f, thr, 3) == 0);
    S_CHECK(nn_num_labels(net) == VOCAB_COUNT + 2
            && strcmp(nn_label(net, VOCAB_COUNT + 1), "_filler_off") == 0);
    S_CHECK(kws_check_labels(net, err, sizeof err) == 2);
    mem = nn_save_mem(net, &len, err, sizeof err);
    S_CHECK(mem != NULL);
    kws_destroy(&k2);
    k2 = kws_new_from_net(&net, &o, err, sizeof err);
    S_CHECK(k2 != NULL && k2->n_fillers == 2);
    S_CHECK(kws_push(k2, pcm, 24000, hits, 8) >= 0);
    {
        float want[VOCAB_COUNT], sum = 0;
        kws_merge_posteriors(k2->out, 2, want);
        S_CHECK(memcmp(want, k2->post, sizeof want) == 0);
        for (int i = 0; i < VOCAB_COUNT; i++)
            sum += k2->post[i];
        S_CHECK(fabsf(sum - 1.f) < 1e-5f && k2->out[VOCAB_COUNT] > 0);
    }
    /* malformed filler labels are refused, the label named */
    static const char *const bad[][2] = {
        { "_filler_Up", "_filler_off" }, { "_filler_yes", "_filler_off" },
        { "_filler_", "_filler_off" },   { "up", "_filler_off" },
        { "_filler_off", "_filler_off" }, { "_filler_t-shirt", "_filler_off" },
    };
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        net = nn_load_mem(mem, len, err, sizeof err);
        S_CHECK(net != NULL);
        const char *lab[VOCAB_COUNT + 2];
        for (int i = 0; i < VOCAB_COUNT; i++)
            lab[i] = vocab_name(i);
        lab[VOCAB_COUNT] = bad[b][0];
        lab[VOCAB_COUNT + 1] = bad[b][1];
        S_CHECK(nn_set_labels(net, lab, VOCAB_COUNT + 2) == 0);
        kws_destroy(&k2);
        k2 = kws_new_from_net(&net, &o, err, sizeof err);
        S_CHECK(k2 == NULL && strstr(err, bad[b][0]) != NULL);
    }
    /* a label missing for an output is refused */
    net = nn_load_mem(mem, len, err, sizeof err);
    S_CHECK(net != NULL);
    {
        const char *lab[VOCAB_COUNT + 1];
        for (int i = 0; i < VOCAB_COUNT; i++)
            lab[i] = vocab_name(i);
        lab[VOCAB_COUNT] = "_filler_up";
        S_CHECK(nn_set_labels(net, lab, VOCAB_COUNT + 1) == 0);
    }
    k2 = kws_new_from_net(&net, &o, err, sizeof err);
    S_CHECK(k2 == NULL && strstr(err, "42 labels for 41 outputs") == NULL
            && strstr(err, "40 labels for 41 outputs") != NULL);
    free(mem);
    mem = NULL;
    rc = 0;
    if (verbose)
        printf("OK\n");
fail:
    free(mem);
    free(pcm);
    nn_destroy(&net);
    kws_destroy(&k);
    kws_destroy(&k2);
    return rc;
}
