/*
 * principal: names of principal kinds, as stored in principals.kind.
 */
#include "principal.h"

#include <stddef.h>
#include <string.h>

static const char *const kind_names[] = {
    [PRINCIPAL_CONTACT] = "contact",
    [PRINCIPAL_EDITOR] = "editor",
    [PRINCIPAL_PEER] = "peer",
    [PRINCIPAL_ADMIN] = "admin",
    [PRINCIPAL_OFFICE] = "office",
};

enum principal_kind principal_kind_parse(const char *s)
{
    size_t i;

    if (!s)
        return PRINCIPAL_NONE;
    for (i = 1; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (strcmp(s, kind_names[i]) == 0)
            return (enum principal_kind)i;
    return PRINCIPAL_NONE;
}

const char *principal_kind_name(enum principal_kind k)
{
    if ((int)k <= PRINCIPAL_NONE || (size_t)k >= sizeof kind_names / sizeof kind_names[0])
        return NULL;
    return kind_names[k];
}
