/*
 * client: a blocking TLS 1.3 client for the minyi protocol.
 *
 * The socket is non-blocking underneath and every wait goes through poll()
 * with a deadline, so no call can hang longer than the profile's timeout:
 * a connect plus handshake, one send, and one received frame each get the
 * whole timeout_ms.  Reasons written into `err` start with one of the
 * prefixes of client_err.h, which lets the CLI map them to exit codes.
 *
 * client_call() is for callers that have one request in flight: it reads
 * until the answer carrying its id arrives and DISCARDS frames with other
 * ids (a late answer to an earlier request that timed out, for example).
 * Callers that pipeline use client_send() and client_recv() and match ids
 * themselves.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "addrlist.h"
#include "clock.h"
#include "client.h"
#include "client_err.h"

#define CLIENT_ALPN "minyi/1"
/* ALPN wire form: one length byte, then the protocol name. */
static const unsigned char client_alpn_wire[] = "\x07" CLIENT_ALPN;
/* The gateway's answers are far smaller than this; anything larger means
 * the stream is not minyi frames, and we refuse before allocating. */
#define CLIENT_MAX_INCOMING_FRAME (16u << 20)
#define CLIENT_DEFAULT_TIMEOUT_MS 10000
/* How often a waiting call tells its on_wait callback. */
#define CLIENT_WAIT_TICK_MS 1000

struct client_conn {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    int timeout_ms;
    uint64_t next_id;
    /* Set when part of a frame was written or read and the rest was not: the
     * byte stream can no longer be split into frames, so every later call
     * fails at once instead of sending or reading garbage. */
    bool broken;
    /* Set while client_await waits for an answer and on_wait is set. */
    client_wait_fn on_wait;
    void *on_wait_arg;
    int64_t waiting_since_ms;
};

static void seterr(char *err, size_t errlen, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void seterr(char *err, size_t errlen, const char *prefix, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    int n = snprintf(err, errlen, "%s", prefix);
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* The most recent OpenSSL error as text; clears the queue. */
static const char *ssl_reason(char *buf, size_t len)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last == 0)
        snprintf(buf, len, "no further detail");
    else
        ERR_error_string_n(last, buf, len);
    return buf;
}

/* Waits until fd is ready for `events` or the deadline passes.
 * Returns 1 when ready, 0 on timeout, -1 on a poll error (errno set). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* wait_fd for a connection: while an answer is awaited and someone wants
 * to know, the wait is cut at each whole tick since it began to tell them. */
static int wait_conn(struct client_conn *c, short events, int64_t deadline)
{
    if (c->on_wait == NULL || c->waiting_since_ms == 0)
        return wait_fd(c->fd, events, deadline);
    for (;;) {
        int64_t waited = clock_mono_ms() - c->waiting_since_ms;
        int64_t tick = c->waiting_since_ms + (waited / CLIENT_WAIT_TICK_MS + 1) * CLIENT_WAIT_TICK_MS;
        int w = wait_fd(c->fd, events, tick < deadline ? tick : deadline);
        if (w != 0 || clock_mono_ms() >= deadline)
            return w;
        c->on_wait(c->on_wait_arg, clock_mono_ms() - c->waiting_since_ms);
    }
}

/*
 * A write to a socket the peer has reset raises SIGPIPE, which would kill a
 * program that uses this library and never thought about signals.  Linux
 * has no per-socket switch for it, and OpenSSL writes with write(), so
 * SIGPIPE is blocked in this thread around every TLS operation and a
 * SIGPIPE that the operation raised is consumed before unblocking.
 */
struct pipe_guard {
    sigset_t old;
    bool pending_before;
};

static void pipe_guard_enter(struct pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    g->pending_before = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_guard_leave(struct pipe_guard *g)
{
    int saved = errno;
    if (!g->pending_before) {
        sigset_t set, pending;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        sigemptyset(&pending);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE) == 1) {
            struct timespec zero = {0, 0};
            while (sigtimedwait(&set, NULL, &zero) == -1 && errno == EINTR)
                ;
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    errno = saved;
}

static bool is_ip_literal(const char *s)
{
    struct in6_addr a6;
    struct in_addr a4;
    return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

/* Opens a TCP connection to the first address of host:port that answers
 * before the deadline. */
static int tcp_connect(const char *host, const char *port, int64_t deadline,
                       char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        seterr(err, errlen, CLIENT_ERR_CONNECT, "cannot resolve %s:%s: %s", host, port,
               gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    int last_errno = 0;
    bool timed_out = false;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline);
            if (w > 0) {
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                    break;
                last_errno = soerr != 0 ? soerr : errno;
            } else if (w == 0) {
                timed_out = true;
                last_errno = ETIMEDOUT;
            } else {
                last_errno = errno;
            }
        } else {
            last_errno = errno;
        }
        close(fd);
        fd = -1;
        if (timed_out)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (timed_out)
            seterr(err, errlen, CLIENT_ERR_TIMEOUT, "connecting to %s:%s took too long", host, port);
        else
            seterr(err, errlen, CLIENT_ERR_CONNECT, "cannot connect to %s:%s: %s", host, port,
                   strerror(last_errno));
        return -1;
    }
    /* Requests and answers are small frames: send them at once. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static SSL_CTX *make_ctx(const struct client_profile *p, char *err, size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        seterr(err, errlen, CLIENT_ERR_CONFIG, "SSL_CTX_new: %s", ssl_reason(why, sizeof(why)));
        return NULL;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
        seterr(err, errlen, CLIENT_ERR_CONFIG, "cannot restrict TLS to 1.3: %s",
               ssl_reason(why, sizeof(why)));
        goto fail;
    }
    /* Resumption is not used by the protocol (the gateway issues no tickets). */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    if (p->ca[0] == '\0') {
        seterr(err, errlen, CLIENT_ERR_CONFIG, "the profile names no ca file");
        goto fail;
    }
    if (!SSL_CTX_load_verify_file(ctx, p->ca)) {
        seterr(err, errlen, CLIENT_ERR_CONFIG, "cannot load CA %s: %s", p->ca,
               ssl_reason(why, sizeof(why)));
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* SSL_CTX_set_alpn_protos returns 0 on success, unlike its neighbours. */
    if (SSL_CTX_set_alpn_protos(ctx, client_alpn_wire, sizeof(client_alpn_wire) - 1) != 0) {
        seterr(err, errlen, CLIENT_ERR_CONFIG, "cannot set ALPN: %s", ssl_reason(why, sizeof(why)));
        goto fail;
    }
    /* A profile without a certificate connects without one; the gateway
     * then refuses the handshake.  Tests rely on being able to try. */
    if (p->cert[0] != '\0') {
        const char *key = p->key[0] != '\0' ? p->key : p->cert;
        if (SSL_CTX_use_certificate_chain_file(ctx, p->cert) != 1) {
            seterr(err, errlen, CLIENT_ERR_CONFIG, "cannot load certificate %s: %s", p->cert,
                   ssl_reason(why, sizeof(why)));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            seterr(err, errlen, CLIENT_ERR_CONFIG, "cannot load key %s: %s", key,
                   ssl_reason(why, sizeof(why)));
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            seterr(err, errlen, CLIENT_ERR_CONFIG, "key %s does not match certificate %s", key,
                   p->cert);
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* Describes why a TLS operation failed, choosing the prefix: an alert or a
 * verification failure is a refusal; a reset, an EOF or a timeout is a lost
 * connection. */
static void describe_ssl_failure(struct client_conn *c, int ret, const char *what,
                                 char *err, size_t errlen)
{
    char why[256];
    int e = SSL_get_error(c->ssl, ret);
    int saved_errno = errno;
    unsigned long top = ERR_peek_last_error();

    if (e == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        seterr(err, errlen, CLIENT_ERR_CLOSED, "the gateway closed the connection during %s", what);
        return;
    }
    if (e == SSL_ERROR_SYSCALL) {
        ERR_clear_error();
        if (saved_errno != 0)
            seterr(err, errlen, CLIENT_ERR_CLOSED, "connection failed during %s: %s", what,
                   strerror(saved_errno));
        else
            seterr(err, errlen, CLIENT_ERR_CLOSED, "the gateway closed the connection during %s",
                   what);
        return;
    }
    if (top != 0 && ERR_GET_LIB(top) == ERR_LIB_SSL &&
        ERR_GET_REASON(top) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        seterr(err, errlen, CLIENT_ERR_CLOSED, "the gateway closed the connection during %s", what);
        return;
    }
    long v = SSL_get_verify_result(c->ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        seterr(err, errlen, CLIENT_ERR_TLS, "gateway certificate not accepted: %s",
               X509_verify_cert_error_string(v));
        return;
    }
    seterr(err, errlen, CLIENT_ERR_TLS, "%s failed: %s", what, ssl_reason(why, sizeof(why)));
}

/* Drives one TLS operation until it completes, waiting on the socket as
 * OpenSSL asks.  op is called repeatedly; it returns what SSL_* returned. */
typedef int (*ssl_op_fn)(struct client_conn *c, void *arg);

static bool ssl_drive(struct client_conn *c, ssl_op_fn op, void *arg, int *ret_out,
                      int64_t deadline, const char *what, char *err, size_t errlen)
{
    struct pipe_guard g;
    bool ok = false;
    pipe_guard_enter(&g);
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = op(c, arg);
        int op_errno = errno;
        if (r > 0) {
            *ret_out = r;
            ok = true;
            break;
        }
        int e = SSL_get_error(c->ssl, r);
        short ev;
        if (e == SSL_ERROR_WANT_READ)
            ev = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE)
            ev = POLLOUT;
        else {
            errno = op_errno;
            describe_ssl_failure(c, r, what, err, errlen);
            break;
        }
        int w = wait_conn(c, ev, deadline);
        if (w == 0) {
            seterr(err, errlen, CLIENT_ERR_TIMEOUT, "no progress in %s within %d ms", what,
                   c->timeout_ms);
            *ret_out = 0;
            break;
        }
        if (w < 0) {
            seterr(err, errlen, CLIENT_ERR_CLOSED, "poll during %s: %s", what, strerror(errno));
            break;
        }
    }
    pipe_guard_leave(&g);
    return ok;
}

static int op_connect(struct client_conn *c, void *arg)
{
    (void)arg;
    return SSL_connect(c->ssl);
}

struct io_arg {
    uint8_t *buf;
    size_t len;
};

static int op_write(struct client_conn *c, void *arg)
{
    struct io_arg *a = arg;
    return SSL_write(c->ssl, a->buf, a->len > INT_MAX ? INT_MAX : (int)a->len);
}

static int op_read(struct client_conn *c, void *arg)
{
    struct io_arg *a = arg;
    return SSL_read(c->ssl, a->buf, a->len > INT_MAX ? INT_MAX : (int)a->len);
}

/* Connects to one gateway address: TCP, then the TLS handshake, checking
 * the certificate against server_name (or this host when it is empty). */
static struct client_conn *connect_one(const struct client_profile *p, const char *host,
                                       const char *port, char *err, size_t errlen)
{
    struct client_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        seterr(err, errlen, CLIENT_ERR_CONFIG, "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->next_id = 1;
    c->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
    int64_t deadline = clock_mono_ms() + c->timeout_ms;
    const char *name = p->server_name[0] != '\0' ? p->server_name : host;
    char why[256];

    c->ctx = make_ctx(p, err, errlen);
    if (c->ctx == NULL)
        goto fail;
    c->fd = tcp_connect(host, port, deadline, err, errlen);
    if (c->fd < 0)
        goto fail;
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        seterr(err, errlen, CLIENT_ERR_CONFIG, "SSL_new: %s", ssl_reason(why, sizeof(why)));
        goto fail;
    }
    /* An IP address is checked against the certificate's IP SANs and is
     * never sent as SNI (RFC 6066 allows only host names there). */
    if (is_ip_literal(name)) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name) != 1) {
            seterr(err, errlen, CLIENT_ERR_CONFIG, "bad server_name %s", name);
            goto fail;
        }
    } else {
        if (SSL_set_tlsext_host_name(c->ssl, name) != 1 || SSL_set1_host(c->ssl, name) != 1) {
            seterr(err, errlen, CLIENT_ERR_CONFIG, "bad server_name %s: %s", name,
                   ssl_reason(why, sizeof(why)));
            goto fail;
        }
    }
    int r;
    if (!ssl_drive(c, op_connect, NULL, &r, deadline, "the TLS handshake", err, errlen))
        goto fail;

    const unsigned char *alpn = NULL;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    if (alpn_len != strlen(CLIENT_ALPN) || memcmp(alpn, CLIENT_ALPN, alpn_len) != 0) {
        seterr(err, errlen, CLIENT_ERR_TLS, "the gateway did not agree on ALPN %s", CLIENT_ALPN);
        goto fail;
    }
    return c;
fail:
    client_close(c);
    return NULL;
}

/*
 * Tries the profile's gateway addresses in order and keeps the first that
 * completes the handshake, so a client listing several gateways (or
 * HAProxy and a gateway) carries on when one of them is down.  The error
 * is the last address's.
 */
struct client_conn *client_connect(const struct client_profile *p, char *err, size_t errlen)
{
    const char *cursor = p->host;
    char host[sizeof(p->host)], port[sizeof(p->port)];
    bool any = false;

    while (addrlist_next(&cursor, p->port, host, sizeof(host), port, sizeof(port))) {
        any = true;
        struct client_conn *c = connect_one(p, host, port, err, errlen);
        if (c != NULL)
            return c;
    }
    if (!any)
        seterr(err, errlen, CLIENT_ERR_CONFIG, "no gateway address in host \"%s\"", p->host);
    return NULL;
}

void client_close(struct client_conn *c)
{
    if (c == NULL)
        return;
    if (c->ssl != NULL) {
        /* One attempt at close_notify; we do not wait for the peer's. */
        if (!c->broken && SSL_is_init_finished(c->ssl)) {
            struct pipe_guard g;
            pipe_guard_enter(&g);
            (void)SSL_shutdown(c->ssl);
            pipe_guard_leave(&g);
        }
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    SSL_CTX_free(c->ctx);
    ERR_clear_error();
    free(c);
}

uint64_t client_next_id(struct client_conn *c)
{
    return c->next_id++;
}

int client_fd(const struct client_conn *c)
{
    return c->fd;
}

/* Writes all of buf within the profile's timeout. */
static bool write_all(struct client_conn *c, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    if (c->broken) {
        seterr(err, errlen, CLIENT_ERR_CLOSED, "the connection failed earlier");
        return false;
    }
    int64_t deadline = clock_mono_ms() + c->timeout_ms;
    size_t off = 0;
    while (off < len) {
        struct io_arg a = {.buf = (uint8_t *)buf + off, .len = len - off};
        int n;
        if (!ssl_drive(c, op_write, &a, &n, deadline, "sending", err, errlen)) {
            c->broken = true;
            return false;
        }
        off += (size_t)n;
    }
    return true;
}

static bool send_frame(struct client_conn *c, const Frame *f, char *err, size_t errlen)
{
    size_t len;
    uint8_t *buf = frame_encode(f, &len);
    if (buf == NULL) {
        seterr(err, errlen, CLIENT_ERR_CONFIG, "out of memory encoding a frame");
        return false;
    }
    bool ok = write_all(c, buf, len, err, errlen);
    free(buf);
    return ok;
}

bool client_send(struct client_conn *c, const Frame *f)
{
    char err[256];
    return send_frame(c, f, err, sizeof(err));
}

bool client_send_why(struct client_conn *c, const Frame *f, char *err, size_t errlen)
{
    return send_frame(c, f, err, errlen);
}

bool client_send_raw(struct client_conn *c, const void *buf, size_t len)
{
    char err[256];
    return write_all(c, buf, len, err, sizeof(err));
}

long client_send_nowait(struct client_conn *c, const void *buf, size_t len)
{
    if (c->broken)
        return -1;
    struct pipe_guard g;
    size_t off = 0;
    long result = 0;
    pipe_guard_enter(&g);
    while (off < len) {
        ERR_clear_error();
        int n = SSL_write(c->ssl, (const uint8_t *)buf + off,
                          len - off > INT_MAX ? INT_MAX : (int)(len - off));
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        /* The socket is full: OpenSSL keeps what it began, and the next
         * call, which passes the same bytes again, goes on from there. */
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
            c->broken = true;
            result = -1;
        }
        break;
    }
    pipe_guard_leave(&g);
    ERR_clear_error();
    return result < 0 ? -1 : (long)off;
}

/* Reads exactly len bytes before the deadline; *got tells how many arrived. */
static bool read_exact(struct client_conn *c, uint8_t *buf, size_t len, size_t *got,
                       int64_t deadline, char *err, size_t errlen)
{
    *got = 0;
    while (*got < len) {
        struct io_arg a = {.buf = buf + *got, .len = len - *got};
        int n;
        if (!ssl_drive(c, op_read, &a, &n, deadline, "receiving", err, errlen))
            return false;
        *got += (size_t)n;
    }
    return true;
}

static Frame *recv_frame(struct client_conn *c, int64_t deadline, struct frame_arena **arena,
                         char *err, size_t errlen)
{
    uint8_t hdr[FRAME_HEADER_LEN];
    uint8_t *body = NULL;
    size_t got;

    *arena = NULL;
    if (c->broken) {
        seterr(err, errlen, CLIENT_ERR_CLOSED, "the connection failed earlier");
        return NULL;
    }
    if (!read_exact(c, hdr, sizeof(hdr), &got, deadline, err, errlen)) {
        /* A timeout before the first byte leaves the stream intact. */
        if (got != 0 || !client_err_is(err, CLIENT_ERR_TIMEOUT))
            c->broken = true;
        return NULL;
    }
    uint32_t len = frame_peek_len(hdr);
    if (len > CLIENT_MAX_INCOMING_FRAME) {
        seterr(err, errlen, CLIENT_ERR_PROTOCOL, "incoming frame of %u bytes exceeds %u", len,
               CLIENT_MAX_INCOMING_FRAME);
        c->broken = true;
        return NULL;
    }
    body = malloc(len > 0 ? len : 1);
    if (body == NULL) {
        seterr(err, errlen, CLIENT_ERR_PROTOCOL, "out of memory for a %u-byte frame", len);
        c->broken = true;
        return NULL;
    }
    if (!read_exact(c, body, len, &got, deadline, err, errlen)) {
        c->broken = true;
        free(body);
        return NULL;
    }
    Frame *f = frame_decode(body, len, FRAME_DEFAULT_DECODE_BUDGET, arena);
    free(body);
    if (f == NULL) {
        /* The stream is still aligned on frame boundaries, so the
         * connection stays usable. */
        *arena = NULL;
        seterr(err, errlen, CLIENT_ERR_PROTOCOL, "the gateway sent an undecodable %u-byte frame", len);
        return NULL;
    }
    return f;
}

Frame *client_recv(struct client_conn *c, struct frame_arena **arena, char *err, size_t errlen)
{
    return recv_frame(c, clock_mono_ms() + c->timeout_ms, arena, err, errlen);
}

Frame *client_call(struct client_conn *c, Frame *req, struct frame_arena **arena,
                   char *err, size_t errlen)
{
    *arena = NULL;
    if (req->id == 0)
        req->id = client_next_id(c);
    if (!send_frame(c, req, err, errlen))
        return NULL;
    return client_await(c, req->id, arena, err, errlen);
}

Frame *client_await(struct client_conn *c, uint64_t id, struct frame_arena **arena, char *err,
                    size_t errlen)
{
    *arena = NULL;
    /* One deadline for the whole answer, so a stream of unrelated frames
     * cannot keep us waiting forever. */
    int64_t deadline = clock_mono_ms() + c->timeout_ms;
    c->waiting_since_ms = clock_mono_ms();
    for (;;) {
        Frame *f = recv_frame(c, deadline, arena, err, errlen);
        if (f == NULL) {
            c->waiting_since_ms = 0;
            return NULL;
        }
        /* Id 0 carries errors about the connection itself (FRAME_TOO_LARGE,
         * MALFORMED_FRAME); they concern our request too. */
        if (f->id == id || (f->id == 0 && f->body_case == MINYI__V1__FRAME__BODY_ERROR)) {
            c->waiting_since_ms = 0;
            return f;
        }
        frame_arena_free(*arena);
        *arena = NULL;
    }
}

void client_on_wait(struct client_conn *c, client_wait_fn fn, void *arg)
{
    c->on_wait = fn;
    c->on_wait_arg = arg;
}

const char *client_error_code_name(int code)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&minyi__v1__error_code__descriptor, code);
    return v != NULL ? v->name : "UNKNOWN";
}

const char *client_state_name(int state)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&minyi__v1__report_state__descriptor, state);
    return v != NULL ? v->name : "UNKNOWN";
}
