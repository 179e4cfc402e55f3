/*
 * dispatch_erase: see dispatch_erase.h.  The peer is the session's
 * principal, never a field of the request, so a peer can erase only the
 * copies of reports it forwarded itself (the database checks the report's
 * sender).
 */
#include <string.h>

#include "dispatch_erase.h"
#include "request.h"
#include "triage.h"
#include "validate.h"

static void answer_invalid(struct caller *c, uint64_t id, const char *field, const char *msg,
                           const char *msg_zh)
{
    request_fail(c, id, MINYI__V1__FRAME__BODY_ERASE, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                 field, msg, msg_zh);
}

bool dispatch_erase_frame(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_ERASE;
    const Minyi__V1__EraseRequest *q = f->erase;
    char region[REQUEST_REGION_LEN + 1], receipt[REQUEST_RECEIPT_MAX + 1];
    struct triage_audit_head head;

    if (f->body_case != MINYI__V1__FRAME__BODY_ERASE)
        return false;
    if (c->principal.kind != PRINCIPAL_PEER) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                     "only peer instances may pass on an erasure",
                     "只有下级平台可以通知删除个人信息");
        return true;
    }
    if (q == NULL) {
        answer_invalid(c, f->id, "body", "request body is missing", "缺少请求内容");
        return true;
    }
    if (!validate_region_code(q->origin_region.data, q->origin_region.len)) {
        answer_invalid(c, f->id, "erase.origin_region", "must be a six-digit region code",
                       "须为六位行政区划代码");
        return true;
    }
    memcpy(region, q->origin_region.data, REQUEST_REGION_LEN);
    region[REQUEST_REGION_LEN] = '\0';
    if (!validate_receipt_chars(q->origin_receipt.data, q->origin_receipt.len,
                                REQUEST_RECEIPT_MAX)) {
        answer_invalid(c, f->id, "erase.origin_receipt", "receipt is missing or malformed",
                       "回执编号缺失或格式错误");
        return true;
    }
    memcpy(receipt, q->origin_receipt.data, q->origin_receipt.len);
    receipt[q->origin_receipt.len] = '\0';
    if (!request_take_audit_head(c, f->id, op, q->audit_head, "erase.audit_head", &head))
        return true;
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_f_erase(c->gw->store, c->principal.id, region, receipt, &head, request_on_reply,
                       req);
    return true;
}
