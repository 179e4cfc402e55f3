/*
 * pii: sealing of personal fields (phone numbers, the names of citizen
 * reporters) before they reach the database, so a dump of the database alone
 * does not reveal them.
 *
 * A sealed value is a 5-byte header (PII_FORMAT and the key version) and
 * AES-256-GCM: a random 12-byte nonce, the ciphertext (as long as the
 * plaintext) and the 16-byte tag.  The caller binds each value to
 * its purpose with `aad` (e.g. "reports.phone"), so a sealed phone number
 * cannot be moved into another column and opened there.  Each value starts
 * with a header naming the version of its key (also bound to the tag), so
 * keys can be rotated: old versions still open, new values use the newest,
 * and `minyid pii rewrap` moves old values to the newest.
 */
#ifndef MINYI_PII_H
#define MINYI_PII_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PII_KEY_LEN    32
#define PII_NONCE_LEN  12
#define PII_TAG_LEN    16
#define PII_FORMAT     0x4b    /* 'K': the first byte of a value with its key version */
#define PII_HEADER_LEN 5       /* PII_FORMAT and the key version, 4 bytes big-endian */
#define PII_OVERHEAD   (PII_HEADER_LEN + PII_NONCE_LEN + PII_TAG_LEN)
#define PII_KEYS_MAX   16      /* key versions a gateway holds at once */
#define PII_FORMAT_DEK 0x44    /* 'D': the first byte of a value sealed with a data key */
#define PII_AAD_DEK    "minyi:report_keys.wrapped"   /* binds a wrapped data key */
#define PII_WRAPPED_LEN (PII_KEY_LEN + PII_OVERHEAD) /* bytes of a wrapped data key */

/* Bytes of the sealed form of a plaintext of pt_len bytes. */
static inline size_t pii_sealed_len(size_t pt_len) { return pt_len + PII_OVERHEAD; }

/* Seals pt with key, whose version (> 0) goes into the value's header,
 * into out, which holds pii_sealed_len(pt_len) bytes. */
bool pii_seal(const uint8_t key[PII_KEY_LEN], uint32_t version, const char *aad,
              const uint8_t *pt, size_t pt_len, uint8_t *out)
    __attribute__((warn_unused_result));

/* A key made ready once (cipher fetched, key schedule expanded), so that
 * each seal with it costs a fresh nonce and the AES-GCM pass alone.  The
 * intake path seals one or two fields of every report with one key. */
struct pii_sealer;
struct pii_sealer *pii_sealer_new(const uint8_t key[PII_KEY_LEN], uint32_t version);
/* As pii_seal, with the sealer's key and version. */
bool pii_sealer_seal(struct pii_sealer *s, const char *aad, const uint8_t *pt, size_t pt_len,
                     uint8_t *out) __attribute__((warn_unused_result));
/* As pii_sealer_seal with a master key's sealer, with a nonce the caller
 * drew: random bytes from RAND_bytes, given to one value only.  For callers
 * that draw the random bytes of many values with one call (the intake
 * batch), since each RAND_bytes call costs far more than its bytes.  False
 * for a data key's sealer, whose nonces are its own count. */
bool pii_sealer_seal_nonce(struct pii_sealer *s, const uint8_t nonce[PII_NONCE_LEN],
                           const char *aad, const uint8_t *pt, size_t pt_len, uint8_t *out)
    __attribute__((warn_unused_result));
void pii_sealer_free(struct pii_sealer *s);

/* A sealer of values under data keys, without a key until
 * pii_sealer_rekey; its values carry the header PII_FORMAT_DEK. */
struct pii_sealer *pii_dek_sealer_new(void);
/* Gives s another key (a report's data key), keeping its cipher context.
 * The values sealed after it take as nonce a count from this call instead
 * of random bytes: each data key must be fresh and random, given once. */
bool pii_sealer_rekey(struct pii_sealer *s, const uint8_t key[PII_KEY_LEN])
    __attribute__((warn_unused_result));

/* Opens a value sealed under the data key dek into out (sealed_len -
 * PII_OVERHEAD bytes); false as pii_open. */
bool pii_dek_open(const uint8_t dek[PII_KEY_LEN], const char *aad, const uint8_t *sealed,
                  size_t sealed_len, uint8_t *out) __attribute__((warn_unused_result));

/* True when a sealed value was sealed under a data key. */
bool pii_sealed_with_dek(const uint8_t *sealed, size_t sealed_len);

/* The key version in a sealed value's header; 0 when it has none. */
uint32_t pii_sealed_version(const uint8_t *sealed, size_t sealed_len);

/* Opens a value sealed with key at version into out, which holds
 * sealed_len - PII_OVERHEAD bytes.  False when it is too short, carries
 * another version, or was not sealed with this key and aad (the tag does
 * not verify): a changed byte, another column or another version. */
bool pii_open(const uint8_t key[PII_KEY_LEN], uint32_t version, const char *aad,
              const uint8_t *sealed, size_t sealed_len, uint8_t *out)
    __attribute__((warn_unused_result));

/* Every key version a gateway can open, and the one it seals with. */
struct pii_keyring {
    size_t n;
    uint32_t current;
    struct {
        uint32_t version;
        uint8_t key[PII_KEY_LEN];
    } keys[PII_KEYS_MAX];
};

/* kr with key at version (the current one) and the keys of old (NULL:
 * none) whose versions differ; false when there are more than
 * PII_KEYS_MAX. */
bool pii_keyring_build(struct pii_keyring *kr, const uint8_t key[PII_KEY_LEN], uint32_t version,
                       const struct pii_keyring *old) __attribute__((warn_unused_result));

/* The key of that version in kr, NULL when kr has none. */
const uint8_t *pii_keyring_key(const struct pii_keyring *kr, uint32_t version);

/* Opens a sealed value with the key of the version it names into out
 * (which holds sealed_len bytes), its length in *out_len.  A value sealed
 * before values named their version is tried with every key. */
bool pii_keyring_open(const struct pii_keyring *kr, const char *aad, const uint8_t *sealed,
                      size_t sealed_len, uint8_t *out, size_t *out_len)
    __attribute__((warn_unused_result));

/* Unwraps a report's data key (wrapped_len bytes) with the master key of
 * the version it names into dek; false when kr has no such key or the
 * wrapped key was changed. */
bool pii_keyring_unwrap(const struct pii_keyring *kr, const uint8_t *wrapped, size_t wrapped_len,
                        uint8_t dek[PII_KEY_LEN]) __attribute__((warn_unused_result));

/* Parses 64 hex digits (surrounding white space allowed) into a key. */
bool pii_key_parse_hex(const char *hex, uint8_t key[PII_KEY_LEN])
    __attribute__((warn_unused_result));

#endif
