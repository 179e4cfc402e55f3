/*
 * it_inbox: 码上商 from the contact point's side, over real TLS against a
 * real gateway and database, driven through the `minyi` CLI.
 *
 * The poster's PNG decodes (zbarimg) back to the URL the gateway signed;
 * rotating the contact point's tokens gives a new URL and revokes the old
 * one.  Messages from the public are stored here through the storage
 * library's public door (the same call the public form makes), sealed
 * under the gateway's own personal-data key; the contact point lists,
 * reads, replies, dismisses and converts them, and the pickup code shows
 * only the reply and the outcome of the report they became.  Converting is
 * one transaction: a failure while marking the messages leaves no report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "clock.h"
#include "hex.h"
#include "itkit.h"
#include "public_msg.h"
#include "store.h"

#define WAIT_MS 20000
#define OUT_LEN 65536
#define BASE_URL "https://127.0.0.1:8443"

static struct itenv env;
static char dir[512], pub_key[600], ini[2048];
static char prof_c1[600], prof_c2[600], prof_ed[600], prof_office[600];
static struct event_base *base;
static struct store *st;
static char out[OUT_LEN], err[OUT_LEN];

/* ---- the public door, in this process ----------------------------------- */

struct answer {
    bool done;
    int code;
    char field[64];
    ProtobufCMessage *msg;
};

static void on_reply(void *arg, struct store_reply *rep)
{
    struct answer *a = arg;
    a->done = true;
    a->code = rep->code;
    snprintf(a->field, sizeof a->field, "%s", rep->field ? rep->field : "");
    a->msg = rep->msg;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void wait_answer(struct answer *a)
{
    long long deadline = clock_mono_ms() + WAIT_MS;
    struct timeval tv = { 0, 20000 };
    struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    assert_non_null(tick);
    event_add(tick, &tv);
    while (!a->done) {
        if (clock_mono_ms() > deadline)
            fail_msg("storage did not answer within %d ms", WAIT_MS);
        event_base_loop(base, EVLOOP_ONCE);
    }
    event_free(tick);
}

/* Sends a message to contact point cp at token generation gen as a member
 * of the public would; answers the error code, and the pickup code in
 * pickup when stored. */
static int send_public(int64_t cp, uint32_t gen, const char *what, const char *place,
                       const char *name, const char *phone, bool photo, char *pickup)
{
    static const uint8_t png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3 };
    struct public_msg m = {
        .contact_point_id = cp, .token_gen = gen, .what = what, .place = place,
        .name = name, .phone = phone,
    };
    struct answer a = { 0 };
    if (photo) {
        m.photos[0] = (struct public_msg_photo){ "image/png", png, sizeof png };
        m.n_photos = 1;
    }
    public_msg_submit(st, &m, on_reply, &a);
    wait_answer(&a);
    if (a.code == 0) {
        Minyi__V1__PublicSubmitResponse *r = (Minyi__V1__PublicSubmitResponse *)a.msg;
        assert_int_equal(r->pickup.len, PUBLIC_MSG_PICKUP_LEN);
        itcopy(&r->pickup, pickup, PUBLIC_MSG_PICKUP_LEN + 1);
        assert_true(public_msg_pickup_plausible(pickup));
    }
    if (a.msg != NULL)
        protobuf_c_message_free_unpacked(a.msg, NULL);
    return a.code;
}

/* What the pickup code shows; the caller frees it. */
static Minyi__V1__PickupResponse *pickup_view(const char *code)
{
    struct answer a = { 0 };
    public_msg_pickup(st, code, on_reply, &a);
    wait_answer(&a);
    assert_int_equal(a.code, 0);
    return (Minyi__V1__PickupResponse *)a.msg;
}

static bool healthy(void)
{
    long long deadline = clock_mono_ms() + WAIT_MS;
    struct timeval tv = { 0, 20000 };
    struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    event_add(tick, &tv);
    while (!store_healthy(st) && clock_mono_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return store_healthy(st);
}

/* ---- set-up ------------------------------------------------------------- */

static int setup(void **state)
{
    uint8_t key[32];
    char hex[65], path[PATH_MAX + 16];

    (void)state;
    if (!itmkdtemp(dir, sizeof dir, "inbox"))
        return -1;
    snprintf(pub_key, sizeof pub_key, "%s/public.key", dir);
    if (RAND_bytes(key, sizeof key) != 1)
        return -1;
    hex_encode(key, sizeof key, hex);
    FILE *f = fopen(pub_key, "w");
    if (f == NULL || fputs(hex, f) < 0 || fclose(f) != 0 || chmod(pub_key, 0600) != 0)
        return -1;
    snprintf(ini, sizeof ini, "[public]\ntoken_key_file = %s\nbase_url = " BASE_URL "\n",
             pub_key);
    if (!itenv_up(&env, ini) ||
        tprincipal_add(env.conninfo, "office1", "office", IT_REGION, true) <= 0)
        return -1;
    snprintf(prof_c1, sizeof prof_c1, "%s/c1.conf", dir);
    snprintf(prof_c2, sizeof prof_c2, "%s/c2.conf", dir);
    snprintf(prof_ed, sizeof prof_ed, "%s/ed.conf", dir);
    snprintf(prof_office, sizeof prof_office, "%s/office.conf", dir);
    if (!tprofile_write(prof_c1, "contact1", &env.gw) ||
        !tprofile_write(prof_c2, "contact2", &env.gw) ||
        !tprofile_write(prof_ed, "editor1", &env.gw) ||
        !tprofile_write(prof_office, "office1", &env.gw))
        return -1;

    /* The public door's store seals with the gateway's own key. */
    snprintf(path, sizeof path, "%s/pii.key", env.gw.dir);
    char *text = tfile_text(path, 200);
    static uint8_t pii[32];
    if (text == NULL || strlen(text) < 64)
        return -1;
    text[64] = '\0';
    bool ok = hex_decode(text, pii, sizeof pii);
    free(text);
    if (!ok)
        return -1;
    base = event_base_new();
    struct store_config cfg = {
        .conninfo = env.conninfo, .pool_size = 2, .batch_max = 16, .queue_max = 100,
        .reconnect_min_ms = 50, .reconnect_max_ms = 400, .query_timeout_ms = 10000,
        .body_region = "330400", .pii_key = pii, .pii_key_version = 1,
    };
    st = store_open(base, &cfg);
    return st != NULL && healthy() ? 0 : -1;
}

static void drained_cb(void *arg)
{
    *(bool *)arg = true;
}

static int teardown(void **state)
{
    bool drained = false;
    (void)state;
    if (st != NULL) {
        store_drain(st, drained_cb, &drained);
        long long deadline = clock_mono_ms() + WAIT_MS;
        while (!drained && clock_mono_ms() < deadline)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        store_free(st);
    }
    if (base != NULL)
        event_base_free(base);
    int rc = itenv_teardown(&env);
    itrmtree(dir);
    return rc;
}

static int cli(const char *profile, const char *const *args)
{
    return itrun_cli(dir, profile, args, out, err, OUT_LEN);
}

/* ---- posters ------------------------------------------------------------ */

/* The token generation in a poster URL "…?t=CP.GEN.MAC". */
static unsigned url_gen(const char *url)
{
    const char *t = strstr(url, "?t=");
    assert_non_null(t);
    const char *dot = strchr(t, '.');
    assert_non_null(dot);
    return (unsigned)strtoul(dot + 1, NULL, 10);
}

static void test_poster_decodes_and_rotates(void **state)
{
    char png[700], svg[700], url[600], scanned[700], url2[600];
    (void)state;

    snprintf(png, sizeof png, "%s/poster.png", dir);
    snprintf(svg, sizeof svg, "%s/poster.svg", dir);
    const char *const args[] = { "poster", "--png", png, "--svg", svg, NULL };
    assert_int_equal(cli(prof_c1, args), 0);
    itfirst_line(out, url, sizeof url);
    char want[100];
    snprintf(want, sizeof want, BASE_URL "/public/?t=%lld.1.", (long long)env.contact1);
    assert_memory_equal(url, want, strlen(want));

    /* The printed code reads back as the very URL. */
    const char *const zbar[] = { "/usr/bin/zbarimg", "--quiet", "--raw", png, NULL };
    assert_int_equal(itrun(dir, zbar, scanned, err, sizeof scanned), 0);
    itfirst_line(scanned, scanned, sizeof scanned);
    assert_string_equal(scanned, url);

    /* The SVG names the contact point and explains in Chinese. */
    char *s = tfile_text(svg, 1 << 20);
    assert_non_null(s);
    itexpect_contains(s, "contact1");
    itexpect_contains(s, "扫一扫");
    itexpect_contains(s, "<path");
    free(s);

    /* Rotating revokes: a new generation, and the old one is refused by
     * the public door while the new one is taken. */
    const char *const rot[] = { "poster", "--rotate", "--png", png, NULL };
    assert_int_equal(cli(prof_c1, rot), 0);
    itfirst_line(out, url2, sizeof url2);
    assert_int_equal(url_gen(url2), url_gen(url) + 1);
    assert_string_not_equal(url, url2);
    char code[16];
    assert_int_equal(send_public(env.contact1, url_gen(url), "旧海报来信", "某地", "", "", false,
                                 code),
                     MINYI__V1__ERROR_CODE__NOT_FOUND);

    /* An office makes any contact point's poster; a contact point only its
     * own; an editor none. */
    char cp2[32];
    snprintf(cp2, sizeof cp2, "%lld", (long long)env.contact2);
    const char *const other[] = { "poster", "--contact-point", cp2, "--svg", svg, NULL };
    assert_int_equal(cli(prof_office, other), 0);
    itexpect_contains(out, "/public/?t=");
    assert_int_equal(cli(prof_c1, other), 4);
    itexpect_contains(err, "principal.kind");
    const char *const own[] = { "poster", "--svg", svg, NULL };
    assert_int_equal(cli(prof_ed, own), 4);
    itexpect_contains(err, "principal.kind");
}

/* ---- the inbox ---------------------------------------------------------- */

/* The id of the newest message in contact1's inbox, from `inbox --json`. */
static long long newest_id(void)
{
    const char *const args[] = { "inbox", "--json", NULL };
    assert_int_equal(cli(prof_c1, args), 0);
    const char *p = strstr(out, "\"id\": ");
    assert_non_null(p);
    return atoll(p + 6);
}

static unsigned current_gen(int64_t cp)
{
    char q[128];
    snprintf(q, sizeof q, "SELECT public_token_gen FROM principals WHERE id = %lld",
             (long long)cp);
    return (unsigned)tdb_scalar(env.conninfo, q, 0, NULL);
}

static void test_inbox_reply_dismiss(void **state)
{
    char code[16], id[32];
    (void)state;
    unsigned gen = current_gen(env.contact1);

    assert_int_equal(send_public(env.contact1, gen, "路灯坏了一个月没人修。", "幸福路12号",
                                 "李四", "13800001111", true, code), 0);
    /* The same text again is refused: a double tap stores nothing twice. */
    char again[16];
    assert_int_equal(send_public(env.contact1, gen, "路灯坏了一个月没人修。", "幸福路12号", "",
                                 "", false, again), MINYI__V1__ERROR_CODE__CONFLICT);
    snprintf(id, sizeof id, "%lld", newest_id());
    itexpect_contains(out, "幸福路12号");
    itexpect_contains(out, "\"status\": \"new\"");

    /* The contact point reads the sender's name and phone, and the photo. */
    const char *const show[] = { "inbox", "show", id, "--photos", dir, NULL };
    assert_int_equal(cli(prof_c1, show), 0);
    itexpect_contains(out, "name: 李四");
    itexpect_contains(out, "phone: 13800001111");
    itexpect_contains(out, "photos: 1");
    /* They are sealed in the database. */
    char q[400];
    snprintf(q, sizeof q, "SELECT count(*) FROM public_messages WHERE id = %s AND"
                          " position(convert_to('13800001111', 'UTF8') in phone_enc) = 0"
                          " AND position(convert_to('李四', 'UTF8') in name_enc) = 0", id);
    assert_int_equal(tdb_scalar(env.conninfo, q, 0, NULL), 1);

    /* Another contact point does not see it. */
    assert_int_equal(cli(prof_c2, show), 6);
    itexpect_contains(err, "inbox_show.id");

    /* A reply reaches the pickup code; nothing else of the message does. */
    const char *const reply[] = { "inbox", "reply", id, "--text", "已转告街道，本周内修复。", NULL };
    assert_int_equal(cli(prof_c1, reply), 0);
    Minyi__V1__PickupResponse *v = pickup_view(code);
    char buf[256];
    itcopy(&v->status, buf, sizeof buf);
    assert_string_equal(buf, "replied");
    itcopy(&v->reply, buf, sizeof buf);
    assert_string_equal(buf, "已转告街道，本周内修复。");
    assert_int_equal(v->outcome, 0);
    protobuf_c_message_free_unpacked(&v->base, NULL);

    /* Dismissed with a reason, it is closed. */
    const char *const dismiss[] = { "inbox", "dismiss", id, "--reason", "已处理完毕", NULL };
    assert_int_equal(cli(prof_c1, dismiss), 0);
    assert_int_equal(cli(prof_c1, reply), 7);
    itexpect_contains(err, "inbox_answer.id");
    /* An unknown pickup code shows nothing. */
    struct answer a = { 0 };
    public_msg_pickup(st, "ZZZZZZZZZZ", on_reply, &a);
    wait_answer(&a);
    assert_int_equal(a.code, MINYI__V1__ERROR_CODE__NOT_FOUND);
}

static void test_convert_and_outcome(void **state)
{
    char code1[16], code2[16], id1[32], id2[32], receipt[64];
    (void)state;
    unsigned gen = current_gen(env.contact1);

    assert_int_equal(send_public(env.contact1, gen, "小区门口占道经营，早高峰堵车。", "和平路口",
                                 "", "", false, code1), 0);
    snprintf(id1, sizeof id1, "%lld", newest_id());
    assert_int_equal(send_public(env.contact1, gen, "和平路口早上摊贩多，孩子上学不安全。",
                                 "和平路口", "王五", "13900002222", true, code2), 0);
    snprintf(id2, sizeof id2, "%lld", newest_id());

    const char *const conv[] = { "inbox", "convert", id1, id2, "--region", IT_REGION,
                                 "--analysis", "管理缺位。", "--suggestions", "设置疏导点。",
                                 NULL };
    assert_int_equal(cli(prof_c1, conv), 0);
    itfirst_line(out, receipt, sizeof receipt);
    assert_true(itreceipt_well_formed(receipt));
    /* Again: the same report, no second one. */
    assert_int_equal(cli(prof_c1, conv), 0);
    char receipt2[64];
    itfirst_line(out, receipt2, sizeof receipt2);
    assert_string_equal(receipt, receipt2);
    assert_int_equal(itdb_rows_receipt(env.conninfo, receipt), 1);
    char q[300];
    snprintf(q, sizeof q, "SELECT count(*) FROM reports WHERE principal_id = %lld AND"
                          " reporter_kind = 7 AND situation LIKE '%%占道经营%%孩子上学%%'",
             (long long)env.contact1);
    assert_int_equal(tdb_scalar(env.conninfo, q, 0, NULL), 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM public_messages WHERE status = 'converted' AND"
                          " report_id = (SELECT id FROM reports WHERE receipt = '%s')", receipt);
    assert_int_equal(tdb_scalar(env.conninfo, q, 0, NULL), 2);

    /* The editor sees a 群众's report with the photo attached. */
    const char *const show[] = { "show", receipt, NULL };
    assert_int_equal(cli(prof_ed, show), 0);
    itexpect_contains(out, "王五");
    itexpect_contains(out, "photo-");

    /* A converted message cannot be converted into another report. */
    const char *const conv1[] = { "inbox", "convert", id1, "--region", IT_REGION, "--analysis",
                                  "甲", "--suggestions", "乙", "--phone", "0573-82345678", NULL };
    assert_int_equal(cli(prof_c1, conv1), 7);
    itexpect_contains(err, "inbox_convert.ids");

    /* Received, then adopted: each sender's pickup code shows the outcome. */
    Minyi__V1__PickupResponse *v = pickup_view(code1);
    assert_int_equal(v->outcome, MINYI__V1__REPORT_STATE__RECEIVED);
    protobuf_c_message_free_unpacked(&v->base, NULL);
    const char *const claim[] = { "claim", receipt, NULL };
    assert_int_equal(cli(prof_ed, claim), 0);
    const char *const adopt[] = { "adopt", receipt, NULL };
    assert_int_equal(cli(prof_ed, adopt), 0);
    const char *const codes[] = { code1, code2 };
    for (size_t i = 0; i < 2; i++) {
        v = pickup_view(codes[i]);
        assert_int_equal(v->outcome, MINYI__V1__REPORT_STATE__ADOPTED);
        assert_true(v->outcome_at_ms > 0);
        char status[32];
        itcopy(&v->status, status, sizeof status);
        assert_string_equal(status, "converted");
        protobuf_c_message_free_unpacked(&v->base, NULL);
    }
}

/* Converting is one transaction: when marking the message fails after
 * the report was stored, the report goes too, and the message stays open;
 * once marking works again, the same command makes the report once,
 * credited to the contact point with its 群众 reporter sealed. */
static void test_convert_atomic(void **state)
{
    char code[16], id[32], receipt[64], q[512];
    (void)state;
    unsigned gen = current_gen(env.contact1);

    assert_int_equal(send_public(env.contact1, gen, "桥下涵洞积水，雨天行人只能绕行。", "运河桥",
                                 "赵六", "13900003333", true, code), 0);
    snprintf(id, sizeof id, "%lld", newest_id());
    itdb_exec(env.conninfo,
              "CREATE FUNCTION it_refuse_convert() RETURNS trigger LANGUAGE plpgsql AS $$"
              " BEGIN RAISE EXCEPTION 'it_inbox: marking refused'; END $$;"
              "CREATE TRIGGER it_refuse_convert BEFORE UPDATE ON public_messages FOR EACH ROW"
              " WHEN (NEW.status = 'converted') EXECUTE FUNCTION it_refuse_convert();");
    const char *const conv[] = { "inbox", "convert", id, "--region", IT_REGION, "--analysis",
                                 "排水不畅。", "--suggestions", "疏通涵洞排水。", NULL };
    assert_int_not_equal(cli(prof_c1, conv), 0);
    snprintf(q, sizeof q, "SELECT count(*) FROM reports WHERE situation LIKE '%%涵洞积水%%'");
    assert_int_equal(tdb_scalar(env.conninfo, q, 0, NULL), 0);
    snprintf(q, sizeof q, "SELECT count(*) FROM public_messages WHERE id = %s AND"
                          " status = 'new' AND report_id IS NULL", id);
    assert_int_equal(tdb_scalar(env.conninfo, q, 0, NULL), 1);

    itdb_exec(env.conninfo, "DROP TRIGGER it_refuse_convert ON public_messages;"
                            "DROP FUNCTION it_refuse_convert();");
    assert_int_equal(cli(prof_c1, conv), 0);
    itfirst_line(out, receipt, sizeof receipt);
    assert_true(itreceipt_well_formed(receipt));
    snprintf(q, sizeof q, "SELECT count(*) FROM reports WHERE situation LIKE '%%涵洞积水%%'");
    assert_int_equal(tdb_scalar(env.conninfo, q, 0, NULL), 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM reports r JOIN public_messages m"
                          " ON m.report_id = r.id AND m.status = 'converted' AND m.id = %s"
                          " WHERE r.receipt = '%s' AND r.principal_id = %lld"
                          " AND r.reporter_kind = 7 AND r.reporter_name IS NULL"
                          " AND r.reporter_name_enc IS NOT NULL"
                          " AND (SELECT count(*) FROM attachments a WHERE a.report_id = r.id) = 1",
             id, receipt, (long long)env.contact1);
    assert_int_equal(tdb_scalar(env.conninfo, q, 0, NULL), 1);
    /* The sender's pickup code follows the report. */
    Minyi__V1__PickupResponse *v = pickup_view(code);
    assert_int_equal(v->outcome, MINYI__V1__REPORT_STATE__RECEIVED);
    protobuf_c_message_free_unpacked(&v->base, NULL);
}

/* Only a contact point has an inbox. */
static void test_inbox_only_contact(void **state)
{
    (void)state;
    const char *const args[] = { "inbox", NULL };
    assert_int_equal(cli(prof_ed, args), 4);
    itexpect_contains(err, "principal.kind");
    const char *const bad[] = { "inbox", "--status", "old", NULL };
    assert_int_equal(cli(prof_c1, bad), 3);
    itexpect_contains(err, "inbox.status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poster_decodes_and_rotates),
        cmocka_unit_test(test_inbox_reply_dismiss),
        cmocka_unit_test(test_convert_and_outcome),
        cmocka_unit_test(test_convert_atomic),
        cmocka_unit_test(test_inbox_only_contact),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
