/*
 * migrate: the start-up check and the schema migrations (blocking libpq; run
 * before the event loop starts, or by `minyid migrate`).
 *
 * A migration is a file NNNN_name.sql in the migrations directory.  They are
 * applied in the order of their numbers, each in its own transaction
 * together with its row in schema_migrations, under an advisory lock so that
 * several gateways starting at once against one database apply each file
 * exactly once.
 *
 * Each applied migration's row keeps the SHA-256 of the file as it was
 * applied.  A file edited afterwards would leave databases migrated before
 * and after the edit with different schemas under the same number, so an
 * edited applied migration is refused by name: the gateway does not start
 * and `minyid migrate` applies nothing.  Rows from before checksums were
 * kept get the checksum of the file as it is now, once.  Finding, reading
 * and checksumming the files is migrate_files.c's.
 */
#include "migrate_int.h"
#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

/* Key of the advisory lock held while migrating ("minyi" in ASCII). */
#define MIGRATE_LOCK_KEY "469786601833"
/* What one run of the migrations did, for `minyid migrate` to report. */
struct migrate_report {
    json_t *applied;     /* [{version, name, checksum}] applied by this run */
    json_t *recorded;    /* names whose checksum this run recorded for the first time */
    int already;         /* files applied before this run */
};

/* Copies libpq's error text into err, without the trailing newline. */
static void pq_err(char *err, size_t errlen, const char *what, const char *msg)
{
    size_t n;

    snprintf(err, errlen, "%s: %s", what, msg ? msg : "unknown error");
    n = strlen(err);
    while (n > 0 && err[n - 1] == '\n')
        err[--n] = '\0';
}

/* Runs one command and checks it succeeded; on failure err says why. */
static bool exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType s = PQresultStatus(res);
    bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;

    if (!ok)
        pq_err(err, errlen, sql, PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

/* A setting that must not be off for acknowledged reports to be durable. */
static bool setting_on(PGconn *pg, const char *name, char *err, size_t errlen)
{
    char sql[64];
    PGresult *res;
    bool ok = false;

    snprintf(sql, sizeof sql, "SHOW %s", name);
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        pq_err(err, errlen, sql, PQresultErrorMessage(res));
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "off") == 0) {
        snprintf(err, errlen,
                 "refusing to start: the database has %s = off, so a committed report "
                 "could be lost in a crash", name);
        goto out;
    }
    ok = true;
out:
    PQclear(res);
    return ok;
}

/* Whether version is applied, and the checksum recorded for it ("" when
 * it was applied before checksums were kept). */
static bool applied_row(PGconn *pg, int version, bool *applied, char sum[MIGRATE_SUM_HEX + 1],
                        char *err, size_t errlen)
{
    char v[16];
    const char *values[1] = { v };
    PGresult *res;

    snprintf(v, sizeof v, "%d", version);
    res = PQexecParams(pg, "SELECT coalesce(checksum, '') FROM schema_migrations WHERE version = $1",
                       1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pq_err(err, errlen, "reading schema_migrations", PQresultErrorMessage(res));
        PQclear(res);
        return false;
    }
    *applied = PQntuples(res) > 0;
    snprintf(sum, MIGRATE_SUM_HEX + 1, "%s", *applied ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return true;
}

/* Keeps the checksum of a migration applied before checksums were kept. */
static bool record_checksum(PGconn *pg, int version, const char *sum, char *err, size_t errlen)
{
    char v[16];
    const char *values[2] = { v, sum };
    snprintf(v, sizeof v, "%d", version);
    PGresult *res = PQexecParams(pg,
                                 "UPDATE schema_migrations SET checksum = $2"
                                 " WHERE version = $1 AND checksum IS NULL",
                                 2, NULL, values, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        pq_err(err, errlen, "recording a migration's checksum", PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

static void edited_error(const struct migration *m, const char *dir, const char *recorded,
                         const char *now, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "migration %s/%s was edited after it was applied (sha256 then %s, now %s): "
             "restore the applied text and put the change in a new migration",
             dir, m->name, recorded, now);
}

/* A database migrated by a newer minyi has tables this program does not
 * know how to keep consistent: refuse rather than write to it. */
static bool schema_not_newer(PGconn *pg, int newest_known, char *err, size_t errlen)
{
    PGresult *res = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    bool ok = false;
    long v;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        pq_err(err, errlen, "reading schema_migrations", PQresultErrorMessage(res));
        goto out;
    }
    v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    if (v > newest_known) {
        snprintf(err, errlen,
                 "the database schema is at migration %04ld, newer than this program's newest "
                 "(%04d); use a matching minyid", v, newest_known);
        goto out;
    }
    ok = true;
out:
    PQclear(res);
    return ok;
}

/* Applies one migration file and records it, in one transaction. */
static bool apply_one(PGconn *pg, const char *dir, const struct migration *m,
                      char sum[MIGRATE_SUM_HEX + 1], char *err, size_t errlen)
{
    char path[4096], v[16], what[512];
    const char *values[3] = { v, m->name, sum };
    char *sql = NULL;
    PGresult *res = NULL;

    snprintf(path, sizeof path, "%s/%s", dir, m->name);
    snprintf(v, sizeof v, "%d", m->version);
    sql = migrate_read_file(path, err, errlen);
    if (!sql)
        return false;
    if (!migrate_checksum_text(sql, sum, err, errlen))
        goto fail;
    if (!exec_ok(pg, "BEGIN", err, errlen))
        goto fail;
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(what, sizeof what, "migration %s", m->name);
        pq_err(err, errlen, what, PQresultErrorMessage(res));
        goto fail;
    }
    PQclear(res);
    res = PQexecParams(pg,
                       "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                       3, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pq_err(err, errlen, "recording the migration", PQresultErrorMessage(res));
        goto fail;
    }
    PQclear(res);
    res = NULL;
    if (!exec_ok(pg, "COMMIT", err, errlen))
        goto fail;
    free(sql);
    return true;
fail:
    PQclear(res);
    res = PQexec(pg, "ROLLBACK");
    PQclear(res);
    free(sql);
    return false;
}

/* Connects and checks that committed reports are durable. */
static PGconn *connect_checked(const char *conninfo, char *err, size_t errlen)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        pq_err(err, errlen, "cannot connect to the database", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, store_pq_quiet, NULL);
    if (!setting_on(pg, "fsync", err, errlen) ||
        !setting_on(pg, "synchronous_commit", err, errlen)) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* The table of applied migrations; checksum came after the first release. */
static const char SCHEMA_MIGRATIONS_DDL[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version int PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now());"
    "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text";

/*
 * Checks every applied migration against its file first, and only then
 * applies the pending ones, so an edited file stops the run before
 * anything changes.  rep (may be NULL) collects what was done.
 */
static bool migrate_run(const char *conninfo, const char *dir, struct migrate_report *rep,
                        char *err, size_t errlen)
{
    PGconn *pg = connect_checked(conninfo, err, errlen);
    struct migration *list = NULL;
    bool *pending = NULL;
    size_t n = 0, i;
    char sum[MIGRATE_SUM_HEX + 1], now[MIGRATE_SUM_HEX + 1];

    if (pg == NULL)
        return false;
    if (!migrate_list(dir, &list, &n, err, errlen))
        goto fail;
    pending = calloc(n + 1, sizeof(*pending));
    if (pending == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen) ||
        !exec_ok(pg, SCHEMA_MIGRATIONS_DDL, err, errlen))
        goto fail;
    if (!schema_not_newer(pg, n ? list[n - 1].version : 0, err, errlen))
        goto fail;
    for (i = 0; i < n; i++) {
        bool applied;
        if (!applied_row(pg, list[i].version, &applied, sum, err, errlen))
            goto fail;
        pending[i] = !applied;
        if (!applied)
            continue;
        if (!migrate_checksum_file(dir, list[i].name, now, err, errlen))
            goto fail;
        if (sum[0] == '\0') {
            if (!record_checksum(pg, list[i].version, now, err, errlen))
                goto fail;
            if (rep != NULL)
                json_array_append_new(rep->recorded, json_string(list[i].name));
        } else if (strcmp(sum, now) != 0) {
            edited_error(&list[i], dir, sum, now, err, errlen);
            goto fail;
        }
        if (rep != NULL)
            rep->already++;
    }
    for (i = 0; i < n; i++) {
        if (!pending[i])
            continue;
        if (!apply_one(pg, dir, &list[i], sum, err, errlen))
            goto fail;
        if (rep != NULL)
            json_array_append_new(rep->applied,
                                  json_pack("{s:i, s:s, s:s}", "version", list[i].version,
                                            "name", list[i].name, "checksum", sum));
    }
    if (!exec_ok(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", err, errlen))
        goto fail;
    free(pending);
    free(list);
    PQfinish(pg);
    return true;
fail:
    /* Closing the session releases the advisory lock as well. */
    free(pending);
    free(list);
    PQfinish(pg);
    return false;
}

bool store_preflight(const char *conninfo, const char *migrations_dir,
                     char *err, size_t errlen)
{
    return migrate_run(conninfo, migrations_dir, NULL, err, errlen);
}

/* Writes a JSON value on one line to out; false when out fails. */
static bool put_json(FILE *out, json_t *v, char *err, size_t errlen)
{
    if (v == NULL || json_dumpf(v, out, JSON_COMPACT) != 0 || fputc('\n', out) == EOF) {
        snprintf(err, errlen, "cannot write the report");
        return false;
    }
    return true;
}

bool store_migrate(const char *conninfo, const char *migrations_dir, void *out_FILE, bool json,
                   char *err, size_t errlen)
{
    FILE *out = out_FILE;
    struct migrate_report rep = { .applied = json_array(), .recorded = json_array() };
    bool ok = false;

    if (rep.applied == NULL || rep.recorded == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!migrate_run(conninfo, migrations_dir, &rep, err, errlen))
        goto out;
    if (json) {
        json_t *doc = json_pack("{s:O, s:i, s:O}", "applied", rep.applied, "already_applied",
                                rep.already, "checksums_recorded", rep.recorded);
        ok = put_json(out, doc, err, errlen);
        json_decref(doc);
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(rep.applied, i, v)
        fprintf(out, "applied %s sha256=%s\n", json_string_value(json_object_get(v, "name")),
                json_string_value(json_object_get(v, "checksum")));
    json_array_foreach(rep.recorded, i, v)
        fprintf(out, "recorded the checksum of %s (applied before checksums were kept)\n",
                json_string_value(v));
    fprintf(out, "%zu migration%s applied now, %d applied before\n",
            json_array_size(rep.applied), json_array_size(rep.applied) == 1 ? "" : "s",
            rep.already);
    ok = fflush(out) == 0;
    if (!ok)
        snprintf(err, errlen, "cannot write the report");
out:
    json_decref(rep.applied);
    json_decref(rep.recorded);
    return ok;
}

/* Applied migrations as the database records them: version → row. */
static PGresult *applied_rows(PGconn *pg, char *err, size_t errlen)
{
    PGresult *res = PQexec(pg, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    bool exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                  PQgetvalue(res, 0, 0)[0] == 't';
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pq_err(err, errlen, "reading schema_migrations", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    /* Times for people are in Asia/Shanghai, like everything minyi shows. */
    res = PQexec(pg, exists
                         ? "SELECT version, name, to_jsonb(schema_migrations)->>'checksum',"
                           " to_char(applied_at AT TIME ZONE 'Asia/Shanghai',"
                           " 'YYYY-MM-DD HH24:MI:SS') FROM schema_migrations ORDER BY version"
                         : "SELECT 0, '', '', '' WHERE false");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pq_err(err, errlen, "reading schema_migrations", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

bool store_migrate_status(const char *conninfo, const char *migrations_dir, void *out_FILE,
                          bool json, char *err, size_t errlen)
{
    FILE *out = out_FILE;
    PGconn *pg = NULL;
    PGresult *res = NULL;
    struct migration *list = NULL;
    json_t *rows = json_array();
    size_t n = 0, i;
    bool ok = false;

    if (rows == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* The files first: a wrong directory is named even without a database. */
    if (!migrate_list(migrations_dir, &list, &n, err, errlen))
        goto out;
    pg = connect_checked(conninfo, err, errlen);
    if (pg == NULL)
        goto out;
    res = applied_rows(pg, err, errlen);
    if (res == NULL)
        goto out;
    int nrows = PQntuples(res), r = 0;
    /* Both lists are in version order: walk them side by side, so a row
     * whose file is gone shows up too. */
    for (i = 0; i < n || r < nrows;) {
        int fv = i < n ? list[i].version : -1;
        int rv = r < nrows ? atoi(PQgetvalue(res, r, 0)) : -1;
        char sum[MIGRATE_SUM_HEX + 1] = "";
        json_t *row;
        if (i < n && (r >= nrows || fv <= rv)) {
            if (!migrate_checksum_file(migrations_dir, list[i].name, sum, err, errlen))
                goto out;
        }
        if (i < n && (r >= nrows || fv < rv)) {
            row = json_pack("{s:i, s:s, s:s, s:s}", "version", fv, "name", list[i].name,
                            "state", "pending", "checksum", sum);
            i++;
        } else if (i < n && fv == rv) {
            const char *recorded = PQgetvalue(res, r, 2);
            const char *state = recorded[0] == '\0'           ? "applied-unchecked"
                                : strcmp(recorded, sum) == 0 ? "applied"
                                                             : "edited";
            row = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "version", fv, "name",
                            list[i].name, "state", state, "checksum", sum, "applied_checksum",
                            recorded, "applied_at", PQgetvalue(res, r, 3));
            i++;
            r++;
        } else {
            row = json_pack("{s:i, s:s, s:s, s:s, s:s}", "version", rv, "name",
                            PQgetvalue(res, r, 1), "state", "missing-file", "applied_checksum",
                            PQgetvalue(res, r, 2), "applied_at", PQgetvalue(res, r, 3));
            r++;
        }
        if (row == NULL || json_array_append_new(rows, row) != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    if (json) {
        json_t *doc = json_pack("{s:s, s:O}", "time_zone", "Asia/Shanghai", "migrations", rows);
        ok = put_json(out, doc, err, errlen);
        json_decref(doc);
        goto out;
    }
    json_t *v;
    json_array_foreach(rows, i, v) {
        const char *at = json_string_value(json_object_get(v, "applied_at"));
        const char *sum = json_string_value(json_object_get(v, "checksum"));
        const char *then = json_string_value(json_object_get(v, "applied_checksum"));
        fprintf(out, "%-40s %-17s %-19s sha256=%s", json_string_value(json_object_get(v, "name")),
                json_string_value(json_object_get(v, "state")), at != NULL ? at : "-",
                sum != NULL ? sum : "-");
        if (then != NULL && then[0] != '\0' && (sum == NULL || strcmp(then, sum) != 0))
            fprintf(out, " applied_sha256=%s", then);
        fputc('\n', out);
    }
    fprintf(out, "(times in Asia/Shanghai)\n");
    ok = fflush(out) == 0;
    if (!ok)
        snprintf(err, errlen, "cannot write the report");
out:
    json_decref(rows);
    PQclear(res);
    free(list);
    PQfinish(pg);
    return ok;
}
