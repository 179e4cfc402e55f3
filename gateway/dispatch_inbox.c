/*
 * dispatch_inbox: the inbox operations and posters (see dispatch_inbox.h).
 *
 * Converting messages into a report is one call into storage, one
 * transaction there (storage/inbox.h): the report is validated here as a
 * submission is, and stored with the messages marked converted into it,
 * or neither.  A retry with the same client_report_id finds the same
 * report, so a retry never makes a second one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_inbox.h"
#include "inbox.h"
#include "public_token.h"
#include "request.h"
#include "validate.h"

static bool require_contact(struct caller *c, uint64_t id, int op)
{
    if (c->principal.kind == PRINCIPAL_CONTACT)
        return true;
    request_fail(c, id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                 "only a contact point has an inbox", "只有联系点有群众来信箱");
    return false;
}

static void do_inbox(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_INBOX;
    const Minyi__V1__InboxRequest *q = f->inbox;
    char status[16], cursor[REQUEST_CURSOR_MAX + 1];
    char *end = NULL;
    long long after = 0;

    if (!request_take_short(&q->status, sizeof status - 1, status) ||
        (status[0] != '\0' && !inbox_status_known(status))) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "inbox.status",
                     "status must be new, replied, converted or dismissed",
                     "状态须为 new、replied、converted 或 dismissed");
        return;
    }
    if (q->limit > INBOX_LIST_MAX) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "inbox.limit",
                     "limit must be at most 200", "每页条数不得超过200");
        return;
    }
    /* The cursor is the id of the last message of the previous page. */
    if (!request_take_short(&q->cursor, REQUEST_CURSOR_MAX, cursor) ||
        (cursor[0] != '\0' && ((after = strtoll(cursor, &end, 10)) <= 0 || *end != '\0'))) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "inbox.cursor",
                     "cursor is malformed", "分页游标格式错误");
        return;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        inbox_list(c->gw->store, c->principal.id, status, q->limit, after, request_on_reply,
                   req);
}

static void do_show(struct caller *c, const Frame *f)
{
    struct request *req = request_new(c, f->id, MINYI__V1__FRAME__BODY_INBOX_SHOW);
    if (req != NULL)
        inbox_show(c->gw->store, c->principal.id, f->inbox_show->id, request_on_reply, req);
}

static void do_answer(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_INBOX_ANSWER;
    const Minyi__V1__InboxAnswerRequest *q = f->inbox_answer;
    struct validation_error err;
    char *text = NULL;

    memset(&err, 0, sizeof err);
    if (!validate_text(&q->text, VALIDATE_TEXT_NOTE, "inbox_answer.text",
                       q->dismiss ? "不予处理的理由" : "回复", true, &c->gw->limits, &text, &err)) {
        request_fail(c, f->id, op, err.code, err.field, err.message, err.message_zh);
        return;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        inbox_answer(c->gw->store, c->principal.id, q->id, q->dismiss, text, request_on_reply,
                     req);
    free(text);
}

static void do_convert(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_INBOX_CONVERT;
    const Minyi__V1__InboxConvertRequest *q = f->inbox_convert;
    struct validation_error err;

    if (q->n_ids == 0 || q->n_ids > INBOX_CONVERT_MAX) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "inbox_convert.ids",
                     "give 1 to 10 messages", "须指定1至10条来信");
        return;
    }
    if (q->report == NULL) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "report",
                     "report is missing", "缺少信息内容");
        return;
    }
    /* A report made of messages from the public credits a 群众. */
    if (q->report->reporter == NULL ||
        q->report->reporter->kind != MINYI__V1__REPORTER_KIND__CITIZEN) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "report.reporter.kind",
                     "a report made of messages from the public has a reporter of kind CITIZEN",
                     "由群众来信转成的信息，反映人类别须为群众");
        return;
    }
    struct intake_report r;
    memset(&r, 0, sizeof r);
    memset(&err, 0, sizeof err);
    if (!validate_report(q->report, &c->gw->limits, &r, &err)) {
        intake_report_free(&r);
        request_fail(c, f->id, op, err.code, err.field, err.message, err.message_zh);
        return;
    }
    r.principal_id = c->principal.id;
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        inbox_convert(c->gw->store, c->principal.id, q->ids, q->n_ids, &r, request_on_reply,
                      req);
    intake_report_free(&r);
}

/* The poster's answer gets its URL here: the token is signed with the
 * instance's key, which storage never sees. */
struct poster {
    struct request *req;
    struct gw *gw;
};

static void poster_signed(void *arg, struct store_reply *reply)
{
    struct poster *p = arg;
    Minyi__V1__PosterResponse *m = (Minyi__V1__PosterResponse *)reply->msg;
    char token[PUBLIC_TOKEN_MAX + 1];

    if (reply->code == 0) {
        const char *base = p->gw->cfg.public_base_url;
        size_t len = strlen(base) + sizeof DISPATCH_INBOX_FORM_PATH + PUBLIC_TOKEN_MAX;
        char *url = malloc(len);
        if (url == NULL || !public_token_sign(p->gw->public_key, m->contact_point_id,
                                              m->generation, token)) {
            free(url);
            protobuf_c_message_free_unpacked(reply->msg, NULL);
            reply->msg = NULL;
            reply->code = MINYI__V1__ERROR_CODE__INTERNAL;
            reply->field = "";
            snprintf(reply->message, sizeof reply->message, "cannot sign the poster's token");
            snprintf(reply->message_zh, sizeof reply->message_zh, "无法签发二维码令牌");
        } else {
            snprintf(url, len, "%s" DISPATCH_INBOX_FORM_PATH "%s", base, token);
            m->url.data = (uint8_t *)url;
            m->url.len = strlen(url);
        }
    }
    request_on_reply(p->req, reply);
    free(p);
}

static void do_poster(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_POSTER;

    switch (c->principal.kind) {
    case PRINCIPAL_CONTACT:
    case PRINCIPAL_OFFICE:
    case PRINCIPAL_ADMIN:
        break;
    default:
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                     "only contact points, offices and admins make posters",
                     "只有联系点、办公室和管理员可以生成二维码海报");
        return;
    }
    if (!c->gw->public_on || c->gw->cfg.public_base_url[0] == '\0') {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__UNAVAILABLE, "poster",
                     "this gateway has no [public] token_key_file and base_url",
                     "本网关未配置码上商（[public] token_key_file 与 base_url）");
        return;
    }
    struct poster *p = malloc(sizeof *p);
    if (p == NULL) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "",
                     "out of memory", "服务器内存不足");
        return;
    }
    p->gw = c->gw;
    p->req = request_new(c, f->id, op);
    if (p->req == NULL) {
        free(p);
        return;
    }
    inbox_poster(c->gw->store, c->principal.id, f->poster->contact_point_id, f->poster->rotate,
                 poster_signed, p);
}

bool dispatch_inbox_frame(struct caller *c, const Frame *f)
{
    int op = (int)f->body_case;

    switch (f->body_case) {
    case MINYI__V1__FRAME__BODY_INBOX:
    case MINYI__V1__FRAME__BODY_INBOX_SHOW:
    case MINYI__V1__FRAME__BODY_INBOX_ANSWER:
    case MINYI__V1__FRAME__BODY_INBOX_CONVERT:
    case MINYI__V1__FRAME__BODY_POSTER:
        break;
    default:
        return false;
    }
    /* The bodies share one union, so one test covers whichever is set. */
    if (f->inbox == NULL) {
        request_fail(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "body",
                     "request body is missing", "缺少请求内容");
        return true;
    }
    if (f->body_case == MINYI__V1__FRAME__BODY_POSTER) {
        do_poster(c, f);
        return true;
    }
    if (!require_contact(c, f->id, op))
        return true;
    switch (f->body_case) {
    case MINYI__V1__FRAME__BODY_INBOX: do_inbox(c, f); break;
    case MINYI__V1__FRAME__BODY_INBOX_SHOW: do_show(c, f); break;
    case MINYI__V1__FRAME__BODY_INBOX_ANSWER: do_answer(c, f); break;
    default: do_convert(c, f); break;
    }
    return true;
}
