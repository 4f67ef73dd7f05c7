/* recommend/data.c: interned interaction log (see data.h). */
#include "recommend/data.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct _rec_dict_t {
    char **str;        /* index -> string (owned) */
    int n, cap;
    int32_t *slot;     /* open addressing: index+1, 0 = empty */
    size_t nslot;      /* power of two */
};

static uint64_t
s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211ULL;
    return h;
}

rec_dict_t *
rec_dict_new(void)
{
    rec_dict_t *d = xcalloc(1, sizeof *d);
    d->nslot = 64;
    d->slot = xcalloc(d->nslot, sizeof *d->slot);
    return d;
}

void
rec_dict_destroy(rec_dict_t **d_p)
{
    if (!d_p || !*d_p)
        return;
    rec_dict_t *d = *d_p;
    for (int i = 0; i < d->n; i++)
        free(d->str[i]);
    free(d->str);
    free(d->slot);
    free(d);
    *d_p = NULL;
}

static size_t
s_probe(const rec_dict_t *d, const char *s)
{
    size_t mask = d->nslot - 1, i = s_hash(s) & mask;
    while (d->slot[i] && strcmp(d->str[d->slot[i] - 1], s) != 0)
        i = (i + 1) & mask;
    return i;
}

int
rec_dict_find(const rec_dict_t *d, const char *s)
{
    if (!s)
        return -1;
    size_t i = s_probe(d, s);
    return d->slot[i] ? d->slot[i] - 1 : -1;
}

int
rec_dict_add(rec_dict_t *d, const char *s)
{
    size_t i = s_probe(d, s);
    if (d->slot[i])
        return d->slot[i] - 1;
    if ((size_t) (d->n + 1) * 2 > d->nslot) {
        free(d->slot);
        d->nslot *= 2;
        d->slot = xcalloc(d->nslot, sizeof *d->slot);
        for (int k = 0; k < d->n; k++)
            d->slot[s_probe(d, d->str[k])] = k + 1;
        i = s_probe(d, s);
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->str = xrealloc(d->str, (size_t) d->cap * sizeof *d->str);
    }
    d->str[d->n] = xstrdup(s);
    d->slot[i] = d->n + 1;
    return d->n++;
}

const char *
rec_dict_str(const rec_dict_t *d, int i)
{
    return i >= 0 && i < d->n ? d->str[i] : NULL;
}

int
rec_dict_size(const rec_dict_t *d)
{
    return d->n;
}

rec_data_t *
rec_data_new(void)
{
    rec_data_t *d = xcalloc(1, sizeof *d);
    d->users = rec_dict_new();
    d->items = rec_dict_new();
    d->categories = rec_dict_new();
    rec_dict_add(d->categories, "");
    return d;
}

void
rec_data_destroy(rec_data_t **d_p)
{
    if (!d_p || !*d_p)
        return;
    rec_data_t *d = *d_p;
    for (int i = 0; i < rec_dict_size(d->items); i++)
        free(d->item[i].name);
    free(d->item);
    free(d->ev);
    free(d->user_start);
    rec_dict_destroy(&d->users);
    rec_dict_destroy(&d->items);
    rec_dict_destroy(&d->categories);
    free(d);
    *d_p = NULL;
}

int
rec_data_item(rec_data_t *d, const char *id)
{
    int n0 = rec_dict_size(d->items);
    int i = rec_dict_add(d->items, id);
    if (i == n0) {
        if ((size_t) i >= d->item_cap) {
            d->item_cap = d->item_cap ? d->item_cap * 2 : 256;
            d->item = xrealloc(d->item, d->item_cap * sizeof *d->item);
        }
        d->item[i] = (rec_item_t) { .name = xstrdup(id), .category = 0, .in_stock = true };
    }
    return i;
}

int
rec_data_set_item(rec_data_t *d, const char *id, const char *name, const char *category,
                  float price, bool in_stock)
{
    int i = rec_data_item(d, id);
    rec_item_t *it = &d->item[i];
    free(it->name);
    it->name = xstrdup(name && name[0] ? name : id);
    it->category = rec_dict_add(d->categories, category ? category : "");
    it->price = price;
    it->in_stock = in_stock;
    it->known = true;
    return i;
}

void
rec_data_add_event_idx(rec_data_t *d, int user, int item, int64_t time, float qty,
                       store_event_type_t type)
{
    if (d->n_ev == d->ev_cap) {
        d->ev_cap = d->ev_cap ? d->ev_cap * 2 : 4096;
        d->ev = xrealloc(d->ev, d->ev_cap * sizeof *d->ev);
    }
    d->ev[d->n_ev++] = (rec_event_t) { .user = user, .item = item, .time = time, .qty = qty,
                                       .type = (uint8_t) type };
    d->indexed = false;
}

void
rec_data_add_event(rec_data_t *d, const char *user, const char *item, int64_t time, float qty,
                   store_event_type_t type)
{
    int u = rec_dict_add(d->users, user);
    int i = rec_data_item(d, item);
    rec_data_add_event_idx(d, u, i, time, qty, type);
}

static int
s_cmp_event(const void *a, const void *b)
{
    const rec_event_t *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    return 0;
}

void
rec_data_index(rec_data_t *d)
{
    /* qsort's pointer must not be NULL, even for 0 events (UBSan, fuzz/recommend_csv_fuzz) */
    if (d->n_ev)
        qsort(d->ev, d->n_ev, sizeof *d->ev, s_cmp_event);
    int nu = rec_dict_size(d->users);
    free(d->user_start);
    d->user_start = xcalloc((size_t) nu + 1, sizeof *d->user_start);
    for (size_t e = 0; e < d->n_ev; e++)
        d->user_start[d->ev[e].user + 1]++;
    for (int u = 0; u < nu; u++)
        d->user_start[u + 1] += d->user_start[u];
    d->indexed = true;
}

static int
s_load_event(const store_event_t *ev, void *ud)
{
    rec_data_add_event(ud, ev->customer, ev->item, ev->time, (float) ev->quantity, ev->type);
    return 0;
}

rec_data_t *
rec_data_from_store(store_t *s, char *err, size_t errlen)
{
    rec_data_t *d = rec_data_new();
    store_item_t *items = NULL;
    size_t n = 0;
    if (store_item_list(s, NULL, 0, 0, &items, &n) != 0)
        goto err;
    for (size_t i = 0; i < n; i++)
        rec_data_set_item(d, items[i].id, items[i].name, items[i].category,
                          (float) items[i].price, items[i].in_stock);
    free(items);
    if (store_event_foreach(s, 0, s_load_event, d) < 0)
        goto err;
    rec_data_index(d);
    return d;
err:
    snprintf(err, errlen, "%s", store_errmsg(s));
    rec_data_destroy(&d);
    return NULL;
}

int
rec_data_to_store(const rec_data_t *d, store_t *s, const char *source, char *err, size_t errlen)
{
    if (store_begin(s) != 0)
        goto err;
    for (int i = 0; i < rec_dict_size(d->items); i++) {
        const rec_item_t *it = &d->item[i];
        if (!it->known)
            continue;
        store_item_t si = { .price = it->price, .in_stock = it->in_stock };
        shop_strlcpy(si.id, rec_dict_str(d->items, i), sizeof si.id);
        shop_strlcpy(si.name, it->name, sizeof si.name);
        shop_strlcpy(si.category, rec_dict_str(d->categories, it->category), sizeof si.category);
        if (!si.category[0])
            shop_strlcpy(si.category, "other", sizeof si.category);
        if (store_item_upsert(s, &si) != 0)
            goto err_rollback;
    }
    for (size_t e = 0; e < d->n_ev; e++) {
        const rec_event_t *x = &d->ev[e];
        store_event_t ev = { .time = x->time, .type = (store_event_type_t) x->type,
                             .quantity = x->qty < 1 ? 1 : (int) (x->qty + 0.5f) };
        shop_strlcpy(ev.customer, rec_dict_str(d->users, x->user), sizeof ev.customer);
        shop_strlcpy(ev.item, rec_dict_str(d->items, x->item), sizeof ev.item);
        shop_strlcpy(ev.source, source ? source : "", sizeof ev.source);
        if (store_add_event(s, &ev) != 0)
            goto err_rollback;
    }
    if (store_commit(s) != 0)
        goto err;
    return 0;
err_rollback:
    snprintf(err, errlen, "%s", store_errmsg(s));
    store_rollback(s);
    return -1;
err:
    snprintf(err, errlen, "%s", store_errmsg(s));
    return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t
s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int
rec_parse_time(const char *s, int64_t *t)
{
    if (!s)
        return -1;
    while (isspace((unsigned char) *s))
        s++;
    int y, mo, d, h = 0, mi = 0, se = 0, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3) {
        const char *p = s + used;
        if (*p == ' ' || *p == 'T') {
            int used2 = 0;
            if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &used2) != 2)
                return -1;
            p += 1 + used2;
            if (*p == ':') {
                int used3 = 0;
                if (sscanf(p + 1, "%2d%n", &se, &used3) != 1)
                    return -1;
                p += 1 + used3;
            }
        }
        while (isspace((unsigned char) *p))
            p++;
        if (*p && *p != 'Z')
            return -1;
        if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
            || se > 60 || h < 0 || mi < 0 || se < 0)
            return -1;
        *t = s_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
        return 0;
    }
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0)
        return -1;
    while (isspace((unsigned char) *end))
        end++;
    if (*end)
        return -1;
    *t = v;
    return 0;
}
