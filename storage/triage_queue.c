/*
 * triage_queue: the editors' queue listing, the show of one report and
 * the fetch of one of its attachments (triage.h); the line diff show may
 * add is in triage_diff.c, the attachments' messages are made in attach.c.
 */
#include "attach.h"
#include "triage_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        if (!tj_bytes(&it->receipt, x, "receipt") || !tj_bytes(&it->title, x, "title") ||
            !tj_bytes(&it->contact_point, x, "contact_point") ||
            !tj_bytes(&it->claimed_by, x, "claimed_by") || !tj_bytes(&it->region, x, "region") ||
            !tj_bytes(&it->returned_above, x, "returned_above"))
            return false;
        it->category = (Minyi__V1__Category)tj_int(x, "category");
        it->urgency = (Minyi__V1__Urgency)tj_int(x, "urgency");
        it->contact_point_id = tj_int(x, "contact_point_id");
        it->received_at_ms = tj_int(x, "received_at_ms");
        it->state = tj_state(x, "state");
        it->claim_expires_ms = tj_int(x, "claim_expires_ms");
        it->overdue = json_is_true(json_object_get(x, "overdue"));
    }
    return tj_bytes(&m->next_cursor, j, "next");
}

static bool queue_reply(const struct store *st, const struct store_op *op, const json_t *j,
                        ProtobufCMessage **msg)
{
    Minyi__V1__QueueResponse *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__QueueResponse, minyi__v1__queue_response__init, m);
    return m && build_queue(j, m);
}

void triage_queue(struct store *st, int64_t actor, const struct triage_queue_query *q,
                  store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_T_QUEUE, queue_reply, cb, arg);
    /* {"IN_REVIEW",...}: state names are longer than category numbers. */
    char arr[TRIAGE_FILTER_MAX * 24 + 4];
    int64_t cur[3];
    size_t i, n;
    uint32_t limit;

    triage_param_i64(op, 0, actor);
    if (q->n_states > TRIAGE_FILTER_MAX || q->n_categories > TRIAGE_FILTER_MAX) {
        triage_invalid(st, op, "queue.filter", "too many states or categories in the filter",
                       "筛选条件中的状态或类别过多");
        return;
    }
    if (q->n_states == 0 && q->dead_deliveries_only) {
        /* A dead delivery belongs to a forwarded report, which the default
         * states (the open ones) never show: without states, any state. */
        triage_param_str(op, 1, "{RECEIVED,IN_REVIEW,ADOPTED,REJECTED,RETURNED,MERGED,FORWARDED,"
                         "ADOPTED_ABOVE,NOT_ADOPTED_ABOVE}");
    } else if (q->n_states == 0) {
        triage_param_null(op, 1);
    } else {
        n = (size_t)snprintf(arr, sizeof arr, "{");
        for (i = 0; i < q->n_states; i++) {
            const char *name = triage_enum_name(&minyi__v1__report_state__descriptor, q->states[i]);
            if (!name) {
                triage_invalid(st, op, "queue.filter.states", "unknown report state", "未知的信息状态");
                return;
            }
            n += (size_t)snprintf(arr + n, sizeof arr - n, "%s%s", i ? "," : "", name);
        }
        snprintf(arr + n, sizeof arr - n, "}");
        triage_param_str(op, 1, arr);
    }
    if (q->n_categories == 0) {
        triage_param_null(op, 2);
    } else {
        n = (size_t)snprintf(arr, sizeof arr, "{");
        for (i = 0; i < q->n_categories; i++) {
            if (!triage_enum_name(&minyi__v1__category__descriptor, q->categories[i])) {
                triage_invalid(st, op, "queue.filter.categories", "unknown category", "未知的类别");
                return;
            }
            n += (size_t)snprintf(arr + n, sizeof arr - n, "%s%d", i ? "," : "", q->categories[i]);
        }
        snprintf(arr + n, sizeof arr - n, "}");
        triage_param_str(op, 2, arr);
    }
    if (q->urgency == 0) {
        triage_param_null(op, 3);
    } else if (!triage_enum_name(&minyi__v1__urgency__descriptor, q->urgency)) {
        triage_invalid(st, op, "queue.filter.urgency", "unknown urgency", "未知的紧急程度");
        return;
    } else {
        triage_param_i64(op, 3, q->urgency);
    }
    if (!q->region_prefix || !*q->region_prefix) {
        triage_param_null(op, 4);
    } else {
        n = strlen(q->region_prefix);
        if (n > 6 || strspn(q->region_prefix, "0123456789") != n) {
            triage_invalid(st, op, "queue.filter.region_prefix", "a region prefix is 1 to 6 digits",
                           "地区代码前缀应为1至6位数字");
            return;
        }
        triage_param_str(op, 4, q->region_prefix);
    }
    if (q->contact_point_id > 0)
        triage_param_i64(op, 5, q->contact_point_id);
    else
        triage_param_null(op, 5);
    if (q->from_ms > 0)
        triage_param_i64(op, 6, q->from_ms);
    else
        triage_param_null(op, 6);
    if (q->to_ms > 0)
        triage_param_i64(op, 7, q->to_ms);
    else
        triage_param_null(op, 7);
    triage_param_bool(op, 8, q->claimed_by_me);
    if (q->text && *q->text)
        triage_param_str(op, 9, q->text);
    else
        triage_param_null(op, 9);
    triage_param_bool(op, 10, q->overdue_only);
    triage_param_bool(op, 11, q->dead_deliveries_only);
    if (!q->cursor || !*q->cursor) {
        triage_param_null(op, 12);
        triage_param_null(op, 13);
        triage_param_null(op, 14);
    } else if (!queue_cursor_parse(q->cursor, cur)) {
        triage_invalid(st, op, "queue.cursor", "the cursor is not one this server gave out",
                       "分页游标无效");
        return;
    } else {
        triage_param_i64(op, 12, cur[0]);
        triage_param_i64(op, 13, cur[1]);
        triage_param_i64(op, 14, cur[2]);
    }
    limit = q->limit == 0 ? TRIAGE_QUEUE_DEFAULT : q->limit;
    if (limit > TRIAGE_QUEUE_MAX)
        limit = TRIAGE_QUEUE_MAX;
    triage_param_i64(op, 15, limit);
    triage_param_i64(op, 16, q->deadline_received_s > 0 ? q->deadline_received_s : 0);
    triage_param_i64(op, 17, q->deadline_in_review_s > 0 ? q->deadline_in_review_s : 0);
    store_op_enqueue(st, op);
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
        if (!tj_bytes(&h->note, x, "note") || !tj_bytes(&h->action, x, "action") ||
            !tj_bytes(&h->body, x, "body") || !tj_bytes(&h->body_region, x, "body_region") ||
            !tj_bytes(&h->instruction, x, "instruction") ||
            !tj_bytes(&h->instruction_level, x, "instruction_level") ||
            !tj_bytes(&h->actor, x, "actor"))
            return false;
        h->at_ms = tj_int(x, "at_ms");
        h->state = tj_state(x, "state");
    }
    return true;
}

/* One version of a report as the shows' SQL answers it; *out is set as
 * soon as it is allocated, so the caller's message frees it. */
static bool build_version(const json_t *v, Minyi__V1__ReportVersion **out)
{
    Minyi__V1__ReportVersion *rv = malloc(sizeof *rv);

    *out = rv;
    if (!rv)
        return false;
    minyi__v1__report_version__init(rv);
    rv->version = (uint32_t)tj_int(v, "version");
    rv->at_ms = tj_int(v, "at_ms");
    rv->category = (Minyi__V1__Category)tj_int(v, "category");
    return tj_bytes(&rv->author, v, "author") && tj_bytes(&rv->title, v, "title") &&
           tj_bytes(&rv->situation, v, "situation") && tj_bytes(&rv->analysis, v, "analysis") &&
           tj_bytes(&rv->suggestions, v, "suggestions") && tj_bytes(&rv->note, v, "note");
}

static bool build_show(const struct store *st, const json_t *j, bool diff,
                       Minyi__V1__ShowResponse *m)
{
    const json_t *v = json_object_get(j, "version");
    const json_t *arr;
    Minyi__V1__ReportVersion *rv;
    Minyi__V1__Reporter *rep;
    size_t i, n;

    if (!tj_bytes(&m->receipt, j, "receipt") || !tj_bytes(&m->region, j, "region") ||
        !tj_bytes(&m->contact_point, j, "contact_point") ||
        !tj_bytes(&m->claimed_by, j, "claimed_by") || !tj_bytes(&m->merged_into, j, "merged_into") ||
        !tj_bytes(&m->returned_above, j, "returned_above"))
        return false;
    m->state = tj_state(j, "state");
    m->latest_version = (uint32_t)tj_int(j, "latest_version");
    m->urgency = (Minyi__V1__Urgency)tj_int(j, "urgency");
    m->received_at_ms = tj_int(j, "received_at_ms");
    m->claim_expires_ms = tj_int(j, "claim_expires_ms");

    if (!build_version(v, &m->version))
        return false;
    rv = m->version;
    if (diff && !triage_line_diff(json_object_get(j, "first"), v, rv->version, &m->diff))
        return false;

    rep = malloc(sizeof *rep);
    if (!rep)
        return false;
    minyi__v1__reporter__init(rep);
    m->reporter = rep;
    rep->kind = (Minyi__V1__ReporterKind)tj_int(j, "reporter_kind");
    if (!tj_bytes(&rep->unit, j, "reporter_unit") || !tj_bytes(&rep->sector, j, "reporter_sector"))
        return false;
    if (json_is_string(json_object_get(j, "reporter_name"))) {
        if (!tj_bytes(&rep->name, j, "reporter_name"))
            return false;
    } else if (!triage_open_sealed(st, tj_str(j, "reporter_name_enc"), STORE_AAD_REPORTER_NAME,
                                   tj_str(j, "pii_key"), &rep->name)) {
        return false;
    }
    if (!triage_open_sealed(st, tj_str(j, "phone_enc"), STORE_AAD_PHONE, tj_str(j, "pii_key"),
                            &m->phone))
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
        if (!tj_bytes(&s->receipt, x, "receipt") || !tj_bytes(&s->title, x, "title"))
            return false;
        s->state = tj_state(x, "state");
        s->similarity = (float)json_number_value(json_object_get(x, "similarity"));
    }

    arr = json_object_get(j, "merged_from");
    n = json_array_size(arr);
    if (n > 0 && !(m->merged_from = calloc(n, sizeof *m->merged_from)))
        return false;
    for (i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!tj_set_bytes(&m->merged_from[m->n_merged_from++], s ? s : ""))
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
        if (!tj_bytes(&d->destination, x, "destination") || !tj_bytes(&d->state, x, "state") ||
            !tj_bytes(&d->last_error, x, "last_error") ||
            !tj_bytes(&d->upstream_receipt, x, "upstream_receipt"))
            return false;
        d->attempts = (uint32_t)tj_int(x, "attempts");
        d->next_attempt_ms = tj_int(x, "next_attempt_ms");
        d->external = json_is_true(json_object_get(x, "external"));
        d->document_date_ms = tj_int(x, "document_date_ms");
        if (!tj_bytes(&d->display_name, x, "display_name") ||
            !tj_bytes(&d->document_number, x, "document_number"))
            return false;
    }
    if (!triage_reporters(json_object_get(j, "credited"), &m->credited, &m->n_credited))
        return false;
    return attach_show_list(json_object_get(j, "attachments"), m);
}


static bool show_reply(const struct store *st, const struct store_op *op, const json_t *j,
                       ProtobufCMessage **msg)
{
    Minyi__V1__ShowResponse *m;

    TRIAGE_NEW_MSG(Minyi__V1__ShowResponse, minyi__v1__show_response__init, m);
    return m && build_show(st, j, op->show_diff, m);
}

/* The writer's view: the report's own fields, the version asked for, and
 * the versions the contact point submitted. */
static bool show_own_reply(const struct store *st, const struct store_op *op, const json_t *j,
                           ProtobufCMessage **msg)
{
    Minyi__V1__ShowResponse *m;
    const json_t *arr = json_object_get(j, "submitted");
    size_t n = json_array_size(arr);

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__ShowResponse, minyi__v1__show_response__init, m);
    if (!m || !tj_bytes(&m->receipt, j, "receipt") || !tj_bytes(&m->region, j, "region"))
        return false;
    m->state = tj_state(j, "state");
    m->latest_version = (uint32_t)tj_int(j, "latest_version");
    m->urgency = (Minyi__V1__Urgency)tj_int(j, "urgency");
    m->received_at_ms = tj_int(j, "received_at_ms");
    if (!build_version(json_object_get(j, "version"), &m->version))
        return false;
    if (n > 0 && !(m->submitted = calloc(n, sizeof *m->submitted)))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!build_version(json_array_get(arr, i), &m->submitted[m->n_submitted++]))
            return false;
    return true;
}

/* The parameters both shows begin with: who asks, the receipt and the
 * version.  False when op was failed (and so answered) instead. */
static bool show_params(struct store *st, struct store_op *op, int64_t who, const char *receipt,
                        uint32_t version)
{
    triage_param_i64(op, 0, who);
    if (!triage_param_receipt(st, op, 1, receipt, "show.receipt"))
        return false;
    if (version > INT32_MAX) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "show.version",
                      "no such version", "没有该版本");
        return false;
    }
    triage_param_i64(op, 2, version);
    return true;
}

void triage_show_own(struct store *st, int64_t principal_id, const char *receipt,
                     uint32_t version, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_T_SHOW_OWN, show_own_reply, cb, arg);

    if (show_params(st, op, principal_id, receipt, version))
        store_op_enqueue(st, op);
}

void triage_show(struct store *st, int64_t actor, const char *receipt, uint32_t version,
                 bool diff, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_T_SHOW, show_reply, cb, arg);
    char sim[32];

    if (!show_params(st, op, actor, receipt, version))
        return;
    triage_param_i64(op, 3, TRIAGE_SIMILAR_MAX);
    snprintf(sim, sizeof sim, "%.3f", TRIAGE_SIMILAR_MIN);
    triage_param_str(op, 4, sim);
    op->show_diff = diff;
    store_op_enqueue(st, op);
}

static bool attachment_reply(const struct store *st, const struct store_op *op,
                             const json_t *j, ProtobufCMessage **msg)
{
    Minyi__V1__Attachment *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__Attachment, minyi__v1__attachment__init, m);
    return m && attach_fill(j, m);
}

void triage_attachment(struct store *st, int64_t actor, const char *receipt, uint32_t index,
                       store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_T_ATTACH, attachment_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    if (!triage_param_receipt(st, op, 1, receipt, "attachment.receipt"))
        return;
    if (index > INT16_MAX) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "attachment.index",
                      "the report has no attachment with this index", "该信息没有此序号的附件");
        return;
    }
    triage_param_i64(op, 2, index);
    store_op_enqueue(st, op);
}
