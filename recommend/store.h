/* recommend/store.h: shopd's database (catalogue, customers, interactions,
 * carts), on one of two backends behind the same API:
 *
 * - SQLite (the default): one file on disk, given by the caller, created on
 *   first open. WAL mode (readers never block the writer), synchronous=FULL
 *   (an event is acknowledged only once it is on disk), a 5 s busy timeout.
 *   One device per file.
 * - PostgreSQL: a server named by a libpq URI (postgresql://... or
 *   postgres://...), shared by many devices and workers. Every committed
 *   transaction that added events notifies the channel shop_events with its
 *   largest event id; event ids commit in id order; a lost server makes
 *   calls fail fast with store_unavailable() true until store_reconnect().
 *
 * The schema is the same on both, versioned (SQLite: PRAGMA user_version;
 * PostgreSQL: the table schema_version); store_open applies every missing
 * migration in one transaction (on PostgreSQL under an advisory lock, so
 * devices starting together migrate once) and refuses a database written by
 * a newer shopd. The schema, the CSV formats and the backends are
 * documented in docs/store.md; the SQL is in store.c, over the driver of
 * recommend/db.h.
 *
 * Threads: a store_t is ONE connection and is not thread-safe. Each thread
 * that needs the database opens its own store_t on the same location.
 * Prepared statements are cached per connection.
 *
 * Errors: actions return 0 on success and -1 on failure; store_errmsg(s)
 * then says why (valid until the next call on s). Lookups that may find
 * nothing return 1 for "not found". Strings longer than the STORE_*_MAX
 * limits below are refused with -1, never truncated silently.
 *
 * Times are Unix seconds (UTC). Item and customer ids are free text (the
 * UCI log uses "85123A" and "17850"; the demo store "sneaker-03", "c0042").
 *
 * Importers (generic CSV, UCI Online Retail, the demo store) live in
 * recommend/import.h and write through this API.
 */
#ifndef SHOP_RECOMMEND_STORE_H
#define SHOP_RECOMMEND_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Current schema version (after store_open: SQLite's PRAGMA user_version,
 * PostgreSQL's schema_version table). */
#define STORE_SCHEMA_VERSION 2

/* Sizes of the fixed string fields below, terminating NUL included. */
#define STORE_ID_MAX       64
#define STORE_NAME_MAX     160
#define STORE_CATEGORY_MAX 48
#define STORE_PHOTO_MAX    256
#define STORE_ATTR_MAX     1024
#define STORE_SOURCE_MAX   32
#define STORE_UID_MAX      96

typedef struct _store_t store_t;

/* A catalogue item (in/out). attributes is a JSON object as text ("{}" when
 * empty); photo is a path relative to the data directory, or "". */
typedef struct {
    char id[STORE_ID_MAX];
    char name[STORE_NAME_MAX];
    char category[STORE_CATEGORY_MAX];
    double price;                       /* >= 0, in the store's currency */
    char attributes[STORE_ATTR_MAX];
    char photo[STORE_PHOTO_MAX];
    bool in_stock;
} store_item_t;

/* The item as the protocol sends it (docs/protocol.md): {"id", "name",
 * "category", "price", "attributes": {...}, "photo", "in_stock"}; attributes
 * that are not a JSON object become {}. Returns a new reference. */
json_t *store_item_json(const store_item_t *it);

typedef enum {
    STORE_EVENT_VIEW = 0,
    STORE_EVENT_CART = 1,
    STORE_EVENT_PURCHASE = 2,
} store_event_type_t;

/* One interaction (in/out). */
typedef struct {
    int64_t id;                         /* row id; ignored by store_add_event */
    char customer[STORE_ID_MAX];
    char item[STORE_ID_MAX];
    int64_t time;                       /* Unix seconds */
    store_event_type_t type;
    int quantity;                       /* >= 1 */
    char source[STORE_SOURCE_MAX];      /* e.g. "kiosk-1", "import", "" */
    /* A unique id made where the event happened (e.g. the device's name and
     * 32 random hex digits): 1..95 characters of A-Z a-z 0-9 . _ : -, or ""
     * for none (stored as NULL: such an event cannot be told from a replay,
     * so it is never deduplicated). Storing a uid that is stored already
     * changes nothing (see store_add_event_id). */
    char uid[STORE_UID_MAX];
} store_event_t;

/* One line of a cart (out). */
typedef struct {
    char item[STORE_ID_MAX];
    int quantity;
    int64_t updated;                    /* Unix seconds of the last change */
} store_cart_line_t;

/* Row counts for status displays (out). */
typedef struct {
    int64_t items;
    int64_t in_stock;
    int64_t customers;
    int64_t events;
    int64_t purchases;
    int64_t cart_sessions;
} store_counts_t;

/* Opens (creating and migrating when needed) the database at where: a
 * SQLite file path, or a PostgreSQL libpq URI (postgresql://... or
 * postgres://..., checked strictly: see store_check_location). Returns the
 * store, or NULL with *err set to a message the caller frees (err may be
 * NULL). A message never holds a password.
 *
 * PostgreSQL: the connection uses connect_timeout=5 and statement_timeout
 * 15 s unless the URI sets connect_timeout or options itself; no call waits
 * longer than the statement timeout plus 5 s for an answer.
 *
 * Read-only media (SQLite): when the file, or the directory that must hold
 * its -wal and -shm files, cannot be written (a disk remounted read-only, a
 * read-only bind mount), the store is opened read-only instead of failing
 * (SQLite mode=ro; immutable=1 when no -shm can be used, which does not see
 * changes left in a -wal file: a warning says so). store_readonly() is then
 * true, a warning is logged (once per process), reads work as usual, and
 * every write (events, carts, catalogue, customers, store_begin) returns -1
 * with store_errmsg() "database is read-only". store_meta_set keeps its
 * values in memory for the life of this store_t (sessions go on; nothing
 * is written). A read-only file with an older schema is refused.
 * PostgreSQL: a standby, or a session whose transactions are read-only, is
 * opened read-only the same way, except that store_meta_set fails too. */
store_t *store_open(const char *where, char **err);

/* Whether s was opened read-only (see store_open). */
bool store_readonly(const store_t *s);

/* Closes the connection (finalising cached statements) and NULLs *s_p.
 * Safe on NULL and twice. */
void store_close(store_t **s_p);

/* The message of the last failure on s (never NULL; "" after success). */
const char *store_errmsg(const store_t *s);

/* The location the store was opened with, any password removed (owned by s). */
const char *store_path(const store_t *s);

/* "sqlite" or "postgresql". */
const char *store_backend(const store_t *s);

/* Whether where names a PostgreSQL server (a libpq URI) rather than a
 * SQLite file: files get a lock, a directory and sidecar files; servers
 * are shared by design. */
bool store_is_server(const char *where);

/* Checks a database location without opening it: non-empty, not a
 * misspelt URI ("postgresql:/h/d" is not taken for a file name); a URI is
 * parsed strictly (scheme, at most 1023 bytes, no spaces or control bytes,
 * libpq's own parser: unknown parameters, bad escapes; ports 1..65535).
 * Returns 0, or -1 with a message in err that never repeats a password. */
int store_check_location(const char *where, char *err, size_t errlen);

/* Copies where into buf with any password removed (for logs and status). */
void store_location_redact(const char *where, char *buf, size_t buflen);

/* Bulk writes: between store_begin and store_commit, writes are one
 * transaction (an import of 500,000 events takes seconds instead of hours of
 * fsyncs). store_add_event inside such a transaction is durable only once
 * store_commit returns 0. store_rollback discards. Not nestable. */
int store_begin(store_t *s);
int store_commit(store_t *s);
int store_rollback(store_t *s);

/* store_begin for a bulk import that must happen once per database: the
 * transaction holds the import lock until it ends (PostgreSQL: a
 * transaction-level advisory lock; SQLite has one writer anyway), so a
 * connection that begins one while another connection's import runs waits
 * for that import to commit or roll back, and then sees its rows. A wait is
 * cut at the statement timeout and begun again, up to 8 times. Returns 0 or
 * -1 with a message. */
int store_begin_import(store_t *s);

/* --- catalogue ---------------------------------------------------------- */

/* Inserts or replaces the item with it->id. Checks: non-empty id, name and
 * category, price >= 0 and finite, attributes valid JSON. Returns 0 / -1. */
int store_item_upsert(store_t *s, const store_item_t *it);

/* Copies item id into *out. Returns 0 when found, 1 when absent, -1 on error. */
int store_item_get(store_t *s, const char *id, store_item_t *out);

/* Lists items ordered by id, optionally only one category (NULL or "" for
 * all), skipping offset and returning at most limit (limit <= 0: no limit).
 * *items is a new array the caller frees (NULL when *n == 0).
 * Returns 0 / -1. */
int store_item_list(store_t *s, const char *category, int64_t offset, int64_t limit,
                    store_item_t **items, size_t *n);

/* Sets the in_stock flag. Returns 0, 1 when the item is absent, -1 on error. */
int store_item_set_stock(store_t *s, const char *id, bool in_stock);

/* Distinct categories, sorted: *cats is a new array of new strings; free
 * with store_strings_free. Returns 0 / -1. */
int store_categories(store_t *s, char ***cats, size_t *n);
void store_strings_free(char **strs, size_t n);

/* --- customers ---------------------------------------------------------- */

/* Creates the customer or updates its name (name may be NULL: keep). Events
 * create their customer implicitly. Returns 0 / -1. */
int store_customer_upsert(store_t *s, const char *id, const char *name);

/* Returns 0 when the customer exists, 1 when not, -1 on error. */
int store_customer_exists(store_t *s, const char *id);

/* --- interactions ------------------------------------------------------- */

/* Appends an event (creating its customer row if new). Outside a
 * store_begin/commit block, returns 0 only once the event is durably
 * committed (SQLite synchronous=FULL; the server's COMMIT). Checks: ids
 * non-empty, quantity >= 1, type valid, uid well formed. The item need not
 * be in the catalogue (logs may mention retired items). An event whose uid
 * is stored already is not stored again (0 all the same). Returns 0 / -1. */
int store_add_event(store_t *s, const store_event_t *ev);

/* As store_add_event, telling the two outcomes apart: returns 0 when the
 * event was inserted (*id = its new id), 1 when an event with ev->uid was
 * stored already and nothing changed (*id = that event's id), -1 on error.
 * id may be NULL.
 * PostgreSQL: inserts take a transaction-level advisory lock first, so
 * transactions adding events commit one after the other and ids become
 * visible in id order (store_event_foreach(after_id) never misses an id
 * committed late); a bulk store_begin block holds it until its commit. */
int store_add_event_id(store_t *s, const store_event_t *ev, int64_t *id);

/* Calls fn for every event with id > after_id in id order, stopping early
 * (and returning 1) when fn returns non-zero. Used to load or refresh the
 * recommender. Reads 4096 events per query, each batch before fn sees it
 * (fn may call the store). Returns 0 when all were visited, 1 when
 * stopped, -1 on error. */
typedef int (*store_event_fn)(const store_event_t *ev, void *ud);
int store_event_foreach(store_t *s, int64_t after_id, store_event_fn fn, void *ud);

/* The newest events of one customer, newest first, at most limit (> 0):
 * *evs is a new array the caller frees. Returns 0 / -1. */
int store_customer_events(store_t *s, const char *customer, int64_t limit,
                          store_event_t **evs, size_t *n);

/* Largest event id (0 when none): a cheap "has anything changed" check. */
int store_last_event_id(store_t *s, int64_t *id);

/* --- carts (keyed by session / frontend id) ----------------------------- */

/* The cart of session, ordered by item: *lines is a new array the caller
 * frees (NULL when empty). Returns 0 / -1. */
int store_cart_get(store_t *s, const char *session, store_cart_line_t **lines, size_t *n);

/* Sets item's quantity in the cart (0 removes the line). customer may be
 * NULL (anonymous session). Returns 0 / -1. */
int store_cart_set(store_t *s, const char *session, const char *customer,
                   const char *item, int quantity);

/* Adds delta (may be negative; the line goes when it reaches <= 0) and
 * writes the new quantity to *new_qty (may be NULL). Returns 0 / -1. */
int store_cart_add(store_t *s, const char *session, const char *customer,
                   const char *item, int delta, int *new_qty);

/* Removes one line. Returns 0, 1 when the line was absent, -1 on error. */
int store_cart_remove(store_t *s, const char *session, const char *item);

/* Empties the cart. Returns 0 / -1. */
int store_cart_clear(store_t *s, const char *session);

/* The customer attached to the session's cart (into buf), or "" when none.
 * Returns 0 / -1. */
int store_cart_customer(store_t *s, const char *session, char *buf, size_t buflen);

/* Buys the cart: one purchase event per line for customer at time now,
 * source = session, then empties the cart, all in one durable transaction.
 * *n_lines (may be NULL) gets the number of lines bought. Returns 0 / -1
 * (an empty cart is not an error: 0 with *n_lines = 0). */
int store_cart_checkout(store_t *s, const char *session, const char *customer,
                        int64_t now, int *n_lines);

/* --- erasure ------------------------------------------------------------- */

/* What store_forget_customer removed (out). */
typedef struct {
    int64_t events;       /* interaction rows of the customer */
    int64_t cart_lines;   /* lines of carts attached to the customer or in its sessions */
    int64_t sessions;     /* session contexts (meta "session:<id>") naming the customer */
    int64_t customers;    /* the customer row: 0 or 1 */
} store_forget_t;

/* Erases every row that names customer, in ONE transaction (a crash half-way
 * leaves everything as it was): its interactions, its customer row, the
 * session contexts whose customer it is, and the cart lines attached to it
 * or in those sessions. SQLite: secure_delete is on for it, so the deleted
 * cells and freed pages are overwritten with zeros, and a TRUNCATE
 * checkpoint then empties the -wal (best effort: a reader holding the WAL
 * open leaves it to the next checkpoint, logged). PostgreSQL: the rows are
 * deleted in one transaction; their space is reclaimed by VACUUM, and the
 * server's WAL, backups and replicas keep them as the server's operator
 * keeps those (see docs/store.md). Refused on a read-only store and inside
 * store_begin. Returns 0 with *out filled (all zero when nothing named the
 * customer), or -1 (nothing changed). */
int store_forget_customer(store_t *s, const char *customer, store_forget_t *out);

/* Erases the sessions idle since before (Unix seconds): a session's last
 * activity is the later of its context's "touched" time and its cart's
 * newest line; contexts without a "touched" time count as idle. Both the
 * contexts and the cart lines of idle sessions go, in one transaction.
 * *sessions and *cart_lines (may be NULL) get the counts. Returns 0 / -1. */
int store_expire_sessions(store_t *s, int64_t before, int64_t *sessions, int64_t *cart_lines);

/* --- status and small settings ------------------------------------------ */

int store_counts(store_t *s, store_counts_t *out);

/* A small key/value table for the daemon's own bookkeeping (e.g. "demo
 * imported"). store_meta_get copies into buf; returns 0, 1 when absent, -1. */
int store_meta_set(store_t *s, const char *key, const char *value);
int store_meta_get(store_t *s, const char *key, char *buf, size_t buflen);

/* The event type named "view", "cart" or "purchase"; -1 for another name. */
int store_event_type_from_name(const char *name);

/* --- servers: notifications and outages (PostgreSQL) ---------------------- */

/* Subscribes this connection to the events other connections add (LISTEN
 * shop_events; again after a reconnect). SQLite: a no-op (one device per
 * file). Returns 0 / -1. */
int store_listen(store_t *s);

/* The socket to poll (POLLIN) for notifications: -1 on SQLite or while the
 * server is unavailable. It changes after store_reconnect. */
int store_notify_fd(const store_t *s);

/* Consumes the notifications that arrived (without blocking). Returns how
 * many (0 when none), with *max_id (may be NULL) the largest event id they
 * name (0 when none); -1 on error (the server is unavailable then). */
int store_notifications(store_t *s, int64_t *max_id);

/* Whether the server was lost: a call failed because it could not be
 * reached, or answered nothing in time. Calls then fail at once (-1) until
 * store_reconnect succeeds. SQLite: always false. */
bool store_unavailable(const store_t *s);

/* Connects again, once (waits at most the connect timeout), LISTENing again
 * if store_listen was called. A transaction open when the server was lost
 * is gone: the caller redoes it (an event replayed with its uid is stored
 * once). Returns 0 (connected; also when it was not lost) or -1. SQLite: 0. */
int store_reconnect(store_t *s);

/* Self-test: exercises every function on a temporary SQLite file. 0 on success. */
int store_test(bool verbose);

/* The same exercise on where: a SQLite path that does not exist yet, or the
 * URI of an empty PostgreSQL database. 0 on success. */
int store_test_at(const char *where, bool verbose);

#endif
