/* tests/daemon_test.c: integration tests of a real shopd process over real
 * ZeroMQ sockets (ipc:// in a temporary directory, or loopback TCP for
 * CURVE), each with its own temporary database:
 * status; catalogue; events acknowledged and present after a restart; a cart
 * surviving a restart; malformed frames, oversized messages, unknown types, a
 * wrong protocol version and an unknown CURVE key refused while a second,
 * well-behaved client keeps being served; SIGTERM exits 0; SIGHUP with a
 * broken config keeps the old one; the event stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "common/util.h"
#include "ipc/client.h"
#include "ipc/keys.h"
#include "ipc/proto.h"
#include "recommend/store.h"
#include "tests/shopd_harness.h"

/* the shopd of the running test: static, so teardown can stop it after a
 * failed assertion */
static harness_t s_d;

/* Sends one request and waits for its reply; returns 0 and fills r. */
static int
s_req(client_t *c, const char *type, const char *session, json_t *body, int timeout,
      proto_reply_t *r)
{
    char err[512];
    int rc = client_request(c, type, session, body, NULL, NULL, 0, timeout, r, err, sizeof err);
    json_decref(body);
    return rc;
}

static int
s_teardown(void **state)
{
    (void) state;
    harness_cleanup(&s_d);
    return 0;
}

/* Reads an integer at body.a.b (b may be NULL). */
static json_int_t
s_int(const json_t *body, const char *a, const char *b)
{
    const json_t *v = json_object_get(body, a);
    if (b)
        v = json_object_get(v, b);
    if (!json_is_integer(v))
        fail_msg("no integer at %s%s%s", a, b ? "." : "", b ? b : "");
    return json_integer_value(v);
}

/* Puts a small catalogue into the database before shopd starts. */
static void
s_seed_catalogue(const char *db)
{
    char *err = NULL;
    store_t *st = store_open(db, &err);
    assert_non_null(st);
    const char *cats[] = { "sneaker", "sneaker", "bag", "shirt" };
    for (int i = 0; i < 4; i++) {
        store_item_t it = { .price = 10.0 + i, .in_stock = true };
        snprintf(it.id, sizeof it.id, "%s-%02d", cats[i], i);
        snprintf(it.name, sizeof it.name, "Test %s %d", cats[i], i);
        snprintf(it.category, sizeof it.category, "%s", cats[i]);
        snprintf(it.attributes, sizeof it.attributes, "{\"colour\":\"red\"}");
        assert_int_equal(store_item_upsert(st, &it), 0);
    }
    store_close(&st);
}

/* --------------------------------------------------------------------------- */

static void
test_status_and_sigterm_exit_0(void **state)
{
    (void) state;
    harness_t *dp = &s_d;
    harness_prepare(dp, "test", NULL);
    harness_start(dp);
    client_t *c = harness_client(dp);
    proto_reply_t r;
    assert_int_equal(s_req(c, "status", NULL, NULL, 2000, &r), 0);
    assert_true(r.ok);
    assert_string_equal(r.type, "status");
    assert_int_equal(s_int(r.body, "protocol", NULL), PROTO_VERSION);
    assert_int_equal(s_int(r.body, "pid", NULL), dp->pid);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "store"),
                                                          "database")), dp->db);
    assert_false(json_is_true(json_object_get(r.body, "curve")));
    proto_reply_clear(&r);
    client_destroy(&c);
    assert_int_equal(harness_stop(dp, SIGTERM), 0);
    /* the database exists and is in WAL mode */
    struct stat st;
    assert_int_equal(stat(dp->db, &st), 0);
    harness_cleanup(dp);
}

static void
test_catalogue(void **state)
{
    (void) state;
    harness_t *dp = &s_d;
    harness_prepare(dp, "test", NULL);
    s_seed_catalogue(dp->db);
    harness_start(dp);
    client_t *c = harness_client(dp);
    proto_reply_t r;
    assert_int_equal(s_req(c, "catalogue", NULL, json_pack("{s:s}", "op", "list"), 2000, &r), 0);
    assert_true(r.ok);
    assert_int_equal(s_int(r.body, "count", NULL), 4);
    const json_t *first = json_array_get(json_object_get(r.body, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), "bag-02");
    assert_string_equal(json_string_value(json_object_get(json_object_get(first, "attributes"),
                                                          "colour")), "red");
    proto_reply_clear(&r);
    assert_int_equal(s_req(c, "catalogue", NULL,
                           json_pack("{s:s, s:s}", "op", "list", "category", "sneaker"), 2000, &r), 0);
    assert_int_equal(s_int(r.body, "count", NULL), 2);
    proto_reply_clear(&r);
    assert_int_equal(s_req(c, "catalogue", NULL,
                           json_pack("{s:s, s:s}", "op", "get", "id", "shirt-03"), 2000, &r), 0);
    assert_true(r.ok);
    assert_true(json_real_value(json_object_get(json_object_get(r.body, "item"), "price")) == 13.0);
    proto_reply_clear(&r);
    assert_int_equal(s_req(c, "catalogue", NULL,
                           json_pack("{s:s, s:s}", "op", "get", "id", "nothing"), 2000, &r), 0);
    assert_false(r.ok);
    assert_int_equal(r.code, PROTO_E_NOT_FOUND);
    proto_reply_clear(&r);
    assert_int_equal(s_req(c, "catalogue", NULL, json_pack("{s:s}", "op", "categories"), 2000,
                           &r), 0);
    assert_int_equal(json_array_size(json_object_get(r.body, "categories")), 3);
    proto_reply_clear(&r);
    assert_int_equal(s_req(c, "catalogue", NULL, json_pack("{s:i}", "limit", 0), 2000, &r), 0);
    assert_int_equal(r.code, PROTO_E_INVALID);
    client_destroy(&c);
    assert_int_equal(harness_stop(dp, SIGTERM), 0);
    harness_cleanup(dp);
}

static void
test_events_and_cart_survive_restart(void **state)
{
    (void) state;
    harness_t *dp = &s_d;
    harness_prepare(dp, "test", NULL);
    s_seed_catalogue(dp->db);
    harness_start(dp);
    client_t *c = harness_client(dp);
    proto_reply_t r;
    const int n_events = 25;
    for (int i = 0; i < n_events; i++) {
        char cust[16];
        snprintf(cust, sizeof cust, "c%03d", i % 5);
        assert_int_equal(s_req(c, "event", "kiosk-1",
                               json_pack("{s:s, s:s, s:s, s:i}", "customer", cust, "item",
                                         "bag-02", "kind", i % 3 ? "view" : "purchase",
                                         "quantity", 1 + i % 2), 2000, &r), 0);
        assert_true(r.ok);
        assert_int_equal(s_int(r.body, "event_id", NULL), i + 1);
        proto_reply_clear(&r);
    }
    /* a bad kind is refused and not recorded */
    assert_int_equal(s_req(c, "event", NULL,
                           json_pack("{s:s, s:s, s:s}", "customer", "c1", "item", "x", "kind",
                                     "steal"), 2000, &r), 0);
    assert_int_equal(r.code, PROTO_E_INVALID);
    assert_int_equal(s_req(c, "cart", "kiosk-1",
                           json_pack("{s:s, s:s, s:i}", "op", "add", "item", "sneaker-00",
                                     "quantity", 2), 2000, &r), 0);
    assert_true(r.ok);
    assert_int_equal(s_int(r.body, "count", NULL), 2);
    proto_reply_clear(&r);
    assert_int_equal(s_req(c, "cart", "kiosk-1",
                           json_pack("{s:s, s:s}", "op", "add", "item", "shirt-03"), 2000, &r), 0);
    proto_reply_clear(&r);
    /* unknown item; no session: the connection's own anonymous one, empty */
    assert_int_equal(s_req(c, "cart", "kiosk-1",
                           json_pack("{s:s, s:s}", "op", "add", "item", "ghost"), 2000, &r), 0);
    assert_int_equal(r.code, PROTO_E_NOT_FOUND);
    assert_int_equal(s_req(c, "cart", NULL, json_pack("{s:s}", "op", "get"), 2000, &r), 0);
    assert_true(r.ok);
    assert_int_equal(s_int(r.body, "count", NULL), 0);
    assert_true(strncmp(json_string_value(json_object_get(r.body, "session")), "anon-", 5) == 0);
    proto_reply_clear(&r);
    client_destroy(&c);
    assert_int_equal(harness_stop(dp, SIGTERM), 0);

    harness_start(dp);
    c = harness_client(dp);
    assert_int_equal(s_req(c, "status", NULL, NULL, 2000, &r), 0);
    assert_int_equal(s_int(r.body, "store", "events"), n_events);
    assert_int_equal(s_int(r.body, "store", "customers"), 5);
    assert_int_equal(s_int(r.body, "store", "purchases"), 9);
    proto_reply_clear(&r);
    assert_int_equal(s_req(c, "cart", "kiosk-1", NULL, 2000, &r), 0);
    assert_true(r.ok);
    const json_t *lines = json_object_get(r.body, "lines");
    assert_int_equal(json_array_size(lines), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "item")),
                        "shirt-03");
    assert_int_equal(s_int(json_array_get(lines, 1), "quantity", NULL), 2);
    assert_int_equal(s_int(r.body, "count", NULL), 3);
    proto_reply_clear(&r);
    /* another session's cart is separate */
    assert_int_equal(s_req(c, "cart", "kiosk-2", NULL, 2000, &r), 0);
    assert_int_equal(s_int(r.body, "count", NULL), 0);
    proto_reply_clear(&r);
    client_destroy(&c);
    assert_int_equal(harness_stop(dp, SIGINT), 0);
    harness_cleanup(dp);
}

/* Sends raw frames on a DEALER socket and returns the decoded reply, or
 * -1 when nothing came back within timeout. */
static int
s_raw(void *sock, const void *const *frames, const size_t *sizes, int n, int timeout,
      proto_reply_t *r)
{
    for (int i = 0; i < n; i++)
        if (zmq_send(sock, frames[i], sizes[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            return -1;
    zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
    if (zmq_poll(&it, 1, timeout) != 1)
        return -1;
    char buf[4096];
    int len = zmq_recv(sock, buf, sizeof buf, 0);
    if (len < 0 || len > (int) sizeof buf)
        return -1;
    char err[256];
    return proto_reply_decode(buf, (size_t) len, r, err, sizeof err) == PROTO_OK ? 0 : -1;
}

/* The well-behaved client's check: status answers promptly. */
static void
s_still_served(client_t *good)
{
    proto_reply_t r;
    assert_int_equal(s_req(good, "status", "good", NULL, 2000, &r), 0);
    assert_true(r.ok);
    proto_reply_clear(&r);
}

static void
test_hostile_frames_refused_others_served(void **state)
{
    (void) state;
    harness_t *dp = &s_d;
    harness_prepare(dp, "test",
                    "[ipc]\nmax_message_size = 1M\nmax_photo_size = 64K\nmax_audio_size = 64K\n"
                    "[store]\nimport_demo = no\n");
    harness_start(dp);
    client_t *good = harness_client(dp);
    client_t *bad = harness_client(dp);
    void *raw = client_socket(bad);
    proto_reply_t r;

    /* 1. garbage instead of an envelope: malformed, id null */
    const void *f1[] = { "\xff\xfe not json" };
    size_t s1[] = { 11 };
    assert_int_equal(s_raw(raw, f1, s1, 1, 2000, &r), 0);
    assert_false(r.ok);
    assert_int_equal(r.code, PROTO_E_MALFORMED);
    assert_string_equal(r.id, "");
    s_still_served(good);

    /* 2. wrong protocol version: bad_version, with the request id */
    const char *v2 = "{\"v\":2,\"id\":\"v2-req\",\"type\":\"status\"}";
    const void *f2[] = { v2 };
    size_t s2[] = { strlen(v2) };
    assert_int_equal(s_raw(raw, f2, s2, 1, 2000, &r), 0);
    assert_int_equal(r.code, PROTO_E_VERSION);
    assert_string_equal(r.id, "v2-req");
    assert_non_null(strstr(r.message, "version 2"));
    s_still_served(good);

    /* 3. unknown type */
    assert_int_equal(s_req(bad, "teleport", NULL, NULL, 2000, &r), 0);
    assert_int_equal(r.code, PROTO_E_UNKNOWN_TYPE);
    assert_non_null(strstr(r.message, "teleport"));
    s_still_served(good);

    /* 4. wrong number of binary frames: status with one, photo with none */
    const char *st = "{\"v\":1,\"id\":\"f4\",\"type\":\"status\"}";
    const void *f4[] = { st, "xx" };
    size_t s4[] = { strlen(st), 2 };
    assert_int_equal(s_raw(raw, f4, s4, 2, 2000, &r), 0);
    assert_int_equal(r.code, PROTO_E_FRAMES);
    assert_int_equal(s_req(bad, "photo", NULL, NULL, 2000, &r), 0);
    assert_int_equal(r.code, PROTO_E_FRAMES);
    /* far too many frames */
    const void *f5[12];
    size_t s5[12];
    f5[0] = st;
    s5[0] = strlen(st);
    for (int i = 1; i < 12; i++)
        f5[i] = "z", s5[i] = 1;
    assert_int_equal(s_raw(raw, f5, s5, 12, 2000, &r), 0);
    assert_int_equal(r.code, PROTO_E_FRAMES);
    assert_string_equal(r.id, "f4");
    s_still_served(good);

    /* 5. a photo over max_photo_size (but under the transport limit): too_large */
    size_t big = 100 * 1024;
    unsigned char *photo = calloc(1, big);
    photo[0] = 0xff, photo[1] = 0xd8, photo[2] = 0xff;
    const void *pf[] = { photo };
    char err[256];
    assert_int_equal(client_request(bad, "photo", NULL, NULL, pf, &big, 1, 2000, &r, err,
                                    sizeof err), 0);
    assert_int_equal(r.code, PROTO_E_TOO_LARGE);
    assert_non_null(strstr(r.message, "65536"));
    /* a photo that is not an image; a truncated PNG: not_available without a
     * product model, invalid (cannot be decoded) with one */
    size_t small = 16;
    memcpy(photo, "GIF89a", 6);
    assert_int_equal(client_request(bad, "photo", NULL, NULL, pf, &small, 1, 2000, &r, err,
                                    sizeof err), 0);
    assert_int_equal(r.code, PROTO_E_INVALID);
    memcpy(photo, "\x89PNG\r\n\x1a\n", 8);
    assert_int_equal(client_request(bad, "photo", NULL, NULL, pf, &small, 1, 2000, &r, err,
                                    sizeof err), 0);
    assert_true(r.code == PROTO_E_NOT_AVAILABLE || r.code == PROTO_E_INVALID);
    proto_reply_clear(&r);
    s_still_served(good);

    /* 5b. an envelope over 64 KiB: too_large, and still answered */
    size_t env_len = PROTO_ENVELOPE_MAX + 100;
    char *env = malloc(env_len);
    memset(env, ' ', env_len);
    memcpy(env, "{\"v\":1", 6);
    const void *fe[] = { env };
    assert_int_equal(s_raw(raw, fe, &env_len, 1, 2000, &r), 0);
    assert_int_equal(r.code, PROTO_E_TOO_LARGE);
    free(env);
    s_still_served(good);

    /* 6. a frame over ZMQ_MAXMSGSIZE: the connection is dropped, no reply,
     *    and the daemon keeps serving everyone else */
    size_t huge = 2 * 1024 * 1024;
    unsigned char *blob = calloc(1, huge);
    const void *f6[] = { blob };
    assert_int_equal(s_raw(raw, f6, &huge, 1, 1000, &r), -1);
    free(blob);
    free(photo);
    s_still_served(good);

    /* 7. a REQ-style client (empty delimiter frame) gets its delimiter back */
    const char *ok = "{\"v\":1,\"id\":\"req-style\",\"type\":\"status\"}";
    client_t *reqc = harness_client(dp);
    const void *f7[] = { "", ok };
    size_t s7[] = { 0, strlen(ok) };
    void *rs = client_socket(reqc);
    for (int i = 0; i < 2; i++)
        zmq_send(rs, f7[i], s7[i], i == 0 ? ZMQ_SNDMORE : 0);
    zmq_pollitem_t it = { .socket = rs, .events = ZMQ_POLLIN };
    assert_int_equal(zmq_poll(&it, 1, 2000), 1);
    char buf[4096];
    assert_int_equal(zmq_recv(rs, buf, sizeof buf, 0), 0); /* the delimiter */
    int len = zmq_recv(rs, buf, sizeof buf, 0);
    assert_true(len > 0);
    assert_int_equal(proto_reply_decode(buf, (size_t) len, &r, err, sizeof err), PROTO_OK);
    assert_string_equal(r.id, "req-style");
    assert_true(r.ok);
    proto_reply_clear(&r);
    client_destroy(&reqc);

    /* the daemon counted every refusal */
    assert_int_equal(s_req(good, "status", NULL, NULL, 2000, &r), 0);
    assert_true(s_int(r.body, "errors", NULL) >= 10);
    proto_reply_clear(&r);
    client_destroy(&bad);
    client_destroy(&good);
    assert_int_equal(harness_stop(dp, SIGTERM), 0);
    harness_cleanup(dp);
}

static void
test_curve_unknown_key_gets_nothing(void **state)
{
    (void) state;
    harness_t *dp = &s_d;
    harness_prepare(dp, "test", NULL);
    char err[512], base[1024], conf[4096];
    char spub[41], ssec[41], gpub[41], gsec[41], bpub[41], bsec[41];
    snprintf(base, sizeof base, "%s/server", dp->dir);
    assert_int_equal(keys_generate(spub, ssec, err, sizeof err), 0);
    assert_int_equal(keys_write_pair(base, spub, ssec, err, sizeof err), 0);
    assert_int_equal(keys_generate(gpub, gsec, err, sizeof err), 0);
    assert_int_equal(keys_generate(bpub, bsec, err, sizeof err), 0);
    char allow[1024];
    snprintf(allow, sizeof allow, "%s/allow", dp->dir);
    char line[100];
    snprintf(line, sizeof line, "%s kiosk-good\n", gpub);
    harness_write(allow, line);
    int p1 = harness_free_port(), p2 = harness_free_port();
    snprintf(dp->ep, sizeof dp->ep, "tcp://127.0.0.1:%d", p1);
    snprintf(dp->pub_ep, sizeof dp->pub_ep, "tcp://127.0.0.1:%d", p2);
    snprintf(conf, sizeof conf,
             "[ipc]\nendpoint = %s\nevents_endpoint = %s\n[curve]\nsecret_key_file = %s.key\n"
             "allow_list = %s\n[store]\nimport_demo = no\n", dp->ep, dp->pub_ep, base, allow);
    harness_write(dp->conf, conf);
    harness_spawn(dp, &(harness_spawn_t) { .conf_endpoints = true });
    client_curve_t good_keys = { spub, gpub, gsec }, bad_keys = { spub, bpub, bsec };
    harness_wait_ready(dp, &good_keys, 60);

    client_t *good = client_new(dp->ep, &good_keys, err, sizeof err);
    client_t *bad = client_new(dp->ep, &bad_keys, err, sizeof err);
    assert_non_null(good);
    assert_non_null(bad);
    proto_reply_t r;
    /* the unknown key: no reply at all, not even an error */
    assert_int_equal(s_req(bad, "status", NULL, NULL, 1500, &r), -1);
    assert_int_equal(r.code, PROTO_E_TIMEOUT);
    /* the allowed key meanwhile works */
    assert_int_equal(s_req(good, "status", NULL, NULL, 2000, &r), 0);
    assert_true(r.ok);
    assert_true(json_is_true(json_object_get(r.body, "curve")));
    assert_int_equal(s_int(r.body, "allowed_keys", NULL), 1);
    assert_true(s_int(r.body, "refused_connections", NULL) >= 1);
    /* the unknown key's request never reached the dispatcher */
    json_int_t requests = s_int(r.body, "requests", NULL);
    proto_reply_clear(&r);
    assert_int_equal(s_req(good, "status", NULL, NULL, 2000, &r), 0);
    assert_int_equal(s_int(r.body, "requests", NULL), requests + 1);
    proto_reply_clear(&r);
    /* a client without keys fails the handshake: no reply either */
    client_t *plain = client_new(dp->ep, NULL, err, sizeof err);
    assert_non_null(plain);
    assert_int_equal(s_req(plain, "status", NULL, NULL, 1000, &r), -1);
    client_destroy(&plain);
    /* SIGHUP with the second key added: admitted, while the first stays connected */
    char both[200];
    snprintf(both, sizeof both, "%s kiosk-good\n%s kiosk-new\n", gpub, bpub);
    harness_write(allow, both);
    assert_int_equal(kill(dp->pid, SIGHUP), 0);
    assert_true(harness_log_has(dp, "reloaded", 10000));
    client_destroy(&bad);
    bad = client_new(dp->ep, &bad_keys, err, sizeof err);
    assert_int_equal(s_req(bad, "status", NULL, NULL, 2000, &r), 0);
    assert_true(r.ok);
    assert_int_equal(s_int(r.body, "allowed_keys", NULL), 2);
    proto_reply_clear(&r);
    s_still_served(good);
    client_destroy(&bad);
    client_destroy(&good);
    assert_int_equal(harness_stop(dp, SIGTERM), 0);
    harness_cleanup(dp);
}

static void
test_open_tcp_without_curve_refused(void **state)
{
    (void) state;
    harness_t *dp = &s_d;
    harness_prepare(dp, "test", NULL);
    snprintf(dp->ep, sizeof dp->ep, "tcp://0.0.0.0:%d", harness_free_port());
    harness_spawn(dp, NULL);
    int st;
    assert_int_equal(waitpid(dp->pid, &st, 0), dp->pid);
    dp->pid = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    size_t len;
    char err[256];
    char *log = (char *) shop_read_file(dp->log, 1 << 20, &len, err, sizeof err);
    assert_non_null(log);
    assert_non_null(strstr(log, "without CURVE"));
    free(log);
    harness_cleanup(dp);
}

static void
test_sighup_broken_config_keeps_old(void **state)
{
    (void) state;
    harness_t *dp = &s_d;
    harness_prepare(dp, "test", "[ipc]\nmax_photo_size = 64K\n[store]\nimport_demo = no\n");
    harness_start(dp);
    client_t *c = harness_client(dp);
    proto_reply_t r;
    char err[256];
    /* a broken file: the reload is refused, clients keep being served */
    harness_write(dp->conf, "[ipc]\nmax_photo_size = lots\n");
    assert_int_equal(kill(dp->pid, SIGHUP), 0);
    assert_true(harness_log_has(dp, "reload refused", 10000));
    assert_int_equal(s_req(c, "status", NULL, NULL, 2000, &r), 0);
    assert_int_equal(s_int(r.body, "reloads", NULL), 0);
    proto_reply_clear(&r);
    /* the old limit (64K) still holds */
    size_t size = 100 * 1024;
    unsigned char *photo = calloc(1, size);
    photo[0] = 0xff, photo[1] = 0xd8, photo[2] = 0xff;
    const void *pf[] = { photo };
    assert_int_equal(client_request(c, "photo", NULL, NULL, pf, &size, 1, 2000, &r, err,
                                    sizeof err), 0);
    assert_int_equal(r.code, PROTO_E_TOO_LARGE);
    /* a good file is taken, on the same connection */
    harness_write(dp->conf, "[ipc]\nmax_photo_size = 1M\n[store]\nimport_demo = no\n");
    assert_int_equal(kill(dp->pid, SIGHUP), 0);
    assert_true(harness_log_has(dp, "reloaded", 10000));
    assert_int_equal(s_req(c, "status", NULL, NULL, 2000, &r), 0);
    assert_int_equal(s_int(r.body, "reloads", NULL), 1);
    proto_reply_clear(&r);
    assert_int_equal(client_request(c, "photo", NULL, NULL, pf, &size, 1, 2000, &r, err,
                                    sizeof err), 0);
    assert_int_not_equal(r.code, PROTO_E_TOO_LARGE);
    proto_reply_clear(&r);
    free(photo);
    client_destroy(&c);
    assert_int_equal(harness_stop(dp, SIGTERM), 0);
    size_t len;
    char *log = (char *) shop_read_file(dp->log, 1 << 20, &len, err, sizeof err);
    assert_non_null(log);
    assert_non_null(strstr(log, "reload refused, keeping the running configuration"));
    assert_non_null(strstr(log, "max_photo_size: not an integer"));
    free(log);
    harness_cleanup(dp);
}

static void
test_event_stream(void **state)
{
    (void) state;
    harness_t *dp = &s_d;
    harness_prepare(dp, "test", "[daemon]\nstatus_interval = 1\n[store]\nimport_demo = no\n");
    s_seed_catalogue(dp->db);
    harness_start(dp);
    char err[512];
    const char *topics[] = { "cart", "status", NULL };
    client_sub_t *sub = client_sub_new(dp->pub_ep, NULL, NULL, topics, err, sizeof err);
    assert_non_null(sub);
    client_t *c = harness_client(dp);
    /* the heartbeat arrives within its period; it proves the subscription is live */
    char topic[64];
    json_t *ev = NULL;
    assert_int_equal(client_sub_recv(sub, 3000, topic, sizeof topic, &ev, err, sizeof err), 0);
    assert_string_equal(topic, "status");
    assert_int_equal(s_int(ev, "v", NULL), PROTO_VERSION);
    assert_true(s_int(ev, "body", "pid") == dp->pid);
    json_decref(ev);
    proto_reply_t r;
    assert_int_equal(s_req(c, "cart", "kiosk-7",
                           json_pack("{s:s, s:s}", "op", "add", "item", "bag-02"), 2000, &r), 0);
    assert_true(r.ok);
    proto_reply_clear(&r);
    bool seen = false;
    for (int i = 0; i < 5 && !seen; i++) {
        if (client_sub_recv(sub, 2000, topic, sizeof topic, &ev, err, sizeof err) != 0)
            break;
        if (!strcmp(topic, "cart")) {
            assert_string_equal(json_string_value(json_object_get(ev, "session")), "kiosk-7");
            assert_int_equal(s_int(ev, "body", "count"), 1);
            seen = true;
        }
        json_decref(ev);
    }
    assert_true(seen);
    client_sub_destroy(&sub);
    client_destroy(&c);
    assert_int_equal(harness_stop(dp, SIGTERM), 0);
    harness_cleanup(dp);
}

#ifdef SHOP_DEMO_ONLY
/* Returns once sub's subscription has reached shopd's PUB socket (a new
 * subscriber misses what is published before): popular recommendations on a
 * probe session until that probe's event arrives; earlier probes' events are
 * consumed. */
static void
s_await_subscription(client_t *c, client_sub_t *sub)
{
    char err[256], topic[64], probe[32];
    for (int n = 1; n <= 100; n++) {
        snprintf(probe, sizeof probe, "probe-%d", n);
        proto_reply_t r;
        assert_int_equal(s_req(c, "recommend", probe,
                               json_pack("{s:s, s:i}", "kind", "popular", "limit", 1), 5000, &r),
                         0);
        assert_true(r.ok);
        proto_reply_clear(&r);
        bool seen = false;
        json_t *ev = NULL;
        while (!seen && client_sub_recv(sub, 100, topic, sizeof topic, &ev, err, sizeof err) == 0) {
            const char *s = json_string_value(json_object_get(ev, "session"));
            seen = s && strcmp(s, probe) == 0;
            json_decref(ev);
            ev = NULL;
        }
        if (seen)
            return;
    }
    fail_msg("the event subscription did not reach shopd after 100 probes");
}

static void
test_demo_store_and_recommendations(void **state)
{
    (void) state;
    harness_t *dp = &s_d;
    harness_prepare(dp, "test", "[store]\nimport_demo = yes\n");
    harness_start(dp);
    char err[512];
    const char *topics[] = { "recommendations", NULL };
    client_sub_t *sub = client_sub_new(dp->pub_ep, NULL, NULL, topics, err, sizeof err);
    assert_non_null(sub);
    client_t *c = harness_client(dp);
    proto_reply_t r;
    assert_int_equal(s_req(c, "status", NULL, NULL, 2000, &r), 0);
    /* the bundled demo store: 250 products and its purchase history */
    assert_int_equal(s_int(r.body, "store", "items"), 250);
    json_int_t events = s_int(r.body, "store", "events");
    assert_true(events > 1000);
    assert_true(json_is_true(json_object_get(json_object_get(r.body, "recommend"), "available")));
    proto_reply_clear(&r);
    s_await_subscription(c, sub);
    assert_int_equal(s_req(c, "recommend", "kiosk-3",
                           json_pack("{s:s, s:i}", "customer", "c0042", "limit", 5), 5000, &r), 0);
    if (!r.ok)
        fail_msg("recommend: %s: %s", proto_err_name(r.code), r.message);
    assert_string_equal(json_string_value(json_object_get(r.body, "kind")), "personal");
    size_t n = json_array_size(json_object_get(r.body, "results"));
    assert_true(n >= 1 && n <= 5);
    proto_reply_clear(&r);
    char topic[64];
    json_t *ev = NULL;
    assert_int_equal(client_sub_recv(sub, 2000, topic, sizeof topic, &ev, err, sizeof err), 0);
    assert_string_equal(topic, "recommendations");
    assert_string_equal(json_string_value(json_object_get(ev, "session")), "kiosk-3");
    json_decref(ev);
    assert_int_equal(s_req(c, "similar", NULL,
                           json_pack("{s:s, s:i, s:s}", "item", "bag-01", "limit", 3, "category",
                                     "bag"), 5000, &r), 0);
    assert_true(r.ok);
    const json_t *res = json_object_get(r.body, "results");
    assert_true(json_array_size(res) >= 1);
    for (size_t i = 0; i < json_array_size(res); i++) {
        const json_t *it = json_array_get(res, i);
        assert_string_equal(json_string_value(json_object_get(it, "category")), "bag");
        assert_string_not_equal(json_string_value(json_object_get(it, "item")), "bag-01");
    }
    proto_reply_clear(&r);
    /* similar without an item, an unknown kind: invalid */
    assert_int_equal(s_req(c, "similar", NULL, NULL, 2000, &r), 0);
    assert_int_equal(r.code, PROTO_E_INVALID);
    assert_int_equal(s_req(c, "recommend", NULL, json_pack("{s:s}", "kind", "psychic"), 2000, &r),
                     0);
    assert_int_equal(r.code, PROTO_E_INVALID);
    client_sub_destroy(&sub);
    client_destroy(&c);
    assert_int_equal(harness_stop(dp, SIGTERM), 0);
    /* a restart does not import again */
    harness_start(dp);
    c = harness_client(dp);
    assert_int_equal(s_req(c, "status", NULL, NULL, 2000, &r), 0);
    assert_int_equal(s_int(r.body, "store", "items"), 250);
    assert_int_equal(s_int(r.body, "store", "events"), events);
    proto_reply_clear(&r);
    client_destroy(&c);
    assert_int_equal(harness_stop(dp, SIGTERM), 0);
    harness_cleanup(dp);
}
#endif

int
main(void)
{
    if (harness_init() != 0) {
        printf("1..0 # SKIP %s not built\n", harness_shopd_bin());
        return 77;
    }
#ifdef SHOP_DEMO_ONLY
    /* built a second time as tests/daemon_demo_test: the parts that need the
     * bundled demo store, skipped (exit 77) where it is not shipped */
    char demo[4096];
    if (!shop_data_path("data/demo/catalogue.csv", demo, sizeof demo)) {
        printf("1..0 # SKIP data/demo/catalogue.csv not found (SHOPD_DATADIR=%s)\n",
               getenv("SHOPD_DATADIR") ? getenv("SHOPD_DATADIR") : "");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_demo_store_and_recommendations, s_teardown),
    };
    return cmocka_run_group_tests_name("daemon_demo", tests, NULL, NULL);
#else
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_status_and_sigterm_exit_0, s_teardown),
        cmocka_unit_test_teardown(test_catalogue, s_teardown),
        cmocka_unit_test_teardown(test_events_and_cart_survive_restart, s_teardown),
        cmocka_unit_test_teardown(test_hostile_frames_refused_others_served, s_teardown),
        cmocka_unit_test_teardown(test_curve_unknown_key_gets_nothing, s_teardown),
        cmocka_unit_test_teardown(test_open_tcp_without_curve_refused, s_teardown),
        cmocka_unit_test_teardown(test_sighup_broken_config_keeps_old, s_teardown),
        cmocka_unit_test_teardown(test_event_stream, s_teardown),
    };
    return cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
#endif
}
