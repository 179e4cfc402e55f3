/*
 * console_chart: the office's figures and 考核 points as SVG charts drawn
 * by the gateway (GET /chart/stats.svg and /chart/points.svg), so the page
 * needs no chart script and prints the same on paper.
 *
 * Each chart is the answer of the protocol's own operation (stats,
 * points) run through console_api_run for the asking principal, so it
 * shows exactly what `minyi stats` and `minyi points` show and is refused
 * to whom they are refused.  The query string holds the request's fields:
 *
 *   /chart/stats.svg?from_ms=N&to_ms=N&by=STATS_BY_CATEGORY
 *   /chart/points.svg?year=2026&by=POINTS_BY_CONTACT_POINT
 *
 * Readable in black and white: the series differ by fill (white, black,
 * hatched), not by colour, and every bar carries its number.  At most
 * CONSOLE_CHART_ROWS_MAX rows are drawn; the chart says how many more
 * there are.  Every text from the database is escaped.
 */
#ifndef MINYI_CONSOLE_CHART_H
#define MINYI_CONSOLE_CHART_H

#include "console.h"

/* Rows drawn at most; the rest are counted in a line below the chart. */
#define CONSOLE_CHART_ROWS_MAX 40
/* Characters of a row's label shown; longer ones end in "…". */
#define CONSOLE_CHART_LABEL_CHARS 12

/* The route handler for /chart/. */
void console_chart_handle(struct console_req *r);

#endif
