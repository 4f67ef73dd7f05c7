/* daemon/netguard.c: see netguard.h */
#include "config.h"

#include "daemon/netguard.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/ratelimit.h"
#include "common/util.h"

/* descriptors above this are never tracked: a connection there is refused */
#define S_TABLE_MAX (1 << 20)
#define S_LISTENERS 8
#define S_PEER_MAX 64

typedef struct {
    _Atomic int64_t pending;     /* bytes received since the last whole message */
    atomic_int state;            /* 0 none, 1 guarded connection, 2 watched listener */
    int peer;                    /* index in s.peers (connections) */
    char user[41];               /* CURVE key of its messages, "" unknown (under s.mu) */
} s_fd_t;

typedef struct {
    char key[S_PEER_MAX];        /* "" = free */
    int count;                   /* open connections */
} s_peer_t;

typedef struct {
    bool ipc;                    /* else tcp */
    char path[108];              /* ipc: the socket path ("@name": abstract) */
    int port;                    /* tcp */
} s_listener_t;

static struct {
    atomic_bool on;
    pthread_mutex_t mu;          /* everything below but the atomics */
    netguard_opts_t o;
    s_fd_t *fds;
    int nfds;
    s_peer_t *peers;
    int npeers;
    s_listener_t lis[S_LISTENERS];
    int nlis;
    int reserve;                 /* the spare descriptor, -1 while in use */
    long open;
    atomic_long refused, exhausted, dropped, cut;
    _Atomic int64_t max_pending;
    ratelimit_t *rl;
} s = { .mu = PTHREAD_MUTEX_INITIALIZER, .reserve = -1 };

/* --- the calls of glibc, found once ------------------------------------ */

static int (*s_accept)(int, struct sockaddr *, socklen_t *);
static int (*s_accept4)(int, struct sockaddr *, socklen_t *, int);
static ssize_t (*s_recv)(int, void *, size_t, int);
static int (*s_close)(int);

static void
s_resolve(void)
{
    s_accept = (int (*)(int, struct sockaddr *, socklen_t *)) dlsym(RTLD_NEXT, "accept");
    s_accept4 = (int (*)(int, struct sockaddr *, socklen_t *, int)) dlsym(RTLD_NEXT, "accept4");
    s_recv = (ssize_t (*)(int, void *, size_t, int)) dlsym(RTLD_NEXT, "recv");
    s_close = (int (*)(int)) dlsym(RTLD_NEXT, "close");
    if (!s_accept || !s_accept4 || !s_recv || !s_close) {
        fprintf(stderr, "netguard: dlsym: %s\n", dlerror());
        abort();
    }
}

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
#define S_REAL() pthread_once(&s_once, s_resolve)

/* --- limits -------------------------------------------------------------- */

int
netguard_raise_nofile(long *before, long *after, char *err, size_t errlen)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(err, errlen, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return -1;
    }
    *before = rl.rlim_cur == RLIM_INFINITY ? -1 : (long) rl.rlim_cur;
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            snprintf(err, errlen, "setrlimit(RLIMIT_NOFILE, %ld): %s", (long) rl.rlim_max,
                     strerror(errno));
            return -1;
        }
    }
    *after = rl.rlim_cur == RLIM_INFINITY ? -1 : (long) rl.rlim_cur;
    return 0;
}

static long
s_soft_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return S_TABLE_MAX;
    return (long) rl.rlim_cur;
}

void
netguard_set_opts(const netguard_opts_t *o)
{
    pthread_mutex_lock(&s.mu);
    s.o = *o;
    atomic_store(&s.max_pending, o->max_pending_bytes);
    if (s.rl)
        ratelimit_set_interval(s.rl, o->log_interval_ms);
    if (s.o.max_connections > s.npeers && s.peers) {
        /* every peer with a connection has a slot: one per connection at most */
        s.peers = xrealloc(s.peers, (size_t) s.o.max_connections * sizeof *s.peers);
        memset(s.peers + s.npeers, 0, (size_t) (s.o.max_connections - s.npeers) * sizeof *s.peers);
        s.npeers = s.o.max_connections;
    }
    pthread_mutex_unlock(&s.mu);
}

int
netguard_enable(const netguard_opts_t *o, char *err, size_t errlen)
{
    S_REAL();
    pthread_mutex_lock(&s.mu);
    if (!s.fds) {
        long lim = s_soft_limit();
        s.nfds = (int) SHOP_MIN(lim, (long) S_TABLE_MAX);
        /* calloc: pages of descriptors never used are never touched */
        s.fds = xcalloc((size_t) s.nfds, sizeof *s.fds);
        s.rl = ratelimit_new(o->log_interval_ms);
    }
    if (s.reserve < 0)
        s.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int reserve = s.reserve;
    pthread_mutex_unlock(&s.mu);
    if (reserve < 0) {
        snprintf(err, errlen, "netguard: cannot open a spare descriptor: %s", strerror(errno));
        return -1;
    }
    netguard_set_opts(o);
    pthread_mutex_lock(&s.mu);
    if (!s.peers) {
        s.npeers = SHOP_MAX(o->max_connections, 1);
        s.peers = xcalloc((size_t) s.npeers, sizeof *s.peers);
    }
    pthread_mutex_unlock(&s.mu);
    atomic_store(&s.on, true);
    return 0;
}

void
netguard_disable(void)
{
    atomic_store(&s.on, false);
}

int
netguard_watch(const char *ep)
{
    s_listener_t l = { 0 };
    if (strncmp(ep, "ipc://", 6) == 0) {
        l.ipc = true;
        if (shop_strlcpy(l.path, ep + 6, sizeof l.path) >= sizeof l.path)
            return -1;
    } else if (strncmp(ep, "tcp://", 6) == 0) {
        const char *colon = strrchr(ep, ':');
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || *end || port <= 0 || port > 65535)
            return -1;
        l.port = (int) port;
    } else {
        return -1;
    }
    pthread_mutex_lock(&s.mu);
    int rc = -1;
    if (s.nlis < S_LISTENERS) {
        s.lis[s.nlis++] = l;
        rc = 0;
    }
    pthread_mutex_unlock(&s.mu);
    return rc;
}

/* Whether listening socket lfd is one of the watched endpoints (cached in
 * its table entry until it is closed). */
static bool
s_watched(int lfd)
{
    if (lfd < 0 || lfd >= s.nfds)
        return false;
    if (atomic_load(&s.fds[lfd].state) == 2)
        return true;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(lfd, (struct sockaddr *) &ss, &len) != 0)
        return false;
    bool hit = false;
    pthread_mutex_lock(&s.mu);
    for (int i = 0; i < s.nlis && !hit; i++) {
        const s_listener_t *l = &s.lis[i];
        if (l->ipc && ss.ss_family == AF_UNIX) {
            const struct sockaddr_un *un = (const struct sockaddr_un *) &ss;
            size_t n = len > offsetof(struct sockaddr_un, sun_path)
                           ? len - offsetof(struct sockaddr_un, sun_path) : 0;
            if (l->path[0] == '@')
                hit = n >= 1 && un->sun_path[0] == 0 && n - 1 == strlen(l->path + 1)
                      && memcmp(un->sun_path + 1, l->path + 1, n - 1) == 0;
            else
                hit = n >= 1 && strncmp(un->sun_path, l->path, n) == 0
                      && strlen(l->path) == strnlen(un->sun_path, n);
        } else if (!l->ipc && ss.ss_family == AF_INET) {
            hit = ntohs(((const struct sockaddr_in *) &ss)->sin_port) == l->port;
        } else if (!l->ipc && ss.ss_family == AF_INET6) {
            hit = ntohs(((const struct sockaddr_in6 *) &ss)->sin6_port) == l->port;
        }
    }
    pthread_mutex_unlock(&s.mu);
    if (hit)
        atomic_store(&s.fds[lfd].state, 2);
    return hit;
}

/* The peer of connection fd as a key and a readable name. */
static void
s_peer_of(int fd, char *key, size_t keylen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    snprintf(key, keylen, "unknown peer");
    if (getpeername(fd, (struct sockaddr *) &ss, &len) != 0)
        return;
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_UNIX) {
        struct ucred cr;
        socklen_t cl = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
            snprintf(key, keylen, "process %ld (uid %lu)", (long) cr.pid, (unsigned long) cr.uid);
    } else if (ss.ss_family == AF_INET) {
        if (inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, ip, sizeof ip))
            snprintf(key, keylen, "%s", ip);
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *) &ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a) ? inet_ntop(AF_INET, &a->s6_addr[12], ip, sizeof ip)
                                    : inet_ntop(AF_INET6, a, ip, sizeof ip))
            snprintf(key, keylen, "%s", ip);
    }
}

/* Logs a refused connection of key, why, at most once per interval per key. */
static void
s_refusal(const char *key, const char *what)
{
    unsigned long held = 0;
    if (!s.rl || !ratelimit_allow(s.rl, key, shop_now_ns(), &held))
        return;
    if (held)
        log_notice("connection from %s refused: %s (%lu more refused since the last line)",
                   key, what, held);
    else
        log_notice("connection from %s refused: %s", key, what);
}

/* After libzmq's accept on lfd returned fd (or -1 with errno). */
static int
s_after_accept(int lfd, int fd)
{
    if (!atomic_load(&s.on) || !s_watched(lfd))
        return fd;
    if (fd < 0) {
        int e = errno;
        if (e != EMFILE && e != ENFILE)
            return fd;
        pthread_mutex_lock(&s.mu);
        if (s.reserve >= 0) {
            s_close(s.reserve);
            int x = s_accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (x >= 0)
                s_close(x);
            s.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        pthread_mutex_unlock(&s.mu);
        atomic_fetch_add(&s.exhausted, 1);
        char what[96];
        snprintf(what, sizeof what, "no descriptor left (%s, soft limit %ld)",
                 e == EMFILE ? "EMFILE" : "ENFILE", s_soft_limit());
        s_refusal("this host", what);
        errno = ECONNABORTED;
        return -1;
    }
    char key[S_PEER_MAX];
    s_peer_of(fd, key, sizeof key);
    pthread_mutex_lock(&s.mu);
    int slot = -1, free_slot = -1;
    for (int i = 0; i < s.npeers; i++) {
        if (s.peers[i].count > 0 && strcmp(s.peers[i].key, key) == 0) {
            slot = i;
            break;
        }
        if (free_slot < 0 && s.peers[i].count == 0)
            free_slot = i;
    }
    long open_now = s.open;
    int mine = slot >= 0 ? s.peers[slot].count : 0;
    bool over_all = open_now >= s.o.max_connections || fd >= s.nfds;
    bool over_peer = mine >= s.o.max_per_peer;
    if (over_all || over_peer || (slot < 0 && free_slot < 0)) {
        pthread_mutex_unlock(&s.mu);
        s_close(fd);
        atomic_fetch_add(&s.refused, 1);
        char what[128];
        if (over_peer)
            snprintf(what, sizeof what, "it has %d open, max_connections_per_peer = %d",
                     mine, s.o.max_per_peer);
        else
            snprintf(what, sizeof what, "%ld connections open, max_connections = %d",
                     open_now, s.o.max_connections);
        s_refusal(key, what);
        errno = ECONNABORTED;
        return -1;
    }
    if (slot < 0) {
        slot = free_slot;
        shop_strlcpy(s.peers[slot].key, key, sizeof s.peers[slot].key);
    }
    s.peers[slot].count++;
    s.open++;
    s.fds[fd].peer = slot;
    s.fds[fd].user[0] = 0;
    atomic_store(&s.fds[fd].pending, 0);
    atomic_store(&s.fds[fd].state, 1);
    pthread_mutex_unlock(&s.mu);
    return fd;
}

/* Forgets descriptor fd (a connection or a listener) before it closes. */
static void
s_forget(int fd)
{
    pthread_mutex_lock(&s.mu);
    if (atomic_load(&s.fds[fd].state) == 1) {
        int p = s.fds[fd].peer;
        if (p >= 0 && p < s.npeers && s.peers[p].count > 0)
            s.peers[p].count--;
        s.open--;
    }
    atomic_store(&s.fds[fd].state, 0);
    pthread_mutex_unlock(&s.mu);
}

/* --- the interposed calls ------------------------------------------------ */

int
accept(int lfd, struct sockaddr *addr, socklen_t *len)
{
    S_REAL();
    return s_after_accept(lfd, s_accept(lfd, addr, len));
}

int
accept4(int lfd, struct sockaddr *addr, socklen_t *len, int flags)
{
    S_REAL();
    return s_after_accept(lfd, s_accept4(lfd, addr, len, flags));
}

ssize_t
recv(int fd, void *buf, size_t n, int flags)
{
    S_REAL();
    ssize_t r = s_recv(fd, buf, n, flags);
    if (r <= 0 || !atomic_load(&s.on) || fd < 0 || fd >= s.nfds
        || atomic_load(&s.fds[fd].state) != 1)
        return r;
    int64_t pending = atomic_fetch_add(&s.fds[fd].pending, (int64_t) r) + r;
    int64_t max = atomic_load(&s.max_pending);
    if (max <= 0 || pending <= max)
        return r;
    /* libzmq takes the error for the peer's: it drops the connection and
     * with it every frame of the unfinished message */
    shutdown(fd, SHUT_RDWR);
    atomic_fetch_add(&s.dropped, 1);
    char key[S_PEER_MAX];
    s_peer_of(fd, key, sizeof key);
    unsigned long held = 0;
    if (s.rl && ratelimit_allow(s.rl, key, shop_now_ns(), &held)) {
        if (held)
            log_notice("connection from %s dropped: %lld bytes received and not yet a whole "
                       "request, over max_pending_size = %lld (%lu more refused since the "
                       "last line)", key, (long long) pending, (long long) max, held);
        else
            log_notice("connection from %s dropped: %lld bytes received and not yet a whole "
                       "request, over max_pending_size = %lld", key, (long long) pending,
                       (long long) max);
    }
    errno = ECONNRESET;
    return -1;
}

int
close(int fd)
{
    S_REAL();
    if (fd >= 0 && fd < s.nfds && s.fds && atomic_load(&s.fds[fd].state) != 0)
        s_forget(fd);
    return s_close(fd);
}

/* --- the application's side ---------------------------------------------- */

void
netguard_message_read(int fd)
{
    if (fd >= 0 && fd < s.nfds && atomic_load(&s.fds[fd].state) == 1)
        atomic_store(&s.fds[fd].pending, 0);
}

int
netguard_drop(int fd)
{
    if (fd < 0 || fd >= s.nfds || atomic_load(&s.fds[fd].state) != 1)
        return -1;
    atomic_fetch_add(&s.cut, 1);
    return shutdown(fd, SHUT_RDWR) == 0 ? 0 : -1;
}

void
netguard_set_user(int fd, const char *user)
{
    if (fd < 0 || fd >= s.nfds || !user || atomic_load(&s.fds[fd].state) != 1)
        return;
    pthread_mutex_lock(&s.mu);
    if (strcmp(s.fds[fd].user, user) != 0)
        shop_strlcpy(s.fds[fd].user, user, sizeof s.fds[fd].user);
    pthread_mutex_unlock(&s.mu);
}

int
netguard_cut_users(bool (*allowed)(void *ud, const char *user), void *ud)
{
    int cut = 0;
    pthread_mutex_lock(&s.mu);
    for (int fd = 0; fd < s.nfds; fd++)
        if (atomic_load(&s.fds[fd].state) == 1 && s.fds[fd].user[0]
            && !allowed(ud, s.fds[fd].user)) {
            shutdown(fd, SHUT_RDWR);
            s.fds[fd].user[0] = 0;
            cut++;
        }
    pthread_mutex_unlock(&s.mu);
    atomic_fetch_add(&s.cut, cut);
    return cut;
}

void
netguard_stats(netguard_stats_t *st)
{
    pthread_mutex_lock(&s.mu);
    st->open = s.open;
    pthread_mutex_unlock(&s.mu);
    st->refused = atomic_load(&s.refused);
    st->exhausted = atomic_load(&s.exhausted);
    st->dropped = atomic_load(&s.dropped);
    st->cut = atomic_load(&s.cut);
    st->limit = s_soft_limit();
}
