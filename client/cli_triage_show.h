/*
 * cli_triage_show: prints the answers of the editors' `queue` and `show`
 * (and of `show` for a contact point's own report), as text for a person
 * or, with json, as one JSON object.
 */
#ifndef MINYI_CLI_TRIAGE_SHOW_H
#define MINYI_CLI_TRIAGE_SHOW_H

#include <stdbool.h>

#include "client.h"

/* Room for a SHA-256 in hex and its NUL. */
#define CLI_TRIAGE_SHA256_HEX 65

/* The queue as a table (receipt, state, title, contact point, claim, time)
 * with the cursor of the next page, or as JSON. */
void cli_triage_print_queue(bool json, const Minyi__V1__QueueResponse *q);
/* A report: for an editor every field of the version asked for, the
 * deliveries, attachments, similar reports and history; for the writer its
 * own versions and history. */
void cli_triage_print_show(bool json, const Minyi__V1__ShowResponse *s);

#endif
