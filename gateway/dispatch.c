/*
 * dispatch: one request frame in, one answer frame out (now or later).
 * Intake requests (submit, status, list_mine) are handled here; the others
 * go to dispatch_triage, dispatch_forward, dispatch_outbox, dispatch_results,
 * dispatch_office, dispatch_issue and dispatch_inbox.
 * See request.h for how an
 * answer finds its way back from storage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "dispatch_forward.h"
#include "dispatch_issue.h"
#include "dispatch_inbox.h"
#include "dispatch_office.h"
#include "dispatch_outbox.h"
#include "dispatch_results.h"
#include "dispatch_erase.h"
#include "dispatch_triage.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "validate.h"
#include "wire.h"

/* A page of a contact point's own reports holds at most this many. */
#define DISPATCH_LIST_MAX 100

static bool require_kind(struct caller *c, uint64_t id, int op, enum principal_kind kind)
{
    if (c->principal.kind == kind)
        return true;
    request_fail(c, id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                 "this operation is not allowed for this kind of principal",
                 "当前身份无权执行此操作");
    return false;
}

static void do_submit(struct caller *c, Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_SUBMIT;
    struct validation_error verr;
    struct intake_report *r;

    if (!require_kind(c, f->id, op, PRINCIPAL_CONTACT))
        return;
    if (f->submit == NULL || f->submit->report == NULL) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "report",
                     "report is missing", "缺少信息内容");
        return;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "",
                     "out of memory", "服务器内存不足");
        return;
    }
    memset(&verr, 0, sizeof(verr));
    if (!validate_report(f->submit->report, &c->gw->limits, r, &verr)) {
        free(r);
        request_fail(c, f->id, op, verr.code, verr.field, verr.message, verr.message_zh);
        return;
    }
    r->principal_id = c->principal.id;
    struct request *req = request_new(c, f->id, op);
    if (req == NULL) {
        intake_report_free(r);
        free(r);
        return;
    }
    store_submit(c->gw->store, r, request_on_reply, req);
}

static void do_status(struct caller *c, Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_STATUS;
    char receipt[REQUEST_RECEIPT_MAX + 1];

    if (!require_kind(c, f->id, op, PRINCIPAL_CONTACT) ||
        !request_take_receipt(c, f->id, op, &f->status->receipt, "status.receipt", receipt))
        return;
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        store_status(c->gw->store, c->principal.id, receipt, request_on_reply, req);
}

static void do_list_mine(struct caller *c, Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_LIST_MINE;
    char cursor[REQUEST_CURSOR_MAX + 1];

    if (!require_kind(c, f->id, op, PRINCIPAL_CONTACT))
        return;
    if (!request_take_short(&f->list_mine->cursor, REQUEST_CURSOR_MAX, cursor)) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "list_mine.cursor",
                     "cursor is malformed", "分页游标格式错误");
        return;
    }
    if (f->list_mine->limit > DISPATCH_LIST_MAX) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "list_mine.limit",
                     "limit must be at most 100", "每页条数不得超过100");
        return;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        store_list_mine(c->gw->store, c->principal.id, f->list_mine->limit, cursor,
                        request_on_reply, req);
}

/* An enum sent as a number beyond int32 (such as 2^32 + 2) was cut to its
 * low 32 bits by protobuf-c and may now look like a known code: refuse it
 * as the unknown number it is (PROTOCOL.md section 4.2).  Validation names
 * a report's fields from the report ("report.category") wherever the report
 * sits in the frame, so the same field gets the same name here. */
static bool refuse_bad_enum(struct caller *c, Frame *f, const struct frame_arena *arena)
{
    const char *path = frame_bad_enum(arena);
    if (path == NULL)
        return false;
    const char *in_report = strstr(path, ".report.");
    const char *field = in_report != NULL ? in_report + 1 : path;
    char msg[WIRE_PATH_MAX + 64];
    snprintf(msg, sizeof(msg), "%s has an unknown code (a number beyond int32)", field);
    request_fail(c, f->id, f->body_case, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, field, msg,
                 "代码未定义（超出 int32 范围）");
    return true;
}

void dispatch_frame(struct caller *c, Frame *f, struct frame_arena *arena)
{
    metrics.requests[metrics_body_slot((int)f->body_case)]++;
    if (refuse_bad_enum(c, f, arena)) {
        frame_arena_free(arena);
        return;
    }
    switch (f->body_case) {
    case MINYI__V1__FRAME__BODY_SUBMIT:
        do_submit(c, f);
        break;
    case MINYI__V1__FRAME__BODY_STATUS:
        do_status(c, f);
        break;
    case MINYI__V1__FRAME__BODY_LIST_MINE:
        do_list_mine(c, f);
        break;
    default:
        if (dispatch_triage_frame(c, f) || dispatch_forward_frame(c, f) ||
            dispatch_outbox_frame(c, f) || dispatch_results_frame(c, f) ||
            dispatch_office_frame(c, f) || dispatch_issue_frame(c, f) ||
            dispatch_inbox_frame(c, f) || dispatch_erase_frame(c, f))
            break;
        request_fail(c, f->id, f->body_case, MINYI__V1__ERROR_CODE__UNSUPPORTED, "body",
                     "unknown or missing request body", "不支持的请求类型");
        break;
    }
    frame_arena_free(arena);
}
