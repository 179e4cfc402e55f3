/*
 * gauges: what the metrics page reads from the database, and the health
 * check's round trip.  Both are ordinary operations of the pool, so a
 * scrape never blocks the loop and waits its turn like any query.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows kept from one gauges query; more (thousands of destinations or
 * peers) would make a page no one reads. */
#define GAUGES_ROWS_MAX 1000

static void gauges_send(struct store_conn *c, struct store_op *op);

static void gauges_op(struct store *st, const char *stmt, store_gauges_cb cb, void *arg)
{
    struct store_op *op = store_op_new(OP_GAUGES, gauges_send, arg);

    op->gauges_cb = cb;
    op->stmt = stmt;
    store_op_enqueue(st, op);
}

void store_gauges(struct store *st, store_gauges_cb cb, void *arg)
{
    gauges_op(st, STMT_GAUGES, cb, arg);
}

void store_ping(struct store *st, store_gauges_cb cb, void *arg)
{
    gauges_op(st, STMT_PING, cb, arg);
}

/* The rows of a gauges query (none for a ping) into the op's answer. */
static void gauges_done(struct store_conn *c)
{
    struct store *st = c->st;
    struct store_op *op = query_take(c);
    const PGresult *res = c->res;
    int n;

    if (!op)
        return;
    n = PQntuples(res);
    if (strcmp(op->stmt, STMT_GAUGES) == 0 && n > 0) {
        if (n > GAUGES_ROWS_MAX)
            n = GAUGES_ROWS_MAX;
        op->gauges = calloc((size_t)n, sizeof *op->gauges);
        if (op->gauges == NULL) {
            store_op_fail(st, op, MINYI__V1__ERROR_CODE__UNAVAILABLE, NULL,
                          "out of memory; retry later", "内存不足，请稍后重试");
            return;
        }
        for (int t = 0; t < n; t++) {
            struct store_gauge *g = &op->gauges[t];
            snprintf(g->name, sizeof g->name, "%s", PQgetvalue(res, t, 0));
            snprintf(g->label1, sizeof g->label1, "%s", PQgetvalue(res, t, 1));
            snprintf(g->label2, sizeof g->label2, "%s", PQgetvalue(res, t, 2));
            g->value = strtod(PQgetvalue(res, t, 3), NULL);
        }
        op->n_gauges = (size_t)n;
    }
    op->reply.code = 0;
    store_op_done(st, op);
}

static void gauges_send(struct store_conn *c, struct store_op *op)
{
    pool_send(c, op->stmt, 0, NULL, NULL, NULL, gauges_done);
}
