/*
 * triage_op: the machinery every triage operation shares (see
 * triage_int.h): an operation's statement and text parameters, the
 * checks of its answer, and the helpers that turn the answer's JSON into
 * protocol messages.
 */
#include "triage_int.h"
#include "hex.h"
#include "pii.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

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
    "instruct.given_at_ms", "report.analysis", "report.suggestions",
    "issue_id", "issue_add.receipt", "issue_remove.receipt",
    "inbox.status", "inbox_show.id", "inbox_answer.id", "inbox_convert.ids",
    "inbox_convert.report", "poster.contact_point_id", "token", "message.what", "pickup",
    "audit.receipt",
    "decide.document_number", "decide.document_date_ms", "external_response.receipt",
    "external_response.destination", "external_response.responded_at_ms",
    "issue_send.destination", "issue_send.sent_at_ms", "erase.origin_receipt", "erase_out",
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

void triage_oom_abort(void)
{
    /* As in store.c: without memory there is no way to keep the promise
     * that every call is answered. */
    log_error("module=store event=out_of_memory where=triage");
    abort();
}

void triage_param_str(struct store_op *op, int i, const char *s)
{
    if (i >= TRIAGE_NPARAMS_MAX) {
        log_error("module=store event=bug reason=\"triage parameter %d out of range\"", i);
        abort();
    }
    if (s) {
        op->params[i] = strdup(s);
        if (!op->params[i])
            triage_oom_abort();
    }
    if (i + 1 > op->nparams)
        op->nparams = i + 1;
}

void triage_param_null(struct store_op *op, int i)
{
    triage_param_str(op, i, NULL);
}

void triage_param_i64(struct store_op *op, int i, int64_t v)
{
    char b[TRIAGE_I64_TEXT];

    snprintf(b, sizeof b, "%" PRId64, v);
    triage_param_str(op, i, b);
}

void triage_param_bool(struct store_op *op, int i, bool v)
{
    triage_param_str(op, i, v ? "t" : "f");
}

void triage_param_head(struct store_op *op, int i, const struct triage_audit_head *h)
{
    char hash[2 * TRIAGE_HEAD_HASH_LEN + 1], sig[2 * TRIAGE_HEAD_SIG_LEN + 1];

    if (h == NULL || h->seq <= 0) {
        triage_param_null(op, i);
        triage_param_null(op, i + 1);
        triage_param_null(op, i + 2);
        triage_param_null(op, i + 3);
        return;
    }
    hex_encode(h->hash, sizeof h->hash, hash);
    hex_encode(h->signature, sizeof h->signature, sig);
    triage_param_i64(op, i, h->seq);
    triage_param_str(op, i + 1, hash);
    triage_param_str(op, i + 2, sig);
    triage_param_bool(op, i + 3, h->checked);
}

/* bytea's text form: "\x" and two hex digits a byte. */
#define BYTEA_PREFIX "\\x"

void triage_param_bytea(struct store_op *op, int i, const uint8_t *p, size_t n)
{
    char *s = malloc(sizeof BYTEA_PREFIX + 2 * n);

    if (s == NULL)
        triage_oom_abort();
    memcpy(s, BYTEA_PREFIX, sizeof BYTEA_PREFIX - 1);
    hex_encode(p, n, s + sizeof BYTEA_PREFIX - 1);
    triage_param_str(op, i, s);
    free(s);
}

bool triage_param_dek(struct store *st, struct store_op *op, int i)
{
    uint8_t dek[PII_KEY_LEN], wrapped[PII_WRAPPED_LEN];
    bool ok = RAND_bytes(dek, sizeof dek) == 1 && pii_sealer_rekey(st->dek_sealer, dek) &&
              pii_sealer_seal(st->sealer, PII_AAD_DEK, dek, sizeof dek, wrapped);

    OPENSSL_cleanse(dek, sizeof dek);
    if (ok)
        triage_param_bytea(op, i, wrapped, sizeof wrapped);
    return ok;
}

bool triage_param_sealed(struct store *st, struct store_op *op, int i, const char *aad,
                         const char *text)
{
    size_t n = strlen(text);
    uint8_t *buf = malloc(pii_sealed_len(n));

    if (buf == NULL)
        triage_oom_abort();
    bool ok = pii_sealer_seal(st->dek_sealer, aad, (const uint8_t *)text, n, buf);
    if (ok)
        triage_param_bytea(op, i, buf, pii_sealed_len(n));
    free(buf);
    return ok;
}

/* Appends len bytes to the literal being built. */
static void arr_add(struct triage_arr *a, const void *p, size_t len)
{
    if (!pgbuf_reserve(&a->b, len + 2))
        triage_oom_abort();
    memcpy(a->b.data + a->b.len, p, len);
    a->b.len += len;
}

/* Starts an element: the opening brace or a comma, and its quote. */
static void arr_open(struct triage_arr *a)
{
    arr_add(a, a->n++ == 0 ? "{\"" : ",\"", 2);
}

void triage_arr_text(struct triage_arr *a, const char *s)
{
    arr_open(a);
    /* Inside double quotes only '"' and '\' need a backslash. */
    for (const char *run = s;; s++) {
        if (*s == '\0' || *s == '"' || *s == '\\') {
            arr_add(a, run, (size_t)(s - run));
            if (*s == '\0')
                break;
            arr_add(a, "\\", 1);
            run = s;
        }
    }
    arr_add(a, "\"", 1);
}

void triage_arr_bytea(struct triage_arr *a, const uint8_t *p, size_t n)
{
    arr_open(a);
    /* bytea's "\x" with its backslash doubled inside the quotes. */
    arr_add(a, "\\\\x", 3);
    if (!pgbuf_reserve(&a->b, 2 * n + 2))
        triage_oom_abort();
    hex_encode(p, n, (char *)a->b.data + a->b.len);
    a->b.len += 2 * n;
    arr_add(a, "\"", 1);
}

void triage_arr_param(struct store_op *op, int i, struct triage_arr *a)
{
    if (a->n == 0)
        arr_add(a, "{", 1);
    arr_add(a, "}", 1);
    a->b.data[a->b.len] = '\0';    /* arr_add keeps room for it */
    triage_param_str(op, i, (const char *)a->b.data);
    pgbuf_free(&a->b);
    a->n = 0;
}

static void triage_send(struct store_conn *c, struct store_op *op);
static void triage_done(struct store_conn *c);

struct store_op *triage_op_new(const char *stmt, triage_build_fn build, store_reply_cb cb,
                               void *arg)
{
    struct store_op *op = store_op_new(OP_TRIAGE, triage_send, arg);

    op->reply_cb = cb;
    op->tbuild = build;
    op->stmt = stmt;
    return op;
}

void triage_invalid(struct store *st, struct store_op *op, const char *field, const char *msg,
                    const char *msg_zh)
{
    store_op_fail(st, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, field, msg, msg_zh);
}

/* Starts an op on a receipt: false (op answered NOT_FOUND) when the
 * receipt cannot name a report. */
bool triage_param_receipt(struct store *st, struct store_op *op, int i, const char *receipt,
                          const char *field)
{
    if (!store_receipt_plausible(receipt)) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, field,
                      "no report with this receipt", "没有此回执对应的信息");
        return false;
    }
    triage_param_str(op, i, receipt);
    return true;
}

const char *triage_enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *e = v != 0 ? protobuf_c_enum_descriptor_get_value(d, v) : NULL;

    return e ? e->name : NULL;
}

int triage_enum_value(const ProtobufCEnumDescriptor *d, const char *name)
{
    const ProtobufCEnumValue *e =
        name ? protobuf_c_enum_descriptor_get_value_by_name(d, name) : NULL;

    return e ? e->value : 0;
}

/* Destination names come from the configuration; they are still checked
 * here, because they become elements of an array literal. */
bool triage_dest_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= TRIAGE_DEST_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Sends op's statement; triage_done answers it. */
static void triage_send(struct store_conn *c, struct store_op *op)
{
    pool_send(c, op->stmt, op->nparams, (const char *const *)op->params, NULL, NULL, triage_done);
}

/* ---- building the answers ------------------------------------------------------ */

const char *tj_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

int64_t tj_int(const json_t *o, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(o, key));
}

bool tj_set_bytes_n(ProtobufCBinaryData *b, const void *p, size_t len)
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

bool tj_set_bytes(ProtobufCBinaryData *b, const char *s)
{
    return tj_set_bytes_n(b, s, strlen(s));
}

bool tj_bytes(ProtobufCBinaryData *b, const json_t *o, const char *key)
{
    return tj_set_bytes(b, tj_str(o, key));
}

int tj_state(const json_t *o, const char *key)
{
    return triage_enum_value(&minyi__v1__report_state__descriptor, tj_str(o, key));
}

/* Opens a sealed value under the report's data key, unwrapped from
 * key_hex (hex) with the master key of the version it names. */
static bool open_with_dek(const struct store *st, const char *key_hex, const char *aad,
                          const uint8_t *sealed, size_t len, uint8_t *pt)
{
    uint8_t wrapped[PII_WRAPPED_LEN], dek[PII_KEY_LEN];
    bool ok = strlen(key_hex) == 2 * PII_WRAPPED_LEN &&
              hex_decode(key_hex, wrapped, sizeof wrapped) &&
              pii_keyring_unwrap(&st->keyring, wrapped, sizeof wrapped, dek) &&
              pii_dek_open(dek, aad, sealed, len, pt);

    OPENSSL_cleanse(dek, sizeof dek);
    return ok;
}

/* Opens a sealed personal field given in hex.  An empty result when it
 * cannot be opened (another key, or the report's data key destroyed by an
 * erasure): the editor sees the rest of the report, and the log says why
 * the field is missing. */
bool triage_open_sealed(const struct store *st, const char *hex, const char *aad,
                        const char *key_hex, ProtobufCBinaryData *out)
{
    size_t hlen = strlen(hex), len = hlen / 2, pt_len = 0;
    uint8_t *sealed;
    uint8_t *pt;
    bool ok;

    out->data = NULL;
    out->len = 0;
    if (hlen == 0 || hlen % 2 != 0 || len < PII_NONCE_LEN + PII_TAG_LEN)
        return true;
    sealed = malloc(len);
    pt = malloc(len);
    if (!sealed || !pt) {
        free(sealed);
        free(pt);
        return false;
    }
    ok = hex_decode(hex, sealed, len);
    if (ok && pii_sealed_with_dek(sealed, len)) {
        ok = open_with_dek(st, key_hex, aad, sealed, len, pt);
        pt_len = ok ? len - PII_OVERHEAD : 0;
    } else {
        ok = ok && pii_keyring_open(&st->keyring, aad, sealed, len, pt, &pt_len);
    }
    free(sealed);
    if (!ok) {
        log_warnx("module=store event=pii_open_failed aad=%s", aad);
        free(pt);
        return true;
    }
    if (pt_len == 0) {
        free(pt);
        return true;
    }
    out->data = pt;
    out->len = pt_len;
    return true;
}


bool triage_build_ok(const struct store *st, const struct store_op *op, const json_t *j,
                     ProtobufCMessage **msg)
{
    Minyi__V1__Ok *m;

    (void)st;
    (void)op;
    (void)j;
    TRIAGE_NEW_MSG(Minyi__V1__Ok, minyi__v1__ok__init, m);
    return m != NULL;
}

bool triage_build_submit(const struct store *st, const struct store_op *op, const json_t *j,
                         ProtobufCMessage **msg)
{
    Minyi__V1__SubmitResponse *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__SubmitResponse, minyi__v1__submit_response__init, m);
    if (!m || !tj_bytes(&m->receipt, j, "receipt"))
        return false;
    m->duplicate = json_is_true(json_object_get(j, "duplicate"));
    m->received_at_ms = tj_int(j, "received_at_ms");
    return true;
}

/* The SQL function's answer is in: its error, or the reply op's builder
 * makes of it. */
static void triage_done(struct store_conn *c)
{
    struct store *st = c->st;
    struct store_op *op = query_take(c);
    const PGresult *res = c->res;
    ProtobufCMessage *msg = NULL;
    json_error_t jerr;
    json_t *j = NULL;
    bool ok;
    int64_t code;

    if (!op)
        return;
    /* The statement failed in the database (a constraint, a trigger, the
     * server going away): its transaction changed nothing. */
    if (c->failed) {
        code = pool_sqlstate_transient(c->sqlstate) ? MINYI__V1__ERROR_CODE__UNAVAILABLE
                                                    : MINYI__V1__ERROR_CODE__INTERNAL;
        log_warnx("module=store event=triage_failed stmt=%s sqlstate=%s", op->stmt, c->sqlstate);
        store_op_fail(st, op, (int)code, NULL, "the database refused the operation",
                      "数据库拒绝了该操作");
        return;
    }
    if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0) ||
        !(j = json_loads(PQgetvalue(res, 0, 0), 0, &jerr)) || !json_is_object(j)) {
        log_error("module=store event=triage_bad_answer stmt=%s", op->stmt);
        json_decref(j);
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__INTERNAL, NULL, "database answer malformed",
                      "数据库返回格式错误");
        return;
    }
    code = tj_int(j, "code");
    if (code != 0) {
        store_op_fail(st, op, (int)code,
                      static_field(json_string_value(json_object_get(j, "field"))),
                      tj_str(j, "msg"), tj_str(j, "zh"));
        json_decref(j);
        return;
    }
    if (!op->tbuild) {
        log_error("module=store event=bug reason=\"triage_done without a builder\" stmt=%s",
                  op->stmt);
        abort();
    }
    ok = op->tbuild(st, op, j, &msg);
    json_decref(j);
    query_answer(st, op, msg, ok);
}

bool triage_reporters(const json_t *arr, Minyi__V1__Reporter ***out, size_t *n_out)
{
    size_t n = json_array_size(arr), i;

    if (n == 0)
        return true;
    if (!(*out = calloc(n, sizeof **out)))
        return false;
    for (i = 0; i < n; i++) {
        const json_t *c = json_array_get(arr, i);
        Minyi__V1__Reporter *rep = malloc(sizeof *rep);

        if (!rep)
            return false;
        minyi__v1__reporter__init(rep);
        (*out)[(*n_out)++] = rep;
        rep->kind = (Minyi__V1__ReporterKind)tj_int(c, "kind");
        if (!tj_bytes(&rep->name, c, "name") || !tj_bytes(&rep->unit, c, "unit") ||
            !tj_bytes(&rep->sector, c, "sector"))
            return false;
    }
    return true;
}
