/*
 * admin_http: the operator's HTTP listener ([admin] listen and port), with
 * libevent's evhttp on the gateway's own loop.
 *
 *   GET /metrics   the Prometheus text format: the registry (metrics.h),
 *                  connections by state and bytes in their buffers, and
 *                  what the database holds, read by one asynchronous query
 *                  per scrape (a database that does not answer leaves
 *                  those families out and sets minyi_database_up to 0)
 *   GET /healthz   200 "ok" when the protocol listener is up, the
 *                  forwarder is progressing (or has nothing to do) and the
 *                  database answers a round trip; else 503 with the reason
 *
 * Nothing here blocks: both answers wait for a store callback.
 */
#ifndef MINYI_ADMIN_HTTP_H
#define MINYI_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "server.h"

/* Scrapes and health checks waiting for the database at once; more are
 * answered 503 at once, so a scraper gone wild cannot queue work. */
#define ADMIN_HTTP_PENDING_MAX 16
/* Seconds an admin connection may take to send its request. */
#define ADMIN_HTTP_TIMEOUT_S 10
/* Largest request header block accepted, in bytes. */
#define ADMIN_HTTP_HEADERS_MAX 8192

/* Starts the listener when [admin] port is not 0 and listen not empty
 * (gw->admin stays NULL otherwise).  False with a reason in err. */
bool admin_http_start(struct gw *gw, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Closes the listener and its connections; answers still owed by the
 * store find their request gone and are dropped. */
void admin_http_stop(struct gw *gw);

#endif
