/*
 * console: the browser's door ([console] listen and port), served by
 * libevent's evhttp on the gateway's own loop over TLS 1.3
 * (tls_server_ctx, TLS_DOOR_CONSOLE).
 *
 * Who is asking: the browser's client certificate, looked up by its
 * fingerprint with the same store_principal_lookup as the protocol port,
 * for every request, so a principal disabled or removed is refused at its
 * next request.  A certificate the CA did not sign, or one the CRL lists,
 * fails the handshake.  A request without a certificate, or with one no
 * active principal holds, gets 403 and nothing else — except on the routes
 * marked CONSOLE_ROUTE_PUBLIC (the public form), which see no principal.
 *
 * What every answer carries: a strict Content-Security-Policy (scripts and
 * styles from this origin only, no inline script, no framing),
 * X-Content-Type-Options nosniff, HSTS, no referrer, and Cache-Control
 * no-store, because nearly everything here is somebody's data.
 *
 * What a state change needs: POST (GET never changes anything), an Origin
 * header naming this very origin (https:// and the Host the browser sent),
 * and on every route but the public ones the header CONSOLE_CSRF_HEADER,
 * which a cross-origin page cannot send without a preflight we never
 * grant.  No cookies are used at all: the certificate is the login.
 *
 * Limits: the request body is held to [gateway] max_frame_bytes and the
 * headers to CONSOLE_HEADERS_MAX; connections to [console] max_connections
 * and, per source address, to [gateway] max_connections_per_ip (counted
 * with the protocol port's); requests of a principal take tokens from the
 * same bucket as its protocol requests; the connections' buffers are
 * charged to the memory budget, and a request arriving while it is over is
 * answered 503.  The handshake must end within [gateway]
 * handshake_timeout_ms and a request arrive whole within [gateway]
 * frame_timeout_ms of its first byte, however slowly it trickles in (the
 * connection is shut down).  Malformed HTTP is answered 400 by evhttp and
 * touches nothing else.
 *
 * Revocation: a reload (SIGHUP) brings a new CA and CRL; streams whose
 * certificate they refuse close at once, and a kept-alive connection's
 * certificate is verified again at its next request.
 */
#ifndef MINYI_CONSOLE_H
#define MINYI_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/http.h>
#include <jansson.h>

#include "principal.h"
#include "server.h"

/* Largest request header block accepted, in bytes. */
#define CONSOLE_HEADERS_MAX 16384
/* The header every non-public POST must carry (any value). */
#define CONSOLE_CSRF_HEADER "X-Minyi-Console"
/* Requests waiting for the database at once; more are answered 503. */
#define CONSOLE_PENDING_MAX 1024

struct console;
struct console_req;

/* A route handler.  It must answer r exactly once, now or later, with
 * console_reply (or one of the helpers built on it); r is freed then. */
typedef void (*console_handler)(struct console_req *r);

enum console_route_kind {
    CONSOLE_ROUTE_PRINCIPAL,   /* an active principal's certificate is required */
    CONSOLE_ROUTE_PUBLIC,      /* no certificate needed, no principal given */
};

/* One row of the route table (console_routes.c): the first row whose
 * prefix starts the request's path serves it. */
struct console_route {
    const char *prefix;
    enum console_route_kind kind;
    console_handler handle;
};

/* The route table, ended by a row with a NULL prefix. */
extern const struct console_route console_routes[];

/* One request being answered.  req is NULL once the browser has gone; an
 * answer is then dropped. */
struct console_req {
    struct console *console;
    struct gw *gw;
    struct evhttp_request *req;
    enum evhttp_cmd_type method;
    char path[256];                 /* the path without the query, as sent */
    const struct console_route *route;
    bool has_principal;             /* false on public routes */
    struct principal principal;
    /* The request evhttp left to us when its connection failed (the
     * browser went away, a timeout) before the answer was complete: it
     * takes such a request off the connection it frees, and frees it only
     * in an answer, which can no longer be given.  Freed with r. */
    struct evhttp_request *orphan;
    struct console_req *next;       /* on the console's list of open requests */
};

/* Starts the listener when [console] port is not 0 and listen not empty
 * (gw->console stays NULL otherwise).  False with a reason in err. */
bool console_start(struct gw *gw, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Closes the listener and its connections; answers owed find their
 * request gone. */
void console_stop(struct gw *gw);
/* Builds the TLS context again from gw->cfg (SIGHUP: certificates, CA,
 * CRL); open connections keep the one they were made with, but their
 * certificates are verified against the new one (streams now, other
 * connections at their next request).  False with a reason in err, the old
 * context kept. */
bool console_reload(struct gw *gw, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Answers r with status code and body (may be NULL), adding the security
 * headers, and frees r.  content_type may be NULL when there is no body. */
void console_reply(struct console_req *r, int code, const char *content_type,
                   struct evbuffer *body);
/* Answers r with a JSON error body {code, field, message, message_zh};
 * status is the HTTP status, code the protocol's error code name. */
void console_fail(struct console_req *r, int status, const char *code, const char *field,
                  const char *message, const char *message_zh);
/* Answers r with o as JSON (status is the HTTP status) and releases o;
 * 503 RESOURCE_EXHAUSTED when the text cannot be made. */
void console_reply_json(struct console_req *r, int status, json_t *o);
/* Starts a streamed answer (200, the security headers and content_type);
 * r stays open: send chunks with evhttp_send_reply_chunk on r->req while
 * it is not NULL, and end with console_stream_end, which frees r. */
void console_stream_start(struct console_req *r, const char *content_type);
void console_stream_end(struct console_req *r);
/* Frees r of a stream without ending its answer, for a gateway that stops:
 * the loop no longer runs to finish a reply, and evhttp_free frees the
 * request with its connection. */
void console_stream_drop(struct console_req *r);

/* Whether the certificate of r's connection still verifies against the
 * CA and CRL the console was last (re)loaded with; true when r has no
 * connection left to check. */
bool console_stream_cert_valid(struct console_req *r);

/* The console's static files (console_static.h). */
struct console_static;
const struct console_static *console_files(const struct console_req *r);

/* The request's value of header name, or NULL. */
const char *console_header(const struct console_req *r, const char *name);

#endif
