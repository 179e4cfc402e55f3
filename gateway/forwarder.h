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
 *
 * The same claims bring the erasures owed above (migration 0039): each
 * goes out as an EraseRequest on the same connection, and its answer (ok,
 * or an error taken as a forward's) marks it done or failed the same way.
 *
 * The same connections carry the pulls of results.c (results flowing back
 * down): the forwarder hands it the answers that are not its own and tells
 * it when a connection comes up, and connects for it even with no outbox
 * row due (forwarder_peer_send).
 *
 * A peer that could not be reached is not dialled again, and no rows for
 * it are claimed, until its own reconnect backoff ([forward]
 * reconnect_min_ms doubling up to reconnect_max_ms) has passed: a peer
 * down for hours costs a dial now and then, not one per poll.
 *
 * With several gateways on one database, one forwards at a time: the one
 * holding the forwarder's PostgreSQL advisory lock (storage/lock.h); the
 * others try for it every poll and take over when its holder dies or its
 * session to the database breaks.
 */
#ifndef MINYI_FORWARDER_H
#define MINYI_FORWARDER_H

#include <stdbool.h>

#include "frame.h"
#include "server.h"

/* Starts the forwarder when the config names peers (gw->fwd stays NULL
 * otherwise).  Blocking only here: peer host names are resolved once. */
bool forwarder_start(struct gw *gw) __attribute__((warn_unused_result));
/* SIGHUP: reads each peer's CA, certificate and key (and server_name)
 * again from gw->cfg; the next connection to a peer uses them, a
 * connection that is up stays as it is.  A peer whose files do not load
 * keeps its running ones (logged). */
void forwarder_reload(struct gw *gw);
/* Stops claiming and closes the connections; rows in flight become due
 * again when their lease ends. */
void forwarder_stop(struct gw *gw);
/* After the store has drained (no callback can arrive any more). */
void forwarder_free(struct gw *gw);

/* Polls ([forward] poll_ms) after which a forwarder whose claims go
 * unanswered counts as stalled for the health check. */
#define FORWARDER_STALL_POLLS 10

/* True when the forwarder is progressing: its last claim of due outbox
 * rows was answered within FORWARDER_STALL_POLLS polls, or every peer is
 * deliberately backing off, or there is no forwarder.  Otherwise false
 * with a short reason in why. */
bool forwarder_progressing(const struct gw *gw, char *why, size_t whylen);

/* True when this gateway is the database's forwarder now (it holds the
 * lock); false on standby, or with no forwarder. */
bool forwarder_active(const struct gw *gw);

/* The results puller of the forwarder (NULL without one), for the
 * metrics page. */
const struct results *forwarder_results(const struct gw *gw);

/* This instance's newest signed audit head as the last claim read it
 * (NULL before there is one), lent for a request upward: the forwarder
 * keeps it. */
Minyi__V1__AuditHead *forwarder_audit_head(const struct forwarder *fw);

/* For results.c: sends f (its id is set here) on the connection to the
 * peer of that index among the [peer.NAME] sections.  False when the
 * connection is not up: it is then made, also with no outbox row due, and
 * results_conn_up is called once it is. */
bool forwarder_peer_send(struct forwarder *fw, int peer, Frame *f)
    __attribute__((warn_unused_result));

#endif
