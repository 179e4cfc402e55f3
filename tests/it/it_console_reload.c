/*
 * it_console_reload: what the console's connections meet after they are
 * open.  A certificate the CRL revokes at SIGHUP gets no more data: its
 * live-queue stream closes at once, and a connection it keeps alive is
 * refused at its next request, while others' connections carry on.  On a
 * second gateway with a short frame_timeout_ms: a request trickled a byte
 * at a time (slowloris) — headers or body — is cut off at its deadline,
 * although each byte would restart evhttp's timeout, and the door serves
 * the next browser as before; a live-queue stream, on which the browser
 * sends nothing, outlives that timeout.
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

#include "itkit.h"
#include "webkit.h"

/* The test gateway's [gateway] frame_timeout_ms: a request must arrive
 * whole this long after its first byte. */
#define FRAME_TIMEOUT_MS 2000
/* Between two bytes of a trickled request: well below the timeout, so
 * only a deadline on the whole request cuts it off. */
#define TRICKLE_GAP_MS 300
/* A cut-off or a close must come within the deadline and this slack. */
#define SLACK_MS 4000
/* Below the console's ping interval (CONSOLE_EVENTS_PING_MS, 15 s). */
#define CLOSE_MAX_MS 10000

static struct itenv env;
static struct tgw quick;             /* the second gateway, frame_timeout_ms short */
static char cadir[64];

static int setup(void **state)
{
    (void)state;
    char cmd[512], extra[256];
    snprintf(cadir, sizeof(cadir), "/tmp/minyi-console-reload-XXXXXX");
    if (mkdtemp(cadir) == NULL)
        return -1;
    /* A CA directory of its own: the test revokes certificates in it. */
    snprintf(cmd, sizeof(cmd), "cp -rp '%s'/. '%s'/", MINYI_BINARY_DIR "/tests/certs", cadir);
    if (system(cmd) != 0)
        return -1;
    snprintf(extra, sizeof(extra), "[tls]\ncrl = %s/crl.pem\n[gateway]\nrate_per_s = 0\n", cadir);
    if (!itenv_up(&env, extra))
        return -1;
    snprintf(extra, sizeof(extra), "[gateway]\nrate_per_s = 0\nframe_timeout_ms = %d\n",
             FRAME_TIMEOUT_MS);
    if (!tgw_start(&quick, env.conninfo, extra))
        return -1;
    return tprincipal_add(env.conninfo, "editor2", "editor", IT_REGION, true) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    int quick_rc = quick.pid > 0 ? tgw_stop(&quick, SIGTERM) : 0;
    int rc = itenv_teardown(&env);
    if (quick_rc != 0) {
        fprintf(stderr, "the second minyid exited with %d after SIGTERM\n", quick_rc);
        rc = -1;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cadir);
    if (system(cmd) != 0)
        return -1;
    return rc;
}

/* GET /api/me on a kept-alive connection; true when its answer names
 * the principal. */
static bool me_again(struct tweb_stream *st, const char *name)
{
    char req[256], needle[64];
    snprintf(req, sizeof(req), "GET /api/me HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
             env.gw.console_port);
    snprintf(needle, sizeof(needle), "\"name\":\"%s\"", name);
    return tweb_stream_send(st, req) && tweb_stream_wait(st, needle, CLOSE_MAX_MS);
}

static void test_revoked_certificate_gets_no_more_data(void **state)
{
    (void)state;
    char cmd[1024];
    struct tweb_stream *kept = tweb_stream_connect(&env.gw, "editor2");
    struct tweb_stream *other = tweb_stream_connect(&env.gw, "editor1");
    assert_non_null(kept);
    assert_non_null(other);
    assert_true(me_again(kept, "editor2"));
    assert_true(me_again(kept, "editor2"));    /* kept alive: served twice */
    assert_true(me_again(other, "editor1"));
    struct tweb_stream *events = tweb_stream_open(&env.gw, "editor2", "/api/events");
    assert_non_null(events);
    assert_true(tweb_stream_wait(events, ": open", CLOSE_MAX_MS));

    snprintf(cmd, sizeof(cmd), "'%s/deploy/certs' revoke '%s' editor2 >/dev/null",
             MINYI_SOURCE_DIR, cadir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(kill(env.gw.pid, SIGHUP), 0);

    /* The stream ends at the reload, long before its next ping. */
    long long t0 = itnow_ms();
    assert_true(tweb_stream_closed(events, CLOSE_MAX_MS));
    print_message("the revoked certificate's stream closed %lld ms after SIGHUP\n",
                  itnow_ms() - t0);
    tweb_stream_close(events);
    /* The kept-alive connection gets a refusal, never the principal. */
    assert_false(me_again(kept, "editor2"));
    tweb_stream_close(kept);
    assert_true(tgw_log_contains(&env.gw, "reason=certificate_revoked"));
    /* Another certificate's connection carries on. */
    assert_true(me_again(other, "editor1"));
    tweb_stream_close(other);
}

/* Sends head, then trickles rest; the gateway must close the connection
 * within the deadline and its slack, before all of rest went out. */
static void expect_cut_off(const char *what, const char *head, const char *rest)
{
    struct tweb_stream *st = tweb_stream_connect(&quick, "editor1");
    assert_non_null(st);
    long long t0 = itnow_ms();
    assert_true(tweb_stream_send(st, head));
    int sent = tweb_stream_trickle(st, rest, TRICKLE_GAP_MS);
    long long took = itnow_ms() - t0;
    tweb_stream_close(st);
    if (sent < 0)
        fail_msg("%s: all %zu bytes trickled in %lld ms and the connection stayed open", what,
                 strlen(rest), took);
    print_message("%s: cut off after %lld ms (%d bytes trickled)\n", what, took, sent);
    if (took > FRAME_TIMEOUT_MS + SLACK_MS)
        fail_msg("%s: cut off only after %lld ms", what, took);
}

static void test_trickled_request_is_cut_off(void **state)
{
    (void)state;
    char head[256], rest[512];
    /* Headers: enough trickled bytes to outlast the deadline twice. */
    snprintf(head, sizeof(head), "GET /api/me HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n",
             quick.console_port);
    size_t n = 2 * FRAME_TIMEOUT_MS / TRICKLE_GAP_MS + 4;
    memset(rest, 'a', n);
    memcpy(rest, "X-Slow: ", 8);
    snprintf(rest + n, sizeof(rest) - n, "\r\n\r\n");
    expect_cut_off("headers", head, rest);
    /* A body announced whole and trickled. */
    snprintf(head, sizeof(head),
             "POST /api/op/queue HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: https://127.0.0.1:%d\r\n"
             "X-Minyi-Console: 1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             quick.console_port, quick.console_port, n);
    memset(rest, ' ', n);
    rest[0] = '{';
    rest[n - 1] = '}';
    rest[n] = '\0';
    expect_cut_off("body", head, rest);
    assert_true(tgw_log_contains(&quick, "event=console_deadline phase=request"));
    /* The door serves the next browser as before. */
    struct tweb_answer a;
    assert_int_equal(tweb_call(&quick, "editor1", "GET", "/api/me", NULL, NULL, &a), 200);
    tweb_answer_free(&a);
}

/* The browser sends nothing on a live-queue stream: it stays open past
 * the frame timeout, which only input would restart. */
static void test_stream_outlives_the_frame_timeout(void **state)
{
    (void)state;
    struct tweb_stream *st = tweb_stream_open(&quick, "editor1", "/api/events");
    assert_non_null(st);
    assert_true(tweb_stream_wait(st, ": open", CLOSE_MAX_MS));
    if (tweb_stream_closed(st, 2 * FRAME_TIMEOUT_MS + 1000))
        fail_msg("the stream closed within twice the frame timeout");
    tweb_stream_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revoked_certificate_gets_no_more_data),
        cmocka_unit_test(test_trickled_request_is_cut_off),
        cmocka_unit_test(test_stream_outlives_the_frame_timeout),
    };
    return itexit_strict(cmocka_run_group_tests(tests, setup, teardown));
}
