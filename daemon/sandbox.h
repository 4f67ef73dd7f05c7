/* daemon/sandbox.h: untrusted photos and audio decoded in a jailed worker.
 *
 * Privilege separation in the OpenSSH / OpenBSD ntpd way: the bytes a client
 * sends are decoded (stb_image through vision_decode_mem, libsndfile and
 * libsamplerate through audio_source_decode_mem) in a forked worker process
 * that
 *   - closes every inherited descriptor but its socketpair and stderr,
 *   - drops to an unprivileged user when started as root (setgroups, setgid,
 *     setuid to "nobody" or opts.user) and sets PR_SET_NO_NEW_PRIVS,
 *   - runs 5 nice levels below shopd, so a long decode yields the CPU to
 *     shopd's main loop,
 *   - runs under a libseccomp allow-list: read on its socket, write on its
 *     socket and stderr, memory (brk, mmap/mprotect WITHOUT PROT_EXEC, munmap,
 *     mremap, madvise), futex, getrandom, clock reads and exit. Anything else
 *     (open, openat, execve, socket, an executable mapping...) kills it.
 * The parent checks every reply exactly: a request id, an image's w, h and
 * channels within the limits and a pixel byte count equal to w*h*channels, an
 * audio sample count within the duration limit and equal to the byte count,
 * samples finite and in [-1, 1]. A worker that crashes, is killed by the
 * filter, times out or sends anything else means "input rejected" for that
 * one request; the worker is killed and a new one is forked for the next.
 *
 * Same contracts as the direct decoders, so a call site switches by adding
 * the sb argument. A sandbox_t serves one request at a time and is not
 * thread-safe: use one per thread (shopd's worker pool gives each worker
 * its own). Requests block the caller for at most opts.timeout_ms plus the
 * time to send the input, or until opts.cancel_fd becomes readable. */
#ifndef SHOP_DAEMON_SANDBOX_H
#define SHOP_DAEMON_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "audio/source.h"
#include "vision/decode.h"

typedef struct _sandbox_t sandbox_t;

/* How the worker runs. Zero fields mean "the default". */
typedef struct {
    const char *user;   /* user the worker runs as when shopd is root; "nobody" */
    int timeout_ms;     /* longest decode, per request; 10000 */
    int cancel_fd;      /* > 0: a request gives up at once when this fd is
                           readable (daemon/pool.h's stop fd); 0 = none */
} sandbox_opts_t;

/* What a sandbox has done, for status and tests. */
typedef struct {
    uint64_t requests;  /* requests sent to a worker */
    uint64_t rejected;  /* of which the worker crashed, timed out or lied */
    uint64_t restarts;  /* workers forked after the first */
    pid_t pid;          /* the current worker, 0 when none runs */
} sandbox_stats_t;

/* Resolves the user (when root) and forks the first worker. opts may be NULL.
 * Returns the sandbox (sandbox_destroy frees it), or NULL with a message in
 * err (errlen bytes) when the user is unknown or the worker cannot start. */
sandbox_t *sandbox_new(const sandbox_opts_t *opts, char *err, size_t errlen);

/* Kills and reaps the worker, frees the sandbox and sets *sb_p to NULL; safe
 * on NULL and twice. */
void sandbox_destroy(sandbox_t **sb_p);

/* As vision_decode_mem (limits may be NULL; channels 1 or 3), run in the
 * worker. Returns 0 with *img filled (caller releases it with
 * vision_image_release), or -1 with *img zeroed and a message in err: the
 * decoder's own message, or "input rejected: ..." when the worker died, timed
 * out or sent a malformed reply (the next call runs in a new worker). */
int sandbox_decode_image(sandbox_t *sb, const uint8_t *bytes, size_t len,
                         const vision_limits_t *limits, int channels, vision_image_t *img,
                         char *err, size_t errlen);

/* As audio_source_decode_mem (limits may be NULL), run in the worker.
 * Returns 0 with *pcm a new array of *n samples (caller frees with free()),
 * or -1 with *pcm = NULL, *n = 0 and a message in err, as above. */
int sandbox_decode_audio(sandbox_t *sb, const void *bytes, size_t len,
                         const audio_source_limits_t *limits, float **pcm, size_t *n,
                         char *err, size_t errlen);

/* Copies the counters into *stats. */
void sandbox_stats(const sandbox_t *sb, sandbox_stats_t *stats);

/* Sets the cancel fd afterwards (see sandbox_opts_t; -1 = none), for a
 * sandbox made on one thread and used on another. */
void sandbox_set_cancel_fd(sandbox_t *sb, int fd);

#endif
