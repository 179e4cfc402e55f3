/*
 * it_instructions: 批示 are events of their own, any number per report, at
 * any time after it was adopted or forwarded, and each reaches the writer.
 * Three real instances — district (330402) → city (330400) → province
 * (330000).  A report goes up to the province and is adopted there; days
 * later (given dates a day apart) a 省领导 writes a 批示 at the province and
 * a 市领导 one at the city, the latter typed in from paper.  The district's
 * contact point sees both in its status with level, text, date and body,
 * and so does the writer of a second report the district merged into the
 * first before passing it up: credit follows the merge.
 * Every history line names who acted (the contact point or editor here,
 * the body above).  And the rules: only on an adopted or forwarded report, only a level of
 * the closed list, never dated in the future, only by editors.
 */
#include <setjmp.h>
#include <signal.h>
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
#define DAY_MS (24LL * 60 * 60 * 1000)
#define CLI_OUT_MAX (64 * 1024)
#define TEXT_PROV "请省民政厅牵头研究，完善农村养老服务站运营补贴政策。"
#define TEXT_CITY "请市民政局抓好落实，年底前报告进展。"

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
    snprintf(dir, sizeof dir, "/tmp/it_instructions-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&dist, &city, &prov}, 3, &pg, pg_up, dir);
}

static long long result_instructions(const struct itinst *in, const char *receipt)
{
    return tdb_scalar(in->conninfo,
                      "SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id"
                      " WHERE r.receipt = $1 AND e.action = 'result_instruction'",
                      1, (const char *const[]){receipt});
}

/* The history entry of the writer's status with this 批示 text. */
static const Minyi__V1__HistoryEntry *entry_with(const Minyi__V1__StatusResponse *s,
                                                 const char *text)
{
    char buf[512];
    for (size_t i = 0; i < s->n_history; i++) {
        itcopy(&s->history[i]->instruction, buf, sizeof buf);
        if (strcmp(buf, text) == 0)
            return s->history[i];
    }
    fail_msg("no history entry with the 批示 %s", text);
    return NULL;
}

static void expect_text(const ProtobufCBinaryData *b, const char *want)
{
    char buf[512];
    itcopy(b, buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("want \"%s\", got \"%s\"", want, buf);
}

static void submit_as(const char *cert, const char *situation, char *receipt)
{
    struct client_conn *c = itconnect_gw(&dist.gw, cert);
    Minyi__V1__Report *r = tmake_report(NULL, situation);
    assert_non_null(r);
    itsubmit_ok(c, r, receipt);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
}

/* What the writer cert sees of its report receipt: both 批示, each with
 * its level, text, date and body, and the surviving report's state. */
static void expect_writer_sees(const char *cert, const char *receipt, long long d1,
                               long long d2)
{
    struct frame_arena *a = NULL;
    struct client_conn *c = itconnect_gw(&dist.gw, cert);
    Frame *ans = itstatus(c, receipt, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    assert_int_equal(ans->status_ok->state, MINYI__V1__REPORT_STATE__ADOPTED_ABOVE);
    const Minyi__V1__HistoryEntry *h = entry_with(ans->status_ok, TEXT_PROV);
    expect_text(&h->instruction_level, "省领导");
    expect_text(&h->body, IT_PROV_NAME);
    expect_text(&h->action, "result_instruction");
    assert_true(h->at_ms / 1000 == d1 / 1000);
    h = entry_with(ans->status_ok, TEXT_CITY);
    expect_text(&h->instruction_level, "市领导");
    expect_text(&h->body, IT_CITY_NAME);
    assert_true(h->at_ms == d2);
    char note[256];
    itcopy(&h->note, note, sizeof note);
    itexpect_contains(note, "纸质");
    frame_arena_free(a);
    client_close(c);
}

static void test_two_instructions_reach_the_writer(void **state)
{
    (void)state;
    char r_dist[IT_RECEIPT_MAX], r_city[IT_RECEIPT_MAX], r_prov[IT_RECEIPT_MAX];
    char r_merged[IT_RECEIPT_MAX];
    static char out[CLI_OUT_MAX], err[CLI_OUT_MAX];
    struct frame_arena *a = NULL;

    submit_as("contact1", "农村养老服务站运营经费不足，部分站点已停止服务。", r_dist);
    submit_as("contact2", "多个村的养老服务站因经费不足停办，老人无处可去。", r_merged);

    /* The district merges the second writer's report into the first. */
    struct client_conn *c = itconnect_gw(&dist.gw, "editor1");
    itclaim_ok(c, r_merged);
    Frame mf = MINYI__V1__FRAME__INIT;
    Minyi__V1__DecideRequest md = MINYI__V1__DECIDE_REQUEST__INIT;
    md.receipt = frame_bytes(r_merged);
    md.decision = MINYI__V1__DECISION__MERGE;
    md.into_receipt = frame_bytes(r_dist);
    mf.body_case = MINYI__V1__FRAME__BODY_DECIDE;
    mf.decide = &md;
    assert_int_equal(itcall(c, &mf, &a)->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    frame_arena_free(a);
    client_close(c);

    /* Not yet adopted or forwarded: no 批示 yet. */
    Frame *ans = itinst_instruct(&dist, "editor1", r_dist,
                                 MINYI__V1__INSTRUCTION_LEVEL__COUNTY_LEADER, "请研究", 0, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__CONFLICT, "instruct.receipt");
    frame_arena_free(a);

    itinst_forward(&dist, r_dist, "city", r_city);
    itinst_forward(&city, r_city, "province", r_prov);
    struct client_conn *ed = itconnect_gw(&prov.gw, "editor1");
    itclaim_ok(ed, r_prov);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__DecideRequest d = MINYI__V1__DECIDE_REQUEST__INIT;
    d.receipt = frame_bytes(r_prov);
    d.decision = MINYI__V1__DECISION__ADOPT;
    f.body_case = MINYI__V1__FRAME__BODY_DECIDE;
    f.decide = &d;
    assert_int_equal(itcall(ed, &f, &a)->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    frame_arena_free(a);
    client_close(ed);
    itinst_expect_state(&city, r_city, "ADOPTED_ABOVE");

    /* Two days ago a 省领导 wrote at the province (on the command line);
     * a day later a 市领导 at the city, on paper. */
    long long now_ms = (long long)time(NULL) * 1000;
    long long d1 = now_ms - 2 * DAY_MS, d2 = now_ms - DAY_MS;
    /* The report arrived at the province only now, so the 批示 given
     * "two days ago" there is dated from before it arrived: refused. */
    ans = itinst_instruct(&prov, "editor1", r_prov,
                          MINYI__V1__INSTRUCTION_LEVEL__PROVINCIAL_LEADER, TEXT_PROV, d1, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "instruct.given_at_ms");
    frame_arena_free(a);
    /* So the simulated days are the reports' own: move every instance's
     * arrival two days and more back, as if it had all happened earlier. */
    itdb_exec(prov.conninfo, "UPDATE reports SET received_at = received_at - interval '3 days'");
    itdb_exec(city.conninfo, "UPDATE reports SET received_at = received_at - interval '3 days'");

    char profile[PATH_MAX], date[32];
    snprintf(profile, sizeof profile, "%s/province-editor.conf", dir);
    assert_true(tprofile_write(profile, "editor1", &prov.gw));
    /* The CLI reads dates as China time (UTC+8), whatever TZ says. */
    time_t t1 = (time_t)(d1 / 1000) + 8 * 3600;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", gmtime(&t1));
    int rc = itrun_cli(dir, profile,
                       (const char *const[]){"instruct", r_prov, "--level", "省领导", "--text",
                                             TEXT_PROV, "--leader", "省委副书记", "--date", date,
                                             NULL},
                       out, err, sizeof out);
    assert_int_equal(rc, 0);
    itexpect_contains(out, "ADOPTED");

    c = itconnect_gw(&city.gw, "editor1");
    Minyi__V1__InstructRequest q = MINYI__V1__INSTRUCT_REQUEST__INIT;
    q.receipt = frame_bytes(r_city);
    q.level = MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER;
    q.text = frame_bytes(TEXT_CITY);
    q.given_at_ms = d2;
    q.on_paper = true;
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_INSTRUCT;
    f.instruct = &q;
    ans = itcall(c, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    assert_int_equal(ans->decide_ok->state, MINYI__V1__REPORT_STATE__ADOPTED_ABOVE);
    frame_arena_free(a);
    client_close(c);

    /* Both reach the district, and the writer sees each with its level,
     * text, date and the body that recorded it. */
    long long until = itnow_ms() + IT_INST_WITHIN_MS;
    while (result_instructions(&dist, r_dist) < 2 && itnow_ms() < until)
        itsleep_ms(50);
    assert_int_equal(result_instructions(&dist, r_dist), 2);
    expect_writer_sees("contact1", r_dist, d1, d2);
    /* Credit follows the merge: the second writer sees the same under
     * its own receipt. */
    expect_writer_sees("contact2", r_merged, d1, d2);

    /* The same on the writer's command line. */
    snprintf(profile, sizeof profile, "%s/district-contact.conf", dir);
    assert_true(tprofile_write(profile, "contact1", &dist.gw));
    rc = itrun_cli(dir, profile, (const char *const[]){"status", r_dist, NULL}, out, err,
                   sizeof out);
    assert_int_equal(rc, 0);
    itexpect_contains(out, "批示 (省领导): " TEXT_PROV);
    itexpect_contains(out, "批示 (市领导): " TEXT_CITY);
    /* Each line names who acted: here the contact point and the editor,
     * above the body. */
    itexpect_contains(out, "received\tby contact1");
    itexpect_contains(out, "forward\tby editor1");
    itexpect_contains(out, "result_adopt\tby " IT_PROV_NAME);
}

/* Only a level of the closed list, never in the future, only editors. */
static void test_instruction_refusals(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX];
    struct frame_arena *a = NULL;
    struct client_conn *c = itconnect_gw(&city.gw, "editor1");
    char *any = itdb_text(city.conninfo,
                          "SELECT receipt FROM reports WHERE state = 'ADOPTED_ABOVE' LIMIT 1", 0,
                          NULL);
    assert_non_null(any);
    snprintf(receipt, sizeof receipt, "%s", any);
    free(any);
    client_close(c);

    Frame *ans = itinst_instruct(&city, "editor1", receipt, 9, "请研究", 0, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "instruct.level");
    frame_arena_free(a);
    ans = itinst_instruct(&city, "editor1", receipt, MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER, "",
                          0, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "instruct.text");
    frame_arena_free(a);
    ans = itinst_instruct(&city, "editor1", receipt, MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER,
                          "请研究", (long long)time(NULL) * 1000 + DAY_MS, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "instruct.given_at_ms");
    frame_arena_free(a);
    ans = itinst_instruct(&city, "peer1", receipt, MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER,
                          "请研究", 0, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    frame_arena_free(a);
    ans = itinst_instruct(&city, "editor1", "330400-2000-999999",
                          MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER, "请研究", 0, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__NOT_FOUND, "instruct.receipt");
    frame_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_instructions_reach_the_writer),
        cmocka_unit_test(test_instruction_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
