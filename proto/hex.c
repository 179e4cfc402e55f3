/*
 * hex: see hex.h.
 */
#include "hex.h"

#include <ctype.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

/* The offsets of the dashes in a UUID's text. */
static const size_t uuid_dashes[] = { 8, 13, 18, 23 };

bool hex_decode(const char *s, uint8_t *out, size_t n)
{
    size_t got = 0;
    int ok;

    if (strlen(s) != 2 * n)
        return false;
    if (n == 0)
        return true;
    /* OpenSSL records why it refused in the thread's error queue; the
     * mark keeps what was there before and drops only that. */
    ERR_set_mark();
    ok = OPENSSL_hexstr2buf_ex(out, n, &got, s, '\0');
    ERR_pop_to_mark();
    return ok == 1 && got == n;
}

void hex_encode(const uint8_t *buf, size_t n, char *out)
{
    size_t i;

    out[0] = '\0';
    if (n == 0)
        return;
    /* The buffer always has room for 2 * n digits and the NUL, so this
     * cannot fail. */
    (void)OPENSSL_buf2hexstr_ex(out, 2 * n + 1, NULL, buf, n, '\0');
    /* OpenSSL writes upper case; fingerprints and UUIDs are compared with
     * PostgreSQL's encode(..., 'hex'), which writes lower case. */
    for (i = 0; i < 2 * n; i++)
        out[i] = (char)tolower((unsigned char)out[i]);
}

bool hex_uuid_parse(const char *s, size_t len, uint8_t out[HEX_UUID_LEN])
{
    char digits[2 * HEX_UUID_LEN + 1];
    size_t i, k = 0, d = 0;

    if (len != HEX_UUID_TEXT_LEN)
        return false;
    for (i = 0; i < HEX_UUID_TEXT_LEN; i++) {
        if (d < sizeof uuid_dashes / sizeof uuid_dashes[0] && i == uuid_dashes[d]) {
            if (s[i] != '-')
                return false;
            d++;
            continue;
        }
        /* A NUL here would end the digits early; hex_decode counts them. */
        digits[k++] = s[i];
    }
    digits[k] = '\0';
    return hex_decode(digits, out, HEX_UUID_LEN);
}

void hex_uuid_format(const uint8_t u[HEX_UUID_LEN], char out[HEX_UUID_TEXT_LEN + 1])
{
    char digits[2 * HEX_UUID_LEN + 1];
    size_t i, k = 0, d = 0;

    hex_encode(u, HEX_UUID_LEN, digits);
    for (i = 0; i < HEX_UUID_TEXT_LEN; i++) {
        if (d < sizeof uuid_dashes / sizeof uuid_dashes[0] && i == uuid_dashes[d]) {
            out[i] = '-';
            d++;
            continue;
        }
        out[i] = digits[k++];
    }
    out[HEX_UUID_TEXT_LEN] = '\0';
}

bool hex_uuid_v4(char out[HEX_UUID_TEXT_LEN + 1])
{
    uint8_t u[HEX_UUID_LEN];

    if (RAND_bytes(u, sizeof u) != 1)
        return false;
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);   /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);   /* RFC 9562 variant */
    hex_uuid_format(u, out);
    return true;
}
