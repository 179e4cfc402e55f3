/*
 * session: one client connection.  See session.h for the state machine.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "clock.h"
#include "dispatch.h"
#include "log.h"
#include "membudget.h"
#include "metrics.h"
#include "session.h"
#include "tls.h"
#include "watch.h"

static const char *state_names[] = {
    [SESSION_HANDSHAKE] = "HANDSHAKE", [SESSION_LOOKUP] = "LOOKUP",
    [SESSION_READY] = "READY",         [SESSION_DENIED] = "DENIED",
    [SESSION_CLOSING] = "CLOSING",     [SESSION_DEAD] = "DEAD",
};

const char *session_state_name(enum session_state state)
{
    return state_names[state];
}

static void session_process_input(struct session *s);
static void session_arm_deadline(struct session *s);
static void session_frame_end(struct session *s);
static void session_wait_memory(struct session *s);

static void session_set_state(struct session *s, enum session_state next)
{
    log_debug("sid=%llu state=%s->%s", (unsigned long long)s->sid, state_names[s->state],
              state_names[next]);
    s->state = next;
}

static void timer_ms(struct event *ev, int ms)
{
    struct timeval tv = clock_tv_ms(ms);
    event_add(ev, &tv);
}

static void session_free(struct session *s)
{
    if (s->deadline != NULL)
        event_free(s->deadline);
    if (s->resume != NULL)
        event_free(s->resume);
    if (s->stall != NULL)
        event_free(s->stall);
    if (s->hangup != NULL)
        event_free(s->hangup);
    free(s);
}

/* Stops charging the output buffer to the budget and returns what it
 * holds: the buffer goes with the bufferevent, without telling us. */
static void session_output_forget(struct session *s)
{
    if (s->out_cb == NULL)
        return;
    struct evbuffer *out = bufferevent_get_output(s->bev);
    size_t held = evbuffer_get_length(out);
    evbuffer_remove_cb_entry(out, s->out_cb);
    s->out_cb = NULL;
    membudget_release(s->gw->mem, held);
}

void session_unref(struct session *s)
{
    if (--s->refs < 0)
        fatal("sid=%llu refs below zero", (unsigned long long)s->sid);
    if (s->refs == 0 && s->state == SESSION_DEAD)
        session_free(s);
}

/* The one way a session ends.  The bufferevent (and with it the socket and
 * the SSL object) goes at once; the struct waits for outstanding callbacks. */
void session_close(struct session *s, const char *reason)
{
    if (s->state == SESSION_DEAD)
        return;
    struct gw *gw = s->gw;
    log_info("event=close sid=%llu peer=%s principal=%lld inflight=%d reason=\"%s\"",
             (unsigned long long)s->sid, s->peer, (long long)s->caller.principal.id, s->inflight,
             reason);
    session_set_state(s, SESSION_DEAD);
    event_del(s->deadline);
    event_del(s->resume);
    event_del(s->stall);
    event_del(s->hangup);
    membudget_cancel(gw->mem, &s->mem_wait);
    session_frame_end(s);
    if (s->bev != NULL) {
        session_output_forget(s);
        bufferevent_free(s->bev);
        s->bev = NULL;
    }
    membudget_freed(gw->mem);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        gw->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    gw->n_sessions--;
    if (s->addr[0] != '\0')
        quota_conn_release(gw->lim, s->addr);
    watch_remove(s);
    s->refs++;
    session_unref(s);
    server_session_gone(gw);
}

static void on_flushed(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct session *s = arg;
    if (s->state == SESSION_CLOSING && s->inflight == 0)
        session_close(s, "closed after answer");
}

void session_close_after_flush(struct session *s, const char *reason)
{
    if (s->state == SESSION_DEAD || s->state == SESSION_CLOSING)
        return;
    log_debug("sid=%llu closing after flush: %s", (unsigned long long)s->sid, reason);
    session_set_state(s, SESSION_CLOSING);
    bufferevent_disable(s->bev, EV_READ);
    /* Nothing more is read: a frame waiting for memory no longer needs it. */
    membudget_cancel(s->gw->mem, &s->mem_wait);
    timer_ms(s->deadline, SESSION_CLOSE_FLUSH_MS);
    if (s->inflight == 0 && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
        session_close(s, reason);
}

void session_send(struct session *s, const Frame *f)
{
    if (s->state == SESSION_DEAD || s->bev == NULL)
        return;
    struct evbuffer *out = bufferevent_get_output(s->bev);
    size_t n = frame_encoded_size(f);
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)n, &v, 1) < 1 || v.iov_len < n) {
        session_close(s, "out of memory for answer");
        return;
    }
    frame_encode_to(f, v.iov_base);
    v.iov_len = n;
    if (evbuffer_commit_space(out, &v, 1) != 0)
        session_close(s, "cannot queue answer");
    else
        metrics.frames_sent++;
}

void session_send_error(struct session *s, uint64_t id, int code, const char *field,
                        const char *message, const char *message_zh)
{
    caller_send_error(&s->caller, id, code, field, message, message_zh);
}

/* ---- the session as a caller of the dispatchers (caller.h) ---------------- */

static struct session *of_caller(const struct caller *c)
{
    return (struct session *)((const char *)c - offsetof(struct session, caller));
}

static void caller_session_send(struct caller *c, const Frame *f)
{
    session_send(of_caller(c), f);
}

static void caller_session_done(struct caller *c)
{
    session_request_done(of_caller(c));
}

static void caller_session_hold(struct caller *c)
{
    of_caller(c)->refs++;
}

static void caller_session_release(struct caller *c)
{
    session_unref(of_caller(c));
}

static bool caller_session_live(const struct caller *c)
{
    return of_caller(c)->state != SESSION_DEAD;
}

static bool caller_session_watch(struct caller *c, uint64_t id)
{
    return watch_add(of_caller(c), id);
}

static const struct caller_ops session_caller_ops = {
    .send = caller_session_send,
    .done = caller_session_done,
    .hold = caller_session_hold,
    .release = caller_session_release,
    .live = caller_session_live,
    .watch = caller_session_watch,
};

static void session_pause_read(struct session *s)
{
    if (!s->read_paused) {
        s->read_paused = true;
        bufferevent_disable(s->bev, EV_READ);
    }
}

/* Reading resumes only when nothing holds it back: requests in flight
 * below the limit, answers being read, no frame waiting for memory. */
static void session_resume_read(struct session *s)
{
    if (s->read_paused && (s->state == SESSION_READY || s->state == SESSION_DENIED) &&
        !s->gw->stopping && !s->out_stalled && !s->mem_wait.waiting &&
        s->inflight < s->gw->cfg.max_inflight) {
        s->read_paused = false;
        bufferevent_enable(s->bev, EV_READ);
        /* Frames may already wait in the input buffer: read events only
         * come for new bytes, so look at them now. */
        event_active(s->resume, EV_TIMEOUT, 0);
    }
}

void session_request_done(struct session *s)
{
    s->inflight--;
    if (s->state == SESSION_DEAD)
        return;
    if (s->gw->stopping && s->inflight == 0) {
        session_close_after_flush(s, "shutting down");
        return;
    }
    if (s->state == SESSION_CLOSING) {
        if (s->inflight == 0 && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
            session_close(s, "closed after answer");
        return;
    }
    session_resume_read(s);
    session_arm_deadline(s);
}

void session_begin_stop(struct session *s)
{
    if (s->state == SESSION_DEAD || s->state == SESSION_CLOSING)
        return;
    if (s->state == SESSION_HANDSHAKE || s->state == SESSION_LOOKUP || s->inflight == 0) {
        session_close_after_flush(s, "shutting down");
        return;
    }
    session_pause_read(s);
}

/*
 * One timer serves every deadline of ours; libevent's own read timeouts
 * reset on each byte, so a peer trickling one byte a second could hold a
 * frame open for ever.  The frame deadline is armed when a frame starts and
 * is not moved by more bytes of the same frame.
 */
static void session_arm_deadline(struct session *s)
{
    const struct gw_config *cfg = &s->gw->cfg;
    if (s->state != SESSION_READY && s->state != SESSION_DENIED)
        return;
    size_t pending = evbuffer_get_length(bufferevent_get_input(s->bev));
    if (pending > 0 || s->frame_buf != NULL) {
        if (!s->frame_deadline_armed) {
            s->frame_deadline_armed = true;
            timer_ms(s->deadline, cfg->frame_timeout_ms);
        }
        return;
    }
    s->frame_deadline_armed = false;
    /* A watching editor waits for pushed events, which is not idleness. */
    if (s->inflight == 0 && !s->watching)
        timer_ms(s->deadline, cfg->idle_timeout_ms);
    else
        event_del(s->deadline);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct session *s = arg;
    switch (s->state) {
    case SESSION_HANDSHAKE:
        metrics.tls_handshake_failures++;
        session_close(s, "handshake deadline passed");
        break;
    case SESSION_LOOKUP:
        session_close(s, "principal lookup deadline passed");
        break;
    case SESSION_READY:
    case SESSION_DENIED:
        if (s->frame_deadline_armed && s->mem_wait.waiting) {
            session_send_error(s, 0, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "frame.length",
                               "the gateway had no memory for this frame within the frame "
                               "deadline; send it again later",
                               "网关在帧时限内无内存接收该帧，请稍后重发");
            session_close_after_flush(s, "frame deadline passed waiting for memory");
        } else if (s->frame_deadline_armed)
            session_close(s, "frame deadline passed");
        else if (s->inflight == 0 && !s->watching)
            session_close(s, "idle deadline passed");
        break;
    case SESSION_CLOSING:
        session_close(s, "flush deadline passed");
        break;
    case SESSION_DEAD:
    default:
        fatal("sid=%llu deadline in state %d", (unsigned long long)s->sid, s->state);
    }
}

/* A client that does not read its answers: closed when they have stayed
 * above the high-water mark for output_stall_timeout_ms. */
static void on_stall(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct session *s = arg;
    if (s->state != SESSION_READY && s->state != SESSION_DENIED)
        return;
    if (s->rate_refused) {
        session_close(s, "rate-limited answers not read");
        return;
    }
    char reason[128];
    snprintf(reason, sizeof(reason), "answers not read for %d ms (%zu bytes queued)",
             s->gw->cfg.output_stall_timeout_ms,
             evbuffer_get_length(bufferevent_get_output(s->bev)));
    session_close(s, reason);
}

/*
 * Every change to the output buffer: answers queued are charged to the
 * memory budget and answers written released, and a client whose unread
 * answers pass the high-water mark is not read until it has read half of
 * them (libevent's own write watermark cannot serve: its low mark is the
 * one on_flushed needs at zero).
 */
static void on_output_change(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct session *s = arg;
    const struct gw_config *cfg = &s->gw->cfg;
    if (info->n_added > 0)
        membudget_add(s->gw->mem, info->n_added);
    if (info->n_deleted > 0)
        membudget_release(s->gw->mem, info->n_deleted);
    size_t len = info->orig_size + info->n_added - info->n_deleted;
    if (len == 0)
        s->rate_refused = false;
    if (!s->out_stalled && len > cfg->output_high_water_bytes) {
        s->out_stalled = true;
        /* The close itself waits for the loop: this runs inside libevent's
         * handling of the very buffer a close would free. */
        if (s->state == SESSION_READY || s->state == SESSION_DENIED) {
            session_pause_read(s);
            timer_ms(s->stall, s->rate_refused ? 0 : cfg->output_stall_timeout_ms);
        }
    } else if (s->out_stalled && len <= cfg->output_high_water_bytes / 2) {
        s->out_stalled = false;
        event_del(s->stall);
        session_resume_read(s);
    }
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    session_process_input(arg);
}

/* The frame a session took whole: refused when the principal was, counted
 * against the rate limit, else dispatched.  False when the session is
 * closing and must not be read further. */
static bool session_take_frame(struct session *s, Frame *f, struct frame_arena *arena)
{
    const struct gw_config *cfg = &s->gw->cfg;
    if (s->state == SESSION_DENIED) {
        session_send_error(s, f->id, s->deny_code, "certificate",
                           s->deny_code == MINYI__V1__ERROR_CODE__UNAVAILABLE
                               ? "cannot look up the certificate now; try again"
                               : "this certificate is not registered or not active",
                           s->deny_code == MINYI__V1__ERROR_CODE__UNAVAILABLE
                               ? "暂时无法核验证书，请稍后重试"
                               : "证书未登记或已停用");
        frame_arena_free(arena);
        session_close_after_flush(s, "principal refused");
        return false;
    }
    uint32_t retry_after_ms = 0;
    if (!quota_take_token(s->gw->lim, s->caller.principal.id, cfg->rate_per_s, cfg->rate_burst,
                          &retry_after_ms)) {
        /* Refusals take no slot in flight, so max_inflight does not stop a
         * client that floods and never reads them: once its unread answers
         * pass the high-water mark with refusals among them, it is cut off
         * at once (on_output_change). */
        s->rate_refused = true;
        quota_send_rate_error(s, f->id, retry_after_ms);
        frame_arena_free(arena);
        return true;
    }
    s->inflight++;
    dispatch_frame(&s->caller, f, arena);
    return true;
}

/*
 * Gives a frame larger than the input window a buffer of its own, charged
 * to the memory budget before it exists.  True when its body can now be
 * received into s->frame_buf (the header has been consumed); false when
 * it waits for memory (reading paused until on_memory_granted) or the
 * session is closing.
 */
static bool session_frame_begin(struct session *s, struct evbuffer *in, uint32_t len)
{
    if (s->mem_charged == 0) {
        if (!membudget_take(s->gw->mem, &s->mem_wait, len)) {
            session_wait_memory(s);
            return false;
        }
        s->mem_charged = len;
    }
    s->frame_buf = malloc(len);
    if (s->frame_buf == NULL) {
        session_send_error(s, 0, MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED, "frame.length",
                           "no memory for a frame of this length now; try again later",
                           "暂时无法为该长度的帧分配内存，请稍后重试");
        session_close_after_flush(s, "out of memory for a frame");
        return false;
    }
    s->frame_len = len;
    s->frame_got = 0;
    evbuffer_drain(in, FRAME_HEADER_LEN);
    return true;
}

/*
 * A session whose frame waits for memory is not read, and so would not
 * notice its client going away: libevent watches nothing on its socket.
 * It watches for the close instead, so a client that gave up does not
 * keep its place in the queue, ahead of live ones, until its deadline.
 * libevent reports a reset (EPOLLHUP|EPOLLERR) as readable, never as
 * EV_CLOSED, and a level-triggered read event would fire for as long as
 * unread bytes wait; so the watch is edge-triggered, and each wakeup asks
 * the socket for its error.  libevent refuses to mix edge- and level-
 * triggered events on one socket, so a session with answers being
 * written (a level-triggered write event) goes without the watch, its
 * frame deadline bounding the wait.
 */
static void session_wait_memory(struct session *s)
{
    session_pause_read(s);
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0 && event_add(s->hangup, NULL) != 0)
        log_debug("sid=%llu no close watch while waiting for memory", (unsigned long long)s->sid);
}

static void on_hangup(evutil_socket_t fd, short what, void *arg)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if ((what & EV_CLOSED) ||
        (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0))
        session_close(arg, "peer went away while its frame waited for memory");
}

/* Frees a frame's own buffer and returns its charge to the budget. */
static void session_frame_end(struct session *s)
{
    free(s->frame_buf);
    s->frame_buf = NULL;
    s->frame_len = s->frame_got = 0;
    if (s->mem_charged > 0) {
        membudget_release(s->gw->mem, s->mem_charged);
        s->mem_charged = 0;
    }
}

static void on_memory_granted(struct membudget_waiter *w)
{
    struct session *s = (struct session *)((char *)w - offsetof(struct session, mem_wait));
    s->mem_charged = w->need;
    event_del(s->hangup);
    session_resume_read(s);
}

/*
 * Takes complete frames from the input.  The length is checked before the
 * body is touched.  A frame that fits in the input window (the hot path:
 * reports without large attachments) is decoded where it lies; a larger
 * one is moved into a buffer of its own as it arrives, charged to the
 * memory budget when its header is read.  At most SESSION_FRAMES_PER_EVENT
 * frames are handled before yielding, and reading pauses while
 * max_inflight requests wait, while the answers are not read and while
 * memory is short.
 */
static void session_process_input(struct session *s)
{
    const struct gw_config *cfg = &s->gw->cfg;
    int handled = 0;

    /* Hold the session: a close below must not free it under our feet. */
    s->refs++;
    while (s->state == SESSION_READY || s->state == SESSION_DENIED) {
        struct evbuffer *in = bufferevent_get_input(s->bev);
        size_t avail = evbuffer_get_length(in);
        uint8_t hdr[FRAME_HEADER_LEN];
        const uint8_t *body;
        uint32_t len;

        if (s->inflight >= cfg->max_inflight) {
            session_pause_read(s);
            break;
        }
        if (s->gw->stopping || s->out_stalled || s->mem_wait.waiting)
            break;
        if (s->frame_buf != NULL) {
            size_t n = s->frame_len - s->frame_got;
            if (n > avail)
                n = avail;
            if (evbuffer_remove(in, s->frame_buf + s->frame_got, n) != (int)n)
                fatal("sid=%llu evbuffer_remove of a frame body failed", (unsigned long long)s->sid);
            s->frame_got += n;
            if (s->frame_got < s->frame_len)
                break;
            if (handled == SESSION_FRAMES_PER_EVENT) {
                event_active(s->resume, EV_TIMEOUT, 0);
                break;
            }
            body = s->frame_buf;
            len = (uint32_t)s->frame_len;
        } else {
            if (avail < FRAME_HEADER_LEN)
                break;
            if (evbuffer_copyout(in, hdr, FRAME_HEADER_LEN) != FRAME_HEADER_LEN)
                fatal("sid=%llu copyout of frame header failed", (unsigned long long)s->sid);
            len = frame_peek_len(hdr);
            if (len > cfg->max_frame_bytes) {
                char msg[128];
                snprintf(msg, sizeof(msg), "frame length %u exceeds the maximum %zu", len,
                         cfg->max_frame_bytes);
                session_send_error(s, 0, MINYI__V1__ERROR_CODE__FRAME_TOO_LARGE, "frame.length",
                                   msg, "帧长度超过上限");
                session_close_after_flush(s, "frame too large");
                goto out;
            }
            if ((size_t)len + FRAME_HEADER_LEN > SESSION_INPUT_WINDOW) {
                if (!session_frame_begin(s, in, len))
                    break;
                continue;
            }
            if (membudget_over(s->gw->mem) && !membudget_take(s->gw->mem, &s->mem_wait, 0)) {
                session_wait_memory(s);
                break;
            }
            if (avail - FRAME_HEADER_LEN < len)
                break;
            if (handled == SESSION_FRAMES_PER_EVENT) {
                event_active(s->resume, EV_TIMEOUT, 0);
                break;
            }
            const uint8_t *buf = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER_LEN + len));
            body = buf != NULL ? buf + FRAME_HEADER_LEN : NULL;
        }
        struct frame_arena *arena = NULL;
        Frame *f = body != NULL ? frame_decode(body, len, cfg->decode_budget_bytes, &arena) : NULL;
        if (s->frame_buf != NULL)
            session_frame_end(s);
        else
            evbuffer_drain(in, FRAME_HEADER_LEN + len);
        metrics.frames_received++;
        s->frame_deadline_armed = false;
        if (f == NULL) {
            session_send_error(s, 0, MINYI__V1__ERROR_CODE__MALFORMED_FRAME, "frame",
                               "frame is not a valid minyi.v1.Frame or exceeds the decode budget",
                               "帧无法解析");
            session_close_after_flush(s, "malformed frame");
            goto out;
        }
        handled++;
        if (!session_take_frame(s, f, arena))
            goto out;
    }
    if (s->state == SESSION_READY || s->state == SESSION_DENIED)
        session_arm_deadline(s);
out:
    session_unref(s);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    session_process_input(arg);
}

static void on_lookup(void *arg, int code, const struct principal *p)
{
    struct session *s = arg;
    if (s->state == SESSION_DEAD) {
        session_unref(s);
        return;
    }
    event_del(s->deadline);
    if (code == 0 && p != NULL && p->active) {
        s->caller.principal = *p;
        log_info("event=auth sid=%llu peer=%s principal=%lld kind=%s", (unsigned long long)s->sid,
                 s->peer, (long long)p->id, principal_kind_name(p->kind));
        session_set_state(s, SESSION_READY);
    } else {
        s->deny_code = code == MINYI__V1__ERROR_CODE__UNAVAILABLE
                           ? MINYI__V1__ERROR_CODE__UNAVAILABLE
                           : MINYI__V1__ERROR_CODE__PERMISSION_DENIED;
        log_info("event=auth_refused sid=%llu peer=%s reason=%s", (unsigned long long)s->sid,
                 s->peer,
                 code == 0 ? "inactive" : (code == MINYI__V1__ERROR_CODE__NOT_FOUND ? "unknown"
                                                                                    : "lookup failed"));
        session_set_state(s, SESSION_DENIED);
    }
    if (s->gw->stopping) {
        session_close_after_flush(s, "shutting down");
    } else {
        bufferevent_enable(s->bev, EV_READ);
        s->read_paused = false;
        session_process_input(s);
    }
    session_unref(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;
    if (what & BEV_EVENT_CONNECTED) {
        unsigned char fp[32];
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        if (s->state != SESSION_HANDSHAKE)
            fatal("sid=%llu connected in state %s", (unsigned long long)s->sid,
                  state_names[s->state]);
        /* The handshake itself refuses a client that offers no ALPN or
         * not minyi/1 (tls.c); this check keeps that promise should the
         * TLS context ever be built without those callbacks. */
        const unsigned char *alpn = NULL;
        unsigned int alpn_len = 0;
        SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
        if (alpn_len != sizeof(TLS_ALPN) - 1 || memcmp(alpn, TLS_ALPN, alpn_len) != 0) {
            metrics.tls_handshake_failures++;
            session_close(s, "ALPN minyi/1 not agreed");
            return;
        }
        if (!tls_peer_fingerprint(ssl, fp)) {
            metrics.tls_handshake_failures++;
            session_close(s, "no client certificate");
            return;
        }
        metrics.tls_handshakes++;
        session_set_state(s, SESSION_LOOKUP);
        /* No frames are read until we know who this is. */
        bufferevent_disable(bev, EV_READ);
        s->read_paused = true;
        s->refs++;
        store_principal_lookup(s->gw->store, fp, on_lookup, s);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        char reason[300];
        if (s->state == SESSION_HANDSHAKE)
            metrics.tls_handshake_failures++;
        unsigned long e = bufferevent_get_openssl_error(bev);
        if (e != 0) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof(buf));
            snprintf(reason, sizeof(reason), "tls: %s", buf);
        } else if (what & BEV_EVENT_EOF) {
            snprintf(reason, sizeof(reason), "peer closed");
        } else {
            snprintf(reason, sizeof(reason), "socket error: %s",
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        }
        session_close(s, reason);
    }
}

static void format_peer(const struct sockaddr *sa, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, len, "%s:%d", host, port);
}

bool session_accept(struct gw *gw, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    (void)salen;
    struct session *s = calloc(1, sizeof(*s));
    SSL *ssl = NULL;
    if (s == NULL)
        goto fail;
    s->gw = gw;
    s->sid = ++gw->next_sid;
    s->caller.ops = &session_caller_ops;
    s->caller.gw = gw;
    s->caller.sid = s->sid;
    s->state = SESSION_HANDSHAKE;
    format_peer(sa, s->peer, sizeof(s->peer));
    /* Each answer is written whole as soon as it exists; Nagle's algorithm
     * would hold a small answer back until the client acknowledges the
     * previous one, and a client with several requests in flight delays
     * that acknowledgement (up to 40 ms on Linux). */
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        log_warn("event=setsockopt_failed sid=%llu option=TCP_NODELAY", (unsigned long long)s->sid);
    s->deadline = evtimer_new(gw->base, on_deadline, s);
    s->resume = event_new(gw->base, -1, 0, on_resume, s);
    s->stall = evtimer_new(gw->base, on_stall, s);
    s->mem_wait.granted = on_memory_granted;
    ssl = SSL_new(gw->ssl_ctx);
    if (s->deadline == NULL || s->resume == NULL || s->stall == NULL || ssl == NULL)
        goto fail;
    s->bev = bufferevent_openssl_socket_new(gw->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (s->bev == NULL)
        goto fail;
    ssl = NULL; /* owned by the bufferevent now */
    bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
    /* Unread input is held to the window; larger frames move out of it
     * into buffers charged to the memory budget. */
    bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_INPUT_WINDOW);
    s->out_cb = evbuffer_add_cb(bufferevent_get_output(s->bev), on_output_change, s);
    s->hangup = event_new(gw->base, fd, EV_READ | EV_ET | EV_CLOSED | EV_PERSIST, on_hangup, s);
    if (s->out_cb == NULL || s->hangup == NULL)
        goto fail;
    bufferevent_setcb(s->bev, on_read, on_flushed, on_event, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    timer_ms(s->deadline, gw->cfg.handshake_timeout_ms);

    s->next = gw->sessions;
    if (gw->sessions != NULL)
        gw->sessions->prev = s;
    gw->sessions = s;
    gw->n_sessions++;
    log_debug("event=accept sid=%llu peer=%s", (unsigned long long)s->sid, s->peer);
    return true;
fail:
    log_warnx("event=accept_failed peer_fd=%d reason=\"cannot set up session\"", (int)fd);
    if (ssl != NULL)
        SSL_free(ssl);
    if (s != NULL) {
        if (s->bev != NULL)
            bufferevent_free(s->bev);
        else
            evutil_closesocket(fd);
        session_free(s);
    } else {
        evutil_closesocket(fd);
    }
    return false;
}
