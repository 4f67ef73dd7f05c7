/* recommend/outbox.h: a device's durable queue of events bound for a shared
 * store it cannot reach.
 *
 * A shopd on a PostgreSQL store accepts events while the server is away:
 * each goes into this outbox, a SQLite file of the device's own (WAL,
 * synchronous=FULL: outbox_put returns 0 only once the event is on disk),
 * and is forwarded when the server is back. Every event carries a uid made
 * by the device (outbox_make_uid); the store inserts a uid once
 * (ON CONFLICT (uid) DO NOTHING), so an event sent twice (the server
 * committed, the device crashed before deleting it here) is stored once.
 * The forwarder reads the oldest events (outbox_peek), inserts them, and
 * deletes them here (outbox_remove) only after the server committed.
 *
 * The file may be shared with other tables (shopd keeps its offline copy
 * of the catalogue, sessions and carts in the same file): the outbox uses
 * one table of its own, "outbox", created on first open.
 *
 * Threads: an outbox_t is one SQLite connection, used by one thread.
 * Errors: actions return 0 / -1 with outbox_errmsg(). */
#ifndef SHOP_RECOMMEND_OUTBOX_H
#define SHOP_RECOMMEND_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recommend/store.h"

/* Size of a uid, NUL included (the store's): 32 hex digits made by
 * outbox_make_uid, or up to STORE_UID_MAX-1 bytes of [A-Za-z0-9._:-] given
 * by a caller. */
#define OUTBOX_UID_MAX STORE_UID_MAX

typedef struct _outbox_t outbox_t;

/* One queued event (out). */
typedef struct {
    int64_t seq;                        /* position in the outbox, increasing */
    store_event_t ev;                   /* with its uid; ev.id is 0 */
} outbox_entry_t;

/* Opens (creating it and its table when needed) the outbox in the SQLite
 * file at path. Returns it, or NULL with *err (the caller frees; err may be
 * NULL). */
outbox_t *outbox_open(const char *path, char **err);

/* Closes it and NULLs *ob_p. Safe on NULL and twice. */
void outbox_close(outbox_t **ob_p);

/* The message of the last failure ("" after success). */
const char *outbox_errmsg(const outbox_t *ob);

/* The path it was opened with. */
const char *outbox_path(const outbox_t *ob);

/* Appends n events (each with its uid: valid and not already queued) in one
 * durable transaction: all or none. *seq (may be NULL) gets the seq of the
 * last one. Returns 0 / -1. */
int outbox_put(outbox_t *ob, const store_event_t *evs, size_t n, int64_t *seq);

/* The number of events queued (kept in memory, no query). */
int64_t outbox_depth(const outbox_t *ob);

/* The oldest events, at most max, in seq order: *out is a new array the
 * caller frees (NULL when *n == 0). Returns 0 / -1. */
int outbox_peek(outbox_t *ob, size_t max, outbox_entry_t **out, size_t *n);

/* Deletes the events with seq <= upto (after the store committed them),
 * durably. Returns 0 / -1. */
int outbox_remove(outbox_t *ob, int64_t upto);

/* The sessions a device used while the server was away (their offline
 * carts are merged into the server when it is back), kept here so that a
 * restart forgets none. add: idempotent; list: *ids is a new array of new
 * strings (free with store_strings_free); remove: after the merge.
 * Each returns 0 / -1. */
int outbox_session_add(outbox_t *ob, const char *session);
int outbox_session_list(outbox_t *ob, char ***ids, size_t *n);
int outbox_session_remove(outbox_t *ob, const char *session);

/* Whether uid is a valid uid (1..OUTBOX_UID_MAX-1 bytes of [A-Za-z0-9._:-]). */
bool outbox_uid_valid(const char *uid);

/* Writes a new uid into buf (at least 33 bytes): 32 hex digits of a random
 * 128-bit value from the kernel (getrandom). Returns 0, or -1 when buf is
 * too small or the kernel gave no randomness. */
int outbox_make_uid(char *buf, size_t len);

/* Self-test on a temporary file: put, peek, remove, reopen, uid checks,
 * an all-or-none batch. Returns 0 on success. */
int outbox_test(bool verbose);

#endif
