/*
 * it_console: the browser's door ([console] port) from the outside, with
 * real TLS and a real minyid.  A browser's certificate finds its principal
 * exactly as on the protocol port; without a certificate, with an
 * unregistered or disabled one the console gives 403 and nothing else, and
 * a certificate of another CA or a revoked one fails the handshake.  Every
 * answer carries the security headers; a state change from another origin,
 * or without the console's header, is refused; malformed HTTP gets 4xx and
 * the protocol port carries on as before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itkit.h"
#include "webkit.h"

/* Bytes of a header block above the console's CONSOLE_HEADERS_MAX. */
#define CONSOLE_TEST_HEADER_BYTES 20000

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    char extra[PATH_MAX + 64];
    char cadir[PATH_MAX];
    snprintf(cadir, sizeof(cadir), "%s", tcert("ca", "crt"));
    char *slash = strrchr(cadir, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(extra, sizeof(extra), "[tls]\ncrl = %s/crl.pem\n", cadir);
    if (!itenv_up(&env, extra))
        return -1;
    if (tprincipal_add(env.conninfo, "inactive", "contact", IT_REGION, false) <= 0 ||
        tprincipal_add(env.conninfo, "revoked", "contact", IT_REGION, true) <= 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_teardown(&env);
}

static void expect_header(const struct tweb_answer *a, const char *name, const char *needle)
{
    char v[1024];
    if (!tweb_header(a, name, v, sizeof(v)))
        fail_msg("answer without %s:\n%s", name, a->headers);
    if (strstr(v, needle) == NULL)
        fail_msg("%s is \"%s\", without \"%s\"", name, v, needle);
}

/* The headers every answer carries, a refusal as much as a page. */
static void expect_security_headers(const struct tweb_answer *a)
{
    char csp[1024];
    expect_header(a, "Content-Security-Policy", "script-src 'self'");
    expect_header(a, "Content-Security-Policy", "frame-ancestors 'none'");
    assert_true(tweb_header(a, "Content-Security-Policy", csp, sizeof(csp)));
    assert_null(strstr(csp, "unsafe-inline"));
    assert_null(strstr(csp, "unsafe-eval"));
    expect_header(a, "X-Content-Type-Options", "nosniff");
    expect_header(a, "Strict-Transport-Security", "max-age=");
    expect_header(a, "Cache-Control", "no-store");
}

static void test_page_with_certificate(void **state)
{
    (void)state;
    struct tweb_answer a;
    if (tweb_call(&env.gw, "contact1", "GET", "/", NULL, NULL, &a) != 200)
        fail_msg("GET / answered %d (%s)", a.status, a.err);
    expect_security_headers(&a);
    expect_header(&a, "Content-Type", "text/html");
    assert_non_null(strstr(a.body, "社情民意"));
    /* The page loads its script from a file: no inline script to allow. */
    assert_null(strstr(a.body, "<script>"));
    tweb_answer_free(&a);
}

static void test_me_is_the_certificates_principal(void **state)
{
    (void)state;
    struct tweb_answer a;
    if (tweb_call(&env.gw, "editor1", "GET", "/api/me", NULL, NULL, &a) != 200)
        fail_msg("GET /api/me answered %d (%s)", a.status, a.err);
    expect_security_headers(&a);
    expect_header(&a, "Content-Type", "application/json");
    assert_non_null(strstr(a.body, "\"kind\":\"editor\""));
    assert_non_null(strstr(a.body, "\"name\":\"editor1\""));
    tweb_answer_free(&a);
}

/* 403 with the error and nothing of the page or the principal. */
static void expect_refused(const char *certname, const char *path)
{
    struct tweb_answer a;
    if (tweb_call(&env.gw, certname, "GET", path, NULL, NULL, &a) != 403)
        fail_msg("%s with %s answered %d (%s)", path, certname ? certname : "no certificate",
                 a.status, a.err);
    expect_security_headers(&a);
    assert_non_null(strstr(a.body, "PERMISSION_DENIED"));
    assert_non_null(strstr(a.body, "\"field\":\"certificate\""));
    assert_null(strstr(a.body, "社情民意"));
    assert_null(strstr(a.body, "\"kind\""));
    tweb_answer_free(&a);
}

static void test_no_certificate_gets_no_data(void **state)
{
    (void)state;
    expect_refused(NULL, "/");
    expect_refused(NULL, "/api/me");
    expect_refused(NULL, "/console.css");
}

static void test_unregistered_and_disabled_get_no_data(void **state)
{
    (void)state;
    expect_refused("unknown", "/");
    expect_refused("unknown", "/api/me");
    expect_refused("inactive", "/api/me");
}

/* Disabling a principal takes effect at its very next request. */
static void test_disabled_at_next_request(void **state)
{
    (void)state;
    struct tweb_answer a;
    assert_int_equal(tweb_call(&env.gw, "contact2", "GET", "/api/me", NULL, NULL, &a), 200);
    tweb_answer_free(&a);
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)env.contact2);
    assert_true(tdb_exec(env.conninfo, "UPDATE principals SET active = false WHERE id = $1", 1,
                         (const char *const[]){ id }));
    expect_refused("contact2", "/api/me");
    assert_true(tdb_exec(env.conninfo, "UPDATE principals SET active = true WHERE id = $1", 1,
                         (const char *const[]){ id }));
}

static void test_foreign_and_revoked_fail_handshake(void **state)
{
    (void)state;
    struct tweb_answer a;
    assert_int_equal(tweb_call(&env.gw, "stranger", "GET", "/api/me", NULL, NULL, &a), -1);
    assert_null(a.body);
    assert_int_equal(tweb_call(&env.gw, "revoked", "GET", "/api/me", NULL, NULL, &a), -1);
    assert_null(a.body);
}

static void test_cross_origin_post_refused(void **state)
{
    (void)state;
    struct tweb_answer a;
    char own[128];
    snprintf(own, sizeof(own), "Origin: https://127.0.0.1:%d\r\n", env.gw.console_port);
    static const char *const bad[] = {
        "",                                                        /* no Origin at all */
        "Origin: https://evil.example\r\nX-Minyi-Console: 1\r\n",  /* another origin */
        "Origin: null\r\nX-Minyi-Console: 1\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (tweb_call(&env.gw, "editor1", "POST", "/api/me", bad[i], "{}", &a) != 403)
            fail_msg("POST with \"%s\" answered %d", bad[i], a.status);
        assert_non_null(strstr(a.body, "\"field\":\"origin\""));
        expect_security_headers(&a);
        tweb_answer_free(&a);
    }
    /* The right origin, but without the console's own header (a plain
     * form of another page could send no header of its choosing). */
    assert_int_equal(tweb_call(&env.gw, "editor1", "POST", "/api/me", own, "{}", &a), 403);
    assert_non_null(strstr(a.body, "\"field\":\"origin\""));
    tweb_answer_free(&a);
    /* Both: the request reaches the API (which has no POST /api/me). */
    char both[192];
    snprintf(both, sizeof(both), "%sX-Minyi-Console: 1\r\n", own);
    assert_int_equal(tweb_call(&env.gw, "editor1", "POST", "/api/me", both, "{}", &a), 404);
    tweb_answer_free(&a);
}

static void test_paths_outside_the_pages(void **state)
{
    (void)state;
    static const char *const paths[] = { "/../minyid.conf", "/%2e%2e/etc/passwd", "/.hidden",
                                         "/nope.html", "/api/nothing" };
    struct tweb_answer a;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        int st = tweb_call(&env.gw, "editor1", "GET", paths[i], NULL, NULL, &a);
        if (st < 400 || st > 499)
            fail_msg("GET %s answered %d", paths[i], st);
        expect_security_headers(&a);
        tweb_answer_free(&a);
    }
    /* Methods the console does not serve; OPTIONS above all, since a
     * preflight granted would let another origin send the console's header. */
    static const char *const methods[] = { "DELETE", "PUT", "OPTIONS", "PATCH" };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (tweb_call(&env.gw, "editor1", methods[i], "/api/me", NULL, NULL, &a) != 405)
            fail_msg("%s answered %d", methods[i], a.status);
        expect_security_headers(&a);
        char allow[64];
        assert_false(tweb_header(&a, "Access-Control-Allow-Origin", allow, sizeof(allow)));
        tweb_answer_free(&a);
    }
}

/* Malformed HTTP, an oversized header block and an oversized body get 4xx;
 * the protocol port serves a submission meanwhile as ever. */
static void test_malformed_http_leaves_protocol_alone(void **state)
{
    (void)state;
    struct tweb_answer a;
    char big[CONSOLE_TEST_HEADER_BYTES];
    memset(big, 'a', sizeof(big));
    memcpy(big, "X-Big: ", 7);
    memcpy(big + sizeof(big) - 3, "\r\n", 3);
    int st = tweb_call(&env.gw, "editor1", "GET", "/api/me", big, NULL, &a);
    if (st < 400 || st > 499)
        fail_msg("a %zu-byte header answered %d (%s)", sizeof(big), st, a.err);
    tweb_answer_free(&a);
    st = tweb_call(&env.gw, "editor1", "GET / HTTP/1.1\r\nBroken", "line", NULL, NULL, &a);
    if (st < 400 || st > 499)
        fail_msg("a broken request line answered %d (%s)", st, a.err);
    tweb_answer_free(&a);

    struct client_conn *c = itconnect(&env, "contact1");
    struct frame_arena *ar = NULL;
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    Frame *f = itsubmit(c, r, &ar);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_SUBMIT_OK);
    frame_arena_free(ar);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_with_certificate),
        cmocka_unit_test(test_me_is_the_certificates_principal),
        cmocka_unit_test(test_no_certificate_gets_no_data),
        cmocka_unit_test(test_unregistered_and_disabled_get_no_data),
        cmocka_unit_test(test_disabled_at_next_request),
        cmocka_unit_test(test_foreign_and_revoked_fail_handshake),
        cmocka_unit_test(test_cross_origin_post_refused),
        cmocka_unit_test(test_paths_outside_the_pages),
        cmocka_unit_test(test_malformed_http_leaves_protocol_alone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
