/*
 * console_api: see console_api.h.  Every operation of the protocol a
 * browser may call is one path, POST /api/op/NAME, NAME being the request's
 * field of Frame (submit, queue, claim, ...).  Its JSON body is mapped onto
 * that request message (console_json.h), packed into a Frame, decoded again
 * with the protocol's own budget and enum checks, and handed to the same
 * dispatch_frame as a protocol session's frames; the answer frame comes
 * back through the caller interface (caller.h) and goes out as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "console_api.h"
#include "console_events.h"
#include "console_json.h"
#include "dispatch.h"
#include "frame.h"
#include "log.h"

#define OP_PREFIX "/api/op/"

/* The requests a browser may send.  The peer-to-peer calls (forward,
 * results) belong to the protocol port alone, and the live queue is
 * streamed by /api/events instead of watch.  The inbox operations are a
 * contact point's messages from the public (码上商, console/inbox.html). */
static const char *const browser_ops[] = {
    "submit", "status", "list_mine", "resubmit", "queue", "show", "claim", "renew", "release",
    "edit", "decide", "outbox", "outbox_action", "attachment", "instruct", "stats", "points",
    "inbox", "inbox_show", "inbox_answer", "inbox_convert",
};

/* One operation on its way through dispatch: the console's caller. */
struct console_call {
    struct caller caller;
    struct console_req *r;           /* NULL once answered */
    console_api_render render;       /* the answer's form; NULL: JSON */
    int refs;
};

static struct console_call *of_caller(const struct caller *c)
{
    return (struct console_call *)((const char *)c - offsetof(struct console_call, caller));
}

static int http_status(int code)
{
    switch (code) {
    case MINYI__V1__ERROR_CODE__INVALID_ARGUMENT: return 400;
    case MINYI__V1__ERROR_CODE__PERMISSION_DENIED: return 403;
    case MINYI__V1__ERROR_CODE__NOT_FOUND: return 404;
    case MINYI__V1__ERROR_CODE__CONFLICT: return 409;
    case MINYI__V1__ERROR_CODE__FRAME_TOO_LARGE: return 413;
    case MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED: return 429;
    case MINYI__V1__ERROR_CODE__UNSUPPORTED: return 400;
    case MINYI__V1__ERROR_CODE__MALFORMED_FRAME: return 400;
    case MINYI__V1__ERROR_CODE__UNAVAILABLE: return 503;
    default: return 500;
    }
}

static void call_send(struct caller *c, const Frame *f)
{
    struct console_call *call = of_caller(c);
    if (call->r == NULL)
        return;
    struct console_req *r = call->r;
    call->r = NULL;
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(&minyi__v1__frame__descriptor, f->body_case);
    const ProtobufCMessage *m =
        fd != NULL ? *(ProtobufCMessage *const *)((const char *)f + fd->offset) : NULL;
    if (m == NULL) {
        console_fail(r, 500, "INTERNAL", "", "an answer without a body", "应答缺少内容");
        return;
    }
    if (f->body_case == MINYI__V1__FRAME__BODY_ERROR)
        console_reply_json(r, http_status(f->error->code), console_json_from_message(m));
    else if (call->render != NULL)
        call->render(r, m);
    else
        console_reply_json(r, 200, console_json_from_message(m));
}

static void call_done(struct caller *c)
{
    (void)c;
}

static void call_hold(struct caller *c)
{
    of_caller(c)->refs++;
}

static void call_release(struct caller *c)
{
    struct console_call *call = of_caller(c);
    if (--call->refs > 0)
        return;
    /* Answered nowhere (the browser went away first): the request is
     * freed all the same. */
    if (call->r != NULL)
        console_reply(call->r, 503, NULL, NULL);
    free(call);
}

static bool call_live(const struct caller *c)
{
    const struct console_call *call = of_caller(c);
    return call->r != NULL && call->r->req != NULL;
}

static const struct caller_ops console_caller_ops = {
    .send = call_send,
    .done = call_done,
    .hold = call_hold,
    .release = call_release,
    .live = call_live,
    .watch = NULL,
};

static const ProtobufCFieldDescriptor *browser_op(const char *name)
{
    for (size_t i = 0; i < sizeof(browser_ops) / sizeof(browser_ops[0]); i++)
        if (strcmp(name, browser_ops[i]) == 0)
            return protobuf_c_message_descriptor_get_field_by_name(&minyi__v1__frame__descriptor,
                                                                   name);
    return NULL;
}

void console_api_run(struct console_req *r, const char *name, const json_t *body,
                     console_api_render render)
{
    const ProtobufCFieldDescriptor *fd = browser_op(name);
    const struct gw_config *cfg = &r->gw->cfg;
    if (fd == NULL) {
        console_fail(r, 404, "NOT_FOUND", "path", "no such operation", "没有该操作");
        return;
    }
    char path[CONSOLE_JSON_PATH_MAX], field[CONSOLE_JSON_PATH_MAX + 64];
    ProtobufCMessage *msg = console_json_to_message(fd->descriptor, body, path);
    if (msg == NULL) {
        snprintf(field, sizeof(field), "%s%s%s", name, path[0] ? "." : "", path);
        console_fail(r, 400, "INVALID_ARGUMENT", field,
                     "this field is unknown or holds a value of the wrong type",
                     "该字段未定义或取值类型错误");
        return;
    }
    Frame frame = MINYI__V1__FRAME__INIT;
    frame.id = 1;
    frame.body_case = (Minyi__V1__Frame__BodyCase)fd->id;
    *(ProtobufCMessage **)((char *)&frame + fd->offset) = msg;
    size_t packed_len = 0;
    uint8_t *packed = frame_encode(&frame, &packed_len);
    protobuf_c_message_free_unpacked(msg, NULL);
    if (packed == NULL) {
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "out of memory", "服务器内存不足");
        return;
    }
    if (packed_len - FRAME_HEADER_LEN > cfg->max_frame_bytes) {
        free(packed);
        console_fail(r, 413, "FRAME_TOO_LARGE", name, "the request exceeds the maximum size",
                     "请求超过大小上限");
        return;
    }
    /* Decoded again as a frame off the wire is, with the same budget and
     * the same check for enum numbers beyond int32. */
    struct frame_arena *arena = NULL;
    Frame *f = frame_decode(packed + FRAME_HEADER_LEN, packed_len - FRAME_HEADER_LEN,
                            cfg->decode_budget_bytes, &arena);
    free(packed);
    if (f == NULL) {
        console_fail(r, 400, "MALFORMED_FRAME", name, "the request exceeds the decode budget",
                     "请求超出解码预算");
        return;
    }
    struct console_call *call = calloc(1, sizeof(*call));
    if (call == NULL) {
        frame_arena_free(arena);
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "out of memory", "服务器内存不足");
        return;
    }
    call->caller.ops = &console_caller_ops;
    call->caller.gw = r->gw;
    call->caller.principal = r->principal;
    call->caller.sid = ++r->gw->next_sid;
    call->r = r;
    call->render = render;
    call->refs = 1;
    dispatch_frame(&call->caller, f, arena);
    call_release(&call->caller);
}

/* POST /api/op/NAME with the request message as JSON. */
static void api_op(struct console_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    const char *text = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "{}";
    json_error_t jerr;
    json_t *body = json_loadb(text, len > 0 ? len : 2, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL) {
        console_fail(r, 400, "INVALID_ARGUMENT", "body", "the body is not JSON",
                     "请求内容不是合法的 JSON");
        return;
    }
    console_api_run(r, r->path + strlen(OP_PREFIX), body, NULL);
    json_decref(body);
}

/* GET /api/me: who the certificate says this is, so a page can show the
 * right actions and the principal's name. */
static void api_me(struct console_req *r)
{
    const struct principal *p = &r->principal;
    const struct gw_config *cfg = &r->gw->cfg;
    json_t *dest = json_array();
    /* An editor's page offers the configured destinations to forward to. */
    if (dest != NULL && p->kind == PRINCIPAL_EDITOR) {
        char names[sizeof(cfg->destinations)];
        char *save = NULL;
        snprintf(names, sizeof(names), "%s", cfg->destinations);
        for (char *t = strtok_r(names, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save))
            json_array_append_new(dest, json_string(t));
    }
    console_reply_json(r, 200,
               json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:o*}", "id", (json_int_t)p->id,
                         "kind", principal_kind_name(p->kind), "name", p->name, "region",
                         p->region, "sector", p->sector, "body_region", cfg->body_region,
                         "body_name", cfg->body_name, "destinations", dest));
}

void console_api_handle(struct console_req *r)
{
    if (strcmp(r->path, "/api/me") == 0 && r->method == EVHTTP_REQ_GET) {
        api_me(r);
        return;
    }
    if (strcmp(r->path, "/api/events") == 0 && r->method == EVHTTP_REQ_GET) {
        console_events_open(r);
        return;
    }
    if (strncmp(r->path, OP_PREFIX, strlen(OP_PREFIX)) == 0 && r->method == EVHTTP_REQ_POST) {
        api_op(r);
        return;
    }
    console_fail(r, 404, "NOT_FOUND", "path", "no such call", "接口不存在");
}
