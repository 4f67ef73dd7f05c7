/* fuzz/recommend_csv_fuzz.c: libFuzzer target for the CSV reader and the UCI
 * Online Retail importer (bytes from users' files). Every row must come out
 * as a row or a counted rejection, never a crash, and the counts must add up. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recommend/csv.h"
#include "recommend/import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csv_t *c = csv_new((const char *) data, size);
    char **f;
    int n, rc;
    size_t rows = 0;
    while ((rc = csv_next(c, &f, &n)) != CSV_EOF) {
        if (rc == CSV_ROW) {
            if (n < 1 || n > CSV_MAX_FIELDS)
                abort();
            for (int i = 0; i < n; i++)
                (void) strlen(f[i]);
        }
        if (++rows > size + 1)
            abort();   /* every row consumes at least one byte */
    }
    csv_destroy(&c);
    rec_data_t *d = rec_data_new();
    import_report_t rep;
    char err[256];
    if (import_uci_csv(d, (const char *) data, size, &rep, err, sizeof err) == 0) {
        if (rep.imported + rep.rejected != rep.rows || (size_t) rep.imported != d->n_ev)
            abort();
    }
    rec_data_destroy(&d);
    return 0;
}
