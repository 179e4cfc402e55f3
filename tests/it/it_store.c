/*
 * it_store: the store's API on a real event loop against a real throwaway
 * PostgreSQL — batches, idempotent retries (also of one id in one batch and
 * in two concurrent transactions), a failing row whose neighbours still
 * commit, status and list_mine, sealed personal fields, the database going
 * away and coming back, query timeouts, draining, and the start-up refusal
 * when fsync or synchronous_commit is off.
 */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "clock.h"
#include "harness.h"
#include "minyi.pb-c.h"
#include "pii.h"
#include "store.h"

#define BODY_REGION "330400"
#define REGION "330402"
#define MIGRATIONS MINYI_SOURCE_DIR "/storage/migrations"
#define WAIT_MS 15000              /* longest any test waits for its answers */
#define BATCH_N 50
#define LIST_N 7

/* Installed by the tests only: a row titled FAIL-ROW is refused by the
 * database, and a row titled SLOW-ROW holds its transaction open for a
 * while after inserting, so another transaction can meet it. */
static const char test_hook_sql[] =
    "CREATE FUNCTION test_hook() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF NEW.title = 'FAIL-ROW' THEN RAISE EXCEPTION 'test trigger refuses this row'; END IF;\n"
    "  IF NEW.title = 'SLOW-ROW' THEN PERFORM pg_sleep(0.6); END IF;\n"
    "  RETURN NEW;\n"
    "END $$";
static const char test_trigger_sql[] =
    "CREATE TRIGGER test_hook AFTER INSERT ON reports FOR EACH ROW EXECUTE FUNCTION test_hook()";

static const uint8_t test_key[32] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

static struct tpg g_pg;
static char g_conninfo[1024];
static struct event_base *g_base;
static struct store *g_store;
static int64_t g_p1, g_p2;
static bool g_in_call;   /* set while a store_* call runs: callbacks must not see it */

/* ---- answers ------------------------------------------------------------ */

struct answer {
    bool done;
    int code;
    const char *field;
    char message[256];
    char receipt[64];
    bool duplicate;
    int64_t received_at_ms;
    ProtobufCMessage *msg;     /* status and list answers, freed by the test */
};

static void on_reply(void *arg, struct store_reply *rep)
{
    struct answer *a = arg;

    assert_false(g_in_call);
    assert_false(a->done);
    a->done = true;
    a->code = rep->code;
    a->field = rep->field;
    snprintf(a->message, sizeof a->message, "%s", rep->message);
    if (rep->code == 0 && rep->msg &&
        rep->msg->descriptor == &minyi__v1__submit_response__descriptor) {
        Minyi__V1__SubmitResponse *m = (Minyi__V1__SubmitResponse *)rep->msg;
        size_t n = m->receipt.len < sizeof a->receipt - 1 ? m->receipt.len : sizeof a->receipt - 1;
        memcpy(a->receipt, m->receipt.data, n);
        a->receipt[n] = '\0';
        a->duplicate = m->duplicate;
        a->received_at_ms = m->received_at_ms;
        protobuf_c_message_free_unpacked(rep->msg, NULL);
    } else {
        a->msg = rep->msg;
    }
}

struct lookup {
    bool done;
    int code;
    struct principal p;
};

static void on_principal(void *arg, int code, const struct principal *p)
{
    struct lookup *l = arg;

    assert_false(g_in_call);
    l->done = true;
    l->code = code;
    if (p)
        l->p = *p;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until every answer in a[0..n) is in, failing after WAIT_MS. */
static void wait_answers(struct answer *a, size_t n)
{
    long long deadline = clock_mono_ms() + WAIT_MS;
    struct timeval tv = { 0, 20000 };
    struct event *tick = event_new(g_base, -1, EV_PERSIST, tick_cb, NULL);
    size_t i;

    assert_non_null(tick);
    event_add(tick, &tv);
    for (;;) {
        for (i = 0; i < n && a[i].done; i++)
            ;
        if (i == n)
            break;
        if (clock_mono_ms() > deadline)
            fail_msg("answer %zu of %zu did not arrive within %d ms", i, n, WAIT_MS);
        event_base_loop(g_base, EVLOOP_ONCE);
    }
    event_free(tick);
}

/* Runs the loop until cond(arg) or timeout_ms; returns cond's last value. */
static bool run_until(bool (*cond)(void *), void *arg, int timeout_ms)
{
    long long deadline = clock_mono_ms() + timeout_ms;
    struct timeval tv = { 0, 20000 };
    struct event *tick = event_new(g_base, -1, EV_PERSIST, tick_cb, NULL);
    bool ok;

    assert_non_null(tick);
    event_add(tick, &tv);
    while (!(ok = cond(arg)) && clock_mono_ms() < deadline)
        event_base_loop(g_base, EVLOOP_ONCE);
    event_free(tick);
    return ok;
}

static bool healthy(void *arg)
{
    return store_healthy(arg);
}

static bool time_reached(void *arg)
{
    return clock_mono_ms() >= *(long long *)arg;
}

static bool lookup_done(void *arg)
{
    return ((struct lookup *)arg)->done;
}

/* ---- reports ------------------------------------------------------------ */

static char *dup_s(const char *s)
{
    char *p = strdup(s);

    assert_non_null(p);
    return p;
}

static void new_uuid(char out[37])
{
    tuuid(out);
}

/* A report as the validator would hand it over.  The payload hash covers
 * the fields the tests vary. */
static struct intake_report *make_report(int64_t principal, const char *crid, const char *title,
                                         const char *situation, int reporter_kind)
{
    struct intake_report *r = calloc(1, sizeof *r);

    assert_non_null(r);
    r->principal_id = principal;
    snprintf(r->client_report_id, sizeof r->client_report_id, "%s", crid);
    r->title = dup_s(title);
    r->situation = dup_s(situation);
    r->analysis = dup_s("原因分析");
    r->suggestions = dup_s("意见建议");
    r->category = MINYI__V1__CATEGORY__SOCIETY;
    r->urgency = MINYI__V1__URGENCY__NORMAL;
    r->reporter_name = dup_s("张三");
    r->reporter_unit = dup_s("南湖区某街道");
    r->reporter_kind = reporter_kind;
    r->reporter_sector = dup_s("");
    snprintf(r->region, sizeof r->region, "%s", REGION);
    r->phone = dup_s("13800000000");
    {
        EVP_MD_CTX *h = EVP_MD_CTX_new();
        assert_non_null(h);
        assert_true(EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
                    EVP_DigestUpdate(h, crid, strlen(crid)) == 1 &&
                    EVP_DigestUpdate(h, title, strlen(title) + 1) == 1 &&
                    EVP_DigestUpdate(h, situation, strlen(situation) + 1) == 1 &&
                    EVP_DigestFinal_ex(h, r->payload_sha256, NULL) == 1);
        EVP_MD_CTX_free(h);
    }
    return r;
}

static struct intake_report *simple_report(int64_t principal, const char *crid, const char *title)
{
    return make_report(principal, crid, title, "情况：某小区停车难。", MINYI__V1__REPORTER_KIND__MEMBER);
}

static void submit(struct intake_report *r, struct answer *a)
{
    memset(a, 0, sizeof *a);
    g_in_call = true;
    store_submit(g_store, r, on_reply, a);
    g_in_call = false;
}

static long long rows_where(const char *sql, const char *param)
{
    const char *params[1] = { param };

    return tdb_scalar(g_conninfo, sql, param ? 1 : 0, params);
}

static bool receipt_ok(const char *s)
{
    size_t i;

    if (strlen(s) != 18 || strncmp(s, BODY_REGION "-", 7) != 0 || s[11] != '-')
        return false;
    for (i = 7; i < 18; i++)
        if (i != 11 && (s[i] < '0' || s[i] > '9'))
            return false;
    return true;
}

static struct store *open_store(const char *conninfo, int pool_size, int query_timeout_ms)
{
    struct store_config cfg = {
        .conninfo = conninfo,
        .pool_size = pool_size,
        .batch_max = 256,
        .queue_max = 1000,
        .reconnect_min_ms = 50,
        .reconnect_max_ms = 400,
        .query_timeout_ms = query_timeout_ms,
        .body_region = BODY_REGION,
        .pii_key = test_key,
        .pii_key_version = 3,
    };

    return store_open(g_base, &cfg);
}

/* ---- set-up ------------------------------------------------------------- */

static int group_setup(void **state)
{
    char err[512];
    uint8_t fp1[32], fp2[32];

    (void)state;
    if (!tpg_start(&g_pg) || !tpg_create_db(&g_pg, "store", g_conninfo, sizeof g_conninfo))
        return -1;
    if (!store_preflight(g_conninfo, MIGRATIONS, err, sizeof err)) {
        fprintf(stderr, "preflight: %s\n", err);
        return -1;
    }
    if (!tdb_exec(g_conninfo, test_hook_sql, 0, NULL) ||
        !tdb_exec(g_conninfo, test_trigger_sql, 0, NULL))
        return -1;
    memset(fp1, 0x11, sizeof fp1);
    memset(fp2, 0x22, sizeof fp2);
    if (!store_admin_principal_add(g_conninfo, fp1, PRINCIPAL_CONTACT, "联系点一", REGION, "",
                                   &g_p1, err, sizeof err) ||
        !store_admin_principal_add(g_conninfo, fp2, PRINCIPAL_CONTACT, "联系点二", REGION, "经济界",
                                   &g_p2, err, sizeof err)) {
        fprintf(stderr, "principal add: %s\n", err);
        return -1;
    }
    g_base = event_base_new();
    if (!g_base)
        return -1;
    g_store = open_store(g_conninfo, 4, 10000);
    if (!g_store || !run_until(healthy, g_store, WAIT_MS))
        return -1;
    return 0;
}

static void drained_cb(void *arg)
{
    *(bool *)arg = true;
}

static bool flag_set(void *arg)
{
    return *(bool *)arg;
}

static int group_teardown(void **state)
{
    bool drained = false;

    (void)state;
    if (g_store) {
        store_drain(g_store, drained_cb, &drained);
        run_until(flag_set, &drained, WAIT_MS);
        store_free(g_store);
    }
    if (g_base)
        event_base_free(g_base);
    tpg_destroy(&g_pg);
    return 0;
}

/* ---- tests -------------------------------------------------------------- */

static void test_preflight_again_applies_nothing(void **state)
{
    char err[512];

    (void)state;
    glob_t files;

    assert_true(store_preflight(g_conninfo, MIGRATIONS, err, sizeof err));
    /* One row per migration file, each applied once. */
    assert_int_equal(glob(MIGRATIONS "/[0-9]*.sql", 0, NULL, &files), 0);
    assert_int_equal(rows_where("SELECT count(*) FROM schema_migrations", NULL),
                     (long long)files.gl_pathc);
    globfree(&files);
}

/* Many submissions queued in one loop pass are stored together, each with
 * its own receipt, a RECEIVED event and sealed personal fields. */
static void test_submit_batch(void **state)
{
    struct answer a[BATCH_N];
    char crid[BATCH_N][37];
    int i, j;

    (void)state;
    for (i = 0; i < BATCH_N; i++) {
        struct intake_report *r;
        new_uuid(crid[i]);
        r = make_report(g_p1, crid[i], "批量标题", "批量情况",
                        i % 2 ? MINYI__V1__REPORTER_KIND__CITIZEN : MINYI__V1__REPORTER_KIND__MEMBER);
        if (i == 0) {
            /* One attachment, with bytes that are not text. */
            static const uint8_t bin[] = { 0, 1, 2, 0xff, 0xfe, '\\', '\'', 0 };
            r->attachments = calloc(1, sizeof *r->attachments);
            assert_non_null(r->attachments);
            r->n_attachments = 1;
            r->attachments[0].name = dup_s("附件.bin");
            r->attachments[0].media_type = dup_s("application/octet-stream");
            r->attachments[0].content = malloc(sizeof bin);
            assert_non_null(r->attachments[0].content);
            memcpy(r->attachments[0].content, bin, sizeof bin);
            r->attachments[0].content_len = sizeof bin;
            SHA256(bin, sizeof bin, r->attachments[0].sha256);
        }
        submit(r, &a[i]);
        assert_false(a[i].done);
    }
    wait_answers(a, BATCH_N);
    for (i = 0; i < BATCH_N; i++) {
        assert_int_equal(a[i].code, 0);
        assert_true(receipt_ok(a[i].receipt));
        assert_false(a[i].duplicate);
        assert_true(a[i].received_at_ms > 0);
        for (j = 0; j < i; j++)
            assert_string_not_equal(a[i].receipt, a[j].receipt);
        assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE receipt = $1", a[i].receipt), 1);
        assert_int_equal(rows_where("SELECT count(*) FROM reports r, minyi_history_rows(r.id) h"
                                    " WHERE r.receipt = $1 AND h.state = 'RECEIVED'", a[i].receipt), 1);
    }
    /* All of them went in one transaction. */
    assert_int_equal(rows_where("SELECT count(DISTINCT xmin::text) FROM reports WHERE title = '批量标题'",
                                NULL), 1);
    assert_int_equal(rows_where("SELECT count(*) FROM attachments a JOIN reports r ON r.id = a.report_id"
                                " WHERE r.receipt = $1 AND a.content = '\\x000102fffe5c2700'::bytea",
                                a[0].receipt), 1);
    /* Personal fields are sealed: the phone never in plain text, a citizen's
     * name only sealed, a member's name in plain text. */
    assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE position('13800000000'::bytea IN phone_enc) > 0",
                                NULL), 0);
    assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE title = '批量标题' AND reporter_kind = 7"
                                " AND reporter_name IS NULL AND reporter_name_enc IS NOT NULL", NULL), BATCH_N / 2);
    assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE title = '批量标题' AND reporter_kind = 1"
                                " AND reporter_name = '张三' AND reporter_name_enc IS NULL", NULL), BATCH_N / 2);
    assert_int_equal(rows_where("SELECT count(*) FROM reports r JOIN report_keys k ON k.report_id = r.id"
                                " WHERE r.title = '批量标题' AND k.key_version = 3", NULL), BATCH_N);
}

/* The sealed phone opens with the key and only for its own column. */
static void test_pii_sealed_phone_opens(void **state)
{
    PGconn *pg = PQconnectdb(g_conninfo);
    PGresult *res;
    uint8_t *sealed, plain[64], dek[PII_KEY_LEN];
    size_t len;
    struct pii_keyring ring;

    (void)state;
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    res = PQexecParams(pg, "SELECT r.phone_enc, r.reporter_name_enc, k.wrapped, k.key_version"
                           " FROM reports r JOIN report_keys k ON k.report_id = r.id"
                           " WHERE r.reporter_kind = 7 LIMIT 1",
                       0, NULL, NULL, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), 1);
    /* The report's data key, wrapped under master key version 3. */
    assert_int_equal(PQgetlength(res, 0, 2), PII_WRAPPED_LEN);
    assert_true(pii_keyring_build(&ring, test_key, 3, NULL));
    assert_true(pii_keyring_unwrap(&ring, (const uint8_t *)PQgetvalue(res, 0, 2),
                                   PII_WRAPPED_LEN, dek));
    sealed = (uint8_t *)PQgetvalue(res, 0, 0);
    len = (size_t)PQgetlength(res, 0, 0);
    assert_int_equal(len, strlen("13800000000") + PII_OVERHEAD);
    assert_true(pii_dek_open(dek, "minyi:reports.phone_enc", sealed, len, plain));
    assert_memory_equal(plain, "13800000000", 11);
    assert_false(pii_dek_open(dek, "minyi:reports.reporter_name_enc", sealed, len, plain));
    /* Not under the master key itself. */
    assert_false(pii_open(test_key, 3, "minyi:reports.phone_enc", sealed, len, plain));
    sealed = (uint8_t *)PQgetvalue(res, 0, 1);
    len = (size_t)PQgetlength(res, 0, 1);
    assert_true(pii_dek_open(dek, "minyi:reports.reporter_name_enc", sealed, len, plain));
    assert_memory_equal(plain, "张三", strlen("张三"));
    PQclear(res);
    PQfinish(pg);
}

/* A retry with the same id and payload answers the first receipt; the same
 * id with another payload is a CONFLICT; neither stores a row. */
static void test_idempotent_retry(void **state)
{
    struct answer a, b, c;
    char crid[37];

    (void)state;
    new_uuid(crid);
    submit(simple_report(g_p1, crid, "重试"), &a);
    wait_answers(&a, 1);
    assert_int_equal(a.code, 0);
    assert_false(a.duplicate);

    submit(simple_report(g_p1, crid, "重试"), &b);
    wait_answers(&b, 1);
    assert_int_equal(b.code, 0);
    assert_true(b.duplicate);
    assert_string_equal(a.receipt, b.receipt);
    assert_int_equal(a.received_at_ms, b.received_at_ms);

    submit(simple_report(g_p1, crid, "改了标题"), &c);
    wait_answers(&c, 1);
    assert_int_equal(c.code, MINYI__V1__ERROR_CODE__CONFLICT);
    assert_string_equal(c.field, "report.client_report_id");

    assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE client_report_id = $1::uuid", crid), 1);
}

/* The same id from another principal is another report. */
static void test_same_id_other_principal(void **state)
{
    struct answer a, b;
    char crid[37];

    (void)state;
    new_uuid(crid);
    submit(simple_report(g_p1, crid, "同号"), &a);
    submit(simple_report(g_p2, crid, "同号"), &b);
    wait_answers(&a, 1);
    wait_answers(&b, 1);
    assert_int_equal(a.code, 0);
    assert_int_equal(b.code, 0);
    assert_false(a.duplicate);
    assert_false(b.duplicate);
    assert_string_not_equal(a.receipt, b.receipt);
}

/* Two submissions of one id in the same batch: one row, one receipt. */
static void test_same_id_one_batch(void **state)
{
    struct answer a[3];
    char crid[37];

    (void)state;
    new_uuid(crid);
    submit(simple_report(g_p1, crid, "同批"), &a[0]);
    submit(simple_report(g_p1, crid, "同批"), &a[1]);
    submit(simple_report(g_p1, crid, "同批但不同"), &a[2]);
    wait_answers(a, 3);
    assert_int_equal(a[0].code, 0);
    assert_int_equal(a[1].code, 0);
    assert_string_equal(a[0].receipt, a[1].receipt);
    assert_true(a[0].duplicate != a[1].duplicate);
    assert_int_equal(a[2].code, MINYI__V1__ERROR_CODE__CONFLICT);
    assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE client_report_id = $1::uuid", crid), 1);
}

/* Two submissions of one id in two transactions on two connections at the
 * same time: the first holds its transaction open (SLOW-ROW), the second
 * waits for it on the unique index and then answers the same receipt. */
static void test_same_id_two_batches(void **state)
{
    struct answer a[2];
    char crid[37];
    long long t0 = clock_mono_ms();

    (void)state;
    new_uuid(crid);
    submit(simple_report(g_p1, crid, "SLOW-ROW"), &a[0]);
    /* The first batch is sent and its row inserted (its transaction then
     * sleeps), so the second goes to another connection while the first
     * transaction is still open. */
    {
        long long until = clock_mono_ms() + 150;
        run_until(time_reached, &until, 1000);
    }
    assert_false(a[0].done);
    submit(simple_report(g_p1, crid, "SLOW-ROW"), &a[1]);
    wait_answers(a, 2);
    assert_true(clock_mono_ms() - t0 >= 500);
    assert_int_equal(a[0].code, 0);
    assert_int_equal(a[1].code, 0);
    assert_string_equal(a[0].receipt, a[1].receipt);
    assert_false(a[0].duplicate);
    assert_true(a[1].duplicate);
    assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE client_report_id = $1::uuid", crid), 1);
}

/* A row the database refuses costs only itself: its neighbours commit. */
static void test_failing_row_spares_neighbours(void **state)
{
    struct answer a[5];
    char crid[5][37];
    int i;

    (void)state;
    for (i = 0; i < 5; i++) {
        new_uuid(crid[i]);
        submit(simple_report(g_p1, crid[i], i == 2 ? "FAIL-ROW" : "邻居"), &a[i]);
    }
    wait_answers(a, 5);
    for (i = 0; i < 5; i++) {
        if (i == 2) {
            assert_int_equal(a[i].code, MINYI__V1__ERROR_CODE__INTERNAL);
            assert_non_null(strstr(a[i].message, "test trigger refuses this row"));
            assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE client_report_id = $1::uuid",
                                        crid[i]), 0);
        } else {
            assert_int_equal(a[i].code, 0);
            assert_true(receipt_ok(a[i].receipt));
            assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE receipt = $1", a[i].receipt), 1);
        }
    }
}

/* Status shows the state and history to the owner and NOT_FOUND to anyone
 * else; list_mine pages through the owner's reports newest first. */
static void test_status_and_list(void **state)
{
    struct answer a[LIST_N], s, other, bogus, bad;
    char crid[37], cursor[32] = "";
    int i, seen = 0;
    Minyi__V1__StatusResponse *st;

    (void)state;
    /* A principal of its own, so the list holds exactly these reports. */
    {
        uint8_t fp[32];
        char err[256];
        int64_t p3;
        memset(fp, 0x33, sizeof fp);
        assert_true(store_admin_principal_add(g_conninfo, fp, PRINCIPAL_CONTACT, "联系点三", REGION,
                                              "", &p3, err, sizeof err));
        for (i = 0; i < LIST_N; i++) {
            char title[32];
            snprintf(title, sizeof title, "列表%d", i);
            new_uuid(crid);
            submit(simple_report(p3, crid, title), &a[i]);
            wait_answers(&a[i], 1);
            assert_int_equal(a[i].code, 0);
        }

        memset(&s, 0, sizeof s);
        store_status(g_store, p3, a[0].receipt, on_reply, &s);
        memset(&other, 0, sizeof other);
        store_status(g_store, g_p1, a[0].receipt, on_reply, &other);
        memset(&bogus, 0, sizeof bogus);
        g_in_call = true;
        store_status(g_store, p3, "330400-2000-99999'", on_reply, &bogus);
        g_in_call = false;
        wait_answers(&s, 1);
        wait_answers(&other, 1);
        wait_answers(&bogus, 1);
        assert_int_equal(s.code, 0);
        st = (Minyi__V1__StatusResponse *)s.msg;
        assert_non_null(st);
        assert_int_equal(st->receipt.len, strlen(a[0].receipt));
        assert_memory_equal(st->receipt.data, a[0].receipt, st->receipt.len);
        assert_int_equal(st->state, MINYI__V1__REPORT_STATE__RECEIVED);
        assert_memory_equal(st->title.data, "列表0", st->title.len);
        assert_int_equal(st->received_at_ms, a[0].received_at_ms);
        assert_int_equal(st->n_history, 1);
        assert_int_equal(st->history[0]->state, MINYI__V1__REPORT_STATE__RECEIVED);
        assert_memory_equal(st->history[0]->action.data, "received", st->history[0]->action.len);
        assert_int_equal(st->history[0]->at_ms, a[0].received_at_ms);
        protobuf_c_message_free_unpacked(s.msg, NULL);
        assert_int_equal(other.code, MINYI__V1__ERROR_CODE__NOT_FOUND);
        assert_int_equal(bogus.code, MINYI__V1__ERROR_CODE__NOT_FOUND);

        /* Pages of 3: 3, 3, 1, newest first. */
        for (int page = 0; page < 3; page++) {
            struct answer l;
            Minyi__V1__ListMineResponse *m;
            memset(&l, 0, sizeof l);
            store_list_mine(g_store, p3, 3, cursor, on_reply, &l);
            wait_answers(&l, 1);
            assert_int_equal(l.code, 0);
            m = (Minyi__V1__ListMineResponse *)l.msg;
            assert_int_equal(m->n_reports, page < 2 ? 3 : 1);
            for (size_t k = 0; k < m->n_reports; k++, seen++) {
                const char *want = a[LIST_N - 1 - seen].receipt;
                assert_int_equal(m->reports[k]->receipt.len, strlen(want));
                assert_memory_equal(m->reports[k]->receipt.data, want, strlen(want));
                assert_int_equal(m->reports[k]->state, MINYI__V1__REPORT_STATE__RECEIVED);
            }
            if (page < 2) {
                assert_true(m->next_cursor.len > 0 && m->next_cursor.len < sizeof cursor);
                memcpy(cursor, m->next_cursor.data, m->next_cursor.len);
                cursor[m->next_cursor.len] = '\0';
            } else {
                assert_int_equal(m->next_cursor.len, 0);
            }
            protobuf_c_message_free_unpacked(l.msg, NULL);
        }
        assert_int_equal(seen, LIST_N);
    }

    memset(&bad, 0, sizeof bad);
    g_in_call = true;
    store_list_mine(g_store, g_p1, 0, "not-a-cursor", on_reply, &bad);
    g_in_call = false;
    wait_answers(&bad, 1);
    assert_int_equal(bad.code, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT);
    assert_string_equal(bad.field, "list_mine.cursor");
}

static void test_principal_lookup(void **state)
{
    struct lookup l, none;
    uint8_t fp[32], unknown[32];
    char err[256];

    (void)state;
    memset(fp, 0x22, sizeof fp);
    memset(unknown, 0x99, sizeof unknown);
    memset(&l, 0, sizeof l);
    memset(&none, 0, sizeof none);
    g_in_call = true;
    store_principal_lookup(g_store, fp, on_principal, &l);
    store_principal_lookup(g_store, unknown, on_principal, &none);
    g_in_call = false;
    assert_true(run_until(lookup_done, &l, WAIT_MS));
    assert_true(run_until(lookup_done, &none, WAIT_MS));
    assert_int_equal(l.code, 0);
    assert_int_equal(l.p.id, g_p2);
    assert_int_equal(l.p.kind, PRINCIPAL_CONTACT);
    assert_true(l.p.active);
    assert_string_equal(l.p.name, "联系点二");
    assert_string_equal(l.p.region, REGION);
    assert_string_equal(l.p.sector, "经济界");
    assert_int_equal(none.code, MINYI__V1__ERROR_CODE__NOT_FOUND);

    assert_true(store_admin_principal_set_active(g_conninfo, g_p2, false, err, sizeof err));
    memset(&l, 0, sizeof l);
    store_principal_lookup(g_store, fp, on_principal, &l);
    assert_true(run_until(lookup_done, &l, WAIT_MS));
    assert_int_equal(l.code, 0);
    assert_false(l.p.active);
    assert_true(store_admin_principal_set_active(g_conninfo, g_p2, true, err, sizeof err));
    assert_false(store_admin_principal_set_active(g_conninfo, 999999, true, err, sizeof err));
}

/* A query outstanding longer than query_timeout_ms answers UNAVAILABLE; the
 * client's retry with the same id then finds the row if it did commit. */
static void test_query_timeout(void **state)
{
    struct store *saved = g_store;
    struct answer a, b;
    char crid[37];
    bool drained = false;

    (void)state;
    g_store = open_store(g_conninfo, 1, 200);
    assert_non_null(g_store);
    assert_true(run_until(healthy, g_store, WAIT_MS));
    new_uuid(crid);
    submit(simple_report(g_p1, crid, "SLOW-ROW"), &a);
    wait_answers(&a, 1);
    assert_int_equal(a.code, MINYI__V1__ERROR_CODE__UNAVAILABLE);
    /* The connection was reset and comes back. */
    assert_true(run_until(healthy, g_store, WAIT_MS));
    store_drain(g_store, drained_cb, &drained);
    assert_true(run_until(flag_set, &drained, WAIT_MS));
    store_free(g_store);
    g_store = saved;

    /* The server finished the statement after we left: the retry answers
     * its receipt, or stores it now; either way exactly one row. */
    submit(simple_report(g_p1, crid, "SLOW-ROW"), &b);
    wait_answers(&b, 1);
    assert_int_equal(b.code, 0);
    assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE client_report_id = $1::uuid", crid), 1);
}

/* With no database to reach, a submission is answered UNAVAILABLE at once
 * (on the loop, not inside the call). */
static void test_unreachable_database(void **state)
{
    struct store *saved = g_store;
    struct answer a;
    char crid[37], conninfo[PATH_MAX + 128];
    long long t0;

    (void)state;
    snprintf(conninfo, sizeof conninfo, "host=%s/nowhere port=1 dbname=store connect_timeout=2",
             g_pg.sock);
    g_store = open_store(conninfo, 2, 10000);
    assert_non_null(g_store);
    assert_false(store_healthy(g_store));
    new_uuid(crid);
    t0 = clock_mono_ms();
    submit(simple_report(g_p1, crid, "无库"), &a);
    assert_false(a.done);
    wait_answers(&a, 1);
    assert_true(clock_mono_ms() - t0 < 1000);
    assert_int_equal(a.code, MINYI__V1__ERROR_CODE__UNAVAILABLE);
    store_free(g_store);
    g_store = saved;
}

/* PostgreSQL stopped under a running store: answers are UNAVAILABLE, never
 * a receipt without a row; once it is back the store reconnects. */
static void test_database_restart(void **state)
{
    struct answer a, b;
    char crid[37];
    long long t0;

    (void)state;
    assert_true(tpg_stop(&g_pg, "fast"));
    new_uuid(crid);
    t0 = clock_mono_ms();
    submit(simple_report(g_p1, crid, "重启"), &a);
    wait_answers(&a, 1);
    assert_int_equal(a.code, MINYI__V1__ERROR_CODE__UNAVAILABLE);
    assert_true(clock_mono_ms() - t0 < 2000);
    assert_false(store_healthy(g_store));

    assert_true(tpg_start_again(&g_pg));
    assert_true(run_until(healthy, g_store, WAIT_MS));
    submit(simple_report(g_p1, crid, "重启"), &b);
    wait_answers(&b, 1);
    assert_int_equal(b.code, 0);
    assert_false(b.duplicate);
    assert_int_equal(rows_where("SELECT count(*) FROM reports WHERE client_report_id = $1::uuid", crid), 1);
}

/* Draining answers everything queued before done is called. */
static void test_drain_finishes_queued(void **state)
{
    struct store *saved = g_store;
    struct answer a[20];
    char crid[37];
    bool drained = false;
    int i;

    (void)state;
    g_store = open_store(g_conninfo, 2, 10000);
    assert_non_null(g_store);
    assert_true(run_until(healthy, g_store, WAIT_MS));
    for (i = 0; i < 20; i++) {
        new_uuid(crid);
        submit(simple_report(g_p1, crid, "排空"), &a[i]);
    }
    g_in_call = true;
    store_drain(g_store, drained_cb, &drained);
    g_in_call = false;
    assert_false(drained);
    assert_true(run_until(flag_set, &drained, WAIT_MS));
    for (i = 0; i < 20; i++) {
        assert_true(a[i].done);
        assert_int_equal(a[i].code, 0);
    }
    /* After draining, new work is refused. */
    new_uuid(crid);
    submit(simple_report(g_p1, crid, "排空后"), &a[0]);
    wait_answers(&a[0], 1);
    assert_int_equal(a[0].code, MINYI__V1__ERROR_CODE__UNAVAILABLE);
    store_free(g_store);
    g_store = saved;
}

/* A full submission queue answers RESOURCE_EXHAUSTED. */
static void test_queue_full(void **state)
{
    struct store *saved = g_store;
    struct store_config cfg = {
        .conninfo = g_conninfo, .pool_size = 1, .batch_max = 2, .queue_max = 3,
        .query_timeout_ms = 10000, .body_region = BODY_REGION, .pii_key = test_key,
        .pii_key_version = 1,
    };
    struct answer a[8];
    char crid[37];
    bool drained = false;
    int i, exhausted = 0;

    (void)state;
    g_store = store_open(g_base, &cfg);
    assert_non_null(g_store);
    assert_true(run_until(healthy, g_store, WAIT_MS));
    for (i = 0; i < 8; i++) {
        new_uuid(crid);
        submit(simple_report(g_p1, crid, "满"), &a[i]);
    }
    wait_answers(a, 8);
    for (i = 0; i < 8; i++) {
        if (a[i].code == MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED)
            exhausted++;
        else
            assert_int_equal(a[i].code, 0);
    }
    assert_int_equal(exhausted, 5);
    store_drain(g_store, drained_cb, &drained);
    assert_true(run_until(flag_set, &drained, WAIT_MS));
    store_free(g_store);
    g_store = saved;
}

/* minyid must not start on a database that could lose committed reports. */
static void test_preflight_refuses_unsafe_settings(void **state)
{
    char err[512];

    (void)state;
    assert_true(tdb_exec(g_conninfo, "ALTER SYSTEM SET fsync = off", 0, NULL));
    assert_true(tdb_exec(g_conninfo, "SELECT pg_reload_conf()", 0, NULL));
    clock_sleep_ms(300);
    assert_false(store_preflight(g_conninfo, MIGRATIONS, err, sizeof err));
    assert_non_null(strstr(err, "fsync"));
    assert_true(tdb_exec(g_conninfo, "ALTER SYSTEM RESET fsync", 0, NULL));
    assert_true(tdb_exec(g_conninfo, "SELECT pg_reload_conf()", 0, NULL));
    clock_sleep_ms(300);
    assert_true(store_preflight(g_conninfo, MIGRATIONS, err, sizeof err));

    assert_true(tdb_exec(g_conninfo, "ALTER DATABASE store SET synchronous_commit = off", 0, NULL));
    assert_false(store_preflight(g_conninfo, MIGRATIONS, err, sizeof err));
    assert_non_null(strstr(err, "synchronous_commit"));
    assert_true(tdb_exec(g_conninfo, "ALTER DATABASE store RESET synchronous_commit", 0, NULL));
    assert_true(store_preflight(g_conninfo, MIGRATIONS, err, sizeof err));
}

/* A database migrated by a newer program is refused, not written to. */
static void test_preflight_refuses_newer_schema(void **state)
{
    char err[512];

    (void)state;
    assert_true(tdb_exec(g_conninfo, "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')",
                         0, NULL));
    assert_false(store_preflight(g_conninfo, MIGRATIONS, err, sizeof err));
    assert_non_null(strstr(err, "9999"));
    assert_true(tdb_exec(g_conninfo, "DELETE FROM schema_migrations WHERE version = 9999", 0, NULL));
    assert_true(store_preflight(g_conninfo, MIGRATIONS, err, sizeof err));
}

/* The operator's commands: list shows every principal on one line, a
 * certificate cannot be registered twice. */
static void test_admin_commands(void **state)
{
    uint8_t fp[32];
    char err[256], line[512], want[64];
    int64_t id;
    FILE *f = tmpfile();
    bool found = false;

    (void)state;
    assert_non_null(f);
    memset(fp, 0x11, sizeof fp);
    assert_false(store_admin_principal_add(g_conninfo, fp, PRINCIPAL_EDITOR, "again", REGION, "",
                                           &id, err, sizeof err));
    assert_non_null(strstr(err, "exists"));
    assert_false(store_admin_principal_add(g_conninfo, fp, PRINCIPAL_EDITOR, "x", "33040", "",
                                           &id, err, sizeof err));
    assert_true(store_admin_principal_list(g_conninfo, f, false, err, sizeof err));
    rewind(f);
    snprintf(want, sizeof want, "%lld contact active 1111", (long long)g_p1);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, want, strlen(want)) == 0 && strstr(line, " 联系点一\n"))
            found = true;
    fclose(f);
    assert_true(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preflight_again_applies_nothing),
        cmocka_unit_test(test_submit_batch),
        cmocka_unit_test(test_pii_sealed_phone_opens),
        cmocka_unit_test(test_idempotent_retry),
        cmocka_unit_test(test_same_id_other_principal),
        cmocka_unit_test(test_same_id_one_batch),
        cmocka_unit_test(test_same_id_two_batches),
        cmocka_unit_test(test_failing_row_spares_neighbours),
        cmocka_unit_test(test_status_and_list),
        cmocka_unit_test(test_principal_lookup),
        cmocka_unit_test(test_query_timeout),
        cmocka_unit_test(test_unreachable_database),
        cmocka_unit_test(test_drain_finishes_queued),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_database_restart),
        cmocka_unit_test(test_preflight_refuses_unsafe_settings),
        cmocka_unit_test(test_preflight_refuses_newer_schema),
        cmocka_unit_test(test_admin_commands),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
