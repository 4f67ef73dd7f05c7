/* tools/shop-train.c: trains shopd's models and makes its data.
 * One line per subcommand; each lives in its area's folder. */
#include "common/log.h"
#include "nn/nn.h"
#include "tools/cli.h"

static const cli_command_t s_commands[] = {
    { "demo", demo_store_main, "make the demo store (catalogue, photos, purchase history) in data/demo" },
    { "recommend", recommend_train_main, "train the recommenders (UCI Online Retail or a store)" },
    { "audio",        audio_train_main,     "train the keyword-spotting DS-CNN on the speech corpus" },
    { "audio-corpus", audio_corpus_main, "synthesise the keyword-spotting speech corpus" },
    { "audio-phones", audio_phones_main, "train the phone model of the keyword spotter (CTC)" },
    { "vision", vision_train_main, "train the product CNN on Fashion-MNIST" },
};

int
main(int argc, char **argv)
{
    log_open("shop-train", false);   /* log lines name the tool, not the daemon */
    /* before anything touches BLAS: re-execs once with the fast OpenBLAS kernel */
    nn_blas_ensure_fast_path(argv);
    return cli_dispatch("shop-train", "train models and make data", s_commands,
                        (int) (sizeof s_commands / sizeof s_commands[0]), argc, argv);
}
