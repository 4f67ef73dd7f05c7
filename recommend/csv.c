/* recommend/csv.c: RFC 4180 CSV reader (see csv.h). */
#include "recommend/csv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct _csv_t {
    const char *buf;             /* the input, not owned */
    size_t len;                  /* its length */
    size_t pos;                  /* next byte to read */
    size_t line;                 /* line number at pos */
    size_t row_line;             /* line where the last row began */
    const char *err;             /* reason for the last CSV_BAD */
    char text[CSV_MAX_ROW + 1];  /* decoded fields, NUL-separated */
    char *fields[CSV_MAX_FIELDS];
};

csv_t *
csv_new(const char *buf, size_t len)
{
    csv_t *c = xcalloc(1, sizeof *c);
    c->buf = buf;
    c->len = len;
    c->line = 1;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        c->pos = 3;
    c->err = "";
    return c;
}

void
csv_destroy(csv_t **c_p)
{
    if (c_p && *c_p) {
        free(*c_p);
        *c_p = NULL;
    }
}

/* Skips to just after the next line end outside quotes' knowledge: used to
 * resynchronise after a bad row. */
static void
s_skip_line(csv_t *c)
{
    while (c->pos < c->len && c->buf[c->pos] != '\n')
        c->pos++;
    if (c->pos < c->len) {
        c->pos++;
        c->line++;
    }
}

static int
s_bad(csv_t *c, const char *why, bool resync)
{
    c->err = why;
    if (resync)
        s_skip_line(c);
    return CSV_BAD;
}

int
csv_next(csv_t *c, char ***fields, int *n)
{
    *fields = c->fields;
    *n = 0;
    /* skip empty lines */
    while (c->pos < c->len && (c->buf[c->pos] == '\n' || c->buf[c->pos] == '\r')) {
        if (c->buf[c->pos] == '\n')
            c->line++;
        c->pos++;
    }
    if (c->pos >= c->len)
        return CSV_EOF;
    c->row_line = c->line;
    size_t out = 0;
    int nf = 0;
    c->fields[nf++] = c->text;
    for (;;) {
        /* one field */
        if (c->pos < c->len && c->buf[c->pos] == '"') {
            c->pos++;
            for (;;) {
                if (c->pos >= c->len)
                    return s_bad(c, "unterminated quoted field", false);
                char ch = c->buf[c->pos++];
                if (ch == '"') {
                    if (c->pos < c->len && c->buf[c->pos] == '"') {
                        c->pos++;
                    } else {
                        break;
                    }
                }
                if (ch == '\n')
                    c->line++;
                if (out >= CSV_MAX_ROW)
                    return s_bad(c, "row too long", true);
                c->text[out++] = ch;
            }
            if (c->pos < c->len && c->buf[c->pos] != ',' && c->buf[c->pos] != '\n'
                && c->buf[c->pos] != '\r')
                return s_bad(c, "text after a closing quote", true);
        } else {
            while (c->pos < c->len && c->buf[c->pos] != ',' && c->buf[c->pos] != '\n'
                   && c->buf[c->pos] != '\r') {
                char ch = c->buf[c->pos++];
                if (ch == '"')
                    return s_bad(c, "quote inside an unquoted field", true);
                if (out >= CSV_MAX_ROW)
                    return s_bad(c, "row too long", true);
                c->text[out++] = ch;
            }
        }
        if (out >= CSV_MAX_ROW)
            return s_bad(c, "row too long", true);
        c->text[out++] = '\0';
        if (c->pos < c->len && c->buf[c->pos] == ',') {
            c->pos++;
            if (nf >= CSV_MAX_FIELDS)
                return s_bad(c, "too many fields", true);
            c->fields[nf++] = c->text + out;
            continue;
        }
        /* end of row: CRLF, LF, lone CR or end of input */
        if (c->pos < c->len && c->buf[c->pos] == '\r')
            c->pos++;
        if (c->pos < c->len && c->buf[c->pos] == '\n') {
            c->pos++;
            c->line++;
        }
        break;
    }
    *n = nf;
    return CSV_ROW;
}

size_t
csv_line(const csv_t *c)
{
    return c->row_line;
}

const char *
csv_error(const csv_t *c)
{
    return c->err;
}

int
csv_test(void)
{
    static const char in[] = "\xEF\xBB\xBF" "a,b,c\r\n"
                             "1,\"x, \"\"y\"\"\",\n"
                             "\n"
                             "2,\"multi\nline\",z\n"
                             "3,bad\"quote,q\n"
                             "4,\"ok\"junk,q\n"
                             "5,last";
    csv_t *c = csv_new(in, sizeof in - 1);
    char **f;
    int n, ok = 0;
    ok += csv_next(c, &f, &n) == CSV_ROW && n == 3 && strcmp(f[0], "a") == 0
          && strcmp(f[2], "c") == 0;
    ok += csv_next(c, &f, &n) == CSV_ROW && n == 3 && strcmp(f[1], "x, \"y\"") == 0
          && f[2][0] == '\0' && csv_line(c) == 2;
    ok += csv_next(c, &f, &n) == CSV_ROW && n == 3 && strcmp(f[1], "multi\nline") == 0
          && csv_line(c) == 4;
    ok += csv_next(c, &f, &n) == CSV_BAD && strstr(csv_error(c), "quote") != NULL;
    ok += csv_next(c, &f, &n) == CSV_BAD && strstr(csv_error(c), "after") != NULL;
    ok += csv_next(c, &f, &n) == CSV_ROW && n == 2 && strcmp(f[1], "last") == 0
          && csv_line(c) == 8;
    ok += csv_next(c, &f, &n) == CSV_EOF;
    csv_destroy(&c);
    static const char unterminated[] = "1,\"never closed\n2,3\n";
    c = csv_new(unterminated, sizeof unterminated - 1);
    ok += csv_next(c, &f, &n) == CSV_BAD && strstr(csv_error(c), "unterminated") != NULL;
    ok += csv_next(c, &f, &n) == CSV_EOF;
    csv_destroy(&c);
    return ok == 9 ? 0 : -1;
}
