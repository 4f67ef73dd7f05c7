/* daemon/pool.h: a small pool of worker threads for the slow parts of a
 * request (decoding untrusted bytes in the jailed decoder, the CNNs), so the
 * thread that owns the sockets never waits for them.
 *
 * A job is a pointer submitted with two functions: work runs on one of the
 * workers, done runs later on the owner thread, inside pool_collect, which
 * the owner calls when pool_fd becomes readable. Any thread may submit (the
 * camera thread does); the owner thread alone collects and destroys; the
 * workers never touch the owner's state (sockets, store, sessions) except
 * through their job.
 * This is how shopd keeps every ZeroMQ socket on its main thread: a worker's
 * result is sent and published by done, on the main thread.
 *
 * Each worker may own a state of its own (its decoder worker process, for
 * one), made by opts.thread_start on that thread and handed to every work
 * call it runs. A stop fd, readable once pool_stop is called, lets a work
 * function blocked on I/O give up at once: the daemon's decoder exchanges
 * poll it, so SIGTERM never waits for a slow photo. */
#ifndef SHOP_DAEMON_POOL_H
#define SHOP_DAEMON_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _pool_t pool_t;

/* Runs on a worker thread: state is that thread's state (NULL without
 * opts.thread_start), job the submitted pointer. */
typedef void (*pool_work_fn)(void *state, void *job);

/* Runs on the owner thread in pool_collect (or pool_destroy): ran is false
 * when the job was never started because the pool stopped first. done owns
 * the job from then on. */
typedef void (*pool_done_fn)(void *job, bool ran);

/* How the pool runs. Zero fields mean "the default". */
typedef struct {
    int threads;        /* workers, 1 to 64; default 2 */
    int max_queued;     /* jobs waiting for a worker before submit refuses; default 64 */
    /* Makes worker index's state on that thread (may be NULL: no state).
     * stop_fd is pool_stop's fd (see above). NULL from it is a valid state. */
    void *(*thread_start)(int index, int stop_fd, void *arg);
    void (*thread_stop)(void *state);   /* frees a state, on its thread */
    void *arg;                          /* passed to thread_start */
    const char *name;                   /* thread name prefix, default "pool" */
} pool_opts_t;

/* What the pool has done, for status (out). */
typedef struct {
    int threads;        /* workers */
    int busy;           /* workers running a job now */
    size_t queued;      /* jobs waiting for a worker */
    uint64_t submitted; /* jobs accepted */
    uint64_t completed; /* jobs whose done ran after their work */
    uint64_t refused;   /* submits refused because the queue was full */
} pool_stats_t;

/* Starts the workers. Returns the pool, or NULL with a message in err when
 * opts are out of range or a thread or the notification fd cannot be made. */
pool_t *pool_new(const pool_opts_t *opts, char *err, size_t errlen);

/* Stops the pool (pool_stop), then calls done(job, false) for every job not
 * started and done(job, true) for every finished job not yet collected,
 * frees the pool and nulls *self_p; safe on NULL and twice. */
void pool_destroy(pool_t **self_p);

/* Queues job for work on a worker, done on the owner thread afterwards; any
 * thread may call it. Returns 0, or -1 when the queue is full or the pool is
 * stopping (the job stays the caller's). */
int pool_submit(pool_t *self, pool_work_fn work, pool_done_fn done, void *job);

/* A file descriptor that is readable while finished jobs wait for
 * pool_collect: poll it in the owner's event loop. */
int pool_fd(const pool_t *self);

/* Calls done for every finished job, on the caller's (the owner's) thread,
 * in the order the jobs finished. Returns how many. */
int pool_collect(pool_t *self);

/* Makes the stop fd readable, so blocked work gives up, and joins the
 * workers: running jobs finish (their done waits for pool_collect or
 * pool_destroy), queued ones never start. Idempotent. */
void pool_stop(pool_t *self);

/* Copies the counters into *stats. */
void pool_stats(pool_t *self, pool_stats_t *stats);

#endif
