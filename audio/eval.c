/* audio/eval.c: the work of `shop-eval audio` (its options are parsed in
 * tools/audio.c): the speech-to-intent measures, after
 * Picovoice's speech-to-intent benchmark, and the real-speech measures of
 * audio/realdata.h.
 *
 * - Command acceptance: command utterances of the held-out test voices,
 *   mixed with noise (held-out seeds, babble of test voices, and a fan noise
 *   never used in training) at 6, 9, ..., 24 dB SNR measured between the
 *   loudest 25 ms frames of speech and noise; each is streamed through the
 *   detector, the words go to the intent grammar (audio/intent.h, wake word
 *   not required), and the utterance counts as accepted when the intent and
 *   every slot equal those of the words actually spoken.
 * - False accepts per hour: long streams of non-command speech of the test
 *   voices in noise, and of noise alone (every noise kind of the split for
 *   the same time); every reported word, every intent the grammar makes of
 *   the words, and every wake word counts, per noise kind. Babble (3-8
 *   talkers of non-command speech) is speech: the noise alone is also given
 *   without it, and babble alone apart, each rate with its exact one-sided
 *   95 % Poisson upper bound.
 * - Wake-word miss rate at the threshold that keeps wake false accepts on
 *   the background at or below 1 per 10 hours (Porcupine's operating point),
 *   on test utterances containing the wake word at 10 dB SNR.
 * - With the wake word, as shopd listens by default (audio/listener.h: the
 *   model's thresholds, commands only after the wake word, ended by a
 *   pause): the same background streams, counted per noise kind as above,
 *   and the wake-word utterances that make a command, understood as spoken.
 * - Real-time factor of the whole streaming path (features + CNN + decisions)
 *   on one core.
 *
 * `--voices val` measures the same on the validation voices instead (a
 * tenth of the training espeak-ng voices and two of the extra festival
 * voices, which training never sees, with training noises), so that
 * designs, epochs and thresholds can be chosen without a look at the test
 * voices. Acceptance is also given per voice group (espeak-ng's voices
 * together, each flite and festival voice on its own). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/corpus.h"
#include "audio/eval.h"
#include "audio/intent.h"
#include "audio/kws.h"
#include "audio/listener.h"
#include "audio/realdata.h"
#include "audio/vocab.h"
#include "common/log.h"
#include "common/util.h"

#define S_MAX_HITS 64
#define S_N_SNR 7
static const int s_snrs[S_N_SNR] = { 6, 9, 12, 15, 18, 21, 24 };

typedef struct {
    kws_t *kws;                /* operating thresholds */
    kws_t *low;                /* threshold 0.05: wake-word sweep */
    intent_t *intent;
    const corpus_t *corpus;
    float *pcm;                /* scratch stream */
    size_t cap;
    float *noise;
    size_t noise_cap;
} s_eval_t;

static void
s_reserve(float **p, size_t *cap, size_t n)
{
    if (n > *cap) {
        *p = xrealloc(*p, n * sizeof **p);
        *cap = n;
    }
}

/* Builds a stream: 300 ms lead, the clip, 300 ms tail, noise at snr dB
 * (NAN: none), level peak between -30 and -3 dBFS. Returns samples. */
static size_t
s_make_stream(s_eval_t *e, corpus_mixer_t *m, int clip, float snr)
{
    const corpus_clip_t *c = corpus_clip(e->corpus, clip);
    size_t n = (size_t) c->n + 9600;
    s_reserve(&e->pcm, &e->cap, n);
    s_reserve(&e->noise, &e->noise_cap, n);
    memset(e->pcm, 0, n * sizeof *e->pcm);
    corpus_clip_pcm(e->corpus, clip, e->pcm + 4800);
    if (!isnan(snr)) {
        corpus_mixer_noise(m, corpus_mixer_pick_noise(m), e->noise, n);
        corpus_add_at_snr(e->pcm, e->noise, n, snr);
    }
    float peak = 0;
    for (size_t i = 0; i < n; i++)
        peak = fmaxf(peak, fabsf(e->pcm[i]));
    float g = peak > 0 ? powf(10.f, corpus_mixer_uniform(m, -30, -3) / 20.f) / peak : 0;
    for (size_t i = 0; i < n; i++)
        e->pcm[i] *= g;
    return n;
}

/* Words of the clip's marks, in order. */
static int
s_truth(const corpus_clip_t *c, int *words)
{
    for (int i = 0; i < c->n_marks; i++)
        words[i] = c->marks[i].word;
    return c->n_marks;
}

/* The clips of the command measure: commands of the test voices (val: of
 * the validation voices and the voices listed in holdout, training split)
 * whose spoken words make an intent of g, into cmd in an order shuffled
 * with seed (its first n are the n utterances of every SNR); when bg is not
 * NULL, their non-command clips into bg and the commands with the wake word
 * into wake. Arrays hold corpus_count + 1. Returns the number of commands. */
static int
s_select(const corpus_t *corpus, const intent_t *g, bool val, const char *holdout, int seed,
         int *cmd, int *bg, int *n_bg, int *wake, int *n_wake)
{
    int n_eligible = 0;
    for (int i = 0; i < corpus_count(corpus); i++) {
        const corpus_clip_t *c = corpus_clip(corpus, i);
        bool is_val = corpus_voice_is_validation(c->engine, c->voice)
                      || corpus_voice_listed(holdout, c->voice);
        if (val ? c->split != CORPUS_TRAIN || !is_val : c->split != CORPUS_TEST)
            continue;
        if (c->kind == CORPUS_KIND_UNKNOWN) {
            if (bg)
                bg[(*n_bg)++] = i;
            continue;
        }
        int words[CORPUS_MAX_MARKS];
        int nw = s_truth(c, words);
        bool has_wake = false;
        for (int k = 0; k < nw; k++)
            has_wake |= words[k] == VOCAB_WAKE;
        if (has_wake && wake)
            wake[(*n_wake)++] = i;
        intent_result_t r;
        if (intent_match(g, words, NULL, (size_t) nw, &r, NULL, 0) == 0)
            cmd[n_eligible++] = i;
    }
    /* the same utterances at every SNR, drawn with the seed */
    corpus_mixer_t *pick = corpus_mixer_new(NULL, val ? CORPUS_TRAIN : CORPUS_TEST,
                                            (uint64_t) seed + (val ? (uint64_t) 1 << 40 : 0));
    for (int i = n_eligible - 1; i > 0; i--) {
        int j = (int) corpus_mixer_uniform(pick, 0, (float) (i + 1));
        j = j > i ? i : j;
        int t = cmd[i];
        cmd[i] = cmd[j];
        cmd[j] = t;
    }
    corpus_mixer_destroy(&pick);
    return n_eligible;
}

/* The noise of the command streams at SNR s_snrs[s]: the same mixer in
 * every run of a seed (the validation voices' from seeds no training uses). */
static corpus_mixer_t *
s_snr_mixer(const corpus_t *corpus, bool val, int seed, int s)
{
    return corpus_mixer_new(corpus, val ? CORPUS_TRAIN : CORPUS_TEST,
                            (uint64_t) seed * 1000 + (uint64_t) s_snrs[s]
                                + (val ? (uint64_t) 1 << 40 : 0));
}

/* One command utterance streamed: the SNR's index s, the clip, the words
 * spoken (truth, nt) and the detector's hits (nh). */
typedef void (*s_heard_fn)(void *arg, int s, const corpus_clip_t *c, const int *truth, int nt,
                           const kws_hit_t *hits, int nh);

/* Streams the first n_cmd commands of cmd (s_select's order) at SNR
 * s_snrs[s], in the noise of s_snr_mixer, through kws and hands each to fn:
 * the command measure of audio_eval_run and audio_eval_heard_words hear the
 * same streams. Returns 0, or -1 with the detector's message in err. */
static int
s_stream_commands(s_eval_t *e, kws_t *kws, bool val, int seed, int s, const int *cmd,
                  int n_cmd, s_heard_fn fn, void *arg, char *err, size_t errlen)
{
    corpus_mixer_t *m = s_snr_mixer(e->corpus, val, seed, s);
    kws_hit_t hits[S_MAX_HITS];
    int rc = 0;
    for (int i = 0; i < n_cmd; i++) {
        const corpus_clip_t *c = corpus_clip(e->corpus, cmd[i]);
        size_t n = s_make_stream(e, m, cmd[i], (float) s_snrs[s]);
        int nh = kws_decode(kws, e->pcm, n, hits, S_MAX_HITS);
        if (nh < 0) {
            snprintf(err, errlen, "%s", kws_error(kws));
            rc = -1;
            break;
        }
        int truth[CORPUS_MAX_MARKS];
        int nt = s_truth(c, truth);
        fn(arg, s, c, truth, nt, hits, nh);
    }
    corpus_mixer_destroy(&m);
    return rc;
}

/* Words the belief fit counts: the wake word stands apart, and show, find
 * and cart are words of several intents, whose truth the intent of a
 * command does not tell (the population of the grammar's default fit). */
static bool
s_belief_word(int w)
{
    return vocab_is_keyword(w) && w != VOCAB_WAKE && w != VOCAB_SHOW && w != VOCAB_FIND
           && w != VOCAB_CART;
}

/* The belief fit's words of the utterances streamed (grown by s_heard_add). */
typedef struct {
    float *conf;
    unsigned char *said;
    size_t n, cap;
} s_heard_t;

static void
s_heard_add(void *arg, int s, const corpus_clip_t *c, const int *truth, int nt,
            const kws_hit_t *hits, int nh)
{
    s_heard_t *h = arg;
    (void) s;
    (void) c;
    for (int k = 0; k < nh; k++) {
        if (!s_belief_word(hits[k].word))
            continue;
        if (h->n == h->cap) {
            h->cap *= 2;
            h->conf = xrealloc(h->conf, h->cap * sizeof *h->conf);
            h->said = xrealloc(h->said, h->cap);
        }
        bool spoken = false;
        for (int t = 0; t < nt; t++)
            spoken |= truth[t] == hits[k].word;
        h->conf[h->n] = hits[k].confidence;
        h->said[h->n++] = spoken;
    }
}

int
audio_eval_heard_words(const corpus_t *corpus, kws_t *kws, const char *holdout, int n_cmd,
                       int seed, float **conf, unsigned char **said, int *n, char *err,
                       size_t errlen)
{
    *conf = NULL;
    *said = NULL;
    *n = 0;
    intent_config_t ic;
    intent_config_default(&ic);
    ic.require_wake = false;
    intent_t *g = intent_new_from_file(NULL, &ic, err, errlen);
    if (!g)
        return -1;
    int *cmd = xmalloc((size_t) (corpus_count(corpus) + 1) * sizeof *cmd);
    int n_eligible = s_select(corpus, g, true, holdout, seed, cmd, NULL, NULL, NULL, NULL);
    intent_destroy(&g);
    if (n_eligible == 0) {
        snprintf(err, errlen, "the corpus has no validation-voice commands");
        free(cmd);
        return -1;
    }
    if (n_cmd > n_eligible)
        n_cmd = n_eligible;
    s_eval_t e = { .corpus = corpus };
    s_heard_t h = { .cap = 1024 };
    h.conf = xmalloc(h.cap * sizeof *h.conf);
    h.said = xmalloc(h.cap);
    int rc = 0;
    for (int s = 0; s < S_N_SNR && rc == 0; s++)
        rc = s_stream_commands(&e, kws, true, seed, s, cmd, n_cmd, s_heard_add, &h, err, errlen);
    if (rc == 0) {
        *conf = h.conf;
        *said = h.said;
        *n = (int) h.n;
    } else {
        free(h.conf);
        free(h.said);
    }
    free(cmd);
    free(e.pcm);
    free(e.noise);
    return rc;
}

/* The real-speech summary of real_eval's JSON, for people. */
static void
s_print_real(const json_t *r)
{
    const json_t *yn = json_object_get(r, "yes_no_acceptance");
    const json_t *fa = json_object_get(r, "false_accepts");
    const json_t *dg = json_object_get(r, "digits_word_accuracy");
    const json_t *st = json_object_get(r, "stop_acceptance");
    printf("real speech, validation speakers (%d Speech Commands, %d FSDD):\n",
           (int) json_integer_value(json_object_get(json_object_get(r, "speakers"),
                                                    "speech_commands")),
           (int) json_integer_value(json_object_get(json_object_get(r, "speakers"), "fsdd")));
    printf("  yes/no acceptance %.3f (%d clips); stop -> cancel %.3f (%d)\n",
           json_real_value(json_object_get(yn, "acceptance")),
           (int) json_integer_value(json_object_get(yn, "trials")),
           json_real_value(json_object_get(st, "acceptance")),
           (int) json_integer_value(json_object_get(st, "trials")));
    printf("  false accepts %.3f per non-command clip (%d clips)\n",
           json_real_value(json_object_get(fa, "per_clip")),
           (int) json_integer_value(json_object_get(fa, "trials")));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *) json_object_get(fa, "by_class"), key, v)
        printf("    %-10s %.3f (%d)\n", key, json_real_value(json_object_get(v, "per_clip")),
               (int) json_integer_value(json_object_get(v, "trials")));
    printf("  digit word accuracy %.3f (%d clips, FSDD)\n",
           json_real_value(json_object_get(dg, "accuracy")),
           (int) json_integer_value(json_object_get(dg, "trials")));
    const json_t *w = json_object_get(r, "with_wake_word");
    for (int s = 0; s < 2 && w; s++) {
        const json_t *k = json_object_get(w, s ? "crowd" : "talk");
        printf("  with the wake word (shopd's listener), %s (%d at once, %.2f h): %d intents, "
               "%.1f/h (95 %% upper %.1f/h)\n", s ? "crowd" : "talk",
               (int) json_integer_value(json_object_get(k, "talkers")),
               json_real_value(json_object_get(k, "hours")),
               (int) json_integer_value(json_object_get(k, "intents")),
               json_real_value(json_object_get(k, "intents_per_hour")),
               json_real_value(json_object_get(k, "upper95_per_hour")));
    }
}

/* ------------------------------------------------------------ background */

double
audio_poisson_upper(int events, double level)
{
    if (events < 0 || !(level > 0 && level < 1))
        return NAN;
    /* P(X <= k; mu) falls from 1 to 0 as mu grows: bisect for 1 - level */
    double lo = 0, hi = events + 10.0 + 10.0 * sqrt(events + 1.0);
    for (int it = 0; it < 200 && hi - lo > 1e-12 * hi; it++) {
        double mu = 0.5 * (lo + hi), cdf = 0;
        for (int i = 0; i <= events; i++)
            cdf += exp(i * log(mu) - mu - lgamma(i + 1.0));
        if (cdf > 1 - level)
            lo = mu;
        else
            hi = mu;
    }
    return 0.5 * (lo + hi);
}

void
audio_background_clear(audio_background_t *bg)
{
    if (!bg)
        return;
    free(bg->wake_peaks);
    memset(bg, 0, sizeof *bg);
}

/* Pushes n samples of x (NULL: silence) in 100 ms blocks into l, counting
 * the commands understood into *understood and the first into first. */
static int
s_listen_push(listener_t *l, const float *x, size_t n, int *understood, intent_result_t *first)
{
    static const float zeros[CORPUS_RATE / 10];
    const size_t block = CORPUS_RATE / 10;
    for (size_t at = 0; at < n; at += block) {
        listener_utterance_t u[4];
        int got = listener_push(l, x ? x + at : zeros, SHOP_MIN(block, n - at), u, 4);
        if (got < 0)
            return -1;
        for (int i = 0; i < got; i++)
            if (u[i].understood && (*understood)++ == 0 && first)
                *first = u[i].result;
    }
    return 0;
}

int
audio_eval_listen(listener_t *l, const float *x, size_t n, intent_result_t *first)
{
    int understood = 0;
    if (first)
        memset(first, 0, sizeof *first);
    listener_reset(l);
    if (s_listen_push(l, x, n, &understood, first) != 0
        || s_listen_push(l, NULL, (size_t) (AUDIO_LISTEN_TAIL_S * CORPUS_RATE), &understood,
                         first) != 0)
        return -1;
    return understood;
}

/* One stream of the background through both detectors (and the listener,
 * when there is one) into part and type of bg. Returns 0 or -1 with a
 * message in err. */
static int
s_background_stream(kws_t *kws, kws_t *low, intent_t *intent, listener_t *listener,
                    const float *x, size_t n, int part, corpus_noise_t type, bool verbose,
                    kws_hit_t *bh, int max_hits, audio_background_t *bg, char *err,
                    size_t errlen)
{
    if (listener) {
        intent_result_t got;
        int heard = audio_eval_listen(listener, x, n, &got);
        if (heard < 0) {
            snprintf(err, errlen, "%s", listener_error(listener));
            return -1;
        }
        bg->heard[part][type] += heard;
        if (verbose && heard > 0) {
            char b[160];
            fprintf(stderr, "false accept with the wake word [%s, %s noise]: %d, the first %s\n",
                    part == AUDIO_BG_SPEECH ? "speech" : "noise alone", corpus_noise_name(type),
                    heard, intent_result_format(&got, b, sizeof b));
        }
    }
    int nh = kws_decode(low, x, n, bh, max_hits);
    if (nh < 0) {
        snprintf(err, errlen, "%s", kws_error(low));
        return -1;
    }
    for (int h = 0; h < nh; h++)
        if (bh[h].word == VOCAB_WAKE) {
            if (!(bg->n_wake_peaks & 255))
                bg->wake_peaks = xrealloc(bg->wake_peaks,
                                          (size_t) (bg->n_wake_peaks + 256) * sizeof *bg->wake_peaks);
            bg->wake_peaks[bg->n_wake_peaks++] = bh[h].confidence;
        }
    nh = kws_decode(kws, x, n, bh, max_hits);
    if (nh < 0) {
        snprintf(err, errlen, "%s", kws_error(kws));
        return -1;
    }
    bg->words[part][type] += nh;
    /* utterances: hits less than 1.5 s apart */
    for (int h = 0; h < nh;) {
        int q = h + 1;
        while (q < nh && bh[q].time - bh[q - 1].time < 1.5)
            q++;
        int w[S_MAX_HITS];
        float cf[S_MAX_HITS];
        int nw = 0;
        for (int r = h; r < q; r++) {
            bg->wake[part][type] += bh[r].word == VOCAB_WAKE;
            if (nw < S_MAX_HITS) {
                w[nw] = bh[r].word;
                cf[nw++] = bh[r].confidence;
            }
        }
        intent_result_t got;
        if (intent_match(intent, w, cf, (size_t) nw, &got, NULL, 0) == 0) {
            bg->intents[part][type]++;
            if (verbose) {
                char b[160];
                fprintf(stderr, "false accept [%s, %s noise] at %.1f s:",
                        part == AUDIO_BG_SPEECH ? "speech" : "noise alone",
                        corpus_noise_name(type), bh[h].time);
                for (int r = 0; r < nw; r++)
                    fprintf(stderr, " %s(%.2f)", vocab_name(w[r]), (double) cf[r]);
                fprintf(stderr, " -> %s\n", intent_result_format(&got, b, sizeof b));
            }
        }
        h = q;
    }
    bg->seconds[part][type] += (double) n / CORPUS_RATE;
    return 0;
}

/* Scales x so that its peak is between -30 and -3 dBFS. */
static void
s_random_level(corpus_mixer_t *m, float *x, size_t n)
{
    float peak = 0;
    for (size_t i = 0; i < n; i++)
        peak = fmaxf(peak, fabsf(x[i]));
    float g = powf(10.f, corpus_mixer_uniform(m, -30, -3) / 20.f) / fmaxf(peak, 1e-9f);
    for (size_t i = 0; i < n; i++)
        x[i] *= g;
}

int
audio_eval_background(kws_t *kws, kws_t *low, intent_t *intent,
                      const audio_background_opts_t *o, audio_background_t *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->listened = o->listener != NULL;
    if (o->speech_s > 0 && (!o->corpus || o->n_speech <= 0)) {
        snprintf(err, errlen, "background speech needs non-command clips");
        return -1;
    }
    corpus_mixer_t *m = corpus_mixer_new(o->corpus, o->split, o->seed);
    const size_t stream_n = 60 * CORPUS_RATE;
    const int max_hits = 4096;
    float *stream = xmalloc(stream_n * sizeof *stream), *noise = xmalloc(stream_n * sizeof *noise);
    float *clip = NULL;
    size_t clip_cap = 0;
    kws_hit_t *bh = xmalloc((size_t) max_hits * sizeof *bh);
    int rc = -1, next = 0;
    /* speech with 0.2-1.5 s pauses in a random noise at 6-24 dB, 60 s streams */
    for (size_t done = 0, total = (size_t) llround(o->speech_s * CORPUS_RATE); done < total;) {
        size_t n = total - done < stream_n ? total - done : stream_n;
        memset(stream, 0, n * sizeof *stream);
        size_t at = (size_t) corpus_mixer_uniform(m, 0, 8000);
        while (at < n) {
            int ci = o->speech[next++ % o->n_speech];
            const corpus_clip_t *c = corpus_clip(o->corpus, ci);
            s_reserve(&clip, &clip_cap, (size_t) c->n);
            corpus_clip_pcm(o->corpus, ci, clip);
            float g = corpus_mixer_uniform(m, 0.3f, 1.0f);
            for (int k = 0; k < c->n && at + (size_t) k < n; k++)
                stream[at + (size_t) k] += g * clip[k];
            at += (size_t) c->n + (size_t) corpus_mixer_uniform(m, 3200, 24000);
        }
        corpus_noise_t type = corpus_mixer_pick_noise(m);
        corpus_mixer_noise(m, type, noise, n);
        corpus_add_at_snr(stream, noise, n, corpus_mixer_uniform(m, 6, 24));
        s_random_level(m, stream, n);
        if (s_background_stream(kws, low, intent, o->listener, stream, n, AUDIO_BG_SPEECH, type,
                                o->verbose, bh, max_hits, out, err, errlen) != 0)
            goto done;
        done += n;
    }
    /* noise alone: every noise kind of the split for the same time, in
     * turn, streams of up to 60 s with their own random settings */
    corpus_noise_t kinds[CORPUS_NOISE_COUNT];
    int n_kinds = 0;
    for (int t = 0; t < CORPUS_NOISE_COUNT; t++)
        if (corpus_mixer_allows(m, (corpus_noise_t) t))
            kinds[n_kinds++] = (corpus_noise_t) t;
    size_t quota = (size_t) llround(o->noise_s * CORPUS_RATE / n_kinds);
    for (size_t done = 0; done < quota;) {
        size_t n = quota - done < stream_n ? quota - done : stream_n;
        for (int k = 0; k < n_kinds; k++) {
            corpus_mixer_noise(m, kinds[k], stream, n);
            s_random_level(m, stream, n);
            if (s_background_stream(kws, low, intent, o->listener, stream, n, AUDIO_BG_NOISE,
                                    kinds[k], o->verbose, bh, max_hits, out, err, errlen) != 0)
                goto done;
        }
        done += n;
    }
    rc = 0;
done:
    corpus_mixer_destroy(&m);
    free(stream);
    free(noise);
    free(clip);
    free(bh);
    return rc;
}

/* One part of the background over all noise kinds. */
typedef struct {
    double seconds;
    int words, intents, wake, heard;
} s_bg_total_t;

static s_bg_total_t
s_bg_total(const audio_background_t *bg, int part)
{
    s_bg_total_t t = { 0, 0, 0, 0, 0 };
    for (int k = 0; k < CORPUS_NOISE_COUNT; k++) {
        t.seconds += bg->seconds[part][k];
        t.words += bg->words[part][k];
        t.intents += bg->intents[part][k];
        t.wake += bg->wake[part][k];
        t.heard += bg->heard[part][k];
    }
    return t;
}

/* A rate per hour, or null without hours. */
static json_t *
s_rate(int events, double seconds)
{
    return seconds > 0 ? json_real(events / (seconds / 3600.0)) : json_null();
}

/* The 95 % upper bound of that rate, or null without hours. */
static json_t *
s_upper(int events, double seconds)
{
    return seconds > 0 ? json_real(audio_poisson_upper(events, 0.95) / (seconds / 3600.0))
                       : json_null();
}

/* hours, events, rate and its 95 % upper bound */
static json_t *
s_count_json(int events, double seconds)
{
    json_t *o = json_pack("{s:f, s:i}", "hours", seconds / 3600.0, "intents", events);
    json_object_set_new(o, "intents_per_hour", s_rate(events, seconds));
    json_object_set_new(o, "upper95_per_hour", s_upper(events, seconds));
    return o;
}

/* ------------------------------------------------------- real people talking */

/* The speech clips audio_real_talk uses, decoded once. */
typedef struct {
    int m;          /* clips */
    float **pcm;
    size_t *len, total;
} s_talk_clips_t;

static void
s_talk_free(s_talk_clips_t *t)
{
    for (int k = 0; k < t->m; k++)
        free(t->pcm[k]);
    free(t->pcm);
    free(t->len);
    memset(t, 0, sizeof *t);
}

/* Decodes the Speech Commands speech clips of the validation (calibration)
 * speakers into *t. Returns 0, or -1 with a message in err. */
static int
s_talk_load(const real_t *set, bool calibration, s_talk_clips_t *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->pcm = xcalloc((size_t) real_count(set) + 1, sizeof *t->pcm);
    t->len = xcalloc((size_t) real_count(set) + 1, sizeof *t->len);
    for (int i = 0; i < real_count(set); i++) {
        const real_clip_t *c = real_clip(set, i);
        if (c->source != REAL_SPEECH_COMMANDS || c->vocab == VOCAB_SILENCE
            || !(calibration ? c->calibration : c->validation))
            continue;
        if (real_clip_pcm(set, i, &t->pcm[t->m], &t->len[t->m], err, errlen) != 0) {
            s_talk_free(t);
            return -1;
        }
        t->total += t->len[t->m++];
    }
    if (t->m == 0) {
        snprintf(err, errlen, "no speech clip of the %s speakers",
                 calibration ? "calibration" : "validation");
        s_talk_free(t);
        return -1;
    }
    return 0;
}

/* talkers seeded orders of the clips of t, summed at 1 / sqrt(talkers)
 * (t->total samples; free it). */
static float *
s_talk_mix(const s_talk_clips_t *t, int talkers, uint64_t seed)
{
    float *out = xcalloc(t->total, sizeof *out);
    int *order = xmallocarray((size_t) t->m, sizeof *order);
    uint64_t st = seed;
    float scale = 1.0f / sqrtf((float) talkers);
    for (int v = 0; v < talkers; v++) {
        for (int k = 0; k < t->m; k++)
            order[k] = k;
        for (int k = t->m - 1; k > 0; k--) {   /* Fisher-Yates */
            int j = (int) (shop_splitmix64(&st) % (uint64_t) (k + 1));
            int tmp = order[k];
            order[k] = order[j];
            order[j] = tmp;
        }
        size_t at = 0;
        for (int k = 0; k < t->m; k++) {
            const float *x = t->pcm[order[k]];
            for (size_t i = 0; i < t->len[order[k]]; i++)
                out[at + i] += scale * x[i];
            at += t->len[order[k]];
        }
    }
    free(order);
    return out;
}

float *
audio_real_talk(const real_t *set, bool calibration, int talkers, uint64_t seed, size_t *n,
                int *clips, char *err, size_t errlen)
{
    *n = 0;
    *clips = 0;
    if (talkers < 1) {
        snprintf(err, errlen, "no talker");
        return NULL;
    }
    s_talk_clips_t t;
    if (s_talk_load(set, calibration, &t, err, errlen) != 0)
        return NULL;
    float *out = s_talk_mix(&t, talkers, seed);
    *n = t.total;
    *clips = t.m;
    s_talk_free(&t);
    return out;
}

json_t *
audio_real_listen(const real_t *set, listener_t *l, bool calibration, uint64_t seed, char *err,
                  size_t errlen)
{
    static const struct {
        const char *name;
        int talkers;
    } streams[] = { { "talk", 1 }, { "crowd", AUDIO_REAL_CROWD } };
    s_talk_clips_t t;
    if (s_talk_load(set, calibration, &t, err, errlen) != 0)
        return NULL;
    json_t *o = json_object();
    for (size_t s = 0; s < SHOP_ARRAY_LEN(streams); s++) {
        float *x = s_talk_mix(&t, streams[s].talkers, seed + s);
        int heard = audio_eval_listen(l, x, t.total, NULL);
        free(x);
        if (heard < 0) {
            snprintf(err, errlen, "%s", listener_error(l));
            json_decref(o);
            s_talk_free(&t);
            return NULL;
        }
        json_t *k = s_count_json(heard, (double) t.total / CORPUS_RATE);
        json_object_set_new(k, "clips", json_integer(t.m));
        json_object_set_new(k, "talkers", json_integer(streams[s].talkers));
        json_object_set_new(o, streams[s].name, k);
    }
    s_talk_free(&t);
    const char *from;
    json_object_set_new(o, "wake_min", json_real(listener_wake_min(l, &from)));
    json_object_set_new(o, "wake_min_from", json_string(from));
    json_object_set_new(o, "note", json_string(
        "the speakers' word clips one after another (talk) and three such sequences at once "
        "(crowd) through shopd's listener as it runs by default; no clip says the wake word, "
        "so every intent is a false accept"));
    return o;
}

json_t *
audio_background_json(const audio_background_t *bg)
{
    s_bg_total_t sp = s_bg_total(bg, AUDIO_BG_SPEECH), no = s_bg_total(bg, AUDIO_BG_NOISE);
    double s[AUDIO_BG_PARTS] = { sp.seconds, no.seconds };
    int words[AUDIO_BG_PARTS] = { sp.words, no.words };
    int intents[AUDIO_BG_PARTS] = { sp.intents, no.intents }, wake = sp.wake + no.wake;
    json_t *by = json_object();
    for (int t = 0; t < CORPUS_NOISE_COUNT; t++) {
        json_t *k = json_pack("{s:f, s:i, s:i, s:f, s:i, s:i}",
                              "speech_hours", bg->seconds[AUDIO_BG_SPEECH][t] / 3600.0,
                              "speech_words", bg->words[AUDIO_BG_SPEECH][t],
                              "speech_intents", bg->intents[AUDIO_BG_SPEECH][t],
                              "noise_hours", bg->seconds[AUDIO_BG_NOISE][t] / 3600.0,
                              "noise_words", bg->words[AUDIO_BG_NOISE][t],
                              "noise_intents", bg->intents[AUDIO_BG_NOISE][t]);
        json_object_set_new(k, "noise_intents_per_hour",
                            s_rate(bg->intents[AUDIO_BG_NOISE][t], bg->seconds[AUDIO_BG_NOISE][t]));
        json_object_set_new(k, "noise_upper95_per_hour",
                            s_upper(bg->intents[AUDIO_BG_NOISE][t], bg->seconds[AUDIO_BG_NOISE][t]));
        if (bg->listened) {
            json_object_set_new(k, "listener_speech_intents",
                                json_integer(bg->heard[AUDIO_BG_SPEECH][t]));
            json_object_set_new(k, "listener_noise_intents",
                                json_integer(bg->heard[AUDIO_BG_NOISE][t]));
        }
        json_object_set_new(by, corpus_noise_name((corpus_noise_t) t), k);
    }
    double all = s[0] + s[1];
    json_t *o = json_pack("{s:f, s:f, s:i, s:i, s:i, s:i}", "speech_hours", s[0] / 3600.0,
                          "noise_hours", s[1] / 3600.0, "words_speech", words[0],
                          "words_noise", words[1], "intents_speech", intents[0],
                          "intents_noise", intents[1]);
    json_object_set_new(o, "words_per_hour_speech", s_rate(words[0], s[0]));
    json_object_set_new(o, "words_per_hour_noise", s_rate(words[1], s[1]));
    json_object_set_new(o, "intents_per_hour_speech", s_rate(intents[0], s[0]));
    json_object_set_new(o, "intents_per_hour_noise", s_rate(intents[1], s[1]));
    json_object_set_new(o, "intents_per_hour", s_rate(intents[0] + intents[1], all));
    json_object_set_new(o, "wake_per_hour", s_rate(wake, all));
    json_object_set_new(o, "noise_alone", s_count_json(intents[1], s[1]));
    /* babble is speech of many talkers: apart from the noise proper */
    int b = bg->intents[AUDIO_BG_NOISE][CORPUS_NOISE_BABBLE];
    double bs = bg->seconds[AUDIO_BG_NOISE][CORPUS_NOISE_BABBLE];
    json_object_set_new(o, "noise_alone_without_babble", s_count_json(intents[1] - b, s[1] - bs));
    json_object_set_new(o, "babble_alone", s_count_json(b, bs));
    if (bg->listened) {
        int hs = sp.heard, hn = no.heard, hb = bg->heard[AUDIO_BG_NOISE][CORPUS_NOISE_BABBLE];
        json_t *w = json_object();
        json_object_set_new(w, "speech", s_count_json(hs, s[0]));
        json_object_set_new(w, "noise_alone", s_count_json(hn, s[1]));
        json_object_set_new(w, "noise_alone_without_babble", s_count_json(hn - hb, s[1] - bs));
        json_object_set_new(w, "babble_alone", s_count_json(hb, bs));
        json_object_set_new(w, "note", json_string(
            "shopd's listener as it runs by default on the same streams: commands count only "
            "after the wake word, end at a 1 s pause, and each is one intent"));
        json_object_set_new(o, "with_wake_word", w);
    }
    json_object_set_new(o, "by_noise", by);
    json_object_set_new(o, "bound_note", json_string(
        "upper95_per_hour: the one-sided 95 % upper bound of the rate (exact Poisson, "
        "Garwood) for the intents counted in those hours; 0 events in T hours give 3.0/T"));
    return o;
}

/* One rate of the background with its 95 % upper bound, for people;
 * nothing without seconds. */
static void
s_print_rate(const char *prefix, const char *what, int events, double seconds)
{
    if (seconds > 0)
        printf("%s%s: %d intents in %.2f h: %.2f/h (95 %% upper bound %.2f/h)\n", prefix, what,
               events, seconds / 3600.0, events / (seconds / 3600.0),
               audio_poisson_upper(events, 0.95) / (seconds / 3600.0));
}

/* The per-kind table of the background, for people. */
static void
s_print_background(const audio_background_t *bg)
{
    printf("false accepts by noise   speech in noise: h  intents   noise alone: h  intents"
           "  per h  95 %% upper/h\n");
    s_bg_total_t no = s_bg_total(bg, AUDIO_BG_NOISE);
    double s = no.seconds, bs = bg->seconds[AUDIO_BG_NOISE][CORPUS_NOISE_BABBLE];
    int n = no.intents, b = bg->intents[AUDIO_BG_NOISE][CORPUS_NOISE_BABBLE];
    for (int t = 0; t < CORPUS_NOISE_COUNT; t++) {
        double ns = bg->seconds[AUDIO_BG_NOISE][t];
        int ni = bg->intents[AUDIO_BG_NOISE][t];
        printf("  %-22s %18.2f %8d %16.2f %8d", corpus_noise_name((corpus_noise_t) t),
               bg->seconds[AUDIO_BG_SPEECH][t] / 3600.0, bg->intents[AUDIO_BG_SPEECH][t],
               ns / 3600.0, ni);
        if (ns > 0)
            printf(" %6.2f %13.2f", ni / (ns / 3600.0),
                   audio_poisson_upper(ni, 0.95) / (ns / 3600.0));
        printf("\n");
    }
    s_print_rate("", "noise alone", n, s);
    s_print_rate("", "noise alone without babble", n - b, s - bs);
    s_print_rate("", "babble alone", b, bs);
    if (!bg->listened)
        return;
    s_bg_total_t sp = s_bg_total(bg, AUDIO_BG_SPEECH);
    int hb = bg->heard[AUDIO_BG_NOISE][CORPUS_NOISE_BABBLE];
    const char *w = "with the wake word (shopd's listener), ";
    s_print_rate(w, "speech in noise", sp.heard, sp.seconds);
    s_print_rate(w, "noise alone without babble", no.heard - hb, s - bs);
    s_print_rate(w, "babble alone", hb, bs);
}

#define S_MAX_GROUPS 16

/* The command measure's counts (s_command_add). */
typedef struct {
    intent_t *intent;          /* the grammar the words go to */
    int accepted[S_N_SNR], exact_words[S_N_SNR];
    int misread[S_N_SNR];      /* an intent, not the one spoken (intent or a slot) */
    /* acceptance over all SNRs per voice group: espeak-ng's voices together,
     * each flite and festival voice on its own (they differ most) */
    char groups[S_MAX_GROUPS][72];
    int n_groups, trials[S_MAX_GROUPS], group_accepted[S_MAX_GROUPS];
} s_commands_t;

/* Counts one command utterance: its words exact, its intent accepted or
 * misread, in its voice group (s_heard_fn). */
static void
s_command_add(void *arg, int s, const corpus_clip_t *c, const int *truth, int nt,
              const kws_hit_t *hits, int nh)
{
    s_commands_t *cm = arg;
    int words[S_MAX_HITS];
    float conf[S_MAX_HITS];
    for (int k = 0; k < nh; k++) {
        words[k] = hits[k].word;
        conf[k] = hits[k].confidence;
    }
    bool same = nh == nt;
    for (int k = 0; same && k < nt; k++)
        same = truth[k] == words[k];
    cm->exact_words[s] += same;
    intent_result_t want, got;
    intent_match(cm->intent, truth, NULL, (size_t) nt, &want, NULL, 0);
    char key[72];
    if (strcmp(c->engine, "espeak-ng") == 0)
        snprintf(key, sizeof key, "espeak-ng");
    else
        snprintf(key, sizeof key, "%s %s", c->engine, c->voice);
    int g = 0;
    while (g < cm->n_groups && strcmp(cm->groups[g], key) != 0)
        g++;
    if (g == cm->n_groups && cm->n_groups < S_MAX_GROUPS)
        snprintf(cm->groups[cm->n_groups++], sizeof cm->groups[0], "%s", key);
    if (g == S_MAX_GROUPS)
        g = S_MAX_GROUPS - 1;   /* more voices than groups: the last one collects them */
    cm->trials[g]++;
    bool matched = intent_match(cm->intent, words, conf, (size_t) nh, &got, NULL, 0) == 0;
    if (matched && real_same_intent(&want, &got)) {
        cm->accepted[s]++;
        cm->group_accepted[g]++;
        return;
    }
    cm->misread[s] += matched;
    if (getenv("SHOP_EVAL_VERBOSE")) {
        char a[160], b[160];
        fprintf(stderr, "miss %2d dB [%s %s] \"%s\": want %s got", s_snrs[s], c->engine, c->voice,
                c->text, intent_result_format(&want, a, sizeof a));
        for (int k = 0; k < nh; k++)
            fprintf(stderr, " %s(%.2f)", vocab_name(words[k]), (double) conf[k]);
        fprintf(stderr, " -> %s\n", got.intent[0] ? intent_result_format(&got, b, sizeof b) : "-");
    }
}

int
audio_eval_run(const audio_eval_opts_t *opts, char *err, size_t errlen)
{
    const char *corpus_dir = opts->corpus_dir, *model = opts->model, *holdout = opts->holdout;
    const char *real_dir = opts->real_dir;
    bool json = opts->json, pad_silence = opts->pad_silence, val = opts->val;
    int n_cmd = opts->n_cmd, seed = opts->seed, stride = opts->stride;
    double bg_min = opts->bg_min;
    float skip_penalty = opts->skip_penalty;
    if (errlen)
        err[0] = '\0';
    s_eval_t e = { 0 };
    int rc = -1;
    corpus_t *corpus = corpus_dir ? corpus_open(corpus_dir, err, errlen) : NULL;
    real_t *real = NULL;
    kws_opts_t ko, lo;
    kws_opts_default(&ko);
    kws_opts_default(&lo);
    lo.threshold = 0.05f;
    ko.pad_silence = lo.pad_silence = pad_silence;
    ko.stride = lo.stride = stride;   /* 0: the model's */
    intent_config_t ic;
    intent_config_default(&ic);
    ic.require_wake = false;
    if (skip_penalty > 0)
        ic.unmatched_penalty = skip_penalty;   /* the grammar's cost of skipping a heard word */
    int *cmd = NULL, *wake = NULL, *bg = NULL;
    listener_t *listener = NULL;
    json_t *root = NULL;
    const char *wake_from = NULL;   /* where the listener's wake_min comes from */
    audio_background_t back = { 0 };
    if (corpus_dir && !corpus)
        return -1;
    e.corpus = corpus;
    e.kws = kws_new(model, &ko, err, errlen);
    if (e.kws)
        e.low = kws_new(model, &lo, err, errlen);
    if (!e.kws || !e.low)
        goto done;
    if (corpus || real_dir) {
        /* shopd's listener over the same model as the daemon runs it */
        kws_t *lk = kws_new(model, &ko, err, errlen);
        listener_config_t lc;
        listener_config_default(&lc);
        lc.wake_min = opts->wake_min;
        if (!lk || !(listener = listener_new(&lk, NULL, &lc, err, errlen)))
            goto done;
    }
    /* the model's belief constants, when it carries them */
    bool own_belief = kws_belief(e.kws, &ic.belief_odds, &ic.belief_power);
    e.intent = intent_new_from_file(NULL, &ic, err, errlen);
    if (!e.intent) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "grammar: %s", why);
        goto done;
    }
    if (!corpus) {
        root = json_object();
        goto real_speech;
    }
    if (!json)
        fprintf(stderr, "audio: belief constants %.4g, %.4g (%s)\n", (double) ic.belief_odds,
                (double) ic.belief_power, own_belief ? "the model's" : "the grammar's defaults");

    /* validation: training noises and babble, from seeds no training run
     * uses (those are small numbers and their simple offsets) */
    corpus_split_t split = val ? CORPUS_TRAIN : CORPUS_TEST;
    uint64_t vs = val ? (uint64_t) 1 << 40 : 0;

    int n_total = corpus_count(corpus), n_wake = 0, n_bg = 0;
    cmd = xmalloc((size_t) (n_total + 1) * sizeof *cmd);
    wake = xmalloc((size_t) (n_total + 1) * sizeof *wake);
    bg = xmalloc((size_t) (n_total + 1) * sizeof *bg);
    int n_eligible = s_select(corpus, e.intent, val, holdout, seed, cmd, bg, &n_bg, wake, &n_wake);
    if (n_eligible == 0 || n_bg == 0) {
        snprintf(err, errlen, "%s has no %s-voice commands or background speech", corpus_dir,
                 val ? "validation" : "test");
        goto done;
    }
    if (n_cmd > n_eligible)
        n_cmd = n_eligible;

    s_commands_t cm = { .intent = e.intent };
    for (int s = 0; s < S_N_SNR; s++) {
        if (s_stream_commands(&e, e.kws, val, seed, s, cmd, n_cmd, s_command_add, &cm, err,
                              errlen)
            != 0)
            goto done;
        if (!json)
            fprintf(stderr, "audio: %2d dB SNR: %d/%d commands accepted (%.1f %%), words exact %.1f %%\n",
                    s_snrs[s], cm.accepted[s], n_cmd, 100.0 * cm.accepted[s] / n_cmd,
                    100.0 * cm.exact_words[s] / n_cmd);
    }

    /* background: non-command speech in noise (half of bg_min), then noise
     * alone (the other half, or noise_hours) */
    audio_background_opts_t bo = {
        .corpus = corpus, .split = split, .speech = bg, .n_speech = n_bg,
        .speech_s = bg_min * 30.0,
        .noise_s = opts->noise_hours > 0 ? opts->noise_hours * 3600.0 : bg_min * 30.0,
        .seed = (uint64_t) seed * 7777 + 1 + vs, .verbose = getenv("SHOP_EVAL_VERBOSE") != NULL,
        .listener = listener,
    };
    if (audio_eval_background(e.kws, e.low, e.intent, &bo, &back, err, errlen) != 0)
        goto done;
    s_bg_total_t bt[AUDIO_BG_PARTS] = { s_bg_total(&back, AUDIO_BG_SPEECH),
                                        s_bg_total(&back, AUDIO_BG_NOISE) };

    /* wake word: misses at the threshold above every background wake peak
     * (0 false accepts in the background hours; 1 per 10 h needs >= 10 h) */
    float wake_thr = 0.05f;
    for (int i = 0; i < back.n_wake_peaks; i++)
        wake_thr = fmaxf(wake_thr, back.wake_peaks[i]);
    int wake_miss = 0;
    kws_hit_t hits[S_MAX_HITS];
    corpus_mixer_t *wm = corpus_mixer_new(corpus, split, (uint64_t) seed * 31 + 10 + vs);
    for (int i = 0; i < n_wake; i++) {
        size_t n = s_make_stream(&e, wm, wake[i], 10.f);
        int nh = kws_decode(e.low, e.pcm, n, hits, S_MAX_HITS);
        float best = 0;
        for (int k = 0; k < nh; k++)
            if (hits[k].word == VOCAB_WAKE)
                best = fmaxf(best, hits[k].confidence);
        wake_miss += !(best > wake_thr);
    }
    corpus_mixer_destroy(&wm);
    /* the same streams through the listener: the command understood as
     * spoken, the wake word required as shopd listens by default */
    int wake_cmds = 0, wake_accepted = 0;
    wm = corpus_mixer_new(corpus, split, (uint64_t) seed * 31 + 10 + vs);
    for (int i = 0; i < n_wake; i++) {
        size_t n = s_make_stream(&e, wm, wake[i], 10.f);
        int truth[CORPUS_MAX_MARKS], words[CORPUS_MAX_MARKS], nw = 0;
        int nt = s_truth(corpus_clip(corpus, wake[i]), truth);
        for (int k = 0; k < nt; k++)
            if (truth[k] != VOCAB_WAKE)
                words[nw++] = truth[k];
        intent_result_t want, got;
        if (intent_match(e.intent, words, NULL, (size_t) nw, &want, NULL, 0) != 0)
            continue;   /* the wake word alone, or words that make no command */
        int heard = audio_eval_listen(listener, e.pcm, n, &got);
        if (heard < 0) {
            snprintf(err, errlen, "%s", listener_error(listener));
            corpus_mixer_destroy(&wm);
            goto done;
        }
        wake_cmds++;
        wake_accepted += heard > 0 && real_same_intent(&want, &got);
    }
    corpus_mixer_destroy(&wm);

    double a_s = 0, w_s = 0, c_s = 0, a2 = 0, w2 = 0, c2 = 0;
    kws_timing(e.kws, &a_s, &w_s, &c_s);
    kws_timing(e.low, &a2, &w2, &c2);
    double rtf = (c_s + c2) / (a_s + a2), rtf_wall = (w_s + w2) / (a_s + a2);
    double hours = (bt[0].seconds + bt[1].seconds) / 3600.0;
    double mean_acc = 0;
    int n_misread = 0;
    for (int s = 0; s < S_N_SNR; s++) {
        mean_acc += 100.0 * cm.accepted[s] / n_cmd / S_N_SNR;
        n_misread += cm.misread[s];
    }

    root = json_object();
    json_t *tab = json_array();
    for (int s = 0; s < S_N_SNR; s++)
        json_array_append_new(tab, json_pack("{s:i, s:f, s:f, s:i, s:i}", "snr_db", s_snrs[s],
                                             "acceptance_pct", 100.0 * cm.accepted[s] / n_cmd,
                                             "words_exact_pct", 100.0 * cm.exact_words[s] / n_cmd,
                                             "commands", n_cmd, "misread", cm.misread[s]));
    json_object_set_new(root, "acceptance", tab);
    json_object_set_new(root, "acceptance_mean_pct", json_real(mean_acc));
    json_object_set_new(root, "misread_commands", json_integer(n_misread));
    json_t *by_eng = json_object();
    for (int k = 0; k < cm.n_groups; k++)
        if (cm.trials[k])
            json_object_set_new(by_eng, cm.groups[k],
                                json_pack("{s:f, s:i}", "acceptance_pct",
                                          100.0 * cm.group_accepted[k] / cm.trials[k], "trials",
                                          cm.trials[k]));
    json_object_set_new(root, "acceptance_by_voice", by_eng);
    json_object_set_new(root, "false_accepts", audio_background_json(&back));
    json_object_set_new(root, "wake", json_pack(
        "{s:f, s:i, s:f, s:f, s:s}", "threshold", (double) wake_thr, "utterances", n_wake,
        "miss_pct", n_wake ? 100.0 * wake_miss / n_wake : 0.0, "snr_db", 10.0,
        "operating_point", "no wake false accept in the background hours"));
    json_object_set_new(root, "with_wake_word", json_pack(
        "{s:i, s:f, s:f, s:f, s:s, s:s}", "commands", wake_cmds, "acceptance_pct",
        wake_cmds ? 100.0 * wake_accepted / wake_cmds : 0.0, "snr_db", 10.0, "wake_min",
        listener_wake_min(listener, &wake_from), "wake_min_from", wake_from, "note",
        "the wake-word commands of the wake measure through shopd's listener (the model's "
        "thresholds, a wake word of at least wake_min; the first command understood has the "
        "spoken intent and slots); its false accepts: false_accepts.with_wake_word"));
    json_object_set_new(root, "rtf", json_real(rtf));
    json_object_set_new(root, "rtf_wall", json_real(rtf_wall));
    json_object_set_new(root, "audio_hours_streamed", json_real((a_s + a2) / 3600.0));
    char note[160];
    snprintf(note, sizeof note, "features + DS-CNN + decisions, one thread, CNN every %d frames; "
             "rtf from thread CPU time, rtf_wall from wall-clock time on the shared machine",
             kws_stride(e.kws));
    json_object_set_new(root, "rtf_note", json_string(note));
    json_object_set_new(root, "test_voices", json_string(val ? "validation voices: a tenth of the "
                        "training espeak-ng voices and the extra festival voices pc_diphone and "
                        "cmu_us_slt_arctic_hts-a37f65 (where the corpus has them), never trained "
                        "on; training noises"
                        : "held out: espeak-ng variants f4 m6 "
                        "klatt3 Andy Annie belinda grandpa john norbert steph2 travis robosoft3 "
                        "iven2 zac in 7 accents, flite rms, festival ked_diphone"));
    if (!json) {
        printf("SNR dB  acceptance %%  words exact %%\n");
        for (int s = 0; s < S_N_SNR; s++)
            printf("%6d  %12.1f  %13.1f\n", s_snrs[s], 100.0 * cm.accepted[s] / n_cmd,
                   100.0 * cm.exact_words[s] / n_cmd);
        printf("mean    %12.1f   (%d commands of held-out voices per SNR; %d read as another "
               "intent)\n", mean_acc, n_cmd, n_misread);
        for (int k = 0; k < cm.n_groups; k++)
            if (cm.trials[k])
                printf("%-36s %5.1f %%  (%d trials over all SNRs)\n", cm.groups[k],
                       100.0 * cm.group_accepted[k] / cm.trials[k], cm.trials[k]);
        printf("false accepts: %.2f intents/h (%.2f h speech: %d words, %d intents; %.2f h noise: "
               "%d words, %d intents), wake %.2f/h\n", (bt[0].intents + bt[1].intents) / hours,
               bt[0].seconds / 3600, bt[0].words, bt[0].intents, bt[1].seconds / 3600, bt[1].words,
               bt[1].intents, (bt[0].wake + bt[1].wake) / hours);
        s_print_background(&back);
        printf("wake word: %.1f %% missed at 10 dB (%d utterances) at threshold %.3f "
               "(no wake false accept in %.2f h)\n", n_wake ? 100.0 * wake_miss / n_wake : 0.0,
               n_wake, (double) wake_thr, hours);
        printf("with the wake word (shopd's listener, wake_min %.2f, %s): %.1f %% of %d "
               "commands at 10 dB understood as spoken\n", listener_wake_min(listener, &wake_from),
               wake_from,
               wake_cmds ? 100.0 * wake_accepted / wake_cmds : 0.0, wake_cmds);
        printf("real-time factor: %.4f CPU, %.4f wall-clock (one thread, %.2f h of audio)\n",
               rtf, rtf_wall, (a_s + a2) / 3600.0);
    }
real_speech:
    json_object_set_new(root, "beliefs", json_pack("{s:f, s:f, s:s}", "odds",
                        (double) ic.belief_odds, "power", (double) ic.belief_power, "from",
                        own_belief ? "model" : "grammar defaults"));
    if (real_dir) {
        real = real_open(real_dir, err, errlen);
        json_t *r = real ? real_eval(real, e.kws, e.intent, opts->val, getenv("SHOP_EVAL_VERBOSE") != NULL,
                                     err, errlen)
                         : NULL;
        if (!r) {
            char why[512];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "real speech in %s: %s", real_dir, why);
            goto done;
        }
        json_t *talk = audio_real_listen(real, listener, opts->val, (uint64_t) seed * 131 + 7,
                                         err, errlen);
        if (!talk) {
            json_decref(r);
            goto done;
        }
        json_object_set_new(r, "with_wake_word", talk);
        json_object_set_new(root, "real", r);
        if (!json)
            s_print_real(r);
    }
    if (json) {
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(5));
        printf("%s\n", s);
        free(s);
    }
    rc = 0;
done:
    audio_background_clear(&back);
    real_destroy(&real);
    json_decref(root);
    free(cmd);
    free(wake);
    free(bg);
    free(e.pcm);
    free(e.noise);
    kws_destroy(&e.kws);
    kws_destroy(&e.low);
    listener_destroy(&listener);
    intent_destroy(&e.intent);
    corpus_destroy(&corpus);
    return rc;
}
