/* tests/vision_index_test.c: visual search returns the nearest items by
 * cosine, best first; saved indexes load back identical with their key and
 * damaged or forged files are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "common/util.h"
#include "vision/index.h"

enum { DIM = 16, N = 500 };

static float s_vecs[N][DIM];

static uLong
s_crc32(const uint8_t *p, size_t n)
{
    return crc32(0, p, (uInt) n);
}

static void
s_fill(void)
{
    uint32_t r = 12345;
    for (int i = 0; i < N; i++)
        for (int d = 0; d < DIM; d++) {
            r = r * 1103515245u + 12345u;
            s_vecs[i][d] = (float) ((r >> 8) & 0xFFFF) / 65536.0f - 0.5f;
        }
}

static double
s_cos(const float *a, const float *b)
{
    double ab = 0, aa = 0, bb = 0;
    for (int d = 0; d < DIM; d++) {
        ab += a[d] * b[d];
        aa += a[d] * a[d];
        bb += b[d] * b[d];
    }
    return ab / sqrt(aa * bb);
}

static void
test_search_matches_brute_force(void **state)
{
    (void) state;
    s_fill();
    vision_index_t *idx = vision_index_new(DIM);
    for (int i = 0; i < N; i++)
        assert_int_equal(vision_index_add(idx, 1000 + i, s_vecs[i]), 0);
    assert_int_equal(vision_index_size(idx), N);
    float zero[DIM] = { 0 };
    assert_int_equal(vision_index_add(idx, 1, zero), -1);
    for (int q = 0; q < 20; q++) {
        vision_hit_t hits[5];
        /* the query is item q scaled: it finds itself first with cosine 1 */
        float query[DIM];
        for (int d = 0; d < DIM; d++)
            query[d] = 3.0f * s_vecs[q][d];
        int m = vision_index_search(idx, query, 5, -1, hits);
        assert_int_equal(m, 5);
        assert_int_equal(hits[0].id, 1000 + q);
        assert_float_equal(hits[0].score, 1.0f, 1e-5);
        /* and the next four are the brute-force best, in order */
        double best[N];
        for (int i = 0; i < N; i++)
            best[i] = i == q ? -2 : s_cos(s_vecs[q], s_vecs[i]);
        for (int j = 1; j < 5; j++) {
            int bi = 0;
            for (int i = 1; i < N; i++)
                if (best[i] > best[bi])
                    bi = i;
            assert_int_equal(hits[j].id, 1000 + bi);
            assert_float_equal(hits[j].score, best[bi], 1e-5);
            best[bi] = -2;
        }
        /* excluding the product itself ("more like this") */
        m = vision_index_search(idx, query, 5, 1000 + q, hits);
        for (int j = 0; j < m; j++)
            assert_int_not_equal(hits[j].id, 1000 + q);
    }
    vision_hit_t hits[3];
    vision_index_t *tiny = vision_index_new(DIM);
    assert_int_equal(vision_index_search(tiny, s_vecs[0], 3, -1, hits), 0);
    vision_index_add(tiny, 7, s_vecs[0]);
    assert_int_equal(vision_index_search(tiny, s_vecs[0], 3, -1, hits), 1);
    vision_index_destroy(&tiny);
    vision_index_destroy(&idx);
    vision_index_destroy(&idx);
    assert_null(vision_index_new(0));
}

static void
test_save_load_and_damage(void **state)
{
    (void) state;
    s_fill();
    vision_index_t *idx = vision_index_new(DIM);
    for (int i = 0; i < 50; i++)
        vision_index_add(idx, i * 3, s_vecs[i]);
    char path[] = "/tmp/shop-vision-index-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256], *key = NULL;
    const char *want_key = "model 0123abcd\nbag-01\t/photos/bag-01.png\t812\n";
    assert_int_equal(vision_index_save(idx, path, want_key, err, sizeof err), 0);
    vision_index_t *back = vision_index_load(path, &key, err, sizeof err);
    assert_non_null(back);
    assert_string_equal(key, want_key);
    free(key);
    assert_int_equal(vision_index_size(back), 50);
    /* the same vectors to the bit, ids in order */
    for (int i = 0; i < 50; i++) {
        int64_t ia = -1, ib = -1;
        const float *va = vision_index_item(idx, i, &ia), *vb = vision_index_item(back, i, &ib);
        assert_int_equal(ia, i * 3);
        assert_int_equal(ib, i * 3);
        assert_memory_equal(va, vb, DIM * sizeof(float));
    }
    assert_null(vision_index_item(back, 50, NULL));
    assert_null(vision_index_item(back, -1, NULL));
    vision_hit_t a[3], b[3];
    assert_int_equal(vision_index_search(idx, s_vecs[7], 3, -1, a), 3);
    assert_int_equal(vision_index_search(back, s_vecs[7], 3, -1, b), 3);
    for (int j = 0; j < 3; j++) {
        assert_int_equal(a[j].id, b[j].id);
        assert_float_equal(a[j].score, b[j].score, 0.0);
    }
    vision_index_destroy(&back);

    size_t len;
    uint8_t *buf = shop_read_file(path, 1 << 20, &len, NULL, 0);
    /* a flipped bit in a weight: the checksum catches it */
    buf[100] ^= 4;
    assert_int_equal(shop_write_file_atomic(path, buf, len), 0);
    assert_null(vision_index_load(path, &key, err, sizeof err));
    assert_null(key);
    assert_non_null(strstr(err, "checksum"));
    buf[100] ^= 4;
    /* cut short, or a count that does not fit the size */
    for (size_t cut = 0; cut < len; cut += 37) {
        assert_int_equal(shop_write_file_atomic(path, buf, cut), 0);
        assert_null(vision_index_load(path, NULL, err, sizeof err));
    }
    /* a vector that is not of unit length, with a checksum that fits: the
     * file was not written by vision_index_save */
    size_t first = 20 + strlen(want_key) + 8;
    const uint8_t two[4] = { 0x00, 0x00, 0x00, 0x40 }; /* 2.0f, little-endian */
    memcpy(buf + first, two, 4);
    uint32_t crc = (uint32_t) s_crc32(buf, len - 4);
    for (int i = 0; i < 4; i++)
        buf[len - 4 + i] = (uint8_t) (crc >> (8 * i));
    assert_int_equal(shop_write_file_atomic(path, buf, len), 0);
    assert_null(vision_index_load(path, &key, err, sizeof err));
    assert_null(key);
    assert_non_null(strstr(err, "item 0 has an invalid embedding"));
    buf[12] = 0xFF;
    assert_int_equal(shop_write_file_atomic(path, buf, len), 0);
    assert_null(vision_index_load(path, NULL, err, sizeof err));
    assert_non_null(strstr(err, "does not match"));
    free(buf);
    unlink(path);
    vision_index_destroy(&idx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_matches_brute_force),
        cmocka_unit_test(test_save_load_and_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
