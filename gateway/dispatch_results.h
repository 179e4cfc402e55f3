/*
 * dispatch_results: the upper side of results flowing back down.  A peer
 * (a lower minyi instance) sends a ResultsRequest acknowledging the
 * results it has stored and asking for the next ones it is owed
 * (storage/triage.h, triage_r_pull; PROTOCOL.md §3.9).
 */
#ifndef MINYI_DISPATCH_RESULTS_H
#define MINYI_DISPATCH_RESULTS_H

#include <stdbool.h>

#include "frame.h"
#include "caller.h"
#include "server.h"

/* Handles f when its body is results and returns true (the request is then
 * answered, now or later); false for any other body. */
bool dispatch_results_frame(struct caller *c, const Frame *f);

#endif
