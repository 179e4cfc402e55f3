/*
 * dispatch_outbox: the editors' view of the outbox — list the deliveries
 * of forwarded reports (outbox), and retry a dead one or cancel a dead or
 * pending one (outbox_action).  Authorizes (PERMISSION_DENIED on field
 * "principal.kind" for any principal but an editor; offices and admins
 * may list, not act), validates, and hands
 * the request to storage/triage.h (triage_outbox_list, triage_outbox_act),
 * where the database decides under the row's lock.
 */
#ifndef MINYI_DISPATCH_OUTBOX_H
#define MINYI_DISPATCH_OUTBOX_H

#include <stdbool.h>

#include "frame.h"
#include "caller.h"
#include "server.h"

/* Handles f when its body is outbox or outbox_action and returns true (the
 * request is then answered, now or later); false for any other body.  f
 * is only read during the call. */
bool dispatch_outbox_frame(struct caller *c, const Frame *f);

#endif
