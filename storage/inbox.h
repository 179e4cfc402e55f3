/*
 * inbox: a contact point's messages from the public (码上商) — listing
 * them, reading one (its sealed name and phone opened), replying to the
 * sender or dismissing it, converting messages into a report — and the
 * poster's token generation.  The SQL functions are those of migrations
 * 0030_public.sql and 0038_public_convert.sql; the public door's own calls
 * (storing a message, reading a pickup code) are in public_msg.h.
 *
 * Calls follow store.h's contract: the callback is invoked exactly once,
 * on the loop, never from inside the call; on success reply->msg is a
 * malloc'd protobuf message the receiver owns.  Only a contact point has an
 * inbox: anyone else is PERMISSION_DENIED on principal.kind, and a message
 * of another contact point is NOT_FOUND.
 */
#ifndef MINYI_INBOX_H
#define MINYI_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "intake.h"
#include "store.h"

#define INBOX_LIST_DEFAULT 50
#define INBOX_LIST_MAX 200
/* Messages one report may be made of. */
#define INBOX_CONVERT_MAX 10
/* Associated data that binds the sealed fields of a message to their column. */
#define INBOX_AAD_NAME  "minyi:public_messages.name_enc"
#define INBOX_AAD_PHONE "minyi:public_messages.phone_enc"

/* The statuses a message can have, and whether s is one of them. */
bool inbox_status_known(const char *s);

/* A page of actor's inbox: status "" for any, limit 0 for the default, below
 * message cursor (0: from the newest).  Reply msg: Minyi__V1__InboxResponse. */
void inbox_list(struct store *st, int64_t actor, const char *status, uint32_t limit,
                int64_t cursor, store_reply_cb cb, void *arg);

/* Message id of actor's inbox.  Reply msg: Minyi__V1__InboxMessage. */
void inbox_show(struct store *st, int64_t actor, int64_t id, store_reply_cb cb, void *arg);

/* Replies text to the sender of message id, or dismisses it with text as
 * the reason.  Reply msg: Minyi__V1__Ok; CONFLICT when it is closed. */
void inbox_answer(struct store *st, int64_t actor, int64_t id, bool dismiss, const char *text,
                  store_reply_cb cb, void *arg);

/* Converts messages ids[0..n) of actor's inbox into report r (validated,
 * credited to actor, its reporter a 群众), in one transaction: the report
 * stored as any submission is (idempotent by its client_report_id) and the
 * messages marked converted into it, or neither.  Each message must be
 * actor's and open, or converted already into this very report (a retry,
 * answered duplicate).  r is copied; the caller frees it on return.
 * Reply msg: Minyi__V1__SubmitResponse; NOT_FOUND or CONFLICT on
 * inbox_convert.ids, CONFLICT on report.client_report_id when that id holds
 * another report. */
void inbox_convert(struct store *st, int64_t actor, const int64_t *ids, size_t n,
                   const struct intake_report *r, store_reply_cb cb, void *arg);

/* The poster of contact point cp (0: actor itself), after raising its token
 * generation when rotate.  Reply msg: Minyi__V1__PosterResponse with
 * contact_point, contact_point_id and generation (the caller makes the URL). */
void inbox_poster(struct store *st, int64_t actor, int64_t cp, bool rotate, store_reply_cb cb,
                  void *arg);

#endif
