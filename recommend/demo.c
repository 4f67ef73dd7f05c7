/* recommend/demo.c: the demo store generator (`shop-train demo`, whose
 * options tools/demo.c parses).
 *
 * Makes data/demo/: catalogue.csv (25 products in each of the ten
 * Fashion-MNIST categories, named, priced), photos/<id>.png (one real
 * Fashion-MNIST *test* image per product, 28x28 grey, never seen by the
 * product CNN's training) and events.csv, a synthetic but structured
 * six-month history (docs/recommend.md, "The demo store"): customers with
 * favourite categories, a price tier and a colour; outfits bought together;
 * staples bought again every few weeks; seasons; views and cart adds before
 * purchases. Deterministic for a given --seed.
 *
 * The only stb_image_write user; linked only into shop-train.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STBI_WRITE_NO_STDIO_UNUSED
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#include "common/util.h"
#include "recommend/data.h"
#include "recommend/demo.h"

#define N_CAT 10
#define PER_CAT 25
#define N_ITEMS (N_CAT * PER_CAT)
#define IMG 28

/* Fashion-MNIST label order; names as the speech grammar's category slots. */
static const char *const s_cat[N_CAT] = { "t-shirt", "trouser", "pullover", "dress", "coat",
                                          "sandal", "shirt", "sneaker", "bag", "boot" };
static const char *const s_noun[N_CAT] = { "Tee", "Trousers", "Pullover", "Dress", "Coat",
                                           "Sandals", "Shirt", "Sneakers", "Bag", "Ankle Boots" };
static const double s_price_lo[N_CAT] = { 8, 25, 25, 30, 60, 15, 20, 40, 20, 60 };
static const double s_price_hi[N_CAT] = { 30, 80, 70, 120, 200, 60, 60, 140, 150, 180 };
/* month of peak demand (1..12) and strength of the season */
static const int s_peak[N_CAT] = { 7, 9, 11, 6, 12, 7, 9, 5, 10, 11 };
static const double s_season[N_CAT] = { 0.5, 0.2, 0.8, 0.6, 0.9, 0.9, 0.2, 0.3, 0.2, 0.7 };
static const char *const s_colour[] = { "black", "white", "grey", "navy", "red", "beige",
                                        "olive", "blue" };
static const char *const s_style[] = { "Classic", "Urban", "Sport", "Relaxed", "Slim",
                                       "Vintage", "Essential", "Weekend", "Studio", "Trail",
                                       "Harbour", "Summit", "Metro" };
/* outfit templates: categories worn together */
static const int s_outfit_cats[][3] = { { 0, 1, 7 }, { 3, 5, 8 }, { 4, 9, 2 }, { 6, 1, 9 },
                                        { 0, 1, 5 }, { 2, 1, 7 }, { 3, 8, 9 }, { 6, 4, 8 } };

typedef struct {
    double price;
    int colour;
    int tier;           /* 0 budget, 1 mid, 2 premium (by price within category) */
    bool in_stock;
} s_item_t;

static double
s_unif(uint64_t *s)
{
    return (double) (shop_splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int
s_int(uint64_t *s, int n)
{
    return (int) (shop_splitmix64(s) % (uint64_t) n);
}

/* Reads a gzip'd IDX file through gzip -dc (no zlib in shopd's deps). */
static uint8_t *
s_read_idx(const char *path, size_t *len, char *err, size_t errlen)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
    if (strchr(path, '\'')) {
        snprintf(err, errlen, "refusing a path with a quote: %s", path);
        return NULL;
    }
    FILE *f = popen(cmd, "r");
    if (!f) {
        snprintf(err, errlen, "cannot run gzip: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= (64u << 20))
                break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    if (pclose(f) != 0 || n < 8) {
        snprintf(err, errlen, "%s: not a readable gzip'd IDX file", path);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static uint32_t
s_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static int
s_mkdir(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* Category weight in a month (1..12): 1 +- the season's strength. */
static double
s_season_w(int c, int month)
{
    double phase = 2 * M_PI * (month - s_peak[c]) / 12.0;
    return 1.0 + s_season[c] * cos(phase);
}

int
demo_store_make(const char *fm, const char *out, int n_cust, uint64_t seed,
                demo_store_report_t *report, char *err, size_t errlen)
{
    if (n_cust < 10 || n_cust > 100000) {
        snprintf(err, errlen, "the number of customers must be 10..100000, not %d", n_cust);
        return -1;
    }
    char path[1024];
    size_t ilen = 0, llen = 0;
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", fm);
    uint8_t *img = s_read_idx(path, &ilen, err, errlen);
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", fm);
    uint8_t *lab = img ? s_read_idx(path, &llen, err, errlen) : NULL;
    if (!img || !lab) {
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, " (install the Debian package dataset-fashion-mnist)");
        free(img);
        return -1;
    }
    uint32_t n_img = s_be32(img + 4);
    if (s_be32(img) != 0x803 || s_be32(lab) != 0x801 || s_be32(img + 8) != IMG
        || s_be32(img + 12) != IMG || s_be32(lab + 4) != n_img
        || ilen < 16 + (size_t) n_img * IMG * IMG || llen < 8 + (size_t) n_img) {
        snprintf(err, errlen, "Fashion-MNIST test files have an unexpected layout");
        free(img);
        free(lab);
        return -1;
    }
    snprintf(path, sizeof path, "%s/photos", out);
    if (s_mkdir(out) != 0 || s_mkdir(path) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        free(img);
        free(lab);
        return -1;
    }
    /* --- catalogue and photos: the first PER_CAT test images of each class */
    uint64_t rng = seed;
    s_item_t items[N_ITEMS];
    int style_of[N_ITEMS];
    char ids[N_ITEMS][32];
    snprintf(path, sizeof path, "%s/catalogue.csv", out);
    FILE *cf = fopen(path, "w");
    if (!cf) {
        snprintf(err, errlen, "cannot write %s", path);
        free(img);
        free(lab);
        return -1;
    }
    fprintf(cf, "id,name,category,price,in_stock,photo,attributes\n");
    int taken[N_CAT] = { 0 };
    for (uint32_t k = 0; k < n_img; k++) {
        int cat = lab[8 + k];
        if (cat < 0 || cat >= N_CAT || taken[cat] >= PER_CAT)
            continue;
        int j = taken[cat]++, i = cat * PER_CAT + j;
        s_item_t *it = &items[i];
        /* prices spread over the category's range, so tiers exist */
        double f = (j + s_unif(&rng)) / PER_CAT;
        it->price = floor(s_price_lo[cat] + f * (s_price_hi[cat] - s_price_lo[cat])) + 0.99;
        it->tier = j * 3 / PER_CAT;
        it->colour = s_int(&rng, (int) SHOP_ARRAY_LEN(s_colour));
        it->in_stock = s_unif(&rng) > 0.08;
        snprintf(ids[i], sizeof ids[i], "%s-%02d", s_cat[cat], j + 1);
        char photo[64];
        snprintf(photo, sizeof photo, "photos/%s.png", ids[i]);
        snprintf(path, sizeof path, "%s/%s", out, photo);
        if (!stbi_write_png(path, IMG, IMG, 1, img + 16 + (size_t) k * IMG * IMG, IMG)) {
            snprintf(err, errlen, "cannot write %s", path);
            fclose(cf);
            free(img);
            free(lab);
            return -1;
        }
        /* a name no earlier product of the category has, so a spoken answer
         * tells them apart: the next style when the drawn one is taken
         * (the random stream, and so everything else, stays the same) */
        int si = s_int(&rng, (int) SHOP_ARRAY_LEN(s_style));
        for (int tries = 0; tries < (int) SHOP_ARRAY_LEN(s_style); tries++) {
            bool taken_name = false;
            for (int e = cat * PER_CAT; e < i; e++)
                taken_name |= style_of[e] == si && items[e].colour == it->colour;
            if (!taken_name)
                break;
            si = (si + 1) % (int) SHOP_ARRAY_LEN(s_style);
        }
        style_of[i] = si;
        const char *style = s_style[si];
        fprintf(cf, "%s,%s %s %s,%s,%.2f,%d,%s,\"{\"\"colour\"\":\"\"%s\"\",\"\"tier\"\":\"\"%s\"\","
                "\"\"fmnist_test_index\"\":%u}\"\n",
                ids[i], style, s_colour[it->colour], s_noun[cat], s_cat[cat], it->price,
                it->in_stock ? 1 : 0, photo, s_colour[it->colour],
                it->tier == 0 ? "budget" : it->tier == 1 ? "mid" : "premium", k);
    }
    fclose(cf);
    free(img);
    free(lab);
    for (int cat = 0; cat < N_CAT; cat++) {
        if (taken[cat] < PER_CAT) {
            snprintf(err, errlen, "only %d test images of class %d", taken[cat], cat);
            return -1;
        }
    }
    /* --- outfits: 3 concrete items each, from the templates */
    enum { N_OUTFITS = 40 };
    int outfit[N_OUTFITS][3];
    for (int o = 0; o < N_OUTFITS; o++) {
        const int *tc = s_outfit_cats[o % SHOP_ARRAY_LEN(s_outfit_cats)];
        int tier = s_int(&rng, 3);
        for (int q = 0; q < 3; q++)
            outfit[o][q] = tc[q] * PER_CAT + tier * (PER_CAT / 3) + s_int(&rng, PER_CAT / 3);
    }
    /* --- customers and their six months */
    snprintf(path, sizeof path, "%s/events.csv", out);
    FILE *ef = fopen(path, "w");
    if (!ef) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    fprintf(ef, "customer,item,time,type,quantity,source\n");
    int64_t t_start, t_end;
    rec_parse_time("2026-05-01", &t_start);
    rec_parse_time("2026-11-01", &t_end);
    long n_ev = 0, n_buy = 0;
    for (int u = 0; u < n_cust; u++) {
        char cid[16];
        snprintf(cid, sizeof cid, "c%04d", u + 1);
        double pref[N_CAT], tot = 0;
        for (int k = 0; k < N_CAT; k++)
            pref[k] = 0.05;
        for (int k = 0; k < 3; k++)      /* three favourite categories */
            pref[s_int(&rng, N_CAT)] += 1.0 + 2.0 * s_unif(&rng);
        int tier = s_int(&rng, 3), colour = s_int(&rng, (int) SHOP_ARRAY_LEN(s_colour));
        int staple = -1;
        if (s_unif(&rng) < 0.6) {       /* a staple rebought every few weeks */
            int sc = s_unif(&rng) < 0.5 ? 0 : (s_unif(&rng) < 0.5 ? 6 : 1);
            staple = sc * PER_CAT + tier * (PER_CAT / 3) + s_int(&rng, PER_CAT / 3);
        }
        double gap_days = 7 + 21 * s_unif(&rng);
        int64_t t = t_start + (int64_t) (s_unif(&rng) * gap_days * 86400);
        while (t < t_end) {
            int month = (int) ((t - t_start) / (30.5 * 86400)) + 5;
            if (month > 12)
                month = 12;
            double w[N_CAT];
            tot = 0;
            for (int k = 0; k < N_CAT; k++)
                tot += (w[k] = pref[k] * s_season_w(k, month));
            int basket[8], nb = 0;
            double r = s_unif(&rng);
            if (r < 0.25) {
                /* an outfit, preferring those in the customer's tier */
                int o = s_int(&rng, N_OUTFITS);
                for (int q = 0; q < 3; q++)
                    basket[nb++] = outfit[o][q];
            } else if (r < 0.5 && staple >= 0) {
                basket[nb++] = staple;
            }
            int extra = 1 + (s_unif(&rng) < 0.35);
            for (int x = 0; x < extra && nb < 8; x++) {
                double pick = s_unif(&rng) * tot;
                int k = 0;
                while (k < N_CAT - 1 && (pick -= w[k]) > 0)
                    k++;
                /* an item of the category: tier and colour preferred */
                int best = -1;
                double bs = -1;
                for (int tries = 0; tries < 6; tries++) {
                    int i = k * PER_CAT + s_int(&rng, PER_CAT);
                    double sc = s_unif(&rng) + (items[i].tier == tier ? 1.0 : 0)
                                + (items[i].colour == colour ? 0.7 : 0);
                    if (sc > bs) {
                        bs = sc;
                        best = i;
                    }
                }
                basket[nb++] = best;
            }
            /* browse: views of the category, a cart add, then the purchase */
            int64_t tv = t;
            for (int q = 0; q < nb; q++) {
                int cat = basket[q] / PER_CAT;
                int views = s_int(&rng, 3);
                for (int v = 0; v < views; v++) {
                    fprintf(ef, "%s,%s,%lld,view,1,web\n", cid,
                            ids[cat * PER_CAT + s_int(&rng, PER_CAT)], (long long) (tv += 40));
                    n_ev++;
                }
                fprintf(ef, "%s,%s,%lld,view,1,web\n", cid, ids[basket[q]], (long long) (tv += 30));
                fprintf(ef, "%s,%s,%lld,cart,1,web\n", cid, ids[basket[q]], (long long) (tv += 20));
                n_ev += 2;
            }
            tv += 60;
            for (int q = 0; q < nb; q++) {
                if (!items[basket[q]].in_stock)
                    continue;     /* out of stock: carted, not bought */
                int qty = basket[q] == staple ? 1 + s_int(&rng, 3) : 1;
                fprintf(ef, "%s,%s,%lld,purchase,%d,store\n", cid, ids[basket[q]],
                        (long long) tv, qty);
                n_ev++;
                n_buy++;
            }
            t += (int64_t) ((0.5 + s_unif(&rng)) * gap_days * 86400);
        }
    }
    fclose(ef);
    if (report) {
        report->items = N_ITEMS;
        report->events = n_ev;
        report->purchases = n_buy;
    }
    return 0;
}
