/* daemon/conf.c: see conf.h */
#include "config.h"

#include "daemon/conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/web.h"
#include "audio/vocab.h"
#include "ipc/proto.h"
#include "nn/nn.h"
#include "recommend/store.h"
#include "ipc/sock.h"

#define S_FILE_MAX (1024 * 1024)
#define S_LINE_MAX 4096

void
conf_defaults(conf_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->log_level = LOG_INFO;
    cfg->log_target = CONF_LOG_AUTO;
    cfg->status_interval_s = 10;
    cfg->session_idle_s = 1800;
    cfg->refusal_log_interval_s = 10;
    cfg->workers = 2;
    cfg->decode_timeout_ms = 10000;
    cfg->camera_width = 640;
    cfg->camera_height = 480;
    shop_strlcpy(cfg->camera_trigger, "none", sizeof cfg->camera_trigger);
    cfg->camera_interval_s = 5;
    cfg->camera_still_frames = 5;
    shop_strlcpy(cfg->camera_session, "camera", sizeof cfg->camera_session);
    if (!proto_default_endpoint(false, cfg->endpoint, sizeof cfg->endpoint))
        shop_strlcpy(cfg->endpoint, "ipc:///tmp/shopd.sock", sizeof cfg->endpoint);
    if (!proto_default_endpoint(true, cfg->events_endpoint, sizeof cfg->events_endpoint))
        shop_strlcpy(cfg->events_endpoint, "ipc:///tmp/shopd-events.sock",
                     sizeof cfg->events_endpoint);
    cfg->max_message_bytes = 32 * 1024 * 1024;
    cfg->max_photo_bytes = 16 * 1024 * 1024;
    cfg->max_audio_bytes = 16 * 1024 * 1024;
    cfg->handshake_ms = 5000;
    cfg->heartbeat_ivl_ms = 5000;
    cfg->heartbeat_timeout_ms = 15000;
    cfg->max_connections = 1024;
    cfg->max_connections_per_peer = 256;
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    const char *sd_state = getenv("STATE_DIRECTORY"); /* systemd's StateDirectory= */
    if (sd_state && *sd_state == '/' && !strchr(sd_state, ':'))
        snprintf(cfg->database, sizeof cfg->database, "%s/shop.db", sd_state);
    else if (geteuid() == 0)
        snprintf(cfg->database, sizeof cfg->database, "/var/lib/shopd/shop.db");
    else if (state && *state == '/')
        snprintf(cfg->database, sizeof cfg->database, "%s/shopd/shop.db", state);
    else if (home && *home == '/')
        snprintf(cfg->database, sizeof cfg->database, "%s/.local/state/shopd/shop.db", home);
    else
        snprintf(cfg->database, sizeof cfg->database, "/tmp/shopd-%u/shop.db",
                 (unsigned) geteuid());
    /* the outbox lives beside the default database, in the daemon's state */
    shop_strlcpy(cfg->outbox, cfg->database, sizeof cfg->outbox);
    char *slash = strrchr(cfg->outbox, '/');
    shop_strlcpy(slash + 1, "outbox.db", sizeof cfg->outbox - (size_t) (slash + 1 - cfg->outbox));
    cfg->import_demo = true;
    shop_strlcpy(cfg->kws_model, "models/kws.nn", sizeof cfg->kws_model);
    shop_strlcpy(cfg->nn_blas_coretype, "auto", sizeof cfg->nn_blas_coretype);
    shop_strlcpy(cfg->vision_model, "models/vision.nn", sizeof cfg->vision_model);
    shop_strlcpy(cfg->rec_model, "data/demo/recommend.model", sizeof cfg->rec_model);
    cfg->rec_workers = 1;
    cfg->rec_timeout_ms = 2000;
    cfg->mic_require_wake = true;
    shop_strlcpy(cfg->mic_wake_word, "shopwise", sizeof cfg->mic_wake_word);
    shop_strlcpy(cfg->mic_session, "mic", sizeof cfg->mic_session);
    cfg->mic_gap_ms = 1000;
    cfg->mic_wake_timeout_ms = 3000;
    cfg->mic_max_command_ms = 8000;
    cfg->mic_wake_min = -1;   /* the keyword model's own */
}

/* --- value parsers: each returns 0 or -1 with a reason in why -------------- */

static int
s_int(const char *v, int64_t lo, int64_t hi, int64_t *out, const char **why)
{
    /* a size may end in K, M or G (binary multiples) */
    size_t len = strlen(v);
    int shift = 0;
    if (len > 1 && strchr("Kk", v[len - 1]))
        shift = 10;
    else if (len > 1 && strchr("Mm", v[len - 1]))
        shift = 20;
    else if (len > 1 && strchr("Gg", v[len - 1]))
        shift = 30;
    if (!shift)
        return shop_parse_int(v, lo, hi, out, why) == SHOP_NUM_OK ? 0 : -1;
    char *digits = xstrdup(v);
    digits[len - 1] = '\0';
    /* the range applies to the value after the suffix ("0M" is 0, not 0 MiB
     * compared in MiB units); the bounds keep x << shift from overflowing */
    int64_t x;
    int rc = shop_parse_int(digits, -(INT64_MAX >> shift), INT64_MAX >> shift, &x, why);
    free(digits);
    if (rc != SHOP_NUM_OK)
        return -1;
    x *= INT64_C(1) << shift;
    if (x < lo || x > hi) {
        *why = "out of range";
        return -1;
    }
    *out = x;
    return 0;
}

static int
s_bool(const char *v, bool *out, const char **why)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = false;
    else {
        *why = "not yes or no";
        return -1;
    }
    return 0;
}

static int
s_str(const char *v, char *dst, size_t cap, const char **why)
{
    if (shop_strlcpy(dst, v, cap) >= cap) {
        *why = "too long";
        return -1;
    }
    return 0;
}

typedef enum { S_STR, S_INT, S_BOOL, S_LEVEL, S_TARGET, S_UNIT } s_kind_t;

/* One row per key: adding a setting is one line here (and docs/config.md). */
typedef struct {
    const char *section, *key;
    s_kind_t kind;
    size_t offset;
    int64_t lo, hi; /* S_INT range */
    int width;      /* S_INT: sizeof the field (4 or 8); S_STR: its size */
} s_key_t;

#define S_K_STR(sec, k, f) \
    { sec, k, S_STR, offsetof(conf_t, f), 0, 0, (int) sizeof(((conf_t *) 0)->f) }
#define S_K_INT(sec, k, f, lo, hi) \
    { sec, k, S_INT, offsetof(conf_t, f), lo, hi, (int) sizeof(((conf_t *) 0)->f) }
#define S_K_BOOL(sec, k, f) { sec, k, S_BOOL, offsetof(conf_t, f), 0, 0, 0 }
/* a double from 0 to 1 */
#define S_K_UNIT(sec, k, f) { sec, k, S_UNIT, offsetof(conf_t, f), 0, 0, 0 }

static const s_key_t s_keys[] = {
    { "daemon", "log_level", S_LEVEL, offsetof(conf_t, log_level), 0, 0, 0 },
    { "daemon", "log_target", S_TARGET, offsetof(conf_t, log_target), 0, 0, 0 },
    S_K_STR("daemon", "pid_file", pid_file),
    S_K_INT("daemon", "status_interval", status_interval_s, 0, 86400),
    S_K_INT("daemon", "session_idle", session_idle_s, 0, 365 * 86400),
    S_K_INT("daemon", "refusal_log_interval", refusal_log_interval_s, 0, 86400),
    S_K_INT("daemon", "workers", workers, 1, 16),
    S_K_INT("daemon", "decode_timeout", decode_timeout_ms, 100, 600000),
    S_K_STR("ipc", "endpoint", endpoint),
    S_K_STR("ipc", "events_endpoint", events_endpoint),
    S_K_INT("ipc", "max_message_size", max_message_bytes, 1024, INT64_C(1) << 31),
    S_K_INT("ipc", "max_photo_size", max_photo_bytes, 1024, INT64_C(1) << 31),
    S_K_INT("ipc", "max_audio_size", max_audio_bytes, 1024, INT64_C(1) << 31),
    S_K_INT("ipc", "handshake_timeout", handshake_ms, 100, 600000),
    S_K_INT("ipc", "heartbeat_interval", heartbeat_ivl_ms, 0, 600000),
    S_K_INT("ipc", "heartbeat_timeout", heartbeat_timeout_ms, 100, 600000),
    S_K_INT("ipc", "max_connections", max_connections, 1, 1 << 20),
    S_K_INT("ipc", "max_connections_per_peer", max_connections_per_peer, 1, 1 << 20),
    S_K_INT("ipc", "max_pending_size", max_pending_bytes, 0, INT64_C(1) << 34),
    S_K_STR("curve", "secret_key_file", secret_key_file),
    S_K_STR("curve", "allow_list", allow_list),
    S_K_STR("curve", "operator_keys", operator_keys),
    S_K_STR("store", "database", database),
    S_K_STR("store", "outbox", outbox),
    S_K_BOOL("store", "import_demo", import_demo),
    S_K_STR("models", "kws", kws_model),
    S_K_STR("models", "vision", vision_model),
    S_K_STR("recommend", "endpoint", rec_endpoint),
    S_K_STR("recommend", "model", rec_model),
    S_K_INT("recommend", "workers", rec_workers, 1, 64),
    S_K_INT("recommend", "timeout", rec_timeout_ms, 10, 600000),
    S_K_STR("recommend", "key_file", rec_key_file),
    S_K_STR("recommend", "server_key", rec_server_key),
    S_K_STR("nn", "blas_coretype", nn_blas_coretype),
    S_K_STR("web", "listen", web_listen),
    S_K_STR("web", "token", web_token),
    S_K_STR("microphone", "device", mic_device),
    S_K_BOOL("microphone", "require_wake", mic_require_wake),
    S_K_STR("microphone", "wake_word", mic_wake_word),
    S_K_STR("microphone", "session", mic_session),
    S_K_INT("microphone", "gap", mic_gap_ms, 100, 10000),
    S_K_INT("microphone", "wake_timeout", mic_wake_timeout_ms, 100, 60000),
    S_K_INT("microphone", "max_command", mic_max_command_ms, 100, 60000),
    S_K_UNIT("microphone", "wake_min", mic_wake_min),
    S_K_STR("camera", "device", camera_device),
    S_K_INT("camera", "width", camera_width, 16, 8192),
    S_K_INT("camera", "height", camera_height, 16, 8192),
    S_K_STR("camera", "trigger", camera_trigger),
    S_K_INT("camera", "interval", camera_interval_s, 1, 86400),
    S_K_INT("camera", "still_frames", camera_still_frames, 1, 1000),
    S_K_STR("camera", "session", camera_session),
};

static int
s_apply(conf_t *cfg, const char *section, const char *key, const char *value,
        const char **why)
{
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_keys); i++) {
        const s_key_t *k = &s_keys[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->key, key) != 0)
            continue;
        char *field = (char *) cfg + k->offset;
        int64_t iv;
        bool bv;
        switch (k->kind) {
        case S_STR:
            return s_str(value, field, (size_t) k->width, why);
        case S_BOOL:
            if (s_bool(value, &bv, why) != 0)
                return -1;
            *(bool *) field = bv;
            return 0;
        case S_UNIT:
            return shop_parse_double(value, 0, 1, 0, (double *) field, why) == SHOP_NUM_OK ? 0 : -1;
        case S_INT:
            if (s_int(value, k->lo, k->hi, &iv, why) != 0)
                return -1;
            if (k->width == 8)
                *(int64_t *) field = iv;
            else
                *(int *) field = (int) iv;
            return 0;
        case S_LEVEL:
            if ((iv = log_level_from_name(value)) < 0) {
                *why = "not error, warning, notice, info or debug";
                return -1;
            }
            *(int *) field = (int) iv;
            return 0;
        case S_TARGET:
            if (!strcmp(value, "auto"))
                *(conf_log_target_t *) field = CONF_LOG_AUTO;
            else if (!strcmp(value, "stderr"))
                *(conf_log_target_t *) field = CONF_LOG_STDERR;
            else if (!strcmp(value, "syslog"))
                *(conf_log_target_t *) field = CONF_LOG_SYSLOG;
            else {
                *why = "not auto, stderr or syslog";
                return -1;
            }
            return 0;
        }
    }
    *why = "unknown key";
    return -1;
}

static bool
s_section_known(const char *name)
{
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_keys); i++)
        if (strcmp(s_keys[i].section, name) == 0)
            return true;
    return false;
}

static char *
s_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = 0;
    return s;
}

int
conf_parse(conf_t *cfg, const char *text, size_t len, const char *name, char *err,
             size_t errlen)
{
    char section[64] = "";
    char line[S_LINE_MAX];
    size_t pos = 0;
    int lineno = 0;
    while (pos < len) {
        lineno++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - (text + pos)) : len - pos;
        if (n >= sizeof line) {
            snprintf(err, errlen, "%s:%d: line longer than %d bytes", name, lineno, S_LINE_MAX);
            return -1;
        }
        memcpy(line, text + pos, n);
        line[n] = 0;
        pos += n + 1;
        if (strlen(line) != n) {
            snprintf(err, errlen, "%s:%d: NUL byte in line", name, lineno);
            return -1;
        }
        char *t = s_trim(line);
        if (!*t || *t == '#' || *t == ';')
            continue;
        if (*t == '[') {
            char *close = strchr(t, ']');
            if (!close || *s_trim(close + 1)) {
                snprintf(err, errlen, "%s:%d: a section line is \"[name]\"", name, lineno);
                return -1;
            }
            *close = 0;
            char *sec = s_trim(t + 1);
            if (!s_section_known(sec)) {
                snprintf(err, errlen, "%s:%d: unknown section [%.60s]", name, lineno, sec);
                return -1;
            }
            shop_strlcpy(section, sec, sizeof section);
            continue;
        }
        char *eq = strchr(t, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected \"key = value\"", name, lineno);
            return -1;
        }
        if (!section[0]) {
            snprintf(err, errlen, "%s:%d: key outside any [section]", name, lineno);
            return -1;
        }
        *eq = 0;
        char *key = s_trim(t), *value = s_trim(eq + 1);
        const char *why = NULL;
        if (s_apply(cfg, section, key, value, &why) != 0) {
            snprintf(err, errlen, "%s:%d: [%s] %.60s: %s", name, lineno, section, key, why);
            return -1;
        }
    }
    return 0;
}

int
conf_load(conf_t *cfg, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = (char *) shop_read_file(path, S_FILE_MAX, &len, err, errlen);
    if (!text)
        return -1;
    int rc = conf_parse(cfg, text, len, path, err, errlen);
    free(text);
    return rc;
}

int
conf_check(const conf_t *cfg, char *err, size_t errlen)
{
    bool curve = cfg->secret_key_file[0] != 0;
    const char *eps[] = { cfg->endpoint, cfg->events_endpoint };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(eps); i++) {
        if (!eps[i][0]) {
            snprintf(err, errlen, "an endpoint is empty");
            return -1;
        }
        if (!curve && strncmp(eps[i], "ipc://@", 7) == 0) {
            snprintf(err, errlen,
                     "refusing to listen on %s without CURVE: an abstract socket has no file "
                     "permissions, so any local user could connect; set [curve] "
                     "secret_key_file (and allow_list), or use an ipc:// socket file", eps[i]);
            return -1;
        }
        if (!curve && !sock_endpoint_is_local(eps[i])) {
            snprintf(err, errlen,
                     "refusing to listen on %s without CURVE: set [curve] secret_key_file "
                     "(and allow_list), or use an ipc:// or loopback tcp:// endpoint",
                     eps[i]);
            return -1;
        }
    }
    if (!cfg->rec_key_file[0] != !cfg->rec_server_key[0]) {
        snprintf(err, errlen, "[recommend] key_file and server_key go together (CURVE to the "
                 "broker: shopd's key pair and the broker's public key)");
        return -1;
    }
    if (cfg->rec_endpoint[0] && !cfg->rec_key_file[0]
        && !sock_endpoint_is_local(cfg->rec_endpoint)) {
        snprintf(err, errlen,
                 "refusing to send queries to %s without CURVE: set [recommend] key_file and "
                 "server_key, or use an ipc:// or loopback tcp:// endpoint", cfg->rec_endpoint);
        return -1;
    }
    if (curve && !cfg->allow_list[0]) {
        snprintf(err, errlen, "[curve] secret_key_file is set but allow_list is not: "
                 "no client could connect");
        return -1;
    }
    if (cfg->max_photo_bytes > cfg->max_message_bytes
        || cfg->max_audio_bytes > cfg->max_message_bytes) {
        snprintf(err, errlen, "max_photo_size and max_audio_size must not exceed "
                 "max_message_size");
        return -1;
    }
    if (cfg->max_pending_bytes && cfg->max_pending_bytes < cfg->max_message_bytes) {
        snprintf(err, errlen, "max_pending_size must be at least max_message_size (a whole "
                 "request of one frame must fit)");
        return -1;
    }
    if (cfg->max_connections_per_peer > cfg->max_connections) {
        snprintf(err, errlen, "max_connections_per_peer must not exceed max_connections");
        return -1;
    }
    if (!cfg->database[0]) {
        snprintf(err, errlen, "[store] database is empty");
        return -1;
    }
    char why[256];
    if (store_check_location(cfg->database, why, sizeof why) != 0) {
        snprintf(err, errlen, "[store] database: %s", why);
        return -1;
    }
    if (cfg->outbox[0] != '/') {
        snprintf(err, errlen, "[store] outbox must be an absolute path of a file");
        return -1;
    }
    if (cfg->web_listen[0] && web_check(cfg->web_listen, cfg->web_token, err, errlen) != 0)
        return -1;
    int wake = vocab_find(cfg->mic_wake_word);
    if (!vocab_is_keyword(wake)) {
        snprintf(err, errlen, "[microphone] wake_word \"%.40s\" is not a word the keyword "
                 "spotter knows (docs/speech.md lists them)", cfg->mic_wake_word);
        return -1;
    }
    if (!cfg->mic_session[0] || strlen(cfg->mic_session) > PROTO_SESSION_MAX) {
        snprintf(err, errlen, "[microphone] session must be 1 to %d bytes", PROTO_SESSION_MAX);
        return -1;
    }
    if (cfg->mic_max_command_ms < cfg->mic_gap_ms) {
        snprintf(err, errlen, "[microphone] max_command must not be shorter than gap");
        return -1;
    }
    if (strcmp(cfg->camera_trigger, "none") && strcmp(cfg->camera_trigger, "interval")
        && strcmp(cfg->camera_trigger, "scene")) {
        snprintf(err, errlen, "[camera] trigger is not none, interval or scene");
        return -1;
    }
    if (!cfg->camera_session[0] || strlen(cfg->camera_session) > PROTO_SESSION_MAX) {
        snprintf(err, errlen, "[camera] session must be 1 to %d bytes", PROTO_SESSION_MAX);
        return -1;
    }
    if (!nn_blas_policy_valid(cfg->nn_blas_coretype)) {
        snprintf(err, errlen, "[nn] blas_coretype is not auto, env or an OpenBLAS kernel "
                 "(Haswell, SkylakeX, Cooperlake, ...)");
        return -1;
    }
    return 0;
}

int64_t
conf_max_pending(const conf_t *cfg)
{
    return cfg->max_pending_bytes ? cfg->max_pending_bytes : 2 * cfg->max_message_bytes;
}
