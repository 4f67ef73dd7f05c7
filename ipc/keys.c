/* ipc/keys.c: see keys.h */
#include "config.h"

#include "ipc/keys.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "common/util.h"

/* Key files and allow-lists are small: anything bigger is not one. */
#define S_FILE_MAX (1024 * 1024)

bool
keys_valid_z85(const char *s)
{
    if (!s || strlen(s) != KEYS_Z85_LEN)
        return false;
    uint8_t bin[32];
    return zmq_z85_decode(bin, s) != NULL;
}

int
keys_generate(char pub[KEYS_Z85_LEN + 1], char sec[KEYS_Z85_LEN + 1], char *err,
              size_t errlen)
{
    if (zmq_curve_keypair(pub, sec) != 0) {
        snprintf(err, errlen, "cannot generate a CURVE key pair: %s",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

static int
s_write_new(const char *path, mode_t mode, const char *text, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    if (n != (ssize_t) len || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    return 0;
}

int
keys_write_pair(const char *base, const char *pub, const char *sec, char *err,
                size_t errlen)
{
    char kpath[4096], ppath[4096], text[256];
    if (snprintf(kpath, sizeof kpath, "%s.key", base) >= (int) sizeof kpath
        || snprintf(ppath, sizeof ppath, "%s.pub", base) >= (int) sizeof ppath) {
        snprintf(err, errlen, "key file name too long");
        return -1;
    }
    snprintf(text, sizeof text,
             "# shopd CURVE key pair: keep this file secret\npublic-key = %s\nsecret-key = %s\n",
             pub, sec);
    if (s_write_new(kpath, 0600, text, err, errlen) != 0)
        return -1;
    snprintf(text, sizeof text, "# shopd CURVE public key\npublic-key = %s\n", pub);
    if (s_write_new(ppath, 0644, text, err, errlen) != 0) {
        unlink(kpath);
        return -1;
    }
    return 0;
}

/* Strips leading and trailing white space in place; returns the start. */
static char *
s_trim(char *s)
{
    while (isspace((unsigned char) *s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char) e[-1]))
        *--e = 0;
    return s;
}

/* Splits "name = value" (Z85 may contain '=', names never do). Returns the
 * value or NULL when line has no '='; *name receives the trimmed name. */
static char *
s_split(char *line, char **name)
{
    char *eq = strchr(line, '=');
    if (!eq)
        return NULL;
    *eq = 0;
    *name = s_trim(line);
    return s_trim(eq + 1);
}

/* A copy of text[0..len) NUL-terminated, or NULL with err filled when it
 * holds a NUL byte (not a text file). */
static char *
s_text_copy(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    if (memchr(text, 0, len)) {
        snprintf(err, errlen, "%s: not a text file (it holds a NUL byte)", name);
        return NULL;
    }
    char *t = xmalloc(len + 1);
    memcpy(t, text, len);
    t[len] = 0;
    return t;
}

int
keys_parse(const char *data, size_t len, const char *name, char pub[KEYS_Z85_LEN + 1],
           char *sec, char *err, size_t errlen)
{
    pub[0] = 0;
    if (sec)
        sec[0] = 0;
    char *text = s_text_copy(data, len, name, err, errlen);
    if (!text)
        return -1;
    int rc = -1, lineno = 0;
    char *p = text;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        char *key, *t = s_trim(p);
        p = nl ? nl + 1 : NULL;
        if (!*t || *t == '#')
            continue;
        char *value = s_split(t, &key);
        if (!value || !keys_valid_z85(value)) {
            snprintf(err, errlen, "%s: line %d is not \"public-key = <Z85>\" or "
                     "\"secret-key = <Z85>\"", name, lineno);
            goto out;
        }
        if (strcmp(key, "public-key") == 0)
            memcpy(pub, value, KEYS_Z85_LEN + 1);
        else if (strcmp(key, "secret-key") == 0 && sec)
            memcpy(sec, value, KEYS_Z85_LEN + 1);
        else if (strcmp(key, "secret-key") != 0) {
            snprintf(err, errlen, "%s: line %d: unknown name \"%.32s\"", name, lineno, key);
            goto out;
        }
    }
    if (!pub[0] || (sec && !sec[0])) {
        snprintf(err, errlen, "%s: no %s key", name, !pub[0] ? "public" : "secret");
        goto out;
    }
    rc = 0;
out:
    explicit_bzero(text, len);
    free(text);
    if (rc != 0) {
        pub[0] = 0;
        if (sec)
            explicit_bzero(sec, KEYS_Z85_LEN + 1);
    }
    return rc;
}

int
keys_read(const char *path, char pub[KEYS_Z85_LEN + 1], char *sec, char *err, size_t errlen)
{
    size_t len;
    char *text = (char *) shop_read_file(path, S_FILE_MAX, &len, err, errlen);
    if (!text)
        return -1;
    int rc = keys_parse(text, len, path, pub, sec, err, errlen);
    explicit_bzero(text, len);
    free(text);
    return rc;
}

int
keys_read_public(const char *key_or_path, char pub[KEYS_Z85_LEN + 1], char *err,
                 size_t errlen)
{
    if (keys_valid_z85(key_or_path)) {
        memcpy(pub, key_or_path, KEYS_Z85_LEN + 1);
        return 0;
    }
    return keys_read(key_or_path, pub, NULL, err, errlen);
}

int
keys_parse_allowlist(const char *data, size_t len, const char *name,
                     char (**keys)[KEYS_Z85_LEN + 1], size_t *count, char *err, size_t errlen)
{
    char *text = s_text_copy(data, len, name, err, errlen);
    if (!text)
        return -1;
    size_t n = 0, cap = 16;
    char (*list)[KEYS_Z85_LEN + 1] = xmallocarray(cap, sizeof *list);
    int lineno = 0;
    char *p = text;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        char *t = s_trim(p);
        p = nl ? nl + 1 : NULL;
        if (!*t || *t == '#')
            continue;
        char *key = t, *label;
        if (strncmp(t, "public-key", 10) == 0) {
            key = s_split(t, &label);
        } else {
            /* "KEY [name]": the key ends at the first blank */
            char *sp = t;
            while (*sp && !isspace((unsigned char) *sp))
                sp++;
            *sp = 0;
        }
        if (!key || !keys_valid_z85(key)) {
            snprintf(err, errlen, "%s: line %d is not a 40-character Z85 public key", name,
                     lineno);
            free(list);
            free(text);
            return -1;
        }
        if (n == cap) {
            cap *= 2;
            list = xrealloc(list, cap * sizeof *list);
        }
        memcpy(list[n++], key, KEYS_Z85_LEN + 1);
    }
    free(text);
    *keys = list;
    *count = n;
    return 0;
}

int
keys_read_allowlist(const char *path, char (**keys)[KEYS_Z85_LEN + 1], size_t *count,
                    char *err, size_t errlen)
{
    size_t len;
    char *text = (char *) shop_read_file(path, S_FILE_MAX, &len, err, errlen);
    if (!text)
        return -1;
    int rc = keys_parse_allowlist(text, len, path, keys, count, err, errlen);
    free(text);
    return rc;
}
