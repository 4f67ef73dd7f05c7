/* tests/daemon_pool_test.c: the worker pool (daemon/pool.h).
 *
 * - every job's work runs once on a worker thread with that thread's own
 *   state, its done once on the owner thread, with the right result;
 * - pool_fd is readable exactly while finished jobs wait for pool_collect;
 * - the owner is free while work runs: a job held on a gate has not
 *   finished, other jobs on the other worker finish meanwhile;
 * - a full queue refuses a submit and counts it; stats count the rest;
 * - pool_stop makes the stop fd readable so a job blocked on it returns at
 *   once, jobs never started get done(job, false) from pool_destroy, and
 *   every thread state is freed on its own thread. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/pool.h"

/* --- thread states ------------------------------------------------------- */

typedef struct {
    int index;
    int stop_fd;
    pthread_t tid;
} s_state_t;

static atomic_int s_states_made, s_states_freed, s_states_freed_on_own_thread;

static void *
s_start(int index, int stop_fd, void *arg)
{
    assert_ptr_equal(arg, &s_states_made);
    s_state_t *st = calloc(1, sizeof *st);
    st->index = index;
    st->stop_fd = stop_fd;
    st->tid = pthread_self();
    atomic_fetch_add(&s_states_made, 1);
    return st;
}

static void
s_stop(void *state)
{
    s_state_t *st = state;
    atomic_fetch_add(&s_states_freed, 1);
    if (pthread_equal(st->tid, pthread_self()))
        atomic_fetch_add(&s_states_freed_on_own_thread, 1);
    free(st);
}

/* --- jobs ------------------------------------------------------------------ */

typedef struct {
    uint64_t n;           /* in: sum the squares of 1..n */
    uint64_t sum;         /* out, from work */
    pthread_t worker;     /* thread work ran on */
    int state_index;      /* its state's index */
    int done_calls;       /* times done ran */
    bool ran;             /* done's argument */
    pthread_t done_on;    /* thread done ran on */
    int gate_fd;          /* >= 0: work waits until this is readable */
    bool use_stop_fd;     /* work waits on the thread state's stop fd */
    bool stopped;         /* the stop fd woke it */
} s_job_t;

static void
s_work(void *state, void *arg)
{
    s_state_t *st = state;
    s_job_t *j = arg;
    j->worker = pthread_self();
    j->state_index = st ? st->index : -1;
    if (j->gate_fd >= 0) {
        struct pollfd pfd = { .fd = j->gate_fd, .events = POLLIN };
        poll(&pfd, 1, 60000);
    }
    if (j->use_stop_fd) {
        struct pollfd pfd = { .fd = st->stop_fd, .events = POLLIN };
        j->stopped = poll(&pfd, 1, 60000) == 1;
    }
    uint64_t s = 0;
    for (uint64_t i = 1; i <= j->n; i++)
        s += i * i;
    j->sum = s;
}

static void
s_done(void *arg, bool ran)
{
    s_job_t *j = arg;
    j->done_calls++;
    j->ran = ran;
    j->done_on = pthread_self();
}

static s_job_t *
s_job(uint64_t n)
{
    s_job_t *j = calloc(1, sizeof *j);
    j->n = n;
    j->gate_fd = -1;
    j->state_index = -2;
    return j;
}

/* Whether fd becomes readable within ms. */
static bool
s_readable(int fd, int ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    return poll(&pfd, 1, ms) == 1;
}

/* Collects until `want` jobs have been collected in all (waits on pool_fd). */
static int
s_collect_until(pool_t *p, int have, int want)
{
    while (have < want) {
        if (!s_readable(pool_fd(p), 60000))
            fail_msg("only %d of %d jobs finished within 60 s", have, want);
        have += pool_collect(p);
    }
    return have;
}

/* Waits up to 60 s until one worker is running a job. */
static void
s_wait_one_busy(pool_t *p)
{
    pool_stats_t st;
    for (int i = 0; i < 60000; i++) {
        pool_stats(p, &st);
        if (st.busy == 1)
            return;
        usleep(1000);
    }
    fail_msg("no worker took the job within 60 s");
}

static void
test_jobs_run_on_workers_and_finish_on_owner(void **state)
{
    (void) state;
    atomic_store(&s_states_made, 0);
    atomic_store(&s_states_freed, 0);
    atomic_store(&s_states_freed_on_own_thread, 0);
    char err[256];
    pool_opts_t o = { .threads = 3, .thread_start = s_start, .thread_stop = s_stop,
                      .arg = &s_states_made, .name = "test" };
    pool_t *p = pool_new(&o, err, sizeof err);
    assert_non_null(p);
    assert_false(s_readable(pool_fd(p), 0));
    enum { N = 40 };
    s_job_t *jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = s_job((uint64_t) i * 1000);
        assert_int_equal(pool_submit(p, s_work, s_done, jobs[i]), 0);
    }
    s_collect_until(p, 0, N);
    /* nothing left: the fd is quiet again */
    assert_false(s_readable(pool_fd(p), 0));
    assert_int_equal(pool_collect(p), 0);
    for (int i = 0; i < N; i++) {
        uint64_t n = (uint64_t) i * 1000;
        /* the closed form n(n+1)(2n+1)/6 */
        assert_int_equal(jobs[i]->sum, n * (n + 1) * (2 * n + 1) / 6);
        assert_int_equal(jobs[i]->done_calls, 1);
        assert_true(jobs[i]->ran);
        assert_false(pthread_equal(jobs[i]->worker, pthread_self()));
        assert_true(pthread_equal(jobs[i]->done_on, pthread_self()));
        assert_in_range(jobs[i]->state_index, 0, 2);
    }
    pool_stats_t st;
    pool_stats(p, &st);
    assert_int_equal(st.threads, 3);
    assert_int_equal(st.submitted, N);
    assert_int_equal(st.completed, N);
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.busy, 0);
    assert_int_equal(st.queued, 0);
    pool_destroy(&p);
    assert_null(p);
    pool_destroy(&p);
    assert_int_equal(atomic_load(&s_states_made), 3);
    assert_int_equal(atomic_load(&s_states_freed), 3);
    assert_int_equal(atomic_load(&s_states_freed_on_own_thread), 3);
    for (int i = 0; i < N; i++)
        free(jobs[i]);
}

static void
test_owner_is_free_while_a_job_is_held(void **state)
{
    (void) state;
    char err[256];
    pool_opts_t o = { .threads = 2 };
    pool_t *p = pool_new(&o, err, sizeof err);
    assert_non_null(p);
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    s_job_t *slow = s_job(10);
    slow->gate_fd = gate[0];
    assert_int_equal(pool_submit(p, s_work, s_done, slow), 0);
    /* the other worker serves quick jobs while the slow one is held */
    enum { QUICK = 10 };
    s_job_t *quick[QUICK];
    for (int i = 0; i < QUICK; i++) {
        quick[i] = s_job(100);
        assert_int_equal(pool_submit(p, s_work, s_done, quick[i]), 0);
    }
    s_collect_until(p, 0, QUICK);
    for (int i = 0; i < QUICK; i++)
        assert_int_equal(quick[i]->done_calls, 1);
    assert_int_equal(slow->done_calls, 0);
    pool_stats_t st;
    pool_stats(p, &st);
    assert_int_equal(st.busy, 1);
    /* no state without thread_start */
    assert_int_equal(quick[0]->state_index, -1);
    assert_int_equal(write(gate[1], "g", 1), 1);
    s_collect_until(p, 0, 1);
    assert_int_equal(slow->done_calls, 1);
    assert_int_equal(slow->sum, 385);
    pool_destroy(&p);
    close(gate[0]);
    close(gate[1]);
    free(slow);
    for (int i = 0; i < QUICK; i++)
        free(quick[i]);
}

static void
test_full_queue_refuses(void **state)
{
    (void) state;
    char err[256];
    pool_opts_t o = { .threads = 1, .max_queued = 2 };
    pool_t *p = pool_new(&o, err, sizeof err);
    assert_non_null(p);
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    s_job_t *held = s_job(1);
    held->gate_fd = gate[0];
    assert_int_equal(pool_submit(p, s_work, s_done, held), 0);
    /* the worker took it: the queue is empty */
    s_wait_one_busy(p);
    pool_stats_t st;
    s_job_t *a = s_job(2), *b = s_job(3), *c = s_job(4);
    assert_int_equal(pool_submit(p, s_work, s_done, a), 0);
    assert_int_equal(pool_submit(p, s_work, s_done, b), 0);
    assert_int_equal(pool_submit(p, s_work, s_done, c), -1);
    pool_stats(p, &st);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.submitted, 3);
    assert_int_equal(write(gate[1], "g", 1), 1);
    s_collect_until(p, 0, 3);
    assert_int_equal(a->sum, 5);
    assert_int_equal(b->sum, 14);
    assert_int_equal(c->done_calls, 0);
    pool_destroy(&p);
    close(gate[0]);
    close(gate[1]);
    free(held);
    free(a);
    free(b);
    free(c);
}

static void
test_stop_wakes_blocked_work_and_cancels_the_queue(void **state)
{
    (void) state;
    char err[256];
    atomic_store(&s_states_made, 0);
    atomic_store(&s_states_freed, 0);
    pool_opts_t o = { .threads = 1, .thread_start = s_start, .thread_stop = s_stop,
                      .arg = &s_states_made };
    pool_t *p = pool_new(&o, err, sizeof err);
    assert_non_null(p);
    s_job_t *blocked = s_job(3);
    blocked->use_stop_fd = true;
    assert_int_equal(pool_submit(p, s_work, s_done, blocked), 0);
    s_wait_one_busy(p);
    s_job_t *never = s_job(5);
    assert_int_equal(pool_submit(p, s_work, s_done, never), 0);
    /* the blocked job waits up to 60 s on its own; stop must end it now */
    uint64_t t0 = shop_now_ns();
    pool_stop(p);
    double stop_s = (double) (shop_now_ns() - t0) / 1e9;
    assert_true(stop_s < 30.0);
    assert_true(blocked->stopped);
    /* stopped: no more submits */
    s_job_t *late = s_job(1);
    assert_int_equal(pool_submit(p, s_work, s_done, late), -1);
    pool_destroy(&p);
    assert_int_equal(blocked->done_calls, 1);
    assert_true(blocked->ran);
    assert_int_equal(blocked->sum, 14);
    assert_int_equal(never->done_calls, 1);
    assert_false(never->ran);
    assert_int_equal(never->sum, 0);
    assert_int_equal(late->done_calls, 0);
    assert_int_equal(atomic_load(&s_states_freed), 1);
    free(blocked);
    free(never);
    free(late);
}

static void
test_bad_options_are_refused(void **state)
{
    (void) state;
    char err[256] = "";
    pool_opts_t o = { .threads = 65 };
    assert_null(pool_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "1 to 64 threads"));
    o = (pool_opts_t) { .threads = -1 };
    assert_null(pool_new(&o, err, sizeof err));
    pool_t *p = pool_new(NULL, err, sizeof err);
    assert_non_null(p);
    pool_stats_t st;
    pool_stats(p, &st);
    assert_int_equal(st.threads, 2);
    pool_destroy(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_run_on_workers_and_finish_on_owner),
        cmocka_unit_test(test_owner_is_free_while_a_job_is_held),
        cmocka_unit_test(test_full_queue_refuses),
        cmocka_unit_test(test_stop_wakes_blocked_work_and_cancels_the_queue),
        cmocka_unit_test(test_bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
