/*
 * it_validation: every validation rule through the real gateway, one test
 * each.  A broken rule is refused with INVALID_ARGUMENT and the exact field
 * at fault, and nothing is stored; what the rules allow is accepted; NFC is
 * the only change made to accepted text.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "itkit.h"
/* The limits are the gateway's contract; the header lives with the gateway. */
#include "../../gateway/validate.h"

static struct itenv env;
static struct client_conn *conn;

static int setup(void **state)
{
    (void)state;
    if (!itenv_up(&env, NULL))
        return -1;
    char err[256];
    conn = ittry_connect(&env, "contact1", err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "connect: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (conn != NULL)
        client_close(conn);
    return itenv_down(&env) == 0 ? 0 : -1;
}

static Minyi__V1__Report *report(void)
{
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    return r;
}

/* Submits r, expects INVALID_ARGUMENT on field, and checks that nothing
 * was stored under its client_report_id. */
static void refused(Minyi__V1__Report *r, const char *field)
{
    char crid[37];
    itcopy(&r->client_report_id, crid, sizeof(crid));
    itsubmit_invalid(conn, r, field);
    if (strlen(crid) == 36)
        assert_int_equal(tdb_scalar(env.conninfo,
                                    "SELECT count(*) FROM reports WHERE client_report_id::text = $1",
                                    1, (const char *const[]){ crid }),
                         0);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void accepted(Minyi__V1__Report *r, char *receipt)
{
    itsubmit_ok(conn, r, receipt);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* ---- missing required fields ---------------------------------------------- */

static void test_missing_title(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->title, "");
    refused(r, "report.title");
}

static void test_blank_title(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->title, " \xE3\x80\x80 ");        /* spaces, one of them ideographic */
    refused(r, "report.title");
}

static void test_missing_situation(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->situation, "");
    refused(r, "report.situation");
}

static void test_missing_analysis_normal(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->analysis, "");
    refused(r, "report.analysis");
}

static void test_missing_suggestions_normal(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->suggestions, "");
    refused(r, "report.suggestions");
}

static void test_missing_category(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    r->category = MINYI__V1__CATEGORY__CATEGORY_UNSPECIFIED;
    refused(r, "report.category");
}

static void test_missing_urgency(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    r->urgency = MINYI__V1__URGENCY__URGENCY_UNSPECIFIED;
    refused(r, "report.urgency");
}

static void test_missing_reporter(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    protobuf_c_message_free_unpacked(&r->reporter->base, NULL);
    r->reporter = NULL;
    refused(r, "report.reporter");
}

static void test_missing_reporter_name(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->reporter->name, "");
    refused(r, "report.reporter.name");
}

static void test_missing_reporter_unit(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->reporter->unit, "");
    refused(r, "report.reporter.unit");
}

static void test_missing_reporter_kind(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    r->reporter->kind = MINYI__V1__REPORTER_KIND__REPORTER_KIND_UNSPECIFIED;
    refused(r, "report.reporter.kind");
}

static void test_missing_region(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->region, "");
    refused(r, "report.region");
}

static void test_missing_phone(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->phone, "");
    refused(r, "report.phone");
}

static void test_missing_client_report_id(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->client_report_id, "");
    refused(r, "report.client_report_id");
}

static void test_malformed_client_report_id(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->client_report_id, "{6f1c2f8e-2b7a-4c1e-9a55-0c4b8f0e7d21}");
    refused(r, "report.client_report_id");
}

static void test_missing_report(void **state)
{
    (void)state;
    struct frame_arena *arena = NULL;
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__SubmitRequest req = MINYI__V1__SUBMIT_REQUEST__INIT;
    f.id = client_next_id(conn);
    f.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
    f.submit = &req;
    if (!client_send(conn, &f))
        fail_msg("send failed");
    Frame *a = itrecv(conn, &arena);
    assert_int_equal(a->id, f.id);
    itexpect_error(a, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "report");
    frame_arena_free(arena);
}

/* 急事急报: analysis and suggestions may be left out. */
static void test_urgent_without_analysis_and_suggestions(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX];
    Minyi__V1__Report *r = report();
    r->urgency = MINYI__V1__URGENCY__URGENT;
    itset(&r->analysis, "");
    itset(&r->suggestions, "");
    accepted(r, receipt);
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM reports WHERE receipt = $1 AND urgency = 2 "
                                "AND analysis = '' AND suggestions = ''",
                                1, (const char *const[]){ receipt }),
                     1);
}

/* ---- lengths ---------------------------------------------------------------- */

/* n copies of a three-byte character: limits count code points, not bytes. */
static char *cjk_repeat(size_t n)
{
    static const char ch[] = "民";
    char *s = malloc(n * 3 + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + 3 * i, ch, 3);
    s[n * 3] = '\0';
    return s;
}

static void test_title_at_limit_accepted(void **state)
{
    (void)state;
    char *t = cjk_repeat(VALIDATE_TITLE_MAX);
    Minyi__V1__Report *r = report();
    itset(&r->title, t);
    accepted(r, NULL);
    free(t);
}

static void test_title_too_long(void **state)
{
    (void)state;
    char *t = cjk_repeat(VALIDATE_TITLE_MAX + 1);
    Minyi__V1__Report *r = report();
    itset(&r->title, t);
    refused(r, "report.title");
    free(t);
}

static void test_situation_too_long(void **state)
{
    (void)state;
    char *t = cjk_repeat(VALIDATE_SITUATION_MAX + 1);
    Minyi__V1__Report *r = report();
    itset(&r->situation, t);
    refused(r, "report.situation");
    free(t);
}

static void test_situation_at_limit_accepted(void **state)
{
    (void)state;
    char *t = cjk_repeat(VALIDATE_SITUATION_MAX);
    Minyi__V1__Report *r = report();
    itset(&r->situation, t);
    accepted(r, NULL);
    free(t);
}

/* ---- UTF-8, NUL and control characters -------------------------------------- */

static void title_bytes_refused(const char *bytes, size_t len)
{
    Minyi__V1__Report *r = report();
    itset_raw(&r->title, bytes, len);
    refused(r, "report.title");
}

static void test_utf8_overlong(void **state)
{
    (void)state;
    title_bytes_refused("ab\xC0\xAF" "cd", 6);
}

static void test_utf8_surrogate(void **state)
{
    (void)state;
    title_bytes_refused("ab\xED\xA0\x80" "cd", 7);
}

static void test_utf8_truncated(void **state)
{
    (void)state;
    /* The first two bytes of 民 (E6 B0 91) at the end of the field. */
    title_bytes_refused("关于\xE6\xB0", 8);
}

static void test_utf8_invalid_in_body(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset_raw(&r->suggestions, "建议\xFF", 7);
    refused(r, "report.suggestions");
}

/* The classes of Table 3-7 the tests above leave out, after CJK text in
 * the situation (the validator's shortcut for ideographs), each refused
 * over the wire with nothing stored. */
static void test_utf8_every_class_in_situation(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        { "情况\xC1\xBF", 8 },                 /* overlong 2-byte */
        { "情况\xE0\x80\xAF", 9 },             /* overlong 3-byte */
        { "情况\xE0\x9F\xBF", 9 },
        { "情况\xF0\x80\x80\xAF", 10 },        /* overlong 4-byte */
        { "情况\xF0\x8F\xBF\xBF", 10 },
        { "情况\xED\xBF\xBF", 9 },             /* surrogate U+DFFF */
        { "情况\xF4\x90\x80\x80", 10 },        /* above U+10FFFF */
        { "情况\xF5\x80\x80\x80", 10 },
        { "情况\xF0\x9F\x98", 9 },             /* truncated 4-byte */
        { "情况\x80", 7 },                     /* lone continuation */
        { "情况\xE4\xB8\xAD\xBF", 10 },        /* one continuation too many */
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Minyi__V1__Report *r = report();
        itset_raw(&r->situation, cases[i].bytes, cases[i].len);
        refused(r, "report.situation");
    }
}

static void test_nul_in_title(void **state)
{
    (void)state;
    title_bytes_refused("关于\0电梯", 13);
}

static void test_control_char_in_title(void **state)
{
    (void)state;
    title_bytes_refused("关于\x07电梯", 13);
}

static void test_newline_in_title_refused(void **state)
{
    (void)state;
    title_bytes_refused("关于\n电梯", 13);
}

static void test_newline_in_situation_accepted(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX];
    const char *text = "第一段。\n第二段。\r\n\t第三段。";
    Minyi__V1__Report *r = report();
    itset(&r->situation, text);
    accepted(r, receipt);
    char *stored = itdb_text(env.conninfo, "SELECT situation FROM reports WHERE receipt = $1", 1,
                             (const char *const[]){ receipt });
    assert_non_null(stored);
    assert_string_equal(stored, text);
    free(stored);
}

static void test_control_char_in_reporter_name(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->reporter->name, "张\x1b三");
    refused(r, "report.reporter.name");
}

/* ---- codes --------------------------------------------------------------- */

static void test_unknown_category(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    r->category = (Minyi__V1__Category)99;
    refused(r, "report.category");
}

/* An enum is an int32: 2^32 + 2 on the wire is not POLITICS (2), which
 * protobuf-c alone would read it as, but an unknown number (PROTOCOL.md
 * section 4.2).  The category field is left unset and sent raw instead. */
static void test_category_beyond_int32(void **state)
{
    (void)state;
    static const uint8_t two_pow_32_plus_2[] = { 0x82, 0x80, 0x80, 0x80, 0x10 };
    Minyi__V1__Report *r = report();
    r->category = MINYI__V1__CATEGORY__CATEGORY_UNSPECIFIED;
    itadd_unknown(&r->base, 6, PROTOBUF_C_WIRE_TYPE_VARINT, two_pow_32_plus_2,
                  sizeof(two_pow_32_plus_2));
    refused(r, "report.category");
}

static void test_unknown_reporter_kind(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    r->reporter->kind = (Minyi__V1__ReporterKind)8;
    refused(r, "report.reporter.kind");
}

static void test_region_five_digits(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->region, "33040");
    refused(r, "report.region");
}

static void test_region_with_letter(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->region, "33040a");
    refused(r, "report.region");
}

static void test_region_seven_digits(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->region, "3304021");
    refused(r, "report.region");
}

static void test_phone_with_letters(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    itset(&r->phone, "138-call-me");
    refused(r, "report.phone");
}

/* ---- attachments ---------------------------------------------------------- */

static Minyi__V1__Attachment *attachment(size_t size, bool right_hash)
{
    Minyi__V1__Attachment *a = malloc(sizeof(*a));
    assert_non_null(a);
    minyi__v1__attachment__init(a);
    uint8_t *content = malloc(size);
    assert_non_null(content);
    for (size_t i = 0; i < size; i++)
        content[i] = (uint8_t)(i * 31 + 7);
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(content, size, digest);
    if (!right_hash)
        digest[0] ^= 0x01;
    itset(&a->name, "现场照片.pdf");
    itset(&a->media_type, "application/pdf");
    itset_raw(&a->content, content, size);
    itset_raw(&a->sha256, digest, sizeof(digest));
    free(content);
    return a;
}

static void with_attachment(Minyi__V1__Report *r, Minyi__V1__Attachment *a)
{
    r->attachments = malloc(sizeof(*r->attachments));
    assert_non_null(r->attachments);
    r->attachments[0] = a;
    r->n_attachments = 1;
}

static void test_attachment_accepted(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX];
    Minyi__V1__Report *r = report();
    with_attachment(r, attachment(1000, true));
    accepted(r, receipt);
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM attachments a JOIN reports r "
                                "ON r.id = a.report_id WHERE r.receipt = $1 "
                                "AND length(a.content) = 1000 AND a.sha256 = sha256(a.content)",
                                1, (const char *const[]){ receipt }),
                     1);
}

static void test_attachment_too_large(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    with_attachment(r, attachment(VALIDATE_ATTACHMENT_BYTES + 1, true));
    refused(r, "report.attachments[0].content");
}

static void test_attachment_sha256_mismatch(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    with_attachment(r, attachment(1000, false));
    refused(r, "report.attachments[0].sha256");
}

static void test_attachment_name_with_path(void **state)
{
    (void)state;
    Minyi__V1__Report *r = report();
    Minyi__V1__Attachment *a = attachment(100, true);
    itset(&a->name, "../etc/passwd");
    with_attachment(r, a);
    refused(r, "report.attachments[0].name");
}

/* ---- classification marks --------------------------------------------------- */

static void mark_in(const char *mark, bool in_title)
{
    char text[256];
    Minyi__V1__Report *r = report();
    snprintf(text, sizeof(text), "%s 关于某项工作的情况", mark);
    itset(in_title ? &r->title : &r->situation, text);
    refused(r, in_title ? "report.title" : "report.situation");
}

static void test_mark_juemi_title(void **state) { (void)state; mark_in("绝密", true); }
static void test_mark_juemi_body(void **state) { (void)state; mark_in("绝密", false); }
static void test_mark_jimi_star_title(void **state) { (void)state; mark_in("机密★", true); }
static void test_mark_jimi_star_body(void **state) { (void)state; mark_in("机密★", false); }
static void test_mark_mimi_title(void **state) { (void)state; mark_in("秘密", true); }
static void test_mark_mimi_body(void **state) { (void)state; mark_in("秘密★1年", false); }

/* A mark split by a zero-width space still reads as a mark. */
static void test_mark_split_by_invisible(void **state)
{
    (void)state;
    mark_in("机\xE2\x80\x8B密", false);
}

/* ---- NFC -------------------------------------------------------------------- */

/* "Café" sent decomposed (e + U+0301) is stored and shown composed (U+00E9). */
static void test_nfc_decomposed_stored_composed(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX], title[256];
    struct frame_arena *arena = NULL;
    Minyi__V1__Report *r = report();
    itset(&r->title, "Cafe\xCC\x81 周边停车难问题");
    accepted(r, receipt);

    char *stored = itdb_text(env.conninfo, "SELECT title FROM reports WHERE receipt = $1", 1,
                             (const char *const[]){ receipt });
    assert_non_null(stored);
    assert_string_equal(stored, "Caf\xC3\xA9 周边停车难问题");
    free(stored);

    Frame *f = itstatus(conn, receipt, &arena);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    itcopy(&f->status_ok->title, title, sizeof(title));
    assert_string_equal(title, "Caf\xC3\xA9 周边停车难问题");
    frame_arena_free(arena);
}

/* A composed retry of a decomposed submission is the same payload. */
static void test_nfc_retry_is_same_payload(void **state)
{
    (void)state;
    char first[IT_RECEIPT_MAX], second[IT_RECEIPT_MAX], crid[37];
    struct frame_arena *arena = NULL;
    Minyi__V1__Report *r = report();
    itcopy(&r->client_report_id, crid, sizeof(crid));
    itset(&r->title, "Cafe\xCC\x81 的建议");
    itsubmit_ok(conn, r, first);
    itset(&r->title, "Caf\xC3\xA9 的建议");
    Frame *f = itsubmit(conn, r, &arena);
    itexpect_receipt(f, second);
    assert_true(f->submit_ok->duplicate);
    assert_string_equal(first, second);
    frame_arena_free(arena);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* ---- the connection survives a refusal -------------------------------------- */

static void test_bad_request_keeps_connection(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    Minyi__V1__Report *bad = report();
    itset(&bad->region, "33040a");
    itsubmit_invalid(c, bad, "report.region");
    Minyi__V1__Report *bad2 = report();
    itset_raw(&bad2->title, "\xC0\xAF", 2);
    itsubmit_invalid(c, bad2, "report.title");
    Minyi__V1__Report *good = report();
    itsubmit_ok(c, good, NULL);
    protobuf_c_message_free_unpacked(&bad->base, NULL);
    protobuf_c_message_free_unpacked(&bad2->base, NULL);
    protobuf_c_message_free_unpacked(&good->base, NULL);
    client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_title),
        cmocka_unit_test(test_blank_title),
        cmocka_unit_test(test_missing_situation),
        cmocka_unit_test(test_missing_analysis_normal),
        cmocka_unit_test(test_missing_suggestions_normal),
        cmocka_unit_test(test_missing_category),
        cmocka_unit_test(test_missing_urgency),
        cmocka_unit_test(test_missing_reporter),
        cmocka_unit_test(test_missing_reporter_name),
        cmocka_unit_test(test_missing_reporter_unit),
        cmocka_unit_test(test_missing_reporter_kind),
        cmocka_unit_test(test_missing_region),
        cmocka_unit_test(test_missing_phone),
        cmocka_unit_test(test_missing_client_report_id),
        cmocka_unit_test(test_malformed_client_report_id),
        cmocka_unit_test(test_missing_report),
        cmocka_unit_test(test_urgent_without_analysis_and_suggestions),
        cmocka_unit_test(test_title_at_limit_accepted),
        cmocka_unit_test(test_title_too_long),
        cmocka_unit_test(test_situation_too_long),
        cmocka_unit_test(test_situation_at_limit_accepted),
        cmocka_unit_test(test_utf8_overlong),
        cmocka_unit_test(test_utf8_surrogate),
        cmocka_unit_test(test_utf8_truncated),
        cmocka_unit_test(test_utf8_invalid_in_body),
        cmocka_unit_test(test_utf8_every_class_in_situation),
        cmocka_unit_test(test_nul_in_title),
        cmocka_unit_test(test_control_char_in_title),
        cmocka_unit_test(test_newline_in_title_refused),
        cmocka_unit_test(test_newline_in_situation_accepted),
        cmocka_unit_test(test_control_char_in_reporter_name),
        cmocka_unit_test(test_unknown_category),
        cmocka_unit_test(test_category_beyond_int32),
        cmocka_unit_test(test_unknown_reporter_kind),
        cmocka_unit_test(test_region_five_digits),
        cmocka_unit_test(test_region_with_letter),
        cmocka_unit_test(test_region_seven_digits),
        cmocka_unit_test(test_phone_with_letters),
        cmocka_unit_test(test_attachment_accepted),
        cmocka_unit_test(test_attachment_too_large),
        cmocka_unit_test(test_attachment_sha256_mismatch),
        cmocka_unit_test(test_attachment_name_with_path),
        cmocka_unit_test(test_mark_juemi_title),
        cmocka_unit_test(test_mark_juemi_body),
        cmocka_unit_test(test_mark_jimi_star_title),
        cmocka_unit_test(test_mark_jimi_star_body),
        cmocka_unit_test(test_mark_mimi_title),
        cmocka_unit_test(test_mark_mimi_body),
        cmocka_unit_test(test_mark_split_by_invisible),
        cmocka_unit_test(test_nfc_decomposed_stored_composed),
        cmocka_unit_test(test_nfc_retry_is_same_payload),
        cmocka_unit_test(test_bad_request_keeps_connection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
