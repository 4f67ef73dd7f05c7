/* daemon/shopd.c: the shopd daemon's main(): options, configuration,
 * signals, daemonising, systemd notification and the main loop.
 *
 * Signal handlers only set a volatile sig_atomic_t flag and write one byte
 * to a self-pipe that the poll loop watches, so a signal wakes the loop at
 * once whichever thread receives it (OpenBLAS and libzmq start threads of
 * their own, so blocking signals in main alone would not be enough). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/conf.h"
#include "daemon/lock.h"
#include "daemon/netguard.h"
#include "daemon/server.h"
#include "nn/nn.h"

#define S_DEFAULT_CONFIG SHOP_SYSCONFDIR "/shopd/shopd.conf"

/* Command-line settings: they win over the file, also after a reload. */
typedef struct {
    const char *config;      /* --config, or NULL for the default file if present */
    const char *endpoint;
    const char *events_endpoint;
    const char *database;
    const char *log_level;
    const char *web;         /* --web ADDR:PORT: the kiosk page */
    const char *mic;         /* --mic: [microphone] device */
    const char *camera;      /* --camera: V4L2 device or recording */
    bool foreground;         /* --foreground: never detach (wins over --daemon) */
    bool daemon;             /* --daemon: detach like a classic daemon */
    bool check_only;
} s_opts_t;

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: shopd [options]\n"
            "  -f, --foreground           stay in the foreground, log to stderr (the default)\n"
            "  -D, --daemon               detach (double fork), log to syslog; the command\n"
            "                             returns once shopd serves (not under systemd)\n"
            "  -c, --config FILE          read FILE (default %s, if it exists)\n"
            "  -e, --endpoint EP          request endpoint (ROUTER), e.g. ipc:///run/shopd/shopd.sock\n"
            "  -p, --pub-endpoint EP      event endpoint (PUB)\n"
            "  -d, --db FILE|URI          SQLite database file, or a PostgreSQL server\n"
            "                             (postgresql://USER@HOST/DB?...)\n"
            "  -l, --log-level LEVEL      error, warning, notice, info or debug\n"
            "  -w, --web ADDR:PORT        serve the kiosk page, e.g. 127.0.0.1:8080\n"
            "                             (http://ADDR:PORT/?session=ID; other than loopback\n"
            "                             only with [web] token)\n"
            "  -m, --mic DEVICE           listen on a microphone: \"default\", a PortAudio\n"
            "                             device index or part of its name ([microphone])\n"
            "      --camera DEVICE        look through a V4L2 camera (/dev/videoN) or an AVI\n"
            "                             recording of MJPEG/YUYV frames ([camera] device)\n"
            "  -t, --check-config         check the configuration and exit\n"
            "  -h, --help                 this text\n"
            "  -V, --version              print the version\n"
            "Signals: SIGTERM/SIGINT stop cleanly (exit 0), SIGHUP reloads the configuration,\n"
            "the allow-list, the models and the database. See shopd(8).\n",
            S_DEFAULT_CONFIG);
}

/* Builds the configuration: defaults, the file, then the command line.
 * *path_used gets the file read ("" when none). Returns 0 or -1 with err. */
static int
s_build_config(const s_opts_t *o, conf_t *cfg, char *path_used, size_t pathlen, char *err,
               size_t errlen)
{
    conf_defaults(cfg);
    path_used[0] = 0;
    const char *path = o->config;
    /* systemd's ConfigurationDirectory= names /etc/shopd */
    const char *cdir = getenv("CONFIGURATION_DIRECTORY");
    char sd_conf[CONF_PATH_MAX];
    if (!path && cdir && *cdir == '/' && !strchr(cdir, ':')
        && snprintf(sd_conf, sizeof sd_conf, "%s/shopd.conf", cdir) < (int) sizeof sd_conf
        && access(sd_conf, F_OK) == 0)
        path = sd_conf;
    if (!path && access(S_DEFAULT_CONFIG, F_OK) == 0)
        path = S_DEFAULT_CONFIG;
    if (path) {
        if (conf_load(cfg, path, err, errlen) != 0)
            return -1;
        shop_strlcpy(path_used, path, pathlen);
    }
    if (o->endpoint)
        shop_strlcpy(cfg->endpoint, o->endpoint, sizeof cfg->endpoint);
    if (o->events_endpoint)
        shop_strlcpy(cfg->events_endpoint, o->events_endpoint, sizeof cfg->events_endpoint);
    if (o->database)
        shop_strlcpy(cfg->database, o->database, sizeof cfg->database);
    if (o->web)
        shop_strlcpy(cfg->web_listen, o->web, sizeof cfg->web_listen);
    if (o->mic)
        shop_strlcpy(cfg->mic_device, o->mic, sizeof cfg->mic_device);
    if (o->camera)
        shop_strlcpy(cfg->camera_device, o->camera, sizeof cfg->camera_device);
    if (o->log_level) {
        int lv = log_level_from_name(o->log_level);
        if (lv < 0) {
            snprintf(err, errlen, "unknown log level \"%s\"", o->log_level);
            return -1;
        }
        cfg->log_level = lv;
    }
    return conf_check(cfg, err, errlen);
}

/* Detaches from the terminal. The parent stays until the child reports
 * (through *ready_fd) that it is serving, so "shopd && shopctl status" works
 * and a start-up failure gives the parent's exit status 1. Returns in the
 * daemon only. */
static void
s_daemonise(int *ready_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        perror("shopd: pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("shopd: fork");
        exit(1);
    }
    if (pid > 0) {
        close(p[1]);
        char c = 0;
        ssize_t n;
        do
            n = read(p[0], &c, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 && c == 'R' ? 0 : 1);
    }
    close(p[0]);
    setsid();
    /* a second fork: the daemon is no session leader and never gets a tty */
    pid = fork();
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0)
        _exit(1);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        close(null);
    }
    *ready_fd = p[1];
}

static volatile sig_atomic_t s_stop_sig; /* SIGTERM or SIGINT received */
static volatile sig_atomic_t s_hup;      /* SIGHUP received */
static int s_wake_fd = -1;               /* write end of the self-pipe */

static void
s_on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGHUP)
        s_hup = 1;
    else
        s_stop_sig = sig;
    if (s_wake_fd >= 0)
        (void) !write(s_wake_fd, "", 1);
    errno = saved;
}

/* Descriptors kept for shopd itself (SQLite files, libzmq's own, the decoder
 * worker, logs): connections never take these. */
#define S_FD_RESERVE 128

/* The connection limits of cfg for netguard: max_connections is lowered to
 * fit the descriptor limit in force (with a warning). */
static netguard_opts_t
s_guard_opts(const conf_t *cfg, long limit)
{
    netguard_opts_t o = { .max_connections = cfg->max_connections,
                          .max_per_peer = cfg->max_connections_per_peer,
                          .max_pending_bytes = conf_max_pending(cfg),
                          .log_interval_ms = cfg->refusal_log_interval_s * 1000 };
    if (limit > 0 && o.max_connections > limit - S_FD_RESERVE) {
        o.max_connections = (int) SHOP_MAX(limit - S_FD_RESERVE, 1);
        log_warn("max_connections = %d does not fit the descriptor limit %ld: %d used "
                 "(raise LimitNOFILE= or ulimit -Hn)", cfg->max_connections, limit,
                 o.max_connections);
    }
    if (o.max_per_peer > o.max_connections)
        o.max_per_peer = o.max_connections;
    return o;
}

/* Locks both endpoints and the database of cfg into fds[3]. Returns 0 or -1
 * with err (nothing held then). */
static int
s_lock_all(const conf_t *cfg, int fds[3], char *err, size_t errlen)
{
    fds[0] = fds[1] = fds[2] = -1;
    if (lock_endpoint(cfg->endpoint, &fds[0], err, errlen) == 0
        && lock_endpoint(cfg->events_endpoint, &fds[1], err, errlen) == 0
        && lock_database(cfg->database, &fds[2], err, errlen) == 0)
        return 0;
    for (int i = 0; i < 3; i++)
        lock_release(&fds[i]);
    return -1;
}

static void
s_write_pidfile(const char *path)
{
    if (!path[0])
        return;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long) getpid());
    if (shop_write_file_atomic(path, buf, (size_t) n) != 0)
        log_warn("cannot write the pid file %s: %s", path, strerror(errno));
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "foreground", no_argument, NULL, 'f' },
        { "daemon", no_argument, NULL, 'D' },
        { "config", required_argument, NULL, 'c' },
        { "endpoint", required_argument, NULL, 'e' },
        { "pub-endpoint", required_argument, NULL, 'p' },
        { "db", required_argument, NULL, 'd' },
        { "log-level", required_argument, NULL, 'l' },
        { "web", required_argument, NULL, 'w' },
        { "mic", required_argument, NULL, 'm' },
        { "check-config", no_argument, NULL, 't' },
        { "camera", required_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    s_opts_t o = { 0 };
    int c;
    while ((c = getopt_long(argc, argv, "fDc:e:p:d:l:m:w:thV", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': o.foreground = true; break;
        case 'D': o.daemon = true; break;
        case 'c': o.config = optarg; break;
        case 'e': o.endpoint = optarg; break;
        case 'p': o.events_endpoint = optarg; break;
        case 'd': o.database = optarg; break;
        case 'l': o.log_level = optarg; break;
        case 'w': o.web = optarg; break;
        case 'm': o.mic = optarg; break;
        case 't': o.check_only = true; break;
        case 'C': o.camera = optarg; break;
        case 'h': s_usage(stdout); return 0;
        case 'V': printf("shopd %s (protocol 1)\n", PACKAGE_VERSION); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shopd: unexpected argument \"%s\"\n", argv[optind]);
        s_usage(stderr);
        return 2;
    }

    conf_t cfg;
    char err[1024], cfg_path[CONF_PATH_MAX];
    if (s_build_config(&o, &cfg, cfg_path, sizeof cfg_path, err, sizeof err) != 0) {
        fprintf(stderr, "shopd: %s\n", err);
        return 1;
    }
    if (o.check_only) {
        printf("shopd: configuration OK (%s)\n", cfg_path[0] ? cfg_path : "built-in defaults");
        return 0;
    }
    /* before any BLAS work, thread or fork: may re-execute with the OpenBLAS
     * kernel [nn] blas_coretype (or SHOPD_BLAS_CORETYPE) asks for */
    nn_blas_ensure_fast_path_policy(argv, cfg.nn_blas_coretype);

    /* shopd stays in the foreground unless asked to detach: systemd
     * (Type=notify) and shells both supervise it best that way, and SIGTERM's
     * exit status reaches whoever started it. --daemon detaches, except under
     * systemd, which must keep the main process. */
    bool under_systemd = getenv("NOTIFY_SOCKET") != NULL;
    int ready_fd = -1;
    if (o.daemon && !o.foreground && !under_systemd)
        s_daemonise(&ready_fd);
    bool to_syslog = cfg.log_target == CONF_LOG_SYSLOG
                     || (cfg.log_target == CONF_LOG_AUTO && ready_fd >= 0);
    log_open("shopd", to_syslog);
    log_set_level(cfg.log_level);
    umask(0077);
    /* big buffers (frames, photos) come from mmap and go back to the system
     * when freed, so the memory a client made shopd hold leaves with it
     * (the default dynamic threshold would keep them in the heap) */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);

    long nofile_before = 0, nofile = 0;
    if (netguard_raise_nofile(&nofile_before, &nofile, err, sizeof err) != 0)
        log_warn("%s", err);
    else if (nofile != nofile_before)
        log_notice("descriptors: soft limit raised from %ld to the hard limit %ld", nofile_before,
                   nofile);
    netguard_opts_t gopts = s_guard_opts(&cfg, nofile);
    int locks[3];
    if (s_lock_all(&cfg, locks, err, sizeof err) != 0) {
        log_err("%s", err);
        sd_notifyf(0, "STATUS=failed: %s", err);
        return 1;
    }
    if (netguard_enable(&gopts, err, sizeof err) != 0) {
        log_err("%s", err);
        return 1;
    }
    const char *guarded[] = { cfg.endpoint, cfg.events_endpoint };
    for (size_t i = 0; i < SHOP_ARRAY_LEN(guarded); i++)
        if (netguard_watch(guarded[i]) != 0)
            log_warn("%s: connections not counted (no fixed port or socket path)", guarded[i]);

    int wake[2];
    if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        log_err("pipe: %s", strerror(errno));
        return 1;
    }
    s_wake_fd = wake[1];
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    server_t *srv = server_new(&cfg, cfg_path, err, sizeof err);
    if (!srv) {
        log_err("%s", err);
        sd_notifyf(0, "STATUS=failed: %s", err);
        for (int i = 0; i < 3; i++)
            lock_release(&locks[i]);
        return 1;
    }
    s_write_pidfile(cfg.pid_file);
    uint64_t wd_usec = 0;
    bool watchdog = sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0;
    uint64_t wd_next = 0;
    sd_notifyf(0, "READY=1\nSTATUS=serving on %s\nMAINPID=%ld", cfg.endpoint, (long) getpid());
    if (ready_fd >= 0) {
        (void) !write(ready_fd, "R", 1);
        close(ready_fd);
    }
    log_notice("shopd %s ready (pid %ld)", PACKAGE_VERSION, (long) getpid());

    int status = 0;
    for (;;) {
        int timeout = 1000;
        if (watchdog) {
            uint64_t now = shop_now_ns();
            if (now >= wd_next) {
                sd_notify(0, "WATCHDOG=1");
                wd_next = now + wd_usec * 1000 / 2;
            }
            timeout = (int) SHOP_MIN((uint64_t) timeout, (wd_next - now) / 1000000 + 1);
        }
        bool woken;
        if (server_poll(srv, wake[0], timeout, &woken) != 0) {
            status = 1;
            break;
        }
        if (woken) {
            char drain[64];
            while (read(wake[0], drain, sizeof drain) > 0)
                ;
        }
        if (s_stop_sig) {
            log_notice("signal %s: shutting down", strsignal(s_stop_sig));
            break;
        }
        if (s_hup) {
            s_hup = 0;
            sd_notify(0, "RELOADING=1");
            conf_t next;
            char path[CONF_PATH_MAX];
            int dblock = -1;
            bool newdb = false;
            if (s_build_config(&o, &next, path, sizeof path, err, sizeof err) != 0
                || ((newdb = strcmp(next.database, cfg.database) != 0)
                    && lock_database(next.database, &dblock, err, sizeof err) != 0)
                || server_reload(srv, &next, err, sizeof err) != 0) {
                lock_release(&dblock);
                log_err("reload refused, keeping the running configuration: %s", err);
            } else {
                if (newdb) {
                    lock_release(&locks[2]);
                    locks[2] = dblock;
                    shop_strlcpy(cfg.database, next.database, sizeof cfg.database);
                }
                gopts = s_guard_opts(&next, nofile);
                netguard_set_opts(&gopts);
                log_notice("reloaded %s", path[0] ? path : "built-in defaults");
            }
            sd_notify(0, "READY=1");
        }
    }
    sd_notify(0, "STOPPING=1");
    server_destroy(&srv);
    for (int i = 0; i < 3; i++)
        lock_release(&locks[i]);
    if (cfg.pid_file[0])
        unlink(cfg.pid_file);
    close(wake[0]);
    close(wake[1]);
    log_notice("stopped");
    log_close();
    return status;
}
