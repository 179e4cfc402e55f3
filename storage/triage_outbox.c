/*
 * triage_outbox: the editors' view of the outbox — the deliveries of
 * their body's reports, and retrying or cancelling one (triage.h;
 * migration 0006).
 */
#include "triage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        if (!tj_bytes(&e->receipt, x, "receipt") || !tj_bytes(&e->title, x, "title") ||
            !tj_bytes(&e->destination, x, "destination") || !tj_bytes(&e->state, x, "state") ||
            !tj_bytes(&e->last_error, x, "last_error") ||
            !tj_bytes(&e->upstream_receipt, x, "upstream_receipt"))
            return false;
        e->outbox_id = tj_int(x, "outbox_id");
        e->attempts = (uint32_t)tj_int(x, "attempts");
        e->next_attempt_ms = tj_int(x, "next_attempt_ms");
        e->created_ms = tj_int(x, "created_ms");
    }
    return tj_bytes(&m->next_cursor, j, "next");
}

static bool outbox_list_reply(const struct store *st, const struct store_op *op,
                              const json_t *j, ProtobufCMessage **msg)
{
    Minyi__V1__OutboxResponse *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__OutboxResponse, minyi__v1__outbox_response__init, m);
    return m && build_outbox_list(j, m);
}

void triage_outbox_list(struct store *st, int64_t actor, const struct triage_outbox_query *q,
                        store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_O_LIST, outbox_list_reply, cb, arg);
    /* {"in_flight",...}: every state at most once. */
    char arr[TRIAGE_OUTBOX_STATES * 16 + 4];
    int64_t cur;
    uint32_t limit;
    size_t i, n;

    triage_param_i64(op, 0, actor);
    if (q->n_states == 0) {
        triage_param_null(op, 1);
    } else {
        if (q->n_states > TRIAGE_OUTBOX_STATES) {
            triage_invalid(st, op, "outbox.filter.states", "too many states in the filter",
                           "筛选条件中的状态过多");
            return;
        }
        n = (size_t)snprintf(arr, sizeof arr, "{");
        for (i = 0; i < q->n_states; i++) {
            /* Checked against the list: they become array elements. */
            if (!q->states[i] || !triage_outbox_state_known(q->states[i])) {
                triage_invalid(st, op, "outbox.filter.states", "unknown delivery state",
                               "未知的报送状态");
                return;
            }
            n += (size_t)snprintf(arr + n, sizeof arr - n, "%s%s", i ? "," : "", q->states[i]);
        }
        snprintf(arr + n, sizeof arr - n, "}");
        triage_param_str(op, 1, arr);
    }
    if (q->destination && *q->destination)
        triage_param_str(op, 2, q->destination);
    else
        triage_param_null(op, 2);
    if (q->receipt && *q->receipt)
        triage_param_str(op, 3, q->receipt);
    else
        triage_param_null(op, 3);
    if (!q->cursor || !*q->cursor) {
        triage_param_null(op, 4);
    } else if (!outbox_cursor_parse(q->cursor, &cur)) {
        triage_invalid(st, op, "outbox.cursor", "the cursor is not one this server gave out",
                       "分页游标无效");
        return;
    } else {
        triage_param_i64(op, 4, cur);
    }
    limit = q->limit == 0 ? TRIAGE_OUTBOX_DEFAULT : q->limit;
    if (limit > TRIAGE_OUTBOX_MAX)
        limit = TRIAGE_OUTBOX_MAX;
    triage_param_i64(op, 5, limit);
    store_op_enqueue(st, op);
}

void triage_outbox_act(struct store *st, int64_t actor, int64_t outbox_id, int action,
                       const char *note, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_O_ACT, triage_build_ok, cb, arg);
    const char *name = triage_enum_name(&minyi__v1__outbox_action__descriptor, action);

    triage_param_i64(op, 0, actor);
    if (outbox_id <= 0) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "outbox_action.outbox_id",
                      "no delivery with this id", "没有此编号的报送");
        return;
    }
    triage_param_i64(op, 1, outbox_id);
    if (!name) {
        triage_invalid(st, op, "outbox_action.action", "action must be RETRY or CANCEL",
                       "操作须为重试或取消");
        return;
    }
    triage_param_str(op, 2, name);
    triage_param_str(op, 3, note ? note : "");
    store_op_enqueue(st, op);
}
