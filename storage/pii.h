/*
 * pii: sealing of personal fields (phone numbers, the names of citizen
 * reporters) before they reach the database, so a dump of the database alone
 * does not reveal them.
 *
 * A sealed value is AES-256-GCM: a random 12-byte nonce, the ciphertext (as
 * long as the plaintext) and the 16-byte tag.  The caller binds each value to
 * its purpose with `aad` (e.g. "reports.phone"), so a sealed phone number
 * cannot be moved into another column and opened there.  The key version is
 * stored beside the value by the caller, so keys can be rotated.
 */
#ifndef MINYI_PII_H
#define MINYI_PII_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PII_KEY_LEN   32
#define PII_NONCE_LEN 12
#define PII_TAG_LEN   16
#define PII_OVERHEAD  (PII_NONCE_LEN + PII_TAG_LEN)

/* Bytes of the sealed form of a plaintext of pt_len bytes. */
static inline size_t pii_sealed_len(size_t pt_len) { return pt_len + PII_OVERHEAD; }

/* Seals pt into out, which holds pii_sealed_len(pt_len) bytes. */
bool pii_seal(const uint8_t key[PII_KEY_LEN], const char *aad,
              const uint8_t *pt, size_t pt_len, uint8_t *out)
    __attribute__((warn_unused_result));

/* A key made ready once (cipher fetched, key schedule expanded), so that
 * each seal with it costs a fresh nonce and the AES-GCM pass alone.  The
 * intake path seals one or two fields of every report with one key. */
struct pii_sealer;
struct pii_sealer *pii_sealer_new(const uint8_t key[PII_KEY_LEN]);
/* As pii_seal, with the sealer's key. */
bool pii_sealer_seal(struct pii_sealer *s, const char *aad, const uint8_t *pt, size_t pt_len,
                     uint8_t *out) __attribute__((warn_unused_result));
void pii_sealer_free(struct pii_sealer *s);

/* Opens a sealed value into out, which holds sealed_len - PII_OVERHEAD bytes.
 * Returns false when the value is too short or was not sealed with this key
 * and aad (the tag does not verify). */
bool pii_open(const uint8_t key[PII_KEY_LEN], const char *aad,
              const uint8_t *sealed, size_t sealed_len, uint8_t *out)
    __attribute__((warn_unused_result));

/* Parses 64 hex digits (surrounding white space allowed) into a key. */
bool pii_key_parse_hex(const char *hex, uint8_t key[PII_KEY_LEN])
    __attribute__((warn_unused_result));

#endif
