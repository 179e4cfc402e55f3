/*
 * Unit tests for report validation.  Each rule has a test that breaks it and
 * checks both the error code and the field a client would be told about;
 * real reports (the shared corpus) must pass unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <utf8proc.h>

#include "utf8.h"
#include "utf8_reference.h"
#include "validate.h"

#ifndef MINYI_SHARED_DIR
#define MINYI_SHARED_DIR "../shared"
#endif
#define CORPUS_DIR MINYI_SHARED_DIR "/corpus"

#define MAX_ATT 8
#define INVALID MINYI__V1__ERROR_CODE__INVALID_ARGUMENT

/* A valid report built from static strings; tests break one part of it. */
struct fixture {
    Minyi__V1__Report report;
    Minyi__V1__Reporter reporter;
    Minyi__V1__Attachment att[MAX_ATT];
    Minyi__V1__Attachment *attp[MAX_ATT];
    uint8_t sha[MAX_ATT][32];
};

static ProtobufCBinaryData B(const char *s)
{
    ProtobufCBinaryData b = { strlen(s), (uint8_t *)(uintptr_t)s };
    return b;
}

static ProtobufCBinaryData BL(const void *p, size_t len)
{
    ProtobufCBinaryData b = { len, (uint8_t *)(uintptr_t)p };
    return b;
}

static void fixture_init(struct fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    minyi__v1__report__init(&fx->report);
    minyi__v1__reporter__init(&fx->reporter);
    fx->report.client_report_id = B("5f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f70");
    fx->report.title = B("关于老旧小区加装电梯的建议");
    fx->report.situation = B("我市老旧小区多建于上世纪九十年代，多数没有电梯。\n老年居民上下楼困难。");
    fx->report.analysis = B("资金分摊难，低层住户意见不一。");
    fx->report.suggestions = B("一是财政补助；二是简化审批；三是建立协商机制。");
    fx->report.category = MINYI__V1__CATEGORY__SOCIETY;
    fx->report.urgency = MINYI__V1__URGENCY__NORMAL;
    fx->reporter.name = B("张三");
    fx->reporter.unit = B("南湖区社情民意信息联系点");
    fx->reporter.kind = MINYI__V1__REPORTER_KIND__CONTACT_POINT;
    fx->reporter.sector = B("");
    fx->report.reporter = &fx->reporter;
    fx->report.region = B("330402");
    fx->report.phone = B("+86 573-8888 1234");
    fx->report.attachments = fx->attp;
    fx->report.n_attachments = 0;
}

static Minyi__V1__Attachment *add_attachment(struct fixture *fx, const char *name,
                                             const char *type, const void *content, size_t len)
{
    size_t i = fx->report.n_attachments++;
    Minyi__V1__Attachment *a = &fx->att[i];
    unsigned dlen = 0;

    assert_true(i < MAX_ATT);
    minyi__v1__attachment__init(a);
    a->name = B(name);
    a->media_type = B(type);
    a->content = BL(content, len);
    assert_int_equal(EVP_Digest(content, len, fx->sha[i], &dlen, EVP_sha256(), NULL), 1);
    a->sha256 = BL(fx->sha[i], 32);
    fx->attp[i] = a;
    return a;
}

static bool is_zero(const void *p, size_t len)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < len; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* Validation must fail with INVALID_ARGUMENT on exactly this field, give
 * both messages as valid UTF-8, and leave the output empty. */
static void expect_reject_lim(const Minyi__V1__Report *r, const struct validate_limits *lim,
                              const char *field, struct validation_error *err_out)
{
    struct intake_report out;
    struct validation_error err;

    memset(&out, 0xA5, sizeof out);
    assert_false(validate_report(r, lim, &out, &err));
    if (err.code != INVALID || err.field == NULL || strcmp(err.field, field) != 0)
        fail_msg("expected INVALID_ARGUMENT on %s, got code %d on %s (%s)", field, err.code,
                 err.field ? err.field : "(null)", err.message);
    assert_true(is_zero(&out, sizeof out));
    assert_true(strlen(err.message) > 0);
    assert_true(strlen(err.message_zh) > 0);
    assert_true(utf8_valid((const uint8_t *)err.message, strlen(err.message), NULL));
    assert_true(utf8_valid((const uint8_t *)err.message_zh, strlen(err.message_zh), NULL));
    if (err_out != NULL)
        *err_out = err;
}

static void expect_reject(const Minyi__V1__Report *r, const char *field)
{
    expect_reject_lim(r, NULL, field, NULL);
}

static void expect_accept_lim(const Minyi__V1__Report *r, const struct validate_limits *lim,
                              struct intake_report *out)
{
    struct validation_error err;

    if (!validate_report(r, lim, out, &err))
        fail_msg("unexpected rejection: %s / %s", err.message, err.message_zh);
}

static void expect_accept(const Minyi__V1__Report *r, struct intake_report *out)
{
    expect_accept_lim(r, NULL, out);
}

/* A string of n copies of a UTF-8 character, malloc'd. */
static char *repeat(const char *ch, size_t n)
{
    size_t len = strlen(ch);
    char *s = malloc(len * n + 1);

    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, ch, len);
    s[len * n] = '\0';
    return s;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---- acceptance ---- */

static void test_accepts_valid_report(void **state)
{
    struct fixture fx;
    struct intake_report out;
    static const uint8_t pdf[] = "%PDF-1.4 minimal";

    (void)state;
    fixture_init(&fx);
    fx.report.client_report_id = B("5F0C1E2A-9B3D-4C7E-8A1F-2B3C4D5E6F70");
    add_attachment(&fx, "现场照片说明.pdf", "application/pdf", pdf, sizeof pdf - 1);
    expect_accept(&fx.report, &out);
    assert_int_equal(out.principal_id, 0);
    assert_string_equal(out.client_report_id, "5f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f70");
    assert_string_equal(out.title, "关于老旧小区加装电梯的建议");
    assert_string_equal(out.situation,
                        "我市老旧小区多建于上世纪九十年代，多数没有电梯。\n老年居民上下楼困难。");
    assert_int_equal(out.category, MINYI__V1__CATEGORY__SOCIETY);
    assert_int_equal(out.urgency, MINYI__V1__URGENCY__NORMAL);
    assert_string_equal(out.reporter_name, "张三");
    assert_int_equal(out.reporter_kind, MINYI__V1__REPORTER_KIND__CONTACT_POINT);
    assert_non_null(out.reporter_sector);
    assert_string_equal(out.reporter_sector, "");
    assert_string_equal(out.region, "330402");
    assert_string_equal(out.phone, "+86 573-8888 1234");
    assert_int_equal(out.n_attachments, 1);
    assert_string_equal(out.attachments[0].name, "现场照片说明.pdf");
    assert_string_equal(out.attachments[0].media_type, "application/pdf");
    assert_int_equal(out.attachments[0].content_len, sizeof pdf - 1);
    assert_memory_equal(out.attachments[0].content, pdf, sizeof pdf - 1);
    assert_memory_equal(out.attachments[0].sha256, fx.sha[0], 32);
    assert_false(is_zero(out.payload_sha256, 32));
    intake_report_free(&out);
    assert_true(is_zero(&out, sizeof out));
    /* Freeing twice, or a zeroed struct, is harmless. */
    intake_report_free(&out);
    intake_report_free(NULL);
}

/* 急事急报: analysis and suggestions may be empty when urgent. */
/* A revision (ResubmitRequest) names only what it changes: empty texts and
 * zero codes mean "keep" and pass; what it gives is checked like a
 * submission's; the reporter, region and phone are not read at all. */
static void test_revision_changed_fields_only(void **state)
{
    struct fixture fx;
    struct intake_report out;
    struct validation_error err;

    (void)state;
    fixture_init(&fx);
    fx.report.title = BL(NULL, 0);
    fx.report.analysis = BL(NULL, 0);
    fx.report.suggestions = BL(NULL, 0);
    fx.report.category = 0;
    fx.report.urgency = 0;
    fx.report.reporter = NULL;
    fx.report.region = BL(NULL, 0);
    fx.report.phone = BL(NULL, 0);
    assert_true(validate_revision(&fx.report, NULL, &out, &err));
    assert_string_equal(out.title, "");
    assert_string_equal(out.analysis, "");
    assert_int_equal(out.category, 0);
    assert_int_equal(out.urgency, 0);
    assert_true(strlen(out.situation) > 0);
    intake_report_free(&out);

    /* A given field is checked as at intake. */
    fx.report.category = 99;
    assert_false(validate_revision(&fx.report, NULL, &out, &err));
    assert_string_equal(err.field, "report.category");
    fx.report.category = 0;
    fx.report.title = BL("bad\x01title", 9);
    assert_false(validate_revision(&fx.report, NULL, &out, &err));
    assert_string_equal(err.field, "report.title");
    fx.report.title = BL(NULL, 0);
    fx.report.client_report_id = B("not-a-uuid");
    assert_false(validate_revision(&fx.report, NULL, &out, &err));
    assert_string_equal(err.field, "report.client_report_id");
    assert_false(validate_revision(NULL, NULL, &out, &err));
    assert_string_equal(err.field, "report");
}

static void test_urgent_allows_empty_analysis(void **state)
{
    struct fixture fx;
    struct intake_report out;

    (void)state;
    fixture_init(&fx);
    fx.report.urgency = MINYI__V1__URGENCY__URGENT;
    fx.report.analysis = B("");
    fx.report.suggestions = BL(NULL, 0);
    expect_accept(&fx.report, &out);
    assert_string_equal(out.analysis, "");
    assert_string_equal(out.suggestions, "");
    intake_report_free(&out);
}

static void test_sector_optional(void **state)
{
    struct fixture fx;
    struct intake_report out;

    (void)state;
    fixture_init(&fx);
    fx.reporter.sector = BL(NULL, 0);
    expect_accept(&fx.report, &out);
    assert_string_equal(out.reporter_sector, "");
    intake_report_free(&out);
    fx.reporter.sector = B("经济界");
    expect_accept(&fx.report, &out);
    assert_string_equal(out.reporter_sector, "经济界");
    intake_report_free(&out);
}

/* Real text from the shared corpus is accepted byte for byte as each body
 * part, with its own newlines, also with CRLF line ends. */
static void test_accepts_corpus(void **state)
{
    static const char *const files[] = {
        "speech-simplified-a.txt", "speech-simplified-b.txt", "speech-traditional-annotated.txt",
    };

    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        size_t len;
        struct fixture fx;
        struct intake_report out;

        snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, files[i]);
        char *text = read_file(path, &len);
        fixture_init(&fx);
        fx.report.situation = BL(text, len);
        /* Cut on a character boundary: back up over continuation bytes. */
        size_t cut = len / 3;
        while (cut > 0 && ((uint8_t)text[cut] & 0xC0) == 0x80)
            cut--;
        fx.report.analysis = BL(text, cut);
        fx.report.suggestions = BL(text + cut, len - cut);
        expect_accept(&fx.report, &out);
        assert_int_equal(strlen(out.situation), len);
        assert_memory_equal(out.situation, text, len);
        assert_int_equal(strlen(out.analysis), cut);
        assert_int_equal(strlen(out.suggestions), len - cut);
        intake_report_free(&out);

        /* The same text with Windows line ends. */
        char *crlf = malloc(2 * len + 1);
        size_t n = 0;
        assert_non_null(crlf);
        for (size_t k = 0; k < len; k++) {
            if (text[k] == '\n')
                crlf[n++] = '\r';
            crlf[n++] = text[k];
        }
        fx.report.situation = BL(crlf, n);
        expect_accept(&fx.report, &out);
        assert_memory_equal(out.situation, crlf, n);
        intake_report_free(&out);
        free(crlf);
        free(text);
    }
}

/* ---- NFC ---- */

static void test_nfc_is_the_only_change(void **state)
{
    struct fixture fx;
    struct intake_report out;

    (void)state;
    fixture_init(&fx);
    fx.report.title = B("Cafe\xCC\x81 关于咖啡馆的建议");          /* e + COMBINING ACUTE */
    fx.reporter.name = B("\xE1\x84\x80\xE1\x85\xA1");               /* Hangul jamo ᄀ + ᅡ */
    fx.reporter.unit = B("\xEF\xA4\x80 委员工作室");                 /* U+F900, a compatibility ideograph */
    fx.report.situation = B("  前后空格保留  \n\t缩进保留\r\n");
    expect_accept(&fx.report, &out);
    assert_string_equal(out.title, "Caf\xC3\xA9 关于咖啡馆的建议");
    assert_string_equal(out.reporter_name, "\xEA\xB0\x80");           /* U+AC00 가 */
    assert_string_equal(out.reporter_unit, "\xE8\xB1\x88 委员工作室"); /* U+8C48 */
    /* White space is not trimmed: NFC is the only change. */
    assert_string_equal(out.situation, "  前后空格保留  \n\t缩进保留\r\n");
    /* Compatibility forms are not folded (that would be NFKC, which loses
     * information): full-width letters stay full-width. */
    intake_report_free(&out);
    fx.report.title = B("ＡＢＣ全角字母");
    expect_accept(&fx.report, &out);
    assert_string_equal(out.title, "ＡＢＣ全角字母");
    intake_report_free(&out);
}

/* Limits count code points of the stored (NFC) text. */
static void test_nfc_before_length(void **state)
{
    struct fixture fx;
    struct intake_report out;
    char *t = repeat("e\xCC\x81", VALIDATE_TITLE_MAX);

    (void)state;
    fixture_init(&fx);
    fx.report.title = B(t);
    expect_accept(&fx.report, &out);
    assert_int_equal(utf8_count((const uint8_t *)out.title, strlen(out.title)), VALIDATE_TITLE_MAX);
    intake_report_free(&out);
    free(t);
}

/* ---- payload hash ---- */

static void hash_of(const struct fixture *fx, uint8_t h[32])
{
    struct intake_report out;

    expect_accept(&fx->report, &out);
    memcpy(h, out.payload_sha256, 32);
    intake_report_free(&out);
}

static void test_payload_hash(void **state)
{
    static const char c1[] = "content one", c2[] = "content two";
    struct fixture fx;
    uint8_t base[32], h[32];
    enum { N_MUTATIONS = 21 };

    (void)state;
    fixture_init(&fx);
    add_attachment(&fx, "a.txt", "text/plain", c1, strlen(c1));
    hash_of(&fx, base);
    hash_of(&fx, h);
    assert_memory_equal(base, h, 32);

    /* Equal after normalisation means equal hash: upper-case UUID and a
     * decomposed character hash as their stored forms. */
    fixture_init(&fx);
    add_attachment(&fx, "a.txt", "text/plain", c1, strlen(c1));
    fx.report.client_report_id = B("5F0C1E2A-9B3D-4C7E-8A1F-2B3C4D5E6F70");
    hash_of(&fx, h);
    assert_memory_equal(base, h, 32);

    for (int m = 0; m < N_MUTATIONS; m++) {
        fixture_init(&fx);
        Minyi__V1__Attachment *a = add_attachment(&fx, "a.txt", "text/plain", c1, strlen(c1));
        switch (m) {
        case 0: fx.report.client_report_id = B("5f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f71"); break;
        case 1: fx.report.title = B("关于老旧小区加装电梯的建议!"); break;
        case 2: fx.report.situation = B("另一段情况"); break;
        case 3: fx.report.analysis = B("另一段分析"); break;
        case 4: fx.report.suggestions = B("另一段建议"); break;
        case 5: fx.report.category = MINYI__V1__CATEGORY__ECONOMY; break;
        case 6: fx.report.urgency = MINYI__V1__URGENCY__URGENT; break;
        case 7: fx.reporter.name = B("李四"); break;
        case 8: fx.reporter.unit = B("秀洲区联系点"); break;
        case 9: fx.reporter.kind = MINYI__V1__REPORTER_KIND__MEMBER; break;
        case 10: fx.reporter.sector = B("经济界"); break;
        case 11: fx.report.region = B("330411"); break;
        case 12: fx.report.phone = B("+86 573-8888 1235"); break;
        case 13: a->name = B("b.txt"); break;
        case 14: a->media_type = B("text/markdown"); break;
        case 15:
            fx.report.n_attachments = 0;
            add_attachment(&fx, "a.txt", "text/plain", c2, strlen(c2));
            break;
        case 16: add_attachment(&fx, "b.txt", "text/plain", c2, strlen(c2)); break;
        case 17: fx.report.n_attachments = 0; break;
        /* Moving a character from one field to the next must change the
         * hash: the encoding carries lengths, not bare concatenation. */
        case 18:
            fx.report.analysis = B("资金分摊难，低层住户意见不一");
            fx.report.suggestions = B("。一是财政补助；二是简化审批；三是建立协商机制。");
            break;
        case 19: fx.report.title = B("关于老旧小区加装电梯的建"); fx.report.situation =
                     B("议我市老旧小区多建于上世纪九十年代，多数没有电梯。\n老年居民上下楼困难。");
            break;
        case 20: fx.reporter.name = B("张"); fx.reporter.unit = B("三南湖区社情民意信息联系点"); break;
        }
        hash_of(&fx, h);
        if (memcmp(base, h, 32) == 0)
            fail_msg("mutation %d did not change the payload hash", m);
    }
}

/* ---- required fields ---- */

static void test_report_missing(void **state)
{
    (void)state;
    expect_reject(NULL, "report");
}

static void test_required_fields(void **state)
{
    static const struct {
        size_t offset;   /* of a ProtobufCBinaryData in the fixture */
        const char *field;
    } cases[] = {
        { offsetof(struct fixture, report.client_report_id), "report.client_report_id" },
        { offsetof(struct fixture, report.title), "report.title" },
        { offsetof(struct fixture, report.situation), "report.situation" },
        { offsetof(struct fixture, report.analysis), "report.analysis" },
        { offsetof(struct fixture, report.suggestions), "report.suggestions" },
        { offsetof(struct fixture, reporter.name), "report.reporter.name" },
        { offsetof(struct fixture, reporter.unit), "report.reporter.unit" },
        { offsetof(struct fixture, report.region), "report.region" },
        { offsetof(struct fixture, report.phone), "report.phone" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fixture fx;
        fixture_init(&fx);
        *(ProtobufCBinaryData *)((char *)&fx + cases[i].offset) = BL(NULL, 0);
        expect_reject(&fx.report, cases[i].field);
        fixture_init(&fx);
        *(ProtobufCBinaryData *)((char *)&fx + cases[i].offset) = B("");
        expect_reject(&fx.report, cases[i].field);
    }
}

static void test_required_not_blank(void **state)
{
    struct fixture fx;

    (void)state;
    fixture_init(&fx);
    fx.report.title = B("   ");
    expect_reject(&fx.report, "report.title");
    fixture_init(&fx);
    fx.report.situation = B("\n\r\n\t\xE3\x80\x80");               /* U+3000 ideographic space */
    expect_reject(&fx.report, "report.situation");
    fixture_init(&fx);
    fx.reporter.name = B("\xE2\x80\x8B");                         /* zero-width space */
    expect_reject(&fx.report, "report.reporter.name");
}

static void test_reporter_missing(void **state)
{
    struct fixture fx;

    (void)state;
    fixture_init(&fx);
    fx.report.reporter = NULL;
    expect_reject(&fx.report, "report.reporter");
}

/* ---- UUID ---- */

static void test_uuid_syntax(void **state)
{
    static const char *const bad[] = {
        "5f0c1e2a9b3d4c7e8a1f2b3c4d5e6f70",              /* no dashes */
        "{5f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f70}",
        "urn:uuid:5f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f70",
        "5f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f7",           /* short */
        "5f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f700",
        "5f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f7g",          /* not hex */
        "5f0c1e2a9-b3d-4c7e-8a1f-2b3c4d5e6f70",          /* dash misplaced */
        " 5f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f7",
        "５f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f",             /* full-width digit */
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fixture fx;
        fixture_init(&fx);
        fx.report.client_report_id = B(bad[i]);
        expect_reject(&fx.report, "report.client_report_id");
    }
    struct fixture fx;
    fixture_init(&fx);
    fx.report.client_report_id = BL("5f0c1e2a-9b3d-4c7e-8a1f-2b3c4d5e6f7\0", 36);
    expect_reject(&fx.report, "report.client_report_id");
}

/* ---- enums ---- */

static void test_unknown_codes(void **state)
{
    struct fixture fx;

    (void)state;
    fixture_init(&fx);
    fx.report.category = MINYI__V1__CATEGORY__CATEGORY_UNSPECIFIED;
    expect_reject(&fx.report, "report.category");
    fx.report.category = (Minyi__V1__Category)8;
    expect_reject(&fx.report, "report.category");
    fx.report.category = (Minyi__V1__Category)-1;
    expect_reject(&fx.report, "report.category");

    fixture_init(&fx);
    fx.report.urgency = MINYI__V1__URGENCY__URGENCY_UNSPECIFIED;
    expect_reject(&fx.report, "report.urgency");
    fx.report.urgency = (Minyi__V1__Urgency)3;
    expect_reject(&fx.report, "report.urgency");

    fixture_init(&fx);
    fx.reporter.kind = MINYI__V1__REPORTER_KIND__REPORTER_KIND_UNSPECIFIED;
    expect_reject(&fx.report, "report.reporter.kind");
    fx.reporter.kind = (Minyi__V1__ReporterKind)99;
    expect_reject(&fx.report, "report.reporter.kind");

    /* Every defined code is accepted. */
    for (int c = 1; c <= 7; c++) {
        struct intake_report out;
        fixture_init(&fx);
        fx.report.category = (Minyi__V1__Category)c;
        fx.reporter.kind = (Minyi__V1__ReporterKind)c;
        expect_accept(&fx.report, &out);
        intake_report_free(&out);
    }
}

/* ---- region and phone ---- */

static void test_region(void **state)
{
    static const char *const bad[] = {
        "33040", "3304021", "33040a", "000000", " 33040", "330-02", "３３０４０２",
    };
    struct fixture fx;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture_init(&fx);
        fx.report.region = B(bad[i]);
        expect_reject(&fx.report, "report.region");
    }
    fixture_init(&fx);
    fx.report.region = BL("33040\0", 6);
    expect_reject(&fx.report, "report.region");
}

static void test_phone(void **state)
{
    static const char *const bad[] = {
        "1234",                       /* too short */
        "123456789012345678901",      /* 21 bytes */
        "0573-8888x123",              /* letter */
        "+-- -1234",                  /* four digits only */
        "(0573) 88881234",            /* parentheses */
        "０５７３８８８８１２３４",      /* full-width digits */
        "0573\t88881234",
    };
    struct fixture fx;
    struct intake_report out;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture_init(&fx);
        fx.report.phone = B(bad[i]);
        expect_reject(&fx.report, "report.phone");
    }
    fixture_init(&fx);
    fx.report.phone = BL("12345\0", 6);
    expect_reject(&fx.report, "report.phone");

    static const char *const good[] = { "12345", "13800138000", "+86 573 8888 1234",
                                        "12345678901234567890" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        fixture_init(&fx);
        fx.report.phone = B(good[i]);
        expect_accept(&fx.report, &out);
        assert_string_equal(out.phone, good[i]);
        intake_report_free(&out);
    }
}

/* ---- lengths ---- */

static void test_length_limits(void **state)
{
    static const struct {
        size_t offset;
        const char *field;
        size_t max;
    } cases[] = {
        { offsetof(struct fixture, report.title), "report.title", VALIDATE_TITLE_MAX },
        { offsetof(struct fixture, report.situation), "report.situation", VALIDATE_SITUATION_MAX },
        { offsetof(struct fixture, report.analysis), "report.analysis", VALIDATE_ANALYSIS_MAX },
        { offsetof(struct fixture, report.suggestions), "report.suggestions",
          VALIDATE_SUGGESTIONS_MAX },
        { offsetof(struct fixture, reporter.name), "report.reporter.name", VALIDATE_NAME_MAX },
        { offsetof(struct fixture, reporter.unit), "report.reporter.unit", VALIDATE_UNIT_MAX },
        { offsetof(struct fixture, reporter.sector), "report.reporter.sector",
          VALIDATE_SECTOR_MAX },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fixture fx;
        struct intake_report out;
        /* Limits count characters, not bytes: three-byte CJK at the limit pass. */
        char *at = repeat("政", cases[i].max);
        char *over = repeat("政", cases[i].max + 1);
        fixture_init(&fx);
        *(ProtobufCBinaryData *)((char *)&fx + cases[i].offset) = B(at);
        expect_accept(&fx.report, &out);
        intake_report_free(&out);
        *(ProtobufCBinaryData *)((char *)&fx + cases[i].offset) = B(over);
        expect_reject(&fx.report, cases[i].field);
        free(at);
        free(over);
    }

    /* The limits struct is honoured (config may lower them). */
    struct validate_limits lim;
    struct fixture fx;
    struct validation_error err;
    validate_limits_default(&lim);
    assert_int_equal(lim.title_max, VALIDATE_TITLE_MAX);
    lim.title_max = 5;
    fixture_init(&fx);
    fx.report.title = B("六个字的标题");
    expect_reject_lim(&fx.report, &lim, "report.title", &err);
    assert_non_null(strstr(err.message, "at most 5"));
    fx.report.title = B("五个字标题");
    struct intake_report out;
    expect_accept_lim(&fx.report, &lim, &out);
    intake_report_free(&out);
}

/* ---- encoding and forbidden characters ---- */

static void test_invalid_utf8(void **state)
{
    static const struct {
        size_t offset;
        const char *field;
        const char *text;
    } cases[] = {
        { offsetof(struct fixture, report.title), "report.title", "标题\xC0\xAF" },          /* overlong '/' */
        { offsetof(struct fixture, report.situation), "report.situation", "情况\xED\xA0\x80" }, /* surrogate */
        { offsetof(struct fixture, report.analysis), "report.analysis", "\xF4\x90\x80\x80" },
        { offsetof(struct fixture, report.suggestions), "report.suggestions", "建议\xE5\xBB" }, /* truncated */
        { offsetof(struct fixture, reporter.name), "report.reporter.name", "\x80张三" },       /* stray */
        { offsetof(struct fixture, reporter.unit), "report.reporter.unit", "单位\xFF" },
        { offsetof(struct fixture, reporter.sector), "report.reporter.sector", "\xC3(" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fixture fx;
        fixture_init(&fx);
        *(ProtobufCBinaryData *)((char *)&fx + cases[i].offset) = B(cases[i].text);
        expect_reject(&fx.report, cases[i].field);
    }
}

/* One sample of each class of ill-formed sequence in Unicode's Table 3-7,
 * with the offset (within the sample) of the sequence a validator must
 * name.  len counts the bytes that belong to the text; a truncated sample's
 * array continues with the bytes that would complete it, so that only the
 * length can tell the validator where the text ends. */
static const struct utf8_case {
    const char *what;
    const char *bytes;
    size_t len;
    size_t bad;
} utf8_cases[] = {
    { "overlong 2-byte C0", "\xC0\xAF", 2, 0 },
    { "overlong 2-byte C1", "\xC1\xBF", 2, 0 },
    { "overlong 3-byte E0 80", "\xE0\x80\xAF", 3, 0 },
    { "overlong 3-byte E0 9F", "\xE0\x9F\xBF", 3, 0 },
    { "overlong 4-byte F0 80", "\xF0\x80\x80\xAF", 4, 0 },
    { "overlong 4-byte F0 8F", "\xF0\x8F\xBF\xBF", 4, 0 },
    { "surrogate D800", "\xED\xA0\x80", 3, 0 },
    { "surrogate DFFF", "\xED\xBF\xBF", 3, 0 },
    { "above U+10FFFF F4 90", "\xF4\x90\x80\x80", 4, 0 },
    { "above U+10FFFF F5", "\xF5\x80\x80\x80", 4, 0 },
    { "above U+10FFFF FF", "\xFF", 1, 0 },
    { "truncated 2-byte at the end", "\xC3\xA9", 1, 0 },
    { "truncated 3-byte at the end", "\xE4\xB8\xAD", 2, 0 },
    { "truncated 4-byte at the end", "\xF0\x9F\x98\x80", 3, 0 },
    { "truncated 3-byte before ASCII", "\xE4\xB8x", 3, 0 },
    { "truncated 4-byte before CJK", "\xF0\x9F\xE4\xB8\xAD", 5, 0 },
    { "lone continuation 80", "\x80", 1, 0 },
    { "lone continuation BF", "\xBF", 1, 0 },
    { "continuation after a whole CJK character", "\xE4\xB8\xAD\xAD", 4, 3 },
};

/* What comes before a sample: nothing, ASCII long enough for the
 * word-at-a-time path, CJK (the scan's shortcut for ideographs), and CJK
 * punctuation (the general path for three-byte characters). */
static const char *const utf8_contexts[] = { "", "Situation 12345678 ", "社情民意", "情况，" };

/* Every class of Table 3-7, in every context, through validate_report, the
 * function intake calls: refused on the field, at the sample's offset. */
static void test_intake_utf8_classes(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof utf8_cases / sizeof utf8_cases[0]; c++) {
        const struct utf8_case *uc = &utf8_cases[c];
        for (size_t x = 0; x < sizeof utf8_contexts / sizeof utf8_contexts[0]; x++) {
            size_t pre = strlen(utf8_contexts[x]);
            uint8_t buf[64];
            struct fixture fx;
            struct validation_error err;
            char want[64];

            /* The whole sample is copied, so the bytes after a truncated
             * one's end are in memory right behind the text. */
            assert_true(pre + strlen(uc->bytes) <= sizeof buf);
            memcpy(buf, utf8_contexts[x], pre);
            memcpy(buf + pre, uc->bytes, strlen(uc->bytes));
            fixture_init(&fx);
            fx.report.situation = BL(buf, pre + uc->len);
            expect_reject_lim(&fx.report, NULL, "report.situation", &err);
            snprintf(want, sizeof want, "is not valid UTF-8 (at byte offset %zu)", pre + uc->bad);
            if (strstr(err.message, want) == NULL)
                fail_msg("%s after \"%s\": expected \"%s\", got \"%s\"", uc->what,
                         utf8_contexts[x], want, err.message);
            /* A one-line field takes the same path. */
            fixture_init(&fx);
            fx.report.title = BL(buf, pre + uc->len);
            expect_reject(&fx.report, "report.title");
        }
    }
}

/* Checks one text against the reference decoder through validate_text,
 * whose scan is the one validate_report runs on every field: a text the
 * reference refuses is refused as invalid UTF-8 at the same offset, and a
 * text it accepts is never refused as invalid UTF-8 (other rules, such as
 * control characters, may still refuse it). */
static void expect_verdict_of_reference(const uint8_t *text, size_t len)
{
    ProtobufCBinaryData b = BL(text, len);
    struct validation_error err;
    char *out = NULL;
    size_t ref = utf8_reference_bad_at(text, len);
    bool ok = validate_text(&b, VALIDATE_TEXT_SITUATION, "situation", "情况", false, NULL, &out,
                            &err);
    bool said_invalid = !ok && strstr(err.message, "not valid UTF-8") != NULL;

    free(out);
    if (said_invalid != (ref < len)) {
        char hex[3 * 16 + 1] = "";
        for (size_t k = 0; k < len && k < 16; k++)
            snprintf(hex + 3 * k, sizeof hex - 3 * k, "%02x ", text[k]);
        fail_msg("validator and reference disagree on %s(%zu bytes): %s", hex, len,
                 ok ? "accepted" : err.message);
    }
    if (said_invalid) {
        char want[64];
        snprintf(want, sizeof want, "(at byte offset %zu)", ref);
        if (strstr(err.message, want) == NULL)
            fail_msg("expected %s, got \"%s\"", want, err.message);
    }
}

/* Every 1- and 2-byte sequence, and every 3- and 4-byte sequence over each
 * lead and second byte (the bytes after those from a set that covers each
 * range boundary of the table), after a CJK prefix and with bytes in memory
 * behind the text that would complete a truncated sequence: the intake
 * validator agrees with a decoder that shares nothing with its table. */
static void test_intake_utf8_exhaustive(void **state)
{
    static const uint8_t tails[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF };
    static const char prefix[] = "情况";
    const size_t pre = sizeof prefix - 1;
    uint8_t buf[sizeof prefix - 1 + 8];

    (void)state;
    memcpy(buf, prefix, pre);
    for (unsigned x = 0x80; x < 0x100; x++) {
        uint8_t *b = buf + pre;
        b[0] = (uint8_t)x;
        memset(b + 1, 0xBF, 7);
        expect_verdict_of_reference(buf, pre + 1);
        for (unsigned y = 0; y < 0x100; y++) {
            b[1] = (uint8_t)y;
            memset(b + 2, 0xBF, 6);
            expect_verdict_of_reference(buf, pre + 2);
            if (x < 0xE0)
                continue;
            for (size_t z = 0; z < sizeof tails; z++) {
                b[2] = tails[z];
                memset(b + 3, 0xBF, 5);
                expect_verdict_of_reference(buf, pre + 3);
                if (x < 0xF0)
                    continue;
                for (size_t w = 0; w < sizeof tails; w++) {
                    b[3] = tails[w];
                    expect_verdict_of_reference(buf, pre + 4);
                }
            }
        }
    }
}

static void test_nul_rejected(void **state)
{
    struct fixture fx;

    (void)state;
    fixture_init(&fx);
    fx.report.title = BL("标题\0尾巴", 13);
    expect_reject(&fx.report, "report.title");
    fixture_init(&fx);
    fx.report.situation = BL("情况\0", 7);
    expect_reject(&fx.report, "report.situation");
}

static void test_control_characters(void **state)
{
    static const char *const controls[] = {
        "\x01", "\x1B[31m", "\x7F", "\xC2\x80", "\xC2\x85", "\xC2\x9F", "\x0B", "\x0C",
    };
    struct fixture fx;
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof controls / sizeof controls[0]; i++) {
        snprintf(buf, sizeof buf, "前%s后", controls[i]);
        fixture_init(&fx);
        fx.report.title = B(buf);
        expect_reject(&fx.report, "report.title");
        fixture_init(&fx);
        fx.report.situation = B(buf);
        expect_reject(&fx.report, "report.situation");
        fixture_init(&fx);
        fx.report.suggestions = B(buf);
        expect_reject(&fx.report, "report.suggestions");
        fixture_init(&fx);
        fx.reporter.unit = B(buf);
        expect_reject(&fx.report, "report.reporter.unit");
    }
}

/* Newlines and tabs belong in the body, nowhere else. */
static void test_newlines_only_in_body(void **state)
{
    static const char *const ws[] = { "\n", "\r", "\t" };
    struct fixture fx;
    struct intake_report out;
    char buf[32];

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        snprintf(buf, sizeof buf, "一%s二", ws[i]);
        fixture_init(&fx);
        fx.report.situation = B(buf);
        fx.report.analysis = B(buf);
        fx.report.suggestions = B(buf);
        expect_accept(&fx.report, &out);
        assert_string_equal(out.analysis, buf);
        intake_report_free(&out);

        fixture_init(&fx);
        fx.report.title = B(buf);
        expect_reject(&fx.report, "report.title");
        fixture_init(&fx);
        fx.reporter.name = B(buf);
        expect_reject(&fx.report, "report.reporter.name");
        fixture_init(&fx);
        fx.reporter.sector = B(buf);
        expect_reject(&fx.report, "report.reporter.sector");
    }
}

static void test_bidi_controls(void **state)
{
    static const char *const bidi[] = {
        "\xE2\x80\xAA", "\xE2\x80\xAB", "\xE2\x80\xAC", "\xE2\x80\xAD", "\xE2\x80\xAE", /* 202A-E */
        "\xE2\x81\xA6", "\xE2\x81\xA7", "\xE2\x81\xA8", "\xE2\x81\xA9",                 /* 2066-9 */
    };
    struct fixture fx;
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof bidi / sizeof bidi[0]; i++) {
        snprintf(buf, sizeof buf, "abc%sdef", bidi[i]);
        fixture_init(&fx);
        fx.report.title = B(buf);
        expect_reject(&fx.report, "report.title");
        fixture_init(&fx);
        fx.report.analysis = B(buf);
        expect_reject(&fx.report, "report.analysis");
    }
}

static void test_noncharacters(void **state)
{
    static const char *const nonchars[] = {
        "\xEF\xBF\xBE", "\xEF\xBF\xBF",                 /* U+FFFE, U+FFFF */
        "\xEF\xB7\x90", "\xEF\xB7\xAF",                 /* U+FDD0, U+FDEF */
        "\xF0\x9F\xBF\xBF", "\xF4\x8F\xBF\xBE",         /* U+1FFFF, U+10FFFE */
    };
    struct fixture fx;
    struct intake_report out;
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof nonchars / sizeof nonchars[0]; i++) {
        snprintf(buf, sizeof buf, "abc%s", nonchars[i]);
        fixture_init(&fx);
        fx.report.situation = B(buf);
        expect_reject(&fx.report, "report.situation");
        fixture_init(&fx);
        fx.reporter.name = B(buf);
        expect_reject(&fx.report, "report.reporter.name");
    }
    /* Their neighbours are ordinary characters. */
    fixture_init(&fx);
    fx.report.title = B("\xEF\xB7\x8F\xEF\xB7\xB0\xEF\xBF\xBD");   /* U+FDCF U+FDF0 U+FFFD */
    expect_accept(&fx.report, &out);
    intake_report_free(&out);
}

/* ---- classification marks ---- */

static void test_classification_marks(void **state)
{
    static const char *const marked[] = {
        "绝密", "机密", "秘密", "絕密", "機密", "祕密", "秘密★", "机密★一年", "★绝密", "☆秘密",
        "绝\xE2\x80\x8B密",          /* split by a zero-width space */
        "机\xC2\xAD密",              /* split by a soft hyphen */
        "秘\xEF\xB8\x80密",          /* split by a variation selector */
        "机\xE2\x80\x8B\xE2\x80\x8D密",  /* split by two invisible characters */
        "机关绝\xE2\x80\x8B密",      /* split, after a lead that is no mark */
    };
    static const struct {
        size_t offset;
        const char *field;
    } fields[] = {
        { offsetof(struct fixture, report.title), "report.title" },
        { offsetof(struct fixture, report.situation), "report.situation" },
        { offsetof(struct fixture, report.analysis), "report.analysis" },
        { offsetof(struct fixture, report.suggestions), "report.suggestions" },
        { offsetof(struct fixture, reporter.name), "report.reporter.name" },
        { offsetof(struct fixture, reporter.unit), "report.reporter.unit" },
        { offsetof(struct fixture, reporter.sector), "report.reporter.sector" },
    };

    (void)state;
    for (size_t m = 0; m < sizeof marked / sizeof marked[0]; m++) {
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            struct fixture fx;
            struct validation_error err;
            char buf[128];
            snprintf(buf, sizeof buf, "文件%s内容", marked[m]);
            fixture_init(&fx);
            *(ProtobufCBinaryData *)((char *)&fx + fields[f].offset) = B(buf);
            expect_reject_lim(&fx.report, NULL, fields[f].field, &err);
            assert_non_null(strstr(err.message_zh, "涉密信息不得上网报送"));
        }
    }

    /* Attachment names are text too. */
    struct fixture fx;
    struct validation_error err;
    fixture_init(&fx);
    add_attachment(&fx, "ok.txt", "text/plain", "x", 1);
    add_attachment(&fx, "机密★文件.pdf", "application/pdf", "y", 1);
    expect_reject_lim(&fx.report, NULL, "report.attachments[1].name", &err);
    assert_non_null(strstr(err.message_zh, "涉密信息不得上网报送"));

    /* The characters on their own, apart, are fine. */
    struct intake_report out;
    fixture_init(&fx);
    fx.report.title = B("机关秘书处绝对密切");
    expect_accept(&fx.report, &out);
    intake_report_free(&out);
}

/*
 * The validator looks at a field's bytes in one pass (UTF-8, forbidden code
 * points, NFC, length, marks).  Random text made of pieces that touch every
 * rule must get the answers the separate checks give: utf8_valid's verdict
 * and offset, utf8proc's NFC, utf8_count's length, no mark let through.
 */
static void test_one_pass_agrees(void **state)
{
    static const char *const pieces[] = {
        "a", "Hello, world", "12345678", "\n", "\t", "\r", "\x01", "\x7F", "\x1B",
        "情况", "说明", "机", "密", "绝", "秘", "機", "祕", "絕", "机密", "\xE2\x80\x8B",
        "\xC2\xAD", "\xEF\xB8\x80", "e", "\xCC\x81", "\xC3\xA9", "\xEA\xB0\x80", "\xE1\x84\x80",
        "\xE2\x80\xAE", "\xEF\xBF\xBE", "\xEF\xB7\x90", "\xC2\x85", "\xF0\x9F\x98\x80",
        "\xEF\xBC\x81", "\xE4\xB7\x80", "\xE3\x80\x80", " ", "\xC0\xAF", "\xED\xA0\x80",
        "\xF4\x90\x80\x80", "\xE5\xBB", "\x80", "\xFF", "\xC3", "\xF0\x9F\x98",
    };
    const size_t n_pieces = sizeof pieces / sizeof pieces[0];
    struct validate_limits lim;
    unsigned seed = 12345;

    (void)state;
    validate_limits_default(&lim);
    for (int round = 0; round < 20000; round++) {
        char in[256];
        size_t len = 0;
        int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
        for (int k = 0; k < n; k++) {
            const char *p = pieces[((seed = seed * 1103515245u + 12345u) >> 16) % n_pieces];
            size_t l = strlen(p);
            memcpy(in + len, p, l);
            len += l;
        }
        lim.situation_max = 1 + ((seed = seed * 1103515245u + 12345u) >> 16) % 40;

        ProtobufCBinaryData b = BL(in, len);
        struct validation_error err;
        char *out = NULL;
        size_t bad;
        bool ok = validate_text(&b, VALIDATE_TEXT_SITUATION, "situation", "情况", false, &lim,
                                &out, &err);
        if (!utf8_valid((const uint8_t *)in, len, &bad)) {
            char want[64];
            snprintf(want, sizeof want, "is not valid UTF-8 (at byte offset %zu)", bad);
            assert_false(ok);
            assert_non_null(strstr(err.message, want));
            continue;
        }
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t nfc_len = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)len,
                                                &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        assert_true(nfc_len >= 0);
        size_t count = utf8_count(nfc, (size_t)nfc_len);
        if (ok) {
            assert_int_equal(strlen(out), (size_t)nfc_len);
            assert_memory_equal(out, nfc, (size_t)nfc_len);
            assert_true(count <= lim.situation_max);
            assert_null(strstr(out, "机密"));
            free(out);
        } else if (strstr(err.message, "too long") != NULL) {
            char want[64];
            snprintf(want, sizeof want, "is too long: %zu characters", count);
            assert_non_null(strstr(err.message, want));
        } else if (strstr(err.message, "(at byte offset") != NULL) {
            /* A forbidden code point: the offset names where it starts. */
            unsigned cp;
            const char *at = strstr(err.message, "(at byte offset ");
            const char *u = strstr(err.message, "U+");
            assert_non_null(u);
            assert_int_equal(sscanf(u, "U+%x", &cp), 1);
            assert_int_equal(sscanf(at, "(at byte offset %zu)", &bad), 1);
            assert_true(bad < len);
            utf8proc_int32_t got;
            assert_true(utf8proc_iterate((const utf8proc_uint8_t *)in + bad,
                                         (utf8proc_ssize_t)(len - bad), &got) > 0);
            assert_int_equal((unsigned)got, cp);
        } else {
            assert_non_null(strstr(err.message_zh, "涉密信息不得上网报送"));
        }
        free(nfc);
    }
}

/* ---- attachments ---- */

static void test_attachment_count(void **state)
{
    struct fixture fx;
    struct intake_report out;

    (void)state;
    fixture_init(&fx);
    for (int i = 0; i < VALIDATE_ATTACHMENTS_MAX; i++)
        add_attachment(&fx, "a.txt", "text/plain", "x", 1);
    expect_accept(&fx.report, &out);
    assert_int_equal(out.n_attachments, VALIDATE_ATTACHMENTS_MAX);
    intake_report_free(&out);
    add_attachment(&fx, "a.txt", "text/plain", "x", 1);
    expect_reject(&fx.report, "report.attachments");

    fixture_init(&fx);
    add_attachment(&fx, "a.txt", "text/plain", "x", 1);
    fx.attp[0] = NULL;
    expect_reject(&fx.report, "report.attachments[0]");
}

static void test_attachment_content(void **state)
{
    struct fixture fx;
    struct intake_report out;
    uint8_t *big = calloc(1, VALIDATE_ATTACHMENT_BYTES + 1);

    (void)state;
    assert_non_null(big);
    fixture_init(&fx);
    add_attachment(&fx, "empty.txt", "text/plain", "", 0);
    expect_reject(&fx.report, "report.attachments[0].content");

    fixture_init(&fx);
    add_attachment(&fx, "a.bin", "application/octet-stream", big, VALIDATE_ATTACHMENT_BYTES);
    expect_accept(&fx.report, &out);
    intake_report_free(&out);
    fixture_init(&fx);
    add_attachment(&fx, "a.txt", "text/plain", "x", 1);
    add_attachment(&fx, "a.bin", "application/octet-stream", big, VALIDATE_ATTACHMENT_BYTES + 1);
    expect_reject(&fx.report, "report.attachments[1].content");
    free(big);
}

static void test_attachment_name(void **state)
{
    static const char *const bad[] = {
        "", "../etc/passwd", "dir/file.txt", "C:\\temp\\a.txt", ".", "..", "a\x01.txt",
        "a\n.txt", "a\xE2\x80\xAEtxt.exe", "a\xC0\xAE.txt",
    };
    struct fixture fx;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture_init(&fx);
        add_attachment(&fx, bad[i], "text/plain", "x", 1);
        expect_reject(&fx.report, "report.attachments[0].name");
    }
    char *long_name = repeat("名", VALIDATE_ATTACHMENT_NAME_MAX + 1);
    fixture_init(&fx);
    add_attachment(&fx, long_name, "text/plain", "x", 1);
    expect_reject(&fx.report, "report.attachments[0].name");
    free(long_name);
}

static void test_attachment_media_type(void **state)
{
    static const char *const bad[] = {
        "", "pdf", "application/", "/pdf", "text/plain; charset=utf-8", "text/plain/x",
        "图片/jpeg", "text /plain", "-text/plain",
    };
    struct fixture fx;
    struct intake_report out;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture_init(&fx);
        add_attachment(&fx, "a.txt", bad[i], "x", 1);
        expect_reject(&fx.report, "report.attachments[0].media_type");
    }
    char *long_type = repeat("x", VALIDATE_MEDIA_TYPE_MAX);
    long_type[4] = '/';
    fixture_init(&fx);
    add_attachment(&fx, "a.txt", long_type, "x", 1);
    expect_accept(&fx.report, &out);
    intake_report_free(&out);
    free(long_type);
    long_type = repeat("x", VALIDATE_MEDIA_TYPE_MAX + 1);
    long_type[4] = '/';
    fixture_init(&fx);
    add_attachment(&fx, "a.txt", "text/plain", "x", 1);
    add_attachment(&fx, "a.txt", long_type, "x", 1);
    expect_reject(&fx.report, "report.attachments[1].media_type");
    free(long_type);

    static const char *const good[] = {
        "application/pdf", "image/jpeg", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/ld+json", "TEXT/PLAIN",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        fixture_init(&fx);
        add_attachment(&fx, "a", good[i], "x", 1);
        expect_accept(&fx.report, &out);
        assert_string_equal(out.attachments[0].media_type, good[i]);
        intake_report_free(&out);
    }
}

static void test_attachment_sha256(void **state)
{
    struct fixture fx;
    Minyi__V1__Attachment *a;

    (void)state;
    /* Wrong length. */
    fixture_init(&fx);
    add_attachment(&fx, "a.txt", "text/plain", "x", 1);
    a = add_attachment(&fx, "b.txt", "text/plain", "y", 1);
    a->sha256.len = 31;
    expect_reject(&fx.report, "report.attachments[1].sha256");
    a->sha256 = BL(NULL, 0);
    expect_reject(&fx.report, "report.attachments[1].sha256");

    /* Right length, wrong digest: one flipped bit. */
    fixture_init(&fx);
    add_attachment(&fx, "a.txt", "text/plain", "x", 1);
    a = add_attachment(&fx, "b.txt", "text/plain", "y", 1);
    fx.sha[1][31] ^= 1;
    expect_reject(&fx.report, "report.attachments[1].sha256");

    /* The digest of another attachment's content. */
    fixture_init(&fx);
    add_attachment(&fx, "a.txt", "text/plain", "x", 1);
    a = add_attachment(&fx, "b.txt", "text/plain", "y", 1);
    a->sha256 = BL(fx.sha[0], 32);
    expect_reject(&fx.report, "report.attachments[1].sha256");
}

/* The form checks the gateway applies to region codes and receipts
 * outside a report (forwarded provenance, results, the configuration). */
static void test_region_and_receipt_form(void **state)
{
    (void)state;
    assert_true(validate_region_code((const uint8_t *)"330400", 6));
    assert_true(validate_region_code((const uint8_t *)"000000", 6));
    assert_false(validate_region_code((const uint8_t *)"33040", 5));
    assert_false(validate_region_code((const uint8_t *)"3304001", 7));
    assert_false(validate_region_code((const uint8_t *)"33040a", 6));
    assert_false(validate_region_code((const uint8_t *)"33040\0", 6));
    assert_true(validate_receipt_chars((const uint8_t *)"330400-2026-000001", 18, 40));
    assert_true(validate_receipt_chars((const uint8_t *)"Ab-9", 4, 4));
    assert_false(validate_receipt_chars((const uint8_t *)"Ab-9", 4, 3));
    assert_false(validate_receipt_chars((const uint8_t *)"", 0, 40));
    assert_false(validate_receipt_chars((const uint8_t *)"330400 2026", 11, 40));
    assert_false(validate_receipt_chars((const uint8_t *)"330400'", 7, 40));
    assert_false(validate_receipt_chars((const uint8_t *)"3304\0", 5, 40));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_valid_report),
        cmocka_unit_test(test_urgent_allows_empty_analysis),
        cmocka_unit_test(test_revision_changed_fields_only),
        cmocka_unit_test(test_sector_optional),
        cmocka_unit_test(test_accepts_corpus),
        cmocka_unit_test(test_nfc_is_the_only_change),
        cmocka_unit_test(test_nfc_before_length),
        cmocka_unit_test(test_payload_hash),
        cmocka_unit_test(test_report_missing),
        cmocka_unit_test(test_required_fields),
        cmocka_unit_test(test_required_not_blank),
        cmocka_unit_test(test_reporter_missing),
        cmocka_unit_test(test_uuid_syntax),
        cmocka_unit_test(test_unknown_codes),
        cmocka_unit_test(test_region),
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_intake_utf8_classes),
        cmocka_unit_test(test_intake_utf8_exhaustive),
        cmocka_unit_test(test_nul_rejected),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_newlines_only_in_body),
        cmocka_unit_test(test_bidi_controls),
        cmocka_unit_test(test_noncharacters),
        cmocka_unit_test(test_classification_marks),
        cmocka_unit_test(test_one_pass_agrees),
        cmocka_unit_test(test_attachment_count),
        cmocka_unit_test(test_attachment_content),
        cmocka_unit_test(test_attachment_name),
        cmocka_unit_test(test_attachment_media_type),
        cmocka_unit_test(test_attachment_sha256),
        cmocka_unit_test(test_region_and_receipt_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
