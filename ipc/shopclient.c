/* ipc/shopclient.c: the installed client library (see shopclient.h), a thin
 * layer over the internal ipc/client (the one place the client side of
 * the request and event patterns lives) that speaks JSON text. */
#include "config.h"

#include "ipc/shopclient.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "ipc/client.h"
#include "ipc/proto.h"

#define S_FILE_MAX (64 * 1024 * 1024)

struct _shopclient_t {
    client_t *client;                      /* the DEALER side */
    int timeout_ms;                        /* per request */
    char session[PROTO_SESSION_MAX + 1];   /* "" = none */
    char errmsg[512];                      /* last error, "" after a success */
};

struct _shopclient_events_t {
    client_sub_t *sub;
};

/* the proto codes and the library's share their order up to the timeout */
_Static_assert((int) SHOPCLIENT_E_TIMEOUT == (int) PROTO_E_TIMEOUT,
               "shopclient_error_t follows proto_err_t");

const char *
shopclient_strerror(shopclient_error_t code)
{
    static const char *const text[] = {
        [SHOPCLIENT_OK] = "success",
        [SHOPCLIENT_E_MALFORMED] = "shopd could not read the request",
        [SHOPCLIENT_E_VERSION] = "protocol version not spoken by shopd",
        [SHOPCLIENT_E_UNKNOWN_TYPE] = "unknown request type",
        [SHOPCLIENT_E_TOO_LARGE] = "request too large",
        [SHOPCLIENT_E_FRAMES] = "wrong number of binary frames",
        [SHOPCLIENT_E_INVALID] = "invalid request",
        [SHOPCLIENT_E_NOT_FOUND] = "not found",
        [SHOPCLIENT_E_NOT_AVAILABLE] = "not available in this shopd",
        [SHOPCLIENT_E_STORE] = "shopd's database refused the change",
        [SHOPCLIENT_E_INTERNAL] = "internal error in shopd",
        [SHOPCLIENT_E_TIMEOUT] = "no reply within the timeout",
        [SHOPCLIENT_E_ARGUMENT] = "bad argument",
        [SHOPCLIENT_E_CONNECT] = "cannot set up the connection",
        [SHOPCLIENT_E_IO] = "input/output error",
    };
    if ((int) code < 0 || (size_t) code >= sizeof text / sizeof text[0])
        return "unknown error";
    return text[code];
}

static shopclient_t *
s_new(const char *endpoint, const client_curve_t *curve, shopclient_error_t *error)
{
    char def[512], err[512];
    if (!endpoint)
        endpoint = getenv("SHOPD_ENDPOINT");
    if (!endpoint)
        endpoint = proto_default_endpoint(false, def, sizeof def);
    if (!endpoint) {
        if (error)
            *error = SHOPCLIENT_E_CONNECT;
        return NULL;
    }
    client_t *cl = client_new(endpoint, curve, err, sizeof err);
    if (!cl) {
        if (error)
            *error = SHOPCLIENT_E_CONNECT;
        return NULL;
    }
    shopclient_t *self = xcalloc(1, sizeof *self);
    self->client = cl;
    self->timeout_ms = 5000;
    if (error)
        *error = SHOPCLIENT_OK;
    return self;
}

shopclient_t *
shopclient_new(const char *endpoint, shopclient_error_t *error)
{
    return s_new(endpoint, NULL, error);
}

shopclient_t *
shopclient_new_curve(const char *endpoint, const char *server_public, const char *client_public,
                     const char *client_secret, shopclient_error_t *error)
{
    if (!server_public || !client_public || !client_secret) {
        if (error)
            *error = SHOPCLIENT_E_ARGUMENT;
        return NULL;
    }
    client_curve_t curve = { server_public, client_public, client_secret };
    return s_new(endpoint, &curve, error);
}

void
shopclient_destroy(shopclient_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    client_destroy(&(*self_p)->client);
    free(*self_p);
    *self_p = NULL;
}

void
shopclient_set_timeout(shopclient_t *self, int timeout_ms)
{
    if (self && timeout_ms > 0)
        self->timeout_ms = timeout_ms;
}

void
shopclient_set_session(shopclient_t *self, const char *session)
{
    if (self)
        shop_strlcpy(self->session, session ? session : "", sizeof self->session);
}

const char *
shopclient_errmsg(const shopclient_t *self)
{
    return self ? self->errmsg : "no client";
}

static shopclient_error_t
s_fail(shopclient_t *self, shopclient_error_t code, const char *msg)
{
    snprintf(self->errmsg, sizeof self->errmsg, "%s", msg);
    return code;
}

shopclient_error_t
shopclient_request(shopclient_t *self, const char *type, const char *body_json,
                   const void *frame, size_t frame_len, char **reply_json)
{
    if (reply_json)
        *reply_json = NULL;
    if (!self)
        return SHOPCLIENT_E_ARGUMENT;
    if (!type || !*type || !reply_json)
        return s_fail(self, SHOPCLIENT_E_ARGUMENT, "type and reply_json are required");
    json_t *body = NULL;
    if (body_json) {
        json_error_t jerr;
        body = json_loads(body_json, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(body)) {
            json_decref(body);
            char msg[300];
            snprintf(msg, sizeof msg, "the body is not a JSON object: %s", jerr.text);
            return s_fail(self, SHOPCLIENT_E_ARGUMENT, msg);
        }
    }
    const void *frames[1] = { frame };
    size_t sizes[1] = { frame_len };
    proto_reply_t r;
    char err[512];
    int rc = client_request(self->client, type, self->session[0] ? self->session : NULL, body,
                            frames, sizes, frame ? 1 : 0, self->timeout_ms, &r, err,
                            sizeof err);
    json_decref(body);
    if (rc != 0)
        return s_fail(self, r.code == PROTO_E_TIMEOUT ? SHOPCLIENT_E_TIMEOUT : SHOPCLIENT_E_IO,
                      err);
    shopclient_error_t code = SHOPCLIENT_OK;
    if (!r.ok) {
        code = r.code > PROTO_OK && r.code < PROTO_E_COUNT ? (shopclient_error_t) r.code
                                                            : SHOPCLIENT_E_INTERNAL;
        s_fail(self, code, r.message);
    } else {
        *reply_json = json_dumps(r.body ? r.body : json_object(), JSON_COMPACT);
        self->errmsg[0] = 0;
        if (!*reply_json)
            code = s_fail(self, SHOPCLIENT_E_IO, "cannot encode the reply");
    }
    proto_reply_clear(&r);
    return code;
}

shopclient_error_t
shopclient_text(shopclient_t *self, const char *text, char **reply_json)
{
    if (reply_json)
        *reply_json = NULL;
    if (!self)
        return SHOPCLIENT_E_ARGUMENT;
    if (!text)
        return s_fail(self, SHOPCLIENT_E_ARGUMENT, "no text");
    json_t *b = json_pack("{s:s}", "text", text);
    char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (!body)
        return s_fail(self, SHOPCLIENT_E_ARGUMENT, "the text is not UTF-8");
    shopclient_error_t rc = shopclient_request(self, "text", body, NULL, 0, reply_json);
    free(body);
    return rc;
}

shopclient_error_t
shopclient_send_file(shopclient_t *self, const char *type, const char *path, char **reply_json)
{
    if (reply_json)
        *reply_json = NULL;
    if (!self)
        return SHOPCLIENT_E_ARGUMENT;
    if (!path)
        return s_fail(self, SHOPCLIENT_E_ARGUMENT, "no file");
    char err[512];
    size_t len = 0;
    uint8_t *data = shop_read_file(path, S_FILE_MAX, &len, err, sizeof err);
    if (!data)
        return s_fail(self, SHOPCLIENT_E_IO, err);
    json_t *b = json_pack("{s:s}", "name", path);
    char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    shopclient_error_t rc = body ? shopclient_request(self, type, body, data, len, reply_json)
                                 : s_fail(self, SHOPCLIENT_E_ARGUMENT, "the path is not UTF-8");
    free(body);
    free(data);
    return rc;
}

shopclient_events_t *
shopclient_events_new(const char *endpoint, const char *session, const char *const *types,
                      shopclient_error_t *error)
{
    char def[512], err[512];
    if (!endpoint)
        endpoint = getenv("SHOPD_EVENTS_ENDPOINT");
    if (!endpoint)
        endpoint = proto_default_endpoint(true, def, sizeof def);
    client_sub_t *sub = endpoint ? client_sub_new(endpoint, NULL, session, types, err, sizeof err) : NULL;
    if (!sub) {
        if (error)
            *error = SHOPCLIENT_E_CONNECT;
        return NULL;
    }
    shopclient_events_t *self = xcalloc(1, sizeof *self);
    self->sub = sub;
    if (error)
        *error = SHOPCLIENT_OK;
    return self;
}

shopclient_error_t
shopclient_events_next(shopclient_events_t *self, int timeout_ms, char **topic,
                       char **event_json)
{
    if (topic)
        *topic = NULL;
    if (event_json)
        *event_json = NULL;
    if (!self || !topic || !event_json)
        return SHOPCLIENT_E_ARGUMENT;
    char t[64], err[512];
    json_t *ev = NULL;
    int rc = client_sub_recv(self->sub, timeout_ms, t, sizeof t, &ev, err, sizeof err);
    if (rc == 1)
        return SHOPCLIENT_E_TIMEOUT;
    if (rc != 0)
        return SHOPCLIENT_E_IO;
    *event_json = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    *topic = strdup(t);
    if (!*event_json || !*topic) {
        free(*event_json);
        free(*topic);
        *event_json = *topic = NULL;
        return SHOPCLIENT_E_IO;
    }
    return SHOPCLIENT_OK;
}

void
shopclient_events_destroy(shopclient_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    client_sub_destroy(&(*self_p)->sub);
    free(*self_p);
    *self_p = NULL;
}

void
shopclient_free(void *p)
{
    free(p);
}
