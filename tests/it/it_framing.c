/*
 * it_framing: the framing rules of PROTOCOL.md section 2 against a real
 * gateway.  An oversized length prefix is refused before the body is sent,
 * an undecodable body and a decode-budget bomb are MALFORMED_FRAME, both
 * closing the connection; a frame without a request body is UNSUPPORTED
 * and the connection lives on; a frame that never completes and an idle
 * connection are closed by their deadlines.
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

#include "client_err.h"
#include "itkit.h"

#define MAX_FRAME 65536          /* configured max_frame_bytes */
#define DECODE_BUDGET 131072     /* configured decode_budget_bytes */
#define FRAME_TIMEOUT_MS 1000
#define IDLE_TIMEOUT_MS 3000
#define BOMB_ATTACHMENTS 8000    /* empty sub-messages: 2 bytes each on the wire */
#define SLACK_MS 3000            /* scheduling slack on top of a deadline */
/* protobuf-c's ProtobufCWireType has no name for the (deprecated) groups. */
#define WIRE_START_GROUP ((ProtobufCWireType)3)

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    char extra[256];
    snprintf(extra, sizeof(extra),
             "[gateway]\nmax_frame_bytes = %d\ndecode_budget_bytes = %d\n"
             "frame_timeout_ms = %d\nidle_timeout_ms = %d\n",
             MAX_FRAME, DECODE_BUDGET, FRAME_TIMEOUT_MS, IDLE_TIMEOUT_MS);
    return itenv_up(&env, extra) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_down(&env) == 0 ? 0 : -1;
}

/* Expects the gateway to close c: the next receive ends without a frame
 * and without waiting for the client's timeout. */
static void expect_closed(struct client_conn *c)
{
    char err[512];
    struct frame_arena *arena = NULL;
    Frame *f = client_recv(c, &arena, err, sizeof(err));
    if (f != NULL)
        fail_msg("expected the connection to close, got a frame with id %llu",
                 (unsigned long long)f->id);
    if (client_err_is(err, CLIENT_ERR_TIMEOUT))
        fail_msg("the connection was not closed: %s", err);
}

static void expect_conn_error(struct client_conn *c, int code, const char *field)
{
    struct frame_arena *arena = NULL;
    Frame *f = itrecv(c, &arena);
    assert_int_equal(f->id, 0);
    itexpect_error(f, code, field);
    frame_arena_free(arena);
}

/* Only the header is sent: the refusal must not wait for the body. */
static void test_length_over_maximum(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    const uint32_t len = MAX_FRAME + 1;
    const uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                             (uint8_t)len };
    assert_true(client_send_raw(c, hdr, sizeof(hdr)));
    expect_conn_error(c, MINYI__V1__ERROR_CODE__FRAME_TOO_LARGE, "frame.length");
    expect_closed(c);
    client_close(c);
}

static void test_huge_length_prefix(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    const uint8_t hdr[4] = { 0xff, 0xff, 0xff, 0xff };
    assert_true(client_send_raw(c, hdr, sizeof(hdr)));
    expect_conn_error(c, MINYI__V1__ERROR_CODE__FRAME_TOO_LARGE, "frame.length");
    expect_closed(c);
    client_close(c);
}

/* A frame of exactly the maximum is read (and then judged on its content). */
static void test_length_at_maximum_is_read(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    /* Pad the situation so the whole body is exactly MAX_FRAME bytes; the
     * padding is over the length limit, so the answer is INVALID_ARGUMENT
     * on report.situation, which shows the frame was read and decoded. */
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__SubmitRequest req = MINYI__V1__SUBMIT_REQUEST__INIT;
    req.report = r;
    f.id = 5;
    f.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
    f.submit = &req;
    size_t pad = MAX_FRAME;
    for (int round = 0; round < 4; round++) {
        char *text = malloc(pad + 1);
        assert_non_null(text);
        memset(text, 'x', pad);
        text[pad] = '\0';
        itset(&r->situation, text);
        free(text);
        size_t body = minyi__v1__frame__get_packed_size(&f);
        if (body == MAX_FRAME)
            break;
        pad = pad + MAX_FRAME - body;
    }
    assert_int_equal(minyi__v1__frame__get_packed_size(&f), MAX_FRAME);
    assert_true(client_send(c, &f));
    struct frame_arena *arena = NULL;
    Frame *a = itrecv(c, &arena);
    assert_int_equal(a->id, 5);
    itexpect_error(a, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "report.situation");
    frame_arena_free(arena);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
}

static void test_undecodable_body(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    /* Field 1 as a varint that never ends. */
    const uint8_t frame[] = { 0, 0, 0, 6, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff };
    assert_true(client_send_raw(c, frame, sizeof(frame)));
    expect_conn_error(c, MINYI__V1__ERROR_CODE__MALFORMED_FRAME, "frame");
    expect_closed(c);
    client_close(c);
}

/* Few bytes that would make protobuf-c allocate far more than the budget. */
static void test_decode_budget_bomb(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    /* Frame { id = 1, submit { report { attachments {} x N } } } */
    size_t att_bytes = 2 * (size_t)BOMB_ATTACHMENTS;       /* 5a 00 each */
    size_t report_len = att_bytes;
    /* report: tag 0a + varint(len) + payload; submit: tag 52 + varint + report. */
    uint8_t *buf = malloc(att_bytes + 64);
    assert_non_null(buf);
    size_t n = 4;
    buf[n++] = 0x08;
    buf[n++] = 0x01;
    size_t report_hdr = 1 + (report_len < 128 ? 1 : report_len < 16384 ? 2 : 3);
    size_t submit_len = report_hdr + report_len;
    buf[n++] = 0x52;                                        /* field 10, bytes */
    for (size_t v = submit_len;; v >>= 7) {
        buf[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    buf[n++] = 0x0a;                                        /* SubmitRequest.report */
    for (size_t v = report_len;; v >>= 7) {
        buf[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    for (int i = 0; i < BOMB_ATTACHMENTS; i++) {
        buf[n++] = 0x5a;                                    /* Report.attachments */
        buf[n++] = 0x00;
    }
    size_t body = n - 4;
    assert_true(body < MAX_FRAME);
    buf[0] = (uint8_t)(body >> 24);
    buf[1] = (uint8_t)(body >> 16);
    buf[2] = (uint8_t)(body >> 8);
    buf[3] = (uint8_t)body;
    /* The encoding is valid protobuf: the library decodes it without a budget. */
    Frame *check = minyi__v1__frame__unpack(NULL, body, buf + 4);
    assert_non_null(check);
    assert_int_equal(check->submit->report->n_attachments, BOMB_ATTACHMENTS);
    minyi__v1__frame__free_unpacked(check, NULL);

    assert_true(client_send_raw(c, buf, n));
    free(buf);
    expect_conn_error(c, MINYI__V1__ERROR_CODE__MALFORMED_FRAME, "frame");
    expect_closed(c);
    client_close(c);
}

/* No body, and a body that is an answer type: UNSUPPORTED, and the
 * connection goes on. */
static void test_unsupported_body_keeps_connection(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    struct frame_arena *arena = NULL;
    const uint8_t empty[] = { 0, 0, 0, 0 };
    assert_true(client_send_raw(c, empty, sizeof(empty)));
    Frame *f = itrecv(c, &arena);
    assert_int_equal(f->id, 0);
    itexpect_error(f, MINYI__V1__ERROR_CODE__UNSUPPORTED, "body");
    frame_arena_free(arena);

    Frame ans = MINYI__V1__FRAME__INIT;
    Minyi__V1__SubmitResponse ok = MINYI__V1__SUBMIT_RESPONSE__INIT;
    ans.id = 77;
    ans.body_case = MINYI__V1__FRAME__BODY_SUBMIT_OK;
    ans.submit_ok = &ok;
    assert_true(client_send(c, &ans));
    f = itrecv(c, &arena);
    assert_int_equal(f->id, 77);
    itexpect_error(f, MINYI__V1__ERROR_CODE__UNSUPPORTED, "body");
    frame_arena_free(arena);

    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(c, r, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
}

/* PROTOCOL.md section 7: unknown fields are ignored, also when they are
 * encoded as groups (wire types 3 and 4), both at the top of the frame and
 * inside the report; the group holds a varint, bytes, a fixed32 and a group
 * of its own. */
static void test_unknown_group_ignored(void **state)
{
    (void)state;
    /* Field 999's contents, ending with its end tag ((999 << 3) | 4). */
    static const uint8_t group[] = {
        0x08, 0x05,             /* field 1, varint 5 */
        0x12, 0x02, 'a', 'b',   /* field 2, bytes "ab" */
        0x1b,                   /* field 3, start group */
        0x0d, 1, 2, 3, 4,       /* field 1, fixed32 */
        0x1c,                   /* field 3, end group */
        0xbc, 0x3e,             /* field 999, end group */
    };
    struct client_conn *c = itconnect(&env, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itadd_unknown(&r->base, 999, WIRE_START_GROUP, group, sizeof(group));
    Minyi__V1__SubmitRequest req = MINYI__V1__SUBMIT_REQUEST__INIT;
    req.report = r;
    Frame f = MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
    f.submit = &req;
    ProtobufCMessageUnknownField top = {
        .tag = 999, .wire_type = WIRE_START_GROUP,
        .len = sizeof(group), .data = (uint8_t *)group,
    };
    f.base.n_unknown_fields = 1;
    f.base.unknown_fields = &top;

    struct frame_arena *arena = NULL;
    char receipt[IT_RECEIPT_MAX];
    Frame *ans = itcall(c, &f, &arena);
    itexpect_receipt(ans, receipt);
    frame_arena_free(arena);
    assert_int_equal(itdb_rows_receipt(env.conninfo, receipt), 1);
    /* The connection lives on. */
    ans = itstatus(c, receipt, &arena);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    frame_arena_free(arena);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
}

/* A frame whose bytes stop coming is closed at the frame deadline, even
 * though bytes keep trickling in (each one would reset a plain read
 * timeout). */
static void test_frame_deadline(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    const uint8_t part[] = { 0, 0, 0, 100, 0x08 };
    long long t0 = itnow_ms();
    assert_true(client_send_raw(c, part, sizeof(part)));
    /* Trickle a byte every 300 ms for longer than the frame deadline. */
    bool closed = false;
    for (int i = 0; i < (FRAME_TIMEOUT_MS + SLACK_MS) / 300 && !closed; i++) {
        itsleep_ms(300);
        const uint8_t b = 0x01;
        closed = !client_send_raw(c, &b, 1);
    }
    expect_closed(c);
    long long took = itnow_ms() - t0;
    assert_true(took >= FRAME_TIMEOUT_MS - 100);
    assert_true(took < FRAME_TIMEOUT_MS + 2 * SLACK_MS);
    client_close(c);
}

static void test_idle_deadline(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(c, r, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    long long t0 = itnow_ms();
    expect_closed(c);
    long long took = itnow_ms() - t0;
    assert_true(took >= IDLE_TIMEOUT_MS - 100);
    assert_true(took < IDLE_TIMEOUT_MS + SLACK_MS);
    client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_length_over_maximum),
        cmocka_unit_test(test_huge_length_prefix),
        cmocka_unit_test(test_length_at_maximum_is_read),
        cmocka_unit_test(test_undecodable_body),
        cmocka_unit_test(test_decode_budget_bomb),
        cmocka_unit_test(test_unsupported_body_keeps_connection),
        cmocka_unit_test(test_unknown_group_ignored),
        cmocka_unit_test(test_frame_deadline),
        cmocka_unit_test(test_idle_deadline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
