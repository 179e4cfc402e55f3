/*
 * it_journey: results flow back down the hierarchy, through three real
 * instances on loopback — district (南湖区政协, 330402) → city (嘉兴市政协,
 * 330400) → province (浙江省政协, 330000) — each with its own database on
 * one cluster and its own minyid.  The district forwards to the city with
 * the peer1 certificate, the city to the province with peer2.
 *
 * A report submitted at the district is forwarded twice and adopted at the
 * province with a 批示 (through the `minyi adopt --instruction --level`
 * command line); the district contact point's `minyi status` then shows the
 * whole journey: received, forwarded to the city (with the receipt there),
 * forwarded on by the city, delivered to the province (with its receipt),
 * adopted by the province with the 批示 text and level — and the report is
 * ADOPTED_ABOVE at the district and the city.
 *
 * And: a result decided while the lower gateway is stopped waits at the
 * upper instance and arrives once when it is back; so does one the lower
 * database refused to store for a while (acknowledged only after its
 * commit); a result whose
 * acknowledgement was lost is pulled again but applied only once; the pull
 * itself (ResultsRequest) answers a peer its own results until it
 * acknowledges them, and refuses contact points, editors and bad input;
 * a 批示 goes only with an adoption.
 */
#include <errno.h>
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

#define PROV_REGION  "330000"
#define PROV_NAME    "浙江省政协"
#define CITY_REGION  "330400"
#define CITY_NAME    "嘉兴市政协"
#define DIST_REGION  "330402"
#define DIST_NAME    "南湖区政协"
/* A lower body that talks to the city by hand in the protocol test. */
#define HAND_REGION  "330411"

#define WITHIN_MS 30000          /* a delivery or a result must arrive this fast (the
                                  * issue allows a minute; the test intervals are short) */
#define RESULTS_INTERVAL_MS 300  /* [forward] results_interval_ms of the lower instances */
#define DOWN_MS 2000             /* the district gateway is stopped this long */
#define INSTRUCTION "请省民政厅会同有关部门研究办理，提出具体措施。"
#define LEVEL "省领导"
#define CLI_OUT_MAX (64 * 1024)

static struct tpg pg;
static bool pg_up;
static struct itinst prov, city, dist;
static char dir[64];                 /* client profiles for the CLI */

/* ---- setting up three instances ----------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    if (!tpg_start(&pg))
        return -1;
    pg_up = true;
    /* From the top, so that each lower one can name the port above it. */
    if (!itinst_up(&pg, &prov, "province", PROV_REGION, PROV_NAME, NULL, NULL, NULL,
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(prov.conninfo, "peer2", "peer", CITY_REGION, true) <= 0 ||
        !itinst_up(&pg, &city, "city", CITY_REGION, CITY_NAME, "province", &prov, "peer2",
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(city.conninfo, "peer1", "peer", DIST_REGION, true) <= 0 ||
        tprincipal_add(city.conninfo, "editor2", "peer", HAND_REGION, true) <= 0 ||
        tprincipal_add(city.conninfo, "contact2", "contact", CITY_REGION, true) <= 0 ||
        !itinst_up(&pg, &dist, "district", DIST_REGION, DIST_NAME, "city", &city, "peer1",
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(dist.conninfo, "contact1", "contact", DIST_REGION, true) <= 0)
        return -1;
    snprintf(dir, sizeof dir, "/tmp/it_journey-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&dist, &city, &prov}, 3, &pg, pg_up, dir);
}

/* ---- requests ------------------------------------------------------------------- */


static void claim(const struct itinst *in, const char *receipt)
{
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    itclaim_ok(ed, receipt);
    client_close(ed);
}

/* A decision by in's editor1; answers the frame (free *a). */
static Frame *decide_frame(struct client_conn *ed, const char *receipt, int decision,
                           const char *dest, const char *note, const char *instruction,
                           const char *level, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__DecideRequest q = MINYI__V1__DECIDE_REQUEST__INIT;
    ProtobufCBinaryData d = frame_bytes(dest != NULL ? dest : "");
    q.receipt = frame_bytes(receipt);
    q.decision = decision;
    q.note = frame_bytes(note != NULL ? note : "");
    q.instruction = frame_bytes(instruction != NULL ? instruction : "");
    q.instruction_level = frame_bytes(level != NULL ? level : "");
    if (dest != NULL) {
        q.destinations = &d;
        q.n_destinations = 1;
    }
    f.body_case = MINYI__V1__FRAME__BODY_DECIDE;
    f.decide = &q;
    return itcall(ed, &f, a);
}

static void decide(const struct itinst *in, const char *receipt, int decision, const char *dest,
                   const char *note)
{
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    struct frame_arena *a = NULL;
    claim(in, receipt);
    Frame *ans = decide_frame(ed, receipt, decision, dest, note, NULL, NULL, &a);
    if (ans->body_case != MINYI__V1__FRAME__BODY_DECIDE_OK)
        itexpect_error(ans, 0, NULL);
    frame_arena_free(a);
    client_close(ed);
}

static void submit_at_district(char *receipt)
{
    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, "农村养老服务站运营经费不足，部分站点已停止服务。");
    assert_non_null(r);
    itsubmit_ok(c, r, receipt);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
}

/* ---- waiting on the databases ----------------------------------------------------- */

static void dump_logs(void)
{
    tgw_dump_log(&dist.gw);
    tgw_dump_log(&city.gw);
    tgw_dump_log(&prov.gw);
}

static void expect_state(const struct itinst *in, const char *receipt, const char *state)
{
    if (!itwait_text(in->conninfo, "SELECT state FROM reports WHERE receipt = $1", receipt, state,
                   WITHIN_MS)) {
        dump_logs();
        fail_msg("%s: report %s never became %s", in->name, receipt, state);
    }
}

/* Waits until in's outbox row of the report is delivered (or further) and
 * copies the receipt above. */
static void expect_delivered(const struct itinst *in, const char *receipt, char *upstream)
{
    const char *sql = "SELECT o.state IN ('delivered', 'result')::text FROM outbox o"
                      " JOIN reports r ON r.id = o.report_id WHERE r.receipt = $1";
    if (!itwait_text(in->conninfo, sql, receipt, "true", WITHIN_MS)) {
        dump_logs();
        fail_msg("%s: report %s not delivered", in->name, receipt);
    }
    const char *p[1] = { receipt };
    char *up = itdb_text(in->conninfo,
                         "SELECT o.upstream_receipt FROM outbox o JOIN reports r"
                         " ON r.id = o.report_id WHERE r.receipt = $1", 1, p);
    assert_non_null(up);
    snprintf(upstream, IT_RECEIPT_MAX, "%s", up);
    free(up);
}

static long long events_of(const struct itinst *in, const char *receipt, const char *action)
{
    const char *p[2] = { receipt, action };
    return tdb_scalar(in->conninfo,
                      "SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id"
                      " WHERE r.receipt = $1 AND e.action = $2", 2, p);
}

static char *outbox_state(const struct itinst *in, const char *receipt)
{
    const char *p[1] = { receipt };
    char *v = itdb_text(in->conninfo,
                        "SELECT o.state FROM outbox o JOIN reports r ON r.id = o.report_id"
                        " WHERE r.receipt = $1", 1, p);
    assert_non_null(v);
    return v;
}

/* Submitted at the district, forwarded to the city and delivered there;
 * the city's receipt in city_receipt. */
static void to_city(char *receipt, char *city_receipt)
{
    submit_at_district(receipt);
    decide(&dist, receipt, MINYI__V1__DECISION__FORWARD, "city", NULL);
    expect_delivered(&dist, receipt, city_receipt);
}

/* ---- the CLI ------------------------------------------------------------------------ */

/* Runs `minyi --profile P args...` as in's cert and returns its exit
 * status with its standard output in out (CLI_OUT_MAX bytes). */
static int run_cli(const struct itinst *in, const char *cert, const char *const *args, char *out)
{
    static char err[CLI_OUT_MAX];
    char profile[128];

    snprintf(profile, sizeof profile, "%s/%s-%s.conf", dir, in->region, cert);
    assert_true(tprofile_write(profile, cert, &in->gw));
    return itrun_cli(dir, profile, args, out, err, CLI_OUT_MAX);
}

/* ---- the journey ---------------------------------------------------------------------- */

static const Minyi__V1__HistoryEntry *find_entry(const Minyi__V1__StatusResponse *s,
                                                 const char *action)
{
    const Minyi__V1__HistoryEntry *found = NULL;
    int n = 0;
    for (size_t i = 0; i < s->n_history; i++) {
        const Minyi__V1__HistoryEntry *h = s->history[i];
        if (h->action.len == strlen(action) && memcmp(h->action.data, action, h->action.len) == 0) {
            found = h;
            n++;
        }
    }
    if (n != 1)
        fail_msg("history has %d '%s' entries, want exactly 1", n, action);
    return found;
}

static void expect_bytes(const ProtobufCBinaryData *b, const char *want, const char *what)
{
    char got[1024];
    itcopy(b, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("%s: want \"%s\", got \"%s\"", what, want, got);
}

static void expect_bytes_contain(const ProtobufCBinaryData *b, const char *want, const char *what)
{
    char got[1024];
    itcopy(b, got, sizeof got);
    if (strstr(got, want) == NULL)
        fail_msg("%s: \"%s\" not in \"%s\"", what, want, got);
}

static char j_receipt[IT_RECEIPT_MAX], j_city[IT_RECEIPT_MAX], j_prov[IT_RECEIPT_MAX];

/* Reads the watch stream of w until the queue event `kind` for receipt in
 * state `state` arrives; other events pass by.  Fails the test when none
 * comes (itrecv gives up after the profile's timeout). */
static void expect_queue_event(struct client_conn *w, const char *kind, const char *receipt,
                               int state)
{
    struct frame_arena *a = NULL;
    long long until = itnow_ms() + WITHIN_MS;
    while (itnow_ms() < until) {
        Frame *f = itrecv(w, &a);
        assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_QUEUE_EVENT);
        const Minyi__V1__QueueEvent *e = f->queue_event;
        bool hit = e->kind.len == strlen(kind) && memcmp(e->kind.data, kind, e->kind.len) == 0 &&
                   e->receipt.len == strlen(receipt) &&
                   memcmp(e->receipt.data, receipt, e->receipt.len) == 0 && (int)e->state == state;
        frame_arena_free(a);
        a = NULL;
        if (hit)
            return;
    }
    fail_msg("no %s event for %s", kind, receipt);
}

static void test_journey(void **state)
{
    (void)state;
    char out[CLI_OUT_MAX];

    /* District → city → province. */
    to_city(j_receipt, j_city);
    assert_int_equal(strncmp(j_city, CITY_REGION "-", 7), 0);
    decide(&city, j_city, MINYI__V1__DECISION__FORWARD, "province", NULL);
    expect_delivered(&city, j_city, j_prov);
    assert_int_equal(strncmp(j_prov, PROV_REGION "-", 7), 0);
    /* The province knows where the report was first received. */
    const char *pp[1] = { j_prov };
    char *origin = itdb_text(prov.conninfo,
                             "SELECT origin_region || ' ' || origin_receipt || ' ' || origin_body"
                             " FROM reports WHERE receipt = $1", 1, pp);
    assert_non_null(origin);
    char want[256];
    snprintf(want, sizeof want, DIST_REGION " %s " DIST_NAME, j_receipt);
    assert_string_equal(origin, want);
    free(origin);

    /* A district editor watches the live queue: results from above call
     * for attention as much as new reports do. */
    struct client_conn *w = itconnect_gw(&dist.gw, "editor1");
    struct frame_arena *wa = NULL;
    Frame wf = MINYI__V1__FRAME__INIT;
    Minyi__V1__WatchRequest wq = MINYI__V1__WATCH_REQUEST__INIT;
    wf.body_case = MINYI__V1__FRAME__BODY_WATCH;
    wf.watch = &wq;
    assert_int_equal(itcall(w, &wf, &wa)->body_case, MINYI__V1__FRAME__BODY_OK);
    frame_arena_free(wa);

    /* The provincial editor adopts it with a 批示, on the command line. */
    claim(&prov, j_prov);
    assert_int_equal(run_cli(&prov, "editor1",
                             (const char *const[]){ "adopt", j_prov, "--instruction", INSTRUCTION,
                                                    "--level", LEVEL, NULL }, out), 0);
    itexpect_contains(out, "ADOPTED");

    /* Two levels down, within the deadline. */
    expect_state(&city, j_city, "ADOPTED_ABOVE");
    expect_state(&dist, j_receipt, "ADOPTED_ABOVE");
    expect_queue_event(w, "result", j_receipt, MINYI__V1__REPORT_STATE__ADOPTED_ABOVE);
    client_close(w);

    /* The district contact point's status: the whole journey. */
    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    struct frame_arena *a = NULL;
    Frame *f = itstatus(c, j_receipt, &a);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    const Minyi__V1__StatusResponse *s = f->status_ok;
    assert_int_equal(s->state, MINYI__V1__REPORT_STATE__ADOPTED_ABOVE);
    const Minyi__V1__HistoryEntry *h;
    h = find_entry(s, "received");
    h = find_entry(s, "forward");
    expect_bytes_contain(&h->note, "city", "forward note");
    h = find_entry(s, "delivered");
    expect_bytes_contain(&h->note, j_city, "delivered note");
    /* What the city did: forwarded it on, and where it arrived. */
    h = find_entry(s, "result_forward");
    expect_bytes(&h->body, CITY_NAME, "forward body");
    expect_bytes(&h->body_region, CITY_REGION, "forward body region");
    h = find_entry(s, "result_delivered");
    expect_bytes(&h->body, CITY_NAME, "delivered body");
    expect_bytes_contain(&h->note, j_prov, "delivered above note");
    /* What the province decided, relayed by the city unchanged. */
    h = find_entry(s, "result_adopt");
    expect_bytes(&h->body, PROV_NAME, "adopt body");
    expect_bytes(&h->body_region, PROV_REGION, "adopt body region");
    expect_bytes(&h->instruction, INSTRUCTION, "instruction");
    expect_bytes(&h->instruction_level, LEVEL, "instruction level");
    assert_int_equal(h->state, MINYI__V1__REPORT_STATE__ADOPTED_ABOVE);
    /* In the order it happened: the adoption comes last. */
    h = s->history[s->n_history - 1];
    expect_bytes(&h->action, "result_adopt", "last entry");
    frame_arena_free(a);
    client_close(c);

    /* And as the contact point reads it. */
    assert_int_equal(run_cli(&dist, "contact1", (const char *const[]){ "status", j_receipt, NULL },
                             out), 0);
    assert_int_equal(strncmp(out, "ADOPTED_ABOVE\n", 14), 0);
    itexpect_contains(out, "result_adopt\tby " PROV_NAME " (" PROV_REGION ")\t批示 (" LEVEL "): "
                         INSTRUCTION);
    itexpect_contains(out, "result_forward\tby " CITY_NAME " (" CITY_REGION ")");
    itexpect_contains(out, "result_delivered\tby " CITY_NAME " (" CITY_REGION ")");
    itexpect_contains(out, j_city);
    itexpect_contains(out, j_prov);
    /* The district's editors see the same in `minyi show`. */
    assert_int_equal(run_cli(&dist, "editor1", (const char *const[]){ "show", j_receipt, NULL },
                             out), 0);
    itexpect_contains(out, "result_adopt\tby " PROV_NAME " (" PROV_REGION ")\t批示 (" LEVEL "): "
                         INSTRUCTION);

    /* Each delivery has its result; the province's own history has the 批示. */
    char *st = outbox_state(&dist, j_receipt);
    assert_string_equal(st, "result");
    free(st);
    st = outbox_state(&city, j_city);
    assert_string_equal(st, "result");
    free(st);
    const char *q[1] = { j_prov };
    char *ins = itdb_text(prov.conninfo,
                          "SELECT e.instruction_level || ': ' || e.instruction FROM events e"
                          " JOIN reports r ON r.id = e.report_id"
                          " WHERE r.receipt = $1 AND e.action = 'adopt'", 1, q);
    assert_non_null(ins);
    assert_string_equal(ins, LEVEL ": " INSTRUCTION);
    free(ins);
}

/* The acknowledgements of the journey's results get lost (the city's rows
 * are owed again, as if the district had stored them but died before its
 * next pull): they are pulled again and acknowledged, never applied twice. */
static void test_lost_ack_not_applied_twice(void **state)
{
    (void)state;
    const char *p[1] = { j_city };
    bool owed_sql_ok;

    if (j_receipt[0] == '\0')
        itskip("the journey before this test stored no report (it failed)");
    long long before = events_of(&dist, j_receipt, "result_adopt") +
                       events_of(&dist, j_receipt, "result_forward") +
                       events_of(&dist, j_receipt, "result_delivered");
    assert_int_equal(before, 3);
    /* Everything owed for it has been acknowledged... */
    const char *owed = "SELECT count(*)::text FROM results_out x JOIN reports r"
                       " ON r.id = x.report_id WHERE r.receipt = $1 AND x.acked_at IS NULL";
    if (!itwait_text(city.conninfo, owed, j_city, "0", WITHIN_MS)) {
        dump_logs();
        fail_msg("the district never acknowledged its results");
    }
    /* ...until the acknowledgements are lost. */
    owed_sql_ok = tdb_exec(city.conninfo,
                           "UPDATE results_out x SET acked_at = NULL FROM reports r"
                           " WHERE r.id = x.report_id AND r.receipt = $1", 1, p);
    assert_true(owed_sql_ok);
    if (!itwait_text(city.conninfo, owed, j_city, "0", WITHIN_MS)) {
        dump_logs();
        fail_msg("the results owed again were not pulled and acknowledged again");
    }
    assert_int_equal(events_of(&dist, j_receipt, "result_adopt"), 1);
    assert_int_equal(events_of(&dist, j_receipt, "result_forward"), 1);
    assert_int_equal(events_of(&dist, j_receipt, "result_delivered"), 1);
    const char *r[1] = { "city" };
    assert_int_equal(tdb_scalar(dist.conninfo,
                                "SELECT count(*) FROM results_in WHERE destination = $1", 1, r),
                     before);
}

/* The city decides while the district's gateway is stopped: the result
 * waits there, and arrives once when the district is back. */
static void test_result_waits_for_lower(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX], city_receipt[IT_RECEIPT_MAX];

    to_city(receipt, city_receipt);
    assert_int_equal(tgw_stop(&dist.gw, SIGTERM), 0);
    decide(&city, city_receipt, MINYI__V1__DECISION__REJECT, NULL, "与已报信息重复");
    itsleep_ms(DOWN_MS);
    /* Owed, not delivered, and the district has not heard of it. */
    const char *p[1] = { city_receipt };
    assert_int_equal(tdb_scalar(city.conninfo,
                                "SELECT count(*) FROM results_out x JOIN reports r"
                                " ON r.id = x.report_id WHERE r.receipt = $1"
                                " AND x.kind = 'reject' AND x.acked_at IS NULL", 1, p), 1);
    assert_int_equal(events_of(&dist, receipt, "result_reject"), 0);
    assert_true(tgw_start_again(&dist.gw));
    expect_state(&dist, receipt, "NOT_ADOPTED_ABOVE");
    /* Several more pulls later, still once, and acknowledged. */
    itsleep_ms(5 * RESULTS_INTERVAL_MS);
    assert_int_equal(events_of(&dist, receipt, "result_reject"), 1);
    const char *owed = "SELECT count(*)::text FROM results_out x JOIN reports r"
                       " ON r.id = x.report_id WHERE r.receipt = $1 AND x.acked_at IS NULL";
    if (!itwait_text(city.conninfo, owed, city_receipt, "0", WITHIN_MS))
        fail_msg("the reject was not acknowledged");
    const char *q[1] = { receipt };
    char *note = itdb_text(dist.conninfo,
                           "SELECT e.note || '|' || e.body_name FROM events e JOIN reports r"
                           " ON r.id = e.report_id WHERE r.receipt = $1"
                           " AND e.action = 'result_reject'", 1, q);
    assert_non_null(note);
    assert_string_equal(note, "与已报信息重复|" CITY_NAME);
    free(note);
    char *st = outbox_state(&dist, receipt);
    assert_string_equal(st, "result");
    free(st);
}

/* The district cannot store results for a while (its database refuses the
 * rows): nothing is acknowledged, so the result is still owed above and
 * arrives, once, when storing works again. */
static void test_result_kept_when_store_fails(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX], city_receipt[IT_RECEIPT_MAX];

    to_city(receipt, city_receipt);
    itdb_exec(dist.conninfo, "ALTER TABLE results_in ADD CONSTRAINT it_refuse"
                             " CHECK (upstream_id < 0) NOT VALID");
    decide(&city, city_receipt, MINYI__V1__DECISION__REJECT, NULL, "暂不采用");
    /* Pulled and refused several times over. */
    itsleep_ms(DOWN_MS);
    assert_true(tgw_log_contains(&dist.gw, "event=results_store_failed"));
    const char *p[1] = { city_receipt };
    assert_int_equal(tdb_scalar(city.conninfo,
                                "SELECT count(*) FROM results_out x JOIN reports r"
                                " ON r.id = x.report_id WHERE r.receipt = $1"
                                " AND x.kind = 'reject' AND x.acked_at IS NULL", 1, p), 1);
    assert_int_equal(events_of(&dist, receipt, "result_reject"), 0);
    itdb_exec(dist.conninfo, "ALTER TABLE results_in DROP CONSTRAINT it_refuse");
    expect_state(&dist, receipt, "NOT_ADOPTED_ABOVE");
    itsleep_ms(5 * RESULTS_INTERVAL_MS);
    assert_int_equal(events_of(&dist, receipt, "result_reject"), 1);
}

/* ---- the pull itself ---------------------------------------------------------------- */

static Frame *pull(struct client_conn *c, const int64_t *ack, size_t n_ack, uint32_t limit,
                   struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ResultsRequest q = MINYI__V1__RESULTS_REQUEST__INIT;
    q.ack = (int64_t *)ack;
    q.n_ack = n_ack;
    q.limit = limit;
    f.body_case = MINYI__V1__FRAME__BODY_RESULTS;
    f.results = &q;
    return itcall(c, &f, a);
}

/* A lower body forwarding to the city by hand, as peer HAND_REGION. */
static void hand_forward(struct client_conn *peer, const char *origin, char *city_receipt)
{
    struct frame_arena *a = NULL;
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ForwardRequest q = MINYI__V1__FORWARD_REQUEST__INIT;
    ProtobufCBinaryData chain[1] = { frame_bytes(HAND_REGION) };
    Minyi__V1__Report *r = tmake_report(NULL, "手工报送的信息");
    assert_non_null(r);
    q.report = r;
    q.origin_region = frame_bytes(HAND_REGION);
    q.origin_body = frame_bytes("秀洲区政协");
    q.origin_receipt = frame_bytes(origin);
    q.chain = chain;
    q.n_chain = 1;
    f.body_case = MINYI__V1__FRAME__BODY_FORWARD;
    f.forward = &q;
    Frame *ans = itcall(peer, &f, &a);
    itexpect_receipt(ans, city_receipt);
    frame_arena_free(a);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_pull(void **state)
{
    (void)state;
    struct client_conn *peer = itconnect_gw(&city.gw, "editor2");   /* registered there as a peer */
    struct frame_arena *a = NULL;
    char city_receipt[IT_RECEIPT_MAX];
    Frame *f;

    /* Nothing owed yet. */
    f = pull(peer, NULL, 0, 0, &a);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_RESULTS_OK);
    assert_int_equal(f->results_ok->n_results, 0);
    frame_arena_free(a);
    a = NULL;

    hand_forward(peer, HAND_REGION "-2026-000007", city_receipt);
    decide(&city, city_receipt, MINYI__V1__DECISION__REJECT, NULL, "不符合报送要求");

    /* Owed until acknowledged: the same result on every pull. */
    int64_t id = 0;
    for (int round = 0; round < 2; round++) {
        f = pull(peer, NULL, 0, 0, &a);
        assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_RESULTS_OK);
        assert_int_equal(f->results_ok->n_results, 1);
        assert_false(f->results_ok->more);
        const Minyi__V1__Result *x = f->results_ok->results[0];
        assert_true(x->id > 0);
        if (round == 1)
            assert_int_equal(x->id, id);
        id = x->id;
        expect_bytes(&x->receipt, city_receipt, "receipt");
        expect_bytes(&x->origin_region, HAND_REGION, "origin region");
        expect_bytes(&x->origin_receipt, HAND_REGION "-2026-000007", "origin receipt");
        expect_bytes(&x->kind, "reject", "kind");
        expect_bytes(&x->body, CITY_NAME, "body");
        expect_bytes(&x->body_region, CITY_REGION, "body region");
        expect_bytes(&x->note, "不符合报送要求", "note");
        assert_true(x->at_ms > 0);
        frame_arena_free(a);
        a = NULL;
    }
    /* Acknowledged: gone; acknowledging again, or an id that is not ours,
     * changes nothing. */
    int64_t acks[2] = { id, id + 1000000 };
    f = pull(peer, acks, 2, 0, &a);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_RESULTS_OK);
    assert_int_equal(f->results_ok->n_results, 0);
    frame_arena_free(a);
    a = NULL;
    f = pull(peer, acks, 1, 0, &a);
    assert_int_equal(f->results_ok->n_results, 0);
    frame_arena_free(a);
    a = NULL;

    /* Bad requests. */
    f = pull(peer, NULL, 0, 65, &a);
    itexpect_error(f, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "results.limit");
    frame_arena_free(a);
    a = NULL;
    int64_t bad[1] = { 0 };
    f = pull(peer, bad, 1, 0, &a);
    itexpect_error(f, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "results.ack");
    frame_arena_free(a);
    a = NULL;
    client_close(peer);

    /* Only peers may pull. */
    const char *who[2] = { "contact2", "editor1" };
    for (int i = 0; i < 2; i++) {
        struct client_conn *c = itconnect_gw(&city.gw, who[i]);
        f = pull(c, NULL, 0, 0, &a);
        itexpect_error(f, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
        frame_arena_free(a);
        a = NULL;
        client_close(c);
    }
}

/* Results the peer never acknowledges (it cannot store them) sink behind
 * newer ones after a few offers, so they cannot hold the rest back. */
#define OFFERED_SINK 3              /* RESULTS_OFFERED_SINK of 0009_results_offered.sql */
static void test_stuck_results_do_not_block(void **state)
{
    (void)state;
    struct client_conn *peer = itconnect_gw(&city.gw, "editor2");   /* registered there as a peer */
    struct frame_arena *a = NULL;
    char city_receipt[3][IT_RECEIPT_MAX];
    char origin[32];
    int64_t ids[3] = { 0 };
    Frame *f;

    /* Start from nothing owed. */
    for (;;) {
        f = pull(peer, NULL, 0, 64, &a);
        assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_RESULTS_OK);
        size_t n = f->results_ok->n_results;
        int64_t ack[64];
        for (size_t i = 0; i < n; i++)
            ack[i] = f->results_ok->results[i]->id;
        frame_arena_free(a);
        a = NULL;
        if (n == 0)
            break;
        f = pull(peer, ack, n, 1, &a);
        frame_arena_free(a);
        a = NULL;
    }
    for (int i = 0; i < 3; i++) {
        snprintf(origin, sizeof origin, HAND_REGION "-2026-%06d", 101 + i);
        hand_forward(peer, origin, city_receipt[i]);
        decide(&city, city_receipt[i], MINYI__V1__DECISION__REJECT, NULL, "不符合报送要求");
    }
    /* The first two are offered and never acknowledged. */
    for (int round = 0; round < OFFERED_SINK; round++) {
        f = pull(peer, NULL, 0, 2, &a);
        assert_int_equal(f->results_ok->n_results, 2);
        expect_bytes(&f->results_ok->results[0]->receipt, city_receipt[0], "oldest first");
        expect_bytes(&f->results_ok->results[1]->receipt, city_receipt[1], "then the next");
        ids[0] = f->results_ok->results[0]->id;
        ids[1] = f->results_ok->results[1]->id;
        frame_arena_free(a);
        a = NULL;
    }
    /* Now the third comes first, and the stuck ones are still owed. */
    f = pull(peer, NULL, 0, 2, &a);
    assert_int_equal(f->results_ok->n_results, 2);
    expect_bytes(&f->results_ok->results[0]->receipt, city_receipt[2], "the one held back");
    ids[2] = f->results_ok->results[0]->id;
    expect_bytes(&f->results_ok->results[1]->receipt, city_receipt[0], "a stuck one, still owed");
    assert_true(f->results_ok->more);
    frame_arena_free(a);
    a = NULL;
    f = pull(peer, ids, 3, 64, &a);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_RESULTS_OK);
    assert_int_equal(f->results_ok->n_results, 0);
    frame_arena_free(a);
    client_close(peer);
}

/* A 批示 goes only with an adoption, and its level only with its text. */
static void test_instruction_rules(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX];
    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    struct client_conn *ed = itconnect_gw(&dist.gw, "editor1");
    struct frame_arena *a = NULL;
    char out[CLI_OUT_MAX];
    Minyi__V1__Report *r = tmake_report(NULL, "批示规则");
    assert_non_null(r);
    itsubmit_ok(c, r, receipt);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    claim(&dist, receipt);

    Frame *f = decide_frame(ed, receipt, MINYI__V1__DECISION__REJECT, NULL, "理由", INSTRUCTION,
                            NULL, &a);
    itexpect_error(f, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.instruction");
    frame_arena_free(a);
    a = NULL;
    f = decide_frame(ed, receipt, MINYI__V1__DECISION__ADOPT, NULL, NULL, NULL, LEVEL, &a);
    itexpect_error(f, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.instruction_level");
    frame_arena_free(a);
    a = NULL;
    f = decide_frame(ed, receipt, MINYI__V1__DECISION__ADOPT, NULL, NULL, "秘密★批示", NULL, &a);
    itexpect_error(f, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.instruction");
    frame_arena_free(a);
    a = NULL;
    /* The command line refuses a level alone before sending anything. */
    assert_int_equal(run_cli(&dist, "editor1",
                             (const char *const[]){ "adopt", receipt, "--level", LEVEL, NULL },
                             out), 2);
    /* Nothing was decided: a plain adoption still works, with no 批示. */
    f = decide_frame(ed, receipt, MINYI__V1__DECISION__ADOPT, NULL, NULL, NULL, NULL, &a);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    assert_int_equal(f->decide_ok->state, MINYI__V1__REPORT_STATE__ADOPTED);
    frame_arena_free(a);
    client_close(ed);
    client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journey),
        cmocka_unit_test(test_lost_ack_not_applied_twice),
        cmocka_unit_test(test_result_waits_for_lower),
        cmocka_unit_test(test_result_kept_when_store_fails),
        cmocka_unit_test(test_pull),
        cmocka_unit_test(test_stuck_results_do_not_block),
        cmocka_unit_test(test_instruction_rules),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
