/*
 * forwarder: delivers the outbox to the instances above (the [peer.NAME]
 * sections).  A timer claims due outbox rows (storage/triage.h,
 * triage_fw_claim: SKIP LOCKED with a lease, so several gateways on one
 * database share the work), one TLS connection per peer carries them as
 * pipelined ForwardRequests, and each answer marks its row: submit_ok
 * delivered with the upstream receipt; INVALID_ARGUMENT, PERMISSION_DENIED
 * or CONFLICT dead at once; anything else, and any connection, handshake
 * or timeout failure, a temporary failure retried with backoff.  A
 * handshake that succeeds is not acceptance: only the answer is.
 */
#ifndef MINYI_FORWARDER_H
#define MINYI_FORWARDER_H

#include <stdbool.h>

#include "server.h"

/* Starts the forwarder when the config names peers (gw->fwd stays NULL
 * otherwise).  Blocking only here: peer host names are resolved once. */
bool forwarder_start(struct gw *gw) __attribute__((warn_unused_result));
/* Stops claiming and closes the connections; rows in flight become due
 * again when their lease ends. */
void forwarder_stop(struct gw *gw);
/* After the store has drained (no callback can arrive any more). */
void forwarder_free(struct gw *gw);

#endif
