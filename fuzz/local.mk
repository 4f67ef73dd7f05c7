## fuzz/: libFuzzer targets (configure CC=clang --enable-fuzzers), one fragment per area.
## Each fragment adds, inside `if ENABLE_FUZZERS`, its programs to FUZZ_TARGETS (a plain variable) with
## <t>_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer, and seeds under fuzz/corpus/<target>/.
FUZZ_TARGETS =
include $(srcdir)/fuzz/nn.mk
include $(srcdir)/fuzz/vision.mk
include $(srcdir)/fuzz/audio.mk
include $(srcdir)/fuzz/recommend.mk
include $(srcdir)/fuzz/ipc.mk
if ENABLE_FUZZERS
EXTRA_PROGRAMS = $(FUZZ_TARGETS)
noinst_PROGRAMS += $(FUZZ_TARGETS)
endif
