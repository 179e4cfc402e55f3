/*
 * dispatch_triage: see dispatch_triage.h.  Like dispatch.c, each request
 * that goes to storage carries a record holding a reference on its
 * caller; the reply is sent only when the caller is still there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "config.h"
#include "config_dests.h"
#include "dispatch_triage.h"
#include "level.h"
#include "log.h"
#include "request.h"
#include "triage.h"
#include "utf8.h"
#include "validate.h"

#define TRIAGE_RECEIPT_MAX REQUEST_RECEIPT_MAX
#define TRIAGE_CURSOR_MAX REQUEST_CURSOR_MAX

static void answer_error(struct caller *c, uint64_t id, int op, int code, const char *field,
                         const char *msg, const char *msg_zh)
{
    request_fail(c, id, op, code, field, msg, msg_zh);
}

static void answer_invalid(struct caller *c, uint64_t id, int op,
                           const struct validation_error *e)
{
    request_fail(c, id, op, e->code, e->field, e->message, e->message_zh);
}

static bool require(struct caller *c, uint64_t id, int op, enum principal_kind kind)
{
    if (c->principal.kind == kind)
        return true;
    answer_error(c, id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                 kind == PRINCIPAL_EDITOR ? "only editors may work the queue"
                                          : "only contact points may resubmit reports",
                 kind == PRINCIPAL_EDITOR ? "只有信息编辑可以处理信息队列"
                                          : "只有联系点可以重新报送信息");
    return false;
}

/* Offices and admins read what editors read (the queue, a report, its
 * attachments, the live queue) and change nothing; editors do both. */
static bool dispatch_triage_may(struct caller *c, uint64_t id, int op)
{
    enum principal_kind kind = c->principal.kind;
    bool reads = op == MINYI__V1__FRAME__BODY_QUEUE || op == MINYI__V1__FRAME__BODY_SHOW ||
                 op == MINYI__V1__FRAME__BODY_WATCH || op == MINYI__V1__FRAME__BODY_ATTACHMENT;

    if (reads && (kind == PRINCIPAL_OFFICE || kind == PRINCIPAL_ADMIN))
        return true;
    if (kind == PRINCIPAL_OFFICE || kind == PRINCIPAL_ADMIN) {
        answer_error(c, id, op, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                     "offices read the queue and change nothing",
                     "办公室只能查阅，不能处理信息");
        return false;
    }
    return require(c, id, op, PRINCIPAL_EDITOR);
}

/* Stored text is NFC (intake normalises it), so the filter must be too, or
 * a search typed in decomposed form never matches.  False when the
 * normalised text does not fit. */
static bool text_filter_nfc(char *text, size_t size)
{
    if (text[0] == '\0')
        return true;
    char *nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)text);
    if (nfc == NULL)
        return false;
    size_t n = strlen(nfc);
    bool ok = n < size;
    if (ok)
        memcpy(text, nfc, n + 1);
    free(nfc);
    return ok;
}

static void do_queue(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_QUEUE;
    const Minyi__V1__QueueRequest *q = f->queue;
    const Minyi__V1__QueueFilter *flt = q->filter;
    Minyi__V1__QueueFilter empty = MINYI__V1__QUEUE_FILTER__INIT;
    char cursor[TRIAGE_CURSOR_MAX + 1], text[TRIAGE_TEXT_FILTER_MAX + 1], region[8];

    if (flt == NULL)
        flt = &empty;
    if (!request_take_short(&q->cursor, TRIAGE_CURSOR_MAX, cursor)) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "queue.cursor",
                     "cursor is malformed", "分页游标格式错误");
        return;
    }
    if (!request_take_short(&flt->text, TRIAGE_TEXT_FILTER_MAX, text) ||
        !text_filter_nfc(text, sizeof text)) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "queue.filter.text",
                     "text filter is too long or not clean UTF-8", "文本筛选条件过长或编码无效");
        return;
    }
    if (!request_take_short(&flt->region_prefix, 6, region)) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "queue.filter.region_prefix", "a region prefix is 1 to 6 digits",
                     "地区代码前缀应为1至6位数字");
        return;
    }
    if (q->limit > TRIAGE_QUEUE_MAX) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "queue.limit",
                     "limit must be at most 200", "每页条数不得超过200");
        return;
    }
    struct triage_queue_query tq = {
        .states = (const int *)flt->states,
        .n_states = flt->n_states,
        .categories = (const int *)flt->categories,
        .n_categories = flt->n_categories,
        .urgency = (int)flt->urgency,
        .region_prefix = region,
        .contact_point_id = flt->contact_point_id,
        .from_ms = flt->received_from_ms,
        .to_ms = flt->received_to_ms,
        .claimed_by_me = flt->claimed_by_me,
        .text = text,
        .overdue_only = flt->overdue_only,
        .dead_deliveries_only = flt->dead_deliveries_only,
        .limit = q->limit,
        .cursor = cursor,
        .deadline_received_s = c->gw->cfg.deadline_received_s,
        .deadline_in_review_s = c->gw->cfg.deadline_in_review_s,
    };
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_queue(c->gw->store, c->principal.id, &tq, request_on_reply, req);
}

static void do_show(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_SHOW;
    char receipt[TRIAGE_RECEIPT_MAX + 1];

    if (!request_take_receipt(c, f->id, op, &f->show->receipt, "show.receipt", receipt))
        return;
    struct request *req = request_new(c, f->id, op);
    if (req == NULL)
        return;
    if (c->principal.kind == PRINCIPAL_CONTACT)
        triage_show_own(c->gw->store, c->principal.id, receipt, f->show->version,
                        request_on_reply, req);
    else
        triage_show(c->gw->store, c->principal.id, receipt, f->show->version, f->show->diff,
                    request_on_reply, req);
}

static void do_attachment(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_ATTACHMENT;
    char receipt[TRIAGE_RECEIPT_MAX + 1];

    if (!request_take_receipt(c, f->id, op, &f->attachment->receipt, "attachment.receipt",
                              receipt))
        return;
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_attachment(c->gw->store, c->principal.id, receipt, f->attachment->index,
                          request_on_reply, req);
}

/* A 批示 given after the decision (InstructRequest): the level must be one
 * of the closed list, the text is required, the leader optional. */
static void do_instruct(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_INSTRUCT;
    const Minyi__V1__InstructRequest *q = f->instruct;
    char receipt[TRIAGE_RECEIPT_MAX + 1];
    char *text = NULL, *leader = NULL;
    struct validation_error verr;

    if (!request_take_receipt(c, f->id, op, &q->receipt, "instruct.receipt", receipt))
        return;
    const char *label = level_label((int)q->level);
    if (label == NULL) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "instruct.level",
                     "level must be NATIONAL_LEADER, PROVINCIAL_LEADER, CITY_LEADER, "
                     "COUNTY_LEADER or DEPARTMENT",
                     "批示领导级别须为国家领导人、省领导、市领导、县领导或部门");
        return;
    }
    if (q->given_at_ms < 0) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "instruct.given_at_ms", "a date must not be negative", "日期不能为负数");
        return;
    }
    if (!validate_text(&q->text, VALIDATE_TEXT_INSTRUCTION, "instruct.text", "批示", true,
                       &c->gw->limits, &text, &verr) ||
        !validate_text(&q->leader, VALIDATE_TEXT_LEVEL, "instruct.leader", "批示领导", false,
                       &c->gw->limits, &leader, &verr)) {
        answer_invalid(c, f->id, op, &verr);
        goto out;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_instruct(c->gw->store, c->principal.id, receipt, label, leader, text,
                        q->given_at_ms, q->on_paper, request_on_reply, req);
out:
    free(text);
    free(leader);
}

/* What an external destination answered on a 报送
 * (ExternalResponseRequest): a kind of the closed list; a text for a 批示
 * or a 办理答复; a level for a 批示 and only for one. */
static void do_external_response(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_EXTERNAL_RESPONSE;
    const Minyi__V1__ExternalResponseRequest *q = f->external_response;
    char receipt[TRIAGE_RECEIPT_MAX + 1], dest[TRIAGE_DEST_NAME_MAX + 1];
    char *text = NULL, *leader = NULL;
    struct validation_error verr;
    const char *kind = NULL, *label = "";

    if (!request_take_receipt(c, f->id, op, &q->receipt, "external_response.receipt", receipt))
        return;
    if (q->destination.len == 0 ||
        !request_take_short(&q->destination, TRIAGE_DEST_NAME_MAX, dest)) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "external_response.destination", "the destination's id is required",
                     "须注明报送去向");
        return;
    }
    switch (q->kind) {
    case MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_ADOPTED: kind = "adopted"; break;
    case MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_INSTRUCTION: kind = "instruction"; break;
    case MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_REPLY: kind = "reply"; break;
    default: break;
    }
    if (kind == NULL) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "external_response.kind",
                     "kind must be EXTERNAL_ADOPTED, EXTERNAL_INSTRUCTION or EXTERNAL_REPLY",
                     "反馈类型须为采纳、批示或办理答复");
        return;
    }
    bool instruction = q->kind == MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_INSTRUCTION;
    if (instruction && (label = level_label((int)q->level)) == NULL) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "external_response.level",
                     "a 批示 needs its level: NATIONAL_LEADER, PROVINCIAL_LEADER, CITY_LEADER, "
                     "COUNTY_LEADER or DEPARTMENT",
                     "批示须注明领导级别：国家领导人、省领导、市领导、县领导或部门");
        return;
    }
    if (!instruction && (q->level != 0 || q->leader.len > 0)) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     q->level != 0 ? "external_response.level" : "external_response.leader",
                     "a leader and level go only with a 批示", "领导及其级别只用于批示");
        return;
    }
    if (q->responded_at_ms < 0) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "external_response.responded_at_ms", "a date must not be negative",
                     "日期不能为负数");
        return;
    }
    if (!validate_text(&q->text, VALIDATE_TEXT_INSTRUCTION, "external_response.text", "反馈内容",
                       q->kind != MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_ADOPTED,
                       &c->gw->limits, &text, &verr) ||
        !validate_text(&q->leader, VALIDATE_TEXT_LEVEL, "external_response.leader", "批示领导",
                       false, &c->gw->limits, &leader, &verr)) {
        answer_invalid(c, f->id, op, &verr);
        goto out;
    }
    struct triage_external_response r = {
        .destination = dest, .kind = kind, .text = text, .level = label, .leader = leader,
        .at_ms = q->responded_at_ms,
    };
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_external_response(c->gw->store, c->principal.id, receipt, &r, request_on_reply,
                                 req);
out:
    free(text);
    free(leader);
}

static void do_lease(struct caller *c, const Frame *f, int op)
{
    char receipt[TRIAGE_RECEIPT_MAX + 1];
    const ProtobufCBinaryData *rc;
    uint32_t lease;

    if (op == MINYI__V1__FRAME__BODY_CLAIM) {
        rc = &f->claim->receipt;
        lease = f->claim->lease_seconds;
    } else {
        rc = &f->renew->receipt;
        lease = f->renew->lease_seconds;
    }
    if (!request_take_receipt(c, f->id, op, rc,
                      op == MINYI__V1__FRAME__BODY_CLAIM ? "claim.receipt" : "renew.receipt",
                      receipt))
        return;
    if (lease == 0)
        lease = (uint32_t)c->gw->cfg.claim_lease_s;
    if (lease > TRIAGE_LEASE_MAX_S) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     op == MINYI__V1__FRAME__BODY_CLAIM ? "claim.lease_seconds"
                                                        : "renew.lease_seconds",
                     "the lease must be at most one day", "认领时长不得超过一天");
        return;
    }
    struct request *req = request_new(c, f->id, op);
    if (req == NULL)
        return;
    if (op == MINYI__V1__FRAME__BODY_CLAIM)
        triage_claim(c->gw->store, c->principal.id, receipt, (int)lease, request_on_reply, req);
    else
        triage_renew(c->gw->store, c->principal.id, receipt, (int)lease, request_on_reply, req);
}

static void do_release(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_RELEASE;
    char receipt[TRIAGE_RECEIPT_MAX + 1];

    if (!request_take_receipt(c, f->id, op, &f->release->receipt, "release.receipt", receipt))
        return;
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_release(c->gw->store, c->principal.id, receipt, request_on_reply, req);
}

static void do_edit(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_EDIT;
    const Minyi__V1__EditRequest *e = f->edit;
    char receipt[TRIAGE_RECEIPT_MAX + 1];
    char *title = NULL, *situation = NULL, *analysis = NULL, *suggestions = NULL, *note = NULL;
    struct validation_error verr;
    const struct validate_limits *lim = &c->gw->limits;

    if (!request_take_receipt(c, f->id, op, &e->receipt, "edit.receipt", receipt))
        return;
    /* Empty fields are left unchanged, so each is validated only when sent. */
    if ((e->title.len > 0 && !validate_text(&e->title, VALIDATE_TEXT_TITLE, "edit.title", "标题",
                                            true, lim, &title, &verr)) ||
        (e->situation.len > 0 &&
         !validate_text(&e->situation, VALIDATE_TEXT_SITUATION, "edit.situation", "情况/问题",
                        true, lim, &situation, &verr)) ||
        (e->analysis.len > 0 &&
         !validate_text(&e->analysis, VALIDATE_TEXT_ANALYSIS, "edit.analysis", "原因分析", true,
                        lim, &analysis, &verr)) ||
        (e->suggestions.len > 0 &&
         !validate_text(&e->suggestions, VALIDATE_TEXT_SUGGESTIONS, "edit.suggestions",
                        "意见建议", true, lim, &suggestions, &verr)) ||
        !validate_text(&e->note, VALIDATE_TEXT_NOTE, "edit.note", "修改说明", false, lim, &note,
                       &verr)) {
        answer_invalid(c, f->id, op, &verr);
        goto out;
    }
    struct triage_edit te = {
        .title = title, .situation = situation, .analysis = analysis,
        .suggestions = suggestions, .category = (int)e->category, .note = note,
    };
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_edit(c->gw->store, c->principal.id, receipt, &te, request_on_reply, req);
out:
    free(title);
    free(situation);
    free(analysis);
    free(suggestions);
    free(note);
}

/* The destinations of a FORWARD resolved against the config into fwd
 * (names copied into names); false, having answered INVALID_ARGUMENT on
 * decide.destinations with every destination this gateway has (ids and
 * display names), when one is missing, unknown or named twice, or on
 * decide.document_number / decide.document_date_ms when an external one
 * lacks its document. */
static bool take_destinations(struct caller *c, const Frame *f,
                              char names[][TRIAGE_DEST_NAME_MAX + 1],
                              struct triage_dest *dests, char *doc,
                              struct triage_forward_to *fwd)
{
    const int op = MINYI__V1__FRAME__BODY_DECIDE;
    const Minyi__V1__DecideRequest *d = f->decide;
    const char *bad = NULL;
    bool any_external = false;

    fwd->dests = dests;
    fwd->n_dests = 0;
    if (d->n_destinations == 0)
        bad = "at least one destination is required";
    else if (d->n_destinations > TRIAGE_DEST_MAX)
        bad = "too many destinations";
    for (size_t i = 0; bad == NULL && i < d->n_destinations; i++) {
        struct triage_dest *t = &dests[i];
        if (!request_take_short(&d->destinations[i], TRIAGE_DEST_NAME_MAX, names[i]) ||
            !config_dest_find(&c->gw->cfg, names[i], &t->display, &t->external)) {
            bad = "not a configured destination";
            break;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(names[k], names[i]) == 0)
                bad = "a destination is named twice";
        t->name = names[i];
        any_external |= t->external;
        fwd->n_dests++;
    }
    if (bad != NULL) {
        /* Name the destinations this gateway has, so the editor can
         * correct the name without asking the operator. */
        char known[(CONFIG_PEERS_MAX + CONFIG_EXTERNALS_MAX) *
                   (CONFIG_PEER_NAME_MAX + CONFIG_DISPLAY_NAME_MAX + 16)];
        char msg[sizeof known + 128], msg_zh[sizeof known + 128];

        config_dests_describe(&c->gw->cfg, known, sizeof known);
        snprintf(msg, sizeof(msg), "%s; configured destinations: %s", bad, known);
        snprintf(msg_zh, sizeof(msg_zh), "报送去向缺失、重复或未配置；已配置的去向：%s", known);
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "decide.destinations", msg, msg_zh);
        return false;
    }
    doc[0] = '\0';
    fwd->document_number = doc;
    fwd->document_date_ms = d->document_date_ms;
    if (!any_external) {
        if (d->document_number.len == 0 && d->document_date_ms == 0)
            return true;
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "decide.document_number",
                     "a document number goes only with an external destination",
                     "文号只用于报送至外部去向");
        return false;
    }
    if (d->document_number.len == 0 ||
        !request_take_short(&d->document_number, TRIAGE_DOC_NUMBER_MAX, doc)) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "decide.document_number",
                     "a 报送 to an external destination needs its document number (short text)",
                     "报送至外部去向须填写文号（简短文字）");
        return false;
    }
    if (d->document_date_ms < 0) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "decide.document_date_ms", "a date must not be negative", "日期不能为负数");
        return false;
    }
    return true;
}

static void do_decide(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_DECIDE;
    const Minyi__V1__DecideRequest *d = f->decide;
    char receipt[TRIAGE_RECEIPT_MAX + 1], into[TRIAGE_RECEIPT_MAX + 1] = "";
    char names[TRIAGE_DEST_MAX][TRIAGE_DEST_NAME_MAX + 1];
    char doc[TRIAGE_DOC_NUMBER_MAX + 1] = "";
    struct triage_dest dests[TRIAGE_DEST_MAX];
    struct triage_forward_to fwd = { 0 };
    char *note = NULL, *instruction = NULL, *level = NULL;
    struct validation_error verr;
    bool need_note = d->decision == MINYI__V1__DECISION__REJECT ||
                     d->decision == MINYI__V1__DECISION__RETURN;

    if (!request_take_receipt(c, f->id, op, &d->receipt, "decide.receipt", receipt))
        return;
    if (d->decision < MINYI__V1__DECISION__ADOPT || d->decision > MINYI__V1__DECISION__FORWARD) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.decision",
                     "decision must be ADOPT, REJECT, RETURN, MERGE or FORWARD",
                     "处理决定须为采用、不予采用、退回修改、合并或上报");
        return;
    }
    if (d->decision == MINYI__V1__DECISION__MERGE &&
        !request_take_receipt(c, f->id, op, &d->into_receipt, "decide.into_receipt", into))
        return;
    if (d->decision == MINYI__V1__DECISION__FORWARD &&
        !take_destinations(c, f, names, dests, doc, &fwd))
        return;
    /* A 批示 is recorded with an adoption, and its level only with its text. */
    if (d->instruction.len > 0 && d->decision != MINYI__V1__DECISION__ADOPT) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.instruction",
                     "an instruction (批示) goes only with ADOPT", "批示只能随采用决定一并录入");
        return;
    }
    if (d->instruction_level.len > 0 && d->instruction.len == 0) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                     "decide.instruction_level",
                     "a leader's level needs the instruction (批示) text",
                     "批示领导级别须与批示内容一并录入");
        return;
    }
    if (!validate_text(&d->note, VALIDATE_TEXT_NOTE, "decide.note", "理由", need_note,
                       &c->gw->limits, &note, &verr) ||
        !validate_text(&d->instruction, VALIDATE_TEXT_INSTRUCTION, "decide.instruction", "批示",
                       false, &c->gw->limits, &instruction, &verr) ||
        !validate_text(&d->instruction_level, VALIDATE_TEXT_LEVEL, "decide.instruction_level",
                       "批示领导级别", false, &c->gw->limits, &level, &verr)) {
        answer_invalid(c, f->id, op, &verr);
        goto out;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_decide(c->gw->store, c->principal.id, receipt, (int)d->decision, note, into,
                      d->decision == MINYI__V1__DECISION__FORWARD ? &fwd : NULL, instruction,
                      level, request_on_reply, req);
out:
    free(note);
    free(instruction);
    free(level);
}

static void do_resubmit(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_RESUBMIT;
    char receipt[TRIAGE_RECEIPT_MAX + 1];
    struct validation_error verr;
    struct intake_report r;

    if (!request_take_receipt(c, f->id, op, &f->resubmit->receipt, "resubmit.receipt", receipt))
        return;
    if (f->resubmit->report == NULL) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "report",
                     "report is missing", "缺少信息内容");
        return;
    }
    if (!validate_revision(f->resubmit->report, &c->gw->limits, &r, &verr)) {
        answer_invalid(c, f->id, op, &verr);
        return;
    }
    struct request *req = request_new(c, f->id, op);
    if (req != NULL)
        triage_resubmit(c->gw->store, c->principal.id, receipt, &r, request_on_reply, req);
    intake_report_free(&r);
}

static void do_watch(struct caller *c, const Frame *f)
{
    const int op = MINYI__V1__FRAME__BODY_WATCH;

    if (c->ops->watch == NULL) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__UNSUPPORTED, "body",
                     "this door streams the live queue its own way",
                     "此入口以其他方式推送实时队列");
        return;
    }
    if (!c->ops->watch(c, f->id)) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "", "out of memory",
                     "服务器内存不足");
        return;
    }
    Minyi__V1__Ok ok = MINYI__V1__OK__INIT;
    Frame out = MINYI__V1__FRAME__INIT;
    out.id = f->id;
    out.body_case = MINYI__V1__FRAME__BODY_OK;
    out.ok = &ok;
    caller_send(c, &out);
    caller_done(c);
}

bool dispatch_triage_frame(struct caller *c, const Frame *f)
{
    int op = (int)f->body_case;

    switch (f->body_case) {
    case MINYI__V1__FRAME__BODY_RESUBMIT:
        if (require(c, f->id, op, PRINCIPAL_CONTACT)) {
            if (f->resubmit == NULL)
                answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "body",
                             "request body is missing", "缺少请求内容");
            else
                do_resubmit(c, f);
        }
        return true;
    case MINYI__V1__FRAME__BODY_SHOW:
        /* A contact point reads its own report: the writer's view. */
        if (c->principal.kind == PRINCIPAL_CONTACT) {
            if (f->show == NULL)
                answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "body",
                             "request body is missing", "缺少请求内容");
            else
                do_show(c, f);
            return true;
        }
        break;
    case MINYI__V1__FRAME__BODY_QUEUE:
    case MINYI__V1__FRAME__BODY_CLAIM:
    case MINYI__V1__FRAME__BODY_RENEW:
    case MINYI__V1__FRAME__BODY_RELEASE:
    case MINYI__V1__FRAME__BODY_EDIT:
    case MINYI__V1__FRAME__BODY_DECIDE:
    case MINYI__V1__FRAME__BODY_WATCH:
    case MINYI__V1__FRAME__BODY_ATTACHMENT:
    case MINYI__V1__FRAME__BODY_INSTRUCT:
    case MINYI__V1__FRAME__BODY_EXTERNAL_RESPONSE:
        break;
    default:
        return false;
    }
    if (!dispatch_triage_may(c, f->id, op))
        return true;
    /* The bodies share one union, so one test covers whichever is set. */
    if (f->queue == NULL) {
        answer_error(c, f->id, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "body",
                     "request body is missing", "缺少请求内容");
        return true;
    }
    switch (f->body_case) {
    case MINYI__V1__FRAME__BODY_QUEUE: do_queue(c, f); break;
    case MINYI__V1__FRAME__BODY_SHOW: do_show(c, f); break;
    case MINYI__V1__FRAME__BODY_CLAIM:
    case MINYI__V1__FRAME__BODY_RENEW: do_lease(c, f, op); break;
    case MINYI__V1__FRAME__BODY_RELEASE: do_release(c, f); break;
    case MINYI__V1__FRAME__BODY_EDIT: do_edit(c, f); break;
    case MINYI__V1__FRAME__BODY_DECIDE: do_decide(c, f); break;
    case MINYI__V1__FRAME__BODY_WATCH: do_watch(c, f); break;
    case MINYI__V1__FRAME__BODY_ATTACHMENT: do_attachment(c, f); break;
    case MINYI__V1__FRAME__BODY_INSTRUCT: do_instruct(c, f); break;
    case MINYI__V1__FRAME__BODY_EXTERNAL_RESPONSE: do_external_response(c, f); break;
    default: break;
    }
    return true;
}
