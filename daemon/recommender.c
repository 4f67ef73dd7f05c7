/* daemon/recommender.c: see recommender.h */
#include "config.h"

#include "daemon/recommender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "common/log.h"
#include "common/util.h"
#include "recommend/service.h"
#include "recommend/store.h"

struct _recommender_t {
    rec_engine_t *engine;           /* built in, or NULL */
    rec_client_t *client;           /* remote, or NULL */
    char endpoint[CONF_PATH_MAX];   /* remote endpoint, "" built in */
};

/* Starts loading the model want (relative: looked up as data) into e. */
static void
s_load_model(rec_engine_t *e, const char *want)
{
    char buf[CONF_PATH_MAX], err[512];
    const char *path = want[0] == '/' ? want : shop_data_path(want, buf, sizeof buf);
    if (!path) {
        log_warn("recommend: model %s not found: cold-start answers (trending) only", want);
        return;
    }
    if (rec_engine_reload(e, path, err, sizeof err) != 0)
        log_warn("recommend: %s", err);
    else
        log_info("recommend: loading %s", path);
}

recommender_t *
recommender_new(void *ctx, const conf_t *cfg)
{
    recommender_t *self = xcalloc(1, sizeof *self);
    if (cfg->rec_endpoint[0]) {
        shop_strlcpy(self->endpoint, cfg->rec_endpoint, sizeof self->endpoint);
        self->client = rec_client_new(ctx, cfg->rec_endpoint, cfg->rec_timeout_ms, 1);
        if (!self->client) {
            log_warn("recommend: cannot create a client of %s", cfg->rec_endpoint);
            goto err;
        }
        char err[512];
        if (cfg->rec_key_file[0]
            && rec_client_set_curve(self->client, cfg->rec_key_file, cfg->rec_server_key, err,
                                    sizeof err) != 0) {
            log_warn("recommend: %s", err);
            goto err;
        }
        log_info("recommend: queries go to %s%s", cfg->rec_endpoint,
                 cfg->rec_key_file[0] ? " (CURVE)" : "");
        return self;
    }
    char err[512], *serr = NULL;
    store_t *st = store_open(cfg->database, &serr);
    if (!st) {
        char where[CONF_PATH_MAX];
        store_location_redact(cfg->database, where, sizeof where);
        log_warn("recommend: cannot open %s: %s", where, serr ? serr : "?");
        free(serr);
        goto err;
    }
    bool shared = strcmp(store_backend(st), "postgresql") == 0;
    self->engine = rec_engine_new(&st, err, sizeof err);
    store_close(&st);
    if (!self->engine) {
        log_warn("recommend: engine: %s", err);
        goto err;
    }
    /* a query must not wait for a server, nor fail when it is away: the
     * store's notifications say when to read new events */
    if (shared)
        rec_engine_set_manual_sync(self->engine, true);
    s_load_model(self->engine, cfg->rec_model);
    log_info("recommend: the built-in engine answers queries");
    return self;
err:
    recommender_destroy(&self);
    return NULL;
}

int
recommender_check(const conf_t *cfg, char *err, size_t errlen)
{
    if (!cfg->rec_endpoint[0] || !cfg->rec_key_file[0])
        return 0;
    /* a throwaway client reads the keys as the real one will */
    void *ctx = zmq_ctx_new();
    rec_client_t *c = rec_client_new(ctx, cfg->rec_endpoint, cfg->rec_timeout_ms, 0);
    char why[512];
    int rc = rec_client_set_curve(c, cfg->rec_key_file, cfg->rec_server_key, why, sizeof why);
    if (rc != 0)
        snprintf(err, errlen, "[recommend] %s", why);
    rec_client_destroy(&c);
    zmq_ctx_term(ctx);
    return rc;
}

void
recommender_destroy(recommender_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    recommender_t *self = *self_p;
    rec_client_destroy(&self->client);
    rec_engine_destroy(&self->engine);
    free(self);
    *self_p = NULL;
}

int
recommender_query(recommender_t *self, const rec_query_t *q, rec_result_t *out, char *worker,
                  size_t worker_len, proto_err_t *code, char *err, size_t errlen)
{
    if (self->engine) {
        int n = rec_engine_query(self->engine, q, out, err, errlen);
        *code = n < 0 ? PROTO_E_INVALID : PROTO_OK;
        if (n >= 0 && worker && worker_len)
            shop_strlcpy(worker, RECOMMENDER_BUILTIN_NAME, worker_len);
        return n;
    }
    int n = rec_client_query(self->client, q, out, worker, worker_len, err, errlen);
    if (n >= 0) {
        *code = PROTO_OK;
        return n;
    }
    switch (rec_client_last_error(self->client)) {
    case REC_CLIENT_NO_REPLY:
        *code = PROTO_E_NOT_AVAILABLE;
        break;
    case REC_CLIENT_BAD_REPLY:
        *code = PROTO_E_INTERNAL;
        break;
    case REC_CLIENT_OK:
    case REC_CLIENT_REFUSED:
        *code = PROTO_E_INVALID;
        break;
    }
    return -1;
}

int
recommender_forget(recommender_t *self, const char *customer, bool *had, long *events,
                   char *err, size_t errlen)
{
    *had = false;
    *events = 0;
    if (self->engine) {
        *had = rec_engine_forget(self->engine, customer, events) == 1;
        return 0;
    }
    json_t *q = json_pack("{s:s, s:s}", "op", "forget", "customer", customer);
    char *text = json_dumps(q, JSON_COMPACT);
    json_decref(q);
    char *out = text ? rec_client_request(self->client, text, err, errlen) : NULL;
    free(text);
    json_t *r = out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    int rc = -1;
    if (json_is_true(json_object_get(r, "ok"))) {
        *had = json_is_true(json_object_get(r, "history"));
        *events = (long) json_integer_value(json_object_get(r, "events"));
        rc = 0;
    } else if (r) {
        snprintf(err, errlen, "the service refused: %s",
                 json_string_value(json_object_get(r, "error")) ?: "?");
    }
    json_decref(r);
    return rc;
}

void
recommender_reload(recommender_t *self, const conf_t *cfg)
{
    if (!self || !self->engine)
        return;
    char err[512];
    if (rec_engine_refresh_catalogue(self->engine, err, sizeof err) != 0)
        log_warn("reload: recommendation catalogue: %s", err);
    s_load_model(self->engine, cfg->rec_model);
}

long
recommender_sync(recommender_t *self)
{
    if (!self || !self->engine)
        return 0;
    char err[512];
    long n = 0;
    if (rec_engine_sync(self->engine, &n, err, sizeof err) != 0) {
        log_warn("recommend: following the store: %s", err);
        return -1;
    }
    return n;
}

void
recommender_add_local(recommender_t *self, const store_event_t *ev)
{
    if (!self || !self->engine)
        return;
    char err[256];
    if (rec_engine_add_local(self->engine, ev, err, sizeof err) != 0)
        log_warn("recommend: %s", err);
}

bool
recommender_builtin(const recommender_t *self)
{
    return self && self->engine;
}

json_t *
recommender_status_json(recommender_t *self)
{
    json_t *rec = json_pack("{s:b}", "available", self != NULL);
    if (self && self->engine) {
        rec_engine_stats_t st;
        rec_engine_stats(self->engine, &st);
        json_object_set_new(rec, "model", json_string(st.model));
        json_object_set_new(rec, "generation", json_integer(st.generation));
        json_object_set_new(rec, "items_in_model", json_integer(st.items_in_model));
        json_object_set_new(rec, "events", json_integer(st.events));
    } else if (self) {
        json_object_set_new(rec, "endpoint", json_string(self->endpoint));
    }
    return rec;
}
