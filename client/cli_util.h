/*
 * cli_util: what every `minyi` command shares — the exit status scheme,
 * printing answers (plain or JSON) and errors, and one request on a fresh
 * connection.
 *
 * Errors go to standard error as "minyi: CODE field: message"; with --json
 * the same error is also printed on standard output as
 * {"error": {"code", "field", "message", ...}}, so a script reading JSON
 * always gets JSON.
 */
#ifndef MINYI_CLI_UTIL_H
#define MINYI_CLI_UTIL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "client.h"

/* Exit status, documented in `minyi --help`. */
#define CLI_EXIT_DONE 0
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_INVALID 3
#define CLI_EXIT_REFUSED 4
#define CLI_EXIT_UNAVAILABLE 5
#define CLI_EXIT_NOT_FOUND 6
#define CLI_EXIT_CONFLICT 7
#define CLI_EXIT_OTHER 8
/* The gateway could not be reached: the submission waits in the spool. */
#define CLI_EXIT_SPOOLED 9

#define CLI_ERR_LEN 1024

/* Writes the reason into err; always false, so a parser can return it. */
bool cli_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One option of a command family's table, with the commands it belongs to
 * (bit 1 << command). */
struct cli_opt_def {
    struct option o;
    unsigned cmds;
};

/* An option as getopt_long found it, before the command is known. */
struct cli_raw_opt {
    int id;
    const char *value;
};

/* Most options a table may have. */
#define CLI_OPTS_TABLE_MAX 64

const char *cli_opt_name(const struct cli_opt_def *t, size_t n, int id);
unsigned cli_opt_cmds(const struct cli_opt_def *t, size_t n, int id);
/* Whether the long option name[0..len) of the table takes a value. */
bool cli_opt_wants_value(const struct cli_opt_def *t, size_t n, const char *name, size_t len);

/* The first pass of a command family's parser: runs getopt_long over argv
 * with the table's options (n at most CLI_OPTS_TABLE_MAX), sets *help on -h
 * or --help, and collects every other option in order into raw (at most
 * max).  first_id is the lowest option id of the table: an option at or
 * above it that lacks its value is reported as such.  optind is left at
 * the first word that is not an option. */
bool cli_opts_collect(int argc, char **argv, const struct cli_opt_def *t, size_t n, int first_id,
                      struct cli_raw_opt *raw, size_t max, size_t *n_raw, bool *help, char *err,
                      size_t errlen) __attribute__((warn_unused_result));

/* A positive decimal id (an outbox row, a principal). */
bool cli_parse_id(const char *s, int64_t *out);

/* Loads the profile at path, or at $MINYI_PROFILE when path is NULL;
 * prints why not and answers false (the command then exits CLI_EXIT_USAGE). */
bool cli_profile_open(const char *path, struct client_profile *p);

/* How the commands of an option table begin (triage, outbox), once their
 * parser has run: a parse error (parsed false, err why) is a usage error,
 * --help prints usage, and the profile must open.  Returns -1 to go on,
 * else the exit code to return at once. */
int cli_command_begin(bool parsed, const char *err, bool help, const char *profile_path,
                      struct client_profile *profile, void (*usage)(FILE *out));
/* How every command ends: output that could not be written turns success
 * into CLI_EXIT_OTHER.  Returns the exit code. */
int cli_command_end(int rc);

/* Times shown to people and read from them are China Standard Time
 * (Asia/Shanghai: UTC+8 all year, no daylight saving since 1991) whatever
 * the machine's TZ says, so the CLI's times and the gateway's messages
 * name the same zone. */
#define CLI_TZ_OFFSET_S (8 * 3600)
#define CLI_TZ_SUFFIX "+08:00"

/* The time in Asia/Shanghai as 2026-03-01T09:30:00+08:00; "-" for 0 or a
 * negative time. */
void cli_format_time(int64_t ms, char *buf, size_t len);
/* A state's name, or STATE_<n> for a number this client does not know. */
void cli_state_text(int state, char *buf, size_t len);
/* The names an enum accepts (every value but 0), space-separated, for an
 * error message. */
void cli_enum_names(const ProtobufCEnumDescriptor *d, char *buf, size_t len);
/* An enum value's name from its descriptor, or <prefix><n> when unknown. */
void cli_enum_text(const ProtobufCEnumDescriptor *d, int value, const char *prefix, char *buf,
                   size_t len);
/* Bytes from the gateway as a JSON string; null when not valid UTF-8
 * (the gateway only sends validated text, so this is a safeguard). */
json_t *cli_jbytes(const ProtobufCBinaryData *b);
/* Prints j indented on standard output and releases it. */
void cli_print_json(json_t *j);
/* Prints j on one line (JSON Lines) and releases it. */
void cli_print_json_line(json_t *j);
void cli_print_bytes(const ProtobufCBinaryData *b);
/* Bytes as lower-case hexadecimal (a SHA-256 as sha256sum prints it);
 * "" when out (len bytes) cannot hold them. */
void cli_hex(const ProtobufCBinaryData *b, char *out, size_t len);
/* A report's history, oldest first, one line per entry: time, state,
 * action, then "by NAME" for the contact point or editor who acted here,
 * or for a result from above "by BODY (REGION)", a 批示 as
 * "批示 (LEVEL): TEXT", and the note, separated by tabs. */
void cli_print_history(Minyi__V1__HistoryEntry *const *hist, size_t n);
/* The same as a JSON array of objects (at_ms, state, action, note, body,
 * body_region, instruction, instruction_level, actor). */
json_t *cli_history_json(Minyi__V1__HistoryEntry *const *hist, size_t n);

/* The exit status for an Error frame's code. */
int cli_exit_for_code(int code);
/* Prints an Error frame and returns the exit status for it. */
int cli_report_error_frame(bool json, const Minyi__V1__Error *e);
/* Prints a library failure (err carries a client_err.h prefix) and returns
 * the exit status for it. */
int cli_report_failure(bool json, const char *err);
/* The same two, adding extra's keys (may be NULL; released) to the JSON
 * object printed with --json. */
int cli_report_error_frame_with(bool json, const Minyi__V1__Error *e, json_t *extra);
int cli_report_failure_with(bool json, const char *err, json_t *extra);
/* Prints a local refusal of the input (a bad file, say) as INVALID_ARGUMENT
 * and returns CLI_EXIT_INVALID. */
int cli_report_invalid(bool json, const char *err);
/* A failure of this kind is worth another try with the same ids. */
bool cli_failure_is_transient(const char *err);

/* Connects, sends req, and waits for its answer.  Returns the answer (free
 * *arena) or NULL with err set. */
Frame *cli_call_once(const struct client_profile *p, Frame *req, struct frame_arena **arena,
                     char *err, size_t errlen) __attribute__((warn_unused_result));
/* cli_call_once, then checks the answer: an Error frame or a failure is
 * printed and NULL returned with *rc set; an answer of another type than
 * `want` is a protocol error. */
Frame *cli_call_expect(const struct client_profile *p, bool json, Frame *req, int want,
                       struct frame_arena **arena, int *rc) __attribute__((warn_unused_result));

/* A decimal number of at most max, digits only. */
bool cli_parse_uint(const char *s, unsigned long max, unsigned long *out)
    __attribute__((warn_unused_result));

#endif
