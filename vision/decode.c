/* vision/decode.c: the one translation unit that includes stb_image.
 *
 * stb_image is compiled here with only the JPEG, PNG and BMP decoders, no
 * stdio, no HDR/linear paths and its symbols kept static, so nothing else in
 * shopd can reach a decoder we did not vet. stb_image trusts its input more
 * than we do: it decodes a JPEG cut short as if the rest were zeros and a
 * short BMP as black rows, so before decoding we walk the container
 * ourselves (JPEG markers, PNG chunks, BMP header) to find the dimensions and
 * to reject truncated data with a precise message. */
#include "config.h"

#include "vision/decode.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_NO_GIF
/* our own checks enforce the caller's limits first; this is a backstop */
#define STBI_MAX_DIMENSIONS (1 << 16)
/* file-wide: stb declares some static functions it never defines, which GCC
 * reports at the end of the unit */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
/* the system's stb_image.h with our guard applied by the build
 * (vision/stb_image-shift.patch, vision/stb.mk) */
#include "vision/stb_image_patched.h"
#pragma GCC diagnostic pop

static const char *
s_format_name(vision_format_t f)
{
    switch (f) {
    case VISION_FMT_JPEG: return "JPEG";
    case VISION_FMT_PNG: return "PNG";
    case VISION_FMT_BMP: return "BMP";
    default: return "unknown";
    }
}

vision_format_t
vision_detect_format(const uint8_t *b, size_t n)
{
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return VISION_FMT_JPEG;
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return VISION_FMT_PNG;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M')
        return VISION_FMT_BMP;
    return VISION_FMT_UNKNOWN;
}

/* Names formats we recognise but refuse, so the user learns what they sent. */
static void
s_explain_unknown(const uint8_t *b, size_t n, char *err, size_t errlen)
{
    static const struct {
        const char *magic;
        size_t len, off;
        const char *name;
    } known[] = {
        { "GIF87a", 6, 0, "GIF" },     { "GIF89a", 6, 0, "GIF" },
        { "II*\0", 4, 0, "TIFF" },     { "MM\0*", 4, 0, "TIFF" },
        { "WEBP", 4, 8, "WebP" },      { "8BPS", 4, 0, "PSD" },
        { "#?RADIANCE", 10, 0, "HDR" }, { "ftypheic", 8, 4, "HEIC" },
        { "ftypavif", 8, 4, "AVIF" },  { "%PDF", 4, 0, "PDF" },
        { "\0\0\1\0", 4, 0, "ICO" },   { "qoif", 4, 0, "QOI" },
    };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(known); i++) {
        if (n >= known[i].off + known[i].len
            && memcmp(b + known[i].off, known[i].magic, known[i].len) == 0) {
            shop_errf(err, errlen, "unsupported format: %s (JPEG, PNG and BMP are accepted)",
                      known[i].name);
            return;
        }
    }
    if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') {
        shop_errf(err, errlen, "unsupported format: PNM (JPEG, PNG and BMP are accepted)");
        return;
    }
    size_t look = SHOP_MIN(n, (size_t) 512), printable = 0;
    for (size_t i = 0; i < look; i++)
        if (isprint(b[i]) || isspace(b[i]) || b[i] >= 0x80)
            printable++;
    if (printable == look) {
        shop_errf(err, errlen, "unsupported format: text, not an image");
        return;
    }
    char hex[3 * 8 + 1] = "";
    for (size_t i = 0; i < SHOP_MIN(n, (size_t) 8); i++)
        snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", b[i]);
    if (hex[0])
        hex[strlen(hex) - 1] = 0;
    shop_errf(err, errlen, "unsupported format: not a JPEG, PNG or BMP (starts with %s)", hex);
}

static uint32_t
s_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint32_t
s_le32(const uint8_t *p)
{
    return (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0];
}

static uint16_t
s_le16(const uint8_t *p)
{
    return (uint16_t) (p[1] << 8 | p[0]);
}

static bool
s_is_sof(uint8_t m)
{
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* Checks the tables of a DHT segment (p, n: its payload). stb_image 2.27
 * copies a table's symbols into 256-entry arrays without checking that its
 * 16 code counts sum to at most 256 (upstream fixed it in 2.28): a forged
 * table overran the decoder's state (found by fuzz/vision_decode_fuzz with
 * UBSan). Sets the bit (class * 4 + id) of each table defined in *defined.
 * Returns 0, or -1 with a message. */
static int
s_jpeg_dht_check(const uint8_t *p, size_t n, unsigned *defined, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < n) {
        if (n - i < 17) {
            shop_errf(err, errlen, "corrupt JPEG: Huffman table header cut short");
            return -1;
        }
        unsigned tc = p[i] >> 4, th = p[i] & 15;
        if (tc > 1 || th > 3) {
            shop_errf(err, errlen, "corrupt JPEG: Huffman table class %u id %u", tc, th);
            return -1;
        }
        *defined |= 1u << (tc * 4 + th);
        size_t codes = 0;
        for (size_t k = 1; k <= 16; k++)
            codes += p[i + k];
        if (codes > 256) {
            shop_errf(err, errlen, "corrupt JPEG: Huffman table of %zu codes (at most 256)", codes);
            return -1;
        }
        if (codes > n - i - 17) {
            shop_errf(err, errlen, "corrupt JPEG: Huffman table longer than its segment");
            return -1;
        }
        i += 17 + codes;
    }
    return 0;
}

/* Checks that a scan header (p, n: the SOS payload) uses only Huffman tables
 * defined before it. stb_image 2.27 does not check this and decodes with a
 * table it never filled in: an index from uninitialised memory
 * (fuzz/vision_decode_fuzz, fuzz/corpus/vision_decode/undefined-huffman.jpg).
 * A progressive scan needs DC tables only in a first DC scan and AC tables
 * only in AC scans. Returns 0, or -1 with a message. */
static int
s_jpeg_sos_check(const uint8_t *p, size_t n, bool progressive, unsigned tables, char *err,
                 size_t errlen)
{
    if (n < 1 || n < 1 + 2 * (size_t) p[0] + 3) {
        shop_errf(err, errlen, "corrupt JPEG: short scan header");
        return -1;
    }
    size_t ns = p[0];
    unsigned ss = p[1 + 2 * ns], ah = p[3 + 2 * ns] >> 4;
    bool need_dc = !progressive || (ss == 0 && ah == 0);
    bool need_ac = !progressive || ss != 0;
    for (size_t k = 0; k < ns; k++) {
        unsigned td = p[2 + 2 * k] >> 4, ta = p[2 + 2 * k] & 15;
        if (need_dc && (td > 3 || !(tables & (1u << td)))) {
            shop_errf(err, errlen,
                      "corrupt JPEG: scan uses DC Huffman table %u, never defined", td);
            return -1;
        }
        if (need_ac && (ta > 3 || !(tables & (1u << (4 + ta))))) {
            shop_errf(err, errlen,
                      "corrupt JPEG: scan uses AC Huffman table %u, never defined", ta);
            return -1;
        }
    }
    return 0;
}

/* Walks the JPEG marker segments and entropy-coded data up to the EOI
 * marker. Returns 0 with the frame size in *w, *h, or -1 with a message. */
static int
s_jpeg_scan(const uint8_t *p, size_t n, uint32_t *w, uint32_t *h, char *err, size_t errlen)
{
    size_t i = 2;
    bool have_sof = false, progressive = false;
    int scans = 0;
    unsigned tables = 0; /* Huffman tables defined so far: bit class * 4 + id */
    *w = *h = 0;
    for (;;) {
        if (i >= n)
            goto truncated;
        if (p[i] != 0xFF) {
            shop_errf(err, errlen, "corrupt JPEG: expected a marker at byte %zu", i);
            return -1;
        }
        while (i < n && p[i] == 0xFF)
            i++;
        if (i >= n)
            goto truncated;
        uint8_t m = p[i++];
        if (m == 0xD9) {
            if (!have_sof) {
                shop_errf(err, errlen, "corrupt JPEG: no frame header");
                return -1;
            }
            return 0;
        }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8))
            continue; /* markers without a length */
        if (n - i < 2)
            goto truncated;
        size_t len = (size_t) p[i] << 8 | p[i + 1];
        if (len < 2) {
            shop_errf(err, errlen, "corrupt JPEG: segment length %zu at byte %zu", len, i);
            return -1;
        }
        if (n - i < len)
            goto truncated;
        if (s_is_sof(m)) {
            if (len < 8) {
                shop_errf(err, errlen, "corrupt JPEG: short frame header");
                return -1;
            }
            *h = (uint32_t) p[i + 3] << 8 | p[i + 4];
            *w = (uint32_t) p[i + 5] << 8 | p[i + 6];
            have_sof = true;
        }
        if (s_is_sof(m))
            progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE;
        if (m == 0xC4 && s_jpeg_dht_check(p + i + 2, len - 2, &tables, err, errlen) != 0)
            return -1;
        if (m == 0xDA && ++scans > VISION_MAX_JPEG_SCANS) {
            shop_errf(err, errlen, "JPEG of more than %d scans refused (encoders write a dozen "
                      "at most; each costs a pass over the whole image)", VISION_MAX_JPEG_SCANS);
            return -1;
        }
        if (m == 0xDA && s_jpeg_sos_check(p + i + 2, len - 2, progressive, tables, err,
                                          errlen) != 0)
            return -1;
        i += len;
        if (m != 0xDA)
            continue;
        /* entropy-coded data: runs until a marker other than RSTn or a
         * stuffed 0xFF00 */
        for (;;) {
            if (n - i < 2)
                goto truncated;
            if (p[i] == 0xFF && p[i + 1] != 0x00 && p[i + 1] != 0xFF
                && !(p[i + 1] >= 0xD0 && p[i + 1] <= 0xD7))
                break;
            i++;
        }
    }
truncated:
    shop_errf(err, errlen, "truncated JPEG (no end-of-image marker in %zu bytes)", n);
    return -1;
}

/* Walks the PNG chunks up to IEND. Returns 0 with the size from IHDR. */
static int
s_png_scan(const uint8_t *p, size_t n, uint32_t *w, uint32_t *h, char *err, size_t errlen)
{
    size_t i = 8;
    if (n < 8 + 8 + 13 + 4 || memcmp(p + 12, "IHDR", 4) != 0 || s_be32(p + 8) != 13) {
        shop_errf(err, errlen, n < 33 ? "truncated PNG (%zu bytes, no complete header)"
                                  : "corrupt PNG: first chunk is not IHDR (%zu bytes)", n);
        return -1;
    }
    *w = s_be32(p + 16);
    *h = s_be32(p + 20);
    while (n - i >= 12) {
        uint32_t len = s_be32(p + i);
        if (len > 0x7FFFFFFFu) {
            shop_errf(err, errlen, "corrupt PNG: chunk length %u at byte %zu", len, i);
            return -1;
        }
        if (memcmp(p + i + 4, "IEND", 4) == 0)
            return 0;
        if (n - i - 12 < len)
            break;
        i += 12 + (size_t) len;
    }
    shop_errf(err, errlen, "truncated PNG (no IEND chunk in %zu bytes)", n);
    return -1;
}

/* Reads the BMP header; for uncompressed pixel data, checks it is all there. */
static int
s_bmp_scan(const uint8_t *p, size_t n, uint32_t *w, uint32_t *h, char *err, size_t errlen)
{
    if (n < 26) {
        shop_errf(err, errlen, "truncated BMP (%zu bytes, no complete header)", n);
        return -1;
    }
    uint32_t off = s_le32(p + 10), hsz = s_le32(p + 14);
    int64_t sw, sh;
    uint32_t bpp, comp = 0;
    if (hsz == 12) {
        sw = s_le16(p + 18);
        sh = s_le16(p + 20);
        bpp = s_le16(p + 24);
    } else if (hsz >= 40 && n >= 34) {
        sw = (int32_t) s_le32(p + 18);
        sh = (int32_t) s_le32(p + 22);
        bpp = s_le16(p + 28);
        comp = s_le32(p + 30);
    } else {
        shop_errf(err, errlen, "corrupt BMP: header size %u", hsz);
        return -1;
    }
    if (sw <= 0 || sh == 0 || sw > UINT32_MAX || llabs(sh) > UINT32_MAX) {
        shop_errf(err, errlen, "corrupt BMP: size %lldx%lld", (long long) sw, (long long) sh);
        return -1;
    }
    *w = (uint32_t) sw;
    *h = (uint32_t) llabs(sh);
    if ((comp == 0 || comp == 3) && bpp >= 1 && bpp <= 32) {
        uint64_t row = ((uint64_t) *w * bpp + 31) / 32 * 4;
        uint64_t need = (uint64_t) off + row * *h;
        /* overflow-free: w, h < 2^32, bpp <= 32 */
        if (need > n) {
            shop_errf(err, errlen, "truncated BMP (%zu bytes, pixel data needs %llu)", n,
                      (unsigned long long) need);
            return -1;
        }
    }
    return 0;
}

int
vision_image_alloc(vision_image_t *img, int w, int h, int channels)
{
    memset(img, 0, sizeof *img);
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3)
        || (uint64_t) w * (uint64_t) h > (uint64_t) INT_MAX / 3)
        return -1;
    img->px = xcalloc((size_t) w * (size_t) h, (size_t) channels);
    img->w = w;
    img->h = h;
    img->channels = channels;
    return 0;
}

void
vision_image_release(vision_image_t *img)
{
    if (!img)
        return;
    free(img->px);
    memset(img, 0, sizeof *img);
}

/* Composites 4- or 2-channel pixels onto white (product photos with a
 * transparent background are meant to be seen on a page) into out_ch. */
static uint8_t *
s_flatten_alpha(const uint8_t *src, int w, int h, int src_ch, int out_ch)
{
    size_t npx = (size_t) w * (size_t) h;
    uint8_t *dst = xmallocarray(npx, (size_t) out_ch);
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *s = src + i * (size_t) src_ch;
        unsigned a = s[src_ch - 1];
        unsigned rgb[3];
        for (int c = 0; c < 3; c++) {
            unsigned v = src_ch == 4 ? s[c] : s[0];
            rgb[c] = (v * a + 255u * (255u - a) + 127u) / 255u;
        }
        if (out_ch == 3) {
            for (int c = 0; c < 3; c++)
                dst[i * 3 + (size_t) c] = (uint8_t) rgb[c];
        } else {
            dst[i] = (uint8_t) ((77u * rgb[0] + 150u * rgb[1] + 29u * rgb[2] + 128u) >> 8);
        }
    }
    return dst;
}

int
vision_decode_mem(const uint8_t *bytes, size_t len, const vision_limits_t *limits,
                  int channels, vision_image_t *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    if (channels != 1 && channels != 3) {
        shop_errf(err, errlen, "invalid request: %d channels (1 or 3)", channels);
        return -1;
    }
    size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : VISION_DEFAULT_MAX_BYTES;
    uint64_t max_pixels = limits && limits->max_pixels ? limits->max_pixels
                                                       : VISION_DEFAULT_MAX_PIXELS;
    int max_side = limits && limits->max_side > 0 ? limits->max_side : VISION_DEFAULT_MAX_SIDE;
    max_bytes = SHOP_MIN(max_bytes, (size_t) INT_MAX);
    max_side = SHOP_MIN(max_side, 1 << 16);

    if (!bytes || len == 0) {
        shop_errf(err, errlen, "empty input (0 bytes), not an image");
        return -1;
    }
    if (len > max_bytes) {
        shop_errf(err, errlen, "input of %zu bytes exceeds limit of %zu bytes", len, max_bytes);
        return -1;
    }
    vision_format_t fmt = vision_detect_format(bytes, len);
    uint32_t w = 0, h = 0;
    int rc;
    switch (fmt) {
    case VISION_FMT_JPEG: rc = s_jpeg_scan(bytes, len, &w, &h, err, errlen); break;
    case VISION_FMT_PNG: rc = s_png_scan(bytes, len, &w, &h, err, errlen); break;
    case VISION_FMT_BMP: rc = s_bmp_scan(bytes, len, &w, &h, err, errlen); break;
    default:
        s_explain_unknown(bytes, len, err, errlen);
        return -1;
    }
    if (rc < 0)
        return -1;
    if (w == 0 || h == 0) {
        shop_errf(err, errlen, "corrupt %s: image size %ux%u", s_format_name(fmt), w, h);
        return -1;
    }
    if (w > (uint32_t) max_side || h > (uint32_t) max_side
        || (uint64_t) w * h > max_pixels) {
        shop_errf(err, errlen, "image %ux%u exceeds limit (%llu pixels, %d on a side)", w, h,
                  (unsigned long long) max_pixels, max_side);
        return -1;
    }
    int x = 0, y = 0, comp = 0;
    if (!stbi_info_from_memory(bytes, (int) len, &x, &y, &comp)) {
        shop_errf(err, errlen, "corrupt %s: %s", s_format_name(fmt), stbi_failure_reason());
        return -1;
    }
    if ((uint32_t) x != w || (uint32_t) y != h) {
        shop_errf(err, errlen, "corrupt %s: header says %ux%u, decoder sees %dx%d",
                  s_format_name(fmt), w, h, x, y);
        return -1;
    }
    bool alpha = comp == 2 || comp == 4;
    int want = alpha ? comp : channels;
    int dx = 0, dy = 0, dcomp = 0;
    uint8_t *px = stbi_load_from_memory(bytes, (int) len, &dx, &dy, &dcomp, want);
    if (!px) {
        shop_errf(err, errlen, "corrupt %s: %s", s_format_name(fmt), stbi_failure_reason());
        return -1;
    }
    if (dx != x || dy != y) {
        stbi_image_free(px);
        shop_errf(err, errlen, "corrupt %s: size changed while decoding", s_format_name(fmt));
        return -1;
    }
    if (alpha) {
        uint8_t *flat = s_flatten_alpha(px, dx, dy, comp, channels);
        stbi_image_free(px);
        px = flat;
    }
    img->w = dx;
    img->h = dy;
    img->channels = channels;
    img->px = px;
    return 0;
}

int
vision_decode_file(const char *path, const vision_limits_t *limits, int channels,
                   vision_image_t *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : VISION_DEFAULT_MAX_BYTES;
    size_t len = 0;
    char rerr[256] = "";
    uint8_t *buf = shop_read_file(path, max_bytes, &len, rerr, sizeof rerr);
    if (!buf) {
        shop_errf(err, errlen, "%s", rerr[0] ? rerr : strerror(errno));
        return -1;
    }
    char derr[256] = "";
    int rc = vision_decode_mem(buf, len, limits, channels, img, derr, sizeof derr);
    free(buf);
    if (rc < 0)
        shop_errf(err, errlen, "%s: %s", path, derr);
    return rc;
}
