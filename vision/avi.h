/* vision/avi.h: recorded camera frames from an AVI file.
 *
 * The recording format of shopd's recorded-frames source (vision/framesrc.h)
 * is AVI (RIFF, Microsoft's AVI 1.0 layout, the first RIFF of an OpenDML
 * file) with one video stream of MJPEG ("MJPG") or packed YUYV 4:2:2
 * ("YUY2", "YUYV") frames, exactly what a webcam's V4L2 driver hands out:
 * what `ffmpeg -f v4l2 -input_format mjpeg -i /dev/video0 -c:v copy
 * out.avi` (or `-input_format yuyv422`) records. The reader takes the frame
 * size, format and frame period from the headers (avih, strh, strf) and the
 * frames from the "movi" list in order ("00dc" / "00db" chunks, also inside
 * "rec " lists); the index, audio streams and any other chunks are skipped.
 * Every size is checked against the file and the limits: a YUYV frame must
 * be exactly w*h*2 bytes, an MJPEG frame at most VISION_AVI_MAX_FRAME bytes;
 * a bad file is refused with a message naming the problem, never a crash
 * (fuzz/vision_avi_fuzz). */
#ifndef SHOP_VISION_AVI_H
#define SHOP_VISION_AVI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Largest frame and picture accepted. */
#define VISION_AVI_MAX_FRAME ((size_t) 16 << 20)
#define VISION_AVI_MAX_SIDE 8192

typedef struct _vision_avi_t vision_avi_t;

/* What the headers say (out). */
typedef struct {
    uint32_t fourcc;        /* VISION_FMT_MJPEG or VISION_FMT_YUYV (vision/camera.h) */
    int w, h;               /* frame size */
    uint32_t usec_per_frame;/* frame period; 0 when the file gives none */
    uint32_t frames;        /* frame count the header claims (may be 0) */
} vision_avi_info_t;

/* Reads the headers of f (owned from then on, closed by destroy; name is
 * used in messages). Returns the reader positioned at the first frame, or
 * NULL with a message (f closed). */
vision_avi_t *vision_avi_open_file(FILE *f, const char *name, char *err, size_t errlen);

/* As vision_avi_open_file for the file at path. */
vision_avi_t *vision_avi_open(const char *path, char *err, size_t errlen);

void vision_avi_destroy(vision_avi_t **avi_p);

void vision_avi_info(const vision_avi_t *avi, vision_avi_info_t *info);

/* Reads the next frame into *buf (grown as needed, *cap its size; the
 * caller frees *buf), its length in *len. Returns 1 with a frame, 0 at the
 * end of the recording, -1 with a message on a damaged file. */
int vision_avi_next(vision_avi_t *avi, uint8_t **buf, size_t *cap, size_t *len, char *err,
                    size_t errlen);

/* Goes back to the first frame. Returns 0 or -1 with a message. */
int vision_avi_rewind(vision_avi_t *avi, char *err, size_t errlen);

#endif
