## daemon/: shopd (config, models, request handlers, server loop, main)
libshop_a_SOURCES += daemon/conf.c daemon/conf.h daemon/models.c daemon/models.h \
	daemon/handlers.c daemon/handlers.h daemon/server.c daemon/server.h
sbin_PROGRAMS += shopd
shopd_SOURCES = daemon/shopd.c

check_PROGRAMS += tests/daemon_conf_test
tests_daemon_conf_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_conf_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_conf_test

## integration: a real shopd over real sockets
check_PROGRAMS += tests/daemon_test
tests_daemon_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_daemon_test_LDADD = $(TEST_LIBS)
TESTS += tests/daemon_test
dist_check_SCRIPTS += tests/daemon_shopctl.sh
TESTS += tests/daemon_shopctl.sh
