/*
 * admin: the operator's principal commands (`minyid principal ...`).  Each
 * change writes its admin event (0019_audit.sql) in the same statement.
 * Blocking libpq: these run from the command line, never in the gateway.
 */
#include "store.h"
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#define ADMIN_NAME_MAX   127   /* bytes; struct principal holds 128 */
#define ADMIN_SECTOR_MAX 63

PGconn *store_admin_connect(const char *conninfo, char *err, size_t errlen)
{
    PGconn *pg = PQconnectdb(conninfo);
    size_t n;

    if (PQstatus(pg) == CONNECTION_OK) {
        PQsetNoticeProcessor(pg, store_pq_quiet, NULL);
        return pg;
    }
    snprintf(err, errlen, "cannot connect to the database: %s", PQerrorMessage(pg));
    n = strlen(err);
    while (n > 0 && err[n - 1] == '\n')
        err[--n] = '\0';
    PQfinish(pg);
    return NULL;
}

static void result_err(char *err, size_t errlen, const char *what, const PGresult *res)
{
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    snprintf(err, errlen, "%s: %s", what, m ? m : PQresultErrorMessage(res));
}

/* One command's connection and the answer to its one statement. */
struct admin_call {
    PGconn *pg;
    PGresult *res;
};

/*
 * Connects and runs sql with its n text or binary parameters (lengths and
 * formats as PQexecParams takes them; NULL for all text).  True when the
 * answer has the status want and, with rows >= 0, that many rows; else
 * false with "what: the reason" in err (or why the connection failed).
 * Either way c holds what there is, for the caller to read and then
 * release with admin_end.
 */
static bool admin_run(struct admin_call *c, const char *conninfo, const char *sql, int n,
                      const char *const *values, const int *lengths, const int *formats,
                      ExecStatusType want, int rows, const char *what, char *err, size_t errlen)
{
    c->res = NULL;
    c->pg = store_admin_connect(conninfo, err, errlen);
    if (c->pg == NULL)
        return false;
    c->res = PQexecParams(c->pg, sql, n, NULL, values, lengths, formats, 0);
    if (PQresultStatus(c->res) == want && (rows < 0 || PQntuples(c->res) == rows))
        return true;
    result_err(err, errlen, what, c->res);
    return false;
}

/* Releases what admin_run left in c and answers ok. */
static bool admin_end(struct admin_call *c, bool ok)
{
    PQclear(c->res);
    PQfinish(c->pg);
    return ok;
}

static bool region_valid(const char *s)
{
    size_t i;

    if (!s || strlen(s) != 6)
        return false;
    for (i = 0; i < 6; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool store_admin_principal_add(const char *conninfo, const uint8_t fingerprint[32],
                               enum principal_kind kind, const char *name,
                               const char *region, const char *sector,
                               int64_t *id_out, char *err, size_t errlen)
{
    const char *kind_name = principal_kind_name(kind);
    const char *values[5];
    int lengths[5] = { 32, 0, 0, 0, 0 }, formats[5] = { 1, 0, 0, 0, 0 };
    struct admin_call c;

    if (!kind_name) {
        snprintf(err, errlen, "unknown principal kind");
        return false;
    }
    if (!name || !*name || strlen(name) > ADMIN_NAME_MAX) {
        snprintf(err, errlen, "the name must be 1 to %d bytes", ADMIN_NAME_MAX);
        return false;
    }
    if (!region_valid(region)) {
        snprintf(err, errlen, "the region must be six digits");
        return false;
    }
    if (!sector)
        sector = "";
    if (strlen(sector) > ADMIN_SECTOR_MAX) {
        snprintf(err, errlen, "the sector must be at most %d bytes", ADMIN_SECTOR_MAX);
        return false;
    }
    values[0] = (const char *)fingerprint;
    values[1] = kind_name;
    values[2] = name;
    values[3] = region;
    values[4] = sector;
    if (!admin_run(&c, conninfo,
                   "WITH p AS (INSERT INTO principals (fingerprint, kind, name, region, sector)"
                   "           VALUES ($1, $2, $3, $4, $5) RETURNING id)"
                   " INSERT INTO admin_events (actor, action, subject, note)"
                   " SELECT 'operator', 'principal_add', p.id::text, $2 || ' ' || $4 || ' ' || $3"
                   "   FROM p RETURNING subject",
                   5, values, lengths, formats, PGRES_TUPLES_OK, 1, "adding the principal", err,
                   errlen)) {
        const char *state = c.res != NULL ? PQresultErrorField(c.res, PG_DIAG_SQLSTATE) : NULL;
        if (state && strcmp(state, "23505") == 0)
            snprintf(err, errlen, "a principal with this certificate fingerprint exists already");
        return admin_end(&c, false);
    }
    if (id_out)
        *id_out = (int64_t)strtoll(PQgetvalue(c.res, 0, 0), NULL, 10);
    return admin_end(&c, true);
}

bool store_admin_principal_set_active(const char *conninfo, int64_t id, bool active,
                                      char *err, size_t errlen)
{
    char idbuf[24];
    const char *values[2] = { idbuf, active ? "true" : "false" };
    struct admin_call c;

    snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
    /* The change and its admin event are one statement, so one transaction. */
    if (!admin_run(&c, conninfo,
                   "WITH p AS (UPDATE principals SET active = $2 WHERE id = $1 RETURNING id)"
                   " INSERT INTO admin_events (actor, action, subject)"
                   " SELECT 'operator', CASE WHEN $2::bool THEN 'principal_enable'"
                   "                   ELSE 'principal_disable' END, p.id::text FROM p",
                   2, values, NULL, NULL, PGRES_COMMAND_OK, -1, "updating the principal", err,
                   errlen))
        return admin_end(&c, false);
    if (strcmp(PQcmdTuples(c.res), "1") != 0) {
        snprintf(err, errlen, "no principal with id %" PRId64, id);
        return admin_end(&c, false);
    }
    return admin_end(&c, true);
}

bool store_admin_principal_list(const char *conninfo, void *out_FILE, bool json,
                                char *err, size_t errlen)
{
    FILE *out = out_FILE;
    struct admin_call c;
    json_t *list = NULL;
    int t, n;

    if (!admin_run(&c, conninfo,
                   "SELECT id, kind, active, encode(fingerprint, 'hex'), region, sector, name"
                   " FROM principals ORDER BY id",
                   0, NULL, NULL, NULL, PGRES_TUPLES_OK, -1, "listing principals", err, errlen))
        return admin_end(&c, false);
    PGresult *res = c.res;
    n = PQntuples(res);
    list = json ? json_array() : NULL;
    if (json && list == NULL)
        goto oom;
    for (t = 0; t < n; t++) {
        const char *sector = PQgetvalue(res, t, 5);
        bool active = PQgetvalue(res, t, 2)[0] == 't';
        if (json) {
            json_t *row = json_pack("{s:I, s:s, s:b, s:s, s:s, s:s, s:s}", "id",
                                    (json_int_t)strtoll(PQgetvalue(res, t, 0), NULL, 10), "kind",
                                    PQgetvalue(res, t, 1), "active", active, "fingerprint",
                                    PQgetvalue(res, t, 3), "region", PQgetvalue(res, t, 4),
                                    "sector", sector, "name", PQgetvalue(res, t, 6));
            if (row == NULL || json_array_append_new(list, row) != 0)
                goto oom;
            continue;
        }
        fprintf(out, "%s %s %s %s %s %s %s\n", PQgetvalue(res, t, 0), PQgetvalue(res, t, 1),
                active ? "active" : "inactive", PQgetvalue(res, t, 3),
                PQgetvalue(res, t, 4), *sector ? sector : "-", PQgetvalue(res, t, 6));
    }
    if (json && (json_dumpf(list, out, JSON_COMPACT) != 0 || fputc('\n', out) == EOF)) {
        snprintf(err, errlen, "cannot write the list");
        goto fail;
    }
    json_decref(list);
    return admin_end(&c, true);
oom:
    snprintf(err, errlen, "out of memory");
fail:
    json_decref(list);
    return admin_end(&c, false);
}

bool store_admin_principal_audit_key(const char *conninfo, int64_t id, const uint8_t key[32],
                                     char *err, size_t errlen)
{
    char idbuf[24];
    const char *values[2] = { idbuf, (const char *)key };
    int lengths[2] = { 0, 32 }, formats[2] = { 0, 1 };
    struct admin_call c;

    snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
    /* The key and its admin event are one statement, so one transaction; a
     * key registered already changes nothing and records nothing. */
    if (!admin_run(&c, conninfo,
                   "WITH p AS (SELECT id FROM principals WHERE id = $1 AND kind = 'peer'),"
                   " k AS (INSERT INTO peer_audit_keys (peer, public_key)"
                   "       SELECT p.id, $2 FROM p ON CONFLICT DO NOTHING RETURNING peer),"
                   " e AS (INSERT INTO admin_events (actor, action, subject, note)"
                   "       SELECT 'operator', 'principal_audit_key', k.peer::text,"
                   "              encode($2, 'hex') FROM k)"
                   " SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM k)",
                   2, values, lengths, formats, PGRES_TUPLES_OK, 1, "registering the audit key",
                   err, errlen))
        return admin_end(&c, false);
    if (strcmp(PQgetvalue(c.res, 0, 0), "1") != 0) {
        snprintf(err, errlen, "no peer principal with id %" PRId64, id);
        return admin_end(&c, false);
    }
    return admin_end(&c, true);
}
