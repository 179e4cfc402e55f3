/*
 * console_events: the live queue for browsers, GET /api/events, as
 * server-sent events (text/event-stream).  Each event of the LISTEN/NOTIFY
 * watch (watch.h) goes to every open stream as one "data:" line holding the
 * QueueEvent as JSON (console_json.h), so a claim by another editor shows
 * within a second without a reload.  Only principals who may read the
 * queue (editors, the office, admins) may open a stream.  A comment line
 * every CONSOLE_EVENTS_PING_MS notices a browser that went away; a stream
 * whose unsent output passes WATCH_BACKLOG_MAX is closed, as a watching
 * session is; a disabled principal's streams close at once.
 */
#ifndef MINYI_CONSOLE_EVENTS_H
#define MINYI_CONSOLE_EVENTS_H

#include <stdint.h>

#include "console.h"

#define CONSOLE_EVENTS_PING_MS 15000
/* The browser waits this long before it reconnects after a close. */
#define CONSOLE_EVENTS_RETRY_MS 2000

/* The open streams of one console (gw->console_events). */
struct console_events;

/* An empty set of streams; NULL when out of memory. */
struct console_events *console_events_new(void) __attribute__((warn_unused_result));
/* Forgets every stream without ending its answer (the gateway stops: no
 * loop runs to finish one, and evhttp_free frees each request with its
 * connection), then frees ev.  ev may be NULL. */
void console_events_free(struct console_events *ev);
/* The handler of GET /api/events. */
void console_events_open(struct console_req *r);
/* Closes the streams of principal_id; answers how many. */
int console_events_principal_gone(struct gw *gw, int64_t principal_id);
/* Closes the streams whose certificate the console's reloaded CRL (or CA)
 * no longer accepts; answers how many. */
int console_events_close_revoked(struct gw *gw);
/* How many streams are open (0 without a console). */
int console_events_count(const struct gw *gw);

#endif
