/* daemon/sandbox.c: the jailed decoder worker and its exact-checking parent.
 *
 * Wire format on the socketpair, host byte order (both ends are one binary):
 *   request: sb_req_t, then len input bytes
 *   reply:   sb_rep_t, then either errlen message bytes (status 1) or the
 *            payload (status 0): w*h*channels pixels or n floats.
 * The worker handles one request at a time and answers each before reading
 * the next, so the parent can require the reply to carry the request's id. */
#define _GNU_SOURCE
#include "daemon/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define SB_MAGIC 0x53424f58u  /* "SBOX" */
#define SB_DEFAULT_TIMEOUT_MS 10000
#define SB_WORKER_FD 3
#define SB_MAX_ERR 512
/* why a request ended when the cancel fd became readable */
static const char S_WHY_CANCELLED[] = "was stopped: shopd is shutting down";
/* niceness the worker adds to shopd's */
#define SB_NICE 5
/* the resampler may round the output up by a few samples past max_seconds */
#define SB_AUDIO_SLACK 64

enum { SB_KIND_IMAGE = 1, SB_KIND_AUDIO = 2 };
enum { SB_OK = 0, SB_FAIL = 1 };

typedef struct {
    uint32_t magic;
    uint32_t kind;         /* SB_KIND_* */
    uint64_t id;           /* echoed in the reply */
    uint64_t len;          /* input bytes that follow */
    /* image */
    uint64_t max_bytes;
    uint64_t max_pixels;
    int32_t max_side;
    int32_t channels;
    /* audio */
    double max_seconds;
    int32_t max_channels;
    int32_t out_rate;
} sb_req_t;

typedef struct {
    uint32_t magic;
    uint32_t status;       /* SB_OK or SB_FAIL */
    uint64_t id;
    uint64_t errlen;       /* message bytes that follow when status is SB_FAIL */
    int32_t w, h, channels;/* image reply */
    int32_t pad;
    uint64_t n;            /* audio reply: samples that follow */
} sb_rep_t;

struct _sandbox_t {
    int fd;                /* parent end of the socketpair, -1 when no worker */
    pid_t pid;             /* the worker, 0 when none */
    uid_t uid;             /* user the worker becomes when we are root */
    gid_t gid;
    bool drop;             /* whether to change user */
    int timeout_ms;        /* per-request bound */
    int cancel_fd;         /* readable: give up the request, -1 = none */
    uint64_t next_id;      /* id of the next request */
    sandbox_stats_t stats; /* counters */
};

/* ---------------------------------------------------------------- worker */

/* Blocking full read/write on the worker side; returns 0 or -1 (peer gone). */
static int s_wread(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t) r;
    }
    return 0;
}

static int s_wwrite(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = write(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t) r;
    }
    return 0;
}

/* Installs the allow-list. Returns 0, or -1 when libseccomp refuses. The
 * default action kills the whole process, so the parent sees SIGSYS. */
static int s_install_filter(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx)
        return -1;
    int rc = 0;
    /* its socket, both ways; stderr for sanitizer reports */
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(read), 1,
                           SCMP_A0(SCMP_CMP_EQ, SB_WORKER_FD, 0));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(write), 1,
                           SCMP_A0(SCMP_CMP_EQ, SB_WORKER_FD, 0));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(write), 1,
                           SCMP_A0(SCMP_CMP_EQ, STDERR_FILENO, 0));
    /* No file can be opened. Refused with EACCES rather than killed: on any
     * input it does not recognise, libsndfile probes a Mac resource fork with
     * openat("/..namedfork/rsrc"), and that input deserves the decoder's own
     * message, not a dead worker. */
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat2), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(creat), 0);
    /* memory, never executable */
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(brk), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(munmap), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mremap), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(madvise), 0);
    /* glibc internals: locks, malloc's random keys, time, signals for abort() */
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(futex), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getrandom), 0);
    /* glibc's qsort (libvorbis) sizes its buffer from the physical memory */
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sysinfo), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clock_gettime), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(gettid), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getpid), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigprocmask), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigreturn), 0);
    /* sanitizer runtimes query and set an alternate signal stack on entry */
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sigaltstack), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(exit), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(exit_group), 0);
    if (rc == 0)
        rc = seccomp_load(ctx);
    if (rc != 0) {
        /* under a systemd unit whose SystemCallFilter (@system-service) has
         * no seccomp(2), load through prctl(PR_SET_SECCOMP) instead: API
         * level 1 is libseccomp's "no seccomp syscall" mode */
        if (seccomp_api_set(1) == 0)
            rc = seccomp_load(ctx);
    }
    seccomp_release(ctx);
    return rc == 0 ? 0 : -1;
}

/* Test hooks, armed only when SHOPD_SANDBOX_TEST_HOOKS=1 is in the worker's
 * environment at start: an input starting with the magic makes the worker
 * misbehave on purpose so tests can show the jail and the checks hold. They
 * only ever hurt the worker itself, which any input may try anyway. */
#define SB_HOOK "SHOPD-SANDBOX-TEST:"

/* Returns true when the hook has answered the request itself. */
static bool s_hook(const uint8_t *in, size_t len, int fd, const sb_req_t *req)
{
    size_t m = strlen(SB_HOOK);
    if (len < m || memcmp(in, SB_HOOK, m) != 0)
        return false;
    const char *what = (const char *) in + m;
    size_t wl = len - m;
    if (wl >= 4 && memcmp(what, "open", 4) == 0) {
        /* the filter refuses it: the reply says what open did */
        int f = open("/etc/passwd", O_RDONLY);
        int e = errno;
        char buf[64];
        ssize_t r = f >= 0 ? read(f, buf, sizeof buf) : -1;
        sb_rep_t rep = {.magic = SB_MAGIC, .status = SB_FAIL, .id = req->id};
        char msg[128];
        if (f >= 0)
            snprintf(msg, sizeof msg, "sandbox hole: open returned %d, read %zd", f, r);
        else
            snprintf(msg, sizeof msg, "open(/etc/passwd) refused: %s", strerror(e));
        rep.errlen = strlen(msg);
        s_wwrite(fd, &rep, sizeof rep);
        s_wwrite(fd, msg, rep.errlen);
        return true;
    } else if (wl >= 4 && memcmp(what, "exec", 4) == 0) {
        char *const argv[] = {(char *) "/bin/true", NULL};
        execve(argv[0], argv, argv + 1);
    } else if (wl >= 5 && memcmp(what, "mmapx", 5) == 0) {
        void *x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (x != MAP_FAILED)
            raise(SIGUSR1);  /* a distinct death: executable memory was granted */
    } else if (wl >= 4 && memcmp(what, "segv", 4) == 0) {
        raise(SIGSEGV);
    } else if (wl >= 4 && memcmp(what, "hang", 4) == 0) {
        for (volatile int spin = 1; spin;)
            ;
    } else if (wl >= 4 && memcmp(what, "long", 4) == 0) {
        /* claims a 4x4 RGB image and sends 49 bytes for its 48 */
        sb_rep_t rep = {.magic = SB_MAGIC, .status = SB_OK, .id = req->id,
                        .w = 4, .h = 4, .channels = 3};
        uint8_t px[sizeof rep + 49] = {0};
        memcpy(px, &rep, sizeof rep);
        s_wwrite(fd, px, sizeof px);
        for (;;) {
            uint8_t b;
            if (s_wread(fd, &b, 1) < 0)
                _exit(0);
        }
    } else if (wl >= 5 && memcmp(what, "short", 5) == 0) {
        /* claims a 4x4 RGB image, sends 47 of its 48 bytes and leaves */
        sb_rep_t rep = {.magic = SB_MAGIC, .status = SB_OK, .id = req->id,
                        .w = 4, .h = 4, .channels = 3};
        uint8_t px[47] = {0};
        s_wwrite(fd, &rep, sizeof rep);
        s_wwrite(fd, px, sizeof px);
        _exit(0);
    }
    return false;
}

/* Serves requests on fd until the parent closes it. Never returns. */
static void s_worker_loop(int fd, bool hooks)
{
    for (;;) {
        sb_req_t req;
        if (s_wread(fd, &req, sizeof req) < 0 || req.magic != SB_MAGIC)
            _exit(0);
        uint8_t *in = malloc(req.len ? req.len : 1);
        if (!in || s_wread(fd, in, req.len) < 0)
            _exit(1);
        if (hooks && s_hook(in, req.len, fd, &req)) {
            free(in);
            continue;
        }

        sb_rep_t rep = {.magic = SB_MAGIC, .id = req.id};
        char msg[SB_MAX_ERR] = "";
        const void *payload = NULL;
        size_t plen = 0;
        vision_image_t img = {0};
        float *pcm = NULL;
        if (req.kind == SB_KIND_IMAGE) {
            vision_limits_t lim = {.max_bytes = req.max_bytes, .max_pixels = req.max_pixels,
                                   .max_side = req.max_side};
            if (vision_decode_mem(in, req.len, &lim, req.channels, &img, msg, sizeof msg) == 0) {
                rep.w = img.w;
                rep.h = img.h;
                rep.channels = img.channels;
                payload = img.px;
                plen = (size_t) img.w * img.h * img.channels;
            }
        } else {
            audio_source_limits_t lim = {.max_seconds = req.max_seconds,
                                         .max_bytes = req.max_bytes,
                                         .max_channels = req.max_channels,
                                         .out_rate = req.out_rate};
            size_t n = 0;
            if (audio_source_decode_mem(in, req.len, &lim, &pcm, &n, msg, sizeof msg) == 0) {
                rep.n = n;
                payload = pcm;
                plen = n * sizeof(float);
            }
        }
        free(in);
        if (payload) {
            rep.status = SB_OK;
        } else {
            rep.status = SB_FAIL;
            rep.errlen = strnlen(msg, sizeof msg - 1);
            payload = msg;
            plen = rep.errlen;
        }
        int wr = s_wwrite(fd, &rep, sizeof rep);
        if (wr == 0 && plen)
            wr = s_wwrite(fd, payload, plen);
        vision_image_release(&img);
        free(pcm);
        if (wr < 0)
            _exit(0);
    }
}

/* The child side of the fork: jail itself, then serve. Never returns. */
static void s_worker_main(int fd, const sandbox_t *sb)
{
    /* a name that says what it is in ps and top (the fork's is the daemon's) */
    prctl(PR_SET_NAME, "shopd-decoder", 0, 0, 0);
    /* die with the parent rather than linger as an orphan */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(1);
    if (fd != SB_WORKER_FD) {
        if (dup2(fd, SB_WORKER_FD) < 0)
            _exit(1);
    }
    /* the database, the ZeroMQ sockets and the listening ports stay with the parent */
    if (close_range(SB_WORKER_FD + 1, ~0u, 0) != 0)
        _exit(1);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        if (devnull > STDERR_FILENO && devnull != SB_WORKER_FD)
            close(devnull);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGSEGV, SIG_DFL);
    const char *h = getenv("SHOPD_SANDBOX_TEST_HOOKS");
    bool hooks = h && strcmp(h, "1") == 0;

    if (sb->drop) {
        if (setgroups(0, NULL) != 0 || setgid(sb->gid) != 0 || setuid(sb->uid) != 0)
            _exit(1);
        /* the change must be for good */
        if (setuid(0) == 0)
            _exit(1);
    }
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    /* below shopd's own priority: on a busy machine a long decode yields
     * the CPU to the loop that answers everyone else (best effort: a
     * worker that cannot lower its priority still decodes) */
    (void) !nice(SB_NICE);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0) != 0)
        _exit(1);
    if (s_install_filter() != 0)
        _exit(1);
    s_worker_loop(SB_WORKER_FD, hooks);
}

/* ---------------------------------------------------------------- parent */

/* Forks a fresh worker. Returns 0, or -1 with a message. */
static int s_spawn(sandbox_t *sb, char *err, size_t errlen)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        shop_errf(err, errlen, "sandbox: socketpair: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        shop_errf(err, errlen, "sandbox: fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        /* dup2 clears FD_CLOEXEC; when sv[1] is already fd 3 clear it by hand */
        if (sv[1] == SB_WORKER_FD)
            fcntl(sv[1], F_SETFD, 0);
        s_worker_main(sv[1], sb);
        _exit(1);
    }
    close(sv[1]);
    int fl = fcntl(sv[0], F_GETFL);
    fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
    sb->fd = sv[0];
    sb->pid = pid;
    sb->stats.pid = pid;
    return 0;
}

/* Kills and reaps the worker; describes how it ended in how (may be NULL). */
static void s_kill(sandbox_t *sb, char *how, size_t howlen)
{
    if (how && howlen)
        how[0] = '\0';
    if (sb->fd >= 0)
        close(sb->fd);
    sb->fd = -1;
    if (sb->pid > 0) {
        int st = 0;
        /* a worker that already died keeps its own cause of death */
        pid_t r = waitpid(sb->pid, &st, WNOHANG);
        /* r < 0: SIGCHLD ignored by someone, the child may still run */
        if (r <= 0) {
            kill(sb->pid, SIGKILL);
            r = waitpid(sb->pid, &st, 0);
            if (how && howlen)
                snprintf(how, howlen, "killed");
        } else if (r == sb->pid && how && howlen) {
            if (WIFSIGNALED(st))
                snprintf(how, howlen, "died of signal %d (%s)", WTERMSIG(st),
                         strsignal(WTERMSIG(st)));
            else if (WIFEXITED(st))
                snprintf(how, howlen, "exited with status %d", WEXITSTATUS(st));
        }
    }
    sb->pid = 0;
    sb->stats.pid = 0;
}

/* Waits up to 200 ms for a worker that just closed its socket to exit,
 * without reaping it, so the rejection can say how it died. */
static void s_reap_wait(const sandbox_t *sb)
{
    for (int i = 0; i < 200; i++) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t) sb->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            si.si_pid != 0)
            return;
        usleep(1000);
    }
}

/* Moves len bytes to or from the worker before deadline_ns. Returns 0, or -1
 * with why in *why ("timed out", "closed its socket", an errno string). */
static int s_io(sandbox_t *sb, bool out, void *buf, size_t len, uint64_t deadline_ns,
                const char **why)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = out ? send(sb->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : recv(sb->fd, p, len, MSG_DONTWAIT);
        if (r > 0) {
            p += r;
            len -= (size_t) r;
            continue;
        }
        if (r == 0 && !out) {
            *why = "closed its socket";
            return -1;
        }
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            *why = errno == EPIPE || errno == ECONNRESET ? "closed its socket" : strerror(errno);
            return -1;
        }
        uint64_t now = shop_now_ns();
        if (now >= deadline_ns) {
            *why = "timed out";
            return -1;
        }
        struct pollfd pfd[2] = {{.fd = sb->fd, .events = out ? POLLOUT : POLLIN},
                                {.fd = sb->cancel_fd, .events = POLLIN}};
        uint64_t left_ms = (deadline_ns - now + 999999) / 1000000;
        int pr = poll(pfd, sb->cancel_fd >= 0 ? 2 : 1, left_ms > 60000 ? 60000 : (int) left_ms);
        if (pr < 0 && errno != EINTR) {
            *why = strerror(errno);
            return -1;
        }
        if (pr > 0 && sb->cancel_fd >= 0 && (pfd[1].revents & POLLIN)) {
            *why = S_WHY_CANCELLED;
            return -1;
        }
    }
    return 0;
}

/* Whether the worker sent more than its reply announced. Returns true when
 * bytes are waiting: the worker writes a whole reply before it reads again. */
static bool s_trailing(const sandbox_t *sb)
{
    uint8_t b;
    ssize_t r = recv(sb->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return r > 0;
}

/* Ends a failed exchange: kills the worker, counts it, says why. */
static int s_reject(sandbox_t *sb, const char *why, char *err, size_t errlen)
{
    char how[96];
    if (sb->pid > 0 && strcmp(why, "closed its socket") == 0)
        s_reap_wait(sb);
    s_kill(sb, how, sizeof how);
    sb->stats.rejected++;
    shop_errf(err, errlen, "input rejected: the decoder worker %s%s%s", why, how[0] ? ", " : "",
              how);
    /* stopping is not the input's fault, nor a problem */
    if (why == S_WHY_CANCELLED)
        log_info("sandbox: %s", err ? err : why);
    else
        log_warn("sandbox: %s", err ? err : why);
    return -1;
}

/* Sends req and its input, reads the reply header. Returns 0 with *rep
 * checked for magic and id, or -1 with the request rejected. */
static int s_exchange(sandbox_t *sb, sb_req_t *req, const void *bytes, sb_rep_t *rep,
                      uint64_t deadline, char *err, size_t errlen)
{
    int st;
    if (sb->pid > 0 && waitpid(sb->pid, &st, WNOHANG) == sb->pid) {
        /* died between requests (killed from outside): not this input's fault */
        log_warn("sandbox: the decoder worker %d died between requests", (int) sb->pid);
        sb->pid = 0;
        s_kill(sb, NULL, 0);
    }
    if (sb->pid <= 0) {
        if (s_spawn(sb, err, errlen) != 0)
            return -1;
        sb->stats.restarts++;
    }
    const char *why = NULL;
    req->magic = SB_MAGIC;
    req->id = sb->next_id++;
    sb->stats.requests++;
    if (s_io(sb, true, req, sizeof *req, deadline, &why) != 0 ||
        s_io(sb, true, (void *) bytes, req->len, deadline, &why) != 0 ||
        s_io(sb, false, rep, sizeof *rep, deadline, &why) != 0)
        return s_reject(sb, why, err, errlen);
    if (rep->magic != SB_MAGIC || rep->id != req->id ||
        (rep->status != SB_OK && rep->status != SB_FAIL))
        return s_reject(sb, "sent a malformed reply", err, errlen);
    if (rep->status == SB_FAIL) {
        char msg[SB_MAX_ERR];
        if (rep->errlen >= sizeof msg)
            return s_reject(sb, "sent an over-long message", err, errlen);
        if (s_io(sb, false, msg, rep->errlen, deadline, &why) != 0)
            return s_reject(sb, why, err, errlen);
        msg[rep->errlen] = '\0';
        if (s_trailing(sb))
            return s_reject(sb, "sent more than it announced", err, errlen);
        /* the message is shown to clients: keep printable ASCII only */
        for (size_t i = 0; i < rep->errlen; i++)
            if (msg[i] < 0x20 || msg[i] > 0x7e)
                msg[i] = '?';
        shop_errf(err, errlen, "%s", msg);
        return -1;
    }
    return 0;
}

static uint64_t s_deadline(const sandbox_t *sb)
{
    return shop_now_ns() + (uint64_t) sb->timeout_ms * 1000000u;
}

sandbox_t *sandbox_new(const sandbox_opts_t *opts, char *err, size_t errlen)
{
    sandbox_t *sb = xcalloc(1, sizeof *sb);
    sb->fd = -1;
    sb->next_id = 1;
    sb->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : SB_DEFAULT_TIMEOUT_MS;
    sb->cancel_fd = opts && opts->cancel_fd > 0 ? opts->cancel_fd : -1;
    if (geteuid() == 0) {
        /* resolved here: NSS may open files, which the worker cannot */
        const char *user = opts && opts->user && *opts->user ? opts->user : "nobody";
        struct passwd *pw = getpwnam(user);
        if (!pw) {
            shop_errf(err, errlen, "sandbox: unknown user '%s' for the decoder worker", user);
            goto fail;
        }
        if (pw->pw_uid == 0) {
            shop_errf(err, errlen, "sandbox: the decoder worker must not run as root ('%s')", user);
            goto fail;
        }
        sb->uid = pw->pw_uid;
        sb->gid = pw->pw_gid;
        sb->drop = true;
    }
    if (s_spawn(sb, err, errlen) != 0)
        goto fail;
    return sb;
fail:
    free(sb);
    return NULL;
}

void sandbox_destroy(sandbox_t **sb_p)
{
    if (!sb_p || !*sb_p)
        return;
    s_kill(*sb_p, NULL, 0);
    free(*sb_p);
    *sb_p = NULL;
}

void sandbox_set_cancel_fd(sandbox_t *sb, int fd)
{
    sb->cancel_fd = fd;
}

void sandbox_stats(const sandbox_t *sb, sandbox_stats_t *stats)
{
    *stats = sb->stats;
}

int sandbox_decode_image(sandbox_t *sb, const uint8_t *bytes, size_t len,
                         const vision_limits_t *limits, int channels, vision_image_t *img,
                         char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    vision_limits_t lim = limits ? *limits : (vision_limits_t) {0};
    if (lim.max_bytes == 0)
        lim.max_bytes = VISION_DEFAULT_MAX_BYTES;
    if (lim.max_pixels == 0)
        lim.max_pixels = VISION_DEFAULT_MAX_PIXELS;
    if (lim.max_side == 0)
        lim.max_side = VISION_DEFAULT_MAX_SIDE;
    if (channels != 1 && channels != 3) {
        shop_errf(err, errlen, "image: %d channels requested (1 or 3)", channels);
        return -1;
    }
    /* refused here, so an oversized input never crosses the socket */
    if (len > lim.max_bytes) {
        shop_errf(err, errlen,
                  "image: %zu bytes is more than the limit of %zu", len, lim.max_bytes);
        return -1;
    }
    sb_req_t req = {.kind = SB_KIND_IMAGE, .len = len, .max_bytes = lim.max_bytes,
                    .max_pixels = lim.max_pixels, .max_side = lim.max_side,
                    .channels = channels};
    sb_rep_t rep;
    uint64_t deadline = s_deadline(sb);
    if (s_exchange(sb, &req, bytes, &rep, deadline, err, errlen) != 0)
        return -1;
    if (rep.channels != channels || rep.w <= 0 || rep.h <= 0 || rep.w > lim.max_side ||
        rep.h > lim.max_side || (uint64_t) rep.w * (uint64_t) rep.h > lim.max_pixels || rep.n)
        return s_reject(sb, "sent an image header outside the limits", err, errlen);
    if (vision_image_alloc(img, rep.w, rep.h, rep.channels) != 0)
        return s_reject(sb, "sent an invalid image size", err, errlen);
    const char *why = NULL;
    size_t bytes_px = (size_t) rep.w * rep.h * rep.channels;
    if (s_io(sb, false, img->px, bytes_px, deadline, &why) != 0) {
        vision_image_release(img);
        return s_reject(sb, why, err, errlen);
    }
    if (s_trailing(sb)) {
        vision_image_release(img);
        return s_reject(sb, "sent more than it announced", err, errlen);
    }
    return 0;
}

int sandbox_decode_audio(sandbox_t *sb, const void *bytes, size_t len,
                         const audio_source_limits_t *limits, float **pcm, size_t *n,
                         char *err, size_t errlen)
{
    *pcm = NULL;
    *n = 0;
    audio_source_limits_t lim;
    if (limits)
        lim = *limits;
    else
        audio_source_limits_default(&lim);
    if (len > lim.max_bytes) {
        shop_errf(err, errlen,
                  "audio: %zu bytes is more than the limit of %zu", len, lim.max_bytes);
        return -1;
    }
    if (!(lim.max_seconds > 0 && lim.max_seconds < 86400) || lim.out_rate <= 0) {
        shop_errf(err, errlen, "audio: invalid limits");
        return -1;
    }
    sb_req_t req = {.kind = SB_KIND_AUDIO, .len = len, .max_bytes = lim.max_bytes,
                    .max_seconds = lim.max_seconds, .max_channels = lim.max_channels,
                    .out_rate = lim.out_rate};
    sb_rep_t rep;
    uint64_t deadline = s_deadline(sb);
    if (s_exchange(sb, &req, bytes, &rep, deadline, err, errlen) != 0)
        return -1;
    uint64_t most = (uint64_t) ceil(lim.max_seconds * lim.out_rate) + SB_AUDIO_SLACK;
    if (rep.n == 0 || rep.n > most || rep.w || rep.h || rep.channels)
        return s_reject(sb, "sent a sample count outside the limits", err, errlen);
    float *out = xmalloc(rep.n * sizeof *out);
    const char *why = NULL;
    if (s_io(sb, false, out, rep.n * sizeof *out, deadline, &why) != 0) {
        free(out);
        return s_reject(sb, why, err, errlen);
    }
    if (s_trailing(sb)) {
        free(out);
        return s_reject(sb, "sent more than it announced", err, errlen);
    }
    for (size_t i = 0; i < rep.n; i++) {
        if (!(out[i] >= -1.0f && out[i] <= 1.0f)) {
            free(out);
            return s_reject(sb, "sent samples outside [-1, 1]", err, errlen);
        }
    }
    *pcm = out;
    *n = rep.n;
    return 0;
}
