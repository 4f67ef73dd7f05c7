/* fuzz/nn_load_fuzz.c: libFuzzer target for the model loader (nn/model.c)
 * and the keyword spotter's reading of a model's metadata (audio/kws.c).
 *
 * Each input is loaded as is (exercising magic, length and checksum checks),
 * then again with its header's body length and CRC-32 re-stamped so that
 * mutations reach the parser behind the checksum. A model that loads is run
 * once when its input is small, so hostile architectures reach inference,
 * and is then handed to kws_new_from_net, which must refuse bad labels
 * (filler classes among them), features, thresholds, stride or belief
 * constants with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/kws.h"
#include "nn/nn.h"
#include "nn/selftest.h"

/* The spotter's checks of *net_p's metadata (takes the net); a refusal
 * must say why. */
static void
s_spotter(nn_net_t **net_p)
{
    char err[256] = "";
    kws_t *k = kws_new_from_net(net_p, NULL, err, sizeof err);
    if (!k && !err[0])
        abort();
    kws_destroy(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    nn_net_t *net = nn_load_mem(data, size, err, sizeof err);
    if (net)
        s_spotter(&net);
    if (size < 32 || size > (1u << 22))
        return 0;
    uint8_t *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    uint64_t body = size - 32;
    for (int i = 0; i < 8; i++)
        buf[16 + i] = (uint8_t) (body >> (8 * i));
    nn_selftest_fix_crc(buf, size);
    net = nn_load_mem(buf, size, err, sizeof err);
    if (net) {
        nn_shape_t in = nn_input_shape(net);
        size_t n_in = (size_t) in.c * in.h * in.w;
        if (n_in <= 4096 && nn_flops_per_sample(net) < 1e7) {
            float *x = calloc(n_in, sizeof(float));
            float *out = calloc((size_t) nn_output_size(net) + 1, sizeof(float));
            if (x && out)
                nn_forward(net, x, 1, out);
            free(x);
            free(out);
        }
        s_spotter(&net);
    }
    nn_destroy(&net);
    free(buf);
    return 0;
}
