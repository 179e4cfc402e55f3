/*
 * console_api: see console_api.h.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "console_api.h"

/* Answers r with o as JSON (and releases o). */
static void reply_json(struct console_req *r, int status, json_t *o)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    struct evbuffer *body = text != NULL ? evbuffer_new() : NULL;
    json_decref(o);
    if (body == NULL || evbuffer_add(body, text, strlen(text)) != 0) {
        free(text);
        if (body != NULL)
            evbuffer_free(body);
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "out of memory", "服务器内存不足");
        return;
    }
    free(text);
    console_reply(r, status, "application/json; charset=utf-8", body);
    evbuffer_free(body);
}

/* GET /api/me: who the certificate says this is, so a page can show the
 * right actions and the principal's name. */
static void api_me(struct console_req *r)
{
    const struct principal *p = &r->principal;
    reply_json(r, 200,
               json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)p->id, "kind",
                         principal_kind_name(p->kind), "name", p->name, "region", p->region,
                         "sector", p->sector, "body_region", r->gw->cfg.body_region));
}

void console_api_handle(struct console_req *r)
{
    if (strcmp(r->path, "/api/me") == 0 && r->method == EVHTTP_REQ_GET) {
        api_me(r);
        return;
    }
    console_fail(r, 404, "NOT_FOUND", "path", "no such call", "接口不存在");
}
