/*
 * it_commit: the COMMIT of an intake batch fails, and no receipt is ever
 * sent for a report that is not stored.  Three ways it fails: a deferred
 * constraint trigger raises at COMMIT for one row; a serialization failure
 * is raised at COMMIT; the server process is killed while its COMMIT is
 * under way, after the batch's rows were inserted.  In each the client gets
 * a retryable error for what was not stored, a retry with the same
 * client_report_id stores it exactly once, and the neighbours in the batch
 * are stored and answered as PROTOCOL.md says (a bad row costs only
 * itself).  Every receipt a test received is checked against the database.
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

#define PER_TEST 40             /* submissions pipelined on one connection */
#define MARKED_AT 17            /* position of the report the database refuses */
#define COMMIT_FAIL_TITLE "IT-FAIL-AT-COMMIT"
#define SERIAL_FAIL_TITLE "IT-SERIALIZATION-AT-COMMIT"
#define SLEEP_TITLE "IT-SLEEP-AT-COMMIT"
#define SERIAL_FAILURES 2       /* commits the serialization trigger fails */
#define STR_(x) #x
#define STR(x) STR_(x)
#define COMMIT_SLEEP_S "60"     /* far longer than the test waits for it */
#define SEEN_SLEEP_MAX_MS 30000 /* the sleeping COMMIT must show within this */
#define RETRY_MAX_MS 60000      /* retries must all be stored within this */
#define RETRY_STEP_MS 200
/* How long the client waits for each answer after the kill: until
 * PostgreSQL has restarted and the gateway has reconnected, the reports
 * queued behind the killed batch are not answered, and on a loaded machine
 * that takes longer than a profile's default timeout. */
#define AFTER_KILL_TIMEOUT_MS 120000
/* The gateway must keep waiting for the sleeping COMMIT until the test has
 * killed its server process, however loaded the machine. */
#define EXTRA_INI "[database]\nquery_timeout_ms = 120000\n"

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    return itenv_up(&env, EXTRA_INI) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_teardown(&env);
}

struct sub {
    Minyi__V1__Report *r;
    char crid[37];
    char receipt[IT_RECEIPT_MAX];   /* "" while no receipt came */
    int errors;                     /* retryable errors answered so far */
};

static void subs_new(struct sub *s, size_t n, size_t marked, const char *title)
{
    for (size_t i = 0; i < n; i++) {
        s[i].r = tmake_report(NULL, NULL);
        assert_non_null(s[i].r);
        if (i == marked)
            itset(&s[i].r->title, title);
        itcopy(&s[i].r->client_report_id, s[i].crid, sizeof(s[i].crid));
        s[i].receipt[0] = '\0';
        s[i].errors = 0;
    }
}

static void subs_free(struct sub *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        protobuf_c_message_free_unpacked(&s[i].r->base, NULL);
}

/* Takes the answer to s: a receipt, or one of the errors after which
 * PROTOCOL.md §4.1 says to retry with the same id (code_ok). */
static void sub_answer(struct sub *s, const Frame *f, int code_ok)
{
    if (f->body_case == MINYI__V1__FRAME__BODY_SUBMIT_OK) {
        char receipt[IT_RECEIPT_MAX];
        itexpect_receipt(f, receipt);
        /* A retry answers the first receipt again. */
        if (s->receipt[0] != '\0')
            assert_string_equal(receipt, s->receipt);
        snprintf(s->receipt, sizeof s->receipt, "%s", receipt);
        return;
    }
    itexpect_error(f, code_ok, NULL);
    s->errors++;
}

/* Pipelines every submission on c, then reads every answer. */
static void submit_all(struct client_conn *c, struct sub *s, size_t n, int code_ok)
{
    for (size_t i = 0; i < n; i++)
        itsend_submit(c, (uint64_t)i + 1, s[i].r);
    for (size_t k = 0; k < n; k++) {
        struct frame_arena *arena = NULL;
        Frame *f = itrecv(c, &arena);
        assert_true(f->id >= 1 && f->id <= n);
        sub_answer(&s[f->id - 1], f, code_ok);
        frame_arena_free(arena);
    }
}

/* Retries, one at a time, every submission that has no receipt yet, until
 * each has one. */
static void retry_until_stored(struct client_conn *c, struct sub *s, size_t n, int code_ok)
{
    long long deadline = itnow_ms() + RETRY_MAX_MS;

    for (size_t i = 0; i < n; i++) {
        while (s[i].receipt[0] == '\0') {
            struct frame_arena *arena = NULL;
            if (itnow_ms() > deadline) {
                tgw_dump_log(&env.gw);
                fail_msg("submission %zu was not stored within %d ms", i, RETRY_MAX_MS);
            }
            Frame *f = itsubmit(c, s[i].r, &arena);
            sub_answer(&s[i], f, code_ok);
            frame_arena_free(arena);
            if (s[i].receipt[0] == '\0')
                itsleep_ms(RETRY_STEP_MS);
        }
    }
}

/* Each receipt names exactly one stored row, and each id is stored once. */
static void expect_each_stored_once(const struct sub *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i].receipt[0] != '\0')
            assert_int_equal(itdb_rows_receipt(env.conninfo, s[i].receipt), 1);
        assert_int_equal(itdb_rows_crid(env.conninfo, s[i].crid), s[i].receipt[0] != '\0');
    }
}

/* The batch that held the marked report failed and was retried row by row:
 * otherwise the test proved nothing about its neighbours. */
static void expect_batch_failed(const char *sqlstate)
{
    char needle[128];

    /* The SQLSTATE tells this test's failed batch from an earlier test's. */
    snprintf(needle, sizeof needle, "sqlstate=%s action=retry_singly", sqlstate);
    if (!tgw_log_contains(&env.gw, needle)) {
        tgw_dump_log(&env.gw);
        fail_msg("the marked report was never part of a batch that failed at COMMIT");
    }
}

/* A deferred constraint trigger raises at COMMIT for one report, after every
 * row of its batch was inserted and returned.  That report is answered
 * INTERNAL ("the database refused this row": PROTOCOL.md §4.1, retry with
 * the same id) and has no row; its neighbours are stored and answered; once
 * the database accepts it, the retry stores it once. */
static void test_deferred_trigger_fails_commit(void **state)
{
    (void)state;
    struct sub s[PER_TEST];
    struct client_conn *c = itconnect(&env, "contact1");

    itdb_exec(env.conninfo,
              "CREATE FUNCTION it_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$\n"
              "BEGIN\n"
              "  IF NEW.title = '" COMMIT_FAIL_TITLE "' THEN\n"
              "    RAISE EXCEPTION 'refused at COMMIT by the test trigger';\n"
              "  END IF;\n"
              "  RETURN NULL;\n"
              "END $$;\n"
              "CREATE CONSTRAINT TRIGGER it_fail_commit AFTER INSERT ON reports\n"
              "  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION it_fail_commit();");
    subs_new(s, PER_TEST, MARKED_AT, COMMIT_FAIL_TITLE);
    submit_all(c, s, PER_TEST, MINYI__V1__ERROR_CODE__INTERNAL);
    for (size_t i = 0; i < PER_TEST; i++) {
        if (i == MARKED_AT)
            assert_int_equal(s[i].receipt[0], '\0');
        else
            assert_int_equal(s[i].errors, 0);
    }
    expect_each_stored_once(s, PER_TEST);
    expect_batch_failed("P0001");

    itdb_exec(env.conninfo, "DROP TRIGGER it_fail_commit ON reports");
    retry_until_stored(c, s, PER_TEST, MINYI__V1__ERROR_CODE__INTERNAL);
    expect_each_stored_once(s, PER_TEST);
    client_close(c);
    subs_free(s, PER_TEST);
}

/* COMMIT fails with a serialization failure (SQLSTATE 40001, raised by a
 * deferred trigger for one report, SERIAL_FAILURES times: a sequence counts,
 * since its values survive the rollback).  The report is answered
 * UNAVAILABLE, a transient failure, and the client's own retry with the
 * same id, the trigger still in place, stores it once; its neighbours are
 * stored without an error. */
static void test_serialization_failure_at_commit(void **state)
{
    (void)state;
    struct sub s[PER_TEST];
    struct client_conn *c = itconnect(&env, "contact1");

    itdb_exec(env.conninfo,
              "CREATE SEQUENCE it_serial_failures;\n"
              "CREATE FUNCTION it_serial_commit() RETURNS trigger LANGUAGE plpgsql AS $$\n"
              "BEGIN\n"
              "  IF NEW.title = '" SERIAL_FAIL_TITLE "' THEN\n"
              "    IF nextval('it_serial_failures') <= " STR(SERIAL_FAILURES) " THEN\n"
              "      RAISE EXCEPTION 'could not serialize access (test trigger)'\n"
              "        USING ERRCODE = 'serialization_failure';\n"
              "    END IF;\n"
              "  END IF;\n"
              "  RETURN NULL;\n"
              "END $$;\n"
              "CREATE CONSTRAINT TRIGGER it_serial_commit AFTER INSERT ON reports\n"
              "  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION it_serial_commit();");
    subs_new(s, PER_TEST, MARKED_AT, SERIAL_FAIL_TITLE);
    submit_all(c, s, PER_TEST, MINYI__V1__ERROR_CODE__UNAVAILABLE);
    for (size_t i = 0; i < PER_TEST; i++) {
        if (i == MARKED_AT)
            assert_int_equal(s[i].receipt[0], '\0');
        else
            assert_int_equal(s[i].errors, 0);
    }
    expect_each_stored_once(s, PER_TEST);
    expect_batch_failed("40001");

    retry_until_stored(c, s, PER_TEST, MINYI__V1__ERROR_CODE__UNAVAILABLE);
    expect_each_stored_once(s, PER_TEST);
    /* Every failure the trigger was allowed was spent, each answered. */
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT last_value FROM it_serial_failures", 0, NULL),
                     SERIAL_FAILURES + 1);
    itdb_exec(env.conninfo, "DROP TRIGGER it_serial_commit ON reports");
    client_close(c);
    subs_free(s, PER_TEST);
}

/* The server process is killed with SIGKILL while it runs the COMMIT of a
 * batch whose rows are inserted (a deferred trigger holds that COMMIT for
 * one report, once).  PostgreSQL restarts every backend and recovers; none
 * of that batch's rows exist.  Every report of it is answered UNAVAILABLE,
 * no receipt is sent for a row that is not stored, and retries on the same
 * connection store each report exactly once. */
static void test_server_killed_during_commit(void **state)
{
    (void)state;
    struct sub s[PER_TEST];
    struct client_profile p;
    char err[256];

    tprofile(&p, "contact1", &env.gw);
    p.timeout_ms = AFTER_KILL_TIMEOUT_MS;
    struct client_conn *c = client_connect(&p, err, sizeof err);
    if (c == NULL)
        fail_msg("connect: %s", err);
    itdb_exec(env.conninfo,
              "CREATE SEQUENCE it_sleeps;\n"
              "CREATE FUNCTION it_sleep_commit() RETURNS trigger LANGUAGE plpgsql AS $$\n"
              "BEGIN\n"
              "  IF NEW.title = '" SLEEP_TITLE "' THEN\n"
              "    IF nextval('it_sleeps') = 1 THEN\n"
              "      PERFORM pg_sleep(" COMMIT_SLEEP_S ");\n"
              "    END IF;\n"
              "  END IF;\n"
              "  RETURN NULL;\n"
              "END $$;\n"
              "CREATE CONSTRAINT TRIGGER it_sleep_commit AFTER INSERT ON reports\n"
              "  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION it_sleep_commit();");
    subs_new(s, PER_TEST, MARKED_AT, SLEEP_TITLE);
    for (size_t i = 0; i < PER_TEST; i++)
        itsend_submit(c, (uint64_t)i + 1, s[i].r);

    /* Wait for the COMMIT to be held, then kill the process running it. */
    long long deadline = itnow_ms() + SEEN_SLEEP_MAX_MS;
    char *pid = NULL;
    while ((pid = itdb_text(env.conninfo,
                            "SELECT pid::text FROM pg_stat_activity WHERE wait_event = 'PgSleep'",
                            0, NULL)) == NULL) {
        if (itnow_ms() > deadline)
            fail_msg("no COMMIT was held by the trigger within %d ms", SEEN_SLEEP_MAX_MS);
        itsleep_ms(20);
    }
    /* The marked report's rows and its neighbours' are in the database,
     * uncommitted: nobody else sees them yet. */
    assert_int_equal(itdb_rows_crid(env.conninfo, s[MARKED_AT].crid), 0);
    /* The trigger's nextval is logged but not flushed: without a flush the
     * crash recovery may take the sequence back to 1, and the marked
     * report's retry would sleep in its COMMIT again.  A checkpoint flushes
     * the WAL that holds it. */
    itdb_exec(env.conninfo, "CHECKPOINT");
    assert_int_equal(kill((pid_t)atoi(pid), SIGKILL), 0);
    free(pid);

    for (size_t k = 0; k < PER_TEST; k++) {
        struct frame_arena *arena = NULL;
        Frame *f = itrecv(c, &arena);
        assert_true(f->id >= 1 && f->id <= PER_TEST);
        sub_answer(&s[f->id - 1], f, MINYI__V1__ERROR_CODE__UNAVAILABLE);
        frame_arena_free(arena);
    }
    assert_int_equal(s[MARKED_AT].receipt[0], '\0');
    assert_true(tgw_log_contains(&env.gw, "event=db_conn_lost"));

    retry_until_stored(c, s, PER_TEST, MINYI__V1__ERROR_CODE__UNAVAILABLE);
    expect_each_stored_once(s, PER_TEST);
    itdb_exec(env.conninfo, "DROP TRIGGER it_sleep_commit ON reports");
    client_close(c);
    subs_free(s, PER_TEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deferred_trigger_fails_commit),
        cmocka_unit_test(test_serialization_failure_at_commit),
        cmocka_unit_test(test_server_killed_during_commit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
