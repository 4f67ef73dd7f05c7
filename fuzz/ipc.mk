## fuzz targets of ipc/ (the envelope parsers, the CURVE key files), daemon/ (the config parser)
## and common/ (the strict number parsers of options and settings)
EXTRA_DIST += fuzz/corpus/ipc_envelope fuzz/corpus/config fuzz/corpus/events_topic \
	fuzz/corpus/ipc_keys fuzz/corpus/numbers

## the seeds replayed through each target in every build (make check)
check_PROGRAMS += tests/ipc_envelope_replay tests/daemon_config_replay tests/daemon_events_replay \
	tests/ipc_keys_replay tests/common_numbers_replay
tests_ipc_envelope_replay_SOURCES = fuzz/ipc_replay.c fuzz/ipc_envelope_fuzz.c
tests_ipc_envelope_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"ipc_envelope"'
tests_daemon_config_replay_SOURCES = fuzz/ipc_replay.c fuzz/config_fuzz.c
tests_daemon_config_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"config"'
tests_daemon_events_replay_SOURCES = fuzz/ipc_replay.c fuzz/events_topic_fuzz.c
tests_daemon_events_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"events_topic"'
tests_ipc_keys_replay_SOURCES = fuzz/ipc_replay.c fuzz/ipc_keys_fuzz.c
tests_ipc_keys_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"ipc_keys"'
tests_common_numbers_replay_SOURCES = fuzz/ipc_replay.c fuzz/numbers_fuzz.c
tests_common_numbers_replay_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CORPUS='"numbers"'
TESTS += tests/ipc_envelope_replay tests/daemon_config_replay tests/daemon_events_replay \
	tests/ipc_keys_replay tests/common_numbers_replay

if ENABLE_FUZZERS
noinst_PROGRAMS += fuzz/ipc_envelope_fuzz fuzz/config_fuzz fuzz/events_topic_fuzz fuzz/ipc_keys_fuzz \
	fuzz/numbers_fuzz
fuzz_ipc_envelope_fuzz_SOURCES = fuzz/ipc_envelope_fuzz.c
fuzz_ipc_envelope_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
fuzz_config_fuzz_SOURCES = fuzz/config_fuzz.c
fuzz_config_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
fuzz_events_topic_fuzz_SOURCES = fuzz/events_topic_fuzz.c
fuzz_events_topic_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
fuzz_ipc_keys_fuzz_SOURCES = fuzz/ipc_keys_fuzz.c
fuzz_ipc_keys_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
fuzz_numbers_fuzz_SOURCES = fuzz/numbers_fuzz.c
fuzz_numbers_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
FUZZ_RUN += fuzz-ipc
# new inputs go to scratch corpora in the build tree; the seeds stay untouched
fuzz-ipc: fuzz/ipc_envelope_fuzz fuzz/config_fuzz fuzz/events_topic_fuzz fuzz/ipc_keys_fuzz \
		fuzz/numbers_fuzz
	mkdir -p fuzz-ipc-envelope-corpus fuzz-config-corpus fuzz-events-topic-corpus \
		fuzz-ipc-keys-corpus fuzz-numbers-corpus
	nice -n 10 fuzz/ipc_envelope_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -max_len=4096 \
		-rss_limit_mb=2048 fuzz-ipc-envelope-corpus $(srcdir)/fuzz/corpus/ipc_envelope
	nice -n 10 fuzz/config_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -max_len=8192 \
		-rss_limit_mb=2048 fuzz-config-corpus $(srcdir)/fuzz/corpus/config
	nice -n 10 fuzz/events_topic_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -max_len=256 \
		-rss_limit_mb=2048 fuzz-events-topic-corpus $(srcdir)/fuzz/corpus/events_topic
	nice -n 10 fuzz/ipc_keys_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -max_len=4096 \
		-rss_limit_mb=2048 fuzz-ipc-keys-corpus $(srcdir)/fuzz/corpus/ipc_keys
	nice -n 10 fuzz/numbers_fuzz -max_total_time=$${FUZZ_SECONDS:-120} -max_len=256 \
		-rss_limit_mb=2048 fuzz-numbers-corpus $(srcdir)/fuzz/corpus/numbers
endif
