/*
 * it_witness: the body above witnesses the audit chain of the body below.
 * A city (330400) that signs its chain heads forwards reports to a
 * province (330000); every forward and every results request carries the
 * city's newest signed head, and the province keeps each one.  Someone
 * with the city's database then rewrites an event, recomputes the chain
 * from there and deletes the city's own signed heads: the city's chain
 * verifies on its own, but not against the heads the province kept
 * (`minyid audit witness` there, `minyid audit verify --witness` here).
 * A malformed head is refused before anything is done, and so is one that
 * no audit key registered for the city's peer principal verifies; a
 * rotated key is registered beside the first, and both verify.  The heads
 * the province keeps carry their signatures, which the city's verify
 * checks too.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "audit_int.h"
#include "hex.h"
#include "itkit.h"

#define PROV_REGION "330000"
#define CITY_REGION "330400"
#define RESULTS_INTERVAL_MS 200 /* each pull carries the city's newest head */
#define WITHIN_MS 30000         /* a head must reach the province this fast */
#define OUT_MAX 65536
#define REPORTS 3

static struct tpg pg;
static bool pg_up;
static struct itinst prov, city;
static char dir[64];
static char peer_id[24];        /* the city's peer principal at the province */
static char receipts[REPORTS][IT_RECEIPT_MAX];

static int setup(void **state)
{
    (void)state;
    char extra[512];
    /* The city seals often and signs a head every second row. */
    if (!itmkdtemp(dir, sizeof dir, "witness") || !itaudit_ini(dir, 2, extra, sizeof extra))
        return -1;
    if (!tpg_start(&pg))
        return -1;
    pg_up = true;
    if (!itinst_up(&pg, &prov, "province", PROV_REGION, "浙江省政协", NULL, NULL, NULL,
                   RESULTS_INTERVAL_MS))
        return -1;
    int64_t peer = tprincipal_add(prov.conninfo, "peer2", "peer", CITY_REGION, true);
    snprintf(peer_id, sizeof peer_id, "%lld", (long long)peer);
    /* The city's audit key, registered at the province for its peer. */
    char cmd[512], out[1024], err[1024], pub[128];
    snprintf(pub, sizeof pub, "%s/audit.pub", dir);
    snprintf(cmd, sizeof cmd, "openssl pkey -in '%s/audit.key' -pubout -out '%s'", dir, pub);
    const char *reg[] = { "principal", "audit-key", peer_id, pub, NULL };
    if (peer <= 0 || system(cmd) != 0 ||
        itrun_minyid(dir, &prov.gw, reg, out, err, sizeof out) != 0)
        return -1;
    if (!itinst_up_ini(&pg, &city, "city", CITY_REGION, "嘉兴市政协", "province", &prov, "peer2",
                       RESULTS_INTERVAL_MS, extra) ||
        tprincipal_add(city.conninfo, "contact1", "contact", CITY_REGION, true) <= 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&city, &prov}, 2, &pg, pg_up, dir);
}

/* The seq of the claim event of receipts[i] in the city's chain, once sealed. */
static long long claim_seq(int i)
{
    const char *p[] = { receipts[i] };
    char *seq = NULL;
    long long until = itnow_ms() + WITHIN_MS;
    while (itnow_ms() < until) {
        seq = itdb_text(city.conninfo,
                        "SELECT c.seq::text FROM audit_chain c JOIN events e ON c.source = 'e'"
                        " AND c.ref_id = e.id JOIN reports r ON r.id = e.report_id"
                        " WHERE r.receipt = $1 AND e.action = 'claim'", 1, p);
        if (seq != NULL && seq[0] != '\0')
            break;
        free(seq);
        seq = NULL;
        itsleep_ms(50);
    }
    if (seq == NULL)
        fail_msg("the claim of %s was not sealed", receipts[i]);
    long long v = atoll(seq);
    free(seq);
    return v;
}

/* Waits until the province holds a head of the city at or after seq;
 * answers the first such seq. */
static long long witnessed_from(long long seq)
{
    char seq_s[24];
    snprintf(seq_s, sizeof seq_s, "%lld", seq);
    const char *p[] = { peer_id, seq_s };
    long long until = itnow_ms() + WITHIN_MS, got = 0;
    while (itnow_ms() < until) {
        got = tdb_scalar(prov.conninfo, "SELECT coalesce(min(seq), 0) FROM audit_witness"
                         " WHERE peer = $1::int8 AND seq >= $2::int8", 2, p);
        if (got > 0)
            return got;
        itsleep_ms(50);
    }
    fail_msg("no head of the city at or after seq %lld reached the province", seq);
    return 0;
}

static int minyid(const struct itinst *in, const char *const *args, char *out)
{
    static char err[OUT_MAX];
    return itrun_minyid(dir, &in->gw, args, out, err, OUT_MAX);
}

/* Reports forwarded from the city reach the province with the city's
 * heads, exactly as the city signed them. */
static void test_heads_reach_the_province(void **state)
{
    (void)state;
    static char out[OUT_MAX];
    struct client_conn *c = itconnect_gw(&city.gw, "contact1");
    struct client_conn *ed = itconnect_gw(&city.gw, "editor1");
    for (int i = 0; i < REPORTS; i++)
        itsubmit_forwarded(c, ed, "城区老旧小区加装电梯进展缓慢，居民反映审批环节多。",
                           "province", receipts[i]);
    client_close(c);
    client_close(ed);

    long long seq = witnessed_from(claim_seq(REPORTS - 1));
    char seq_s[24];
    snprintf(seq_s, sizeof seq_s, "%lld", seq);
    const char *p[] = { peer_id, seq_s };
    char *above = itdb_text(prov.conninfo, "SELECT encode(hash, 'hex') || encode(signature, 'hex')"
                            " FROM audit_witness WHERE peer = $1::int8 AND seq = $2::int8", 2, p);
    char *here = itdb_text(city.conninfo, "SELECT encode(hash, 'hex') || encode(signature, 'hex')"
                           " FROM audit_heads WHERE seq = $1::int8", 1, p + 1);
    assert_non_null(above);
    assert_non_null(here);
    assert_string_equal(above, here);
    free(above);
    free(here);

    /* The city's chain agrees with every head the province holds. */
    char path[128];
    snprintf(path, sizeof path, "%s/witness.jsonl", dir);
    const char *wit[] = { "audit", "witness", "--peer", peer_id, NULL };
    assert_int_equal(minyid(&prov, wit, out), 0);
    itexpect_contains(out, "\"seq\"");
    itwrite_file(path, out);
    const char *ver[] = { "audit", "verify", "--witness", path, NULL };
    assert_int_equal(minyid(&city, ver, out), 0);
    itexpect_contains(out, "audit ok: ");

    /* A head whose signature was altered where the province keeps it. */
    assert_int_equal(minyid(&prov, wit, out), 0);
    char *sig = strstr(out, "\"signature\"");
    assert_non_null(sig);
    sig = strchr(sig + strlen("\"signature\""), '"');
    assert_non_null(sig);
    sig++;
    *sig = *sig == '0' ? '1' : '0';
    char *seq_at = strstr(out, "\"seq\"");
    assert_non_null(seq_at);
    long long forged = atoll(strchr(seq_at, ':') + 1);
    itwrite_file(path, out);
    assert_int_equal(minyid(&city, ver, out), 3);
    char needle[128];
    snprintf(needle, sizeof needle, "audit broken at seq %lld: bad signature: the witness above",
             forged);
    itexpect_contains(out, needle);
}

/* The city's chain rewritten consistently from an event on, its own heads
 * deleted: it verifies alone, and the province's copies catch it. */
static void test_rewrite_caught_above(void **state)
{
    (void)state;
    static char out[OUT_MAX];
    char sql[768], path[128], needle[160];
    long long seq = claim_seq(0);
    long long first = witnessed_from(seq);

    /* What the province holds now: heads of the chain as it was. */
    snprintf(path, sizeof path, "%s/witness-before.jsonl", dir);
    const char *wit[] = { "audit", "witness", "--peer", peer_id, NULL };
    assert_int_equal(minyid(&prov, wit, out), 0);
    itwrite_file(path, out);

    snprintf(sql, sizeof sql,
             "UPDATE events SET note = 'rewritten' WHERE id = (SELECT ref_id FROM audit_chain"
             "   WHERE seq = %lld);"
             " DELETE FROM audit_chain WHERE seq >= %lld;"
             " DELETE FROM audit_heads;"
             " UPDATE audit_marks m SET pend_id = NULL, pend_xmax = NULL,"
             "   hwm = coalesce((SELECT max(ref_id) FROM audit_chain c"
             "                   WHERE c.source = m.source), 0)", seq, seq);
    itdb_exec(city.conninfo, sql);
    /* The city's sealer recomputes the chain from there. */
    assert_true(itwait_text(city.conninfo,
                            "SELECT ((SELECT count(*) FROM reports) + (SELECT count(*) FROM events)"
                            " + (SELECT count(*) FROM admin_events) = (SELECT count(*)"
                            " FROM audit_chain))::text", NULL, "true", WITHIN_MS));

    const char *alone[] = { "audit", "verify", NULL };
    assert_int_equal(minyid(&city, alone, out), 0);
    itexpect_contains(out, "audit ok: ");

    const char *ver[] = { "audit", "verify", "--witness", path, NULL };
    assert_int_equal(minyid(&city, ver, out), 3);
    snprintf(needle, sizeof needle,
             "audit broken at seq %lld: rewritten: the chain disagrees with the witness above",
             first);
    itexpect_contains(out, needle);
}

/* A head that is not a head is refused, naming the field. */
static void test_malformed_head_refused(void **state)
{
    (void)state;
    struct client_conn *peer = itconnect_gw(&prov.gw, "peer2");
    struct frame_arena *a = NULL;
    uint8_t hash[32] = { 1 }, sig[10] = { 2 };
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ResultsRequest q = MINYI__V1__RESULTS_REQUEST__INIT;
    Minyi__V1__AuditHead h = MINYI__V1__AUDIT_HEAD__INIT;
    h.seq = 5;
    h.hash.data = hash;
    h.hash.len = sizeof hash;
    h.signature.data = sig;
    h.signature.len = sizeof sig;
    q.audit_head = &h;
    f.body_case = MINYI__V1__FRAME__BODY_RESULTS;
    f.results = &q;
    Frame *ans = itcall(peer, &f, &a);
    itexpect_error(ans, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "results.audit_head");
    frame_arena_free(a);
    client_close(peer);
}

/* Sends a results request carrying the head (seq, hash, signature) as
 * the peer of certificate cert, on a new connection; answers the frame
 * (freed with *a). */
static Frame *results_as(const char *cert, int64_t seq, uint8_t *hash, uint8_t *sig,
                         struct frame_arena **a)
{
    struct client_conn *peer = itconnect_gw(&prov.gw, cert);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ResultsRequest q = MINYI__V1__RESULTS_REQUEST__INIT;
    Minyi__V1__AuditHead h = MINYI__V1__AUDIT_HEAD__INIT;
    h.seq = seq;
    h.hash.data = hash;
    h.hash.len = AUDIT_HASH_LEN;
    h.signature.data = sig;
    h.signature.len = AUDIT_SIG_MAX;
    q.audit_head = &h;
    f.body_case = MINYI__V1__FRAME__BODY_RESULTS;
    f.results = &q;
    Frame *ans = itcall(peer, &f, a);
    client_close(peer);
    return ans;
}

/* results_as the city's peer. */
static Frame *results_with_head(int64_t seq, uint8_t *hash, uint8_t *sig, struct frame_arena **a)
{
    return results_as("peer2", seq, hash, sig, a);
}

/* Signs the head (CITY_REGION, seq, hash) with the key in dir/name. */
static void sign_with(const char *name, int64_t seq, const uint8_t *hash, uint8_t *sig)
{
    char path[128];
    size_t len = AUDIT_SIG_MAX;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    assert_true(audit_head_sign(k, CITY_REGION, seq, hash, sig, &len));
    assert_int_equal(len, AUDIT_SIG_MAX);
    EVP_PKEY_free(k);
}

static long long witnessed_at(long long seq)
{
    char seq_s[24];
    snprintf(seq_s, sizeof seq_s, "%lld", seq);
    const char *p[] = { peer_id, seq_s };
    return tdb_scalar(prov.conninfo, "SELECT count(*) FROM audit_witness"
                      " WHERE peer = $1::int8 AND seq = $2::int8", 2, p);
}

/* Heads from a peer with an audit key registered are kept as checked; a
 * peer with none has its heads kept too, marked unchecked, and the city's
 * verify against them says so. */
static void test_unregistered_peer_kept_unchecked(void **state)
{
    (void)state;
    static char out[OUT_MAX];
    char path[128];
    const char *p2[] = { peer_id };
    char *all = itdb_text(prov.conninfo, "SELECT bool_and(checked)::text FROM audit_witness"
                          " WHERE peer = $1::int8", 1, p2);
    assert_non_null(all);
    assert_string_equal(all, "true");
    free(all);

    /* A second peer principal of the city's region, no key registered. */
    int64_t other = tprincipal_add(prov.conninfo, "peer1", "peer", CITY_REGION, true);
    assert_true(other > 0);
    char other_id[24];
    snprintf(other_id, sizeof other_id, "%lld", (long long)other);
    /* The city's newest signed head (the rewrite above deleted the older
     * ones: two new rows make the sealer sign one). */
    struct client_conn *c = itconnect_gw(&city.gw, "contact1");
    for (int i = 0; i < 2; i++) {
        Minyi__V1__Report *r = tmake_report(NULL, NULL);
        assert_non_null(r);
        itsubmit_ok(c, r, NULL);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    client_close(c);
    assert_true(itwait_text(city.conninfo, "SELECT (count(*) > 0)::text FROM audit_heads", NULL,
                            "true", WITHIN_MS));
    char *head = itdb_text(city.conninfo, "SELECT seq || ' ' || encode(hash, 'hex') || ' '"
                           " || encode(signature, 'hex') FROM audit_heads"
                           " ORDER BY seq DESC LIMIT 1", 0, NULL);
    assert_non_null(head);
    char hash_hex[2 * AUDIT_HASH_LEN + 1], sig_hex[2 * AUDIT_SIG_MAX + 1];
    long long seq = 0;
    assert_int_equal(sscanf(head, "%lld %64s %128s", &seq, hash_hex, sig_hex), 3);
    free(head);
    uint8_t hash[AUDIT_HASH_LEN], sig[AUDIT_SIG_MAX];
    assert_true(hex_decode(hash_hex, hash, sizeof hash));
    assert_true(hex_decode(sig_hex, sig, sizeof sig));
    struct frame_arena *a = NULL;
    assert_int_equal(results_as("peer1", seq, hash, sig, &a)->body_case,
                     MINYI__V1__FRAME__BODY_RESULTS_OK);
    frame_arena_free(a);

    const char *wit[] = { "audit", "witness", "--peer", other_id, NULL };
    assert_int_equal(minyid(&prov, wit, out), 0);
    itexpect_contains(out, "\"checked\" : false");
    snprintf(path, sizeof path, "%s/witness-unchecked.jsonl", dir);
    itwrite_file(path, out);
    const char *ver[] = { "audit", "verify", "--witness", path, NULL };
    assert_int_equal(minyid(&city, ver, out), 0);
    itexpect_contains(out, "1 witnessed (1 of them kept unchecked above: no audit key of this"
                      " body registered there)");
}

/* A well-formed head no registered key verifies is refused and not kept;
 * after the city's key is rotated (a second key registered), heads signed
 * with either verify.  Runs last: its heads lie beyond the city's chain. */
static void test_forged_head_refused(void **state)
{
    (void)state;
    static char out[OUT_MAX];
    struct frame_arena *a = NULL;
    uint8_t hash[AUDIT_HASH_LEN], sig[AUDIT_SIG_MAX];
    memset(hash, 7, sizeof hash);
    memset(sig, 9, sizeof sig);
    itexpect_error(results_with_head(999991, hash, sig, &a),
                   MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "results.audit_head");
    frame_arena_free(a);
    assert_int_equal(witnessed_at(999991), 0);
    /* Signed by a key of the city's region that is not registered. */
    char cmd[512], pub[128];
    snprintf(cmd, sizeof cmd, "umask 077 && openssl genpkey -algorithm ed25519 -out '%s/rotated.key'"
             " && openssl pkey -in '%s/rotated.key' -pubout -out '%s/rotated.pub'", dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    sign_with("rotated.key", 999992, hash, sig);
    itexpect_error(results_with_head(999992, hash, sig, &a),
                   MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "results.audit_head");
    frame_arena_free(a);
    assert_int_equal(witnessed_at(999992), 0);

    /* The rotation: the new key registered beside the first. */
    snprintf(pub, sizeof pub, "%s/rotated.pub", dir);
    const char *reg[] = { "principal", "audit-key", peer_id, pub, NULL };
    assert_int_equal(minyid(&prov, reg, out), 0);
    assert_int_equal(results_with_head(999992, hash, sig, &a)->body_case,
                     MINYI__V1__FRAME__BODY_RESULTS_OK);
    frame_arena_free(a);
    assert_int_equal(witnessed_at(999992), 1);
    sign_with("audit.key", 999993, hash, sig);
    assert_int_equal(results_with_head(999993, hash, sig, &a)->body_case,
                     MINYI__V1__FRAME__BODY_RESULTS_OK);
    frame_arena_free(a);
    assert_int_equal(witnessed_at(999993), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heads_reach_the_province),
        cmocka_unit_test(test_rewrite_caught_above),
        cmocka_unit_test(test_malformed_head_refused),
        cmocka_unit_test(test_unregistered_peer_kept_unchecked),
        cmocka_unit_test(test_forged_head_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
