/*
 * validate: the gate between a decoded Report and storage — each field of
 * a report (its texts through validate_text.c), its attachments, and the
 * payload hash that makes a resubmission of the same report recognisable.
 *
 * Every rule rejects; none repairs (OpenSMTPD's CVE-2020-7247 came from a
 * validator that tried to fix its input).  The single change made to
 * accepted text is Unicode NFC normalisation, which is lossless: the text
 * means and displays the same, and equal texts get equal bytes, so the
 * payload hash of two identical submissions is equal too.
 */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <utf8proc.h>

#include "hex.h"
#include "utf8.h"
#include "validate_err.h"
#include "validate_text.h"

#define SHA256_LEN 32
#define UUID_TEXT_LEN HEX_UUID_TEXT_LEN
#define REGION_LEN VALIDATE_REGION_LEN
/* "000000" is a placeholder, never a GB/T 2260 code. */
#define REGION_NONE "000000"
/* Domain tag of the canonical encoding hashed into payload_sha256.  A new
 * encoding must change the tag, so old and new hashes can never collide. */
#define PAYLOAD_TAG "minyi.v1.report.payload\0"
#define PAYLOAD_TAG_LEN (sizeof PAYLOAD_TAG - 1)

static const struct validate_field F_REPORT = { "report", "报告", -1 };
static const struct validate_field F_ID = { "report.client_report_id", "客户端报告编号", -1 };
static const struct validate_field F_TITLE = { "report.title", "标题", -1 };
static const struct validate_field F_SITUATION = { "report.situation", "情况/问题", -1 };
static const struct validate_field F_ANALYSIS = { "report.analysis", "原因分析", -1 };
static const struct validate_field F_SUGGESTIONS = { "report.suggestions", "意见建议", -1 };
static const struct validate_field F_CATEGORY = { "report.category", "类别", -1 };
static const struct validate_field F_URGENCY = { "report.urgency", "紧急程度", -1 };
static const struct validate_field F_REPORTER = { "report.reporter", "反映人", -1 };
static const struct validate_field F_REP_NAME = { "report.reporter.name", "反映人姓名", -1 };
static const struct validate_field F_REP_UNIT = { "report.reporter.unit", "反映人单位", -1 };
static const struct validate_field F_REP_KIND = { "report.reporter.kind", "反映人类型", -1 };
static const struct validate_field F_REP_SECTOR = { "report.reporter.sector", "反映人界别", -1 };
static const struct validate_field F_REGION = { "report.region", "地区代码", -1 };
static const struct validate_field F_PHONE = { "report.phone", "联系电话", -1 };
static const struct validate_field F_ATTACHMENTS = { "report.attachments", "附件", -1 };

void validate_limits_default(struct validate_limits *lim)
{
    lim->title_max = VALIDATE_TITLE_MAX;
    lim->situation_max = VALIDATE_SITUATION_MAX;
    lim->analysis_max = VALIDATE_ANALYSIS_MAX;
    lim->suggestions_max = VALIDATE_SUGGESTIONS_MAX;
    lim->name_max = VALIDATE_NAME_MAX;
    lim->unit_max = VALIDATE_UNIT_MAX;
    lim->sector_max = VALIDATE_SECTOR_MAX;
    lim->attachments_max = VALIDATE_ATTACHMENTS_MAX;
    lim->attachment_bytes = VALIDATE_ATTACHMENT_BYTES;
}

/* The canonical 8-4-4-4-12 form only: no braces, no "urn:uuid:", no
 * missing dashes.  Either case is accepted; lower case is stored. */
static bool take_uuid(const ProtobufCBinaryData *in, char out[UUID_TEXT_LEN + 1],
                      struct validation_error *err)
{
    uint8_t u[HEX_UUID_LEN];

    if (in->len == 0 || in->data == NULL)
        return validate_reject(err, &F_ID, "is required", "不能为空");
    if (!hex_uuid_parse((const char *)in->data, in->len, u))
        return validate_reject(err, &F_ID,
                               "must be a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
                               "须为 xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx 形式的 UUID");
    hex_uuid_format(u, out);
    return true;
}

/* An enum value is known when the descriptor lists it and it is not the
 * proto3 zero ("unspecified"), which is what an omitted field decodes to. */
static bool take_enum(int value, const ProtobufCEnumDescriptor *desc,
                      const struct validate_field *f, int *out, struct validation_error *err)
{
    if (value == 0)
        return validate_reject(err, f, "is required", "不能为空");
    if (protobuf_c_enum_descriptor_get_value(desc, value) == NULL)
        return validate_reject(err, f, "has the unknown code %d", "代码 %d 未定义", value);
    *out = value;
    return true;
}

bool validate_region_code(const uint8_t *s, size_t len)
{
    if (len != REGION_LEN)
        return false;
    for (size_t i = 0; i < REGION_LEN; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool validate_receipt_chars(const uint8_t *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '-'))
            return false;
    }
    return true;
}

static bool take_region(const ProtobufCBinaryData *in, char out[REGION_LEN + 1],
                        struct validation_error *err)
{
    if (in->len == 0 || in->data == NULL)
        return validate_reject(err, &F_REGION, "is required", "不能为空");
    if (!validate_region_code(in->data, in->len) ||
        memcmp(in->data, REGION_NONE, REGION_LEN) == 0)
        return validate_reject(err, &F_REGION, "must be a six-digit GB/T 2260 code",
                               "须为六位数字的 GB/T 2260 行政区划代码");
    memcpy(out, in->data, REGION_LEN);
    out[REGION_LEN] = '\0';
    return true;
}

static bool take_phone(const ProtobufCBinaryData *in, char **out, struct validation_error *err)
{
    size_t digits = 0;

    if (in->len == 0 || in->data == NULL)
        return validate_reject(err, &F_PHONE, "is required", "不能为空");
    bool ok = in->len >= VALIDATE_PHONE_MIN && in->len <= VALIDATE_PHONE_MAX;
    for (size_t i = 0; ok && i < in->len; i++) {
        uint8_t c = in->data[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (c != '+' && c != '-' && c != ' ')
            ok = false;
    }
    if (!ok || digits < VALIDATE_PHONE_MIN)
        return validate_reject(err, &F_PHONE,
                               "must be %d to %d characters of digits, '+', '-' or space, "
                               "with at least %d digits",
                               "须为 %d 至 %d 个字符（数字、“+”、“-”或空格），至少 %d 位数字",
                               VALIDATE_PHONE_MIN, VALIDATE_PHONE_MAX, VALIDATE_PHONE_MIN);
    *out = validate_memdup_z(in->data, in->len);
    return *out != NULL ? true : validate_reject_nomem(err, &F_PHONE);
}

/* RFC 6838 restricted-name characters after the first (alphanumeric) one. */
static bool media_name_char(uint8_t c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return !first && c != '\0' && strchr("!#$&-^_.+", c) != NULL;
}

/* type "/" subtype, each an RFC 6838 restricted-name; no parameters. */
static bool media_type_ok(const uint8_t *s, size_t len)
{
    size_t i = 0, part_len = 0;
    int parts = 1;

    if (len == 0 || len > VALIDATE_MEDIA_TYPE_MAX)
        return false;
    for (; i < len; i++) {
        if (s[i] == '/') {
            if (part_len == 0 || parts == 2)
                return false;
            parts = 2;
            part_len = 0;
            continue;
        }
        if (!media_name_char(s[i], part_len == 0))
            return false;
        part_len++;
    }
    return parts == 2 && part_len > 0;
}

static bool take_attachment(const Minyi__V1__Attachment *a, long index,
                            const struct validate_limits *lim, struct intake_attachment *out,
                            struct validation_error *err)
{
    const struct validate_field f_item = { "", "", index };
    const struct validate_field f_name = { ".name", "名称", index };
    const struct validate_field f_type = { ".media_type", "类型", index };
    const struct validate_field f_content = { ".content", "内容", index };
    const struct validate_field f_sha = { ".sha256", "SHA-256 校验值", index };
    uint8_t digest[SHA256_LEN];
    unsigned digest_len = 0;

    if (a == NULL)
        return validate_reject(err, &f_item, "is missing", "缺失");
    if (!validate_take_text(&a->name, &f_name, VALIDATE_ATTACHMENT_NAME_MAX, true, false,
                            &out->name, err))
        return false;
    /* A name is shown and may be saved as a file: it must not be a path. */
    if (strchr(out->name, '/') != NULL || strchr(out->name, '\\') != NULL ||
        strcmp(out->name, ".") == 0 || strcmp(out->name, "..") == 0)
        return validate_reject(err, &f_name, "must be a file name without '/' or '\\'",
                               "须为文件名，不得含有“/”或“\\”");

    if (a->media_type.len == 0 || a->media_type.data == NULL)
        return validate_reject(err, &f_type, "is required", "不能为空");
    if (!media_type_ok(a->media_type.data, a->media_type.len))
        return validate_reject(
            err, &f_type, "must be a media type such as application/pdf (at most %d bytes)",
            "须为媒体类型，如 application/pdf（最多 %d 字节）", VALIDATE_MEDIA_TYPE_MAX);
    out->media_type = validate_memdup_z(a->media_type.data, a->media_type.len);
    if (out->media_type == NULL)
        return validate_reject_nomem(err, &f_type);

    if (a->content.len == 0 || a->content.data == NULL)
        return validate_reject(err, &f_content, "is required", "不能为空");
    if (a->content.len > lim->attachment_bytes)
        return validate_reject(err, &f_content, "is too large: %zu bytes, at most %zu allowed",
                               "过大：%zu 字节，最多 %zu 字节", a->content.len,
                               lim->attachment_bytes);

    if (a->sha256.len != SHA256_LEN || a->sha256.data == NULL)
        return validate_reject(err, &f_sha, "must be the %d-byte SHA-256 of the content",
                               "须为内容的 %d 字节 SHA-256 值", SHA256_LEN);
    if (EVP_Digest(a->content.data, a->content.len, digest, &digest_len, EVP_sha256(), NULL) != 1 ||
        digest_len != SHA256_LEN)
        return validate_reject_internal(err, &f_sha, "could not be computed", "无法计算");
    if (memcmp(digest, a->sha256.data, SHA256_LEN) != 0)
        return validate_reject(err, &f_sha, "does not match the content", "与附件内容不符");

    out->content = malloc(a->content.len);
    if (out->content == NULL)
        return validate_reject_nomem(err, &f_content);
    memcpy(out->content, a->content.data, a->content.len);
    out->content_len = a->content.len;
    memcpy(out->sha256, digest, SHA256_LEN);
    return true;
}

/* Canonical encoding for payload_sha256: every item carries its length (or
 * has a fixed width), so no two different reports encode alike. */
static bool hash_u64(EVP_MD_CTX *ctx, uint64_t v)
{
    uint8_t b[8];

    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)(v & 0xFF);
        v >>= 8;
    }
    return EVP_DigestUpdate(ctx, b, sizeof b) == 1;
}

static bool hash_bytes(EVP_MD_CTX *ctx, const void *p, size_t len)
{
    return hash_u64(ctx, len) && (len == 0 || EVP_DigestUpdate(ctx, p, len) == 1);
}

static bool hash_str(EVP_MD_CTX *ctx, const char *s)
{
    return hash_bytes(ctx, s, strlen(s));
}

static bool hash_enum(EVP_MD_CTX *ctx, int v)
{
    return hash_u64(ctx, (uint64_t)(uint32_t)v);
}

static bool payload_hash(struct intake_report *r)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned len = 0;
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, PAYLOAD_TAG, PAYLOAD_TAG_LEN) == 1 &&
              hash_str(ctx, r->client_report_id) && hash_str(ctx, r->title) &&
              hash_str(ctx, r->situation) && hash_str(ctx, r->analysis) &&
              hash_str(ctx, r->suggestions) && hash_enum(ctx, r->category) &&
              hash_enum(ctx, r->urgency) && hash_str(ctx, r->reporter_name) &&
              hash_str(ctx, r->reporter_unit) && hash_enum(ctx, r->reporter_kind) &&
              hash_str(ctx, r->reporter_sector) && hash_str(ctx, r->region) &&
              hash_str(ctx, r->phone) && hash_u64(ctx, r->n_attachments);

    for (size_t i = 0; ok && i < r->n_attachments; i++) {
        const struct intake_attachment *a = &r->attachments[i];
        ok = hash_str(ctx, a->name) && hash_str(ctx, a->media_type) &&
             hash_bytes(ctx, a->content, a->content_len) && hash_bytes(ctx, a->sha256, SHA256_LEN);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, r->payload_sha256, &len) == 1 && len == SHA256_LEN;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* The part of a report a revision replaces: its id, category, urgency and
 * texts.  With all, every rule of a submission (urgency comes first,
 * because it decides whether analysis and suggestions are required);
 * without, an empty text or a zero code is allowed: it keeps the current
 * one (see validate_revision). */
static bool take_body(const Minyi__V1__Report *r, const struct validate_limits *lim, bool all,
                      struct intake_report *out, struct validation_error *err)
{
    if (!take_uuid(&r->client_report_id, out->client_report_id, err) ||
        ((all || r->category != 0) &&
         !take_enum((int)r->category, &minyi__v1__category__descriptor, &F_CATEGORY,
                    &out->category, err)) ||
        ((all || r->urgency != 0) &&
         !take_enum((int)r->urgency, &minyi__v1__urgency__descriptor, &F_URGENCY,
                    &out->urgency, err)))
        return false;
    bool rest = all && out->urgency != MINYI__V1__URGENCY__URGENT;
    return validate_take_text(&r->title, &F_TITLE, lim->title_max, all, false, &out->title, err) &&
           validate_take_text(&r->situation, &F_SITUATION, lim->situation_max, all, true,
                              &out->situation, err) &&
           validate_take_text(&r->analysis, &F_ANALYSIS, lim->analysis_max, rest, true,
                              &out->analysis, err) &&
           validate_take_text(&r->suggestions, &F_SUGGESTIONS, lim->suggestions_max, rest, true,
                              &out->suggestions, err);
}

/* What validating a report or a revision begins with: empty results, the
 * default limits when none are given (in *defaults), and a report at all. */
static bool validate_begin(const Minyi__V1__Report *r, const struct validate_limits **lim,
                           struct validate_limits *defaults, struct intake_report *out,
                           struct validation_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (*lim == NULL) {
        validate_limits_default(defaults);
        *lim = defaults;
    }
    if (r == NULL)
        return validate_reject(err, &F_REPORT, "is required", "不能为空");
    return true;
}

bool validate_revision(const Minyi__V1__Report *r, const struct validate_limits *lim,
                       struct intake_report *out, struct validation_error *err)
{
    struct validate_limits defaults;

    if (!validate_begin(r, &lim, &defaults, out, err) || !take_body(r, lim, false, out, err))
        goto fail;
    return true;

fail:
    intake_report_free(out);
    return false;
}

bool validate_report(const Minyi__V1__Report *r, const struct validate_limits *lim,
                     struct intake_report *out, struct validation_error *err)
{
    struct validate_limits defaults;
    const Minyi__V1__Reporter *rep;

    if (!validate_begin(r, &lim, &defaults, out, err) || !take_body(r, lim, true, out, err))
        goto fail;

    rep = r->reporter;
    if (rep == NULL) {
        validate_reject(err, &F_REPORTER, "is required", "不能为空");
        goto fail;
    }
    if (!validate_take_text(&rep->name, &F_REP_NAME, lim->name_max, true, false,
                            &out->reporter_name, err) ||
        !validate_take_text(&rep->unit, &F_REP_UNIT, lim->unit_max, true, false,
                            &out->reporter_unit, err) ||
        !take_enum((int)rep->kind, &minyi__v1__reporter_kind__descriptor, &F_REP_KIND,
                   &out->reporter_kind, err) ||
        !validate_take_text(&rep->sector, &F_REP_SECTOR, lim->sector_max, false, false,
                            &out->reporter_sector, err) ||
        !take_region(&r->region, out->region, err) || !take_phone(&r->phone, &out->phone, err))
        goto fail;

    if (r->n_attachments > lim->attachments_max) {
        validate_reject(err, &F_ATTACHMENTS, "has %zu files, at most %zu allowed",
                        "共 %zu 个，最多 %zu 个", r->n_attachments, lim->attachments_max);
        goto fail;
    }
    if (r->n_attachments > 0) {
        out->attachments = calloc(r->n_attachments, sizeof *out->attachments);
        if (out->attachments == NULL) {
            validate_reject_nomem(err, &F_ATTACHMENTS);
            goto fail;
        }
        /* Counted as we go, so intake_report_free sees every filled slot
         * (calloc left the rest NULL, which free() accepts). */
        out->n_attachments = r->n_attachments;
        for (size_t i = 0; i < r->n_attachments; i++)
            if (!take_attachment(r->attachments[i], (long)i, lim, &out->attachments[i], err))
                goto fail;
    }

    if (!payload_hash(out)) {
        validate_reject_internal(err, &F_REPORT, "payload hash could not be computed",
                                 "无法计算报告摘要");
        goto fail;
    }
    return true;

fail:
    intake_report_free(out);
    return false;
}
