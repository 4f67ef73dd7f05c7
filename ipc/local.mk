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
