#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tls.h"

const char *tls_last_error(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, len, "unknown TLS error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* We speak exactly one protocol; a client that does not offer it is refused
 * in the handshake rather than left to send frames we would misread. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char proto[] = "\x07" TLS_ALPN;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, proto, sizeof(proto) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* OpenSSL asks select_alpn only when the client offers ALPN at all, and
 * would otherwise finish the handshake with a client that offers none.
 * PROTOCOL.md section 1 says such a handshake fails: refuse it here, while
 * the ClientHello is read, with the alert no_application_protocol. */
static int require_alpn(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    const unsigned char *ext = NULL;
    size_t len = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
                                  &len) != 1 ||
        len == 0) {
        *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

static bool load_crl(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (lookup == NULL || X509_load_crl_file(lookup, path, X509_FILETYPE_PEM) <= 0) {
        char e[256];
        snprintf(err, errlen, "crl %s: %s", path, tls_last_error(e, sizeof(e)));
        return false;
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return true;
}

/* A browser offers "h2" and "http/1.1"; evhttp speaks only the latter.  A
 * client that offers neither is left without ALPN rather than refused:
 * HTTP/1.1 needs none. */
static int select_alpn_http(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                            const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char proto[] = "\x08" TLS_ALPN_HTTP;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, proto, sizeof(proto) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *tls_server_ctx(const struct gw_config *cfg, enum tls_door door, char *err, size_t errlen)
{
    char e[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "SSL_CTX_new: %s", tls_last_error(e, sizeof(e)));
        return NULL;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_ciphersuites(ctx, TLS_CIPHERSUITES) ||
        !SSL_CTX_set1_groups_list(ctx, TLS_GROUPS)) {
        snprintf(err, errlen, "TLS policy: %s", tls_last_error(e, sizeof(e)));
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* Idle connections are many; their TLS buffers need not stay allocated. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        snprintf(err, errlen, "tls cert %s: %s", cfg->tls_cert, tls_last_error(e, sizeof(e)));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "tls key %s: %s", cfg->tls_key, tls_last_error(e, sizeof(e)));
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca, NULL) != 1) {
        snprintf(err, errlen, "tls client_ca %s: %s", cfg->tls_client_ca,
                 tls_last_error(e, sizeof(e)));
        goto fail;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_client_ca);
    if (names != NULL)
        SSL_CTX_set_client_CA_list(ctx, names);
    if (cfg->tls_crl[0] != '\0' && !load_crl(ctx, cfg->tls_crl, err, errlen))
        goto fail;
    SSL_CTX_set_verify_depth(ctx, 4);
    if (door == TLS_DOOR_CONSOLE) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_alpn_select_cb(ctx, select_alpn_http, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_client_hello_cb(ctx, require_alpn, NULL);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

bool tls_peer_fingerprint(SSL *ssl, unsigned char out[32])
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    unsigned int n = 0;
    if (cert == NULL)
        return false;
    return X509_digest(cert, EVP_sha256(), out, &n) == 1 && n == 32;
}
