/* vision/camera.c: V4L2 capture through libv4l2, frame conversion, trigger. */
#include "config.h"

#include "vision/camera.h"

#include <errno.h>
#include <fcntl.h>
#include <libv4l2.h>
#include <linux/videodev2.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* ------------------------------------------------------------ frames */

static inline uint8_t
s_clamp(int v)
{
    return (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
}

void
vision_yuyv_to_rgb(const uint8_t *src, int w, int h, size_t stride, uint8_t *dst)
{
    /* BT.601 limited range in 16.16 fixed point:
     * R = 1.164(Y-16) + 1.596(V-128), G = 1.164(Y-16) - 0.392(U-128) - 0.813(V-128),
     * B = 1.164(Y-16) + 2.017(U-128) */
    for (int y = 0; y < h; y++) {
        const uint8_t *s = src + (size_t) y * stride;
        uint8_t *d = dst + (size_t) y * (size_t) w * 3;
        for (int x = 0; x + 1 < w; x += 2, s += 4, d += 6) {
            int u = s[1] - 128, v = s[3] - 128;
            int rv = 104597 * v, gu = -25675 * u - 53279 * v, bu = 132201 * u;
            for (int k = 0; k < 2; k++) {
                int yy = 76309 * (s[2 * k] - 16) + 32768;
                d[3 * k + 0] = s_clamp((yy + rv) >> 16);
                d[3 * k + 1] = s_clamp((yy + gu) >> 16);
                d[3 * k + 2] = s_clamp((yy + bu) >> 16);
            }
        }
    }
}

/* The Huffman tables of JPEG Annex K.3 as one DHT segment: many webcams
 * leave them out of their MJPEG frames and rely on the decoder knowing them. */
static const uint8_t s_std_dht[] = {
    0xff, 0xc4, 0x01, 0xa2, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00,
    0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51,
    0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52,
    0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47,
    0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67,
    0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6,
    0xf7, 0xf8, 0xf9, 0xfa, 0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x11, 0x00, 0x02, 0x01, 0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01,
    0x02, 0x77, 0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07,
    0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33,
    0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19,
    0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46,
    0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66,
    0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85,
    0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3,
    0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
    0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
    0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6,
    0xf7, 0xf8, 0xf9, 0xfa,
};

uint8_t *
vision_mjpeg_add_dht(const uint8_t *p, size_t n, size_t *out_len)
{
    if (n < 4 || p[0] != 0xFF || p[1] != 0xD8)
        return NULL;
    size_t i = 2;
    while (n - i >= 4 && p[i] == 0xFF) {
        uint8_t m = p[i + 1];
        if (m == 0xC4)
            return NULL;
        if (m == 0xDA) {
            uint8_t *q = xmalloc(n + sizeof s_std_dht);
            memcpy(q, p, i);
            memcpy(q + i, s_std_dht, sizeof s_std_dht);
            memcpy(q + i + sizeof s_std_dht, p + i, n - i);
            *out_len = n + sizeof s_std_dht;
            return q;
        }
        size_t len = (size_t) p[i + 2] << 8 | p[i + 3];
        if (len < 2 || n - i - 2 < len)
            return NULL;
        i += 2 + len;
    }
    return NULL;
}

int
vision_frame_to_image(uint32_t fourcc, const uint8_t *data, size_t len, int w, int h,
                      size_t stride, vision_image_t *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    if (fourcc == VISION_FMT_MJPEG) {
        if (w <= 0 || h <= 0 || w > VISION_DEFAULT_MAX_SIDE || h > VISION_DEFAULT_MAX_SIDE) {
            shop_errf(err, errlen, "MJPEG stream size %dx%d is invalid", w, h);
            return -1;
        }
        /* limits of the stream's own size: a frame whose header claims more is
         * refused before it is decoded (with the default limits a forged frame
         * decoded up to 24 Mpixels, then was refused for its size) */
        vision_limits_t lim = { .max_pixels = (uint64_t) w * (uint64_t) h,
                                .max_side = w > h ? w : h };
        size_t fixed_len = 0;
        uint8_t *fixed = vision_mjpeg_add_dht(data, len, &fixed_len);
        char derr[256] = "";
        int rc = vision_decode_mem(fixed ? fixed : data, fixed ? fixed_len : len, &lim, 3, img,
                                   derr, sizeof derr);
        free(fixed);
        if (rc < 0) {
            shop_errf(err, errlen, "MJPEG frame: %s", derr);
            return -1;
        }
        if (img->w != w || img->h != h) {
            shop_errf(err, errlen,
                      "MJPEG frame is %dx%d, the stream is %dx%d", img->w, img->h, w, h);
            vision_image_release(img);
            return -1;
        }
        return 0;
    }
    if (fourcc == VISION_FMT_YUYV) {
        if (w <= 0 || h <= 0 || (w & 1) || w > VISION_DEFAULT_MAX_SIDE
            || h > VISION_DEFAULT_MAX_SIDE || stride < (size_t) w * 2 || len < (size_t) w * 2
            || (size_t) (h - 1) > (len - (size_t) w * 2) / stride) {
            shop_errf(err, errlen, "YUYV frame of %zu bytes does not hold %dx%d (stride %zu)",
                      len, w, h, stride);
            return -1;
        }
        if (vision_image_alloc(img, w, h, 3) < 0) {
            shop_errf(err, errlen, "YUYV frame size %dx%d is invalid", w, h);
            return -1;
        }
        vision_yuyv_to_rgb(data, w, h, stride, img->px);
        return 0;
    }
    shop_errf(err, errlen, "unsupported frame format %.4s", (const char *) &fourcc);
    return -1;
}

/* ------------------------------------------------------------ trigger */

enum { TW = 32, TH = 24 };

struct _vision_trigger_t {
    vision_trigger_opts_t opts;  /* levels and frame count */
    float ref[TW * TH];          /* thumbnail of the last settled scene */
    float prev[TW * TH];         /* thumbnail of the previous frame */
    float cur[TW * TH];          /* thumbnail of this frame */
    bool have_ref;               /* a first frame has been seen */
    bool changing;               /* the scene left the reference */
    int still;                   /* consecutive frames without motion */
    float motion;                /* cells changed since the previous frame */
};

vision_trigger_t *
vision_trigger_new(const vision_trigger_opts_t *opts)
{
    vision_trigger_opts_t o = { 10.0f, 0.05f, 0.01f, 5 };
    if (opts) {
        if (opts->cell_level < 0 || opts->change_fraction < 0 || opts->change_fraction > 1
            || opts->still_fraction < 0 || opts->still_fraction > 1 || opts->still_frames < 0)
            return NULL;
        if (opts->cell_level > 0)
            o.cell_level = opts->cell_level;
        if (opts->change_fraction > 0)
            o.change_fraction = opts->change_fraction;
        if (opts->still_fraction > 0)
            o.still_fraction = opts->still_fraction;
        if (opts->still_frames > 0)
            o.still_frames = opts->still_frames;
    }
    vision_trigger_t *self = xcalloc(1, sizeof *self);
    self->opts = o;
    return self;
}

void
vision_trigger_destroy(vision_trigger_t **trig_p)
{
    if (!trig_p || !*trig_p)
        return;
    free(*trig_p);
    *trig_p = NULL;
}

/* Area-average of the frame's gray levels on a TW x TH grid. */
static void
s_thumbnail(const vision_image_t *f, float *out)
{
    for (int ty = 0; ty < TH; ty++) {
        int y0 = ty * f->h / TH, y1 = SHOP_MAX((ty + 1) * f->h / TH, y0 + 1);
        for (int tx = 0; tx < TW; tx++) {
            int x0 = tx * f->w / TW, x1 = SHOP_MAX((tx + 1) * f->w / TW, x0 + 1);
            uint64_t sum = 0, n = 0;
            for (int y = y0; y < y1 && y < f->h; y++) {
                for (int x = x0; x < x1 && x < f->w; x++) {
                    const uint8_t *p = f->px + ((size_t) y * (size_t) f->w + (size_t) x)
                                                   * (size_t) f->channels;
                    sum += f->channels == 1 ? p[0] : (299u * p[0] + 587u * p[1] + 114u * p[2]) / 1000u;
                    n++;
                }
            }
            out[ty * TW + tx] = n ? (float) sum / (float) n : 0.0f;
        }
    }
}

/* Fraction of cells differing by more than level. */
static float
s_changed(const float *a, const float *b, float level)
{
    int n = 0;
    for (int i = 0; i < TW * TH; i++)
        n += fabsf(a[i] - b[i]) > level;
    return (float) n / (TW * TH);
}

int
vision_trigger_feed(vision_trigger_t *self, const vision_image_t *f)
{
    if (!f || !f->px || f->w <= 0 || f->h <= 0 || (f->channels != 1 && f->channels != 3))
        return -1;
    s_thumbnail(f, self->cur);
    if (!self->have_ref) {
        memcpy(self->ref, self->cur, sizeof self->ref);
        memcpy(self->prev, self->cur, sizeof self->prev);
        self->have_ref = true;
        self->motion = 0;
        return 0;
    }
    self->motion = s_changed(self->cur, self->prev, self->opts.cell_level);
    memcpy(self->prev, self->cur, sizeof self->prev);
    float from_ref = s_changed(self->cur, self->ref, self->opts.cell_level);
    if (!self->changing) {
        if (from_ref > self->opts.change_fraction) {
            self->changing = true;
            self->still = 0;
        }
        return 0;
    }
    self->still = self->motion < self->opts.still_fraction ? self->still + 1 : 0;
    if (self->still < self->opts.still_frames)
        return 0;
    self->changing = false;
    self->still = 0;
    if (from_ref <= self->opts.change_fraction)
        return 0; /* back to the scene we had: nothing new to look at */
    memcpy(self->ref, self->cur, sizeof self->ref);
    return 1;
}

float
vision_trigger_motion(const vision_trigger_t *self)
{
    return self->motion;
}

/* ------------------------------------------------------------ camera */

enum { CAM_BUFFERS = 4 };

struct _vision_camera_t {
    int fd;                         /* libv4l2 descriptor */
    char device[256];               /* path, for messages */
    int w, h;                       /* negotiated size */
    size_t stride;                  /* bytes per row (YUYV) */
    uint32_t fourcc;                /* VISION_FMT_MJPEG or VISION_FMT_YUYV */
    void *map[CAM_BUFFERS];         /* mmapped driver buffers */
    size_t map_len[CAM_BUFFERS];    /* their lengths */
    int nbuf;                       /* buffers mapped */
    bool streaming;                 /* STREAMON done */
    vision_capture_t capture;       /* on request or on still */
    vision_trigger_t *trigger;      /* for on still */
};

static int
s_ioctl(int fd, unsigned long req, void *arg)
{
    int rc;
    do {
        rc = v4l2_ioctl(fd, req, arg);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

vision_camera_t *
vision_camera_new(const vision_camera_opts_t *opts, char *err, size_t errlen)
{
    vision_camera_opts_t o = opts ? *opts : (vision_camera_opts_t) { 0 };
    const char *dev = o.device && o.device[0] ? o.device : "/dev/video0";
    int want_w = o.width > 0 ? o.width : 640, want_h = o.height > 0 ? o.height : 480;
    vision_camera_t *self = xcalloc(1, sizeof *self);
    shop_strlcpy(self->device, dev, sizeof self->device);
    self->capture = o.capture;
    self->fd = v4l2_open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (self->fd < 0) {
        shop_errf(err, errlen, "camera %s: %s%s", dev, strerror(errno),
                  errno == ENOENT ? " (is a camera connected?)" : "");
        free(self);
        return NULL;
    }
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof cap);
    if (s_ioctl(self->fd, VIDIOC_QUERYCAP, &cap) < 0) {
        shop_errf(err, errlen, "camera %s: not a V4L2 device (%s)", dev, strerror(errno));
        goto fail;
    }
    uint32_t caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
    if (!(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING)) {
        shop_errf(err, errlen, "camera %s (%s): cannot stream video capture", dev,
                  (const char *) cap.card);
        goto fail;
    }
    /* MJPEG first: far less USB bandwidth at photo sizes; YUYV otherwise */
    static const uint32_t formats[] = { VISION_FMT_MJPEG, VISION_FMT_YUYV };
    struct v4l2_format fmt;
    bool ok = false;
    for (size_t i = 0; i < SHOP_ARRAY_LEN(formats) && !ok; i++) {
        memset(&fmt, 0, sizeof fmt);
        fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        fmt.fmt.pix.width = (uint32_t) want_w;
        fmt.fmt.pix.height = (uint32_t) want_h;
        fmt.fmt.pix.pixelformat = formats[i];
        fmt.fmt.pix.field = V4L2_FIELD_NONE;
        ok = s_ioctl(self->fd, VIDIOC_S_FMT, &fmt) == 0 && fmt.fmt.pix.pixelformat == formats[i];
    }
    if (!ok || fmt.fmt.pix.width == 0 || fmt.fmt.pix.height == 0
        || fmt.fmt.pix.width > VISION_DEFAULT_MAX_SIDE
        || fmt.fmt.pix.height > VISION_DEFAULT_MAX_SIDE) {
        shop_errf(err, errlen, "camera %s: offers neither MJPEG nor YUYV frames", dev);
        goto fail;
    }
    self->fourcc = fmt.fmt.pix.pixelformat;
    self->w = (int) fmt.fmt.pix.width;
    self->h = (int) fmt.fmt.pix.height;
    self->stride = fmt.fmt.pix.bytesperline ? fmt.fmt.pix.bytesperline : (size_t) self->w * 2;

    struct v4l2_requestbuffers req;
    memset(&req, 0, sizeof req);
    req.count = CAM_BUFFERS;
    req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    req.memory = V4L2_MEMORY_MMAP;
    if (s_ioctl(self->fd, VIDIOC_REQBUFS, &req) < 0 || req.count < 2) {
        shop_errf(err, errlen, "camera %s: cannot get capture buffers (%s)", dev, strerror(errno));
        goto fail;
    }
    self->nbuf = (int) SHOP_MIN(req.count, (uint32_t) CAM_BUFFERS);
    for (int i = 0; i < self->nbuf; i++) {
        struct v4l2_buffer b;
        memset(&b, 0, sizeof b);
        b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        b.memory = V4L2_MEMORY_MMAP;
        b.index = (uint32_t) i;
        if (s_ioctl(self->fd, VIDIOC_QUERYBUF, &b) < 0) {
            shop_errf(err, errlen, "camera %s: buffer %d: %s", dev, i, strerror(errno));
            goto fail;
        }
        self->map[i] = v4l2_mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
                                 b.m.offset);
        if (self->map[i] == MAP_FAILED) {
            self->map[i] = NULL;
            shop_errf(err, errlen, "camera %s: mapping buffer %d: %s", dev, i, strerror(errno));
            goto fail;
        }
        self->map_len[i] = b.length;
        if (s_ioctl(self->fd, VIDIOC_QBUF, &b) < 0) {
            shop_errf(err, errlen, "camera %s: queueing buffer %d: %s", dev, i, strerror(errno));
            goto fail;
        }
    }
    enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (s_ioctl(self->fd, VIDIOC_STREAMON, &type) < 0) {
        shop_errf(err, errlen, "camera %s: cannot start streaming (%s)", dev, strerror(errno));
        goto fail;
    }
    self->streaming = true;
    if (self->capture == VISION_CAPTURE_ON_STILL
        && !(self->trigger = vision_trigger_new(&o.trigger))) {
        shop_errf(err, errlen, "camera %s: invalid trigger levels", dev);
        goto fail;
    }
    log_info("camera %s (%s): %dx%d %.4s, pictures %s", dev, (const char *) cap.card, self->w,
             self->h, (const char *) &self->fourcc,
             self->capture == VISION_CAPTURE_ON_STILL ? "when the scene holds still"
                                                      : "on request");
    return self;
fail:
    vision_camera_destroy(&self);
    return NULL;
}

void
vision_camera_destroy(vision_camera_t **cam_p)
{
    if (!cam_p || !*cam_p)
        return;
    vision_camera_t *self = *cam_p;
    if (self->streaming) {
        enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        s_ioctl(self->fd, VIDIOC_STREAMOFF, &type);
    }
    for (int i = 0; i < self->nbuf; i++)
        if (self->map[i])
            v4l2_munmap(self->map[i], self->map_len[i]);
    if (self->fd >= 0)
        v4l2_close(self->fd);
    vision_trigger_destroy(&self->trigger);
    free(self);
    *cam_p = NULL;
}

int
vision_camera_fd(const vision_camera_t *self)
{
    return self->fd;
}

void
vision_camera_format(const vision_camera_t *self, int *w, int *h, uint32_t *fourcc)
{
    if (w)
        *w = self->w;
    if (h)
        *h = self->h;
    if (fourcc)
        *fourcc = self->fourcc;
}

size_t
vision_camera_stride(const vision_camera_t *self)
{
    return self->stride;
}

/* Waits for and dequeues one driver buffer. Returns 1 with *b, 0 on
 * timeout, -1 with a message. */
static int
s_dequeue(vision_camera_t *self, int timeout_ms, struct v4l2_buffer *b, char *err,
          size_t errlen)
{
    struct pollfd pfd = { .fd = self->fd, .events = POLLIN };
    int pr = poll(&pfd, 1, timeout_ms);
    if (pr < 0 && errno != EINTR) {
        shop_errf(err, errlen, "camera %s: %s", self->device, strerror(errno));
        return -1;
    }
    if (pr > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) && !(pfd.revents & POLLIN)) {
        shop_errf(err, errlen, "camera %s: the device went away (unplugged?)", self->device);
        return -1;
    }
    if (pr <= 0)
        return 0;
    memset(b, 0, sizeof *b);
    b->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    b->memory = V4L2_MEMORY_MMAP;
    if (s_ioctl(self->fd, VIDIOC_DQBUF, b) < 0) {
        if (errno == EAGAIN)
            return 0;
        shop_errf(err, errlen, "camera %s: %s (unplugged?)", self->device, strerror(errno));
        return -1;
    }
    if (b->index >= (uint32_t) self->nbuf || b->bytesused > self->map_len[b->index]) {
        shop_errf(err, errlen, "camera %s: driver returned an invalid buffer", self->device);
        return -1;
    }
    return 1;
}

static int
s_requeue(vision_camera_t *self, struct v4l2_buffer *b, char *err, size_t errlen)
{
    if (s_ioctl(self->fd, VIDIOC_QBUF, b) < 0) {
        shop_errf(err, errlen, "camera %s: requeueing: %s", self->device, strerror(errno));
        return -1;
    }
    return 0;
}

int
vision_camera_read(vision_camera_t *self, int timeout_ms, uint8_t **buf, size_t *cap,
                   size_t *len, char *err, size_t errlen)
{
    *len = 0;
    struct v4l2_buffer b;
    int rc = s_dequeue(self, timeout_ms, &b, err, errlen);
    if (rc <= 0)
        return rc;
    size_t n = b.bytesused;
    if (*cap < n || !*buf) {
        *buf = xrealloc(*buf, n ? n : 1);
        *cap = n ? n : 1;
    }
    memcpy(*buf, self->map[b.index], n);
    *len = n;
    return s_requeue(self, &b, err, errlen) == 0 ? 1 : -1;
}

int
vision_camera_poll(vision_camera_t *self, int timeout_ms, vision_image_t *img, char *err,
                   size_t errlen)
{
    memset(img, 0, sizeof *img);
    struct v4l2_buffer b;
    int rc = s_dequeue(self, timeout_ms, &b, err, errlen);
    if (rc <= 0)
        return rc;
    rc = 0;
    char ferr[256];
    if (vision_frame_to_image(self->fourcc, self->map[b.index], b.bytesused, self->w, self->h,
                              self->stride, img, ferr, sizeof ferr) < 0) {
        /* a damaged frame is dropped, the stream goes on */
        log_debug("camera %s: %s", self->device, ferr);
    } else if (self->capture == VISION_CAPTURE_ON_STILL) {
        rc = vision_trigger_feed(self->trigger, img) == 1;
        if (!rc)
            vision_image_release(img);
    } else {
        rc = 1;
    }
    if (s_requeue(self, &b, err, errlen) < 0) {
        vision_image_release(img);
        return -1;
    }
    return rc;
}
