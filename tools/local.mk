## tools/: the programs over the offline library (shop-train, shop-eval) and
## shop-recommend; each subcommand's options are parsed here, the work is
## done by the libraries
TOOLS_CLI = tools/cli.c tools/cli.h
bin_PROGRAMS += shop-train shop-eval shop-recommend
shop_train_SOURCES = tools/shop-train.c $(TOOLS_CLI) tools/vision.c tools/audio.c tools/recommend.c \
	tools/demo.c tools/phones.c
shop_train_LDADD = $(OFFLINE_LIBS)
shop_eval_SOURCES = tools/shop-eval.c $(TOOLS_CLI) tools/vision.c tools/audio.c \
	tools/recommend.c tools/phones.c
shop_eval_LDADD = $(OFFLINE_LIBS)
## the recommendation service process; --retrain trains, hence the offline library
shop_recommend_SOURCES = tools/shop-recommend.c
shop_recommend_LDADD = $(OFFLINE_LIBS)
## every numeric option refuses a bad value before any work (the programs run)
dist_check_SCRIPTS += tests/tools_options.sh
TESTS += tests/tools_options.sh
