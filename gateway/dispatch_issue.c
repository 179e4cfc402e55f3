/*
 * dispatch_issue: 专报 issues (see dispatch_issue.h).
 */
#include <stdlib.h>

#include "config_dests.h"
#include "dispatch_issue.h"
#include "issue.h"
#include "request.h"
#include "triage.h"
#include "validate.h"

static bool is_issue_body(int op)
{
    switch (op) {
    case MINYI__V1__FRAME__BODY_ISSUE_NEW:
    case MINYI__V1__FRAME__BODY_ISSUE_ADD:
    case MINYI__V1__FRAME__BODY_ISSUE_REMOVE:
    case MINYI__V1__FRAME__BODY_ISSUE_PUBLISH:
    case MINYI__V1__FRAME__BODY_ISSUE_SHOW:
    case MINYI__V1__FRAME__BODY_ISSUE_LIST:
    case MINYI__V1__FRAME__BODY_ISSUE_SEND:
        return true;
    default:
        return false;
    }
}

/* Editors do everything; offices and admins read; the rest nothing. */
static bool may(struct caller *c, uint64_t id, int op)
{
    bool reads = op == MINYI__V1__FRAME__BODY_ISSUE_SHOW || op == MINYI__V1__FRAME__BODY_ISSUE_LIST;
    enum principal_kind kind = c->principal.kind;

    if (kind == PRINCIPAL_EDITOR)
        return true;
    if (reads && (kind == PRINCIPAL_OFFICE || kind == PRINCIPAL_ADMIN))
        return true;
    if (reads)
        request_fail(c, id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                     "only editors, offices and admins read issues",
                     "只有信息编辑、办公室和管理员可以查阅专报");
    else
        request_fail(c, id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                     "only editors compile issues", "只有信息编辑可以编辑专报");
    return false;
}

static void answer_invalid(struct caller *c, uint64_t id, int op,
                           const struct validation_error *e)
{
    request_fail(c, id, op, e->code, e->field, e->message, e->message_zh);
}

static void do_new(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_ISSUE_NEW;
    const Minyi__V1__IssueNewRequest *q = f->issue_new;
    struct validation_error verr;
    char *series = NULL, *title = NULL, *note = NULL;

    if (q->year != 0 && (q->year < DISPATCH_ISSUE_YEAR_MIN || q->year > DISPATCH_ISSUE_YEAR_MAX)) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "issue_new.year",
                     "year must be 0 (this year) or from 2000 to 2999",
                     "年份须为0（当年）或2000至2999");
        return;
    }
    if (!validate_text(&q->series, VALIDATE_TEXT_SERIES, "issue_new.series", "专报名称", true,
                       &c->gw->limits, &series, &verr) ||
        !validate_text(&q->title, VALIDATE_TEXT_TITLE, "issue_new.title", "标题", true,
                       &c->gw->limits, &title, &verr) ||
        !validate_text(&q->editor_note, VALIDATE_TEXT_NOTE, "issue_new.editor_note", "编者按",
                       false, &c->gw->limits, &note, &verr)) {
        answer_invalid(c, f->id, op, &verr);
        goto out;
    }
    struct issue_new n = {
        .series = series,
        .title = title,
        .editor_note = note,
        .body_name = c->gw->cfg.body_name,
        .year = q->year,
    };
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        issue_new(c->gw->store, c->principal.id, &n, request_on_reply, req);
out:
    free(series);
    free(title);
    free(note);
}

static void do_add(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_ISSUE_ADD;
    const Minyi__V1__IssueAddRequest *q = f->issue_add;
    struct validation_error verr;
    char receipt[REQUEST_RECEIPT_MAX + 1];
    char *title = NULL, *text = NULL;

    if (!request_take_receipt(c, f->id, op, &q->receipt, "issue_add.receipt", receipt))
        return;
    if (q->position > ISSUE_ITEMS_MAX) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "issue_add.position", "position is beyond the most items of an issue",
                     "位置超出一期专报的条目上限");
        return;
    }
    if (!validate_text(&q->title, VALIDATE_TEXT_TITLE, "issue_add.title", "标题", false,
                       &c->gw->limits, &title, &verr) ||
        !validate_text(&q->text, VALIDATE_TEXT_ISSUE_ITEM, "issue_add.text", "正文", false,
                       &c->gw->limits, &text, &verr)) {
        answer_invalid(c, f->id, op, &verr);
        goto out;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        issue_add(c->gw->store, c->principal.id, q->issue_id, receipt, title, text, q->position,
                  request_on_reply, req);
out:
    free(title);
    free(text);
}

static void do_remove(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_ISSUE_REMOVE;
    char receipt[REQUEST_RECEIPT_MAX + 1];

    if (!request_take_receipt(c, f->id, op, &f->issue_remove->receipt, "issue_remove.receipt",
                              receipt))
        return;
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        issue_remove(c->gw->store, c->principal.id, f->issue_remove->issue_id, receipt,
                     request_on_reply, req);
}

static void do_list(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_ISSUE_LIST;
    int32_t year = f->issue_list->year;

    if (year != 0 && (year < DISPATCH_ISSUE_YEAR_MIN || year > DISPATCH_ISSUE_YEAR_MAX)) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "issue_list.year",
                     "year must be 0 (every year) or from 2000 to 2999",
                     "年份须为0（全部）或2000至2999");
        return;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        issue_list(c->gw->store, c->principal.id, year, request_on_reply, req);
}

/* An issue goes to an external destination of the config ([external.NAME]):
 * the gateways above take reports, one by one, by FORWARD. */
static void do_send(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_ISSUE_SEND;
    const Minyi__V1__IssueSendRequest *q = f->issue_send;
    char dest[TRIAGE_DEST_NAME_MAX + 1], known[512];
    const char *display = NULL;
    bool external = false;

    if (!request_take_short(&q->destination, TRIAGE_DEST_NAME_MAX, dest) || dest[0] == '\0' ||
        !config_dest_find(&c->gw->cfg, dest, &display, &external) || !external) {
        char msg[640];
        config_dests_describe(&c->gw->cfg, known, sizeof known);
        snprintf(msg, sizeof msg,
                 "an issue is sent to an external destination of this gateway; its "
                 "destinations: %s", known);
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "issue_send.destination", msg, "专报只能报送至本级配置的外部去向");
        return;
    }
    if (q->sent_at_ms < 0) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "issue_send.sent_at_ms", "a date must not be negative", "日期不能为负数");
        return;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        issue_send(c->gw->store, c->principal.id, q->issue_id, dest, display, q->sent_at_ms,
                   TRIAGE_INSTRUCT_FUTURE_SLACK_S, request_on_reply, req);
}

/* publish and show name an issue by its id alone. */
static void do_by_id(struct caller *c, const Frame *f, int64_t issue_id)
{
    struct request *req = request_new(c, f->id, (int)f->body_case);
    if (req == NULL)
        return;
    if (f->body_case == MINYI__V1__FRAME__BODY_ISSUE_PUBLISH)
        issue_publish(c->gw->store, c->principal.id, issue_id, request_on_reply, req);
    else
        issue_show(c->gw->store, c->principal.id, issue_id, request_on_reply, req);
}

bool dispatch_issue_frame(struct caller *c, const Frame *f)
{
    int op = (int)f->body_case;

    if (!is_issue_body(op))
        return false;
    if (!may(c, f->id, op))
        return true;
    /* The bodies share one union, so one test covers whichever is set. */
    if (f->issue_new == NULL) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "body",
                     "request body is missing", "缺少请求内容");
        return true;
    }
    switch (f->body_case) {
    case MINYI__V1__FRAME__BODY_ISSUE_NEW:
        do_new(c, f);
        break;
    case MINYI__V1__FRAME__BODY_ISSUE_ADD:
        do_add(c, f);
        break;
    case MINYI__V1__FRAME__BODY_ISSUE_REMOVE:
        do_remove(c, f);
        break;
    case MINYI__V1__FRAME__BODY_ISSUE_LIST:
        do_list(c, f);
        break;
    case MINYI__V1__FRAME__BODY_ISSUE_SEND:
        do_send(c, f);
        break;
    case MINYI__V1__FRAME__BODY_ISSUE_PUBLISH:
        do_by_id(c, f, f->issue_publish->issue_id);
        break;
    default:
        do_by_id(c, f, f->issue_show->issue_id);
        break;
    }
    return true;
}
