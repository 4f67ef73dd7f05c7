/* tests/audio_kws_dann_test.c: `shop-train audio --domain-adversarial`
 * (a real-vs-synthetic head behind a gradient reversal on the embedding).
 *
 * On a small corpus synthesised here and the real recordings of
 * tests/data/realspeech, one epoch of a small net:
 * - the model written is a plain spotter: the layers, shapes and parameter
 *   count of the same training without the head, loaded by the detector, its
 *   provenance naming the option; its weights differ from that training's
 *   (the reversed gradient reached the shared layers);
 * - with --init the head is put fresh on the loaded model, and the result
 *   is again the plain spotter's layer list;
 * - without real recordings there is no second domain: refused. */
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

static char s_real[1024];
static char s_dir[] = "/tmp/shop-kws-dann-test-XXXXXX";

/* Trains one epoch of a 16-channel net into name; returns 0 or -1 (err). */
static int
s_train(const char *name, const char *init, const char *real, float dann, char *err,
        size_t errlen)
{
    char corpus[256], out[256], from[256];
    snprintf(corpus, sizeof corpus, "%s/corpus", s_dir);
    snprintf(out, sizeof out, "%s/%s", s_dir, name);
    snprintf(from, sizeof from, "%s/%s", s_dir, init ? init : "");
    audio_train_opts_t o = {
        .corpus_dir = corpus, .out = out, .fa_rate = 0.01f, .epochs = 1, .copies = 1,
        .channels = 16, .blocks = 2, .batch = 64, .threads = 1, .stride = 5, .lr = 0.003f,
        .between = 1, .thr_min = 0.25f, .seed = 3, .real_dir = real, .real_copies = 4,
        .fsdd_copies = 4, .init = init ? from : NULL, .domain_adversarial = dann,
    };
    return audio_train_run(&o, err, errlen);
}

static nn_net_t *
s_load(const char *name)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    nn_net_t *net = nn_load(path, err, sizeof err);
    if (!net)
        fail_msg("%s", err);
    return net;
}

/* a and b have the same layers (types, shapes, names), output and
 * parameter count */
static void
s_same_layers(const nn_net_t *a, const nn_net_t *b)
{
    assert_int_equal(nn_num_layers(a), nn_num_layers(b));
    assert_int_equal(nn_num_params(a), nn_num_params(b));
    assert_int_equal(nn_output_size(a), nn_output_size(b));
    for (int l = 0; l < nn_num_layers(a); l++) {
        assert_string_equal(nn_layer_type(a, l), nn_layer_type(b, l));
        nn_shape_t sa = nn_layer_shape(a, l), sb = nn_layer_shape(b, l);
        assert_memory_equal(&sa, &sb, sizeof sa);
    }
}

/* The posteriors of net on n fixed pseudo-random inputs. */
static void
s_outputs(nn_net_t *net, float *out, int n)
{
    enum { PER = KWS_FRAMES * 40 };
    float *x = malloc((size_t) n * PER * sizeof *x);
    assert_non_null(x);
    uint64_t rng = 42;
    for (int i = 0; i < n * PER; i++)
        x[i] = 2.f * nn_rand_float(&rng) - 1.f;
    assert_int_equal(nn_forward(net, x, n, out), 0);
    free(x);
}

static void
test_domain_adversarial_writes_a_plain_spotter(void **state)
{
    (void) state;
    char corpus[256], err[512] = "";
    snprintf(corpus, sizeof corpus, "%s/corpus", s_dir);
    corpus_gen_opts_t g = { .out_dir = corpus, .seed = 1, .scale = 1, .limit = 120 };
    if (corpus_generate(&g, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (s_train("plain.nn", NULL, s_real, 0, err, sizeof err) != 0
        || s_train("dann.nn", NULL, s_real, 1.0f, err, sizeof err) != 0
        || s_train("init.nn", "plain.nn", s_real, 0.3f, err, sizeof err) != 0)
        fail_msg("%s", err);
    nn_net_t *plain = s_load("plain.nn"), *dann = s_load("dann.nn"), *init = s_load("init.nn");
    s_same_layers(plain, dann);
    s_same_layers(plain, init);
    for (int l = 0; l < nn_num_layers(dann); l++)
        assert_string_not_equal(nn_layer_type(dann, l), "grad_reverse");
    const char *prov = nn_meta_get(dann, "provenance");
    assert_non_null(prov);
    assert_non_null(strstr(prov, " --domain-adversarial 1 "));
    prov = nn_meta_get(init, "provenance");
    assert_non_null(prov);
    assert_non_null(strstr(prov, " --domain-adversarial 0.3 "));
    assert_null(strstr(nn_meta_get(plain, "provenance"), "domain-adversarial"));
    /* the same seed and data: only the reversed gradient tells them apart */
    enum { N = 8 };
    float a[N * VOCAB_COUNT], b[N * VOCAB_COUNT];
    s_outputs(plain, a, N);
    s_outputs(dann, b, N);
    double diff = 0;
    for (int i = 0; i < N * VOCAB_COUNT; i++)
        diff += fabs((double) a[i] - b[i]);
    assert_true(diff > 1e-4);
    nn_destroy(&plain);
    nn_destroy(&init);
    /* the detector takes it as any spotter */
    kws_t *k = kws_new_from_net(&dann, NULL, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    kws_destroy(&k);
    /* no real recordings: one domain only */
    assert_int_equal(s_train("bad.nn", NULL, NULL, 1.0f, err, sizeof err), -1);
    assert_non_null(strstr(err, "--domain-adversarial needs real and synthetic"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", s_dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const char *top = getenv("SHOPD_DATADIR");
    snprintf(s_real, sizeof s_real, "%s/tests/data/realspeech", top ? top : ".");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_adversarial_writes_a_plain_spotter),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(s_dir);
    return rc;
}
