/* fuzz/vision_avi_fuzz.c: libFuzzer target for the camera recordings
 * (vision/avi.h), read from memory through fmemopen exactly as from a file:
 * headers, every frame, each frame converted as the camera path does. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "vision/avi.h"
#include "vision/camera.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    FILE *f = fmemopen((void *) data, size, "rb");
    if (!f)
        return 0;
    char err[256];
    vision_avi_t *avi = vision_avi_open_file(f, "fuzz", err, sizeof err);
    if (!avi)
        return 0;
    vision_avi_info_t info;
    vision_avi_info(avi, &info);
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 64 && vision_avi_next(avi, &buf, &cap, &len, err, sizeof err) == 1;
             i++) {
            vision_image_t img;
            /* small frames only: the conversion is what is exercised */
            if ((uint64_t) info.w * (uint64_t) info.h <= 1u << 20
                && vision_frame_to_image(info.fourcc, buf, len, info.w, info.h,
                                         (size_t) info.w * 2, &img, err, sizeof err) == 0)
                vision_image_release(&img);
        }
        vision_avi_rewind(avi, err, sizeof err);
    }
    free(buf);
    vision_avi_destroy(&avi);
    return 0;
}
