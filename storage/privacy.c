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

bool privacy_erase(PGconn *pg, const char *receipt, const char *note, bool *erased, char *err,
                   size_t errlen)
{
    PGresult *res;

    if (!one_value(pg, "SELECT minyi_pii_erase(id, NULL, $2) FROM reports WHERE receipt = $1"
                       " UNION ALL SELECT NULL WHERE NOT EXISTS"
                       " (SELECT 1 FROM reports WHERE receipt = $1)",
                   2, (const char *const[]){ receipt, note }, "erasing", &res, err, errlen))
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
 * sealed again with its current key into out (hex, malloc'd; NULL for an
 * absent value).  False when it cannot be opened or out of memory. */
static bool reseal(const struct pii_keyring *kr, const char *aad, const char *hex, char **out)
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
    if (!again || !*out ||
        !pii_seal(pii_keyring_key(kr, kr->current), kr->current, aad, pt, pt_len, again))
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

/* One transaction: up to PRIVACY_RETAIN_BATCH reports; *done is how many. */
static bool rewrap_batch(PGconn *pg, const struct pii_keyring *kr, int *done, char *err,
                         size_t errlen)
{
    char cur[16], limit[16];
    PGresult *res = NULL, *up;
    bool ok = false;

    snprintf(cur, sizeof cur, "%u", kr->current);
    snprintf(limit, sizeof limit, "%d", PRIVACY_RETAIN_BATCH);
    *done = 0;
    PQclear(PQexec(pg, "BEGIN"));
    res = PQexecParams(pg, "SELECT id::text, encode(phone_enc, 'hex'),"
                           " coalesce(encode(reporter_name_enc, 'hex'), '') FROM reports"
                           " WHERE pii_key_version <> $1::int4 AND pii_erased_at IS NULL"
                           " ORDER BY id LIMIT $2::int4 FOR UPDATE",
                       2, NULL, (const char *const[]){ cur, limit }, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading sealed fields: %s", PQresultErrorMessage(res));
        goto fail;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        char *phone = NULL, *name = NULL;
        const char *id = PQgetvalue(res, i, 0);
        if (!reseal(kr, STORE_AAD_PHONE, PQgetvalue(res, i, 1), &phone) ||
            !reseal(kr, STORE_AAD_REPORTER_NAME, PQgetvalue(res, i, 2), &name)) {
            snprintf(err, errlen, "report id %s: its personal fields open with no key given", id);
            free(phone);
            free(name);
            goto fail;
        }
        up = PQexecParams(pg, "UPDATE reports SET phone_enc = decode($2, 'hex'),"
                              " reporter_name_enc = decode($3, 'hex'), pii_key_version = $4::int4"
                              " WHERE id = $1::int8",
                          4, NULL, (const char *const[]){ id, phone ? phone : "", name, cur },
                          NULL, NULL, 0);
        free(phone);
        free(name);
        if (PQresultStatus(up) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "report id %s: %s", id, PQresultErrorMessage(up));
            PQclear(up);
            goto fail;
        }
        PQclear(up);
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
    int done;

    *n = 0;
    do {
        if (!rewrap_batch(pg, kr, &done, err, errlen))
            return false;
        *n += done;
    } while (done == PRIVACY_RETAIN_BATCH);
    return true;
}
