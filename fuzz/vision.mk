## fuzz targets of vision/: photo decoding and preprocessing, camera frames
EXTRA_DIST += fuzz/corpus/vision_decode
if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/vision_decode_fuzz
fuzz_vision_decode_fuzz_SOURCES = fuzz/vision_decode_fuzz.c
fuzz_vision_decode_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
FUZZ_RUN += fuzz-vision
# new inputs go to a scratch corpus in the build tree; the seeds stay untouched
fuzz-vision: fuzz/vision_decode_fuzz
	mkdir -p fuzz-vision-corpus
	nice -n 10 fuzz/vision_decode_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 \
		fuzz-vision-corpus $(srcdir)/fuzz/corpus/vision_decode
endif
