/*
 * level: the closed list of 批示 levels (see level.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "level.h"
#include "minyi.pb-c.h"

static const struct {
    int level;
    const char *label;
} levels[] = {
    {MINYI__V1__INSTRUCTION_LEVEL__NATIONAL_LEADER, "国家领导人"},
    {MINYI__V1__INSTRUCTION_LEVEL__PROVINCIAL_LEADER, "省领导"},
    {MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER, "市领导"},
    {MINYI__V1__INSTRUCTION_LEVEL__COUNTY_LEADER, "县领导"},
    {MINYI__V1__INSTRUCTION_LEVEL__DEPARTMENT, "部门"},
};
#define N_LEVELS (sizeof(levels) / sizeof(levels[0]))

const char *level_label(int level)
{
    for (size_t i = 0; i < N_LEVELS; i++)
        if (levels[i].level == level)
            return levels[i].label;
    return NULL;
}

int level_parse(const char *s)
{
    const ProtobufCEnumDescriptor *d = &minyi__v1__instruction_level__descriptor;
    char *end;
    long n = strtol(s, &end, 10);
    if (s[0] != '\0' && *end == '\0')
        return level_label((int)n) != NULL ? (int)n : 0;
    for (size_t i = 0; i < N_LEVELS; i++)
        if (strcmp(s, levels[i].label) == 0)
            return levels[i].level;
    for (unsigned i = 0; i < d->n_values; i++)
        if (d->values[i].value != 0 && strcasecmp(s, d->values[i].name) == 0)
            return d->values[i].value;
    return 0;
}
