/*
 * dispatch_outbox: see dispatch_outbox.h.  Like dispatch_triage.c, each
 * request that goes to storage carries a record holding a reference on its
 * caller (request.h); the answer is sent only when the caller is still
 * there.
 */
#include <stdlib.h>
#include <string.h>

#include "dispatch_outbox.h"
#include "request.h"
#include "triage.h"
#include "validate.h"

/* Longest state name accepted in a filter ("cancelled", "delivered", ...). */
#define OUTBOX_STATE_NAME_MAX 16

static void answer_invalid(struct caller *c, uint64_t id, int op, const char *field,
                           const char *msg, const char *msg_zh)
{
    request_fail(c, id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, field, msg, msg_zh);
}

static void do_list(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_OUTBOX;
    const Minyi__V1__OutboxRequest *q = f->outbox;
    const Minyi__V1__OutboxFilter *flt = q->filter;
    Minyi__V1__OutboxFilter empty = MINYI__V1__OUTBOX_FILTER__INIT;
    char states[TRIAGE_OUTBOX_STATES][OUTBOX_STATE_NAME_MAX + 1];
    const char *state_ptrs[TRIAGE_OUTBOX_STATES];
    char dest[TRIAGE_DEST_NAME_MAX + 1], receipt[REQUEST_RECEIPT_MAX + 1];
    char cursor[REQUEST_CURSOR_MAX + 1];

    if (flt == NULL)
        flt = &empty;
    if (flt->n_states > TRIAGE_OUTBOX_STATES) {
        answer_invalid(c, f->id, op, "outbox.filter.states", "too many states in the filter",
                       "筛选条件中的状态过多");
        return;
    }
    for (size_t i = 0; i < flt->n_states; i++) {
        if (!request_take_short(&flt->states[i], OUTBOX_STATE_NAME_MAX, states[i]) ||
            !triage_outbox_state_known(states[i])) {
            answer_invalid(c, f->id, op, "outbox.filter.states",
                           "a state is one of pending, in_flight, delivered, result, dead, "
                           "cancelled", "状态须为 pending、in_flight、delivered、result、dead "
                           "或 cancelled");
            return;
        }
        state_ptrs[i] = states[i];
    }
    /* A destination no longer configured may still have rows: any clean
     * name is a valid filter. */
    if (!request_take_short(&flt->destination, TRIAGE_DEST_NAME_MAX, dest)) {
        answer_invalid(c, f->id, op, "outbox.filter.destination",
                       "destination is too long or not clean text", "报送去向过长或格式错误");
        return;
    }
    if (!request_take_short(&flt->receipt, REQUEST_RECEIPT_MAX, receipt)) {
        answer_invalid(c, f->id, op, "outbox.filter.receipt",
                       "receipt is too long or not clean text", "回执编号过长或格式错误");
        return;
    }
    if (!request_take_short(&q->cursor, REQUEST_CURSOR_MAX, cursor)) {
        answer_invalid(c, f->id, op, "outbox.cursor", "cursor is malformed", "分页游标格式错误");
        return;
    }
    if (q->limit > TRIAGE_OUTBOX_MAX) {
        answer_invalid(c, f->id, op, "outbox.limit", "limit must be at most 200",
                       "每页条数不得超过200");
        return;
    }
    struct triage_outbox_query tq = {
        .states = state_ptrs,
        .n_states = flt->n_states,
        .destination = dest,
        .receipt = receipt,
        .limit = q->limit,
        .cursor = cursor,
    };
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_outbox_list(c->gw->store, c->principal.id, &tq, request_on_reply, req);
}

static void do_action(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_OUTBOX_ACTION;
    const Minyi__V1__OutboxActionRequest *a = f->outbox_action;
    struct validation_error verr;
    char *note = NULL;

    if (a->outbox_id <= 0) {
        answer_invalid(c, f->id, op, "outbox_action.outbox_id",
                       "outbox_id is missing (a positive number)", "缺少报送编号（正整数）");
        return;
    }
    if (a->action != MINYI__V1__OUTBOX_ACTION__RETRY &&
        a->action != MINYI__V1__OUTBOX_ACTION__CANCEL) {
        answer_invalid(c, f->id, op, "outbox_action.action", "action must be RETRY or CANCEL",
                       "操作须为重试或取消");
        return;
    }
    if (!validate_text(&a->note, VALIDATE_TEXT_NOTE, "outbox_action.note", "说明", false,
                       &c->gw->limits, &note, &verr)) {
        request_fail(c, f->id, op, verr.code, verr.field, verr.message, verr.message_zh);
        return;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_outbox_act(c->gw->store, c->principal.id, a->outbox_id, (int)a->action, note,
                          request_on_reply, req);
    free(note);
}

bool dispatch_outbox_frame(struct caller *c, const Frame *f)
{
    int op = (int)f->body_case;

    if (f->body_case != MINYI__V1__FRAME__BODY_OUTBOX &&
        f->body_case != MINYI__V1__FRAME__BODY_OUTBOX_ACTION)
        return false;
    /* Offices and admins read the outbox and act on no delivery. */
    bool reads = f->body_case == MINYI__V1__FRAME__BODY_OUTBOX &&
                 (c->principal.kind == PRINCIPAL_OFFICE || c->principal.kind == PRINCIPAL_ADMIN);
    if (c->principal.kind != PRINCIPAL_EDITOR && !reads) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                     "only editors may work the outbox", "只有信息编辑可以处理报送");
        return true;
    }
    /* The bodies share one union, so one test covers whichever is set. */
    if (f->outbox == NULL) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "body",
                     "request body is missing", "缺少请求内容");
        return true;
    }
    if (f->body_case == MINYI__V1__FRAME__BODY_OUTBOX)
        do_list(c, f);
    else
        do_action(c, f);
    return true;
}
