## fuzz targets of audio/: the intent grammar parser and audio file decoding
EXTRA_DIST += fuzz/corpus/audio_intent fuzz/corpus/audio_source

## the seeds replayed through each target in every build (make check)
check_PROGRAMS += tests/audio_intent_replay tests/audio_io_source_replay
tests_audio_intent_replay_SOURCES = fuzz/ipc_replay.c fuzz/audio_intent_fuzz.c
tests_audio_intent_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"audio_intent"'
tests_audio_io_source_replay_SOURCES = fuzz/ipc_replay.c fuzz/audio_source_fuzz.c
tests_audio_io_source_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"audio_source"'
TESTS += tests/audio_intent_replay tests/audio_io_source_replay

if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/audio_intent_fuzz fuzz/audio_source_fuzz
fuzz_audio_intent_fuzz_SOURCES = fuzz/audio_intent_fuzz.c
fuzz_audio_intent_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
fuzz_audio_source_fuzz_SOURCES = fuzz/audio_source_fuzz.c
fuzz_audio_source_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
FUZZ_RUN += fuzz-audio-io
# new inputs go to scratch corpora in the build tree; the seeds stay untouched.
# Leaks are not checked while decoding: libvorbis leaks 5784 bytes on some
# crafted multi-stream Ogg files (xiph/vorbis#125), found within seconds.
fuzz-audio-io: fuzz/audio_intent_fuzz fuzz/audio_source_fuzz
	mkdir -p fuzz-audio-intent-corpus fuzz-audio-source-corpus
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 nice -n 10 fuzz/audio_intent_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -max_len=4096 \
		-dict=$(srcdir)/fuzz/audio_intent.dict -rss_limit_mb=2048 \
		fuzz-audio-intent-corpus $(srcdir)/fuzz/corpus/audio_intent
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=0 \
		nice -n 10 fuzz/audio_source_fuzz \
		-max_total_time=$${FUZZ_SECONDS:-120} -max_len=65536 \
		-rss_limit_mb=2048 -detect_leaks=0 fuzz-audio-source-corpus \
		$(srcdir)/fuzz/corpus/audio_source
endif
EXTRA_DIST += fuzz/audio_intent.dict
