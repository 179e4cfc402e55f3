/*
 * inbox: a contact point's messages from the public (码上商) — listing
 * them, reading one (its sealed name and phone opened), replying to the
 * sender or dismissing it, and the two calls around converting messages
 * into a report — and the poster's token generation.  The SQL functions
 * are those of migration 0030_public.sql; the public door's own calls
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

/* Converting messages ids[0..n) into the report of actor whose
 * client_report_id is crid (UUID text): with receipt NULL, checks that
 * each is actor's and open, or already converted into that report; with
 * the stored report's receipt, marks them converted into it.  Reply msg:
 * Minyi__V1__Ok. */
void inbox_link(struct store *st, int64_t actor, const int64_t *ids, size_t n, const char *crid,
                const char *receipt, store_reply_cb cb, void *arg);

/* The poster of contact point cp (0: actor itself), after raising its token
 * generation when rotate.  Reply msg: Minyi__V1__PosterResponse with
 * contact_point, contact_point_id and generation (the caller makes the URL). */
void inbox_poster(struct store *st, int64_t actor, int64_t cp, bool rotate, store_reply_cb cb,
                  void *arg);

#endif
