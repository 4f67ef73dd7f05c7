/* ipc/sock.h: ZeroMQ socket set-up shared by shopd and its clients.
 *
 * The one place that sets transport options (message size limit, handshake
 * timeout, ZMTP heartbeats, CURVE roles) and decides whether an endpoint is
 * local, so the daemon and the client library cannot drift apart. */
#ifndef SHOP_IPC_SOCK_H
#define SHOP_IPC_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Transport limits applied to every socket. */
typedef struct {
    int64_t max_msg_bytes;    /* ZMQ_MAXMSGSIZE: a bigger frame drops the peer */
    int handshake_ms;         /* ZMQ_HANDSHAKE_IVL */
    int heartbeat_ivl_ms;     /* ZMQ_HEARTBEAT_IVL (0 = off) */
    int heartbeat_timeout_ms; /* ZMQ_HEARTBEAT_TIMEOUT */
    int heartbeat_ttl_ms;     /* ZMQ_HEARTBEAT_TTL asked of the peer */
    int linger_ms;            /* ZMQ_LINGER at close */
    int sndhwm;               /* ZMQ_SNDHWM: queue limit per peer */
} sock_opts_t;

/* Fills o with the built-in defaults (32 MiB, 5 s handshake, 5/15/15 s heartbeats). */
void sock_opts_default(sock_opts_t *o);

/* Applies o to socket s. Returns 0, or -1 with err filled. */
int sock_apply(void *s, const sock_opts_t *o, char *err, size_t errlen);

/* Makes s a CURVE server with the Z85 secret key (40 characters), with
 * ZAP domain "shopd" so the ZAP handler decides every connection. Returns 0
 * or -1 with err filled. The ZAP handler must already be bound. */
int sock_curve_server(void *s, const char *secret_z85, char *err, size_t errlen);

/* Makes s a CURVE client of the server with public key server_z85, using
 * the client key pair. Returns 0 or -1 with err filled. */
int sock_curve_client(void *s, const char *server_z85, const char *public_z85,
                      const char *secret_z85, char *err, size_t errlen);

/* True when endpoint cannot be reached from another machine: ipc://,
 * inproc://, or tcp:// bound to a loopback address (127.0.0.0/8, ::1,
 * localhost). */
bool sock_endpoint_is_local(const char *endpoint);

/* For ipc:// endpoints, creates the socket file's directory (mode 0700) if
 * missing. Returns 0 (also for other transports), or -1 with err filled. */
int sock_prepare_ipc_dir(const char *endpoint, char *err, size_t errlen);

#endif
