## fuzz targets of vision/: photo decoding and preprocessing, camera frames
EXTRA_DIST += fuzz/corpus/vision_decode

## the seeds (regression inputs among them) replayed through the target in
## every build; the sanitizer build turns any memory or UB error into a failure
check_PROGRAMS += tests/vision_decode_replay
tests_vision_decode_replay_SOURCES = fuzz/ipc_replay.c fuzz/vision_decode_fuzz.c
tests_vision_decode_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"vision_decode"'
TESTS += tests/vision_decode_replay
if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/vision_decode_fuzz
fuzz_vision_decode_fuzz_SOURCES = fuzz/vision_decode_fuzz.c
fuzz_vision_decode_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
FUZZ_RUN += fuzz-vision
# new inputs go to a scratch corpus in the build tree; the seeds stay untouched
fuzz-vision: fuzz/vision_decode_fuzz
	mkdir -p fuzz-vision-corpus
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 nice -n 10 fuzz/vision_decode_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 \
		fuzz-vision-corpus $(srcdir)/fuzz/corpus/vision_decode
endif

## camera recordings (vision/avi.h): the recorded-frames source's reader
EXTRA_DIST += fuzz/corpus/vision_avi
check_PROGRAMS += tests/vision_avi_replay
tests_vision_avi_replay_SOURCES = fuzz/ipc_replay.c fuzz/vision_avi_fuzz.c
tests_vision_avi_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"vision_avi"'
TESTS += tests/vision_avi_replay
if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/vision_avi_fuzz
fuzz_vision_avi_fuzz_SOURCES = fuzz/vision_avi_fuzz.c
fuzz_vision_avi_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
FUZZ_RUN += fuzz-vision-avi
fuzz-vision-avi: fuzz/vision_avi_fuzz
	mkdir -p fuzz-vision-avi-corpus
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 nice -n 10 fuzz/vision_avi_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 \
		fuzz-vision-avi-corpus $(srcdir)/fuzz/corpus/vision_avi
endif
