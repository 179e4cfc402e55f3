/*
 * public_msg: storing a message from the public and reading a pickup code
 * (public_msg.h), each one call of a SQL function of migration
 * 0030_public.sql sent as a triage operation.  The sender's name and phone
 * are sealed here under a fresh data key of the message's own, wrapped by
 * the master key, as intake seals a report's (batch.c).
 */
#include "public_msg.h"
#include "inbox.h"
#include "triage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/* Seals text into parameter i under the message's data key; SQL NULL
 * when it is empty (the sender left it out). */
static bool param_sealed(struct store *st, struct store_op *op, int i, const char *aad,
                         const char *text)
{
    if (text[0] != '\0')
        return triage_param_sealed(st, op, i, aad, text);
    triage_param_null(op, i);
    return true;
}

/* A fresh pickup code into code (PUBLIC_MSG_PICKUP_LEN + 1 bytes) and its
 * SHA-256 into sha. */
static bool new_pickup(char code[PUBLIC_MSG_PICKUP_LEN + 1], uint8_t sha[32])
{
    static const char alphabet[] = PUBLIC_MSG_PICKUP_ALPHABET;
    uint8_t rnd[PUBLIC_MSG_PICKUP_LEN];

    _Static_assert(sizeof alphabet - 1 == 32, "5 bits a character");
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return false;
    for (size_t i = 0; i < PUBLIC_MSG_PICKUP_LEN; i++)
        code[i] = alphabet[rnd[i] & 31];
    code[PUBLIC_MSG_PICKUP_LEN] = '\0';
    return EVP_Digest(code, PUBLIC_MSG_PICKUP_LEN, sha, NULL, EVP_sha256(), NULL) == 1;
}

/* The photos as three array parameters from i: types, SHA-256s, contents. */
static void param_photos(struct store_op *op, int i, const struct public_msg *m)
{
    struct triage_arr types = { 0 }, shas = { 0 }, contents = { 0 };

    for (size_t k = 0; k < m->n_photos; k++) {
        const struct public_msg_photo *p = &m->photos[k];
        uint8_t sha[32];
        if (EVP_Digest(p->data, p->len, sha, NULL, EVP_sha256(), NULL) != 1)
            triage_oom_abort();
        triage_arr_text(&types, p->media_type);
        triage_arr_bytea(&shas, sha, sizeof sha);
        triage_arr_bytea(&contents, p->data, p->len);
    }
    triage_arr_param(op, i, &types);
    triage_arr_param(op, i + 1, &shas);
    triage_arr_param(op, i + 2, &contents);
}

static bool submit_reply(const struct store *st, const struct store_op *op, const json_t *j,
                         ProtobufCMessage **msg)
{
    Minyi__V1__PublicSubmitResponse *m;

    (void)st;
    TRIAGE_NEW_MSG(Minyi__V1__PublicSubmitResponse, minyi__v1__public_submit_response__init, m);
    if (!m)
        return false;
    m->id = tj_int(j, "id");
    /* The code travelled with the op, not through the database. */
    return tj_set_bytes(&m->pickup, op->receipt);
}

void public_msg_submit(struct store *st, const struct public_msg *m, store_reply_cb cb,
                       void *arg)
{
    struct store_op *op = triage_op_new(STMT_P_SUBMIT, submit_reply, cb, arg);
    uint8_t sha[32];

    _Static_assert(PUBLIC_MSG_PICKUP_LEN < sizeof op->receipt, "the code fits");
    if (m->n_photos > PUBLIC_MSG_PHOTOS_MAX) {
        triage_invalid(st, op, "photos", "at most 3 photos", "最多3张照片");
        return;
    }
    if (!new_pickup(op->receipt, sha) || !triage_param_dek(st, op, 7) ||
        !param_sealed(st, op, 4, INBOX_AAD_NAME, m->name) ||
        !param_sealed(st, op, 5, INBOX_AAD_PHONE, m->phone)) {
        log_error("module=store event=public_seal_failed");
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__INTERNAL, NULL, "sealing failed",
                      "加密失败");
        return;
    }
    triage_param_i64(op, 0, m->contact_point_id);
    triage_param_i64(op, 1, m->token_gen);
    triage_param_str(op, 2, m->what);
    triage_param_str(op, 3, m->place);
    triage_param_i64(op, 6, st->cfg.pii_key_version);
    triage_param_bytea(op, 8, sha, sizeof sha);
    param_photos(op, 9, m);
    triage_param_i64(op, 12, PUBLIC_MSG_DUP_WINDOW_S);
    store_op_enqueue_public(st, op);
}

bool public_msg_pickup_plausible(const char *code)
{
    return strlen(code) == PUBLIC_MSG_PICKUP_LEN &&
           strspn(code, PUBLIC_MSG_PICKUP_ALPHABET) == PUBLIC_MSG_PICKUP_LEN;
}

static bool pickup_reply(const struct store *st, const struct store_op *op, const json_t *j,
                         ProtobufCMessage **msg)
{
    Minyi__V1__PickupResponse *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__PickupResponse, minyi__v1__pickup_response__init, m);
    if (!m)
        return false;
    m->received_at_ms = tj_int(j, "received_at_ms");
    m->replied_at_ms = tj_int(j, "replied_at_ms");
    m->outcome = tj_state(j, "outcome");
    m->outcome_at_ms = tj_int(j, "outcome_at_ms");
    return tj_bytes(&m->status, j, "status") && tj_bytes(&m->reply, j, "reply");
}

void public_msg_pickup(struct store *st, const char *code, store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_P_PICKUP, pickup_reply, cb, arg);
    uint8_t sha[32];

    if (!public_msg_pickup_plausible(code)) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "pickup",
                      "no message with this pickup code", "没有此查询码对应的来信");
        return;
    }
    if (EVP_Digest(code, strlen(code), sha, NULL, EVP_sha256(), NULL) != 1)
        triage_oom_abort();
    triage_param_bytea(op, 0, sha, sizeof sha);
    store_op_enqueue_public(st, op);
}
