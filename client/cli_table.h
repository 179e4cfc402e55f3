/*
 * cli_table: a table of figures as the office commands print it — one
 * header row and rows of cells that are text or numbers — written as CSV
 * (RFC 4180) or, by cli_xlsx.h, as a worksheet.  The same table feeds both,
 * so the two can never hold different numbers.
 */
#ifndef MINYI_CLI_TABLE_H
#define MINYI_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Most columns of one table, and the longest sheet name Excel allows. */
#define CLI_TABLE_COLS_MAX 32
#define CLI_TABLE_NAME_MAX 31

struct cli_cell {
    char *text;                 /* malloc'd; NULL for a number */
    double number;
};

struct cli_table {
    char name[CLI_TABLE_NAME_MAX * 4 + 1];   /* the sheet's name, UTF-8 */
    size_t n_cols;
    char *headers[CLI_TABLE_COLS_MAX];
    struct cli_cell *cells;     /* n_rows * n_cols, row by row */
    size_t n_rows, cap_rows;
};

/* A table with these headers (copied); false when out of memory or when
 * there are more than CLI_TABLE_COLS_MAX of them. */
bool cli_table_init(struct cli_table *t, const char *name, const char *const *headers,
                    size_t n_cols) __attribute__((warn_unused_result));
/* Appends a row of empty cells and answers its index, or -1 when out of
 * memory. */
long cli_table_add_row(struct cli_table *t) __attribute__((warn_unused_result));
/* Sets a cell of row (from cli_table_add_row); false when out of memory. */
bool cli_table_set_text(struct cli_table *t, size_t row, size_t col, const char *s)
    __attribute__((warn_unused_result));
void cli_table_set_number(struct cli_table *t, size_t row, size_t col, double v);
void cli_table_free(struct cli_table *t);

/* Writes the table as CSV: the header row, then the rows; numbers in the
 * shortest form that reads back the same (%.15g). */
void cli_table_csv(FILE *out, const struct cli_table *t);
/* Writes the table aligned for a terminal (columns padded by display width). */
void cli_table_print(FILE *out, const struct cli_table *t);

/* Columns a cell's text takes on a terminal or in a spreadsheet: two for a
 * wide (CJK) character, one for others. */
size_t cli_text_width(const char *s);
/* The same for the len bytes at s, which need not end in a NUL. */
size_t cli_text_width_n(const uint8_t *s, size_t len);

#endif
