/* vision/camera.h: product pictures from a V4L2 camera (through libv4l2).
 *
 * The camera streams frames (MJPEG decoded with vision/decode, or YUYV
 * converted here) and hands out a picture either on request (every frame
 * polled is a picture) or by itself when the scene changes and then holds
 * still: a customer puts a product in front of the kiosk camera and keeps it
 * there. The frame handling and the trigger are plain functions over memory so
 * they are tested on recorded frames; a machine without a camera gets a clear
 * error from vision_camera_new, never a crash. */
#ifndef SHOP_VISION_CAMERA_H
#define SHOP_VISION_CAMERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vision/decode.h"

/* V4L2 fourcc codes of the two formats we take. */
#define VISION_FOURCC(a, b, c, d) \
    ((uint32_t) (a) | (uint32_t) (b) << 8 | (uint32_t) (c) << 16 | (uint32_t) (d) << 24)
#define VISION_FMT_MJPEG VISION_FOURCC('M', 'J', 'P', 'G')
#define VISION_FMT_YUYV VISION_FOURCC('Y', 'U', 'Y', 'V')

/* ------------------------------------------------------------ frames */

/* Converts packed YUYV 4:2:2 (BT.601 limited range, as webcams send it) of
 * w x h (w even), rows stride bytes apart, into RGB dst (w*h*3 bytes). */
void vision_yuyv_to_rgb(const uint8_t *src, int w, int h, size_t stride, uint8_t *dst);

/* Returns a copy of an MJPEG frame with the standard Huffman tables (JPEG
 * Annex K.3) inserted before its first scan when it has none, as many webcams
 * send them (caller frees; length in *out_len), or NULL when the frame needs
 * none or its markers cannot be followed (the decoder then says why). */
uint8_t *vision_mjpeg_add_dht(const uint8_t *p, size_t n, size_t *out_len);

/* Turns one captured frame into an RGB image: MJPEG through vision_decode_mem
 * (with the standard Huffman tables inserted when the frame has none, as many
 * webcams send them), YUYV through vision_yuyv_to_rgb after checking len
 * covers h rows of stride bytes. Returns 0 with *img filled (caller
 * releases), or -1 with a message. */
int vision_frame_to_image(uint32_t fourcc, const uint8_t *data, size_t len, int w, int h,
                          size_t stride, vision_image_t *img, char *err, size_t errlen);

/* ------------------------------------------------------------ trigger */

/* "Scene changed, then held still": frames are reduced to a 32x24 gray
 * thumbnail (area averages, which also averages sensor noise away); a cell
 * has changed when it differs by more than cell_level gray levels. A frame
 * with more than change_fraction of its cells changed from the reference
 * scene starts a change; once still_frames consecutive frames have less than
 * still_fraction of their cells changed from their predecessor, the trigger
 * fires (if the scene still differs from the reference) and the new scene
 * becomes the reference. Counting changed cells rather than averaging
 * differences keeps a small product moving in a large frame visible. */
typedef struct {
    float cell_level;       /* default 10 gray levels */
    float change_fraction;  /* default 0.05 */
    float still_fraction;   /* default 0.01 */
    int still_frames;       /* default 5 */
} vision_trigger_opts_t;

typedef struct _vision_trigger_t vision_trigger_t;

/* opts may be NULL for the defaults. Returns the trigger or NULL if opts are
 * invalid. Destroy with vision_trigger_destroy. */
vision_trigger_t *vision_trigger_new(const vision_trigger_opts_t *opts);
void vision_trigger_destroy(vision_trigger_t **trig_p);
/* Feeds a frame; returns 1 when this frame is the picture to take, else 0
 * (-1 for an invalid image). */
int vision_trigger_feed(vision_trigger_t *trig, const vision_image_t *frame);
/* Fraction of thumbnail cells changed between the last frame and its
 * predecessor (for logs and tests). */
float vision_trigger_motion(const vision_trigger_t *trig);

/* ------------------------------------------------------------ camera */

typedef enum {
    VISION_CAPTURE_ON_REQUEST = 0, /* every frame polled is a picture */
    VISION_CAPTURE_ON_STILL = 1,   /* pictures come from the trigger */
} vision_capture_t;

typedef struct {
    const char *device;            /* default "/dev/video0" */
    int width, height;             /* requested size, default 640x480 (driver may adjust) */
    vision_capture_t capture;      /* default on request */
    vision_trigger_opts_t trigger; /* for VISION_CAPTURE_ON_STILL; zeros = defaults */
} vision_camera_opts_t;

typedef struct _vision_camera_t vision_camera_t;

/* Opens the device, negotiates MJPEG (else YUYV) at about the requested size
 * and starts streaming. Returns the camera, or NULL with a message such as
 * "camera /dev/video0: No such file or directory (is a camera connected?)". */
vision_camera_t *vision_camera_new(const vision_camera_opts_t *opts, char *err, size_t errlen);
/* Stops streaming, unmaps the buffers, closes the device; safe on NULL. */
void vision_camera_destroy(vision_camera_t **cam_p);
/* File descriptor to poll for readability in an event loop. */
int vision_camera_fd(const vision_camera_t *cam);
/* Negotiated frame size and format. */
void vision_camera_format(const vision_camera_t *cam, int *w, int *h, uint32_t *fourcc);
/* Waits up to timeout_ms for a frame and copies it, unconverted, into *buf
 * (grown as needed, *cap its size; the caller frees *buf), its length in
 * *len. Returns 1 with a frame, 0 on timeout, -1 on a device error
 * (unplugged) with a message. */
int vision_camera_read(vision_camera_t *cam, int timeout_ms, uint8_t **buf, size_t *cap,
                       size_t *len, char *err, size_t errlen);
/* Bytes per row of a YUYV frame. */
size_t vision_camera_stride(const vision_camera_t *cam);

/* Waits up to timeout_ms for a frame and processes it. Returns 1 with a
 * picture in *img (caller releases), 0 when there was no picture (timeout, or
 * the trigger did not fire), -1 on a device error with a message. */
int vision_camera_poll(vision_camera_t *cam, int timeout_ms, vision_image_t *img, char *err,
                       size_t errlen);

#endif
