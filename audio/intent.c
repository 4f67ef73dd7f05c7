/* audio/intent.c: grammar compiler and matcher (see intent.h, docs/grammar.md).
 *
 * Each sentence compiles to a small acyclic automaton whose edges always
 * lead from a lower to a higher state number (Thompson's construction
 * without loops: the grammar has no repetition), so one pass over the states
 * in order settles the empty moves, and matching is a Viterbi search over
 * (words consumed, state) that may also skip a heard word at a cost. */
#include "config.h"

#include "audio/intent.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audio/vocab.h"
#include "common/log.h"
#include "common/util.h"

/* bounds that keep a hostile grammar file small and fast */
#define S_MAX_LINE 4096       /* bytes per line */
#define S_MAX_DEPTH 16        /* nesting of ( ) and [ ] */
#define S_MAX_STATES 1024     /* automaton states per sentence */
#define S_MAX_SENTENCES 4096  /* in the whole grammar */
#define S_MAX_INTENTS 256
#define S_MAX_SLOT_LISTS 64
#define S_MAX_SLOT_VALUES 256 /* per list */
#define S_MAX_FILE (1u << 20)
#define S_MAX_WORDS 64        /* heard words one match considers */
#define S_TEXT_SKIP 0.5f      /* factor per word a sentence skips, words without confidences */

typedef enum { S_EPS, S_WORD, S_SLOT } s_edge_kind_t;

typedef struct {
    int from, to;        /* states, from < to */
    s_edge_kind_t kind;
    int arg;             /* vocab id (S_WORD) or slot list index (S_SLOT) */
} s_edge_t;

typedef struct {
    int intent;          /* index into intents */
    int line;            /* where it was written */
    int n_states;        /* state 0 starts, n_states - 1 ends */
    int n_edges;
    s_edge_t *edges;     /* sorted by from state */
} s_sentence_t;

typedef struct {
    int word;                     /* vocab id */
    char value[INTENT_NAME_MAX];  /* the slot value it stands for */
} s_slot_value_t;

typedef struct {
    char name[INTENT_NAME_MAX];
    bool defined;        /* false while only used, not yet listed */
    int first_use;       /* line of the first use, for the error message */
    int n_values;
    s_slot_value_t values[S_MAX_SLOT_VALUES];
} s_slot_list_t;

struct _intent_t {
    intent_config_t cfg;
    int n_intents;
    char (*intents)[INTENT_NAME_MAX];  /* names in file order */
    int n_sentences;
    s_sentence_t *sentences;
    int n_slots;
    s_slot_list_t *slots;
};

void
intent_config_default(intent_config_t *cfg)
{
    cfg->require_wake = true;
    cfg->unmatched_penalty = 0.2f;
    cfg->min_confidence = 0.1f;
    cfg->belief_odds = 1.64f;
    cfg->belief_power = 2.43f;
}

/* ---- parsing ---------------------------------------------------------- */

typedef struct {
    intent_t *g;
    int line;             /* current line number, from 1 */
    const char *p;        /* cursor in the current line */
    const char *end;      /* end of the current line */
    char *err;
    size_t errlen;
    bool failed;
    /* the sentence being built */
    s_edge_t *edges;
    int n_edges, cap_edges, n_states, n_slot_refs, depth;
} s_parser_t;

static void s_error(s_parser_t *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_error(s_parser_t *ps, const char *fmt, ...)
{
    if (ps->failed)
        return; /* keep the first error */
    ps->failed = true;
    if (!ps->err || !ps->errlen)
        return;
    int k = snprintf(ps->err, ps->errlen, "grammar line %d: ", ps->line);
    if (k < 0 || (size_t) k >= ps->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + k, ps->errlen - (size_t) k, fmt, ap);
    va_end(ap);
}

static bool
s_is_special(char c)
{
    return c == '(' || c == ')' || c == '[' || c == ']' || c == '|' || c == '{' || c == '}'
           || c == '#' || c == ';' || c == '=' || c == ':';
}

static void
s_skip_space(s_parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
        ps->p++;
    if (ps->p < ps->end && (*ps->p == '#' || *ps->p == ';'))
        ps->p = ps->end; /* comment to the end of the line */
}

/* Reads a bare word at the cursor into buf; returns its length (0 if none,
 * or when it does not fit, after an error). */
static size_t
s_read_word(s_parser_t *ps, char *buf, size_t buflen)
{
    const char *start = ps->p;
    while (ps->p < ps->end && !s_is_special(*ps->p) && !isspace((unsigned char) *ps->p))
        ps->p++;
    size_t len = (size_t) (ps->p - start);
    if (len >= buflen) {
        s_error(ps, "'%.*s...' is too long (at most %zu characters)", 20, start, buflen - 1);
        return 0;
    }
    memcpy(buf, start, len);
    buf[len] = 0;
    return len;
}

static int
s_new_state(s_parser_t *ps)
{
    if (ps->n_states >= S_MAX_STATES) {
        s_error(ps, "the sentence is too complex (more than %d states)", S_MAX_STATES);
        return -1;
    }
    return ps->n_states++;
}

static void
s_add_edge(s_parser_t *ps, int from, int to, s_edge_kind_t kind, int arg)
{
    if (ps->n_edges == ps->cap_edges) {
        ps->cap_edges = ps->cap_edges ? ps->cap_edges * 2 : 16;
        ps->edges = xrealloc(ps->edges, (size_t) ps->cap_edges * sizeof(s_edge_t));
    }
    ps->edges[ps->n_edges++] = (s_edge_t) { from, to, kind, arg };
}

/* Returns the index of slot list name, adding an undefined one if new; -1
 * after an error. */
static int
s_slot_index(s_parser_t *ps, const char *name)
{
    intent_t *g = ps->g;
    for (int i = 0; i < g->n_slots; i++)
        if (strcmp(g->slots[i].name, name) == 0)
            return i;
    if (g->n_slots >= S_MAX_SLOT_LISTS) {
        s_error(ps, "too many slot lists (at most %d)", S_MAX_SLOT_LISTS);
        return -1;
    }
    g->slots = xrealloc(g->slots, (size_t) (g->n_slots + 1) * sizeof *g->slots);
    s_slot_list_t *sl = &g->slots[g->n_slots];
    memset(sl, 0, sizeof *sl);
    shop_strlcpy(sl->name, name, sizeof sl->name);
    sl->first_use = ps->line;
    return g->n_slots++;
}

static bool
s_valid_name(const char *s)
{
    if (!*s || !(islower((unsigned char) *s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char) *s) || isdigit((unsigned char) *s) || *s == '_'))
            return false;
    return true;
}

/* Looks up a word a sentence or slot list uses; -1 after an error. */
static int
s_word_id(s_parser_t *ps, const char *word)
{
    int id = vocab_find(word);
    if (id < 0) {
        s_error(ps, "'%s' is not a word the recogniser knows (see audio/vocab.h)", word);
        return -1;
    }
    if (vocab_kind(id) == VOCAB_KIND_FILLER) {
        s_error(ps, "'%s' is a filler class, not a word", word);
        return -1;
    }
    if (vocab_kind(id) == VOCAB_KIND_WAKE) {
        s_error(ps, "the wake word is handled by the require_wake setting, not by sentences");
        return -1;
    }
    return id;
}

static int s_parse_expr(s_parser_t *ps, int start);

/* item := word | {slot} | ( expr ) | [ expr ]; returns its end state. */
static int
s_parse_item(s_parser_t *ps, int start)
{
    char c = *ps->p;
    if (c == '(' || c == '[') {
        if (++ps->depth > S_MAX_DEPTH) {
            s_error(ps, "brackets nested more than %d deep", S_MAX_DEPTH);
            return -1;
        }
        ps->p++;
        int end = s_parse_expr(ps, start);
        if (end < 0)
            return -1;
        s_skip_space(ps);
        char close = c == '(' ? ')' : ']';
        if (ps->p >= ps->end || *ps->p != close) {
            s_error(ps, "'%c' is not closed by '%c'", c, close);
            return -1;
        }
        ps->p++;
        ps->depth--;
        if (c == '[')
            s_add_edge(ps, start, end, S_EPS, 0);
        return end;
    }
    if (c == '{') {
        ps->p++;
        char name[INTENT_NAME_MAX];
        if (s_read_word(ps, name, sizeof name) == 0 || ps->failed) {
            s_error(ps, "'{' must be followed by a slot name");
            return -1;
        }
        if (ps->p >= ps->end || *ps->p != '}') {
            s_error(ps, "slot {%s is not closed by '}'", name);
            return -1;
        }
        ps->p++;
        if (!s_valid_name(name)) {
            s_error(ps, "'%s' is not a valid slot name (a-z, 0-9, _)", name);
            return -1;
        }
        if (++ps->n_slot_refs > INTENT_MAX_SLOTS) {
            s_error(ps, "more than %d slots in one sentence", INTENT_MAX_SLOTS);
            return -1;
        }
        int slot = s_slot_index(ps, name);
        int end = slot < 0 ? -1 : s_new_state(ps);
        if (end < 0)
            return -1;
        s_add_edge(ps, start, end, S_SLOT, slot);
        return end;
    }
    if (s_is_special(c)) {
        s_error(ps, "unexpected '%c'", c);
        return -1;
    }
    char word[INTENT_NAME_MAX];
    if (s_read_word(ps, word, sizeof word) == 0)
        return -1;
    int id = s_word_id(ps, word);
    int end = id < 0 ? -1 : s_new_state(ps);
    if (end < 0)
        return -1;
    s_add_edge(ps, start, end, S_WORD, id);
    return end;
}

/* seq := item+; stops before '|', ')', ']' or the end of the line. */
static int
s_parse_seq(s_parser_t *ps, int start)
{
    int at = start;
    bool any = false;
    for (;;) {
        s_skip_space(ps);
        if (ps->p >= ps->end || *ps->p == '|' || *ps->p == ')' || *ps->p == ']')
            break;
        at = s_parse_item(ps, at);
        if (at < 0)
            return -1;
        any = true;
    }
    if (!any) {
        s_error(ps, "empty alternative (nothing between brackets or bars)");
        return -1;
    }
    return at;
}

/* expr := seq ('|' seq)*; returns the state where every alternative ends. */
static int
s_parse_expr(s_parser_t *ps, int start)
{
    int ends[64], n = 0;
    for (;;) {
        int e = s_parse_seq(ps, start);
        if (e < 0)
            return -1;
        if (n == (int) SHOP_ARRAY_LEN(ends)) {
            s_error(ps, "more than %zu alternatives in one group", SHOP_ARRAY_LEN(ends));
            return -1;
        }
        ends[n++] = e;
        s_skip_space(ps);
        if (ps->p < ps->end && *ps->p == '|') {
            ps->p++;
            continue;
        }
        break;
    }
    if (n == 1)
        return ends[0];
    int join = s_new_state(ps);
    if (join < 0)
        return -1;
    for (int i = 0; i < n; i++)
        s_add_edge(ps, ends[i], join, S_EPS, 0);
    return join;
}

static int
s_edge_cmp(const void *a, const void *b)
{
    const s_edge_t *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->to < y->to ? -1 : x->to > y->to;
}

/* Compiles the sentence at the cursor into intent number `intent`. */
static void
s_parse_sentence(s_parser_t *ps, int intent)
{
    intent_t *g = ps->g;
    if (g->n_sentences >= S_MAX_SENTENCES) {
        s_error(ps, "too many sentences (at most %d)", S_MAX_SENTENCES);
        return;
    }
    ps->n_edges = 0;
    ps->n_states = 1;
    ps->n_slot_refs = 0;
    ps->depth = 0;
    int end = s_parse_expr(ps, 0);
    if (end < 0)
        return;
    s_skip_space(ps);
    if (ps->p < ps->end) {
        s_error(ps, "unexpected '%c' (unbalanced brackets?)", *ps->p);
        return;
    }
    /* the end state must be the last one, so matching can read it there */
    if (end != ps->n_states - 1) {
        int last = s_new_state(ps);
        if (last < 0)
            return;
        s_add_edge(ps, end, last, S_EPS, 0);
    }
    /* refuse sentences that match without a single word: they would fire
     * on anything */
    bool *empty = xcalloc((size_t) ps->n_states, sizeof(bool));
    qsort(ps->edges, (size_t) ps->n_edges, sizeof(s_edge_t), s_edge_cmp);
    empty[0] = true;
    for (int i = 0; i < ps->n_edges; i++)
        if (ps->edges[i].kind == S_EPS && empty[ps->edges[i].from])
            empty[ps->edges[i].to] = true;
    bool matches_nothing = empty[ps->n_states - 1];
    free(empty);
    if (matches_nothing) {
        s_error(ps, "the sentence can match no words at all (everything is optional)");
        return;
    }
    g->sentences = xrealloc(g->sentences, (size_t) (g->n_sentences + 1) * sizeof *g->sentences);
    s_sentence_t *s = &g->sentences[g->n_sentences++];
    s->intent = intent;
    s->line = ps->line;
    s->n_states = ps->n_states;
    s->n_edges = ps->n_edges;
    s->edges = xmallocarray((size_t) ps->n_edges, sizeof(s_edge_t));
    memcpy(s->edges, ps->edges, (size_t) ps->n_edges * sizeof(s_edge_t));
}

/* slot list line: name = word[:value] | word[:value] ... */
static void
s_parse_slot_list(s_parser_t *ps)
{
    char name[INTENT_NAME_MAX];
    s_skip_space(ps);
    if (s_read_word(ps, name, sizeof name) == 0 || !s_valid_name(name)) {
        s_error(ps, "a slot list starts with its name (a-z, 0-9, _), then '='");
        return;
    }
    s_skip_space(ps);
    if (ps->p >= ps->end || *ps->p != '=') {
        s_error(ps, "expected '=' after slot name '%s'", name);
        return;
    }
    ps->p++;
    int idx = s_slot_index(ps, name);
    if (idx < 0)
        return;
    s_slot_list_t *sl = &ps->g->slots[idx];
    if (sl->defined) {
        s_error(ps, "slot list '%s' is defined twice", name);
        return;
    }
    sl->defined = true;
    for (;;) {
        char word[INTENT_NAME_MAX], value[INTENT_NAME_MAX];
        s_skip_space(ps);
        if (s_read_word(ps, word, sizeof word) == 0) {
            s_error(ps, "slot list '%s' has an empty entry", name);
            return;
        }
        int id = s_word_id(ps, word);
        if (id < 0)
            return;
        shop_strlcpy(value, word, sizeof value);
        if (ps->p < ps->end && *ps->p == ':') {
            ps->p++;
            if (s_read_word(ps, value, sizeof value) == 0) {
                s_error(ps, "'%s:' needs a value after the colon", word);
                return;
            }
        }
        for (int i = 0; i < sl->n_values; i++)
            if (sl->values[i].word == id) {
                s_error(ps, "'%s' is listed twice in slot list '%s'", word, name);
                return;
            }
        if (sl->n_values >= S_MAX_SLOT_VALUES) {
            s_error(ps, "slot list '%s' has more than %d values", name, S_MAX_SLOT_VALUES);
            return;
        }
        sl->values[sl->n_values].word = id;
        shop_strlcpy(sl->values[sl->n_values].value, value, INTENT_NAME_MAX);
        sl->n_values++;
        s_skip_space(ps);
        if (ps->p >= ps->end)
            break;
        if (*ps->p != '|') {
            s_error(ps, "expected '|' between the values of slot list '%s'", name);
            return;
        }
        ps->p++;
    }
}

/* section header "[name]"; returns the intent index, -2 for [slots], -1
 * after an error */
static int
s_parse_section(s_parser_t *ps)
{
    intent_t *g = ps->g;
    ps->p++;
    s_skip_space(ps);
    char name[INTENT_NAME_MAX];
    if (s_read_word(ps, name, sizeof name) == 0 || ps->failed) {
        s_error(ps, "a section header is [intent_name] or [slots]");
        return -1;
    }
    s_skip_space(ps);
    if (ps->p >= ps->end || *ps->p != ']') {
        s_error(ps, "section header [%s is not closed by ']'", name);
        return -1;
    }
    ps->p++;
    s_skip_space(ps);
    if (ps->p < ps->end) {
        s_error(ps, "text after the section header [%s]", name);
        return -1;
    }
    if (strcmp(name, "slots") == 0)
        return -2;
    if (!s_valid_name(name)) {
        s_error(ps, "'%s' is not a valid intent name (a-z, 0-9, _)", name);
        return -1;
    }
    for (int i = 0; i < g->n_intents; i++)
        if (strcmp(g->intents[i], name) == 0) {
            s_error(ps, "intent [%s] appears twice", name);
            return -1;
        }
    if (g->n_intents >= S_MAX_INTENTS) {
        s_error(ps, "too many intents (at most %d)", S_MAX_INTENTS);
        return -1;
    }
    g->intents = xrealloc(g->intents, (size_t) (g->n_intents + 1) * sizeof *g->intents);
    shop_strlcpy(g->intents[g->n_intents], name, INTENT_NAME_MAX);
    return g->n_intents++;
}

/* True when the line from p to eol holds only "[name]" (and maybe a
 * comment): a section header. "[optional] words" is a sentence. */
static bool
s_is_header(const char *p, const char *eol)
{
    const char *q = p + 1;
    while (q < eol && (*q == ' ' || *q == '\t'))
        q++;
    const char *name = q;
    while (q < eol && !s_is_special(*q) && !isspace((unsigned char) *q))
        q++;
    if (q == name)
        return false;
    while (q < eol && (*q == ' ' || *q == '\t'))
        q++;
    if (q >= eol || *q != ']')
        return false;
    for (q++; q < eol; q++) {
        if (*q == '#' || *q == ';')
            return true;
        if (!isspace((unsigned char) *q))
            return false;
    }
    return true;
}

static int
s_check_config(const intent_config_t *cfg, char *err, size_t errlen)
{
    if (!(cfg->unmatched_penalty > 0.0f && cfg->unmatched_penalty <= 1.0f)
        || !(cfg->min_confidence >= 0.0f && cfg->min_confidence <= 1.0f)
        || !(cfg->belief_odds > 0.0f && cfg->belief_odds <= INTENT_BELIEF_ODDS_MAX)
        || !(cfg->belief_power > 0.0f && cfg->belief_power <= INTENT_BELIEF_POWER_MAX)) {
        if (err && errlen)
            snprintf(err, errlen, "intent: unmatched_penalty must be in (0, 1], "
                                  "min_confidence in [0, 1], belief_odds in (0, 1e6] and "
                                  "belief_power in (0, 100]");
        return -1;
    }
    return 0;
}

intent_t *
intent_new_from_text(const char *text, size_t len, const intent_config_t *cfg, char *err,
                     size_t errlen)
{
    intent_config_t def;
    if (!cfg) {
        intent_config_default(&def);
        cfg = &def;
    }
    if (s_check_config(cfg, err, errlen) < 0)
        return NULL;
    intent_t *g = xcalloc(1, sizeof *g);
    g->cfg = *cfg;
    s_parser_t ps = { .g = g, .err = err, .errlen = errlen };
    int section = -1;           /* current intent, -2 in [slots], -1 before any */
    int section_line = 0, section_sentences = 0;
    const char *at = text, *stop = text + len;
    while (at < stop && !ps.failed) {
        const char *nl = memchr(at, '\n', (size_t) (stop - at));
        const char *eol = nl ? nl : stop;
        ps.line++;
        ps.p = at;
        ps.end = eol;
        at = nl ? nl + 1 : stop;
        if (eol - ps.p > S_MAX_LINE) {
            s_error(&ps, "line longer than %d bytes", S_MAX_LINE);
            break;
        }
        if (memchr(ps.p, 0, (size_t) (eol - ps.p))) {
            s_error(&ps, "NUL byte in the grammar");
            break;
        }
        s_skip_space(&ps);
        if (ps.p >= ps.end)
            continue;
        if (*ps.p == '[' && s_is_header(ps.p, eol)) {
            if (section >= 0 && section_sentences == 0) {
                ps.line = section_line;
                s_error(&ps, "intent [%s] has no sentences", g->intents[section]);
                break;
            }
            section = s_parse_section(&ps);
            section_line = ps.line;
            section_sentences = 0;
            continue;
        }
        if (section == -1) {
            s_error(&ps, "a sentence before any [intent] section");
            break;
        }
        if (section == -2)
            s_parse_slot_list(&ps);
        else {
            s_parse_sentence(&ps, section);
            section_sentences++;
        }
    }
    if (!ps.failed && section >= 0 && section_sentences == 0) {
        ps.line = section_line;
        s_error(&ps, "intent [%s] has no sentences", g->intents[section]);
    }
    if (!ps.failed && g->n_intents == 0)
        s_error(&ps, "the grammar has no intents");
    for (int i = 0; !ps.failed && i < g->n_slots; i++)
        if (!g->slots[i].defined) {
            ps.line = g->slots[i].first_use;
            s_error(&ps, "slot {%s} is used but no [slots] list defines it", g->slots[i].name);
        } else if (g->slots[i].n_values == 0) {
            s_error(&ps, "slot list '%s' is empty", g->slots[i].name);
        }
    free(ps.edges);
    if (ps.failed) {
        intent_destroy(&g);
        return NULL;
    }
    return g;
}

intent_t *
intent_new_from_file(const char *path, const intent_config_t *cfg, char *err, size_t errlen)
{
    char buf[4096];
    if (!path) {
        path = shop_data_path("data/grammar/shop.ini", buf, sizeof buf);
        if (!path) {
            if (err && errlen)
                snprintf(err, errlen, "intent: the shipped grammar data/grammar/shop.ini "
                                      "is missing");
            return NULL;
        }
    }
    size_t len = 0;
    char rerr[256];
    uint8_t *text = shop_read_file(path, S_MAX_FILE, &len, rerr, sizeof rerr);
    if (!text) {
        if (err && errlen)
            snprintf(err, errlen, "%s", rerr);
        return NULL;
    }
    char perr[256];
    intent_t *g = intent_new_from_text((const char *) text, len, cfg, perr, sizeof perr);
    free(text);
    if (!g && err && errlen)
        snprintf(err, errlen, "%s: %s", path, perr);
    return g;
}

void
intent_destroy(intent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    intent_t *self = *self_p;
    for (int i = 0; i < self->n_sentences; i++)
        free(self->sentences[i].edges);
    free(self->sentences);
    free(self->intents);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

int
intent_count(const intent_t *self)
{
    return self->n_intents;
}

const char *
intent_name(const intent_t *self, int i)
{
    return i >= 0 && i < self->n_intents ? self->intents[i] : NULL;
}

/* ---- matching --------------------------------------------------------- */

static int
s_fail(intent_result_t *r, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
s_fail(intent_result_t *r, char *err, size_t errlen, const char *fmt, ...)
{
    r->intent[0] = 0;
    r->n_slots = 0;
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* the value slot list sl gives word, or NULL when the list lacks it */
static const char *
s_slot_value(const s_slot_list_t *sl, int word)
{
    for (int i = 0; i < sl->n_values; i++)
        if (sl->values[i].word == word)
            return sl->values[i].value;
    return NULL;
}

/* What one heard word costs a sentence: log scores for the search when the
 * sentence uses it or skips it, and the factors it puts into the result's
 * confidence either way. */
typedef struct {
    double use, skip;
    float conf_use, conf_skip;
} s_word_cost_t;

/* The belief that heard word w at confidence c was said (see intent.h):
 * its odds are belief_odds * (c / (1 - c)) ^ belief_power. */
static double
s_belief(const intent_config_t *cfg, double c)
{
    if (c >= 1.0)
        return 1.0;
    double x = cfg->belief_odds * pow(c, cfg->belief_power);
    return x / (x + pow(1.0 - c, cfg->belief_power));
}

/* The costs of a heard word at confidence c: a sentence that uses it
 * multiplies by its belief b, one that skips it by 1 - b, but by no less
 * than unmatched_penalty. */
static s_word_cost_t
s_word_cost(const intent_config_t *cfg, float c)
{
    double b = s_belief(cfg, c), k = fmax(1.0 - b, cfg->unmatched_penalty);
    return (s_word_cost_t) { log(b), log(k), (float) b, (float) k };
}

float
intent_belief(const intent_t *self, float c)
{
    c = c >= 1e-6f ? (c <= 1.0f ? c : 1.0f) : 1e-6f; /* NaN too */
    return (float) s_belief(&self->cfg, c);
}

/* Viterbi cell: best log score and how it was reached */
typedef struct {
    double score;
    int prev;   /* previous state */
    int how;    /* edge index, -1 skipped a word, -2 the start */
} s_cell_t;

/* Best path of sentence s over words w[0..m) into *r (intent name left to
 * the caller); returns its log score, -INFINITY when it cannot match. */
static double
s_viterbi(const intent_t *g, const s_sentence_t *s, const int *w, const s_word_cost_t *wc, int m,
          s_cell_t *cells, intent_result_t *r)
{
    const int S = s->n_states;
    for (int i = 0; i < (m + 1) * S; i++)
        cells[i] = (s_cell_t) { -INFINITY, -1, -1 };
    cells[0] = (s_cell_t) { 0.0, 0, -2 };
    for (int i = 0; i <= m; i++) {
        s_cell_t *row = cells + (size_t) i * S;
        for (int k = 0; k < s->n_edges; k++) {
            const s_edge_t *e = &s->edges[k];
            if (e->kind == S_EPS && row[e->from].score > row[e->to].score)
                row[e->to] = (s_cell_t) { row[e->from].score, e->from, k };
        }
        if (i == m)
            break;
        s_cell_t *next = row + S;
        for (int st = 0; st < S; st++)
            if (row[st].score + wc[i].skip > next[st].score)
                next[st] = (s_cell_t) { row[st].score + wc[i].skip, st, -1 };
        for (int k = 0; k < s->n_edges; k++) {
            const s_edge_t *e = &s->edges[k];
            if (e->kind == S_EPS || row[e->from].score == -INFINITY)
                continue;
            bool fits = e->kind == S_WORD ? e->arg == w[i]
                                          : s_slot_value(&g->slots[e->arg], w[i]) != NULL;
            double sc = row[e->from].score + wc[i].use;
            /* on a tie, using the word beats skipping it */
            if (fits && (sc > next[e->to].score || (sc == next[e->to].score && next[e->to].how == -1)))
                next[e->to] = (s_cell_t) { sc, e->from, k };
        }
    }
    double best = cells[(size_t) m * S + S - 1].score;
    if (best == -INFINITY)
        return best;
    /* walk back, collecting slots in reverse */
    memset(r, 0, sizeof *r);
    r->confidence = 1.0f;
    intent_slot_t rev[INTENT_MAX_SLOTS];
    int n_rev = 0, i = m, st = S - 1;
    while (!(i == 0 && st == 0)) {
        const s_cell_t *c = &cells[(size_t) i * S + st];
        if (c->how == -1) {
            r->skipped++;
            r->confidence *= wc[i - 1].conf_skip;
            i--;
            continue;
        }
        const s_edge_t *e = &s->edges[c->how];
        if (e->kind != S_EPS) {
            r->matched++;
            r->confidence *= wc[i - 1].conf_use;
            if (e->kind == S_SLOT && n_rev < INTENT_MAX_SLOTS) {
                const s_slot_list_t *sl = &g->slots[e->arg];
                shop_strlcpy(rev[n_rev].name, sl->name, INTENT_NAME_MAX);
                shop_strlcpy(rev[n_rev].value, s_slot_value(sl, w[i - 1]), INTENT_NAME_MAX);
                n_rev++;
            }
            i--;
        }
        st = c->prev;
    }
    for (int k = 0; k < n_rev; k++)
        r->slots[k] = rev[n_rev - 1 - k];
    r->n_slots = n_rev;
    r->line = s->line;
    return best;
}

/* intent_match, and (woken, the wake word's belief given) intent_match_woken. */
static int
s_match(const intent_t *self, bool woken, float woken_belief, const int *words, const float *conf,
        size_t n, intent_result_t *result, char *err, size_t errlen)
{
    memset(result, 0, sizeof *result);
    int w[S_MAX_WORDS];
    s_word_cost_t wc[S_MAX_WORDS];
    int m = 0;
    bool woke = woken;
    float wake_conf = woken ? woken_belief : 1.0f;
    for (size_t i = 0; i < n; i++) {
        int id = words[i];
        if (!vocab_is_keyword(id))
            continue;
        float c = conf ? conf[i] : 1.0f;
        c = c >= 1e-6f ? (c <= 1.0f ? c : 1.0f) : 1e-6f; /* NaN too */
        if (vocab_kind(id) == VOCAB_KIND_WAKE) {
            if (self->cfg.require_wake && !woken) {
                /* a command follows the last wake word */
                woke = true;
                wake_conf = (float) s_belief(&self->cfg, c);
                m = 0;
            }
            continue;
        }
        if (m < S_MAX_WORDS) {
            w[m] = id;
            /* typed words are certain; skipping one costs a fixed half */
            wc[m] = conf ? s_word_cost(&self->cfg, c)
                         : (s_word_cost_t) { 0.0, log(S_TEXT_SKIP), 1.0f, S_TEXT_SKIP };
            m++;
        }
    }
    if (self->cfg.require_wake && !woke)
        return s_fail(result, err, errlen, "no wake word heard");
    if (m == 0)
        return s_fail(result, err, errlen, self->cfg.require_wake || woken
                                               ? "nothing heard after the wake word"
                                               : "no words heard");
    int max_states = 1;
    for (int k = 0; k < self->n_sentences; k++)
        max_states = SHOP_MAX(max_states, self->sentences[k].n_states);
    s_cell_t *cells = xmallocarray((size_t) (m + 1) * (size_t) max_states, sizeof(s_cell_t));
    double best = -INFINITY;
    intent_result_t r;
    for (int k = 0; k < self->n_sentences; k++) {
        const s_sentence_t *s = &self->sentences[k];
        double sc = s_viterbi(self, s, w, wc, m, cells, &r);
        if (sc == -INFINITY)
            continue;
        if (sc > best || (sc == best && r.matched > result->matched)) {
            best = sc;
            *result = r;
            shop_strlcpy(result->intent, self->intents[s->intent], INTENT_NAME_MAX);
        }
    }
    free(cells);
    if (best == -INFINITY)
        return s_fail(result, err, errlen, "no sentence of the grammar matches the %d words heard",
                      m);
    result->confidence *= self->cfg.require_wake || woken ? wake_conf : 1.0f;
    if (result->confidence < self->cfg.min_confidence) {
        char what[160];
        intent_result_format(result, what, sizeof what);
        float c = result->confidence;
        return s_fail(result, err, errlen, "best guess %s has confidence %.3f, below %.3f", what,
                      (double) c, (double) self->cfg.min_confidence);
    }
    return 0;
}

int
intent_match(const intent_t *self, const int *words, const float *conf, size_t n,
             intent_result_t *result, char *err, size_t errlen)
{
    return s_match(self, false, 1.0f, words, conf, n, result, err, errlen);
}

int
intent_match_woken(const intent_t *self, float wake_conf, const int *words, const float *conf,
                   size_t n, intent_result_t *result, char *err, size_t errlen)
{
    float c = wake_conf >= 1e-6f ? (wake_conf <= 1.0f ? wake_conf : 1.0f) : 1e-6f; /* NaN too */
    return s_match(self, true, (float) s_belief(&self->cfg, c), words, conf, n, result, err,
                   errlen);
}

/* the words that put an upper bound on the price when a number follows */
static const char *const s_price_words[] = { "under", "below", "beneath", "less than",
                                             "at most", "up to", "max", "maximum",
                                             "no more than", "not more than" };

/* Finds a price bound ("under 50", "below $19.99", "up to 30 euros") in
 * text. Returns the bound (> 0) and blanks the phrase in out (a copy of
 * text, outlen bytes), or 0 when text has none (out is the plain copy). */
static double
s_price_bound(const char *text, char *out, size_t outlen)
{
    shop_strlcpy(out, text, outlen);
    for (char *p = out; *p; p++) {
        if (p > out && isalnum((unsigned char) p[-1]))
            continue; /* only at the start of a word */
        for (size_t w = 0; w < SHOP_ARRAY_LEN(s_price_words); w++) {
            size_t wl = strlen(s_price_words[w]);
            if (strncasecmp(p, s_price_words[w], wl) != 0 || isalnum((unsigned char) p[wl]))
                continue;
            char *q = p + wl;
            for (bool more = true; more;) {
                /* blanks and the dollar, euro and pound signs (UTF-8) */
                more = false;
                if (*q == ' ' || *q == '\t' || *q == '$') {
                    q++;
                    more = true;
                } else if (!strncmp(q, "\xe2\x82\xac", 3) || !strncmp(q, "\xc2\xa3", 2)) {
                    q += *q == '\xe2' ? 3 : 2;
                    more = true;
                }
            }
            if (!isdigit((unsigned char) *q))
                continue;
            char *end;
            double v = strtod(q, &end);
            if (!(v > 0 && v <= 1e9))
                continue;
            /* a currency word after the number belongs to the phrase */
            char *tail = end;
            while (*tail == ' ')
                tail++;
            static const char *const units[] = { "euros", "euro", "dollars", "dollar",
                                                  "pounds", "pound", "eur", "usd", "gbp" };
            for (size_t u = 0; u < SHOP_ARRAY_LEN(units); u++) {
                size_t ul = strlen(units[u]);
                if (strncasecmp(tail, units[u], ul) == 0 && !isalnum((unsigned char) tail[ul])) {
                    end = tail + ul;
                    break;
                }
            }
            memset(p, ' ', (size_t) (end - p));
            return v;
        }
    }
    return 0;
}

int
intent_match_text(const intent_t *self, const char *text, intent_result_t *result, char *err,
                  size_t errlen)
{
    char tok[S_MAX_WORDS][INTENT_NAME_MAX];
    int nt = 0;
    char plain[1024];
    double max_price = s_price_bound(text ? text : "", plain, sizeof plain);
    text = plain;
    for (const char *p = text; p && *p && nt < S_MAX_WORDS;) {
        while (*p && !(isalnum((unsigned char) *p) || *p == '-' || *p == '_'))
            p++;
        const char *start = p;
        while (*p && (isalnum((unsigned char) *p) || *p == '-' || *p == '_'))
            p++;
        size_t len = (size_t) (p - start);
        if (len == 0)
            break;
        if (len >= INTENT_NAME_MAX)
            len = INTENT_NAME_MAX - 1; /* such a word is unknown either way */
        memcpy(tok[nt], start, len);
        tok[nt][len] = 0;
        nt++;
    }
    int words[S_MAX_WORDS], n = 0;
    for (int i = 0; i < nt; i++) {
        if (i + 1 < nt) {
            char pair[2 * INTENT_NAME_MAX + 1];
            snprintf(pair, sizeof pair, "%s %s", tok[i], tok[i + 1]);
            int id = vocab_find(pair);
            if (vocab_is_keyword(id)) {
                words[n++] = id;
                i++;
                continue;
            }
        }
        int id = vocab_find(tok[i]);
        if (vocab_is_keyword(id))
            words[n++] = id;
    }
    int rc = intent_match(self, words, NULL, (size_t) n, result, err, errlen);
    if (rc == 0 && max_price > 0 && result->n_slots < INTENT_MAX_SLOTS) {
        intent_slot_t *sl = &result->slots[result->n_slots++];
        shop_strlcpy(sl->name, "max_price", sizeof sl->name);
        snprintf(sl->value, sizeof sl->value, "%.2f", max_price);
    }
    return rc;
}

char *
intent_result_format(const intent_result_t *result, char *buf, size_t len)
{
    if (!len)
        return buf;
    size_t at = (size_t) snprintf(buf, len, "%s", result->intent);
    for (int i = 0; i < result->n_slots && at < len; i++)
        at += (size_t) snprintf(buf + at, len - at, "%s%s=%s", i ? "," : "{",
                                result->slots[i].name, result->slots[i].value);
    if (result->n_slots > 0 && at < len)
        snprintf(buf + at, len - at, "}");
    return buf;
}

const char *
intent_result_slot(const intent_result_t *result, const char *name)
{
    for (int i = 0; i < result->n_slots; i++)
        if (strcmp(result->slots[i].name, name) == 0)
            return result->slots[i].value;
    return NULL;
}
