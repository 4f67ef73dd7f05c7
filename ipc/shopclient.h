/* shopclient.h: the installed C client library of shopd (libshopclient).
 *
 * A frontend (kiosk screen, smart speaker, shell tool) talks to shopd with
 * two handles: shopclient_t sends requests and waits for their replies,
 * shopclient_events_t receives the event stream. Requests and replies are
 * JSON text in the shapes of shopd's protocol (docs/protocol.md, installed
 * with the documentation); this header needs no other library.
 *
 *     shopclient_error_t e;
 *     shopclient_t *c = shopclient_new(NULL, &e);   // shopd's default endpoint
 *     char *reply = NULL;
 *     shopclient_set_session(c, "kiosk-1");
 *     if (shopclient_text(c, "show me sneakers", &reply) == SHOPCLIENT_OK)
 *         puts(reply);                               // {"say": "...", ...}
 *     shopclient_free(reply);
 *     shopclient_destroy(&c);
 *
 * Build with: cc app.c $(pkg-config --cflags --libs shopclient). Neither
 * handle is thread-safe: one per thread. The manual is shopclient(3). */
#ifndef SHOPCLIENT_H
#define SHOPCLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Stable error codes. Those up to SHOPCLIENT_E_INTERNAL are shopd's error
 * replies (the wire names in docs/protocol.md); the rest happen on this
 * side. */
typedef enum {
    SHOPCLIENT_OK = 0,
    SHOPCLIENT_E_MALFORMED,     /* shopd could not read the request envelope */
    SHOPCLIENT_E_VERSION,       /* protocol version not spoken by this shopd */
    SHOPCLIENT_E_UNKNOWN_TYPE,  /* no such request type */
    SHOPCLIENT_E_TOO_LARGE,     /* envelope, photo or audio over shopd's limit */
    SHOPCLIENT_E_FRAMES,        /* wrong number of binary frames for the type */
    SHOPCLIENT_E_INVALID,       /* body fields missing, mistyped or out of range */
    SHOPCLIENT_E_NOT_FOUND,     /* product or cart line does not exist */
    SHOPCLIENT_E_NOT_AVAILABLE, /* the feature has no model or service loaded */
    SHOPCLIENT_E_STORE,         /* shopd's database refused; nothing changed */
    SHOPCLIENT_E_INTERNAL,      /* a bug or resource failure inside shopd */
    SHOPCLIENT_E_TIMEOUT,       /* no reply (or event) within the timeout */
    SHOPCLIENT_E_ARGUMENT,      /* a bad argument: NULL, body not a JSON object... */
    SHOPCLIENT_E_CONNECT,       /* the socket could not be set up (bad endpoint, keys) */
    SHOPCLIENT_E_IO             /* a file could not be read, or a reply not decoded */
} shopclient_error_t;

/* A short English description of code ("no reply within the timeout"), a
 * static string; "unknown error" for a value outside the enum. */
const char *shopclient_strerror(shopclient_error_t code);

/* ---- requests ---------------------------------------------------------- */

typedef struct _shopclient_t shopclient_t;

/* Connects to shopd's request endpoint ("ipc:///run/shopd/shopd.sock",
 * "tcp://127.0.0.1:5555"; NULL = $SHOPD_ENDPOINT or shopd's default for
 * this user). Connecting happens in the background: a shopd that is not up
 * yet is reached once it is. Returns the handle (free with
 * shopclient_destroy), or NULL with *error set (error may be NULL). */
shopclient_t *shopclient_new(const char *endpoint, shopclient_error_t *error);

/* As shopclient_new, speaking CURVE: the server's public key and this
 * client's key pair, each 40 characters of Z85 (shopctl keygen makes them). */
shopclient_t *shopclient_new_curve(const char *endpoint, const char *server_public,
                                   const char *client_public, const char *client_secret,
                                   shopclient_error_t *error);

/* Closes the handle; safe on NULL and twice, sets *self_p to NULL. */
void shopclient_destroy(shopclient_t **self_p);

/* How long a request waits for its reply (default 5000 ms; > 0). */
void shopclient_set_timeout(shopclient_t *self, int timeout_ms);

/* The session (kiosk, speaker) the following requests belong to; NULL or
 * "" for none. At most 64 bytes; longer is cut. Carts, and the context of
 * text, audio and photo requests, are per session. */
void shopclient_set_session(shopclient_t *self, const char *session);

/* Sends a request of type ("status", "catalogue", "event", "cart",
 * "recommend", "similar", "text", "audio", "photo", "session") with
 * body_json (a JSON object as text; NULL = {}) and, when frame is not NULL,
 * one binary frame of frame_len bytes (audio and photo take one). Waits for
 * the reply. Returns SHOPCLIENT_OK with *reply_json the reply body as JSON
 * text (free with shopclient_free), or an error code with *reply_json NULL
 * and the reason in shopclient_errmsg. */
shopclient_error_t shopclient_request(shopclient_t *self, const char *type,
                                      const char *body_json, const void *frame,
                                      size_t frame_len, char **reply_json);

/* A typed sentence ("show me bags under 50"): the "text" request. */
shopclient_error_t shopclient_text(shopclient_t *self, const char *text, char **reply_json);

/* The file at path as the one frame of type "audio" (WAV, FLAC, Ogg, AIFF,
 * AU, CAF) or "photo" (JPEG, PNG, BMP), at most 64 MiB. */
shopclient_error_t shopclient_send_file(shopclient_t *self, const char *type, const char *path,
                                        char **reply_json);

/* The message of the last error on self (shopd's, or this side's), "" after
 * a success. Owned by self, valid until its next call. */
const char *shopclient_errmsg(const shopclient_t *self);

/* ---- events ------------------------------------------------------------- */

typedef struct _shopclient_events_t shopclient_events_t;

/* Subscribes to shopd's event endpoint (NULL = $SHOPD_EVENTS_ENDPOINT or the
 * default) for the events of session (NULL: of every session, an operator's
 * view that shopd refuses to other clients) of the types in a
 * NULL-terminated list ("intent", "recommendations", "cart", "answer",
 * "status", ...), or NULL for all. Returns the handle or NULL with *error
 * set. */
shopclient_events_t *shopclient_events_new(const char *endpoint, const char *session,
                                           const char *const *types,
                                           shopclient_error_t *error);

/* Waits up to timeout_ms (-1: forever) for the next event. Returns
 * SHOPCLIENT_OK with *topic and *event_json (the whole event envelope:
 * type, seq, ts, session, body) to free with shopclient_free,
 * SHOPCLIENT_E_TIMEOUT when none came, or SHOPCLIENT_E_IO. */
shopclient_error_t shopclient_events_next(shopclient_events_t *self, int timeout_ms,
                                          char **topic, char **event_json);

/* Closes the handle; safe on NULL and twice, sets *self_p to NULL. */
void shopclient_events_destroy(shopclient_events_t **self_p);

/* Frees a string this library returned; safe on NULL. */
void shopclient_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
