## daemon/: shopd (config, models, request handlers, server loop, main)
libshop_a_SOURCES += daemon/conf.c daemon/conf.h daemon/models.c daemon/models.h \
	daemon/handlers.c daemon/handlers.h daemon/server.c daemon/server.h
