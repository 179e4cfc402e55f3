/*
 * dispatch_triage: the editors' request bodies (queue, show, claim, renew,
 * release, edit, decide, watch) and the contact point's resubmit.
 * Authorizes (PERMISSION_DENIED on field "principal.kind" for any other
 * kind of principal), validates, hands the request to storage/triage.h and
 * turns the reply into the response frame.
 */
#ifndef MINYI_DISPATCH_TRIAGE_H
#define MINYI_DISPATCH_TRIAGE_H

#include <stdbool.h>

#include "frame.h"
#include "caller.h"
#include "server.h"

/* Handles f when its body is one of the above and returns true (the
 * request is then answered, now or later); false for any other body.
 * f is only read during the call. */
bool dispatch_triage_frame(struct caller *c, const Frame *f);

#endif
