/*
 * it_cli: the `minyi` program itself, run as a user would run it, against a
 * real gateway — what it prints and the exit status it ends with.  A
 * contact point submits and follows its report; an editor takes the report
 * through the queue, a claim, an edit and a return; the contact point sees
 * the reason, resubmits under the same receipt, and the editor adopts.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "itkit.h"

#define CLI_OUT_MAX (256 * 1024)   /* bytes of output kept per stream */
#define WATCH_WAIT_MS 5000         /* a pushed event must arrive within this */

static struct itenv env;
static char dir[64];                /* profiles and report files */
static char contact_profile[PATH_MAX], editor_profile[PATH_MAX], report_file[PATH_MAX];

struct run {
    int rc;
    char out[CLI_OUT_MAX];
    char err[CLI_OUT_MAX];
};

/* Runs the CLI to its end; the output is copied to stderr for the log. */
static void run_cli(struct run *r, const char *profile, const char *const *args)
{
    r->rc = itrun_cli(dir, profile, args, r->out, r->err, sizeof(r->out));
}

/* Runs and asserts the exit status. */
static void expect_rc(struct run *r, int rc, const char *profile, const char *const *args)
{
    run_cli(r, profile, args);
    if (r->rc != rc)
        fail_msg("minyi %s exited with %d, expected %d: %s", args[0], r->rc, rc, r->err);
}

static int setup(void **state)
{
    (void)state;
    /* An external destination besides the default gateway one (province),
     * so a refused forward lists both kinds. */
    if (!itenv_up(&env, "[external.swb]\ndisplay_name = 市委办公室\n"))
        return -1;
    snprintf(dir, sizeof(dir), "/tmp/minyi-it-cli-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(contact_profile, sizeof(contact_profile), "%s/contact.ini", dir);
    snprintf(editor_profile, sizeof(editor_profile), "%s/editor.ini", dir);
    snprintf(report_file, sizeof(report_file), "%s/report.json", dir);
    if (!tprofile_write(contact_profile, "contact1", &env.gw) ||
        !tprofile_write(editor_profile, "editor1", &env.gw))
        return -1;
    /* No client_report_id: the CLI derives one from the certificate and the
     * content, so a report or revision with other text is a new one, and
     * the same command run again names the same submission. */
    itwrite_file(report_file,
               "{\"title\": \"关于加快老旧小区加装电梯的建议\",\n"
               " \"situation\": \"城区部分老旧小区加装电梯推进缓慢,居民意见较多。\",\n"
               " \"analysis\": \"费用分摊机制不明确,低楼层住户顾虑较多。\",\n"
               " \"suggestions\": \"建议出台分摊指导意见,并由街道牵头协调。\",\n"
               " \"category\": \"SOCIETY\", \"urgency\": \"NORMAL\",\n"
               " \"reporter\": {\"name\": \"张三\", \"unit\": \"南湖区政协\", \"kind\": \"MEMBER\",\n"
               "              \"sector\": \"经济界\"},\n"
               " \"region\": \"330402\", \"phone\": \"13800000000\"}\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int code = itenv_down(&env);
    const char *names[] = {"contact.ini", "editor.ini", "report.json", "out", "err",
                           "watch.out", "watch.err"};
    char path[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/contact.spool", dir); /* empty once all got through */
    rmdir(path);
    rmdir(dir);
    return code == 0 ? 0 : -1;
}

/* Submits the report file as the contact point under this title (NULL:
 * the file's); the receipt is the first line. */
static void submit(char *receipt, const char *title)
{
    static struct run r;
    if (title != NULL)
        expect_rc(&r, 0, contact_profile,
                  (const char *const[]){"submit", "--file", report_file, "--title", title, NULL});
    else
        expect_rc(&r, 0, contact_profile,
                  (const char *const[]){"submit", "--file", report_file, NULL});
    itfirst_line(r.out, receipt, IT_RECEIPT_MAX);
    assert_true(itreceipt_well_formed(receipt));
}

/* The contact point's side, which needs nothing of triage: submit, status
 * (plain and JSON), mine, and the exit status of a receipt that does not
 * exist and of a command line that is wrong. */
static void test_contact_submit_status_mine(void **state)
{
    (void)state;
    static struct run r;
    char receipt[IT_RECEIPT_MAX], line[64];
    submit(receipt, NULL);

    expect_rc(&r, 0, contact_profile, (const char *const[]){"status", receipt, NULL});
    itfirst_line(r.out, line, sizeof(line));
    assert_string_equal(line, "RECEIVED");
    itexpect_contains(r.out, receipt);

    expect_rc(&r, 0, contact_profile, (const char *const[]){"status", receipt, "--json", NULL});
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "RECEIVED");
    assert_string_equal(json_string_value(json_object_get(j, "receipt")), receipt);
    json_decref(j);

    expect_rc(&r, 0, contact_profile, (const char *const[]){"mine", "--limit", "5", NULL});
    itexpect_contains(r.out, receipt);

    expect_rc(&r, 6, contact_profile,
              (const char *const[]){"status", "330402-2000-999999", NULL});
    itexpect_contains(r.err, "NOT_FOUND");
    expect_rc(&r, 2, contact_profile, (const char *const[]){"status", NULL});
    expect_rc(&r, 2, editor_profile, (const char *const[]){"reject", receipt, NULL});
    itexpect_contains(r.err, "--reason");
}

/* Starts `minyi watch` in the background. */
static pid_t start_watch(char *out_path, size_t len)
{
    char err_path[PATH_MAX + 16];
    snprintf(out_path, len, "%s/watch.out", dir);
    snprintf(err_path, sizeof(err_path), "%s/watch.err", dir);
    return itspawn_cli(editor_profile, (const char *const[]){"watch", "--json", NULL}, out_path,
                       err_path);
}

/* Waits until the watcher printed a line mentioning receipt. */
static bool watch_saw(const char *out_path, const char *receipt)
{
    static char buf[CLI_OUT_MAX];
    long long deadline = itnow_ms() + WATCH_WAIT_MS;
    while (itnow_ms() < deadline) {
        itslurp(out_path, buf, sizeof(buf));
        if (strstr(buf, receipt) != NULL)
            return true;
        itsleep_ms(50);
    }
    return false;
}

static void test_editor_flow(void **state)
{
    (void)state;
    static struct run r;
    char receipt[IT_RECEIPT_MAX], line[256];
    /* Every gateway answers the editors' operations: an UNSUPPORTED here
     * fails below, it is no reason to skip. */
    /* A contact point may use none of the editors' commands. */
    expect_rc(&r, 4, contact_profile, (const char *const[]){"queue", NULL});
    itexpect_contains(r.err, "PERMISSION_DENIED");

    char watch_out[PATH_MAX + 16];
    pid_t watcher = start_watch(watch_out, sizeof(watch_out));
    itsleep_ms(500); /* let the subscription settle before the first event */

    submit(receipt, "关于加快老旧小区加装电梯的第二条建议");
    expect_rc(&r, 4, contact_profile, (const char *const[]){"claim", receipt, NULL});

    /* The new report is in the editor's queue, and the watcher heard of it. */
    expect_rc(&r, 0, editor_profile, (const char *const[]){"queue", NULL});
    itexpect_contains(r.out, receipt);
    itexpect_contains(r.out, "RECEIPT");
    bool heard = watch_saw(watch_out, receipt);
    kill(watcher, SIGTERM);
    int status;
    while (waitpid(watcher, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    assert_true(heard);

    expect_rc(&r, 0, editor_profile, (const char *const[]){"queue", "--json", NULL});
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    assert_non_null(j);
    assert_true(json_is_array(json_object_get(j, "items")));
    json_decref(j);

    expect_rc(&r, 0, editor_profile, (const char *const[]){"claim", receipt, NULL});
    itexpect_contains(r.out, "claimed until");
    expect_rc(&r, 0, editor_profile,
              (const char *const[]){"edit", receipt, "--title", "关于老旧小区加装电梯的建议",
                                    "--note", "标题精简", NULL});
    itexpect_contains(r.out, "version 2");

    expect_rc(&r, 0, editor_profile, (const char *const[]){"show", receipt, "--diff", NULL});
    itexpect_contains(r.out, "version: 2 of 2");
    itexpect_contains(r.out, "关于老旧小区加装电梯的建议");
    expect_rc(&r, 0, editor_profile,
              (const char *const[]){"show", receipt, "--version", "1", "--json", NULL});
    j = json_loads(r.out, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "latest_version")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "version"), "version")), 1);
    json_decref(j);

    expect_rc(&r, 0, editor_profile,
              (const char *const[]){"return", receipt, "--reason", "请补充费用测算数据", NULL});
    itexpect_contains(r.out, "RETURNED");

    /* The contact point sees the state and the reason. */
    expect_rc(&r, 0, contact_profile, (const char *const[]){"status", receipt, NULL});
    itfirst_line(r.out, line, sizeof(line));
    assert_string_equal(line, "RETURNED");
    itexpect_contains(r.out, "请补充费用测算数据");

    /* A resubmission keeps the receipt and puts the report back in the queue. */
    expect_rc(&r, 0, contact_profile,
              (const char *const[]){"resubmit", receipt, "--file", report_file, "--situation",
                                    "城区老旧小区加装电梯推进缓慢;已补充费用测算。", NULL});
    itfirst_line(r.out, line, sizeof(line));
    assert_string_equal(line, receipt);
    expect_rc(&r, 0, editor_profile, (const char *const[]){"queue", NULL});
    itexpect_contains(r.out, receipt);

    expect_rc(&r, 0, editor_profile, (const char *const[]){"claim", receipt, NULL});
    expect_rc(&r, 0, editor_profile,
              (const char *const[]){"adopt", receipt, "--note", "本级采用", NULL});
    itexpect_contains(r.out, "ADOPTED");
    expect_rc(&r, 0, contact_profile, (const char *const[]){"status", receipt, NULL});
    itfirst_line(r.out, line, sizeof(line));
    assert_string_equal(line, "ADOPTED");

    /* A decided report takes no second decision; an unknown one is not found. */
    expect_rc(&r, 7, editor_profile, (const char *const[]){"adopt", receipt, NULL});
    itexpect_contains(r.err, "CONFLICT");
    expect_rc(&r, 6, editor_profile, (const char *const[]){"adopt", "330402-2000-999999", NULL});
}

/* The column of the first occurrence of needle in line, failing when absent. */
static long column_of(const char *line, const char *needle)
{
    const char *at = strstr(line, needle);
    if (at == NULL)
        fail_msg("\"%s\" not found in \"%s\"", needle, line);
    return (long)(at - line);
}

/* The line of text that contains needle, copied to out. */
static void line_with(const char *text, const char *needle, char *out, size_t len)
{
    const char *at = strstr(text, needle);
    if (at == NULL)
        fail_msg("\"%s\" not found in:\n%s", needle, text);
    while (at > text && at[-1] != '\n')
        at--;
    itfirst_line(at, out, len);
}

/*
 * What a new user ran into: refusals that did not list the valid values, a
 * queue table whose STATE column overflowed on ADOPTED_ABOVE and had no
 * contact point, a next attempt shown on a delivered delivery.  The
 * forwarder's and the province's work is written into the database as they
 * would write it.
 */
static void test_rough_edges(void **state)
{
    (void)state;
    static struct run r;
    char receipt[IT_RECEIPT_MAX], sql[512], head[1024], row[1024], point[32];

    expect_rc(&r, 3, contact_profile,
              (const char *const[]){"submit", "--file", report_file, "--category", "社会", NULL});
    itexpect_contains(r.err, "ECONOMY POLITICS CULTURE SOCIETY ECOLOGY PARTY_BUILDING OTHER");

    submit(receipt, NULL);
    expect_rc(&r, 0, editor_profile, (const char *const[]){"claim", receipt, NULL});
    expect_rc(&r, 3, editor_profile,
              (const char *const[]){"forward", receipt, "--to", "省政协", NULL});
    itexpect_contains(r.err, "configured destinations: province");
    itexpect_contains(r.err, "swb (市委办公室, external)");
    expect_rc(&r, 0, editor_profile,
              (const char *const[]){"forward", receipt, "--to", "province", NULL});

    snprintf(sql, sizeof(sql),
             "UPDATE outbox SET state = 'delivered', upstream_receipt = '330000-2026-000001'"
             " WHERE report_id = (SELECT id FROM reports WHERE receipt = '%s');"
             "UPDATE reports SET state = 'ADOPTED_ABOVE' WHERE receipt = '%s'",
             receipt, receipt);
    itdb_exec(env.conninfo, sql);
    expect_rc(&r, 0, editor_profile, (const char *const[]){"show", receipt, NULL});
    line_with(r.out, "330000-2026-000001", row, sizeof(row));
    itexpect_contains(row, "delivered");
    if (strstr(row, "next=") != NULL)
        fail_msg("a delivered delivery shows a next attempt: %s", row);

    expect_rc(&r, 0, editor_profile,
              (const char *const[]){"queue", "--state", "ADOPTED_ABOVE", NULL});
    itfirst_line(r.out, head, sizeof(head));
    line_with(r.out, receipt, row, sizeof(row));
    snprintf(point, sizeof(point), " %lld ", (long long)env.contact1);
    /* Every column starts where its heading does. */
    assert_int_equal(column_of(row, "ADOPTED_ABOVE"), column_of(head, "STATE"));
    assert_int_equal(column_of(row, point) + 1, column_of(head, "POINT"));
    assert_int_equal(column_of(row, "+08:00") - (long)strlen("2026-01-01T00:00:00"),
                     column_of(head, "RECEIVED"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contact_submit_status_mine),
        cmocka_unit_test(test_editor_flow),
        cmocka_unit_test(test_rough_edges),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
