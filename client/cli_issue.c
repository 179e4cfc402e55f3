/*
 * cli_issue: the 专报 commands of the `minyi` CLI (see cli_issue.h).  Each
 * sends one request on a fresh connection and prints the issue it gets
 * back; export writes it as printable HTML or plain text (issue_render.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_issue.h"
#include "cli_triage.h"
#include "cli_util.h"
#include "client_err.h"
#include "issue_render.h"

enum iopt {
    I_PROFILE = 256,
    I_JSON,
    I_SERIES,
    I_TITLE,
    I_YEAR,
    I_NOTE,
    I_NOTE_FILE,
    I_TEXT,
    I_TEXT_FILE,
    I_POSITION,
    I_HTML,
    I_PLAIN,
    I_OUT,
    I_TO,
    I_DATE,
};

#define C(cmd) (1u << CLI_ISSUE_##cmd)
#define ALL ((1u << CLI_ISSUE_N_CMDS) - 1)

static const struct cli_opt_def iopts[] = {
    {{"profile", required_argument, NULL, I_PROFILE}, ALL},
    {{"json", no_argument, NULL, I_JSON}, ALL & ~C(EXPORT)},
    {{"help", no_argument, NULL, 'h'}, ALL},
    {{"series", required_argument, NULL, I_SERIES}, C(NEW)},
    {{"title", required_argument, NULL, I_TITLE}, C(NEW) | C(ADD)},
    {{"year", required_argument, NULL, I_YEAR}, C(NEW) | C(LIST)},
    {{"note", required_argument, NULL, I_NOTE}, C(NEW)},
    {{"note-file", required_argument, NULL, I_NOTE_FILE}, C(NEW)},
    {{"text", required_argument, NULL, I_TEXT}, C(ADD)},
    {{"text-file", required_argument, NULL, I_TEXT_FILE}, C(ADD)},
    {{"position", required_argument, NULL, I_POSITION}, C(ADD)},
    {{"html", no_argument, NULL, I_HTML}, C(EXPORT)},
    {{"text-only", no_argument, NULL, I_PLAIN}, C(EXPORT)},
    {{"out", required_argument, NULL, I_OUT}, C(EXPORT)},
    {{"to", required_argument, NULL, I_TO}, C(SEND)},
    {{"date", required_argument, NULL, I_DATE}, C(SEND)},
};
#define N_IOPTS (sizeof(iopts) / sizeof(iopts[0]))
/* Options of one command line, at most this many in all. */
#define ISSUE_MAX_OPTS 32

/* The subcommands by name, and the positional arguments each takes
 * (ID, then RECEIPT). */
static const struct sub {
    const char *name;
    enum cli_issue_cmd cmd;
    int npos;
} subs[] = {
    {"new", CLI_ISSUE_NEW, 0},         {"add", CLI_ISSUE_ADD, 2},
    {"remove", CLI_ISSUE_REMOVE, 2},   {"publish", CLI_ISSUE_PUBLISH, 1},
    {"show", CLI_ISSUE_SHOW, 1},       {"list", CLI_ISSUE_LIST, 0},
    {"export", CLI_ISSUE_EXPORT, 1},     {"send", CLI_ISSUE_SEND, 1},
};
#define N_SUBS (sizeof(subs) / sizeof(subs[0]))

void cli_issue_usage(FILE *out)
{
    fputs(
        "专报 issues (editors compile them; offices and admins read them):\n"
        "  issue new --series S --title T [--year Y] [--note N | --note-file F]\n"
        "        A new draft issue of series S (e.g. 社情民意专报) for year Y (default:\n"
        "        this year) with an editor's note (编者按); prints `issue ID draft`.\n"
        "  issue add ID RECEIPT [--title T] [--text T | --text-file F] [--position N]\n"
        "        Puts an adopted or forwarded report into the draft as an item with\n"
        "        its own edited title and text (default: the report's), at place N\n"
        "        (default: the end).  Again for the same report: edits or moves it.\n"
        "  issue remove ID RECEIPT      Takes the report's item out of the draft.\n"
        "  issue publish ID\n"
        "        Numbers the draft (the next of its series and year, no gaps) and\n"
        "        freezes it; each item is recorded as 编发 in its report's history.\n"
        "        A published issue cannot be changed: CONFLICT (exit 7).\n"
        "  issue show ID                The issue and its items.\n"
        "  issue list [--year Y]        Issues, newest first.\n"
        "  issue export ID [--html | --text-only] [--out FILE]\n"
        "        The issue as printable HTML (A4, default) or plain text.\n"
        "  issue send ID --to DEST [--date D]\n"
        "        报送: sends the published issue to an external destination of the\n"
        "        gateway ([external.NAME]): each item's report goes there with the\n"
        "        issue's number as its document, dated D (default: now).  Record\n"
        "        what comes back on an item (采纳, 批示, 办理答复) with `respond` on\n"
        "        the item's receipt; it reaches the writers.\n",
        out);
}

bool cli_issue_is_command(const char *name)
{
    return strcmp(name, "issue") == 0;
}

bool cli_issue_option_wants_value(const char *name, size_t len)
{
    return cli_opt_wants_value(iopts, N_IOPTS, name, len);
}

static bool set_format(struct cli_issue_args *a, enum cli_issue_format f, char *err,
                       size_t errlen)
{
    if (a->format_given && a->format != f)
        return cli_fail(err, errlen, "--html and --text-only exclude each other");
    a->format = f;
    a->format_given = true;
    return true;
}

static bool apply_opt(struct cli_issue_args *a, int id, const char *val, char *err,
                      size_t errlen)
{
    unsigned long v;
    switch (id) {
    case I_PROFILE:
        a->profile_path = val;
        return true;
    case I_JSON:
        a->json = true;
        return true;
    case I_SERIES:
        a->series = val;
        return true;
    case I_TITLE:
        a->title = val;
        return true;
    case I_YEAR:
        if (!cli_parse_uint(val, 9999, &v) || v < 2000 || v > 2999)
            return cli_fail(err, errlen, "--year wants a year from 2000 to 2999, not %s", val);
        a->year = (int)v;
        return true;
    case I_NOTE:
        a->note = val;
        return true;
    case I_NOTE_FILE:
        a->note_file = val;
        return true;
    case I_TEXT:
        a->text = val;
        return true;
    case I_TEXT_FILE:
        a->text_file = val;
        return true;
    case I_POSITION:
        if (!cli_parse_uint(val, UINT32_MAX, &v) || v == 0)
            return cli_fail(err, errlen, "--position wants a place from 1, not %s", val);
        a->position = (uint32_t)v;
        return true;
    case I_HTML:
        return set_format(a, CLI_ISSUE_HTML, err, errlen);
    case I_PLAIN:
        return set_format(a, CLI_ISSUE_TEXT, err, errlen);
    case I_OUT:
        if (val[0] == '\0')
            return cli_fail(err, errlen, "--out wants a file name");
        a->out_path = val;
        return true;
    case I_TO:
        if (val[0] == '\0')
            return cli_fail(err, errlen, "--to wants a destination");
        a->destination = val;
        return true;
    case I_DATE:
        if (!cli_triage_parse_time(val, false, &a->date_ms))
            return cli_fail(err, errlen, "--date wants YYYY-MM-DD[THH:MM[:SS]], not %s", val);
        return true;
    default:
        abort(); /* every option in iopts has a case */
    }
}

/* The subcommand and its positional arguments. */
static bool parse_words(int npos, char **pos, struct cli_issue_args *a, char *err,
                        size_t errlen)
{
    const struct sub *sub = NULL;

    if (npos == 0)
        return cli_fail(err, errlen, "issue wants new, add, remove, publish, show, list or "
                                     "export");
    for (size_t i = 0; i < N_SUBS; i++)
        if (strcmp(pos[0], subs[i].name) == 0)
            sub = &subs[i];
    if (sub == NULL)
        return cli_fail(err, errlen, "issue wants new, add, remove, publish, show, list or "
                                     "export, not %s", pos[0]);
    a->cmd = sub->cmd;
    if (npos - 1 != sub->npos)
        return cli_fail(err, errlen, "issue %s wants %s", sub->name,
                        sub->npos == 0   ? "no argument"
                        : sub->npos == 1 ? "an issue ID"
                                         : "an issue ID and a RECEIPT");
    if (sub->npos >= 1 && !cli_parse_id(pos[1], &a->issue_id))
        return cli_fail(err, errlen, "issue %s wants an issue id (a positive number), not %s",
                        sub->name, pos[1]);
    if (sub->npos == 2)
        a->receipt = pos[2];
    return true;
}

bool cli_issue_parse(int argc, char **argv, struct cli_issue_args *a, char *err, size_t errlen)
{
    struct cli_raw_opt raw[ISSUE_MAX_OPTS];
    size_t n_raw;

    memset(a, 0, sizeof(*a));
    if (!cli_opts_collect(argc, argv, iopts, N_IOPTS, I_PROFILE, raw, ISSUE_MAX_OPTS, &n_raw,
                          &a->help, err, errlen))
        return false;
    if (a->help)
        return true;
    if (optind >= argc || !cli_issue_is_command(argv[optind]))
        return cli_fail(err, errlen, "no issue command");
    if (!parse_words(argc - optind - 1, argv + optind + 1, a, err, errlen))
        return false;
    for (size_t k = 0; k < n_raw; k++) {
        if ((cli_opt_cmds(iopts, N_IOPTS, raw[k].id) & (1u << a->cmd)) == 0)
            return cli_fail(err, errlen, "--%s does not belong to issue %s",
                            cli_opt_name(iopts, N_IOPTS, raw[k].id), subs[a->cmd].name);
        if (!apply_opt(a, raw[k].id, raw[k].value, err, errlen))
            return false;
    }
    if (a->note != NULL && a->note_file != NULL)
        return cli_fail(err, errlen, "--note and --note-file exclude each other");
    if (a->text != NULL && a->text_file != NULL)
        return cli_fail(err, errlen, "--text and --text-file exclude each other");
    if (a->cmd == CLI_ISSUE_NEW && (a->series == NULL || a->title == NULL))
        return cli_fail(err, errlen, "issue new wants --series and --title");
    if (a->cmd == CLI_ISSUE_SEND && a->destination == NULL)
        return cli_fail(err, errlen, "issue send wants --to DEST");
    return true;
}

static ProtobufCBinaryData opt_bytes(const char *s)
{
    return frame_bytes(s != NULL ? s : "");
}

bool cli_issue_build(const struct cli_issue_args *a, struct cli_issue_request *r, char *err,
                     size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->frame = (Frame)MINYI__V1__FRAME__INIT;
    Frame *f = &r->frame;
    r->answer = MINYI__V1__FRAME__BODY_ISSUE_OK;

    switch (a->cmd) {
    case CLI_ISSUE_NEW:
        r->new_ = (Minyi__V1__IssueNewRequest)MINYI__V1__ISSUE_NEW_REQUEST__INIT;
        r->new_.series = opt_bytes(a->series);
        r->new_.title = opt_bytes(a->title);
        r->new_.year = a->year;
        if (a->note_file != NULL) {
            if (!cli_triage_read_text(a->note_file, "--note-file", &r->new_.editor_note,
                                      &r->owned, err, errlen))
                return false;
        } else {
            r->new_.editor_note = opt_bytes(a->note);
        }
        f->body_case = MINYI__V1__FRAME__BODY_ISSUE_NEW;
        f->issue_new = &r->new_;
        return true;
    case CLI_ISSUE_ADD:
        r->add = (Minyi__V1__IssueAddRequest)MINYI__V1__ISSUE_ADD_REQUEST__INIT;
        r->add.issue_id = a->issue_id;
        r->add.receipt = opt_bytes(a->receipt);
        r->add.title = opt_bytes(a->title);
        r->add.position = a->position;
        if (a->text_file != NULL) {
            if (!cli_triage_read_text(a->text_file, "--text-file", &r->add.text, &r->owned, err,
                                      errlen))
                return false;
        } else {
            r->add.text = opt_bytes(a->text);
        }
        f->body_case = MINYI__V1__FRAME__BODY_ISSUE_ADD;
        f->issue_add = &r->add;
        return true;
    case CLI_ISSUE_REMOVE:
        r->remove = (Minyi__V1__IssueRemoveRequest)MINYI__V1__ISSUE_REMOVE_REQUEST__INIT;
        r->remove.issue_id = a->issue_id;
        r->remove.receipt = opt_bytes(a->receipt);
        f->body_case = MINYI__V1__FRAME__BODY_ISSUE_REMOVE;
        f->issue_remove = &r->remove;
        return true;
    case CLI_ISSUE_PUBLISH:
        r->publish = (Minyi__V1__IssuePublishRequest)MINYI__V1__ISSUE_PUBLISH_REQUEST__INIT;
        r->publish.issue_id = a->issue_id;
        f->body_case = MINYI__V1__FRAME__BODY_ISSUE_PUBLISH;
        f->issue_publish = &r->publish;
        return true;
    case CLI_ISSUE_LIST:
        r->list = (Minyi__V1__IssueListRequest)MINYI__V1__ISSUE_LIST_REQUEST__INIT;
        r->list.year = a->year;
        f->body_case = MINYI__V1__FRAME__BODY_ISSUE_LIST;
        f->issue_list = &r->list;
        r->answer = MINYI__V1__FRAME__BODY_ISSUE_LIST_OK;
        return true;
    case CLI_ISSUE_SEND:
        r->send = (Minyi__V1__IssueSendRequest)MINYI__V1__ISSUE_SEND_REQUEST__INIT;
        r->send.issue_id = a->issue_id;
        r->send.destination = opt_bytes(a->destination);
        r->send.sent_at_ms = a->date_ms;
        f->body_case = MINYI__V1__FRAME__BODY_ISSUE_SEND;
        f->issue_send = &r->send;
        return true;
    case CLI_ISSUE_SHOW:
    case CLI_ISSUE_EXPORT:
    default:
        r->show = (Minyi__V1__IssueShowRequest)MINYI__V1__ISSUE_SHOW_REQUEST__INIT;
        r->show.issue_id = a->issue_id;
        f->body_case = MINYI__V1__FRAME__BODY_ISSUE_SHOW;
        f->issue_show = &r->show;
        return true;
    }
}

void cli_issue_request_free(struct cli_issue_request *r)
{
    free(r->owned);
    r->owned = NULL;
}

/* ---- printing answers ---------------------------------------------------- */

static json_t *issue_json(const Minyi__V1__Issue *m)
{
    json_t *items = json_array();
    for (size_t i = 0; i < m->n_items; i++) {
        const Minyi__V1__IssueItem *it = m->items[i];
        json_array_append_new(
            items, json_pack("{s:I,s:o,s:o,s:o,s:o,s:I}", "position", (json_int_t)it->position,
                             "receipt", cli_jbytes(&it->receipt), "title",
                             cli_jbytes(&it->title), "text", cli_jbytes(&it->text), "source",
                             cli_jbytes(&it->source), "category", (json_int_t)it->category));
    }
    json_t *sends = json_array();
    for (size_t i = 0; i < m->n_sends; i++) {
        const Minyi__V1__IssueSend *x = m->sends[i];
        json_array_append_new(sends, json_pack("{s:o,s:o,s:I,s:o}", "destination",
                                               cli_jbytes(&x->destination), "display_name",
                                               cli_jbytes(&x->display_name), "sent_at_ms",
                                               (json_int_t)x->sent_at_ms, "sent_by",
                                               cli_jbytes(&x->sent_by)));
    }
    return json_pack("{s:I,s:o,s:i,s:I,s:o,s:o,s:o,s:I,s:I,s:o,s:I,s:o,s:o}", "id",
                     (json_int_t)m->id, "series", cli_jbytes(&m->series), "year", (int)m->year,
                     "number", (json_int_t)m->number, "title", cli_jbytes(&m->title),
                     "editor_note", cli_jbytes(&m->editor_note), "body_name",
                     cli_jbytes(&m->body_name), "created_at_ms", (json_int_t)m->created_at_ms,
                     "published_at_ms", (json_int_t)m->published_at_ms, "published_by",
                     cli_jbytes(&m->published_by), "item_count", (json_int_t)m->item_count,
                     "items", items, "sends", sends);
}

/* The first line: `issue ID draft` or `issue ID 《series》YYYY年第N期`. */
static void print_heading(const Minyi__V1__Issue *m)
{
    printf("issue %" PRId64 " ", m->id);
    if (m->number == 0) {
        fputs("draft", stdout);
    } else {
        fputs("《", stdout);
        cli_print_bytes(&m->series);
        printf("》%d年第%u期", m->year, m->number);
    }
    fputc('\n', stdout);
}

static void print_issue(const Minyi__V1__Issue *m)
{
    char when[64];

    print_heading(m);
    fputs("series: ", stdout);
    cli_print_bytes(&m->series);
    printf("  year: %d\ntitle: ", m->year);
    cli_print_bytes(&m->title);
    fputc('\n', stdout);
    if (m->published_at_ms > 0) {
        cli_format_time(m->published_at_ms, when, sizeof when);
        printf("published: %s by ", when);
        cli_print_bytes(&m->published_by);
        fputc('\n', stdout);
    }
    if (m->editor_note.len > 0) {
        fputs("编者按: ", stdout);
        cli_print_bytes(&m->editor_note);
        fputc('\n', stdout);
    }
    for (size_t i = 0; i < m->n_sends; i++) {
        cli_format_time(m->sends[i]->sent_at_ms, when, sizeof when);
        fputs("sent to: ", stdout);
        cli_print_bytes(&m->sends[i]->display_name);
        fputs(" (", stdout);
        cli_print_bytes(&m->sends[i]->destination);
        printf(") %s by ", when);
        cli_print_bytes(&m->sends[i]->sent_by);
        fputc('\n', stdout);
    }
    printf("items: %zu\n", m->n_items);
    for (size_t i = 0; i < m->n_items; i++) {
        const Minyi__V1__IssueItem *it = m->items[i];
        printf("%4u  ", it->position);
        cli_print_bytes(&it->receipt);
        fputs("  ", stdout);
        cli_print_bytes(&it->title);
        if (it->source.len > 0) {
            fputs("  （", stdout);
            cli_print_bytes(&it->source);
            fputs("）", stdout);
        }
        fputc('\n', stdout);
    }
}

static void print_list(bool json, const Minyi__V1__IssueListResponse *m)
{
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < m->n_issues; i++)
            json_array_append_new(arr, issue_json(m->issues[i]));
        json_t *j = json_pack("{s:o}", "issues", arr);
        if (j != NULL)
            cli_print_json(j);
        return;
    }
    printf("%-8s %-24s %-6s %-6s %-6s %s\n", "ID", "SERIES", "YEAR", "NUMBER", "ITEMS",
           "TITLE");
    for (size_t i = 0; i < m->n_issues; i++) {
        const Minyi__V1__Issue *x = m->issues[i];
        char number[16];
        if (x->number > 0)
            snprintf(number, sizeof number, "%u", x->number);
        else
            snprintf(number, sizeof number, "draft");
        printf("%-8" PRId64 " %-24.*s %-6d %-6s %-6u ", x->id, (int)x->series.len,
               x->series.len > 0 ? (const char *)x->series.data : "", x->year, number,
               x->item_count);
        cli_print_bytes(&x->title);
        fputc('\n', stdout);
    }
}

/* export: the issue rendered to --out (written whole, then renamed into
 * place, so a reader never sees half a page) or to standard output. */
static int export_issue(const struct cli_issue_args *a, const Minyi__V1__Issue *m)
{
    char tmp[4096];
    FILE *out = stdout;

    if (a->out_path != NULL) {
        int n = snprintf(tmp, sizeof tmp, "%s.tmp", a->out_path);
        if (n < 0 || (size_t)n >= sizeof tmp)
            return cli_report_failure(false, "--out: the file name is too long");
        out = fopen(tmp, "w");
        if (out == NULL) {
            char why[CLI_ERR_LEN];
            snprintf(why, sizeof why, "--out: cannot write %.*s: %s", (int)(CLI_ERR_LEN / 2),
                     tmp, strerror(errno));
            return cli_report_failure(false, why);
        }
    }
    bool ok = a->format == CLI_ISSUE_TEXT ? issue_render_text(out, m) : issue_render_html(out, m);
    if (out != stdout) {
        ok = fclose(out) == 0 && ok;
        ok = ok && rename(tmp, a->out_path) == 0;
        if (!ok) {
            remove(tmp);
            return cli_report_failure(false, "--out: the file could not be written");
        }
        printf("%s: issue %" PRId64 ", %zu items\n", a->out_path, m->id, m->n_items);
    }
    return ok ? CLI_EXIT_DONE : CLI_EXIT_OTHER;
}

/* ---- main ---------------------------------------------------------------- */

int cli_issue_main(int argc, char **argv, void (*usage)(FILE *out))
{
    struct cli_issue_args a;
    struct cli_issue_request r;
    struct client_profile profile;
    struct frame_arena *arena = NULL;
    char err[CLI_ERR_LEN];

    bool parsed = cli_issue_parse(argc, argv, &a, err, sizeof(err));
    int rc = cli_command_begin(parsed, err, a.help, a.profile_path, &profile, usage);
    if (rc >= 0)
        return rc;
    if (!cli_issue_build(&a, &r, err, sizeof err)) {
        cli_issue_request_free(&r);
        return cli_command_end(cli_report_invalid(a.json, err));
    }
    rc = CLI_EXIT_DONE;
    Frame *ans = cli_call_expect(&profile, a.json, &r.frame, r.answer, &arena, &rc);
    if (ans != NULL) {
        if (a.cmd == CLI_ISSUE_LIST && ans->issue_list_ok != NULL) {
            print_list(a.json, ans->issue_list_ok);
        } else if (a.cmd != CLI_ISSUE_LIST && ans->issue_ok != NULL) {
            if (a.cmd == CLI_ISSUE_EXPORT) {
                rc = export_issue(&a, ans->issue_ok);
            } else if (a.json) {
                json_t *j = issue_json(ans->issue_ok);
                if (j != NULL)
                    cli_print_json(j);
            } else {
                print_issue(ans->issue_ok);
            }
        } else {
            rc = cli_report_failure(a.json, CLIENT_ERR_PROTOCOL "answer without a body");
        }
    }
    frame_arena_free(arena);
    cli_issue_request_free(&r);
    return cli_command_end(rc);
}
