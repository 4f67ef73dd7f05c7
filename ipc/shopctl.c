/* ipc/shopctl.c: the command-line client of shopd (see shopctl(1)).
 *
 * Every request type of docs/protocol.md has a subcommand; replies are
 * printed as JSON on stdout, errors as "shopctl: CODE: message" on stderr.
 * Exit status: 0 success, 1 error reply, 2 usage, 3 no reply or I/O error. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "daemon/conf.h"
#include "ipc/client.h"
#include "ipc/keys.h"
#include "ipc/proto.h"

#define S_FILE_MAX (64 * 1024 * 1024)

enum { S_OK = 0, S_EREPLY = 1, S_EUSAGE = 2, S_EIO = 3 };

typedef struct {
    const char *endpoint;
    const char *events_endpoint;
    const char *session;
    const char *key_file;      /* client key pair: enables CURVE */
    const char *server_key;    /* server public key: Z85 or a .pub file */
    int timeout_ms;
    int count;                 /* watch: stop after this many events (0 = never) */
    bool compact;
    bool human;                /* -H: readable lines for answers and events */
    client_curve_t curve;
    char pub[KEYS_Z85_LEN + 1], sec[KEYS_Z85_LEN + 1], srv[KEYS_Z85_LEN + 1];
} s_ctx_t;

static void
s_usage(FILE *f)
{
    fprintf(f,
        "usage: shopctl [options] COMMAND [ARGS] [options]\n"
        "commands:\n"
        "  status                              daemon, store and model status\n"
        "  catalogue [list [CATEGORY]]         products (--limit/--offset via key=value)\n"
        "  catalogue get ID | categories\n"
        "  event CUSTOMER ITEM view|cart|purchase [QTY]\n"
        "  cart [get] | add ITEM [QTY] | set ITEM QTY | remove ITEM | clear | checkout [CUSTOMER]\n"
        "  recommend [key=value ...]           e.g. customer=c0042 category=sneaker limit=5\n"
        "  similar item=ID [key=value ...]\n"
        "  audio FILE [key=value ...]          a spoken request (WAV/FLAC/Ogg), e.g. customer=c0042\n"
        "  photo FILE [key=value ...]          a product photo (JPEG/PNG/BMP)\n"
        "  text WORDS... [key=value ...]       a typed request, e.g. text show me sneakers\n"
        "                                      customer=c0042 (key=value words are body fields)\n"
        "  look [key=value ...]                what shopd's camera sees now: product, similar\n"
        "  request TYPE [JSON-BODY]            any request, body given as JSON\n"
        "  watch [TYPE ...]                    print events (status, intent, product, ...): of\n"
        "                                      the session (-s), or of every session (operators)\n"
        "  forget CUSTOMER                     erase a customer's events, carts, sessions and\n"
        "                                      history (operators); prints what was removed\n"
        "  keygen BASE                         write BASE.key (secret) and BASE.pub\n"
        "options (anywhere on the line; \"--\" ends them):\n"
        "  -c, --config FILE       take the endpoints from shopd's configuration FILE\n"
        "  -e, --endpoint EP       request endpoint (default $SHOPD_ENDPOINT or shopd's default)\n"
        "  -p, --pub-endpoint EP   event endpoint for watch ($SHOPD_EVENTS_ENDPOINT)\n"
        "  -s, --session ID        session (frontend) id; without one, each request gets\n"
        "                          an anonymous session of its own connection\n"
        "  -k, --key FILE          client key pair file: use CURVE ($SHOPCTL_KEY)\n"
        "  -S, --server-key KEY    server public key, Z85 or a .pub file ($SHOPD_SERVER_KEY)\n"
        "  -t, --timeout MS        reply timeout (default 5000)\n"
        "  -n, --count N           watch: exit after N events\n"
        "  -C, --compact           one-line JSON\n"
        "  -H, --human             audio/photo/text/look answers and watch events as readable lines\n"
        "  -h, --help, -V, --version\n");
}

static int
s_setup_curve(s_ctx_t *c)
{
    if (!c->key_file)
        return 0;
    char err[512];
    if (keys_read(c->key_file, c->pub, c->sec, err, sizeof err) != 0) {
        fprintf(stderr, "shopctl: %s\n", err);
        return -1;
    }
    if (!c->server_key) {
        fprintf(stderr, "shopctl: --key needs --server-key (the server's public key)\n");
        return -1;
    }
    if (keys_read_public(c->server_key, c->srv, err, sizeof err) != 0) {
        fprintf(stderr, "shopctl: server key: %s\n", err);
        return -1;
    }
    c->curve = (client_curve_t) { c->srv, c->pub, c->sec };
    return 0;
}

static void
s_print(const s_ctx_t *c, const json_t *j)
{
    char *s = json_dumps(j, (c->compact ? JSON_COMPACT : JSON_INDENT(2)) | JSON_REAL_PRECISION(15));
    if (s) {
        puts(s);
        free(s);
    }
    fflush(stdout);
}

/* --- readable lines (-H): one printer per answer part, shared by the
 * replies of audio/photo/text and by watch, so both show the same --- */

static const char *
s_jstr(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static void
s_human_part(const char *name, const json_t *o)
{
    if (!strcmp(name, "intent")) {
        if (!json_is_true(json_object_get(o, "understood"))) {
            printf("intent: not understood (%s)\n", s_jstr(o, "reason"));
            return;
        }
        printf("intent: %s (confidence %.2f)\n", s_jstr(o, "text"),
               json_number_value(json_object_get(o, "confidence")));
    } else if (!strcmp(name, "product")) {
        const json_t *it = json_object_get(o, "item");
        printf("product: %s%s (confidence %.2f)", s_jstr(o, "category"),
               json_is_true(json_object_get(o, "unsure")) ? ", unsure" : "",
               json_number_value(json_object_get(o, "confidence")));
        if (it)
            printf(" -> %s \"%s\" %.2f", s_jstr(it, "id"), s_jstr(it, "name"),
                   json_number_value(json_object_get(it, "price")));
        printf("\n");
    } else if (!strcmp(name, "recommendations")) {
        printf("recommendations: %s", s_jstr(o, "kind"));
        if (json_object_get(o, "category"))
            printf(" category=%s", s_jstr(o, "category"));
        if (json_object_get(o, "item"))
            printf(" item=%s", s_jstr(o, "item"));
        if (json_object_get(o, "max_price"))
            printf(" max_price=%.2f", json_number_value(json_object_get(o, "max_price")));
        printf(" page %lld\n", (long long) json_integer_value(json_object_get(o, "page")) + 1);
        const char *lists[] = { "results", "together" };
        for (size_t l = 0; l < 2; l++) {
            size_t i;
            const json_t *r;
            json_array_foreach(json_object_get(o, lists[l]), i, r)
            {
                printf("  %s%-12s %-28s %8.2f  %s\n", l ? "+ " : "", s_jstr(r, "item"),
                       s_jstr(r, "name"), json_number_value(json_object_get(r, "price")),
                       s_jstr(r, "reason"));
            }
        }
    } else if (!strcmp(name, "cart")) {
        printf("cart: %lld item(s)\n", (long long) json_integer_value(json_object_get(o, "count")));
    } else if (!strcmp(name, "answer")) {
        printf("say: %s\n", s_jstr(o, "say"));
    } else {
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s %s\n", name, s ? s : "");
        free(s);
    }
}

/* An answer of audio/photo/text: its parts in event order, then what to say. */
static void
s_human_answer(const json_t *o)
{
    const char *parts[] = { "intent", "product", "recommendations", "cart" };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (json_object_get(o, parts[i]))
            s_human_part(parts[i], json_object_get(o, parts[i]));
    s_human_part("answer", o);
    fflush(stdout);
}

/* Sends one request and prints its reply. Returns an exit status. */
static int
s_call(s_ctx_t *c, const char *type, json_t *body, const void *frame, size_t frame_len)
{
    char err[1024];
    client_t *cl = client_new(c->endpoint, c->key_file ? &c->curve : NULL, err, sizeof err);
    if (!cl) {
        fprintf(stderr, "shopctl: %s\n", err);
        json_decref(body);
        return S_EIO;
    }
    proto_reply_t r;
    const void *frames[1] = { frame };
    size_t sizes[1] = { frame_len };
    int rc = client_request(cl, type, c->session, body, frames, sizes, frame ? 1 : 0,
                            c->timeout_ms, &r, err, sizeof err);
    json_decref(body);
    client_destroy(&cl);
    if (rc != 0) {
        fprintf(stderr, "shopctl: %s (is shopd running on %s?)\n", err, c->endpoint);
        return S_EIO;
    }
    int status = S_OK;
    if (r.ok && c->human && json_object_get(r.body, "say")) {
        s_human_answer(r.body);
    } else if (r.ok) {
        s_print(c, r.body);
    } else {
        fprintf(stderr, "shopctl: %s: %s\n", proto_err_name(r.code), r.message);
        status = S_EREPLY;
    }
    proto_reply_clear(&r);
    return status;
}

/* Returns a new argument vector (free the array, not the strings) with the
 * options that follow the command moved in front of it, so getopt sees
 * them wherever they stand ("shopctl status -C"); *argc_p is updated. A
 * word is an option when it starts with "-" and a letter ("-C",
 * "--compact"), so negative numbers ("cart add ITEM -1") stay arguments;
 * "--" ends the options and the words after it stay arguments. An option
 * that takes a value (required_argument in opts, whose short letters are
 * the long ones' vals) moves with it. */
static char **
s_options_first(int *argc_p, char **argv, const struct option *opts)
{
    int argc = *argc_p;
    char **out = xcalloc((size_t) argc + 2, sizeof *out);
    char **args = xcalloc((size_t) argc + 1, sizeof *args);
    int k = 0, na = 0;
    bool ended = false;
    out[k++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!ended && !strcmp(a, "--")) {
            ended = true;
            continue;
        }
        bool is_long = a[0] == '-' && a[1] == '-' && isalpha((unsigned char) a[2]);
        bool is_short = a[0] == '-' && isalpha((unsigned char) a[1]);
        if (ended || !(is_long || is_short)) {
            args[na++] = argv[i];
            continue;
        }
        out[k++] = argv[i];
        bool needs = false;
        if (is_long) {
            for (size_t j = 0; opts[j].name && !strchr(a, '='); j++)
                needs |= opts[j].has_arg == required_argument && !strcmp(a + 2, opts[j].name);
        } else {
            /* "-Cs ID": the first letter that takes a value ends the cluster */
            bool found = false;
            for (const char *l = a + 1; *l && !found; l++)
                for (size_t j = 0; opts[j].name && !found; j++)
                    if (opts[j].val == *l && opts[j].has_arg == required_argument) {
                        found = true;
                        needs = l[1] == 0;
                    }
        }
        if (needs && i + 1 < argc)
            out[k++] = argv[++i];
    }
    out[k++] = (char *) "--";
    for (int i = 0; i < na; i++)
        out[k++] = args[i];
    free(args);
    *argc_p = k;
    return out;
}

/* Builds a body from key=value words; values that are integers or numbers
 * become JSON numbers, true/false booleans, the rest strings. */
static json_t *
s_kv_body(int argc, char **argv, int *bad)
{
    json_t *b = json_object();
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            fprintf(stderr, "shopctl: \"%s\" is not key=value\n", argv[i]);
            *bad = 1;
            break;
        }
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int) (eq - argv[i]), argv[i]);
        const char *v = eq + 1;
        char *end;
        long long iv = strtoll(v, &end, 10);
        json_t *val;
        if (*v && !*end)
            val = json_integer(iv);
        else if (*v && (strtod(v, &end), !*end))
            val = json_real(strtod(v, NULL));
        else if (!strcmp(v, "true") || !strcmp(v, "false"))
            val = json_boolean(!strcmp(v, "true"));
        else
            val = json_string(v);
        json_object_set_new(b, key, val ? val : json_null());
    }
    return b;
}

/* A key=value word: a name of lower-case letters, digits and _ before '='. */
static bool
s_is_kv(const char *w)
{
    const char *eq = strchr(w, '=');
    if (!eq || eq == w)
        return false;
    for (const char *p = w; p < eq; p++)
        if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '_'))
            return false;
    return true;
}

static int
s_file_request(s_ctx_t *c, const char *type, const char *path, int argc, char **argv)
{
    char err[512];
    size_t len;
    int bad = 0;
    json_t *body = s_kv_body(argc, argv, &bad);
    if (bad) {
        json_decref(body);
        return S_EUSAGE;
    }
    uint8_t *data = shop_read_file(path, S_FILE_MAX, &len, err, sizeof err);
    if (!data) {
        fprintf(stderr, "shopctl: %s\n", err);
        json_decref(body);
        return S_EIO;
    }
    json_object_set_new(body, "name", json_string(path));
    int rc = s_call(c, type, body, data, len);
    free(data);
    return rc;
}

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

static int
s_watch(s_ctx_t *c, int argc, char **argv)
{
    char err[512];
    const char **topics = NULL;
    if (argc > 0) {
        topics = xcalloc((size_t) argc + 1, sizeof *topics);
        for (int i = 0; i < argc; i++)
            topics[i] = argv[i];
    }
    client_sub_t *sub = client_sub_new(c->events_endpoint, c->key_file ? &c->curve : NULL,
                                       c->session, topics, err, sizeof err);
    free(topics);
    if (!sub) {
        fprintf(stderr, "shopctl: %s\n", err);
        return S_EIO;
    }
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int seen = 0, status = S_OK;
    while (!s_stop && (c->count == 0 || seen < c->count)) {
        char topic[64];
        json_t *ev = NULL;
        int rc = client_sub_recv(sub, 500, topic, sizeof topic, &ev, err, sizeof err);
        if (rc == 1)
            continue;
        if (rc < 0) {
            if (!s_stop) {
                fprintf(stderr, "shopctl: %s\n", err);
                status = S_EIO;
            }
            break;
        }
        if (c->human) {
            s_human_part(topic, json_object_get(ev, "body"));
        } else {
            char *s = json_dumps(ev, JSON_COMPACT);
            printf("%s %s\n", topic, s ? s : "");
            free(s);
        }
        fflush(stdout);
        json_decref(ev);
        seen++;
    }
    client_sub_destroy(&sub);
    return status;
}

static int
s_keygen(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "shopctl: keygen takes one argument, the file name base\n");
        return S_EUSAGE;
    }
    char pub[KEYS_Z85_LEN + 1], sec[KEYS_Z85_LEN + 1], err[512];
    if (keys_generate(pub, sec, err, sizeof err) != 0
        || keys_write_pair(argv[0], pub, sec, err, sizeof err) != 0) {
        fprintf(stderr, "shopctl: %s\n", err);
        return S_EIO;
    }
    explicit_bzero(sec, sizeof sec);
    printf("%s\n", pub);
    fprintf(stderr, "shopctl: wrote %s.key (secret, mode 0600) and %s.pub\n", argv[0], argv[0]);
    return S_OK;
}

static int
s_catalogue(s_ctx_t *c, int argc, char **argv)
{
    const char *op = argc > 0 ? argv[0] : "list";
    json_t *body;
    int bad = 0;
    if (!strcmp(op, "get")) {
        if (argc != 2)
            return S_EUSAGE;
        body = json_pack("{s:s, s:s}", "op", "get", "id", argv[1]);
    } else if (!strcmp(op, "categories")) {
        body = json_pack("{s:s}", "op", "categories");
    } else if (!strcmp(op, "list")) {
        int first = 1;
        body = json_pack("{s:s}", "op", "list");
        if (argc > 1 && !strchr(argv[1], '=')) {
            json_object_set_new(body, "category", json_string(argv[1]));
            first = 2;
        }
        json_t *kv = s_kv_body(argc - first, argv + first, &bad);
        json_object_update(body, kv);
        json_decref(kv);
    } else {
        return S_EUSAGE;
    }
    if (bad) {
        json_decref(body);
        return S_EUSAGE;
    }
    return s_call(c, "catalogue", body, NULL, 0);
}

static int
s_cart(s_ctx_t *c, int argc, char **argv)
{
    const char *op = argc > 0 ? argv[0] : "get";
    json_t *body = json_pack("{s:s}", "op", op);
    if (!strcmp(op, "add") || !strcmp(op, "set")) {
        if (argc < 2 || argc > 3 || (!strcmp(op, "set") && argc != 3))
            goto usage;
        json_object_set_new(body, "item", json_string(argv[1]));
        int qty;
        if (argc == 3) {
            if (shop_opt_int("shopctl", "quantity", argv[2], INT_MIN, INT_MAX, &qty) != 0)
                goto usage;
            json_object_set_new(body, "quantity", json_integer(qty));
        }
    } else if (!strcmp(op, "remove")) {
        if (argc != 2)
            goto usage;
        json_object_set_new(body, "item", json_string(argv[1]));
    } else if (!strcmp(op, "checkout")) {
        if (argc > 2)
            goto usage;
        if (argc == 2)
            json_object_set_new(body, "customer", json_string(argv[1]));
    } else if (argc > 1) {
        goto usage;
    }
    return s_call(c, "cart", body, NULL, 0);
usage:
    json_decref(body);
    return S_EUSAGE;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "endpoint", required_argument, NULL, 'e' },
        { "pub-endpoint", required_argument, NULL, 'p' },
        { "session", required_argument, NULL, 's' },
        { "key", required_argument, NULL, 'k' },
        { "server-key", required_argument, NULL, 'S' },
        { "timeout", required_argument, NULL, 't' },
        { "count", required_argument, NULL, 'n' },
        { "compact", no_argument, NULL, 'C' },
        { "config", required_argument, NULL, 'c' },
        { "human", no_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    static char def_ep[512], def_pub[512];
    static conf_t shopd_cfg;
    char **all = s_options_first(&argc, argv, longopts);
    argv = all;
    s_ctx_t c = { .timeout_ms = 5000 };
    c.endpoint = getenv("SHOPD_ENDPOINT");
    c.events_endpoint = getenv("SHOPD_EVENTS_ENDPOINT");
    c.key_file = getenv("SHOPCTL_KEY");
    c.server_key = getenv("SHOPD_SERVER_KEY");
    if (!c.endpoint)
        c.endpoint = proto_default_endpoint(false, def_ep, sizeof def_ep);
    if (!c.events_endpoint)
        c.events_endpoint = proto_default_endpoint(true, def_pub, sizeof def_pub);
    int opt, rc = S_EUSAGE;
    const char *config = NULL;
    bool endpoint_given = false, pub_given = false;
    while ((opt = getopt_long(argc, argv, "+e:p:s:k:S:t:n:c:CHhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'e': c.endpoint = optarg; endpoint_given = true; break;
        case 'p': c.events_endpoint = optarg; pub_given = true; break;
        case 'c': config = optarg; break;
        case 's': c.session = optarg; break;
        case 'k': c.key_file = optarg; break;
        case 'S': c.server_key = optarg; break;
        case 't':
            if (shop_opt_int("shopctl", "--timeout", optarg, 1, INT_MAX, &c.timeout_ms) != 0)
                goto done;
            break;
        case 'n':
            if (shop_opt_int("shopctl", "--count", optarg, 0, INT_MAX, &c.count) != 0)
                goto done;
            break;
        case 'C': c.compact = true; break;
        case 'H': c.human = true; break;
        case 'h': s_usage(stdout); rc = S_OK; goto done;
        case 'V':
            printf("shopctl %s (protocol %d)\n", PACKAGE_VERSION, PROTO_VERSION);
            rc = S_OK;
            goto done;
        default:
            fprintf(stderr, "shopctl --help lists the commands and options\n");
            goto done;
        }
    }
    if (config) {
        /* shopd's own file says where it listens; -e and -p still win */
        char err[1024];
        conf_defaults(&shopd_cfg);
        if (conf_load(&shopd_cfg, config, err, sizeof err) != 0) {
            fprintf(stderr, "shopctl: %s\n", err);
            goto done;
        }
        if (!endpoint_given)
            c.endpoint = shopd_cfg.endpoint;
        if (!pub_given)
            c.events_endpoint = shopd_cfg.events_endpoint;
    }
    if (optind >= argc || !c.endpoint || !c.events_endpoint) {
        s_usage(stderr);
        goto done;
    }
    const char *cmd = argv[optind];
    int n = argc - optind - 1;
    char **args = argv + optind + 1;
    int bad = 0;
    if (!strcmp(cmd, "keygen")) {
        rc = s_keygen(n, args);
        goto done;
    }
    if (s_setup_curve(&c) != 0)
        goto done;
    if (!strcmp(cmd, "status") && n == 0) {
        rc = s_call(&c, "status", NULL, NULL, 0);
    } else if (!strcmp(cmd, "catalogue") || !strcmp(cmd, "catalog")) {
        rc = s_catalogue(&c, n, args);
    } else if (!strcmp(cmd, "event") && (n == 3 || n == 4)) {
        int qty = 1;
        if (n == 4 && shop_opt_int("shopctl", "quantity", args[3], INT_MIN, INT_MAX, &qty) != 0)
            goto done;
        json_t *b = json_pack("{s:s, s:s, s:s}", "customer", args[0], "item", args[1], "kind",
                              args[2]);
        if (n == 4)
            json_object_set_new(b, "quantity", json_integer(qty));
        rc = s_call(&c, "event", b, NULL, 0);
    } else if (!strcmp(cmd, "cart")) {
        rc = s_cart(&c, n, args);
    } else if (!strcmp(cmd, "recommend") || !strcmp(cmd, "similar")) {
        json_t *b = s_kv_body(n, args, &bad);
        rc = bad ? (json_decref(b), S_EUSAGE) : s_call(&c, cmd, b, NULL, 0);
    } else if ((!strcmp(cmd, "audio") || !strcmp(cmd, "photo")) && n >= 1) {
        rc = s_file_request(&c, cmd, args[0], n - 1, args + 1);
    } else if (!strcmp(cmd, "look")) {
        json_t *b = s_kv_body(n, args, &bad);
        rc = bad ? (json_decref(b), S_EUSAGE) : s_call(&c, "look", b, NULL, 0);
    } else if (!strcmp(cmd, "text") && n >= 1) {
        /* key=value words (customer=c0042) are body fields, the rest the sentence */
        char text[1024] = "";
        int nkv = 0;
        char **kv = xcalloc((size_t) n, sizeof *kv);
        for (int i = 0; i < n; i++) {
            if (s_is_kv(args[i]))
                kv[nkv++] = args[i];
            else
                snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s",
                         text[0] ? " " : "", args[i]);
        }
        json_t *b = s_kv_body(nkv, kv, &bad);
        free(kv);
        if (!text[0]) {
            fprintf(stderr, "shopctl: text needs words besides key=value fields\n");
            bad = 1;
        }
        json_object_set_new(b, "text", json_string(text));
        rc = bad ? (json_decref(b), S_EUSAGE) : s_call(&c, "text", b, NULL, 0);
    } else if (!strcmp(cmd, "request") && (n == 1 || n == 2)) {
        json_error_t jerr;
        json_t *b = n == 2 ? json_loads(args[1], 0, &jerr) : json_object();
        if (!json_is_object(b)) {
            fprintf(stderr, "shopctl: the body must be a JSON object\n");
            json_decref(b);
            goto done;
        }
        rc = s_call(&c, args[0], b, NULL, 0);
    } else if (!strcmp(cmd, "forget") && n == 1) {
        rc = s_call(&c, "forget", json_pack("{s:s}", "customer", args[0]), NULL, 0);
    } else if (!strcmp(cmd, "watch")) {
        rc = s_watch(&c, n, args);
    } else {
        fprintf(stderr, "shopctl: unknown command or wrong arguments: %s (shopctl --help lists "
                        "them)\n", cmd);
    }
    if (rc == S_EUSAGE)
        fprintf(stderr, "shopctl: usage of %s: shopctl --help\n", cmd);
done:
    free(all);
    return rc;
}
