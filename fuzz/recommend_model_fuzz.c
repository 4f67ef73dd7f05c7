/* fuzz/recommend_model_fuzz.c: libFuzzer target for the recommender's model
 * file loader (recommend/model.c: rec_model_load_buffer), the bytes of a
 * file another machine or a retraining job wrote.
 *
 * Each input is loaded as is (magic, version and CRC checks), then again
 * with its last four bytes replaced by the CRC-32 of the rest, so that
 * mutations reach the section parsers behind the checksum. A model that
 * loads scores a two-item history with every model it has, so hostile
 * neighbour lists, weights and nets reach the scoring code; a save and
 * reload must give the same items. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "recommend/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_exercise(rec_model_t *m)
{
    int n = rec_model_n_items(m);
    if (n > 4096)
        return;
    float *sc = malloc((size_t) n * sizeof *sc);
    int32_t top[10];
    rec_ws_t *ws = rec_ws_new();
    rec_hist_ev_t ev[] = { { 0, 1000, 1.0f }, { n - 1, 2000, 0.5f } };
    rec_hist_t h = { ev, 2 };
    for (int k = 0; k < REC_N_KINDS; k++) {
        if (!rec_model_has(m, (rec_kind_t) k)
            || rec_model_score(m, (rec_kind_t) k, &h, 3000, sc, ws) != 0)
            continue;
        int got = rec_topk(sc, n, 10, top);
        for (int r = 0; r < got; r++)
            if (top[r] < 0 || top[r] >= n)
                abort();
    }
    const int32_t *idx;
    const float *sim;
    for (int t = 0; t < 2; t++) {
        int got = rec_model_neighbours(m, n - 1, t, &idx, &sim);
        for (int r = 0; r < got; r++)
            if (idx[r] < 0 || idx[r] >= n)
                abort();
    }
    rec_ws_destroy(&ws);
    free(sc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    rec_model_t *m = rec_model_load_buffer(data, size, err, sizeof err);
    rec_model_destroy(&m);
    if (size < 8 || size > (1u << 22))
        return 0;
    uint8_t *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    uLong crc = crc32_z(0L, buf, size - 4);
    for (int i = 0; i < 4; i++)
        buf[size - 4 + i] = (uint8_t) (crc >> (8 * i));
    m = rec_model_load_buffer(buf, size, err, sizeof err);
    if (m) {
        s_exercise(m);
        /* what loads saves and loads back to the same item index */
        char path[] = "/tmp/shop-rec-fuzz-XXXXXX";
        int fd = mkstemp(path);
        if (fd >= 0) {
            close(fd);
            if (rec_model_save(m, path, err, sizeof err) != 0)
                abort();
            rec_model_t *l = rec_model_load(path, err, sizeof err);
            unlink(path);
            if (!l || rec_model_n_items(l) != rec_model_n_items(m)
                || strcmp(rec_model_item_id(l, 0), rec_model_item_id(m, 0)) != 0)
                abort();
            rec_model_destroy(&l);
        }
        rec_model_destroy(&m);
    }
    free(buf);
    return 0;
}
