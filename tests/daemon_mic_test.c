/* tests/daemon_mic_test.c: shopd's own microphone, end to end: a real
 * shopd started with [microphone] device = vmic, PortAudio, and an ALSA
 * virtual microphone.
 *
 * The virtual microphone (tests/vmic.h) is ALSA's `file` plugin reading a
 * named pipe, the one device of the ALSA configuration shopd is given: a
 * feeder thread writes 10 ms of audio into the pipe every 10 ms, silence
 * unless a spoken command is playing.
 * The commands are espeak-ng's en-us+f4, a voice held out of the keyword
 * spotter's training (docs/speech.md). Events are read from shopd's real
 * PUB socket and status from its ROUTER socket.
 *
 * Checks, in order, on one shopd: "show me sneakers" without the wake word
 * does nothing (its words are heard and ignored, no event); "shopwise, show
 * me sneakers" publishes exactly one `intent` (search, category sneaker),
 * the recommendations (sneakers) and one `answer` with a `say` sentence on
 * the session "mic"; `status` shows the microphone; the device stops
 * delivering and then disappears (shopd reports "reopening" and why), comes
 * back (shopd finds it, "listening" again) and a command works again. Every
 * wait is on a condition (status or an event) with a generous bound.
 * Skips (77) without espeak-ng or sox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/client.h"
#include "tests/shopd_harness.h"
#include "tests/vmic.h"

/* bound for anything that waits on PortAudio opening a device: its ALSA
 * probing takes seconds under sanitizers on a busy machine */
#define S_SLOW 90.0

static harness_t s_d;
static char s_home[200];

/* ---- the virtual microphone (tests/vmic.h) ----------------------------------- */

static vmic_feeder_t s_feed;

/* The device appears: its pipe, fed silence from now on. */
static void
s_feeder_start(vmic_feeder_t *f)
{
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s/mic.fifo", s_home);
    vmic_feeder_start(f, fifo, 320, true);
}

/* ---- speech ------------------------------------------------------------------ */

static uint8_t *s_wake_cmd, *s_no_wake;
static size_t s_wake_len, s_no_wake_len;

static uint8_t *
s_load(const char *name, size_t *len)
{
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/%s", s_home, name);
    uint8_t *b = shop_read_file(path, 1 << 22, len, err, sizeof err);
    if (!b)
        fail_msg("%s", err);
    return b;
}

/* ---- shopd ------------------------------------------------------------------- */

/* The microphone object of a status reply (new reference), or NULL. */
static json_t *
s_mic_status(client_t *c)
{
    proto_reply_t r;
    char err[512];
    if (client_request(c, "status", NULL, NULL, NULL, NULL, 0, 5000, &r, err, sizeof err) != 0)
        return NULL;
    json_t *m = r.ok ? json_incref(json_object_get(r.body, "microphone")) : NULL;
    proto_reply_clear(&r);
    return m;
}

static double
s_num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static const char *
s_str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

/* Waits up to seconds until the microphone's status has key == want (a
 * string), returning that status (new reference); fails the test if not. */
static json_t *
s_wait_state(client_t *c, const char *key, const char *want, double seconds)
{
    double end = shop_now_s() + seconds;
    json_t *m = NULL;
    while (shop_now_s() < end) {
        json_decref(m);
        m = s_mic_status(c);
        if (m && strstr(s_str(m, key), want))
            return m;
        usleep(50000);
    }
    fail_msg("microphone %s did not become '%s' in %.0f s (last: '%s'; see %s)", key, want,
             seconds, m ? s_str(m, key) : "?", s_d.log);
    return NULL;
}

/* Waits until shopd has listened to `seconds` more audio than it had at
 * `from` (its stream time), so everything a clip could cause has happened. */
static json_t *
s_wait_heard_until(client_t *c, double until)
{
    double end = shop_now_s() + S_SLOW + until;
    json_t *m = NULL;
    while (shop_now_s() < end) {
        json_decref(m);
        m = s_mic_status(c);
        if (m && s_num(m, "audio_seconds") >= until)
            return m;
        usleep(50000);
    }
    fail_msg("shopd's microphone did not reach %.1f s of audio (see %s)", until, s_d.log);
    return NULL;
}

/* Events on the session "mic", counted while draining the subscriber. */
typedef struct {
    int intents, answers, recommendations, other_sessions;
    json_t *intent, *answer, *recs;   /* the last of each (new references) */
} s_events_t;

static void
s_events_clear(s_events_t *e)
{
    json_decref(e->intent);
    json_decref(e->answer);
    json_decref(e->recs);
    memset(e, 0, sizeof *e);
}

/* Reads events until none comes for timeout_ms. */
static void
s_drain(client_sub_t *sub, s_events_t *e, int timeout_ms)
{
    char topic[64], err[256];
    json_t *ev;
    while (client_sub_recv(sub, timeout_ms, topic, sizeof topic, &ev, err, sizeof err) == 0) {
        const char *session = s_str(ev, "session");
        json_t *body = json_object_get(ev, "body");
        if (!strcmp(topic, "status")) {
            json_decref(ev);
            continue;
        }
        if (strcmp(session, "mic") != 0) {
            e->other_sessions++;
        } else if (!strcmp(topic, "intent")) {
            e->intents++;
            json_decref(e->intent);
            e->intent = json_incref(body);
        } else if (!strcmp(topic, "answer")) {
            e->answers++;
            json_decref(e->answer);
            e->answer = json_incref(body);
        } else if (!strcmp(topic, "recommendations")) {
            e->recommendations++;
            json_decref(e->recs);
            e->recs = json_incref(body);
        }
        json_decref(ev);
    }
}

/* Plays the command with the wake word and checks its events: exactly one
 * intent, search for sneakers; recommendations, all sneakers; one answer
 * with something to say. */
static void
s_command_works(client_t *c, client_sub_t *sub)
{
    json_t *m = s_mic_status(c);
    assert_non_null(m);
    double until = s_num(m, "audio_seconds") + (double) s_wake_len / 32000.0 + 4.0;
    json_decref(m);
    s_events_t e = { 0 };
    vmic_feeder_play(&s_feed, s_wake_cmd, s_wake_len);
    /* the intent comes within about a second of the command's end */
    double end = shop_now_s() + S_SLOW;
    while (e.intents == 0 && shop_now_s() < end)
        s_drain(sub, &e, 200);
    if (e.intents == 0)
        fail_msg("no intent event for \"shopwise, show me sneakers\" (see %s)", s_d.log);
    /* then nothing more, until shopd has heard 4 s past the command */
    json_decref(s_wait_heard_until(c, until));
    s_drain(sub, &e, 500);
    assert_int_equal(e.intents, 1);
    assert_int_equal(e.answers, 1);
    assert_int_equal(e.recommendations, 1);
    assert_true(json_is_true(json_object_get(e.intent, "understood")));
    assert_string_equal(s_str(e.intent, "name"), "search");
    assert_string_equal(s_str(json_object_get(e.intent, "slots"), "category"), "sneaker");
    const json_t *results = json_object_get(e.recs, "results");
    size_t n = json_array_size(results);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(s_str(json_array_get(results, i), "category"), "sneaker");
    assert_true(strlen(s_str(e.answer, "say")) > 0);
    assert_string_equal(s_str(json_object_get(e.answer, "session"), "session"), "mic");
    assert_string_equal(s_str(json_object_get(e.answer, "session"), "category"), "sneaker");
    print_message("# heard: %s -> %zu recommendations; says \"%s\"\n",
                  s_str(e.intent, "text"), n, s_str(e.answer, "say"));
    s_events_clear(&e);
}

/* ---- the test ------------------------------------------------------------------ */

static void
test_microphone_in_the_daemon(void **state)
{
    (void) state;
    harness_t *d = &s_d;
    harness_prepare(d, "mic",
                    "[daemon]\nstatus_interval = 1\n[store]\nimport_demo = yes\n"
                    "[models]\nvision =\n[microphone]\ndevice = vmic\n");
    shop_strlcpy(s_home, d->dir, sizeof s_home);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd %s && espeak-ng -v en-us+f4 -w wake.wav 'shopwise, show me sneakers'"
             " && espeak-ng -v en-us+f4 -w nowake.wav 'show me sneakers'"
             " && sox wake.wav -r 16000 -c 1 -b 16 -e signed -t raw wake.raw"
             " && sox nowake.wav -r 16000 -c 1 -b 16 -e signed -t raw nowake.raw",
             s_home);
    assert_int_equal(system(cmd), 0);
    s_wake_cmd = s_load("wake.raw", &s_wake_len);
    s_no_wake = s_load("nowake.raw", &s_no_wake_len);
    /* the virtual microphone, the only device of the ALSA configuration
     * shopd reads (ALSA_CONFIG_PATH below) */
    char rc[300], fifo[300];
    snprintf(rc, sizeof rc, "%s/asound.conf", s_home);
    snprintf(fifo, sizeof fifo, "%s/mic.fifo", s_home);
    const vmic_device_t dev = { "vmic", fifo, "rate 16000; channels 1" };
    vmic_write_config(rc, &dev, 1);
    s_feeder_start(&s_feed);
    char home_env[256], alsa_env[320];
    snprintf(home_env, sizeof home_env, "HOME=%s", s_home);
    snprintf(alsa_env, sizeof alsa_env, "ALSA_CONFIG_PATH=%s", rc);
    const char *const env[] = { home_env, alsa_env, NULL };
    harness_spawn_t opts = { .env = env };
    harness_spawn(d, &opts);
    harness_wait_ready(d, NULL, 120);
    client_t *c = harness_client(d);
    char err[512];
    /* every session and the daemon's own events: an operator's view, which a client of
     * an ipc:// socket file is */
    client_sub_t *sub = client_sub_new(d->pub_ep, NULL, NULL, NULL, err, sizeof err);
    assert_non_null(sub);

    /* status shows the microphone; the subscription is live once a status
     * heartbeat arrives */
    json_t *m = s_wait_state(c, "state", "listening", S_SLOW);
    assert_string_equal(s_str(m, "device"), "vmic");
    assert_non_null(strstr(s_str(m, "device_name"), "vmic"));
    assert_string_equal(s_str(m, "session"), "mic");
    assert_string_equal(s_str(m, "wake_word"), "shopwise");
    assert_true(json_is_true(json_object_get(m, "require_wake")));
    /* not configured: the shipped model's own, as it stores it */
    assert_true(s_num(m, "wake_min") == 0.6);
    assert_string_equal(s_str(m, "wake_min_from"), "model");
    assert_int_equal((int) s_num(m, "opens"), 1);
    json_decref(m);
    char topic[64];
    json_t *ev = NULL;
    double end = shop_now_s() + 30;
    while (shop_now_s() < end
           && client_sub_recv(sub, 1000, topic, sizeof topic, &ev, err, sizeof err) != 0)
        ;
    assert_non_null(ev);
    json_decref(ev);

    /* a command without the wake word: heard, ignored, no event */
    m = s_mic_status(c);
    double until = s_num(m, "audio_seconds") + (double) s_no_wake_len / 32000.0 + 4.0;
    json_decref(m);
    vmic_feeder_play(&s_feed, s_no_wake, s_no_wake_len);
    m = s_wait_heard_until(c, until);
    s_events_t e = { 0 };
    s_drain(sub, &e, 500);
    assert_int_equal(e.intents + e.answers + e.recommendations, 0);
    assert_int_equal((int) s_num(m, "wakes"), 0);
    assert_int_equal((int) s_num(m, "commands"), 0);
    assert_true(s_num(m, "ignored") >= 1);
    print_message("# without the wake word: %.0f words heard and ignored\n",
                  s_num(m, "ignored"));
    json_decref(m);

    /* the wake word and the command */
    s_command_works(c, sub);
    m = s_mic_status(c);
    assert_int_equal((int) s_num(m, "wakes"), 1);
    assert_int_equal((int) s_num(m, "commands"), 1);
    assert_int_equal((int) s_num(m, "understood"), 1);
    assert_true(s_num(m, "detections") >= 3);
    assert_true(json_is_integer(json_object_get(m, "overruns")));
    json_decref(m);

    /* the device stops delivering, then is gone: shopd says so and why */
    atomic_store(&s_feed.hold, true);
    json_decref(s_wait_state(c, "state", "reopening", S_SLOW));
    vmic_feeder_stop(&s_feed);
    m = s_wait_state(c, "error", "no input device named like 'vmic'", S_SLOW);
    assert_string_equal(s_str(m, "state"), "reopening");
    json_decref(m);
    /* it comes back: found again, and commands work again */
    s_feeder_start(&s_feed);
    m = s_wait_state(c, "state", "listening", S_SLOW);
    assert_int_equal((int) s_num(m, "opens"), 2);
    json_decref(m);
    s_command_works(c, sub);
    m = s_mic_status(c);
    assert_int_equal((int) s_num(m, "commands"), 2);
    json_decref(m);
    /* one log line per change of state, not one per retry */
    assert_int_equal(harness_log_count(d, "capture: recording from 'vmic"), 2);
    assert_int_equal(harness_log_count(d, ": reopening it"), 1);
    assert_int_equal(harness_log_count(d, "retrying"), 0);

    client_sub_destroy(&sub);
    client_destroy(&c);
    assert_int_equal(harness_stop(d, SIGTERM), 0);
    vmic_feeder_stop(&s_feed);
}

static int
s_teardown(void **state)
{
    (void) state;
    harness_cleanup(&s_d);
    free(s_wake_cmd);
    free(s_no_wake);
    return 0;
}

int
main(void)
{
    if (harness_init() != 0) {
        printf("1..0 # SKIP shopd is not built\n");
        return 77;
    }
    if (system("command -v espeak-ng >/dev/null && command -v sox >/dev/null") != 0) {
        printf("1..0 # SKIP espeak-ng or sox is not installed\n");
        return 77;
    }
    /* ALSA allocates ~275 MB per probe of a file-plugin device; with
     * MALLOC_PERTURB_ (set by the harness) shopd would fill each one */
    unsetenv("MALLOC_PERTURB_");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_microphone_in_the_daemon, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
