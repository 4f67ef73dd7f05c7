/* tests/rel_faults_test.c: faults around a running shopd.
 *
 * A real shopd on ipc:// sockets in a temporary directory, each test with its
 * own database:
 * - a corrupt kws model, vision model and grammar at SIGHUP: the old ones
 *   stay, typed and photo requests keep their answers, status and the log
 *   say why, and restoring the files and SIGHUP again clears the errors;
 * - the database locked by another process (a write transaction held open):
 *   reads are served meanwhile, an event waits up to the busy timeout and is
 *   then refused with a store_error that says "locked" (the client knows it
 *   was not recorded), an event whose lock is released within the timeout is
 *   recorded, and nothing acknowledged is lost;
 * - the database on a read-only mount (a bind mount in a private mount
 *   namespace; a failure where mount namespaces are not allowed), once closed
 *   cleanly (opened immutable) and once with an event a killed writer left
 *   in its -wal (opened mode=ro, the event seen): the store serves reads,
 *   refuses every write with "database is read-only" and keeps sessions in
 *   memory; shopd starts on it, logs why once, answers status, catalogue,
 *   recommendations and typed requests, refuses events and cart changes
 *   with that store_error, and nothing refused is in the file afterwards;
 * - recommendation workers gone: shopd's queries go to the shop-recommend
 *   broker; with its only worker killed they time out with not_available and
 *   a message that says so while shopd keeps answering, and they are
 *   answered again once a worker returns. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/client.h"
#include "ipc/proto.h"
#include "recommend/store.h"
#include "tests/shopd_harness.h"

static harness_t s_d;
static pid_t s_rec_pids[2];   /* broker and worker of the recommendation test */

static int
s_teardown(void **state)
{
    (void) state;
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_rec_pids); i++)
        if (s_rec_pids[i] > 0) {
            kill(s_rec_pids[i], SIGKILL);
            waitpid(s_rec_pids[i], NULL, 0);
            s_rec_pids[i] = 0;
        }
    harness_cleanup(&s_d);
    return 0;
}

/* The whole file at rel under the source tree (caller frees). */
static uint8_t *
s_src_file(const char *rel, size_t *len)
{
    const char *top = getenv("SHOP_TOP_SRCDIR");
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/%s", top ? top : ".", rel);
    uint8_t *b = shop_read_file(path, 64u << 20, len, err, sizeof err);
    if (!b)
        fail_msg("%s", err);
    return b;
}

static void
s_put(const char *path, const void *data, size_t len)
{
    if (shop_write_file_atomic(path, data, len) != 0)
        fail_msg("cannot write %s", path);
}

/* One request; returns the elapsed milliseconds, fills r (the caller
 * clears it), fails the test when no reply comes within timeout_ms. */
static double
s_req(client_t *c, const char *type, json_t *body, const void *frame, size_t flen,
      int timeout_ms, proto_reply_t *r)
{
    char err[512];
    const void *frames[1] = { frame };
    size_t sizes[1] = { flen };
    uint64_t t0 = shop_now_ns();
    int rc = client_request(c, type, "faults", body, frame ? frames : NULL,
                            frame ? sizes : NULL, frame ? 1 : 0, timeout_ms, r, err, sizeof err);
    double ms = (double) (shop_now_ns() - t0) / 1e6;
    json_decref(body);
    if (rc != 0)
        fail_msg("%s: no reply within %d ms: %s", type, timeout_ms, err);
    return ms;
}

/* status body.models.<name> */
static json_t *
s_model_status(client_t *c, const char *name, proto_reply_t *r)
{
    s_req(c, "status", NULL, NULL, 0, 5000, r);
    assert_true(r->ok);
    json_t *m = json_object_get(json_object_get(r->body, "models"), name);
    assert_non_null(m);
    return m;
}

/* The typed request's intent name ("" when not understood; caller's buffer). */
static const char *
s_text_intent(client_t *c, const char *text, char *out, size_t len)
{
    proto_reply_t r;
    s_req(c, "text", json_pack("{s:s}", "text", text), NULL, 0, 10000, &r);
    if (!r.ok)
        fail_msg("text request refused: %s", r.message);
    const char *name = json_string_value(json_object_get(json_object_get(r.body, "intent"),
                                                         "name"));
    snprintf(out, len, "%s", name ? name : "");
    proto_reply_clear(&r);
    return out;
}

/* The photo request's product label (caller's buffer). */
static const char *
s_photo_label(client_t *c, const uint8_t *png, size_t n, char *out, size_t len)
{
    proto_reply_t r;
    s_req(c, "photo", json_object(), png, n, 20000, &r);
    if (!r.ok)
        fail_msg("photo request refused: %s", r.message);
    const char *label = json_string_value(json_object_get(json_object_get(r.body, "product"),
                                                          "label"));
    assert_non_null(label);
    snprintf(out, len, "%s", label);
    proto_reply_clear(&r);
    return out;
}

/* Puts a bag and a sneaker into the database at path before shopd starts
 * (typed requests are checked against the catalogue's categories). */
static void
s_seed_catalogue(const char *db)
{
    char *serr = NULL;
    store_t *st = store_open(db, &serr);
    if (!st)
        fail_msg("%s", serr);
    const char *cats[] = { "bag", "sneaker" };
    for (int i = 0; i < 2; i++) {
        store_item_t it = { .price = 10.0 + i, .in_stock = true };
        snprintf(it.id, sizeof it.id, "%s-01", cats[i]);
        snprintf(it.name, sizeof it.name, "Test %s", cats[i]);
        snprintf(it.category, sizeof it.category, "%s", cats[i]);
        assert_int_equal(store_item_upsert(st, &it), 0);
    }
    store_close(&st);
}

static void
test_corrupt_model_and_grammar_at_sighup_keep_old(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "faults", NULL);
    /* shopd reads its models from the test's directory, and the grammar from
     * SHOPD_DATADIR=<dir> (data/grammar/shop.ini), so each can be broken */
    char kws[200], vis[200], gdir[200], gram[240], conf[1024], envdir[240];
    snprintf(kws, sizeof kws, "%.64s/kws.nn", d->dir);
    snprintf(vis, sizeof vis, "%.64s/vision.nn", d->dir);
    snprintf(gdir, sizeof gdir, "%.64s/data", d->dir);
    assert_int_equal(mkdir(gdir, 0755), 0);
    snprintf(gdir, sizeof gdir, "%.64s/data/grammar", d->dir);
    assert_int_equal(mkdir(gdir, 0755), 0);
    snprintf(gram, sizeof gram, "%s/shop.ini", gdir);
    size_t nk, nv, ng, npng;
    uint8_t *kws_bytes = s_src_file("models/kws.nn", &nk);
    uint8_t *vis_bytes = s_src_file("models/vision.nn", &nv);
    uint8_t *gram_bytes = s_src_file("data/grammar/shop.ini", &ng);
    uint8_t *png = s_src_file("data/demo/photos/bag-01.png", &npng);
    s_put(kws, kws_bytes, nk);
    s_put(vis, vis_bytes, nv);
    s_put(gram, gram_bytes, ng);
    snprintf(conf, sizeof conf, "[daemon]\nstatus_interval = 0\n[store]\nimport_demo = no\n"
             "[models]\nkws = %s\nvision = %s\n", kws, vis);
    harness_write(d->conf, conf);
    s_seed_catalogue(d->db);
    snprintf(envdir, sizeof envdir, "SHOPD_DATADIR=%.64s", d->dir);
    const char *env[] = { envdir, NULL };
    harness_spawn(d, &(harness_spawn_t) { .env = env });
    harness_wait_ready(d, NULL, 60);

    client_t *c = harness_client(d);
    char intent[64], label[64], label2[64];
    assert_string_equal(s_text_intent(c, "show sneakers", intent, sizeof intent), "search");
    assert_string_equal(s_text_intent(c, "add two bag", intent, sizeof intent), "add_to_cart");
    s_photo_label(c, png, npng, label, sizeof label);
    proto_reply_t r;
    json_t *m = s_model_status(c, "kws", &r);
    assert_true(json_is_true(json_object_get(m, "loaded")));
    assert_null(json_object_get(m, "error"));
    proto_reply_clear(&r);

    /* break all three: a model cut in half, garbage, a grammar with an
     * unclosed section */
    s_put(kws, kws_bytes, nk / 2);
    s_put(vis, "not a model\n", 12);
    s_put(gram, "[search\n(show | find) {category}\n", 33);
    assert_int_equal(kill(d->pid, SIGHUP), 0);
    assert_true(harness_log_has(d, "reload: a model failed to load; the previous one stays",
                                30000));
    /* the log says which file and why, and that the old one stays */
    char want[300];
    snprintf(want, sizeof want, "models: kws model %.200s: ", kws);
    assert_true(harness_log_has(d, want, 0));
    snprintf(want, sizeof want, "models: vision model %.200s: ", vis);
    assert_true(harness_log_has(d, want, 0));
    assert_true(harness_log_has(d, "models: grammar: ", 0));
    assert_true(harness_log_has(d, "(keeping the one loaded before)", 0));
    /* status names the failure while the model stays loaded */
    m = s_model_status(c, "kws", &r);
    assert_true(json_is_true(json_object_get(m, "loaded")));
    assert_non_null(strstr(json_string_value(json_object_get(m, "error")), kws));
    printf("# status after the broken reload: kws loaded, error \"%s\"\n",
           json_string_value(json_object_get(m, "error")));
    proto_reply_clear(&r);
    m = s_model_status(c, "vision", &r);
    assert_true(json_is_true(json_object_get(m, "loaded")));
    assert_non_null(strstr(json_string_value(json_object_get(m, "error")), vis));
    proto_reply_clear(&r);
    /* the same answers as before: the old grammar and models are in use */
    assert_string_equal(s_text_intent(c, "show sneakers", intent, sizeof intent), "search");
    assert_string_equal(s_text_intent(c, "add two bag", intent, sizeof intent), "add_to_cart");
    assert_string_equal(s_photo_label(c, png, npng, label2, sizeof label2), label);

    /* good files back: the next reload takes them and clears the errors */
    s_put(kws, kws_bytes, nk);
    s_put(vis, vis_bytes, nv);
    s_put(gram, gram_bytes, ng);
    assert_int_equal(kill(d->pid, SIGHUP), 0);
    bool cleared = false;
    for (int i = 0; i < 300 && !cleared; i++) {
        json_t *k = s_model_status(c, "kws", &r);
        bool k_ok = !json_object_get(k, "error");
        proto_reply_clear(&r);
        json_t *v = s_model_status(c, "vision", &r);
        cleared = k_ok && !json_object_get(v, "error");
        proto_reply_clear(&r);
        if (!cleared)
            usleep(100000);
    }
    assert_true(cleared);
    assert_string_equal(s_text_intent(c, "show sneakers", intent, sizeof intent), "search");
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    free(kws_bytes);
    free(vis_bytes);
    free(gram_bytes);
    free(png);
    harness_cleanup(d);
}

/* Sends one event; returns the reply (caller clears) and the elapsed ms. */
static double
s_event(client_t *c, const char *customer, proto_reply_t *r)
{
    return s_req(c, "event",
                 json_pack("{s:s, s:s, s:s}", "customer", customer, "item", "bag-01", "kind",
                           "view"),
                 NULL, 0, 20000, r);
}

/* Rows of events for customer in the database at path. */
static int
s_count_events(const char *db, const char *customer)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM interactions WHERE customer = ?1",
                                        -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

typedef struct {
    sqlite3 *h;
    int after_ms;
} s_release_t;

static void *
s_release_main(void *arg)
{
    s_release_t *rel = arg;
    usleep((useconds_t) rel->after_ms * 1000);
    sqlite3_exec(rel->h, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

static void
test_database_locked_by_another_process(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "faults", "[daemon]\nstatus_interval = 0\n[store]\nimport_demo = no\n");
    harness_catalogue(d, (const char *const[]) { "bag-01" }, 1);
    harness_start(d);
    client_t *c = harness_client(d);
    proto_reply_t r;
    s_event(c, "before-lock", &r);
    assert_true(r.ok);
    proto_reply_clear(&r);

    /* another process's writer: a transaction holding the write lock */
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(d->db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    /* reads are served meanwhile (WAL readers do not wait for writers) */
    double ms = s_req(c, "status", NULL, NULL, 0, 5000, &r);
    assert_true(r.ok);
    assert_true(ms < 2000);
    proto_reply_clear(&r);
    ms = s_req(c, "catalogue", json_pack("{s:s}", "op", "categories"), NULL, 0, 5000, &r);
    assert_true(r.ok);
    proto_reply_clear(&r);

    /* an event waits for the lock up to the busy timeout, then is refused
     * with an error that says why: the client knows it was not recorded */
    ms = s_event(c, "while-locked", &r);
    printf("# event while another process holds the write lock: %s after %.0f ms: %s\n",
           r.ok ? "ok" : "refused", ms, r.message);
    assert_false(r.ok);
    assert_int_equal(r.code, PROTO_E_STORE);
    assert_non_null(strstr(r.message, "locked"));
    assert_true(ms >= 4000 && ms < 15000);
    proto_reply_clear(&r);
    assert_true(harness_log_has(d, "database is locked", 2000));

    /* a lock released within the timeout only delays the event */
    s_release_t rel = { h, 1000 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_release_main, &rel), 0);
    ms = s_event(c, "lock-released", &r);
    pthread_join(th, NULL);
    printf("# event while the lock is released after 1 s: %s after %.0f ms\n",
           r.ok ? "recorded" : "refused", ms);
    assert_true(r.ok);
    assert_true(json_is_true(json_object_get(r.body, "recorded")));
    assert_true(ms >= 800 && ms < 4500);
    proto_reply_clear(&r);
    sqlite3_close(h);

    /* recovered: the next event goes straight in */
    ms = s_event(c, "after-lock", &r);
    assert_true(r.ok);
    assert_true(ms < 2000);
    proto_reply_clear(&r);
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    /* every acknowledged event is there, the refused one is not */
    assert_int_equal(s_count_events(d->db, "before-lock"), 1);
    assert_int_equal(s_count_events(d->db, "while-locked"), 0);
    assert_int_equal(s_count_events(d->db, "lock-released"), 1);
    assert_int_equal(s_count_events(d->db, "after-lock"), 1);
    harness_cleanup(d);
}

/* shopd's child side of the read-only test: its own mount namespace where
 * the database's directory is a read-only bind mount of itself. */
static char s_ro_dir[200];

static void
s_ro_mount(void)
{
    if (unshare(CLONE_NEWNS) != 0
        || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
        || mount(s_ro_dir, s_ro_dir, NULL, MS_BIND, NULL) != 0
        || mount(NULL, s_ro_dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) {
        fprintf(stderr, "rel_faults_test: read-only mount of %s: %s\n", s_ro_dir,
                strerror(errno));
        _exit(77);
    }
}

/* Leaves an event for customer committed in the -wal file of the database
 * at db, as a writer killed before its checkpoint would: a child commits it
 * and exits without closing (SQLite folds the -wal into the file and
 * removes it only at the last close). */
static void
s_commit_and_die(const char *db, const char *customer)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store_t *st = store_open(db, NULL);
        store_event_t ev = { .type = STORE_EVENT_VIEW, .quantity = 1, .time = 1 };
        snprintf(ev.customer, sizeof ev.customer, "%s", customer);
        snprintf(ev.item, sizeof ev.item, "bag-01");
        _exit(st && store_add_event(st, &ev) == 0 ? 0 : 1);
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
}

/* The store API on the read-only mount, in a child with its own mount
 * namespace. Exits 0 when every check passed, 77 when the mount is not
 * allowed, else the line of the first failed check. */
#define S_RO_CHECK(c)                                                            \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "rel_faults_test: read-only store: %s failed (%s)\n", \
                    #c, st ? store_errmsg(st) : "");                             \
            _exit(__LINE__ % 250 + 1);                                           \
        }                                                                        \
    } while (0)

static int
s_ro_store_checks(const char *db, int64_t want_events)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        s_ro_mount();
        char *err = NULL;
        store_t *st = store_open(db, &err);
        if (!st)
            fprintf(stderr, "rel_faults_test: %s\n", err);
        S_RO_CHECK(st != NULL);
        S_RO_CHECK(store_readonly(st));
        /* reads as usual: the catalogue, the counts, a cart */
        store_item_t it;
        S_RO_CHECK(store_item_get(st, "bag-01", &it) == 0 && !strcmp(it.category, "bag"));
        store_counts_t cn;
        S_RO_CHECK(store_counts(st, &cn) == 0 && cn.items == 2 && cn.events == want_events);
        store_cart_line_t *lines = NULL;
        size_t n = 0;
        S_RO_CHECK(store_cart_get(st, "kiosk-ro", &lines, &n) == 0 && n == 1
                   && !strcmp(lines[0].item, "sneaker-01") && lines[0].quantity == 2);
        free(lines);
        /* every write refused, with the message the client sees */
        store_event_t ev = { .type = STORE_EVENT_VIEW, .quantity = 1, .time = 2 };
        snprintf(ev.customer, sizeof ev.customer, "while-ro");
        snprintf(ev.item, sizeof ev.item, "bag-01");
        S_RO_CHECK(store_add_event(st, &ev) == -1);
        S_RO_CHECK(!strcmp(store_errmsg(st), "database is read-only"));
        S_RO_CHECK(store_cart_add(st, "kiosk-ro", NULL, "bag-01", 1, NULL) == -1);
        S_RO_CHECK(!strcmp(store_errmsg(st), "database is read-only"));
        S_RO_CHECK(store_cart_remove(st, "kiosk-ro", "sneaker-01") == -1);
        S_RO_CHECK(store_cart_checkout(st, "kiosk-ro", "c1", 3, NULL) == -1);
        S_RO_CHECK(store_item_upsert(st, &it) == -1);
        S_RO_CHECK(store_customer_upsert(st, "c1", "x") == -1);
        S_RO_CHECK(store_begin(st) == -1);
        S_RO_CHECK(!strcmp(store_errmsg(st), "database is read-only"));
        /* sessions go on in memory */
        char buf[64];
        S_RO_CHECK(store_meta_set(st, "session:ro", "{\"page\":1}") == 0);
        S_RO_CHECK(store_meta_get(st, "session:ro", buf, sizeof buf) == 0
                   && !strcmp(buf, "{\"page\":1}"));
        S_RO_CHECK(store_counts(st, &cn) == 0 && cn.events == want_events && cn.cart_sessions == 1);
        store_close(&st);
        _exit(0);
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    return WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
}

/* A request that must be refused with store_error "database is read-only". */
static void
s_ro_refused(client_t *c, const char *type, json_t *body)
{
    proto_reply_t r;
    s_req(c, type, body, NULL, 0, 20000, &r);
    printf("# %s on the read-only database: %s: %s\n", type, r.ok ? "ok" : "refused",
           r.message);
    assert_false(r.ok);
    assert_int_equal(r.code, PROTO_E_STORE);
    assert_non_null(strstr(r.message, "database is read-only"));
    proto_reply_clear(&r);
}

static void
test_database_read_only(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "faults", "[daemon]\nstatus_interval = 0\n[store]\nimport_demo = no\n");
    /* the database lives alone in dir/ro (the sockets and log stay writable) */
    snprintf(s_ro_dir, sizeof s_ro_dir, "%.64s/ro", d->dir);
    assert_int_equal(mkdir(s_ro_dir, 0755), 0);
    snprintf(d->db, sizeof d->db, "%.140s/shop.db", s_ro_dir);
    s_seed_catalogue(d->db);
    {
        store_t *st = store_open(d->db, NULL);
        assert_non_null(st);
        assert_int_equal(store_cart_set(st, "kiosk-ro", NULL, "sneaker-01", 2), 0);
        store_close(&st);
    }

    /* closed cleanly: no -wal or -shm, none can be created: immutable */
    int rc = s_ro_store_checks(d->db, 0);
    if (rc == 77) {
        /* s_ro_mount: no mount namespace here (not root, or not allowed) */
        harness_cleanup(d);
        fail_msg("the read-only store needs a mount namespace of its own (unshare "
                 "CLONE_NEWNS: root with CAP_SYS_ADMIN); the child said why above");
    }
    assert_int_equal(rc, 0);
    /* an event a killed writer left in the -wal: read through the existing
     * -wal and a read-only -shm (mode=ro), so it is seen */
    s_commit_and_die(d->db, "in-wal");
    assert_int_equal(s_ro_store_checks(d->db, 1), 0);

    /* shopd starts on it and keeps answering */
    harness_spawn(d, &(harness_spawn_t) { .before_exec = s_ro_mount });
    harness_wait_ready(d, NULL, 120);
    client_t *c = harness_client(d);
    proto_reply_t r;
    s_req(c, "status", NULL, NULL, 0, 5000, &r);
    assert_true(r.ok);
    json_t *store = json_object_get(r.body, "store");
    assert_int_equal(json_integer_value(json_object_get(store, "items")), 2);
    assert_int_equal(json_integer_value(json_object_get(store, "events")), 1);
    proto_reply_clear(&r);
    s_req(c, "catalogue", json_pack("{s:s}", "op", "categories"), NULL, 0, 5000, &r);
    assert_true(r.ok);
    assert_int_equal(json_array_size(json_object_get(r.body, "categories")), 2);
    proto_reply_clear(&r);
    s_req(c, "recommend", json_pack("{s:s}", "kind", "popular"), NULL, 0, 20000, &r);
    if (!r.ok)
        fail_msg("recommend on the read-only database refused: %s", r.message);
    proto_reply_clear(&r);
    /* a typed request: its session is saved in memory */
    char intent[32];
    assert_string_equal(s_text_intent(c, "show sneakers", intent, sizeof intent), "search");
    /* writes refused with a clear store_error, never acknowledged */
    s_ro_refused(c, "event", json_pack("{s:s, s:s, s:s}", "customer", "while-ro", "item",
                                       "bag-01", "kind", "view"));
    s_ro_refused(c, "cart", json_pack("{s:s, s:s, s:i}", "op", "add", "item", "bag-01",
                                      "quantity", 1));
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    /* the reason, logged once at start as a warning */
    assert_int_equal(harness_log_count(d, "opened read-only: serving reads"), 1);
    assert_true(harness_log_has(d, "cannot be written: Read-only file system", 0));
    /* nothing was written: the refused event is not there, the cart is as
     * it was, the event in the -wal still is */
    assert_int_equal(s_count_events(d->db, "while-ro"), 0);
    assert_int_equal(s_count_events(d->db, "in-wal"), 1);
    harness_cleanup(d);
}

/* Starts $SHOP_TOP_BUILDDIR/shop-recommend with args, output to the log. */
static pid_t
s_shop_recommend(const harness_t *d, const char *const *args)
{
    const char *top = getenv("SHOP_TOP_BUILDDIR");
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/shop-recommend", top ? top : ".");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        char *argv[12] = { "shop-recommend" };
        for (int i = 0; args[i] && i < 10; i++)
            argv[i + 1] = (char *) args[i];
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

/* A popular query; returns 1 answered, 0 refused (r kept for the caller). */
static int
s_popular(client_t *c, proto_reply_t *r, double *ms)
{
    *ms = s_req(c, "recommend", json_pack("{s:s}", "kind", "popular"), NULL, 0, 20000, r);
    return r->ok;
}

static void
test_recommend_workers_gone_and_back(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    char front[200], back[200], recdb[200], conf[600];
    harness_prepare(d, "faults", NULL);
    snprintf(front, sizeof front, "ipc://%.64s/rec-front.sock", d->dir);
    snprintf(back, sizeof back, "ipc://%.64s/rec-back.sock", d->dir);
    snprintf(recdb, sizeof recdb, "%.64s/rec.db", d->dir);
    /* 500 ms per try, one retry: a lost worker costs a query about 1 s */
    snprintf(conf, sizeof conf, "[daemon]\nstatus_interval = 0\n[store]\nimport_demo = no\n"
             "[recommend]\nendpoint = %s\ntimeout = 500\n", front);
    harness_write(d->conf, conf);
    s_rec_pids[0] = s_shop_recommend(d, (const char *const[]) { "--broker", front, back, NULL });
    s_rec_pids[1] = s_shop_recommend(
        d, (const char *const[]) { "--db", recdb, "--connect", back, "--name", "w1", NULL });
    harness_start(d);
    client_t *c = harness_client(d);
    proto_reply_t r;
    double ms = 0;
    /* the worker may still be connecting: up to 30 s for the first answer */
    bool answered = false;
    for (int i = 0; i < 30 && !answered; i++) {
        answered = s_popular(c, &r, &ms);
        if (answered)
            assert_string_equal(json_string_value(json_object_get(r.body, "worker")), "w1");
        proto_reply_clear(&r);
    }
    assert_true(answered);

    /* the only worker gone */
    kill(s_rec_pids[1], SIGKILL);
    waitpid(s_rec_pids[1], NULL, 0);
    s_rec_pids[1] = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_popular(c, &r, &ms), 0);
        printf("# query without workers: %s after %.0f ms: %s\n", proto_err_name(r.code), ms,
               r.message);
        assert_int_equal(r.code, PROTO_E_NOT_AVAILABLE);
        assert_non_null(strstr(r.message, "no reply"));
        assert_true(ms >= 400 && ms < 5000);
        proto_reply_clear(&r);
        /* shopd itself keeps answering */
        assert_true(s_req(c, "status", NULL, NULL, 0, 5000, &r) < 2000);
        assert_true(r.ok);
        proto_reply_clear(&r);
    }

    /* a worker returns: queries are answered again */
    s_rec_pids[1] = s_shop_recommend(
        d, (const char *const[]) { "--db", recdb, "--connect", back, "--name", "w2", NULL });
    answered = false;
    int tries = 0;
    uint64_t t0 = shop_now_ns();
    for (; tries < 30 && !answered; tries++) {
        answered = s_popular(c, &r, &ms);
        if (answered)
            assert_string_equal(json_string_value(json_object_get(r.body, "worker")), "w2");
        proto_reply_clear(&r);
    }
    printf("# a new worker answered after %.1f s (%d queries)\n",
           (double) (shop_now_ns() - t0) / 1e9, tries);
    assert_true(answered);
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    harness_cleanup(d);
    for (size_t i = 0; i < SHOP_ARRAY_LEN(s_rec_pids); i++)
        if (s_rec_pids[i] > 0) {
            kill(s_rec_pids[i], SIGTERM);
            waitpid(s_rec_pids[i], NULL, 0);
            s_rec_pids[i] = 0;
        }
}

int
main(void)
{
    if (harness_init() != 0) {
        printf("1..0 # SKIP %s not built\n", harness_shopd_bin());
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_corrupt_model_and_grammar_at_sighup_keep_old, s_teardown),
        cmocka_unit_test_teardown(test_database_locked_by_another_process, s_teardown),
        cmocka_unit_test_teardown(test_database_read_only, s_teardown),
        cmocka_unit_test_teardown(test_recommend_workers_gone_and_back, s_teardown),
    };
    return cmocka_run_group_tests_name("rel_faults", tests, NULL, NULL);
}
