/* tests/audio_kws_vocab_test.c: the keyword spotter's label table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "audio/vocab.h"

static void
test_vocab_self_test_passes(void **state)
{
    (void) state;
    assert_int_equal(vocab_test(false), 0);
}

static void
test_vocab_has_every_spec_word(void **state)
{
    (void) state;
    static const char *words[] = {
        "shopwise", "show", "find", "recommend", "similar", "cheaper", "add", "remove",
        "cart", "checkout", "next", "back", "yes", "no", "cancel", "stop", "help",
        "t-shirt", "trousers", "pullover", "dress", "coat", "sandals", "shirt", "sneakers",
        "bag", "boots", "one", "two", "three", "four", "five", "six", "seven", "eight",
        "nine", "ten", "_silence_", "_unknown_",
    };
    assert_int_equal(sizeof words / sizeof words[0], vocab_count());
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        int id = vocab_find(words[i]);
        assert_true(id >= 0);
        assert_string_equal(vocab_name(id), words[i]);
    }
    assert_int_equal(vocab_kind(vocab_find("shopwise")), VOCAB_KIND_WAKE);
    assert_int_equal(vocab_number(vocab_find("eight")), 8);
    assert_string_equal(vocab_category_slot(vocab_find("boots")), "boot");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_self_test_passes),
        cmocka_unit_test(test_vocab_has_every_spec_word),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
