## daemon/: shopd (config, models, request handlers, server loop, main)
libshop_a_SOURCES += daemon/conf.c daemon/conf.h daemon/models.c daemon/models.h \
	daemon/handlers.c daemon/handlers.h daemon/server.c daemon/server.h \
	daemon/session.c daemon/session.h daemon/flow.c daemon/flow.h \
	daemon/handler.c daemon/handler.h daemon/recommender.c daemon/recommender.h daemon/lock.c \
	daemon/lock.h daemon/netguard.c daemon/netguard.h daemon/privacy.c daemon/privacy.h \
	daemon/events.c daemon/events.h \
	daemon/mic.c daemon/mic.h
## the kiosk page's HTTP + WebSocket bridge (libwebsockets) and the page itself
libshop_a_SOURCES += daemon/web.c daemon/web.h
DEP_CFLAGS += $(WEBSOCKETS_CFLAGS)
DEP_LIBS += $(WEBSOCKETS_LIBS)
nobase_dist_pkgdata_DATA += data/web/index.html data/web/kiosk.css data/web/kiosk.js
sbin_PROGRAMS += shopd
shopd_SOURCES = daemon/shopd.c
dist_man_MANS += daemon/shopd.8

## the jailed decoder worker (fork + seccomp) for untrusted image and audio bytes
libshop_a_SOURCES += daemon/sandbox.c daemon/sandbox.h

## the commented example configuration, installed with the docs
shopdexampledir = $(docdir)/examples
dist_shopdexample_DATA = daemon/shopd.conf examples/frontend.py examples/latency.py

## the systemd unit (Type=notify, watchdog, sandbox), with the real sbindir
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = systemd/shopd.service
EXTRA_DIST += systemd/shopd.service.in
CLEANFILES += systemd/shopd.service
systemd/shopd.service: $(srcdir)/systemd/shopd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' $(srcdir)/systemd/shopd.service.in > $@.tmp && \
	mv $@.tmp $@

check_PROGRAMS += tests/daemon_conf_test
tests_daemon_conf_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_conf_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_conf_test

## integration: a real shopd over real sockets
check_PROGRAMS += tests/daemon_test
tests_daemon_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_test
## the same file again: the tests that need the bundled demo store
check_PROGRAMS += tests/daemon_demo_test
tests_daemon_demo_test_SOURCES = tests/daemon_test.c
tests_daemon_demo_test_CPPFLAGS = $(AM_CPPFLAGS) -DSHOP_DEMO_ONLY
## (the other tests' helpers are compiled but unused there)
tests_daemon_demo_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -Wno-unused-function
tests_daemon_demo_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_demo_test
dist_check_SCRIPTS += tests/daemon_shopctl.sh tests/daemon_systemd.py
TESTS += tests/daemon_shopctl.sh tests/daemon_systemd.py

## end to end: photos rendered from held-apart Fashion-MNIST items
## (tests/e2e_mkdata, also used by bench/e2e), spoken requests synthesised by
## espeak-ng with held-out voices, all through a real shopd
noinst_PROGRAMS += tests/e2e_mkdata
tests_e2e_mkdata_SOURCES = tests/e2e_mkdata.c tests/vision_util.c tests/vision_util.h
tests_e2e_mkdata_CFLAGS = $(VISION_TEST_CFLAGS)
tests_e2e_mkdata_LDADD = $(OFFLINE_LIBS)
dist_check_SCRIPTS += tests/e2e_flow.py
TESTS += tests/e2e_flow.py
check_PROGRAMS += tests/e2e_session_test
tests_e2e_session_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_e2e_session_test_LDADD = $(TEST_LIBS)
TESTS += tests/e2e_session_test

## the visual index cache next to the database: used, rebuilt, refused
check_PROGRAMS += tests/daemon_index_cache_test
tests_daemon_index_cache_test_SOURCES = tests/daemon_index_cache_test.c \
	tests/shopd_harness.c tests/shopd_harness.h
tests_daemon_index_cache_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_index_cache_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_index_cache_test

## shopd on a PostgreSQL database (a real server, tests/pg_server.sh)
check_PROGRAMS += tests/daemon_pg_test
tests_daemon_pg_test_SOURCES = tests/daemon_pg_test.c tests/pg_fixture.c tests/pg_fixture.h \
	tests/shopd_harness.c tests/shopd_harness.h
tests_daemon_pg_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_pg_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_pg_test

## shopd's own microphone: a real shopd on an ALSA virtual microphone
check_PROGRAMS += tests/daemon_mic_test
tests_daemon_mic_test_SOURCES = tests/daemon_mic_test.c tests/shopd_harness.c \
	tests/shopd_harness.h tests/vmic.c tests/vmic.h
tests_daemon_mic_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_mic_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_mic_test

## the Python tests' and bench/e2e_bench.py's shared shopd helper
EXTRA_DIST += tests/shopd_py_harness.py

## unit tests of the daemon's parts without a daemon: a test store, the
## shipped models, the built-in recommendation engine
DAEMON_UNIT_TESTS = tests/daemon_flow_test tests/daemon_handlers_test \
	tests/daemon_server_test tests/daemon_models_test
DAEMON_FIXTURE = tests/daemon_fixture.c tests/daemon_fixture.h
check_PROGRAMS += $(DAEMON_UNIT_TESTS)
TESTS += $(DAEMON_UNIT_TESTS)
tests_daemon_flow_test_SOURCES = tests/daemon_flow_test.c $(DAEMON_FIXTURE)
tests_daemon_handlers_test_SOURCES = tests/daemon_handlers_test.c $(DAEMON_FIXTURE)
tests_daemon_server_test_SOURCES = tests/daemon_server_test.c $(DAEMON_FIXTURE)
tests_daemon_models_test_SOURCES = tests/daemon_models_test.c $(DAEMON_FIXTURE)
tests_daemon_flow_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_handlers_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_server_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_models_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_flow_test_LDADD = $(TEST_LIBS)
tests_daemon_handlers_test_LDADD = $(TEST_LIBS)
tests_daemon_server_test_LDADD = $(TEST_LIBS)
tests_daemon_models_test_LDADD = $(TEST_LIBS)

## the kiosk page in Debian's headless chromium, through a real shopd --web
dist_check_SCRIPTS += tests/daemon_web.py
TESTS += tests/daemon_web.py

## the kiosk page bridge's parsers of browser input: their answers, a fuzz
## target and its seeds replayed in every make check
check_PROGRAMS += tests/daemon_web_test
tests_daemon_web_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_web_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_web_test
EXTRA_DIST += fuzz/corpus/daemon_web
check_PROGRAMS += tests/daemon_web_replay
tests_daemon_web_replay_SOURCES = fuzz/ipc_replay.c fuzz/daemon_web_fuzz.c
tests_daemon_web_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"daemon_web"'
TESTS += tests/daemon_web_replay
if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/daemon_web_fuzz
fuzz_daemon_web_fuzz_SOURCES = fuzz/daemon_web_fuzz.c
fuzz_daemon_web_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
FUZZ_RUN += fuzz-web
fuzz-web: fuzz/daemon_web_fuzz
	mkdir -p fuzz-web-corpus
	nice -n 10 fuzz/daemon_web_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -max_len=4096 \
		-rss_limit_mb=2048 fuzz-web-corpus $(srcdir)/fuzz/corpus/daemon_web
endif

## what a new user hits first: process names, shopctl's options, typed
## plurals and prices, spoken answers, refusals (a real shopd and shopctl)
dist_check_SCRIPTS += tests/daemon_newuser.py
TESTS += tests/daemon_newuser.py
## the worker pool: decoding and the CNNs off the main thread
libshop_a_SOURCES += daemon/pool.c daemon/pool.h daemon/recog.c daemon/recog.h \
	daemon/camera.c daemon/camera.h
check_PROGRAMS += tests/daemon_pool_test
tests_daemon_pool_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_pool_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_pool_test
## the camera thread on recordings (no camera on the machines that test)
check_PROGRAMS += tests/daemon_camera_test
tests_daemon_camera_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_camera_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_camera_test
## the loop never stalls: status and the watchdog while a slow photo
## decodes, SIGTERM at once (a real shopd; libjpeg writes the photo)
check_PROGRAMS += tests/daemon_busy_test
tests_daemon_busy_test_SOURCES = tests/daemon_busy_test.c tests/shopd_harness.c \
	tests/shopd_harness.h tests/jpeg_prog.c tests/jpeg_prog.h tests/vision_util.c \
	tests/vision_util.h
tests_daemon_busy_test_CFLAGS = $(VISION_TEST_CFLAGS) $(JPEG_CFLAGS)
tests_daemon_busy_test_LDADD = $(TEST_LIBS) $(JPEG_LIBS)
TESTS += tests/daemon_busy_test
## the camera through a real shopd, fed with ffmpeg recordings
check_PROGRAMS += tests/daemon_look_test
tests_daemon_look_test_SOURCES = tests/daemon_look_test.c tests/shopd_harness.c \
	tests/shopd_harness.h
tests_daemon_look_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_look_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_look_test
