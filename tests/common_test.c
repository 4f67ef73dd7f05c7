/* tests/common_test.c: common/ self-test (logging levels, files, data paths) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ratelimit.h"
#include "common/log.h"
#include "common/util.h"

static void
test_log_level_names(void **state)
{
    (void) state;
    assert_int_equal(log_level_from_name("debug"), LOG_DEBUG);
    assert_int_equal(log_level_from_name("warn"), LOG_WARNING);
    assert_int_equal(log_level_from_name("error"), LOG_ERR);
    assert_int_equal(log_level_from_name("loud"), -1);
    assert_int_equal(log_level_from_name(NULL), -1);
}

static void
test_file_roundtrip_and_limit(void **state)
{
    (void) state;
    char path[] = "/tmp/shop-common-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const char text[] = "hello, shop";
    assert_int_equal(shop_write_file_atomic(path, text, sizeof text - 1), 0);
    size_t len = 0;
    char err[256];
    uint8_t *buf = shop_read_file(path, 1024, &len, err, sizeof err);
    assert_non_null(buf);
    assert_int_equal(len, sizeof text - 1);
    assert_memory_equal(buf, text, len);
    assert_int_equal(buf[len], 0);
    free(buf);
    /* over the limit: refused with EFBIG and a message naming the file */
    buf = shop_read_file(path, 4, &len, err, sizeof err);
    assert_null(buf);
    assert_int_equal(errno, EFBIG);
    assert_non_null(strstr(err, path));
    unlink(path);
    buf = shop_read_file(path, 1024, &len, err, sizeof err);
    assert_null(buf);
    assert_int_equal(errno, ENOENT);
}

static void
test_data_path(void **state)
{
    (void) state;
    char buf[4096];
    setenv("SHOPD_DATADIR", "/", 1);
    assert_string_equal(shop_data_path("etc/hostname", buf, sizeof buf), "//etc/hostname");
    assert_null(shop_data_path("no/such/file/here", buf, sizeof buf));
}

static void
test_strlcpy(void **state)
{
    (void) state;
    char b[4];
    assert_int_equal(shop_strlcpy(b, "abcdef", sizeof b), 6);
    assert_string_equal(b, "abc");
}

static void
test_ratelimit(void **state)
{
    (void) state;
    assert_int_equal(ratelimit_test(false), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_level_names),
        cmocka_unit_test(test_file_roundtrip_and_limit),
        cmocka_unit_test(test_data_path),
        cmocka_unit_test(test_strlcpy),
        cmocka_unit_test(test_ratelimit),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
