/* audio/resample.c: libsamplerate behind a small streaming API. */
#include "config.h"

#include "audio/resample.h"

#include <math.h>
#include <samplerate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

struct _resample_t {
    int in_rate;         /* Hz */
    int out_rate;        /* Hz */
    double ratio;        /* out_rate / in_rate */
    SRC_STATE *src;      /* libsamplerate state; NULL when the rates are equal */
    double total_in;     /* samples consumed since the last reset */
    double total_out;    /* samples written since the last reset */
};

/* The converter's output never runs ahead of the input by more than its
 * rounding; this margin covers rounding and the flush at the end. */
#define S_MARGIN 64

resample_t *
resample_new(int in_rate, int out_rate, char *err, size_t errlen)
{
    if (in_rate < RESAMPLE_MIN_RATE || in_rate > RESAMPLE_MAX_RATE
        || out_rate < RESAMPLE_MIN_RATE || out_rate > RESAMPLE_MAX_RATE) {
        if (err && errlen)
            snprintf(err, errlen, "resample: rates %d -> %d Hz outside %d..%d Hz", in_rate,
                     out_rate, RESAMPLE_MIN_RATE, RESAMPLE_MAX_RATE);
        return NULL;
    }
    resample_t *self = xcalloc(1, sizeof *self);
    self->in_rate = in_rate;
    self->out_rate = out_rate;
    self->ratio = (double) out_rate / in_rate;
    if (in_rate != out_rate) {
        int e = 0;
        self->src = src_new(SRC_SINC_MEDIUM_QUALITY, 1, &e);
        if (!self->src) {
            if (err && errlen)
                snprintf(err, errlen, "resample: libsamplerate: %s", src_strerror(e));
            free(self);
            return NULL;
        }
    }
    return self;
}

void
resample_destroy(resample_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    resample_t *self = *self_p;
    if (self->src)
        src_delete(self->src);
    free(self);
    *self_p = NULL;
}

size_t
resample_max_out(const resample_t *self, size_t n)
{
    if (!self->src)
        return n;
    double most = ceil((self->total_in + (double) n) * self->ratio) - self->total_out;
    return (size_t) (most > 0 ? most : 0) + S_MARGIN;
}

ssize_t
resample_process(resample_t *self, const float *in, size_t n, float *out, size_t max_out,
                 bool end)
{
    if (max_out < resample_max_out(self, n))
        return -1;
    if (!self->src) {
        if (n)
            memcpy(out, in, n * sizeof(float));
        return (ssize_t) n;
    }
    size_t done_in = 0, done_out = 0;
    for (;;) {
        SRC_DATA d = {
            .data_in = in + done_in,
            .data_out = out + done_out,
            .input_frames = (long) (n - done_in),
            .output_frames = (long) (max_out - done_out),
            .end_of_input = end ? 1 : 0,
            .src_ratio = self->ratio,
        };
        int e = src_process(self->src, &d);
        if (e) {
            log_err("resample: libsamplerate: %s", src_strerror(e));
            return -1;
        }
        done_in += (size_t) d.input_frames_used;
        done_out += (size_t) d.output_frames_gen;
        bool stalled = d.input_frames_used == 0 && d.output_frames_gen == 0;
        if (done_in == n && (!end || stalled))
            break;
        if (stalled || done_out == max_out) {
            log_err("resample: converter stalled with %zu of %zu samples left", n - done_in, n);
            return -1;
        }
    }
    self->total_in += (double) n;
    self->total_out += (double) done_out;
    return (ssize_t) done_out;
}

void
resample_reset(resample_t *self)
{
    if (self->src)
        src_reset(self->src);
    self->total_in = 0;
    self->total_out = 0;
}

float *
resample_buffer(const float *in, size_t n, int in_rate, int out_rate, size_t *n_out, char *err,
                size_t errlen)
{
    *n_out = 0;
    resample_t *r = resample_new(in_rate, out_rate, err, errlen);
    if (!r)
        return NULL;
    size_t cap = resample_max_out(r, n);
    float *out = xmallocarray(cap ? cap : 1, sizeof(float));
    ssize_t got = resample_process(r, in, n, out, cap, true);
    resample_destroy(&r);
    if (got < 0) {
        if (err && errlen)
            snprintf(err, errlen, "resample: conversion %d -> %d Hz failed", in_rate, out_rate);
        free(out);
        return NULL;
    }
    *n_out = (size_t) got;
    return out;
}
