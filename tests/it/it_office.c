/*
 * it_office: who may read the office's figures and points, and that an
 * office reads everything and changes nothing — over real TLS against a
 * real gateway and database.
 *
 * office1 is a principal of kind office, editor2 one of kind admin (the
 * same rights).  They list the queue, show a report with its history,
 * fetch its attachment and watch the live queue; every changing operation
 * is PERMISSION_DENIED on principal.kind, and the database holds the same
 * events and states afterwards.  A contact point's figures and points are
 * its own reports' only; a peer reads neither.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <openssl/evp.h>

#include "itkit.h"

#define DAY_MS (24LL * 60 * 60 * 1000)

static struct itenv env;
static char r1[IT_RECEIPT_MAX], r2[IT_RECEIPT_MAX], r3[IT_RECEIPT_MAX];

static int setup(void **state)
{
    (void)state;
    if (!itenv_up(&env, NULL) ||
        tprincipal_add(env.conninfo, "office1", "office", IT_REGION, true) <= 0 ||
        tprincipal_add(env.conninfo, "editor2", "admin", IT_REGION, true) <= 0 ||
        tprincipal_add(env.conninfo, "peer1", "peer", IT_REGION, true) <= 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_teardown(&env);
}

/* The figures of the days around now. */
static Frame *stats(struct client_conn *c, int by, struct frame_arena **a)
{
    long long now = (long long)time(NULL) * 1000;
    return itstats(c, now - DAY_MS, now + DAY_MS, by, a);
}

static uint64_t figure(const Minyi__V1__StatsRow *row, const char *name)
{
    char buf[128];
    for (size_t i = 0; i < row->n_figures; i++) {
        itcopy(&row->figures[i]->name, buf, sizeof buf);
        if (strcmp(buf, name) == 0)
            return row->figures[i]->count;
    }
    return 0;
}

static Frame *points(struct client_conn *c, int year, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__PointsRequest q = MINYI__V1__POINTS_REQUEST__INIT;
    q.year = year;
    q.explain = true;
    f.body_case = MINYI__V1__FRAME__BODY_POINTS;
    f.points = &q;
    return itcall(c, &f, a);
}

static int this_year(void)
{
    /* China time, as the points' year is. */
    time_t t = time(NULL) + 8 * 3600;
    return gmtime(&t)->tm_year + 1900;
}

/* contact1 writes two reports (one with an attachment), contact2 one; the
 * editor adopts contact1's first. */
static void test_history(void **state)
{
    (void)state;
    struct client_conn *c1 = itconnect(&env, "contact1");
    struct client_conn *c2 = itconnect(&env, "contact2");
    Minyi__V1__Report *r = tmake_report(NULL, "公交线路调整后，老年人就医换乘不便。");
    assert_non_null(r);
    Minyi__V1__Attachment at = MINYI__V1__ATTACHMENT__INIT;
    Minyi__V1__Attachment *atp = &at;
    itset(&at.name, "note.txt");
    itset(&at.media_type, "text/plain");
    itset(&at.content, "换乘站点名单");
    unsigned char sha[EVP_MAX_MD_SIZE];
    unsigned int sha_len = 0;
    assert_int_equal(EVP_Digest(at.content.data, at.content.len, sha, &sha_len, EVP_sha256(),
                                NULL), 1);
    itset_raw(&at.sha256, sha, sha_len);
    r->attachments = &atp;
    r->n_attachments = 1;
    itsubmit_ok(c1, r, r1);
    r->attachments = NULL;
    r->n_attachments = 0;
    free(at.name.data);
    free(at.media_type.data);
    free(at.content.data);
    free(at.sha256.data);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = tmake_report(NULL, "社区养老食堂供餐不足。");
    itsubmit_ok(c1, r, r2);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = tmake_report(NULL, "老旧小区加装电梯审批流程长。");
    itsubmit_ok(c2, r, r3);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c1);
    client_close(c2);

    struct client_conn *ed = itconnect(&env, "editor1");
    itclaim_ok(ed, r1);
    itdecide_ok(ed, r1, MINYI__V1__DECISION__ADOPT, NULL);
    itclaim_ok(ed, r3);
    client_close(ed);
}

/* What a change would alter: every report's state and version, and the
 * events (malloc'd text). */
static char *snapshot(void)
{
    return itdb_text(env.conninfo,
                     "SELECT string_agg(receipt || '=' || state || '/' || version, ','"
                     " ORDER BY id) || ' events=' || (SELECT count(*) FROM events)"
                     " FROM reports",
                     0, NULL);
}

static void expect_denied(struct client_conn *c, Frame *f)
{
    struct frame_arena *a = NULL;
    Frame *ans = itcall(c, f, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    frame_arena_free(a);
}

/* What the office may do, as cert (office1, or editor2 the admin). */
static void office_reads_and_changes_nothing(const char *cert)
{
    struct frame_arena *a = NULL;
    struct client_conn *c = itconnect(&env, cert);
    char *before = snapshot();

    /* The queue, every report with its history, an attachment. */
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__QueueRequest qq = MINYI__V1__QUEUE_REQUEST__INIT;
    Minyi__V1__QueueFilter qf = MINYI__V1__QUEUE_FILTER__INIT;
    int all[] = {MINYI__V1__REPORT_STATE__RECEIVED, MINYI__V1__REPORT_STATE__IN_REVIEW,
                 MINYI__V1__REPORT_STATE__ADOPTED};
    qf.states = (Minyi__V1__ReportState *)all;
    qf.n_states = 3;
    qq.filter = &qf;
    f.body_case = MINYI__V1__FRAME__BODY_QUEUE;
    f.queue = &qq;
    Frame *ans = itcall(c, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_QUEUE_OK);
    assert_int_equal(ans->queue_ok->n_items, 3);
    frame_arena_free(a);

    f = (Frame)MINYI__V1__FRAME__INIT;
    Minyi__V1__ShowRequest sq = MINYI__V1__SHOW_REQUEST__INIT;
    sq.receipt = frame_bytes(r1);
    f.body_case = MINYI__V1__FRAME__BODY_SHOW;
    f.show = &sq;
    ans = itcall(c, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_SHOW_OK);
    assert_int_equal(ans->show_ok->state, MINYI__V1__REPORT_STATE__ADOPTED);
    assert_true(ans->show_ok->n_history >= 3);   /* received, claim, adopt */
    frame_arena_free(a);

    f = (Frame)MINYI__V1__FRAME__INIT;
    Minyi__V1__AttachmentRequest aq = MINYI__V1__ATTACHMENT_REQUEST__INIT;
    aq.receipt = frame_bytes(r1);
    aq.index = 0;
    f.body_case = MINYI__V1__FRAME__BODY_ATTACHMENT;
    f.attachment = &aq;
    ans = itcall(c, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_ATTACHMENT_OK);
    char content[64];
    itcopy(&ans->attachment_ok->content, content, sizeof content);
    assert_string_equal(content, "换乘站点名单");
    frame_arena_free(a);

    /* Figures and points of the whole body. */
    ans = stats(c, MINYI__V1__STATS_BY__STATS_BY_TOTAL, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATS_OK);
    assert_int_equal(figure(ans->stats_ok->total, "received"), 3);
    assert_int_equal(figure(ans->stats_ok->total, "adopted"), 1);
    frame_arena_free(a);
    ans = points(c, this_year(), &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_POINTS_OK);
    assert_int_equal(ans->points_ok->n_rows, 1);            /* contact1's adoption */
    assert_true(ans->points_ok->rows[0]->points == 2.0);
    frame_arena_free(a);

    /* Every change is refused, with the field at fault. */
    Minyi__V1__ClaimRequest cq = MINYI__V1__CLAIM_REQUEST__INIT;
    cq.receipt = frame_bytes(r2);
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_CLAIM;
    f.claim = &cq;
    expect_denied(c, &f);
    f.body_case = MINYI__V1__FRAME__BODY_RENEW;
    f.renew = (Minyi__V1__RenewRequest *)&cq;
    expect_denied(c, &f);
    Minyi__V1__ReleaseRequest rq = MINYI__V1__RELEASE_REQUEST__INIT;
    rq.receipt = frame_bytes(r3);
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_RELEASE;
    f.release = &rq;
    expect_denied(c, &f);
    Minyi__V1__EditRequest eq = MINYI__V1__EDIT_REQUEST__INIT;
    eq.receipt = frame_bytes(r3);
    eq.title = frame_bytes("改过的标题");
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_EDIT;
    f.edit = &eq;
    expect_denied(c, &f);
    Minyi__V1__DecideRequest dq = MINYI__V1__DECIDE_REQUEST__INIT;
    dq.receipt = frame_bytes(r3);
    dq.decision = MINYI__V1__DECISION__ADOPT;
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_DECIDE;
    f.decide = &dq;
    expect_denied(c, &f);
    Minyi__V1__InstructRequest iq = MINYI__V1__INSTRUCT_REQUEST__INIT;
    iq.receipt = frame_bytes(r1);
    iq.level = MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER;
    iq.text = frame_bytes("请研究");
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_INSTRUCT;
    f.instruct = &iq;
    expect_denied(c, &f);
    Minyi__V1__OutboxActionRequest oq = MINYI__V1__OUTBOX_ACTION_REQUEST__INIT;
    oq.outbox_id = 1;
    oq.action = MINYI__V1__OUTBOX_ACTION__CANCEL;
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_OUTBOX_ACTION;
    f.outbox_action = &oq;
    expect_denied(c, &f);
    Minyi__V1__Report *r = tmake_report(NULL, "办公室不能报送信息。");
    Minyi__V1__SubmitRequest sr = MINYI__V1__SUBMIT_REQUEST__INIT;
    sr.report = r;
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
    f.submit = &sr;
    expect_denied(c, &f);
    Minyi__V1__ResubmitRequest rs = MINYI__V1__RESUBMIT_REQUEST__INIT;
    rs.receipt = frame_bytes(r2);
    rs.report = r;
    f = (Frame)MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_RESUBMIT;
    f.resubmit = &rs;
    expect_denied(c, &f);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* Nothing changed: the same reports in the same states, no event. */
    char *after = snapshot();
    assert_string_equal(before, after);
    free(before);
    free(after);
    client_close(c);
}

static void test_office_reads_and_changes_nothing(void **state)
{
    (void)state;
    office_reads_and_changes_nothing("office1");
}

static void test_admin_is_an_office(void **state)
{
    (void)state;
    office_reads_and_changes_nothing("editor2");
}

/* A contact point's figures and points are its own reports' only. */
static void test_contact_point_sees_its_own(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    struct client_conn *c1 = itconnect(&env, "contact1");
    struct client_conn *c2 = itconnect(&env, "contact2");

    Frame *ans = stats(c1, MINYI__V1__STATS_BY__STATS_BY_CONTACT_POINT, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATS_OK);
    assert_int_equal(figure(ans->stats_ok->total, "received"), 2);
    assert_int_equal(figure(ans->stats_ok->total, "adopted"), 1);
    assert_int_equal(ans->stats_ok->n_rows, 1);
    char key[32], want[32];
    itcopy(&ans->stats_ok->rows[0]->key, key, sizeof key);
    snprintf(want, sizeof want, "%lld", (long long)env.contact1);
    assert_string_equal(key, want);
    frame_arena_free(a);

    ans = stats(c2, MINYI__V1__STATS_BY__STATS_BY_TOTAL, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATS_OK);
    assert_int_equal(figure(ans->stats_ok->total, "received"), 1);
    assert_int_equal(figure(ans->stats_ok->total, "adopted"), 0);
    frame_arena_free(a);

    ans = points(c2, this_year(), &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_POINTS_OK);
    assert_int_equal(ans->points_ok->n_rows, 0);
    assert_int_equal(ans->points_ok->n_items, 0);
    frame_arena_free(a);
    ans = points(c1, this_year(), &a);
    assert_int_equal(ans->points_ok->n_rows, 1);
    assert_int_equal(ans->points_ok->n_items, 1);
    char receipt[IT_RECEIPT_MAX];
    itcopy(&ans->points_ok->items[0]->receipt, receipt, sizeof receipt);
    assert_string_equal(receipt, r1);
    frame_arena_free(a);
    client_close(c1);
    client_close(c2);
}

/* A peer reads neither; bad periods and years name their field. */
/* A figures query that takes seconds (here: held up by a lock on the
 * history) shows the command is still waiting, once a second on standard
 * error; the figures then come as usual.  An answer within the first second
 * says nothing. */
static void test_cli_says_it_is_waiting(void **state)
{
    (void)state;
    char dir[256], profile[300], out_path[320], err_path[320], text[8192];
    assert_true(itmkdtemp(dir, sizeof dir, "office-wait"));
    snprintf(profile, sizeof profile, "%s/office.conf", dir);
    snprintf(out_path, sizeof out_path, "%s/stats.out", dir);
    snprintf(err_path, sizeof err_path, "%s/stats.err", dir);
    assert_true(tprofile_write(profile, "office1", &env.gw));
    char from[32], to[32];
    time_t now = time(NULL);
    struct tm today;
    gmtime_r(&now, &today);
    snprintf(from, sizeof from, "%04d-01-01", today.tm_year + 1900);
    snprintf(to, sizeof to, "%04d-12-31", today.tm_year + 1900 + 1);
    const char *const args[] = {"stats", "--from", from, "--to", to, NULL};

    PGconn *lock = PQconnectdb(env.conninfo);
    assert_int_equal(PQstatus(lock), CONNECTION_OK);
    PQclear(PQexec(lock, "BEGIN"));
    PGresult *r = PQexec(lock, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    setenv("MINYI_PROGRESS", "on", 1);
    pid_t pid = itspawn_cli(profile, args, out_path, err_path);
    unsetenv("MINYI_PROGRESS");
    struct timespec hold = {.tv_sec = 2, .tv_nsec = 600 * 1000 * 1000};
    nanosleep(&hold, NULL);
    PQclear(PQexec(lock, "COMMIT"));
    PQfinish(lock);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    itslurp(err_path, text, sizeof text);
    fprintf(stderr, "%s", text);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    itexpect_contains(text, "still waiting for the gateway (1 s)");
    itexpect_contains(text, "still waiting for the gateway (2 s)");
    itslurp(out_path, text, sizeof text);
    itexpect_contains(text, "编报");

    /* Nothing holds it up: no waiting line. */
    setenv("MINYI_PROGRESS", "on", 1);
    pid = itspawn_cli(profile, args, out_path, err_path);
    unsetenv("MINYI_PROGRESS");
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    itslurp(err_path, text, sizeof text);
    assert_null(strstr(text, "still waiting"));
    itrmtree(dir);
}

static void test_refusals(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    struct client_conn *p = itconnect(&env, "peer1");
    itexpect_error(stats(p, MINYI__V1__STATS_BY__STATS_BY_TOTAL, &a),
                   MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    frame_arena_free(a);
    itexpect_error(points(p, this_year(), &a), MINYI__V1__ERROR_CODE__PERMISSION_DENIED,
                   "principal.kind");
    frame_arena_free(a);
    client_close(p);

    struct client_conn *c = itconnect(&env, "office1");
    itexpect_error(points(c, 1999, &a), MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "points.year");
    frame_arena_free(a);
    itexpect_error(stats(c, 99, &a), MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "stats.by");
    frame_arena_free(a);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__StatsRequest q = MINYI__V1__STATS_REQUEST__INIT;
    q.from_ms = 1700000000000LL;
    q.to_ms = q.from_ms;
    f.body_case = MINYI__V1__FRAME__BODY_STATS;
    f.stats = &q;
    itexpect_error(itcall(c, &f, &a), MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "stats.to_ms");
    frame_arena_free(a);
    q.from_ms = 0;
    itexpect_error(itcall(c, &f, &a), MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "stats.from_ms");
    frame_arena_free(a);
    client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_office_reads_and_changes_nothing),
        cmocka_unit_test(test_admin_is_an_office),
        cmocka_unit_test(test_contact_point_sees_its_own),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_cli_says_it_is_waiting),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
