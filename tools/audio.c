/* tools/audio.c: `shop-train audio-corpus`, `shop-train audio` and
 * `shop-eval audio`: their options; the work is corpus_generate
 * (audio/corpus.c), audio_train_run (audio/train.c) and audio_eval_run
 * (audio/eval.c). */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio/corpus.h"
#include "audio/eval.h"
#include "audio/train.h"
#include "common/util.h"
#include "tools/cli.h"

static const char S_CORPUS[] = "shop-train audio-corpus", S_TRAIN[] = "shop-train audio",
                  S_EVAL[] = "shop-eval audio";

int
audio_corpus_main(int argc, char **argv)
{
    corpus_gen_opts_t o = { .out_dir = NULL, .seed = 1, .scale = 1.0, .verbose = true };
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' },  { "seed", required_argument, NULL, 's' },
        { "scale", required_argument, NULL, 'x' }, { "quiet", no_argument, NULL, 'q' },
        { "limit", required_argument, NULL, 'L' }, { "from", required_argument, NULL, 'F' },
        { "extra", no_argument, NULL, 'X' },      { "confusables", no_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' },       { NULL, 0, NULL, 0 },
    };
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:s:x:L:F:XCqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o.out_dir = optarg; break;
        case 's': bad |= shop_opt_uint64(S_CORPUS, "--seed", optarg, &o.seed); break;
        case 'x':
            bad |= shop_opt_double(S_CORPUS, "--scale", optarg, 0, 100, SHOP_OPEN_LO, &o.scale);
            break;
        case 'L': bad |= shop_opt_int(S_CORPUS, "--limit", optarg, 0, INT_MAX, &o.limit); break;
        case 'F': bad |= shop_opt_int(S_CORPUS, "--from", optarg, 0, INT_MAX, &o.from); break;
        case 'X': o.extra = true; break;
        case 'C': o.confusables = true; break;
        case 'q': o.verbose = false; break;
        default:
            fprintf(stderr, "usage: shop-train audio-corpus --out DIR [--seed N] [--scale X] "
                            "[--limit N] [--from N] [--extra | --confusables] [--quiet]\n"
                            "  synthesises the "
                            "keyword-spotting corpus (espeak-ng, flite, festival) into DIR;\n"
                            "  --extra: training utterances of the extra flite/festival voices "
                            "only;\n  --confusables: the training voices saying the non-vocabulary "
                            "words of the\n  real recordings (up, off, left, ...)\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (bad || cli_no_operands(S_CORPUS, argc, argv) != 0)
        return 2;
    if (!o.out_dir) {
        fprintf(stderr, "%s: --out DIR is required\n", S_CORPUS);
        return 2;
    }
    char err[512];
    if (corpus_generate(&o, err, sizeof err) != 0) {
        fprintf(stderr, "shop-train audio-corpus: %s\n", err);
        return 1;
    }
    return 0;
}

static void
s_usage_train(void)
{
    fprintf(stderr,
            "usage: shop-train audio --corpus DIR [--out models/kws.nn] [--epochs N] [--copies K]\n"
            "                        [--channels C] [--blocks B] [--between X]\n"
            "                        [--batch B] [--lr X] [--seed N] [--threads T] [--limit N]\n"
            "                        [--thr-min X] [--stride S] [--skip-voices V1,V2]\n"
            "                        [--holdout V1,V2]\n"
            "                        [--real-data DIR] [--real-copies K] [--fsdd-copies K]\n"
            "                        [--real-noise P]\n"
            "                        [--fa-rate R] [--init MODEL [--freeze N]] [--calibrate MODEL]\n"
            "                        [--beliefs MODEL]\n"
            "                        [--fuse MODEL1,MODEL2 [--fuse-weights W1,W2]]\n"
            "                        [--prefix-ends]\n"
            "                        [--teacher MODEL [--teacher-weight W] [--teacher-temp T]]\n"
            "                        [--filler-classes] [--domain-classes[=words]]\n"
            "                        [--domain-adversarial LAMBDA] [--wake-min C]\n"
            "       shop-train audio --set MODEL --wake-min C --out FILE\n"
            "  a word that is not the last of its sentence ends where its prefix clip,\n"
            "  aligned to the sentence, ends (--prefix-ends: at the prefix clip's own\n"
            "  end of speech, as the corpus stores it: 70-170 ms late on average);\n"
            "  --init MODEL goes on training MODEL (its weights, input mean and std)\n"
            "  instead of a new net; --freeze N keeps its first N layers as they are\n"
            "  (weights and batch-norm statistics; the layer list is printed first):\n"
            "  with the DS-CNN, --freeze 29 trains only the embedding conv and the head;\n"
            "  --teacher MODEL mixes MODEL's posteriors (at temperature T, 2) into the\n"
            "  targets of the synthetic windows with weight W (0.5): distillation, so\n"
            "  the new model keeps what MODEL does on synthetic speech;\n"
            "  --real-data DIR adds recordings of real speakers (audio/realdata.h: Speech\n"
            "  Commands and FSDD under DIR; training speakers to training, calibration\n"
            "  speakers to validation with the validation voices, validation speakers\n"
            "  never read): vocabulary words as positives, other words and noise as\n"
            "  _unknown_ / _silence_, K noisy copies each (8 / 1);\n"
            "  --filler-classes (with --real-data): each word of the real recordings\n"
            "  that is not a vocabulary word (up, off, go, bed, ...) gets its own output,\n"
            "  \"_filler_WORD\", which the spotter adds to _unknown_ (thresholds, grammar\n"
            "  and measures see the vocabulary only); synthetic unknown clips of one such\n"
            "  word alone take its class too; with --init MODEL of the vocabulary alone the\n"
            "  new outputs start from _unknown_'s, its posterior kept; a model with filler\n"
            "  classes keeps them when trained on (--init) or recalibrated;\n"
            "  --domain-classes (with --real-data): a real recording's window trains the\n"
            "  softmax over the classes the real training windows hold (yes, no, stop,\n"
            "  the numbers, other words, noise) alone, so real speech never teaches that\n"
            "  a word no real speaker says (add, help, cart, ...) is not said;\n"
            "  =words: only the real windows of vocabulary words do, the other words and\n"
            "  the noise train over every class (they teach what they are not);\n"
            "  --domain-adversarial LAMBDA (with --real-data) trains a real-vs-synthetic\n"
            "  voice head on the embedding behind a gradient reversal whose lambda rises\n"
            "  to LAMBDA (2 / (1 + exp(-10 p)) - 1 of it, p the share of steps done), so\n"
            "  the embedding loses what tells real speakers from synthetic voices; noise\n"
            "  alone has no domain; each epoch prints the head's balanced accuracy (0.5:\n"
            "  no cue left); the head is dropped from the model written;\n"
            "  --real-noise P mixes a share P (0) of the windows with the training\n"
            "  speakers' recorded noise clips instead of synthetic noise;\n"
            "  thresholds: per word, the score that a fraction R (0.005) of the\n"
            "  validation windows of other classes reach;\n"
            "  DIR may list several corpora (v2,v3); --skip-voices leaves those\n"
            "  training voices out (to measure what they bring), --holdout makes them\n"
            "  validation voices (\"awb\" also names awb-f85s10 ...);\n"
            "  trains the keyword-spotting DS-CNN on the synthetic corpus made by\n"
            "  `shop-train audio-corpus`; K noisy copies of every word (default 2);\n"
            "  X windows at random places of each command clip (default 1);\n"
            "  thresholds no lower than --thr-min (0.5); the detector runs the CNN\n"
            "  every S frames (3). --calibrate MODEL only recomputes MODEL's thresholds\n"
            "  and stride on the validation voices (same --corpus, --seed, --between and\n"
            "  --real-data as its training) and writes --out; --fuse makes one model of\n"
            "  several (a product of experts: their logits weighted by W, 1/n each by\n"
            "  default, and summed; each keeps its own input normalisation), calibrates\n"
            "  it as --calibrate does and writes --out;\n"
            "  belief constants: a training, --calibrate and --fuse end by fitting the\n"
            "  grammar's confidence-to-belief constants for the model (kws.belief_odds,\n"
            "  kws.belief_power; docs/grammar.md): a logistic fit of whether a word was\n"
            "  said on the log-odds of its confidence, over the words the model reports\n"
            "  in the validation voices' commands (those `shop-eval audio --voices val\n"
            "  --commands 300` streams; the wake word, show, find and cart left out);\n"
            "  too few such words (a small corpus): none, the grammar's defaults apply;\n"
            "  --beliefs MODEL only fits MODEL's constants (its thresholds and stride\n"
            "  kept; same --corpus and --holdout as its training) and writes --out;\n"
            "  --wake-min C: the model written carries C as kws.wake_min, the least\n"
            "  confidence at which its wake word begins a command in shopd's listener\n"
            "  (chosen on the tuning split with `shop-eval audio --voices val --wake-min`,\n"
            "  docs/speech.md); without it a model trained on, recalibrated or refitted\n"
            "  keeps its own and a new or fused one has none (the listener then takes\n"
            "  the model's thresholds alone); --set MODEL only writes MODEL to --out with\n"
            "  that kws.wake_min, its weights and every other key as they are\n");
}

int
audio_train_main(int argc, char **argv)
{
    const char *corpus_dir = NULL, *out = "models/kws.nn", *calibrate = NULL, *skip = NULL;
    const char *holdout = NULL, *real_dir = NULL, *init = NULL, *fuse = NULL, *fuse_w = NULL;
    const char *teacher = NULL, *beliefs = NULL, *set = NULL;
    double wake_min = -1;   /* not given */
    float teacher_weight = 0.5f, teacher_temp = 2.f;
    int real_copies = 8, fsdd_copies = 1;
    bool prefix_ends = false, filler_classes = false;
    audio_domain_classes_t domain_classes = AUDIO_DOMAIN_NONE;
    float fa_rate = 0.005f, real_noise = 0;
    int epochs = 12, copies = 2, channels = 64, blocks = 4, batch = 128, threads = 2, limit = 0;
    int stride = 3, freeze = 0;
    float dann = 0;
    float lr = 0.003f, between = 1.f, thr_min = 0.5f;
    uint64_t seed = 1;
    static const struct option longopts[] = {
        { "corpus", required_argument, NULL, 'c' }, { "out", required_argument, NULL, 'o' },
        { "epochs", required_argument, NULL, 'e' }, { "copies", required_argument, NULL, 'k' },
        { "channels", required_argument, NULL, 'C' }, { "blocks", required_argument, NULL, 'B' },
        { "batch", required_argument, NULL, 'b' },  { "lr", required_argument, NULL, 'l' },
        { "seed", required_argument, NULL, 's' },   { "threads", required_argument, NULL, 't' },
        { "limit", required_argument, NULL, 'L' },  { "help", no_argument, NULL, 'h' },
        { "calibrate", required_argument, NULL, 'T' },
        { "between", required_argument, NULL, 'W' }, { "thr-min", required_argument, NULL, 'M' },
        { "stride", required_argument, NULL, 'S' }, { "skip-voices", required_argument, NULL, 'V' },
        { "holdout", required_argument, NULL, 'O' },
        { "real-data", required_argument, NULL, 'r' }, { "real-copies", required_argument, NULL, 'K' },
        { "fsdd-copies", required_argument, NULL, 'F' }, { "fa-rate", required_argument, NULL, 'A' },
        { "init", required_argument, NULL, 'I' }, { "real-noise", required_argument, NULL, 'N' },
        { "prefix-ends", no_argument, NULL, 'P' }, { "teacher", required_argument, NULL, 'D' },
        { "teacher-weight", required_argument, NULL, 'G' },
        { "teacher-temp", required_argument, NULL, 'H' },
        { "fuse", required_argument, NULL, 'U' }, { "fuse-weights", required_argument, NULL, 'w' },
        { "beliefs", required_argument, NULL, 'Y' }, { "freeze", required_argument, NULL, 'Z' },
        { "filler-classes", no_argument, NULL, 'Q' },
        { "domain-classes", optional_argument, NULL, 'R' },
        { "domain-adversarial", required_argument, NULL, 'J' },
        { "wake-min", required_argument, NULL, 'X' }, { "set", required_argument, NULL, 'E' },
        { NULL, 0, NULL, 0 },
    };
    int ch, bad = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv,
                             "c:o:e:k:C:B:b:l:s:t:L:T:W:M:S:V:O:r:K:F:A:I:N:PU:w:D:G:H:Y:Z:J:X:E:QRh",
                             longopts, NULL))
           != -1) {
        switch (ch) {
        case 'c': corpus_dir = optarg; break;
        case 'o': out = optarg; break;
        case 'e': bad |= shop_opt_int(S_TRAIN, "--epochs", optarg, 1, INT_MAX, &epochs); break;
        case 'k': bad |= shop_opt_int(S_TRAIN, "--copies", optarg, 1, 20, &copies); break;
        case 'C': bad |= shop_opt_int(S_TRAIN, "--channels", optarg, 4, 512, &channels); break;
        case 'B': bad |= shop_opt_int(S_TRAIN, "--blocks", optarg, 1, 8, &blocks); break;
        case 'b': bad |= shop_opt_int(S_TRAIN, "--batch", optarg, 2, INT_MAX, &batch); break;
        case 'l':
            bad |= shop_opt_float(S_TRAIN, "--lr", optarg, 0, HUGE_VAL, SHOP_OPEN_LO, &lr);
            break;
        case 's': bad |= shop_opt_uint64(S_TRAIN, "--seed", optarg, &seed); break;
        case 't': bad |= shop_opt_int(S_TRAIN, "--threads", optarg, 1, INT_MAX, &threads); break;
        case 'L': bad |= shop_opt_int(S_TRAIN, "--limit", optarg, 0, INT_MAX, &limit); break;
        case 'T': calibrate = optarg; break;
        case 'W': bad |= shop_opt_float(S_TRAIN, "--between", optarg, 0, 8, 0, &between); break;
        case 'M':
            bad |= shop_opt_float(S_TRAIN, "--thr-min", optarg, 0, AUDIO_TRAIN_THR_MAX,
                                  SHOP_OPEN_LO, &thr_min);
            break;
        case 'S': bad |= shop_opt_int(S_TRAIN, "--stride", optarg, 1, 50, &stride); break;
        case 'V': skip = optarg; break;
        case 'O': holdout = optarg; break;
        case 'r': real_dir = optarg; break;
        case 'K':
            bad |= shop_opt_int(S_TRAIN, "--real-copies", optarg, 0, 50, &real_copies);
            break;
        case 'F':
            bad |= shop_opt_int(S_TRAIN, "--fsdd-copies", optarg, 0, 50, &fsdd_copies);
            break;
        case 'A':
            bad |= shop_opt_float(S_TRAIN, "--fa-rate", optarg, 0, 0.5,
                                  SHOP_OPEN_LO | SHOP_OPEN_HI, &fa_rate);
            break;
        case 'I': init = optarg; break;
        case 'N':
            bad |= shop_opt_float(S_TRAIN, "--real-noise", optarg, 0, 1, 0, &real_noise);
            break;
        case 'P': prefix_ends = true; break;
        case 'U': fuse = optarg; break;
        case 'w': fuse_w = optarg; break;
        case 'D': teacher = optarg; break;
        case 'G':
            bad |= shop_opt_float(S_TRAIN, "--teacher-weight", optarg, 0, 1, 0, &teacher_weight);
            break;
        case 'H':
            bad |= shop_opt_float(S_TRAIN, "--teacher-temp", optarg, 0.5, 10, 0, &teacher_temp);
            break;
        case 'Y': beliefs = optarg; break;
        case 'Z': bad |= shop_opt_int(S_TRAIN, "--freeze", optarg, 0, 1000, &freeze); break;
        case 'Q': filler_classes = true; break;
        case 'R':
            if (!optarg || strcmp(optarg, "all") == 0) {
                domain_classes = AUDIO_DOMAIN_ALL;
            } else if (strcmp(optarg, "words") == 0) {
                domain_classes = AUDIO_DOMAIN_WORDS;
            } else {
                fprintf(stderr, "%s: --domain-classes: \"%s\" is neither all nor words\n",
                        S_TRAIN, optarg);
                bad = 1;
            }
            break;
        case 'J':
            bad |= shop_opt_float(S_TRAIN, "--domain-adversarial", optarg, 0, 100, 0, &dann);
            break;
        case 'X':
            bad |= shop_opt_double(S_TRAIN, "--wake-min", optarg, 0, 1, 0, &wake_min);
            break;
        case 'E': set = optarg; break;
        default: s_usage_train(); return ch == 'h' ? 0 : 2;
        }
    }
    if (bad || cli_no_operands(S_TRAIN, argc, argv) != 0)
        return 2;
    if (set && (wake_min < 0 || corpus_dir || calibrate || fuse || beliefs || init || teacher
                || real_dir)) {
        fprintf(stderr, "%s: --set MODEL takes --wake-min C and --out alone\n", S_TRAIN);
        return 2;
    }
    if ((!corpus_dir && !set) || (fuse && (calibrate || init)) || (fuse_w && !fuse)
        || (teacher && (calibrate || fuse)) || (beliefs && (calibrate || fuse || init || teacher))
        || (freeze > 0 && !init) || (dann > 0 && (!real_dir || calibrate || fuse || beliefs))
        || ((filler_classes || domain_classes) && (!real_dir || calibrate || fuse || beliefs))) {
        s_usage_train();
        return 2;
    }
    audio_train_opts_t o = {
        .corpus_dir = corpus_dir, .out = out, .calibrate = calibrate, .skip = skip,
        .holdout = holdout, .real_dir = real_dir, .init = init, .real_copies = real_copies,
        .fsdd_copies = fsdd_copies, .real_noise = real_noise, .fa_rate = fa_rate, .epochs = epochs, .copies = copies,
        .channels = channels, .blocks = blocks, .batch = batch, .threads = threads,
        .limit = limit, .stride = stride, .lr = lr, .between = between, .thr_min = thr_min,
        .seed = seed, .prefix_ends = prefix_ends, .fuse = fuse, .fuse_weights = fuse_w,
        .teacher = teacher, .teacher_weight = teacher_weight, .teacher_temp = teacher_temp,
        .beliefs = beliefs, .freeze = freeze, .domain_adversarial = dann,
        .filler_classes = filler_classes, .domain_classes = domain_classes,
        .set = set, .has_wake_min = wake_min >= 0, .wake_min = wake_min,
    };
    char err[512];
    if (audio_train_run(&o, err, sizeof err) != 0) {
        if (err[0])
            fprintf(stderr, "shop-train audio: %s\n", err);
        return 1;
    }
    return 0;
}

static void
s_usage_eval(void)
{
    fprintf(stderr,
            "usage: shop-eval audio [--corpus DIR] [--real-data DIR | --no-real] [--model PATH]\n"
            "                       [--json] [--commands N] [--background-min M]\n"
            "                       [--noise-hours H] [--seed N]\n"
            "                       [--pad-silence] [--voices test|val] [--holdout V1,V2]\n"
            "                       [--stride S] [--skip-penalty P] [--wake-min C]\n"
            "  --corpus: command acceptance by SNR, false accepts per hour, wake-word miss\n"
            "  rate and real-time factor of the keyword spotter on the synthetic corpus's\n"
            "  held-out test voices (or on the validation voices, to tune without looking\n"
            "  at the test voices; --holdout adds training voices a model was trained\n"
            "  without, as its `shop-train audio --holdout` did);\n"
            "  real speech (Speech Commands, FSDD) of the validation speakers (with\n"
            "  --voices val, of the calibration speakers, to tune on) in\n"
            "  --real-data DIR (default: ../shared/data beside the data directory, i.e.\n"
            "  $SHOPD_DATADIR/../shared/data, when it exists): yes/no acceptance, false\n"
            "  accepts per non-command clip, digit word accuracy, overall and per speaker;\n"
            "  --background-min M: the false accepts' background, M/2 minutes of\n"
            "  non-command speech in noise and M/2 of noise alone (30), the noise alone\n"
            "  shared equally by the split's noise kinds (white, pink, brown, hum, music,\n"
            "  babble, fan; fan in the test split only); --noise-hours H makes the noise\n"
            "  alone H hours instead; printed: the false accepts per noise kind, for the\n"
            "  noise alone with and without babble (background speech) and for babble\n"
            "  alone, each with the one-sided 95 %% upper bound of its rate (exact\n"
            "  Poisson: 0 events in T hours, 3.0/T); every word may begin a command\n"
            "  there, and the same background also goes through shopd's listener as\n"
            "  it runs by default (commands only after the wake word; JSON\n"
            "  \"with_wake_word\"), as do the wake-word commands at 10 dB;\n"

            "  --skip-penalty overrides the grammar's unmatched_penalty, the least factor a\n"
            "                 skipped heard word costs (0.2);\n"
            "  --wake-min C: the listener's least wake-word confidence that begins a\n"
            "                command (default: the model's kws.wake_min, as the daemon\n"
            "                listens, or 0 when it carries none; 0: the model's\n"
            "                threshold alone);\n"
            "  the grammar reads confidences with the model's belief constants when it\n"
            "  carries them (`shop-train audio --beliefs`), else with its defaults; the\n"
            "  JSON's \"beliefs\" says which; \"misread_commands\": commands read as\n"
            "  another intent (or other slots)\n");
}

int
audio_eval_main(int argc, char **argv)
{
    const char *corpus_dir = NULL, *model = NULL, *holdout = NULL, *real_dir = NULL;
    bool json = false, pad_silence = false, val = false, no_real = false;
    int n_cmd = 400, seed = 1, stride = 0;
    double bg_min = 30, noise_hours = 0;
    float skip_penalty = 0;     /* 0: the grammar default */
    listener_config_t listen_def;
    listener_config_default(&listen_def);
    double wake_min = listen_def.wake_min;   /* the model's, as shopd listens by default */
    static const struct option longopts[] = {
        { "corpus", required_argument, NULL, 'c' }, { "model", required_argument, NULL, 'm' },
        { "json", no_argument, NULL, 'j' },         { "commands", required_argument, NULL, 'n' },
        { "background-min", required_argument, NULL, 'b' },
        { "noise-hours", required_argument, NULL, 'H' },
        { "seed", required_argument, NULL, 's' },   { "help", no_argument, NULL, 'h' },
        { "pad-silence", no_argument, NULL, 'p' }, { "voices", required_argument, NULL, 'v' },
        { "stride", required_argument, NULL, 'S' }, { "skip-penalty", required_argument, NULL, 'P' },
        { "holdout", required_argument, NULL, 'O' },
        { "real-data", required_argument, NULL, 'R' }, { "no-real", no_argument, NULL, 'N' },
        { "wake-min", required_argument, NULL, 'W' },
        { NULL, 0, NULL, 0 },
    };
    int ch, bad = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:m:jn:b:H:s:pv:S:P:O:R:W:Nh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': corpus_dir = optarg; break;
        case 'm': model = optarg; break;
        case 'j': json = true; break;
        case 'n': bad |= shop_opt_int(S_EVAL, "--commands", optarg, 1, INT_MAX, &n_cmd); break;
        case 'b':
            bad |= shop_opt_double(S_EVAL, "--background-min", optarg, 0, HUGE_VAL, SHOP_OPEN_LO,
                                   &bg_min);
            break;
        case 'H':
            bad |= shop_opt_double(S_EVAL, "--noise-hours", optarg, 0, 1000, 0, &noise_hours);
            break;
        case 's': bad |= shop_opt_int(S_EVAL, "--seed", optarg, 0, INT_MAX, &seed); break;
        case 'p': pad_silence = true; break;
        case 'S': bad |= shop_opt_int(S_EVAL, "--stride", optarg, 0, 50, &stride); break;
        case 'P':
            bad |= shop_opt_float(S_EVAL, "--skip-penalty", optarg, 0, 1, 0, &skip_penalty);
            break;
        case 'O': holdout = optarg; break;
        case 'R': real_dir = optarg; break;
        case 'N': no_real = true; break;
        case 'W': bad |= shop_opt_double(S_EVAL, "--wake-min", optarg, 0, 1, 0, &wake_min); break;
        case 'v':
            if (strcmp(optarg, "val") != 0 && strcmp(optarg, "test") != 0) {
                s_usage_eval();
                return 2;
            }
            val = strcmp(optarg, "val") == 0;
            break;
        default: s_usage_eval(); return ch == 'h' ? 0 : 2;
        }
    }
    if (bad || cli_no_operands(S_EVAL, argc, argv) != 0)
        return 2;
    char real_buf[1024];
    if (!real_dir && !no_real) {
        /* the shared data folder beside the source tree, when there is one */
        real_dir = shop_data_path("../shared/data", real_buf, sizeof real_buf);
        struct stat st;
        if (stat(real_dir, &st) != 0)
            real_dir = NULL;
    }
    if (no_real)
        real_dir = NULL;
    if (!corpus_dir && !real_dir) {
        s_usage_eval();
        return 2;
    }
    audio_eval_opts_t o = {
        .corpus_dir = corpus_dir, .model = model, .holdout = holdout, .real_dir = real_dir,
        .json = json, .pad_silence = pad_silence, .val = val, .n_cmd = n_cmd, .seed = seed,
        .stride = stride, .bg_min = bg_min, .noise_hours = noise_hours,
        .skip_penalty = skip_penalty, .wake_min = wake_min,
    };
    char err[512];
    if (audio_eval_run(&o, err, sizeof err) != 0) {
        if (err[0])
            fprintf(stderr, "shop-eval audio: %s\n", err);
        return 1;
    }
    return 0;
}
