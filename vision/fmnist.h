/* vision/fmnist.h: reader of the (Fashion-)MNIST idx files, gzipped or not.
 *
 * The files come from Debian's dataset-fashion-mnist
 * (/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz).
 * Every header field is checked: magic numbers, dimensions, counts that agree
 * between images and labels, the exact amount of data (no short read, no
 * trailing bytes) and labels below the number of classes. */
#ifndef SHOP_VISION_FMNIST_H
#define SHOP_VISION_FMNIST_H

#include <stdint.h>
#include <stddef.h>

#define VISION_FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define VISION_FMNIST_CLASSES 10
/* The ten categories in label order, as the dataset documents them. */
extern const char *const vision_fmnist_labels[VISION_FMNIST_CLASSES];

/* A loaded set: n images of rows x cols gray bytes (product light on black). */
typedef struct {
    int n, rows, cols;
    uint8_t *pixels;    /* n * rows * cols bytes, owned */
    uint8_t *labels;    /* n bytes in [0, VISION_FMNIST_CLASSES), owned */
} vision_fmnist_t;

/* Loads images and labels (paths to idx3 / idx1 files, gzip or raw).
 * Returns 0 and fills *ds (release with vision_fmnist_release), or -1 with
 * *ds zeroed and a message in err. */
int vision_fmnist_load(const char *images_path, const char *labels_path, vision_fmnist_t *ds,
                       char *err, size_t errlen);

/* Loads "<dir>/<set>-images-idx3-ubyte.gz" and the labels, set being "train"
 * or "t10k". Same contract as vision_fmnist_load. */
int vision_fmnist_load_set(const char *dir, const char *set, vision_fmnist_t *ds, char *err,
                           size_t errlen);

/* Frees the arrays and zeroes *ds; safe twice. */
void vision_fmnist_release(vision_fmnist_t *ds);

#endif
