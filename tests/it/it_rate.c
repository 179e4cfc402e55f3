/*
 * it_rate: the per-principal token bucket.  A principal gets rate_burst
 * requests at once and rate_per_s a second after that, over all of its
 * connections; the rest are answered RESOURCE_EXHAUSTED with a
 * retry_after_ms after which a request is served again.  Other principals
 * are not affected.  A client that floods and never reads its refusals is
 * cut off.
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

#define RATE_PER_S 5
#define BURST 5
#define PIPELINED 20
#define REFILL_SLACK 2           /* tokens that may refill while the batch is read */
#define FLOOD_BOUND (32u << 20)  /* bytes a flooding client may write before it must be cut off */
#define FLOOD_FRAMES 4096        /* frames per write */
/* The flooding client's patience for one write, and the test's for the
 * gateway's log line: long enough that a slow (sanitizer, loaded) gateway
 * still cuts the client off before the client gives up by itself. */
#define FLOOD_TIMEOUT_MS 10000

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    char extra[128];
    snprintf(extra, sizeof(extra), "[gateway]\nrate_per_s = %d\nrate_burst = %d\n", RATE_PER_S,
             BURST);
    return itenv_up(&env, extra) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_down(&env) == 0 ? 0 : -1;
}

/* Sends one status request; returns its error code and retry_after_ms. */
static int status_code(struct client_conn *c, uint32_t *retry_after_ms)
{
    struct frame_arena *arena = NULL;
    Frame *f = itstatus(c, "330400-2026-000001", &arena);
    assert_non_null(f->error);
    int code = f->error->code;
    if (retry_after_ms != NULL)
        *retry_after_ms = f->error->retry_after_ms;
    frame_arena_free(arena);
    return code;
}

static void test_token_bucket(void **state)
{
    (void)state;
    struct client_conn *a = itconnect(&env, "contact1");
    struct client_conn *b = itconnect(&env, "contact1");
    struct client_conn *other = itconnect(&env, "contact2");
    for (int i = 0; i < PIPELINED; i++)
        itsend_status(a, 1 + i, "330400-2026-000001");
    int served = 0, exhausted = 0;
    uint32_t longest = 0;
    for (int i = 0; i < PIPELINED; i++) {
        struct frame_arena *arena = NULL;
        Frame *f = itrecv(a, &arena);
        assert_non_null(f->error);
        if (f->error->code == MINYI__V1__ERROR_CODE__NOT_FOUND) {
            served++;
        } else {
            itexpect_error(f, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "rate");
            assert_true(f->error->retry_after_ms > 0);
            assert_true(f->error->retry_after_ms <= 1000 / RATE_PER_S + 1);
            if (f->error->retry_after_ms > longest)
                longest = f->error->retry_after_ms;
            exhausted++;
        }
        frame_arena_free(arena);
    }
    print_message("served %d, refused %d, longest retry_after_ms %u\n", served, exhausted,
                  longest);
    assert_true(served >= BURST && served <= BURST + REFILL_SLACK);
    /* The bucket belongs to the principal, not to the connection. */
    uint32_t retry = 0;
    assert_int_equal(status_code(b, &retry), MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED);
    /* Another principal has its own. */
    assert_int_equal(status_code(other, NULL), MINYI__V1__ERROR_CODE__NOT_FOUND);
    /* After the advised wait the principal is served again. */
    itsleep_ms((int)retry + 20);
    assert_int_equal(status_code(b, NULL), MINYI__V1__ERROR_CODE__NOT_FOUND);
    client_close(a);
    client_close(b);
    client_close(other);
}

/* A client that floods requests and never reads the refusals is cut off
 * instead of growing the gateway's output buffer without bound. */
static void test_flood_without_reading_closed(void **state)
{
    (void)state;
    struct client_profile p;
    char err[512];
    tprofile(&p, "contact2", &env.gw);
    p.timeout_ms = FLOOD_TIMEOUT_MS;
    struct client_conn *c = client_connect(&p, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect: %s", err);
    Minyi__V1__Frame req = MINYI__V1__FRAME__INIT;
    Minyi__V1__StatusRequest st = MINYI__V1__STATUS_REQUEST__INIT;
    st.receipt = frame_bytes("330400-2026-000001");
    req.body_case = MINYI__V1__FRAME__BODY_STATUS;
    req.status = &st;
    req.id = 9;
    size_t one = frame_encoded_size(&req), written = 0;
    uint8_t *buf = malloc(one * FLOOD_FRAMES);
    assert_non_null(buf);
    for (size_t i = 0; i < FLOOD_FRAMES; i++)
        frame_encode_to(&req, buf + i * one);
    while (written < FLOOD_BOUND && client_send_raw(c, buf, one * FLOOD_FRAMES))
        written += one * FLOOD_FRAMES;
    free(buf);
    client_close(c);
    print_message("flooding client wrote %zu bytes before it was stopped\n", written);
    assert_true(written < FLOOD_BOUND);
    long long until = itnow_ms() + FLOOD_TIMEOUT_MS;
    while (!tgw_log_contains(&env.gw, "rate-limited answers not read") && itnow_ms() < until)
        itsleep_ms(100);
    assert_true(tgw_log_contains(&env.gw, "rate-limited answers not read"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_flood_without_reading_closed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
