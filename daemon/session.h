/* daemon/session.h: what shopd remembers about each frontend session.
 *
 * A session is named by the "session" of the request envelope (a kiosk, a
 * smart speaker). Its context (customer, category and product in view, the
 * price shown, the last query and its page, a question awaiting yes/no) is
 * kept as one JSON value per session in the store's key/value table
 * (store_meta, key "session:<id>"), so it survives a restart as the cart
 * does. A session that was never saved loads as an empty context.
 *
 * The saved value also holds when it was last saved ("touched", for the
 * idle expiry: store_expire_sessions) and, for a session first used over
 * CURVE, its owner: the client key that created it (other keys may neither
 * use it nor subscribe to its events). Neither is part of session_json. */
#ifndef SHOP_DAEMON_SESSION_H
#define SHOP_DAEMON_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ipc/keys.h"
#include "ipc/proto.h"
#include "recommend/store.h"

#define SESSION_PENDING_MAX 16

/* The last recommendation query, so "next" / "back" can page through it. */
typedef struct {
    char kind[16];                          /* "" none, or a flow query kind */
    char category[STORE_CATEGORY_MAX];
    char item[STORE_ID_MAX];
    double max_price;                       /* 0: no bound */
} session_query_t;

/* One session's context (in/out, plain struct). */
typedef struct {
    char id[PROTO_SESSION_MAX + 1];
    char customer[STORE_ID_MAX];            /* "" when unknown */
    char category[STORE_CATEGORY_MAX];      /* category in view, "" */
    char product[STORE_ID_MAX];             /* product in view, "" */
    double price;                           /* price of the product in view, 0 */
    int page;                               /* page of the last query, from 0 */
    session_query_t last;                   /* the last query */
    char pending[SESSION_PENDING_MAX];      /* question awaiting yes/no ("checkout"), "" */
    char owner[KEYS_Z85_LEN + 1];           /* CURVE key that created it, "" none */
    int64_t touched;                        /* Unix time it was last saved, 0 never */
} session_t;

/* Loads session id from store into *s (an empty context named id when it
 * was never saved or its saved value is unreadable). Returns 0, or -1 when
 * the store fails (store_errmsg says why; *s is then the empty context). */
int session_load(store_t *store, const char *id, session_t *s);

/* Saves *s durably, with touched = now. Returns 0 or -1 (store_errmsg says why). */
int session_save(store_t *store, const session_t *s);

/* Whether the client with CURVE key user ("" without CURVE) may use
 * session id: a session nobody owns, or one user owns. Returns 1 yes, 0 no,
 * -1 when the store fails. */
int session_may_use(store_t *store, const char *id, const char *user);

/* Makes session id user's when nobody owns it yet (saving its context),
 * for a client with a CURVE key. Returns 1 when user owns it now, 0 when
 * another key does, -1 when the store fails. */
int session_claim(store_t *store, const char *id, const char *user);

/* The context as a JSON object (a new reference), for replies and events. */
json_t *session_json(const session_t *s);

/* Self-test on a temporary store: save, load, overwrite, an unknown and an
 * unreadable session. Returns 0 or -1. */
int session_test(bool verbose);

#endif
