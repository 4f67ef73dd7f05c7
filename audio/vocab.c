/* audio/vocab.c: the keyword spotter's label table (see vocab.h). */
#include "audio/vocab.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name;    /* label, as the model file and the grammar spell it */
    vocab_kind_t kind;   /* what the word is for */
    const char *spoken;  /* text for the synthesisers, NULL for the filler classes */
    const char *slot;    /* category slot value, NULL for non-categories */
} s_word_t;

/* Indexed by vocab_word_t: keep the two in the same order. */
static const s_word_t s_words[VOCAB_COUNT] = {
    [VOCAB_SILENCE]   = { "_silence_", VOCAB_KIND_FILLER, NULL, NULL },
    [VOCAB_UNKNOWN]   = { "_unknown_", VOCAB_KIND_FILLER, NULL, NULL },
    [VOCAB_WAKE]      = { "shopwise", VOCAB_KIND_WAKE, "shop wise", NULL },
    [VOCAB_SHOW]      = { "show", VOCAB_KIND_COMMAND, "show", NULL },
    [VOCAB_FIND]      = { "find", VOCAB_KIND_COMMAND, "find", NULL },
    [VOCAB_RECOMMEND] = { "recommend", VOCAB_KIND_COMMAND, "recommend", NULL },
    [VOCAB_SIMILAR]   = { "similar", VOCAB_KIND_COMMAND, "similar", NULL },
    [VOCAB_CHEAPER]   = { "cheaper", VOCAB_KIND_COMMAND, "cheaper", NULL },
    [VOCAB_ADD]       = { "add", VOCAB_KIND_COMMAND, "add", NULL },
    [VOCAB_REMOVE]    = { "remove", VOCAB_KIND_COMMAND, "remove", NULL },
    [VOCAB_CART]      = { "cart", VOCAB_KIND_COMMAND, "cart", NULL },
    [VOCAB_CHECKOUT]  = { "checkout", VOCAB_KIND_COMMAND, "checkout", NULL },
    [VOCAB_NEXT]      = { "next", VOCAB_KIND_COMMAND, "next", NULL },
    [VOCAB_BACK]      = { "back", VOCAB_KIND_COMMAND, "back", NULL },
    [VOCAB_YES]       = { "yes", VOCAB_KIND_COMMAND, "yes", NULL },
    [VOCAB_NO]        = { "no", VOCAB_KIND_COMMAND, "no", NULL },
    [VOCAB_CANCEL]    = { "cancel", VOCAB_KIND_COMMAND, "cancel", NULL },
    [VOCAB_STOP]      = { "stop", VOCAB_KIND_COMMAND, "stop", NULL },
    [VOCAB_HELP]      = { "help", VOCAB_KIND_COMMAND, "help", NULL },
    [VOCAB_TSHIRT]    = { "t-shirt", VOCAB_KIND_CATEGORY, "tee shirt", "t-shirt" },
    [VOCAB_TROUSERS]  = { "trousers", VOCAB_KIND_CATEGORY, "trousers", "trouser" },
    [VOCAB_PULLOVER]  = { "pullover", VOCAB_KIND_CATEGORY, "pullover", "pullover" },
    [VOCAB_DRESS]     = { "dress", VOCAB_KIND_CATEGORY, "dress", "dress" },
    [VOCAB_COAT]      = { "coat", VOCAB_KIND_CATEGORY, "coat", "coat" },
    [VOCAB_SANDALS]   = { "sandals", VOCAB_KIND_CATEGORY, "sandals", "sandal" },
    [VOCAB_SHIRT]     = { "shirt", VOCAB_KIND_CATEGORY, "shirt", "shirt" },
    [VOCAB_SNEAKERS]  = { "sneakers", VOCAB_KIND_CATEGORY, "sneakers", "sneaker" },
    [VOCAB_BAG]       = { "bag", VOCAB_KIND_CATEGORY, "bag", "bag" },
    [VOCAB_BOOTS]     = { "boots", VOCAB_KIND_CATEGORY, "boots", "boot" },
    [VOCAB_ONE]       = { "one", VOCAB_KIND_NUMBER, "one", NULL },
    [VOCAB_TWO]       = { "two", VOCAB_KIND_NUMBER, "two", NULL },
    [VOCAB_THREE]     = { "three", VOCAB_KIND_NUMBER, "three", NULL },
    [VOCAB_FOUR]      = { "four", VOCAB_KIND_NUMBER, "four", NULL },
    [VOCAB_FIVE]      = { "five", VOCAB_KIND_NUMBER, "five", NULL },
    [VOCAB_SIX]       = { "six", VOCAB_KIND_NUMBER, "six", NULL },
    [VOCAB_SEVEN]     = { "seven", VOCAB_KIND_NUMBER, "seven", NULL },
    [VOCAB_EIGHT]     = { "eight", VOCAB_KIND_NUMBER, "eight", NULL },
    [VOCAB_NINE]      = { "nine", VOCAB_KIND_NUMBER, "nine", NULL },
    [VOCAB_TEN]       = { "ten", VOCAB_KIND_NUMBER, "ten", NULL },
};

/* Other spellings people and grammar files use for the same labels. */
static const struct {
    const char *alias;
    vocab_word_t id;
} s_aliases[] = {
    { "shop wise", VOCAB_WAKE }, { "shop-wise", VOCAB_WAKE },
    { "tshirt", VOCAB_TSHIRT }, { "t shirt", VOCAB_TSHIRT }, { "tee shirt", VOCAB_TSHIRT },
    { "t-shirts", VOCAB_TSHIRT }, { "trouser", VOCAB_TROUSERS }, { "sandal", VOCAB_SANDALS },
    { "sneaker", VOCAB_SNEAKERS }, { "boot", VOCAB_BOOTS }, { "check out", VOCAB_CHECKOUT },
    /* plurals a typed request uses (the spotter hears the word either way) */
    { "tshirts", VOCAB_TSHIRT }, { "t shirts", VOCAB_TSHIRT }, { "tee shirts", VOCAB_TSHIRT },
    { "pullovers", VOCAB_PULLOVER }, { "dresses", VOCAB_DRESS }, { "coats", VOCAB_COAT },
    { "shirts", VOCAB_SHIRT }, { "bags", VOCAB_BAG },
    { "1", VOCAB_ONE }, { "2", VOCAB_TWO }, { "3", VOCAB_THREE }, { "4", VOCAB_FOUR },
    { "5", VOCAB_FIVE }, { "6", VOCAB_SIX }, { "7", VOCAB_SEVEN }, { "8", VOCAB_EIGHT },
    { "9", VOCAB_NINE }, { "10", VOCAB_TEN },
};

int
vocab_count(void)
{
    return VOCAB_COUNT;
}

const char *
vocab_name(int id)
{
    return id >= 0 && id < VOCAB_COUNT ? s_words[id].name : NULL;
}

int
vocab_find(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < VOCAB_COUNT; i++)
        if (strcasecmp(name, s_words[i].name) == 0)
            return i;
    for (size_t i = 0; i < sizeof s_aliases / sizeof s_aliases[0]; i++)
        if (strcasecmp(name, s_aliases[i].alias) == 0)
            return (int) s_aliases[i].id;
    return -1;
}

vocab_kind_t
vocab_kind(int id)
{
    return id >= 0 && id < VOCAB_COUNT ? s_words[id].kind : VOCAB_KIND_FILLER;
}

bool
vocab_is_keyword(int id)
{
    return vocab_kind(id) != VOCAB_KIND_FILLER;
}

int
vocab_number(int id)
{
    return vocab_kind(id) == VOCAB_KIND_NUMBER ? id - VOCAB_ONE + 1 : -1;
}

int
vocab_category(int id)
{
    return vocab_kind(id) == VOCAB_KIND_CATEGORY ? id - VOCAB_TSHIRT : -1;
}

const char *
vocab_category_slot(int id)
{
    return vocab_kind(id) == VOCAB_KIND_CATEGORY ? s_words[id].slot : NULL;
}

const char *
vocab_spoken(int id)
{
    return id >= 0 && id < VOCAB_COUNT ? s_words[id].spoken : NULL;
}

#define S_CHECK(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "vocab_test: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            return -1;                                                        \
        }                                                                     \
    } while (0)

int
vocab_test(bool verbose)
{
    if (verbose)
        printf(" * vocab: ");
    S_CHECK(vocab_count() == 39);
    for (int i = 0; i < VOCAB_COUNT; i++) {
        S_CHECK(s_words[i].name != NULL);
        S_CHECK(vocab_find(vocab_name(i)) == i);
        S_CHECK((vocab_spoken(i) != NULL) == vocab_is_keyword(i));
        for (int j = 0; j < i; j++)
            S_CHECK(strcmp(s_words[i].name, s_words[j].name) != 0);
    }
    S_CHECK(vocab_name(-1) == NULL && vocab_name(VOCAB_COUNT) == NULL);
    S_CHECK(strcmp(vocab_name(VOCAB_WAKE), "shopwise") == 0);
    S_CHECK(vocab_kind(VOCAB_WAKE) == VOCAB_KIND_WAKE);
    S_CHECK(!vocab_is_keyword(VOCAB_SILENCE) && !vocab_is_keyword(VOCAB_UNKNOWN));
    S_CHECK(!vocab_is_keyword(-3) && !vocab_is_keyword(VOCAB_COUNT));
    S_CHECK(vocab_find("SNEAKER") == VOCAB_SNEAKERS);
    S_CHECK(vocab_find("T Shirt") == VOCAB_TSHIRT);
    S_CHECK(vocab_find("7") == VOCAB_SEVEN);
    S_CHECK(vocab_find("sevens") == -1 && vocab_find(NULL) == -1 && vocab_find("") == -1);
    S_CHECK(vocab_number(VOCAB_ONE) == 1 && vocab_number(VOCAB_TEN) == 10);
    S_CHECK(vocab_number(VOCAB_ADD) == -1);
    S_CHECK(vocab_category(VOCAB_TSHIRT) == 0 && vocab_category(VOCAB_BOOTS) == 9);
    S_CHECK(vocab_category(VOCAB_SANDALS) == 5 && vocab_category(VOCAB_TEN) == -1);
    S_CHECK(strcmp(vocab_category_slot(VOCAB_SNEAKERS), "sneaker") == 0);
    S_CHECK(vocab_category_slot(VOCAB_HELP) == NULL);
    S_CHECK(strcmp(vocab_spoken(VOCAB_TSHIRT), "tee shirt") == 0);
    if (verbose)
        printf("OK\n");
    return 0;
}
