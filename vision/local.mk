## vision/: photos and camera frames -> recognised products, visual search
## the downstream patch of stb_image that vision/decode.c is built against
include $(srcdir)/vision/stb.mk
libshop_a_SOURCES += \
	vision/decode.c vision/decode.h \
	vision/preprocess.c vision/preprocess.h \
	vision/camera.c vision/camera.h \
	vision/avi.c vision/avi.h vision/framesrc.c vision/framesrc.h \
	vision/model.c vision/model.h \
	vision/classify.c vision/classify.h \
	vision/index.c vision/index.h
## offline: the Fashion-MNIST reader, training and evaluation
libshop_offline_a_SOURCES += vision/fmnist.c vision/fmnist.h \
	vision/train.c vision/train.h vision/eval.c vision/eval.h
## the product model, made by `shop-train vision` (models/README.md)
nobase_dist_pkgdata_DATA += models/vision.nn

## `make eval`: the shipped model on the 10k Fashion-MNIST test set
EVAL_RUN += eval-vision
eval-vision: shop-eval
	SHOPD_DATADIR='$(abs_top_srcdir)' nice -n 10 ./shop-eval vision --json

## tests: stb_image_write (tests/vision_util.c) shifts signed ints, which
## UBSan builds would report; only that check is off for these programs
VISION_TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -fno-sanitize=shift
check_PROGRAMS += tests/vision_decode_test tests/vision_preprocess_test
tests_vision_decode_test_SOURCES = tests/vision_decode_test.c tests/vision_util.c tests/vision_util.h
tests_vision_decode_test_CFLAGS = $(VISION_TEST_CFLAGS)
tests_vision_decode_test_LDADD = $(TEST_LIBS)
tests_vision_preprocess_test_SOURCES = tests/vision_preprocess_test.c tests/vision_util.c
tests_vision_preprocess_test_CFLAGS = $(VISION_TEST_CFLAGS)
tests_vision_preprocess_test_LDADD = $(TEST_LIBS)
TESTS += tests/vision_decode_test tests/vision_preprocess_test

check_PROGRAMS += tests/vision_classify_test
tests_vision_classify_test_SOURCES = tests/vision_classify_test.c tests/vision_util.c
tests_vision_classify_test_CFLAGS = $(VISION_TEST_CFLAGS)
tests_vision_classify_test_LDADD = $(TEST_LIBS)
TESTS += tests/vision_classify_test

check_PROGRAMS += tests/vision_camera_test tests/vision_index_test
tests_vision_index_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_vision_index_test_LDADD = $(TEST_LIBS)
TESTS += tests/vision_index_test
tests_vision_camera_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_vision_camera_test_LDADD = $(TEST_LIBS)
TESTS += tests/vision_camera_test

## tests/vision_mkdata remakes the files of tests/data/vision (see its header)
noinst_PROGRAMS += tests/vision_mkdata
tests_vision_mkdata_SOURCES = tests/vision_mkdata.c tests/vision_util.c
tests_vision_mkdata_CFLAGS = $(VISION_TEST_CFLAGS)
tests_vision_mkdata_LDADD = $(OFFLINE_LIBS)
EXTRA_DIST += tests/data/vision

## photos to products and similar items through a running shopd (tests/shopd_harness)
check_PROGRAMS += tests/vision_daemon_test
tests_vision_daemon_test_SOURCES = tests/vision_daemon_test.c tests/vision_util.c \
	tests/shopd_harness.c tests/shopd_harness.h
tests_vision_daemon_test_CFLAGS = $(VISION_TEST_CFLAGS)
tests_vision_daemon_test_LDADD = $(TEST_LIBS)
TESTS += tests/vision_daemon_test

## the JPEG scan limit, on progressive files written by libjpeg
check_PROGRAMS += tests/vision_scan_limit_test
tests_vision_scan_limit_test_SOURCES = tests/vision_scan_limit_test.c tests/jpeg_prog.c \
	tests/jpeg_prog.h
tests_vision_scan_limit_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JPEG_CFLAGS)
tests_vision_scan_limit_test_LDADD = $(TEST_LIBS) $(JPEG_LIBS)
TESTS += tests/vision_scan_limit_test

## frame sources: recordings (AVI, written by ffmpeg) and the V4L2 camera
check_PROGRAMS += tests/vision_framesrc_test
tests_vision_framesrc_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_vision_framesrc_test_LDADD = $(TEST_LIBS)
TESTS += tests/vision_framesrc_test
