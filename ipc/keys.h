/* ipc/keys.h: CURVE key pairs and allow-lists on disk (Z85 text).
 *
 * A key file holds "public-key = <Z85>" and, for a secret key file,
 * "secret-key = <Z85>" lines; '#' starts a comment line. An allow-list holds
 * one client public key per line (optionally followed by a name), or
 * "public-key = <Z85>" lines, so `cat client.pub >> allow` works. */
#ifndef SHOP_IPC_KEYS_H
#define SHOP_IPC_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define KEYS_Z85_LEN 40

/* Generates a key pair into pub and sec (41 bytes each, NUL-terminated).
 * Returns 0, or -1 with err filled (libzmq built without CURVE). */
int keys_generate(char pub[KEYS_Z85_LEN + 1], char sec[KEYS_Z85_LEN + 1], char *err,
                  size_t errlen);

/* Writes base.key (both keys, mode 0600) and base.pub (public key, 0644).
 * Refuses to overwrite existing files. Returns 0 or -1 with err filled. */
int keys_write_pair(const char *base, const char *pub, const char *sec, char *err,
                    size_t errlen);

/* Reads a key file. pub receives the public key; when sec is non-NULL the
 * file must also hold a secret key. Returns 0 or -1 with err filled. */
int keys_read(const char *path, char pub[KEYS_Z85_LEN + 1], char *sec, char *err,
              size_t errlen);

/* keys_read on the text data[0..len) (name: the file name put in errors). */
int keys_parse(const char *data, size_t len, const char *name, char pub[KEYS_Z85_LEN + 1],
               char *sec, char *err, size_t errlen);

/* A public key given as itself (40 Z85 characters) or as a key file (a .pub
 * or .key file: its public-key line), as --server-key options take it.
 * Returns 0 with pub filled, or -1 with err filled. */
int keys_read_public(const char *key_or_path, char pub[KEYS_Z85_LEN + 1], char *err,
                     size_t errlen);

/* True when s is a 40-character Z85 string that decodes to 32 bytes. */
bool keys_valid_z85(const char *s);

/* Parses an allow-list file. On success returns 0 and sets *keys to a new
 * array of *count NUL-terminated 40-character keys (caller frees with
 * free()); on any bad line returns -1 with err naming the file and line,
 * and *keys untouched. */
int keys_read_allowlist(const char *path, char (**keys)[KEYS_Z85_LEN + 1], size_t *count,
                        char *err, size_t errlen);

/* keys_read_allowlist on the text data[0..len) (name: put in errors). */
int keys_parse_allowlist(const char *data, size_t len, const char *name,
                         char (**keys)[KEYS_Z85_LEN + 1], size_t *count, char *err,
                         size_t errlen);

#endif
