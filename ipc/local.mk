## ipc/: the wire protocol (envelopes, error codes), socket set-up, CURVE keys
## and the ZAP allow-list, the C client library, and shopctl
libshop_a_SOURCES += ipc/proto.c ipc/proto.h ipc/sock.c ipc/sock.h \
	ipc/keys.c ipc/keys.h ipc/zap.c ipc/zap.h ipc/client.c ipc/client.h
bin_PROGRAMS += shopctl
shopctl_SOURCES = ipc/shopctl.c
