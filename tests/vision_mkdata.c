/* tests/vision_mkdata.c: makes the small image files of tests/data/vision/.
 *
 * usage: tests/vision_mkdata FASHION_MNIST_DIR OUT_DIR
 * Renders Fashion-MNIST test item 0 (an ankle boot) as photos and camera
 * frames, and writes the broken inputs the decoder must refuse. The files are
 * committed; this program documents and reproduces how they were made.
 *
 * The camera recordings (camera_*.avi, the recorded-frames source of
 * vision/framesrc.h) are wrapped by ffmpeg, a writer independent of our
 * reader, from the raw frame streams this program writes to OUT_DIR/raw/
 * (frames back to back, as `v4l2-ctl --stream-to` saves them):
 *   ffmpeg -f rawvideo -pix_fmt yuyv422 -video_size 160x120 -framerate 10 \
 *     -i raw/camera_still_160x120.yuyv -c:v copy camera_still_160x120_yuyv.avi
 *   ffmpeg -f image2pipe -framerate 10 -c:v mjpeg -i raw/camera_still_320x240.mjpeg \
 *     -c:v copy camera_still_320x240_mjpeg.avi
 *   ffmpeg -f image2pipe -framerate 10 -c:v mjpeg -i raw/camera_scene_320x240.mjpeg \
 *     -c:v copy camera_scene_320x240_mjpeg.avi
 * (ffmpeg 5.1, Debian 12). The still recordings hold the boot in front of a
 * wall (2 frames, sensor noise differing); the scene is 3 frames of the
 * empty wall, the boot brought in over 3 frames, then held still for 8. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "common/util.h"
#include "tests/vision_util.h"
#include "vision/fmnist.h"

static int
s_put(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (vt_write(path, data, len) < 0) {
        fprintf(stderr, "vision_mkdata: cannot write %s\n", path);
        return -1;
    }
    printf("%s (%zu bytes)\n", path, len);
    return 0;
}

/* Packs RGB into YUYV 4:2:2 (BT.601 limited range), chroma averaged per pair. */
static uint8_t *
s_to_yuyv(const uint8_t *rgb, int w, int h)
{
    uint8_t *out = xmallocarray((size_t) w * (size_t) h, 2);
    for (size_t i = 0; i < (size_t) w * (size_t) h; i += 2) {
        const uint8_t *a = rgb + i * 3, *b = a + 3;
        double y0 = 16 + (65.481 * a[0] + 128.553 * a[1] + 24.966 * a[2]) / 255;
        double y1 = 16 + (65.481 * b[0] + 128.553 * b[1] + 24.966 * b[2]) / 255;
        double r = (a[0] + b[0]) / 2.0, g = (a[1] + b[1]) / 2.0, bl = (a[2] + b[2]) / 2.0;
        double u = 128 + (-37.797 * r - 74.203 * g + 112.0 * bl) / 255;
        double v = 128 + (112.0 * r - 93.786 * g - 18.214 * bl) / 255;
        out[i * 2 + 0] = (uint8_t) (y0 + 0.5);
        out[i * 2 + 1] = (uint8_t) (u + 0.5);
        out[i * 2 + 2] = (uint8_t) (y1 + 0.5);
        out[i * 2 + 3] = (uint8_t) (v + 0.5);
    }
    return out;
}

/* Removes the DHT segments of a JPEG, as many webcams send MJPEG frames. */
static size_t
s_strip_dht(uint8_t *p, size_t n)
{
    size_t i = 2;
    while (i + 4 <= n && p[i] == 0xFF && p[i + 1] != 0xDA) {
        size_t len = (size_t) p[i + 2] << 8 | p[i + 3];
        if (p[i + 1] == 0xC4) {
            memmove(p + i, p + i + 2 + len, n - i - 2 - len);
            n -= 2 + len;
            continue;
        }
        i += 2 + len;
    }
    return n;
}

static void
s_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s FASHION_MNIST_DIR OUT_DIR\n", argv[0]);
        return 2;
    }
    const char *out = argv[2];
    char err[512];
    vision_fmnist_t ds;
    if (vision_fmnist_load_set(argv[1], "t10k", &ds, err, sizeof err) < 0) {
        fprintf(stderr, "vision_mkdata: %s\n", err);
        return 1;
    }
    const uint8_t *boot = ds.pixels; /* item 0, label 9 */
    static const uint8_t navy[3] = { 40, 60, 120 }, white[3] = { 250, 250, 248 };
    static const uint8_t cream[3] = { 235, 225, 200 }, black[3] = { 12, 12, 14 };
    static const uint8_t wall[3] = { 150, 140, 130 }, red[3] = { 200, 40, 30 };
    int rc = 0;
    size_t len;

    uint8_t *light = vt_render(boot, 120, 90, 0.8f, 0.5f, 0.5f, navy, white, 3, 1);
    uint8_t *jpg = vt_encode_jpeg(light, 120, 90, 90, &len);
    rc |= s_put(out, "boot_light.jpg", jpg, len);
    /* cut inside the entropy-coded data: stb_image alone would decode it */
    rc |= s_put(out, "truncated.jpg", jpg, len * 6 / 10);
    free(jpg);
    uint8_t *bmp = vt_encode_bmp(light, 120, 90, &len);
    rc |= s_put(out, "boot_light.bmp", bmp, len);
    free(bmp);
    free(light);

    uint8_t *dark = vt_render(boot, 90, 120, 0.7f, 0.5f, 0.5f, cream, black, 3, 2);
    uint8_t *png = vt_encode_png(dark, 90, 120, 3, &len);
    rc |= s_put(out, "boot_dark.png", png, len);
    free(png);
    free(dark);

    rc |= s_put(out, "zero_bytes.jpg", "", 0);
    static const char text[] = "This is a shopping list, not a picture:\nmilk\nbread\n";
    rc |= s_put(out, "not_an_image.txt", text, sizeof text - 1);
    /* a 1x1 GIF89a */
    static const uint8_t gif[] = { 'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0,
                                   255, 255, 255, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44,
                                   1, 0, 0x3b };
    rc |= s_put(out, "pixel.gif", gif, sizeof gif);
    /* a PNG whose header claims 100000x100000 (40 GB of pixels) */
    uint8_t forged[8 + 25 + 12];
    memcpy(forged, "\x89PNG\r\n\x1a\n", 8);
    s_be32(forged + 8, 13);
    memcpy(forged + 12, "IHDR", 4);
    s_be32(forged + 16, 100000);
    s_be32(forged + 20, 100000);
    memcpy(forged + 24, "\x08\x02\x00\x00\x00", 5);
    s_be32(forged + 29, (uint32_t) crc32(0, forged + 12, 17));
    s_be32(forged + 33, 0);
    memcpy(forged + 37, "IEND", 4);
    s_be32(forged + 41, (uint32_t) crc32(0, forged + 37, 4));
    rc |= s_put(out, "forged_100000x100000.png", forged, sizeof forged);

    /* camera frames: an empty wall, then the boot held in front of it */
    uint8_t *empty = vt_render(boot, 160, 120, 0.0f, 0.5f, 0.5f, red, wall, 2, 3);
    uint8_t *held = vt_render(boot, 160, 120, 0.7f, 0.5f, 0.5f, red, wall, 2, 4);
    uint8_t *yuyv = s_to_yuyv(empty, 160, 120);
    rc |= s_put(out, "frame_empty_160x120.yuyv", yuyv, 160 * 120 * 2);
    free(yuyv);
    yuyv = s_to_yuyv(held, 160, 120);
    rc |= s_put(out, "frame_boot_160x120.yuyv", yuyv, 160 * 120 * 2);
    free(yuyv);
    free(empty);
    free(held);
    uint8_t *big = vt_render(boot, 320, 240, 0.7f, 0.5f, 0.5f, red, wall, 2, 5);
    uint8_t *mj = vt_encode_jpeg(big, 320, 240, 80, &len);
    len = s_strip_dht(mj, len);
    rc |= s_put(out, "frame_boot_320x240.mjpg", mj, len);
    free(mj);
    free(big);

    /* raw frame streams for the recordings (see the top of this file) */
    char raw[4096];
    snprintf(raw, sizeof raw, "%s/raw", out);
    mkdir(raw, 0755);
    FILE *still_yuyv = NULL, *still_mj = NULL, *scene_mj = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/camera_still_160x120.yuyv", raw);
    still_yuyv = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/camera_still_320x240.mjpeg", raw);
    still_mj = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/camera_scene_320x240.mjpeg", raw);
    scene_mj = fopen(path, "wb");
    if (!still_yuyv || !still_mj || !scene_mj) {
        fprintf(stderr, "vision_mkdata: cannot write in %s\n", raw);
        return 1;
    }
    for (uint32_t k = 0; k < 2; k++) {
        uint8_t *f = vt_render(boot, 160, 120, 0.7f, 0.5f, 0.5f, red, wall, 2, 10 + k);
        yuyv = s_to_yuyv(f, 160, 120);
        fwrite(yuyv, 1, 160 * 120 * 2, still_yuyv);
        free(yuyv);
        free(f);
        f = vt_render(boot, 320, 240, 0.7f, 0.5f, 0.5f, red, wall, 2, 20 + k);
        mj = vt_encode_jpeg(f, 320, 240, 80, &len);
        len = s_strip_dht(mj, len);
        fwrite(mj, 1, len, still_mj);
        free(mj);
        free(f);
    }
    /* the scene: empty, the boot coming in from the left, the boot held still */
    static const float xs[14] = { -1, -1, -1, 0.05f, 0.2f, 0.35f, 0.5f, 0.5f, 0.5f, 0.5f,
                                  0.5f, 0.5f, 0.5f, 0.5f };
    for (uint32_t k = 0; k < 14; k++) {
        float fill = xs[k] < 0 ? 0.0f : 0.7f;
        uint8_t *f = vt_render(boot, 320, 240, fill, xs[k] < 0 ? 0.5f : xs[k], 0.5f, red, wall,
                               2, 30 + k);
        mj = vt_encode_jpeg(f, 320, 240, 80, &len);
        len = s_strip_dht(mj, len);
        fwrite(mj, 1, len, scene_mj);
        free(mj);
        free(f);
    }
    rc |= fclose(still_yuyv) | fclose(still_mj) | fclose(scene_mj);
    printf("%s: raw frame streams for ffmpeg\n", raw);
    vision_fmnist_release(&ds);
    return rc ? 1 : 0;
}
