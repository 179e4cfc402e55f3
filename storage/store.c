/*
 * store: the public face of the store.  Each call becomes a store_op that
 * waits in a queue (submissions in their own, bounded one, so the batcher
 * can take many at once) until a connection is idle.  Every answer goes
 * through the done queue and is delivered on a later loop pass, so a caller
 * is never called back from inside its own call, and no callback runs while
 * a connection is half-way through a state change.
 */
#include "store_int.h"
#include "pii.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

void store_op_queue_push(struct op_queue *q, struct store_op *op)
{
    op->next = NULL;
    if (q->tail)
        q->tail->next = op;
    else
        q->head = op;
    q->tail = op;
    q->n++;
}

void store_op_queue_push_front(struct op_queue *q, struct store_op *op)
{
    op->next = q->head;
    q->head = op;
    if (!q->tail)
        q->tail = op;
    q->n++;
}

struct store_op *store_op_queue_pop(struct op_queue *q)
{
    struct store_op *op = q->head;

    if (!op)
        return NULL;
    q->head = op->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    op->next = NULL;
    return op;
}

static void op_free(struct store_op *op)
{
    triage_free_params(op);
    if (op->report) {
        intake_report_free(op->report);
        free(op->report);
    }
    if (op->reply.msg)
        protobuf_c_message_free_unpacked(op->reply.msg, NULL);
    free(op->gauges);
    free(op);
}

static void queue_free(struct op_queue *q)
{
    struct store_op *op;

    while ((op = store_op_queue_pop(q)) != NULL)
        op_free(op);
}

void store_op_done(struct store *st, struct store_op *op)
{
    /* The report is not needed any more; free it now rather than hold
     * its text until the callback runs. */
    if (op->report) {
        intake_report_free(op->report);
        free(op->report);
        op->report = NULL;
    }
    triage_free_params(op);
    store_op_queue_push(&st->doneq, op);
    event_active(st->ev_done, EV_TIMEOUT, 0);
}

void store_op_fail(struct store *st, struct store_op *op, int code, const char *field,
                   const char *msg, const char *msg_zh)
{
    op->reply.code = code;
    op->reply.field = field;
    snprintf(op->reply.message, sizeof op->reply.message, "%s", msg);
    snprintf(op->reply.message_zh, sizeof op->reply.message_zh, "%s", msg_zh);
    if (op->reply.msg) {
        protobuf_c_message_free_unpacked(op->reply.msg, NULL);
        op->reply.msg = NULL;
    }
    store_op_done(st, op);
}

static bool store_unreachable(const struct store *st)
{
    int i;

    for (i = 0; i < st->n_conns; i++)
        if (st->conns[i].state != CONN_DOWN)
            return false;
    return true;
}

static void fail_unavailable(struct store *st, struct store_op *op)
{
    store_op_fail(st, op, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL,
                  "the database is unavailable; retry with the same ids later",
                  "数据库暂不可用，请稍后用相同的编号重试");
}

void store_fail_if_unreachable(struct store *st)
{
    struct store_op *op;

    if (!store_unreachable(st))
        return;
    while ((op = store_op_queue_pop(&st->subq)) != NULL)
        fail_unavailable(st, op);
    while ((op = store_op_queue_pop(&st->opq)) != NULL)
        fail_unavailable(st, op);
    while ((op = store_op_queue_pop(&st->pubq)) != NULL)
        fail_unavailable(st, op);
}

void store_kick(struct store *st)
{
    event_active(st->ev_kick, EV_TIMEOUT, 0);
}

static void check_drained(struct store *st)
{
    if (!st->draining || st->drain_notified)
        return;
    if (st->subq.n || st->opq.n || st->pubq.n || st->doneq.n || st->n_busy)
        return;
    st->drain_notified = true;
    if (st->drain_cb)
        st->drain_cb(st->drain_arg);
}

/* Gives op, an ordinary operation, to the idle connection c. */
static void start_op(struct store_conn *c, struct store_op *op)
{
    c->kind = op->kind;
    c->public_door = op->public_door;
    c->n_ops = 0;
    if (!pool_conn_add_op(c, op)) {
        store_op_fail(c->st, op, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL,
                      "out of memory; retry later", "内存不足，请稍后重试");
        return;
    }
    if (!op->send) {
        log_error("module=store event=bug kind=%d reason=\"an op without a sender in the queue\"",
                  (int)op->kind);
        abort();
    }
    op->send(c, op);
}

/* Intake batches running now. */
static int submit_batches(const struct store *st)
{
    int i, n = 0;

    for (i = 0; i < st->n_conns; i++)
        if (st->conns[i].state == CONN_BUSY && st->conns[i].kind == OP_SUBMIT)
            n++;
    return n;
}

/* Connections running an operation of the public door now. */
static int public_busy(const struct store *st)
{
    int i, n = 0;

    for (i = 0; i < st->n_conns; i++)
        if (st->conns[i].state == CONN_BUSY && st->conns[i].kind != OP_SUBMIT &&
            st->conns[i].public_door)
            n++;
    return n;
}

/* Gives queued work to idle connections: other operations first (they are
 * small and someone is waiting for each), then batches of submissions on
 * all but STORE_CONNS_KEPT_FOR_QUERIES connections, and STORE_BATCHES_MAX
 * at most.  When no batch runs, a submission goes out at once; while one
 * runs, another starts only for STORE_BATCH_GATHER waiting submissions, and
 * otherwise they gather for the next batch, which a finished one kicks.
 * Each batch costs the database a transaction and a function call however
 * few rows it carries, so a steady moderate load sent as many tiny
 * concurrent batches spent the CPU on that, and the queue behind it grew.
 * Last, the public door's operations take a connection that is still
 * idle, STORE_PUBLIC_CONNS_MAX at most at once. */
static void start_work(struct store *st)
{
    int i, batches = submit_batches(st), public = public_busy(st);
    int batches_max = st->n_conns > STORE_CONNS_KEPT_FOR_QUERIES
                          ? st->n_conns - STORE_CONNS_KEPT_FOR_QUERIES : 1;

    if (batches_max > STORE_BATCHES_MAX)
        batches_max = STORE_BATCHES_MAX;
    for (i = 0; i < st->n_conns; i++) {
        struct store_conn *c = &st->conns[i];
        while (c->state == CONN_IDLE &&
               (st->opq.n || (st->subq.n && batches < batches_max &&
                              (batches == 0 || st->subq.n >= STORE_BATCH_GATHER)))) {
            if (st->opq.n) {
                start_op(c, store_op_queue_pop(&st->opq));
            } else {
                batch_start(c);
                if (c->state == CONN_BUSY)
                    batches++;
            }
        }
        if (c->state == CONN_IDLE && st->pubq.n && public < STORE_PUBLIC_CONNS_MAX) {
            start_op(c, store_op_queue_pop(&st->pubq));
            if (c->state == CONN_BUSY)
                public++;
        }
    }
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store *st = arg;

    (void)fd;
    (void)what;
    start_work(st);
    check_drained(st);
}

/* A connection has just become idle: its next query goes out now, before
 * the answers of the one it finished are written to their clients (they
 * wait in the done queue), so the database is not idle meanwhile.  The
 * kick still runs, for check_drained. */
void store_kick_now(struct store *st)
{
    start_work(st);
    store_kick(st);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store *st = arg;
    struct op_queue q = st->doneq;
    struct store_op *op;

    (void)fd;
    (void)what;
    /* Take the whole list first: a callback may start new work that ends
     * up in the done queue, and that waits for the next pass. */
    memset(&st->doneq, 0, sizeof st->doneq);
    while ((op = store_op_queue_pop(&q)) != NULL) {
        struct store_reply *rep = &op->reply;
        if (op->kind == OP_PRINCIPAL) {
            op->principal_cb(op->arg, rep->code, rep->code == 0 ? &op->principal : NULL);
        } else if (op->kind == OP_GAUGES) {
            op->gauges_cb(op->arg, rep->code, op->gauges, rep->code == 0 ? op->n_gauges : 0);
        } else {
            op->reply_cb(op->arg, rep);
            /* The receiver owns msg from here on. */
            rep->msg = NULL;
        }
        op_free(op);
    }
    check_drained(st);
}

/* A new op: refused at once (on the next loop pass) when the store is
 * draining, no connection is up or coming up, or its queue is full. */
static void enqueue(struct store *st, struct op_queue *q, struct store_op *op)
{
    if (st->draining) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL,
                      "the gateway is shutting down; retry with the same ids later",
                      "网关正在关闭，请稍后用相同的编号重试");
        return;
    }
    if (store_unreachable(st)) {
        fail_unavailable(st, op);
        return;
    }
    if (q->n >= (size_t)st->cfg.queue_max) {
        char msg[160];
        snprintf(msg, sizeof msg, "too many requests are waiting for the database; retry after %d ms",
                 STORE_RETRY_AFTER_MS);
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, NULL, msg,
                      "等待写入数据库的请求过多，请稍后重试");
        return;
    }
    store_op_queue_push(q, op);
    store_kick(st);
}

static struct store_op *op_new(enum op_kind kind, store_send_fn send, void *arg)
{
    struct store_op *op = calloc(1, sizeof *op);

    if (!op) {
        /* Without the op there is no way to answer the caller, and the
         * callback contract says every call is answered. */
        log_error("module=store event=out_of_memory where=store_op");
        abort();
    }
    op->kind = kind;
    op->send = send;
    op->arg = arg;
    op->row = -1;
    return op;
}

struct store_op *store_op_new(enum op_kind kind, store_send_fn send, void *arg)
{
    return op_new(kind, send, arg);
}

void store_op_enqueue(struct store *st, struct store_op *op)
{
    enqueue(st, &st->opq, op);
}

void store_op_enqueue_public(struct store *st, struct store_op *op)
{
    op->public_door = true;
    enqueue(st, &st->pubq, op);
}

static int default_int(int v, int def)
{
    return v > 0 ? v : def;
}

struct store *store_open(struct event_base *base, const struct store_config *cfg)
{
    struct store *st = NULL;
    int i;

    if (!base || !cfg || !cfg->conninfo || !cfg->body_region || strlen(cfg->body_region) != 6 ||
        !cfg->pii_key)
        return NULL;
    st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->base = base;
    st->cfg = *cfg;
    st->cfg.pool_size = default_int(cfg->pool_size, STORE_DEFAULT_POOL_SIZE);
    if (st->cfg.pool_size > STORE_POOL_MAX)
        st->cfg.pool_size = STORE_POOL_MAX;
    st->cfg.batch_max = default_int(cfg->batch_max, STORE_DEFAULT_BATCH_MAX);
    if (st->cfg.batch_max > STORE_BATCH_LIMIT)
        st->cfg.batch_max = STORE_BATCH_LIMIT;
    st->cfg.queue_max = default_int(cfg->queue_max, STORE_DEFAULT_QUEUE_MAX);
    st->cfg.reconnect_min_ms = default_int(cfg->reconnect_min_ms, STORE_DEFAULT_RECONNECT_MIN);
    st->cfg.reconnect_max_ms = default_int(cfg->reconnect_max_ms, STORE_DEFAULT_RECONNECT_MAX);
    if (st->cfg.reconnect_max_ms < st->cfg.reconnect_min_ms)
        st->cfg.reconnect_max_ms = st->cfg.reconnect_min_ms;
    st->cfg.query_timeout_ms = default_int(cfg->query_timeout_ms, STORE_DEFAULT_QUERY_TIMEOUT);
    st->conninfo = strdup(cfg->conninfo);
    if (!st->conninfo)
        goto fail;
    st->cfg.conninfo = st->conninfo;
    memcpy(st->body_region, cfg->body_region, 7);
    st->cfg.body_region = st->body_region;
    if (cfg->pii_key_version <= 0 ||
        !pii_keyring_build(&st->keyring, cfg->pii_key, (uint32_t)cfg->pii_key_version,
                           cfg->pii_old_keys))
        goto fail;
    st->cfg.pii_key = pii_keyring_key(&st->keyring, st->keyring.current);
    st->cfg.pii_old_keys = NULL;
    st->sealer = pii_sealer_new(st->cfg.pii_key, st->keyring.current);
    st->dek_sealer = pii_dek_sealer_new();
    if (!st->sealer || !st->dek_sealer)
        goto fail;
    st->ev_done = event_new(base, -1, 0, done_cb, st);
    st->ev_kick = event_new(base, -1, 0, kick_cb, st);
    st->ev_notify = evtimer_new(base, batch_notify_timer_cb, st);
    if (!st->ev_done || !st->ev_kick || !st->ev_notify)
        goto fail;
    st->conns = calloc((size_t)st->cfg.pool_size, sizeof *st->conns);
    if (!st->conns)
        goto fail;
    for (i = 0; i < st->cfg.pool_size; i++) {
        if (!pool_conn_init(&st->conns[i], st, i))
            goto fail;
        st->n_conns = i + 1;
    }
    for (i = 0; i < st->n_conns; i++)
        pool_start(&st->conns[i]);
    return st;
fail:
    store_free(st);
    return NULL;
}

bool store_healthy(const struct store *st)
{
    return st && st->n_up > 0;
}

void store_principal_lookup(struct store *st, const uint8_t fingerprint[32],
                            store_principal_cb cb, void *arg)
{
    struct store_op *op = op_new(OP_PRINCIPAL, query_send_principal, arg);

    op->principal_cb = cb;
    memcpy(op->fingerprint, fingerprint, 32);
    enqueue(st, &st->opq, op);
}

void store_submit(struct store *st, struct intake_report *r, store_reply_cb cb, void *arg)
{
    struct store_op *op = op_new(OP_SUBMIT, NULL, arg);

    op->reply_cb = cb;
    op->report = r;
    enqueue(st, &st->subq, op);
}

/* A receipt is digits, letters and dashes; anything else cannot name a
 * report, so it is answered without asking the database (which would also
 * refuse bytes that are not valid UTF-8 with an error, not a miss). */
bool store_receipt_plausible(const char *s)
{
    size_t n = 0;

    if (!s)
        return false;
    for (; s[n]; n++) {
        char ch = s[n];
        if (n >= STORE_RECEIPT_MAX)
            return false;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              ch == '-'))
            return false;
    }
    return n > 0;
}

static void fail_not_found(struct store *st, struct store_op *op)
{
    store_op_fail(st, op, MINYI__V1__ERROR_CODE__NOT_FOUND, "status.receipt",
                  "no report with this receipt", "没有此回执对应的信息");
}

void store_status(struct store *st, int64_t principal_id, const char *receipt,
                  store_reply_cb cb, void *arg)
{
    struct store_op *op = op_new(OP_STATUS, query_send_status, arg);

    op->reply_cb = cb;
    op->principal_id = principal_id;
    if (!store_receipt_plausible(receipt)) {
        fail_not_found(st, op);
        return;
    }
    snprintf(op->receipt, sizeof op->receipt, "%s", receipt);
    enqueue(st, &st->opq, op);
}

/* The cursor is the id of the last report of the previous page, in decimal. */
static bool cursor_parse(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t i;

    if (!s || !*s) {
        *out = INT64_MAX;
        return true;
    }
    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 18)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v <= 0)
        return false;
    *out = v;
    return true;
}

void store_list_mine(struct store *st, int64_t principal_id, uint32_t limit,
                     const char *cursor, store_reply_cb cb, void *arg)
{
    struct store_op *op = op_new(OP_MINE, query_send_mine, arg);

    op->reply_cb = cb;
    op->principal_id = principal_id;
    op->limit = limit == 0 ? STORE_LIST_DEFAULT : limit > STORE_LIST_MAX ? STORE_LIST_MAX : limit;
    if (!cursor_parse(cursor, &op->cursor)) {
        store_op_fail(st, op, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "list_mine.cursor",
                      "the cursor is not one this server gave out", "分页游标无效");
        return;
    }
    enqueue(st, &st->opq, op);
}

void store_drain(struct store *st, void (*done)(void *arg), void *arg)
{
    st->draining = true;
    st->drain_cb = done;
    st->drain_arg = arg;
    /* Checked on the loop, so done is not called from inside this call. */
    store_kick(st);
}

void store_free(struct store *st)
{
    int i;

    if (!st)
        return;
    for (i = 0; i < st->n_conns; i++) {
        struct store_conn *c = &st->conns[i];
        size_t k;
        /* Ops still attached to a connection were never answered: a caller
         * that frees the store before draining gives up on them. */
        for (k = 0; k < c->n_ops; k++)
            op_free(c->ops[k]);
        c->n_ops = 0;
        pool_close(c);
    }
    free(st->conns);
    queue_free(&st->subq);
    queue_free(&st->opq);
    queue_free(&st->pubq);
    queue_free(&st->doneq);
    batch_notify_free(st);
    if (st->ev_done)
        event_free(st->ev_done);
    if (st->ev_kick)
        event_free(st->ev_kick);
    if (st->ev_notify)
        event_free(st->ev_notify);
    free(st->conninfo);
    pii_sealer_free(st->sealer);
    pii_sealer_free(st->dek_sealer);
    OPENSSL_cleanse(&st->keyring, sizeof st->keyring);
    free(st);
}
