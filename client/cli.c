/*
 * minyi: the command-line client for contact points and editors.
 *
 *   minyi --profile FILE submit --file report.json [field flags] [--json]
 *   minyi --profile FILE status RECEIPT [--json]
 *   minyi --profile FILE mine [--limit N] [--cursor C] [--json]
 *   minyi --profile FILE resubmit RECEIPT --file report.json [--json]
 *   minyi --profile FILE spool [--list] [--json]
 *   minyi --profile FILE queue|show|claim|... (editors; see cli_triage.c)
 *   minyi --profile FILE outbox [retry|cancel ID] (editors; see cli_outbox.c)
 *   minyi --profile FILE stats|points ... (offices; see cli_office.c)
 *   minyi --profile FILE issue new|add|... (专报 issues; see cli_issue.c)
 *
 * Results go to standard output (the receipt is always the first line of a
 * plain submit), errors to standard error as "minyi: CODE field: message",
 * and the exit status tells scripts what kind of failure it was (see
 * usage()).  A submission is written to the profile's spool before it is
 * sent (cli_spool.h); one whose answer is lost (connection refused, reset
 * or timed out) or that the gateway could not take right now is sent again
 * with the same client_report_id, which the gateway's idempotency makes
 * safe, and stays in the spool when it still cannot get through.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_issue.h"
#include "cli_audit.h"
#include "cli_office.h"
#include "cli_inbox.h"
#include "cli_outbox.h"
#include "cli_spool.h"
#include "cli_triage.h"
#include "cli_util.h"
#include "client.h"
#include "client_err.h"
#include "spool.h"

#define EXIT_DONE CLI_EXIT_DONE
#define EXIT_USAGE CLI_EXIT_USAGE
#define EXIT_INVALID CLI_EXIT_INVALID
#define EXIT_REFUSED CLI_EXIT_REFUSED
#define EXIT_UNAVAILABLE CLI_EXIT_UNAVAILABLE
#define EXIT_NOT_FOUND CLI_EXIT_NOT_FOUND
#define EXIT_CONFLICT CLI_EXIT_CONFLICT
#define EXIT_OTHER CLI_EXIT_OTHER

#define CLI_DEFAULT_RETRIES 3
#define CLI_MAX_RETRIES 100
#define CLI_MAX_OVERRIDES 64

static void usage(FILE *out)
{
    fputs(
        "usage: minyi [--profile FILE] COMMAND [options]\n"
        "\n"
        "Commands:\n"
        "  submit [--file REPORT.json] [field options] [--retries N] [--json]\n"
        "        Submit a report; prints the receipt as the first line.\n"
        "        Field options override or complete the JSON file:\n"
        "          --id UUID (client_report_id; when absent it is made from the profile's\n"
        "                     certificate and the content, so the same command run\n"
        "                     twice gives one receipt)\n"
        "          --title T  --situation T  --situation-file F  --analysis T\n"
        "          --analysis-file F  --suggestions T  --suggestions-file F\n"
        "          --category NAME|N (ECONOMY POLITICS CULTURE SOCIETY ECOLOGY\n"
        "                             PARTY_BUILDING OTHER)\n"
        "          --urgency NORMAL|URGENT\n"
        "          --reporter-name T  --reporter-unit T  --sector T\n"
        "          --reporter-kind NAME|N (MEMBER PARTY_GROUP SECTOR LOWER_BODY\n"
        "                                  COMMITTEE CONTACT_POINT CITIZEN)\n"
        "          --region CODE  --phone P  --attach PATH (repeatable)\n"
        "        The report is first written to the profile's spool, then sent.  A\n"
        "        submission that gets no answer, or UNAVAILABLE / RESOURCE_EXHAUSTED /\n"
        "        INTERNAL, is retried N times (default 3) with the same client_report_id,\n"
        "        then left in the spool (exit status 9, client_report_id on stderr).\n"
        "        A submission that gets through sends whatever else waits in the spool.\n"
        "  status RECEIPT [--json]\n"
        "        Prints the state, then the history (time, state, action, note), with\n"
        "        the results from the bodies above: who acted (by BODY), 批示 and level.\n"
        "  mine [--limit N] [--cursor C] [--json]\n"
        "        Lists your own reports, newest first, one page at a time.\n"
        "  resubmit RECEIPT [--file REPORT.json] [field options] [--retries N] [--json]\n"
        "        Sends a revised version of a RETURNED report under the same receipt\n"
        "        (same JSON and options as submit); prints the receipt.  Give only the\n"
        "        fields you change: title, situation, analysis, suggestions, category\n"
        "        and urgency left out keep the current text (see show).\n"
        "  show RECEIPT [--version N] [--json]\n"
        "        Your report's current text (or version N), and each version you\n"
        "        submitted.\n"
        "\n",
        out);
    cli_spool_usage(out);
    cli_triage_usage(out);
    cli_outbox_usage(out);
    cli_office_usage(out);
    cli_issue_usage(out);
    cli_inbox_usage(out);
    cli_audit_usage(out);
    fputs(
        "\n"
        "Options:\n"
        "  --profile FILE   client profile (INI [client] section); default $MINYI_PROFILE\n"
        "  --json           print the whole answer as JSON on standard output\n"
        "  -h, --help       this text\n"
        "  --version        the version (as the only argument)\n"
        "\n"
        "Report JSON keys: client_report_id title situation analysis suggestions\n"
        "  category urgency reporter{name unit kind sector} region phone\n"
        "  attachments[{name media_type path|content_b64 sha256(hex, optional)}]\n"
        "  situation_file analysis_file suggestions_file (text files; relative file\n"
        "  names are resolved against the JSON file's directory).\n"
        "\n"
        "Errors are printed as \"minyi: CODE field: message\".\n"
        "Exit status:\n"
        "  0  done\n"
        "  2  usage error (bad command line, unreadable profile, certificate or key)\n"
        "  3  invalid input (INVALID_ARGUMENT, or a local error in the report JSON\n"
        "     or in a file named by an option)\n"
        "  4  refused (PERMISSION_DENIED, TLS or certificate failure)\n"
        "  5  unavailable (UNAVAILABLE, RESOURCE_EXHAUSTED, connection failed or\n"
        "     lost, timeout)\n"
        "  6  not found (NOT_FOUND)\n"
        "  7  conflict (CONFLICT)\n"
        "  8  other (INTERNAL, UNSUPPORTED, protocol errors)\n"
        "  9  spooled: the gateway could not be reached (or could not take the report\n"
        "     now); the submission waits in the spool and `minyi spool` sends it\n",
        out);
}

enum opt_id {
    OPT_PROFILE = 256,
    OPT_JSON,
    OPT_FILE,
    OPT_RETRIES,
    OPT_LIMIT,
    OPT_CURSOR,
    OPT_ATTACH,
    OPT_LIST,
    OPT_FIELD, /* field overrides: the JSON path is in field_opts[] */
};

/* A field option and the JSON key it sets.  `sub` names the reporter
 * object's key; `enum_like` values may be a name or a number; `file`
 * values are file names, made absolute against the current directory;
 * `clears` is the key the option replaces (inline text vs text file). */
struct field_opt {
    const char *opt;
    const char *key;
    const char *sub;
    bool enum_like;
    bool file;
    const char *clears;
};

static const struct field_opt field_opts[] = {
    {"id", "client_report_id", NULL, false, false, NULL},
    {"title", "title", NULL, false, false, NULL},
    {"situation", "situation", NULL, false, false, "situation_file"},
    {"situation-file", "situation_file", NULL, false, true, "situation"},
    {"analysis", "analysis", NULL, false, false, "analysis_file"},
    {"analysis-file", "analysis_file", NULL, false, true, "analysis"},
    {"suggestions", "suggestions", NULL, false, false, "suggestions_file"},
    {"suggestions-file", "suggestions_file", NULL, false, true, "suggestions"},
    {"category", "category", NULL, true, false, NULL},
    {"urgency", "urgency", NULL, true, false, NULL},
    {"reporter-name", "reporter", "name", false, false, NULL},
    {"reporter-unit", "reporter", "unit", false, false, NULL},
    {"reporter-kind", "reporter", "kind", true, false, NULL},
    {"sector", "reporter", "sector", false, false, NULL},
    {"region", "region", NULL, false, false, NULL},
    {"phone", "phone", NULL, false, false, NULL},
};
#define N_FIELD_OPTS (sizeof(field_opts) / sizeof(field_opts[0]))

struct override {
    const struct field_opt *fo; /* NULL: an --attach */
    const char *value;
};

struct cli {
    const char *profile_path;
    bool json;
    const char *file;
    int retries;
    bool list_only;
    bool limit_set;
    uint32_t limit;
    const char *cursor;
    struct override overrides[CLI_MAX_OVERRIDES];
    size_t n_overrides;
    struct client_profile profile;
};

/* ---- submit -------------------------------------------------------------- */

static bool absolute_path(const char *path, char *out, size_t len)
{
    int n;
    if (path[0] == '/') {
        n = snprintf(out, len, "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return false;
        n = snprintf(out, len, "%s/%s", cwd, path);
    }
    return n >= 0 && (size_t)n < len;
}

/* A value for an enum field: a number when it is all digits, else a name. */
static json_t *enum_value(const char *v)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (v[0] != '\0' && *end == '\0' && errno == 0 && n >= INT32_MIN && n <= INT32_MAX)
        return json_integer(n);
    return json_string(v);
}

static bool apply_overrides(const struct cli *cli, json_t *root, char *err, size_t errlen)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < cli->n_overrides; i++) {
        const struct override *o = &cli->overrides[i];
        if (o->fo == NULL) {
            json_t *arr = json_object_get(root, "attachments");
            if (arr == NULL || json_is_null(arr)) {
                arr = json_array();
                json_object_set_new(root, "attachments", arr);
            }
            if (!json_is_array(arr)) {
                snprintf(err, errlen, "report.attachments: must be an array");
                return false;
            }
            if (!absolute_path(o->value, path, sizeof(path))) {
                snprintf(err, errlen, "report.attachments: path too long");
                return false;
            }
            json_array_append_new(arr, json_pack("{s:s}", "path", path));
            continue;
        }
        const struct field_opt *fo = o->fo;
        json_t *v;
        if (fo->file) {
            if (!absolute_path(o->value, path, sizeof(path))) {
                snprintf(err, errlen, "report.%s: path too long", fo->key);
                return false;
            }
            v = json_string(path);
        } else if (fo->enum_like) {
            v = enum_value(o->value);
        } else {
            v = json_string(o->value);
        }
        if (v == NULL) {
            snprintf(err, errlen, "report.%s%s%s: not valid UTF-8", fo->key, fo->sub ? "." : "",
                     fo->sub ? fo->sub : "");
            return false;
        }
        if (fo->clears != NULL)
            json_object_del(root, fo->clears);
        if (fo->sub == NULL) {
            json_object_set_new(root, fo->key, v);
        } else {
            json_t *obj = json_object_get(root, fo->key);
            if (obj == NULL || json_is_null(obj)) {
                obj = json_object();
                json_object_set_new(root, fo->key, obj);
            }
            if (!json_is_object(obj)) {
                json_decref(v);
                snprintf(err, errlen, "report.%s: must be an object", fo->key);
                return false;
            }
            json_object_set_new(obj, fo->sub, v);
        }
    }
    return true;
}

/* Reads the report JSON (if any), applies the command-line fields, and
 * builds the Report.  NULL with "field: reason" in err. */
static Minyi__V1__Report *build_report(const struct cli *cli, bool *id_given, char *err,
                                       size_t errlen)
{
    char base[PATH_MAX];
    json_t *root = NULL;
    char *text = NULL;
    Minyi__V1__Report *r = NULL;

    if (cli->file != NULL) {
        json_error_t je;
        root = json_load_file(cli->file, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
        if (root == NULL) {
            if (je.line > 0)
                snprintf(err, errlen, "report: %s: line %d column %d: %s", cli->file, je.line,
                         je.column, je.text);
            else
                snprintf(err, errlen, "report: %s", je.text);
            goto fail;
        }
        if (!json_is_object(root)) {
            snprintf(err, errlen, "report: %s must hold a JSON object", cli->file);
            goto fail;
        }
        if (realpath(cli->file, base) == NULL) {
            snprintf(err, errlen, "report: %s: %s", cli->file, strerror(errno));
            goto fail;
        }
        char *slash = strrchr(base, '/');
        if (slash != NULL)
            slash[slash == base ? 1 : 0] = '\0';
    } else {
        root = json_object();
        if (getcwd(base, sizeof(base)) == NULL) {
            snprintf(err, errlen, "report: cannot find the current directory");
            goto fail;
        }
    }
    if (!apply_overrides(cli, root, err, errlen))
        goto fail;
    json_t *id = json_object_get(root, "client_report_id");
    *id_given = id != NULL && !json_is_null(id);
    text = json_dumps(root, JSON_COMPACT);
    if (text == NULL) {
        snprintf(err, errlen, "report: out of memory");
        goto fail;
    }
    r = client_report_from_json(text, base, err, errlen);
fail:
    free(text);
    json_decref(root);
    return r;
}

/* Submits a report, or with a receipt resubmits a revised version of a
 * RETURNED report under that receipt.  Both answers are a SubmitResponse,
 * and both are safe to send again: the client_report_id names the
 * submission (or the revision).  When the writer gave no client_report_id,
 * it is derived from the profile and the content, so the same command run
 * twice is one submission with one receipt.  The request goes through the
 * spool (cli_spool.h). */
static int cmd_submit(const struct cli *cli, const char *receipt)
{
    char err[CLI_ERR_LEN], crid[SPOOL_CRID_LEN + 1];
    bool id_given = false;
    Minyi__V1__Report *r = build_report(cli, &id_given, err, sizeof(err));
    if (r == NULL)
        return cli_report_invalid(cli->json, err);
    if (!id_given) {
        if (!spool_derive_crid(&cli->profile, receipt != NULL ? receipt : "", r, crid, err,
                               sizeof(err))) {
            protobuf_c_message_free_unpacked(&r->base, NULL);
            return cli_report_failure(cli->json, err);
        }
        free(r->client_report_id.data);
        r->client_report_id.data = (uint8_t *)strdup(crid);
        r->client_report_id.len = r->client_report_id.data != NULL ? SPOOL_CRID_LEN : 0;
    }
    /* The spool names its entries after the id, so only a UUID can be
     * spooled; the gateway would refuse anything else as well. */
    if (!spool_crid_ok(r->client_report_id.data, r->client_report_id.len)) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return cli_report_invalid(cli->json, "report.client_report_id: must be a UUID in the form "
                                             "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
    }
    snprintf(crid, sizeof(crid), "%.*s", (int)r->client_report_id.len,
             (const char *)r->client_report_id.data);

    Minyi__V1__SubmitRequest sreq = MINYI__V1__SUBMIT_REQUEST__INIT;
    Minyi__V1__ResubmitRequest rreq = MINYI__V1__RESUBMIT_REQUEST__INIT;
    Frame req = MINYI__V1__FRAME__INIT;
    if (receipt != NULL) {
        rreq.receipt = frame_bytes(receipt);
        rreq.report = r;
        req.body_case = MINYI__V1__FRAME__BODY_RESUBMIT;
        req.resubmit = &rreq;
    } else {
        sreq.report = r;
        req.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
        req.submit = &sreq;
    }

    struct frame_arena *arena = NULL;
    Frame *ans = NULL;
    int rc = cli_spool_submit(&cli->profile, cli->json, cli->retries, crid, &req, &ans, &arena);
    if (rc == EXIT_DONE) {
        const Minyi__V1__SubmitResponse *ok = ans->submit_ok;
        if (cli->json) {
            json_t *j = json_pack("{s:o,s:b,s:I,s:o}", "receipt", cli_jbytes(&ok->receipt),
                                  "duplicate", ok->duplicate, "received_at_ms",
                                  (json_int_t)ok->received_at_ms, "client_report_id",
                                  cli_jbytes(&r->client_report_id));
            if (j != NULL)
                cli_print_json(j);
        } else {
            char when[64];
            cli_format_time(ok->received_at_ms, when, sizeof(when));
            cli_print_bytes(&ok->receipt);
            fputs("\nclient_report_id=", stdout);
            cli_print_bytes(&r->client_report_id);
            printf(" duplicate=%s received_at=%s\n", ok->duplicate ? "yes" : "no", when);
        }
    }
    frame_arena_free(arena);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return rc;
}

/* ---- status and mine ----------------------------------------------------- */

static int cmd_status(const struct cli *cli, const char *receipt)
{
    Minyi__V1__StatusRequest sreq = MINYI__V1__STATUS_REQUEST__INIT;
    sreq.receipt = frame_bytes(receipt);
    Frame req = MINYI__V1__FRAME__INIT;
    req.body_case = MINYI__V1__FRAME__BODY_STATUS;
    req.status = &sreq;

    struct frame_arena *arena = NULL;
    int rc = EXIT_DONE;
    Frame *ans = cli_call_expect(&cli->profile, cli->json, &req, MINYI__V1__FRAME__BODY_STATUS_OK,
                                 &arena, &rc);
    if (ans == NULL || ans->status_ok == NULL) {
        frame_arena_free(arena);
        return rc != EXIT_DONE ? rc : EXIT_OTHER;
    }
    const Minyi__V1__StatusResponse *s = ans->status_ok;
    char st[32], when[64];
    if (cli->json) {
        json_t *hist = cli_history_json(s->history, s->n_history);
        cli_state_text(s->state, st, sizeof(st));
        json_t *j = json_pack("{s:o,s:s,s:o,s:I,s:o}", "receipt", cli_jbytes(&s->receipt), "state", st,
                              "title", cli_jbytes(&s->title), "received_at_ms",
                              (json_int_t)s->received_at_ms, "history", hist);
        if (j != NULL)
            cli_print_json(j);
    } else {
        cli_state_text(s->state, st, sizeof(st));
        cli_format_time(s->received_at_ms, when, sizeof(when));
        printf("%s\nreceipt: ", st);
        cli_print_bytes(&s->receipt);
        fputs("\ntitle: ", stdout);
        cli_print_bytes(&s->title);
        printf("\nreceived: %s\nhistory:\n", when);
        cli_print_history(s->history, s->n_history);
    }
    frame_arena_free(arena);
    return EXIT_DONE;
}

static int cmd_mine(const struct cli *cli)
{
    Minyi__V1__ListMineRequest lreq = MINYI__V1__LIST_MINE_REQUEST__INIT;
    lreq.limit = cli->limit_set ? cli->limit : 0;
    lreq.cursor = frame_bytes(cli->cursor != NULL ? cli->cursor : "");
    Frame req = MINYI__V1__FRAME__INIT;
    req.body_case = MINYI__V1__FRAME__BODY_LIST_MINE;
    req.list_mine = &lreq;

    struct frame_arena *arena = NULL;
    int rc = EXIT_DONE;
    Frame *ans = cli_call_expect(&cli->profile, cli->json, &req,
                                 MINYI__V1__FRAME__BODY_LIST_MINE_OK, &arena, &rc);
    if (ans == NULL || ans->list_mine_ok == NULL) {
        frame_arena_free(arena);
        return rc != EXIT_DONE ? rc : EXIT_OTHER;
    }
    const Minyi__V1__ListMineResponse *l = ans->list_mine_ok;
    char st[32], when[64];
    if (cli->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < l->n_reports; i++) {
            const Minyi__V1__ReportSummary *s = l->reports[i];
            cli_state_text(s->state, st, sizeof(st));
            json_array_append_new(arr, json_pack("{s:o,s:o,s:s,s:I}", "receipt", cli_jbytes(&s->receipt),
                                                 "title", cli_jbytes(&s->title), "state", st,
                                                 "received_at_ms", (json_int_t)s->received_at_ms));
        }
        json_t *j = json_pack("{s:o,s:o}", "reports", arr, "next_cursor", cli_jbytes(&l->next_cursor));
        if (j != NULL)
            cli_print_json(j);
    } else {
        for (size_t i = 0; i < l->n_reports; i++) {
            const Minyi__V1__ReportSummary *s = l->reports[i];
            cli_state_text(s->state, st, sizeof(st));
            cli_format_time(s->received_at_ms, when, sizeof(when));
            cli_print_bytes(&s->receipt);
            printf("\t%s\t%s\t", st, when);
            cli_print_bytes(&s->title);
            fputc('\n', stdout);
        }
        if (l->next_cursor.len > 0) {
            fputs("next_cursor=", stdout);
            cli_print_bytes(&l->next_cursor);
            fputc('\n', stdout);
        }
    }
    frame_arena_free(arena);
    return EXIT_DONE;
}

/* ---- command line -------------------------------------------------------- */

static int usage_error(const char *fmt, const char *arg)
{
    fputs("minyi: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see minyi --help)\n", stderr);
    return EXIT_USAGE;
}

/* True when the long option `name` (without dashes, up to a '=') takes a
 * value in our table or in the editors' commands. */
static bool option_wants_value(const char *name, size_t len, const struct option *longopts)
{
    for (const struct option *o = longopts; o->name != NULL; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o->has_arg == required_argument;
    return cli_triage_option_wants_value(name, len) || cli_outbox_option_wants_value(name, len) ||
           cli_office_option_wants_value(name, len) || cli_issue_option_wants_value(name, len) ||
           cli_inbox_option_wants_value(name, len) ||
           cli_audit_option_wants_value(name, len);
}

/* The command word: the first argument that is neither an option nor an
 * option's value, as getopt_long will find it after permuting.  NULL when
 * there is none. */
static const char *find_command(int argc, char **argv, const struct option *longopts)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-' || a[1] == '\0')
            return a;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq != NULL ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            if (eq == NULL && option_wants_value(a + 2, len, longopts))
                i++;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct cli cli = {.retries = CLI_DEFAULT_RETRIES};
    struct option longopts[N_FIELD_OPTS + 16];
    size_t n = 0;
    bool submit_only = false, mine_only = false, retries_given = false, list_given = false;

    /* A closed standard output must not kill us in the middle of a write;
     * the library guards its own sockets. */
    signal(SIGPIPE, SIG_IGN);

    /* Only as the first argument: elsewhere it could be an option's value. */
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("minyi %s\n", MINYI_VERSION);
        return EXIT_DONE;
    }

    longopts[n++] = (struct option){"profile", required_argument, NULL, OPT_PROFILE};
    longopts[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
    longopts[n++] = (struct option){"file", required_argument, NULL, OPT_FILE};
    longopts[n++] = (struct option){"retries", required_argument, NULL, OPT_RETRIES};
    longopts[n++] = (struct option){"limit", required_argument, NULL, OPT_LIMIT};
    longopts[n++] = (struct option){"cursor", required_argument, NULL, OPT_CURSOR};
    longopts[n++] = (struct option){"attach", required_argument, NULL, OPT_ATTACH};
    longopts[n++] = (struct option){"list", no_argument, NULL, OPT_LIST};
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    for (size_t i = 0; i < N_FIELD_OPTS; i++)
        longopts[n++] = (struct option){field_opts[i].opt, required_argument, NULL,
                                        OPT_FIELD + (int)i};
    longopts[n] = (struct option){NULL, 0, NULL, 0};

    /* The editors' commands have options of their own, some of the same
     * name as submit's field options but meaning something else (--title
     * of edit, --region of queue), so they are parsed by cli_triage. */
    const char *first = find_command(argc, argv, longopts);
    if (first != NULL && cli_triage_is_command(first))
        return cli_triage_main(argc, argv, usage);
    if (first != NULL && cli_outbox_is_command(first))
        return cli_outbox_main(argc, argv, usage);
    if (first != NULL && cli_office_is_command(first))
        return cli_office_main(argc, argv, usage);
    if (first != NULL && cli_issue_is_command(first))
        return cli_issue_main(argc, argv, usage);
    if (first != NULL && cli_inbox_is_command(first))
        return cli_inbox_main(argc, argv, usage);
    if (first != NULL && cli_audit_is_command(first))
        return cli_audit_main(argc, argv, usage);

    int ch;
    unsigned long v;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            usage(stdout);
            return EXIT_DONE;
        case OPT_PROFILE:
            cli.profile_path = optarg;
            break;
        case OPT_JSON:
            cli.json = true;
            break;
        case OPT_FILE:
            cli.file = optarg;
            submit_only = true;
            break;
        case OPT_RETRIES:
            if (!cli_parse_uint(optarg, CLI_MAX_RETRIES, &v))
                return usage_error("--retries wants a number from 0 to 100, not %s", optarg);
            cli.retries = (int)v;
            retries_given = true;
            break;
        case OPT_LIST:
            cli.list_only = true;
            list_given = true;
            break;
        case OPT_LIMIT:
            if (!cli_parse_uint(optarg, UINT32_MAX, &v))
                return usage_error("--limit wants a number, not %s", optarg);
            cli.limit = (uint32_t)v;
            cli.limit_set = true;
            mine_only = true;
            break;
        case OPT_CURSOR:
            cli.cursor = optarg;
            mine_only = true;
            break;
        case OPT_ATTACH:
        default:
            if (ch != OPT_ATTACH && (ch < OPT_FIELD || ch >= OPT_FIELD + (int)N_FIELD_OPTS)) {
                usage(stderr);
                return EXIT_USAGE;
            }
            if (cli.n_overrides == CLI_MAX_OVERRIDES)
                return usage_error("too many field options%s", "");
            cli.overrides[cli.n_overrides++] = (struct override){
                .fo = ch == OPT_ATTACH ? NULL : &field_opts[ch - OPT_FIELD], .value = optarg};
            submit_only = true;
            break;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int npos = argc - optind - 1;
    char **pos = argv + optind + 1;

    bool is_submit = strcmp(cmd, "submit") == 0;
    bool is_status = strcmp(cmd, "status") == 0;
    bool is_mine = strcmp(cmd, "mine") == 0;
    bool is_resubmit = strcmp(cmd, "resubmit") == 0;
    bool is_spool = strcmp(cmd, "spool") == 0;
    if (!is_submit && !is_status && !is_mine && !is_resubmit && !is_spool)
        return usage_error("unknown command %s", cmd);
    if (retries_given && !is_submit && !is_resubmit && !is_spool)
        return usage_error("--retries belongs to submit, resubmit and spool, not %s", cmd);
    if (list_given && !is_spool)
        return usage_error("--list belongs to spool, not %s", cmd);
    if (submit_only && !is_submit && !is_resubmit)
        return usage_error("report options belong to submit and resubmit, not %s", cmd);
    if (mine_only && !is_mine)
        return usage_error("--limit and --cursor belong to mine, not %s", cmd);
    if (is_status && npos != 1)
        return usage_error("status wants exactly one RECEIPT%s", "");
    if (is_resubmit && npos != 1)
        return usage_error("resubmit wants exactly one RECEIPT%s", "");
    if (!is_status && !is_resubmit && npos != 0)
        return usage_error("unexpected argument %s", pos[0]);

    if (!cli_profile_open(cli.profile_path, &cli.profile))
        return EXIT_USAGE;

    int rc;
    if (is_submit)
        rc = cmd_submit(&cli, NULL);
    else if (is_resubmit)
        rc = cmd_submit(&cli, pos[0]);
    else if (is_status)
        rc = cmd_status(&cli, pos[0]);
    else if (is_spool)
        rc = cli_spool_command(&cli.profile, cli.json, !cli.list_only, cli.retries);
    else
        rc = cmd_mine(&cli);
    return cli_command_end(rc);
}
