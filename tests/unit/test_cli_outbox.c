/*
 * Unit tests for `minyi outbox`: what a command line turns into on the
 * wire, and which command lines are refused before anything is sent.
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
#include "cli_outbox.h"

#define ERRLEN 512

static void parse_ok(struct argv_copy *c, struct cli_outbox_args *a, const char *const *args)
{
    char err[ERRLEN] = "";
    make_argv(c, args);
    if (!cli_outbox_parse(c->argc, c->argv, a, err, sizeof(err)))
        fail_msg("refused: %s", err);
}

static void parse_refused(const char *const *args, const char *needle)
{
    struct argv_copy c;
    struct cli_outbox_args a;
    char err[ERRLEN] = "";
    make_argv(&c, args);
    bool ok = cli_outbox_parse(c.argc, c.argv, &a, err, sizeof(err));
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

static void test_list(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_outbox_args a;
    struct cli_outbox_request r;

    parse_ok(&c, &a, (const char *const[]){"--profile", "p.ini", "outbox", "--state", "DEAD",
                                           "--state", "in-flight", "--dest", "province",
                                           "--receipt", "330402-2026-000001", "--limit", "5",
                                           "--cursor", "17", "--json", NULL});
    assert_int_equal(a.cmd, CLI_OUTBOX_LIST);
    assert_string_equal(a.profile_path, "p.ini");
    assert_true(a.json);
    cli_outbox_build(&a, &r);
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_OUTBOX);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_OUTBOX_OK);
    const Minyi__V1__OutboxRequest *q = r.frame.outbox;
    assert_int_equal(q->filter->n_states, 2);
    assert_true(bytes_is(&q->filter->states[0], "dead"));
    assert_true(bytes_is(&q->filter->states[1], "in_flight"));
    assert_true(bytes_is(&q->filter->destination, "province"));
    assert_true(bytes_is(&q->filter->receipt, "330402-2026-000001"));
    assert_int_equal(q->limit, 5);
    assert_true(bytes_is(&q->cursor, "17"));
    free_argv(&c);

    /* No options: any state, the server's page size; "list" says the same. */
    parse_ok(&c, &a, (const char *const[]){"outbox", NULL});
    cli_outbox_build(&a, &r);
    assert_int_equal(r.frame.outbox->filter->n_states, 0);
    assert_int_equal(r.frame.outbox->limit, 0);
    assert_int_equal(r.frame.outbox->filter->destination.len, 0);
    free_argv(&c);
    parse_ok(&c, &a, (const char *const[]){"outbox", "list", NULL});
    assert_int_equal(a.cmd, CLI_OUTBOX_LIST);
    free_argv(&c);
}

static void test_actions(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_outbox_args a;
    struct cli_outbox_request r;

    parse_ok(&c, &a, (const char *const[]){"outbox", "retry", "42", "--note", "证书已登记", NULL});
    cli_outbox_build(&a, &r);
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_OUTBOX_ACTION);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_OK);
    assert_int_equal(r.frame.outbox_action->outbox_id, 42);
    assert_int_equal(r.frame.outbox_action->action, MINYI__V1__OUTBOX_ACTION__RETRY);
    assert_true(bytes_is(&r.frame.outbox_action->note, "证书已登记"));
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"--json", "outbox", "cancel", "7", NULL});
    cli_outbox_build(&a, &r);
    assert_int_equal(r.frame.outbox_action->outbox_id, 7);
    assert_int_equal(r.frame.outbox_action->action, MINYI__V1__OUTBOX_ACTION__CANCEL);
    assert_int_equal(r.frame.outbox_action->note.len, 0);
    free_argv(&c);
}

static void test_refused(void **state)
{
    (void)state;
    parse_refused((const char *const[]){"outbox", "--state", "lost", NULL}, "--state");
    parse_refused((const char *const[]){"outbox", "--state", "dead", "--state", "DEAD", NULL},
                  "twice");
    parse_refused((const char *const[]){"outbox", "--limit", "0", NULL}, "--limit");
    parse_refused((const char *const[]){"outbox", "retry", NULL}, "one ID");
    parse_refused((const char *const[]){"outbox", "retry", "1", "2", NULL}, "one ID");
    parse_refused((const char *const[]){"outbox", "retry", "0", NULL}, "outbox id");
    parse_refused((const char *const[]){"outbox", "cancel", "12x", NULL}, "outbox id");
    parse_refused((const char *const[]){"outbox", "resend", "1", NULL}, "resend");
    parse_refused((const char *const[]){"outbox", "retry", "1", "--state", "dead", NULL},
                  "--state does not belong");
    parse_refused((const char *const[]){"outbox", "--note", "x", NULL}, "--note does not belong");
    parse_refused((const char *const[]){"outbox", "--to", "x", NULL}, "unknown option");
    parse_refused((const char *const[]){"outbox", "list", "x", NULL}, "unexpected argument x");
}

static void test_help(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_outbox_args a;
    parse_ok(&c, &a, (const char *const[]){"outbox", "--help", NULL});
    assert_true(a.help);
    free_argv(&c);
    assert_true(cli_outbox_is_command("outbox"));
    assert_false(cli_outbox_is_command("queue"));
    assert_true(cli_outbox_option_wants_value("dest", 4));
    assert_false(cli_outbox_option_wants_value("json", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
