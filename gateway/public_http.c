/*
 * public_http: the public form's door (see public_http.h).
 */
#include "public_http.h"
#include "clock.h"
#include "console_static.h"
#include "log.h"
#include "public_limit.h"
#include "public_msg.h"
#include "public_photo.h"
#include "public_pow.h"
#include "public_token.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/evp.h>

/* The door's memory: rate limits by address and by contact point, the
 * spent challenges, and the submissions waiting for the database. */
struct public_door {
    struct public_limit *by_addr, *by_cp;
    struct public_pow_seen *seen;
    int inflight;
};

struct public_door *public_http_new(const struct gw_config *cfg)
{
    struct public_door *d = calloc(1, sizeof *d);

    if (d == NULL)
        return NULL;
    d->by_addr = public_limit_new(PUBLIC_HTTP_LIMIT_SLOTS, cfg->public_rate_addr,
                                  cfg->public_rate_addr);
    d->by_cp = public_limit_new(PUBLIC_HTTP_LIMIT_SLOTS, cfg->public_rate_token,
                                cfg->public_rate_token);
    d->seen = public_pow_seen_new(PUBLIC_HTTP_POW_SEEN_MAX);
    if (d->by_addr == NULL || d->by_cp == NULL || d->seen == NULL) {
        public_http_free(d);
        return NULL;
    }
    return d;
}

void public_http_free(struct public_door *d)
{
    if (d == NULL)
        return;
    public_limit_free(d->by_addr);
    public_limit_free(d->by_cp);
    public_pow_seen_free(d->seen);
    free(d);
}

/* The rates as configured now: a reload may have changed them. */
static void door_rates(struct public_door *d, const struct gw_config *cfg)
{
    public_limit_set(d->by_addr, cfg->public_rate_addr, cfg->public_rate_addr);
    public_limit_set(d->by_cp, cfg->public_rate_token, cfg->public_rate_token);
}

/* The HTTP status of a protocol error code. */
static int http_status(int code)
{
    switch (code) {
    case MINYI__V1__ERROR_CODE__INVALID_ARGUMENT: return 400;
    case MINYI__V1__ERROR_CODE__NOT_FOUND: return 404;
    case MINYI__V1__ERROR_CODE__CONFLICT: return 409;
    case MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED: return 429;
    case MINYI__V1__ERROR_CODE__UNAVAILABLE: return 503;
    default: return 500;
    }
}

static void fail_code(struct console_req *r, int code, const char *field, const char *msg,
                      const char *zh)
{
    const char *name = protobuf_c_enum_descriptor_get_value(&minyi__v1__error_code__descriptor,
                                                           code)->name;
    console_fail(r, http_status(code), name, field, msg, zh);
}

/* Takes a token of the caller's address; false with r answered 429. */
static bool take_addr(struct console_req *r)
{
    char *host = NULL;
    ev_uint16_t port = 0;
    uint32_t wait_ms = 0;

    evhttp_connection_get_peer(evhttp_request_get_connection(r->req), &host, &port);
    if (host == NULL)
        host = "";
    if (public_limit_take(r->gw->pub->by_addr, host, strlen(host), clock_mono_ms(), &wait_ms))
        return true;
    console_fail(r, 429, "RESOURCE_EXHAUSTED", "address",
                 "too many requests from this address; try again later",
                 "提交过于频繁，请稍后再试");
    return false;
}

/* The value of name in the request's query, or NULL. */
static const char *query_param(struct console_req *r, struct evkeyvalq *q, const char *name)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
    const char *query = u != NULL ? evhttp_uri_get_query(u) : NULL;

    if (query == NULL || evhttp_parse_query_str(query, q) != 0)
        return NULL;
    return evhttp_find_header(q, name);
}

/* ---- the form's files ---------------------------------------------------- */

/* Only these files of the console's directory are public; the rest of the
 * console stays behind the certificate. */
static void serve_file(struct console_req *r, const char *name)
{
    snprintf(r->path, sizeof r->path, "/%s", name);
    console_static_handle(r);
}

/* ---- the calls ------------------------------------------------------------- */

static void do_challenge(struct console_req *r)
{
    struct evkeyvalq q;
    int64_t cp;
    uint32_t gen;
    char c[PUBLIC_POW_MAX + 1];

    TAILQ_INIT(&q);
    const char *t = query_param(r, &q, "t");
    if (t == NULL || !public_token_verify(r->gw->public_key, t, &cp, &gen)) {
        evhttp_clear_headers(&q);
        console_fail(r, 404, "NOT_FOUND", "token", "this poster is not valid",
                     "此二维码无效，请向联系点索取新的二维码");
        return;
    }
    evhttp_clear_headers(&q);
    if (!public_pow_issue(r->gw->public_key, (int64_t)time(NULL), r->gw->cfg.public_pow_bits, c)) {
        console_fail(r, 500, "INTERNAL", "", "cannot issue a challenge", "无法生成验证题");
        return;
    }
    console_reply_json(r, 200, json_pack("{s:s,s:i}", "challenge", c, "difficulty",
                                 r->gw->cfg.public_pow_bits));
}

/* A submission on its way through storage. */
struct pending {
    struct console_req *r;
};

static void submitted(void *arg, struct store_reply *reply)
{
    struct pending *p = arg;
    struct console_req *r = p->r;

    r->gw->pub->inflight--;
    free(p);
    if (reply->code != 0) {
        fail_code(r, reply->code, reply->field ? reply->field : "", reply->message,
                  reply->message_zh);
    } else {
        Minyi__V1__PublicSubmitResponse *m = (Minyi__V1__PublicSubmitResponse *)reply->msg;
        json_t *o = json_object();
        json_object_set_new(o, "pickup", json_stringn((const char *)m->pickup.data,
                                                     m->pickup.len));
        console_reply_json(r, 200, o);
    }
    if (reply->msg != NULL)
        protobuf_c_message_free_unpacked(reply->msg, NULL);
}

static bool text_field(struct console_req *r, json_t *body, const char *key,
                       enum validate_text_kind kind, const char *zh, bool required, char **out)
{
    const char *s = json_string_value(json_object_get(body, key));
    ProtobufCBinaryData b = { s ? strlen(s) : 0, (uint8_t *)(s ? s : "") };
    struct validation_error err;

    memset(&err, 0, sizeof err);
    if (validate_text(&b, kind, key, zh, required, &r->gw->limits, out, &err))
        return true;
    fail_code(r, err.code, key, err.message, err.message_zh);
    return false;
}

/* A phone number as people write one: digits, '+', '-' and spaces. */
static bool phone_ok(const char *s)
{
    size_t n = strlen(s), digits = 0;
    if (n == 0)
        return true;
    if (n < VALIDATE_PHONE_MIN || n > VALIDATE_PHONE_MAX || strspn(s, "0123456789+- ") != n)
        return false;
    for (size_t i = 0; i < n; i++)
        digits += s[i] >= '0' && s[i] <= '9';
    return digits >= VALIDATE_PHONE_MIN;
}

/* Decodes and cleans photo i (base64 text b64) into p; false with r answered. */
static bool take_photo(struct console_req *r, const char *b64, size_t i, struct public_photo *p)
{
    char field[32];
    size_t n = strlen(b64);
    struct validation_error err;

    snprintf(field, sizeof field, "photos[%zu]", i);
    memset(&err, 0, sizeof err);
    /* The size is known from the text's length before anything is decoded. */
    if (n % 4 != 0 || n / 4 * 3 > (size_t)r->gw->cfg.public_photo_max + 2) {
        console_fail(r, 400, "INVALID_ARGUMENT", field, "a photo is too large or not base64",
                     "照片过大或编码错误");
        return false;
    }
    uint8_t *raw = malloc(n / 4 * 3 + 1);
    int len = raw != NULL ? EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n) : -1;
    if (len >= 0)
        while (n > 0 && b64[--n] == '=')
            len--;
    bool ok = len >= 0 && public_photo_clean(raw, (size_t)len, (size_t)r->gw->cfg.public_photo_max,
                                             field, p, &err);
    free(raw);
    if (!ok)
        fail_code(r, len < 0 ? MINYI__V1__ERROR_CODE__INVALID_ARGUMENT : err.code, field,
                  len < 0 ? "a photo is not base64" : err.message,
                  len < 0 ? "照片编码错误" : err.message_zh);
    return ok;
}

static void do_submit(struct console_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    json_error_t jerr;
    json_t *body = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &jerr);
    char *what = NULL, *place = NULL, *name = NULL;
    struct public_photo photos[PUBLIC_MSG_PHOTOS_MAX];
    size_t n_photos = 0;
    struct public_msg m;
    int64_t cp;
    uint32_t gen, wait_ms;

    memset(&m, 0, sizeof m);
    memset(photos, 0, sizeof photos);
    if (!json_is_object(body)) {
        console_fail(r, 400, "INVALID_ARGUMENT", "body", "the body must be a JSON object",
                     "请求内容须为 JSON 对象");
        goto out;
    }
    const char *t = json_string_value(json_object_get(body, "t"));
    if (t == NULL || !public_token_verify(r->gw->public_key, t, &cp, &gen)) {
        console_fail(r, 404, "NOT_FOUND", "token", "this poster is not valid",
                     "此二维码无效，请向联系点索取新的二维码");
        goto out;
    }
    if (!public_limit_take(r->gw->pub->by_cp, &cp, sizeof cp, clock_mono_ms(), &wait_ms)) {
        console_fail(r, 429, "RESOURCE_EXHAUSTED", "token",
                     "this contact point receives too many messages now; try again later",
                     "该联系点当前来信过多，请稍后再试");
        goto out;
    }
    const char *c = json_string_value(json_object_get(body, "challenge"));
    const char *nonce = json_string_value(json_object_get(body, "nonce"));
    enum public_pow_result pr = public_pow_check(r->gw->public_key, r->gw->pub->seen, c ? c : "",
                                                 nonce ? nonce : "", (int64_t)time(NULL),
                                                 PUBLIC_HTTP_POW_AGE_S, r->gw->cfg.public_pow_bits);
    if (pr != PUBLIC_POW_OK) {
        console_fail(r, pr == PUBLIC_POW_BUSY ? 503 : 400,
                     pr == PUBLIC_POW_BUSY ? "UNAVAILABLE" : "INVALID_ARGUMENT", "challenge",
                     "the challenge is missing, expired, used or not solved; ask a new one",
                     "验证未通过或已过期，请重新提交");
        goto out;
    }
    if (!text_field(r, body, "what", VALIDATE_TEXT_SITUATION, "发生了什么", true, &what) ||
        !text_field(r, body, "place", VALIDATE_TEXT_TITLE, "地点", true, &place) ||
        !text_field(r, body, "name", VALIDATE_TEXT_LEVEL, "姓名", false, &name))
        goto out;
    const char *phone = json_string_value(json_object_get(body, "phone"));
    if (phone == NULL)
        phone = "";
    if (!phone_ok(phone)) {
        console_fail(r, 400, "INVALID_ARGUMENT", "phone",
                     "a phone number has 5 to 20 digits, '+', '-' or spaces",
                     "电话号码须为5至20位数字，可含 +、- 或空格");
        goto out;
    }
    json_t *ph = json_object_get(body, "photos");
    if (ph != NULL && (!json_is_array(ph) || json_array_size(ph) > PUBLIC_MSG_PHOTOS_MAX)) {
        console_fail(r, 400, "INVALID_ARGUMENT", "photos", "at most 3 photos", "最多3张照片");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(ph); i++) {
        const char *b64 = json_string_value(json_array_get(ph, i));
        if (b64 == NULL || !take_photo(r, b64, i, &photos[i]))
            goto out;
        n_photos++;
    }
    /* The global budget: beyond it the message is refused at once rather
     * than queued, so contact points' and editors' work never waits. */
    if (r->gw->pub->inflight >= r->gw->cfg.public_inflight_max) {
        console_fail(r, 503, "UNAVAILABLE", "", "too many messages at once; try again shortly",
                     "当前提交人数较多，请稍后再试");
        goto out;
    }
    struct pending *p = malloc(sizeof *p);
    if (p == NULL) {
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "out of memory", "服务器内存不足");
        goto out;
    }
    p->r = r;
    m.contact_point_id = cp;
    m.token_gen = gen;
    m.what = what;
    m.place = place;
    m.name = name;
    m.phone = phone;
    for (size_t i = 0; i < n_photos; i++)
        m.photos[i] = (struct public_msg_photo){ public_photo_media_type(photos[i].type),
                                                 photos[i].data, photos[i].len };
    m.n_photos = n_photos;
    r->gw->pub->inflight++;
    public_msg_submit(r->gw->store, &m, submitted, p);
out:
    for (size_t i = 0; i < n_photos; i++)
        public_photo_free(&photos[i]);
    free(what);
    free(place);
    free(name);
    json_decref(body);
}

static void picked_up(void *arg, struct store_reply *reply)
{
    struct console_req *r = arg;

    if (reply->code != 0) {
        fail_code(r, reply->code, reply->field ? reply->field : "", reply->message,
                  reply->message_zh);
        return;
    }
    Minyi__V1__PickupResponse *m = (Minyi__V1__PickupResponse *)reply->msg;
    const ProtobufCEnumValue *v =
        m->outcome != 0 ? protobuf_c_enum_descriptor_get_value(
                              &minyi__v1__report_state__descriptor, (int)m->outcome)
                        : NULL;
    console_reply_json(r, 200,
               json_pack("{s:s%,s:I,s:s%,s:I,s:s,s:I}", "status", (const char *)m->status.data,
                         m->status.len, "received_at_ms", (json_int_t)m->received_at_ms, "reply",
                         m->reply.data ? (const char *)m->reply.data : "", m->reply.len,
                         "replied_at_ms", (json_int_t)m->replied_at_ms, "outcome",
                         v != NULL ? v->name : "", "outcome_at_ms",
                         (json_int_t)m->outcome_at_ms));
    protobuf_c_message_free_unpacked(reply->msg, NULL);
}

static void do_pickup(struct console_req *r)
{
    struct evkeyvalq q;
    char code[PUBLIC_MSG_PICKUP_LEN + 1];

    TAILQ_INIT(&q);
    const char *c = query_param(r, &q, "code");
    bool ok = c != NULL && public_msg_pickup_plausible(c);
    if (ok)
        snprintf(code, sizeof code, "%s", c);
    evhttp_clear_headers(&q);
    if (!ok) {
        console_fail(r, 404, "NOT_FOUND", "pickup", "no message with this pickup code",
                     "没有此查询码对应的来信");
        return;
    }
    public_msg_pickup(r->gw->store, code, picked_up, r);
}

void public_http_handle(struct console_req *r)
{
    const char *sub = r->path + strlen("/public/");

    if (r->gw->pub == NULL) {
        console_fail(r, 404, "NOT_FOUND", "path", "this gateway has no public form",
                     "本网关未开放码上商");
        return;
    }
    door_rates(r->gw->pub, &r->gw->cfg);
    if (!take_addr(r))
        return;
    if (r->method == EVHTTP_REQ_GET && (sub[0] == '\0' || strcmp(sub, "index.html") == 0))
        serve_file(r, "public.html");
    else if (r->method == EVHTTP_REQ_GET && strcmp(sub, "public.js") == 0)
        serve_file(r, "public.js");
    else if (r->method == EVHTTP_REQ_GET && strcmp(sub, "public.css") == 0)
        serve_file(r, "public.css");
    else if (r->method == EVHTTP_REQ_GET && strcmp(sub, "api/challenge") == 0)
        do_challenge(r);
    else if (r->method == EVHTTP_REQ_POST && strcmp(sub, "api/submit") == 0)
        do_submit(r);
    else if (r->method == EVHTTP_REQ_GET && strcmp(sub, "api/pickup") == 0)
        do_pickup(r);
    else
        console_fail(r, 404, "NOT_FOUND", "path", "no such page", "页面不存在");
}
