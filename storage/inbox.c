/*
 * inbox: the contact point's side of 码上商 (inbox.h), each one call of a
 * SQL function of migrations 0030_public.sql and 0038_public_convert.sql
 * sent as a triage operation.
 */
#include "inbox.h"
#include "hex.h"
#include "triage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static const char *const statuses[] = { "new", "replied", "converted", "dismissed" };

bool inbox_status_known(const char *s)
{
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(s, statuses[i]) == 0)
            return true;
    return false;
}

static bool build_item(const json_t *x, Minyi__V1__InboxItem *it)
{
    it->id = tj_int(x, "id");
    it->received_at_ms = tj_int(x, "received_at_ms");
    it->photos = (uint32_t)tj_int(x, "photos");
    return tj_bytes(&it->what, x, "what") && tj_bytes(&it->place, x, "place") &&
           tj_bytes(&it->status, x, "status") && tj_bytes(&it->receipt, x, "receipt");
}

static bool list_reply(const struct store *st, const struct store_op *op, const json_t *j,
                       ProtobufCMessage **msg)
{
    Minyi__V1__InboxResponse *m;
    const json_t *items = json_object_get(j, "items");
    size_t n = json_array_size(items);

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__InboxResponse, minyi__v1__inbox_response__init, m);
    if (!m || (n > 0 && !(m->items = calloc(n, sizeof *m->items))))
        return false;
    for (size_t i = 0; i < n; i++) {
        Minyi__V1__InboxItem *it = malloc(sizeof *it);
        if (!it)
            return false;
        minyi__v1__inbox_item__init(it);
        m->items[m->n_items++] = it;
        if (!build_item(json_array_get(items, i), it))
            return false;
    }
    return tj_bytes(&m->next_cursor, j, "next_cursor");
}

void inbox_list(struct store *st, int64_t actor, const char *status, uint32_t limit,
                int64_t cursor, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_P_INBOX, list_reply, cb, arg);

    if (status[0] != '\0' && !inbox_status_known(status)) {
        triage_invalid(st, op, "inbox.status", "unknown status", "未知的来信状态");
        return;
    }
    triage_param_i64(op, 0, actor);
    triage_param_str(op, 1, status);
    triage_param_i64(op, 2, limit == 0 ? INBOX_LIST_DEFAULT : limit);
    triage_param_i64(op, 3, cursor);
    store_op_enqueue(st, op);
}

/* One photo of the answer: content in base64, sha256 in hex. */
static bool build_photo(const json_t *x, Minyi__V1__PublicPhoto *p)
{
    const char *b64 = tj_str(x, "content");
    const char *sha = tj_str(x, "sha256");
    size_t n = strlen(b64);

    if (!tj_bytes(&p->media_type, x, "media_type"))
        return false;
    /* EVP_DecodeBlock writes 3 bytes per 4 and counts the padding as
     * zeros, which the database's '=' padding tells us to take off. */
    p->content.data = malloc(n / 4 * 3 + 1);
    p->sha256.data = malloc(32);
    if (!p->content.data || !p->sha256.data)
        return false;
    int len = EVP_DecodeBlock(p->content.data, (const unsigned char *)b64, (int)n);
    if (len < 0 || strlen(sha) != 64 || !hex_decode(sha, p->sha256.data, 32)) {
        log_error("module=store event=inbox_bad_photo");
        return false;
    }
    while (n > 0 && b64[n - 1] == '=') {
        n--;
        len--;
    }
    p->content.len = (size_t)len;
    p->sha256.len = 32;
    return true;
}

static bool show_reply(const struct store *st, const struct store_op *op, const json_t *j,
                       ProtobufCMessage **msg)
{
    Minyi__V1__InboxMessage *m;
    const json_t *photos = json_object_get(j, "photos");
    size_t n = json_array_size(photos);
    const char *key = tj_str(j, "pii_key");

    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__InboxMessage, minyi__v1__inbox_message__init, m);
    if (!m)
        return false;
    m->id = tj_int(j, "id");
    m->received_at_ms = tj_int(j, "received_at_ms");
    if (!tj_bytes(&m->what, j, "what") || !tj_bytes(&m->place, j, "place") ||
        !tj_bytes(&m->status, j, "status") || !tj_bytes(&m->reply, j, "reply") ||
        !tj_bytes(&m->dismiss_reason, j, "dismiss_reason") ||
        !tj_bytes(&m->receipt, j, "receipt") ||
        !triage_open_sealed(st, tj_str(j, "name_enc"), INBOX_AAD_NAME, key, &m->name) ||
        !triage_open_sealed(st, tj_str(j, "phone_enc"), INBOX_AAD_PHONE, key, &m->phone))
        return false;
    if (n > 0 && !(m->photos = calloc(n, sizeof *m->photos)))
        return false;
    for (size_t i = 0; i < n; i++) {
        Minyi__V1__PublicPhoto *p = malloc(sizeof *p);
        if (!p)
            return false;
        minyi__v1__public_photo__init(p);
        m->photos[m->n_photos++] = p;
        if (!build_photo(json_array_get(photos, i), p))
            return false;
    }
    return true;
}

void inbox_show(struct store *st, int64_t actor, int64_t id, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_P_SHOW, show_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, id);
    store_op_enqueue(st, op);
}

void inbox_answer(struct store *st, int64_t actor, int64_t id, bool dismiss, const char *text,
                  store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_P_ANSWER, triage_build_ok, cb, arg);

    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, id);
    triage_param_bool(op, 2, dismiss);
    triage_param_str(op, 3, text);
    store_op_enqueue(st, op);
}

void inbox_convert(struct store *st, int64_t actor, const int64_t *ids, size_t n,
                   const struct intake_report *r, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_P_CONVERT, triage_build_submit, cb, arg);
    char list[INBOX_CONVERT_MAX * TRIAGE_I64_TEXT + 3];
    struct triage_arr names = { 0 }, types = { 0 }, shas = { 0 }, contents = { 0 };
    bool citizen = r->reporter_kind == MINYI__V1__REPORTER_KIND__CITIZEN;
    size_t len = 0;

    if (n == 0 || n > INBOX_CONVERT_MAX) {
        triage_invalid(st, op, "inbox_convert.ids", "give 1 to 10 messages",
                       "须指定1至10条来信");
        return;
    }
    /* The data key first: the personal fields are sealed under it, as
     * intake seals a report's (batch.c); a 群众's name is personal data. */
    if (!triage_param_dek(st, op, 18) ||
        (citizen && !triage_param_sealed(st, op, 12, STORE_AAD_REPORTER_NAME,
                                         r->reporter_name)) ||
        !triage_param_sealed(st, op, 17, STORE_AAD_PHONE, r->phone)) {
        log_error("module=store event=inbox_seal_failed");
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__INTERNAL, NULL, "sealing failed",
                      "加密失败");
        return;
    }
    list[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%lld", i ? "," : "",
                                (long long)ids[i]);
    snprintf(list + len, sizeof list - len, "}");
    triage_param_i64(op, 0, actor);
    triage_param_str(op, 1, list);
    triage_param_str(op, 2, st->body_region);
    triage_param_str(op, 3, r->client_report_id);
    triage_param_bytea(op, 4, r->payload_sha256, sizeof r->payload_sha256);
    triage_param_str(op, 5, r->title);
    triage_param_str(op, 6, r->situation);
    triage_param_str(op, 7, r->analysis);
    triage_param_str(op, 8, r->suggestions);
    triage_param_i64(op, 9, r->category);
    triage_param_i64(op, 10, r->urgency);
    if (citizen)
        triage_param_null(op, 11);
    else {
        triage_param_str(op, 11, r->reporter_name);
        triage_param_null(op, 12);
    }
    triage_param_str(op, 13, r->reporter_unit);
    triage_param_i64(op, 14, r->reporter_kind);
    triage_param_str(op, 15, r->reporter_sector);
    triage_param_str(op, 16, r->region);
    triage_param_i64(op, 19, st->keyring.current);
    for (size_t i = 0; i < r->n_attachments; i++) {
        const struct intake_attachment *a = &r->attachments[i];
        triage_arr_text(&names, a->name);
        triage_arr_text(&types, a->media_type);
        triage_arr_bytea(&shas, a->sha256, sizeof a->sha256);
        triage_arr_bytea(&contents, a->content, a->content_len);
    }
    triage_arr_param(op, 20, &names);
    triage_arr_param(op, 21, &types);
    triage_arr_param(op, 22, &shas);
    triage_arr_param(op, 23, &contents);
    store_op_enqueue(st, op);
}

static bool poster_reply(const struct store *st, const struct store_op *op, const json_t *j,
                         ProtobufCMessage **msg)
{
    Minyi__V1__PosterResponse *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__PosterResponse, minyi__v1__poster_response__init, m);
    if (!m)
        return false;
    m->contact_point_id = tj_int(j, "id");
    m->generation = (uint32_t)tj_int(j, "gen");
    return tj_bytes(&m->contact_point, j, "name");
}

void inbox_poster(struct store *st, int64_t actor, int64_t cp, bool rotate, store_reply_cb cb,
                  void *arg)
{
    struct store_op *op = triage_op_new(STMT_P_POSTER, poster_reply, cb, arg);

    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, cp);
    triage_param_bool(op, 2, rotate);
    store_op_enqueue(st, op);
}
