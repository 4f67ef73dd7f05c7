/* audio/listener.c: see listener.h */
#include "config.h"

#include "audio/listener.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/vocab.h"
#include "common/log.h"
#include "common/util.h"

#define S_RATE 16000
/* the decision grid: 10 ms of samples */
#define S_STEP 160
#define S_MAX_HITS 16

typedef enum {
    S_IDLE = 0,   /* waiting for the wake word (or any word without require_wake) */
    S_AWAKE,      /* wake word heard, no command word yet */
    S_COMMAND,    /* collecting command words */
} s_state_t;

struct _listener_t {
    listener_config_t cfg;
    kws_t *kws;                  /* owned */
    intent_t *grammar;           /* owned; no wake-word rule of its own */
    uint64_t samples;            /* pushed since creation */
    uint64_t kws_origin;         /* samples at the spotter's last reset */
    int step_fill;               /* samples pushed into the current 10 ms step */
    s_state_t state;
    double began;                /* stream time the command began */
    double last;                 /* stream time the last word was reported */
    float wake_conf;
    kws_hit_t step_hits[S_MAX_HITS]; /* reported within the current step */
    int n_step_hits;
    int n;                       /* command words pending */
    kws_hit_t words[LISTENER_MAX_WORDS];
    listener_stats_t stats;
    const char *wake_from;       /* where cfg.wake_min, resolved, comes from: "config",
                                  * "model" or "none" */
    char err[256];
};

void
listener_config_default(listener_config_t *cfg)
{
    cfg->wake_word = VOCAB_WAKE;
    cfg->require_wake = true;
    cfg->gap_s = 1.0;
    cfg->wake_timeout_s = 3.0;
    cfg->max_command_s = 8.0;
    cfg->wake_min = LISTENER_WAKE_MIN_MODEL;
}

int
listener_config_check(const listener_config_t *cfg, char *err, size_t errlen)
{
    if (!vocab_is_keyword(cfg->wake_word)) {
        snprintf(err, errlen, "the wake word must be one of the spotter's keywords");
        return -1;
    }
    if (!(cfg->gap_s >= 0.1 && cfg->gap_s <= 10)) {
        snprintf(err, errlen, "gap must be 0.1 to 10 seconds");
        return -1;
    }
    if (!(cfg->wake_timeout_s >= 0.1 && cfg->wake_timeout_s <= 60)) {
        snprintf(err, errlen, "wake_timeout must be 0.1 to 60 seconds");
        return -1;
    }
    if (!(cfg->max_command_s >= cfg->gap_s && cfg->max_command_s <= 60)) {
        snprintf(err, errlen, "max_command must be at least gap and at most 60 seconds");
        return -1;
    }
    if (!(cfg->wake_min <= 1.0)) {   /* negative: the model's */
        snprintf(err, errlen, "wake_min must be 0 to 1");
        return -1;
    }
    return 0;
}

listener_t *
listener_new(kws_t **kws_p, const char *grammar_path, const listener_config_t *cfg, char *err,
             size_t errlen)
{
    kws_t *kws = *kws_p;
    *kws_p = NULL;
    listener_config_t def;
    if (!cfg) {
        listener_config_default(&def);
        cfg = &def;
    }
    if (!kws) {
        snprintf(err, errlen, "no keyword spotter");
        return NULL;
    }
    if (listener_config_check(cfg, err, errlen) != 0) {
        kws_destroy(&kws);
        return NULL;
    }
    intent_config_t ic;
    intent_config_default(&ic);
    ic.require_wake = false;
    kws_belief(kws, &ic.belief_odds, &ic.belief_power);   /* the model's, when it has them */
    intent_t *g = intent_new_from_file(grammar_path, &ic, err, errlen);
    if (!g) {
        kws_destroy(&kws);
        return NULL;
    }
    listener_t *self = xcalloc(1, sizeof *self);
    self->cfg = *cfg;
    self->wake_from = "config";
    if (cfg->wake_min < 0) {   /* the model's, or its threshold alone */
        bool own = kws_wake_min(kws, &self->cfg.wake_min);
        self->wake_from = own ? "model" : "none";
        if (!own)
            self->cfg.wake_min = 0;
    }
    self->kws = kws;
    self->grammar = g;
    return self;
}

void
listener_destroy(listener_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    listener_t *self = *self_p;
    kws_destroy(&self->kws);
    intent_destroy(&self->grammar);
    free(self);
    *self_p = NULL;
}

/* A word the spotter reported at stream time now. */
static void
s_heard(listener_t *self, const kws_hit_t *hit, double now)
{
    self->stats.words++;
    if (self->cfg.require_wake && hit->word == self->cfg.wake_word
        && hit->confidence < self->cfg.wake_min) {
        self->stats.ignored++;   /* too weak to begin a command, and no command word */
        return;
    }
    if (self->cfg.require_wake && hit->word == self->cfg.wake_word) {
        /* the speaker starts (again): what came before is not this command */
        self->state = S_AWAKE;
        self->n = 0;
        self->wake_conf = hit->confidence;
        self->began = now;
        self->last = now;
        self->stats.wakes++;
        return;
    }
    if (self->state == S_IDLE) {
        if (self->cfg.require_wake) {
            self->stats.ignored++;
            return;
        }
        self->wake_conf = 1.0f;
        self->began = now;
    }
    self->state = S_COMMAND;
    if (self->n < LISTENER_MAX_WORDS)
        self->words[self->n++] = *hit;
    self->last = now;
}

/* Ends the pending command into *u. */
static void
s_end(listener_t *self, double now, listener_utterance_t *u)
{
    memset(u, 0, sizeof *u);
    u->n_words = self->n;
    memcpy(u->words, self->words, (size_t) self->n * sizeof u->words[0]);
    u->wake_confidence = self->wake_conf;
    u->start = self->began;
    u->end = now;
    int ids[LISTENER_MAX_WORDS];
    float conf[LISTENER_MAX_WORDS];
    for (int i = 0; i < self->n; i++) {
        ids[i] = self->words[i].word;
        conf[i] = self->words[i].confidence;
    }
    /* the wake word's belief is part of the confidence min_confidence judges */
    int rc = self->cfg.require_wake
                 ? intent_match_woken(self->grammar, self->wake_conf, ids, conf, (size_t) self->n,
                                      &u->result, u->reason, sizeof u->reason)
                 : intent_match(self->grammar, ids, conf, (size_t) self->n, &u->result, u->reason,
                                sizeof u->reason);
    if (rc == 0) {
        u->understood = true;
        self->stats.understood++;
    }
    self->stats.commands++;
    self->state = S_IDLE;
    self->n = 0;
}

/* One step of the decision grid at stream time now; busy: a word is being
 * heard. Returns 1 with *u filled when a command ended, else 0. */
static int
s_tick(listener_t *self, double now, bool busy, listener_utterance_t *u)
{
    switch (self->state) {
    case S_IDLE:
        return 0;
    case S_AWAKE:
        if (!busy && now - self->last >= self->cfg.wake_timeout_s - 1e-9) {
            self->state = S_IDLE;
            self->stats.timeouts++;
        }
        return 0;
    case S_COMMAND:
        if ((!busy && now - self->last >= self->cfg.gap_s - 1e-9)
            || now - self->began >= self->cfg.max_command_s - 1e-9) {
            s_end(self, now, u);
            return 1;
        }
        return 0;
    }
    return 0;
}

int
listener_push(listener_t *self, const float *pcm, size_t n, listener_utterance_t *out,
              int max_out)
{
    int nout = 0;
    size_t at = 0;
    while (at < n) {
        size_t step = SHOP_MIN((size_t) (S_STEP - self->step_fill), n - at);
        int room = S_MAX_HITS - self->n_step_hits;
        int nh = kws_push(self->kws, pcm + at, step, self->step_hits + self->n_step_hits, room);
        if (nh < 0) {
            snprintf(self->err, sizeof self->err, "keyword spotter: %s", kws_error(self->kws));
            return -1;
        }
        self->n_step_hits += nh;
        at += step;
        self->samples += step;
        self->step_fill = (int) ((self->step_fill + (int) step) % S_STEP);
        if (self->step_fill != 0)
            continue;
        /* words count from the end of the step they were reported in, so
         * the block sizes do not move any decision */
        double now = (double) self->samples / S_RATE;
        for (int i = 0; i < self->n_step_hits; i++) {
            kws_hit_t h = self->step_hits[i];
            h.time += (double) self->kws_origin / S_RATE;
            s_heard(self, &h, now);
        }
        self->n_step_hits = 0;
        if (nout < max_out)
            nout += s_tick(self, now, kws_in_word(self->kws), &out[nout]);
    }
    self->stats.audio_s = (double) self->samples / S_RATE;
    return nout;
}

void
listener_reset(listener_t *self)
{
    kws_reset(self->kws);
    self->kws_origin = self->samples;
    self->step_fill = 0;
    self->n_step_hits = 0;
    self->state = S_IDLE;
    self->n = 0;
}

void
listener_stats(const listener_t *self, listener_stats_t *st)
{
    *st = self->stats;
}

const intent_t *
listener_grammar(const listener_t *self)
{
    return self->grammar;
}

double
listener_wake_min(const listener_t *self, const char **from)
{
    if (from)
        *from = self->wake_from;
    return self->cfg.wake_min;
}

const kws_t *
listener_kws(const listener_t *self)
{
    return self->kws;
}

const char *
listener_error(const listener_t *self)
{
    return self->err;
}

/* ---- self-test ----------------------------------------------------------- */

#define S_CHECK(cond)                                                                 \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "listener_test: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            goto fail;                                                                \
        }                                                                             \
    } while (0)

/* Reports word at time t (its end 0.35 s earlier), then runs the grid up
 * to time until, the spotter busy while t_busy_end > grid time. Returns the
 * commands ended (at most one) into *u. */
static int
s_drive_at(listener_t *self, int word, float conf, double t, double until, double busy_end,
           listener_utterance_t *u)
{
    int got = 0;
    if (word >= 0) {
        kws_hit_t h = { word, t - 0.35, conf };
        s_heard(self, &h, t);
    }
    for (double now = t + 0.01; now <= until + 1e-9; now += 0.01)
        if (!got)
            got = s_tick(self, now, now < busy_end, u);
    return got;
}

/* s_drive_at with the word heard at confidence 0.9 */
static int
s_drive(listener_t *self, int word, double t, double until, double busy_end,
        listener_utterance_t *u)
{
    return s_drive_at(self, word, 0.9f, t, until, busy_end, u);
}

static kws_t *
s_small_kws(double wake_min, char *err, size_t errlen)
{
    nn_net_t *net = kws_build_net(VOCAB_COUNT, 8, 1, 7);
    if (!net)
        return NULL;
    float thr[VOCAB_COUNT];
    for (int i = 0; i < VOCAB_COUNT; i++)
        thr[i] = 0.5f;
    features_config_t fc;
    features_config_default(&fc);
    if (kws_net_set_meta(net, &fc, -5.f, 4.f, thr, 3) != 0
        || (wake_min >= 0 && kws_net_set_wake_min(net, wake_min, err, errlen) != 0)) {
        nn_destroy(&net);
        return NULL;
    }
    return kws_new_from_net(&net, NULL, err, errlen);
}

int
listener_test(bool verbose)
{
    int rc = -1;
    char err[256];
    listener_t *l = NULL;
    listener_utterance_t u;
    listener_config_t cfg;
    listener_config_default(&cfg);
    S_CHECK(listener_config_check(&cfg, err, sizeof err) == 0);
    listener_config_t bad = cfg;
    bad.wake_word = VOCAB_SILENCE;
    S_CHECK(listener_config_check(&bad, err, sizeof err) == -1 && strstr(err, "wake word"));
    bad = cfg;
    bad.gap_s = 0;
    S_CHECK(listener_config_check(&bad, err, sizeof err) == -1);
    bad = cfg;
    bad.max_command_s = 0.5;
    S_CHECK(listener_config_check(&bad, err, sizeof err) == -1);
    kws_t *k = NULL;
    S_CHECK(listener_new(&k, NULL, NULL, err, sizeof err) == NULL);
    k = s_small_kws(-1, err, sizeof err);
    S_CHECK(k != NULL);
    S_CHECK(listener_new(&k, "/nonexistent/grammar.ini", NULL, err, sizeof err) == NULL
            && k == NULL);

    k = s_small_kws(-1, err, sizeof err);
    S_CHECK(k != NULL);
    l = listener_new(&k, NULL, &cfg, err, sizeof err);
    S_CHECK(l != NULL && k == NULL);

    /* a command without the wake word does nothing */
    S_CHECK(s_drive(l, VOCAB_SHOW, 1.0, 1.0, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_SNEAKERS, 1.5, 5.0, 0, &u) == 0);
    S_CHECK(l->stats.ignored == 2 && l->stats.commands == 0);

    /* wake word, then words whose reports are 0.66 s apart: one command,
     * ended gap_s after the last report */
    S_CHECK(s_drive(l, VOCAB_WAKE, 10.0, 10.4, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_SHOW, 10.4, 11.06, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_SNEAKERS, 11.06, 13.0, 0, &u) == 1);
    S_CHECK(u.understood && strcmp(u.result.intent, "search") == 0);
    S_CHECK(strcmp(intent_result_slot(&u.result, "category"), "sneaker") == 0);
    S_CHECK(u.n_words == 2 && u.words[0].word == VOCAB_SHOW);
    S_CHECK(fabs(u.end - 12.06) < 0.005 && fabs(u.start - 10.0) < 1e-9);
    float b9 = intent_belief(l->grammar, 0.9f);
    S_CHECK(b9 > 0.99f && b9 < 1.0f);
    S_CHECK(fabsf(u.result.confidence - b9 * b9 * b9) < 1e-5f);

    /* while the spotter is inside a word the command does not end, however
     * long after the last report */
    S_CHECK(s_drive(l, VOCAB_WAKE, 20.0, 20.3, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_ADD, 20.3, 22.0, 22.5, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_BOOTS, 22.0, 23.5, 0, &u) == 1);
    S_CHECK(u.understood && strcmp(u.result.intent, "add_to_cart") == 0 && u.n_words == 2);

    /* the wake word alone: forgotten after wake_timeout_s, not before */
    uint64_t to = l->stats.timeouts;
    S_CHECK(s_drive(l, VOCAB_WAKE, 30.0, 32.9, 0, &u) == 0 && l->stats.timeouts == to);
    S_CHECK(s_drive(l, -1, 32.9, 33.1, 0, &u) == 0 && l->stats.timeouts == to + 1);
    S_CHECK(s_drive(l, VOCAB_SNEAKERS, 33.5, 36.0, 0, &u) == 0);

    /* a wake word during a command starts it again */
    S_CHECK(s_drive(l, VOCAB_WAKE, 40.0, 40.3, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_REMOVE, 40.3, 40.6, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_WAKE, 40.6, 40.9, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_CART, 40.9, 43.0, 0, &u) == 1);
    S_CHECK(u.n_words == 1 && strcmp(u.result.intent, "show_cart") == 0);

    /* words the grammar has no sentence for: an utterance, not understood */
    S_CHECK(s_drive(l, VOCAB_WAKE, 50.0, 50.3, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_SIX, 50.3, 52.0, 0, &u) == 1);
    S_CHECK(!u.understood && u.reason[0] && u.result.intent[0] == 0);

    /* a command that goes on is ended at max_command_s */
    S_CHECK(s_drive(l, VOCAB_WAKE, 60.0, 60.3, 0, &u) == 0);
    int ended = 0;
    for (int i = 0; i < 20 && !ended; i++)
        ended = s_drive(l, VOCAB_NEXT + (i % 2), 60.3 + 0.5 * i, 60.8 + 0.5 * i, 0, &u);
    S_CHECK(ended == 1 && fabs(u.end - 68.0) < 0.005);
    S_CHECK(l->stats.wakes == 7 && l->stats.commands == 5 && l->stats.understood == 3);

    /* min_confidence judges the command with its wake word's belief: a
     * sure "cart" after a wake word heard at 0.2 (belief 0.05; wake_min 0
     * lets it begin the command) is refused */
    /* the small spotter carries no wake_min: its threshold alone */
    const char *from = NULL;
    S_CHECK(cfg.wake_min < 0 && listener_wake_min(l, &from) == 0 && strcmp(from, "none") == 0);
    S_CHECK(s_drive_at(l, VOCAB_WAKE, 0.2f, 70.0, 70.3, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_CART, 70.3, 72.0, 0, &u) == 1);
    S_CHECK(!u.understood && strstr(u.reason, "below") && fabsf(u.wake_confidence - 0.2f) < 1e-6f);
    S_CHECK(intent_belief(l->grammar, 0.2f) * b9 < 0.1f);
    S_CHECK(l->stats.commands == 6 && l->stats.understood == 3);

    /* with wake_min 0.5 a wake word at 0.45 begins nothing, neither from
     * idle nor inside a command, and one at 0.5 does */
    l->cfg.wake_min = 0.5;
    uint64_t ign = l->stats.ignored, wk = l->stats.wakes;
    S_CHECK(s_drive_at(l, VOCAB_WAKE, 0.45f, 80.0, 80.3, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_HELP, 80.3, 83.0, 0, &u) == 0);
    S_CHECK(l->stats.ignored == ign + 2 && l->stats.wakes == wk);
    S_CHECK(s_drive_at(l, VOCAB_WAKE, 0.5f, 90.0, 90.3, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_REMOVE, 90.3, 90.6, 0, &u) == 0);
    S_CHECK(s_drive_at(l, VOCAB_WAKE, 0.45f, 90.6, 90.9, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_CART, 90.9, 93.0, 0, &u) == 1);
    S_CHECK(u.understood && strcmp(u.result.intent, "remove_from_cart") == 0 && u.n_words == 2);
    S_CHECK(l->stats.wakes == wk + 1 && l->stats.ignored == ign + 3);
    bad = cfg;
    bad.wake_min = 1.5f;
    S_CHECK(listener_config_check(&bad, err, sizeof err) == -1 && strstr(err, "wake_min"));
    bad.wake_min = NAN;
    S_CHECK(listener_config_check(&bad, err, sizeof err) == -1 && strstr(err, "wake_min"));
    l->cfg.wake_min = 0;

    /* push-to-talk: any word begins a command */
    listener_destroy(&l);
    cfg.require_wake = false;
    k = s_small_kws(-1, err, sizeof err);
    l = listener_new(&k, NULL, &cfg, err, sizeof err);
    S_CHECK(l != NULL);
    S_CHECK(s_drive(l, VOCAB_HELP, 1.0, 3.0, 0, &u) == 1);
    S_CHECK(u.understood && strcmp(u.result.intent, "help") == 0 && u.wake_confidence == 1.0f);

    /* pushes of any size advance stream time on the same 10 ms grid */
    float *z = xcalloc(16000, sizeof *z);
    listener_utterance_t us[2];
    S_CHECK(listener_push(l, z, 7, us, 2) == 0 && l->step_fill == 7);
    S_CHECK(listener_push(l, z, 16000 - 7, us, 2) >= 0 && l->step_fill == 0);
    S_CHECK(fabs(l->stats.audio_s - 1.0) < 1e-12);
    free(z);
    listener_reset(l);
    S_CHECK(l->kws_origin == 16000 && l->state == S_IDLE);
    listener_destroy(&l);
    listener_destroy(&l);

    /* a model's own wake_min is the default; the configuration's wins */
    listener_config_default(&cfg);
    k = s_small_kws(0.7, err, sizeof err);
    l = listener_new(&k, NULL, &cfg, err, sizeof err);
    S_CHECK(l != NULL && listener_wake_min(l, &from) == 0.7 && strcmp(from, "model") == 0);
    S_CHECK(s_drive_at(l, VOCAB_WAKE, 0.69f, 1.0, 1.3, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_HELP, 1.3, 4.0, 0, &u) == 0 && l->stats.wakes == 0);
    S_CHECK(s_drive_at(l, VOCAB_WAKE, 0.71f, 5.0, 5.3, 0, &u) == 0);
    S_CHECK(s_drive(l, VOCAB_HELP, 5.3, 8.0, 0, &u) == 1 && l->stats.wakes == 1);
    S_CHECK(u.understood && strcmp(u.result.intent, "help") == 0);
    listener_destroy(&l);
    cfg.wake_min = 0.4;
    k = s_small_kws(0.7, err, sizeof err);
    l = listener_new(&k, NULL, &cfg, err, sizeof err);
    S_CHECK(l != NULL && listener_wake_min(l, &from) == 0.4 && strcmp(from, "config") == 0);
    S_CHECK(s_drive_at(l, VOCAB_WAKE, 0.5f, 1.0, 1.3, 0, &u) == 0 && l->stats.wakes == 1);
    listener_destroy(&l);
    rc = 0;
    if (verbose)
        printf("listener_test: OK\n");
fail:
    listener_destroy(&l);
    return rc;
}
