/*
 * it_privacy: erasing a citizen's personal data.  `minyid erase RECEIPT`
 * empties the sealed phone and name (the editor sees them no more, and a
 * pg_dump taken afterwards holds not even their ciphertext), records an
 * 'erase' event, and the audit chain still verifies.  The retention
 * schedule erases a closed report's fields once its period has passed —
 * time simulated with the test clock hook, the gateway restarted with the
 * clock a month ahead — and leaves an open report alone.  Each report's
 * fields are sealed under a data key of its own, wrapped by the master key:
 * erasing destroys it, so a copy of the old ciphertext put back opens no
 * more.  A rotated master key leaves old data keys readable until
 * `minyid pii rewrap` wraps them again, and gives reports sealed before
 * data keys one.
 */
#include <limits.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "hex.h"
#include "itkit.h"
#include "pii.h"
#include "store_int.h"

#define OUT_MAX 8192
#define DUMP_MAX (64 * 1024 * 1024)
#define RETENTION_DAYS 30
#define ROUNDS_MS 2500           /* two retention rounds (one a second here) */
#define WITHIN_MS 20000          /* the schedule must erase this fast once due */

static struct itenv env;
static char dir[64];

static int setup(void **state)
{
    (void)state;
    char audit[512], extra[1024];
    if (!itmkdtemp(dir, sizeof dir, "privacy") || !itaudit_ini(dir, 2, audit, sizeof audit))
        return -1;
    snprintf(extra, sizeof extra, "%s[privacy]\nretention_days = %d\nretention_interval_s = 1\n",
             audit, RETENTION_DAYS);
    return itenv_up(&env, extra) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv(CLOCK_TEST_OFFSET_ENV);
    itrmtree(dir);
    return itenv_teardown(&env);
}

static int minyid(const char *const *args, char *out)
{
    static char err[OUT_MAX];
    int rc = itrun_minyid(dir, &env.gw, args, out, err, OUT_MAX);
    strncat(out, err, OUT_MAX - strlen(out) - 1);
    return rc;
}

/* A citizen's report with this phone and name, submitted by contact1. */
static void submit_citizen(const char *phone, const char *name, char *receipt)
{
    struct client_conn *c = itconnect(&env, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, "小区门口道路积水严重，雨天居民出行困难。");
    assert_non_null(r);
    r->reporter->kind = MINYI__V1__REPORTER_KIND__CITIZEN;
    itset(&r->reporter->name, name);
    itset(&r->phone, phone);
    itsubmit_ok(c, r, receipt);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
}

/* The phone and name an editor is shown ("" for none). */
static void shown(const char *receipt, char *phone, char *name)
{
    struct client_conn *ed = itconnect(&env, "editor1");
    struct frame_arena *a = NULL;
    const Minyi__V1__ShowResponse *s = itshow_ok(ed, receipt, &a);
    itcopy(&s->phone, phone, 24);
    itcopy(&s->reporter->name, name, 64);
    frame_arena_free(a);
    client_close(ed);
}

/* The editor is shown neither field of receipt, and one 'erase' event
 * whose note is LIKE note records why and, made by no principal, names who
 * erased (operator).  The contact point that sent the report sees that its
 * personal fields were erased, but neither the note nor who erased. */
static void expect_erased(const char *receipt, const char *note, const char *operator)
{
    char phone[24], name[64], seen[256];
    const char *p[] = { receipt, note, operator };
    shown(receipt, phone, name);
    assert_string_equal(phone, "");
    assert_string_equal(name, "");
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM events e JOIN reports r"
                                " ON r.id = e.report_id WHERE r.receipt = $1"
                                " AND e.action = 'erase' AND e.note LIKE $2"
                                " AND e.actor IS NULL AND e.operator = $3", 3, p), 1);

    struct client_conn *c = itconnect(&env, "contact1");
    struct frame_arena *a = NULL;
    Frame *f = itstatus(c, receipt, &a);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    size_t erasures = 0;
    for (size_t i = 0; i < f->status_ok->n_history; i++) {
        const Minyi__V1__HistoryEntry *h = f->status_ok->history[i];
        itcopy(&h->action, seen, sizeof seen);
        if (strcmp(seen, "erase") != 0)
            continue;
        erasures++;
        assert_int_equal(h->note.len, 0);
        assert_int_equal(h->actor.len, 0);
    }
    assert_int_equal(erasures, 1);
    frame_arena_free(a);
    client_close(c);
}

/* Who runs the test, as `minyid erase` records it. */
static void operator_of_test(char *out, size_t len)
{
    const struct passwd *pw = getpwuid(getuid());
    assert_non_null(pw);
    snprintf(out, len, "operator:%s", pw->pw_name);
}

static void expect_chain_verifies(void)
{
    char out[OUT_MAX];
    assert_true(itwait_text(env.conninfo,
                            "SELECT ((SELECT count(*) FROM reports) + (SELECT count(*) FROM events)"
                            " + (SELECT count(*) FROM admin_events) = (SELECT count(*)"
                            " FROM audit_chain))::text", NULL, "true", WITHIN_MS));
    const char *verify[] = { "audit", "verify", NULL };
    assert_int_equal(minyid(verify, out), 0);
    itexpect_contains(out, "audit ok: ");
}

static char *erased_at(const char *receipt)
{
    const char *p[] = { receipt };
    return itdb_text(env.conninfo, "SELECT coalesce(pii_erased_at::text, '') FROM reports"
                     " WHERE receipt = $1", 1, p);
}

/* The operator erases one report's personal fields. */
static void test_erase(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX], phone[24], name[64], out[OUT_MAX], path[128];
    unsigned salt = (unsigned)(itnow_ms() ^ getpid());
    char want_phone[24], want_name[64];
    snprintf(want_phone, sizeof want_phone, "138%08u", salt % 100000000u);
    snprintf(want_name, sizeof want_name, "群众删除%05u", salt % 100000u);
    submit_citizen(want_phone, want_name, receipt);
    shown(receipt, phone, name);
    assert_string_equal(phone, want_phone);
    assert_string_equal(name, want_name);
    const char *p[] = { receipt };
    char *sealed = itdb_text(env.conninfo, "SELECT encode(phone_enc, 'hex') || ' '"
                             " || encode(reporter_name_enc, 'hex') FROM reports"
                             " WHERE receipt = $1", 1, p);
    assert_non_null(sealed);
    /* Sealed under the report's own data key, which is stored wrapped. */
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT get_byte(phone_enc, 0) FROM reports"
                                " WHERE receipt = $1", 1, p), PII_FORMAT_DEK);
    char *wrapped = itdb_text(env.conninfo, "SELECT encode(k.wrapped, 'hex') FROM report_keys k"
                              " JOIN reports r ON r.id = k.report_id WHERE r.receipt = $1", 1, p);
    assert_non_null(wrapped);
    assert_int_equal(strlen(wrapped), 2 * PII_WRAPPED_LEN);

    const char *erase[] = { "erase", receipt, "--note", "本人申请删除", NULL };
    assert_int_equal(minyid(erase, out), 0);
    itexpect_contains(out, "personal fields erased");
    char who[300];
    operator_of_test(who, sizeof who);
    expect_erased(receipt, "本人申请删除", who);
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM report_keys k JOIN reports r"
                                " ON r.id = k.report_id WHERE r.receipt = $1", 1, p), 0);

    /* Neither ciphertext is in a dump taken now. */
    snprintf(path, sizeof path, "%s/dump.sql", dir);
    assert_true(tdb_dump(env.conninfo, path));
    char *dump = tfile_text(path, DUMP_MAX);
    assert_non_null(dump);
    assert_non_null(strstr(dump, receipt));
    char *space = strchr(sealed, ' ');
    assert_non_null(space);
    *space = '\0';
    assert_null(strstr(dump, sealed));
    assert_null(strstr(dump, space + 1));
    assert_null(strstr(dump, wrapped));
    free(dump);
    unlink(path);

    expect_chain_verifies();
    assert_int_equal(minyid(erase, out), 0);
    itexpect_contains(out, "were erased already");
    const char *unknown[] = { "erase", "330400-2026-999999", NULL };
    assert_int_equal(minyid(unknown, out), 1);
    itexpect_contains(out, "no report has the receipt 330400-2026-999999");

    /* The ciphertexts as a copy made before the erasure holds them, put
     * back: with the data key destroyed nothing opens them. */
    const char *back[] = { receipt, sealed, space + 1 };
    assert_true(tdb_exec(env.conninfo, "UPDATE reports SET phone_enc = decode($2, 'hex'),"
                         " reporter_name_enc = decode($3, 'hex') WHERE receipt = $1", 3, back));
    shown(receipt, phone, name);
    assert_string_equal(phone, "");
    assert_string_equal(name, "");
    free(sealed);
    free(wrapped);
}

/* A closed report's fields are erased once the period has passed since it
 * closed; before that, and for an open report, they stay. */
static void test_retention(void **state)
{
    (void)state;
    char closed[IT_RECEIPT_MAX], open[IT_RECEIPT_MAX], phone[24], name[64], offset[32];
    submit_citizen("13900001111", "群众保留甲", closed);
    submit_citizen("13900002222", "群众保留乙", open);
    struct client_conn *ed = itconnect(&env, "editor1");
    itclaim_ok(ed, closed);
    itdecide_ok(ed, closed, MINYI__V1__DECISION__ADOPT, NULL);
    client_close(ed);

    /* Rounds run, but the period has not passed. */
    itsleep_ms(ROUNDS_MS);
    char *at = erased_at(closed);
    assert_string_equal(at, "");
    free(at);

    /* A month and a day later, by the gateway's clock. */
    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
    snprintf(offset, sizeof offset, "%d", (RETENTION_DAYS + 1) * 86400);
    setenv(CLOCK_TEST_OFFSET_ENV, offset, 1);
    assert_true(tgw_start_again(&env.gw));
    assert_true(itwait_text(env.conninfo, "SELECT (pii_erased_at IS NOT NULL)::text FROM reports"
                            " WHERE receipt = $1", closed, "true", WITHIN_MS));
    expect_erased(closed, "retention: %", "retention");

    /* The open report is not closed: nothing has started its period. */
    itsleep_ms(ROUNDS_MS);
    at = erased_at(open);
    assert_string_equal(at, "");
    free(at);
    shown(open, phone, name);
    assert_string_equal(phone, "13900002222");
    assert_string_equal(name, "群众保留乙");
    expect_chain_verifies();
    unsetenv(CLOCK_TEST_OFFSET_ENV);
}

/* A gateway that runs the retention schedule with sealing off holds the
 * retention lock only: started first, it must not keep the gateway that
 * seals from sealing. */
static void test_retention_gateway_leaves_sealing(void **state)
{
    (void)state;
    struct tgw other;
    char receipt[IT_RECEIPT_MAX], ini[256];
    memset(&other, 0, sizeof other);
    snprintf(ini, sizeof ini, "[audit]\nseal = 0\n[privacy]\nretention_days = %d\n"
             "retention_interval_s = 1\n", RETENTION_DAYS);
    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
    assert_true(tgw_start(&other, env.conninfo, ini));
    /* The other gateway's worker holds its lock (the sealer's or the
     * retention schedule's: the low halves of AUDIT_SEALER_LOCK and
     * PRIVACY_RETENTION_LOCK) before this one starts again. */
    assert_true(itwait_text(env.conninfo, "SELECT count(*)::text FROM pg_locks WHERE"
                            " locktype = 'advisory' AND granted AND classid = 114726631"
                            " AND objid IN (2526678295, 2526678296)", NULL, "1", WITHIN_MS));
    assert_true(tgw_start_again(&env.gw));
    submit_citizen("13900005555", "群众封存戊", receipt);
    expect_chain_verifies();
    assert_int_equal(tgw_stop(&other, SIGTERM), 0);
}

/* Appends INI text to the gateway's config and starts it again with it
 * (a later value of an option overrides an earlier one). */
static void restart_with(const char *ini)
{
    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
    FILE *f = fopen(env.gw.conf, "a");
    assert_non_null(f);
    fputs(ini, f);
    assert_int_equal(fclose(f), 0);
    assert_true(tgw_start_again(&env.gw));
}

/* Seals a hex value under the gateway's master key (version 1) directly,
 * as values were sealed before data keys, into a malloc'd hex string. */
static char *seal_v1_hex(const char *aad, const char *pt)
{
    char path[PATH_MAX + 16];
    uint8_t key[PII_KEY_LEN], *sealed = malloc(pii_sealed_len(strlen(pt)));
    char *hex = malloc(2 * pii_sealed_len(strlen(pt)) + 1);
    snprintf(path, sizeof path, "%s/pii.key", env.gw.dir);
    char *text = tfile_text(path, 1024);
    assert_non_null(text);
    assert_true(sealed && hex && pii_key_parse_hex(text, key));
    assert_true(pii_seal(key, 1, aad, (const uint8_t *)pt, strlen(pt), sealed));
    hex_encode(sealed, pii_sealed_len(strlen(pt)), hex);
    free(text);
    free(sealed);
    return hex;
}

/* Makes receipt's fields as a report stored before data keys has them:
 * sealed under master key version 1, and no data key. */
static void seal_as_before_data_keys(const char *receipt, const char *phone, const char *name)
{
    char *ph = seal_v1_hex(STORE_AAD_PHONE, phone), *nm = seal_v1_hex(STORE_AAD_REPORTER_NAME, name);
    const char *p[] = { receipt, ph, nm };
    assert_true(tdb_exec(env.conninfo, "UPDATE reports SET phone_enc = decode($2, 'hex'),"
                         " reporter_name_enc = decode($3, 'hex') WHERE receipt = $1", 3, p));
    assert_true(tdb_exec(env.conninfo, "DELETE FROM report_keys WHERE report_id ="
                         " (SELECT id FROM reports WHERE receipt = $1)", 1, p));
    free(ph);
    free(nm);
}

/* The personal-data key rotated from version 1 to 2: old values still
 * open with the old key beside the new one, new values name version 2,
 * `minyid pii rewrap` moves the old ones, and then the old key can go. */
static void test_key_rotation(void **state)
{
    (void)state;
    char old_report[IT_RECEIPT_MAX], new_report[IT_RECEIPT_MAX], phone[24], name[64];
    char key2[128], ini[PATH_MAX + 256], out[OUT_MAX];
    submit_citizen("13700003333", "群众轮换甲", old_report);
    seal_as_before_data_keys(old_report, "13700003333", "群众轮换甲");
    shown(old_report, phone, name);
    assert_string_equal(phone, "13700003333");
    assert_string_equal(name, "群众轮换甲");

    snprintf(key2, sizeof key2, "%s/pii-2.key", dir);
    itwrite_file(key2, "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100\n");
    assert_int_equal(chmod(key2, 0600), 0);
    snprintf(ini, sizeof ini, "[privacy]\nkey_file = %s\nkey_version = 2\n"
             "old_key_files = 1:%s/pii.key\n", key2, env.gw.dir);
    restart_with(ini);
    shown(old_report, phone, name);
    assert_string_equal(phone, "13700003333");
    assert_string_equal(name, "群众轮换甲");
    submit_citizen("13700004444", "群众轮换乙", new_report);
    const char *p[] = { new_report };
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT k.key_version * 1000 + get_byte(k.wrapped, 4)"
                                " FROM report_keys k JOIN reports r ON r.id = k.report_id"
                                " WHERE r.receipt = $1", 1, p), 2002);
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT get_byte(phone_enc, 0) FROM reports"
                                " WHERE receipt = $1", 1, p), PII_FORMAT_DEK);

    const char *rewrap[] = { "pii", "rewrap", NULL };
    assert_int_equal(minyid(rewrap, out), 0);
    itexpect_contains(out, "with key version 2");
    /* Every data key is wrapped under version 2, and the report sealed
     * before data keys has one now. */
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM reports r WHERE pii_erased_at"
                                " IS NULL AND (get_byte(phone_enc, 0) <> ascii('D')"
                                " OR NOT EXISTS (SELECT 1 FROM report_keys k WHERE"
                                " k.report_id = r.id AND k.key_version = 2"
                                " AND get_byte(k.wrapped, 4) = 2))", 0, NULL), 0);

    /* Without the old key everything still opens: nothing needs it now. */
    restart_with("[privacy]\nold_key_files =\n");
    shown(old_report, phone, name);
    assert_string_equal(phone, "13700003333");
    assert_string_equal(name, "群众轮换甲");
    shown(new_report, phone, name);
    assert_string_equal(phone, "13700004444");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_erase),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_retention_gateway_leaves_sealing),
        cmocka_unit_test(test_key_rotation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
