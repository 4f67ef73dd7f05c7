/* fuzz/vision_avi_fuzz.c: libFuzzer target for the camera recordings
 * (vision/avi.h), read from memory through fmemopen exactly as from a file:
 * headers and every frame, whose lengths must keep the reader's promises. */
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
    /* every frame, twice (with a rewind); the frames' contents go to the
     * decoder, which has its own target (fuzz/vision_decode_fuzz.c) */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 4096 && vision_avi_next(avi, &buf, &cap, &len, err, sizeof err) == 1;
             i++) {
            /* a frame is never longer than the reader's limits */
            if (len > VISION_AVI_MAX_FRAME
                || (info.fourcc == VISION_FMT_YUYV && len != (size_t) info.w * info.h * 2))
                abort();
        }
        vision_avi_rewind(avi, err, sizeof err);
    }
    free(buf);
    vision_avi_destroy(&avi);
    return 0;
}
