## audio input, features, intents (sources, capture, features, intent grammar)
libshop_a_SOURCES += audio/features.c audio/features.h \
	audio/resample.c audio/resample.h \
	audio/source.c audio/source.h \
	audio/intent.c audio/intent.h \
	audio/capture.c audio/capture.h \
	audio/listener.c audio/listener.h
nobase_dist_pkgdata_DATA += data/grammar/shop.ini

check_PROGRAMS += tests/audio_io_features_test tests/audio_io_source_test \
	tests/audio_intent_test tests/audio_io_capture_test tests/audio_listener_test
tests_audio_io_features_test_SOURCES = tests/audio_io_features_test.c
tests_audio_io_features_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_io_features_test_LDADD = $(TEST_LIBS)
tests_audio_io_source_test_SOURCES = tests/audio_io_source_test.c
tests_audio_io_source_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_io_source_test_LDADD = $(TEST_LIBS)
TESTS += tests/audio_io_features_test tests/audio_io_source_test tests/audio_intent_test \
	tests/audio_io_capture_test tests/audio_listener_test
tests_audio_intent_test_SOURCES = tests/audio_intent_test.c
tests_audio_intent_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_intent_test_LDADD = $(TEST_LIBS)
tests_audio_io_capture_test_SOURCES = tests/audio_io_capture_test.c tests/vmic.c tests/vmic.h
tests_audio_io_capture_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_io_capture_test_LDADD = $(TEST_LIBS)
tests_audio_listener_test_SOURCES = tests/audio_listener_test.c
tests_audio_listener_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_audio_listener_test_LDADD = $(TEST_LIBS)

## speed of the input path: `make bench-audio-io` (not part of make check)
noinst_PROGRAMS += tests/audio_io_bench
tests_audio_io_bench_SOURCES = tests/audio_io_bench.c
BENCH_RUN += bench-audio-io
bench-audio-io: tests/audio_io_bench
	SHOPD_DATADIR=$(abs_top_srcdir) nice -n 10 tests/audio_io_bench
