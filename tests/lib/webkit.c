/*
 * webkit: see webkit.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <poll.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "webkit.h"

#define TWEB_TIMEOUT_S 10            /* for the handshake and each read */

static SSL_CTX *client_ctx(const char *certname, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        SSL_CTX_load_verify_locations(ctx, tcert("ca", "crt"), NULL) != 1)
        goto fail;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* What a browser offers. */
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";
    if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0)
        goto fail;
    if (certname != NULL &&
        (SSL_CTX_use_certificate_file(ctx, tcert(certname, "crt"), SSL_FILETYPE_PEM) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, tcert(certname, "key"), SSL_FILETYPE_PEM) != 1))
        goto fail;
    return ctx;
fail:
    snprintf(err, errlen, "client TLS setup failed");
    SSL_CTX_free(ctx);
    return NULL;
}

static bool send_all(SSL *ssl, const char *p, size_t n)
{
    while (n > 0) {
        int w = SSL_write(ssl, p, n > (1u << 30) ? 1 << 30 : (int)n);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* A TLS connection to gw's console with certname's certificate (NULL:
 * none); NULL with the reason in err.  *fd and *ctx are set for cleanup. */
static SSL *console_connect(const struct tgw *gw, const char *certname, SSL_CTX **ctx, int *fd,
                            char *err, size_t errlen)
{
    SSL *ssl = NULL;
    *fd = -1;
    *ctx = client_ctx(certname, err, errlen);
    if (*ctx == NULL)
        return NULL;
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)gw->console_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval tv = { .tv_sec = TWEB_TIMEOUT_S };
    if (*fd < 0 || setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(err, errlen, "cannot connect to the console port %d", gw->console_port);
        return NULL;
    }
    ssl = SSL_new(*ctx);
    if (ssl == NULL || SSL_set_fd(ssl, *fd) != 1 || SSL_set1_host(ssl, "127.0.0.1") != 1 ||
        SSL_connect(ssl) != 1) {
        const char *why = ERR_reason_error_string(ERR_peek_last_error());
        snprintf(err, errlen, "handshake failed: %s", why != NULL ? why : "closed");
        ERR_clear_error();
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

int tweb_call(const struct tgw *gw, const char *certname, const char *method, const char *path,
              const char *extra_headers, const char *body, struct tweb_answer *a)
{
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    char *resp = NULL, *req = NULL;
    size_t got = 0, cap = 0;
    int fd = -1;

    memset(a, 0, sizeof(*a));
    a->status = -1;
    /* A server that refuses in the handshake closes the socket under our
     * writes: that is an answer to check, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    ssl = console_connect(gw, certname, &ctx, &fd, a->err, sizeof(a->err));
    if (ssl == NULL)
        goto out;
    size_t blen = body != NULL ? strlen(body) : 0;
    size_t rlen = strlen(method) + strlen(path) + (extra_headers ? strlen(extra_headers) : 0) + 256;
    req = malloc(rlen);
    if (req == NULL)
        goto out;
    int n = snprintf(req, rlen,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, gw->console_port, extra_headers ? extra_headers : "", blen);
    if (n < 0 || (size_t)n >= rlen || !send_all(ssl, req, (size_t)n) ||
        (blen > 0 && !send_all(ssl, body, blen))) {
        snprintf(a->err, sizeof(a->err), "cannot send the request");
        goto out;
    }
    for (;;) {
        if (got + 16384 + 1 > cap) {
            if (cap > TWEB_BODY_MAX) {
                snprintf(a->err, sizeof(a->err), "answer too long");
                goto out;
            }
            char *p = realloc(resp, cap = cap * 2 + 65536);
            if (p == NULL)
                goto out;
            resp = p;
        }
        int r = SSL_read(ssl, resp + got, (int)(cap - got - 1));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    ERR_clear_error();
    if (resp == NULL) {
        snprintf(a->err, sizeof(a->err), "no answer (connection closed)");
        goto out;
    }
    resp[got] = '\0';
    char *sep = strstr(resp, "\r\n\r\n");
    int code;
    if (sep == NULL || sscanf(resp, "HTTP/1.%*d %d", &code) != 1) {
        snprintf(a->err, sizeof(a->err), "malformed answer");
        goto out;
    }
    size_t hlen = (size_t)(sep - resp) + 2;
    if (hlen >= sizeof(a->headers))
        hlen = sizeof(a->headers) - 1;
    memcpy(a->headers, resp, hlen);
    a->headers[hlen] = '\0';
    a->body_len = got - (size_t)(sep + 4 - resp);
    a->body = malloc(a->body_len + 1);
    if (a->body == NULL)
        goto out;
    memcpy(a->body, sep + 4, a->body_len);
    a->body[a->body_len] = '\0';
    a->status = code;
out:
    if (ssl != NULL) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    free(req);
    free(resp);
    return a->status;
}

bool tweb_header(const struct tweb_answer *a, const char *name, char *out, size_t len)
{
    size_t nl = strlen(name);
    for (const char *line = a->headers; line != NULL && *line != '\0';) {
        const char *end = strstr(line, "\r\n");
        if (end == NULL)
            break;
        if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, len, "%.*s", (int)(end - v), v);
            return true;
        }
        line = end + 2;
    }
    return false;
}

void tweb_answer_free(struct tweb_answer *a)
{
    free(a->body);
    a->body = NULL;
}

struct tweb_stream {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    char buf[65536];
    size_t got;
};

void tweb_stream_close(struct tweb_stream *st)
{
    if (st == NULL)
        return;
    if (st->ssl != NULL)
        SSL_free(st->ssl);
    if (st->fd >= 0)
        close(st->fd);
    SSL_CTX_free(st->ctx);
    free(st);
}

struct tweb_stream *tweb_stream_open(const struct tgw *gw, const char *certname, const char *path)
{
    char err[256], req[512];
    struct tweb_stream *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    signal(SIGPIPE, SIG_IGN);
    st->ssl = console_connect(gw, certname, &st->ctx, &st->fd, err, sizeof(err));
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path,
                     gw->console_port);
    if (st->ssl == NULL || n < 0 || (size_t)n >= sizeof(req) || !send_all(st->ssl, req, (size_t)n) ||
        !tweb_stream_wait(st, "HTTP/1.1 200 ", TWEB_TIMEOUT_S * 1000) ||
        !tweb_stream_wait(st, "\r\n\r\n", TWEB_TIMEOUT_S * 1000)) {
        fprintf(stderr, "webkit: cannot open the stream %s: %s\n", path,
                st->ssl == NULL ? err : "no 200 answer");
        tweb_stream_close(st);
        return NULL;
    }
    return st;
}

bool tweb_stream_wait(struct tweb_stream *st, const char *needle, int timeout_ms)
{
    long long deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        st->buf[st->got] = '\0';
        char *at = strstr(st->buf, needle);
        if (at != NULL) {
            /* Keep what follows the needle for the next wait. */
            size_t used = (size_t)(at - st->buf) + strlen(needle);
            memmove(st->buf, st->buf + used, st->got - used);
            st->got -= used;
            st->buf[st->got] = '\0';
            return true;
        }
        long long left = deadline - clock_mono_ms();
        if (left <= 0)
            return false;
        if (st->got + 1 >= sizeof(st->buf)) {
            /* Keep the tail, where a needle may be starting. */
            memmove(st->buf, st->buf + st->got / 2, st->got - st->got / 2);
            st->got -= st->got / 2;
        }
        struct pollfd pfd = { .fd = st->fd, .events = POLLIN };
        if (SSL_pending(st->ssl) == 0 && poll(&pfd, 1, (int)left) <= 0)
            return false;
        int r = SSL_read(st->ssl, st->buf + st->got, (int)(sizeof(st->buf) - 1 - st->got));
        if (r <= 0)
            return false;
        st->got += (size_t)r;
    }
}

struct tweb_stream *tweb_stream_connect(const struct tgw *gw, const char *certname)
{
    char err[256];
    struct tweb_stream *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    signal(SIGPIPE, SIG_IGN);
    st->ssl = console_connect(gw, certname, &st->ctx, &st->fd, err, sizeof(err));
    if (st->ssl == NULL) {
        fprintf(stderr, "webkit: cannot connect: %s\n", err);
        tweb_stream_close(st);
        return NULL;
    }
    return st;
}

bool tweb_stream_send(struct tweb_stream *st, const char *text)
{
    bool ok = send_all(st->ssl, text, strlen(text));
    ERR_clear_error();
    return ok;
}

/* Reads what has arrived within timeout_ms; false when the server has
 * closed the connection. */
static bool stream_read_some(struct tweb_stream *st, int timeout_ms)
{
    struct pollfd pfd = { .fd = st->fd, .events = POLLIN };
    if (SSL_pending(st->ssl) == 0 && poll(&pfd, 1, timeout_ms) <= 0)
        return true;
    if (st->got + 1 >= sizeof(st->buf))
        st->got = 0;
    int r = SSL_read(st->ssl, st->buf + st->got, (int)(sizeof(st->buf) - 1 - st->got));
    ERR_clear_error();
    if (r <= 0)
        return false;
    st->got += (size_t)r;
    st->buf[st->got] = '\0';
    return true;
}

int tweb_stream_trickle(struct tweb_stream *st, const char *text, int gap_ms)
{
    for (size_t i = 0; text[i] != '\0'; i++) {
        if (SSL_write(st->ssl, text + i, 1) != 1) {
            ERR_clear_error();
            return (int)i;
        }
        long long until = clock_mono_ms() + gap_ms;
        for (long long left; (left = until - clock_mono_ms()) > 0;)
            if (!stream_read_some(st, (int)left))
                return (int)i + 1;
    }
    return -1;
}

bool tweb_stream_closed(struct tweb_stream *st, int timeout_ms)
{
    long long until = clock_mono_ms() + timeout_ms;
    for (long long left; (left = until - clock_mono_ms()) > 0;)
        if (!stream_read_some(st, (int)left))
            return true;
    return false;
}
