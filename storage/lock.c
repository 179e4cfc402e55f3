/*
 * lock: see lock.h.
 *
 * States: DOWN (waiting for the reconnect timer) -> CONNECTING
 * (PQconnectPoll) -> IDLE (connected, waiting for the next try or check)
 * <-> QUERY (pg_try_advisory_lock, or the holder's check, in flight); any
 * failure goes back to DOWN through lock_lost(), with a backoff that
 * doubles up to reconnect_max_ms.  The socket is watched for reading in
 * IDLE too, so a server that goes away is noticed at once, not at the next
 * check.
 */
#include "lock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "log.h"
#include "store_int.h"

#define LOCK_CONNECT_TIMEOUT_MS 10000
#define LOCK_TRY_SQL   "SELECT pg_try_advisory_lock($1::bigint)"
/* The holder's check: any round trip shows the session, and with it the
 * lock, is still there. */
#define LOCK_CHECK_SQL "SELECT true"
#define LOCK_KEY_TEXT_MAX 24       /* decimal digits of an int64 and its sign */

enum lock_state { LK_DOWN, LK_CONNECTING, LK_IDLE, LK_QUERY };

struct store_lock {
    struct store_link link;    /* the connection, its socket event and timer */
    char *conninfo;
    char *name;
    char key[LOCK_KEY_TEXT_MAX];
    int retry_ms, query_timeout_ms;
    store_lock_cb cb;
    void *arg;
    enum lock_state state;
    bool held;
    bool query_failed;         /* the query in flight answered an error */
    bool query_true;           /* ... or true */
};

/* The session is gone or useless: close it (PostgreSQL releases the lock
 * with it), tell the owner when the lock was held, and reconnect later. */
static void lock_lost(struct store_lock *l, const char *why)
{
    bool was_held = l->held;
    bool quiet = !was_held && l->state == LK_DOWN && l->link.backoff_ms != l->link.min_ms;

    l->held = false;
    l->state = LK_DOWN;
    int wait = store_link_close(&l->link);
    if (!quiet)
        log_warnx("module=store event=lock_lost lock=%s held=%d retry_ms=%d reason=\"%s\"",
                  l->name, was_held ? 1 : 0, wait, why);
    if (was_held)
        l->cb(l->arg, false);
}

static void lock_start(struct store_lock *l)
{
    l->state = LK_CONNECTING;
    if (!store_link_connect(&l->link, l->conninfo, LOCK_CONNECT_TIMEOUT_MS))
        lock_lost(l, "connect");
}

/* Sends the try (not held) or the check (held), with its deadline. */
static void send_query(struct store_lock *l)
{
    PGconn *pg = l->link.pg;
    const char *params[1] = { l->key };
    bool sent = l->held ? PQsendQueryParams(pg, LOCK_CHECK_SQL, 0, NULL, NULL, NULL, NULL, 0)
                        : PQsendQueryParams(pg, LOCK_TRY_SQL, 1, NULL, params, NULL, NULL, 0);
    int r;

    if (!sent || (r = PQflush(pg)) < 0) {
        lock_lost(l, "send");
        return;
    }
    l->state = LK_QUERY;
    l->query_failed = false;
    l->query_true = false;
    store_link_timer(&l->link, l->query_timeout_ms);
    if (!store_link_watch(&l->link, r == 1 ? (EV_READ | EV_WRITE) : EV_READ))
        lock_lost(l, "cannot watch the socket");
}

static void connect_step(struct store_lock *l)
{
    switch (store_link_poll(&l->link)) {
    case STORE_LINK_WAIT:
        return;
    case STORE_LINK_OK:
        send_query(l);
        return;
    case STORE_LINK_FAILED:
    default:
        lock_lost(l, "connect");
        return;
    }
}

/* The query's results are complete: take the lock, or go on holding it. */
static void query_done(struct store_lock *l)
{
    if (l->query_failed) {
        lock_lost(l, "query refused");
        return;
    }
    l->state = LK_IDLE;
    store_link_works(&l->link);
    store_link_timer(&l->link, l->retry_ms);
    if (!l->held && l->query_true) {
        l->held = true;
        log_info("module=store event=lock_taken lock=%s", l->name);
        l->cb(l->arg, true);
    }
}

static void read_step(struct store_lock *l, short what)
{
    PGconn *pg = l->link.pg;

    if (what & EV_WRITE) {
        int r = PQflush(pg);
        if (r < 0) {
            lock_lost(l, "send");
            return;
        }
        if (r == 0 && !store_link_watch(&l->link, EV_READ)) {
            lock_lost(l, "cannot watch the socket");
            return;
        }
    }
    if (!(what & EV_READ))
        return;
    if (!PQconsumeInput(pg)) {
        lock_lost(l, "receive");
        return;
    }
    while (l->state == LK_QUERY && !PQisBusy(pg)) {
        PGresult *res = PQgetResult(pg);
        if (res == NULL) {
            query_done(l);
            break;
        }
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
            l->query_failed = true;
        else
            l->query_true = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
    }
    if (l->state != LK_DOWN && PQstatus(pg) == CONNECTION_BAD)
        lock_lost(l, "connection closed");
}

static void lock_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store_lock *l = arg;

    (void)fd;
    switch (l->state) {
    case LK_CONNECTING:
        connect_step(l);
        return;
    case LK_IDLE:
    case LK_QUERY:
        read_step(l, what);
        return;
    case LK_DOWN:
    default:
        log_error("module=store event=bug reason=\"socket event on a closed lock connection\"");
        abort();
    }
}

static void lock_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store_lock *l = arg;

    (void)fd;
    (void)what;
    switch (l->state) {
    case LK_DOWN:
        lock_start(l);
        return;
    case LK_CONNECTING:
        lock_lost(l, "connect timed out");
        return;
    case LK_IDLE:
        send_query(l);
        return;
    case LK_QUERY:
        lock_lost(l, "no answer in time");
        return;
    default:
        log_error("module=store event=bug reason=\"lock timer in an unknown state\"");
        abort();
    }
}

struct store_lock *store_lock_open(struct event_base *base, const char *conninfo, int64_t key,
                                   const char *name, int retry_ms, int query_timeout_ms,
                                   int reconnect_min_ms, int reconnect_max_ms,
                                   store_lock_cb cb, void *arg)
{
    struct store_lock *l = calloc(1, sizeof *l);

    if (!l)
        return NULL;
    l->cb = cb;
    l->arg = arg;
    l->retry_ms = retry_ms > 0 ? retry_ms : STORE_DEFAULT_RECONNECT_MIN;
    l->query_timeout_ms = query_timeout_ms > 0 ? query_timeout_ms : STORE_DEFAULT_QUERY_TIMEOUT;
    l->state = LK_DOWN;
    snprintf(l->key, sizeof l->key, "%" PRId64, key);
    l->conninfo = strdup(conninfo);
    l->name = strdup(name);
    if (!store_link_init(&l->link, base, reconnect_min_ms, reconnect_max_ms, lock_io_cb,
                         lock_timer_cb, l) ||
        !l->conninfo || !l->name) {
        store_lock_free(l);
        return NULL;
    }
    lock_start(l);
    return l;
}

bool store_lock_held(const struct store_lock *l)
{
    return l && l->held;
}

void store_lock_free(struct store_lock *l)
{
    if (!l)
        return;
    store_link_free(&l->link);
    free(l->conninfo);
    free(l->name);
    free(l);
}
