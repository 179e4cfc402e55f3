/*
 * certcheck: a certificate is checked with the very certificate store the
 * gateway's TLS context uses (client CA and CRL), so the operator's command
 * and the handshake cannot disagree.
 */
#include "certcheck.h"

#include <stdio.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* Bytes of a certificate time printed in a message, e.g. "Jan  2 03:04:05 2025 GMT". */
#define CERTCHECK_TIME_MAX 64

static void time_text(const ASN1_TIME *t, char *out, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n = 0;

    if (b != NULL && ASN1_TIME_print(b, t) == 1)
        n = BIO_read(b, out, (int)len - 1);
    out[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

/* Says why the handshake would refuse x, in the operator's terms. */
static void refusal(int code, X509 *x, const struct gw_config *cfg, const char *path,
                    char *err, size_t errlen)
{
    char when[CERTCHECK_TIME_MAX];

    switch (code) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        time_text(X509_get0_notAfter(x), when, sizeof(when));
        snprintf(err, errlen, "certificate %s expired on %s", path, when);
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        time_text(X509_get0_notBefore(x), when, sizeof(when));
        snprintf(err, errlen, "certificate %s is not valid before %s", path, when);
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        snprintf(err, errlen, "certificate %s was not issued by the client CA %s", path,
                 cfg->tls_client_ca);
        break;
    case X509_V_ERR_CERT_REVOKED:
        snprintf(err, errlen, "certificate %s is revoked by the CRL %s", path, cfg->tls_crl);
        break;
    default:
        snprintf(err, errlen, "certificate %s would be refused: %s", path,
                 X509_verify_cert_error_string(code));
        break;
    }
}

bool certcheck_principal(const struct gw_config *cfg, const char *path, unsigned char fp[32],
                         char *err, size_t errlen)
{
    SSL_CTX *ctx = NULL;
    X509_STORE_CTX *vctx = NULL;
    X509 *x = NULL;
    unsigned int n = 0;
    bool ok = false;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        return false;
    }
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL) {
        snprintf(err, errlen, "%s is not a PEM certificate", path);
        goto fail;
    }
    ctx = tls_server_ctx(cfg, TLS_DOOR_PROTOCOL, err, errlen);
    if (ctx == NULL)
        goto fail;
    vctx = X509_STORE_CTX_new();
    if (vctx == NULL || X509_STORE_CTX_init(vctx, SSL_CTX_get_cert_store(ctx), x, NULL) != 1 ||
        X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT) != 1) {
        snprintf(err, errlen, "cannot check %s", path);
        goto fail;
    }
    if (X509_verify_cert(vctx) != 1) {
        refusal(X509_STORE_CTX_get_error(vctx), x, cfg, path, err, errlen);
        goto fail;
    }
    if (X509_digest(x, EVP_sha256(), fp, &n) != 1 || n != 32) {
        snprintf(err, errlen, "cannot hash %s", path);
        goto fail;
    }
    ok = true;
fail:
    X509_STORE_CTX_free(vctx);
    SSL_CTX_free(ctx);
    X509_free(x);
    return ok;
}
