/*
 * tls: the gateway's one SSL_CTX.  TLS 1.3 only, ALPN "minyi/1", client
 * certificate required and verified against the configured CA (and CRL),
 * no session tickets and no session cache, so a revoked client can never
 * resume a session.
 */
#ifndef MINYI_TLS_H
#define MINYI_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

#define TLS_ALPN "minyi/1"
#define TLS_CIPHERSUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"

SSL_CTX *tls_server_ctx(const struct gw_config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* SHA-256 of the peer certificate's DER encoding; false when there is none. */
bool tls_peer_fingerprint(SSL *ssl, unsigned char out[32]) __attribute__((warn_unused_result));

/* The first OpenSSL error on this thread's queue, as text (and clears it). */
const char *tls_last_error(char *buf, size_t len);

#endif
