/* principal: who is on the other end of a connection, as found in the
 * `principals` table by the SHA-256 fingerprint of the client certificate. */
#ifndef MINYI_PRINCIPAL_H
#define MINYI_PRINCIPAL_H

#include <stdbool.h>
#include <stdint.h>

enum principal_kind {
    PRINCIPAL_NONE = 0,
    PRINCIPAL_CONTACT = 1,   /* contact point: submits reports */
    PRINCIPAL_EDITOR = 2,    /* editor at this body: works the queue */
    PRINCIPAL_PEER = 3,      /* another minyi instance */
    PRINCIPAL_ADMIN = 4,     /* reads like an office (migration 0023) */
    PRINCIPAL_OFFICE = 5,    /* office (办公室): reads everything, changes nothing */
};

/* The audit keys of a peer the gateway keeps with its principal: the
 * newest this many (a rotation adds one; older heads verify with older
 * keys, and a peer rotates rarely). */
#define PRINCIPAL_AUDIT_KEYS_MAX 8
#define PRINCIPAL_AUDIT_KEYS_MAX_TEXT "8"   /* the same, for SQL text */
#define PRINCIPAL_AUDIT_KEY_LEN 32   /* an Ed25519 public key */

struct principal {
    int64_t id;
    enum principal_kind kind;
    bool active;
    char name[128];          /* display name, UTF-8 */
    char region[7];          /* GB/T 2260 code */
    char sector[64];         /* 界别, may be empty */
    /* A peer's registered audit keys (migration 0033), newest first. */
    uint8_t audit_keys[PRINCIPAL_AUDIT_KEYS_MAX][PRINCIPAL_AUDIT_KEY_LEN];
    int n_audit_keys;
};

/* "contact", "editor", "peer", "admin", "office" <-> enum; returns PRINCIPAL_NONE / NULL when unknown. */
enum principal_kind principal_kind_parse(const char *s);
const char *principal_kind_name(enum principal_kind k);

#endif
