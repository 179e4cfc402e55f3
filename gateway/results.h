/*
 * results: the lower side of results flowing back down the hierarchy.
 *
 * For each [peer.NAME] the gateway pulls, over the forwarder's connection
 * to that peer, the results the peer owes this body (ResultsRequest; see
 * PROTOCOL.md §3.9): right after the connection comes up and then every
 * [forward] results_interval_ms.  A batch is validated like any input from
 * outside, stored in one transaction (storage/triage.h, triage_r_apply),
 * and only after that commit acknowledged, in the next request.  So a
 * result is never lost (the upper instance keeps it until acknowledged)
 * and never applied twice (the store keeps one per peer and result id).
 *
 * The forwarder (forwarder.c) owns the connections and calls the hooks
 * below; dispatch_results.c is the upper side.
 */
#ifndef MINYI_RESULTS_H
#define MINYI_RESULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"
#include "server.h"

#define RESULTS_LIMIT_DEFAULT  32     /* results per pull when a request says 0 */
#define RESULTS_LIMIT_MAX      64     /* most results one pull may ask for */
#define RESULTS_ACK_MAX        256    /* most acknowledgements in one request */
/* A generous bound on one encoded Result (note 2000 and 批示 1000 code
 * points of up to 4 bytes, names and receipts): a pull asks for no more
 * than fit in one frame of this gateway's max_frame_bytes. */
#define RESULTS_ITEM_BYTES_MAX (16u * 1024u)
#define RESULTS_KIND_MAX       32     /* bytes of a result's kind: [a-z_] */
#define RESULTS_BODY_MAX       128    /* bytes of a body's display name */
#define RESULTS_DEST_MAX       256    /* bytes of the destinations a result names */

struct forwarder;
struct results;

/* Starts pulling from every peer of the forwarder fw; NULL when out of
 * memory. */
struct results *results_new(struct gw *gw, struct forwarder *fw)
    __attribute__((warn_unused_result));
/* The forwarder's connection to peer (its index among the [peer.NAME]
 * sections) is up: a request sent before went with the old one, pull now. */
void results_conn_up(struct results *rs, int peer);
/* An answer arrived on peer's connection.  True when it belongs to a
 * results request (it is then handled); false for anything else.  f is
 * only read during the call. */
bool results_on_answer(struct results *rs, int peer, const Frame *f);
/* Milliseconds since peer last answered a pull (since the start when it
 * never has): how far behind the results from above may be.  -1 when
 * there is no such peer. */
int64_t results_pull_age_ms(const struct results *rs, int peer);
/* Stops pulling; a batch being stored is still stored, not acknowledged. */
void results_stop(struct results *rs);
/* After the store has drained. */
void results_free(struct results *rs);

#endif
