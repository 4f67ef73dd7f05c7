/* recommend/retrain.c: see retrain.h */
#include "recommend/retrain.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "recommend/data.h"
#include "recommend/store.h"

int
rec_engine_retrain(rec_engine_t *e, const char *db_path, const rec_params_t *p,
                   const char *save_path, char *err, size_t errlen)
{
    char *oerr = NULL;
    store_t *s = store_open(db_path, &oerr);
    if (!s) {
        snprintf(err, errlen, "%s", oerr ? oerr : "cannot open the store");
        free(oerr);
        return -1;
    }
    rec_data_t *d = rec_data_from_store(s, err, errlen);
    store_close(&s);
    if (!d)
        return -1;
    rec_model_t *m = rec_model_train(d, INT64_MAX, p, err, errlen);
    rec_data_destroy(&d);
    if (!m)
        return -1;
    if (save_path && rec_model_save(m, save_path, err, errlen) != 0) {
        rec_model_destroy(&m);
        return -1;
    }
    rec_engine_set_model(e, &m);
    return 0;
}
