/*
 * cli_triage: the editors' commands of the `minyi` CLI — queue, show,
 * claim, renew, release, edit, adopt, reject, return, merge, forward,
 * watch, attachment, instruct and respond.  cli.c hands the whole command
 * line over when the command word is one of these (cli_triage_is_command).
 *
 * Parsing (cli_triage.c) and request building (cli_triage_build.c) are
 * separate from sending (cli_triage_run.c) and printing
 * (cli_triage_show.h), so the unit tests can check what a command line
 * turns into without a gateway.
 */
#ifndef MINYI_CLI_TRIAGE_H
#define MINYI_CLI_TRIAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"

/* Repeatable options (--state, --category, --to DEST) take at most this
 * many values each. */
#define CLI_TRIAGE_MAX_REPEAT 32
/* Largest text file read for --situation-file and friends; a larger text
 * could not travel in one frame anyway. */
#define CLI_TRIAGE_TEXT_FILE_MAX (1u << 20)

/* Reads the text file at path (at most CLI_TRIAGE_TEXT_FILE_MAX bytes) into
 * *dst, malloc'd and remembered in *owned for the caller to free; false
 * with why (naming field) in err.  Also for the issue commands' files. */
bool cli_triage_read_text(const char *path, const char *field, ProtobufCBinaryData *dst,
                          uint8_t **owned, char *err, size_t errlen)
    __attribute__((warn_unused_result));

enum cli_triage_cmd {
    CLI_TRIAGE_QUEUE,
    CLI_TRIAGE_SHOW,
    CLI_TRIAGE_CLAIM,
    CLI_TRIAGE_RENEW,
    CLI_TRIAGE_RELEASE,
    CLI_TRIAGE_EDIT,
    CLI_TRIAGE_ADOPT,
    CLI_TRIAGE_REJECT,
    CLI_TRIAGE_RETURN,
    CLI_TRIAGE_MERGE,
    CLI_TRIAGE_FORWARD,
    CLI_TRIAGE_WATCH,
    CLI_TRIAGE_ATTACHMENT,
    CLI_TRIAGE_INSTRUCT,
    CLI_TRIAGE_RESPOND,
    CLI_TRIAGE_N_CMDS
};

/* A parsed command line.  Strings point into argv. */
struct cli_triage_args {
    enum cli_triage_cmd cmd;
    const char *profile_path;
    bool json;
    bool help;
    const char *receipt;

    /* queue */
    Minyi__V1__ReportState states[CLI_TRIAGE_MAX_REPEAT];
    size_t n_states;
    Minyi__V1__Category categories[CLI_TRIAGE_MAX_REPEAT];
    size_t n_categories;
    Minyi__V1__Urgency urgency;
    const char *region;
    int64_t contact_point_id;
    int64_t from_ms, to_ms;
    bool mine, overdue, dead;
    const char *text;
    uint32_t limit;
    const char *cursor;

    /* show */
    uint32_t version;
    bool diff;

    /* attachment: which one, and the file to write (NULL: its own name) */
    uint32_t index;
    const char *out;

    /* claim and renew; 0 asks for the gateway's default */
    uint32_t lease_seconds;

    /* edit */
    const char *title, *situation, *situation_file, *analysis, *analysis_file;
    const char *suggestions, *suggestions_file;
    Minyi__V1__Category category;

    /* decisions: --note, or --reason for reject and return */
    const char *note;
    const char *into;
    const char *instruction;           /* adopt: 批示 text */
    const char *level;                 /* adopt: the leader's level, with --instruction;
                                        * instruct: one of the closed list */

    /* instruct (with --level, and --text for the 批示) */
    const char *leader;
    int64_t given_at_ms;
    bool on_paper;
    const char *destinations[CLI_TRIAGE_MAX_REPEAT];
    size_t n_destinations;
    /* forward with an external destination: the 报送's document */
    const char *document_number;
    int64_t document_date_ms;
    /* respond (with --to DEST, --text, --level, --leader, --date) */
    Minyi__V1__ExternalResponseKind response_kind;
};

/* A request ready to send: the frame and the messages it points to.  Texts
 * read from files are malloc'd; cli_triage_request_free releases them. */
struct cli_triage_request {
    Frame frame;
    int answer;                       /* the body case the answer must have */
    Minyi__V1__QueueFilter filter;
    Minyi__V1__QueueRequest queue;
    Minyi__V1__ShowRequest show;
    Minyi__V1__ClaimRequest claim;
    Minyi__V1__RenewRequest renew;
    Minyi__V1__ReleaseRequest release;
    Minyi__V1__EditRequest edit;
    Minyi__V1__DecideRequest decide;
    Minyi__V1__WatchRequest watch;
    Minyi__V1__AttachmentRequest attachment;
    Minyi__V1__InstructRequest instruct;
    Minyi__V1__ExternalResponseRequest respond;
    ProtobufCBinaryData destinations[CLI_TRIAGE_MAX_REPEAT];
    uint8_t *owned[3];
};

/* True when name is one of the commands of this file. */
bool cli_triage_is_command(const char *name);
/* True when the long option name[0..len) of these commands takes a value
 * (cli.c needs this to find the command word among the options). */
bool cli_triage_option_wants_value(const char *name, size_t len);

/* Parses the whole command line (argv[0] is the program).  False with a
 * reason in err for a usage error.  argv may be permuted, as getopt does. */
bool cli_triage_parse(int argc, char **argv, struct cli_triage_args *a, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Turns a date or a time into Unix milliseconds, in local time:
 * YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS (a space may stand
 * for the T).  A bare date means its start, or with end_of_day the start
 * of the next day (so an exclusive bound covers the whole day). */
bool cli_triage_parse_time(const char *s, bool end_of_day, int64_t *ms)
    __attribute__((warn_unused_result));

/* Builds the request.  False with "field: reason" in err when a file named
 * by an option cannot be read; the request must be freed either way. */
bool cli_triage_build(const struct cli_triage_args *a, struct cli_triage_request *r, char *err,
                      size_t errlen) __attribute__((warn_unused_result));
void cli_triage_request_free(struct cli_triage_request *r);

/* The commands' part of `minyi --help`. */
void cli_triage_usage(FILE *out);

/* Runs a command line whose command is one of ours and returns the exit
 * status; usage prints the whole help text. */
int cli_triage_main(int argc, char **argv, void (*usage)(FILE *out));

#endif
