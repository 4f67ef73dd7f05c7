/* vision/framesrc.h: where camera frames come from, behind one interface.
 *
 * Two sources give the same raw frames (MJPEG or packed YUYV, as a V4L2
 * driver hands them out) to the same code:
 *   - a V4L2 camera (vision/camera.h): a path naming a character device,
 *     e.g. /dev/video0;
 *   - a recording (vision/avi.h): a path naming a regular file, an AVI of
 *     MJPEG or YUYV frames, played at its own frame rate and looped; the file
 *     is opened again at every loop, so a recording removed behaves like a
 *     camera unplugged, and one put back like a camera plugged in again.
 * shopd's camera thread (daemon/camera.h) reads whichever it is given; the
 * tests drive the whole daemon path with recordings, since the machines
 * that run them have no camera. */
#ifndef SHOP_VISION_FRAMESRC_H
#define SHOP_VISION_FRAMESRC_H

#include <stddef.h>
#include <stdint.h>

typedef struct _vision_framesrc_t vision_framesrc_t;

typedef enum {
    VISION_SRC_V4L2 = 0,
    VISION_SRC_RECORDING,
} vision_src_kind_t;

/* The frames a source gives (out). */
typedef struct {
    uint32_t fourcc;      /* VISION_FMT_MJPEG or VISION_FMT_YUYV (vision/camera.h) */
    int w, h;             /* frame size */
    size_t stride;        /* bytes per YUYV row */
    double fps;           /* frames per second (recording: its rate; camera: 0 = unknown) */
} vision_frame_format_t;

/* Opens path as a camera (character device) or a recording (regular file);
 * width and height are the size asked of a camera (0: 640x480). Returns the
 * source, or NULL with a message ("camera /dev/video0: No such file or
 * directory (is a camera connected?)", "recording.avi: not an AVI file"...). */
vision_framesrc_t *vision_framesrc_open(const char *path, int width, int height, char *err,
                                        size_t errlen);
void vision_framesrc_destroy(vision_framesrc_t **src_p);

vision_src_kind_t vision_framesrc_kind(const vision_framesrc_t *src);
void vision_framesrc_format(const vision_framesrc_t *src, vision_frame_format_t *fmt);

/* Waits up to timeout_ms for the next frame. Returns 1 with the frame in
 * *data (len bytes, owned by the source, valid until the next read), 0 when
 * none came in time, -1 with a message when the source failed (a camera
 * unplugged, a recording removed or damaged): destroy it and open again. */
int vision_framesrc_read(vision_framesrc_t *src, int timeout_ms, const uint8_t **data,
                         size_t *len, char *err, size_t errlen);

/* Frames read so far. */
uint64_t vision_framesrc_frames(const vision_framesrc_t *src);

#endif
