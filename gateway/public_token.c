/*
 * public_token: signing and checking a poster's token (public_token.h).
 */
#include "public_token.h"
#include "hex.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Bound into every MAC, so a MAC made with the same key for another
 * purpose can never pass as a poster's. */
#define TOKEN_CONTEXT "minyi-poster-v1:"

static bool token_mac(const uint8_t key[PUBLIC_TOKEN_KEY_LEN], int64_t cp, uint32_t gen,
                      uint8_t mac[PUBLIC_TOKEN_MAC_LEN])
{
    char msg[sizeof TOKEN_CONTEXT + 48];
    uint8_t full[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int len = snprintf(msg, sizeof msg, TOKEN_CONTEXT "%" PRId64 ".%" PRIu32, cp, gen);

    if (len < 0 || (size_t)len >= sizeof msg ||
        HMAC(EVP_sha256(), key, PUBLIC_TOKEN_KEY_LEN, (const unsigned char *)msg, (size_t)len,
             full, &n) == NULL || n < PUBLIC_TOKEN_MAC_LEN)
        return false;
    memcpy(mac, full, PUBLIC_TOKEN_MAC_LEN);
    OPENSSL_cleanse(full, sizeof full);
    return true;
}

bool public_token_sign(const uint8_t key[PUBLIC_TOKEN_KEY_LEN], int64_t cp, uint32_t gen,
                       char out[PUBLIC_TOKEN_MAX + 1])
{
    uint8_t mac[PUBLIC_TOKEN_MAC_LEN];
    char hex[2 * PUBLIC_TOKEN_MAC_LEN + 1];

    if (cp <= 0 || gen == 0 || !token_mac(key, cp, gen, mac))
        return false;
    hex_encode(mac, sizeof mac, hex);
    snprintf(out, PUBLIC_TOKEN_MAX + 1, "%" PRId64 ".%" PRIu32 ".%s", cp, gen, hex);
    return true;
}

/* A positive decimal number of at most max_digits digits without a leading
 * zero, from s up to the byte end (exclusive). */
static bool parse_positive(const char *s, const char *end, size_t max_digits, uint64_t *v)
{
    size_t n = (size_t)(end - s);

    if (n == 0 || n > max_digits || s[0] == '0')
        return false;
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (uint64_t)(s[i] - '0');
    }
    return true;
}

bool public_token_verify(const uint8_t key[PUBLIC_TOKEN_KEY_LEN], const char *token, int64_t *cp,
                         uint32_t *gen)
{
    uint8_t given[PUBLIC_TOKEN_MAC_LEN], want[PUBLIC_TOKEN_MAC_LEN];
    uint64_t c, g;

    if (strnlen(token, PUBLIC_TOKEN_MAX + 1) > PUBLIC_TOKEN_MAX)
        return false;
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    /* 18 digits stay below 2^63, 9 below 2^32. */
    if (d2 == NULL || !parse_positive(token, d1, 18, &c) || !parse_positive(d1 + 1, d2, 9, &g))
        return false;
    const char *mac_hex = d2 + 1;
    if (strlen(mac_hex) != 2 * PUBLIC_TOKEN_MAC_LEN || strspn(mac_hex, "0123456789abcdef") !=
                                                           2 * PUBLIC_TOKEN_MAC_LEN ||
        !hex_decode(mac_hex, given, sizeof given) || !token_mac(key, (int64_t)c, (uint32_t)g, want))
        return false;
    if (CRYPTO_memcmp(given, want, sizeof want) != 0)
        return false;
    *cp = (int64_t)c;
    *gen = (uint32_t)g;
    return true;
}
