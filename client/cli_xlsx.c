/*
 * cli_xlsx: tables as an Excel workbook (cli_xlsx.h).
 */
#include "cli_xlsx.h"

#include <stdio.h>

#include <xlsxwriter.h>

static double column_width(const struct cli_table *t, size_t col)
{
    size_t w = cli_text_width(t->headers[col]);
    char buf[64];

    for (size_t r = 0; r < t->n_rows; r++) {
        const struct cli_cell *c = &t->cells[r * t->n_cols + col];
        size_t cw;
        if (c->text != NULL) {
            cw = cli_text_width(c->text);
        } else {
            snprintf(buf, sizeof(buf), "%.15g", c->number);
            cw = cli_text_width(buf);
        }
        if (cw > w)
            w = cw;
    }
    w += CLI_XLSX_WIDTH_PAD;
    return (double)(w > CLI_XLSX_WIDTH_MAX ? CLI_XLSX_WIDTH_MAX : w);
}

static bool write_sheet(lxw_workbook *wb, lxw_format *bold, const struct cli_table *t,
                        char *err, size_t errlen)
{
    lxw_worksheet *ws = workbook_add_worksheet(wb, t->name);
    lxw_error e = LXW_NO_ERROR;

    if (ws == NULL) {
        snprintf(err, errlen, "cannot add the worksheet %s", t->name);
        return false;
    }
    for (size_t i = 0; i < t->n_cols && e == LXW_NO_ERROR; i++) {
        e = worksheet_write_string(ws, 0, (lxw_col_t)i, t->headers[i], bold);
        if (e == LXW_NO_ERROR)
            e = worksheet_set_column(ws, (lxw_col_t)i, (lxw_col_t)i, column_width(t, i), NULL);
    }
    for (size_t r = 0; r < t->n_rows && e == LXW_NO_ERROR; r++)
        for (size_t i = 0; i < t->n_cols && e == LXW_NO_ERROR; i++) {
            const struct cli_cell *c = &t->cells[r * t->n_cols + i];
            if (c->text != NULL)
                e = worksheet_write_string(ws, (lxw_row_t)(r + 1), (lxw_col_t)i, c->text, NULL);
            else
                e = worksheet_write_number(ws, (lxw_row_t)(r + 1), (lxw_col_t)i, c->number,
                                           NULL);
        }
    if (e != LXW_NO_ERROR) {
        snprintf(err, errlen, "worksheet %s: %s", t->name, lxw_strerror(e));
        return false;
    }
    worksheet_freeze_panes(ws, 1, 0);
    return true;
}

bool cli_xlsx_write(const char *path, const struct cli_table *tables, size_t n, char *err,
                    size_t errlen)
{
    lxw_workbook *wb = workbook_new(path);

    if (wb == NULL) {
        snprintf(err, errlen, "cannot create the workbook %s", path);
        return false;
    }
    lxw_format *bold = workbook_add_format(wb);
    if (bold != NULL)
        format_set_bold(bold);
    for (size_t i = 0; i < n; i++)
        if (!write_sheet(wb, bold, &tables[i], err, errlen))
            goto fail;
    lxw_error e = workbook_close(wb);
    if (e != LXW_NO_ERROR) {
        snprintf(err, errlen, "cannot write the workbook %s: %s", path, lxw_strerror(e));
        return false;
    }
    return true;
fail:
    /* Closing is the only way to free the workbook; what it writes is
     * removed, as the workbook is incomplete. */
    (void)workbook_close(wb);
    remove(path);
    return false;
}
