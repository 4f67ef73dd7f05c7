/* tools/recommend.c: `shop-train recommend` and `shop-eval recommend`: options,
 * imports, training, the evaluation table and the blend's tuning, over the
 * library's import_*, rec_model_train and rec_eval. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/util.h"
#include "recommend/eval.h"
#include "recommend/import.h"
#include "recommend/model.h"
#include "tools/cli.h"

#define UCI_REL "../shared/data/online-retail/online_retail.csv"

/* The UCI log: --data, else $SHOP_TOP_SRCDIR/../shared/..., else next to the
 * source or data directory. Writes into buf; NULL when nowhere. */
static const char *
s_uci_path(const char *given, char *buf, size_t len)
{
    if (given)
        return given;
    const char *top = getenv("SHOP_TOP_SRCDIR");
    if (top) {
        snprintf(buf, len, "%s/%s", top, UCI_REL);
        FILE *f = fopen(buf, "r");
        if (f) {
            fclose(f);
            return buf;
        }
    }
    return shop_data_path(UCI_REL, buf, len);
}

static rec_data_t *
s_load(const char *uci, const char *db, bool quiet, import_report_t *rep)
{
    char err[512];
    rec_data_t *d = NULL;
    if (db) {
        char *oerr = NULL;
        store_t *s = store_open(db, &oerr);
        if (!s) {
            fprintf(stderr, "cannot open the store: %s\n", oerr ? oerr : "?");
            free(oerr);
            return NULL;
        }
        d = rec_data_from_store(s, err, sizeof err);
        if (!d)
            fprintf(stderr, "%s: %s\n", store_path(s), err);
        store_close(&s);
        return d;
    }
    d = rec_data_new();
    if (import_uci_file(d, uci, rep, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", uci, err);
        rec_data_destroy(&d);
        return NULL;
    }
    if (!quiet)
        import_report_print(rep, uci, stderr);
    return d;
}

static void
s_usage_train(void)
{
    fprintf(stderr,
            "usage: shop-train recommend (--data UCI.csv | --db STORE.db|URI) [-o MODEL]\n"
            "                            [--until YYYY-MM-DD] [--set name=value]... [-v]\n"
            "                            [--import-catalogue CSV] [--import-events CSV]\n"
            "                            [--import-uci UCI.csv]\n"
            "Trains popularity, item-kNN, EASE, ALS, the neural model and the blend on the\n"
            "purchases before --until (default: all) and writes one model file.\n"
            "--db is a SQLite file or a PostgreSQL URI (postgresql://...).\n"
            "The --import-* options first load files into --db (reporting rejected rows by\n"
            "reason); without -o nothing is trained.\n");
}

int
recommend_train_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' }, { "db", required_argument, NULL, 'b' },
        { "output", required_argument, NULL, 'o' }, { "until", required_argument, NULL, 'u' },
        { "set", required_argument, NULL, 's' }, { "verbose", no_argument, NULL, 'v' },
        { "import-catalogue", required_argument, NULL, 'C' },
        { "import-events", required_argument, NULL, 'E' },
        { "import-uci", required_argument, NULL, 'U' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *data = NULL, *db = NULL, *out = NULL;
    const char *imp_cat = NULL, *imp_ev = NULL, *imp_uci = NULL;
    int64_t until = INT64_MAX;
    rec_params_t p;
    rec_params_default(&p);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:b:o:u:s:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'b': db = optarg; break;
        case 'o': out = optarg; break;
        case 'u':
            if (rec_parse_time(optarg, &until) != 0) {
                fprintf(stderr, "bad --until %s\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (rec_params_set(&p, optarg) != 0) {
                fprintf(stderr, "bad parameter %s\n", optarg);
                return 2;
            }
            break;
        case 'v': log_set_level(LOG_DEBUG); break;
        case 'C': imp_cat = optarg; break;
        case 'E': imp_ev = optarg; break;
        case 'U': imp_uci = optarg; break;
        default: s_usage_train(); return c == 'h' ? 0 : 2;
        }
    }
    if (cli_no_operands("shop-train recommend", argc, argv) != 0)
        return 2;
    bool importing = imp_cat || imp_ev || imp_uci;
    if ((!out && !importing) || (data && db) || (importing && !db)) {
        s_usage_train();
        return 2;
    }
    char buf[1024], err[512];
    if (importing) {
        char *oerr = NULL;
        store_t *s = store_open(db, &oerr);
        if (!s) {
            fprintf(stderr, "%s\n", oerr);
            free(oerr);
            return 1;
        }
        import_report_t rep;
        int rc = 0;
        if (imp_cat && (rc = import_catalogue_file(s, imp_cat, &rep, err, sizeof err)) == 0)
            import_report_print(&rep, imp_cat, stderr);
        if (rc == 0 && imp_ev && (rc = import_events_file(s, imp_ev, &rep, err, sizeof err)) == 0)
            import_report_print(&rep, imp_ev, stderr);
        if (rc == 0 && imp_uci) {
            rec_data_t *u = rec_data_new();
            if ((rc = import_uci_file(u, imp_uci, &rep, err, sizeof err)) == 0) {
                import_report_print(&rep, imp_uci, stderr);
                rc = rec_data_to_store(u, s, "import", err, sizeof err);
            }
            rec_data_destroy(&u);
        }
        store_close(&s);
        if (rc != 0) {
            fprintf(stderr, "import failed: %s\n", err);
            return 1;
        }
        if (!out)
            return 0;
    }
    const char *uci = db ? NULL : s_uci_path(data, buf, sizeof buf);
    if (!db && !uci) {
        fprintf(stderr, "no data: give --data or --db\n");
        return 1;
    }
    import_report_t rep;
    rec_data_t *d = s_load(uci, db, false, &rep);
    if (!d)
        return 1;
    double t0 = shop_now_s();
    rec_model_t *m = rec_model_train(d, until, &p, err, sizeof err);
    if (!m) {
        fprintf(stderr, "training failed: %s\n", err);
        rec_data_destroy(&d);
        return 1;
    }
    fprintf(stderr, "trained on %zu events, %d items, %d customers in %.1f s\n", d->n_ev,
            rec_model_n_items(m), rec_dict_size(d->users), shop_now_s() - t0);
    for (int k = 0; k < REC_N_KINDS; k++)
        if (rec_model_train_seconds(m, (rec_kind_t) k) > 0)
            fprintf(stderr, "  %-8s %.2f s\n", rec_kind_name((rec_kind_t) k),
                    rec_model_train_seconds(m, (rec_kind_t) k));
    int rc = rec_model_save(m, out, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    else
        fprintf(stderr, "wrote %s\n", out);
    rec_model_destroy(&m);
    rec_data_destroy(&d);
    return rc == 0 ? 0 : 1;
}

/* --- evaluation ----------------------------------------------------------- */

static json_t *
s_metrics_json(const rec_metrics_t *x)
{
    return json_pack("{s:f, s:f, s:f, s:i}", "hr10", x->hr10, "recall20", x->recall20,
                     "ndcg10", x->ndcg10, "users", x->users);
}

static double
s_tune_eval(const rec_data_t *d, rec_model_t *m, int64_t from, int64_t to, const char *set)
{
    char b[256];
    shop_strlcpy(b, set, sizeof b);
    char *save = NULL;
    for (char *kv = strtok_r(b, " ", &save); kv; kv = strtok_r(NULL, " ", &save))
        rec_model_set_param(m, kv);
    rec_metrics_t al, nw;
    rec_eval(d, m, REC_BLEND, from, to, &al, &nw);
    /* both tracks count, each relative to its scale */
    double obj = al.ndcg10 / 0.30 + nw.ndcg10 / 0.09;
    printf("%-80s all %.4f new %.4f obj %.4f\n", set, al.ndcg10, nw.ndcg10, obj);
    fflush(stdout);
    return obj;
}

/* Searches the blend's scoring parameters on the validation split in two
 * stages: the collaborative part (profile decay, neural and trend weights),
 * then the repeat part (weight, decay). Prints every point and the best. */
static void
s_tune(const rec_data_t *d, rec_model_t *m, int64_t from, int64_t to)
{
    static const float ph[] = { 15, 30, 60, 120 };
    static const float nw[] = { 0, 0.1f, 0.3f, 0.6f };
    static const float tw[] = { 0.1f, 0.2f, 0.3f, 0.5f };
    static const float rw[] = { 0.5f, 0.6f, 0.7f, 0.8f, 0.9f };
    static const float rh[] = { 60, 120, 365, 730 };
    char set[256], best_a[256] = "", best_b[256] = "";
    double best = -1;
    for (size_t a = 0; a < SHOP_ARRAY_LEN(ph); a++)
        for (size_t c = 0; c < SHOP_ARRAY_LEN(nw); c++)
            for (size_t e = 0; e < SHOP_ARRAY_LEN(tw); e++) {
                if (!rec_model_has(m, REC_NEURAL) && nw[c] > 0)
                    continue;
                snprintf(set, sizeof set, "profile_half_life_days=%g blend_nn_weight=%g "
                         "blend_trend_weight=%g", (double) ph[a], (double) nw[c], (double) tw[e]);
                double o = s_tune_eval(d, m, from, to, set);
                if (o > best) {
                    best = o;
                    shop_strlcpy(best_a, set, sizeof best_a);
                }
            }
    s_tune_eval(d, m, from, to, best_a);
    best = -1;
    for (size_t f = 0; f < SHOP_ARRAY_LEN(rw); f++)
        for (size_t g = 0; g < SHOP_ARRAY_LEN(rh); g++) {
            snprintf(set, sizeof set, "rep_weight=%g rep_half_life_days=%g", (double) rw[f],
                     (double) rh[g]);
            double o = s_tune_eval(d, m, from, to, set);
            if (o > best) {
                best = o;
                shop_strlcpy(best_b, set, sizeof best_b);
            }
        }
    printf("best: %s %s\n", best_a, best_b);
}

static void
s_usage_eval(void)
{
    fprintf(stderr,
            "usage: shop-eval recommend [--data UCI.csv] [--json] [--validation] [--tune]\n"
            "                           [--set name=value]... [--models a,b,...] [--save MODEL]\n"
            "The protocol of docs/recommend.md on UCI Online Retail: train before 2011-11-09,\n"
            "test on the customers buying both before and after, tracks \"all\" and \"new\".\n"
            "--validation: train before 2011-10-09, test on 2011-10-09..2011-11-09 (tuning).\n"
            "--tune: the validation table, then a grid search of the blend on it.\n"
            "--save: also write the trained model (e.g. for bench/recommend-bench).\n");
}

int
recommend_eval_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' }, { "json", no_argument, NULL, 'j' },
        { "validation", no_argument, NULL, 'V' }, { "tune", no_argument, NULL, 't' },
        { "set", required_argument, NULL, 's' }, { "models", required_argument, NULL, 'm' },
        { "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
        { "save", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 },
    };
    const char *data = NULL, *models = NULL, *save = NULL;
    bool json = false, validation = false, tune = false;
    rec_params_t p;
    rec_params_default(&p);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:jVts:m:vho:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'o': save = optarg; break;
        case 'j': json = true; break;
        case 'V': validation = true; break;
        case 't': tune = validation = true; break;
        case 'm': models = optarg; break;
        case 's':
            if (rec_params_set(&p, optarg) != 0) {
                fprintf(stderr, "bad parameter %s\n", optarg);
                return 2;
            }
            break;
        case 'v': log_set_level(LOG_DEBUG); break;
        default: s_usage_eval(); return c == 'h' ? 0 : 2;
        }
    }
    if (cli_no_operands("shop-eval recommend", argc, argv) != 0)
        return 2;
    char buf[1024], err[512];
    const char *uci = s_uci_path(data, buf, sizeof buf);
    if (!uci) {
        fprintf(stderr, "UCI Online Retail not found: give --data or set SHOP_TOP_SRCDIR "
                        "(looked for %s)\n", UCI_REL);
        return 1;
    }
    import_report_t rep = { 0 };
    rec_data_t *d = s_load(uci, NULL, json, &rep);
    if (!d)
        return 1;
    int64_t cutoff, val_from;
    rec_parse_time("2011-11-09", &cutoff);
    rec_parse_time("2011-10-09", &val_from);
    int64_t train_until = validation ? val_from : cutoff;
    int64_t test_until = validation ? cutoff : INT64_MAX;
    double t0 = shop_now_s();
    rec_model_t *m = rec_model_train(d, train_until, &p, err, sizeof err);
    if (!m) {
        fprintf(stderr, "training failed: %s\n", err);
        rec_data_destroy(&d);
        return 1;
    }
    double train_s = shop_now_s() - t0;
    if (save && rec_model_save(m, save, err, sizeof err) != 0)
        fprintf(stderr, "%s\n", err);
    json_t *rows = json_array();
    if (!json)
        printf("%-8s | %-26s | %-26s | train\n%-8s | %8s %8s %8s | %8s %8s %8s |\n",
               validation ? "val" : "test", "all", "new", "model", "HR@10", "Rec@20", "NDCG@10",
               "HR@10", "Rec@20", "NDCG@10");
    for (int k = 0; k < REC_N_KINDS; k++) {
        const char *name = rec_kind_name((rec_kind_t) k);
        if (models && !strstr(models, name))
            continue;
        rec_metrics_t al, nw;
        if (rec_eval(d, m, (rec_kind_t) k, train_until, test_until, &al, &nw) != 0)
            continue;
        double ts = rec_model_train_seconds(m, (rec_kind_t) k);
        if (k == REC_BLEND)   /* the blend reuses EASE and the neural model */
            ts = rec_model_train_seconds(m, REC_EASE) + rec_model_train_seconds(m, REC_NEURAL);
        json_array_append_new(rows, json_pack("{s:s, s:o, s:o, s:f}", "model", name, "all",
                                              s_metrics_json(&al), "new", s_metrics_json(&nw),
                                              "train_seconds", ts));
        if (!json) {
            printf("%-8s | %8.4f %8.4f %8.4f | %8.4f %8.4f %8.4f | %.1f s\n", name, al.hr10,
                   al.recall20, al.ndcg10, nw.hr10, nw.recall20, nw.ndcg10, ts);
            fflush(stdout);
        }
    }
    if (json) {
        json_t *doc = json_pack(
            "{s:s, s:{s:s, s:s, s:s, s:s}, s:{s:I, s:i, s:i}, s:f, s:o}", "dataset",
            "UCI Online Retail", "protocol", "split", validation ? "2011-10-09" : "2011-11-09",
            "test_until", validation ? "2011-11-09" : "end", "filters",
            "CustomerID set, invoice not C*, Quantity>0, UnitPrice>0, StockCode ^[0-9]{5}",
            "metrics", "HR@10, Recall@20 (over |truth|), NDCG@10 (binary)", "data", "events",
            (json_int_t) d->n_ev, "items", rec_dict_size(d->items), "customers",
            rec_dict_size(d->users), "train_seconds_total", train_s, "models", rows);
        json_t *reasons = json_array();
        for (int i = 0; i < rep.n_reasons; i++)
            json_array_append_new(reasons, json_pack("{s:s, s:I, s:I}", "reason",
                                                     rep.reason[i].reason, "rows",
                                                     (json_int_t) rep.reason[i].count,
                                                     "first_line",
                                                     (json_int_t) rep.reason[i].first_line));
        json_object_set_new(doc, "import", json_pack("{s:I, s:I, s:I, s:o}", "rows",
                                                     (json_int_t) rep.rows, "imported",
                                                     (json_int_t) rep.imported, "rejected",
                                                     (json_int_t) rep.rejected, "reasons",
                                                     reasons));
        char *txt = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(5));
        puts(txt);
        free(txt);
        json_decref(doc);
    } else {
        json_decref(rows);
    }
    /* after the table of the defaults: one training serves both */
    if (tune)
        s_tune(d, m, train_until, test_until);
    rec_model_destroy(&m);
    rec_data_destroy(&d);
    return 0;
}
