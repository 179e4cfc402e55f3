/*
 * it_submit: a contact point submits reports through a real gateway and
 * gets durable receipts — one row per report, idempotent retries also when
 * two arrive at once, status and history, its own list newest first, many
 * requests in flight on one connection, nothing of another contact point's,
 * and no phone number in plain text in the database.
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

#include "hex.h"
#include "itkit.h"

#define INFLIGHT 256            /* requests sent before the first answer is read */
#define LIST_REPORTS 5          /* reports submitted for the paging test */
#define LIST_PAGE 2
#define PHONE_DIGITS "13912345678"

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    return itenv_up(&env, NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_teardown(&env);
}

static void crid_of(const Minyi__V1__Report *r, char out[37])
{
    itcopy(&r->client_report_id, out, 37);
}

/* A report whose situation is a real text from the corpus gets a receipt
 * of the documented form, and exactly one row holds it. */
static void test_submit_corpus_report(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX], crid[37];
    char *text = treport_corpus("speech-simplified-a.txt");
    assert_non_null(text);
    Minyi__V1__Report *r = tmake_report(NULL, text);
    assert_non_null(r);
    crid_of(r, crid);

    struct client_conn *c = itconnect(&env, "contact1");
    itsubmit_ok(c, r, receipt);
    assert_int_equal(strncmp(receipt, "330400-", 7), 0);

    assert_int_equal(itdb_rows_receipt(env.conninfo, receipt), 1);
    assert_int_equal(itdb_rows_crid(env.conninfo, crid), 1);
    /* The stored body is the text sent, byte for byte (it is NFC already). */
    char *stored = itdb_text(env.conninfo, "SELECT situation FROM reports WHERE receipt = $1", 1,
                             (const char *const[]){ receipt });
    assert_non_null(stored);
    assert_string_equal(stored, text);
    free(stored);

    client_close(c);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    free(text);
}

/* Status answers RECEIVED with the history of how it got there. */
static void test_status_shows_received_with_history(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX], got[IT_RECEIPT_MAX], title[256];
    struct frame_arena *arena = NULL;
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    struct client_conn *c = itconnect(&env, "contact1");
    itsubmit_ok(c, r, receipt);

    Frame *f = itstatus(c, receipt, &arena);
    if (f->body_case == MINYI__V1__FRAME__BODY_ERROR)
        itexpect_error(f, 0, NULL);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    Minyi__V1__StatusResponse *st = f->status_ok;
    itcopy(&st->receipt, got, sizeof(got));
    assert_string_equal(got, receipt);
    assert_int_equal(st->state, MINYI__V1__REPORT_STATE__RECEIVED);
    itcopy(&st->title, title, sizeof(title));
    assert_string_equal(title, "关于加快老旧小区加装电梯的建议");
    assert_true(st->received_at_ms > 0);
    assert_true(st->n_history >= 1);
    assert_int_equal(st->history[0]->state, MINYI__V1__REPORT_STATE__RECEIVED);
    char action[64];
    itcopy(&st->history[0]->action, action, sizeof(action));
    assert_string_equal(action, "received");
    assert_true(st->history[0]->at_ms > 0);
    /* The history is in time order. */
    for (size_t i = 1; i < st->n_history; i++)
        assert_true(st->history[i]->at_ms >= st->history[i - 1]->at_ms);

    frame_arena_free(arena);
    client_close(c);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* A contact point's list is its own reports, newest first, in pages that
 * end with an empty cursor; another contact point sees none of them. */
static void test_list_mine_newest_first_with_paging(void **state)
{
    (void)state;
    char receipts[LIST_REPORTS][IT_RECEIPT_MAX];
    struct frame_arena *arena = NULL;
    /* contact2 is used by no other test for submissions before this one's
     * list, except the ones below, so its list is exactly these reports. */
    struct client_conn *c = itconnect(&env, "contact2");
    for (int i = 0; i < LIST_REPORTS; i++) {
        Minyi__V1__Report *r = tmake_report(NULL, NULL);
        assert_non_null(r);
        char title[64];
        snprintf(title, sizeof(title), "列表测试 %d", i);
        itset(&r->title, title);
        itsubmit_ok(c, r, receipts[i]);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }

    char cursor[256] = "";
    int seen = 0;
    for (int page = 0; page < LIST_REPORTS; page++) {
        Frame *f = itlist(c, LIST_PAGE, cursor, &arena);
        if (f->body_case == MINYI__V1__FRAME__BODY_ERROR)
            itexpect_error(f, 0, NULL);
        assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_LIST_MINE_OK);
        Minyi__V1__ListMineResponse *l = f->list_mine_ok;
        assert_true(l->n_reports <= LIST_PAGE);
        for (size_t i = 0; i < l->n_reports; i++) {
            char got[IT_RECEIPT_MAX], title[64], want_title[64];
            assert_true(seen < LIST_REPORTS);
            int want = LIST_REPORTS - 1 - seen;     /* newest first */
            itcopy(&l->reports[i]->receipt, got, sizeof(got));
            assert_string_equal(got, receipts[want]);
            itcopy(&l->reports[i]->title, title, sizeof(title));
            snprintf(want_title, sizeof(want_title), "列表测试 %d", want);
            assert_string_equal(title, want_title);
            assert_int_equal(l->reports[i]->state, MINYI__V1__REPORT_STATE__RECEIVED);
            assert_true(l->reports[i]->received_at_ms > 0);
            seen++;
        }
        itcopy(&l->next_cursor, cursor, sizeof(cursor));
        bool more = l->next_cursor.len > 0;
        frame_arena_free(arena);
        arena = NULL;
        if (!more)
            break;
    }
    assert_int_equal(seen, LIST_REPORTS);
    assert_string_equal(cursor, "");

    /* The default page holds all five, and contact1's reports are not among them. */
    Frame *f = itlist(c, 0, "", &arena);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_LIST_MINE_OK);
    assert_int_equal(f->list_mine_ok->n_reports, LIST_REPORTS);
    frame_arena_free(arena);
    client_close(c);
}

/* The same client_report_id and payload again: the same receipt,
 * duplicate = true, the original time, and still one row. */
static void test_idempotent_retry(void **state)
{
    (void)state;
    char first[IT_RECEIPT_MAX], crid[37];
    struct frame_arena *arena = NULL;
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    crid_of(r, crid);
    struct client_conn *c = itconnect(&env, "contact1");

    Frame *f = itsubmit(c, r, &arena);
    itexpect_receipt(f, first);
    assert_false(f->submit_ok->duplicate);
    int64_t at = f->submit_ok->received_at_ms;
    frame_arena_free(arena);

    /* A retry on a new connection, as after a lost answer. */
    client_close(c);
    c = itconnect(&env, "contact1");
    char second[IT_RECEIPT_MAX];
    f = itsubmit(c, r, &arena);
    itexpect_receipt(f, second);
    assert_string_equal(second, first);
    assert_true(f->submit_ok->duplicate);
    assert_int_equal(f->submit_ok->received_at_ms, at);
    frame_arena_free(arena);

    /* Upper-case hex is the same UUID. */
    for (size_t i = 0; i < r->client_report_id.len; i++)
        if (r->client_report_id.data[i] >= 'a' && r->client_report_id.data[i] <= 'f')
            r->client_report_id.data[i] = (uint8_t)(r->client_report_id.data[i] - 'a' + 'A');
    f = itsubmit(c, r, &arena);
    itexpect_receipt(f, second);
    assert_string_equal(second, first);
    assert_true(f->submit_ok->duplicate);
    frame_arena_free(arena);

    assert_int_equal(itdb_rows_crid(env.conninfo, crid), 1);
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM reports r, minyi_history_rows(r.id) h "
                                "WHERE r.receipt = $1",
                                1, (const char *const[]){ first }),
                     1);
    client_close(c);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* The same id with a different payload is a CONFLICT, not a retry, and
 * leaves the stored report as it was. */
static void test_same_id_different_payload_conflicts(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX], crid[37];
    struct frame_arena *arena = NULL;
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    crid_of(r, crid);
    struct client_conn *c = itconnect(&env, "contact1");
    itsubmit_ok(c, r, receipt);

    itset(&r->title, "另一个标题");
    Frame *f = itsubmit(c, r, &arena);
    itexpect_error(f, MINYI__V1__ERROR_CODE__CONFLICT, "report.client_report_id");
    frame_arena_free(arena);

    assert_int_equal(itdb_rows_crid(env.conninfo, crid), 1);
    char *title = itdb_text(env.conninfo, "SELECT title FROM reports WHERE receipt = $1", 1,
                            (const char *const[]){ receipt });
    assert_non_null(title);
    assert_string_equal(title, "关于加快老旧小区加装电梯的建议");
    free(title);
    client_close(c);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Two submissions of one id at the same moment on two connections: both
 * get the same receipt, exactly one is new, and one row exists. */
static void test_concurrent_same_id_two_connections(void **state)
{
    (void)state;
    char crid[37], ra[IT_RECEIPT_MAX], rb[IT_RECEIPT_MAX];
    struct frame_arena *aa = NULL, *ab = NULL;
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    crid_of(r, crid);
    struct client_conn *a = itconnect(&env, "contact1");
    struct client_conn *b = itconnect(&env, "contact1");

    itsend_submit(a, 1, r);
    itsend_submit(b, 1, r);
    Frame *fa = itrecv(a, &aa);
    Frame *fb = itrecv(b, &ab);
    assert_int_equal(fa->id, 1);
    assert_int_equal(fb->id, 1);
    itexpect_receipt(fa, ra);
    itexpect_receipt(fb, rb);
    assert_string_equal(ra, rb);
    /* Exactly one of them stored the report. */
    assert_int_equal((int)fa->submit_ok->duplicate + (int)fb->submit_ok->duplicate, 1);
    assert_int_equal(fa->submit_ok->received_at_ms, fb->submit_ok->received_at_ms);
    assert_int_equal(itdb_rows_crid(env.conninfo, crid), 1);

    frame_arena_free(aa);
    frame_arena_free(ab);
    client_close(a);
    client_close(b);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* The race above, many times at once: a batch of ids each sent on both
 * connections before anything is read. */
static void test_concurrent_many_ids_two_connections(void **state)
{
    (void)state;
    enum { N = 32 };
    Minyi__V1__Report *rs[N];
    char crids[N][37], got_a[N][IT_RECEIPT_MAX], got_b[N][IT_RECEIPT_MAX];
    int dup_a[N] = { 0 }, dup_b[N] = { 0 };
    struct client_conn *a = itconnect(&env, "contact1");
    struct client_conn *b = itconnect(&env, "contact1");

    for (int i = 0; i < N; i++) {
        rs[i] = tmake_report(NULL, NULL);
        assert_non_null(rs[i]);
        crid_of(rs[i], crids[i]);
        itsend_submit(a, (uint64_t)i + 1, rs[i]);
        itsend_submit(b, (uint64_t)i + 1, rs[i]);
    }
    for (int side = 0; side < 2; side++) {
        for (int n = 0; n < N; n++) {
            struct frame_arena *arena = NULL;
            Frame *f = itrecv(side == 0 ? a : b, &arena);
            assert_true(f->id >= 1 && f->id <= N);
            int i = (int)f->id - 1;
            itexpect_receipt(f, side == 0 ? got_a[i] : got_b[i]);
            (side == 0 ? dup_a : dup_b)[i] = f->submit_ok->duplicate;
            frame_arena_free(arena);
        }
    }
    for (int i = 0; i < N; i++) {
        assert_string_equal(got_a[i], got_b[i]);
        assert_int_equal(dup_a[i] + dup_b[i], 1);
        assert_int_equal(itdb_rows_crid(env.conninfo, crids[i]), 1);
        protobuf_c_message_free_unpacked(&rs[i]->base, NULL);
    }
    client_close(a);
    client_close(b);
}

enum kind { K_SUBMIT, K_INVALID, K_STATUS };

/* 256 requests written before any answer is read: valid submissions,
 * invalid ones and status requests.  Every id is answered exactly once,
 * with the kind of answer its request calls for. */
static void test_256_in_flight(void **state)
{
    (void)state;
    char known[IT_RECEIPT_MAX];
    Minyi__V1__Report *rs[INFLIGHT] = { 0 };
    enum kind kinds[INFLIGHT];
    int answered[INFLIGHT] = { 0 };
    char crids[INFLIGHT][37];
    struct client_conn *c = itconnect(&env, "contact1");

    Minyi__V1__Report *first = tmake_report(NULL, NULL);
    assert_non_null(first);
    itsubmit_ok(c, first, known);
    protobuf_c_message_free_unpacked(&first->base, NULL);

    /* Ids far above the ones client_next_id handed out, in an order that
     * is not the order of sending. */
    const uint64_t base = 1000000;
    for (int i = 0; i < INFLIGHT; i++) {
        uint64_t id = base + (uint64_t)((i * 97) % INFLIGHT);
        int slot = (int)(id - base);
        kinds[slot] = (i % 4 == 1) ? K_INVALID : (i % 4 == 3) ? K_STATUS : K_SUBMIT;
        if (kinds[slot] == K_STATUS) {
            itsend_status(c, id, known);
            continue;
        }
        rs[slot] = tmake_report(NULL, NULL);
        assert_non_null(rs[slot]);
        crid_of(rs[slot], crids[slot]);
        if (kinds[slot] == K_INVALID)
            itset(&rs[slot]->region, "33040");
        itsend_submit(c, id, rs[slot]);
    }
    for (int n = 0; n < INFLIGHT; n++) {
        struct frame_arena *arena = NULL;
        Frame *f = itrecv(c, &arena);
        if (f->id < base || f->id >= base + INFLIGHT)
            fail_msg("answer with unknown id %llu", (unsigned long long)f->id);
        int slot = (int)(f->id - base);
        if (answered[slot]++)
            fail_msg("id %llu answered twice", (unsigned long long)f->id);
        char got[IT_RECEIPT_MAX];
        switch (kinds[slot]) {
        case K_SUBMIT:
            itexpect_receipt(f, got);
            assert_false(f->submit_ok->duplicate);
            break;
        case K_INVALID:
            itexpect_error(f, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "report.region");
            break;
        case K_STATUS:
            if (f->body_case != MINYI__V1__FRAME__BODY_STATUS_OK)
                itexpect_error(f, 0, NULL);
            itcopy(&f->status_ok->receipt, got, sizeof(got));
            assert_string_equal(got, known);
            break;
        }
        frame_arena_free(arena);
    }
    for (int slot = 0; slot < INFLIGHT; slot++) {
        assert_int_equal(answered[slot], 1);
        if (kinds[slot] != K_STATUS)
            assert_int_equal(itdb_rows_crid(env.conninfo, crids[slot]),
                             kinds[slot] == K_SUBMIT ? 1 : 0);
        if (rs[slot] != NULL)
            protobuf_c_message_free_unpacked(&rs[slot]->base, NULL);
    }
    /* The connection is still good. */
    Minyi__V1__Report *after = tmake_report(NULL, NULL);
    assert_non_null(after);
    itsubmit_ok(c, after, NULL);
    protobuf_c_message_free_unpacked(&after->base, NULL);
    client_close(c);
}

/* Two contact points that happen to choose the same client_report_id get
 * two reports and two receipts (PROTOCOL.md §5: the key is the pair), one
 * after the other and when both arrive at once, and each owns its own:
 * the ids are pipelined on two connections before anything is read, so
 * many pairs share a batch, where the gateway finds duplicates itself. */
static void test_same_id_two_contact_points(void **state)
{
    (void)state;
    enum { PAIRS = 40 };
    Minyi__V1__Report *r[PAIRS];
    char crid[PAIRS][37], rec1[PAIRS][IT_RECEIPT_MAX], rec2[PAIRS][IT_RECEIPT_MAX];
    struct client_conn *c1 = itconnect(&env, "contact1");
    struct client_conn *c2 = itconnect(&env, "contact2");

    for (int i = 0; i < PAIRS; i++) {
        r[i] = tmake_report(NULL, NULL);
        assert_non_null(r[i]);
        crid_of(r[i], crid[i]);
    }
    /* One after the other, the second with another payload: not a
     * CONFLICT either, since the id was never used by that principal. */
    itsubmit_ok(c1, r[0], rec1[0]);
    itset(&r[0]->title, "另一个联系点的同号信息");
    itsubmit_ok(c2, r[0], rec2[0]);
    /* At once: the same payload from both. */
    for (int i = 1; i < PAIRS; i++) {
        itsend_submit(c1, (uint64_t)1000 + (uint64_t)i, r[i]);
        itsend_submit(c2, (uint64_t)1000 + (uint64_t)i, r[i]);
    }
    for (int n = 1; n < PAIRS; n++) {
        struct frame_arena *a1 = NULL, *a2 = NULL;
        Frame *f1 = itrecv(c1, &a1), *f2 = itrecv(c2, &a2);
        int i1 = (int)(f1->id - 1000), i2 = (int)(f2->id - 1000);
        assert_true(i1 >= 1 && i1 < PAIRS && i2 >= 1 && i2 < PAIRS);
        itexpect_receipt(f1, rec1[i1]);
        itexpect_receipt(f2, rec2[i2]);
        /* Neither is a retry of the other's report. */
        assert_false(f1->submit_ok->duplicate);
        assert_false(f2->submit_ok->duplicate);
        frame_arena_free(a1);
        frame_arena_free(a2);
    }
    for (int i = 0; i < PAIRS; i++) {
        struct frame_arena *a = NULL;
        assert_string_not_equal(rec1[i], rec2[i]);
        assert_int_equal(itdb_rows_crid(env.conninfo, crid[i]), 2);
        assert_int_equal(tdb_scalar(env.conninfo,
                                    "SELECT count(DISTINCT principal_id) FROM reports"
                                    " WHERE client_report_id::text = $1",
                                    1, (const char *const[]){ crid[i] }),
                         2);
        /* Each receipt belongs to the contact point that was given it. */
        Frame *f = itstatus(c1, rec1[i], &a);
        assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
        frame_arena_free(a);
        f = itstatus(c2, rec2[i], &a);
        assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
        frame_arena_free(a);
        f = itstatus(c2, rec1[i], &a);
        itexpect_error(f, MINYI__V1__ERROR_CODE__NOT_FOUND, NULL);
        frame_arena_free(a);
        protobuf_c_message_free_unpacked(&r[i]->base, NULL);
    }
    client_close(c1);
    client_close(c2);
}

/* Another contact point's receipt is "not found", indistinguishable from a
 * receipt that does not exist, so receipts cannot be probed. */
static void test_other_contact_gets_not_found(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX];
    struct frame_arena *a1 = NULL, *a2 = NULL, *a3 = NULL;
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    struct client_conn *c1 = itconnect(&env, "contact1");
    struct client_conn *c2 = itconnect(&env, "contact2");
    itsubmit_ok(c1, r, receipt);

    Frame *foreign = itstatus(c2, receipt, &a1);
    itexpect_error(foreign, MINYI__V1__ERROR_CODE__NOT_FOUND, NULL);
    Frame *missing = itstatus(c2, "330400-2026-999999", &a2);
    itexpect_error(missing, MINYI__V1__ERROR_CODE__NOT_FOUND, NULL);
    char f1[128], f2[128], m1[512], m2[512];
    itcopy(&foreign->error->field, f1, sizeof(f1));
    itcopy(&missing->error->field, f2, sizeof(f2));
    itcopy(&foreign->error->message, m1, sizeof(m1));
    itcopy(&missing->error->message, m2, sizeof(m2));
    assert_string_equal(f1, f2);
    assert_string_equal(m1, m2);

    /* The owner still sees it. */
    Frame *own = itstatus(c1, receipt, &a3);
    assert_int_equal(own->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);

    frame_arena_free(a1);
    frame_arena_free(a2);
    frame_arena_free(a3);
    client_close(c1);
    client_close(c2);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* The phone number is personal data: neither its digits nor their bytes
 * appear anywhere in the stored row. */
static void test_phone_not_stored_in_plain_text(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX];
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itset(&r->phone, PHONE_DIGITS);
    struct client_conn *c = itconnect(&env, "contact1");
    itsubmit_ok(c, r, receipt);

    /* The whole row as text: text columns as they are, bytea as hex. */
    char *row = itdb_text(env.conninfo, "SELECT r::text FROM reports r WHERE receipt = $1", 1,
                          (const char *const[]){ receipt });
    assert_non_null(row);
    char hex[2 * sizeof(PHONE_DIGITS) + 1];
    hex_encode((const uint8_t *)PHONE_DIGITS, strlen(PHONE_DIGITS), hex);
    if (strstr(row, PHONE_DIGITS) != NULL || strstr(row, hex) != NULL)
        fail_msg("phone stored in plain text: %s", row);
    free(row);
    /* Nor in any other table. */
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT (SELECT count(*) FROM events e WHERE strpos(e::text, $1) > 0)"
                                " + (SELECT count(*) FROM attachments a WHERE strpos(a::text, $1) > 0)",
                                1, (const char *const[]){ PHONE_DIGITS }),
                     0);
    /* But something was stored for it. */
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM reports WHERE receipt = $1 "
                                "AND length(phone_enc) > length($2)",
                                2, (const char *const[]){ receipt, PHONE_DIGITS }),
                     1);
    client_close(c);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_corpus_report),
        cmocka_unit_test(test_status_shows_received_with_history),
        cmocka_unit_test(test_list_mine_newest_first_with_paging),
        cmocka_unit_test(test_idempotent_retry),
        cmocka_unit_test(test_same_id_different_payload_conflicts),
        cmocka_unit_test(test_concurrent_same_id_two_connections),
        cmocka_unit_test(test_same_id_two_contact_points),
        cmocka_unit_test(test_concurrent_many_ids_two_connections),
        cmocka_unit_test(test_256_in_flight),
        cmocka_unit_test(test_other_contact_gets_not_found),
        cmocka_unit_test(test_phone_not_stored_in_plain_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
