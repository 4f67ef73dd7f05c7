/* tests/daemon_look_test.c: shopd's camera, through a real shopd with the
 * demo store, fed with recordings written by ffmpeg (tests/data/vision/
 * camera_*.avi: the machines that run the tests have no camera; the
 * recording goes through the same frame-source code as a V4L2 device):
 * - a camera path that names nothing: shopd serves, status.camera says
 *   "unavailable" and why, `look` answers not_available with that reason,
 *   and the log says so once however many retries;
 * - a YUYV recording put there: status.camera streams (YUYV 160x120), and
 *   `look` answers the product (the true label of the recorded boot) with
 *   similar products, published as `product` and `recommendations` events
 *   on the camera's session; status.camera.last names it;
 * - the recording removed: "unavailable" again (one more log line); an
 *   MJPEG recording put back: streaming MJPEG 320x240, `look` as before;
 * - the scene recording with trigger = scene: over two passes exactly one
 *   `product` event, the boot held still, with its recommendations;
 * - trigger = interval on the still recording: a picture a second, its
 *   `product` event on the configured session (kiosk-7).
 * Skipped (77) when shopd is not built or the dataset is missing. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/shopd_harness.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/client.h"
#include "ipc/proto.h"
#include "vision/fmnist.h"

static harness_t s_d;
static char s_truth[64];

static int
s_teardown(void **state)
{
    (void) state;
    harness_cleanup(&s_d);
    return 0;
}

static void
s_truth_label(void)
{
    vision_fmnist_t ds;
    char err[512];
    if (vision_fmnist_load_set(VISION_FMNIST_DIR, "t10k", &ds, err, sizeof err) < 0)
        skip();
    shop_strlcpy(s_truth, vision_fmnist_labels[ds.labels[0]], sizeof s_truth);
    vision_fmnist_release(&ds);
}

static uint8_t *
s_recording(const char *name, size_t *len)
{
    char rel[256], path[4096], err[256];
    snprintf(rel, sizeof rel, "tests/data/vision/%s", name);
    if (!shop_data_path(rel, path, sizeof path))
        fail_msg("%s not found", rel);
    uint8_t *b = shop_read_file(path, 1 << 22, len, err, sizeof err);
    if (!b)
        fail_msg("%s", err);
    return b;
}

/* status.camera (a new reference). */
static json_t *
s_camera(client_t *c)
{
    proto_reply_t r;
    char err[256];
    assert_int_equal(client_request(c, "status", NULL, NULL, NULL, NULL, 0, 10000, &r, err,
                                    sizeof err), 0);
    assert_true(r.ok);
    json_t *cam = json_incref(json_object_get(r.body, "camera"));
    proto_reply_clear(&r);
    assert_non_null(cam);
    return cam;
}

/* Waits up to 30 s for status.camera.state == state and frames >= frames. */
static json_t *
s_wait_camera(client_t *c, const char *state, json_int_t frames)
{
    for (int i = 0; i < 300; i++) {
        json_t *cam = s_camera(c);
        if (!strcmp(json_string_value(json_object_get(cam, "state")), state)
            && json_integer_value(json_object_get(cam, "frames")) >= frames)
            return cam;
        json_decref(cam);
        usleep(100000);
    }
    json_t *cam = s_camera(c);
    fail_msg("camera not %s with %lld frames within 30 s: %s", state, (long long) frames,
             json_dumps(cam, 0));
    return NULL;
}

/* Sends look; returns the reply (caller clears). */
static void
s_look(client_t *c, proto_reply_t *r)
{
    char err[256];
    assert_int_equal(client_request(c, "look", "someone-else", NULL, NULL, NULL, 0, 30000, r, err,
                                    sizeof err), 0);
}

/* The events of the camera session received within ms: counts of product
 * and recommendations; the last product body in *product (new ref). */
static void
s_events(client_sub_t *sub, int ms, int *products, int *recs, json_t **product)
{
    uint64_t end = shop_now_ns() + (uint64_t) ms * 1000000u;
    for (;;) {
        uint64_t now = shop_now_ns();
        if (now >= end)
            break;
        char topic[64], err[256];
        json_t *ev = NULL;
        int rc = client_sub_recv(sub, (int) ((end - now) / 1000000u) + 1, topic, sizeof topic, &ev,
                                 err, sizeof err);
        if (rc != 0)
            break;
        const char *session = json_string_value(json_object_get(ev, "session"));
        if (session && !strcmp(session, "camera")) {
            if (!strcmp(topic, "product")) {
                (*products)++;
                if (product) {
                    json_decref(*product);
                    *product = json_incref(json_object_get(ev, "body"));
                }
            } else if (!strcmp(topic, "recommendations")) {
                (*recs)++;
            }
        } else if (session && (!strcmp(topic, "product") || !strcmp(topic, "recommendations"))) {
            fail_msg("a %s event on session %s", topic, session);
        }
        json_decref(ev);
    }
}

/* A look answer: the recorded boot, similar products, and its events. */
static void
s_look_answers_boot(client_t *c, client_sub_t *sub, const char *what)
{
    proto_reply_t r;
    s_look(c, &r);
    if (!r.ok)
        fail_msg("%s: look: %s: %s", what, proto_err_name(r.code), r.message);
    json_t *prod = json_object_get(r.body, "product");
    const char *label = json_string_value(json_object_get(prod, "label"));
    json_t *results = json_object_get(json_object_get(r.body, "recommendations"), "results");
    printf("# %s: look: %s (%.3f), %zu recommendations; session %s\n", what, label,
           json_number_value(json_object_get(prod, "confidence")), json_array_size(results),
           json_string_value(json_object_get(json_object_get(r.body, "session"), "session")));
    assert_string_equal(r.type, "look");
    assert_string_equal(label, s_truth);
    assert_false(json_is_true(json_object_get(prod, "unsure")));
    assert_true(json_array_size(results) > 0);
    /* the answer belongs to the camera's session, not the requester's */
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "session"),
                                                          "session")), "camera");
    proto_reply_clear(&r);
    int products = 0, recs = 0;
    json_t *ev = NULL;
    s_events(sub, 2000, &products, &recs, &ev);
    assert_int_equal(products, 1);
    assert_true(recs >= 1);
    assert_string_equal(json_string_value(json_object_get(ev, "label")), s_truth);
    json_decref(ev);
    json_t *cam = s_camera(c);
    json_t *last = json_object_get(cam, "last");
    assert_string_equal(json_string_value(json_object_get(last, "label")), s_truth);
    assert_string_equal(json_string_value(json_object_get(last, "by")), "request");
    json_decref(cam);
}

static void
test_camera_unplugged_plugged_and_looked_at(void **state)
{
    (void) state;
    s_truth_label();
    char conf[512], dev[200];
    harness_prepare(&s_d, "look", NULL);
    snprintf(dev, sizeof dev, "%s/video0", s_d.dir);
    snprintf(conf, sizeof conf, "[camera]\ndevice = %s\n", dev);
    harness_write(s_d.conf, conf);
    harness_start(&s_d);
    client_t *c = harness_client(&s_d);
    char err[256];
    const char *topics[] = { "product", "recommendations", NULL };
    client_sub_t *sub = client_sub_new(s_d.pub_ep, NULL, NULL, topics, err, sizeof err);
    assert_non_null(sub);

    /* nothing there */
    json_t *cam = s_wait_camera(c, "unavailable", 0);
    printf("# no device: %s\n", json_string_value(json_object_get(cam, "error")));
    assert_string_equal(json_string_value(json_object_get(cam, "device")), dev);
    assert_non_null(strstr(json_string_value(json_object_get(cam, "error")),
                           "is a camera connected?"));
    json_decref(cam);
    proto_reply_t r;
    s_look(c, &r);
    assert_false(r.ok);
    assert_int_equal(r.code, PROTO_E_NOT_AVAILABLE);
    assert_non_null(strstr(r.message, "the camera is unavailable"));
    proto_reply_clear(&r);
    /* retries with backoff (0.5, 1, 2 s...): still one line in the log */
    assert_true(harness_log_has(&s_d, "camera unavailable", 5000));
    usleep(2000000);
    assert_int_equal(harness_log_count(&s_d, "camera unavailable"), 1);

    /* a YUYV camera plugged in */
    size_t len;
    uint8_t *yuyv = s_recording("camera_still_160x120_yuyv.avi", &len);
    assert_int_equal(shop_write_file_atomic(dev, yuyv, len), 0);
    free(yuyv);
    cam = s_wait_camera(c, "streaming", 3);
    assert_string_equal(json_string_value(json_object_get(cam, "format")), "YUYV");
    assert_int_equal(json_integer_value(json_object_get(cam, "width")), 160);
    assert_string_equal(json_string_value(json_object_get(cam, "source")), "recording");
    json_decref(cam);
    assert_int_equal(harness_log_count(&s_d, ": streaming 160x120 YUYV"), 1);
    s_look_answers_boot(c, sub, "YUYV 160x120");

    /* unplugged */
    assert_int_equal(unlink(dev), 0);
    json_decref(s_wait_camera(c, "unavailable", 0));
    assert_int_equal(harness_log_count(&s_d, "camera unavailable"), 2);

    /* an MJPEG camera plugged in */
    uint8_t *mjpeg = s_recording("camera_still_320x240_mjpeg.avi", &len);
    assert_int_equal(shop_write_file_atomic(dev, mjpeg, len), 0);
    free(mjpeg);
    cam = s_camera(c);
    json_int_t frames = json_integer_value(json_object_get(cam, "frames"));
    json_decref(cam);
    cam = s_wait_camera(c, "streaming", frames + 3);
    assert_string_equal(json_string_value(json_object_get(cam, "format")), "MJPEG");
    assert_int_equal(json_integer_value(json_object_get(cam, "width")), 320);
    json_decref(cam);
    s_look_answers_boot(c, sub, "MJPEG 320x240");

    client_sub_destroy(&sub);
    client_destroy(&c);
    assert_int_equal(harness_stop(&s_d, SIGTERM), 0);
    harness_cleanup(&s_d);
}

static void
test_scene_trigger_publishes_once(void **state)
{
    (void) state;
    s_truth_label();
    char conf[512], dev[200];
    harness_prepare(&s_d, "lookscene", NULL);
    snprintf(dev, sizeof dev, "%s/video0", s_d.dir);
    snprintf(conf, sizeof conf, "[daemon]\nstatus_interval = 1\n[camera]\ndevice = %s\n"
                                "trigger = scene\n", dev);
    harness_write(s_d.conf, conf);
    harness_start(&s_d);
    client_t *c = harness_client(&s_d);
    char err[256], topic[64];
    const char *topics[] = { "product", "recommendations", "status", NULL };
    client_sub_t *sub = client_sub_new(s_d.pub_ep, NULL, NULL, topics, err, sizeof err);
    assert_non_null(sub);
    /* a status heartbeat received: the subscription is live before the
     * camera shows anything */
    json_t *ev = NULL;
    for (int i = 0; i < 30; i++) {
        assert_int_equal(client_sub_recv(sub, 5000, topic, sizeof topic, &ev, err, sizeof err),
                         0);
        bool status = !strcmp(topic, "status");
        json_decref(ev);
        ev = NULL;
        if (status)
            break;
    }
    size_t len;
    uint8_t *scene = s_recording("camera_scene_320x240_mjpeg.avi", &len);
    assert_int_equal(shop_write_file_atomic(dev, scene, len), 0);
    free(scene);
    /* two passes of 14 frames, and a few more */
    json_decref(s_wait_camera(c, "streaming", 30));
    int products = 0, recs = 0;
    s_events(sub, 2000, &products, &recs, &ev);
    json_t *cam = s_camera(c);
    json_int_t pictures = json_integer_value(json_object_get(cam, "pictures"));
    printf("# scene: %lld frames, %lld picture(s) taken, %d product event(s) (%s), %d "
           "recommendations event(s)\n",
           (long long) json_integer_value(json_object_get(cam, "frames")), (long long) pictures,
           products, ev ? json_string_value(json_object_get(ev, "label")) : "none", recs);
    assert_int_equal(pictures, 1);
    assert_int_equal(products, 1);
    assert_string_equal(json_string_value(json_object_get(ev, "label")), s_truth);
    assert_true(recs >= 1);
    json_t *last = json_object_get(cam, "last");
    assert_string_equal(json_string_value(json_object_get(last, "label")), s_truth);
    assert_string_equal(json_string_value(json_object_get(last, "by")), "trigger");
    assert_true(harness_log_has(&s_d, "the scene changed and holds still", 0));
    json_decref(cam);
    json_decref(ev);
    client_sub_destroy(&sub);
    client_destroy(&c);
    assert_int_equal(harness_stop(&s_d, SIGTERM), 0);
    harness_cleanup(&s_d);
}

static void
test_interval_trigger_publishes_pictures(void **state)
{
    (void) state;
    s_truth_label();
    char conf[4400], path[4096];
    if (!shop_data_path("tests/data/vision/camera_still_160x120_yuyv.avi", path, sizeof path))
        fail_msg("the still recording is missing");
    harness_prepare(&s_d, "lookivl", NULL);
    snprintf(conf, sizeof conf, "[camera]\ndevice = %s\ntrigger = interval\ninterval = 1\n"
                                "session = kiosk-7\n", path);
    harness_write(s_d.conf, conf);
    harness_start(&s_d);
    client_t *c = harness_client(&s_d);
    char err[256], topic[64];
    const char *topics[] = { "product", NULL };
    client_sub_t *sub = client_sub_new(s_d.pub_ep, NULL, NULL, topics, err, sizeof err);
    assert_non_null(sub);
    /* two pictures, a second apart, on the configured session */
    int got = 0;
    for (int i = 0; i < 30 && got < 2; i++) {
        json_t *ev = NULL;
        if (client_sub_recv(sub, 1000, topic, sizeof topic, &ev, err, sizeof err) != 0)
            continue;
        assert_string_equal(json_string_value(json_object_get(ev, "session")), "kiosk-7");
        assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "body"),
                                                              "label")), s_truth);
        got++;
        json_decref(ev);
    }
    json_t *cam = s_camera(c);
    printf("# interval 1 s: %d product events; status: %lld pictures, trigger %s\n", got,
           (long long) json_integer_value(json_object_get(cam, "pictures")),
           json_string_value(json_object_get(cam, "trigger")));
    assert_int_equal(got, 2);
    assert_string_equal(json_string_value(json_object_get(cam, "trigger")), "interval");
    assert_string_equal(json_string_value(json_object_get(json_object_get(cam, "last"), "by")),
                        "trigger");
    json_decref(cam);
    client_sub_destroy(&sub);
    client_destroy(&c);
    assert_int_equal(harness_stop(&s_d, SIGTERM), 0);
    harness_cleanup(&s_d);
}

int
main(void)
{
    if (harness_init() != 0)
        return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_camera_unplugged_plugged_and_looked_at, s_teardown),
        cmocka_unit_test_teardown(test_scene_trigger_publishes_once, s_teardown),
        cmocka_unit_test_teardown(test_interval_trigger_publishes_pictures, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
