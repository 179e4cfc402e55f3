/*
 * labels: see labels.h.  The tables follow the enums' numbers in
 * minyi.proto; index 0 is the unspecified value.
 */
#include <stddef.h>

#include "labels.h"

static const char *const category[] = {
    NULL, "经济", "政治", "文化", "社会", "生态", "党建", "其他",
};
static const char *const reporter_kind[] = {
    NULL, "委员", "党派团体", "界别", "下级政协", "委室", "联系点", "群众",
};

const char *labels_category(unsigned long value)
{
    return value < sizeof(category) / sizeof(category[0]) ? category[value] : NULL;
}

const char *labels_reporter_kind(unsigned long value)
{
    return value < sizeof(reporter_kind) / sizeof(reporter_kind[0]) ? reporter_kind[value] : NULL;
}
