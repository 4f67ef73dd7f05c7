/* recommend/csv.h: an RFC 4180 CSV reader over a memory buffer.
 *
 * Quoted fields may hold commas, newlines and doubled quotes; CRLF and LF
 * both end a row; a UTF-8 byte-order mark at the start is skipped. Bytes come
 * from users' files, so nothing here asserts: a malformed row (unterminated
 * quote, text after a closing quote, too many fields, too long) is reported
 * as CSV_BAD with a reason, and reading resumes at the next line.
 */
#ifndef SHOP_RECOMMEND_CSV_H
#define SHOP_RECOMMEND_CSV_H

#include <stddef.h>

#define CSV_MAX_FIELDS 64
#define CSV_MAX_ROW    65536   /* bytes of decoded text in one row */

typedef struct _csv_t csv_t;

enum { CSV_EOF = 0, CSV_ROW = 1, CSV_BAD = -1 };

/* A reader over buf[0..len) (not copied: buf must outlive the reader).
 * Returns NULL only when out of memory is impossible: never NULL. */
csv_t *csv_new(const char *buf, size_t len);
void csv_destroy(csv_t **c_p);

/* Reads the next row. CSV_ROW: *fields (owned by the reader, valid until the
 * next call) holds *n NUL-terminated fields. CSV_BAD: the row was skipped,
 * csv_error() says why. CSV_EOF: no more rows. Empty lines are skipped. */
int csv_next(csv_t *c, char ***fields, int *n);

/* Line number (1-based) where the last row returned began. */
size_t csv_line(const csv_t *c);
/* Why the last row was CSV_BAD (static string). */
const char *csv_error(const csv_t *c);

int csv_test(void);

#endif
