/* tests/daemon_flow_test.c: the main job (daemon/flow) without a daemon:
 * typed, spoken and photographed requests, and commands the microphone
 * heard, against a test store
 * (tests/daemon_fixture.h: nine products, popularity known by hand), the
 * shipped models and the built-in recommendation engine. Each test checks
 * the reply and the exact events the flow hands back for the server to
 * publish: their types, order, session, and that each carries exactly the
 * reply's member of its name ("answer" the whole reply). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/vocab.h"
#include "common/util.h"
#include "daemon/flow.h"
#include "tests/daemon_fixture.h"

#define SESSION "kiosk-1"

static fixture_t s_f;

static int
s_setup(void **state)
{
    (void) state;
    fixture_open(&s_f, true, true);
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    fixture_close(&s_f);
    return 0;
}

/* Says text on SESSION; the answer must be a success. Caller clears *r. */
static void
s_text(const char *text, handler_result_t *r)
{
    handler_result_init(r);
    const proto_request_t *req = fixture_request(&s_f, "text", SESSION,
                                                 json_pack("{s:s}", "text", text));
    proto_err_t rc = flow_text(&s_f.env, req, r);
    if (rc != PROTO_OK)
        fail_msg("\"%s\": %s: %s", text, proto_err_name(rc), r->message);
    assert_int_equal(r->code, PROTO_OK);
    assert_non_null(r->body);
}

/* Every event but "answer" is the reply's member of its name; "answer" is
 * the reply itself. */
static void
s_events_match_reply(const handler_result_t *r)
{
    for (size_t i = 0; i < r->nevents; i++) {
        const handler_event_t *e = &r->events[i];
        const json_t *want = !strcmp(e->type, "answer") ? r->body
                                                        : json_object_get(r->body, e->type);
        if (!json_equal(e->body, (json_t *) want))
            fail_msg("event %s differs from the reply", e->type);
    }
}

static const char *
s_say(const handler_result_t *r)
{
    return json_string_value(json_object_get(r->body, "say"));
}

static const char *
s_sess(const handler_result_t *r, const char *key)
{
    return json_string_value(json_object_get(json_object_get(r->body, "session"), key));
}

/* Fails unless the recommendations of r are exactly the items ids. */
static void
s_results_are(const handler_result_t *r, const char *const *ids)
{
    const json_t *recs = json_object_get(r->body, "recommendations");
    size_t n = 0;
    while (ids[n])
        n++;
    assert_int_equal(json_array_size(json_object_get(recs, "results")), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(fixture_result_item(recs, i), ids[i]);
}

static void
test_search_answers_the_category_in_stock_by_popularity(void **state)
{
    (void) state;
    handler_result_t r;
    s_text("show sneakers", &r);
    const json_t *intent = json_object_get(r.body, "intent");
    assert_true(json_is_true(json_object_get(intent, "understood")));
    assert_string_equal(json_string_value(json_object_get(intent, "name")), "search");
    assert_string_equal(json_string_value(json_object_get(json_object_get(intent, "slots"),
                                                          "category")),
                        "sneaker");
    /* sneaker-08 is bought most but out of stock */
    s_results_are(&r, (const char *[]) { "sneaker-03", "sneaker-01", "sneaker-04", "sneaker-02",
                                         NULL });
    const json_t *recs = json_object_get(r.body, "recommendations");
    assert_string_equal(json_string_value(json_object_get(recs, "kind")), "search");
    assert_int_equal(json_integer_value(json_object_get(recs, "page")), 0);
    assert_false(json_is_true(json_object_get(recs, "more")));
    assert_string_equal(s_say(&r), "Here are sneakers for you, starting with Classic grey Sneakers.");
    /* the first result is the product in view */
    assert_string_equal(s_sess(&r, "product"), "sneaker-03");
    assert_string_equal(s_sess(&r, "category"), "sneaker");
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "recommendations", "answer",
                                                       NULL });
    s_events_match_reply(&r);
    handler_result_clear(&r);
}

static void
test_cheaper_is_strictly_below_the_price_in_view(void **state)
{
    (void) state;
    handler_result_t r;
    s_text("show sneakers", &r);        /* sneaker-03 at 51.99 in view */
    handler_result_clear(&r);
    s_text("cheaper", &r);
    s_results_are(&r, (const char *[]) { "sneaker-01", "sneaker-02", NULL });
    assert_string_equal(s_say(&r), "Cheaper than 51.99: Urban black Sneakers at 43.99.");
    assert_string_equal(s_sess(&r, "product"), "sneaker-01");
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "recommendations", "answer",
                                                       NULL });
    s_events_match_reply(&r);
    handler_result_clear(&r);
    /* nothing is below 43.99 among the sneakers: an empty page, still an answer */
    s_text("cheaper", &r);
    s_results_are(&r, (const char *[]) { NULL });
    assert_string_equal(s_say(&r), "Nothing cheaper than 43.99.");
    assert_string_equal(s_sess(&r, "product"), "sneaker-01");
    handler_result_clear(&r);
}

static void
test_add_and_remove_change_the_cart_and_return_a_cart_event(void **state)
{
    (void) state;
    handler_result_t r;
    s_text("add two cart", &r);
    assert_string_equal(s_say(&r), "Which product? Show me one first, or say for example "
                                   "\"show me sneakers\".");
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "answer", NULL });
    handler_result_clear(&r);

    s_text("show sneakers", &r);
    handler_result_clear(&r);
    s_text("add two cart", &r);
    const json_t *cart = json_object_get(r.body, "cart");
    assert_int_equal(json_integer_value(json_object_get(cart, "count")), 2);
    const json_t *line = json_array_get(json_object_get(cart, "lines"), 0);
    assert_string_equal(json_string_value(json_object_get(line, "item")), "sneaker-03");
    assert_int_equal(json_integer_value(json_object_get(line, "quantity")), 2);
    /* bought together: no model, so the most popular in stock, not the item itself */
    s_results_are(&r, (const char *[]) { "sneaker-01", "boot-02", "sneaker-04", "bag-02",
                                         "sneaker-02", NULL });
    assert_string_equal(s_say(&r), "Added 2 Classic grey Sneakers to your cart. Often bought "
                                   "with it: Urban black Sneakers");
    assert_string_equal(s_sess(&r, "product"), "sneaker-03");
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "recommendations", "cart",
                                                       "answer", NULL });
    s_events_match_reply(&r);
    handler_result_clear(&r);

    /* the store agrees */
    store_cart_line_t *lines = NULL;
    size_t n = 0;
    assert_int_equal(store_cart_get(s_f.store, SESSION, &lines, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(lines[0].item, "sneaker-03");
    assert_int_equal(lines[0].quantity, 2);
    free(lines);

    s_text("remove one cart", &r);
    assert_string_equal(s_say(&r), "Removed Classic grey Sneakers from your cart.");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "cart"),
                                                        "count")),
                     1);
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "cart", "answer", NULL });
    s_events_match_reply(&r);
    handler_result_clear(&r);

    s_text("show cart", &r);
    assert_string_equal(s_say(&r), "You have 1 item in your cart.");
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "recommendations", "cart",
                                                       "answer", NULL });
    handler_result_clear(&r);
}

static void
test_checkout_asks_then_no_keeps_and_yes_buys_the_cart(void **state)
{
    (void) state;
    handler_result_t r;
    s_text("checkout", &r);
    assert_string_equal(s_say(&r), "Your cart is empty.");
    handler_result_clear(&r);

    s_text("bag", &r);                  /* bag-02 (26.99) in view */
    handler_result_clear(&r);
    s_text("add three cart", &r);
    handler_result_clear(&r);
    s_text("checkout", &r);
    assert_string_equal(s_say(&r), "3 items for 80.97. Shall I buy them? Say yes or no.");
    assert_string_equal(s_sess(&r, "pending"), "checkout");
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "answer", NULL });
    handler_result_clear(&r);

    s_text("no", &r);
    assert_string_equal(s_say(&r), "Cancelled: nothing was bought.");
    assert_null(s_sess(&r, "pending"));
    handler_result_clear(&r);
    s_text("yes", &r);
    assert_string_equal(s_say(&r), "There is nothing to confirm.");
    handler_result_clear(&r);

    /* a question is dropped by any other intent */
    s_text("checkout", &r);
    handler_result_clear(&r);
    s_text("help", &r);
    handler_result_clear(&r);
    s_text("yes", &r);
    assert_string_equal(s_say(&r), "There is nothing to confirm.");
    handler_result_clear(&r);

    store_counts_t before, after;
    assert_int_equal(store_counts(s_f.store, &before), 0);
    s_text("checkout", &r);
    handler_result_clear(&r);
    s_text("yes", &r);
    /* what the question above named, no line count, no ids */
    assert_string_equal(s_say(&r), "Done: you bought 3 items for 80.97. Thank you!");
    const json_t *cart = json_object_get(r.body, "cart");
    assert_int_equal(json_integer_value(json_object_get(cart, "count")), 0);
    assert_int_equal(json_integer_value(json_object_get(cart, "bought_lines")), 1);
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "cart", "answer", NULL });
    s_events_match_reply(&r);
    handler_result_clear(&r);
    assert_int_equal(store_counts(s_f.store, &after), 0);
    assert_int_equal(after.purchases, before.purchases + 1);
    assert_int_equal(after.cart_sessions, before.cart_sessions - 1);
}

static void
test_recommend_pages_with_next_and_back(void **state)
{
    (void) state;
    handler_result_t r;
    s_text("next", &r);
    assert_string_equal(s_say(&r), "There is nothing to page through yet.");
    handler_result_clear(&r);

    s_text("recommend", &r);
    s_results_are(&r, (const char *[]) { "sneaker-03", "sneaker-01", "boot-02", "sneaker-04",
                                         "bag-02", NULL });
    assert_true(json_is_true(json_object_get(json_object_get(r.body, "recommendations"),
                                             "more")));
    assert_string_equal(s_say(&r), "You might like Classic grey Sneakers.");
    handler_result_clear(&r);

    s_text("next", &r);
    s_results_are(&r, (const char *[]) { "sneaker-02", "boot-01", "bag-01", NULL });
    assert_false(json_is_true(json_object_get(json_object_get(r.body, "recommendations"),
                                              "more")));
    assert_string_equal(s_say(&r), "Page 2: Essential black Sneakers.");
    handler_result_clear(&r);

    /* past the end: the screen keeps the last page, no recommendations event */
    s_text("next", &r);
    assert_string_equal(s_say(&r), "There are no more results.");
    assert_null(json_object_get(r.body, "recommendations"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "session"),
                                                        "page")),
                     1);
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "answer", NULL });
    handler_result_clear(&r);

    s_text("back", &r);
    s_results_are(&r, (const char *[]) { "sneaker-03", "sneaker-01", "boot-02", "sneaker-04",
                                         "bag-02", NULL });
    assert_string_equal(s_say(&r), "Page 1: Classic grey Sneakers.");
    handler_result_clear(&r);
    s_text("back", &r);
    assert_string_equal(s_say(&r), "This is the first page.");
    handler_result_clear(&r);
}

static void
test_similar_with_nothing_in_view_but_a_category_is_a_search(void **state)
{
    (void) state;
    handler_result_t r;
    s_text("similar", &r);
    assert_string_equal(s_say(&r), "Similar to what? Show me a product first.");
    handler_result_clear(&r);
    s_text("similar boots", &r);
    s_results_are(&r, (const char *[]) { "boot-02", "boot-01", NULL });
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.body,
                                                                          "recommendations"),
                                                          "kind")),
                        "search");
    handler_result_clear(&r);
}

static void
test_help_and_a_sentence_not_understood_are_answers(void **state)
{
    (void) state;
    handler_result_t r;
    s_text("help", &r);
    assert_int_equal(json_array_size(json_object_get(r.body, "help")), 12);
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "answer", NULL });
    s_events_match_reply(&r);
    handler_result_clear(&r);

    s_text("fly me to the moon", &r);
    const json_t *intent = json_object_get(r.body, "intent");
    assert_false(json_is_true(json_object_get(intent, "understood")));
    assert_string_equal(json_string_value(json_object_get(intent, "heard_text")),
                        "fly me to the moon");
    assert_string_equal(s_say(&r), "Sorry, I did not understand that. Say \"help\" to hear "
                                   "what you can say.");
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "answer", NULL });
    handler_result_clear(&r);
}

static void
test_session_context_is_per_session_and_default_without_one(void **state)
{
    (void) state;
    handler_result_t r;
    s_text("show sneakers", &r);
    handler_result_clear(&r);
    /* no session in the envelope: the "default" session, with nothing in view */
    handler_result_init(&r);
    const proto_request_t *req = fixture_request(&s_f, "text", NULL,
                                                 json_pack("{s:s}", "text", "cheaper"));
    assert_int_equal(flow_text(&s_f.env, req, &r), PROTO_OK);
    assert_string_equal(s_say(&r), "Cheaper than what? Show me a product first.");
    fixture_events_are(&r, "default", (const char *[]) { "intent", "answer", NULL });
    handler_result_clear(&r);
}

static void
test_a_bad_text_body_is_invalid_with_no_events(void **state)
{
    (void) state;
    handler_result_t r;
    handler_result_init(&r);
    const proto_request_t *req = fixture_request(&s_f, "text", SESSION,
                                                 json_pack("{s:i}", "text", 7));
    assert_int_equal(flow_text(&s_f.env, req, &r), PROTO_E_INVALID);
    assert_int_equal(r.code, PROTO_E_INVALID);
    assert_string_equal(r.message, "body field \"text\" must be a string of 1 to 1000 bytes");
    assert_null(r.body);
    assert_int_equal(r.nevents, 0);
    handler_result_clear(&r);
}

static void
test_a_query_without_recommendations_is_not_available_with_no_events(void **state)
{
    (void) state;
    handler_env_t env = s_f.env;
    env.rec = NULL;
    handler_result_t r;
    handler_result_init(&r);
    const proto_request_t *req = fixture_request(&s_f, "text", SESSION,
                                                 json_pack("{s:s}", "text", "show sneakers"));
    assert_int_equal(flow_text(&env, req, &r), PROTO_E_NOT_AVAILABLE);
    assert_string_equal(r.message, "no recommendation service is running");
    assert_null(r.body);
    assert_int_equal(r.nevents, 0);
    handler_result_clear(&r);
}

static void
test_spoken_show_me_sneakers_is_the_sneaker_search(void **state)
{
    (void) state;
    size_t len;
    void *wav = fixture_read("data/demo/requests/show-me-sneakers.wav", &len);
    handler_result_t r;
    handler_result_init(&r);
    const proto_request_t *req = fixture_request(&s_f, "audio", SESSION, NULL);
    proto_err_t rc = flow_audio(&s_f.env, req, wav, len, &r);
    free(wav);
    if (rc != PROTO_OK)
        fail_msg("%s: %s", proto_err_name(rc), r.message);
    const json_t *intent = json_object_get(r.body, "intent");
    assert_string_equal(json_string_value(json_object_get(intent, "name")), "search");
    assert_true(json_array_size(json_object_get(r.body, "heard")) >= 1);
    assert_true(json_real_value(json_object_get(r.body, "audio_seconds")) > 0.5);
    s_results_are(&r, (const char *[]) { "sneaker-03", "sneaker-01", "sneaker-04", "sneaker-02",
                                         NULL });
    fixture_events_are(&r, SESSION, (const char *[]) { "intent", "recommendations", "answer",
                                                       NULL });
    s_events_match_reply(&r);
    handler_result_clear(&r);
}

static void
test_a_catalogue_photo_finds_its_product_and_similar_items(void **state)
{
    (void) state;
    size_t len;
    void *png = fixture_read("data/demo/photos/sneaker-03.png", &len);
    handler_result_t r;
    handler_result_init(&r);
    const proto_request_t *req = fixture_request(&s_f, "photo", SESSION, NULL);
    proto_err_t rc = flow_photo(&s_f.env, req, png, len, &r);
    free(png);
    if (rc != PROTO_OK)
        fail_msg("%s: %s", proto_err_name(rc), r.message);
    const json_t *product = json_object_get(r.body, "product");
    assert_false(json_is_true(json_object_get(product, "unsure")));
    assert_string_equal(json_string_value(json_object_get(product, "category")), "sneaker");
    /* the photo is the catalogue's own: its nearest photo is itself */
    const json_t *near0 = json_array_get(json_object_get(product, "nearest"), 0);
    assert_string_equal(json_string_value(json_object_get(near0, "item")), "sneaker-03");
    assert_true(json_real_value(json_object_get(near0, "score")) > 0.999);
    assert_string_equal(json_string_value(json_object_get(json_object_get(product, "item"), "id")),
                        "sneaker-03");
    assert_string_equal(s_sess(&r, "product"), "sneaker-03");
    /* similar: a page of 5 in stock, never itself, visual and behavioural
     * interleaved: the nearest other photo first, then the behavioural
     * first, the sneaker nearest in price (sneaker-04, 53.99) */
    const json_t *recs = json_object_get(r.body, "recommendations");
    assert_string_equal(json_string_value(json_object_get(recs, "kind")), "similar");
    const json_t *res = json_object_get(recs, "results");
    assert_int_equal(json_array_size(res), 5);
    for (size_t i = 0; i < json_array_size(res); i++) {
        const char *id = fixture_result_item(recs, i);
        assert_string_not_equal(id, "sneaker-03");
        assert_string_not_equal(id, "sneaker-08");
    }
    const char *v0 = NULL;
    for (size_t i = 1; !v0 && i < json_array_size(json_object_get(product, "nearest")); i++) {
        const char *id = json_string_value(json_object_get(
            json_array_get(json_object_get(product, "nearest"), i), "item"));
        if (strcmp(id, "sneaker-08") != 0)
            v0 = id;
    }
    assert_non_null(v0);
    assert_string_equal(fixture_result_item(recs, 0), v0);
    if (strcmp(v0, "sneaker-04") != 0)
        assert_string_equal(fixture_result_item(recs, 1), "sneaker-04");
    /* bought together: the most popular in stock, apart from the item and
     * what similar shows (the order of the fixture's header) */
    const char *pop[] = { "sneaker-01", "boot-02", "sneaker-04", "bag-02", "sneaker-02",
                          "boot-01", "bag-01" };
    const json_t *tog = json_object_get(recs, "together");
    size_t t = 0;
    for (size_t i = 0; i < SHOP_ARRAY_LEN(pop) && t < 3; i++) {
        bool shown = false;
        for (size_t j = 0; j < json_array_size(res); j++)
            shown |= !strcmp(fixture_result_item(recs, j), pop[i]);
        if (shown)
            continue;
        assert_string_equal(json_string_value(json_object_get(json_array_get(tog, t), "item")),
                            pop[i]);
        t++;
    }
    assert_int_equal(json_array_size(tog), t);
    fixture_events_are(&r, SESSION, (const char *[]) { "product", "recommendations", "answer",
                                                       NULL });
    s_events_match_reply(&r);
    handler_result_clear(&r);
}

static void
test_bytes_that_do_not_decode_are_invalid(void **state)
{
    (void) state;
    static const char junk[] = "RIFF\x10\0\0\0WAVEjunkjunk";
    handler_result_t r;
    handler_result_init(&r);
    const proto_request_t *req = fixture_request(&s_f, "audio", SESSION, NULL);
    assert_int_equal(flow_audio(&s_f.env, req, junk, sizeof junk - 1, &r), PROTO_E_INVALID);
    assert_true(strlen(r.message) > 0);
    assert_int_equal(r.nevents, 0);
    handler_result_clear(&r);
    req = fixture_request(&s_f, "photo", SESSION, NULL);
    static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0 };
    assert_int_equal(flow_photo(&s_f.env, req, png, sizeof png, &r), PROTO_E_INVALID);
    assert_true(strlen(r.message) > 0);
    assert_int_equal(r.nevents, 0);
    handler_result_clear(&r);
}

/* A command the microphone heard: the words the listener passes on. */
static listener_utterance_t
s_heard_words(const int *words, int n, bool understood)
{
    listener_utterance_t u;
    memset(&u, 0, sizeof u);
    u.n_words = n;
    for (int i = 0; i < n; i++)
        u.words[i] = (kws_hit_t) { words[i], 1.0 + 0.4 * i, 0.9f };
    u.wake_confidence = 0.95f;
    u.start = 0.5;
    u.end = 2.5;
    u.understood = understood;
    return u;
}

static void
test_a_command_the_microphone_heard_is_answered_on_its_session(void **state)
{
    (void) state;
    listener_utterance_t u = s_heard_words((const int[]) { VOCAB_SHOW, VOCAB_SNEAKERS }, 2, true);
    shop_strlcpy(u.result.intent, "search", sizeof u.result.intent);
    u.result.n_slots = 1;
    shop_strlcpy(u.result.slots[0].name, "category", sizeof u.result.slots[0].name);
    shop_strlcpy(u.result.slots[0].value, "sneaker", sizeof u.result.slots[0].value);
    u.result.confidence = 0.7f;
    handler_result_t r;
    handler_result_init(&r);
    assert_int_equal(flow_heard(&s_f.env, "mic", &u, &r), PROTO_OK);
    /* the same answer as the typed request, on the microphone's session */
    s_results_are(&r, (const char *[]) { "sneaker-03", "sneaker-01", "sneaker-04", "sneaker-02",
                                         NULL });
    assert_string_equal(s_say(&r), "Here are sneakers for you, starting with Classic grey Sneakers.");
    assert_string_equal(s_sess(&r, "product"), "sneaker-03");
    fixture_events_are(&r, "mic", (const char *[]) { "intent", "recommendations", "answer",
                                                     NULL });
    s_events_match_reply(&r);
    const json_t *heard = json_object_get(r.body, "heard");
    assert_int_equal(json_array_size(heard), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(heard, 1), "word")),
                        "sneakers");
    const json_t *mic = json_object_get(r.body, "microphone");
    assert_true(json_real_value(json_object_get(mic, "end")) == 2.5);
    handler_result_clear(&r);

    /* words that matched no sentence: an answer saying so, on the session */
    u = s_heard_words((const int[]) { VOCAB_SIX }, 1, false);
    shop_strlcpy(u.reason, "no sentence of the grammar matches the 1 words heard",
                 sizeof u.reason);
    handler_result_init(&r);
    assert_int_equal(flow_heard(&s_f.env, "mic", &u, &r), PROTO_OK);
    const json_t *intent = json_object_get(r.body, "intent");
    assert_false(json_is_true(json_object_get(intent, "understood")));
    assert_string_equal(json_string_value(json_object_get(intent, "reason")), u.reason);
    fixture_events_are(&r, "mic", (const char *[]) { "intent", "answer", NULL });
    handler_result_clear(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
        T(test_search_answers_the_category_in_stock_by_popularity),
        T(test_cheaper_is_strictly_below_the_price_in_view),
        T(test_add_and_remove_change_the_cart_and_return_a_cart_event),
        T(test_checkout_asks_then_no_keeps_and_yes_buys_the_cart),
        T(test_recommend_pages_with_next_and_back),
        T(test_similar_with_nothing_in_view_but_a_category_is_a_search),
        T(test_help_and_a_sentence_not_understood_are_answers),
        T(test_session_context_is_per_session_and_default_without_one),
        T(test_a_bad_text_body_is_invalid_with_no_events),
        T(test_a_query_without_recommendations_is_not_available_with_no_events),
        T(test_spoken_show_me_sneakers_is_the_sneaker_search),
        T(test_a_catalogue_photo_finds_its_product_and_similar_items),
        T(test_bytes_that_do_not_decode_are_invalid),
        T(test_a_command_the_microphone_heard_is_answered_on_its_session),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
