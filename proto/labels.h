/*
 * labels: the Chinese names people read for the protocol's coded values
 * that figures are broken down by (Category, ReporterKind), one table
 * shared by the CLI's tables and the console's charts, so the two never
 * disagree.
 */
#ifndef MINYI_LABELS_H
#define MINYI_LABELS_H

/* The name of a Category value, e.g. "社会"; NULL for 0 or an unknown value. */
const char *labels_category(unsigned long value);
/* The name of a ReporterKind value, e.g. "联系点"; NULL for 0 or an unknown value. */
const char *labels_reporter_kind(unsigned long value);

#endif
