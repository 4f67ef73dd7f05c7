/* daemon/web.h: the kiosk page's bridge, HTTP + WebSocket over libwebsockets.
 *
 * A thread of its own serves the kiosk page (plain HTML/CSS/JS from
 * data/web, found with shop_data_path), the catalogue's product photos
 * (/photo/<catalogue path>), and a WebSocket (/ws?session=ID[&token=T],
 * protocol "shopd-kiosk") through which the page of a session
 *   - sends requests of shopd's protocol, {"id": n, "type": T, "body": {...}},
 *     answered by {"kind": "reply", "id": n, "reply": <reply envelope>};
 *   - receives the events published on its session, {"kind": "event",
 *     "event": <event envelope>} (intent, product, recommendations, cart,
 *     answer).
 * The thread reaches shopd's main thread only over inproc ZeroMQ sockets
 * of its own (a DEALER to the request endpoint, a SUB to the events
 * endpoint): no socket is shared between threads, and the requests go
 * through the same dispatcher, checks and replies as any frontend's.
 *
 * Without a token the bridge listens on loopback addresses only; with one,
 * every WebSocket must present it (?token=...). */
#ifndef SHOP_DAEMON_WEB_H
#define SHOP_DAEMON_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define WEB_LISTEN_MAX 128
#define WEB_TOKEN_MAX 128

typedef struct _web_t web_t;

/* What the bridge needs (in; strings are copied). */
typedef struct {
    const char *listen;           /* "127.0.0.1:8080", "[::1]:8080", "localhost:8080" */
    const char *token;            /* "" or NULL: none (loopback only) */
    const char *requests;         /* inproc endpoint of shopd's request socket */
    const char *events;           /* inproc endpoint of shopd's event socket */
    const char *server_public;    /* CURVE: shopd's public key, or NULL */
    const char *client_public;    /* CURVE: the bridge's key pair, or NULL */
    const char *client_secret;
} web_opts_t;

/* Splits listen ("ADDR:PORT", IPv6 in brackets) into addr and *port
 * (1..65535). Returns 0, or -1 with err. */
int web_parse_listen(const char *listen, char *addr, size_t addrlen, int *port, char *err,
                     size_t errlen);

/* True when addr (from web_parse_listen) is a loopback address:
 * 127.0.0.0/8, ::1 or localhost. */
bool web_addr_is_loopback(const char *addr);

/* Checks a [web] setting: the address parses, and a non-loopback address
 * has a token. Returns 0 or -1 with err. */
int web_check(const char *listen, const char *token, char *err, size_t errlen);

/* Starts the bridge on ctx (the daemon's ZeroMQ context, not owned):
 * binds the HTTP port, then the thread connects to o->requests and
 * o->events. Returns the bridge, or NULL with err. */
web_t *web_new(void *ctx, const web_opts_t *o, char *err, size_t errlen);

/* Stops the thread, closes its sockets and connections; safe on NULL,
 * nulls *self_p. */
void web_destroy(web_t **self_p);

/* Parses a message a page sent on its WebSocket (len bytes, outside
 * input): a JSON object {"id": 0..1e9, "type": "text", "body": {...}}
 * ("body" optional). Types with binary frames (audio, photo) are refused.
 * Returns 0 with *id, type and *body (a new reference) filled, or -1 with
 * err. */
int web_page_message(const char *data, size_t len, long long *id, char *type, size_t typelen,
                     json_t **body, char *err, size_t errlen);

/* Checks a session id from a URL: 1..64 bytes of letters, digits and
 * "._:-". */
bool web_session_valid(const char *session);

/* Maps a photo URL path (after "/photo/") to a file the catalogue names:
 * a relative path of letters, digits and "._-/" without "..", ending in
 * .png, .jpg, .jpeg or .bmp, looked up as the visual index does (the data
 * directory, then data/demo). Returns the path in buf, or NULL. */
const char *web_photo_file(const char *rel, char *buf, size_t len);

#endif
