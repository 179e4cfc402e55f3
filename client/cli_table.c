/*
 * cli_table: tables of figures, CSV and terminal output (cli_table.h).
 */
#include "cli_table.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

bool cli_table_init(struct cli_table *t, const char *name, const char *const *headers,
                    size_t n_cols)
{
    memset(t, 0, sizeof(*t));
    if (n_cols > CLI_TABLE_COLS_MAX)
        return false;
    snprintf(t->name, sizeof(t->name), "%s", name);
    for (size_t i = 0; i < n_cols; i++) {
        t->headers[i] = strdup(headers[i]);
        if (t->headers[i] == NULL)
            goto fail;
        t->n_cols = i + 1;
    }
    return true;
fail:
    cli_table_free(t);
    return false;
}

long cli_table_add_row(struct cli_table *t)
{
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        struct cli_cell *c = realloc(t->cells, cap * t->n_cols * sizeof(*c));
        if (c == NULL)
            return -1;
        t->cells = c;
        t->cap_rows = cap;
    }
    memset(&t->cells[t->n_rows * t->n_cols], 0, t->n_cols * sizeof(*t->cells));
    return (long)t->n_rows++;
}

bool cli_table_set_text(struct cli_table *t, size_t row, size_t col, const char *s)
{
    struct cli_cell *c = &t->cells[row * t->n_cols + col];
    char *copy = strdup(s);
    if (copy == NULL)
        return false;
    free(c->text);
    c->text = copy;
    return true;
}

void cli_table_set_number(struct cli_table *t, size_t row, size_t col, double v)
{
    struct cli_cell *c = &t->cells[row * t->n_cols + col];
    free(c->text);
    c->text = NULL;
    c->number = v;
}

void cli_table_free(struct cli_table *t)
{
    for (size_t i = 0; i < t->n_cols; i++)
        free(t->headers[i]);
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i].text);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

/* A field quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s != '\0'; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void cell_text(const struct cli_cell *c, char *buf, size_t len)
{
    if (c->text != NULL)
        snprintf(buf, len, "%s", c->text);
    else
        snprintf(buf, len, "%.15g", c->number);
}

void cli_table_csv(FILE *out, const struct cli_table *t)
{
    char buf[64];
    for (size_t i = 0; i < t->n_cols; i++) {
        if (i > 0)
            fputc(',', out);
        csv_field(out, t->headers[i]);
    }
    fputs("\r\n", out);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t i = 0; i < t->n_cols; i++) {
            const struct cli_cell *c = &t->cells[r * t->n_cols + i];
            if (i > 0)
                fputc(',', out);
            if (c->text != NULL) {
                csv_field(out, c->text);
            } else {
                cell_text(c, buf, sizeof(buf));
                fputs(buf, out);
            }
        }
        fputs("\r\n", out);
    }
}

size_t cli_text_width(const char *s)
{
    return cli_text_width_n((const uint8_t *)s, strlen(s));
}

size_t cli_text_width_n(const uint8_t *s, size_t len)
{
    const utf8proc_uint8_t *p = s;
    utf8proc_ssize_t left = (utf8proc_ssize_t)len;
    size_t w = 0;

    while (left > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
        if (n <= 0) {
            /* Not UTF-8: one column per byte, as a terminal shows it. */
            w++;
            n = 1;
        } else {
            int cw = utf8proc_charwidth(cp);
            w += cw > 0 ? (size_t)cw : 0;
        }
        p += n;
        left -= n;
    }
    return w;
}

static void padded(FILE *out, const char *s, size_t width, bool right)
{
    size_t w = cli_text_width(s);
    if (right)
        for (size_t i = w; i < width; i++)
            fputc(' ', out);
    fputs(s, out);
    if (!right)
        for (size_t i = w; i < width; i++)
            fputc(' ', out);
}

void cli_table_print(FILE *out, const struct cli_table *t)
{
    size_t width[CLI_TABLE_COLS_MAX];
    char buf[256];

    for (size_t i = 0; i < t->n_cols; i++) {
        width[i] = cli_text_width(t->headers[i]);
        for (size_t r = 0; r < t->n_rows; r++) {
            cell_text(&t->cells[r * t->n_cols + i], buf, sizeof(buf));
            size_t w = cli_text_width(buf);
            if (w > width[i])
                width[i] = w;
        }
    }
    for (size_t i = 0; i < t->n_cols; i++) {
        if (i > 0)
            fputs("  ", out);
        padded(out, t->headers[i], width[i], false);
    }
    fputc('\n', out);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t i = 0; i < t->n_cols; i++) {
            const struct cli_cell *c = &t->cells[r * t->n_cols + i];
            cell_text(c, buf, sizeof(buf));
            if (i > 0)
                fputs("  ", out);
            padded(out, buf, width[i], c->text == NULL);
        }
        fputc('\n', out);
    }
}
