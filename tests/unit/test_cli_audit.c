/*
 * Unit tests for `minyi audit`: what a command line turns into, and which
 * command lines are refused before anything is sent.
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
#include "cli_audit.h"

#define ERRLEN 512
/* 2026-03-01T00:00:00+08:00 and 2026-04-01T00:00:00+08:00 in Unix ms. */
#define MARCH_1_MS 1772294400000LL
#define APRIL_1_MS 1774972800000LL

static void parse_ok(struct argv_copy *c, struct cli_audit_args *a, const char *const *args)
{
    char err[ERRLEN] = "";
    make_argv(c, args);
    if (!cli_audit_parse(c->argc, c->argv, a, err, sizeof(err)))
        fail_msg("refused: %s", err);
}

static void parse_refused(const char *const *args, const char *needle)
{
    struct argv_copy c;
    struct cli_audit_args a;
    char err[ERRLEN] = "";
    make_argv(&c, args);
    bool ok = cli_audit_parse(c.argc, c.argv, &a, err, sizeof(err));
    free_argv(&c);
    if (ok)
        fail_msg("accepted a command line that should be refused (%s)", needle);
    if (strstr(err, needle) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", err, needle);
}

static void test_every_option(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_audit_args a;
    parse_ok(&c, &a, (const char *const[]){"audit", "--from", "2026-03-01", "--to", "2026-03-31",
                                           "--report", "330400-2026-000001", "--after", "40",
                                           "--limit", "1000", "--json", NULL});
    /* China time, and --to's whole day. */
    assert_int_equal(a.from_ms, MARCH_1_MS);
    assert_int_equal(a.to_ms, APRIL_1_MS);
    assert_string_equal(a.receipt, "330400-2026-000001");
    assert_int_equal(a.after_seq, 40);
    assert_int_equal(a.limit, 1000);
    assert_true(a.json);
    free_argv(&c);
}

static void test_nothing_given_reads_from_the_first(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_audit_args a;
    parse_ok(&c, &a, (const char *const[]){"audit", NULL});
    assert_int_equal(a.from_ms, 0);
    assert_int_equal(a.to_ms, 0);
    assert_null(a.receipt);
    assert_int_equal(a.after_seq, 0);
    assert_int_equal(a.limit, 0);
    assert_false(a.json);
    free_argv(&c);
}

static void test_refused(void **state)
{
    (void)state;
    parse_refused((const char *const[]){"audit", "--limit", "1001", NULL}, "--limit");
    parse_refused((const char *const[]){"audit", "--limit", "0", NULL}, "--limit");
    parse_refused((const char *const[]){"audit", "--after", "x", NULL}, "--after");
    parse_refused((const char *const[]){"audit", "--from", "2026-13-01", NULL}, "--from");
    parse_refused((const char *const[]){"audit", "--from", "2026-03-02", "--to", "2026-03-01",
                                        NULL},
                  "--to must not be before --from");
    parse_refused((const char *const[]){"audit", "extra", NULL}, "unexpected argument extra");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_option),
        cmocka_unit_test(test_nothing_given_reads_from_the_first),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
