/* audio/source.c: audio files to 16 kHz mono through libsndfile and
 * audio/resample.
 *
 * Bytes come from memory through libsndfile's virtual I/O, so the same code
 * decodes a network message and a file. libsndfile opens a cut-off WAV
 * without complaint (it shortens the data chunk to what is there), so the
 * header log it keeps is checked for a data chunk whose stated size is
 * larger than the file; cut-off compressed streams show as a decoder error
 * or fewer frames than the header promised. */
#include "config.h"

#include "audio/source.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/resample.h"
#include "common/log.h"
#include "common/util.h"

/* frames read per sf_readf_float call */
#define S_CHUNK 4096

void
audio_source_limits_default(audio_source_limits_t *limits)
{
    memset(limits, 0, sizeof *limits);
    limits->max_seconds = 30.0;
    limits->max_bytes = 64u << 20;
    limits->max_channels = 16;
    limits->out_rate = 16000;
}

/* the memory file libsndfile reads through the callbacks below */
typedef struct {
    const uint8_t *data;
    sf_count_t len;
    sf_count_t pos;
} s_mem_t;

static sf_count_t
s_vio_len(void *user)
{
    return ((s_mem_t *) user)->len;
}

static sf_count_t
s_vio_seek(sf_count_t offset, int whence, void *user)
{
    s_mem_t *m = user;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    if (offset > m->len || offset < -m->len)
        return -1;
    sf_count_t to = base + offset;
    if (to < 0 || to > m->len)
        return -1;
    m->pos = to;
    return to;
}

static sf_count_t
s_vio_read(void *ptr, sf_count_t count, void *user)
{
    s_mem_t *m = user;
    if (count < 0)
        return 0;
    sf_count_t left = m->len - m->pos;
    if (count > left)
        count = left;
    memcpy(ptr, m->data + m->pos, (size_t) count);
    m->pos += count;
    return count;
}

static sf_count_t
s_vio_write(const void *ptr, sf_count_t count, void *user)
{
    return 0; /* read-only */
}

static sf_count_t
s_vio_tell(void *user)
{
    return ((s_mem_t *) user)->pos;
}

static int
s_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
s_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* True when libsndfile's header log says the data chunk claims more bytes
 * than the file holds: "data : 55360 (should be 29956)". Streaming writers
 * that did not know the length (size 0 or 0xFFFFFFFF) are not truncation. */
static bool
s_log_says_truncated(SNDFILE *sf)
{
    char log[8192];
    sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
    for (char *line = log; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, "data", 4) != 0 && strncmp(line, "SSND", 4) != 0)
            continue;
        char *colon = strchr(line, ':'), *nl = strchr(line, '\n');
        char *should = strstr(line, "(should be");
        if (!colon || !should || (nl && should > nl))
            continue;
        unsigned long long stated = strtoull(colon + 1, NULL, 10);
        if (stated != 0 && stated != 0xFFFFFFFFull && stated != 0xFFFFFFFFFFFFFFFFull)
            return true;
    }
    return false;
}

int
audio_source_decode_mem_info(const void *bytes, size_t len,
                             const audio_source_limits_t *limits, float **pcm, size_t *n,
                             audio_source_info_t *info, char *err, size_t errlen)
{
    audio_source_limits_t def;
    if (!limits) {
        audio_source_limits_default(&def);
        limits = &def;
    }
    *pcm = NULL;
    *n = 0;
    if (info)
        memset(info, 0, sizeof *info);
    if (!bytes || len == 0)
        return s_fail(err, errlen, "audio: the input is empty (0 bytes)");
    if (len > limits->max_bytes)
        return s_fail(err, errlen, "audio: the input is %zu bytes, more than the limit of %zu",
                      len, limits->max_bytes);
    if (limits->out_rate < RESAMPLE_MIN_RATE || limits->out_rate > RESAMPLE_MAX_RATE)
        return s_fail(err, errlen, "audio: output rate %d Hz is not supported", limits->out_rate);

    SF_VIRTUAL_IO vio = { s_vio_len, s_vio_seek, s_vio_read, s_vio_write, s_vio_tell };
    s_mem_t mem = { bytes, (sf_count_t) len, 0 };
    SF_INFO sfi;
    memset(&sfi, 0, sizeof sfi);
    SNDFILE *sf = sf_open_virtual(&vio, SFM_READ, &sfi, &mem);
    if (!sf)
        return s_fail(err, errlen, "audio: not an audio file libsndfile can read (%s)",
                      sf_strerror(NULL));

    int rc = -1;
    float *mono = NULL, *chunk = NULL;
    SF_FORMAT_INFO fmt = { .format = sfi.format & SF_FORMAT_TYPEMASK };
    const char *fmt_name = sf_command(sf, SFC_GET_FORMAT_INFO, &fmt, sizeof fmt) == 0 && fmt.name
                               ? fmt.name : "unknown format";
    if (sfi.samplerate < RESAMPLE_MIN_RATE || sfi.samplerate > RESAMPLE_MAX_RATE) {
        s_fail(err, errlen, "audio: sample rate %d Hz is outside %d..%d Hz", sfi.samplerate,
               RESAMPLE_MIN_RATE, RESAMPLE_MAX_RATE);
        goto out;
    }
    if (sfi.channels < 1 || sfi.channels > limits->max_channels) {
        s_fail(err, errlen, "audio: %d channels, at most %d are accepted", sfi.channels,
               limits->max_channels);
        goto out;
    }
    if (sfi.frames <= 0) {
        s_fail(err, errlen, "audio: the %s file holds no samples", fmt_name);
        goto out;
    }
    /* frames beyond this are refused; the header is not trusted for it */
    double max_frames_d = limits->max_seconds * sfi.samplerate;
    if (!(max_frames_d >= 1.0))
        max_frames_d = 1.0;
    size_t max_frames = (size_t) max_frames_d;
    if (sfi.frames != SF_COUNT_MAX && (double) sfi.frames > max_frames_d) {
        s_fail(err, errlen, "audio: %.1f s long, more than the limit of %.1f s",
               (double) sfi.frames / sfi.samplerate, limits->max_seconds);
        goto out;
    }
    if (s_log_says_truncated(sf)) {
        s_fail(err, errlen, "audio: the %s file is truncated (its data chunk is cut off)",
               fmt_name);
        goto out;
    }

    /* the first buffer is sized by what the bytes can hold, not by the
     * header: uncompressed audio has at least one byte per frame, so a
     * forged frame count (up to the time limit: 46 MB at 384 kHz for 30 s)
     * behind a few bytes costs no large allocation; compressed audio can
     * hold more and the loop below grows the buffer */
    size_t cap = SHOP_MIN(len + S_CHUNK, max_frames), got = 0;
    if (sfi.frames != SF_COUNT_MAX)
        cap = SHOP_MIN(cap, (size_t) sfi.frames);
    mono = xmallocarray(cap, sizeof(float));
    chunk = xmallocarray((size_t) S_CHUNK * (size_t) sfi.channels, sizeof(float));
    for (;;) {
        sf_count_t r = sf_readf_float(sf, chunk, S_CHUNK);
        if (r <= 0)
            break;
        if (got + (size_t) r > max_frames) {
            s_fail(err, errlen, "audio: longer than the limit of %.1f s", limits->max_seconds);
            goto out;
        }
        if (got + (size_t) r > cap) {
            cap = SHOP_MIN(SHOP_MAX(cap * 2, got + (size_t) r), max_frames);
            mono = xrealloc(mono, cap * sizeof(float));
        }
        for (sf_count_t i = 0; i < r; i++) {
            const float *fr = chunk + i * sfi.channels;
            float sum = 0.0f;
            for (int c = 0; c < sfi.channels; c++)
                sum += fr[c];
            float v = sum / (float) sfi.channels;
            if (!isfinite(v)) {
                s_fail(err, errlen, "audio: the file holds samples that are not numbers");
                goto out;
            }
            mono[got++] = v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
        }
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR) {
        s_fail(err, errlen, "audio: the %s file is broken after %.2f s (%s)", fmt_name,
               (double) got / sfi.samplerate, sf_strerror(sf));
        goto out;
    }
    if (sfi.frames != SF_COUNT_MAX && (sf_count_t) got < sfi.frames) {
        s_fail(err, errlen, "audio: the %s file is truncated: %zu of %" PRId64 " frames",
               fmt_name, got, (int64_t) sfi.frames);
        goto out;
    }
    if (got == 0) {
        s_fail(err, errlen, "audio: the %s file holds no samples", fmt_name);
        goto out;
    }
    char rerr[160];
    float *res = resample_buffer(mono, got, sfi.samplerate, limits->out_rate, n, rerr,
                                 sizeof rerr);
    if (!res) {
        s_fail(err, errlen, "audio: %s", rerr);
        goto out;
    }
    if (*n == 0) {
        /* a few samples at a high rate resample to none */
        free(res);
        s_fail(err, errlen, "audio: the %s file is too short (%zu samples at %d Hz)", fmt_name,
               got, sfi.samplerate);
        goto out;
    }
    /* the sinc filter can ring a little past full scale on clipped input */
    for (size_t i = 0; i < *n; i++)
        res[i] = res[i] > 1.0f ? 1.0f : res[i] < -1.0f ? -1.0f : res[i];
    *pcm = res;
    if (info) {
        info->rate = sfi.samplerate;
        info->channels = sfi.channels;
        info->seconds = (double) got / sfi.samplerate;
        shop_strlcpy(info->format, fmt_name, sizeof info->format);
    }
    rc = 0;
out:
    free(chunk);
    free(mono);
    sf_close(sf);
    return rc;
}

int
audio_source_decode_mem(const void *bytes, size_t len, const audio_source_limits_t *limits,
                        float **pcm, size_t *n, char *err, size_t errlen)
{
    return audio_source_decode_mem_info(bytes, len, limits, pcm, n, NULL, err, errlen);
}

int
audio_source_decode_file(const char *path, const audio_source_limits_t *limits, float **pcm,
                         size_t *n, audio_source_info_t *info, char *err, size_t errlen)
{
    audio_source_limits_t def;
    if (!limits) {
        audio_source_limits_default(&def);
        limits = &def;
    }
    *pcm = NULL;
    *n = 0;
    size_t len = 0;
    char rerr[256];
    uint8_t *bytes = shop_read_file(path, limits->max_bytes, &len, rerr, sizeof rerr);
    if (!bytes)
        return s_fail(err, errlen, "%s", rerr);
    char derr[256];
    int rc = audio_source_decode_mem_info(bytes, len, limits, pcm, n, info, derr, sizeof derr);
    free(bytes);
    if (rc < 0)
        return s_fail(err, errlen, "%s: %s", path, derr);
    return 0;
}
