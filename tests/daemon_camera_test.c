/* tests/daemon_camera_test.c: shopd's camera thread (daemon/camera.h) on
 * recordings written by ffmpeg (tests/data/vision/camera_*.avi), since no
 * camera exists on the machines that run the tests:
 * - the scene trigger takes exactly one picture over two passes of the scene
 *   recording (frames decoded in the thread's jailed decoder), and that
 *   picture is the boot held still;
 * - the interval trigger takes pictures at its period;
 * - camera_latest hands out the latest frame while streaming;
 * - a device path that names nothing is "unavailable" with the reason, and
 *   streams once a recording appears there (backoff retries); a recording
 *   removed while playing is "unavailable" again. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/camera.h"
#include "daemon/recog.h"

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static camera_picture_t s_pics[64];
static int s_npics;

static void
s_on_picture(camera_picture_t *pic, void *arg)
{
    assert_ptr_equal(arg, &s_npics);
    pthread_mutex_lock(&s_lock);
    if (s_npics < 64)
        s_pics[s_npics++] = *pic;
    else
        free(pic->data);
    pthread_mutex_unlock(&s_lock);
}

static int
s_count(void)
{
    pthread_mutex_lock(&s_lock);
    int n = s_npics;
    pthread_mutex_unlock(&s_lock);
    return n;
}

static void
s_reset(void)
{
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < s_npics; i++)
        free(s_pics[i].data);
    s_npics = 0;
    pthread_mutex_unlock(&s_lock);
}

static void
s_path(const char *name, char *path, size_t len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/vision/%s", name);
    assert_non_null(shop_data_path(rel, path, len));
}

/* A status member as an integer / string. */
static json_int_t
s_int(camera_t *c, const char *key)
{
    json_t *o = camera_status_json(c);
    json_int_t v = json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

static bool
s_state_is(camera_t *c, const char *state)
{
    json_t *o = camera_status_json(c);
    bool eq = !strcmp(json_string_value(json_object_get(o, "state")), state);
    json_decref(o);
    return eq;
}

/* Waits up to ms for the frame counter to reach n. */
static void
s_wait_frames(camera_t *c, json_int_t n, int ms)
{
    for (int i = 0; i < ms / 10 && s_int(c, "frames") < n; i++)
        usleep(10000);
    assert_true(s_int(c, "frames") >= n);
}

static void
s_wait_state(camera_t *c, const char *state, int ms)
{
    for (int i = 0; i < ms / 10 && !s_state_is(c, state); i++)
        usleep(10000);
    if (!s_state_is(c, state)) {
        json_t *o = camera_status_json(c);
        char *d = json_dumps(o, 0);
        fail_msg("camera not %s within %d ms: %s", state, ms, d);
    }
}

/* The red boot in the middle of the wall, as in tests/vision_framesrc_test. */
static void
s_check_boot(const camera_picture_t *pic)
{
    vision_image_t img;
    char err[256];
    assert_int_equal(recog_decode_frame(NULL, &pic->fmt, pic->data, pic->len, 3, &img, err,
                                        sizeof err), 0);
    const uint8_t *mid = img.px + ((size_t) (img.h / 2) * (size_t) img.w + (size_t) img.w / 2) * 3;
    const uint8_t *corner = img.px;
    assert_true(corner[0] > 130 && corner[0] < 170);
    assert_true(mid[0] > mid[1] + 30);
    vision_image_release(&img);
}

static void
test_scene_trigger_takes_one_picture(void **state)
{
    (void) state;
    s_reset();
    char path[4096], err[256] = "";
    s_path("camera_scene_320x240_mjpeg.avi", path, sizeof path);
    camera_opts_t o = { .device = path, .trigger = CAMERA_TRIGGER_SCENE, .jail = true };
    camera_t *c = camera_new(&o, s_on_picture, &s_npics, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(camera_start(c, err, sizeof err), 0);
    /* two passes of 14 frames at 10 a second */
    s_wait_frames(c, 28, 30000);
    assert_int_equal(s_count(), 1);
    assert_int_equal(s_pics[0].seq, 12);   /* frame 11 counted from 0 */
    assert_true(s_pics[0].by_trigger);
    assert_int_equal(s_pics[0].fmt.fourcc, VISION_FMT_MJPEG);
    s_check_boot(&s_pics[0]);
    json_t *st = camera_status_json(c);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "streaming");
    assert_string_equal(json_string_value(json_object_get(st, "source")), "recording");
    assert_string_equal(json_string_value(json_object_get(st, "format")), "MJPEG");
    assert_string_equal(json_string_value(json_object_get(st, "trigger")), "scene");
    assert_int_equal(json_integer_value(json_object_get(st, "width")), 320);
    assert_int_equal(json_integer_value(json_object_get(st, "pictures")), 1);
    json_decref(st);
    camera_destroy(&c);
    assert_null(c);
    s_reset();
}

static void
test_interval_and_latest(void **state)
{
    (void) state;
    s_reset();
    char path[4096], err[256] = "";
    s_path("camera_still_160x120_yuyv.avi", path, sizeof path);
    camera_opts_t o = { .device = path, .trigger = CAMERA_TRIGGER_INTERVAL, .interval_ms = 300 };
    camera_t *c = camera_new(&o, s_on_picture, &s_npics, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(camera_start(c, err, sizeof err), 0);
    s_wait_frames(c, 20, 30000);
    /* 20 frames at 10 a second: 2 s, a picture every 0.3 s at most */
    int n = s_count();
    printf("# %d pictures in %lld frames\n", n, (long long) s_int(c, "frames"));
    assert_true(n >= 3);
    assert_true(n <= 8);
    s_check_boot(&s_pics[0]);
    camera_picture_t pic;
    assert_int_equal(camera_latest(c, &pic, err, sizeof err), 0);
    assert_int_equal(pic.fmt.fourcc, VISION_FMT_YUYV);
    assert_int_equal(pic.len, 160 * 120 * 2);
    assert_false(pic.by_trigger);
    s_check_boot(&pic);
    free(pic.data);
    camera_destroy(&c);
    s_reset();
}

static void
test_missing_then_plugged_then_removed(void **state)
{
    (void) state;
    s_reset();
    char dir[] = "/tmp/shopd-camera-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char rec[256], src[4096], err[256] = "";
    snprintf(rec, sizeof rec, "%s/video0", dir);
    s_path("camera_still_320x240_mjpeg.avi", src, sizeof src);
    size_t len;
    uint8_t *bytes = shop_read_file(src, 1 << 20, &len, err, sizeof err);
    assert_non_null(bytes);
    camera_opts_t o = { .device = rec, .backoff_min_ms = 50, .backoff_max_ms = 200 };
    camera_t *c = camera_new(&o, s_on_picture, &s_npics, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(camera_start(c, err, sizeof err), 0);
    s_wait_state(c, "unavailable", 10000);
    camera_picture_t pic;
    assert_int_equal(camera_latest(c, &pic, err, sizeof err), -1);
    printf("# missing: %s\n", err);
    assert_non_null(strstr(err, "the camera is unavailable"));
    assert_non_null(strstr(err, "is a camera connected?"));
    /* plugged in */
    assert_int_equal(shop_write_file_atomic(rec, bytes, len), 0);
    s_wait_state(c, "streaming", 10000);
    json_int_t f0 = s_int(c, "frames");
    s_wait_frames(c, f0 + 3, 10000);
    assert_int_equal(camera_latest(c, &pic, err, sizeof err), 0);
    s_check_boot(&pic);
    free(pic.data);
    /* unplugged: the loop opens it again and fails */
    assert_int_equal(unlink(rec), 0);
    s_wait_state(c, "unavailable", 10000);
    json_t *st = camera_status_json(c);
    printf("# removed: %s\n", json_string_value(json_object_get(st, "error")));
    assert_non_null(strstr(json_string_value(json_object_get(st, "error")), "No such file"));
    json_decref(st);
    /* and back */
    assert_int_equal(shop_write_file_atomic(rec, bytes, len), 0);
    s_wait_state(c, "streaming", 10000);
    /* the thread stops promptly */
    uint64_t t0 = shop_now_ns();
    camera_destroy(&c);
    printf("# stopped in %.1f ms\n", (double) (shop_now_ns() - t0) / 1e6);
    unlink(rec);
    rmdir(dir);
    free(bytes);
    assert_int_equal(s_count(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scene_trigger_takes_one_picture),
        cmocka_unit_test(test_interval_and_latest),
        cmocka_unit_test(test_missing_then_plugged_then_removed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
