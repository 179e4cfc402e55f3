/*
 * audit_ops: the audit through the gateway's pool, never blocking its loop
 * (the sealer and the operator's commands use audit.h instead):
 *
 *   - an admin event the gateway itself records (a config reload that
 *     changed options), in admin_events, which the sealer chains;
 *   - the office's read of the sealed chain (AuditRequest, PROTOCOL.md
 *     §3.17) with the chain's status as the sealer's last check left it.
 *
 * Calls follow store.h's contract: the callback is invoked exactly once, on
 * the loop, never from inside the call.
 */
#ifndef MINYI_AUDIT_OPS_H
#define MINYI_AUDIT_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* Entries one AuditRequest answers when it names no limit, and at most. */
#define AUDIT_READ_DEFAULT 100
#define AUDIT_READ_MAX 1000

/* Records an admin event (actor, action, subject, note); reply msg is a
 * Minyi__V1__Ok. */
void audit_note(struct store *st, const char *actor, const char *action, const char *subject,
                const char *note, store_reply_cb cb, void *arg);

/* What one AuditRequest asks: entries with seq > after_seq whose time is
 * in [from_ms, to_ms) (0: unbounded), of the report with receipt ("" for
 * all), at most limit (0: AUDIT_READ_DEFAULT). */
struct audit_read_query {
    int64_t from_ms, to_ms, after_seq;
    const char *receipt;
    uint32_t limit;
};

/* The sealed entries q asks for, read by actor; PERMISSION_DENIED on
 * principal.kind unless actor is an active office or admin, NOT_FOUND on
 * audit.receipt, INVALID_ARGUMENT on audit.limit / audit.to_ms.  Reply msg
 * is a Minyi__V1__AuditResponse. */
void audit_read(struct store *st, int64_t actor, const struct audit_read_query *q,
                store_reply_cb cb, void *arg);

#endif
