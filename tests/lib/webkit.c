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

#include <openssl/err.h>
#include <openssl/ssl.h>

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
    ctx = client_ctx(certname, a->err, sizeof(a->err));
    if (ctx == NULL)
        goto out;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)gw->console_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval tv = { .tv_sec = TWEB_TIMEOUT_S };
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(a->err, sizeof(a->err), "cannot connect to the console port %d", gw->console_port);
        goto out;
    }
    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_set1_host(ssl, "127.0.0.1") != 1 ||
        SSL_connect(ssl) != 1) {
        snprintf(a->err, sizeof(a->err), "handshake failed: %s",
                 ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error()) : "closed");
        ERR_clear_error();
        goto out;
    }
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
