/*
 * dispatch_results: see dispatch_results.h.  Only the principal's own
 * results are ever acknowledged or answered: the peer is the session's
 * principal, never a field of the request.
 */
#include "dispatch_results.h"
#include "request.h"
#include "results.h"
#include "triage.h"

static void answer_invalid(struct caller *c, uint64_t id, const char *field, const char *msg,
                           const char *msg_zh)
{
    request_fail(c, id, MINYI__V1__FRAME__BODY_RESULTS, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                 field, msg, msg_zh);
}

bool dispatch_results_frame(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_RESULTS;
    const Minyi__V1__ResultsRequest *q = f->results;

    if (f->body_case != MINYI__V1__FRAME__BODY_RESULTS)
        return false;
    if (c->principal.kind != PRINCIPAL_PEER) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                     "only peer instances may pull results", "只有下级平台可以获取处理结果");
        return true;
    }
    if (q == NULL) {
        answer_invalid(c, f->id, "body", "request body is missing", "缺少请求内容");
        return true;
    }
    if (q->n_ack > RESULTS_ACK_MAX) {
        answer_invalid(c, f->id, "results.ack", "too many acknowledgements in one request",
                       "单次确认的结果过多");
        return true;
    }
    for (size_t i = 0; i < q->n_ack; i++) {
        if (q->ack[i] <= 0) {
            answer_invalid(c, f->id, "results.ack", "result ids are positive",
                           "结果编号须为正数");
            return true;
        }
    }
    if (q->limit > RESULTS_LIMIT_MAX) {
        answer_invalid(c, f->id, "results.limit", "limit must be at most 64",
                       "单次获取条数不得超过64");
        return true;
    }
    struct triage_audit_head head;
    if (!request_take_audit_head(c, f->id, op, q->audit_head, "results.audit_head", &head))
        return true;
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_r_pull(c->gw->store, c->principal.id, q->ack, q->n_ack,
                      q->limit != 0 ? q->limit : RESULTS_LIMIT_DEFAULT, c->gw->cfg.body_region,
                      c->gw->cfg.body_name, &head, request_on_reply, req);
    return true;
}
