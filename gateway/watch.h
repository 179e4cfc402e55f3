/*
 * watch: the live queue for editors.  A session that sent a WatchRequest is
 * on the watch list; every minyi_queue notification (from this gateway or
 * any other on the same database, through the store's LISTEN connection)
 * is pushed to each watching session as a QueueEvent frame carrying the
 * id of its WatchRequest.
 */
#ifndef MINYI_WATCH_H
#define MINYI_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "server.h"
#include "session.h"

/* A watching session whose unsent output grows past this is closed rather
 * than buffered for without bound (an editor that stopped reading). */
#define WATCH_BACKLOG_MAX (4u << 20)

/* Opens the LISTEN connection.  False when it cannot be set up at all
 * (losing the database later only pauses it). */
bool watch_start(struct gw *gw) __attribute__((warn_unused_result));
void watch_stop(struct gw *gw);

/* Adds s (or changes its request id when it watches already); false when
 * out of memory. */
bool watch_add(struct session *s, uint64_t id) __attribute__((warn_unused_result));
/* Takes s off the list, if it is on it (called when a session closes). */
void watch_remove(struct session *s);

/* Another door's listener to the same events (the console's server-sent
 * events): cb(arg, ev) for every event until unsubscribed.  cb may
 * unsubscribe itself.  NULL when out of memory or the watch is not running. */
typedef void (*watch_event_cb)(void *arg, const Minyi__V1__QueueEvent *ev);
struct watch_sub;
struct watch_sub *watch_subscribe(struct gw *gw, watch_event_cb cb, void *arg)
    __attribute__((warn_unused_result));
void watch_unsubscribe(struct gw *gw, struct watch_sub *sub);

#endif
