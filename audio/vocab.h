/* audio/vocab.h: the words shopd's keyword spotter knows.
 *
 * One table is the single truth for the labels: the speech corpus generator
 * synthesises them, the keyword-spotting CNN's output units follow its order,
 * and the intent grammar refers to words by the names below. Word ids are
 * stable: the shipped model's labels are checked against this table when it
 * loads, so reordering the enum means retraining the model.
 *
 * The wake word is "shopwise": two syllables, an invented compound that
 * ordinary speech almost never contains, and one that espeak-ng, flite and
 * festival all pronounce the same way ("shop" + "wise"). */
#ifndef SHOP_AUDIO_VOCAB_H
#define SHOP_AUDIO_VOCAB_H

#include <stdbool.h>

typedef enum {
    VOCAB_SILENCE = 0,  /* "_silence_": no speech (quiet or noise only) */
    VOCAB_UNKNOWN,      /* "_unknown_": speech that is not one of the words below */
    VOCAB_WAKE,         /* "shopwise": the wake word */
    /* commands */
    VOCAB_SHOW,
    VOCAB_FIND,
    VOCAB_RECOMMEND,
    VOCAB_SIMILAR,
    VOCAB_CHEAPER,
    VOCAB_ADD,
    VOCAB_REMOVE,
    VOCAB_CART,
    VOCAB_CHECKOUT,
    VOCAB_NEXT,
    VOCAB_BACK,
    VOCAB_YES,
    VOCAB_NO,
    VOCAB_CANCEL,
    VOCAB_STOP,
    VOCAB_HELP,
    /* product categories, in the order of the vision model's classes (Fashion-MNIST) */
    VOCAB_TSHIRT,
    VOCAB_TROUSERS,
    VOCAB_PULLOVER,
    VOCAB_DRESS,
    VOCAB_COAT,
    VOCAB_SANDALS,
    VOCAB_SHIRT,
    VOCAB_SNEAKERS,
    VOCAB_BAG,
    VOCAB_BOOTS,
    /* quantities */
    VOCAB_ONE,
    VOCAB_TWO,
    VOCAB_THREE,
    VOCAB_FOUR,
    VOCAB_FIVE,
    VOCAB_SIX,
    VOCAB_SEVEN,
    VOCAB_EIGHT,
    VOCAB_NINE,
    VOCAB_TEN,
    VOCAB_COUNT         /* number of labels (the CNN's output size) */
} vocab_word_t;

/* What a word is for; the intent grammar uses it to fill slots. */
typedef enum {
    VOCAB_KIND_FILLER = 0,  /* _silence_ and _unknown_: never reported as words */
    VOCAB_KIND_WAKE,
    VOCAB_KIND_COMMAND,
    VOCAB_KIND_CATEGORY,
    VOCAB_KIND_NUMBER
} vocab_kind_t;

/* Returns the number of labels, VOCAB_COUNT. */
int vocab_count(void);

/* Returns the label of word id ("shopwise", "t-shirt", "_silence_", ...), a
 * static string the caller must not free, or NULL when id is out of range. */
const char *vocab_name(int id);

/* Returns the id of the word called name, or -1 when there is none. Case is
 * ignored, and the spellings "tshirt", "t shirt", "tee shirt", "trouser",
 * "sandal", "sneaker", "boot", "shop wise", the plurals ("t-shirts", "tee
 * shirts", "pullovers", "dresses", "coats", "shirts", "bags") and the digits
 * "1".."10" are accepted for the labels they obviously mean. */
int vocab_find(const char *name);

/* Returns the kind of word id (VOCAB_KIND_FILLER when out of range). */
vocab_kind_t vocab_kind(int id);

/* Returns true when id is a word the spotter reports (wake word, command,
 * category or number), false for _silence_, _unknown_ and bad ids. */
bool vocab_is_keyword(int id);

/* Returns 1..10 for the number words, -1 for every other id. */
int vocab_number(int id);

/* Returns the vision class index (0 t-shirt .. 9 boots, the Fashion-MNIST
 * order) for a category word, -1 for every other id. */
int vocab_category(int id);

/* Returns the category's singular slot value ("t-shirt", "trouser",
 * "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"),
 * a static string, or NULL when id is not a category word. */
const char *vocab_category_slot(int id);

/* Returns the text the speech synthesisers are given for word id, spelled so
 * they all pronounce it as a shopper would ("tee shirt", "shop wise"), a
 * static string; NULL for _silence_, _unknown_ and bad ids. */
const char *vocab_spoken(int id);

/* Self-test: checks every function against the table. Returns 0 on success,
 * -1 (after printing what failed) on failure. */
int vocab_test(bool verbose);

#endif
