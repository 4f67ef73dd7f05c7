/* tests/nn_loss_test.c: nn_train with a caller's loss (nn_train_opts_t.loss).
 * The reference is the trainer's own softmax cross-entropy: a net ending in
 * dense logits trained through a caller's loss that computes softmax
 * cross-entropy must end with the weights of the same net ending in
 * nn_softmax_xent trained on the labels (same seed, same batches), and its
 * validation loss must be nn_evaluate's. Also the refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/internal.h"
#include "nn/nn.h"

enum { N = 96, K = 4, SIDE = 6 };

typedef struct {
    const int32_t *train_y, *val_y;
    int calls;
} s_loss_ctx_t;

/* Softmax cross-entropy of hard labels, written independently of nn's. */
static double
s_xent(const float *out, int n, int size, const int *idx, bool val, float scale, float *grad,
       void *user)
{
    s_loss_ctx_t *c = user;
    const int32_t *y = val ? c->val_y : c->train_y;
    double loss = 0;
    for (int i = 0; i < n; i++) {
        const float *z = out + (size_t) i * size;
        double mx = z[0], sum = 0;
        for (int k = 1; k < size; k++)
            mx = fmax(mx, z[k]);
        for (int k = 0; k < size; k++)
            sum += exp(z[k] - mx);
        loss += -(z[y[idx[i]]] - mx - log(sum));
        if (grad)
            for (int k = 0; k < size; k++)
                grad[(size_t) i * size + k] =
                    (float) ((exp(z[k] - mx) / sum - (k == y[idx[i]])) * scale);
    }
    __atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
    return loss;
}

static nn_net_t *
s_net(bool softmax)
{
    nn_net_t *net = nn_new(5);
    int x = nn_input(net, (nn_shape_t) { 1, SIDE, SIDE });
    x = nn_relu(net, nn_batchnorm(net, nn_conv2d(net, x, 4, 3, 3, 1, 1, 1, 1, false)));
    x = nn_dense(net, x, K);
    if (softmax)
        nn_softmax_xent(net, x);
    return net;
}

/* Class c is a bright square at a place of its own, with noise. */
static void
s_data(float *x, int32_t *y, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        y[i] = i % K;
        float *s = x + (size_t) i * SIDE * SIDE;
        for (int p = 0; p < SIDE * SIDE; p++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            s[p] = (float) ((double) (seed >> 40) / (double) (1 << 24)) * 0.5f;
        }
        int r = y[i] / 2 * 3, c = y[i] % 2 * 3;
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                s[(r + a) * SIDE + c + b] += 1.f;
    }
}

static void
test_caller_loss_trains_as_softmax_xent(void **state)
{
    (void) state;
    static float xt[N * SIDE * SIDE], xv[32 * SIDE * SIDE];
    static int32_t yt[N], yv[32];
    s_data(xt, yt, N, 1);
    s_data(xv, yv, 32, 2);
    nn_shape_t shape = { 1, SIDE, SIDE };
    nn_net_t *ref = s_net(true), *own = s_net(false);
    assert_non_null(ref);
    assert_non_null(own);
    assert_int_equal(ref->n_params, own->n_params);
    assert_memory_equal(ref->params, own->params, ref->n_params * sizeof(float));

    nn_data_t dt = { .x = xt, .y = yt, .n = N, .shape = shape };
    nn_data_t dv = { .x = xv, .y = yv, .n = 32, .shape = shape };
    nn_train_opts_t o;
    nn_train_opts_default(&o);
    o.epochs = 3;
    o.batch = 16;
    o.optimizer = NN_ADAMW;
    o.lr = 0.01f;
    o.threads = 2;
    o.verbose = 0;
    o.restore_best = false;
    o.val = &dv;
    char err[256];
    nn_history_t h_ref, h_own;
    assert_int_equal(nn_train(ref, &dt, &o, &h_ref, err, sizeof err), 0);

    /* the caller's loss: no labels in the data the trainer sees */
    s_loss_ctx_t ctx = { .train_y = yt, .val_y = yv };
    nn_data_t dt2 = { .x = xt, .n = N, .shape = shape };
    nn_data_t dv2 = { .x = xv, .n = 32, .shape = shape };
    o.val = &dv2;
    o.loss = s_xent;
    o.loss_user = &ctx;
    assert_int_equal(nn_train(own, &dt2, &o, &h_own, err, sizeof err), 0);
    /* 3 epochs x 6 batches x 2 shards, plus validation chunks */
    assert_true(ctx.calls >= 3 * 6 * 2);
    for (size_t i = 0; i < ref->n_params; i++)
        assert_true(fabsf(ref->params[i] - own->params[i])
                    <= 1e-4f * fmaxf(1.f, fabsf(ref->params[i])));
    for (int e = 0; e < 3; e++) {
        assert_true(fabsf(h_ref.epochs[e].loss - h_own.epochs[e].loss) < 1e-4f);
        assert_true(fabsf(h_ref.epochs[e].val_loss - h_own.epochs[e].val_loss) < 1e-3f);
        assert_true(isnan(h_own.epochs[e].val_acc));
    }
    /* the loss went down: it learned */
    assert_true(h_own.epochs[2].loss < h_own.epochs[0].loss);
    nn_history_free(&h_ref);
    nn_history_free(&h_own);

    /* refusals: a softmax_xent output with a caller's loss, and the reverse */
    assert_int_equal(nn_train(ref, &dt2, &o, NULL, err, sizeof err), -1);
    o.loss = NULL;
    o.val = &dv;
    assert_int_equal(nn_train(own, &dt, &o, NULL, err, sizeof err), -1);
    /* a caller's loss needs an explicit validation set, not a split */
    o.loss = s_xent;
    o.val = NULL;
    o.val_split = 0.2f;
    assert_int_equal(nn_train(own, &dt2, &o, NULL, err, sizeof err), -1);
    nn_destroy(&ref);
    nn_destroy(&own);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caller_loss_trains_as_softmax_xent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
