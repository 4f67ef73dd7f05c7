/* tests/common_test.c: common/ self-test (logging levels, files, data paths) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
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

/* shop_parse_int: what it accepts (and the value) and what it refuses, with
 * the reason's code; a refusal leaves *out as it was. */
static void
test_parse_int(void **state)
{
    (void) state;
    static const struct {
        const char *v;
        int64_t lo, hi;
        int rc;
        int64_t want;
    } cases[] = {
        { "0", INT64_MIN, INT64_MAX, SHOP_NUM_OK, 0 },
        { "42", INT64_MIN, INT64_MAX, SHOP_NUM_OK, 42 },
        { "-7", INT64_MIN, INT64_MAX, SHOP_NUM_OK, -7 },
        { "-0", INT64_MIN, INT64_MAX, SHOP_NUM_OK, 0 },
        { "007", INT64_MIN, INT64_MAX, SHOP_NUM_OK, 7 },
        { "9223372036854775807", INT64_MIN, INT64_MAX, SHOP_NUM_OK, INT64_MAX },
        { "-9223372036854775808", INT64_MIN, INT64_MAX, SHOP_NUM_OK, INT64_MIN },
        { "1", 1, 20, SHOP_NUM_OK, 1 },
        { "20", 1, 20, SHOP_NUM_OK, 20 },
        { "0", 1, 20, SHOP_NUM_RANGE, 0 },
        { "21", 1, 20, SHOP_NUM_RANGE, 0 },
        { "-1", 0, 1000, SHOP_NUM_RANGE, 0 },
        { "9223372036854775808", INT64_MIN, INT64_MAX, SHOP_NUM_RANGE, 0 },
        { "-9223372036854775809", INT64_MIN, INT64_MAX, SHOP_NUM_RANGE, 0 },
        { "", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { "-", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { " 1", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { "1 ", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { "+1", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { "--1", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { "3x", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { "abc", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { "3.0", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { "1e3", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { "0x10", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
        { "1K", INT64_MIN, INT64_MAX, SHOP_NUM_SYNTAX, 0 },
    };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(cases); i++) {
        int64_t x = 12345;
        const char *why = NULL;
        int rc = shop_parse_int(cases[i].v, cases[i].lo, cases[i].hi, &x, &why);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": %d, expected %d", cases[i].v, rc, cases[i].rc);
        assert_int_equal(x, rc == SHOP_NUM_OK ? cases[i].want : 12345);
        if (rc == SHOP_NUM_SYNTAX)
            assert_string_equal(why, "not an integer");
        if (rc == SHOP_NUM_RANGE)
            assert_string_equal(why, "out of range");
    }
}

static void
test_parse_uint(void **state)
{
    (void) state;
    static const struct {
        const char *v;
        int rc;
        uint64_t want;
    } cases[] = {
        { "0", SHOP_NUM_OK, 0 },
        { "18446744073709551615", SHOP_NUM_OK, UINT64_MAX },
        { "18446744073709551616", SHOP_NUM_RANGE, 0 },
        { "-1", SHOP_NUM_SYNTAX, 0 },
        { "+1", SHOP_NUM_SYNTAX, 0 },
        { " 1", SHOP_NUM_SYNTAX, 0 },
        { "1.5", SHOP_NUM_SYNTAX, 0 },
        { "", SHOP_NUM_SYNTAX, 0 },
    };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(cases); i++) {
        uint64_t x = 12345;
        const char *why = NULL;
        int rc = shop_parse_uint(cases[i].v, 0, UINT64_MAX, &x, &why);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": %d, expected %d", cases[i].v, rc, cases[i].rc);
        assert_true(x == (rc == SHOP_NUM_OK ? cases[i].want : 12345));
    }
    uint64_t x;
    const char *why;
    assert_int_equal(shop_parse_uint("9", 1, 8, &x, &why), SHOP_NUM_RANGE);
    assert_string_equal(why, "out of range");
}

static void
test_parse_double(void **state)
{
    (void) state;
    enum { LO = SHOP_OPEN_LO, HI = SHOP_OPEN_HI };
    static const struct {
        const char *v;
        double lo, hi;
        int open, rc;
        double want;
    } cases[] = {
        { "0.5", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_OK, 0.5 },
        { "-2", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_OK, -2 },
        { ".5", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_OK, 0.5 },
        { "5.", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_OK, 5 },
        { "-.25", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_OK, -0.25 },
        { "1e-3", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_OK, 0.001 },
        { "2E+2", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_OK, 200 },
        { "0", 0, 1, 0, SHOP_NUM_OK, 0 },
        { "1", 0, 1, 0, SHOP_NUM_OK, 1 },
        { "0.999", 0, 1, LO | HI, SHOP_NUM_OK, 0.999 },
        { "0", 0, 1, LO, SHOP_NUM_RANGE, 0 },
        { "1", 0, 1, HI, SHOP_NUM_RANGE, 0 },
        { "1", 0, 1, LO, SHOP_NUM_OK, 1 },
        { "-1e-9", 0, 1, 0, SHOP_NUM_RANGE, 0 },
        { "1.5", 0, 1, 0, SHOP_NUM_RANGE, 0 },
        { "1e999", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_RANGE, 0 },
        { "", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { ".", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "-", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "e5", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "1e", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "1x", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "abc", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "1..2", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "1,5", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "+1", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { " 1", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "1 ", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "inf", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "nan", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
        { "0x1p3", -DBL_MAX, DBL_MAX, 0, SHOP_NUM_SYNTAX, 0 },
    };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(cases); i++) {
        double x = 12345;
        const char *why = NULL;
        int rc = shop_parse_double(cases[i].v, cases[i].lo, cases[i].hi, cases[i].open, &x, &why);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": %d, expected %d", cases[i].v, rc, cases[i].rc);
        /* strtod rounds correctly: the same double as the literal */
        assert_true(x == (rc == SHOP_NUM_OK ? cases[i].want : 12345));
        if (rc == SHOP_NUM_SYNTAX)
            assert_string_equal(why, "not a number");
        if (rc == SHOP_NUM_RANGE)
            assert_string_equal(why, "out of range");
    }
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
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_parse_double),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
