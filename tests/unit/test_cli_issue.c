/*
 * Unit tests for `minyi issue`: what a command line turns into on the
 * wire, which command lines are refused before anything is sent, and the
 * issue's plain text and HTML as export writes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "argv_copy.h"
#include "cli_issue.h"
#include "issue_render.h"

#define ERRLEN 512
#define RENDER_MAX 16384

static void parse_ok(struct argv_copy *c, struct cli_issue_args *a, const char *const *args)
{
    char err[ERRLEN] = "";
    make_argv(c, args);
    if (!cli_issue_parse(c->argc, c->argv, a, err, sizeof(err)))
        fail_msg("refused: %s", err);
}

static void parse_refused(const char *const *args, const char *needle)
{
    struct argv_copy c;
    struct cli_issue_args a;
    char err[ERRLEN] = "";
    make_argv(&c, args);
    bool ok = cli_issue_parse(c.argc, c.argv, &a, err, sizeof(err));
    free_argv(&c);
    if (ok)
        fail_msg("accepted a command line that should be refused (%s)", needle);
    if (strstr(err, needle) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", err, needle);
}

static bool bytes_is(const ProtobufCBinaryData *b, const char *s)
{
    return b->len == strlen(s) && memcmp(b->data, s, b->len) == 0;
}

static void test_new(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_issue_args a;
    struct cli_issue_request r;
    char err[ERRLEN];

    parse_ok(&c, &a, (const char *const[]){"--profile", "p.ini", "issue", "new", "--series",
                                           "社情民意专报", "--title", "第一期", "--year", "2026",
                                           "--note", "编者按文字", NULL});
    assert_int_equal(a.cmd, CLI_ISSUE_NEW);
    assert_true(cli_issue_build(&a, &r, err, sizeof err));
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_ISSUE_NEW);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_ISSUE_OK);
    assert_true(bytes_is(&r.new_.series, "社情民意专报"));
    assert_true(bytes_is(&r.new_.title, "第一期"));
    assert_true(bytes_is(&r.new_.editor_note, "编者按文字"));
    assert_int_equal(r.new_.year, 2026);
    cli_issue_request_free(&r);
    free_argv(&c);
}

static void test_add_remove_publish(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_issue_args a;
    struct cli_issue_request r;
    char err[ERRLEN];

    parse_ok(&c, &a, (const char *const[]){"issue", "add", "7", "330400-2026-000001",
                                           "--title", "改写的标题", "--text", "改写的正文",
                                           "--position", "2", NULL});
    assert_true(cli_issue_build(&a, &r, err, sizeof err));
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_ISSUE_ADD);
    assert_int_equal(r.add.issue_id, 7);
    assert_true(bytes_is(&r.add.receipt, "330400-2026-000001"));
    assert_true(bytes_is(&r.add.title, "改写的标题"));
    assert_true(bytes_is(&r.add.text, "改写的正文"));
    assert_int_equal(r.add.position, 2);
    cli_issue_request_free(&r);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"issue", "remove", "7", "330400-2026-000001", NULL});
    assert_true(cli_issue_build(&a, &r, err, sizeof err));
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_ISSUE_REMOVE);
    assert_int_equal(r.remove.issue_id, 7);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"issue", "publish", "7", NULL});
    assert_true(cli_issue_build(&a, &r, err, sizeof err));
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_ISSUE_PUBLISH);
    assert_int_equal(r.publish.issue_id, 7);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"issue", "export", "7", "--text-only", "--out",
                                           "x.txt", NULL});
    assert_true(cli_issue_build(&a, &r, err, sizeof err));
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_ISSUE_SHOW);
    assert_int_equal(a.format, CLI_ISSUE_TEXT);
    assert_string_equal(a.out_path, "x.txt");
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"issue", "list", "--year", "2026", "--json", NULL});
    assert_true(cli_issue_build(&a, &r, err, sizeof err));
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_ISSUE_LIST);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_ISSUE_LIST_OK);
    assert_int_equal(r.list.year, 2026);
    free_argv(&c);
}

static void test_refused(void **state)
{
    (void)state;
    parse_refused((const char *const[]){"issue", NULL}, "issue wants new");
    parse_refused((const char *const[]){"issue", "print", "7", NULL}, "not print");
    parse_refused((const char *const[]){"issue", "new", "--title", "T", NULL}, "--series");
    parse_refused((const char *const[]){"issue", "add", "7", NULL}, "an issue ID and a RECEIPT");
    parse_refused((const char *const[]){"issue", "publish", "x7", NULL}, "issue id");
    parse_refused((const char *const[]){"issue", "publish", "7", "--title", "T", NULL},
                  "--title does not belong to issue publish");
    parse_refused((const char *const[]){"issue", "add", "7", "R", "--text", "a", "--text-file",
                                        "f", NULL},
                  "exclude");
    parse_refused((const char *const[]){"issue", "export", "7", "--html", "--text-only", NULL},
                  "exclude");
    parse_refused((const char *const[]){"issue", "list", "--year", "1999", NULL}, "--year");
    parse_refused((const char *const[]){"issue", "add", "7", "R", "--position", "0", NULL},
                  "--position");
}

static void test_ordinal(void **state)
{
    (void)state;
    char buf[ISSUE_RENDER_ORDINAL_MAX];
    const struct {
        unsigned n;
        const char *want;
    } cases[] = {{1, "一、"}, {9, "九、"}, {10, "十、"}, {11, "十一、"}, {20, "二十、"},
                 {35, "三十五、"}, {99, "九十九、"}, {100, "100、"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        issue_render_ordinal(cases[i].n, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
}

/* An issue of two items, the second's text with markup to escape. */
static void make_issue(Minyi__V1__Issue *m, Minyi__V1__IssueItem *items, Minyi__V1__IssueItem **p)
{
    minyi__v1__issue__init(m);
    m->id = 3;
    m->series = frame_bytes("社情民意专报");
    m->year = 2026;
    m->number = 4;
    m->title = frame_bytes("本期标题");
    m->editor_note = frame_bytes("编者按正文");
    m->body_name = frame_bytes("嘉兴市政协");
    m->published_at_ms = 1772409600000LL; /* 2026-03-02 08:00 China time */
    for (int i = 0; i < 2; i++) {
        minyi__v1__issue_item__init(&items[i]);
        items[i].position = (uint32_t)i + 1;
        p[i] = &items[i];
    }
    items[0].title = frame_bytes("第一条标题");
    items[0].text = frame_bytes("第一段。\n第二段。");
    items[0].source = frame_bytes("南湖区联系点");
    items[1].title = frame_bytes("<b>第二条</b>");
    items[1].text = frame_bytes("A & B \"引号\"");
    m->items = p;
    m->n_items = 2;
    m->item_count = 2;
}

static void render(bool html, const Minyi__V1__Issue *m, char *out)
{
    FILE *f = fmemopen(out, RENDER_MAX, "w");
    assert_non_null(f);
    assert_true(html ? issue_render_html(f, m) : issue_render_text(f, m));
    fclose(f);
}

static void test_render(void **state)
{
    (void)state;
    Minyi__V1__Issue m;
    Minyi__V1__IssueItem items[2], *p[2];
    char *out = calloc(1, RENDER_MAX);
    assert_non_null(out);
    make_issue(&m, items, p);

    render(false, &m, out);
    assert_string_equal(out, "社情民意专报\n2026年第4期\n嘉兴市政协　　2026年3月2日\n"
                             "========================================\n\n"
                             "本期标题\n\n编者按：编者按正文\n\n"
                             "一、第一条标题\n第一段。\n第二段。\n（来源：南湖区联系点）\n\n"
                             "二、<b>第二条</b>\nA & B \"引号\"\n\n本期共2条\n");

    render(true, &m, out);
    assert_non_null(strstr(out, "<html lang=\"zh-CN\">"));
    assert_non_null(strstr(out, "@page { size: A4;"));
    assert_non_null(strstr(out, "<div class=\"series\">社情民意专报</div>"));
    assert_non_null(strstr(out, "<div class=\"number\">2026年第4期</div>"));
    assert_non_null(strstr(out, "<span>嘉兴市政协</span><span>2026年3月2日</span>"));
    assert_non_null(strstr(out, "<h2>一、第一条标题</h2>\n<p>第一段。</p>\n<p>第二段。</p>"));
    assert_non_null(strstr(out, "<h2>二、&lt;b&gt;第二条&lt;/b&gt;</h2>"));
    assert_non_null(strstr(out, "<p>A &amp; B &quot;引号&quot;</p>"));
    assert_null(strstr(out, "<b>第二条"));

    /* A draft says so where the number and date would be. */
    m.number = 0;
    m.published_at_ms = 0;
    render(true, &m, out);
    assert_non_null(strstr(out, "2026年（草稿，未编号）"));
    assert_non_null(strstr(out, "<span>草稿</span>"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new),
        cmocka_unit_test(test_add_remove_publish),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_ordinal),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
