/* tests/vision_util.c: see vision_util.h. stb_image_write lives only here,
 * in test code: shopd itself never encodes images. */
#include "config.h"

#include "tests/vision_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#include "common/util.h"

static uint32_t
s_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

uint8_t *
vt_render(const uint8_t *item, int w, int h, float fill, float cx, float cy, const uint8_t fg[3],
          const uint8_t bg[3], int noise, uint32_t seed)
{
    uint8_t *out = xmallocarray((size_t) w * (size_t) h, 3);
    float side = fill * (float) (w < h ? w : h);
    float x0 = cx * (float) w - side / 2, y0 = cy * (float) h - side / 2;
    float k = 28.0f / side;
    uint32_t rng = seed * 2654435761u + 1;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            /* source coordinates of this pixel's centre in the 28x28 item */
            float sx = ((float) x + 0.5f - x0) * k - 0.5f, sy = ((float) y + 0.5f - y0) * k - 0.5f;
            float a = 0;
            if (sx > -1 && sx < 28 && sy > -1 && sy < 28) {
                int ix = (int) floorf(sx), iy = (int) floorf(sy);
                float fx = sx - (float) ix, fy = sy - (float) iy;
                float v[4];
                for (int j = 0; j < 4; j++) {
                    int px = ix + (j & 1), py = iy + (j >> 1);
                    v[j] = px >= 0 && px < 28 && py >= 0 && py < 28 ? item[py * 28 + px] : 0;
                }
                a = ((v[0] * (1 - fx) + v[1] * fx) * (1 - fy) + (v[2] * (1 - fx) + v[3] * fx) * fy)
                    / 255.0f;
            }
            /* the background darkens by up to 6% towards the bottom right */
            float shade = 1.0f - 0.06f * ((float) x / (float) w + (float) y / (float) h) / 2;
            uint8_t *p = out + ((size_t) y * (size_t) w + (size_t) x) * 3;
            for (int c = 0; c < 3; c++) {
                float v = (float) bg[c] * shade * (1 - a) + (float) fg[c] * a;
                if (noise > 0)
                    v += (float) ((int) (s_rand(&rng) % (uint32_t) (2 * noise + 1)) - noise);
                p[c] = (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
            }
        }
    }
    return out;
}

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} s_sink_t;

static void
s_sink(void *ctx, void *data, int size)
{
    s_sink_t *s = ctx;
    if (s->len + (size_t) size > s->cap) {
        s->cap = (s->len + (size_t) size) * 2;
        s->buf = xrealloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, data, (size_t) size);
    s->len += (size_t) size;
}

uint8_t *
vt_encode_jpeg(const uint8_t *rgb, int w, int h, int q, size_t *len)
{
    s_sink_t s = { 0 };
    if (!stbi_write_jpg_to_func(s_sink, &s, w, h, 3, rgb, q)) {
        free(s.buf);
        return NULL;
    }
    *len = s.len;
    return s.buf;
}

uint8_t *
vt_encode_png(const uint8_t *px, int w, int h, int channels, size_t *len)
{
    s_sink_t s = { 0 };
    if (!stbi_write_png_to_func(s_sink, &s, w, h, channels, px, w * channels)) {
        free(s.buf);
        return NULL;
    }
    *len = s.len;
    return s.buf;
}

uint8_t *
vt_encode_bmp(const uint8_t *rgb, int w, int h, size_t *len)
{
    s_sink_t s = { 0 };
    if (!stbi_write_bmp_to_func(s_sink, &s, w, h, 3, rgb)) {
        free(s.buf);
        return NULL;
    }
    *len = s.len;
    return s.buf;
}

int
vt_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}
