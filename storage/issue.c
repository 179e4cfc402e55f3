/*
 * issue: 专报 issues (issue.h), each operation one call of a SQL function
 * of migration 0027_issues.sql sent as a triage operation.
 */
#include "issue.h"
#include "triage_int.h"

#include <stdlib.h>

static bool build_item(const json_t *x, Minyi__V1__IssueItem *it)
{
    it->position = (uint32_t)tj_int(x, "position");
    it->category = (Minyi__V1__Category)tj_int(x, "category");
    return tj_bytes(&it->receipt, x, "receipt") && tj_bytes(&it->title, x, "title") &&
           tj_bytes(&it->text, x, "text") && tj_bytes(&it->source, x, "source");
}

static bool build_sends(const json_t *sends, Minyi__V1__Issue *m)
{
    size_t n = json_array_size(sends);

    if (n > 0 && !(m->sends = calloc(n, sizeof *m->sends)))
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(sends, i);
        Minyi__V1__IssueSend *s = malloc(sizeof *s);
        if (!s)
            return false;
        minyi__v1__issue_send__init(s);
        m->sends[m->n_sends++] = s;
        s->sent_at_ms = tj_int(x, "sent_at_ms");
        if (!tj_bytes(&s->destination, x, "destination") ||
            !tj_bytes(&s->display_name, x, "display_name") || !tj_bytes(&s->sent_by, x, "sent_by"))
            return false;
    }
    return true;
}

/* Fills m from the answer's issue object x, items, sends and all. */
static bool build_issue(const json_t *x, Minyi__V1__Issue *m)
{
    const json_t *items = json_object_get(x, "items");
    size_t n = json_array_size(items);

    m->id = tj_int(x, "id");
    m->year = (int32_t)tj_int(x, "year");
    m->number = (uint32_t)tj_int(x, "number");
    m->created_at_ms = tj_int(x, "created_at_ms");
    m->published_at_ms = tj_int(x, "published_at_ms");
    m->item_count = (uint32_t)tj_int(x, "item_count");
    if (!tj_bytes(&m->series, x, "series") || !tj_bytes(&m->title, x, "title") ||
        !tj_bytes(&m->editor_note, x, "editor_note") ||
        !tj_bytes(&m->body_name, x, "body_name") ||
        !tj_bytes(&m->published_by, x, "published_by"))
        return false;
    if (n > 0 && !(m->items = calloc(n, sizeof *m->items)))
        return false;
    for (size_t i = 0; i < n; i++) {
        Minyi__V1__IssueItem *it = malloc(sizeof *it);
        if (!it)
            return false;
        minyi__v1__issue_item__init(it);
        m->items[m->n_items++] = it;
        if (!build_item(json_array_get(items, i), it))
            return false;
    }
    return build_sends(json_object_get(x, "sends"), m);
}

static bool issue_reply(const struct store *st, const struct store_op *op, const json_t *j,
                        ProtobufCMessage **msg)
{
    Minyi__V1__Issue *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__Issue, minyi__v1__issue__init, m);
    return m != NULL && build_issue(json_object_get(j, "issue"), m);
}

static bool list_reply(const struct store *st, const struct store_op *op, const json_t *j,
                       ProtobufCMessage **msg)
{
    Minyi__V1__IssueListResponse *m;
    const json_t *issues = json_object_get(j, "issues");
    size_t n = json_array_size(issues);

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__IssueListResponse, minyi__v1__issue_list_response__init, m);
    if (!m || (n > 0 && !(m->issues = calloc(n, sizeof *m->issues))))
        return false;
    for (size_t i = 0; i < n; i++) {
        Minyi__V1__Issue *x = malloc(sizeof *x);
        if (!x)
            return false;
        minyi__v1__issue__init(x);
        m->issues[m->n_issues++] = x;
        if (!build_issue(json_array_get(issues, i), x))
            return false;
    }
    return true;
}

void issue_new(struct store *st, int64_t actor, const struct issue_new *n, store_reply_cb cb,
               void *arg)
{
    struct store_op *op = triage_op_new(STMT_ISSUE_NEW, issue_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    triage_param_str(op, 1, n->series);
    triage_param_i64(op, 2, n->year);
    triage_param_str(op, 3, n->title);
    triage_param_str(op, 4, n->editor_note);
    triage_param_str(op, 5, n->body_name);
    store_op_enqueue(st, op);
}

void issue_add(struct store *st, int64_t actor, int64_t issue_id, const char *receipt,
               const char *title, const char *text, uint32_t position, store_reply_cb cb,
               void *arg)
{
    struct store_op *op = triage_op_new(STMT_ISSUE_ADD, issue_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, issue_id);
    if (!triage_param_receipt(st, op, 2, receipt, "issue_add.receipt"))
        return;
    triage_param_str(op, 3, title);
    triage_param_str(op, 4, text);
    triage_param_i64(op, 5, position);
    triage_param_i64(op, 6, ISSUE_ITEMS_MAX);
    store_op_enqueue(st, op);
}

void issue_remove(struct store *st, int64_t actor, int64_t issue_id, const char *receipt,
                  store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_ISSUE_REMOVE, issue_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, issue_id);
    if (!triage_param_receipt(st, op, 2, receipt, "issue_remove.receipt"))
        return;
    store_op_enqueue(st, op);
}

/* The operations on one issue by its id alone. */
static void issue_by_id(struct store *st, const char *stmt, int64_t actor, int64_t issue_id,
                        store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(stmt, issue_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, issue_id);
    store_op_enqueue(st, op);
}

void issue_publish(struct store *st, int64_t actor, int64_t issue_id, store_reply_cb cb,
                   void *arg)
{
    issue_by_id(st, STMT_ISSUE_PUBLISH, actor, issue_id, cb, arg);
}

void issue_show(struct store *st, int64_t actor, int64_t issue_id, store_reply_cb cb,
                void *arg)
{
    issue_by_id(st, STMT_ISSUE_SHOW, actor, issue_id, cb, arg);
}

void issue_send(struct store *st, int64_t actor, int64_t issue_id, const char *dest,
                const char *display, int64_t at_ms, int future_slack_s, store_reply_cb cb,
                void *arg)
{
    struct store_op *op = triage_op_new(STMT_ISSUE_SEND, issue_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, issue_id);
    triage_param_str(op, 2, dest);
    triage_param_str(op, 3, display);
    triage_param_i64(op, 4, at_ms);
    triage_param_i64(op, 5, future_slack_s);
    store_op_enqueue(st, op);
}

void issue_list(struct store *st, int64_t actor, int year, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_ISSUE_LIST, list_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, year);
    triage_param_i64(op, 2, ISSUE_LIST_MAX);
    store_op_enqueue(st, op);
}
