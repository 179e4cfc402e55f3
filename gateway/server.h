/*
 * server: the gateway's process-wide state — the listener, the TLS context,
 * the store and the list of live sessions — and the shutdown sequence.
 */
#ifndef MINYI_SERVER_H
#define MINYI_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "config.h"
#include "store.h"
#include "validate.h"

struct session;
struct quota;
struct watch;
struct forwarder;
struct admin_http;
struct console;
struct console_events;
struct membudget;
struct public_door;

struct gw {
    struct event_base *base;
    struct gw_config cfg;
    SSL_CTX *ssl_ctx;
    struct evconnlistener *listener;
    struct store *store;
    struct validate_limits limits;
    struct session *sessions;        /* doubly linked list of live sessions */
    int n_sessions;
    uint64_t next_sid;
    bool stopping;
    bool store_drained;
    struct event *grace_ev;
    struct event *sig_term, *sig_int;
    struct quota *lim;               /* per-address and per-principal limits */
    const char *conf_path;           /* read again on SIGHUP */
    struct event *sig_hup;
    struct watch *watch;             /* sessions watching the live queue */
    struct forwarder *fwd;           /* delivers the outbox; NULL without peers */
    struct admin_http *admin;        /* /metrics and /healthz; NULL when off */
    struct console *console;         /* the browser's HTTPS door; NULL when off */
    struct console_events *console_events; /* its live-queue streams; NULL when off */
    struct sealer *sealer;           /* the audit sealer process; NULL when [audit] seal = 0 */
    struct membudget *mem;           /* frame buffers and queued answers */
    /* [public] token_key_file, read at the start; public_on when set, and
     * then pub holds the public door's state (public_http.h). */
    uint8_t public_key[32];
    bool public_on;
    struct public_door *pub;
};

/* Binds the listener and starts accepting.  False with a reason in err. */
bool server_start(struct gw *gw, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Begins a graceful stop: no new connections, no new requests; in-flight
 * requests are answered, then the store drains and the loop exits. */
void server_stop(struct gw *gw);

/* Called by the session module whenever a session goes away, so the
 * shutdown sequence can move on when the last one has. */
void server_session_gone(struct gw *gw);

#endif
