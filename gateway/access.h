/*
 * access: taking a principal's access away from its open connections.  A
 * principal disabled or removed (through any gateway on the database, or
 * the operator's command) is announced by NOTIFY; each gateway then sends
 * every open connection of that principal an Error frame (id 0,
 * PERMISSION_DENIED, field "certificate") and closes it once it is written.
 */
#ifndef MINYI_ACCESS_H
#define MINYI_ACCESS_H

#include <stdint.h>

#include "server.h"
#include "session.h"

/* Tells s its principal may no longer connect, and closes it. */
void access_deny(struct session *s, const char *reason);

/* store_principal_gone_cb: denies every open connection of principal_id
 * on this gateway (arg is the struct gw). */
void access_principal_gone(void *gw, int64_t principal_id);

#endif
