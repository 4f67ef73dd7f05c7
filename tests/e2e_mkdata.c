/* tests/e2e_mkdata.c: product photos for the demo, the end-to-end tests and
 * the end-to-end benchmark.
 *
 * usage: tests/e2e_mkdata FASHION_MNIST_DIR OUT_DIR [WIDTH HEIGHT]
 * Renders, for each of the ten categories, the first Fashion-MNIST test item
 * of that category from index 1000 on (the demo catalogue uses items 0-300,
 * so these products are not in the shop) as a photo-like JPEG: a dark
 * product on a light, slightly graded and noisy background, 640x480 unless
 * WIDTH HEIGHT are given. Files are OUT_DIR/<label>.jpg with the dataset's
 * label, '/' and spaces as '-' ("sneaker.jpg", "ankle-boot.jpg"). data/demo/requests/sneaker-photo.jpg
 * is sneaker.jpg from `tests/e2e_mkdata /usr/share/datasets/fashion-mnist DIR`. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/vision_util.h"
#include "vision/fmnist.h"

int
main(int argc, char **argv)
{
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: e2e_mkdata FASHION_MNIST_DIR OUT_DIR [WIDTH HEIGHT]\n");
        return 2;
    }
    int w = argc == 5 ? atoi(argv[3]) : 640, h = argc == 5 ? atoi(argv[4]) : 480;
    if (w < 28 || h < 28 || w > 8000 || h > 8000) {
        fprintf(stderr, "e2e_mkdata: WIDTH and HEIGHT must be 28 to 8000\n");
        return 2;
    }
    vision_fmnist_t ds;
    char err[512];
    if (vision_fmnist_load_set(argv[1], "t10k", &ds, err, sizeof err) != 0) {
        fprintf(stderr, "e2e_mkdata: %s\n", err);
        return 1;
    }
    static const uint8_t fg[3] = { 38, 42, 60 }, bg[3] = { 236, 234, 228 };
    int rc = 0;
    for (int c = 0; c < VISION_FMNIST_CLASSES && rc == 0; c++) {
        int i = 1000;
        while (i < ds.n && ds.labels[i] != c)
            i++;
        if (i == ds.n) {
            fprintf(stderr, "e2e_mkdata: no test item of class %d from 1000 on\n", c);
            rc = 1;
            break;
        }
        const uint8_t *item = ds.pixels + (size_t) i * (size_t) (ds.rows * ds.cols);
        uint8_t *rgb = vt_render(item, w, h, 0.7f, 0.5f, 0.5f, fg, bg, 4, (uint32_t) (i + 1));
        size_t len = 0;
        uint8_t *jpg = vt_encode_jpeg(rgb, w, h, 90, &len);
        free(rgb);
        char name[64], path[4096];
        snprintf(name, sizeof name, "%s", vision_fmnist_labels[c]);
        for (char *p = name; *p; p++)
            if (*p == '/' || *p == ' ')
                *p = '-';
        snprintf(path, sizeof path, "%s/%s.jpg", argv[2], name);
        if (!jpg || vt_write(path, jpg, len) != 0) {
            fprintf(stderr, "e2e_mkdata: cannot write %s\n", path);
            rc = 1;
        } else {
            printf("%s (test item %d, %zu bytes)\n", path, i, len);
        }
        free(jpg);
    }
    vision_fmnist_release(&ds);
    return rc;
}
