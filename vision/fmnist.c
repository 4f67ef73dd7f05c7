/* vision/fmnist.c: idx file reader through zlib (gzread reads plain files too). */
#include "config.h"

#include "vision/fmnist.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"

const char *const vision_fmnist_labels[VISION_FMNIST_CLASSES] = {
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
};

/* The largest set we accept: MNIST-sized files are 60k, leave room. */
#define FMNIST_MAX_ITEMS 1000000
#define FMNIST_MAX_SIDE 256

/* Reads exactly len bytes; returns 0, or -1 on a short read or error. */
static int
s_read(gzFile f, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned) len;
        int got = gzread(f, p, chunk);
        if (got <= 0)
            return -1;
        p += got;
        len -= (size_t) got;
    }
    return 0;
}

/* Opens path and checks its idx header: magic 0x00000800 | ndims with
 * unsigned-byte data, then ndims big-endian sizes into dims. */
static gzFile
s_open(const char *path, int ndims, uint32_t *dims, char *err, size_t errlen)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        shop_errf(err, errlen, "%s: %s", path, strerror(errno ? errno : ENOENT));
        return NULL;
    }
    uint8_t hdr[4 + 4 * 3];
    size_t hlen = 4 + 4 * (size_t) ndims;
    if (s_read(f, hdr, hlen) < 0) {
        shop_errf(err, errlen, "%s: truncated idx header", path);
        gzclose(f);
        return NULL;
    }
    if (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] != ndims) {
        shop_errf(err, errlen, "%s: not an idx%d unsigned-byte file (magic %02x%02x%02x%02x)", path,
                  ndims, hdr[0], hdr[1], hdr[2], hdr[3]);
        gzclose(f);
        return NULL;
    }
    for (int i = 0; i < ndims; i++) {
        const uint8_t *p = hdr + 4 + 4 * i;
        dims[i] = (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
    }
    return f;
}

/* True when nothing follows the data. */
static bool
s_at_end(gzFile f)
{
    uint8_t extra;
    return gzread(f, &extra, 1) == 0;
}

int
vision_fmnist_load(const char *images_path, const char *labels_path, vision_fmnist_t *ds,
                   char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    uint32_t idim[3], ldim[1];
    gzFile fi = NULL, fl = NULL;
    if (!(fi = s_open(images_path, 3, idim, err, errlen)))
        goto fail;
    if (!(fl = s_open(labels_path, 1, ldim, err, errlen)))
        goto fail;
    if (idim[0] == 0 || idim[0] > FMNIST_MAX_ITEMS || idim[1] == 0 || idim[1] > FMNIST_MAX_SIDE
        || idim[2] == 0 || idim[2] > FMNIST_MAX_SIDE) {
        shop_errf(err, errlen, "%s: implausible size %u x %u x %u", images_path, idim[0], idim[1],
                  idim[2]);
        goto fail;
    }
    if (ldim[0] != idim[0]) {
        shop_errf(err, errlen, "%s has %u labels for %u images", labels_path, ldim[0], idim[0]);
        goto fail;
    }
    ds->n = (int) idim[0];
    ds->rows = (int) idim[1];
    ds->cols = (int) idim[2];
    size_t npx = (size_t) ds->n * (size_t) ds->rows * (size_t) ds->cols;
    ds->pixels = xmalloc(npx);
    ds->labels = xmalloc((size_t) ds->n);
    if (s_read(fi, ds->pixels, npx) < 0 || !s_at_end(fi)) {
        shop_errf(err, errlen, "%s: expected exactly %zu bytes of pixels after the header",
                  images_path, npx);
        goto fail;
    }
    if (s_read(fl, ds->labels, (size_t) ds->n) < 0 || !s_at_end(fl)) {
        shop_errf(err, errlen, "%s: expected exactly %d labels after the header", labels_path,
                  ds->n);
        goto fail;
    }
    for (int i = 0; i < ds->n; i++) {
        if (ds->labels[i] >= VISION_FMNIST_CLASSES) {
            shop_errf(err, errlen, "%s: label %u of item %d is not a class (0..%d)", labels_path,
                      ds->labels[i], i, VISION_FMNIST_CLASSES - 1);
            goto fail;
        }
    }
    gzclose(fi);
    gzclose(fl);
    return 0;
fail:
    if (fi)
        gzclose(fi);
    if (fl)
        gzclose(fl);
    vision_fmnist_release(ds);
    return -1;
}

int
vision_fmnist_load_set(const char *dir, const char *set, vision_fmnist_t *ds, char *err,
                       size_t errlen)
{
    char ip[4096], lp[4096];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, set);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, set);
    return vision_fmnist_load(ip, lp, ds, err, errlen);
}

void
vision_fmnist_release(vision_fmnist_t *ds)
{
    if (!ds)
        return;
    free(ds->pixels);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}
