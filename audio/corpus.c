/* audio/corpus.c: synthetic speech corpus: the generator and the self-test
 * (see corpus.h; the store and the mixer are in corpus_store.c). */
#include "audio/corpus.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audio/corpus_int.h"
#include "audio/vocab.h"
#include "common/log.h"
#include "common/util.h"

extern char **environ;

#define S_MAX_ITEMS 12

/* ================================================================ voices */

typedef enum { S_ESPEAK = 0, S_FLITE, S_FESTIVAL } s_engine_t;

static const char *const s_engine_names[] = { "espeak-ng", "flite", "festival" };

/* espeak-ng's English accents; every accent is used in both splits, the
 * variants (speaker timbres) are what is held out. */
static const char *const s_espeak_accents[] = {
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029",
};

/* espeak-ng variants used for training. Whisper, "Demonic" and the like are
 * left out: nobody shops in them. */
static const char *const s_espeak_train_variants[] = {
    "m1", "m2", "m3", "m4", "m5", "m7", "m8", "f1", "f2", "f3", "f5",
    "klatt", "klatt2", "klatt4", "klatt5", "klatt6", "Alex", "Alicia", "Andrea", "AnxiousAndy",
    "Denis", "Diogo", "Gene", "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario",
    "Michael", "Mike", "Nguyen", "RicishayMax", "Storm", "Tweaky", "adam", "anika", "announcer",
    "antonio", "aunty", "benjamin", "boris", "caleb", "david", "ed", "edward", "edward2",
    "fast", "grandma", "gustave", "iven", "iven3", "iven4", "kaukovalta", "linda", "marcelo",
    "max", "michel", "miguel", "pablo", "paul", "pedro", "quincy", "rob", "robert", "robosoft",
    "robosoft2", "robosoft4", "sandro", "shelby", "steph", "steph3", "victor",
};

/* Held out: heard only in the test split. */
static const char *const s_espeak_test_variants[] = {
    "f4", "m6", "klatt3", "Andy", "Annie", "belinda", "grandpa", "john", "norbert", "steph2",
    "travis", "robosoft3", "iven2", "zac",
};

typedef struct {
    const char *name;       /* flite -voice name or festival voice directory */
    float f0;               /* its usual mean pitch, Hz (flite) */
    bool test;
} s_named_voice_t;

static const s_named_voice_t s_flite_voices[] = {
    { "kal", 105.f, false }, { "kal16", 105.f, false }, { "awb", 110.f, false },
    { "slt", 170.f, false }, { "rms", 100.f, true },
};

static const s_named_voice_t s_festival_voices[] = {
    { "kal_diphone", 0, false }, { "cmu_us_slt_arctic_hts", 0, false }, { "ked_diphone", 0, true },
};

/* Extra training voices (`--extra`): new speakers made from the training
 * voices of flite and festival by their parameters, and festival's
 * non-English voices reading English (strong accents). The held-out test
 * voices (flite rms, festival ked_diphone) are never among them. Two are
 * validation voices (corpus_voice_is_validation): an unseen festival diphone
 * voice and an HTS variant with a vocal-tract length no training variant has. */
typedef struct {
    s_engine_t engine;
    const char *base;       /* flite -voice or festival voice_ name */
    float f0, f0_std;       /* flite and festival diphone intonation targets, Hz (0: the voice's) */
    float alpha, hts_f0;    /* festival HTS: all-pass constant (0.45 as shipped) and f0 factor */
} s_extra_voice_t;

static const s_extra_voice_t s_extra_voices[] = {
    { S_FLITE, "awb", 85, 10, 0, 0 },     { S_FLITE, "awb", 150, 30, 0, 0 },
    { S_FLITE, "slt", 120, 15, 0, 0 },    { S_FLITE, "slt", 220, 40, 0, 0 },
    { S_FLITE, "kal16", 80, 8, 0, 0 },    { S_FLITE, "kal16", 150, 30, 0, 0 },
    { S_FESTIVAL, "kal_diphone", 80, 10, 0, 0 },
    { S_FESTIVAL, "kal_diphone", 140, 25, 0, 0 },
    { S_FESTIVAL, "kal_diphone", 185, 35, 0, 0 },
    { S_FESTIVAL, "cmu_us_slt_arctic_hts", 0, 0, 0.41f, 0.58f },
    { S_FESTIVAL, "cmu_us_slt_arctic_hts", 0, 0, 0.41f, 0.8f },
    { S_FESTIVAL, "cmu_us_slt_arctic_hts", 0, 0, 0.49f, 0.58f },
    { S_FESTIVAL, "cmu_us_slt_arctic_hts", 0, 0, 0.49f, 0.8f },
    { S_FESTIVAL, "cmu_us_slt_arctic_hts", 0, 0, 0.53f, 0.58f },
    { S_FESTIVAL, "cmu_us_slt_arctic_hts", 0, 0, 0.53f, 0.8f },
    { S_FESTIVAL, "cmu_us_slt_arctic_hts", 0, 0, 0.45f, 0.65f },
    { S_FESTIVAL, "cmu_us_slt_arctic_hts", 0, 0, 0.45f, 1.2f },
    { S_FESTIVAL, "cmu_us_slt_arctic_hts", 0, 0, 0.37f, 0.65f },   /* validation */
    { S_FESTIVAL, "lp_diphone", 0, 0, 0, 0 },       /* Italian, female */
    { S_FESTIVAL, "pc_diphone", 0, 0, 0, 0 },       /* Italian, male: validation */
    { S_FESTIVAL, "hy_fi_mv_diphone", 0, 0, 0, 0 }, /* Finnish, male */
    { S_FESTIVAL, "suo_fi_lj_diphone", 0, 0, 0, 0 },/* Finnish, female */
    { S_FESTIVAL, "upc_ca_ona_hts", 0, 0, 0, 0 },   /* Catalan, female */
};

/* The extra voices kept for validation, by their stored names. */
static const char *const s_extra_validation[] = {
    "pc_diphone", "cmu_us_slt_arctic_hts-a37f65",
};

typedef struct {
    s_engine_t engine;
    char name[48];          /* espeak "accent+variant", flite or festival voice name (+ variant) */
    char base[48];          /* what the synthesiser is given: name without a variant suffix */
    float f0;               /* flite: usual mean pitch; extra voices: intonation target (Hz) */
    float f0_std;           /* extra voices: intonation range (Hz), 0 = the voice's */
    float alpha, hts_f0;    /* extra HTS voices, 0 = unpatched */
} s_voice_t;

typedef struct {
    s_voice_t *v;
    int n, cap;
} s_voice_list_t;

static void
s_voice_add(s_voice_list_t *l, s_engine_t e, const char *name, float f0)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xrealloc(l->v, (size_t) l->cap * sizeof *l->v);
    }
    s_voice_t *v = &l->v[l->n++];
    memset(v, 0, sizeof *v);
    v->engine = e;
    snprintf(v->name, sizeof v->name, "%s", name);
    snprintf(v->base, sizeof v->base, "%s", name);
    v->f0 = f0;
}

/* The directory of an installed festival voice in path (len bytes), or false. */
static bool
s_festival_dir(const char *voice, char *path, size_t len)
{
    static const char *const langs[] = { "english", "us", "italian", "finnish", "catalan" };
    for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++) {
        snprintf(path, len, "/usr/share/festival/voices/%s/%s", langs[i], voice);
        if (access(path, R_OK) == 0)
            return true;
    }
    return false;
}

static bool
s_festival_installed(const char *voice)
{
    char path[256];
    return s_festival_dir(voice, path, sizeof path);
}

/* The stored name of extra voice x: base, then its settings. */
static void
s_extra_name(const s_extra_voice_t *x, char *name, size_t len)
{
    if (x->alpha > 0)
        snprintf(name, len, "%s-a%02df%02d", x->base, (int) lrintf(x->alpha * 100),
                 (int) lrintf(x->hts_f0 * 100));
    else if (x->f0 > 0)
        snprintf(name, len, "%s-f%ds%d", x->base, (int) lrintf(x->f0), (int) lrintf(x->f0_std));
    else
        snprintf(name, len, "%s", x->base);
}

/* The extra training voices that are installed here. */
static void
s_voices_extra(s_voice_list_t *out, bool verbose)
{
    for (size_t i = 0; i < sizeof s_extra_voices / sizeof s_extra_voices[0]; i++) {
        const s_extra_voice_t *x = &s_extra_voices[i];
        if (x->engine == S_FESTIVAL && !s_festival_installed(x->base)) {
            if (verbose)
                log_warn("corpus: festival voice %s is not installed, skipped", x->base);
            continue;
        }
        char name[48];
        s_extra_name(x, name, sizeof name);
        s_voice_add(out, x->engine, name, x->f0);
        s_voice_t *v = &out->v[out->n - 1];
        snprintf(v->base, sizeof v->base, "%s", x->base);
        v->f0_std = x->f0_std;
        v->alpha = x->alpha;
        v->hts_f0 = x->hts_f0;
    }
}

/* The voices of a split that are installed here. */
static void
s_voices_for_split(corpus_split_t split, s_voice_list_t *out, bool verbose)
{
    const char *const *vars = split == CORPUS_TEST ? s_espeak_test_variants
                                                   : s_espeak_train_variants;
    size_t nvars = split == CORPUS_TEST
                       ? sizeof s_espeak_test_variants / sizeof s_espeak_test_variants[0]
                       : sizeof s_espeak_train_variants / sizeof s_espeak_train_variants[0];
    char name[48];
    for (size_t a = 0; a < sizeof s_espeak_accents / sizeof s_espeak_accents[0]; a++)
        for (size_t v = 0; v < nvars; v++) {
            snprintf(name, sizeof name, "%s+%s", s_espeak_accents[a], vars[v]);
            s_voice_add(out, S_ESPEAK, name, 0);
        }
    for (size_t i = 0; i < sizeof s_flite_voices / sizeof s_flite_voices[0]; i++)
        if (s_flite_voices[i].test == (split == CORPUS_TEST))
            s_voice_add(out, S_FLITE, s_flite_voices[i].name, s_flite_voices[i].f0);
    for (size_t i = 0; i < sizeof s_festival_voices / sizeof s_festival_voices[0]; i++) {
        if (s_festival_voices[i].test != (split == CORPUS_TEST))
            continue;
        if (s_festival_installed(s_festival_voices[i].name))
            s_voice_add(out, S_FESTIVAL, s_festival_voices[i].name, 0);
        else if (verbose)
            log_warn("corpus: festival voice %s is not installed, skipped",
                     s_festival_voices[i].name);
    }
}

bool
corpus_voice_is_test(const char *engine, const char *voice)
{
    if (!engine || !voice)
        return false;
    if (strcmp(engine, "espeak-ng") == 0) {
        const char *plus = strchr(voice, '+');
        if (!plus)
            return false;
        for (size_t i = 0; i < sizeof s_espeak_test_variants / sizeof s_espeak_test_variants[0]; i++)
            if (strcmp(plus + 1, s_espeak_test_variants[i]) == 0)
                return true;
        return false;
    }
    const s_named_voice_t *tab = strcmp(engine, "flite") == 0 ? s_flite_voices : s_festival_voices;
    size_t n = strcmp(engine, "flite") == 0 ? sizeof s_flite_voices / sizeof s_flite_voices[0]
                                            : sizeof s_festival_voices / sizeof s_festival_voices[0];
    for (size_t i = 0; i < n; i++)
        if (strcmp(voice, tab[i].name) == 0)
            return tab[i].test;
    return false;
}

bool
corpus_voice_is_validation(const char *engine, const char *voice)
{
    if (!engine || !voice || corpus_voice_is_test(engine, voice))
        return false;
    for (size_t i = 0; i < sizeof s_extra_validation / sizeof s_extra_validation[0]; i++)
        if (strcmp(engine, "festival") == 0 && strcmp(voice, s_extra_validation[i]) == 0)
            return true;
    if (strcmp(engine, "espeak-ng") != 0)
        return false;
    uint32_t h = 2166136261u;
    for (const char *p = voice; *p; p++)
        h = (h ^ (uint8_t) *p) * 16777619u;
    for (const char *p = engine; *p; p++)
        h = (h ^ (uint8_t) *p) * 16777619u;
    return h % 10 == 0;
}

bool
corpus_voice_listed(const char *list, const char *voice)
{
    if (!voice)
        return false;
    size_t n = strlen(voice);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t) (e - p) : strlen(p);
        if (len > 0 && len <= n && strncmp(p, voice, len) == 0 && (voice[len] == 0 || voice[len] == '-'))
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

/* ================================================================ texts */

/* Command sentences: "@word" is a vocabulary word (its label), "{cat}" a
 * random category, "{num}" a random quantity, other words are carriers. */
static const char *const s_templates[] = {
    "@shopwise", "@shopwise @show me {cat}", "@shopwise @find {cat}", "@shopwise @help",
    "@shopwise @add {num} to my @cart", "@shopwise @checkout", "@show me {cat}", "@show {cat}",
    "@show me some {cat}", "@find {cat}", "@find me {cat}", "@find some {cat} please",
    "I want to @find {cat}", "@add {num} to the @cart", "@add {num} {cat} to my @cart",
    "@add the {cat} to my @cart", "@add it to the @cart", "@add {num}", "@remove {num} from the @cart",
    "@remove the {cat}", "@remove {num} {cat}", "@show my @cart", "@show the @cart", "@cart",
    "@checkout", "@checkout please", "go to @checkout", "@recommend something", "@recommend {cat}",
    "@recommend some {cat}", "@show @similar {cat}", "@similar", "something @similar",
    "@find @similar {cat}", "@cheaper", "@show me @cheaper {cat}", "something @cheaper",
    "@next", "@next please", "@show @next", "@back", "go @back", "@yes", "@yes please", "@no",
    "@no thanks", "@cancel", "@cancel that", "@stop", "@help", "@help me", "{num}", "{cat}",
};

/* Speech that must not trigger anything: everyday words, and words that
 * sound a little like the vocabulary (shoes, fine, cheap, card, nest, ...)
 * so the model learns the difference. Exact homophones of vocabulary words
 * (to, too, for, won, ate, know) are left out: no acoustic model can tell them apart. */
static const char *const s_unknown_words[] = {
    "apple", "house", "water", "table", "river", "window", "paper", "morning", "yellow", "purple",
    "music", "garden", "doctor", "office", "people", "family", "money", "number", "problem",
    "system", "question", "computer", "minute", "hour", "weather", "happy", "little", "beautiful",
    "quickly", "running", "walking", "talking", "reading", "kitchen", "bottle", "phone", "letter",
    "camera", "pocket", "orange", "banana", "coffee", "dinner", "breakfast", "travel", "holiday",
    "station", "ticket", "plane", "summer", "winter", "autumn", "evening", "tomorrow",
    "yesterday", "always", "never", "maybe", "perhaps", "because", "through", "between", "under",
    "around", "before", "after", "again", "already", "almost", "animal", "answer", "basket",
    "candle", "carpet", "castle", "chicken", "cookie", "corner", "cotton", "cousin", "dollar",
    "drawer", "engine", "finger", "flower", "forest", "friend", "guitar", "hammer", "island",
    "jacket", "ladder", "lemon", "market", "mirror", "monkey", "mountain", "needle", "parcel",
    "pencil", "pepper", "picture", "pillow", "planet", "rabbit", "rocket", "salad", "school",
    "silver", "sister", "spider", "stairs", "sugar", "teacher", "tiger", "tomato", "tunnel",
    "turtle", "umbrella", "valley", "village", "violin", "wallet", "wizard", "zebra", "open",
    "close", "take", "give", "bring", "carry", "listen", "watch", "wait", "think", "believe",
    "remember", "forget", "understand", "explain", "paint", "build", "clean", "cook", "drive",
    "weekend", "birthday", "hospital", "library", "airport", "restaurant", "potato", "chocolate",
    "shoes", "shop", "shopping", "wisely", "shower", "fine", "finder", "comment", "commend",
    "simple", "cheap", "adder", "removal", "card", "cards", "cartoon", "check", "chicken",
    "nest", "neck", "bake", "yet", "noon", "candy", "stomp", "hello", "helpful", "tea",
    "trouble", "pull", "dresser", "coast", "sand", "boat", "bagel", "sneeze", "fire", "sticks",
    "heaven", "nineteen", "tender", "someone", "thirty", "fifty", "hundred", "weather", "sure",
    "okay", "maybe", "whatever", "really", "nothing", "something", "anything", "everything",
};

/* The words of the real recordings (Speech Commands) that are not vocabulary
 * words: the confusables plan (`--confusables`) has the synthetic training
 * voices say them, so that "up", "off" or "left" are `_unknown_` in
 * synthetic voices as in real ones and the model cannot learn "unknown" as
 * a property of the real voices (an unseen synthetic voice saying a short
 * word such as "add" would fall on that side). "go" is a vocabulary word
 * only in "go back"; alone it is none. */
static const char *const s_confusable_words[] = {
    "up", "down", "left", "right", "on", "off", "go", "zero", "bed", "bird", "cat", "dog",
    "happy", "house", "marvin", "sheila", "tree", "wow", "learn", "follow", "forward",
    "backward", "visual",
};

static const char *const s_carriers[] = {
    "the", "a", "me", "my", "some", "please", "it", "that", "this", "now", "and", "then",
};

typedef struct {
    char spoken[40];        /* text the synthesiser gets for this item */
    int word;               /* vocab id, or -1 for a carrier / unknown word */
} s_item_t;

typedef struct {
    corpus_split_t split;
    corpus_kind_t kind;
    int voice;              /* index into the split's voice list */
    float speed;            /* relative speaking rate, 1 = the voice's default */
    float pitch;            /* relative pitch, 1 = the voice's default */
    int n_items;
    s_item_t items[S_MAX_ITEMS];
} s_utt_t;

static void
s_item_word(s_item_t *it, int word)
{
    snprintf(it->spoken, sizeof it->spoken, "%s", vocab_spoken(word));
    it->word = word;
}

static void
s_item_text(s_item_t *it, const char *text)
{
    snprintf(it->spoken, sizeof it->spoken, "%s", text);
    it->word = -1;
}

/* Expands template t into u's items with random categories and numbers. */
static void
s_expand_template(const char *t, s_rng_t *rng, s_utt_t *u)
{
    char buf[200];
    snprintf(buf, sizeof buf, "%s", t);
    u->n_items = 0;
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok && u->n_items < S_MAX_ITEMS;
         tok = strtok_r(NULL, " ", &save)) {
        s_item_t *it = &u->items[u->n_items++];
        if (strcmp(tok, "{cat}") == 0)
            s_item_word(it, VOCAB_TSHIRT + s_rng_int(rng, 10));
        else if (strcmp(tok, "{num}") == 0)
            s_item_word(it, VOCAB_ONE + s_rng_int(rng, 10));
        else if (tok[0] == '@')
            s_item_word(it, vocab_find(tok + 1));
        else
            s_item_text(it, tok);
    }
}

/* Fills u with the text of a random utterance of the given kind:
 * isolated != 0 gives that single vocabulary word. */
static void
s_make_text(s_rng_t *rng, corpus_kind_t kind, int isolated, s_utt_t *u)
{
    u->kind = kind;
    u->n_items = 0;
    if (kind == CORPUS_KIND_COMMAND) {
        if (isolated > 0) {
            u->n_items = 1;
            s_item_word(&u->items[0], isolated);
            return;
        }
        s_expand_template(s_templates[s_rng_int(rng, sizeof s_templates / sizeof s_templates[0])],
                          rng, u);
        return;
    }
    size_t nw = sizeof s_unknown_words / sizeof s_unknown_words[0];
    size_t nc = sizeof s_carriers / sizeof s_carriers[0];
    int n = s_rng_unit(rng) < 0.4 ? 1 : 2 + s_rng_int(rng, 6);
    for (int i = 0; i < n; i++) {
        bool carrier = n > 1 && s_rng_unit(rng) < 0.25;
        s_item_text(&u->items[u->n_items++], carrier ? s_carriers[s_rng_int(rng, (int) nc)]
                                                     : s_unknown_words[s_rng_int(rng, (int) nw)]);
    }
}

/* Joins the first n items of u into text. */
static void
s_join(const s_utt_t *u, int n, char *text, size_t len)
{
    size_t at = 0;
    text[0] = 0;
    for (int i = 0; i < n && at < len; i++)
        at += (size_t) snprintf(text + at, len - at, "%s%s", i ? " " : "", u->items[i].spoken);
}

/* ================================================================ store writer */

typedef struct {
    FILE *pcm, *tsv;
    size_t samples;         /* written so far */
    int clips;
} s_writer_t;

/* Opens the corpus files in dir: new ones, or (append) the existing ones to
 * continue them, the audio cut to what the index references. */
static int
s_writer_open(s_writer_t *w, const char *dir, bool append, char *err, size_t errlen)
{
    char path[1024];
    memset(w, 0, sizeof *w);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        s_set_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (append) {
        corpus_t *c = corpus_open(dir, err, errlen);
        if (!c)
            return -1;
        for (int i = 0; i < corpus_count(c); i++) {
            const corpus_clip_t *cl = corpus_clip(c, i);
            if (cl->offset + (size_t) cl->n > w->samples)
                w->samples = cl->offset + (size_t) cl->n;
        }
        w->clips = corpus_count(c);
        corpus_destroy(&c);
        snprintf(path, sizeof path, "%s/clips.pcm", dir);
        if (truncate(path, (off_t) (w->samples * 2)) != 0) {
            s_set_err(err, errlen, "cannot cut %s: %s", path, strerror(errno));
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/clips.pcm", dir);
    w->pcm = fopen(path, append ? "ab" : "wb");
    snprintf(path, sizeof path, "%s/clips.tsv", dir);
    w->tsv = fopen(path, append ? "a" : "w");
    if (!w->pcm || !w->tsv) {
        s_set_err(err, errlen, "cannot write the corpus in %s: %s", dir, strerror(errno));
        if (w->pcm)
            fclose(w->pcm);
        if (w->tsv)
            fclose(w->tsv);
        return -1;
    }
    if (!append)
        fprintf(w->tsv, "%s\n", S_TSV_MAGIC);
    return 0;
}

/* Appends one clip (pcm in [-1, 1], n samples). Returns 0 or -1. */
static int
s_writer_add(s_writer_t *w, const corpus_clip_t *c, const float *pcm, int n)
{
    int16_t buf[1024];
    for (int i = 0; i < n; i += 1024) {
        int m = n - i < 1024 ? n - i : 1024;
        for (int j = 0; j < m; j++) {
            float v = pcm[i + j] * 32767.f;
            buf[j] = (int16_t) (v > 32767.f ? 32767 : v < -32767.f ? -32767 : lrintf(v));
        }
        if (fwrite(buf, sizeof buf[0], (size_t) m, w->pcm) != (size_t) m)
            return -1;
    }
    char marks[200] = "-";
    size_t at = 0;
    for (int i = 0; i < c->n_marks && at < sizeof marks; i++)
        at += (size_t) snprintf(marks + at, sizeof marks - at, "%s%d@%d", i ? "," : "",
                                c->marks[i].word, c->marks[i].end);
    fprintf(w->tsv, "%s\t%s\t%s\t%s\t%zu\t%d\t%d\t%s\t%s\n",
            c->split == CORPUS_TEST ? "test" : "train", c->engine, c->voice,
            c->kind == CORPUS_KIND_UNKNOWN ? "unknown" : "command", w->samples, n, c->onset,
            marks, c->text);
    w->samples += (size_t) n;
    w->clips++;
    return ferror(w->tsv) ? -1 : 0;
}

static int
s_writer_close(s_writer_t *w)
{
    int rc = 0;
    if (w->pcm && fclose(w->pcm) != 0)
        rc = -1;
    if (w->tsv && fclose(w->tsv) != 0)
        rc = -1;
    w->pcm = w->tsv = NULL;
    return rc;
}

/* ================================================================ synthesis */

/* Runs argv (no shell), stdout and stderr to /dev/null. Returns 0 when it exits 0. */
static int
s_run(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Reads a synthesiser's WAV as 16 kHz mono floats. Returns a new array
 * (caller frees) of *n samples, or NULL. */
static float *
s_read_wav(const char *path, int *n)
{
    SF_INFO info = { 0 };
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        return NULL;
    float *out = NULL;
    if (info.frames <= 0 || info.channels <= 0 || info.frames > 60 * info.samplerate
        || info.samplerate < 8000)
        goto done;
    float *inter = xmalloc((size_t) info.frames * (size_t) info.channels * sizeof *inter);
    sf_count_t got = sf_readf_float(sf, inter, info.frames);
    float *mono = xmalloc((size_t) (got > 0 ? got : 1) * sizeof *mono);
    for (sf_count_t i = 0; i < got; i++) {
        float s = 0;
        for (int c = 0; c < info.channels; c++)
            s += inter[i * info.channels + c];
        mono[i] = s / (float) info.channels;
    }
    free(inter);
    if (got <= 0) {
        free(mono);
        goto done;
    }
    if (info.samplerate == CORPUS_RATE) {
        out = mono;
        *n = (int) got;
        goto done;
    }
    double ratio = (double) CORPUS_RATE / info.samplerate;
    long cap = (long) (got * ratio) + 64;
    out = xmalloc((size_t) cap * sizeof *out);
    SRC_DATA d = { .data_in = mono, .data_out = out, .input_frames = (long) got,
                   .output_frames = cap, .src_ratio = ratio };
    if (src_simple(&d, SRC_SINC_MEDIUM_QUALITY, 1) != 0) {
        free(out);
        out = NULL;
    } else {
        *n = (int) d.output_frames_gen;
    }
    free(mono);
done:
    sf_close(sf);
    return out;
}

/* Speech extent: first and one-past-last sample of 10 ms frames within
 * 35 dB of the loudest. Returns -1 if the clip is silent. */
static int
s_speech_extent(const float *x, int n, int *on, int *end)
{
    const int hop = CORPUS_RATE / 100;
    int frames = n / hop;
    float peak = 0;
    for (int f = 0; f < frames; f++) {
        float e = 0;
        for (int i = 0; i < hop; i++)
            e += x[f * hop + i] * x[f * hop + i];
        if (e > peak)
            peak = e;
    }
    if (peak <= 1e-9f)
        return -1;
    float thr = peak * 3.16e-4f;
    *on = -1;
    for (int f = 0; f < frames; f++) {
        float e = 0;
        for (int i = 0; i < hop; i++)
            e += x[f * hop + i] * x[f * hop + i];
        if (e >= thr) {
            if (*on < 0)
                *on = f * hop;
            *end = (f + 1) * hop;
        }
    }
    return 0;
}

/* One synthesis: the first `len` items of utterance `utt`. */
typedef struct {
    int utt, len;
    char path[1024];
    float *pcm;             /* after reading */
    int n, on, end;
} s_job_t;

static int
s_synth_one(const s_voice_t *v, const s_utt_t *u, const s_job_t *j)
{
    char text[CORPUS_MAX_TEXT * 2], a1[64], a2[64], a3[64];
    s_join(u, j->len, text, sizeof text);
    if (v->engine == S_ESPEAK) {
        snprintf(a1, sizeof a1, "%d", (int) lrintf(165.f * u->speed));
        snprintf(a2, sizeof a2, "%d", (int) lrintf(50.f * u->pitch));
        char *argv[] = { "espeak-ng", "-v", (char *) v->name, "-s", a1, "-p", a2, "-w",
                         (char *) j->path, text, NULL };
        return s_run(argv);
    }
    snprintf(a1, sizeof a1, "duration_stretch=%.3f", 1.0 / u->speed);
    snprintf(a2, sizeof a2, "int_f0_target_mean=%.1f", v->f0 * u->pitch);
    snprintf(a3, sizeof a3, "%s", v->base);
    if (v->f0_std > 0) {
        char a4[64];
        snprintf(a4, sizeof a4, "int_f0_target_stddev=%.1f", v->f0_std);
        char *argv[] = { "flite", "-voice", a3, "--setf", a1, "--setf", a2, "--setf", a4, "-t",
                         text, "-o", (char *) j->path, NULL };
        return s_run(argv);
    }
    char *argv[] = { "flite", "-voice", a3, "--setf", a1, "--setf", a2, "-t", text, "-o",
                     (char *) j->path, NULL };
    return s_run(argv);
}

/* Writes to dst a copy of festival's HTS voice model (hts_engine 1.07
 * .htsvoice: a text header, then [DATA]) with the mel-cepstral all-pass
 * constant set to alpha (the vocal-tract length the vocoder renders) and
 * every static log-f0 mean moved by log(f0_factor): a new speaker. Returns
 * 0, or -1 when the model is not laid out as expected (the voice is then
 * left out). */
static int
s_hts_patch(const char *src, const char *dst, float alpha, float f0_factor)
{
    size_t len;
    char err[256];
    uint8_t *b = shop_read_file(src, 64u << 20, &len, err, sizeof err);
    if (!b)
        return -1;
    int rc = -1;
    const char *mark = "[DATA]\n";
    uint8_t *data = NULL;
    for (size_t i = 0; !data && i + strlen(mark) <= len && i < 65536; i++)
        if (memcmp(b + i, mark, strlen(mark)) == 0)
            data = b + i + strlen(mark);
    if (!data)
        goto out;
    size_t hdr_len = (size_t) (data - b);
    char *hdr = xmalloc(hdr_len + 1);
    memcpy(hdr, b, hdr_len);
    hdr[hdr_len] = 0;
    char *al = strstr(hdr, "OPTION[MCP]:ALPHA=");
    char *pos = strstr(hdr, "STREAM_PDF[LF0]:");
    unsigned long lo, hi;
    /* the LF0 stream: 1 coefficient, 3 windows, multi-space: per pdf 3
     * means, 3 variances and a voiced weight, after one count per state */
    bool ok = al && pos && strstr(hdr, "VECTOR_LENGTH[LF0]:1\n") && strstr(hdr, "NUM_WINDOWS[LF0]:3\n")
              && strstr(hdr, "IS_MSD[LF0]:1\n") && strstr(hdr, "NUM_STATES:5\n")
              && sscanf(pos + strlen("STREAM_PDF[LF0]:"), "%lu-%lu", &lo, &hi) == 2 && hi > lo + 20
              && hdr_len + hi < len;
    if (ok) {
        char num[8];
        snprintf(num, sizeof num, "%.2f", (double) alpha);
        al += strlen("OPTION[MCP]:ALPHA=");
        ok = strlen(num) == 4 && al[0] >= '0' && al[0] <= '9' && al[1] == '.' && al[2] && al[3];
        if (ok)
            memcpy(b + (al - hdr), num, 4);
    }
    if (ok) {
        uint8_t *p = data + lo;
        int32_t npdf[5];
        memcpy(npdf, p, sizeof npdf);
        long n = 0;
        for (int k = 0; k < 5; k++)
            n += npdf[k] > 0 ? npdf[k] : 1L << 40;
        ok = 20 + n * 28 == (long) (hi - lo + 1);
        float d = logf(f0_factor);
        for (long k = 0; ok && k < n; k++) {
            float m;
            memcpy(&m, p + 20 + k * 28, sizeof m);
            m += d;
            memcpy(p + 20 + k * 28, &m, sizeof m);
        }
    }
    free(hdr);
    if (ok && shop_write_file_atomic(dst, b, len) == 0)
        rc = 0;
out:
    free(b);
    return rc;
}

/* Festival starts slowly (about a second), so its jobs run as one script per
 * voice and chunk. */
static int
s_synth_festival(const char *dir, const s_voice_t *v, const s_utt_t *utts, s_job_t *jobs,
                 const int *idx, int n)
{
    char scm[1024], text[CORPUS_MAX_TEXT * 2];
    snprintf(scm, sizeof scm, "%s/tmp/fest.scm", dir);
    FILE *f = fopen(scm, "w");
    if (!f)
        return -1;
    fprintf(f, "(voice_%s)\n", v->base);
    char hts[1024];
    if (v->alpha > 0) {
        /* festival loads an HTS model once per voice: one variant per run */
        char src[512];
        snprintf(hts, sizeof hts, "%s/tmp/%s.htsvoice", dir, v->name);
        if (!s_festival_dir(v->base, src, sizeof src - 64)) {
            fclose(f);
            return -1;
        }
        strcat(src, "/hts/");
        strcat(src, v->base);
        strcat(src, ".htsvoice");
        if (access(hts, R_OK) != 0 && s_hts_patch(src, hts, v->alpha, v->hts_f0) != 0) {
            log_warn("corpus: cannot make HTS variant %s from %s", v->name, src);
            fclose(f);
            return -1;
        }
    }
    for (int i = 0; i < n; i++) {
        s_job_t *j = &jobs[idx[i]];
        const s_utt_t *u = &utts[j->utt];
        s_join(u, j->len, text, sizeof text);
        fprintf(f, "(Parameter.set 'Duration_Stretch %.3f)\n", 1.0 / u->speed);
        if (v->alpha > 0)
            fprintf(f, "(set! hts_engine_params (list (list \"-m\" \"%s\") (list \"-r\" %.3f)))\n",
                    hts, (double) u->speed);
        else if (v->f0 > 0)
            fprintf(f, "(set! int_lr_params (list (list 'target_f0_mean %.1f) "
                       "(list 'target_f0_std %.1f) (assoc 'model_f0_mean int_lr_params) "
                       "(assoc 'model_f0_std int_lr_params)))\n",
                    (double) (v->f0 * u->pitch), (double) v->f0_std);
        fprintf(f, "(utt.save.wave (utt.synth (Utterance Text \"%s\")) \"%s\" 'riff)\n", text,
                j->path);
    }
    if (fclose(f) != 0)
        return -1;
    char *argv[] = { "festival", "-b", scm, NULL };
    return s_run(argv);
}

/* ================================================================ generator */

/* Counts at scale 1 (see docs/speech.md for the resulting sizes). */
#define S_TRAIN_ISOLATED 60     /* per vocabulary word, the wake word 3x */
#define S_TRAIN_SENTENCES 2600
#define S_TRAIN_UNKNOWN 2200
#define S_TEST_ISOLATED 10
#define S_TEST_SENTENCES 700
#define S_TEST_UNKNOWN 700

static void
s_plan_split(corpus_split_t split, double scale, s_rng_t *rng, s_utt_t **utts, int *n, int *cap)
{
    int iso = (int) lrint((split == CORPUS_TEST ? S_TEST_ISOLATED : S_TRAIN_ISOLATED) * scale);
    int sent = (int) lrint((split == CORPUS_TEST ? S_TEST_SENTENCES : S_TRAIN_SENTENCES) * scale);
    int unk = (int) lrint((split == CORPUS_TEST ? S_TEST_UNKNOWN : S_TRAIN_UNKNOWN) * scale);
    int total = (VOCAB_COUNT + 2) * iso + sent + unk;
    if (*n + total > *cap) {
        *cap = *n + total;
        *utts = xrealloc(*utts, (size_t) *cap * sizeof **utts);
    }
    for (int w = VOCAB_WAKE; w < VOCAB_COUNT; w++)
        for (int k = 0; k < iso * (w == VOCAB_WAKE ? 3 : 1); k++) {
            s_utt_t *u = &(*utts)[(*n)++];
            s_make_text(rng, CORPUS_KIND_COMMAND, w, u);
        }
    for (int k = 0; k < sent; k++)
        s_make_text(rng, CORPUS_KIND_COMMAND, 0, &(*utts)[(*n)++]);
    for (int k = 0; k < unk; k++)
        s_make_text(rng, CORPUS_KIND_UNKNOWN, 0, &(*utts)[(*n)++]);
}

/* The confusables plan: training-split utterances of the words in
 * s_confusable_words, alone (three in four, as the real clips are) or two
 * or three of them in a row. */
#define S_CONFUSABLE 1200

static void
s_plan_confusable(double scale, s_rng_t *rng, s_utt_t **utts, int *n, int *cap)
{
    int total = (int) lrint(S_CONFUSABLE * scale);
    int nw = (int) (sizeof s_confusable_words / sizeof s_confusable_words[0]);
    *cap = *n + total;
    *utts = xrealloc(*utts, (size_t) *cap * sizeof **utts);
    for (int k = 0; k < total; k++) {
        s_utt_t *u = &(*utts)[(*n)++];
        u->kind = CORPUS_KIND_UNKNOWN;
        u->n_items = s_rng_unit(rng) < 0.75 ? 1 : 2 + s_rng_int(rng, 2);
        for (int i = 0; i < u->n_items; i++)
            s_item_text(&u->items[i], s_confusable_words[s_rng_int(rng, nw)]);
    }
}

/* A random voice: the engine first (by share: espeak-ng 50 %, flite 30 %,
 * festival 20 % in the main plan, as installed), then a voice of it, so the
 * few flite and festival voices are not drowned by espeak-ng's hundreds of
 * accent + variant pairs. */
static int
s_pick_voice(s_rng_t *rng, const s_voice_list_t *l, const double share[3])
{
    int count[3] = { 0, 0, 0 };
    for (int i = 0; i < l->n; i++)
        count[l->v[i].engine]++;
    double total = 0;
    for (int e = 0; e < 3; e++)
        total += count[e] ? share[e] : 0;
    double x = s_rng_unit(rng) * total;
    int e = 0;
    for (; e < 2; e++) {
        if (!count[e])
            continue;
        if (x < share[e])
            break;
        x -= share[e];
    }
    while (!count[e])
        e = (e + 1) % 3;
    int k = s_rng_int(rng, count[e]);
    for (int i = 0; i < l->n; i++)
        if (l->v[i].engine == (s_engine_t) e && k-- == 0)
            return i;
    return 0;
}

/* Stores the syntheses of utterance u (jobs [first, first + count), sorted
 * by length) as clips, with word ends carried over from the shorter prefixes. */
static int
s_store_utt(s_writer_t *w, const s_utt_t *u, const s_voice_t *v, s_job_t *jobs, int count)
{
    for (int k = 0; k < count; k++) {
        s_job_t *j = &jobs[k];
        if (!j->pcm || j->n > S_MAX_CLIP)
            continue;
        corpus_clip_t c = { 0 };
        c.split = u->split;
        c.kind = u->kind;
        snprintf(c.engine, sizeof c.engine, "%s", s_engine_names[v->engine]);
        snprintf(c.voice, sizeof c.voice, "%s", v->name);
        s_join(u, j->len, c.text, sizeof c.text);
        c.onset = j->on;
        for (int i = 0; i < j->len && c.n_marks < CORPUS_MAX_MARKS; i++) {
            if (u->items[i].word < 0)
                continue;
            int end = -1;
            if (i == j->len - 1) {
                end = j->end;
            } else {
                for (int q = 0; q < k; q++)
                    if (jobs[q].len == i + 1 && jobs[q].pcm)
                        end = j->on + (jobs[q].end - jobs[q].on);
            }
            if (end > j->end)
                end = j->end;
            if (end > 0)
                c.marks[c.n_marks++] = (corpus_mark_t) { u->items[i].word, end };
        }
        if (s_writer_add(w, &c, j->pcm, j->n) != 0)
            return -1;
    }
    return 0;
}

int
corpus_generate(const corpus_gen_opts_t *opts, char *err, size_t errlen)
{
    double scale = opts->scale > 0 ? opts->scale : 1.0;
    s_voice_list_t voices[2] = { { 0 }, { 0 } };
    /* the main plan: espeak-ng 50 %, flite 30 %, festival 20 %; the extra
     * voices (training only) are mostly festival's */
    static const double share_main[3] = { 0.5, 0.3, 0.2 }, share_extra[3] = { 0, 0.35, 0.65 };
    bool extra = opts->extra || opts->confusables;   /* one split: training */
    if (opts->extra && opts->confusables) {
        s_set_err(err, errlen, "the extra and the confusables plans are two corpora: one at a time");
        return -1;
    }
    if (opts->extra) {
        s_voices_extra(&voices[0], opts->verbose);
    } else {
        s_voices_for_split(CORPUS_TRAIN, &voices[0], opts->verbose);
        s_voices_for_split(CORPUS_TEST, &voices[1], opts->verbose);
    }
    s_rng_t rng;
    s_rng_seed(&rng, opts->seed);

    /* plan every utterance first, so the texts depend on the seed only */
    s_utt_t *utts = NULL;
    int n_utts = 0, cap = 0;
    for (int s = 0; s < (extra ? 1 : 2); s++) {
        int from = n_utts;
        if (opts->confusables)
            s_plan_confusable(scale, &rng, &utts, &n_utts, &cap);
        else
            s_plan_split((corpus_split_t) s, scale, &rng, &utts, &n_utts, &cap);
        for (int i = from; i < n_utts; i++) {
            s_utt_t *u = &utts[i];
            u->split = (corpus_split_t) s;
            u->voice = s_pick_voice(&rng, &voices[s], opts->extra ? share_extra : share_main);
            u->speed = (float) s_rng_range(&rng, 0.8, 1.25);
            u->pitch = (float) s_rng_range(&rng, 0.75, 1.3);
        }
    }
    /* interleave so a partial run has every kind of utterance */
    for (int i = n_utts - 1; i > 0; i--) {
        int j = s_rng_int(&rng, i + 1);
        s_utt_t t = utts[i];
        utts[i] = utts[j];
        utts[j] = t;
    }

    if (opts->limit > 0 && opts->limit < n_utts)
        n_utts = opts->limit;

    s_writer_t w;
    char tmpdir[900];
    if (s_writer_open(&w, opts->out_dir, opts->from > 0, err, errlen) != 0)
        goto fail_nowriter;
    snprintf(tmpdir, sizeof tmpdir, "%s/tmp", opts->out_dir);
    if (mkdir(tmpdir, 0755) != 0 && errno != EEXIST) {
        s_set_err(err, errlen, "cannot create %s: %s", tmpdir, strerror(errno));
        goto fail;
    }
    /* the extra plan has many festival voices, each a festival start per chunk */
    const int chunk = opts->extra ? 400 : 100;
    s_job_t *jobs = xcalloc((size_t) chunk * S_MAX_ITEMS, sizeof *jobs);
    int *fest = xcalloc((size_t) chunk * S_MAX_ITEMS, sizeof *fest);
    uint64_t t0 = shop_now_ns();
    int failed = 0;
    int first = opts->from > 0 ? opts->from : 0;
    for (int c0 = first; c0 < n_utts; c0 += chunk) {
        int c1 = c0 + chunk < n_utts ? c0 + chunk : n_utts, nj = 0;
        /* jobs: each prefix that ends in a vocabulary word (not last), then the whole */
        for (int i = c0; i < c1; i++) {
            const s_utt_t *u = &utts[i];
            for (int len = 1; len <= u->n_items; len++) {
                bool need = len == u->n_items || u->items[len - 1].word >= 0;
                if (u->kind == CORPUS_KIND_UNKNOWN && len < u->n_items)
                    need = false;
                if (!need)
                    continue;
                s_job_t *j = &jobs[nj];
                memset(j, 0, sizeof *j);
                j->utt = i;
                j->len = len;
                snprintf(j->path, sizeof j->path, "%s/j%d.wav", tmpdir, nj);
                nj++;
            }
        }
        for (int vi = -1; vi < 2 * 64; vi++) {
            /* vi == -1: espeak-ng and flite jobs; then festival voice by voice */
            if (vi < 0) {
                for (int k = 0; k < nj; k++) {
                    const s_utt_t *u = &utts[jobs[k].utt];
                    const s_voice_t *v = &voices[u->split].v[u->voice];
                    if (v->engine != S_FESTIVAL)
                        s_synth_one(v, u, &jobs[k]);
                }
                continue;
            }
            int split = vi / 64, vidx = vi % 64, nf = 0;
            if (split > 1)
                break;
            for (int k = 0; k < nj; k++) {
                const s_utt_t *u = &utts[jobs[k].utt];
                if ((int) u->split != split)
                    continue;
                const s_voice_t *v = &voices[split].v[u->voice];
                if (v->engine != S_FESTIVAL)
                    continue;
                /* festival voices are numbered among themselves */
                int fidx = 0;
                for (int q = 0; q < u->voice; q++)
                    fidx += voices[split].v[q].engine == S_FESTIVAL;
                if (fidx == vidx)
                    fest[nf++] = k;
            }
            if (nf > 0) {
                const s_utt_t *u = &utts[jobs[fest[0]].utt];
                s_synth_festival(opts->out_dir, &voices[split].v[u->voice], utts, jobs, fest, nf);
            }
        }
        for (int k = 0; k < nj; k++) {
            s_job_t *j = &jobs[k];
            j->pcm = s_read_wav(j->path, &j->n);
            unlink(j->path);
            if (j->pcm && s_speech_extent(j->pcm, j->n, &j->on, &j->end) != 0) {
                free(j->pcm);
                j->pcm = NULL;
            }
            if (!j->pcm)
                failed++;
        }
        for (int k = 0; k < nj;) {
            int q = k;
            while (q < nj && jobs[q].utt == jobs[k].utt)
                q++;
            const s_utt_t *u = &utts[jobs[k].utt];
            if (s_store_utt(&w, u, &voices[u->split].v[u->voice], &jobs[k], q - k) != 0) {
                s_set_err(err, errlen, "cannot write the corpus in %s", opts->out_dir);
                goto fail_jobs;
            }
            k = q;
        }
        for (int k = 0; k < nj; k++)
            free(jobs[k].pcm);
        /* audio before index, so a stopped run leaves a readable prefix */
        fflush(w.pcm);
        fflush(w.tsv);
        if (opts->verbose) {
            double sec = (double) (shop_now_ns() - t0) / 1e9;
            fprintf(stderr, "\rcorpus: %d/%d utterances, %d clips, %.1f min of audio, "
                            "%.0f utt/min, %d failed, ETA %.0f s   ",
                    c1, n_utts, w.clips, (double) w.samples / CORPUS_RATE / 60.0,
                    60.0 * (c1 - first) / (sec > 0 ? sec : 1), failed,
                    sec / (c1 - first) * (n_utts - c1));
        }
    }
    if (opts->verbose)
        fprintf(stderr, "\n");
    free(jobs);
    free(fest);
    for (int i = 0; i < voices[0].n; i++)
        if (voices[0].v[i].alpha > 0) {
            char hts[1024];
            snprintf(hts, sizeof hts, "%s/%s.htsvoice", tmpdir, voices[0].v[i].name);
            unlink(hts);
        }
    char scm[1024];
    snprintf(scm, sizeof scm, "%s/fest.scm", tmpdir);
    unlink(scm);
    rmdir(tmpdir);
    free(utts);
    free(voices[0].v);
    free(voices[1].v);
    if (s_writer_close(&w) != 0) {
        s_set_err(err, errlen, "cannot finish the corpus in %s", opts->out_dir);
        return -1;
    }
    return 0;

fail_jobs:
    for (int k = 0; k < chunk * S_MAX_ITEMS; k++)
        free(jobs[k].pcm);
    free(jobs);
    free(fest);
fail:
    s_writer_close(&w);
fail_nowriter:
    free(utts);
    free(voices[0].v);
    free(voices[1].v);
    return -1;
}

/* ================================================================ self-test */

#define S_CHECK(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "corpus_test: %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
            goto fail;                                                                 \
        }                                                                              \
    } while (0)

int
corpus_test(bool verbose)
{
    if (verbose)
        printf(" * corpus: ");
    int rc = -1;
    char dir[] = "/tmp/shop-corpus-test-XXXXXX", err[256], path[1100];
    bool made_dir = mkdtemp(dir) != NULL;
    corpus_t *c = NULL;
    corpus_mixer_t *m = NULL;
    float *a = xcalloc(16000, sizeof *a), *b = xcalloc(16000, sizeof *b);
    S_CHECK(made_dir);

    /* the texts depend on the seed only, and label what they say */
    s_rng_t r1, r2;
    s_rng_seed(&r1, 7);
    s_rng_seed(&r2, 7);
    for (int i = 0; i < 200; i++) {
        s_utt_t u1, u2;
        char t1[CORPUS_MAX_TEXT], t2[CORPUS_MAX_TEXT];
        s_make_text(&r1, (corpus_kind_t) (i & 1), 0, &u1);
        s_make_text(&r2, (corpus_kind_t) (i & 1), 0, &u2);
        s_join(&u1, u1.n_items, t1, sizeof t1);
        s_join(&u2, u2.n_items, t2, sizeof t2);
        S_CHECK(strcmp(t1, t2) == 0 && u1.n_items > 0);
        int words = 0;
        for (int k = 0; k < u1.n_items; k++) {
            words += u1.items[k].word >= 0;
            if (u1.items[k].word >= 0)
                S_CHECK(strcmp(u1.items[k].spoken, vocab_spoken(u1.items[k].word)) == 0);
            else
                S_CHECK(vocab_find(u1.items[k].spoken) < 0);
        }
        S_CHECK((u1.kind == CORPUS_KIND_COMMAND) == (words > 0));
    }
    /* voices are split */
    S_CHECK(corpus_voice_is_test("espeak-ng", "en-gb-scotland+f4"));
    S_CHECK(!corpus_voice_is_test("espeak-ng", "en-gb-scotland+f3"));
    S_CHECK(corpus_voice_is_test("flite", "rms") && !corpus_voice_is_test("flite", "slt"));
    S_CHECK(corpus_voice_is_test("festival", "ked_diphone"));
    /* validation voices: about a tenth of the training espeak-ng voices */
    int n_val = 0, n_var = 0;
    for (size_t v = 0; v < sizeof s_espeak_test_variants / sizeof s_espeak_test_variants[0]; v++) {
        char name[64];
        snprintf(name, sizeof name, "en-gb+%s", s_espeak_test_variants[v]);
        S_CHECK(corpus_voice_is_test("espeak-ng", name)
                && !corpus_voice_is_validation("espeak-ng", name));
    }
    for (int k = 0; k < 400; k++) {
        char name[32];
        snprintf(name, sizeof name, "en-us+v%d", k);
        n_val += corpus_voice_is_validation("espeak-ng", name);
        n_var++;
    }
    S_CHECK(n_val > n_var / 20 && n_val < n_var / 5);
    S_CHECK(!corpus_voice_is_validation("flite", "slt"));
    /* the extra voices: never a test voice by name, two of them validation */
    int n_extra_val = 0;
    for (size_t i = 0; i < sizeof s_extra_voices / sizeof s_extra_voices[0]; i++) {
        char name[48];
        s_extra_name(&s_extra_voices[i], name, sizeof name);
        const char *eng = s_engine_names[s_extra_voices[i].engine];
        S_CHECK(!corpus_voice_is_test(eng, name) && strcmp(s_extra_voices[i].base, "rms") != 0
                && strcmp(s_extra_voices[i].base, "ked_diphone") != 0);
        n_extra_val += corpus_voice_is_validation(eng, name);
    }
    S_CHECK(n_extra_val == 2 && corpus_voice_is_validation("festival", "pc_diphone"));
    /* a listed voice names itself and the speakers made from it, nothing else */
    S_CHECK(corpus_voice_listed("kal,awb", "awb") && corpus_voice_listed("kal,awb", "awb-f85s10"));
    S_CHECK(!corpus_voice_listed("kal,awb", "kal16") && !corpus_voice_listed("awb", "aw")
            && !corpus_voice_listed(NULL, "awb") && !corpus_voice_listed("", "awb")
            && !corpus_voice_listed(",", "awb"));

    /* store round trip: a tone "command" and a noise "unknown" clip */
    s_writer_t w;
    S_CHECK(s_writer_open(&w, dir, false, err, sizeof err) == 0);
    for (int i = 0; i < 16000; i++)
        a[i] = 0.5f * sinf(2.f * (float) M_PI * 440.f * (float) i / 16000.f);
    corpus_clip_t cl = { .split = CORPUS_TEST, .kind = CORPUS_KIND_COMMAND, .engine = "flite",
                         .voice = "rms", .text = "add two", .n_marks = 2, .onset = 100,
                         .marks = { { VOCAB_ADD, 6000 }, { VOCAB_TWO, 15000 } } };
    S_CHECK(s_writer_add(&w, &cl, a, 16000) == 0);
    corpus_clip_t cu = { .split = CORPUS_TEST, .kind = CORPUS_KIND_UNKNOWN,
                         .engine = "espeak-ng", .voice = "en-us+f4", .text = "apple" };
    S_CHECK(s_writer_add(&w, &cu, a, 8000) == 0);
    S_CHECK(s_writer_close(&w) == 0);
    c = corpus_open(dir, err, sizeof err);
    S_CHECK(c != NULL && corpus_count(c) == 2);
    const corpus_clip_t *g = corpus_clip(c, 0);
    S_CHECK(g->n == 16000 && g->n_marks == 2 && g->marks[1].word == VOCAB_TWO
            && g->marks[1].end == 15000 && strcmp(g->text, "add two") == 0);
    S_CHECK(corpus_clip(c, 1)->offset == 16000 && corpus_clip(c, 2) == NULL);
    S_CHECK(corpus_clip_pcm(c, 0, b) == 0 && fabsf(b[40] - a[40]) < 1e-4f);

    /* SNR from the loudest frames is what was asked for */
    m = corpus_mixer_new(c, CORPUS_TEST, 3);
    S_CHECK(m != NULL);
    for (int t = 0; t < CORPUS_NOISE_COUNT; t++) {
        corpus_mixer_noise(m, (corpus_noise_t) t, b, 16000);
        float peak = 0;
        for (int i = 0; i < 16000; i++)
            peak = fmaxf(peak, fabsf(b[i]));
        S_CHECK(fabsf(peak - 0.5f) < 1e-3f);
        float speech[16000];
        memcpy(speech, a, sizeof speech);
        float gain = corpus_add_at_snr(speech, b, 16000, 6.f);
        for (int i = 0; i < 16000; i++)
            b[i] *= gain;
        float snr = 10.f * log10f(corpus_peak_frame_power(a, 16000)
                                  / corpus_peak_frame_power(b, 16000));
        S_CHECK(fabsf(snr - 6.f) < 0.01f);
    }
    /* reverberation keeps the onset and adds a tail */
    memset(b, 0, 16000 * sizeof *b);
    b[0] = 1.f;
    corpus_mixer_reverb(m, b, 16000);
    float tail = 0;
    for (int i = 1600; i < 16000; i++)
        tail += b[i] * b[i];
    S_CHECK(b[0] == 1.f && tail > 1e-6f);

    /* a continued corpus appends after what the index holds */
    corpus_mixer_destroy(&m);
    corpus_destroy(&c);
    S_CHECK(s_writer_open(&w, dir, true, err, sizeof err) == 0 && w.clips == 2
            && w.samples == 24000);
    S_CHECK(s_writer_add(&w, &cu, a, 4000) == 0 && s_writer_close(&w) == 0);
    c = corpus_open(dir, err, sizeof err);
    S_CHECK(c != NULL && corpus_count(c) == 3 && corpus_clip(c, 2)->offset == 24000);

    /* several directories read as one: indices run on, audio from each */
    corpus_destroy(&c);
    char two[2 * sizeof dir + 2];
    snprintf(two, sizeof two, "%s,%s", dir, dir);
    c = corpus_open(two, err, sizeof err);
    S_CHECK(c != NULL && corpus_count(c) == 6 && corpus_clip(c, 3)->n == 16000
            && corpus_clip_pcm(c, 3, b) == 0 && fabsf(b[40] - a[40]) < 1e-4f);
    corpus_destroy(&c);
    c = corpus_open(",", err, sizeof err);
    S_CHECK(c == NULL);

    /* a damaged index is refused with the line number */
    corpus_destroy(&c);
    snprintf(path, sizeof path, "%s/clips.tsv", dir);
    FILE *f = fopen(path, "a");
    S_CHECK(f != NULL);
    fprintf(f, "test\tflite\trms\tcommand\t0\t99999999\t0\t-\tx\n");
    fclose(f);
    c = corpus_open(dir, err, sizeof err);
    S_CHECK(c == NULL && strstr(err, ":5:") != NULL);
    rc = 0;
    if (verbose)
        printf("OK\n");
fail:
    corpus_mixer_destroy(&m);
    corpus_destroy(&c);
    if (made_dir) {
        snprintf(path, sizeof path, "%s/clips.tsv", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/clips.pcm", dir);
        unlink(path);
        rmdir(dir);
    }
    free(a);
    free(b);
    return rc;
}
