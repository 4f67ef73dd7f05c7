/* vision/preprocess.c: photo -> Fashion-MNIST-like input (see preprocess.h). */
#include "config.h"

#include "vision/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* rows resampled together (independent sums the CPU can overlap) */
#define S_ROWS 4

struct _vision_prep_t {
    vision_prep_spec_t spec;  /* output size and normalisation */
    float *rows;              /* crop height x (size + span): horizontally resampled rows */
    size_t rows_cap;          /* floats allocated in rows */
    int *count;               /* foreground pixels per row, then per column */
    size_t count_cap;         /* ints allocated in count */
    uint8_t *gray;            /* S_ROWS rows of an RGB image in gray levels */
    size_t gray_cap;          /* bytes allocated in gray */
    int *cell;                /* crop column -> first output column it overlaps */
    size_t cell_cap;          /* ints allocated in cell */
    float *wgt;               /* crop column -> its overlap with `span` columns from cell */
    size_t wgt_cap;           /* floats allocated in wgt */
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
    free(self->gray);
    free(self->cell);
    free(self->wgt);
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

/* Row y of img in gray levels: the image's own row when it is gray, else
 * converted into row `slot` (0..S_ROWS-1) of the workspace. */
static const uint8_t *
s_row(vision_prep_t *self, const vision_image_t *img, int y, int slot)
{
    size_t w = (size_t) img->w, base = (size_t) y * w;
    if (img->channels == 1)
        return img->px + base;
    uint8_t *g = self->gray + (size_t) slot * w;
    for (size_t x = 0; x < w; x++)
        g[x] = (uint8_t) s_gray(img, base + x);
    return g;
}

/* Counts the pixels of row p (w of them) outside [lo, hi] into colc[x] and
 * returns their number. Written in blocks of 16 so that the compiler turns
 * the block into vector compares at -O2: this pass reads every pixel. */
static int
s_count_row(const uint8_t *restrict p, int *restrict colc, int w, uint8_t lo, uint8_t hi)
{
    int fg = 0, x = 0;
    for (; x + 16 <= w; x += 16)
        for (int j = 0; j < 16; j++) {
            int f = (p[x + j] < lo) | (p[x + j] > hi);
            colc[x + j] += f;
            fg += f;
        }
    for (; x < w; x++) {
        int f = (p[x] < lo) | (p[x] > hi);
        colc[x] += f;
        fg += f;
    }
    return fg;
}

/* Resamples S_ROWS crop rows src[r] (cw pixels each) into out[r] (zeroed,
 * padded) for a photo larger than the input, where every pixel overlaps
 * output columns cell[x] and cell[x] + 1 by colw[2x] and colw[2x + 1].
 * Each output column is summed in a register in the same order as pixel by
 * pixel into memory (the column a pixel starts in moves up by one at a
 * time), so the result is the same to the bit; the rows are independent
 * sums, interleaved so that the adds do not wait on each other. */
static void
s_splat_rows(const uint8_t *const src[S_ROWS], float *const out[S_ROWS], int cw,
             const int *cell, const float *colw, const float dist[256])
{
    float s0[S_ROWS] = { 0 }, s1[S_ROWS] = { 0 };
    int cur = cell[0];
    for (int x = 0; x < cw; x++) {
        if (cell[x] != cur) {
            /* the next column; a jump further (not seen with k <= 1, but
             * rounding is not ours to bet on) closes both sums */
            bool next = cell[x] == cur + 1;
            for (int r = 0; r < S_ROWS; r++) {
                out[r][cur] = s0[r];
                if (!next)
                    out[r][cur + 1] = s1[r];
                s0[r] = next ? s1[r] : 0.0f;
                s1[r] = 0.0f;
            }
            cur = cell[x];
        }
        float w0 = colw[2 * x], w1 = colw[2 * x + 1];
        for (int r = 0; r < S_ROWS; r++) {
            float v = dist[src[r][x]];
            s0[r] += w0 * v;
            s1[r] += w1 * v;
        }
    }
    for (int r = 0; r < S_ROWS; r++) {
        out[r][cur] = s0[r];
        out[r][cur + 1] = s1[r];
    }
}

/* Grows *buf to hold need elements of size sz (contents not kept). */
static void
s_reserve(void **buf, size_t *cap, size_t need, size_t sz)
{
    if (*cap >= need)
        return;
    free(*buf);
    *buf = xmallocarray(need, sz);
    *cap = need;
}

/* Fills the column table for cw crop columns of width k starting at offx in
 * n output columns: column x overlaps output columns cell[x] .. cell[x] +
 * span - 1 by wgt[x * span + t] each (0 past its last one). The weights are
 * the exact overlaps, computed once per column instead of once per pixel.
 * Returns span. */
static int
s_columns(vision_prep_t *self, int cw, int n, double offx, double k)
{
    /* a source pixel k wide covers at most ceil(k) + 1 output columns */
    int span = (int) ceil(k) + 1;
    s_reserve((void **) &self->cell, &self->cell_cap, (size_t) cw, sizeof(int));
    s_reserve((void **) &self->wgt, &self->wgt_cap, (size_t) cw * (size_t) span, sizeof(float));
    for (int x = 0; x < cw; x++) {
        double a = offx + x * k, b = a + k;
        int c0 = SHOP_MAX((int) floor(a), 0), c1 = SHOP_MIN((int) ceil(b), n);
        float *wx = self->wgt + (size_t) x * (size_t) span;
        self->cell[x] = c0;
        for (int t = 0; t < span; t++) {
            int c = c0 + t;
            double lo = a > c ? a : c, hi = b < c + 1 ? b : c + 1;
            wx[t] = c < c1 && hi > lo ? (float) (hi - lo) : 0.0f;
        }
    }
    return span;
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

    s_reserve((void **) &self->count, &self->count_cap, (size_t) w + (size_t) h, sizeof(int));
    if (img->channels != 1)
        s_reserve((void **) &self->gray, &self->gray_cap, (size_t) w * S_ROWS, 1);
    int *rowc = self->count, *colc = self->count + h;
    memset(colc, 0, (size_t) w * sizeof(int));
    /* |v - bg| > thr means v outside [bg - thr, bg + thr], clamped to 0..255
     * (nothing is below 0 or above 255) */
    uint8_t fg_lo = (uint8_t) SHOP_MAX(bg - thr, 0), fg_hi = (uint8_t) SHOP_MIN(bg + thr, 255);
    for (int y = 0; y < h; y++)
        rowc[y] = s_count_row(s_row(self, img, y, 0), colc, w, fg_lo, fg_hi);
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
    int span = s_columns(self, cw, n, offx, k);
    /* rows are padded by span columns so every pixel adds to span cells
     * (with weight 0 past its last) without a bounds test */
    size_t stride = (size_t) n + (size_t) span;
    size_t rneed = ((size_t) ch + S_ROWS) * stride;
    s_reserve((void **) &self->rows, &self->rows_cap, rneed, sizeof(float));
    memset(self->rows, 0, rneed * sizeof(float));
    /* distance from the background: negates a light background, keeps a
     * dark one */
    float dist[256];
    for (int v = 0; v < 256; v++)
        dist[v] = (float) abs(v - bg);
    for (int y = 0; y < ch; y += S_ROWS) {
        const uint8_t *src[S_ROWS];
        float *out[S_ROWS];
        /* past the crop's last row, the last row again into a row of its
         * own past the end (rows has S_ROWS spare rows) */
        for (int r = 0; r < S_ROWS; r++) {
            int yy = SHOP_MIN(y + r, ch - 1);
            src[r] = s_row(self, img, in.y0 + yy, r) + in.x0;
            out[r] = self->rows + (size_t) (y + r) * stride;
        }
        if (span == 2) {
            s_splat_rows(src, out, cw, self->cell, self->wgt, dist);
            continue;
        }
        /* a photo smaller than the input: a pixel covers up to span cells */
        for (int r = 0; r < S_ROWS; r++)
            for (int x = 0; x < cw; x++) {
                float v = dist[src[r][x]], *d = out[r] + self->cell[x];
                const float *wx = self->wgt + (size_t) x * (size_t) span;
                for (int t = 0; t < span; t++)
                    d[t] += wx[t] * v;
            }
    }
    for (int y = 0; y < ch; y++) {
        const float *row = self->rows + (size_t) y * stride;
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
