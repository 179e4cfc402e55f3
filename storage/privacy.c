/*
 * privacy: see privacy.h.
 */
#include "privacy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

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
