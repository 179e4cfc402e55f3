/*
 * Unit tests for the editors' commands of the minyi CLI: what a command
 * line turns into on the wire, and which command lines are refused before
 * anything is sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "argv_copy.h"
#include "cli_triage.h"

#define ERRLEN 512

/* Parses args (NULL-terminated) into *a; the strings stay alive in *c. */
static void parse_ok(struct argv_copy *c, struct cli_triage_args *a, const char *const *args)
{
    char err[ERRLEN] = "";
    make_argv(c, args);
    if (!cli_triage_parse(c->argc, c->argv, a, err, sizeof(err)))
        fail_msg("refused: %s", err);
}

/* Asserts the command line is refused with a reason containing needle. */
static void parse_refused(const char *const *args, const char *needle)
{
    struct argv_copy c;
    struct cli_triage_args a;
    char err[ERRLEN] = "";
    make_argv(&c, args);
    bool ok = cli_triage_parse(c.argc, c.argv, &a, err, sizeof(err));
    free_argv(&c);
    if (ok)
        fail_msg("accepted a command line that should be refused (%s)", needle);
    if (strstr(err, needle) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", err, needle);
}

static void assert_bytes(ProtobufCBinaryData b, const char *s)
{
    assert_int_equal(b.len, strlen(s));
    if (b.len > 0)
        assert_memory_equal(b.data, s, b.len);
}

/* The built frame must encode and decode back to the same request kind. */
static void assert_roundtrip(const struct cli_triage_request *r)
{
    size_t len;
    uint8_t *buf = frame_encode(&r->frame, &len);
    assert_non_null(buf);
    struct frame_arena *arena = NULL;
    Frame *f = frame_decode(buf + FRAME_HEADER_LEN, len - FRAME_HEADER_LEN,
                            FRAME_DEFAULT_DECODE_BUDGET, &arena);
    assert_non_null(f);
    assert_int_equal(f->body_case, r->frame.body_case);
    frame_arena_free(arena);
    free(buf);
}

static void build_ok(const struct cli_triage_args *a, struct cli_triage_request *r)
{
    char err[ERRLEN] = "";
    if (!cli_triage_build(a, r, err, sizeof(err)))
        fail_msg("build failed: %s", err);
    assert_roundtrip(r);
}

static void test_commands_known(void **state)
{
    (void)state;
    const char *ours[] = {"queue", "show", "claim", "renew", "release", "edit", "adopt",
                          "reject", "return", "merge", "forward", "watch"};
    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
        assert_true(cli_triage_is_command(ours[i]));
    assert_false(cli_triage_is_command("submit"));
    assert_false(cli_triage_is_command("status"));
    assert_false(cli_triage_is_command("resubmit"));
    assert_true(cli_triage_option_wants_value("lease", 5));
    assert_true(cli_triage_option_wants_value("to", 2));
    assert_false(cli_triage_option_wants_value("diff", 4));
    assert_false(cli_triage_option_wants_value("nothing", 7));
}

static void test_queue_filters(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_triage_args a;
    struct cli_triage_request r;
    parse_ok(&c, &a,
             (const char *const[]){"--profile", "p.ini", "queue", "--state", "received",
                                   "--state", "in-review", "--state", "5", "--category",
                                   "SOCIETY", "--category", "ecology", "--urgency", "URGENT",
                                   "--region", "3304", "--contact-point", "42", "--from",
                                   "2026-03-01", "--to", "2026-03-01", "--mine", "--text",
                                   "路灯", "--overdue", "--dead", "--limit", "7", "--cursor",
                                   "abc", "--json", NULL});
    assert_int_equal(a.cmd, CLI_TRIAGE_QUEUE);
    assert_string_equal(a.profile_path, "p.ini");
    assert_true(a.json);
    build_ok(&a, &r);
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_QUEUE);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_QUEUE_OK);
    const Minyi__V1__QueueFilter *f = r.queue.filter;
    assert_int_equal(f->n_states, 3);
    assert_int_equal(f->states[0], MINYI__V1__REPORT_STATE__RECEIVED);
    assert_int_equal(f->states[1], MINYI__V1__REPORT_STATE__IN_REVIEW);
    assert_int_equal(f->states[2], MINYI__V1__REPORT_STATE__RETURNED);
    assert_int_equal(f->n_categories, 2);
    assert_int_equal(f->categories[0], MINYI__V1__CATEGORY__SOCIETY);
    assert_int_equal(f->categories[1], MINYI__V1__CATEGORY__ECOLOGY);
    assert_int_equal(f->urgency, MINYI__V1__URGENCY__URGENT);
    assert_bytes(f->region_prefix, "3304");
    assert_int_equal(f->contact_point_id, 42);
    /* Dates are China Standard Time, though main sets TZ=UTC; a bare --to
     * date covers that whole day. */
    assert_int_equal(f->received_from_ms, 1772294400000LL);
    assert_int_equal(f->received_to_ms, 1772380800000LL);
    assert_true(f->claimed_by_me);
    assert_bytes(f->text, "路灯");
    assert_true(f->overdue_only);
    assert_true(f->dead_deliveries_only);
    assert_int_equal(r.queue.limit, 7);
    assert_bytes(r.queue.cursor, "abc");
    cli_triage_request_free(&r);
    free_argv(&c);
}

static void test_queue_defaults(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_triage_args a;
    struct cli_triage_request r;
    parse_ok(&c, &a, (const char *const[]){"queue", NULL});
    build_ok(&a, &r);
    const Minyi__V1__QueueFilter *f = r.queue.filter;
    assert_int_equal(f->n_states, 0);
    assert_int_equal(f->n_categories, 0);
    assert_int_equal(f->urgency, 0);
    assert_int_equal(f->region_prefix.len, 0);
    assert_int_equal(f->received_from_ms, 0);
    assert_int_equal(f->received_to_ms, 0);
    assert_false(f->claimed_by_me);
    assert_int_equal(r.queue.limit, 0);
    assert_int_equal(r.queue.cursor.len, 0);
    cli_triage_request_free(&r);
    free_argv(&c);
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms;
    /* China Standard Time (UTC+8) whatever TZ says: main sets TZ=UTC. */
    assert_true(cli_triage_parse_time("2026-03-01T09:30:15", false, &ms));
    assert_int_equal(ms, 1772328615000LL);
    assert_true(cli_triage_parse_time("2026-03-01 09:30:15", true, &ms));
    assert_int_equal(ms, 1772328615000LL); /* a time is taken as it is */
    assert_true(cli_triage_parse_time("2026-03-01T09:30", false, &ms));
    assert_int_equal(ms, 1772328600000LL);
    assert_true(cli_triage_parse_time("2026-03-01", false, &ms));
    assert_int_equal(ms, 1772294400000LL);
    assert_true(cli_triage_parse_time("2026-02-28", true, &ms));
    assert_int_equal(ms, 1772294400000LL); /* end of February is 1 March */
    assert_false(cli_triage_parse_time("2026-3-1", false, &ms));
    assert_false(cli_triage_parse_time("yesterday", false, &ms));
    assert_false(cli_triage_parse_time("2026-03-01X", false, &ms));
    assert_false(cli_triage_parse_time("", false, &ms));
}

static void test_show_claim_release(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_triage_args a;
    struct cli_triage_request r;

    parse_ok(&c, &a, (const char *const[]){"show", "330402-2026-000001", "--version", "2",
                                           "--diff", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_SHOW);
    assert_bytes(r.show.receipt, "330402-2026-000001");
    assert_int_equal(r.show.version, 2);
    assert_true(r.show.diff);
    cli_triage_request_free(&r);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"--lease", "90", "claim", "R1", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_CLAIM);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_CLAIM_OK);
    assert_int_equal(r.claim.lease_seconds, 90);
    assert_bytes(r.claim.receipt, "R1");
    cli_triage_request_free(&r);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"renew", "R1", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_RENEW);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_CLAIM_OK);
    assert_int_equal(r.renew.lease_seconds, 0);
    cli_triage_request_free(&r);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"release", "R1", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_RELEASE);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_OK);
    cli_triage_request_free(&r);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"watch", "--json", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_WATCH);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_OK);
    cli_triage_request_free(&r);
    free_argv(&c);
}

static void test_edit(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_triage_args a;
    struct cli_triage_request r;
    char path[] = "/tmp/minyi-test-cli-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "第一行\n第二行\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);

    parse_ok(&c, &a,
             (const char *const[]){"edit", "R2", "--title", "新标题", "--situation-file", path,
                                   "--category", "economy", "--note", "tidied", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_EDIT);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_EDIT_OK);
    assert_bytes(r.edit.receipt, "R2");
    assert_bytes(r.edit.title, "新标题");
    assert_bytes(r.edit.situation, text);
    assert_int_equal(r.edit.analysis.len, 0);
    assert_int_equal(r.edit.suggestions.len, 0);
    assert_int_equal(r.edit.category, MINYI__V1__CATEGORY__ECONOMY);
    assert_bytes(r.edit.note, "tidied");
    cli_triage_request_free(&r);
    free_argv(&c);
    unlink(path);

    /* A file that cannot be read is named in the reason. */
    char err[ERRLEN] = "";
    parse_ok(&c, &a, (const char *const[]){"edit", "R2", "--analysis-file", path, NULL});
    assert_false(cli_triage_build(&a, &r, err, sizeof(err)));
    assert_non_null(strstr(err, "analysis"));
    assert_non_null(strstr(err, path));
    cli_triage_request_free(&r);
    free_argv(&c);
}

static void test_decisions(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_triage_args a;
    struct cli_triage_request r;

    parse_ok(&c, &a, (const char *const[]){"adopt", "R3", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.frame.body_case, MINYI__V1__FRAME__BODY_DECIDE);
    assert_int_equal(r.answer, MINYI__V1__FRAME__BODY_DECIDE_OK);
    assert_int_equal(r.decide.decision, MINYI__V1__DECISION__ADOPT);
    assert_int_equal(r.decide.note.len, 0);
    cli_triage_request_free(&r);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"reject", "R3", "--reason", "重复", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.decide.decision, MINYI__V1__DECISION__REJECT);
    assert_bytes(r.decide.note, "重复");
    cli_triage_request_free(&r);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"return", "R3", "--reason", "补充数据", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.decide.decision, MINYI__V1__DECISION__RETURN);
    assert_bytes(r.decide.note, "补充数据");
    cli_triage_request_free(&r);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"merge", "R3", "--into", "R4", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.decide.decision, MINYI__V1__DECISION__MERGE);
    assert_bytes(r.decide.into_receipt, "R4");
    cli_triage_request_free(&r);
    free_argv(&c);

    parse_ok(&c, &a, (const char *const[]){"forward", "R3", "--to", "city", "--to", "province",
                                           "--note", "急", NULL});
    build_ok(&a, &r);
    assert_int_equal(r.decide.decision, MINYI__V1__DECISION__FORWARD);
    assert_int_equal(r.decide.n_destinations, 2);
    assert_bytes(r.decide.destinations[0], "city");
    assert_bytes(r.decide.destinations[1], "province");
    assert_bytes(r.decide.note, "急");
    cli_triage_request_free(&r);
    free_argv(&c);
}

static void test_help(void **state)
{
    (void)state;
    struct argv_copy c;
    struct cli_triage_args a;
    parse_ok(&c, &a, (const char *const[]){"claim", "--help", NULL});
    assert_true(a.help);
    free_argv(&c);
}

static void test_refused(void **state)
{
    (void)state;
    parse_refused((const char *const[]){"claim", NULL}, "RECEIPT");
    parse_refused((const char *const[]){"claim", "A", "B", NULL}, "RECEIPT");
    parse_refused((const char *const[]){"queue", "extra", NULL}, "extra");
    parse_refused((const char *const[]){"reject", "R", NULL}, "--reason");
    parse_refused((const char *const[]){"return", "R", "--reason", "", NULL}, "--reason");
    parse_refused((const char *const[]){"reject", "R", "--note", "x", NULL},
                  "--note does not belong to reject");
    parse_refused((const char *const[]){"merge", "R", NULL}, "--into");
    parse_refused((const char *const[]){"merge", "R", "--into", "R", NULL}, "itself");
    parse_refused((const char *const[]){"forward", "R", NULL}, "--to");
    parse_refused((const char *const[]){"edit", "R", NULL}, "at least one");
    parse_refused((const char *const[]){"edit", "R", "--situation", "a", "--situation-file",
                                        "f", NULL},
                  "not both");
    parse_refused((const char *const[]){"edit", "R", "--category", "SOCIETY", "--category",
                                        "OTHER", NULL},
                  "one --category");
    parse_refused((const char *const[]){"queue", "--state", "NOPE", NULL}, "IN_REVIEW");
    parse_refused((const char *const[]){"queue", "--state", "STATE_UNSPECIFIED", NULL},
                  "--state");
    parse_refused((const char *const[]){"queue", "--category", "99", NULL}, "--category");
    parse_refused((const char *const[]){"queue", "--urgency", "LOW", NULL}, "--urgency");
    parse_refused((const char *const[]){"queue", "--contact-point", "-3", NULL},
                  "--contact-point");
    parse_refused((const char *const[]){"queue", "--from", "soon", NULL}, "--from");
    parse_refused((const char *const[]){"queue", "--from", "2026-03-02", "--to", "2026-03-01",
                                        NULL},
                  "later");
    parse_refused((const char *const[]){"queue", "--limit", "0", NULL}, "--limit");
    parse_refused((const char *const[]){"queue", "--limit", NULL}, "wants a value");
    parse_refused((const char *const[]){"queue", "--lease", "5", NULL},
                  "--lease does not belong to queue");
    parse_refused((const char *const[]){"show", "R", "--version", "0", NULL}, "--version");
    parse_refused((const char *const[]){"claim", "R", "--lease", "x", NULL}, "--lease");
    parse_refused((const char *const[]){"claim", "R", "--bogus", NULL}, "unknown option");
    parse_refused((const char *const[]){"watch", "--title", "t", NULL},
                  "--title does not belong to watch");
}

int main(void)
{
    /* Dates on the command line are local time; pin it for the expected
     * values. */
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_known),  cmocka_unit_test(test_queue_filters),
        cmocka_unit_test(test_queue_defaults),  cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_show_claim_release), cmocka_unit_test(test_edit),
        cmocka_unit_test(test_decisions),       cmocka_unit_test(test_help),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
