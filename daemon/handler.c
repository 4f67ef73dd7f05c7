/* daemon/handler.c: see handler.h */
#include "config.h"

#include "daemon/handler.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/storelink.h"

void
handler_result_init(handler_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->code = PROTO_OK;
}

/* Drops the body, the events and the job, keeping code and message. */
static void
s_drop(handler_result_t *r)
{
    json_decref(r->body);
    r->body = NULL;
    for (size_t i = 0; i < r->nevents; i++)
        json_decref(r->events[i].body);
    r->nevents = 0;
    recog_job_free(r->job);
    r->job = NULL;
    r->job_camera = false;
}

void
handler_result_clear(handler_result_t *r)
{
    s_drop(r);
    handler_result_init(r);
}

proto_err_t
handler_fail(handler_result_t *r, proto_err_t code, const char *fmt, ...)
{
    assert(code != PROTO_OK);
    s_drop(r);
    r->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    return code;
}

proto_err_t
handler_reply(handler_result_t *r, json_t *body)
{
    json_decref(r->body);
    r->body = body;
    r->code = PROTO_OK;
    r->message[0] = 0;
    return PROTO_OK;
}

void
handler_event(handler_result_t *r, const char *type, const char *session, json_t *body)
{
    assert(r->nevents < HANDLER_EVENTS_MAX);
    handler_event_t *e = &r->events[r->nevents++];
    shop_strlcpy(e->type, type, sizeof e->type);
    shop_strlcpy(e->session, session ? session : "", sizeof e->session);
    e->body = json_incref(body);
}

int
handler_add_event(const handler_env_t *env, store_event_t *ev, bool *queued, int64_t *id,
                  char *err, size_t errlen)
{
    *queued = false;
    *id = 0;
    if (env->link) {
        if (storelink_add_event(env->link, ev, queued, id, err, errlen) != 0)
            return -1;
    } else if (store_add_event_id(env->store, ev, id) < 0) {
        snprintf(err, errlen, "%s", store_errmsg(env->store));
        return -1;
    }
    if (*queued && env->rec)
        recommender_add_local(env->rec, ev);
    else if (env->link && storelink_shared(env->link))
        /* the engine follows a server by its notifications: read this one
         * now, so the buyer's very next answer counts it */
        recommender_sync(env->rec);
    return 0;
}

int
handler_checkout(const handler_env_t *env, const char *session, const char *customer,
                 int64_t now, int *lines, char *err, size_t errlen)
{
    if (!env->link) {
        if (store_cart_checkout(env->store, session, customer, now, lines) == 0)
            return 0;
        snprintf(err, errlen, "%s", store_errmsg(env->store));
        return -1;
    }
    store_event_t *evs = NULL;
    if (storelink_checkout(env->link, session, customer, now, lines, &evs, err, errlen) != 0)
        return -1;
    for (int i = 0; evs && env->rec && i < *lines; i++)
        recommender_add_local(env->rec, &evs[i]);
    if (!evs && *lines > 0 && storelink_shared(env->link))
        recommender_sync(env->rec);
    free(evs);
    return 0;
}
