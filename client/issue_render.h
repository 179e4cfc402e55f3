/*
 * issue_render: a 专报 issue as people read it — printable HTML (A4, the
 * masthead with series, year, number, body and date, the items numbered
 * 一、二、…) and plain text with the same content.  What `minyi issue
 * export` writes; kept apart from the command line so it can be checked
 * without a gateway.
 */
#ifndef MINYI_ISSUE_RENDER_H
#define MINYI_ISSUE_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "minyi.pb-c.h"

/* Room for an item's Chinese ordinal with its comma ("四十九、"). */
#define ISSUE_RENDER_ORDINAL_MAX 32

/* The Chinese numeral of n (1..99) followed by 、 into out, e.g. 十二、;
 * other numbers in digits. */
void issue_render_ordinal(unsigned n, char *out, size_t len);

/* Writes the issue; false when out could not be written. */
bool issue_render_html(FILE *out, const Minyi__V1__Issue *m) __attribute__((warn_unused_result));
bool issue_render_text(FILE *out, const Minyi__V1__Issue *m) __attribute__((warn_unused_result));

#endif
