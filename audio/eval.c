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
 *   voices in noise, and of noise alone; every reported word, every intent
 *   the grammar makes of the words, and every wake word counts.
 * - Wake-word miss rate at the threshold that keeps wake false accepts on
 *   the background at or below 1 per 10 hours (Porcupine's operating point),
 *   on test utterances containing the wake word at 10 dB SNR.
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

/* Words the belief fit counts: the wake word stands apart, and show, find
 * and cart are words of several intents, whose truth the intent of a
 * command does not tell (the population of the grammar's default fit). */
static bool
s_belief_word(int w)
{
    return vocab_is_keyword(w) && w != VOCAB_WAKE && w != VOCAB_SHOW && w != VOCAB_FIND
           && w != VOCAB_CART;
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
    size_t cap = 1024;
    int rc = -1, m = 0;
    float *cf = xmalloc(cap * sizeof *cf);
    unsigned char *sd = xmalloc(cap);
    kws_hit_t hits[S_MAX_HITS];
    for (int s = 0; s < S_N_SNR; s++) {
        corpus_mixer_t *mx = s_snr_mixer(corpus, true, seed, s);
        for (int i = 0; i < n_cmd; i++) {
            const corpus_clip_t *c = corpus_clip(corpus, cmd[i]);
            size_t len = s_make_stream(&e, mx, cmd[i], (float) s_snrs[s]);
            int nh = kws_decode(kws, e.pcm, len, hits, S_MAX_HITS);
            if (nh < 0) {
                snprintf(err, errlen, "%s", kws_error(kws));
                corpus_mixer_destroy(&mx);
                goto out;
            }
            int truth[CORPUS_MAX_MARKS];
            int nt = s_truth(c, truth);
            for (int k = 0; k < nh; k++) {
                if (!s_belief_word(hits[k].word))
                    continue;
                if ((size_t) m == cap) {
                    cap *= 2;
                    cf = xrealloc(cf, cap * sizeof *cf);
                    sd = xrealloc(sd, cap);
                }
                bool spoken = false;
                for (int t = 0; t < nt; t++)
                    spoken |= truth[t] == hits[k].word;
                cf[m] = hits[k].confidence;
                sd[m++] = spoken;
            }
        }
        corpus_mixer_destroy(&mx);
    }
    *conf = cf;
    *said = sd;
    *n = m;
    cf = NULL;
    sd = NULL;
    rc = 0;
out:
    free(cf);
    free(sd);
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
    json_t *root = NULL;
    bool synthetic_done = false;
    if (corpus_dir && !corpus)
        return -1;
    e.corpus = corpus;
    e.kws = kws_new(model, &ko, err, errlen);
    if (e.kws)
        e.low = kws_new(model, &lo, err, errlen);
    if (!e.kws || !e.low)
        goto done;
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

    kws_hit_t hits[S_MAX_HITS];
    int words[S_MAX_HITS];
    float conf[S_MAX_HITS];
    int accepted[S_N_SNR] = { 0 }, exact_words[S_N_SNR] = { 0 };
    int misread[S_N_SNR] = { 0 };   /* an intent, not the one spoken (intent or a slot) */
    /* acceptance over all SNRs per voice group: espeak-ng's voices together,
     * each flite and festival voice on its own (they differ most) */
    enum { MAX_GROUPS = 16 };
    char groups[MAX_GROUPS][72];
    int n_groups = 0, eng_trials[MAX_GROUPS] = { 0 }, eng_accepted[MAX_GROUPS] = { 0 };
    for (int s = 0; s < S_N_SNR; s++) {
        corpus_mixer_t *m = s_snr_mixer(corpus, val, seed, s);
        for (int i = 0; i < n_cmd; i++) {
            const corpus_clip_t *c = corpus_clip(corpus, cmd[i]);
            size_t n = s_make_stream(&e, m, cmd[i], (float) s_snrs[s]);
            int nh = kws_decode(e.kws, e.pcm, n, hits, S_MAX_HITS);
            if (nh < 0) {
                snprintf(err, errlen, "%s", kws_error(e.kws));
                corpus_mixer_destroy(&m);
                goto done;
            }
            int truth[CORPUS_MAX_MARKS];
            int nt = s_truth(c, truth);
            for (int k = 0; k < nh; k++) {
                words[k] = hits[k].word;
                conf[k] = hits[k].confidence;
            }
            bool same = nh == nt;
            for (int k = 0; same && k < nt; k++)
                same = truth[k] == words[k];
            exact_words[s] += same;
            intent_result_t want, got;
            intent_match(e.intent, truth, NULL, (size_t) nt, &want, NULL, 0);
            char key[72];
            if (strcmp(c->engine, "espeak-ng") == 0)
                snprintf(key, sizeof key, "espeak-ng");
            else
                snprintf(key, sizeof key, "%s %s", c->engine, c->voice);
            int eng = 0;
            while (eng < n_groups && strcmp(groups[eng], key) != 0)
                eng++;
            if (eng == n_groups && n_groups < MAX_GROUPS)
                snprintf(groups[n_groups++], sizeof groups[0], "%s", key);
            if (eng == MAX_GROUPS)
                eng = MAX_GROUPS - 1;   /* more voices than groups: the last one collects them */
            eng_trials[eng]++;
            bool matched = intent_match(e.intent, words, conf, (size_t) nh, &got, NULL, 0) == 0;
            if (matched && real_same_intent(&want, &got)) {
                accepted[s]++;
                eng_accepted[eng]++;
                continue;
            }
            misread[s] += matched;
            if (getenv("SHOP_EVAL_VERBOSE")) {
                char a[160], b[160];
                fprintf(stderr, "miss %2d dB [%s %s] \"%s\": want %s got", s_snrs[s], c->engine,
                        c->voice, c->text, intent_result_format(&want, a, sizeof a));
                for (int k = 0; k < nh; k++)
                    fprintf(stderr, " %s(%.2f)", vocab_name(words[k]), (double) conf[k]);
                fprintf(stderr, " -> %s\n", got.intent[0] ? intent_result_format(&got, b, sizeof b)
                                                          : "-");
            }
        }
        corpus_mixer_destroy(&m);
        if (!json)
            fprintf(stderr, "audio: %2d dB SNR: %d/%d commands accepted (%.1f %%), words exact %.1f %%\n",
                    s_snrs[s], accepted[s], n_cmd, 100.0 * accepted[s] / n_cmd,
                    100.0 * exact_words[s] / n_cmd);
    }

    /* background: non-command speech in noise, then noise alone, each half
     * of bg_min minutes, in 60 s streams */
    double bg_s[2] = { 0, 0 };
    int fa_words[2] = { 0, 0 }, fa_intents[2] = { 0, 0 }, fa_wake[2] = { 0, 0 };
    int n_bg_wake = 0, cap_bg_wake = 256;
    float *bg_wake = xmalloc((size_t) cap_bg_wake * sizeof *bg_wake);
    corpus_mixer_t *m = corpus_mixer_new(corpus, split, (uint64_t) seed * 7777 + 1 + vs);
    const size_t stream_n = 60 * CORPUS_RATE;
    float *stream = xmalloc(stream_n * sizeof *stream), *noise = xmalloc(stream_n * sizeof *noise);
    kws_hit_t *bh = xmalloc(4096 * sizeof *bh);
    int next_bg = 0;
    bool verbose = getenv("SHOP_EVAL_VERBOSE") != NULL;
    for (int part = 0; part < 2; part++) {
        while (bg_s[part] < bg_min * 30.0) {
            corpus_noise_t noise_type;
            memset(stream, 0, stream_n * sizeof *stream);
            if (part == 0) {
                /* speech with 0.2-1.5 s pauses */
                size_t at = (size_t) corpus_mixer_uniform(m, 0, 8000);
                while (at < stream_n) {
                    int ci = bg[next_bg++ % n_bg];
                    const corpus_clip_t *c = corpus_clip(corpus, ci);
                    s_reserve(&e.pcm, &e.cap, (size_t) c->n);
                    corpus_clip_pcm(corpus, ci, e.pcm);
                    float g = corpus_mixer_uniform(m, 0.3f, 1.0f);
                    for (int k = 0; k < c->n && at + (size_t) k < stream_n; k++)
                        stream[at + (size_t) k] += g * e.pcm[k];
                    at += (size_t) c->n + (size_t) corpus_mixer_uniform(m, 3200, 24000);
                }
                noise_type = corpus_mixer_pick_noise(m);
                corpus_mixer_noise(m, noise_type, noise, stream_n);
                corpus_add_at_snr(stream, noise, stream_n, corpus_mixer_uniform(m, 6, 24));
            } else {
                noise_type = corpus_mixer_pick_noise(m);
                corpus_mixer_noise(m, noise_type, stream, stream_n);
            }
            float peak = 0;
            for (size_t i = 0; i < stream_n; i++)
                peak = fmaxf(peak, fabsf(stream[i]));
            float g = powf(10.f, corpus_mixer_uniform(m, -30, -3) / 20.f) / fmaxf(peak, 1e-9f);
            for (size_t i = 0; i < stream_n; i++)
                stream[i] *= g;
            for (int pass = 0; pass < 2; pass++) {
                kws_t *k = pass == 0 ? e.kws : e.low;
                int nh = kws_decode(k, stream, stream_n, bh, 4096);
                if (nh < 0) {
                    snprintf(err, errlen, "%s", kws_error(k));
                    goto bg_done;
                }
                if (pass == 1) {
                    for (int h = 0; h < nh; h++)
                        if (bh[h].word == VOCAB_WAKE) {
                            if (n_bg_wake == cap_bg_wake) {
                                cap_bg_wake *= 2;
                                bg_wake = xrealloc(bg_wake, (size_t) cap_bg_wake * sizeof *bg_wake);
                            }
                            bg_wake[n_bg_wake++] = bh[h].confidence;
                        }
                    continue;
                }
                fa_words[part] += nh;
                /* utterances: hits less than 1.5 s apart */
                for (int h = 0; h < nh;) {
                    int q = h + 1;
                    while (q < nh && bh[q].time - bh[q - 1].time < 1.5)
                        q++;
                    int w[S_MAX_HITS];
                    float cf[S_MAX_HITS];
                    int nw = 0;
                    for (int r = h; r < q && nw < S_MAX_HITS; r++) {
                        w[nw] = bh[r].word;
                        cf[nw++] = bh[r].confidence;
                        fa_wake[part] += bh[r].word == VOCAB_WAKE;
                    }
                    intent_result_t got;
                    if (intent_match(e.intent, w, cf, (size_t) nw, &got, NULL, 0) == 0) {
                        fa_intents[part]++;
                        if (verbose) {
                            char b[160];
                            fprintf(stderr, "false accept [%s, %s noise] at %.1f s:",
                                    part == 0 ? "speech" : "noise alone",
                                    corpus_noise_name(noise_type), bh[h].time);
                            for (int r = 0; r < nw; r++)
                                fprintf(stderr, " %s(%.2f)", vocab_name(w[r]), (double) cf[r]);
                            fprintf(stderr, " -> %s\n", intent_result_format(&got, b, sizeof b));
                        }
                    }
                    h = q;
                }
            }
            bg_s[part] += 60.0;
        }
    }

    /* wake word: misses at the threshold above every background wake peak
     * (0 false accepts in the background hours; 1 per 10 h needs >= 10 h) */
    float wake_thr = 0.05f;
    for (int i = 0; i < n_bg_wake; i++)
        wake_thr = fmaxf(wake_thr, bg_wake[i]);
    int wake_miss = 0;
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

    double a_s = 0, w_s = 0, c_s = 0, a2 = 0, w2 = 0, c2 = 0;
    kws_timing(e.kws, &a_s, &w_s, &c_s);
    kws_timing(e.low, &a2, &w2, &c2);
    double rtf = (c_s + c2) / (a_s + a2), rtf_wall = (w_s + w2) / (a_s + a2);
    double hours = (bg_s[0] + bg_s[1]) / 3600.0;
    double mean_acc = 0;
    int n_misread = 0;
    for (int s = 0; s < S_N_SNR; s++) {
        mean_acc += 100.0 * accepted[s] / n_cmd / S_N_SNR;
        n_misread += misread[s];
    }

    root = json_object();
    json_t *tab = json_array();
    for (int s = 0; s < S_N_SNR; s++)
        json_array_append_new(tab, json_pack("{s:i, s:f, s:f, s:i, s:i}", "snr_db", s_snrs[s],
                                             "acceptance_pct", 100.0 * accepted[s] / n_cmd,
                                             "words_exact_pct", 100.0 * exact_words[s] / n_cmd,
                                             "commands", n_cmd, "misread", misread[s]));
    json_object_set_new(root, "acceptance", tab);
    json_object_set_new(root, "acceptance_mean_pct", json_real(mean_acc));
    json_object_set_new(root, "misread_commands", json_integer(n_misread));
    json_t *by_eng = json_object();
    for (int k = 0; k < n_groups; k++)
        if (eng_trials[k])
            json_object_set_new(by_eng, groups[k], json_pack("{s:f, s:i}", "acceptance_pct",
                                100.0 * eng_accepted[k] / eng_trials[k], "trials", eng_trials[k]));
    json_object_set_new(root, "acceptance_by_voice", by_eng);
    json_object_set_new(root, "false_accepts", json_pack(
        "{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
        "speech_hours", bg_s[0] / 3600.0, "noise_hours", bg_s[1] / 3600.0,
        "words_per_hour_speech", fa_words[0] / (bg_s[0] / 3600.0),
        "words_per_hour_noise", fa_words[1] / (bg_s[1] / 3600.0),
        "intents_per_hour_speech", fa_intents[0] / (bg_s[0] / 3600.0),
        "intents_per_hour_noise", fa_intents[1] / (bg_s[1] / 3600.0),
        "intents_per_hour", (fa_intents[0] + fa_intents[1]) / hours,
        "wake_per_hour", (fa_wake[0] + fa_wake[1]) / hours));
    json_object_set_new(root, "wake", json_pack(
        "{s:f, s:i, s:f, s:f, s:s}", "threshold", (double) wake_thr, "utterances", n_wake,
        "miss_pct", n_wake ? 100.0 * wake_miss / n_wake : 0.0, "snr_db", 10.0,
        "operating_point", "no wake false accept in the background hours"));
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
            printf("%6d  %12.1f  %13.1f\n", s_snrs[s], 100.0 * accepted[s] / n_cmd,
                   100.0 * exact_words[s] / n_cmd);
        printf("mean    %12.1f   (%d commands of held-out voices per SNR; %d read as another "
               "intent)\n", mean_acc, n_cmd, n_misread);
        for (int k = 0; k < n_groups; k++)
            if (eng_trials[k])
                printf("%-36s %5.1f %%  (%d trials over all SNRs)\n", groups[k],
                       100.0 * eng_accepted[k] / eng_trials[k], eng_trials[k]);
        printf("false accepts: %.2f intents/h (%.2f h speech: %d words, %d intents; %.2f h noise: "
               "%d words, %d intents), wake %.2f/h\n", (fa_intents[0] + fa_intents[1]) / hours,
               bg_s[0] / 3600, fa_words[0], fa_intents[0], bg_s[1] / 3600, fa_words[1],
               fa_intents[1], (fa_wake[0] + fa_wake[1]) / hours);
        printf("wake word: %.1f %% missed at 10 dB (%d utterances) at threshold %.3f "
               "(no wake false accept in %.2f h)\n", n_wake ? 100.0 * wake_miss / n_wake : 0.0,
               n_wake, (double) wake_thr, hours);
        printf("real-time factor: %.4f CPU, %.4f wall-clock (one thread, %.2f h of audio)\n",
               rtf, rtf_wall, (a_s + a2) / 3600.0);
    }
    synthetic_done = true;
bg_done:
    corpus_mixer_destroy(&m);
    free(stream);
    free(noise);
    free(bh);
    free(bg_wake);
    if (!synthetic_done)
        goto done;
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
    real_destroy(&real);
    json_decref(root);
    free(cmd);
    free(wake);
    free(bg);
    free(e.pcm);
    free(e.noise);
    kws_destroy(&e.kws);
    kws_destroy(&e.low);
    intent_destroy(&e.intent);
    corpus_destroy(&corpus);
    return rc;
}
