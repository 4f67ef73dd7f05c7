/* fuzz/phones_fuzz.c: libFuzzer target for the phone model's two parsers of
 * outside text (audio/phones.h): the pronunciations a model file carries
 * (kws.phones) and espeak-ng's phoneme output. The first byte picks the
 * parser, the rest is the text. Every result is checked against the
 * contract; a violation aborts. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/phones.h"
#include "audio/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char err[256] = "";
    if (data[0] % 2 == 0) {
        phones_lexicon_t lex, back;
        if (phones_lexicon_parse(text, &lex, err, sizeof err) != 0) {
            if (!err[0])
                abort();
        } else {
            /* only keywords, each 1..PHONES_MAX_WORD phones of the set, and
             * the text written back parses to the same */
            for (int w = 0; w < 64; w++) {
                if (lex.n[w] && (w >= VOCAB_COUNT || !vocab_is_keyword(w)))
                    abort();
                if (lex.n[w] < 0 || lex.n[w] > PHONES_MAX_WORD)
                    abort();
                for (int i = 0; i < lex.n[w]; i++)
                    if (lex.ph[w][i] < 0 || lex.ph[w][i] >= PHONES_COUNT)
                        abort();
            }
            char buf[8192];
            if (phones_lexicon_format(&lex, buf, sizeof buf) != 0
                || phones_lexicon_parse(buf, &back, err, sizeof err) != 0
                || memcmp(&lex, &back, sizeof lex) != 0)
                abort();
        }
    } else {
        int out[32];
        int n = phones_from_espeak(text, out, 32, err, sizeof err);
        if (n < 0 ? !err[0] : n > 32)
            abort();
        for (int i = 0; i < n; i++)
            if (out[i] < 0 || out[i] >= PHONES_COUNT)
                abort();
    }
    free(text);
    return 0;
}
