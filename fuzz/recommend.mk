## fuzz targets of recommend/: the CSV reader and the UCI importer (users'
## files), the model file loader (files of other machines and retraining jobs)
EXTRA_DIST += fuzz/corpus/recommend_csv fuzz/corpus/recommend_model

## the seeds replayed through each target in every build (make check)
check_PROGRAMS += tests/recommend_csv_replay tests/recommend_model_replay
tests_recommend_csv_replay_SOURCES = fuzz/ipc_replay.c fuzz/recommend_csv_fuzz.c
tests_recommend_csv_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"recommend_csv"'
tests_recommend_model_replay_SOURCES = fuzz/ipc_replay.c fuzz/recommend_model_fuzz.c
tests_recommend_model_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"recommend_model"'
TESTS += tests/recommend_csv_replay tests/recommend_model_replay

if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/recommend_csv_fuzz fuzz/recommend_model_fuzz
fuzz_recommend_csv_fuzz_SOURCES = fuzz/recommend_csv_fuzz.c
fuzz_recommend_csv_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
fuzz_recommend_model_fuzz_SOURCES = fuzz/recommend_model_fuzz.c
fuzz_recommend_model_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
FUZZ_RUN += fuzz-recommend
# new inputs go to scratch corpora in the build tree; the seeds stay untouched;
# undefined behaviour halts the run like a crash
fuzz-recommend: fuzz/recommend_csv_fuzz fuzz/recommend_model_fuzz
	mkdir -p fuzz-recommend-corpus fuzz-recommend-model-corpus
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 nice -n 10 fuzz/recommend_csv_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 \
		fuzz-recommend-corpus $(srcdir)/fuzz/corpus/recommend_csv
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 nice -n 10 fuzz/recommend_model_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -max_len=65536 \
		-rss_limit_mb=4096 fuzz-recommend-model-corpus $(srcdir)/fuzz/corpus/recommend_model
endif
