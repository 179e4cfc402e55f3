/*
 * it_pgdown: PostgreSQL stops and starts again under a running gateway.
 * Submissions get UNAVAILABLE quickly while it is down, never a receipt
 * without a row; once it is back the gateway recovers by itself, and
 * retrying the unanswered ids stores each exactly once.  Also: minyid
 * refuses to start on a database with fsync or synchronous_commit off.
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

#define IN_FLIGHT 20            /* submissions pipelined just before the stop */
#define WHILE_DOWN 5            /* submissions made while the database is down */
#define UNAVAILABLE_MAX_MS 5000 /* "quickly": well below the query timeout */
#define RECOVER_MAX_MS 30000    /* the gateway must be storing again within this */
#define RETRY_STEP_MS 200
#define SETTING_WAIT_MS 10000   /* a reloaded setting must show within this */

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    return itenv_up(&env, NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_down(&env) == 0 ? 0 : -1;
}

struct sub {
    Minyi__V1__Report *r;
    char crid[37];
    char receipt[IT_RECEIPT_MAX];   /* "" while no receipt came */
};

static void sub_new(struct sub *s)
{
    s->r = tmake_report(NULL, NULL);
    assert_non_null(s->r);
    itcopy(&s->r->client_report_id, s->crid, sizeof(s->crid));
    s->receipt[0] = '\0';
}

/* Records the answer to s: a receipt, or UNAVAILABLE (retry later). */
static void sub_answer(struct sub *s, const Frame *f)
{
    if (f->body_case == MINYI__V1__FRAME__BODY_SUBMIT_OK)
        itexpect_receipt(f, s->receipt);
    else
        itexpect_error(f, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL);
}

static void test_database_stops_and_returns(void **state)
{
    (void)state;
    struct sub flying[IN_FLIGHT], down[WHILE_DOWN];
    struct frame_arena *arena = NULL;
    char err[512];
    struct client_conn *c = itconnect(&env, "contact1");

    /* The gateway works and this connection is authenticated. */
    Minyi__V1__Report *warm = tmake_report(NULL, NULL);
    assert_non_null(warm);
    itsubmit_ok(c, warm, NULL);
    protobuf_c_message_free_unpacked(&warm->base, NULL);

    /* Submissions in flight while the database goes away. */
    for (int i = 0; i < IN_FLIGHT; i++) {
        sub_new(&flying[i]);
        itsend_submit(c, (uint64_t)i + 1, flying[i].r);
    }
    assert_true(tpg_stop(&env.pg, "fast"));
    int answered[IN_FLIGHT] = { 0 };
    for (int n = 0; n < IN_FLIGHT; n++) {
        Frame *f = itrecv(c, &arena);
        assert_true(f->id >= 1 && f->id <= IN_FLIGHT);
        assert_int_equal(answered[f->id - 1]++, 0);
        sub_answer(&flying[f->id - 1], f);
        frame_arena_free(arena);
        arena = NULL;
    }

    int got = 0;
    for (int i = 0; i < IN_FLIGHT; i++)
        got += flying[i].receipt[0] != '\0';
    fprintf(stderr, "pgdown: %d of %d in flight got receipts before the stop\n", got, IN_FLIGHT);

    /* While it is down: UNAVAILABLE, quickly, on the same connection. */
    for (int i = 0; i < WHILE_DOWN; i++) {
        sub_new(&down[i]);
        long long t0 = itnow_ms();
        Frame *f = itsubmit(c, down[i].r, &arena);
        long long took = itnow_ms() - t0;
        itexpect_error(f, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL);
        frame_arena_free(arena);
        arena = NULL;
        if (took > UNAVAILABLE_MAX_MS)
            fail_msg("UNAVAILABLE took %lld ms", took);
    }
    /* Status needs the database too. */
    {
        Frame *f = itstatus(c, "330400-2026-000001", &arena);
        itexpect_error(f, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL);
        frame_arena_free(arena);
        arena = NULL;
    }

    /* A new connection cannot be looked up: UNAVAILABLE on "certificate",
     * then the connection is closed. */
    struct client_conn *fresh = itconnect(&env, "contact2");
    Minyi__V1__Report *r2 = tmake_report(NULL, NULL);
    assert_non_null(r2);
    itsend_submit(fresh, 7, r2);
    Frame *f = itrecv(fresh, &arena);
    assert_int_equal(f->id, 7);
    itexpect_error(f, MINYI__V1__ERROR_CODE__UNAVAILABLE, "certificate");
    frame_arena_free(arena);
    arena = NULL;
    assert_null(client_recv(fresh, &arena, err, sizeof(err)));
    client_close(fresh);

    /* Back again: the same gateway, the same connection, storing again
     * within RECOVER_MAX_MS. */
    assert_true(tpg_start_again(&env.pg));
    long long t0 = itnow_ms();
    bool stored = false;
    while (!stored && itnow_ms() - t0 < RECOVER_MAX_MS) {
        f = itsubmit(c, r2, &arena);
        if (f->body_case == MINYI__V1__FRAME__BODY_SUBMIT_OK) {
            itexpect_receipt(f, NULL);
            stored = true;
        } else {
            itexpect_error(f, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL);
            itsleep_ms(RETRY_STEP_MS);
        }
        frame_arena_free(arena);
        arena = NULL;
    }
    if (!stored)
        fail_msg("the gateway did not store again within %d ms of the restart", RECOVER_MAX_MS);

    /* No receipt without a row. */
    for (int i = 0; i < IN_FLIGHT; i++)
        if (flying[i].receipt[0] != '\0')
            assert_int_equal(itdb_rows_receipt(env.conninfo, flying[i].receipt), 1);
    for (int i = 0; i < WHILE_DOWN; i++)
        assert_int_equal(itdb_rows_crid(env.conninfo, down[i].crid), 0);

    /* Retrying every id stores each exactly once; an id that had a
     * receipt gets the same one again. */
    struct sub *all[IN_FLIGHT + WHILE_DOWN];
    for (int i = 0; i < IN_FLIGHT; i++)
        all[i] = &flying[i];
    for (int i = 0; i < WHILE_DOWN; i++)
        all[IN_FLIGHT + i] = &down[i];
    for (int i = 0; i < IN_FLIGHT + WHILE_DOWN; i++) {
        char receipt[IT_RECEIPT_MAX];
        f = itsubmit(c, all[i]->r, &arena);
        itexpect_receipt(f, receipt);
        if (all[i]->receipt[0] != '\0') {
            assert_string_equal(receipt, all[i]->receipt);
            assert_true(f->submit_ok->duplicate);
        }
        frame_arena_free(arena);
        arena = NULL;
        assert_int_equal(itdb_rows_crid(env.conninfo, all[i]->crid), 1);
        assert_int_equal(itdb_rows_receipt(env.conninfo, receipt), 1);
        protobuf_c_message_free_unpacked(&all[i]->r->base, NULL);
    }

    /* New connections are looked up again. */
    fresh = itconnect(&env, "contact2");
    Minyi__V1__Report *r3 = tmake_report(NULL, NULL);
    assert_non_null(r3);
    itsubmit_ok(fresh, r3, NULL);
    client_close(fresh);
    protobuf_c_message_free_unpacked(&r2->base, NULL);
    protobuf_c_message_free_unpacked(&r3->base, NULL);
    client_close(c);
}

/* ALTER SYSTEM and a reload, then waits until new sessions see the value. */
static void set_system(const char *name, const char *value)
{
    char sql[256];
    if (value != NULL)
        snprintf(sql, sizeof(sql), "ALTER SYSTEM SET %s = %s", name, value);
    else
        snprintf(sql, sizeof(sql), "ALTER SYSTEM RESET %s", name);
    itdb_exec(env.conninfo, sql);
    itdb_exec(env.conninfo, "SELECT pg_reload_conf()");
    const char *want = value != NULL ? value : "on";
    long long t0 = itnow_ms();
    while (tdb_scalar(env.conninfo, "SELECT count(*) FROM pg_settings WHERE name = $1 AND setting = $2",
                      2, (const char *const[]){ name, want }) != 1) {
        if (itnow_ms() - t0 > SETTING_WAIT_MS)
            fail_msg("%s did not become %s", name, want);
        itsleep_ms(50);
    }
}

static void expect_refusal(const char *setting)
{
    struct tgw gw;
    if (tgw_start(&gw, env.conninfo, NULL)) {
        tgw_kill(&gw);
        fail_msg("minyid started although %s is off", setting);
    }
    assert_int_equal(gw.pid, 0);
    if (!tgw_log_contains(&gw, setting))
        fail_msg("minyid's refusal does not name %s", setting);
}

static void test_refuses_fsync_off(void **state)
{
    (void)state;
    set_system("fsync", "off");
    expect_refusal("fsync");
    set_system("fsync", NULL);
}

static void test_refuses_synchronous_commit_off(void **state)
{
    (void)state;
    set_system("synchronous_commit", "off");
    expect_refusal("synchronous_commit");
    set_system("synchronous_commit", NULL);

    /* With both on again a second gateway on the same database starts. */
    struct tgw gw;
    assert_true(tgw_start(&gw, env.conninfo, NULL));
    assert_int_equal(tgw_stop(&gw, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_database_stops_and_returns),
        cmocka_unit_test(test_refuses_fsync_off),
        cmocka_unit_test(test_refuses_synchronous_commit_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
