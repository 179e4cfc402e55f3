/*
 * it_issue_results: 编发 at the body above reaches the writer below.  Two
 * real instances — district (330402) → city (330400).  A contact point's
 * report goes up to the city, is adopted there and published as an item
 * of a 专报 issue; the district records the result 'result_issue' with the
 * city's name and the issue's number, and the contact point's status shows
 * it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "itkit.h"

#define RESULTS_INTERVAL_MS 300

static struct tpg pg;
static bool pg_up;
static struct itinst city, dist;

static int setup(void **state)
{
    (void)state;
    if (!tpg_start(&pg))
        return -1;
    pg_up = true;
    if (!itinst_up(&pg, &city, "city", IT_CITY_REGION, IT_CITY_NAME, NULL, NULL, NULL,
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(city.conninfo, "peer1", "peer", IT_DIST_REGION, true) <= 0 ||
        !itinst_up(&pg, &dist, "district", IT_DIST_REGION, IT_DIST_NAME, "city", &city, "peer1",
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(dist.conninfo, "contact1", "contact", IT_DIST_REGION, true) <= 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&dist, &city}, 2, &pg, pg_up, NULL);
}

static int this_year(void)
{
    time_t t = time(NULL) + 8 * 3600;
    return gmtime(&t)->tm_year + 1900;
}

static void test_issued_above_reaches_writer(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char r[IT_RECEIPT_MAX], up[IT_RECEIPT_MAX], buf[256];

    struct client_conn *c1 = itconnect_gw(&dist.gw, "contact1");
    Minyi__V1__Report *rep = tmake_report(NULL, "村级河道保洁经费长期不足。");
    assert_non_null(rep);
    itsubmit_ok(c1, rep, r);
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    itinst_forward(&dist, r, "city", up);

    struct client_conn *ed = itconnect_gw(&city.gw, "editor1");
    itclaim_ok(ed, up);
    itdecide_ok(ed, up, MINYI__V1__DECISION__ADOPT, NULL);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__IssueNewRequest nq = MINYI__V1__ISSUE_NEW_REQUEST__INIT;
    nq.series = frame_bytes("社情民意专报");
    nq.title = frame_bytes("河道保洁专报");
    f.body_case = MINYI__V1__FRAME__BODY_ISSUE_NEW;
    f.issue_new = &nq;
    Frame *ans = itcall(ed, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_ISSUE_OK);
    int64_t id = ans->issue_ok->id;
    frame_arena_free(a);
    Minyi__V1__IssueAddRequest aq = MINYI__V1__ISSUE_ADD_REQUEST__INIT;
    aq.issue_id = id;
    aq.receipt = frame_bytes(up);
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_ISSUE_ADD;
    f.issue_add = &aq;
    assert_int_equal(itcall(ed, &f, &a)->body_case, MINYI__V1__FRAME__BODY_ISSUE_OK);
    frame_arena_free(a);
    Minyi__V1__IssuePublishRequest pq = MINYI__V1__ISSUE_PUBLISH_REQUEST__INIT;
    pq.issue_id = id;
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_ISSUE_PUBLISH;
    f.issue_publish = &pq;
    assert_int_equal(itcall(ed, &f, &a)->body_case, MINYI__V1__FRAME__BODY_ISSUE_OK);
    frame_arena_free(a);
    client_close(ed);

    assert_true(itwait_text(dist.conninfo,
                            "SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id"
                            " WHERE r.receipt = $1 AND e.action = 'result_issue'",
                            r, "1", IT_INST_WITHIN_MS));
    ans = itstatus(c1, r, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    bool seen = false;
    for (size_t i = 0; i < ans->status_ok->n_history; i++) {
        const Minyi__V1__HistoryEntry *h = ans->status_ok->history[i];
        itcopy(&h->action, buf, sizeof buf);
        if (strcmp(buf, "result_issue") != 0)
            continue;
        itcopy(&h->body, buf, sizeof buf);
        assert_string_equal(buf, IT_CITY_NAME);
        itcopy(&h->note, buf, sizeof buf);
        char want[128];
        snprintf(want, sizeof want, "编发：《社情民意专报》%d年第1期 第1条", this_year());
        assert_string_equal(buf, want);
        seen = true;
    }
    assert_true(seen);
    frame_arena_free(a);
    client_close(c1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issued_above_reaches_writer),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
