/*
 * addrlist: a list of addresses of one service, as a client profile's
 * host and a [peer.NAME] host write it: "a", "a:7443", "[::1]:7443",
 * separated by commas (spaces allowed).  Shared by the client library,
 * which tries the gateways of a profile in order, and the forwarder, which
 * moves to the next address of the body above when one fails.
 */
#ifndef MINYI_ADDRLIST_H
#define MINYI_ADDRLIST_H

#include <stdbool.h>
#include <stddef.h>

/* Takes the next address from *cursor (start it at the list) into host and
 * port; an address without a port gets default_port.  False at the end of
 * the list or when an address is malformed or does not fit. */
bool addrlist_next(const char **cursor, const char *default_port, char *host, size_t hostlen,
                   char *port, size_t portlen) __attribute__((warn_unused_result));

/* True when list names more than one address or gives a port in it, so
 * there is no one host name a certificate could be checked against by
 * default. */
bool addrlist_is_list(const char *list);

#endif
