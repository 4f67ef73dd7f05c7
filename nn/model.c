/* nn/model.c: model files (layout in docs/model-format.md).
 *
 * The loader treats the file as hostile: every read goes through a bounds
 * checked cursor, every count is checked against the NN_MAX_* limits and
 * against the bytes left before anything is allocated, and the layers are
 * rebuilt through the same validating builder the API uses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"
#include "nn/internal.h"

#define MAGIC "SHOPNN\r\n"
#define MAGIC_LEN 8
#define VERSION 1
#define HEADER_LEN 32
/* whole-file limit: the parameter limit plus generous room for the rest */
#define MAX_FILE ((size_t) NN_MAX_PARAMS * 4 + (64u << 20))

/* ------------------------------------------------------------------ writing */

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} s_wbuf_t;

static void
s_put(s_wbuf_t *w, const void *p, size_t n)
{
    if (w->len + n > w->cap) {
        size_t cap = SHOP_MAX(w->cap * 2, w->len + n + 4096);
        w->buf = xrealloc(w->buf, cap);
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void
s_put_u32(s_wbuf_t *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24) };
    s_put(w, b, 4);
}

static void
s_put_u64(s_wbuf_t *w, uint64_t v)
{
    s_put_u32(w, (uint32_t) v);
    s_put_u32(w, (uint32_t) (v >> 32));
}

static void
s_put_f32(s_wbuf_t *w, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    s_put_u32(w, v);
}

static void
s_put_str(s_wbuf_t *w, const char *s)
{
    size_t n = strlen(s);
    s_put_u32(w, (uint32_t) n);
    s_put(w, s, n);
}

static void
s_put_floats(s_wbuf_t *w, const float *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s_put_f32(w, f[i]);
}

void *
nn_save_mem(const nn_net_t *net, size_t *len, char *err, size_t errlen)
{
    if (!net || !len) {
        nn_errf(err, errlen, "nn_save: missing argument");
        return NULL;
    }
    if (net->n_layers < 1) {
        nn_errf(err, errlen, "nn_save: empty net");
        return NULL;
    }
    s_wbuf_t w = { 0 };
    uint8_t header[HEADER_LEN] = { 0 };
    s_put(&w, header, HEADER_LEN);
    s_put_u32(&w, (uint32_t) net->n_meta);
    for (int i = 0; i < net->n_meta; i++) {
        s_put_str(&w, net->meta_k[i]);
        s_put_str(&w, net->meta_v[i]);
    }
    s_put_u32(&w, (uint32_t) net->n_labels);
    for (int i = 0; i < net->n_labels; i++)
        s_put_str(&w, net->labels[i]);
    s_put_u32(&w, (uint32_t) net->n_layers);
    for (int l = 0; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        s_put_u32(&w, (uint32_t) L->type);
        s_put_u32(&w, (uint32_t) L->in[0]);
        s_put_u32(&w, (uint32_t) L->in[1]);
        for (int i = 0; i < NN_NARGS; i++)
            s_put_u32(&w, (uint32_t) L->args[i]);
        s_put_f32(&w, L->rate);
        s_put_str(&w, L->name);
    }
    s_put_u32(&w, (uint32_t) net->output);
    s_put_u64(&w, net->n_params);
    s_put_floats(&w, net->params, net->n_params);
    s_put_u64(&w, net->n_state);
    s_put_floats(&w, net->state, net->n_state);
    /* header: magic, version, flags, body length, body CRC-32, reserved */
    s_wbuf_t h = { 0 };
    s_put(&h, MAGIC, MAGIC_LEN);
    s_put_u32(&h, VERSION);
    s_put_u32(&h, 0);
    s_put_u64(&h, w.len - HEADER_LEN);
    s_put_u32(&h, (uint32_t) crc32_z(0, w.buf + HEADER_LEN, w.len - HEADER_LEN));
    s_put_u32(&h, 0);
    memcpy(w.buf, h.buf, HEADER_LEN);
    free(h.buf);
    *len = w.len;
    return w.buf;
}

int
nn_save(const nn_net_t *net, const char *path, char *err, size_t errlen)
{
    if (!path)
        return nn_errf(err, errlen, "nn_save: no path");
    size_t len;
    void *buf = nn_save_mem(net, &len, err, errlen);
    if (!buf)
        return -1;
    int rc = shop_write_file_atomic(path, buf, len);
    free(buf);
    if (rc < 0)
        return nn_errf(err, errlen, "cannot write %s: %m", path);
    return 0;
}

/* ------------------------------------------------------------------ reading */

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    char *err;
    size_t errlen;
    bool failed;
} s_rbuf_t;

static bool
s_need(s_rbuf_t *r, size_t n, const char *what)
{
    if (r->failed)
        return false;
    if (n > r->len - r->pos) {
        nn_errf(r->err, r->errlen, "truncated model: %s needs %zu bytes at offset %zu, %zu left",
                what, n, r->pos, r->len - r->pos);
        r->failed = true;
        return false;
    }
    return true;
}

static uint32_t
s_get_u32(s_rbuf_t *r, const char *what)
{
    if (!s_need(r, 4, what))
        return 0;
    const uint8_t *b = r->p + r->pos;
    r->pos += 4;
    return (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 | (uint32_t) b[3] << 24;
}

static uint64_t
s_get_u64(s_rbuf_t *r, const char *what)
{
    uint64_t lo = s_get_u32(r, what);
    uint64_t hi = s_get_u32(r, what);
    return lo | hi << 32;
}

static float
s_get_f32(s_rbuf_t *r, const char *what)
{
    uint32_t v = s_get_u32(r, what);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* Reads a length-prefixed string of at most max-1 bytes without NULs into a
 * new buffer (caller frees); NULL on error. */
static char *
s_get_str(s_rbuf_t *r, size_t max, const char *what)
{
    uint32_t n = s_get_u32(r, what);
    if (r->failed)
        return NULL;
    if (n >= max) {
        nn_errf(r->err, r->errlen, "bad model: %s of %u bytes (limit %zu)", what, n, max - 1);
        r->failed = true;
        return NULL;
    }
    if (!s_need(r, n, what))
        return NULL;
    if (memchr(r->p + r->pos, 0, n)) {
        nn_errf(r->err, r->errlen, "bad model: %s contains a NUL byte", what);
        r->failed = true;
        return NULL;
    }
    char *s = xmalloc((size_t) n + 1);
    memcpy(s, r->p + r->pos, n);
    s[n] = 0;
    r->pos += n;
    return s;
}

/* Reads count floats into dst, refusing NaN and infinities. */
static int
s_get_floats(s_rbuf_t *r, float *dst, size_t count, const char *what)
{
    if (count > (r->len - r->pos) / 4) {
        nn_errf(r->err, r->errlen, "truncated model: %zu %s need %zu bytes, %zu left", count,
                what, count * 4, r->len - r->pos);
        r->failed = true;
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        float f = s_get_f32(r, what);
        if (!isfinite(f)) {
            nn_errf(r->err, r->errlen, "bad model: %s %zu is not a finite number", what, i);
            r->failed = true;
            return -1;
        }
        dst[i] = f;
    }
    return 0;
}

nn_net_t *
nn_load_mem(const void *data, size_t len, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!data) {
        nn_errf(err, errlen, "nn_load: no data");
        return NULL;
    }
    const uint8_t *p = data;
    if (len < HEADER_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0) {
        nn_errf(err, errlen, "not a shopd model file (bad magic or shorter than %d bytes)",
                HEADER_LEN);
        return NULL;
    }
    s_rbuf_t r = { p, len, MAGIC_LEN, err, errlen, false };
    uint32_t version = s_get_u32(&r, "version");
    uint32_t flags = s_get_u32(&r, "flags");
    uint64_t body = s_get_u64(&r, "body length");
    uint32_t crc = s_get_u32(&r, "checksum");
    uint32_t reserved = s_get_u32(&r, "reserved");
    if (version != VERSION) {
        nn_errf(err, errlen, "model file version %u, this program reads version %d", version,
                VERSION);
        return NULL;
    }
    if (flags != 0 || reserved != 0) {
        nn_errf(err, errlen, "model file has unknown flags 0x%x / reserved 0x%x", flags, reserved);
        return NULL;
    }
    if (body != len - HEADER_LEN) {
        nn_errf(err, errlen, "model file is %zu bytes, its header says %llu (truncated?)", len,
                (unsigned long long) body + HEADER_LEN);
        return NULL;
    }
    if ((uint32_t) crc32_z(0, p + HEADER_LEN, (size_t) body) != crc) {
        nn_errf(err, errlen, "model file checksum mismatch (corrupted)");
        return NULL;
    }
    r.pos = HEADER_LEN;
    nn_net_t *net = nn_new(0);
    net->loading = true;
    char *k = NULL, *v = NULL;
    uint32_t n_meta = s_get_u32(&r, "metadata count");
    if (!r.failed && n_meta > NN_MAX_META) {
        nn_errf(err, errlen, "bad model: %u metadata pairs (limit %d)", n_meta, NN_MAX_META);
        goto fail;
    }
    for (uint32_t i = 0; i < n_meta && !r.failed; i++) {
        k = s_get_str(&r, NN_MAX_KEY, "metadata key");
        v = s_get_str(&r, NN_MAX_VALUE, "metadata value");
        if (r.failed)
            goto fail;
        if (nn_meta_set(net, k, v) < 0) {
            nn_errf(err, errlen, "bad model: %s", net->err);
            goto fail;
        }
        free(k);
        free(v);
        k = v = NULL;
    }
    uint32_t n_labels = s_get_u32(&r, "label count");
    if (!r.failed && n_labels > NN_MAX_LABELS) {
        nn_errf(err, errlen, "bad model: %u labels (limit %d)", n_labels, NN_MAX_LABELS);
        goto fail;
    }
    if (n_labels && !r.failed) {
        if ((size_t) n_labels > (r.len - r.pos) / 4) {
            nn_errf(err, errlen, "truncated model: %u labels cannot fit", n_labels);
            goto fail;
        }
        net->labels = xcalloc(n_labels, sizeof(char *));
        for (uint32_t i = 0; i < n_labels; i++) {
            net->labels[i] = s_get_str(&r, NN_MAX_NAME, "label");
            if (r.failed)
                goto fail;
            net->n_labels++;
        }
    }
    uint32_t n_layers = s_get_u32(&r, "layer count");
    if (r.failed)
        goto fail;
    if (n_layers < 2 || n_layers > NN_MAX_LAYERS) {
        nn_errf(err, errlen, "bad model: %u layers (must be 2..%d)", n_layers, NN_MAX_LAYERS);
        goto fail;
    }
    for (uint32_t l = 0; l < n_layers; l++) {
        uint32_t type = s_get_u32(&r, "layer type");
        int32_t in0 = (int32_t) s_get_u32(&r, "layer input");
        int32_t in1 = (int32_t) s_get_u32(&r, "layer input");
        int args[NN_NARGS];
        for (int i = 0; i < NN_NARGS; i++)
            args[i] = (int32_t) s_get_u32(&r, "layer argument");
        float rate = s_get_f32(&r, "layer rate");
        char *name = s_get_str(&r, NN_MAX_NAME, "layer name");
        if (r.failed)
            goto fail;
        net->param_budget = (r.len - r.pos) / 4 + 1;
        if (type >= NN_L_COUNT || (l == 0) != (type == NN_L_INPUT)) {
            free(name);
            nn_errf(err, errlen, "bad model: layer %u has type %u", l, type);
            goto fail;
        }
        if (nn_add_layer(net, (nn_ltype_t) type, in0, type == NN_L_ADD ? in1 : -1, args, rate) < 0
            || (*name && nn_layer_set_name(net, (int) l, name) < 0)) {
            free(name);
            nn_errf(err, errlen, "bad model: layer %u: %s", l, net->err);
            goto fail;
        }
        free(name);
    }
    net->param_budget = 0;
    uint32_t output = s_get_u32(&r, "output layer");
    uint64_t n_params = s_get_u64(&r, "parameter count");
    if (r.failed)
        goto fail;
    if (output >= n_layers) {
        nn_errf(err, errlen, "bad model: output layer %u of %u", output, n_layers);
        goto fail;
    }
    if (n_params != net->n_params) {
        nn_errf(err, errlen, "bad model: %llu parameters, the architecture has %zu",
                (unsigned long long) n_params, net->n_params);
        goto fail;
    }
    if (s_get_floats(&r, net->params, net->n_params, "parameter") < 0)
        goto fail;
    uint64_t n_state = s_get_u64(&r, "statistics count");
    if (r.failed)
        goto fail;
    if (n_state != net->n_state) {
        nn_errf(err, errlen, "bad model: %llu batchnorm statistics, the architecture has %zu",
                (unsigned long long) n_state, net->n_state);
        goto fail;
    }
    if (s_get_floats(&r, net->state, net->n_state, "batchnorm statistic") < 0)
        goto fail;
    for (int l = 0; l < net->n_layers; l++) {
        const nn_layer_t *L = &net->layers[l];
        if (L->type != NN_L_BN)
            continue;
        for (int c = 0; c < L->is.c; c++)
            if (net->state[L->s_off + (size_t) L->is.c + c] < 0) {
                nn_errf(err, errlen, "bad model: negative variance in layer %d", l);
                goto fail;
            }
    }
    if (r.pos != r.len) {
        nn_errf(err, errlen, "bad model: %zu unexpected bytes at the end", r.len - r.pos);
        goto fail;
    }
    net->output = (int) output;
    net->loading = false;
    net->err[0] = 0;
    return net;
fail:
    if (err && errlen && !err[0])
        nn_errf(err, errlen, "bad model");
    free(k);
    free(v);
    nn_destroy(&net);
    return NULL;
}

nn_net_t *
nn_load(const char *path, char *err, size_t errlen)
{
    if (!path) {
        nn_errf(err, errlen, "nn_load: no path");
        return NULL;
    }
    size_t len = 0;
    char rerr[512];
    uint8_t *buf = shop_read_file(path, MAX_FILE, &len, rerr, sizeof rerr);
    if (!buf) {
        nn_errf(err, errlen, "%s", rerr);
        return NULL;
    }
    char lerr[256] = "";
    nn_net_t *net = nn_load_mem(buf, len, lerr, sizeof lerr);
    free(buf);
    if (!net)
        nn_errf(err, errlen, "%s: %s", path, lerr);
    return net;
}
