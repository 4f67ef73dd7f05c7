/* tests/jpeg_prog.h: progressive JPEGs made with libjpeg (an encoder
 * independent of the decoder under test) for the scan-limit and slow-photo
 * tests (never part of libshop). */
#ifndef SHOP_TESTS_JPEG_PROG_H
#define SHOP_TESTS_JPEG_PROG_H

#include <stddef.h>
#include <stdint.h>

/* Encodes w x h pixels of `channels` (1 gray, 3 RGB) as a progressive JPEG
 * with libjpeg's standard scan script at quality q, then repeats its first
 * AC first scan (spectral selection, no refinement: decoding it again
 * writes the same coefficients, so the image decodes to exactly the same
 * pixels) `extra` more times right after itself. Returns the malloc'd file
 * (*len bytes) and its number of scans in *scans, or NULL when libjpeg
 * fails. */
uint8_t *jp_progressive(const uint8_t *px, int w, int h, int channels, int q, int extra,
                        size_t *len, int *scans);

/* The number of SOS markers in a JPEG file (scans), walking its segments
 * and entropy-coded data; -1 when the markers cannot be followed. */
int jp_count_scans(const uint8_t *p, size_t n);

#endif
