/*
 * audit_int: what the files of the audit chain share, and no one else
 * (see audit.h for what they do):
 *
 *   audit_chain.c   the sealed tables, one step of the chain, a head's
 *                   signature, and the blocking queries' helpers
 *   audit_seal.c    one round of the sealer
 *   audit_verify.c  verifying the chain, exporting it, and the heads the
 *                   chains below sent here as their witness
 */
#ifndef MINYI_AUDIT_INT_H
#define MINYI_AUDIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "audit.h"

#define AUDIT_FIELDS_MAX 14          /* fields of the widest source (events) */
#define AUDIT_SIG_MAX 64             /* bytes of an Ed25519 signature */
#define AUDIT_N_SOURCES 3            /* reports, events, admin_events */

/* A table whose rows are sealed.  select lists the fields of canonical(),
 * each as text, from the table aliased t; the first is always the id.
 * Fields from nfixed on were added to the table after chains were sealed
 * with it: canonical() encodes each only when it is not NULL, so an entry
 * sealed before it existed hashes as it did. */
struct audit_source {
    char code;
    const char *name;
    const char *table;
    int nfields;
    int nfixed;
    const char *const *field_names;
    const char *select;
};

extern const struct audit_source audit_sources[AUDIT_N_SOURCES];

/* The source whose code is code, or NULL. */
const struct audit_source *audit_source_by_code(char code);

/* The primary message of a failed result, after what, into err. */
void audit_res_err(char *err, size_t errlen, const char *what, const PGresult *res);
/* Runs a command with text parameters; false with the reason in err. */
bool audit_run(PGconn *pg, const char *sql, int n, const char *const *v, const char *what,
               char *err, size_t errlen) __attribute__((warn_unused_result));
/* The rows of a query with text parameters, or NULL with the reason in err. */
PGresult *audit_query(PGconn *pg, const char *sql, int n, const char *const *v,
                      const char *what, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* hash = SHA-256(0x00 || prev || canonical(row)); fields[0] (the id) is
 * replaced by id_override when that is not NULL. */
bool audit_chain_step(const unsigned char prev[AUDIT_HASH_LEN], const struct audit_source *s,
                      const char *const *fields, const char *id_override,
                      unsigned char out[AUDIT_HASH_LEN]) __attribute__((warn_unused_result));
/* The fields of row r of res starting at column col (NULL for SQL NULL). */
void audit_row_fields(const PGresult *res, int r, int col, int n, const char **out);

/* Signs the head (region, seq, hash) with key, and checks such a
 * signature with key's public half. */
bool audit_head_sign(EVP_PKEY *key, const char *region, int64_t seq,
                     const unsigned char hash[AUDIT_HASH_LEN], unsigned char *sig, size_t *siglen)
    __attribute__((warn_unused_result));
bool audit_head_signature_ok(EVP_PKEY *key, const char *region, int64_t seq,
                             const unsigned char hash[AUDIT_HASH_LEN], const unsigned char *sig,
                             size_t siglen);

#endif
