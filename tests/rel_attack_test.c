/* tests/rel_attack_test.c: what an attacker and an unlucky operator tried
 * against a private shopd, each against a real shopd over real sockets.
 *
 * 1. descriptors: 1,100 connections against a shopd whose descriptor limit
 *    is 256 soft / 1,024 hard (ipc:// and loopback tcp://);
 * 2. a second shopd on the same endpoint, or on the same database;
 * 3. an unfinished multipart message of 1 MiB frames, RSS measured;
 * 6. an abstract ipc://@ endpoint without CURVE;
 * 7. a client with an unknown CURVE key reconnecting as fast as it can;
 * and, with the request and event path (4, 5, 8 and forget), the tests
 * below them. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zmq.h>

#include "common/util.h"
#include "ipc/client.h"
#include "ipc/keys.h"
#include "ipc/proto.h"
#include "recommend/store.h"
#include "tests/shopd_harness.h"

static harness_t s_d, s_e;
static pid_t s_attacker_pid; /* a flooding child still running, 0 none */

static int
s_teardown(void **state)
{
    (void) state;
    if (s_attacker_pid > 0) {
        kill(s_attacker_pid, SIGKILL);
        waitpid(s_attacker_pid, NULL, 0);
        s_attacker_pid = 0;
    }
    harness_cleanup(&s_d);
    harness_cleanup(&s_e);
    return 0;
}

/* status over c within timeout_ms: 0 when answered ok. */
static int
s_status(client_t *c, int timeout_ms)
{
    proto_reply_t r;
    char err[512];
    if (client_request(c, "status", NULL, NULL, NULL, NULL, 0, timeout_ms, &r, err, sizeof err)
        != 0)
        return -1;
    int ok = r.ok ? 0 : -1;
    proto_reply_clear(&r);
    return ok;
}

/* Whether d's shopd still runs (reaps it when not). */
static bool
s_alive(harness_t *d)
{
    int st;
    if (d->pid > 0 && waitpid(d->pid, &st, WNOHANG) == d->pid) {
        fprintf(stderr, "# shopd %ld ended: %s %d\n", (long) d->pid,
                WIFSIGNALED(st) ? "signal" : "exit",
                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        d->pid = 0;
    }
    return d->pid > 0;
}

/* Waits up to seconds for d's shopd to exit; returns its exit status, or
 * -1 when it still runs. */
static int
s_wait_exit(harness_t *d, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(50000);
    }
    return -1;
}

/* A number from /proc/PID/FILE's line starting with key ("VmRSS:"), or -1. */
static long
s_proc_value(pid_t pid, const char *file, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/%s", (long) pid, file);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0) {
            const char *p = line + strlen(key);
            while (*p && (*p < '0' || *p > '9'))
                p++;
            v = strtol(p, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return v;
}


/* --- requests ------------------------------------------------------------- */

/* Sends a request (body stolen, may be NULL); 0 with *r filled, or -1. */
static int
s_req(client_t *c, const char *type, const char *session, json_t *body, int timeout,
      proto_reply_t *r)
{
    char err[512];
    int rc = client_request(c, type, session, body, NULL, NULL, 0, timeout, r, err, sizeof err);
    json_decref(body);
    return rc;
}

/* A typed request that must be answered ok; returns the reply body (a new
 * reference). */
static json_t *
s_text(client_t *c, const char *session, const char *text, const char *customer)
{
    proto_reply_t r;
    json_t *b = json_pack("{s:s}", "text", text);
    if (customer)
        json_object_set_new(b, "customer", json_string(customer));
    if (s_req(c, "text", session, b, 20000, &r) != 0)
        fail_msg("text \"%s\": no reply", text);
    if (!r.ok)
        fail_msg("text \"%s\": %s: %s", text, proto_err_name(r.code), r.message);
    json_t *body = json_incref(r.body);
    proto_reply_clear(&r);
    return body;
}

static const char *
s_jstr(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

/* One integer from a SQL query on the database file (read-only). */
static long long
s_sql_int(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 5000);
        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK
            && sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        else
            fprintf(stderr, "# %s: %s\n", sql, sqlite3_errmsg(h));
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* The demo store without the vision model (not needed here, and indexing
 * every catalogue photo is the slowest part of a start). */
#define S_DEMO_CONF "[daemon]\nstatus_interval = 0\n[store]\nimport_demo = yes\n" \
                    "[models]\nvision = /nonexistent/vision.nn\n"

/* --- 1. descriptors ------------------------------------------------------- */

#define S_FLOOD 1100

static void
s_lower_nofile(void)
{
    struct rlimit rl = { 256, 1024 };
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* Opens S_FLOOD connections to the ipc path or tcp port (from 127.0.0.2, so
 * the attacker is another peer than the test's own client), reports how
 * many connected on wfd, waits for a byte on rfd, then reports how many are
 * still open once at most max_open remain (or after 15 s). Runs in a child. */
static void
s_attacker(const char *path, int port, int rfd, int wfd, int max_open)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    static int fds[S_FLOOD];
    int n = 0;
    /* a dead or spinning shopd makes connects wait: 30 s for all of them */
    uint64_t end = shop_now_ns() + 30000000000ull;
    for (int i = 0; i < S_FLOOD && shop_now_ns() < end; i++) {
        int fd = socket(path ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        struct timeval tv = { 0, 200000 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int rc;
        if (path) {
            struct sockaddr_un a = { .sun_family = AF_UNIX };
            shop_strlcpy(a.sun_path, path, sizeof a.sun_path);
            rc = connect(fd, (struct sockaddr *) &a, sizeof a);
        } else {
            struct sockaddr_in src = { .sin_family = AF_INET };
            inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
            struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
            inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
            rc = bind(fd, (struct sockaddr *) &src, sizeof src) == 0
                     ? connect(fd, (struct sockaddr *) &a, sizeof a) : -1;
        }
        if (rc != 0) {
            close(fd);
            continue;
        }
        fds[n++] = fd;
    }
    (void) !write(wfd, &n, sizeof n);
    char go;
    (void) !read(rfd, &go, 1);
    int open_now = n;
    for (int t = 0; t < 300; t++) {
        open_now = 0;
        for (int i = 0; i < n; i++) {
            if (fds[i] < 0)
                continue;
            struct pollfd p = { .fd = fds[i], .events = POLLIN };
            char b;
            if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)
                                        || recv(fds[i], &b, 1, MSG_DONTWAIT) <= 0)) {
                close(fds[i]);
                fds[i] = -1;
                continue;
            }
            open_now++;
        }
        if (open_now <= max_open)
            break;
        usleep(50000);
    }
    (void) !write(wfd, &open_now, sizeof open_now);
    _exit(0);
}

static void
s_fd_flood(bool tcp)
{
    harness_t *d = &s_d;
    char conf[4096];
    harness_prepare(d, "flood", NULL);
    int port = 0;
    if (tcp) {
        port = harness_free_port();
        snprintf(d->ep, sizeof d->ep, "tcp://127.0.0.1:%d", port);
    }
    /* the default caps (max_connections fitted to the limit, 256 per peer);
     * stalled handshakes are kept for a minute, so only the caps can free
     * descriptors while the test runs */
    snprintf(conf, sizeof conf,
             "[daemon]\nstatus_interval = 0\n[ipc]\nendpoint = %s\nevents_endpoint = %s\n"
             "handshake_timeout = 60000\n[store]\nimport_demo = no\n", d->ep, d->pub_ep);
    harness_write(d->conf, conf);
    harness_spawn(d, &(harness_spawn_t) { .conf_endpoints = true,
                                          .before_exec = s_lower_nofile });
    harness_wait_ready(d, NULL, 60);
    struct rlimit own;
    getrlimit(RLIMIT_NOFILE, &own);
    if (own.rlim_max < S_FLOOD + 100)
        fail_msg("the test needs a hard descriptor limit of %d (ulimit -Hn: %ld)", S_FLOOD + 100,
                 (long) own.rlim_max);

    int to_child[2], to_parent[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(to_parent), 0);
    pid_t att = fork();
    assert_true(att >= 0);
    s_attacker_pid = att;
    if (att == 0) {
        /* only the test writes here: if it fails and exits, the child's read ends */
        close(to_child[1]);
        s_attacker(tcp ? NULL : d->sock, port, to_child[0], to_parent[1], 256);
    }
    int connected = 0, still_open = -1;
    assert_int_equal(read(to_parent[0], &connected, sizeof connected), (ssize_t) sizeof connected);
    fprintf(stderr, "# attacker connected %d of %d times\n", connected, S_FLOOD);
    /* a legitimate client is still answered, by the same shopd */
    client_t *c = harness_client(d);
    int answered = -1;
    for (int i = 0; i < 10 && answered != 0 && s_alive(d); i++)
        answered = s_status(c, 2000);
    client_destroy(&c);
    assert_true(s_alive(d));
    assert_int_equal(answered, 0);
    /* the soft limit was raised to the hard one */
    assert_int_equal(s_proc_value(d->pid, "limits", "Max open files"), 1024);
    /* the attacker holds at most its per-peer share */
    (void) !write(to_child[1], "g", 1);
    assert_int_equal(read(to_parent[0], &still_open, sizeof still_open),
                     (ssize_t) sizeof still_open);
    waitpid(att, NULL, 0);
    s_attacker_pid = 0;
    fprintf(stderr, "# attacker's connections still open: %d\n", still_open);
    assert_true(still_open <= 256);
    assert_true(harness_log_has(d, "max_connections_per_peer = 256", 2000));
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    close(to_child[0]);
    close(to_child[1]);
    close(to_parent[0]);
    close(to_parent[1]);
    harness_cleanup(d);
}

static void
test_fd_flood_ipc(void **state)
{
    (void) state;
    s_fd_flood(false);
}

static void
test_fd_flood_tcp(void **state)
{
    (void) state;
    s_fd_flood(true);
}

/* --- 2. a second instance ------------------------------------------------- */

static void
test_second_instance_refused(void **state)
{
    (void) state;
    harness_t *a = &s_d, *b = &s_e;
    harness_prepare(a, "first", NULL);
    harness_start(a);
    struct stat before, after;
    assert_int_equal(stat(a->sock, &before), 0);

    /* same request endpoint, its event port busy: it must neither take the
     * socket over nor remove it when it fails */
    harness_prepare(b, "second", NULL);
    int busy = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in ba = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t bl = sizeof ba;
    assert_int_equal(bind(busy, (struct sockaddr *) &ba, sizeof ba), 0);
    assert_int_equal(listen(busy, 1), 0);
    assert_int_equal(getsockname(busy, (struct sockaddr *) &ba, &bl), 0);
    memcpy(b->ep, a->ep, sizeof b->ep);
    snprintf(b->pub_ep, sizeof b->pub_ep, "tcp://127.0.0.1:%d", ntohs(ba.sin_port));
    harness_spawn(b, NULL);
    assert_int_not_equal(s_wait_exit(b, 30), -1);
    char needle[64];
    snprintf(needle, sizeof needle, "in use by shopd pid %ld", (long) a->pid);
    assert_true(harness_log_has(b, needle, 0));
    close(busy);
    assert_int_equal(stat(a->sock, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    client_t *c = harness_client(a);
    assert_int_equal(s_status(c, 5000), 0);
    client_destroy(&c);

    /* its own endpoints, the first one's database */
    harness_cleanup(b);
    harness_prepare(b, "third", NULL);
    memcpy(b->db, a->db, sizeof b->db);
    harness_spawn(b, NULL);
    assert_int_equal(s_wait_exit(b, 30), 1);
    assert_true(harness_log_has(b, "is in use by another shopd", 0));
    c = harness_client(a);
    assert_int_equal(s_status(c, 5000), 0);
    client_destroy(&c);
    assert_int_equal(harness_stop(a, SIGTERM), 0);
    /* after a clean stop the endpoint is free again */
    harness_cleanup(b);
    harness_prepare(b, "fourth", NULL);
    memcpy(b->ep, a->ep, sizeof b->ep);
    memcpy(b->sock, a->sock, sizeof b->sock);
    memcpy(b->db, a->db, sizeof b->db);
    harness_start(b);
    assert_int_equal(harness_stop(b, SIGTERM), 0);
    harness_cleanup(b);
    harness_cleanup(a);
}

/* --- 3. memory held by an unfinished multipart message --------------------- */

/* Writes all of buf to fd; false when the peer went away. */
static bool
s_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t) n;
    }
    return true;
}

/* A raw ZMTP 3.0 peer (NULL mechanism, DEALER) on the ipc socket path:
 * libzmq itself never sends the frames of an unfinished message, a hostile
 * peer does. Returns the connected descriptor after the handshake. */
static int
s_zmtp_dealer(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    shop_strlcpy(a.sun_path, path, sizeof a.sun_path);
    assert_int_equal(connect(fd, (struct sockaddr *) &a, sizeof a), 0);
    unsigned char greet[64] = { 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0, 'N', 'U', 'L', 'L' };
    assert_true(s_write_all(fd, greet, sizeof greet));
    static const char ready[] = "\x05READY\x0bSocket-Type\0\0\0\x06" "DEALER";
    unsigned char cmd[2] = { 0x04, sizeof ready - 1 };
    assert_true(s_write_all(fd, cmd, 2) && s_write_all(fd, ready, sizeof ready - 1));
    /* the server's greeting and READY */
    unsigned char in[64 + 64];
    size_t got = 0;
    while (got < 64 + 2) {
        ssize_t n = recv(fd, in + got, sizeof in - got, 0);
        assert_true(n > 0);
        got += (size_t) n;
    }
    return fd;
}

static void
test_unfinished_multipart_bounded(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "mpart", "[daemon]\nstatus_interval = 0\n[ipc]\nmax_message_size = 2M\n"
                                "max_photo_size = 1M\nmax_audio_size = 1M\n"
                                "[store]\nimport_demo = no\n");
    /* ASan keeps freed blocks in a quarantine (256 MB by default): a small
     * one lets a sanitizer build return memory as the real allocator does */
    static char asan[512];
    const char *prev = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%squarantine_size_mb=4", prev ? prev : "",
             prev && *prev ? ":" : "");
    const char *env[] = { asan, NULL };
    harness_spawn(d, &(harness_spawn_t) { .env = env });
    harness_wait_ready(d, NULL, 60);
    client_t *c = harness_client(d);
    for (int i = 0; i < 20; i++)
        assert_int_equal(s_status(c, 5000), 0);
    long base = s_proc_value(d->pid, "status", "VmRSS:");
    assert_true(base > 0);

    int att = s_zmtp_dealer(d->sock);
    /* 1 MiB frames, every one flagged MORE (and LONG: an 8-byte size) */
    enum { FRAMES = 120, MIB = 1 << 20 };
    char *frame = xmalloc(MIB);
    memset(frame, 'x', MIB);
    unsigned char head[9] = { 0x03, 0, 0, 0, 0, 0, 0x10, 0, 0 };
    long peak = base;
    int sent = 0;
    for (; sent < FRAMES; sent++) {
        if (!s_write_all(att, head, sizeof head) || !s_write_all(att, frame, MIB))
            break;
        peak = SHOP_MAX(peak, s_proc_value(d->pid, "status", "VmRSS:"));
    }
    free(frame);
    /* shopd drops the peer once it holds max_pending_size (2 x 2 MiB) of it */
    bool dropped = harness_log_has(d, "over max_pending_size", 5000);
    peak = SHOP_MAX(peak, s_proc_value(d->pid, "status", "VmRSS:"));
    fprintf(stderr, "# %d of %d frames written before shopd closed the connection\n", sent,
            FRAMES);
    fprintf(stderr, "# RSS %ld kB at rest, peak %ld kB while %d MiB were sent\n", base, peak,
            FRAMES);
    assert_true(dropped);
    assert_true(peak - base < 48 * 1024);
    /* when the client leaves, the memory goes back */
    close(att);
    long rss = 0;
    for (int i = 0; i < 200; i++) {
        rss = s_proc_value(d->pid, "status", "VmRSS:");
        if (rss - base < 16 * 1024)
            break;
        usleep(50000);
    }
    fprintf(stderr, "# RSS %ld kB after the client left\n", rss);
    assert_true(rss - base < 16 * 1024);
    assert_int_equal(s_status(c, 5000), 0);
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    harness_cleanup(d);
}

/* --- 6. abstract ipc without CURVE ---------------------------------------- */

static void
test_abstract_ipc_needs_curve(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "abstract", NULL);
    snprintf(d->ep, sizeof d->ep, "ipc://@shopd-test-%ld-req", (long) getpid());
    harness_spawn(d, NULL);
    assert_int_equal(s_wait_exit(d, 30), 1);
    assert_true(harness_log_has(d, "an abstract socket has no file permissions", 0));
    harness_cleanup(d);
}

/* --- 7. refusals logged once per key per interval --------------------------- */

static void
test_refusal_log_rate_limited(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "ratelog", NULL);
    char err[512], base[1024], allow[1024], conf[8192];
    char spub[41], ssec[41], gpub[41], gsec[41], bpub[41], bsec[41];
    snprintf(base, sizeof base, "%s/server", d->dir);
    snprintf(allow, sizeof allow, "%s/allow", d->dir);
    assert_int_equal(keys_generate(spub, ssec, err, sizeof err), 0);
    assert_int_equal(keys_write_pair(base, spub, ssec, err, sizeof err), 0);
    assert_int_equal(keys_generate(gpub, gsec, err, sizeof err), 0);
    assert_int_equal(keys_generate(bpub, bsec, err, sizeof err), 0);
    char line[64];
    snprintf(line, sizeof line, "%s\n", gpub);
    harness_write(allow, line);
    snprintf(d->ep, sizeof d->ep, "tcp://127.0.0.1:%d", harness_free_port());
    snprintf(d->pub_ep, sizeof d->pub_ep, "tcp://127.0.0.1:%d", harness_free_port());
    snprintf(conf, sizeof conf,
             "[daemon]\nstatus_interval = 0\n[ipc]\nendpoint = %s\n"
             "events_endpoint = %s\n[curve]\nsecret_key_file = %s.key\nallow_list = %s\n"
             "[store]\nimport_demo = no\n", d->ep, d->pub_ep, base, allow);
    harness_write(d->conf, conf);
    harness_spawn(d, &(harness_spawn_t) { .conf_endpoints = true });
    client_curve_t good = { spub, gpub, gsec };
    harness_wait_ready(d, &good, 60);

    /* new connections, each with a new unknown key, one after the other, as
     * fast as the handshakes go: still one peer (127.0.0.1) */
    void *ctx = zmq_ctx_new();
    uint64_t t0 = shop_now_ns();
    bool counted = false;
    for (int i = 0; !counted && shop_now_ns() - t0 < 30000000000ull; i++) {
        void *bad = zmq_socket(ctx, ZMQ_DEALER);
        int zero = 0;
        zmq_setsockopt(bad, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(bad, ZMQ_CURVE_SERVERKEY, spub, 40);
        if (i > 0)
            assert_int_equal(zmq_curve_keypair(bpub, bsec), 0);
        zmq_setsockopt(bad, ZMQ_CURVE_PUBLICKEY, bpub, 40);
        zmq_setsockopt(bad, ZMQ_CURVE_SECRETKEY, bsec, 40);
        assert_int_equal(zmq_connect(bad, d->ep), 0);
        zmq_pollitem_t it = { .socket = bad, .events = ZMQ_POLLIN };
        zmq_poll(&it, 1, 5);
        zmq_close(bad);
        /* the line after the first interval (10 s) counts what was held back */
        if (i % 50 == 0)
            counted = harness_log_has(d, "more refused since the last line", 0);
    }
    counted = counted || harness_log_has(d, "more refused since the last line", 1000);
    double seconds = (double) (shop_now_ns() - t0) / 1e9;
    zmq_ctx_term(ctx);
    client_t *c = client_new(d->ep, &good, err, sizeof err);
    proto_reply_t r;
    assert_int_equal(client_request(c, "status", NULL, NULL, NULL, NULL, 0, 5000, &r, err,
                                    sizeof err), 0);
    json_int_t refused = json_integer_value(json_object_get(r.body, "refused_connections"));
    proto_reply_clear(&r);
    client_destroy(&c);
    int lines = harness_log_count(d, "zap: refused a connection");
    fprintf(stderr, "# %lld refusals in %.1f s, %d log lines\n", (long long) refused, seconds,
            lines);
    assert_true(counted);
    assert_true(refused > lines);
    /* one line per 10 s for the one peer, plus the first */
    assert_true(lines <= (int) seconds / 10 + 2);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    harness_cleanup(d);
}

/* --- 4. privacy: anonymous sessions, expiry, events by session ------------- */

static void
test_no_shared_default_session(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "anon", "[daemon]\nstatus_interval = 0\n[store]\nimport_demo = no\n");
    harness_start(d);
    client_t *a = harness_client(d), *b = harness_client(d);
    json_t *ra = s_text(a, NULL, "show my cart", "c0042");
    const char *sa = s_jstr(ra, "session", "session");
    assert_non_null(sa);
    assert_string_equal(s_jstr(ra, "session", "customer"), "c0042");
    /* another connection without a session: nothing of the first one's */
    json_t *rb = s_text(b, NULL, "show my cart", NULL);
    const char *sb = s_jstr(rb, "session", "session");
    assert_non_null(sb);
    assert_null(s_jstr(rb, "session", "customer"));
    assert_string_not_equal(sa, sb);
    assert_true(strncmp(sa, "anon-", 5) == 0 && strlen(sa) == 37);
    /* the first connection keeps its own */
    json_t *ra2 = s_text(a, NULL, "show my cart", NULL);
    assert_string_equal(s_jstr(ra2, "session", "session"), sa);
    assert_string_equal(s_jstr(ra2, "session", "customer"), "c0042");
    json_decref(ra);
    json_decref(rb);
    json_decref(ra2);
    client_destroy(&a);
    client_destroy(&b);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    harness_cleanup(d);
}

static void
test_session_expires(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "expire", "[daemon]\nstatus_interval = 0\nsession_idle = 1\n"
                                 "[store]\nimport_demo = no\n");
    harness_start(d);
    client_t *c = harness_client(d);
    json_t *r = s_text(c, "kiosk-e", "show my cart", "c0042");
    json_decref(r);
    client_destroy(&c);
    const char *q = "SELECT count(*) FROM meta WHERE key = 'session:kiosk-e'";
    /* written, then erased by the idle sweep */
    long long n = s_sql_int(d->db, q);
    assert_true(n == 1 || n == 0);
    for (int i = 0; i < 300 && (n = s_sql_int(d->db, q)) != 0; i++)
        usleep(50000);
    assert_int_equal(n, 0);
    assert_true(harness_log_has(d, "idle session", 2000));
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    harness_cleanup(d);
}

/* CURVE on loopback tcp with three keys: two kiosks and an operator. */
typedef struct {
    char spub[41], ssec[41];
    char pub[3][41], sec[3][41];
    char allow[1024];
} s_keys_t;

static void
s_curve_shopd(harness_t *d, s_keys_t *k, bool operators)
{
    char err[512], base[1024], ops[1024], conf[8192], text[512];
    snprintf(base, sizeof base, "%s/server", d->dir);
    snprintf(k->allow, sizeof k->allow, "%s/allow", d->dir);
    snprintf(ops, sizeof ops, "%s/operators", d->dir);
    assert_int_equal(keys_generate(k->spub, k->ssec, err, sizeof err), 0);
    assert_int_equal(keys_write_pair(base, k->spub, k->ssec, err, sizeof err), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(keys_generate(k->pub[i], k->sec[i], err, sizeof err), 0);
    snprintf(text, sizeof text, "%s kiosk-1\n%s kiosk-2\n%s operator\n", k->pub[0], k->pub[1],
             k->pub[2]);
    harness_write(k->allow, text);
    snprintf(text, sizeof text, "%s operator\n", k->pub[2]);
    harness_write(ops, text);
    snprintf(d->ep, sizeof d->ep, "tcp://127.0.0.1:%d", harness_free_port());
    snprintf(d->pub_ep, sizeof d->pub_ep, "tcp://127.0.0.1:%d", harness_free_port());
    snprintf(conf, sizeof conf,
             "[daemon]\nstatus_interval = 1\n[ipc]\nendpoint = %s\nevents_endpoint = %s\n"
             "[curve]\nsecret_key_file = %s.key\nallow_list = %s\n%s%s%s"
             "[store]\nimport_demo = no\n", d->ep, d->pub_ep, base, k->allow,
             operators ? "operator_keys = " : "", operators ? ops : "", operators ? "\n" : "");
    harness_write(d->conf, conf);
    harness_spawn(d, &(harness_spawn_t) { .conf_endpoints = true });
    client_curve_t op = { k->spub, k->pub[2], k->sec[2] };
    harness_wait_ready(d, &op, 60);
}

/* Waits for the next event of type want on sub (others are skipped);
 * returns it (a new reference) or NULL after timeout_ms. */
static json_t *
s_next(client_sub_t *sub, const char *want, int timeout_ms)
{
    uint64_t end = shop_now_ns() + (uint64_t) timeout_ms * 1000000u;
    char topic[64], err[256];
    while (shop_now_ns() < end) {
        json_t *ev = NULL;
        int left = (int) ((end - shop_now_ns()) / 1000000u);
        if (client_sub_recv(sub, left > 0 ? left : 1, topic, sizeof topic, &ev, err, sizeof err)
            != 0)
            continue;
        if (!strcmp(topic, want))
            return ev;
        json_decref(ev);
    }
    return NULL;
}

static void
test_events_only_to_their_session(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "events", NULL);
    s_keys_t k;
    s_curve_shopd(d, &k, true);
    client_curve_t k1 = { k.spub, k.pub[0], k.sec[0] }, k2 = { k.spub, k.pub[1], k.sec[1] },
                   op = { k.spub, k.pub[2], k.sec[2] };
    char err[512];
    client_t *c1 = client_new(d->ep, &k1, err, sizeof err), *c2 = client_new(d->ep, &k2, err,
                                                                             sizeof err);
    /* kiosk-1's key makes the session its own */
    proto_reply_t r;
    assert_int_equal(s_req(c1, "cart", "kiosk-1", json_pack("{s:s}", "op", "get"), 5000, &r), 0);
    assert_true(r.ok);
    proto_reply_clear(&r);
    /* the other kiosk may not use it */
    assert_int_equal(s_req(c2, "cart", "kiosk-1", json_pack("{s:s}", "op", "get"), 5000, &r), 0);
    assert_false(r.ok);
    fprintf(stderr, "# kiosk-2 on kiosk-1's session: %s: %s\n", proto_err_name(r.code),
            r.message);
    proto_reply_clear(&r);

    /* the devices' sessions ("mic", "camera" by default) are nobody's: a
     * request of kiosk-1 there does not keep kiosk-2 out */
    const char *devs[] = { "mic", "camera" };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s_req(c1, "cart", devs[i], json_pack("{s:s}", "op", "get"), 5000, &r),
                         0);
        assert_true(r.ok);
        proto_reply_clear(&r);
        assert_int_equal(s_req(c2, "cart", devs[i], json_pack("{s:s}", "op", "get"), 5000, &r),
                         0);
        assert_true(r.ok);
        proto_reply_clear(&r);
    }

    const char *types[] = { "cart", "answer", "status", NULL };
    client_sub_t *own = client_sub_new(d->pub_ep, &k1, "kiosk-1", types, err, sizeof err);
    client_sub_t *other_all = client_sub_new(d->pub_ep, &k2, NULL, types, err, sizeof err);
    client_sub_t *other_s1 = client_sub_new(d->pub_ep, &k2, "kiosk-1", types, err, sizeof err);
    client_sub_t *oper = client_sub_new(d->pub_ep, &op, NULL, types, err, sizeof err);
    assert_true(own && other_all && other_s1 && oper);
    /* every subscriber sees the public status heartbeat: its subscriptions
     * have been decided (shopd handles them in order) */
    client_sub_t *subs[] = { own, other_all, other_s1, oper };
    for (int i = 0; i < 4; i++) {
        json_t *ev = s_next(subs[i], "status", 10000);
        assert_non_null(ev);
        json_decref(ev);
    }
    /* a "show my cart" answer names the customer: published on kiosk-1 */
    json_t *ans = s_text(c1, "kiosk-1", "show my cart", "c0042");
    json_decref(ans);
    json_t *ev = s_next(own, "answer", 10000);
    assert_non_null(ev);
    assert_string_equal(s_jstr(ev, "session", NULL), "kiosk-1");
    json_decref(ev);
    ev = s_next(oper, "answer", 10000);
    assert_non_null(ev);
    json_decref(ev);
    /* the others got neither the answer nor anything of kiosk-1: by now the
     * next heartbeat has reached them, so the answer would have too */
    for (int i = 1; i < 3; i++) {
        char topic[64];
        json_t *e = NULL;
        int got_status = 0;
        while (got_status < 1
               && client_sub_recv(subs[i], 5000, topic, sizeof topic, &e, err, sizeof err) == 0) {
            assert_string_equal(topic, "status");
            got_status++;
            json_decref(e);
        }
        assert_int_equal(got_status, 1);
    }
    assert_true(harness_log_has(d, "subscription refused", 2000));
    for (int i = 0; i < 4; i++)
        client_sub_destroy(&subs[i]);
    client_destroy(&c1);
    client_destroy(&c2);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    harness_cleanup(d);
}

/* --- 5. revocation --------------------------------------------------------- */

static void
test_revoked_key_cut_off(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "revoke", NULL);
    s_keys_t k;
    /* no operator key: a configuration the daemon accepted before too */
    s_curve_shopd(d, &k, false);
    client_curve_t k1 = { k.spub, k.pub[0], k.sec[0] }, op = { k.spub, k.pub[2], k.sec[2] };
    char err[512], text[512];
    client_t *c1 = client_new(d->ep, &k1, err, sizeof err), *cop = client_new(d->ep, &op, err,
                                                                              sizeof err);
    const char *types[] = { "status", NULL };
    client_sub_t *s1 = client_sub_new(d->pub_ep, &k1, "kiosk-1", types, err, sizeof err);
    assert_int_equal(s_status(c1, 5000), 0);
    json_t *ev = s_next(s1, "status", 10000);
    assert_non_null(ev);
    json_decref(ev);
    /* kiosk-1's key leaves the list; connected, it is cut off at once */
    snprintf(text, sizeof text, "%s kiosk-2\n%s operator\n", k.pub[1], k.pub[2]);
    harness_write(k.allow, text);
    assert_int_equal(kill(d->pid, SIGHUP), 0);
    assert_true(harness_log_has(d, "reloaded", 10000));
    assert_int_equal(s_status(cop, 5000), 0);
    assert_int_equal(s_status(c1, 1500), -1);
    /* its subscription too: the heartbeat (every second) no longer reaches it */
    while ((ev = s_next(s1, "status", 0)) != NULL)
        json_decref(ev);
    ev = s_next(s1, "status", 3000);
    assert_null(ev);
    assert_int_equal(s_status(cop, 5000), 0);
    client_sub_destroy(&s1);
    client_destroy(&c1);
    client_destroy(&cop);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    harness_cleanup(d);
}

/* --- 8. purchases by voice or typed checkout carry their time -------------- */

static void
test_checkout_has_real_time(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "time", S_DEMO_CONF);
    harness_start(d);
    client_t *c = harness_client(d);
    long long t0 = (long long) time(NULL);
    const char *steps[] = { "show me sneakers", "add to cart", "checkout", "yes" };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(steps); i++) {
        json_t *r = s_text(c, "kiosk-t", steps[i], i == 0 ? "c0777" : NULL);
        fprintf(stderr, "# %s -> %s\n", steps[i], s_jstr(r, "say", NULL));
        json_decref(r);
    }
    long long t1 = (long long) time(NULL);
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM interactions WHERE customer = 'c0777'"
                          " AND type = 'purchase'");
    assert_true(s_sql_int(d->db, q) >= 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM interactions WHERE customer = 'c0777'"
                          " AND type = 'purchase' AND time BETWEEN %lld AND %lld", t0, t1);
    assert_int_equal(s_sql_int(d->db, q),
                     s_sql_int(d->db, "SELECT count(*) FROM interactions WHERE"
                                      " customer = 'c0777' AND type = 'purchase'"));
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    harness_cleanup(d);
}

/* --- forget ----------------------------------------------------------------- */

/* Cells of every column of every table of db holding needle. */
static long long
s_cells_holding(const char *db, const char *needle)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *tabs = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT name FROM sqlite_schema WHERE type = 'table'",
                                        -1, &tabs, NULL), SQLITE_OK);
    long long hits = 0;
    int ntab = 0, ncol = 0;
    while (sqlite3_step(tabs) == SQLITE_ROW) {
        char tab[128], sql[512];
        shop_strlcpy(tab, (const char *) sqlite3_column_text(tabs, 0), sizeof tab);
        ntab++;
        snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s')", tab);
        sqlite3_stmt *cols = NULL;
        assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &cols, NULL), SQLITE_OK);
        while (sqlite3_step(cols) == SQLITE_ROW) {
            char col[128];
            shop_strlcpy(col, (const char *) sqlite3_column_text(cols, 0), sizeof col);
            ncol++;
            snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\" WHERE"
                     " instr(CAST(\"%s\" AS BLOB), CAST(?1 AS BLOB)) > 0", tab, col);
            sqlite3_stmt *st = NULL;
            assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
            sqlite3_bind_text(st, 1, needle, -1, SQLITE_STATIC);
            assert_int_equal(sqlite3_step(st), SQLITE_ROW);
            long long n = sqlite3_column_int64(st, 0);
            if (n)
                fprintf(stderr, "# %s.%s: %lld cells hold %s\n", tab, col, n, needle);
            hits += n;
            sqlite3_finalize(st);
        }
        sqlite3_finalize(cols);
    }
    sqlite3_finalize(tabs);
    sqlite3_close(h);
    fprintf(stderr, "# scanned %d tables, %d columns for %s: %lld cells\n", ntab, ncol, needle,
            hits);
    return hits;
}

/* The item ids of a personal recommendation for customer, comma-joined. */
static void
s_recs(client_t *c, const char *customer, char *out, size_t len)
{
    proto_reply_t r;
    assert_int_equal(s_req(c, "recommend", "kiosk-f",
                           json_pack("{s:s, s:i}", "customer", customer, "limit", 10), 10000, &r),
                     0);
    if (!r.ok)
        fail_msg("recommend: %s", r.message);
    out[0] = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r.body, "results"), i, v)
    {
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s%s", i ? "," : "", s_jstr(v, "item", NULL));
    }
    proto_reply_clear(&r);
}

static void
test_forget_customer(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "forget", S_DEMO_CONF);
    harness_start(d);
    client_t *c = harness_client(d);
    char before[1024], stranger[1024], after[1024], cmd[2048];
    s_recs(c, "c0042", before, sizeof before);
    s_recs(c, "c-never-seen", stranger, sizeof stranger);
    assert_string_not_equal(before, stranger);
    /* c0042 at a kiosk: a session context and a cart line naming it */
    json_t *r = s_text(c, "kiosk-f", "show me sneakers", "c0042");
    json_decref(r);
    r = s_text(c, "kiosk-f", "add to cart", NULL);
    json_decref(r);
    proto_reply_t pr;
    assert_int_equal(s_req(c, "cart", "kiosk-g",
                           json_pack("{s:s, s:s, s:s}", "op", "add", "item", "bag-01", "customer",
                                     "c0042"), 5000, &pr), 0);
    assert_true(pr.ok);
    proto_reply_clear(&pr);
    long long events = s_sql_int(d->db, "SELECT count(*) FROM interactions WHERE customer = 'c0042'");
    assert_true(events > 0);
    assert_true(s_cells_holding(d->db, "c0042") > events);

    /* shopctl forget c0042 */
    snprintf(cmd, sizeof cmd, "%s/shopctl -e '%s' -C forget c0042 > %s/forget.json",
             getenv("SHOP_TOP_BUILDDIR") ? getenv("SHOP_TOP_BUILDDIR") : ".", d->ep, d->dir);
    assert_int_equal(system(cmd), 0);
    char path[1024], ferr[256];
    snprintf(path, sizeof path, "%s/forget.json", d->dir);
    size_t len;
    char *text = (char *) shop_read_file(path, 1 << 16, &len, ferr, sizeof ferr);
    assert_non_null(text);
    fprintf(stderr, "# shopctl forget c0042: %s", text);
    json_t *rep = json_loadb(text, len, 0, NULL);
    free(text);
    assert_non_null(rep);
    assert_int_equal(json_integer_value(json_object_get(rep, "events")), events);
    assert_int_equal(json_integer_value(json_object_get(rep, "customers")), 1);
    assert_true(json_integer_value(json_object_get(rep, "sessions")) >= 1);
    assert_true(json_integer_value(json_object_get(rep, "cart_lines")) >= 2);
    assert_true(json_is_true(json_object_get(json_object_get(rep, "model"), "history")));
    json_decref(rep);

    /* no cell of the database holds c0042 any more */
    assert_int_equal(s_cells_holding(d->db, "c0042"), 0);
    /* recommendations for c0042 are those of a customer never seen */
    s_recs(c, "c0042", after, sizeof after);
    s_recs(c, "c-never-seen", stranger, sizeof stranger);
    fprintf(stderr, "# c0042 before: %s\n# c0042 after:  %s\n# new customer: %s\n", before,
            after, stranger);
    assert_string_equal(after, stranger);
    /* the audit line names a keyed hash, not the customer */
    assert_true(harness_log_has(d, "forget: customer ", 2000));
    assert_int_equal(harness_log_count(d, "c0042"), 0);
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    harness_cleanup(d);
}

/* The store alone: killed half-way through an erasure, nothing is lost;
 * finished, nothing is left; idle sessions go, fresh ones stay. */
static void
test_forget_survives_a_crash(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "fcrash", NULL);
    store_t *st = store_open(d->db, NULL);
    assert_non_null(st);
    for (int i = 0; i < 50; i++) {
        store_event_t ev = { .time = 1700000000 + i, .type = i % 3, .quantity = 1 };
        shop_strlcpy(ev.customer, i % 2 ? "c0042" : "c0007", sizeof ev.customer);
        snprintf(ev.item, sizeof ev.item, "item-%d", i % 7);
        assert_int_equal(store_add_event(st, &ev), 0);
    }
    assert_int_equal(store_cart_set(st, "kiosk-1", "c0042", "item-1", 2), 0);
    assert_int_equal(store_cart_set(st, "kiosk-2", NULL, "item-2", 1), 0);
    assert_int_equal(store_meta_set(st, "session:kiosk-2",
                                    "{\"session\":\"kiosk-2\",\"customer\":\"c0042\","
                                    "\"touched\":1700000000}"), 0);
    assert_int_equal(store_meta_set(st, "session:kiosk-3",
                                    "{\"session\":\"kiosk-3\",\"customer\":\"c0007\"}"), 0);
    store_close(&st);
    long long cells = s_cells_holding(d->db, "c0042");
    assert_int_equal(cells, 25 + 1 + 1 + 1); /* events, the customer, a cart line, a context */

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("SHOP_STORE_TEST_KILL_IN_FORGET", "1", 1);
        store_t *s2 = store_open(d->db, NULL);
        store_forget_t f;
        store_forget_customer(s2, "c0042", &f);
        _exit(3); /* not reached: killed before COMMIT */
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    assert_int_equal(s_sql_int(d->db, "SELECT count(*) FROM pragma_integrity_check"
                                      " WHERE integrity_check = 'ok'"), 1);
    assert_int_equal(s_cells_holding(d->db, "c0042"), cells);

    st = store_open(d->db, NULL);
    store_forget_t f;
    assert_int_equal(store_forget_customer(st, "c0042", &f), 0);
    assert_int_equal(f.events, 25);
    assert_int_equal(f.customers, 1);
    assert_int_equal(f.sessions, 1);
    assert_int_equal(f.cart_lines, 2); /* its own line, and the line of its session kiosk-2 */
    store_close(&st);
    assert_int_equal(s_cells_holding(d->db, "c0042"), 0);
    assert_int_equal(s_sql_int(d->db, "SELECT count(*) FROM interactions"), 25);
    /* not even in the file's free pages or the -wal: secure_delete and the checkpoint */
    const char *sfx[] = { "", "-wal" };
    for (int i = 0; i < 2; i++) {
        char path[1024], err[256];
        size_t len = 0;
        snprintf(path, sizeof path, "%s%s", d->db, sfx[i]);
        uint8_t *bytes = shop_read_file(path, 64u << 20, &len, err, sizeof err);
        if (bytes)
            assert_null(memmem(bytes, len, "c0042", 5));
        free(bytes);
    }

    /* idle sessions: kiosk-3's context (no touched time) and kiosk-9's old cart */
    st = store_open(d->db, NULL);
    assert_int_equal(store_cart_set(st, "kiosk-9", NULL, "item-3", 1), 0);
    int64_t ns = -1, nc = -1;
    assert_int_equal(store_expire_sessions(st, (int64_t) time(NULL) - 3600, &ns, &nc), 0);
    assert_int_equal(ns, 1);
    assert_int_equal(nc, 0);
    assert_int_equal(store_expire_sessions(st, (int64_t) time(NULL) + 10, &ns, &nc), 0);
    assert_int_equal(nc, 1);
    store_close(&st);
    assert_int_equal(s_sql_int(d->db, "SELECT count(*) FROM carts"), 0);
    assert_int_equal(s_sql_int(d->db, "SELECT count(*) FROM meta WHERE key LIKE 'session:%'"), 0);
    harness_cleanup(d);
}

int
main(void)
{
    if (harness_init() != 0) {
        fprintf(stderr, "shopd is not built\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_fd_flood_ipc, s_teardown),
        cmocka_unit_test_teardown(test_fd_flood_tcp, s_teardown),
        cmocka_unit_test_teardown(test_second_instance_refused, s_teardown),
        cmocka_unit_test_teardown(test_unfinished_multipart_bounded, s_teardown),
        cmocka_unit_test_teardown(test_abstract_ipc_needs_curve, s_teardown),
        cmocka_unit_test_teardown(test_refusal_log_rate_limited, s_teardown),
        cmocka_unit_test_teardown(test_no_shared_default_session, s_teardown),
        cmocka_unit_test_teardown(test_session_expires, s_teardown),
        cmocka_unit_test_teardown(test_events_only_to_their_session, s_teardown),
        cmocka_unit_test_teardown(test_revoked_key_cut_off, s_teardown),
        cmocka_unit_test_teardown(test_checkout_has_real_time, s_teardown),
        cmocka_unit_test_teardown(test_forget_customer, s_teardown),
        cmocka_unit_test_teardown(test_forget_survives_a_crash, s_teardown),
    };
    return cmocka_run_group_tests_name("rel_attack", tests, NULL, NULL);
}
