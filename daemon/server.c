/* daemon/server.c: see server.h */
#include "config.h"

#include "daemon/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "common/log.h"
#include "common/ratelimit.h"
#include "common/util.h"
#include "daemon/camera.h"
#include "daemon/events.h"
#include "daemon/handler.h"
#include "daemon/flow.h"
#include "daemon/handlers.h"
#include "daemon/mic.h"
#include "daemon/models.h"
#include "daemon/netguard.h"
#include "daemon/pool.h"
#include "daemon/privacy.h"
#include "daemon/recog.h"
#include "daemon/recommender.h"
#include "daemon/session.h"
#include "daemon/storelink.h"
#include "daemon/lock.h"
#include "daemon/web.h"
#include "ipc/keys.h"
#include "ipc/proto.h"
#include "ipc/sock.h"
#include "ipc/zap.h"
#include "recommend/import.h"
#include "recommend/store.h"

/* identity + optional empty delimiter + envelope + binary frames: a request
 * with more frames than this is refused without reading them all into memory
 * twice (they are dropped as they arrive). */
#define S_MAX_FRAMES 8
/* requests read per turn of the loop */
#define S_DRAIN_BATCH 64

/* where the kiosk page bridge's thread reaches the request and event sockets */
#define S_WEB_REQUESTS "inproc://shopd-web-requests"
#define S_WEB_EVENTS "inproc://shopd-web-events"

struct _server_t {
    conf_t cfg;                 /* settings in force */
    char conf_path[CONF_PATH_MAX]; /* file they came from, "" = defaults */
    void *ctx;                    /* the one ZeroMQ context of shopd */
    zap_t *zap;                   /* CURVE allow-list; NULL without CURVE */
    void *router;                 /* requests */
    void *pub;                    /* events (XPUB) */
    events_t *events;             /* who may subscribe to what */
    char (*ops)[KEYS_Z85_LEN + 1]; /* operator keys */
    size_t nops;
    ratelimit_t *rl;              /* one line per revoked key per interval */
    uint64_t next_sweep_ns;       /* when idle sessions are next erased */
    web_t *web;                   /* kiosk page bridge thread, NULL without [web] listen */
    void *web_pub;                /* every event again, for the bridge alone (inproc) */
    char web_key[KEYS_Z85_LEN + 1]; /* the bridge's CURVE key, an operator's; "" none */
    store_t *store;               /* this thread's connection: a SQLite file or a server */
    storelink_t *link;            /* follows it; on a server, the outbox and offline copy */
    int outbox_lock;              /* flock on the outbox file, -1 when none */
    bool rec_due;                 /* started offline: the built-in engine is still to start */
    models_t *models;             /* recognisers (may each be missing) */
    recommender_t *rec;           /* built-in engine or remote service; NULL when none */
    mic_t *mic;                   /* the microphone, NULL when none is configured */
    recog_shared_t *recog;        /* what the pool's workers share (models, counters) */
    pool_t *pool;                 /* workers: decoding and the CNNs, off this thread */
    camera_t *camera;             /* the camera thread, NULL without [camera] device */
    uint64_t started_ns;          /* monotonic start, for uptime */
    uint64_t next_status_ns;      /* when the next status heartbeat is due */
    uint64_t pub_seq;             /* sequence number of the last event */
    unsigned long requests;       /* requests answered */
    unsigned long errors;         /* of which error replies */
    unsigned long reloads;        /* successful SIGHUP reloads */
};

/* A request (or a camera picture) whose job runs on a worker: what this
 * thread needs to answer it once the job is done. */
typedef struct {
    server_t *server;
    bool reply;                   /* a client waits: identity is set */
    zmq_msg_t identity;           /* its ROUTER identity (a copy) */
    bool delimiter;               /* it sent an empty delimiter frame (REQ) */
    proto_request_t req;          /* the request, moved here */
    bool camera;                  /* a camera picture: answered on the camera's session */
    bool by_trigger;              /* taken by the camera's trigger */
    char user[64];                /* the requester's CURVE key, "" without */
    bool operator;                /* the requester is an operator */
} s_pending_t;

static void s_job_done(void *arg, bool ran);

/* Creates the directory that will hold path (and its parents), mode 0700. */
static int
s_mkdir_parents(const char *path, char *err, size_t errlen)
{
    char dir[CONF_PATH_MAX];
    shop_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
    return -1;
}

/* Imports the bundled demo store (data/demo) when the catalogue is empty.
 * A missing or broken demo store is logged, not fatal: shopd then serves
 * an empty catalogue. */
static void
s_import_demo(store_t *st)
{
    store_counts_t c;
    /* the quick look; import_demo_store decides under the import lock */
    if (store_counts(st, &c) != 0 || c.items > 0)
        return;
    char dir[CONF_PATH_MAX], err[512];
    if (!shop_data_path("data/demo/catalogue.csv", dir, sizeof dir)) {
        log_warn("store: the catalogue is empty and no demo store (data/demo) was found");
        return;
    }
    *strrchr(dir, '/') = 0;
    import_report_t cat = { 0 }, ev = { 0 };
    uint64_t t0 = shop_now_ns();
    int rc = import_demo_store(st, dir, &cat, &ev, err, sizeof err);
    if (rc < 0) {
        log_warn("store: demo store import from %s failed: %s", dir, err);
        return;
    }
    if (rc > 0) {
        log_info("store: the demo store was imported by another device meanwhile");
        return;
    }
    log_notice("store: imported the demo store from %s: %ld products, %ld events "
               "(%ld + %ld rows rejected) in %.2f s", dir, cat.imported, ev.imported,
               cat.rejected, ev.rejected, (shop_now_ns() - t0) / 1e9);
}

/* Opens the database at cfg->database, importing the demo store into an
 * empty catalogue when asked. Returns the store or NULL with err filled. */
static store_t *
s_open_store(const conf_t *cfg, char *err, size_t errlen)
{
    /* a file's folder is made here; a server's database exists already */
    if (!store_is_server(cfg->database) && s_mkdir_parents(cfg->database, err, errlen) != 0)
        return NULL;
    char *serr = NULL, where[CONF_PATH_MAX];
    store_t *st = store_open(cfg->database, &serr);
    if (!st) {
        store_location_redact(cfg->database, where, sizeof where);
        snprintf(err, errlen, "cannot open the database %s: %s", where,
                 serr ? serr : "unknown error");
        free(serr);
        return NULL;
    }
    if (cfg->import_demo)
        s_import_demo(st);
    return st;
}

/* The link for st (a shared store: its outbox at cfg->outbox, locked into
 * *lock_fd, one shopd per outbox). Returns it, or NULL with err. */
static storelink_t *
s_open_link(store_t *st, const conf_t *cfg, int *lock_fd, char *err, size_t errlen)
{
    *lock_fd = -1;
    if (strcmp(store_backend(st), "postgresql") == 0
        && (s_mkdir_parents(cfg->outbox, err, errlen) != 0
            || lock_database(cfg->outbox, lock_fd, err, errlen) != 0))
        return NULL;
    storelink_t *link = storelink_new(st, cfg->outbox, err, errlen);
    if (!link)
        lock_release(lock_fd);
    return link;
}

/* The server of cfg->database could not be reached at start (err says
 * why): a link that starts offline from the outbox's offline copy, or NULL
 * with err saying both why. */
static storelink_t *
s_open_offline(const conf_t *cfg, int *lock_fd, char *err, size_t errlen)
{
    char why[512], more[CONF_PATH_MAX + 256];
    shop_strlcpy(why, err, sizeof why);
    *lock_fd = -1;
    storelink_t *link = NULL;
    if (access(cfg->outbox, F_OK) != 0)
        snprintf(more, sizeof more, "no outbox %s to start offline from", cfg->outbox);
    else if (lock_database(cfg->outbox, lock_fd, more, sizeof more) == 0)
        link = storelink_new_offline(cfg->database, why, cfg->outbox, more, sizeof more);
    if (!link) {
        lock_release(lock_fd);
        snprintf(err, errlen, "%s (%s)", why, more);
    }
    return link;
}

/* Reads the operator keys of cfg into self (none when unset). Returns 0 or -1. */
static int
s_load_operators(server_t *self, const conf_t *cfg, char *err, size_t errlen)
{
    char (*keys)[KEYS_Z85_LEN + 1] = NULL;
    size_t n = 0;
    if (cfg->operator_keys[0]
        && keys_read_allowlist(cfg->operator_keys, &keys, &n, err, errlen) != 0)
        return -1;
    free(self->ops);
    self->ops = keys;
    self->nops = n;
    if (self->events)
        events_set_operators(self->events, (const char (*)[KEYS_Z85_LEN + 1]) keys, n);
    if (n)
        log_info("curve: %zu operator key%s (%s)", n, n == 1 ? "" : "s", cfg->operator_keys);
    return 0;
}

/* Whether user (a Z85 key, "" without CURVE) is an operator: an operator key,
 * or any client of an ipc:// socket file when there is no CURVE (only shopd's
 * user and root can open it). */
static bool
s_is_operator(const server_t *self, const char *user)
{
    if (!user[0])
        return !self->zap && strncmp(self->cfg.endpoint, "ipc://", 6) == 0
               && self->cfg.endpoint[6] != '@';
    /* the kiosk page bridge serves pages of any session (they have the token
     * or are local) */
    if (self->web_key[0] && strcmp(self->web_key, user) == 0)
        return true;
    for (size_t i = 0; i < self->nops; i++)
        if (strcmp(self->ops[i], user) == 0)
            return true;
    return false;
}

/* netguard_cut_users' test: the key is on the allow-list in force. */
static bool
s_key_allowed(void *ud, const char *user)
{
    server_t *self = ud;
    return !self->zap || zap_is_allowed(self->zap, user);
}

/* events_may_fn: the session's owner check. */
static bool
s_may_see(void *ud, const char *session, const char *user)
{
    server_t *self = ud;
    return session_may_use(storelink_store(self->link), session, user) == 1;
}

/* Loads the CURVE server key and the allow-list into zap. Returns 0 or -1. */
static int
s_load_allowlist(zap_t *zap, const char *path, char *err, size_t errlen)
{
    char (*keys)[KEYS_Z85_LEN + 1] = NULL;
    size_t n = 0;
    if (keys_read_allowlist(path, &keys, &n, err, errlen) != 0)
        return -1;
    zap_set_allowed(zap, (const char (*)[KEYS_Z85_LEN + 1]) keys, n);
    free(keys);
    log_info("curve: %zu client key%s allowed (%s)", n, n == 1 ? "" : "s", path);
    return 0;
}

static void *
s_listen(server_t *self, int type, const char *endpoint, const char *secret, char *err,
         size_t errlen)
{
    void *s = zmq_socket(self->ctx, type);
    if (!s) {
        snprintf(err, errlen, "socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    sock_opts_t o;
    sock_opts_default(&o);
    o.max_msg_bytes = self->cfg.max_message_bytes;
    o.handshake_ms = self->cfg.handshake_ms;
    o.heartbeat_ivl_ms = self->cfg.heartbeat_ivl_ms;
    o.heartbeat_timeout_ms = self->cfg.heartbeat_timeout_ms;
    o.heartbeat_ttl_ms = self->cfg.heartbeat_timeout_ms;
    if (sock_apply(s, &o, err, errlen) != 0
        || (secret && sock_curve_server(s, secret, err, errlen) != 0)
        || sock_prepare_ipc_dir(endpoint, err, errlen) != 0)
        goto err;
    if (type == ZMQ_XPUB) {
        /* subscriptions are shopd's to decide (daemon/events.h), from the first one */
        bool null_op = !secret && strncmp(endpoint, "ipc://", 6) == 0 && endpoint[6] != '@';
        self->events = events_new(s, null_op, err, errlen);
        if (!self->events)
            goto err;
        events_set_log_interval(self->events, self->cfg.refusal_log_interval_s * 1000);
    }
    if (zmq_bind(s, endpoint) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", endpoint, zmq_strerror(zmq_errno()));
        goto err;
    }
    /* a port chosen at bind (tcp://...:*) is guarded as bound */
    char bound[CONF_PATH_MAX];
    size_t blen = sizeof bound;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, bound, &blen) == 0 && strcmp(bound, endpoint) != 0)
        netguard_watch(bound);
    log_info("listening on %s (%s%s)", endpoint, type == ZMQ_ROUTER ? "requests" : "events",
             secret ? ", CURVE" : "");
    return s;
err:
    zmq_close(s);
    return NULL;
}

/* Starts the kiosk page bridge: the request socket also listens on an
 * inproc endpoint, and every event also goes to a PUB socket of its own on
 * another (the bridge forwards each page its session's; the event socket's
 * subscription rules are for clients outside), which its thread connects
 * to. With CURVE on, the bridge gets a key pair made for it, admitted by
 * the ZAP handler and treated as an operator's. */
static int
s_start_web(server_t *self, const char *server_public, char *err, size_t errlen)
{
    self->web_pub = zmq_socket(self->ctx, ZMQ_PUB);
    if (!self->web_pub || zmq_bind(self->router, S_WEB_REQUESTS) != 0
        || zmq_bind(self->web_pub, S_WEB_EVENTS) != 0) {
        snprintf(err, errlen, "web: cannot bind the inproc endpoints: %s",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    web_opts_t o = { .listen = self->cfg.web_listen, .token = self->cfg.web_token,
                     .requests = S_WEB_REQUESTS, .events = S_WEB_EVENTS };
    char pub[KEYS_Z85_LEN + 1], sec[KEYS_Z85_LEN + 1];
    if (server_public) {
        if (zmq_curve_keypair(pub, sec) != 0) {
            snprintf(err, errlen, "web: cannot make a CURVE key pair");
            return -1;
        }
        zap_set_internal(self->zap, pub);
        shop_strlcpy(self->web_key, pub, sizeof self->web_key);
        o.server_public = server_public;
        o.client_public = pub;
        o.client_secret = sec;
    }
    self->web = web_new(self->ctx, &o, err, errlen);
    explicit_bzero(sec, sizeof sec);
    return self->web ? 0 : -1;
}

/* Runs on the camera thread: the trigger took a picture; it goes to the
 * workers like a photo, and is answered on the camera's session. */
static void
s_on_picture(camera_picture_t *pic, void *arg)
{
    server_t *self = arg;
    recog_job_t *job = recog_job_new(RECOG_FRAME, pic->data, pic->len);
    job->fmt = pic->fmt;
    s_pending_t *p = xcalloc(1, sizeof *p);
    p->server = self;
    p->camera = true;
    p->by_trigger = true;
    shop_strlcpy(p->req.type, "look", sizeof p->req.type);
    job->owner = p;
    if (pool_submit(self->pool, recog_work, s_job_done, job) != 0) {
        log_warn("camera: picture of frame %llu dropped: the workers are busy",
                 (unsigned long long) pic->seq);
        recog_job_free(job);
        free(p);
    }
}

/* Makes the camera (not started yet) from the [camera] settings. */
static int
s_new_camera(server_t *self, const conf_t *cfg, char *err, size_t errlen)
{
    camera_opts_t o = { .device = cfg->camera_device, .width = cfg->camera_width,
                        .height = cfg->camera_height,
                        .trigger = (camera_trigger_t) camera_trigger_from_name(cfg->camera_trigger),
                        .interval_ms = cfg->camera_interval_s * 1000,
                        .scene = { .still_frames = cfg->camera_still_frames },
                        .jail = true };
    self->camera = camera_new(&o, s_on_picture, self, err, errlen);
    if (!self->camera)
        return -1;
    log_info("camera %s: pictures on request%s%s, answered on session \"%s\"",
             cfg->camera_device, o.trigger == CAMERA_TRIGGER_NONE ? "" : " and by the trigger ",
             o.trigger == CAMERA_TRIGGER_NONE ? "" : cfg->camera_trigger, cfg->camera_session);
    return 0;
}

server_t *
server_new(const conf_t *cfg, const char *conf_path, char *err, size_t errlen)
{
    if (conf_check(cfg, err, errlen) != 0)
        return NULL;
    if (privacy_init(err, errlen) != 0)
        return NULL;
    server_t *self = xcalloc(1, sizeof *self);
    self->cfg = *cfg;
    self->rl = ratelimit_new(cfg->refusal_log_interval_s * 1000);
    shop_strlcpy(self->conf_path, conf_path ? conf_path : "", sizeof self->conf_path);
    self->started_ns = shop_now_ns();
    char secret[KEYS_Z85_LEN + 1] = "", public[KEYS_Z85_LEN + 1];

    self->outbox_lock = -1;
    self->store = s_open_store(cfg, err, errlen);
    if (self->store)
        self->link = s_open_link(self->store, cfg, &self->outbox_lock, err, errlen);
    else if (store_is_server(cfg->database))
        self->link = s_open_offline(cfg, &self->outbox_lock, err, errlen);
    if (!self->link)
        goto err;
    /* started offline: the built-in engine starts once the server answers */
    self->rec_due = !self->store && !cfg->rec_endpoint[0];
    self->models = models_new(cfg, storelink_store(self->link));
    /* the jailed decoders (the workers', the camera trigger's) are forked
     * now, from this thread, before the pool's, the camera's and ZeroMQ's
     * threads exist */
    self->recog = recog_shared_new(self->models, true, cfg->workers, cfg->decode_timeout_ms);
    if (cfg->camera_device[0] && s_new_camera(self, cfg, err, errlen) != 0)
        goto err;
    pool_opts_t po = { .threads = cfg->workers, .thread_start = recog_worker_start,
                       .thread_stop = recog_worker_stop, .arg = self->recog,
                       .name = "worker" };
    self->pool = pool_new(&po, err, errlen);
    if (!self->pool)
        goto err;
    self->ctx = zmq_ctx_new();
    if (!self->ctx) {
        snprintf(err, errlen, "cannot create a ZeroMQ context");
        goto err;
    }
    if (cfg->secret_key_file[0]) {
        if (keys_read(cfg->secret_key_file, public, secret, err, errlen) != 0)
            goto err;
        /* the handler must be bound before any CURVE socket accepts a peer */
        self->zap = zap_new(self->ctx, err, errlen);
        if (!self->zap || s_load_allowlist(self->zap, cfg->allow_list, err, errlen) != 0)
            goto err;
        zap_set_log_interval(self->zap, cfg->refusal_log_interval_s * 1000);
        log_info("curve: server public key %s", public);
    }
    if (recommender_check(cfg, err, errlen) != 0)
        goto err;
    if (!self->rec_due)
        self->rec = recommender_new(self->ctx, cfg);
    if (cfg->mic_device[0] && !(self->mic = mic_new(self->ctx, cfg, err, errlen)))
        goto err;
    self->router = s_listen(self, ZMQ_ROUTER, cfg->endpoint, secret[0] ? secret : NULL, err,
                            errlen);
    if (!self->router)
        goto err;
    self->pub = s_listen(self, ZMQ_XPUB, cfg->events_endpoint, secret[0] ? secret : NULL, err,
                         errlen);
    if (!self->pub || s_load_operators(self, cfg, err, errlen) != 0)
        goto err;
    if (cfg->web_listen[0] && s_start_web(self, secret[0] ? public : NULL, err, errlen) != 0)
        goto err;
    explicit_bzero(secret, sizeof secret);
    self->next_status_ns = shop_now_ns() + (uint64_t) cfg->status_interval_s * 1000000000u;
    if (self->camera && camera_start(self->camera, err, errlen) != 0)
        goto err;
    return self;
err:
    explicit_bzero(secret, sizeof secret);
    server_destroy(&self);
    return NULL;
}

/* Removes the socket file of an ipc:// endpoint this server had bound, so a
 * stopped shopd leaves no dead socket behind (libzmq leaves it). */
static void
s_unlink_ipc(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) == 0 && endpoint[6] == '/')
        unlink(endpoint + 6);
}

void
server_destroy(server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    server_t *self = *self_p;
    /* its thread's sockets must be closed before the context ends */
    web_destroy(&self->web);
    if (self->web_pub)
        zmq_close(self->web_pub);
    /* the camera first (it submits jobs), then the workers: jobs in flight
     * give up at once, and every waiting client gets its reply before the
     * sockets close */
    camera_destroy(&self->camera);
    pool_destroy(&self->pool);
    recog_shared_destroy(&self->recog);
    if (self->router) {
        zmq_close(self->router);
        s_unlink_ipc(self->cfg.endpoint);
    }
    if (self->pub) {
        zmq_close(self->pub);
        s_unlink_ipc(self->cfg.events_endpoint);
    }
    zap_destroy(&self->zap);
    /* the microphone's listening thread holds a socket of ctx too */
    mic_destroy(&self->mic);
    events_destroy(&self->events);
    free(self->ops);
    ratelimit_destroy(&self->rl);
    /* a remote service's client has a socket of ctx: close it before ctx goes */
    recommender_destroy(&self->rec);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    models_destroy(&self->models);
    storelink_destroy(&self->link);
    lock_release(&self->outbox_lock);
    store_close(&self->store);
    free(self);
    *self_p = NULL;
}

/* Publishes an event [type][envelope] on the PUB socket. body is borrowed;
 * session may be NULL or "" (none). */
static void
s_publish(server_t *self, const char *type, const char *session, const json_t *body)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t len;
    char topic[PROTO_SESSION_MAX + PROTO_TYPE_MAX + 4];
    int tlen = proto_event_topic(type, session, topic, sizeof topic);
    if (tlen < 0)
        return;
    char *env = proto_event_encode(type, ++self->pub_seq, ts.tv_sec + ts.tv_nsec / 1e9, session,
                                   body, &len);
    /* PUB never blocks: a slow subscriber loses events beyond its queue */
    if (zmq_send(self->pub, topic, (size_t) tlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
        || zmq_send(self->pub, env, len, ZMQ_DONTWAIT) < 0)
        log_debug("publish %s: %s", type, zmq_strerror(zmq_errno()));
    if (self->web_pub
        && (zmq_send(self->web_pub, topic, (size_t) tlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
            || zmq_send(self->web_pub, env, len, ZMQ_DONTWAIT) < 0))
        log_debug("publish %s to the kiosk page bridge: %s", type, zmq_strerror(zmq_errno()));
    free(env);
}

/* What handlers may use, with the server's figures as they are now. */
static handler_env_t
s_env(server_t *self)
{
    handler_env_t env = { .store = storelink_store(self->link), .link = self->link,
                          .cfg = &self->cfg, .models = self->models, .rec = self->rec,
                          .mic = self->mic };
    handler_status_t *st = &env.status;
    st->started_ns = self->started_ns;
    st->requests = self->requests;
    st->errors = self->errors;
    st->reloads = self->reloads;
    st->curve = self->zap != NULL;
    if (self->zap) {
        unsigned long acc;
        zap_stats(self->zap, &acc, &st->refused);
        st->allowed_keys = zap_allowed_count(self->zap);
    }
    st->conf_path = self->conf_path;
    st->refused_subscriptions = self->events ? events_refused(self->events) : 0;
    env.camera = self->camera;
    if (self->pool) {
        pool_stats_t ps;
        pool_stats(self->pool, &ps);
        env.workers = (handler_workers_t) { .pool = true, .threads = ps.threads,
                                            .busy = ps.busy, .queued = ps.queued,
                                            .submitted = ps.submitted,
                                            .completed = ps.completed, .refused = ps.refused };
    }
    if (self->recog)
        recog_shared_stats(self->recog, &env.workers.decoders);
    return env;
}

/* Sends a reply envelope to the peer identity (with the empty delimiter
 * frame again when the request had one: REQ sockets need it). */
static void
s_reply(server_t *self, zmq_msg_t *identity, bool delimiter, const char *env, size_t len)
{
    if (zmq_send(self->router, zmq_msg_data(identity), zmq_msg_size(identity),
                 ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
        || (delimiter && zmq_send(self->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        || zmq_send(self->router, env, len, ZMQ_DONTWAIT) < 0)
        log_debug("reply dropped: %s", zmq_strerror(zmq_errno()));
}

/* Sends what a handler answered to request req from peer identity: its
 * events first, in order, then the one reply (the result's body, or its
 * error code and message). Counts and logs the request. */
static void
s_complete(server_t *self, zmq_msg_t *identity, bool delimiter, const proto_request_t *req,
           const handler_result_t *res)
{
    for (size_t i = 0; i < res->nevents; i++)
        s_publish(self, res->events[i].type, res->events[i].session, res->events[i].body);
    size_t len;
    char *out = res->code == PROTO_OK
                    ? proto_reply_encode_ok(req->id, req->type, res->body, &len)
                    : proto_reply_encode_error(req->id, req->type, res->code, res->message, &len);
    s_reply(self, identity, delimiter, out, len);
    free(out);
    self->requests++;
    if (res->code != PROTO_OK) {
        self->errors++;
        /* a client sending garbage costs one line per interval, not one per request */
        char key[48] = "request from ";
        size_t idn = SHOP_MIN(zmq_msg_size(identity), (size_t) 8);
        for (size_t i = 0; i < idn; i++)
            snprintf(key + 13 + 2 * i, 3, "%02x", ((const unsigned char *) zmq_msg_data(identity))[i]);
        unsigned long held = 0;
        bool allow = ratelimit_allow(self->rl, key, shop_now_ns(), &held);
        if (allow && held)
            log_info("request %s \"%s\": %s: %s (%lu more errors from this connection since "
                     "the last line)", req->id[0] ? req->id : "(no id)",
                     req->type[0] ? req->type : "?", proto_err_name(res->code), res->message,
                     held);
        else if (allow)
            log_info("request %s \"%s\": %s: %s", req->id[0] ? req->id : "(no id)",
                     req->type[0] ? req->type : "?", proto_err_name(res->code), res->message);
    } else {
        log_debug("request %s \"%s\": ok", req->id, req->type);
    }
}

/* Hands job to the workers; the request (moved from *req on success) is
 * answered by s_job_done. Returns 0, or -1 when the queue is full (the job
 * is freed, *req stays the caller's). */
static int
s_defer(server_t *self, zmq_msg_t *identity, bool delimiter, proto_request_t *req,
        recog_job_t *job, bool camera, const handler_env_t *env)
{
    s_pending_t *p = xcalloc(1, sizeof *p);
    p->server = self;
    shop_strlcpy(p->user, env->user ? env->user : "", sizeof p->user);
    p->operator = env->operator;
    p->reply = true;
    zmq_msg_init(&p->identity);
    zmq_msg_copy(&p->identity, identity);
    p->delimiter = delimiter;
    p->camera = camera;
    p->req = *req;
    job->owner = p;
    if (pool_submit(self->pool, recog_work, s_job_done, job) != 0) {
        zmq_msg_close(&p->identity);
        free(p);
        recog_job_free(job);
        return -1;
    }
    memset(req, 0, sizeof *req);
    return 0;
}

/* pool_done_fn, on this thread: the flow finishes the answer of a job a
 * worker has done (session, store, recommendations, events); it is sent
 * like any handler's, events first, then the reply with the request's id
 * (a trigger's picture has no requester: only its events). */
static void
s_job_done(void *arg, bool ran)
{
    recog_job_t *job = arg;
    s_pending_t *p = job->owner;
    server_t *self = p->server;
    handler_result_t res;
    handler_result_init(&res);
    if (!ran) {
        handler_fail(&res, PROTO_E_NOT_AVAILABLE, "shopd is stopping");
    } else {
        handler_env_t env = s_env(self);
        env.user = p->user;
        env.operator = p->operator;
        proto_request_t req = p->req;
        /* a camera's answers belong to the camera's session */
        if (p->camera)
            shop_strlcpy(req.session, self->cfg.camera_session, sizeof req.session);
        handlers_finish(&env, &req, job, &res);
        if (res.code == PROTO_E_STORE && storelink_check(self->link, shop_now_ns())) {
            /* the server was lost under this answer: again, on the offline copy */
            handler_result_clear(&res);
            env = s_env(self);
            env.user = p->user;
            env.operator = p->operator;
            handlers_finish(&env, &req, job, &res);
        }
        storelink_touch_session(self->link, req.session);
        if (p->camera && res.code == PROTO_OK && self->camera)
            camera_set_last(self->camera, json_object_get(res.body, "product"), p->by_trigger);
    }
    if (p->reply) {
        s_complete(self, &p->identity, p->delimiter, &p->req, &res);
        zmq_msg_close(&p->identity);
    } else if (res.code == PROTO_OK) {
        for (size_t i = 0; i < res.nevents; i++)
            s_publish(self, res.events[i].type, res.events[i].session, res.events[i].body);
        log_debug("camera picture: %s", json_string_value(json_object_get(
                                              json_object_get(res.body, "product"), "label")));
    } else {
        log_info("camera picture: %s: %s", proto_err_name(res.code), res.message);
    }
    handler_result_clear(&res);
    proto_request_clear(&p->req);
    free(p);
    recog_job_free(job);
}

/* Decodes one request made of n frames (f[0] the peer identity; total the
 * count that arrived, more than n when some were dropped), routes it
 * through the dispatch table and sends what the handler answered. */
static void
s_dispatch(server_t *self, zmq_msg_t *f, int n, int total, const char *user)
{
    proto_request_t req = { 0 };
    handler_result_t res;
    handler_result_init(&res);
    int first = 1;
    bool delimiter = n > 1 && zmq_msg_size(&f[1]) == 0;
    if (delimiter)
        first = 2;
    if (first >= n) {
        handler_fail(&res, PROTO_E_MALFORMED, "no envelope frame");
        goto reply;
    }
    proto_err_t code = proto_request_decode(zmq_msg_data(&f[first]), zmq_msg_size(&f[first]),
                                            &req, res.message, sizeof res.message);
    if (code != PROTO_OK) {
        res.code = code;
        goto reply;
    }
    /* no session named: the connection's own, never one shared with others */
    if (!req.session[0])
        privacy_anon_session(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), req.session);
    if (strchr(req.session, '/')) {
        handler_fail(&res, PROTO_E_MALFORMED, "\"session\" must not contain '/'");
        goto reply;
    }
    bool op = s_is_operator(self, user);
    /* the microphone's and the camera's sessions belong to those devices: no
     * key claims them, so every allowed frontend can follow and use them */
    bool device = !strcmp(req.session, self->cfg.mic_session)
                  || !strcmp(req.session, self->cfg.camera_session);
    const handler_route_t *route = handlers_find(req.type);
    if (!route) {
        handler_fail(&res, PROTO_E_UNKNOWN_TYPE, "unknown request type \"%s\"", req.type);
        goto reply;
    }
    size_t nbin = (size_t) (total - first - 1);
    if (nbin != route->frames) {
        handler_fail(&res, PROTO_E_FRAMES, "\"%s\" takes %zu binary frame%s, got %zu", req.type,
                     route->frames, route->frames == 1 ? "" : "s", nbin);
        goto reply;
    }
    handler_frame_t bins[S_MAX_FRAMES];
    for (size_t i = 0; i < nbin; i++) {
        bins[i].data = zmq_msg_data(&f[first + 1 + (int) i]);
        bins[i].size = zmq_msg_size(&f[first + 1 + (int) i]);
    }
    handler_env_t env;
    /* a second time only when a shared store was lost under the first: on
     * the offline copy */
    for (int attempt = 0; attempt < 2; attempt++) {
        handler_result_clear(&res);
        env = s_env(self);
        env.user = user;
        env.operator = op;
        int own = user[0] && !op && !device ? session_claim(env.store, req.session, user) : 1;
        if (own < 0)
            handler_fail(&res, PROTO_E_STORE, "reading the session: %s", store_errmsg(env.store));
        else if (own == 0)
            handler_fail(&res, PROTO_E_INVALID, "session \"%s\" belongs to another client",
                         req.session);
        else
            route->fn(&env, &req, bins, nbin, &res);
        if (res.code != PROTO_E_STORE || !storelink_check(self->link, shop_now_ns()))
            break;
    }
    storelink_touch_session(self->link, req.session);
    if (res.code == PROTO_OK && res.job) {
        recog_job_t *job = res.job;
        res.job = NULL;
        if (s_defer(self, &f[0], delimiter, &req, job, res.job_camera, &env) == 0) {
            handler_result_clear(&res);
            return; /* answered by s_job_done once a worker has done the job */
        }
        handler_fail(&res, PROTO_E_NOT_AVAILABLE, "all %d workers are busy and %zu requests "
                     "wait: try again later", env.workers.threads, env.workers.queued);
    }
reply:
    s_complete(self, &f[0], delimiter, &req, &res);
    handler_result_clear(&res);
    proto_request_clear(&req);
}

/* Reads and answers the requests waiting on the ROUTER, S_DRAIN_BATCH at
 * most: clients that never stop sending must not keep the loop from the
 * workers' finished jobs (poll returns at once while more wait). */
static int
s_drain(server_t *self)
{
    for (int batch = 0; batch < S_DRAIN_BATCH; batch++) {
        zmq_msg_t f[S_MAX_FRAMES];
        int n = 0, total = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, self->router, total == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                int e = zmq_errno();
                zmq_msg_close(&m);
                for (int i = 0; i < n; i++)
                    zmq_msg_close(&f[i]);
                return e == EAGAIN || e == EINTR ? 0 : -1;
            }
            more = zmq_msg_more(&m);
            total++;
            if (n < S_MAX_FRAMES)
                f[n++] = m;
            else
                zmq_msg_close(&m);
        }
        /* the connection it came from: its byte budget starts again, and its
         * key is checked against the allow-list in force (revocation) */
        zmq_msg_t *last = &f[n - 1];
        int fd = zmq_msg_get(last, ZMQ_SRCFD);
        const char *uid = zmq_msg_gets(last, "User-Id");
        char user[KEYS_Z85_LEN + 1];
        shop_strlcpy(user, uid ? uid : "", sizeof user);
        netguard_message_read(fd);
        netguard_set_user(fd, user);
        if (self->zap && user[0] && !zap_is_allowed(self->zap, user)) {
            netguard_drop(fd);
            unsigned long held = 0;
            if (ratelimit_allow(self->rl, user, shop_now_ns(), &held))
                log_notice("curve: dropped a request of the revoked key %s and its "
                           "connection%s", user, held ? " (again since the last line)" : "");
        } else if (total > S_MAX_FRAMES) {
            /* answer with an error naming the type when the envelope is readable */
            proto_request_t req = { 0 };
            char err[256];
            int first = n > 1 && zmq_msg_size(&f[1]) == 0 ? 2 : 1;
            if (first < n)
                proto_request_decode(zmq_msg_data(&f[first]), zmq_msg_size(&f[first]), &req, err,
                                     sizeof err);
            snprintf(err, sizeof err, "%d frames: a request has at most %d", total - 1,
                     S_MAX_FRAMES - 1);
            size_t len;
            char *out = proto_reply_encode_error(req.id, req.type, PROTO_E_FRAMES, err, &len);
            s_reply(self, &f[0], first == 2, out, len);
            free(out);
            proto_request_clear(&req);
            self->requests++;
            self->errors++;
        } else {
            s_dispatch(self, f, n, total, user);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
    return 0;
}

/* Answers every command the microphone heard, as a request on its session:
 * the events are published; the body goes nowhere else (nobody asked). */
static void
s_drain_mic(server_t *self)
{
    listener_utterance_t u;
    while (mic_recv(self->mic, &u) == 1) {
        handler_env_t env = s_env(self);
        handler_result_t res;
        handler_result_init(&res);
        flow_heard(&env, mic_session(self->mic), &u, &res);
        if (res.code == PROTO_E_STORE && storelink_check(self->link, shop_now_ns())) {
            handler_result_clear(&res);
            env = s_env(self);
            flow_heard(&env, mic_session(self->mic), &u, &res);
        }
        storelink_touch_session(self->link, mic_session(self->mic));
        if (res.code == PROTO_OK)
            for (size_t i = 0; i < res.nevents; i++)
                s_publish(self, res.events[i].type, res.events[i].session, res.events[i].body);
        else
            log_warn("microphone: %s: %s", proto_err_name(res.code), res.message);
        handler_result_clear(&res);
    }
}

static void
s_status_heartbeat(server_t *self)
{
    handler_env_t env = s_env(self);
    json_t *body = handlers_status_json(&env);
    json_t *so = storelink_status_json(self->link);
    store_counts_t c;
    if (storelink_up(self->link) && store_counts(storelink_store(self->link), &c) == 0)
        json_object_update_new(so, json_pack("{s:I, s:I, s:I}", "items", (json_int_t) c.items,
                                             "events", (json_int_t) c.events, "cart_sessions",
                                             (json_int_t) c.cart_sessions));
    json_object_set_new(body, "store", so);
    s_publish(self, "status", NULL, body);
    json_decref(body);
}

/* How often idle sessions are looked for: half the idle time, at most a minute. */
static uint64_t
s_sweep_period_ns(const conf_t *cfg)
{
    uint64_t half_ms = (uint64_t) cfg->session_idle_s * 500u;
    return SHOP_MIN(half_ms ? half_ms : 1, (uint64_t) 60000) * 1000000u;
}

/* Erases the sessions idle for session_idle seconds (context and cart). */
static void
s_sweep_sessions(server_t *self)
{
    int64_t ns = 0, nc = 0;
    store_t *st = storelink_store(self->link);
    if (store_readonly(st))
        return;
    if (store_expire_sessions(st, (int64_t) time(NULL) - self->cfg.session_idle_s, &ns,
                              &nc) != 0)
        log_warn("sessions: erasing idle sessions: %s", store_errmsg(st));
    else if (ns || nc)
        log_info("sessions: erased %lld idle session(s) and %lld cart line(s) (idle over %d s)",
                 (long long) ns, (long long) nc, self->cfg.session_idle_s);
}

int
server_poll(server_t *self, int fd, int timeout_ms, bool *fd_ready)
{
    *fd_ready = false;
    uint64_t now = shop_now_ns();
    if (self->cfg.status_interval_s > 0) {
        if (now >= self->next_status_ns) {
            s_status_heartbeat(self);
            self->next_status_ns = now + (uint64_t) self->cfg.status_interval_s * 1000000000u;
        }
        long until = (long) ((self->next_status_ns - now) / 1000000u) + 1;
        if (timeout_ms < 0 || until < timeout_ms)
            timeout_ms = (int) until;
    }
    if (self->cfg.session_idle_s > 0) {
        if (now >= self->next_sweep_ns) {
            s_sweep_sessions(self);
            self->next_sweep_ns = now + s_sweep_period_ns(&self->cfg);
        }
        long until = (long) ((self->next_sweep_ns - now) / 1000000u) + 1;
        if (timeout_ms < 0 || until < timeout_ms)
            timeout_ms = (int) until;
    }
    int link_ms = storelink_timeout_ms(self->link, now);
    if (link_ms >= 0 && (timeout_ms < 0 || link_ms < timeout_ms))
        timeout_ms = link_ms;
    zmq_pollitem_t items[7];
    int n = 0, izap = -1, ifd = -1, ipub = -1, imic = -1, ipool, inotify = -1;
    items[n++] = (zmq_pollitem_t) { .socket = self->router, .events = ZMQ_POLLIN };
    ipool = n;
    items[n++] = (zmq_pollitem_t) { .fd = pool_fd(self->pool), .events = ZMQ_POLLIN };
    if (self->events) {
        ipub = n;
        items[n++] = (zmq_pollitem_t) { .socket = self->pub, .events = ZMQ_POLLIN };
    }
    if (self->zap) {
        izap = n;
        items[n++] = (zmq_pollitem_t) { .socket = zap_socket(self->zap), .events = ZMQ_POLLIN };
    }
    if (fd >= 0) {
        ifd = n;
        items[n++] = (zmq_pollitem_t) { .fd = fd, .events = ZMQ_POLLIN };
    }
    if (self->mic) {
        imic = n;
        items[n++] = (zmq_pollitem_t) { .socket = mic_socket(self->mic), .events = ZMQ_POLLIN };
    }
    /* another device's event reaches this one as a notification on this socket */
    int nfd = storelink_poll_fd(self->link);
    if (nfd >= 0) {
        inotify = n;
        items[n++] = (zmq_pollitem_t) { .fd = nfd, .events = ZMQ_POLLIN };
    }
    if (zmq_poll(items, n, timeout_ms) < 0) {
        if (zmq_errno() == EINTR)
            return 0;
        log_err("poll: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    /* ZAP first: a handshake in progress is waiting for it */
    if (izap >= 0 && (items[izap].revents & ZMQ_POLLIN) && zap_handle(self->zap) < 0) {
        log_err("zap: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (ipub >= 0 && (items[ipub].revents & ZMQ_POLLIN)
        && events_handle(self->events, s_may_see, self) < 0) {
        log_err("events: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    (void) inotify; /* the tick below reads the notifications whether or not it woke us */
    /* notifications first: a query answered this turn sees the events they name */
    if (storelink_tick(self->link, shop_now_ns())) {
        if (self->rec_due) {
            /* a shopd started offline: the server answers at last */
            self->rec_due = false;
            self->rec = recommender_new(self->ctx, &self->cfg);
        }
        recommender_sync(self->rec);
    }
    if (items[ipool].revents & ZMQ_POLLIN)
        pool_collect(self->pool);
    if ((items[0].revents & ZMQ_POLLIN) && s_drain(self) != 0) {
        log_err("receive: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (imic >= 0 && (items[imic].revents & ZMQ_POLLIN))
        s_drain_mic(self);
    if (ifd >= 0 && (items[ifd].revents & ZMQ_POLLIN))
        *fd_ready = true;
    return 0;
}

/* The [microphone] settings of a and b differ. */
static bool
s_mic_changed(const conf_t *a, const conf_t *b)
{
    return strcmp(a->mic_device, b->mic_device) != 0 || a->mic_require_wake != b->mic_require_wake
           || strcmp(a->mic_wake_word, b->mic_wake_word) != 0
           || strcmp(a->mic_session, b->mic_session) != 0 || a->mic_gap_ms != b->mic_gap_ms
           || a->mic_wake_timeout_ms != b->mic_wake_timeout_ms
           || a->mic_max_command_ms != b->mic_max_command_ms
           || a->mic_wake_min != b->mic_wake_min;
}

/* Copies the running [microphone] settings into next: they need a restart. */
static void
s_mic_keep(conf_t *next, const conf_t *running)
{
    memcpy(next->mic_device, running->mic_device, sizeof next->mic_device);
    next->mic_require_wake = running->mic_require_wake;
    memcpy(next->mic_wake_word, running->mic_wake_word, sizeof next->mic_wake_word);
    memcpy(next->mic_session, running->mic_session, sizeof next->mic_session);
    next->mic_gap_ms = running->mic_gap_ms;
    next->mic_wake_timeout_ms = running->mic_wake_timeout_ms;
    next->mic_max_command_ms = running->mic_max_command_ms;
    next->mic_wake_min = running->mic_wake_min;
}

int
server_reload(server_t *self, const conf_t *cfg, char *err, size_t errlen)
{
    if (conf_check(cfg, err, errlen) != 0)
        return -1;
    if (strcmp(cfg->endpoint, self->cfg.endpoint) != 0
        || strcmp(cfg->events_endpoint, self->cfg.events_endpoint) != 0
        || strcmp(cfg->secret_key_file, self->cfg.secret_key_file) != 0
        || cfg->max_message_bytes != self->cfg.max_message_bytes
        || cfg->handshake_ms != self->cfg.handshake_ms
        || cfg->heartbeat_ivl_ms != self->cfg.heartbeat_ivl_ms
        || cfg->heartbeat_timeout_ms != self->cfg.heartbeat_timeout_ms
        || strcmp(cfg->rec_endpoint, self->cfg.rec_endpoint) != 0
        || cfg->rec_timeout_ms != self->cfg.rec_timeout_ms || s_mic_changed(cfg, &self->cfg)
        || strcmp(cfg->web_listen, self->cfg.web_listen) != 0
        || strcmp(cfg->web_token, self->cfg.web_token) != 0)
        log_warn("reload: endpoints, the server key, socket options, [microphone], the "
                 "recommendation service's endpoint and timeout, and the kiosk page's [web] "
                 "settings change only on restart");
    if (cfg->workers != self->cfg.workers || cfg->decode_timeout_ms != self->cfg.decode_timeout_ms
        || strcmp(cfg->camera_device, self->cfg.camera_device) != 0
        || cfg->camera_width != self->cfg.camera_width
        || cfg->camera_height != self->cfg.camera_height
        || strcmp(cfg->camera_trigger, self->cfg.camera_trigger) != 0
        || cfg->camera_interval_s != self->cfg.camera_interval_s
        || cfg->camera_still_frames != self->cfg.camera_still_frames
        || strcmp(cfg->camera_session, self->cfg.camera_session) != 0)
        log_warn("reload: [daemon] workers and decode_timeout and the [camera] section change "
                 "only on restart");
    /* everything that can fail is prepared first, then swapped in at once */
    char (*keys)[KEYS_Z85_LEN + 1] = NULL;
    size_t nkeys = 0;
    if (self->zap && keys_read_allowlist(cfg->allow_list, &keys, &nkeys, err, errlen) != 0)
        return -1;
    store_t *st = NULL;
    storelink_t *link = NULL;
    int link_lock = -1;
    if (strcmp(cfg->database, self->cfg.database) != 0
        || strcmp(cfg->outbox, self->cfg.outbox) != 0) {
        st = s_open_store(cfg, err, errlen);
        /* the running link keeps its outbox lock until it goes */
        if (st && strcmp(cfg->outbox, self->cfg.outbox) == 0 && self->outbox_lock >= 0) {
            snprintf(err, errlen, "a new database with the same outbox %s: change the outbox "
                     "too, or restart", cfg->outbox);
            store_close(&st);
        }
        if (st && !(link = s_open_link(st, cfg, &link_lock, err, errlen)))
            store_close(&st);
        if (!st) {
            free(keys);
            return -1;
        }
    }
    if (!st && cfg->import_demo && storelink_up(self->link))
        s_import_demo(storelink_store(self->link));
    recommender_reload(self->rec, cfg);
    if (self->zap) {
        zap_set_allowed(self->zap, (const char (*)[KEYS_Z85_LEN + 1]) keys, nkeys);
        log_info("curve: %zu client key%s allowed (%s)", nkeys, nkeys == 1 ? "" : "s",
                 cfg->allow_list);
        zap_set_log_interval(self->zap, cfg->refusal_log_interval_s * 1000);
        /* revocation is immediate: connections of keys no longer listed go now */
        int cut = netguard_cut_users(s_key_allowed, self);
        if (cut)
            log_notice("curve: cut off %d connection%s of keys no longer allowed", cut,
                       cut == 1 ? "" : "s");
    }
    if (s_load_operators(self, cfg, err, errlen) != 0)
        log_warn("reload: operator keys: %s (keeping the previous ones)", err);
    ratelimit_set_interval(self->rl, cfg->refusal_log_interval_s * 1000);
    if (self->events)
        events_set_log_interval(self->events, cfg->refusal_log_interval_s * 1000);
    free(keys);
    if (st) {
        storelink_destroy(&self->link);
        lock_release(&self->outbox_lock);
        store_close(&self->store);
        self->store = st;
        self->link = link;
        self->outbox_lock = link_lock;
        log_info("reload: database now %s", store_path(st));
        if (recommender_builtin(self->rec))
            log_warn("reload: the recommendation engine keeps reading the previous database "
                     "until restart");
    }
    /* after the store swap: the visual index follows the current catalogue */
    if (models_reload(self->models, cfg, storelink_store(self->link)) != 0)
        log_warn("reload: a model failed to load; the previous one stays (see above)");
    /* keep what only a restart can change */
    conf_t next = *cfg;
    memcpy(next.endpoint, self->cfg.endpoint, sizeof next.endpoint);
    memcpy(next.events_endpoint, self->cfg.events_endpoint, sizeof next.events_endpoint);
    memcpy(next.secret_key_file, self->cfg.secret_key_file, sizeof next.secret_key_file);
    next.max_message_bytes = self->cfg.max_message_bytes;
    next.handshake_ms = self->cfg.handshake_ms;
    next.heartbeat_ivl_ms = self->cfg.heartbeat_ivl_ms;
    next.heartbeat_timeout_ms = self->cfg.heartbeat_timeout_ms;
    memcpy(next.rec_endpoint, self->cfg.rec_endpoint, sizeof next.rec_endpoint);
    next.rec_workers = self->cfg.rec_workers;
    next.rec_timeout_ms = self->cfg.rec_timeout_ms;
    memcpy(next.web_listen, self->cfg.web_listen, sizeof next.web_listen);
    memcpy(next.web_token, self->cfg.web_token, sizeof next.web_token);
    s_mic_keep(&next, &self->cfg);
    next.workers = self->cfg.workers;
    next.decode_timeout_ms = self->cfg.decode_timeout_ms;
    memcpy(next.camera_device, self->cfg.camera_device, sizeof next.camera_device);
    next.camera_width = self->cfg.camera_width;
    next.camera_height = self->cfg.camera_height;
    memcpy(next.camera_trigger, self->cfg.camera_trigger, sizeof next.camera_trigger);
    next.camera_interval_s = self->cfg.camera_interval_s;
    next.camera_still_frames = self->cfg.camera_still_frames;
    memcpy(next.camera_session, self->cfg.camera_session, sizeof next.camera_session);
    if (next.max_photo_bytes > next.max_message_bytes)
        next.max_photo_bytes = next.max_message_bytes;
    if (next.max_audio_bytes > next.max_message_bytes)
        next.max_audio_bytes = next.max_message_bytes;
    self->cfg = next;
    self->reloads++;
    log_set_level(cfg->log_level);
    return 0;
}
