/*
 * triage: the editors' operations on the queue — list, show, claim, renew,
 * release, edit, decide — the contact point's resubmission of a returned
 * report, and the live queue (LISTEN minyi_queue).
 *
 * Each operation is one call of a SQL function (storage/migrations/
 * 0002_triage.sql and after) and so one transaction; the functions lock
 * the report row they change.  The operations live in storage/triage_*.c,
 * one file per concern like the gateway's dispatch_*.c (list in
 * triage_int.h).  Calls follow store.h's contract: the callback is
 * invoked exactly once, on the loop, never from inside the call; on
 * success reply->msg is a malloc'd protobuf message the receiver owns.
 *
 * The caller (the gateway) has checked who may call what: only editors the
 * editor operations, only the owning contact point a resubmission.  Text
 * given here is validated already (UTF-8, NFC, limits); the functions copy
 * what they need before returning.
 */
#ifndef MINYI_TRIAGE_H
#define MINYI_TRIAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "minyi.pb-c.h"
#include "intake.h"
#include "store.h"

#define TRIAGE_LEASE_MAX_S     86400   /* the longest claim an editor may ask for */
#define TRIAGE_QUEUE_DEFAULT   50      /* items per queue page when the request says 0 */
#define TRIAGE_QUEUE_MAX       200     /* most items per queue page */
#define TRIAGE_FILTER_MAX      16      /* most states or categories in one filter */
#define TRIAGE_TEXT_FILTER_MAX 200     /* bytes of the queue's text filter */
#define TRIAGE_DEST_MAX        16      /* destinations of one FORWARD */
#define TRIAGE_DEST_NAME_MAX   64      /* bytes of a destination name */
#define TRIAGE_DOC_NUMBER_MAX  128     /* bytes of an external 报送's document number */
#define TRIAGE_SIMILAR_MAX     5       /* duplicate hints shown with a report */
#define TRIAGE_SIMILAR_MIN     0.2     /* least shingle similarity worth showing */
#define TRIAGE_CHAIN_MAX       16      /* bodies a forwarded report may have passed through */
#define TRIAGE_DIFF_LINES_MAX  4000    /* lines per side a diff compares line by line */
/* How far in the future a 批示's date may lie: the clocks of an editor's
 * machine and of the database need not agree to the second. */
#define TRIAGE_INSTRUCT_FUTURE_SLACK_S 300

struct triage_queue_query {
    const int *states;                 /* MINYI__V1__REPORT_STATE__*; none: RECEIVED, IN_REVIEW */
    size_t n_states;
    const int *categories;             /* MINYI__V1__CATEGORY__*; none: any */
    size_t n_categories;
    int urgency;                       /* 0: any */
    const char *region_prefix;         /* digits; "" or NULL: any */
    int64_t contact_point_id;          /* 0: any */
    int64_t from_ms, to_ms;            /* 0: open */
    bool claimed_by_me;
    const char *text;                  /* "" or NULL: any */
    bool overdue_only;
    bool dead_deliveries_only;
    uint32_t limit;                    /* 0: TRIAGE_QUEUE_DEFAULT; at most TRIAGE_QUEUE_MAX */
    const char *cursor;                /* "" or NULL: the first page */
    int deadline_received_s;           /* a RECEIVED report is overdue after this (0: never) */
    int deadline_in_review_s;          /* an IN_REVIEW report likewise */
};

/* Changed fields of an edit; NULL (or category 0) leaves a field as it is. */
struct triage_edit {
    const char *title, *situation, *analysis, *suggestions;
    int category;
    const char *note;                  /* never NULL ("" for none) */
};

/* Reply msg: Minyi__V1__QueueResponse.  INVALID_ARGUMENT for a bad cursor
 * or filter value. */
void triage_queue(struct store *st, int64_t actor, const struct triage_queue_query *q,
                  store_reply_cb cb, void *arg);

/* Reply msg: Minyi__V1__ShowResponse, with version (0: the latest), a line
 * diff of it against version 1 when diff is set, and the personal fields
 * opened.  NOT_FOUND for an unknown receipt or version. */
void triage_show(struct store *st, int64_t actor, const char *receipt, uint32_t version,
                 bool diff, store_reply_cb cb, void *arg);

/* The contact point principal_id's view of its own report (migration
 * 0025): reply msg Minyi__V1__ShowResponse with receipt, state, urgency,
 * region, received_at_ms, version (0: the current one), latest_version
 * and submitted (every version it submitted), nothing else.  NOT_FOUND on
 * show.receipt for a report it did not submit, on show.version for a
 * version the report lacks. */
void triage_show_own(struct store *st, int64_t principal_id, const char *receipt,
                     uint32_t version, store_reply_cb cb, void *arg);

/* Reply msg: Minyi__V1__Attachment, the report's attachment number index
 * (from 0) with its content and stored SHA-256.  NOT_FOUND on
 * attachment.receipt or attachment.index. */
void triage_attachment(struct store *st, int64_t actor, const char *receipt, uint32_t index,
                       store_reply_cb cb, void *arg);

/* Reply msg: Minyi__V1__ClaimResponse.  CONFLICT naming the holder when
 * another editor holds an unexpired claim, or naming the state when the
 * report cannot be claimed. */
void triage_claim(struct store *st, int64_t actor, const char *receipt, int lease_s,
                  store_reply_cb cb, void *arg);
/* Reply msg: Minyi__V1__ClaimResponse. */
void triage_renew(struct store *st, int64_t actor, const char *receipt, int lease_s,
                  store_reply_cb cb, void *arg);
/* Reply msg: Minyi__V1__Ok. */
void triage_release(struct store *st, int64_t actor, const char *receipt,
                    store_reply_cb cb, void *arg);
/* Reply msg: Minyi__V1__EditResponse (the new version). */
void triage_edit(struct store *st, int64_t actor, const char *receipt,
                 const struct triage_edit *e, store_reply_cb cb, void *arg);
/* One destination of a FORWARD as the gateway's config names it. */
struct triage_dest {
    const char *name;                  /* its stable id ([peer.NAME] or [external.NAME]) */
    const char *display;               /* its display name, e.g. 浙江省政协 or 市委办公室 */
    bool external;                     /* a 报送 outside the hierarchy: sent at once, no delivery */
};

/* The destinations of one FORWARD, and the document an external 报送 goes
 * under. */
struct triage_forward_to {
    const struct triage_dest *dests;
    size_t n_dests;
    const char *document_number;       /* required when a destination is external */
    int64_t document_date_ms;          /* 0: now */
};

/* Reply msg: Minyi__V1__DecideResponse.  decision is MINYI__V1__DECISION__*;
 * into (MERGE) and fwd (FORWARD, names already checked against the
 * configuration) may be NULL otherwise.  instruction and level are the
 * 批示 of an ADOPT ("" or NULL for none); INVALID_ARGUMENT on
 * decide.instruction with another decision, on decide.instruction_level
 * for a level without a text, on decide.document_number when an external
 * destination has no document; CONFLICT on decide.destinations when the
 * report went to a destination before and was not returned from there. */
void triage_decide(struct store *st, int64_t actor, const char *receipt, int decision,
                   const char *note, const char *into, const struct triage_forward_to *fwd,
                   const char *instruction, const char *level, store_reply_cb cb, void *arg);

/* What an external destination answered on a 报送 (migration 0034). */
struct triage_external_response {
    const char *destination;           /* the external destination's id */
    const char *kind;                  /* "adopted", "instruction" or "reply" */
    const char *text;                  /* "" for none */
    const char *level;                 /* instruction: the level's label, else "" */
    const char *leader;                /* instruction: who gave it, "" for none */
    int64_t at_ms;                     /* 0: now */
};

/* Records r as an 'external_response' event.  Reply msg:
 * Minyi__V1__DecideResponse with the unchanged state; NOT_FOUND on
 * external_response.destination (naming where it was sent) when the
 * report was not sent there, INVALID_ARGUMENT on
 * external_response.responded_at_ms for a date in the future or before
 * the 报送. */
void triage_external_response(struct store *st, int64_t actor, const char *receipt,
                              const struct triage_external_response *r, store_reply_cb cb,
                              void *arg);
/* Records a leader's 批示 as an event of its own (migration 0015): level is
 * the label of a level of the closed list (checked by the caller), leader
 * who gave it ("" for none), text the 批示, given_at_ms when (0: now),
 * on_paper whether an editor typed it in from paper.  Reply msg:
 * Minyi__V1__DecideResponse with the unchanged state; CONFLICT on
 * instruct.receipt unless the report is adopted or forwarded,
 * INVALID_ARGUMENT on instruct.given_at_ms for a date in the future or
 * before the report arrived. */
void triage_instruct(struct store *st, int64_t actor, const char *receipt, const char *level,
                     const char *leader, const char *text, int64_t given_at_ms, bool on_paper,
                     store_reply_cb cb, void *arg);
/* Reply msg: Minyi__V1__SubmitResponse (the same receipt; duplicate when
 * this revision's client_report_id was stored already).  r is validated
 * like a submission; its text, category and urgency become the new version. */
void triage_resubmit(struct store *st, int64_t principal_id, const char *receipt,
                     const struct intake_report *r, store_reply_cb cb, void *arg);

/* The newest signed head of a peer's audit chain as it sent it with a
 * forward or a results request (PROTOCOL.md §3.13), checked by the gateway
 * (request_audit_head).  seq 0: the peer sent none. */
#define TRIAGE_HEAD_HASH_LEN 32
#define TRIAGE_HEAD_SIG_LEN  64
struct triage_audit_head {
    int64_t seq;
    uint8_t hash[TRIAGE_HEAD_HASH_LEN];
    uint8_t signature[TRIAGE_HEAD_SIG_LEN];
    bool checked;              /* a key registered for the peer verified it (migration 0040) */
};

/* Records the provenance of a report a peer forwarded here, stored just
 * before under receipt by store_submit (the lower body's idempotency key
 * is (origin_region, origin_receipt); see migration 0004).  chain holds
 * six-digit region codes, at most TRIAGE_CHAIN_MAX.  Reply msg:
 * Minyi__V1__SubmitResponse (duplicate when the provenance was recorded
 * already); CONFLICT when the origin was forwarded by another peer.  The
 * peer's audit head (NULL or seq 0: none) is kept in the same transaction
 * (migration 0021), and so are the reporters credited on the report below
 * (credited: a JSON array of objects name, unit, kind, sector; NULL for
 * none; migration 0034). */
void triage_forward_note(struct store *st, int64_t peer_id, const char *receipt,
                         const char *origin_region, const char *origin_receipt,
                         const char *origin_body, const char *const *chain, size_t n_chain,
                         const struct triage_audit_head *head, const char *credited,
                         store_reply_cb cb, void *arg);

/* The forwarder's side of the outbox (migration 0004).  Claims up to limit
 * due rows for dests with a lease of lease_s seconds; reply msg:
 * Minyi__V1__OutboxClaim, each item with the request to send upstream
 * (personal fields opened, this body appended to the chain). */
void triage_fw_claim(struct store *st, const char *const *dests, size_t n_dests, int limit,
                     int lease_s, store_reply_cb cb, void *arg);
/* Marks the row delivered with the upper body's receipt.  Reply msg:
 * Minyi__V1__Ok; CONFLICT on field "outbox" when attempt no longer holds it. */
void triage_fw_delivered(struct store *st, int64_t outbox_id, uint32_t attempt,
                         const char *upstream_receipt, store_reply_cb cb, void *arg);
/* Marks an attempt failed: dead when permanent or after max_attempts,
 * else due again after backoff (min doubling to max, with jitter).  Reply
 * as triage_fw_delivered. */
void triage_fw_failed(struct store *st, int64_t outbox_id, uint32_t attempt, const char *error,
                      bool permanent, int max_attempts, int backoff_min_ms, int backoff_max_ms,
                      store_reply_cb cb, void *arg);

/* ---- erasures passed upward (migration 0039) ------------------------------------ */

/* The upper side: the peer erased the report it forwarded here as
 * (origin_region, origin_receipt), so this copy's personal fields are
 * erased too, with the peer as the erasure's actor, and owed further up
 * where it went on.  Nothing held here is no error.  The peer's audit head
 * is kept as with triage_forward_note.  Reply msg: Minyi__V1__Ok;
 * PERMISSION_DENIED on erase.origin_receipt when another peer forwarded it. */
void triage_f_erase(struct store *st, int64_t peer_id, const char *origin_region,
                    const char *origin_receipt, const struct triage_audit_head *head,
                    store_reply_cb cb, void *arg);
/* The lower side: triage_fw_claim's items include the erasures due (item
 * erase set, outbox_id naming the erasure).  These mark one done, or
 * failed exactly as triage_fw_failed marks a delivery. */
void triage_fw_erased(struct store *st, int64_t erase_id, uint32_t attempt, store_reply_cb cb,
                      void *arg);
void triage_fw_erase_failed(struct store *st, int64_t erase_id, uint32_t attempt,
                            const char *error, bool permanent, int max_attempts,
                            int backoff_min_ms, int backoff_max_ms, store_reply_cb cb, void *arg);

/* ---- results flowing back down (migration 0005) ------------------------------ */

/* The upper side: acknowledges the peer's stored results (ids, only its
 * own count) and answers up to limit results still owed to it, oldest
 * first.  body_region and body_name name this body in the results decided
 * here.  The peer's audit head is kept as with triage_forward_note.  Reply
 * msg: Minyi__V1__ResultsResponse. */
void triage_r_pull(struct store *st, int64_t peer_id, const int64_t *ack, size_t n_ack,
                   uint32_t limit, const char *body_region, const char *body_name,
                   const struct triage_audit_head *head, store_reply_cb cb, void *arg);
/* The lower side: stores results pulled from the peer dest in one
 * transaction, each as an event on the report it concerns, once per
 * (dest, result id).  The results' text must be validated already.  Reply
 * msg: Minyi__V1__ResultsRequest whose ack holds the ids now safe to
 * acknowledge (stored now or before); a result whose report is not found
 * here is left out, so it is pulled again. */
void triage_r_apply(struct store *st, const char *dest, const char *body_region,
                    const Minyi__V1__Result *const *results, size_t n_results,
                    store_reply_cb cb, void *arg);

/* ---- the live queue -------------------------------------------------------- */

/* Called on the loop for every minyi_queue notification from any gateway
 * on the database.  ev and its fields live until the callback returns. */
typedef void (*store_event_cb)(void *arg, const Minyi__V1__QueueEvent *ev);

struct store_listener;

/* The kind of the event that says "events may have been missed; list the
 * queue again" (PROTOCOL.md §3.12.9). */
#define STORE_EVENT_RESYNC "resync"

/* Opens a dedicated connection that LISTENs on minyi_queue, reconnecting
 * with backoff (reconnect_min_ms .. reconnect_max_ms) whenever it is lost.
 * Events sent while it is down are missed; once LISTEN is in force again
 * on a new connection, cb gets an event of kind STORE_EVENT_RESYNC. */
struct store_listener *store_listen_open(struct event_base *base, const char *conninfo,
                                         int reconnect_min_ms, int reconnect_max_ms,
                                         store_event_cb cb, void *arg)
    __attribute__((warn_unused_result));
/* Called on the loop with the id of a principal that was disabled or
 * removed, through any gateway or the operator's command. */
typedef void (*store_principal_gone_cb)(void *arg, int64_t principal_id);
/* The same connection hands minyi_principals notifications to cb.  One
 * sent while the connection is down is missed; SIGHUP still checks every
 * connection. */
void store_listen_on_principal_gone(struct store_listener *l, store_principal_gone_cb cb,
                                    void *arg);
/* True while the LISTEN is in force. */
bool store_listen_up(const struct store_listener *l);
void store_listen_free(struct store_listener *l);

/* ---- the editors' outbox (migration 0006) ------------------------------------ */

#define TRIAGE_OUTBOX_DEFAULT  50      /* deliveries per page when the request says 0 */
#define TRIAGE_OUTBOX_MAX      200     /* most deliveries per page */
#define TRIAGE_OUTBOX_STATES   6       /* distinct outbox states, so most in one filter */

struct triage_outbox_query {
    const char *const *states;         /* outbox state names; none: any */
    size_t n_states;
    const char *destination;           /* "" or NULL: any */
    const char *receipt;               /* "" or NULL: any */
    uint32_t limit;                    /* 0: TRIAGE_OUTBOX_DEFAULT; at most TRIAGE_OUTBOX_MAX */
    const char *cursor;                /* "" or NULL: the first page */
};

/* True when s is the name of an outbox state (pending, in_flight,
 * delivered, result, dead, cancelled). */
bool triage_outbox_state_known(const char *s);

/* The outbox rows of the reports of actor's body, newest first.  Reply
 * msg: Minyi__V1__OutboxResponse; INVALID_ARGUMENT for a bad cursor or
 * filter value, PERMISSION_DENIED when actor is not an active editor. */
void triage_outbox_list(struct store *st, int64_t actor, const struct triage_outbox_query *q,
                        store_reply_cb cb, void *arg);
/* RETRY (a dead row) or CANCEL (a dead or pending row); action is
 * MINYI__V1__OUTBOX_ACTION__*.  Reply msg: Minyi__V1__Ok.  NOT_FOUND for
 * an unknown id or a row of another body's report, CONFLICT naming the
 * row's state when the action does not apply to it. */
void triage_outbox_act(struct store *st, int64_t actor, int64_t outbox_id, int action,
                       const char *note, store_reply_cb cb, void *arg);

#endif
