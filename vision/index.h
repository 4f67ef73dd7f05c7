/* vision/index.h: visual search, "more like this".
 *
 * Holds the L2-normalised embeddings of catalogue product photos (from
 * vision_classify) with the caller's product ids, and returns the products
 * whose embeddings have the highest cosine similarity with a query. Search is
 * exact (one dot product per item), which answers in about a millisecond for
 * the thousands of products of a store. An index can be saved and loaded so
 * the catalogue's photos are embedded once; the file carries a key (any text
 * the caller chooses, e.g. what the embeddings were made from) so that a
 * caller can tell whether a saved index is still the one it would build. */
#ifndef SHOP_VISION_INDEX_H
#define SHOP_VISION_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t id;           /* the product id given to vision_index_add */
    float score;          /* cosine similarity in [-1, 1] */
} vision_hit_t;

typedef struct _vision_index_t vision_index_t;

/* Returns an empty index of dim-float embeddings (1..65536), or NULL. */
vision_index_t *vision_index_new(int dim);
void vision_index_destroy(vision_index_t **idx_p);

/* Adds a copy of emb (normalised here) under id. Returns 0, or -1 for a zero
 * or non-finite vector. Ids need not be unique (several photos of one
 * product). */
int vision_index_add(vision_index_t *idx, int64_t id, const float *emb);
int vision_index_size(const vision_index_t *idx);
int vision_index_dim(const vision_index_t *idx);

/* Writes the k most similar items to query (dim floats, need not be
 * normalised) into hits, best first, skipping items whose id equals
 * exclude_id (pass -1 to keep all; a product is not "like itself").
 * Returns the number of hits written (<= k). */
int vision_index_search(const vision_index_t *idx, const float *query, int k, int64_t exclude_id,
                        vision_hit_t *hits);

/* Item i (0 .. size - 1): returns its unit-length vector (dim floats, owned
 * by idx, valid until the next add or destroy) and sets *id when id is not
 * NULL; NULL when i is out of range. */
const float *vision_index_item(const vision_index_t *idx, int i, int64_t *id);

#define VISION_INDEX_MAX_KEY (16u << 20)

/* Saves to path (atomically) with key (NUL-terminated, at most
 * VISION_INDEX_MAX_KEY bytes; NULL = ""). Returns 0 or -1 with a message. */
int vision_index_save(const vision_index_t *idx, const char *path, const char *key, char *err,
                      size_t errlen);
/* Loads an index saved by vision_index_save; every count is checked against
 * the file's size and the whole file against its checksum. Returns it, or
 * NULL with a message. When key is not NULL, *key is set to a new copy of
 * the saved key (caller frees; NULL on failure). */
vision_index_t *vision_index_load(const char *path, char **key, char *err, size_t errlen);

#endif
