## recommend/: the SQLite store, importers, models, queries and the ZeroMQ service
libshop_a_SOURCES += recommend/store.c recommend/store.h

check_PROGRAMS += tests/recommend_store_test
tests_recommend_store_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_recommend_store_test_LDADD = $(TEST_LIBS)
TESTS += tests/recommend_store_test
