/* vision/preprocess.c: photo -> Fashion-MNIST-like input (see preprocess.h). */
#include "config.h"

#include "vision/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct _vision_prep_t {
    vision_prep_spec_t spec;  /* output size and normalisation */
    float *rows;              /* crop height x size: horizontally resampled rows */
    size_t rows_cap;          /* floats allocated in rows */
    int *count;               /* foreground pixels per row, then per column */
    size_t count_cap;         /* ints allocated in count */
    float *acc;               /* size x size accumulator */
};

vision_prep_t *
vision_prep_new(const vision_prep_spec_t *spec)
{
    if (!spec || spec->size < 4 || spec->size > 256 || !(spec->std > 0.0f)
        || !isfinite(spec->mean))
        return NULL;
    vision_prep_t *self = xcalloc(1, sizeof *self);
    self->spec = *spec;
    self->acc = xmallocarray((size_t) spec->size * (size_t) spec->size, sizeof(float));
    return self;
}

void
vision_prep_destroy(vision_prep_t **prep_p)
{
    if (!prep_p || !*prep_p)
        return;
    vision_prep_t *self = *prep_p;
    free(self->rows);
    free(self->count);
    free(self->acc);
    free(self);
    *prep_p = NULL;
}

static inline int
s_gray(const vision_image_t *img, size_t i)
{
    if (img->channels == 1)
        return img->px[i];
    const uint8_t *p = img->px + 3 * i;
    /* ITU-R BT.601 luma, as PIL's convert("L") that made Fashion-MNIST */
    return (299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000;
}

/* Median and median absolute deviation of the border ring's gray levels. */
static void
s_border_stats(const vision_image_t *img, int *median, int *mad)
{
    unsigned hist[256] = { 0 };
    int w = img->w, h = img->h;
    int t = SHOP_MAX(1, SHOP_MIN(w, h) / 50);
    uint64_t n = 0;
    for (int y = 0; y < h; y++) {
        size_t base = (size_t) y * (size_t) w;
        if (y < t || y >= h - t) {
            for (int x = 0; x < w; x++)
                hist[s_gray(img, base + (size_t) x)]++;
            n += (uint64_t) w;
            continue;
        }
        for (int x = 0; x < w; x++) {
            if (x == t && w - t > t)
                x = w - t;  /* skip the inside of the row */
            hist[s_gray(img, base + (size_t) x)]++;
            n++;
        }
    }
    uint64_t half = (n + 1) / 2, run = 0;
    int med = 0;
    for (int v = 0; v < 256; v++) {
        run += hist[v];
        if (run >= half) {
            med = v;
            break;
        }
    }
    unsigned dev[256] = { 0 };
    for (int v = 0; v < 256; v++)
        dev[abs(v - med)] += hist[v];
    run = 0;
    int m = 0;
    for (int d = 0; d < 256; d++) {
        run += dev[d];
        if (run >= half) {
            m = d;
            break;
        }
    }
    *median = med;
    *mad = m;
}

/* Adds value v of source cell [a, a+k) into dst (n cells) by exact overlap. */
static inline void
s_splat(float *dst, int n, double a, double k, float v)
{
    double b = a + k;
    int c0 = (int) floor(a), c1 = (int) ceil(b);
    if (c0 < 0)
        c0 = 0;
    if (c1 > n)
        c1 = n;
    for (int c = c0; c < c1; c++) {
        double lo = a > c ? a : c, hi = b < c + 1 ? b : c + 1;
        if (hi > lo)
            dst[c] += (float) (hi - lo) * v;
    }
}

static int
s_run(vision_prep_t *self, const vision_image_t *img, vision_prep_info_t *info)
{
    if (!img || !img->px || img->w <= 0 || img->h <= 0
        || (img->channels != 1 && img->channels != 3))
        return -1;
    int w = img->w, h = img->h, n = self->spec.size;
    vision_prep_info_t in = { 0 };
    int bg, mad;
    s_border_stats(img, &bg, &mad);
    in.bg = bg;
    in.light_bg = bg >= 128;
    /* JPEG noise and soft shadows stay under the threshold; a product edge
     * does not */
    int thr = SHOP_MAX(24, 4 * mad);

    size_t need = (size_t) w + (size_t) h;
    if (self->count_cap < need) {
        free(self->count);
        self->count = xmallocarray(need, sizeof(int));
        self->count_cap = need;
    }
    int *rowc = self->count, *colc = self->count + h;
    memset(self->count, 0, need * sizeof(int));
    for (int y = 0; y < h; y++) {
        size_t base = (size_t) y * (size_t) w;
        for (int x = 0; x < w; x++) {
            if (abs(s_gray(img, base + (size_t) x) - bg) > thr) {
                rowc[y]++;
                colc[x]++;
            }
        }
    }
    /* a row or column belongs to the product when more than a speck of it
     * stands out (1 pixel in 500, at least 1) */
    int rmin = SHOP_MAX(1, w / 500), cmin = SHOP_MAX(1, h / 500);
    in.x0 = in.y0 = -1;
    for (int y = 0; y < h; y++)
        if (rowc[y] >= rmin) {
            if (in.y0 < 0)
                in.y0 = y;
            in.y1 = y + 1;
        }
    for (int x = 0; x < w; x++)
        if (colc[x] >= cmin) {
            if (in.x0 < 0)
                in.x0 = x;
            in.x1 = x + 1;
        }
    memset(self->acc, 0, (size_t) n * (size_t) n * sizeof(float));
    if (in.y0 < 0 || in.x0 < 0) {
        in.empty = true;
        in.x0 = in.y0 = in.x1 = in.y1 = 0;
        if (info)
            *info = in;
        return 0;
    }
    int cw = in.x1 - in.x0, ch = in.y1 - in.y0;
    double k = (double) n / (double) SHOP_MAX(cw, ch);
    double offx = ((double) n - cw * k) / 2.0, offy = ((double) n - ch * k) / 2.0;
    size_t rneed = (size_t) ch * (size_t) n;
    if (self->rows_cap < rneed) {
        free(self->rows);
        self->rows = xmallocarray(rneed, sizeof(float));
        self->rows_cap = rneed;
    }
    memset(self->rows, 0, rneed * sizeof(float));
    /* distance from the background: negates a light background, keeps a
     * dark one */
    for (int y = 0; y < ch; y++) {
        float *row = self->rows + (size_t) y * (size_t) n;
        size_t base = (size_t) (in.y0 + y) * (size_t) w + (size_t) in.x0;
        for (int x = 0; x < cw; x++) {
            float v = (float) abs(s_gray(img, base + (size_t) x) - bg);
            s_splat(row, n, offx + x * k, k, v);
        }
    }
    for (int y = 0; y < ch; y++) {
        const float *row = self->rows + (size_t) y * (size_t) n;
        double a = offy + y * k, b = a + k;
        int r0 = SHOP_MAX((int) floor(a), 0), r1 = SHOP_MIN((int) ceil(b), n);
        for (int r = r0; r < r1; r++) {
            double lo = a > r ? a : r, hi = b < r + 1 ? b : r + 1;
            if (hi <= lo)
                continue;
            float wgt = (float) (hi - lo);
            float *dst = self->acc + (size_t) r * (size_t) n;
            for (int c = 0; c < n; c++)
                dst[c] += wgt * row[c];
        }
    }
    /* Fashion-MNIST thumbnails are level-stretched: the brightest pixel of
     * 92% of them is exactly 255 and of all of them at least 204 (measured
     * on the test set), so a dim product is brought up to the same range */
    size_t nn = (size_t) n * (size_t) n;
    float vmax = 0;
    for (size_t i = 0; i < nn; i++)
        vmax = self->acc[i] > vmax ? self->acc[i] : vmax;
    if (vmax >= 8.0f) {
        float k255 = 255.0f / vmax;
        for (size_t i = 0; i < nn; i++)
            self->acc[i] *= k255;
    }
    if (info)
        *info = in;
    return 0;
}

int
vision_prep_run(vision_prep_t *prep, const vision_image_t *img, float *out,
                vision_prep_info_t *info)
{
    if (s_run(prep, img, info) < 0)
        return -1;
    size_t nn = (size_t) prep->spec.size * (size_t) prep->spec.size;
    float inv = 1.0f / prep->spec.std;
    for (size_t i = 0; i < nn; i++) {
        float v = prep->acc[i];
        v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
        out[i] = (v / 255.0f - prep->spec.mean) * inv;
    }
    return 0;
}

int
vision_prep_run_u8(vision_prep_t *prep, const vision_image_t *img, unsigned char *out8,
                   vision_prep_info_t *info)
{
    if (s_run(prep, img, info) < 0)
        return -1;
    size_t nn = (size_t) prep->spec.size * (size_t) prep->spec.size;
    for (size_t i = 0; i < nn; i++) {
        float v = prep->acc[i] + 0.5f;
        out8[i] = (unsigned char) (v < 0.0f ? 0 : v > 255.0f ? 255 : (int) v);
    }
    return 0;
}
