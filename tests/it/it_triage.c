/*
 * it_triage: editors work the queue through a real gateway and database —
 * every allowed transition and refused ones naming the state, two editors
 * racing for one claim, lease expiry, edit history and diff, return and
 * resubmission under the same receipt, merge credit, forward with one
 * outbox row per destination in the decision's transaction, the live queue
 * reaching an editor on a second minyid, and a contact point refused every
 * editor operation.
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
#include <jansson.h>
#include <libpq-fe.h>

#include "clock.h"
#include "itkit.h"

#define RACE_ROUNDS 10          /* reports two editors race for */
/* A queue event reaches a watcher within a second on a quiet machine (the
 * test prints how long it took); the test fails only past this generous
 * bound, so a loaded machine does not fail it. */
#define PUSH_WITHIN_MS 5000
#define WATCH_IDLE_MS 1000      /* idle_timeout_ms of the watcher's gateway */
#define LEASE_TEST_S 2          /* the lease of test_lease_expiry */
#define LEASE_MARGIN_MS 300     /* clock reading slack around a lease's end */
#define QUEUE_REPORTS 5         /* reports of the paging test */

static const char *const extra_ini = "[triage]\ndestinations = province, national\n";

static struct itenv env;
static int64_t editor2;
static struct client_conn *contact1, *contact2, *ed1, *ed2;

static int setup(void **state)
{
    (void)state;
    if (!itenv_up(&env, extra_ini))
        return -1;
    editor2 = tprincipal_add(env.conninfo, "editor2", "editor", "330400", true);
    return editor2 > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_teardown(&env);
}

static int conn_setup(void **state)
{
    (void)state;
    contact1 = itconnect(&env, "contact1");
    contact2 = itconnect(&env, "contact2");
    ed1 = itconnect(&env, "editor1");
    ed2 = itconnect(&env, "editor2");
    return 0;
}

static int conn_teardown(void **state)
{
    (void)state;
    client_close(contact1);
    client_close(contact2);
    client_close(ed1);
    client_close(ed2);
    return 0;
}

/* ---- helpers ----------------------------------------------------------------- */

static void done(struct frame_arena **a)
{
    frame_arena_free(*a);
    *a = NULL;
}

/* Submits a report as contact c and copies its receipt. */
static void new_report(struct client_conn *c, const char *situation, bool urgent, char *receipt)
{
    Minyi__V1__Report *r = tmake_report(NULL, situation);
    assert_non_null(r);
    if (urgent)
        r->urgency = MINYI__V1__URGENCY__URGENT;
    itsubmit_ok(c, r, receipt);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static Frame *claim_req(struct client_conn *c, const char *receipt, uint32_t lease,
                        struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ClaimRequest q = MINYI__V1__CLAIM_REQUEST__INIT;
    q.receipt = frame_bytes(receipt);
    q.lease_seconds = lease;
    f.body_case = MINYI__V1__FRAME__BODY_CLAIM;
    f.claim = &q;
    return itcall(c, &f, a);
}

static void claim_ok(struct client_conn *c, const char *receipt)
{
    struct frame_arena *a = NULL;
    Frame *r = claim_req(c, receipt, 0, &a);
    if (r->body_case != MINYI__V1__FRAME__BODY_CLAIM_OK)
        itexpect_error(r, 0, NULL);
    assert_true(r->claim_ok->expires_ms > itnow_ms());
    done(&a);
}

static Frame *decide_req(struct client_conn *c, const char *receipt, int decision,
                         const char *note, const char *into, const char *const *dests,
                         size_t n_dests, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__DecideRequest q = MINYI__V1__DECIDE_REQUEST__INIT;
    ProtobufCBinaryData d[8];
    q.receipt = frame_bytes(receipt);
    q.decision = decision;
    q.note = frame_bytes(note ? note : "");
    q.into_receipt = frame_bytes(into ? into : "");
    for (size_t i = 0; i < n_dests; i++)
        d[i] = frame_bytes(dests[i]);
    q.destinations = d;
    q.n_destinations = n_dests;
    f.body_case = MINYI__V1__FRAME__BODY_DECIDE;
    f.decide = &q;
    return itcall(c, &f, a);
}

static void decide_ok(struct client_conn *c, const char *receipt, int decision, const char *note,
                      const char *into, int want_state)
{
    struct frame_arena *a = NULL;
    const char *dest = "province";
    Frame *r = decide_req(c, receipt, decision, note, into, &dest,
                          decision == MINYI__V1__DECISION__FORWARD ? 1 : 0, &a);
    if (r->body_case != MINYI__V1__FRAME__BODY_DECIDE_OK)
        itexpect_error(r, 0, NULL);
    assert_int_equal(r->decide_ok->state, want_state);
    done(&a);
}

static Frame *show_req(struct client_conn *c, const char *receipt, uint32_t version, bool diff,
                       struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ShowRequest q = MINYI__V1__SHOW_REQUEST__INIT;
    q.receipt = frame_bytes(receipt);
    q.version = version;
    q.diff = diff;
    f.body_case = MINYI__V1__FRAME__BODY_SHOW;
    f.show = &q;
    return itcall(c, &f, a);
}

static Frame *show_ok(struct client_conn *c, const char *receipt, uint32_t version, bool diff,
                      struct frame_arena **a)
{
    Frame *r = show_req(c, receipt, version, diff, a);
    if (r->body_case != MINYI__V1__FRAME__BODY_SHOW_OK)
        itexpect_error(r, 0, NULL);
    return r;
}

static Frame *edit_req(struct client_conn *c, const char *receipt, const char *title,
                       const char *situation, const char *note, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__EditRequest q = MINYI__V1__EDIT_REQUEST__INIT;
    q.receipt = frame_bytes(receipt);
    q.title = frame_bytes(title ? title : "");
    q.situation = frame_bytes(situation ? situation : "");
    q.note = frame_bytes(note ? note : "");
    f.body_case = MINYI__V1__FRAME__BODY_EDIT;
    f.edit = &q;
    return itcall(c, &f, a);
}

static Frame *release_req(struct client_conn *c, const char *receipt, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ReleaseRequest q = MINYI__V1__RELEASE_REQUEST__INIT;
    q.receipt = frame_bytes(receipt);
    f.body_case = MINYI__V1__FRAME__BODY_RELEASE;
    f.release = &q;
    return itcall(c, &f, a);
}

/* Asserts an Error with this code whose English message contains needle. */
static void expect_error_saying(const Frame *f, int code, const char *needle)
{
    char msg[512];
    itexpect_error(f, code, NULL);
    itcopy(&f->error->message, msg, sizeof(msg));
    if (strstr(msg, needle) == NULL)
        fail_msg("error message \"%s\" does not mention \"%s\"", msg, needle);
}

static bool bytes_eq(const ProtobufCBinaryData *b, const char *s)
{
    return b->len == strlen(s) && (b->len == 0 || memcmp(b->data, s, b->len) == 0);
}

static bool bytes_has(const ProtobufCBinaryData *b, const char *s)
{
    char buf[8192];
    itcopy(b, buf, sizeof(buf));
    return strstr(buf, s) != NULL;
}

static long long db_count(const char *sql, const char *param)
{
    const char *p[1] = { param };
    return tdb_scalar(env.conninfo, sql, param ? 1 : 0, p);
}

/* ---- tests --------------------------------------------------------------------- */

/* RECEIVED -claim-> IN_REVIEW -> each decision; refused transitions are
 * CONFLICT naming the current state, and the contact point's status shows
 * every step with the reasons. */
static void test_transitions(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char adopt[IT_RECEIPT_MAX], reject[IT_RECEIPT_MAX], fwd[IT_RECEIPT_MAX];
    Frame *r;

    new_report(contact1, NULL, false, adopt);
    new_report(contact1, NULL, false, reject);
    new_report(contact1, NULL, false, fwd);

    /* A decision needs a claim: RECEIVED is named. */
    r = decide_req(ed1, adopt, MINYI__V1__DECISION__ADOPT, "", NULL, NULL, 0, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "RECEIVED");
    done(&a);

    claim_ok(ed1, adopt);
    decide_ok(ed1, adopt, MINYI__V1__DECISION__ADOPT, "本级采用", NULL,
              MINYI__V1__REPORT_STATE__ADOPTED);
    /* Neither a second decision nor a claim of an ADOPTED report. */
    r = decide_req(ed1, adopt, MINYI__V1__DECISION__REJECT, "x", NULL, NULL, 0, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "ADOPTED");
    done(&a);
    r = claim_req(ed1, adopt, 0, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "ADOPTED");
    done(&a);

    /* REJECT needs a reason. */
    claim_ok(ed1, reject);
    r = decide_req(ed1, reject, MINYI__V1__DECISION__REJECT, "", NULL, NULL, 0, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.note");
    done(&a);
    decide_ok(ed1, reject, MINYI__V1__DECISION__REJECT, "内容与已有信息重复且无新意", NULL,
              MINYI__V1__REPORT_STATE__REJECTED);
    r = edit_req(ed1, reject, "新标题", NULL, NULL, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "REJECTED");
    done(&a);

    claim_ok(ed1, fwd);
    decide_ok(ed1, fwd, MINYI__V1__DECISION__FORWARD, "", NULL,
              MINYI__V1__REPORT_STATE__FORWARDED);
    r = claim_req(ed2, fwd, 0, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "FORWARDED");
    done(&a);

    /* The contact point sees each step, the rejection with its reason. */
    r = itstatus(contact1, reject, &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    assert_int_equal(r->status_ok->state, MINYI__V1__REPORT_STATE__REJECTED);
    assert_int_equal(r->status_ok->n_history, 3);
    assert_true(bytes_eq(&r->status_ok->history[0]->action, "received"));
    assert_true(bytes_eq(&r->status_ok->history[1]->action, "claim"));
    assert_true(bytes_eq(&r->status_ok->history[2]->action, "reject"));
    assert_true(bytes_eq(&r->status_ok->history[2]->note, "内容与已有信息重复且无新意"));
    assert_int_equal(r->status_ok->history[2]->state, MINYI__V1__REPORT_STATE__REJECTED);
    done(&a);

    /* Release: the report stays IN_REVIEW and is free for another editor,
     * who may then change it while the first may not. */
    char rel[IT_RECEIPT_MAX];
    new_report(contact1, NULL, false, rel);
    claim_ok(ed1, rel);
    r = edit_req(ed2, rel, "改后的标题", NULL, NULL, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "editor1");
    /* The claim's end in one zone, the same in both languages. */
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "+08:00");
    char zh[512];
    itcopy(&r->error->message_zh, zh, sizeof(zh));
    if (strstr(zh, "+08:00") == NULL)
        fail_msg("the Chinese message \"%s\" names another zone", zh);
    done(&a);
    r = release_req(ed1, rel, &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_OK);
    done(&a);
    claim_ok(ed2, rel);
    r = decide_req(ed1, rel, MINYI__V1__DECISION__ADOPT, "", NULL, NULL, 0, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "editor2");
    done(&a);
    decide_ok(ed2, rel, MINYI__V1__DECISION__ADOPT, "", NULL, MINYI__V1__REPORT_STATE__ADOPTED);

    /* Unknown receipts are NOT_FOUND; text that no receipt could be is
     * malformed input. */
    r = claim_req(ed1, "330400-2026-999999", 0, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__NOT_FOUND, "claim.receipt");
    done(&a);
    r = claim_req(ed1, "330400-2026-00000'1", 0, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "claim.receipt");
    done(&a);
    r = decide_req(ed1, rel, MINYI__V1__DECISION__MERGE, "", "330400 2026 000001", NULL, 0, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.into_receipt");
    done(&a);
}

/* Two editors send a claim for the same report at the same moment, on
 * separate connections: exactly one wins, the other is told who holds it. */
static void test_claim_race(void **state)
{
    (void)state;
    int wins1 = 0, wins2 = 0;

    for (int round = 0; round < RACE_ROUNDS; round++) {
        char receipt[IT_RECEIPT_MAX];
        struct frame_arena *a1 = NULL, *a2 = NULL;
        new_report(contact1, NULL, false, receipt);

        Frame f1 = MINYI__V1__FRAME__INIT, f2 = MINYI__V1__FRAME__INIT;
        Minyi__V1__ClaimRequest q = MINYI__V1__CLAIM_REQUEST__INIT;
        q.receipt = frame_bytes(receipt);
        f1.body_case = f2.body_case = MINYI__V1__FRAME__BODY_CLAIM;
        f1.claim = f2.claim = &q;
        f1.id = client_next_id(ed1);
        f2.id = client_next_id(ed2);
        /* Alternate who sends first, so neither always wins by order. */
        if (round % 2 == 0) {
            assert_true(client_send(ed1, &f1));
            assert_true(client_send(ed2, &f2));
        } else {
            assert_true(client_send(ed2, &f2));
            assert_true(client_send(ed1, &f1));
        }
        Frame *r1 = itrecv(ed1, &a1), *r2 = itrecv(ed2, &a2);
        bool ok1 = r1->body_case == MINYI__V1__FRAME__BODY_CLAIM_OK;
        bool ok2 = r2->body_case == MINYI__V1__FRAME__BODY_CLAIM_OK;
        if (ok1 == ok2)
            fail_msg("round %d: editor1 %s, editor2 %s", round, ok1 ? "won" : "lost",
                     ok2 ? "won" : "lost");
        if (ok1) {
            wins1++;
            itexpect_error(r2, MINYI__V1__ERROR_CODE__CONFLICT, "claim.receipt");
        } else {
            wins2++;
            itexpect_error(r1, MINYI__V1__ERROR_CODE__CONFLICT, "claim.receipt");
        }
        done(&a1);
        done(&a2);
        /* The database agrees: one holder. */
        assert_int_equal(db_count("SELECT count(*) FROM reports WHERE receipt = $1"
                                  " AND claimed_by IS NOT NULL AND state = 'IN_REVIEW'",
                                  receipt), 1);
        assert_int_equal(db_count("SELECT count(*) FROM events e JOIN reports r"
                                  " ON r.id = e.report_id WHERE r.receipt = $1"
                                  " AND e.action = 'claim'", receipt), 1);
    }
    print_message("claim race: editor1 won %d, editor2 won %d of %d\n", wins1, wins2,
                  RACE_ROUNDS);
}

/* A one-second lease lapses: another editor may then claim, and the first
 * editor's decision is refused, naming the new holder. */
static void test_lease_expiry(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char receipt[IT_RECEIPT_MAX];
    Frame *r;

    new_report(contact1, NULL, false, receipt);
    r = claim_req(ed1, receipt, LEASE_TEST_S, &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_CLAIM_OK);
    long long expires = r->claim_ok->expires_ms;
    assert_true(expires > 0);
    done(&a);
    /* While the lease holds, another editor is refused.  The gateway and
     * this test share the machine's clock; a check that comes too late on
     * a loaded machine proves nothing either way and is skipped. */
    r = claim_req(ed2, receipt, 0, &a);
    if (clock_wall_ms() < expires - LEASE_MARGIN_MS)
        expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "editor1");
    else
        print_message("the lease ran out before it could be checked; skipped that check\n");
    done(&a);

    while (clock_wall_ms() < expires + LEASE_MARGIN_MS)
        itsleep_ms(50);
    claim_ok(ed2, receipt);
    r = decide_req(ed1, receipt, MINYI__V1__DECISION__ADOPT, "", NULL, NULL, 0, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "editor2");
    done(&a);
    r = edit_req(ed1, receipt, "过期后的修改", NULL, NULL, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "editor2");
    done(&a);
}

/* Edits make versions; show prints any of them and a diff against the
 * submitted text; an edit with invalid text is refused like intake. */
static void test_edit_history_diff(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char receipt[IT_RECEIPT_MAX];
    Frame *r;

    new_report(contact1, "第一段情况。\n第二段情况。\n第三段情况。", false, receipt);
    r = edit_req(ed1, receipt, "没有认领的修改", NULL, NULL, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "claim");
    done(&a);
    claim_ok(ed1, receipt);
    r = edit_req(ed1, receipt, "关于秘密的报告", NULL, NULL, &a);
    /* No classification marks, as at intake ("秘密" is one). */
    itexpect_error(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "edit.title");
    done(&a);
    r = edit_req(ed1, receipt, "关于加装电梯的建议（编辑稿）", NULL, "改标题", &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_EDIT_OK);
    assert_int_equal(r->edit_ok->version, 2);
    done(&a);
    r = edit_req(ed1, receipt, NULL, "第一段情况。\n第二段情况（已核实）。\n第三段情况。", "核实",
                 &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_EDIT_OK);
    assert_int_equal(r->edit_ok->version, 3);
    done(&a);

    r = show_ok(ed2, receipt, 0, true, &a);
    Minyi__V1__ShowResponse *s = r->show_ok;
    assert_int_equal(s->latest_version, 3);
    assert_int_equal(s->version->version, 3);
    assert_true(bytes_eq(&s->version->author, "editor1"));
    assert_true(bytes_eq(&s->version->note, "核实"));
    assert_true(bytes_eq(&s->version->title, "关于加装电梯的建议（编辑稿）"));
    assert_true(bytes_has(&s->diff, "--- version 1\n+++ version 3\n"));
    assert_true(bytes_has(&s->diff, "- title: 关于加快老旧小区加装电梯的建议\n"));
    assert_true(bytes_has(&s->diff, "+ title: 关于加装电梯的建议（编辑稿）\n"));
    assert_true(bytes_has(&s->diff, "  第一段情况。\n- 第二段情况。\n+ 第二段情况（已核实）。\n"
                                    "  第三段情况。\n"));
    assert_true(bytes_eq(&s->claimed_by, "editor1"));
    assert_true(bytes_eq(&s->contact_point, "contact1"));
    /* Personal fields are opened for editors. */
    assert_true(s->phone.len > 0);
    assert_non_null(s->reporter);
    assert_true(s->reporter->name.len > 0);
    /* History: received, claim, edit, edit. */
    assert_int_equal(s->n_history, 4);
    assert_true(bytes_eq(&s->history[2]->action, "edit"));
    assert_true(bytes_has(&s->history[2]->note, "version 2: 改标题"));
    done(&a);

    r = show_ok(ed2, receipt, 1, false, &a);
    assert_int_equal(r->show_ok->version->version, 1);
    assert_true(bytes_eq(&r->show_ok->version->title, "关于加快老旧小区加装电梯的建议"));
    assert_true(bytes_eq(&r->show_ok->version->author, "contact1"));
    assert_int_equal(r->show_ok->diff.len, 0);
    done(&a);

    r = show_req(ed2, receipt, 9, false, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__NOT_FOUND, "show.version");
    done(&a);
}

/* Duplicate hints: a near copy of an open report is listed first. */
static void test_similar_hint(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char orig[IT_RECEIPT_MAX], copy[IT_RECEIPT_MAX], other[IT_RECEIPT_MAX];

    new_report(contact1, "河道两岸夜间施工噪声扰民，附近居民反映强烈，多次投诉未果。", false, orig);
    new_report(contact2, "河道两岸夜间施工噪声扰民，附近居民反映强烈，多次投诉仍未解决。", false,
               copy);
    new_report(contact2, "乡村小学体育器材短缺，学生课外活动单一。", false, other);
    Frame *r = show_ok(ed1, copy, 0, false, &a);
    assert_true(r->show_ok->n_similar >= 1);
    assert_true(bytes_eq(&r->show_ok->similar[0]->receipt, orig));
    assert_true(r->show_ok->similar[0]->similarity > 0.5f);
    /* The unrelated report shares only the title: it ranks lower if at all. */
    for (size_t i = 1; i < r->show_ok->n_similar; i++)
        if (bytes_eq(&r->show_ok->similar[i]->receipt, other))
            assert_true(r->show_ok->similar[i]->similarity < r->show_ok->similar[0]->similarity);
    done(&a);
}

/* Return with a reason; the contact point sees it, resubmits a revision
 * under the same receipt, and the report is back in the queue. */
static void test_return_resubmit(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char receipt[IT_RECEIPT_MAX];
    const char *reason = "请补充具体数据和涉及户数";
    Frame *r;

    new_report(contact1, NULL, false, receipt);
    claim_ok(ed1, receipt);
    r = decide_req(ed1, receipt, MINYI__V1__DECISION__RETURN, "", NULL, NULL, 0, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.note");
    done(&a);
    decide_ok(ed1, receipt, MINYI__V1__DECISION__RETURN, reason, NULL,
              MINYI__V1__REPORT_STATE__RETURNED);

    r = itstatus(contact1, receipt, &a);
    assert_int_equal(r->status_ok->state, MINYI__V1__REPORT_STATE__RETURNED);
    Minyi__V1__HistoryEntry *last = r->status_ok->history[r->status_ok->n_history - 1];
    assert_true(bytes_eq(&last->action, "return"));
    assert_true(bytes_eq(&last->note, reason));
    done(&a);

    Minyi__V1__Report *rev = tmake_report(NULL, "修订稿：涉及三个小区共四百余户，已统计详细数据。");
    assert_non_null(rev);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ResubmitRequest q = MINYI__V1__RESUBMIT_REQUEST__INIT;
    q.receipt = frame_bytes(receipt);
    q.report = rev;
    f.body_case = MINYI__V1__FRAME__BODY_RESUBMIT;
    f.resubmit = &q;

    /* Another contact point cannot resubmit it; an editor may not at all. */
    r = itcall(contact2, &f, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__NOT_FOUND, "resubmit.receipt");
    done(&a);
    r = itcall(ed1, &f, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    done(&a);

    r = itcall(contact1, &f, &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_SUBMIT_OK);
    assert_true(bytes_eq(&r->submit_ok->receipt, receipt));
    assert_false(r->submit_ok->duplicate);
    done(&a);
    /* A retry of the same revision is idempotent. */
    r = itcall(contact1, &f, &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_SUBMIT_OK);
    assert_true(bytes_eq(&r->submit_ok->receipt, receipt));
    assert_true(r->submit_ok->duplicate);
    done(&a);
    /* The same client_report_id with another text is not a retry. */
    Minyi__V1__Report *other = tmake_report(NULL, "另一份修订稿，内容不同。");
    assert_non_null(other);
    itset_raw(&other->client_report_id, rev->client_report_id.data, rev->client_report_id.len);
    q.report = other;
    r = itcall(contact1, &f, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__CONFLICT, "report.client_report_id");
    done(&a);
    protobuf_c_message_free_unpacked(&other->base, NULL);
    protobuf_c_message_free_unpacked(&rev->base, NULL);

    /* A report that is not RETURNED cannot be resubmitted: the state is named. */
    rev = tmake_report(NULL, NULL);
    q.report = rev;
    r = itcall(contact1, &f, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "RECEIVED");
    done(&a);
    protobuf_c_message_free_unpacked(&rev->base, NULL);

    r = itstatus(contact1, receipt, &a);
    assert_int_equal(r->status_ok->state, MINYI__V1__REPORT_STATE__RECEIVED);
    last = r->status_ok->history[r->status_ok->n_history - 1];
    assert_true(bytes_eq(&last->action, "resubmit"));
    done(&a);
    assert_int_equal(itdb_rows_receipt(env.conninfo, receipt), 1);

    r = show_ok(ed1, receipt, 0, false, &a);
    assert_int_equal(r->show_ok->latest_version, 2);
    assert_true(bytes_has(&r->show_ok->version->situation, "四百余户"));
    assert_true(bytes_eq(&r->show_ok->version->author, "contact1"));
    done(&a);

    /* Back in the queue of RECEIVED reports. */
    Frame qf = MINYI__V1__FRAME__INIT;
    Minyi__V1__QueueRequest qq = MINYI__V1__QUEUE_REQUEST__INIT;
    Minyi__V1__QueueFilter flt = MINYI__V1__QUEUE_FILTER__INIT;
    flt.text = frame_bytes("四百余户");
    qq.filter = &flt;
    qf.body_case = MINYI__V1__FRAME__BODY_QUEUE;
    qf.queue = &qq;
    r = itcall(ed1, &qf, &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_QUEUE_OK);
    assert_int_equal(r->queue_ok->n_items, 1);
    assert_true(bytes_eq(&r->queue_ok->items[0]->receipt, receipt));
    assert_int_equal(r->queue_ok->items[0]->state, MINYI__V1__REPORT_STATE__RECEIVED);
    done(&a);
}

/* Merging a duplicate: both stay readable, each names the other, and the
 * merged report's contact point is credited on the surviving one. */
static void test_merge_credit(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char keep[IT_RECEIPT_MAX], dup[IT_RECEIPT_MAX];
    Frame *r;

    new_report(contact1, NULL, false, keep);
    new_report(contact2, NULL, false, dup);
    claim_ok(ed1, dup);
    r = decide_req(ed1, dup, MINYI__V1__DECISION__MERGE, "", dup, NULL, 0, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.into_receipt");
    done(&a);
    r = decide_req(ed1, dup, MINYI__V1__DECISION__MERGE, "", "330400-2026-999998", NULL, 0, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__NOT_FOUND, "decide.into_receipt");
    done(&a);
    decide_ok(ed1, dup, MINYI__V1__DECISION__MERGE, "重复", keep,
              MINYI__V1__REPORT_STATE__MERGED);

    r = show_ok(ed2, keep, 0, false, &a);
    assert_int_equal(r->show_ok->n_merged_from, 1);
    assert_true(bytes_eq(&r->show_ok->merged_from[0], dup));
    done(&a);
    r = show_ok(ed2, dup, 0, false, &a);
    assert_int_equal(r->show_ok->state, MINYI__V1__REPORT_STATE__MERGED);
    assert_true(bytes_eq(&r->show_ok->merged_into, keep));
    done(&a);

    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)env.contact2);
    const char *p[2] = { keep, id };
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM report_credits c JOIN reports r"
                                " ON r.id = c.report_id WHERE r.receipt = $1"
                                " AND c.principal_id = $2::int8", 2, p), 1);

    /* contact2 sees where its report went, and from then on the
     * surviving report's state: credit follows the merge. */
    r = itstatus(contact2, dup, &a);
    assert_int_equal(r->status_ok->state, MINYI__V1__REPORT_STATE__RECEIVED);
    bool merge_seen = false;
    for (size_t i = 0; i < r->status_ok->n_history; i++) {
        const Minyi__V1__HistoryEntry *h = r->status_ok->history[i];
        if (bytes_eq(&h->action, "merge")) {
            assert_int_equal(h->state, MINYI__V1__REPORT_STATE__MERGED);
            assert_true(bytes_has(&h->note, keep));
            merge_seen = true;
        }
        /* Nothing names the other writer's report or its intake. */
        assert_false(bytes_eq(&h->action, "merged_from"));
    }
    assert_true(merge_seen);
    done(&a);

    /* Merging into a MERGED report is refused, naming that state. */
    char third[IT_RECEIPT_MAX];
    new_report(contact1, NULL, false, third);
    claim_ok(ed1, third);
    r = decide_req(ed1, third, MINYI__V1__DECISION__MERGE, "", dup, NULL, 0, &a);
    expect_error_saying(r, MINYI__V1__ERROR_CODE__CONFLICT, "MERGED");
    done(&a);
}

/* FORWARD writes one outbox row per destination in the decision's own
 * transaction: when a row cannot be written, neither the decision nor
 * any other row is stored. */
static void test_forward_outbox(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char receipt[IT_RECEIPT_MAX], broken[IT_RECEIPT_MAX];
    const char *two[2] = { "province", "national" };
    const char *bad[1] = { "nowhere" };
    const char *twice[2] = { "province", "province" };
    Frame *r;

    new_report(contact1, NULL, false, receipt);
    claim_ok(ed1, receipt);
    r = decide_req(ed1, receipt, MINYI__V1__DECISION__FORWARD, "", NULL, bad, 1, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.destinations");
    /* The refusal names the destinations there are. */
    expect_error_saying(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                        "configured destinations: province, national");
    done(&a);
    r = decide_req(ed1, receipt, MINYI__V1__DECISION__FORWARD, "", NULL, twice, 2, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.destinations");
    done(&a);
    r = decide_req(ed1, receipt, MINYI__V1__DECISION__FORWARD, "", NULL, NULL, 0, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.destinations");
    done(&a);
    assert_int_equal(db_count("SELECT count(*) FROM outbox o JOIN reports r ON r.id = o.report_id"
                              " WHERE r.receipt = $1", receipt), 0);

    r = decide_req(ed1, receipt, MINYI__V1__DECISION__FORWARD, "", NULL, two, 2, &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    assert_int_equal(r->decide_ok->state, MINYI__V1__REPORT_STATE__FORWARDED);
    done(&a);
    assert_int_equal(db_count("SELECT count(*) FROM outbox o JOIN reports r ON r.id = o.report_id"
                              " WHERE r.receipt = $1 AND o.state = 'pending'", receipt), 2);
    r = show_ok(ed1, receipt, 0, false, &a);
    assert_int_equal(r->show_ok->n_deliveries, 2);
    assert_true(bytes_eq(&r->show_ok->deliveries[0]->destination, "province"));
    assert_true(bytes_eq(&r->show_ok->deliveries[1]->destination, "national"));
    assert_true(bytes_eq(&r->show_ok->deliveries[0]->state, "pending"));
    done(&a);

    /* The decision's second insert (for "national") fails, forced by a
     * trigger made for this test: the whole transaction must roll back,
     * the first destination's row with it. */
    new_report(contact1, NULL, false, broken);
    claim_ok(ed1, broken);
    itdb_exec(env.conninfo,
              "CREATE FUNCTION it_refuse_national() RETURNS trigger LANGUAGE plpgsql AS $$"
              " BEGIN IF NEW.destination = 'national' THEN RAISE EXCEPTION 'refused by the test';"
              " END IF; RETURN NEW; END $$;"
              " CREATE TRIGGER outbox_refuse_national BEFORE INSERT ON outbox"
              " FOR EACH ROW EXECUTE FUNCTION it_refuse_national()");
    r = decide_req(ed1, broken, MINYI__V1__DECISION__FORWARD, "", NULL, two, 2, &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_ERROR);
    done(&a);
    itdb_exec(env.conninfo, "DROP TRIGGER outbox_refuse_national ON outbox;"
                            " DROP FUNCTION it_refuse_national()");
    assert_int_equal(db_count("SELECT count(*) FROM outbox o JOIN reports r ON r.id = o.report_id"
                              " WHERE r.receipt = $1", broken), 0);
    assert_int_equal(db_count("SELECT count(*) FROM reports WHERE receipt = $1"
                              " AND state = 'IN_REVIEW'", broken), 1);
    assert_int_equal(db_count("SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id"
                              " WHERE r.receipt = $1 AND e.action = 'forward'", broken), 0);
}

/* The queue: urgent first, then oldest first, paged by a cursor without
 * gaps or repeats; filters narrow it. */
/* Stored text is NFC; a search typed in decomposed form (e + U+0301)
 * finds it all the same. */
static void test_queue_text_nfc(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char receipt[IT_RECEIPT_MAX];

    new_report(contact1, "调研走访了社区咖啡馆 Caf\xc3\xa9 Lumi\xc3\xa8re 的经营者。", false,
               receipt);
    Frame qf = MINYI__V1__FRAME__INIT;
    Minyi__V1__QueueRequest qq = MINYI__V1__QUEUE_REQUEST__INIT;
    Minyi__V1__QueueFilter flt = MINYI__V1__QUEUE_FILTER__INIT;
    flt.text = frame_bytes("Cafe\xcc\x81 Lumie\xcc\x80re");
    qq.filter = &flt;
    qf.body_case = MINYI__V1__FRAME__BODY_QUEUE;
    qf.queue = &qq;
    Frame *r = itcall(ed1, &qf, &a);
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_QUEUE_OK);
    assert_int_equal(r->queue_ok->n_items, 1);
    assert_true(bytes_eq(&r->queue_ok->items[0]->receipt, receipt));
    done(&a);
}

/* An editor opening a report computes the duplicate hints of other open
 * reports in the same transaction; a claim of one of them at that moment
 * must not find it locked (and answer CONFLICT). */
static void test_claim_during_show(void **state)
{
    (void)state;
    char opened[IT_RECEIPT_MAX], fresh[IT_RECEIPT_MAX];

    new_report(contact1, "打开的这份信息", false, opened);
    new_report(contact1, "刚收到的另一份信息", false, fresh);
    char *editor = itdb_text(env.conninfo,
                             "SELECT id::text FROM principals WHERE kind = 'editor' ORDER BY id"
                             " LIMIT 1", 0, NULL);
    assert_non_null(editor);
    PGconn *pg = PQconnectdb(env.conninfo);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    const char *p[2] = { editor, opened };
    PGresult *res = PQexec(pg, "BEGIN");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    /* What `show` does, and the shingles of every open report, left
     * uncommitted while the claim runs. */
    res = PQexecParams(pg, "SELECT minyi_t_show($1::int8, $2, 0, 5, 0.3)", 2, NULL, p, NULL,
                       NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    res = PQexec(pg, "SELECT minyi_fill_shingles(100000)");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);

    claim_ok(ed2, fresh);

    res = PQexec(pg, "COMMIT");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(pg);
    free(editor);
}

static void test_queue_paging(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char rc[QUEUE_REPORTS][IT_RECEIPT_MAX], urgent[IT_RECEIPT_MAX];
    char cursor[128] = "";
    int seen = 0;
    bool first_page = true;

    /* Everything earlier in this file is out of the way: only RECEIVED
     * reports of contact2 made here are listed. */
    itdb_exec(env.conninfo, "UPDATE reports SET state = 'ADOPTED' WHERE state IN"
                            " ('RECEIVED', 'IN_REVIEW') AND principal_id IN"
                            " (SELECT id FROM principals WHERE name = 'contact2')");
    for (int i = 0; i < QUEUE_REPORTS; i++)
        new_report(contact2, NULL, false, rc[i]);
    new_report(contact2, NULL, true, urgent);

    Minyi__V1__QueueFilter flt = MINYI__V1__QUEUE_FILTER__INIT;
    Minyi__V1__ReportState st[1] = { MINYI__V1__REPORT_STATE__RECEIVED };
    flt.states = st;
    flt.n_states = 1;
    flt.contact_point_id = env.contact2;
    for (;;) {
        Frame f = MINYI__V1__FRAME__INIT;
        Minyi__V1__QueueRequest q = MINYI__V1__QUEUE_REQUEST__INIT;
        q.filter = &flt;
        q.limit = 2;
        q.cursor = frame_bytes(cursor);
        f.body_case = MINYI__V1__FRAME__BODY_QUEUE;
        f.queue = &q;
        Frame *r = itcall(ed1, &f, &a);
        assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_QUEUE_OK);
        for (size_t i = 0; i < r->queue_ok->n_items; i++) {
            Minyi__V1__QueueItem *it = r->queue_ok->items[i];
            if (first_page && i == 0)
                assert_true(bytes_eq(&it->receipt, urgent));
            else
                assert_true(bytes_eq(&it->receipt, rc[seen - 1]));
            assert_true(bytes_eq(&it->contact_point, "contact2"));
            assert_false(it->overdue);
            seen++;
        }
        first_page = false;
        itcopy(&r->queue_ok->next_cursor, cursor, sizeof(cursor));
        done(&a);
        if (cursor[0] == '\0')
            break;
    }
    assert_int_equal(seen, QUEUE_REPORTS + 1);

    /* Overdue: a RECEIVED report older than deadline_received_s. */
    const char *p[1] = { rc[0] };
    assert_true(tdb_exec(env.conninfo, "UPDATE reports SET state_since = now() - interval '4 days'"
                                       " WHERE receipt = $1", 1, p));
    flt.overdue_only = true;
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__QueueRequest q = MINYI__V1__QUEUE_REQUEST__INIT;
    q.filter = &flt;
    f.body_case = MINYI__V1__FRAME__BODY_QUEUE;
    f.queue = &q;
    Frame *r = itcall(ed1, &f, &a);
    assert_int_equal(r->queue_ok->n_items, 1);
    assert_true(bytes_eq(&r->queue_ok->items[0]->receipt, rc[0]));
    assert_true(r->queue_ok->items[0]->overdue);
    done(&a);

    q.cursor = frame_bytes("not-a-cursor");
    r = itcall(ed1, &f, &a);
    itexpect_error(r, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "queue.cursor");
    done(&a);
}

/* An editor watching on a second minyid (same database) is told of a new
 * report submitted through the first one, and of its claim, within a second. */
/* The gathered 'new' notification in the database: at most 100 receipts of
 * one contact point each, in the order stored, under NOTIFY's 8000-byte
 * payload limit, and every receipt exactly once. */
static void test_notify_gathered_chunks(void **state)
{
    (void)state;
    enum { N = 250 };
    PGconn *pg = PQconnectdb(env.conninfo);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PQclear(PQexec(pg, "LISTEN minyi_queue"));
    /* Two contact points, alternating, with receipts that name their order;
     * their names are the longest a notification carries. */
    PGresult *res = PQexec(pg,
        "WITH p AS (INSERT INTO principals (fingerprint, kind, name, region)"
        "           SELECT sha256(gen_random_uuid()::text::bytea), 'contact', repeat('名', 200),"
        "                  '330402'"
        "             FROM generate_series(1, 2) i RETURNING id)"
        "SELECT minyi_notify_received("
        "  array_agg(format('330400-2026-%s', lpad(g::text, 9, '0')) ORDER BY g),"
        "  array_agg(1700000000000::int8 + g ORDER BY g),"
        "  array_agg(CASE WHEN g % 2 = 0 THEN (SELECT min(id) FROM p)"
        "                 ELSE (SELECT max(id) FROM p) END ORDER BY g))"
        "  FROM generate_series(1, 250) g");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);

    bool seen[N + 1] = { false };
    int got = 0, notes = 0;
    long last[2] = { 0, 0 };
    PGnotify *n;
    assert_true(PQconsumeInput(pg));
    while ((n = PQnotifies(pg)) != NULL) {
        assert_true(strlen(n->extra) < 8000);
        json_error_t jerr;
        json_t *j = json_loads(n->extra, 0, &jerr);
        assert_non_null(j);
        json_t *rs = json_object_get(j, "receipts"), *at = json_object_get(j, "at_ms");
        const char *actor = json_string_value(json_object_get(j, "actor"));
        if (!actor || strlen(actor) != 128 * 3) {
            /* Someone else's (the gateway's own intake): not this call's. */
            json_decref(j);
            PQfreemem(n);
            continue;
        }
        assert_string_equal(json_string_value(json_object_get(j, "kind")), "new");
        assert_true(json_array_size(rs) >= 1 && json_array_size(rs) <= 100);
        assert_int_equal(json_array_size(at), json_array_size(rs));
        notes++;
        for (size_t i = 0; i < json_array_size(rs); i++) {
            long g = strtol(json_string_value(json_array_get(rs, i)) + 12, NULL, 10);
            assert_true(g >= 1 && g <= N && !seen[g]);
            seen[g] = true;
            assert_int_equal(json_integer_value(json_array_get(at, i)), 1700000000000LL + g);
            /* In the order stored, per contact point. */
            assert_true(g > last[g % 2]);
            last[g % 2] = g;
            got++;
        }
        json_decref(j);
        PQfreemem(n);
    }
    assert_int_equal(got, N);
    /* 125 receipts per contact point: two notifications each. */
    assert_int_equal(notes, 4);
    PQfinish(pg);
}

static void test_watch_second_gateway(void **state)
{
    (void)state;
    struct tgw gw2;
    struct frame_arena *a = NULL;
    char receipt[IT_RECEIPT_MAX];

    /* A short idle limit on the second gateway: a watcher waits for events
     * longer than that and must not be closed as idle. */
    char ini2[256];
    snprintf(ini2, sizeof ini2, "%s[gateway]\nidle_timeout_ms = %d\n", extra_ini, WATCH_IDLE_MS);
    assert_true(tgw_start(&gw2, env.conninfo, ini2));
    struct client_conn *w = itconnect_gw(&gw2, "editor2");

    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__WatchRequest wq = MINYI__V1__WATCH_REQUEST__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_WATCH;
    f.watch = &wq;
    Frame *r = itcall(w, &f, &a);
    uint64_t watch_id = f.id;
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_OK);
    done(&a);
    /* The LISTEN connection comes up asynchronously at start. */
    for (int i = 0; i < 50 && !tgw_log_contains(&gw2, "event=listen_up"); i++)
        itsleep_ms(100);
    assert_true(tgw_log_contains(&gw2, "event=listen_up"));
    itsleep_ms(2 * WATCH_IDLE_MS);

    long long t0 = itnow_ms();
    new_report(contact1, NULL, false, receipt);
    r = itrecv(w, &a);
    long long dt = itnow_ms() - t0;
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_QUEUE_EVENT);
    assert_int_equal(r->id, watch_id);
    assert_true(bytes_eq(&r->queue_event->kind, "new"));
    assert_true(bytes_eq(&r->queue_event->receipt, receipt));
    assert_int_equal(r->queue_event->state, MINYI__V1__REPORT_STATE__RECEIVED);
    done(&a);
    print_message("queue event reached the second gateway's watcher in %lld ms\n", dt);
    assert_true(dt < PUSH_WITHIN_MS);

    /* Reports stored together come in one gathered notification
     * (0013_notify_new_gathered.sql), and still as one event each. */
    enum { TOGETHER = 5 };
    char together[TOGETHER][IT_RECEIPT_MAX];
    bool seen[TOGETHER] = { false };
    for (int i = 0; i < TOGETHER; i++) {
        Minyi__V1__Report *rep = tmake_report(NULL, NULL);
        assert_non_null(rep);
        itsend_submit(contact1, client_next_id(contact1), rep);
        protobuf_c_message_free_unpacked(&rep->base, NULL);
    }
    for (int i = 0; i < TOGETHER; i++) {
        r = itrecv(contact1, &a);
        itexpect_receipt(r, together[i]);
        done(&a);
    }
    for (int i = 0; i < TOGETHER; i++) {
        r = itrecv(w, &a);
        assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_QUEUE_EVENT);
        assert_true(bytes_eq(&r->queue_event->kind, "new"));
        assert_true(bytes_eq(&r->queue_event->actor, "contact1"));
        assert_int_equal(r->queue_event->state, MINYI__V1__REPORT_STATE__RECEIVED);
        assert_true(r->queue_event->at_ms > 0);
        int k = 0;
        while (k < TOGETHER && !bytes_eq(&r->queue_event->receipt, together[k]))
            k++;
        if (k == TOGETHER || seen[k])
            fail_msg("queue event for an unexpected receipt");
        seen[k] = true;
        done(&a);
    }

    t0 = itnow_ms();
    claim_ok(ed1, receipt);
    r = itrecv(w, &a);
    dt = itnow_ms() - t0;
    assert_int_equal(r->body_case, MINYI__V1__FRAME__BODY_QUEUE_EVENT);
    assert_true(bytes_eq(&r->queue_event->kind, "claimed"));
    assert_true(bytes_eq(&r->queue_event->actor, "editor1"));
    assert_int_equal(r->queue_event->state, MINYI__V1__REPORT_STATE__IN_REVIEW);
    done(&a);
    assert_true(dt < PUSH_WITHIN_MS);

    client_close(w);
    assert_int_equal(tgw_stop(&gw2, SIGTERM), 0);
}

/* A contact point may use none of the editor operations (show is the
 * writer's view of its own report, it_returns). */
static void test_contact_refused(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char receipt[IT_RECEIPT_MAX];
    new_report(contact1, NULL, false, receipt);

    Minyi__V1__QueueRequest queue = MINYI__V1__QUEUE_REQUEST__INIT;
    Minyi__V1__ClaimRequest claim = MINYI__V1__CLAIM_REQUEST__INIT;
    Minyi__V1__RenewRequest renew = MINYI__V1__RENEW_REQUEST__INIT;
    Minyi__V1__ReleaseRequest release = MINYI__V1__RELEASE_REQUEST__INIT;
    Minyi__V1__EditRequest edit = MINYI__V1__EDIT_REQUEST__INIT;
    Minyi__V1__DecideRequest decide = MINYI__V1__DECIDE_REQUEST__INIT;
    Minyi__V1__WatchRequest watch = MINYI__V1__WATCH_REQUEST__INIT;
    claim.receipt = renew.receipt = release.receipt = edit.receipt =
        decide.receipt = frame_bytes(receipt);
    decide.decision = MINYI__V1__DECISION__ADOPT;
    struct {
        int body;
        void *msg;
    } ops[] = {
        { MINYI__V1__FRAME__BODY_QUEUE, &queue },
        { MINYI__V1__FRAME__BODY_CLAIM, &claim },     { MINYI__V1__FRAME__BODY_RENEW, &renew },
        { MINYI__V1__FRAME__BODY_RELEASE, &release }, { MINYI__V1__FRAME__BODY_EDIT, &edit },
        { MINYI__V1__FRAME__BODY_DECIDE, &decide },   { MINYI__V1__FRAME__BODY_WATCH, &watch },
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        Frame f = MINYI__V1__FRAME__INIT;
        f.body_case = ops[i].body;
        f.queue = ops[i].msg;       /* the bodies share one union */
        Frame *r = itcall(contact1, &f, &a);
        itexpect_error(r, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
        done(&a);
    }
    /* Nothing changed. */
    assert_int_equal(db_count("SELECT count(*) FROM reports WHERE receipt = $1"
                              " AND state = 'RECEIVED' AND claimed_by IS NULL", receipt), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transitions, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_claim_race, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_edit_history_diff, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_similar_hint, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_return_resubmit, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_merge_credit, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_forward_outbox, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_queue_paging, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_queue_text_nfc, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_claim_during_show, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_watch_second_gateway, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_notify_gathered_chunks, conn_setup, conn_teardown),
        cmocka_unit_test_setup_teardown(test_contact_refused, conn_setup, conn_teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
