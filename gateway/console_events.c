/*
 * console_events: see console_events.h.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "clock.h"
#include "console_events.h"
#include "console_json.h"
#include "log.h"
#include "watch.h"

struct stream {
    struct console_events *ev;
    struct console_req *r;
    struct watch_sub *sub;
    struct event *ping;
    struct stream *next;
};

/* Few streams are open at once (one per editor's open page), so a list. */
struct console_events {
    struct stream *streams;
    int n_streams;
};

struct console_events *console_events_new(void)
{
    return calloc(1, sizeof(struct console_events));
}

/* Ends st's answer (end) or, when the gateway stops, only forgets it. */
static void stream_finish(struct stream *st, const char *reason, bool end)
{
    struct console_events *ev = st->ev;
    for (struct stream **pp = &ev->streams; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            ev->n_streams--;
            break;
        }
    }
    log_debug("event=console_stream_closed principal=%lld reason=\"%s\"",
              (long long)st->r->principal.id, reason);
    if (st->sub != NULL)
        watch_unsubscribe(st->r->gw, st->sub);
    if (st->ping != NULL)
        event_free(st->ping);
    if (end)
        console_stream_end(st->r);
    else
        console_stream_drop(st->r);
    free(st);
}

static void stream_close(struct stream *st, const char *reason)
{
    stream_finish(st, reason, true);
}

/* Sends text on st, or closes it when the browser has gone or does not
 * read; false when st is closed. */
static bool stream_send(struct stream *st, const char *text, size_t len)
{
    struct evhttp_request *req = st->r->req;
    if (req == NULL) {
        stream_close(st, "browser went away");
        return false;
    }
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
    if (bev != NULL && evbuffer_get_length(bufferevent_get_output(bev)) > WATCH_BACKLOG_MAX) {
        stream_close(st, "events not read");
        return false;
    }
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL || evbuffer_add(buf, text, len) != 0) {
        if (buf != NULL)
            evbuffer_free(buf);
        stream_close(st, "out of memory");
        return false;
    }
    evhttp_send_reply_chunk(req, buf);
    evbuffer_free(buf);
    return true;
}

static void on_event(void *arg, const Minyi__V1__QueueEvent *ev)
{
    struct stream *st = arg;
    json_t *o = console_json_from_message(&ev->base);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL) {
        stream_close(st, "out of memory");
        return;
    }
    size_t n = strlen(text);
    char *line = malloc(n + 16);
    if (line != NULL) {
        /* JSON_COMPACT output holds no newline, so one data line carries it. */
        memcpy(line, "data: ", 6);
        memcpy(line + 6, text, n);
        memcpy(line + 6 + n, "\n\n", 2);
        (void)stream_send(st, line, n + 8);
    } else {
        stream_close(st, "out of memory");
    }
    free(line);
    free(text);
}

static void on_ping(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    static const char ping[] = ": ping\n\n";
    (void)stream_send(arg, ping, sizeof(ping) - 1);
}

void console_events_open(struct console_req *r)
{
    enum principal_kind k = r->principal.kind;
    struct console_events *ev = r->gw->console_events;
    if (k != PRINCIPAL_EDITOR && k != PRINCIPAL_OFFICE && k != PRINCIPAL_ADMIN) {
        console_fail(r, 403, "PERMISSION_DENIED", "principal.kind",
                     "only those who read the queue may follow it", "当前身份无权查看实时队列");
        return;
    }
    struct stream *st = ev != NULL ? calloc(1, sizeof(*st)) : NULL;
    struct timeval tv = clock_tv_ms(CONSOLE_EVENTS_PING_MS);
    if (st == NULL) {
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "out of memory", "服务器内存不足");
        return;
    }
    st->ev = ev;
    st->r = r;
    st->sub = watch_subscribe(r->gw, on_event, st);
    st->ping = event_new(r->gw->base, -1, EV_PERSIST, on_ping, st);
    if (st->sub == NULL || st->ping == NULL || event_add(st->ping, &tv) != 0) {
        if (st->sub != NULL)
            watch_unsubscribe(r->gw, st->sub);
        if (st->ping != NULL)
            event_free(st->ping);
        free(st);
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "cannot follow the queue now",
                     "暂时无法订阅实时队列");
        return;
    }
    st->next = ev->streams;
    ev->streams = st;
    ev->n_streams++;
    console_stream_start(r, "text/event-stream; charset=utf-8");
    char hello[64];
    int n = snprintf(hello, sizeof(hello), "retry: %d\n: open\n\n", CONSOLE_EVENTS_RETRY_MS);
    (void)stream_send(st, hello, (size_t)n);
}

void console_events_free(struct console_events *ev)
{
    if (ev == NULL)
        return;
    while (ev->streams != NULL)
        stream_finish(ev->streams, "console stopping", false);
    free(ev);
}

int console_events_count(const struct gw *gw)
{
    return gw->console_events != NULL ? gw->console_events->n_streams : 0;
}

int console_events_close_revoked(struct gw *gw)
{
    struct console_events *ev = gw->console_events;
    int closed = 0;
    if (ev == NULL)
        return 0;
    for (struct stream *st = ev->streams, *after; st != NULL; st = after) {
        after = st->next;
        if (!console_stream_cert_valid(st->r)) {
            stream_close(st, "certificate revoked (reload)");
            closed++;
        }
    }
    return closed;
}

int console_events_principal_gone(struct gw *gw, int64_t principal_id)
{
    struct console_events *ev = gw->console_events;
    int closed = 0;
    if (ev == NULL)
        return 0;
    for (struct stream *st = ev->streams, *after; st != NULL; st = after) {
        after = st->next;
        if (st->r->principal.id == principal_id) {
            stream_close(st, "principal disabled");
            closed++;
        }
    }
    return closed;
}
