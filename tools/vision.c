/* tools/vision.c: `shop-train vision` and `shop-eval vision`: their options;
 * the work is vision_train_run (vision/train.c) and vision_eval_run
 * (vision/eval.c). */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tools/cli.h"
#include "vision/eval.h"
#include "vision/fmnist.h"
#include "vision/train.h"

static void
s_usage_train(FILE *f)
{
    fprintf(f,
            "usage: shop-train vision [OPTIONS]\n"
            "Trains the product CNN on Fashion-MNIST and writes the model file.\n"
            "  --data DIR       idx files (default " VISION_FMNIST_DIR ")\n"
            "  --out PATH       model file (default models/vision.nn)\n"
            "  --epochs N       (default 22)      --batch N   (default 128)\n"
            "  --lr X           peak learning rate (default 0.1 SGD, 0.003 AdamW)\n"
            "  --wd X           weight decay (default 5e-4 SGD, 0.05 AdamW)\n"
            "  --adamw          AdamW instead of SGD with Nesterov momentum\n"
            "  --width N        channels of the first stage (default 32)\n"
            "  --blocks N       residual blocks per stage (default 1)\n"
            "  --smoothing X    label smoothing (default 0.1)\n"
            "  --erase P        random-erasing probability (default 0.25)\n"
            "  --val N          training images held out for every choice (default 5000)\n"
            "  --limit N        train on the first N images only (quick runs)\n"
            "  --threads N      (default 2)       --seed N    (default 1)\n"
            "  --init PATH      start from a trained model's weights (fine-tuning)\n"
            "  --finalize PATH  no training: take the weights of a checkpoint (<out>.partial\n"
            "                   of a run cut short), choose views and threshold, write --out\n");
}

static int
s_parse_train(int argc, char **argv, vision_train_opts_t *o)
{
    static const struct option longopts[] = {
        { "data", required_argument, NULL, 'd' },   { "out", required_argument, NULL, 'o' },
        { "epochs", required_argument, NULL, 'e' }, { "batch", required_argument, NULL, 'b' },
        { "lr", required_argument, NULL, 'l' },     { "wd", required_argument, NULL, 'w' },
        { "adamw", no_argument, NULL, 'a' },        { "width", required_argument, NULL, 'W' },
        { "blocks", required_argument, NULL, 'B' }, { "smoothing", required_argument, NULL, 's' },
        { "erase", required_argument, NULL, 'E' },  { "val", required_argument, NULL, 'v' },
        { "limit", required_argument, NULL, 'L' },  { "threads", required_argument, NULL, 't' },
        { "seed", required_argument, NULL, 'S' },   { "help", no_argument, NULL, 'h' },
        { "finalize", required_argument, NULL, 'F' },
        { "init", required_argument, NULL, 'I' },
        { NULL, 0, NULL, 0 },
    };
    *o = (vision_train_opts_t) { .data_dir = VISION_FMNIST_DIR, .out = "models/vision.nn",
                                 .epochs = 22, .batch = 128, .width = 32, .blocks = 1,
                                 .val = 5000, .threads = 2, .lr = -1, .wd = -1,
                                 .smoothing = 0.1f, .erase = 0.25f, .seed = 1 };
    static const char P[] = "shop-train vision";
    optind = 1;
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data_dir = optarg; break;
        case 'o': o->out = optarg; break;
        case 'e': bad |= shop_opt_int(P, "--epochs", optarg, 1, INT_MAX, &o->epochs); break;
        case 'b': bad |= shop_opt_int(P, "--batch", optarg, 1, INT_MAX, &o->batch); break;
        case 'l':
            bad |= shop_opt_float(P, "--lr", optarg, 0, HUGE_VAL, SHOP_OPEN_LO, &o->lr);
            break;
        case 'w': bad |= shop_opt_float(P, "--wd", optarg, 0, HUGE_VAL, 0, &o->wd); break;
        case 'a': o->adamw = true; break;
        case 'W': bad |= shop_opt_int(P, "--width", optarg, 4, 256, &o->width); break;
        case 'B': bad |= shop_opt_int(P, "--blocks", optarg, 1, 8, &o->blocks); break;
        case 's':
            bad |= shop_opt_float(P, "--smoothing", optarg, 0, 1, SHOP_OPEN_HI, &o->smoothing);
            break;
        case 'E': bad |= shop_opt_float(P, "--erase", optarg, 0, 1, 0, &o->erase); break;
        case 'v': bad |= shop_opt_int(P, "--val", optarg, 100, INT_MAX, &o->val); break;
        case 'L': bad |= shop_opt_int(P, "--limit", optarg, 0, INT_MAX, &o->limit); break;
        case 't': bad |= shop_opt_int(P, "--threads", optarg, 1, INT_MAX, &o->threads); break;
        case 'S': bad |= shop_opt_uint64(P, "--seed", optarg, &o->seed); break;
        case 'F': o->finalize = optarg; break;
        case 'I': o->init = optarg; break;
        case 'h': s_usage_train(stdout); return 1;
        default: s_usage_train(stderr); return -1;
        }
    }
    if (bad)
        return -1;
    if (optind != argc) {
        s_usage_train(stderr);
        return -1;
    }
    if (o->lr < 0)
        o->lr = o->adamw ? 0.003f : 0.1f;
    if (o->wd < 0)
        o->wd = o->adamw ? 0.05f : 5e-4f;
    return 0;
}

int
vision_train_main(int argc, char **argv)
{
    /* the exact command, for the model's provenance */
    char cmd[1024] = "shop-train vision";
    for (int i = 1; i < argc; i++) {
        size_t l = strlen(cmd);
        snprintf(cmd + l, sizeof cmd - l, " %s", argv[i]);
    }
    vision_train_opts_t o;
    int rc = s_parse_train(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    return vision_train_run(&o, cmd) == 0 ? 0 : 1;
}

static void
s_usage_eval(FILE *f)
{
    fprintf(f, "usage: shop-eval vision [--model PATH] [--data DIR] [--json] [--limit N]\n"
               "                        [--index-size N]\n"
               "  --model PATH      product model (default: the shipped models/vision.nn)\n"
               "  --data DIR        Fashion-MNIST idx files (default " VISION_FMNIST_DIR ")\n"
               "  --json            print one JSON object instead of text\n"
               "  --limit N         evaluate the first N test images (default all)\n"
               "  --index-size N    training images indexed for visual search (default 10000)\n");
}

int
vision_eval_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "model", required_argument, NULL, 'm' }, { "data", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },        { "limit", required_argument, NULL, 'l' },
        { "index-size", required_argument, NULL, 'i' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const char P[] = "shop-eval vision";
    vision_eval_opts_t o = { .model = NULL, .data = VISION_FMNIST_DIR, .index_size = 10000 };
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'd': o.data = optarg; break;
        case 'j': o.json = true; break;
        case 'l': bad |= shop_opt_int(P, "--limit", optarg, 0, INT_MAX, &o.limit); break;
        case 'i':
            bad |= shop_opt_int(P, "--index-size", optarg, 0, INT_MAX, &o.index_size);
            break;
        case 'h': s_usage_eval(stdout); return 0;
        default: s_usage_eval(stderr); return 2;
        }
    }
    if (bad)
        return 2;
    if (optind != argc) {
        s_usage_eval(stderr);
        return 2;
    }
    return vision_eval_run(&o) == 0 ? 0 : 1;
}
