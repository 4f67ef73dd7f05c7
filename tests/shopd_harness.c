/* tests/shopd_harness.c: see shopd_harness.h */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/shopd_harness.h"

#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "recommend/store.h"

static char s_bin[1024];

int
harness_init(void)
{
    const char *top = getenv("SHOP_TOP_BUILDDIR");
    snprintf(s_bin, sizeof s_bin, "%s/shopd", top ? top : ".");
    /* a test must not die because shopd closed a socket under it */
    signal(SIGPIPE, SIG_IGN);
    return access(s_bin, X_OK) == 0 ? 0 : -1;
}

const char *
harness_shopd_bin(void)
{
    return s_bin;
}

void
harness_catalogue(harness_t *d, const char *const *ids, int n)
{
    char *err = NULL;
    store_t *st = store_open(d->db, &err);
    if (!st)
        fail_msg("cannot create %s: %s", d->db, err ? err : "?");
    for (int i = 0; i < n; i++) {
        store_item_t it = { .price = 1.0, .in_stock = true };
        shop_strlcpy(it.id, ids[i], sizeof it.id);
        shop_strlcpy(it.name, ids[i], sizeof it.name);
        shop_strlcpy(it.category, "test", sizeof it.category);
        shop_strlcpy(it.attributes, "{}", sizeof it.attributes);
        if (store_item_upsert(st, &it) != 0)
            fail_msg("cannot add %s: %s", ids[i], store_errmsg(st));
    }
    store_close(&st);
}

void
harness_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot write %s", path);
    fputs(text, f);
    if (fclose(f) != 0)
        fail_msg("cannot write %s", path);
}

void
harness_prepare(harness_t *d, const char *tag, const char *conf_text)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/shopd-%.16s-XXXXXX", tag);
    if (!mkdtemp(d->dir))
        fail_msg("mkdtemp %s failed", d->dir);
    snprintf(d->sock, sizeof d->sock, "%.64s/req.sock", d->dir);
    snprintf(d->ep, sizeof d->ep, "ipc://%s", d->sock);
    snprintf(d->pub_ep, sizeof d->pub_ep, "ipc://%s/events.sock", d->dir);
    snprintf(d->db, sizeof d->db, "%s/shop.db", d->dir);
    snprintf(d->conf, sizeof d->conf, "%s/shopd.conf", d->dir);
    snprintf(d->log, sizeof d->log, "%s/shopd.log", d->dir);
    harness_write(d->conf, conf_text ? conf_text : "[store]\nimport_demo = no\n");
}

void
harness_spawn(harness_t *d, const harness_spawn_t *opts)
{
    harness_spawn_t o = { 0 };
    if (opts)
        o = *opts;
    d->pid = fork();
    if (d->pid < 0)
        fail_msg("fork failed");
    if (d->pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        for (const char *const *e = o.env; e && *e; e++)
            putenv((char *) *e);
        if (o.fsize > 0) {
            /* ignored signals stay ignored across exec: writes fail with EFBIG */
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = { (rlim_t) o.fsize, (rlim_t) o.fsize };
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        if (o.before_exec)
            o.before_exec();
        /* on a PostgreSQL database, the device's outbox is the test's too */
        char outbox[200];
        snprintf(outbox, sizeof outbox, "%s/outbox.db", d->dir);
        if (o.conf_endpoints)
            execl(s_bin, "shopd", "--foreground", "--config", d->conf, "--db", d->db,
                  "--outbox", outbox, (char *) NULL);
        else
            execl(s_bin, "shopd", "--foreground", "--config", d->conf, "--endpoint", d->ep,
                  "--pub-endpoint", d->pub_ep, "--db", d->db, "--outbox", outbox, (char *) NULL);
        _exit(127);
    }
}

void
harness_wait_ready(harness_t *d, const client_curve_t *curve, int seconds)
{
    char err[512];
    client_t *c = client_new(d->ep, curve, err, sizeof err);
    if (!c)
        fail_msg("client of %s: %s", d->ep, err);
    uint64_t end = shop_now_ns() + (uint64_t) seconds * 1000000000u;
    bool exited = false, ready = false;
    while (!ready && !exited && shop_now_ns() < end) {
        proto_reply_t r;
        if (client_request(c, "status", NULL, NULL, NULL, NULL, 0, 200, &r, err, sizeof err)
            == 0) {
            ready = r.ok;
            proto_reply_clear(&r);
        }
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            exited = true;
            d->pid = 0;
        }
    }
    client_destroy(&c);
    if (exited)
        fail_msg("shopd exited during start-up (see %s)", d->log);
    if (!ready)
        fail_msg("shopd did not answer within %d s (see %s)", seconds, d->log);
}

void
harness_start(harness_t *d)
{
    harness_spawn(d, NULL);
    harness_wait_ready(d, NULL, 120);
}

int
harness_stop(harness_t *d, int sig)
{
    if (d->pid <= 0)
        fail_msg("shopd is not running");
    kill(d->pid, sig);
    int st = 0;
    for (int i = 0; i < 100; i++) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(100000);
    }
    harness_kill(d);
    fail_msg("shopd did not stop within 10 s of signal %d", sig);
    return -1;
}

void
harness_kill(harness_t *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
}

static int
s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    if (remove(path) != 0)
        fprintf(stderr, "# could not remove %s\n", path);
    return 0;
}

void
harness_cleanup(harness_t *d)
{
    harness_kill(d);
    if (!d->dir[0])
        return;
    nftw(d->dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    d->dir[0] = '\0';
}

bool
harness_log_has(const harness_t *d, const char *needle, int wait_ms)
{
    uint64_t end = shop_now_ns() + (uint64_t) wait_ms * 1000000u;
    for (;;) {
        char err[256];
        size_t len = 0;
        char *text = (char *) shop_read_file(d->log, 16u << 20, &len, err, sizeof err);
        bool found = text && memmem(text, len, needle, strlen(needle)) != NULL;
        free(text);
        if (found || shop_now_ns() >= end)
            return found;
        usleep(50000);
    }
}

int
harness_log_count(const harness_t *d, const char *needle)
{
    char err[256];
    size_t len = 0, nlen = strlen(needle);
    char *text = (char *) shop_read_file(d->log, 16u << 20, &len, err, sizeof err);
    int n = 0;
    for (const char *p = text; p && (p = memmem(p, len - (size_t) (p - text), needle, nlen));
         p += nlen)
        n++;
    free(text);
    return n;
}

pid_t
harness_spawn_program(const char *bin, const char *const *args, const char *log, bool truncate)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    /* emptied here, before the fork: a caller reading the log right after
     * must not find the previous program's lines */
    if (truncate) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            fail_msg("cannot create %s", log);
        close(fd);
    }
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execv(bin, (char *const *) argv);
        _exit(127);
    }
    if (pid < 0)
        fail_msg("cannot fork for %s", bin);
    return pid;
}

int
harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof a) != 0
        || getsockname(fd, (struct sockaddr *) &a, &len) != 0)
        fail_msg("no free loopback port");
    close(fd);
    return ntohs(a.sin_port);
}

client_t *
harness_client(const harness_t *d)
{
    char err[512];
    client_t *c = client_new(d->ep, NULL, err, sizeof err);
    if (!c)
        fail_msg("client of %s: %s", d->ep, err);
    return c;
}
