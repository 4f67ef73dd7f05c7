## nn/: the CNN engine (layers, trainer, inference, model files), the ONE caller of BLAS
libshop_a_SOURCES += nn/nn.h nn/internal.h nn/blas.c nn/blas.h nn/net.c nn/train.c nn/wino.c nn/wino.h \
	nn/model.c nn/selftest.c nn/selftest.h

check_PROGRAMS += tests/nn_test
tests_nn_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_nn_test_LDADD = $(TEST_LIBS)
TESTS += tests/nn_test
