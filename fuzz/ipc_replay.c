/* fuzz/ipc_replay.c: runs a libFuzzer target over its seed corpus in an
 * ordinary build, so `make check` exercises the ipc and config fuzz targets
 * (and their contract checks) even without clang. Prints TAP: one line per
 * seed file. FUZZ_CORPUS names the folder under fuzz/corpus/. */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int
main(void)
{
    const char *top = getenv("SHOP_TOP_SRCDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", top ? top : ".", FUZZ_CORPUS);
    DIR *d = opendir(dir);
    if (!d) {
        printf("1..0 # SKIP no corpus at %s\n", dir);
        return 77;
    }
    char *names[1024];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < SHOP_ARRAY_LEN(names))
        if (e->d_name[0] != '.')
            names[n++] = xstrdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, s_cmp);
    printf("1..%zu\n", n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8192], err[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len;
        uint8_t *buf = shop_read_file(path, 1 << 20, &len, err, sizeof err);
        if (!buf) {
            printf("not ok %zu - %s: %s\n", i + 1, names[i], err);
            failed = 1;
        } else {
            /* the target aborts on a broken contract: reaching the next line is the pass */
            LLVMFuzzerTestOneInput(buf, len);
            printf("ok %zu - %s seed keeps the parser's contract\n", i + 1, names[i]);
            free(buf);
        }
        free(names[i]);
    }
    return failed;
}
