/* vision/avi.c: see avi.h */
#include "config.h"

#include "vision/avi.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "vision/camera.h"

struct _vision_avi_t {
    FILE *f;                  /* the file, owned */
    char name[256];           /* for messages */
    vision_avi_info_t info;   /* from the headers */
    char chunk_dc[4], chunk_db[4]; /* "NNdc" / "NNdb" of the video stream */
    int64_t movi_start;       /* first byte after the "movi" list type */
    int64_t movi_end;         /* end of the movi list (clamped to the file) */
    int64_t pos;              /* next chunk to read */
};

static uint32_t
s_le32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static int
s_read_at(vision_avi_t *a, int64_t pos, void *buf, size_t n)
{
    if (fseeko(a->f, (off_t) pos, SEEK_SET) != 0)
        return -1;
    return fread(buf, 1, n, a->f) == n ? 0 : -1;
}

static uint32_t
s_fourcc_of(const uint8_t *p)
{
    return VISION_FOURCC(p[0], p[1], p[2], p[3]);
}

/* Reads the stream list (strl) between pos and end; fills the video format
 * when it is the first video stream (index stream). Returns 0, 1 when the
 * stream is the video stream taken, or -1 with a message. */
static int
s_strl(vision_avi_t *a, int64_t pos, int64_t end, int stream, char *err, size_t errlen)
{
    bool video = false;
    while (end - pos >= 8) {
        uint8_t h[8];
        if (s_read_at(a, pos, h, 8) != 0)
            break;
        uint32_t size = s_le32(h + 4);
        if ((int64_t) size > end - pos - 8) {
            shop_errf(err, errlen, "%s: stream header chunk of %u bytes runs past its list",
                      a->name, size);
            return -1;
        }
        if (!memcmp(h, "strh", 4) && size >= 4) {
            uint8_t t[4];
            if (s_read_at(a, pos + 8, t, 4) != 0)
                break;
            video = !memcmp(t, "vids", 4);
        } else if (!memcmp(h, "strf", 4) && video) {
            uint8_t b[40];
            if (size < 40 || s_read_at(a, pos + 8, b, 40) != 0) {
                shop_errf(err, errlen, "%s: video format (strf) of %u bytes, not a "
                          "BITMAPINFOHEADER", a->name, size);
                return -1;
            }
            int32_t w = (int32_t) s_le32(b + 4), hh = (int32_t) s_le32(b + 8);
            uint32_t comp = s_fourcc_of(b + 16);
            if (comp == VISION_FOURCC('M', 'J', 'P', 'G') || comp == VISION_FOURCC('m', 'j', 'p', 'g'))
                a->info.fourcc = VISION_FMT_MJPEG;
            else if (comp == VISION_FOURCC('Y', 'U', 'Y', '2') || comp == VISION_FMT_YUYV)
                a->info.fourcc = VISION_FMT_YUYV;
            else {
                shop_errf(err, errlen, "%s: frames are \"%.4s\" (MJPG, YUY2 or YUYV are "
                          "read)", a->name, (const char *) b + 16);
                return -1;
            }
            /* a negative height means top-down rows; YUV frames are top-down anyway */
            int64_t ah = hh < 0 ? -(int64_t) hh : hh;
            if (w <= 0 || ah <= 0 || w > VISION_AVI_MAX_SIDE || ah > VISION_AVI_MAX_SIDE
                || (a->info.fourcc == VISION_FMT_YUYV && (w & 1))) {
                shop_errf(err, errlen, "%s: frame size %dx%lld is invalid", a->name, (int) w,
                          (long long) ah);
                return -1;
            }
            if (stream > 99) {
                shop_errf(err, errlen, "%s: the video stream is stream %d (at most 99)",
                          a->name, stream);
                return -1;
            }
            a->info.w = (int) w;
            a->info.h = (int) ah;
            a->chunk_dc[0] = (char) ('0' + stream / 10);
            a->chunk_dc[1] = (char) ('0' + stream % 10);
            memcpy(a->chunk_dc + 2, "dc", 2);
            memcpy(a->chunk_db, a->chunk_dc, 2);
            memcpy(a->chunk_db + 2, "db", 2);
            return 1;
        }
        pos += 8 + (int64_t) size + (size & 1);
    }
    return 0;
}

/* Reads the header list (hdrl) between pos and end. Returns 0 or -1. */
static int
s_hdrl(vision_avi_t *a, int64_t pos, int64_t end, char *err, size_t errlen)
{
    int stream = 0;
    bool found = false;
    while (end - pos >= 8) {
        uint8_t h[12];
        if (s_read_at(a, pos, h, 8) != 0)
            break;
        uint32_t size = s_le32(h + 4);
        if ((int64_t) size > end - pos - 8) {
            shop_errf(err, errlen, "%s: header chunk \"%.4s\" of %u bytes runs past its list",
                      a->name, (const char *) h, size);
            return -1;
        }
        if (!memcmp(h, "avih", 4) && size >= 40) {
            uint8_t m[40];
            if (s_read_at(a, pos + 8, m, 40) != 0)
                break;
            a->info.usec_per_frame = s_le32(m);
            a->info.frames = s_le32(m + 16);
        } else if (!memcmp(h, "LIST", 4) && size >= 4) {
            if (s_read_at(a, pos + 8, h + 8, 4) != 0)
                break;
            if (!memcmp(h + 8, "strl", 4)) {
                if (!found) {
                    int r = s_strl(a, pos + 12, pos + 8 + size, stream, err, errlen);
                    if (r < 0)
                        return -1;
                    found = r == 1;
                }
                stream++;
            }
        }
        pos += 8 + (int64_t) size + (size & 1);
    }
    if (!found) {
        shop_errf(err, errlen, "%s: no video stream", a->name);
        return -1;
    }
    return 0;
}

vision_avi_t *
vision_avi_open_file(FILE *f, const char *name, char *err, size_t errlen)
{
    vision_avi_t *a = xcalloc(1, sizeof *a);
    a->f = f;
    shop_strlcpy(a->name, name ? name : "recording", sizeof a->name);
    struct stat st;
    int64_t fsize;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        fsize = st.st_size;
    } else {
        /* fmemopen (the fuzzer) has no descriptor: measure by seeking */
        if (fseeko(f, 0, SEEK_END) != 0)
            goto unreadable;
        fsize = ftello(f);
    }
    uint8_t h[12];
    if (fsize < 12 || s_read_at(a, 0, h, 12) != 0 || memcmp(h, "RIFF", 4) != 0
        || memcmp(h + 8, "AVI ", 4) != 0) {
        shop_errf(err, errlen, "%s: not an AVI file (no RIFF AVI header)", a->name);
        goto fail;
    }
    /* a recording cut short (the recorder killed) keeps a size it never
     * reached: read what is there */
    int64_t end = 8 + (int64_t) s_le32(h + 4);
    if (s_le32(h + 4) == 0 || end > fsize)
        end = fsize;
    int64_t pos = 12;
    bool have_hdrl = false;
    while (end - pos >= 12) {
        if (s_read_at(a, pos, h, 12) != 0)
            goto unreadable;
        uint32_t size = s_le32(h + 4);
        int64_t cend = pos + 8 + (int64_t) size;
        if (!memcmp(h, "LIST", 4) && !memcmp(h + 8, "hdrl", 4)) {
            if (cend > end || size < 4) {
                shop_errf(err, errlen, "%s: header list of %u bytes runs past the file",
                          a->name, size);
                goto fail;
            }
            if (s_hdrl(a, pos + 12, cend, err, errlen) != 0)
                goto fail;
            have_hdrl = true;
        } else if (!memcmp(h, "LIST", 4) && !memcmp(h + 8, "movi", 4)) {
            if (!have_hdrl) {
                shop_errf(err, errlen, "%s: frames before the header list", a->name);
                goto fail;
            }
            a->movi_start = pos + 12;
            a->movi_end = size < 4 || cend > end ? end : cend;
            a->pos = a->movi_start;
            return a;
        }
        pos = cend + (size & 1);
    }
    shop_errf(err, errlen, have_hdrl ? "%s: no frames (no movi list)"
                                     : "%s: no header list (hdrl)", a->name);
    goto fail;
unreadable:
    shop_errf(err, errlen, "%s: cannot read: %s", a->name, strerror(errno));
fail:
    vision_avi_destroy(&a);
    return NULL;
}

vision_avi_t *
vision_avi_open(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        shop_errf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    return vision_avi_open_file(f, path, err, errlen);
}

void
vision_avi_destroy(vision_avi_t **avi_p)
{
    if (!avi_p || !*avi_p)
        return;
    if ((*avi_p)->f)
        fclose((*avi_p)->f);
    free(*avi_p);
    *avi_p = NULL;
}

void
vision_avi_info(const vision_avi_t *a, vision_avi_info_t *info)
{
    *info = a->info;
}

int
vision_avi_rewind(vision_avi_t *a, char *err, size_t errlen)
{
    a->pos = a->movi_start;
    return 0;
}

int
vision_avi_next(vision_avi_t *a, uint8_t **buf, size_t *cap, size_t *len, char *err,
                size_t errlen)
{
    *len = 0;
    while (a->movi_end - a->pos >= 8) {
        uint8_t h[12];
        if (s_read_at(a, a->pos, h, 8) != 0) {
            shop_errf(err, errlen, "%s: cannot read at byte %lld", a->name, (long long) a->pos);
            return -1;
        }
        uint32_t size = s_le32(h + 4);
        if ((int64_t) size > a->movi_end - a->pos - 8) {
            shop_errf(err, errlen, "%s: chunk \"%.4s\" of %u bytes at byte %lld runs past the "
                      "frames", a->name, (const char *) h, size, (long long) a->pos);
            return -1;
        }
        int64_t here = a->pos;
        a->pos += 8 + (int64_t) size + (size & 1);
        if (!memcmp(h, "LIST", 4)) {
            /* a "rec " list groups chunks: read on inside it */
            if (size >= 4 && s_read_at(a, here + 8, h + 8, 4) == 0 && !memcmp(h + 8, "rec ", 4))
                a->pos = here + 12;
            continue;
        }
        if (memcmp(h, a->chunk_dc, 4) != 0 && memcmp(h, a->chunk_db, 4) != 0)
            continue;  /* index chunks, audio, padding */
        if (size == 0)
            continue;  /* a dropped frame */
        size_t want = a->info.fourcc == VISION_FMT_YUYV
                          ? (size_t) a->info.w * (size_t) a->info.h * 2 : 0;
        if ((want && size != want) || size > VISION_AVI_MAX_FRAME) {
            shop_errf(err, errlen, "%s: frame of %u bytes at byte %lld (%s)", a->name, size,
                      (long long) here,
                      want ? "a YUYV frame of this size has another length" : "too large");
            return -1;
        }
        if (*cap < size) {
            *buf = xrealloc(*buf, size);
            *cap = size;
        }
        if (s_read_at(a, here + 8, *buf, size) != 0) {
            shop_errf(err, errlen, "%s: frame at byte %lld cut short", a->name, (long long) here);
            return -1;
        }
        *len = size;
        return 1;
    }
    return 0;
}
