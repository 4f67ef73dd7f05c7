/* daemon/camera.h: shopd's camera thread.
 *
 * One thread reads frames from a frame source (vision/framesrc.h: a V4L2
 * camera, or an AVI recording played as one) and keeps the latest. A picture
 * is taken
 *   - on request: camera_latest copies the latest frame (the `look` request);
 *   - by a trigger: every `interval` (CAMERA_TRIGGER_INTERVAL), or when the
 *     scene changes and then holds still (CAMERA_TRIGGER_SCENE, the trigger
 *     of vision/camera.h, fed with every frame decoded in the thread's own
 *     jailed decoder);
 * either way the picture (the raw frame) goes to on_picture, which hands it
 * to the worker pool for the product CNN; the main thread answers and
 * publishes. The thread never touches a socket.
 *
 * A device that is missing, or goes away while streaming, is opened again
 * with a backoff (0.5 s doubling to 30 s); each change of state (streaming,
 * unavailable with the reason) is logged once, not each retry. */
#ifndef SHOP_DAEMON_CAMERA_H
#define SHOP_DAEMON_CAMERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vision/camera.h"
#include "vision/framesrc.h"

typedef enum {
    CAMERA_TRIGGER_NONE = 0,  /* pictures on request only */
    CAMERA_TRIGGER_INTERVAL,  /* and every interval_ms */
    CAMERA_TRIGGER_SCENE,     /* and when the scene changes, then holds still */
} camera_trigger_t;

/* Settings (in). Zero fields mean "the default". */
typedef struct {
    const char *device;            /* /dev/videoN or a recording; required */
    int width, height;             /* asked of a camera; 640x480 */
    camera_trigger_t trigger;
    int interval_ms;               /* CAMERA_TRIGGER_INTERVAL period; 5000 */
    vision_trigger_opts_t scene;   /* CAMERA_TRIGGER_SCENE levels; zeros = defaults */
    int backoff_min_ms, backoff_max_ms; /* reopening; 500 and 30000 */
    bool jail;                     /* decode the trigger's frames in a jailed worker */
} camera_opts_t;

/* One picture: a raw frame and its format (owned by whoever holds it). */
typedef struct {
    vision_frame_format_t fmt;
    uint8_t *data;                 /* malloc'd, len bytes */
    size_t len;
    uint64_t seq;                  /* frame number since the start */
    bool by_trigger;               /* taken by the trigger, not a request */
} camera_picture_t;

/* Called on the camera thread with a picture the trigger took; the callee
 * owns pic->data from then on. */
typedef void (*camera_picture_fn)(camera_picture_t *pic, void *arg);

typedef struct _camera_t camera_t;

/* Makes the camera (with opts.jail and the scene trigger, forks its jailed
 * decoder now, on the caller's thread: do it before other threads start).
 * Returns the camera, or NULL with a message when opts are invalid. */
camera_t *camera_new(const camera_opts_t *opts, camera_picture_fn on_picture, void *arg,
                     char *err, size_t errlen);

/* Starts the thread (the device is opened there: a missing one is not an
 * error). Returns 0, or -1 with a message when the thread cannot start. */
int camera_start(camera_t *self, char *err, size_t errlen);

/* Stops the thread (within a frame period or 200 ms) and frees everything;
 * safe on NULL and twice. */
void camera_destroy(camera_t **self_p);

/* Copies the latest frame into *pic (caller frees pic->data). Returns 0, or
 * -1 with a message when there is none (not streaming: the message says
 * why). */
int camera_latest(camera_t *self, camera_picture_t *pic, char *err, size_t errlen);

/* Records the outcome of the last classification (a product object as
 * published, borrowed and copied; by_trigger as in the picture), for status. */
void camera_set_last(camera_t *self, const json_t *product, bool by_trigger);

/* {"device", "source": "camera" | "recording", "state": "starting" |
 * "streaming" | "unavailable", "error" (unavailable), "format": "MJPEG" |
 * "YUYV", "width", "height", "fps", "frames", "pictures", "trigger":
 * "none" | "interval" | "scene", "last": {product..., "by", "age_s"}}:
 * a new object. */
json_t *camera_status_json(camera_t *self);

/* Names for the [camera] trigger setting: returns the trigger, or -1. */
int camera_trigger_from_name(const char *name);
const char *camera_trigger_name(camera_trigger_t t);

#endif
