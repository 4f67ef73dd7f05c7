/* tests/audio_kws_teacher_test.c: `shop-train audio --teacher` (distillation
 * from a trained spotter into the targets of the synthetic windows).
 *
 * On a small corpus synthesised here, one epoch of a small net:
 * - with the teacher's weight 0 every target is the window's label, and the
 *   trained net is bit for bit the one trained without a teacher (a one-hot
 *   soft target trains exactly as its label);
 * - with weight 1 the targets are the shipped model's posteriors and the net
 *   differs;
 * - a teacher that cannot be read, or a spotter of other words, is refused
 *   with its name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/corpus.h"
#include "audio/kws.h"
#include "audio/train.h"
#include "audio/vocab.h"
#include "nn/nn.h"

static char s_model[1024];
static char s_dir[] = "/tmp/shop-kws-teacher-test-XXXXXX";

/* Trains one epoch of a 16-channel net into name; returns 0 or -1 (err). */
static int
s_train(const char *name, const char *teacher, float weight, char *err, size_t errlen)
{
    char corpus[256], out[256];
    snprintf(corpus, sizeof corpus, "%s/corpus", s_dir);
    snprintf(out, sizeof out, "%s/%s", s_dir, name);
    audio_train_opts_t o = {
        .corpus_dir = corpus, .out = out, .fa_rate = 0.01f, .epochs = 1, .copies = 1,
        .channels = 16, .blocks = 2, .batch = 64, .threads = 1, .stride = 5, .lr = 0.003f,
        .between = 1, .thr_min = 0.25f, .seed = 3, .teacher = teacher,
        .teacher_weight = weight, .teacher_temp = 2.f,
    };
    return audio_train_run(&o, err, errlen);
}

/* The posteriors of model name on n fixed pseudo-random inputs. */
static void
s_outputs(const char *name, float *out, int n)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    nn_net_t *net = nn_load(path, err, sizeof err);
    if (!net)
        fail_msg("%s", err);
    enum { PER = KWS_FRAMES * 40 };
    float *x = malloc((size_t) n * PER * sizeof *x);
    assert_non_null(x);
    uint64_t rng = 42;
    for (int i = 0; i < n * PER; i++)
        x[i] = 2.f * nn_rand_float(&rng) - 1.f;
    assert_int_equal(nn_forward(net, x, n, out), 0);
    free(x);
    nn_destroy(&net);
}

static void
test_teacher_weight_zero_is_no_teacher_and_one_changes_the_net(void **state)
{
    (void) state;
    char corpus[256], err[512] = "";
    snprintf(corpus, sizeof corpus, "%s/corpus", s_dir);
    corpus_gen_opts_t g = { .out_dir = corpus, .seed = 1, .scale = 1, .limit = 120 };
    if (corpus_generate(&g, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (s_train("plain.nn", NULL, 0, err, sizeof err) != 0
        || s_train("w0.nn", s_model, 0, err, sizeof err) != 0
        || s_train("w1.nn", s_model, 1, err, sizeof err) != 0)
        fail_msg("%s", err);
    enum { N = 8 };
    float a[N * VOCAB_COUNT], b[N * VOCAB_COUNT], c[N * VOCAB_COUNT];
    s_outputs("plain.nn", a, N);
    s_outputs("w0.nn", b, N);
    s_outputs("w1.nn", c, N);
    assert_memory_equal(a, b, sizeof a);
    double diff = 0;
    for (int i = 0; i < N * VOCAB_COUNT; i++)
        diff += fabs((double) a[i] - c[i]);
    assert_true(diff > 1e-3);
    /* the teacher is named in the provenance */
    char path[256];
    snprintf(path, sizeof path, "%s/w1.nn", s_dir);
    nn_net_t *net = nn_load(path, err, sizeof err);
    assert_non_null(net);
    const char *prov = nn_meta_get(net, "provenance");
    assert_non_null(prov);
    assert_non_null(strstr(prov, "--teacher-weight 1 --teacher-temp 2"));
    nn_destroy(&net);
    /* an unreadable teacher is refused by name */
    char missing[256];
    snprintf(missing, sizeof missing, "%s/none.nn", s_dir);
    assert_int_equal(s_train("bad.nn", missing, 0.5f, err, sizeof err), -1);
    assert_non_null(strstr(err, "none.nn"));
    /* so is a spotter of other words, as --fuse refuses it */
    char other[256];
    snprintf(other, sizeof other, "%s/other.nn", s_dir);
    net = nn_load(s_model, err, sizeof err);
    assert_non_null(net);
    const char *labels[VOCAB_COUNT];
    for (int i = 0; i < VOCAB_COUNT; i++)
        labels[i] = vocab_name(i);
    labels[5] = "purchase";
    assert_int_equal(nn_set_labels(net, labels, VOCAB_COUNT), 0);
    assert_int_equal(nn_save(net, other, err, sizeof err), 0);
    nn_destroy(&net);
    assert_int_equal(s_train("bad.nn", other, 0.5f, err, sizeof err), -1);
    assert_non_null(strstr(err, "other.nn: label 5 is \"purchase\""));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", s_dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const char *top = getenv("SHOPD_DATADIR");
    snprintf(s_model, sizeof s_model, "%s/models/kws.nn", top ? top : ".");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_teacher_weight_zero_is_no_teacher_and_one_changes_the_net),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(s_dir);
    return rc;
}
