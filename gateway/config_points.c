/*
 * config_points: the [points] section (config_points.h).
 */
#include "config_points.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "level.h"
#include "minyi.pb-c.h"

/* The figures a rule may name without a qualifier, and the qualifiers of
 * adopted_above (the levels minyi_region_level names). */
static const char *const plain_figures[] = {
    "received", "adopted", "forwarded", "issued", "rejected", "returned", "merged",
    "external_sent", "external_responses",
};
static const char *const above_levels[] = {"county", "city", "provincial", "national"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* The figure a key names (key with its first '.' as ':'), into out; false
 * when it names none.  An instruction level is given by its label. */
static bool figure_of_key(const char *key, char out[OFFICE_FIGURE_MAX])
{
    const char *dot = strchr(key, '.');
    int n;

    if (dot == NULL) {
        if (!in_list(key, plain_figures, N_OF(plain_figures)))
            return false;
        n = snprintf(out, OFFICE_FIGURE_MAX, "%s", key);
        return n > 0 && n < OFFICE_FIGURE_MAX;
    }
    size_t head = (size_t)(dot - key);
    const char *tail = dot + 1;
    if (head == strlen("adopted_above") && strncmp(key, "adopted_above", head) == 0) {
        if (!in_list(tail, above_levels, N_OF(above_levels)))
            return false;
    } else if (head == strlen("instruction") && strncmp(key, "instruction", head) == 0) {
        int level = level_parse(tail);
        if (level == 0 || strcmp(level_label(level), tail) != 0)
            return false;
    } else {
        return false;
    }
    n = snprintf(out, OFFICE_FIGURE_MAX, "%.*s:%s", (int)head, key, tail);
    return n > 0 && n < OFFICE_FIGURE_MAX;
}

static bool put(struct office_rules *r, const char *figure, double points)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->figures[i], figure) == 0) {
            r->points[i] = points;
            return true;
        }
    if (r->n == OFFICE_RULES_MAX)
        return false;
    snprintf(r->figures[r->n], OFFICE_FIGURE_MAX, "%s", figure);
    r->points[r->n++] = points;
    return true;
}

void config_points_defaults(struct office_rules *r)
{
    static const struct {
        const char *figure;
        double points;
    } defaults[] = {
        {"adopted", 2},
        {"issued", 3},
        {"adopted_above:city", 3},
        {"adopted_above:provincial", 5},
        {"adopted_above:national", 10},
        {"instruction:市领导", 3},
        {"instruction:省领导", 8},
        {"instruction:国家领导人", 15},
    };
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < N_OF(defaults); i++)
        if (!put(r, defaults[i].figure, defaults[i].points))
            abort(); /* the default table fits by construction */
    r->split = true;
}

bool config_points_option(struct office_rules *r, bool *replaced, const char *name,
                          const char *value, char *err, size_t errlen)
{
    char figure[OFFICE_FIGURE_MAX];
    char *end;

    if (strcmp(name, "merged_credit") == 0) {
        if (strcmp(value, "split") != 0 && strcmp(value, "full") != 0) {
            snprintf(err, errlen, "[points] merged_credit wants split or full, not \"%s\"", value);
            return false;
        }
        r->split = strcmp(value, "split") == 0;
        return true;
    }
    if (!figure_of_key(name, figure)) {
        snprintf(err, errlen,
                 "[points] %s names no figure (received, adopted, forwarded, issued, rejected, "
                 "returned, merged, external_sent, external_responses, adopted_above.LEVEL "
                 "with LEVEL county, city, provincial or national, instruction.LABEL with a "
                 "批示 level such as 省领导)",
                 name);
        return false;
    }
    double points = strtod(value, &end);
    if (end == value || *end != '\0' || !isfinite(points) || points < CONFIG_POINTS_MIN ||
        points > CONFIG_POINTS_MAX) {
        snprintf(err, errlen, "[points] %s wants a number from %g to %g, not \"%s\"", name,
                 CONFIG_POINTS_MIN, CONFIG_POINTS_MAX, value);
        return false;
    }
    if (!*replaced) {
        r->n = 0;
        *replaced = true;
    }
    if (!put(r, figure, points)) {
        snprintf(err, errlen, "[points] holds more than %d rules", OFFICE_RULES_MAX);
        return false;
    }
    return true;
}

void config_points_write(FILE *f, const char *prefix, const struct office_rules *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const char *figure = r->figures[i], *colon = strchr(figure, ':');
        if (colon == NULL)
            fprintf(f, "%s%s = %g\n", prefix, figure, r->points[i]);
        else
            fprintf(f, "%s%.*s.%s = %g\n", prefix, (int)(colon - figure), figure, colon + 1,
                    r->points[i]);
    }
}
