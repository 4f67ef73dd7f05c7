/* tests/rel_sandbox_test.c: the jailed decoder worker (daemon/sandbox).
 *
 * Real photos and audio decode byte for byte as in-process; the worker cannot
 * open a file, exec or map executable memory (seccomp kills it with SIGSYS);
 * a worker that crashes, hangs or sends a reply of the wrong size costs only
 * that request ("input rejected") and the next request is served by a new
 * worker. The misbehaviour is planted with the worker's test hooks
 * (SHOPD_SANDBOX_TEST_HOOKS=1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio/source.h"
#include "common/util.h"
#include "daemon/sandbox.h"
#include "vision/decode.h"

static const char *s_top(void)
{
    const char *top = getenv("SHOP_TOP_SRCDIR");
    return top ? top : ".";
}

/* Reads a file of the source tree; the caller frees it. */
static uint8_t *s_read(const char *rel, size_t *len)
{
    char path[1024];
    char err[256];
    snprintf(path, sizeof path, "%s/%s", s_top(), rel);
    uint8_t *buf = shop_read_file(path, 64 << 20, len, err, sizeof err);
    if (!buf)
        fail_msg("%s", err);
    return buf;
}

static sandbox_t *s_sandbox(int timeout_ms)
{
    char err[256] = "";
    sandbox_opts_t opts = {.timeout_ms = timeout_ms};
    sandbox_t *sb = sandbox_new(&opts, err, sizeof err);
    if (!sb)
        fail_msg("sandbox_new: %s", err);
    return sb;
}

/* Decodes rel in-process and in the worker and requires the same pixels. */
static void s_same_image(sandbox_t *sb, const char *rel, int channels)
{
    size_t len;
    uint8_t *bytes = s_read(rel, &len);
    vision_image_t a, b;
    char err[256];
    assert_int_equal(vision_decode_mem(bytes, len, NULL, channels, &a, err, sizeof err), 0);
    if (sandbox_decode_image(sb, bytes, len, NULL, channels, &b, err, sizeof err) != 0)
        fail_msg("%s: %s", rel, err);
    assert_int_equal(a.w, b.w);
    assert_int_equal(a.h, b.h);
    assert_int_equal(b.channels, channels);
    assert_memory_equal(a.px, b.px, (size_t) a.w * a.h * channels);
    vision_image_release(&a);
    vision_image_release(&b);
    free(bytes);
}

static void s_same_audio_mem(sandbox_t *sb, const char *rel, uint8_t *bytes, size_t len,
                             size_t least);

static void s_same_audio(sandbox_t *sb, const char *rel)
{
    size_t len;
    uint8_t *bytes = s_read(rel, &len);
    /* the seed tones are short: 0.02 s and up */
    s_same_audio_mem(sb, rel, bytes, len, 320);
}

/* Decodes bytes (freed here) both ways; requires at least least samples. */
static void s_same_audio_mem(sandbox_t *sb, const char *rel, uint8_t *bytes, size_t len,
                             size_t least)
{
    float *a, *b;
    size_t na, nb;
    char err[256];
    if (audio_source_decode_mem(bytes, len, NULL, &a, &na, err, sizeof err) != 0)
        fail_msg("%s in-process: %s", rel, err);
    if (sandbox_decode_audio(sb, bytes, len, NULL, &b, &nb, err, sizeof err) != 0)
        fail_msg("%s: %s", rel, err);
    if (na < least)
        fail_msg("%s: %zu samples", rel, na);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    free(a);
    free(b);
    free(bytes);
}

static void test_photos_decode_as_in_process(void **state)
{
    (void) state;
    sandbox_t *sb = s_sandbox(0);
    s_same_image(sb, "tests/data/vision/boot_light.jpg", 3);
    s_same_image(sb, "tests/data/vision/boot_light.jpg", 1);
    s_same_image(sb, "tests/data/vision/boot_dark.png", 3);
    s_same_image(sb, "tests/data/vision/boot_light.bmp", 1);
    s_same_image(sb, "data/demo/photos/bag-01.png", 3);
    sandbox_stats_t st;
    sandbox_stats(sb, &st);
    assert_int_equal(st.requests, 5);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.restarts, 0);
    sandbox_destroy(&sb);
    assert_null(sb);
    sandbox_destroy(&sb);
}

/* A 3 s, 44.1 kHz stereo 16-bit WAV of two tones: resampled to 48000 samples. */
static uint8_t *s_wav(size_t *len)
{
    const uint32_t rate = 44100, frames = 3 * 44100, data = frames * 4;
    uint8_t *w = malloc(44 + data);
    assert_non_null(w);
    uint32_t u32;
    uint16_t u16;
#define PUT(off, v) (u32 = (v), memcpy(w + (off), &u32, 4))
#define PUT16(off, v) (u16 = (v), memcpy(w + (off), &u16, 2))
    memcpy(w, "RIFF", 4);
    PUT(4, 36 + data);
    memcpy(w + 8, "WAVEfmt ", 8);
    PUT(16, 16);
    PUT16(20, 1);
    PUT16(22, 2);
    PUT(24, rate);
    PUT(28, rate * 4);
    PUT16(32, 4);
    PUT16(34, 16);
    memcpy(w + 36, "data", 4);
    PUT(40, data);
    for (uint32_t i = 0; i < frames; i++) {
        int16_t l = (int16_t) (8000 * sin(2 * M_PI * 440.0 * i / rate));
        int16_t r = (int16_t) (6000 * sin(2 * M_PI * 1000.0 * i / rate));
        memcpy(w + 44 + 4 * i, &l, 2);
        memcpy(w + 46 + 4 * i, &r, 2);
    }
#undef PUT
#undef PUT16
    *len = 44 + data;
    return w;
}

static void test_audio_decodes_as_in_process(void **state)
{
    (void) state;
    sandbox_t *sb = s_sandbox(0);
    size_t len;
    uint8_t *wav = s_wav(&len);
    s_same_audio_mem(sb, "3 s 44.1 kHz stereo WAV", wav, len, 47900);
    s_same_audio(sb, "fuzz/corpus/audio_source/tone16k.wav");
    s_same_audio(sb, "fuzz/corpus/audio_source/tone8k_stereo.wav");
    s_same_audio(sb, "fuzz/corpus/audio_source/tone.flac");
    s_same_audio(sb, "fuzz/corpus/audio_source/tone.ogg");
    s_same_audio(sb, "fuzz/corpus/audio_source/tone_float.wav");
    sandbox_destroy(&sb);
}

/* A broken input is the decoder's ordinary refusal, with its own message,
 * and costs no worker. */
static void test_decoder_refusals_pass_through(void **state)
{
    (void) state;
    sandbox_t *sb = s_sandbox(0);
    const char *bad[] = {"tests/data/vision/truncated.jpg", "tests/data/vision/not_an_image.txt",
                         "tests/data/vision/forged_100000x100000.png",
                         "tests/data/vision/pixel.gif",
                         /* found by vision_decode_fuzz: a Huffman table of 4080 codes
                          * overran stb_image 2.27's 256-entry arrays */
                         "fuzz/corpus/vision_decode/regress_dht_4080_codes.jpg",
                         /* found by vision_decode_fuzz: a scan naming an AC table
                          * no DHT defined made stb_image 2.27 index with garbage */
                         "fuzz/corpus/vision_decode/regress_undefined_huffman.jpg"};
    sandbox_stats_t st0;
    sandbox_stats(sb, &st0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t len;
        uint8_t *bytes = s_read(bad[i], &len);
        vision_image_t a, b;
        char ea[256] = "", eb[256] = "";
        assert_int_equal(vision_decode_mem(bytes, len, NULL, 3, &a, ea, sizeof ea), -1);
        assert_int_equal(sandbox_decode_image(sb, bytes, len, NULL, 3, &b, eb, sizeof eb), -1);
        assert_string_equal(ea, eb);
        assert_null(b.px);
        if (strstr(bad[i], "regress_dht"))
            assert_non_null(strstr(ea, "Huffman table of"));
        if (strstr(bad[i], "regress_undefined"))
            assert_non_null(strstr(ea, "never defined"));
        free(bytes);
    }
    size_t len;
    uint8_t *txt = s_read("fuzz/corpus/audio_source/text.txt", &len);
    float *pcm = (float *) 1;
    size_t n = 7;
    char ea[256] = "", eb[256] = "";
    float *pa;
    size_t na;
    assert_int_equal(audio_source_decode_mem(txt, len, NULL, &pa, &na, ea, sizeof ea), -1);
    assert_int_equal(sandbox_decode_audio(sb, txt, len, NULL, &pcm, &n, eb, sizeof eb), -1);
    assert_string_equal(ea, eb);
    assert_null(pcm);
    assert_int_equal(n, 0);
    free(txt);
    /* over the byte limit: refused before it crosses the socket */
    vision_limits_t lim = {.max_bytes = 16};
    vision_image_t img;
    uint8_t big[64] = {0};
    assert_int_equal(sandbox_decode_image(sb, big, sizeof big, &lim, 3, &img, eb, sizeof eb), -1);
    assert_non_null(strstr(eb, "limit"));
    sandbox_stats_t st;
    sandbox_stats(sb, &st);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.restarts, 0);
    assert_int_equal(st.pid, st0.pid);
    sandbox_destroy(&sb);
}

/* Sends a hook input; requires "input rejected" with want in the message,
 * then a good photo served by a new worker. */
static void s_planted(sandbox_t *sb, const char *hook, const char *want)
{
    char in[64];
    int len = snprintf(in, sizeof in, "SHOPD-SANDBOX-TEST:%s", hook);
    sandbox_stats_t before, after;
    sandbox_stats(sb, &before);
    vision_image_t img;
    char err[256] = "";
    assert_int_equal(sandbox_decode_image(sb, (const uint8_t *) in, (size_t) len, NULL, 3, &img,
                                          err, sizeof err), -1);
    if (!strstr(err, "input rejected") || !strstr(err, want))
        fail_msg("%s: got '%s', want '%s'", hook, err, want);
    assert_null(img.px);
    s_same_image(sb, "tests/data/vision/boot_light.jpg", 3);
    sandbox_stats(sb, &after);
    assert_int_equal(after.rejected, before.rejected + 1);
    assert_int_equal(after.restarts, before.restarts + 1);
    assert_true(after.pid > 0);
    assert_int_not_equal(after.pid, before.pid);
}

/* open is refused with EACCES (libsndfile probes a resource fork with
 * openat on any input it does not recognise, so a kill there would cost a
 * worker per non-audio input); exec and executable memory kill the worker. */
static void test_worker_cannot_open_exec_or_map_code(void **state)
{
    (void) state;
    sandbox_t *sb = s_sandbox(0);
    const char in[] = "SHOPD-SANDBOX-TEST:open";
    vision_image_t img;
    char err[256] = "";
    sandbox_stats_t before, after;
    sandbox_stats(sb, &before);
    assert_int_equal(sandbox_decode_image(sb, (const uint8_t *) in, sizeof in - 1, NULL, 3, &img,
                                          err, sizeof err), -1);
    assert_string_equal(err, "open(/etc/passwd) refused: Permission denied");
    s_same_image(sb, "tests/data/vision/boot_light.jpg", 3);
    sandbox_stats(sb, &after);
    assert_int_equal(after.pid, before.pid);
    char sys[64];
    snprintf(sys, sizeof sys, "signal %d", SIGSYS);
    s_planted(sb, "exec", sys);
    s_planted(sb, "mmapx", sys);
    sandbox_destroy(&sb);
}

static void test_crash_rejects_one_request_and_restarts(void **state)
{
    (void) state;
    sandbox_t *sb = s_sandbox(0);
    char segv[64];
    snprintf(segv, sizeof segv, "signal %d", SIGSEGV);
    s_planted(sb, "segv", segv);
    s_planted(sb, "segv", segv);
    s_same_audio(sb, "fuzz/corpus/audio_source/tone16k.wav");
    sandbox_destroy(&sb);
}

static void test_hang_times_out(void **state)
{
    (void) state;
    /* 1.5 s: the same timeout serves the photo decoded by the new worker
     * right after, which a sanitizer build on a loaded machine needs */
    sandbox_t *sb = s_sandbox(1500);
    uint64_t t0 = shop_now_ns();
    s_planted(sb, "hang", "timed out");
    double s = (double) (shop_now_ns() - t0) / 1e9;
    assert_true(s >= 1.49);
    assert_true(s < 10.0);
    sandbox_destroy(&sb);
}

static void *s_cancel_later(void *arg)
{
    int fd = *(int *) arg;
    usleep(200000);
    (void) !write(fd, "x", 1);
    return NULL;
}

/* A request blocked on a hanging worker gives up as soon as its cancel fd
 * is readable (shopd's worker pool stopping on SIGTERM), long before its
 * 60 s timeout, and says why. */
static void test_cancel_fd_ends_a_request_at_once(void **state)
{
    (void) state;
    int cancel[2];
    assert_int_equal(pipe(cancel), 0);
    char err[256] = "";
    sandbox_opts_t opts = {.timeout_ms = 60000, .cancel_fd = cancel[0]};
    sandbox_t *sb = sandbox_new(&opts, err, sizeof err);
    assert_non_null(sb);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, s_cancel_later, &cancel[1]), 0);
    const char in[] = "SHOPD-SANDBOX-TEST:hang";
    vision_image_t img;
    uint64_t t0 = shop_now_ns();
    assert_int_equal(sandbox_decode_image(sb, (const uint8_t *) in, sizeof in - 1, NULL, 3, &img,
                                          err, sizeof err), -1);
    double s = (double) (shop_now_ns() - t0) / 1e9;
    pthread_join(t, NULL);
    printf("# cancelled after %.3f s: %s\n", s, err);
    assert_non_null(strstr(err, "shutting down"));
    assert_true(s >= 0.19);
    assert_true(s < 30.0);
    sandbox_stats_t st;
    sandbox_stats(sb, &st);
    assert_int_equal(st.pid, 0);
    sandbox_destroy(&sb);
    close(cancel[0]);
    close(cancel[1]);
}

/* The parent takes exactly w*h*channels bytes: one more or one less is a lie. */
static void test_reply_size_checked_exactly(void **state)
{
    (void) state;
    sandbox_t *sb = s_sandbox(2000);
    s_planted(sb, "long", "more than it announced");
    s_planted(sb, "short", "closed its socket");
    sandbox_destroy(&sb);
}

/* Reads "Key:\tvalue" from /proc/pid/status into val; returns 0 or -1. */
static int s_status(pid_t pid, const char *key, char *val, size_t vlen)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int rc = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            const char *v = line + kl + 1;
            v += strspn(v, " \t");
            snprintf(val, vlen, "%.*s", (int) strcspn(v, "\n"), v);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Waits up to ms for pid to be dead (a zombie not yet reaped, or gone). */
static bool s_dead(pid_t pid, int ms)
{
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    for (int i = 0; i < ms; i++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return true;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = 0;
        const char *rp = strrchr(stat, ')');   /* "pid (comm) S ..." */
        if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
            return true;
        usleep(1000);
    }
    return false;
}

static void test_worker_is_jailed(void **state)
{
    (void) state;
    /* a descriptor the worker must not inherit */
    int fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    sandbox_t *sb = s_sandbox(0);
    s_same_image(sb, "tests/data/vision/boot_dark.png", 1);
    sandbox_stats_t st;
    sandbox_stats(sb, &st);
    char v[128];
    assert_int_equal(s_status(st.pid, "Seccomp", v, sizeof v), 0);
    assert_string_equal(v, "2");
    assert_int_equal(s_status(st.pid, "NoNewPrivs", v, sizeof v), 0);
    assert_string_equal(v, "1");
    /* 5 nice levels below its parent: a decode yields to shopd's loop */
    errno = 0;
    int parent_nice = getpriority(PRIO_PROCESS, 0);
    assert_int_equal(errno, 0);
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t) st.pid), SHOP_MIN(parent_nice + 5, 19));
    /* the jail's user switch needs root: without it the worker would run as
     * the caller, which this test refuses to call jailed */
    if (geteuid() != 0)
        fail_msg("run as root: the worker's switch to the user nobody, its empty groups "
                 "and its descriptors are what is checked here");
    {
        struct passwd *pw = getpwnam("nobody");
        assert_non_null(pw);
        char want[64];
        snprintf(want, sizeof want, "%u", (unsigned) pw->pw_uid);
        assert_int_equal(s_status(st.pid, "Uid", v, sizeof v), 0);
        assert_int_equal(strncmp(v, want, strlen(want)), 0);
        assert_int_equal(s_status(st.pid, "Groups", v, sizeof v), 0);
        assert_string_equal(v, "");
        /* root may look at its descriptors: 0, 1, 2 and the socket only */
        char dpath[64];
        snprintf(dpath, sizeof dpath, "/proc/%d/fd", (int) st.pid);
        DIR *d = opendir(dpath);
        assert_non_null(d);
        int count = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            assert_true(atoi(e->d_name) <= 3);
            count++;
        }
        closedir(d);
        assert_int_equal(count, 4);
    }
    close(fd);
    /* a worker killed from outside between requests costs no request */
    kill(st.pid, SIGKILL);
    assert_true(s_dead(st.pid, 10000));
    s_same_image(sb, "tests/data/vision/boot_dark.png", 3);
    sandbox_stats_t st2;
    sandbox_stats(sb, &st2);
    assert_int_equal(st2.rejected, 0);
    assert_int_not_equal(st2.pid, st.pid);
    st = st2;
    sandbox_destroy(&sb);
    /* destroy reaps the worker */
    assert_int_equal(kill(st.pid, 0), -1);
}

/* Under shopd.service, SystemCallFilter=@system-service makes seccomp(2)
 * fail with EPERM; the worker must still install its filter (through
 * prctl). Run in a child: the outer filter cannot be removed. Returns the
 * child's exit code: 0 ok, 2 photo not decoded, 3 not killed by SIGSYS. */
static int s_under_unit_filter(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);
    if (!c || seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(seccomp), 0) != 0 ||
        seccomp_load(c) != 0)
        return 1;
    seccomp_release(c);
    char err[256];
    sandbox_t *sb = sandbox_new(NULL, err, sizeof err);
    if (!sb)
        return 1;
    size_t len;
    uint8_t *bytes = s_read("tests/data/vision/boot_light.jpg", &len);
    vision_image_t img;
    int rc = 0;
    if (sandbox_decode_image(sb, bytes, len, NULL, 3, &img, err, sizeof err) != 0)
        rc = 2;
    vision_image_release(&img);
    const char in[] = "SHOPD-SANDBOX-TEST:mmapx";
    char want[64];
    snprintf(want, sizeof want, "signal %d", SIGSYS);
    if (rc == 0 && (sandbox_decode_image(sb, (const uint8_t *) in, sizeof in - 1, NULL, 3, &img,
                                         err, sizeof err) == 0 || !strstr(err, want)))
        rc = 3;
    free(bytes);
    sandbox_destroy(&sb);
    return rc;
}

static void test_filter_installed_under_systemd_filter(void **state)
{
    (void) state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(s_under_unit_filter());
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    /* arm the planted misbehaviours in every worker forked from here */
    setenv("SHOPD_SANDBOX_TEST_HOOKS", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_photos_decode_as_in_process),
        cmocka_unit_test(test_audio_decodes_as_in_process),
        cmocka_unit_test(test_decoder_refusals_pass_through),
        cmocka_unit_test(test_worker_cannot_open_exec_or_map_code),
        cmocka_unit_test(test_crash_rejects_one_request_and_restarts),
        cmocka_unit_test(test_hang_times_out),
        cmocka_unit_test(test_cancel_fd_ends_a_request_at_once),
        cmocka_unit_test(test_reply_size_checked_exactly),
        cmocka_unit_test(test_worker_is_jailed),
        cmocka_unit_test(test_filter_installed_under_systemd_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
