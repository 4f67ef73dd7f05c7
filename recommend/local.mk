## recommend/: the SQLite store, importers, models, queries and the ZeroMQ service
libshop_a_SOURCES += recommend/store.c recommend/store.h \
	recommend/csv.c recommend/csv.h \
	recommend/data.c recommend/data.h \
	recommend/import.c recommend/import.h \
	recommend/linalg.c recommend/linalg.h \
	recommend/model.c recommend/model.h \
	recommend/eval.c recommend/eval.h \
	recommend/query.c recommend/query.h \
	recommend/service.c recommend/service.h \
	recommend/cli.c recommend/demo.c

check_PROGRAMS += tests/recommend_store_test
tests_recommend_store_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_recommend_store_test_LDADD = $(TEST_LIBS)
TESTS += tests/recommend_store_test

check_PROGRAMS += tests/recommend_test
tests_recommend_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_recommend_test_LDADD = $(TEST_LIBS)
TESTS += tests/recommend_test

bin_PROGRAMS += shop-recommend
shop_recommend_SOURCES = recommend/shop-recommend.c

check_PROGRAMS += tests/recommend_service_test
tests_recommend_service_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_recommend_service_test_LDADD = $(TEST_LIBS)
TESTS += tests/recommend_service_test
