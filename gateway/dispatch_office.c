/*
 * dispatch_office: stats, points and the audit (see dispatch_office.h).
 */
#include <string.h>
#include <time.h>

#include "audit_ops.h"
#include "dispatch_office.h"
#include "office.h"
#include "request.h"

static bool may_read(struct caller *c, uint64_t id, int op)
{
    switch (c->principal.kind) {
    case PRINCIPAL_OFFICE:
    case PRINCIPAL_ADMIN:
    case PRINCIPAL_EDITOR:
    case PRINCIPAL_CONTACT:
        return true;
    default:
        request_fail(c, id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                     "only offices, admins, editors and contact points may read figures",
                     "只有办公室、管理员、信息编辑和联系点可以查看统计");
        return false;
    }
}

/* Midnight of 1 January of year in China Standard Time, in ms. */
static int64_t year_start_ms(int year)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mday = 1;
    return ((int64_t)timegm(&tm) - DISPATCH_OFFICE_TZ_OFFSET_S) * 1000;
}

static void do_stats(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_STATS;
    const Minyi__V1__StatsRequest *q = f->stats;

    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        office_stats(c->gw->store, c->principal.id, q->from_ms, q->to_ms, (int)q->by,
                     request_on_reply, req);
}

static void do_points(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_POINTS;
    const Minyi__V1__PointsRequest *q = f->points;

    if (q->year < DISPATCH_OFFICE_YEAR_MIN || q->year > DISPATCH_OFFICE_YEAR_MAX) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "points.year",
                     "year must be from 2000 to 2999", "年份须在2000至2999之间");
        return;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        office_points(c->gw->store, c->principal.id, year_start_ms(q->year),
                      year_start_ms(q->year + 1), &c->gw->cfg.points, (int)q->by, q->explain,
                      request_on_reply, req);
}

/* The audit is the office's and the admins' to read: who claimed, decided
 * or erased what is not for the editors it judges, nor for contact points. */
static void do_audit(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_AUDIT;
    const Minyi__V1__AuditRequest *q = f->audit;
    char receipt[REQUEST_RECEIPT_MAX + 1] = "";

    if (c->principal.kind != PRINCIPAL_OFFICE && c->principal.kind != PRINCIPAL_ADMIN) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                     "only offices and admins may read the audit",
                     "只有办公室和管理员可以查看审计记录");
        return;
    }
    if (q == NULL) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "body",
                     "request body is missing", "缺少请求内容");
        return;
    }
    if (q->receipt.len > 0 &&
        !request_take_receipt(c, f->id, op, &q->receipt, "audit.receipt", receipt))
        return;
    struct audit_read_query aq = {
        .from_ms = q->from_ms, .to_ms = q->to_ms, .after_seq = q->after_seq,
        .receipt = receipt, .limit = q->limit,
    };
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        audit_read(c->gw->store, c->principal.id, &aq, request_on_reply, req);
}

bool dispatch_office_frame(struct caller *c, const Frame *f)
{
    int op = (int)f->body_case;

    if (f->body_case == MINYI__V1__FRAME__BODY_AUDIT) {
        do_audit(c, f);
        return true;
    }

    if (f->body_case != MINYI__V1__FRAME__BODY_STATS &&
        f->body_case != MINYI__V1__FRAME__BODY_POINTS)
        return false;
    if (!may_read(c, f->id, op))
        return true;
    /* The bodies share one union, so one test covers whichever is set. */
    if (f->stats == NULL) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "body",
                     "request body is missing", "缺少请求内容");
        return true;
    }
    if (f->body_case == MINYI__V1__FRAME__BODY_STATS)
        do_stats(c, f);
    else
        do_points(c, f);
    return true;
}
