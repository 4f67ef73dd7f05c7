/* tests/vision_camera_test.c: camera frame handling on recorded frames
 * (tests/data/vision/frame_*), the change-then-still trigger, and a clear
 * error when there is no camera. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vision/camera.h"

static uint8_t *
s_load(const char *name, size_t *len)
{
    char rel[256], path[4096];
    snprintf(rel, sizeof rel, "tests/data/vision/%s", name);
    assert_non_null(shop_data_path(rel, path, sizeof path));
    uint8_t *b = shop_read_file(path, 1 << 24, len, NULL, 0);
    assert_non_null(b);
    return b;
}

static void
test_yuyv_conversion_values(void **state)
{
    (void) state;
    /* black, white (limited range), then pure red and blue pairs */
    static const uint8_t yuyv[] = { 16, 128, 16, 128,  235, 128, 235, 128,
                                    81, 90, 81, 240,   41, 240, 41, 110 };
    uint8_t rgb[8 * 3];
    vision_yuyv_to_rgb(yuyv, 8, 1, sizeof yuyv, rgb);
    for (int c = 0; c < 6; c++)
        assert_int_equal(rgb[c], 0);
    for (int c = 6; c < 12; c++)
        assert_int_equal(rgb[c], 255);
    assert_true(rgb[12] >= 250 && rgb[13] <= 5 && rgb[14] <= 5);
    assert_true(rgb[18] <= 5 && rgb[19] <= 5 && rgb[20] >= 250);
}

static void
test_recorded_frames_convert(void **state)
{
    (void) state;
    size_t len;
    char err[256];
    vision_image_t img;
    uint8_t *yuyv = s_load("frame_boot_160x120.yuyv", &len);
    assert_int_equal(vision_frame_to_image(VISION_FMT_YUYV, yuyv, len, 160, 120, 320, &img, err,
                                           sizeof err), 0);
    /* the wall (150, 140, 130) in the corner, the red boot's sole near the centre bottom */
    assert_true(abs(img.px[0] - 150) < 10 && abs(img.px[1] - 140) < 10 && abs(img.px[2] - 130) < 10);
    vision_image_release(&img);
    /* one byte short of 120 rows: refused */
    assert_int_equal(vision_frame_to_image(VISION_FMT_YUYV, yuyv, len - 1, 160, 120, 320, &img,
                                           err, sizeof err), -1);
    assert_non_null(strstr(err, "does not hold 160x120"));
    assert_int_equal(vision_frame_to_image(VISION_FMT_YUYV, yuyv, len, 161, 120, 322, &img, err,
                                           sizeof err), -1);
    free(yuyv);

    uint8_t *mj = s_load("frame_boot_320x240.mjpg", &len);
    /* like many webcams' frames, it has no Huffman tables */
    for (size_t i = 0; i + 1 < len; i++)
        assert_false(mj[i] == 0xFF && mj[i + 1] == 0xC4);
    assert_int_equal(vision_frame_to_image(VISION_FMT_MJPEG, mj, len, 320, 240, 0, &img, err,
                                           sizeof err), 0);
    assert_int_equal(img.w, 320);
    assert_int_equal(img.channels, 3);
    assert_true(abs(img.px[0] - 150) < 12 && abs(img.px[1] - 140) < 12);
    vision_image_release(&img);
    /* a frame that does not match the negotiated size is dropped */
    assert_int_equal(vision_frame_to_image(VISION_FMT_MJPEG, mj, len, 640, 480, 0, &img, err,
                                           sizeof err), -1);
    assert_non_null(strstr(err, "320x240"));
    /* a damaged frame is refused with the decoder's reason */
    assert_int_equal(vision_frame_to_image(VISION_FMT_MJPEG, mj, len / 2, 320, 240, 0, &img, err,
                                           sizeof err), -1);
    assert_non_null(strstr(err, "truncated JPEG"));
    assert_int_equal(vision_frame_to_image(VISION_FOURCC('H', '2', '6', '4'), mj, len, 320, 240,
                                           0, &img, err, sizeof err), -1);
    free(mj);
}

/* a copy of src shifted right by dx pixels (edge pixels repeated) */
static void
s_shifted(const vision_image_t *src, int dx, vision_image_t *dst)
{
    assert_int_equal(vision_image_alloc(dst, src->w, src->h, 3), 0);
    for (int y = 0; y < src->h; y++)
        for (int x = 0; x < src->w; x++) {
            int sx = SHOP_MIN(SHOP_MAX(x - dx, 0), src->w - 1);
            memcpy(dst->px + ((size_t) y * src->w + x) * 3,
                   src->px + ((size_t) y * src->w + sx) * 3, 3);
        }
}

static void
test_trigger_fires_once_when_scene_settles(void **state)
{
    (void) state;
    size_t len;
    char err[256];
    vision_image_t empty, boot, moved;
    uint8_t *b = s_load("frame_empty_160x120.yuyv", &len);
    assert_int_equal(vision_frame_to_image(VISION_FMT_YUYV, b, len, 160, 120, 320, &empty, err,
                                           sizeof err), 0);
    free(b);
    b = s_load("frame_boot_160x120.yuyv", &len);
    assert_int_equal(vision_frame_to_image(VISION_FMT_YUYV, b, len, 160, 120, 320, &boot, err,
                                           sizeof err), 0);
    free(b);
    vision_trigger_t *t = vision_trigger_new(NULL);
    assert_non_null(t);
    int fired = 0;
    /* the empty counter: nothing to take */
    for (int i = 0; i < 8; i++)
        fired += vision_trigger_feed(t, &empty);
    assert_int_equal(fired, 0);
    /* the boot is brought in, moving: no picture while it moves */
    for (int dx = -60; dx < 0; dx += 10) {
        s_shifted(&boot, dx, &moved);
        fired += vision_trigger_feed(t, &moved);
        printf("# shifted by %d: %.3f of the cells changed\n", dx, vision_trigger_motion(t));
        vision_image_release(&moved);
    }
    assert_int_equal(fired, 0);
    assert_true(vision_trigger_motion(t) > 0.05);
    /* it holds still: exactly one picture after 5 still frames */
    int at = -1;
    for (int i = 0; i < 20; i++)
        if (vision_trigger_feed(t, &boot) == 1) {
            fired++;
            at = i;
        }
    assert_int_equal(fired, 1);
    assert_int_equal(at, 5); /* the first unshifted frame still moved */
    /* taken away and back to the empty counter: the new still scene is
     * reported too (the classifier then answers "nothing there") */
    for (int i = 0; i < 10; i++)
        fired += vision_trigger_feed(t, &empty);
    assert_int_equal(fired, 2);
    /* a brief flicker that returns to the same scene takes no picture */
    vision_image_t dark;
    assert_int_equal(vision_image_alloc(&dark, 160, 120, 3), 0);
    fired += vision_trigger_feed(t, &dark);
    for (int i = 0; i < 10; i++)
        fired += vision_trigger_feed(t, &empty);
    assert_int_equal(fired, 2);
    vision_image_release(&dark);
    vision_trigger_destroy(&t);
    vision_trigger_destroy(&t);
    vision_trigger_opts_t bad = { .still_frames = -1 };
    assert_null(vision_trigger_new(&bad));
    vision_image_release(&empty);
    vision_image_release(&boot);
}

static void
test_missing_camera_is_a_clear_error(void **state)
{
    (void) state;
    char err[256] = "";
    vision_camera_opts_t o = { .device = "/dev/video-shop-test-none" };
    vision_camera_t *cam = vision_camera_new(&o, err, sizeof err);
    assert_null(cam);
    assert_non_null(strstr(err, "camera /dev/video-shop-test-none: No such file or directory"));
    /* a file that is not a video device */
    o.device = "/dev/null";
    cam = vision_camera_new(&o, err, sizeof err);
    assert_null(cam);
    assert_non_null(strstr(err, "/dev/null"));
    vision_camera_destroy(&cam);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yuyv_conversion_values),
        cmocka_unit_test(test_recorded_frames_convert),
        cmocka_unit_test(test_trigger_fires_once_when_scene_settles),
        cmocka_unit_test(test_missing_camera_is_a_clear_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
