/* tools/phones.c: `shop-train audio-phones`: its options; the work is
 * phones_train_run (audio/phones_train.c). */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "audio/phones_train.h"
#include "common/util.h"
#include "tools/cli.h"

static const char S_PROG[] = "shop-train audio-phones";

static void
s_usage(void)
{
    fprintf(stderr,
            "usage: shop-train audio-phones [--corpus DIR] [--real-data DIR] [--out PATH]\n"
            "                               [--epochs N] [--copies K] [--real-copies K]\n"
            "                               [--fsdd-copies K] [--channels C] [--batch B]\n"
            "                               [--lr X] [--seed N] [--threads T] [--limit N]\n"
            "                               [--stride S] [--lookahead L] [--fa-rate R]\n"
            "                               [--thr-min X] [--init MODEL] [--calibrate MODEL]\n"
            "  trains the phone model of the keyword spotter with CTC on the synthetic\n"
            "  corpus (DIR may list several) and the real training speakers of\n"
            "  --real-data (audio/realdata.h; the validation speakers are never read),\n"
            "  K noisy copies of each clip (2 / 4 / 1); the detector runs the CNN every\n"
            "  S frames (10) and uses its output L frames (24) before the window's end;\n"
            "  per-word thresholds: the confidence a fraction R (0.01) of the validation\n"
            "  examples not saying the word reach (corpus validation voices and real\n"
            "  calibration speakers), at least --thr-min (0.3); --calibrate MODEL only\n"
            "  recomputes MODEL's thresholds (same --corpus, --real-data, --seed) into --out\n");
}

int
audio_phones_main(int argc, char **argv)
{
    phones_train_opts_t o = {
        .out = "kws-phones.nn", .epochs = 10, .copies = 2, .real_copies = 4, .fsdd_copies = 1,
        .channels = 48, .batch = 64, .threads = 2, .stride = 10, .lookahead = 24, .lr = 0.003f,
        .fa_rate = 0.01f, .thr_min = 0.3f, .seed = 1,
    };
    static const struct option longopts[] = {
        { "corpus", required_argument, NULL, 'c' },      { "real-data", required_argument, NULL, 'r' },
        { "out", required_argument, NULL, 'o' },         { "epochs", required_argument, NULL, 'e' },
        { "copies", required_argument, NULL, 'k' },      { "real-copies", required_argument, NULL, 'K' },
        { "fsdd-copies", required_argument, NULL, 'F' }, { "channels", required_argument, NULL, 'C' },
        { "batch", required_argument, NULL, 'b' },       { "lr", required_argument, NULL, 'l' },
        { "seed", required_argument, NULL, 's' },        { "threads", required_argument, NULL, 't' },
        { "limit", required_argument, NULL, 'L' },       { "stride", required_argument, NULL, 'S' },
        { "lookahead", required_argument, NULL, 'A' },   { "fa-rate", required_argument, NULL, 'R' },
        { "thr-min", required_argument, NULL, 'M' },     { "init", required_argument, NULL, 'I' },
        { "calibrate", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },              { NULL, 0, NULL, 0 },
    };
    int ch, bad = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:r:o:e:k:K:F:C:b:l:s:t:L:S:A:R:M:I:T:h", longopts, NULL))
           != -1) {
        switch (ch) {
        case 'c': o.corpus_dir = optarg; break;
        case 'r': o.real_dir = optarg; break;
        case 'o': o.out = optarg; break;
        case 'e': bad |= shop_opt_int(S_PROG, "--epochs", optarg, 1, INT_MAX, &o.epochs); break;
        case 'k': bad |= shop_opt_int(S_PROG, "--copies", optarg, 0, 20, &o.copies); break;
        case 'K':
            bad |= shop_opt_int(S_PROG, "--real-copies", optarg, 0, 50, &o.real_copies);
            break;
        case 'F':
            bad |= shop_opt_int(S_PROG, "--fsdd-copies", optarg, 0, 50, &o.fsdd_copies);
            break;
        case 'C': bad |= shop_opt_int(S_PROG, "--channels", optarg, 4, 256, &o.channels); break;
        case 'b': bad |= shop_opt_int(S_PROG, "--batch", optarg, 2, INT_MAX, &o.batch); break;
        case 'l':
            bad |= shop_opt_float(S_PROG, "--lr", optarg, 0, HUGE_VAL, SHOP_OPEN_LO, &o.lr);
            break;
        case 's': bad |= shop_opt_uint64(S_PROG, "--seed", optarg, &o.seed); break;
        case 't': bad |= shop_opt_int(S_PROG, "--threads", optarg, 1, INT_MAX, &o.threads); break;
        case 'L': bad |= shop_opt_int(S_PROG, "--limit", optarg, 0, INT_MAX, &o.limit); break;
        case 'S': bad |= shop_opt_int(S_PROG, "--stride", optarg, 2, 40, &o.stride); break;
        case 'A':
            bad |= shop_opt_int(S_PROG, "--lookahead", optarg, 0, PHONES_TRAIN_FRAMES,
                                &o.lookahead);
            break;
        case 'R':
            bad |= shop_opt_float(S_PROG, "--fa-rate", optarg, 0, 0.5, SHOP_OPEN_LO | SHOP_OPEN_HI,
                                  &o.fa_rate);
            break;
        case 'M':
            bad |= shop_opt_float(S_PROG, "--thr-min", optarg, 0, 1, SHOP_OPEN_LO | SHOP_OPEN_HI,
                                  &o.thr_min);
            break;
        case 'I': o.init = optarg; break;
        case 'T': o.calibrate = optarg; break;
        default: s_usage(); return ch == 'h' ? 0 : 2;
        }
    }
    if (bad || cli_no_operands(S_PROG, argc, argv) != 0)
        return 2;
    if ((!o.corpus_dir && !o.real_dir) || o.stride % 2 || o.lookahead % 2
        || o.lookahead + o.stride > PHONES_TRAIN_FRAMES) {
        s_usage();
        return 2;
    }
    char err[512] = "";
    if (phones_train_run(&o, err, sizeof err) != 0) {
        fprintf(stderr, "shop-train audio-phones: %s\n", err);
        return 1;
    }
    return 0;
}

int
audio_phones_eval_main(int argc, char **argv)
{
    const char *model = NULL, *real_dir = NULL;
    static const struct option longopts[] = {
        { "model", required_argument, NULL, 'm' }, { "real-data", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
    };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:r:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case 'r': real_dir = optarg; break;
        default:
            fprintf(stderr, "usage: shop-eval audio-phones --model MODEL --real-data DIR\n"
                            "  phone error rate of a phone model on the real validation "
                            "speakers (JSON)\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (cli_no_operands("shop-eval audio-phones", argc, argv) != 0)
        return 2;
    if (!model || !real_dir) {
        fprintf(stderr, "shop-eval audio-phones: --model and --real-data are required\n");
        return 2;
    }
    char err[512] = "";
    if (phones_eval_run(model, real_dir, err, sizeof err) != 0) {
        fprintf(stderr, "shop-eval audio-phones: %s\n", err);
        return 1;
    }
    return 0;
}
