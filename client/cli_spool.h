/*
 * cli_spool: how the `minyi` CLI sends submissions through the spool
 * (spool.h), so that a contact point that cannot reach its gateway loses
 * nothing.
 *
 * submit and resubmit write their request to the spool first, then send
 * it; the entry goes once the gateway has answered (with a receipt, or
 * with a refusal the user sees at once), and stays when the gateway could
 * not be reached.  `minyi spool` lists what waits and sends it; every
 * successful submit sends what waits as well.
 *
 * For tests, the environment variable MINYI_TEST_CRASH_AT makes the CLI
 * kill itself with SIGKILL at one point of a submission: "spooled" (the
 * entry is on disk, nothing sent) or "sent" (the request is written to the
 * gateway, its answer not yet read).
 */
#ifndef MINYI_CLI_SPOOL_H
#define MINYI_CLI_SPOOL_H

#include <stdbool.h>
#include <stdio.h>

#include "client.h"

#define CLI_SPOOL_CRASH_ENV "MINYI_TEST_CRASH_AT"

/* Spools req (a submit or resubmit frame for the report crid) and sends
 * it, trying again up to retries times while the gateway cannot be
 * reached.  On success answers CLI_EXIT_DONE with the SubmitResponse frame
 * in *ok (free *arena), having sent whatever else waited; otherwise prints
 * the error, the client_report_id and whether the report stays spooled,
 * and answers the exit status (CLI_EXIT_SPOOLED when it waits). */
int cli_spool_submit(const struct client_profile *p, bool json, int retries, const char *crid,
                     Frame *req, Frame **ok, struct frame_arena **arena);

/* `minyi spool [--list]`: lists the entries (and with send, sends the
 * waiting ones, each tried up to retries more times).  Answers
 * CLI_EXIT_DONE when nothing waits afterwards, CLI_EXIT_SPOOLED when
 * something still does. */
int cli_spool_command(const struct client_profile *p, bool json, bool send, int retries);

void cli_spool_usage(FILE *out);

#endif
