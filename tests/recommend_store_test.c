/* tests/recommend_store_test.c: the SQLite store (schema, catalogue, events,
 * carts surviving a reopen, migrations refusing a newer file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "recommend/store.h"

static void
test_store_self_test(void **state)
{
    (void) state;
    assert_int_equal(store_test(false), 0);
}

static void
test_store_refuses_newer_schema(void **state)
{
    (void) state;
    char path[] = "/tmp/shop-store-newer-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char *err = NULL;
    store_t *s = store_open(path, &err);
    assert_null(s);
    assert_non_null(err);
    assert_non_null(strstr(err, "newer"));
    free(err);
    unlink(path);
}

static void
test_store_creates_schema_version(void **state)
{
    (void) state;
    char dir[] = "/tmp/shop-store-ver-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/a.db", dir);
    store_t *s = store_open(path, NULL);
    assert_non_null(s);
    store_close(&s);
    assert_null(s);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), STORE_SCHEMA_VERSION);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *) sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    char f[300];
    snprintf(f, sizeof f, "%s-wal", path);
    unlink(f);
    snprintf(f, sizeof f, "%s-shm", path);
    unlink(f);
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_self_test),
        cmocka_unit_test(test_store_refuses_newer_schema),
        cmocka_unit_test(test_store_creates_schema_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
