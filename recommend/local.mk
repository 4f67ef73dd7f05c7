## recommend/: the store (SQLite or PostgreSQL), importers, models, queries and the ZeroMQ service
libshop_a_SOURCES += recommend/store.c recommend/store.h \
	recommend/db.c recommend/db.h recommend/db_internal.h \
	recommend/db_sqlite.c recommend/db_pg.c \
	recommend/csv.c recommend/csv.h \
	recommend/data.c recommend/data.h \
	recommend/import.c recommend/import.h \
	recommend/linalg.c recommend/linalg.h \
	recommend/model.c recommend/model.h recommend/model_internal.h \
	recommend/model_file.c \
	recommend/outbox.c recommend/outbox.h \
	recommend/query.c recommend/query.h \
	recommend/service.c recommend/service.h
## offline: training, retraining a running engine, evaluation, the demo store generator
libshop_offline_a_SOURCES += recommend/model_train.c \
	recommend/retrain.c recommend/retrain.h \
	recommend/eval.c recommend/eval.h \
	recommend/demo.c recommend/demo.h

check_PROGRAMS += tests/recommend_store_test
tests_recommend_store_test_SOURCES = tests/recommend_store_test.c \
	tests/pg_fixture.c tests/pg_fixture.h
tests_recommend_store_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_recommend_store_test_LDADD = $(TEST_LIBS)
TESTS += tests/recommend_store_test

check_PROGRAMS += tests/recommend_outbox_test
tests_recommend_outbox_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_recommend_outbox_test_LDADD = $(TEST_LIBS)
TESTS += tests/recommend_outbox_test

check_PROGRAMS += tests/recommend_test
tests_recommend_test_SOURCES = tests/recommend_test.c tests/pg_fixture.c tests/pg_fixture.h
tests_recommend_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_recommend_test_LDADD = $(TEST_LIBS)
TESTS += tests/recommend_test

check_PROGRAMS += tests/recommend_service_test
tests_recommend_service_test_SOURCES = tests/recommend_service_test.c \
	tests/shopd_harness.c tests/shopd_harness.h
tests_recommend_service_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_recommend_service_test_LDADD = $(TEST_LIBS)
TESTS += tests/recommend_service_test

check_PROGRAMS += tests/recommend_curve_test
tests_recommend_curve_test_SOURCES = tests/recommend_curve_test.c \
	tests/shopd_harness.c tests/shopd_harness.h
tests_recommend_curve_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_recommend_curve_test_LDADD = $(TEST_LIBS)
TESTS += tests/recommend_curve_test

check_PROGRAMS += tests/recommend_pg_test
tests_recommend_pg_test_SOURCES = tests/recommend_pg_test.c \
	tests/pg_fixture.c tests/pg_fixture.h tests/shopd_harness.c tests/shopd_harness.h
tests_recommend_pg_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_recommend_pg_test_LDADD = $(TEST_LIBS)
TESTS += tests/recommend_pg_test

## the demo store, installed with shopd (made by `shop-train demo`, see docs/recommend.md)
nobase_dist_pkgdata_DATA += data/demo/catalogue.csv data/demo/events.csv data/demo/recommend.model \
	data/demo/photos/bag-01.png \
	data/demo/photos/bag-02.png \
	data/demo/photos/bag-03.png \
	data/demo/photos/bag-04.png \
	data/demo/photos/bag-05.png \
	data/demo/photos/bag-06.png \
	data/demo/photos/bag-07.png \
	data/demo/photos/bag-08.png \
	data/demo/photos/bag-09.png \
	data/demo/photos/bag-10.png \
	data/demo/photos/bag-11.png \
	data/demo/photos/bag-12.png \
	data/demo/photos/bag-13.png \
	data/demo/photos/bag-14.png \
	data/demo/photos/bag-15.png \
	data/demo/photos/bag-16.png \
	data/demo/photos/bag-17.png \
	data/demo/photos/bag-18.png \
	data/demo/photos/bag-19.png \
	data/demo/photos/bag-20.png \
	data/demo/photos/bag-21.png \
	data/demo/photos/bag-22.png \
	data/demo/photos/bag-23.png \
	data/demo/photos/bag-24.png \
	data/demo/photos/bag-25.png \
	data/demo/photos/boot-01.png \
	data/demo/photos/boot-02.png \
	data/demo/photos/boot-03.png \
	data/demo/photos/boot-04.png \
	data/demo/photos/boot-05.png \
	data/demo/photos/boot-06.png \
	data/demo/photos/boot-07.png \
	data/demo/photos/boot-08.png \
	data/demo/photos/boot-09.png \
	data/demo/photos/boot-10.png \
	data/demo/photos/boot-11.png \
	data/demo/photos/boot-12.png \
	data/demo/photos/boot-13.png \
	data/demo/photos/boot-14.png \
	data/demo/photos/boot-15.png \
	data/demo/photos/boot-16.png \
	data/demo/photos/boot-17.png \
	data/demo/photos/boot-18.png \
	data/demo/photos/boot-19.png \
	data/demo/photos/boot-20.png \
	data/demo/photos/boot-21.png \
	data/demo/photos/boot-22.png \
	data/demo/photos/boot-23.png \
	data/demo/photos/boot-24.png \
	data/demo/photos/boot-25.png \
	data/demo/photos/coat-01.png \
	data/demo/photos/coat-02.png \
	data/demo/photos/coat-03.png \
	data/demo/photos/coat-04.png \
	data/demo/photos/coat-05.png \
	data/demo/photos/coat-06.png \
	data/demo/photos/coat-07.png \
	data/demo/photos/coat-08.png \
	data/demo/photos/coat-09.png \
	data/demo/photos/coat-10.png \
	data/demo/photos/coat-11.png \
	data/demo/photos/coat-12.png \
	data/demo/photos/coat-13.png \
	data/demo/photos/coat-14.png \
	data/demo/photos/coat-15.png \
	data/demo/photos/coat-16.png \
	data/demo/photos/coat-17.png \
	data/demo/photos/coat-18.png \
	data/demo/photos/coat-19.png \
	data/demo/photos/coat-20.png \
	data/demo/photos/coat-21.png \
	data/demo/photos/coat-22.png \
	data/demo/photos/coat-23.png \
	data/demo/photos/coat-24.png \
	data/demo/photos/coat-25.png \
	data/demo/photos/dress-01.png \
	data/demo/photos/dress-02.png \
	data/demo/photos/dress-03.png \
	data/demo/photos/dress-04.png \
	data/demo/photos/dress-05.png \
	data/demo/photos/dress-06.png \
	data/demo/photos/dress-07.png \
	data/demo/photos/dress-08.png \
	data/demo/photos/dress-09.png \
	data/demo/photos/dress-10.png \
	data/demo/photos/dress-11.png \
	data/demo/photos/dress-12.png \
	data/demo/photos/dress-13.png \
	data/demo/photos/dress-14.png \
	data/demo/photos/dress-15.png \
	data/demo/photos/dress-16.png \
	data/demo/photos/dress-17.png \
	data/demo/photos/dress-18.png \
	data/demo/photos/dress-19.png \
	data/demo/photos/dress-20.png \
	data/demo/photos/dress-21.png \
	data/demo/photos/dress-22.png \
	data/demo/photos/dress-23.png \
	data/demo/photos/dress-24.png \
	data/demo/photos/dress-25.png \
	data/demo/photos/pullover-01.png \
	data/demo/photos/pullover-02.png \
	data/demo/photos/pullover-03.png \
	data/demo/photos/pullover-04.png \
	data/demo/photos/pullover-05.png \
	data/demo/photos/pullover-06.png \
	data/demo/photos/pullover-07.png \
	data/demo/photos/pullover-08.png \
	data/demo/photos/pullover-09.png \
	data/demo/photos/pullover-10.png \
	data/demo/photos/pullover-11.png \
	data/demo/photos/pullover-12.png \
	data/demo/photos/pullover-13.png \
	data/demo/photos/pullover-14.png \
	data/demo/photos/pullover-15.png \
	data/demo/photos/pullover-16.png \
	data/demo/photos/pullover-17.png \
	data/demo/photos/pullover-18.png \
	data/demo/photos/pullover-19.png \
	data/demo/photos/pullover-20.png \
	data/demo/photos/pullover-21.png \
	data/demo/photos/pullover-22.png \
	data/demo/photos/pullover-23.png \
	data/demo/photos/pullover-24.png \
	data/demo/photos/pullover-25.png \
	data/demo/photos/sandal-01.png \
	data/demo/photos/sandal-02.png \
	data/demo/photos/sandal-03.png \
	data/demo/photos/sandal-04.png \
	data/demo/photos/sandal-05.png \
	data/demo/photos/sandal-06.png \
	data/demo/photos/sandal-07.png \
	data/demo/photos/sandal-08.png \
	data/demo/photos/sandal-09.png \
	data/demo/photos/sandal-10.png \
	data/demo/photos/sandal-11.png \
	data/demo/photos/sandal-12.png \
	data/demo/photos/sandal-13.png \
	data/demo/photos/sandal-14.png \
	data/demo/photos/sandal-15.png \
	data/demo/photos/sandal-16.png \
	data/demo/photos/sandal-17.png \
	data/demo/photos/sandal-18.png \
	data/demo/photos/sandal-19.png \
	data/demo/photos/sandal-20.png \
	data/demo/photos/sandal-21.png \
	data/demo/photos/sandal-22.png \
	data/demo/photos/sandal-23.png \
	data/demo/photos/sandal-24.png \
	data/demo/photos/sandal-25.png \
	data/demo/photos/shirt-01.png \
	data/demo/photos/shirt-02.png \
	data/demo/photos/shirt-03.png \
	data/demo/photos/shirt-04.png \
	data/demo/photos/shirt-05.png \
	data/demo/photos/shirt-06.png \
	data/demo/photos/shirt-07.png \
	data/demo/photos/shirt-08.png \
	data/demo/photos/shirt-09.png \
	data/demo/photos/shirt-10.png \
	data/demo/photos/shirt-11.png \
	data/demo/photos/shirt-12.png \
	data/demo/photos/shirt-13.png \
	data/demo/photos/shirt-14.png \
	data/demo/photos/shirt-15.png \
	data/demo/photos/shirt-16.png \
	data/demo/photos/shirt-17.png \
	data/demo/photos/shirt-18.png \
	data/demo/photos/shirt-19.png \
	data/demo/photos/shirt-20.png \
	data/demo/photos/shirt-21.png \
	data/demo/photos/shirt-22.png \
	data/demo/photos/shirt-23.png \
	data/demo/photos/shirt-24.png \
	data/demo/photos/shirt-25.png \
	data/demo/photos/sneaker-01.png \
	data/demo/photos/sneaker-02.png \
	data/demo/photos/sneaker-03.png \
	data/demo/photos/sneaker-04.png \
	data/demo/photos/sneaker-05.png \
	data/demo/photos/sneaker-06.png \
	data/demo/photos/sneaker-07.png \
	data/demo/photos/sneaker-08.png \
	data/demo/photos/sneaker-09.png \
	data/demo/photos/sneaker-10.png \
	data/demo/photos/sneaker-11.png \
	data/demo/photos/sneaker-12.png \
	data/demo/photos/sneaker-13.png \
	data/demo/photos/sneaker-14.png \
	data/demo/photos/sneaker-15.png \
	data/demo/photos/sneaker-16.png \
	data/demo/photos/sneaker-17.png \
	data/demo/photos/sneaker-18.png \
	data/demo/photos/sneaker-19.png \
	data/demo/photos/sneaker-20.png \
	data/demo/photos/sneaker-21.png \
	data/demo/photos/sneaker-22.png \
	data/demo/photos/sneaker-23.png \
	data/demo/photos/sneaker-24.png \
	data/demo/photos/sneaker-25.png \
	data/demo/photos/t-shirt-01.png \
	data/demo/photos/t-shirt-02.png \
	data/demo/photos/t-shirt-03.png \
	data/demo/photos/t-shirt-04.png \
	data/demo/photos/t-shirt-05.png \
	data/demo/photos/t-shirt-06.png \
	data/demo/photos/t-shirt-07.png \
	data/demo/photos/t-shirt-08.png \
	data/demo/photos/t-shirt-09.png \
	data/demo/photos/t-shirt-10.png \
	data/demo/photos/t-shirt-11.png \
	data/demo/photos/t-shirt-12.png \
	data/demo/photos/t-shirt-13.png \
	data/demo/photos/t-shirt-14.png \
	data/demo/photos/t-shirt-15.png \
	data/demo/photos/t-shirt-16.png \
	data/demo/photos/t-shirt-17.png \
	data/demo/photos/t-shirt-18.png \
	data/demo/photos/t-shirt-19.png \
	data/demo/photos/t-shirt-20.png \
	data/demo/photos/t-shirt-21.png \
	data/demo/photos/t-shirt-22.png \
	data/demo/photos/t-shirt-23.png \
	data/demo/photos/t-shirt-24.png \
	data/demo/photos/t-shirt-25.png \
	data/demo/photos/trouser-01.png \
	data/demo/photos/trouser-02.png \
	data/demo/photos/trouser-03.png \
	data/demo/photos/trouser-04.png \
	data/demo/photos/trouser-05.png \
	data/demo/photos/trouser-06.png \
	data/demo/photos/trouser-07.png \
	data/demo/photos/trouser-08.png \
	data/demo/photos/trouser-09.png \
	data/demo/photos/trouser-10.png \
	data/demo/photos/trouser-11.png \
	data/demo/photos/trouser-12.png \
	data/demo/photos/trouser-13.png \
	data/demo/photos/trouser-14.png \
	data/demo/photos/trouser-15.png \
	data/demo/photos/trouser-16.png \
	data/demo/photos/trouser-17.png \
	data/demo/photos/trouser-18.png \
	data/demo/photos/trouser-19.png \
	data/demo/photos/trouser-20.png \
	data/demo/photos/trouser-21.png \
	data/demo/photos/trouser-22.png \
	data/demo/photos/trouser-23.png \
	data/demo/photos/trouser-24.png \
	data/demo/photos/trouser-25.png

## `make eval`: the table of docs/recommend.md (UCI Online Retail, its protocol)
EVAL_RUN += eval-recommend
eval-recommend: shop-eval$(EXEEXT)
	SHOP_TOP_SRCDIR='$(abs_top_srcdir)' nice -n 10 ./shop-eval$(EXEEXT) recommend --json
