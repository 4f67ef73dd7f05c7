/* recommend/model_file.c: the recommendation model file (format in model.h
 * and docs/recommend.md): writer, and a loader that treats the file as
 * hostile. */
#include "recommend/model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/log.h"
#include "common/util.h"
#include "nn/nn.h"
#include "recommend/linalg.h"
#include "recommend/model_internal.h"

/* --- model file ---------------------------------------------------------- */

#define FILE_MAGIC "SHOPREC1"
#define FILE_VERSION 2u   /* 2: the neural section is an nn model file */
#define FILE_MAX (4ull << 30)

enum {
    SEC_ITEMS = 1,     /* n x (u16 length, bytes) */
    SEC_PARAMS,        /* "name=value\n" text */
    SEC_POP,           /* f32 pop[n], f32 trend[n] */
    SEC_KNN,           /* u32 k, i32 idx[n k], f32 sim[n k] */
    SEC_TOGETHER,      /* same layout */
    SEC_EASE,          /* f32 [n n] */
    SEC_ALS,           /* u32 f, f32 y[n f] */
    SEC_NEURAL,        /* an nn model file (docs/model-format.md): the neural net */
};

/* CRC-32 (IEEE, zlib's) of n bytes. */
static uint32_t
s_crc32(const uint8_t *p, size_t n)
{
    return (uint32_t) crc32_z(0L, p, n);
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
} s_buf_t;

static void
s_put(s_buf_t *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = SHOP_MAX(b->cap * 2, b->n + n + 4096);
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void
s_put_u32(s_buf_t *b, uint32_t v)
{
    s_put(b, &v, 4);   /* x86/ARM little endian: the file's order */
}

/* Starts a section; returns the offset of its length field. */
static size_t
s_section(s_buf_t *b, uint32_t tag)
{
    s_put_u32(b, tag);
    s_put_u32(b, 0);
    uint64_t zero = 0;
    size_t at = b->n;
    s_put(b, &zero, 8);
    return at;
}

static void
s_section_end(s_buf_t *b, size_t at)
{
    uint64_t len = b->n - at - 8;
    memcpy(b->p + at, &len, 8);
}

int
rec_model_save(const rec_model_t *m, const char *path, char *err, size_t errlen)
{
    s_buf_t b = { 0 };
    uint32_t nsec = 5 + (m->ease != NULL) + (m->als_f > 0) + (m->nn_blob != NULL);
    s_put(&b, FILE_MAGIC, 8);
    s_put_u32(&b, FILE_VERSION);
    s_put_u32(&b, (uint32_t) m->n);
    s_put_u32(&b, nsec);
    size_t at = s_section(&b, SEC_PARAMS);
    char line[128];
    int ll;
    for (size_t i = 0; (ll = rec_params_line(&m->p, i, line, sizeof line)) >= 0; i++)
        s_put(&b, line, (size_t) ll);
    s_section_end(&b, at);
    at = s_section(&b, SEC_ITEMS);
    for (int i = 0; i < m->n; i++) {
        size_t len = strlen(m->ids[i]);
        uint16_t l16 = (uint16_t) SHOP_MIN(len, 65535u);
        s_put(&b, &l16, 2);
        s_put(&b, m->ids[i], l16);
    }
    s_section_end(&b, at);
    size_t n = (size_t) m->n, k = (size_t) m->knn_k;
    at = s_section(&b, SEC_POP);
    s_put(&b, m->pop, n * 4);
    s_put(&b, m->trend, n * 4);
    s_section_end(&b, at);
    at = s_section(&b, SEC_KNN);
    s_put_u32(&b, (uint32_t) k);
    s_put(&b, m->knn_idx, n * k * 4);
    s_put(&b, m->knn_sim, n * k * 4);
    s_section_end(&b, at);
    at = s_section(&b, SEC_TOGETHER);
    s_put_u32(&b, (uint32_t) k);
    s_put(&b, m->tog_idx, n * k * 4);
    s_put(&b, m->tog_sim, n * k * 4);
    s_section_end(&b, at);
    if (m->ease) {
        at = s_section(&b, SEC_EASE);
        s_put(&b, m->ease, n * n * 4);
        s_section_end(&b, at);
    }
    if (m->als_f > 0) {
        at = s_section(&b, SEC_ALS);
        s_put_u32(&b, (uint32_t) m->als_f);
        s_put(&b, m->als_y, n * (size_t) m->als_f * 4);
        s_section_end(&b, at);
    }
    if (m->nn_blob) {
        at = s_section(&b, SEC_NEURAL);
        s_put(&b, m->nn_blob, m->nn_len);
        s_section_end(&b, at);
    }
    s_put_u32(&b, s_crc32(b.p, b.n));
    int rc = shop_write_file_atomic(path, b.p, b.n);
    if (rc != 0)
        snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
    free(b.p);
    return rc;
}

typedef struct {
    const uint8_t *p;
    size_t n, pos;
} s_rd_t;

static int
s_get(s_rd_t *r, void *dst, size_t n)
{
    if (n > r->n - r->pos)
        return -1;
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

/* Reads count floats and refuses NaN and infinities. */
static int
s_get_floats(s_rd_t *r, float **dst, size_t count)
{
    if (count > (r->n - r->pos) / 4)
        return -1;
    *dst = xmallocarray(count + 1, sizeof(float));
    memcpy(*dst, r->p + r->pos, count * 4);
    r->pos += count * 4;
    for (size_t i = 0; i < count; i++)
        if (!isfinite((*dst)[i]))
            return -1;
    return 0;
}

static int
s_get_neighbours(s_rd_t *r, int n, int k, int32_t **idx, float **sim)
{
    uint32_t kk;
    if (s_get(r, &kk, 4) || (int) kk != k)
        return -1;
    size_t count = (size_t) n * k;
    if (count > (r->n - r->pos) / 4)
        return -1;
    *idx = xmallocarray(count + 1, sizeof(int32_t));
    if (s_get(r, *idx, count * 4))
        return -1;
    for (size_t i = 0; i < count; i++)
        if ((*idx)[i] < -1 || (*idx)[i] >= n)
            return -1;
    return s_get_floats(r, sim, count);
}

/* Checks an nn model file (nn_load_mem checks every count and shape) is the
 * recommender's net for n items: input n x 1 x 1, output a softmax over n;
 * keeps a copy as m->nn_blob. Returns 0, or -1 with a message in err. */
static int
s_nn_check(rec_model_t *m, const uint8_t *p, size_t len, char *err, size_t errlen)
{
    char nerr[256];
    nn_net_t *net = nn_load_mem(p, len, nerr, sizeof nerr);
    if (!net) {
        snprintf(err, errlen, "model file: neural section: %s", nerr);
        return -1;
    }
    nn_shape_t in = nn_input_shape(net);
    bool ok = in.c == m->n && in.h == 1 && in.w == 1 && nn_output_size(net) == m->n
              && strcmp(nn_layer_type(net, nn_num_layers(net) - 1), "softmax_xent") == 0;
    nn_destroy(&net);
    if (!ok) {
        snprintf(err, errlen, "model file: the neural net does not map %d items to %d", m->n,
                 m->n);
        return -1;
    }
    m->nn_blob = xmalloc(len);
    memcpy(m->nn_blob, p, len);
    m->nn_len = len;
    return 0;
}

#define LOAD_FAIL(...)                                                                  \
    do {                                                                                \
        snprintf(err, errlen, __VA_ARGS__);                                             \
        goto fail;                                                                      \
    } while (0)

rec_model_t *
rec_model_load_buffer(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    rec_model_t *m = NULL;
    s_rd_t r = { buf, len, 0 };
    char magic[8];
    uint32_t version, n, nsec, crc;
    if (len < 24 + 4 || s_get(&r, magic, 8) || memcmp(magic, FILE_MAGIC, 8) != 0)
        LOAD_FAIL("not a shopd recommender model (bad magic)");
    memcpy(&crc, buf + len - 4, 4);
    if (s_crc32(buf, len - 4) != crc)
        LOAD_FAIL("model file corrupt (CRC mismatch)");
    r.n = len - 4;
    if (s_get(&r, &version, 4) || version != FILE_VERSION)
        LOAD_FAIL("model file version %u, this shopd reads %u", version, FILE_VERSION);
    if (s_get(&r, &n, 4) || n < 2 || n > (1u << 22) || s_get(&r, &nsec, 4) || nsec > 64)
        LOAD_FAIL("model file header out of range");
    rec_params_t p;
    rec_params_default(&p);
    bool have[SEC_NEURAL + 1] = { false };
    for (uint32_t s = 0; s < nsec; s++) {
        uint32_t tag, zero;
        uint64_t slen;
        if (s_get(&r, &tag, 4) || s_get(&r, &zero, 4) || s_get(&r, &slen, 8)
            || slen > r.n - r.pos)
            LOAD_FAIL("model file truncated in section %u", s);
        s_rd_t sr = { r.p + r.pos, (size_t) slen, 0 };
        r.pos += slen;
        if (tag < SEC_ITEMS || tag > SEC_NEURAL || have[tag])
            LOAD_FAIL("model file: unknown or repeated section %u", tag);
        if (tag != SEC_ITEMS && tag != SEC_PARAMS && !have[SEC_ITEMS])
            LOAD_FAIL("model file: items must come first");
        have[tag] = true;
        bool ok = true;
        switch (tag) {
        case SEC_PARAMS: {
            /* unknown names are refused: they would mean another format */
            char line[160];
            size_t a = 0;
            while (a < sr.n && ok) {
                size_t e = a;
                while (e < sr.n && sr.p[e] != '\n')
                    e++;
                if (e - a >= sizeof line)
                    ok = false;
                else {
                    memcpy(line, sr.p + a, e - a);
                    line[e - a] = '\0';
                    ok = rec_params_set(&p, line) == 0;
                }
                a = e + 1;
            }
            if (!ok)
                LOAD_FAIL("model file: bad parameter line");
            sr.pos = sr.n;
            break;
        }
        case SEC_ITEMS:
            if (!have[SEC_PARAMS])
                LOAD_FAIL("model file: parameters must precede items");
            /* the two neighbour lists must fit in the file: no huge allocation
             * on the word of a hostile header */
            if ((uint64_t) n * (uint64_t) p.knn_k * 16u > len)
                LOAD_FAIL("model file: %u items x %d neighbours exceed the file", n, p.knn_k);
            m = rec_model_alloc((int) n, &p);
            for (uint32_t i = 0; i < n && ok; i++) {
                uint16_t l;
                char id[65536];
                ok = s_get(&sr, &l, 2) == 0 && l > 0 && s_get(&sr, id, l) == 0;
                if (ok) {
                    id[l] = '\0';
                    ok = strlen(id) == l && rec_dict_find(m->index, id) < 0;
                    if (ok)
                        rec_model_set_id(m, (int) i, id);
                }
            }
            if (!ok)
                LOAD_FAIL("model file: bad item list");
            break;
        case SEC_POP:
            free(m->pop);
            free(m->trend);
            m->pop = m->trend = NULL;
            ok = s_get_floats(&sr, &m->pop, n) == 0 && s_get_floats(&sr, &m->trend, n) == 0;
            break;
        case SEC_KNN:
        case SEC_TOGETHER:
            if (tag == SEC_KNN) {
                free(m->knn_idx), free(m->knn_sim);
                m->knn_idx = NULL, m->knn_sim = NULL;
                ok = s_get_neighbours(&sr, (int) n, m->knn_k, &m->knn_idx, &m->knn_sim) == 0;
            } else {
                free(m->tog_idx), free(m->tog_sim);
                m->tog_idx = NULL, m->tog_sim = NULL;
                ok = s_get_neighbours(&sr, (int) n, m->knn_k, &m->tog_idx, &m->tog_sim) == 0;
            }
            break;
        case SEC_EASE:
            ok = s_get_floats(&sr, &m->ease, (size_t) n * n) == 0;
            break;
        case SEC_ALS: {
            uint32_t f;
            ok = s_get(&sr, &f, 4) == 0 && f >= 1 && f <= 512
                 && s_get_floats(&sr, &m->als_y, (size_t) n * f) == 0;
            if (ok) {
                m->als_f = (int) f;
                m->als_yty = xmallocarray((size_t) f * f, sizeof(float));
                la_gemm(true, false, (int) f, (int) f, (int) n, 1.0f, m->als_y, (int) f,
                        m->als_y, (int) f, 0.0f, m->als_yty, (int) f);
            }
            break;
        }
        case SEC_NEURAL:
            if (s_nn_check(m, sr.p, sr.n, err, errlen) != 0)
                goto fail;
            sr.pos = sr.n;
            break;
        }
        if (!ok || sr.pos != sr.n)
            LOAD_FAIL("model file: section %u has a bad length or value", tag);
    }
    if (r.pos != r.n)
        LOAD_FAIL("model file: trailing bytes");
    if (!have[SEC_POP] || !have[SEC_KNN] || !have[SEC_TOGETHER])
        LOAD_FAIL("model file: a required section is missing");
    return m;
fail:
    rec_model_destroy(&m);
    return NULL;
}

rec_model_t *
rec_model_load(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    uint8_t *buf = shop_read_file(path, FILE_MAX, &len, err, errlen);
    if (!buf)
        return NULL;
    rec_model_t *m = rec_model_load_buffer(buf, len, err, errlen);
    free(buf);
    return m;
}
