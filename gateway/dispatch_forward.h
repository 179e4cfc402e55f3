/*
 * dispatch_forward: the upper side of forwarding.  A peer (a lower minyi
 * instance, principal kind peer) sends a ForwardRequest; the report is
 * validated like a submission and stored through the intake batch under a
 * client_report_id derived from (origin_region, origin_receipt), then its
 * provenance is recorded (storage/triage.h, triage_forward_note).  A resend
 * of the same origin answers the same receipt and stores nothing new.
 *
 * A revision (upstream_receipt set, revision 2 or more: the lower body
 * forwards the report again after this body returned it) is stored as a
 * resubmission of that item by the peer (triage_resubmit): a new version
 * under the same receipt, back in the queue, idempotent by a
 * client_report_id derived from the origin and the revision.
 */
#ifndef MINYI_DISPATCH_FORWARD_H
#define MINYI_DISPATCH_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"
#include "caller.h"
#include "server.h"

/* Handles f when its body is forward and returns true (the request is then
 * answered, now or later); false for any other body.  f is only read
 * during the call. */
bool dispatch_forward_frame(struct caller *c, const Frame *f);

/* Writes the client_report_id a forwarded report is stored under: a UUID
 * (version 8, RFC 9562) made of SHA-256 over the origin region and receipt,
 * and the revision when it is 2 or more (the first forward's id does not
 * depend on it, so ids stored before revisions existed still match).
 * Exported so that the lower side and the tests can compute it too. */
bool dispatch_forward_crid(const char *origin_region, const char *origin_receipt,
                           uint32_t revision, char out[37]) __attribute__((warn_unused_result));

#endif
