/*
 * triage_decide: an editor's work on one report — claim, renew, release,
 * edit, decide, the leaders' 批示 recorded after the decision and the
 * responses to an external 报送 — and
 * the contact point's resubmission of a returned report (triage.h).
 */
#include "triage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool claim_reply(const struct store *st, const struct store_op *op, const json_t *j,
                        ProtobufCMessage **msg)
{
    Minyi__V1__ClaimResponse *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__ClaimResponse, minyi__v1__claim_response__init, m);
    if (!m || !tj_bytes(&m->receipt, j, "receipt"))
        return false;
    m->expires_ms = tj_int(j, "expires_ms");
    return true;
}

static bool edit_reply(const struct store *st, const struct store_op *op, const json_t *j,
                       ProtobufCMessage **msg)
{
    Minyi__V1__EditResponse *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__EditResponse, minyi__v1__edit_response__init, m);
    if (!m || !tj_bytes(&m->receipt, j, "receipt"))
        return false;
    m->version = (uint32_t)tj_int(j, "version");
    return true;
}

static bool decide_reply(const struct store *st, const struct store_op *op, const json_t *j,
                         ProtobufCMessage **msg)
{
    Minyi__V1__DecideResponse *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__DecideResponse, minyi__v1__decide_response__init, m);
    if (!m || !tj_bytes(&m->receipt, j, "receipt"))
        return false;
    m->state = tj_state(j, "state");
    return true;
}

/* A claim or its renewal: field names the receipt, lease_field the lease. */
static void lease_op(struct store *st, const char *stmt, const char *field,
                     const char *lease_field, int64_t actor, const char *receipt, int lease_s,
                     store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(stmt, claim_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    if (!triage_param_receipt(st, op, 1, receipt, field))
        return;
    if (lease_s < 1 || lease_s > TRIAGE_LEASE_MAX_S) {
        triage_invalid(st, op, lease_field,
                       "the lease must be between 1 second and 1 day", "认领时长须在1秒至1天之间");
        return;
    }
    triage_param_i64(op, 2, lease_s);
    store_op_enqueue(st, op);
}

void triage_claim(struct store *st, int64_t actor, const char *receipt, int lease_s,
                  store_reply_cb cb, void *arg)
{
    lease_op(st, STMT_T_CLAIM, "claim.receipt", "claim.lease_seconds", actor, receipt, lease_s,
             cb, arg);
}

void triage_renew(struct store *st, int64_t actor, const char *receipt, int lease_s,
                  store_reply_cb cb, void *arg)
{
    lease_op(st, STMT_T_RENEW, "renew.receipt", "renew.lease_seconds", actor, receipt, lease_s,
             cb, arg);
}

void triage_release(struct store *st, int64_t actor, const char *receipt,
                    store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_T_RELEASE, triage_build_ok, cb, arg);

    triage_param_i64(op, 0, actor);
    if (!triage_param_receipt(st, op, 1, receipt, "release.receipt"))
        return;
    store_op_enqueue(st, op);
}

void triage_edit(struct store *st, int64_t actor, const char *receipt,
                 const struct triage_edit *e, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_T_EDIT, edit_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    if (!triage_param_receipt(st, op, 1, receipt, "edit.receipt"))
        return;
    triage_param_str(op, 2, e->title);
    triage_param_str(op, 3, e->situation);
    triage_param_str(op, 4, e->analysis);
    triage_param_str(op, 5, e->suggestions);
    if (e->category != 0 && !triage_enum_name(&minyi__v1__category__descriptor, e->category)) {
        triage_invalid(st, op, "edit.category", "unknown category", "未知的类别");
        return;
    }
    if (e->category != 0)
        triage_param_i64(op, 6, e->category);
    else
        triage_param_null(op, 6);
    triage_param_str(op, 7, e->note ? e->note : "");
    store_op_enqueue(st, op);
}

/* The destinations of a FORWARD as the jsonb array minyi_t_decide takes
 * (migration 0034): objects name, display and external.  NULL when out of
 * memory; "[]" for none. */
static char *dests_json(const struct triage_forward_to *fwd)
{
    json_t *arr = json_array();
    char *text = NULL;

    if (arr == NULL)
        return NULL;
    for (size_t i = 0; fwd != NULL && i < fwd->n_dests; i++) {
        const struct triage_dest *d = &fwd->dests[i];
        if (json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "name", d->name, "display",
                                                 d->display, "external", d->external)) != 0)
            goto out;
    }
    text = json_dumps(arr, JSON_COMPACT);
out:
    json_decref(arr);
    return text;
}

void triage_decide(struct store *st, int64_t actor, const char *receipt, int decision,
                   const char *note, const char *into, const struct triage_forward_to *fwd,
                   const char *instruction, const char *level, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_T_DECIDE, decide_reply, cb, arg);
    const char *name = triage_enum_name(&minyi__v1__decision__descriptor, decision);
    char *dests;

    triage_param_i64(op, 0, actor);
    if (!triage_param_receipt(st, op, 1, receipt, "decide.receipt"))
        return;
    if (!name) {
        triage_invalid(st, op, "decide.decision", "unknown decision", "未知的处理决定");
        return;
    }
    triage_param_str(op, 2, name);
    triage_param_str(op, 3, note ? note : "");
    if (decision == MINYI__V1__DECISION__MERGE) {
        if (!store_receipt_plausible(into)) {
            store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "decide.into_receipt",
                          "no report with this receipt", "没有此回执对应的信息");
            return;
        }
        triage_param_str(op, 4, into);
    } else {
        triage_param_null(op, 4);
    }
    if (fwd != NULL && fwd->n_dests > TRIAGE_DEST_MAX) {
        triage_invalid(st, op, "decide.destinations", "too many destinations", "报送去向过多");
        return;
    }
    if (!(dests = dests_json(fwd)))
        triage_oom_abort();
    triage_param_str(op, 5, dests);
    free(dests);
    triage_param_str(op, 6, instruction ? instruction : "");
    triage_param_str(op, 7, level ? level : "");
    triage_param_str(op, 8, fwd != NULL && fwd->document_number ? fwd->document_number : "");
    triage_param_i64(op, 9, fwd != NULL && fwd->document_date_ms > 0 ? fwd->document_date_ms : 0);
    triage_param_i64(op, 10, TRIAGE_INSTRUCT_FUTURE_SLACK_S);
    store_op_enqueue(st, op);
}

void triage_external_response(struct store *st, int64_t actor, const char *receipt,
                              const struct triage_external_response *r, store_reply_cb cb,
                              void *arg)
{
    struct store_op *op = triage_op_new(STMT_T_EXTRESP, decide_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    if (!triage_param_receipt(st, op, 1, receipt, "external_response.receipt"))
        return;
    triage_param_str(op, 2, r->destination);
    triage_param_str(op, 3, r->kind);
    triage_param_str(op, 4, r->text != NULL ? r->text : "");
    triage_param_str(op, 5, r->level != NULL ? r->level : "");
    triage_param_str(op, 6, r->leader != NULL ? r->leader : "");
    triage_param_i64(op, 7, r->at_ms > 0 ? r->at_ms : 0);
    triage_param_i64(op, 8, TRIAGE_INSTRUCT_FUTURE_SLACK_S);
    store_op_enqueue(st, op);
}

void triage_instruct(struct store *st, int64_t actor, const char *receipt, const char *level,
                     const char *leader, const char *text, int64_t given_at_ms, bool on_paper,
                     store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_T_INSTRUCT, decide_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    if (!triage_param_receipt(st, op, 1, receipt, "instruct.receipt"))
        return;
    triage_param_str(op, 2, level);
    triage_param_str(op, 3, leader != NULL ? leader : "");
    triage_param_str(op, 4, text);
    triage_param_i64(op, 5, given_at_ms > 0 ? given_at_ms : 0);
    triage_param_bool(op, 6, on_paper);
    triage_param_i64(op, 7, TRIAGE_INSTRUCT_FUTURE_SLACK_S);
    store_op_enqueue(st, op);
}

void triage_resubmit(struct store *st, int64_t principal_id, const char *receipt,
                     const struct intake_report *r, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_T_RESUBMIT, triage_build_submit, cb, arg);

    triage_param_i64(op, 0, principal_id);
    if (!triage_param_receipt(st, op, 1, receipt, "resubmit.receipt"))
        return;
    triage_param_str(op, 2, r->client_report_id);
    triage_param_str(op, 3, r->title);
    triage_param_str(op, 4, r->situation);
    triage_param_str(op, 5, r->analysis);
    triage_param_str(op, 6, r->suggestions);
    triage_param_i64(op, 7, r->category);
    triage_param_i64(op, 8, r->urgency);
    store_op_enqueue(st, op);
}
