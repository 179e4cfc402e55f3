/*
 * issue: 专报 issues — editors compile adopted reports into a numbered
 * issue of a series (new, add, remove, publish) and send a published one
 * outside the hierarchy (send); offices, admins and editors read them
 * (show, list).  The SQL functions of migration
 * 0027_issues.sql decide under their row locks; a published issue is
 * frozen by a trigger there, so no path (this one or psql) changes it.
 *
 * Calls follow store.h's contract: the callback is invoked exactly once,
 * on the loop, never from inside the call; on success reply->msg is a
 * malloc'd protobuf message the receiver owns: Minyi__V1__Issue for all
 * but issue_list, which answers Minyi__V1__IssueListResponse.  Who may do
 * what is checked in the database as well as by the gateway: editors
 * compose, offices and admins read, anyone else is PERMISSION_DENIED on
 * principal.kind.
 */
#ifndef MINYI_ISSUE_H
#define MINYI_ISSUE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* Most items one issue holds (a 专报 carries a handful). */
#define ISSUE_ITEMS_MAX 50
/* Most issues one list answers. */
#define ISSUE_LIST_MAX 500

/* What a new issue is: text already validated (NFC, clean UTF-8);
 * year 0 means this year in China time. */
struct issue_new {
    const char *series, *title, *editor_note, *body_name;
    int year;
};

void issue_new(struct store *st, int64_t actor, const struct issue_new *n, store_reply_cb cb,
               void *arg);
/* Puts receipt into the draft issue_id at position (0: the end, or where
 * it is), with its own title and text ("" keeps the item's, else takes the
 * report's). */
void issue_add(struct store *st, int64_t actor, int64_t issue_id, const char *receipt,
               const char *title, const char *text, uint32_t position, store_reply_cb cb,
               void *arg);
void issue_remove(struct store *st, int64_t actor, int64_t issue_id, const char *receipt,
                  store_reply_cb cb, void *arg);
/* Numbers the draft (the next of its series and year) and freezes it. */
void issue_publish(struct store *st, int64_t actor, int64_t issue_id, store_reply_cb cb,
                   void *arg);
void issue_show(struct store *st, int64_t actor, int64_t issue_id, store_reply_cb cb,
                void *arg);
/* Sends the published issue_id to the external destination dest (display
 * name display, from the gateway's config): each item's report is sent
 * there under the issue's number, dated at_ms (0: now, at most
 * future_slack_s ahead). */
void issue_send(struct store *st, int64_t actor, int64_t issue_id, const char *dest,
                const char *display, int64_t at_ms, int future_slack_s, store_reply_cb cb,
                void *arg);
/* The issues of year (0: every year), newest first, without their items. */
void issue_list(struct store *st, int64_t actor, int year, store_reply_cb cb, void *arg);

#endif
