/*
 * batch: stores queued submissions, many per transaction.
 *
 * When a connection is idle and submissions wait, up to batch_max of them
 * become one call of minyi_submit_batch() (storage/migrations), which inserts
 * reports and their attachments in one implicit transaction: one round
 * trip, one prepared statement, the rows as parallel binary arrays.  (A
 * report's history begins with its reports row, not with an event: see
 * 0012_intake_no_event.sql.)  Personal fields are sealed on the way into the
 * arrays, each report's under a fresh data key that goes into the same
 * statement wrapped under the master key (storage/pii.h).
 *
 * Two submissions with the same (principal, client_report_id) in one batch
 * go to the database as one row; both get its answer.  The same pair in two
 * batches on two connections is settled by the unique index: the second
 * INSERT waits for the first transaction and then skips the row, and the
 * function's second statement reads the committed receipt.
 *
 * When the statement fails in the database, every row of the batch goes back
 * to the front of the queue marked `solo`, to be stored alone, so a bad row
 * costs only itself.  A solo row that fails is answered INTERNAL with the
 * database's message (UNAVAILABLE when the SQLSTATE says the failure is
 * transient).
 *
 * Once a batch has committed, the receipts it stored go to the listening
 * gateways (batch_notify.c).
 */
#include "clock.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hex.h"
#include "pii.h"

/* Positions of the arrays in conn->arr, in the order of the parameters of
 * minyi_submit_batch() (parameter 1 is the body region, 19 the key version). */
enum {
    A_PRINCIPAL, A_CRID, A_SHA, A_TITLE, A_SITUATION, A_ANALYSIS, A_SUGGESTIONS,
    A_CATEGORY, A_URGENCY, A_RNAME, A_RNAME_ENC, A_RUNIT, A_RKIND, A_RSECTOR,
    A_REGION, A_PHONE_ENC, A_DEK,
    A_ATT_ORD, A_ATT_IDX, A_ATT_NAME, A_ATT_TYPE, A_ATT_SHA, A_ATT_CONTENT,
};

static const uint32_t arr_oids[BATCH_NARRAYS] = {
    [A_PRINCIPAL] = PG_OID_INT8, [A_CRID] = PG_OID_UUID, [A_SHA] = PG_OID_BYTEA,
    [A_TITLE] = PG_OID_TEXT, [A_SITUATION] = PG_OID_TEXT, [A_ANALYSIS] = PG_OID_TEXT,
    [A_SUGGESTIONS] = PG_OID_TEXT, [A_CATEGORY] = PG_OID_INT2, [A_URGENCY] = PG_OID_INT2,
    [A_RNAME] = PG_OID_TEXT, [A_RNAME_ENC] = PG_OID_BYTEA, [A_RUNIT] = PG_OID_TEXT,
    [A_RKIND] = PG_OID_INT2, [A_RSECTOR] = PG_OID_TEXT, [A_REGION] = PG_OID_TEXT,
    [A_PHONE_ENC] = PG_OID_BYTEA, [A_DEK] = PG_OID_BYTEA,
    [A_ATT_ORD] = PG_OID_INT4, [A_ATT_IDX] = PG_OID_INT2, [A_ATT_NAME] = PG_OID_TEXT,
    [A_ATT_TYPE] = PG_OID_TEXT, [A_ATT_SHA] = PG_OID_BYTEA, [A_ATT_CONTENT] = PG_OID_BYTEA,
};

#define SHA_HEX_PREFIX "\\x"   /* bytea's text form: "\x" and 64 hex digits */

/* Random bytes each report takes: its data key, and the nonce that wraps
 * the key under the master key. */
#define BATCH_RAND_PER_ROW (PII_KEY_LEN + PII_NONCE_LEN)

static void batch_finish(struct store_conn *c);

static bool add_text(struct pgarr *a, const char *s)
{
    return pgarr_add(a, s, strlen(s));
}

static bool add_sealed(struct pgarr *a, struct pii_sealer *sealer, const char *aad,
                       const char *pt)
{
    size_t len = strlen(pt);
    uint8_t *p = pgarr_add_space(a, pii_sealed_len(len));

    return p && pii_sealer_seal(sealer, aad, (const uint8_t *)pt, len, p);
}

/* Draws the random bytes of up to `rows` reports with one RAND_bytes call.
 * Each call costs far more than its bytes (a getpid system call to notice a
 * fork, and the generator's lock): two of them per report were a tenth of
 * the gateway's CPU under intake.  With rand_len 0 after a failure, each
 * report asks again in take_random. */
static void rand_draw(struct store_conn *c, size_t rows)
{
    size_t len = rows * BATCH_RAND_PER_ROW;

    if (len > c->rand_cap)
        len = c->rand_cap - c->rand_cap % BATCH_RAND_PER_ROW;
    c->rand_used = 0;
    c->rand_len = len > 0 && RAND_bytes(c->rand, (int)len) == 1 ? len : 0;
}

/* The batch is built (or abandoned): the data keys and nonces it drew are
 * wiped, and no byte is ever handed out twice. */
static void rand_forget(struct store_conn *c)
{
    OPENSSL_cleanse(c->rand, c->rand_len);
    c->rand_len = c->rand_used = 0;
}

/* A report's share of the drawn bytes, drawing again when they ran out. */
static const uint8_t *take_random(struct store_conn *c)
{
    const uint8_t *p;

    if (c->rand_used + BATCH_RAND_PER_ROW > c->rand_len) {
        OPENSSL_cleanse(c->rand, c->rand_len);
        rand_draw(c, c->rand_cap / BATCH_RAND_PER_ROW);
        if (c->rand_len == 0)
            return NULL;
    }
    p = c->rand + c->rand_used;
    c->rand_used += BATCH_RAND_PER_ROW;
    return p;
}

/* Gives the report a fresh data key: the fields sealed next by
 * st->dek_sealer are under it, and it goes into the array wrapped under the
 * current master key with a fresh nonce, both from the batch's random
 * bytes. */
static bool add_dek(struct store_conn *c, struct pgarr *a)
{
    struct store *st = c->st;
    uint8_t *p = pgarr_add_space(a, PII_WRAPPED_LEN);
    const uint8_t *r = p ? take_random(c) : NULL;

    return r && pii_sealer_rekey(st->dek_sealer, r) &&
           pii_sealer_seal_nonce(st->sealer, r + PII_KEY_LEN, PII_AAD_DEK, r, PII_KEY_LEN, p);
}

struct arr_mark {
    size_t len;
    uint32_t n;
    bool has_null;
};

/* Appends one report to the arrays as row number `ord` (1-based).  On
 * failure the arrays are as they were before. */
static bool add_row(struct store_conn *c, const struct intake_report *r, int32_t ord)
{
    struct store *st = c->st;
    struct arr_mark mark[BATCH_NARRAYS];
    uint8_t uuid[HEX_UUID_LEN];
    bool citizen = r->reporter_kind == MINYI__V1__REPORTER_KIND__CITIZEN;
    size_t i;
    bool ok;

    if (!hex_uuid_parse(r->client_report_id, strlen(r->client_report_id), uuid) ||
        r->n_attachments > INT16_MAX)
        return false;
    for (i = 0; i < BATCH_NARRAYS; i++) {
        mark[i].len = c->arr[i].b.len;
        mark[i].n = c->arr[i].n;
        mark[i].has_null = c->arr[i].has_null;
    }
    ok = add_dek(c, &c->arr[A_DEK]) &&
         pgarr_add_i64(&c->arr[A_PRINCIPAL], r->principal_id) &&
         pgarr_add(&c->arr[A_CRID], uuid, sizeof uuid) &&
         pgarr_add(&c->arr[A_SHA], r->payload_sha256, sizeof r->payload_sha256) &&
         add_text(&c->arr[A_TITLE], r->title) &&
         add_text(&c->arr[A_SITUATION], r->situation) &&
         add_text(&c->arr[A_ANALYSIS], r->analysis) &&
         add_text(&c->arr[A_SUGGESTIONS], r->suggestions) &&
         pgarr_add_i16(&c->arr[A_CATEGORY], (int16_t)r->category) &&
         pgarr_add_i16(&c->arr[A_URGENCY], (int16_t)r->urgency) &&
         (citizen ? pgarr_add_null(&c->arr[A_RNAME]) : add_text(&c->arr[A_RNAME], r->reporter_name)) &&
         (citizen ? add_sealed(&c->arr[A_RNAME_ENC], st->dek_sealer, STORE_AAD_REPORTER_NAME,
                               r->reporter_name)
                  : pgarr_add_null(&c->arr[A_RNAME_ENC])) &&
         add_text(&c->arr[A_RUNIT], r->reporter_unit) &&
         pgarr_add_i16(&c->arr[A_RKIND], (int16_t)r->reporter_kind) &&
         add_text(&c->arr[A_RSECTOR], r->reporter_sector) &&
         add_text(&c->arr[A_REGION], r->region) &&
         add_sealed(&c->arr[A_PHONE_ENC], st->dek_sealer, STORE_AAD_PHONE, r->phone);
    for (i = 0; ok && i < r->n_attachments; i++) {
        const struct intake_attachment *a = &r->attachments[i];
        ok = pgarr_add_i32(&c->arr[A_ATT_ORD], ord) &&
             pgarr_add_i16(&c->arr[A_ATT_IDX], (int16_t)i) &&
             add_text(&c->arr[A_ATT_NAME], a->name) &&
             add_text(&c->arr[A_ATT_TYPE], a->media_type) &&
             pgarr_add(&c->arr[A_ATT_SHA], a->sha256, sizeof a->sha256) &&
             pgarr_add(&c->arr[A_ATT_CONTENT], a->content, a->content_len);
    }
    if (ok)
        return true;
    for (i = 0; i < BATCH_NARRAYS; i++) {
        c->arr[i].b.len = mark[i].len;
        c->arr[i].n = mark[i].n;
        c->arr[i].has_null = mark[i].has_null;
    }
    return false;
}

static bool same_key(const struct intake_report *a, const struct intake_report *b)
{
    return a->principal_id == b->principal_id &&
           memcmp(a->client_report_id, b->client_report_id, sizeof a->client_report_id) == 0;
}

bool batch_init_buffers(struct store_conn *c)
{
    size_t cap = 1;

    while (cap < 2 * (size_t)c->st->cfg.batch_max)
        cap *= 2;
    c->by_key = calloc(cap, sizeof *c->by_key);
    c->by_key_cap = c->by_key ? cap : 0;
    c->rand_cap = (size_t)c->st->cfg.batch_max * BATCH_RAND_PER_ROW;
    c->rand = malloc(c->rand_cap);
    if (!c->rand)
        c->rand_cap = 0;
    return c->by_key != NULL && c->rand != NULL;
}

/* The slot of r's key in c->by_key: the op holding it, or an empty one. */
static struct store_op **key_slot(struct store_conn *c, const struct intake_report *r)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    uint64_t p = (uint64_t)r->principal_id;
    size_t i;

    for (i = 0; i < sizeof p; i++, p >>= 8)
        h = (h ^ (p & 0xff)) * 1099511628211ULL;
    for (i = 0; r->client_report_id[i] != '\0'; i++)
        h = (h ^ (uint8_t)r->client_report_id[i]) * 1099511628211ULL;
    for (i = (size_t)h & (c->by_key_cap - 1);; i = (i + 1) & (c->by_key_cap - 1))
        if (!c->by_key[i] || same_key(c->by_key[i]->report, r))
            return &c->by_key[i];
}

/* Takes op into the batch being built on c. */
static void take(struct store_conn *c, struct store_op *op)
{
    struct store *st = c->st;
    struct store_op **slot = key_slot(c, op->report);

    op->first = *slot;
    op->row = op->first ? op->first->row : -1;
    if (!op->first) {
        if (!add_row(c, op->report, (int32_t)c->n_rows + 1)) {
            store_op_fail(st, op, MINYI__V1__ERROR_CODE__INTERNAL, NULL,
                          "the report could not be prepared for storage",
                          "无法准备存储该信息");
            return;
        }
        op->row = (int)c->n_rows++;
    }
    if (!pool_conn_add_op(c, op)) {
        /* Its row stays in the arrays; answering it UNAVAILABLE is safe
         * because a retry with the same id finds that row. */
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL,
                      "out of memory; retry with the same ids", "内存不足，请用相同的编号重试");
        return;
    }
    if (!op->first)
        *slot = op;
}

void batch_start(struct store_conn *c)
{
    struct store *st = c->st;
    struct store_op *op;
    const char *values[BATCH_NPARAMS];
    int lengths[BATCH_NPARAMS], formats[BATCH_NPARAMS];
    uint8_t key_version[4];
    uint32_t kv = st->keyring.current;
    size_t i;
    int p;

    c->kind = OP_SUBMIT;
    c->n_ops = 0;
    c->n_rows = 0;
    for (i = 0; i < BATCH_NARRAYS; i++)
        pgarr_reset(&c->arr[i], arr_oids[i]);

    /* The reports this batch can take: one retried alone, or the queue up
     * to batch_max. */
    rand_draw(c, st->subq.head && st->subq.head->solo ? 1
                 : st->subq.n < (size_t)st->cfg.batch_max ? st->subq.n
                                                          : (size_t)st->cfg.batch_max);
    op = store_op_queue_pop(&st->subq);
    if (op && op->solo) {
        take(c, op);
    } else {
        while (op) {
            take(c, op);
            if (c->n_ops >= (size_t)st->cfg.batch_max || !st->subq.head || st->subq.head->solo)
                break;
            op = store_op_queue_pop(&st->subq);
        }
    }
    /* Empty the key table again, latest first, which keeps every probe
     * chain whole; clearing all of it would cost a large batch_max's table
     * on every small batch. */
    for (i = c->n_ops; i-- > 0;)
        if (!c->ops[i]->first)
            *key_slot(c, c->ops[i]->report) = NULL;
    rand_forget(c);
    if (c->n_rows == 0) {
        /* Every op failed before reaching the database and is answered. */
        for (i = 0; i < c->n_ops; i++)
            store_op_fail(st, c->ops[i], MINYI__V1__ERROR_CODE__INTERNAL, NULL,
                          "the report could not be prepared for storage", "无法准备存储该信息");
        c->n_ops = 0;
        return;
    }
    for (i = 0; i < BATCH_NARRAYS; i++)
        pgarr_finish(&c->arr[i]);

    key_version[0] = (uint8_t)(kv >> 24);
    key_version[1] = (uint8_t)(kv >> 16);
    key_version[2] = (uint8_t)(kv >> 8);
    key_version[3] = (uint8_t)kv;
    for (p = 0; p < BATCH_NPARAMS; p++)
        formats[p] = 1;
    values[0] = st->body_region;
    lengths[0] = (int)strlen(st->body_region);
    for (i = 0, p = 1; i < BATCH_NARRAYS; i++, p++) {
        if (p == 18) {
            values[p] = (const char *)key_version;
            lengths[p] = sizeof key_version;
            p++;
        }
        values[p] = (const char *)c->arr[i].b.data;
        lengths[p] = (int)c->arr[i].b.len;
    }
    c->sent_us = clock_mono_us();
    pool_send(c, STMT_SUBMIT, BATCH_NPARAMS, values, lengths, formats, batch_finish);
}

static void submit_ok(struct store *st, struct store_op *op, const char *receipt,
                      int64_t received_at_ms, bool duplicate)
{
    Minyi__V1__SubmitResponse *m = malloc(sizeof *m);
    size_t len = strlen(receipt);

    if (!m)
        goto fail;
    minyi__v1__submit_response__init(m);
    m->receipt.data = malloc(len);
    if (!m->receipt.data)
        goto fail;
    memcpy(m->receipt.data, receipt, len);
    m->receipt.len = len;
    m->duplicate = duplicate;
    m->received_at_ms = received_at_ms;
    op->reply.code = 0;
    op->reply.field = NULL;
    op->reply.msg = &m->base;
    store_op_done(st, op);
    return;
fail:
    free(m);
    store_op_fail(st, op, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL,
                  "out of memory; retry with the same ids", "内存不足，请用相同的编号重试");
}

/* Compares a payload hash with its bytea text form "\x<64 hex digits>". */
static bool sha_equals_text(const uint8_t sha[32], const char *text)
{
    uint8_t got[32];

    return strncmp(text, SHA_HEX_PREFIX, strlen(SHA_HEX_PREFIX)) == 0 &&
           hex_decode(text + strlen(SHA_HEX_PREFIX), got, sizeof got) &&
           memcmp(got, sha, sizeof got) == 0;
}

static bool row_map(struct store_conn *c)
{
    size_t i;

    if (c->cap_rows < c->n_rows) {
        int *p = realloc(c->row_tuple, c->n_rows * sizeof *p);
        if (!p)
            return false;
        c->row_tuple = p;
        c->cap_rows = c->n_rows;
    }
    for (i = 0; i < c->n_rows; i++)
        c->row_tuple[i] = -1;
    return true;
}

/* The statement failed in the database: retry each row alone, or, when the
 * batch was one row already, answer it with the database's message. */
static void batch_failed(struct store_conn *c)
{
    struct store *st = c->st;
    size_t i;
    char msg[256];
    int code;

    if (c->n_rows > 1) {
        log_warnx("module=store event=batch_failed rows=%zu sqlstate=%s action=retry_singly",
                  c->n_rows, c->sqlstate);
        /* Back to the front in their original order. */
        for (i = c->n_ops; i-- > 0;) {
            c->ops[i]->solo = true;
            store_op_queue_push_front(&st->subq, c->ops[i]);
        }
        c->n_ops = 0;
        return;
    }
    code = pool_sqlstate_transient(c->sqlstate) ? MINYI__V1__ERROR_CODE__UNAVAILABLE
                                                : MINYI__V1__ERROR_CODE__INTERNAL;
    log_warnx("module=store event=report_failed sqlstate=%s code=%s", c->sqlstate,
              code == MINYI__V1__ERROR_CODE__UNAVAILABLE ? "UNAVAILABLE" : "INTERNAL");
    snprintf(msg, sizeof msg, "the database refused the report: %s", c->errmsg);
    for (i = 0; i < c->n_ops; i++)
        store_op_fail(st, c->ops[i], code, NULL, msg, "数据库拒绝存储该信息");
    c->n_ops = 0;
}

static void batch_finish(struct store_conn *c)
{
    struct store *st = c->st;
    int t, ntuples;
    size_t i, n_new = 0;
    struct batch_fresh_row *fresh;

    if (c->failed) {
        batch_failed(c);
        return;
    }
    metrics_observe(&metrics.intake_commit_seconds, (double)(clock_mono_us() - c->sent_us) / 1e6);
    metrics_observe(&metrics.intake_batch_size, (double)c->n_rows);
    ntuples = c->res ? PQntuples(c->res) : 0;
    if (!row_map(c)) {
        for (i = 0; i < c->n_ops; i++)
            store_op_fail(st, c->ops[i], MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL,
                          "out of memory; retry with the same ids", "内存不足，请用相同的编号重试");
        c->n_ops = 0;
        return;
    }
    /* The receipts stay valid until c->res is cleared after this returns. */
    fresh = malloc(c->n_rows * sizeof *fresh);
    for (t = 0; t < ntuples; t++) {
        long ord = strtol(PQgetvalue(c->res, t, 0), NULL, 10);
        if (ord >= 1 && (size_t)ord <= c->n_rows)
            c->row_tuple[ord - 1] = t;
    }
    for (i = 0; i < c->n_ops; i++) {
        struct store_op *op = c->ops[i];
        const char *receipt;
        long long at_ms;
        bool inserted;

        t = c->row_tuple[op->row];
        if (t < 0) {
            log_error("module=store event=batch_row_missing row=%d", op->row);
            store_op_fail(st, op, MINYI__V1__ERROR_CODE__INTERNAL, NULL,
                          "the report was not found after storing it", "存储后未找到该信息");
            continue;
        }
        receipt = PQgetvalue(c->res, t, 1);
        at_ms = strtoll(PQgetvalue(c->res, t, 2), NULL, 10);
        inserted = PQgetvalue(c->res, t, 3)[0] == 't';
        if (!sha_equals_text(op->report->payload_sha256, PQgetvalue(c->res, t, 4))) {
            store_op_fail(st, op, MINYI__V1__ERROR_CODE__CONFLICT, "report.client_report_id",
                          "this client_report_id was already used for a different report",
                          "该 client_report_id 已用于另一份内容不同的信息");
            continue;
        }
        if (inserted && !op->first && fresh && n_new < c->n_rows &&
            strspn(receipt, "0123456789-") == strlen(receipt)) {
            fresh[n_new].receipt = receipt;
            fresh[n_new].at_ms = (int64_t)at_ms;
            fresh[n_new].principal_id = op->report->principal_id;
            n_new++;
        }
        /* Only the op whose row this call inserted is not a duplicate. */
        submit_ok(st, op, receipt, (int64_t)at_ms, !(inserted && !op->first));
    }
    c->n_ops = 0;
    if (fresh)
        batch_notify_inserted(st, fresh, n_new);
    else
        log_warnx("module=store event=notify_dropped reason=out_of_memory rows=%zu", c->n_rows);
    free(fresh);
}

void batch_free_buffers(struct store_conn *c)
{
    size_t i;

    free(c->by_key);
    c->by_key = NULL;
    c->by_key_cap = 0;
    OPENSSL_clear_free(c->rand, c->rand_cap);
    c->rand = NULL;
    c->rand_cap = c->rand_len = c->rand_used = 0;
    for (i = 0; i < BATCH_NARRAYS; i++)
        pgarr_free(&c->arr[i]);
    free(c->row_tuple);
    c->row_tuple = NULL;
    c->cap_rows = 0;
}
