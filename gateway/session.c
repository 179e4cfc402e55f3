/*
 * session: one client connection.  See session.h for the state machine.
 */
#include <arpa/inet.h>
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
    free(s);
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
             (unsigned long long)s->sid, s->peer, (long long)s->principal.id, s->inflight,
             reason);
    session_set_state(s, SESSION_DEAD);
    event_del(s->deadline);
    event_del(s->resume);
    if (s->bev != NULL) {
        bufferevent_free(s->bev);
        s->bev = NULL;
    }
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
    Minyi__V1__Error e = MINYI__V1__ERROR__INIT;
    Frame f = MINYI__V1__FRAME__INIT;
    metrics.errors[metrics_code_slot(code)]++;
    e.code = code;
    e.field = frame_bytes(field);
    e.message = frame_bytes(message);
    e.message_zh = frame_bytes(message_zh);
    if (code == MINYI__V1__ERROR_CODE__UNAVAILABLE)
        e.retry_after_ms = 1000;
    f.id = id;
    f.body_case = MINYI__V1__FRAME__BODY_ERROR;
    f.error = &e;
    session_send(s, &f);
}

static void session_pause_read(struct session *s)
{
    if (!s->read_paused) {
        s->read_paused = true;
        bufferevent_disable(s->bev, EV_READ);
    }
}

static void session_resume_read(struct session *s)
{
    if (s->read_paused && (s->state == SESSION_READY || s->state == SESSION_DENIED)) {
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
    if (s->inflight < s->gw->cfg.max_inflight)
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
    if (pending > 0) {
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
        if (s->frame_deadline_armed)
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

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    session_process_input(arg);
}

/*
 * Takes complete frames from the input buffer.  The length is checked before
 * the body is touched; at most SESSION_FRAMES_PER_EVENT frames are handled
 * before yielding, and reading pauses while max_inflight requests wait.
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

        if (s->inflight >= cfg->max_inflight) {
            session_pause_read(s);
            break;
        }
        if (s->gw->stopping)
            break;
        if (avail < FRAME_HEADER_LEN)
            break;
        if (evbuffer_copyout(in, hdr, FRAME_HEADER_LEN) != FRAME_HEADER_LEN)
            fatal("sid=%llu copyout of frame header failed", (unsigned long long)s->sid);
        uint32_t len = frame_peek_len(hdr);
        if (len > cfg->max_frame_bytes) {
            char msg[128];
            snprintf(msg, sizeof(msg), "frame length %u exceeds the maximum %zu", len,
                     cfg->max_frame_bytes);
            session_send_error(s, 0, MINYI__V1__ERROR_CODE__FRAME_TOO_LARGE, "frame.length",
                               msg, "帧长度超过上限");
            session_close_after_flush(s, "frame too large");
            goto out;
        }
        if (avail - FRAME_HEADER_LEN < len)
            break;
        if (handled == SESSION_FRAMES_PER_EVENT) {
            event_active(s->resume, EV_TIMEOUT, 0);
            break;
        }
        const uint8_t *buf = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER_LEN + len));
        struct frame_arena *arena = NULL;
        Frame *f = buf != NULL ? frame_decode(buf + FRAME_HEADER_LEN, len,
                                              cfg->decode_budget_bytes, &arena)
                               : NULL;
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
            goto out;
        }
        uint32_t retry_after_ms = 0;
        if (!quota_take_token(s->gw->lim, s->principal.id, cfg->rate_per_s, cfg->rate_burst,
                               &retry_after_ms)) {
            quota_send_rate_error(s, f->id, retry_after_ms);
            frame_arena_free(arena);
            /* Refusals take no slot in flight, so max_inflight does not
             * stop a client that floods and never reads them: bound its
             * unread answers instead. */
            if (evbuffer_get_length(bufferevent_get_output(s->bev)) > cfg->max_frame_bytes) {
                session_close(s, "rate-limited answers not read");
                goto out;
            }
            continue;
        }
        s->inflight++;
        dispatch_frame(s, f, arena);
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
        s->principal = *p;
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
    ssl = SSL_new(gw->ssl_ctx);
    if (s->deadline == NULL || s->resume == NULL || ssl == NULL)
        goto fail;
    s->bev = bufferevent_openssl_socket_new(gw->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (s->bev == NULL)
        goto fail;
    ssl = NULL; /* owned by the bufferevent now */
    bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
    /* Never hold more than one whole frame (plus slack) of unread input. */
    bufferevent_setwatermark(s->bev, EV_READ, 0, gw->cfg.max_frame_bytes + FRAME_HEADER_LEN + 65536);
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
