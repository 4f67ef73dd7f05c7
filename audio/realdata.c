/* audio/realdata.c: recorded speech of real people (Speech Commands, FSDD):
 * the listing, the speaker split, decoding and the real-speech measures. */
#include "audio/realdata.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio/source.h"
#include "audio/vocab.h"
#include "common/util.h"

struct _real_t {
    real_clip_t *clips;    /* sorted by path */
    int n, cap;
};

static const char *const s_digit_names[10] = { "zero", "one", "two", "three", "four",
                                               "five", "six", "seven", "eight", "nine" };

static int __attribute__((format(printf, 3, 4)))
s_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* The speaker split's hash: 64-bit FNV-1a of the speaker id (modulo 4, 0:
 * validation, 1: calibration, 2 and 3: training). */
uint64_t
real_speaker_hash(const char *speaker)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *) speaker; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

bool
real_speaker_is_validation(const char *speaker)
{
    return real_speaker_hash(speaker) % 4 == 0;
}

bool
real_speaker_is_calibration(const char *speaker)
{
    return real_speaker_hash(speaker) % 4 == 1;
}

/* Copies src into dst (size bytes). Returns 0, or -1 when it does not fit. */
static int
s_copy(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);
    if (len >= size)
        return -1;
    memcpy(dst, src, len + 1);
    return 0;
}

static real_clip_t *
s_add(real_t *self)
{
    if (self->n == self->cap) {
        self->cap = self->cap ? 2 * self->cap : 1024;
        self->clips = xrealloc(self->clips, (size_t) self->cap * sizeof *self->clips);
    }
    real_clip_t *c = &self->clips[self->n++];
    memset(c, 0, sizeof *c);
    return c;
}

static bool
s_is_flac(const char *name, size_t *stem)
{
    size_t len = strlen(name);
    if (len <= 5 || strcmp(name + len - 5, ".flac") != 0)
        return false;
    *stem = len - 5;
    return true;
}

/* Fills word, speaker and vocab of a Speech Commands file of class cls.
 * Returns 0, or -1 for a name outside the layout. */
static int
s_parse_sc(real_clip_t *c, const char *cls, const char *name, size_t stem)
{
    char base[128];
    if (stem >= sizeof base)
        return -1;
    memcpy(base, name, stem);
    base[stem] = '\0';
    if (s_copy(c->cls, sizeof c->cls, cls) != 0)
        return -1;
    if (strcmp(cls, "_silence_") == 0) {
        /* noise: no speaker; the file is its own unit of the split */
        c->vocab = VOCAB_SILENCE;
        return s_copy(c->speaker, sizeof c->speaker, base);
    }
    char *nh = strstr(base, "_nohash_");
    if (!nh || nh == base)
        return -1;
    *nh = '\0';
    char *spk = base;
    if (strcmp(cls, "_unknown_") == 0) {
        char *us = strrchr(base, '_');
        if (!us || us == base || us[1] == '\0')
            return -1;
        *us = '\0';
        if (s_copy(c->word, sizeof c->word, base) != 0)
            return -1;
        spk = us + 1;
    } else if (s_copy(c->word, sizeof c->word, cls) != 0) {
        return -1;
    }
    if (s_copy(c->speaker, sizeof c->speaker, spk) != 0 || strlen(c->word) == 0)
        return -1;
    int v = vocab_find(c->word);
    c->vocab = v >= 0 && vocab_is_keyword(v) ? v : VOCAB_UNKNOWN;
    return 0;
}

/* DIGIT_SPEAKER_TAKE. Returns 0 or -1. */
static int
s_parse_fsdd(real_clip_t *c, const char *name, size_t stem)
{
    char base[128];
    if (stem >= sizeof base || stem < 5 || name[0] < '0' || name[0] > '9' || name[1] != '_')
        return -1;
    memcpy(base, name + 2, stem - 2);
    base[stem - 2] = '\0';
    char *us = strrchr(base, '_');
    if (!us || us == base || us[1] == '\0' || strlen(base) >= sizeof c->speaker)
        return -1;
    *us = '\0';
    snprintf(c->cls, sizeof c->cls, "digit");
    s_copy(c->speaker, sizeof c->speaker, base);
    s_copy(c->word, sizeof c->word, s_digit_names[name[0] - '0']);
    int v = vocab_find(c->word);
    c->vocab = v >= 0 ? v : VOCAB_UNKNOWN;
    return 0;
}

static int
s_cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The .flac names in dir, sorted (caller frees each and the array). */
static int
s_list(const char *dir, char ***names, int *n, char *err, size_t errlen)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return s_err(err, errlen, "cannot read %s: %s", dir, strerror(errno));
    int cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t stem;
        if (!s_is_flac(de->d_name, &stem))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            *names = xrealloc(*names, (size_t) cap * sizeof **names);
        }
        (*names)[(*n)++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (*n > 1)
        qsort(*names, (size_t) *n, sizeof **names, s_cmp_name);
    return 0;
}

static void
s_free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static bool
s_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Adds the files of one folder. Returns 0 or -1. */
static int
s_add_folder(real_t *self, const char *folder, const char *cls, char *err, size_t errlen)
{
    char **names;
    int n;
    if (s_list(folder, &names, &n, err, errlen) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        size_t stem = 0;
        s_is_flac(names[i], &stem);
        real_clip_t *c = s_add(self);
        int rc = cls ? s_parse_sc(c, cls, names[i], stem) : s_parse_fsdd(c, names[i], stem);
        if (rc != 0) {
            s_err(err, errlen, "%s/%s: the file name does not follow the data set's layout",
                  folder, names[i]);
            self->n--;
            s_free_names(names, n);
            return -1;
        }
        size_t len = strlen(folder) + strlen(names[i]) + 2;
        c->path = xmalloc(len);
        snprintf(c->path, len, "%s/%s", folder, names[i]);
        c->source = cls ? REAL_SPEECH_COMMANDS : REAL_FSDD;
        c->validation = real_speaker_is_validation(c->speaker);
        c->calibration = real_speaker_is_calibration(c->speaker);
    }
    s_free_names(names, n);
    return 0;
}

real_t *
real_open(const char *dir, char *err, size_t errlen)
{
    real_t *self = xcalloc(1, sizeof *self);
    char path[1024];
    bool any = false;
    snprintf(path, sizeof path, "%s/speech-commands", dir);
    if (s_is_dir(path)) {
        any = true;
        DIR *d = opendir(path);
        if (!d) {
            s_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        char **classes = NULL;
        int nc = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char sub[1300];
            if (de->d_name[0] == '.')
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            if (!s_is_dir(sub) || strlen(de->d_name) >= sizeof self->clips[0].cls)
                continue;
            if (nc == cap) {
                cap = cap ? 2 * cap : 16;
                classes = xrealloc(classes, (size_t) cap * sizeof *classes);
            }
            classes[nc++] = xstrdup(de->d_name);
        }
        closedir(d);
        if (nc > 1)
            qsort(classes, (size_t) nc, sizeof *classes, s_cmp_name);
        int rc = 0;
        for (int i = 0; i < nc && rc == 0; i++) {
            char sub[1300];
            snprintf(sub, sizeof sub, "%s/%s", path, classes[i]);
            rc = s_add_folder(self, sub, classes[i], err, errlen);
        }
        s_free_names(classes, nc);
        if (rc != 0)
            goto fail;
    }
    snprintf(path, sizeof path, "%s/fsdd/recordings", dir);
    if (s_is_dir(path)) {
        any = true;
        if (s_add_folder(self, path, NULL, err, errlen) != 0)
            goto fail;
    }
    if (!any) {
        s_err(err, errlen, "%s holds neither speech-commands/ nor fsdd/recordings/", dir);
        goto fail;
    }
    return self;
fail:
    real_destroy(&self);
    return NULL;
}

void
real_destroy(real_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    real_t *self = *self_p;
    for (int i = 0; i < self->n; i++)
        free(self->clips[i].path);
    free(self->clips);
    free(self);
    *self_p = NULL;
}

int
real_count(const real_t *self)
{
    return self->n;
}

const real_clip_t *
real_clip(const real_t *self, int i)
{
    return i >= 0 && i < self->n ? &self->clips[i] : NULL;
}

int
real_clip_pcm(const real_t *self, int i, float **pcm, size_t *n, char *err, size_t errlen)
{
    *pcm = NULL;
    *n = 0;
    const real_clip_t *c = real_clip(self, i);
    if (!c)
        return s_err(err, errlen, "no real clip %d", i);
    return audio_source_decode_file(c->path, NULL, pcm, n, NULL, err, errlen);
}

void
real_speech_extent(const float *pcm, size_t n, int *onset, int *end)
{
    enum { HOP = 160, WIN = 400 };
    *onset = 0;
    *end = (int) n;
    if (n < WIN)
        return;
    size_t nf = (n - WIN) / HOP + 1;
    float *db = xmalloc(nf * sizeof *db), *sorted = xmalloc(nf * sizeof *sorted);
    float peak = -200.f;
    for (size_t f = 0; f < nf; f++) {
        double e = 1e-12;
        for (int k = 0; k < WIN; k++)
            e += (double) pcm[f * HOP + (size_t) k] * pcm[f * HOP + (size_t) k];
        db[f] = (float) (10.0 * log10(e / WIN));
        sorted[f] = db[f];
        peak = fmaxf(peak, db[f]);
    }
    /* the median frame by partial selection sort: clips are a few seconds */
    for (size_t i = 0; i <= nf / 2; i++)
        for (size_t j = i + 1; j < nf; j++)
            if (sorted[j] < sorted[i]) {
                float t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
    float floor_db = fmaxf(peak - 25.f, sorted[nf / 2] + 8.f);
    for (size_t f = 0; f < nf; f++)
        if (db[f] >= floor_db) {
            *onset = (int) (f * HOP);
            break;
        }
    for (size_t f = nf; f-- > 0;)
        if (db[f] >= floor_db) {
            *end = (int) (f * HOP + WIN) > (int) n ? (int) n : (int) (f * HOP + WIN);
            break;
        }
    free(db);
    free(sorted);
}

bool
real_same_intent(const intent_result_t *want, const intent_result_t *got)
{
    if (strcmp(want->intent, got->intent) != 0 || want->n_slots != got->n_slots)
        return false;
    for (int i = 0; i < want->n_slots; i++) {
        const char *v = intent_result_slot(got, want->slots[i].name);
        if (!v || strcmp(v, want->slots[i].value) != 0)
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------- measures */

#define S_MAX_HITS 32

/* One counter: trials and successes, overall and per key. */
typedef struct {
    json_t *by;            /* key -> [trials, hits] */
    int trials, hits;
} s_tally_t;

static void
s_count(s_tally_t *t, const char *key, bool hit)
{
    t->trials++;
    t->hits += hit;
    if (!t->by)
        t->by = json_object();
    json_t *a = json_object_get(t->by, key);
    if (!a) {
        a = json_pack("[i, i]", 0, 0);
        json_object_set_new(t->by, key, a);
    }
    json_array_set_new(a, 0, json_integer(json_integer_value(json_array_get(a, 0)) + 1));
    json_array_set_new(a, 1, json_integer(json_integer_value(json_array_get(a, 1)) + hit));
}

/* {rate_name: overall, trials, by_KEY: {key: {rate_name, trials}}}; frees t->by. */
static json_t *
s_tally_json(s_tally_t *t, const char *rate_name, const char *by_name)
{
    json_t *o = json_object();
    json_object_set_new(o, rate_name, t->trials ? json_real((double) t->hits / t->trials)
                                                : json_null());
    json_object_set_new(o, "trials", json_integer(t->trials));
    json_t *by = json_object();
    const char *key;
    json_t *a;
    json_object_foreach(t->by, key, a) {
        json_int_t n = json_integer_value(json_array_get(a, 0));
        json_int_t h = json_integer_value(json_array_get(a, 1));
        json_object_set_new(by, key, json_pack("{s:f, s:I}", rate_name, (double) h / (double) n,
                                               "trials", n));
    }
    json_object_set_new(o, by_name, by);
    json_decref(t->by);
    t->by = NULL;
    return o;
}

json_t *
real_eval(const real_t *set, kws_t *kws, const intent_t *g, bool calibration, bool verbose,
          char *err, size_t errlen)
{
    s_tally_t yes_no = { 0 }, stop = { 0 }, fa_spk = { 0 }, fa_cls = { 0 }, digits = { 0 };
    s_tally_t zero = { 0 };
    int speakers_sc = 0, speakers_fsdd = 0;
    json_t *seen = json_object();
    kws_hit_t hits[S_MAX_HITS];
    int words[S_MAX_HITS];
    float conf[S_MAX_HITS];
    for (int i = 0; i < set->n; i++) {
        const real_clip_t *c = &set->clips[i];
        if (calibration ? !c->calibration : !c->validation)
            continue;
        float *pcm;
        size_t n;
        if (real_clip_pcm(set, i, &pcm, &n, err, errlen) != 0)
            goto fail;
        int nh = kws_decode(kws, pcm, n, hits, S_MAX_HITS);
        free(pcm);
        if (nh < 0) {
            s_err(err, errlen, "%s: %s", c->path, kws_error(kws));
            goto fail;
        }
        for (int k = 0; k < nh; k++) {
            words[k] = hits[k].word;
            conf[k] = hits[k].confidence;
        }
        char skey[64];
        snprintf(skey, sizeof skey, "%s:%s", c->source == REAL_FSDD ? "fsdd" : "sc", c->speaker);
        if (strcmp(c->cls, "_silence_") != 0 && !json_object_get(seen, skey)) {
            json_object_set_new(seen, skey, json_true());
            if (c->source == REAL_FSDD)
                speakers_fsdd++;
            else
                speakers_sc++;
        }
        intent_result_t got, want;
        bool got_intent = intent_match(g, words, conf, (size_t) nh, &got, NULL, 0) == 0;
        bool ok;
        if (c->source == REAL_FSDD) {
            /* word accuracy: exactly the digit, or nothing for "zero" */
            if (c->vocab == VOCAB_UNKNOWN) {
                ok = nh == 0;
                s_count(&zero, c->speaker, ok);
            } else {
                ok = nh == 1 && words[0] == c->vocab;
                s_count(&digits, c->speaker, ok);
            }
        } else {
            int w = c->vocab;
            bool command = vocab_is_keyword(w)
                           && intent_match(g, &w, NULL, 1, &want, NULL, 0) == 0;
            if (command) {
                ok = got_intent && real_same_intent(&want, &got);
                s_count(w == VOCAB_STOP ? &stop : &yes_no, c->speaker, ok);
            } else {
                ok = !got_intent;
                /* "_silence_" clips are counted under the class, not as speakers */
                s_count(&fa_cls, c->vocab == VOCAB_SILENCE ? "_silence_" : c->word, got_intent);
                if (c->vocab != VOCAB_SILENCE)
                    s_count(&fa_spk, c->speaker, got_intent);
            }
        }
        if (verbose && !ok) {
            char a[160];
            fprintf(stderr, "real %s [%s] %s:", c->source == REAL_FSDD ? "fsdd" : "sc", c->speaker,
                    c->word[0] ? c->word : c->cls);
            for (int k = 0; k < nh; k++)
                fprintf(stderr, " %s(%.2f)", vocab_name(words[k]), (double) conf[k]);
            fprintf(stderr, " -> %s\n", got_intent ? intent_result_format(&got, a, sizeof a) : "-");
        }
    }
    json_decref(seen);
    json_t *o = json_object();
    json_object_set_new(o, "split",
                        json_string(calibration ? "calibration speakers only: FNV-1a 64 of the "
                                                  "speaker id = 1 mod 4"
                                                : "validation speakers only: FNV-1a 64 of the "
                                                  "speaker id = 0 mod 4"));
    json_object_set_new(o, "speakers", json_pack("{s:i, s:i}", "speech_commands", speakers_sc,
                                                 "fsdd", speakers_fsdd));
    json_object_set_new(o, "yes_no_acceptance", s_tally_json(&yes_no, "acceptance",
                                                             "by_speaker"));
    json_object_set_new(o, "stop_acceptance", s_tally_json(&stop, "acceptance", "by_speaker"));
    /* false accepts: all non-command clips (the noise too) overall and per class;
     * per speaker over the speech clips */
    json_t *fa = s_tally_json(&fa_cls, "per_clip", "by_class");
    json_t *fs = s_tally_json(&fa_spk, "per_clip", "by_speaker");
    json_object_set(fa, "by_speaker", json_object_get(fs, "by_speaker"));
    json_decref(fs);
    json_object_set_new(o, "false_accepts", fa);
    json_object_set_new(o, "digits_word_accuracy", s_tally_json(&digits, "accuracy",
                                                                "by_speaker"));
    json_object_set_new(o, "zero_rejection", s_tally_json(&zero, "accuracy", "by_speaker"));
    return o;
fail:
    json_decref(seen);
    json_decref(yes_no.by);
    json_decref(stop.by);
    json_decref(fa_spk.by);
    json_decref(fa_cls.by);
    json_decref(digits.by);
    json_decref(zero.by);
    return NULL;
}
