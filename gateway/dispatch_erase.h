/*
 * dispatch_erase: the upper side of an erasure passed upward.  A peer (a
 * lower minyi instance) erased the personal fields of a report it had
 * forwarded here and sends an EraseRequest naming the report's origin
 * (PROTOCOL.md §3.8.1); this instance erases its own copy's fields and
 * owes the erasure further up (storage/triage.h, triage_f_erase).
 */
#ifndef MINYI_DISPATCH_ERASE_H
#define MINYI_DISPATCH_ERASE_H

#include <stdbool.h>

#include "frame.h"
#include "caller.h"
#include "server.h"

/* Handles f when its body is erase and returns true (the request is then
 * answered, now or later); false for any other body. */
bool dispatch_erase_frame(struct caller *c, const Frame *f);

#endif
