/*
 * watch: the list of watching sessions and the push of queue events.  The
 * list is short (editors, not contact points) and changes rarely, so it is a
 * plain singly linked list searched from the head.
 */
#include <stdlib.h>

#include <event2/buffer.h>

#include "access.h"
#include "log.h"
#include "triage.h"
#include "watch.h"

struct watcher {
    struct session *s;
    uint64_t id;
    struct watcher *next;
};

struct watch_sub {
    watch_event_cb cb;
    void *arg;
    struct watch_sub *next;
};

struct watch {
    struct store_listener *listener;
    struct watcher *head;
    struct watch_sub *subs;
};

static void on_event(void *arg, const Minyi__V1__QueueEvent *ev)
{
    struct gw *gw = arg;
    struct watcher *w, *next;

    for (w = gw->watch->head; w != NULL; w = next) {
        /* session_close below takes w off the list. */
        next = w->next;
        struct session *s = w->s;
        if (s->state != SESSION_READY || s->bev == NULL)
            continue;
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) > WATCH_BACKLOG_MAX) {
            session_close(s, "watch backlog too large");
            continue;
        }
        Frame f = MINYI__V1__FRAME__INIT;
        f.id = w->id;
        f.body_case = MINYI__V1__FRAME__BODY_QUEUE_EVENT;
        f.queue_event = (Minyi__V1__QueueEvent *)ev;
        session_send(s, &f);
    }
    for (struct watch_sub *sub = gw->watch->subs, *after; sub != NULL; sub = after) {
        /* The callback may unsubscribe (and free) sub. */
        after = sub->next;
        sub->cb(sub->arg, ev);
    }
}

struct watch_sub *watch_subscribe(struct gw *gw, watch_event_cb cb, void *arg)
{
    struct watch *w = gw->watch;
    struct watch_sub *sub = w != NULL ? malloc(sizeof(*sub)) : NULL;
    if (sub == NULL)
        return NULL;
    sub->cb = cb;
    sub->arg = arg;
    sub->next = w->subs;
    w->subs = sub;
    return sub;
}

void watch_unsubscribe(struct gw *gw, struct watch_sub *sub)
{
    struct watch *w = gw->watch;
    for (struct watch_sub **pp = w != NULL ? &w->subs : NULL; pp != NULL && *pp != NULL;
         pp = &(*pp)->next) {
        if (*pp == sub) {
            *pp = sub->next;
            break;
        }
    }
    free(sub);
}

bool watch_start(struct gw *gw)
{
    struct watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return false;
    gw->watch = w;
    w->listener = store_listen_open(gw->base, gw->cfg.db_conninfo, 100, 5000, on_event, gw);
    if (w->listener == NULL) {
        watch_stop(gw);
        return false;
    }
    /* The live queue's connection also carries the news of disabled
     * principals (0020_principal_notify.sql). */
    store_listen_on_principal_gone(w->listener, access_principal_gone, gw);
    return true;
}

void watch_stop(struct gw *gw)
{
    struct watch *w = gw->watch;
    if (w == NULL)
        return;
    while (w->head != NULL) {
        struct watcher *x = w->head;
        w->head = x->next;
        free(x);
    }
    while (w->subs != NULL) {
        struct watch_sub *x = w->subs;
        w->subs = x->next;
        free(x);
    }
    store_listen_free(w->listener);
    free(w);
    gw->watch = NULL;
}

bool watch_add(struct session *s, uint64_t id)
{
    struct watch *w = s->gw->watch;
    struct watcher *x;

    if (w == NULL)
        return false;
    for (x = w->head; x != NULL; x = x->next) {
        if (x->s == s) {
            x->id = id;
            s->watching = true;
            return true;
        }
    }
    x = malloc(sizeof(*x));
    if (x == NULL)
        return false;
    x->s = s;
    x->id = id;
    x->next = w->head;
    w->head = x;
    s->watching = true;
    log_info("event=watch sid=%llu principal=%lld", (unsigned long long)s->sid,
             (long long)s->caller.principal.id);
    return true;
}

void watch_remove(struct session *s)
{
    struct watch *w = s->gw->watch;
    struct watcher **pp;

    if (w == NULL)
        return;
    for (pp = &w->head; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->s == s) {
            struct watcher *x = *pp;
            *pp = x->next;
            free(x);
            s->watching = false;
            return;
        }
    }
}
