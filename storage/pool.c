/*
 * pool: the store's PostgreSQL connections inside the libevent loop.
 *
 * Each connection is a small state machine (see enum conn_state); every
 * change of state goes through conn_enter().  A connection is opened with
 * PQconnectStart/PQconnectPoll, watching whatever PQsocket says after each
 * step, then set non-blocking and its statements are prepared.  A query is
 * sent with PQsendQueryPrepared, flushed until PQflush says 0 (watching for
 * writability while it says 1), and read with PQconsumeInput, PQisBusy and
 * PQgetResult until the latter returns NULL.
 *
 * A connection that breaks, or whose query stays outstanding longer than
 * query_timeout_ms, is closed: its ops are answered UNAVAILABLE (for a
 * batch the outcome of its COMMIT is unknown, and the client's retry with the
 * same client_report_id is safe), and it reconnects after a backoff that
 * doubles from reconnect_min_ms up to reconnect_max_ms.
 *
 * libpq resolves a host name inside PQconnectStart/PQconnectPoll, which
 * blocks; the conninfo should name a Unix socket directory or give hostaddr=
 * so that connecting never waits on DNS.
 */
#include "clock.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* Room for this many ops per connection at first; a batch grows it. */
#define POOL_OPS_MIN_CAP 16

static const char *const state_names[] = {
    [CONN_DOWN] = "down",
    [CONN_CONNECTING] = "connecting",
    [CONN_SETUP] = "setup",
    [CONN_IDLE] = "idle",
    [CONN_BUSY] = "busy",
};

static void conn_io_cb(evutil_socket_t fd, short what, void *arg);

static bool state_is_up(enum conn_state s)
{
    return s == CONN_IDLE || s == CONN_BUSY;
}

/* The one place a connection changes state, so the store's counters of up
 * and busy connections cannot drift. */
static void conn_enter(struct store_conn *c, enum conn_state to)
{
    struct store *st = c->st;

    if (state_is_up(c->state))
        st->n_up--;
    if (c->state == CONN_BUSY)
        st->n_busy--;
    c->state = to;
    if (state_is_up(to))
        st->n_up++;
    if (to == CONN_BUSY)
        st->n_busy++;
}

static void timer_arm(struct store_conn *c, int ms)
{
    struct timeval tv = clock_tv_ms(ms);

    evtimer_add(c->ev_timer, &tv);
}

/*
 * Watches the connection's socket for `what` (EV_READ and/or EV_WRITE, or 0
 * for nothing).  With `fresh` the event is made anew even when nothing seems
 * to change: while connecting, libpq may close a socket and open another
 * that gets the same number, and the old registration would be stale.
 */
static bool conn_watch(struct store_conn *c, short what, bool fresh)
{
    evutil_socket_t fd = c->pg ? PQsocket(c->pg) : -1;

    if (c->ev_io && (fresh || fd != c->io_fd || what != c->io_what)) {
        event_free(c->ev_io);
        c->ev_io = NULL;
    }
    c->io_fd = fd;
    c->io_what = what;
    if (!what || c->ev_io)
        return true;
    if (fd < 0)
        return false;
    c->ev_io = event_new(c->st->base, fd, (short)(what | EV_PERSIST), conn_io_cb, c);
    if (!c->ev_io || event_add(c->ev_io, NULL) != 0)
        return false;
    return true;
}

static void conn_clear_query(struct store_conn *c)
{
    if (c->res) {
        PQclear(c->res);
        c->res = NULL;
    }
    c->done = NULL;
    c->n_ops = 0;
    c->n_rows = 0;
    c->failed = false;
    c->sqlstate[0] = '\0';
    c->errmsg[0] = '\0';
}

/*
 * Closes the connection for `reason`, answers its ops UNAVAILABLE and
 * schedules the reconnect.  The single way out of every failure.
 */
static void conn_lost(struct store_conn *c, const char *reason)
{
    struct store *st = c->st;
    size_t i;

    /* While the database stays down, only the first failed attempt of each
     * connection is worth a line; the retries say nothing new. */
    if (c->state != CONN_DOWN || c->backoff_ms == st->cfg.reconnect_min_ms)
        log_warnx("module=store event=db_conn_lost conn=%d state=%s retry_ms=%d reason=\"%s\"",
                  c->idx, state_names[c->state], c->backoff_ms, reason);
    for (i = 0; i < c->n_ops; i++)
        store_op_fail(st, c->ops[i], MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL,
                      "the database connection was lost; retry with the same ids",
                      "数据库连接中断，请用相同的编号重试");
    conn_clear_query(c);
    conn_watch(c, 0, false);
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    conn_enter(c, CONN_DOWN);
    timer_arm(c, c->backoff_ms);
    c->backoff_ms = c->backoff_ms > st->cfg.reconnect_max_ms / 2
                        ? st->cfg.reconnect_max_ms : c->backoff_ms * 2;
    store_fail_if_unreachable(st);
    store_kick(st);
}

/* The libpq error text on one line, for a log line.  libpq appends to its
 * message buffer, so when the text is long its end is the newest part. */
static void conn_error_text(struct store_conn *c, char *buf, size_t len)
{
    const char *m = c->pg ? PQerrorMessage(c->pg) : "out of memory";
    size_t n = strlen(m), i, o = 0;
    bool space = true;

    if (n >= len)
        m += n - (len - 1);
    for (i = 0; m[i] && o + 1 < len; i++) {
        char ch = m[i];
        if (ch == '\n' || ch == '\t' || ch == '\r' || ch == ' ') {
            if (!space)
                buf[o++] = ' ';
            space = true;
            continue;
        }
        buf[o++] = ch == '"' ? '\'' : ch;
        space = false;
    }
    while (o > 0 && buf[o - 1] == ' ')
        o--;
    buf[o] = '\0';
}

static void conn_lost_pq(struct store_conn *c, const char *what)
{
    char msg[256], reason[320];

    conn_error_text(c, msg, sizeof msg);
    snprintf(reason, sizeof reason, "%s: %s", what, msg);
    conn_lost(c, reason);
}

void pool_start(struct store_conn *c)
{
    struct store *st = c->st;

    c->pg = PQconnectStart(st->conninfo);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD || PQsocket(c->pg) < 0) {
        conn_lost_pq(c, "connect");
        return;
    }
    PQsetNoticeProcessor(c->pg, store_pq_quiet, NULL);
    conn_enter(c, CONN_CONNECTING);
    timer_arm(c, st->cfg.query_timeout_ms);
    /* Before the first PQconnectPoll, libpq wants the socket writable. */
    if (!conn_watch(c, EV_WRITE, true))
        conn_lost(c, "cannot watch the socket");
}

/* Sends whatever libpq still buffers and watches for writability while
 * there is more. */
static bool conn_flush(struct store_conn *c)
{
    int r = PQflush(c->pg);

    if (r < 0) {
        conn_lost_pq(c, "send");
        return false;
    }
    if (!conn_watch(c, r == 1 ? (EV_READ | EV_WRITE) : EV_READ, false)) {
        conn_lost(c, "cannot watch the socket");
        return false;
    }
    return true;
}

static void connect_step(struct store_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        if (!conn_watch(c, EV_READ, true))
            conn_lost(c, "cannot watch the socket");
        return;
    case PGRES_POLLING_WRITING:
        if (!conn_watch(c, EV_WRITE, true))
            conn_lost(c, "cannot watch the socket");
        return;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->pg, 1) != 0) {
            conn_lost_pq(c, "set non-blocking");
            return;
        }
        conn_enter(c, CONN_SETUP);
        if (!PQsendQuery(c->pg, store_prepare_sql)) {
            conn_lost_pq(c, "prepare");
            return;
        }
        if (!conn_watch(c, 0, true))
            return;
        conn_flush(c);
        return;
    case PGRES_POLLING_FAILED:
    default:
        conn_lost_pq(c, "connect");
        return;
    }
}

static void collect_result(struct store_conn *c, PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    const char *f;

    if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
        if (!c->res && s == PGRES_TUPLES_OK) {
            c->res = res;
            return;
        }
        PQclear(res);
        return;
    }
    /* Keep the first error: later ones are usually its consequences. */
    if (!c->failed) {
        c->failed = true;
        f = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(c->sqlstate, sizeof c->sqlstate, "%s", f ? f : "");
        f = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        snprintf(c->errmsg, sizeof c->errmsg, "%s", f ? f : PQresStatus(s));
    }
    PQclear(res);
}

/* All results of the outstanding query are in. */
static void query_done(struct store_conn *c)
{
    struct store *st = c->st;
    char reason[300];
    pool_done_fn done;

    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_lost_pq(c, "receive");
        return;
    }
    evtimer_del(c->ev_timer);
    if (c->state == CONN_SETUP) {
        if (c->failed) {
            snprintf(reason, sizeof reason, "preparing statements failed: %s", c->errmsg);
            conn_clear_query(c);
            conn_lost(c, reason);
            return;
        }
        conn_clear_query(c);
        conn_enter(c, CONN_IDLE);
        c->backoff_ms = st->cfg.reconnect_min_ms;
        log_info("module=store event=db_conn_up conn=%d", c->idx);
        store_kick(st);
        return;
    }
    if (c->failed && pool_sqlstate_moved(c->sqlstate)) {
        /* This server no longer takes writes (a primary demoted, or one
         * shutting down): connecting again finds the new primary through
         * target_session_attrs=read-write, and the ops are answered
         * UNAVAILABLE, so their clients retry there. */
        snprintf(reason, sizeof reason, "the server cannot take writes: %s (%s)", c->errmsg,
                 c->sqlstate);
        conn_lost(c, reason);
        return;
    }
    conn_enter(c, CONN_IDLE);
    done = c->done;
    c->done = NULL;
    if (!done) {
        log_error("module=store event=bug conn=%d reason=\"results of a query sent without a completion\"",
                  c->idx);
        abort();
    }
    done(c);
    conn_clear_query(c);
    store_kick_now(st);
}

/* Reads what has arrived and takes every complete result. */
static void conn_read(struct store_conn *c)
{
    PGresult *res;

    if (!PQconsumeInput(c->pg)) {
        conn_lost_pq(c, "receive");
        return;
    }
    if (c->state == CONN_IDLE) {
        /* Nothing is outstanding: this is a notice, or the server telling
         * us it is going away before it closes the socket. */
        while (!PQisBusy(c->pg) && (res = PQgetResult(c->pg)) != NULL)
            PQclear(res);
        if (PQstatus(c->pg) == CONNECTION_BAD)
            conn_lost_pq(c, "idle");
        return;
    }
    while (!PQisBusy(c->pg)) {
        res = PQgetResult(c->pg);
        if (!res) {
            query_done(c);
            return;
        }
        collect_result(c, res);
    }
}

static void conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store_conn *c = arg;

    (void)fd;
    switch (c->state) {
    case CONN_CONNECTING:
        connect_step(c);
        return;
    case CONN_SETUP:
    case CONN_BUSY:
    case CONN_IDLE:
        if ((what & EV_WRITE) || (c->io_what & EV_WRITE)) {
            if (!conn_flush(c))
                return;
        }
        if (what & EV_READ)
            conn_read(c);
        return;
    case CONN_DOWN:
    default:
        log_error("module=store event=bug conn=%d state=%d reason=\"socket event on a closed connection\"",
                  c->idx, (int)c->state);
        abort();
    }
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store_conn *c = arg;
    char reason[64];

    (void)fd;
    (void)what;
    switch (c->state) {
    case CONN_DOWN:
        pool_start(c);
        return;
    case CONN_CONNECTING:
    case CONN_SETUP:
        conn_lost(c, "connect timed out");
        return;
    case CONN_BUSY:
        /* The query's state on the server is unknown, so the connection
         * cannot be used again. */
        snprintf(reason, sizeof reason, "query timed out after %d ms", c->st->cfg.query_timeout_ms);
        conn_lost(c, reason);
        return;
    case CONN_IDLE:
    default:
        return;
    }
}

bool pool_conn_init(struct store_conn *c, struct store *st, int idx)
{
    c->st = st;
    c->idx = idx;
    c->state = CONN_DOWN;
    c->io_fd = -1;
    c->backoff_ms = st->cfg.reconnect_min_ms;
    c->ev_timer = evtimer_new(st->base, conn_timer_cb, c);
    return c->ev_timer != NULL && batch_init_buffers(c);
}

bool pool_conn_add_op(struct store_conn *c, struct store_op *op)
{
    if (c->n_ops == c->cap_ops) {
        size_t cap = c->cap_ops ? c->cap_ops * 2 : POOL_OPS_MIN_CAP;
        struct store_op **p = realloc(c->ops, cap * sizeof *p);
        if (!p)
            return false;
        c->ops = p;
        c->cap_ops = cap;
    }
    c->ops[c->n_ops++] = op;
    return true;
}

void pool_send(struct store_conn *c, const char *stmt, int nparams,
               const char *const *values, const int *lengths, const int *formats,
               pool_done_fn done)
{
    if (c->state != CONN_IDLE) {
        log_error("module=store event=bug conn=%d state=%s reason=\"send on a connection that is not idle\"",
                  c->idx, state_names[c->state]);
        abort();
    }
    conn_enter(c, CONN_BUSY);
    c->done = done;
    timer_arm(c, c->st->cfg.query_timeout_ms);
    if (!PQsendQueryPrepared(c->pg, stmt, nparams, values, lengths, formats, 0)) {
        conn_lost_pq(c, "send");
        return;
    }
    conn_flush(c);
}

bool pool_sqlstate_transient(const char *sqlstate)
{
    /* 08 connection exception, 40 transaction rollback (serialization
     * failure, deadlock), 53 insufficient resources, 57 operator
     * intervention (cancel, shutdown), 58 system error. */
    static const char *const classes[] = { "08", "40", "53", "57", "58" };
    size_t i;

    if (!sqlstate || strlen(sqlstate) < 2)
        return false;
    for (i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strncmp(sqlstate, classes[i], 2) == 0)
            return true;
    return false;
}

bool pool_sqlstate_moved(const char *sqlstate)
{
    /* 25006 read-only transaction (a standby, or a primary Patroni
     * demoted), 57P01-57P03 the server is shutting down or starting, and
     * class 08, the connection itself. */
    static const char *const states[] = { "25006", "57P01", "57P02", "57P03" };
    size_t i;

    if (!sqlstate)
        return false;
    if (strncmp(sqlstate, "08", 2) == 0)
        return true;
    for (i = 0; i < sizeof states / sizeof states[0]; i++)
        if (strcmp(sqlstate, states[i]) == 0)
            return true;
    return false;
}

void pool_close(struct store_conn *c)
{
    conn_clear_query(c);
    if (c->ev_io) {
        event_free(c->ev_io);
        c->ev_io = NULL;
    }
    if (c->ev_timer) {
        event_free(c->ev_timer);
        c->ev_timer = NULL;
    }
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    conn_enter(c, CONN_DOWN);
    batch_free_buffers(c);
    free(c->ops);
    c->ops = NULL;
    c->n_ops = c->cap_ops = 0;
}

void store_pq_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}
