/*
 * triage_results: results flowing back down (triage.h; migration 0005).
 * The upper side answers a peer's pull with the results owed to it; the
 * lower side applies what it pulled, each result once.
 */
#include "triage_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        r->id = tj_int(x, "id");
        r->at_ms = tj_int(x, "at_ms");
        if (!tj_bytes(&r->receipt, x, "receipt") ||
            !tj_bytes(&r->origin_region, x, "origin_region") ||
            !tj_bytes(&r->origin_receipt, x, "origin_receipt") || !tj_bytes(&r->kind, x, "kind") ||
            !tj_bytes(&r->body, x, "body") || !tj_bytes(&r->body_region, x, "body_region") ||
            !tj_bytes(&r->note, x, "note") || !tj_bytes(&r->instruction, x, "instruction") ||
            !tj_bytes(&r->instruction_level, x, "instruction_level") ||
            !tj_bytes(&r->destination, x, "destination") ||
            !tj_bytes(&r->destination_receipt, x, "destination_receipt"))
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

static bool results_reply(const struct store *st, const struct store_op *op, const json_t *j,
                          ProtobufCMessage **msg)
{
    Minyi__V1__ResultsResponse *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__ResultsResponse, minyi__v1__results_response__init, m);
    return m && build_results(j, m);
}

static bool acks_reply(const struct store *st, const struct store_op *op, const json_t *j,
                       ProtobufCMessage **msg)
{
    Minyi__V1__ResultsRequest *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__ResultsRequest, minyi__v1__results_request__init, m);
    return m && build_acks(j, m);
}

void triage_r_pull(struct store *st, int64_t peer_id, const int64_t *ack, size_t n_ack,
                   uint32_t limit, const char *body_region, const char *body_name,
                   const struct triage_audit_head *head, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_R_PULL, results_reply, cb, arg);
    size_t cap = n_ack * TRIAGE_I64_TEXT + 3, n, i;
    char *arr;

    triage_param_i64(op, 0, peer_id);
    if (limit == 0 || limit > INT32_MAX) {
        triage_invalid(st, op, "results", "the limit is out of range", "条数超出范围");
        return;
    }
    if (!(arr = malloc(cap)))
        triage_oom_abort();
    n = (size_t)snprintf(arr, cap, "{");
    for (i = 0; i < n_ack; i++)
        n += (size_t)snprintf(arr + n, cap - n, "%s%" PRId64, i ? "," : "", ack[i]);
    snprintf(arr + n, cap - n, "}");
    triage_param_str(op, 1, arr);
    free(arr);
    triage_param_i64(op, 2, limit);
    triage_param_str(op, 3, body_region);
    triage_param_str(op, 4, body_name);
    triage_param_head(op, 5, head);
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
    struct store_op *op = triage_op_new(STMT_R_APPLY, acks_reply, cb, arg);
    json_t *arr = json_array();
    char *text = NULL;
    size_t i;

    if (!arr)
        triage_oom_abort();
    for (i = 0; i < n_results; i++) {
        json_t *x = result_json(results[i]);
        if (!x || json_array_append_new(arr, x) != 0) {
            json_decref(arr);
            triage_invalid(st, op, "results", "a result is not valid text", "结果内容编码无效");
            return;
        }
    }
    text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!text)
        triage_oom_abort();
    triage_param_str(op, 0, dest);
    triage_param_str(op, 1, body_region);
    triage_param_str(op, 2, text);
    free(text);
    store_op_enqueue(st, op);
}
