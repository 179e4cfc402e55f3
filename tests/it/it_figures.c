/*
 * it_figures: the office's figures and 考核 points, checked against values
 * worked out by hand from a history built through three real instances —
 * district (330402) → city (330400) → province (330000) — over real TLS
 * and real PostgreSQL.
 *
 * At the district, contact1 writes A, B and G; contact2 writes M, E and F.
 * The district merges M into B, adopts E, rejects F, returns G and
 * forwards A and B to the city.  The city adopts A with a 市领导 批示 and
 * records a second 市领导 批示 on it; it forwards B to the province, which
 * adopts it and records a 省领导 批示, and in the same request sends B to
 * 市委办公室 (an external destination) under a document number, whose
 * 办理答复 the city's editor records.  Every result flows back down.
 *
 * Figures (each report once per figure) at the district:
 *   received 6, adopted 1 (E), forwarded 2 (A, B), rejected 1 (F),
 *   returned 1 (G), merged 1 (M), adopted by the city 1 (A), by the
 *   province 1 (B), 市领导 批示 1 (A, given twice), 省领导 批示 1 (B);
 *   contact1: received 3, forwarded 2, returned 1, city 1, province 1,
 *   市领导 1, 省领导 1; contact2: received 3, adopted 1, rejected 1, merged 1.
 * At the city: received 2, adopted 1, forwarded 1, province 1, 市领导 1,
 * 省领导 1, 报送 outside the hierarchy 1 and its response 1 (the district
 * hears of both but counts neither: they are the city's).  At the
 * province: received 1, adopted 1, 省领导 1.
 *
 * Points at the district under the default table (adopted 2, city 3,
 * province 5, 市领导 3, 省领导 8, merged writers split):
 *   contact1: A 3 + 3, B (5 + 8) / 2 = 12.5 over 4 items;
 *   contact2: E 2, B (5 + 8) / 2 = 8.5 over 3 items.
 * After the table changes to adopted 1, province 10, 省领导 4, merged
 * writers each in full (and SIGHUP):
 *   contact1: B 10 + 4 = 14 over 2 items; contact2: E 1 + B 14 = 15 over 3.
 *
 * The CLI's figures as CSV and as an Excel workbook hold the same numbers:
 * the workbook is read back with python3's zipfile and xml.
 */
#include <limits.h>
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
#define CHINA_OFFSET_S (8 * 3600)
#define CLI_OUT_MAX (64 * 1024)
#define FIGURES_MAX 1024

static struct tpg pg;
static bool pg_up;
static struct itinst prov, city, dist;
static char dir[64];
static char ra[IT_RECEIPT_MAX], rb[IT_RECEIPT_MAX], rg[IT_RECEIPT_MAX];
static char rm[IT_RECEIPT_MAX], re_[IT_RECEIPT_MAX], rf[IT_RECEIPT_MAX];
static int64_t contact1, contact2;

static int setup(void **state)
{
    (void)state;
    if (!tpg_start(&pg))
        return -1;
    pg_up = true;
    if (!itinst_chain_up_ini(&pg, &prov, &city, &dist, RESULTS_INTERVAL_MS,
                             "[external.swb]\ndisplay_name = 市委办公室\n") ||
        tprincipal_add(prov.conninfo, "office1", "office", IT_PROV_REGION, true) <= 0 ||
        tprincipal_add(city.conninfo, "office1", "office", IT_CITY_REGION, true) <= 0 ||
        tprincipal_add(dist.conninfo, "office1", "office", IT_DIST_REGION, true) <= 0)
        return -1;
    contact1 = tprincipal_add(dist.conninfo, "contact1", "contact", IT_DIST_REGION, true);
    contact2 = tprincipal_add(dist.conninfo, "contact2", "contact", IT_DIST_REGION, true);
    snprintf(dir, sizeof dir, "/tmp/it_figures-XXXXXX");
    return contact1 > 0 && contact2 > 0 && mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&dist, &city, &prov}, 3, &pg, pg_up, dir);
}

/* contact1's reports are tmake_report's (张三 of 南湖区政协, a member of
 * 经济界, society); contact2's are 李四's of a contact point, 教育界, economy. */
static void submit_as(const char *cert, const char *situation, char *receipt)
{
    struct client_conn *c = itconnect_gw(&dist.gw, cert);
    Minyi__V1__Report *r = tmake_report(NULL, situation);
    assert_non_null(r);
    if (strcmp(cert, "contact2") == 0) {
        itset(&r->reporter->name, "李四");
        itset(&r->reporter->unit, "某联系点");
        itset(&r->reporter->sector, "教育界");
        r->reporter->kind = MINYI__V1__REPORTER_KIND__CONTACT_POINT;
        r->category = MINYI__V1__CATEGORY__ECONOMY;
    }
    itsubmit_ok(c, r, receipt);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
}

/* in's editor1 claims receipt and decides it (with note, into, 批示). */
static void decide(const struct itinst *in, const char *receipt, int decision, const char *note,
                   const char *into, const char *instruction, const char *level)
{
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    Minyi__V1__DecideRequest q = MINYI__V1__DECIDE_REQUEST__INIT;
    itclaim_ok(ed, receipt);
    q.receipt = frame_bytes(receipt);
    q.decision = decision;
    q.note = frame_bytes(note != NULL ? note : "");
    q.into_receipt = frame_bytes(into != NULL ? into : "");
    q.instruction = frame_bytes(instruction != NULL ? instruction : "");
    q.instruction_level = frame_bytes(level != NULL ? level : "");
    itdecide_req_ok(ed, &q);
    client_close(ed);
}

static void instruct_ok(const struct itinst *in, const char *receipt, int level, const char *text)
{
    struct frame_arena *a = NULL;
    Frame *ans = itinst_instruct(in, "editor1", receipt, level, text, 0, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    frame_arena_free(a);
}

/* The city's editor forwards B to the province and, in the same request,
 * to 市委办公室 under a document number; then records 市委办公室's
 * 办理答复.  The receipt at the province goes to up. */
static void city_forward_and_send_out(const char *receipt, char *up)
{
    struct frame_arena *a = NULL;
    struct client_conn *ed = itconnect_gw(&city.gw, "editor1");
    ProtobufCBinaryData dests[] = {frame_bytes("province"), frame_bytes("swb")};
    Minyi__V1__DecideRequest q = MINYI__V1__DECIDE_REQUEST__INIT;
    itclaim_ok(ed, receipt);
    q.receipt = frame_bytes(receipt);
    q.decision = MINYI__V1__DECISION__FORWARD;
    q.destinations = dests;
    q.n_destinations = 2;
    q.document_number = frame_bytes("嘉政协信〔2026〕7号");
    itdecide_req_ok(ed, &q);
    const char *sql = "SELECT o.upstream_receipt FROM outbox o JOIN reports r"
                      " ON r.id = o.report_id WHERE r.receipt = $1"
                      " AND o.destination = 'province' AND o.state = 'delivered'";
    long long until = itnow_ms() + IT_INST_WITHIN_MS;
    char *v = NULL;
    while ((v = itdb_text(city.conninfo, sql, 1, (const char *const[]){receipt})) == NULL &&
           itnow_ms() < until)
        itsleep_ms(50);
    if (v == NULL)
        fail_msg("the city's %s was not delivered to the province", receipt);
    snprintf(up, IT_RECEIPT_MAX, "%s", v);
    free(v);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ExternalResponseRequest r = MINYI__V1__EXTERNAL_RESPONSE_REQUEST__INIT;
    r.receipt = frame_bytes(receipt);
    r.destination = frame_bytes("swb");
    r.kind = MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_REPLY;
    r.text = frame_bytes("已转市民政局办理。");
    f.body_case = MINYI__V1__FRAME__BODY_EXTERNAL_RESPONSE;
    f.external_response = &r;
    Frame *ans = itcall(ed, &f, &a);
    if (ans->body_case != MINYI__V1__FRAME__BODY_DECIDE_OK)
        itexpect_error(ans, 0, NULL); /* fails, naming the error */
    frame_arena_free(a);
    client_close(ed);
}

static long long events_at(const struct itinst *in, const char *receipt, const char *action)
{
    return tdb_scalar(in->conninfo,
                      "SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id"
                      " WHERE r.receipt = $1 AND e.action = $2",
                      2, (const char *const[]){receipt, action});
}

static void wait_events(const struct itinst *in, const char *receipt, const char *action,
                        long long n)
{
    long long until = itnow_ms() + IT_INST_WITHIN_MS;
    while (events_at(in, receipt, action) < n && itnow_ms() < until)
        itsleep_ms(50);
    if (events_at(in, receipt, action) != n)
        fail_msg("%s: %s has %lld %s events, want %lld", in->name, receipt,
                 events_at(in, receipt, action), action, n);
}

static void test_history_through_three_levels(void **state)
{
    (void)state;
    char a_city[IT_RECEIPT_MAX], b_city[IT_RECEIPT_MAX], b_prov[IT_RECEIPT_MAX];

    submit_as("contact1", "乡镇卫生院药品配备不全，慢性病患者需进城取药。", ra);
    submit_as("contact1", "农村养老服务站运营经费不足，部分站点已停止服务。", rb);
    submit_as("contact1", "部分小区电动自行车充电设施不足，飞线充电现象多。", rg);
    submit_as("contact2", "多个村的养老服务站因经费不足停办，老人无处可去。", rm);
    submit_as("contact2", "中小企业融资担保门槛高，贷款难问题仍然突出。", re_);
    submit_as("contact2", "建议在城区增设公共停车位。", rf);

    decide(&dist, rm, MINYI__V1__DECISION__MERGE, NULL, rb, NULL, NULL);
    decide(&dist, re_, MINYI__V1__DECISION__ADOPT, NULL, NULL, NULL, NULL);
    decide(&dist, rf, MINYI__V1__DECISION__REJECT, "已有相关规划", NULL, NULL, NULL);
    decide(&dist, rg, MINYI__V1__DECISION__RETURN, "请补充具体小区名单", NULL, NULL, NULL);
    itinst_forward(&dist, ra, "city", a_city);
    itinst_forward(&dist, rb, "city", b_city);

    decide(&city, a_city, MINYI__V1__DECISION__ADOPT, NULL, NULL, "请市卫健委研究办理。",
           "市领导");
    instruct_ok(&city, a_city, MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER, "请抓紧落实。");
    city_forward_and_send_out(b_city, b_prov);
    decide(&prov, b_prov, MINYI__V1__DECISION__ADOPT, NULL, NULL, NULL, NULL);
    instruct_ok(&prov, b_prov, MINYI__V1__INSTRUCTION_LEVEL__PROVINCIAL_LEADER,
                "请省民政厅研究，完善运营补贴政策。");

    /* Every result has come down to the district. */
    itinst_expect_state(&dist, ra, "ADOPTED_ABOVE");
    itinst_expect_state(&dist, rb, "ADOPTED_ABOVE");
    wait_events(&dist, ra, "result_instruction", 1);
    wait_events(&dist, rb, "result_instruction", 1);
    wait_events(&city, b_city, "result_instruction", 1);
    wait_events(&dist, rb, "result_external_response", 1);
}

/* ---- figures ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A row's figures as "name=count ..." in byte order of the names. */
static void row_text(const Minyi__V1__StatsRow *row, char *out, size_t len)
{
    char names[64][128];
    const char *sorted[64];
    size_t n = row->n_figures < 64 ? row->n_figures : 64;
    for (size_t i = 0; i < n; i++) {
        char name[96];
        itcopy(&row->figures[i]->name, name, sizeof name);
        snprintf(names[i], sizeof names[i], "%s=%llu", name,
                 (unsigned long long)row->figures[i]->count);
        sorted[i] = names[i];
    }
    qsort(sorted, n, sizeof sorted[0], cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", sorted[i]);
}

static void expect_row(const Minyi__V1__StatsRow *row, const char *want)
{
    char got[FIGURES_MAX];
    row_text(row, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("figures\n got  %s\n want %s", got, want);
}

static const Minyi__V1__StatsRow *row_with_key(const Minyi__V1__StatsResponse *m,
                                               const char *key)
{
    char k[128];
    for (size_t i = 0; i < m->n_rows; i++) {
        itcopy(&m->rows[i]->key, k, sizeof k);
        if (strcmp(k, key) == 0)
            return m->rows[i];
    }
    fail_msg("no row with key %s among %zu", key, m->n_rows);
    return NULL;
}

/* cert's figures at in of the days around now; fails unless answered. */
static Frame *stats(const struct itinst *in, const char *cert, int by, struct frame_arena **a)
{
    struct client_conn *c = itconnect_gw(&in->gw, cert);
    long long now = (long long)time(NULL) * 1000;
    Frame *ans = itstats(c, now - DAY_MS, now + DAY_MS, by, a);
    client_close(c);
    if (ans->body_case != MINYI__V1__FRAME__BODY_STATS_OK)
        itexpect_error(ans, 0, NULL); /* fails, naming the error */
    return ans;
}

#define DIST_TOTAL                                                                          \
    "adopted=1 adopted_above:city=1 adopted_above:provincial=1 forwarded=2 "               \
    "instruction:市领导=1 instruction:省领导=1 merged=1 received=6 rejected=1 returned=1"
#define DIST_C1                                                                             \
    "adopted_above:city=1 adopted_above:provincial=1 forwarded=2 instruction:市领导=1 "   \
    "instruction:省领导=1 received=3 returned=1"
#define DIST_C2 "adopted=1 merged=1 received=3 rejected=1"

static void test_figures(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char key1[32], key2[32], month[16];
    snprintf(key1, sizeof key1, "%lld", (long long)contact1);
    snprintf(key2, sizeof key2, "%lld", (long long)contact2);
    time_t now = time(NULL) + CHINA_OFFSET_S;
    strftime(month, sizeof month, "%Y-%m", gmtime(&now));

    Frame *ans = stats(&dist, "office1", MINYI__V1__STATS_BY__STATS_BY_TOTAL, &a);
    expect_row(ans->stats_ok->total, DIST_TOTAL);
    assert_int_equal(ans->stats_ok->n_rows, 0);
    frame_arena_free(a);

    ans = stats(&dist, "office1", MINYI__V1__STATS_BY__STATS_BY_CONTACT_POINT, &a);
    assert_int_equal(ans->stats_ok->n_rows, 2);
    expect_row(row_with_key(ans->stats_ok, key1), DIST_C1);
    expect_row(row_with_key(ans->stats_ok, key2), DIST_C2);
    char label[64];
    itcopy(&row_with_key(ans->stats_ok, key1)->label, label, sizeof label);
    assert_string_equal(label, "contact1");
    expect_row(ans->stats_ok->total, DIST_TOTAL);
    frame_arena_free(a);

    ans = stats(&dist, "office1", MINYI__V1__STATS_BY__STATS_BY_SECTOR, &a);
    assert_int_equal(ans->stats_ok->n_rows, 2);
    expect_row(row_with_key(ans->stats_ok, "经济界"), DIST_C1);
    expect_row(row_with_key(ans->stats_ok, "教育界"), DIST_C2);
    frame_arena_free(a);

    ans = stats(&dist, "office1", MINYI__V1__STATS_BY__STATS_BY_CATEGORY, &a);
    assert_int_equal(ans->stats_ok->n_rows, 2);
    expect_row(row_with_key(ans->stats_ok, "4"), DIST_C1);   /* SOCIETY */
    expect_row(row_with_key(ans->stats_ok, "1"), DIST_C2);   /* ECONOMY */
    frame_arena_free(a);

    ans = stats(&dist, "office1", MINYI__V1__STATS_BY__STATS_BY_REPORTER_KIND, &a);
    assert_int_equal(ans->stats_ok->n_rows, 2);
    expect_row(row_with_key(ans->stats_ok, "1"), DIST_C1);   /* MEMBER */
    expect_row(row_with_key(ans->stats_ok, "6"), DIST_C2);   /* CONTACT_POINT */
    frame_arena_free(a);

    ans = stats(&dist, "office1", MINYI__V1__STATS_BY__STATS_BY_REGION, &a);
    assert_int_equal(ans->stats_ok->n_rows, 1);
    expect_row(row_with_key(ans->stats_ok, IT_DIST_REGION), DIST_TOTAL);
    frame_arena_free(a);

    ans = stats(&dist, "office1", MINYI__V1__STATS_BY__STATS_BY_MONTH, &a);
    assert_int_equal(ans->stats_ok->n_rows, 1);
    expect_row(row_with_key(ans->stats_ok, month), DIST_TOTAL);
    frame_arena_free(a);

    /* A contact point sees its own figures only. */
    ans = stats(&dist, "contact2", MINYI__V1__STATS_BY__STATS_BY_CONTACT_POINT, &a);
    assert_int_equal(ans->stats_ok->n_rows, 1);
    expect_row(ans->stats_ok->total, DIST_C2);
    frame_arena_free(a);

    /* The levels above count their own part of the same history. */
    ans = stats(&city, "office1", MINYI__V1__STATS_BY__STATS_BY_TOTAL, &a);
    expect_row(ans->stats_ok->total, "adopted=1 adopted_above:provincial=1 "
                                     "external_responses=1 external_sent=1 forwarded=1 "
                                     "instruction:市领导=1 instruction:省领导=1 received=2");
    frame_arena_free(a);
    ans = stats(&prov, "office1", MINYI__V1__STATS_BY__STATS_BY_TOTAL, &a);
    expect_row(ans->stats_ok->total, "adopted=1 instruction:省领导=1 received=1");
    frame_arena_free(a);

    /* A period before any of it holds nothing. */
    struct client_conn *c = itconnect_gw(&dist.gw, "office1");
    long long from = (long long)time(NULL) * 1000 - 10 * DAY_MS;
    ans = itstats(c, from, from + DAY_MS, MINYI__V1__STATS_BY__STATS_BY_TOTAL, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATS_OK);
    expect_row(ans->stats_ok->total, "");
    frame_arena_free(a);
    client_close(c);
}

/* ---- points ----------------------------------------------------------------- */

static int this_year(void)
{
    time_t t = time(NULL) + CHINA_OFFSET_S;
    return gmtime(&t)->tm_year + 1900;
}

static Frame *points(int by, struct frame_arena **a)
{
    struct client_conn *c = itconnect_gw(&dist.gw, "office1");
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__PointsRequest q = MINYI__V1__POINTS_REQUEST__INIT;
    q.year = this_year();
    q.by = by;
    q.explain = true;
    f.body_case = MINYI__V1__FRAME__BODY_POINTS;
    f.points = &q;
    Frame *ans = itcall(c, &f, a);
    client_close(c);
    if (ans->body_case != MINYI__V1__FRAME__BODY_POINTS_OK)
        itexpect_error(ans, 0, NULL);
    return ans;
}

static void expect_points_row(const Minyi__V1__PointsRow *r, const char *key, double pts,
                              uint32_t items)
{
    char k[128];
    itcopy(&r->key, k, sizeof k);
    if (strcmp(k, key) != 0 || r->points != pts || r->items != items)
        fail_msg("points row %s %g over %u, want %s %g over %u", k, r->points, r->items, key,
                 pts, items);
}

/* Each item names the event that earned it: an event of its report here,
 * of the action its figure comes from. */
static void expect_items_traceable(const Minyi__V1__PointsResponse *m)
{
    for (size_t i = 0; i < m->n_items; i++) {
        char receipt[IT_RECEIPT_MAX], figure[96], id[32], via[IT_RECEIPT_MAX];
        itcopy(&m->items[i]->receipt, receipt, sizeof receipt);
        itcopy(&m->items[i]->figure, figure, sizeof figure);
        itcopy(&m->items[i]->via_receipt, via, sizeof via);
        snprintf(id, sizeof id, "%lld", (long long)m->items[i]->event_id);
        char *ev = itdb_text(dist.conninfo,
                             "SELECT r.receipt || ' ' || e.action || ' ' ||"
                             " coalesce(e.instruction_level, '') FROM events e"
                             " JOIN reports r ON r.id = e.report_id WHERE e.id = $1::int8",
                             1, (const char *const[]){id});
        if (ev == NULL)
            fail_msg("item %s %s names no event (%s)", receipt, figure, id);
        if (strncmp(ev, receipt, strlen(receipt)) != 0)
            fail_msg("item %s %s: event %s is of another report: %s", receipt, figure, id, ev);
        if (strcmp(figure, "adopted") == 0)
            itexpect_contains(ev, " adopt ");
        else if (strncmp(figure, "adopted_above:", 14) == 0)
            itexpect_contains(ev, " result_adopt ");
        else if (strncmp(figure, "instruction:", 12) == 0)
            itexpect_contains(ev, figure + 12);
        else
            fail_msg("item of an unexpected figure %s", figure);
        /* contact2 shares B through M, which was merged into it. */
        if (strcmp(receipt, rb) == 0 && m->items[i]->writers != 2)
            fail_msg("item %s %s shared by %u writers, want 2", receipt, figure,
                     m->items[i]->writers);
        if (via[0] != '\0')
            assert_string_equal(via, rm);
        free(ev);
    }
}

static void test_points(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char key1[32], key2[32];
    snprintf(key1, sizeof key1, "%lld", (long long)contact1);
    snprintf(key2, sizeof key2, "%lld", (long long)contact2);

    Frame *ans = points(MINYI__V1__POINTS_BY__POINTS_BY_CONTACT_POINT, &a);
    assert_int_equal(ans->points_ok->n_rows, 2);
    expect_points_row(ans->points_ok->rows[0], key1, 12.5, 4);
    expect_points_row(ans->points_ok->rows[1], key2, 8.5, 3);
    assert_int_equal(ans->points_ok->n_items, 7);
    assert_true(ans->points_ok->merged_split);
    expect_items_traceable(ans->points_ok);
    frame_arena_free(a);

    ans = points(MINYI__V1__POINTS_BY__POINTS_BY_REPORTER, &a);
    assert_int_equal(ans->points_ok->n_rows, 2);
    expect_points_row(ans->points_ok->rows[0], "张三（南湖区政协）", 12.5, 4);
    expect_points_row(ans->points_ok->rows[1], "李四（某联系点）", 8.5, 3);
    frame_arena_free(a);
}

/* ---- the CLI: CSV and the workbook read back ---------------------------------- */

/* Prints one sheet of an .xlsx as CSV (the CLI's quoting, numbers %.15g),
 * after checking that its header row is frozen, its columns have widths
 * and its numbers are stored as numbers. */
static const char xlsx_to_csv[] =
    "import sys, zipfile, csv, io, re\n"
    "import xml.etree.ElementTree as ET\n"
    "M = '{http://schemas.openxmlformats.org/spreadsheetml/2006/main}'\n"
    "R = '{http://schemas.openxmlformats.org/officeDocument/2006/relationships}'\n"
    "z = zipfile.ZipFile(sys.argv[1])\n"
    "wb = ET.fromstring(z.read('xl/workbook.xml'))\n"
    "rels = ET.fromstring(z.read('xl/_rels/workbook.xml.rels'))\n"
    "target = {r.get('Id'): r.get('Target') for r in rels}\n"
    "sheets = [s for s in wb.iter(M + 'sheet')]\n"
    "print('sheets', len(sheets), file=sys.stderr)\n"
    "sheet = [s for s in sheets if s.get('name') == sys.argv[2]][0]\n"
    "ws = ET.fromstring(z.read('xl/' + target[sheet.get(R + 'id')]))\n"
    "strings = []\n"
    "if 'xl/sharedStrings.xml' in z.namelist():\n"
    "    for si in ET.fromstring(z.read('xl/sharedStrings.xml')).iter(M + 'si'):\n"
    "        strings.append(''.join(t.text or '' for t in si.iter(M + 't')))\n"
    "pane = ws.find('.//' + M + 'pane')\n"
    "assert pane is not None and pane.get('state') == 'frozen' and pane.get('ySplit') == '1'\n"
    "assert all(float(c.get('width')) > 2 for c in ws.iter(M + 'col'))\n"
    "assert len(list(ws.iter(M + 'col'))) > 0\n"
    "out = io.StringIO()\n"
    "w = csv.writer(out, lineterminator='\\r\\n')\n"
    "numbers = 0\n"
    "def col(ref):\n"
    "    n = 0\n"
    "    for ch in re.match('[A-Z]+', ref).group(0):\n"
    "        n = n * 26 + ord(ch) - 64\n"
    "    return n - 1\n"
    "for row in ws.iter(M + 'row'):\n"
    "    vals = []\n"
    "    for c in row.iter(M + 'c'):\n"
    "        while len(vals) < col(c.get('r')):\n"
    "            vals.append('')\n"
    "        v = c.find(M + 'v')\n"
    "        if c.get('t') == 's':\n"
    "            vals.append(strings[int(v.text)])\n"
    "        elif c.get('t') is None:\n"
    "            vals.append('%.15g' % float(v.text))\n"
    "            numbers += 1\n"
    "        else:\n"
    "            raise SystemExit('cell of type ' + c.get('t'))\n"
    "    w.writerow(vals)\n"
    "assert numbers > 0\n"
    "sys.stdout.write(out.getvalue())\n";

static void test_cli_csv_and_xlsx(void **state)
{
    (void)state;
    static char csv[CLI_OUT_MAX], back[CLI_OUT_MAX], err[CLI_OUT_MAX];
    char profile[PATH_MAX], xlsx[PATH_MAX], script[PATH_MAX], today[16];
    time_t now = time(NULL) + CHINA_OFFSET_S;
    strftime(today, sizeof today, "%Y-%m-%d", gmtime(&now));
    snprintf(profile, sizeof profile, "%s/office.conf", dir);
    snprintf(xlsx, sizeof xlsx, "%s/figures.xlsx", dir);
    snprintf(script, sizeof script, "%s/xlsx_to_csv.py", dir);
    assert_true(tprofile_write(profile, "office1", &dist.gw));
    itwrite_file(script, xlsx_to_csv);

    int rc = itrun_cli(dir, profile,
                       (const char *const[]){"stats", "--from", today, "--to", today, "--by",
                                             "contact-point", "--csv", NULL},
                       csv, err, sizeof csv);
    assert_int_equal(rc, 0);
    /* The header in Chinese, a row per contact point with its figures as
     * numbers, the total last. */
    itexpect_contains(csv, "联系点编号,名称,编报,本级采用,编发,上报,县级采用,市级采用,省级采用,");
    itexpect_contains(csv, "合计,合计,6,1,0,2,0,1,1,0,");
    char line[128];
    snprintf(line, sizeof line, "%lld,contact2,3,1,0,", (long long)contact2);
    itexpect_contains(csv, line);

    rc = itrun_cli(dir, profile,
                   (const char *const[]){"stats", "--from", today, "--to", today, "--xlsx", xlsx,
                                         NULL},
                   back, err, sizeof back);
    assert_int_equal(rc, 0);
    itexpect_contains(back, "7 sheets");
    rc = itrun(dir, (const char *const[]){"/usr/bin/python3", script, xlsx, "按联系点", NULL},
               back, err, sizeof back);
    assert_int_equal(rc, 0);
    itexpect_contains(err, "sheets 7");
    assert_string_equal(back, csv);

    /* Every breakdown's sheet against its --csv. */
    static const char *const by[][2] = {{"month", "按月份"},   {"region", "按地区"},
                                        {"sector", "按界别"},  {"reporter", "按反映人类别"},
                                        {"category", "按类别"}};
    for (size_t i = 0; i < sizeof by / sizeof by[0]; i++) {
        rc = itrun_cli(dir, profile,
                       (const char *const[]){"stats", "--from", today, "--to", today, "--by",
                                             by[i][0], "--csv", NULL},
                       csv, err, sizeof csv);
        assert_int_equal(rc, 0);
        rc = itrun(dir, (const char *const[]){"/usr/bin/python3", script, xlsx, by[i][1], NULL},
                   back, err, sizeof back);
        assert_int_equal(rc, 0);
        assert_string_equal(back, csv);
    }
    itexpect_contains(csv, "\r\n1,经济,3,");   /* category labels for people, not codes only */
}

/* ---- a changed points table recomputes the past ------------------------------ */

static void test_changed_table_recomputes(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char key1[32], key2[32];
    static char out[CLI_OUT_MAX], err[CLI_OUT_MAX];
    char profile[PATH_MAX], year[16];
    snprintf(key1, sizeof key1, "%lld", (long long)contact1);
    snprintf(key2, sizeof key2, "%lld", (long long)contact2);

    FILE *f = fopen(dist.gw.conf, "a");
    assert_non_null(f);
    fputs("[points]\nadopted = 1\nadopted_above.provincial = 10\ninstruction.省领导 = 4\n"
          "merged_credit = full\n",
          f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(kill(dist.gw.pid, SIGHUP), 0);
    long long until = itnow_ms() + IT_INST_WITHIN_MS;
    while (!tgw_log_contains(&dist.gw, "event=reloaded") && itnow_ms() < until)
        itsleep_ms(50);
    assert_true(tgw_log_contains(&dist.gw, "event=reloaded"));

    Frame *ans = points(MINYI__V1__POINTS_BY__POINTS_BY_CONTACT_POINT, &a);
    assert_int_equal(ans->points_ok->n_rows, 2);
    expect_points_row(ans->points_ok->rows[0], key2, 15, 3);
    expect_points_row(ans->points_ok->rows[1], key1, 14, 2);
    assert_false(ans->points_ok->merged_split);
    assert_int_equal(ans->points_ok->n_rules, 3);
    expect_items_traceable(ans->points_ok);
    frame_arena_free(a);

    /* The same through the CLI, with every item explained. */
    snprintf(profile, sizeof profile, "%s/office.conf", dir);
    snprintf(year, sizeof year, "%d", this_year());
    int rc = itrun_cli(dir, profile, (const char *const[]){"points", "--year", year, NULL}, out,
                       err, sizeof out);
    assert_int_equal(rc, 0);
    itexpect_contains(out, "adopted_above:provincial=10");
    rc = itrun_cli(dir, profile, (const char *const[]){"points", "--year", year, "--csv", NULL},
                   out, err, sizeof out);
    assert_int_equal(rc, 0);
    char line[256];
    snprintf(line, sizeof line, "%s,contact2,15,3\r\n%s,contact1,14,2\r\n", key2, key1);
    itexpect_contains(out, line);
    rc = itrun_cli(dir, profile,
                   (const char *const[]){"points", "--year", year, "--explain", "--csv", NULL},
                   out, err, sizeof out);
    assert_int_equal(rc, 0);
    /* contact2's share of B's 省领导 批示: all 4 points, two writers, through M. */
    snprintf(line, sizeof line, "%s,%s,instruction:省领导,", key2, rb);
    itexpect_contains(out, line);
    snprintf(line, sizeof line, ",4,2,%s\r\n", rm);
    itexpect_contains(out, line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_through_three_levels),
        cmocka_unit_test(test_figures),
        cmocka_unit_test(test_points),
        cmocka_unit_test(test_cli_csv_and_xlsx),
        cmocka_unit_test(test_changed_table_recomputes),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
