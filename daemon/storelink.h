/* daemon/storelink.h: a device's link to its store, and what it does when a
 * shared store (PostgreSQL) is out of reach.
 *
 * On SQLite (one device, a file) the link holds nothing: requests use the
 * store, always there. On PostgreSQL (several devices on one server) it
 * follows the server's state:
 *
 *   up    requests use the server; the link LISTENs for the events other
 *         devices commit (storelink_poll_fd, storelink_tick: the caller then
 *         refreshes its recommendation engine), and forwards the outbox.
 *   down  the server was lost (a call failed with store_unavailable). Requests
 *         use the device's offline copy (a SQLite store in the outbox file:
 *         the catalogue as last seen, and the sessions and carts used during
 *         the outage); events are accepted into the outbox (recommend/
 *         outbox.h), durably; a thread of the link tries to connect again
 *         with exponential back-off (0.1 s doubling to 5 s, +-20 % jitter)
 *         and wakes the loop (storelink_poll_fd) once it did: a try that
 *         waits for a silent server never holds up the answers.
 *         Back up: the outbox is forwarded in order, each event once
 *         (uids), the sessions used meanwhile are merged into the server
 *         (their context saved, their cart lines added to the server's
 *         cart), and the catalogue copy is refreshed.
 *
 * One log line per change of state. Used by the main thread only. */
#ifndef SHOP_DAEMON_STORELINK_H
#define SHOP_DAEMON_STORELINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "recommend/store.h"

typedef struct _storelink_t storelink_t;

/* Events forwarded from the outbox per turn of the loop, one transaction. */
#define STORELINK_BATCH 64

/* A link for store (borrowed: it must outlive the link). On PostgreSQL,
 * opens the offline copy and outbox at outbox_path (its folder must exist),
 * copies the catalogue into it, and LISTENs. Returns the link, or NULL with
 * err. */
storelink_t *storelink_new(store_t *store, const char *outbox_path, char *err, size_t errlen);
void storelink_destroy(storelink_t **self_p);

/* A link for the server at where (a libpq URI) that could not be reached
 * at start (why: the reason, for the log): it starts down, from the offline
 * copy in outbox_path, which must hold a catalogue (made at an earlier
 * connection); its thread opens the store with the usual back-off, and the
 * link then owns it (storelink_server_store). Returns NULL with err when
 * there is no offline copy to start from. */
storelink_t *storelink_new_offline(const char *where, const char *why, const char *outbox_path,
                                   char *err, size_t errlen);

/* The server's store: the one given, or the one a link started offline
 * opened (NULL until then). */
store_t *storelink_server_store(const storelink_t *self);

/* Whether the store is shared (PostgreSQL): only then is there an outbox. */
bool storelink_shared(const storelink_t *self);
/* Whether requests reach the store itself (always on SQLite). */
bool storelink_up(const storelink_t *self);

/* The store requests use now: the store when up, the offline copy when down. */
store_t *storelink_store(const storelink_t *self);

/* The descriptor to poll: up, the server's notifications; down, the
 * reconnecting thread's "connected"; -1 when none. */
int storelink_poll_fd(const storelink_t *self);

/* How long the loop may sleep before storelink_tick has work (0: the
 * outbox to forward, sessions to merge), in ms; -1 when nothing is pending
 * but what storelink_poll_fd says. */
int storelink_timeout_ms(const storelink_t *self, uint64_t now_ns);

/* One turn of the loop: when down and the thread connected, takes the
 * store back; when up, reads the notifications that arrived, forwards a
 * batch of the outbox, and merges the sessions used during an outage.
 * Returns true when the store holds events the caller has not been told of
 * (a notification arrived, or the server came back): refresh from it. */
bool storelink_tick(storelink_t *self, uint64_t now_ns);

/* After a store call failed: when the server is lost, goes down (logged)
 * and returns true: the request may run again on storelink_store(). */
bool storelink_check(storelink_t *self, uint64_t now_ns);

/* Remembers that session was used while down (merged when back up). */
void storelink_touch_session(storelink_t *self, const char *session);

/* Records ev (its uid made here when empty). Up and the outbox empty: into
 * the store, durably; *id gets its id when the store says. Down, the outbox
 * not empty yet (order), or the server lost during the call: into the
 * outbox, durably, *queued = true. Returns 0, or -1 with err when neither
 * took it. */
int storelink_add_event(storelink_t *self, store_event_t *ev, bool *queued, int64_t *id,
                        char *err, size_t errlen);

/* Buys session's cart of the store requests use now (storelink_store):
 * up, store_cart_checkout; down, its lines become purchase events in the
 * outbox (one durable transaction, uids made here) and the offline cart is
 * emptied. *n_lines gets the lines bought; when evs is not NULL and events
 * were queued, *evs gets them (a new array of *n_lines, the caller frees:
 * they are not in the store yet). Returns 0 / -1 with err. */
int storelink_checkout(storelink_t *self, const char *session, const char *customer,
                       int64_t now, int *n_lines, store_event_t **evs, char *err,
                       size_t errlen);

/* The status reply's store fields: {"backend", "connected", "outbox",
 * "state_since_s", "reconnects"}; shared also "outbox_file",
 * "outbox_refused", "offline_sessions", and while down
 * "reconnect_attempts". */
json_t *storelink_status_json(storelink_t *self);

#endif
