## nn/: the CNN engine (layers, inference, model files), the ONE caller of BLAS
libshop_a_SOURCES += nn/nn.h nn/internal.h nn/ops.h nn/conv.h nn/blas.c nn/blas.h \
	nn/graph.c nn/meta.c nn/rand.c nn/vec.c \
	nn/op_eltwise.c nn/op_conv.c nn/op_dwconv.c nn/op_bn.c nn/op_pool.c nn/op_dense.c \
	nn/op_softmax.c nn/conv_gemm.c nn/conv_shift.c nn/conv_phase.c nn/wino.c nn/wino.h \
	nn/plan.c nn/infer.c nn/model.c
## offline: the training executor, the trainer, the engine's self-test (it trains a small net)
## and the fusion of trained nets into one
libshop_offline_a_SOURCES += nn/exec.c nn/train.c nn/selftest.c nn/selftest.h nn/fuse.c

check_PROGRAMS += tests/nn_test tests/nn_loss_test tests/nn_fuse_test
tests_nn_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_nn_test_LDADD = $(TEST_LIBS)
tests_nn_loss_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_nn_loss_test_LDADD = $(TEST_LIBS)
tests_nn_fuse_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_nn_fuse_test_LDADD = $(TEST_LIBS)
TESTS += tests/nn_test tests/nn_loss_test tests/nn_fuse_test
