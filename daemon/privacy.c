/* daemon/privacy.c: see privacy.h */
#include "config.h"

#include "daemon/privacy.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

static unsigned char s_key[crypto_generichash_KEYBYTES];
static int s_ready;

int
privacy_init(char *err, size_t errlen)
{
    if (s_ready)
        return 0;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium cannot be initialised");
        return -1;
    }
    randombytes_buf(s_key, sizeof s_key);
    s_ready = 1;
    return 0;
}

/* 16-byte keyed BLAKE2b of data, as 32 hex digits. */
static void
s_hash_hex(const unsigned char *key, size_t keylen, const void *data, size_t len, char *hex)
{
    unsigned char h[16];
    crypto_generichash(h, sizeof h, data, len, key, keylen);
    sodium_bin2hex(hex, 33, h, sizeof h);
}

void
privacy_anon_session(const void *routing_id, size_t len, char out[PRIVACY_ANON_LEN])
{
    memcpy(out, "anon-", 5);
    s_hash_hex(s_key, sizeof s_key, routing_id, len, out + 5);
}

int
privacy_audit_hash(store_t *store, const char *customer, char out[PRIVACY_HASH_LEN])
{
    char hex[2 * crypto_generichash_KEYBYTES + 1];
    unsigned char key[crypto_generichash_KEYBYTES];
    int g = store_meta_get(store, "audit_key", hex, sizeof hex);
    if (g < 0)
        return -1;
    if (g == 1 || strlen(hex) != sizeof hex - 1
        || sodium_hex2bin(key, sizeof key, hex, strlen(hex), NULL, NULL, NULL) != 0) {
        randombytes_buf(key, sizeof key);
        sodium_bin2hex(hex, sizeof hex, key, sizeof key);
        if (store_meta_set(store, "audit_key", hex) != 0)
            return -1;
    }
    s_hash_hex(key, sizeof key, customer, strlen(customer), out);
    sodium_memzero(key, sizeof key);
    return 0;
}
