/*
 * link: what the store's connections of their own (listen.c, lock.c) have
 * in common, apart from the pool's: a PostgreSQL connection opened without
 * blocking and driven by libevent, one socket event re-made after each
 * connect step (libpq may change the socket while connecting), one timer
 * for the owner's deadlines and retries, and a reconnect backoff that
 * doubles from min_ms up to max_ms and starts again once the owner says
 * the connection works.
 */
#include "store_int.h"

#include <stdlib.h>

#include <event2/event.h>

bool store_link_init(struct store_link *k, struct event_base *base, int min_ms, int max_ms,
                     event_callback_fn io_cb, event_callback_fn timer_cb, void *arg)
{
    k->base = base;
    k->io_cb = io_cb;
    k->arg = arg;
    k->pg = NULL;
    k->ev_io = NULL;
    k->min_ms = min_ms > 0 ? min_ms : STORE_DEFAULT_RECONNECT_MIN;
    k->max_ms = max_ms >= k->min_ms ? max_ms : k->min_ms;
    k->backoff_ms = k->min_ms;
    k->ev_timer = evtimer_new(base, timer_cb, arg);
    return k->ev_timer != NULL;
}

void store_link_timer(struct store_link *k, int ms)
{
    struct timeval tv = clock_tv_ms(ms);

    evtimer_add(k->ev_timer, &tv);
}

static void unwatch(struct store_link *k)
{
    if (k->ev_io) {
        event_free(k->ev_io);
        k->ev_io = NULL;
    }
}

bool store_link_watch(struct store_link *k, short what)
{
    evutil_socket_t fd = k->pg ? PQsocket(k->pg) : -1;

    unwatch(k);
    if (!what)
        return true;
    if (fd < 0)
        return false;
    k->ev_io = event_new(k->base, fd, (short)(what | EV_PERSIST), k->io_cb, k->arg);
    return k->ev_io && event_add(k->ev_io, NULL) == 0;
}

bool store_link_connect(struct store_link *k, const char *conninfo, int timeout_ms)
{
    k->pg = PQconnectStart(conninfo);
    if (!k->pg || PQstatus(k->pg) == CONNECTION_BAD || PQsocket(k->pg) < 0)
        return false;
    PQsetNoticeProcessor(k->pg, store_pq_quiet, NULL);
    store_link_timer(k, timeout_ms);
    return store_link_watch(k, EV_WRITE);
}

enum store_link_step store_link_poll(struct store_link *k)
{
    switch (PQconnectPoll(k->pg)) {
    case PGRES_POLLING_READING:
        return store_link_watch(k, EV_READ) ? STORE_LINK_WAIT : STORE_LINK_FAILED;
    case PGRES_POLLING_WRITING:
        return store_link_watch(k, EV_WRITE) ? STORE_LINK_WAIT : STORE_LINK_FAILED;
    case PGRES_POLLING_OK:
        return PQsetnonblocking(k->pg, 1) == 0 ? STORE_LINK_OK : STORE_LINK_FAILED;
    case PGRES_POLLING_FAILED:
    default:
        return STORE_LINK_FAILED;
    }
}

int store_link_close(struct store_link *k)
{
    int wait = k->backoff_ms;

    unwatch(k);
    if (k->pg) {
        PQfinish(k->pg);
        k->pg = NULL;
    }
    store_link_timer(k, wait);
    k->backoff_ms = k->backoff_ms > k->max_ms / 2 ? k->max_ms : k->backoff_ms * 2;
    return wait;
}

void store_link_free(struct store_link *k)
{
    if (k->ev_io)
        event_free(k->ev_io);
    if (k->ev_timer)
        event_free(k->ev_timer);
    if (k->pg)
        PQfinish(k->pg);
    k->ev_io = NULL;
    k->ev_timer = NULL;
    k->pg = NULL;
}
