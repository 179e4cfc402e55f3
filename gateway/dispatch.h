/*
 * dispatch: routes one decoded request frame to its operation (authorize,
 * validate, hand to storage) and turns the storage reply into a response.
 */
#ifndef MINYI_DISPATCH_H
#define MINYI_DISPATCH_H

#include "frame.h"
#include "caller.h"
#include "server.h"

/* Handles f; takes ownership of arena (f lives in it). */
void dispatch_frame(struct caller *c, Frame *f, struct frame_arena *arena);

#endif
