/* bench/recommend_bench.c: `make bench` for recommend/: training time of
 * every model on UCI Online Retail, then query latency (p50/p99) and
 * throughput in-process and over ZeroMQ (inproc and TCP loopback) with many
 * concurrent clients. Prints a table and one JSON line. With --stores: the
 * store backends side by side instead (bench/recommend_stores.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "common/log.h"
#include "common/util.h"
#include "nn/nn.h"
#include "recommend/import.h"
#include "recommend/service.h"
#include "bench/recommend_stores.h"

/* seconds per run; SHOP_BENCH_REC_SECONDS overrides (a longer run to profile) */
static double s_duration_s = 4.0;

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

static double
s_pct(uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, s_cmp_u64);
    size_t i = (size_t) (p * (double) (n - 1));
    return (double) v[i] / 1000.0;   /* microseconds */
}

typedef struct {
    const rec_data_t *d;
    const char *endpoint;     /* NULL: call the engine directly */
    rec_engine_t *e;
    void *ctx;
    int seed;
    double until_s;
    uint64_t *lat;            /* latencies in ns */
    uint64_t *cpu;            /* CPU time of this thread per query, ns (in-process only) */
    size_t n, cap;
    long errors;
    int batch;                /* pipelined clients: queries per request frame */
    uint64_t cpu_total;       /* this client thread's CPU over its whole run, ns */
} s_client_t;

/* A request mix as a kiosk makes it: personal (60%), similar (20%), bought
 * together (10%), category (10%), for random known customers and items. */
static void
s_make_query(const rec_data_t *d, unsigned *r, rec_query_t *q, const char **cat_buf)
{
    memset(q, 0, sizeof *q);
    q->k = 10;
    q->now = 1323388800;   /* 2011-12-09 */
    int pick = (int) (rand_r(r) % 10);
    int u = (int) (rand_r(r) % (unsigned) rec_dict_size(d->users));
    int i = (int) (rand_r(r) % (unsigned) rec_dict_size(d->items));
    if (pick < 6) {
        q->kind = REC_Q_PERSONAL;
        q->customer = rec_dict_str(d->users, u);
        q->exclude_bought = pick == 0;
    } else if (pick < 8) {
        q->kind = REC_Q_SIMILAR;
        q->item = rec_dict_str(d->items, i);
    } else if (pick < 9) {
        q->kind = REC_Q_TOGETHER;
        q->item = rec_dict_str(d->items, i);
    } else {
        q->kind = REC_Q_CATEGORY;
        q->customer = rec_dict_str(d->users, u);
        *cat_buf = rec_dict_str(d->categories, d->item[i].category);
        q->category = *cat_buf;
    }
}

/* A pipelining client: one DEALER keeps `window` requests in flight (the
 * service's capacity without one client thread per outstanding request);
 * with batch > 1 each request is {"op":"batch"} of that many queries. */
#define PIPE_WINDOW 16
#define PIPE_REPLY_MAX (1 << 20)

/* Appends the JSON of one random query of the mix to req at len. */
static int
s_query_json(const rec_data_t *d, unsigned *r, char *req, size_t size, int len, int id)
{
    rec_query_t q;
    const char *cat = NULL;
    s_make_query(d, r, &q, &cat);
    len += snprintf(req + len, size - (size_t) len,
                    "{\"op\":\"recommend\",\"id\":%d,\"kind\":\"%s\",\"k\":10,"
                    "\"now\":%lld,\"exclude_bought\":%s", id, rec_qkind_name(q.kind),
                    (long long) q.now, q.exclude_bought ? "true" : "false");
    if (q.customer)
        len += snprintf(req + len, size - (size_t) len, ",\"customer\":\"%s\"", q.customer);
    if (q.item)
        len += snprintf(req + len, size - (size_t) len, ",\"item\":\"%s\"", q.item);
    if (q.category)
        len += snprintf(req + len, size - (size_t) len, ",\"category\":\"%s\"", q.category);
    return len + snprintf(req + len, size - (size_t) len, "}");
}

/* Records one answered query of client c. */
static void
s_record(s_client_t *c, uint64_t lat_ns, uint64_t cpu_ns)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->lat = xrealloc(c->lat, c->cap * sizeof *c->lat);
        c->cpu = xrealloc(c->cpu, c->cap * sizeof *c->cpu);
    }
    c->cpu[c->n] = cpu_ns;
    c->lat[c->n++] = lat_ns;
}

static uint64_t
s_thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t) t.tv_sec * 1000000000ULL + (uint64_t) t.tv_nsec;
}

static void *
s_client_main(void *arg)
{
    s_client_t *c = arg;
    uint64_t cpu0 = s_thread_cpu_ns();
    unsigned r = (unsigned) c->seed;
    rec_client_t *cl = c->endpoint ? rec_client_new(c->ctx, c->endpoint, 5000, 0) : NULL;
    rec_result_t res[REC_MAX_K];
    char err[256];
    double end = shop_now_s() + c->until_s;
    while (shop_now_s() < end) {
        rec_query_t q;
        const char *cat = NULL;
        s_make_query(c->d, &r, &q, &cat);
        uint64_t c0 = s_thread_cpu_ns(), t0 = shop_now_ns();
        int n = cl ? rec_client_query(cl, &q, res, NULL, 0, err, sizeof err)
                   : rec_engine_query(c->e, &q, res, err, sizeof err);
        uint64_t dt = shop_now_ns() - t0;
        if (n < 0) {
            c->errors++;
            continue;
        }
        s_record(c, dt, s_thread_cpu_ns() - c0);
    }
    rec_client_destroy(&cl);
    c->cpu_total = s_thread_cpu_ns() - cpu0;
    return NULL;
}


/* A REQ client as a frontend is one: it sends bytes it already has (a kiosk
 * fills a template) and only checks the reply's status, so what is measured
 * is the service and ZeroMQ, not this process's JSON library. The requests
 * are serialised before the clock starts. */
#define RAW_POOL 2048

static void *
s_raw_main(void *arg)
{
    s_client_t *c = arg;
    uint64_t cpu0 = s_thread_cpu_ns();
    unsigned r = (unsigned) c->seed;
    char (*pool)[512] = xmallocarray(RAW_POOL, sizeof *pool);
    int *plen = xmallocarray(RAW_POOL, sizeof *plen);
    for (int i = 0; i < RAW_POOL; i++)
        plen[i] = s_query_json(c->d, &r, pool[i], sizeof pool[i], 0, i);
    void *sock = zmq_socket(c->ctx, ZMQ_REQ);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(sock, c->endpoint);
    char *rep = xmalloc(PIPE_REPLY_MAX);
    double end = shop_now_s() + c->until_s;
    for (int i = 0; shop_now_s() < end; i = (i + 1) % RAW_POOL) {
        uint64_t c0 = s_thread_cpu_ns(), t0 = shop_now_ns();
        int got = -1;
        if (zmq_send(sock, pool[i], (size_t) plen[i], 0) >= 0)
            got = zmq_recv(sock, rep, PIPE_REPLY_MAX - 1, 0);
        uint64_t dt = shop_now_ns() - t0;
        if (got < 0)
            break;   /* a REQ without its reply cannot go on */
        rep[SHOP_MIN(got, PIPE_REPLY_MAX - 1)] = '\0';
        if (strncmp(rep, "{\"ok\":true", 10) != 0) {
            c->errors++;
            continue;
        }
        s_record(c, dt, s_thread_cpu_ns() - c0);
    }
    zmq_close(sock);
    free(rep);
    free(pool);
    free(plen);
    c->cpu_total = s_thread_cpu_ns() - cpu0;
    return NULL;
}

static void *
s_pipe_main(void *arg)
{
    s_client_t *c = arg;
    uint64_t cpu0 = s_thread_cpu_ns();
    unsigned r = (unsigned) c->seed;
    void *sock = zmq_socket(c->ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(sock, c->endpoint);
    uint64_t sent_at[PIPE_WINDOW];
    bool busy[PIPE_WINDOW] = { false };
    int in_flight = 0;
    double end = shop_now_s() + c->until_s;
    char req[32768];
    char *rep = xmalloc(PIPE_REPLY_MAX);
    while (shop_now_s() < end || in_flight > 0) {
        int window = c->batch > 1 ? 4 : PIPE_WINDOW;
        for (int slot = 0; slot < window && shop_now_s() < end; slot++) {
            if (busy[slot])
                continue;
            int len = 0;
            if (c->batch > 1) {
                len = snprintf(req, sizeof req, "{\"op\":\"batch\",\"id\":%d,\"requests\":[",
                               slot);
                for (int b = 0; b < c->batch; b++) {
                    if (b)
                        len += snprintf(req + len, sizeof req - (size_t) len, ",");
                    len = s_query_json(c->d, &r, req, sizeof req, len, b);
                }
                len += snprintf(req + len, sizeof req - (size_t) len, "]}");
            } else {
                len = s_query_json(c->d, &r, req, sizeof req, 0, slot);
            }
            zmq_send(sock, "", 0, ZMQ_SNDMORE);   /* the envelope delimiter REP expects */
            zmq_send(sock, req, (size_t) len, 0);
            sent_at[slot] = shop_now_ns();
            busy[slot] = true;
            in_flight++;
        }
        zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 1000) <= 0) {
            if (shop_now_s() > end + 2)
                break;
            continue;
        }
        int got;
        while ((got = zmq_recv(sock, rep, PIPE_REPLY_MAX - 1, ZMQ_DONTWAIT)) >= 0) {
            rep[SHOP_MIN(got, PIPE_REPLY_MAX - 1)] = '\0';
            int more = 0;
            size_t ml = sizeof more;
            zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
            if (more)
                continue;   /* the delimiter; the body follows */
            const char *idp = strstr(rep, "\"id\":");
            int slot = idp ? atoi(idp + 5) : -1;
            if (slot < 0 || slot >= PIPE_WINDOW || !busy[slot] || !strstr(rep, "\"ok\":true")
                || strstr(rep, "\"ok\":false")) {
                c->errors++;
                if (slot >= 0 && slot < PIPE_WINDOW && busy[slot]) {
                    busy[slot] = false;
                    in_flight--;
                }
                continue;
            }
            /* each query of a batch waited as long as its frame */
            uint64_t lat = shop_now_ns() - sent_at[slot];
            for (int b = 0; b < SHOP_MAX(c->batch, 1); b++)
                s_record(c, lat, 0);
            busy[slot] = false;
            in_flight--;
        }
    }
    zmq_close(sock);
    free(rep);
    c->cpu_total = s_thread_cpu_ns() - cpu0;
    return NULL;
}

typedef struct {
    double p50, p99, qps;
    double cpu50, cpu99;   /* client thread CPU per query (the whole cost in-process) */
    double proc_cpu;       /* the whole process's CPU (clients, workers, ZeroMQ) per query, us */
    double rest_cpu;       /* the same without the client threads' CPU: the service's
                            * workers and ZeroMQ's I/O threads */
    double in_flight;      /* Little's law: mean latency x throughput */
    long n, errors;
} s_result_t;

typedef enum {
    S_IN_PROCESS,          /* rec_engine_query in the client threads */
    S_LIBRARY,             /* rec_client_query: jansson request and reply, Lazy Pirate */
    S_RAW,                 /* REQ sending pre-serialised requests */
    S_PIPELINED            /* DEALER with requests in flight */
} s_mode_t;

static double
s_process_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static s_result_t
s_run(const rec_data_t *d, rec_engine_t *e, void *ctx, const char *endpoint, int clients,
      s_mode_t mode, int batch)
{
    s_client_t *c = xcalloc((size_t) clients, sizeof *c);
    pthread_t *th = xcalloc((size_t) clients, sizeof *th);
    double t0 = shop_now_s(), cpu0 = s_process_cpu_s();
    for (int i = 0; i < clients; i++) {
        c[i] = (s_client_t) { .d = d, .endpoint = mode == S_IN_PROCESS ? NULL : endpoint,
                              .e = e, .ctx = ctx, .seed = i + 1, .until_s = s_duration_s,
                              .batch = batch };
        pthread_create(&th[i], NULL, mode == S_PIPELINED ? s_pipe_main
                                     : mode == S_RAW ? s_raw_main : s_client_main, &c[i]);
    }
    size_t total = 0;
    long errors = 0;
    double clients_cpu = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += c[i].n;
        errors += c[i].errors;
        clients_cpu += (double) c[i].cpu_total / 1e9;
    }
    double el = shop_now_s() - t0, cpu = s_process_cpu_s() - cpu0;
    uint64_t *all = xmallocarray(total + 1, sizeof *all);
    uint64_t *tcpu = xmallocarray(total + 1, sizeof *tcpu);
    size_t k = 0;
    double lat_sum = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, c[i].lat, c[i].n * sizeof *all);
        memcpy(tcpu + k, c[i].cpu, c[i].n * sizeof *tcpu);
        for (size_t j = 0; j < c[i].n; j++)
            lat_sum += (double) c[i].lat[j] / 1e9;
        k += c[i].n;
        free(c[i].lat);
        free(c[i].cpu);
    }
    s_result_t r = { s_pct(all, total, 0.5), s_pct(all, total, 0.99), (double) total / el,
                     s_pct(tcpu, total, 0.5), s_pct(tcpu, total, 0.99),
                     total ? cpu * 1e6 / (double) total : 0,
                     total ? (cpu - clients_cpu) * 1e6 / (double) total : 0,
                     total ? lat_sum / (double) total * ((double) total / el) : 0,
                     (long) total, errors };
    free(all);
    free(tcpu);
    free(c);
    free(th);
    return r;
}

/* Whether name holds one of the '|'-separated parts of only. */
static bool
s_selected(const char *only, const char *name)
{
    char part[128];
    for (const char *p = only; *p;) {
        size_t n = strcspn(p, "|");
        snprintf(part, sizeof part, "%.*s", (int) SHOP_MIN(n, sizeof part - 1), p);
        if (part[0] && strstr(name, part))
            return true;
        p += n + (p[n] == '|');
    }
    return false;
}

/* The 1-minute load average (what else this machine was running). */
static double
s_loadavg(void)
{
    double l[1] = { 0 };
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

int
main(int argc, char **argv)
{
    /* first: OpenBLAS's fast kernel, and single-threaded (its idle threads
     * otherwise spin in sched_yield: 7 % of this bench's CPU in a profile) */
    nn_blas_ensure_fast_path(argv);
    /* --stores: SQLite and PostgreSQL side by side (bench/recommend_stores.c) */
    if (argc > 1 && strcmp(argv[1], "--stores") == 0) {
        const char *build = getenv("SHOP_TOP_BUILDDIR"), *src = getenv("SHOP_TOP_SRCDIR");
        const char *secs = getenv("SHOP_BENCH_REC_SECONDS");
        return rec_bench_stores(build ? build : ".", src ? src : "..",
                                secs && atof(secs) > 0 ? atof(secs) : 5.0);
    }
    char path[1024], err[512];
    const char *data = argc > 1 && argv[1][0] ? argv[1] : NULL;
    const char *top = getenv("SHOP_TOP_SRCDIR");
    if (!data && top) {
        snprintf(path, sizeof path, "%s/../shared/data/online-retail/online_retail.csv", top);
        data = path;
    }
    if (!data) {
        fprintf(stderr, "usage: recommend_bench UCI.csv (or set SHOP_TOP_SRCDIR)\n");
        return 2;
    }
    rec_data_t *d = rec_data_new();
    import_report_t rep;
    double t0 = shop_now_s();
    if (import_uci_file(d, data, &rep, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", data, err);
        return 77;
    }
    double import_s = shop_now_s() - t0;
    rec_params_t p;
    rec_params_default(&p);
    /* argv[2]: a model file reused when it exists, written after training otherwise */
    const char *cache = argc > 2 ? argv[2] : NULL;
    t0 = shop_now_s();
    rec_model_t *m = cache && access(cache, R_OK) == 0 ? rec_model_load(cache, err, sizeof err)
                                                       : NULL;
    bool trained = m == NULL;
    if (!m)
        m = rec_model_train(d, INT64_MAX, &p, err, sizeof err);
    if (!m) {
        fprintf(stderr, "training: %s\n", err);
        return 1;
    }
    double train_s = shop_now_s() - t0;
    if (trained && cache && rec_model_save(m, cache, err, sizeof err) != 0)
        fprintf(stderr, "%s\n", err);
    if (!trained)
        printf("model loaded from %s in %.2f s (no training times)\n", cache, train_s);
    printf("UCI Online Retail: %zu purchases, %d items, %d customers; import %.2f s\n", d->n_ev,
           rec_dict_size(d->items), rec_dict_size(d->users), import_s);
    printf("training (s): total %.1f", train_s);
    for (int k = 0; k < REC_N_KINDS; k++)
        if (rec_model_train_seconds(m, (rec_kind_t) k) > 0)
            printf(", %s %.2f", rec_kind_name((rec_kind_t) k),
                   rec_model_train_seconds(m, (rec_kind_t) k));
    printf("\n");
    rec_engine_t *e = rec_engine_new(NULL, err, sizeof err);
    for (int i = 0; i < rec_dict_size(d->items); i++)
        rec_engine_set_item(e, rec_dict_str(d->items, i), d->item[i].name,
                            rec_dict_str(d->categories, d->item[i].category), d->item[i].price,
                            true);
    for (size_t k = 0; k < d->n_ev; k++)
        rec_engine_add_event(e, rec_dict_str(d->users, d->ev[k].user),
                             rec_dict_str(d->items, d->ev[k].item), d->ev[k].time,
                             STORE_EVENT_PURCHASE, 1, false, err, sizeof err);
    rec_engine_set_model(e, &m);

    /* the service's own CPU per warm personal query: engine alone, then with
     * the JSON request parse and reply (what a worker does besides ZeroMQ) */
    {
        enum { N = 20000 };
        rec_result_t res[10];
        char req[256];
        struct timespec a, b, c2;
        for (int i = 0; i < 500; i++) {
            rec_query_t q = { .kind = REC_Q_PERSONAL, .customer = rec_dict_str(d->users, i),
                              .k = 10, .now = 1323388800 };
            rec_engine_query(e, &q, res, err, sizeof err);
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (int i = 0; i < N; i++) {
            rec_query_t q = { .kind = REC_Q_PERSONAL, .customer = rec_dict_str(d->users, i % 500),
                              .k = 10, .now = 1323388800 };
            rec_engine_query(e, &q, res, err, sizeof err);
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        for (int i = 0; i < N; i++) {
            snprintf(req, sizeof req, "{\"op\":\"recommend\",\"kind\":\"personal\","
                     "\"customer\":\"%s\",\"k\":10,\"now\":1323388800}",
                     rec_dict_str(d->users, i % 500));
            free(rec_service_handle(e, "w", req, strlen(req)));
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c2);
        double te = (double) (b.tv_sec - a.tv_sec) * 1e6 + (double) (b.tv_nsec - a.tv_nsec) / 1e3;
        double th = (double) (c2.tv_sec - b.tv_sec) * 1e6 + (double) (c2.tv_nsec - b.tv_nsec) / 1e3;
        printf("service CPU per warm personal query: engine %.1f us, with JSON in/out %.1f us\n",
               te / N, th / N);
    }

    /* the service and the clients have a context (and ZeroMQ I/O thread)
     * each, as in separate processes; inproc clients must share the
     * service's */
    void *ctx = zmq_ctx_new(), *cli_ctx = zmq_ctx_new();
    char tcp[64];
    snprintf(tcp, sizeof tcp, "tcp://127.0.0.1:%d", 30000 + (int) (getpid() % 20000));
    char binds[160];
    snprintf(binds, sizeof binds, "%s,%s", REC_SERVICE_ENDPOINT, tcp);
    const char *th_env = getenv("SHOP_BENCH_REC_THREADS");
    rec_service_opts_t so = { .bind = binds, .threads = th_env ? atoi(th_env) : 2,
                              .name = "bench" };
    rec_service_t *svc = rec_service_new(ctx, e, &so, err, sizeof err);
    if (!svc) {
        fprintf(stderr, "service: %s\n", err);
        return 1;
    }
    printf("service: %d worker threads; load average at start %.2f\n", so.threads,
           s_loadavg());
    const char *inproc = REC_SERVICE_ENDPOINT;
    struct {
        const char *name, *ep;
        int clients;
        s_mode_t mode;
        int batch;
    } runs[] = {
        { "in-process, 1 thread (cold cache)", NULL, 1, S_IN_PROCESS, 1 },
        { "in-process, 1 thread", NULL, 1, S_IN_PROCESS, 1 },
        { "in-process, 2 threads", NULL, 2, S_IN_PROCESS, 1 },
        { "zmq inproc, 4 REQ clients", inproc, 4, S_RAW, 1 },
        { "zmq inproc, 16 REQ clients", inproc, 16, S_RAW, 1 },
        { "zmq inproc, 16 rec_client_query", inproc, 16, S_LIBRARY, 1 },
        { "zmq tcp, 4 REQ clients", tcp, 4, S_RAW, 1 },
        { "zmq tcp, 16 REQ clients", tcp, 16, S_RAW, 1 },
        { "zmq tcp, 64 REQ clients", tcp, 64, S_RAW, 1 },
        { "zmq tcp, 16 rec_client_query", tcp, 16, S_LIBRARY, 1 },
        { "in-process, 2 threads (again)", NULL, 2, S_IN_PROCESS, 1 },
        { "zmq tcp, 1 DEALER x 16 in flight", tcp, 1, S_PIPELINED, 1 },
        { "zmq inproc, 1 DEALER x 16 in flight", inproc, 1, S_PIPELINED, 1 },
        { "zmq tcp, 1 DEALER x 4, batch 16", tcp, 1, S_PIPELINED, 16 },
        { "zmq inproc, 1 DEALER x 4, batch 16", inproc, 1, S_PIPELINED, 16 },
    };
    printf("%-36s %9s %9s %9s %6s %9s %9s %9s %9s %6s %5s\n", "queries (mix: 60% personal)",
           "p50 us", "p99 us", "queries/s", "errors", "cli cpu50", "cli cpu99", "proc cpu",
           "rest cpu", "inflt", "load");
    char json[8192] = "";
    /* SHOP_BENCH_REC_ONLY=a|b: only the runs whose name holds a or b (to profile one) */
    const char *only = getenv("SHOP_BENCH_REC_ONLY");
    const char *secs = getenv("SHOP_BENCH_REC_SECONDS");
    if (secs && atof(secs) > 0)
        s_duration_s = atof(secs);
    bool warm = false;
    for (size_t r = 0; r < SHOP_ARRAY_LEN(runs); r++) {
        if (only && !s_selected(only, runs[r].name))
            continue;
        if (r >= 1 && !warm) {
            warm = true;
            /* after the cold run: every customer's scores cached, so the runs
             * below compare the same warm work in and out of process */
            rec_result_t res[10];
            for (int u = 0; u < rec_dict_size(d->users); u++) {
                rec_query_t q = { .kind = REC_Q_PERSONAL, .customer = rec_dict_str(d->users, u),
                                  .k = 10, .now = 1323388800 };
                rec_engine_query(e, &q, res, err, sizeof err);
            }
            printf("(warm-up done)\n");
            fflush(stdout);
        }
        bool own_ctx = runs[r].ep && strncmp(runs[r].ep, "tcp:", 4) == 0;
        s_result_t x = s_run(d, e, own_ctx ? cli_ctx : ctx, runs[r].ep, runs[r].clients,
                             runs[r].mode, runs[r].batch);
        double load = s_loadavg();
        printf("%-36s %9.1f %9.1f %9.0f %6ld %9.1f %9.1f %9.1f %9.1f %6.1f %5.2f\n",
               runs[r].name, x.p50, x.p99, x.qps, x.errors, x.cpu50, x.cpu99, x.proc_cpu,
               x.rest_cpu, x.in_flight, load);
        char one[320];
        snprintf(one, sizeof one, "%s{\"run\":\"%s\",\"p50_us\":%.1f,\"p99_us\":%.1f,\"qps\":%.0f,"
                 "\"process_cpu_us\":%.1f,\"service_cpu_us\":%.1f,\"load\":%.2f}",
                 json[0] ? "," : "", runs[r].name, x.p50, x.p99, x.qps, x.proc_cpu, x.rest_cpu,
                 load);
        strncat(json, one, sizeof json - strlen(json) - 1);
        fflush(stdout);
    }
    printf("{\"bench\":\"recommend\",\"threads\":%d,\"train_seconds\":%.2f,\"runs\":[%s]}\n",
           so.threads, train_s, json);
    rec_service_destroy(&svc);
    rec_engine_destroy(&e);
    zmq_ctx_term(ctx);
    zmq_ctx_term(cli_ctx);
    rec_data_destroy(&d);
    return 0;
}
