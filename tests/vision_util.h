/* tests/vision_util.h: photo-like renders of Fashion-MNIST products for the
 * vision tests and tests/vision_mkdata (never part of a library). */
#ifndef SHOP_TESTS_VISION_UTIL_H
#define SHOP_TESTS_VISION_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Renders a 28x28 light-on-black item as a w x h RGB photo: the product,
 * scaled by bilinear interpolation so its box is `fill` of the shorter side
 * and centred at (cx, cy) in 0..1, in colour fg on background bg, with a
 * slight brightness gradient across the background and noise of +-noise
 * levels (seeded). Returns a malloc'd w*h*3 buffer. */
uint8_t *vt_render(const uint8_t *item28, int w, int h, float fill, float cx, float cy,
                   const uint8_t fg[3], const uint8_t bg[3], int noise, uint32_t seed);

/* Encodes RGB pixels as JPEG (quality q) / PNG / BMP into a malloc'd buffer,
 * length in *len. Returns NULL on failure. */
uint8_t *vt_encode_jpeg(const uint8_t *rgb, int w, int h, int q, size_t *len);
uint8_t *vt_encode_png(const uint8_t *px, int w, int h, int channels, size_t *len);
uint8_t *vt_encode_bmp(const uint8_t *rgb, int w, int h, size_t *len);

/* Writes len bytes to path; returns 0 or -1. */
int vt_write(const char *path, const void *data, size_t len);

#endif
