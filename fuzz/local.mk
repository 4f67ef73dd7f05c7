## fuzz/: libFuzzer targets (configure CC=clang --enable-fuzzers), one fragment per area.
## Each fragment adds its targets inside `if ENABLE_FUZZERS` ... `endif` as
## `noinst_PROGRAMS += fuzz/x_fuzz`, with `fuzz_x_fuzz_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer`,
## seeds under fuzz/corpus/x/ (in EXTRA_DIST), and a phony run target appended to FUZZ_RUN.
include $(srcdir)/fuzz/nn.mk
include $(srcdir)/fuzz/vision.mk
include $(srcdir)/fuzz/audio.mk
include $(srcdir)/fuzz/phones.mk
include $(srcdir)/fuzz/recommend.mk
include $(srcdir)/fuzz/ipc.mk
## reliability: `make fuzz` runner rules and smoke run
include $(srcdir)/fuzz/all.mk
