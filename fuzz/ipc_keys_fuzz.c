/* fuzz/ipc_keys_fuzz.c: libFuzzer target for the CURVE key file and
 * allow-list parsers (ipc/keys), which every CURVE end reads: shopd, shopctl,
 * shop-recommend's broker and workers. Any bytes either parse or give an
 * error naming the file; a parse that succeeds yields valid Z85 keys only. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char pub[KEYS_Z85_LEN + 1], sec[KEYS_Z85_LEN + 1], err[512];
    const char *text = (const char *) data;
    if (keys_parse(text, size, "fuzz", pub, sec, err, sizeof err) == 0) {
        if (!keys_valid_z85(pub) || !keys_valid_z85(sec))
            abort();
    } else if (strncmp(err, "fuzz:", 5) != 0) {
        abort();
    }
    if (keys_parse(text, size, "fuzz", pub, NULL, err, sizeof err) == 0) {
        if (!keys_valid_z85(pub))
            abort();
    } else if (strncmp(err, "fuzz:", 5) != 0) {
        abort();
    }
    char (*keys)[KEYS_Z85_LEN + 1] = NULL;
    size_t n = 0;
    if (keys_parse_allowlist(text, size, "fuzz", &keys, &n, err, sizeof err) == 0) {
        for (size_t i = 0; i < n; i++)
            if (!keys_valid_z85(keys[i]))
                abort();
        free(keys);
    } else if (strncmp(err, "fuzz:", 5) != 0) {
        abort();
    }
    return 0;
}
