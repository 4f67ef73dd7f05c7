/* tests/shopd_harness.h: one real shopd process under test, for the
 * integration tests (daemon_test, rel_durability_test, rel_load_test,
 * rel_faults_test): its temporary directory and files, start, wait until it
 * answers, stop, and clean-up. Failures are cmocka failures (fail_msg), so
 * the functions are for use inside a running cmocka test; include cmocka.h
 * before this header. */
#ifndef SHOP_TESTS_SHOPD_HARNESS_H
#define SHOP_TESTS_SHOPD_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "ipc/client.h"

/* One shopd under test and its files, all inside dir. */
typedef struct {
    pid_t pid;                  /* 0 when not running */
    char dir[64];               /* temporary directory, "" once removed */
    char sock[100];             /* path of the request socket */
    char ep[160], pub_ep[160];  /* ipc:// request and event endpoints */
    char db[160], conf[160], log[160];
} harness_t;

/* How harness_spawn starts shopd. A zeroed struct (or NULL) means: endpoints
 * and database on the command line, no limits, the test's environment. */
typedef struct {
    bool conf_endpoints;        /* take the endpoints from the config file */
    off_t fsize;                /* > 0: RLIMIT_FSIZE of shopd, SIGXFSZ ignored */
    const char *const *env;     /* NAME=VALUE strings put in its environment,
                                   NULL-terminated */
    void (*before_exec)(void);  /* run in the child just before exec (after the
                                   log is opened): namespaces, mounts */
} harness_spawn_t;

/* Finds the shopd binary of the build ($SHOP_TOP_BUILDDIR/shopd). Returns 0,
 * or -1 when it is not built (the caller then skips with exit 77). */
int harness_init(void);

/* The binary harness_init found. */
const char *harness_shopd_bin(void);

/* Makes a new temporary directory /tmp/shopd-<tag>-XXXXXX, fills d's paths
 * and writes conf_text (NULL: "[store]\nimport_demo = no\n") to d->conf. */
void harness_prepare(harness_t *d, const char *tag, const char *conf_text);

/* Puts the n products ids (category "test", price 1, in stock) into the
 * catalogue of d's database, creating it: shopd records events only for
 * products it has. Call before starting shopd. */
void harness_catalogue(harness_t *d, const char *const *ids, int n);

/* Writes text to path (the test's own files: configs, models); fails the
 * test when it cannot. */
void harness_write(const char *path, const char *text);

/* Starts shopd in the foreground on d's files, its output appended to d->log. */
void harness_spawn(harness_t *d, const harness_spawn_t *opts);

/* Waits until shopd answers status (with curve keys when not NULL), up to
 * seconds; fails the test when it exits first or does not answer. */
void harness_wait_ready(harness_t *d, const client_curve_t *curve, int seconds);

/* harness_spawn(d, NULL), then harness_wait_ready(d, NULL, 120): with the demo
 * store, start-up imports it and runs the vision CNN over every catalogue
 * photo, which took over 60 s on the shared 2-core machine under load. */
void harness_start(harness_t *d);

/* Sends sig and waits up to 10 s for the exit. Returns the exit status, or
 * 128 + the signal that ended it; fails the test when it does not stop. */
int harness_stop(harness_t *d, int sig);

/* SIGKILL and reap, when running. */
void harness_kill(harness_t *d);

/* Kills shopd when running and removes its directory with everything in it. */
void harness_cleanup(harness_t *d);

/* Whether shopd's log holds needle, waiting up to wait_ms for it to appear. */
bool harness_log_has(const harness_t *d, const char *needle, int wait_ms);

/* How many times needle appears in shopd's log (0 when unreadable). */
int harness_log_count(const harness_t *d, const char *needle);

/* Starts the program bin with args (NULL-terminated, without the program
 * name), its output to log (emptied first when truncate), dying with the
 * test. Returns its pid; fails the test when it cannot fork. */
pid_t harness_spawn_program(const char *bin, const char *const *args, const char *log,
                            bool truncate);

/* A loopback TCP port free at the time of the call (bound to port 0, then
 * released), for tcp:// endpoints. */
int harness_free_port(void);

/* A new client of d's request endpoint (the test destroys it). */
client_t *harness_client(const harness_t *d);

#endif
