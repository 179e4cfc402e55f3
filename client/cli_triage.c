/*
 * cli_triage: the editors' commands of the `minyi` CLI (see cli_triage.h).
 *
 * The command line is read in two passes: getopt_long collects every
 * option with its value, and once the command word is known each option is
 * interpreted for that command.  Two passes because one option name can
 * mean different things to different commands: --to is a date for queue and
 * a destination for forward, --category a filter for queue and a new value
 * for edit.  An option that belongs to none of the command's uses is a
 * usage error, never silently ignored.
 *
 * Every command sends one request on a fresh connection, except watch,
 * which subscribes and then prints one line per pushed QueueEvent until it
 * is interrupted or the connection drops.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli_triage.h"
#include "cli_util.h"
#include "client_err.h"
#include "level.h"

/* Widths of the queue table's fixed columns: the longest state name
 * (NOT_ADOPTED_ABOVE), a contact point's id (POINT, the number
 * --contact-point takes), and a time as cli_format_time writes it. */
#define QUEUE_W_STATE 17
#define QUEUE_W_POINT 6
#define QUEUE_W_TIME 25
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

/* ---- building requests --------------------------------------------------- */

static ProtobufCBinaryData opt_bytes(const char *s)
{
    return frame_bytes(s != NULL ? s : "");
}

bool cli_triage_read_text(const char *path, const char *field, ProtobufCBinaryData *dst,
                          uint8_t **owned, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return cli_fail(err, errlen, "%s: cannot read %s: %s", field, path, strerror(errno));
    uint8_t *buf = malloc(CLI_TRIAGE_TEXT_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(fp);
        return cli_fail(err, errlen, "%s: out of memory", field);
    }
    size_t n = fread(buf, 1, CLI_TRIAGE_TEXT_FILE_MAX + 1, fp);
    bool bad = ferror(fp) != 0;
    fclose(fp);
    if (bad) {
        free(buf);
        return cli_fail(err, errlen, "%s: cannot read %s", field, path);
    }
    if (n > CLI_TRIAGE_TEXT_FILE_MAX) {
        free(buf);
        return cli_fail(err, errlen, "%s: %s is larger than %u bytes", field, path,
                    CLI_TRIAGE_TEXT_FILE_MAX);
    }
    *owned = buf;
    dst->data = buf;
    dst->len = n;
    return true;
}

/* An inline text or the contents of a file. */
static bool edit_text(const char *inline_text, const char *file, const char *field,
                      ProtobufCBinaryData *dst, uint8_t **owned, char *err, size_t errlen)
{
    if (file != NULL)
        return cli_triage_read_text(file, field, dst, owned, err, errlen);
    *dst = opt_bytes(inline_text);
    return true;
}

bool cli_triage_build(const struct cli_triage_args *a, struct cli_triage_request *r, char *err,
                      size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->frame = (Frame)MINYI__V1__FRAME__INIT;
    r->filter = (Minyi__V1__QueueFilter)MINYI__V1__QUEUE_FILTER__INIT;
    r->queue = (Minyi__V1__QueueRequest)MINYI__V1__QUEUE_REQUEST__INIT;
    r->show = (Minyi__V1__ShowRequest)MINYI__V1__SHOW_REQUEST__INIT;
    r->claim = (Minyi__V1__ClaimRequest)MINYI__V1__CLAIM_REQUEST__INIT;
    r->renew = (Minyi__V1__RenewRequest)MINYI__V1__RENEW_REQUEST__INIT;
    r->release = (Minyi__V1__ReleaseRequest)MINYI__V1__RELEASE_REQUEST__INIT;
    r->edit = (Minyi__V1__EditRequest)MINYI__V1__EDIT_REQUEST__INIT;
    r->decide = (Minyi__V1__DecideRequest)MINYI__V1__DECIDE_REQUEST__INIT;
    r->watch = (Minyi__V1__WatchRequest)MINYI__V1__WATCH_REQUEST__INIT;
    r->attachment = (Minyi__V1__AttachmentRequest)MINYI__V1__ATTACHMENT_REQUEST__INIT;
    r->instruct = (Minyi__V1__InstructRequest)MINYI__V1__INSTRUCT_REQUEST__INIT;
    r->respond = (Minyi__V1__ExternalResponseRequest)MINYI__V1__EXTERNAL_RESPONSE_REQUEST__INIT;
    Frame *f = &r->frame;
    ProtobufCBinaryData receipt = opt_bytes(a->receipt);

    switch (a->cmd) {
    case CLI_TRIAGE_QUEUE:
        /* The arrays live in *a, which outlives the request. */
        r->filter.n_states = a->n_states;
        r->filter.states = (Minyi__V1__ReportState *)a->states;
        r->filter.n_categories = a->n_categories;
        r->filter.categories = (Minyi__V1__Category *)a->categories;
        r->filter.urgency = a->urgency;
        r->filter.region_prefix = opt_bytes(a->region);
        r->filter.contact_point_id = a->contact_point_id;
        r->filter.received_from_ms = a->from_ms;
        r->filter.received_to_ms = a->to_ms;
        r->filter.claimed_by_me = a->mine;
        r->filter.text = opt_bytes(a->text);
        r->filter.overdue_only = a->overdue;
        r->filter.dead_deliveries_only = a->dead;
        r->queue.filter = &r->filter;
        r->queue.limit = a->limit;
        r->queue.cursor = opt_bytes(a->cursor);
        f->body_case = MINYI__V1__FRAME__BODY_QUEUE;
        f->queue = &r->queue;
        r->answer = MINYI__V1__FRAME__BODY_QUEUE_OK;
        return true;
    case CLI_TRIAGE_SHOW:
        r->show.receipt = receipt;
        r->show.version = a->version;
        r->show.diff = a->diff;
        f->body_case = MINYI__V1__FRAME__BODY_SHOW;
        f->show = &r->show;
        r->answer = MINYI__V1__FRAME__BODY_SHOW_OK;
        return true;
    case CLI_TRIAGE_CLAIM:
        r->claim.receipt = receipt;
        r->claim.lease_seconds = a->lease_seconds;
        f->body_case = MINYI__V1__FRAME__BODY_CLAIM;
        f->claim = &r->claim;
        r->answer = MINYI__V1__FRAME__BODY_CLAIM_OK;
        return true;
    case CLI_TRIAGE_RENEW:
        r->renew.receipt = receipt;
        r->renew.lease_seconds = a->lease_seconds;
        f->body_case = MINYI__V1__FRAME__BODY_RENEW;
        f->renew = &r->renew;
        r->answer = MINYI__V1__FRAME__BODY_CLAIM_OK;
        return true;
    case CLI_TRIAGE_RELEASE:
        r->release.receipt = receipt;
        f->body_case = MINYI__V1__FRAME__BODY_RELEASE;
        f->release = &r->release;
        r->answer = MINYI__V1__FRAME__BODY_OK;
        return true;
    case CLI_TRIAGE_EDIT:
        r->edit.receipt = receipt;
        r->edit.title = opt_bytes(a->title);
        r->edit.category = a->category;
        r->edit.note = opt_bytes(a->note);
        f->body_case = MINYI__V1__FRAME__BODY_EDIT;
        f->edit = &r->edit;
        r->answer = MINYI__V1__FRAME__BODY_EDIT_OK;
        return edit_text(a->situation, a->situation_file, "situation", &r->edit.situation,
                         &r->owned[0], err, errlen) &&
               edit_text(a->analysis, a->analysis_file, "analysis", &r->edit.analysis,
                         &r->owned[1], err, errlen) &&
               edit_text(a->suggestions, a->suggestions_file, "suggestions",
                         &r->edit.suggestions, &r->owned[2], err, errlen);
    case CLI_TRIAGE_ADOPT:
    case CLI_TRIAGE_REJECT:
    case CLI_TRIAGE_RETURN:
    case CLI_TRIAGE_MERGE:
    case CLI_TRIAGE_FORWARD:
        r->decide.receipt = receipt;
        r->decide.note = opt_bytes(a->note);
        r->decide.decision = a->cmd == CLI_TRIAGE_ADOPT    ? MINYI__V1__DECISION__ADOPT
                             : a->cmd == CLI_TRIAGE_REJECT ? MINYI__V1__DECISION__REJECT
                             : a->cmd == CLI_TRIAGE_RETURN ? MINYI__V1__DECISION__RETURN
                             : a->cmd == CLI_TRIAGE_MERGE  ? MINYI__V1__DECISION__MERGE
                                                           : MINYI__V1__DECISION__FORWARD;
        r->decide.into_receipt = opt_bytes(a->into);
        r->decide.instruction = opt_bytes(a->instruction);
        r->decide.instruction_level = opt_bytes(a->level);
        for (size_t i = 0; i < a->n_destinations; i++)
            r->destinations[i] = frame_bytes(a->destinations[i]);
        r->decide.n_destinations = a->n_destinations;
        r->decide.destinations = a->n_destinations > 0 ? r->destinations : NULL;
        r->decide.document_number = opt_bytes(a->document_number);
        r->decide.document_date_ms = a->document_date_ms;
        f->body_case = MINYI__V1__FRAME__BODY_DECIDE;
        f->decide = &r->decide;
        r->answer = MINYI__V1__FRAME__BODY_DECIDE_OK;
        return true;
    case CLI_TRIAGE_WATCH:
        f->body_case = MINYI__V1__FRAME__BODY_WATCH;
        f->watch = &r->watch;
        r->answer = MINYI__V1__FRAME__BODY_OK;
        return true;
    case CLI_TRIAGE_INSTRUCT:
        r->instruct.receipt = receipt;
        r->instruct.level = (Minyi__V1__InstructionLevel)level_parse(a->level);
        r->instruct.leader = opt_bytes(a->leader);
        r->instruct.text = opt_bytes(a->text);
        r->instruct.given_at_ms = a->given_at_ms;
        r->instruct.on_paper = a->on_paper;
        f->body_case = MINYI__V1__FRAME__BODY_INSTRUCT;
        f->instruct = &r->instruct;
        r->answer = MINYI__V1__FRAME__BODY_DECIDE_OK;
        return true;
    case CLI_TRIAGE_RESPOND:
        r->respond.receipt = receipt;
        r->respond.destination = opt_bytes(a->destinations[0]);
        r->respond.kind = a->response_kind;
        r->respond.text = opt_bytes(a->text);
        r->respond.level = a->level != NULL
                               ? (Minyi__V1__InstructionLevel)level_parse(a->level)
                               : MINYI__V1__INSTRUCTION_LEVEL__INSTRUCTION_LEVEL_UNSPECIFIED;
        r->respond.leader = opt_bytes(a->leader);
        r->respond.responded_at_ms = a->given_at_ms;
        f->body_case = MINYI__V1__FRAME__BODY_EXTERNAL_RESPONSE;
        f->external_response = &r->respond;
        r->answer = MINYI__V1__FRAME__BODY_DECIDE_OK;
        return true;
    case CLI_TRIAGE_ATTACHMENT:
        r->attachment.receipt = receipt;
        r->attachment.index = a->index;
        f->body_case = MINYI__V1__FRAME__BODY_ATTACHMENT;
        f->attachment = &r->attachment;
        r->answer = MINYI__V1__FRAME__BODY_ATTACHMENT_OK;
        return true;
    case CLI_TRIAGE_N_CMDS:
        break;
    }
    abort(); /* cli_triage_parse only yields the commands above */
}

void cli_triage_request_free(struct cli_triage_request *r)
{
    for (size_t i = 0; i < sizeof(r->owned) / sizeof(r->owned[0]); i++) {
        free(r->owned[i]);
        r->owned[i] = NULL;
    }
}

/* ---- printing answers ---------------------------------------------------- */

static void category_text(int c, char *buf, size_t len)
{
    cli_enum_text(&minyi__v1__category__descriptor, c, "CATEGORY_", buf, len);
}

static void urgency_text(int u, char *buf, size_t len)
{
    cli_enum_text(&minyi__v1__urgency__descriptor, u, "URGENCY_", buf, len);
}

/* Columns a terminal gives to UTF-8 text: one per code point, two for the
 * wide East Asian ranges (CJK, Hangul, fullwidth forms).  An estimate for
 * lining up the table, not a full wcwidth. */
static size_t display_width(const ProtobufCBinaryData *b)
{
    size_t w = 0;
    for (size_t i = 0; i < b->len;) {
        uint8_t c = b->data[i];
        uint32_t cp;
        size_t n;
        if (c < 0x80) {
            cp = c;
            n = 1;
        } else if ((c & 0xE0) == 0xC0) {
            cp = c & 0x1F;
            n = 2;
        } else if ((c & 0xF0) == 0xE0) {
            cp = c & 0x0F;
            n = 3;
        } else {
            cp = c & 0x07;
            n = 4;
        }
        for (size_t k = 1; k < n && i + k < b->len; k++)
            cp = (cp << 6) | (b->data[i + k] & 0x3F);
        i += n;
        bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                    (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                    (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                    (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD);
        w += wide ? 2 : 1;
    }
    return w;
}

static void print_padded_bytes(const ProtobufCBinaryData *b, size_t width)
{
    cli_print_bytes(b);
    for (size_t w = display_width(b); w < width; w++)
        fputc(' ', stdout);
}

static json_t *history_json(Minyi__V1__HistoryEntry **h, size_t n)
{
    return cli_history_json(h, n);
}

static void print_queue(bool json, const Minyi__V1__QueueResponse *q)
{
    char st[32], cat[32], urg[32], when[64];
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < q->n_items; i++) {
            const Minyi__V1__QueueItem *it = q->items[i];
            cli_state_text(it->state, st, sizeof(st));
            category_text(it->category, cat, sizeof(cat));
            urgency_text(it->urgency, urg, sizeof(urg));
            json_array_append_new(
                arr, json_pack("{s:o,s:o,s:s,s:s,s:o,s:I,s:I,s:s,s:o,s:I,s:b,s:o}", "receipt",
                               cli_jbytes(&it->receipt), "title", cli_jbytes(&it->title),
                               "category", cat, "urgency", urg, "contact_point",
                               cli_jbytes(&it->contact_point), "contact_point_id",
                               (json_int_t)it->contact_point_id, "received_at_ms",
                               (json_int_t)it->received_at_ms, "state", st, "claimed_by",
                               cli_jbytes(&it->claimed_by), "claim_expires_ms",
                               (json_int_t)it->claim_expires_ms, "overdue", it->overdue, "region",
                               cli_jbytes(&it->region)));
            json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "returned_above",
                                cli_jbytes(&it->returned_above));
        }
        json_t *j = json_pack("{s:o,s:o}", "items", arr, "next_cursor", cli_jbytes(&q->next_cursor));
        if (j != NULL)
            cli_print_json(j);
        return;
    }
    /* Column widths from the rows, so receipts of any level line up; the
     * fixed ones hold their longest value (NOT_ADOPTED_ABOVE, a time with
     * its zone). */
    static const ProtobufCBinaryData head_receipt = {7, (uint8_t *)"RECEIPT"};
    static const ProtobufCBinaryData head_claimed = {10, (uint8_t *)"CLAIMED BY"};
    size_t w_receipt = display_width(&head_receipt), w_claimed = display_width(&head_claimed);
    for (size_t i = 0; i < q->n_items; i++) {
        size_t w = display_width(&q->items[i]->receipt);
        if (w > w_receipt)
            w_receipt = w;
        w = display_width(&q->items[i]->claimed_by);
        if (w > w_claimed)
            w_claimed = w;
    }
    print_padded_bytes(&head_receipt, w_receipt);
    printf("  %-7s %-14s %-*s %-*s %-*s ", "URGENCY", "CATEGORY", QUEUE_W_STATE, "STATE",
           QUEUE_W_POINT, "POINT", QUEUE_W_TIME, "RECEIVED");
    print_padded_bytes(&head_claimed, w_claimed);
    printf(" %-3s %s\n", "DUE", "TITLE");
    for (size_t i = 0; i < q->n_items; i++) {
        const Minyi__V1__QueueItem *it = q->items[i];
        cli_state_text(it->state, st, sizeof(st));
        category_text(it->category, cat, sizeof(cat));
        urgency_text(it->urgency, urg, sizeof(urg));
        cli_format_time(it->received_at_ms, when, sizeof(when));
        print_padded_bytes(&it->receipt, w_receipt);
        printf("  %-7s %-14s %-*s %-*lld %-*s ", urg, cat, QUEUE_W_STATE, st, QUEUE_W_POINT,
               (long long)it->contact_point_id, QUEUE_W_TIME, when);
        if (it->claimed_by.len > 0) {
            print_padded_bytes(&it->claimed_by, w_claimed);
        } else {
            static const ProtobufCBinaryData dash = {1, (uint8_t *)"-"};
            print_padded_bytes(&dash, w_claimed);
        }
        printf(" %-3s ", it->overdue ? "!" : "");
        cli_print_bytes(&it->title);
        if (it->returned_above.len > 0) {
            fputs("  (returned from above: ", stdout);
            cli_print_bytes(&it->returned_above);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    }
    if (q->next_cursor.len > 0) {
        fputs("next_cursor=", stdout);
        cli_print_bytes(&q->next_cursor);
        fputc('\n', stdout);
    }
}

/* A multi-line text, each line indented. */
static void print_block(const char *label, const ProtobufCBinaryData *b)
{
    printf("%s:\n", label);
    if (b->len == 0) {
        fputs("    -\n", stdout);
        return;
    }
    fputs("    ", stdout);
    for (size_t i = 0; i < b->len; i++) {
        fputc(b->data[i], stdout);
        if (b->data[i] == '\n' && i + 1 < b->len)
            fputs("    ", stdout);
    }
    if (b->data[b->len - 1] != '\n')
        fputc('\n', stdout);
}

static void print_field(const char *label, const ProtobufCBinaryData *b)
{
    printf("%s: ", label);
    if (b->len > 0)
        cli_print_bytes(b);
    else
        fputc('-', stdout);
    fputc('\n', stdout);
}

static json_t *version_json(const Minyi__V1__ReportVersion *v)
{
    char cat[32];
    if (v == NULL)
        return json_null();
    category_text(v->category, cat, sizeof(cat));
    return json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:s,s:o}", "version", (json_int_t)v->version,
                     "at_ms", (json_int_t)v->at_ms, "author", cli_jbytes(&v->author), "title",
                     cli_jbytes(&v->title), "situation", cli_jbytes(&v->situation), "analysis",
                     cli_jbytes(&v->analysis), "suggestions", cli_jbytes(&v->suggestions),
                     "category", cat, "note", cli_jbytes(&v->note));
}

/* Room for a SHA-256 in hex and its NUL. */
#define TRIAGE_SHA256_HEX 65

static json_t *attachments_json(const Minyi__V1__ShowResponse *s)
{
    char hex[TRIAGE_SHA256_HEX];
    json_t *arr = json_array();
    for (size_t i = 0; i < s->n_attachments; i++) {
        const Minyi__V1__AttachmentInfo *x = s->attachments[i];
        cli_hex(&x->sha256, hex, sizeof(hex));
        json_array_append_new(arr, json_pack("{s:I,s:o,s:o,s:I,s:s}", "index", (json_int_t)x->index,
                                             "name", cli_jbytes(&x->name), "media_type",
                                             cli_jbytes(&x->media_type), "size",
                                             (json_int_t)x->size, "sha256", hex));
    }
    return arr;
}

static void print_attachments(const Minyi__V1__ShowResponse *s)
{
    char hex[TRIAGE_SHA256_HEX];
    fputs("attachments:\n", stdout);
    if (s->n_attachments == 0)
        fputs("  -\n", stdout);
    for (size_t i = 0; i < s->n_attachments; i++) {
        const Minyi__V1__AttachmentInfo *x = s->attachments[i];
        cli_hex(&x->sha256, hex, sizeof(hex));
        printf("  %u\t", x->index);
        cli_print_bytes(&x->name);
        fputc('\t', stdout);
        cli_print_bytes(&x->media_type);
        printf("\t%llu bytes\tsha256=%s\n", (unsigned long long)x->size, hex);
    }
}

static void print_show_json(const Minyi__V1__ShowResponse *s)
{
    char st[32], urg[32], kind[32];
    json_t *reporter = json_null();
    if (s->reporter != NULL) {
        cli_enum_text(&minyi__v1__reporter_kind__descriptor, s->reporter->kind, "KIND_", kind,
                      sizeof(kind));
        reporter = json_pack("{s:o,s:o,s:s,s:o}", "name", cli_jbytes(&s->reporter->name), "unit",
                             cli_jbytes(&s->reporter->unit), "kind", kind, "sector",
                             cli_jbytes(&s->reporter->sector));
    }
    json_t *similar = json_array();
    for (size_t i = 0; i < s->n_similar; i++) {
        const Minyi__V1__SimilarReport *m = s->similar[i];
        cli_state_text(m->state, st, sizeof(st));
        json_array_append_new(similar, json_pack("{s:o,s:o,s:s,s:f}", "receipt",
                                                 cli_jbytes(&m->receipt), "title",
                                                 cli_jbytes(&m->title), "state", st, "similarity",
                                                 (double)m->similarity));
    }
    json_t *merged_from = json_array();
    for (size_t i = 0; i < s->n_merged_from; i++)
        json_array_append_new(merged_from, cli_jbytes(&s->merged_from[i]));
    json_t *deliveries = json_array();
    for (size_t i = 0; i < s->n_deliveries; i++) {
        const Minyi__V1__Delivery *d = s->deliveries[i];
        json_array_append_new(
            deliveries,
            json_pack("{s:o,s:o,s:I,s:I,s:o,s:o,s:o,s:b,s:o,s:I}", "destination",
                      cli_jbytes(&d->destination), "state", cli_jbytes(&d->state), "attempts",
                      (json_int_t)d->attempts, "next_attempt_ms", (json_int_t)d->next_attempt_ms,
                      "last_error", cli_jbytes(&d->last_error), "upstream_receipt",
                      cli_jbytes(&d->upstream_receipt), "display_name",
                      cli_jbytes(&d->display_name), "external", (int)d->external,
                      "document_number", cli_jbytes(&d->document_number), "document_date_ms",
                      (json_int_t)d->document_date_ms));
    }
    cli_state_text(s->state, st, sizeof(st));
    urgency_text(s->urgency, urg, sizeof(urg));
    json_t *j = json_pack(
        "{s:o,s:s,s:o,s:I,s:o,s:s,s:o,s:o,s:o,s:o,s:I,s:o,s:I,s:o,s:o,s:o,s:o,s:o}", "receipt",
        cli_jbytes(&s->receipt), "state", st, "version", version_json(s->version),
        "latest_version", (json_int_t)s->latest_version, "diff", cli_jbytes(&s->diff), "urgency",
        urg, "reporter", reporter, "region", cli_jbytes(&s->region), "phone", cli_jbytes(&s->phone),
        "contact_point", cli_jbytes(&s->contact_point), "received_at_ms",
        (json_int_t)s->received_at_ms, "claimed_by", cli_jbytes(&s->claimed_by),
        "claim_expires_ms", (json_int_t)s->claim_expires_ms, "history",
        history_json(s->history, s->n_history), "similar", similar, "merged_into",
        cli_jbytes(&s->merged_into), "merged_from", merged_from, "deliveries", deliveries);
    if (j != NULL) {
        json_object_set_new(j, "attachments", attachments_json(s));
        json_object_set_new(j, "returned_above", cli_jbytes(&s->returned_above));
        json_t *credited = json_array();
        for (size_t i = 0; i < s->n_credited; i++) {
            const Minyi__V1__Reporter *c = s->credited[i];
            cli_enum_text(&minyi__v1__reporter_kind__descriptor, c->kind, "KIND_", kind,
                          sizeof(kind));
            json_array_append_new(credited, json_pack("{s:o,s:o,s:s,s:o}", "name",
                                                      cli_jbytes(&c->name), "unit",
                                                      cli_jbytes(&c->unit), "kind", kind,
                                                      "sector", cli_jbytes(&c->sector)));
        }
        json_object_set_new(j, "credited", credited);
        cli_print_json(j);
    }
}

/* Whether a delivery is still to be made (pending, or in flight and due
 * again should the attempt fail), so its next attempt time means something. */
static bool delivery_waits(const Minyi__V1__Delivery *d)
{
    static const char *const waiting[] = {"pending", "in_flight"};
    for (size_t i = 0; i < sizeof(waiting) / sizeof(waiting[0]); i++)
        if (d->state.len == strlen(waiting[i]) &&
            memcmp(d->state.data, waiting[i], d->state.len) == 0)
            return true;
    return false;
}

/* One version's text: its number, when and by whom, and its parts. */
static void print_version(const Minyi__V1__ReportVersion *v, uint32_t latest)
{
    char cat[32], when[64];
    cli_format_time(v->at_ms, when, sizeof(when));
    if (latest > 0)
        printf("version: %u of %u, %s by ", v->version, latest, when);
    else
        printf("version %u, %s by ", v->version, when);
    cli_print_bytes(&v->author);
    fputc('\n', stdout);
    category_text(v->category, cat, sizeof(cat));
    printf("category: %s\n", cat);
    print_field("title", &v->title);
    print_block("situation", &v->situation);
    print_block("analysis", &v->analysis);
    print_block("suggestions", &v->suggestions);
}

/* A contact point's view of its own report (the answer has submitted
 * set): the current text, then every version it submitted. */
static void print_show_own(bool json, const Minyi__V1__ShowResponse *s)
{
    char st[32], urg[32], when[64];
    cli_state_text(s->state, st, sizeof(st));
    urgency_text(s->urgency, urg, sizeof(urg));
    if (json) {
        json_t *sub = json_array();
        for (size_t i = 0; i < s->n_submitted; i++)
            json_array_append_new(sub, version_json(s->submitted[i]));
        json_t *j = json_pack("{s:o,s:s,s:s,s:o,s:I,s:o,s:I,s:o}", "receipt",
                              cli_jbytes(&s->receipt), "state", st, "urgency", urg, "region",
                              cli_jbytes(&s->region), "received_at_ms",
                              (json_int_t)s->received_at_ms, "version", version_json(s->version),
                              "latest_version", (json_int_t)s->latest_version, "submitted", sub);
        if (j != NULL)
            cli_print_json(j);
        return;
    }
    print_field("receipt", &s->receipt);
    printf("state: %s\n", st);
    printf("urgency: %s\n", urg);
    print_field("region", &s->region);
    cli_format_time(s->received_at_ms, when, sizeof(when));
    printf("received: %s\n", when);
    if (s->version != NULL)
        print_version(s->version, s->latest_version);
    for (size_t i = 0; i < s->n_submitted; i++) {
        fputs("\nsubmitted ", stdout);
        print_version(s->submitted[i], 0);
    }
}

static void print_show(bool json, const Minyi__V1__ShowResponse *s)
{
    char st[32], urg[32], cat[32], kind[32], when[64];
    if (s->n_submitted > 0) {
        print_show_own(json, s);
        return;
    }
    if (json) {
        print_show_json(s);
        return;
    }
    const Minyi__V1__ReportVersion *v = s->version;
    cli_state_text(s->state, st, sizeof(st));
    urgency_text(s->urgency, urg, sizeof(urg));
    print_field("receipt", &s->receipt);
    printf("state: %s\n", st);
    if (v != NULL) {
        cli_format_time(v->at_ms, when, sizeof(when));
        printf("version: %u of %u, %s by ", v->version, s->latest_version, when);
        cli_print_bytes(&v->author);
        fputc('\n', stdout);
        category_text(v->category, cat, sizeof(cat));
        printf("category: %s\n", cat);
    }
    printf("urgency: %s\n", urg);
    print_field("region", &s->region);
    print_field("contact point", &s->contact_point);
    cli_format_time(s->received_at_ms, when, sizeof(when));
    printf("received: %s\n", when);
    if (s->claimed_by.len > 0) {
        cli_format_time(s->claim_expires_ms, when, sizeof(when));
        fputs("claimed by: ", stdout);
        cli_print_bytes(&s->claimed_by);
        printf(" until %s\n", when);
    } else {
        fputs("claimed by: -\n", stdout);
    }
    if (s->reporter != NULL) {
        cli_enum_text(&minyi__v1__reporter_kind__descriptor, s->reporter->kind, "KIND_", kind,
                      sizeof(kind));
        print_field("reporter", &s->reporter->name);
        print_field("unit", &s->reporter->unit);
        printf("reporter kind: %s\n", kind);
        if (s->reporter->sector.len > 0)
            print_field("sector", &s->reporter->sector);
    }
    print_field("phone", &s->phone);
    for (size_t i = 0; i < s->n_credited; i++) {
        const Minyi__V1__Reporter *c = s->credited[i];
        cli_enum_text(&minyi__v1__reporter_kind__descriptor, c->kind, "KIND_", kind,
                      sizeof(kind));
        fputs("also credited: ", stdout);
        if (c->name.len > 0)
            cli_print_bytes(&c->name);
        else
            fputs("-", stdout);
        if (c->unit.len > 0) {
            fputs(", ", stdout);
            cli_print_bytes(&c->unit);
        }
        printf(" (%s)\n", kind);
    }
    if (s->returned_above.len > 0)
        print_field("returned from above", &s->returned_above);
    if (s->merged_into.len > 0)
        print_field("merged into", &s->merged_into);
    if (s->n_merged_from > 0) {
        fputs("merged from:", stdout);
        for (size_t i = 0; i < s->n_merged_from; i++) {
            fputc(' ', stdout);
            cli_print_bytes(&s->merged_from[i]);
        }
        fputc('\n', stdout);
    }
    if (v != NULL) {
        print_field("title", &v->title);
        print_block("situation", &v->situation);
        print_block("analysis", &v->analysis);
        print_block("suggestions", &v->suggestions);
        if (v->note.len > 0)
            print_field("note", &v->note);
    }
    if (s->diff.len > 0)
        print_block("diff against version 1", &s->diff);
    fputs("history:\n", stdout);
    cli_print_history(s->history, s->n_history);
    fputs("similar:\n", stdout);
    if (s->n_similar == 0)
        fputs("  -\n", stdout);
    for (size_t i = 0; i < s->n_similar; i++) {
        const Minyi__V1__SimilarReport *m = s->similar[i];
        cli_state_text(m->state, st, sizeof(st));
        fputs("  ", stdout);
        cli_print_bytes(&m->receipt);
        printf("\t%.2f\t%s\t", (double)m->similarity, st);
        cli_print_bytes(&m->title);
        fputc('\n', stdout);
    }
    fputs("deliveries:\n", stdout);
    if (s->n_deliveries == 0)
        fputs("  -\n", stdout);
    for (size_t i = 0; i < s->n_deliveries; i++) {
        const Minyi__V1__Delivery *d = s->deliveries[i];
        fputs("  ", stdout);
        if (d->display_name.len > 0) {
            cli_print_bytes(&d->display_name);
            fputs(" (", stdout);
            cli_print_bytes(&d->destination);
            fputs(d->external ? ", external)" : ")", stdout);
        } else {
            cli_print_bytes(&d->destination);
        }
        fputc('\t', stdout);
        cli_print_bytes(&d->state);
        printf("\tattempts=%u", d->attempts);
        /* Only a delivery still to be made has a next attempt. */
        if (delivery_waits(d)) {
            cli_format_time(d->next_attempt_ms, when, sizeof(when));
            printf("\tnext=%s", when);
        }
        if (d->external && d->document_number.len > 0) {
            cli_format_time(d->document_date_ms, when, sizeof(when));
            fputs("\tdocument=", stdout);
            cli_print_bytes(&d->document_number);
            printf("\tsent=%s", when);
        } else if (d->upstream_receipt.len > 0) {
            fputs("\tupstream=", stdout);
            cli_print_bytes(&d->upstream_receipt);
        }
        if (d->last_error.len > 0) {
            fputs("\terror=", stdout);
            cli_print_bytes(&d->last_error);
        }
        fputc('\n', stdout);
    }
    print_attachments(s);
}

/* Writes an attachment to a new file after checking that its content is
 * what its SHA-256 says; answers the exit status. */
static int save_attachment(const struct cli_triage_args *a, const Minyi__V1__Attachment *x)
{
    char path[PATH_MAX], err[CLI_ERR_LEN], hex[TRIAGE_SHA256_HEX];
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    if (EVP_Digest(x->content.data != NULL ? x->content.data : (const uint8_t *)"",
                   x->content.len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        x->sha256.len != mdlen || memcmp(md, x->sha256.data, mdlen) != 0)
        return cli_report_failure(a->json, CLIENT_ERR_PROTOCOL
                                  "the attachment's content does not match its SHA-256");
    if (a->out != NULL)
        snprintf(path, sizeof(path), "%s", a->out);
    else if (x->name.len == 0 || x->name.len >= sizeof(path) ||
             memchr(x->name.data, '/', x->name.len) != NULL)
        return cli_report_failure(a->json, CLIENT_ERR_PROTOCOL
                                  "the attachment's name is not a file name; give --out FILE");
    else
        snprintf(path, sizeof(path), "%.*s", (int)x->name.len, (const char *)x->name.data);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fp == NULL) {
        snprintf(err, sizeof(err), "attachment: cannot create %.900s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return cli_report_invalid(a->json, err);
    }
    bool ok = fwrite(x->content.data, 1, x->content.len, fp) == x->content.len;
    ok = fclose(fp) == 0 && ok;
    if (!ok) {
        unlink(path);
        snprintf(err, sizeof(err), "attachment: cannot write %.900s", path);
        return cli_report_invalid(a->json, err);
    }
    cli_hex(&x->sha256, hex, sizeof(hex));
    if (a->json) {
        json_t *j = json_pack("{s:s,s:o,s:o,s:I,s:s}", "file", path, "name", cli_jbytes(&x->name),
                              "media_type", cli_jbytes(&x->media_type), "size",
                              (json_int_t)x->content.len, "sha256", hex);
        if (j != NULL)
            cli_print_json(j);
    } else {
        printf("%s\t%zu bytes\tsha256=%s\n", path, x->content.len, hex);
    }
    return CLI_EXIT_DONE;
}

static void print_answer(const struct cli_triage_args *a, const Frame *ans)
{
    char st[32], when[64];
    bool json = a->json;
    json_t *j = NULL;
    switch (a->cmd) {
    case CLI_TRIAGE_QUEUE:
        print_queue(json, ans->queue_ok);
        return;
    case CLI_TRIAGE_SHOW:
        print_show(json, ans->show_ok);
        return;
    case CLI_TRIAGE_CLAIM:
    case CLI_TRIAGE_RENEW: {
        const Minyi__V1__ClaimResponse *c = ans->claim_ok;
        if (json) {
            j = json_pack("{s:o,s:I}", "receipt", cli_jbytes(&c->receipt), "expires_ms",
                          (json_int_t)c->expires_ms);
            break;
        }
        cli_format_time(c->expires_ms, when, sizeof(when));
        cli_print_bytes(&c->receipt);
        printf(" %s until %s\n", a->cmd == CLI_TRIAGE_CLAIM ? "claimed" : "renewed", when);
        return;
    }
    case CLI_TRIAGE_RELEASE:
        if (json) {
            j = json_pack("{s:s,s:b}", "receipt", a->receipt, "released", 1);
            break;
        }
        printf("%s released\n", a->receipt);
        return;
    case CLI_TRIAGE_EDIT: {
        const Minyi__V1__EditResponse *e = ans->edit_ok;
        if (json) {
            j = json_pack("{s:o,s:I}", "receipt", cli_jbytes(&e->receipt), "version",
                          (json_int_t)e->version);
            break;
        }
        cli_print_bytes(&e->receipt);
        printf(" version %u\n", e->version);
        return;
    }
    case CLI_TRIAGE_ADOPT:
    case CLI_TRIAGE_REJECT:
    case CLI_TRIAGE_RETURN:
    case CLI_TRIAGE_MERGE:
    case CLI_TRIAGE_FORWARD:
    case CLI_TRIAGE_INSTRUCT:
    case CLI_TRIAGE_RESPOND: {
        const Minyi__V1__DecideResponse *d = ans->decide_ok;
        cli_state_text(d->state, st, sizeof(st));
        if (json) {
            j = json_pack("{s:o,s:s}", "receipt", cli_jbytes(&d->receipt), "state", st);
            break;
        }
        cli_print_bytes(&d->receipt);
        printf(" %s\n", st);
        return;
    }
    case CLI_TRIAGE_WATCH:
    case CLI_TRIAGE_ATTACHMENT:
    case CLI_TRIAGE_N_CMDS:
        abort(); /* watch prints its own events, attachment writes a file */
    }
    if (j != NULL)
        cli_print_json(j);
}

/* The answer's message is present (protobuf-c leaves a oneof member NULL
 * only when the frame is malformed, but the gateway is not trusted). */
static bool answer_present(const Frame *f)
{
    switch (f->body_case) {
    case MINYI__V1__FRAME__BODY_QUEUE_OK:
        return f->queue_ok != NULL;
    case MINYI__V1__FRAME__BODY_SHOW_OK:
        return f->show_ok != NULL;
    case MINYI__V1__FRAME__BODY_CLAIM_OK:
        return f->claim_ok != NULL;
    case MINYI__V1__FRAME__BODY_EDIT_OK:
        return f->edit_ok != NULL;
    case MINYI__V1__FRAME__BODY_DECIDE_OK:
        return f->decide_ok != NULL;
    case MINYI__V1__FRAME__BODY_OK:
        return f->ok != NULL;
    case MINYI__V1__FRAME__BODY_ATTACHMENT_OK:
        return f->attachment_ok != NULL;
    default:
        return false;
    }
}

/* ---- watch --------------------------------------------------------------- */

static void print_event(bool json, const Minyi__V1__QueueEvent *e)
{
    char st[32], when[64];
    cli_state_text(e->state, st, sizeof(st));
    if (json) {
        json_t *j = json_pack("{s:o,s:o,s:s,s:o,s:I}", "kind", cli_jbytes(&e->kind), "receipt",
                              cli_jbytes(&e->receipt), "state", st, "actor", cli_jbytes(&e->actor),
                              "at_ms", (json_int_t)e->at_ms);
        if (j != NULL)
            cli_print_json_line(j);
    } else {
        cli_format_time(e->at_ms, when, sizeof(when));
        printf("%s\t", when);
        cli_print_bytes(&e->kind);
        fputc('\t', stdout);
        cli_print_bytes(&e->receipt);
        printf("\t%s\t", st);
        cli_print_bytes(&e->actor);
        fputc('\n', stdout);
    }
    /* A watcher is usually piped into another program: every event must
     * leave at once, not when a buffer fills. */
    fflush(stdout);
}

/* Subscribes and prints events until the connection ends.  A quiet period
 * longer than the profile's timeout is normal here, so a receive timeout
 * only means "nothing happened yet". */
static int run_watch(const struct cli_triage_args *a, const struct client_profile *p,
                     struct cli_triage_request *r)
{
    char err[CLI_ERR_LEN];
    struct frame_arena *arena = NULL;
    int rc;
    struct client_conn *c = client_connect(p, err, sizeof(err));
    if (c == NULL)
        return cli_report_failure(a->json, err);
    r->frame.id = client_next_id(c);
    Frame *ans = client_call(c, &r->frame, &arena, err, sizeof(err));
    if (ans == NULL) {
        rc = cli_report_failure(a->json, err);
        goto done;
    }
    if (ans->body_case == MINYI__V1__FRAME__BODY_ERROR && ans->error != NULL) {
        rc = cli_report_error_frame(a->json, ans->error);
        goto done;
    }
    if (ans->body_case != MINYI__V1__FRAME__BODY_OK) {
        rc = cli_report_failure(a->json, CLIENT_ERR_PROTOCOL "unexpected answer to watch");
        goto done;
    }
    /* Said once the watch is in force, so a program reading the events
     * knows that a listing of the queue made from now on misses nothing
     * (PROTOCOL.md §3.12.9). */
    if (!a->json) {
        fputs("watching the queue; interrupt to stop\n", stderr);
    } else {
        json_t *j = json_pack("{s:b}", "watching", 1);
        if (j != NULL)
            cli_print_json_line(j);
        fflush(stdout);
    }
    /* From here on standard output is one JSON object per event; an error
     * goes to standard error only, so the stream stays parseable. */
    for (;;) {
        frame_arena_free(arena);
        arena = NULL;
        Frame *f = client_recv(c, &arena, err, sizeof(err));
        if (f == NULL) {
            if (client_err_is(err, CLIENT_ERR_TIMEOUT))
                continue;
            rc = cli_report_failure(false, err);
            goto done;
        }
        if (f->body_case == MINYI__V1__FRAME__BODY_ERROR && f->error != NULL) {
            rc = cli_report_error_frame(false, f->error);
            goto done;
        }
        if (f->body_case == MINYI__V1__FRAME__BODY_QUEUE_EVENT && f->queue_event != NULL)
            print_event(a->json, f->queue_event);
        /* Anything else is not addressed to a watcher; ignore it. */
    }
done:
    frame_arena_free(arena);
    client_close(c);
    return rc;
}

/* ---- main ---------------------------------------------------------------- */

int cli_triage_main(int argc, char **argv, void (*usage)(FILE *out))
{
    struct cli_triage_args a;
    struct cli_triage_request r;
    struct client_profile profile;
    struct frame_arena *arena = NULL;
    char err[CLI_ERR_LEN];

    bool parsed = cli_triage_parse(argc, argv, &a, err, sizeof(err));
    int rc = cli_command_begin(parsed, err, a.help, a.profile_path, &profile, usage);
    if (rc >= 0)
        return rc;
    rc = CLI_EXIT_DONE;
    if (!cli_triage_build(&a, &r, err, sizeof(err))) {
        rc = cli_report_invalid(a.json, err);
        goto done;
    }
    if (a.cmd == CLI_TRIAGE_WATCH) {
        rc = run_watch(&a, &profile, &r);
        goto done;
    }
    Frame *ans = cli_call_expect(&profile, a.json, &r.frame, r.answer, &arena, &rc);
    if (ans != NULL) {
        if (answer_present(ans) && a.cmd == CLI_TRIAGE_ATTACHMENT)
            rc = save_attachment(&a, ans->attachment_ok);
        else if (answer_present(ans))
            print_answer(&a, ans);
        else
            rc = cli_report_failure(a.json, CLIENT_ERR_PROTOCOL "answer without a body");
    }
    frame_arena_free(arena);
done:
    cli_triage_request_free(&r);
    return cli_command_end(rc);
}
