/*
 * Unit tests for `minyi stats` and `minyi points`: what a command line
 * turns into, and which command lines are refused before anything is sent.
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
#include "cli_office.h"
#include "cli_table.h"
#include "minyi.pb-c.h"

#define ERRLEN 512
/* 2026-03-01T00:00:00+08:00 and 2026-04-01T00:00:00+08:00 in Unix ms. */
#define MARCH_1_MS 1772294400000LL
#define APRIL_1_MS 1774972800000LL

/* Parses args into a; strings in a point into c, freed by the caller. */
static void parse_ok(struct argv_copy *c, struct cli_office_args *a, const char *const *args)
{
    char err[ERRLEN] = "";
    make_argv(c, args);
    if (!cli_office_parse(c->argc, c->argv, a, err, sizeof(err)))
        fail_msg("refused: %s", err);
}

static void parse_refused(const char *const *args, const char *needle)
{
    struct argv_copy c;
    struct cli_office_args a;
    char err[ERRLEN] = "";
    make_argv(&c, args);
    bool ok = cli_office_parse(c.argc, c.argv, &a, err, sizeof(err));
    free_argv(&c);
    if (ok)
        fail_msg("accepted a command line that should be refused (%s)", needle);
    if (strstr(err, needle) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", err, needle);
}

static void test_stats(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_office_args a;
    parse_ok(&c, &a, (const char *const[]){"stats", "--from", "2026-03-01", "--to",
                                           "2026-03-31", "--by", "sector", "--csv", NULL});
    assert_int_equal(a.cmd, CLI_OFFICE_STATS);
    /* China time, and --to's whole day. */
    assert_int_equal(a.from_ms, MARCH_1_MS);
    assert_int_equal(a.to_ms, APRIL_1_MS);
    assert_int_equal(a.by, MINYI__V1__STATS_BY__STATS_BY_SECTOR);
    assert_int_equal(a.format, CLI_OFFICE_CSV);
    free_argv(&c);
    parse_ok(&c, &a, (const char *const[]){"stats", "--from", "2026-03-01", "--to",
                                           "2026-03-01", "--xlsx", "out.xlsx", NULL});
    assert_int_equal(a.format, CLI_OFFICE_XLSX);
    assert_string_equal(a.xlsx_path, "out.xlsx");
    assert_false(a.by_given);
    free_argv(&c);
}

static void test_points(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_office_args a;
    parse_ok(&c, &a, (const char *const[]){"points", "--year", "2026", "--by", "reporter",
                                           "--explain", "--json", NULL});
    assert_int_equal(a.cmd, CLI_OFFICE_POINTS);
    assert_int_equal(a.year, 2026);
    assert_int_equal(a.by, MINYI__V1__POINTS_BY__POINTS_BY_REPORTER);
    assert_true(a.explain);
    assert_int_equal(a.format, CLI_OFFICE_JSON);
    free_argv(&c);
}

static void test_refusals(void **state)
{
    (void)state;
    parse_refused((const char *const[]){"stats", "--to", "2026-03-01", NULL}, "--from");
    parse_refused((const char *const[]){"stats", "--from", "2026-03-02", "--to", "2026-03-01",
                                        NULL},
                  "before --from");
    parse_refused((const char *const[]){"stats", "--from", "2026-3-1", "--to", "2026-03-01",
                                        NULL},
                  "--from wants a date");
    parse_refused((const char *const[]){"stats", "--from", "2026-03-01", "--to", "2026-03-01",
                                        "--by", "week", NULL},
                  "--by wants contact-point");
    parse_refused((const char *const[]){"stats", "--from", "2026-03-01", "--to", "2026-03-01",
                                        "--csv", "--json", NULL},
                  "exclude each other");
    parse_refused((const char *const[]){"stats", "--from", "2026-03-01", "--to", "2026-03-01",
                                        "--year", "2026", NULL},
                  "does not belong to stats");
    parse_refused((const char *const[]){"points", NULL}, "--year");
    parse_refused((const char *const[]){"points", "--year", "1999", NULL}, "2000 to 2999");
    parse_refused((const char *const[]){"points", "--year", "2026", "--by", "month", NULL},
                  "contact-point or reporter");
    parse_refused((const char *const[]){"points", "--year", "2026", "--xlsx", "a.xlsx", NULL},
                  "does not belong to points");
}

/* CSV quotes what needs it; numbers print in the shortest exact form; a
 * Chinese character is two columns wide. */
static void test_table(void **state)
{
    (void)state;
    struct cli_table t;
    const char *headers[] = {"名称", "积分"};
    char buf[256] = "";
    assert_true(cli_table_init(&t, "积分", headers, 2));
    long r = cli_table_add_row(&t);
    assert_true(r == 0);
    assert_true(cli_table_set_text(&t, 0, 0, "张三, \"老张\""));
    cli_table_set_number(&t, 0, 1, 12.5);
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    cli_table_csv(f, &t);
    fclose(f);
    assert_string_equal(buf, "名称,积分\r\n\"张三, \"\"老张\"\"\",12.5\r\n");
    cli_table_free(&t);
    assert_int_equal(cli_text_width("积分ab"), 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_points),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
