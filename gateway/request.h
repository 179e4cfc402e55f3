/*
 * request: one request of a caller (caller.h) on its way through storage.
 *
 * Every dispatcher (intake, triage, forwarding) hands storage a request
 * record that holds a reference on its caller.  request_on_reply() is the
 * one storage callback for all of them: it sends the answer when the caller
 * is still there, accounts for the request either way and frees the record.
 */
#ifndef MINYI_REQUEST_H
#define MINYI_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "caller.h"
#include "server.h"
#include "store.h"
#include "triage.h"
#include "validate.h"

/* The longest receipt and cursor accepted in a request, in bytes. */
#define REQUEST_RECEIPT_MAX 40
#define REQUEST_CURSOR_MAX 64
/* A region code (GB/T 2260) is six digits. */
#define REQUEST_REGION_LEN VALIDATE_REGION_LEN

struct request {
    struct caller *c;
    uint64_t id;
    int op;                      /* Frame body case of the request */
    int64_t start_us;            /* handed to storage (clock_mono_us), for the ack latency */
};

/* Name of a request body case for logs, e.g. "submit". */
const char *request_op_name(int op);

/* A new record holding a reference on s.  On allocation failure the request
 * is answered RESOURCE_EXHAUSTED here and NULL is returned. */
struct request *request_new(struct caller *c, uint64_t id, int op);

/* Answers a request that never reached storage with an Error frame. */
void request_fail(struct caller *c, uint64_t id, int op, int code, const char *field,
                  const char *message, const char *message_zh);

/* The store_reply_cb for every request; arg is a struct request. */
void request_on_reply(void *arg, struct store_reply *reply);

/* Copies short clean text (receipt, cursor, name): valid UTF-8 without
 * control characters, at most max bytes, NUL-terminated into out, which
 * holds max + 1 bytes.  False when the text is not acceptable. */
bool request_take_short(const ProtobufCBinaryData *b, size_t max, char *out)
    __attribute__((warn_unused_result));

/* A non-empty receipt in out, or the request answered INVALID_ARGUMENT on
 * field and false. */
bool request_take_receipt(struct caller *c, uint64_t id, int op, const ProtobufCBinaryData *b,
                          const char *field, char out[REQUEST_RECEIPT_MAX + 1])
    __attribute__((warn_unused_result));

/* A peer's audit head (PROTOCOL.md §3.13) into out: seq 0 when h is NULL
 * (none sent); false when seq is not positive, the hash not 32 bytes or
 * the signature not 64. */
bool request_audit_head(const Minyi__V1__AuditHead *h, struct triage_audit_head *out)
    __attribute__((warn_unused_result));

/* Whether head (none: seq 0) is signed by one of the audit keys registered
 * for the peer p (migration 0033) over p's region.  A peer without a key
 * registered is not checked (its heads are kept, as before keys existed). */
bool request_audit_head_signed(const struct principal *p, const struct triage_audit_head *h);

/* Both checks above on the head a peer sent with request op (field names
 * it, e.g. "forward.audit_head"): true with the head in out (out->checked
 * when a registered key verified it), or the request answered
 * INVALID_ARGUMENT on field and false. */
bool request_take_audit_head(struct caller *c, uint64_t id, int op, const Minyi__V1__AuditHead *h,
                             const char *field, struct triage_audit_head *out)
    __attribute__((warn_unused_result));

#endif
