/*
 * it_sigterm: SIGTERM while pipelined submissions are in flight.  The
 * gateway stops taking requests, finishes the commits under way, answers
 * them, and exits 0; every receipt a client received names a stored row,
 * and what was not answered can be retried (after a restart) without
 * duplicates.
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

#define CONNS 2
#define PER_CONN 200            /* submissions pipelined on each connection */

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    return itenv_up(&env, NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    /* The gateway was stopped by the test itself. */
    itenv_down(&env);
    return 0;
}

static void test_sigterm_with_submissions_in_flight(void **state)
{
    (void)state;
    static Minyi__V1__Report *rs[CONNS][PER_CONN];
    static char crids[CONNS][PER_CONN][37];
    static char receipts[CONNS][PER_CONN][IT_RECEIPT_MAX];
    static int answers[CONNS][PER_CONN];
    struct client_conn *c[CONNS];
    const char *certs[CONNS] = { "contact1", "contact2" };
    char err[512];
    int n_receipts = 0;

    for (int k = 0; k < CONNS; k++)
        c[k] = itconnect(&env, certs[k]);
    /* Both connections are authenticated before the burst. */
    for (int k = 0; k < CONNS; k++) {
        Minyi__V1__Report *warm = tmake_report(NULL, NULL);
        assert_non_null(warm);
        itsubmit_ok(c[k], warm, NULL);
        protobuf_c_message_free_unpacked(&warm->base, NULL);
    }

    for (int i = 0; i < PER_CONN; i++) {
        for (int k = 0; k < CONNS; k++) {
            rs[k][i] = tmake_report(NULL, NULL);
            assert_non_null(rs[k][i]);
            itcopy(&rs[k][i]->client_report_id, crids[k][i], sizeof(crids[k][i]));
            itsend_submit(c[k], (uint64_t)i + 1, rs[k][i]);
        }
    }
    /* Wait for the first answer, so the gateway is busy with the burst,
     * then ask it to stop. */
    struct frame_arena *arena = NULL;
    Frame *f = itrecv(c[0], &arena);
    assert_true(f->id >= 1 && f->id <= PER_CONN);
    answers[0][f->id - 1]++;
    if (f->body_case == MINYI__V1__FRAME__BODY_SUBMIT_OK) {
        itexpect_receipt(f, receipts[0][f->id - 1]);
        n_receipts++;
    }
    frame_arena_free(arena);
    arena = NULL;

    assert_int_equal(kill(env.gw.pid, SIGTERM), 0);

    /* Read what comes until each connection closes.  Answers that come are
     * receipts or UNAVAILABLE (the store is shutting down); nothing else. */
    for (int k = 0; k < CONNS; k++) {
        for (;;) {
            f = client_recv(c[k], &arena, err, sizeof(err));
            if (f == NULL) {
                if (client_err_is(err, CLIENT_ERR_TIMEOUT))
                    fail_msg("connection %d was not closed by the stopping gateway: %s", k, err);
                break;
            }
            if (f->id < 1 || f->id > PER_CONN)
                fail_msg("answer with unknown id %llu", (unsigned long long)f->id);
            int i = (int)f->id - 1;
            if (answers[k][i]++)
                fail_msg("id %d answered twice on connection %d", i + 1, k);
            if (f->body_case == MINYI__V1__FRAME__BODY_SUBMIT_OK) {
                itexpect_receipt(f, receipts[k][i]);
                n_receipts++;
            } else {
                itexpect_error(f, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL);
            }
            frame_arena_free(arena);
            arena = NULL;
        }
        client_close(c[k]);
    }
    /* tgw_stop signals again (harmless) and reaps: exit status 0. */
    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
    assert_true(n_receipts >= 1);

    /* Every receipt names exactly one row, for the right report. */
    int unanswered = 0;
    for (int k = 0; k < CONNS; k++) {
        for (int i = 0; i < PER_CONN; i++) {
            if (receipts[k][i][0] != '\0') {
                char *crid = itdb_text(env.conninfo,
                                       "SELECT client_report_id::text FROM reports WHERE receipt = $1",
                                       1, (const char *const[]){ receipts[k][i] });
                if (crid == NULL)
                    fail_msg("receipt %s has no row", receipts[k][i]);
                assert_string_equal(crid, crids[k][i]);
                free(crid);
            } else if (answers[k][i] == 0) {
                unanswered++;
            }
        }
    }
    long long stored = tdb_scalar(env.conninfo, "SELECT count(*) FROM reports", 0, NULL);
    fprintf(stderr, "sigterm: %d receipts, %d requests unanswered, %lld rows (%d warm-up)\n",
            n_receipts, unanswered, stored, CONNS);

    /* After a restart every id, answered or not, is stored exactly once. */
    assert_true(tgw_start_again(&env.gw));
    for (int k = 0; k < CONNS; k++) {
        c[k] = itconnect(&env, certs[k]);
        for (int i = 0; i < PER_CONN; i++)
            itsend_submit(c[k], (uint64_t)i + 1, rs[k][i]);
        for (int n = 0; n < PER_CONN; n++) {
            f = itrecv(c[k], &arena);
            assert_true(f->id >= 1 && f->id <= PER_CONN);
            int i = (int)f->id - 1;
            char receipt[IT_RECEIPT_MAX];
            itexpect_receipt(f, receipt);
            if (receipts[k][i][0] != '\0') {
                assert_string_equal(receipt, receipts[k][i]);
                assert_true(f->submit_ok->duplicate);
            }
            frame_arena_free(arena);
            arena = NULL;
        }
        client_close(c[k]);
        for (int i = 0; i < PER_CONN; i++) {
            assert_int_equal(itdb_rows_crid(env.conninfo, crids[k][i]), 1);
            protobuf_c_message_free_unpacked(&rs[k][i]->base, NULL);
        }
    }
    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_with_submissions_in_flight),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
