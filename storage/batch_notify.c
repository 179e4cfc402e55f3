/*
 * batch_notify: the 'new' notifications of the reports intake batches
 * stored (batch.c).
 *
 * Once a batch has committed, the receipts it stored go to
 * minyi_notify_received() as an operation of their own (OP_NOTIFY), which
 * tells listening gateways about the new reports.  Sending the NOTIFY from
 * inside the batch would serialise the commits of concurrent batches (see
 * storage/migrations/0003_intake_fast.sql).  The receipts of the batches
 * that commit within STORE_NOTIFY_GATHER_MS go out together in one call,
 * and one call is outstanding at a time.
 */
#include "clock.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* Longest text of an int64 with its separator. */
#define INT64_TEXT_MAX 24

static void notify_send(struct store *st);

/* Sends the gathered notifications STORE_NOTIFY_GATHER_MS after the first
 * of them, unless a call is outstanding: then its answer arms the timer. */
static void notify_schedule(struct store *st)
{
    struct timeval tv = clock_tv_ms(STORE_NOTIFY_GATHER_MS);

    if (st->notify_busy || st->notify_n == 0 || evtimer_pending(st->ev_notify, NULL))
        return;
    evtimer_add(st->ev_notify, &tv);
}

/* Nobody waits for the answer of a notification: it is a hint to editors
 * and the reports are stored whether or not it is sent. */
static void notify_done(void *arg, struct store_reply *rep)
{
    struct store *st = arg;

    (void)rep;
    st->notify_busy = false;
    notify_schedule(st);
}

void batch_notify_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    notify_send(arg);
}

/* The notification's call is done; its op is answered (an error too) and
 * notify_done learns of it. */
static void notify_op_done(struct store_conn *c)
{
    struct store_op *op = query_take(c);

    if (op)
        query_answer(c->st, op, NULL, true);
}

static void notify_op_send(struct store_conn *c, struct store_op *op)
{
    const char *values[3] = { op->params[0], op->params[1], op->params[2] };

    pool_send(c, STMT_NOTIFY, 3, values, NULL, NULL, notify_op_done);
}

/* Sends the gathered notifications as one call of minyi_notify_received().
 * Each call is a transaction of its own, and one per batch cost as much
 * database time as the batch's own work when batches are small; gathered
 * for a few milliseconds, one call carries the reports of many batches. */
static void notify_send(struct store *st)
{
    struct store_op *op;
    size_t k;

    if (st->notify_busy || st->notify_n == 0)
        return;
    op = store_op_new(OP_NOTIFY, notify_op_send, st);
    op->reply_cb = notify_done;
    for (k = 0; k < 3; k++) {
        struct pgbuf *b = &st->notify_lit[k];
        char *lit = malloc(b->len + 3);
        if (!lit) {
            log_warnx("module=store event=notify_dropped reason=out_of_memory rows=%zu", st->notify_n);
            break;
        }
        lit[0] = '{';
        memcpy(lit + 1, b->data, b->len);
        lit[b->len + 1] = '}';
        lit[b->len + 2] = '\0';
        op->params[k] = lit;
    }
    for (k = 0; k < 3; k++)
        st->notify_lit[k].len = 0;
    st->notify_n = 0;
    if (!op->params[0] || !op->params[1] || !op->params[2]) {
        /* Its callback is not run: nothing was sent. */
        for (k = 0; k < 3; k++)
            free(op->params[k]);
        free(op);
        return;
    }
    op->nparams = 3;
    st->notify_busy = true;
    store_op_enqueue(st, op);
}

/* Appends an element to a literal being gathered, after a comma unless it
 * is the first. */
static bool lit_add(struct pgbuf *b, bool first, const char *text, size_t len)
{
    if (!pgbuf_reserve(b, len + 1))
        return false;
    if (!first)
        b->data[b->len++] = ',';
    memcpy(b->data + b->len, text, len);
    b->len += len;
    return true;
}

/* Receipts are digits and dashes (made by minyi_submit_batch, and checked
 * by the caller), so they need no quoting in the literals; a failure here
 * costs only the hint, so it is logged and dropped. */
void batch_notify_inserted(struct store *st, const struct batch_fresh_row *rows, size_t n)
{
    size_t i, dropped = 0;

    for (i = 0; i < n; i++) {
        char at[INT64_TEXT_MAX], pr[INT64_TEXT_MAX];
        int at_len = snprintf(at, sizeof at, "%lld", (long long)rows[i].at_ms);
        int pr_len = snprintf(pr, sizeof pr, "%lld", (long long)rows[i].principal_id);
        size_t mark[3];
        size_t k;

        if (st->notify_n >= STORE_NOTIFY_PENDING_MAX) {
            dropped = n - i;
            break;
        }
        for (k = 0; k < 3; k++)
            mark[k] = st->notify_lit[k].len;
        if (!lit_add(&st->notify_lit[0], st->notify_n == 0, rows[i].receipt,
                     strlen(rows[i].receipt)) ||
            !lit_add(&st->notify_lit[1], st->notify_n == 0, at, (size_t)at_len) ||
            !lit_add(&st->notify_lit[2], st->notify_n == 0, pr, (size_t)pr_len)) {
            for (k = 0; k < 3; k++)
                st->notify_lit[k].len = mark[k];
            dropped = n - i;
            break;
        }
        st->notify_n++;
    }
    if (dropped)
        log_warnx("module=store event=notify_dropped reason=%s rows=%zu",
                  st->notify_n >= STORE_NOTIFY_PENDING_MAX ? "too_many_pending" : "out_of_memory",
                  dropped);
    notify_schedule(st);
}

void batch_notify_free(struct store *st)
{
    size_t k;

    for (k = 0; k < 3; k++)
        pgbuf_free(&st->notify_lit[k]);
    st->notify_n = 0;
}
