/* tests/daemon_netguard_test.c: daemon/netguard on a real libzmq ROUTER in
 * this process, under a descriptor limit of 96.
 *
 * libzmq's ipc listener aborts the process (errno_assert) when accept()
 * fails with EMFILE. With the caps set far above the limit, only the spare
 * descriptor stands between a flood of connections and that abort: a child
 * opens 300 connections, this process must live on, count the exhausted
 * accepts, and still take a message from a well-behaved client once the
 * flood is gone. A second test checks the caps and the byte budget. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "common/util.h"
#include "daemon/netguard.h"

static char s_dir[] = "/tmp/shop-netguard-XXXXXX";
static char s_path[128], s_ep[160];

/* Waits for a byte on rfd, opens n connections to s_path, reports how many
 * on wfd and keeps them until told (another byte on rfd). */
static void
s_flood(int n, int rfd, int wfd)
{
    int opened = 0;
    char go;
    (void) !read(rfd, &go, 1);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = { 0, 200000 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        shop_strlcpy(a.sun_path, s_path, sizeof a.sun_path);
        if (fd >= 0 && connect(fd, (struct sockaddr *) &a, sizeof a) == 0)
            opened++;
    }
    (void) !write(wfd, &opened, sizeof opened);
    char c;
    (void) !read(rfd, &c, 1);
    _exit(0);
}

/* Lets libzmq's I/O thread work for ms while this thread polls router. */
static void
s_turn(void *router, int ms)
{
    zmq_pollitem_t it = { router, 0, ZMQ_POLLIN, 0 };
    uint64_t end = shop_now_ns() + (uint64_t) ms * 1000000u;
    while (shop_now_ns() < end)
        zmq_poll(&it, 1, 20);
}

static void
test_emfile_never_reaches_libzmq(void **state)
{
    (void) state;
    assert_non_null(mkdtemp(s_dir));
    snprintf(s_path, sizeof s_path, "%s/r.sock", s_dir);
    snprintf(s_ep, sizeof s_ep, "ipc://%s", s_path);
    /* the flooding child keeps the ordinary limit: forked first */
    int to_child[2], to_parent[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(to_parent), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* only the parent writes here: its death ends the child's reads */
        close(to_child[1]);
        s_flood(300, to_child[0], to_parent[1]);
    }
    /* caps far above the limit: only the spare descriptor guards EMFILE */
    netguard_opts_t o = { .max_connections = 100000, .max_per_peer = 100000,
                          .max_pending_bytes = 1 << 20, .log_interval_ms = 1000 };
    struct rlimit rl = { 96, 96 }, old;
    getrlimit(RLIMIT_NOFILE, &old);
    char err[256];
    assert_int_equal(netguard_enable(&o, err, sizeof err), 0);
    assert_int_equal(netguard_watch(s_ep), 0);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(router, s_ep), 0);
    (void) !write(to_child[1], "g", 1);
    int opened = 0;
    assert_int_equal(read(to_parent[0], &opened, sizeof opened), (ssize_t) sizeof opened);
    s_turn(router, 500);
    netguard_stats_t st;
    netguard_stats(&st);
    fprintf(stderr, "# %d connections opened, %ld open in this process, %ld accepts found no "
            "descriptor\n", opened, st.open, st.exhausted);
    assert_true(opened > 96);
    assert_true(st.exhausted > 0);
    /* the flood goes; a well-behaved client is served */
    (void) !write(to_child[1], "x", 1);
    waitpid(pid, NULL, 0);
    s_turn(router, 300);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(dealer, s_ep), 0);
    assert_int_equal(zmq_send(dealer, "hello", 5, 0), 5);
    zmq_pollitem_t it = { router, 0, ZMQ_POLLIN, 0 };
    assert_int_equal(zmq_poll(&it, 1, 10000), 1);
    char id[64], msg[16];
    assert_true(zmq_recv(router, id, sizeof id, 0) > 0);
    assert_int_equal(zmq_recv(router, msg, sizeof msg, 0), 5);
    assert_memory_equal(msg, "hello", 5);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
    for (int i = 0; i < 2; i++) {
        close(to_child[i]);
        close(to_parent[i]);
    }
    unlink(s_path);
    rmdir(s_dir);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emfile_never_reaches_libzmq),
    };
    return cmocka_run_group_tests_name("daemon_netguard", tests, NULL, NULL);
}
