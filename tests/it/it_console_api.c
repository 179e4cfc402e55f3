/*
 * it_console_api: the console's JSON API (proto/CONSOLE.md) against a real
 * minyid.  A call is the protocol operation itself: a contact point's
 * submission through the console gets a receipt that the protocol port
 * knows, is refused with the same code and field as on the protocol port,
 * an editor's queue and claim see it, and the live queue reaches an open
 * event stream.  What a principal may not do over the protocol it may not
 * do here either: a contact point cannot read another's report or the
 * queue, and the peer-to-peer calls are not on this door at all.
 */
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
#include "webkit.h"

/* An event must reach an open stream within this. */
#define EVENT_WAIT_MS 5000
/* Below the console's ping interval (CONSOLE_EVENTS_PING_MS, 15 s). */
#define CONSOLE_TEST_PING_MS 10000
/* Bytes of a /metrics page read. */
#define METRICS_PAGE_MAX (1u << 20)

static struct itenv env;
static char csrf[256];               /* the headers a console page sends with a POST */

static int setup(void **state)
{
    (void)state;
    if (!itenv_up(&env, NULL))
        return -1;
    snprintf(csrf, sizeof(csrf), "Origin: https://127.0.0.1:%d\r\nX-Minyi-Console: 1\r\n",
             env.gw.console_port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_teardown(&env);
}

/* POST /api/op/op with body as certname; answers the status, the answer in a. */
static int call(const char *certname, const char *op, const char *body, struct tweb_answer *a)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/op/%s", op);
    int st = tweb_call(&env.gw, certname, "POST", path, csrf, body, a);
    /* A failing assertion on the status then shows why. */
    if (st != 200)
        print_message("%s %s: %d %s\n", certname, path, st, a->body ? a->body : a->err);
    return st;
}

/* A report of reporter name (JSON-escaped text) with situation. */
static void report_json_by(char *out, size_t len, const char *situation, const char *name)
{
    char id[37];
    tuuid(id);
    snprintf(out, len,
             "{\"report\":{\"client_report_id\":\"%s\",\"title\":\"关于加快老旧小区加装电梯的建议\","
             "\"situation\":\"%s\",\"analysis\":\"费用分摊机制不明确。\","
             "\"suggestions\":\"建议出台分摊指导意见。\",\"category\":\"SOCIETY\","
             "\"urgency\":\"NORMAL\",\"reporter\":{\"name\":\"%s\",\"unit\":\"某单位\",\"kind\":\"MEMBER\"},"
             "\"region\":\"330402\",\"phone\":\"13800000000\"}}",
             id, situation, name);
}

static void report_json(char *out, size_t len, const char *situation)
{
    report_json_by(out, len, situation, "张三");
}

/* Copies the value of "key":"..." in a JSON text into out. */
static void json_field(const char *json, const char *key, char *out, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *at = strstr(json, pat);
    if (at == NULL)
        fail_msg("no %s in %s", key, json);
    at += strlen(pat);
    const char *end = strchr(at, '"');
    snprintf(out, len, "%.*s", (int)(end - at), at);
}

static void submit_ok(const char *certname, const char *situation, char receipt[64])
{
    char body[2048];
    struct tweb_answer a;
    report_json(body, sizeof(body), situation);
    if (call(certname, "submit", body, &a) != 200)
        fail_msg("submit answered %d: %s", a.status, a.body ? a.body : a.err);
    json_field(a.body, "receipt", receipt, 64);
    tweb_answer_free(&a);
}

static void test_submit_is_the_protocols(void **state)
{
    (void)state;
    char body[2048], receipt[64];
    struct tweb_answer a;
    report_json(body, sizeof(body), "控制台提交的情况。");
    assert_int_equal(call("contact1", "submit", body, &a), 200);
    json_field(a.body, "receipt", receipt, sizeof(receipt));
    assert_non_null(strstr(a.body, "\"duplicate\":false"));
    tweb_answer_free(&a);
    /* The same client_report_id again: the same receipt, no second row. */
    assert_int_equal(call("contact1", "submit", body, &a), 200);
    assert_non_null(strstr(a.body, receipt));
    assert_non_null(strstr(a.body, "\"duplicate\":true"));
    tweb_answer_free(&a);
    /* The protocol port knows it. */
    struct client_conn *c = itconnect(&env, "contact1");
    struct frame_arena *ar = NULL;
    Frame *f = itstatus(c, receipt, &ar);
    assert_int_equal(f->body_case, MINYI__V1__FRAME__BODY_STATUS_OK);
    frame_arena_free(ar);
    client_close(c);
}

static void test_refusals_name_the_field(void **state)
{
    (void)state;
    struct tweb_answer a;
    /* Validation is the protocol's: the code, the field, the Chinese message. */
    assert_int_equal(call("contact1", "submit",
                          "{\"report\":{\"title\":\"只有标题\",\"category\":\"SOCIETY\"}}", &a),
                     400);
    assert_non_null(strstr(a.body, "\"code\":\"INVALID_ARGUMENT\""));
    assert_non_null(strstr(a.body, "\"field\":\"report."));
    assert_non_null(strstr(a.body, "message_zh"));
    tweb_answer_free(&a);
    /* A key the message does not have, a wrong type, an unknown code. */
    static const struct {
        const char *body, *field;
    } bad[] = {
        { "{\"report\":{\"nonsense\":1}}", "submit.report.nonsense" },
        { "{\"report\":{\"category\":\"NO_SUCH\"}}", "submit.report.category" },
        { "{\"report\":{\"title\":42}}", "submit.report.title" },
        { "{\"report\":[]}", "submit.report" },
        { "not json", "body" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (call("contact1", "submit", bad[i].body, &a) != 400)
            fail_msg("%s answered %d", bad[i].body, a.status);
        char field[128];
        json_field(a.body, "field", field, sizeof(field));
        assert_string_equal(field, bad[i].field);
        tweb_answer_free(&a);
    }
}

static void test_editor_works_the_queue(void **state)
{
    (void)state;
    char receipt[64], body[256];
    struct tweb_answer a;
    struct tweb_stream *st = tweb_stream_open(&env.gw, "editor1", "/api/events");
    assert_non_null(st);
    submit_ok("contact1", "编辑在控制台处理的情况。", receipt);
    /* The live queue reaches the open stream without asking. */
    char needle[96];
    snprintf(needle, sizeof(needle), "\"receipt\":\"%s\"", receipt);
    if (!tweb_stream_wait(st, needle, EVENT_WAIT_MS))
        fail_msg("no event for %s on the stream", receipt);
    assert_int_equal(call("editor1", "queue", "{}", &a), 200);
    assert_non_null(strstr(a.body, receipt));
    assert_non_null(strstr(a.body, "\"overdue\":false"));
    tweb_answer_free(&a);
    snprintf(body, sizeof(body), "{\"receipt\":\"%s\"}", receipt);
    assert_int_equal(call("editor1", "claim", body, &a), 200);
    tweb_answer_free(&a);
    if (!tweb_stream_wait(st, "\"kind\":\"claimed\"", EVENT_WAIT_MS))
        fail_msg("no claimed event on the stream");
    snprintf(body, sizeof(body),
             "{\"receipt\":\"%s\",\"situation\":\"编辑改过的情况。\",\"note\":\"润色\"}", receipt);
    assert_int_equal(call("editor1", "edit", body, &a), 200);
    assert_non_null(strstr(a.body, "\"version\":2"));
    tweb_answer_free(&a);
    snprintf(body, sizeof(body), "{\"receipt\":\"%s\",\"diff\":true}", receipt);
    assert_int_equal(call("editor1", "show", body, &a), 200);
    assert_non_null(strstr(a.body, "编辑改过的情况。"));
    assert_non_null(strstr(a.body, "\"phone\":\"13800000000\""));
    tweb_answer_free(&a);
    tweb_stream_close(st);
}

static void test_contact_point_sees_only_its_own(void **state)
{
    (void)state;
    char receipt[64], body[256];
    struct tweb_answer a;
    submit_ok("contact1", "只属于联系点一的情况。", receipt);
    snprintf(body, sizeof(body), "{\"receipt\":\"%s\"}", receipt);
    assert_int_equal(call("contact1", "status", body, &a), 200);
    tweb_answer_free(&a);
    /* Another contact point, by the receipt it guessed: not found. */
    assert_int_equal(call("contact2", "status", body, &a), 404);
    assert_null(strstr(a.body, "只属于"));
    tweb_answer_free(&a);
    assert_int_equal(call("contact2", "show", body, &a), 404);
    assert_null(strstr(a.body, "只属于"));
    tweb_answer_free(&a);
    /* Nor the queue, nor the live queue. */
    assert_int_equal(call("contact2", "queue", "{}", &a), 403);
    tweb_answer_free(&a);
    assert_int_equal(tweb_call(&env.gw, "contact2", "GET", "/api/events", NULL, NULL, &a), 403);
    tweb_answer_free(&a);
}

static void test_peer_calls_not_on_this_door(void **state)
{
    (void)state;
    struct tweb_answer a;
    static const char *const ops[] = { "forward", "results", "watch", "error", "submit_ok" };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (call("editor1", ops[i], "{}", &a) != 404)
            fail_msg("%s answered %d", ops[i], a.status);
        tweb_answer_free(&a);
    }
}

/* Disabling a principal closes its open event stream at once, as it
 * closes its protocol connections. */
static void test_disabled_editor_stream_closes(void **state)
{
    (void)state;
    int64_t id = tprincipal_add(env.conninfo, "editor2", "editor", "330400", true);
    assert_true(id > 0);
    struct tweb_stream *st = tweb_stream_open(&env.gw, "editor2", "/api/events");
    assert_non_null(st);
    assert_true(tweb_stream_wait(st, ": open", EVENT_WAIT_MS));
    char text[24];
    snprintf(text, sizeof(text), "%lld", (long long)id);
    assert_true(tdb_exec(env.conninfo, "UPDATE principals SET active = false WHERE id = $1", 1,
                         (const char *const[]){ text }));
    long long t0 = itnow_ms();
    /* Nothing more comes: the wait ends when the gateway closes the stream,
     * long before the ping that would otherwise arrive. */
    assert_false(tweb_stream_wait(st, "never sent", CONSOLE_TEST_PING_MS));
    if (itnow_ms() - t0 >= CONSOLE_TEST_PING_MS)
        fail_msg("the disabled editor's stream stayed open");
    tweb_stream_close(st);
}

/* The office reads everything and decides nothing: in the browser it
 * reads the queue, a report and follows the live queue, and every change
 * is refused as on the protocol port. */
static void test_office_reads_the_queue(void **state)
{
    (void)state;
    char receipt[64], body[256];
    struct tweb_answer a;
    assert_true(tprincipal_add(env.conninfo, "office1", "office", "330400", true) > 0);
    submit_ok("contact1", "办公室在控制台查阅的情况。", receipt);
    assert_int_equal(call("office1", "queue", "{}", &a), 200);
    assert_non_null(strstr(a.body, receipt));
    tweb_answer_free(&a);
    snprintf(body, sizeof(body), "{\"receipt\":\"%s\"}", receipt);
    assert_int_equal(call("office1", "show", body, &a), 200);
    assert_non_null(strstr(a.body, "办公室在控制台查阅的情况。"));
    tweb_answer_free(&a);
    assert_int_equal(call("office1", "outbox", "{}", &a), 200);
    tweb_answer_free(&a);
    struct tweb_stream *st = tweb_stream_open(&env.gw, "office1", "/api/events");
    assert_non_null(st);
    assert_true(tweb_stream_wait(st, ": open", EVENT_WAIT_MS));
    tweb_stream_close(st);
    /* Nothing it sends changes a report. */
    if (call("office1", "claim", body, &a) != 403)
        fail_msg("the office's claim answered %d", a.status);
    tweb_answer_free(&a);
    assert_int_equal(call("editor1", "show", body, &a), 200);
    assert_non_null(strstr(a.body, "\"state\":\"RECEIVED\""));
    tweb_answer_free(&a);
}

/* The office's charts are drawn by the gateway from the stats and points
 * operations: SVG with the figures' names and numbers, every text from
 * the database escaped, and a bad parameter refused by name. */
static void test_office_charts(void **state)
{
    (void)state;
    char body[2048], path[256], type[128], receipt[64];
    struct tweb_answer a;
    /* A reporter whose name is markup, adopted: it labels a row of the
     * points. */
    report_json_by(body, sizeof(body), "图表里的情况。", "<b>&王五</b>");
    assert_int_equal(call("contact1", "submit", body, &a), 200);
    json_field(a.body, "receipt", receipt, sizeof(receipt));
    tweb_answer_free(&a);
    snprintf(body, sizeof(body), "{\"receipt\":\"%s\"}", receipt);
    assert_int_equal(call("editor1", "claim", body, &a), 200);
    tweb_answer_free(&a);
    snprintf(body, sizeof(body), "{\"receipt\":\"%s\",\"decision\":\"ADOPT\"}", receipt);
    assert_int_equal(call("editor1", "decide", body, &a), 200);
    tweb_answer_free(&a);

    time_t now = time(NULL) + 8 * 3600;  /* the year in China */
    struct tm tm;
    gmtime_r(&now, &tm);
    int year = tm.tm_year + 1900;
    snprintf(path, sizeof(path), "/chart/points.svg?year=%d&by=POINTS_BY_REPORTER", year);
    assert_int_equal(tweb_call(&env.gw, "office1", "GET", path, NULL, NULL, &a), 200);
    assert_true(tweb_header(&a, "Content-Type", type, sizeof(type)));
    assert_non_null(strstr(type, "image/svg+xml"));
    assert_non_null(strstr(a.body, "<svg"));
    assert_non_null(strstr(a.body, "考核积分"));
    assert_non_null(strstr(a.body, "&lt;b&gt;&amp;王五&lt;/b&gt;"));
    assert_null(strstr(a.body, "<b>"));
    tweb_answer_free(&a);

    /* The last month and the next day: a period of at most ten years. */
    snprintf(path, sizeof(path),
             "/chart/stats.svg?from_ms=%lld&to_ms=%lld&by=STATS_BY_CATEGORY",
             (long long)(now - 30 * 86400) * 1000, (long long)(now + 86400) * 1000);
    if (tweb_call(&env.gw, "office1", "GET", path, NULL, NULL, &a) != 200)
        fail_msg("%s answered %d: %s", path, a.status, a.body ? a.body : a.err);
    assert_non_null(strstr(a.body, "按类别"));
    assert_non_null(strstr(a.body, "社会"));
    assert_non_null(strstr(a.body, "编报"));
    tweb_answer_free(&a);

    /* Bad parameters are named; a principal the figures are refused to
     * gets the operation's refusal. */
    static const struct {
        const char *query, *field;
    } bad[] = {
        { "from_ms=soon&to_ms=1", "from_ms" },
        { "from_ms=0&to_ms=1&colour=red", "colour" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/chart/stats.svg?%s", bad[i].query);
        assert_int_equal(tweb_call(&env.gw, "office1", "GET", path, NULL, NULL, &a), 400);
        json_field(a.body, "field", type, sizeof(type));
        assert_string_equal(type, bad[i].field);
        tweb_answer_free(&a);
    }
    snprintf(path, sizeof(path), "/chart/points.svg?year=1999");
    assert_int_equal(tweb_call(&env.gw, "office1", "GET", path, NULL, NULL, &a), 400);
    json_field(a.body, "field", type, sizeof(type));
    assert_string_equal(type, "points.year");
    tweb_answer_free(&a);
}

/* Open live-queue streams, as /metrics counts them. */
static double streams_open(void)
{
    static char page[METRICS_PAGE_MAX];
    if (tgw_http_get(&env.gw, "/metrics", page, sizeof(page)) != 200)
        fail_msg("no /metrics page");
    return itmetric(page, "minyi_console_streams");
}

/* A browser that leaves while its live queue is open (a page closed or
 * reloaded) leaves its half-answered request to the console: the gateway
 * notices at its next write, the stream closes, and the request is freed
 * with it — under the sanitizers the gateway's exit at teardown reports
 * any request left behind as a leak. */
static void test_stream_of_a_gone_browser_closes(void **state)
{
    (void)state;
    char receipt[64];
    struct tweb_stream *st = tweb_stream_open(&env.gw, "editor1", "/api/events");
    assert_non_null(st);
    assert_true(tweb_stream_wait(st, ": open", EVENT_WAIT_MS));
    assert_true(streams_open() >= 1);
    tweb_stream_close(st);
    /* Each report is an event written to every open stream; a write to a
     * closed connection fails at once or, after the peer's reset, at the
     * next one. */
    long long t0 = itnow_ms();
    while (streams_open() > 0) {
        if (itnow_ms() - t0 > CONSOLE_TEST_PING_MS)
            fail_msg("%.0f streams still open after their browsers left", streams_open());
        submit_ok("contact1", "浏览器离开后的实时队列。", receipt);
        itsleep_ms(100);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_is_the_protocols),
        cmocka_unit_test(test_refusals_name_the_field),
        cmocka_unit_test(test_editor_works_the_queue),
        cmocka_unit_test(test_contact_point_sees_only_its_own),
        cmocka_unit_test(test_peer_calls_not_on_this_door),
        cmocka_unit_test(test_disabled_editor_stream_closes),
        cmocka_unit_test(test_office_reads_the_queue),
        cmocka_unit_test(test_office_charts),
        cmocka_unit_test(test_stream_of_a_gone_browser_closes),
    };
    /* A gateway that stops badly at teardown (a leak under the
     * sanitizers) fails the group too. */
    return itexit_strict(cmocka_run_group_tests(tests, setup, teardown));
}
