/*
 * dispatch_inbox: 码上商 on the protocol port — a contact point's inbox of
 * messages from the public (list, show, reply or dismiss, convert into a
 * report) and the posters whose QR code leads the public to it.  Only a
 * contact point has an inbox (others: PERMISSION_DENIED on
 * "principal.kind"); posters are made by a contact point for itself and by
 * offices and admins for any contact point.  Storage: storage/inbox.h.
 */
#ifndef MINYI_DISPATCH_INBOX_H
#define MINYI_DISPATCH_INBOX_H

#include <stdbool.h>

#include "frame.h"
#include "caller.h"
#include "server.h"

/* The path of the public form under [public] base_url; the token follows
 * in the query (public_token.h). */
#define DISPATCH_INBOX_FORM_PATH "/public/?t="

/* Handles f when its body is one of the inbox operations or poster and
 * returns true (the request is then answered, now or later); false for any
 * other body. */
bool dispatch_inbox_frame(struct caller *c, const Frame *f);

#endif
