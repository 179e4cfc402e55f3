/*
 * it_issue: 专报 issues through a real gateway and database — editors
 * compile adopted reports into a draft, publish it under the next number
 * of its series and year, and a published issue cannot be changed, by the
 * gateway or by psql (a trigger refuses it).  Each item is 编发 in its
 * report's history (the writer's status shows it), in the figures and in
 * the points.  The HTML export is rendered by headless Chromium to a PNG
 * that must show ink, and red ink (the masthead); the plain text holds
 * every item.  Offices read issues and change none; contact points and
 * peers read none.  Credit follows chained merges, and an office reads the
 * outbox without acting on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_util.h"
#include "itkit.h"

#define DAY_MS (24LL * 60 * 60 * 1000)
#define SERIES "社情民意专报"
#define OUT_MAX (256 * 1024)
/* A page with the masthead and three items has far more ink than this,
 * and a blank page none. */
#define PNG_INK_MIN 20000
#define PNG_RED_MIN 2000

static struct itenv env;
/* contact1 wrote a1, a2 and a3 (a3 never adopted), contact2 d1. */
static char a1[IT_RECEIPT_MAX], a2[IT_RECEIPT_MAX], a3[IT_RECEIPT_MAX], d1[IT_RECEIPT_MAX];
static int64_t issue_id;        /* published by test_compose */
static char dir[256];

static int setup(void **state)
{
    (void)state;
    char ini[2048];
    /* One destination above that never answers, so a forwarded report's
     * delivery stays in the outbox for the office to read. */
    snprintf(ini, sizeof ini,
             "[triage]\ndestinations = nowhere\n"
             "[peer.nowhere]\nhost = 127.0.0.1\nport = 1\nca = %s\nserver_name = localhost\n"
             "cert = %s\nkey = %s\n"
             "[external.swb]\ndisplay_name = 市委办公室\n",
             tcert("ca", "crt"), tcert("peer1", "crt"), tcert("peer1", "key"));
    if (!itmkdtemp(dir, sizeof dir, "issue") || !itenv_up(&env, ini) ||
        tprincipal_add(env.conninfo, "office1", "office", "330400", true) <= 0 ||
        tprincipal_add(env.conninfo, "peer1", "peer", IT_REGION, true) <= 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = itenv_teardown(&env);
    if (dir[0] != '\0')
        itrmtree(dir);
    return rc;
}

static int this_year(void)
{
    time_t t = time(NULL) + 8 * 3600;
    return gmtime(&t)->tm_year + 1900;
}

/* A report with this title and situation from c; its receipt into out. */
static void submit(struct client_conn *c, const char *title, const char *situation, char *out)
{
    Minyi__V1__Report *r = tmake_report(NULL, situation);
    assert_non_null(r);
    itset(&r->title, title);
    itsubmit_ok(c, r, out);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void adopt(struct client_conn *ed, const char *receipt)
{
    itclaim_ok(ed, receipt);
    itdecide_ok(ed, receipt, MINYI__V1__DECISION__ADOPT, NULL);
}

static void merge(struct client_conn *ed, const char *receipt, const char *into)
{
    Minyi__V1__DecideRequest q = MINYI__V1__DECIDE_REQUEST__INIT;
    itclaim_ok(ed, receipt);
    q.receipt = frame_bytes(receipt);
    q.decision = MINYI__V1__DECISION__MERGE;
    q.into_receipt = frame_bytes(into);
    itdecide_req_ok(ed, &q);
}

static Frame *issue_new(struct client_conn *c, const char *series, const char *title,
                        const char *note, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__IssueNewRequest q = MINYI__V1__ISSUE_NEW_REQUEST__INIT;
    q.series = frame_bytes(series);
    q.title = frame_bytes(title);
    q.editor_note = frame_bytes(note);
    f.body_case = MINYI__V1__FRAME__BODY_ISSUE_NEW;
    f.issue_new = &q;
    return itcall(c, &f, a);
}

static Frame *issue_add(struct client_conn *c, int64_t id, const char *receipt,
                        const char *title, const char *text, uint32_t position,
                        struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__IssueAddRequest q = MINYI__V1__ISSUE_ADD_REQUEST__INIT;
    q.issue_id = id;
    q.receipt = frame_bytes(receipt);
    q.title = frame_bytes(title != NULL ? title : "");
    q.text = frame_bytes(text != NULL ? text : "");
    q.position = position;
    f.body_case = MINYI__V1__FRAME__BODY_ISSUE_ADD;
    f.issue_add = &q;
    return itcall(c, &f, a);
}

static Frame *issue_remove(struct client_conn *c, int64_t id, const char *receipt,
                           struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__IssueRemoveRequest q = MINYI__V1__ISSUE_REMOVE_REQUEST__INIT;
    q.issue_id = id;
    q.receipt = frame_bytes(receipt);
    f.body_case = MINYI__V1__FRAME__BODY_ISSUE_REMOVE;
    f.issue_remove = &q;
    return itcall(c, &f, a);
}

static Frame *issue_publish(struct client_conn *c, int64_t id, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__IssuePublishRequest q = MINYI__V1__ISSUE_PUBLISH_REQUEST__INIT;
    q.issue_id = id;
    f.body_case = MINYI__V1__FRAME__BODY_ISSUE_PUBLISH;
    f.issue_publish = &q;
    return itcall(c, &f, a);
}

static Frame *issue_show(struct client_conn *c, int64_t id, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__IssueShowRequest q = MINYI__V1__ISSUE_SHOW_REQUEST__INIT;
    q.issue_id = id;
    f.body_case = MINYI__V1__FRAME__BODY_ISSUE_SHOW;
    f.issue_show = &q;
    return itcall(c, &f, a);
}

static Frame *issue_list(struct client_conn *c, int year, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__IssueListRequest q = MINYI__V1__ISSUE_LIST_REQUEST__INIT;
    q.year = year;
    f.body_case = MINYI__V1__FRAME__BODY_ISSUE_LIST;
    f.issue_list = &q;
    return itcall(c, &f, a);
}

/* The issue of an answer that must be issue_ok. */
static const Minyi__V1__Issue *issue_ok(const Frame *ans)
{
    if (ans->body_case != MINYI__V1__FRAME__BODY_ISSUE_OK)
        itexpect_error(ans, 0, NULL); /* fails, naming the error */
    assert_non_null(ans->issue_ok);
    return ans->issue_ok;
}

/* The receipts of the issue's items in order, joined with spaces. */
static void item_order(const Minyi__V1__Issue *m, char *out, size_t len)
{
    char r[IT_RECEIPT_MAX];
    out[0] = '\0';
    for (size_t i = 0; i < m->n_items; i++) {
        assert_int_equal(m->items[i]->position, i + 1);
        itcopy(&m->items[i]->receipt, r, sizeof r);
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i > 0 ? " " : "", r);
    }
}

static void expect_order(const Minyi__V1__Issue *m, const char *r1, const char *r2,
                         const char *r3)
{
    char got[256], want[256];
    item_order(m, got, sizeof got);
    snprintf(want, sizeof want, "%s%s%s%s%s", r1, r2 ? " " : "", r2 ? r2 : "", r3 ? " " : "",
             r3 ? r3 : "");
    assert_string_equal(got, want);
}

static long long db_count(const char *sql, const char *param)
{
    const char *params[] = {param};
    return tdb_scalar(env.conninfo, sql, param != NULL ? 1 : 0, params);
}

/* The whole life of an issue: a draft filled, reordered and emptied of one
 * item, refusals on bad input and wrong principals, publication under
 * number 1, and a frozen issue after. */
static void test_compose(void **state)
{
    (void)state;
    struct client_conn *c1 = itconnect(&env, "contact1");
    struct client_conn *c2 = itconnect(&env, "contact2");
    struct client_conn *ed = itconnect(&env, "editor1");
    struct client_conn *off = itconnect(&env, "office1");
    struct client_conn *peer = itconnect(&env, "peer1");
    struct frame_arena *a = NULL;
    char buf[256];

    submit(c1, "关于社区养老食堂供餐不足的建议", "社区养老食堂每天只供应午餐。\n老人晚餐无处解决。", a1);
    submit(c1, "关于公交线路调整影响就医的建议", "公交线路调整后，老年人就医需换乘两次。", a2);
    submit(c1, "关于小区停车难的建议", "老旧小区车位不足。", a3);
    submit(c2, "关于农村快递末端配送的建议", "快递只送到镇上，村民取件要跑十公里。", d1);
    adopt(ed, a1);
    adopt(ed, a2);
    adopt(ed, d1);

    /* Who may compose: editors only. */
    itexpect_error(issue_new(c1, SERIES, "标题", "", &a), MINYI__V1__ERROR_CODE__PERMISSION_DENIED,
                   "principal.kind");
    frame_arena_free(a);
    itexpect_error(issue_new(off, SERIES, "标题", "", &a),
                   MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    frame_arena_free(a);
    /* Bad input: a clear error on the field at fault. */
    itexpect_error(issue_new(ed, "", "标题", "", &a), MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                   "issue_new.series");
    frame_arena_free(a);
    itexpect_error(issue_new(ed, SERIES, "两行\n标题", "", &a),
                   MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "issue_new.title");
    frame_arena_free(a);
    assert_int_equal(db_count("SELECT count(*) FROM issues", NULL), 0);

    const Minyi__V1__Issue *m =
        issue_ok(issue_new(ed, SERIES, "关于民生领域若干问题的专报",
                           "以下信息反映群众身边的急难愁盼问题，供领导参阅。", &a));
    issue_id = m->id;
    assert_true(issue_id > 0);
    assert_int_equal(m->number, 0);
    assert_int_equal(m->year, this_year());
    assert_int_equal(m->published_at_ms, 0);
    itcopy(&m->body_name, buf, sizeof buf);
    assert_string_equal(buf, "嘉兴市政协");
    frame_arena_free(a);

    /* Only adopted or forwarded reports; unknown ones and issues are
     * NOT_FOUND. */
    itexpect_error(issue_add(ed, issue_id, a3, NULL, NULL, 0, &a),
                   MINYI__V1__ERROR_CODE__CONFLICT, "issue_add.receipt");
    frame_arena_free(a);
    itexpect_error(issue_add(ed, issue_id, "330402-2000-999999", NULL, NULL, 0, &a),
                   MINYI__V1__ERROR_CODE__NOT_FOUND, "issue_add.receipt");
    frame_arena_free(a);
    itexpect_error(issue_add(ed, issue_id + 1000, a1, NULL, NULL, 0, &a),
                   MINYI__V1__ERROR_CODE__NOT_FOUND, "issue_id");
    frame_arena_free(a);
    itexpect_error(issue_add(off, issue_id, a1, NULL, NULL, 0, &a),
                   MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    frame_arena_free(a);

    /* a1 with the report's own text, a2 edited, d1 put first. */
    m = issue_ok(issue_add(ed, issue_id, a1, NULL, NULL, 0, &a));
    assert_int_equal(m->n_items, 1);
    itcopy(&m->items[0]->title, buf, sizeof buf);
    assert_string_equal(buf, "关于社区养老食堂供餐不足的建议");
    itcopy(&m->items[0]->text, buf, sizeof buf);
    assert_non_null(strstr(buf, "社区养老食堂每天只供应午餐。\n老人晚餐无处解决。"));
    itcopy(&m->items[0]->source, buf, sizeof buf);
    assert_string_equal(buf, "contact1");
    frame_arena_free(a);
    m = issue_ok(issue_add(ed, issue_id, a2, "公交线路调整给老年人就医带来不便",
                           "某区公交线路调整后，老年人就医需换乘两次。\n建议增开就医专线。", 0,
                           &a));
    expect_order(m, a1, a2, NULL);
    frame_arena_free(a);
    m = issue_ok(issue_add(ed, issue_id, d1, NULL, NULL, 1, &a));
    expect_order(m, d1, a1, a2);
    frame_arena_free(a);
    /* Taken out and put back second: the others close up, then make room. */
    m = issue_ok(issue_remove(ed, issue_id, a1, &a));
    expect_order(m, d1, a2, NULL);
    frame_arena_free(a);
    itexpect_error(issue_remove(ed, issue_id, a1, &a), MINYI__V1__ERROR_CODE__NOT_FOUND,
                   "issue_remove.receipt");
    frame_arena_free(a);
    m = issue_ok(issue_add(ed, issue_id, a1, NULL, NULL, 2, &a));
    expect_order(m, d1, a1, a2);
    frame_arena_free(a);
    /* The same report again edits its item in place, keeping the text. */
    m = issue_ok(issue_add(ed, issue_id, a2, "公交线路调整影响老年人就医", NULL, 0, &a));
    expect_order(m, d1, a1, a2);
    itcopy(&m->items[2]->title, buf, sizeof buf);
    assert_string_equal(buf, "公交线路调整影响老年人就医");
    itcopy(&m->items[2]->text, buf, sizeof buf);
    assert_string_equal(buf, "某区公交线路调整后，老年人就医需换乘两次。\n建议增开就医专线。");
    frame_arena_free(a);

    /* An empty draft is not published. */
    m = issue_ok(issue_new(ed, SERIES, "空的一期", "", &a));
    int64_t empty_id = m->id;
    frame_arena_free(a);
    itexpect_error(issue_publish(ed, empty_id, &a), MINYI__V1__ERROR_CODE__CONFLICT, "issue_id");
    frame_arena_free(a);

    /* Offices read; contact points and peers do not. */
    m = issue_ok(issue_show(off, issue_id, &a));
    assert_int_equal(m->n_items, 3);
    frame_arena_free(a);
    itexpect_error(issue_show(c1, issue_id, &a), MINYI__V1__ERROR_CODE__PERMISSION_DENIED,
                   "principal.kind");
    frame_arena_free(a);
    itexpect_error(issue_show(peer, issue_id, &a), MINYI__V1__ERROR_CODE__PERMISSION_DENIED,
                   "principal.kind");
    frame_arena_free(a);
    itexpect_error(issue_publish(off, issue_id, &a), MINYI__V1__ERROR_CODE__PERMISSION_DENIED,
                   "principal.kind");
    frame_arena_free(a);

    /* Published: number 1 of the series and year, an 'issue' event (编发)
     * on each report. */
    m = issue_ok(issue_publish(ed, issue_id, &a));
    assert_int_equal(m->number, 1);
    assert_true(m->published_at_ms > 0);
    itcopy(&m->published_by, buf, sizeof buf);
    assert_string_equal(buf, "editor1");
    frame_arena_free(a);
    snprintf(buf, sizeof buf, "编发：《%s》%d年第1期 第2条", SERIES, this_year());
    char *note = itdb_text(env.conninfo,
                           "SELECT e.note FROM events e JOIN reports r ON r.id = e.report_id"
                           " WHERE r.receipt = $1 AND e.action = 'issue'",
                           1, (const char *const[]){a1});
    assert_non_null(note);
    assert_string_equal(note, buf);
    free(note);
    assert_int_equal(db_count("SELECT count(*) FROM events WHERE action = 'issue'", NULL), 3);

    /* Frozen: every change is CONFLICT naming the number, and changes
     * nothing. */
    itexpect_error(issue_add(ed, issue_id, a3, NULL, NULL, 0, &a), MINYI__V1__ERROR_CODE__CONFLICT,
                   "issue_id");
    frame_arena_free(a);
    itexpect_error(issue_add(ed, issue_id, a1, "新标题", NULL, 0, &a),
                   MINYI__V1__ERROR_CODE__CONFLICT, "issue_id");
    frame_arena_free(a);
    itexpect_error(issue_remove(ed, issue_id, a1, &a), MINYI__V1__ERROR_CODE__CONFLICT,
                   "issue_id");
    frame_arena_free(a);
    itexpect_error(issue_publish(ed, issue_id, &a), MINYI__V1__ERROR_CODE__CONFLICT, "issue_id");
    frame_arena_free(a);
    m = issue_ok(issue_show(ed, issue_id, &a));
    expect_order(m, d1, a1, a2);
    assert_int_equal(m->number, 1);
    frame_arena_free(a);
    assert_int_equal(db_count("SELECT count(*) FROM events WHERE action = 'issue'", NULL), 3);

    /* The next issues of the series and year are 2 and 3, in the order they
     * are published; another series starts at 1. */
    int64_t ids[3];
    const char *series[3] = {SERIES, "文史专报", SERIES};
    for (int i = 0; i < 3; i++) {
        ids[i] = issue_ok(issue_new(ed, series[i], "又一期", "", &a))->id;
        frame_arena_free(a);
        issue_ok(issue_add(ed, ids[i], a1, NULL, NULL, 0, &a));
        frame_arena_free(a);
    }
    uint32_t want[3] = {3, 1, 2};
    for (int i = 2; i >= 0; i--) {
        assert_int_equal(issue_ok(issue_publish(ed, ids[i], &a))->number, want[i]);
        frame_arena_free(a);
    }
    const Frame *ans = issue_list(off, this_year(), &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_ISSUE_LIST_OK);
    assert_int_equal(ans->issue_list_ok->n_issues, 5);
    frame_arena_free(a);

    client_close(c1);
    client_close(c2);
    client_close(ed);
    client_close(off);
    client_close(peer);
}

/* A psql command as the database superuser: its exit status, with its
 * standard error in err. */
static int psql(const char *sql, char *err, size_t len)
{
    char prog[1024], out[4096];
    const char *bindir = tpg_bindir();
    snprintf(prog, sizeof prog, "%s%spsql", bindir, bindir[0] != '\0' ? "/" : "");
    const char *argv[] = {prog, "-X", "-v", "ON_ERROR_STOP=1", "-d", env.conninfo, "-c", sql,
                          NULL};
    return itrun(dir, argv, out, err, len < sizeof out ? len : sizeof out);
}

/* The database itself refuses to change a published issue: psql, as the
 * superuser, can neither edit, delete nor add to it, nor truncate. */
static void test_frozen_in_database(void **state)
{
    (void)state;
    char err[4096], id[32], sql[512];
    if (issue_id == 0)
        itskip("test_compose did not publish an issue");
    snprintf(id, sizeof id, "%lld", (long long)issue_id);
    const char *const attempts[] = {
        "UPDATE issues SET title = '改过的标题' WHERE id = %s",
        "UPDATE issues SET number = 9 WHERE id = %s",
        "DELETE FROM issues WHERE id = %s",
        "UPDATE issue_items SET text = '改过的正文' WHERE issue_id = %s",
        "DELETE FROM issue_items WHERE issue_id = %s",
        "INSERT INTO issue_items (issue_id, report_id, position, title, text)"
        " SELECT %s, id, 9, 'x', 'x' FROM reports ORDER BY id DESC LIMIT 1",
        "TRUNCATE issue_items, issues CASCADE",
    };
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        snprintf(sql, sizeof sql, attempts[i], id);
        int rc = psql(sql, err, sizeof err);
        if (rc != 0 && strstr(err, "No such file") != NULL)
            itskip("psql is not installed");
        assert_int_not_equal(rc, 0);
        itexpect_contains(err, "published");
    }
    char *title = itdb_text(env.conninfo, "SELECT title FROM issues WHERE id = $1", 1,
                            (const char *const[]){id});
    assert_non_null(title);
    assert_string_equal(title, "关于民生领域若干问题的专报");
    free(title);
    assert_int_equal(db_count("SELECT count(*) FROM issue_items WHERE issue_id = $1", id), 3);
    /* A draft is still an ordinary row. */
    assert_int_equal(psql("UPDATE issues SET title = '草稿改名' WHERE number IS NULL", err,
                          sizeof err),
                     0);
}

/* 编发 reaches the writer's status, the figures and the points. */
static void test_counted(void **state)
{
    (void)state;
    struct client_conn *c1 = itconnect(&env, "contact1");
    struct client_conn *off = itconnect(&env, "office1");
    struct frame_arena *a = NULL;
    char buf[256];
    if (issue_id == 0)
        itskip("test_compose did not publish an issue");

    /* The writer sees it in its report's history. */
    Frame *ans = itstatus(c1, a2, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    bool seen = false;
    for (size_t i = 0; i < ans->status_ok->n_history; i++) {
        itcopy(&ans->status_ok->history[i]->action, buf, sizeof buf);
        if (strcmp(buf, "issue") == 0) {
            itcopy(&ans->status_ok->history[i]->note, buf, sizeof buf);
            itexpect_contains(buf, "编发：《社情民意专报》");
            itexpect_contains(buf, "第1期 第3条");
            seen = true;
        }
    }
    assert_true(seen);
    frame_arena_free(a);

    /* Figures: a1, a2 and d1 issued (a1 in four issues, once). */
    long long now = (long long)time(NULL) * 1000;
    ans = itstats(off, now - DAY_MS, now + DAY_MS, MINYI__V1__STATS_BY__STATS_BY_TOTAL, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATS_OK);
    uint64_t issued = 0;
    for (size_t i = 0; i < ans->stats_ok->total->n_figures; i++) {
        itcopy(&ans->stats_ok->total->figures[i]->name, buf, sizeof buf);
        if (strcmp(buf, "issued") == 0)
            issued = ans->stats_ok->total->figures[i]->count;
    }
    assert_int_equal(issued, 3);
    frame_arena_free(a);
    /* A contact point sees its own: a1 and a2. */
    ans = itstats(c1, now - DAY_MS, now + DAY_MS, MINYI__V1__STATS_BY__STATS_BY_TOTAL, &a);
    issued = 0;
    for (size_t i = 0; i < ans->stats_ok->total->n_figures; i++) {
        itcopy(&ans->stats_ok->total->figures[i]->name, buf, sizeof buf);
        if (strcmp(buf, "issued") == 0)
            issued = ans->stats_ok->total->figures[i]->count;
    }
    assert_int_equal(issued, 2);
    frame_arena_free(a);

    /* Points under the default table (issued 3, adopted 2): contact1 has
     * two items of each, contact2 one. */
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__PointsRequest q = MINYI__V1__POINTS_REQUEST__INIT;
    q.year = this_year();
    q.explain = true;
    f.body_case = MINYI__V1__FRAME__BODY_POINTS;
    f.points = &q;
    ans = itcall(off, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_POINTS_OK);
    double p1 = -1, p2 = -1;
    int issued_items = 0;
    for (size_t i = 0; i < ans->points_ok->n_rows; i++) {
        itcopy(&ans->points_ok->rows[i]->label, buf, sizeof buf);
        if (strcmp(buf, "contact1") == 0)
            p1 = ans->points_ok->rows[i]->points;
        if (strcmp(buf, "contact2") == 0)
            p2 = ans->points_ok->rows[i]->points;
    }
    for (size_t i = 0; i < ans->points_ok->n_items; i++) {
        itcopy(&ans->points_ok->items[i]->figure, buf, sizeof buf);
        if (strcmp(buf, "issued") == 0) {
            issued_items++;
            assert_true(ans->points_ok->items[i]->event_id > 0);
        }
    }
    assert_true(p1 == 2 * 2 + 2 * 3);
    assert_true(p2 == 2 + 3);
    assert_int_equal(issued_items, 3);
    frame_arena_free(a);
    client_close(c1);
    client_close(off);
}

/* The CLI's show, list and export; the HTML rendered by headless Chromium
 * is a page with ink and a red masthead, the plain text holds every item. */
static void test_export(void **state)
{
    (void)state;
    char profile[512], html[512], txt[512], png[512], udd[512], url[600], id[32];
    char *out = malloc(OUT_MAX), *err = malloc(OUT_MAX);
    assert_non_null(out);
    assert_non_null(err);
    if (issue_id == 0)
        itskip("test_compose did not publish an issue");
    snprintf(id, sizeof id, "%lld", (long long)issue_id);
    snprintf(profile, sizeof profile, "%s/office.conf", dir);
    snprintf(html, sizeof html, "%s/issue.html", dir);
    snprintf(txt, sizeof txt, "%s/issue.txt", dir);
    snprintf(png, sizeof png, "%s/issue.png", dir);
    assert_true(tprofile_write(profile, "office1", &env.gw));

    assert_int_equal(itrun_cli(dir, profile, (const char *const[]){"issue", "show", id, NULL},
                               out, err, OUT_MAX),
                     0);
    char want[256];
    snprintf(want, sizeof want, "issue %s 《社情民意专报》%d年第1期\n", id, this_year());
    assert_true(strncmp(out, want, strlen(want)) == 0);
    itexpect_contains(out, d1);
    assert_int_equal(itrun_cli(dir, profile, (const char *const[]){"issue", "list", NULL}, out,
                               err, OUT_MAX),
                     0);
    itexpect_contains(out, "文史专报");
    /* An office changes nothing, from the CLI either. */
    assert_int_equal(itrun_cli(dir, profile,
                               (const char *const[]){"issue", "remove", id, a1, NULL}, out, err,
                               OUT_MAX),
                     CLI_EXIT_REFUSED);

    assert_int_equal(itrun_cli(dir, profile,
                               (const char *const[]){"issue", "export", id, "--text-only",
                                                     "--out", txt, NULL},
                               out, err, OUT_MAX),
                     0);
    itslurp(txt, out, OUT_MAX);
    snprintf(want, sizeof want, "社情民意专报\n%d年第1期\n嘉兴市政协", this_year());
    assert_true(strncmp(out, want, strlen(want)) == 0);
    itexpect_contains(out, "关于民生领域若干问题的专报");
    itexpect_contains(out, "编者按：以下信息反映群众身边的急难愁盼问题，供领导参阅。");
    itexpect_contains(out, "一、关于农村快递末端配送的建议\n快递只送到镇上，村民取件要跑十公里。");
    itexpect_contains(out, "二、关于社区养老食堂供餐不足的建议\n");
    itexpect_contains(out, "社区养老食堂每天只供应午餐。\n老人晚餐无处解决。");
    itexpect_contains(out, "三、公交线路调整影响老年人就医\n"
                           "某区公交线路调整后，老年人就医需换乘两次。\n建议增开就医专线。\n");
    itexpect_contains(out, "本期共3条");

    assert_int_equal(itrun_cli(dir, profile,
                               (const char *const[]){"issue", "export", id, "--out", html, NULL},
                               out, err, OUT_MAX),
                     0);
    itslurp(html, out, OUT_MAX);
    itexpect_contains(out, "@page { size: A4;");
    itexpect_contains(out, "<div class=\"series\">社情民意专报</div>");
    itexpect_contains(out, "第1期");
    itexpect_contains(out, "<h2>三、公交线路调整影响老年人就医</h2>");
    itexpect_contains(out, "<p>建议增开就医专线。</p>");

    const char *chromium = access("/usr/bin/chromium", X_OK) == 0 ? "/usr/bin/chromium" : NULL;
    if (chromium == NULL)
        itskip("chromium is not installed");
    snprintf(udd, sizeof udd, "--user-data-dir=%s/chromium", dir);
    snprintf(url, sizeof url, "file://%s", html);
    char shot[600];
    snprintf(shot, sizeof shot, "--screenshot=%s", png);
    const char *argv[] = {chromium, "--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-quic", "--no-first-run", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", udd, shot,
                          "--window-size=794,1123", "--hide-scrollbars", "--log-level=3", url, NULL};
    assert_int_equal(itrun(dir, argv, out, err, OUT_MAX), 0);
    const char *py[] = {"/usr/bin/env", "python3", MINYI_SOURCE_DIR "/tests/it/png_ink.py", png, NULL};
    assert_int_equal(itrun(dir, py, out, err, OUT_MAX), 0);
    long w = 0, h = 0, ink = 0, red = 0;
    assert_int_equal(sscanf(out, "width=%ld height=%ld ink=%ld red=%ld", &w, &h, &ink, &red), 4);
    assert_int_equal(w, 794);
    assert_int_equal(h, 1123);
    assert_true(ink > PNG_INK_MIN);
    assert_true(red > PNG_RED_MIN);
    free(out);
    free(err);
}

static Frame *issue_send(struct client_conn *c, int64_t id, const char *dest,
                         struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__IssueSendRequest q = MINYI__V1__ISSUE_SEND_REQUEST__INIT;
    q.issue_id = id;
    q.destination = frame_bytes(dest);
    f.body_case = MINYI__V1__FRAME__BODY_ISSUE_SEND;
    f.issue_send = &q;
    return itcall(c, &f, a);
}

static uint64_t total_figure(struct client_conn *c, const char *name)
{
    struct frame_arena *a = NULL;
    char buf[128];
    uint64_t n = 0;
    long long now = (long long)time(NULL) * 1000;
    Frame *ans = itstats(c, now - DAY_MS, now + DAY_MS, MINYI__V1__STATS_BY__STATS_BY_TOTAL, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATS_OK);
    for (size_t i = 0; i < ans->stats_ok->total->n_figures; i++) {
        itcopy(&ans->stats_ok->total->figures[i]->name, buf, sizeof buf);
        if (strcmp(buf, name) == 0)
            n = ans->stats_ok->total->figures[i]->count;
    }
    frame_arena_free(a);
    return n;
}

/* The published issue goes to 市委办公室 (报送): each item's report is sent
 * under the issue's number; a leader's 批示 on one item reaches its writer
 * and the figures. */
static void test_send(void **state)
{
    (void)state;
    struct client_conn *c2 = itconnect(&env, "contact2");
    struct client_conn *ed = itconnect(&env, "editor1");
    struct client_conn *off = itconnect(&env, "office1");
    struct frame_arena *a = NULL;
    char buf[256], doc[128];
    if (issue_id == 0)
        itskip("test_compose did not publish an issue");

    /* A draft is not sent; an office sends nothing; only external
     * destinations of the config. */
    int64_t draft = issue_ok(issue_new(ed, SERIES, "未印发的一期", "", &a))->id;
    frame_arena_free(a);
    itexpect_error(issue_send(ed, draft, "swb", &a), MINYI__V1__ERROR_CODE__CONFLICT, "issue_id");
    frame_arena_free(a);
    itexpect_error(issue_send(off, issue_id, "swb", &a),
                   MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    frame_arena_free(a);
    itexpect_error(issue_send(ed, issue_id, "nowhere", &a),
                   MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "issue_send.destination");
    frame_arena_free(a);
    itexpect_error(issue_send(ed, issue_id, "市委", &a), MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                   "issue_send.destination");
    frame_arena_free(a);
    assert_int_equal(total_figure(off, "external_sent"), 0);

    const Minyi__V1__Issue *m = issue_ok(issue_send(ed, issue_id, "swb", &a));
    assert_int_equal(m->n_sends, 1);
    itcopy(&m->sends[0]->display_name, buf, sizeof buf);
    assert_string_equal(buf, "市委办公室");
    frame_arena_free(a);
    snprintf(doc, sizeof doc, "《%s》%d年第1期", SERIES, this_year());
    assert_int_equal(db_count("SELECT count(*) FROM events WHERE action = 'external'"
                              " AND destination = 'swb' AND dest_receipt = $1",
                              doc),
                     3);
    itexpect_error(issue_send(ed, issue_id, "swb", &a), MINYI__V1__ERROR_CODE__CONFLICT,
                   "issue_send.destination");
    frame_arena_free(a);
    assert_int_equal(total_figure(off, "external_sent"), 3);

    /* A 市领导's 批示 on the first item (d1, contact2's). */
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ExternalResponseRequest q = MINYI__V1__EXTERNAL_RESPONSE_REQUEST__INIT;
    q.receipt = frame_bytes(d1);
    q.destination = frame_bytes("swb");
    q.kind = MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_INSTRUCTION;
    q.level = MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER;
    q.text = frame_bytes("请市邮政管理局研究解决快递进村问题。");
    q.leader = frame_bytes("市长");
    f.body_case = MINYI__V1__FRAME__BODY_EXTERNAL_RESPONSE;
    f.external_response = &q;
    assert_int_equal(itcall(ed, &f, &a)->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    frame_arena_free(a);
    Frame *ans = itstatus(c2, d1, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    bool sent = false, instructed = false;
    for (size_t i = 0; i < ans->status_ok->n_history; i++) {
        const Minyi__V1__HistoryEntry *h = ans->status_ok->history[i];
        itcopy(&h->action, buf, sizeof buf);
        if (strcmp(buf, "external") == 0) {
            itcopy(&h->note, buf, sizeof buf);
            itexpect_contains(buf, doc);
            sent = true;
        } else if (strcmp(buf, "external_response") == 0) {
            itcopy(&h->instruction, buf, sizeof buf);
            assert_string_equal(buf, "请市邮政管理局研究解决快递进村问题。");
            itcopy(&h->instruction_level, buf, sizeof buf);
            assert_string_equal(buf, "市领导");
            itcopy(&h->body, buf, sizeof buf);
            assert_string_equal(buf, "市委办公室");
            instructed = true;
        }
    }
    assert_true(sent);
    assert_true(instructed);
    frame_arena_free(a);
    assert_int_equal(total_figure(off, "external_responses"), 1);
    assert_int_equal(total_figure(off, "instruction:市领导"), 1);
    client_close(c2);
    client_close(ed);
    client_close(off);
}

/* Credit follows chained merges: x (contact1) merged into y (contact2),
 * y later into z (contact1); z adopted and issued.  Its three writers
 * share its points, x's through y. */
static void test_chained_merge(void **state)
{
    (void)state;
    struct client_conn *c1 = itconnect(&env, "contact1");
    struct client_conn *c2 = itconnect(&env, "contact2");
    struct client_conn *ed = itconnect(&env, "editor1");
    struct client_conn *off = itconnect(&env, "office1");
    struct frame_arena *a = NULL;
    char x[IT_RECEIPT_MAX], y[IT_RECEIPT_MAX], z[IT_RECEIPT_MAX], buf[256];

    submit(c1, "关于河道保洁的建议（一）", "河道垃圾无人清理。", x);
    submit(c2, "关于河道保洁的建议（二）", "河道垃圾堆积，影响周边居民。", y);
    submit(c1, "关于河道保洁的建议（三）", "河道保洁责任不清。", z);
    merge(ed, x, y);
    merge(ed, y, z);
    adopt(ed, z);

    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__PointsRequest q = MINYI__V1__POINTS_REQUEST__INIT;
    q.year = this_year();
    q.explain = true;
    f.body_case = MINYI__V1__FRAME__BODY_POINTS;
    f.points = &q;
    Frame *ans = itcall(off, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_POINTS_OK);
    int shares = 0;
    bool via_x = false;
    for (size_t i = 0; i < ans->points_ok->n_items; i++) {
        const Minyi__V1__PointsItem *it = ans->points_ok->items[i];
        itcopy(&it->receipt, buf, sizeof buf);
        if (strcmp(buf, z) != 0)
            continue;
        itcopy(&it->figure, buf, sizeof buf);
        assert_string_equal(buf, "adopted");
        assert_int_equal(it->writers, 3);
        assert_true(it->points * 3 > 1.99 && it->points * 3 < 2.01); /* 2 split three ways */
        itcopy(&it->via_receipt, buf, sizeof buf);
        via_x = via_x || strcmp(buf, x) == 0;
        shares++;
    }
    assert_int_equal(shares, 3);
    assert_true(via_x);
    frame_arena_free(a);
    /* x's writer sees z's adoption. */
    ans = itstatus(c1, x, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    assert_int_equal(ans->status_ok->state, MINYI__V1__REPORT_STATE__ADOPTED);
    frame_arena_free(a);
    client_close(c1);
    client_close(c2);
    client_close(ed);
    client_close(off);
}

/* An office lists the outbox of its body and acts on no delivery. */
static void test_office_reads_outbox(void **state)
{
    (void)state;
    struct client_conn *c1 = itconnect(&env, "contact1");
    struct client_conn *ed = itconnect(&env, "editor1");
    struct client_conn *off = itconnect(&env, "office1");
    struct client_conn *c2 = itconnect(&env, "contact2");
    struct frame_arena *a = NULL;
    char r[IT_RECEIPT_MAX], buf[IT_RECEIPT_MAX];

    itsubmit_forwarded(c1, ed, "待报送的信息：河道保洁经费不足。", "nowhere", r);
    /* Its deliveries to the gateway above (the issue's 报送 are there too). */
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__OutboxRequest q = MINYI__V1__OUTBOX_REQUEST__INIT;
    Minyi__V1__OutboxFilter flt = MINYI__V1__OUTBOX_FILTER__INIT;
    flt.destination = frame_bytes("nowhere");
    q.filter = &flt;
    f.body_case = MINYI__V1__FRAME__BODY_OUTBOX;
    f.outbox = &q;
    Frame *ans = itcall(off, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_OUTBOX_OK);
    assert_int_equal(ans->outbox_ok->n_items, 1);
    itcopy(&ans->outbox_ok->items[0]->receipt, buf, sizeof buf);
    assert_string_equal(buf, r);
    int64_t id = ans->outbox_ok->items[0]->outbox_id;
    frame_arena_free(a);
    /* A contact point reads no outbox. */
    itexpect_error(itcall(c2, &f, &a), MINYI__V1__ERROR_CODE__PERMISSION_DENIED,
                   "principal.kind");
    frame_arena_free(a);
    Minyi__V1__OutboxActionRequest oq = MINYI__V1__OUTBOX_ACTION_REQUEST__INIT;
    oq.outbox_id = id;
    oq.action = MINYI__V1__OUTBOX_ACTION__CANCEL;
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_OUTBOX_ACTION;
    f.outbox_action = &oq;
    itexpect_error(itcall(off, &f, &a), MINYI__V1__ERROR_CODE__PERMISSION_DENIED,
                   "principal.kind");
    frame_arena_free(a);
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    assert_int_equal(db_count("SELECT count(*) FROM outbox WHERE id = $1 AND state <> 'cancelled'",
                              idtext),
                     1);
    client_close(c1);
    client_close(c2);
    client_close(ed);
    client_close(off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose),
        cmocka_unit_test(test_frozen_in_database),
        cmocka_unit_test(test_counted),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_send),
        cmocka_unit_test(test_chained_merge),
        cmocka_unit_test(test_office_reads_outbox),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
