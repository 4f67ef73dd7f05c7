/* tests/recommend_outbox_test.c: the device's outbox (durable queue of
 * events for a shared store): the self-test, a writer killed right after
 * outbox_put returned, and a file that cannot be opened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "recommend/outbox.h"

static void
test_outbox_self_test(void **state)
{
    (void) state;
    assert_int_equal(outbox_test(false), 0);
}

/* A child queues 50 events one by one, telling the parent each seq once
 * outbox_put returned, and is killed with SIGKILL: every acknowledged
 * event is in the file, in order, with its uid. */
static void
test_outbox_acknowledged_survive_kill(void **state)
{
    (void) state;
    char dir[] = "/tmp/shop-outbox-kill-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/o.db", dir);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        outbox_t *ob = outbox_open(path, NULL);
        for (int i = 0; ob && i < 1000; i++) {
            store_event_t e = { .time = 1000 + i, .type = STORE_EVENT_PURCHASE, .quantity = 1 };
            snprintf(e.customer, sizeof e.customer, "c%04d", i);
            shop_strlcpy(e.item, "boot-01", sizeof e.item);
            snprintf(e.uid, sizeof e.uid, "kill-test-%04d", i);
            if (outbox_put(ob, &e, 1, NULL) != 0)
                _exit(2);
            int32_t k = i;
            if (write(p[1], &k, sizeof k) != sizeof k)
                _exit(3);
        }
        pause();
        _exit(0);
    }
    close(p[1]);
    int32_t k = -1, last = -1;
    while (last < 49 && read(p[0], &k, sizeof k) == sizeof k)
        last = k;
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    /* what the child wrote after the 50th ack may be there too */
    while (read(p[0], &k, sizeof k) == sizeof k)
        last = k;
    close(p[0]);
    assert_true(last >= 49);
    outbox_t *ob = outbox_open(path, NULL);
    assert_non_null(ob);
    assert_true(outbox_depth(ob) >= last + 1);
    outbox_entry_t *e = NULL;
    size_t n = 0;
    assert_int_equal(outbox_peek(ob, 2000, &e, &n), 0);
    assert_int_equal((int64_t) n, outbox_depth(ob));
    for (size_t i = 0; i < n; i++) {
        char uid[OUTBOX_UID_MAX], cust[32];
        snprintf(uid, sizeof uid, "kill-test-%04zu", i);
        snprintf(cust, sizeof cust, "c%04zu", i);
        assert_string_equal(e[i].ev.uid, uid);
        assert_string_equal(e[i].ev.customer, cust);
        assert_int_equal(e[i].ev.time, 1000 + (int64_t) i);
    }
    free(e);
    outbox_close(&ob);
    char f[160];
    unlink(path);
    snprintf(f, sizeof f, "%s-wal", path);
    unlink(f);
    snprintf(f, sizeof f, "%s-shm", path);
    unlink(f);
    rmdir(dir);
}

static void
test_outbox_open_fails_with_message(void **state)
{
    (void) state;
    char *err = NULL;
    outbox_t *ob = outbox_open("/nonexistent-folder-for-shopd/o.db", &err);
    assert_null(ob);
    assert_non_null(err);
    assert_non_null(strstr(err, "/nonexistent-folder-for-shopd/o.db"));
    free(err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbox_self_test),
        cmocka_unit_test(test_outbox_acknowledged_survive_kill),
        cmocka_unit_test(test_outbox_open_fails_with_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
