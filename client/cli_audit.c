/*
 * cli_audit: `minyi audit` (see cli_audit.h): one AuditRequest on a fresh
 * connection, printed as the chain's status and a table of its entries, or
 * as one JSON object.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_audit.h"
#include "cli_table.h"
#include "cli_triage.h"
#include "cli_util.h"
#include "client_err.h"

enum aopt {
    A_PROFILE = 256,
    A_JSON,
    A_FROM,
    A_TO,
    A_REPORT,
    A_AFTER,
    A_LIMIT,
};

#define AUDIT_CMD 1u
static const struct cli_opt_def aopts[] = {
    {{"profile", required_argument, NULL, A_PROFILE}, AUDIT_CMD},
    {{"json", no_argument, NULL, A_JSON}, AUDIT_CMD},
    {{"help", no_argument, NULL, 'h'}, AUDIT_CMD},
    {{"from", required_argument, NULL, A_FROM}, AUDIT_CMD},
    {{"to", required_argument, NULL, A_TO}, AUDIT_CMD},
    {{"report", required_argument, NULL, A_REPORT}, AUDIT_CMD},
    {{"after", required_argument, NULL, A_AFTER}, AUDIT_CMD},
    {{"limit", required_argument, NULL, A_LIMIT}, AUDIT_CMD},
};
#define N_AOPTS (sizeof(aopts) / sizeof(aopts[0]))
/* Options of one command line, at most this many in all. */
#define AUDIT_MAX_OPTS 16
/* The most entries one request may ask for (PROTOCOL.md §3.17). */
#define AUDIT_LIMIT_MAX 1000

void cli_audit_usage(FILE *out)
{
    fputs("Audit (offices and admins):\n"
          "  audit [--from DATE] [--to DATE] [--report RECEIPT] [--after SEQ] [--limit N]\n"
          "        [--json]\n"
          "        The sealed audit chain: who did what, when, oldest first (100 entries,\n"
          "        at most 1000; --after the last seq shown for the next page), and how\n"
          "        far the gateway last verified the chain.  --report: that report's\n"
          "        entries only.  DATE is YYYY-MM-DD (China time); --to's day is included.\n",
          out);
}

bool cli_audit_is_command(const char *name)
{
    return strcmp(name, "audit") == 0;
}

bool cli_audit_option_wants_value(const char *name, size_t len)
{
    return cli_opt_wants_value(aopts, N_AOPTS, name, len);
}

static bool apply_opt(struct cli_audit_args *a, int id, const char *val, char *err, size_t errlen)
{
    unsigned long v;
    switch (id) {
    case A_PROFILE:
        a->profile_path = val;
        return true;
    case A_JSON:
        a->json = true;
        return true;
    case A_FROM:
        if (!cli_triage_parse_time(val, false, &a->from_ms))
            return cli_fail(err, errlen, "--from wants a date YYYY-MM-DD, not %s", val);
        return true;
    case A_TO:
        if (!cli_triage_parse_time(val, true, &a->to_ms))
            return cli_fail(err, errlen, "--to wants a date YYYY-MM-DD, not %s", val);
        return true;
    case A_REPORT:
        if (val[0] == '\0')
            return cli_fail(err, errlen, "--report wants a receipt");
        a->receipt = val;
        return true;
    case A_AFTER:
        if (!cli_parse_id(val, &a->after_seq))
            return cli_fail(err, errlen, "--after wants a sequence number, not %s", val);
        return true;
    case A_LIMIT:
        if (!cli_parse_uint(val, AUDIT_LIMIT_MAX, &v) || v == 0)
            return cli_fail(err, errlen, "--limit wants a number from 1 to %d, not %s",
                            AUDIT_LIMIT_MAX, val);
        a->limit = (uint32_t)v;
        return true;
    default:
        abort(); /* every option in aopts has a case */
    }
}

bool cli_audit_parse(int argc, char **argv, struct cli_audit_args *a, char *err, size_t errlen)
{
    struct cli_raw_opt raw[AUDIT_MAX_OPTS];
    size_t n_raw;

    memset(a, 0, sizeof(*a));
    if (!cli_opts_collect(argc, argv, aopts, N_AOPTS, A_PROFILE, raw, AUDIT_MAX_OPTS, &n_raw,
                          &a->help, err, errlen))
        return false;
    if (a->help)
        return true;
    if (optind >= argc || !cli_audit_is_command(argv[optind]))
        return cli_fail(err, errlen, "no audit command");
    if (optind + 1 < argc)
        return cli_fail(err, errlen, "unexpected argument %s", argv[optind + 1]);
    for (size_t k = 0; k < n_raw; k++)
        if (!apply_opt(a, raw[k].id, raw[k].value, err, errlen))
            return false;
    if (a->from_ms != 0 && a->to_ms != 0 && a->to_ms <= a->from_ms)
        return cli_fail(err, errlen, "--to must not be before --from");
    return true;
}

static void bytes_str(const ProtobufCBinaryData *b, char *out, size_t len)
{
    size_t n = b->len < len - 1 ? b->len : len - 1;
    if (n > 0)
        memcpy(out, b->data, n);
    out[n] = '\0';
}

/* The chain's status in one line: how far the gateway's last check
 * verified it, or where it found it broken. */
static void print_status(const Minyi__V1__AuditResponse *m)
{
    char at[64], what[600];

    cli_format_time(m->checked_at_ms, at, sizeof at);
    printf("chain: %" PRId64 " entries sealed, head signed up to seq %" PRId64 "\n", m->head_seq,
           m->signed_seq);
    if (m->checked_at_ms == 0) {
        printf("check: not checked yet\n");
    } else if (m->broken_seq != 0) {
        bytes_str(&m->broken_what, what, sizeof what);
        printf("check: BROKEN at seq %" PRId64 ": %s (checked %s; verified up to seq %" PRId64
               ")\n", m->broken_seq, what, at, m->verified_seq);
    } else {
        printf("check: verified up to seq %" PRId64 " (checked %s)\n", m->verified_seq, at);
    }
}

static bool entries_table(const Minyi__V1__AuditResponse *m, struct cli_table *t)
{
    const char *headers[] = {"seq", "时间", "动作", "操作者", "回执", "状态", "说明"};
    char buf[1024];

    if (!cli_table_init(t, "audit", headers, sizeof headers / sizeof headers[0]))
        return false;
    for (size_t i = 0; i < m->n_entries; i++) {
        const Minyi__V1__AuditEntry *e = m->entries[i];
        long r = cli_table_add_row(t);
        if (r < 0)
            goto fail;
        cli_table_set_number(t, (size_t)r, 0, (double)e->seq);
        cli_format_time(e->at_ms, buf, sizeof buf);
        if (!cli_table_set_text(t, (size_t)r, 1, buf))
            goto fail;
        if (e->missing)
            snprintf(buf, sizeof buf, "(missing)");
        else
            bytes_str(&e->action, buf, sizeof buf);
        if (!cli_table_set_text(t, (size_t)r, 2, buf))
            goto fail;
        bytes_str(&e->actor, buf, sizeof buf);
        if (!cli_table_set_text(t, (size_t)r, 3, buf))
            goto fail;
        bytes_str(e->receipt.len > 0 ? &e->receipt : &e->subject, buf, sizeof buf);
        if (!cli_table_set_text(t, (size_t)r, 4, buf))
            goto fail;
        bytes_str(&e->state, buf, sizeof buf);
        if (!cli_table_set_text(t, (size_t)r, 5, buf))
            goto fail;
        bytes_str(&e->note, buf, sizeof buf);
        if (!cli_table_set_text(t, (size_t)r, 6, buf))
            goto fail;
    }
    return true;
fail:
    cli_table_free(t);
    return false;
}

static void print_json(const Minyi__V1__AuditResponse *m)
{
    json_t *entries = json_array();
    for (size_t i = 0; entries != NULL && i < m->n_entries; i++) {
        const Minyi__V1__AuditEntry *e = m->entries[i];
        json_array_append_new(
            entries, json_pack("{sI so so sI so so so so so so sb}", "seq", (json_int_t)e->seq,
                               "hash", cli_jbytes(&e->hash), "source", cli_jbytes(&e->source),
                               "at_ms", (json_int_t)e->at_ms, "action", cli_jbytes(&e->action),
                               "actor", cli_jbytes(&e->actor), "receipt", cli_jbytes(&e->receipt),
                               "state", cli_jbytes(&e->state), "note", cli_jbytes(&e->note),
                               "subject", cli_jbytes(&e->subject), "missing", e->missing));
    }
    json_t *j = json_pack("{s{sI sI sI sI sI so} sO sb}", "chain", "head_seq",
                          (json_int_t)m->head_seq, "signed_seq", (json_int_t)m->signed_seq,
                          "verified_seq", (json_int_t)m->verified_seq, "checked_at_ms",
                          (json_int_t)m->checked_at_ms, "broken_seq", (json_int_t)m->broken_seq,
                          "broken_what", cli_jbytes(&m->broken_what), "entries", entries, "more",
                          m->more);
    json_decref(entries);
    if (j != NULL)
        cli_print_json(j);
}

static int run_audit(const struct client_profile *p, const struct cli_audit_args *a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__AuditRequest q = MINYI__V1__AUDIT_REQUEST__INIT;
    struct frame_arena *arena = NULL;
    struct cli_table t;
    int rc = CLI_EXIT_DONE;

    q.from_ms = a->from_ms;
    q.to_ms = a->to_ms;
    q.after_seq = a->after_seq;
    q.limit = a->limit;
    if (a->receipt != NULL) {
        q.receipt.data = (uint8_t *)a->receipt;
        q.receipt.len = strlen(a->receipt);
    }
    f.body_case = MINYI__V1__FRAME__BODY_AUDIT;
    f.audit = &q;
    Frame *ans = cli_call_expect(p, a->json, &f, MINYI__V1__FRAME__BODY_AUDIT_OK, &arena, &rc);
    if (ans != NULL && ans->audit_ok == NULL)
        rc = cli_report_failure(a->json, CLIENT_ERR_PROTOCOL "answer without a body");
    else if (ans != NULL && a->json)
        print_json(ans->audit_ok);
    else if (ans != NULL && !entries_table(ans->audit_ok, &t))
        rc = cli_report_failure(false, "out of memory");
    else if (ans != NULL) {
        print_status(ans->audit_ok);
        cli_table_print(stdout, &t);
        cli_table_free(&t);
        if (ans->audit_ok->more && ans->audit_ok->n_entries > 0)
            printf("more: minyi audit --after %" PRId64 "\n",
                   ans->audit_ok->entries[ans->audit_ok->n_entries - 1]->seq);
    }
    frame_arena_free(arena);
    return rc;
}

int cli_audit_main(int argc, char **argv, void (*usage)(FILE *out))
{
    struct cli_audit_args a;
    struct client_profile profile;
    char err[CLI_ERR_LEN];

    bool parsed = cli_audit_parse(argc, argv, &a, err, sizeof(err));
    int rc = cli_command_begin(parsed, err, a.help, a.profile_path, &profile, usage);
    if (rc >= 0)
        return rc;
    return cli_command_end(run_audit(&profile, &a));
}
