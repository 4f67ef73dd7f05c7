/* tests/recommend_curve_test.c: CURVE on the recommendation broker's hops,
 * with real `shop-recommend` processes (a broker and workers) on loopback
 * TCP and the key files `shopctl keygen` writes:
 * 1. a worker whose key is on the broker's --worker-keys list serves a
 *    query from a CURVE client through the broker, with the answer the
 *    engine gives in-process on the same store and model;
 * 2. a worker with a key not on the list is never given a query (the client
 *    times out while it is the only one; once an allowed worker is up every
 *    query goes there), and the broker logs one refusal line naming its key;
 * 3. the back hop is encrypted: a plain (NULL mechanism) peer on the back
 *    end never receives a query, and a TCP relay between a worker and the
 *    broker sees a CURVE greeting and none of the query's or answer's text,
 *    where the same relay on a broker without CURVE sees both;
 * 4. bad key files, allow-lists and open endpoints without CURVE stop the
 *    broker and the worker with a message naming the file and line;
 * 5. a real shopd with [recommend] key_file and server_key asks through the
 *    CURVE front end and gets the worker's answer; with a key the broker
 *    does not list, its queries are not_available;
 * 6. a service bound without a broker (--bind with --key and --client-keys)
 *    answers a listed CURVE client, and nothing to a plain one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "common/util.h"
#include "ipc/keys.h"
#include "recommend/import.h"
#include "recommend/service.h"
#include "tests/shopd_harness.h"

enum { MAX_PROCS = 4, PORT_TRIES = 20 };

typedef struct {
    char dir[64];
    char bin[1024];
    char db[128];
    char model[1100];
    char front[64], back[64];
    pid_t pid[MAX_PROCS];       /* broker first, then workers; 0 = none */
    char log[MAX_PROCS][128];
} s_fix_t;

static s_fix_t s_fix;

static void
s_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void
s_keygen(const char *dir, const char *name)
{
    char pub[KEYS_Z85_LEN + 1], sec[KEYS_Z85_LEN + 1], base[256], err[256];
    snprintf(base, sizeof base, "%s/%s", dir, name);
    assert_int_equal(keys_generate(pub, sec, err, sizeof err), 0);
    if (keys_write_pair(base, pub, sec, err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* The public key of dir/name.pub. */
static void
s_pub(const char *name, char pub[KEYS_Z85_LEN + 1])
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/%s.pub", s_fix.dir, name);
    if (keys_read(path, pub, NULL, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void
s_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", s_fix.dir, name);
}

static int
s_setup(void **state)
{
    (void) state;
    memset(&s_fix, 0, sizeof s_fix);
    const char *top = getenv("SHOP_TOP_BUILDDIR");
    snprintf(s_fix.bin, sizeof s_fix.bin, "%s/shop-recommend", top ? top : ".");
    if (access(s_fix.bin, X_OK) != 0) {
        fprintf(stderr, "%s is not built\n", s_fix.bin);
        return -1;
    }
    snprintf(s_fix.dir, sizeof s_fix.dir, "/tmp/shop-rec-curve-XXXXXX");
    if (!mkdtemp(s_fix.dir))
        return -1;
    /* the store every worker of these tests reads: the demo store */
    char demo[1024], err[512];
    if (!shop_data_path("data/demo", demo, sizeof demo)
        || !shop_data_path("data/demo/recommend.model", s_fix.model, sizeof s_fix.model)) {
        fprintf(stderr, "the demo store is not found\n");
        return -1;
    }
    snprintf(s_fix.db, sizeof s_fix.db, "%s/s.db", s_fix.dir);
    char *oerr = NULL;
    store_t *st = store_open(s_fix.db, &oerr);
    if (!st) {
        fprintf(stderr, "%s\n", oerr);
        free(oerr);
        return -1;
    }
    import_report_t rc, re;
    int rc_import = import_demo_store(st, demo, &rc, &re, err, sizeof err);
    store_close(&st);
    if (rc_import != 0) {
        fprintf(stderr, "demo import: %s\n", err);
        return -1;
    }
    return 0;
}

static void
s_kill_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (s_fix.pid[i] > 0) {
            kill(s_fix.pid[i], SIGKILL);
            waitpid(s_fix.pid[i], NULL, 0);
            s_fix.pid[i] = 0;
        }
}

static int
s_teardown_one(void **state)
{
    (void) state;
    s_kill_all();
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    s_kill_all();
    char cmd[128];
    if (s_fix.dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_fix.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s_fix.dir);
    }
    return 0;
}

/* Starts shop-recommend with argv (NULL-terminated, without the program)
 * in slot, its output in dir/log-<slot>. */
static pid_t
s_spawn(int slot, const char *const *args)
{
    char log[sizeof s_fix.log[0]];
    snprintf(log, sizeof log, "%s/log-%d", s_fix.dir, slot);
    memcpy(s_fix.log[slot], log, sizeof log);
    s_fix.pid[slot] = harness_spawn_program(s_fix.bin, args, log, true);
    return s_fix.pid[slot];
}

/* Runs shop-recommend with args to its end; returns the exit status and
 * its output in out. */
static int
s_run(const char *const *args, char *out, size_t outlen)
{
    pid_t pid = s_spawn(MAX_PROCS - 1, args);
    int st;
    /* a refused start exits at once; one that did start is stopped */
    for (int i = 0; i < 600; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            break;
        s_sleep_ms(50);
        if (i == 599) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
    }
    s_fix.pid[MAX_PROCS - 1] = 0;
    size_t len = 0;
    char err[256];
    char *text = (char *) shop_read_file(s_fix.log[MAX_PROCS - 1], 1 << 20, &len, err, sizeof err);
    snprintf(out, outlen, "%s", text ? text : "");
    free(text);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int
s_count(const char *log, const char *needle)
{
    size_t len = 0;
    char err[256];
    char *text = (char *) shop_read_file(log, 1 << 22, &len, err, sizeof err);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* Waits until log holds needle (up to 60 s: a loaded machine). */
static bool
s_wait_log(const char *log, const char *needle)
{
    for (int i = 0; i < 1200; i++) {
        if (s_count(log, needle) > 0)
            return true;
        s_sleep_ms(50);
    }
    return false;
}

/* Starts the broker in slot 0 with extra arguments (NULL-terminated) on
 * two fresh loopback ports; waits until it has bound both. */
static void
s_start_broker(const char *const *extra)
{
    for (int t = 0; t < PORT_TRIES; t++) {
        snprintf(s_fix.front, sizeof s_fix.front, "tcp://127.0.0.1:%d", harness_free_port());
        snprintf(s_fix.back, sizeof s_fix.back, "tcp://127.0.0.1:%d", harness_free_port());
        const char *args[16] = { "--broker", s_fix.front, s_fix.back };
        int n = 3;
        for (int i = 0; extra && extra[i]; i++)
            args[n++] = extra[i];
        args[n] = NULL;
        pid_t pid = s_spawn(0, args);
        for (int i = 0; i < 1200; i++) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                s_fix.pid[0] = 0;
                break;     /* a port was taken meanwhile: try others */
            }
            if (s_count(s_fix.log[0], "broker: clients on") > 0)
                return;
            s_sleep_ms(50);
        }
    }
    fail_msg("the broker did not start");
}

/* A worker in slot with the key pair dir/key.key (NULL: no CURVE). */
static void
s_start_worker(int slot, const char *name, const char *key, const char *back)
{
    char kpath[256], bpub[256];
    snprintf(kpath, sizeof kpath, "%s/%s.key", s_fix.dir, key ? key : "");
    s_path(bpub, sizeof bpub, "broker.pub");
    const char *args[] = { "--db", s_fix.db, "--model", s_fix.model, "--connect", back,
                           "--name", name, key ? "--key" : NULL, kpath, "--server-key", bpub,
                           NULL };
    s_spawn(slot, args);
}

/* A CURVE client of the broker's front end with the client key pair. */
static rec_client_t *
s_client(void *ctx, int timeout_ms, int retries)
{
    char key[256], bpub[256], err[512];
    s_path(key, sizeof key, "client.key");
    s_path(bpub, sizeof bpub, "broker.pub");
    rec_client_t *c = rec_client_new(ctx, s_fix.front, timeout_ms, retries);
    if (rec_client_set_curve(c, key, bpub, err, sizeof err) != 0)
        fail_msg("%s", err);
    return c;
}

/* Waits until worker `name` answers a ping through the broker. */
static void
s_wait_worker(rec_client_t *c, const char *name)
{
    char err[256], want[64];
    snprintf(want, sizeof want, "\"worker\":\"%s\"", name);
    /* at most 60 s, however long the client's tries are */
    double end = shop_now_s() + 60;
    while (shop_now_s() < end) {
        char *rep = rec_client_request(c, "{\"op\":\"ping\"}", err, sizeof err);
        bool ok = rep && strstr(rep, want);
        free(rep);
        if (ok)
            return;
        s_sleep_ms(50);
    }
    fail_msg("worker %s never answered through the broker", name);
}

/* The keys and allow-lists of the CURVE tests: the broker, the client, an
 * allowed worker ("good") and one whose key no list holds ("bad"). */
static void
s_keys(void)
{
    static bool made;
    if (made)
        return;
    made = true;
    const char *names[] = { "broker", "client", "good", "bad" };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(names); i++)
        s_keygen(s_fix.dir, names[i]);
    char good[KEYS_Z85_LEN + 1], client[KEYS_Z85_LEN + 1], path[256], text[256];
    s_pub("good", good);
    s_pub("client", client);
    snprintf(text, sizeof text, "# the workers\n%s good\n", good);
    s_path(path, sizeof path, "workers.allow");
    harness_write(path, text);
    snprintf(text, sizeof text, "%s shopd\n", client);
    s_path(path, sizeof path, "clients.allow");
    harness_write(path, text);
}

static void
s_start_curve_broker(void)
{
    s_keys();
    static char key[256], workers[256], clients[256];
    s_path(key, sizeof key, "broker.key");
    s_path(workers, sizeof workers, "workers.allow");
    s_path(clients, sizeof clients, "clients.allow");
    const char *extra[] = { "--key", key, "--worker-keys", workers, "--client-keys", clients,
                            NULL };
    s_start_broker(extra);
}

/* The in-process answer to q on the store and model the workers use. */
static int
s_reference(const rec_query_t *q, rec_result_t *out)
{
    char err[512], *oerr = NULL;
    store_t *st = store_open(s_fix.db, &oerr);
    assert_non_null(st);
    rec_engine_t *e = rec_engine_new(&st, err, sizeof err);
    assert_non_null(e);
    rec_model_t *m = rec_model_load(s_fix.model, err, sizeof err);
    assert_non_null(m);
    rec_engine_set_model(e, &m);
    int n = rec_engine_query(e, q, out, err, sizeof err);
    rec_engine_destroy(&e);
    return n;
}

static void
test_allowed_worker_serves_through_curve(void **state)
{
    (void) state;
    s_start_curve_broker();
    s_start_worker(1, "good", "good", s_fix.back);
    void *ctx = zmq_ctx_new();
    rec_client_t *c = s_client(ctx, 1000, 3);
    s_wait_worker(c, "good");
    rec_query_t q = { .kind = REC_Q_SIMILAR, .item = "sneaker-01", .k = 5, .now = 1780000000 };
    rec_result_t want[5], got[5];
    char worker[64], err[256];
    int nw = s_reference(&q, want);
    assert_int_equal(nw, 5);
    int n = rec_client_query(c, &q, got, worker, sizeof worker, err, sizeof err);
    assert_int_equal(n, nw);
    assert_string_equal(worker, "good");
    for (int i = 0; i < n; i++) {
        assert_string_equal(got[i].item, want[i].item);
        assert_string_equal(got[i].reason, want[i].reason);
    }
    rec_query_t p = { .kind = REC_Q_PERSONAL, .customer = "c0001", .k = 5, .now = 1780000000 };
    nw = s_reference(&p, want);
    assert_true(nw > 0);
    assert_int_equal(rec_client_query(c, &p, got, worker, sizeof worker, err, sizeof err), nw);
    for (int i = 0; i < nw; i++)
        assert_string_equal(got[i].item, want[i].item);
    /* a client without CURVE gets nothing from the CURVE front end */
    rec_client_t *plain = rec_client_new(ctx, s_fix.front, 300, 0);
    char *rep = rec_client_request(plain, "{\"op\":\"ping\"}", err, sizeof err);
    assert_null(rep);
    assert_int_equal(rec_client_last_error(plain), REC_CLIENT_NO_REPLY);
    rec_client_destroy(&plain);
    rec_client_destroy(&c);
    zmq_ctx_term(ctx);
}

static void
test_unknown_worker_key_gets_no_query(void **state)
{
    (void) state;
    s_start_curve_broker();
    char bad[KEYS_Z85_LEN + 1], good[KEYS_Z85_LEN + 1];
    s_pub("bad", bad);
    s_pub("good", good);
    s_start_worker(1, "bad", "bad", s_fix.back);
    /* the broker refuses its handshake and says so, once, naming the key */
    char line[128];
    snprintf(line, sizeof line, "client key not allowed %s", bad);
    assert_true(s_wait_log(s_fix.log[0], line));
    /* and the worker says why it gets nothing, once */
    assert_true(s_wait_log(s_fix.log[1], "bad: the broker at "));
    assert_int_equal(s_count(s_fix.log[1], "refused the CURVE handshake (key not allowed)"), 1);
    /* the only worker connected is the refused one: no reply */
    void *ctx = zmq_ctx_new();
    rec_client_t *c = s_client(ctx, 500, 0);
    char err[256], worker[64];
    rec_result_t r[5];
    rec_query_t q = { .kind = REC_Q_SIMILAR, .item = "sneaker-01", .k = 5, .now = 1780000000 };
    assert_int_equal(rec_client_query(c, &q, r, worker, sizeof worker, err, sizeof err), -1);
    assert_int_equal(rec_client_last_error(c), REC_CLIENT_NO_REPLY);
    rec_client_destroy(&c);
    /* with an allowed worker up, every query goes to it */
    c = s_client(ctx, 2000, 3);
    s_start_worker(2, "good", "good", s_fix.back);
    s_wait_worker(c, "good");
    /* its monitor thread logs the handshake, maybe after the first answer */
    assert_true(s_wait_log(s_fix.log[2], "good: CURVE handshake with the broker at "));
    assert_int_equal(s_count(s_fix.log[2], "good: CURVE handshake with the broker at "), 1);
    long retries0 = rec_client_retries(c);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(rec_client_query(c, &q, r, worker, sizeof worker, err, sizeof err), 5);
        assert_string_equal(worker, "good");
    }
    assert_int_equal(rec_client_retries(c) - retries0, 0);
    rec_client_destroy(&c);
    zmq_ctx_term(ctx);
    /* the refused worker served nothing; one refusal line per interval (10 s):
     * the first names its key, none names the allowed one */
    kill(s_fix.pid[1], SIGTERM);
    int st;
    waitpid(s_fix.pid[1], &st, 0);
    s_fix.pid[1] = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(s_count(s_fix.log[1], "bad: stopping after 0 requests"), 1);
    assert_int_equal(s_count(s_fix.log[0], line), 1);
    assert_int_equal(s_count(s_fix.log[0], "zap: refused a connection")
                         - s_count(s_fix.log[0], "more refused since the last line"), 1);
    assert_int_equal(s_count(s_fix.log[0], good), 0);
}

/* --- a TCP relay that records what crosses it ------------------------------ */

typedef struct {
    int listen_fd, port, upstream_port;
    pthread_t th;
    atomic_bool stop;
    pthread_mutex_t mu;
    char *up;                  /* bytes from the connecting side (the worker) */
    size_t n_up;
    char *down;                /* bytes from the upstream side (the broker) */
    size_t n_down;
} s_relay_t;

static void
s_relay_keep(s_relay_t *r, bool up, const char *buf, size_t n)
{
    pthread_mutex_lock(&r->mu);
    char **p = up ? &r->up : &r->down;
    size_t *len = up ? &r->n_up : &r->n_down;
    *p = xrealloc(*p, *len + n + 1);
    memcpy(*p + *len, buf, n);
    *len += n;
    pthread_mutex_unlock(&r->mu);
}

/* Pumps one accepted connection to the upstream port until either closes. */
static void
s_relay_pump(s_relay_t *r, int a)
{
    int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t) r->upstream_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (b < 0 || connect(b, (struct sockaddr *) &to, sizeof to) != 0) {
        if (b >= 0)
            close(b);
        return;
    }
    char buf[16384];
    while (!atomic_load(&r->stop)) {
        struct pollfd p[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
        if (poll(p, 2, 100) <= 0)
            continue;
        bool done = false;
        for (int i = 0; i < 2 && !done; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n <= 0) {
                done = true;
                break;
            }
            s_relay_keep(r, i == 0, buf, (size_t) n);
            int out = i == 0 ? b : a;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(out, buf + off, (size_t) (n - off));
                if (w <= 0) {
                    done = true;
                    break;
                }
                off += w;
            }
        }
        if (done)
            break;
    }
    close(b);
}

static void *
s_relay_main(void *arg)
{
    s_relay_t *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = { r->listen_fd, POLLIN, 0 };
        if (poll(&p, 1, 100) <= 0)
            continue;
        int a = accept(r->listen_fd, NULL, NULL);
        if (a < 0)
            continue;
        s_relay_pump(r, a);
        close(a);
    }
    return NULL;
}

static void
s_relay_start(s_relay_t *r, int upstream_port)
{
    memset(r, 0, sizeof *r);
    r->upstream_port = upstream_port;
    pthread_mutex_init(&r->mu, NULL);
    atomic_init(&r->stop, false);
    r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(r->listen_fd, (struct sockaddr *) &a, sizeof a), 0);
    assert_int_equal(listen(r->listen_fd, 4), 0);
    assert_int_equal(getsockname(r->listen_fd, (struct sockaddr *) &a, &len), 0);
    r->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&r->th, NULL, s_relay_main, r), 0);
}

static void
s_relay_stop(s_relay_t *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->th, NULL);
    close(r->listen_fd);
    pthread_mutex_destroy(&r->mu);
}

static bool
s_has(const char *buf, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; buf && i + k <= n; i++)
        if (memcmp(buf + i, needle, k) == 0)
            return true;
    return false;
}

/* Runs 20 queries through a worker that reaches the back end through a
 * relay; returns the relay's capture (caller frees r->up, r->down). */
static void
s_relayed_queries(s_relay_t *r, const char *key, void *ctx, rec_client_t *c)
{
    int back_port = atoi(strrchr(s_fix.back, ':') + 1);
    s_relay_start(r, back_port);
    char via[64];
    snprintf(via, sizeof via, "tcp://127.0.0.1:%d", r->port);
    s_start_worker(1, "relayed", key, via);
    s_wait_worker(c, "relayed");
    (void) ctx;
    rec_query_t q = { .kind = REC_Q_SIMILAR, .item = "sneaker-01", .k = 5, .now = 1780000000 };
    rec_result_t res[5];
    char err[256], worker[64];
    for (int i = 0; i < 20; i++) {
        assert_int_equal(rec_client_query(c, &q, res, worker, sizeof worker, err, sizeof err), 5);
        assert_string_equal(worker, "relayed");
    }
    kill(s_fix.pid[1], SIGKILL);
    waitpid(s_fix.pid[1], NULL, 0);
    s_fix.pid[1] = 0;
    s_relay_stop(r);
}

static void
test_back_hop_is_encrypted(void **state)
{
    (void) state;
    s_start_curve_broker();
    void *ctx = zmq_ctx_new();
    /* a plain ZMTP peer on the back end: its handshake fails, so the DEALER
     * never hands it a query */
    void *plain = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    zmq_setsockopt(plain, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(plain, s_fix.back), 0);
    rec_client_t *c = s_client(ctx, 2000, 3);
    s_relay_t r;
    s_relayed_queries(&r, "good", ctx, c);
    assert_int_equal(rec_client_retries(c), 0);
    zmq_pollitem_t it = { plain, 0, ZMQ_POLLIN, 0 };
    assert_int_equal(zmq_poll(&it, 1, 0), 0);
    zmq_close(plain);
    /* the worker's greeting offers CURVE (ZMTP 3: the mechanism at bytes
     * 12..31), and nothing of the queries or answers is readable */
    assert_true(r.n_up > 64 && r.n_down > 64);
    assert_memory_equal(r.up + 12, "CURVE", 5);
    assert_memory_equal(r.down + 12, "CURVE", 5);
    const char *words[] = { "sneaker", "recommend", "similar", "relayed", "\"ok\"" };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(words); i++) {
        assert_false(s_has(r.up, r.n_up, words[i]));
        assert_false(s_has(r.down, r.n_down, words[i]));
    }
    free(r.up);
    free(r.down);
    rec_client_destroy(&c);
    s_kill_all();

    /* the control: the same relay on a broker without CURVE reads it all */
    s_start_broker(NULL);
    c = rec_client_new(ctx, s_fix.front, 2000, 3);
    s_relayed_queries(&r, NULL, ctx, c);
    assert_memory_equal(r.up + 12, "NULL", 4);
    assert_true(s_has(r.down, r.n_down, "sneaker-01"));
    assert_true(s_has(r.up, r.n_up, "\"worker\":\"relayed\""));
    free(r.up);
    free(r.down);
    rec_client_destroy(&c);
    zmq_ctx_term(ctx);
}

static void
test_bad_key_files_are_refused_clearly(void **state)
{
    (void) state;
    s_keys();
    char key[256], pub[256], workers[256], garbage[256], badlist[256];
    char missing[256], out[8192], want[512];
    s_path(key, sizeof key, "broker.key");
    s_path(pub, sizeof pub, "broker.pub");
    s_path(workers, sizeof workers, "workers.allow");
    s_path(garbage, sizeof garbage, "garbage.key");
    s_path(badlist, sizeof badlist, "bad.allow");
    s_path(missing, sizeof missing, "missing.key");
    harness_write(garbage, "# a key file\npublic-key = not-a-key\n");
    char good[KEYS_Z85_LEN + 1];
    s_pub("good", good);
    char text[256];
    snprintf(text, sizeof text, "%s good\nshort-key\n", good);
    harness_write(badlist, text);
    char port[64], port2[64];
    snprintf(port, sizeof port, "tcp://127.0.0.1:%d", harness_free_port());
    snprintf(port2, sizeof port2, "tcp://127.0.0.1:%d", harness_free_port());

    /* the broker: a missing key file, a garbage one, a public key file
     * (no secret), a bad allow-list line */
    const char *a1[] = { "--broker", port, port2, "--key", missing, "--worker-keys", workers,
                         NULL };
    assert_int_equal(s_run(a1, out, sizeof out), 1);
    snprintf(want, sizeof want, "broker key: %s: No such file or directory", missing);
    assert_non_null(strstr(out, want));
    const char *a2[] = { "--broker", port, port2, "--key", garbage, "--worker-keys", workers,
                         NULL };
    assert_int_equal(s_run(a2, out, sizeof out), 1);
    snprintf(want, sizeof want, "broker key: %s: line 2 is not \"public-key = <Z85>\"", garbage);
    assert_non_null(strstr(out, want));
    const char *a3[] = { "--broker", port, port2, "--key", pub, "--worker-keys", workers, NULL };
    assert_int_equal(s_run(a3, out, sizeof out), 1);
    snprintf(want, sizeof want, "broker key: %s: no secret key", pub);
    assert_non_null(strstr(out, want));
    const char *a4[] = { "--broker", port, port2, "--key", key, "--worker-keys", badlist, NULL };
    assert_int_equal(s_run(a4, out, sizeof out), 1);
    snprintf(want, sizeof want,
             "worker allow-list: %s: line 2 is not a 40-character Z85 public key", badlist);
    assert_non_null(strstr(out, want));
    /* an end another machine can reach needs CURVE */
    const char *a5[] = { "--broker", port, "tcp://0.0.0.0:0", NULL };
    assert_int_equal(s_run(a5, out, sizeof out), 1);
    assert_non_null(strstr(out, "refusing to listen on tcp://0.0.0.0:0 without CURVE"));

    /* a worker: a garbage key file, a broker key that is no key */
    const char *w1[] = { "--db", s_fix.db, "--connect", port2, "--key", garbage,
                         "--server-key", pub, NULL };
    assert_int_equal(s_run(w1, out, sizeof out), 1);
    snprintf(want, sizeof want, "service key: %s: line 2 is not", garbage);
    assert_non_null(strstr(out, want));
    const char *w2[] = { "--db", s_fix.db, "--connect", port2, "--key", key,
                         "--server-key", "not-a-key", NULL };
    assert_int_equal(s_run(w2, out, sizeof out), 1);
    assert_non_null(strstr(out, "broker key: not-a-key: No such file or directory"));
    const char *w3[] = { "--db", s_fix.db, "--connect", "tcp://192.0.2.1:5560", NULL };
    assert_int_equal(s_run(w3, out, sizeof out), 1);
    assert_non_null(strstr(out, "refusing to connect to tcp://192.0.2.1:5560 without CURVE"));
    /* --server-key without --key is a usage error */
    const char *w4[] = { "--db", s_fix.db, "--connect", port2, "--server-key", pub, NULL };
    assert_int_equal(s_run(w4, out, sizeof out), 2);
}

/* shopd -> CURVE front -> broker -> CURVE back -> worker. */
static void
s_shopd_similar(harness_t *d, const char *key_name, proto_reply_t *r)
{
    char key[256], bpub[256], conf[1024];
    s_path(key, sizeof key, key_name);
    s_path(bpub, sizeof bpub, "broker.pub");
    harness_prepare(d, "rec-curve", NULL);
    snprintf(conf, sizeof conf, "[daemon]\nstatus_interval = 0\n[store]\nimport_demo = no\n"
             "[recommend]\nendpoint = %s\ntimeout = 1000\nkey_file = %s\nserver_key = %s\n",
             s_fix.front, key, bpub);
    harness_write(d->conf, conf);
    harness_start(d);
    client_t *c = harness_client(d);
    char err[512];
    /* the worker is up: the first answer comes at once, or never */
    json_t *body = json_pack("{s:s, s:i}", "item", "sneaker-01", "limit", 5);
    if (client_request(c, "similar", "kiosk-1", body, NULL, NULL, 0, 20000, r, err,
                       sizeof err) != 0)
        fail_msg("similar: no reply from shopd: %s", err);
    json_decref(body);
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
}

static void
test_shopd_asks_through_curve(void **state)
{
    (void) state;
    s_start_curve_broker();
    s_start_worker(1, "good", "good", s_fix.back);
    void *ctx = zmq_ctx_new();
    rec_client_t *rc = s_client(ctx, 1000, 3);
    s_wait_worker(rc, "good");
    rec_client_destroy(&rc);
    zmq_ctx_term(ctx);
    rec_query_t q = { .kind = REC_Q_SIMILAR, .item = "sneaker-01", .k = 5 };
    rec_result_t want[5];
    assert_int_equal(s_reference(&q, want), 5);
    harness_t d;
    proto_reply_t r;
    /* shopd's key is the broker's client key: answered by the worker */
    s_shopd_similar(&d, "client.key", &r);
    if (!r.ok)
        fail_msg("similar refused: %s", r.message);
    assert_string_equal(json_string_value(json_object_get(r.body, "worker")), "good");
    json_t *res = json_object_get(r.body, "results");
    assert_int_equal(json_array_size(res), 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(res, (size_t) i),
                                                              "item")), want[i].item);
    proto_reply_clear(&r);
    assert_true(harness_log_has(&d, "(CURVE)", 0));
    harness_cleanup(&d);
    /* a key the front end does not list: no answer, said as not_available */
    s_shopd_similar(&d, "bad.key", &r);
    assert_false(r.ok);
    assert_int_equal(r.code, PROTO_E_NOT_AVAILABLE);
    proto_reply_clear(&r);
    harness_cleanup(&d);
    char bad[KEYS_Z85_LEN + 1];
    s_pub("bad", bad);
    assert_true(s_count(s_fix.log[0], bad) >= 1);
    /* a key file that is no key file stops shopd at start, saying which */
    char garbage[256], conf[1024], bpub[256];
    s_path(garbage, sizeof garbage, "shopd-garbage.key");
    s_path(bpub, sizeof bpub, "broker.pub");
    harness_write(garbage, "public-key = 123\n");
    harness_prepare(&d, "rec-curve", NULL);
    snprintf(conf, sizeof conf, "[store]\nimport_demo = no\n[recommend]\nendpoint = %s\n"
             "key_file = %s\nserver_key = %s\n", s_fix.front, garbage, bpub);
    harness_write(d.conf, conf);
    harness_spawn(&d, NULL);
    char line[512];
    snprintf(line, sizeof line, "[recommend] client key: %s: line 1 is not", garbage);
    assert_true(harness_log_has(&d, line, 30000));
    assert_int_not_equal(harness_stop(&d, SIGTERM), 0);
    harness_cleanup(&d);
}

static void
test_bound_service_with_curve(void **state)
{
    (void) state;
    s_keys();
    char key[256], clients[256], ep[64];
    s_path(key, sizeof key, "broker.key");     /* the service's key pair: the broker's files */
    s_path(clients, sizeof clients, "clients.allow");
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", harness_free_port());
    const char *args[] = { "--db", s_fix.db, "--model", s_fix.model, "--bind", ep, "--name",
                           "bound", "--key", key, "--client-keys", clients, NULL };
    s_spawn(1, args);
    snprintf(s_fix.front, sizeof s_fix.front, "%s", ep);
    void *ctx = zmq_ctx_new();
    rec_client_t *c = s_client(ctx, 1000, 3);
    s_wait_worker(c, "bound");
    rec_query_t q = { .kind = REC_Q_SIMILAR, .item = "sneaker-01", .k = 5, .now = 1780000000 };
    rec_result_t want[5], got[5];
    char worker[64], err[256];
    assert_int_equal(s_reference(&q, want), 5);
    assert_int_equal(rec_client_query(c, &q, got, worker, sizeof worker, err, sizeof err), 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(got[i].item, want[i].item);
    rec_client_destroy(&c);
    rec_client_t *plain = rec_client_new(ctx, ep, 300, 0);
    char *rep = rec_client_request(plain, "{\"op\":\"ping\"}", err, sizeof err);
    assert_null(rep);
    rec_client_destroy(&plain);
    zmq_ctx_term(ctx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_allowed_worker_serves_through_curve, s_teardown_one),
        cmocka_unit_test_teardown(test_unknown_worker_key_gets_no_query, s_teardown_one),
        cmocka_unit_test_teardown(test_back_hop_is_encrypted, s_teardown_one),
        cmocka_unit_test_teardown(test_bad_key_files_are_refused_clearly, s_teardown_one),
        cmocka_unit_test_teardown(test_shopd_asks_through_curve, s_teardown_one),
        cmocka_unit_test_teardown(test_bound_service_with_curve, s_teardown_one),
    };
    if (harness_init() != 0) {
        fprintf(stderr, "%s is not built\n", harness_shopd_bin());
        return 1;
    }
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
