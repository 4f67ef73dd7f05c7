/* tests/jpeg_prog.c: see jpeg_prog.h */
#include "tests/jpeg_prog.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

/* The end of the segment or scan that starts at marker offset i (p[i] ==
 * 0xFF): for SOS the end of its entropy-coded data. Returns 0 when cut. */
static size_t
s_segment_end(const uint8_t *p, size_t n, size_t i)
{
    if (i + 4 > n)
        return 0;
    uint8_t m = p[i + 1];
    if (m == 0xD8 || m == 0xD9 || (m >= 0xD0 && m <= 0xD7))
        return i + 2;
    size_t end = i + 2 + ((size_t) p[i + 2] << 8 | p[i + 3]);
    if (end > n)
        return 0;
    if (m != 0xDA)
        return end;
    while (end + 1 < n) {
        if (p[end] == 0xFF && p[end + 1] != 0x00 && !(p[end + 1] >= 0xD0 && p[end + 1] <= 0xD7))
            return end;
        end++;
    }
    return 0;
}

int
jp_count_scans(const uint8_t *p, size_t n)
{
    int scans = 0;
    size_t i = 0;
    while (i + 1 < n && p[i] == 0xFF) {
        if (p[i + 1] == 0xD9)
            return scans;
        scans += p[i + 1] == 0xDA;
        size_t end = s_segment_end(p, n, i);
        if (!end)
            return -1;
        i = end;
    }
    return -1;
}

uint8_t *
jp_progressive(const uint8_t *px, int w, int h, int channels, int q, int extra, size_t *len,
               int *scans)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long blen = 0;
    jpeg_mem_dest(&c, &buf, &blen);
    c.image_width = (JDIMENSION) w;
    c.image_height = (JDIMENSION) h;
    c.input_components = channels;
    c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, q, TRUE);
    jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW) (px + (size_t) c.next_scanline * (size_t) w * (size_t) channels);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    /* find the first AC first scan: Ss > 0, Ah = 0 */
    size_t i = 2, s0 = 0, s1 = 0;
    while (i + 4 <= blen && buf[i] == 0xFF && buf[i + 1] != 0xD9) {
        size_t end = s_segment_end(buf, blen, i);
        if (!end)
            break;
        if (buf[i + 1] == 0xDA && !s1) {
            const uint8_t *h0 = buf + i + 4;
            size_t ns = h0[0];
            uint8_t ss = h0[1 + 2 * ns], ah = h0[3 + 2 * ns] >> 4;
            if (ss > 0 && ah == 0) {
                s0 = i;
                s1 = end;
            }
        }
        i = end;
    }
    if (!s1) {
        free(buf);
        return NULL;
    }
    size_t one = s1 - s0;
    size_t out_len = blen + (size_t) extra * one;
    uint8_t *out = malloc(out_len);
    memcpy(out, buf, s1);
    for (int k = 0; k < extra; k++)
        memcpy(out + s1 + (size_t) k * one, buf + s0, one);
    memcpy(out + s1 + (size_t) extra * one, buf + s1, blen - s1);
    free(buf);
    *len = out_len;
    *scans = jp_count_scans(out, out_len);
    return out;
}
