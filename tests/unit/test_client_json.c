/*
 * Unit tests for client_report_from_json: what a contact point writes in a
 * report file becomes the Report the gateway receives, and mistakes in the
 * file are named by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"

#define ERRLEN 512

/* SHA-256 of "hello". */
static const uint8_t hello_sha256[32] = {
    0x2c, 0xf2, 0x4d, 0xba, 0x5f, 0xb0, 0xa3, 0x0e, 0x26, 0xe8, 0x3b, 0x2a, 0xc5, 0xb9, 0xe2, 0x9e,
    0x1b, 0x16, 0x1e, 0x5c, 0x1f, 0xa7, 0x42, 0x5e, 0x73, 0x04, 0x33, 0x62, 0x93, 0x8b, 0x98, 0x24,
};

static void assert_bytes(const ProtobufCBinaryData *b, const char *s)
{
    assert_int_equal(b->len, strlen(s));
    if (b->len > 0)
        assert_memory_equal(b->data, s, b->len);
}

static void free_report(Minyi__V1__Report *r)
{
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Parses text that must be refused and checks the error names field. */
static void assert_refused(const char *json, const char *base_dir, const char *field_prefix)
{
    char err[ERRLEN] = "";
    Minyi__V1__Report *r = client_report_from_json(json, base_dir, err, sizeof(err));
    if (r != NULL) {
        free_report(r);
        fail_msg("accepted: %s", json);
    }
    if (strncmp(err, field_prefix, strlen(field_prefix)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, field_prefix);
}

static void test_full_report(void **state)
{
    (void)state;
    const char *json =
        "{\"client_report_id\": \"6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b\","
        " \"title\": \"关于老旧小区加装电梯的建议\","
        " \"situation\": \"情况一\\n情况二\","
        " \"analysis\": \"原因\","
        " \"suggestions\": \"建议\","
        " \"category\": \"SOCIETY\","
        " \"urgency\": \"URGENT\","
        " \"reporter\": {\"name\": \"张三\", \"unit\": \"南湖区联系点\","
        "                \"kind\": \"CONTACT_POINT\", \"sector\": \"经济界\"},"
        " \"region\": \"330402\","
        " \"phone\": \"0573-12345678\","
        " \"attachments\": [{\"name\": \"a.txt\", \"media_type\": \"text/plain\","
        "                    \"content_b64\": \"aGVsbG8=\"}]}";
    char err[ERRLEN] = "";
    Minyi__V1__Report *r = client_report_from_json(json, NULL, err, sizeof(err));
    if (r == NULL)
        fail_msg("refused: %s", err);
    assert_bytes(&r->client_report_id, "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b");
    assert_bytes(&r->title, "关于老旧小区加装电梯的建议");
    assert_bytes(&r->situation, "情况一\n情况二");
    assert_bytes(&r->analysis, "原因");
    assert_bytes(&r->suggestions, "建议");
    assert_int_equal(r->category, MINYI__V1__CATEGORY__SOCIETY);
    assert_int_equal(r->urgency, MINYI__V1__URGENCY__URGENT);
    assert_non_null(r->reporter);
    assert_bytes(&r->reporter->name, "张三");
    assert_bytes(&r->reporter->unit, "南湖区联系点");
    assert_int_equal(r->reporter->kind, MINYI__V1__REPORTER_KIND__CONTACT_POINT);
    assert_bytes(&r->reporter->sector, "经济界");
    assert_bytes(&r->region, "330402");
    assert_bytes(&r->phone, "0573-12345678");
    assert_int_equal(r->n_attachments, 1);
    assert_bytes(&r->attachments[0]->name, "a.txt");
    assert_bytes(&r->attachments[0]->media_type, "text/plain");
    assert_bytes(&r->attachments[0]->content, "hello");
    assert_int_equal(r->attachments[0]->sha256.len, 32);
    assert_memory_equal(r->attachments[0]->sha256.data, hello_sha256, 32);

    /* The result must survive a pack/unpack round trip unchanged. */
    size_t n = minyi__v1__report__get_packed_size(r);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    minyi__v1__report__pack(r, buf);
    Minyi__V1__Report *back = minyi__v1__report__unpack(NULL, n, buf);
    assert_non_null(back);
    assert_bytes(&back->title, "关于老旧小区加装电梯的建议");
    free_report(back);
    free(buf);
    free_report(r);
}

static void test_enums_by_number_and_any_case(void **state)
{
    (void)state;
    char err[ERRLEN] = "";
    Minyi__V1__Report *r = client_report_from_json(
        "{\"category\": 99, \"urgency\": \"normal\", \"reporter\": {\"kind\": 7}}", NULL, err,
        sizeof(err));
    if (r == NULL)
        fail_msg("refused: %s", err);
    /* Unknown numbers go to the gateway unchanged: it decides. */
    assert_int_equal(r->category, 99);
    assert_int_equal(r->urgency, MINYI__V1__URGENCY__NORMAL);
    assert_int_equal(r->reporter->kind, MINYI__V1__REPORTER_KIND__CITIZEN);
    free_report(r);
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_uuid_generated(void **state)
{
    (void)state;
    char err[ERRLEN] = "";
    Minyi__V1__Report *a = client_report_from_json("{\"title\": \"t\"}", NULL, err, sizeof(err));
    Minyi__V1__Report *b = client_report_from_json("{}", NULL, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->client_report_id.len, 36);
    const char *u = (const char *)a->client_report_id.data;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(u[i], '-');
        else
            assert_true(is_hex(u[i]));
    }
    assert_int_equal(u[14], '4');                     /* version 4 */
    assert_non_null(strchr("89ab", u[19]));           /* RFC 4122 variant */
    assert_int_equal(b->client_report_id.len, 36);
    assert_memory_not_equal(a->client_report_id.data, b->client_report_id.data, 36);
    free_report(a);
    free_report(b);
}

static void test_nul_and_text_kept_byte_for_byte(void **state)
{
    (void)state;
    char err[ERRLEN] = "";
    /* The gateway must see a NUL to refuse it; the client neither drops it
     * nor trims spaces. */
    Minyi__V1__Report *r =
        client_report_from_json("{\"title\": \"a\\u0000b \"}", NULL, err, sizeof(err));
    if (r == NULL)
        fail_msg("refused: %s", err);
    assert_int_equal(r->title.len, 4);
    assert_memory_equal(r->title.data, "a\0b ", 4);
    free_report(r);
}

static void test_bad_json(void **state)
{
    (void)state;
    assert_refused("{\"title\": ", NULL, "report: invalid JSON");
    assert_refused("[1, 2]", NULL, "report: must be a JSON object");
    assert_refused("{\"title\": \"a\", \"title\": \"b\"}", NULL, "report: invalid JSON");
    assert_refused("{\"title\": 5}", NULL, "report.title: must be a string");
    assert_refused("{\"titel\": \"x\"}", NULL, "report.titel: unknown key");
    assert_refused("{\"category\": \"WEATHER\"}", NULL, "report.category: unknown value");
    /* The refusal lists what would have been accepted. */
    assert_refused("{\"category\": \"社会\"}", NULL,
                   "report.category: unknown value \"社会\" (one of ECONOMY POLITICS CULTURE "
                   "SOCIETY ECOLOGY PARTY_BUILDING OTHER, or a number)");
    assert_refused("{\"urgency\": true}", NULL, "report.urgency:");
    assert_refused("{\"reporter\": \"me\"}", NULL, "report.reporter: must be an object");
    assert_refused("{\"reporter\": {\"kind\": \"KING\"}}", NULL, "report.reporter.kind: unknown value");
    assert_refused("{\"reporter\": {\"age\": 3}}", NULL, "report.reporter.age: unknown key");
    assert_refused("{\"attachments\": {}}", NULL, "report.attachments: must be an array");
    assert_refused("{\"attachments\": [{\"name\": \"x\"}]}", NULL,
                   "report.attachments[0]: needs exactly one");
    assert_refused("{\"attachments\": [{\"content_b64\": \"aGVsbG8=\"}, {\"content_b64\": \"!!\"}]}",
                   NULL, "report.attachments[1].content_b64: is not valid base64");
    assert_refused("{\"attachments\": [{\"content_b64\": \"aGVsbG8=\", \"sha256\": \"abc\"}]}", NULL,
                   "report.attachments[0].sha256: must be 64 hexadecimal digits");
    assert_refused("{\"attachments\": [{\"content_b64\": \"\", \"colour\": \"red\"}]}", NULL,
                   "report.attachments[0].colour: unknown key");
}

static void test_sha256_given_is_kept(void **state)
{
    (void)state;
    char err[ERRLEN] = "";
    /* A wrong hash is sent as given, so the gateway can refuse it. */
    Minyi__V1__Report *r = client_report_from_json(
        "{\"attachments\": [{\"name\": \"a\", \"media_type\": \"text/plain\","
        " \"content_b64\": \"aGVsbG8=\","
        " \"sha256\": \"00000000000000000000000000000000000000000000000000000000000000FF\"}]}",
        NULL, err, sizeof(err));
    if (r == NULL)
        fail_msg("refused: %s", err);
    assert_int_equal(r->attachments[0]->sha256.len, 32);
    assert_int_equal(r->attachments[0]->sha256.data[0], 0);
    assert_int_equal(r->attachments[0]->sha256.data[31], 0xff);
    free_report(r);
}


static void write_file(const char *dir, const char *name, const char *content)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    unlink(p);
}

static void test_files_relative_to_base_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/minyi-json-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "situation.txt", "第一段\n第二段\n");
    write_file(dir, "hello.pdf", "hello");

    char err[ERRLEN] = "";
    Minyi__V1__Report *r = client_report_from_json(
        "{\"situation_file\": \"situation.txt\", \"attachments\": [{\"path\": \"hello.pdf\"}]}", dir,
        err, sizeof(err));
    if (r == NULL)
        fail_msg("refused: %s", err);
    assert_bytes(&r->situation, "第一段\n第二段\n");
    assert_int_equal(r->n_attachments, 1);
    assert_bytes(&r->attachments[0]->name, "hello.pdf");
    assert_bytes(&r->attachments[0]->media_type, "application/pdf");
    assert_bytes(&r->attachments[0]->content, "hello");
    assert_memory_equal(r->attachments[0]->sha256.data, hello_sha256, 32);
    free_report(r);

    /* Explicit name and media type win over the defaults. */
    r = client_report_from_json("{\"attachments\": [{\"path\": \"hello.pdf\", \"name\": \"x.bin\","
                                " \"media_type\": \"application/x-test\"}]}",
                                dir, err, sizeof(err));
    if (r == NULL)
        fail_msg("refused: %s", err);
    assert_bytes(&r->attachments[0]->name, "x.bin");
    assert_bytes(&r->attachments[0]->media_type, "application/x-test");
    free_report(r);

    assert_refused("{\"situation\": \"x\", \"situation_file\": \"situation.txt\"}", dir,
                   "report.situation: give either");
    assert_refused("{\"analysis_file\": \"missing.txt\"}", dir, "report.analysis_file: cannot read");
    assert_refused("{\"attachments\": [{\"path\": \"missing.pdf\"}]}", dir,
                   "report.attachments[0].path: cannot read");
    /* A failure after a successful attachment frees everything (ASan). */
    assert_refused("{\"attachments\": [{\"path\": \"hello.pdf\"}, {\"path\": 3}]}", dir,
                   "report.attachments[1].path: must be a string");

    remove_file(dir, "situation.txt");
    remove_file(dir, "hello.pdf");
    rmdir(dir);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(client_error_code_name(MINYI__V1__ERROR_CODE__INVALID_ARGUMENT),
                        "INVALID_ARGUMENT");
    assert_string_equal(client_error_code_name(MINYI__V1__ERROR_CODE__UNAVAILABLE), "UNAVAILABLE");
    assert_string_equal(client_error_code_name(12345), "UNKNOWN");
    assert_string_equal(client_state_name(MINYI__V1__REPORT_STATE__RECEIVED), "RECEIVED");
    assert_string_equal(client_state_name(MINYI__V1__REPORT_STATE__NOT_ADOPTED_ABOVE),
                        "NOT_ADOPTED_ABOVE");
    assert_string_equal(client_state_name(-3), "UNKNOWN");
}

static void test_profile(void **state)
{
    (void)state;
    char dir[] = "/tmp/minyi-profile-XXXXXX";
    char path[128];
    char err[ERRLEN] = "";
    struct client_profile p;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/contact.conf", dir);

    write_file(dir, "contact.conf",
               "[client]\nhost = 127.0.0.1\nport = 7999\nca = ca.crt\ncert = /abs/contact.crt\n"
               "key = keys/contact.key ; a comment\nserver_name = localhost\ntimeout_ms = 2500\n");
    if (!client_profile_load(path, &p, err, sizeof(err)))
        fail_msg("refused: %s", err);
    char want[256];
    assert_string_equal(p.host, "127.0.0.1");
    assert_string_equal(p.port, "7999");
    snprintf(want, sizeof(want), "%s/ca.crt", dir);
    assert_string_equal(p.ca, want);
    assert_string_equal(p.cert, "/abs/contact.crt");
    snprintf(want, sizeof(want), "%s/keys/contact.key", dir);
    assert_string_equal(p.key, want);
    assert_string_equal(p.server_name, "localhost");
    assert_int_equal(p.timeout_ms, 2500);

    /* Defaults, and server_name falls back to host. */
    write_file(dir, "contact.conf", "[client]\nca = ca.crt\n");
    if (!client_profile_load(path, &p, err, sizeof(err)))
        fail_msg("refused: %s", err);
    assert_string_equal(p.port, "7443");
    assert_string_equal(p.server_name, "127.0.0.1");
    assert_int_equal(p.timeout_ms, 10000);

    write_file(dir, "contact.conf", "[client]\nca = ca.crt\nsever_name = x\n");
    assert_false(client_profile_load(path, &p, err, sizeof(err)));
    assert_non_null(strstr(err, "sever_name"));
    write_file(dir, "contact.conf", "[client]\nca = ca.crt\ntimeout_ms = soon\n");
    assert_false(client_profile_load(path, &p, err, sizeof(err)));
    assert_non_null(strstr(err, "timeout_ms"));
    write_file(dir, "contact.conf", "[client]\nhost = 127.0.0.1\n");
    assert_false(client_profile_load(path, &p, err, sizeof(err)));
    assert_non_null(strstr(err, "ca is required"));
    remove_file(dir, "contact.conf");
    assert_false(client_profile_load(path, &p, err, sizeof(err)));
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_report),
        cmocka_unit_test(test_enums_by_number_and_any_case),
        cmocka_unit_test(test_uuid_generated),
        cmocka_unit_test(test_nul_and_text_kept_byte_for_byte),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_sha256_given_is_kept),
        cmocka_unit_test(test_files_relative_to_base_dir),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
