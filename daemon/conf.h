/* daemon/conf.h: shopd's settings, built-in defaults and the config file.
 *
 * The file is INI-style (docs/config.md): "[section]" lines, "key = value"
 * lines, '#' or ';' comment lines. Every key has a built-in default, so no
 * file is needed. Unknown sections or keys and bad values are errors that
 * name the file and line: a typo never silently falls back to a default. */
#ifndef SHOP_DAEMON_CONF_H
#define SHOP_DAEMON_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_PATH_MAX 1024

/* Where log messages go. */
typedef enum {
    CONF_LOG_AUTO = 0, /* stderr in the foreground or under systemd, else syslog */
    CONF_LOG_STDERR,
    CONF_LOG_SYSLOG,
} conf_log_target_t;

/* Every setting (in/out): filled by conf_defaults, then a file. */
typedef struct {
    /* [daemon] */
    int log_level;                          /* LOG_* from syslog.h */
    conf_log_target_t log_target;
    char pid_file[CONF_PATH_MAX];         /* "" = none */
    int status_interval_s;                  /* status event period, 0 = off */
    int session_idle_s;                     /* a session idle this long is erased, 0 = never */
    int refusal_log_interval_s;             /* one refusal line per peer per interval */
    int workers;                            /* worker pool threads (decoding, CNNs) */
    int decode_timeout_ms;                  /* longest decode in the jailed decoder */
    /* [ipc] */
    char endpoint[CONF_PATH_MAX];         /* ROUTER: requests */
    char events_endpoint[CONF_PATH_MAX];  /* PUB: events */
    int64_t max_message_bytes;              /* ZMQ_MAXMSGSIZE: peer dropped above */
    int64_t max_photo_bytes;                /* a photo frame above: too_large reply */
    int64_t max_audio_bytes;                /* an audio frame above: too_large reply */
    int handshake_ms;
    int heartbeat_ivl_ms;
    int heartbeat_timeout_ms;
    int max_connections;                    /* open connections, all peers */
    int max_connections_per_peer;           /* of one IP address or local process */
    int64_t max_pending_bytes;              /* received from a connection, not yet whole
                                               requests; 0 = twice max_message_bytes */
    /* [curve] */
    char secret_key_file[CONF_PATH_MAX];  /* "" = CURVE off (local endpoints only) */
    char allow_list[CONF_PATH_MAX];       /* client public keys, one per line */
    char operator_keys[CONF_PATH_MAX];    /* keys that see every session, "" = none */
    /* [store] */
    char database[CONF_PATH_MAX];
    char outbox[CONF_PATH_MAX];             /* on a PostgreSQL database: the device's outbox
                                               and offline copy (SQLite) */
    bool import_demo;                       /* import the demo store into an empty catalogue */
    /* [models] (relative paths are looked up with shop_data_path) */
    char kws_model[CONF_PATH_MAX];
    char vision_model[CONF_PATH_MAX];
    /* [recommend] */
    char rec_endpoint[CONF_PATH_MAX];       /* "" = the built-in engine, called in-process */
    char rec_model[CONF_PATH_MAX];          /* model file of the built-in engine */
    int rec_workers;                        /* accepted, unused: the built-in engine has no threads */
    int rec_timeout_ms;                     /* per try; one retry (Lazy Pirate) */
    char rec_key_file[CONF_PATH_MAX];       /* CURVE to the broker: shopd's key pair, "" off */
    char rec_server_key[CONF_PATH_MAX];     /* the broker's public key, Z85 or a key file */
    /* [microphone] */
    char mic_device[CONF_PATH_MAX];         /* "" = none; "default", an index or a name */
    bool mic_require_wake;                  /* commands must follow the wake word */
    char mic_wake_word[CONF_PATH_MAX];      /* a keyword of audio/vocab.h */
    char mic_session[CONF_PATH_MAX];        /* session the commands are answered on */
    int mic_gap_ms;                         /* pause that ends a command */
    int mic_wake_timeout_ms;                /* wait for a command after the wake word */
    int mic_max_command_ms;                 /* longest command */
    double mic_wake_min;                    /* least wake-word confidence that begins one;
                                             * negative (not set): the keyword model's */
    /* [camera] */
    char camera_device[CONF_PATH_MAX];      /* "" = no camera; /dev/videoN or a recording */
    int camera_width, camera_height;        /* asked of the camera */
    char camera_trigger[16];                /* none, interval or scene */
    int camera_interval_s;                  /* interval trigger period */
    int camera_still_frames;                /* scene trigger: still frames before a picture */
    char camera_session[CONF_PATH_MAX];     /* session its answers are published on */
    /* [nn] OpenBLAS kernel policy: auto, env or a kernel (nn_blas_ensure_fast_path_policy) */
    char nn_blas_coretype[CONF_PATH_MAX];
    /* [web] the kiosk page's HTTP + WebSocket bridge (daemon/web.h) */
    char web_listen[CONF_PATH_MAX];         /* "ADDR:PORT", "" = no kiosk page */
    char web_token[CONF_PATH_MAX];          /* "" = none: loopback addresses only */
} conf_t;

/* Fills cfg with the built-in defaults for the current user: endpoints in
 * $RUNTIME_DIRECTORY and the database in $STATE_DIRECTORY under systemd;
 * else /run/shopd and /var/lib/shopd for root; else $XDG_RUNTIME_DIR/shopd
 * and $XDG_STATE_HOME/shopd (~/.local/state/shopd). */
void conf_defaults(conf_t *cfg);

/* Applies the settings in text (len bytes, need not be NUL-terminated) on
 * top of cfg. name is used in messages. Returns 0, or -1 with err filled
 * ("name:line: why"); on error cfg may be half-updated, so parse into a
 * copy when the old settings must survive (SIGHUP). */
int conf_parse(conf_t *cfg, const char *text, size_t len, const char *name, char *err,
                 size_t errlen);

/* Reads path (at most 1 MiB) and applies it with conf_parse. Returns 0 or
 * -1 with err filled. */
int conf_load(conf_t *cfg, const char *path, char *err, size_t errlen);

/* Checks the combination of settings: CURVE keys for non-local endpoints
 * and for abstract ipc://@ ones (no file permissions guard those), sizes in
 * range, the microphone's wake word, session and time-outs. Returns 0 or -1
 * with err filled. */
int conf_check(const conf_t *cfg, char *err, size_t errlen);

/* The byte budget of one connection in force (max_pending_bytes, or its
 * default of twice max_message_bytes). */
int64_t conf_max_pending(const conf_t *cfg);

#endif
