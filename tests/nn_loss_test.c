/* tests/nn_loss_test.c: nn_train with a caller's loss (nn_train_opts_t.loss).
 * The reference is the trainer's own softmax cross-entropy: a net ending in
 * dense logits trained through a caller's loss that computes softmax
 * cross-entropy must end with the weights of the same net ending in
 * nn_softmax_xent trained on the labels (same seed, same batches), and its
 * validation loss must be nn_evaluate's. Partial label sets (nn_data_t.subset)
 * are held to the same reference: a caller's loss computing each sample's
 * softmax over its subset alone. Also the refusals. */
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

/* The same with samples labelled -1 left out (no loss, zero gradient). */
static double
s_xent_masked(const float *out, int n, int size, const int *idx, bool val, float scale,
              float *grad, void *user)
{
    s_loss_ctx_t *c = user;
    double loss = 0;
    for (int i = 0; i < n; i++) {
        if (c->train_y[idx[i]] >= 0) {
            loss += s_xent(out + (size_t) i * size, 1, size, idx + i, val, scale,
                           grad ? grad + (size_t) i * size : NULL, user);
        } else if (grad) {
            for (int k = 0; k < size; k++)
                grad[(size_t) i * size + k] = 0.0f;
        }
    }
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

/* Two trainings of one net and data, by the trainer's loss and by the
 * reference: weights within 1e-4 (relative), the 3 epochs' training losses
 * within 1e-4 and validation losses within 1e-3. */
static void
s_assert_same_training(const nn_net_t *ref, const nn_net_t *net, const nn_history_t *h_ref,
                       const nn_history_t *h)
{
    assert_int_equal(ref->n_params, net->n_params);
    for (size_t i = 0; i < ref->n_params; i++)
        assert_true(fabsf(ref->params[i] - net->params[i])
                    <= 1e-4f * fmaxf(1.f, fabsf(ref->params[i])));
    for (int e = 0; e < 3; e++) {
        assert_true(fabsf(h_ref->epochs[e].loss - h->epochs[e].loss) < 1e-4f);
        assert_true(fabsf(h_ref->epochs[e].val_loss - h->epochs[e].val_loss) < 1e-3f);
    }
}

/* The trainer's options of every test here: 3 epochs of batches of 16, AdamW. */
static void
s_opts(nn_train_opts_t *o)
{
    nn_train_opts_default(o);
    o->epochs = 3;
    o->batch = 16;
    o->optimizer = NN_ADAMW;
    o->lr = 0.01f;
    o->threads = 2;
    o->verbose = 0;
    o->restore_best = false;
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
    s_opts(&o);
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
    s_assert_same_training(ref, own, &h_ref, &h_own);
    for (int e = 0; e < 3; e++)
        assert_true(isnan(h_own.epochs[e].val_acc));
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

typedef struct {
    nn_net_t *net;
    int grl;
    float lambda;
    long calls, last, total;
} s_step_ctx_t;

static void
s_step(long step, long total, void *user)
{
    s_step_ctx_t *c = user;
    assert_int_equal(step, c->last + 1);
    c->last = step;
    c->total = total;
    c->calls++;
    assert_int_equal(nn_grad_reverse_set(c->net, c->grl, c->lambda), 0);
}

/* A second head (nn_train_opts_t.aux) behind a gradient reversal: with
 * lambda 0 the shared layers and the class head train exactly (bit for bit)
 * as the net without the head, which the reversal then leaves alone; with
 * lambda 1 the domain loss reaches the shared layers. The step hook runs
 * once before every step; the epochs report the second head's loss. Also
 * the refusals of a bad second head. */
static void
test_second_head_behind_reversal(void **state)
{
    (void) state;
    static float xt[N * SIDE * SIDE], xv[32 * SIDE * SIDE];
    static int32_t yt[N], yv[32], dom[N];
    s_data(xt, yt, N, 3);
    s_data(xv, yv, 32, 4);
    for (int i = 0; i < N; i++)
        dom[i] = i % 5 == 4 ? -1 : (yt[i] + i / 7) % 2;   /* some samples without a domain */
    nn_shape_t shape = { 1, SIDE, SIDE };
    nn_data_t dt = { .x = xt, .y = yt, .n = N, .shape = shape };
    nn_data_t dv = { .x = xv, .y = yv, .n = 32, .shape = shape };
    nn_train_opts_t o;
    s_opts(&o);
    o.val = &dv;
    char err[256];
    nn_net_t *ref = s_net(true);
    nn_history_t h;
    assert_int_equal(nn_train(ref, &dt, &o, &h, err, sizeof err), 0);
    assert_true(isnan(h.epochs[0].aux_loss));
    nn_history_free(&h);
    size_t np = ref->n_params;
    for (int k = 0; k < 2; k++) {
        nn_net_t *two = s_net(true);
        int out = nn_num_layers(two) - 1, emb = out - 2;
        int grl = nn_grad_reverse(two, emb, 0.5f);
        int aux = nn_dense(two, nn_relu(two, nn_dense(two, grl, 6)), 2);
        assert_true(aux > 0);
        assert_int_equal(nn_set_output(two, out), 0);
        s_loss_ctx_t lc = { .train_y = dom };
        s_step_ctx_t sc = { .net = two, .grl = grl, .lambda = (float) k, .last = -1 };
        o.aux = aux;
        o.aux_loss = s_xent_masked;
        o.aux_user = &lc;
        o.step = s_step;
        o.step_user = &sc;
        assert_int_equal(nn_train(two, &dt, &o, &h, err, sizeof err), 0);
        assert_int_equal(sc.calls, 3 * (N / 16));
        assert_int_equal(sc.total, 3 * (N / 16));
        for (int e = 0; e < 3; e++)
            assert_true(isfinite(h.epochs[e].aux_loss) && h.epochs[e].aux_loss > 0.0f);
        /* the domain head learned (lambda 0: nothing works against it) */
        if (k == 0)
            assert_true(h.epochs[2].aux_loss < h.epochs[0].aux_loss);
        nn_history_free(&h);
        bool same = memcmp(two->params, ref->params, np * sizeof(float)) == 0
                    && memcmp(two->state, ref->state, ref->n_state * sizeof(float)) == 0;
        assert_true(k == 0 ? same : !same);
        /* the head's layers only */
        if (k == 1) {
            assert_int_equal(nn_truncate(two, out + 1), 0);
            assert_int_equal(two->n_params, np);
        }
        nn_destroy(&two);
    }
    /* refusals: the output, a softmax_xent or a frozen layer as second head */
    nn_net_t *two = s_net(true);
    int out = nn_num_layers(two) - 1;
    int aux = nn_dense(two, nn_grad_reverse(two, out - 2, 1.0f), 2);
    int sm = nn_softmax_xent(two, aux);
    assert_true(sm > 0);
    assert_int_equal(nn_set_output(two, out), 0);
    s_loss_ctx_t lc = { .train_y = dom };
    o.aux_user = &lc;
    o.step = NULL;
    o.aux = out;
    assert_int_equal(nn_train(two, &dt, &o, NULL, err, sizeof err), -1);
    o.aux = sm;
    assert_int_equal(nn_train(two, &dt, &o, NULL, err, sizeof err), -1);
    o.aux = 0;
    assert_int_equal(nn_train(two, &dt, &o, NULL, err, sizeof err), -1);
    o.aux = 1;          /* the conv, frozen */
    o.freeze = 2;
    assert_int_equal(nn_train(two, &dt, &o, NULL, err, sizeof err), -1);
    nn_destroy(&two);
    nn_destroy(&ref);
}

/* Subsets: samples of subset 1 hold classes 0 and 1 alone. */
static const uint8_t s_subsets[2 * K] = { 1, 1, 1, 1, 1, 1, 0, 0 };

typedef struct {
    const int32_t *train_y, *val_y;
    const uint8_t *train_g, *val_g;
    float eps;   /* label smoothing, training only */
} s_sub_ctx_t;

/* Softmax cross-entropy over each sample's subset, label smoothing eps
 * spread over the subset's classes; written independently of nn's. */
static double
s_xent_subset(const float *out, int n, int size, const int *idx, bool val, float scale,
              float *grad, void *user)
{
    s_sub_ctx_t *c = user;
    const int32_t *y = val ? c->val_y : c->train_y;
    const uint8_t *g = val ? c->val_g : c->train_g;
    double eps = val ? 0.0 : c->eps, loss = 0;
    for (int i = 0; i < n; i++) {
        const float *z = out + (size_t) i * size;
        const uint8_t *m = s_subsets + (size_t) g[idx[i]] * size;
        int nm = 0;
        double mx = -INFINITY, sum = 0;
        for (int k = 0; k < size; k++)
            if (m[k]) {
                nm++;
                mx = fmax(mx, z[k]);
            }
        for (int k = 0; k < size; k++)
            sum += m[k] ? exp(z[k] - mx) : 0.0;
        for (int k = 0; k < size; k++) {
            double t = m[k] ? (1.0 - eps) * (k == y[idx[i]]) + eps / nm : 0.0;
            double p = m[k] ? exp(z[k] - mx) / sum : 0.0;
            if (t > 0)
                loss -= t * (z[k] - mx - log(sum));
            if (grad)
                grad[(size_t) i * size + k] = (float) ((p - t) * scale);
        }
    }
    return loss;
}

static void
test_subsets_train_as_their_softmax(void **state)
{
    (void) state;
    static float xt[N * SIDE * SIDE], xv[32 * SIDE * SIDE];
    static int32_t yt[N], yv[32];
    static uint8_t gt[N], gv[32], zero[N];
    static const uint8_t all[K] = { 1, 1, 1, 1 };
    s_data(xt, yt, N, 3);
    s_data(xv, yv, 32, 4);
    for (int i = 0; i < N; i++)
        gt[i] = yt[i] < 2 && i % 3 == 0;
    for (int i = 0; i < 32; i++)
        gv[i] = yv[i] < 2 && i % 2 == 0;
    nn_shape_t shape = { 1, SIDE, SIDE };
    nn_train_opts_t o;
    s_opts(&o);
    o.label_smoothing = 0.1f;
    char err[256];

    /* one subset of every class trains bit for bit as no subsets */
    nn_net_t *a = s_net(true), *b = s_net(true);
    nn_data_t plain = { .x = xt, .y = yt, .n = N, .shape = shape };
    nn_data_t one = plain;
    one.subset = zero;
    one.subsets = all;
    one.n_subsets = 1;
    assert_int_equal(nn_train(a, &plain, &o, NULL, err, sizeof err), 0);
    assert_int_equal(nn_train(b, &one, &o, NULL, err, sizeof err), 0);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    nn_destroy(&a);
    nn_destroy(&b);

    /* two subsets: as the independent reference through a caller's loss */
    nn_net_t *ref = s_net(false), *sub = s_net(true);
    nn_data_t dt = { .x = xt, .y = yt, .n = N, .shape = shape, .subset = gt,
                     .subsets = s_subsets, .n_subsets = 2 };
    nn_data_t dv = { .x = xv, .y = yv, .n = 32, .shape = shape, .subset = gv,
                     .subsets = s_subsets, .n_subsets = 2 };
    o.val = &dv;
    nn_history_t h_sub, h_ref;
    assert_int_equal(nn_train(sub, &dt, &o, &h_sub, err, sizeof err), 0);
    s_sub_ctx_t ctx = { .train_y = yt, .val_y = yv, .train_g = gt, .val_g = gv, .eps = 0.1f };
    nn_data_t dt2 = { .x = xt, .n = N, .shape = shape };
    nn_data_t dv2 = { .x = xv, .n = 32, .shape = shape };
    o.val = &dv2;
    o.loss = s_xent_subset;
    o.loss_user = &ctx;
    assert_int_equal(nn_train(ref, &dt2, &o, &h_ref, err, sizeof err), 0);
    /* nn_evaluate scores the validation samples over their subsets too */
    s_assert_same_training(ref, sub, &h_ref, &h_sub);
    /* the subsets matter: the same data without them trains otherwise */
    nn_net_t *full = s_net(true);
    o.loss = NULL;
    o.val = NULL;
    assert_int_equal(nn_train(full, &plain, &o, NULL, err, sizeof err), 0);
    size_t differ = 0;
    for (size_t i = 0; i < full->n_params; i++)
        differ += fabsf(full->params[i] - sub->params[i]) > 1e-3f;
    assert_true(differ > full->n_params / 4);
    nn_history_free(&h_sub);
    nn_history_free(&h_ref);

    /* a validation split keeps each sample's subset: nn_evaluate reads the
     * held-out samples over their subsets (finite loss, accuracy in range) */
    nn_net_t *split = s_net(true);
    o.val_split = 0.25f;
    nn_history_t h_split;
    assert_int_equal(nn_train(split, &dt, &o, &h_split, err, sizeof err), 0);
    for (int e = 0; e < 3; e++) {
        assert_true(isfinite(h_split.epochs[e].val_loss) && h_split.epochs[e].val_loss > 0.0f);
        assert_true(h_split.epochs[e].val_acc >= 0.0f && h_split.epochs[e].val_acc <= 1.0f);
    }
    nn_history_free(&h_split);
    nn_destroy(&split);
    o.val_split = 0.0f;

    /* refusals: a label outside its subset, an id beyond the subsets, an
     * empty subset, ids without subsets */
    static uint8_t bad[N];
    memcpy(bad, gt, sizeof bad);
    bad[2] = 1;   /* sample 2 is class 2 */
    nn_data_t d = dt;
    d.subset = bad;
    assert_int_equal(nn_train(full, &d, &o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "label 2 of sample 2 is outside its subset 1"));
    bad[2] = 2;
    assert_int_equal(nn_train(full, &d, &o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "subset 2 of sample 2 not in 0..1"));
    static const uint8_t empty[2 * K] = { 1, 1, 1, 1, 0, 0, 0, 0 };
    d = dt;
    d.subsets = empty;
    assert_int_equal(nn_train(full, &d, &o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "subset 1 holds no class"));
    d.subsets = NULL;
    assert_int_equal(nn_train(full, &d, &o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "subset ids without 1..256 subsets"));
    /* nn_evaluate refuses them too, before reading past the masks */
    d = dt;
    d.subset = bad;   /* sample 2's id is 2, beyond the two subsets */
    assert_true(nn_evaluate(full, &d, NULL) < 0);
    assert_non_null(strstr(nn_error(full), "subset 2 of sample 2 not in 0..1"));
    nn_destroy(&full);
    nn_destroy(&ref);
    nn_destroy(&sub);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caller_loss_trains_as_softmax_xent),
        cmocka_unit_test(test_second_head_behind_reversal),
        cmocka_unit_test(test_subsets_train_as_their_softmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
