/*
 * it_erase_up: an erasure reaches every copy above.  A citizen's report
 * submitted at the district (330402) is forwarded to the city (330400)
 * and on to the province (330000); each stores its own copy, sealed under
 * its own data key.  `minyid erase RECEIPT` at the district then erases
 * the personal fields there, and the erasure travels up the way the
 * report went, through each forwarder: the city erases its copy (an
 * 'erase' event whose actor is the district's peer), passes it on, and the
 * province erases its copy too, within seconds.  Every editor's show then
 * holds neither field, no data key of the report is left in any database,
 * a pg_dump of each holds neither the phone nor the name, and each
 * instance's audit chain still verifies.  An erasure sent again changes
 * nothing; only the peer that forwarded a report may erase its copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "itkit.h"

#define RESULTS_INTERVAL_MS 500
#define ERASED_WITHIN_MS 10000  /* the copies above must lose the fields this fast */
#define SEALED_WITHIN_MS 30000  /* each chain must have sealed every row this fast */
#define OUT_MAX 65536
#define DUMP_MAX (64 * 1024 * 1024)

static struct tpg pg;
static bool pg_up;
static struct itinst prov, city, dist;
static char dir[64];
static char phone[24], name[64];
/* The report at each body: district, city, province. */
static char at_dist[IT_RECEIPT_MAX], at_city[IT_RECEIPT_MAX], at_prov[IT_RECEIPT_MAX];

static int setup(void **state)
{
    (void)state;
    if (!itmkdtemp(dir, sizeof dir, "eraseup") || !tpg_start(&pg))
        return -1;
    pg_up = true;
    if (!itinst_chain_up(&pg, &prov, &city, &dist, RESULTS_INTERVAL_MS) ||
        tprincipal_add(dist.conninfo, "contact1", "contact", IT_DIST_REGION, true) <= 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&dist, &city, &prov}, 3, &pg, pg_up, dir);
}

static int minyid(const struct itinst *in, const char *const *args, char *out)
{
    static char err[OUT_MAX];
    int rc = itrun_minyid(dir, &in->gw, args, out, err, OUT_MAX);
    strncat(out, err, OUT_MAX - strlen(out) - 1);
    return rc;
}

/* The phone and the reporter's name in's editor is shown for receipt, and
 * whether its history holds an erasure. */
static bool shown(const struct itinst *in, const char *receipt, char *ph, char *nm)
{
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    struct frame_arena *a = NULL;
    const Minyi__V1__ShowResponse *s = itshow_ok(ed, receipt, &a);
    char action[64];
    bool erased = false;
    itcopy(&s->phone, ph, 24);
    itcopy(&s->reporter->name, nm, 64);
    for (size_t i = 0; i < s->n_history; i++) {
        itcopy(&s->history[i]->action, action, sizeof action);
        erased = erased || strcmp(action, "erase") == 0;
    }
    frame_arena_free(a);
    client_close(ed);
    return erased;
}

static long long keys_of(const struct itinst *in, const char *receipt)
{
    const char *p[] = { receipt };
    return tdb_scalar(in->conninfo, "SELECT count(*) FROM report_keys k JOIN reports r"
                      " ON r.id = k.report_id WHERE r.receipt = $1", 1, p);
}

/* The erasure of receipt at in, by a principal (actor, a peer's id) or by
 * the operator (actor NULL): how many 'erase' events. */
static long long erasures_by(const struct itinst *in, const char *receipt, const char *peer)
{
    const char *p[] = { receipt, peer };
    return tdb_scalar(in->conninfo, "SELECT count(*) FROM events e JOIN reports r"
                      " ON r.id = e.report_id WHERE r.receipt = $1 AND e.action = 'erase'"
                      " AND e.actor IS NOT DISTINCT FROM (SELECT id FROM principals"
                      " WHERE name = $2)", 2, p);
}

static void expect_chain_verifies(const struct itinst *in)
{
    static char out[OUT_MAX];
    if (!itwait_text(in->conninfo,
                     "SELECT ((SELECT count(*) FROM reports) + (SELECT count(*) FROM events)"
                     " + (SELECT count(*) FROM admin_events) = (SELECT count(*)"
                     " FROM audit_chain))::text", NULL, "true", SEALED_WITHIN_MS))
        fail_msg("%s: the chain did not seal every row", in->name);
    const char *verify[] = { "audit", "verify", NULL };
    assert_int_equal(minyid(in, verify, out), 0);
    itexpect_contains(out, "audit ok: ");
}

/* A pg_dump of in's database holds neither personal field in clear. */
static void expect_dump_clean(const struct itinst *in, const char *receipt)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s.sql", dir, in->region);
    assert_true(tdb_dump(in->conninfo, path));
    char *dump = tfile_text(path, DUMP_MAX);
    assert_non_null(dump);
    assert_non_null(strstr(dump, receipt));
    if (strstr(dump, phone) != NULL || strstr(dump, name) != NULL)
        fail_msg("%s: the dump holds the phone or the name", in->name);
    free(dump);
    unlink(path);
}

/* The erasure at the district reaches the city's and the province's
 * copies within seconds, each chain still verifying. */
static void test_erasure_reaches_every_copy(void **state)
{
    (void)state;
    static char out[OUT_MAX];
    char ph[24], nm[64];
    unsigned salt = (unsigned)(itnow_ms() ^ getpid());
    snprintf(phone, sizeof phone, "139%08u", salt % 100000000u);
    snprintf(name, sizeof name, "群众上报%05u", salt % 100000u);

    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, "村口桥梁护栏损坏多日，学生上下学存在安全隐患。");
    assert_non_null(r);
    r->reporter->kind = MINYI__V1__REPORTER_KIND__CITIZEN;
    itset(&r->reporter->name, name);
    itset(&r->phone, phone);
    itsubmit_ok(c, r, at_dist);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
    itinst_forward(&dist, at_dist, "city", at_city);
    itinst_forward(&city, at_city, "province", at_prov);

    /* Each body above holds the fields, sealed under a data key of its own. */
    assert_false(shown(&prov, at_prov, ph, nm));
    assert_string_equal(ph, phone);
    assert_string_equal(nm, name);
    assert_int_equal(keys_of(&city, at_city), 1);
    assert_int_equal(keys_of(&prov, at_prov), 1);

    const char *erase[] = { "erase", at_dist, "--note", "本人申请删除", NULL };
    long long t0 = itnow_ms();
    assert_int_equal(minyid(&dist, erase, out), 0);
    itexpect_contains(out, "personal fields erased");
    if (!itwait_text(prov.conninfo, "SELECT (pii_erased_at IS NOT NULL)::text FROM reports"
                     " WHERE receipt = $1", at_prov, "true", ERASED_WITHIN_MS))
        fail_msg("the province's copy was not erased within %d ms", ERASED_WITHIN_MS);
    printf("erased at the province %lld ms after the erasure at the district\n",
           itnow_ms() - t0);

    /* No editor anywhere is shown the fields; each show says erased. */
    const struct itinst *in[] = { &dist, &city, &prov };
    const char *at[] = { at_dist, at_city, at_prov };
    for (int i = 0; i < 3; i++) {
        assert_true(shown(in[i], at[i], ph, nm));
        assert_string_equal(ph, "");
        assert_string_equal(nm, "");
        assert_int_equal(keys_of(in[i], at[i]), 0);
    }
    /* Above, each erasure names the peer that passed it on as its actor. */
    assert_int_equal(erasures_by(&city, at_city, "peer1"), 1);
    assert_int_equal(erasures_by(&prov, at_prov, "peer2"), 1);
    assert_int_equal(erasures_by(&dist, at_dist, NULL), 1);
    /* Each body below records that the erasure was passed on. */
    const char *sent_sql = "SELECT count(*)::text FROM events e JOIN reports r"
                           " ON r.id = e.report_id WHERE r.receipt = $1"
                           " AND e.action = 'erase_sent'";
    assert_true(itwait_text(dist.conninfo, sent_sql, at_dist, "1", ERASED_WITHIN_MS));
    assert_true(itwait_text(city.conninfo, sent_sql, at_city, "1", ERASED_WITHIN_MS));

    for (int i = 0; i < 3; i++) {
        expect_dump_clean(in[i], at[i]);
        expect_chain_verifies(in[i]);
    }
}

/* An erasure sent again is answered ok and changes nothing; another peer
 * may not erase a report it did not forward; others may not erase at all;
 * a malformed origin is refused naming the field. */
static void test_erase_request_rules(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    Minyi__V1__EraseRequest q = MINYI__V1__ERASE_REQUEST__INIT;
    Frame f = MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_ERASE;
    f.erase = &q;
    q.origin_region = frame_bytes(IT_DIST_REGION);
    q.origin_receipt = frame_bytes(at_dist);

    struct client_conn *peer = itconnect_gw(&prov.gw, "peer2");
    Frame *ans = itcall(peer, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_OK);
    frame_arena_free(a);
    assert_int_equal(erasures_by(&prov, at_prov, "peer2"), 1);

    /* Nothing held under this origin: nothing to erase, still ok. */
    q.origin_receipt = frame_bytes("330402-2026-999999");
    ans = itcall(peer, &f, &a);
    assert_int_equal(ans->body_case, MINYI__V1__FRAME__BODY_OK);
    frame_arena_free(a);

    q.origin_region = frame_bytes("33040");
    ans = itcall(peer, &f, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "erase.origin_region");
    frame_arena_free(a);
    q.origin_region = frame_bytes(IT_DIST_REGION);
    q.origin_receipt = frame_bytes("330402 2026");
    ans = itcall(peer, &f, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "erase.origin_receipt");
    frame_arena_free(a);
    client_close(peer);

    /* The district's peer, registered at the province too, did not
     * forward the province's copy: the city did. */
    assert_true(tprincipal_add(prov.conninfo, "peer1", "peer", IT_DIST_REGION, true) > 0);
    q.origin_receipt = frame_bytes(at_dist);
    struct client_conn *other = itconnect_gw(&prov.gw, "peer1");
    ans = itcall(other, &f, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "erase.origin_receipt");
    frame_arena_free(a);
    client_close(other);

    struct client_conn *ed = itconnect_gw(&prov.gw, "editor1");
    ans = itcall(ed, &f, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
    frame_arena_free(a);
    client_close(ed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_erasure_reaches_every_copy),
        cmocka_unit_test(test_erase_request_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
