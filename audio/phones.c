/* audio/phones.c: phone set, espeak-ng mapping, pronunciations and the
 * streaming word spotter over phone posteriors (see phones.h). */
#include "audio/phones.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/vocab.h"
#include "common/util.h"

/* espeak-ng's names of the phones kept (American English). */
static const char *const s_names[PHONES_COUNT] = {
    "p", "b", "t", "d", "k", "g", "tS", "dZ", "f", "v", "T", "D", "s", "z", "S", "Z",
    "h", "m", "n", "N", "l", "r", "w", "j",
    "i", "I", "eI", "E", "a", "0", "O", "oU", "U", "u", "V", "@", "3", "aI", "aU",
};

/* espeak-ng phonemes that map onto one or two of the set. */
static const struct {
    const char *from, *to;
} s_map[] = {
    { "t#", "t" },   { "t2", "t" },   { "d2", "d" },    { "d#", "d" },   { "I2", "I" },
    { "I#", "I" },   { "3:", "3" },   { "@L", "@ l" },  { "i:", "i" },   { "u:", "u" },
    { "A:", "0" },   { "aa", "a" },   { "O:", "O" },    { "O2", "O" },   { "O@", "O r" },
    { "o@", "O r" }, { "A@", "0 r" }, { "e@", "E r" },  { "i@", "i r" }, { "i@3", "i r" },
    { "U@", "U r" }, { "a#", "@" },   { "@2", "@" },    { "@-", "@" },   { "@5", "@" },
    { "n-", "n" },   { "m-", "m" },   { "l-", "l" },    { "r-", "r" },   { "aI@", "aI @" },
    { "aI3", "aI 3" }, { "e", "E" },  { "o", "oU" },    { "x", "k" },    { "3:r", "3" },
    { "?", "" },     { "eI@", "eI @" }, { "aU@", "aU @" }, { "OI", "O I" }, { "0@", "0 r" },
};

const char *
phones_name(int id)
{
    if (id == PHONES_BLANK)
        return "_";
    return id >= 0 && id < PHONES_COUNT ? s_names[id] : NULL;
}

int
phones_id(const char *name)
{
    for (int i = 0; i < PHONES_COUNT; i++)
        if (strcmp(s_names[i], name) == 0)
            return i;
    return -1;
}

/* Appends the phones named by a space-separated list. */
static int
s_append_names(const char *list, int *out, int n, int max)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        if (n < max)
            out[n++] = phones_id(tok);
    return n;
}

int
phones_from_espeak(const char *line, int *out, int max, char *err, size_t errlen)
{
    int n = 0;
    const char *p = line;
    while (*p) {
        if (*p == '_' || isspace((unsigned char) *p)) {
            p++;
            continue;
        }
        char ph[16];
        size_t k = 0;
        while (*p && *p != '_' && !isspace((unsigned char) *p)) {
            /* stress and syllable marks carry no phone */
            if (*p != '\'' && *p != ',' && *p != '%' && *p != '=' && k + 1 < sizeof ph)
                ph[k++] = *p;
            p++;
        }
        ph[k] = '\0';
        if (!k)
            continue;
        int id = phones_id(ph);
        if (id >= 0) {
            if (n < max)
                out[n++] = id;
            continue;
        }
        size_t m;
        for (m = 0; m < sizeof s_map / sizeof s_map[0]; m++)
            if (strcmp(s_map[m].from, ph) == 0)
                break;
        if (m == sizeof s_map / sizeof s_map[0]) {
            if (err)
                snprintf(err, errlen, "espeak-ng phoneme \"%s\" has no phone in the set", ph);
            return -1;
        }
        n = s_append_names(s_map[m].to, out, n, max);
    }
    return n;
}

int
phones_of_text(const char *text, int *out, int max, char *err, size_t errlen)
{
    for (const char *c = text; *c; c++)
        if (!isalpha((unsigned char) *c) && *c != '\'' && *c != '-' && *c != ' ') {
            snprintf(err, errlen, "\"%s\": only letters, apostrophes, hyphens and spaces", text);
            return -1;
        }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "espeak-ng -v en-us -q -x --sep=_ \"%s\" 2>/dev/null", text);
    FILE *f = popen(cmd, "r");
    if (!f) {
        snprintf(err, errlen, "cannot run espeak-ng");
        return -1;
    }
    char line[1024];
    int n = 0;
    bool any = false;
    while (fgets(line, sizeof line, f)) {
        int r = phones_from_espeak(line, out + n, max - n, err, errlen);
        if (r < 0) {
            pclose(f);
            return -1;
        }
        n += r;
        any = true;
    }
    int st = pclose(f);
    if (st != 0 || !any) {
        snprintf(err, errlen, "espeak-ng failed on \"%s\" (is it installed?)", text);
        return -1;
    }
    return n;
}

int
phones_lexicon_parse(const char *spec, phones_lexicon_t *lex, char *err, size_t errlen)
{
    memset(lex, 0, sizeof *lex);
    if (VOCAB_COUNT > 64) {
        snprintf(err, errlen, "vocabulary larger than the lexicon");
        return -1;
    }
    const char *p = spec;
    while (p && *p) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t) (semi - p) : strlen(p);
        char entry[256];
        if (len >= sizeof entry) {
            snprintf(err, errlen, "pronunciation entry too long");
            return -1;
        }
        memcpy(entry, p, len);
        entry[len] = '\0';
        char *eq = strchr(entry, '=');
        if (!eq) {
            snprintf(err, errlen, "pronunciation \"%s\" has no '='", entry);
            return -1;
        }
        *eq = '\0';
        int w = vocab_find(entry);
        if (w < 0 || !vocab_is_keyword(w) || lex->n[w]) {
            snprintf(err, errlen, "pronunciation of \"%s\": not a keyword or given twice", entry);
            return -1;
        }
        char *save = NULL;
        for (char *tok = strtok_r(eq + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            int id = phones_id(tok);
            if (id < 0 || lex->n[w] >= PHONES_MAX_WORD) {
                snprintf(err, errlen, "pronunciation of \"%s\": bad phone \"%s\" or too long",
                         entry, tok);
                return -1;
            }
            lex->ph[w][lex->n[w]++] = id;
        }
        if (!lex->n[w]) {
            snprintf(err, errlen, "pronunciation of \"%s\" is empty", entry);
            return -1;
        }
        p = semi ? semi + 1 : NULL;
    }
    return 0;
}

int
phones_lexicon_format(const phones_lexicon_t *lex, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int w = 0; w < VOCAB_COUNT; w++) {
        if (!lex->n[w])
            continue;
        int r = snprintf(buf + at, len - at, "%s%s=", at ? ";" : "", vocab_name(w));
        if (r < 0 || (size_t) r >= len - at)
            return -1;
        at += (size_t) r;
        for (int i = 0; i < lex->n[w]; i++) {
            r = snprintf(buf + at, len - at, "%s%s", i ? " " : "", phones_name(lex->ph[w][i]));
            if (r < 0 || (size_t) r >= len - at)
                return -1;
            at += (size_t) r;
        }
    }
    return 0;
}

void
phones_log_softmax(const float *logits, int T, int K, int t, float *out)
{
    float mx = -INFINITY;
    for (int k = 0; k < K; k++)
        mx = fmaxf(mx, logits[(size_t) k * T + t]);
    double sum = 0;
    for (int k = 0; k < K; k++)
        sum += exp((double) (logits[(size_t) k * T + t] - mx));
    float lz = mx + (float) log(sum);
    for (int k = 0; k < K; k++)
        out[k] = logits[(size_t) k * T + t] - lz;
}

/* ---------------------------------------------------------------- spotter */

#define S_MAX_STATES (2 * PHONES_MAX_WORD - 1)
#define S_MAX_CAND 32

typedef struct {
    int word;
    long long start, end;
    float conf;
    bool open;                 /* still rising or above threshold */
} s_cand_t;

struct _phones_spotter_t {
    phones_lexicon_t lex;
    float thr[64];
    int delay, refractory;
    int words[64], n_words;    /* vocab ids spotted */
    float score[64][S_MAX_STATES];
    long long from[64][S_MAX_STATES];
    int open[64];              /* index of the word's open candidate, or -1 */
    s_cand_t cand[S_MAX_CAND];
    int n_cand;
    s_cand_t done[8];          /* the last words reported, newest at done[n_done - 1 ... ] */
    int n_done;
    long long last_end[64];    /* end frame of the word's last report */
    float peaks[64];
    long long t;               /* frames seen */
};

phones_spotter_t *
phones_spotter_new(const phones_lexicon_t *lex, const float *thr, int delay, int refractory)
{
    if (!lex || !thr || delay < 0 || refractory < 0)
        return NULL;
    phones_spotter_t *self = xcalloc(1, sizeof *self);
    self->lex = *lex;
    self->delay = delay;
    self->refractory = refractory;
    for (int w = 0; w < VOCAB_COUNT; w++) {
        self->thr[w] = thr[w];
        if (lex->n[w] > 0)
            self->words[self->n_words++] = w;
    }
    phones_spotter_reset(self);
    return self;
}

void
phones_spotter_destroy(phones_spotter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void
phones_spotter_reset(phones_spotter_t *self)
{
    for (int w = 0; w < 64; w++) {
        for (int s = 0; s < S_MAX_STATES; s++)
            self->score[w][s] = -INFINITY;
        self->open[w] = -1;
        self->last_end[w] = -(1LL << 40);
        self->peaks[w] = 0;
    }
    self->n_cand = 0;
    self->n_done = 0;
    self->t = 0;
}

long long
phones_spotter_frames(const phones_spotter_t *self)
{
    return self->t;
}

void
phones_spotter_peaks(const phones_spotter_t *self, float *peaks)
{
    memcpy(peaks, self->peaks, sizeof self->peaks);
}

bool
phones_spotter_busy(const phones_spotter_t *self)
{
    return self->n_cand > 0;
}

/* True when a beats b for an overlapping stretch of speech. */
static bool
s_beats(const phones_spotter_t *self, const s_cand_t *a, const s_cand_t *b)
{
    if (fabsf(a->conf - b->conf) < 0.03f && self->lex.n[a->word] != self->lex.n[b->word])
        return self->lex.n[a->word] > self->lex.n[b->word];
    return a->conf > b->conf;
}

static bool
s_overlap(const s_cand_t *a, const s_cand_t *b)
{
    long long lo = a->start > b->start ? a->start : b->start;
    long long hi = a->end < b->end ? a->end : b->end;
    long long la = a->end - a->start + 1, lb = b->end - b->start + 1;
    return 2 * (hi - lo + 1) > (la < lb ? la : lb);
}

/* Decides the candidates whose peak is at least `delay` frames old (all
 * when force), in time order. */
static int
s_decide(phones_spotter_t *self, bool force, phones_hit_t *hits, int n, int max)
{
    for (;;) {
        int best = -1;
        for (int i = 0; i < self->n_cand; i++) {
            const s_cand_t *c = &self->cand[i];
            if (!force && (c->open || self->t - 1 - c->end < self->delay))
                continue;
            if (best < 0 || c->end < self->cand[best].end)
                best = i;
        }
        if (best < 0)
            return n;
        s_cand_t c = self->cand[best];
        bool keep = c.end - self->last_end[c.word] >= self->refractory;
        for (int i = 0; i < self->n_cand && keep; i++)
            if (i != best && self->cand[i].word != c.word && s_overlap(&c, &self->cand[i])
                && s_beats(self, &self->cand[i], &c))
                keep = false;
        /* nor against a word already reported for the same stretch */
        for (int i = 0; i < self->n_done && keep; i++)
            if (self->done[i].word != c.word && s_overlap(&c, &self->done[i])
                && s_beats(self, &self->done[i], &c))
                keep = false;
        /* remove it (keep the others' order) */
        for (int i = best; i + 1 < self->n_cand; i++)
            self->cand[i] = self->cand[i + 1];
        self->n_cand--;
        for (int w = 0; w < 64; w++)
            if (self->open[w] > best)
                self->open[w]--;
            else if (self->open[w] == best)
                self->open[w] = -1;
        if (!keep)
            continue;
        self->last_end[c.word] = c.end;
        if (self->n_done == 8)
            memmove(self->done, self->done + 1, 7 * sizeof *self->done);
        else
            self->n_done++;
        self->done[self->n_done - 1] = c;
        if (n < max)
            hits[n++] = (phones_hit_t) { c.word, c.start, c.end, c.conf };
    }
}

int
phones_spotter_frame(phones_spotter_t *self, const float *logp, phones_hit_t *hits, int n, int max)
{
    float mx = logp[0];
    for (int k = 1; k < PHONES_CLASSES; k++)
        mx = fmaxf(mx, logp[k]);
    long long t = self->t;
    for (int i = 0; i < self->n_words; i++) {
        int w = self->words[i], np = self->lex.n[w], S = 2 * np - 1;
        const int *ph = self->lex.ph[w];
        float *sc = self->score[w];
        long long *fr = self->from[w];
        /* states: even 2j = phone j, odd = the blank between j and j+1;
         * updated from the last state down so each reads the old values */
        for (int s = S - 1; s >= 0; s--) {
            int cls = s % 2 ? PHONES_BLANK : ph[s / 2];
            float best = sc[s];
            long long bf = fr[s];
            if (s > 0 && sc[s - 1] > best) {
                best = sc[s - 1];
                bf = fr[s - 1];
            }
            if (s > 1 && s % 2 == 0 && ph[s / 2] != ph[s / 2 - 1] && sc[s - 2] > best) {
                best = sc[s - 2];
                bf = fr[s - 2];
            }
            if (s == 0 && best < 0) {
                /* a fresh start beats any path so far (scores are <= 0) */
                best = 0;
                bf = t;
            }
            sc[s] = best + (logp[cls] - mx);
            fr[s] = bf;
        }
        float conf = expf(sc[S - 1] / (float) np);
        if (conf > self->peaks[w])
            self->peaks[w] = conf;
        int o = self->open[w];
        if (conf >= self->thr[w] && self->thr[w] <= 1.f) {
            if (o < 0 && self->n_cand < S_MAX_CAND) {
                o = self->open[w] = self->n_cand++;
                self->cand[o] = (s_cand_t) { w, fr[S - 1], t, conf, true };
            } else if (o >= 0 && conf > self->cand[o].conf) {
                self->cand[o].conf = conf;
                self->cand[o].start = fr[S - 1];
                self->cand[o].end = t;
            }
        } else if (o >= 0) {
            self->cand[o].open = false;
            self->open[w] = -1;
        }
    }
    self->t++;
    return s_decide(self, false, hits, n, max);
}

int
phones_spotter_close(phones_spotter_t *self, phones_hit_t *hits, int n, int max)
{
    for (int i = 0; i < self->n_cand; i++)
        self->cand[i].open = false;
    for (int w = 0; w < 64; w++)
        self->open[w] = -1;
    return s_decide(self, true, hits, n, max);
}
