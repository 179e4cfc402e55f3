/*
 * console: the listener, its TLS, who is asking and the security rules
 * every answer follows.  See console.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "clock.h"
#include "console.h"
#include "console_events.h"
#include "console_static.h"
#include "log.h"
#include "membudget.h"
#include "metrics.h"
#include "quota.h"
#include "store.h"
#include "tls.h"

/* Scripts, styles, images and requests from this origin only; no inline
 * script or style, no plugins, no <base>, no framing by anyone. */
#define CONSOLE_CSP                                                                            \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "               \
    "object-src 'none'; frame-ancestors 'none'"
/* A year; the console is only ever served over TLS. */
#define CONSOLE_HSTS "max-age=31536000"
/* Longest Origin we compare ("https://" + a host name and port). */
#define CONSOLE_ORIGIN_MAX 300

struct console {
    struct gw *gw;
    struct evhttp *http;
    SSL_CTX *ssl_ctx;
    struct console_static *files;    /* the pages, read at start and on SIGHUP */
    unsigned generation;             /* of ssl_ctx: counts the reloads */
    int n_conns;                     /* connections past the ClientHello */
    struct console_req *reqs;        /* requests not yet answered */
    int n_reqs;
};

/* What the console keeps about one connection, hung on its SSL object so
 * that it goes when OpenSSL frees that object with the connection, however
 * the connection ended (evhttp gives no close callback for a connection
 * that never sent a request). */
struct console_conn {
    struct console *c;
    struct bufferevent *bev;
    struct evbuffer_cb_entry *in_cb, *out_cb;
    size_t held;                     /* bytes of its buffers charged to the budget */
    bool counted;                    /* in n_conns and the per-address count */
    char addr[QUOTA_ADDR_LEN];
    /* The certificate was verified against the CA and CRL of this
     * generation of the console's TLS context (the handshake's at first). */
    unsigned verified_generation;
    /* The whole-request deadline: the handshake must end, and a request
     * must arrive whole once its first byte came, within their limits,
     * however slowly the bytes trickle (evhttp's timeout restarts on every
     * byte). */
    struct event *deadline;
    enum { PHASE_HANDSHAKE, PHASE_IDLE, PHASE_REQUEST } phase;
};

static int conn_index = -1;

/* ---- connections ------------------------------------------------------- */

static void conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                      void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    struct console_conn *cc = ptr;
    if (cc == NULL)
        return;
    struct console *c = cc->c;
    if (cc->deadline != NULL)
        event_free(cc->deadline);
    if (cc->bev != NULL) {
        /* The buffers outlive the SSL object by a moment; they must not
         * call back into a struct about to go. */
        if (cc->in_cb != NULL)
            evbuffer_remove_cb_entry(bufferevent_get_input(cc->bev), cc->in_cb);
        if (cc->out_cb != NULL)
            evbuffer_remove_cb_entry(bufferevent_get_output(cc->bev), cc->out_cb);
    }
    if (c != NULL) {
        membudget_release(c->gw->mem, cc->held);
        if (cc->counted) {
            c->n_conns--;
            if (cc->addr[0] != '\0')
                quota_conn_release(c->gw->lim, cc->addr);
        }
    }
    free(cc);
}

/* Every change to a connection's buffers is charged to (or returned to)
 * the gateway's memory budget, so HTTP bodies and answers count with the
 * protocol port's frames. */
static void deadline_arm(struct console_conn *cc, int ms)
{
    struct timeval tv = clock_tv_ms(ms);
    if (cc->deadline != NULL)
        event_add(cc->deadline, &tv);
}

/* The first byte of a request starts its deadline. */
static void on_buffer_change(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct console_conn *cc = arg;
    if (info->n_added > 0 && cc->phase == PHASE_IDLE && cc->bev != NULL &&
        buf == bufferevent_get_input(cc->bev)) {
        cc->phase = PHASE_REQUEST;
        deadline_arm(cc, cc->c->gw->cfg.frame_timeout_ms);
    }
    if (info->n_added > 0) {
        membudget_add(cc->c->gw->mem, info->n_added);
        cc->held += info->n_added;
    }
    if (info->n_deleted > 0) {
        size_t n = info->n_deleted < cc->held ? info->n_deleted : cc->held;
        membudget_release(cc->c->gw->mem, n);
        cc->held -= n;
    }
}

/*
 * Counts a connection once its ClientHello arrives (the socket is known
 * only then): over [console] max_connections, over the per-address limit
 * or while stopping, the handshake fails and the browser gets nothing.
 */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    struct console *c = arg;
    struct console_conn *cc = SSL_get_ex_data(ssl, conn_index);
    if (cc == NULL)
        goto refuse;
    if (cc->counted)
        return SSL_CLIENT_HELLO_SUCCESS; /* a second ClientHello after a retry request */
    if (c->gw->stopping || c->n_conns >= c->gw->cfg.console_max_connections) {
        metrics.connections_refused[METRICS_REFUSED_MAX_CONNECTIONS]++;
        log_warnx("event=console_refused reason=max_connections limit=%d",
                  c->gw->cfg.console_max_connections);
        goto refuse;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = SSL_get_fd(ssl);
    cc->addr[0] = '\0';
    if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        quota_addr_key((struct sockaddr *)&ss, cc->addr);
    if (cc->addr[0] != '\0' &&
        !quota_conn_acquire(c->gw->lim, cc->addr, c->gw->cfg.max_connections_per_ip)) {
        metrics.connections_refused[METRICS_REFUSED_PER_ADDRESS]++;
        log_warnx("event=console_refused reason=max_connections_per_ip addr=%s limit=%d",
                  cc->addr, c->gw->cfg.max_connections_per_ip);
        goto refuse;
    }
    /* An answer is written as it exists (headers and body may be two TLS
     * records); Nagle's algorithm would hold the second back until the
     * browser acknowledges the first, which it delays up to 40 ms. */
    int one = 1;
    if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        log_warn("event=setsockopt_failed option=TCP_NODELAY door=console");
    cc->counted = true;
    c->n_conns++;
    return SSL_CLIENT_HELLO_SUCCESS;
refuse:
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
}

/*
 * A connection past its deadline is shut down under evhttp, which then
 * reads the end of the stream and frees the connection its usual way (it
 * gives no handle to close a connection that has no request yet).
 */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct console_conn *cc = arg;
    int sock = cc->bev != NULL ? bufferevent_getfd(cc->bev) : -1;
    log_warnx("event=console_deadline phase=%s addr=%s",
              cc->phase == PHASE_HANDSHAKE ? "handshake" : "request", cc->addr);
    if (sock >= 0)
        (void)shutdown(sock, SHUT_RDWR);
}

/* The handshake's end stops its deadline; the next one starts with a
 * request's first byte. */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if ((where & SSL_CB_HANDSHAKE_DONE) == 0)
        return;
    struct console_conn *cc = SSL_get_ex_data(ssl, conn_index);
    if (cc != NULL && cc->phase == PHASE_HANDSHAKE) {
        cc->phase = PHASE_IDLE;
        if (cc->deadline != NULL)
            event_del(cc->deadline);
    }
}

/* evhttp asks for each accepted connection's bufferevent: a TLS one. */
static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
    struct console *c = arg;
    struct console_conn *cc = calloc(1, sizeof(*cc));
    SSL *ssl = SSL_new(c->ssl_ctx);
    struct bufferevent *bev = NULL;
    if (cc == NULL || ssl == NULL || SSL_set_ex_data(ssl, conn_index, cc) != 1)
        goto fail;
    cc->c = c;
    cc->verified_generation = c->generation;
    cc->phase = PHASE_HANDSHAKE;
    cc->deadline = evtimer_new(base, on_deadline, cc);
    if (cc->deadline == NULL)
        goto fail;
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        /* SSL_free below frees cc through the ex_data. */
        event_free(cc->deadline);
        cc = NULL;
        goto fail;
    }
    cc->bev = bev;
    deadline_arm(cc, c->gw->cfg.handshake_timeout_ms);
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    cc->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_buffer_change, cc);
    cc->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), on_buffer_change, cc);
    return bev;
fail:
    log_warnx("event=console_accept_failed reason=\"cannot set up TLS\"");
    if (ssl != NULL) {
        SSL_set_ex_data(ssl, conn_index, NULL);
        SSL_free(ssl);
    }
    if (cc != NULL && cc->deadline != NULL)
        event_free(cc->deadline);
    free(cc);
    /* evhttp then makes a plain bufferevent; without TLS the browser's
     * ClientHello is not HTTP and gets 400. */
    return NULL;
}

/* ---- answers ------------------------------------------------------------ */

/*
 * The connection of an unanswered request closes.  When it failed (the
 * browser went away, a timeout), evhttp has already taken the request off
 * it and no longer frees it: the request is ours (r->orphan).  Otherwise
 * (evhttp_free) the request goes with its connection.
 */
static void on_req_closed(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct console_req *r = arg;
    if (r->req != NULL && evhttp_request_get_connection(r->req) == NULL)
        r->orphan = r->req;
    r->req = NULL;
}

/* Unlinks r from the open requests and frees it. */
static void req_free(struct console_req *r)
{
    struct console *c = r->console;
    if (c != NULL) {
        for (struct console_req **pp = &c->reqs; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == r) {
                *pp = r->next;
                c->n_reqs--;
                break;
            }
        }
    }
    if (r->req != NULL)
        evhttp_connection_set_closecb(evhttp_request_get_connection(r->req), NULL, NULL);
    if (r->orphan != NULL)
        evhttp_request_free(r->orphan);
    free(r);
}

static void add_security_headers(struct evkeyvalq *h)
{
    evhttp_add_header(h, "Content-Security-Policy", CONSOLE_CSP);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Strict-Transport-Security", CONSOLE_HSTS);
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
    evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
}

static const char *status_reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

void console_reply(struct console_req *r, int code, const char *content_type,
                   struct evbuffer *body)
{
    if (r->req != NULL) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
        add_security_headers(h);
        if (content_type != NULL)
            evhttp_add_header(h, "Content-Type", content_type);
        evhttp_send_reply(r->req, code, status_reason(code), body);
    }
    req_free(r);
}

void console_stream_start(struct console_req *r, const char *content_type)
{
    if (r->req == NULL)
        return;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    add_security_headers(h);
    evhttp_add_header(h, "Content-Type", content_type);
    /* A stream is never followed by another request on its connection, and
     * ending it must end the connection, so the browser sees the close. */
    evhttp_add_header(h, "Connection", "close");
    evhttp_send_reply_start(r->req, 200, "OK");
    /* evhttp keeps reading a connection it writes to, to notice a close,
     * under the read timeout, which only input restarts: a browser sends
     * nothing on a stream, so every stream would end after that timeout.
     * A stream has no read timeout; a write that stalls still ends it. */
    struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
    struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
    struct timeval write_tv = clock_tv_ms(r->gw->cfg.frame_timeout_ms);
    if (bev != NULL)
        bufferevent_set_timeouts(bev, NULL, &write_tv);
}

void console_stream_end(struct console_req *r)
{
    if (r->req != NULL) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(r->req), NULL, NULL);
        evhttp_send_reply_end(r->req);
        r->req = NULL;
    }
    req_free(r);
}

void console_stream_drop(struct console_req *r)
{
    req_free(r);
}

void console_fail(struct console_req *r, int status, const char *code, const char *field,
                  const char *message, const char *message_zh)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "code", code, "field", field != NULL ? field : "",
                          "message", message, "message_zh", message_zh);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    struct evbuffer *body = evbuffer_new();
    if (body != NULL && text != NULL)
        evbuffer_add(body, text, strlen(text));
    console_reply(r, status, "application/json; charset=utf-8", body);
    if (body != NULL)
        evbuffer_free(body);
    free(text);
    json_decref(o);
}

/* Answers r with o as JSON (and releases o); out of memory answers 503. */
void console_reply_json(struct console_req *r, int status, json_t *o)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    struct evbuffer *body = text != NULL ? evbuffer_new() : NULL;

    json_decref(o);
    if (body == NULL || evbuffer_add(body, text, strlen(text)) != 0) {
        free(text);
        if (body != NULL)
            evbuffer_free(body);
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "out of memory", "服务器内存不足");
        return;
    }
    free(text);
    console_reply(r, status, "application/json; charset=utf-8", body);
    evbuffer_free(body);
}

const struct console_static *console_files(const struct console_req *r)
{
    return r->console != NULL ? r->console->files : NULL;
}

const char *console_header(const struct console_req *r, const char *name)
{
    if (r->req == NULL)
        return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

/* ---- requests ----------------------------------------------------------- */

/* A state change must come from a page of this very origin: the browser
 * names the page's origin in Origin, and the request's own origin is
 * https:// and the Host it was sent to. */
static bool same_origin(const struct console_req *r)
{
    const char *origin = console_header(r, "Origin");
    const char *host = console_header(r, "Host");
    char own[CONSOLE_ORIGIN_MAX];
    if (origin == NULL || host == NULL)
        return false;
    int n = snprintf(own, sizeof(own), "https://%s", host);
    return n > 0 && (size_t)n < sizeof(own) && strcmp(origin, own) == 0;
}

static void run_route(struct console_req *r)
{
    const struct gw_config *cfg = &r->gw->cfg;
    if (r->has_principal) {
        uint32_t retry_after_ms = 0;
        if (!quota_take_token(r->gw->lim, r->principal.id, cfg->rate_per_s, cfg->rate_burst,
                              &retry_after_ms)) {
            char after[16];
            snprintf(after, sizeof(after), "%u", (retry_after_ms + 999) / 1000);
            if (r->req != NULL)
                evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", after);
            console_fail(r, 429, "RESOURCE_EXHAUSTED", "", "request rate limit reached",
                         "请求过于频繁，请稍后再试");
            return;
        }
    }
    r->route->handle(r);
}

static void on_lookup(void *arg, int code, const struct principal *p)
{
    struct console_req *r = arg;
    if (r->req == NULL) {
        req_free(r);
        return;
    }
    if (code == 0 && p != NULL && p->active) {
        r->principal = *p;
        r->has_principal = true;
        log_debug("event=console_auth principal=%lld kind=%s path=%s", (long long)p->id,
                  principal_kind_name(p->kind), r->path);
        run_route(r);
        return;
    }
    if (code == MINYI__V1__ERROR_CODE__UNAVAILABLE) {
        console_fail(r, 503, "UNAVAILABLE", "", "the database is not available; try again",
                     "数据库暂不可用，请稍后重试");
        return;
    }
    log_info("event=console_refused reason=%s path=%s", code == 0 ? "inactive" : "unknown",
             r->path);
    console_fail(r, 403, "PERMISSION_DENIED", "certificate",
                 "this certificate does not belong to an active principal",
                 "该证书不属于任何有效主体");
}

static const struct console_route *find_route(const char *path)
{
    for (const struct console_route *rt = console_routes; rt->prefix != NULL; rt++)
        if (strncmp(path, rt->prefix, strlen(rt->prefix)) == 0)
            return rt;
    return NULL;
}

static struct console_conn *conn_of(struct evhttp_request *req)
{
    struct evhttp_connection *conn = req != NULL ? evhttp_request_get_connection(req) : NULL;
    struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
    SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl != NULL ? SSL_get_ex_data(ssl, conn_index) : NULL;
}

/*
 * Whether the peer certificate of ssl still verifies against the CA and
 * CRL of the console's current TLS context.  The handshake verified it
 * against the context of its time; after a reload (SIGHUP) that brought a
 * new CRL, a connection kept alive must not go on being served under the
 * old one.  Checked once per connection and reload.
 */
static bool cert_still_valid(struct console *c, SSL *ssl, struct console_conn *cc)
{
    if (cc != NULL && cc->verified_generation == c->generation)
        return true;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    X509_STORE_CTX *vc = X509_STORE_CTX_new();
    bool ok = cert != NULL && vc != NULL &&
              X509_STORE_CTX_init(vc, SSL_CTX_get_cert_store(c->ssl_ctx), cert,
                                  SSL_get_peer_cert_chain(ssl)) == 1 &&
              X509_verify_cert(vc) == 1;
    X509_STORE_CTX_free(vc);
    if (ok && cc != NULL)
        cc->verified_generation = c->generation;
    return ok;
}

bool console_stream_cert_valid(struct console_req *r)
{
    if (r->req == NULL || r->console == NULL)
        return true;
    struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
    struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
    SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl == NULL || cert_still_valid(r->console, ssl, conn_of(r->req));
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct console *c = arg;
    /* The request has arrived whole: its deadline is met, and the next
     * one starts with the next byte. */
    struct console_conn *cc = conn_of(req);
    if (cc != NULL) {
        cc->phase = PHASE_IDLE;
        if (cc->deadline != NULL)
            event_del(cc->deadline);
    }
    struct console_req *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    r->console = c;
    r->gw = c->gw;
    r->req = req;
    r->method = evhttp_request_get_command(req);
    r->next = c->reqs;
    c->reqs = r;
    c->n_reqs++;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_req_closed, r);

    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path == NULL || path[0] != '/' || strlen(path) >= sizeof(r->path)) {
        console_fail(r, 400, "INVALID_ARGUMENT", "path", "the path is missing or too long",
                     "请求路径缺失或过长");
        return;
    }
    snprintf(r->path, sizeof(r->path), "%s", path);
    if (c->gw->stopping) {
        console_fail(r, 503, "UNAVAILABLE", "", "the gateway is stopping", "网关正在停止");
        return;
    }
    if (c->n_reqs > CONSOLE_PENDING_MAX || membudget_over(c->gw->mem)) {
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "the gateway is busy; try again",
                     "网关繁忙，请稍后重试");
        return;
    }
    if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_POST) {
        if (r->req != NULL)
            evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "GET, POST");
        console_fail(r, 405, "INVALID_ARGUMENT", "method", "only GET and POST are served",
                     "仅支持 GET 与 POST 请求");
        return;
    }
    r->route = find_route(r->path);
    if (r->route == NULL) {
        console_fail(r, 404, "NOT_FOUND", "path", "no such page", "页面不存在");
        return;
    }
    if (r->method == EVHTTP_REQ_POST) {
        if (!same_origin(r) ||
            (r->route->kind != CONSOLE_ROUTE_PUBLIC && console_header(r, CONSOLE_CSRF_HEADER) == NULL)) {
            log_info("event=console_refused reason=cross_origin path=%s", r->path);
            console_fail(r, 403, "PERMISSION_DENIED", "origin",
                         "a change must come from this console's own pages",
                         "修改请求必须来自本控制台页面");
            return;
        }
    }
    if (r->route->kind == CONSOLE_ROUTE_PUBLIC) {
        run_route(r);
        return;
    }
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
    SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
    unsigned char fp[32];
    if (ssl == NULL || !tls_peer_fingerprint(ssl, fp)) {
        log_info("event=console_refused reason=no_certificate path=%s", r->path);
        console_fail(r, 403, "PERMISSION_DENIED", "certificate",
                     "a client certificate is required", "需要客户端证书");
        return;
    }
    if (!cert_still_valid(c, ssl, cc)) {
        log_info("event=console_refused reason=certificate_revoked path=%s", r->path);
        /* Nothing more is served on this connection. */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        console_fail(r, 403, "PERMISSION_DENIED", "certificate",
                     "this certificate is revoked or no longer valid", "该证书已吊销或失效");
        return;
    }
    store_principal_lookup(c->gw->store, fp, on_lookup, r);
}

/* ---- the listener ------------------------------------------------------- */

static SSL_CTX *console_ssl_ctx(struct console *c, const struct gw_config *cfg, char *err,
                                size_t errlen)
{
    SSL_CTX *ctx = tls_server_ctx(cfg, TLS_DOOR_CONSOLE, err, errlen);
    if (ctx != NULL) {
        SSL_CTX_set_client_hello_cb(ctx, on_client_hello, c);
        SSL_CTX_set_info_callback(ctx, on_tls_info);
    }
    return ctx;
}

bool console_start(struct gw *gw, char *err, size_t errlen)
{
    const struct gw_config *cfg = &gw->cfg;
    if (cfg->console_port == 0 || cfg->console_listen[0] == '\0')
        return true;
    if (conn_index < 0)
        conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free);
    struct console *c = calloc(1, sizeof(*c));
    if (c == NULL || conn_index < 0) {
        snprintf(err, errlen, "out of memory for the console");
        free(c);
        return false;
    }
    c->gw = gw;
    gw->console_events = console_events_new();
    if (gw->console_events == NULL) {
        snprintf(err, errlen, "out of memory for the console");
        goto fail;
    }
    c->files = console_static_load(cfg->console_dir, err, errlen);
    if (c->files == NULL)
        goto fail;
    c->ssl_ctx = console_ssl_ctx(c, cfg, err, errlen);
    if (c->ssl_ctx == NULL)
        goto fail;
    c->http = evhttp_new(gw->base);
    if (c->http == NULL) {
        snprintf(err, errlen, "cannot create the console's HTTP server");
        goto fail;
    }
    evhttp_set_bevcb(c->http, on_new_bev, c);
    evhttp_set_gencb(c->http, on_request, c);
    /* Every method evhttp knows reaches on_request, which refuses all but
     * GET and POST itself, so the refusal carries the security headers. */
    evhttp_set_allowed_methods(c->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(c->http, CONSOLE_HEADERS_MAX);
    evhttp_set_max_body_size(c->http, (ev_ssize_t)cfg->max_frame_bytes);
    struct timeval tv = clock_tv_ms(cfg->frame_timeout_ms);
    evhttp_set_timeout_tv(c->http, &tv);
    if (evhttp_bind_socket(c->http, cfg->console_listen, (ev_uint16_t)cfg->console_port) != 0) {
        snprintf(err, errlen, "cannot listen on console %s port %d", cfg->console_listen,
                 cfg->console_port);
        goto fail;
    }
    gw->console = c;
    log_info("event=console_listening listen=%s port=%d", cfg->console_listen, cfg->console_port);
    return true;
fail:
    console_events_free(gw->console_events);
    gw->console_events = NULL;
    if (c->http != NULL)
        evhttp_free(c->http);
    SSL_CTX_free(c->ssl_ctx);
    console_static_free(c->files);
    free(c);
    return false;
}

bool console_reload(struct gw *gw, char *err, size_t errlen)
{
    struct console *c = gw->console;
    if (c == NULL)
        return true;
    struct console_static *files = console_static_load(gw->cfg.console_dir, err, errlen);
    if (files == NULL)
        return false;
    SSL_CTX *ctx = console_ssl_ctx(c, &gw->cfg, err, errlen);
    if (ctx == NULL) {
        console_static_free(files);
        return false;
    }
    /* Open connections hold their own reference to the old context. */
    SSL_CTX_free(c->ssl_ctx);
    c->ssl_ctx = ctx;
    c->generation++;
    console_static_free(c->files);
    c->files = files;
    /* A live-queue stream whose certificate the new CRL revokes ends now;
     * other kept-alive connections are checked at their next request. */
    int closed = console_events_close_revoked(gw);
    if (closed > 0)
        log_info("event=console_revoked streams=%d", closed);
    return true;
}

void console_stop(struct gw *gw)
{
    struct console *c = gw->console;
    if (c == NULL)
        return;
    console_events_free(gw->console_events);
    gw->console_events = NULL;
    gw->console = NULL;
    /* Requests still owed by the store are answered nowhere. */
    for (struct console_req *r = c->reqs; r != NULL; r = r->next) {
        if (r->req != NULL)
            evhttp_connection_set_closecb(evhttp_request_get_connection(r->req), NULL, NULL);
        r->req = NULL;
        r->console = NULL;
    }
    c->reqs = NULL;
    evhttp_free(c->http);
    SSL_CTX_free(c->ssl_ctx);
    console_static_free(c->files);
    free(c);
}
