/*
 * it_forward: the upper side of forwarding through a real gateway and
 * database.  A peer (a lower instance's client certificate registered as a
 * principal of kind peer) forwards a report and gets this body's receipt;
 * a resend, also two at once on one connection, answers the same receipt
 * and stores nothing new; the provenance is recorded with an event; the
 * same origin from another peer is a conflict; other kinds of principal are
 * refused; malformed provenance is refused naming the field.
 *
 * And the lower side's SQL (migration 0004) that the forwarder drives: a
 * FORWARD decision's outbox row is claimed with a lease, a stale attempt
 * cannot mark it, a temporary failure backs off, a permanent one or the
 * last allowed attempt makes it dead with an event, an expired lease makes
 * it due again, and delivery records the upstream receipt and an event.
 *
 * And the whole way with two instances (two databases on the cluster, two
 * gateways; the lower one's [peer.province] points at the upper one and
 * uses the peer1 certificate): a forwarded report arrives above exactly
 * once; with the upper gateway stopped for several retry intervals it
 * waits and then arrives once; a peer whose certificate does not carry the
 * configured server_name is refused and the row goes dead, never delivered.
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

#include "itkit.h"

#define ORIGIN_REGION "330499"
#define UPPER_REGION  "330400"

static struct itenv env;
static struct client_conn *peer1, *peer2, *contact1;
static int seq;

static int setup(void **state)
{
    (void)state;
    if (!itenv_up(&env, NULL))
        return -1;
    if (tprincipal_add(env.conninfo, "peer1", "peer", ORIGIN_REGION, true) <= 0)
        return -1;
    /* A second lower body; any registered certificate will do. */
    if (tprincipal_add(env.conninfo, "editor2", "peer", "330411", true) <= 0)
        return -1;
    peer1 = itconnect(&env, "peer1");
    peer2 = itconnect(&env, "editor2");
    contact1 = itconnect(&env, "contact1");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    client_close(peer1);
    client_close(peer2);
    client_close(contact1);
    return itenv_teardown(&env);
}

/* A distinct origin receipt for each test. */
static void origin_receipt(char *out, size_t len)
{
    snprintf(out, len, ORIGIN_REGION "-2026-%06d", ++seq);
}

/* Fills a ForwardRequest frame around r; the strings must outlive the frame. */
static void forward_frame(Frame *f, Minyi__V1__ForwardRequest *q, Minyi__V1__Report *r,
                          const char *region, const char *receipt, ProtobufCBinaryData *chain,
                          size_t n_chain)
{
    minyi__v1__forward_request__init(q);
    q->report = r;
    q->origin_region = frame_bytes(region);
    q->origin_body = frame_bytes("南湖区政协");
    q->origin_receipt = frame_bytes(receipt);
    q->chain = chain;
    q->n_chain = n_chain;
    f->body_case = MINYI__V1__FRAME__BODY_FORWARD;
    f->forward = q;
}

static Frame *forward(struct client_conn *c, const char *region, const char *receipt,
                      const char *situation, struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ForwardRequest q;
    ProtobufCBinaryData chain[1] = { frame_bytes(ORIGIN_REGION) };
    Minyi__V1__Report *r = tmake_report(NULL, situation);
    char err[256];

    assert_non_null(r);
    forward_frame(&f, &q, r, region, receipt, chain, 1);
    f.id = client_next_id(c);
    Frame *ans = client_call(c, &f, a, err, sizeof(err));
    protobuf_c_message_free_unpacked(&r->base, NULL);
    if (ans == NULL)
        fail_msg("no answer: %s", err);
    return ans;
}

static void forward_ok(struct client_conn *c, const char *receipt, const char *situation,
                       char *upstream, bool *duplicate)
{
    struct frame_arena *a = NULL;
    Frame *f = forward(c, ORIGIN_REGION, receipt, situation, &a);
    itexpect_receipt(f, upstream);
    if (duplicate)
        *duplicate = f->submit_ok->duplicate;
    frame_arena_free(a);
}

static long long rows_of_origin(const char *receipt)
{
    const char *p[2] = { ORIGIN_REGION, receipt };
    return tdb_scalar(env.conninfo,
                      "SELECT count(*) FROM reports WHERE origin_region = $1 AND origin_receipt = $2",
                      2, p);
}

static void test_forward_stores_once(void **state)
{
    (void)state;
    char origin[64], up1[IT_RECEIPT_MAX], up2[IT_RECEIPT_MAX];
    bool dup = true;

    origin_receipt(origin, sizeof origin);
    forward_ok(peer1, origin, "上报的信息", up1, &dup);
    assert_false(dup);
    assert_int_equal(strncmp(up1, UPPER_REGION "-", 7), 0);
    assert_int_equal(rows_of_origin(origin), 1);

    /* The answer was lost, say: the resend gets the same receipt. */
    forward_ok(peer1, origin, "上报的信息", up2, &dup);
    assert_true(dup);
    assert_string_equal(up1, up2);
    assert_int_equal(rows_of_origin(origin), 1);

    const char *p[1] = { up1 };
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id"
                                " WHERE r.receipt = $1 AND e.action = 'forward_received'",
                                1, p), 1);
    char *chain = itdb_text(env.conninfo,
                            "SELECT array_to_string(origin_chain, ',') FROM reports"
                            " WHERE receipt = $1", 1, p);
    assert_non_null(chain);
    assert_string_equal(chain, ORIGIN_REGION);
    free(chain);
}

/* Two copies in flight at once on one connection (a resend racing the
 * first attempt) land in one batch or two; either way one report. */
static void test_forward_pipelined_resend(void **state)
{
    (void)state;
    char origin[64], up[2][IT_RECEIPT_MAX];
    Frame f[2];
    Minyi__V1__ForwardRequest q[2];
    ProtobufCBinaryData chain[1] = { frame_bytes(ORIGIN_REGION) };
    Minyi__V1__Report *r = tmake_report(NULL, "同时重发");

    assert_non_null(r);
    origin_receipt(origin, sizeof origin);
    for (int i = 0; i < 2; i++) {
        minyi__v1__frame__init(&f[i]);
        forward_frame(&f[i], &q[i], r, ORIGIN_REGION, origin, chain, 1);
        f[i].id = client_next_id(peer1);
        assert_true(client_send(peer1, &f[i]));
    }
    for (int i = 0; i < 2; i++) {
        struct frame_arena *a = NULL;
        Frame *ans = itrecv(peer1, &a);
        itexpect_receipt(ans, up[i]);
        frame_arena_free(a);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_string_equal(up[0], up[1]);
    assert_int_equal(rows_of_origin(origin), 1);
}

static void test_forward_other_peer_conflict(void **state)
{
    (void)state;
    char origin[64], up[IT_RECEIPT_MAX];
    struct frame_arena *a = NULL;

    origin_receipt(origin, sizeof origin);
    forward_ok(peer1, origin, "第一个下级", up, NULL);
    Frame *f = forward(peer2, ORIGIN_REGION, origin, "第一个下级", &a);
    itexpect_error(f, MINYI__V1__ERROR_CODE__CONFLICT, "forward.origin_receipt");
    frame_arena_free(a);
    assert_int_equal(rows_of_origin(origin), 1);
}

static void test_forward_refused(void **state)
{
    (void)state;
    char origin[64];
    struct frame_arena *a = NULL;
    Frame *f;

    origin_receipt(origin, sizeof origin);
    f = forward(contact1, ORIGIN_REGION, origin, "联系点不能上报", &a);
    itexpect_error(f, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    frame_arena_free(a);
    a = NULL;
    f = forward(peer1, "3304", origin, "坏的区划", &a);
    itexpect_error(f, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "forward.origin_region");
    frame_arena_free(a);
    a = NULL;
    f = forward(peer1, ORIGIN_REGION, "bad receipt!", "坏的回执", &a);
    itexpect_error(f, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "forward.origin_receipt");
    frame_arena_free(a);
    assert_int_equal(rows_of_origin(origin), 0);
}

/* ---- the lower side's SQL ---------------------------------------------------- */

/* forwarded_report submits as contact1: pointed at a lower instance's
 * contact for the two-instance tests. */
static struct client_conn *saved_contact1;

struct lower;
static void contact1_swap(struct lower *lo);
static void contact1_restore(void)
{
    contact1 = saved_contact1;
}

/* Submits a report as contact1, and editor1 claims it and forwards it to
 * province (the default destination); copies the receipt. */
static void forwarded_report(struct client_conn *ed, char *receipt)
{
    itsubmit_forwarded(contact1, ed, "待报送的信息", "province", receipt);
}

/* Claims due province rows with a lease; the claim's jsonb answer as text. */
static char *fw_claim(int lease_s)
{
    char lease[16];
    snprintf(lease, sizeof lease, "%d", lease_s);
    const char *p[1] = { lease };
    char *j = itdb_text(env.conninfo, "SELECT minyi_fw_claim('{province}', 10, $1::int)::text",
                        1, p);
    assert_non_null(j);
    return j;
}

static long long outbox_id(const char *receipt)
{
    const char *p[1] = { receipt };
    return tdb_scalar(env.conninfo,
                      "SELECT o.id FROM outbox o JOIN reports r ON r.id = o.report_id"
                      " WHERE r.receipt = $1", 1, p);
}

static char *outbox_field(long long id, const char *col)
{
    char sql[200], ids[24];
    snprintf(sql, sizeof sql, "SELECT %s::text FROM outbox WHERE id = $1::int8", col);
    snprintf(ids, sizeof ids, "%lld", id);
    const char *p[1] = { ids };
    char *v = itdb_text(env.conninfo, sql, 1, p);
    assert_non_null(v);
    return v;
}

static void assert_outbox(long long id, const char *col, const char *want)
{
    char *v = outbox_field(id, col);
    if (strcmp(v, want) != 0)
        fail_msg("outbox %lld %s: want %s, got %s", id, col, want, v);
    free(v);
}

/* Runs minyi_fw_failed / minyi_fw_delivered and returns the answer's code. */
static long long fw_failed(long long id, int attempt, bool permanent, int max_attempts)
{
    char ids[24], att[16], maxa[16];
    snprintf(ids, sizeof ids, "%lld", id);
    snprintf(att, sizeof att, "%d", attempt);
    snprintf(maxa, sizeof maxa, "%d", max_attempts);
    const char *p[4] = { ids, att, permanent ? "t" : "f", maxa };
    return tdb_scalar(env.conninfo,
                      "SELECT (minyi_fw_failed($1::int8, $2::int, 'connection refused', $3::bool,"
                      " $4::int, 60000, 600000)->>'code')::int", 4, p);
}

static long long fw_delivered(long long id, int attempt, const char *upstream)
{
    char ids[24], att[16];
    snprintf(ids, sizeof ids, "%lld", id);
    snprintf(att, sizeof att, "%d", attempt);
    const char *p[3] = { ids, att, upstream };
    return tdb_scalar(env.conninfo,
                      "SELECT (minyi_fw_delivered($1::int8, $2::int, $3)->>'code')::int", 3, p);
}

static long long events_of(const char *receipt, const char *action)
{
    const char *p[2] = { receipt, action };
    return tdb_scalar(env.conninfo,
                      "SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id"
                      " WHERE r.receipt = $1 AND e.action = $2", 2, p);
}

/* Fails unless receipt's one event of this action has the note want. */
static void expect_event_note(const char *receipt, const char *action, const char *want)
{
    const char *p[2] = { receipt, action };
    char *note = itdb_text(env.conninfo,
                           "SELECT e.note FROM events e JOIN reports r ON r.id = e.report_id"
                           " WHERE r.receipt = $1 AND e.action = $2", 2, p);
    assert_non_null(note);
    if (strcmp(note, want) != 0)
        fail_msg("%s %s: want note \"%s\", got \"%s\"", receipt, action, want, note);
    free(note);
}

static void test_outbox_claim_retry_deliver(void **state)
{
    (void)state;
    struct client_conn *ed = itconnect(&env, "editor1");
    char receipt[IT_RECEIPT_MAX];
    char *j;

    itdb_exec(env.conninfo, "UPDATE outbox SET state = 'cancelled'");
    forwarded_report(ed, receipt);
    long long id = outbox_id(receipt);
    assert_true(id > 0);

    j = fw_claim(60);
    assert_non_null(strstr(j, receipt));
    assert_non_null(strstr(j, "\"attempt\": 1"));
    free(j);
    assert_outbox(id, "state", "in_flight");
    /* Held: a second forwarder finds nothing due. */
    j = fw_claim(60);
    assert_string_equal(j, "{\"code\": 0, \"items\": []}");
    free(j);

    /* A temporary failure backs off by 30..60 s (60 s first, equal jitter). */
    assert_int_equal(fw_failed(id, 1, false, 5), 0);
    assert_outbox(id, "state", "pending");
    assert_outbox(id, "last_error", "connection refused");
    char *wait = outbox_field(id, "(extract(epoch FROM next_attempt_at - now()) * 1000)::int");
    long w = atol(wait);
    free(wait);
    assert_true(w >= 29000 && w <= 60000);
    j = fw_claim(60);
    assert_string_equal(j, "{\"code\": 0, \"items\": []}");
    free(j);

    /* Due again; the second attempt's lease runs out (its gateway died):
     * a third attempt claims it, and the second can no longer mark it. */
    itdb_exec(env.conninfo, "UPDATE outbox SET next_attempt_at = now() WHERE state = 'pending'");
    j = fw_claim(0);
    assert_non_null(strstr(j, "\"attempt\": 2"));
    free(j);
    j = fw_claim(60);
    assert_non_null(strstr(j, "\"attempt\": 3"));
    free(j);
    assert_int_equal(fw_delivered(id, 2, "330000-2026-000001"), MINYI__V1__ERROR_CODE__CONFLICT);
    assert_int_equal(fw_failed(id, 2, false, 5), MINYI__V1__ERROR_CODE__CONFLICT);
    assert_outbox(id, "state", "in_flight");

    assert_int_equal(fw_delivered(id, 3, "330000-2026-000001"), 0);
    assert_outbox(id, "state", "delivered");
    assert_outbox(id, "upstream_receipt", "330000-2026-000001");
    assert_int_equal(events_of(receipt, "delivered"), 1);
    expect_event_note(receipt, "forward", "报送province");
    expect_event_note(receipt, "delivered", "已送达province，对方回执 330000-2026-000001");
    /* Delivered is final for the forwarder. */
    assert_int_equal(fw_delivered(id, 3, "330000-2026-000002"), MINYI__V1__ERROR_CODE__CONFLICT);
    client_close(ed);
}

static void test_outbox_dead(void **state)
{
    (void)state;
    struct client_conn *ed = itconnect(&env, "editor1");
    char r1[IT_RECEIPT_MAX], r2[IT_RECEIPT_MAX];
    char *j;

    itdb_exec(env.conninfo, "UPDATE outbox SET state = 'cancelled' WHERE state <> 'delivered'");
    forwarded_report(ed, r1);
    forwarded_report(ed, r2);
    long long id1 = outbox_id(r1), id2 = outbox_id(r2);

    /* Permanent: dead at once, with the reason. */
    j = fw_claim(60);
    free(j);
    assert_int_equal(fw_failed(id1, 1, true, 5), 0);
    assert_outbox(id1, "state", "dead");
    assert_outbox(id1, "last_error", "connection refused");
    assert_int_equal(events_of(r1, "delivery_dead"), 1);
    expect_event_note(r1, "delivery_dead", "报送province失败（已尝试 1 次）：connection refused");

    /* Temporary, but the last allowed attempt: dead too. */
    assert_int_equal(fw_failed(id2, 1, false, 1), 0);
    assert_outbox(id2, "state", "dead");
    assert_int_equal(events_of(r2, "delivery_dead"), 1);
    j = fw_claim(60);
    assert_string_equal(j, "{\"code\": 0, \"items\": []}");
    free(j);
    client_close(ed);
}

/* ---- two instances ------------------------------------------------------------ */

/* Each lower instance is a body of its own (lower1 330402, lower2 330403,
 * ...): their receipts must not collide above, or a test of "arrived once"
 * would pass on another lower's earlier report. */
#define LOWER_REGION_FMT "3304%02d"
#define ARRIVE_WITHIN_MS 15000      /* a forwarded report must arrive above this fast */
#define DOWN_FOR_MS 3000            /* the upper gateway is stopped this long */
#define DUMP_MAX (256u << 20)       /* bytes of a test database's dump */

struct lower {
    char region[16];            /* this lower body's region code */
    struct tgw gw;
    char conninfo[1024];
    struct client_conn *contact, *editor;
};

/* A lower instance whose [peer.province] uses the certificate and key in
 * these files. */
static void lower_up_cert(struct lower *lo, const char *dbname, const char *server_name,
                          int max_attempts, const char *cert, const char *key)
{
    char ini[4096];

    memset(lo, 0, sizeof(*lo));
    snprintf(lo->region, sizeof lo->region, LOWER_REGION_FMT, 1 + atoi(dbname + strlen("lower")));
    assert_true(tpg_create_db(&env.pg, dbname, lo->conninfo, sizeof(lo->conninfo)));
    snprintf(ini, sizeof ini,
             "[gateway]\nbody_region = %s\nbody_name = 南湖区政协\n"
             "[forward]\npoll_ms = 100\nbackoff_min_ms = 200\nbackoff_max_ms = 800\n"
             "reconnect_min_ms = 200\nreconnect_max_ms = 800\n"
             "max_attempts = %d\ntimeout_ms = 5000\n"
             "[peer.province]\nhost = 127.0.0.1\nport = %d\nca = %s\nserver_name = %s\n"
             "cert = %s\nkey = %s\n",
             lo->region, max_attempts, env.gw.port, tcert("ca", "crt"), server_name, cert, key);
    assert_true(tgw_start(&lo->gw, lo->conninfo, ini));
    assert_true(tprincipal_add(lo->conninfo, "contact1", "contact", lo->region, true) > 0);
    assert_true(tprincipal_add(lo->conninfo, "editor1", "editor", lo->region, true) > 0);
    lo->contact = itconnect_gw(&lo->gw, "contact1");
    lo->editor = itconnect_gw(&lo->gw, "editor1");
}

/* A lower instance with the peer1 certificate. */
static void lower_up(struct lower *lo, const char *dbname, const char *server_name,
                     int max_attempts)
{
    char cert[PATH_MAX], key[PATH_MAX];
    snprintf(cert, sizeof(cert), "%s", tcert("peer1", "crt"));
    snprintf(key, sizeof(key), "%s", tcert("peer1", "key"));
    lower_up_cert(lo, dbname, server_name, max_attempts, cert, key);
}

static void contact1_swap(struct lower *lo)
{
    saved_contact1 = contact1;
    contact1 = lo->contact;
}

static void lower_down(struct lower *lo)
{
    client_close(lo->contact);
    client_close(lo->editor);
    int code = tgw_stop(&lo->gw, SIGTERM);
    if (code != 0)
        fail_msg("lower minyid exited with %d", code);
}

/* Waits until the lower report's outbox row is in state want; false when
 * it is not within ms. */
static bool wait_outbox(const struct lower *lo, const char *receipt, const char *want, int ms)
{
    const char *p[1] = { receipt };
    long long until = itnow_ms() + ms;
    do {
        char *st = itdb_text(lo->conninfo,
                             "SELECT o.state FROM outbox o JOIN reports r ON r.id = o.report_id"
                             " WHERE r.receipt = $1", 1, p);
        bool ok = st != NULL && strcmp(st, want) == 0;
        free(st);
        if (ok)
            return true;
        itsleep_ms(50);
    } while (itnow_ms() < until);
    return false;
}

static char *lower_outbox(const struct lower *lo, const char *receipt, const char *col)
{
    char sql[256];
    const char *p[1] = { receipt };
    snprintf(sql, sizeof sql, "SELECT o.%s::text FROM outbox o JOIN reports r ON"
             " r.id = o.report_id WHERE r.receipt = $1", col);
    char *v = itdb_text(lo->conninfo, sql, 1, p);
    assert_non_null(v);
    return v;
}

/* The report arrived above exactly once, under the receipt the lower
 * instance recorded, with the lower body as origin. */
static void assert_arrived_once(const struct lower *lo, const char *receipt)
{
    char *up = lower_outbox(lo, receipt, "upstream_receipt");
    const char *p[2] = { lo->region, receipt };
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM reports WHERE origin_region = $1"
                                " AND origin_receipt = $2", 2, p), 1);
    char *there = itdb_text(env.conninfo,
                            "SELECT receipt FROM reports WHERE origin_region = $1"
                            " AND origin_receipt = $2", 2, p);
    assert_non_null(there);
    assert_string_equal(up, there);
    const char *q[1] = { there };
    char *body = itdb_text(env.conninfo, "SELECT origin_body FROM reports WHERE receipt = $1",
                           1, q);
    assert_non_null(body);
    assert_string_equal(body, "南湖区政协");
    free(body);
    free(there);
    free(up);
    const char *r[1] = { receipt };
    assert_int_equal(tdb_scalar(lo->conninfo,
                                "SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id"
                                " WHERE r.receipt = $1 AND e.action = 'delivered'", 1, r), 1);
}

static void test_two_instances(void **state)
{
    (void)state;
    struct lower lo;
    char r1[IT_RECEIPT_MAX], r2[IT_RECEIPT_MAX];

    lower_up(&lo, "lower1", "localhost", 1000);

    /* Upstream up: delivered, once. */
    contact1_swap(&lo);
    forwarded_report(lo.editor, r1);
    if (!wait_outbox(&lo, r1, "delivered", ARRIVE_WITHIN_MS)) {
        tgw_dump_log(&lo.gw);
        fail_msg("not delivered");
    }
    assert_arrived_once(&lo, r1);

    /* Upstream down for several retry intervals, then back: once. */
    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
    forwarded_report(lo.editor, r2);
    itsleep_ms(DOWN_FOR_MS);
    char *st = lower_outbox(&lo, r2, "state");
    assert_true(strcmp(st, "pending") == 0 || strcmp(st, "in_flight") == 0);
    free(st);
    char *att = lower_outbox(&lo, r2, "attempts");
    assert_true(atoi(att) >= 3);
    free(att);
    assert_true(tgw_start_again(&env.gw));
    if (!wait_outbox(&lo, r2, "delivered", ARRIVE_WITHIN_MS)) {
        tgw_dump_log(&lo.gw);
        fail_msg("not delivered after the upper instance came back");
    }
    assert_arrived_once(&lo, r2);
    contact1_restore();
    lower_down(&lo);
}

/* The dump of a database holds the receipt (so the report is in it) and
 * neither personal value. */
static void assert_dump_sealed(const char *conninfo, const char *receipt, const char *phone,
                               const char *name)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/dump.sql", env.gw.dir);
    assert_true(tdb_dump(conninfo, path));
    char *dump = tfile_text(path, DUMP_MAX);
    assert_non_null(dump);
    assert_non_null(strstr(dump, receipt));
    assert_null(strstr(dump, phone));
    assert_null(strstr(dump, name));
    free(dump);
    unlink(path);
}

/* A citizen's name and phone number, forwarded to the province: in clear
 * for the editors of both bodies, but in neither database, nor a pg_dump of
 * either, nor either gateway's log. */
static void test_personal_data_sealed(void **state)
{
    (void)state;
    struct lower lo;
    struct frame_arena *a = NULL;
    char receipt[IT_RECEIPT_MAX], phone[24], name[64];
    unsigned salt = (unsigned)(itnow_ms() ^ getpid());

    lower_up(&lo, "lower7", "localhost", 1000);
    snprintf(phone, sizeof phone, "139%08u", salt % 100000000u);
    snprintf(name, sizeof name, "群众隐私%05u", salt % 100000u);
    Minyi__V1__Report *r = tmake_report(NULL, "涉及个人信息的报送");
    assert_non_null(r);
    r->reporter->kind = MINYI__V1__REPORTER_KIND__CITIZEN;
    itset(&r->reporter->name, name);
    itset(&r->phone, phone);
    itsubmit_ok(lo.contact, r, receipt);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    itclaim_ok(lo.editor, receipt);
    itforward_ok(lo.editor, receipt, "province");
    if (!wait_outbox(&lo, receipt, "delivered", ARRIVE_WITHIN_MS)) {
        tgw_dump_log(&lo.gw);
        fail_msg("not delivered");
    }
    char *up = lower_outbox(&lo, receipt, "upstream_receipt");

    struct client_conn *ed = itconnect(&env, "editor1");
    const Minyi__V1__ShowResponse *shown = itshow_ok(ed, up, &a);
    char seen_phone[24], seen_name[64];
    itcopy(&shown->phone, seen_phone, sizeof seen_phone);
    itcopy(&shown->reporter->name, seen_name, sizeof seen_name);
    assert_string_equal(seen_phone, phone);
    assert_string_equal(seen_name, name);
    frame_arena_free(a);
    client_close(ed);

    assert_dump_sealed(lo.conninfo, receipt, phone, name);
    assert_dump_sealed(env.conninfo, up, phone, name);
    /* Each body seals its copy under a data key of its own, wrapped by its
     * own master key: the wrapped keys and the ciphertexts differ. */
    const char *key_sql = "SELECT encode(k.wrapped, 'hex') || ' ' || encode(r.phone_enc, 'hex')"
                          " FROM report_keys k JOIN reports r ON r.id = k.report_id"
                          " WHERE r.receipt = $1";
    const char *lp[] = { receipt }, *upp[] = { up };
    char *below = itdb_text(lo.conninfo, key_sql, 1, lp);
    char *above = itdb_text(env.conninfo, key_sql, 1, upp);
    assert_non_null(below);
    assert_non_null(above);
    char *sp_below = strchr(below, ' '), *sp_above = strchr(above, ' ');
    assert_true(sp_below && sp_above);
    *sp_below = *sp_above = '\0';
    assert_string_not_equal(below, above);
    assert_string_not_equal(sp_below + 1, sp_above + 1);
    free(below);
    free(above);
    assert_false(tgw_log_contains(&lo.gw, phone));
    assert_false(tgw_log_contains(&lo.gw, name));
    assert_false(tgw_log_contains(&env.gw, phone));
    assert_false(tgw_log_contains(&env.gw, name));
    free(up);
    lower_down(&lo);
}

/* Lines of a gateway's log containing needle. */
static int log_count(const struct tgw *gw, const char *needle)
{
    FILE *f = fopen(gw->log, "r");
    char line[4096];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, needle) != NULL)
            n++;
    fclose(f);
    return n;
}

#define SHARED_REPORTS 20

/* Two lower gateways on one database share the outbox: every report
 * arrives once, and none is sent twice (the upper instance never sees a
 * resend). */
static void test_two_lower_gateways(void **state)
{
    (void)state;
    struct lower lo;
    struct tgw second;
    char receipts[SHARED_REPORTS][IT_RECEIPT_MAX];
    int dups_before = log_count(&env.gw, "op=forward result=0");

    lower_up(&lo, "lower3", "localhost", 1000);
    memset(&second, 0, sizeof second);
    /* The same peer, on a port of its own. */
    char ini[4096];
    FILE *f = fopen(lo.gw.conf, "r");
    assert_non_null(f);
    size_t n = fread(ini, 1, sizeof ini - 1, f);
    fclose(f);
    ini[n] = '\0';
    char *peer = strstr(ini, "[peer.province]");
    assert_non_null(peer);
    char extra[8192];
    /* Gateways on one database share its key for personal fields. */
    snprintf(extra, sizeof extra,
             "[gateway]\nbody_region = %s\nbody_name = 南湖区政协\n"
             "[privacy]\nkey_file = %s/pii.key\n[forward]\npoll_ms = 100\n%s",
             lo.region, lo.gw.dir, peer);
    assert_true(tgw_start(&second, lo.conninfo, extra));

    contact1_swap(&lo);
    for (int i = 0; i < SHARED_REPORTS; i++)
        forwarded_report(lo.editor, receipts[i]);
    for (int i = 0; i < SHARED_REPORTS; i++) {
        if (!wait_outbox(&lo, receipts[i], "delivered", ARRIVE_WITHIN_MS)) {
            tgw_dump_log(&lo.gw);
            fail_msg("report %d not delivered", i);
        }
        assert_arrived_once(&lo, receipts[i]);
    }
    /* Each arrived in exactly one request: no resend reached the upper. */
    assert_int_equal(log_count(&env.gw, "op=forward result=0") - dups_before, SHARED_REPORTS);
    fprintf(stderr, "delivered by the first gateway %d, by the second %d\n",
            log_count(&lo.gw, "event=forward_delivered"),
            log_count(&second, "event=forward_delivered"));
    contact1_restore();
    assert_int_equal(tgw_stop(&second, SIGTERM), 0);
    lower_down(&lo);
}

static void test_wrong_server_name(void **state)
{
    (void)state;
    struct lower lo;
    char r1[IT_RECEIPT_MAX];

    lower_up(&lo, "lower2", "wrong.example.org", 3);
    long long before = tdb_scalar(env.conninfo, "SELECT count(*) FROM reports", 0, NULL);
    contact1_swap(&lo);
    forwarded_report(lo.editor, r1);
    if (!wait_outbox(&lo, r1, "dead", ARRIVE_WITHIN_MS)) {
        tgw_dump_log(&lo.gw);
        fail_msg("not dead");
    }
    char *err = lower_outbox(&lo, r1, "last_error");
    if (strstr(err, "certificate") == NULL)
        fail_msg("last_error does not name the certificate: %s", err);
    free(err);
    /* Nothing reached the upper instance. */
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM reports", 0, NULL), before);
    contact1_restore();
    lower_down(&lo);
}

/* Copies a test certificate's file (kind "crt" or "key") to path. */
static void copy_cert(const char *certname, const char *kind, const char *path)
{
    char cmd[PATH_MAX * 2 + 16];
    snprintf(cmd, sizeof(cmd), "cp %s %s", tcert(certname, kind), path);
    assert_int_equal(system(cmd), 0);
}

/* The upper instance's log lines of a peer authenticated as this principal. */
static int auth_lines(const char *certname)
{
    char sql[128], needle[64];
    snprintf(sql, sizeof(sql), "SELECT id FROM principals WHERE name = '%s'", certname);
    long long id = tdb_scalar(env.conninfo, sql, 0, NULL);
    assert_true(id > 0);
    snprintf(needle, sizeof(needle), "principal=%lld kind=peer", id);
    return log_count(&env.gw, needle);
}

/* SIGHUP reloads the forwarder's peer certificates too: after the files
 * are rotated and the lower gateway reloads, its next connection to the
 * province presents the new certificate (editor2's, registered above as a
 * peer), not the one it started with. */
static void test_reload_rotates_peer_cert(void **state)
{
    (void)state;
    struct lower lo;
    char dir[] = "/tmp/minyi-peer-XXXXXX", cert[PATH_MAX], key[PATH_MAX];
    char r1[IT_RECEIPT_MAX], r2[IT_RECEIPT_MAX];
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof(cert), "%s/peer.crt", dir);
    snprintf(key, sizeof(key), "%s/peer.key", dir);
    copy_cert("peer1", "crt", cert);
    copy_cert("peer1", "key", key);
    /* Counted before the lower gateway starts: it may connect at once to
     * ask for results. */
    int old_before = auth_lines("peer1");
    lower_up_cert(&lo, "lower4", "localhost", 1000, cert, key);
    contact1_swap(&lo);

    forwarded_report(lo.editor, r1);
    if (!wait_outbox(&lo, r1, "delivered", ARRIVE_WITHIN_MS)) {
        tgw_dump_log(&lo.gw);
        fail_msg("not delivered");
    }
    assert_true(auth_lines("peer1") > old_before);

    copy_cert("editor2", "crt", cert);
    copy_cert("editor2", "key", key);
    assert_int_equal(kill(lo.gw.pid, SIGHUP), 0);
    long long until = itnow_ms() + ARRIVE_WITHIN_MS;
    while (!tgw_log_contains(&lo.gw, "event=peers_reloaded peers=1") && itnow_ms() < until)
        itsleep_ms(50);
    assert_true(tgw_log_contains(&lo.gw, "event=peers_reloaded peers=1"));
    /* The upper gateway restarts, so the lower one must connect anew
     * (maybe at once, for results: count before the restart). */
    int new_before = auth_lines("editor2"), old_after = auth_lines("peer1");
    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
    assert_true(tgw_start_again(&env.gw));
    forwarded_report(lo.editor, r2);
    if (!wait_outbox(&lo, r2, "delivered", ARRIVE_WITHIN_MS)) {
        tgw_dump_log(&lo.gw);
        fail_msg("not delivered after the rotation");
    }
    assert_true(auth_lines("editor2") > new_before);
    /* And never again with the old one. */
    assert_int_equal(auth_lines("peer1"), old_after);
    assert_arrived_once(&lo, r2);

    contact1_restore();
    lower_down(&lo);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_stores_once),
        cmocka_unit_test(test_forward_pipelined_resend),
        cmocka_unit_test(test_forward_other_peer_conflict),
        cmocka_unit_test(test_forward_refused),
        cmocka_unit_test(test_outbox_claim_retry_deliver),
        cmocka_unit_test(test_outbox_dead),
        cmocka_unit_test(test_two_instances),
        cmocka_unit_test(test_personal_data_sealed),
        cmocka_unit_test(test_wrong_server_name),
        cmocka_unit_test(test_two_lower_gateways),
        cmocka_unit_test(test_reload_rotates_peer_cert),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
