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
    uint8_t format;            /* PII_FORMAT or PII_FORMAT_DEK */
    uint32_t version;          /* of the key, written into each value's header */
    /* Data keys only: the values sealed since the last rekey (their nonce),
     * and whether a key is set at all. */
    uint64_t n_sealed;
    bool keyed;
};

/* The header of a sealed value: the format byte and the key version. */
static void header_write(uint8_t *h, uint8_t format, uint32_t version)
{
    h[0] = format;
    h[1] = (uint8_t)(version >> 24);
    h[2] = (uint8_t)(version >> 16);
    h[3] = (uint8_t)(version >> 8);
    h[4] = (uint8_t)version;
}

uint32_t pii_sealed_version(const uint8_t *sealed, size_t sealed_len)
{
    if (sealed_len < PII_OVERHEAD || sealed[0] != PII_FORMAT)
        return 0;
    return (uint32_t)sealed[1] << 24 | (uint32_t)sealed[2] << 16 | (uint32_t)sealed[3] << 8 |
           sealed[4];
}

struct pii_sealer *pii_sealer_new(const uint8_t key[PII_KEY_LEN], uint32_t version)
{
    struct pii_sealer *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->format = PII_FORMAT;
    s->version = version;
    s->ctx = EVP_CIPHER_CTX_new();
    if (version == 0 || !s->ctx ||
        EVP_EncryptInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
        pii_sealer_free(s);
        return NULL;
    }
    return s;
}

struct pii_sealer *pii_dek_sealer_new(void)
{
    struct pii_sealer *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->format = PII_FORMAT_DEK;
    s->ctx = EVP_CIPHER_CTX_new();
    if (!s->ctx || EVP_EncryptInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) {
        pii_sealer_free(s);
        return NULL;
    }
    return s;
}

bool pii_sealer_rekey(struct pii_sealer *s, const uint8_t key[PII_KEY_LEN])
{
    /* The cipher stays fetched; only the key schedule is expanded anew. */
    s->n_sealed = 0;
    s->keyed = EVP_EncryptInit_ex(s->ctx, NULL, NULL, key, NULL) == 1;
    return s->keyed;
}

bool pii_sealed_with_dek(const uint8_t *sealed, size_t sealed_len)
{
    return sealed_len >= PII_OVERHEAD && sealed[0] == PII_FORMAT_DEK;
}

void pii_sealer_free(struct pii_sealer *s)
{
    if (!s)
        return;
    /* Frees and cleanses the key schedule. */
    EVP_CIPHER_CTX_free(s->ctx);
    free(s);
}

/* Seals with the nonce already written at out + PII_HEADER_LEN. */
static bool seal_at_nonce(struct pii_sealer *s, const char *aad, const uint8_t *pt,
                          size_t pt_len, uint8_t *out)
{
    uint8_t *nonce = out + PII_HEADER_LEN, *ct = nonce + PII_NONCE_LEN, *tag = ct + pt_len;
    int len = 0;
    size_t aad_len = aad ? strlen(aad) : 0;

    if (pt_len > INT_MAX || aad_len > INT_MAX)
        return false;
    header_write(out, s->format, s->version);
    /* A new nonce with the key kept: GCM's state starts over.  The header
     * is associated data after aad, so a value relabelled with another
     * version does not open. */
    if (EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) != 1)
        return false;
    if (aad_len && EVP_EncryptUpdate(s->ctx, NULL, &len, (const uint8_t *)aad, (int)aad_len) != 1)
        return false;
    if (EVP_EncryptUpdate(s->ctx, NULL, &len, out, PII_HEADER_LEN) != 1)
        return false;
    if (pt_len && EVP_EncryptUpdate(s->ctx, ct, &len, pt, (int)pt_len) != 1)
        return false;
    if (EVP_EncryptFinal_ex(s->ctx, ct + pt_len, &len) != 1)
        return false;
    return EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, PII_TAG_LEN, tag) == 1;
}

bool pii_sealer_seal(struct pii_sealer *s, const char *aad, const uint8_t *pt, size_t pt_len,
                     uint8_t *out)
{
    uint8_t *nonce = out + PII_HEADER_LEN;

    if (s->format == PII_FORMAT_DEK) {
        /* A data key is fresh and random for each report and seals only
         * that report's few values, so a counter since the rekey is a
         * nonce never repeated under it, and costs no random bytes. */
        if (!s->keyed)
            return false;
        memset(nonce, 0, PII_NONCE_LEN);
        for (int i = 0; i < 8; i++)
            nonce[PII_NONCE_LEN - 1 - i] = (uint8_t)(s->n_sealed >> (8 * i));
        s->n_sealed++;
    } else if (RAND_bytes(nonce, PII_NONCE_LEN) != 1) {
        return false;
    }
    return seal_at_nonce(s, aad, pt, pt_len, out);
}

bool pii_sealer_seal_nonce(struct pii_sealer *s, const uint8_t nonce[PII_NONCE_LEN],
                           const char *aad, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
    /* A data key's values take their counter: see pii_sealer_seal. */
    if (s->format != PII_FORMAT)
        return false;
    memcpy(out + PII_HEADER_LEN, nonce, PII_NONCE_LEN);
    return seal_at_nonce(s, aad, pt, pt_len, out);
}

bool pii_seal(const uint8_t key[PII_KEY_LEN], uint32_t version, const char *aad,
              const uint8_t *pt, size_t pt_len, uint8_t *out)
{
    struct pii_sealer *s = pii_sealer_new(key, version);
    bool ok = s && pii_sealer_seal(s, aad, pt, pt_len, out);

    pii_sealer_free(s);
    return ok;
}

/* AES-256-GCM open of nonce || ciphertext || tag (len bytes) with aad and
 * then hdr (hdr_len bytes, may be 0) as associated data, into out. */
static bool gcm_open(const uint8_t key[PII_KEY_LEN], const char *aad, const uint8_t *hdr,
                     size_t hdr_len, const uint8_t *in, size_t in_len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = NULL;
    size_t ct_len, aad_len = aad ? strlen(aad) : 0;
    uint8_t tag[PII_TAG_LEN];
    int len = 0;

    if (in_len < PII_NONCE_LEN + PII_TAG_LEN || in_len > INT_MAX || aad_len > INT_MAX)
        goto fail;
    ct_len = in_len - PII_NONCE_LEN - PII_TAG_LEN;
    memcpy(tag, in + PII_NONCE_LEN + ct_len, PII_TAG_LEN);
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        goto fail;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) != 1)
        goto fail;
    if (aad_len && EVP_DecryptUpdate(ctx, NULL, &len, (const uint8_t *)aad, (int)aad_len) != 1)
        goto fail;
    if (hdr_len && EVP_DecryptUpdate(ctx, NULL, &len, hdr, (int)hdr_len) != 1)
        goto fail;
    if (ct_len && EVP_DecryptUpdate(ctx, out, &len, in + PII_NONCE_LEN, (int)ct_len) != 1)
        goto fail;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, PII_TAG_LEN, tag) != 1)
        goto fail;
    if (EVP_DecryptFinal_ex(ctx, out + ct_len, &len) != 1)
        goto fail;
    EVP_CIPHER_CTX_free(ctx);
    return true;
fail:
    /* Never hand out plaintext whose tag did not verify. */
    if (in_len >= PII_NONCE_LEN + PII_TAG_LEN)
        OPENSSL_cleanse(out, in_len - PII_NONCE_LEN - PII_TAG_LEN);
    EVP_CIPHER_CTX_free(ctx);
    return false;
}

bool pii_open(const uint8_t key[PII_KEY_LEN], uint32_t version, const char *aad,
              const uint8_t *sealed, size_t sealed_len, uint8_t *out)
{
    uint8_t hdr[PII_HEADER_LEN];

    if (version == 0 || pii_sealed_version(sealed, sealed_len) != version)
        return false;
    header_write(hdr, PII_FORMAT, version);
    return gcm_open(key, aad, hdr, PII_HEADER_LEN, sealed + PII_HEADER_LEN,
                    sealed_len - PII_HEADER_LEN, out);
}

bool pii_dek_open(const uint8_t dek[PII_KEY_LEN], const char *aad, const uint8_t *sealed,
                  size_t sealed_len, uint8_t *out)
{
    uint8_t hdr[PII_HEADER_LEN];

    if (!pii_sealed_with_dek(sealed, sealed_len))
        return false;
    header_write(hdr, PII_FORMAT_DEK, 0);
    if (memcmp(hdr, sealed, PII_HEADER_LEN) != 0)
        return false;
    return gcm_open(dek, aad, hdr, PII_HEADER_LEN, sealed + PII_HEADER_LEN,
                    sealed_len - PII_HEADER_LEN, out);
}

bool pii_keyring_build(struct pii_keyring *kr, const uint8_t key[PII_KEY_LEN], uint32_t version,
                       const struct pii_keyring *old)
{
    memset(kr, 0, sizeof *kr);
    kr->current = version;
    kr->keys[0].version = version;
    memcpy(kr->keys[0].key, key, PII_KEY_LEN);
    kr->n = 1;
    for (size_t i = 0; old != NULL && i < old->n; i++) {
        if (old->keys[i].version == version)
            continue;
        if (kr->n == PII_KEYS_MAX)
            return false;
        kr->keys[kr->n++] = old->keys[i];
    }
    return true;
}

const uint8_t *pii_keyring_key(const struct pii_keyring *kr, uint32_t version)
{
    for (size_t i = 0; i < kr->n; i++)
        if (kr->keys[i].version == version)
            return kr->keys[i].key;
    return NULL;
}

bool pii_keyring_open(const struct pii_keyring *kr, const char *aad, const uint8_t *sealed,
                      size_t sealed_len, uint8_t *out, size_t *out_len)
{
    uint32_t v = pii_sealed_version(sealed, sealed_len);
    const uint8_t *key = v ? pii_keyring_key(kr, v) : NULL;

    if (key && pii_open(key, v, aad, sealed, sealed_len, out)) {
        *out_len = sealed_len - PII_OVERHEAD;
        return true;
    }
    /* A value sealed before values carried their key version: nonce,
     * ciphertext and tag under one of the keys, without the header. */
    for (size_t i = 0; i < kr->n; i++) {
        if (gcm_open(kr->keys[i].key, aad, NULL, 0, sealed, sealed_len, out)) {
            *out_len = sealed_len - PII_NONCE_LEN - PII_TAG_LEN;
            return true;
        }
    }
    return false;
}

bool pii_keyring_unwrap(const struct pii_keyring *kr, const uint8_t *wrapped, size_t wrapped_len,
                        uint8_t dek[PII_KEY_LEN])
{
    uint8_t out[PII_WRAPPED_LEN];
    size_t out_len = 0;
    uint32_t v = pii_sealed_version(wrapped, wrapped_len);
    const uint8_t *key = v ? pii_keyring_key(kr, v) : NULL;
    bool ok;

    /* A wrapped key always names its version: no trial of every key. */
    ok = wrapped_len == PII_WRAPPED_LEN && key &&
         pii_open(key, v, PII_AAD_DEK, wrapped, wrapped_len, out);
    out_len = ok ? wrapped_len - PII_OVERHEAD : 0;
    ok = ok && out_len == PII_KEY_LEN;
    if (ok)
        memcpy(dek, out, PII_KEY_LEN);
    OPENSSL_cleanse(out, sizeof out);
    return ok;
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
