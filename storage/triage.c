/*
 * triage: the editors' operations (see triage.h).  Each becomes one store_op
 * of kind OP_TRIAGE that carries its prepared statement and text
 * parameters; the pool sends it like any other query.  The SQL function
 * answers one jsonb value, which is turned into the protocol's response
 * here: the database decides (under its row locks) and this file only
 * translates, plus two things the database cannot do: open the sealed
 * personal fields, and diff two versions line by line.
 */
#include "attach.h"
#include "store_int.h"
#include "triage.h"
#include "pii.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

enum triage_kind {
    T_QUEUE = 1,
    T_SHOW,
    T_CLAIM,
    T_RENEW,
    T_RELEASE,
    T_EDIT,
    T_DECIDE,
    T_RESUBMIT,
    T_FORWARD_NOTE,
    T_FW_CLAIM,
    T_FW_MARK,
    T_R_PULL,
    T_R_APPLY,
    T_O_LIST,
    T_O_ACT,
    T_ATTACHMENT,
};

/* A diff compares at most this many line pairs (the LCS table's cells). */
#define TRIAGE_DIFF_CELLS_MAX (4u * 1000u * 1000u)
#define I64_TEXT 24

/* The error fields the SQL functions name; a reply's field must be a
 * static string, so the database's text is matched against this list. */
static const char *const known_fields[] = {
    "show.receipt", "show.version", "claim.receipt", "renew.receipt", "release.receipt",
    "edit", "edit.receipt", "decide.receipt", "decide.decision", "decide.note",
    "decide.destinations", "decide.into_receipt", "resubmit.receipt",
    "decide.instruction", "decide.instruction_level", "results",
    "report.client_report_id", "forward.origin_receipt", "outbox", "destinations",
    "principal.kind", "outbox.cursor", "outbox.filter.states", "outbox_action.outbox_id",
    "outbox_action.action", "attachment.receipt", "attachment.index", "instruct.receipt",
    "instruct.given_at_ms",
};

static const char *static_field(const char *f)
{
    size_t i;

    if (!f)
        return NULL;
    for (i = 0; i < sizeof known_fields / sizeof known_fields[0]; i++)
        if (strcmp(f, known_fields[i]) == 0)
            return known_fields[i];
    return NULL;
}

void triage_free_params(struct store_op *op)
{
    int i;

    for (i = 0; i < op->nparams; i++) {
        free(op->params[i]);
        op->params[i] = NULL;
    }
    op->nparams = 0;
}

static void oom_abort(void)
{
    /* As in store.c: without memory there is no way to keep the promise
     * that every call is answered. */
    log_error("module=store event=out_of_memory where=triage");
    abort();
}

static void param_str(struct store_op *op, int i, const char *s)
{
    if (i >= TRIAGE_NPARAMS_MAX) {
        log_error("module=store event=bug reason=\"triage parameter %d out of range\"", i);
        abort();
    }
    if (s) {
        op->params[i] = strdup(s);
        if (!op->params[i])
            oom_abort();
    }
    if (i + 1 > op->nparams)
        op->nparams = i + 1;
}

static void param_null(struct store_op *op, int i)
{
    param_str(op, i, NULL);
}

static void param_i64(struct store_op *op, int i, int64_t v)
{
    char b[I64_TEXT];

    snprintf(b, sizeof b, "%" PRId64, v);
    param_str(op, i, b);
}

static void param_bool(struct store_op *op, int i, bool v)
{
    param_str(op, i, v ? "t" : "f");
}

static struct store_op *t_new(enum triage_kind kind, const char *stmt, store_reply_cb cb,
                              void *arg)
{
    struct store_op *op = store_op_new(OP_TRIAGE, arg);

    op->reply_cb = cb;
    op->tkind = kind;
    op->stmt = stmt;
    return op;
}

static void t_invalid(struct store *st, struct store_op *op, const char *field, const char *msg,
                      const char *msg_zh)
{
    store_op_fail(st, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, field, msg, msg_zh);
}

/* A receipt is digits, letters and dashes (see store.c). */
static bool receipt_plausible(const char *s)
{
    size_t n;

    if (!s || !*s)
        return false;
    for (n = 0; s[n]; n++) {
        char ch = s[n];
        if (n >= STORE_RECEIPT_MAX)
            return false;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              ch == '-'))
            return false;
    }
    return true;
}

/* Starts an op on a receipt: false (op answered NOT_FOUND) when the
 * receipt cannot name a report. */
static bool t_receipt(struct store *st, struct store_op *op, int i, const char *receipt,
                      const char *field)
{
    if (!receipt_plausible(receipt)) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, field,
                      "no report with this receipt", "没有此回执对应的信息");
        return false;
    }
    param_str(op, i, receipt);
    return true;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *e = v != 0 ? protobuf_c_enum_descriptor_get_value(d, v) : NULL;

    return e ? e->name : NULL;
}

static int enum_value(const ProtobufCEnumDescriptor *d, const char *name)
{
    const ProtobufCEnumValue *e = name ? protobuf_c_enum_descriptor_get_value_by_name(d, name) : NULL;

    return e ? e->value : 0;
}

/* ---- queue ----------------------------------------------------------------- */

/* The cursor is "urgency.received_at_us.id" of the last item of a page. */
static bool queue_cursor_parse(const char *s, int64_t out[3])
{
    int k;
    char *end;

    for (k = 0; k < 3; k++) {
        if (*s < '0' || *s > '9')
            return false;
        out[k] = (int64_t)strtoll(s, &end, 10);
        if (end - s > 18)
            return false;
        s = end;
        if (k < 2 && *s++ != '.')
            return false;
    }
    return *s == '\0';
}

void triage_queue(struct store *st, int64_t actor, const struct triage_queue_query *q,
                  store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_QUEUE, STMT_T_QUEUE, cb, arg);
    /* {"IN_REVIEW",...}: state names are longer than category numbers. */
    char arr[TRIAGE_FILTER_MAX * 24 + 4];
    int64_t cur[3];
    size_t i, n;
    uint32_t limit;

    param_i64(op, 0, actor);
    if (q->n_states > TRIAGE_FILTER_MAX || q->n_categories > TRIAGE_FILTER_MAX) {
        t_invalid(st, op, "queue.filter", "too many states or categories in the filter",
                  "筛选条件中的状态或类别过多");
        return;
    }
    if (q->n_states == 0 && q->dead_deliveries_only) {
        /* A dead delivery belongs to a forwarded report, which the default
         * states (the open ones) never show: without states, any state. */
        param_str(op, 1, "{RECEIVED,IN_REVIEW,ADOPTED,REJECTED,RETURNED,MERGED,FORWARDED,"
                         "ADOPTED_ABOVE,NOT_ADOPTED_ABOVE}");
    } else if (q->n_states == 0) {
        param_null(op, 1);
    } else {
        n = (size_t)snprintf(arr, sizeof arr, "{");
        for (i = 0; i < q->n_states; i++) {
            const char *name = enum_name(&minyi__v1__report_state__descriptor, q->states[i]);
            if (!name) {
                t_invalid(st, op, "queue.filter.states", "unknown report state", "未知的信息状态");
                return;
            }
            n += (size_t)snprintf(arr + n, sizeof arr - n, "%s%s", i ? "," : "", name);
        }
        snprintf(arr + n, sizeof arr - n, "}");
        param_str(op, 1, arr);
    }
    if (q->n_categories == 0) {
        param_null(op, 2);
    } else {
        n = (size_t)snprintf(arr, sizeof arr, "{");
        for (i = 0; i < q->n_categories; i++) {
            if (!enum_name(&minyi__v1__category__descriptor, q->categories[i])) {
                t_invalid(st, op, "queue.filter.categories", "unknown category", "未知的类别");
                return;
            }
            n += (size_t)snprintf(arr + n, sizeof arr - n, "%s%d", i ? "," : "", q->categories[i]);
        }
        snprintf(arr + n, sizeof arr - n, "}");
        param_str(op, 2, arr);
    }
    if (q->urgency == 0) {
        param_null(op, 3);
    } else if (!enum_name(&minyi__v1__urgency__descriptor, q->urgency)) {
        t_invalid(st, op, "queue.filter.urgency", "unknown urgency", "未知的紧急程度");
        return;
    } else {
        param_i64(op, 3, q->urgency);
    }
    if (!q->region_prefix || !*q->region_prefix) {
        param_null(op, 4);
    } else {
        n = strlen(q->region_prefix);
        if (n > 6 || strspn(q->region_prefix, "0123456789") != n) {
            t_invalid(st, op, "queue.filter.region_prefix", "a region prefix is 1 to 6 digits",
                      "地区代码前缀应为1至6位数字");
            return;
        }
        param_str(op, 4, q->region_prefix);
    }
    if (q->contact_point_id > 0)
        param_i64(op, 5, q->contact_point_id);
    else
        param_null(op, 5);
    if (q->from_ms > 0)
        param_i64(op, 6, q->from_ms);
    else
        param_null(op, 6);
    if (q->to_ms > 0)
        param_i64(op, 7, q->to_ms);
    else
        param_null(op, 7);
    param_bool(op, 8, q->claimed_by_me);
    if (q->text && *q->text)
        param_str(op, 9, q->text);
    else
        param_null(op, 9);
    param_bool(op, 10, q->overdue_only);
    param_bool(op, 11, q->dead_deliveries_only);
    if (!q->cursor || !*q->cursor) {
        param_null(op, 12);
        param_null(op, 13);
        param_null(op, 14);
    } else if (!queue_cursor_parse(q->cursor, cur)) {
        t_invalid(st, op, "queue.cursor", "the cursor is not one this server gave out",
                  "分页游标无效");
        return;
    } else {
        param_i64(op, 12, cur[0]);
        param_i64(op, 13, cur[1]);
        param_i64(op, 14, cur[2]);
    }
    limit = q->limit == 0 ? TRIAGE_QUEUE_DEFAULT : q->limit;
    if (limit > TRIAGE_QUEUE_MAX)
        limit = TRIAGE_QUEUE_MAX;
    param_i64(op, 15, limit);
    param_i64(op, 16, q->deadline_received_s > 0 ? q->deadline_received_s : 0);
    param_i64(op, 17, q->deadline_in_review_s > 0 ? q->deadline_in_review_s : 0);
    store_op_enqueue(st, op);
}

/* ---- the other operations ---------------------------------------------------- */

void triage_show(struct store *st, int64_t actor, const char *receipt, uint32_t version,
                 bool diff, store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_SHOW, STMT_T_SHOW, cb, arg);
    char sim[32];

    param_i64(op, 0, actor);
    if (!t_receipt(st, op, 1, receipt, "show.receipt"))
        return;
    if (version > INT32_MAX) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "show.version",
                      "no such version", "没有该版本");
        return;
    }
    param_i64(op, 2, version);
    param_i64(op, 3, TRIAGE_SIMILAR_MAX);
    snprintf(sim, sizeof sim, "%.3f", TRIAGE_SIMILAR_MIN);
    param_str(op, 4, sim);
    op->show_diff = diff;
    store_op_enqueue(st, op);
}

void triage_attachment(struct store *st, int64_t actor, const char *receipt, uint32_t index,
                       store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_ATTACHMENT, STMT_T_ATTACH, cb, arg);

    param_i64(op, 0, actor);
    if (!t_receipt(st, op, 1, receipt, "attachment.receipt"))
        return;
    if (index > INT16_MAX) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "attachment.index",
                      "the report has no attachment with this index", "该信息没有此序号的附件");
        return;
    }
    param_i64(op, 2, index);
    store_op_enqueue(st, op);
}

static void lease_op(struct store *st, enum triage_kind kind, const char *stmt,
                     const char *field, int64_t actor, const char *receipt, int lease_s,
                     store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(kind, stmt, cb, arg);

    param_i64(op, 0, actor);
    if (!t_receipt(st, op, 1, receipt, field))
        return;
    if (lease_s < 1 || lease_s > TRIAGE_LEASE_MAX_S) {
        t_invalid(st, op, kind == T_CLAIM ? "claim.lease_seconds" : "renew.lease_seconds",
                  "the lease must be between 1 second and 1 day", "认领时长须在1秒至1天之间");
        return;
    }
    param_i64(op, 2, lease_s);
    store_op_enqueue(st, op);
}

void triage_claim(struct store *st, int64_t actor, const char *receipt, int lease_s,
                  store_reply_cb cb, void *arg)
{
    lease_op(st, T_CLAIM, STMT_T_CLAIM, "claim.receipt", actor, receipt, lease_s, cb, arg);
}

void triage_renew(struct store *st, int64_t actor, const char *receipt, int lease_s,
                  store_reply_cb cb, void *arg)
{
    lease_op(st, T_RENEW, STMT_T_RENEW, "renew.receipt", actor, receipt, lease_s, cb, arg);
}

void triage_release(struct store *st, int64_t actor, const char *receipt,
                    store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_RELEASE, STMT_T_RELEASE, cb, arg);

    param_i64(op, 0, actor);
    if (!t_receipt(st, op, 1, receipt, "release.receipt"))
        return;
    store_op_enqueue(st, op);
}

void triage_edit(struct store *st, int64_t actor, const char *receipt,
                 const struct triage_edit *e, store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_EDIT, STMT_T_EDIT, cb, arg);

    param_i64(op, 0, actor);
    if (!t_receipt(st, op, 1, receipt, "edit.receipt"))
        return;
    param_str(op, 2, e->title);
    param_str(op, 3, e->situation);
    param_str(op, 4, e->analysis);
    param_str(op, 5, e->suggestions);
    if (e->category != 0 && !enum_name(&minyi__v1__category__descriptor, e->category)) {
        t_invalid(st, op, "edit.category", "unknown category", "未知的类别");
        return;
    }
    if (e->category != 0)
        param_i64(op, 6, e->category);
    else
        param_null(op, 6);
    param_str(op, 7, e->note ? e->note : "");
    store_op_enqueue(st, op);
}

/* Destination names come from the configuration; they are still checked
 * here, because they become elements of an array literal. */
static bool dest_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= TRIAGE_DEST_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

void triage_decide(struct store *st, int64_t actor, const char *receipt, int decision,
                   const char *note, const char *into, const char *const *dests,
                   size_t n_dests, const char *instruction, const char *level,
                   store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_DECIDE, STMT_T_DECIDE, cb, arg);
    const char *name = enum_name(&minyi__v1__decision__descriptor, decision);
    char arr[TRIAGE_DEST_MAX * (TRIAGE_DEST_NAME_MAX + 3) + 4];
    size_t i, n;

    param_i64(op, 0, actor);
    if (!t_receipt(st, op, 1, receipt, "decide.receipt"))
        return;
    if (!name) {
        t_invalid(st, op, "decide.decision", "unknown decision", "未知的处理决定");
        return;
    }
    param_str(op, 2, name);
    param_str(op, 3, note ? note : "");
    if (decision == MINYI__V1__DECISION__MERGE) {
        if (!receipt_plausible(into)) {
            store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "decide.into_receipt",
                          "no report with this receipt", "没有此回执对应的信息");
            return;
        }
        param_str(op, 4, into);
    } else {
        param_null(op, 4);
    }
    if (n_dests > TRIAGE_DEST_MAX) {
        t_invalid(st, op, "decide.destinations", "too many destinations", "报送去向过多");
        return;
    }
    n = (size_t)snprintf(arr, sizeof arr, "{");
    for (i = 0; i < n_dests; i++) {
        if (!dest_name_ok(dests[i])) {
            t_invalid(st, op, "decide.destinations", "not a configured destination",
                      "不是已配置的报送去向");
            return;
        }
        n += (size_t)snprintf(arr + n, sizeof arr - n, "%s\"%s\"", i ? "," : "", dests[i]);
    }
    snprintf(arr + n, sizeof arr - n, "}");
    param_str(op, 5, arr);
    param_str(op, 6, instruction ? instruction : "");
    param_str(op, 7, level ? level : "");
    store_op_enqueue(st, op);
}

void triage_instruct(struct store *st, int64_t actor, const char *receipt, const char *level,
                     const char *leader, const char *text, int64_t given_at_ms, bool on_paper,
                     store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_DECIDE, STMT_T_INSTRUCT, cb, arg);

    param_i64(op, 0, actor);
    if (!t_receipt(st, op, 1, receipt, "instruct.receipt"))
        return;
    param_str(op, 2, level);
    param_str(op, 3, leader != NULL ? leader : "");
    param_str(op, 4, text);
    param_i64(op, 5, given_at_ms > 0 ? given_at_ms : 0);
    param_bool(op, 6, on_paper);
    param_i64(op, 7, TRIAGE_INSTRUCT_FUTURE_SLACK_S);
    store_op_enqueue(st, op);
}

void triage_resubmit(struct store *st, int64_t principal_id, const char *receipt,
                     const struct intake_report *r, store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_RESUBMIT, STMT_T_RESUBMIT, cb, arg);

    param_i64(op, 0, principal_id);
    if (!t_receipt(st, op, 1, receipt, "resubmit.receipt"))
        return;
    param_str(op, 2, r->client_report_id);
    param_str(op, 3, r->title);
    param_str(op, 4, r->situation);
    param_str(op, 5, r->analysis);
    param_str(op, 6, r->suggestions);
    param_i64(op, 7, r->category);
    param_i64(op, 8, r->urgency);
    store_op_enqueue(st, op);
}

void triage_forward_note(struct store *st, int64_t peer_id, const char *receipt,
                         const char *origin_region, const char *origin_receipt,
                         const char *origin_body, const char *const *chain, size_t n_chain,
                         store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_FORWARD_NOTE, STMT_F_NOTE, cb, arg);
    char arr[TRIAGE_CHAIN_MAX * 9 + 4];
    size_t i, n;

    param_i64(op, 0, peer_id);
    if (!t_receipt(st, op, 1, receipt, "forward.origin_receipt"))
        return;
    param_str(op, 2, origin_region);
    param_str(op, 3, origin_receipt);
    param_str(op, 4, origin_body);
    if (n_chain > TRIAGE_CHAIN_MAX) {
        t_invalid(st, op, "forward.origin_receipt", "the chain of bodies is too long",
                  "经转层级过多");
        return;
    }
    /* The gateway has checked each element is a six-digit region code. */
    n = (size_t)snprintf(arr, sizeof arr, "{");
    for (i = 0; i < n_chain; i++)
        n += (size_t)snprintf(arr + n, sizeof arr - n, "%s\"%.6s\"", i ? "," : "", chain[i]);
    snprintf(arr + n, sizeof arr - n, "}");
    param_str(op, 5, arr);
    store_op_enqueue(st, op);
}

void triage_fw_claim(struct store *st, const char *const *dests, size_t n_dests, int limit,
                     int lease_s, store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_FW_CLAIM, STMT_FW_CLAIM, cb, arg);
    char arr[TRIAGE_DEST_MAX * (TRIAGE_DEST_NAME_MAX + 3) + 4];
    size_t i, n;

    if (n_dests > TRIAGE_DEST_MAX) {
        t_invalid(st, op, "destinations", "too many destinations", "报送去向过多");
        return;
    }
    n = (size_t)snprintf(arr, sizeof arr, "{");
    for (i = 0; i < n_dests; i++) {
        if (!dest_name_ok(dests[i])) {
            t_invalid(st, op, "destinations", "bad destination name", "报送去向名称错误");
            return;
        }
        n += (size_t)snprintf(arr + n, sizeof arr - n, "%s\"%s\"", i ? "," : "", dests[i]);
    }
    snprintf(arr + n, sizeof arr - n, "}");
    param_str(op, 0, arr);
    param_i64(op, 1, limit);
    param_i64(op, 2, lease_s);
    store_op_enqueue(st, op);
}

void triage_fw_delivered(struct store *st, int64_t outbox_id, uint32_t attempt,
                         const char *upstream_receipt, store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_FW_MARK, STMT_FW_DONE, cb, arg);

    param_i64(op, 0, outbox_id);
    param_i64(op, 1, attempt);
    param_str(op, 2, upstream_receipt);
    store_op_enqueue(st, op);
}

void triage_fw_failed(struct store *st, int64_t outbox_id, uint32_t attempt, const char *error,
                      bool permanent, int max_attempts, int backoff_min_ms, int backoff_max_ms,
                      store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_FW_MARK, STMT_FW_FAILED, cb, arg);

    param_i64(op, 0, outbox_id);
    param_i64(op, 1, attempt);
    param_str(op, 2, error);
    param_bool(op, 3, permanent);
    param_i64(op, 4, max_attempts);
    param_i64(op, 5, backoff_min_ms);
    param_i64(op, 6, backoff_max_ms);
    store_op_enqueue(st, op);
}

/* ---- results ------------------------------------------------------------------ */

void triage_r_pull(struct store *st, int64_t peer_id, const int64_t *ack, size_t n_ack,
                   uint32_t limit, const char *body_region, const char *body_name,
                   store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_R_PULL, STMT_R_PULL, cb, arg);
    size_t cap = n_ack * I64_TEXT + 3, n, i;
    char *arr;

    param_i64(op, 0, peer_id);
    if (limit == 0 || limit > INT32_MAX) {
        t_invalid(st, op, "results", "the limit is out of range", "条数超出范围");
        return;
    }
    if (!(arr = malloc(cap)))
        oom_abort();
    n = (size_t)snprintf(arr, cap, "{");
    for (i = 0; i < n_ack; i++)
        n += (size_t)snprintf(arr + n, cap - n, "%s%" PRId64, i ? "," : "", ack[i]);
    snprintf(arr + n, cap - n, "}");
    param_str(op, 1, arr);
    free(arr);
    param_i64(op, 2, limit);
    param_str(op, 3, body_region);
    param_str(op, 4, body_name);
    store_op_enqueue(st, op);
}

static json_t *jbin(const ProtobufCBinaryData *b)
{
    return json_stringn(b->len ? (const char *)b->data : "", b->len);
}

/* One result as the object minyi_r_apply reads; NULL when a text is not
 * valid UTF-8 (the gateway validates it first, so never). */
static json_t *result_json(const Minyi__V1__Result *x)
{
    return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:o}",
                     "id", (json_int_t)x->id, "receipt", jbin(&x->receipt),
                     "origin_region", jbin(&x->origin_region),
                     "origin_receipt", jbin(&x->origin_receipt), "kind", jbin(&x->kind),
                     "body", jbin(&x->body), "body_region", jbin(&x->body_region),
                     "at_ms", (json_int_t)x->at_ms, "note", jbin(&x->note),
                     "instruction", jbin(&x->instruction),
                     "instruction_level", jbin(&x->instruction_level),
                     "destination", jbin(&x->destination),
                     "destination_receipt", jbin(&x->destination_receipt));
}

void triage_r_apply(struct store *st, const char *dest, const char *body_region,
                    const Minyi__V1__Result *const *results, size_t n_results,
                    store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_R_APPLY, STMT_R_APPLY, cb, arg);
    json_t *arr = json_array();
    char *text = NULL;
    size_t i;

    if (!arr)
        oom_abort();
    for (i = 0; i < n_results; i++) {
        json_t *x = result_json(results[i]);
        if (!x || json_array_append_new(arr, x) != 0) {
            json_decref(arr);
            t_invalid(st, op, "results", "a result is not valid text", "结果内容编码无效");
            return;
        }
    }
    text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!text)
        oom_abort();
    param_str(op, 0, dest);
    param_str(op, 1, body_region);
    param_str(op, 2, text);
    free(text);
    store_op_enqueue(st, op);
}

void triage_send(struct store_conn *c, struct store_op *op)
{
    pool_send(c, op->stmt, op->nparams, (const char *const *)op->params, NULL, NULL);
}

/* ---- building the answers ------------------------------------------------------ */

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

static int64_t jint(const json_t *o, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(o, key));
}

static bool set_bytes_n(ProtobufCBinaryData *b, const void *p, size_t len)
{
    b->data = NULL;
    b->len = 0;
    if (len == 0)
        return true;
    b->data = malloc(len);
    if (!b->data)
        return false;
    memcpy(b->data, p, len);
    b->len = len;
    return true;
}

static bool set_bytes(ProtobufCBinaryData *b, const char *s)
{
    return set_bytes_n(b, s, strlen(s));
}

static bool jbytes(ProtobufCBinaryData *b, const json_t *o, const char *key)
{
    return set_bytes(b, jstr(o, key));
}

static int jstate(const json_t *o, const char *key)
{
    return enum_value(&minyi__v1__report_state__descriptor, jstr(o, key));
}

static bool build_queue(const json_t *j, Minyi__V1__QueueResponse *m)
{
    const json_t *items = json_object_get(j, "items");
    size_t i, n = json_array_size(items);

    if (n > 0) {
        m->items = calloc(n, sizeof *m->items);
        if (!m->items)
            return false;
    }
    for (i = 0; i < n; i++) {
        const json_t *x = json_array_get(items, i);
        Minyi__V1__QueueItem *it = malloc(sizeof *it);
        if (!it)
            return false;
        minyi__v1__queue_item__init(it);
        m->items[m->n_items++] = it;
        if (!jbytes(&it->receipt, x, "receipt") || !jbytes(&it->title, x, "title") ||
            !jbytes(&it->contact_point, x, "contact_point") ||
            !jbytes(&it->claimed_by, x, "claimed_by") || !jbytes(&it->region, x, "region"))
            return false;
        it->category = (Minyi__V1__Category)jint(x, "category");
        it->urgency = (Minyi__V1__Urgency)jint(x, "urgency");
        it->contact_point_id = jint(x, "contact_point_id");
        it->received_at_ms = jint(x, "received_at_ms");
        it->state = jstate(x, "state");
        it->claim_expires_ms = jint(x, "claim_expires_ms");
        it->overdue = json_is_true(json_object_get(x, "overdue"));
    }
    return jbytes(&m->next_cursor, j, "next");
}

static bool build_history(const json_t *arr, Minyi__V1__HistoryEntry ***out, size_t *n_out)
{
    size_t i, n = json_array_size(arr);

    *n_out = 0;
    if (n == 0)
        return true;
    *out = calloc(n, sizeof **out);
    if (!*out)
        return false;
    for (i = 0; i < n; i++) {
        const json_t *x = json_array_get(arr, i);
        Minyi__V1__HistoryEntry *h = malloc(sizeof *h);
        if (!h)
            return false;
        minyi__v1__history_entry__init(h);
        (*out)[(*n_out)++] = h;
        if (!jbytes(&h->note, x, "note") || !jbytes(&h->action, x, "action") ||
            !jbytes(&h->body, x, "body") || !jbytes(&h->body_region, x, "body_region") ||
            !jbytes(&h->instruction, x, "instruction") ||
            !jbytes(&h->instruction_level, x, "instruction_level") ||
            !jbytes(&h->actor, x, "actor"))
            return false;
        h->at_ms = jint(x, "at_ms");
        h->state = jstate(x, "state");
    }
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Opens a sealed personal field given in hex.  An empty result when it
 * cannot be opened (another key): the editor sees the rest of the report,
 * and the log says why the field is missing. */
static bool open_sealed(const struct store *st, const char *hex, const char *aad,
                        ProtobufCBinaryData *out)
{
    size_t hlen = strlen(hex), len = hlen / 2, i;
    uint8_t *sealed;
    uint8_t *pt;
    bool ok;

    out->data = NULL;
    out->len = 0;
    if (hlen == 0 || hlen % 2 != 0 || len < PII_OVERHEAD)
        return true;
    sealed = malloc(len);
    pt = malloc(len - PII_OVERHEAD + 1);
    if (!sealed || !pt) {
        free(sealed);
        free(pt);
        return false;
    }
    for (i = 0; i < len; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            break;
        sealed[i] = (uint8_t)(hi << 4 | lo);
    }
    ok = i == len && pii_open(st->pii_key, aad, sealed, len, pt);
    free(sealed);
    if (!ok) {
        log_warnx("module=store event=pii_open_failed aad=%s", aad);
        free(pt);
        return true;
    }
    if (len - PII_OVERHEAD == 0) {
        free(pt);
        return true;
    }
    out->data = pt;
    out->len = len - PII_OVERHEAD;
    return true;
}

/* The lines of a version as one document, so a diff shows every field. */
static char *version_doc(const json_t *v)
{
    const char *cat = enum_name(&minyi__v1__category__descriptor, (int)jint(v, "category"));
    char *doc = NULL;

    if (asprintf(&doc, "title: %s\ncategory: %s\nsituation:\n%s\nanalysis:\n%s\nsuggestions:\n%s",
                 jstr(v, "title"), cat ? cat : "?", jstr(v, "situation"), jstr(v, "analysis"),
                 jstr(v, "suggestions")) < 0)
        return NULL;
    return doc;
}

struct lines {
    char **v;
    size_t n;
};

/* Splits doc in place at newlines. */
static bool split_lines(char *doc, struct lines *l)
{
    size_t cap = 16;
    char *p = doc;

    l->n = 0;
    l->v = malloc(cap * sizeof *l->v);
    if (!l->v)
        return false;
    for (;;) {
        char *nl = strchr(p, '\n');
        if (l->n == cap) {
            char **v = realloc(l->v, cap * 2 * sizeof *v);
            if (!v)
                return false;
            l->v = v;
            cap *= 2;
        }
        l->v[l->n++] = p;
        if (!nl)
            return true;
        *nl = '\0';
        p = nl + 1;
    }
}

struct outbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

/* Appends "<mark> <line>\n", or the line alone when mark is 0. */
static void out_line(struct outbuf *o, char mark, const char *line)
{
    size_t n = strlen(line) + 3;

    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap ? o->cap * 2 : 1024) + n;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->failed = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    if (mark)
        o->len += (size_t)snprintf(o->p + o->len, o->cap - o->len, "%c %s\n", mark, line);
    else
        o->len += (size_t)snprintf(o->p + o->len, o->cap - o->len, "%s\n", line);
}

/*
 * A line diff of b (the shown version) against a (version 1): every line,
 * marked ' ' (in both), '-' (only in version 1) or '+' (only in b), in the
 * order of a longest common subsequence.  Common first and last lines are
 * taken off before the LCS table is made; when what is left is still too
 * big for the table, the middle is shown as all removed, then all added.
 */
static bool line_diff(const json_t *a_json, const json_t *b_json, uint32_t b_version,
                      ProtobufCBinaryData *out)
{
    char *da = version_doc(a_json), *db = version_doc(b_json), head[64];
    struct lines a = { 0 }, b = { 0 };
    struct outbuf o = { 0 };
    uint16_t *t = NULL;
    size_t pre = 0, suf = 0, n, m, i, j;
    bool ok = false;

    if (!da || !db || !split_lines(da, &a) || !split_lines(db, &b))
        goto done;
    snprintf(head, sizeof head, "--- version 1\n+++ version %" PRIu32, b_version);
    out_line(&o, 0, head);
    while (pre < a.n && pre < b.n && strcmp(a.v[pre], b.v[pre]) == 0)
        pre++;
    while (suf < a.n - pre && suf < b.n - pre &&
           strcmp(a.v[a.n - 1 - suf], b.v[b.n - 1 - suf]) == 0)
        suf++;
    for (i = 0; i < pre; i++)
        out_line(&o, ' ', a.v[i]);
    n = a.n - pre - suf;
    m = b.n - pre - suf;
    if (n > 0 && m > 0 && n <= TRIAGE_DIFF_LINES_MAX && m <= TRIAGE_DIFF_LINES_MAX &&
        (n + 1) * (m + 1) <= TRIAGE_DIFF_CELLS_MAX)
        t = calloc((n + 1) * (m + 1), sizeof *t);
    if (t) {
        /* t[i][j]: LCS length of a[pre+i..] and b[pre+j..]. */
        for (i = n; i-- > 0;)
            for (j = m; j-- > 0;)
                t[i * (m + 1) + j] =
                    strcmp(a.v[pre + i], b.v[pre + j]) == 0
                        ? (uint16_t)(t[(i + 1) * (m + 1) + j + 1] + 1)
                        : (t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1]
                               ? t[(i + 1) * (m + 1) + j] : t[i * (m + 1) + j + 1]);
        i = j = 0;
        while (i < n || j < m) {
            if (i < n && j < m && strcmp(a.v[pre + i], b.v[pre + j]) == 0) {
                out_line(&o, ' ', a.v[pre + i]);
                i++;
                j++;
            } else if (i < n && (j == m || t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1])) {
                /* On a tie the removal comes first, as diff(1) prints it. */
                out_line(&o, '-', a.v[pre + i++]);
            } else {
                out_line(&o, '+', b.v[pre + j++]);
            }
        }
    } else {
        for (i = 0; i < n; i++)
            out_line(&o, '-', a.v[pre + i]);
        for (j = 0; j < m; j++)
            out_line(&o, '+', b.v[pre + j]);
    }
    for (i = a.n - suf; i < a.n; i++)
        out_line(&o, ' ', a.v[i]);
    if (o.failed)
        goto done;
    out->data = (uint8_t *)o.p;
    out->len = o.len;
    o.p = NULL;
    ok = true;
done:
    free(t);
    free(o.p);
    free(a.v);
    free(b.v);
    free(da);
    free(db);
    return ok;
}

static bool build_show(const struct store *st, const json_t *j, bool diff,
                       Minyi__V1__ShowResponse *m)
{
    const json_t *v = json_object_get(j, "version");
    const json_t *arr;
    Minyi__V1__ReportVersion *rv;
    Minyi__V1__Reporter *rep;
    size_t i, n;

    if (!jbytes(&m->receipt, j, "receipt") || !jbytes(&m->region, j, "region") ||
        !jbytes(&m->contact_point, j, "contact_point") ||
        !jbytes(&m->claimed_by, j, "claimed_by") || !jbytes(&m->merged_into, j, "merged_into"))
        return false;
    m->state = jstate(j, "state");
    m->latest_version = (uint32_t)jint(j, "latest_version");
    m->urgency = (Minyi__V1__Urgency)jint(j, "urgency");
    m->received_at_ms = jint(j, "received_at_ms");
    m->claim_expires_ms = jint(j, "claim_expires_ms");

    rv = malloc(sizeof *rv);
    if (!rv)
        return false;
    minyi__v1__report_version__init(rv);
    m->version = rv;
    rv->version = (uint32_t)jint(v, "version");
    rv->at_ms = jint(v, "at_ms");
    rv->category = (Minyi__V1__Category)jint(v, "category");
    if (!jbytes(&rv->author, v, "author") || !jbytes(&rv->title, v, "title") ||
        !jbytes(&rv->situation, v, "situation") || !jbytes(&rv->analysis, v, "analysis") ||
        !jbytes(&rv->suggestions, v, "suggestions") || !jbytes(&rv->note, v, "note"))
        return false;
    if (diff && !line_diff(json_object_get(j, "first"), v, rv->version, &m->diff))
        return false;

    rep = malloc(sizeof *rep);
    if (!rep)
        return false;
    minyi__v1__reporter__init(rep);
    m->reporter = rep;
    rep->kind = (Minyi__V1__ReporterKind)jint(j, "reporter_kind");
    if (!jbytes(&rep->unit, j, "reporter_unit") || !jbytes(&rep->sector, j, "reporter_sector"))
        return false;
    if (json_is_string(json_object_get(j, "reporter_name"))) {
        if (!jbytes(&rep->name, j, "reporter_name"))
            return false;
    } else if (!open_sealed(st, jstr(j, "reporter_name_enc"), STORE_AAD_REPORTER_NAME,
                            &rep->name)) {
        return false;
    }
    if (!open_sealed(st, jstr(j, "phone_enc"), STORE_AAD_PHONE, &m->phone))
        return false;

    if (!build_history(json_object_get(j, "history"), &m->history, &m->n_history))
        return false;

    arr = json_object_get(j, "similar");
    n = json_array_size(arr);
    if (n > 0 && !(m->similar = calloc(n, sizeof *m->similar)))
        return false;
    for (i = 0; i < n; i++) {
        const json_t *x = json_array_get(arr, i);
        Minyi__V1__SimilarReport *s = malloc(sizeof *s);
        if (!s)
            return false;
        minyi__v1__similar_report__init(s);
        m->similar[m->n_similar++] = s;
        if (!jbytes(&s->receipt, x, "receipt") || !jbytes(&s->title, x, "title"))
            return false;
        s->state = jstate(x, "state");
        s->similarity = (float)json_number_value(json_object_get(x, "similarity"));
    }

    arr = json_object_get(j, "merged_from");
    n = json_array_size(arr);
    if (n > 0 && !(m->merged_from = calloc(n, sizeof *m->merged_from)))
        return false;
    for (i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!set_bytes(&m->merged_from[m->n_merged_from++], s ? s : ""))
            return false;
    }

    arr = json_object_get(j, "deliveries");
    n = json_array_size(arr);
    if (n > 0 && !(m->deliveries = calloc(n, sizeof *m->deliveries)))
        return false;
    for (i = 0; i < n; i++) {
        const json_t *x = json_array_get(arr, i);
        Minyi__V1__Delivery *d = malloc(sizeof *d);
        if (!d)
            return false;
        minyi__v1__delivery__init(d);
        m->deliveries[m->n_deliveries++] = d;
        if (!jbytes(&d->destination, x, "destination") || !jbytes(&d->state, x, "state") ||
            !jbytes(&d->last_error, x, "last_error") ||
            !jbytes(&d->upstream_receipt, x, "upstream_receipt"))
            return false;
        d->attempts = (uint32_t)jint(x, "attempts");
        d->next_attempt_ms = jint(x, "next_attempt_ms");
    }
    return attach_show_list(json_object_get(j, "attachments"), m);
}

/* Allocates and initialises a response message of the given type. */
#define NEW_MSG(type, init, var)                    \
    do {                                            \
        type *m_ = malloc(sizeof *m_);              \
        if (m_) {                                   \
            init(m_);                               \
            msg = &m_->base;                        \
        }                                           \
        var = m_;                                   \
    } while (0)

static bool jbytes(ProtobufCBinaryData *b, const json_t *o, const char *key);

/* One claimed outbox row as the request to send upstream.  A report that
 * came here from below keeps its origin; one received here names this
 * body as its origin.  Either way this body joins the chain. */
static bool build_outbox_item(const struct store *st, const json_t *x, Minyi__V1__OutboxItem *it)
{
    Minyi__V1__ForwardRequest *fr;
    Minyi__V1__Report *r;
    Minyi__V1__Reporter *rep;
    const json_t *chain = json_object_get(x, "origin_chain");
    size_t n = json_array_size(chain), i;

    it->outbox_id = jint(x, "outbox_id");
    it->attempt = (uint32_t)jint(x, "attempt");
    if (!jbytes(&it->destination, x, "destination") || !jbytes(&it->receipt, x, "receipt"))
        return false;
    if (!(fr = malloc(sizeof *fr)))
        return false;
    minyi__v1__forward_request__init(fr);
    it->forward = fr;
    if (!(r = malloc(sizeof *r)))
        return false;
    minyi__v1__report__init(r);
    fr->report = r;
    if (!(rep = malloc(sizeof *rep)))
        return false;
    minyi__v1__reporter__init(rep);
    r->reporter = rep;
    if (!jbytes(&r->title, x, "title") || !jbytes(&r->situation, x, "situation") ||
        !jbytes(&r->analysis, x, "analysis") || !jbytes(&r->suggestions, x, "suggestions") ||
        !jbytes(&r->region, x, "region") || !jbytes(&rep->unit, x, "reporter_unit") ||
        !jbytes(&rep->sector, x, "reporter_sector"))
        return false;
    r->category = (Minyi__V1__Category)jint(x, "category");
    r->urgency = (Minyi__V1__Urgency)jint(x, "urgency");
    rep->kind = (Minyi__V1__ReporterKind)jint(x, "reporter_kind");
    if (json_is_string(json_object_get(x, "reporter_name"))) {
        if (!jbytes(&rep->name, x, "reporter_name"))
            return false;
    } else if (!open_sealed(st, jstr(x, "reporter_name_enc"), STORE_AAD_REPORTER_NAME,
                            &rep->name)) {
        return false;
    }
    if (!open_sealed(st, jstr(x, "phone_enc"), STORE_AAD_PHONE, &r->phone) ||
        !attach_report_list(json_object_get(x, "attachments"), r))
        return false;
    if (json_is_string(json_object_get(x, "origin_receipt"))) {
        if (!jbytes(&fr->origin_region, x, "origin_region") ||
            !jbytes(&fr->origin_receipt, x, "origin_receipt") ||
            !jbytes(&fr->origin_body, x, "origin_body"))
            return false;
    } else {
        if (!set_bytes(&fr->origin_region, st->body_region) ||
            !jbytes(&fr->origin_receipt, x, "receipt"))
            return false;
    }
    if (n >= TRIAGE_CHAIN_MAX)
        n = TRIAGE_CHAIN_MAX - 1;
    if (!(fr->chain = calloc(n + 1, sizeof *fr->chain)))
        return false;
    for (i = 0; i < n; i++)
        if (!set_bytes(&fr->chain[fr->n_chain++], json_string_value(json_array_get(chain, i))))
            return false;
    return set_bytes(&fr->chain[fr->n_chain++], st->body_region);
}

static bool build_outbox_claim(const struct store *st, const json_t *j, Minyi__V1__OutboxClaim *m)
{
    const json_t *arr = json_object_get(j, "items");
    size_t n = json_array_size(arr), i;

    if (n == 0)
        return true;
    if (!(m->items = calloc(n, sizeof *m->items)))
        return false;
    for (i = 0; i < n; i++) {
        Minyi__V1__OutboxItem *it = malloc(sizeof *it);
        if (!it)
            return false;
        minyi__v1__outbox_item__init(it);
        m->items[m->n_items++] = it;
        if (!build_outbox_item(st, json_array_get(arr, i), it))
            return false;
    }
    return true;
}

/* The editors' outbox page (defined with its calls at the end). */
static bool build_outbox_list(const json_t *j, Minyi__V1__OutboxResponse *m);

static bool build_results(const json_t *j, Minyi__V1__ResultsResponse *m)
{
    const json_t *arr = json_object_get(j, "items");
    size_t n = json_array_size(arr), i;

    m->more = json_is_true(json_object_get(j, "more"));
    if (n == 0)
        return true;
    if (!(m->results = calloc(n, sizeof *m->results)))
        return false;
    for (i = 0; i < n; i++) {
        const json_t *x = json_array_get(arr, i);
        Minyi__V1__Result *r = malloc(sizeof *r);
        if (!r)
            return false;
        minyi__v1__result__init(r);
        m->results[m->n_results++] = r;
        r->id = jint(x, "id");
        r->at_ms = jint(x, "at_ms");
        if (!jbytes(&r->receipt, x, "receipt") ||
            !jbytes(&r->origin_region, x, "origin_region") ||
            !jbytes(&r->origin_receipt, x, "origin_receipt") || !jbytes(&r->kind, x, "kind") ||
            !jbytes(&r->body, x, "body") || !jbytes(&r->body_region, x, "body_region") ||
            !jbytes(&r->note, x, "note") || !jbytes(&r->instruction, x, "instruction") ||
            !jbytes(&r->instruction_level, x, "instruction_level") ||
            !jbytes(&r->destination, x, "destination") ||
            !jbytes(&r->destination_receipt, x, "destination_receipt"))
            return false;
    }
    return true;
}

/* The ids minyi_r_apply says may be acknowledged, as the next request's. */
static bool build_acks(const json_t *j, Minyi__V1__ResultsRequest *m)
{
    const json_t *arr = json_object_get(j, "ack");
    size_t n = json_array_size(arr), i;

    if (n == 0)
        return true;
    if (!(m->ack = calloc(n, sizeof *m->ack)))
        return false;
    for (i = 0; i < n; i++)
        m->ack[m->n_ack++] = (int64_t)json_integer_value(json_array_get(arr, i));
    return true;
}

void triage_finish(struct store *st, struct store_op *op, const PGresult *res)
{
    ProtobufCMessage *msg = NULL;
    json_error_t jerr;
    json_t *j = NULL;
    bool ok = false;
    int64_t code;

    if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0) ||
        !(j = json_loads(PQgetvalue(res, 0, 0), 0, &jerr)) || !json_is_object(j)) {
        log_error("module=store event=triage_bad_answer kind=%d", op->tkind);
        json_decref(j);
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__INTERNAL, NULL, "database answer malformed",
                      "数据库返回格式错误");
        return;
    }
    code = jint(j, "code");
    if (code != 0) {
        store_op_fail(st, op, (int)code, static_field(json_string_value(json_object_get(j, "field"))),
                      jstr(j, "msg"), jstr(j, "zh"));
        json_decref(j);
        return;
    }
    switch ((enum triage_kind)op->tkind) {
    case T_QUEUE: {
        Minyi__V1__QueueResponse *m;
        NEW_MSG(Minyi__V1__QueueResponse, minyi__v1__queue_response__init, m);
        ok = m && build_queue(j, m);
        break;
    }
    case T_SHOW: {
        Minyi__V1__ShowResponse *m;
        NEW_MSG(Minyi__V1__ShowResponse, minyi__v1__show_response__init, m);
        ok = m && build_show(st, j, op->show_diff, m);
        break;
    }
    case T_CLAIM:
    case T_RENEW: {
        Minyi__V1__ClaimResponse *m;
        NEW_MSG(Minyi__V1__ClaimResponse, minyi__v1__claim_response__init, m);
        ok = m && jbytes(&m->receipt, j, "receipt");
        if (ok)
            m->expires_ms = jint(j, "expires_ms");
        break;
    }
    case T_FW_CLAIM: {
        Minyi__V1__OutboxClaim *m;
        NEW_MSG(Minyi__V1__OutboxClaim, minyi__v1__outbox_claim__init, m);
        ok = m && build_outbox_claim(st, j, m);
        break;
    }
    case T_R_PULL: {
        Minyi__V1__ResultsResponse *m;
        NEW_MSG(Minyi__V1__ResultsResponse, minyi__v1__results_response__init, m);
        ok = m && build_results(j, m);
        break;
    }
    case T_R_APPLY: {
        Minyi__V1__ResultsRequest *m;
        NEW_MSG(Minyi__V1__ResultsRequest, minyi__v1__results_request__init, m);
        ok = m && build_acks(j, m);
        break;
    }
    case T_FW_MARK:
    case T_RELEASE: {
        Minyi__V1__Ok *m;
        NEW_MSG(Minyi__V1__Ok, minyi__v1__ok__init, m);
        ok = m != NULL;
        break;
    }
    case T_EDIT: {
        Minyi__V1__EditResponse *m;
        NEW_MSG(Minyi__V1__EditResponse, minyi__v1__edit_response__init, m);
        ok = m && jbytes(&m->receipt, j, "receipt");
        if (ok)
            m->version = (uint32_t)jint(j, "version");
        break;
    }
    case T_DECIDE: {
        Minyi__V1__DecideResponse *m;
        NEW_MSG(Minyi__V1__DecideResponse, minyi__v1__decide_response__init, m);
        ok = m && jbytes(&m->receipt, j, "receipt");
        if (ok)
            m->state = jstate(j, "state");
        break;
    }
    case T_RESUBMIT:
    case T_FORWARD_NOTE: {
        Minyi__V1__SubmitResponse *m;
        NEW_MSG(Minyi__V1__SubmitResponse, minyi__v1__submit_response__init, m);
        ok = m && jbytes(&m->receipt, j, "receipt");
        if (ok) {
            m->duplicate = json_is_true(json_object_get(j, "duplicate"));
            m->received_at_ms = jint(j, "received_at_ms");
        }
        break;
    }
    case T_O_LIST: {
        Minyi__V1__OutboxResponse *m;
        NEW_MSG(Minyi__V1__OutboxResponse, minyi__v1__outbox_response__init, m);
        ok = m && build_outbox_list(j, m);
        break;
    }
    case T_O_ACT: {
        Minyi__V1__Ok *m;
        NEW_MSG(Minyi__V1__Ok, minyi__v1__ok__init, m);
        ok = m != NULL;
        break;
    }
    case T_ATTACHMENT: {
        Minyi__V1__Attachment *m;
        NEW_MSG(Minyi__V1__Attachment, minyi__v1__attachment__init, m);
        ok = m && attach_fill(j, m);
        break;
    }
    default:
        log_error("module=store event=bug reason=\"triage_finish with kind %d\"", op->tkind);
        abort();
    }
    json_decref(j);
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

/* ---- the editors' outbox ---------------------------------------------------------- */

static const char *const outbox_states[TRIAGE_OUTBOX_STATES] = {
    "pending", "in_flight", "delivered", "result", "dead", "cancelled",
};

bool triage_outbox_state_known(const char *s)
{
    for (size_t i = 0; i < TRIAGE_OUTBOX_STATES; i++)
        if (strcmp(s, outbox_states[i]) == 0)
            return true;
    return false;
}

/* The cursor is the decimal id of the last row of a page. */
static bool outbox_cursor_parse(const char *s, int64_t *id)
{
    size_t n = strlen(s);

    if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
        return false;
    *id = (int64_t)strtoll(s, NULL, 10);
    return *id > 0;
}

void triage_outbox_list(struct store *st, int64_t actor, const struct triage_outbox_query *q,
                        store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_O_LIST, STMT_O_LIST, cb, arg);
    /* {"in_flight",...}: every state at most once. */
    char arr[TRIAGE_OUTBOX_STATES * 16 + 4];
    int64_t cur;
    uint32_t limit;
    size_t i, n;

    param_i64(op, 0, actor);
    if (q->n_states == 0) {
        param_null(op, 1);
    } else {
        if (q->n_states > TRIAGE_OUTBOX_STATES) {
            t_invalid(st, op, "outbox.filter.states", "too many states in the filter",
                      "筛选条件中的状态过多");
            return;
        }
        n = (size_t)snprintf(arr, sizeof arr, "{");
        for (i = 0; i < q->n_states; i++) {
            /* Checked against the list: they become array elements. */
            if (!q->states[i] || !triage_outbox_state_known(q->states[i])) {
                t_invalid(st, op, "outbox.filter.states", "unknown delivery state",
                          "未知的报送状态");
                return;
            }
            n += (size_t)snprintf(arr + n, sizeof arr - n, "%s%s", i ? "," : "", q->states[i]);
        }
        snprintf(arr + n, sizeof arr - n, "}");
        param_str(op, 1, arr);
    }
    if (q->destination && *q->destination)
        param_str(op, 2, q->destination);
    else
        param_null(op, 2);
    if (q->receipt && *q->receipt)
        param_str(op, 3, q->receipt);
    else
        param_null(op, 3);
    if (!q->cursor || !*q->cursor) {
        param_null(op, 4);
    } else if (!outbox_cursor_parse(q->cursor, &cur)) {
        t_invalid(st, op, "outbox.cursor", "the cursor is not one this server gave out",
                  "分页游标无效");
        return;
    } else {
        param_i64(op, 4, cur);
    }
    limit = q->limit == 0 ? TRIAGE_OUTBOX_DEFAULT : q->limit;
    if (limit > TRIAGE_OUTBOX_MAX)
        limit = TRIAGE_OUTBOX_MAX;
    param_i64(op, 5, limit);
    store_op_enqueue(st, op);
}

void triage_outbox_act(struct store *st, int64_t actor, int64_t outbox_id, int action,
                       const char *note, store_reply_cb cb, void *arg)
{
    struct store_op *op = t_new(T_O_ACT, STMT_O_ACT, cb, arg);
    const char *name = enum_name(&minyi__v1__outbox_action__descriptor, action);

    param_i64(op, 0, actor);
    if (outbox_id <= 0) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "outbox_action.outbox_id",
                      "no delivery with this id", "没有此编号的报送");
        return;
    }
    param_i64(op, 1, outbox_id);
    if (!name) {
        t_invalid(st, op, "outbox_action.action", "action must be RETRY or CANCEL",
                  "操作须为重试或取消");
        return;
    }
    param_str(op, 2, name);
    param_str(op, 3, note ? note : "");
    store_op_enqueue(st, op);
}

static bool build_outbox_list(const json_t *j, Minyi__V1__OutboxResponse *m)
{
    const json_t *items = json_object_get(j, "items");
    size_t i, n = json_array_size(items);

    if (n > 0 && !(m->items = calloc(n, sizeof *m->items)))
        return false;
    for (i = 0; i < n; i++) {
        const json_t *x = json_array_get(items, i);
        Minyi__V1__OutboxEntry *e = malloc(sizeof *e);
        if (!e)
            return false;
        minyi__v1__outbox_entry__init(e);
        m->items[m->n_items++] = e;
        if (!jbytes(&e->receipt, x, "receipt") || !jbytes(&e->title, x, "title") ||
            !jbytes(&e->destination, x, "destination") || !jbytes(&e->state, x, "state") ||
            !jbytes(&e->last_error, x, "last_error") ||
            !jbytes(&e->upstream_receipt, x, "upstream_receipt"))
            return false;
        e->outbox_id = jint(x, "outbox_id");
        e->attempts = (uint32_t)jint(x, "attempts");
        e->next_attempt_ms = jint(x, "next_attempt_ms");
        e->created_ms = jint(x, "created_ms");
    }
    return jbytes(&m->next_cursor, j, "next");
}
