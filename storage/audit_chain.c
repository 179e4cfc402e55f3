/*
 * audit_chain: what sealing and verifying share (audit_int.h): the sealed
 * tables, one step of the chain, a head's signature, the queries' helpers.
 */
#include "audit_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>

#define AUDIT_HEAD_DOMAIN "minyi-audit-head-v1"
#define AUDIT_HEAD_MSG_LEN (sizeof(AUDIT_HEAD_DOMAIN) + 6 + 8 + AUDIT_HASH_LEN)
#define AUDIT_NULL_LEN 0xffffffffu   /* the length that marks a NULL field */

/* Microseconds since the epoch, as text: the one form of a time in the chain. */
#define US(col) "((extract(epoch FROM " col ") * 1000000)::int8)::text"

static const char *const report_fields[] = {
    "id", "receipt", "principal_id", "client_report_id", "payload_sha256", "region",
    "received_at_us",
};
static const char *const event_fields[] = {
    "id", "report_id", "actor", "action", "state", "note", "at_us", "body_name",
    "body_region", "instruction", "instruction_level", "destination", "dest_receipt",
    "operator",
};
static const char *const admin_fields[] = {
    "id", "actor", "action", "subject", "note", "at_us",
};

/* The intake of a report is sealed by the columns it never changes later:
 * an edit or a resubmission is an event of its own, and erasing personal
 * fields (sealed elsewhere) leaves these alone, so the chain still verifies. */
const struct audit_source audit_sources[AUDIT_N_SOURCES] = {
    { 'r', "report", "reports", 7, 7, report_fields,
      "t.id::text, t.receipt, t.principal_id::text, t.client_report_id::text,"
      " encode(t.payload_sha256, 'hex'), t.region::text, " US("t.received_at") },
    { 'e', "event", "events", 14, 13, event_fields,
      "t.id::text, t.report_id::text, t.actor::text, t.action, t.state, t.note, " US("t.at")
      ", t.body_name, t.body_region::text, t.instruction, t.instruction_level,"
      " t.destination, t.dest_receipt, t.operator" },
    { 'a', "admin", "admin_events", 6, 6, admin_fields,
      "t.id::text, t.actor, t.action, t.subject, t.note, " US("t.at") },
};

const struct audit_source *audit_source_by_code(char code)
{
    for (size_t i = 0; i < AUDIT_N_SOURCES; i++)
        if (audit_sources[i].code == code)
            return &audit_sources[i];
    return NULL;
}

void audit_res_err(char *err, size_t errlen, const char *what, const PGresult *res)
{
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    snprintf(err, errlen, "%s: %s", what, m ? m : PQresultErrorMessage(res));
}

/* Runs a command with text parameters; false with the reason in err. */
bool audit_run(PGconn *pg, const char *sql, int n, const char *const *v, const char *what,
               char *err, size_t errlen)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

    if (!ok)
        audit_res_err(err, errlen, what, res);
    PQclear(res);
    return ok;
}

PGresult *audit_query(PGconn *pg, const char *sql, int n, const char *const *v,
                      const char *what, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);

    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    audit_res_err(err, errlen, what, res);
    PQclear(res);
    return NULL;
}

/* hash = SHA-256(0x00 || prev || canonical(row)); fields[0] (the id) is
 * replaced by id_override when that is not NULL. */
bool audit_chain_step(const unsigned char prev[AUDIT_HASH_LEN], const struct audit_source *s,
                      const char *const *fields, const char *id_override,
                      unsigned char out[AUDIT_HASH_LEN])
{
    static const unsigned char domain = 0x00;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md, &domain, 1) == 1 &&
              EVP_DigestUpdate(md, prev, AUDIT_HASH_LEN) == 1 &&
              EVP_DigestUpdate(md, &s->code, 1) == 1;

    for (int i = 0; ok && i < s->nfields; i++) {
        const char *f = i == 0 && id_override ? id_override : fields[i];
        size_t len = f ? strlen(f) : 0;
        uint32_t l = f ? (uint32_t)len : AUDIT_NULL_LEN;
        if (i >= s->nfixed && f == NULL)
            continue;
        unsigned char be[4] = { (unsigned char)(l >> 24), (unsigned char)(l >> 16),
                                (unsigned char)(l >> 8), (unsigned char)l };
        ok = EVP_DigestUpdate(md, be, 4) == 1 && (len == 0 || EVP_DigestUpdate(md, f, len) == 1);
    }
    ok = ok && EVP_DigestFinal_ex(md, out, &n) == 1 && n == AUDIT_HASH_LEN;
    EVP_MD_CTX_free(md);
    return ok;
}

/* The fields of row r of res starting at column col (NULL for SQL NULL). */
void audit_row_fields(const PGresult *res, int r, int col, int n, const char **out)
{
    for (int i = 0; i < n; i++)
        out[i] = PQgetisnull(res, r, col + i) ? NULL : PQgetvalue(res, r, col + i);
}

/* The message a head's signature covers. */
static size_t head_message(const char *region, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN],
                           unsigned char out[AUDIT_HEAD_MSG_LEN])
{
    size_t n = sizeof(AUDIT_HEAD_DOMAIN);      /* with its terminating zero byte */

    memcpy(out, AUDIT_HEAD_DOMAIN, n);
    memcpy(out + n, region, 6);
    n += 6;
    for (int i = 7; i >= 0; i--)
        out[n++] = (unsigned char)((uint64_t)seq >> (8 * i));
    memcpy(out + n, hash, AUDIT_HASH_LEN);
    return n + AUDIT_HASH_LEN;
}

bool audit_head_sign(EVP_PKEY *key, const char *region, int64_t seq,
                     const unsigned char hash[AUDIT_HASH_LEN], unsigned char *sig, size_t *siglen)
{
    unsigned char msg[AUDIT_HEAD_MSG_LEN];
    size_t n = head_message(region, seq, hash, msg);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestSign(md, sig, siglen, msg, n) == 1;

    EVP_MD_CTX_free(md);
    return ok;
}

bool audit_head_signature_ok(EVP_PKEY *key, const char *region, int64_t seq,
                             const unsigned char hash[AUDIT_HASH_LEN], const unsigned char *sig,
                             size_t siglen)
{
    unsigned char msg[AUDIT_HEAD_MSG_LEN];
    size_t n = head_message(region, seq, hash, msg);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestVerify(md, sig, siglen, msg, n) == 1;

    EVP_MD_CTX_free(md);
    return ok;
}

bool audit_head_verify_raw(const uint8_t pub[32], const char *region, int64_t seq,
                           const uint8_t hash[AUDIT_HASH_LEN], const uint8_t *sig, size_t siglen)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    bool ok = k != NULL && audit_head_signature_ok(k, region, seq, hash, sig, siglen);

    EVP_PKEY_free(k);
    return ok;
}

bool audit_public_key_read(const char *path, uint8_t out[32], char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = NULL;
    size_t len = 32;
    bool ok = false;

    if (f == NULL) {
        snprintf(err, errlen, "audit key file %s: %s", path, strerror(errno));
        return false;
    }
    k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(k, out, &len) != 1 || len != 32) {
        snprintf(err, errlen, "audit key file %s: expected an Ed25519 public key in PEM"
                 " (openssl pkey -in audit.key -pubout)", path);
        goto fail;
    }
    ok = true;
fail:
    EVP_PKEY_free(k);
    return ok;
}
