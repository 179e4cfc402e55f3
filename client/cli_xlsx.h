/*
 * cli_xlsx: tables (cli_table.h) as an Excel workbook through
 * libxlsxwriter — one worksheet per table, its header row bold and
 * frozen, numbers stored as numbers, and every column as wide as its
 * widest text (Chinese characters count twice).
 */
#ifndef MINYI_CLI_XLSX_H
#define MINYI_CLI_XLSX_H

#include <stdbool.h>
#include <stddef.h>

#include "cli_table.h"

/* Columns wider than this are cut to it (a long title need not fill the
 * screen); the padding is added to the widest text. */
#define CLI_XLSX_WIDTH_MAX 60
#define CLI_XLSX_WIDTH_PAD 2

/* Writes the n tables to a new workbook at path (replacing a file there);
 * false with the reason in err. */
bool cli_xlsx_write(const char *path, const struct cli_table *tables, size_t n, char *err,
                    size_t errlen) __attribute__((warn_unused_result));

#endif
