/*
 * it_limits: connections per source address, and requests in flight per
 * connection with backpressure.  A source address holding its maximum of
 * connections gets no more until one closes.  A connection with
 * max_inflight unanswered requests is no longer read from, so a client
 * that keeps writing meets a full socket instead of growing the gateway's
 * memory; when the answers drain, reading resumes and every request is
 * answered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "itkit.h"

#define PER_IP 4                 /* configured max_connections_per_ip */
#define MAX_INFLIGHT 2           /* configured max_inflight */
#define STALL_TIMEOUT_MS 1500    /* the writing client gives up after this without progress */
/* What the kernel's socket buffers and the gateway's input watermark can
 * take on loopback is a few megabytes; a gateway that kept reading would
 * take this much and more. */
#define WRITE_BOUND (48u << 20)
#define CHUNK_FRAMES 2048
#define PIPELINED 60
#define RETRY_MS 3000

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    char extra[256];
    snprintf(extra, sizeof(extra),
             "[gateway]\nmax_connections_per_ip = %d\nmax_inflight = %d\nrate_per_s = 0\n"
             "max_frame_bytes = 65536\n",
             PER_IP, MAX_INFLIGHT);
    return itenv_up(&env, extra) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_down(&env) == 0 ? 0 : -1;
}

static void status_answered(struct client_conn *c)
{
    struct frame_arena *arena = NULL;
    Frame *f = itstatus(c, "330400-2026-000001", &arena);
    itexpect_error(f, MINYI__V1__ERROR_CODE__NOT_FOUND, NULL);
    frame_arena_free(arena);
}

static void test_connections_per_address(void **state)
{
    (void)state;
    struct client_conn *c[PER_IP];
    char err[512];
    for (int i = 0; i < PER_IP; i++) {
        c[i] = itconnect(&env, "contact1");
        status_answered(c[i]);
    }
    struct client_conn *extra = ittry_connect(&env, "contact1", err, sizeof(err));
    if (extra != NULL) {
        struct frame_arena *arena = NULL;
        Minyi__V1__Frame req = MINYI__V1__FRAME__INIT;
        Minyi__V1__StatusRequest st = MINYI__V1__STATUS_REQUEST__INIT;
        st.receipt = frame_bytes("330400-2026-000001");
        req.body_case = MINYI__V1__FRAME__BODY_STATUS;
        req.status = &st;
        req.id = 1;
        Frame *f = client_call(extra, &req, &arena, err, sizeof(err));
        if (f != NULL)
            fail_msg("connection %d from one address was served", PER_IP + 1);
        client_close(extra);
    }
    assert_true(tgw_log_contains(&env.gw, "reason=max_connections_per_ip"));
    /* A closed connection frees its place (the gateway notices the close
     * in its own time). */
    client_close(c[0]);
    long long until = itnow_ms() + RETRY_MS;
    for (;;) {
        c[0] = ittry_connect(&env, "contact1", err, sizeof(err));
        if (c[0] != NULL)
            break;
        if (itnow_ms() > until)
            fail_msg("no connection after one was closed: %s", err);
        itsleep_ms(100);
    }
    status_answered(c[0]);
    for (int i = 0; i < PER_IP; i++)
        client_close(c[i]);
}

static uint8_t *status_frames(size_t *len)
{
    Minyi__V1__Frame req = MINYI__V1__FRAME__INIT;
    Minyi__V1__StatusRequest st = MINYI__V1__STATUS_REQUEST__INIT;
    st.receipt = frame_bytes("330400-2026-000001");
    req.body_case = MINYI__V1__FRAME__BODY_STATUS;
    req.status = &st;
    req.id = 7;
    size_t one = frame_encoded_size(&req);
    uint8_t *buf = malloc(one * CHUNK_FRAMES);
    assert_non_null(buf);
    for (size_t i = 0; i < CHUNK_FRAMES; i++)
        frame_encode_to(&req, buf + i * one);
    *len = one * CHUNK_FRAMES;
    return buf;
}

/* While the database holds every request, the gateway stops reading. */
static void test_backpressure_stops_reading(void **state)
{
    (void)state;
    PGconn *lock = PQconnectdb(env.conninfo);
    assert_int_equal(PQstatus(lock), CONNECTION_OK);
    PGresult *res = PQexec(lock, "BEGIN; LOCK TABLE reports IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);

    struct client_profile p;
    char err[512];
    tprofile(&p, "contact1", &env.gw);
    p.timeout_ms = STALL_TIMEOUT_MS;
    struct client_conn *c = client_connect(&p, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect: %s", err);
    size_t len, written = 0;
    uint8_t *chunk = status_frames(&len);
    while (written < WRITE_BOUND && client_send_raw(c, chunk, len))
        written += len;
    free(chunk);
    client_close(c);
    res = PQexec(lock, "ROLLBACK");
    PQclear(res);
    PQfinish(lock);
    print_message("bytes written before the gateway stopped reading: %zu\n", written);
    if (written >= WRITE_BOUND)
        fail_msg("the gateway kept reading past max_inflight: %zu bytes taken", written);
}

/* Reading resumes as answers drain: many pipelined requests, all answered. */
static void test_backpressure_resumes(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    for (int i = 0; i < PIPELINED; i++)
        itsend_status(c, 1000 + i, "330400-2026-000001");
    for (int i = 0; i < PIPELINED; i++) {
        struct frame_arena *arena = NULL;
        Frame *f = itrecv(c, &arena);
        itexpect_error(f, MINYI__V1__ERROR_CODE__NOT_FOUND, NULL);
        frame_arena_free(arena);
    }
    client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connections_per_address),
        cmocka_unit_test(test_backpressure_stops_reading),
        cmocka_unit_test(test_backpressure_resumes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
