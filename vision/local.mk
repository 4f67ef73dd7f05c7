## vision/: photos and camera frames -> recognised products, visual search
libshop_a_SOURCES += \
	vision/decode.c vision/decode.h \
	vision/preprocess.c vision/preprocess.h \
	vision/fmnist.c vision/fmnist.h \
	vision/model.c vision/model.h \
	vision/train.c
## the Fashion-MNIST reader inflates the dataset's .gz files with zlib
DEP_LIBS += -lz
