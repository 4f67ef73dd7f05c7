/* audio/phones_train.c: the phone model's training (see phones_train.h).
 *
 * Examples are whole utterances: a synthetic clip whose speech fits in
 * 1.5 s (single words, short commands and the command prefixes the corpus
 * holds, non-command speech), a real recording (Speech Commands: 1 s; FSDD
 * digits), or noise alone (no phones). Each is placed at a random offset
 * in a 1.6 s window, reverberated (half of them), mixed with training noise
 * at -3..30 dB SNR (a tenth at 40-60 dB) and scaled to a peak of -40..-1
 * dBFS, then turned into log-mel frames by the detector's features module.
 * Its label is the phones of its text (espeak-ng, American English). Every
 * epoch masks bands and frames anew (SpecAugment). Validation (the epoch
 * kept, the thresholds): the corpus's validation voices and the real
 * calibration speakers; the real validation speakers are never read. */
#include "audio/phones_train.h"
#include "audio/train.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/corpus.h"
#include "audio/ctc.h"
#include "audio/features.h"
#include "audio/kws.h"
#include "audio/phones.h"
#include "audio/realdata.h"
#include "audio/vocab.h"
#include "common/util.h"
#include "nn/nn.h"

#define S_T PHONES_TRAIN_FRAMES
#define S_TOUT (S_T / 2)
#define S_WIN ((S_T - 1) * 160 + 400)  /* samples giving S_T frames */
#define S_MAXPH 48
#define S_MAXW 8                        /* vocabulary words per example */

bool
phones_speaker_is_calibration(const char *speaker)
{
    return real_speaker_hash(speaker) % 8 == 1;
}

/* ---------------------------------------------------------------- lexicon */

typedef struct {
    char (*word)[32];
    int (*ph)[PHONES_MAX_WORD];
    int *n;
    int count, cap;
} s_lex_t;

/* Phones of one lower-case word, espeak-ng asked once per word. */
static int
s_word_phones(s_lex_t *lx, const char *w, int *out, char *err, size_t errlen)
{
    for (int i = 0; i < lx->count; i++)
        if (strcmp(lx->word[i], w) == 0) {
            memcpy(out, lx->ph[i], (size_t) lx->n[i] * sizeof *out);
            return lx->n[i];
        }
    int n = phones_of_text(w, out, PHONES_MAX_WORD, err, errlen);
    if (n < 0)
        return -1;
    if (lx->count == lx->cap) {
        lx->cap = lx->cap ? 2 * lx->cap : 256;
        lx->word = xrealloc(lx->word, (size_t) lx->cap * sizeof *lx->word);
        lx->ph = xrealloc(lx->ph, (size_t) lx->cap * sizeof *lx->ph);
        lx->n = xrealloc(lx->n, (size_t) lx->cap * sizeof *lx->n);
    }
    snprintf(lx->word[lx->count], sizeof lx->word[0], "%s", w);
    memcpy(lx->ph[lx->count], out, (size_t) n * sizeof *out);
    lx->n[lx->count++] = n;
    return n;
}

/* Phones of a text (words split at spaces, lower-cased) into out; the
 * vocabulary words it says into words (up to S_MAXW, -1 terminated).
 * Returns the phone count or -1. */
static int
s_text_phones(s_lex_t *lx, const char *text, int *out, int *words, char *err, size_t errlen)
{
    char buf[CORPUS_MAX_TEXT];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *c = buf; *c; c++)
        *c = (char) tolower((unsigned char) *c);
    int n = 0, nw = 0, tmp[PHONES_MAX_WORD];
    char *save = NULL;
    char prev[32] = "";
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        int k = s_word_phones(lx, tok, tmp, err, errlen);
        if (k < 0)
            return -1;
        if (n + k > S_MAXPH)
            break;
        memcpy(out + n, tmp, (size_t) k * sizeof *tmp);
        n += k;
        /* two words that are one vocabulary word: "tee shirt", "shop wise" */
        char pair[80];
        snprintf(pair, sizeof pair, "%s %s", prev, tok);
        int v = prev[0] && nw > 0 ? vocab_find(pair) : -1;
        if (v >= 0 && vocab_is_keyword(v))
            words[nw - 1] = v;
        else if (nw < S_MAXW) {
            v = vocab_find(tok);
            words[nw++] = v >= 0 && vocab_is_keyword(v) ? v : -2;
        }
        snprintf(prev, sizeof prev, "%s", tok);
    }
    int m = 0;
    for (int i = 0; i < nw; i++)
        if (words[i] >= 0)
            words[m++] = words[i];
    if (m < S_MAXW)
        words[m] = -1;
    return n;
}

/* ---------------------------------------------------------------- examples */

typedef struct {
    int src;                   /* -1 noise alone, 0 corpus clip, 1 real recording */
    int clip;
    int nph;
    int ph[S_MAXPH];
    int words[S_MAXW];         /* vocabulary words said, -1 terminated */
} s_ex_t;

typedef struct {
    s_ex_t *v;
    int n, cap;
} s_exs_t;

static s_ex_t *
s_add(s_exs_t *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4096;
        l->v = xrealloc(l->v, (size_t) l->cap * sizeof *l->v);
    }
    s_ex_t *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    e->words[0] = -1;
    return e;
}

typedef struct {
    real_t *set;
    int n;
    float **pcm;
    size_t *len;
} s_real_t;

typedef struct {
    const corpus_t *corpus;
    const s_real_t *real;
    const s_exs_t *l;
    uint64_t seed;
    float *x;
    int next;
    pthread_mutex_t mu;
    int failed;
} s_job_t;

/* Renders example e into S_T x n_mels frames at x. */
static int
s_make(const s_job_t *job, corpus_mixer_t *m, features_t *feat, float *clip, const s_ex_t *e,
       float *win, float *noise, float *x)
{
    memset(win, 0, S_WIN * sizeof *win);
    if (e->src >= 0) {
        const float *src;
        int a, b;
        if (e->src == 0) {
            const corpus_clip_t *c = corpus_clip(job->corpus, e->clip);
            corpus_clip_pcm(job->corpus, e->clip, clip);
            a = c->onset > 1600 ? c->onset - 1600 : 0;
            b = c->n;
            src = clip;
        } else {
            src = job->real->pcm[e->clip];
            a = 0;
            b = (int) job->real->len[e->clip];
        }
        if (b - a > S_WIN - 1600)
            b = a + S_WIN - 1600;
        int off = (int) corpus_mixer_uniform(m, 800.f, (float) (S_WIN - (b - a) - 800));
        memcpy(win + off, src + a, (size_t) (b - a) * sizeof *win);
        if (corpus_mixer_uniform(m, 0, 1) < 0.5f)
            corpus_mixer_reverb(m, win, S_WIN);
        float snr = corpus_mixer_uniform(m, 0, 1) < 0.1f ? corpus_mixer_uniform(m, 40, 60)
                                                         : corpus_mixer_uniform(m, -3, 30);
        corpus_mixer_noise(m, corpus_mixer_pick_noise(m), noise, S_WIN);
        if (corpus_peak_frame_power(win, S_WIN) > 0)
            corpus_add_at_snr(win, noise, S_WIN, snr);
        else
            memcpy(win, noise, S_WIN * sizeof *win);
    } else {
        corpus_mixer_noise(m, corpus_mixer_pick_noise(m), win, S_WIN);
    }
    float peak = 0;
    for (int i = 0; i < S_WIN; i++)
        peak = fmaxf(peak, fabsf(win[i]));
    float db = corpus_mixer_uniform(m, -40, -1);
    float g = peak > 0 ? powf(10.f, db / 20.f) / peak : 0;
    for (int i = 0; i < S_WIN; i++)
        win[i] = fmaxf(-1.f, fminf(1.f, win[i] * g));
    features_reset(feat);
    return features_push(feat, win, S_WIN, x, S_T) == S_T ? 0 : -1;
}

#define S_CHUNK 512

static void *
s_render_worker(void *arg)
{
    s_job_t *job = arg;
    features_config_t fc;
    features_config_default(&fc);
    features_t *feat = features_new(&fc);
    int maxn = S_WIN;
    if (job->corpus)
        for (int i = 0; i < corpus_count(job->corpus); i++)
            maxn = SHOP_MAX(maxn, corpus_clip(job->corpus, i)->n);
    float *clip = xmalloc((size_t) maxn * sizeof *clip);
    float *win = xmalloc(S_WIN * sizeof *win), *noise = xmalloc(S_WIN * sizeof *noise);
    size_t per = (size_t) S_T * (size_t) fc.n_mels;
    for (;;) {
        pthread_mutex_lock(&job->mu);
        int c = job->next++;
        pthread_mutex_unlock(&job->mu);
        if (c * S_CHUNK >= job->l->n)
            break;
        corpus_mixer_t *m = corpus_mixer_new(job->corpus, CORPUS_TRAIN,
                                             job->seed * 1000003ULL + (uint64_t) c);
        for (int i = c * S_CHUNK; i < SHOP_MIN(job->l->n, (c + 1) * S_CHUNK); i++)
            if (s_make(job, m, feat, clip, &job->l->v[i], win, noise, job->x + (size_t) i * per))
                job->failed = 1;
        corpus_mixer_destroy(&m);
    }
    free(clip);
    free(win);
    free(noise);
    features_destroy(&feat);
    return NULL;
}

static int
s_render(const corpus_t *corpus, const s_real_t *real, const s_exs_t *l, uint64_t seed,
         int threads, float *x)
{
    s_job_t job = { .corpus = corpus, .real = real, .l = l, .seed = seed, .x = x };
    pthread_mutex_init(&job.mu, NULL);
    pthread_t tid[8];
    int nt = SHOP_MAX(1, SHOP_MIN(threads, 8));
    for (int t = 1; t < nt; t++)
        pthread_create(&tid[t], NULL, s_render_worker, &job);
    s_render_worker(&job);
    for (int t = 1; t < nt; t++)
        pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&job.mu);
    return job.failed ? -1 : 0;
}

/* ---------------------------------------------------------------- net */

static nn_net_t *
s_build_net(int ch, uint64_t seed)
{
    nn_net_t *net = nn_new(seed);
    int x = nn_input(net, (nn_shape_t) { 1, S_T, 40 });
    /* 10 ms -> 20 ms frames, 40 -> 20 bands */
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, ch, 5, 5, 2, 2, 2, 2, false)));
    for (int b = 0; b < 3; b++) {
        int sw = b == 1 ? 1 : 2;   /* 20 -> 10 -> 10 -> 5 bands */
        x = nn_relu(net, nn_batchnorm(net, nn_depthwise(net, x, 3, 3, 1, sw, 1, 1, false)));
        x = nn_relu(net, nn_batchnorm(net, nn_pointwise(net, x, ch, false)));
    }
    nn_shape_t sh = nn_layer_shape(net, x);
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, 2 * ch, 1, sh.w, 1, 1, 0, 0, false)));
    /* time context: two depthwise 9 x 1 (+-80 ms each at 20 ms) */
    for (int b = 0; b < 2; b++) {
        x = nn_relu(net, nn_batchnorm(net, nn_depthwise(net, x, 9, 1, 1, 1, 4, 0, false)));
        x = nn_relu(net, nn_batchnorm(net, nn_pointwise(net, x, 2 * ch, false)));
    }
    x = nn_dropout(net, x, 0.1f);
    x = nn_pointwise(net, x, PHONES_CLASSES, true);
    if (x < 0)
        nn_destroy(&net);
    return net;
}

/* ---------------------------------------------------------------- loss */

typedef struct {
    const s_exs_t *tr, *va;
} s_loss_ctx_t;

static double
s_ctc(const float *out, int n, int size, const int *idx, bool val, float scale, float *grad,
      void *user)
{
    const s_loss_ctx_t *c = user;
    const s_exs_t *l = val ? c->va : c->tr;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const s_ex_t *e = &l->v[idx[i]];
        double lo = ctc_loss(out + (size_t) i * size, S_TOUT, PHONES_CLASSES, PHONES_BLANK, e->ph,
                             e->nph, scale, grad ? grad + (size_t) i * size : NULL);
        if (isfinite(lo))
            sum += lo;
    }
    return sum;
}

static void
s_augment(float *x, int n, const nn_shape_t *shape, uint64_t *rng, void *user)
{
    (void) user;
    int T = shape->h, F = shape->w;
    for (int i = 0; i < n; i++) {
        float *s = x + (size_t) i * (size_t) (T * F);
        for (int m = 0; m < 2; m++) {
            audio_mask_bands(s, T, F, rng);
            audio_mask_frames(s, T, F, 0.4f, rng);
        }
    }
}

static void
s_progress(const nn_epoch_t *e, void *user)
{
    (void) user;
    fprintf(stderr, "phones: epoch %d loss %.4f val_loss %.4f (%.0f s, %.0f ex/s)\n", e->epoch,
            (double) e->loss, (double) e->val_loss, e->seconds, e->images_per_s);
}

/* ---------------------------------------------------------------- measures */

static bool
s_says(const s_ex_t *e, int w)
{
    for (int i = 0; i < S_MAXW && e->words[i] >= 0; i++)
        if (e->words[i] == w)
            return true;
    return false;
}

/* True when the example's phones hold the word's phones in a row: a
 * homophone ("to" for "two") or a word inside another ("one" in "someone"),
 * which no acoustic match can reject, so never a negative of the word. */
static bool
s_holds(const s_ex_t *e, const phones_lexicon_t *lex, int w)
{
    int n = lex->n[w];
    for (int i = 0; i + n <= e->nph; i++)
        if (memcmp(e->ph + i, lex->ph[w], (size_t) n * sizeof *e->ph) == 0)
            return true;
    return false;
}

/* Phone error rate of the validation examples (greedy decoding) by source,
 * and per-word thresholds: the word's peak confidence that a fraction
 * fa_rate of the validation examples not saying it (nor its phones in a
 * row) reach. */
static void
s_measure(nn_net_t *net, const float *xv, const s_exs_t *va, size_t per,
          const phones_lexicon_t *lex, float fa_rate, float thr_min, float *thr)
{
    int K = PHONES_CLASSES, size = K * S_TOUT;
    float *out = xmalloc((size_t) 32 * (size_t) size * sizeof *out);
    float *peaks = xmalloc((size_t) va->n * 64 * sizeof *peaks);
    float one[64], lp[PHONES_CLASSES];
    long err[3] = { 0 }, tot[3] = { 0 };
    float big[64];
    for (int w = 0; w < 64; w++)
        big[w] = 2.f;   /* above any confidence: peaks only, no reports */
    phones_spotter_t *sp = phones_spotter_new(lex, big, 8, 20);
    for (int i = 0; i < va->n; i += 32) {
        int b = SHOP_MIN(32, va->n - i);
        nn_forward(net, xv + (size_t) i * per, b, out);
        for (int j = 0; j < b; j++) {
            const s_ex_t *e = &va->v[i + j];
            const float *o = out + (size_t) j * size;
            int hyp[S_TOUT];
            int nh = ctc_greedy(o, S_TOUT, K, PHONES_BLANK, hyp, S_TOUT);
            int src = e->src < 0 ? 2 : e->src;
            err[src] += ctc_edit_distance(e->ph, e->nph, hyp, nh);
            tot[src] += e->nph ? e->nph : 0;
            phones_spotter_reset(sp);
            for (int t = 0; t < S_TOUT; t++) {
                phones_log_softmax(o, S_TOUT, K, t, lp);
                phones_spotter_frame(sp, lp, NULL, 0, 0);
            }
            phones_spotter_peaks(sp, one);
            memcpy(peaks + (size_t) (i + j) * 64, one, sizeof one);
        }
    }
    phones_spotter_destroy(&sp);
    fprintf(stderr, "phones: validation phone error rate: synthetic voices %.3f (%ld phones), "
                    "real calibration speakers %.3f (%ld phones)\n",
            tot[0] ? (double) err[0] / (double) tot[0] : 0.0, tot[0],
            tot[1] ? (double) err[1] / (double) tot[1] : 0.0, tot[1]);
    float *neg = xmalloc((size_t) va->n * sizeof *neg);
    for (int w = 0; w < VOCAB_COUNT; w++) {
        thr[w] = 0.99f;
        if (!lex->n[w])
            continue;
        int m = 0, pos = 0, acc = 0;
        for (int i = 0; i < va->n; i++)
            if (!s_says(&va->v[i], w) && !s_holds(&va->v[i], lex, w))
                neg[m++] = peaks[(size_t) i * 64 + w];
        float q = audio_fa_score(neg, m, fa_rate);
        thr[w] = fminf(0.99f, fmaxf(thr_min, q + 0.01f));
        for (int i = 0; i < va->n; i++)
            if (s_says(&va->v[i], w)) {
                pos++;
                acc += peaks[(size_t) i * 64 + w] >= thr[w];
            }
        fprintf(stderr, "phones: %-10s threshold %.3f, validation examples saying it above: "
                        "%d of %d\n", vocab_name(w), (double) thr[w], acc, pos);
    }
    free(neg);
    free(out);
    free(peaks);
}

/* ---------------------------------------------------------------- run */

static void s_free_real(s_real_t *r);

/* --calibrate: the model's thresholds anew from the validation examples;
 * frees what phones_train_run made. Returns 0 or -1. */
static int
s_recalibrate(const phones_train_opts_t *o, corpus_t *corpus, s_real_t *real, s_exs_t *va,
              const phones_lexicon_t *lex, s_lex_t *lx, s_exs_t *tr, char *err, size_t errlen)
{
    int rc = -1;
    size_t per = (size_t) S_T * 40;
    float *xv = malloc((size_t) va->n * per * sizeof *xv);
    float mean, std;
    nn_net_t *net = audio_load_with_stats(o->calibrate, &mean, &std, err, errlen);
    const char *u = net ? nn_meta_get(net, "kws.units") : NULL;
    const char *st = net ? nn_meta_get(net, "kws.stride") : NULL;
    if (!xv || !net || !u || strcmp(u, "phones") != 0 || !st) {
        if (net)
            snprintf(err, errlen, "%s is not a phone model", o->calibrate);
        else if (!xv)
            snprintf(err, errlen, "out of memory for %d examples", va->n);
        goto out;
    }
    if (s_render(corpus, real, va, o->seed + 7777, o->threads, xv) != 0) {
        snprintf(err, errlen, "feature extraction failed");
        goto out;
    }
    kws_normalise(xv, (size_t) va->n * per, mean, 1.f / std);
    float thr[VOCAB_COUNT];
    s_measure(net, xv, va, per, lex, o->fa_rate, o->thr_min, thr);
    for (int w = 0; w < VOCAB_COUNT; w++)
        if (!vocab_is_keyword(w))
            thr[w] = 1.f;
    char buf[VOCAB_COUNT * 12 + 16], prov[2048];
    size_t at = 0;
    for (int i = 0; i < VOCAB_COUNT; i++)
        at += (size_t) snprintf(buf + at, sizeof buf - at, "%s%.3f", i ? "," : "", (double) thr[i]);
    const char *old = nn_meta_get(net, "provenance");
    snprintf(prov, sizeof prov, "%s; thresholds recalibrated at --fa-rate %g --thr-min %g by "
             "shop-train audio-phones --calibrate", old ? old : "", (double) o->fa_rate,
             (double) o->thr_min);
    if (nn_meta_set(net, "kws.thresholds", buf) != 0 || nn_meta_set(net, "provenance", prov) != 0
        || nn_save(net, o->out, err, errlen) != 0)
        goto out;
    printf("phones: wrote %s with new thresholds\n", o->out);
    rc = 0;
out:
    free(xv);
    nn_destroy(&net);
    free(tr->v);
    free(va->v);
    free(lx->word);
    free(lx->ph);
    free(lx->n);
    s_free_real(real);
    corpus_destroy(&corpus);
    return rc;
}

static int
s_load_real(const char *dir, s_real_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->set = real_open(dir, err, errlen);
    if (!r->set)
        return -1;
    r->n = real_count(r->set);
    r->pcm = xcalloc((size_t) r->n, sizeof *r->pcm);
    r->len = xcalloc((size_t) r->n, sizeof *r->len);
    for (int i = 0; i < r->n; i++) {
        /* the validation speakers are never decoded */
        if (real_clip(r->set, i)->validation)
            continue;
        if (real_clip_pcm(r->set, i, &r->pcm[i], &r->len[i], err, errlen) != 0)
            return -1;
    }
    return 0;
}

static void
s_free_real(s_real_t *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->pcm[i]);
    free(r->pcm);
    free(r->len);
    real_destroy(&r->set);
}

int
phones_train_run(const phones_train_opts_t *o, char *err, size_t errlen)
{
    nn_blas_init();
    corpus_t *corpus = NULL;
    s_real_t real = { 0 };
    s_lex_t lx = { 0 };
    s_exs_t tr = { 0 }, va = { 0 };
    float *xt = NULL, *xv = NULL;
    nn_net_t *net = NULL;
    nn_history_t hist = { 0 };
    int rc = -1;
    if (o->corpus_dir && !(corpus = corpus_open(o->corpus_dir, err, errlen)))
        return -1;
    if (o->real_dir && s_load_real(o->real_dir, &real, err, errlen) != 0)
        goto done;
    /* synthetic clips whose speech fits */
    int nsyn = 0;
    for (int i = 0; corpus && i < corpus_count(corpus); i++) {
        const corpus_clip_t *c = corpus_clip(corpus, i);
        int onset = c->onset > 1600 ? c->onset - 1600 : 0;
        if (c->split != CORPUS_TRAIN || c->n - onset > S_WIN - 1600)
            continue;
        bool val = corpus_voice_is_validation(c->engine, c->voice);
        if (!val && o->limit > 0 && nsyn >= o->limit)
            continue;
        nsyn += !val;
        for (int k = 0; k < (val ? 1 : o->copies); k++) {
            s_ex_t *e = s_add(val ? &va : &tr);
            e->src = 0;
            e->clip = i;
            if ((e->nph = s_text_phones(&lx, c->text, e->ph, e->words, err, errlen)) < 0)
                goto done;
        }
    }
    for (int i = 0; i < real.n; i++) {
        const real_clip_t *rc2 = real_clip(real.set, i);
        if (rc2->validation)
            continue;
        bool cal = phones_speaker_is_calibration(rc2->speaker);
        int copies = cal ? 1 : rc2->source == REAL_FSDD ? o->fsdd_copies : o->real_copies;
        for (int k = 0; k < copies; k++) {
            s_ex_t *e = s_add(cal ? &va : &tr);
            e->src = rc2->vocab == VOCAB_SILENCE ? -1 : 1;
            e->clip = i;
            if (e->src == 1 && (e->nph = s_text_phones(&lx, rc2->word, e->ph, e->words, err,
                                                       errlen)) < 0)
                goto done;
            if (e->src == -1) {
                /* the recorded noise itself, not a generated one */
                e->src = 1;
                e->nph = 0;
            }
        }
    }
    /* noise alone: 5 % */
    for (int k = tr.n / 19; k > 0; k--)
        s_add(&tr)->src = -1;
    for (int k = va.n / 19; k > 0; k--)
        s_add(&va)->src = -1;
    if (tr.n == 0 || va.n == 0) {
        snprintf(err, errlen, "no training or validation examples");
        goto done;
    }
    /* the vocabulary's pronunciations */
    phones_lexicon_t lex;
    memset(&lex, 0, sizeof lex);
    for (int w = 0; w < VOCAB_COUNT; w++) {
        if (!vocab_is_keyword(w))
            continue;
        int n = phones_of_text(vocab_name(w), lex.ph[w], PHONES_MAX_WORD, err, errlen);
        if (n <= 0)
            goto done;
        lex.n[w] = n;
    }
    char lexs[4096];
    phones_lexicon_format(&lex, lexs, sizeof lexs);
    fprintf(stderr, "phones: %d training and %d validation examples, %d words known\n"
                    "phones: %s\n", tr.n, va.n, lx.count, lexs);

    features_config_t fc;
    features_config_default(&fc);
    size_t per = (size_t) S_T * (size_t) fc.n_mels;
    if (o->calibrate)
        return s_recalibrate(o, corpus, &real, &va, &lex, &lx, &tr, err, errlen);
    xt = malloc((size_t) tr.n * per * sizeof *xt);
    xv = malloc((size_t) va.n * per * sizeof *xv);
    if (!xt || !xv) {
        snprintf(err, errlen, "out of memory for %d examples", tr.n + va.n);
        goto done;
    }
    uint64_t t0 = shop_now_ns();
    if (s_render(corpus, &real, &tr, o->seed, o->threads, xt) != 0
        || s_render(corpus, &real, &va, o->seed + 7777, o->threads, xv) != 0) {
        snprintf(err, errlen, "feature extraction failed");
        goto done;
    }
    double render_s = (double) (shop_now_ns() - t0) / 1e9;
    size_t total = (size_t) tr.n * per;
    float mean, std;
    audio_input_stats(xt, total, &mean, &std);
    if (o->init) {
        /* go on from a phone model: its weights expect its input statistics */
        net = audio_load_with_stats(o->init, &mean, &std, err, errlen);
        const char *u = net ? nn_meta_get(net, "kws.units") : NULL;
        if (net && (!u || strcmp(u, "phones") != 0)) {
            snprintf(err, errlen, "--init %s: not a phone model", o->init);
            goto done;
        }
        if (!net)
            goto done;
    } else {
        net = s_build_net(o->channels, o->seed);
    }
    if (!net) {
        snprintf(err, errlen, "cannot build the net");
        goto done;
    }
    kws_normalise(xt, total, mean, 1.f / std);
    kws_normalise(xv, (size_t) va.n * per, mean, 1.f / std);
    nn_set_threads(net, o->threads);
    nn_print_summary(net);
    fprintf(stderr, "phones: %zu parameters, %.1f MFLOP per window, %.0f s features\n",
            nn_num_params(net), nn_flops_per_sample(net) / 1e6, render_s);
    nn_shape_t shape = nn_input_shape(net);
    s_loss_ctx_t ctx = { .tr = &tr, .va = &va };
    nn_data_t dtr = { .x = xt, .n = tr.n, .shape = shape, .augment = s_augment };
    nn_data_t dva = { .x = xv, .n = va.n, .shape = shape };
    nn_train_opts_t to;
    nn_train_opts_default(&to);
    to.epochs = o->epochs;
    to.batch = o->batch;
    to.optimizer = NN_ADAMW;
    to.lr = o->lr;
    to.weight_decay = 1e-4f;
    to.seed = o->seed;
    to.val = &dva;
    to.threads = o->threads;
    to.verbose = 2;
    to.progress = s_progress;
    to.loss = s_ctc;
    to.loss_user = &ctx;
    t0 = shop_now_ns();
    if (nn_train(net, &dtr, &to, &hist, err, errlen) != 0)
        goto done;
    double train_s = (double) (shop_now_ns() - t0) / 1e9;
    float thr[VOCAB_COUNT];
    s_measure(net, xv, &va, per, &lex, o->fa_rate, o->thr_min, thr);
    for (int w = 0; w < VOCAB_COUNT; w++)
        if (!vocab_is_keyword(w))
            thr[w] = 1.f;
    char la[16], prov[1536];
    snprintf(la, sizeof la, "%d", o->lookahead);
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(prov, sizeof prov,
             "shop-train audio-phones%s%s%s%s --epochs %d --copies %d --real-copies %d "
             "--fsdd-copies %d --channels %d --batch %d --lr %g --seed %llu --stride %d "
             "--lookahead %d --fa-rate %g --thr-min %g%s%s; %d train / %d val examples; best "
             "epoch %d, val CTC loss %.4f; %.0f s features, %.0f s training; %s",
             o->corpus_dir ? " --corpus " : "", o->corpus_dir ? o->corpus_dir : "",
             o->real_dir ? " --real-data " : "", o->real_dir ? o->real_dir : "", o->epochs,
             o->copies, o->real_copies, o->fsdd_copies, o->channels, o->batch, (double) o->lr,
             (unsigned long long) o->seed, o->stride, o->lookahead, (double) o->fa_rate,
             (double) o->thr_min, o->init ? " --init " : "", o->init ? o->init : "", tr.n, va.n,
             hist.best_epoch, hist.best_epoch ? (double) hist.epochs[hist.best_epoch - 1].val_loss : 0.0,
             render_s, train_s, when);
    if (kws_net_set_meta(net, &fc, mean, std, thr, o->stride) != 0
        || nn_meta_set(net, "arch", "phone-ctc-cnn") != 0
        || nn_meta_set(net, "kws.frames", "160") != 0
        || nn_meta_set(net, "kws.units", "phones") != 0
        || nn_meta_set(net, "kws.phones", lexs) != 0
        || nn_meta_set(net, "kws.lookahead", la) != 0
        || nn_meta_set(net, "provenance", prov) != 0 || nn_save(net, o->out, err, errlen) != 0) {
        if (!err[0])
            snprintf(err, errlen, "cannot write %s: %s", o->out, nn_error(net));
        goto done;
    }
    printf("phones: wrote %s (best epoch %d of %d, %.0f s training)\n", o->out, hist.best_epoch,
           hist.n, train_s);
    rc = 0;
done:
    nn_history_free(&hist);
    nn_destroy(&net);
    free(xt);
    free(xv);
    free(tr.v);
    free(va.v);
    free(lx.word);
    free(lx.ph);
    free(lx.n);
    s_free_real(&real);
    corpus_destroy(&corpus);
    return rc;
}

int
phones_eval_run(const char *model, const char *real_dir, char *err, size_t errlen)
{
    nn_blas_init();
    nn_net_t *net = nn_load(model, err, errlen);
    if (!net)
        return -1;
    const char *units = nn_meta_get(net, "kws.units");
    const char *m = nn_meta_get(net, "kws.mean"), *d = nn_meta_get(net, "kws.std");
    nn_shape_t in = nn_input_shape(net);
    if (!units || strcmp(units, "phones") != 0 || !m || !d || in.h != S_T) {
        snprintf(err, errlen, "%s is not a phone model", model);
        nn_destroy(&net);
        return -1;
    }
    float mean = strtof(m, NULL), inv = 1.f / strtof(d, NULL);
    real_t *set = real_open(real_dir, err, errlen);
    if (!set) {
        nn_destroy(&net);
        return -1;
    }
    features_config_t fc;
    features_config_default(&fc);
    features_t *feat = features_new(&fc);
    s_lex_t lx = { 0 };
    float *win = xmalloc(S_WIN * sizeof *win), *x = xmalloc((size_t) S_T * 40 * sizeof *x);
    float *out = xmalloc((size_t) PHONES_CLASSES * S_TOUT * sizeof *out);
    char cls[64][16];
    long cerr[64] = { 0 }, ctot[64] = { 0 }, serr[2] = { 0 }, stot[2] = { 0 };
    int ncls = 0, rc = 0;
    uint64_t rng = 12345;
    for (int i = 0; i < real_count(set) && rc == 0; i++) {
        const real_clip_t *c = real_clip(set, i);
        if (!c->validation || c->vocab == VOCAB_SILENCE)
            continue;
        float *pcm;
        size_t n;
        int ph[S_MAXPH], words[S_MAXW];
        if (real_clip_pcm(set, i, &pcm, &n, err, errlen) != 0) {
            rc = -1;
            break;
        }
        int nph = s_text_phones(&lx, c->word, ph, words, err, errlen);
        if (nph < 0) {
            free(pcm);
            rc = -1;
            break;
        }
        /* the clip in the middle, white noise at its quietest frame's level around it */
        double q = 1e30;
        for (size_t a = 0; a + 400 <= n; a += 160) {
            double e = 0;
            for (size_t k = 0; k < 400; k++)
                e += (double) pcm[a + k] * pcm[a + k];
            q = fmin(q, e / 400);
        }
        float sd = (float) sqrt(q < 1e29 ? q : 0);
        for (int k = 0; k < S_WIN; k++)
            win[k] = sd * 1.7320508f * (2.f * nn_rand_float(&rng) - 1.f);
        size_t len = n < (size_t) S_WIN ? n : (size_t) S_WIN;
        memcpy(win + (S_WIN - len) / 2, pcm, len * sizeof *win);
        free(pcm);
        features_reset(feat);
        if (features_push(feat, win, S_WIN, x, S_T) != S_T || (kws_normalise(x, (size_t) S_T * 40, mean, inv), 0)
            || nn_forward(net, x, 1, out) != 0) {
            snprintf(err, errlen, "features or forward failed");
            rc = -1;
            break;
        }
        int hyp[S_TOUT];
        int nh = ctc_greedy(out, S_TOUT, PHONES_CLASSES, PHONES_BLANK, hyp, S_TOUT);
        int e = ctc_edit_distance(ph, nph, hyp, nh);
        if (getenv("SHOP_EVAL_VERBOSE")) {
            fprintf(stderr, "phones: [%s] %s:", c->speaker, c->word);
            for (int k2 = 0; k2 < nh; k2++)
                fprintf(stderr, " %s", phones_name(hyp[k2]));
            fprintf(stderr, " (%d errors of %d)\n", e, nph);
        }
        int src = c->source == REAL_FSDD ? 1 : 0;
        serr[src] += e;
        stot[src] += nph;
        const char *name = src ? "fsdd" : c->cls;
        int k;
        for (k = 0; k < ncls && strcmp(cls[k], name) != 0; k++)
            ;
        if (k == ncls && ncls < 64)
            snprintf(cls[ncls++], sizeof cls[0], "%s", name);
        if (k < 64) {
            cerr[k] += e;
            ctot[k] += nph;
        }
    }
    if (rc == 0) {
        printf("{\"per_speech_commands\": %.4f, \"phones_speech_commands\": %ld, "
               "\"per_fsdd\": %.4f, \"phones_fsdd\": %ld, \"per_class\": {",
               stot[0] ? (double) serr[0] / (double) stot[0] : 0.0, stot[0],
               stot[1] ? (double) serr[1] / (double) stot[1] : 0.0, stot[1]);
        for (int k = 0; k < ncls; k++)
            printf("%s\"%s\": %.4f", k ? ", " : "", cls[k],
                   ctot[k] ? (double) cerr[k] / (double) ctot[k] : 0.0);
        printf("}}\n");
    }
    free(win);
    free(x);
    free(out);
    free(lx.word);
    free(lx.ph);
    free(lx.n);
    features_destroy(&feat);
    real_destroy(&set);
    nn_destroy(&net);
    return rc;
}
