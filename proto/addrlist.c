/*
 * addrlist: see addrlist.h.
 */
#include "addrlist.h"

#include <string.h>

bool addrlist_next(const char **cursor, const char *default_port, char *host, size_t hostlen,
                   char *port, size_t portlen)
{
    const char *s = *cursor;
    while (*s == ' ' || *s == ',')
        s++;
    if (*s == '\0')
        return false;
    size_t n = strcspn(s, ", ");
    *cursor = s + n;
    const char *h = s, *colon = NULL;
    size_t hn = n;
    if (*s == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return false;
        h = s + 1;
        hn = (size_t)(close - h);
        if (close + 1 < s + n && close[1] == ':')
            colon = close + 1;
    } else {
        const char *c1 = memchr(s, ':', n);
        /* One colon separates a port; more make an IPv6 address without one. */
        if (c1 != NULL && memchr(c1 + 1, ':', (size_t)(s + n - c1 - 1)) == NULL) {
            colon = c1;
            hn = (size_t)(c1 - s);
        }
    }
    size_t pn = colon ? (size_t)(s + n - colon - 1) : strlen(default_port);
    if (hn == 0 || hn >= hostlen || pn == 0 || pn >= portlen)
        return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    memcpy(port, colon ? colon + 1 : default_port, pn);
    port[pn] = '\0';
    return true;
}

bool addrlist_is_list(const char *list)
{
    return strcspn(list, ", :[") != strlen(list);
}
