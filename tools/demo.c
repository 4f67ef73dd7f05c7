/* tools/demo.c: `shop-train demo`: its options; the generator is
 * demo_store_make (recommend/demo.c). */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "recommend/demo.h"
#include "tools/cli.h"

static void
s_usage(void)
{
    fprintf(stderr,
            "usage: shop-train demo [--fmnist DIR] [--out DIR] [--customers N] [--seed N]\n"
            "Writes DIR/catalogue.csv, DIR/events.csv and DIR/photos/*.png (default\n"
            "--out data/demo, --fmnist /usr/share/datasets/fashion-mnist).\n");
}

int
demo_store_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "fmnist", required_argument, NULL, 'f' }, { "out", required_argument, NULL, 'o' },
        { "customers", required_argument, NULL, 'c' }, { "seed", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *fm = "/usr/share/datasets/fashion-mnist", *out = "data/demo";
    int n_cust = 300;
    uint64_t seed = 2026;
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:c:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': fm = optarg; break;
        case 'o': out = optarg; break;
        case 'c':
            bad |= shop_opt_int("shop-train demo", "--customers", optarg, 10, 100000, &n_cust);
            break;
        case 's': bad |= shop_opt_uint64("shop-train demo", "--seed", optarg, &seed); break;
        default: s_usage(); return c == 'h' ? 0 : 2;
        }
    }
    if (bad || cli_no_operands("shop-train demo", argc, argv) != 0)
        return 2;
    char err[512];
    demo_store_report_t rep;
    if (demo_store_make(fm, out, n_cust, seed, &rep, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("demo store in %s: %d items with photos, %d customers, %ld events (%ld purchases)\n",
           out, rep.items, n_cust, rep.events, rep.purchases);
    return 0;
}
