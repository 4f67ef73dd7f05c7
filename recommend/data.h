/* recommend/data.h: an interaction log in memory, with interned ids.
 *
 * The models train on this, the evaluation splits it by time, and the query
 * engine keeps customers' histories in the same form. Items and users are
 * dense indices 0..n-1 into string dictionaries; events are appended in any
 * order and rec_data_index() sorts them by (user, time, item) and builds the
 * per-user ranges. Fields of rec_data_t are read-only outside data.c.
 */
#ifndef SHOP_RECOMMEND_DATA_H
#define SHOP_RECOMMEND_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recommend/store.h"

/* --- string interning --------------------------------------------------- */

typedef struct _rec_dict_t rec_dict_t;

rec_dict_t *rec_dict_new(void);
void rec_dict_destroy(rec_dict_t **d_p);
/* Index of s, adding a copy when new. */
int rec_dict_add(rec_dict_t *d, const char *s);
/* Index of s, or -1. */
int rec_dict_find(const rec_dict_t *d, const char *s);
/* The string of index i (owned by d), or NULL when out of range. */
const char *rec_dict_str(const rec_dict_t *d, int i);
int rec_dict_size(const rec_dict_t *d);

/* --- the log ------------------------------------------------------------ */

typedef struct {
    int32_t user;
    int32_t item;
    int64_t time;      /* Unix seconds */
    float qty;
    uint8_t type;      /* store_event_type_t */
} rec_event_t;

typedef struct {
    char *name;        /* owned */
    int32_t category;  /* index into categories */
    float price;
    bool in_stock;
    bool known;        /* described by a catalogue row (not only seen in events) */
} rec_item_t;

typedef struct {
    rec_dict_t *users;
    rec_dict_t *items;
    rec_dict_t *categories;
    rec_item_t *item;          /* rec_dict_size(items) entries */
    size_t item_cap;
    rec_event_t *ev;
    size_t n_ev, ev_cap;
    size_t *user_start;        /* after rec_data_index: events of u are
                                  ev[user_start[u] .. user_start[u+1]) */
    bool indexed;
} rec_data_t;

rec_data_t *rec_data_new(void);
void rec_data_destroy(rec_data_t **d_p);

/* Adds or updates an item's description; returns its index. */
int rec_data_set_item(rec_data_t *d, const char *id, const char *name, const char *category,
                      float price, bool in_stock);
/* Returns the index of item id, adding a bare entry (category "", price 0) if new. */
int rec_data_item(rec_data_t *d, const char *id);

/* Appends an event (un-indexes the log). */
void rec_data_add_event(rec_data_t *d, const char *user, const char *item, int64_t time,
                        float qty, store_event_type_t type);
void rec_data_add_event_idx(rec_data_t *d, int user, int item, int64_t time, float qty,
                            store_event_type_t type);

/* Sorts events by (user, time, item) and builds user_start. */
void rec_data_index(rec_data_t *d);

/* Loads the catalogue and every event of a store. Returns a new log (caller
 * destroys), or NULL with a message in err. */
rec_data_t *rec_data_from_store(store_t *s, char *err, size_t errlen);

/* Writes the log into a store (catalogue rows for described items, then the
 * events) in one transaction. Returns 0 / -1 (message in err). */
int rec_data_to_store(const rec_data_t *d, store_t *s, const char *source, char *err,
                      size_t errlen);

/* "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" (also with 'T'), or Unix seconds,
 * read as UTC. Returns 0 and *t, or -1. */
int rec_parse_time(const char *s, int64_t *t);

#endif
