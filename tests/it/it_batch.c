/*
 * it_batch: a row that fails in the database does not cost its neighbours
 * their commit.  A trigger refuses one title; that report is pipelined
 * among many good ones on two connections at once.  Every good report gets
 * a receipt and its row, the bad one gets INTERNAL and no row, and its id
 * is not used up: once the trigger is gone the same submission succeeds.
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

#define PER_CONN 50             /* submissions pipelined on each connection */
#define FAIL_AT 23              /* position of the failing one on connection A */
#define FAIL_TITLE "FAIL-ROW"

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

static void install_trigger(void)
{
    itdb_exec(env.conninfo,
              "CREATE FUNCTION it_fail_row() RETURNS trigger LANGUAGE plpgsql AS $$\n"
              "BEGIN\n"
              "  IF NEW.title = '" FAIL_TITLE "' THEN\n"
              "    RAISE EXCEPTION 'row refused by the test trigger';\n"
              "  END IF;\n"
              "  RETURN NEW;\n"
              "END $$;\n"
              "CREATE TRIGGER it_fail_row BEFORE INSERT ON reports\n"
              "  FOR EACH ROW EXECUTE FUNCTION it_fail_row();");
}

static void test_failing_row_spares_neighbours(void **state)
{
    (void)state;
    Minyi__V1__Report *ra[PER_CONN], *rb[PER_CONN];
    char crid_a[PER_CONN][37], crid_b[PER_CONN][37];
    char rec_a[PER_CONN][IT_RECEIPT_MAX], rec_b[PER_CONN][IT_RECEIPT_MAX];
    int seen_a[PER_CONN] = { 0 }, seen_b[PER_CONN] = { 0 };

    install_trigger();
    struct client_conn *a = itconnect(&env, "contact1");
    struct client_conn *b = itconnect(&env, "contact2");

    /* Everything is written before anything is read, alternating between
     * the connections, so the batcher sees both streams at once. */
    for (int i = 0; i < PER_CONN; i++) {
        ra[i] = tmake_report(NULL, NULL);
        rb[i] = tmake_report(NULL, NULL);
        assert_non_null(ra[i]);
        assert_non_null(rb[i]);
        if (i == FAIL_AT)
            itset(&ra[i]->title, FAIL_TITLE);
        itcopy(&ra[i]->client_report_id, crid_a[i], sizeof(crid_a[i]));
        itcopy(&rb[i]->client_report_id, crid_b[i], sizeof(crid_b[i]));
        itsend_submit(a, (uint64_t)i + 1, ra[i]);
        itsend_submit(b, (uint64_t)i + 1, rb[i]);
    }

    for (int n = 0; n < PER_CONN; n++) {
        struct frame_arena *arena = NULL;
        Frame *f = itrecv(a, &arena);
        assert_true(f->id >= 1 && f->id <= PER_CONN);
        int i = (int)f->id - 1;
        assert_int_equal(seen_a[i]++, 0);
        if (i == FAIL_AT)
            itexpect_error(f, MINYI__V1__ERROR_CODE__INTERNAL, NULL);
        else
            itexpect_receipt(f, rec_a[i]);
        frame_arena_free(arena);
    }
    for (int n = 0; n < PER_CONN; n++) {
        struct frame_arena *arena = NULL;
        Frame *f = itrecv(b, &arena);
        assert_true(f->id >= 1 && f->id <= PER_CONN);
        int i = (int)f->id - 1;
        assert_int_equal(seen_b[i]++, 0);
        itexpect_receipt(f, rec_b[i]);
        frame_arena_free(arena);
    }

    for (int i = 0; i < PER_CONN; i++) {
        if (i == FAIL_AT) {
            assert_int_equal(itdb_rows_crid(env.conninfo, crid_a[i]), 0);
        } else {
            assert_int_equal(itdb_rows_receipt(env.conninfo, rec_a[i]), 1);
            assert_int_equal(itdb_rows_crid(env.conninfo, crid_a[i]), 1);
        }
        assert_int_equal(itdb_rows_receipt(env.conninfo, rec_b[i]), 1);
        assert_int_equal(itdb_rows_crid(env.conninfo, crid_b[i]), 1);
    }
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM reports", 0, NULL),
                     2 * PER_CONN - 1);
    /* Each stored report has exactly its first version, and intake wrote
     * no events (its history starts from the reports row): the failed batch
     * left no half-written rows behind. */
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM report_versions v LEFT JOIN reports r "
                                "ON r.id = v.report_id WHERE r.id IS NULL",
                                0, NULL),
                     0);
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM report_versions WHERE version = 1", 0,
                                NULL),
                     2 * PER_CONN - 1);
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM events", 0, NULL), 0);

    /* The bad row did share a transaction with others (otherwise this test
     * would prove nothing about its neighbours). */
    if (!tgw_log_contains(&env.gw, "event=batch_failed"))
        fail_msg("the failing row was never part of a failed batch");

    /* The refused id was not used up: without the trigger it goes through. */
    itdb_exec(env.conninfo, "DROP TRIGGER it_fail_row ON reports");
    char receipt[IT_RECEIPT_MAX];
    struct frame_arena *arena = NULL;
    Frame *f = itsubmit(a, ra[FAIL_AT], &arena);
    itexpect_receipt(f, receipt);
    assert_false(f->submit_ok->duplicate);
    frame_arena_free(arena);
    assert_int_equal(itdb_rows_crid(env.conninfo, crid_a[FAIL_AT]), 1);

    for (int i = 0; i < PER_CONN; i++) {
        protobuf_c_message_free_unpacked(&ra[i]->base, NULL);
        protobuf_c_message_free_unpacked(&rb[i]->base, NULL);
    }
    client_close(a);
    client_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failing_row_spares_neighbours),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
