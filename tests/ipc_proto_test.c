/* tests/ipc_proto_test.c: ipc/proto (envelopes, error codes), ipc/sock
 * (endpoint locality) and ipc/keys (key files, allow-lists) self-test */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/keys.h"
#include "ipc/proto.h"
#include "ipc/sock.h"

static proto_err_t
s_decode(const char *text, proto_request_t *req, char *err)
{
    return proto_request_decode(text, strlen(text), req, err, 256);
}

static void
test_request_roundtrip(void **state)
{
    (void) state;
    json_t *body = json_pack("{s:s, s:i}", "item", "sneaker-03", "quantity", 2);
    size_t len;
    char *env = proto_request_encode("r-1", "cart", "kiosk-1", body, &len);
    assert_int_equal(len, strlen(env));
    proto_request_t req;
    char err[256];
    assert_int_equal(proto_request_decode(env, len, &req, err, sizeof err), PROTO_OK);
    assert_int_equal(req.version, PROTO_VERSION);
    assert_string_equal(req.id, "r-1");
    assert_string_equal(req.type, "cart");
    assert_string_equal(req.session, "kiosk-1");
    assert_true(json_equal(req.body, body));
    proto_request_clear(&req);
    assert_null(req.body);
    free(env);
    json_decref(body);
}

static void
test_request_refusals(void **state)
{
    (void) state;
    proto_request_t req;
    char err[256];
    /* not JSON at all */
    assert_int_equal(s_decode("\x01\x02garbage", &req, err), PROTO_E_MALFORMED);
    assert_non_null(strstr(err, "not JSON"));
    assert_string_equal(req.id, "");
    /* JSON but not an object */
    assert_int_equal(s_decode("[1,2]", &req, err), PROTO_E_MALFORMED);
    /* wrong version: refused, and the id is kept for the error reply */
    assert_int_equal(s_decode("{\"v\":2,\"id\":\"a7\",\"type\":\"status\"}", &req, err),
                     PROTO_E_VERSION);
    assert_string_equal(req.id, "a7");
    assert_non_null(strstr(err, "version 2"));
    /* missing version */
    assert_int_equal(s_decode("{\"id\":\"a8\",\"type\":\"status\"}", &req, err),
                     PROTO_E_MALFORMED);
    assert_string_equal(req.id, "a8");
    /* id of the wrong type, too long, empty */
    assert_int_equal(s_decode("{\"v\":1,\"id\":5,\"type\":\"status\"}", &req, err),
                     PROTO_E_MALFORMED);
    char longid[200];
    snprintf(longid, sizeof longid, "{\"v\":1,\"id\":\"%070d\",\"type\":\"status\"}", 0);
    assert_int_equal(s_decode(longid, &req, err), PROTO_E_MALFORMED);
    assert_int_equal(s_decode("{\"v\":1,\"id\":\"\",\"type\":\"status\"}", &req, err),
                     PROTO_E_MALFORMED);
    /* body must be an object; missing type */
    assert_int_equal(s_decode("{\"v\":1,\"id\":\"x\",\"type\":\"status\",\"body\":3}", &req, err),
                     PROTO_E_MALFORMED);
    assert_int_equal(s_decode("{\"v\":1,\"id\":\"x\"}", &req, err), PROTO_E_MALFORMED);
    /* duplicate keys are refused rather than silently resolved */
    assert_int_equal(s_decode("{\"v\":1,\"id\":\"x\",\"type\":\"a\",\"type\":\"b\"}", &req, err),
                     PROTO_E_MALFORMED);
    /* an embedded NUL in the data does not reach the strings */
    assert_int_equal(proto_request_decode("{\"v\":1,\0}", 9, &req, err, sizeof err),
                     PROTO_E_MALFORMED);
    /* oversized envelope */
    size_t big = PROTO_ENVELOPE_MAX + 1;
    char *b = malloc(big);
    memset(b, ' ', big);
    assert_int_equal(proto_request_decode(b, big, &req, err, sizeof err), PROTO_E_TOO_LARGE);
    free(b);
    /* absent body becomes an empty object */
    assert_int_equal(s_decode("{\"v\":1,\"id\":\"x\",\"type\":\"status\"}", &req, err), PROTO_OK);
    assert_true(json_is_object(req.body));
    assert_int_equal(json_object_size(req.body), 0);
    assert_string_equal(req.session, "");
    proto_request_clear(&req);
}

static void
test_reply_roundtrip(void **state)
{
    (void) state;
    proto_reply_t r;
    char err[256];
    size_t len;
    json_t *body = json_pack("{s:i}", "items", 40);
    char *env = proto_reply_encode_ok("q1", "status", body, &len);
    assert_int_equal(proto_reply_decode(env, len, &r, err, sizeof err), PROTO_OK);
    assert_true(r.ok);
    assert_string_equal(r.id, "q1");
    assert_int_equal(json_integer_value(json_object_get(r.body, "items")), 40);
    proto_reply_clear(&r);
    free(env);
    json_decref(body);

    env = proto_reply_encode_error(NULL, NULL, PROTO_E_VERSION, "speak 1", &len);
    assert_non_null(strstr(env, "\"id\":null"));
    assert_non_null(strstr(env, "\"code\":\"bad_version\""));
    assert_int_equal(proto_reply_decode(env, len, &r, err, sizeof err), PROTO_OK);
    assert_false(r.ok);
    assert_int_equal(r.code, PROTO_E_VERSION);
    assert_string_equal(r.message, "speak 1");
    assert_null(r.body);
    free(env);
    /* an error reply carries a sentence a speaker can say, never an id */
    env = proto_reply_encode_error("q3", "cart", PROTO_E_NOT_FOUND, "no product \"x-01\"", &len);
    assert_non_null(strstr(env, "\"say\":\"Sorry, I cannot find that.\""));
    free(env);
    for (int i = 1; i < PROTO_E_COUNT; i++)
        assert_true(strncmp(proto_err_say((proto_err_t) i), "Sorry, ", 7) == 0);
    assert_string_equal(proto_err_say(PROTO_OK), "");
    /* a message that is not UTF-8 still yields a valid reply */
    env = proto_reply_encode_error("q2", "x", PROTO_E_MALFORMED, "bad \xff byte", &len);
    assert_int_equal(proto_reply_decode(env, len, &r, err, sizeof err), PROTO_OK);
    assert_int_equal(r.code, PROTO_E_MALFORMED);
    free(env);
}

static void
test_error_names_stable(void **state)
{
    (void) state;
    /* these names are on the wire: changing one breaks every frontend */
    assert_string_equal(proto_err_name(PROTO_E_MALFORMED), "malformed");
    assert_string_equal(proto_err_name(PROTO_E_VERSION), "bad_version");
    assert_string_equal(proto_err_name(PROTO_E_UNKNOWN_TYPE), "unknown_type");
    assert_string_equal(proto_err_name(PROTO_E_TOO_LARGE), "too_large");
    assert_string_equal(proto_err_name(PROTO_E_FRAMES), "bad_frames");
    assert_string_equal(proto_err_name(PROTO_E_NOT_AVAILABLE), "not_available");
    assert_string_equal(proto_err_name((proto_err_t) 999), "unknown");
    for (int i = 0; i < PROTO_E_COUNT; i++)
        assert_int_equal(proto_err_from_name(proto_err_name((proto_err_t) i)), i);
    assert_int_equal(proto_err_from_name("nope"), -1);
}

static void
test_event_encode(void **state)
{
    (void) state;
    json_t *body = json_pack("{s:s}", "intent", "search");
    size_t len;
    char *env = proto_event_encode("intent", 7, 1700000000.5, "kiosk-2", body, &len);
    json_t *j = json_loadb(env, len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "v")), PROTO_VERSION);
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), 7);
    assert_string_equal(json_string_value(json_object_get(j, "session")), "kiosk-2");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "body"), "intent")),
                        "search");
    json_decref(j);
    json_decref(body);
    free(env);
}

static void
test_endpoint_locality(void **state)
{
    (void) state;
    assert_true(sock_endpoint_is_local("ipc:///run/shopd/shopd.sock"));
    assert_true(sock_endpoint_is_local("inproc://x"));
    assert_true(sock_endpoint_is_local("tcp://127.0.0.1:5555"));
    assert_true(sock_endpoint_is_local("tcp://127.1.2.3:1"));
    assert_true(sock_endpoint_is_local("tcp://[::1]:5555"));
    assert_true(sock_endpoint_is_local("tcp://localhost:5555"));
    assert_false(sock_endpoint_is_local("tcp://*:5555"));
    assert_false(sock_endpoint_is_local("tcp://0.0.0.0:5555"));
    assert_false(sock_endpoint_is_local("tcp://127.0.0.1.evil.com:5555"));
    assert_false(sock_endpoint_is_local("tcp://eth0:5555"));
    assert_false(sock_endpoint_is_local("tcp://127.0.0.1;10.0.0.1:5555"));
    assert_false(sock_endpoint_is_local("udp://127.0.0.1:5555"));
    assert_false(sock_endpoint_is_local(NULL));
}

static void
test_keys_files(void **state)
{
    (void) state;
    char dir[] = "/tmp/shop-keys-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char base[128], kpath[160], ppath[160], apath[160], err[512];
    snprintf(base, sizeof base, "%s/client", dir);
    snprintf(kpath, sizeof kpath, "%s.key", base);
    snprintf(ppath, sizeof ppath, "%s.pub", base);
    snprintf(apath, sizeof apath, "%s/allow", dir);
    char pub[41], sec[41], pub2[41], sec2[41];
    assert_int_equal(keys_generate(pub, sec, err, sizeof err), 0);
    assert_true(keys_valid_z85(pub));
    assert_int_equal(keys_write_pair(base, pub, sec, err, sizeof err), 0);
    /* the secret file is private; writing again is refused */
    struct stat st;
    assert_int_equal(stat(kpath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(keys_write_pair(base, pub, sec, err, sizeof err), -1);
    assert_int_equal(keys_read(kpath, pub2, sec2, err, sizeof err), 0);
    assert_string_equal(pub2, pub);
    assert_string_equal(sec2, sec);
    /* the .pub file has no secret key */
    assert_int_equal(keys_read(ppath, pub2, sec2, err, sizeof err), -1);
    assert_int_equal(keys_read(ppath, pub2, NULL, err, sizeof err), 0);
    assert_string_equal(pub2, pub);

    /* an allow-list mixing bare keys with names, .pub contents and comments */
    char other[41], osec[41];
    assert_int_equal(keys_generate(other, osec, err, sizeof err), 0);
    FILE *f = fopen(apath, "w");
    fprintf(f, "# kiosks\n\n%s kiosk-1\n  public-key = %s\n", other, pub);
    fclose(f);
    char (*keys)[KEYS_Z85_LEN + 1] = NULL;
    size_t n = 0;
    assert_int_equal(keys_read_allowlist(apath, &keys, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0], other);
    assert_string_equal(keys[1], pub);
    free(keys);
    /* one bad line refuses the whole list, naming the line */
    f = fopen(apath, "a");
    fprintf(f, "not-a-key\n");
    fclose(f);
    keys = NULL;
    assert_int_equal(keys_read_allowlist(apath, &keys, &n, err, sizeof err), -1);
    assert_null(keys);
    assert_non_null(strstr(err, "line 5"));
    unlink(kpath);
    unlink(ppath);
    unlink(apath);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_roundtrip),
        cmocka_unit_test(test_request_refusals),
        cmocka_unit_test(test_reply_roundtrip),
        cmocka_unit_test(test_error_names_stable),
        cmocka_unit_test(test_event_encode),
        cmocka_unit_test(test_endpoint_locality),
        cmocka_unit_test(test_keys_files),
    };
    return cmocka_run_group_tests_name("ipc_proto", tests, NULL, NULL);
}
