/*
 * audit_seal: one round of the sealer (audit.h): the committed rows not
 * sealed yet are chained, the head stored and, when due, signed.
 */
#include "audit_int.h"
#include "hex.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* ---- sealing ---------------------------------------------------------------- */

/* The rows one round seals, as the text arrays of the INSERT. */
struct seal_batch {
    FILE *seq, *src, *ref, *hash;
    char *seq_s, *src_s, *ref_s, *hash_s;
    size_t seq_n, src_n, ref_n, hash_n;
    int count;
};

static bool batch_open(struct seal_batch *b)
{
    memset(b, 0, sizeof *b);
    b->seq = open_memstream(&b->seq_s, &b->seq_n);
    b->src = open_memstream(&b->src_s, &b->src_n);
    b->ref = open_memstream(&b->ref_s, &b->ref_n);
    b->hash = open_memstream(&b->hash_s, &b->hash_n);
    return b->seq && b->src && b->ref && b->hash;
}

static void batch_add(struct seal_batch *b, int64_t seq, char code, const char *ref,
                      const unsigned char hash[AUDIT_HASH_LEN])
{
    char hex[2 * AUDIT_HASH_LEN + 1];
    const char *sep = b->count ? "," : "{";

    hex_encode(hash, AUDIT_HASH_LEN, hex);
    fprintf(b->seq, "%s%" PRId64, sep, seq);
    fprintf(b->src, "%s%c", sep, code);
    fprintf(b->ref, "%s%s", sep, ref);
    fprintf(b->hash, "%s%s", sep, hex);
    b->count++;
}

static bool batch_close(struct seal_batch *b)
{
    bool ok = true;
    FILE **f[] = { &b->seq, &b->src, &b->ref, &b->hash };

    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (*f[i] == NULL)
            continue;
        if (b->count)
            fputc('}', *f[i]);
        ok = fclose(*f[i]) == 0 && ok;
        *f[i] = NULL;
    }
    return ok;
}

static void batch_free(struct seal_batch *b)
{
    (void)batch_close(b);
    free(b->seq_s);
    free(b->src_s);
    free(b->ref_s);
    free(b->hash_s);
}

/* The snapshot's bounds: transactions below xmin have ended; those at or
 * above xmax had not started. */
struct snap {
    uint64_t xmin, xmax;
};

/* Whether a transaction that might still fill a gap in table s is
 * running: one that holds a write lock on the table (every INSERT takes
 * RowExclusiveLock, held to the end of its transaction) and whose xid is
 * older than pend_xmax.  Transactions that never write the table cannot
 * fill a gap in it, so a session idle in a long transaction elsewhere (an
 * operator's psql, autovacuum's ANALYZE, a report tool) no longer holds the
 * chain back as the snapshot's xmin alone did.  Locks are matched by
 * virtual transaction, which also covers prepared transactions. */
static bool writers_running(PGconn *pg, const struct audit_source *s, uint64_t pend_xmax,
                            bool *running, char *err, size_t errlen)
{
    char xmax_s[24];
    PGresult *res;

    snprintf(xmax_s, sizeof xmax_s, "%" PRIu64, pend_xmax);
    res = audit_query(pg,
                      "SELECT EXISTS (SELECT 1 FROM pg_locks r JOIN pg_locks x"
                      "   ON x.virtualtransaction = r.virtualtransaction"
                      "  AND x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock' AND x.granted"
                      " WHERE r.locktype = 'relation' AND r.relation = $1::regclass"
                      "   AND r.database = (SELECT oid FROM pg_database"
                      "                      WHERE datname = current_database())"
                      "   AND r.mode = 'RowExclusiveLock' AND r.granted"
                      "   AND r.pid IS DISTINCT FROM pg_backend_pid()"
                      "   AND age(x.transactionid) > age(xid($2::xid8)))",
                      2, (const char *const[]){ s->table, xmax_s }, "reading the table's writers",
                      err, errlen);
    if (!res)
        return false;
    *running = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return true;
}

/* Seals the next rows of one source into b, advancing *seq and prev, and
 * moves the source's marks (see 0019_audit.sql for the rule on gaps). */
static bool seal_source(PGconn *pg, const struct audit_source *s, const struct snap *sn,
                        int batch_max, struct seal_batch *b, int64_t *seq,
                        unsigned char prev[AUDIT_HASH_LEN], char *err, size_t errlen)
{
    char sql[1024], code[2] = { s->code, '\0' }, limit[16], hwm_s[24], pend_s[24], xmax_s[24];
    const char *fields[AUDIT_FIELDS_MAX];
    PGresult *marks = NULL, *rows = NULL;
    bool ok = false;
    int64_t hwm, hwm_was, final_upto, pend_id = 0, pend_id_was;
    uint64_t pend_xmax = 0, pend_xmax_was;
    bool pending, pend_has_xmax, pending_was, has_xmax_was;

    marks = audit_query(pg,
                        "SELECT hwm, pend_id, pend_xmax::text FROM audit_marks WHERE source = $1",
                        1, (const char *const[]){ code }, "reading the audit marks", err, errlen);
    if (!marks)
        goto fail;
    if (PQntuples(marks) != 1) {
        snprintf(err, errlen, "audit_marks has no row for source %c", s->code);
        goto fail;
    }
    hwm = strtoll(PQgetvalue(marks, 0, 0), NULL, 10);
    pending = !PQgetisnull(marks, 0, 1);
    pend_has_xmax = !PQgetisnull(marks, 0, 2);
    if (pending)
        pend_id = strtoll(PQgetvalue(marks, 0, 1), NULL, 10);
    if (pend_has_xmax)
        pend_xmax = strtoull(PQgetvalue(marks, 0, 2), NULL, 10);
    hwm_was = hwm;
    pending_was = pending;
    has_xmax_was = pend_has_xmax;
    pend_id_was = pend_id;
    pend_xmax_was = pend_xmax;

    final_upto = hwm;
    if (pending && !pend_has_xmax) {
        /* A round after the gap was seen: every transaction that drew an
         * id up to pend_id has its xid by now, below this xmax. */
        pend_xmax = sn->xmax;
        pend_has_xmax = true;
    } else if (pending) {
        bool running = false;
        if (sn->xmin < pend_xmax && !writers_running(pg, s, pend_xmax, &running, err, errlen))
            goto fail;
        if (!running) {
            final_upto = pend_id;
            pending = pend_has_xmax = false;
        }
    }

    snprintf(sql, sizeof sql, "SELECT %s FROM %s t WHERE t.id > $1 ORDER BY t.id LIMIT $2",
             s->select, s->table);
    snprintf(hwm_s, sizeof hwm_s, "%" PRId64, hwm);
    snprintf(limit, sizeof limit, "%d", batch_max);
    rows = audit_query(pg, sql, 2, (const char *const[]){ hwm_s, limit }, "reading rows to seal",
                       err, errlen);
    if (!rows)
        goto fail;
    for (int r = 0; r < PQntuples(rows); r++) {
        int64_t id = strtoll(PQgetvalue(rows, r, 0), NULL, 10);
        if (id != hwm + 1 && id - 1 > final_upto) {
            /* A gap that may still fill: wait at it. */
            if (!pending) {
                pend_id = strtoll(PQgetvalue(rows, PQntuples(rows) - 1, 0), NULL, 10);
                pending = true;
                pend_has_xmax = false;
            }
            break;
        }
        audit_row_fields(rows, r, 0, s->nfields, fields);
        if (!audit_chain_step(prev, s, fields, NULL, prev)) {
            snprintf(err, errlen, "cannot hash");
            goto fail;
        }
        batch_add(b, ++*seq, s->code, PQgetvalue(rows, r, 0), prev);
        hwm = id;
    }

    /* An idle round changes nothing and writes nothing: no row version, no
     * WAL, no commit to wait for, however often the sealer looks. */
    if (hwm == hwm_was && pending == pending_was && pend_has_xmax == has_xmax_was &&
        pend_id == pend_id_was && pend_xmax == pend_xmax_was) {
        ok = true;
        goto fail;
    }
    snprintf(hwm_s, sizeof hwm_s, "%" PRId64, hwm);
    snprintf(pend_s, sizeof pend_s, "%" PRId64, pend_id);
    snprintf(xmax_s, sizeof xmax_s, "%" PRIu64, pend_xmax);
    ok = audit_run(pg, "UPDATE audit_marks SET hwm = $2, pend_id = $3, pend_xmax = $4::xid8"
                       " WHERE source = $1", 4,
                   (const char *const[]){ code, hwm_s, pending ? pend_s : NULL,
                                          pending && pend_has_xmax ? xmax_s : NULL },
                   "moving the audit marks", err, errlen);
fail:
    PQclear(marks);
    PQclear(rows);
    return ok;
}

static bool store_head(PGconn *pg, const struct audit_seal_config *cfg, int64_t seq,
                       const unsigned char hash[AUDIT_HASH_LEN], char *err, size_t errlen)
{
    unsigned char sig[AUDIT_SIG_MAX];
    size_t siglen = sizeof sig;
    char seq_s[24], hash_hex[2 * AUDIT_HASH_LEN + 1], sig_hex[2 * AUDIT_SIG_MAX + 1];

    if (!audit_head_sign(cfg->key, cfg->body_region, seq, hash, sig, &siglen)) {
        snprintf(err, errlen, "cannot sign the audit head");
        return false;
    }
    snprintf(seq_s, sizeof seq_s, "%" PRId64, seq);
    hex_encode(hash, AUDIT_HASH_LEN, hash_hex);
    hex_encode(sig, siglen, sig_hex);
    return audit_run(pg, "INSERT INTO audit_heads (seq, hash, signature)"
                         " VALUES ($1, decode($2, 'hex'), decode($3, 'hex'))",
                     3, (const char *const[]){ seq_s, hash_hex, sig_hex }, "storing the head", err,
                     errlen);
}

bool audit_seal_round(PGconn *pg, const struct audit_seal_config *cfg,
                      struct audit_sealer_state *st, int64_t now_ms, int *sealed,
                      char *err, size_t errlen)
{
    unsigned char prev[AUDIT_HASH_LEN] = { 0 };
    int64_t seq = 0;
    struct snap sn;
    struct seal_batch b;
    PGresult *res = NULL;
    bool ok = false, began = false, sign;

    *sealed = 0;
    if (!batch_open(&b)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* One snapshot for the whole round: the rows read and the bounds of the
     * transactions they came from must agree. */
    if (!audit_run(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL, "BEGIN", err, errlen))
        goto fail;
    began = true;
    res = audit_query(pg, "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text"
                          " FROM pg_current_snapshot() s",
                      0, NULL, "reading the snapshot", err, errlen);
    if (!res)
        goto fail;
    sn.xmin = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    sn.xmax = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    res = audit_query(pg,
                      "SELECT seq, encode(hash, 'hex') FROM audit_chain ORDER BY seq DESC LIMIT 1",
                      0, NULL, "reading the chain head", err, errlen);
    if (!res)
        goto fail;
    if (PQntuples(res) == 1) {
        seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (!hex_decode(PQgetvalue(res, 0, 1), prev, AUDIT_HASH_LEN)) {
            snprintf(err, errlen, "the chain head's hash is malformed");
            goto fail;
        }
    }
    for (size_t i = 0; i < AUDIT_N_SOURCES; i++)
        if (!seal_source(pg, &audit_sources[i], &sn, cfg->batch_max, &b, &seq, prev, err, errlen))
            goto fail;
    *sealed = b.count;
    if (!batch_close(&b)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (*sealed > 0 &&
        !audit_run(pg, "INSERT INTO audit_chain (seq, source, ref_id, hash)"
                       " SELECT s, c::\"char\", r, decode(h, 'hex')"
                       " FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[])"
                       " AS u(s, c, r, h)",
                   4, (const char *const[]){ b.seq_s, b.src_s, b.ref_s, b.hash_s },
                   "appending to the chain", err, errlen))
        goto fail;
    sign = cfg->key && seq > st->signed_seq &&
           (seq - st->signed_seq >= cfg->sign_every ||
            now_ms - st->signed_at_ms >= cfg->sign_interval_ms);
    if (sign && !store_head(pg, cfg, seq, prev, err, errlen))
        goto fail;
    if (!audit_run(pg, "COMMIT", 0, NULL, "COMMIT", err, errlen))
        goto fail;
    began = false;
    if (sign) {
        st->signed_seq = seq;
        st->signed_at_ms = now_ms;
    }
    ok = true;
fail:
    if (began)
        PQclear(PQexec(pg, "ROLLBACK"));
    PQclear(res);
    batch_free(&b);
    return ok;
}
