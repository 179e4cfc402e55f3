/*
 * it_auth: who may talk to the gateway.  A client without a certificate
 * and a certificate from another CA are refused in the TLS handshake; a
 * certificate the CA signed but nobody registered, and a disabled
 * principal, get PERMISSION_DENIED on field "certificate" and a closed
 * connection; an editor may not submit (field "principal.kind").  None of
 * them leaves a row behind.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "client_err.h"
#include "itkit.h"

/* A refusal must come promptly, not as a timeout of the client's wait. */
#define REFUSAL_MAX_MS 5000

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    if (!itenv_up(&env, NULL))
        return -1;
    return tprincipal_add(env.conninfo, "inactive", "contact", IT_REGION, false) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_down(&env) == 0 ? 0 : -1;
}

static long long report_rows(void)
{
    return tdb_scalar(env.conninfo, "SELECT count(*) FROM reports", 0, NULL);
}

/*
 * Expects the TLS handshake to fail for certname.  In TLS 1.3 the client
 * finishes its side of the handshake before the server has checked the
 * client's certificate, so the refusal may show up either in
 * client_connect or as an alert or close on the first read.  Either way no
 * answer frame may arrive, and the refusal must not be a timeout.
 */
static void expect_handshake_refused(const char *certname)
{
    char err[512];
    long long t0 = itnow_ms();
    long long rows = report_rows();
    struct client_conn *c = ittry_connect(&env, certname, err, sizeof(err));
    if (c != NULL) {
        Minyi__V1__Report *r = tmake_report(NULL, NULL);
        assert_non_null(r);
        struct frame_arena *arena = NULL;
        Frame f = MINYI__V1__FRAME__INIT;
        Minyi__V1__SubmitRequest req = MINYI__V1__SUBMIT_REQUEST__INIT;
        req.report = r;
        f.id = 1;
        f.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
        f.submit = &req;
        /* The send may already fail on the closed connection; the read decides. */
        bool sent = client_send(c, &f);
        Frame *answer = sent ? client_recv(c, &arena, err, sizeof(err)) : NULL;
        if (answer != NULL)
            fail_msg("%s: the gateway answered a request (body %d) instead of refusing the "
                     "handshake", certname ? certname : "no certificate", answer->body_case);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        client_close(c);
        if (sent && client_err_is(err, CLIENT_ERR_TIMEOUT))
            fail_msg("%s: no refusal, the client timed out: %s",
                     certname ? certname : "no certificate", err);
    } else {
        if (!client_err_is(err, CLIENT_ERR_TLS) && !client_err_is(err, CLIENT_ERR_CLOSED))
            fail_msg("%s: connect failed for another reason than TLS: %s",
                     certname ? certname : "no certificate", err);
    }
    assert_true(itnow_ms() - t0 < REFUSAL_MAX_MS);
    assert_int_equal(report_rows(), rows);
}

/*
 * Expects the gateway to accept the handshake, answer the first request
 * with PERMISSION_DENIED on "certificate", and close the connection.
 */
static void expect_principal_refused(const char *certname)
{
    char err[512];
    struct frame_arena *arena = NULL;
    long long rows = report_rows();
    struct client_conn *c = itconnect(&env, certname);
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsend_submit(c, 42, r);
    Frame *f = itrecv(c, &arena);
    assert_int_equal(f->id, 42);
    itexpect_error(f, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "certificate");
    frame_arena_free(arena);
    arena = NULL;

    /* Then the connection is closed: nothing more is answered. */
    long long t0 = itnow_ms();
    Frame *more = client_send(c, &(Frame)MINYI__V1__FRAME__INIT)
                      ? client_recv(c, &arena, err, sizeof(err))
                      : NULL;
    if (more != NULL)
        fail_msg("%s: the connection stayed open after PERMISSION_DENIED", certname);
    if (client_err_is(err, CLIENT_ERR_TIMEOUT))
        fail_msg("%s: the connection was not closed: %s", certname, err);
    assert_true(itnow_ms() - t0 < REFUSAL_MAX_MS);
    client_close(c);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(report_rows(), rows);
}

static void test_no_certificate_refused(void **state)
{
    (void)state;
    expect_handshake_refused(NULL);
}

static void test_other_ca_refused(void **state)
{
    (void)state;
    expect_handshake_refused("stranger");
}

static void test_unknown_certificate_denied(void **state)
{
    (void)state;
    expect_principal_refused("unknown");
}

static void test_inactive_principal_denied(void **state)
{
    (void)state;
    expect_principal_refused("inactive");
}

/* A status request from an unregistered certificate is refused the same way. */
static void test_unknown_certificate_status_denied(void **state)
{
    (void)state;
    struct frame_arena *arena = NULL;
    struct client_conn *c = itconnect(&env, "unknown");
    itsend_status(c, 9, "330400-2026-000001");
    Frame *f = itrecv(c, &arena);
    assert_int_equal(f->id, 9);
    itexpect_error(f, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "certificate");
    frame_arena_free(arena);
    client_close(c);
}

/* An editor is a registered, active principal, but not one who submits. */
static void test_editor_may_not_submit(void **state)
{
    (void)state;
    struct frame_arena *arena = NULL;
    long long rows = report_rows();
    struct client_conn *c = itconnect(&env, "editor1");
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    Frame *f = itsubmit(c, r, &arena);
    itexpect_error(f, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    frame_arena_free(arena);
    /* The connection stays open for what the editor may do. */
    f = itlist(c, 0, "", &arena);
    itexpect_error(f, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    frame_arena_free(arena);
    client_close(c);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(report_rows(), rows);
}

/* The registered contact point gets through, so the refusals above are
 * about the certificates and not about a broken gateway. */
static void test_registered_contact_accepted(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(c, r, NULL);
    client_close(c);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* A principal disabled in the database is refused on a new connection. */
static void test_disabled_principal_refused_on_new_connection(void **state)
{
    (void)state;
    itdb_exec(env.conninfo, "UPDATE principals SET active = false WHERE name = 'contact2'");
    expect_principal_refused("contact2");
    itdb_exec(env.conninfo, "UPDATE principals SET active = true WHERE name = 'contact2'");
    struct client_conn *c = itconnect(&env, "contact2");
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(c, r, NULL);
    client_close(c);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* How a raw TLS client's attempt ended. */
enum raw_outcome {
    RAW_ANSWERED,          /* handshake done and a status request answered */
    RAW_ALERT_NO_ALPN,     /* handshake failed: alert no_application_protocol */
    RAW_OTHER,             /* anything else (e.g. handshake done, then closed) */
};

/*
 * A TLS client of our own, because the client library always offers
 * "minyi/1": connects with contact1's certificate, offering alpn (wire
 * form, NULL for no ALPN extension at all), and says how it ended: the
 * gateway answered a status request (it accepted the connection), or it
 * refused the handshake with the alert no_application_protocol, or
 * something else.
 */
static enum raw_outcome raw_tls(const unsigned char *alpn, unsigned alpn_len)
{
    enum raw_outcome outcome = RAW_OTHER;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION), 1);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, tcert("ca", "crt"), NULL), 1);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, tcert("contact1", "crt")), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, tcert("contact1", "key"), SSL_FILETYPE_PEM), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (alpn != NULL)
        assert_int_equal(SSL_CTX_set_alpn_protos(ctx, alpn, alpn_len), 0);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)env.gw.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    ERR_clear_error();
    if (SSL_connect(ssl) == 1) {
        /* Status request id 7 for a receipt nobody has (see PROTOCOL.md 2.3). */
        static const unsigned char frame[] = {
            0x00, 0x00, 0x00, 0x18, 0x08, 0x07, 0x62, 0x14, 0x0a, 0x12, '3', '3', '0', '4',
            '0', '0', '-', '2', '0', '2', '6', '-', '0', '0', '0', '0', '1', '7',
        };
        unsigned char hdr[4];
        if (SSL_write(ssl, frame, sizeof(frame)) == (int)sizeof(frame) &&
            SSL_read(ssl, hdr, sizeof(hdr)) == (int)sizeof(hdr))
            outcome = RAW_ANSWERED;
    } else if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL) {
        outcome = RAW_ALERT_NO_ALPN;
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return outcome;
}

/* The protocol version is the ALPN identifier: a client that does not
 * agree on minyi/1 fails the handshake with an alert (PROTOCOL.md section
 * 1), whether it offers another protocol or none at all. */
static void test_alpn_required(void **state)
{
    (void)state;
    static const unsigned char ours[] = "\x07minyi/1";
    static const unsigned char other[] = "\x07minyi/2";
    /* The control: the same raw client with the right ALPN is answered. */
    assert_int_equal(raw_tls(ours, sizeof(ours) - 1), RAW_ANSWERED);
    if (raw_tls(other, sizeof(other) - 1) != RAW_ALERT_NO_ALPN)
        fail_msg("a client offering only minyi/2 did not fail the handshake with an alert");
    if (raw_tls(NULL, 0) != RAW_ALERT_NO_ALPN)
        fail_msg("a client offering no ALPN at all did not fail the handshake with an alert");
}

int main(void)
{
    /* The raw client writes to connections the gateway has closed. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered_contact_accepted),
        cmocka_unit_test(test_no_certificate_refused),
        cmocka_unit_test(test_other_ca_refused),
        cmocka_unit_test(test_unknown_certificate_denied),
        cmocka_unit_test(test_inactive_principal_denied),
        cmocka_unit_test(test_unknown_certificate_status_denied),
        cmocka_unit_test(test_editor_may_not_submit),
        cmocka_unit_test(test_disabled_principal_refused_on_new_connection),
        cmocka_unit_test(test_alpn_required),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
