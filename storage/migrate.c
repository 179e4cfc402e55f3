/*
 * migrate: the start-up check and the schema migrations (blocking libpq; run
 * before the event loop starts, or by `minyid migrate`).
 *
 * A migration is a file NNNN_name.sql in the migrations directory.  They are
 * applied in the order of their numbers, each in its own transaction
 * together with its row in schema_migrations, under an advisory lock so that
 * several gateways starting at once against one database apply each file
 * exactly once.
 */
#include "store.h"
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

/* Key of the advisory lock held while migrating ("minyi" in ASCII). */
#define MIGRATE_LOCK_KEY "469786601833"
#define MIGRATE_MAX_FILES 1000
#define MIGRATE_FILE_MAX (16u << 20)
#define MIGRATE_NAME_MAX 255

struct migration {
    int version;
    char name[MIGRATE_NAME_MAX + 1];
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

static int migration_cmp(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;

    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* NNNN_*.sql: four digits, an underscore, and ".sql" at the end. */
static bool migration_name(const char *name, int *version)
{
    size_t n = strlen(name);
    int i, v = 0;

    if (n < 9 || n > MIGRATE_NAME_MAX || name[4] != '_' || strcmp(name + n - 4, ".sql") != 0)
        return false;
    for (i = 0; i < 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (name[i] - '0');
    }
    *version = v;
    return true;
}

static bool list_migrations(const char *dir, struct migration **out, size_t *n_out,
                            char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct migration *list = NULL;
    size_t n = 0, i;

    if (!d) {
        snprintf(err, errlen, "cannot open migrations directory %s: %s", dir, strerror(errno));
        return false;
    }
    list = calloc(MIGRATE_MAX_FILES, sizeof *list);
    if (!list) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    while ((e = readdir(d)) != NULL) {
        int v;
        if (!migration_name(e->d_name, &v))
            continue;
        if (n == MIGRATE_MAX_FILES) {
            snprintf(err, errlen, "more than %d migrations in %s", MIGRATE_MAX_FILES, dir);
            goto fail;
        }
        list[n].version = v;
        snprintf(list[n].name, sizeof list[n].name, "%s", e->d_name);
        n++;
    }
    qsort(list, n, sizeof *list, migration_cmp);
    for (i = 1; i < n; i++) {
        if (list[i].version == list[i - 1].version) {
            snprintf(err, errlen, "two migrations numbered %04d: %s and %s", list[i].version,
                     list[i - 1].name, list[i].name);
            goto fail;
        }
    }
    closedir(d);
    *out = list;
    *n_out = n;
    return true;
fail:
    free(list);
    closedir(d);
    return false;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(MIGRATE_FILE_MAX + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    n = fread(buf, 1, MIGRATE_FILE_MAX + 1, f);
    if (ferror(f) || n > MIGRATE_FILE_MAX) {
        snprintf(err, errlen, "cannot read %s (or it is larger than %u bytes)", path,
                 MIGRATE_FILE_MAX);
        goto fail;
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

static bool is_applied(PGconn *pg, int version, bool *applied, char *err, size_t errlen)
{
    char v[16];
    const char *values[1] = { v };
    PGresult *res;

    snprintf(v, sizeof v, "%d", version);
    res = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1",
                       1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pq_err(err, errlen, "reading schema_migrations", PQresultErrorMessage(res));
        PQclear(res);
        return false;
    }
    *applied = PQntuples(res) > 0;
    PQclear(res);
    return true;
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
                      char *err, size_t errlen)
{
    char path[4096], v[16], what[512];
    const char *values[2] = { v, m->name };
    char *sql = NULL;
    PGresult *res = NULL;

    snprintf(path, sizeof path, "%s/%s", dir, m->name);
    snprintf(v, sizeof v, "%d", m->version);
    sql = read_file(path, err, errlen);
    if (!sql)
        return false;
    if (!exec_ok(pg, "BEGIN", err, errlen))
        goto fail;
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(what, sizeof what, "migration %s", m->name);
        pq_err(err, errlen, what, PQresultErrorMessage(res));
        goto fail;
    }
    PQclear(res);
    res = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                       2, NULL, values, NULL, NULL, 0);
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

bool store_preflight(const char *conninfo, const char *migrations_dir,
                     char *err, size_t errlen)
{
    PGconn *pg = PQconnectdb(conninfo);
    struct migration *list = NULL;
    size_t n = 0, i;

    if (PQstatus(pg) != CONNECTION_OK) {
        pq_err(err, errlen, "cannot connect to the database", PQerrorMessage(pg));
        goto fail;
    }
    PQsetNoticeProcessor(pg, store_pq_quiet, NULL);
    if (!setting_on(pg, "fsync", err, errlen) ||
        !setting_on(pg, "synchronous_commit", err, errlen))
        goto fail;
    if (!list_migrations(migrations_dir, &list, &n, err, errlen))
        goto fail;
    if (!exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen))
        goto fail;
    if (!exec_ok(pg,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version int PRIMARY KEY,"
                 " name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 err, errlen))
        goto fail;
    if (!schema_not_newer(pg, n ? list[n - 1].version : 0, err, errlen))
        goto fail;
    for (i = 0; i < n; i++) {
        bool applied;
        if (!is_applied(pg, list[i].version, &applied, err, errlen))
            goto fail;
        if (!applied && !apply_one(pg, migrations_dir, &list[i], err, errlen))
            goto fail;
    }
    if (!exec_ok(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", err, errlen))
        goto fail;
    free(list);
    PQfinish(pg);
    return true;
fail:
    /* Closing the session releases the advisory lock as well. */
    free(list);
    PQfinish(pg);
    return false;
}
