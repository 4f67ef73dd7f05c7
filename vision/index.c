/* vision/index.c: exact cosine search over normalised embeddings.
 *
 * File format (little-endian): "SHOPVIX2", u32 dim, u32 count, u32 key
 * length, the key's bytes, then count records of i64 id and dim f32, then u32
 * CRC-32 (zlib) of all before it. */
#include "config.h"

#include "vision/index.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"

#define INDEX_MAGIC "SHOPVIX2"
#define INDEX_MAX_DIM 65536
#define INDEX_MAX_ITEMS (1 << 24)

struct _vision_index_t {
    int dim;          /* floats per embedding */
    int n, cap;       /* items stored, allocated */
    int64_t *ids;     /* n ids */
    float *vecs;      /* n x dim, each of unit length */
};

vision_index_t *
vision_index_new(int dim)
{
    if (dim < 1 || dim > INDEX_MAX_DIM)
        return NULL;
    vision_index_t *self = xcalloc(1, sizeof *self);
    self->dim = dim;
    return self;
}

void
vision_index_destroy(vision_index_t **idx_p)
{
    if (!idx_p || !*idx_p)
        return;
    free((*idx_p)->ids);
    free((*idx_p)->vecs);
    free(*idx_p);
    *idx_p = NULL;
}

/* Appends v (dim floats) times scale under id. */
static void
s_push(vision_index_t *self, int64_t id, const float *v, float scale)
{
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 256;
        self->ids = xrealloc(self->ids, (size_t) self->cap * sizeof *self->ids);
        self->vecs = xrealloc(self->vecs, (size_t) self->cap * (size_t) self->dim * sizeof(float));
    }
    float *dst = self->vecs + (size_t) self->n * (size_t) self->dim;
    for (int i = 0; i < self->dim; i++)
        dst[i] = v[i] * scale;
    self->ids[self->n++] = id;
}

static double
s_norm2(const float *v, int dim)
{
    double ss = 0;
    for (int i = 0; i < dim; i++)
        ss += (double) v[i] * v[i];
    return ss;
}

int
vision_index_add(vision_index_t *self, int64_t id, const float *emb)
{
    double ss = s_norm2(emb, self->dim);
    if (!(ss > 0) || !isfinite(ss) || self->n >= INDEX_MAX_ITEMS)
        return -1;
    s_push(self, id, emb, (float) (1.0 / sqrt(ss)));
    return 0;
}

int
vision_index_size(const vision_index_t *self)
{
    return self->n;
}

int
vision_index_dim(const vision_index_t *self)
{
    return self->dim;
}

int
vision_index_search(const vision_index_t *self, const float *query, int k, int64_t exclude_id,
                    vision_hit_t *hits)
{
    if (k <= 0)
        return 0;
    int m = 0;
    for (int j = 0; j < self->n; j++) {
        if (exclude_id >= 0 && self->ids[j] == exclude_id)
            continue;
        const float *v = self->vecs + (size_t) j * (size_t) self->dim;
        float s = 0;
        for (int i = 0; i < self->dim; i++)
            s += v[i] * query[i];
        if (m == k && s <= hits[m - 1].score)
            continue;
        /* insertion into the sorted list of the best k so far */
        int p = m < k ? m++ : k - 1;
        while (p > 0 && hits[p - 1].score < s) {
            hits[p] = hits[p - 1];
            p--;
        }
        hits[p] = (vision_hit_t) { self->ids[j], s };
    }
    /* the query was not normalised: scale scores to cosines */
    double qq = 0;
    for (int i = 0; i < self->dim; i++)
        qq += (double) query[i] * query[i];
    float inv = qq > 0 ? (float) (1.0 / sqrt(qq)) : 0.0f;
    for (int j = 0; j < m; j++)
        hits[j].score *= inv;
    return m;
}

const float *
vision_index_item(const vision_index_t *self, int i, int64_t *id)
{
    if (i < 0 || i >= self->n)
        return NULL;
    if (id)
        *id = self->ids[i];
    return self->vecs + (size_t) i * (size_t) self->dim;
}

static void
s_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
s_get32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* CRC-32 of n bytes (zlib takes at most a uInt at a time). */
static uint32_t
s_crc(const uint8_t *p, size_t n)
{
    uLong crc = crc32(0, NULL, 0);
    while (n > 0) {
        uInt part = n > (1u << 30) ? (1u << 30) : (uInt) n;
        crc = crc32(crc, p, part);
        p += part;
        n -= part;
    }
    return (uint32_t) crc;
}

int
vision_index_save(const vision_index_t *self, const char *path, const char *key, char *err,
                  size_t errlen)
{
    size_t klen = key ? strlen(key) : 0;
    if (klen > VISION_INDEX_MAX_KEY) {
        shop_errf(err, errlen, "%s: key of %zu bytes is too long", path, klen);
        return -1;
    }
    size_t rec = 8 + 4 * (size_t) self->dim;
    size_t len = 20 + klen + rec * (size_t) self->n + 4;
    uint8_t *buf = xmalloc(len), *p = buf;
    memcpy(p, INDEX_MAGIC, 8);
    s_le32(p + 8, (uint32_t) self->dim);
    s_le32(p + 12, (uint32_t) self->n);
    s_le32(p + 16, (uint32_t) klen);
    p += 20;
    if (klen)
        memcpy(p, key, klen);
    p += klen;
    for (int j = 0; j < self->n; j++) {
        uint64_t id = (uint64_t) self->ids[j];
        for (int i = 0; i < 8; i++)
            p[i] = (uint8_t) (id >> (8 * i));
        p += 8;
        const float *v = self->vecs + (size_t) j * (size_t) self->dim;
        for (int i = 0; i < self->dim; i++, p += 4) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            s_le32(p, u);
        }
    }
    s_le32(p, s_crc(buf, len - 4));
    int rc = shop_write_file_atomic(path, buf, len);
    if (rc < 0)
        shop_errf(err, errlen, "%s: %s", path, strerror(errno));
    free(buf);
    return rc;
}

vision_index_t *
vision_index_load(const char *path, char **key, char *err, size_t errlen)
{
    size_t len = 0;
    char rerr[256];
    if (key)
        *key = NULL;
    uint8_t *buf = shop_read_file(path, (size_t) 1 << 32, &len, rerr, sizeof rerr);
    if (!buf) {
        shop_errf(err, errlen, "%s", rerr);
        return NULL;
    }
    vision_index_t *self = NULL;
    if (len < 24 || memcmp(buf, INDEX_MAGIC, 8) != 0) {
        shop_errf(err, errlen, "%s: not a visual search index", path);
        goto out;
    }
    uint32_t dim = s_get32(buf + 8), n = s_get32(buf + 12), klen = s_get32(buf + 16);
    if (dim < 1 || dim > INDEX_MAX_DIM || n > INDEX_MAX_ITEMS || klen > VISION_INDEX_MAX_KEY
        || len != 20 + (size_t) klen + (8 + 4 * (size_t) dim) * n + 4) {
        shop_errf(err, errlen, "%s: header (dim %u, %u items, key of %u bytes) does not match "
                  "its %zu bytes", path, dim, n, klen, len);
        goto out;
    }
    if (s_get32(buf + len - 4) != s_crc(buf, len - 4)) {
        shop_errf(err, errlen, "%s: checksum mismatch (corrupted)", path);
        goto out;
    }
    const uint8_t *p = buf + 20;
    if (memchr(p, 0, klen)) {
        shop_errf(err, errlen, "%s: key holds a NUL byte", path);
        goto out;
    }
    self = vision_index_new((int) dim);
    if (key) {
        *key = xmalloc((size_t) klen + 1);
        memcpy(*key, p, klen);
        (*key)[klen] = 0;
    }
    p += klen;
    float *v = xmallocarray(dim, sizeof(float));
    for (uint32_t j = 0; j < n; j++) {
        uint64_t id = 0;
        for (int i = 0; i < 8; i++)
            id |= (uint64_t) p[i] << (8 * i);
        p += 8;
        for (uint32_t i = 0; i < dim; i++, p += 4) {
            uint32_t u = s_get32(p);
            memcpy(&v[i], &u, 4);
        }
        /* stored already normalised: kept as they are, so a loaded index
         * answers exactly as the saved one did */
        double ss = s_norm2(v, (int) dim);
        if (!(fabs(ss - 1.0) < 1e-3)) {
            shop_errf(err, errlen, "%s: item %u has an invalid embedding", path, j);
            vision_index_destroy(&self);
            if (key) {
                free(*key);
                *key = NULL;
            }
            break;
        }
        s_push(self, (int64_t) id, v, 1.0f);
    }
    free(v);
out:
    free(buf);
    return self;
}
