/* fuzz/vision_decode_fuzz.c: libFuzzer target for the photo path the daemon
 * runs on untrusted bytes: vision_decode_mem (container checks, stb_image),
 * then preprocessing to the model's input, and the MJPEG/YUYV frame path. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vision/camera.h"
#include "vision/decode.h"
#include "vision/preprocess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vision_prep_t *prep;
    if (!prep) {
        vision_prep_spec_t spec = { 28, 0.286f, 0.353f };
        prep = vision_prep_new(&spec);
    }
    /* small limits keep each run fast; the checks are the same */
    vision_limits_t lim = { .max_bytes = 1 << 20, .max_pixels = 1 << 22, .max_side = 4096 };
    vision_image_t img;
    char err[256];
    int channels = size > 0 && (data[size - 1] & 1) ? 1 : 3;
    if (vision_decode_mem(data, size, &lim, channels, &img, err, sizeof err) == 0) {
        float out[28 * 28];
        vision_prep_info_t info;
        vision_prep_run(prep, &img, out, &info);
        vision_image_release(&img);
    }
    /* the same bytes as a camera frame: MJPEG, then YUYV of a size they hold */
    if (vision_frame_to_image(VISION_FMT_MJPEG, data, size, 64, 48, 0, &img, err, sizeof err) == 0)
        vision_image_release(&img);
    if (vision_frame_to_image(VISION_FMT_YUYV, data, size, 16, (int) (size / 32), 32, &img, err,
                              sizeof err) == 0)
        vision_image_release(&img);
    return 0;
}
