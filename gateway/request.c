/*
 * request: one request of a caller on its way through storage, and the
 * checks every dispatcher applies to what a request carries (short texts,
 * receipts, audit heads); see request.h.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "audit.h"
#include "request.h"
#include "utf8.h"
#include "validate.h"

const char *request_op_name(int op)
{
    switch (op) {
    case MINYI__V1__FRAME__BODY_SUBMIT: return "submit";
    case MINYI__V1__FRAME__BODY_STATUS: return "status";
    case MINYI__V1__FRAME__BODY_LIST_MINE: return "list_mine";
    case MINYI__V1__FRAME__BODY_RESUBMIT: return "resubmit";
    case MINYI__V1__FRAME__BODY_QUEUE: return "queue";
    case MINYI__V1__FRAME__BODY_SHOW: return "show";
    case MINYI__V1__FRAME__BODY_CLAIM: return "claim";
    case MINYI__V1__FRAME__BODY_RENEW: return "renew";
    case MINYI__V1__FRAME__BODY_RELEASE: return "release";
    case MINYI__V1__FRAME__BODY_EDIT: return "edit";
    case MINYI__V1__FRAME__BODY_DECIDE: return "decide";
    case MINYI__V1__FRAME__BODY_WATCH: return "watch";
    case MINYI__V1__FRAME__BODY_FORWARD: return "forward";
    case MINYI__V1__FRAME__BODY_RESULTS: return "results";
    case MINYI__V1__FRAME__BODY_OUTBOX: return "outbox";
    case MINYI__V1__FRAME__BODY_OUTBOX_ACTION: return "outbox_action";
    case MINYI__V1__FRAME__BODY_ATTACHMENT: return "attachment";
    case MINYI__V1__FRAME__BODY_INSTRUCT: return "instruct";
    case MINYI__V1__FRAME__BODY_EXTERNAL_RESPONSE: return "external_response";
    case MINYI__V1__FRAME__BODY_STATS: return "stats";
    case MINYI__V1__FRAME__BODY_POINTS: return "points";
    case MINYI__V1__FRAME__BODY_ISSUE_NEW: return "issue_new";
    case MINYI__V1__FRAME__BODY_ISSUE_ADD: return "issue_add";
    case MINYI__V1__FRAME__BODY_ISSUE_REMOVE: return "issue_remove";
    case MINYI__V1__FRAME__BODY_ISSUE_PUBLISH: return "issue_publish";
    case MINYI__V1__FRAME__BODY_ISSUE_SHOW: return "issue_show";
    case MINYI__V1__FRAME__BODY_ISSUE_LIST: return "issue_list";
    case MINYI__V1__FRAME__BODY_INBOX: return "inbox";
    case MINYI__V1__FRAME__BODY_INBOX_SHOW: return "inbox_show";
    case MINYI__V1__FRAME__BODY_INBOX_ANSWER: return "inbox_answer";
    case MINYI__V1__FRAME__BODY_INBOX_CONVERT: return "inbox_convert";
    case MINYI__V1__FRAME__BODY_POSTER: return "poster";
    case MINYI__V1__FRAME__BODY_AUDIT: return "audit";
    case MINYI__V1__FRAME__BODY_ISSUE_SEND: return "issue_send";
    case MINYI__V1__FRAME__BODY_ERASE: return "erase";
    default: return "other";
    }
}

void request_fail(struct caller *c, uint64_t id, int op, int code, const char *field,
                  const char *message, const char *message_zh)
{
    if (op == MINYI__V1__FRAME__BODY_SUBMIT)
        metrics.reports_rejected[metrics_code_slot(code)]++;
    log_info("event=request sid=%llu id=%llu op=%s result=%d field=%s",
             (unsigned long long)c->sid, (unsigned long long)id, request_op_name(op), code,
             field != NULL ? field : "");
    caller_send_error(c, id, code, field != NULL ? field : "", message, message_zh);
    caller_done(c);
}

struct request *request_new(struct caller *c, uint64_t id, int op)
{
    struct request *r = malloc(sizeof(*r));
    if (r == NULL) {
        request_fail(c, id, op, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "", "out of memory",
                     "服务器内存不足");
        return NULL;
    }
    r->c = c;
    r->id = id;
    r->op = op;
    r->start_us = clock_mono_us();
    caller_hold(c);
    return r;
}

/* Puts the storage answer into the frame's body for the request's op. */
static void set_answer_body(Frame *f, int op, ProtobufCMessage *msg)
{
    switch (op) {
    case MINYI__V1__FRAME__BODY_SUBMIT:
    case MINYI__V1__FRAME__BODY_RESUBMIT:
    case MINYI__V1__FRAME__BODY_INBOX_CONVERT:
        f->body_case = MINYI__V1__FRAME__BODY_SUBMIT_OK;
        f->submit_ok = (Minyi__V1__SubmitResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_STATUS:
        f->body_case = MINYI__V1__FRAME__BODY_STATUS_OK;
        f->status_ok = (Minyi__V1__StatusResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_LIST_MINE:
        f->body_case = MINYI__V1__FRAME__BODY_LIST_MINE_OK;
        f->list_mine_ok = (Minyi__V1__ListMineResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_QUEUE:
        f->body_case = MINYI__V1__FRAME__BODY_QUEUE_OK;
        f->queue_ok = (Minyi__V1__QueueResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_SHOW:
        f->body_case = MINYI__V1__FRAME__BODY_SHOW_OK;
        f->show_ok = (Minyi__V1__ShowResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_CLAIM:
    case MINYI__V1__FRAME__BODY_RENEW:
        f->body_case = MINYI__V1__FRAME__BODY_CLAIM_OK;
        f->claim_ok = (Minyi__V1__ClaimResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_RELEASE:
    case MINYI__V1__FRAME__BODY_OUTBOX_ACTION:
    case MINYI__V1__FRAME__BODY_INBOX_ANSWER:
    case MINYI__V1__FRAME__BODY_ERASE:
        f->body_case = MINYI__V1__FRAME__BODY_OK;
        f->ok = (Minyi__V1__Ok *)msg;
        break;
    case MINYI__V1__FRAME__BODY_EDIT:
        f->body_case = MINYI__V1__FRAME__BODY_EDIT_OK;
        f->edit_ok = (Minyi__V1__EditResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_DECIDE:
    case MINYI__V1__FRAME__BODY_INSTRUCT:
    case MINYI__V1__FRAME__BODY_EXTERNAL_RESPONSE:
        f->body_case = MINYI__V1__FRAME__BODY_DECIDE_OK;
        f->decide_ok = (Minyi__V1__DecideResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_RESULTS:
        f->body_case = MINYI__V1__FRAME__BODY_RESULTS_OK;
        f->results_ok = (Minyi__V1__ResultsResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_OUTBOX:
        f->body_case = MINYI__V1__FRAME__BODY_OUTBOX_OK;
        f->outbox_ok = (Minyi__V1__OutboxResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_ATTACHMENT:
        f->body_case = MINYI__V1__FRAME__BODY_ATTACHMENT_OK;
        f->attachment_ok = (Minyi__V1__Attachment *)msg;
        break;
    case MINYI__V1__FRAME__BODY_STATS:
        f->body_case = MINYI__V1__FRAME__BODY_STATS_OK;
        f->stats_ok = (Minyi__V1__StatsResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_POINTS:
        f->body_case = MINYI__V1__FRAME__BODY_POINTS_OK;
        f->points_ok = (Minyi__V1__PointsResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_ISSUE_NEW:
    case MINYI__V1__FRAME__BODY_ISSUE_ADD:
    case MINYI__V1__FRAME__BODY_ISSUE_REMOVE:
    case MINYI__V1__FRAME__BODY_ISSUE_PUBLISH:
    case MINYI__V1__FRAME__BODY_ISSUE_SHOW:
    case MINYI__V1__FRAME__BODY_ISSUE_SEND:
        f->body_case = MINYI__V1__FRAME__BODY_ISSUE_OK;
        f->issue_ok = (Minyi__V1__Issue *)msg;
        break;
    case MINYI__V1__FRAME__BODY_ISSUE_LIST:
        f->body_case = MINYI__V1__FRAME__BODY_ISSUE_LIST_OK;
        f->issue_list_ok = (Minyi__V1__IssueListResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_INBOX:
        f->body_case = MINYI__V1__FRAME__BODY_INBOX_OK;
        f->inbox_ok = (Minyi__V1__InboxResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_INBOX_SHOW:
        f->body_case = MINYI__V1__FRAME__BODY_INBOX_SHOW_OK;
        f->inbox_show_ok = (Minyi__V1__InboxMessage *)msg;
        break;
    case MINYI__V1__FRAME__BODY_POSTER:
        f->body_case = MINYI__V1__FRAME__BODY_POSTER_OK;
        f->poster_ok = (Minyi__V1__PosterResponse *)msg;
        break;
    case MINYI__V1__FRAME__BODY_AUDIT:
        f->body_case = MINYI__V1__FRAME__BODY_AUDIT_OK;
        f->audit_ok = (Minyi__V1__AuditResponse *)msg;
        break;
    default:
        fatal("storage answered a request of unknown op %d", op);
    }
}

void request_on_reply(void *arg, struct store_reply *reply)
{
    struct request *req = arg;
    struct caller *c = req->c;

    if (!caller_live(c)) {
        caller_done(c);
    } else if (reply->code != 0) {
        request_fail(c, req->id, req->op, reply->code, reply->field, reply->message,
                     reply->message_zh);
    } else {
        Frame f = MINYI__V1__FRAME__INIT;
        if (reply->msg == NULL)
            fatal("store reply without message for op %s", request_op_name(req->op));
        f.id = req->id;
        set_answer_body(&f, req->op, reply->msg);
        if (req->op == MINYI__V1__FRAME__BODY_SUBMIT) {
            metrics.reports_accepted++;
            if (((Minyi__V1__SubmitResponse *)reply->msg)->duplicate)
                metrics.reports_duplicate++;
            metrics_observe(&metrics.ack_seconds,
                            (double)(clock_mono_us() - req->start_us) / 1e6);
        }
        log_debug("event=request sid=%llu id=%llu op=%s result=0", (unsigned long long)c->sid,
                  (unsigned long long)req->id, request_op_name(req->op));
        caller_send(c, &f);
        caller_done(c);
    }
    if (reply->msg != NULL)
        protobuf_c_message_free_unpacked(reply->msg, NULL);
    caller_release(c);
    free(req);
}

bool request_take_short(const ProtobufCBinaryData *b, size_t max, char *out)
{
    if (b->len > max || (b->len > 0 && !utf8_valid(b->data, b->len, NULL)))
        return false;
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] < 0x20 || b->data[i] == 0x7f)
            return false;
    if (b->len > 0)
        memcpy(out, b->data, b->len);
    out[b->len] = '\0';
    return true;
}

bool request_take_receipt(struct caller *c, uint64_t id, int op, const ProtobufCBinaryData *b,
                          const char *field, char out[REQUEST_RECEIPT_MAX + 1])
{
    /* Every receipt minyi hands out is digits, letters and dashes; other
     * text can name no report, and says so as the malformed input it is
     * rather than as a report that does not exist. */
    if (validate_receipt_chars(b->data, b->len, REQUEST_RECEIPT_MAX)) {
        memcpy(out, b->data, b->len);
        out[b->len] = '\0';
        return true;
    }
    request_fail(c, id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, field,
                 "receipt is missing or malformed", "回执编号缺失或格式错误");
    return false;
}

bool request_audit_head(const Minyi__V1__AuditHead *h, struct triage_audit_head *out)
{
    memset(out, 0, sizeof *out);
    if (h == NULL)
        return true;
    if (h->seq <= 0 || h->hash.len != sizeof out->hash ||
        h->signature.len != sizeof out->signature)
        return false;
    out->seq = h->seq;
    memcpy(out->hash, h->hash.data, sizeof out->hash);
    memcpy(out->signature, h->signature.data, sizeof out->signature);
    return true;
}

bool request_audit_head_signed(const struct principal *p, const struct triage_audit_head *h)
{
    if (h->seq == 0 || p->n_audit_keys == 0)
        return true;
    for (int i = 0; i < p->n_audit_keys; i++)
        if (audit_head_verify_raw(p->audit_keys[i], p->region, h->seq, h->hash, h->signature,
                                  sizeof h->signature))
            return true;
    return false;
}

bool request_take_audit_head(struct caller *c, uint64_t id, int op, const Minyi__V1__AuditHead *h,
                             const char *field, struct triage_audit_head *out)
{
    if (!request_audit_head(h, out)) {
        request_fail(c, id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, field,
                     "an audit head has a positive seq, a 32-byte hash and a 64-byte signature",
                     "审计链头须含正序号、32字节哈希和64字节签名");
        return false;
    }
    if (!request_audit_head_signed(&c->principal, out)) {
        request_fail(c, id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, field,
                     "the audit head's signature does not verify with the audit keys"
                     " registered for this peer",
                     "审计链头的签名与为此对端登记的审计密钥不符");
        return false;
    }
    /* Without a key registered the head is kept all the same, marked as
     * not checked here (PROTOCOL.md §3.13 says why). */
    out->checked = out->seq > 0 && c->principal.n_audit_keys > 0;
    return true;
}
