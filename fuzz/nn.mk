## fuzz targets of nn/: the model loader (and the spotter's checks of a model's metadata)
EXTRA_DIST += fuzz/corpus/nn_load

## the seeds replayed through the target in every build (make check)
check_PROGRAMS += tests/nn_load_replay
tests_nn_load_replay_SOURCES = fuzz/ipc_replay.c fuzz/nn_load_fuzz.c
tests_nn_load_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"nn_load"'
tests_nn_load_replay_LDADD = $(OFFLINE_LIBS)
TESTS += tests/nn_load_replay
if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/nn_load_fuzz
fuzz_nn_load_fuzz_SOURCES = fuzz/nn_load_fuzz.c
fuzz_nn_load_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
## nn_selftest_fix_crc lives with the self-test, in the offline library
fuzz_nn_load_fuzz_LDADD = $(OFFLINE_LIBS)
FUZZ_RUN += fuzz-nn
# new inputs go to a scratch corpus in the build tree; the seeds stay untouched
fuzz-nn: fuzz/nn_load_fuzz
	mkdir -p fuzz-nn-corpus
	nice -n 10 fuzz/nn_load_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 \
		fuzz-nn-corpus $(srcdir)/fuzz/corpus/nn_load
endif
