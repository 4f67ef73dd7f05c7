/* ipc/proto.c: see proto.h */
#include "config.h"

#include "ipc/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

static const char *const s_err_names[PROTO_E_COUNT] = {
    [PROTO_OK] = "ok",
    [PROTO_E_MALFORMED] = "malformed",
    [PROTO_E_VERSION] = "bad_version",
    [PROTO_E_UNKNOWN_TYPE] = "unknown_type",
    [PROTO_E_TOO_LARGE] = "too_large",
    [PROTO_E_FRAMES] = "bad_frames",
    [PROTO_E_INVALID] = "invalid",
    [PROTO_E_NOT_FOUND] = "not_found",
    [PROTO_E_NOT_AVAILABLE] = "not_available",
    [PROTO_E_STORE] = "store_error",
    [PROTO_E_INTERNAL] = "internal",
    [PROTO_E_TIMEOUT] = "timeout",
};

const char *
proto_err_name(proto_err_t code)
{
    if ((int) code < 0 || code >= PROTO_E_COUNT)
        return "unknown";
    return s_err_names[code];
}

int
proto_err_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < PROTO_E_COUNT; i++)
        if (strcmp(name, s_err_names[i]) == 0)
            return i;
    return -1;
}

/* Copies the string member key of obj into dst (capacity max+1). Returns 0,
 * 1 when absent (dst ""), or -1 when present but not a string, empty when
 * required, or too long. */
static int
s_get_str(const json_t *obj, const char *key, char *dst, size_t max, bool nonempty)
{
    dst[0] = 0;
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_string(v))
        return -1;
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n > max || (nonempty && n == 0) || memchr(s, 0, n))
        return -1;
    memcpy(dst, s, n + 1);
    return 0;
}

/* Parses an envelope object; shared by requests and replies. Sets *version
 * and returns the object (caller decrefs), or NULL with err filled. */
static json_t *
s_load(const void *data, size_t len, int *version, char *err, size_t errlen)
{
    if (len > PROTO_ENVELOPE_MAX) {
        snprintf(err, errlen, "envelope of %zu bytes over the %d byte limit", len,
                 PROTO_ENVELOPE_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "envelope is not JSON: %s (line %d column %d)", jerr.text,
                 jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "envelope is not a JSON object");
        json_decref(root);
        return NULL;
    }
    const json_t *v = json_object_get(root, "v");
    *version = json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 1000000
                   ? (int) json_integer_value(v) : -1;
    return root;
}

proto_err_t
proto_request_decode(const void *data, size_t len, proto_request_t *req, char *err,
                     size_t errlen)
{
    memset(req, 0, sizeof *req);
    if (len > PROTO_ENVELOPE_MAX) {
        snprintf(err, errlen, "envelope of %zu bytes over the %d byte limit", len,
                 PROTO_ENVELOPE_MAX);
        return PROTO_E_TOO_LARGE;
    }
    json_t *root = s_load(data, len, &req->version, err, errlen);
    if (!root)
        return PROTO_E_MALFORMED;
    proto_err_t rc = PROTO_E_MALFORMED;
    /* The id first, so that every later error reply can carry it. */
    if (s_get_str(root, "id", req->id, PROTO_ID_MAX, true) != 0) {
        snprintf(err, errlen, "\"id\" must be a string of 1 to %d bytes", PROTO_ID_MAX);
        goto out;
    }
    if (req->version < 0) {
        snprintf(err, errlen, "\"v\" (protocol version) missing or not a positive integer");
        goto out;
    }
    if (req->version != PROTO_VERSION) {
        snprintf(err, errlen, "protocol version %d not supported (this daemon speaks %d)",
                 req->version, PROTO_VERSION);
        rc = PROTO_E_VERSION;
        goto out;
    }
    if (s_get_str(root, "type", req->type, PROTO_TYPE_MAX, true) != 0) {
        snprintf(err, errlen, "\"type\" must be a string of 1 to %d bytes", PROTO_TYPE_MAX);
        goto out;
    }
    if (s_get_str(root, "session", req->session, PROTO_SESSION_MAX, false) < 0) {
        snprintf(err, errlen, "\"session\" must be a string of at most %d bytes",
                 PROTO_SESSION_MAX);
        goto out;
    }
    json_t *body = json_object_get(root, "body");
    if (body && !json_is_null(body) && !json_is_object(body)) {
        snprintf(err, errlen, "\"body\" must be a JSON object");
        goto out;
    }
    req->body = body && json_is_object(body) ? json_incref(body) : json_object();
    rc = PROTO_OK;
out:
    json_decref(root);
    return rc;
}

void
proto_request_clear(proto_request_t *req)
{
    if (req && req->body) {
        json_decref(req->body);
        req->body = NULL;
    }
}

/* Dumps root (stolen) compactly; aborts only on out-of-memory like xmalloc.
 * Requests keep every digit of the client's numbers (exact); replies and
 * events print reals with 15 significant digits, so a price of 23.99 reads
 * "23.99" rather than "23.989999999999998". */
static char *
s_dump(json_t *root, size_t *len, bool exact)
{
    char *s = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII
                                   | (exact ? 0 : JSON_REAL_PRECISION(15)));
    json_decref(root);
    if (!s) {
        fprintf(stderr, "proto: out of memory encoding an envelope\n");
        abort();
    }
    if (len)
        *len = strlen(s);
    return s;
}

/* Returns body as a new reference, or a new empty object when body is NULL. */
static json_t *
s_body(const json_t *body)
{
    return body ? json_deep_copy(body) : json_object();
}

char *
proto_request_encode(const char *id, const char *type, const char *session,
                     const json_t *body, size_t *len)
{
    json_t *root = json_object();
    json_object_set_new(root, "v", json_integer(PROTO_VERSION));
    json_object_set_new(root, "id", json_string(id));
    json_object_set_new(root, "type", json_string(type));
    if (session && *session)
        json_object_set_new(root, "session", json_string(session));
    json_object_set_new(root, "body", s_body(body));
    return s_dump(root, len, true);
}

char *
proto_reply_encode_ok(const char *id, const char *type, const json_t *body, size_t *len)
{
    json_t *root = json_object();
    json_object_set_new(root, "v", json_integer(PROTO_VERSION));
    json_object_set_new(root, "id", id && *id ? json_string(id) : json_null());
    json_object_set_new(root, "type", type && *type ? json_string(type) : json_null());
    json_object_set_new(root, "ok", json_true());
    json_object_set_new(root, "body", s_body(body));
    return s_dump(root, len, false);
}

const char *
proto_err_say(proto_err_t code)
{
    switch (code) {
    case PROTO_OK: return "";
    case PROTO_E_TOO_LARGE: return "Sorry, that is too large for me.";
    case PROTO_E_INVALID: return "Sorry, I cannot do that as asked.";
    case PROTO_E_NOT_FOUND: return "Sorry, I cannot find that.";
    case PROTO_E_NOT_AVAILABLE: return "Sorry, I cannot do that right now.";
    case PROTO_E_STORE:
    case PROTO_E_INTERNAL: return "Sorry, something went wrong on my side. Please try again.";
    case PROTO_E_TIMEOUT: return "Sorry, the shop assistant does not answer.";
    default: return "Sorry, that request did not reach me properly.";
    }
}

char *
proto_reply_encode_error(const char *id, const char *type, proto_err_t code,
                         const char *message, size_t *len)
{
    /* (the say sentence: proto_err_say) */
    json_t *root = json_object();
    json_object_set_new(root, "v", json_integer(PROTO_VERSION));
    json_object_set_new(root, "id", id && *id ? json_string(id) : json_null());
    json_object_set_new(root, "type", type && *type ? json_string(type) : json_null());
    json_object_set_new(root, "ok", json_false());
    /* jansson refuses invalid UTF-8; a message quoting client bytes must
     * still produce a reply. */
    json_t *msg = json_string(message ? message : "");
    if (!msg)
        msg = json_string("(message not valid UTF-8)");
    json_object_set_new(root, "error", json_pack("{s:s, s:o, s:s}", "code", proto_err_name(code),
                                                 "message", msg, "say", proto_err_say(code)));
    return s_dump(root, len, false);
}

proto_err_t
proto_reply_decode(const void *data, size_t len, proto_reply_t *reply, char *err,
                   size_t errlen)
{
    memset(reply, 0, sizeof *reply);
    json_t *root = s_load(data, len, &reply->version, err, errlen);
    if (!root)
        return PROTO_E_MALFORMED;
    proto_err_t rc = PROTO_E_MALFORMED;
    if (reply->version != PROTO_VERSION) {
        snprintf(err, errlen, "reply protocol version %d not supported", reply->version);
        rc = PROTO_E_VERSION;
        goto out;
    }
    if (s_get_str(root, "id", reply->id, PROTO_ID_MAX, false) < 0
        || s_get_str(root, "type", reply->type, PROTO_TYPE_MAX, false) < 0) {
        snprintf(err, errlen, "reply \"id\" or \"type\" is not a string");
        goto out;
    }
    const json_t *ok = json_object_get(root, "ok");
    if (!json_is_boolean(ok)) {
        snprintf(err, errlen, "reply has no boolean \"ok\"");
        goto out;
    }
    reply->ok = json_is_true(ok);
    if (reply->ok) {
        json_t *body = json_object_get(root, "body");
        reply->body = json_is_object(body) ? json_incref(body) : json_object();
        reply->code = PROTO_OK;
    } else {
        const json_t *e = json_object_get(root, "error");
        const char *name = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        int code = proto_err_from_name(name);
        if (code <= 0) {
            snprintf(err, errlen, "error reply with an unknown code");
            goto out;
        }
        reply->code = (proto_err_t) code;
        shop_strlcpy(reply->message, msg ? msg : "", sizeof reply->message);
    }
    rc = PROTO_OK;
out:
    json_decref(root);
    return rc;
}

void
proto_reply_clear(proto_reply_t *reply)
{
    if (reply && reply->body) {
        json_decref(reply->body);
        reply->body = NULL;
    }
}

char *
proto_event_encode(const char *type, uint64_t seq, double ts, const char *session,
                   const json_t *body, size_t *len)
{
    json_t *root = json_object();
    json_object_set_new(root, "v", json_integer(PROTO_VERSION));
    json_object_set_new(root, "type", json_string(type));
    json_object_set_new(root, "seq", json_integer((json_int_t) seq));
    json_object_set_new(root, "ts", json_real(ts));
    if (session && *session)
        json_object_set_new(root, "session", json_string(session));
    json_object_set_new(root, "body", s_body(body));
    return s_dump(root, len, false);
}

int
proto_event_topic(const char *type, const char *session, char *buf, size_t buflen)
{
    int n = session && *session ? snprintf(buf, buflen, "@%s/%s", session, type)
                                : snprintf(buf, buflen, "%s", type);
    return n >= 0 && (size_t) n < buflen ? n : -1;
}

const char *
proto_topic_type(const char *topic)
{
    const char *slash = topic[0] == '@' ? strchr(topic, '/') : NULL;
    return slash ? slash + 1 : topic;
}

const char *
proto_default_endpoint(bool events, char *buf, size_t buflen)
{
    const char *name = events ? "events.sock" : "shopd.sock";
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    const char *rt = getenv("RUNTIME_DIRECTORY"); /* set by systemd's RuntimeDirectory= */
    int n;
    if (rt && *rt == '/' && !strchr(rt, ':'))
        n = snprintf(buf, buflen, "ipc://%s/%s", rt, name);
    else if (geteuid() == 0)
        n = snprintf(buf, buflen, "ipc:///run/shopd/%s", name);
    else if (xdg && *xdg == '/')
        n = snprintf(buf, buflen, "ipc://%s/shopd/%s", xdg, name);
    else
        n = snprintf(buf, buflen, "ipc:///tmp/shopd-%u/%s", (unsigned) geteuid(), name);
    return n > 0 && (size_t) n < buflen ? buf : NULL;
}
