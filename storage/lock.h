/*
 * lock: a PostgreSQL session-level advisory lock held on a connection of
 * its own, for work that must run in one gateway at a time per database
 * (the forwarder; later the audit sealer).  Several gateways on one
 * database each open one; whichever takes the lock first works, the others
 * try again every retry_ms.  The lock lives as long as its session: when
 * the holder dies, or its database goes away (a failover: advisory locks
 * are not replicated), PostgreSQL releases it and another gateway, or the
 * same one reconnected to the new primary, takes it.
 *
 * The holder checks its session every retry_ms with a round trip; a
 * session that does not answer within query_timeout_ms counts as lost.
 * Losing the connection is told at once (the callback with held false),
 * so the work stops before another gateway can have taken the lock.
 */
#ifndef MINYI_STORE_LOCK_H
#define MINYI_STORE_LOCK_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct store_lock;

/* The forwarder's lock key ("minyifwd" in ASCII), beside migrate.c's
 * "minyi" for migrations. */
#define STORE_LOCK_FORWARDER INT64_C(7883954090427184996)

/* Called with held true when the lock has been taken, with held false when
 * it is lost (the connection failed or stopped answering).  Never called
 * from inside store_lock_open or store_lock_free. */
typedef void (*store_lock_cb)(void *arg, bool held);

/* Starts connecting at once and trying for the lock key; name appears in
 * the log lines.  NULL when out of memory. */
struct store_lock *store_lock_open(struct event_base *base, const char *conninfo, int64_t key,
                                   const char *name, int retry_ms, int query_timeout_ms,
                                   int reconnect_min_ms, int reconnect_max_ms,
                                   store_lock_cb cb, void *arg)
    __attribute__((warn_unused_result));
/* True while this session holds the lock. */
bool store_lock_held(const struct store_lock *l);
/* Closes the session, which releases the lock, without calling back. */
void store_lock_free(struct store_lock *l);

#endif
