## ipc/: the wire protocol (envelopes, error codes), socket set-up, CURVE keys
## and the ZAP allow-list, the C client library, and shopctl
libshop_a_SOURCES += ipc/proto.c ipc/proto.h ipc/sock.c ipc/sock.h \
	ipc/keys.c ipc/keys.h ipc/zap.c ipc/zap.h ipc/client.c ipc/client.h
bin_PROGRAMS += shopctl
shopctl_SOURCES = ipc/shopctl.c
dist_man_MANS += ipc/shopctl.1

check_PROGRAMS += tests/ipc_proto_test tests/ipc_zap_test
tests_ipc_proto_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_ipc_proto_test_LDADD = $(TEST_LIBS)
tests_ipc_zap_test_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_ipc_zap_test_LDADD = $(TEST_LIBS)
TESTS += tests/ipc_proto_test tests/ipc_zap_test

## the Python frontend example, exercised against a real shopd
dist_check_SCRIPTS += tests/ipc_frontend.py
TESTS += tests/ipc_frontend.py

## libshopclient: the installed C client library (shopclient.h, shopclient(3),
## shopclient.pc), shared and static through libtool. It is built from the
## ipc client sources it wraps, as position-independent code and without
## the sanitizers (a program linking the installed copy has none); only the
## shopclient_* names are exported.
lib_LTLIBRARIES = libshopclient.la
include_HEADERS = ipc/shopclient.h
libshopclient_la_SOURCES = ipc/shopclient.c ipc/shopclient.h \
	ipc/client.c ipc/client.h ipc/proto.c ipc/proto.h ipc/sock.c ipc/sock.h \
	common/util.c common/util.h common/log.c common/log.h
libshopclient_la_CFLAGS = -std=gnu11 -pthread $(SHOP_CFLAGS) $(ZMQ_CFLAGS) $(JANSSON_CFLAGS)
libshopclient_la_LDFLAGS = -pthread -version-info 0:0:0 -no-undefined \
	-export-symbols-regex '^shopclient_'
libshopclient_la_LIBADD = $(ZMQ_LIBS) $(JANSSON_LIBS)
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = ipc/shopclient.pc
EXTRA_DIST += ipc/shopclient.pc.in
dist_man_MANS += ipc/shopclient.3
shopclientexampledir = $(docdir)/examples
dist_shopclientexample_DATA = examples/shopclient-example.c

## make install DESTDIR=... puts the library, header and .pc; the example
## builds against that copy with pkg-config and talks to a real shopd
dist_check_SCRIPTS += tests/ipc_shopclient_install.sh
TESTS += tests/ipc_shopclient_install.sh
