/* ipc/sock.c: see sock.h */
#include "config.h"

#include "ipc/sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <zmq.h>

#include "common/util.h"

void
sock_opts_default(sock_opts_t *o)
{
    o->max_msg_bytes = 32 * 1024 * 1024;
    o->handshake_ms = 5000;
    o->heartbeat_ivl_ms = 5000;
    o->heartbeat_timeout_ms = 15000;
    o->heartbeat_ttl_ms = 15000;
    o->linger_ms = 1000;
    o->sndhwm = 1000;
}

static int
s_set(void *s, int opt, const void *val, size_t len, const char *name, char *err,
      size_t errlen)
{
    if (zmq_setsockopt(s, opt, val, len) == 0)
        return 0;
    snprintf(err, errlen, "cannot set %s: %s", name, zmq_strerror(zmq_errno()));
    return -1;
}

#define S_SETINT(s, opt, v) s_set(s, opt, &(int) { v }, sizeof(int), #opt, err, errlen)

int
sock_apply(void *s, const sock_opts_t *o, char *err, size_t errlen)
{
    if (s_set(s, ZMQ_MAXMSGSIZE, &o->max_msg_bytes, sizeof o->max_msg_bytes,
              "ZMQ_MAXMSGSIZE", err, errlen) != 0
        || S_SETINT(s, ZMQ_HANDSHAKE_IVL, o->handshake_ms) != 0
        || S_SETINT(s, ZMQ_LINGER, o->linger_ms) != 0
        || S_SETINT(s, ZMQ_SNDHWM, o->sndhwm) != 0)
        return -1;
    if (o->heartbeat_ivl_ms > 0
        && (S_SETINT(s, ZMQ_HEARTBEAT_IVL, o->heartbeat_ivl_ms) != 0
            || S_SETINT(s, ZMQ_HEARTBEAT_TIMEOUT, o->heartbeat_timeout_ms) != 0
            || S_SETINT(s, ZMQ_HEARTBEAT_TTL, o->heartbeat_ttl_ms) != 0))
        return -1;
    return 0;
}

static bool
s_is_z85_key(const char *k)
{
    if (!k || strlen(k) != 40)
        return false;
    uint8_t bin[32];
    return zmq_z85_decode(bin, k) != NULL;
}

int
sock_curve_server(void *s, const char *secret_z85, char *err, size_t errlen)
{
    if (!s_is_z85_key(secret_z85)) {
        snprintf(err, errlen, "server secret key is not a 40-character Z85 key");
        return -1;
    }
    if (S_SETINT(s, ZMQ_CURVE_SERVER, 1) != 0
        || s_set(s, ZMQ_CURVE_SECRETKEY, secret_z85, 40, "ZMQ_CURVE_SECRETKEY", err, errlen)
               != 0
        || s_set(s, ZMQ_ZAP_DOMAIN, "shopd", 5, "ZMQ_ZAP_DOMAIN", err, errlen) != 0)
        return -1;
    return 0;
}

int
sock_curve_client(void *s, const char *server_z85, const char *public_z85,
                  const char *secret_z85, char *err, size_t errlen)
{
    if (!s_is_z85_key(server_z85) || !s_is_z85_key(public_z85) || !s_is_z85_key(secret_z85)) {
        snprintf(err, errlen, "CURVE keys must be 40-character Z85 strings");
        return -1;
    }
    if (s_set(s, ZMQ_CURVE_SERVERKEY, server_z85, 40, "ZMQ_CURVE_SERVERKEY", err, errlen) != 0
        || s_set(s, ZMQ_CURVE_PUBLICKEY, public_z85, 40, "ZMQ_CURVE_PUBLICKEY", err, errlen)
               != 0
        || s_set(s, ZMQ_CURVE_SECRETKEY, secret_z85, 40, "ZMQ_CURVE_SECRETKEY", err, errlen)
               != 0)
        return -1;
    return 0;
}

bool
sock_endpoint_is_local(const char *ep)
{
    if (!ep)
        return false;
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return true;
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    const char *host = ep + 6;
    /* "tcp://iface;host:port" names a source interface: refuse, it is a
     * connect form and ambiguous for a bind. */
    if (strchr(host, ';'))
        return false;
    if (strncmp(host, "127.", 4) == 0) {
        /* every character up to the port must be a digit or a dot */
        const char *p = host + 4;
        while (*p && *p != ':') {
            if (!((*p >= '0' && *p <= '9') || *p == '.'))
                return false;
            p++;
        }
        return *p == ':';
    }
    return strncmp(host, "[::1]:", 6) == 0 || strncmp(host, "localhost:", 10) == 0;
}

int
sock_prepare_ipc_dir(const char *ep, char *err, size_t errlen)
{
    if (strncmp(ep, "ipc://", 6) != 0 || ep[6] == '@')
        return 0; /* not a file, or a Linux abstract socket */
    char dir[4096];
    if (shop_strlcpy(dir, ep + 6, sizeof dir) >= sizeof dir) {
        snprintf(err, errlen, "ipc path too long: %s", ep);
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}
