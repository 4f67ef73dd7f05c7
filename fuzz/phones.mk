## fuzz target of the phone model's parsers (pronunciations, espeak-ng output)
EXTRA_DIST += fuzz/corpus/phones

check_PROGRAMS += tests/audio_phones_replay
tests_audio_phones_replay_SOURCES = fuzz/ipc_replay.c fuzz/phones_fuzz.c
tests_audio_phones_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"phones"'
TESTS += tests/audio_phones_replay

if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/phones_fuzz
fuzz_phones_fuzz_SOURCES = fuzz/phones_fuzz.c
fuzz_phones_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
FUZZ_RUN += fuzz-phones
fuzz-phones: fuzz/phones_fuzz
	mkdir -p fuzz-phones-corpus
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 nice -n 10 fuzz/phones_fuzz \
		-max_total_time=$${FUZZ_SECONDS:-120} -max_len=4096 -rss_limit_mb=2048 \
		fuzz-phones-corpus $(srcdir)/fuzz/corpus/phones
endif
