/*
 * audit: the tamper-evident chain over every change (migration 0019_audit).
 *
 * Each sealed row (a report's intake, an event, an admin event) gets a
 * sequence number and hash(seq) = SHA-256(0x00 || hash(seq - 1) ||
 * canonical(row)), hash(0) being 32 zero bytes.  The canonical encoding is
 * the source letter followed by each field of the row as a 4-byte
 * big-endian length and its text (0xFFFFFFFF for NULL); times are integer
 * microseconds since the epoch, so no time zone or date style enters it.
 * A field added to a table after chains were sealed with it (an event's
 * operator) is encoded only when it is not NULL, so older entries still
 * verify.
 * Heads are signed with Ed25519 over "minyi-audit-head-v1", a zero byte,
 * the body's six-digit region, the sequence number (8 bytes big-endian) and
 * the hash.
 *
 * Everything here is blocking libpq: the sealer runs in its own process
 * (gateway/sealer.c) and verify and export are operator commands.
 */
#ifndef MINYI_AUDIT_H
#define MINYI_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#define AUDIT_HASH_LEN 32
/* The advisory lock the one sealer of a database holds for its session. */
#define AUDIT_SEALER_LOCK 0x6d696e7969a0d17LL

/* What the sealer keeps between rounds. */
struct audit_sealer_state {
    int64_t signed_seq;          /* last head signed (0: none yet) */
    int64_t signed_at_ms;        /* when, monotonic */
};

struct audit_seal_config {
    int batch_max;               /* rows sealed per source and round */
    int sign_every;              /* sign once this many rows are sealed since the last head */
    int sign_interval_ms;        /* or once this long has passed with rows sealed */
    EVP_PKEY *key;               /* Ed25519 signing key; NULL seals without signing */
    const char *body_region;     /* signed with each head */
};

/* Whether sig is the signature of the head (region, seq, hash) by the
 * Ed25519 key whose public half is pub: how the body above checks the
 * heads a body below sends (with the keys registered for its peer). */
bool audit_head_verify_raw(const uint8_t pub[32], const char *region, int64_t seq,
                           const uint8_t hash[AUDIT_HASH_LEN], const uint8_t *sig, size_t siglen);

/* Reads an Ed25519 public key (PEM, as `openssl pkey -pubout` writes it)
 * into its 32 raw bytes; false with the reason in err. */
bool audit_public_key_read(const char *path, uint8_t out[32], char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* One round: seals the committed rows not sealed yet (up to batch_max per
 * source) in one transaction and signs the new head when due.  pg must hold
 * AUDIT_SEALER_LOCK.  *sealed is the number of rows sealed.  now_ms is a
 * monotonic clock reading. */
bool audit_seal_round(PGconn *pg, const struct audit_seal_config *cfg,
                      struct audit_sealer_state *st, int64_t now_ms, int *sealed,
                      char *err, size_t errlen) __attribute__((warn_unused_result));

/* What one verification found: how many entries the chain holds, and the
 * first broken one (broken_seq 0: none) with what is wrong there. */
struct audit_verdict {
    int64_t entries;
    int64_t broken_seq;
    char what[512];
};

/* Recomputes the chain, checks every signed head with key's public half
 * (NULL: signatures are not checked, and said so) and, when witness_path is
 * set, the heads the body above stored (JSON lines with "seq", "hash" and
 * "signature", as `minyid audit witness` writes them; their signatures are
 * checked with key as well, and the line says how many the body above kept
 * unchecked, "checked": false).  Writes one line to out: "audit ok: ..." or
 * "audit broken at seq N: WHAT ...", and fills *verdict.  False means
 * verify itself could not run. */
bool audit_verify(PGconn *pg, EVP_PKEY *key, const char *body_region, const char *witness_path,
                  FILE *out, struct audit_verdict *verdict, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Verifies the chain as audit_verify does (no witness) and keeps the
 * verdict in audit_status, where the office's read finds it (the sealer's
 * periodic check). */
bool audit_check(PGconn *pg, EVP_PKEY *key, const char *body_region, struct audit_verdict *verdict,
                 char *err, size_t errlen) __attribute__((warn_unused_result));

/* Writes the sealed entries from..to (inclusive; to 0: the head) as JSON
 * lines: seq, hash, source, ref_id and the row's fields by name. */
bool audit_export(PGconn *pg, int64_t from, int64_t to, FILE *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* At the body above: writes the heads peers below sent with their
 * forwards and results requests (audit_witness, migration 0021), by peer
 * and seq, as JSON lines with peer, seq, hash, signature (hex), checked
 * (whether a key registered here verified it on arrival, migration 0040)
 * and received_at_ms, the form audit_verify reads as its witness.  peer 0:
 * every peer. */
bool audit_witness_export(PGconn *pg, int64_t peer, FILE *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
