/* tests/daemon_storelink_test.c: the store's link (daemon/storelink.c) on a
 * SQLite file and on a real PostgreSQL server (tests/pg_server.sh): a
 * notification from another connection, the server stopped with
 * `pg_ctl stop -m immediate` (events queued, the back-off), started again
 * (forwarded once, in order), and a device that crashed after the server
 * committed a batch but before the outbox forgot it (the batch sent again
 * is stored once, by uid). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/storelink.h"
#include "recommend/outbox.h"

static char s_tmp[64];          /* the test's folder */
static char s_pgdir[96];        /* the server's folder */
static char s_uri[512];         /* its libpq URI */
static char s_script[1024];     /* tests/pg_server.sh */

/* Runs tests/pg_server.sh CMD on the test's server (extra: a last argument,
 * or ""); the first output line goes to out (may be NULL). Returns its exit
 * status. */
static int
s_pg(const char *cmd, const char *extra, char *out, size_t outlen)
{
    char line[2048];
    snprintf(line, sizeof line, "sh '%s' %s '%s' %s 2>&1", s_script, cmd, s_pgdir, extra);
    FILE *p = popen(line, "r");
    if (!p)
        return -1;
    char buf[1024] = "";
    if (fgets(buf, sizeof buf, p) && out) {
        buf[strcspn(buf, "\n")] = 0;
        shop_strlcpy(out, buf, outlen);
    }
    while (fgets(line, sizeof line, p))
        fputs(line, stderr);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* psql -Atc sql: the first line of the answer into out. */
static void
s_psql(const char *sql, char *out, size_t outlen)
{
    char line[2048];
    snprintf(line, sizeof line, "sh '%s' psql '%s' -Atc \"%s\"", s_script, s_pgdir, sql);
    FILE *p = popen(line, "r");
    assert_non_null(p);
    out[0] = 0;
    if (fgets(out, (int) outlen, p))
        out[strcspn(out, "\n")] = 0;
    while (fgets(line, sizeof line, p))
        ;
    assert_int_equal(pclose(p), 0);
}

static int
s_setup(void **state)
{
    (void) state;
    const char *top = getenv("SHOP_TOP_SRCDIR");
    snprintf(s_script, sizeof s_script, "%s/tests/pg_server.sh", top ? top : ".");
    shop_strlcpy(s_tmp, "/tmp/shop-link-XXXXXX", sizeof s_tmp);
    if (!mkdtemp(s_tmp) || chmod(s_tmp, 0711) != 0)
        return -1;
    snprintf(s_pgdir, sizeof s_pgdir, "%s/pg", s_tmp);
    if (mkdir(s_pgdir, 0700) != 0)
        return -1;
    if (s_pg("start", "", s_uri, sizeof s_uri) != 0) {
        fprintf(stderr, "tests/pg_server.sh start: %s\n", s_uri);
        return -1;
    }
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    s_pg("stop", "", NULL, 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static store_event_t
s_ev(const char *customer, const char *item)
{
    store_event_t e = { .time = 1700000000, .type = STORE_EVENT_PURCHASE, .quantity = 1 };
    shop_strlcpy(e.customer, customer, sizeof e.customer);
    shop_strlcpy(e.item, item, sizeof e.item);
    shop_strlcpy(e.source, "link-test", sizeof e.source);
    return e;
}

static const char *
s_status_str(storelink_t *l, const char *key, char *buf, size_t len)
{
    json_t *o = storelink_status_json(l);
    json_t *v = json_object_get(o, key);
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long) json_integer_value(v));
    else
        snprintf(buf, len, "?");
    json_decref(o);
    return buf;
}

/* A SQLite store: the link holds nothing and changes nothing. */
static void
test_link_sqlite(void **state)
{
    (void) state;
    char path[128], buf[64];
    snprintf(path, sizeof path, "%s/one.db", s_tmp);
    store_t *st = store_open(path, NULL);
    assert_non_null(st);
    char err[256];
    storelink_t *l = storelink_new(st, "/nonexistent/outbox.db", err, sizeof err);
    assert_non_null(l);
    assert_false(storelink_shared(l));
    assert_true(storelink_up(l));
    assert_ptr_equal(storelink_store(l), st);
    assert_int_equal(storelink_poll_fd(l), -1);
    assert_int_equal(storelink_timeout_ms(l, shop_now_ns()), -1);
    assert_false(storelink_tick(l, shop_now_ns()));
    store_event_t e = s_ev("c1", "boot-01");
    bool queued = true;
    int64_t id = -1;
    assert_int_equal(storelink_add_event(l, &e, &queued, &id, err, sizeof err), 0);
    assert_false(queued);
    assert_int_equal(strlen(e.uid), 32);
    assert_string_equal(s_status_str(l, "backend", buf, sizeof buf), "sqlite");
    assert_string_equal(s_status_str(l, "connected", buf, sizeof buf), "true");
    assert_string_equal(s_status_str(l, "outbox", buf, sizeof buf), "0");
    storelink_destroy(&l);
    assert_null(l);
    store_close(&st);
}

/* Waits until poll says fd is readable or 10 s pass. */
static bool
s_readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 10000) == 1;
}

/* Ticks l until it is up with an empty outbox (or 60 s pass). */
static bool
s_drain(storelink_t *l)
{
    uint64_t end = shop_now_ns() + 60000000000ull;
    while (shop_now_ns() < end) {
        storelink_tick(l, shop_now_ns());
        char buf[32];
        if (storelink_up(l) && !strcmp(s_status_str(l, "outbox", buf, sizeof buf), "0"))
            return true;
        int ms = storelink_timeout_ms(l, shop_now_ns());
        usleep((useconds_t) (ms > 0 ? SHOP_MIN(ms, 200) : 1) * 1000u);
    }
    return false;
}

static int
s_count_uid(const char *uid)
{
    char sql[256], out[64];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM interactions WHERE uid = '%s'", uid);
    s_psql(sql, out, sizeof out);
    return atoi(out);
}

static void
test_link_postgresql_outage(void **state)
{
    (void) state;
    char err[512], buf[512], outbox[128];
    snprintf(outbox, sizeof outbox, "%s/outbox.db", s_tmp);
    char *serr = NULL;
    store_t *st = store_open(s_uri, &serr);
    if (!st)
        fprintf(stderr, "store_open: %s\n", serr);
    assert_non_null(st);
    const char *ids[] = { "boot-01", "boot-02", "boot-03", "bag-02", "bag-03" };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(ids); i++) {
        store_item_t it = { .price = 10 + (double) i, .in_stock = true };
        shop_strlcpy(it.id, ids[i], sizeof it.id);
        shop_strlcpy(it.name, ids[i], sizeof it.name);
        shop_strlcpy(it.category, ids[i][1] == 'o' ? "boot" : "bag", sizeof it.category);
        shop_strlcpy(it.attributes, "{}", sizeof it.attributes);
        assert_int_equal(store_item_upsert(st, &it), 0);
    }
    storelink_t *l = storelink_new(st, outbox, err, sizeof err);
    assert_non_null(l);
    assert_true(storelink_shared(l));
    assert_true(storelink_up(l));
    assert_ptr_equal(storelink_store(l), st);
    assert_true(storelink_poll_fd(l) >= 0);
    assert_string_equal(s_status_str(l, "backend", buf, sizeof buf), "postgresql");
    assert_string_equal(s_status_str(l, "outbox_file", buf, sizeof buf), outbox);

    /* up: an event goes to the server */
    store_event_t e0 = s_ev("link-c0", "boot-01");
    bool queued = true;
    int64_t id = 0;
    assert_int_equal(storelink_add_event(l, &e0, &queued, &id, err, sizeof err), 0);
    assert_false(queued);
    assert_int_equal(s_count_uid(e0.uid), 1);
    while (storelink_tick(l, shop_now_ns()))
        ; /* its own notification */

    /* another device's event: the poll fd wakes, the tick says "news" */
    store_t *other = store_open(s_uri, NULL);
    assert_non_null(other);
    store_event_t e1 = s_ev("link-c1", "bag-02");
    assert_true(store_add_event(other, &e1) >= 0);
    assert_true(s_readable(storelink_poll_fd(l)));
    assert_true(storelink_tick(l, shop_now_ns()));
    store_close(&other);

    /* the server stops: events are queued, in order, durably */
    assert_int_equal(s_pg("stop", "immediate", NULL, 0), 0);
    store_event_t q[3] = { s_ev("link-q0", "boot-01"), s_ev("link-q1", "boot-02"),
                           s_ev("link-q2", "boot-03") };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(storelink_add_event(l, &q[i], &queued, &id, err, sizeof err), 0);
        assert_true(queued);
        assert_int_equal(id, 0);
    }
    assert_false(storelink_up(l));
    assert_ptr_not_equal(storelink_store(l), st);
    assert_string_equal(s_status_str(l, "connected", buf, sizeof buf), "false");
    assert_string_equal(s_status_str(l, "outbox", buf, sizeof buf), "3");
    /* the offline copy has the catalogue the server had */
    store_item_t it;
    assert_int_equal(store_item_get(storelink_store(l), "boot-01", &it), 0);

    /* the thread tries again after 0.1 s, then 0.2 s, then 0.4 s (each
     * +-20 %): three failed tries take at least 0.08 + 0.16 + 0.32 s (a
     * fixed 0.1 s would take 0.3 s), and the loop is never woken */
    uint64_t t_down = shop_now_ns();
    int fd = storelink_poll_fd(l);
    assert_true(fd >= 0);
    assert_int_equal(storelink_timeout_ms(l, shop_now_ns()), -1);
    int tries = 0;
    while (tries < 3 && shop_now_ns() - t_down < 20000000000ull) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 20), 0);
        assert_false(storelink_tick(l, shop_now_ns()));
        tries = atoi(s_status_str(l, "reconnect_attempts", buf, sizeof buf));
    }
    assert_true(tries >= 3);
    assert_true(shop_now_ns() - t_down >= 560000000ull);
    assert_false(storelink_up(l));

    /* back: the thread wakes the loop; forwarded once, in order */
    assert_int_equal(s_pg("start", "", NULL, 0), 0);
    assert_true(s_readable(fd));
    assert_true(storelink_tick(l, shop_now_ns()));
    assert_true(storelink_up(l));
    assert_true(s_drain(l));
    char sql[512];
    for (int i = 0; i < 3; i++)
        assert_int_equal(s_count_uid(q[i].uid), 1);
    snprintf(sql, sizeof sql, "SELECT string_agg(customer, ',' ORDER BY id) FROM interactions "
             "WHERE customer LIKE 'link-q%%'");
    s_psql(sql, buf, sizeof buf);
    assert_string_equal(buf, "link-q0,link-q1,link-q2");
    assert_string_equal(s_status_str(l, "reconnects", buf, sizeof buf), "1");
    storelink_destroy(&l);

    /* a device that died after the server committed a batch, before the
     * outbox forgot it: sent again at the next start, stored once */
    outbox_t *ob = outbox_open(outbox, NULL);
    assert_non_null(ob);
    store_event_t again[2] = { q[1], s_ev("link-q3", "bag-03") };
    assert_int_equal(outbox_make_uid(again[1].uid, sizeof again[1].uid), 0);
    assert_int_equal(outbox_put(ob, again, 2, NULL), 0);
    outbox_close(&ob);
    l = storelink_new(st, outbox, err, sizeof err);
    assert_non_null(l);
    assert_string_equal(s_status_str(l, "outbox", buf, sizeof buf), "2");
    assert_true(s_drain(l));
    assert_int_equal(s_count_uid(q[1].uid), 1);
    assert_int_equal(s_count_uid(again[1].uid), 1);
    storelink_destroy(&l);
    store_close(&st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_sqlite),
        cmocka_unit_test(test_link_postgresql_outage),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
