/* tests/audio_kws_test.c: the streaming keyword spotter's self-test (decisions,
 * chunking invariance, model metadata checks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "audio/kws.h"

static void
test_kws_self_test_passes(void **state)
{
    (void) state;
    assert_int_equal(kws_test(false), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kws_self_test_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
