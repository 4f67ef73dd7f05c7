/* daemon/pool.c: see pool.h.
 *
 * One mutex guards two lists: the queue (jobs waiting for a worker) and the
 * finished list (jobs waiting for pool_collect). A condition variable wakes
 * the workers; an eventfd counts finished jobs for the owner's poll. */
#define _GNU_SOURCE
#include "config.h"

#include "daemon/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/util.h"

#define POOL_DEFAULT_THREADS 2
#define POOL_MAX_THREADS 64
#define POOL_DEFAULT_QUEUE 64

typedef struct s_job {
    pool_work_fn work;
    pool_done_fn done;
    void *job;              /* the owner's pointer */
    bool ran;               /* work has run */
    struct s_job *next;
} s_job_t;

typedef struct {
    pool_t *pool;
    int index;
    pthread_t tid;
    bool started;           /* pthread_create succeeded */
} s_worker_t;

struct _pool_t {
    pool_opts_t opts;       /* settings, defaults filled in */
    pthread_mutex_t lock;   /* guards everything below it */
    pthread_cond_t wake;    /* a job was queued, or stopping */
    s_job_t *queue, *queue_tail;   /* waiting for a worker */
    s_job_t *done, *done_tail;     /* finished, waiting for pool_collect */
    size_t queued;          /* length of queue */
    bool stopping;          /* pool_stop was called */
    int busy;               /* workers inside work() */
    uint64_t submitted, completed, refused;
    int event_fd;           /* counts finished jobs; readable while any wait */
    int stop_pipe[2];       /* read end readable once stopping */
    bool joined;            /* workers have been joined */
    s_worker_t *workers;    /* opts.threads of them */
};

static void
s_list_push(s_job_t **head, s_job_t **tail, s_job_t *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static s_job_t *
s_list_pop(s_job_t **head, s_job_t **tail)
{
    s_job_t *j = *head;
    if (j) {
        *head = j->next;
        if (!*head)
            *tail = NULL;
        j->next = NULL;
    }
    return j;
}

static void *
s_worker_main(void *arg)
{
    s_worker_t *w = arg;
    pool_t *p = w->pool;
    char name[16];
    snprintf(name, sizeof name, "%.10s-%d", p->opts.name, w->index);
    pthread_setname_np(pthread_self(), name);
    void *state = p->opts.thread_start
                      ? p->opts.thread_start(w->index, p->stop_pipe[0], p->opts.arg)
                      : NULL;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stopping && !p->queue)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stopping)
            break;
        s_job_t *j = s_list_pop(&p->queue, &p->queue_tail);
        p->queued--;
        p->busy++;
        pthread_mutex_unlock(&p->lock);
        j->work(state, j->job);
        j->ran = true;
        pthread_mutex_lock(&p->lock);
        p->busy--;
        s_list_push(&p->done, &p->done_tail, j);
        uint64_t one = 1;
        /* an eventfd counter only fails to add at 2^64-2 */
        (void) !write(p->event_fd, &one, sizeof one);
    }
    pthread_mutex_unlock(&p->lock);
    if (p->opts.thread_stop)
        p->opts.thread_stop(state);
    return NULL;
}

pool_t *
pool_new(const pool_opts_t *opts, char *err, size_t errlen)
{
    pool_opts_t o = opts ? *opts : (pool_opts_t) { 0 };
    if (o.threads == 0)
        o.threads = POOL_DEFAULT_THREADS;
    if (o.max_queued == 0)
        o.max_queued = POOL_DEFAULT_QUEUE;
    if (!o.name || !o.name[0])
        o.name = "pool";
    if (o.threads < 1 || o.threads > POOL_MAX_THREADS || o.max_queued < 1) {
        shop_errf(err, errlen, "worker pool: %d threads and a queue of %d (1 to %d threads, "
                  "a queue of at least 1)", o.threads, o.max_queued, POOL_MAX_THREADS);
        return NULL;
    }
    pool_t *self = xcalloc(1, sizeof *self);
    self->opts = o;
    self->stop_pipe[0] = self->stop_pipe[1] = -1;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    self->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->event_fd < 0 || pipe2(self->stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        shop_errf(err, errlen, "worker pool: %s", strerror(errno));
        goto fail;
    }
    self->workers = xcalloc((size_t) o.threads, sizeof *self->workers);
    for (int i = 0; i < o.threads; i++) {
        s_worker_t *w = &self->workers[i];
        w->pool = self;
        w->index = i;
        int rc = pthread_create(&w->tid, NULL, s_worker_main, w);
        if (rc != 0) {
            shop_errf(err, errlen, "worker pool: thread %d: %s", i, strerror(rc));
            goto fail;
        }
        w->started = true;
    }
    return self;
fail:
    pool_destroy(&self);
    return NULL;
}

void
pool_stop(pool_t *self)
{
    if (!self || self->joined)
        return;
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_cond_broadcast(&self->wake);
    pthread_mutex_unlock(&self->lock);
    if (self->stop_pipe[1] >= 0)
        (void) !write(self->stop_pipe[1], "x", 1);
    for (int i = 0; self->workers && i < self->opts.threads; i++)
        if (self->workers[i].started)
            pthread_join(self->workers[i].tid, NULL);
    self->joined = true;
}

void
pool_destroy(pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pool_t *self = *self_p;
    pool_stop(self);
    /* never started: the owner learns it through done(job, false) */
    s_job_t *j;
    while ((j = s_list_pop(&self->queue, &self->queue_tail))) {
        j->done(j->job, false);
        free(j);
    }
    self->queued = 0;
    pool_collect(self);
    if (self->event_fd >= 0)
        close(self->event_fd);
    for (int i = 0; i < 2; i++)
        if (self->stop_pipe[i] >= 0)
            close(self->stop_pipe[i]);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self->workers);
    free(self);
    *self_p = NULL;
}

int
pool_submit(pool_t *self, pool_work_fn work, pool_done_fn done, void *job)
{
    pthread_mutex_lock(&self->lock);
    if (self->stopping || self->queued >= (size_t) self->opts.max_queued) {
        self->refused++;
        pthread_mutex_unlock(&self->lock);
        return -1;
    }
    s_job_t *j = xcalloc(1, sizeof *j);
    j->work = work;
    j->done = done;
    j->job = job;
    s_list_push(&self->queue, &self->queue_tail, j);
    self->queued++;
    self->submitted++;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

int
pool_fd(const pool_t *self)
{
    return self->event_fd;
}

int
pool_collect(pool_t *self)
{
    uint64_t count;
    /* the counter is reset with the list taken, under the lock the workers
     * hold while they add to both: readable exactly while jobs wait */
    pthread_mutex_lock(&self->lock);
    (void) !read(self->event_fd, &count, sizeof count);
    s_job_t *list = self->done;
    self->done = self->done_tail = NULL;
    pthread_mutex_unlock(&self->lock);
    int n = 0;
    while (list) {
        s_job_t *j = list;
        list = j->next;
        j->done(j->job, j->ran);
        free(j);
        n++;
    }
    if (n) {
        pthread_mutex_lock(&self->lock);
        self->completed += (uint64_t) n;
        pthread_mutex_unlock(&self->lock);
    }
    return n;
}

void
pool_stats(pool_t *self, pool_stats_t *st)
{
    pthread_mutex_lock(&self->lock);
    *st = (pool_stats_t) { .threads = self->opts.threads, .busy = self->busy,
                           .queued = self->queued, .submitted = self->submitted,
                           .completed = self->completed, .refused = self->refused };
    pthread_mutex_unlock(&self->lock);
}
