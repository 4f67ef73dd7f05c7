/* recommend/import.c: CSV and UCI Online Retail importers (see import.h). */
#include "recommend/import.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "recommend/csv.h"

#define IMPORT_MAX_FILE (1u << 30)

void
import_report_reject(import_report_t *r, const char *reason, long line)
{
    r->rejected++;
    for (int i = 0; i < r->n_reasons; i++) {
        if (strcmp(r->reason[i].reason, reason) == 0) {
            r->reason[i].count++;
            return;
        }
    }
    /* the last slot collects whatever does not fit, still counted */
    int i = r->n_reasons < IMPORT_MAX_REASONS ? r->n_reasons++ : IMPORT_MAX_REASONS - 1;
    if (i == IMPORT_MAX_REASONS - 1 && r->reason[i].count)
        shop_strlcpy(r->reason[i].reason, "other reasons", sizeof r->reason[i].reason);
    else
        shop_strlcpy(r->reason[i].reason, reason, sizeof r->reason[i].reason);
    r->reason[i].count++;
    r->reason[i].first_line = line;
}

void
import_report_print(const import_report_t *r, const char *what, FILE *f)
{
    fprintf(f, "%s: %ld rows, %ld imported, %ld rejected\n", what, r->rows, r->imported,
            r->rejected);
    for (int i = 0; i < r->n_reasons; i++)
        fprintf(f, "  %8ld  %s (first at line %ld)\n", r->reason[i].count, r->reason[i].reason,
                r->reason[i].first_line);
}

/* Column positions by header name; -1 when absent. */
static int
s_col(char **f, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        const char *h = f[i];
        while (*h == ' ')
            h++;
        if (strcasecmp(h, name) == 0)
            return i;
    }
    return -1;
}

static const char *
s_field(char **f, int n, int col)
{
    return col >= 0 && col < n ? f[col] : "";
}

static int
s_parse_double(const char *s, double *v)
{
    if (!s || !*s)
        return -1;
    char *end = NULL;
    errno = 0;
    *v = strtod(s, &end);
    while (end && isspace((unsigned char) *end))
        end++;
    if (errno || end == s || *end || !isfinite(*v))
        return -1;
    return 0;
}

static int
s_parse_bool(const char *s, bool *v)
{
    if (!*s || strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0) {
        *v = true;
        return 0;
    }
    if (strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0) {
        *v = false;
        return 0;
    }
    return -1;
}

/* Copies src into dst when it fits; -1 when too long. */
static int
s_copy(char *dst, const char *src, size_t len)
{
    return shop_strlcpy(dst, src, len) < len ? 0 : -1;
}

/* One data row of a store import: fields f[0..n), col[] the positions of
 * the importer's columns (-1 when absent), uid the event uid for the row
 * ("" for none). Returns NULL when the row went into the store, or why it
 * was rejected. */
typedef const char *(*s_row_fn)(store_t *s, char **f, int n, const int *col, const char *uid);

enum { S_MAX_COLS = 8 };

/* A CSV format for the store: its columns by header name (the first
 * n_required must be present) and what imports one row. */
typedef struct {
    const char *what;                  /* for messages: "catalogue CSV" */
    const char *cols[S_MAX_COLS + 1];  /* NULL-terminated */
    int n_required;
    s_row_fn row;
    const char *uid_prefix;            /* rows get uid PREFIX<line>; NULL: none */
} s_format_t;

/* Imports a CSV of format fmt into s: the header must name the required
 * columns; every later row is imported or counted in rep by reason. In one
 * transaction of its own when own_tx, else in the caller's. Returns 0, or
 * -1 (no header, missing column, store failure) with a message in err. */
static int
s_import_csv_tx(store_t *s, const s_format_t *fmt, const char *buf, size_t len,
                import_report_t *rep, bool own_tx, char *err, size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    csv_t *c = csv_new(buf, len);
    char **f;
    int n, rc, col[S_MAX_COLS];
    if (csv_next(c, &f, &n) != CSV_ROW) {
        snprintf(err, errlen, "%s: no header row", fmt->what);
        csv_destroy(&c);
        return -1;
    }
    for (int i = 0; fmt->cols[i]; i++) {
        col[i] = s_col(f, n, fmt->cols[i]);
        if (col[i] < 0 && i < fmt->n_required) {
            size_t at = (size_t) snprintf(err, errlen, "%s: the header needs", fmt->what);
            for (int j = 0; j < fmt->n_required && at < errlen; j++)
                at += (size_t) snprintf(err + at, errlen - at, "%s %s",
                                        j == 0 ? "" : j + 1 < fmt->n_required ? "," : " and",
                                        fmt->cols[j]);
            csv_destroy(&c);
            return -1;
        }
    }
    if (own_tx && store_begin(s) != 0) {
        snprintf(err, errlen, "%s", store_errmsg(s));
        csv_destroy(&c);
        return -1;
    }
    while ((rc = csv_next(c, &f, &n)) != CSV_EOF) {
        rep->rows++;
        char uid[STORE_UID_MAX] = "";
        if (fmt->uid_prefix)
            snprintf(uid, sizeof uid, "%s%ld", fmt->uid_prefix, (long) csv_line(c));
        const char *why = rc == CSV_BAD ? csv_error(c) : fmt->row(s, f, n, col, uid);
        if (why)
            import_report_reject(rep, why, (long) csv_line(c));
        else
            rep->imported++;
    }
    csv_destroy(&c);
    if (own_tx && store_commit(s) != 0) {
        snprintf(err, errlen, "%s", store_errmsg(s));
        return -1;
    }
    return 0;
}

/* s_import_csv_tx in a transaction of its own. */
static int
s_import_csv(store_t *s, const s_format_t *fmt, const char *buf, size_t len,
             import_report_t *rep, char *err, size_t errlen)
{
    return s_import_csv_tx(s, fmt, buf, len, rep, true, err, errlen);
}

enum { C_ID, C_NAME, C_CAT, C_PRICE, C_STOCK, C_PHOTO, C_ATTR };

static const char *
s_catalogue_row(store_t *s, char **f, int n, const int *col, const char *uid)
{
    store_item_t it = { .in_stock = true };
    double price;
    if (!s_field(f, n, col[C_ID])[0])
        return "empty id";
    if (s_copy(it.id, s_field(f, n, col[C_ID]), sizeof it.id)
        || s_copy(it.name, s_field(f, n, col[C_NAME]), sizeof it.name)
        || s_copy(it.category, s_field(f, n, col[C_CAT]), sizeof it.category)
        || s_copy(it.photo, s_field(f, n, col[C_PHOTO]), sizeof it.photo)
        || s_copy(it.attributes, s_field(f, n, col[C_ATTR]), sizeof it.attributes))
        return "field too long";
    if (!it.name[0] || !it.category[0])
        return "empty name or category";
    if (s_parse_double(s_field(f, n, col[C_PRICE]), &price) || price < 0)
        return "bad price";
    if (s_parse_bool(s_field(f, n, col[C_STOCK]), &it.in_stock))
        return "bad in_stock (1/0/true/false)";
    it.price = price;
    if (store_item_upsert(s, &it) == 0)
        return NULL;
    return strstr(store_errmsg(s), "JSON") ? "attributes not valid JSON" : "refused by the store";
}

static const s_format_t s_catalogue_fmt = {
    "catalogue CSV", { "id", "name", "category", "price", "in_stock", "photo", "attributes" },
    4, s_catalogue_row, NULL
};

int
import_catalogue_csv(store_t *s, const char *buf, size_t len, import_report_t *rep,
                     char *err, size_t errlen)
{
    return s_import_csv(s, &s_catalogue_fmt, buf, len, rep, err, errlen);
}

enum { C_CUST, C_ITEM, C_TIME, C_TYPE, C_QTY, C_SRC };

static const char *
s_event_row(store_t *s, char **f, int n, const int *col, const char *uid)
{
    store_event_t ev = { .type = STORE_EVENT_PURCHASE, .quantity = 1 };
    shop_strlcpy(ev.uid, uid, sizeof ev.uid);
    const char *type = s_field(f, n, col[C_TYPE]), *qty = s_field(f, n, col[C_QTY]);
    double q = 1;
    int t = -1;
    if (!s_field(f, n, col[C_CUST])[0] || !s_field(f, n, col[C_ITEM])[0])
        return "empty customer or item";
    if (s_copy(ev.customer, s_field(f, n, col[C_CUST]), sizeof ev.customer)
        || s_copy(ev.item, s_field(f, n, col[C_ITEM]), sizeof ev.item)
        || s_copy(ev.source, s_field(f, n, col[C_SRC]), sizeof ev.source))
        return "field too long";
    if (rec_parse_time(s_field(f, n, col[C_TIME]), &ev.time))
        return "bad time";
    if (type[0] && (t = store_event_type_from_name(type)) < 0)
        return "bad type (view/cart/purchase)";
    if (qty[0] && (s_parse_double(qty, &q) || q < 1 || q > 1e6 || q != floor(q)))
        return "bad quantity (an integer >= 1)";
    if (t >= 0)
        ev.type = (store_event_type_t) t;
    ev.quantity = (int) q;
    return store_add_event(s, &ev) == 0 ? NULL : "refused by the store";
}

#define S_EVENT_COLS { "customer", "item", "time", "type", "quantity", "source" }

/* The demo store's events carry uids demo:<line>: an event of it is stored
 * once however it reaches the server. */
static const s_format_t s_demo_events_fmt = {
    "interactions CSV", S_EVENT_COLS, 3, s_event_row, "demo:"
};

int
import_events_csv(store_t *s, const char *buf, size_t len, import_report_t *rep, char *err,
                  size_t errlen)
{
    static const s_format_t fmt = { "interactions CSV", S_EVENT_COLS, 3, s_event_row, NULL };
    return s_import_csv(s, &fmt, buf, len, rep, err, errlen);
}

typedef int (*s_import_fn)(store_t *, const char *, size_t, import_report_t *, char *, size_t);

static int
s_import_file(store_t *s, const char *path, s_import_fn fn, import_report_t *rep, char *err,
              size_t errlen)
{
    size_t len = 0;
    uint8_t *buf = shop_read_file(path, IMPORT_MAX_FILE, &len, err, errlen);
    if (!buf)
        return -1;
    int rc = fn(s, (const char *) buf, len, rep, err, errlen);
    free(buf);
    return rc;
}

int
import_catalogue_file(store_t *s, const char *path, import_report_t *rep, char *err,
                      size_t errlen)
{
    return s_import_file(s, path, import_catalogue_csv, rep, err, errlen);
}

int
import_events_file(store_t *s, const char *path, import_report_t *rep, char *err, size_t errlen)
{
    return s_import_file(s, path, import_events_csv, rep, err, errlen);
}

/* The last word of a description, lower case, as a coarse category. */
static void
s_uci_category(const char *desc, char *out, size_t len)
{
    const char *end = desc + strlen(desc);
    while (end > desc && !isalpha((unsigned char) end[-1]))
        end--;
    const char *start = end;
    while (start > desc && isalpha((unsigned char) start[-1]))
        start--;
    size_t n = (size_t) (end - start);
    if (n == 0) {
        shop_strlcpy(out, "other", len);
        return;
    }
    if (n >= len)
        n = len - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char) tolower((unsigned char) start[i]);
    out[n] = '\0';
}

int
import_uci_csv(rec_data_t *d, const char *buf, size_t len, import_report_t *rep, char *err,
               size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    csv_t *c = csv_new(buf, len);
    char **f;
    int n, rc;
    if (csv_next(c, &f, &n) != CSV_ROW || n < 8 || s_col(f, n, "InvoiceNo") != 0
        || s_col(f, n, "StockCode") != 1 || s_col(f, n, "CustomerID") != 6) {
        snprintf(err, errlen, "not a UCI Online Retail CSV (header InvoiceNo,StockCode,"
                              "Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country)");
        csv_destroy(&c);
        return -1;
    }
    while ((rc = csv_next(c, &f, &n)) != CSV_EOF) {
        rep->rows++;
        long line = (long) csv_line(c);
        if (rc == CSV_BAD) {
            import_report_reject(rep, csv_error(c), line);
            continue;
        }
        if (n != 8) {
            import_report_reject(rep, "not 8 fields", line);
            continue;
        }
        const char *inv = f[0], *code = f[1], *desc = f[2], *cust = f[6];
        double qty, price, custnum;
        int64_t t;
        if (!cust[0]) {
            import_report_reject(rep, "protocol: no CustomerID", line);
        } else if (inv[0] == 'C' || inv[0] == 'c') {
            import_report_reject(rep, "protocol: cancelled invoice (C...)", line);
        } else if (s_parse_double(f[3], &qty)) {
            import_report_reject(rep, "bad Quantity", line);
        } else if (qty <= 0) {
            import_report_reject(rep, "protocol: Quantity <= 0", line);
        } else if (s_parse_double(f[5], &price)) {
            import_report_reject(rep, "bad UnitPrice", line);
        } else if (price <= 0) {
            import_report_reject(rep, "protocol: UnitPrice <= 0", line);
        } else if (strlen(code) < 5 || !isdigit((unsigned char) code[0])
                   || !isdigit((unsigned char) code[1]) || !isdigit((unsigned char) code[2])
                   || !isdigit((unsigned char) code[3]) || !isdigit((unsigned char) code[4])) {
            import_report_reject(rep, "protocol: StockCode not starting with 5 digits", line);
        } else if (strlen(code) >= STORE_ID_MAX || strlen(desc) >= STORE_NAME_MAX) {
            import_report_reject(rep, "field too long", line);
        } else if (rec_parse_time(f[4], &t)) {
            import_report_reject(rep, "bad InvoiceDate", line);
        } else if (s_parse_double(cust, &custnum) || custnum < 0 || custnum > 1e9) {
            import_report_reject(rep, "bad CustomerID", line);
        } else {
            /* "17850.0" -> "17850" */
            char user[32];
            snprintf(user, sizeof user, "%.0f", custnum);
            int i = rec_dict_find(d->items, code);
            if (i < 0 || !d->item[i].known || (desc[0] && strcmp(d->item[i].name, desc) != 0)) {
                char cat[STORE_CATEGORY_MAX];
                s_uci_category(desc[0] ? desc : code, cat, sizeof cat);
                rec_data_set_item(d, code, desc[0] ? desc : code, cat, (float) price, true);
            } else {
                d->item[i].price = (float) price;
            }
            rec_data_add_event(d, user, code, t, (float) qty, STORE_EVENT_PURCHASE);
            rep->imported++;
        }
    }
    csv_destroy(&c);
    rec_data_index(d);
    return 0;
}

int
import_uci_file(rec_data_t *d, const char *path, import_report_t *rep, char *err, size_t errlen)
{
    size_t len = 0;
    uint8_t *buf = shop_read_file(path, IMPORT_MAX_FILE, &len, err, errlen);
    if (!buf)
        return -1;
    int rc = import_uci_csv(d, (const char *) buf, len, rep, err, errlen);
    free(buf);
    return rc;
}

int
import_demo_store(store_t *s, const char *dir, import_report_t *catalogue,
                  import_report_t *events, char *err, size_t errlen)
{
    memset(catalogue, 0, sizeof *catalogue);
    memset(events, 0, sizeof *events);
    char path[1024];
    size_t clen = 0, elen = 0;
    snprintf(path, sizeof path, "%s/catalogue.csv", dir);
    uint8_t *cbuf = shop_read_file(path, IMPORT_MAX_FILE, &clen, err, errlen), *ebuf = NULL;
    snprintf(path, sizeof path, "%s/events.csv", dir);
    if (cbuf)
        ebuf = shop_read_file(path, IMPORT_MAX_FILE, &elen, err, errlen);
    if (!ebuf) {
        free(cbuf);
        return -1;
    }
    /* one transaction under the import lock: a device that starts while
     * another imports waits for its commit, then finds the whole store (a
     * catalogue seen without its events would be taken for imported) */
    store_counts_t n;
    int rc = -1;
    if (store_begin_import(s) != 0 || store_counts(s, &n) != 0) {
        snprintf(err, errlen, "%s", store_errmsg(s));
    } else if (n.items > 0) {
        rc = 1;
    } else if (s_import_csv_tx(s, &s_catalogue_fmt, (const char *) cbuf, clen, catalogue, false,
                               err, errlen) == 0
               && s_import_csv_tx(s, &s_demo_events_fmt, (const char *) ebuf, elen, events,
                                  false, err, errlen) == 0) {
        if (store_commit(s) == 0)
            rc = 0;
        else
            snprintf(err, errlen, "%s", store_errmsg(s));
    }
    if (rc != 0)
        store_rollback(s);  /* fails harmlessly when no transaction is open */
    free(cbuf);
    free(ebuf);
    return rc;
}

int
import_test(void)
{
    char dir[] = "/tmp/shop-import-test-XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/t.db", dir);
    int ok = 0, want = 0;
    store_t *s = store_open(path, NULL);
    if (!s)
        goto out;
    static const char cat[] = "id,name,category,price,in_stock,photo,attributes\n"
                              "a1,Alpha,bag,10,1,,{}\n"
                              "a2,Beta,bag,-3,1,,\n"                /* bad price */
                              "a3,Gamma,,4,1,,\n"                   /* empty category */
                              "a4,\"Delta, the \"\"best\"\"\",coat,7.5,0,p.png,\"{\"\"c\"\":1}\"\n"
                              "a5,Eps,coat,x,1,,\n"                 /* bad price */
                              "a6,Zeta,coat,1,1,,{oops\n";          /* bad JSON */
    import_report_t r;
    want++, ok += import_catalogue_csv(s, cat, sizeof cat - 1, &r, err, sizeof err) == 0
                  && r.rows == 6 && r.imported == 2 && r.rejected == 4 && r.n_reasons == 3
                  && r.reason[0].count == 2 && r.reason[0].first_line == 3;
    store_item_t it;
    want++, ok += store_item_get(s, "a4", &it) == 0 && strcmp(it.name, "Delta, the \"best\"") == 0
                  && !it.in_stock && strcmp(it.photo, "p.png") == 0;
    static const char ev[] = "customer,item,time,type,quantity\n"
                             "c1,a1,2011-01-02 10:00:00,purchase,2\n"
                             "c1,a4,1300000000,view,\n"
                             "c2,a1,yesterday,purchase,1\n"          /* bad time */
                             "c2,a1,2011-01-02,steal,1\n"           /* bad type */
                             "c2,a1,2011-01-02,purchase,0\n"        /* bad quantity */
                             ",a1,2011-01-02,purchase,1\n";          /* empty customer */
    want++, ok += import_events_csv(s, ev, sizeof ev - 1, &r, err, sizeof err) == 0
                  && r.rows == 6 && r.imported == 2 && r.rejected == 4 && r.n_reasons == 4;
    static const char uci[] =
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,UK\n"
        "536366,71053,WHITE METAL LANTERN,6,2010-12-01 08:28:00,3.39,,UK\n"
        "C536379,71053,WHITE METAL LANTERN,-1,2010-12-01 09:41:00,3.39,17850.0,UK\n"
        "536367,POST,POSTAGE,1,2010-12-01 08:34:00,18,12583.0,France\n"
        "536368,22960,JAM MAKING SET,0,2010-12-01 08:34:00,4.25,13047.0,UK\n"
        "536369,22961,\"JAM, SET\",2,2010-12-01 08:35:00,0,13047.0,UK\n"
        "536370,22962,TIN,2,not a date,1,13047.0,UK\n"
        "536371,22963,TIN,2\n";
    rec_data_t *d = rec_data_new();
    want++, ok += import_uci_csv(d, uci, sizeof uci - 1, &r, err, sizeof err) == 0 && r.rows == 8
                  && r.imported == 1 && r.rejected == 7 && d->n_ev == 1
                  && strcmp(rec_dict_str(d->users, 0), "17850") == 0
                  && strcmp(rec_dict_str(d->categories, d->item[0].category), "holder") == 0;
    rec_data_destroy(&d);
    store_close(&s);
out:
    snprintf(path, sizeof path, "%s/t.db", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/t.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/t.db-shm", dir);
    unlink(path);
    rmdir(dir);
    return ok == want && want == 4 ? 0 : -1;
}
