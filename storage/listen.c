/*
 * listen: the live queue's own PostgreSQL connection.  It is not one of the
 * pool's: a pool connection is lent to one query at a time, while this one
 * sits in LISTEN minyi_queue for ever and only reads.  Every gateway on the
 * database has one, so a NOTIFY sent by any of them (the events trigger in
 * 0002_triage.sql, and for new reports minyi_notify_received() after each
 * intake batch, up to 100 receipts a notification, see
 * 0013_notify_new_gathered.sql) reaches the editors of all.
 *
 * The same connection listens on minyi_principals, where a principal that
 * was disabled or removed is announced (0020_principal_notify.sql).
 *
 * States: DOWN (waiting for the reconnect timer) -> CONNECTING
 * (PQconnectPoll) -> SETUP (LISTEN sent) -> UP (reading notifications);
 * any failure goes back to DOWN through listen_lost(), with a backoff that
 * doubles up to reconnect_max_ms.
 */
#include "clock.h"
#include "store_int.h"
#include "triage.h"
#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

/* Two channels: queue events, and principals disabled or removed
 * (0020_principal_notify.sql). */
#define LISTEN_CHANNEL_PRINCIPALS "minyi_principals"
#define LISTEN_SQL "LISTEN minyi_queue; LISTEN " LISTEN_CHANNEL_PRINCIPALS
#define LISTEN_CONNECT_TIMEOUT_MS 10000
/* Notifications handed on per read event (each up to 100 QueueEvents), so a
 * flood cannot starve the loop. */
#define LISTEN_NOTIFIES_PER_EVENT 64

enum listen_state { L_DOWN, L_CONNECTING, L_SETUP, L_UP };

struct store_listener {
    struct store_link link;    /* the connection, its socket event and timer */
    char *conninfo;
    store_event_cb cb;
    void *arg;
    store_principal_gone_cb gone_cb; /* NULL: principal notifications are ignored */
    void *gone_arg;
    enum listen_state state;
    struct event *ev_more;     /* continues after LISTEN_NOTIFIES_PER_EVENT */
    bool setup_failed;
    bool was_up;               /* LISTEN has succeeded before */
};

static void listen_lost(struct store_listener *l, const char *why)
{
    bool quiet = l->state == L_DOWN && l->link.backoff_ms != l->link.min_ms;

    event_del(l->ev_more);
    l->state = L_DOWN;
    int wait = store_link_close(&l->link);
    if (!quiet)
        log_warnx("module=store event=listen_lost retry_ms=%d reason=\"%s\"", wait, why);
}

static void listen_start(struct store_listener *l)
{
    l->state = L_CONNECTING;
    if (!store_link_connect(&l->link, l->conninfo, LISTEN_CONNECT_TIMEOUT_MS))
        listen_lost(l, "connect");
}

/* Hands one notification's payload on as QueueEvents: one for a single
 * change ("receipt", "at_ms"), one per receipt for gathered new reports
 * ("receipts", "at_ms" parallel arrays; 0013_notify_new_gathered.sql). */
static void deliver(struct store_listener *l, const char *payload)
{
    Minyi__V1__QueueEvent ev = MINYI__V1__QUEUE_EVENT__INIT;
    json_error_t jerr;
    json_t *j = json_loads(payload, 0, &jerr);
    json_t *receipts, *at;
    const char *kind, *state, *actor, *receipt;
    const ProtobufCEnumValue *sv;
    size_t i;

    if (!json_is_object(j)) {
        log_warnx("module=store event=listen_bad_payload");
        json_decref(j);
        return;
    }
    kind = json_string_value(json_object_get(j, "kind"));
    state = json_string_value(json_object_get(j, "state"));
    actor = json_string_value(json_object_get(j, "actor"));
    receipt = json_string_value(json_object_get(j, "receipt"));
    receipts = json_object_get(j, "receipts");
    at = json_object_get(j, "at_ms");
    if (!kind) {
        json_decref(j);
        return;
    }
    sv = state ? protobuf_c_enum_descriptor_get_value_by_name(
                     &minyi__v1__report_state__descriptor, state) : NULL;
    ev.kind = frame_bytes(kind);
    ev.state = sv ? sv->value : MINYI__V1__REPORT_STATE__STATE_UNSPECIFIED;
    ev.actor = frame_bytes(actor);
    if (json_is_array(receipts)) {
        for (i = 0; i < json_array_size(receipts); i++) {
            const char *one = json_string_value(json_array_get(receipts, i));
            if (!one)
                continue;
            ev.receipt = frame_bytes(one);
            ev.at_ms = (int64_t)json_integer_value(json_array_get(at, i));
            l->cb(l->arg, &ev);
        }
    } else if (receipt) {
        ev.receipt = frame_bytes(receipt);
        ev.at_ms = (int64_t)json_integer_value(at);
        l->cb(l->arg, &ev);
    }
    json_decref(j);
}

/*
 * Tells the watchers that notifications may have been missed: while this
 * connection was down (the database restarted or moved to a new primary)
 * nothing reached us.  It is sent once LISTEN is in force again, so a
 * client that lists the queue on receiving it misses nothing: what
 * committed before its listing is in the listing, what commits after
 * comes as an event.
 */
static void announce_resync(struct store_listener *l)
{
    Minyi__V1__QueueEvent ev = MINYI__V1__QUEUE_EVENT__INIT;

    ev.kind = frame_bytes(STORE_EVENT_RESYNC);
    ev.at_ms = clock_wall_ms();
    log_info("module=store event=listen_resync channel=minyi_queue");
    l->cb(l->arg, &ev);
}

static void drain_notifies(struct store_listener *l)
{
    PGnotify *n;
    int k = 0;

    while (k < LISTEN_NOTIFIES_PER_EVENT && (n = PQnotifies(l->link.pg)) != NULL) {
        if (strcmp(n->relname, LISTEN_CHANNEL_PRINCIPALS) != 0)
            deliver(l, n->extra);
        else if (l->gone_cb)
            l->gone_cb(l->gone_arg, strtoll(n->extra, NULL, 10));
        PQfreemem(n);
        k++;
    }
    if (k == LISTEN_NOTIFIES_PER_EVENT)
        event_active(l->ev_more, EV_TIMEOUT, 0);
}

static void more_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store_listener *l = arg;

    (void)fd;
    (void)what;
    if (l->state == L_UP)
        drain_notifies(l);
}

static void connect_step(struct store_listener *l)
{
    PGconn *pg = l->link.pg;

    switch (store_link_poll(&l->link)) {
    case STORE_LINK_WAIT:
        return;
    case STORE_LINK_OK:
        if (!PQsendQuery(pg, LISTEN_SQL)) {
            listen_lost(l, "LISTEN");
            return;
        }
        l->state = L_SETUP;
        l->setup_failed = false;
        if (!store_link_watch(&l->link, PQflush(pg) == 1 ? (EV_READ | EV_WRITE) : EV_READ))
            listen_lost(l, "cannot watch the socket");
        return;
    case STORE_LINK_FAILED:
    default:
        listen_lost(l, "connect");
        return;
    }
}

static void read_step(struct store_listener *l, short what)
{
    PGconn *pg = l->link.pg;
    PGresult *res;

    if (what & EV_WRITE) {
        int r = PQflush(pg);
        if (r < 0) {
            listen_lost(l, "send");
            return;
        }
        if (r == 0 && !store_link_watch(&l->link, EV_READ)) {
            listen_lost(l, "cannot watch the socket");
            return;
        }
    }
    if (!(what & EV_READ))
        return;
    if (!PQconsumeInput(pg)) {
        listen_lost(l, "receive");
        return;
    }
    /* The LISTEN's results are complete when PQgetResult says NULL. */
    while (l->state == L_SETUP && !PQisBusy(pg)) {
        res = PQgetResult(pg);
        if (res == NULL) {
            if (l->setup_failed) {
                listen_lost(l, "LISTEN refused");
                return;
            }
            l->state = L_UP;
            store_link_works(&l->link);
            evtimer_del(l->link.ev_timer);
            log_info("module=store event=listen_up channel=minyi_queue");
            if (l->was_up)
                announce_resync(l);
            l->was_up = true;
            break;
        }
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            l->setup_failed = true;
        PQclear(res);
    }
    if (PQstatus(pg) == CONNECTION_BAD) {
        listen_lost(l, "connection closed");
        return;
    }
    if (l->state == L_UP)
        drain_notifies(l);
}

static void listen_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store_listener *l = arg;

    (void)fd;
    switch (l->state) {
    case L_CONNECTING:
        connect_step(l);
        return;
    case L_SETUP:
    case L_UP:
        read_step(l, what);
        return;
    case L_DOWN:
    default:
        log_error("module=store event=bug reason=\"socket event on a closed listen connection\"");
        abort();
    }
}

static void listen_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store_listener *l = arg;

    (void)fd;
    (void)what;
    switch (l->state) {
    case L_DOWN:
        listen_start(l);
        return;
    case L_CONNECTING:
    case L_SETUP:
        listen_lost(l, "connect timed out");
        return;
    case L_UP:
    default:
        return;
    }
}

struct store_listener *store_listen_open(struct event_base *base, const char *conninfo,
                                         int reconnect_min_ms, int reconnect_max_ms,
                                         store_event_cb cb, void *arg)
{
    struct store_listener *l = calloc(1, sizeof *l);

    if (!l)
        return NULL;
    l->cb = cb;
    l->arg = arg;
    l->state = L_DOWN;
    l->conninfo = strdup(conninfo);
    l->ev_more = event_new(base, -1, 0, more_cb, l);
    if (!store_link_init(&l->link, base, reconnect_min_ms, reconnect_max_ms, listen_io_cb,
                         listen_timer_cb, l) ||
        !l->conninfo || !l->ev_more) {
        store_listen_free(l);
        return NULL;
    }
    listen_start(l);
    return l;
}

void store_listen_on_principal_gone(struct store_listener *l, store_principal_gone_cb cb,
                                    void *arg)
{
    l->gone_cb = cb;
    l->gone_arg = arg;
}

bool store_listen_up(const struct store_listener *l)
{
    return l && l->state == L_UP;
}

void store_listen_free(struct store_listener *l)
{
    if (!l)
        return;
    store_link_free(&l->link);
    if (l->ev_more)
        event_free(l->ev_more);
    free(l->conninfo);
    free(l);
}
