/* tools/shop-eval.c: measures shopd's models on held-out data.
 * One line per subcommand; each lives in its area's folder. */
#include "common/log.h"
#include "nn/nn.h"
#include "tools/cli.h"

static const cli_command_t s_commands[] = {
    { "recommend", recommend_eval_main, "HR@10, Recall@20, NDCG@10 of every recommender" },
    { "audio",     audio_eval_main,     "command acceptance by SNR, false accepts, RTF of the keyword spotter" },
    { "audio-phones", audio_phones_eval_main, "phone error rate of a phone model on real validation speakers" },
    { "vision", vision_eval_main, "accuracy, confusion, visual search of the product CNN" },
};

int
main(int argc, char **argv)
{
    log_open("shop-eval", false);   /* log lines name the tool, not the daemon */
    /* before anything touches BLAS: re-execs once with the fast OpenBLAS kernel */
    nn_blas_ensure_fast_path(argv);
    return cli_dispatch("shop-eval", "evaluate models", s_commands,
                        (int) (sizeof s_commands / sizeof s_commands[0]), argc, argv);
}
