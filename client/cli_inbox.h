/*
 * cli_inbox: the 码上商 commands of the `minyi` CLI —
 *
 *   minyi inbox [--status S] [--limit N] [--cursor C]     (contact points)
 *   minyi inbox show ID [--photos DIR]
 *   minyi inbox reply ID --text T
 *   minyi inbox dismiss ID --reason T
 *   minyi inbox convert ID... --region R [--title T] [--category C] [--urgent]
 *         [--analysis A] [--suggestions S] [--unit U] [--phone P]
 *   minyi poster [--contact-point ID] [--rotate] [--png FILE] [--svg FILE]
 *
 * cli.c hands the whole command line over when the command word is
 * "inbox" or "poster".
 */
#ifndef MINYI_CLI_INBOX_H
#define MINYI_CLI_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* True when name is a command of this file. */
bool cli_inbox_is_command(const char *name);
/* True when the long option name[0..len) of these commands takes a value. */
bool cli_inbox_option_wants_value(const char *name, size_t len);
/* The commands' part of `minyi --help`. */
void cli_inbox_usage(FILE *out);
/* Runs a command line whose command is inbox or poster; returns the exit status. */
int cli_inbox_main(int argc, char **argv, void (*usage)(FILE *out));

#endif
