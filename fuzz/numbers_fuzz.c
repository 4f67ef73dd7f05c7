/* fuzz/numbers_fuzz.c: libFuzzer target for the strict number parsers of
 * common/util.h (every numeric command-line option, shopd's configuration,
 * the recommender's parameters). The input is the text (up to its first NUL);
 * the first byte also picks the open ends of the float range. A number
 * accepted is made of the characters its form allows and lies in the range;
 * a refusal leaves the output as it was and gives the reason. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An acceptance gives a valid number (valid), a refusal leaves the output
 * as it was (untouched) and says why: the code and the reason agree. */
static void
s_check(int rc, bool valid, bool untouched, const char *why, const char *syntax)
{
    if (rc == SHOP_NUM_OK) {
        if (!valid)
            abort();
        return;
    }
    if (!untouched || (rc == SHOP_NUM_SYNTAX && strcmp(why, syntax) != 0)
        || (rc != SHOP_NUM_SYNTAX && (rc != SHOP_NUM_RANGE || strcmp(why, "out of range") != 0)))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char v[256];
    size_t n = size < sizeof v - 1 ? size : sizeof v - 1;
    memcpy(v, data, n);
    v[n] = '\0';
    const char *why = NULL;
    int open = size ? data[0] & 3 : 0;

    int64_t i = 77;
    int rc = shop_parse_int(v, -1000, 1000, &i, &why);
    const char *digits = v + (v[0] == '-');
    s_check(rc,
            i >= -1000 && i <= 1000 && digits[0]
                && strspn(digits, "0123456789") == strlen(digits),
            i == 77, why, "not an integer");

    uint64_t u = 77;
    rc = shop_parse_uint(v, 0, UINT64_MAX, &u, &why);
    s_check(rc, v[0] && strspn(v, "0123456789") == strlen(v), u == 77, why, "not an integer");

    double d = 77;
    rc = shop_parse_double(v, -1, 1, open, &d, &why);
    s_check(rc,
            isfinite(d) && d >= -1 && d <= 1 && !((open & SHOP_OPEN_LO) && d == -1)
                && !((open & SHOP_OPEN_HI) && d == 1) && v[0] != '+'
                && strspn(v, "0123456789.eE+-") == strlen(v),
            d == 77, why, "not a number");
    return 0;
}
