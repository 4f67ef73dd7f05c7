/* fuzz/audio_source_fuzz.c: libFuzzer target for audio file decoding.
 *
 * The input is an audio file as it might arrive from the network. Decoding
 * must either fail with a message or give 16 kHz samples within [-1, 1]
 * and no longer than the limit; anything else aborts. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "audio/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    audio_source_limits_t lim;
    audio_source_limits_default(&lim);
    lim.max_seconds = 5.0; /* keeps each run short */
    float *pcm = NULL;
    size_t n = 0;
    char err[256] = "";
    audio_source_info_t info;
    int rc = audio_source_decode_mem_info(data, size, &lim, &pcm, &n, &info, err, sizeof err);
    if (rc != 0) {
        if (pcm || n || !err[0])
            abort();
        return 0;
    }
    if (!pcm || n == 0 || (double) n > lim.max_seconds * lim.out_rate + 64)
        abort();
    if (info.rate < 1000 || info.channels < 1 || info.channels > lim.max_channels)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!(pcm[i] >= -1.0f && pcm[i] <= 1.0f))
            abort();
    free(pcm);
    return 0;
}
