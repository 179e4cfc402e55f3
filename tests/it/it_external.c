/*
 * it_external: 报送 outside the hierarchy, several destinations in one
 * forward, forwarding again only where the report was returned from, and
 * merged credit carried upward.  Three real instances — district (330402)
 * → city (330400) → province (330000); the city also has two external
 * destinations, 市委办公室 (swb) and 市政府办公室 (szf), and names the
 * province 浙江省政协.
 *
 * An external 报送 goes with the forward to the province in one request,
 * under a document number; the city's editor later records a 办理答复 and
 * a 批示 from there, and the district's writer sees the 报送 and both
 * responses in its status, with the destination's display name.  An
 * unknown destination is refused with the list of the valid ones.  After
 * the province returns a report, forwarding it again to the external
 * destination (which never returned it) is refused; to the province it
 * goes.  A report merged into another carries its writer upward: the
 * province lists both reporters, and the adoption and both 批示 there
 * reach both writers — merged at the district, and merged at the city
 * (the district's two reports each hear of it under their own receipt).
 * An external 采纳 or 批示 makes the report ADOPTED_ABOVE there and below;
 * a 办理答复 alone leaves it FORWARDED.
 */
#include <limits.h>
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

#define WITHIN_MS 30000
#define RESULTS_INTERVAL_MS 300
#define TEXT_MAX 1024
#define CLI_OUT_MAX (64 * 1024)
#define DAY_MS (24LL * 3600 * 1000)
#define SWB_NAME "市委办公室"
#define SZF_NAME "市政府办公室"
#define DOC_NUMBER "嘉政协信〔2026〕12号"
#define REPLY_TEXT "已责成市交通运输局牵头整改，年底前增开两条公交线路。"
#define INSTRUCTION_SWB "请市交通运输局认真研究，提出解决方案。"
#define CITY_EXTRA                                                                     \
    "[peer.province]\ndisplay_name = " IT_PROV_NAME "\n"                               \
    "[external.swb]\ndisplay_name = " SWB_NAME "\n"                                    \
    "[external.szf]\ndisplay_name = " SZF_NAME "\n"

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
    if (!itinst_chain_up_ini(&pg, &prov, &city, &dist, RESULTS_INTERVAL_MS, CITY_EXTRA) ||
        tprincipal_add(dist.conninfo, "contact1", "contact", IT_DIST_REGION, true) <= 0 ||
        tprincipal_add(dist.conninfo, "contact2", "contact", IT_DIST_REGION, true) <= 0)
        return -1;
    snprintf(dir, sizeof dir, "/tmp/it_external-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&dist, &city, &prov}, 3, &pg, pg_up, dir);
}

/* Now on the wall clock (dates of documents), in milliseconds. */
static int64_t wall_ms(void)
{
    return (int64_t)time(NULL) * 1000;
}

/* certname submits a report with this situation and reporter at the
 * district; its receipt goes to out. */
static void submit(const char *certname, const char *situation, const char *reporter, char *out)
{
    struct client_conn *c = itconnect_gw(&dist.gw, certname);
    Minyi__V1__Report *r = tmake_report(NULL, situation);
    assert_non_null(r);
    itset(&r->reporter->name, reporter);
    itsubmit_ok(c, r, out);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
}

/* A FORWARD of receipt at the city to the n destinations, with a document
 * number when doc is not NULL; the answer is in *a. */
static Frame *forward_to(struct client_conn *ed, const char *receipt, const char *const *dests,
                         size_t n, const char *doc, int64_t doc_ms, struct frame_arena **a)
{
    ProtobufCBinaryData d[8];
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__DecideRequest q = MINYI__V1__DECIDE_REQUEST__INIT;

    assert_true(n <= sizeof d / sizeof d[0]);
    for (size_t i = 0; i < n; i++)
        d[i] = frame_bytes(dests[i]);
    q.receipt = frame_bytes(receipt);
    q.decision = MINYI__V1__DECISION__FORWARD;
    q.destinations = d;
    q.n_destinations = n;
    if (doc != NULL)
        q.document_number = frame_bytes(doc);
    q.document_date_ms = doc_ms;
    f.body_case = MINYI__V1__FRAME__BODY_DECIDE;
    f.decide = &q;
    return itcall(ed, &f, a);
}

/* Waits until receipt's delivery to dest at in is delivered (or answered)
 * and copies the receipt there into up. */
static void wait_delivered(const struct itinst *in, const char *receipt, const char *dest,
                           char *up)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (o.state IN ('delivered', 'result'))::text FROM outbox o"
             " JOIN reports r ON r.id = o.report_id"
             " WHERE r.receipt = $1 AND o.destination = '%s'", dest);
    if (!itwait_text(in->conninfo, sql, receipt, "true", WITHIN_MS))
        fail_msg("%s: %s was not delivered to %s", in->name, receipt, dest);
    snprintf(sql, sizeof sql,
             "SELECT o.upstream_receipt FROM outbox o JOIN reports r ON r.id = o.report_id"
             " WHERE r.receipt = $1 AND o.destination = '%s'", dest);
    char *v = itdb_text(in->conninfo, sql, 1, (const char *const[]){receipt});
    assert_non_null(v);
    snprintf(up, IT_RECEIPT_MAX, "%s", v);
    free(v);
}

/* Waits until receipt at in has n events of this action. */
static void wait_events(const struct itinst *in, const char *receipt, const char *action, int n)
{
    char sql[256], want[16];
    snprintf(sql, sizeof sql,
             "SELECT count(*)::text FROM events e JOIN reports r ON r.id = e.report_id"
             " WHERE r.receipt = $1 AND e.action = '%s'", action);
    snprintf(want, sizeof want, "%d", n);
    if (!itwait_text(in->conninfo, sql, receipt, want, WITHIN_MS))
        fail_msg("%s: %s never had %d %s events", in->name, receipt, n, action);
}

/* The district's report r_dist goes up to the city (its receipt there in
 * r_city), where the editor claims it. */
static void up_to_city(const char *r_dist, char *r_city)
{
    itinst_forward(&dist, r_dist, "city", r_city);
    struct client_conn *ed = itconnect_gw(&city.gw, "editor1");
    itclaim_ok(ed, r_city);
    client_close(ed);
}

/* certname's report of this situation goes from the district to the city
 * (receipts in r_dist and r_city), whose editor forwards it to the n
 * destinations, under DOC_NUMBER dated now. */
static void forwarded_from_city(const char *certname, const char *situation,
                                const char *reporter, const char *const *dests, size_t n,
                                char *r_dist, char *r_city)
{
    struct frame_arena *a = NULL;
    submit(certname, situation, reporter, r_dist);
    up_to_city(r_dist, r_city);
    struct client_conn *ed = itconnect_gw(&city.gw, "editor1");
    Frame *ans = forward_to(ed, r_city, dests, n, DOC_NUMBER, 0, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    frame_arena_free(a);
    client_close(ed);
}

static void test_external_and_gateway_in_one_forward(void **state)
{
    (void)state;
    char r_dist[IT_RECEIPT_MAX], r_city[IT_RECEIPT_MAX], r_prov[IT_RECEIPT_MAX];
    char profile[PATH_MAX];
    static char out[CLI_OUT_MAX], err[CLI_OUT_MAX];
    struct frame_arena *a = NULL;
    int64_t doc_ms = wall_ms() - DAY_MS;

    submit("contact1", "城郊公交线路少，学生上学换乘三次。", "李明", r_dist);
    up_to_city(r_dist, r_city);

    /* One request: the province (a gateway) and 市委办公室 (external). */
    struct client_conn *ed = itconnect_gw(&city.gw, "editor1");
    Frame *ans = forward_to(ed, r_city, (const char *const[]){"province", "swb"}, 2, DOC_NUMBER,
                            doc_ms, &a);
    if (ans->body_case != MINYI__V1__FRAME__BODY_DECIDE_OK)
        itexpect_error(ans, 0, NULL);
    assert_int_equal(ans->decide_ok->state, MINYI__V1__REPORT_STATE__FORWARDED);
    frame_arena_free(a);
    wait_delivered(&city, r_city, "province", r_prov);

    /* The city's show: both deliveries by display name, the external one
     * sent under its document; the history names them by display name. */
    const Minyi__V1__ShowResponse *s = itshow_ok(ed, r_city, &a);
    assert_int_equal(s->n_deliveries, 2);
    const Minyi__V1__Delivery *gw = s->deliveries[0], *ext = s->deliveries[1];
    assert_true(itbytes_is(&gw->destination, "province"));
    assert_true(itbytes_is(&gw->display_name, IT_PROV_NAME));
    assert_false(gw->external);
    assert_true(itbytes_is(&ext->destination, "swb"));
    assert_true(itbytes_is(&ext->display_name, SWB_NAME));
    assert_true(ext->external);
    assert_true(itbytes_is(&ext->document_number, DOC_NUMBER));
    assert_true(ext->document_date_ms / 1000 == doc_ms / 1000);
    assert_true(itbytes_is(&ext->state, "delivered"));
    char delivered_line[TEXT_MAX];
    snprintf(delivered_line, sizeof delivered_line, "已送达" IT_PROV_NAME "，对方回执 %s", r_prov);
    bool forward_named = false, delivered_named = false, sent = false;
    for (size_t i = 0; i < s->n_history; i++) {
        const Minyi__V1__HistoryEntry *h = s->history[i];
        forward_named |= itbytes_is(&h->action, "forward") &&
                         itbytes_is(&h->note, "报送" IT_PROV_NAME "、" SWB_NAME);
        delivered_named |= itbytes_is(&h->action, "delivered") && itbytes_is(&h->note, delivered_line);
        sent |= itbytes_is(&h->action, "external") && itbytes_has(&h->note, SWB_NAME) &&
                itbytes_has(&h->note, DOC_NUMBER);
    }
    assert_true(forward_named);
    assert_true(delivered_named);
    assert_true(sent);
    frame_arena_free(a);
    /* The province got the report once; nothing was sent anywhere for swb. */
    assert_int_equal(tdb_scalar(prov.conninfo, "SELECT count(*) FROM reports WHERE receipt = $1",
                                1, (const char *const[]){r_prov}),
                     1);
    client_close(ed);

    /* The response, recorded on the command line: a 办理答复 from 市委办公室,
     * then a 市领导's 批示 from there. */
    snprintf(profile, sizeof profile, "%s/city-editor.conf", dir);
    assert_true(tprofile_write(profile, "editor1", &city.gw));
    int rc = itrun_cli(dir, profile,
                       (const char *const[]){"respond", r_city, "--to", "swb", "--kind", "reply",
                                             "--text", REPLY_TEXT, NULL},
                       out, err, sizeof out);
    if (rc != 0)
        fail_msg("respond reply: exit %d: %s", rc, err);
    rc = itrun_cli(dir, profile,
                   (const char *const[]){"respond", r_city, "--to", "swb", "--kind",
                                         "instruction", "--level", "市领导", "--leader",
                                         "市委书记", "--text", INSTRUCTION_SWB, NULL},
                   out, err, sizeof out);
    if (rc != 0)
        fail_msg("respond instruction: exit %d: %s", rc, err);
    /* A response from a destination it was not sent to is refused, naming
     * where it went. */
    rc = itrun_cli(dir, profile,
                   (const char *const[]){"respond", r_city, "--to", "szf", "--kind", "adopted",
                                         NULL},
                   out, err, sizeof out);
    assert_int_not_equal(rc, 0);
    itexpect_contains(err, "NOT_FOUND");
    itexpect_contains(err, "it was sent to: " SWB_NAME " (swb)");

    /* The city's editor sees both in show, with the deliveries. */
    rc = itrun_cli(dir, profile, (const char *const[]){"show", r_city, NULL}, out, err,
                   sizeof out);
    assert_int_equal(rc, 0);
    itexpect_contains(out, SWB_NAME " (swb, external)\tresult");
    itexpect_contains(out, "document=" DOC_NUMBER);
    itexpect_contains(out, IT_PROV_NAME " (province)\tdelivered");
    itexpect_contains(out, REPLY_TEXT);

    /* The district's writer sees the 报送 and both responses, the
     * destination named as the body that answered. */
    wait_events(&dist, r_dist, "result_external_response", 2);
    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    ans = itstatus(c, r_dist, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    const Minyi__V1__HistoryEntry *h = itstatus_entry(ans->status_ok, "result_external", DOC_NUMBER);
    assert_true(itbytes_has(&h->note, SWB_NAME));
    assert_true(itbytes_is(&h->body, IT_CITY_NAME));
    h = itstatus_entry(ans->status_ok, "result_external_response", REPLY_TEXT);
    assert_true(itbytes_is(&h->body, SWB_NAME));
    assert_true(itbytes_has(&h->note, "办理答复"));
    h = itstatus_entry(ans->status_ok, "result_external_response", "批示");
    assert_true(itbytes_is(&h->body, SWB_NAME));
    assert_true(itbytes_is(&h->instruction, INSTRUCTION_SWB));
    assert_true(itbytes_is(&h->instruction_level, "市领导"));
    /* The city's forward and its delivery, as the writer reads them. */
    itstatus_entry(ans->status_ok, "result_forward", "报送" IT_PROV_NAME "、" SWB_NAME);
    h = itstatus_entry(ans->status_ok, "result_delivered", delivered_line);
    assert_true(itbytes_is(&h->body, IT_CITY_NAME));
    frame_arena_free(a);
    client_close(c);

    /* The writer's CLI status says so too. */
    snprintf(profile, sizeof profile, "%s/district-contact.conf", dir);
    assert_true(tprofile_write(profile, "contact1", &dist.gw));
    rc = itrun_cli(dir, profile, (const char *const[]){"status", r_dist, NULL}, out, err,
                   sizeof out);
    assert_int_equal(rc, 0);
    itexpect_contains(out, REPLY_TEXT);
    itexpect_contains(out, INSTRUCTION_SWB);
    itexpect_contains(out, DOC_NUMBER);
    itexpect_contains(out, delivered_line);
}

static void test_unknown_destination_refused_with_the_list(void **state)
{
    (void)state;
    char r_dist[IT_RECEIPT_MAX], r_city[IT_RECEIPT_MAX], msg[TEXT_MAX];
    struct frame_arena *a = NULL;

    submit("contact2", "老旧小区加装电梯审批慢。", "王芳", r_dist);
    up_to_city(r_dist, r_city);
    struct client_conn *ed = itconnect_gw(&city.gw, "editor1");

    /* A mistyped id, next to a good one: refused whole, with the list. */
    Frame *ans = forward_to(ed, r_city, (const char *const[]){"province", "swb-office"}, 2,
                            DOC_NUMBER, 0, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.destinations");
    itcopy(&ans->error->message, msg, sizeof msg);
    itexpect_contains(msg, "province (" IT_PROV_NAME ")");
    itexpect_contains(msg, "swb (" SWB_NAME ", external)");
    itexpect_contains(msg, "szf (" SZF_NAME ", external)");
    itcopy(&ans->error->message_zh, msg, sizeof msg);
    itexpect_contains(msg, "swb (" SWB_NAME ", external)");
    frame_arena_free(a);

    /* An external 报送 without its document number. */
    ans = forward_to(ed, r_city, (const char *const[]){"szf"}, 1, NULL, 0, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.document_number");
    frame_arena_free(a);
    /* A document dated tomorrow. */
    ans = forward_to(ed, r_city, (const char *const[]){"szf"}, 1, DOC_NUMBER,
                     wall_ms() + DAY_MS, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "decide.document_date_ms");
    frame_arena_free(a);
    /* Nothing happened: still claimed, in review, no delivery. */
    itinst_expect_state(&city, r_city, "IN_REVIEW");
    assert_int_equal(tdb_scalar(city.conninfo,
                                "SELECT count(*) FROM outbox o JOIN reports r"
                                " ON r.id = o.report_id WHERE r.receipt = $1",
                                1, (const char *const[]){r_city}),
                     0);

    /* Both external destinations at once, under one document. */
    ans = forward_to(ed, r_city, (const char *const[]){"swb", "szf"}, 2, DOC_NUMBER, 0, &a);
    if (ans->body_case != MINYI__V1__FRAME__BODY_DECIDE_OK)
        itexpect_error(ans, 0, NULL);
    frame_arena_free(a);
    assert_int_equal(tdb_scalar(city.conninfo,
                                "SELECT count(*) FROM events e JOIN reports r"
                                " ON r.id = e.report_id WHERE r.receipt = $1"
                                " AND e.action = 'external'",
                                1, (const char *const[]){r_city}),
                     2);
    client_close(ed);
}

static void test_forward_again_only_where_returned(void **state)
{
    (void)state;
    char r_dist[IT_RECEIPT_MAX], r_city[IT_RECEIPT_MAX], r_prov[IT_RECEIPT_MAX];
    char msg[TEXT_MAX];
    struct frame_arena *a = NULL;

    forwarded_from_city("contact1", "乡镇卫生院夜间无值班医生。", "赵强",
                        (const char *const[]){"province", "swb"}, 2, r_dist, r_city);
    struct client_conn *ed = itconnect_gw(&city.gw, "editor1");
    Frame *ans;
    wait_delivered(&city, r_city, "province", r_prov);

    /* The province returns it: the city has it back in its queue. */
    struct client_conn *pe = itconnect_gw(&prov.gw, "editor1");
    itclaim_ok(pe, r_prov);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__DecideRequest d = MINYI__V1__DECIDE_REQUEST__INIT;
    d.receipt = frame_bytes(r_prov);
    d.decision = MINYI__V1__DECISION__RETURN;
    d.note = frame_bytes("请补充卫生院名单。");
    f.body_case = MINYI__V1__FRAME__BODY_DECIDE;
    f.decide = &d;
    ans = itcall(pe, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    frame_arena_free(a);
    client_close(pe);
    itinst_expect_state(&city, r_city, "RECEIVED");
    itclaim_ok(ed, r_city);

    /* 市委办公室 never returned it: forwarding there again is refused at
     * the request, naming who returned it; so is the mix of both. */
    ans = forward_to(ed, r_city, (const char *const[]){"swb"}, 1, DOC_NUMBER, 0, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__CONFLICT, "decide.destinations");
    itcopy(&ans->error->message, msg, sizeof msg);
    itexpect_contains(msg, SWB_NAME " (swb)");
    itexpect_contains(msg, "returned by " IT_PROV_NAME " (province)");
    frame_arena_free(a);
    ans = forward_to(ed, r_city, (const char *const[]){"province", "swb"}, 2, DOC_NUMBER, 0, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__CONFLICT, "decide.destinations");
    frame_arena_free(a);
    itinst_expect_state(&city, r_city, "IN_REVIEW");

    /* To the province, which returned it, it goes: version 2 there. */
    ans = forward_to(ed, r_city, (const char *const[]){"province"}, 1, NULL, 0, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    frame_arena_free(a);
    client_close(ed);
    if (!itwait_text(prov.conninfo, "SELECT version::text FROM reports WHERE receipt = $1",
                     r_prov, "2", WITHIN_MS))
        fail_msg("the province never had version 2 of %s", r_prov);
    /* Once forwarded again, the province has not returned it a second
     * time: forwarding there yet again would be refused too. */
    assert_int_equal(tdb_scalar(city.conninfo,
                                "SELECT count(*) FROM outbox o JOIN reports r"
                                " ON r.id = o.report_id WHERE r.receipt = $1 AND o.returned",
                                1, (const char *const[]){r_city}),
                     0);
}

/* The city's editor records a response of this kind from dest on receipt
 * (text: a 批示's or a reply's; a 批示 is a 市领导's); returns the state
 * the answer names. */
static Minyi__V1__ReportState respond(const char *receipt, const char *dest,
                                      Minyi__V1__ExternalResponseKind kind, const char *text)
{
    struct frame_arena *a = NULL;
    struct client_conn *ed = itconnect_gw(&city.gw, "editor1");
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ExternalResponseRequest q = MINYI__V1__EXTERNAL_RESPONSE_REQUEST__INIT;
    q.receipt = frame_bytes(receipt);
    q.destination = frame_bytes(dest);
    q.kind = kind;
    if (text != NULL)
        q.text = frame_bytes(text);
    if (kind == MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_INSTRUCTION)
        q.level = MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER;
    f.body_case = MINYI__V1__FRAME__BODY_EXTERNAL_RESPONSE;
    f.external_response = &q;
    Frame *ans = itcall(ed, &f, &a);
    if (ans->body_case != MINYI__V1__FRAME__BODY_DECIDE_OK)
        itexpect_error(ans, 0, NULL);
    Minyi__V1__ReportState st = ans->decide_ok->state;
    frame_arena_free(a);
    client_close(ed);
    return st;
}

/* contact1's status of r_dist at the district: its state, and the state
 * its n-th result_external_response entry (from 1) records. */
static void expect_writer_state(const char *r_dist, Minyi__V1__ReportState want, size_t n,
                                Minyi__V1__ReportState entry)
{
    struct frame_arena *a = NULL;
    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    Frame *ans = itstatus(c, r_dist, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    assert_int_equal(ans->status_ok->state, want);
    size_t seen = 0;
    for (size_t i = 0; i < ans->status_ok->n_history && seen < n; i++) {
        const Minyi__V1__HistoryEntry *h = ans->status_ok->history[i];
        if (itbytes_is(&h->action, "result_external_response") && ++seen == n)
            assert_int_equal(h->state, entry);
    }
    assert_int_equal(seen, n);
    frame_arena_free(a);
    client_close(c);
}

/* An external 办理答复 is an answer: the report stays FORWARDED, here and
 * below.  An external 采纳 is an adoption above, like the province's: the
 * report becomes ADOPTED_ABOVE at the city and at the district, whose
 * writer reads 上级采用.  So does a leader's 批示 from there, also after
 * the province rejected the item (NOT_ADOPTED_ABOVE). */
static void test_external_adoption_is_adopted_above(void **state)
{
    (void)state;
    char r_dist[IT_RECEIPT_MAX], r_city[IT_RECEIPT_MAX], r_prov[IT_RECEIPT_MAX];

    forwarded_from_city("contact1", "老旧小区加装电梯审批慢。", "孙丽",
                        (const char *const[]){"swb"}, 1, r_dist, r_city);

    assert_int_equal(respond(r_city, "swb", MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_REPLY,
                             REPLY_TEXT),
                     MINYI__V1__REPORT_STATE__FORWARDED);
    itinst_expect_state(&city, r_city, "FORWARDED");
    wait_events(&dist, r_dist, "result_external_response", 1);
    itinst_expect_state(&dist, r_dist, "FORWARDED");
    expect_writer_state(r_dist, MINYI__V1__REPORT_STATE__FORWARDED, 1,
                        MINYI__V1__REPORT_STATE__FORWARDED);

    assert_int_equal(respond(r_city, "swb", MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_ADOPTED,
                             NULL),
                     MINYI__V1__REPORT_STATE__ADOPTED_ABOVE);
    itinst_expect_state(&city, r_city, "ADOPTED_ABOVE");
    itinst_expect_state(&dist, r_dist, "ADOPTED_ABOVE");
    expect_writer_state(r_dist, MINYI__V1__REPORT_STATE__ADOPTED_ABOVE, 2,
                        MINYI__V1__REPORT_STATE__ADOPTED_ABOVE);

    /* The province rejects a second item; 市委办公室's 批示 adopts it. */
    forwarded_from_city("contact1", "夜市占道经营扰民。", "孙丽",
                        (const char *const[]){"province", "swb"}, 2, r_dist, r_city);
    wait_delivered(&city, r_city, "province", r_prov);
    struct client_conn *pe = itconnect_gw(&prov.gw, "editor1");
    itclaim_ok(pe, r_prov);
    Minyi__V1__DecideRequest d = MINYI__V1__DECIDE_REQUEST__INIT;
    d.receipt = frame_bytes(r_prov);
    d.decision = MINYI__V1__DECISION__REJECT;
    d.note = frame_bytes("属地事项，请市里办理。");
    itdecide_req_ok(pe, &d);
    client_close(pe);
    itinst_expect_state(&city, r_city, "NOT_ADOPTED_ABOVE");
    assert_int_equal(respond(r_city, "swb",
                             MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_INSTRUCTION,
                             INSTRUCTION_SWB),
                     MINYI__V1__REPORT_STATE__ADOPTED_ABOVE);
    itinst_expect_state(&dist, r_dist, "ADOPTED_ABOVE");
    expect_writer_state(r_dist, MINYI__V1__REPORT_STATE__ADOPTED_ABOVE, 1,
                        MINYI__V1__REPORT_STATE__ADOPTED_ABOVE);
}

/* The province's editor adopts receipt with a 省领导's 批示, and a
 * 市领导's 批示 follows a day later (by its date). */
static void adopt_and_instruct_at_province(const char *r_prov)
{
    struct frame_arena *a = NULL;
    struct client_conn *pe = itconnect_gw(&prov.gw, "editor1");
    itclaim_ok(pe, r_prov);
    Minyi__V1__DecideRequest d = MINYI__V1__DECIDE_REQUEST__INIT;
    d.receipt = frame_bytes(r_prov);
    d.decision = MINYI__V1__DECISION__ADOPT;
    d.instruction = frame_bytes("省领导批示：请省民政厅研究。");
    d.instruction_level = frame_bytes("省领导");
    itdecide_req_ok(pe, &d);
    client_close(pe);
    Frame *ans = itinst_instruct(&prov, "editor1", r_prov, MINYI__V1__INSTRUCTION_LEVEL__CITY_LEADER,
                                 "市领导批示：市里配套落实。", 0, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_DECIDE_OK);
    frame_arena_free(a);
}

/* certname's status of its receipt at the district shows the adoption at
 * the province and both 批示. */
static void expect_writer_sees_province(const char *certname, const char *receipt)
{
    struct frame_arena *a = NULL;
    struct client_conn *c = itconnect_gw(&dist.gw, certname);
    Frame *ans = itstatus(c, receipt, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    assert_int_equal(ans->status_ok->state, MINYI__V1__REPORT_STATE__ADOPTED_ABOVE);
    const Minyi__V1__HistoryEntry *h = itstatus_entry(ans->status_ok, "result_adopt", "");
    assert_true(itbytes_is(&h->body, IT_PROV_NAME));
    assert_true(itbytes_is(&h->instruction, "省领导批示：请省民政厅研究。"));
    h = itstatus_entry(ans->status_ok, "result_instruction", "");
    assert_true(itbytes_is(&h->instruction, "市领导批示：市里配套落实。"));
    assert_true(itbytes_is(&h->instruction_level, "市领导"));
    assert_true(itbytes_is(&h->body, IT_PROV_NAME));
    frame_arena_free(a);
    client_close(c);
}

/* The province's show of receipt credits reporter besides its own. */
static void expect_province_credits(const char *r_prov, const char *own, const char *other)
{
    struct frame_arena *a = NULL;
    struct client_conn *pe = itconnect_gw(&prov.gw, "editor1");
    const Minyi__V1__ShowResponse *s = itshow_ok(pe, r_prov, &a);
    assert_true(itbytes_is(&s->reporter->name, own));
    assert_int_equal(s->n_credited, 1);
    assert_true(itbytes_is(&s->credited[0]->name, other));
    assert_int_equal(s->credited[0]->kind, MINYI__V1__REPORTER_KIND__MEMBER);
    frame_arena_free(a);
    client_close(pe);
}

static void test_merged_credit_reaches_the_province_and_back(void **state)
{
    (void)state;
    char r_a[IT_RECEIPT_MAX], r_b[IT_RECEIPT_MAX], c_a[IT_RECEIPT_MAX], p_a[IT_RECEIPT_MAX];
    char r_c[IT_RECEIPT_MAX], r_d[IT_RECEIPT_MAX], c_c[IT_RECEIPT_MAX], c_d[IT_RECEIPT_MAX];
    char p_c[IT_RECEIPT_MAX];

    /* Merged at the district: two writers, one report upward. */
    submit("contact1", "农村饮用水管网老化，夏季常停水。", "陈刚", r_a);
    submit("contact2", "村里自来水管老旧，经常停水。", "周敏", r_b);
    struct client_conn *ed = itconnect_gw(&dist.gw, "editor1");
    itclaim_ok(ed, r_b);
    Minyi__V1__DecideRequest m = MINYI__V1__DECIDE_REQUEST__INIT;
    m.receipt = frame_bytes(r_b);
    m.decision = MINYI__V1__DECISION__MERGE;
    m.into_receipt = frame_bytes(r_a);
    itdecide_req_ok(ed, &m);
    client_close(ed);
    itinst_forward(&dist, r_a, "city", c_a);
    itinst_forward(&city, c_a, "province", p_a);
    expect_province_credits(p_a, "陈刚", "周敏");
    adopt_and_instruct_at_province(p_a);
    wait_events(&dist, r_a, "result_instruction", 1);
    expect_writer_sees_province("contact1", r_a);
    expect_writer_sees_province("contact2", r_b);

    /* Merged at the city: the district sent both, each hears of the
     * province's decisions under its own receipt. */
    submit("contact1", "学校周边无人行横道，学生过马路危险。", "吴磊", r_c);
    submit("contact2", "校门口缺少斑马线和信号灯。", "郑丽", r_d);
    itinst_forward(&dist, r_c, "city", c_c);
    itinst_forward(&dist, r_d, "city", c_d);
    ed = itconnect_gw(&city.gw, "editor1");
    itclaim_ok(ed, c_d);
    m.receipt = frame_bytes(c_d);
    m.into_receipt = frame_bytes(c_c);
    itdecide_req_ok(ed, &m);
    client_close(ed);
    itinst_forward(&city, c_c, "province", p_c);
    expect_province_credits(p_c, "吴磊", "郑丽");
    adopt_and_instruct_at_province(p_c);
    wait_events(&dist, r_d, "result_instruction", 1);
    expect_writer_sees_province("contact1", r_c);
    expect_writer_sees_province("contact2", r_d);
    /* The merged report's own body below was told of the merge, and its
     * report there is not reopened or duplicated by what came for the
     * survivor. */
    assert_int_equal(tdb_scalar(dist.conninfo,
                                "SELECT count(*) FROM events e JOIN reports r"
                                " ON r.id = e.report_id WHERE r.receipt = $1"
                                " AND e.action = 'result_merge'",
                                1, (const char *const[]){r_d}),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_external_and_gateway_in_one_forward),
        cmocka_unit_test(test_unknown_destination_refused_with_the_list),
        cmocka_unit_test(test_forward_again_only_where_returned),
        cmocka_unit_test(test_merged_credit_reaches_the_province_and_back),
        cmocka_unit_test(test_external_adoption_is_adopted_above),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
