/*
 * queries: the store's small reads (principal lookup, status, list_mine) and
 * the statements every connection prepares once it is up.
 */
#include "hex.h"
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_OF(col) "(extract(epoch FROM " col ") * 1000)::int8"

/* One simple query, so preparing costs one round trip per connection. */
const char store_prepare_sql[] =
    "PREPARE " STMT_SUBMIT "(text, int8[], uuid[], bytea[], text[], text[], text[], text[],"
    " int2[], int2[], text[], bytea[], text[], int2[], text[], text[], bytea[], bytea[],"
    " int4, int4[], int2[], text[], text[], bytea[], bytea[]) AS"
    " SELECT o_ord, o_receipt, o_received_at_ms, o_inserted, o_sha FROM minyi_submit_batch("
    "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,"
    " $19, $20, $21, $22, $23, $24, $25);"
    "PREPARE " STMT_PRINCIPAL "(bytea) AS"
    " SELECT p.id, p.kind, p.active, p.name, p.region, p.sector,"
    " coalesce((SELECT string_agg(encode(k.public_key, 'hex'), ',' ORDER BY k.added_at DESC)"
    "  FROM (SELECT * FROM peer_audit_keys WHERE peer = p.id ORDER BY added_at DESC"
    "  LIMIT " PRINCIPAL_AUDIT_KEYS_MAX_TEXT ") k), '')"
    " FROM principals p WHERE p.fingerprint = $1;"
    "PREPARE " STMT_STATUS "(text, int8) AS"
    " SELECT s.receipt, s.state, s.title, " MS_OF("s.received_at") ","
    " s.action, s.hstate, s.note, " MS_OF("s.at") ","
    " coalesce(s.body_name, ''), coalesce(s.body_region, ''), coalesce(s.instruction, ''),"
    " coalesce(s.instruction_level, ''), coalesce(s.actor_name, '')"
    " FROM minyi_status_rows($1, $2, " STORE_MERGE_DEPTH_TEXT ") s;"
    "PREPARE " STMT_MINE "(int8, int8, int4) AS"
    " SELECT id, receipt, title, state, " MS_OF("received_at")
    " FROM reports WHERE principal_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3;"
    "PREPARE " STMT_NOTIFY "(text[], int8[], int8[]) AS"
    " SELECT minyi_notify_received($1, $2, $3);"
    TRIAGE_PREPARE_SQL
    OFFICE_PREPARE_SQL
    ISSUE_PREPARE_SQL
    PUBLIC_PREPARE_SQL
    AUDIT_OPS_PREPARE_SQL
    GAUGES_PREPARE_SQL;

#define INT64_TEXT_MAX 24

static bool set_bytes(ProtobufCBinaryData *b, const char *s)
{
    size_t len = strlen(s);

    b->len = 0;
    b->data = NULL;
    if (len == 0)
        return true;
    b->data = malloc(len);
    if (!b->data)
        return false;
    memcpy(b->data, s, len);
    b->len = len;
    return true;
}

static int state_value(const char *name)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value_by_name(&minyi__v1__report_state__descriptor, name);

    return v ? v->value : MINYI__V1__REPORT_STATE__STATE_UNSPECIFIED;
}

static int64_t int64_at(const PGresult *res, int t, int col)
{
    return (int64_t)strtoll(PQgetvalue(res, t, col), NULL, 10);
}

static void finish_principal(struct store *st, struct store_op *op, const PGresult *res)
{
    struct principal *p = &op->principal;

    if (PQntuples(res) == 0) {
        op->reply.code = MINYI__V1__ERROR_CODE__NOT_FOUND;
        store_op_done(st, op);
        return;
    }
    p->id = int64_at(res, 0, 0);
    p->kind = principal_kind_parse(PQgetvalue(res, 0, 1));
    p->active = PQgetvalue(res, 0, 2)[0] == 't';
    snprintf(p->name, sizeof p->name, "%s", PQgetvalue(res, 0, 3));
    snprintf(p->region, sizeof p->region, "%s", PQgetvalue(res, 0, 4));
    snprintf(p->sector, sizeof p->sector, "%s", PQgetvalue(res, 0, 5));
    p->n_audit_keys = 0;
    for (const char *k = PQgetvalue(res, 0, 6); *k != '\0' && p->n_audit_keys < PRINCIPAL_AUDIT_KEYS_MAX;) {
        char hex[2 * PRINCIPAL_AUDIT_KEY_LEN + 1];
        size_t n = strcspn(k, ",");
        if (n == 2 * PRINCIPAL_AUDIT_KEY_LEN) {
            memcpy(hex, k, n);
            hex[n] = '\0';
            if (hex_decode(hex, p->audit_keys[p->n_audit_keys], PRINCIPAL_AUDIT_KEY_LEN))
                p->n_audit_keys++;
        }
        k += n + (k[n] == ',');
    }
    op->reply.code = 0;
    store_op_done(st, op);
}

static bool build_status(const PGresult *res, Minyi__V1__StatusResponse *m)
{
    int n = PQntuples(res), t;

    if (!set_bytes(&m->receipt, PQgetvalue(res, 0, 0)) ||
        !set_bytes(&m->title, PQgetvalue(res, 0, 2)))
        return false;
    m->state = state_value(PQgetvalue(res, 0, 1));
    m->received_at_ms = int64_at(res, 0, 3);
    m->history = calloc((size_t)n, sizeof *m->history);
    if (!m->history)
        return false;
    for (t = 0; t < n; t++) {
        Minyi__V1__HistoryEntry *h;
        if (PQgetisnull(res, t, 4))
            continue;
        h = malloc(sizeof *h);
        if (!h)
            return false;
        minyi__v1__history_entry__init(h);
        m->history[m->n_history++] = h;
        if (!set_bytes(&h->action, PQgetvalue(res, t, 4)) ||
            !set_bytes(&h->note, PQgetvalue(res, t, 6)) ||
            !set_bytes(&h->body, PQgetvalue(res, t, 8)) ||
            !set_bytes(&h->body_region, PQgetvalue(res, t, 9)) ||
            !set_bytes(&h->instruction, PQgetvalue(res, t, 10)) ||
            !set_bytes(&h->instruction_level, PQgetvalue(res, t, 11)) ||
            !set_bytes(&h->actor, PQgetvalue(res, t, 12)))
            return false;
        h->state = state_value(PQgetvalue(res, t, 5));
        h->at_ms = int64_at(res, t, 7);
    }
    return true;
}

static bool build_mine(const PGresult *res, uint32_t limit, Minyi__V1__ListMineResponse *m)
{
    int n = PQntuples(res), t;
    bool more = (uint32_t)n > limit;

    if (more)
        n = (int)limit;
    if (n > 0) {
        m->reports = calloc((size_t)n, sizeof *m->reports);
        if (!m->reports)
            return false;
    }
    for (t = 0; t < n; t++) {
        Minyi__V1__ReportSummary *s = malloc(sizeof *s);
        if (!s)
            return false;
        minyi__v1__report_summary__init(s);
        m->reports[m->n_reports++] = s;
        if (!set_bytes(&s->receipt, PQgetvalue(res, t, 1)) ||
            !set_bytes(&s->title, PQgetvalue(res, t, 2)))
            return false;
        s->state = state_value(PQgetvalue(res, t, 3));
        s->received_at_ms = int64_at(res, t, 4);
    }
    if (more && !set_bytes(&m->next_cursor, PQgetvalue(res, n - 1, 0)))
        return false;
    return true;
}

struct store_op *query_take(struct store_conn *c)
{
    struct store_op *op = c->ops[0];

    c->n_ops = 0;
    if (c->failed || !c->res) {
        bool transient = pool_sqlstate_transient(c->sqlstate);
        log_warnx("module=store event=query_failed kind=%d sqlstate=%s", (int)op->kind, c->sqlstate);
        store_op_fail(c->st, op,
                      transient ? MINYI__V1__ERROR_CODE__UNAVAILABLE : MINYI__V1__ERROR_CODE__INTERNAL,
                      NULL, transient ? "the database is busy; retry later" : "database error",
                      transient ? "数据库繁忙，请稍后重试" : "数据库错误");
        return NULL;
    }
    return op;
}

void query_answer(struct store *st, struct store_op *op, ProtobufCMessage *msg, bool ok)
{
    if (!ok) {
        if (msg)
            protobuf_c_message_free_unpacked(msg, NULL);
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL,
                      "out of memory; retry later", "内存不足，请稍后重试");
        return;
    }
    op->reply.code = 0;
    op->reply.field = NULL;
    op->reply.msg = msg;
    store_op_done(st, op);
}

static void principal_done(struct store_conn *c)
{
    struct store_op *op = query_take(c);

    if (op)
        finish_principal(c->st, op, c->res);
}

void query_send_principal(struct store_conn *c, struct store_op *op)
{
    const char *values[1] = { (const char *)op->fingerprint };
    int lengths[1] = { sizeof op->fingerprint }, formats[1] = { 1 };

    pool_send(c, STMT_PRINCIPAL, 1, values, lengths, formats, principal_done);
}

static void status_done(struct store_conn *c)
{
    struct store_op *op = query_take(c);
    Minyi__V1__StatusResponse *m;

    if (!op)
        return;
    if (PQntuples(c->res) == 0) {
        store_op_fail(c->st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "status.receipt",
                      "no report with this receipt", "没有此回执对应的信息");
        return;
    }
    m = malloc(sizeof *m);
    if (m)
        minyi__v1__status_response__init(m);
    query_answer(c->st, op, m ? &m->base : NULL, m && build_status(c->res, m));
}

void query_send_status(struct store_conn *c, struct store_op *op)
{
    char a[INT64_TEXT_MAX];
    const char *values[2] = { op->receipt, a };

    snprintf(a, sizeof a, "%" PRId64, op->principal_id);
    pool_send(c, STMT_STATUS, 2, values, NULL, NULL, status_done);
}

static void mine_done(struct store_conn *c)
{
    struct store_op *op = query_take(c);
    Minyi__V1__ListMineResponse *m;

    if (!op)
        return;
    m = malloc(sizeof *m);
    if (m)
        minyi__v1__list_mine_response__init(m);
    query_answer(c->st, op, m ? &m->base : NULL, m && build_mine(c->res, op->limit, m));
}

void query_send_mine(struct store_conn *c, struct store_op *op)
{
    char a[INT64_TEXT_MAX], b[INT64_TEXT_MAX], l[INT64_TEXT_MAX];
    const char *values[3] = { a, b, l };

    snprintf(a, sizeof a, "%" PRId64, op->principal_id);
    snprintf(b, sizeof b, "%" PRId64, op->cursor);
    /* One more than asked, to know whether there is a next page. */
    snprintf(l, sizeof l, "%" PRIu32, op->limit + 1);
    pool_send(c, STMT_MINE, 3, values, NULL, NULL, mine_done);
}
