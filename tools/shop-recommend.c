/* tools/shop-recommend.c: the recommendation service as its own process,
 * or the broker that spreads queries over several of them.
 *
 *   shop-recommend [--db STORE.db|URI [--demo]] [--model FILE]
 *                  (--bind EP[,EP...] [--key FILE --client-keys FILE]
 *                   | --connect BROKER_BACK [--key FILE --server-key KEY])
 *                  [--threads N] [--name NAME] [--retrain SECONDS]
 *   shop-recommend --broker FRONT BACK [--key FILE [--worker-keys FILE] [--client-keys FILE]]
 *
 * CURVE (recommend/service.h, docs/protocol.md "Security"): --key is this process's key pair file
 * (`shopctl keygen`), --server-key the broker's public key (Z85 or its .pub
 * file), --worker-keys and --client-keys the allow-lists of the broker's
 * back and front ends (or of a --bind service's clients).
 *
 * SIGTERM / SIGINT stop it cleanly; SIGHUP reloads the model file in the
 * background (queries keep being answered); --retrain retrains from the
 * store on that schedule in a thread of its own and swaps the model in. */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "common/log.h"
#include "nn/nn.h"
#include "common/util.h"
#include "recommend/import.h"
#include "recommend/retrain.h"
#include "recommend/service.h"

static volatile sig_atomic_t s_stop, s_hup;

static void
s_on_signal(int sig)
{
    if (sig == SIGHUP)
        s_hup = 1;
    else
        s_stop = 1;
}

typedef struct {
    rec_engine_t *engine;
    const char *db;
    const char *save;      /* the --model file, rewritten after each retrain; may be NULL */
    int every_s;
} s_retrain_t;

static void *
s_retrain_main(void *arg)
{
    s_retrain_t *r = arg;
    rec_params_t p;
    rec_params_default(&p);
    while (!s_stop) {
        for (int t = 0; t < r->every_s * 10 && !s_stop; t++) {
            struct timespec ts = { 0, 100 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
        if (s_stop)
            break;
        char err[256];
        double t0 = shop_now_s();
        char where[1024];
        store_location_redact(r->db, where, sizeof where);
        if (rec_engine_retrain(r->engine, r->db, &p, r->save, err, sizeof err) != 0)
            log_warn("retrain: %s (the old model stays)", err);
        else
            log_info("retrained from %s in %.1f s", where, shop_now_s() - t0);
    }
    return NULL;
}

static void
s_usage(void)
{
    fprintf(stderr,
            "usage: shop-recommend [--db STORE.db|URI [--demo]] [--model FILE]\n"
            "                      (--bind EP[,EP...] [--key FILE --client-keys FILE]\n"
            "                       | --connect BROKER_BACK [--key FILE --server-key KEY])\n"
            "                      [--threads N] [--name NAME] [--retrain SECONDS] [-v]\n"
            "       shop-recommend --broker FRONT BACK\n"
            "                      [--key FILE [--worker-keys FILE] [--client-keys FILE]]\n"
            "Serves recommendation queries (JSON over ZeroMQ, see docs/recommend.md).\n"
            "--db is a SQLite file or a PostgreSQL URI (postgresql://...), shared with shopd.\n"
            "--demo imports the bundled demo store into an empty --db and uses its model.\n"
            "CURVE (docs/protocol.md, \"Security\"): --key is this process's key pair file\n"
            "(shopctl keygen), --server-key the broker's public key (Z85 or a .pub file),\n"
            "--worker-keys / --client-keys the allow-lists of the broker's back / front end\n"
            "(--client-keys: of a --bind service's clients). Endpoints that are not local\n"
            "need CURVE.\n");
}

static void
s_wait_for_signal(rec_engine_t *e, const char *model)
{
    while (!s_stop) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        if (s_hup && e && model) {
            s_hup = 0;
            char err[256];
            if (rec_engine_reload(e, model, err, sizeof err) != 0)
                log_warn("reload: %s", err);
        }
    }
}

int
main(int argc, char **argv)
{
    log_open("shop-recommend", false);
    /* before anything touches BLAS (EASE, ALS): the fast OpenBLAS kernel */
    nn_blas_ensure_fast_path(argv);
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' }, { "demo", no_argument, NULL, 'D' },
        { "model", required_argument, NULL, 'm' }, { "bind", required_argument, NULL, 'b' },
        { "connect", required_argument, NULL, 'c' }, { "threads", required_argument, NULL, 't' },
        { "name", required_argument, NULL, 'n' }, { "broker", no_argument, NULL, 'B' },
        { "retrain", required_argument, NULL, 'r' },
        { "key", required_argument, NULL, 'k' }, { "server-key", required_argument, NULL, 'S' },
        { "worker-keys", required_argument, NULL, 'W' },
        { "client-keys", required_argument, NULL, 'C' },
        { "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db = NULL, *model = NULL, *bind = NULL, *connect = NULL, *name = NULL;
    const char *key = NULL, *server_key = NULL, *worker_keys = NULL, *client_keys = NULL;
    bool demo = false, broker = false;
    int threads = 1, retrain = 0, c, bad = 0;
    while ((c = getopt_long(argc, argv, "d:Dm:b:c:t:n:Bvhr:k:S:W:C:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'D': demo = true; break;
        case 'm': model = optarg; break;
        case 'b': bind = optarg; break;
        case 'c': connect = optarg; break;
        case 't':
            bad |= shop_opt_int("shop-recommend", "--threads", optarg, 1, 64, &threads);
            break;
        case 'n': name = optarg; break;
        case 'B': broker = true; break;
        case 'r':
            bad |= shop_opt_int("shop-recommend", "--retrain", optarg, 0, INT_MAX, &retrain);
            break;
        case 'k': key = optarg; break;
        case 'S': server_key = optarg; break;
        case 'W': worker_keys = optarg; break;
        case 'C': client_keys = optarg; break;
        case 'v': log_set_level(LOG_DEBUG); break;
        default: s_usage(); return c == 'h' ? 0 : 2;
        }
    }
    if (bad)
        return 2;
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    char err[512];
    void *ctx = zmq_ctx_new();
    if (broker) {
        if (optind + 2 != argc) {
            s_usage();
            zmq_ctx_term(ctx);
            return 2;
        }
        if (server_key || (!key && (worker_keys || client_keys))) {
            s_usage();
            zmq_ctx_term(ctx);
            return 2;
        }
        rec_broker_curve_t curve = { key, worker_keys, client_keys };
        rec_broker_t *b = rec_broker_new(ctx, argv[optind], argv[optind + 1], &curve, err,
                                         sizeof err);
        if (!b) {
            log_err("broker: %s", err);
            zmq_ctx_term(ctx);
            return 1;
        }
        log_info("broker: clients on %s%s, workers on %s%s", argv[optind],
                 client_keys ? " (CURVE)" : "", argv[optind + 1], worker_keys ? " (CURVE)" : "");
        s_wait_for_signal(NULL, NULL);
        rec_broker_destroy(&b);
        zmq_ctx_term(ctx);
        return 0;
    }
    if (!bind == !connect || optind != argc || (retrain > 0 && !db) || worker_keys
        || (bind && server_key) || (connect && client_keys)
        || (!key && (server_key || client_keys))) {
        s_usage();
        zmq_ctx_term(ctx);
        return 2;
    }
    store_t *s = NULL;
    char demo_dir[1024], demo_model[1100];
    const char *save = model;   /* an explicit --model is rewritten by retraining */
    if (db) {
        char *oerr = NULL;
        s = store_open(db, &oerr);
        if (!s) {
            log_err("%s", oerr);
            free(oerr);
            zmq_ctx_term(ctx);
            return 1;
        }
        store_counts_t cnt;
        if (demo && store_counts(s, &cnt) == 0 && cnt.items == 0) {
            if (!shop_data_path("data/demo", demo_dir, sizeof demo_dir)) {
                log_err("the demo store (data/demo) is not installed");
                store_close(&s);
                zmq_ctx_term(ctx);
                return 1;
            }
            import_report_t rc, re;
            int got = import_demo_store(s, demo_dir, &rc, &re, err, sizeof err);
            if (got < 0) {
                log_err("demo import: %s", err);
                store_close(&s);
                zmq_ctx_term(ctx);
                return 1;
            }
            if (got == 0)
                log_info("imported the demo store: %ld items, %ld events", rc.imported,
                         re.imported);
        }
        if (demo && !model && shop_data_path("data/demo/recommend.model", demo_model,
                                             sizeof demo_model))
            model = demo_model;
    }
    rec_engine_t *e = rec_engine_new(&s, err, sizeof err);
    if (!e) {
        log_err("%s", err);
        store_close(&s);
        zmq_ctx_term(ctx);
        return 1;
    }
    if (model) {
        rec_model_t *m = rec_model_load(model, err, sizeof err);
        if (!m) {
            log_err("%s", err);
            rec_engine_destroy(&e);
            zmq_ctx_term(ctx);
            return 1;
        }
        rec_engine_set_model(e, &m);
    }
    char defname[64];
    snprintf(defname, sizeof defname, "rec-%ld", (long) getpid());
    rec_service_opts_t so = { .bind = bind, .connect = connect, .threads = threads,
                              .name = name ? name : defname, .key_file = key,
                              .server_key = server_key, .allow_list = client_keys };
    rec_service_t *svc = rec_service_new(ctx, e, &so, err, sizeof err);
    if (!svc) {
        log_err("%s", err);
        rec_engine_destroy(&e);
        zmq_ctx_term(ctx);
        return 1;
    }
    rec_engine_stats_t st;
    rec_engine_stats(e, &st);
    log_info("%s: %s %s%s, %d threads, %d items (%d in the model), %d customers", so.name,
             bind ? "serving" : "connected to", bind ? bind : connect, key ? " (CURVE)" : "",
             threads, st.items,
             st.items_in_model, st.customers);
    s_retrain_t rt = { e, db, save, retrain };
    pthread_t rth;
    bool retraining = retrain > 0 && pthread_create(&rth, NULL, s_retrain_main, &rt) == 0;
    s_wait_for_signal(e, model);
    if (retraining)
        pthread_join(rth, NULL);   /* a training in progress finishes first */
    log_info("%s: stopping after %ld requests", so.name, rec_service_served(svc));
    rec_service_destroy(&svc);
    rec_engine_destroy(&e);
    zmq_ctx_term(ctx);
    return 0;
}
