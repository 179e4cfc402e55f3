/*
 * cli_issue: the 专报 commands of the `minyi` CLI —
 *
 *   minyi issue new --series S --title T [--year Y] [--note N | --note-file F]
 *   minyi issue add ID RECEIPT [--title T] [--text T | --text-file F] [--position N]
 *   minyi issue remove ID RECEIPT
 *   minyi issue publish ID
 *   minyi issue show ID
 *   minyi issue list [--year Y]
 *   minyi issue export ID [--html | --text-only] [--out FILE]
 *   minyi issue send ID --to DEST [--date D]
 *
 * cli.c hands the whole command line over when the command word is
 * "issue".  Parsing and request building are separate from sending, so
 * the unit tests can check what a command line turns into without a
 * gateway.
 */
#ifndef MINYI_CLI_ISSUE_H
#define MINYI_CLI_ISSUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"

enum cli_issue_cmd {
    CLI_ISSUE_NEW,
    CLI_ISSUE_ADD,
    CLI_ISSUE_REMOVE,
    CLI_ISSUE_PUBLISH,
    CLI_ISSUE_SHOW,
    CLI_ISSUE_LIST,
    CLI_ISSUE_EXPORT,
    CLI_ISSUE_SEND,
    CLI_ISSUE_N_CMDS
};

enum cli_issue_format {
    CLI_ISSUE_HTML,
    CLI_ISSUE_TEXT,
};

/* A parsed command line.  Strings point into argv. */
struct cli_issue_args {
    enum cli_issue_cmd cmd;
    const char *profile_path;
    bool json;
    bool help;
    int64_t issue_id;
    const char *receipt;
    const char *series, *title;
    const char *note, *note_file;
    const char *text, *text_file;
    int year;
    uint32_t position;
    enum cli_issue_format format;
    bool format_given;
    const char *out_path;          /* export: NULL for standard output */
    const char *destination;       /* send */
    int64_t date_ms;               /* send: the document's date, 0 for now */
};

/* A request ready to send: the frame and the messages it points to; the
 * texts read from files are owned here (cli_issue_request_free). */
struct cli_issue_request {
    Frame frame;
    int answer;                    /* the body case the answer must have */
    Minyi__V1__IssueNewRequest new_;
    Minyi__V1__IssueAddRequest add;
    Minyi__V1__IssueRemoveRequest remove;
    Minyi__V1__IssuePublishRequest publish;
    Minyi__V1__IssueShowRequest show;
    Minyi__V1__IssueListRequest list;
    Minyi__V1__IssueSendRequest send;
    uint8_t *owned;
};

bool cli_issue_is_command(const char *name);
bool cli_issue_option_wants_value(const char *name, size_t len);
void cli_issue_usage(FILE *out);

/* Parses argv (argv[0] the program, "issue" among the rest); false with
 * the reason in err for a usage error.  argv may be permuted. */
bool cli_issue_parse(int argc, char **argv, struct cli_issue_args *a, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Builds the request (reading --note-file or --text-file); false with why
 * in err.  It points into *a, which must outlive it. */
bool cli_issue_build(const struct cli_issue_args *a, struct cli_issue_request *r, char *err,
                     size_t errlen) __attribute__((warn_unused_result));
void cli_issue_request_free(struct cli_issue_request *r);

int cli_issue_main(int argc, char **argv, void (*usage)(FILE *out));

#endif
