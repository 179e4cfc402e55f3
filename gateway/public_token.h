/*
 * public_token: the token a 码上商 poster's URL carries.  It names a
 * contact point and the generation of its tokens, and is signed with
 * HMAC-SHA256 under a key of this instance ([public] token_key_file), so
 * no one can make a poster for a contact point, or change the one a
 * poster names, without the key.  Raising a contact point's generation in
 * the database (minyi poster --rotate) revokes every poster printed
 * before: their tokens still verify here, and storage refuses the old
 * generation.
 *
 * Form: "CP.GEN.MAC", CP and GEN decimal, MAC the first PUBLIC_TOKEN_MAC_LEN
 * bytes of the HMAC in lower-case hex.
 */
#ifndef MINYI_PUBLIC_TOKEN_H
#define MINYI_PUBLIC_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PUBLIC_TOKEN_KEY_LEN 32
/* Bytes of the HMAC kept: 128 bits cannot be guessed within any rate limit. */
#define PUBLIC_TOKEN_MAC_LEN 16
/* The longest token: two int64s in decimal, two dots, the MAC in hex. */
#define PUBLIC_TOKEN_MAX (2 * 20 + 2 + 2 * PUBLIC_TOKEN_MAC_LEN)

/* The token of contact point cp at generation gen into out
 * (PUBLIC_TOKEN_MAX + 1 bytes). */
bool public_token_sign(const uint8_t key[PUBLIC_TOKEN_KEY_LEN], int64_t cp, uint32_t gen,
                       char out[PUBLIC_TOKEN_MAX + 1]) __attribute__((warn_unused_result));

/* True, with the contact point and generation it names, when token has the
 * form above and its MAC verifies under key.  Anything else is false: a
 * changed digit, another key, a token cut short or padded. */
bool public_token_verify(const uint8_t key[PUBLIC_TOKEN_KEY_LEN], const char *token, int64_t *cp,
                         uint32_t *gen) __attribute__((warn_unused_result));

#endif
