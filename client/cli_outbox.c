/*
 * cli_outbox: the editors' outbox commands of the `minyi` CLI (see
 * cli_outbox.h).  Each sends one request on a fresh connection: a page of
 * the outbox, or an action on one delivery.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_outbox.h"
#include "cli_util.h"
#include "client_err.h"

/* The delivery states, as the wire names them. */
static const char *const outbox_states[CLI_OUTBOX_MAX_STATES] = {
    "pending", "in_flight", "delivered", "result", "dead", "cancelled",
};

enum oopt {
    O_PROFILE = 256,
    O_JSON,
    O_STATE,
    O_DEST,
    O_RECEIPT,
    O_LIMIT,
    O_CURSOR,
    O_NOTE,
};

#define LIST_ONLY (1u << CLI_OUTBOX_LIST)
#define ACTIONS ((1u << CLI_OUTBOX_RETRY) | (1u << CLI_OUTBOX_CANCEL))

static const struct cli_opt_def oopts[] = {
    {{"profile", required_argument, NULL, O_PROFILE}, LIST_ONLY | ACTIONS},
    {{"json", no_argument, NULL, O_JSON}, LIST_ONLY | ACTIONS},
    {{"help", no_argument, NULL, 'h'}, LIST_ONLY | ACTIONS},
    {{"state", required_argument, NULL, O_STATE}, LIST_ONLY},
    {{"dest", required_argument, NULL, O_DEST}, LIST_ONLY},
    {{"receipt", required_argument, NULL, O_RECEIPT}, LIST_ONLY},
    {{"limit", required_argument, NULL, O_LIMIT}, LIST_ONLY},
    {{"cursor", required_argument, NULL, O_CURSOR}, LIST_ONLY},
    {{"note", required_argument, NULL, O_NOTE}, ACTIONS},
};
#define N_OOPTS (sizeof(oopts) / sizeof(oopts[0]))
/* Options of one command line, at most this many in all. */
#define OUTBOX_MAX_OPTS 64

void cli_outbox_usage(FILE *out)
{
    fputs(
        "Outbox (editors; the deliveries of forwarded reports, one per destination):\n"
        "  outbox [--state S]... [--dest D] [--receipt R] [--limit N] [--cursor C]\n"
        "        Lists deliveries, newest first: id, state, destination, attempts,\n"
        "        next attempt, receipt and title, and under each its last error and\n"
        "        the receipt above.  S is pending, in_flight, delivered, result, dead\n"
        "        or cancelled (default: any).  A delivery goes dead after a\n"
        "        permanent refusal or its last allowed attempt.\n"
        "  outbox retry ID [--note T]\n"
        "        Sends a dead delivery again, now, with the full number of attempts.\n"
        "  outbox cancel ID [--note T]\n"
        "        Gives up a dead or pending delivery; it is never sent.\n"
        "        Either action is recorded in the report's history with the note.\n"
        "        A delivery in another state is CONFLICT (exit 7).\n",
        out);
}

bool cli_outbox_is_command(const char *name)
{
    return strcmp(name, "outbox") == 0;
}

bool cli_outbox_option_wants_value(const char *name, size_t len)
{
    return cli_opt_wants_value(oopts, N_OOPTS, name, len);
}

/* A state by its name in any case, '-' for '_' (DEAD, in-flight). */
static bool parse_state(const char *s, char out[CLI_OUTBOX_STATE_LEN])
{
    size_t len = strlen(s);
    if (len == 0 || len >= CLI_OUTBOX_STATE_LEN)
        return false;
    for (size_t i = 0; i <= len; i++)
        out[i] = s[i] == '-' ? '_' : (char)tolower((unsigned char)s[i]);
    for (size_t i = 0; i < CLI_OUTBOX_MAX_STATES; i++)
        if (strcmp(out, outbox_states[i]) == 0)
            return true;
    return false;
}

static bool apply_opt(struct cli_outbox_args *a, int id, const char *val, char *err,
                      size_t errlen)
{
    unsigned long v;
    switch (id) {
    case O_PROFILE:
        a->profile_path = val;
        return true;
    case O_JSON:
        a->json = true;
        return true;
    case O_STATE:
        if (a->n_states == CLI_OUTBOX_MAX_STATES)
            return cli_fail(err, errlen, "too many --state options");
        if (!parse_state(val, a->states[a->n_states]))
            return cli_fail(err, errlen, "--state wants one of pending in_flight delivered result "
                                     "dead cancelled, not %s", val);
        for (size_t i = 0; i < a->n_states; i++)
            if (strcmp(a->states[i], a->states[a->n_states]) == 0)
                return cli_fail(err, errlen, "--state %s is given twice", val);
        a->n_states++;
        return true;
    case O_DEST:
        if (val[0] == '\0')
            return cli_fail(err, errlen, "--dest wants a destination name");
        a->destination = val;
        return true;
    case O_RECEIPT:
        if (val[0] == '\0')
            return cli_fail(err, errlen, "--receipt wants a receipt");
        a->receipt = val;
        return true;
    case O_LIMIT:
        if (!cli_parse_uint(val, UINT32_MAX, &v) || v == 0)
            return cli_fail(err, errlen, "--limit wants a positive number, not %s", val);
        a->limit = (uint32_t)v;
        return true;
    case O_CURSOR:
        a->cursor = val;
        return true;
    case O_NOTE:
        a->note = val;
        return true;
    default:
        abort(); /* every option in oopts has a case */
    }
}

bool cli_outbox_parse(int argc, char **argv, struct cli_outbox_args *a, char *err, size_t errlen)
{
    struct cli_raw_opt raw[OUTBOX_MAX_OPTS];
    size_t n_raw;

    memset(a, 0, sizeof(*a));
    if (!cli_opts_collect(argc, argv, oopts, N_OOPTS, O_PROFILE, raw, OUTBOX_MAX_OPTS, &n_raw,
                          &a->help, err, errlen))
        return false;
    if (a->help)
        return true;
    if (optind >= argc || !cli_outbox_is_command(argv[optind]))
        return cli_fail(err, errlen, "no outbox command");
    int npos = argc - optind - 1;
    char **pos = argv + optind + 1;
    a->cmd = CLI_OUTBOX_LIST;
    if (npos > 0 && strcmp(pos[0], "list") != 0) {
        if (strcmp(pos[0], "retry") == 0)
            a->cmd = CLI_OUTBOX_RETRY;
        else if (strcmp(pos[0], "cancel") == 0)
            a->cmd = CLI_OUTBOX_CANCEL;
        else
            return cli_fail(err, errlen,
                            "outbox wants retry ID, cancel ID or no argument, not %s", pos[0]);
        if (npos != 2)
            return cli_fail(err, errlen, "outbox %s wants exactly one ID", pos[0]);
        if (!cli_parse_id(pos[1], &a->outbox_id))
            return cli_fail(err, errlen,
                            "outbox %s wants an outbox id (a positive number), not %s", pos[0],
                            pos[1]);
    } else if (npos > 1) {
        return cli_fail(err, errlen, "unexpected argument %s", pos[1]);
    }
    for (size_t k = 0; k < n_raw; k++) {
        if ((cli_opt_cmds(oopts, N_OOPTS, raw[k].id) & (1u << a->cmd)) == 0)
            return cli_fail(err, errlen, "--%s does not belong to outbox %s",
                            cli_opt_name(oopts, N_OOPTS, raw[k].id),
                            a->cmd == CLI_OUTBOX_LIST    ? "(the list)"
                            : a->cmd == CLI_OUTBOX_RETRY ? "retry"
                                                         : "cancel");
        if (!apply_opt(a, raw[k].id, raw[k].value, err, errlen))
            return false;
    }
    return true;
}

void cli_outbox_build(const struct cli_outbox_args *a, struct cli_outbox_request *r)
{
    memset(r, 0, sizeof(*r));
    r->frame = (Frame)MINYI__V1__FRAME__INIT;
    r->filter = (Minyi__V1__OutboxFilter)MINYI__V1__OUTBOX_FILTER__INIT;
    r->list = (Minyi__V1__OutboxRequest)MINYI__V1__OUTBOX_REQUEST__INIT;
    r->action = (Minyi__V1__OutboxActionRequest)MINYI__V1__OUTBOX_ACTION_REQUEST__INIT;
    if (a->cmd == CLI_OUTBOX_LIST) {
        for (size_t i = 0; i < a->n_states; i++)
            r->states[i] = frame_bytes(a->states[i]);
        r->filter.n_states = a->n_states;
        r->filter.states = a->n_states > 0 ? r->states : NULL;
        r->filter.destination = frame_bytes(a->destination != NULL ? a->destination : "");
        r->filter.receipt = frame_bytes(a->receipt != NULL ? a->receipt : "");
        r->list.filter = &r->filter;
        r->list.limit = a->limit;
        r->list.cursor = frame_bytes(a->cursor != NULL ? a->cursor : "");
        r->frame.body_case = MINYI__V1__FRAME__BODY_OUTBOX;
        r->frame.outbox = &r->list;
        r->answer = MINYI__V1__FRAME__BODY_OUTBOX_OK;
        return;
    }
    r->action.outbox_id = a->outbox_id;
    r->action.action = a->cmd == CLI_OUTBOX_RETRY ? MINYI__V1__OUTBOX_ACTION__RETRY
                                                  : MINYI__V1__OUTBOX_ACTION__CANCEL;
    r->action.note = frame_bytes(a->note != NULL ? a->note : "");
    r->frame.body_case = MINYI__V1__FRAME__BODY_OUTBOX_ACTION;
    r->frame.outbox_action = &r->action;
    r->answer = MINYI__V1__FRAME__BODY_OK;
}

/* ---- printing answers ---------------------------------------------------- */

static void print_list_json(const Minyi__V1__OutboxResponse *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < m->n_items; i++) {
        const Minyi__V1__OutboxEntry *e = m->items[i];
        json_array_append_new(
            arr, json_pack("{s:I,s:o,s:o,s:o,s:o,s:I,s:I,s:o,s:o,s:I}", "outbox_id",
                           (json_int_t)e->outbox_id, "receipt", cli_jbytes(&e->receipt),
                           "title", cli_jbytes(&e->title), "destination",
                           cli_jbytes(&e->destination), "state", cli_jbytes(&e->state),
                           "attempts", (json_int_t)e->attempts, "next_attempt_ms",
                           (json_int_t)e->next_attempt_ms, "last_error",
                           cli_jbytes(&e->last_error), "upstream_receipt",
                           cli_jbytes(&e->upstream_receipt), "created_ms",
                           (json_int_t)e->created_ms));
    }
    json_t *j = json_pack("{s:o,s:o}", "items", arr, "next_cursor", cli_jbytes(&m->next_cursor));
    if (j != NULL)
        cli_print_json(j);
}

/* True when the row waits for a time of its own (a due time or a lease). */
static bool has_next_attempt(const ProtobufCBinaryData *state)
{
    return (state->len == 7 && memcmp(state->data, "pending", 7) == 0) ||
           (state->len == 9 && memcmp(state->data, "in_flight", 9) == 0);
}

static void print_list(bool json, const Minyi__V1__OutboxResponse *m)
{
    char when[64];
    if (json) {
        print_list_json(m);
        return;
    }
    printf("%-8s %-10s %-12s %-8s %-24s %-20s %s\n", "ID", "STATE", "DESTINATION", "ATTEMPTS",
           "NEXT ATTEMPT", "RECEIPT", "TITLE");
    for (size_t i = 0; i < m->n_items; i++) {
        const Minyi__V1__OutboxEntry *e = m->items[i];
        printf("%-8" PRId64 " %-10.*s %-12.*s %-8u ", e->outbox_id, (int)e->state.len,
               (const char *)e->state.data, (int)e->destination.len,
               (const char *)e->destination.data, e->attempts);
        if (has_next_attempt(&e->state))
            cli_format_time(e->next_attempt_ms, when, sizeof(when));
        else
            snprintf(when, sizeof(when), "-");
        printf("%-24s %-20.*s ", when, (int)e->receipt.len, (const char *)e->receipt.data);
        cli_print_bytes(&e->title);
        fputc('\n', stdout);
        if (e->last_error.len > 0) {
            fputs("         error: ", stdout);
            cli_print_bytes(&e->last_error);
            fputc('\n', stdout);
        }
        if (e->upstream_receipt.len > 0) {
            fputs("         receipt above: ", stdout);
            cli_print_bytes(&e->upstream_receipt);
            fputc('\n', stdout);
        }
    }
    if (m->next_cursor.len > 0) {
        fputs("next_cursor=", stdout);
        cli_print_bytes(&m->next_cursor);
        fputc('\n', stdout);
    }
}

static void print_action(const struct cli_outbox_args *a)
{
    const char *state = a->cmd == CLI_OUTBOX_RETRY ? "pending" : "cancelled";
    if (a->json) {
        json_t *j = json_pack("{s:I,s:s}", "outbox_id", (json_int_t)a->outbox_id, "state", state);
        if (j != NULL)
            cli_print_json(j);
        return;
    }
    printf("outbox %" PRId64 " %s\n", a->outbox_id, state);
}

/* ---- main ---------------------------------------------------------------- */

int cli_outbox_main(int argc, char **argv, void (*usage)(FILE *out))
{
    struct cli_outbox_args a;
    struct cli_outbox_request r;
    struct client_profile profile;
    struct frame_arena *arena = NULL;
    char err[CLI_ERR_LEN];

    bool parsed = cli_outbox_parse(argc, argv, &a, err, sizeof(err));
    int rc = cli_command_begin(parsed, err, a.help, a.profile_path, &profile, usage);
    if (rc >= 0)
        return rc;
    rc = CLI_EXIT_DONE;
    cli_outbox_build(&a, &r);
    Frame *ans = cli_call_expect(&profile, a.json, &r.frame, r.answer, &arena, &rc);
    if (ans != NULL) {
        if (a.cmd == CLI_OUTBOX_LIST && ans->outbox_ok != NULL)
            print_list(a.json, ans->outbox_ok);
        else if (a.cmd != CLI_OUTBOX_LIST && ans->ok != NULL)
            print_action(&a);
        else
            rc = cli_report_failure(a.json, CLIENT_ERR_PROTOCOL "answer without a body");
    }
    frame_arena_free(arena);
    return cli_command_end(rc);
}
