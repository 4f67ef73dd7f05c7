## tools/: shop-train and shop-eval, thin dispatchers over each area's subcommands
libshop_a_SOURCES += tools/cli.c tools/cli.h
bin_PROGRAMS += shop-train shop-eval
shop_train_SOURCES = tools/shop-train.c
shop_eval_SOURCES = tools/shop-eval.c
