## reliability (issue 8): the jailed decoder worker, durability under SIGKILL,
## load with hostile clients. Included from fuzz/local.mk with the fuzz runner
## (fuzz/all.mk) so that no other folder's fragment changes.
libshop_a_SOURCES += daemon/sandbox.c daemon/sandbox.h

check_PROGRAMS += tests/rel_sandbox_test
tests_rel_sandbox_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_rel_sandbox_test_LDADD = $(TEST_LIBS)
TESTS += tests/rel_sandbox_test

## SIGKILL at random moments under load; a full disk (RLIMIT_FSIZE)
check_PROGRAMS += tests/rel_durability_test
tests_rel_durability_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_rel_durability_test_LDADD = $(TEST_LIBS)
TESTS += tests/rel_durability_test

## 50 clients with a mix of requests; deaf, huge-frame and stalling clients
check_PROGRAMS += tests/rel_load_test
tests_rel_load_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_rel_load_test_LDADD = $(TEST_LIBS)
TESTS += tests/rel_load_test

## the long runs: 1000 SIGKILL cycles, then 60 s of load per phase
## (REL_CYCLES, REL_LOAD_SECONDS, REL_LOAD_CLIENTS, REL_SEED override them)
BENCH_RUN += soak
REL_ENV = CMOCKA_MESSAGE_OUTPUT=TAP SHOPD_DATADIR=$(abs_top_srcdir) \
	SHOP_TOP_SRCDIR=$(abs_top_srcdir) SHOP_TOP_BUILDDIR=$(abs_top_builddir)
soak: shopd tests/rel_durability_test tests/rel_load_test
	$(REL_ENV) REL_CYCLES=$${REL_CYCLES:-1000} nice -n 10 tests/rel_durability_test
	$(REL_ENV) REL_LOAD_SECONDS=$${REL_LOAD_SECONDS:-60} nice -n 10 tests/rel_load_test
