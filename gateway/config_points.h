/*
 * config_points: the [points] section of the gateway's config, the 考核
 * points table the office's `minyi points` applies to the history.
 *
 *   [points]
 *   adopted = 2                      ; one key per figure (migration 0023),
 *   adopted_above.provincial = 5     ; with '.' where the figure has ':'
 *   instruction.省领导 = 8           ; (INI reads ':' as '=')
 *   merged_credit = split            ; or full
 *
 * The first figure key in a file replaces the whole default table, so the
 * file's table is the table applied; merged_credit alone keeps it.
 */
#ifndef MINYI_CONFIG_POINTS_H
#define MINYI_CONFIG_POINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "office.h"

/* Points between these bounds, so a typo cannot dwarf every other rule. */
#define CONFIG_POINTS_MIN (-1000.0)
#define CONFIG_POINTS_MAX 1000.0

/* The default table: adopted here 2, an item of a published 专报 issue
 * (issued) 3, by a city above 3, by the province 5,
 * nationally 10, a 市领导 批示 3, a 省领导 批示 8, a 国家领导人 批示 15;
 * merged writers split an item's points. */
void config_points_defaults(struct office_rules *r);

/* One option of [points]; *replaced says whether the file has replaced the
 * defaults already (set on the first figure key).  False with why in err
 * for an unknown figure, a bad number or a full table. */
bool config_points_option(struct office_rules *r, bool *replaced, const char *name,
                          const char *value, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Writes r's figure keys as the file would give them, one "key = points"
 * line each after prefix (merged_credit is an option of its own). */
void config_points_write(FILE *f, const char *prefix, const struct office_rules *r);

#endif
