/*
 * caller: whoever sent a request to the dispatchers — a protocol session
 * (session.c) or a console HTTP request (console_api.c).  An operation
 * takes the caller's principal and the decoded request frame, and answers
 * through the caller's table of functions, so the dispatchers and storage
 * below them are the same code for every door.
 *
 * Contract: every request handed to dispatch_frame is answered exactly
 * once with caller_send (an answer or an Error frame) followed by
 * caller_done, or, when the caller has gone meanwhile, only caller_done.
 * Whoever keeps a caller across a storage callback holds it
 * (caller_hold) and lets go afterwards (caller_release).
 */
#ifndef MINYI_CALLER_H
#define MINYI_CALLER_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"
#include "principal.h"

struct gw;
struct caller;

struct caller_ops {
    /* Queues the answer frame f; nothing when the caller has gone. */
    void (*send)(struct caller *c, const Frame *f);
    /* One request of c is answered (or its answer dropped). */
    void (*done)(struct caller *c);
    void (*hold)(struct caller *c);
    void (*release)(struct caller *c);
    /* Whether answers still have somewhere to go. */
    bool (*live)(const struct caller *c);
    /* Puts c on the live queue with request id; NULL for a caller that
     * cannot stay to hear events (the console streams them itself). */
    bool (*watch)(struct caller *c, uint64_t id);
};

struct caller {
    const struct caller_ops *ops;
    struct gw *gw;
    struct principal principal;
    uint64_t sid;                    /* names it in log lines */
};

static inline void caller_send(struct caller *c, const Frame *f) { c->ops->send(c, f); }
static inline void caller_done(struct caller *c) { c->ops->done(c); }
static inline void caller_hold(struct caller *c) { c->ops->hold(c); }
static inline void caller_release(struct caller *c) { c->ops->release(c); }
static inline bool caller_live(const struct caller *c) { return c->ops->live(c); }

/* Queues an Error frame for request id (counted in the metrics). */
void caller_send_error(struct caller *c, uint64_t id, int code, const char *field,
                       const char *message, const char *message_zh);

#endif
