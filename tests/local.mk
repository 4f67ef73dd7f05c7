## tests/: module self-tests (cmocka, TAP) and integration tests.
## Each folder's local.mk adds its own tests; shared ones live here.
TEST_LIBS = libshop-offline.a libshop.a $(CMOCKA_LIBS) $(DEP_LIBS)
## a private PostgreSQL server for the tests of the PostgreSQL store
dist_check_SCRIPTS += tests/pg_server.sh
## reliability: the jailed decoder worker, durability, load, faults
include $(srcdir)/tests/rel_local.mk

check_PROGRAMS += tests/common_test
tests_common_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_common_test_LDADD = $(TEST_LIBS)
TESTS += tests/common_test

## the layers: shopd and shopctl hold no offline code (nm over the libraries
## and programs)
dist_check_SCRIPTS += tests/layers.sh
TESTS += tests/layers.sh
