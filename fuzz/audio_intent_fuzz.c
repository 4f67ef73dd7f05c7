/* fuzz/audio_intent_fuzz.c: libFuzzer target for the intent grammar parser.
 *
 * The input is a grammar file. A grammar that compiles is then matched
 * against word sequences made from the input's bytes, and every result is
 * checked against the contract of audio/intent.h; a violation aborts. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/intent.h"
#include "audio/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_check(const intent_t *g, const intent_result_t *r, int rc)
{
    if (rc != 0) {
        if (r->intent[0] != 0 || r->n_slots != 0)
            abort();
        return;
    }
    bool known = false;
    for (int i = 0; i < intent_count(g); i++)
        known = known || strcmp(intent_name(g, i), r->intent) == 0;
    if (!known || r->n_slots < 0 || r->n_slots > INTENT_MAX_SLOTS || r->line < 1)
        abort();
    if (!(r->confidence >= 0.0f && r->confidence <= 1.0f) || r->matched < 1 || r->skipped < 0)
        abort();
    for (int i = 0; i < r->n_slots; i++)
        if (!memchr(r->slots[i].name, 0, INTENT_NAME_MAX)
            || !memchr(r->slots[i].value, 0, INTENT_NAME_MAX) || !r->slots[i].name[0])
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    intent_config_t cfg;
    intent_config_default(&cfg);
    cfg.require_wake = size % 2 == 0;
    intent_t *g = intent_new_from_text((const char *) data, size, &cfg, err, sizeof err);
    if (!g) {
        /* every refusal names the grammar line or the setting at fault */
        if (strncmp(err, "grammar line ", 13) != 0)
            abort();
        return 0;
    }
    if (intent_count(g) < 1)
        abort();
    /* word sequences from the input's bytes, with confidences */
    int words[24];
    float conf[24];
    size_t n = 0;
    for (size_t i = 0; i + 1 < size && n < 24; i += 2) {
        words[n] = (int) data[i] % (VOCAB_COUNT + 2) - 1; /* also -1 and VOCAB_COUNT */
        conf[n] = (float) data[i + 1] / 255.0f;
        n++;
    }
    intent_result_t r;
    for (size_t len = 0; len <= n; len += 3) {
        int rc = intent_match(g, words, conf, len, &r, err, sizeof err);
        s_check(g, &r, rc);
        rc = intent_match(g, words, NULL, len, &r, err, sizeof err);
        s_check(g, &r, rc);
    }
    /* and the text path over the grammar's own bytes */
    char text[512];
    size_t tl = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, tl);
    text[tl] = 0;
    s_check(g, &r, intent_match_text(g, text, &r, err, sizeof err));
    char buf[160];
    intent_result_format(&r, buf, sizeof buf);
    intent_destroy(&g);
    return 0;
}
