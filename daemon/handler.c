/* daemon/handler.c: see handler.h */
#include "config.h"

#include "daemon/handler.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

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
