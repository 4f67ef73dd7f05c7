/* bench/recommend_stores.c: `recommend-bench --stores`, the store backends
 * side by side on this machine. For SQLite (a WAL file) and PostgreSQL (a
 * private server started with tests/pg_server.sh, fsync, full-page writes
 * and synchronous commit turned back on, so both acknowledge only durable
 * writes), two devices -- two
 * `shop-recommend` worker processes on the same store, each bound on its own
 * loopback port -- are driven by REQ clients, half on each:
 * - queries: the kiosk mix (60 % personal, 20 % similar, 10 % bought
 *   together, 10 % category) for demo customers and items; queries/s, p50
 *   and p99 latency;
 * - events: {"op":"event"} view events, each acknowledged once it is in the
 *   store (SQLite: synchronous = FULL; PostgreSQL: a committed transaction);
 *   events/s, p50, p99. Afterwards the store must hold exactly the
 *   acknowledged events more than before, or the run fails.
 * Prints a table, PostgreSQL / SQLite ratios and one JSON line. */
#include "config.h"

#include "bench/recommend_stores.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "common/util.h"
#include "recommend/store.h"

#define S_DEVICES 2
#define S_CLIENTS_PER_DEVICE 2
#define S_POOL 1024

typedef struct {
    double qps, p50_us, p99_us;
    long n, errors;
} s_stat_t;

typedef struct {
    const char *name;          /* "sqlite", "postgresql" */
    char where[1024];          /* the --db argument */
    s_stat_t query, event;
    long stored;               /* events the store gained during the event run */
    bool ok;
} s_backend_t;

typedef struct {
    const char *endpoint;
    char (*pool)[512];         /* requests, serialised before the clock starts */
    int *plen;
    double seconds;
    uint64_t *lat;             /* ns */
    size_t n, cap;
    long errors;
} s_cli_t;

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

static int
s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *) &a, sizeof a) == 0
        && getsockname(fd, (struct sockaddr *) &a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void *s_ctx;

static void *
s_cli_main(void *arg)
{
    s_cli_t *c = arg;
    void *sock = zmq_socket(s_ctx, ZMQ_REQ);
    int linger = 0, timeout = 30000;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_connect(sock, c->endpoint);
    char rep[65536];
    double end = shop_now_s() + c->seconds;
    for (int i = 0; shop_now_s() < end; i = (i + 1) % S_POOL) {
        uint64_t t0 = shop_now_ns();
        int got = -1;
        if (zmq_send(sock, c->pool[i], (size_t) c->plen[i], 0) >= 0)
            got = zmq_recv(sock, rep, sizeof rep - 1, 0);
        uint64_t dt = shop_now_ns() - t0;
        if (got < 0) {
            c->errors++;
            break;     /* a REQ without its reply cannot go on */
        }
        if (strncmp(rep, "{\"ok\":true", 10) != 0) {
            c->errors++;
            continue;
        }
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 16384;
            c->lat = xrealloc(c->lat, c->cap * sizeof *c->lat);
        }
        c->lat[c->n++] = dt;
    }
    zmq_close(sock);
    return NULL;
}

/* The demo store's ids, for the request mix. */
typedef struct {
    char **items, **cats;
    size_t n_items;
} s_ids_t;

/* Fills pool[S_POOL] with requests: the query mix, or view events. */
static void
s_fill(const s_ids_t *ids, unsigned seed, bool events, char (*pool)[512], int *plen)
{
    unsigned r = seed;
    for (int i = 0; i < S_POOL; i++) {
        int pick = (int) (rand_r(&r) % 10);
        int u = 1 + (int) (rand_r(&r) % 300);
        const char *item = ids->items[rand_r(&r) % ids->n_items];
        const char *cat = ids->cats[rand_r(&r) % ids->n_items];
        if (events)
            plen[i] = snprintf(pool[i], sizeof pool[i],
                               "{\"op\":\"event\",\"customer\":\"c%04d\",\"item\":\"%s\","
                               "\"type\":\"view\",\"time\":%lld}", u, item,
                               (long long) time(NULL));
        else if (pick < 6)
            plen[i] = snprintf(pool[i], sizeof pool[i],
                               "{\"op\":\"recommend\",\"kind\":\"personal\","
                               "\"customer\":\"c%04d\",\"k\":10}", u);
        else if (pick < 8)
            plen[i] = snprintf(pool[i], sizeof pool[i],
                               "{\"op\":\"recommend\",\"kind\":\"similar\",\"item\":\"%s\","
                               "\"k\":10}", item);
        else if (pick < 9)
            plen[i] = snprintf(pool[i], sizeof pool[i],
                               "{\"op\":\"recommend\",\"kind\":\"together\",\"item\":\"%s\","
                               "\"k\":10}", item);
        else
            plen[i] = snprintf(pool[i], sizeof pool[i],
                               "{\"op\":\"recommend\",\"kind\":\"category\",\"category\":\"%s\","
                               "\"customer\":\"c%04d\",\"k\":10}", cat, u);
    }
}

/* Drives the devices' endpoints with S_CLIENTS_PER_DEVICE clients each. */
static s_stat_t
s_drive(char eps[S_DEVICES][64], const s_ids_t *ids, bool events, double seconds)
{
    enum { N = S_DEVICES * S_CLIENTS_PER_DEVICE };
    s_cli_t c[N];
    pthread_t th[N];
    double t0 = shop_now_s();
    for (int i = 0; i < N; i++) {
        c[i] = (s_cli_t) { .endpoint = eps[i % S_DEVICES], .seconds = seconds };
        c[i].pool = xmallocarray(S_POOL, sizeof *c[i].pool);
        c[i].plen = xmallocarray(S_POOL, sizeof *c[i].plen);
        s_fill(ids, (unsigned) (i + 1) * 7919u, events, c[i].pool, c[i].plen);
    }
    t0 = shop_now_s();
    for (int i = 0; i < N; i++)
        pthread_create(&th[i], NULL, s_cli_main, &c[i]);
    size_t total = 0;
    long errors = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        total += c[i].n;
        errors += c[i].errors;
    }
    double el = shop_now_s() - t0;
    uint64_t *all = xmallocarray(total + 1, sizeof *all);
    size_t k = 0;
    for (int i = 0; i < N; i++) {
        memcpy(all + k, c[i].lat, c[i].n * sizeof *all);
        k += c[i].n;
        free(c[i].lat);
        free(c[i].pool);
        free(c[i].plen);
    }
    qsort(all, total, sizeof *all, s_cmp_u64);
    s_stat_t s = { (double) total / el,
                   total ? (double) all[(size_t) (0.5 * (double) (total - 1))] / 1000.0 : 0,
                   total ? (double) all[(size_t) (0.99 * (double) (total - 1))] / 1000.0 : 0,
                   (long) total, errors };
    free(all);
    return s;
}

/* Starts a worker on where bound on ep; returns its pid, or -1. */
static pid_t
s_worker(const char *bin, const char *where, const char *ep, const char *name, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execl(bin, bin, "--db", where, "--demo", "--bind", ep, "--name", name, "--threads", "1",
              (char *) NULL);
        _exit(127);
    }
    return pid;
}

/* Waits until ep answers a ping (up to 120 s: the first worker imports). */
static bool
s_wait_ready(const char *ep, pid_t pid)
{
    for (int i = 0; i < 240; i++) {
        void *sock = zmq_socket(s_ctx, ZMQ_REQ);
        int linger = 0, timeout = 500;
        zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        zmq_connect(sock, ep);
        char rep[4096];
        int got = zmq_send(sock, "{\"op\":\"ping\"}", 13, 0) == 13
                      ? zmq_recv(sock, rep, sizeof rep - 1, 0) : -1;
        zmq_close(sock);
        if (got > 10 && strncmp(rep, "{\"ok\":true", 10) == 0)
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return false;
    }
    return false;
}

static int
s_events_in(const char *where, int64_t *n)
{
    char *err = NULL;
    store_t *s = store_open(where, &err);
    if (!s) {
        fprintf(stderr, "stores: %s\n", err ? err : "cannot open the store");
        free(err);
        return -1;
    }
    store_counts_t c;
    int rc = store_counts(s, &c);
    *n = c.events;
    store_close(&s);
    return rc;
}

static void
s_stop(pid_t *pid, int n)
{
    for (int i = 0; i < n; i++)
        if (pid[i] > 0) {
            kill(pid[i], SIGTERM);
            waitpid(pid[i], NULL, 0);
            pid[i] = 0;
        }
}

/* One backend: two devices, the query run, the event run. */
static int s_load_ids(const char *where, s_ids_t *ids);

static void
s_backend_run(s_backend_t *b, const char *bin, const char *dir, s_ids_t *ids, double seconds)
{
    char eps[S_DEVICES][64], log[1200];
    pid_t pid[S_DEVICES] = { 0 };
    snprintf(log, sizeof log, "%s/%s-workers.log", dir, b->name);
    for (int d = 0; d < S_DEVICES; d++) {
        char name[32];
        snprintf(name, sizeof name, "%s-%c", b->name, 'a' + d);
        snprintf(eps[d], sizeof eps[d], "tcp://127.0.0.1:%d", s_free_port());
        pid[d] = s_worker(bin, b->where, eps[d], name, log);
        /* one at a time: the first imports the demo store */
        if (pid[d] < 0 || !s_wait_ready(eps[d], pid[d])) {
            size_t len = 0;
            char err[256];
            char *text = (char *) shop_read_file(log, 1 << 20, &len, err, sizeof err);
            fprintf(stderr, "stores: %s device %d did not start; its log:\n%s\n", b->name, d,
                    text ? text : err);
            free(text);
            s_stop(pid, S_DEVICES);
            return;
        }
    }
    if (ids->n_items == 0 && s_load_ids(b->where, ids) != 0) {
        fprintf(stderr, "stores: no demo catalogue in %s\n", b->name);
        s_stop(pid, S_DEVICES);
        return;
    }
    b->query = s_drive(eps, ids, false, seconds);
    int64_t before = 0, after = 0;
    if (s_events_in(b->where, &before) != 0) {
        s_stop(pid, S_DEVICES);
        return;
    }
    b->event = s_drive(eps, ids, true, seconds);
    s_stop(pid, S_DEVICES);
    if (s_events_in(b->where, &after) != 0)
        return;
    b->stored = (long) (after - before);
    b->ok = b->stored == b->event.n && b->query.errors == 0 && b->event.errors == 0;
    if (b->stored != b->event.n)
        fprintf(stderr, "stores: %s acknowledged %ld events but stored %ld\n", b->name,
                b->event.n, b->stored);
}

/* Runs "SRCDIR/tests/pg_server.sh ARGS" and keeps its first output line. */
static int
s_pg(const char *srcdir, const char *args, char *out, size_t outlen)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/tests/pg_server.sh' %s", srcdir, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[1024] = "";
    if (!fgets(line, sizeof line, p))
        line[0] = 0;
    char rest[256];
    while (fgets(rest, sizeof rest, p))
        ;
    int st = pclose(p);
    line[strcspn(line, "\n")] = 0;
    if (out)
        snprintf(out, outlen, "%s", line);
    return st == 0 ? 0 : -1;
}

/* The demo catalogue's item ids and categories, from the SQLite store. */
static int
s_load_ids(const char *where, s_ids_t *ids)
{
    char *err = NULL;
    store_t *s = store_open(where, &err);
    if (!s) {
        fprintf(stderr, "stores: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    store_item_t *items = NULL;
    size_t n = 0;
    int rc = store_item_list(s, NULL, 0, 0, &items, &n);
    store_close(&s);
    if (rc != 0 || n == 0)
        return -1;
    ids->items = xmallocarray(n, sizeof *ids->items);
    ids->cats = xmallocarray(n, sizeof *ids->cats);
    for (size_t i = 0; i < n; i++) {
        ids->items[i] = xstrdup(items[i].id);
        ids->cats[i] = xstrdup(items[i].category);
    }
    ids->n_items = n;
    free(items);
    return 0;
}

static void
s_print(const s_backend_t *b)
{
    printf("%-11s %10.0f %9.0f %9.0f %10.0f %9.0f %9.0f %8ld\n", b->name, b->query.qps,
           b->query.p50_us, b->query.p99_us, b->event.qps, b->event.p50_us, b->event.p99_us,
           b->stored);
}

static const char *
pgdir_of(const char *dir, char *buf, size_t len)
{
    snprintf(buf, len, "%s/pg", dir);
    return buf;
}

static double
s_loadavg(void)
{
    double l[1] = { -1 };
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

static double
s_ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

int
rec_bench_stores(const char *builddir, const char *srcdir, double seconds)
{
    char bin[1024], dir[] = "/tmp/shop-bench-stores-XXXXXX", pgdir[1100], cmd[2300];
    snprintf(bin, sizeof bin, "%s/shop-recommend", builddir);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "stores: %s is not built\n", bin);
        return 1;
    }
    /* the server runs as the postgres user when we are root: it must reach pg/ */
    if (!mkdtemp(dir) || chmod(dir, 0711) != 0)
        return 1;
    if (mkdir(pgdir_of(dir, pgdir, sizeof pgdir), 0700) != 0)
        return 1;
    s_ctx = zmq_ctx_new();
    s_backend_t be[2] = { { .name = "sqlite" }, { .name = "postgresql" } };
    snprintf(be[0].where, sizeof be[0].where, "%s/shop.db", dir);
    int rc = 1;
    bool pg_up = false;
    char args[1300], fsync_on[64] = "", sync_on[64] = "";
    snprintf(args, sizeof args, "start '%s'", pgdir);
    if (s_pg(srcdir, args, be[1].where, sizeof be[1].where) != 0) {
        fprintf(stderr, "stores: tests/pg_server.sh could not start PostgreSQL\n");
        goto out;
    }
    pg_up = true;
    /* the test cluster runs with fsync off; the bench compares durable writes */
    snprintf(args, sizeof args, "psql '%s' -Atc \"ALTER SYSTEM SET fsync = on\"", pgdir);
    s_pg(srcdir, args, NULL, 0);
    snprintf(args, sizeof args, "psql '%s' -Atc \"ALTER SYSTEM SET synchronous_commit = on\"",
             pgdir);
    s_pg(srcdir, args, NULL, 0);
    snprintf(args, sizeof args, "psql '%s' -Atc \"ALTER SYSTEM SET full_page_writes = on\"",
             pgdir);
    s_pg(srcdir, args, NULL, 0);
    snprintf(args, sizeof args, "stop '%s'", pgdir);
    s_pg(srcdir, args, NULL, 0);
    snprintf(args, sizeof args, "start '%s'", pgdir);
    if (s_pg(srcdir, args, be[1].where, sizeof be[1].where) != 0) {
        fprintf(stderr, "stores: PostgreSQL did not restart\n");
        pg_up = false;
        goto out;
    }
    snprintf(args, sizeof args, "psql '%s' -Atc 'SHOW fsync'", pgdir);
    s_pg(srcdir, args, fsync_on, sizeof fsync_on);
    snprintf(args, sizeof args, "psql '%s' -Atc 'SHOW synchronous_commit'", pgdir);
    s_pg(srcdir, args, sync_on, sizeof sync_on);
    if (strcmp(fsync_on, "on") != 0 || strcmp(sync_on, "on") != 0) {
        fprintf(stderr, "stores: PostgreSQL fsync = %s, synchronous_commit = %s: not durable\n",
                fsync_on, sync_on);
        goto out;
    }
    printf("stores: %d devices (shop-recommend workers, one thread each) x %d REQ clients, "
           "%.0f s per run; PostgreSQL %s (fsync %s, synchronous_commit %s, Unix socket), "
           "SQLite WAL synchronous=FULL; load average at start %.2f\n", S_DEVICES,
           S_CLIENTS_PER_DEVICE, seconds, "private server", fsync_on, sync_on, s_loadavg());
    s_ids_t ids = { 0 };
    for (int i = 0; i < 2; i++)
        s_backend_run(&be[i], bin, dir, &ids, seconds);
    printf("%-11s %10s %9s %9s %10s %9s %9s %8s\n", "store", "queries/s", "q p50 us",
           "q p99 us", "events/s", "e p50 us", "e p99 us", "stored");
    for (int i = 0; i < 2; i++)
        s_print(&be[i]);
    printf("postgresql / sqlite: queries/s %.2f, query p99 %.2f, events/s %.2f, event p99 %.2f\n",
           s_ratio(be[1].query.qps, be[0].query.qps),
           s_ratio(be[1].query.p99_us, be[0].query.p99_us),
           s_ratio(be[1].event.qps, be[0].event.qps),
           s_ratio(be[1].event.p99_us, be[0].event.p99_us));
    printf("{\"bench\":\"recommend-stores\",\"devices\":%d,\"clients\":%d,\"seconds\":%.0f",
           S_DEVICES, S_DEVICES * S_CLIENTS_PER_DEVICE, seconds);
    for (int i = 0; i < 2; i++)
        printf(",\"%s\":{\"qps\":%.0f,\"query_p50_us\":%.0f,\"query_p99_us\":%.0f,"
               "\"events_per_s\":%.0f,\"event_p50_us\":%.0f,\"event_p99_us\":%.0f,"
               "\"events_stored\":%ld,\"ok\":%s}", be[i].name, be[i].query.qps,
               be[i].query.p50_us, be[i].query.p99_us, be[i].event.qps, be[i].event.p50_us,
               be[i].event.p99_us, be[i].stored, be[i].ok ? "true" : "false");
    printf("}\n");
    for (size_t i = 0; i < ids.n_items; i++) {
        free(ids.items[i]);
        free(ids.cats[i]);
    }
    free(ids.items);
    free(ids.cats);
    rc = be[0].ok && be[1].ok ? 0 : 1;
out:
    if (pg_up) {
        snprintf(args, sizeof args, "stop '%s'", pgdir);
        s_pg(srcdir, args, NULL, 0);
    }
    zmq_ctx_term(s_ctx);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "stores: could not remove %s\n", dir);
    return rc;
}
