/* recommend/demo.h: the demo store generator (offline library).
 *
 * Writes OUT/catalogue.csv (25 products in each of the ten Fashion-MNIST
 * categories), OUT/photos/<id>.png (one Fashion-MNIST test image per
 * product) and OUT/events.csv (a synthetic six-month history), as described
 * in docs/recommend.md, "The demo store". Deterministic for a given seed. */
#ifndef SHOP_RECOMMEND_DEMO_H
#define SHOP_RECOMMEND_DEMO_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int items;        /* products written */
    long events;      /* event rows written */
    long purchases;   /* of which purchases */
} demo_store_report_t;

/* Makes the demo store in out from the Fashion-MNIST test files in fmnist
 * (t10k-*-ubyte.gz) with customers (10..100000) customers. Fills *report
 * when non-NULL. Returns 0, or -1 with a message in err. */
int demo_store_make(const char *fmnist, const char *out, int customers, uint64_t seed,
                    demo_store_report_t *report, char *err, size_t errlen);

#endif
