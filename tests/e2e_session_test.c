/* tests/e2e_session_test.c: the session store's self-test (daemon/session.h):
 * a context saved for one session loads back whole, other sessions stay
 * empty, an overwrite replaces, a damaged value loads as an empty context,
 * and the context survives closing and reopening the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdbool.h>

#include "daemon/session.h"

static void
test_session_context_round_trips_through_the_store(void **state)
{
    (void) state;
    assert_int_equal(session_test(false), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_context_round_trips_through_the_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
