/*
 * triage_forward: the upper side's record of where a forwarded report came
 * from, and the forwarder's side of the outbox — claiming due rows with
 * the request to send upstream, marking them delivered or failed
 * (triage.h; migration 0004).
 */
#include "attach.h"
#include "hex.h"
#include "triage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

    it->outbox_id = tj_int(x, "outbox_id");
    it->attempt = (uint32_t)tj_int(x, "attempt");
    if (!tj_bytes(&it->destination, x, "destination") || !tj_bytes(&it->receipt, x, "receipt"))
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
    if (!tj_bytes(&r->title, x, "title") || !tj_bytes(&r->situation, x, "situation") ||
        !tj_bytes(&r->analysis, x, "analysis") || !tj_bytes(&r->suggestions, x, "suggestions") ||
        !tj_bytes(&r->region, x, "region") || !tj_bytes(&rep->unit, x, "reporter_unit") ||
        !tj_bytes(&rep->sector, x, "reporter_sector"))
        return false;
    r->category = (Minyi__V1__Category)tj_int(x, "category");
    r->urgency = (Minyi__V1__Urgency)tj_int(x, "urgency");
    rep->kind = (Minyi__V1__ReporterKind)tj_int(x, "reporter_kind");
    if (json_is_string(json_object_get(x, "reporter_name"))) {
        if (!tj_bytes(&rep->name, x, "reporter_name"))
            return false;
    } else if (!triage_open_sealed(st, tj_str(x, "reporter_name_enc"), STORE_AAD_REPORTER_NAME,
                                   tj_str(x, "pii_key"), &rep->name)) {
        return false;
    }
    if (!triage_open_sealed(st, tj_str(x, "phone_enc"), STORE_AAD_PHONE, tj_str(x, "pii_key"),
                            &r->phone) ||
        !attach_report_list(json_object_get(x, "attachments"), r) ||
        !triage_reporters(json_object_get(x, "credited"), &fr->credited, &fr->n_credited))
        return false;
    if (json_is_string(json_object_get(x, "origin_receipt"))) {
        if (!tj_bytes(&fr->origin_region, x, "origin_region") ||
            !tj_bytes(&fr->origin_receipt, x, "origin_receipt") ||
            !tj_bytes(&fr->origin_body, x, "origin_body"))
            return false;
    } else {
        if (!tj_set_bytes(&fr->origin_region, st->body_region) ||
            !tj_bytes(&fr->origin_receipt, x, "receipt"))
            return false;
    }
    /* A revision after a return from above names the item it replaces. */
    fr->revision = (uint32_t)tj_int(x, "revision");
    if (!tj_bytes(&fr->upstream_receipt, x, "upstream_receipt"))
        return false;
    if (n >= TRIAGE_CHAIN_MAX)
        n = TRIAGE_CHAIN_MAX - 1;
    if (!(fr->chain = calloc(n + 1, sizeof *fr->chain)))
        return false;
    for (i = 0; i < n; i++)
        if (!tj_set_bytes(&fr->chain[fr->n_chain++], json_string_value(json_array_get(chain, i))))
            return false;
    return tj_set_bytes(&fr->chain[fr->n_chain++], st->body_region);
}

/* One bytes field of n bytes from its hex text (member key of o); false
 * when out of memory or the text is not n bytes of hex. */
static bool hex_field(ProtobufCBinaryData *b, const json_t *o, const char *key, size_t n)
{
    b->len = 0;
    if (!(b->data = malloc(n)) || !hex_decode(tj_str(o, key), b->data, n))
        return false;
    b->len = n;
    return true;
}

/* This instance's newest signed audit head (minyi_audit_head, migration
 * 0021), which the forwarder sends upward with every request; none before
 * the sealer has signed one. */
static bool build_audit_head(const json_t *h, Minyi__V1__OutboxClaim *m)
{
    Minyi__V1__AuditHead *a;

    if (!json_is_object(h))
        return true;
    if (!(a = malloc(sizeof *a)))
        return false;
    minyi__v1__audit_head__init(a);
    m->audit_head = a;
    a->seq = tj_int(h, "seq");
    return hex_field(&a->hash, h, "hash", TRIAGE_HEAD_HASH_LEN) &&
           hex_field(&a->signature, h, "signature", TRIAGE_HEAD_SIG_LEN);
}

/* One claimed erasure (migration 0039) as the request to send upstream,
 * naming the report as its forward did: by its origin, or by this body
 * and its receipt here when it was received here. */
static bool build_erase_item(const struct store *st, const json_t *x, Minyi__V1__OutboxItem *it)
{
    Minyi__V1__EraseRequest *er;

    it->outbox_id = tj_int(x, "erase_id");
    it->attempt = (uint32_t)tj_int(x, "attempt");
    if (!tj_bytes(&it->destination, x, "destination") || !tj_bytes(&it->receipt, x, "receipt"))
        return false;
    if (!(er = malloc(sizeof *er)))
        return false;
    minyi__v1__erase_request__init(er);
    it->erase = er;
    if (json_is_string(json_object_get(x, "origin_receipt")))
        return tj_bytes(&er->origin_region, x, "origin_region") &&
               tj_bytes(&er->origin_receipt, x, "origin_receipt");
    return tj_set_bytes(&er->origin_region, st->body_region) &&
           tj_bytes(&er->origin_receipt, x, "receipt");
}

static bool build_outbox_claim(const struct store *st, const json_t *j, Minyi__V1__OutboxClaim *m)
{
    const json_t *arr = json_object_get(j, "items");
    const json_t *erasures = json_object_get(j, "erasures");
    size_t n = json_array_size(arr), n_erase = json_array_size(erasures), i;

    if (!build_audit_head(json_object_get(j, "audit_head"), m))
        return false;
    if (n + n_erase == 0)
        return true;
    if (!(m->items = calloc(n + n_erase, sizeof *m->items)))
        return false;
    for (i = 0; i < n_erase; i++) {
        Minyi__V1__OutboxItem *it = malloc(sizeof *it);
        if (!it)
            return false;
        minyi__v1__outbox_item__init(it);
        m->items[m->n_items++] = it;
        if (!build_erase_item(st, json_array_get(erasures, i), it))
            return false;
    }
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


static bool outbox_claim_reply(const struct store *st, const struct store_op *op,
                               const json_t *j, ProtobufCMessage **msg)
{
    Minyi__V1__OutboxClaim *m;

    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__OutboxClaim, minyi__v1__outbox_claim__init, m);
    return m && build_outbox_claim(st, j, m);
}

void triage_forward_note(struct store *st, int64_t peer_id, const char *receipt,
                         const char *origin_region, const char *origin_receipt,
                         const char *origin_body, const char *const *chain, size_t n_chain,
                         const struct triage_audit_head *head, const char *credited,
                         store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_F_NOTE, triage_build_submit, cb, arg);
    char arr[TRIAGE_CHAIN_MAX * 9 + 4];
    size_t i, n;

    triage_param_i64(op, 0, peer_id);
    if (!triage_param_receipt(st, op, 1, receipt, "forward.origin_receipt"))
        return;
    triage_param_str(op, 2, origin_region);
    triage_param_str(op, 3, origin_receipt);
    triage_param_str(op, 4, origin_body);
    if (n_chain > TRIAGE_CHAIN_MAX) {
        triage_invalid(st, op, "forward.origin_receipt", "the chain of bodies is too long",
                       "经转层级过多");
        return;
    }
    /* The gateway has checked each element is a six-digit region code. */
    n = (size_t)snprintf(arr, sizeof arr, "{");
    for (i = 0; i < n_chain; i++)
        n += (size_t)snprintf(arr + n, sizeof arr - n, "%s\"%.6s\"", i ? "," : "", chain[i]);
    snprintf(arr + n, sizeof arr - n, "}");
    triage_param_str(op, 5, arr);
    triage_param_head(op, 6, head);
    triage_param_str(op, 10, credited != NULL ? credited : "[]");
    store_op_enqueue(st, op);
}

void triage_fw_claim(struct store *st, const char *const *dests, size_t n_dests, int limit,
                     int lease_s, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_FW_CLAIM, outbox_claim_reply, cb, arg);
    char arr[TRIAGE_DEST_MAX * (TRIAGE_DEST_NAME_MAX + 3) + 4];
    size_t i, n;

    if (n_dests > TRIAGE_DEST_MAX) {
        triage_invalid(st, op, "destinations", "too many destinations", "报送去向过多");
        return;
    }
    n = (size_t)snprintf(arr, sizeof arr, "{");
    for (i = 0; i < n_dests; i++) {
        if (!triage_dest_name_ok(dests[i])) {
            triage_invalid(st, op, "destinations", "bad destination name", "报送去向名称错误");
            return;
        }
        n += (size_t)snprintf(arr + n, sizeof arr - n, "%s\"%s\"", i ? "," : "", dests[i]);
    }
    snprintf(arr + n, sizeof arr - n, "}");
    triage_param_str(op, 0, arr);
    triage_param_i64(op, 1, limit);
    triage_param_i64(op, 2, lease_s);
    store_op_enqueue(st, op);
}

void triage_fw_delivered(struct store *st, int64_t outbox_id, uint32_t attempt,
                         const char *upstream_receipt, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_FW_DONE, triage_build_ok, cb, arg);

    triage_param_i64(op, 0, outbox_id);
    triage_param_i64(op, 1, attempt);
    triage_param_str(op, 2, upstream_receipt);
    store_op_enqueue(st, op);
}

/* A failed attempt marked by stmt (minyi_fw_failed for a delivery,
 * minyi_fw_erase_failed for an erasure, which take the same parameters). */
static void fw_failed(struct store *st, const char *stmt, int64_t id, uint32_t attempt,
                      const char *error, bool permanent, int max_attempts, int backoff_min_ms,
                      int backoff_max_ms, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(stmt, triage_build_ok, cb, arg);

    triage_param_i64(op, 0, id);
    triage_param_i64(op, 1, attempt);
    triage_param_str(op, 2, error);
    triage_param_bool(op, 3, permanent);
    triage_param_i64(op, 4, max_attempts);
    triage_param_i64(op, 5, backoff_min_ms);
    triage_param_i64(op, 6, backoff_max_ms);
    store_op_enqueue(st, op);
}

void triage_fw_failed(struct store *st, int64_t outbox_id, uint32_t attempt, const char *error,
                      bool permanent, int max_attempts, int backoff_min_ms, int backoff_max_ms,
                      store_reply_cb cb, void *arg)
{
    fw_failed(st, STMT_FW_FAILED, outbox_id, attempt, error, permanent, max_attempts,
              backoff_min_ms, backoff_max_ms, cb, arg);
}

void triage_f_erase(struct store *st, int64_t peer_id, const char *origin_region,
                    const char *origin_receipt, const struct triage_audit_head *head,
                    store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_F_ERASE, triage_build_ok, cb, arg);

    triage_param_i64(op, 0, peer_id);
    triage_param_str(op, 1, origin_region);
    triage_param_str(op, 2, origin_receipt);
    triage_param_head(op, 3, head);
    store_op_enqueue(st, op);
}

void triage_fw_erased(struct store *st, int64_t erase_id, uint32_t attempt, store_reply_cb cb,
                      void *arg)
{
    struct store_op *op = triage_op_new(STMT_FW_ERASED, triage_build_ok, cb, arg);

    triage_param_i64(op, 0, erase_id);
    triage_param_i64(op, 1, attempt);
    store_op_enqueue(st, op);
}

void triage_fw_erase_failed(struct store *st, int64_t erase_id, uint32_t attempt,
                            const char *error, bool permanent, int max_attempts,
                            int backoff_min_ms, int backoff_max_ms, store_reply_cb cb, void *arg)
{
    fw_failed(st, STMT_FW_ERASE_FAILED, erase_id, attempt, error, permanent, max_attempts,
              backoff_min_ms, backoff_max_ms, cb, arg);
}
