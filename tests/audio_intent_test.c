/* tests/audio_intent_test.c: audio/intent self-test.
 *
 * The shipped grammar maps the spoken and typed commands to the right
 * intents and slots; confidences follow the documented belief rule; the wake word
 * setting works both ways; broken grammar files are refused with the line
 * and the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/intent.h"
#include "audio/vocab.h"

static intent_t *
s_shipped(bool require_wake)
{
    intent_config_t cfg;
    intent_config_default(&cfg);
    cfg.require_wake = require_wake;
    char err[512] = "";
    intent_t *g = intent_new_from_file(NULL, &cfg, err, sizeof err);
    if (!g)
        print_error("%s\n", err);
    assert_non_null(g);
    return g;
}

static void
s_expect(const intent_t *g, const char *text, const char *want)
{
    intent_result_t r;
    char err[256] = "", got[160];
    int rc = intent_match_text(g, text, &r, err, sizeof err);
    if (rc != 0)
        print_error("'%s': %s\n", text, err);
    assert_int_equal(rc, 0);
    intent_result_format(&r, got, sizeof got);
    if (strcmp(got, want) != 0)
        print_error("'%s' gave %s, expected %s\n", text, got, want);
    assert_string_equal(got, want);
}

static void
test_shipped_grammar_intents(void **state)
{
    (void) state;
    intent_t *g = s_shipped(true);
    static const char *const names[] = {
        "search", "add_to_cart", "remove_from_cart", "cheaper", "similar", "recommend",
        "show_cart", "checkout", "next", "back", "yes", "no", "cancel", "help",
    };
    assert_int_equal(intent_count(g), (int) (sizeof names / sizeof names[0]));
    for (int i = 0; i < intent_count(g); i++)
        assert_string_equal(intent_name(g, i), names[i]);
    assert_null(intent_name(g, -1));
    assert_null(intent_name(g, intent_count(g)));

    s_expect(g, "shopwise show me sneakers", "search{category=sneaker}");
    s_expect(g, "Shopwise, find a coat", "search{category=coat}");
    s_expect(g, "shop wise tee shirt", "search{category=t-shirt}");
    s_expect(g, "shopwise add two boots to my cart", "add_to_cart{quantity=2,category=boot}");
    s_expect(g, "shopwise add 3 t-shirts", "add_to_cart{quantity=3,category=t-shirt}");
    s_expect(g, "shopwise add this to the cart", "add_to_cart");
    s_expect(g, "shopwise add ten", "add_to_cart{quantity=10}");
    s_expect(g, "shopwise remove the bag from my cart", "remove_from_cart{category=bag}");
    s_expect(g, "shopwise something cheaper", "cheaper");
    s_expect(g, "shopwise show me cheaper trousers", "cheaper{category=trouser}");
    s_expect(g, "shopwise show similar", "similar");
    s_expect(g, "shopwise recommend something", "recommend");
    s_expect(g, "shopwise recommend a dress", "recommend{category=dress}");
    s_expect(g, "shopwise show my cart", "show_cart");
    s_expect(g, "shopwise check out", "checkout");
    s_expect(g, "shopwise checkout", "checkout");
    s_expect(g, "shopwise next", "next");
    s_expect(g, "shopwise show the next one", "next");
    s_expect(g, "shopwise show me a cheaper one", "cheaper");
    s_expect(g, "shopwise a similar one", "similar");
    /* "one" is a word the spotter knows: the sentences use it, no penalty */
    intent_result_t r1;
    assert_int_equal(intent_match_text(g, "shopwise the next one", &r1, NULL, 0), 0);
    assert_float_equal(r1.confidence, 1.0, 1e-6);
    assert_int_equal(r1.skipped, 0);
    s_expect(g, "shopwise go back", "back");
    s_expect(g, "shopwise yes", "yes");
    s_expect(g, "shopwise no", "no");
    s_expect(g, "shopwise cancel", "cancel");
    s_expect(g, "shopwise stop", "cancel");
    s_expect(g, "shopwise help", "help");
    /* the command after the last wake word counts */
    s_expect(g, "yes shopwise no", "no");
    intent_destroy(&g);
    assert_null(g);
    intent_destroy(&g);
}

/* typed requests use plurals and price bounds the spoken ones need not */
static void
test_typed_plurals_and_price(void **state)
{
    (void) state;
    intent_t *g = s_shipped(true);
    s_expect(g, "shopwise show me bags", "search{category=bag}");
    s_expect(g, "shopwise show me dresses", "search{category=dress}");
    s_expect(g, "shopwise show me coats", "search{category=coat}");
    s_expect(g, "shopwise show me shirts", "search{category=shirt}");
    s_expect(g, "shopwise show me pullovers", "search{category=pullover}");
    s_expect(g, "shopwise show me tshirts", "search{category=t-shirt}");
    s_expect(g, "shopwise show me tee shirts", "search{category=t-shirt}");
    s_expect(g, "shopwise add two boots to my cart", "add_to_cart{quantity=2,category=boot}");
    s_expect(g, "shopwise show me bags under 50", "search{category=bag,max_price=50.00}");
    s_expect(g, "shopwise dresses below $19.99", "search{category=dress,max_price=19.99}");
    s_expect(g, "shopwise coats up to 30 euros", "search{category=coat,max_price=30.00}");
    /* the number of a price bound is no quantity */
    s_expect(g, "shopwise show me coats under 5", "search{category=coat,max_price=5.00}");
    s_expect(g, "shopwise add 5", "add_to_cart{quantity=5}");
    /* a bound word without a number is no bound */
    s_expect(g, "shopwise show me coats under the stairs", "search{category=coat}");
    s_expect(g, "shopwise recommend something under 40", "recommend{max_price=40.00}");
    intent_destroy(&g);
}

static void
test_wake_word_setting(void **state)
{
    (void) state;
    intent_t *g = s_shipped(true);
    intent_result_t r;
    char err[256];
    assert_int_equal(intent_match_text(g, "show me sneakers", &r, err, sizeof err), -1);
    assert_string_equal(r.intent, "");
    assert_non_null(strstr(err, "no wake word"));
    assert_int_equal(intent_match_text(g, "show sneakers shopwise", &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "nothing heard after the wake word"));
    assert_int_equal(intent_match_text(g, "", &r, err, sizeof err), -1);
    intent_destroy(&g);

    /* push-to-talk: no wake word needed, and one said anyway is ignored */
    g = s_shipped(false);
    s_expect(g, "show me sneakers", "search{category=sneaker}");
    s_expect(g, "shopwise show me sneakers", "search{category=sneaker}");
    assert_int_equal(intent_match_text(g, "hello there", &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "no words heard"));
    intent_destroy(&g);
}

/* the belief of a confidence, written out from the formula of
 * docs/grammar.md: odds 1.64 * (c / (1 - c)) ^ 2.43 */
static double
s_belief(double c)
{
    double odds = 1.64 * pow(c / (1.0 - c), 2.43);
    return odds / (1.0 + odds);
}

static void
test_confidence_rule(void **state)
{
    (void) state;
    intent_t *g = s_shipped(true);
    intent_result_t r;
    char err[256];
    /* the belief is the calibration's: 0.46 is just more likely said than
     * not, 0.3 unlikely, 0.8 nearly sure */
    assert_true(s_belief(0.46) > 0.5 && s_belief(0.44) < 0.5);
    assert_float_equal(s_belief(0.3), 0.173, 0.001);
    assert_float_equal(s_belief(0.8), 0.979, 0.001);

    /* wake, show, sneakers: the product of the three beliefs */
    int w1[] = { VOCAB_WAKE, VOCAB_SHOW, VOCAB_SNEAKERS };
    float c1[] = { 0.9f, 0.8f, 0.7f };
    assert_int_equal(intent_match(g, w1, c1, 3, &r, err, sizeof err), 0);
    assert_string_equal(r.intent, "search");
    assert_float_equal(r.confidence, s_belief(0.9) * s_belief(0.8) * s_belief(0.7), 1e-5);
    assert_int_equal(r.matched, 2);
    assert_int_equal(r.skipped, 0);
    assert_true(r.line > 0);

    /* "remove four trousers" heard as remove(0.86) four(0.46)
     * trousers(0.99): "four" is more likely said than not, so the sentence
     * uses it (the old flat 0.5 per skipped word dropped it) */
    int wq[] = { VOCAB_WAKE, VOCAB_REMOVE, VOCAB_FOUR, VOCAB_TROUSERS };
    float cq[] = { 1.0f, 0.86f, 0.46f, 0.99f };
    assert_int_equal(intent_match(g, wq, cq, 4, &r, err, sizeof err), 0);
    assert_string_equal(r.intent, "remove_from_cart");
    assert_string_equal(intent_result_slot(&r, "quantity"), "4");
    assert_string_equal(intent_result_slot(&r, "category"), "trouser");
    assert_int_equal(r.skipped, 0);
    assert_float_equal(r.confidence, s_belief(0.86) * s_belief(0.46) * s_belief(0.99), 1e-5);
    /* the same heard at 0.40 is more likely a stray detection: skipped at
     * 1 - belief */
    cq[2] = 0.40f;
    assert_int_equal(intent_match(g, wq, cq, 4, &r, err, sizeof err), 0);
    assert_null(intent_result_slot(&r, "quantity"));
    assert_string_equal(intent_result_slot(&r, "category"), "trouser");
    assert_int_equal(r.skipped, 1);
    assert_float_equal(r.confidence,
                       s_belief(0.86) * (1 - s_belief(0.40)) * s_belief(0.99), 1e-5);

    /* a weak stray word that would change the intent is skipped cheaply:
     * show(0.93) cheaper(0.31) pullover(0.89) is a search */
    int ws[] = { VOCAB_WAKE, VOCAB_SHOW, VOCAB_CHEAPER, VOCAB_PULLOVER };
    float cs[] = { 1.0f, 0.93f, 0.31f, 0.89f };
    assert_int_equal(intent_match(g, ws, cs, 4, &r, err, sizeof err), 0);
    assert_string_equal(r.intent, "search");
    assert_string_equal(intent_result_slot(&r, "category"), "pullover");
    assert_float_equal(r.confidence,
                       s_belief(0.93) * (1 - s_belief(0.31)) * s_belief(0.89), 1e-5);
    assert_true(r.confidence > 0.6f);

    /* a stray word the spotter is sure of costs unmatched_penalty (0.2):
     * show(0.8) nine(0.95) sneakers(0.7) has no place for "nine" */
    int w2[] = { VOCAB_WAKE, VOCAB_SHOW, VOCAB_NINE, VOCAB_SNEAKERS };
    float c2[] = { 1.0f, 0.8f, 0.95f, 0.7f };
    assert_int_equal(intent_match(g, w2, c2, 4, &r, err, sizeof err), 0);
    assert_string_equal(r.intent, "search");
    assert_string_equal(intent_result_slot(&r, "category"), "sneaker");
    assert_int_equal(r.skipped, 1);
    assert_float_equal(r.confidence, s_belief(0.8) * 0.2 * s_belief(0.7), 1e-5);
    /* two of them: 0.2 * 0.2 * ..., below min_confidence (0.1): refused */
    int w8[] = { VOCAB_WAKE, VOCAB_SHOW, VOCAB_NINE, VOCAB_TWO, VOCAB_SNEAKERS };
    float c8[] = { 1.0f, 0.8f, 0.95f, 0.9f, 0.7f };
    assert_int_equal(intent_match(g, w8, c8, 5, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "below"));
    /* a lower floor refuses the one-stray reading too */
    intent_config_t cfg;
    intent_config_default(&cfg);
    assert_float_equal(cfg.unmatched_penalty, 0.2, 1e-6);
    cfg.unmatched_penalty = 0.1f;
    intent_t *strict = intent_new_from_file(NULL, &cfg, err, sizeof err);
    assert_non_null(strict);
    assert_int_equal(intent_match(strict, w2, c2, 4, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "search{category=sneaker}"));
    intent_destroy(&strict);

    /* typed words (no confidences) are certain; a stray one costs 0.5 */
    assert_int_equal(intent_match_text(g, "shopwise no, show me one dress", &r, err, sizeof err),
                     0);
    assert_string_equal(r.intent, "search");
    assert_int_equal(r.skipped, 2);
    assert_float_equal(r.confidence, 0.25, 1e-6);

    /* fillers and ids outside the vocabulary are not words */
    int w3[] = { VOCAB_SILENCE, VOCAB_WAKE, VOCAB_UNKNOWN, 999, -4, VOCAB_HELP };
    assert_int_equal(intent_match(g, w3, NULL, 6, &r, err, sizeof err), 0);
    assert_string_equal(r.intent, "help");
    assert_float_equal(r.confidence, 1.0, 1e-6);

    /* "add sneakers": a full add_to_cart beats search with "add" skipped,
     * unless "add" was heard so weakly that it is more likely not said */
    int w4[] = { VOCAB_WAKE, VOCAB_ADD, VOCAB_SNEAKERS };
    float c4[] = { 1.0f, 0.9f, 0.9f };
    assert_int_equal(intent_match(g, w4, c4, 3, &r, err, sizeof err), 0);
    assert_string_equal(r.intent, "add_to_cart");
    assert_string_equal(intent_result_slot(&r, "category"), "sneaker");
    assert_null(intent_result_slot(&r, "quantity"));
    c4[1] = 0.3f;
    assert_int_equal(intent_match(g, w4, c4, 3, &r, err, sizeof err), 0);
    assert_string_equal(r.intent, "search");
    assert_float_equal(r.confidence, (1 - s_belief(0.3)) * s_belief(0.9), 1e-5);

    /* junk is refused below min_confidence (0.1), with the guess in the
     * message: weak wake word, show and sneakers (0.3 each, belief 0.173)
     * make 0.173 ^ 3 = 0.005 when all are used; skipping "show" costs 0.827,
     * so the best reading skips it: 0.173 * 0.827 * 0.173 = 0.025 */
    float c5[] = { 0.3f, 0.3f, 0.3f };
    assert_int_equal(intent_match(g, w1, c5, 3, &r, err, sizeof err), -1);
    assert_string_equal(r.intent, "");
    assert_non_null(strstr(err, "search{category=sneaker}"));
    assert_non_null(strstr(err, "0.025"));
    /* nothing fits: quantity alone is no sentence */
    int w6[] = { VOCAB_WAKE, VOCAB_TWO };
    assert_int_equal(intent_match(g, w6, NULL, 2, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "no sentence"));
    intent_destroy(&g);
}

/* A listener detects the wake word itself and gives the grammar the words
 * after it (intent_match_woken): the decision and the confidence are those
 * of intent_match finding the same wake word first among the words, the
 * refusal below min_confidence included. */
static void
test_woken_is_the_wake_word_rule(void **state)
{
    (void) state;
    intent_t *woke = s_shipped(true), *ptt = s_shipped(false);
    intent_result_t a, b;
    char ea[256], eb[256];
    /* cart(0.9) after a wake word at 0.9: understood, b(0.9) ^ 2 */
    int w[] = { VOCAB_WAKE, VOCAB_CART };
    float c[] = { 0.9f, 0.9f };
    assert_int_equal(intent_match(woke, w, c, 2, &a, ea, sizeof ea), 0);
    assert_int_equal(intent_match_woken(ptt, 0.9f, w + 1, c + 1, 1, &b, eb, sizeof eb), 0);
    assert_string_equal(b.intent, "show_cart");
    assert_float_equal(b.confidence, s_belief(0.9) * s_belief(0.9), 1e-5);
    assert_float_equal(a.confidence, b.confidence, 1e-6);
    /* the same after a wake word at 0.2 (belief 0.053): below 0.1, refused
     * by both, with the guess in the message */
    c[0] = 0.2f;
    assert_true(s_belief(0.2) * s_belief(0.9) < 0.1);
    assert_int_equal(intent_match(woke, w, c, 2, &a, ea, sizeof ea), -1);
    assert_int_equal(intent_match_woken(ptt, 0.2f, w + 1, c + 1, 1, &b, eb, sizeof eb), -1);
    assert_string_equal(b.intent, "");
    assert_non_null(strstr(eb, "show_cart"));
    assert_non_null(strstr(eb, "below 0.100"));
    assert_string_equal(ea, eb);
    /* without the wake word's factor the same word passes */
    assert_int_equal(intent_match(ptt, w + 1, c + 1, 1, &b, eb, sizeof eb), 0);
    assert_float_equal(b.confidence, s_belief(0.9), 1e-5);
    /* nothing after the wake word; a wake word among the words is no word */
    assert_int_equal(intent_match_woken(ptt, 0.9f, NULL, NULL, 0, &b, eb, sizeof eb), -1);
    assert_non_null(strstr(eb, "nothing heard after the wake word"));
    int w2[] = { VOCAB_WAKE, VOCAB_HELP };
    float c2[] = { 0.95f, 0.95f };
    assert_int_equal(intent_match_woken(ptt, 1.0f, w2, c2, 2, &b, eb, sizeof eb), 0);
    assert_string_equal(b.intent, "help");
    assert_float_equal(b.confidence, s_belief(0.95), 1e-5);
    /* a confidence outside 0..1 is held to it, as the words' are */
    assert_int_equal(intent_match_woken(ptt, 7.0f, w2 + 1, c2 + 1, 1, &a, ea, sizeof ea), 0);
    assert_float_equal(a.confidence, b.confidence, 1e-6);
    assert_int_equal(intent_match_woken(ptt, NAN, w2 + 1, c2 + 1, 1, &a, ea, sizeof ea), -1);
    assert_non_null(strstr(ea, "below"));
    intent_destroy(&woke);
    intent_destroy(&ptt);
}

static void
test_grammar_is_editable(void **state)
{
    (void) state;
    /* a new intent, a new slot list with its own values, comments, an
     * optional group at the start, no retraining */
    const char text[] = "; house grammar\n"
                        "[slots]\n"
                        "size = one:S | two:M | three:L   # sizes by number\n"
                        "[change_size]\n"
                        "[(show | find)] {size} [{category}]\n"
                        "\n"
                        "[slots]\n"
                        "category = coat | boots:boot\n"
                        "[stop_all]\n"
                        "(stop | cancel) [(stop | cancel)]\n";
    intent_config_t cfg;
    intent_config_default(&cfg);
    cfg.require_wake = false;
    char err[256] = "";
    intent_t *g = intent_new_from_text(text, sizeof text - 1, &cfg, err, sizeof err);
    if (!g)
        print_error("%s\n", err);
    assert_non_null(g);
    assert_int_equal(intent_count(g), 2);
    s_expect(g, "find two boots", "change_size{size=M,category=boot}");
    s_expect(g, "three", "change_size{size=L}");
    s_expect(g, "stop stop", "stop_all");
    intent_result_t r;
    assert_int_equal(intent_match_text(g, "show sneakers", &r, err, sizeof err), -1);
    intent_destroy(&g);
}

static void
s_refused(const char *text, const char *want)
{
    char err[256] = "";
    intent_t *g = intent_new_from_text(text, strlen(text), NULL, err, sizeof err);
    if (g || !strstr(err, want))
        print_error("grammar <<%s>> gave '%s', expected '%s'\n", text, err, want);
    assert_null(g);
    assert_non_null(strstr(err, want));
}

static void
test_bad_grammars_name_the_line(void **state)
{
    (void) state;
    s_refused("", "no intents");
    s_refused("# only a comment\n", "no intents");
    s_refused("show sneakers\n", "line 1: a sentence before any [intent] section");
    s_refused("[search]\nshow {colour}\n", "line 2: slot {colour} is used but no [slots]");
    s_refused("[a]\n(show | find\n", "line 2: '(' is not closed by ')'");
    s_refused("[a]\nshow [cart\n", "line 2: '[' is not closed by ']'");
    s_refused("[a]\nshow please\n", "line 2: 'please' is not a word the recogniser knows");
    s_refused("[a]\n\n[b]\nyes\n", "line 1: intent [a] has no sentences");
    s_refused("[a]\nyes\n[b]\n", "line 3: intent [b] has no sentences");
    s_refused("[a]\n[show] [cart]\n", "line 2: the sentence can match no words");
    s_refused("[a]\nshow\n[a]\nfind\n", "line 3: intent [a] appears twice");
    s_refused("[slots]\nx = show | show\n", "line 2: 'show' is listed twice");
    s_refused("[slots]\nx = show\nx = find\n", "line 3: slot list 'x' is defined twice");
    s_refused("[slots]\nx = coat:\n", "line 2: 'coat:' needs a value");
    s_refused("[slots]\nx = coat |\n", "line 2: slot list 'x' has an empty entry");
    s_refused("[slots]\nx coat\n", "line 2: expected '=' after slot name 'x'");
    s_refused("[a]\nshow ) cart\n", "line 2: unexpected ')'");
    s_refused("[a]\nshow ( | cart)\n", "line 2: empty alternative");
    s_refused("[a]\nshopwise show\n", "line 2: the wake word is handled by the require_wake");
    s_refused("[a]\n_silence_\n", "line 2: '_silence_' is a filler class");
    s_refused("[Bad]\nyes\n", "line 1: 'Bad' is not a valid intent name");
    s_refused("[a]\nyes {Slot}\n", "line 2: 'Slot' is not a valid slot name");
    s_refused("[a]\nyes {x\n", "line 2: slot {x is not closed");
    s_refused("[a]\n{a} {a} {a} {a} {a}\n", "line 2: more than 4 slots");
    s_refused("[a]\n((((((((((((((((((yes))))))))))))))))))\n", "line 2: brackets nested");
    s_refused("[a]\nyes\n[slots]\nx = coat\ny = \n", "line 5: slot list 'y' has an empty entry");
    char nul[] = "[a]\nye\0s\n";
    char err[256];
    assert_null(intent_new_from_text(nul, sizeof nul - 1, NULL, err, sizeof err));
    assert_non_null(strstr(err, "line 2: NUL byte"));
    intent_config_t cfg;
    intent_config_default(&cfg);
    cfg.unmatched_penalty = 0.0f;
    assert_null(intent_new_from_text("[a]\nyes\n", 8, &cfg, err, sizeof err));
    assert_non_null(strstr(err, "unmatched_penalty"));
    intent_config_default(&cfg);
    cfg.belief_power = 0.0f;
    assert_null(intent_new_from_text("[a]\nyes\n", 8, &cfg, err, sizeof err));
    assert_non_null(strstr(err, "belief_power"));
    assert_null(intent_new_from_file("/nonexistent/shop.ini", NULL, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/shop.ini"));
}

static void
test_format(void **state)
{
    (void) state;
    intent_result_t r;
    memset(&r, 0, sizeof r);
    char buf[64];
    strcpy(r.intent, "help");
    assert_string_equal(intent_result_format(&r, buf, sizeof buf), "help");
    r.n_slots = 2;
    strcpy(r.slots[0].name, "quantity");
    strcpy(r.slots[0].value, "2");
    strcpy(r.slots[1].name, "category");
    strcpy(r.slots[1].value, "bag");
    assert_string_equal(intent_result_format(&r, buf, sizeof buf),
                        "help{quantity=2,category=bag}");
    /* truncation is safe */
    assert_int_equal(strlen(intent_result_format(&r, buf, 8)), 7);
    assert_string_equal(intent_result_slot(&r, "category"), "bag");
    assert_null(intent_result_slot(&r, "colour"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_grammar_intents),
        cmocka_unit_test(test_typed_plurals_and_price),
        cmocka_unit_test(test_wake_word_setting),
        cmocka_unit_test(test_confidence_rule),
        cmocka_unit_test(test_woken_is_the_wake_word_rule),
        cmocka_unit_test(test_grammar_is_editable),
        cmocka_unit_test(test_bad_grammars_name_the_line),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
