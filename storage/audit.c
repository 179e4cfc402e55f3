/*
 * audit: sealing, verifying and exporting the audit chain (audit.h).
 */
#include "audit.h"
#include "hex.h"
#include "store_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define AUDIT_FIELDS_MAX 13          /* fields of the widest source (events) */
#define AUDIT_HEAD_DOMAIN "minyi-audit-head-v1"
#define AUDIT_HEAD_MSG_LEN (sizeof(AUDIT_HEAD_DOMAIN) + 6 + 8 + AUDIT_HASH_LEN)
#define AUDIT_SIG_MAX 64             /* bytes of an Ed25519 signature */
#define AUDIT_NULL_LEN 0xffffffffu   /* the length that marks a NULL field */
#define AUDIT_LINE_MAX 512           /* bytes of the verdict line */
#define AUDIT_WITNESS_LINE_MAX 1024

/* Microseconds since the epoch, as text: the one form of a time in the chain. */
#define US(col) "((extract(epoch FROM " col ") * 1000000)::int8)::text"

/* A table whose rows are sealed.  select lists the fields of canonical(),
 * each as text, from the table aliased t; the first is always the id. */
struct audit_source {
    char code;
    const char *name;
    const char *table;
    int nfields;
    const char *const *field_names;
    const char *select;
};

static const char *const report_fields[] = {
    "id", "receipt", "principal_id", "client_report_id", "payload_sha256", "region",
    "received_at_us",
};
static const char *const event_fields[] = {
    "id", "report_id", "actor", "action", "state", "note", "at_us", "body_name",
    "body_region", "instruction", "instruction_level", "destination", "dest_receipt",
};
static const char *const admin_fields[] = {
    "id", "actor", "action", "subject", "note", "at_us",
};

/* The intake of a report is sealed by the columns it never changes later:
 * an edit or a resubmission is an event of its own, and erasing personal
 * fields (sealed elsewhere) leaves these alone, so the chain still verifies. */
static const struct audit_source sources[] = {
    { 'r', "report", "reports", 7, report_fields,
      "t.id::text, t.receipt, t.principal_id::text, t.client_report_id::text,"
      " encode(t.payload_sha256, 'hex'), t.region::text, " US("t.received_at") },
    { 'e', "event", "events", 13, event_fields,
      "t.id::text, t.report_id::text, t.actor::text, t.action, t.state, t.note, " US("t.at")
      ", t.body_name, t.body_region::text, t.instruction, t.instruction_level,"
      " t.destination, t.dest_receipt" },
    { 'a', "admin", "admin_events", 6, admin_fields,
      "t.id::text, t.actor, t.action, t.subject, t.note, " US("t.at") },
};
#define N_SOURCES (sizeof sources / sizeof sources[0])

static const struct audit_source *source_by_code(char code)
{
    for (size_t i = 0; i < N_SOURCES; i++)
        if (sources[i].code == code)
            return &sources[i];
    return NULL;
}

static void res_err(char *err, size_t errlen, const char *what, const PGresult *res)
{
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    snprintf(err, errlen, "%s: %s", what, m ? m : PQresultErrorMessage(res));
}

/* Runs a command with text parameters; false with the reason in err. */
static bool run(PGconn *pg, const char *sql, int n, const char *const *v, const char *what,
                char *err, size_t errlen)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

    if (!ok)
        res_err(err, errlen, what, res);
    PQclear(res);
    return ok;
}

static PGresult *query(PGconn *pg, const char *sql, int n, const char *const *v,
                       const char *what, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);

    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    res_err(err, errlen, what, res);
    PQclear(res);
    return NULL;
}

/* hash = SHA-256(0x00 || prev || canonical(row)); fields[0] (the id) is
 * replaced by id_override when that is not NULL. */
static bool chain_step(const unsigned char prev[AUDIT_HASH_LEN], const struct audit_source *s,
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
        unsigned char be[4] = { (unsigned char)(l >> 24), (unsigned char)(l >> 16),
                                (unsigned char)(l >> 8), (unsigned char)l };
        ok = EVP_DigestUpdate(md, be, 4) == 1 && (len == 0 || EVP_DigestUpdate(md, f, len) == 1);
    }
    ok = ok && EVP_DigestFinal_ex(md, out, &n) == 1 && n == AUDIT_HASH_LEN;
    EVP_MD_CTX_free(md);
    return ok;
}

/* The fields of row r of res starting at column col (NULL for SQL NULL). */
static void row_fields(const PGresult *res, int r, int col, int n, const char **out)
{
    for (int i = 0; i < n; i++)
        out[i] = PQgetisnull(res, r, col + i) ? NULL : PQgetvalue(res, r, col + i);
}

static bool hex_to_hash(const char *hex, unsigned char out[AUDIT_HASH_LEN])
{
    return hex_decode(hex, out, AUDIT_HASH_LEN);
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

static bool head_sign(EVP_PKEY *key, const char *region, int64_t seq,
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

static bool head_signature_ok(EVP_PKEY *key, const char *region, int64_t seq,
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

    marks = query(pg, "SELECT hwm, pend_id, pend_xmax::text FROM audit_marks WHERE source = $1",
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
    } else if (pending && sn->xmin >= pend_xmax) {
        final_upto = pend_id;
        pending = pend_has_xmax = false;
    }

    snprintf(sql, sizeof sql, "SELECT %s FROM %s t WHERE t.id > $1 ORDER BY t.id LIMIT $2",
             s->select, s->table);
    snprintf(hwm_s, sizeof hwm_s, "%" PRId64, hwm);
    snprintf(limit, sizeof limit, "%d", batch_max);
    rows = query(pg, sql, 2, (const char *const[]){ hwm_s, limit }, "reading rows to seal", err,
                 errlen);
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
        row_fields(rows, r, 0, s->nfields, fields);
        if (!chain_step(prev, s, fields, NULL, prev)) {
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
    ok = run(pg, "UPDATE audit_marks SET hwm = $2, pend_id = $3, pend_xmax = $4::xid8"
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

    if (!head_sign(cfg->key, cfg->body_region, seq, hash, sig, &siglen)) {
        snprintf(err, errlen, "cannot sign the audit head");
        return false;
    }
    snprintf(seq_s, sizeof seq_s, "%" PRId64, seq);
    hex_encode(hash, AUDIT_HASH_LEN, hash_hex);
    hex_encode(sig, siglen, sig_hex);
    return run(pg, "INSERT INTO audit_heads (seq, hash, signature)"
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
    if (!run(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL, "BEGIN", err, errlen))
        goto fail;
    began = true;
    res = query(pg, "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text"
                    " FROM pg_current_snapshot() s", 0, NULL, "reading the snapshot", err, errlen);
    if (!res)
        goto fail;
    sn.xmin = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    sn.xmax = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    res = query(pg, "SELECT seq, encode(hash, 'hex') FROM audit_chain ORDER BY seq DESC LIMIT 1",
                0, NULL, "reading the chain head", err, errlen);
    if (!res)
        goto fail;
    if (PQntuples(res) == 1) {
        seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (!hex_to_hash(PQgetvalue(res, 0, 1), prev)) {
            snprintf(err, errlen, "the chain head's hash is malformed");
            goto fail;
        }
    }
    for (size_t i = 0; i < N_SOURCES; i++)
        if (!seal_source(pg, &sources[i], &sn, cfg->batch_max, &b, &seq, prev, err, errlen))
            goto fail;
    *sealed = b.count;
    if (!batch_close(&b)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (*sealed > 0 &&
        !run(pg, "INSERT INTO audit_chain (seq, source, ref_id, hash)"
                 " SELECT s, c::\"char\", r, decode(h, 'hex')"
                 " FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[]) AS u(s, c, r, h)",
             4, (const char *const[]){ b.seq_s, b.src_s, b.ref_s, b.hash_s },
             "appending to the chain", err, errlen))
        goto fail;
    sign = cfg->key && seq > st->signed_seq &&
           (seq - st->signed_seq >= cfg->sign_every ||
            now_ms - st->signed_at_ms >= cfg->sign_interval_ms);
    if (sign && !store_head(pg, cfg, seq, prev, err, errlen))
        goto fail;
    if (!run(pg, "COMMIT", 0, NULL, "COMMIT", err, errlen))
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
    for (size_t i = 0; i < N_SOURCES; i++) {
        const struct audit_source *s = &sources[i];
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
    const struct audit_source *s = source_by_code(PQgetvalue(res, i, 1)[0]);
    const char *fields[AUDIT_FIELDS_MAX];
    static const unsigned char zero[AUDIT_HASH_LEN];
    unsigned char h[AUDIT_HASH_LEN];

    row_fields(res, i, COL_FIELDS, s->nfields, fields);
    for (int j = 0; j < PQntuples(res); j++) {
        if (j == i || PQgetvalue(res, j, 1)[0] != s->code)
            continue;
        if (chain_step(j ? stored[j - 1] : zero, s, fields, PQgetvalue(res, j, 2), h) &&
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
    int64_t last_ref[N_SOURCES] = { 0 };
    const char *fields[AUDIT_FIELDS_MAX];
    int n = PQntuples(res);

    for (int i = 0; i < n; i++) {
        int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        const struct audit_source *s = source_by_code(PQgetvalue(res, i, 1)[0]);
        int64_t ref = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        size_t si = (size_t)(s - sources);

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
        row_fields(res, i, COL_FIELDS, s->nfields, fields);
        if (!chain_step(prev, s, fields, NULL, computed[i]))
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
    for (size_t i = 0; i < N_SOURCES; i++) {
        const struct audit_source *s = &sources[i];
        char sql[1024], code[2] = { s->code, '\0' };
        PGresult *res;

        snprintf(sql, sizeof sql,
                 "SELECT t.id, (SELECT min(c.seq) FROM audit_chain c"
                 "               WHERE c.source = $1 AND c.ref_id > t.id)"
                 "  FROM %s t, audit_marks m"
                 " WHERE m.source = $1 AND t.id <= m.hwm AND NOT EXISTS"
                 "       (SELECT 1 FROM audit_chain c WHERE c.source = $1 AND c.ref_id = t.id)"
                 " ORDER BY t.id LIMIT 1", s->table);
        res = query(pg, sql, 1, (const char *const[]){ code }, "looking for inserted rows", err,
                    errlen);
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
    PGresult *res = query(pg, "SELECT seq, encode(hash, 'hex'), encode(signature, 'hex')"
                              " FROM audit_heads ORDER BY seq", 0, NULL, "reading the heads",
                          err, errlen);
    unsigned char hash[AUDIT_HASH_LEN], sig[AUDIT_SIG_MAX];

    if (!res)
        return false;
    *n_heads = PQntuples(res);
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (!hex_to_hash(PQgetvalue(res, i, 1), hash) ||
            !hex_decode(PQgetvalue(res, i, 2), sig, sizeof sig) ||
            (key && !head_signature_ok(key, region, seq, hash, sig, sizeof sig))) {
            problem(v, seq, "bad signature: the head signed at seq %" PRId64
                    " does not verify with this instance's key", seq);
            continue;
        }
        check_head(v, seq, hash, computed, n_chain, n_ok, "the head signed here");
    }
    PQclear(res);
    return true;
}

static bool check_witness(const char *path, unsigned char (*computed)[AUDIT_HASH_LEN],
                          int n_chain, int n_ok, struct verdict *v, int *n_witnessed, char *err,
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
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        const char *hex = json_string_value(json_object_get(j, "hash"));
        json_t *seq = json_object_get(j, "seq");
        lineno++;
        if (!json_is_integer(seq) || !hex || !hex_to_hash(hex, hash)) {
            json_decref(j);
            fclose(f);
            snprintf(err, errlen, "%s line %d: expected {\"seq\": N, \"hash\": HEX, ...}", path,
                     lineno);
            return false;
        }
        check_head(v, json_integer_value(seq), hash, computed, n_chain, n_ok,
                   "the witness above");
        (*n_witnessed)++;
        json_decref(j);
    }
    fclose(f);
    return true;
}

bool audit_verify(PGconn *pg, EVP_PKEY *key, const char *body_region, const char *witness_path,
                  FILE *out, bool *broken, char *err, size_t errlen)
{
    char *sql = chain_sql("");
    PGresult *res = NULL;
    unsigned char (*stored)[AUDIT_HASH_LEN] = NULL, (*computed)[AUDIT_HASH_LEN] = NULL;
    struct verdict v = { 0 };
    int n = 0, n_ok, n_heads = 0, n_witnessed = 0;
    bool ok = false;

    *broken = false;
    /* One snapshot for everything read. */
    if (!sql || !run(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, "BEGIN",
                     err, errlen))
        goto fail;
    res = query(pg, sql, 0, NULL, "reading the chain", err, errlen);
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
        if (!hex_to_hash(PQgetvalue(res, i, 3), stored[i])) {
            snprintf(err, errlen, "the hash of seq %s is malformed", PQgetvalue(res, i, 0));
            goto fail;
        }
    }
    n_ok = walk_chain(res, stored, computed, &v);
    if (!find_inserted(pg, &v, err, errlen) ||
        !check_signed_heads(pg, key, body_region, computed, n, n_ok, &v, &n_heads, err, errlen) ||
        (witness_path && !check_witness(witness_path, computed, n, n_ok, &v, &n_witnessed, err,
                                        errlen)))
        goto fail;
    if (v.seq != 0) {
        *broken = true;
        fprintf(out, "audit broken at seq %" PRId64 ": %s\n", v.seq, v.what);
    } else {
        char hex[2 * AUDIT_HASH_LEN + 1] = "";
        if (n > 0)
            hex_encode(computed[n - 1], AUDIT_HASH_LEN, hex);
        fprintf(out, "audit ok: %d entries, head seq %d hash %s, %d signed heads%s, %d witnessed\n",
                n, n, n ? hex : "-", n_heads, key ? "" : " (signatures not checked: no key)",
                n_witnessed);
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
    res = query(pg, sql, 2, (const char *const[]){ from_s, to_s }, "reading the chain", err,
                errlen);
    if (!res)
        goto fail;
    for (int i = 0; i < PQntuples(res); i++) {
        const struct audit_source *s = source_by_code(PQgetvalue(res, i, 1)[0]);
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
    res = query(pg,
                "SELECT json_build_object('peer', peer, 'seq', seq, 'hash', encode(hash, 'hex'),"
                "       'signature', encode(signature, 'hex'), 'received_at_ms',"
                "       (extract(epoch FROM received_at) * 1000)::int8)::text"
                "  FROM audit_witness WHERE $1 = 0 OR peer = $1 ORDER BY peer, seq",
                1, (const char *const[]){ peer_s }, "reading the witnessed heads", err, errlen);
    if (!res)
        return false;
    for (int i = 0; i < PQntuples(res); i++)
        fprintf(out, "%s\n", PQgetvalue(res, i, 0));
    PQclear(res);
    return true;
}
