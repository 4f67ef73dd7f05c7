## fuzz/all.mk: every libFuzzer target at once (reliability).
## `make fuzz` runs each area's targets for FUZZ_TIME seconds (default 60);
## `make fuzz-report` runs each target, one after the other under nice, to
## FUZZ_RUNS executions (default 1000000) or FUZZ_REPORT_TIME seconds (default
## 600), and appends executions and findings to fuzz-report.txt.
## With fuzzers built, `make check` runs every target for 3 s (smoke run);
## without, the seed replays of each area's fragment run instead.
FUZZ_TIME = 60
export FUZZ_SECONDS ?= $(FUZZ_TIME)
dist_check_SCRIPTS += tests/rel_fuzz_run.sh
if ENABLE_FUZZERS
TESTS += tests/rel_fuzz_run.sh
endif
.PHONY: fuzz-report
fuzz-report:
	SHOP_TOP_BUILDDIR=$(abs_top_builddir) SHOP_TOP_SRCDIR=$(abs_top_srcdir) \
		FUZZ_TIME=$${FUZZ_REPORT_TIME:-600} \
		$(SHELL) $(srcdir)/tests/rel_fuzz_run.sh report
