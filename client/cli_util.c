/*
 * cli_util: output, errors and exit status shared by the `minyi` commands
 * (see cli_util.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"
#include "client_err.h"
#include "hex.h"

bool cli_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

const char *cli_opt_name(const struct cli_opt_def *t, size_t n, int id)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].o.val == id)
            return t[i].o.name;
    return "?";
}

unsigned cli_opt_cmds(const struct cli_opt_def *t, size_t n, int id)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].o.val == id)
            return t[i].cmds;
    return 0;
}

bool cli_opt_wants_value(const struct cli_opt_def *t, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].o.name) == len && strncmp(t[i].o.name, name, len) == 0)
            return t[i].o.has_arg == required_argument;
    return false;
}

bool cli_opts_collect(int argc, char **argv, const struct cli_opt_def *t, size_t n, int first_id,
                      struct cli_raw_opt *raw, size_t max, size_t *n_raw, bool *help, char *err,
                      size_t errlen)
{
    struct option longopts[CLI_OPTS_TABLE_MAX + 1];

    if (n > CLI_OPTS_TABLE_MAX)
        abort(); /* a table this large is a programming error */
    for (size_t i = 0; i < n; i++)
        longopts[i] = t[i].o;
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    *n_raw = 0;
    *help = false;

    /* optind 0 makes glibc's getopt start afresh, so a parser can run more
     * than once in a process (the unit tests do). */
    optind = 0;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            *help = true;
            continue;
        }
        if (ch == '?' || ch == ':') {
            if (optopt >= first_id)
                return cli_fail(err, errlen, "--%s wants a value", cli_opt_name(t, n, optopt));
            if (optopt != 0)
                return cli_fail(err, errlen, "unknown option -%c", optopt);
            return cli_fail(err, errlen, "unknown option %s",
                            optind > 0 && optind <= argc ? argv[optind - 1] : "?");
        }
        if (*n_raw == max)
            return cli_fail(err, errlen, "too many options");
        raw[*n_raw].id = ch;
        raw[(*n_raw)++].value = optarg;
    }
    return true;
}

bool cli_parse_id(const char *s, int64_t *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0)
        return false;
    *out = (int64_t)v;
    return true;
}

int cli_command_begin(bool parsed, const char *err, bool help, const char *profile_path,
                      struct client_profile *profile, void (*usage)(FILE *out))
{
    if (!parsed) {
        fprintf(stderr, "minyi: %s (see minyi --help)\n", err);
        return CLI_EXIT_USAGE;
    }
    if (help) {
        usage(stdout);
        return CLI_EXIT_DONE;
    }
    if (!cli_profile_open(profile_path, profile))
        return CLI_EXIT_USAGE;
    return -1;
}

int cli_command_end(int rc)
{
    if (fflush(stdout) != 0 && rc == CLI_EXIT_DONE)
        return CLI_EXIT_OTHER;
    return rc;
}

bool cli_profile_open(const char *path, struct client_profile *p)
{
    char err[CLI_ERR_LEN];

    if (path == NULL)
        path = getenv("MINYI_PROFILE");
    if (path == NULL || path[0] == '\0') {
        fputs("minyi: no profile: give --profile FILE or set MINYI_PROFILE (see minyi --help)\n",
              stderr);
        return false;
    }
    if (!client_profile_load(path, p, err, sizeof(err))) {
        fprintf(stderr, "minyi: CONFIG %s\n", err);
        return false;
    }
    return true;
}

void cli_format_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000 + CLI_TZ_OFFSET_S);
    struct tm tm;
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%dT%H:%M:%S" CLI_TZ_SUFFIX, &tm) == 0)
        snprintf(buf, len, "-");
}

void cli_enum_names(const ProtobufCEnumDescriptor *d, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < d->n_values; i++) {
        if (d->values[i].value == 0)
            continue;
        int n = snprintf(buf + off, len - off, "%s%s", off > 0 ? " " : "", d->values[i].name);
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
}

void cli_enum_text(const ProtobufCEnumDescriptor *d, int value, const char *prefix, char *buf,
                   size_t len)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    if (v == NULL)
        snprintf(buf, len, "%s%d", prefix, value);
    else
        snprintf(buf, len, "%s", v->name);
}

void cli_state_text(int state, char *buf, size_t len)
{
    cli_enum_text(&minyi__v1__report_state__descriptor, state, "STATE_", buf, len);
}

json_t *cli_jbytes(const ProtobufCBinaryData *b)
{
    json_t *s = json_stringn(b->len > 0 ? (const char *)b->data : "", b->len);
    return s != NULL ? s : json_null();
}

static void print_json_flags(json_t *j, size_t flags)
{
    char *s = json_dumps(j, flags);
    if (s != NULL) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(j);
}

void cli_print_json(json_t *j)
{
    print_json_flags(j, JSON_INDENT(2));
}

void cli_print_json_line(json_t *j)
{
    print_json_flags(j, JSON_COMPACT);
}

void cli_print_bytes(const ProtobufCBinaryData *b)
{
    if (b->len > 0)
        fwrite(b->data, 1, b->len, stdout);
}

void cli_print_history(Minyi__V1__HistoryEntry *const *hist, size_t n)
{
    char st[32], when[64];

    for (size_t i = 0; i < n; i++) {
        const Minyi__V1__HistoryEntry *h = hist[i];
        cli_state_text(h->state, st, sizeof(st));
        cli_format_time(h->at_ms, when, sizeof(when));
        printf("  %s\t%s\t", when, st);
        cli_print_bytes(&h->action);
        /* What happened here names the contact point or editor who
         * acted; a result from above names the body that acted there. */
        if (h->actor.len > 0 && h->body.len == 0) {
            fputs("\tby ", stdout);
            cli_print_bytes(&h->actor);
        }
        if (h->body.len > 0 || h->body_region.len > 0) {
            fputs("\tby ", stdout);
            cli_print_bytes(&h->body);
            if (h->body_region.len > 0) {
                fputs(" (", stdout);
                cli_print_bytes(&h->body_region);
                fputc(')', stdout);
            }
        }
        if (h->instruction.len > 0) {
            fputs("\t批示", stdout);
            if (h->instruction_level.len > 0) {
                fputs(" (", stdout);
                cli_print_bytes(&h->instruction_level);
                fputc(')', stdout);
            }
            fputs(": ", stdout);
            cli_print_bytes(&h->instruction);
        }
        if (h->note.len > 0) {
            fputc('\t', stdout);
            cli_print_bytes(&h->note);
        }
        fputc('\n', stdout);
    }
}

json_t *cli_history_json(Minyi__V1__HistoryEntry *const *hist, size_t n)
{
    char st[32];
    json_t *arr = json_array();

    for (size_t i = 0; i < n && arr != NULL; i++) {
        const Minyi__V1__HistoryEntry *h = hist[i];
        cli_state_text(h->state, st, sizeof(st));
        json_array_append_new(
            arr, json_pack("{s:I,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "at_ms",
                           (json_int_t)h->at_ms, "state", st, "action", cli_jbytes(&h->action),
                           "note", cli_jbytes(&h->note), "body", cli_jbytes(&h->body),
                           "body_region", cli_jbytes(&h->body_region), "instruction",
                           cli_jbytes(&h->instruction), "instruction_level",
                           cli_jbytes(&h->instruction_level), "actor", cli_jbytes(&h->actor)));
    }
    return arr;
}

int cli_exit_for_code(int code)
{
    switch (code) {
    case MINYI__V1__ERROR_CODE__INVALID_ARGUMENT:
        return CLI_EXIT_INVALID;
    case MINYI__V1__ERROR_CODE__PERMISSION_DENIED:
        return CLI_EXIT_REFUSED;
    case MINYI__V1__ERROR_CODE__NOT_FOUND:
        return CLI_EXIT_NOT_FOUND;
    case MINYI__V1__ERROR_CODE__CONFLICT:
        return CLI_EXIT_CONFLICT;
    case MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED:
    case MINYI__V1__ERROR_CODE__UNAVAILABLE:
        return CLI_EXIT_UNAVAILABLE;
    default:
        return CLI_EXIT_OTHER;
    }
}

int cli_report_error_frame(bool json, const Minyi__V1__Error *e)
{
    return cli_report_error_frame_with(json, e, NULL);
}

/* Prints j with extra's keys added at its top level; releases both. */
static void print_with(json_t *j, json_t *extra)
{
    if (j != NULL && extra != NULL)
        json_object_update(j, extra);
    json_decref(extra);
    if (j != NULL)
        cli_print_json(j);
}

int cli_report_error_frame_with(bool json, const Minyi__V1__Error *e, json_t *extra)
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
    if (json)
        print_with(json_pack("{s:{s:s,s:o,s:o,s:o,s:I}}", "error", "code", code, "field",
                             cli_jbytes(&e->field), "message", cli_jbytes(&e->message),
                             "message_zh", cli_jbytes(&e->message_zh), "retry_after_ms",
                             (json_int_t)e->retry_after_ms),
                   extra);
    else
        json_decref(extra);
    return cli_exit_for_code(e->code);
}

/* Maps a library failure (err with a client_err.h prefix) to an exit code
 * and the code name shown to the user. */
static int exit_for_failure(const char *err, const char **codename)
{
    if (client_err_is(err, CLIENT_ERR_CONFIG)) {
        *codename = "CONFIG";
        return CLI_EXIT_USAGE;
    }
    if (client_err_is(err, CLIENT_ERR_TLS)) {
        *codename = "PERMISSION_DENIED";
        return CLI_EXIT_REFUSED;
    }
    if (client_err_is(err, CLIENT_ERR_PROTOCOL)) {
        *codename = "INTERNAL";
        return CLI_EXIT_OTHER;
    }
    *codename = "UNAVAILABLE";
    return CLI_EXIT_UNAVAILABLE;
}

static void report_local(bool json, const char *codename, const char *err, json_t *extra)
{
    fprintf(stderr, "minyi: %s %s\n", codename, err);
    if (json)
        print_with(json_pack("{s:{s:s,s:s,s:s}}", "error", "code", codename, "field", "",
                             "message", err),
                   extra);
    else
        json_decref(extra);
}

int cli_report_failure(bool json, const char *err)
{
    return cli_report_failure_with(json, err, NULL);
}

int cli_report_failure_with(bool json, const char *err, json_t *extra)
{
    const char *codename;
    int rc = exit_for_failure(err, &codename);
    report_local(json, codename, err, extra);
    return rc;
}

int cli_report_invalid(bool json, const char *err)
{
    report_local(json, "INVALID_ARGUMENT", err, NULL);
    return CLI_EXIT_INVALID;
}

bool cli_failure_is_transient(const char *err)
{
    return client_err_is(err, CLIENT_ERR_CONNECT) || client_err_is(err, CLIENT_ERR_TIMEOUT) ||
           client_err_is(err, CLIENT_ERR_CLOSED);
}

/* A long answer (a year of figures, a workbook's sheets) should not look
 * like a hung command: once a second the waiting command says so on
 * standard error.  MINYI_PROGRESS=on or off overrides asking whether
 * standard error is a terminal. */
static bool progress_wanted(void)
{
    const char *v = getenv("MINYI_PROGRESS");
    if (v != NULL && strcmp(v, "on") == 0)
        return true;
    if (v != NULL && strcmp(v, "off") == 0)
        return false;
    return isatty(STDERR_FILENO) == 1;
}

static void say_waiting(void *arg, int64_t waited_ms)
{
    (void)arg;
    fprintf(stderr, "minyi: 仍在等待网关答复（%lld 秒）/ still waiting for the gateway (%lld s)\n",
            (long long)(waited_ms / 1000), (long long)(waited_ms / 1000));
}

Frame *cli_call_once(const struct client_profile *p, Frame *req, struct frame_arena **arena,
                     char *err, size_t errlen)
{
    *arena = NULL;
    struct client_conn *c = client_connect(p, err, errlen);
    if (c == NULL)
        return NULL;
    if (progress_wanted())
        client_on_wait(c, say_waiting, NULL);
    req->id = client_next_id(c);
    Frame *ans = client_call(c, req, arena, err, errlen);
    client_close(c);
    return ans;
}

Frame *cli_call_expect(const struct client_profile *p, bool json, Frame *req, int want,
                       struct frame_arena **arena, int *rc)
{
    char err[CLI_ERR_LEN];
    Frame *ans = cli_call_once(p, req, arena, err, sizeof(err));
    if (ans == NULL) {
        *rc = cli_report_failure(json, err);
        return NULL;
    }
    if (ans->body_case == MINYI__V1__FRAME__BODY_ERROR && ans->error != NULL) {
        *rc = cli_report_error_frame(json, ans->error);
        return NULL;
    }
    if ((int)ans->body_case != want) {
        *rc = cli_report_failure(json, CLIENT_ERR_PROTOCOL "unexpected answer type");
        return NULL;
    }
    return ans;
}

void cli_hex(const ProtobufCBinaryData *b, char *out, size_t len)
{
    out[0] = '\0';
    if (b->len == 0 || len < 2 * b->len + 1)
        return;
    hex_encode(b->data, b->len, out);
}

bool cli_parse_uint(const char *s, unsigned long max, unsigned long *out)
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
