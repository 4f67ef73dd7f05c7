/* tests/vision_framesrc_test.c: the frame sources (vision/framesrc.h) and
 * the AVI reader (vision/avi.h) on recordings written by ffmpeg
 * (tests/data/vision/camera_*.avi, see tests/vision_mkdata.c):
 * - a YUYV and an MJPEG recording give their frames at their size and rate,
 *   and the frames are the pictures recorded (the wall's colour in the
 *   corner, the boot in the middle), looping back to the first frame;
 * - the scene recording (wall, boot brought in, boot held) fires the
 *   change-then-still trigger exactly once, on the boot held still;
 * - damaged recordings are refused with a message saying what is wrong;
 * - a recording removed while playing fails like an unplugged camera, and
 *   opens again once it is back; a missing device is a clear error. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vision/avi.h"
#include "vision/camera.h"
#include "vision/framesrc.h"

static void
s_path(const char *name, char *path, size_t len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/vision/%s", name);
    assert_non_null(shop_data_path(rel, path, len));
}

/* Mean RGB of the w x h image's box (x0, y0)-(x1, y1). */
static void
s_mean(const vision_image_t *img, int x0, int y0, int x1, int y1, double out[3])
{
    double sum[3] = { 0, 0, 0 };
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            for (int c = 0; c < 3; c++)
                sum[c] += img->px[((size_t) y * (size_t) img->w + (size_t) x) * 3 + (size_t) c];
    for (int c = 0; c < 3; c++)
        out[c] = sum[c] / ((double) (x1 - x0) * (y1 - y0));
}

/* The recorded picture: the wall (150, 140, 130) in the corner, the red
 * boot (200, 40, 30) covering much of the middle. */
static void
s_check_picture(const vision_image_t *img)
{
    double wall[3], middle[3];
    s_mean(img, 0, 0, img->w / 10, img->h / 10, wall);
    s_mean(img, img->w * 2 / 5, img->h * 2 / 5, img->w * 3 / 5, img->h * 3 / 5, middle);
    assert_true(abs((int) wall[0] - 150) < 12 && abs((int) wall[1] - 140) < 12
                && abs((int) wall[2] - 130) < 12);
    /* red dominates where the boot is */
    assert_true(middle[0] > middle[1] + 30 && middle[0] > middle[2] + 30);
}

static void
s_plays(const char *name, uint32_t fourcc, int w, int h, int nframes)
{
    char path[4096], err[256] = "";
    s_path(name, path, sizeof path);
    vision_framesrc_t *src = vision_framesrc_open(path, 0, 0, err, sizeof err);
    if (!src)
        fail_msg("%s", err);
    assert_int_equal(vision_framesrc_kind(src), VISION_SRC_RECORDING);
    vision_frame_format_t fmt;
    vision_framesrc_format(src, &fmt);
    assert_int_equal(fmt.fourcc, fourcc);
    assert_int_equal(fmt.w, w);
    assert_int_equal(fmt.h, h);
    assert_true(fmt.fps > 9.99 && fmt.fps < 10.01);
    uint8_t *first = NULL;
    size_t first_len = 0;
    uint64_t t0 = shop_now_ns();
    for (int i = 0; i <= nframes; i++) {
        const uint8_t *data;
        size_t len;
        assert_int_equal(vision_framesrc_read(src, 5000, &data, &len, err, sizeof err), 1);
        if (i == 0) {
            first = malloc(len);
            memcpy(first, data, len);
            first_len = len;
        } else if (i == nframes) {
            /* looped: the first frame again */
            assert_int_equal(len, first_len);
            assert_memory_equal(data, first, len);
        } else {
            assert_false(len == first_len && !memcmp(data, first, len));
        }
        vision_image_t img;
        assert_int_equal(vision_frame_to_image(fmt.fourcc, data, len, fmt.w, fmt.h, fmt.stride,
                                               &img, err, sizeof err), 0);
        s_check_picture(&img);
        vision_image_release(&img);
    }
    /* nframes + 1 frames at 10 a second take nframes tenths at least */
    double s = (double) (shop_now_ns() - t0) / 1e9;
    printf("# %s: %d frames in %.2f s\n", name, nframes + 1, s);
    assert_true(s >= nframes * 0.1 - 0.01);
    assert_int_equal(vision_framesrc_frames(src), nframes + 1);
    free(first);
    vision_framesrc_destroy(&src);
    assert_null(src);
}

static void
test_recordings_play_and_loop(void **state)
{
    (void) state;
    s_plays("camera_still_160x120_yuyv.avi", VISION_FMT_YUYV, 160, 120, 2);
    s_plays("camera_still_320x240_mjpeg.avi", VISION_FMT_MJPEG, 320, 240, 2);
}

static void
test_scene_fires_trigger_once(void **state)
{
    (void) state;
    char path[4096], err[256] = "";
    s_path("camera_scene_320x240_mjpeg.avi", path, sizeof path);
    vision_avi_t *avi = vision_avi_open(path, err, sizeof err);
    assert_non_null(avi);
    vision_avi_info_t info;
    vision_avi_info(avi, &info);
    assert_int_equal(info.frames, 14);
    assert_int_equal(info.usec_per_frame, 100000);
    vision_trigger_t *t = vision_trigger_new(NULL);
    uint8_t *buf = NULL;
    size_t cap = 0, len;
    int n = 0, fired_at = -1, fired = 0;
    /* two passes, as the looping source plays it */
    for (int pass = 0; pass < 2; pass++) {
        while (vision_avi_next(avi, &buf, &cap, &len, err, sizeof err) == 1) {
            vision_image_t img;
            assert_int_equal(vision_frame_to_image(info.fourcc, buf, len, info.w, info.h, 0,
                                                   &img, err, sizeof err), 0);
            if (vision_trigger_feed(t, &img) == 1) {
                fired++;
                fired_at = n;
                s_check_picture(&img);
            }
            vision_image_release(&img);
            n++;
        }
        assert_int_equal(vision_avi_rewind(avi, err, sizeof err), 0);
    }
    assert_int_equal(n, 28);
    /* frame 6 is the last move; 5 still frames later, frame 11 is taken;
     * the second pass comes back to the same boot: nothing new */
    assert_int_equal(fired, 1);
    assert_int_equal(fired_at, 11);
    free(buf);
    vision_trigger_destroy(&t);
    vision_avi_destroy(&avi);
}

/* Writes bytes to a new file in dir; returns its path in out. */
static void
s_put(const char *dir, const char *name, const void *data, size_t len, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", dir, name);
    assert_int_equal(shop_write_file_atomic(out, data, len), 0);
}

static void
test_damaged_recordings_refused(void **state)
{
    (void) state;
    char dir[] = "/tmp/shopd-framesrc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[4096], p2[4200], err[256] = "";
    s_path("camera_still_160x120_yuyv.avi", path, sizeof path);
    size_t len;
    uint8_t *good = shop_read_file(path, 1 << 20, &len, err, sizeof err);
    assert_non_null(good);
    vision_avi_t *avi;

    /* a photo is not a recording */
    s_path("boot_light.jpg", path, sizeof path);
    assert_null(vision_avi_open(path, err, sizeof err));
    assert_non_null(strstr(err, "not an AVI file"));

    /* cut inside the second frame: the first plays, the second is refused */
    s_put(dir, "cut.avi", good, len - 30000, p2, sizeof p2);
    avi = vision_avi_open(p2, err, sizeof err);
    assert_non_null(avi);
    uint8_t *buf = NULL;
    size_t cap = 0, flen;
    assert_int_equal(vision_avi_next(avi, &buf, &cap, &flen, err, sizeof err), 1);
    assert_int_equal(flen, 160 * 120 * 2);
    assert_int_equal(vision_avi_next(avi, &buf, &cap, &flen, err, sizeof err), -1);
    printf("# cut: %s\n", err);
    assert_non_null(strstr(err, "runs past the frames"));
    vision_avi_destroy(&avi);

    /* the header names a width the frames do not have: 162 x 120 x 2 bytes */
    uint8_t *forged = malloc(len);
    memcpy(forged, good, len);
    uint8_t *strf = memmem(forged, len, "strf", 4);
    assert_non_null(strf);
    strf[12] = 162;
    s_put(dir, "wide.avi", forged, len, p2, sizeof p2);
    avi = vision_avi_open(p2, err, sizeof err);
    assert_non_null(avi);
    assert_int_equal(vision_avi_next(avi, &buf, &cap, &flen, err, sizeof err), -1);
    printf("# wrong width: %s\n", err);
    assert_non_null(strstr(err, "frame of 38400 bytes"));
    vision_avi_destroy(&avi);

    /* an odd width for YUYV, and a format that is neither MJPEG nor YUYV */
    strf[12] = 161;
    s_put(dir, "odd.avi", forged, len, p2, sizeof p2);
    assert_null(vision_avi_open(p2, err, sizeof err));
    assert_non_null(strstr(err, "161x120 is invalid"));
    strf[12] = 160;
    memcpy(strf + 8 + 16, "H264", 4);
    s_put(dir, "h264.avi", forged, len, p2, sizeof p2);
    assert_null(vision_avi_open(p2, err, sizeof err));
    assert_non_null(strstr(err, "\"H264\""));
    /* no video stream at all */
    memcpy(forged, good, len);
    uint8_t *vids = memmem(forged, len, "vids", 4);
    memcpy(vids, "auds", 4);
    s_put(dir, "audio.avi", forged, len, p2, sizeof p2);
    assert_null(vision_avi_open(p2, err, sizeof err));
    assert_non_null(strstr(err, "no video stream"));
    free(forged);
    free(buf);
    free(good);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_removed_recording_is_an_unplugged_camera(void **state)
{
    (void) state;
    char dir[] = "/tmp/shopd-framesrc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[4096], rec[4200], err[256] = "";
    s_path("camera_still_320x240_mjpeg.avi", path, sizeof path);
    size_t len;
    uint8_t *good = shop_read_file(path, 1 << 20, &len, err, sizeof err);
    assert_non_null(good);
    s_put(dir, "camera.avi", good, len, rec, sizeof rec);
    vision_framesrc_t *src = vision_framesrc_open(rec, 0, 0, err, sizeof err);
    assert_non_null(src);
    const uint8_t *data;
    size_t flen;
    assert_int_equal(vision_framesrc_read(src, 5000, &data, &flen, err, sizeof err), 1);
    assert_int_equal(vision_framesrc_read(src, 5000, &data, &flen, err, sizeof err), 1);
    assert_int_equal(unlink(rec), 0);
    /* the loop opens it again: gone */
    assert_int_equal(vision_framesrc_read(src, 5000, &data, &flen, err, sizeof err), -1);
    printf("# removed: %s\n", err);
    assert_non_null(strstr(err, "No such file"));
    vision_framesrc_destroy(&src);
    /* a path that names nothing is taken for a camera not plugged in */
    assert_null(vision_framesrc_open(rec, 0, 0, err, sizeof err));
    assert_non_null(strstr(err, "is a camera connected?"));
    s_put(dir, "camera.avi", good, len, rec, sizeof rec);
    src = vision_framesrc_open(rec, 0, 0, err, sizeof err);
    assert_non_null(src);
    assert_int_equal(vision_framesrc_read(src, 5000, &data, &flen, err, sizeof err), 1);
    vision_framesrc_destroy(&src);
    unlink(rec);
    rmdir(dir);
    free(good);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recordings_play_and_loop),
        cmocka_unit_test(test_scene_fires_trigger_once),
        cmocka_unit_test(test_damaged_recordings_refused),
        cmocka_unit_test(test_removed_recording_is_an_unplugged_camera),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
