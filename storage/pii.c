/*
 * pii: AES-256-GCM sealing of personal fields with OpenSSL's EVP interface.
 */
#include "pii.h"
#include "hex.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

struct pii_sealer {
    EVP_CIPHER_CTX *ctx;       /* AES-256-GCM with the key set; a nonce per seal */
};

struct pii_sealer *pii_sealer_new(const uint8_t key[PII_KEY_LEN])
{
    struct pii_sealer *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->ctx = EVP_CIPHER_CTX_new();
    if (!s->ctx || EVP_EncryptInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
        pii_sealer_free(s);
        return NULL;
    }
    return s;
}

void pii_sealer_free(struct pii_sealer *s)
{
    if (!s)
        return;
    /* Frees and cleanses the key schedule. */
    EVP_CIPHER_CTX_free(s->ctx);
    free(s);
}

bool pii_sealer_seal(struct pii_sealer *s, const char *aad, const uint8_t *pt, size_t pt_len,
                     uint8_t *out)
{
    uint8_t *nonce = out, *ct = out + PII_NONCE_LEN, *tag = out + PII_NONCE_LEN + pt_len;
    int len = 0;
    size_t aad_len = aad ? strlen(aad) : 0;

    if (pt_len > INT_MAX || aad_len > INT_MAX)
        return false;
    if (RAND_bytes(nonce, PII_NONCE_LEN) != 1)
        return false;
    /* A new nonce with the key kept: GCM's state starts over. */
    if (EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) != 1)
        return false;
    if (aad_len && EVP_EncryptUpdate(s->ctx, NULL, &len, (const uint8_t *)aad, (int)aad_len) != 1)
        return false;
    if (pt_len && EVP_EncryptUpdate(s->ctx, ct, &len, pt, (int)pt_len) != 1)
        return false;
    if (EVP_EncryptFinal_ex(s->ctx, ct + pt_len, &len) != 1)
        return false;
    return EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, PII_TAG_LEN, tag) == 1;
}

bool pii_seal(const uint8_t key[PII_KEY_LEN], const char *aad,
              const uint8_t *pt, size_t pt_len, uint8_t *out)
{
    struct pii_sealer *s = pii_sealer_new(key);
    bool ok = s && pii_sealer_seal(s, aad, pt, pt_len, out);

    pii_sealer_free(s);
    return ok;
}

bool pii_open(const uint8_t key[PII_KEY_LEN], const char *aad,
              const uint8_t *sealed, size_t sealed_len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = NULL;
    size_t ct_len, aad_len = aad ? strlen(aad) : 0;
    uint8_t tag[PII_TAG_LEN];
    int len = 0;

    if (sealed_len < PII_OVERHEAD || sealed_len - PII_OVERHEAD > INT_MAX || aad_len > INT_MAX)
        goto fail;
    ct_len = sealed_len - PII_OVERHEAD;
    memcpy(tag, sealed + PII_NONCE_LEN + ct_len, PII_TAG_LEN);
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        goto fail;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, sealed) != 1)
        goto fail;
    if (aad_len && EVP_DecryptUpdate(ctx, NULL, &len, (const uint8_t *)aad, (int)aad_len) != 1)
        goto fail;
    if (ct_len && EVP_DecryptUpdate(ctx, out, &len, sealed + PII_NONCE_LEN, (int)ct_len) != 1)
        goto fail;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, PII_TAG_LEN, tag) != 1)
        goto fail;
    if (EVP_DecryptFinal_ex(ctx, out + ct_len, &len) != 1)
        goto fail;
    EVP_CIPHER_CTX_free(ctx);
    return true;
fail:
    /* Never hand out plaintext whose tag did not verify. */
    if (sealed_len >= PII_OVERHEAD)
        OPENSSL_cleanse(out, sealed_len - PII_OVERHEAD);
    EVP_CIPHER_CTX_free(ctx);
    return false;
}

bool pii_key_parse_hex(const char *hex, uint8_t key[PII_KEY_LEN])
{
    char digits[2 * PII_KEY_LEN + 1];
    const char *p = hex;
    size_t n;
    bool ok;

    while (isspace((unsigned char)*p))
        p++;
    n = strlen(p);
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    if (n != 2 * PII_KEY_LEN) {
        OPENSSL_cleanse(key, PII_KEY_LEN);
        return false;
    }
    memcpy(digits, p, n);
    digits[n] = '\0';
    ok = hex_decode(digits, key, PII_KEY_LEN);
    OPENSSL_cleanse(digits, sizeof digits);
    if (!ok)
        OPENSSL_cleanse(key, PII_KEY_LEN);
    return ok;
}
