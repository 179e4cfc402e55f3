/*
 * it_audit: the audit chain.  The gateway's sealer chains reports, events
 * and admin events and signs the head; `minyid audit verify` accepts the
 * untouched chain and, after one row is changed, deleted, inserted or
 * moved directly in PostgreSQL, names the first broken sequence number and
 * what is wrong.  A chain rewritten consistently after the fact is caught
 * by the heads signed before, and when those are deleted too, by the heads
 * the body above keeps (the witness).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "itkit.h"

#define OUT_MAX 8192
#define SEAL_WAIT_MS 20000           /* the sealer runs every 100 ms here */
#define REPORTS 4
#define CLAIMED 3
#define IDLE_ROUNDS_MS 1000          /* ten sealer rounds with nothing to seal */

static struct itenv env;
static char dir[64];
static char receipts[REPORTS][IT_RECEIPT_MAX];

/* Rows that should be in the chain once the sealer has caught up. */
#define ROWS_SQL "SELECT (SELECT count(*) FROM reports) + (SELECT count(*) FROM events) +" \
                 " (SELECT count(*) FROM admin_events)"

static void wait_sealed(void)
{
    long long deadline = itnow_ms() + SEAL_WAIT_MS, rows = -1, sealed = -2;
    while (itnow_ms() < deadline) {
        rows = tdb_scalar(env.conninfo, ROWS_SQL, 0, NULL);
        sealed = tdb_scalar(env.conninfo, "SELECT count(*) FROM audit_chain", 0, NULL);
        if (rows == sealed && rows > 0)
            return;
        itsleep_ms(50);
    }
    fail_msg("the sealer did not catch up: %lld rows, %lld sealed", rows, sealed);
}

/* Runs `minyid audit verify [args]` and answers its exit status. */
static int verify(char *out, const char *witness)
{
    char err[OUT_MAX];
    const char *args[] = { "audit", "verify", witness ? "--witness" : NULL, witness, NULL };
    return itrun_minyid(dir, &env.gw, args, out, err, OUT_MAX);
}

static void expect_ok(void)
{
    char out[OUT_MAX];
    assert_int_equal(verify(out, NULL), 0);
    assert_non_null(strstr(out, "audit ok: "));
}

/* verify fails at the seq of the given row, saying what. */
static void expect_broken(long long seq, const char *what, const char *witness)
{
    char out[OUT_MAX], needle[128];
    assert_int_equal(verify(out, witness), 3);
    snprintf(needle, sizeof needle, "audit broken at seq %lld: %s", seq, what);
    if (strstr(out, needle) == NULL)
        fail_msg("expected \"%s\", got: %s", needle, out);
}

static long long seq_of(char source, long long id)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT seq FROM audit_chain WHERE source = '%c' AND ref_id = %lld",
             source, id);
    return tdb_scalar(env.conninfo, sql, 0, NULL);
}

/* The id of the events row of the claim of receipts[i]. */
static long long claim_event(int i)
{
    const char *p[] = { receipts[i] };
    return tdb_scalar(env.conninfo,
                      "SELECT e.id FROM events e JOIN reports r ON r.id = e.report_id"
                      " WHERE r.receipt = $1 AND e.action = 'claim'", 1, p);
}

static int setup(void **state)
{
    (void)state;
    char extra[512];
    if (!itmkdtemp(dir, sizeof dir, "audit") || !itaudit_ini(dir, 3, extra, sizeof extra))
        return -1;
    strncat(extra, "check_interval_s = 1\n", sizeof extra - strlen(extra) - 1);
    return itenv_up(&env, extra) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    itrmtree(dir);
    return itenv_teardown(&env);
}

/* Reports, claims and principal changes are sealed; the chain verifies and
 * its heads are signed; export shows each entry as a JSON line. */
static void test_valid_chain_verifies(void **state)
{
    (void)state;
    char out[OUT_MAX], err[OUT_MAX], id[24];
    struct client_conn *c = itconnect(&env, "contact1");
    struct client_conn *ed = itconnect(&env, "editor1");
    for (int i = 0; i < REPORTS; i++) {
        Minyi__V1__Report *r = tmake_report(NULL, NULL);
        assert_non_null(r);
        itsubmit_ok(c, r, receipts[i]);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    for (int i = 0; i < CLAIMED; i++)
        itclaim_ok(ed, receipts[i]);
    /* A renewal is a change of its own: an event, sealed like the others. */
    struct frame_arena *a = NULL;
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__RenewRequest renew = MINYI__V1__RENEW_REQUEST__INIT;
    renew.receipt = frame_bytes(receipts[0]);
    f.body_case = MINYI__V1__FRAME__BODY_RENEW;
    f.renew = &renew;
    assert_int_equal(itcall(ed, &f, &a)->body_case, MINYI__V1__FRAME__BODY_CLAIM_OK);
    frame_arena_free(a);
    const char *rp[] = { receipts[0] };
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM events e JOIN reports r"
                                " ON r.id = e.report_id WHERE r.receipt = $1"
                                " AND e.action = 'renew' AND e.actor IS NOT NULL", 1, rp), 1);
    client_close(c);
    client_close(ed);
    snprintf(id, sizeof id, "%lld", (long long)env.contact2);
    const char *disable[] = { "principal", "disable", id, NULL };
    const char *enable[] = { "principal", "enable", id, NULL };
    assert_int_equal(itrun_minyid(dir, &env.gw, disable, out, err, OUT_MAX), 0);
    assert_int_equal(itrun_minyid(dir, &env.gw, enable, out, err, OUT_MAX), 0);
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM admin_events WHERE action"
                                " IN ('principal_disable', 'principal_enable')", 0, NULL), 2);

    wait_sealed();
    expect_ok();
    assert_true(tdb_scalar(env.conninfo, "SELECT count(*) FROM audit_heads", 0, NULL) >= 1);
    const char *exp[] = { "audit", "export", "--from", "1", "--to", "2", NULL };
    assert_int_equal(itrun_minyid(dir, &env.gw, exp, out, err, OUT_MAX), 0);
    assert_non_null(strstr(out, "{\"seq\":1,"));
    assert_non_null(strstr(out, "\n{\"seq\":2,"));
    assert_null(strstr(out, "\"seq\":3,"));
}

/* Once everything is sealed, the sealer's rounds (every 100 ms here) write
 * nothing: the rows it would move keep their version. */
static void test_idle_sealer_writes_nothing(void **state)
{
    (void)state;
    const char *sql = "SELECT string_agg(xmin::text, ',' ORDER BY source) FROM audit_marks";
    wait_sealed();
    char *before = itdb_text(env.conninfo, sql, 0, NULL);
    long long chain = tdb_scalar(env.conninfo, "SELECT count(*) FROM audit_chain", 0, NULL);
    assert_non_null(before);
    itsleep_ms(IDLE_ROUNDS_MS);
    char *after = itdb_text(env.conninfo, sql, 0, NULL);
    assert_non_null(after);
    assert_string_equal(before, after);
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM audit_chain", 0, NULL), chain);
    free(before);
    free(after);
}

/* A session idle in a transaction that holds an xid and never touches the
 * sealed tables (an operator's psql, a monitoring tool) must not stop the
 * sealer at a gap: only transactions that write a sealed table can fill
 * one.  The gap here is an id drawn and never used. */
static void test_idle_transaction_does_not_stall(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX];
    PGconn *idle = PQconnectdb(env.conninfo);
    assert_int_equal(PQstatus(idle), CONNECTION_OK);
    PGresult *res = PQexec(idle, "BEGIN; SELECT pg_current_xact_id()");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    wait_sealed();
    itdb_exec(env.conninfo, "SELECT nextval(pg_get_serial_sequence('reports', 'id'))");
    struct client_conn *c = itconnect(&env, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(c, r, receipt);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
    wait_sealed();
    PQfinish(idle);
}

/* One AuditRequest as cert; the answer frame (freed with *a). */
static Frame *audit_as(const char *cert, const char *receipt, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__AuditRequest q = MINYI__V1__AUDIT_REQUEST__INIT;
    struct client_conn *c = itconnect(&env, cert);
    if (receipt != NULL)
        q.receipt = frame_bytes(receipt);
    f.body_case = MINYI__V1__FRAME__BODY_AUDIT;
    f.audit = &q;
    Frame *ans = itcall(c, &f, a);
    client_close(c);
    return ans;
}

/* The sealer's check has seen the whole chain as it stands (check_interval_s
 * is 1 here). */
static void wait_checked(void)
{
    wait_sealed();
    assert_true(itwait_text(env.conninfo, "SELECT (entries = (SELECT count(*) FROM audit_chain)"
                            " AND broken_seq IS NULL)::text FROM audit_status", NULL, "true",
                            SEAL_WAIT_MS));
}

/* The office reads the audit, with how far the chain verifies; editors
 * and contact points may not. */
static void test_office_reads_audit(void **state)
{
    (void)state;
    char out[OUT_MAX], err[OUT_MAX], profile[128], seq_s[32];
    struct frame_arena *a = NULL;
    assert_true(tprincipal_add(env.conninfo, "office1", "office", IT_REGION, true) > 0);
    itexpect_error(audit_as("editor1", NULL, &a), MINYI__V1__ERROR_CODE__PERMISSION_DENIED,
                   "principal.kind");
    frame_arena_free(a);
    itexpect_error(audit_as("contact1", NULL, &a), MINYI__V1__ERROR_CODE__PERMISSION_DENIED,
                   "principal.kind");
    frame_arena_free(a);
    itexpect_error(audit_as("office1", "330400-2026-999999", &a),
                   MINYI__V1__ERROR_CODE__NOT_FOUND, "audit.receipt");
    frame_arena_free(a);

    wait_checked();
    long long head = tdb_scalar(env.conninfo, "SELECT max(seq) FROM audit_chain", 0, NULL);
    snprintf(profile, sizeof profile, "%s/office.conf", dir);
    assert_true(tprofile_write(profile, "office1", &env.gw));
    const char *text[] = { "audit", "--report", receipts[0], NULL };
    assert_int_equal(itrun_cli(dir, profile, text, out, err, OUT_MAX), 0);
    snprintf(seq_s, sizeof seq_s, "verified up to seq %lld", head);
    itexpect_contains(out, seq_s);
    itexpect_contains(out, "received");
    itexpect_contains(out, "claim");
    itexpect_contains(out, "renew");
    itexpect_contains(out, receipts[0]);
    /* Only that report's entries: another report's receipt is not there. */
    assert_null(strstr(out, receipts[1]));

    const char *json[] = { "audit", "--json", "--limit", "2", NULL };
    assert_int_equal(itrun_cli(dir, profile, json, out, err, OUT_MAX), 0);
    itexpect_contains(out, "\"more\": true");
    itexpect_contains(out, "\"broken_seq\": 0");
    itexpect_contains(out, "\"seq\": 1,");
    itexpect_contains(out, "\"seq\": 2,");
    assert_null(strstr(out, "\"seq\": 3,"));
    /* The principal commands of the first test, as the operator's. */
    const char *admin[] = { "audit", "--json", "--after", "2", "--limit", "1000", NULL };
    assert_int_equal(itrun_cli(dir, profile, admin, out, err, OUT_MAX), 0);
    itexpect_contains(out, "\"action\": \"principal_disable\"");
    itexpect_contains(out, "\"actor\": \"operator\"");
}

/* An event's text changed in place. */
static void test_updated_event(void **state)
{
    (void)state;
    char sql[256];
    long long ev = claim_event(1);
    snprintf(sql, sizeof sql, "UPDATE events SET note = note || ' (edited)' WHERE id = %lld", ev);
    itdb_exec(env.conninfo, sql);
    expect_broken(seq_of('e', ev), "changed: the event row", NULL);
    /* The sealer's check finds it too, and the office is told where. */
    char seq_s[24];
    snprintf(seq_s, sizeof seq_s, "%lld", seq_of('e', ev));
    assert_true(itwait_text(env.conninfo, "SELECT broken_seq::text FROM audit_status", NULL,
                            seq_s, SEAL_WAIT_MS));
    struct frame_arena *a = NULL;
    Frame *f = audit_as("office1", NULL, &a);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_AUDIT_OK);
    assert_int_equal(f->audit_ok->broken_seq, seq_of('e', ev));
    assert_int_equal(f->audit_ok->verified_seq, seq_of('e', ev) - 1);
    frame_arena_free(a);
    snprintf(sql, sizeof sql, "UPDATE events SET note = left(note, -9) WHERE id = %lld", ev);
    itdb_exec(env.conninfo, sql);
    expect_ok();
}

/* An event deleted. */
static void test_deleted_event(void **state)
{
    (void)state;
    char sql[256];
    long long ev = claim_event(1);
    snprintf(sql, sizeof sql,
             "CREATE TABLE kept AS SELECT * FROM events WHERE id = %lld;"
             " DELETE FROM events WHERE id = %lld", ev, ev);
    itdb_exec(env.conninfo, sql);
    expect_broken(seq_of('e', ev), "deleted: the event row", NULL);
    itdb_exec(env.conninfo, "INSERT INTO events SELECT * FROM kept; DROP TABLE kept");
    expect_ok();
}

/* An event slipped in below rows that are sealed already. */
static void test_inserted_event(void **state)
{
    (void)state;
    long long first = tdb_scalar(env.conninfo, "SELECT min(ref_id) FROM audit_chain"
                                 " WHERE source = 'e'", 0, NULL);
    itdb_exec(env.conninfo, "INSERT INTO events (id, report_id, actor, action, state, note)"
                            " SELECT 0, report_id, actor, 'adopt', 'ADOPTED', ''"
                            "   FROM events ORDER BY id LIMIT 1");
    expect_broken(seq_of('e', first), "inserted: the event row 0", NULL);
    itdb_exec(env.conninfo, "DELETE FROM events WHERE id = 0");
    expect_ok();
}

/* Two events swap places (their ids), so the history reads in another order. */
static void test_reordered_events(void **state)
{
    (void)state;
    char sql[512];
    long long a = claim_event(0), b = claim_event(2);
    snprintf(sql, sizeof sql,
             "UPDATE events SET id = -1 WHERE id = %lld; UPDATE events SET id = %lld WHERE id = %lld;"
             " UPDATE events SET id = %lld WHERE id = -1", a, a, b, b);
    itdb_exec(env.conninfo, sql);
    expect_broken(seq_of('e', a), "reordered: the event row", NULL);
    itdb_exec(env.conninfo, sql);
    expect_ok();
}

/* A signed head whose signature was altered. */
static void test_bad_signature(void **state)
{
    (void)state;
    long long seq = tdb_scalar(env.conninfo, "SELECT min(seq) FROM audit_heads", 0, NULL);
    const char *flip = "UPDATE audit_heads SET signature = set_byte(signature, 0,"
                       " get_byte(signature, 0) # 1) WHERE seq = (SELECT min(seq) FROM audit_heads)";
    itdb_exec(env.conninfo, flip);
    expect_broken(seq, "bad signature", NULL);
    itdb_exec(env.conninfo, flip);
    expect_ok();
}

/* Someone rewrites an event and recomputes the chain after it, so every
 * link holds: the head signed before disagrees.  With those heads deleted
 * too, only the heads kept by the body above (a witness file here) do. */
static void test_consistent_rewrite(void **state)
{
    (void)state;
    char sql[512], witness[128];
    long long ev = claim_event(1), seq = seq_of('e', ev);
    /* The first head signed at or after the rewritten entry is where the
     * chain first disagrees; the sealer may have signed several. */
    char seq_s[24];
    snprintf(seq_s, sizeof seq_s, "%lld", seq);
    const char *p[] = { seq_s };
    long long signed_seq = tdb_scalar(env.conninfo, "SELECT min(seq) FROM audit_heads"
                                      " WHERE seq >= $1::int8", 1, p);
    assert_true(signed_seq >= seq);

    /* What the body above would hold: the signed heads as they are now. */
    snprintf(witness, sizeof witness, "%s/witness.jsonl", dir);
    char *heads = itdb_text(env.conninfo,
                            "SELECT string_agg(json_build_object('seq', seq, 'hash',"
                            " encode(hash, 'hex'))::text || E'\\n', '' ORDER BY seq)"
                            " FROM audit_heads", 0, NULL);
    assert_non_null(heads);
    itwrite_file(witness, heads);
    free(heads);

    /* Rewrite, and let the sealer recompute every hash from that seq on. */
    snprintf(sql, sizeof sql,
             "UPDATE events SET note = 'rewritten' WHERE id = %lld;"
             " DELETE FROM audit_chain WHERE seq >= %lld;"
             " UPDATE audit_marks m SET pend_id = NULL, pend_xmax = NULL,"
             "   hwm = coalesce((SELECT max(ref_id) FROM audit_chain c"
             "                   WHERE c.source = m.source), 0)", ev, seq);
    itdb_exec(env.conninfo, sql);
    wait_sealed();
    expect_broken(signed_seq, "rewritten: the chain disagrees with the head signed here", NULL);

    itdb_exec(env.conninfo, "DELETE FROM audit_heads");
    expect_ok();
    expect_broken(signed_seq, "rewritten: the chain disagrees with the witness above", witness);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_chain_verifies),
        cmocka_unit_test(test_idle_sealer_writes_nothing),
        cmocka_unit_test(test_idle_transaction_does_not_stall),
        cmocka_unit_test(test_office_reads_audit),
        cmocka_unit_test(test_updated_event),
        cmocka_unit_test(test_deleted_event),
        cmocka_unit_test(test_inserted_event),
        cmocka_unit_test(test_reordered_events),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_consistent_rewrite),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
