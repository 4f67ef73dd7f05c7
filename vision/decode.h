/* vision/decode.h: untrusted image bytes -> 8-bit pixels.
 *
 * The one place in shopd that runs stb_image, built with the JPEG, PNG and BMP
 * decoders only. Input is decoded from memory, never from a path: the caller
 * reads the file (or receives the bytes) and the daemon runs this in its
 * unprivileged decoder worker. Before any pixel is decoded the format is told
 * from its magic bytes, the size is checked against the limits, the header is
 * read with stbi_info_from_memory and the dimensions are checked, and JPEG
 * and BMP data are checked for truncation (stb_image pads a short JPEG with
 * zeros instead of failing), and a JPEG of more than VISION_MAX_JPEG_SCANS
 * scans is refused before any is decoded. Every refusal comes with a sentence a user can
 * read, e.g. "truncated JPEG (no end-of-image marker)". */
#ifndef SHOP_VISION_DECODE_H
#define SHOP_VISION_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest input and image accepted by default: 64 MiB, 24 megapixels
 * (6000x4000), 16384 pixels on a side. */
#define VISION_DEFAULT_MAX_BYTES ((size_t) 64 << 20)
#define VISION_DEFAULT_MAX_PIXELS ((uint64_t) 24000000)
#define VISION_DEFAULT_MAX_SIDE 16384
/* Most scans a JPEG may have. stb_image walks every block of the image once
 * per scan, so a small file of many empty progressive scans costs seconds
 * (1,500 scans over 6000x4000: 3.5 s here, against 0.16 s for the 10 scans
 * of libjpeg's own progressive script); encoders write 10 or fewer for
 * colour (libjpeg, mozjpeg's searched scripts a few more). */
#define VISION_MAX_JPEG_SCANS 100

typedef enum {
    VISION_FMT_UNKNOWN = 0,
    VISION_FMT_JPEG,
    VISION_FMT_PNG,
    VISION_FMT_BMP,
} vision_format_t;

/* What a caller accepts. Zero fields mean "the default". */
typedef struct {
    size_t max_bytes;     /* largest encoded input */
    uint64_t max_pixels;  /* largest width*height */
    int max_side;         /* largest width or height */
} vision_limits_t;

/* An owned 8-bit image, rows top to bottom without padding. */
typedef struct {
    int w, h;             /* size in pixels */
    int channels;         /* 1 (gray) or 3 (RGB) */
    uint8_t *px;          /* w*h*channels bytes, owned (vision_image_release frees) */
} vision_image_t;

/* Names the format from the first bytes; VISION_FMT_UNKNOWN otherwise. */
vision_format_t vision_detect_format(const uint8_t *bytes, size_t len);

/* Decodes len bytes of a JPEG, PNG or BMP into *img with the requested
 * channels (1 = gray, 3 = RGB). limits may be NULL for the defaults.
 * Returns 0 and fills *img (the caller releases it with vision_image_release),
 * or -1 with *img zeroed and a message in err (errlen bytes, may be 0). */
int vision_decode_mem(const uint8_t *bytes, size_t len, const vision_limits_t *limits,
                      int channels, vision_image_t *img, char *err, size_t errlen);

/* Reads a file of at most limits->max_bytes and decodes it as above. */
int vision_decode_file(const char *path, const vision_limits_t *limits, int channels,
                       vision_image_t *img, char *err, size_t errlen);

/* Allocates an image of w x h x channels, zero-filled (aborts on OOM; the
 * caller checks sizes first). Returns 0, or -1 when the size is invalid. */
int vision_image_alloc(vision_image_t *img, int w, int h, int channels);

/* Frees the pixels and zeroes the struct; safe on a zeroed struct and twice. */
void vision_image_release(vision_image_t *img);

#endif
