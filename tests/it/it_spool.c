/*
 * it_spool: a contact point that cannot reach its gateway loses no report
 * and makes no duplicate.  The `minyi` program is run as a user runs it,
 * against a real gateway that the test stops and starts, and is killed
 * (through its MINYI_TEST_CRASH_AT hook) right after the report is spooled
 * and right after it was sent, before the receipt is read.  Every check
 * counts the rows the gateway's database holds for the report's
 * client_report_id.
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
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli_spool.h"
#include "cli_util.h"
#include "itkit.h"

#define CLI_OUT_MAX (64 * 1024) /* bytes of output kept per stream */
#define COMMIT_WAIT_MS 10000    /* a request sent before the kill is committed by then */
#define CLI_KILLED (128 + SIGKILL)

static struct itenv env;
static char dir[64];
static char profile[PATH_MAX], spool_dir[PATH_MAX], report_file[PATH_MAX];

struct run {
    int rc;
    char out[CLI_OUT_MAX];
    char err[CLI_OUT_MAX];
};

static void expect_rc(struct run *r, int rc, const char *const *args)
{
    r->rc = itrun_cli(dir, profile, args, r->out, r->err, sizeof(r->out));
    if (r->rc != rc)
        fail_msg("minyi %s exited with %d, expected %d: %s", args[0], r->rc, rc, r->err);
}

/* The same, with MINYI_TEST_CRASH_AT set to where for this run only. */
static void expect_rc_crash(struct run *r, int rc, const char *where, const char *const *args)
{
    assert_int_equal(setenv(CLI_SPOOL_CRASH_ENV, where, 1), 0);
    r->rc = itrun_cli(dir, profile, args, r->out, r->err, sizeof(r->out));
    assert_int_equal(unsetenv(CLI_SPOOL_CRASH_ENV), 0);
    if (r->rc != rc)
        fail_msg("minyi %s exited with %d, expected %d: %s", args[0], r->rc, rc, r->err);
}

/* Copies the value after "key=" in text (up to white space) to out. */
static void value_after(const char *text, const char *key, char *out, size_t len)
{
    const char *p = strstr(text, key);
    if (p == NULL)
        fail_msg("\"%s\" not found in:\n%s", key, text);
    p += strlen(key);
    size_t n = strcspn(p, " \t\n;");
    assert_true(n < len);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Entries of the spool as `minyi spool --list --json` shows them. */
static size_t spool_entries(const char *crid, const char *state)
{
    static struct run r;
    r.rc = itrun_cli(dir, profile, (const char *const[]){"spool", "--list", "--json", NULL}, r.out,
                     r.err, sizeof(r.out));
    /* The listing's exit status says whether anything waits. */
    if (r.rc != CLI_EXIT_DONE && r.rc != CLI_EXIT_SPOOLED)
        fail_msg("minyi spool --list exited with %d: %s", r.rc, r.err);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    if (j == NULL)
        fail_msg("spool --list --json printed no JSON: %s", r.out);
    json_t *arr = json_object_get(j, "entries");
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *c = json_string_value(json_object_get(e, "client_report_id"));
        const char *s = json_string_value(json_object_get(e, "state"));
        if ((crid == NULL || strcmp(c, crid) == 0) && (state == NULL || strcmp(s, state) == 0))
            n++;
    }
    json_decref(j);
    return n;
}

static void stop_gateway(void)
{
    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
}

static void start_gateway(void)
{
    assert_true(tgw_start_again(&env.gw));
}

/* Submits the report file under this title (which makes it a report of
 * its own) with no retries. */
static void submit(struct run *r, int rc, const char *title)
{
    expect_rc(r, rc,
              (const char *const[]){"submit", "--file", report_file, "--title", title, "--retries",
                                    "0", NULL});
}

static long long rows(const char *crid)
{
    return itdb_rows_crid(env.conninfo, crid);
}

static int setup(void **state)
{
    (void)state;
    if (!itenv_up(&env, NULL))
        return -1;
    snprintf(dir, sizeof(dir), "/tmp/minyi-it-spool-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(profile, sizeof(profile), "%s/contact.conf", dir);
    snprintf(spool_dir, sizeof(spool_dir), "%s/contact.spool", dir);
    snprintf(report_file, sizeof(report_file), "%s/report.json", dir);
    if (!tprofile_write(profile, "contact1", &env.gw))
        return -1;
    FILE *fp = fopen(report_file, "w");
    if (fp == NULL)
        return -1;
    fputs("{\"situation\": \"乡村公交班次减少,群众出行不便。\",\n"
          " \"analysis\": \"客流下降,运营补贴不足。\",\n"
          " \"suggestions\": \"建议统筹城乡公交补贴,保留基本班次。\",\n"
          " \"category\": \"SOCIETY\", \"urgency\": \"NORMAL\",\n"
          " \"reporter\": {\"name\": \"李四\", \"unit\": \"某镇联系点\", \"kind\": \"CONTACT_POINT\"},\n"
          " \"region\": \"330402\", \"phone\": \"13900000000\"}\n",
          fp);
    return fclose(fp) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int code = itenv_teardown(&env);
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return code;
}

/* The gateway is down: the report is kept, the exit status says so, the
 * client_report_id is printed; running the command again keeps one entry.
 * Once the gateway is back, `minyi spool` sends it once, and the same
 * command run again answers the same receipt. */
static void test_stopped_then_started(void **state)
{
    (void)state;
    static struct run r, again;
    char crid[64], receipt[IT_RECEIPT_MAX], line[IT_RECEIPT_MAX];

    stop_gateway();
    submit(&r, CLI_EXIT_SPOOLED, "关于乡村公交班次的建议");
    itexpect_contains(r.err, "SPOOLED");
    itexpect_contains(r.err, spool_dir);
    value_after(r.err, "client_report_id=", crid, sizeof(crid));
    assert_int_equal(strlen(crid), 36);
    assert_int_equal(spool_entries(crid, "waiting"), 1);

    /* The same command again: the same submission, still one entry. */
    submit(&again, CLI_EXIT_SPOOLED, "关于乡村公交班次的建议");
    value_after(again.err, "client_report_id=", line, sizeof(line));
    assert_string_equal(line, crid);
    assert_int_equal(spool_entries(NULL, NULL), 1);

    /* --json says the same to a script. */
    expect_rc(&again, CLI_EXIT_SPOOLED,
              (const char *const[]){"submit", "--file", report_file, "--title",
                                    "关于乡村公交班次的建议", "--retries", "0", "--json", NULL});
    json_error_t je;
    json_t *j = json_loads(again.out, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "client_report_id")), crid);
    assert_true(json_is_true(json_object_get(j, "spooled")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "error"), "code")), "UNAVAILABLE");
    json_decref(j);

    /* `minyi spool` while the gateway is still down: the entry is tried,
     * gets no answer, and stays for the next time. */
    expect_rc(&again, CLI_EXIT_SPOOLED, (const char *const[]){"spool", "--retries", "0", NULL});
    itexpect_contains(again.out, crid);
    itexpect_contains(again.out, "waiting");
    assert_int_equal(spool_entries(crid, "waiting"), 1);

    start_gateway();
    assert_int_equal(rows(crid), 0);
    expect_rc(&r, CLI_EXIT_DONE, (const char *const[]){"spool", NULL});
    itexpect_contains(r.out, crid);
    itexpect_contains(r.out, "sent");
    assert_int_equal(rows(crid), 1);
    assert_int_equal(spool_entries(NULL, NULL), 0);
    char *stored = itdb_text(env.conninfo,
                             "SELECT receipt FROM reports WHERE client_report_id = $1::uuid", 1,
                             (const char *const[]){crid});
    assert_non_null(stored);
    snprintf(receipt, sizeof(receipt), "%s", stored);
    free(stored);
    itexpect_contains(r.out, receipt);

    /* Nothing waits now; the same command once more is the same receipt. */
    expect_rc(&r, CLI_EXIT_DONE, (const char *const[]){"spool", NULL});
    itexpect_contains(r.out, "is empty");
    submit(&r, CLI_EXIT_DONE, "关于乡村公交班次的建议");
    itfirst_line(r.out, line, sizeof(line));
    assert_string_equal(line, receipt);
    itexpect_contains(r.out, "duplicate=yes");
    assert_int_equal(rows(crid), 1);
}

/* What waits goes with the next submission that gets through. */
static void test_next_submit_sends_waiting(void **state)
{
    (void)state;
    static struct run r;
    char waiting[64], fresh[64];

    stop_gateway();
    submit(&r, CLI_EXIT_SPOOLED, "关于农村寄递物流的建议");
    value_after(r.err, "client_report_id=", waiting, sizeof(waiting));
    start_gateway();

    submit(&r, CLI_EXIT_DONE, "关于农村养老服务的建议");
    value_after(r.out, "client_report_id=", fresh, sizeof(fresh));
    itexpect_contains(r.err, waiting);
    itexpect_contains(r.err, "sent: receipt");
    assert_int_equal(rows(waiting), 1);
    assert_int_equal(rows(fresh), 1);
    assert_int_equal(spool_entries(NULL, NULL), 0);
}

/* Killed after the spool write, before anything was sent: the entry is
 * there and nothing reached the gateway; `minyi spool` sends it once. */
static void test_killed_after_spooling(void **state)
{
    (void)state;
    static struct run r;
    const char *const args[] = {"submit", "--file", report_file, "--title", "关于河道保洁的建议",
                                "--retries", "0", NULL};

    expect_rc_crash(&r, CLI_KILLED, "spooled", args);
    assert_int_equal(spool_entries(NULL, "waiting"), 1);
    expect_rc(&r, CLI_EXIT_SPOOLED, (const char *const[]){"spool", "--list", NULL});
    char crid[64];
    snprintf(crid, sizeof(crid), "%.36s", r.out);
    assert_int_equal(rows(crid), 0);

    expect_rc(&r, CLI_EXIT_DONE, (const char *const[]){"spool", NULL});
    assert_int_equal(rows(crid), 1);
    assert_int_equal(spool_entries(NULL, NULL), 0);

    /* The user, not knowing, runs the command again: still one report. */
    expect_rc(&r, CLI_EXIT_DONE, args);
    itexpect_contains(r.out, "duplicate=yes");
    assert_int_equal(rows(crid), 1);
}

/* Killed after the request went out, before the receipt was read: the
 * gateway has the report, the spool still has it too; sending it again
 * (here by running the same command) answers the same receipt and adds
 * no row. */
static void test_killed_after_sending(void **state)
{
    (void)state;
    static struct run r;
    const char *const args[] = {"submit", "--file", report_file, "--title", "关于校园周边交通的建议",
                                "--retries", "0", NULL};

    expect_rc_crash(&r, CLI_KILLED, "sent", args);
    expect_rc(&r, CLI_EXIT_SPOOLED, (const char *const[]){"spool", "--list", NULL});
    char crid[64];
    snprintf(crid, sizeof(crid), "%.36s", r.out);
    itexpect_contains(r.out, "waiting");
    long long deadline = itnow_ms() + COMMIT_WAIT_MS;
    while (rows(crid) == 0 && itnow_ms() < deadline)
        itsleep_ms(50);
    assert_int_equal(rows(crid), 1);

    expect_rc(&r, CLI_EXIT_DONE, args);
    itexpect_contains(r.out, "duplicate=yes");
    assert_int_equal(rows(crid), 1);
    assert_int_equal(spool_entries(NULL, NULL), 0);
}

/* A spooled report that the gateway refuses once it is back stays in the
 * spool as refused, is not sent again, and blocks nothing behind it. */
static void test_refused_when_back(void **state)
{
    (void)state;
    static struct run r;
    char bad[64], good[64];

    stop_gateway();
    expect_rc(&r, CLI_EXIT_SPOOLED,
              (const char *const[]){"submit", "--file", report_file, "--title", "关于某事的建议",
                                    "--region", "33040", "--retries", "0", NULL});
    value_after(r.err, "client_report_id=", bad, sizeof(bad));
    submit(&r, CLI_EXIT_SPOOLED, "关于城乡供水一体化的建议");
    value_after(r.err, "client_report_id=", good, sizeof(good));
    start_gateway();

    expect_rc(&r, CLI_EXIT_DONE, (const char *const[]){"spool", NULL});
    itexpect_contains(r.out, "refused");
    itexpect_contains(r.out, "report.region");
    assert_int_equal(rows(bad), 0);
    assert_int_equal(rows(good), 1);
    assert_int_equal(spool_entries(bad, "refused"), 1);
    assert_int_equal(spool_entries(NULL, "waiting"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stopped_then_started),
        cmocka_unit_test(test_next_submit_sends_waiting),
        cmocka_unit_test(test_killed_after_spooling),
        cmocka_unit_test(test_killed_after_sending),
        cmocka_unit_test(test_refused_when_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
