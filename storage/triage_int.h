/*
 * triage_int: what the files of the triage operations share, and no one
 * else (see triage.h for the operations themselves).
 *
 *   triage_op.c       an operation's statement and parameters, the answer's
 *                     common checks, the JSON and sealed-field helpers
 *   triage_queue.c    the queue listing, show and one attachment
 *   triage_diff.c     the line diff show gives of two versions
 *   triage_decide.c   claim, renew, release, edit, decide, instruct and
 *                     resubmit
 *   triage_forward.c  forwarded provenance and the forwarder's outbox claims
 *   triage_results.c  results pulled from above and applied here
 *   triage_outbox.c   the editors' view of the outbox
 *
 * Each operation becomes one store_op of kind OP_TRIAGE that carries its
 * prepared statement, its text parameters and the function that turns the
 * SQL function's jsonb answer into the reply message; the pool sends it
 * like any other query.  The database decides (under its row locks) and
 * these files only translate, plus two things the database cannot do:
 * open the sealed personal fields, and diff two versions line by line.
 */
#ifndef MINYI_TRIAGE_INT_H
#define MINYI_TRIAGE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store_int.h"
#include "triage.h"

/* Bytes of an int64 in decimal, with sign and NUL. */
#define TRIAGE_I64_TEXT 24

/* Allocates and initialises a response message of the given type into
 * var, and points *msg (a builder's parameter) at it. */
#define TRIAGE_NEW_MSG(type, init, var)             \
    do {                                            \
        type *m_ = malloc(sizeof *m_);              \
        if (m_) {                                   \
            init(m_);                               \
            *msg = &m_->base;                       \
        }                                           \
        var = m_;                                   \
    } while (0)

/* Without memory there is no way to keep the promise that every call is
 * answered, so this aborts with a log line. */
void triage_oom_abort(void) __attribute__((noreturn));

/* A new operation on stmt whose answer build turns into the reply. */
struct store_op *triage_op_new(const char *stmt, triage_build_fn build, store_reply_cb cb,
                               void *arg) __attribute__((warn_unused_result));
/* Parameter i of op as text (NULL: SQL NULL), an integer or a boolean. */
void triage_param_str(struct store_op *op, int i, const char *s);
void triage_param_null(struct store_op *op, int i);
void triage_param_i64(struct store_op *op, int i, int64_t v);
void triage_param_bool(struct store_op *op, int i, bool v);
/* Parameter i as bytea (hex text form). */
void triage_param_bytea(struct store_op *op, int i, const uint8_t *p, size_t n);
/* A fresh data key for one row (a report, a message): handed to
 * st->dek_sealer, which seals that row's personal fields next, and wrapped
 * under the current master key into parameter i.  False when sealing
 * failed. */
bool triage_param_dek(struct store *st, struct store_op *op, int i)
    __attribute__((warn_unused_result));
/* text sealed under the data key st->dek_sealer holds, with associated
 * data aad, into parameter i.  False when sealing failed. */
bool triage_param_sealed(struct store *st, struct store_op *op, int i, const char *aad,
                         const char *text) __attribute__((warn_unused_result));

/* An array parameter in PostgreSQL's text form, built element by element
 * (zero-initialise it).  Out of memory aborts, as for every parameter. */
struct triage_arr {
    struct pgbuf b;
    size_t n;
};
void triage_arr_text(struct triage_arr *a, const char *s);
void triage_arr_bytea(struct triage_arr *a, const uint8_t *p, size_t n);
/* Makes the array parameter i of op (an empty one: '{}') and frees it. */
void triage_arr_param(struct store_op *op, int i, struct triage_arr *a);

/* A peer's audit head as the four parameters seq, hash and signature (hex)
 * and whether it was checked, from i on, all NULL when it sent none (NULL
 * or seq 0). */
void triage_param_head(struct store_op *op, int i, const struct triage_audit_head *h);
/* Answers op INVALID_ARGUMENT on field. */
void triage_invalid(struct store *st, struct store_op *op, const char *field, const char *msg,
                    const char *msg_zh);
/* Sets parameter i to receipt: false (op answered NOT_FOUND on field) when
 * the receipt cannot name a report. */
bool triage_param_receipt(struct store *st, struct store_op *op, int i, const char *receipt,
                          const char *field) __attribute__((warn_unused_result));
/* True when s may be a destination name (they become array elements). */
bool triage_dest_name_ok(const char *s);

/* The name of enum value v of d, NULL for 0 or an unknown value; and the
 * value of a name, 0 when unknown. */
const char *triage_enum_name(const ProtobufCEnumDescriptor *d, int v);
int triage_enum_value(const ProtobufCEnumDescriptor *d, const char *name);

/* The tj_ helpers read the answer's JSON (triage JSON).  Members of an
 * answer object: a string ("" when absent), an integer. */
const char *tj_str(const json_t *o, const char *key);
int64_t tj_int(const json_t *o, const char *key);
/* A copy of len bytes at p, or of the string s, or of member key of o, as
 * a bytes field; false when out of memory. */
bool tj_set_bytes_n(ProtobufCBinaryData *b, const void *p, size_t len)
    __attribute__((warn_unused_result));
bool tj_set_bytes(ProtobufCBinaryData *b, const char *s) __attribute__((warn_unused_result));
bool tj_bytes(ProtobufCBinaryData *b, const json_t *o, const char *key)
    __attribute__((warn_unused_result));
/* Member key of o as a MINYI__V1__REPORT_STATE__* value. */
int tj_state(const json_t *o, const char *key);
/* Opens a sealed personal field given in hex into out, with the report's
 * wrapped data key in key_hex ("" when it has none); false only when out of
 * memory (a field that cannot be opened is left empty). */
bool triage_open_sealed(const struct store *st, const char *hex, const char *aad,
                        const char *key_hex, ProtobufCBinaryData *out)
    __attribute__((warn_unused_result));

/* The reporters credited on a report (minyi_credited, migration 0034: a
 * JSON array of objects name, unit, kind, sector) into the repeated field
 * *out of *n; false only when out of memory. */
bool triage_reporters(const json_t *arr, Minyi__V1__Reporter ***out, size_t *n)
    __attribute__((warn_unused_result));

/* Builders of the replies several operations share: Minyi__V1__Ok, and
 * Minyi__V1__SubmitResponse from receipt, duplicate and received_at_ms. */
bool triage_build_ok(const struct store *st, const struct store_op *op, const json_t *j,
                     ProtobufCMessage **msg) __attribute__((warn_unused_result));
bool triage_build_submit(const struct store *st, const struct store_op *op, const json_t *j,
                         ProtobufCMessage **msg) __attribute__((warn_unused_result));

/* triage_diff.c: a line diff of version b (numbered b_version) against
 * version a, both as the answer's version objects; false when out of
 * memory. */
bool triage_line_diff(const json_t *a, const json_t *b, uint32_t b_version,
                      ProtobufCBinaryData *out) __attribute__((warn_unused_result));

#endif
