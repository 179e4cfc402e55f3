/*
 * minyi: the command-line client for contact points.
 *
 *   minyi --profile FILE submit --file report.json [field flags] [--json]
 *   minyi --profile FILE status RECEIPT [--json]
 *   minyi --profile FILE mine [--limit N] [--cursor C] [--json]
 *
 * Results go to standard output (the receipt is always the first line of a
 * plain submit), errors to standard error as "minyi: CODE field: message",
 * and the exit status tells scripts what kind of failure it was (see
 * usage()).  A submission whose answer is lost (connection refused, reset
 * or timed out) or that the gateway could not take right now is sent again
 * with the same client_report_id; the gateway's idempotency makes that safe.
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

#include "client.h"
#include "client_err.h"

#define EXIT_DONE 0
#define EXIT_USAGE 2
#define EXIT_INVALID 3
#define EXIT_REFUSED 4
#define EXIT_UNAVAILABLE 5
#define EXIT_NOT_FOUND 6
#define EXIT_CONFLICT 7
#define EXIT_OTHER 8

#define CLI_DEFAULT_RETRIES 3
#define CLI_MAX_RETRIES 100
#define CLI_BACKOFF_FIRST_MS 500
#define CLI_BACKOFF_MAX_MS 8000
/* A gateway's retry_after_ms is honoured up to this much. */
#define CLI_RETRY_AFTER_MAX_MS 30000
#define CLI_ERR_LEN 1024
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
        "          --id UUID (client_report_id; a new one is generated when absent)\n"
        "          --title T  --situation T  --situation-file F  --analysis T\n"
        "          --analysis-file F  --suggestions T  --suggestions-file F\n"
        "          --category NAME|N (ECONOMY POLITICS CULTURE SOCIETY ECOLOGY\n"
        "                             PARTY_BUILDING OTHER)\n"
        "          --urgency NORMAL|URGENT\n"
        "          --reporter-name T  --reporter-unit T  --sector T\n"
        "          --reporter-kind NAME|N (MEMBER PARTY_GROUP SECTOR LOWER_BODY\n"
        "                                  COMMITTEE CONTACT_POINT CITIZEN)\n"
        "          --region CODE  --phone P  --attach PATH (repeatable)\n"
        "        A submission that gets no answer, or UNAVAILABLE / RESOURCE_EXHAUSTED /\n"
        "        INTERNAL, is retried N times (default 3) with the same client_report_id.\n"
        "  status RECEIPT [--json]\n"
        "        Prints the state, then the history (time, state, action, note).\n"
        "  mine [--limit N] [--cursor C] [--json]\n"
        "        Lists your own reports, newest first, one page at a time.\n"
        "\n"
        "Options:\n"
        "  --profile FILE   client profile (INI [client] section); default $MINYI_PROFILE\n"
        "  --json           print the whole answer as JSON on standard output\n"
        "  -h, --help       this text\n"
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
        "  3  invalid input (INVALID_ARGUMENT, or a local error in the report JSON)\n"
        "  4  refused (PERMISSION_DENIED, TLS or certificate failure)\n"
        "  5  unavailable (UNAVAILABLE, RESOURCE_EXHAUSTED, connection failed or\n"
        "     lost, timeout)\n"
        "  6  not found (NOT_FOUND)\n"
        "  7  conflict (CONFLICT)\n"
        "  8  other (INTERNAL, UNSUPPORTED, protocol errors)\n",
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
    bool limit_set;
    uint32_t limit;
    const char *cursor;
    struct override overrides[CLI_MAX_OVERRIDES];
    size_t n_overrides;
    struct client_profile profile;
};

/* ---- output helpers ------------------------------------------------------ */

static void format_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%S%z", &tm) == 0)
        snprintf(buf, len, "-");
}

static void state_text(int state, char *buf, size_t len)
{
    const char *n = client_state_name(state);
    if (strcmp(n, "UNKNOWN") == 0)
        snprintf(buf, len, "STATE_%d", state);
    else
        snprintf(buf, len, "%s", n);
}

/* Bytes from the gateway as a JSON string; null when not valid UTF-8
 * (the gateway only sends validated text, so this is a safeguard). */
static json_t *jbytes(const ProtobufCBinaryData *b)
{
    json_t *s = json_stringn(b->len > 0 ? (const char *)b->data : "", b->len);
    return s != NULL ? s : json_null();
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2));
    if (s != NULL) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(j);
}

static void print_bytes(const ProtobufCBinaryData *b)
{
    if (b->len > 0)
        fwrite(b->data, 1, b->len, stdout);
}

/* ---- errors and exit codes ----------------------------------------------- */

static int exit_for_code(int code)
{
    switch (code) {
    case MINYI__V1__ERROR_CODE__INVALID_ARGUMENT:
        return EXIT_INVALID;
    case MINYI__V1__ERROR_CODE__PERMISSION_DENIED:
        return EXIT_REFUSED;
    case MINYI__V1__ERROR_CODE__NOT_FOUND:
        return EXIT_NOT_FOUND;
    case MINYI__V1__ERROR_CODE__CONFLICT:
        return EXIT_CONFLICT;
    case MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED:
    case MINYI__V1__ERROR_CODE__UNAVAILABLE:
        return EXIT_UNAVAILABLE;
    default:
        return EXIT_OTHER;
    }
}

/* Prints an Error frame and returns the exit code for it. */
static int report_error_frame(const struct cli *cli, const Minyi__V1__Error *e)
{
    const char *code = client_error_code_name(e->code);
    fprintf(stderr, "minyi: %s", code);
    if (e->field.len > 0) {
        fputc(' ', stderr);
        fwrite(e->field.data, 1, e->field.len, stderr);
    }
    fputs(": ", stderr);
    if (e->message.len > 0)
        fwrite(e->message.data, 1, e->message.len, stderr);
    if (e->message_zh.len > 0) {
        fputs(" (", stderr);
        fwrite(e->message_zh.data, 1, e->message_zh.len, stderr);
        fputc(')', stderr);
    }
    if (e->retry_after_ms > 0)
        fprintf(stderr, " [retry after %u ms]", e->retry_after_ms);
    fputc('\n', stderr);
    if (cli->json) {
        json_t *j = json_pack("{s:{s:s,s:o,s:o,s:o,s:I}}", "error", "code", code, "field",
                              jbytes(&e->field), "message", jbytes(&e->message), "message_zh",
                              jbytes(&e->message_zh), "retry_after_ms",
                              (json_int_t)e->retry_after_ms);
        if (j != NULL)
            print_json(j);
    }
    return exit_for_code(e->code);
}

/* Maps a library failure (err with a client_err.h prefix) to an exit code
 * and the code name shown to the user. */
static int exit_for_failure(const char *err, const char **codename)
{
    if (client_err_is(err, CLIENT_ERR_CONFIG)) {
        *codename = "CONFIG";
        return EXIT_USAGE;
    }
    if (client_err_is(err, CLIENT_ERR_TLS)) {
        *codename = "PERMISSION_DENIED";
        return EXIT_REFUSED;
    }
    if (client_err_is(err, CLIENT_ERR_PROTOCOL)) {
        *codename = "INTERNAL";
        return EXIT_OTHER;
    }
    *codename = "UNAVAILABLE";
    return EXIT_UNAVAILABLE;
}

static int report_failure(const struct cli *cli, const char *err)
{
    const char *codename;
    int rc = exit_for_failure(err, &codename);
    fprintf(stderr, "minyi: %s %s\n", codename, err);
    if (cli->json) {
        json_t *j = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", codename, "field", "",
                              "message", err);
        if (j != NULL)
            print_json(j);
    }
    return rc;
}

/* A failure of this kind is worth another try with the same id. */
static bool failure_is_transient(const char *err)
{
    return client_err_is(err, CLIENT_ERR_CONNECT) || client_err_is(err, CLIENT_ERR_TIMEOUT) ||
           client_err_is(err, CLIENT_ERR_CLOSED);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ---- one request on a fresh connection ----------------------------------- */

/* Connects, sends req, and waits for its answer.  Returns the answer (free
 * *arena) or NULL with err set. */
static Frame *call_once(const struct cli *cli, Frame *req, struct frame_arena **arena, char *err,
                        size_t errlen)
{
    struct client_conn *c = client_connect(&cli->profile, err, errlen);
    if (c == NULL)
        return NULL;
    req->id = client_next_id(c);
    Frame *ans = client_call(c, req, arena, err, errlen);
    client_close(c);
    return ans;
}

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
static Minyi__V1__Report *build_report(const struct cli *cli, char *err, size_t errlen)
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

static int backoff_ms(int attempt, uint32_t retry_after_ms)
{
    if (retry_after_ms > 0)
        return retry_after_ms > CLI_RETRY_AFTER_MAX_MS ? CLI_RETRY_AFTER_MAX_MS : (int)retry_after_ms;
    int64_t ms = (int64_t)CLI_BACKOFF_FIRST_MS << (attempt > 10 ? 10 : attempt - 1);
    return ms > CLI_BACKOFF_MAX_MS ? CLI_BACKOFF_MAX_MS : (int)ms;
}

static int cmd_submit(const struct cli *cli)
{
    char err[CLI_ERR_LEN];
    Minyi__V1__Report *r = build_report(cli, err, sizeof(err));
    if (r == NULL) {
        fprintf(stderr, "minyi: INVALID_ARGUMENT %s\n", err);
        if (cli->json) {
            json_t *j = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "INVALID_ARGUMENT", "field",
                                  "", "message", err);
            if (j != NULL)
                print_json(j);
        }
        return EXIT_INVALID;
    }

    Minyi__V1__SubmitRequest sreq = MINYI__V1__SUBMIT_REQUEST__INIT;
    sreq.report = r;
    Frame req = MINYI__V1__FRAME__INIT;
    req.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
    req.submit = &sreq;

    int rc = EXIT_OTHER;
    struct frame_arena *arena = NULL;
    Frame *ans = NULL;
    uint32_t retry_after = 0;
    for (int attempt = 0; attempt <= cli->retries; attempt++) {
        if (attempt > 0)
            sleep_ms(backoff_ms(attempt, retry_after));
        retry_after = 0;
        frame_arena_free(arena);
        arena = NULL;
        ans = call_once(cli, &req, &arena, err, sizeof(err));
        if (ans == NULL) {
            if (failure_is_transient(err) && attempt < cli->retries) {
                fprintf(stderr, "minyi: %s; trying again\n", err);
                continue;
            }
            rc = report_failure(cli, err);
            goto done;
        }
        if (ans->body_case == MINYI__V1__FRAME__BODY_ERROR && ans->error != NULL) {
            int code = ans->error->code;
            bool transient = code == MINYI__V1__ERROR_CODE__UNAVAILABLE ||
                             code == MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED ||
                             code == MINYI__V1__ERROR_CODE__INTERNAL;
            if (transient && attempt < cli->retries) {
                retry_after = ans->error->retry_after_ms;
                fprintf(stderr, "minyi: %s from the gateway; trying again\n",
                        client_error_code_name(code));
                continue;
            }
            rc = report_error_frame(cli, ans->error);
            goto done;
        }
        break;
    }
    if (ans == NULL || ans->body_case != MINYI__V1__FRAME__BODY_SUBMIT_OK || ans->submit_ok == NULL) {
        rc = report_failure(cli, CLIENT_ERR_PROTOCOL "unexpected answer to submit");
        goto done;
    }
    const Minyi__V1__SubmitResponse *ok = ans->submit_ok;
    if (cli->json) {
        json_t *j = json_pack("{s:o,s:b,s:I,s:o}", "receipt", jbytes(&ok->receipt), "duplicate",
                              ok->duplicate, "received_at_ms", (json_int_t)ok->received_at_ms,
                              "client_report_id", jbytes(&r->client_report_id));
        if (j != NULL)
            print_json(j);
    } else {
        char when[64];
        format_time(ok->received_at_ms, when, sizeof(when));
        print_bytes(&ok->receipt);
        fputs("\nclient_report_id=", stdout);
        print_bytes(&r->client_report_id);
        printf(" duplicate=%s received_at=%s\n", ok->duplicate ? "yes" : "no", when);
    }
    rc = EXIT_DONE;
done:
    frame_arena_free(arena);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return rc;
}

/* ---- status and mine ----------------------------------------------------- */

/* Sends one read-only request; on an error prints it and returns false with
 * *rc set. */
static Frame *call_read(const struct cli *cli, Frame *req, int want, struct frame_arena **arena,
                        int *rc)
{
    char err[CLI_ERR_LEN];
    Frame *ans = call_once(cli, req, arena, err, sizeof(err));
    if (ans == NULL) {
        *rc = report_failure(cli, err);
        return NULL;
    }
    if (ans->body_case == MINYI__V1__FRAME__BODY_ERROR && ans->error != NULL) {
        *rc = report_error_frame(cli, ans->error);
        return NULL;
    }
    if ((int)ans->body_case != want) {
        *rc = report_failure(cli, CLIENT_ERR_PROTOCOL "unexpected answer type");
        return NULL;
    }
    return ans;
}

static int cmd_status(const struct cli *cli, const char *receipt)
{
    Minyi__V1__StatusRequest sreq = MINYI__V1__STATUS_REQUEST__INIT;
    sreq.receipt = frame_bytes(receipt);
    Frame req = MINYI__V1__FRAME__INIT;
    req.body_case = MINYI__V1__FRAME__BODY_STATUS;
    req.status = &sreq;

    struct frame_arena *arena = NULL;
    int rc = EXIT_DONE;
    Frame *ans = call_read(cli, &req, MINYI__V1__FRAME__BODY_STATUS_OK, &arena, &rc);
    if (ans == NULL || ans->status_ok == NULL) {
        frame_arena_free(arena);
        return rc != EXIT_DONE ? rc : EXIT_OTHER;
    }
    const Minyi__V1__StatusResponse *s = ans->status_ok;
    char st[32], when[64];
    if (cli->json) {
        json_t *hist = json_array();
        for (size_t i = 0; i < s->n_history; i++) {
            const Minyi__V1__HistoryEntry *h = s->history[i];
            state_text(h->state, st, sizeof(st));
            json_array_append_new(hist, json_pack("{s:I,s:s,s:o,s:o}", "at_ms", (json_int_t)h->at_ms,
                                                  "state", st, "action", jbytes(&h->action), "note",
                                                  jbytes(&h->note)));
        }
        state_text(s->state, st, sizeof(st));
        json_t *j = json_pack("{s:o,s:s,s:o,s:I,s:o}", "receipt", jbytes(&s->receipt), "state", st,
                              "title", jbytes(&s->title), "received_at_ms",
                              (json_int_t)s->received_at_ms, "history", hist);
        if (j != NULL)
            print_json(j);
    } else {
        state_text(s->state, st, sizeof(st));
        format_time(s->received_at_ms, when, sizeof(when));
        printf("%s\nreceipt: ", st);
        print_bytes(&s->receipt);
        fputs("\ntitle: ", stdout);
        print_bytes(&s->title);
        printf("\nreceived: %s\nhistory:\n", when);
        for (size_t i = 0; i < s->n_history; i++) {
            const Minyi__V1__HistoryEntry *h = s->history[i];
            state_text(h->state, st, sizeof(st));
            format_time(h->at_ms, when, sizeof(when));
            printf("  %s\t%s\t", when, st);
            print_bytes(&h->action);
            if (h->note.len > 0) {
                fputc('\t', stdout);
                print_bytes(&h->note);
            }
            fputc('\n', stdout);
        }
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
    Frame *ans = call_read(cli, &req, MINYI__V1__FRAME__BODY_LIST_MINE_OK, &arena, &rc);
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
            state_text(s->state, st, sizeof(st));
            json_array_append_new(arr, json_pack("{s:o,s:o,s:s,s:I}", "receipt", jbytes(&s->receipt),
                                                 "title", jbytes(&s->title), "state", st,
                                                 "received_at_ms", (json_int_t)s->received_at_ms));
        }
        json_t *j = json_pack("{s:o,s:o}", "reports", arr, "next_cursor", jbytes(&l->next_cursor));
        if (j != NULL)
            print_json(j);
    } else {
        for (size_t i = 0; i < l->n_reports; i++) {
            const Minyi__V1__ReportSummary *s = l->reports[i];
            state_text(s->state, st, sizeof(st));
            format_time(s->received_at_ms, when, sizeof(when));
            print_bytes(&s->receipt);
            printf("\t%s\t%s\t", st, when);
            print_bytes(&s->title);
            fputc('\n', stdout);
        }
        if (l->next_cursor.len > 0) {
            fputs("next_cursor=", stdout);
            print_bytes(&l->next_cursor);
            fputc('\n', stdout);
        }
    }
    frame_arena_free(arena);
    return EXIT_DONE;
}

/* ---- command line -------------------------------------------------------- */

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("minyi: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see minyi --help)\n", stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    struct cli cli = {.retries = CLI_DEFAULT_RETRIES};
    struct option longopts[N_FIELD_OPTS + 16];
    size_t n = 0;
    bool submit_only = false, mine_only = false;

    /* A closed standard output must not kill us in the middle of a write;
     * the library guards its own sockets. */
    signal(SIGPIPE, SIG_IGN);

    longopts[n++] = (struct option){"profile", required_argument, NULL, OPT_PROFILE};
    longopts[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
    longopts[n++] = (struct option){"file", required_argument, NULL, OPT_FILE};
    longopts[n++] = (struct option){"retries", required_argument, NULL, OPT_RETRIES};
    longopts[n++] = (struct option){"limit", required_argument, NULL, OPT_LIMIT};
    longopts[n++] = (struct option){"cursor", required_argument, NULL, OPT_CURSOR};
    longopts[n++] = (struct option){"attach", required_argument, NULL, OPT_ATTACH};
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    for (size_t i = 0; i < N_FIELD_OPTS; i++)
        longopts[n++] = (struct option){field_opts[i].opt, required_argument, NULL,
                                        OPT_FIELD + (int)i};
    longopts[n] = (struct option){NULL, 0, NULL, 0};

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
            if (!parse_uint(optarg, CLI_MAX_RETRIES, &v))
                return usage_error("--retries wants a number from 0 to 100, not %s", optarg);
            cli.retries = (int)v;
            submit_only = true;
            break;
        case OPT_LIMIT:
            if (!parse_uint(optarg, UINT32_MAX, &v))
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
    if (!is_submit && !is_status && !is_mine)
        return usage_error("unknown command %s", cmd);
    if (submit_only && !is_submit)
        return usage_error("report options belong to submit, not %s", cmd);
    if (mine_only && !is_mine)
        return usage_error("--limit and --cursor belong to mine, not %s", cmd);
    if (is_status && npos != 1)
        return usage_error("status wants exactly one RECEIPT%s", "");
    if (!is_status && npos != 0)
        return usage_error("unexpected argument %s", pos[0]);

    if (cli.profile_path == NULL)
        cli.profile_path = getenv("MINYI_PROFILE");
    if (cli.profile_path == NULL || cli.profile_path[0] == '\0')
        return usage_error("no profile: give --profile FILE or set MINYI_PROFILE%s", "");
    char err[CLI_ERR_LEN];
    if (!client_profile_load(cli.profile_path, &cli.profile, err, sizeof(err))) {
        fprintf(stderr, "minyi: CONFIG %s\n", err);
        return EXIT_USAGE;
    }

    int rc;
    if (is_submit)
        rc = cmd_submit(&cli);
    else if (is_status)
        rc = cmd_status(&cli, pos[0]);
    else
        rc = cmd_mine(&cli);
    if (fflush(stdout) != 0 && rc == EXIT_DONE)
        rc = EXIT_OTHER;
    return rc;
}
