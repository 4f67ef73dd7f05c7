/* tests/daemon_conf_test.c: daemon/conf self-test (defaults, parsing,
 * refusals with file:line, the CURVE/loopback rule) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/conf.h"

static int
s_parse(conf_t *cfg, const char *text, char *err)
{
    return conf_parse(cfg, text, strlen(text), "test.conf", err, 512);
}

static void
test_defaults_are_usable(void **state)
{
    (void) state;
    conf_t cfg;
    char err[512];
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    setenv("XDG_STATE_HOME", "/home/u/.local/state", 1);
    conf_defaults(&cfg);
    assert_int_equal(conf_check(&cfg, err, sizeof err), 0);
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_true(cfg.import_demo);
    assert_string_equal(cfg.secret_key_file, "");
    if (geteuid() == 0) {
        assert_string_equal(cfg.endpoint, "ipc:///run/shopd/shopd.sock");
        assert_string_equal(cfg.database, "/var/lib/shopd/shop.db");
        assert_string_equal(cfg.outbox, "/var/lib/shopd/outbox.db");
    } else {
        assert_string_equal(cfg.endpoint, "ipc:///run/user/1000/shopd/shopd.sock");
        assert_string_equal(cfg.database, "/home/u/.local/state/shopd/shop.db");
        assert_string_equal(cfg.outbox, "/home/u/.local/state/shopd/outbox.db");
    }
}

/* [store] outbox: an absolute path, or the configuration is refused. */
static void
test_store_outbox(void **state)
{
    (void) state;
    conf_t cfg;
    char err[512];
    conf_defaults(&cfg);
    assert_int_equal(s_parse(&cfg, "[store]\ndatabase = postgresql:///shop?host=/tmp\n"
                                   "outbox = /srv/kiosk/outbox.db\n", err), 0);
    assert_string_equal(cfg.outbox, "/srv/kiosk/outbox.db");
    assert_int_equal(conf_check(&cfg, err, sizeof err), 0);
    assert_int_equal(s_parse(&cfg, "[store]\noutbox = outbox.db\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "[store] outbox must be an absolute path"));
}

static void
test_parse_values(void **state)
{
    (void) state;
    conf_t cfg;
    char err[512];
    conf_defaults(&cfg);
    const char *text =
        "# comment\n"
        "; another\n"
        "[daemon]\n"
        "log_level = debug\n"
        "  log_target=syslog  \r\n"
        "status_interval = 0\n"
        "[ipc]\n"
        "endpoint = tcp://127.0.0.1:7001\n"
        "max_message_size = 8M\n"
        "max_photo_size = 2M\n"
        "max_audio_size = 512K\n"
        "[store]\n"
        "database = /tmp/x.db\n"
        "import_demo = no\n"
        "[models]\n"
        "kws = /opt/kws.model\n";
    assert_int_equal(s_parse(&cfg, text, err), 0);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_int_equal(cfg.log_target, CONF_LOG_SYSLOG);
    assert_int_equal(cfg.status_interval_s, 0);
    assert_string_equal(cfg.endpoint, "tcp://127.0.0.1:7001");
    assert_int_equal(cfg.max_message_bytes, 8 * 1024 * 1024);
    assert_int_equal(cfg.max_photo_bytes, 2 * 1024 * 1024);
    assert_int_equal(cfg.max_audio_bytes, 512 * 1024);
    assert_string_equal(cfg.database, "/tmp/x.db");
    assert_false(cfg.import_demo);
    assert_string_equal(cfg.kws_model, "/opt/kws.model");
    assert_int_equal(conf_check(&cfg, err, sizeof err), 0);
}

static void
test_refusals_name_the_line(void **state)
{
    (void) state;
    struct {
        const char *text, *expect;
    } cases[] = {
        { "[ipc]\nendpont = x\n", "test.conf:2: [ipc] endpont: unknown key" },
        { "[nosuch]\n", "test.conf:1: unknown section [nosuch]" },
        { "log_level = debug\n", "test.conf:1: key outside any [section]" },
        { "[daemon]\nlog_level = loud\n", "test.conf:2: [daemon] log_level: not error" },
        { "[ipc]\nhandshake_timeout = 5s\n", "test.conf:2: [ipc] handshake_timeout: not an integer" },
        { "[ipc]\nhandshake_timeout = 10\n", "out of range" },
        { "[store]\nimport_demo = maybe\n", "not yes or no" },
        { "[daemon\n", "a section line is" },
        { "[daemon]\njust words\n", "expected \"key = value\"" },
        { "[ipc]\nmax_message_size = 99999999999G\n", "out of range" },
        /* found by fuzz/config_fuzz: the bound applies after the suffix */
        { "[ipc]\nmax_message_size = 0M\n", "out of range" },
        { "[ipc]\nmax_message_size = 1023\n", "out of range" },
        { "[ipc]\nmax_message_size = -1K\n", "out of range" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conf_t cfg;
        char err[512] = "";
        conf_defaults(&cfg);
        assert_int_equal(s_parse(&cfg, cases[i].text, err), -1);
        if (!strstr(err, cases[i].expect))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].expect);
    }
    /* a NUL byte inside a line */
    conf_t cfg;
    char err[512];
    conf_defaults(&cfg);
    assert_int_equal(conf_parse(&cfg, "[ipc]\nendpoint = a\0b\n", 20, "t", err, sizeof err), -1);
    assert_non_null(strstr(err, "NUL"));
}

static void
test_check_refuses_open_tcp_without_curve(void **state)
{
    (void) state;
    conf_t cfg;
    char err[512];
    conf_defaults(&cfg);
    assert_int_equal(s_parse(&cfg, "[ipc]\nendpoint = tcp://0.0.0.0:7001\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "without CURVE"));
    /* with a key and an allow-list the same endpoint is fine */
    assert_int_equal(s_parse(&cfg, "[curve]\nsecret_key_file = /k\nallow_list = /a\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), 0);
    /* a key without an allow-list would lock everyone out */
    assert_int_equal(s_parse(&cfg, "[curve]\nallow_list =\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "allow_list"));
    /* queries to a broker on another machine need CURVE, keys go in pairs */
    conf_defaults(&cfg);
    assert_int_equal(s_parse(&cfg, "[recommend]\nendpoint = tcp://192.0.2.7:5559\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "refusing to send queries to tcp://192.0.2.7:5559 without CURVE"));
    assert_int_equal(s_parse(&cfg, "[recommend]\nkey_file = /c.key\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "key_file and server_key go together"));
    assert_int_equal(s_parse(&cfg, "[recommend]\nserver_key = /b.pub\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), 0);
    /* a photo limit above the transport limit can never be reached */
    conf_defaults(&cfg);
    assert_int_equal(s_parse(&cfg, "[ipc]\nmax_message_size = 1M\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
}

static void
test_hardening_settings(void **state)
{
    (void) state;
    conf_t cfg;
    char err[512];
    conf_defaults(&cfg);
    assert_int_equal(cfg.max_connections, 1024);
    assert_int_equal(cfg.max_connections_per_peer, 256);
    assert_int_equal(cfg.session_idle_s, 1800);
    assert_int_equal(cfg.refusal_log_interval_s, 10);
    assert_int_equal(conf_max_pending(&cfg), 2 * cfg.max_message_bytes);
    assert_int_equal(s_parse(&cfg, "[daemon]\nsession_idle = 60\nrefusal_log_interval = 1\n"
                                   "[ipc]\nmax_connections = 10\nmax_connections_per_peer = 2\n"
                                   "max_pending_size = 40M\n[curve]\noperator_keys = /ops\n",
                             err), 0);
    assert_int_equal(cfg.session_idle_s, 60);
    assert_int_equal(cfg.max_connections_per_peer, 2);
    assert_int_equal(conf_max_pending(&cfg), 40 << 20);
    assert_string_equal(cfg.operator_keys, "/ops");
    assert_int_equal(conf_check(&cfg, err, sizeof err), 0);
    /* a whole one-frame request must fit the byte budget */
    assert_int_equal(s_parse(&cfg, "[ipc]\nmax_pending_size = 1M\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "max_pending_size"));
    conf_defaults(&cfg);
    assert_int_equal(s_parse(&cfg, "[ipc]\nmax_connections = 10\nmax_connections_per_peer = 11\n",
                             err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    /* an abstract socket has no file permissions: CURVE or nothing */
    conf_defaults(&cfg);
    assert_int_equal(s_parse(&cfg, "[ipc]\nendpoint = ipc://@shopd\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "abstract socket"));
    assert_int_equal(s_parse(&cfg, "[curve]\nsecret_key_file = /k\nallow_list = /a\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), 0);
}

static void
test_microphone_section(void **state)
{
    (void) state;
    conf_t cfg;
    char err[512];
    conf_defaults(&cfg);
    /* off by default; the documented defaults */
    assert_string_equal(cfg.mic_device, "");
    assert_true(cfg.mic_require_wake);
    assert_string_equal(cfg.mic_wake_word, "shopwise");
    assert_string_equal(cfg.mic_session, "mic");
    assert_int_equal(cfg.mic_gap_ms, 1000);
    assert_int_equal(cfg.mic_wake_timeout_ms, 3000);
    assert_int_equal(cfg.mic_max_command_ms, 8000);
    assert_true(cfg.mic_wake_min < 0);   /* not set: the keyword model's own */
    assert_int_equal(s_parse(&cfg, "[microphone]\ndevice = USB Audio\nrequire_wake = no\n"
                                   "wake_word = Help\nsession = speaker-2\ngap = 700\n"
                                   "wake_timeout = 5000\nmax_command = 700\nwake_min = 0.65\n",
                             err), 0);
    assert_true(cfg.mic_wake_min == 0.65);
    assert_string_equal(cfg.mic_device, "USB Audio");
    assert_false(cfg.mic_require_wake);
    assert_string_equal(cfg.mic_session, "speaker-2");
    assert_int_equal(cfg.mic_gap_ms, 700);
    assert_int_equal(cfg.mic_wake_timeout_ms, 5000);
    assert_int_equal(cfg.mic_max_command_ms, 700);
    assert_int_equal(conf_check(&cfg, err, sizeof err), 0);   /* any known word wakes */
    /* refused: words the spotter does not know, a command shorter than its gap */
    assert_int_equal(s_parse(&cfg, "[microphone]\nwake_word = alexa\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "wake_word \"alexa\""));
    assert_int_equal(s_parse(&cfg, "[microphone]\nwake_word = _silence_\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_int_equal(s_parse(&cfg, "[microphone]\nwake_word = shopwise\ngap = 2000\n"
                                   "max_command = 1000\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "max_command"));
    assert_int_equal(s_parse(&cfg, "[microphone]\nmax_command = 8000\nsession =\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "session"));
    conf_defaults(&cfg);
    assert_int_equal(s_parse(&cfg, "[microphone]\ngap = 50\n", err), -1);
    assert_non_null(strstr(err, "test.conf:2: [microphone] gap: out of range"));
    assert_int_equal(s_parse(&cfg, "[microphone]\nwake_min = 1.5\n", err), -1);
    assert_non_null(strstr(err, "test.conf:2: [microphone] wake_min: out of range"));
    assert_int_equal(s_parse(&cfg, "[microphone]\nwake_min = high\n", err), -1);
    assert_non_null(strstr(err, "wake_min: not a number"));
    assert_int_equal(s_parse(&cfg, "[microphone]\nwake_min = -1\n", err), -1);
    assert_non_null(strstr(err, "test.conf:2: [microphone] wake_min: out of range"));
    assert_true(cfg.mic_wake_min < 0);   /* refused values leave the default */
}

static void
test_camera_and_workers(void **state)
{
    (void) state;
    conf_t cfg;
    char err[512];
    conf_defaults(&cfg);
    assert_int_equal(cfg.workers, 2);
    assert_string_equal(cfg.camera_device, "");
    assert_string_equal(cfg.camera_trigger, "none");
    assert_string_equal(cfg.camera_session, "camera");
    assert_int_equal(s_parse(&cfg, "[daemon]\nworkers = 3\n[camera]\ndevice = /dev/video2\n"
                                   "width = 320\nheight = 240\ntrigger = scene\n"
                                   "interval = 7\nstill_frames = 8\nsession = kiosk-1\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), 0);
    assert_int_equal(cfg.workers, 3);
    assert_string_equal(cfg.camera_device, "/dev/video2");
    assert_int_equal(cfg.camera_width, 320);
    assert_int_equal(cfg.camera_height, 240);
    assert_string_equal(cfg.camera_trigger, "scene");
    assert_int_equal(cfg.camera_interval_s, 7);
    assert_int_equal(cfg.camera_still_frames, 8);
    assert_string_equal(cfg.camera_session, "kiosk-1");
    assert_int_equal(s_parse(&cfg, "[camera]\ntrigger = motion\n", err), 0);
    assert_int_equal(conf_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "none, interval or scene"));
    conf_defaults(&cfg);
    assert_int_equal(s_parse(&cfg, "[daemon]\nworkers = 0\n", err), -1);
    assert_non_null(strstr(err, "out of range"));
    /* a trigger name longer than the field is refused, not cut */
    assert_int_equal(s_parse(&cfg, "[camera]\ntrigger = intervalintervalinterval\n", err), -1);
    assert_non_null(strstr(err, "too long"));
}

static void
test_load_file(void **state)
{
    (void) state;
    char path[] = "/tmp/shop-conf-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "[daemon]\nlog_level = warning\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t) (sizeof text - 1));
    close(fd);
    conf_t cfg;
    char err[512];
    conf_defaults(&cfg);
    assert_int_equal(conf_load(&cfg, path, err, sizeof err), 0);
    assert_int_equal(cfg.log_level, LOG_WARNING);
    unlink(path);
    assert_int_equal(conf_load(&cfg, path, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_usable),
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_store_outbox),
        cmocka_unit_test(test_refusals_name_the_line),
        cmocka_unit_test(test_check_refuses_open_tcp_without_curve),
        cmocka_unit_test(test_hardening_settings),
        cmocka_unit_test(test_microphone_section),
        cmocka_unit_test(test_camera_and_workers),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests_name("daemon_conf", tests, NULL, NULL);
}
