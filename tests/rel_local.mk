## reliability (issue 8): the jailed decoder worker, durability under SIGKILL,
## load with hostile clients. Included from fuzz/local.mk with the fuzz runner
## (fuzz/all.mk) so that no other folder's fragment changes.
libshop_a_SOURCES += daemon/sandbox.c daemon/sandbox.h

check_PROGRAMS += tests/rel_sandbox_test
tests_rel_sandbox_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_rel_sandbox_test_LDADD = $(TEST_LIBS)
TESTS += tests/rel_sandbox_test
