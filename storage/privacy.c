/*
 * privacy: see privacy.h.
 */
#include "privacy.h"
#include "hex.h"
#include "pii.h"
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Runs a one-row, one-column query with text parameters into *res. */
static bool one_value(PGconn *pg, const char *sql, int n, const char *const *v, const char *what,
                      PGresult **res, char *err, size_t errlen)
{
    *res = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(*res) == PGRES_TUPLES_OK && PQntuples(*res) == 1 && PQnfields(*res) == 1)
        return true;
    const char *m = PQresultErrorField(*res, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(err, errlen, "%s: %s", what, m ? m : PQresultErrorMessage(*res));
    PQclear(*res);
    *res = NULL;
    return false;
}

bool privacy_erase(PGconn *pg, const char *receipt, const char *operator, const char *note,
                   bool *erased, char *err, size_t errlen)
{
    PGresult *res;

    if (!one_value(pg, "SELECT minyi_pii_erase(id, NULL, $2, $3) FROM reports WHERE receipt = $1"
                       " UNION ALL SELECT NULL WHERE NOT EXISTS"
                       " (SELECT 1 FROM reports WHERE receipt = $1)",
                   3, (const char *const[]){ receipt, operator, note }, "erasing", &res, err,
                   errlen))
        return false;
    if (PQgetisnull(res, 0, 0)) {
        snprintf(err, errlen, "no report has the receipt %s", receipt);
        PQclear(res);
        return false;
    }
    *erased = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return true;
}

bool privacy_retain(PGconn *pg, int days, int64_t offset_s, int *n, char *err, size_t errlen)
{
    char days_s[16], off_s[24], limit_s[16];
    PGresult *res;

    snprintf(days_s, sizeof days_s, "%d", days);
    snprintf(off_s, sizeof off_s, "%" PRId64, offset_s);
    snprintf(limit_s, sizeof limit_s, "%d", PRIVACY_RETAIN_BATCH);
    if (!one_value(pg, "SELECT minyi_pii_retain(now() + make_interval(secs => $2::int8), $1::int4,"
                       " $3::int4)",
                   3, (const char *const[]){ days_s, off_s, limit_s }, "erasing on schedule",
                   &res, err, errlen))
        return false;
    *n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return true;
}

/* The sealed value hex (the column's text, "" for NULL) opened with kr and
 * sealed again with sealer (a report's new data key) into out (hex,
 * malloc'd; NULL for an absent value).  False when it cannot be opened or
 * out of memory. */
static bool reseal(const struct pii_keyring *kr, struct pii_sealer *sealer, const char *aad,
                   const char *hex, char **out)
{
    size_t len = strlen(hex) / 2, pt_len = 0;
    uint8_t *sealed = malloc(len + 1), *pt = malloc(len + 1), *again = NULL;
    bool ok = false;

    *out = NULL;
    if (!sealed || !pt)
        goto fail;
    if (len == 0) {
        ok = true;
        goto fail;
    }
    if (!hex_decode(hex, sealed, len) || !pii_keyring_open(kr, aad, sealed, len, pt, &pt_len))
        goto fail;
    again = malloc(pii_sealed_len(pt_len));
    *out = malloc(2 * pii_sealed_len(pt_len) + 1);
    if (!again || !*out || !pii_sealer_seal(sealer, aad, pt, pt_len, again))
        goto fail;
    hex_encode(again, pii_sealed_len(pt_len), *out);
    ok = true;
fail:
    if (!ok) {
        free(*out);
        *out = NULL;
    }
    if (pt)
        OPENSSL_cleanse(pt, len);
    free(pt);
    free(sealed);
    free(again);
    return ok;
}

/* Wraps dek under kr's current key into out (hex, 2 * PII_WRAPPED_LEN + 1). */
static bool wrap_hex(const struct pii_keyring *kr, const uint8_t dek[PII_KEY_LEN], char *out)
{
    uint8_t wrapped[PII_WRAPPED_LEN];

    if (!pii_seal(pii_keyring_key(kr, kr->current), kr->current, PII_AAD_DEK, dek, PII_KEY_LEN,
                  wrapped))
        return false;
    hex_encode(wrapped, sizeof wrapped, out);
    return true;
}

/* Runs a statement with text parameters that returns no rows. */
static bool command(PGconn *pg, const char *sql, int n, const char *const *v, const char *id,
                    char *err, size_t errlen)
{
    PGresult *up = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
    bool ok = PQresultStatus(up) == PGRES_COMMAND_OK;

    if (!ok)
        snprintf(err, errlen, "report id %s: %s", id, PQresultErrorMessage(up));
    PQclear(up);
    return ok;
}

/* The data key wrapped in hex unwrapped with kr and wrapped again under its
 * current key into out. */
static bool rewrap_one(const struct pii_keyring *kr, const char *hex, char *out)
{
    uint8_t wrapped[PII_WRAPPED_LEN], dek[PII_KEY_LEN];
    bool ok = strlen(hex) == 2 * PII_WRAPPED_LEN && hex_decode(hex, wrapped, sizeof wrapped) &&
              pii_keyring_unwrap(kr, wrapped, sizeof wrapped, dek) && wrap_hex(kr, dek, out);

    OPENSSL_cleanse(dek, sizeof dek);
    return ok;
}

/* A report sealed before data keys (id, its sealed fields in hex) given a
 * fresh data key: its fields sealed again under it, and the key stored
 * wrapped under kr's current key. */
static bool give_dek(PGconn *pg, const struct pii_keyring *kr, struct pii_sealer *sealer,
                     const char *id, const char *phone_hex, const char *name_hex, const char *cur,
                     char *err, size_t errlen)
{
    uint8_t dek[PII_KEY_LEN];
    char wrapped[2 * PII_WRAPPED_LEN + 1];
    char *phone = NULL, *name = NULL;
    bool ok = false;

    if (RAND_bytes(dek, sizeof dek) != 1 || !pii_sealer_rekey(sealer, dek) ||
        !wrap_hex(kr, dek, wrapped)) {
        snprintf(err, errlen, "report id %s: cannot make a data key", id);
        goto fail;
    }
    if (!reseal(kr, sealer, STORE_AAD_PHONE, phone_hex, &phone) ||
        !reseal(kr, sealer, STORE_AAD_REPORTER_NAME, name_hex, &name)) {
        snprintf(err, errlen, "report id %s: its personal fields open with no key given", id);
        goto fail;
    }
    ok = command(pg,
                 "UPDATE reports SET phone_enc = decode($2, 'hex'),"
                 " reporter_name_enc = decode($3, 'hex') WHERE id = $1::int8",
                 3, (const char *const[]){ id, phone ? phone : "", name }, id, err, errlen) &&
         command(pg,
                 "INSERT INTO report_keys (report_id, key_version, wrapped)"
                 " VALUES ($1::int8, $2::int4, decode($3, 'hex'))",
                 3, (const char *const[]){ id, cur, wrapped }, id, err, errlen);
fail:
    OPENSSL_cleanse(dek, sizeof dek);
    free(phone);
    free(name);
    return ok;
}

/* One transaction: up to PRIVACY_RETAIN_BATCH data keys wrapped under an
 * older version are wrapped again (legacy false), or up to as many reports
 * sealed before data keys get one (legacy true); *done is how many. */
static bool rewrap_batch(PGconn *pg, const struct pii_keyring *kr, struct pii_sealer *sealer,
                         bool legacy, int *done, char *err, size_t errlen)
{
    char cur[16], limit[16], out[2 * PII_WRAPPED_LEN + 1];
    PGresult *res = NULL, *up;
    bool ok = false;

    snprintf(cur, sizeof cur, "%u", kr->current);
    snprintf(limit, sizeof limit, "%d", PRIVACY_RETAIN_BATCH);
    *done = 0;
    PQclear(PQexec(pg, "BEGIN"));
    if (legacy)
        res = PQexecParams(pg, "SELECT r.id::text, encode(r.phone_enc, 'hex'),"
                               " coalesce(encode(r.reporter_name_enc, 'hex'), '') FROM reports r"
                               " WHERE r.pii_erased_at IS NULL AND NOT EXISTS"
                               " (SELECT 1 FROM report_keys k WHERE k.report_id = r.id)"
                               " ORDER BY r.id LIMIT $1::int4 FOR UPDATE OF r",
                           1, NULL, (const char *const[]){ limit }, NULL, NULL, 0);
    else
        res = PQexecParams(pg, "SELECT report_id::text, encode(wrapped, 'hex') FROM report_keys"
                               " WHERE key_version <> $1::int4"
                               " ORDER BY report_id LIMIT $2::int4 FOR UPDATE",
                           2, NULL, (const char *const[]){ cur, limit }, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading sealed keys: %s", PQresultErrorMessage(res));
        goto fail;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        if (legacy) {
            if (!give_dek(pg, kr, sealer, id, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), cur,
                          err, errlen))
                goto fail;
            continue;
        }
        if (!rewrap_one(kr, PQgetvalue(res, i, 1), out)) {
            snprintf(err, errlen, "report id %s: its data key opens with no key given", id);
            goto fail;
        }
        if (!command(pg,
                     "UPDATE report_keys SET wrapped = decode($2, 'hex'), key_version = $3::int4"
                     " WHERE report_id = $1::int8",
                     3, (const char *const[]){ id, out, cur }, id, err, errlen))
            goto fail;
    }
    up = PQexec(pg, "COMMIT");
    ok = PQresultStatus(up) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errlen, "COMMIT: %s", PQresultErrorMessage(up));
    PQclear(up);
    *done = ok ? PQntuples(res) : 0;
fail:
    if (!ok)
        PQclear(PQexec(pg, "ROLLBACK"));
    PQclear(res);
    return ok;
}

bool privacy_rewrap(PGconn *pg, const struct pii_keyring *kr, int *n, char *err, size_t errlen)
{
    struct pii_sealer *sealer = pii_dek_sealer_new();
    bool ok = sealer != NULL;
    int done;

    *n = 0;
    if (!ok)
        snprintf(err, errlen, "out of memory");
    for (int legacy = 0; ok && legacy < 2; legacy++) {
        do {
            ok = rewrap_batch(pg, kr, sealer, legacy, &done, err, errlen);
            *n += done;
        } while (ok && done == PRIVACY_RETAIN_BATCH);
    }
    pii_sealer_free(sealer);
    return ok;
}
