/* daemon/privacy.h: names that must not give a customer or a session away.
 *
 * - Anonymous sessions: a request without a "session" gets one of its own
 *   connection, "anon-" + 32 hex digits: a BLAKE2b hash (libsodium, keyed
 *   with 32 random bytes drawn once per process) of the connection's ROUTER
 *   routing id. Stable while the connection lasts, never shared with another
 *   connection, not guessable from the outside (libzmq's routing ids are a
 *   counter), and new after a restart.
 * - The audit line of an erasure names the customer by a keyed hash only:
 *   BLAKE2b keyed with a random 32-byte key kept in the database (meta
 *   "audit_key", created on first use). Whoever holds the database can check
 *   that a given customer was erased; the log alone does not name anyone. */
#ifndef SHOP_DAEMON_PRIVACY_H
#define SHOP_DAEMON_PRIVACY_H

#include <stddef.h>

#include "recommend/store.h"

#define PRIVACY_ANON_LEN 37   /* "anon-" + 32 hex + NUL */
#define PRIVACY_HASH_LEN 33   /* 32 hex + NUL */

/* Initialises libsodium and the process key. Returns 0 or -1 with err. */
int privacy_init(char *err, size_t errlen);

/* The anonymous session of the connection with routing id (len bytes). */
void privacy_anon_session(const void *routing_id, size_t len, char out[PRIVACY_ANON_LEN]);

/* The keyed hash of customer for audit lines, with the store's audit key
 * (created when missing). Returns 0, or -1 (store_errmsg says why). */
int privacy_audit_hash(store_t *store, const char *customer, char out[PRIVACY_HASH_LEN]);

#endif
