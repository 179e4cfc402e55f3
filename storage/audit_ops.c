/*
 * audit_ops: the gateway's admin events and the office's read of the
 * audit (audit_ops.h), each one call of a SQL function of migration
 * 0032_audit_read.sql sent as a triage operation.
 */
#include "audit_ops.h"
#include "triage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void audit_note(struct store *st, const char *actor, const char *action, const char *subject,
                const char *note, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_AUDIT_NOTE, triage_build_ok, cb, arg);

    triage_param_str(op, 0, actor);
    triage_param_str(op, 1, action);
    triage_param_str(op, 2, subject);
    triage_param_str(op, 3, note);
    store_op_enqueue(st, op);
}

static bool build_entry(const json_t *x, Minyi__V1__AuditEntry *e)
{
    e->seq = tj_int(x, "seq");
    e->at_ms = tj_int(x, "at_ms");
    e->missing = json_is_true(json_object_get(x, "missing"));
    return tj_bytes(&e->hash, x, "hash") && tj_bytes(&e->source, x, "source") &&
           tj_bytes(&e->action, x, "action") && tj_bytes(&e->actor, x, "actor") &&
           tj_bytes(&e->receipt, x, "receipt") && tj_bytes(&e->state, x, "state") &&
           tj_bytes(&e->note, x, "note") && tj_bytes(&e->subject, x, "subject");
}

static bool read_reply(const struct store *st, const struct store_op *op, const json_t *j,
                       ProtobufCMessage **msg)
{
    Minyi__V1__AuditResponse *m;
    const json_t *entries = json_object_get(j, "entries");
    size_t n = json_array_size(entries);

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__AuditResponse, minyi__v1__audit_response__init, m);
    if (!m)
        return false;
    m->head_seq = tj_int(j, "head_seq");
    m->signed_seq = tj_int(j, "signed_seq");
    m->verified_seq = tj_int(j, "verified_seq");
    m->checked_at_ms = tj_int(j, "checked_at_ms");
    m->broken_seq = tj_int(j, "broken_seq");
    m->more = json_is_true(json_object_get(j, "more"));
    if (!tj_bytes(&m->broken_what, j, "broken_what"))
        return false;
    if (n > 0 && !(m->entries = calloc(n, sizeof *m->entries)))
        return false;
    for (size_t i = 0; i < n; i++) {
        Minyi__V1__AuditEntry *e = malloc(sizeof *e);
        if (!e)
            return false;
        minyi__v1__audit_entry__init(e);
        m->entries[m->n_entries++] = e;
        if (!build_entry(json_array_get(entries, i), e))
            return false;
    }
    return true;
}

void audit_read(struct store *st, int64_t actor, const struct audit_read_query *q,
                store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_AUDIT_READ, read_reply, cb, arg);

    if (q->limit > AUDIT_READ_MAX) {
        triage_invalid(st, op, "audit.limit", "at most 1000 entries per request",
                       "每次最多读取1000条审计记录");
        return;
    }
    if (q->from_ms < 0 || q->to_ms < 0 || (q->to_ms > 0 && q->to_ms <= q->from_ms)) {
        triage_invalid(st, op, "audit.to_ms", "the period must end after it starts",
                       "期间的结束须晚于开始");
        return;
    }
    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, q->from_ms);
    triage_param_i64(op, 2, q->to_ms);
    if (q->receipt[0] != '\0') {
        if (!triage_param_receipt(st, op, 3, q->receipt, "audit.receipt"))
            return;
    } else {
        triage_param_null(op, 3);
    }
    triage_param_i64(op, 4, q->after_seq > 0 ? q->after_seq : 0);
    triage_param_i64(op, 5, q->limit > 0 ? q->limit : AUDIT_READ_DEFAULT);
    store_op_enqueue(st, op);
}
