/* audio/train.c: the work of `shop-train audio` (its options are parsed in
 * tools/audio.c): trains the keyword-spotting DS-CNN on
 * the synthetic corpus (audio/corpus.h) and recordings of real speakers
 * (audio/realdata.h) and writes models/kws.nn.
 *
 * Each training example is a 1 s window of a clean clip, placed so that a
 * vocabulary word ends 30-250 ms before the window's end (the moment the
 * streaming detector should fire), then reverberated, mixed with noise at a
 * random SNR and scaled to a random level, and turned into log-mel frames by
 * the same features module the detector runs. Windows of unknown speech
 * and of noise alone teach _unknown_ and _silence_; so do windows at random
 * places of command clips that end mid-word, between words or long after
 * one. The features are then warped in frequency and time and masked
 * (s_augment), anew every epoch. Validation voices and validation speakers
 * are kept apart; the test voices are never read here. A word followed by
 * more speech ends where its prefix clip, aligned to the sentence, ends
 * (corpus_realign_marks), not where the prefix clip's lengthened last word
 * stops sounding. With --domain-adversarial, a second head behind a gradient
 * reversal learns to tell a real speaker's window from a synthetic voice's
 * while the layers below it learn to make it fail (s_dann_*). With
 * --domain-classes a real recording's window trains the softmax over the
 * classes real recordings hold alone (s_domain_subsets, nn_data_t.subset). */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/align.h"
#include "audio/belief.h"
#include "audio/corpus.h"
#include "audio/eval.h"
#include "audio/features.h"
#include "audio/kws.h"
#include "audio/realdata.h"
#include "audio/vocab.h"
#include "common/log.h"
#include "common/util.h"
#include "audio/train.h"
#include "nn/nn.h"

#define S_WIN 16000            /* samples per example: 1 s */
#define S_PRE 4000             /* reverberation lead-in before the window */
/* Threshold range (--thr-min sets the floor). The first model's validation
 * windows were aligned on word ends only; a stream also shows the CNN the
 * windows in between (mid-word, between words), where its first streaming
 * runs showed stray posteriors of 0.2-0.4 (the floor was raised from 0.2 to
 * 0.5 after seeing them; docs/speech.md says so). */
#define S_THR_MAX AUDIO_TRAIN_THR_MAX
/* the belief fit's command utterances: those of `shop-eval audio --voices
 * val --commands 300` at its default seed */
#define S_BELIEF_COMMANDS 300
#define S_BELIEF_SEED 1

typedef struct {
    int clip;
    int t;                     /* window end, in clip samples (may pass the clip end) */
    int label;
    int mark_end;              /* end of the labelled word, -1 for none */
} s_example_t;

typedef struct {
    s_example_t *v;
    int n, cap;
} s_list_t;

/* Recordings of real speakers (--real-data), decoded, as corpus clips: a
 * vocabulary word has one mark at its end of speech; other words are
 * unknown speech; Speech Commands' noise clips have the label _silence_. */
typedef struct {
    int n;
    corpus_clip_t *clips;
    float **pcm;
    bool *val;                 /* a calibration speaker's (held out of gradient steps) */
    bool *noise;               /* a noise clip (no speech) */
    int *noise_pool;           /* training speakers' noise clips, as noise sources */
    int n_noise_pool;
    float real_noise;          /* share of windows mixed with one of them */
    int *copies;               /* noisy copies in the training set */
    int *end;                  /* end of speech (sample) */
} s_real_set_t;

/* Where the examples' clips come from: the synthetic corpus (indices
 * 0..count-1), then the real recordings. */
typedef struct {
    const corpus_t *corpus;
    const s_real_set_t *real;
} s_src_t;

/* Filler classes (--filler-classes, audio/kws.h): the words that are not
 * vocabulary words, each its own output after the vocabulary's; a clip
 * whose whole text is one of them (a real recording of "up", a synthetic
 * voice saying "house" alone) is labelled with it instead of _unknown_. */
typedef struct {
    int n;
    char word[KWS_MAX_FILLERS][KWS_FILLER_WORD_MAX + 1];
} s_fillers_t;

int
audio_filler_label(const char *const *words, int n, const char *text)
{
    char w[KWS_FILLER_WORD_MAX + 2];
    size_t len = 0;
    while (*text == ' ')
        text++;
    for (; *text && *text != ' ' && len < sizeof w - 1; text++)
        w[len++] = *text >= 'A' && *text <= 'Z' ? (char) (*text - 'A' + 'a') : *text;
    w[len] = '\0';
    while (*text == ' ')
        text++;
    if (*text)
        return VOCAB_UNKNOWN;          /* more than one word */
    for (int j = 0; j < n; j++)
        if (strcmp(w, words[j]) == 0)
            return VOCAB_COUNT + j;
    return VOCAB_UNKNOWN;
}

/* The label of unknown speech with this text: its filler class in fl, or
 * _unknown_ (also when fl is NULL or has none). */
static int
s_unknown_label(const s_fillers_t *fl, const char *text)
{
    if (!fl || fl->n == 0)
        return VOCAB_UNKNOWN;
    const char *words[KWS_MAX_FILLERS];
    for (int j = 0; j < fl->n; j++)
        words[j] = fl->word[j];
    return audio_filler_label(words, fl->n, text);
}

static int
s_cmp_word(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* --filler-classes: the distinct words of the real recordings (training and
 * calibration speakers) that are not vocabulary words, sorted. Returns 0,
 * or -1 with a message in err when there are more than KWS_MAX_FILLERS or
 * a word cannot name a class. */
static int
s_fillers_from_real(const real_t *set, s_fillers_t *fl, char *err, size_t errlen)
{
    fl->n = 0;
    for (int i = 0; i < real_count(set); i++) {
        const real_clip_t *rc = real_clip(set, i);
        if (rc->validation || rc->vocab != VOCAB_UNKNOWN)
            continue;
        int j = 0;
        while (j < fl->n && strcmp(fl->word[j], rc->word) != 0)
            j++;
        if (j < fl->n)
            continue;
        if (!kws_filler_word_ok(rc->word) || fl->n == KWS_MAX_FILLERS) {
            snprintf(err, errlen, "%s: \"%s\" cannot be a filler class (at most %d words of 1 "
                     "to %d lower-case letters)", rc->path, rc->word, KWS_MAX_FILLERS,
                     KWS_FILLER_WORD_MAX);
            return -1;
        }
        memcpy(fl->word[fl->n++], rc->word, strlen(rc->word) + 1);   /* checked: it fits */
    }
    qsort(fl->word, (size_t) fl->n, sizeof fl->word[0], s_cmp_word);
    return 0;
}

/* The filler classes of the spotter model at path (its labels after the
 * vocabulary's). Returns 0, or -1 with a message in err. */
static int
s_fillers_of_model(const char *path, s_fillers_t *fl, char *err, size_t errlen)
{
    nn_net_t *m = nn_load(path, err, errlen);
    if (!m)
        return -1;
    char why[300];
    int n = kws_check_labels(m, why, sizeof why);
    if (n < 0)
        snprintf(err, errlen, "%s: %s", path, why);
    fl->n = n < 0 ? 0 : n;
    for (int j = 0; j < fl->n; j++)
        snprintf(fl->word[j], sizeof fl->word[0], "%s",
                 nn_label(m, VOCAB_COUNT + j) + strlen(KWS_FILLER_PREFIX));
    nn_destroy(&m);
    return n < 0 ? -1 : 0;
}

/* The labels of a net with the vocabulary's outputs and fl's. */
static int
s_set_labels(nn_net_t *net, const s_fillers_t *fl)
{
    const char *labels[VOCAB_COUNT + KWS_MAX_FILLERS];
    char names[KWS_MAX_FILLERS][NN_MAX_NAME];
    for (int i = 0; i < VOCAB_COUNT; i++)
        labels[i] = vocab_name(i);
    for (int j = 0; j < fl->n; j++) {
        snprintf(names[j], sizeof names[j], "%s%s", KWS_FILLER_PREFIX, fl->word[j]);
        labels[VOCAB_COUNT + j] = names[j];
    }
    return nn_set_labels(net, labels, VOCAB_COUNT + fl->n);
}

static bool
s_training_split(const corpus_clip_t *c, void *user)
{
    (void) user;
    return c->split == CORPUS_TRAIN;
}

static const corpus_clip_t *
s_clip(const s_src_t *src, int i)
{
    int nc = corpus_count(src->corpus);
    return i < nc ? corpus_clip(src->corpus, i) : &src->real->clips[i - nc];
}

static void
s_clip_pcm(const s_src_t *src, int i, float *out)
{
    int nc = corpus_count(src->corpus);
    if (i < nc)
        corpus_clip_pcm(src->corpus, i, out);
    else
        memcpy(out, src->real->pcm[i - nc], (size_t) src->real->clips[i - nc].n * sizeof *out);
}

static void
s_push(s_list_t *l, int clip, int t, int label, int mark_end)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4096;
        l->v = xrealloc(l->v, (size_t) l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (s_example_t) { clip, t, label, mark_end };
}

/* The label of a window of command clip c ending at sample t, for a model
 * that sees time order: the word that ended 30-250 ms before t (the latest,
 * if two did), _unknown_ when no word ended in that range and none is about
 * to end or ended just outside it, -1 (not used) in those unclear margins. */
static int
s_label_at(const corpus_clip_t *c, int t)
{
    int label = VOCAB_UNKNOWN, best_d = 1 << 30;
    for (int m = 0; m < c->n_marks; m++) {
        int d = t - c->marks[m].end;
        if (d >= 480 && d <= 4000 && d < best_d) {
            label = c->marks[m].word;
            best_d = d;
        }
    }
    if (best_d <= 4000)
        return label;
    for (int m = 0; m < c->n_marks; m++) {
        int d = t - c->marks[m].end;
        if ((d > -1600 && d < 480) || (d > 4000 && d < 5600))
            return -1;
    }
    return VOCAB_UNKNOWN;
}

/* Picks the examples of one set (val = validation voices) from the corpus;
 * training leaves out the voices named in skip; the training voices named in
 * holdout (corpus_voice_listed) are validation voices too. Unknown speech
 * that is one filler word of fl (NULL: none) has its class.
 * between > 0 (time-order heads only): that many windows per command clip
 * and copy, on average, at random places, labelled by s_label_at, so the
 * model learns not to fire mid-word, between words or long after one. */
static void
s_collect(const corpus_t *corpus, bool val, int copies, float between, const char *skip,
          const char *holdout, const s_fillers_t *fl, corpus_mixer_t *rng, s_list_t *out)
{
    int n_speech = 0;
    for (int i = 0; i < corpus_count(corpus); i++) {
        const corpus_clip_t *c = corpus_clip(corpus, i);
        bool is_val = corpus_voice_is_validation(c->engine, c->voice)
                      || corpus_voice_listed(holdout, c->voice);
        if (c->split != CORPUS_TRAIN || is_val != val || (!val && corpus_voice_listed(skip, c->voice)))
            continue;
        for (int k = 0; k < copies; k++) {
            if (c->kind == CORPUS_KIND_UNKNOWN) {
                /* anywhere from the first word on */
                int lo = c->onset + 2400, hi = c->n + 3200;
                if (lo >= hi)
                    lo = hi - 1;
                s_push(out, i, (int) corpus_mixer_uniform(rng, (float) lo, (float) hi),
                       s_unknown_label(fl, c->text), -1);
                n_speech++;
                continue;
            }
            for (int m = 0; m < c->n_marks; m++) {
                int t = c->marks[m].end + (int) corpus_mixer_uniform(rng, 480.f, 4000.f);
                s_push(out, i, t, c->marks[m].word, c->marks[m].end);
                n_speech++;
            }
            for (float b = between; b > 0; b -= 1.f) {
                if (b < 1.f && corpus_mixer_uniform(rng, 0, 1) >= b)
                    break;
                int t = (int) corpus_mixer_uniform(rng, (float) c->onset + 1600.f,
                                                   (float) c->n + 8000.f);
                int label = s_label_at(c, t);
                if (label >= 0)
                    s_push(out, i, t, label, -1);
            }
            /* a lone word seen too early to fire: _unknown_ */
            if (between <= 0 && c->n_marks == 1 && c->marks[0].end - c->onset > 5000
                && corpus_mixer_uniform(rng, 0, 1) < 0.25f) {
                int t = (int) corpus_mixer_uniform(rng, (float) c->onset + 1600.f,
                                                   (float) c->marks[0].end - 3200.f);
                s_push(out, i, t, VOCAB_UNKNOWN, -1);
            }
        }
    }
    /* noise alone: 7 % of the set */
    int n_sil = n_speech * 7 / 93;
    for (int k = 0; k < n_sil; k++)
        s_push(out, -1, 0, VOCAB_SILENCE, -1);
}

/* Reads the recordings under dir: every clip of a training speaker (val
 * false) or of a calibration speaker (val true) is decoded; the validation
 * speakers' are never read. sc_copies and fsdd_copies noisy copies of each
 * training clip are rendered. The training speakers' noise clips also
 * become noise sources for a share real_noise of all windows. fl non-NULL:
 * the filler classes of these recordings into it (s_fillers_from_real).
 * Returns 0 or -1. */
static int
s_real_load(const char *dir, int sc_copies, int fsdd_copies, float real_noise,
            s_fillers_t *fl, s_real_set_t *rs, char *err, size_t errlen)
{
    memset(rs, 0, sizeof *rs);
    real_t *set = real_open(dir, err, errlen);
    if (!set)
        return -1;
    if (fl && s_fillers_from_real(set, fl, err, errlen) != 0) {
        real_destroy(&set);
        return -1;
    }
    int n = real_count(set);
    rs->clips = xcalloc((size_t) n, sizeof *rs->clips);
    rs->pcm = xcalloc((size_t) n, sizeof *rs->pcm);
    rs->val = xcalloc((size_t) n, sizeof *rs->val);
    rs->noise = xcalloc((size_t) n, sizeof *rs->noise);
    rs->copies = xcalloc((size_t) n, sizeof *rs->copies);
    rs->end = xcalloc((size_t) n, sizeof *rs->end);
    rs->noise_pool = xcalloc((size_t) n, sizeof *rs->noise_pool);
    rs->real_noise = real_noise;
    for (int i = 0; i < n; i++) {
        const real_clip_t *rc = real_clip(set, i);
        if (rc->validation)
            continue;
        size_t len;
        float *pcm;
        if (real_clip_pcm(set, i, &pcm, &len, err, errlen) != 0) {
            real_destroy(&set);
            return -1;
        }
        corpus_clip_t *c = &rs->clips[rs->n];
        memset(c, 0, sizeof *c);
        c->split = CORPUS_TRAIN;
        snprintf(c->engine, sizeof c->engine, "%s", rc->source == REAL_FSDD ? "fsdd" : "real");
        snprintf(c->voice, sizeof c->voice, "%.40s", rc->speaker);
        snprintf(c->text, sizeof c->text, "%s", rc->word);
        c->n = (int) len;
        int on, end;
        real_speech_extent(pcm, len, &on, &end);
        c->onset = on;
        if (vocab_is_keyword(rc->vocab)) {
            c->kind = CORPUS_KIND_COMMAND;
            c->n_marks = 1;
            c->marks[0] = (corpus_mark_t) { rc->vocab, end };
        } else {
            c->kind = CORPUS_KIND_UNKNOWN;
        }
        rs->pcm[rs->n] = pcm;
        rs->val[rs->n] = rc->calibration;
        rs->noise[rs->n] = rc->vocab == VOCAB_SILENCE;
        if (rs->noise[rs->n] && !rc->calibration && (int) len >= S_WIN)
            rs->noise_pool[rs->n_noise_pool++] = rs->n;
        rs->copies[rs->n] = rc->source == REAL_FSDD ? fsdd_copies : sc_copies;
        rs->end[rs->n] = end;
        rs->n++;
    }
    real_destroy(&set);
    return 0;
}

static void
s_real_free(s_real_set_t *rs)
{
    for (int i = 0; i < rs->n; i++)
        free(rs->pcm[i]);
    free(rs->pcm);
    free(rs->clips);
    free(rs->val);
    free(rs->noise);
    free(rs->copies);
    free(rs->end);
    free(rs->noise_pool);
    memset(rs, 0, sizeof *rs);
}

/* The examples of the real recordings of one set (val: calibration speakers)
 * into out; first is the index of the first real clip (after the corpus).
 * Per copy: a vocabulary word's window ends 30-250 ms after its end of
 * speech, and one more window at a random place is labelled by where it
 * ends (s_label_at: mid-word and long after it are _unknown_); other words'
 * windows end anywhere from 100 ms before their end of speech to 250 ms
 * after it (_unknown_, or the word's filler class in fl); noise clips are
 * _silence_. */
static void
s_collect_real(const s_real_set_t *rs, int first, bool val, int copies_val,
               const s_fillers_t *fl, corpus_mixer_t *rng, s_list_t *out)
{
    for (int i = 0; i < rs->n; i++) {
        if (rs->val[i] != val)
            continue;
        const corpus_clip_t *c = &rs->clips[i];
        int copies = val ? copies_val : rs->copies[i];
        for (int k = 0; k < copies; k++) {
            if (rs->noise[i]) {
                s_push(out, first + i, c->n, VOCAB_SILENCE, -1);
                continue;
            }
            if (c->n_marks == 0) {
                int t = rs->end[i] + (int) corpus_mixer_uniform(rng, -1600.f, 4000.f);
                s_push(out, first + i, t, s_unknown_label(fl, c->text), -1);
                continue;
            }
            int end = c->marks[0].end;
            int t = end + (int) corpus_mixer_uniform(rng, 480.f, 4000.f);
            s_push(out, first + i, t, c->marks[0].word, end);
            t = (int) corpus_mixer_uniform(rng, (float) c->onset + 1600.f, (float) c->n + 8000.f);
            int label = s_label_at(c, t);
            if (label >= 0)
                s_push(out, first + i, t, label, -1);
        }
    }
}

typedef struct {
    const s_src_t *src;
    corpus_mixer_t *mixer;
    features_t *feat;          /* reused: planning once per thread, not per example */
    float *clip;               /* scratch: one clean clip */
    float *seg;                /* S_PRE + S_WIN speech */
    float *noise;              /* S_WIN */
} s_maker_t;

/* One second of noise into out: a training speaker's recorded noise clip
 * (the Speech Commands `_silence_` recordings: kitchen, bike, tap, ...),
 * circularly shifted, for a share real_noise of the windows; else a
 * synthetic training noise (corpus_mixer_pick_noise). */
static void
s_noise(s_maker_t *mk, float *out)
{
    const s_real_set_t *rs = mk->src->real;
    corpus_mixer_t *m = mk->mixer;
    if (rs && rs->n_noise_pool > 0 && rs->real_noise > 0
        && corpus_mixer_uniform(m, 0, 1) < rs->real_noise) {
        int k = (int) corpus_mixer_uniform(m, 0, (float) rs->n_noise_pool);
        int c = rs->noise_pool[k < rs->n_noise_pool ? k : rs->n_noise_pool - 1];
        const float *pcm = rs->pcm[c];
        int n = rs->clips[c].n, off = (int) corpus_mixer_uniform(m, 0, (float) n);
        for (int i = 0; i < S_WIN; i++)
            out[i] = pcm[(off + i) % n];
        return;
    }
    corpus_mixer_noise(m, corpus_mixer_pick_noise(m), out, S_WIN);
}

/* Renders example e into 98 x 40 log-mel frames at x. Returns 0 or -1. */
static int
s_make(s_maker_t *mk, const s_example_t *e, float *x)
{
    corpus_mixer_t *m = mk->mixer;
    float *seg = mk->seg, *win = mk->seg + S_PRE;
    memset(seg, 0, (S_PRE + S_WIN) * sizeof *seg);
    if (e->clip >= 0) {
        const corpus_clip_t *c = s_clip(mk->src, e->clip);
        s_clip_pcm(mk->src, e->clip, mk->clip);
        int start = e->t - S_WIN - S_PRE;
        for (int i = 0; i < S_PRE + S_WIN; i++) {
            int s = start + i;
            if (s >= 0 && s < c->n)
                seg[i] = mk->clip[s];
        }
        if (corpus_mixer_uniform(m, 0, 1) < 0.5f)
            corpus_mixer_reverb(m, seg, S_PRE + S_WIN);
        /* a tenth of the windows has no noise at all (40-60 dB SNR) */
        float snr = corpus_mixer_uniform(m, 0, 1) < 0.1f ? corpus_mixer_uniform(m, 40, 60)
                                                         : corpus_mixer_uniform(m, -3, 30);
        s_noise(mk, mk->noise);
        if (corpus_peak_frame_power(win, S_WIN) > 0)
            corpus_add_at_snr(win, mk->noise, S_WIN, snr);
        else
            memcpy(win, mk->noise, S_WIN * sizeof *win);
    } else {
        s_noise(mk, win);
    }
    /* level: peak between -40 and -1 dBFS, a quarter of the noise-only
     * windows much quieter (a silent room) */
    float peak = 0;
    for (int i = 0; i < S_WIN; i++)
        peak = fmaxf(peak, fabsf(win[i]));
    float db = corpus_mixer_uniform(m, -40, -1);
    if (e->clip < 0 && corpus_mixer_uniform(m, 0, 1) < 0.25f)
        db = corpus_mixer_uniform(m, -90, -50);
    float g = peak > 0 ? powf(10.f, db / 20.f) / peak : 0;
    for (int i = 0; i < S_WIN; i++)
        win[i] = fmaxf(-1.f, fminf(1.f, win[i] * g));
    /* stream edges: the detector's history starts and ends in digital
     * silence, so some windows are cut the same way */
    float u = corpus_mixer_uniform(m, 0, 1);
    if (e->clip >= 0 && u < 0.08f) {
        const corpus_clip_t *c = s_clip(mk->src, e->clip);
        int onset_in_win = audio_samples_before_onset(c->onset, e->t, S_WIN);
        if (onset_in_win > 0) {
            int z = (int) corpus_mixer_uniform(m, 0, (float) onset_in_win);
            memset(win, 0, (size_t) z * sizeof *win);
        }
    } else if (e->mark_end >= 0 && u < 0.16f) {
        int end_in_win = e->mark_end - (e->t - S_WIN);
        if (end_in_win > 0 && end_in_win < S_WIN) {
            int z = (int) corpus_mixer_uniform(m, (float) end_in_win, S_WIN);
            memset(win + z, 0, (size_t) (S_WIN - z) * sizeof *win);
        }
    }
    features_reset(mk->feat);
    return features_push(mk->feat, win, S_WIN, x, KWS_FRAMES) == KWS_FRAMES ? 0 : -1;
}

/* Rendering is split in chunks of S_CHUNK examples, each with its own
 * mixer seeded by (seed, chunk), so the windows are the same whatever the
 * number of threads that render them. */
#define S_CHUNK 1024

typedef struct {
    const s_src_t *src;
    const s_list_t *l;
    uint64_t seed;
    float *x;
    int32_t *y;
    int maxn;                  /* longest clip */
    atomic_int next;           /* next chunk to take */
    atomic_int done;           /* examples rendered */
    atomic_int failed;
} s_render_job_t;

typedef struct {
    s_render_job_t *job;
    features_t *feat;          /* planned by the caller: FFTW planning is not thread-safe */
} s_render_worker_t;

static void *
s_render_thread(void *arg)
{
    s_render_worker_t *wk = arg;
    s_render_job_t *j = wk->job;
    s_maker_t mk = { .src = j->src, .feat = wk->feat };
    mk.clip = xmalloc((size_t) j->maxn * sizeof *mk.clip);
    mk.seg = xmalloc((S_PRE + S_WIN) * sizeof *mk.seg);
    mk.noise = xmalloc(S_WIN * sizeof *mk.noise);
    size_t per = KWS_FRAMES * (size_t) features_config(wk->feat)->n_mels;
    for (;;) {
        int ck = atomic_fetch_add(&j->next, 1);
        int lo = ck * S_CHUNK, hi = lo + S_CHUNK < j->l->n ? lo + S_CHUNK : j->l->n;
        if (lo >= j->l->n || atomic_load(&j->failed))
            break;
        mk.mixer = corpus_mixer_new(j->src->corpus, CORPUS_TRAIN, j->seed ^ ((uint64_t) ck << 32));
        for (int i = lo; i < hi; i++) {
            if (!mk.mixer || s_make(&mk, &j->l->v[i], j->x + (size_t) i * per) != 0) {
                atomic_store(&j->failed, 1);
                break;
            }
            j->y[i] = j->l->v[i].label;
        }
        corpus_mixer_destroy(&mk.mixer);
        atomic_fetch_add(&j->done, hi - lo);
    }
    free(mk.clip);
    free(mk.seg);
    free(mk.noise);
    return NULL;
}

/* Renders a whole list into x (n x 98 x 40) and y with `threads` threads.
 * Returns 0 or -1. */
static int
s_render(const s_src_t *src, const features_config_t *fc, const s_list_t *l, uint64_t seed,
         int threads, float *x, int32_t *y, bool verbose, const char *what)
{
    enum { MAX_THREADS = 16 };
    const corpus_t *corpus = src->corpus;
    s_render_job_t job = { .src = src, .l = l, .seed = seed, .x = x, .y = y, .maxn = 1 };
    atomic_init(&job.next, 0);
    atomic_init(&job.done, 0);
    atomic_init(&job.failed, 0);
    for (int i = 0; i < corpus_count(corpus); i++)
        if (corpus_clip(corpus, i)->n > job.maxn)
            job.maxn = corpus_clip(corpus, i)->n;
    for (int i = 0; src->real && i < src->real->n; i++)
        if (src->real->clips[i].n > job.maxn)
            job.maxn = src->real->clips[i].n;
    threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    s_render_worker_t wk[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started = 0, rc = 0;
    for (int t = 0; t < threads; t++) {
        wk[t] = (s_render_worker_t) { .job = &job, .feat = features_new(fc) };
        if (!wk[t].feat || pthread_create(&tid[t], NULL, s_render_thread, &wk[t]) != 0) {
            features_destroy(&wk[t].feat);
            rc = -1;
            break;
        }
        started++;
    }
    uint64_t t0 = shop_now_ns();
    while (verbose && started == threads && atomic_load(&job.done) < l->n
           && !atomic_load(&job.failed)) {
        struct timespec ts = { 0, 500000000 };
        nanosleep(&ts, NULL);
        int d = atomic_load(&job.done);
        fprintf(stderr, "\raudio: %s examples %d/%d (%.0f/s)   ", what, d, l->n,
                d / ((double) (shop_now_ns() - t0) / 1e9));
    }
    if (started < threads)
        atomic_store(&job.failed, 1);
    for (int t = 0; t < started; t++) {
        pthread_join(tid[t], NULL);
        features_destroy(&wk[t].feat);
    }
    if (verbose)
        fprintf(stderr, "\n");
    return rc == 0 && !atomic_load(&job.failed) ? 0 : -1;
}

/* Training-time augmentation of the normalised log-mel windows (0 = the
 * mean), fresh for every epoch since nn_train calls it on each batch:
 * - vocal-tract-length perturbation (Jaitly & Hinton 2013): the spectrum is
 *   warped by a factor alpha in [0.85, 1.2], piecewise linearly so the band
 *   edges stay, a new speaker timbre from the few flite and festival voices;
 * - tempo: the window is stretched in time by 0.87-1.15 about its end (where
 *   the detector decides), speaking rate without touching the end alignment
 *   more than the trained 30-250 ms range allows;
 * - SpecAugment masks: two of up to 5 mel bands, one of up to 7 frames. */
typedef struct {
    int n_mels;
    float fmin, fmax;
    float center[FEATURES_MAX_MELS];   /* Hz, of each band (HTK mel) */
} s_aug_t;

static double
s_hz_to_mel(double f)
{
    return 2595.0 * log10(1.0 + f / 700.0);
}

static void
s_aug_init(s_aug_t *a, const features_config_t *fc)
{
    a->n_mels = fc->n_mels;
    a->fmin = fc->fmin;
    a->fmax = fc->fmax;
    double lo = s_hz_to_mel(fc->fmin), hi = s_hz_to_mel(fc->fmax);
    for (int k = 0; k < fc->n_mels; k++) {
        double m = lo + (hi - lo) * (k + 1) / (fc->n_mels + 1);
        a->center[k] = (float) (700.0 * (pow(10.0, m / 2595.0) - 1.0));
    }
}

/* Fractional band index of frequency f (Hz), by the band centres. */
static float
s_band_of(const s_aug_t *a, float f)
{
    if (f <= a->center[0])
        return 0;
    for (int k = 1; k < a->n_mels; k++)
        if (f <= a->center[k])
            return (float) (k - 1) + (f - a->center[k - 1]) / (a->center[k] - a->center[k - 1]);
    return (float) (a->n_mels - 1);
}

/* Output band k of every frame of s (T x F) takes the source's energy at
 * the fractional band src_band[k], linearly interpolated; tmp: T x F scratch. */
static void
s_warp_bands(float *s, float *tmp, int T, int F, const float *src_band)
{
    memcpy(tmp, s, (size_t) (T * F) * sizeof *tmp);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < F; k++) {
            int k0 = (int) src_band[k];
            int k1 = k0 + 1 < F ? k0 + 1 : k0;
            float w = src_band[k] - (float) k0;
            s[t * F + k] = (1 - w) * tmp[t * F + k0] + w * tmp[t * F + k1];
        }
}

void
audio_mask_bands(float *s, int T, int F, uint64_t *rng)
{
    if (nn_rand_float(rng) < 0.5f) {
        int w = (int) (nn_rand_u32(rng) % 6), f0 = (int) (nn_rand_u32(rng) % (uint32_t) F);
        for (int t = 0; t < T; t++)
            for (int f = f0; f < f0 + w && f < F; f++)
                s[t * F + f] = 0;
    }
}

void
audio_mask_frames(float *s, int T, int F, float p, uint64_t *rng)
{
    if (nn_rand_float(rng) < p) {
        int w = (int) (nn_rand_u32(rng) % 8), t0 = (int) (nn_rand_u32(rng) % (uint32_t) T);
        for (int t = t0; t < t0 + w && t < T; t++)
            memset(s + t * F, 0, (size_t) F * sizeof *s);
    }
}

int
audio_samples_before_onset(int onset, int t, int win)
{
    int n = onset - (t - win);
    return n < 0 ? 0 : n > win ? win : n;
}

static int
s_cmp_float(const void *a, const void *b)
{
    float x = *(const float *) a, y = *(const float *) b;
    return (x > y) - (x < y);
}

float
audio_fa_score(float *neg, int m, float fa_rate)
{
    if (m <= 0)
        return 0.5f;
    qsort(neg, (size_t) m, sizeof *neg, s_cmp_float);
    return neg[(int) ((1.0 - fa_rate) * (m - 1))];
}

static void
s_augment(float *x, int n, const nn_shape_t *shape, uint64_t *rng, void *user)
{
    const s_aug_t *a = user;
    int T = shape->h, F = shape->w;
    float *tmp = xmalloc((size_t) (T * F) * sizeof *tmp);
    float src_band[FEATURES_MAX_MELS];
    for (int i = 0; i < n; i++) {
        float *s = x + (size_t) i * (size_t) (T * F);
        if (F == a->n_mels && nn_rand_float(rng) < 0.9f) {
            /* output band at f takes the energy of the source at W^-1(f) */
            float alpha = 0.85f + 0.35f * nn_rand_float(rng);
            float b_out = 4800.f * fminf(alpha, 1.f), b_in = b_out / alpha;
            for (int k = 0; k < F; k++) {
                float f = a->center[k];
                float src = f <= b_out ? f / alpha
                                       : a->fmax - (a->fmax - f) * (a->fmax - b_in) / (a->fmax - b_out);
                src_band[k] = s_band_of(a, src);
            }
            s_warp_bands(s, tmp, T, F, src_band);
        }
        if (nn_rand_float(rng) < 0.7f) {
            float r = 0.87f + 0.28f * nn_rand_float(rng);
            memcpy(tmp, s, (size_t) (T * F) * sizeof *tmp);
            for (int t = 0; t < T; t++) {
                float src = (float) (T - 1) - (float) (T - 1 - t) * r;
                if (src < 0)
                    src = 0;
                int t0 = (int) src, t1 = t0 + 1 < T ? t0 + 1 : t0;
                float w = src - (float) t0;
                for (int k = 0; k < F; k++)
                    s[t * F + k] = (1 - w) * tmp[t0 * F + k] + w * tmp[t1 * F + k];
            }
        }
        for (int m = 0; m < 2; m++)
            audio_mask_bands(s, T, F, rng);
        audio_mask_frames(s, T, F, 0.3f, rng);
    }
    free(tmp);
}

/* Per-word thresholds from the validation windows (see the caller). */
static void
s_calibrate(nn_net_t *net, const nn_data_t *val, float thr_min, float fa_rate, float *thr)
{
    int n = val->n, per = val->shape.c * val->shape.h * val->shape.w;
    int n_out = nn_output_size(net), n_fill = n_out - VOCAB_COUNT;
    float *post = xmalloc((size_t) n * VOCAB_COUNT * sizeof *post);
    float *out = xmalloc(64 * (size_t) n_out * sizeof *out);
    float *neg = xmalloc((size_t) n * sizeof *neg);
    for (int i = 0; i < n; i += 64) {
        int b = n - i < 64 ? n - i : 64;
        if (nn_forward(net, val->x + (size_t) i * (size_t) per, b, out) != 0)
            log_warn("audio: calibration forward failed: %s", nn_error(net));
        /* the spotter's view: filler classes merged into _unknown_ */
        for (int j = 0; j < b; j++)
            kws_merge_posteriors(out + (size_t) j * n_out, n_fill,
                                 post + (size_t) (i + j) * VOCAB_COUNT);
    }
    for (int w = 0; w < VOCAB_COUNT; w++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if ((val->y[i] < VOCAB_COUNT ? val->y[i] : VOCAB_UNKNOWN) != w)
                neg[m++] = post[(size_t) i * VOCAB_COUNT + w];
        float q = audio_fa_score(neg, m, fa_rate);
        thr[w] = fminf(S_THR_MAX, fmaxf(thr_min, q + 0.02f));
    }
    free(post);
    free(out);
    free(neg);
}

void
audio_input_stats(const float *x, size_t n, float *mean, float *std)
{
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        sum += x[i];
        sq += (double) x[i] * x[i];
    }
    double m = n ? sum / (double) n : 0;
    *mean = (float) m;
    *std = (float) sqrt(fmax((n ? sq / (double) n : 0) - m * m, 1e-6));
}

nn_net_t *
audio_load_with_stats(const char *path, float *mean, float *std, char *err, size_t errlen)
{
    nn_net_t *net = nn_load(path, err, errlen); /* its messages name the file */
    if (!net)
        return NULL;
    const char *m = nn_meta_get(net, "kws.mean"), *d = nn_meta_get(net, "kws.std");
    char *end_m = NULL, *end_d = NULL;
    float mv = m ? strtof(m, &end_m) : NAN, dv = d ? strtof(d, &end_d) : NAN;
    if (!m || !d || end_m == m || end_d == d || !isfinite(mv) || !isfinite(dv) || !(dv > 0)) {
        snprintf(err, errlen, "%s: no kws.mean, or no positive kws.std", path);
        nn_destroy(&net);
        return NULL;
    }
    *mean = mv;
    *std = dv;
    return net;
}

/* Fits the grammar's belief constants for net as it is (thresholds, stride)
 * on the words it reports in the validation voices' commands
 * (audio_eval_heard_words) and writes them into its metadata, with a note
 * in its provenance; prints them on stdout and the share of words said by
 * confidence on stderr. Returns 0, or -1 with the reason in err (too few
 * words, one label, a fit out of the grammar's ranges): net then carries
 * no belief constants, stale ones removed. */
static int
s_fit_beliefs(nn_net_t *net, const corpus_t *corpus, const char *holdout, char *err,
              size_t errlen)
{
    nn_meta_unset(net, KWS_META_BELIEF_ODDS);
    nn_meta_unset(net, KWS_META_BELIEF_POWER);
    size_t len = 0;
    void *mem = nn_save_mem(net, &len, err, errlen);
    nn_net_t *copy = mem ? nn_load_mem(mem, len, err, errlen) : NULL;
    free(mem);
    kws_t *kws = copy ? kws_new_from_net(&copy, NULL, err, errlen) : NULL;
    if (!kws)
        return -1;
    float *conf = NULL;
    unsigned char *said = NULL;
    int n = 0;
    uint64_t t0 = shop_now_ns();
    int rc = audio_eval_heard_words(corpus, kws, holdout, S_BELIEF_COMMANDS, S_BELIEF_SEED, &conf,
                                    &said, &n, err, errlen);
    kws_destroy(&kws);
    belief_fit_t f;
    if (rc == 0)
        rc = belief_fit(conf, said, n, &f, err, errlen);
    if (rc == 0)
        rc = kws_net_set_belief(net, f.odds, f.power, err, errlen);
    if (rc == 0) {
        /* the data beside the fit: share said per confidence band */
        int tot[10] = { 0 }, yes[10] = { 0 };
        for (int i = 0; i < n; i++) {
            int b = (int) (conf[i] * 10);
            b = b < 0 ? 0 : b > 9 ? 9 : b;
            tot[b]++;
            yes[b] += said[i] != 0;
        }
        fprintf(stderr, "audio: words said by confidence (validation voices' commands):");
        for (int b = 0; b < 10; b++)
            if (tot[b])
                fprintf(stderr, " %.1f-%.1f %.2f (%d)", b / 10.0, (b + 1) / 10.0,
                        (double) yes[b] / tot[b], tot[b]);
        fprintf(stderr, "\n");
        const char *old = nn_meta_get(net, "provenance");
        size_t plen = (old ? strlen(old) : 0) + 200;
        char *prov = xmalloc(plen);
        snprintf(prov, plen, "%s%sbelief constants fitted on %d words of the validation voices' "
                 "commands", old ? old : "", old ? "; " : "", n);
        if ((rc = nn_meta_set(net, "provenance", prov)) != 0)
            snprintf(err, errlen, "%s", nn_error(net));
        free(prov);
        printf("audio: belief constants odds %.4f (log odds %.4f +- %.4f), power %.4f (+- %.4f) "
               "from %d words, %d said, of the validation voices' commands (%.0f s)\n", f.odds,
               log(f.odds), f.se_log_odds, f.power, f.se_power, n, f.n_said,
               (double) (shop_now_ns() - t0) / 1e9);
    }
    if (rc != 0) {
        nn_meta_unset(net, KWS_META_BELIEF_ODDS);
        nn_meta_unset(net, KWS_META_BELIEF_POWER);
    }
    free(conf);
    free(said);
    return rc;
}

/* After a training or a calibration: the belief fit, and the grammar's
 * defaults when the data cannot give one (a small corpus), said. */
static void
s_fit_beliefs_or_defaults(nn_net_t *net, const corpus_t *corpus, const char *holdout)
{
    char why[512];
    if (s_fit_beliefs(net, corpus, holdout, why, sizeof why) != 0)
        fprintf(stderr, "audio: belief constants not fitted (%s): the model leaves the "
                "grammar's defaults\n", why);
}

/* --calibrate and --fuse: new thresholds for the trained model net (read
 * from path, its input statistics mean and std), written to out; takes net.
 * Returns 0, or -1 with a message in err. */
static int
s_recalibrate(nn_net_t *net, const char *path, float mean, float std, const s_src_t *src,
              const features_config_t *fc, const s_list_t *va, uint64_t seed, int threads,
              float thr_min, float fa_rate, int stride, const char *holdout, const char *out,
              float *xv, int32_t *yv, char *err, size_t errlen)
{
    int rc = -1;
    char *prov = NULL, *arch = NULL;
    if (s_render(src, fc, va, seed + 1000003, threads, xv, yv, true, "validation") != 0) {
        snprintf(err, errlen, "%s: feature extraction failed", path);
        goto out;
    }
    kws_normalise(xv, (size_t) va->n * KWS_FRAMES * (size_t) fc->n_mels, mean, 1.f / std);
    nn_data_t dva = { .x = xv, .y = yv, .n = va->n, .shape = nn_input_shape(net) };
    float thr[VOCAB_COUNT];
    s_calibrate(net, &dva, thr_min, fa_rate, thr);
    const char *old = nn_meta_get(net, "provenance"), *a = nn_meta_get(net, "arch");
    size_t plen = (old ? strlen(old) : 0) + 256;
    prov = xmalloc(plen);
    arch = xstrdup(a ? a : "ds-cnn-kws");
    snprintf(prov, plen, "%s; thresholds recalibrated in [%.2f, %.2f] at a false-accept "
             "rate of %g per validation window, stride %d by shop-train audio --calibrate",
             old ? old : "", (double) thr_min, (double) S_THR_MAX, (double) fa_rate, stride);
    if (kws_net_set_meta(net, fc, mean, std, thr, stride) != 0
        || nn_meta_set(net, "arch", arch) != 0 || nn_meta_set(net, "provenance", prov) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", out, nn_error(net));
        goto out;
    }
    /* the beliefs follow the thresholds: a word's confidence is read above them */
    s_fit_beliefs_or_defaults(net, src->corpus, holdout);
    if (nn_save(net, out, err, errlen) != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "cannot write %s: %s", out, why);
        goto out;
    }
    printf("audio: wrote %s with thresholds", out);
    for (int i = 0; i < VOCAB_COUNT; i++)
        printf(" %s=%.2f", vocab_name(i), (double) thr[i]);
    printf("\n");
    rc = 0;
out:
    free(prov);
    free(arch);
    return rc;
}

/* A spotter net carrying the metadata calibration writes for this build's
 * features: the reference a loaded spotter's features are compared with.
 * NULL with a message in err if it cannot be built. */
static nn_net_t *
s_reference_spotter(char *err, size_t errlen)
{
    nn_net_t *ref = kws_build_net(VOCAB_COUNT, 4, 1, 1);
    float thr[VOCAB_COUNT];
    features_config_t fc;
    features_config_default(&fc);
    for (int k = 0; k < VOCAB_COUNT; k++)
        thr[k] = 0.5f;
    if (!ref || kws_net_set_meta(ref, &fc, 0.f, 1.f, thr, 1) != 0) {
        snprintf(err, errlen, "cannot build the reference spotter");
        nn_destroy(&ref);
    }
    return ref;
}

/* Loads the whole-word spotter at path with its input statistics, refused
 * (NULL, message in err naming the file and what differs) unless it has
 * one global normalisation, the vocabulary's labels and the features of
 * ref (s_reference_spotter): for fusing (--fuse) and for teaching (--teacher). */
static nn_net_t *
s_load_spotter(const char *path, const nn_net_t *ref, float *mean, float *std, char *err,
               size_t errlen)
{
    /* the keys a spotter of today's features carries, as calibration writes them */
    static const char *const keys[] = {
        "features.sample_rate", "features.win_length", "features.hop_length",
        "features.n_fft", "features.n_mels", "features.fmin", "features.fmax",
        "features.log_floor", "features.mel_scale", "kws.frames",
    };
    nn_net_t *m = audio_load_with_stats(path, mean, std, err, errlen);
    if (!m)
        return NULL;
    const char *units = nn_meta_get(m, "kws.units"), *norm = nn_meta_get(m, "kws.norm");
    if ((units && strcmp(units, "words") != 0) || (norm && strcmp(norm, "global") != 0)) {
        snprintf(err, errlen, "%s: not a whole-word spotter with one global normalisation "
                 "(kws.units %s, kws.norm %s)", path, units ? units : "-", norm ? norm : "-");
        goto fail;
    }
    if (nn_num_labels(m) != VOCAB_COUNT) {
        snprintf(err, errlen, "%s: %d labels, the vocabulary %d", path, nn_num_labels(m),
                 VOCAB_COUNT);
        goto fail;
    }
    for (int k = 0; k < VOCAB_COUNT; k++)
        if (strcmp(nn_label(m, k), vocab_name(k)) != 0) {
            snprintf(err, errlen, "%s: label %d is \"%s\", the vocabulary says \"%s\"", path,
                     k, nn_label(m, k), vocab_name(k));
            goto fail;
        }
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        const char *v = nn_meta_get(m, keys[k]), *want = nn_meta_get(ref, keys[k]);
        if (!v || strcmp(v, want) != 0) {
            snprintf(err, errlen, "%s: %s is %s, the features of this build %s", path, keys[k],
                     v ? v : "missing", want);
            goto fail;
        }
    }
    return m;
fail:
    nn_destroy(&m);
    return NULL;
}

nn_net_t *
audio_fuse_models(const char *const *paths, int n, const float *weights, char *err,
                  size_t errlen)
{
    if (n < 1 || n > AUDIO_FUSE_MAX) {
        snprintf(err, errlen, "fusion takes 1 to %d models, not %d", AUDIO_FUSE_MAX, n);
        return NULL;
    }
    nn_net_t *m[AUDIO_FUSE_MAX] = { 0 }, *net = NULL, *ref = s_reference_spotter(err, errlen);
    float scale[AUDIO_FUSE_MAX], shift[AUDIO_FUSE_MAX];
    if (!ref)
        goto out;
    size_t plen = 256;
    for (int i = 0; i < n; i++) {
        float mean, std;
        if (!(m[i] = s_load_spotter(paths[i], ref, &mean, &std, err, errlen)))
            goto out;
        if (!(weights[i] > 0 && weights[i] <= 100)) {
            snprintf(err, errlen, "%s: weight %g is not in (0, 100]", paths[i],
                     (double) weights[i]);
            goto out;
        }
        /* member i sees (x - mean) / std of the fused net's raw input */
        scale[i] = 1.f / std;
        shift[i] = -mean / std;
        const char *p = nn_meta_get(m[i], "provenance");
        plen += strlen(paths[i]) + (p ? strlen(p) : 0) + 64;
    }
    if (!(net = nn_fuse_experts(m, n, weights, scale, shift, err, errlen)))
        goto out;
    char *prov = xmalloc(plen), arch[64];
    size_t at = (size_t) snprintf(prov, plen, "product of %d spotters by shop-train audio --fuse "
                                  "(logits summed with weights", n);
    for (int i = 0; i < n; i++)
        at += (size_t) snprintf(prov + at, plen - at, "%s%g", i ? "," : " ", (double) weights[i]);
    at += (size_t) snprintf(prov + at, plen - at, ")");
    for (int i = 0; i < n; i++) {
        const char *p = nn_meta_get(m[i], "provenance");
        at += (size_t) snprintf(prov + at, plen - at, "; member %d (%s, weight %g): %s", i + 1,
                                paths[i], (double) weights[i], p ? p : "no provenance");
    }
    snprintf(arch, sizeof arch, "ds-cnn-kws product of %d", n);
    /* the members' thresholds and stride stay until calibration; the input
     * is the raw log-mel features, each branch normalises its own */
    const char *tv = nn_meta_get(m[0], "kws.thresholds"), *st = nn_meta_get(m[0], "kws.stride");
    for (int i = 0; i < nn_meta_count(ref); i++) {
        const char *k, *v;
        nn_meta_at(ref, i, &k, &v);
        if (nn_meta_set(net, k, v) != 0)
            break;
    }
    if (nn_meta_set(net, "arch", arch) != 0 || nn_meta_set(net, "provenance", prov) != 0
        || (tv && nn_meta_set(net, "kws.thresholds", tv) != 0)
        || (st && nn_meta_set(net, "kws.stride", st) != 0)) {
        snprintf(err, errlen, "fusion: %s", nn_error(net));
        nn_destroy(&net);
    }
    free(prov);
out:
    for (int i = 0; i < n; i++)
        nn_destroy(&m[i]);
    nn_destroy(&ref);
    return net;
}

static void
s_progress(const nn_epoch_t *e, void *user)
{
    (void) user;
    fprintf(stderr, "audio: epoch %d loss %.4f acc %.4f val_loss %.4f val_acc %.4f (%.0f s, %.0f ex/s)\n",
            e->epoch, (double) e->loss, (double) e->acc, (double) e->val_loss,
            (double) e->val_acc, e->seconds, e->images_per_s);
}

/* Domain-adversarial training (Ganin & Lempitsky 2015): a small head on the
 * embedding, behind a gradient reversal, tells the windows of real speakers
 * (domain 1) from those of synthetic voices (domain 0); windows of noise
 * alone, synthetic or recorded, have no voice and no domain. The reversal
 * turns that head's gradient around for the layers below it, so the
 * embedding loses what tells a real voice from a synthetic one and the
 * word decision cannot lean on it. Its lambda rises over the training as
 * lambda_max x (2 / (1 + exp(-10 p)) - 1), p the fraction of steps done.
 * The two domains weigh alike in the loss (each by n / (2 n_d)), so the
 * head cannot win by always naming the commoner one. */
#define S_DANN_HIDDEN 64

typedef struct {
    nn_net_t *net;
    int layers;                /* the spotter's layers: the head comes after them */
    int grl, head;             /* the reversal and the domain logits */
    float lambda_max, lambda;
    int8_t *dom_tr, *dom_va;   /* per window: 0 synthetic, 1 real, -1 no domain */
    float w[2];                /* loss weight of each domain */
    int8_t *hit;               /* per training window: head right (1), wrong (0), unseen (-1) */
    const float *xv;           /* the validation windows (normalised) */
    int n_tr, n_va;
    size_t per;
} s_dann_t;

static int8_t *
s_dann_domains(const s_list_t *l, int n_corpus, const s_real_set_t *rs, int n[2])
{
    int8_t *d = xmallocarray((size_t) (l->n ? l->n : 1), 1);
    for (int i = 0; i < l->n; i++) {
        int c = l->v[i].clip;
        d[i] = c < 0 ? -1 : c < n_corpus ? 0 : rs->noise[c - n_corpus] ? -1 : 1;
        if (d[i] >= 0 && n)
            n[d[i]]++;
    }
    return d;
}

/* The domain head's loss (nn_loss_fn): weighted softmax cross-entropy of its
 * two logits; windows without a domain add nothing. */
static double
s_dann_loss(const float *out, int n, int size, const int *idx, bool val, float scale,
            float *grad, void *user)
{
    (void) val;
    s_dann_t *d = user;
    double loss = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = out + (size_t) i * size;
        float *g = grad ? grad + (size_t) i * size : NULL;
        int dom = d->dom_tr[idx[i]];
        if (dom < 0) {
            if (g)
                g[0] = g[1] = 0.0f;
            continue;
        }
        double mx = fmax(z[0], z[1]), e0 = exp(z[0] - mx), e1 = exp(z[1] - mx);
        double p1 = e1 / (e0 + e1), w = d->w[dom];
        loss -= w * log(fmax(dom ? p1 : 1.0 - p1, 1e-30));
        if (g) {
            g[0] = (float) (w * ((1.0 - p1) - (dom == 0)) * scale);
            g[1] = (float) (w * (p1 - (dom == 1)) * scale);
        }
        /* each window is in one shard: no two threads write one entry */
        d->hit[idx[i]] = (int8_t) ((z[1] > z[0]) == (dom == 1));
    }
    return loss;
}

static void
s_dann_step(long step, long total, void *user)
{
    s_dann_t *d = user;
    double p = total > 1 ? (double) step / (double) (total - 1) : 1.0;
    d->lambda = (float) (d->lambda_max * (2.0 / (1.0 + exp(-10.0 * p)) - 1.0));
    nn_grad_reverse_set(d->net, d->grl, d->lambda);
}

/* Balanced accuracy (the mean of the two domains' recalls) from hits[i]
 * (-1: not counted) and domains dom[i]. */
static double
s_balanced(const int8_t *hits, const int8_t *dom, int n)
{
    long right[2] = { 0, 0 }, all[2] = { 0, 0 };
    for (int i = 0; i < n; i++) {
        if (dom[i] < 0 || hits[i] < 0)
            continue;
        all[dom[i]]++;
        right[dom[i]] += hits[i];
    }
    if (!all[0] || !all[1])
        return NAN;
    return 0.5 * ((double) right[0] / (double) all[0] + (double) right[1] / (double) all[1]);
}

/* After each epoch: the domain head's balanced accuracy on the epoch's
 * training batches (as it stood at each step) and on the validation windows
 * (the validation voices and the calibration speakers, never trained on):
 * 0.5 means the embedding no longer tells a real voice from a synthetic one. */
static void
s_dann_progress(const nn_epoch_t *e, void *user)
{
    s_dann_t *d = user;
    s_progress(e, NULL);
    double tr = s_balanced(d->hit, d->dom_tr, d->n_tr);
    memset(d->hit, -1, (size_t) d->n_tr);
    enum { CHUNK = 256 };
    int8_t *vh = xmallocarray((size_t) (d->n_va ? d->n_va : 1), 1);
    for (int i = 0; i < d->n_va; i += CHUNK) {
        int b = d->n_va - i < CHUNK ? d->n_va - i : CHUNK;
        const float *z = NULL;
        if (nn_forward(d->net, d->xv + (size_t) i * d->per, b, NULL) == 0)
            z = nn_layer_output(d->net, d->head, NULL);
        for (int j = 0; j < b; j++)
            vh[i + j] = z ? (int8_t) ((z[2 * j + 1] > z[2 * j]) == (d->dom_va[i + j] == 1)) : -1;
    }
    double va = s_balanced(vh, d->dom_va, d->n_va);
    free(vh);
    fprintf(stderr, "audio: epoch %d domain head: loss %.4f, lambda %.3f, balanced accuracy "
            "%.3f on the training batches, %.3f on the validation windows\n", e->epoch,
            (double) e->aux_loss, (double) d->lambda, tr, va);
}

/* Puts the domain head on net's embedding (after the spotter's layers, which
 * stay the output) with its labels for the training and validation windows;
 * fills the trainer's options. Returns 0 or -1 with a message in err. */
static int
s_dann_attach(s_dann_t *d, nn_net_t *net, float lambda_max, const s_list_t *tr,
              const s_list_t *va, int n_corpus, const s_real_set_t *rs, const float *xv,
              size_t per, nn_train_opts_t *o, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->net = net;
    d->layers = nn_num_layers(net);
    d->lambda_max = lambda_max;
    int emb = nn_find_layer(net, "embedding");
    if (emb < 0 || strcmp(nn_layer_type(net, d->layers - 1), "softmax_xent") != 0) {
        snprintf(err, errlen, "--domain-adversarial: the net has no \"embedding\" layer or does "
                 "not end in its softmax");
        return -1;
    }
    d->grl = nn_grad_reverse(net, emb, 0.0f);
    d->head = nn_dense(net, nn_relu(net, nn_dense(net, d->grl, S_DANN_HIDDEN)), 2);
    if (d->head < 0 || nn_set_output(net, d->layers - 1) != 0) {
        snprintf(err, errlen, "--domain-adversarial: %s", nn_error(net));
        return -1;
    }
    int n[2] = { 0, 0 }, nv[2] = { 0, 0 };
    d->dom_tr = s_dann_domains(tr, n_corpus, rs, n);
    d->dom_va = s_dann_domains(va, n_corpus, rs, nv);
    d->n_tr = tr->n;
    d->n_va = va->n;
    d->xv = xv;
    d->per = per;
    d->hit = xmallocarray((size_t) (tr->n ? tr->n : 1), 1);
    memset(d->hit, -1, (size_t) tr->n);
    fprintf(stderr, "audio: domain-adversarial head (lambda_max %g): %d real and %d synthetic "
            "training windows, %d without a domain (noise alone); validation %d real, %d "
            "synthetic\n", (double) lambda_max, n[1], n[0], tr->n - n[0] - n[1], nv[1], nv[0]);
    if (!n[0] || !n[1]) {
        snprintf(err, errlen, "--domain-adversarial needs real and synthetic training windows "
                 "(--real-data)");
        return -1;
    }
    d->w[0] = (float) (n[0] + n[1]) / (2.0f * (float) n[0]);
    d->w[1] = (float) (n[0] + n[1]) / (2.0f * (float) n[1]);
    o->aux = d->head;
    o->aux_loss = s_dann_loss;
    o->aux_user = d;
    o->step = s_dann_step;
    o->step_user = d;
    o->progress = s_dann_progress;
    o->progress_user = d;
    return 0;
}

static void
s_dann_free(s_dann_t *d)
{
    free(d->dom_tr);
    free(d->dom_va);
    free(d->hit);
    memset(d, 0, sizeof *d);
}

/* --fuse A,B [--fuse-weights W1,W2]: the fused net (equal weights 1/n by
 * default), or NULL with a message in err. */
static nn_net_t *
s_fuse_arg(const char *models, const char *weights, char *err, size_t errlen)
{
    char *list = xstrdup(models), *save = NULL;
    const char *paths[AUDIO_FUSE_MAX + 1];
    float w[AUDIO_FUSE_MAX + 1];
    int n = 0, nw = 0;
    for (char *t = strtok_r(list, ",", &save); t && n <= AUDIO_FUSE_MAX; t = strtok_r(NULL, ",", &save))
        paths[n++] = t;
    nn_net_t *net = NULL;
    if (weights) {
        const char *p = weights;
        char *end;
        while (nw <= AUDIO_FUSE_MAX) {
            w[nw++] = strtof(p, &end);
            if (end == p || (*end != ',' && *end))
                nw = -1;
            if (nw < 0 || !*end)
                break;
            p = end + 1;
        }
    } else {
        for (nw = 0; nw < n; nw++)
            w[nw] = 1.f / (float) n;
    }
    if (n < 1 || n > AUDIO_FUSE_MAX || nw != n)
        snprintf(err, errlen, "--fuse takes 1 to %d models and --fuse-weights one number per "
                 "model", AUDIO_FUSE_MAX);
    else
        net = audio_fuse_models(paths, n, w, err, errlen);
    free(list);
    return net;
}

/* The teacher at path, checked as a member of a fusion is. */
static nn_net_t *
s_check_teacher(const char *path, float *mean, float *std, char *err, size_t errlen)
{
    nn_net_t *ref = s_reference_spotter(err, errlen);
    nn_net_t *teacher = ref ? s_load_spotter(path, ref, mean, std, err, errlen) : NULL;
    nn_destroy(&ref);
    return teacher;
}

/* --domain-classes: subset ids of the training windows (1: a real
 * recording's window that `which` names, over the classes some real training
 * window has; 0: every other window, every class) into sub[0..l->n) and the
 * two masks of k classes into masks; the real subset is listed on stderr.
 * Returns 0, or -1 (no real window). */
static int
s_domain_subsets(const s_list_t *l, int n_corpus, audio_domain_classes_t which,
                 const nn_net_t *net, int k, uint8_t *sub, uint8_t *masks, char *err,
                 size_t errlen)
{
    memset(masks, 1, (size_t) k);
    memset(masks + k, 0, (size_t) k);
    int n_real = 0, n_sub = 0;
    for (int i = 0; i < l->n; i++) {
        int y = l->v[i].label;
        bool real = l->v[i].clip >= n_corpus;
        bool word = y < VOCAB_COUNT && y != VOCAB_UNKNOWN && y != VOCAB_SILENCE;
        sub[i] = real && (which == AUDIO_DOMAIN_ALL || word);
        n_sub += sub[i];
        if (real) {
            masks[k + y] = 1;
            n_real++;
        }
    }
    if (!n_real) {
        snprintf(err, errlen, "--domain-classes needs real training windows (--real-data)");
        return -1;
    }
    int m = 0, fillers = 0;
    for (int c = 0; c < k; c++) {
        m += masks[k + c];
        fillers += c >= VOCAB_COUNT && masks[k + c];
    }
    fprintf(stderr, "audio: domain classes: %d of %d real training windows (%s) train over %d of "
            "%d classes:", n_sub, n_real, which == AUDIO_DOMAIN_ALL ? "all" : "vocabulary words",
            m, k);
    for (int c = 0; c < VOCAB_COUNT && c < k; c++)
        if (masks[k + c])
            fprintf(stderr, " %s", nn_label(net, c));
    fprintf(stderr, " and %d filler classes\n", fillers);
    return 0;
}

/* --teacher: soft targets for the training windows (x: normalised by mean
 * and std, labels y). A window of the synthetic corpus (clip below n_synth,
 * or noise alone) gets weight * the teacher's posteriors at temperature temp
 * (p^(1/temp), renormalised) + (1 - weight) * its label; a real recording's
 * window keeps its label. The teacher sees each window unaugmented, through
 * its own input normalisation. Returns the n x n_out targets (a student
 * with filler classes: the teacher's posteriors on the vocabulary's
 * classes, none on the fillers) or NULL with a message in err. */
static float *
s_teacher_targets(const char *path, float weight, float temp, const float *x, size_t per,
                  const int32_t *y, const s_list_t *l, int n_synth, int n_out, float mean,
                  float std, char *err, size_t errlen)
{
    float tm = 0, ts = 1;
    nn_net_t *teacher = s_check_teacher(path, &tm, &ts, err, errlen);
    if (!teacher)
        return NULL;
    enum { B = 64 };
    nn_shape_t shape = nn_input_shape(teacher);
    if ((size_t) shape.c * (size_t) shape.h * (size_t) shape.w != per) {
        snprintf(err, errlen, "%s: its input is not this training's windows", path);
        nn_destroy(&teacher);
        return NULL;
    }
    float *t = xcalloc((size_t) l->n * (size_t) n_out, sizeof *t);
    float *in = xmalloc(B * per * sizeof *in), *post = xmalloc(B * VOCAB_COUNT * sizeof *post);
    int idx[B], taught = 0, agree = 0;
    float a = std / ts, b = (mean - tm) / ts;    /* teacher input from the student's */
    for (int i = 0; i < l->n;) {
        int nb = 0;
        for (; i < l->n && nb < B; i++) {
            t[(size_t) i * (size_t) n_out + y[i]] = 1.f;
            if (l->v[i].clip >= n_synth)
                continue;                        /* a real recording: its label */
            const float *src = x + (size_t) i * per;
            for (size_t k = 0; k < per; k++)
                in[(size_t) nb * per + k] = a * src[k] + b;
            idx[nb++] = i;
        }
        if (nb == 0)
            continue;
        if (nn_forward(teacher, in, nb, post) != 0) {
            snprintf(err, errlen, "%s: %s", path, nn_error(teacher));
            free(t);
            t = NULL;
            break;
        }
        for (int j = 0; j < nb; j++) {
            float *p = post + (size_t) j * VOCAB_COUNT, sum = 0;
            agree += nn_argmax(p, VOCAB_COUNT) == y[idx[j]];
            for (int c = 0; c < VOCAB_COUNT; c++)
                sum += p[c] = powf(fmaxf(p[c], 1e-12f), 1.f / temp);
            float *row = t + (size_t) idx[j] * (size_t) n_out;
            for (int c = 0; c < VOCAB_COUNT; c++)
                row[c] = weight * p[c] / sum + (1.f - weight) * row[c];
        }
        taught += nb;
    }
    if (t)
        fprintf(stderr, "audio: teacher %s: soft targets for %d of %d training windows "
                "(weight %g, temperature %g); its top class is the label in %.1f %% of them\n",
                path, taught, l->n, (double) weight, (double) temp,
                100.0 * agree / (taught ? taught : 1));
    free(in);
    free(post);
    nn_destroy(&teacher);
    return t;
}

/* --beliefs: the belief constants of the model at path, its thresholds
 * and stride kept, written with it to out. Returns 0, or -1 with a message
 * in err. */
static int
s_beliefs_only(const char *path, const corpus_t *corpus, const char *holdout, const char *out,
               char *err, size_t errlen)
{
    nn_net_t *net = nn_load(path, err, errlen);   /* its messages name the file */
    if (!net)
        return -1;
    char why[512];
    int rc = s_fit_beliefs(net, corpus, holdout, why, sizeof why);
    if (rc != 0)
        snprintf(err, errlen, "%s: belief constants: %s", path, why);
    else if ((rc = nn_save(net, out, why, sizeof why)) != 0)
        snprintf(err, errlen, "cannot write %s: %s", out, why);
    else
        printf("audio: wrote %s\n", out);
    nn_destroy(&net);
    return rc;
}

int
audio_add_fillers(nn_net_t **net, const char *const *words, int k, char *err, size_t errlen)
{
    int from[KWS_MAX_FILLERS];
    float shift[VOCAB_COUNT + KWS_MAX_FILLERS] = { 0 };
    char names[KWS_MAX_FILLERS][NN_MAX_NAME];
    const char *labels[KWS_MAX_FILLERS];
    char why[300];
    if (kws_check_labels(*net, why, sizeof why) != 0 || k < 1 || k > KWS_MAX_FILLERS) {
        snprintf(err, errlen, "filler classes are added to a spotter of the vocabulary alone "
                 "(%d to add): %s", k, why);
        return -1;
    }
    float s = -logf((float) (k + 1));
    shift[VOCAB_UNKNOWN] = s;
    for (int j = 0; j < k; j++) {
        if (!kws_filler_word_ok(words[j])) {
            snprintf(err, errlen, "\"%.40s\" cannot name a filler class", words[j]);
            return -1;
        }
        from[j] = VOCAB_UNKNOWN;
        shift[VOCAB_COUNT + j] = s;
        snprintf(names[j], sizeof names[j], "%s%s", KWS_FILLER_PREFIX, words[j]);
        labels[j] = names[j];
    }
    nn_net_t *wide = nn_add_outputs(*net, k, from, shift, labels, err, errlen);
    if (!wide)
        return -1;
    /* a duplicate word is refused by the labels' check */
    if (kws_check_labels(wide, err, errlen) != k) {
        nn_destroy(&wide);
        return -1;
    }
    nn_destroy(net);
    *net = wide;
    return 0;
}

/* --filler-classes with --init M, M of the vocabulary alone: M gets fl's
 * classes (audio_add_fillers), said on stderr. Returns 0, or -1 with a
 * message naming M in err. */
static int
s_add_fillers(nn_net_t **net, const s_fillers_t *fl, const char *init, char *err, size_t errlen)
{
    const char *words[KWS_MAX_FILLERS];
    for (int j = 0; j < fl->n; j++)
        words[j] = fl->word[j];
    char why[400];
    if (audio_add_fillers(net, words, fl->n, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", init, why);
        return -1;
    }
    fprintf(stderr, "audio: %s: %d filler outputs added, started from _unknown_'s (biases "
            "%+.3f)\n", init, fl->n, -log(fl->n + 1.0));
    return 0;
}

/* Loads the model at in, sets its kws.wake_min and writes it to out (the
 * same file may be both). Returns 0, or -1 with a message in err. */
static int
s_write_wake_min(const char *in, const char *out, double wake_min, char *err, size_t errlen)
{
    nn_net_t *net = nn_load(in, err, errlen);   /* its messages name the file */
    if (!net)
        return -1;
    char why[512];
    int rc = kws_check_labels(net, why, sizeof why) < 0 ? -1   /* not a spotter's */
             : kws_net_set_wake_min(net, wake_min, why, sizeof why);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", in, why);
    else if ((rc = nn_save(net, out, why, sizeof why)) != 0)
        snprintf(err, errlen, "cannot write %s: %s", out, why);
    else
        printf("audio: wrote %s with kws.wake_min %g\n", out, wake_min);
    nn_destroy(&net);
    return rc;
}

static int s_train_run(const audio_train_opts_t *opts, char *err, size_t errlen);

int
audio_train_run(const audio_train_opts_t *opts, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (opts->has_wake_min && !(opts->wake_min >= 0 && opts->wake_min <= 1)) {
        snprintf(err, errlen, "wake_min %g: needs a number from 0 to 1", opts->wake_min);
        return -1;
    }
    if (opts->set) {
        if (!opts->has_wake_min) {
            snprintf(err, errlen, "--set needs a wake_min to write");
            return -1;
        }
        return s_write_wake_min(opts->set, opts->out, opts->wake_min, err, errlen);
    }
    if (s_train_run(opts, err, errlen) != 0)
        return -1;
    return opts->has_wake_min ? s_write_wake_min(opts->out, opts->out, opts->wake_min, err, errlen)
                              : 0;
}

static int
s_train_run(const audio_train_opts_t *opts, char *err, size_t errlen)
{
    const char *corpus_dir = opts->corpus_dir, *out = opts->out, *calibrate = opts->calibrate;
    const char *skip = opts->skip, *holdout = opts->holdout, *real_dir = opts->real_dir;
    const char *init = opts->init;
    int real_copies = opts->real_copies, fsdd_copies = opts->fsdd_copies;
    float fa_rate = opts->fa_rate;
    int epochs = opts->epochs, copies = opts->copies, channels = opts->channels;
    int blocks = opts->blocks, batch = opts->batch, threads = opts->threads, limit = opts->limit;
    int stride = opts->stride;
    float lr = opts->lr, between = opts->between, thr_min = opts->thr_min;
    uint64_t seed = opts->seed;
    if (errlen)
        err[0] = '\0';
    if (opts->teacher) {   /* a bad teacher is refused before any work */
        float tm, ts;
        nn_net_t *t = s_check_teacher(opts->teacher, &tm, &ts, err, errlen);
        if (!t)
            return -1;
        nn_destroy(&t);
    }
    nn_blas_init();
    corpus_t *corpus = corpus_open(corpus_dir, err, errlen);
    if (!corpus)
        return -1;
    if (opts->beliefs) {
        int rc = s_beliefs_only(opts->beliefs, corpus, holdout, out, err, errlen);
        corpus_destroy(&corpus);
        return rc;
    }
    features_config_t fc;
    features_config_default(&fc);
    if (!opts->prefix_ends) {
        align_stats_t st;
        if (corpus_realign_marks(corpus, s_training_split, NULL, &st) != 0) {
            snprintf(err, errlen, "%s: cannot read a clip to align its words", corpus_dir);
            corpus_destroy(&corpus);
            return -1;
        }
        fprintf(stderr, "audio: %d word ends inside sentences realigned (mean %+.0f ms), %d "
                "without a prefix clip kept\n", st.marks, st.mean_shift * 1000.0 / CORPUS_RATE,
                st.missing);
    }

    /* filler classes: those of the model trained on, or with
     * --filler-classes those of the real recordings (below); none for a
     * calibration (it reads the posteriors merged) */
    s_fillers_t fl = { 0 };
    bool fill_from_real = false;
    if (init && !calibrate && !opts->fuse && s_fillers_of_model(init, &fl, err, errlen) != 0) {
        corpus_destroy(&corpus);
        return -1;
    }
    int init_fillers = fl.n;
    if (opts->filler_classes && !calibrate && !opts->fuse) {
        if (!real_dir) {
            snprintf(err, errlen, "--filler-classes needs --real-data: its words are the "
                     "classes");
            corpus_destroy(&corpus);
            return -1;
        }
        fill_from_real = fl.n == 0;
    }
    if (opts->domain_classes && !calibrate && !opts->fuse && !real_dir) {
        snprintf(err, errlen, "--domain-classes needs --real-data: the real windows are the "
                 "domain");
        corpus_destroy(&corpus);
        return -1;
    }
    s_real_set_t rs = { 0 };
    s_src_t src = { .corpus = corpus, .real = &rs };
    if (real_dir && s_real_load(real_dir, real_copies, fsdd_copies, opts->real_noise,
                                fill_from_real ? &fl : NULL, &rs, err, errlen) != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "real speech: %s", why);
        corpus_destroy(&corpus);
        return -1;
    }
    if (fl.n > 0) {
        fprintf(stderr, "audio: %d filler classes (%s):", fl.n,
                init_fillers ? init : "the real recordings' words");
        for (int j = 0; j < fl.n; j++)
            fprintf(stderr, " %s", fl.word[j]);
        fprintf(stderr, "\n");
    }
    corpus_mixer_t *pick = corpus_mixer_new(NULL, CORPUS_TRAIN, seed * 7919 + 1);
    s_list_t tr = { 0 }, va = { 0 };
    s_collect(corpus, false, copies, between, skip, holdout, &fl, pick, &tr);
    s_collect(corpus, true, 2, between, skip, holdout, &fl, pick, &va);
    if (real_dir) {
        int before = tr.n;
        s_collect_real(&rs, corpus_count(corpus), false, 0, &fl, pick, &tr);
        int vbefore = va.n;
        s_collect_real(&rs, corpus_count(corpus), true, 2, &fl, pick, &va);
        fprintf(stderr, "audio: %d real recordings of training and calibration speakers: %d "
                "training and %d calibration windows, %d noise clips as noise sources\n",
                rs.n, tr.n - before, va.n - vbefore, rs.n_noise_pool);
    }
    corpus_mixer_destroy(&pick);
    if (limit > 0 && tr.n > limit)
        tr.n = limit;
    if (tr.n == 0 || va.n == 0) {
        snprintf(err, errlen, "no training or validation clips in %s", corpus_dir);
        s_real_free(&rs);
        corpus_destroy(&corpus);
        return -1;
    }
    int count[VOCAB_COUNT + KWS_MAX_FILLERS] = { 0 }, n_filler = 0;
    for (int i = 0; i < tr.n; i++)
        count[tr.v[i].label]++;
    for (int j = 0; j < fl.n; j++)
        n_filler += count[VOCAB_COUNT + j];
    fprintf(stderr, "audio: %d training windows, %d validation windows (validation voices apart)\n",
            tr.n, va.n);
    int cmin = tr.n;
    for (int i = 0; i < VOCAB_COUNT; i++)
        cmin = count[i] < cmin ? count[i] : cmin;
    fprintf(stderr, "audio: per class: _silence_ %d, _unknown_ %d, shopwise %d, fewest %d; "
            "filler classes %d\n", count[VOCAB_SILENCE], count[VOCAB_UNKNOWN], count[VOCAB_WAKE],
            cmin, n_filler);

    size_t per = KWS_FRAMES * (size_t) fc.n_mels;
    float *xt = malloc((size_t) tr.n * per * sizeof *xt);
    float *xv = malloc((size_t) va.n * per * sizeof *xv);
    int32_t *yt = malloc((size_t) tr.n * sizeof *yt), *yv = malloc((size_t) va.n * sizeof *yv);
    float *tt = NULL;                  /* soft targets (--teacher) */
    uint8_t *sub = NULL, *masks = NULL; /* --domain-classes */
    int rc = -1;
    nn_net_t *net = NULL;
    nn_history_t hist = { 0 };
    s_dann_t dann = { 0 };
    if (!xt || !xv || !yt || !yv) {
        snprintf(err, errlen, "out of memory for %d examples", tr.n + va.n);
        goto done;
    }
    if (calibrate || opts->fuse) {
        float mean = 0.f, std = 1.f;
        net = calibrate ? audio_load_with_stats(calibrate, &mean, &std, err, errlen)
                        : s_fuse_arg(opts->fuse, opts->fuse_weights, err, errlen);
        if (net)
            rc = s_recalibrate(net, calibrate ? calibrate : opts->fuse, mean, std, &src, &fc,
                               &va, seed, threads, thr_min, fa_rate, stride, holdout, out, xv,
                               yv, err, errlen);
        goto done;
    }
    uint64_t t0 = shop_now_ns();
    if (s_render(&src, &fc, &tr, seed, threads, xt, yt, true, "training") != 0
        || s_render(&src, &fc, &va, seed + 1000003, threads, xv, yv, true, "validation") != 0) {
        snprintf(err, errlen, "feature extraction failed");
        goto done;
    }
    double render_s = (double) (shop_now_ns() - t0) / 1e9;
    /* one mean and deviation for all inputs, from the training windows */
    size_t total = (size_t) tr.n * per;
    float mean, std;
    audio_input_stats(xt, total, &mean, &std);
    /* go on from a trained model: its weights expect its input statistics */
    if (init && !(net = audio_load_with_stats(init, &mean, &std, err, errlen)))
        goto done;
    for (size_t i = 0; i < total; i++)
        xt[i] = (xt[i] - mean) / std;
    for (size_t i = 0; i < (size_t) va.n * per; i++)
        xv[i] = (xv[i] - mean) / std;

    if (!net && (net = kws_build_net(VOCAB_COUNT + fl.n, channels, blocks, seed))
        && s_set_labels(net, &fl) != 0) {
        snprintf(err, errlen, "%s", nn_error(net));
        goto done;
    }
    if (!net)
        goto done;
    if (fl.n > init_fillers && init && s_add_fillers(&net, &fl, init, err, errlen) != 0)
        goto done;
    if (opts->teacher) {
        tt = s_teacher_targets(opts->teacher, opts->teacher_weight, opts->teacher_temp, xt, per,
                               yt, &tr, corpus_count(corpus), nn_output_size(net), mean, std,
                               err, errlen);
        if (!tt)
            goto done;
    }
    nn_set_threads(net, threads);
    nn_print_summary(net);
    fprintf(stderr, "audio: %zu parameters, %.1f M multiply-adds per window\n",
            nn_num_params(net), nn_flops_per_sample(net) / 1e6);
    nn_shape_t shape = nn_input_shape(net);
    s_aug_t aug;
    s_aug_init(&aug, &fc);
    nn_data_t dtr = { .x = xt, .y = yt, .n = tr.n, .shape = shape, .augment = s_augment,
                      .augment_user = &aug, .t = tt };
    if (opts->domain_classes) {
        int k = nn_output_size(net);
        sub = xmallocarray((size_t) (tr.n ? tr.n : 1), 1);
        masks = xmallocarray((size_t) 2 * k, 1);
        if (s_domain_subsets(&tr, corpus_count(corpus), opts->domain_classes, net, k, sub,
                             masks, err, errlen) != 0)
            goto done;
        dtr.subset = sub;
        dtr.subsets = masks;
        dtr.n_subsets = 2;
    }
    nn_data_t dva = { .x = xv, .y = yv, .n = va.n, .shape = shape };
    nn_train_opts_t o;
    nn_train_opts_default(&o);
    o.epochs = epochs;
    o.batch = batch;
    o.optimizer = NN_ADAMW;
    o.lr = lr;
    o.weight_decay = 1e-4f;
    o.schedule = NN_SCHED_COSINE;
    o.label_smoothing = 0.05f;
    o.seed = seed;
    o.val = &dva;
    o.restore_best = true;
    o.threads = threads;
    o.verbose = 2;
    o.progress = s_progress;
    o.freeze = opts->freeze;
    if (opts->domain_adversarial > 0
        && s_dann_attach(&dann, net, opts->domain_adversarial, &tr, &va, corpus_count(corpus),
                         &rs, xv, per, &o, err, errlen) != 0)
        goto done;
    t0 = shop_now_ns();
    if (nn_train(net, &dtr, &o, &hist, err, errlen) != 0)
        goto done;
    /* the saved model is the spotter alone */
    if (dann.net && nn_truncate(net, dann.layers) != 0) {
        snprintf(err, errlen, "%s", nn_error(net));
        goto done;
    }
    double train_s = (double) (shop_now_ns() - t0) / 1e9;
    double val_acc = nn_evaluate(net, &dva, NULL);

    /* thresholds from the validation voices: per word, just above what it
     * scores on 99.5 % of the windows of other words, unknown speech and
     * noise, kept within [thr_min, S_THR_MAX] */
    float thr[VOCAB_COUNT];
    s_calibrate(net, &dva, thr_min, fa_rate, thr);
    if (kws_net_set_meta(net, &fc, mean, std, thr, stride) != 0)
        goto done;
    char prov[1500], teach[600] = "";
    if (opts->teacher)
        snprintf(teach, sizeof teach, "%s --teacher-weight %g --teacher-temp %g", opts->teacher,
                 (double) opts->teacher_weight, (double) opts->teacher_temp);
    char frz[96] = "";
    if (opts->freeze > 0)
        snprintf(frz, sizeof frz, " --freeze %d", opts->freeze);
    if (opts->domain_adversarial > 0)
        snprintf(frz + strlen(frz), sizeof frz - strlen(frz), " --domain-adversarial %g",
                 (double) opts->domain_adversarial);
    if (opts->domain_classes)
        snprintf(frz + strlen(frz), sizeof frz - strlen(frz), " --domain-classes%s",
                 opts->domain_classes == AUDIO_DOMAIN_WORDS ? "=words" : "");
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(prov, sizeof prov,
             "shop-train audio --corpus %s --epochs %d --copies %d --channels %d --blocks %d "
             "--between %g --batch %d --lr %g --seed %llu --thr-min %g --stride %d"
             "%s%s%s%s%s%s%s%s%s%s%s%s%s --real-copies %d --fsdd-copies %d --real-noise %g "
             "--fa-rate %g; %d train / %d val windows; %d filler classes; val_acc %.4f; "
             "%.0f s features, %.0f s training; %s",
             corpus_dir, epochs, copies, channels, blocks, (double) between, batch, (double) lr,
             (unsigned long long) seed, (double) thr_min, stride,
             skip ? " --skip-voices " : "", skip ? skip : "",
             holdout ? " --holdout " : "", holdout ? holdout : "",
             real_dir ? " --real-data " : "", real_dir ? real_dir : "",
             init ? " --init " : "", init ? init : "", frz, opts->prefix_ends ? " --prefix-ends" : "",
             opts->teacher ? " --teacher " : "", teach,
             opts->filler_classes ? " --filler-classes" : "", real_copies, fsdd_copies,
             (double) opts->real_noise, (double) fa_rate, tr.n, va.n, fl.n, val_acc,
             render_s, train_s, when);
    nn_meta_set(net, "provenance", prov);
    s_fit_beliefs_or_defaults(net, corpus, holdout);
    if (nn_save(net, out, err, errlen) != 0)
        goto done;
    printf("audio: wrote %s: validation accuracy %.4f (best epoch %d of %d), %.0f s training\n",
           out, val_acc, hist.best_epoch, hist.n, train_s);
    rc = 0;
done:
    s_dann_free(&dann);
    free(sub);
    free(masks);
    nn_history_free(&hist);
    nn_destroy(&net);
    free(tt);
    free(xt);
    free(xv);
    free(yt);
    free(yv);
    free(tr.v);
    free(va.v);
    s_real_free(&rs);
    corpus_destroy(&corpus);
    return rc;
}
