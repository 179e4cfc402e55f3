/*
 * dispatch_forward: see dispatch_forward.h.  Two storage calls answer one
 * request: the submission (idempotent by its derived client_report_id) and
 * the provenance note (idempotent by the origin).  Only when both have
 * committed does the peer get its submit_ok; if either fails the peer
 * resends, and both steps then find their work done and answer the same
 * receipt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "dispatch_forward.h"
#include "hex.h"
#include "log.h"
#include "request.h"
#include "triage.h"
#include "utf8.h"
#include "validate.h"

#define FWD_RECEIPT_MAX   40    /* bytes of an origin receipt */
#define FWD_BODY_NAME_MAX 128   /* bytes of the origin body's display name */
#define FWD_REGION_LEN    REQUEST_REGION_LEN
#define FWD_CRID_DOMAIN   "minyi.forward.v1"
#define FWD_CREDITED_MAX  64    /* credited reporters one forward may carry */
#define FWD_CREDIT_TEXT_MAX 128 /* bytes of a credited reporter's name, unit or sector */

struct freq {
    struct caller *c;
    uint64_t id;
    char origin_region[FWD_REGION_LEN + 1];
    char origin_receipt[FWD_RECEIPT_MAX + 1];
    char origin_body[FWD_BODY_NAME_MAX + 1];
    char chain[TRIAGE_CHAIN_MAX][FWD_REGION_LEN + 1];
    size_t n_chain;
    struct triage_audit_head head;  /* the peer's, kept with the provenance */
    char *credited;                 /* the credited reporters as JSON (malloc'd) */
};

static void answer_error(struct caller *c, uint64_t id, int code, const char *field,
                         const char *msg, const char *msg_zh)
{
    request_fail(c, id, MINYI__V1__FRAME__BODY_FORWARD, code, field, msg, msg_zh);
}

static void answer_invalid(struct caller *c, uint64_t id, const char *field, const char *msg,
                           const char *msg_zh)
{
    answer_error(c, id, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, field, msg, msg_zh);
}

/* Drops the request's hold on its caller; true when the caller can
 * still be answered. */
static bool freq_live(struct freq *req)
{
    if (caller_live(req->c))
        return true;
    caller_done(req->c);
    caller_release(req->c);
    free(req->credited);
    free(req);
    return false;
}

static void freq_done(struct freq *req)
{
    caller_release(req->c);
    free(req->credited);
    free(req);
}

static void on_note(void *arg, struct store_reply *reply)
{
    struct freq *req = arg;
    struct caller *c = req->c;

    if (freq_live(req)) {
        if (reply->code != 0) {
            answer_error(c, req->id, reply->code, reply->field ? reply->field : "",
                         reply->message, reply->message_zh);
        } else {
            Frame f = MINYI__V1__FRAME__INIT;
            Minyi__V1__SubmitResponse *m = (Minyi__V1__SubmitResponse *)reply->msg;

            if (m == NULL)
                fatal("store reply without message for op forward");
            f.id = req->id;
            f.body_case = MINYI__V1__FRAME__BODY_SUBMIT_OK;
            f.submit_ok = m;
            log_info("event=request sid=%llu id=%llu op=forward result=0 origin=%s/%s "
                     "receipt=%.*s duplicate=%d",
                     (unsigned long long)c->sid, (unsigned long long)req->id,
                     req->origin_region, req->origin_receipt, (int)m->receipt.len,
                     (const char *)m->receipt.data, m->duplicate ? 1 : 0);
            caller_send(c, &f);
            caller_done(c);
        }
        freq_done(req);
    }
    if (reply->msg != NULL)
        protobuf_c_message_free_unpacked(reply->msg, NULL);
}

static void on_stored(void *arg, struct store_reply *reply)
{
    struct freq *req = arg;
    struct caller *c = req->c;
    Minyi__V1__SubmitResponse *m = (Minyi__V1__SubmitResponse *)reply->msg;
    char receipt[FWD_RECEIPT_MAX + 1];

    if (!freq_live(req))
        goto out;
    if (reply->code != 0) {
        answer_error(c, req->id, reply->code, reply->field ? reply->field : "", reply->message,
                     reply->message_zh);
        freq_done(req);
        goto out;
    }
    if (m == NULL || m->receipt.len == 0 || m->receipt.len > FWD_RECEIPT_MAX)
        fatal("store reply without a receipt for op forward");
    memcpy(receipt, m->receipt.data, m->receipt.len);
    receipt[m->receipt.len] = '\0';
    const char *chain[TRIAGE_CHAIN_MAX];
    for (size_t i = 0; i < req->n_chain; i++)
        chain[i] = req->chain[i];
    /* req moves on to the second step with its hold on the caller. */
    triage_forward_note(c->gw->store, c->principal.id, receipt, req->origin_region,
                        req->origin_receipt, req->origin_body, chain, req->n_chain, &req->head,
                        req->credited, on_note, req);
out:
    if (reply->msg != NULL)
        protobuf_c_message_free_unpacked(reply->msg, NULL);
}

static bool region_ok(const ProtobufCBinaryData *b, char out[FWD_REGION_LEN + 1])
{
    if (!validate_region_code(b->data, b->len))
        return false;
    memcpy(out, b->data, FWD_REGION_LEN);
    out[FWD_REGION_LEN] = '\0';
    return true;
}

static bool receipt_ok(const ProtobufCBinaryData *b, char out[FWD_RECEIPT_MAX + 1])
{
    if (!validate_receipt_chars(b->data, b->len, FWD_RECEIPT_MAX))
        return false;
    memcpy(out, b->data, b->len);
    out[b->len] = '\0';
    return true;
}

/* Short display text: valid UTF-8 without control characters. */
static bool name_ok(const ProtobufCBinaryData *b, char out[FWD_BODY_NAME_MAX + 1])
{
    return request_take_short(b, FWD_BODY_NAME_MAX, out);
}

/* The credited reporters of fr as the JSON array the provenance note keeps
 * (objects name, unit, kind, sector) into *out; false with the field at
 * fault in *bad when one is malformed, or with *bad NULL when out of
 * memory. */
static bool credited_json(const Minyi__V1__ForwardRequest *fr, char **out, const char **bad)
{
    char name[FWD_CREDIT_TEXT_MAX + 1], unit[FWD_CREDIT_TEXT_MAX + 1];
    char sector[FWD_CREDIT_TEXT_MAX + 1];
    json_t *arr;

    *out = NULL;
    *bad = "forward.credited";
    if (fr->n_credited > FWD_CREDITED_MAX)
        return false;
    if (!(arr = json_array())) {
        *bad = NULL;
        return false;
    }
    for (size_t i = 0; i < fr->n_credited; i++) {
        const Minyi__V1__Reporter *c = fr->credited[i];
        if (c == NULL || c->kind == 0 ||
            !protobuf_c_enum_descriptor_get_value(&minyi__v1__reporter_kind__descriptor,
                                                  (int)c->kind) ||
            !request_take_short(&c->name, FWD_CREDIT_TEXT_MAX, name) ||
            !request_take_short(&c->unit, FWD_CREDIT_TEXT_MAX, unit) ||
            !request_take_short(&c->sector, FWD_CREDIT_TEXT_MAX, sector))
            goto out;
        if (json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:s}", "name", name, "unit",
                                                 unit, "kind", (int)c->kind, "sector",
                                                 sector)) != 0) {
            *bad = NULL;
            goto out;
        }
    }
    *bad = NULL;
    *out = json_dumps(arr, JSON_COMPACT);
out:
    json_decref(arr);
    return *out != NULL;
}

bool dispatch_forward_crid(const char *origin_region, const char *origin_receipt,
                           uint32_t revision, char out[37])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char rev[sizeof "#4294967295"];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    rev[0] = '\0';
    if (revision > 1)
        snprintf(rev, sizeof rev, "#%u", (unsigned)revision);
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, FWD_CRID_DOMAIN, sizeof FWD_CRID_DOMAIN) == 1 &&
              EVP_DigestUpdate(ctx, origin_region, strlen(origin_region) + 1) == 1 &&
              EVP_DigestUpdate(ctx, origin_receipt, strlen(origin_receipt)) == 1 &&
              EVP_DigestUpdate(ctx, rev, strlen(rev)) == 1 &&
              EVP_DigestFinal_ex(ctx, md, &n) == 1 && n >= 16;

    EVP_MD_CTX_free(ctx);
    if (!ok)
        return false;
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x80);   /* version 8: custom */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);   /* RFC 9562 variant */
    hex_uuid_format(md, out);
    return true;
}

static void do_forward(struct caller *c, const Frame *f)
{
    const Minyi__V1__ForwardRequest *fr = f->forward;
    struct validation_error verr;
    struct intake_report *r;
    struct freq *req;
    char crid[37];

    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        answer_error(c, f->id, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "", "out of memory",
                     "服务器内存不足");
        return;
    }
    if (!region_ok(&fr->origin_region, req->origin_region)) {
        free(req);
        answer_invalid(c, f->id, "forward.origin_region", "must be a six-digit region code",
                       "须为六位行政区划代码");
        return;
    }
    if (!receipt_ok(&fr->origin_receipt, req->origin_receipt)) {
        free(req);
        answer_invalid(c, f->id, "forward.origin_receipt", "receipt is missing or malformed",
                       "回执编号缺失或格式错误");
        return;
    }
    if (!name_ok(&fr->origin_body, req->origin_body)) {
        free(req);
        answer_invalid(c, f->id, "forward.origin_body", "body name is too long or malformed",
                       "来源单位名称过长或格式错误");
        return;
    }
    if (fr->n_chain > TRIAGE_CHAIN_MAX) {
        free(req);
        answer_invalid(c, f->id, "forward.chain", "the chain of bodies is too long",
                       "经转层级过多");
        return;
    }
    for (size_t i = 0; i < fr->n_chain; i++) {
        if (!region_ok(&fr->chain[i], req->chain[i])) {
            free(req);
            answer_invalid(c, f->id, "forward.chain", "must be six-digit region codes",
                           "须为六位行政区划代码");
            return;
        }
    }
    req->n_chain = fr->n_chain;
    if (!request_take_audit_head(c, f->id, MINYI__V1__FRAME__BODY_FORWARD, fr->audit_head,
                                 "forward.audit_head", &req->head)) {
        free(req);
        return;
    }
    if (fr->report == NULL) {
        free(req);
        answer_invalid(c, f->id, "forward.report", "report is missing", "缺少信息内容");
        return;
    }
    bool revising = fr->upstream_receipt.len > 0;
    char upstream[FWD_RECEIPT_MAX + 1];
    if (revising && (fr->revision < 2 || !receipt_ok(&fr->upstream_receipt, upstream))) {
        free(req);
        answer_invalid(c, f->id, "forward.upstream_receipt",
                       "a revision needs the receipt here and a revision number of 2 or more",
                       "修改稿须注明本级回执编号及不小于 2 的修改次数");
        return;
    }
    if (!dispatch_forward_crid(req->origin_region, req->origin_receipt,
                               revising ? fr->revision : 1, crid)) {
        free(req);
        answer_error(c, f->id, MINYI__V1__ERROR_CODE__INTERNAL, "", "cannot derive the key",
                     "无法生成幂等键");
        return;
    }
    /* The report is validated as sent except for its client_report_id,
     * which is ours: the lower body's own id must not decide our key. */
    Minyi__V1__Report rep = *fr->report;
    rep.client_report_id.data = (uint8_t *)crid;
    rep.client_report_id.len = 36;
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        free(req);
        answer_error(c, f->id, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "", "out of memory",
                     "服务器内存不足");
        return;
    }
    memset(&verr, 0, sizeof(verr));
    if (!validate_report(&rep, &c->gw->limits, r, &verr)) {
        free(r);
        free(req);
        answer_error(c, f->id, verr.code, verr.field, verr.message, verr.message_zh);
        return;
    }
    const char *bad_credit;
    if (!credited_json(fr, &req->credited, &bad_credit)) {
        intake_report_free(r);
        free(r);
        free(req);
        if (bad_credit != NULL)
            answer_invalid(c, f->id, bad_credit,
                           "at most 64 credited reporters, each with a known kind and short "
                           "name, unit and sector",
                           "共同署名的反映人至多 64 名，须有已知类别及较短的姓名、单位和界别");
        else
            answer_error(c, f->id, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "",
                         "out of memory", "服务器内存不足");
        return;
    }
    r->principal_id = c->principal.id;
    req->c = c;
    req->id = f->id;
    caller_hold(c);
    if (revising) {
        /* The item is the peer's own report here, so the resubmission's
         * owner check is the check that this peer forwarded it. */
        triage_resubmit(c->gw->store, c->principal.id, upstream, r, on_note, req);
        intake_report_free(r);
        free(r);
        return;
    }
    store_submit(c->gw->store, r, on_stored, req);
}

bool dispatch_forward_frame(struct caller *c, const Frame *f)
{
    if (f->body_case != MINYI__V1__FRAME__BODY_FORWARD)
        return false;
    if (c->principal.kind != PRINCIPAL_PEER) {
        answer_error(c, f->id, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind",
                     "only peer instances may forward reports", "只有下级平台可以报送信息");
        return true;
    }
    if (f->forward == NULL) {
        answer_invalid(c, f->id, "body", "request body is missing", "缺少请求内容");
        return true;
    }
    do_forward(c, f);
    return true;
}
