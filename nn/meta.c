/* nn/meta.c: the metadata (key/value strings) and class labels saved
 * with a model. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nn/internal.h"

int
nn_meta_set(nn_net_t *net, const char *key, const char *value)
{
    if (!net)
        return -1;
    if (!key || !*key || strlen(key) >= NN_MAX_KEY)
        return nn_fail(net, "metadata key missing or longer than %d bytes", NN_MAX_KEY - 1);
    if (!value || strlen(value) >= NN_MAX_VALUE)
        return nn_fail(net, "metadata value missing or longer than %d bytes", NN_MAX_VALUE - 1);
    for (int i = 0; i < net->n_meta; i++)
        if (strcmp(net->meta_k[i], key) == 0) {
            free(net->meta_v[i]);
            net->meta_v[i] = xstrdup(value);
            return 0;
        }
    if (net->n_meta >= NN_MAX_META)
        return nn_fail(net, "more than %d metadata keys", NN_MAX_META);
    net->meta_k = xrealloc(net->meta_k, (size_t) (net->n_meta + 1) * sizeof(char *));
    net->meta_v = xrealloc(net->meta_v, (size_t) (net->n_meta + 1) * sizeof(char *));
    net->meta_k[net->n_meta] = xstrdup(key);
    net->meta_v[net->n_meta] = xstrdup(value);
    net->n_meta++;
    return 0;
}

const char *
nn_meta_get(const nn_net_t *net, const char *key)
{
    for (int i = 0; net && key && i < net->n_meta; i++)
        if (strcmp(net->meta_k[i], key) == 0)
            return net->meta_v[i];
    return NULL;
}

int
nn_meta_unset(nn_net_t *net, const char *key)
{
    if (!net || !key)
        return -1;
    for (int i = 0; i < net->n_meta; i++)
        if (strcmp(net->meta_k[i], key) == 0) {
            free(net->meta_k[i]);
            free(net->meta_v[i]);
            /* later keys move up: the file keeps the order they were set in */
            memmove(net->meta_k + i, net->meta_k + i + 1,
                    (size_t) (net->n_meta - i - 1) * sizeof(char *));
            memmove(net->meta_v + i, net->meta_v + i + 1,
                    (size_t) (net->n_meta - i - 1) * sizeof(char *));
            net->n_meta--;
            return 0;
        }
    return 0;
}

int nn_meta_count(const nn_net_t *net) { return net ? net->n_meta : 0; }

int
nn_meta_at(const nn_net_t *net, int i, const char **key, const char **value)
{
    if (!net || i < 0 || i >= net->n_meta)
        return -1;
    if (key)
        *key = net->meta_k[i];
    if (value)
        *value = net->meta_v[i];
    return 0;
}

int
nn_set_labels(nn_net_t *net, const char *const *labels, int n)
{
    if (!net)
        return -1;
    if (n < 0 || n > NN_MAX_LABELS || (n > 0 && !labels))
        return nn_fail(net, "labels: count must be 0..%d", NN_MAX_LABELS);
    for (int i = 0; i < n; i++)
        if (!labels[i] || strlen(labels[i]) >= NN_MAX_NAME)
            return nn_fail(net, "label %d missing or longer than %d bytes", i, NN_MAX_NAME - 1);
    for (int i = 0; i < net->n_labels; i++)
        free(net->labels[i]);
    free(net->labels);
    net->labels = n ? xcalloc((size_t) n, sizeof(char *)) : NULL;
    for (int i = 0; i < n; i++)
        net->labels[i] = xstrdup(labels[i]);
    net->n_labels = n;
    return 0;
}

int nn_num_labels(const nn_net_t *net) { return net ? net->n_labels : 0; }

const char *
nn_label(const nn_net_t *net, int i)
{
    return net && i >= 0 && i < net->n_labels ? net->labels[i] : NULL;
}
