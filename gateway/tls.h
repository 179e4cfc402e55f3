/*
 * tls: the gateway's SSL_CTXs, one per door.  Both speak TLS 1.3 only,
 * verify a client certificate against the configured CA (and CRL), and
 * keep no session tickets and no session cache, so a revoked client can
 * never resume a session.  The protocol door requires ALPN "minyi/1" and a
 * certificate; the console door (console.h) agrees on "http/1.1" when a
 * browser offers ALPN and only requests a certificate, because one path of
 * it (the public form) serves browsers without one: every other path
 * refuses a request that came without a certificate.  A certificate that
 * is sent but does not verify fails the handshake on either door.
 */
#ifndef MINYI_TLS_H
#define MINYI_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

#define TLS_ALPN "minyi/1"
#define TLS_ALPN_HTTP "http/1.1"
#define TLS_CIPHERSUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"

enum tls_door {
    TLS_DOOR_PROTOCOL,   /* the minyi/1 port: certificate and ALPN required */
    TLS_DOOR_CONSOLE,    /* the browser console: certificate requested */
};

SSL_CTX *tls_server_ctx(const struct gw_config *cfg, enum tls_door door, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* SHA-256 of the peer certificate's DER encoding; false when there is none. */
bool tls_peer_fingerprint(SSL *ssl, unsigned char out[32]) __attribute__((warn_unused_result));

/* The first OpenSSL error on this thread's queue, as text (and clears it). */
const char *tls_last_error(char *buf, size_t len);

#endif
