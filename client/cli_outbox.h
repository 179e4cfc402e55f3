/*
 * cli_outbox: the editors' outbox commands of the `minyi` CLI —
 *
 *   minyi outbox [--state S]... [--dest D] [--receipt R] [--limit N] [--cursor C]
 *   minyi outbox retry ID [--note T]
 *   minyi outbox cancel ID [--note T]
 *
 * cli.c hands the whole command line over when the command word is
 * "outbox".  Parsing and request building are separate from sending, so
 * the unit tests can check what a command line turns into without a
 * gateway.
 */
#ifndef MINYI_CLI_OUTBOX_H
#define MINYI_CLI_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"

/* --state may be given once for each outbox state. */
#define CLI_OUTBOX_MAX_STATES 6
/* Longest state name (in_flight, cancelled, ...) plus room to spare. */
#define CLI_OUTBOX_STATE_LEN 16

enum cli_outbox_cmd {
    CLI_OUTBOX_LIST,
    CLI_OUTBOX_RETRY,
    CLI_OUTBOX_CANCEL,
};

/* A parsed command line.  Strings point into argv, except the states,
 * which are normalised to the wire's lower-case names. */
struct cli_outbox_args {
    enum cli_outbox_cmd cmd;
    const char *profile_path;
    bool json;
    bool help;
    char states[CLI_OUTBOX_MAX_STATES][CLI_OUTBOX_STATE_LEN];
    size_t n_states;
    const char *destination;
    const char *receipt;
    uint32_t limit;
    const char *cursor;
    int64_t outbox_id;
    const char *note;
};

/* A request ready to send: the frame and the messages it points to. */
struct cli_outbox_request {
    Frame frame;
    int answer;                       /* the body case the answer must have */
    Minyi__V1__OutboxFilter filter;
    Minyi__V1__OutboxRequest list;
    Minyi__V1__OutboxActionRequest action;
    ProtobufCBinaryData states[CLI_OUTBOX_MAX_STATES];
};

/* True when name is the command of this file ("outbox"). */
bool cli_outbox_is_command(const char *name);
/* True when the long option name[0..len) of these commands takes a value. */
bool cli_outbox_option_wants_value(const char *name, size_t len);

/* Parses the whole command line (argv[0] is the program).  False with a
 * reason in err for a usage error.  argv may be permuted, as getopt does. */
bool cli_outbox_parse(int argc, char **argv, struct cli_outbox_args *a, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Builds the request; it points into *a, which must outlive it. */
void cli_outbox_build(const struct cli_outbox_args *a, struct cli_outbox_request *r);

/* The commands' part of `minyi --help`. */
void cli_outbox_usage(FILE *out);

/* Runs a command line whose command is outbox and returns the exit status;
 * usage prints the whole help text. */
int cli_outbox_main(int argc, char **argv, void (*usage)(FILE *out));

#endif
