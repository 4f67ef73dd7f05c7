/* tests/daemon_web_test.c: the kiosk page bridge's parsers of outside input
 * (daemon/web.h), each with the one right answer: listen addresses and the
 * loopback rule, session ids, page messages, photo paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/web.h"

static void
test_listen_addresses(void **state)
{
    (void) state;
    char addr[WEB_LISTEN_MAX], err[256];
    int port = 0;
    assert_int_equal(web_parse_listen("127.0.0.1:8080", addr, sizeof addr, &port, err,
                                      sizeof err), 0);
    assert_string_equal(addr, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(web_parse_listen("[::1]:80", addr, sizeof addr, &port, err, sizeof err), 0);
    assert_string_equal(addr, "::1");
    assert_int_equal(port, 80);
    assert_int_equal(web_parse_listen("localhost:65535", addr, sizeof addr, &port, err,
                                      sizeof err), 0);
    assert_int_equal(port, 65535);
    static const char *const bad[] = { "", "8080", "127.0.0.1:", "127.0.0.1:0",
                                       "127.0.0.1:65536", "127.0.0.1:80x", ":80", "::1:80",
                                       "[::1]80", "127.0.0.1:-1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(web_parse_listen(bad[i], addr, sizeof addr, &port, err, sizeof err),
                         -1);
        assert_non_null(strstr(err, "web: "));
    }
    assert_true(web_addr_is_loopback("127.0.0.1"));
    assert_true(web_addr_is_loopback("127.255.0.9"));
    assert_true(web_addr_is_loopback("::1"));
    assert_true(web_addr_is_loopback("localhost"));
    assert_false(web_addr_is_loopback("0.0.0.0"));
    assert_false(web_addr_is_loopback("10.1.2.3"));
    assert_false(web_addr_is_loopback("::"));
    assert_false(web_addr_is_loopback("kiosk.example"));
}

static void
test_loopback_only_without_a_token(void **state)
{
    (void) state;
    char err[256];
    assert_int_equal(web_check("127.0.0.1:8080", "", err, sizeof err), 0);
    assert_int_equal(web_check("0.0.0.0:8080", "", err, sizeof err), -1);
    assert_string_equal(err, "web: refusing to serve the kiosk page on 0.0.0.0:8080 without a "
                             "token ([web] token)");
    assert_int_equal(web_check("0.0.0.0:8080", "s3cret", err, sizeof err), 0);
    assert_int_equal(web_check("kiosk.example:8080", "s3cret", err, sizeof err), -1);
    assert_string_equal(err, "web: \"kiosk.example\" is not an IP address or localhost");
    char long_token[200];
    memset(long_token, 'x', sizeof long_token - 1);
    long_token[sizeof long_token - 1] = 0;
    assert_int_equal(web_check("0.0.0.0:8080", long_token, err, sizeof err), -1);
}

static void
test_session_ids(void **state)
{
    (void) state;
    assert_true(web_session_valid("kiosk-1"));
    assert_true(web_session_valid("shop.floor:2_a"));
    char max[65];
    memset(max, 'a', 64);
    max[64] = 0;
    assert_true(web_session_valid(max));
    char over[66];
    memset(over, 'a', 65);
    over[65] = 0;
    assert_false(web_session_valid(over));
    assert_false(web_session_valid(""));
    assert_false(web_session_valid("no spaces"));
    assert_false(web_session_valid("a/b"));
    assert_false(web_session_valid("k\xc3\xa9"));
}

static void
test_page_messages(void **state)
{
    (void) state;
    long long id;
    char type[40], err[256];
    json_t *body;
    const char *ok = "{\"id\": 7, \"type\": \"text\", \"body\": {\"text\": \"show me bags\"}}";
    assert_int_equal(web_page_message(ok, strlen(ok), &id, type, sizeof type, &body, err,
                                      sizeof err), 0);
    assert_int_equal(id, 7);
    assert_string_equal(type, "text");
    assert_string_equal(json_string_value(json_object_get(body, "text")), "show me bags");
    json_decref(body);
    const char *nobody = "{\"id\": 0, \"type\": \"session\"}";
    assert_int_equal(web_page_message(nobody, strlen(nobody), &id, type, sizeof type, &body,
                                      err, sizeof err), 0);
    assert_int_equal(json_object_size(body), 0);
    json_decref(body);
    static const struct {
        const char *msg, *why;
    } bad[] = {
        { "not json", "not a JSON object" },
        { "[1]", "not a JSON object" },
        { "{\"id\": -1, \"type\": \"text\"}", "\"id\" must be" },
        { "{\"id\": 1000000001, \"type\": \"text\"}", "\"id\" must be" },
        { "{\"id\": \"7\", \"type\": \"text\"}", "\"id\" must be" },
        { "{\"id\": 1, \"type\": \"\"}", "\"type\" must be" },
        { "{\"id\": 1}", "\"type\" must be" },
        { "{\"id\": 1, \"type\": \"text\", \"body\": []}", "\"body\" must be an object" },
        { "{\"id\": 1, \"type\": \"audio\"}", "takes a file" },
        { "{\"id\": 1, \"type\": \"photo\"}", "takes a file" },
        { "{\"id\": 1, \"id\": 2, \"type\": \"text\"}", "not a JSON object" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body = (json_t *) 1;
        assert_int_equal(web_page_message(bad[i].msg, strlen(bad[i].msg), &id, type,
                                          sizeof type, &body, err, sizeof err), -1);
        assert_null(body);
        if (!strstr(err, bad[i].why))
            fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].msg, err, bad[i].why);
    }
}

static void
test_photo_paths(void **state)
{
    (void) state;
    char buf[1024], want[1024];
    /* the demo store's catalogue names photos/<id>.png, found under data/demo */
    const char *f = web_photo_file("photos/bag-01.png", buf, sizeof buf);
    assert_non_null(f);
    snprintf(want, sizeof want, "%s/data/demo/photos/bag-01.png", getenv("SHOPD_DATADIR"));
    assert_string_equal(f, want);
    static const char *const refused[] = { "../models/kws.nn", "photos/../../LICENSE.png",
                                           "/etc/passwd.png", "photos/bag-01.gif",
                                           "photos/bag 01.png", "", "photos/no-such-01.png",
                                           "models/kws.nn" };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (web_photo_file(refused[i], buf, sizeof buf))
            fail_msg("\"%s\" was served as %s", refused[i], buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_addresses),
        cmocka_unit_test(test_loopback_only_without_a_token),
        cmocka_unit_test(test_session_ids),
        cmocka_unit_test(test_page_messages),
        cmocka_unit_test(test_photo_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
