/* ipc/proto.h: the shopd wire protocol, version 1 (docs/protocol.md).
 *
 * Every message is a JSON envelope in one ZeroMQ frame, followed by zero or
 * more binary frames (audio, image bytes). This module encodes and decodes
 * envelopes and owns the list of stable error codes; it never touches a
 * socket (ipc/sock does the socket set-up, ipc/client the client side). */
#ifndef SHOP_IPC_PROTO_H
#define SHOP_IPC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROTO_VERSION 1
/* Limits on envelope fields; longer values are refused as malformed. */
#define PROTO_ID_MAX 64
#define PROTO_TYPE_MAX 32
#define PROTO_SESSION_MAX 64
/* Largest JSON envelope accepted; binary frames have their own limits. */
#define PROTO_ENVELOPE_MAX (64 * 1024)

/* Stable error codes: their names travel on the wire and never change. */
typedef enum {
    PROTO_OK = 0,
    PROTO_E_MALFORMED,     /* not a JSON object, or a field missing or mistyped */
    PROTO_E_VERSION,       /* "v" is not a version this daemon speaks */
    PROTO_E_UNKNOWN_TYPE,  /* no such request type */
    PROTO_E_TOO_LARGE,     /* an envelope or a binary frame over its limit */
    PROTO_E_FRAMES,        /* wrong number of binary frames for the type */
    PROTO_E_INVALID,       /* body fields out of range or inconsistent */
    PROTO_E_NOT_FOUND,     /* the product, session or item does not exist */
    PROTO_E_NOT_AVAILABLE, /* the feature is not built in or has no model */
    PROTO_E_STORE,         /* the database refused: nothing was changed */
    PROTO_E_INTERNAL,      /* a bug or resource failure inside shopd */
    PROTO_E_TIMEOUT,       /* client side only: no reply within the timeout */
    PROTO_E_COUNT
} proto_err_t;

/* Returns the wire name of code ("malformed", ...), "unknown" if out of range. */
const char *proto_err_name(proto_err_t code);
/* Returns a sentence a speaker can say for an error of code ("Sorry, I
 * cannot find that."), a static string; "" for PROTO_OK. Error replies carry
 * it as "say". */
const char *proto_err_say(proto_err_t code);
/* Returns the code named name, or -1 when name is not a known code. */
int proto_err_from_name(const char *name);

/* A decoded request. body is a JSON object owned by the struct (release
 * with proto_request_clear); the strings are copies. */
typedef struct {
    int version;
    char id[PROTO_ID_MAX + 1];
    char type[PROTO_TYPE_MAX + 1];
    char session[PROTO_SESSION_MAX + 1]; /* "" when the request named none */
    json_t *body;
} proto_request_t;

/* A decoded reply (client side). When ok is false, code and message say why
 * and body is NULL. Release with proto_reply_clear. */
typedef struct {
    int version;
    char id[PROTO_ID_MAX + 1];
    char type[PROTO_TYPE_MAX + 1];
    bool ok;
    proto_err_t code;
    char message[256];
    json_t *body;
} proto_reply_t;

/* Decodes a request envelope of len bytes. Returns PROTO_OK with req filled,
 * or an error code with a message in err; on error req->id still holds the
 * request id whenever it could be read, so the error reply can carry it, and
 * req->body is NULL. Never trusts data: any bytes are safe. */
proto_err_t proto_request_decode(const void *data, size_t len, proto_request_t *req,
                                 char *err, size_t errlen);
/* Releases req->body; safe on a cleared or zeroed struct. */
void proto_request_clear(proto_request_t *req);

/* Encodes a request envelope. body may be NULL (sent as {}); it is borrowed.
 * Returns a new NUL-terminated string (caller frees) and its length in *len. */
char *proto_request_encode(const char *id, const char *type, const char *session,
                           const json_t *body, size_t *len);

/* Encodes a success reply; body (may be NULL) is borrowed. Caller frees. */
char *proto_reply_encode_ok(const char *id, const char *type, const json_t *body, size_t *len);
/* Encodes an error reply. id may be NULL or "" (sent as null) when the
 * request's id could not be read. Caller frees. */
char *proto_reply_encode_error(const char *id, const char *type, proto_err_t code,
                               const char *message, size_t *len);
/* Decodes a reply envelope. Returns PROTO_OK with reply filled (even for an
 * error reply: see reply->ok), or PROTO_E_MALFORMED / PROTO_E_VERSION. */
proto_err_t proto_reply_decode(const void *data, size_t len, proto_reply_t *reply,
                               char *err, size_t errlen);
void proto_reply_clear(proto_reply_t *reply);

/* Encodes an event envelope (published with the topic of
 * proto_event_topic). body is borrowed; session may be NULL. ts is
 * wall-clock seconds. Caller frees. */
char *proto_event_encode(const char *type, uint64_t seq, double ts, const char *session,
                         const json_t *body, size_t *len);

/* The topic frame of an event: "@SESSION/TYPE" for an event of a session,
 * "TYPE" for one of the whole daemon (status). Writes into buf; returns its
 * length, or -1 when it does not fit. */
int proto_event_topic(const char *type, const char *session, char *buf, size_t buflen);
/* The event type of a topic frame (what follows "@SESSION/", or the topic). */
const char *proto_topic_type(const char *topic);

/* The default request and event endpoints for this user: ipc:// sockets in
 * $RUNTIME_DIRECTORY (systemd), else /run/shopd when root, else
 * $XDG_RUNTIME_DIR/shopd or /tmp/shopd-UID.
 * Writes into buf; returns buf, or NULL when the path does not fit. */
const char *proto_default_endpoint(bool events, char *buf, size_t buflen);

#endif
