/* recommend/import.h: importers for the catalogue and interaction logs.
 *
 * Formats (documented in docs/store.md):
 * - generic catalogue CSV, header required, columns by name in any order:
 *   id,name,category,price[,in_stock][,photo][,attributes]
 * - generic interactions CSV: customer,item,time[,type][,quantity][,source]
 *   (time: "YYYY-MM-DD HH:MM:SS" UTC or Unix seconds; type view|cart|purchase,
 *   default purchase; quantity default 1)
 * - UCI Online Retail (InvoiceNo,StockCode,Description,Quantity,InvoiceDate,
 *   UnitPrice,CustomerID,Country), filtered by the evaluation protocol
 *   (recommend/eval.h): a CustomerID, an invoice not starting with "C", Quantity > 0,
 *   UnitPrice > 0, a StockCode starting with five digits.
 *
 * No row is dropped silently: every row is imported, or counted under a
 * reason (malformed CSV, missing field, bad number, filtered by protocol...)
 * with the line of its first occurrence.
 */
#ifndef SHOP_RECOMMEND_IMPORT_H
#define SHOP_RECOMMEND_IMPORT_H

#include <stddef.h>
#include <stdio.h>

#include "recommend/data.h"
#include "recommend/store.h"

#define IMPORT_MAX_REASONS 24

typedef struct {
    long rows;            /* data rows read (header excluded) */
    long imported;        /* rows that became an item or event */
    long rejected;        /* rows that did not, sum of the counts below */
    int n_reasons;
    struct {
        char reason[96];
        long count;
        long first_line;  /* line of the first row with this reason */
    } reason[IMPORT_MAX_REASONS];
} import_report_t;

/* Counts one rejected row under reason (a short constant phrase). */
void import_report_reject(import_report_t *r, const char *reason, long line);
/* Prints "what: N rows, M imported, K rejected" and one line per reason. */
void import_report_print(const import_report_t *r, const char *what, FILE *f);

/* Generic catalogue CSV from memory into the store (one transaction).
 * Returns 0 (bad rows are counted in *rep, not failures) or -1 when the
 * input has no usable header or the store fails (message in err). */
int import_catalogue_csv(store_t *s, const char *buf, size_t len, import_report_t *rep,
                         char *err, size_t errlen);
/* Generic interactions CSV from memory into the store. Same contract. */
int import_events_csv(store_t *s, const char *buf, size_t len, import_report_t *rep,
                      char *err, size_t errlen);
/* The same from files (at most 1 GiB). */
int import_catalogue_file(store_t *s, const char *path, import_report_t *rep, char *err,
                          size_t errlen);
int import_events_file(store_t *s, const char *path, import_report_t *rep, char *err,
                       size_t errlen);

/* UCI Online Retail from memory into a log: items get name = Description,
 * category = its last word in lower case ("holder", "bag"), price = the
 * last UnitPrice; events are purchases at InvoiceDate. Returns 0 / -1. */
int import_uci_csv(rec_data_t *d, const char *buf, size_t len, import_report_t *rep,
                   char *err, size_t errlen);
int import_uci_file(rec_data_t *d, const char *path, import_report_t *rep, char *err,
                    size_t errlen);

/* The demo store shipped in dir (catalogue.csv and events.csv, as made by
 * `shop-train demo`) into s when its catalogue is empty, in one transaction
 * begun with store_begin_import: devices starting together on one empty
 * database import it once, and none sees the catalogue without the events.
 * Its events carry the uids demo:<line>. Returns 0 (imported), 1 (the
 * catalogue held items: nothing imported, reports zero) or -1 with err. */
int import_demo_store(store_t *s, const char *dir, import_report_t *catalogue,
                      import_report_t *events, char *err, size_t errlen);

int import_test(void);

#endif
