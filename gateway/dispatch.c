/*
 * dispatch: one request frame in, one answer frame out (now or later).
 *
 * Each request that goes to storage carries a small `request` record that
 * holds a reference on its session; the storage callback sends the answer
 * if the session is still there and drops the reference either way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "dispatch_triage.h"
#include "log.h"
#include "utf8.h"
#include "validate.h"

/* The longest receipt we accept in a request (region-year-sequence plus slack). */
#define DISPATCH_RECEIPT_MAX 40
#define DISPATCH_CURSOR_MAX 64

struct request {
    struct session *s;
    uint64_t id;
    int op;                 /* Frame body case of the request */
};

static const char *op_name(int op)
{
    switch (op) {
    case MINYI__V1__FRAME__BODY_SUBMIT: return "submit";
    case MINYI__V1__FRAME__BODY_STATUS: return "status";
    case MINYI__V1__FRAME__BODY_LIST_MINE: return "list_mine";
    default: return "other";
    }
}

static struct request *request_new(struct session *s, uint64_t id, int op)
{
    struct request *r = malloc(sizeof(*r));
    if (r == NULL)
        return NULL;
    r->s = s;
    r->id = id;
    r->op = op;
    s->refs++;
    return r;
}

/* Answers a request that never reached storage. */
static void reply_now_error(struct session *s, uint64_t id, int code, const char *field,
                            const char *msg, const char *msg_zh)
{
    session_send_error(s, id, code, field, msg, msg_zh);
    session_request_done(s);
}

static void on_store_reply(void *arg, struct store_reply *reply)
{
    struct request *req = arg;
    struct session *s = req->s;

    if (s->state != SESSION_DEAD) {
        if (reply->code != 0) {
            session_send_error(s, req->id, reply->code, reply->field ? reply->field : "",
                               reply->message, reply->message_zh);
            log_info("event=request sid=%llu id=%llu op=%s result=%d field=%s",
                     (unsigned long long)s->sid, (unsigned long long)req->id, op_name(req->op),
                     reply->code, reply->field ? reply->field : "");
        } else {
            Frame f = MINYI__V1__FRAME__INIT;
            f.id = req->id;
            switch (req->op) {
            case MINYI__V1__FRAME__BODY_SUBMIT:
                f.body_case = MINYI__V1__FRAME__BODY_SUBMIT_OK;
                f.submit_ok = (Minyi__V1__SubmitResponse *)reply->msg;
                break;
            case MINYI__V1__FRAME__BODY_STATUS:
                f.body_case = MINYI__V1__FRAME__BODY_STATUS_OK;
                f.status_ok = (Minyi__V1__StatusResponse *)reply->msg;
                break;
            case MINYI__V1__FRAME__BODY_LIST_MINE:
                f.body_case = MINYI__V1__FRAME__BODY_LIST_MINE_OK;
                f.list_mine_ok = (Minyi__V1__ListMineResponse *)reply->msg;
                break;
            default:
                fatal("reply for unknown op %d", req->op);
            }
            if (reply->msg == NULL)
                fatal("store reply without message for op %s", op_name(req->op));
            session_send(s, &f);
        }
        session_request_done(s);
    } else {
        s->inflight--;
    }
    if (reply->msg != NULL)
        protobuf_c_message_free_unpacked(reply->msg, NULL);
    session_unref(s);
    free(req);
}

static bool require_kind(struct session *s, uint64_t id, enum principal_kind kind)
{
    if (s->principal.kind == kind)
        return true;
    reply_now_error(s, id, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                    "this operation is not allowed for this kind of principal",
                    "当前身份无权执行此操作");
    return false;
}

/* Copies a short ASCII-or-UTF-8 request field into a C string, refusing
 * anything that is not clean text of at most max bytes. */
static bool take_short_text(const ProtobufCBinaryData *b, size_t max, char *out)
{
    if (b->len > max || !utf8_valid(b->data, b->len, NULL))
        return false;
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] < 0x20 || b->data[i] == 0x7f)
            return false;
    if (b->len > 0)
        memcpy(out, b->data, b->len);
    out[b->len] = '\0';
    return true;
}

static void do_submit(struct session *s, Frame *f)
{
    struct validation_error verr;
    struct intake_report *r;

    if (!require_kind(s, f->id, PRINCIPAL_CONTACT))
        return;
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        reply_now_error(s, f->id, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "",
                        "out of memory", "服务器内存不足");
        return;
    }
    memset(&verr, 0, sizeof(verr));
    if (!validate_report(f->submit->report, &s->gw->limits, r, &verr)) {
        free(r);
        log_info("event=request sid=%llu id=%llu op=submit result=%d field=%s",
                 (unsigned long long)s->sid, (unsigned long long)f->id, verr.code, verr.field);
        reply_now_error(s, f->id, verr.code, verr.field, verr.message, verr.message_zh);
        return;
    }
    r->principal_id = s->principal.id;
    struct request *req = request_new(s, f->id, MINYI__V1__FRAME__BODY_SUBMIT);
    if (req == NULL) {
        intake_report_free(r);
        free(r);
        reply_now_error(s, f->id, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "",
                        "out of memory", "服务器内存不足");
        return;
    }
    store_submit(s->gw->store, r, on_store_reply, req);
}

static void do_status(struct session *s, Frame *f)
{
    char receipt[DISPATCH_RECEIPT_MAX + 1];
    if (!require_kind(s, f->id, PRINCIPAL_CONTACT))
        return;
    if (f->status->receipt.len == 0 ||
        !take_short_text(&f->status->receipt, DISPATCH_RECEIPT_MAX, receipt)) {
        reply_now_error(s, f->id, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "status.receipt",
                        "receipt is missing or malformed", "回执编号缺失或格式错误");
        return;
    }
    struct request *req = request_new(s, f->id, MINYI__V1__FRAME__BODY_STATUS);
    if (req == NULL) {
        reply_now_error(s, f->id, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "",
                        "out of memory", "服务器内存不足");
        return;
    }
    store_status(s->gw->store, s->principal.id, receipt, on_store_reply, req);
}

static void do_list_mine(struct session *s, Frame *f)
{
    char cursor[DISPATCH_CURSOR_MAX + 1];
    if (!require_kind(s, f->id, PRINCIPAL_CONTACT))
        return;
    if (!take_short_text(&f->list_mine->cursor, DISPATCH_CURSOR_MAX, cursor)) {
        reply_now_error(s, f->id, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "list_mine.cursor",
                        "cursor is malformed", "分页游标格式错误");
        return;
    }
    if (f->list_mine->limit > 100) {
        reply_now_error(s, f->id, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "list_mine.limit",
                        "limit must be at most 100", "每页条数不得超过100");
        return;
    }
    struct request *req = request_new(s, f->id, MINYI__V1__FRAME__BODY_LIST_MINE);
    if (req == NULL) {
        reply_now_error(s, f->id, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "",
                        "out of memory", "服务器内存不足");
        return;
    }
    store_list_mine(s->gw->store, s->principal.id, f->list_mine->limit, cursor, on_store_reply,
                    req);
}

void dispatch_frame(struct session *s, Frame *f, struct frame_arena *arena)
{
    switch (f->body_case) {
    case MINYI__V1__FRAME__BODY_SUBMIT:
        if (f->submit == NULL || f->submit->report == NULL) {
            reply_now_error(s, f->id, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "report",
                            "report is missing", "缺少信息内容");
            break;
        }
        do_submit(s, f);
        break;
    case MINYI__V1__FRAME__BODY_STATUS:
        do_status(s, f);
        break;
    case MINYI__V1__FRAME__BODY_LIST_MINE:
        do_list_mine(s, f);
        break;
    default:
        if (dispatch_triage_frame(s, f))
            break;
        reply_now_error(s, f->id, MINYI__V1__ERROR_CODE__UNSUPPORTED, "body",
                        "unknown or missing request body", "不支持的请求类型");
        break;
    }
    frame_arena_free(arena);
}
