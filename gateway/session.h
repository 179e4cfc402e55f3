/*
 * session: one client connection, from TLS handshake to close.
 *
 * States, each change made through session_set_state():
 *   HANDSHAKE -> LOOKUP (certificate accepted; principal being looked up)
 *   LOOKUP    -> READY  (active principal) | DENIED (unknown or inactive)
 *   READY     -> CLOSING (error frame queued, or shutting down) -> DEAD
 *   any       -> DEAD   (peer went away, deadline passed)
 * A DEAD session's memory lives on until its last outstanding storage
 * callback has returned (refs), so callbacks never touch freed memory.
 */
#ifndef MINYI_SESSION_H
#define MINYI_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/util.h>

#include "caller.h"
#include "frame.h"
#include "membudget.h"
#include "quota.h"
#include "principal.h"
#include "server.h"

/* Frames handled per read event before yielding to other connections. */
#define SESSION_FRAMES_PER_EVENT 64
/* Bytes of unread input a connection holds outside the memory budget,
 * header included: a frame that fits is decoded in place; a larger one gets
 * a buffer of its own, charged to the budget.  16 KiB is one TLS record,
 * what OpenSSL holds per connection anyway, and above a report without
 * large attachments, so intake's hot path never touches the budget. */
#define SESSION_INPUT_WINDOW (16u << 10)
/* Time allowed to flush a final error frame before the socket is closed. */
#define SESSION_CLOSE_FLUSH_MS 5000

enum session_state {
    SESSION_HANDSHAKE,
    SESSION_LOOKUP,
    SESSION_READY,
    SESSION_DENIED,
    SESSION_CLOSING,
    SESSION_DEAD,
};

struct session {
    struct gw *gw;
    uint64_t sid;
    enum session_state state;
    struct bufferevent *bev;
    struct event *deadline;          /* handshake, frame, idle or flush deadline */
    struct event *resume;            /* continues input processing after a yield */
    bool frame_deadline_armed;
    bool read_paused;
    uint8_t *frame_buf;              /* body of a frame larger than the input window */
    size_t frame_len, frame_got;     /* its length and the bytes of it received */
    size_t mem_charged;              /* bytes charged to the budget for frame_buf */
    struct membudget_waiter mem_wait;/* queued while a frame waits for memory */
    struct evbuffer_cb_entry *out_cb;/* charges queued answers to the budget */
    bool out_stalled;                /* answers above the high-water mark: not read */
    bool rate_refused;               /* rate-limit refusals among the unread answers */
    struct event *stall;             /* closes a client that does not read its answers */
    struct event *hangup;            /* notices a close while a frame waits for memory */
    int inflight;                    /* requests waiting for an answer */
    bool watching;                   /* on the live queue's watch list: not idle */
    int refs;                        /* outstanding callbacks holding this struct */
    struct caller caller;            /* what the dispatchers see: principal, answers */
    int deny_code;
    char peer[64];
    char addr[QUOTA_ADDR_LEN];      /* source address counted in gw->lim; "" when none */
    struct session *prev, *next;
};

/* The state's name as logs and metrics show it, e.g. "READY". */
const char *session_state_name(enum session_state state);

/* Takes ownership of fd; false if the session could not be set up (fd closed). */
bool session_accept(struct gw *gw, evutil_socket_t fd, const struct sockaddr *sa, int salen);

/* Queues an answer frame (no-op on a closing or dead session). */
void session_send(struct session *s, const Frame *f);
/* Queues an Error frame for request id. */
void session_send_error(struct session *s, uint64_t id, int code, const char *field,
                        const char *message, const char *message_zh);

/* A request of this session was answered: account for it and resume input. */
void session_request_done(struct session *s);
/* Drops one reference; frees a DEAD session when none are left. */
void session_unref(struct session *s);

/* Queue nothing more, flush what is queued, then close. */
void session_close_after_flush(struct session *s, const char *reason);
void session_close(struct session *s, const char *reason);

/* Shutdown: stop reading new requests; close once everything is answered. */
void session_begin_stop(struct session *s);

#endif
