/* audio/corpus_store.c: synthetic speech corpus: the store (reading a
 * corpus back) and the mixer (noise, rooms, SNR); see corpus.h. */
#include "audio/corpus.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio/corpus_int.h"
#include "audio/vocab.h"
#include "common/log.h"
#include "common/util.h"

/* ================================================================ store */

#define S_MAX_PARTS 8

struct _corpus_t {
    corpus_clip_t *clips;   /* index, from the clips.tsv files in order */
    uint8_t *part;          /* per clip: the directory its audio is in */
    int n;
    struct {
        const int16_t *pcm; /* clips.pcm, mapped read-only */
        size_t samples, map_len;
    } parts[S_MAX_PARTS];
    int n_parts;
};

/* Parses one clips.tsv line into c. Returns 0 or -1. */
static int
s_parse_line(char *line, corpus_clip_t *c)
{
    char *f[9];
    int nf = 0;
    for (char *p = line; nf < 9;) {
        f[nf++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = 0;
        p = tab + 1;
    }
    if (nf != 9)
        return -1;
    memset(c, 0, sizeof *c);
    if (strcmp(f[0], "train") == 0)
        c->split = CORPUS_TRAIN;
    else if (strcmp(f[0], "test") == 0)
        c->split = CORPUS_TEST;
    else
        return -1;
    if (strcmp(f[3], "command") == 0)
        c->kind = CORPUS_KIND_COMMAND;
    else if (strcmp(f[3], "unknown") == 0)
        c->kind = CORPUS_KIND_UNKNOWN;
    else
        return -1;
    if (strlen(f[1]) >= sizeof c->engine || strlen(f[2]) >= sizeof c->voice
        || strlen(f[8]) >= sizeof c->text)
        return -1;
    strcpy(c->engine, f[1]);
    strcpy(c->voice, f[2]);
    strcpy(c->text, f[8]);
    char *endp;
    errno = 0;
    unsigned long long off = strtoull(f[4], &endp, 10);
    if (errno || *endp || f[4][0] == '-')
        return -1;
    c->offset = (size_t) off;
    long n = strtol(f[5], &endp, 10);
    if (*endp || n <= 0 || n > S_MAX_CLIP)
        return -1;
    c->n = (int) n;
    long on = strtol(f[6], &endp, 10);
    if (*endp || on < 0 || on >= n)
        return -1;
    c->onset = (int) on;
    if (strcmp(f[7], "-") != 0) {
        for (char *save = NULL, *tok = strtok_r(f[7], ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            int word, end;
            char extra;
            if (c->n_marks == CORPUS_MAX_MARKS
                || sscanf(tok, "%d@%d%c", &word, &end, &extra) != 2 || !vocab_is_keyword(word)
                || end <= 0 || end > c->n)
                return -1;
            c->marks[c->n_marks++] = (corpus_mark_t) { word, end };
        }
    }
    return 0;
}

/* Reads the corpus in dir into self as its next part. Returns 0 or -1. */
static int
s_open_part(corpus_t *self, const char *dir, char *err, size_t errlen)
{
    char path[1024];
    if (self->n_parts == S_MAX_PARTS) {
        s_set_err(err, errlen, "more than %d corpus directories", S_MAX_PARTS);
        return -1;
    }
    int first = self->n, part = self->n_parts;
    snprintf(path, sizeof path, "%s/clips.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        s_set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, cap = self->n;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = 0;
        else if (!feof(f)) {
            s_set_err(err, errlen, "%s:%d: line too long", path, lineno);
            fclose(f);
            return -1;
        }
        if (lineno == 1) {
            if (strcmp(line, S_TSV_MAGIC) != 0) {
                s_set_err(err, errlen, "%s: not a shopd speech corpus", path);
                fclose(f);
                return -1;
            }
            continue;
        }
        if (self->n == cap) {
            cap = cap ? 2 * cap : 1024;
            self->clips = xrealloc(self->clips, (size_t) cap * sizeof *self->clips);
            self->part = xrealloc(self->part, (size_t) cap);
        }
        if (s_parse_line(line, &self->clips[self->n]) != 0) {
            s_set_err(err, errlen, "%s:%d: malformed clip line", path, lineno);
            fclose(f);
            return -1;
        }
        self->part[self->n++] = (uint8_t) part;
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/clips.pcm", dir);
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        s_set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    self->n_parts++;
    self->parts[part].samples = (size_t) st.st_size / 2;
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            s_set_err(err, errlen, "cannot map %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        self->parts[part].pcm = m;
        self->parts[part].map_len = (size_t) st.st_size;
    }
    close(fd);
    for (int i = first; i < self->n; i++)
        if (self->clips[i].offset > self->parts[part].samples
            || (size_t) self->clips[i].n > self->parts[part].samples - self->clips[i].offset) {
            s_set_err(err, errlen, "%s: clip %d lies beyond the end of the audio", dir, i - first);
            return -1;
        }
    return 0;
}

corpus_t *
corpus_open(const char *dir, char *err, size_t errlen)
{
    corpus_t *self = xcalloc(1, sizeof *self);
    char *list = xstrdup(dir), *save = NULL;
    bool any = false;
    for (char *d = strtok_r(list, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        any = true;
        if (s_open_part(self, d, err, errlen) != 0) {
            free(list);
            corpus_destroy(&self);
            return NULL;
        }
    }
    free(list);
    if (!any) {
        s_set_err(err, errlen, "no corpus directory given");
        corpus_destroy(&self);
    }
    return self;
}

void
corpus_destroy(corpus_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    corpus_t *self = *self_p;
    for (int i = 0; i < self->n_parts; i++)
        if (self->parts[i].pcm)
            munmap((void *) self->parts[i].pcm, self->parts[i].map_len);
    free(self->clips);
    free(self->part);
    free(self);
    *self_p = NULL;
}

int
corpus_count(const corpus_t *self)
{
    return self ? self->n : 0;
}

const corpus_clip_t *
corpus_clip(const corpus_t *self, int i)
{
    return self && i >= 0 && i < self->n ? &self->clips[i] : NULL;
}

int
corpus_set_mark_end(corpus_t *self, int i, int m, int end)
{
    corpus_clip_t *c = self && i >= 0 && i < self->n ? &self->clips[i] : NULL;
    if (!c || m < 0 || m >= c->n_marks || end < 0 || end > c->n)
        return -1;
    c->marks[m].end = end;
    return 0;
}

int
corpus_clip_pcm(const corpus_t *self, int i, float *out)
{
    const corpus_clip_t *c = corpus_clip(self, i);
    if (!c)
        return -1;
    const int16_t *p = self->parts[self->part[i]].pcm + c->offset;
    for (int k = 0; k < c->n; k++)
        out[k] = (float) p[k] / 32768.f;
    return 0;
}

/* ================================================================ mixer */

struct _corpus_mixer_t {
    const corpus_t *corpus; /* babble source, may be NULL */
    corpus_split_t split;
    s_rng_t rng;
    int *unknown;           /* indices of the split's unknown-speech clips */
    int n_unknown;
    float *tmp;             /* scratch for babble, grown as needed */
    size_t tmp_cap;
};

static const char *const s_noise_names[CORPUS_NOISE_COUNT] = {
    "white", "pink", "brown", "hum", "music", "babble", "fan",
};

const char *
corpus_noise_name(corpus_noise_t type)
{
    return type >= 0 && type < CORPUS_NOISE_COUNT ? s_noise_names[type] : "?";
}

corpus_mixer_t *
corpus_mixer_new(const corpus_t *corpus, corpus_split_t split, uint64_t seed)
{
    corpus_mixer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->corpus = corpus;
    self->split = split;
    /* test mixers draw from seeds no training mixer can have */
    s_rng_seed(&self->rng, split == CORPUS_TEST ? seed | (1ULL << 63) : seed & ~(1ULL << 63));
    for (int i = 0; i < corpus_count(corpus); i++) {
        const corpus_clip_t *c = corpus_clip(corpus, i);
        if (c->kind == CORPUS_KIND_UNKNOWN && c->split == split) {
            if (!(self->n_unknown & 255)) {
                int *p = realloc(self->unknown, (size_t) (self->n_unknown + 256) * sizeof *p);
                if (!p) {
                    corpus_mixer_destroy(&self);
                    return NULL;
                }
                self->unknown = p;
            }
            self->unknown[self->n_unknown++] = i;
        }
    }
    return self;
}

void
corpus_mixer_destroy(corpus_mixer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->unknown);
    free((*self_p)->tmp);
    free(*self_p);
    *self_p = NULL;
}

float
corpus_mixer_uniform(corpus_mixer_t *self, float lo, float hi)
{
    return (float) s_rng_range(&self->rng, lo, hi);
}

bool
corpus_mixer_allows(const corpus_mixer_t *self, corpus_noise_t type)
{
    if (type < 0 || type >= CORPUS_NOISE_COUNT)
        return false;
    if (type == CORPUS_NOISE_FAN && self->split != CORPUS_TEST)
        return false;
    return type != CORPUS_NOISE_BABBLE || self->n_unknown > 0;
}

corpus_noise_t
corpus_mixer_pick_noise(corpus_mixer_t *self)
{
    for (;;) {
        corpus_noise_t t = (corpus_noise_t) s_rng_int(&self->rng, CORPUS_NOISE_COUNT);
        if (corpus_mixer_allows(self, t))
            return t;
    }
}

static void
s_normalise(float *x, size_t n, float peak)
{
    float m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) > m)
            m = fabsf(x[i]);
    if (m > 0)
        for (size_t i = 0; i < n; i++)
            x[i] *= peak / m;
}

static void
s_pink(s_rng_t *r, float *out, size_t n)
{
    /* Paul Kellet's economy pink filter */
    float b0 = 0, b1 = 0, b2 = 0;
    for (size_t i = 0; i < n; i++) {
        float w = s_rng_gauss(r);
        b0 = 0.99765f * b0 + w * 0.0990460f;
        b1 = 0.96300f * b1 + w * 0.2965164f;
        b2 = 0.57000f * b2 + w * 1.0526913f;
        out[i] = b0 + b1 + b2 + w * 0.1848f;
    }
}

static void
s_brown(s_rng_t *r, float *out, size_t n, float leak)
{
    float y = 0;
    for (size_t i = 0; i < n; i++) {
        y = leak * y + 0.05f * s_rng_gauss(r);
        out[i] = y;
    }
}

static void
s_music(s_rng_t *r, float *out, size_t n)
{
    static const int major[] = { 0, 2, 4, 5, 7, 9, 11 };
    memset(out, 0, n * sizeof *out);
    double note_len = s_rng_range(r, 0.12, 0.5);
    int root = 45 + s_rng_int(r, 12);
    float harm[6];
    for (int h = 0; h < 6; h++)
        harm[h] = (float) (s_rng_range(r, 0.1, 1.0) / (h + 1));
    float decay = (float) s_rng_range(r, 2.0, 8.0);
    for (size_t start = 0; start < n; start += (size_t) (note_len * CORPUS_RATE)) {
        int voices = 1 + s_rng_int(r, 3);
        for (int v = 0; v < voices; v++) {
            int midi = root + 12 * s_rng_int(r, 3) + major[s_rng_int(r, 7)];
            double f = 440.0 * pow(2.0, (midi - 69) / 12.0);
            float amp = (float) s_rng_range(r, 0.3, 1.0);
            size_t len = (size_t) (note_len * 1.5 * CORPUS_RATE);
            for (size_t i = 0; i < len && start + i < n; i++) {
                double t = (double) i / CORPUS_RATE;
                float env = (float) (fmin(1.0, t / 0.01) * exp(-decay * t));
                float s = 0;
                for (int h = 0; h < 6; h++)
                    if (f * (h + 1) < CORPUS_RATE / 2)
                        s += harm[h] * (float) sin(2 * M_PI * f * (h + 1) * t);
                out[start + i] += amp * env * s;
            }
        }
    }
}

void
corpus_mixer_noise(corpus_mixer_t *self, corpus_noise_t type, float *out, size_t n)
{
    s_rng_t *r = &self->rng;
    switch (type) {
    case CORPUS_NOISE_WHITE:
        for (size_t i = 0; i < n; i++)
            out[i] = s_rng_gauss(r);
        break;
    case CORPUS_NOISE_PINK:
        s_pink(r, out, n);
        break;
    case CORPUS_NOISE_BROWN:
        s_brown(r, out, n, 0.998f);
        break;
    case CORPUS_NOISE_HUM: {
        double f0 = (s_rng_unit(r) < 0.5 ? 50.0 : 60.0) * s_rng_range(r, 0.99, 1.01);
        float amp[10];
        for (int h = 0; h < 10; h++)
            amp[h] = (float) (s_rng_range(r, 0.05, 1.0) / (1 + h));
        for (size_t i = 0; i < n; i++) {
            double t = (double) i / CORPUS_RATE;
            float s = 0.02f * s_rng_gauss(r);
            for (int h = 0; h < 10; h++)
                s += amp[h] * (float) sin(2 * M_PI * f0 * (h + 1) * t);
            out[i] = s;
        }
        break;
    }
    case CORPUS_NOISE_MUSIC:
        s_music(r, out, n);
        break;
    case CORPUS_NOISE_BABBLE: {
        memset(out, 0, n * sizeof *out);
        if (self->n_unknown == 0)
            break;
        int talkers = 3 + s_rng_int(r, 6);
        for (int t = 0; t < talkers; t++) {
            int ci = self->unknown[s_rng_int(r, self->n_unknown)];
            const corpus_clip_t *c = corpus_clip(self->corpus, ci);
            if (self->tmp_cap < (size_t) c->n) {
                self->tmp = xrealloc(self->tmp, (size_t) c->n * sizeof *self->tmp);
                self->tmp_cap = (size_t) c->n;
            }
            corpus_clip_pcm(self->corpus, ci, self->tmp);
            s_normalise(self->tmp, (size_t) c->n, 1.0f);
            float g = (float) s_rng_range(r, 0.4, 1.0);
            /* each talker loops its clip from a random phase over the whole noise */
            size_t ph = (size_t) s_rng_int(r, c->n);
            for (size_t i = 0; i < n; i++)
                out[i] += g * self->tmp[(ph + i) % (size_t) c->n];
        }
        break;
    }
    case CORPUS_NOISE_FAN: {
        s_brown(r, out, n, 0.99f);
        double blade = s_rng_range(r, 80, 220), mod = s_rng_range(r, 0.5, 3);
        float tone = (float) s_rng_range(r, 0.02, 0.1);
        for (size_t i = 0; i < n; i++) {
            double t = (double) i / CORPUS_RATE;
            out[i] += tone * (float) ((1 + 0.3 * sin(2 * M_PI * mod * t))
                                      * (sin(2 * M_PI * blade * t)
                                         + 0.5 * sin(4 * M_PI * blade * t)));
        }
        break;
    }
    default:
        memset(out, 0, n * sizeof *out);
        return;
    }
    s_normalise(out, n, 0.5f);
}

void
corpus_mixer_reverb(corpus_mixer_t *self, float *x, size_t n)
{
    s_rng_t *r = &self->rng;
    double rt60 = s_rng_range(r, 0.15, 0.7);
    float wet = (float) s_rng_range(r, 0.1, 0.5);
    /* early reflections: a few taps 3-40 ms late */
    enum { TAPS = 6, COMBS = 4, MAXD = 2048 };
    int td[TAPS];
    float tg[TAPS];
    for (int t = 0; t < TAPS; t++) {
        td[t] = (int) (s_rng_range(r, 0.003, 0.040) * CORPUS_RATE);
        tg[t] = (float) (s_rng_range(r, -0.5, 0.5) * exp(-6.9 * td[t] / (rt60 * CORPUS_RATE)));
    }
    /* late tail: Schroeder's parallel combs and series all-passes */
    static const double comb_ms[COMBS] = { 29.7, 37.1, 41.1, 43.7 };
    float *dry = xmalloc(n * sizeof *dry);
    memcpy(dry, x, n * sizeof *dry);
    float *cbuf = xcalloc(COMBS * MAXD, sizeof *cbuf);
    float ap1[MAXD] = { 0 }, ap2[MAXD] = { 0 };
    int cd[COMBS];
    float cg[COMBS];
    for (int c = 0; c < COMBS; c++) {
        cd[c] = (int) (comb_ms[c] * s_rng_range(r, 0.85, 1.15) * CORPUS_RATE / 1000.0);
        cg[c] = (float) pow(10.0, -3.0 * cd[c] / (rt60 * CORPUS_RATE));
    }
    const int a1 = 80, a2 = 27;
    for (size_t i = 0; i < n; i++) {
        float e = dry[i];
        for (int t = 0; t < TAPS; t++)
            if (i >= (size_t) td[t])
                e += tg[t] * dry[i - (size_t) td[t]];
        float late = 0;
        for (int c = 0; c < COMBS; c++) {
            float *b = cbuf + c * MAXD;
            float y = b[i % (size_t) cd[c]];
            b[i % (size_t) cd[c]] = dry[i] + cg[c] * y;
            late += y;
        }
        late *= 0.25f;
        float y1 = ap1[i % a1];
        float v1 = late + 0.7f * y1;
        ap1[i % a1] = v1;
        late = y1 - 0.7f * v1;
        float y2 = ap2[i % a2];
        float v2 = late + 0.7f * y2;
        ap2[i % a2] = v2;
        late = y2 - 0.7f * v2;
        x[i] = e + wet * late;
    }
    free(cbuf);
    free(dry);
}

float
corpus_peak_frame_power(const float *x, size_t n)
{
    const size_t win = 400, hop = 160;
    float peak = 0;
    if (n < win) {
        float e = 0;
        for (size_t i = 0; i < n; i++)
            e += x[i] * x[i];
        return n ? e / (float) n : 0;
    }
    for (size_t s = 0; s + win <= n; s += hop) {
        float e = 0;
        for (size_t i = 0; i < win; i++)
            e += x[s + i] * x[s + i];
        if (e / (float) win > peak)
            peak = e / (float) win;
    }
    return peak;
}

float
corpus_add_at_snr(float *speech, const float *noise, size_t n, float snr_db)
{
    float ps = corpus_peak_frame_power(speech, n), pn = corpus_peak_frame_power(noise, n);
    if (pn <= 0)
        return 0;
    float g = sqrtf(ps / (pn * powf(10.f, snr_db / 10.f)));
    for (size_t i = 0; i < n; i++)
        speech[i] += g * noise[i];
    return g;
}
