/* daemon/netguard.h: limits on the connections libzmq accepts for shopd.
 *
 * libzmq accepts and reads the connections of shopd's sockets in its own
 * I/O thread and gives the application no say over either: accept() failing
 * with EMFILE aborts the process on an ipc:// listener (an errno_assert) and
 * spins at 100 % CPU on tcp://, and every frame of an unfinished multipart
 * message is kept in memory, invisible to the application until the last
 * frame arrives (ZMQ_MAXMSGSIZE bounds each frame, not their number).
 * So shopd defines the four calls libzmq makes for its stream connections --
 * accept, accept4, recv and close -- in its own executable, where they
 * interpose on libzmq's (the glibc ones are reached through dlsym
 * RTLD_NEXT), and, once netguard_enable() was called, applies to the
 * listeners named with netguard_watch():
 *  - a connection cap (all peers) and a per-peer cap (peer = IP address on
 *    tcp://, Postfix anvil style; the connecting process on ipc://, from
 *    SO_PEERCRED): a connection over a cap is closed at once, counted and
 *    logged (rate-limited), and libzmq is told ECONNABORTED;
 *  - EMFILE / ENFILE: the reserve-descriptor trick (libev's documentation,
 *    "the special problem of accept()ing when you can't"): the spare
 *    descriptor is closed, the pending connection accepted and closed, the
 *    spare reopened, and libzmq sees ECONNABORTED, never EMFILE;
 *  - a budget of bytes per connection: what recv() took from it since the
 *    application last read a whole message from it (netguard_message_read,
 *    from the message's ZMQ_SRCFD). Over the budget the connection is shut
 *    down and libzmq sees ECONNRESET: it drops the peer and frees the
 *    unfinished message at once.
 * Other descriptors (files, the recommendation client, listeners of other
 * libraries) pass straight through, and so does everything in a program
 * that links this module but never calls netguard_enable (the unit tests). */
#ifndef SHOP_DAEMON_NETGUARD_H
#define SHOP_DAEMON_NETGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int max_connections;       /* open connections of all peers together */
    int max_per_peer;          /* of one IP address (tcp) or one process (ipc) */
    int64_t max_pending_bytes; /* received from one connection, not yet read as messages */
    int log_interval_ms;       /* one refusal line per peer per interval */
} netguard_opts_t;

typedef struct {
    long open;                 /* connections open now */
    long refused;              /* closed at accept: over a cap */
    long exhausted;            /* closed at accept: EMFILE / ENFILE */
    long dropped;              /* shut down: over the byte budget */
    long cut;                  /* shut down by netguard_drop */
    long limit;                /* RLIMIT_NOFILE soft limit */
} netguard_stats_t;

/* Raises the soft RLIMIT_NOFILE to the hard limit (what a daemon that
 * never uses select() should do; systemd's LimitNOFILE= sets the hard one).
 * *before and *after get the soft limit. Returns 0 or -1 with err. */
int netguard_raise_nofile(long *before, long *after, char *err, size_t errlen);

/* Starts guarding with o (copied); call once, before the sockets bind.
 * Returns 0, or -1 with err (no descriptor for the reserve). */
int netguard_enable(const netguard_opts_t *o, char *err, size_t errlen);
/* New limits (SIGHUP); connections already open stay. */
void netguard_set_opts(const netguard_opts_t *o);
/* Stops guarding (descriptors pass through again); frees nothing that a
 * libzmq thread may still use. */
void netguard_disable(void);

/* Guards the listener of endpoint: "ipc:///path", "ipc://@name" or
 * "tcp://host:port" (the port as bound: ZMQ_LAST_ENDPOINT for port 0 or *).
 * Returns 0, or -1 when the endpoint cannot be watched (another transport,
 * or the table of 8 listeners is full). */
int netguard_watch(const char *endpoint);

/* The application read a whole message from connection fd: its byte count
 * starts again. fd < 0 is ignored. Any thread. */
void netguard_message_read(int fd);

/* Shuts connection fd down (a revoked key): libzmq sees it closed and drops
 * the peer. Returns 0, or -1 when fd is not a guarded connection. */
int netguard_drop(int fd);

/* Records the CURVE key (ZAP User-Id) a message from connection fd carried,
 * so a revoked key can be found on its connections (netguard_cut_users). */
void netguard_set_user(int fd, const char *user);

/* Shuts down every guarded connection whose recorded key allowed() refuses
 * (a key removed from the allow-list at SIGHUP). Returns how many. */
int netguard_cut_users(bool (*allowed)(void *ud, const char *user), void *ud);

void netguard_stats(netguard_stats_t *st);

#endif
