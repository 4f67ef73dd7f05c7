## fuzz targets of recommend/: the CSV reader and the UCI importer
EXTRA_DIST += fuzz/corpus/recommend_csv
if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/recommend_csv_fuzz
fuzz_recommend_csv_fuzz_SOURCES = fuzz/recommend_csv_fuzz.c
fuzz_recommend_csv_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
FUZZ_RUN += fuzz-recommend
# new inputs go to a scratch corpus in the build tree; the seeds stay untouched
fuzz-recommend: fuzz/recommend_csv_fuzz
	mkdir -p fuzz-recommend-corpus
	nice -n 10 fuzz/recommend_csv_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 \
		fuzz-recommend-corpus $(srcdir)/fuzz/corpus/recommend_csv
endif
