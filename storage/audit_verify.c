/*
 * audit_verify: verifying the audit chain, exporting it, and the heads the
 * chains below sent here as their witness (audit.h).
 */
#include "audit_int.h"
#include "hex.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#define AUDIT_LINE_MAX 512           /* bytes of the verdict line */
#define AUDIT_WITNESS_LINE_MAX 1024

/* ---- verifying ---------------------------------------------------------------- */

/* SELECT seq, source, ref_id, hash (hex), found, fields... over every
 * source, padded to AUDIT_FIELDS_MAX fields, in seq order; where is a
 * condition on c.seq ("" for all).  Returns a malloc'd statement. */
static char *chain_sql(const char *where)
{
    char *sql = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&sql, &n);

    if (!f)
        return NULL;
    for (size_t i = 0; i < AUDIT_N_SOURCES; i++) {
        const struct audit_source *s = &audit_sources[i];
        fprintf(f, "%sSELECT c.seq, c.source::text, c.ref_id, encode(c.hash, 'hex'),"
                   " t.id IS NOT NULL, %s",
                i ? " UNION ALL " : "", s->select);
        for (int k = s->nfields; k < AUDIT_FIELDS_MAX; k++)
            fputs(", NULL::text", f);
        fprintf(f, " FROM audit_chain c LEFT JOIN %s t ON t.id = c.ref_id WHERE c.source = '%c'%s",
                s->table, s->code, where);
    }
    fputs(" ORDER BY 1", f);
    if (fclose(f) != 0) {
        free(sql);
        return NULL;
    }
    return sql;
}

#define COL_FIELDS 5                 /* first field column of chain_sql's rows */

/* The first problem found, by sequence number. */
struct verdict {
    int64_t seq;                     /* 0: none */
    char what[AUDIT_LINE_MAX];
};

static void problem(struct verdict *v, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct verdict *v, int64_t seq, const char *fmt, ...)
{
    va_list ap;

    if (v->seq != 0 && v->seq <= seq)
        return;
    v->seq = seq;
    va_start(ap, fmt);
    vsnprintf(v->what, sizeof v->what, fmt, ap);
    va_end(ap);
}

/* When the row sealed at index i no longer hashes to its entry: was the
 * content that now stands under its id sealed elsewhere under another id
 * (rows swapped or moved)?  Answers that entry's index, or -1. */
static int sealed_elsewhere(const PGresult *res, int i, unsigned char (*stored)[AUDIT_HASH_LEN])
{
    const struct audit_source *s = audit_source_by_code(PQgetvalue(res, i, 1)[0]);
    const char *fields[AUDIT_FIELDS_MAX];
    static const unsigned char zero[AUDIT_HASH_LEN];
    unsigned char h[AUDIT_HASH_LEN];

    audit_row_fields(res, i, COL_FIELDS, s->nfields, fields);
    for (int j = 0; j < PQntuples(res); j++) {
        if (j == i || PQgetvalue(res, j, 1)[0] != s->code)
            continue;
        if (audit_chain_step(j ? stored[j - 1] : zero, s, fields, PQgetvalue(res, j, 2), h) &&
            memcmp(h, stored[j], AUDIT_HASH_LEN) == 0)
            return j;
    }
    return -1;
}

/* Walks the chain; computed[i] gets the recomputed hash of entry i up to
 * the first broken entry.  Answers how many entries verified. */
static int walk_chain(const PGresult *res, unsigned char (*stored)[AUDIT_HASH_LEN],
                      unsigned char (*computed)[AUDIT_HASH_LEN], struct verdict *v)
{
    unsigned char prev[AUDIT_HASH_LEN] = { 0 };
    int64_t last_ref[AUDIT_N_SOURCES] = { 0 };
    const char *fields[AUDIT_FIELDS_MAX];
    int n = PQntuples(res);

    for (int i = 0; i < n; i++) {
        int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        const struct audit_source *s = audit_source_by_code(PQgetvalue(res, i, 1)[0]);
        int64_t ref = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        size_t si = (size_t)(s - audit_sources);

        if (seq != i + 1) {
            problem(v, i + 1, "deleted: the chain entries %d to %" PRId64 " are missing", i + 1,
                    seq - 1);
            return i;
        }
        if (PQgetvalue(res, i, 4)[0] != 't') {
            problem(v, seq, "deleted: the %s row %" PRId64 " sealed here is missing", s->name,
                    ref);
            return i;
        }
        if (ref <= last_ref[si]) {
            problem(v, seq, "%s: the %s row %" PRId64 " is sealed after row %" PRId64,
                    ref == last_ref[si] ? "inserted" : "reordered", s->name, ref, last_ref[si]);
            return i;
        }
        audit_row_fields(res, i, COL_FIELDS, s->nfields, fields);
        if (!audit_chain_step(prev, s, fields, NULL, computed[i]))
            return i;
        if (memcmp(computed[i], stored[i], AUDIT_HASH_LEN) != 0) {
            int j = sealed_elsewhere(res, i, stored);
            if (j >= 0)
                problem(v, seq, "reordered: the %s row %" PRId64 " holds what was sealed at seq"
                        " %d as row %s", s->name, ref, j + 1, PQgetvalue(res, j, 2));
            else
                problem(v, seq, "changed: the %s row %" PRId64 " differs from what was sealed",
                        s->name, ref);
            return i;
        }
        memcpy(prev, computed[i], AUDIT_HASH_LEN);
        last_ref[si] = ref;
    }
    return n;
}

/* Rows below a source's high-water mark that the chain does not hold were
 * added after the sealer had passed their place. */
static bool find_inserted(PGconn *pg, struct verdict *v, char *err, size_t errlen)
{
    for (size_t i = 0; i < AUDIT_N_SOURCES; i++) {
        const struct audit_source *s = &audit_sources[i];
        char sql[1024], code[2] = { s->code, '\0' };
        PGresult *res;

        snprintf(sql, sizeof sql,
                 "SELECT t.id, (SELECT min(c.seq) FROM audit_chain c"
                 "               WHERE c.source = $1 AND c.ref_id > t.id)"
                 "  FROM %s t, audit_marks m"
                 " WHERE m.source = $1 AND t.id <= m.hwm AND NOT EXISTS"
                 "       (SELECT 1 FROM audit_chain c WHERE c.source = $1 AND c.ref_id = t.id)"
                 " ORDER BY t.id LIMIT 1", s->table);
        res = audit_query(pg, sql, 1, (const char *const[]){ code }, "looking for inserted rows",
                          err, errlen);
        if (!res)
            return false;
        if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 1))
            problem(v, strtoll(PQgetvalue(res, 0, 1), NULL, 10),
                    "inserted: the %s row %s is not in the chain, which sealed later rows",
                    s->name, PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    return true;
}

/* Compares a head (signed here, or held by the witness above) with the
 * recomputed chain. */
static void check_head(struct verdict *v, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN],
                       unsigned char (*computed)[AUDIT_HASH_LEN], int n_chain, int n_ok,
                       const char *whose)
{
    if (seq < 1)
        return;
    if (seq > n_chain) {
        problem(v, n_chain + 1, "deleted: %s holds seq %" PRId64 " beyond this chain's head",
                whose, seq);
        return;
    }
    if (seq <= n_ok && memcmp(computed[seq - 1], hash, AUDIT_HASH_LEN) != 0)
        problem(v, seq, "rewritten: the chain disagrees with %s at seq %" PRId64, whose, seq);
}

static bool check_signed_heads(PGconn *pg, EVP_PKEY *key, const char *region,
                               unsigned char (*computed)[AUDIT_HASH_LEN], int n_chain, int n_ok,
                               struct verdict *v, int *n_heads, char *err, size_t errlen)
{
    PGresult *res = audit_query(pg, "SELECT seq, encode(hash, 'hex'), encode(signature, 'hex')"
                                    " FROM audit_heads ORDER BY seq", 0, NULL, "reading the heads",
                                err, errlen);
    unsigned char hash[AUDIT_HASH_LEN], sig[AUDIT_SIG_MAX];

    if (!res)
        return false;
    *n_heads = PQntuples(res);
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (!hex_decode(PQgetvalue(res, i, 1), hash, AUDIT_HASH_LEN) ||
            !hex_decode(PQgetvalue(res, i, 2), sig, sizeof sig) ||
            (key && !audit_head_signature_ok(key, region, seq, hash, sig, sizeof sig))) {
            problem(v, seq, "bad signature: the head signed at seq %" PRId64
                    " does not verify with this instance's key", seq);
            continue;
        }
        check_head(v, seq, hash, computed, n_chain, n_ok, "the head signed here");
    }
    PQclear(res);
    return true;
}

/* Compares the heads the body above holds (path, JSON lines) with the
 * recomputed chain, and checks the signature each carries with key (this
 * instance's): a head the body above holds that this instance did not sign
 * was forged or altered there.  *n_unchecked counts the heads the body
 * above says it kept without checking them ("checked": false, migration
 * 0040: no audit key of this body was registered there). */
static bool check_witness(const char *path, EVP_PKEY *key, const char *region,
                          unsigned char (*computed)[AUDIT_HASH_LEN], int n_chain, int n_ok,
                          struct verdict *v, int *n_witnessed, int *n_unchecked, char *err,
                          size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[AUDIT_WITNESS_LINE_MAX];
    unsigned char hash[AUDIT_HASH_LEN];
    int lineno = 0;

    if (!f) {
        snprintf(err, errlen, "cannot open the witness file %s", path);
        return false;
    }
    *n_witnessed = 0;
    *n_unchecked = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        const char *hex = json_string_value(json_object_get(j, "hash"));
        json_t *seq = json_object_get(j, "seq");
        lineno++;
        if (!json_is_integer(seq) || !hex || !hex_decode(hex, hash, AUDIT_HASH_LEN)) {
            json_decref(j);
            fclose(f);
            snprintf(err, errlen, "%s line %d: expected {\"seq\": N, \"hash\": HEX, ...}", path,
                     lineno);
            return false;
        }
        const char *sig_hex = json_string_value(json_object_get(j, "signature"));
        unsigned char sig[AUDIT_SIG_MAX];
        bool unchecked = json_is_false(json_object_get(j, "checked"));
        *n_unchecked += unchecked;
        if (key != NULL && sig_hex != NULL &&
            (!hex_decode(sig_hex, sig, sizeof sig) ||
             !audit_head_signature_ok(key, region, json_integer_value(seq), hash, sig,
                                      sizeof sig)))
            problem(v, json_integer_value(seq), "bad signature: the witness above holds a head"
                    " at seq %" PRId64 " this instance's key did not sign%s",
                    (int64_t)json_integer_value(seq),
                    unchecked ? " (kept unchecked there: no audit key of this body registered)"
                              : "");
        else
            check_head(v, json_integer_value(seq), hash, computed, n_chain, n_ok,
                       "the witness above");
        (*n_witnessed)++;
        json_decref(j);
    }
    fclose(f);
    return true;
}

bool audit_verify(PGconn *pg, EVP_PKEY *key, const char *body_region, const char *witness_path,
                  FILE *out, struct audit_verdict *verdict, char *err, size_t errlen)
{
    char *sql = chain_sql("");
    PGresult *res = NULL;
    unsigned char (*stored)[AUDIT_HASH_LEN] = NULL, (*computed)[AUDIT_HASH_LEN] = NULL;
    struct verdict v = { 0 };
    int n = 0, n_ok, n_heads = 0, n_witnessed = 0, n_unchecked = 0;
    bool ok = false;

    memset(verdict, 0, sizeof *verdict);
    /* One snapshot for everything read. */
    if (!sql || !audit_run(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, "BEGIN",
                           err, errlen))
        goto fail;
    res = audit_query(pg, sql, 0, NULL, "reading the chain", err, errlen);
    if (!res)
        goto fail;
    n = PQntuples(res);
    stored = calloc((size_t)n + 1, AUDIT_HASH_LEN);
    computed = calloc((size_t)n + 1, AUDIT_HASH_LEN);
    if (!stored || !computed) {
        snprintf(err, errlen, "out of memory for %d chain entries", n);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        if (!hex_decode(PQgetvalue(res, i, 3), stored[i], AUDIT_HASH_LEN)) {
            snprintf(err, errlen, "the hash of seq %s is malformed", PQgetvalue(res, i, 0));
            goto fail;
        }
    }
    n_ok = walk_chain(res, stored, computed, &v);
    if (!find_inserted(pg, &v, err, errlen) ||
        !check_signed_heads(pg, key, body_region, computed, n, n_ok, &v, &n_heads, err, errlen) ||
        (witness_path && !check_witness(witness_path, key, body_region, computed, n, n_ok, &v,
                                        &n_witnessed, &n_unchecked, err, errlen)))
        goto fail;
    verdict->entries = n;
    verdict->broken_seq = v.seq;
    snprintf(verdict->what, sizeof verdict->what, "%s", v.what);
    if (v.seq != 0) {
        fprintf(out, "audit broken at seq %" PRId64 ": %s\n", v.seq, v.what);
    } else {
        char hex[2 * AUDIT_HASH_LEN + 1] = "";
        if (n > 0)
            hex_encode(computed[n - 1], AUDIT_HASH_LEN, hex);
        fprintf(out, "audit ok: %d entries, head seq %d hash %s, %d signed heads%s, %d witnessed",
                n, n, n ? hex : "-", n_heads, key ? "" : " (signatures not checked: no key)",
                n_witnessed);
        if (n_unchecked > 0)
            fprintf(out, " (%d of them kept unchecked above: no audit key of this body"
                    " registered there)", n_unchecked);
        fputc('\n', out);
    }
    ok = true;
fail:
    PQclear(PQexec(pg, "ROLLBACK"));
    PQclear(res);
    free(sql);
    free(stored);
    free(computed);
    return ok;
}

bool audit_check(PGconn *pg, EVP_PKEY *key, const char *body_region, struct audit_verdict *verdict,
                 char *err, size_t errlen)
{
    char *line = NULL;
    size_t len = 0;
    char entries_s[24], broken_s[24];
    FILE *out = open_memstream(&line, &len);
    bool ok;

    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    ok = audit_verify(pg, key, body_region, NULL, out, verdict, err, errlen);
    fclose(out);
    free(line);
    if (!ok)
        return false;
    snprintf(entries_s, sizeof entries_s, "%" PRId64, verdict->entries);
    snprintf(broken_s, sizeof broken_s, "%" PRId64, verdict->broken_seq);
    return audit_run(pg, "INSERT INTO audit_status (checked_at, entries, broken_seq, what)"
                         " VALUES (now(), $1, nullif($2::int8, 0), $3)"
                         " ON CONFLICT (one) DO UPDATE SET checked_at = excluded.checked_at,"
                         " entries = excluded.entries, broken_seq = excluded.broken_seq,"
                         " what = excluded.what",
                     3, (const char *const[]){ entries_s, broken_s, verdict->what },
                     "storing the chain's status", err, errlen);
}

/* ---- exporting ---------------------------------------------------------------- */

bool audit_export(PGconn *pg, int64_t from, int64_t to, FILE *out, char *err, size_t errlen)
{
    char from_s[24], to_s[24];
    char *sql = chain_sql(" AND c.seq >= $1 AND ($2 = 0 OR c.seq <= $2)");
    PGresult *res = NULL;
    bool ok = false;

    snprintf(from_s, sizeof from_s, "%" PRId64, from);
    snprintf(to_s, sizeof to_s, "%" PRId64, to);
    if (!sql)
        goto fail;
    res = audit_query(pg, sql, 2, (const char *const[]){ from_s, to_s }, "reading the chain", err,
                      errlen);
    if (!res)
        goto fail;
    for (int i = 0; i < PQntuples(res); i++) {
        const struct audit_source *s = audit_source_by_code(PQgetvalue(res, i, 1)[0]);
        json_t *j = json_object(), *fields = json_object();
        char *line;
        json_object_set_new(j, "seq", json_integer(strtoll(PQgetvalue(res, i, 0), NULL, 10)));
        json_object_set_new(j, "hash", json_string(PQgetvalue(res, i, 3)));
        json_object_set_new(j, "source", json_string(s->name));
        json_object_set_new(j, "ref_id", json_integer(strtoll(PQgetvalue(res, i, 2), NULL, 10)));
        json_object_set_new(j, "present", json_boolean(PQgetvalue(res, i, 4)[0] == 't'));
        for (int k = 0; k < s->nfields; k++)
            json_object_set_new(fields, s->field_names[k],
                                PQgetisnull(res, i, COL_FIELDS + k)
                                    ? json_null()
                                    : json_string(PQgetvalue(res, i, COL_FIELDS + k)));
        json_object_set_new(j, "fields", fields);
        line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!line) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        fprintf(out, "%s\n", line);
        free(line);
    }
    ok = true;
fail:
    PQclear(res);
    free(sql);
    return ok;
}

/* ---- witnessing the chains below ------------------------------------------------ */

bool audit_witness_export(PGconn *pg, int64_t peer, FILE *out, char *err, size_t errlen)
{
    char peer_s[24];
    PGresult *res;

    snprintf(peer_s, sizeof peer_s, "%" PRId64, peer);
    res = audit_query(pg,
                      "SELECT json_build_object('peer', peer, 'seq', seq,"
                      "       'hash', encode(hash, 'hex'),"
                      "       'signature', encode(signature, 'hex'), 'checked', checked,"
                      "       'received_at_ms',"
                      "       (extract(epoch FROM received_at) * 1000)::int8)::text"
                      "  FROM audit_witness WHERE $1 = 0 OR peer = $1 ORDER BY peer, seq",
                      1, (const char *const[]){ peer_s }, "reading the witnessed heads", err,
                      errlen);
    if (!res)
        return false;
    for (int i = 0; i < PQntuples(res); i++)
        fprintf(out, "%s\n", PQgetvalue(res, i, 0));
    PQclear(res);
    return true;
}
