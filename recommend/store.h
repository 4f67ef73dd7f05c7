/* recommend/store.h: shopd's SQLite database (catalogue, customers,
 * interactions, carts).
 *
 * One file on disk, given by the caller, created on first open. Opened in
 * WAL mode (readers never block the writer), synchronous=FULL (an event is
 * acknowledged only once it is on disk), a 5 s busy timeout.
 * The schema version lives in PRAGMA user_version; store_open applies every
 * missing migration in one transaction and refuses a file written by a newer
 * shopd. The schema and the CSV formats are documented in docs/store.md.
 *
 * Threads: a store_t is ONE SQLite connection and is not thread-safe. Each
 * thread that needs the database opens its own store_t on the same path (WAL
 * lets several connections read while one writes; a writer waits up to the
 * busy timeout for another). Prepared statements are cached per connection.
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

/* Current schema version (PRAGMA user_version after store_open). */
#define STORE_SCHEMA_VERSION 1

/* Sizes of the fixed string fields below, terminating NUL included. */
#define STORE_ID_MAX       64
#define STORE_NAME_MAX     160
#define STORE_CATEGORY_MAX 48
#define STORE_PHOTO_MAX    256
#define STORE_ATTR_MAX     1024
#define STORE_SOURCE_MAX   32

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

/* Opens (creating and migrating when needed) the database at path.
 * Returns the store, or NULL with *err set to a message the caller frees
 * (err may be NULL).
 *
 * Read-only media: when the file, or the directory that must hold its -wal
 * and -shm files, cannot be written (a disk remounted read-only, a
 * read-only bind mount), the store is opened read-only instead of failing
 * (SQLite mode=ro; immutable=1 when no -shm can be used, which does not see
 * changes left in a -wal file: a warning says so). store_readonly() is then
 * true, a warning is logged (once per process), reads work as usual, and
 * every write (events, carts, catalogue, customers, store_begin) returns -1
 * with store_errmsg() "database is read-only". store_meta_set keeps its
 * values in memory for the life of this store_t (sessions go on; nothing
 * is written). A read-only file with an older schema is refused. */
store_t *store_open(const char *path, char **err);

/* Whether s was opened read-only (see store_open). */
bool store_readonly(const store_t *s);

/* Closes the connection (finalising cached statements) and NULLs *s_p.
 * Safe on NULL and twice. */
void store_close(store_t **s_p);

/* The message of the last failure on s (never NULL; "" after success). */
const char *store_errmsg(const store_t *s);

/* The path the store was opened with (owned by s). */
const char *store_path(const store_t *s);

/* Bulk writes: between store_begin and store_commit, writes are one
 * transaction (an import of 500,000 events takes seconds instead of hours of
 * fsyncs). store_add_event inside such a transaction is durable only once
 * store_commit returns 0. store_rollback discards. Not nestable. */
int store_begin(store_t *s);
int store_commit(store_t *s);
int store_rollback(store_t *s);

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
 * committed (synchronous=FULL). Checks: ids non-empty, quantity >= 1, type
 * valid. The item need not be in the catalogue (logs may mention retired
 * items). Returns 0 / -1. */
int store_add_event(store_t *s, const store_event_t *ev);

/* Calls fn for every event with id > after_id in id order, stopping early
 * (and returning 1) when fn returns non-zero. Used to load or refresh the
 * recommender. Returns 0 when all were visited, 1 when stopped, -1 on error. */
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
 * or in those sessions. SQLite's secure_delete is on for it, so the deleted
 * cells and freed pages are overwritten with zeros, and a TRUNCATE
 * checkpoint then empties the -wal (best effort: a reader holding the WAL
 * open leaves it to the next checkpoint, logged). Refused on a read-only
 * store and inside store_begin. Returns 0 with *out filled (all zero when
 * nothing named the customer), or -1 (nothing changed). */
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

/* Self-test: exercises every function on a temporary file. 0 on success. */
int store_test(bool verbose);

#endif
