/*
 * hex: the one place that turns bytes into hexadecimal text and back,
 * for the gateway, the storage layer and the client alike: key files,
 * sealed fields read back from PostgreSQL, attachment hashes and UUIDs.
 * Built on OpenSSL's OPENSSL_hexstr2buf_ex and OPENSSL_buf2hexstr_ex.
 */
#ifndef MINYI_HEX_H
#define MINYI_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Characters of a UUID in its canonical text form, 8-4-4-4-12. */
#define HEX_UUID_TEXT_LEN 36
#define HEX_UUID_LEN      16

/* Decodes s, which must be exactly 2 * n hexadecimal digits of either case
 * and nothing else (no separators, no white space), into out[0..n).  False
 * for anything else; out is then undefined.  OpenSSL's error queue is left
 * as it was, so a failure here cannot be mistaken later for a TLS error. */
bool hex_decode(const char *s, uint8_t *out, size_t n) __attribute__((warn_unused_result));

/* Writes the 2 * n lower-case hexadecimal digits of buf[0..n) and a NUL
 * to out, which holds at least 2 * n + 1 bytes. */
void hex_encode(const uint8_t *buf, size_t n, char *out);

/* Parses the canonical text of a UUID, s[0..len) (either case, dashes
 * where they belong, nothing else), into its 16 bytes. */
bool hex_uuid_parse(const char *s, size_t len, uint8_t out[HEX_UUID_LEN])
    __attribute__((warn_unused_result));

/* Writes the canonical lower-case text of the UUID u and a NUL to out. */
void hex_uuid_format(const uint8_t u[HEX_UUID_LEN], char out[HEX_UUID_TEXT_LEN + 1]);

/* Writes the text of a new random (version 4) UUID and a NUL to out;
 * false when OpenSSL's random generator fails. */
bool hex_uuid_v4(char out[HEX_UUID_TEXT_LEN + 1]) __attribute__((warn_unused_result));

#endif
