/*
 * cli_triage: the editors' commands' command line — the commands and
 * their options, the help text, and parsing into struct cli_triage_args
 * (see cli_triage.h).  Building the request is cli_triage_build.c,
 * printing queue and show cli_triage_show.c, running a command
 * cli_triage_run.c.
 *
 * The command line is read in two passes: getopt_long collects every
 * option with its value, and once the command word is known each option is
 * interpreted for that command.  Two passes because one option name can
 * mean different things to different commands: --to is a date for queue and
 * a destination for forward, --category a filter for queue and a new value
 * for edit.  An option that belongs to none of the command's uses is a
 * usage error, never silently ignored.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_triage.h"
#include "cli_util.h"
#include "level.h"

/* Options of one command line, at most this many in all. */
#define TRIAGE_MAX_OPTS 128
/* Longest enum name accepted on the command line. */
#define TRIAGE_ENUM_NAME_MAX 64

static const char *const cmd_names[CLI_TRIAGE_N_CMDS] = {
    [CLI_TRIAGE_QUEUE] = "queue",     [CLI_TRIAGE_SHOW] = "show",
    [CLI_TRIAGE_CLAIM] = "claim",     [CLI_TRIAGE_RENEW] = "renew",
    [CLI_TRIAGE_RELEASE] = "release", [CLI_TRIAGE_EDIT] = "edit",
    [CLI_TRIAGE_ADOPT] = "adopt",     [CLI_TRIAGE_REJECT] = "reject",
    [CLI_TRIAGE_RETURN] = "return",   [CLI_TRIAGE_MERGE] = "merge",
    [CLI_TRIAGE_FORWARD] = "forward", [CLI_TRIAGE_WATCH] = "watch",
    [CLI_TRIAGE_ATTACHMENT] = "attachment", [CLI_TRIAGE_INSTRUCT] = "instruct",
    [CLI_TRIAGE_RESPOND] = "respond",
};

#define C(x) (1u << CLI_TRIAGE_##x)
#define ALL_CMDS ((1u << CLI_TRIAGE_N_CMDS) - 1)

enum topt {
    T_PROFILE = 256,
    T_JSON,
    T_STATE,
    T_CATEGORY,
    T_URGENCY,
    T_REGION,
    T_CONTACT_POINT,
    T_FROM,
    T_TO,
    T_MINE,
    T_TEXT,
    T_OVERDUE,
    T_DEAD,
    T_LIMIT,
    T_CURSOR,
    T_VERSION,
    T_DIFF,
    T_LEASE,
    T_TITLE,
    T_SITUATION,
    T_SITUATION_FILE,
    T_ANALYSIS,
    T_ANALYSIS_FILE,
    T_SUGGESTIONS,
    T_SUGGESTIONS_FILE,
    T_NOTE,
    T_REASON,
    T_INTO,
    T_INSTRUCTION,
    T_LEVEL,
    T_INDEX,
    T_OUT,
    T_LEADER,
    T_DATE,
    T_PAPER,
    T_DOC,
    T_DOC_DATE,
    T_KIND,
};

/* Each option with the commands it belongs to. */
static const struct cli_opt_def topts[] = {
    {{"profile", required_argument, NULL, T_PROFILE}, ALL_CMDS},
    {{"json", no_argument, NULL, T_JSON}, ALL_CMDS},
    {{"help", no_argument, NULL, 'h'}, ALL_CMDS},
    {{"state", required_argument, NULL, T_STATE}, C(QUEUE)},
    {{"category", required_argument, NULL, T_CATEGORY}, C(QUEUE) | C(EDIT)},
    {{"urgency", required_argument, NULL, T_URGENCY}, C(QUEUE)},
    {{"region", required_argument, NULL, T_REGION}, C(QUEUE)},
    {{"contact-point", required_argument, NULL, T_CONTACT_POINT}, C(QUEUE)},
    {{"from", required_argument, NULL, T_FROM}, C(QUEUE)},
    {{"to", required_argument, NULL, T_TO}, C(QUEUE) | C(FORWARD) | C(RESPOND)},
    {{"mine", no_argument, NULL, T_MINE}, C(QUEUE)},
    {{"text", required_argument, NULL, T_TEXT}, C(QUEUE) | C(INSTRUCT) | C(RESPOND)},
    {{"overdue", no_argument, NULL, T_OVERDUE}, C(QUEUE)},
    {{"dead", no_argument, NULL, T_DEAD}, C(QUEUE)},
    {{"dead-delivery", no_argument, NULL, T_DEAD}, C(QUEUE)},
    {{"limit", required_argument, NULL, T_LIMIT}, C(QUEUE)},
    {{"cursor", required_argument, NULL, T_CURSOR}, C(QUEUE)},
    {{"version", required_argument, NULL, T_VERSION}, C(SHOW)},
    {{"diff", no_argument, NULL, T_DIFF}, C(SHOW)},
    {{"lease", required_argument, NULL, T_LEASE}, C(CLAIM) | C(RENEW)},
    {{"title", required_argument, NULL, T_TITLE}, C(EDIT)},
    {{"situation", required_argument, NULL, T_SITUATION}, C(EDIT)},
    {{"situation-file", required_argument, NULL, T_SITUATION_FILE}, C(EDIT)},
    {{"analysis", required_argument, NULL, T_ANALYSIS}, C(EDIT)},
    {{"analysis-file", required_argument, NULL, T_ANALYSIS_FILE}, C(EDIT)},
    {{"suggestions", required_argument, NULL, T_SUGGESTIONS}, C(EDIT)},
    {{"suggestions-file", required_argument, NULL, T_SUGGESTIONS_FILE}, C(EDIT)},
    {{"note", required_argument, NULL, T_NOTE}, C(EDIT) | C(ADOPT) | C(MERGE) | C(FORWARD)},
    {{"reason", required_argument, NULL, T_REASON}, C(REJECT) | C(RETURN)},
    {{"into", required_argument, NULL, T_INTO}, C(MERGE)},
    {{"instruction", required_argument, NULL, T_INSTRUCTION}, C(ADOPT)},
    {{"level", required_argument, NULL, T_LEVEL}, C(ADOPT) | C(INSTRUCT) | C(RESPOND)},
    {{"index", required_argument, NULL, T_INDEX}, C(ATTACHMENT)},
    {{"out", required_argument, NULL, T_OUT}, C(ATTACHMENT)},
    {{"leader", required_argument, NULL, T_LEADER}, C(INSTRUCT) | C(RESPOND)},
    {{"date", required_argument, NULL, T_DATE}, C(INSTRUCT) | C(RESPOND)},
    {{"paper", no_argument, NULL, T_PAPER}, C(INSTRUCT)},
    {{"doc", required_argument, NULL, T_DOC}, C(FORWARD)},
    {{"doc-date", required_argument, NULL, T_DOC_DATE}, C(FORWARD)},
    {{"kind", required_argument, NULL, T_KIND}, C(RESPOND)},
};
#define N_TOPTS (sizeof(topts) / sizeof(topts[0]))

void cli_triage_usage(FILE *out)
{
    fputs(
        "Editors' commands (an editor profile; each also takes --json):\n"
        "  queue [--state S]... [--category C]... [--urgency NORMAL|URGENT]\n"
        "        [--region PREFIX] [--contact-point ID] [--from DATE] [--to DATE]\n"
        "        [--mine] [--text T] [--overdue] [--dead-delivery] [--limit N]\n"
        "        [--cursor C]\n"
        "        Lists the queue, urgent first, then oldest first: receipt, urgency,\n"
        "        category, state, contact point (POINT, the id --contact-point takes),\n"
        "        received, claimed by, overdue (!) and title.  Without\n"
        "        --state: RECEIVED and IN_REVIEW.  DATE is YYYY-MM-DD or\n"
        "        YYYY-MM-DDTHH:MM[:SS] in China Standard Time (Asia/Shanghai, UTC+8,\n"
        "        as every time minyi shows); --to is exclusive, and a bare date there\n"
        "        includes that whole day.  --mine: claimed by me;\n"
        "        --dead-delivery (or --dead): with a dead delivery, in any state unless\n"
        "        --state is given (see outbox).  More pages: --cursor with next_cursor.\n"
        "  show RECEIPT [--version N] [--diff]\n"
        "        Every field of a version (default the latest), the history, the most\n"
        "        similar open reports, the deliveries and the attachments (index, name,\n"
        "        type, size, SHA-256); --diff adds a diff of the version against the\n"
        "        submitted text.\n"
        "  attachment RECEIPT [--index N] [--out FILE]\n"
        "        Saves attachment N (default 0) of the report to FILE (default: its own\n"
        "        name in the current directory; an existing file is not overwritten),\n"
        "        after checking its SHA-256.\n"
        "  claim RECEIPT [--lease SECONDS]    renew RECEIPT [--lease SECONDS]\n"
        "  release RECEIPT\n"
        "        Take, extend or give back the lease on a report (default lease: the\n"
        "        gateway's).  While you hold it, other editors can only read it.\n"
        "  edit RECEIPT [--title T] [--situation T | --situation-file F]\n"
        "        [--analysis T | --analysis-file F] [--suggestions T |\n"
        "        --suggestions-file F] [--category C] [--note N]\n"
        "        Saves a new version; prints its number.\n"
        "  adopt RECEIPT [--note N] [--instruction TEXT [--level LEVEL]]    本级采用\n"
        "        --instruction records a leader's 批示 with the adoption, --level the\n"
        "        leader's level (e.g. 省领导); the body below sees both in its history.\n"
        "  reject RECEIPT --reason R           不予采用\n"
        "  return RECEIPT --reason R           退回修改 (the contact point sees the reason)\n"
        "  merge RECEIPT --into OTHER [--note N]\n"
        "  forward RECEIPT --to DEST [--to DEST2]... [--note N] [--doc NUMBER\n"
        "        [--doc-date DATE]]    上报 / 报送\n"
        "        Decisions; each prints the receipt and its new state.  forward takes\n"
        "        gateway and external destinations (市委办公室 ...) together, by their\n"
        "        ids; an unknown one is refused with the list.  An external 报送 needs\n"
        "        --doc, the document number it is sent under (--doc-date: its date,\n"
        "        default today).  After a return from above, forward again only to\n"
        "        the destinations that returned it.\n"
        "  instruct RECEIPT --level LEVEL --text 批示 [--leader WHO] [--date DATE]\n"
        "        [--paper]\n"
        "        Records a leader's 批示 on an adopted or forwarded report, at any time\n"
        "        and as many as there are: LEVEL is 国家领导人, 省领导, 市领导, 县领导\n"
        "        or 部门 (or NATIONAL_LEADER ... DEPARTMENT); --date when it was given\n"
        "        (default now); --paper when it came on paper.  Every body below and\n"
        "        the writer see it in their history.\n"
        "  respond RECEIPT --to DEST --kind adopted|instruction|reply [--text T]\n"
        "        [--level LEVEL] [--leader WHO] [--date DATE]\n"
        "        Records what an external destination answered on a 报送: 采纳\n"
        "        (adopted), a leader's 批示 (instruction: --text and --level) or a\n"
        "        department's 办理答复 (reply: --text); --date when (default now).\n"
        "        Every body below and every writer see it in their history.\n"
        "  watch\n"
        "        Prints one line per queue event (new, claimed, released, decided,\n"
        "        edited, resubmitted, resync: list the queue again) until interrupted;\n"
        "        with --json one JSON object per line, the first {\"watching\": true}\n"
        "        once the watch is in force.  Exits with 5 when the connection drops.\n",
        out);
}

bool cli_triage_is_command(const char *name)
{
    for (int i = 0; i < CLI_TRIAGE_N_CMDS; i++)
        if (strcmp(name, cmd_names[i]) == 0)
            return true;
    return false;
}

bool cli_triage_option_wants_value(const char *name, size_t len)
{
    return cli_opt_wants_value(topts, N_TOPTS, name, len);
}

/* An enum value by name (any case, '-' for '_') or by number; the value 0
 * (UNSPECIFIED) is refused because it means "none" on the wire. */
static bool parse_enum(const ProtobufCEnumDescriptor *d, const char *s, int *out)
{
    char name[TRIAGE_ENUM_NAME_MAX];
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof(name))
        return false;
    const ProtobufCEnumValue *v = NULL;
    if (s[0] >= '0' && s[0] <= '9') {
        unsigned long n;
        if (!cli_parse_uint(s, INT_MAX, &n))
            return false;
        v = protobuf_c_enum_descriptor_get_value(d, (int)n);
    } else {
        for (size_t i = 0; i <= len; i++)
            name[i] = s[i] == '-' ? '_' : (char)toupper((unsigned char)s[i]);
        v = protobuf_c_enum_descriptor_get_value_by_name(d, name);
    }
    if (v == NULL || v->value == 0)
        return false;
    *out = v->value;
    return true;
}

bool cli_triage_parse_time(const char *s, bool end_of_day, int64_t *ms)
{
    static const char *const formats[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                                          "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"};
    struct tm tm;
    const char *end = NULL;
    bool date_only = false;
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]) && end == NULL; i++) {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, formats[i], &tm);
        if (end != NULL && *end != '\0')
            end = NULL;
    }
    if (end == NULL) {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, "%Y-%m-%d", &tm);
        if (end == NULL || *end != '\0')
            return false;
        date_only = true;
    }
    /* strptime accepts one-digit fields; insist on the full form so that
     * "2026-3-1" is not silently taken for something else. */
    if (strlen(s) < 10 || s[4] != '-' || s[7] != '-')
        return false;
    if (date_only && end_of_day)
        tm.tm_mday++;
    /* The time is China Standard Time (cli_util.h), not the machine's. */
    errno = 0;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && errno != 0)
        return false;
    *ms = ((int64_t)t - CLI_TZ_OFFSET_S) * 1000;
    return true;
}

/* A positive int64, digits only. */
/* Interprets one option for the command a->cmd. */
static bool apply_opt(struct cli_triage_args *a, const struct cli_raw_opt *o, char *err,
                      size_t errlen)
{
    char names[256];
    unsigned long v;
    int e;
    const char *val = o->value;
    switch (o->id) {
    case T_PROFILE:
        a->profile_path = val;
        return true;
    case T_JSON:
        a->json = true;
        return true;
    case T_STATE:
        if (a->n_states == CLI_TRIAGE_MAX_REPEAT)
            return cli_fail(err, errlen, "too many --state options");
        if (!parse_enum(&minyi__v1__report_state__descriptor, val, &e)) {
            cli_enum_names(&minyi__v1__report_state__descriptor, names, sizeof(names));
            return cli_fail(err, errlen, "--state wants one of %s, not %s", names, val);
        }
        a->states[a->n_states++] = (Minyi__V1__ReportState)e;
        return true;
    case T_CATEGORY:
        if (!parse_enum(&minyi__v1__category__descriptor, val, &e)) {
            cli_enum_names(&minyi__v1__category__descriptor, names, sizeof(names));
            return cli_fail(err, errlen, "--category wants one of %s, not %s", names, val);
        }
        if (a->cmd == CLI_TRIAGE_EDIT) {
            if (a->category != 0)
                return cli_fail(err, errlen, "edit takes one --category");
            a->category = (Minyi__V1__Category)e;
            return true;
        }
        if (a->n_categories == CLI_TRIAGE_MAX_REPEAT)
            return cli_fail(err, errlen, "too many --category options");
        a->categories[a->n_categories++] = (Minyi__V1__Category)e;
        return true;
    case T_URGENCY:
        if (!parse_enum(&minyi__v1__urgency__descriptor, val, &e))
            return cli_fail(err, errlen, "--urgency wants NORMAL or URGENT, not %s", val);
        a->urgency = (Minyi__V1__Urgency)e;
        return true;
    case T_REGION:
        a->region = val;
        return true;
    case T_CONTACT_POINT:
        if (!cli_parse_id(val, &a->contact_point_id))
            return cli_fail(err, errlen,
                        "--contact-point wants a principal id (a positive number), not %s", val);
        return true;
    case T_FROM:
        if (!cli_triage_parse_time(val, false, &a->from_ms))
            return cli_fail(err, errlen, "--from wants YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], not %s", val);
        return true;
    case T_TO:
        if (a->cmd == CLI_TRIAGE_RESPOND) {
            if (a->n_destinations == 1)
                return cli_fail(err, errlen, "respond takes one --to DEST");
            a->destinations[a->n_destinations++] = val;
            return true;
        }
        if (a->cmd == CLI_TRIAGE_FORWARD) {
            if (a->n_destinations == CLI_TRIAGE_MAX_REPEAT)
                return cli_fail(err, errlen, "too many --to options");
            if (val[0] == '\0')
                return cli_fail(err, errlen, "--to wants a destination name");
            a->destinations[a->n_destinations++] = val;
            return true;
        }
        if (!cli_triage_parse_time(val, true, &a->to_ms))
            return cli_fail(err, errlen, "--to wants YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], not %s", val);
        return true;
    case T_MINE:
        a->mine = true;
        return true;
    case T_TEXT:
        a->text = val;
        return true;
    case T_OVERDUE:
        a->overdue = true;
        return true;
    case T_DEAD:
        a->dead = true;
        return true;
    case T_LIMIT:
        if (!cli_parse_uint(val, UINT32_MAX, &v) || v == 0)
            return cli_fail(err, errlen, "--limit wants a positive number, not %s", val);
        a->limit = (uint32_t)v;
        return true;
    case T_CURSOR:
        a->cursor = val;
        return true;
    case T_VERSION:
        if (!cli_parse_uint(val, UINT32_MAX, &v) || v == 0)
            return cli_fail(err, errlen,
                        "--version wants a version number (1 is the submitted text), not %s", val);
        a->version = (uint32_t)v;
        return true;
    case T_DIFF:
        a->diff = true;
        return true;
    case T_LEASE:
        if (!cli_parse_uint(val, UINT32_MAX, &v) || v == 0)
            return cli_fail(err, errlen, "--lease wants a number of seconds, not %s", val);
        a->lease_seconds = (uint32_t)v;
        return true;
    case T_TITLE:
        a->title = val;
        return true;
    case T_SITUATION:
        a->situation = val;
        return true;
    case T_SITUATION_FILE:
        a->situation_file = val;
        return true;
    case T_ANALYSIS:
        a->analysis = val;
        return true;
    case T_ANALYSIS_FILE:
        a->analysis_file = val;
        return true;
    case T_SUGGESTIONS:
        a->suggestions = val;
        return true;
    case T_SUGGESTIONS_FILE:
        a->suggestions_file = val;
        return true;
    case T_NOTE:
    case T_REASON:
        a->note = val;
        return true;
    case T_INTO:
        a->into = val;
        return true;
    case T_INSTRUCTION:
        a->instruction = val;
        return true;
    case T_LEVEL:
        a->level = val;
        return true;
    case T_INDEX:
        if (!cli_parse_uint(val, UINT32_MAX, &v))
            return cli_fail(err, errlen, "--index wants an attachment's number (from 0), not %s",
                            val);
        a->index = (uint32_t)v;
        return true;
    case T_OUT:
        a->out = val;
        return true;
    case T_LEADER:
        a->leader = val;
        return true;
    case T_DATE:
        if (!cli_triage_parse_time(val, false, &a->given_at_ms))
            return cli_fail(err, errlen, "--date wants YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], not %s",
                            val);
        return true;
    case T_PAPER:
        a->on_paper = true;
        return true;
    case T_DOC:
        a->document_number = val;
        return true;
    case T_DOC_DATE:
        if (!cli_triage_parse_time(val, false, &a->document_date_ms))
            return cli_fail(err, errlen,
                            "--doc-date wants YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], not %s", val);
        return true;
    case T_KIND:
        if (strcmp(val, "adopted") == 0 || strcmp(val, "采纳") == 0)
            a->response_kind = MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_ADOPTED;
        else if (strcmp(val, "instruction") == 0 || strcmp(val, "批示") == 0)
            a->response_kind = MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_INSTRUCTION;
        else if (strcmp(val, "reply") == 0 || strcmp(val, "办理答复") == 0)
            a->response_kind = MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_REPLY;
        else
            return cli_fail(err, errlen, "--kind wants adopted, instruction or reply, not %s", val);
        return true;
    default:
        abort(); /* every option in topts has a case */
    }
}

/* The checks that need the whole command line. */
static bool check_args(struct cli_triage_args *a, char *err, size_t errlen)
{
    const char *cmd = cmd_names[a->cmd];
    if (a->situation != NULL && a->situation_file != NULL)
        return cli_fail(err, errlen, "give --situation or --situation-file, not both");
    if (a->analysis != NULL && a->analysis_file != NULL)
        return cli_fail(err, errlen, "give --analysis or --analysis-file, not both");
    if (a->suggestions != NULL && a->suggestions_file != NULL)
        return cli_fail(err, errlen, "give --suggestions or --suggestions-file, not both");
    switch (a->cmd) {
    case CLI_TRIAGE_EDIT:
        if (a->title == NULL && a->situation == NULL && a->situation_file == NULL &&
            a->analysis == NULL && a->analysis_file == NULL && a->suggestions == NULL &&
            a->suggestions_file == NULL && a->category == 0 && a->note == NULL)
            return cli_fail(err, errlen, "edit wants at least one of --title --situation --analysis "
                                     "--suggestions (or their -file forms) --category --note");
        break;
    case CLI_TRIAGE_REJECT:
    case CLI_TRIAGE_RETURN:
        if (a->note == NULL || a->note[0] == '\0')
            return cli_fail(err, errlen, "%s wants --reason R", cmd);
        break;
    case CLI_TRIAGE_ADOPT:
        if (a->level != NULL && (a->instruction == NULL || a->instruction[0] == '\0'))
            return cli_fail(err, errlen, "--level goes with --instruction TEXT (the 批示 itself)");
        break;
    case CLI_TRIAGE_INSTRUCT:
        if (a->level == NULL || level_parse(a->level) == 0)
            return cli_fail(err, errlen, "instruct wants --level 国家领导人|省领导|市领导|县领导|部门 "
                                         "(or NATIONAL_LEADER, PROVINCIAL_LEADER, CITY_LEADER, "
                                         "COUNTY_LEADER, DEPARTMENT)");
        if (a->text == NULL || a->text[0] == '\0')
            return cli_fail(err, errlen, "instruct wants --text T (the 批示 itself)");
        break;
    case CLI_TRIAGE_MERGE:
        if (a->into == NULL || a->into[0] == '\0')
            return cli_fail(err, errlen, "merge wants --into RECEIPT");
        if (a->receipt != NULL && strcmp(a->into, a->receipt) == 0)
            return cli_fail(err, errlen, "a report cannot be merged into itself");
        break;
    case CLI_TRIAGE_FORWARD:
        if (a->n_destinations == 0)
            return cli_fail(err, errlen, "forward wants at least one --to DEST");
        if (a->document_date_ms != 0 && a->document_number == NULL)
            return cli_fail(err, errlen, "--doc-date goes with --doc NUMBER");
        break;
    case CLI_TRIAGE_RESPOND:
        if (a->n_destinations != 1)
            return cli_fail(err, errlen, "respond wants --to DEST (the external destination)");
        if (a->response_kind == 0)
            return cli_fail(err, errlen, "respond wants --kind adopted|instruction|reply");
        if ((a->response_kind == MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_INSTRUCTION) !=
            (a->level != NULL))
            return cli_fail(err, errlen, "--level goes with --kind instruction, and it needs one");
        if (a->level != NULL && level_parse(a->level) == 0)
            return cli_fail(err, errlen, "--level wants 国家领导人|省领导|市领导|县领导|部门");
        if (a->response_kind != MINYI__V1__EXTERNAL_RESPONSE_KIND__EXTERNAL_ADOPTED &&
            (a->text == NULL || a->text[0] == '\0'))
            return cli_fail(err, errlen, "respond --kind instruction or reply wants --text T");
        break;
    case CLI_TRIAGE_QUEUE:
        if (a->from_ms != 0 && a->to_ms != 0 && a->to_ms <= a->from_ms)
            return cli_fail(err, errlen, "--to must be later than --from");
        break;
    default:
        break;
    }
    return true;
}

bool cli_triage_parse(int argc, char **argv, struct cli_triage_args *a, char *err, size_t errlen)
{
    struct cli_raw_opt raw[TRIAGE_MAX_OPTS];
    size_t n_raw;

    memset(a, 0, sizeof(*a));
    if (!cli_opts_collect(argc, argv, topts, N_TOPTS, T_PROFILE, raw, TRIAGE_MAX_OPTS, &n_raw,
                          &a->help, err, errlen))
        return false;
    if (a->help)
        return true;
    if (optind >= argc)
        return cli_fail(err, errlen, "no command");
    const char *cmd = argv[optind];
    int i;
    for (i = 0; i < CLI_TRIAGE_N_CMDS; i++)
        if (strcmp(cmd, cmd_names[i]) == 0)
            break;
    if (i == CLI_TRIAGE_N_CMDS)
        return cli_fail(err, errlen, "unknown command %s", cmd);
    a->cmd = (enum cli_triage_cmd)i;

    int npos = argc - optind - 1;
    char **pos = argv + optind + 1;
    bool wants_receipt = a->cmd != CLI_TRIAGE_QUEUE && a->cmd != CLI_TRIAGE_WATCH;
    if (wants_receipt) {
        if (npos != 1)
            return cli_fail(err, errlen, "%s wants exactly one RECEIPT", cmd);
        a->receipt = pos[0];
        if (a->receipt[0] == '\0')
            return cli_fail(err, errlen, "%s wants a RECEIPT, not an empty string", cmd);
    } else if (npos != 0) {
        return cli_fail(err, errlen, "unexpected argument %s", pos[0]);
    }

    for (size_t k = 0; k < n_raw; k++) {
        if ((cli_opt_cmds(topts, N_TOPTS, raw[k].id) & (1u << a->cmd)) == 0)
            return cli_fail(err, errlen, "--%s does not belong to %s",
                            cli_opt_name(topts, N_TOPTS, raw[k].id), cmd);
        if (!apply_opt(a, &raw[k], err, errlen))
            return false;
    }
    return check_args(a, err, errlen);
}

