/*
 * it_returns: a return from above travels down, and the revision travels
 * up again as a new version of the same item.  Three real instances —
 * district (330402) → city (330400) → province (330000).
 *
 * First path: the province returns a report; the city hears of it as a
 * result, the report is back in the city's queue marked as returned from
 * above with the reason; the city's editor revises it and forwards it
 * again; the province has version 2 under the same receipt, and the
 * district's writer sees every step in its status.
 *
 * Second path: the province returns; the city returns it further down to
 * the district, which returns it to its contact point; the contact point
 * resubmits, and the revision flows up through the city to the province,
 * each time as a new version of the same item.
 *
 * And the rules of a revision upward: a resend of the same revision is a
 * duplicate that stores nothing; a revision of an item that was not
 * returned is refused.
 *
 * The writer's view: a contact point reads its own report's current text
 * (an editor's edits included) and each version it submitted, nothing of
 * another's, and revises it naming only the fields it changes.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itkit.h"

#define PROV_NAME IT_PROV_NAME
#define CITY_NAME IT_CITY_NAME
#define DIST_NAME IT_DIST_NAME
#define WITHIN_MS 30000
#define RESULTS_INTERVAL_MS 300
#define TEXT_MAX 1024
#define CLI_OUT_MAX (64 * 1024)
#define REASON_PROV "请补充近三年的经费数据。"
#define REASON_PROV2 "请写明涉及的村和老人数。"
#define REASON_CITY "请区里核实村名和人数后再报。"
#define REASON_DIST "请联系点补充村名和人数。"
#define REVISED_CITY "修订稿（市）：2023至2025年运营经费分别缺口12万、18万、25万元。"
#define REVISED_POINT "修订稿（联系点）：涉及七星、新丰、凤桥三个村，八十岁以上老人四百余人。"

static struct tpg pg;
static bool pg_up;
static struct itinst prov, city, dist;
static char dir[64];

static int setup(void **state)
{
    (void)state;
    if (!tpg_start(&pg))
        return -1;
    pg_up = true;
    if (!itinst_chain_up(&pg, &prov, &city, &dist, RESULTS_INTERVAL_MS) ||
        tprincipal_add(dist.conninfo, "contact1", "contact", IT_DIST_REGION, true) <= 0 ||
        tprincipal_add(dist.conninfo, "contact2", "contact", IT_DIST_REGION, true) <= 0)
        return -1;
    snprintf(dir, sizeof dir, "/tmp/it_returns-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&dist, &city, &prov}, 3, &pg, pg_up, dir);
}

/* in's editor1 claims receipt and decides RETURN with reason. */
static void return_with(const struct itinst *in, const char *receipt, const char *reason)
{
    struct frame_arena *a = NULL;
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    itclaim_ok(ed, receipt);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__DecideRequest d = MINYI__V1__DECIDE_REQUEST__INIT;
    d.receipt = frame_bytes(receipt);
    d.decision = MINYI__V1__DECISION__RETURN;
    d.note = frame_bytes(reason);
    f.body_case = MINYI__V1__FRAME__BODY_DECIDE;
    f.decide = &d;
    Frame *ans = itcall(ed, &f, &a);
    if (ans->body_case != MINYI__V1__FRAME__BODY_DECIDE_OK)
        itexpect_error(ans, 0, NULL);
    assert_int_equal(ans->decide_ok->state, MINYI__V1__REPORT_STATE__RETURNED);
    frame_arena_free(a);
    client_close(ed);
}

/* The item of in's default queue with this receipt must be there, marked
 * as returned from above with reason. */
static void expect_queue_marked(const struct itinst *in, const char *receipt, const char *reason)
{
    struct frame_arena *a = NULL;
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__QueueRequest q = MINYI__V1__QUEUE_REQUEST__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_QUEUE;
    f.queue = &q;
    Frame *ans = itcall(ed, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_QUEUE_OK);
    const Minyi__V1__QueueItem *found = NULL;
    for (size_t i = 0; i < ans->queue_ok->n_items; i++)
        if (itbytes_is(&ans->queue_ok->items[i]->receipt, receipt))
            found = ans->queue_ok->items[i];
    if (found == NULL)
        fail_msg("%s: %s is not in the queue", in->name, receipt);
    assert_int_equal(found->state, MINYI__V1__REPORT_STATE__RECEIVED);
    if (!itbytes_is(&found->returned_above, reason))
        fail_msg("%s: %s is not marked returned from above with the reason", in->name, receipt);
    frame_arena_free(a);
    client_close(ed);
}

/* in's editor's show of receipt (latest version); the caller frees a. */
static const Minyi__V1__ShowResponse *show(const struct itinst *in, const char *receipt,
                                           struct frame_arena **a)
{
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    const Minyi__V1__ShowResponse *s = itshow_ok(ed, receipt, a);
    client_close(ed);
    return s;
}

/* in's editor1 claims receipt, edits its situation to text, and forwards
 * it to dest again. */
static void revise_and_forward(const struct itinst *in, const char *receipt, const char *text,
                               const char *dest, char *up)
{
    struct frame_arena *a = NULL;
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    itclaim_ok(ed, receipt);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__EditRequest e = MINYI__V1__EDIT_REQUEST__INIT;
    e.receipt = frame_bytes(receipt);
    e.situation = frame_bytes(text);
    e.note = frame_bytes("按上级意见补充数据");
    f.body_case = MINYI__V1__FRAME__BODY_EDIT;
    f.edit = &e;
    Frame *ans = itcall(ed, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_EDIT_OK);
    frame_arena_free(a);
    itforward_ok(ed, receipt, dest);
    client_close(ed);
    char *v = NULL;
    long long until = itnow_ms() + WITHIN_MS;
    /* Delivered again: the row is answered with the same receipt there. */
    while (itnow_ms() < until) {
        v = itdb_text(in->conninfo,
                      "SELECT o.upstream_receipt FROM outbox o JOIN reports r ON r.id = o.report_id"
                      " WHERE r.receipt = $1 AND o.state = 'delivered' AND o.revision > 1",
                      1, (const char *const[]){receipt});
        if (v != NULL && *v != '\0')
            break;
        free(v);
        v = NULL;
        itsleep_ms(50);
    }
    if (v == NULL)
        fail_msg("%s: the revision of %s was not delivered", in->name, receipt);
    snprintf(up, IT_RECEIPT_MAX, "%s", v);
    free(v);
}

/* The upper item receipt at in is back in the queue as version 2 with text. */
static void expect_version2(const struct itinst *in, const char *receipt, const char *text)
{
    struct frame_arena *a = NULL;
    itinst_expect_state(in, receipt, "RECEIVED");
    const Minyi__V1__ShowResponse *s = show(in, receipt, &a);
    assert_int_equal(s->latest_version, 2);
    if (!itbytes_is(&s->version->situation, text))
        fail_msg("%s: version 2 of %s does not have the revised text", in->name, receipt);
    bool resubmitted = false;
    for (size_t i = 0; i < s->n_history; i++)
        if (itbytes_is(&s->history[i]->action, "resubmit"))
            resubmitted = true;
    assert_true(resubmitted);
    frame_arena_free(a);
}

/* contact1 submits situation at the district; it goes up to the province.
 * The receipts at each level go to r_dist, r_city and r_prov. */
static void submit_up(const char *situation, char *r_dist, char *r_city, char *r_prov)
{
    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, situation);
    assert_non_null(r);
    itsubmit_ok(c, r, r_dist);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
    itinst_forward(&dist, r_dist, "city", r_city);
    itinst_forward(&city, r_city, "province", r_prov);
}

static void test_return_revise_forward_again(void **state)
{
    (void)state;
    char r_dist[IT_RECEIPT_MAX], r_city[IT_RECEIPT_MAX], r_prov[IT_RECEIPT_MAX];
    char again[IT_RECEIPT_MAX];
    struct frame_arena *a = NULL;

    submit_up("农村养老服务站运营经费不足，部分站点已停止服务。", r_dist, r_city, r_prov);

    /* The province returns it: the city's report is back in its queue,
     * marked with the reason; the district's stays FORWARDED and hears of
     * it as news from above. */
    return_with(&prov, r_prov, REASON_PROV);
    itinst_expect_state(&city, r_city, "RECEIVED");
    expect_queue_marked(&city, r_city, REASON_PROV);
    const Minyi__V1__ShowResponse *s = show(&city, r_city, &a);
    assert_true(itbytes_is(&s->returned_above, REASON_PROV));
    frame_arena_free(a);
    if (!itwait_text(dist.conninfo,
                     "SELECT count(*)::text FROM events e JOIN reports r ON r.id = e.report_id"
                     " WHERE r.receipt = $1 AND e.action = 'result_returned_above'",
                     r_dist, "1", WITHIN_MS))
        fail_msg("the district never heard of the return above");
    itinst_expect_state(&dist, r_dist, "FORWARDED");

    /* The city revises and forwards again: the province has version 2 of
     * the same item, and no second report. */
    revise_and_forward(&city, r_city, REVISED_CITY, "province", again);
    assert_string_equal(again, r_prov);
    expect_version2(&prov, r_prov, REVISED_CITY);
    assert_int_equal(tdb_scalar(prov.conninfo, "SELECT count(*) FROM reports", 0, NULL), 1);
    s = show(&city, r_city, &a);
    assert_int_equal(s->returned_above.len, 0);
    assert_int_equal(s->state, MINYI__V1__REPORT_STATE__FORWARDED);
    frame_arena_free(a);

    /* The writer sees every step: the return above with its reason and
     * body, the city's forward again and its delivery. */
    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    Frame *ans = itstatus(c, r_dist, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    const Minyi__V1__HistoryEntry *h = itstatus_entry(ans->status_ok, "result_returned_above", REASON_PROV);
    assert_true(itbytes_is(&h->body, PROV_NAME));
    itstatus_entry(ans->status_ok, "result_forward", "");
    frame_arena_free(a);
    client_close(c);
    if (!itwait_text(dist.conninfo,
                     "SELECT count(*)::text FROM events e JOIN reports r ON r.id = e.report_id"
                     " WHERE r.receipt = $1 AND e.action = 'result_delivered'",
                     r_dist, "2", WITHIN_MS))
        fail_msg("the district never heard of the second delivery");

    /* The province returns version 2 again (the item can go round more
     * than once); this time the city leaves it, which is its to decide. */
    return_with(&prov, r_prov, REASON_PROV2);
    itinst_expect_state(&city, r_city, "RECEIVED");
    expect_queue_marked(&city, r_city, REASON_PROV2);
}

static void test_return_to_the_writer_and_up_again(void **state)
{
    (void)state;
    char r_dist[IT_RECEIPT_MAX], r_city[IT_RECEIPT_MAX], r_prov[IT_RECEIPT_MAX];
    char again[IT_RECEIPT_MAX];
    static char out[CLI_OUT_MAX], err[CLI_OUT_MAX];
    struct frame_arena *a = NULL;

    submit_up("多个村的养老服务站因经费不足停办，老人无处可去。", r_dist, r_city, r_prov);

    /* Province → city → district → contact point, each with its reason. */
    return_with(&prov, r_prov, REASON_PROV);
    itinst_expect_state(&city, r_city, "RECEIVED");
    return_with(&city, r_city, REASON_CITY);
    itinst_expect_state(&dist, r_dist, "RECEIVED");
    expect_queue_marked(&dist, r_dist, REASON_CITY);
    return_with(&dist, r_dist, REASON_DIST);

    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    Frame *ans = itstatus(c, r_dist, &a);
    assert_int_equal(ans->status_ok->state, MINYI__V1__REPORT_STATE__RETURNED);
    const Minyi__V1__HistoryEntry *h =
        itstatus_entry(ans->status_ok, "result_returned_above", REASON_PROV);
    assert_true(itbytes_is(&h->body, PROV_NAME));
    h = itstatus_entry(ans->status_ok, "result_return", REASON_CITY);
    assert_true(itbytes_is(&h->body, CITY_NAME));
    itstatus_entry(ans->status_ok, "return", REASON_DIST);
    frame_arena_free(a);

    /* The contact point resubmits; the district forwards the revision to
     * the city, the city to the province: one item at each, version 2. */
    Minyi__V1__Report *rev = tmake_report(NULL, REVISED_POINT);
    assert_non_null(rev);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ResubmitRequest q = MINYI__V1__RESUBMIT_REQUEST__INIT;
    q.receipt = frame_bytes(r_dist);
    q.report = rev;
    f.body_case = MINYI__V1__FRAME__BODY_RESUBMIT;
    f.resubmit = &q;
    ans = itcall(c, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_SUBMIT_OK);
    frame_arena_free(a);
    protobuf_c_message_free_unpacked(&rev->base, NULL);
    client_close(c);

    itinst_forward(&dist, r_dist, "city", again);
    assert_string_equal(again, r_city);
    expect_version2(&city, r_city, REVISED_POINT);
    itinst_forward(&city, r_city, "province", again);
    assert_string_equal(again, r_prov);
    expect_version2(&prov, r_prov, REVISED_POINT);

    /* The writer's status tells the whole round on the command line. */
    char profile[PATH_MAX];
    snprintf(profile, sizeof profile, "%s/district-contact.conf", dir);
    assert_true(tprofile_write(profile, "contact1", &dist.gw));
    if (!itwait_text(dist.conninfo,
                     "SELECT count(*)::text FROM events e JOIN reports r ON r.id = e.report_id"
                     " WHERE r.receipt = $1 AND e.action = 'result_delivered'",
                     r_dist, "2", WITHIN_MS))
        fail_msg("the district never heard of the revision's delivery to the province");
    int rc = itrun_cli(dir, profile, (const char *const[]){"status", r_dist, NULL}, out, err,
                       sizeof out);
    assert_int_equal(rc, 0);
    itexpect_contains(out, REASON_PROV);
    itexpect_contains(out, REASON_CITY);
    itexpect_contains(out, REASON_DIST);
    itexpect_contains(out, "resubmit\tby contact1");
    itexpect_contains(out, "result_return\tby " CITY_NAME);
    itexpect_contains(out, "result_returned_above\tby " PROV_NAME);
}

/* The rules of a revision upward, sent by hand as the city's peer: a
 * resend of a revision stored already is a duplicate, and a revision of an
 * item that was not returned is refused with its state. */
static void test_revision_rules(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char *p = itdb_text(prov.conninfo,
                        "SELECT receipt || ' ' || origin_region || ' ' || origin_receipt"
                        " FROM reports WHERE version = 2 AND state = 'RECEIVED' LIMIT 1",
                        0, NULL);
    assert_non_null(p);
    char r_prov[IT_RECEIPT_MAX], origin_region[8], origin_receipt[IT_RECEIPT_MAX];
    assert_int_equal(sscanf(p, "%39s %7s %39s", r_prov, origin_region, origin_receipt), 3);
    free(p);

    /* Version 2 as the city sent it. */
    const Minyi__V1__ShowResponse *s = show(&prov, r_prov, &a);
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itset_raw(&r->title, s->version->title.data, s->version->title.len);
    itset_raw(&r->situation, s->version->situation.data, s->version->situation.len);
    itset_raw(&r->analysis, s->version->analysis.data, s->version->analysis.len);
    itset_raw(&r->suggestions, s->version->suggestions.data, s->version->suggestions.len);
    r->category = s->version->category;
    r->urgency = s->urgency;
    frame_arena_free(a);

    struct client_conn *c = itconnect_gw(&prov.gw, "peer2");
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ForwardRequest q = MINYI__V1__FORWARD_REQUEST__INIT;
    q.report = r;
    q.origin_region = frame_bytes(origin_region);
    q.origin_receipt = frame_bytes(origin_receipt);
    q.origin_body = frame_bytes(DIST_NAME);
    q.upstream_receipt = frame_bytes(r_prov);
    q.revision = 2;
    f.body_case = MINYI__V1__FRAME__BODY_FORWARD;
    f.forward = &q;
    Frame *ans = itcall(c, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_SUBMIT_OK);
    assert_true(itbytes_is(&ans->submit_ok->receipt, r_prov));
    assert_true(ans->submit_ok->duplicate);
    frame_arena_free(a);
    assert_int_equal(tdb_scalar(prov.conninfo, "SELECT version FROM reports WHERE receipt = $1", 1,
                                (const char *const[]){r_prov}),
                     2);

    /* Revision 3 of an item that is not RETURNED: refused, the state named. */
    q.revision = 3;
    ans = itcall(c, &f, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__CONFLICT, "resubmit.receipt");
    assert_true(itbytes_has(&ans->error->message, "RECEIVED"));
    frame_arena_free(a);

    /* A revision without its number is malformed. */
    q.revision = 0;
    ans = itcall(c, &f, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "forward.upstream_receipt");
    frame_arena_free(a);
    client_close(c);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* A contact point's show: its own report only, the current text and the
 * versions it submitted, no field only editors see; a resubmission with
 * one changed field keeps the others. */
static void test_writer_view(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX], title[TEXT_MAX];
    static char out[CLI_OUT_MAX], err[CLI_OUT_MAX];
    struct frame_arena *a = NULL;

    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, "社区食堂价格上涨，独居老人用餐负担加重。");
    assert_non_null(r);
    itsubmit_ok(c, r, receipt);
    itcopy(&r->title, title, sizeof title);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* The editor edits the text (version 2) and returns it. */
    struct client_conn *ed = itconnect_gw(&dist.gw, "editor1");
    itclaim_ok(ed, receipt);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__EditRequest e = MINYI__V1__EDIT_REQUEST__INIT;
    e.receipt = frame_bytes(receipt);
    e.analysis = frame_bytes("编辑改写的原因分析：补贴标准多年未调整。");
    f.body_case = MINYI__V1__FRAME__BODY_EDIT;
    f.edit = &e;
    assert_int_equal(itcall(ed, &f, &a)->body_case, MINYI__V1__FRAME__BODY_EDIT_OK);
    frame_arena_free(a);
    client_close(ed);
    return_with(&dist, receipt, REASON_DIST);

    /* The writer reads the current text, the editor's edit included, and
     * the one version it submitted; nothing only editors see. */
    const Minyi__V1__ShowResponse *s = itshow_ok(c, receipt, &a);
    assert_int_equal(s->state, MINYI__V1__REPORT_STATE__RETURNED);
    assert_int_equal(s->latest_version, 2);
    assert_true(itbytes_has(&s->version->analysis, "编辑改写"));
    assert_int_equal(s->n_submitted, 1);
    assert_int_equal(s->submitted[0]->version, 1);
    assert_true(itbytes_is(&s->submitted[0]->author, "contact1"));
    assert_null(s->reporter);
    assert_int_equal(s->phone.len, 0);
    assert_int_equal(s->contact_point.len, 0);
    assert_int_equal(s->n_history, 0);
    assert_int_equal(s->n_similar, 0);
    assert_int_equal(s->n_deliveries, 0);
    frame_arena_free(a);

    /* Another contact point: as if the report did not exist. */
    struct client_conn *c2 = itconnect_gw(&dist.gw, "contact2");
    Frame sf = MINYI__V1__FRAME__INIT;
    Minyi__V1__ShowRequest sq = MINYI__V1__SHOW_REQUEST__INIT;
    sq.receipt = frame_bytes(receipt);
    sf.body_case = MINYI__V1__FRAME__BODY_SHOW;
    sf.show = &sq;
    Frame *ans = itcall(c2, &sf, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__NOT_FOUND, "show.receipt");
    frame_arena_free(a);
    client_close(c2);
    client_close(c);

    /* The writer changes the situation only, on the command line: the
     * title and the editor's analysis stay. */
    char profile[PATH_MAX];
    snprintf(profile, sizeof profile, "%s/district-contact.conf", dir);
    assert_true(tprofile_write(profile, "contact1", &dist.gw));
    int rc = itrun_cli(dir, profile,
                       (const char *const[]){"resubmit", receipt, "--situation", REVISED_POINT,
                                             NULL},
                       out, err, sizeof out);
    if (rc != 0)
        fail_msg("resubmit with one field: exit %d: %s", rc, err);
    rc = itrun_cli(dir, profile, (const char *const[]){"show", receipt, NULL}, out, err,
                   sizeof out);
    assert_int_equal(rc, 0);
    itexpect_contains(out, "state: RECEIVED");
    itexpect_contains(out, "version: 3 of 3");
    itexpect_contains(out, REVISED_POINT);
    itexpect_contains(out, title);
    itexpect_contains(out, "编辑改写");
    itexpect_contains(out, "submitted version 1,");
    itexpect_contains(out, "submitted version 3,");
    if (strstr(out, "submitted version 2,") != NULL)
        fail_msg("the editor's version is listed as submitted by the writer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_return_revise_forward_again),
        cmocka_unit_test(test_return_to_the_writer_and_up_again),
        cmocka_unit_test(test_revision_rules),
        cmocka_unit_test(test_writer_view),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
