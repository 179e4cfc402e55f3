/*
 * forwarder: see forwarder.h.
 *
 * Each claimed row becomes a `job` queued on its peer's connection.  A job
 * is sent once the connection is up, then waits for the answer carrying
 * its frame id.  Whatever happens to the connection, every job ends in
 * exactly one storage call (delivered or failed) fenced by the claim's
 * attempt number, or — when the gateway stops — in nothing, and its lease
 * runs out.
 *
 * Only one gateway per database forwards: the one whose store_lock
 * (storage/lock.h) holds the forwarder's advisory lock.  The others keep
 * their timer but claim nothing and pull no results until they take the
 * lock, which they try every poll.  A forwarder that loses the lock (its
 * session to the database broke, e.g. in a failover) stops claiming at
 * once; what it has in flight still ends in its one storage call, fenced
 * by the attempt, or its lease runs out.
 *
 * A peer's host may list several addresses (the upper body's gateways, or
 * HAProxy and a gateway): the connection goes to one at a time, and to the
 * next when it cannot be reached; the reconnect backoff starts only once
 * every address has failed in a row.
 *
 * A peer's connection is a small state machine (enum peer_state); every
 * change goes through peer_set_state(), which logs old -> new as sessions
 * do:
 *
 *   DOWN ──work──▶ CONNECTING ──handshake done──▶ UP
 *    ▲  ▲              │                           │
 *    │  └─next address─┤      lost with work on it, or fails
 *    │           every ▼ address failed            │
 *    └──wait over── BACKOFF ◀──────────────────────┘
 *
 * (an UP connection the peer closes while idle goes back to DOWN, and so
 * does one that fails while the host list has an address not yet tried in
 * this round).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "addrlist.h"
#include "clock.h"
#include "forwarder.h"
#include "frame.h"
#include "lock.h"
#include "log.h"
#include "results.h"
#include "tls.h"
#include "triage.h"

#define FWD_ERROR_MAX 300          /* bytes of a failure reason stored with the row */
#define FWD_RECONNECT_FAILS_MAX 40 /* failures in a row counted (the wait is capped long before) */
/* The lock's session reconnects like the store's own connections. */
#define FWD_LOCK_RECONNECT_MIN_MS 100
#define FWD_LOCK_RECONNECT_MAX_MS 5000

struct job {
    struct job *next;
    Minyi__V1__OutboxItem *item;   /* owned */
    uint64_t frame_id;             /* 0 until sent */
};

enum peer_state {
    PEER_DOWN = 0,                 /* no connection; one is made when there is work */
    PEER_BACKOFF,                  /* no connection, and none before retry_at_ms */
    PEER_CONNECTING,               /* TCP connect and TLS handshake under way */
    PEER_UP,                       /* connected: jobs and results requests go out */
};

static const char *const peer_state_names[] = {
    [PEER_DOWN] = "DOWN",
    [PEER_BACKOFF] = "BACKOFF",
    [PEER_CONNECTING] = "CONNECTING",
    [PEER_UP] = "UP",
};

/* One address of a peer, resolved at start. */
struct peer_addr {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char host[CONFIG_HOST_MAX];
    char port[CONFIG_PORT_TEXT_MAX];
};

struct peer_conn {
    struct forwarder *fw;
    struct gw_peer peer;
    struct peer_addr addrs[CONFIG_PEER_ADDRS_MAX];
    int n_addrs;
    int cur;                       /* the address connected to, or tried next */
    int round_fails;               /* addresses failed in a row since the last backoff */
    SSL_CTX *ctx;
    enum peer_state state;
    struct bufferevent *bev;       /* while CONNECTING or UP */
    bool want_up;                  /* results.c asked for it with no job queued */
    struct job *queued;            /* claimed, not yet sent */
    struct job *sent;              /* sent, waiting for the answer */
    uint64_t next_id;
    int fails;                     /* connections that failed in a row, for the backoff */
    int64_t retry_at_ms;           /* monotonic: no new connection before this */
};

struct forwarder {
    struct gw *gw;
    struct event *timer;
    bool claiming;                 /* a claim is outstanding */
    bool stopping;
    struct peer_conn *conns;
    int n_conns;
    const char *dests[CONFIG_PEERS_MAX];
    int pending_ops;               /* storage calls not yet answered */
    int64_t progress_ms;           /* monotonic: last claim answered, or nothing to claim */
    struct results *results;       /* pulls the peers' results (results.c) */
    /* This instance's newest signed audit head, read with every claim and
     * sent with every request upward (PROTOCOL.md §3.13); NULL before the
     * sealer has signed one. */
    Minyi__V1__AuditHead *head;
    struct store_lock *lock;       /* held: this gateway is the database's forwarder */
};

static void conn_kick(struct peer_conn *pc);

/* The one place a peer's connection changes state. */
static void peer_set_state(struct peer_conn *pc, enum peer_state next)
{
    log_debug("event=forward_peer_state dest=%s state=%s->%s", pc->peer.name,
              peer_state_names[pc->state], peer_state_names[next]);
    pc->state = next;
}

static void job_free(struct job *j)
{
    if (j->item != NULL)
        protobuf_c_message_free_unpacked(&j->item->base, NULL);
    free(j);
}

static void on_marked(void *arg, struct store_reply *reply)
{
    struct forwarder *fw = arg;

    fw->pending_ops--;
    if (reply->code != 0 && reply->code != MINYI__V1__ERROR_CODE__CONFLICT)
        log_warnx("event=forward_mark_failed code=%d reason=\"%s\"", reply->code, reply->message);
    if (reply->msg != NULL)
        protobuf_c_message_free_unpacked(reply->msg, NULL);
}

/* Ends a job: delivered (upstream set; for an erasure, any non-NULL
 * upstream means done) or failed with a reason. */
static void job_finish(struct peer_conn *pc, struct job *j, const char *upstream,
                       const char *error, bool permanent)
{
    struct forwarder *fw = pc->fw;
    const struct gw_config *cfg = &fw->gw->cfg;
    const Minyi__V1__OutboxItem *it = j->item;
    bool erase = it->erase != NULL;

    if (fw->stopping) {
        job_free(j);
        return;
    }
    fw->pending_ops++;
    if (upstream != NULL && erase) {
        log_info("event=erase_delivered erase=%lld dest=%s attempt=%u receipt=%.*s",
                 (long long)it->outbox_id, pc->peer.name, it->attempt, (int)it->receipt.len,
                 (const char *)it->receipt.data);
        triage_fw_erased(fw->gw->store, it->outbox_id, it->attempt, on_marked, fw);
    } else if (upstream != NULL) {
        log_info("event=forward_delivered outbox=%lld dest=%s attempt=%u upstream=%s",
                 (long long)it->outbox_id, pc->peer.name, it->attempt, upstream);
        triage_fw_delivered(fw->gw->store, it->outbox_id, it->attempt, upstream, on_marked, fw);
    } else if (erase) {
        log_warnx("event=erase_failed erase=%lld dest=%s attempt=%u permanent=%d "
                  "reason=\"%s\"", (long long)it->outbox_id, pc->peer.name, it->attempt,
                  permanent ? 1 : 0, error);
        triage_fw_erase_failed(fw->gw->store, it->outbox_id, it->attempt, error, permanent,
                               cfg->fwd_max_attempts, cfg->fwd_backoff_min_ms,
                               cfg->fwd_backoff_max_ms, on_marked, fw);
    } else {
        log_warnx("event=forward_failed outbox=%lld dest=%s attempt=%u permanent=%d "
                  "reason=\"%s\"", (long long)it->outbox_id, pc->peer.name, it->attempt,
                  permanent ? 1 : 0, error);
        triage_fw_failed(fw->gw->store, it->outbox_id, it->attempt, error, permanent,
                         cfg->fwd_max_attempts, cfg->fwd_backoff_min_ms, cfg->fwd_backoff_max_ms,
                         on_marked, fw);
    }
    job_free(j);
}

static void fail_list(struct peer_conn *pc, struct job **list, const char *error)
{
    while (*list != NULL) {
        struct job *j = *list;
        *list = j->next;
        job_finish(pc, j, NULL, error, false);
    }
}

/* True while the peer is backing off: no connection to it is made, and no
 * rows for it are claimed (on_timer). */
static bool conn_waiting(const struct peer_conn *pc)
{
    return pc->state == PEER_BACKOFF && pc->retry_at_ms > clock_mono_ms();
}

/* The peer could not be reached (a dial, handshake or connection with work
 * on it failed): no new connection before a wait that doubles with each
 * failure in a row, from reconnect_min_ms up to reconnect_max_ms, half of
 * it random ("equal jitter") so that gateways sharing a database do not
 * all come back at the same moment.  Without it a dead peer would be
 * dialled again on every poll that finds a row due, and with many rows,
 * each on its own backoff, some row is nearly always due.  A decoded
 * answer (on_read) ends the backoff. */
static void conn_backoff(struct peer_conn *pc)
{
    const struct gw_config *cfg = &pc->fw->gw->cfg;
    int64_t wait = cfg->fwd_reconnect_min_ms;
    uint32_t r = 0;

    if (pc->fails < FWD_RECONNECT_FAILS_MAX)
        pc->fails++;
    for (int i = 1; i < pc->fails && wait < cfg->fwd_reconnect_max_ms; i++)
        wait *= 2;
    if (wait > cfg->fwd_reconnect_max_ms)
        wait = cfg->fwd_reconnect_max_ms;
    /* Without random bytes, the whole wait rather than none. */
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = UINT32_MAX;
    wait = wait - wait / 2 + (int64_t)((uint64_t)r * (uint64_t)(wait / 2) / UINT32_MAX);
    pc->retry_at_ms = clock_mono_ms() + wait;
    peer_set_state(pc, PEER_BACKOFF);
    log_info("event=forward_peer_backoff dest=%s failures=%d wait_ms=%lld", pc->peer.name,
             pc->fails, (long long)wait);
}

/* The current address could not be reached: the next one is tried at once
 * (at the next kick: DOWN), and only when every address has failed in a
 * row does the peer back off. */
static void conn_unreachable(struct peer_conn *pc)
{
    if (pc->n_addrs > 1) {
        pc->cur = (pc->cur + 1) % pc->n_addrs;
        log_info("event=forward_peer_next_address dest=%s address=%s:%s", pc->peer.name,
                 pc->addrs[pc->cur].host, pc->addrs[pc->cur].port);
        if (++pc->round_fails < pc->n_addrs) {
            peer_set_state(pc, PEER_DOWN);
            return;
        }
    }
    pc->round_fails = 0;
    conn_backoff(pc);
}

/* The connection is gone: every job on it failed for the same reason. */
static void conn_down(struct peer_conn *pc, const char *error)
{
    /* A dial that never came up, or a connection lost with work on it,
     * says the peer is unreachable; one it closed while idle does not. */
    bool unreachable = pc->state == PEER_CONNECTING ||
                       (pc->state == PEER_UP && (pc->sent != NULL || pc->queued != NULL));

    if (pc->bev != NULL) {
        bufferevent_free(pc->bev);
        pc->bev = NULL;
    }
    switch (pc->state) {
    case PEER_CONNECTING:
    case PEER_UP:
        if (unreachable && !pc->fw->stopping)
            conn_unreachable(pc);
        else
            peer_set_state(pc, PEER_DOWN);
        break;
    case PEER_DOWN:
    case PEER_BACKOFF:
        break;                     /* no connection: the state says why */
    default:
        fatal("dest=%s peer state %d", pc->peer.name, (int)pc->state);
    }
    fail_list(pc, &pc->sent, error);
    fail_list(pc, &pc->queued, error);
}

/* The name the peer's certificate must carry at the current address. */
static const char *conn_server_name(const struct peer_conn *pc)
{
    return pc->peer.server_name[0] ? pc->peer.server_name : pc->addrs[pc->cur].host;
}

/* Why a TLS connection failed, as precisely as OpenSSL says. */
static void tls_reason(struct peer_conn *pc, short what, char *out, size_t len)
{
    SSL *ssl = pc->bev ? bufferevent_openssl_get_ssl(pc->bev) : NULL;
    unsigned long e = bufferevent_get_openssl_error(pc->bev);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    const struct peer_addr *a = &pc->addrs[pc->cur];

    if (vr != X509_V_OK)
        snprintf(out, len, "TLS: certificate of %s refused: %s", conn_server_name(pc),
                 X509_verify_cert_error_string(vr));
    else if (e != 0)
        snprintf(out, len, "TLS: %s", ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                                                 : "handshake failed");
    else if (what & BEV_EVENT_TIMEOUT)
        snprintf(out, len, "timeout talking to %s:%s", a->host, a->port);
    else if (what & BEV_EVENT_EOF)
        snprintf(out, len, "connection to %s:%s closed", a->host, a->port);
    else
        snprintf(out, len, "cannot connect to %s:%s: %s", a->host, a->port,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* Sends an erasure: the forwarder's head is lent to the encoding alone. */
static bool send_erase(struct peer_conn *pc, struct job *j)
{
    Minyi__V1__EraseRequest *er = j->item->erase;
    Frame f = MINYI__V1__FRAME__INIT;
    size_t n;

    j->frame_id = ++pc->next_id;
    f.id = j->frame_id;
    f.body_case = MINYI__V1__FRAME__BODY_ERASE;
    f.erase = er;
    er->audit_head = pc->fw->head;
    uint8_t *buf = frame_encode(&f, &n);
    er->audit_head = NULL;
    if (buf == NULL)
        return false;
    bool ok = bufferevent_write(pc->bev, buf, n) == 0;
    free(buf);
    return ok;
}

static bool send_job(struct peer_conn *pc, struct job *j)
{
    Minyi__V1__ForwardRequest *fr = j->item->forward;
    Frame f = MINYI__V1__FRAME__INIT;
    size_t n;

    if (j->item->erase != NULL)
        return send_erase(pc, j);
    bool own = fr->origin_body.len == 0;
    j->frame_id = ++pc->next_id;
    f.id = j->frame_id;
    f.body_case = MINYI__V1__FRAME__BODY_FORWARD;
    f.forward = fr;
    /* A report received here names this body as its origin; the name is
     * borrowed from the config for the encoding only. */
    if (own)
        fr->origin_body = frame_bytes(pc->fw->gw->cfg.body_name);
    /* The head is the forwarder's, lent to the encoding alone. */
    fr->audit_head = pc->fw->head;
    uint8_t *buf = frame_encode(&f, &n);
    fr->audit_head = NULL;
    if (own) {
        fr->origin_body.data = NULL;
        fr->origin_body.len = 0;
    }
    if (buf == NULL)
        return false;
    bool ok = bufferevent_write(pc->bev, buf, n) == 0;
    free(buf);
    return ok;
}

static void set_answer_timeout(struct peer_conn *pc)
{
    struct timeval tv = clock_tv_ms(pc->fw->gw->cfg.fwd_timeout_ms);
    /* Waiting for answers: the peer must say something in time.  Idle:
     * no deadline of ours (the peer's idle timeout closes it). */
    bufferevent_set_timeouts(pc->bev, pc->sent ? &tv : NULL, NULL);
}

static void send_queued(struct peer_conn *pc)
{
    while (pc->queued != NULL) {
        struct job *j = pc->queued;
        pc->queued = j->next;
        if (!send_job(pc, j)) {
            job_finish(pc, j, NULL, "cannot encode the request", false);
            continue;
        }
        j->next = pc->sent;
        pc->sent = j;
    }
    set_answer_timeout(pc);
}

static struct job *take_sent(struct peer_conn *pc, uint64_t id)
{
    for (struct job **p = &pc->sent; *p != NULL; p = &(*p)->next) {
        if ((*p)->frame_id == id) {
            struct job *j = *p;
            *p = j->next;
            return j;
        }
    }
    return NULL;
}

static void on_answer(struct peer_conn *pc, const Frame *f)
{
    char buf[FWD_ERROR_MAX];
    struct job *j;

    if (results_on_answer(pc->fw->results, (int)(pc - pc->fw->conns), f))
        return;
    j = take_sent(pc, f->id);
    if (j == NULL) {
        log_warnx("event=forward_stray_answer dest=%s id=%llu", pc->peer.name,
                  (unsigned long long)f->id);
        return;
    }
    if (j->item->erase != NULL && f->body_case == MINYI__V1__FRAME__BODY_OK) {
        job_finish(pc, j, "", NULL, false);
    } else if (j->item->erase == NULL && f->body_case == MINYI__V1__FRAME__BODY_SUBMIT_OK &&
               f->submit_ok->receipt.len > 0 &&
        f->submit_ok->receipt.len < sizeof(buf)) {
        memcpy(buf, f->submit_ok->receipt.data, f->submit_ok->receipt.len);
        buf[f->submit_ok->receipt.len] = '\0';
        job_finish(pc, j, buf, NULL, false);
    } else if (f->body_case == MINYI__V1__FRAME__BODY_ERROR && f->error != NULL) {
        int code = f->error->code;
        bool permanent = code == MINYI__V1__ERROR_CODE__INVALID_ARGUMENT ||
                         code == MINYI__V1__ERROR_CODE__PERMISSION_DENIED ||
                         code == MINYI__V1__ERROR_CODE__CONFLICT;
        snprintf(buf, sizeof(buf), "%s: error %d on %.*s: %.*s", pc->peer.name, code,
                 (int)(f->error->field.len < 64 ? f->error->field.len : 64),
                 (const char *)f->error->field.data,
                 (int)(f->error->message.len < 200 ? f->error->message.len : 200),
                 (const char *)f->error->message.data);
        job_finish(pc, j, NULL, buf, permanent);
    } else {
        job_finish(pc, j, NULL, "unexpected answer", false);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct peer_conn *pc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    const struct gw_config *cfg = &pc->fw->gw->cfg;

    for (;;) {
        uint8_t hdr[FRAME_HEADER_LEN];
        if (evbuffer_copyout(in, hdr, sizeof(hdr)) < (ev_ssize_t)sizeof(hdr))
            break;
        uint32_t len = frame_peek_len(hdr);
        if (len > cfg->max_frame_bytes) {
            conn_down(pc, "answer frame too large");
            return;
        }
        if (evbuffer_get_length(in) < FRAME_HEADER_LEN + (size_t)len)
            break;
        evbuffer_drain(in, FRAME_HEADER_LEN);
        uint8_t *body = evbuffer_pullup(in, len);
        struct frame_arena *arena = NULL;
        Frame *f = frame_decode(len ? body : (const uint8_t *)"", len,
                                cfg->decode_budget_bytes, &arena);
        evbuffer_drain(in, len);
        if (f == NULL) {
            frame_arena_free(arena);
            conn_down(pc, "malformed answer frame");
            return;
        }
        pc->fails = 0;             /* the peer answers: reachable again */
        pc->round_fails = 0;
        on_answer(pc, f);
        frame_arena_free(arena);
    }
    set_answer_timeout(pc);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct peer_conn *pc = arg;
    char reason[FWD_ERROR_MAX];

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        log_info("event=forward_connected dest=%s address=%s:%s", pc->peer.name,
                 pc->addrs[pc->cur].host, pc->addrs[pc->cur].port);
        peer_set_state(pc, PEER_UP);
        send_queued(pc);
        results_conn_up(pc->fw->results, (int)(pc - pc->fw->conns));
        return;
    }
    tls_reason(pc, what, reason, sizeof(reason));
    log_warnx("event=forward_connection_lost dest=%s reason=\"%s\"", pc->peer.name, reason);
    conn_down(pc, reason);
}

static void conn_kick(struct peer_conn *pc)
{
    switch (pc->state) {
    case PEER_UP:
        send_queued(pc);
        return;
    case PEER_CONNECTING:
        return;                    /* what is queued goes out once it is up */
    case PEER_BACKOFF:
        if (conn_waiting(pc))
            return;                /* on_timer kicks it once the wait is over */
        break;
    case PEER_DOWN:
        break;
    default:
        fatal("dest=%s peer state %d", pc->peer.name, (int)pc->state);
    }
    if (pc->queued == NULL && !pc->want_up)
        return;
    pc->want_up = false;
    SSL *ssl = SSL_new(pc->ctx);
    if (ssl == NULL) {
        fail_list(pc, &pc->queued, "TLS: cannot make a connection");
        return;
    }
    /* The peer's certificate must name the configured host; SNI only for
     * names, which is all TLS allows. */
    const char *name = conn_server_name(pc);
    const struct peer_addr *a = &pc->addrs[pc->cur];
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, name) != 1) {
        SSL_free(ssl);
        fail_list(pc, &pc->queued, "TLS: bad server_name");
        return;
    }
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, name, &a4) != 1 && inet_pton(AF_INET6, name, &a6) != 1)
        SSL_set_tlsext_host_name(ssl, name);
    pc->bev = bufferevent_openssl_socket_new(pc->fw->gw->base, -1, ssl,
                                             BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    if (pc->bev == NULL) {
        SSL_free(ssl);
        fail_list(pc, &pc->queued, "cannot make a connection");
        return;
    }
    peer_set_state(pc, PEER_CONNECTING);
    bufferevent_setcb(pc->bev, on_read, NULL, on_event, pc);
    struct timeval tv = clock_tv_ms(pc->fw->gw->cfg.fwd_timeout_ms);
    bufferevent_set_timeouts(pc->bev, &tv, &tv);
    bufferevent_enable(pc->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(pc->bev, (struct sockaddr *)&a->addr, (int)a->addrlen) != 0) {
        char reason[FWD_ERROR_MAX];
        snprintf(reason, sizeof(reason), "cannot connect to %s:%s", a->host, a->port);
        log_warnx("event=forward_connection_lost dest=%s reason=\"%s\"", pc->peer.name, reason);
        conn_down(pc, reason);
    }
}

static struct peer_conn *conn_by_name(struct forwarder *fw, const ProtobufCBinaryData *name)
{
    for (int i = 0; i < fw->n_conns; i++)
        if (strlen(fw->conns[i].peer.name) == name->len &&
            memcmp(fw->conns[i].peer.name, name->data, name->len) == 0)
            return &fw->conns[i];
    return NULL;
}

static void on_claimed(void *arg, struct store_reply *reply)
{
    struct forwarder *fw = arg;
    Minyi__V1__OutboxClaim *m = (Minyi__V1__OutboxClaim *)reply->msg;

    fw->claiming = false;
    fw->pending_ops--;
    if (reply->code == 0)
        fw->progress_ms = clock_mono_ms();
    if (reply->code != 0) {
        log_debug("event=forward_claim_failed code=%d reason=\"%s\"", reply->code,
                  reply->message);
        return;
    }
    if (m != NULL && m->audit_head != NULL) {
        if (fw->head != NULL)
            protobuf_c_message_free_unpacked(&fw->head->base, NULL);
        fw->head = m->audit_head;
        m->audit_head = NULL;
    }
    for (size_t i = 0; m != NULL && i < m->n_items; i++) {
        Minyi__V1__OutboxItem *it = m->items[i];
        struct peer_conn *pc = conn_by_name(fw, &it->destination);
        struct job *j = calloc(1, sizeof(*j));
        if (j == NULL || pc == NULL || fw->stopping) {
            /* The lease brings it back. */
            free(j);
            protobuf_c_message_free_unpacked(&it->base, NULL);
            continue;
        }
        j->item = it;
        /* Oldest first on the wire: append. */
        struct job **tail = &pc->queued;
        while (*tail != NULL)
            tail = &(*tail)->next;
        *tail = j;
    }
    if (m != NULL) {
        m->n_items = 0;
        protobuf_c_message_free_unpacked(&m->base, NULL);
    }
    for (int i = 0; i < fw->n_conns && !fw->stopping; i++)
        conn_kick(&fw->conns[i]);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct forwarder *fw = arg;

    (void)fd;
    (void)what;
    if (fw->stopping || fw->claiming)
        return;
    if (!store_lock_held(fw->lock)) {
        /* Another gateway forwards: waiting is what this one should do. */
        fw->progress_ms = clock_mono_ms();
        return;
    }
    /* Rows are claimed only for peers not backing off, so a row's attempts
     * count connections actually tried, and while every peer is
     * unreachable the timer costs not even a query. */
    const char *dests[CONFIG_PEERS_MAX];
    size_t n = 0;
    for (int i = 0; i < fw->n_conns; i++) {
        struct peer_conn *pc = &fw->conns[i];
        if (conn_waiting(pc))
            continue;
        conn_kick(pc);             /* what waited for the backoff to end */
        dests[n++] = pc->peer.name;
    }
    if (n == 0) {
        /* Every peer is backing off: waiting is what it should do. */
        fw->progress_ms = clock_mono_ms();
        return;
    }
    fw->claiming = true;
    fw->pending_ops++;
    triage_fw_claim(fw->gw->store, dests, n, fw->gw->cfg.fwd_claim_max,
                    fw->gw->cfg.fwd_lease_s, on_claimed, fw);
}

/* Resolves each address of the peer's host list (config.c has checked
 * it); the first answer of each is kept. */
static bool resolve(struct peer_conn *pc)
{
    char dport[CONFIG_PORT_TEXT_MAX] = "";
    const char *cursor = pc->peer.host;

    if (pc->peer.port > 0)
        snprintf(dport, sizeof(dport), "%d", pc->peer.port);
    pc->n_addrs = 0;
    while (pc->n_addrs < CONFIG_PEER_ADDRS_MAX) {
        struct peer_addr *a = &pc->addrs[pc->n_addrs];
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
        if (!addrlist_next(&cursor, dport, a->host, sizeof(a->host), a->port, sizeof(a->port)))
            break;
        int rc = getaddrinfo(a->host, a->port, &hints, &res);
        if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(a->addr)) {
            log_error("event=start_failed reason=\"[peer.%s] cannot resolve %s: %s\"",
                      pc->peer.name, a->host, rc ? gai_strerror(rc) : "no address");
            if (res != NULL)
                freeaddrinfo(res);
            return false;
        }
        memcpy(&a->addr, res->ai_addr, res->ai_addrlen);
        a->addrlen = res->ai_addrlen;
        freeaddrinfo(res);
        pc->n_addrs++;
    }
    if (pc->n_addrs == 0) {
        log_error("event=start_failed reason=\"[peer.%s] no address in host\"", pc->peer.name);
        return false;
    }
    return true;
}

/* The client TLS context for one peer; event names the log line of a
 * failure (start_failed at start, reload_failed on SIGHUP). */
static SSL_CTX *peer_ctx(const struct gw_peer *p, const char *event)
{
    static const unsigned char alpn[] = "\x07" TLS_ALPN;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, p->ca, NULL) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, p->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, p->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1 ||
        SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
        log_error("event=%s reason=\"[peer.%s] cannot load ca, cert or key: %s\"", event,
                  p->name, ERR_reason_error_string(ERR_get_error()));
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

bool forwarder_peer_send(struct forwarder *fw, int peer, Frame *f)
{
    struct peer_conn *pc;
    size_t n;

    if (fw == NULL || fw->stopping || peer < 0 || peer >= fw->n_conns ||
        !store_lock_held(fw->lock))
        return false;
    pc = &fw->conns[peer];
    if (pc->state != PEER_UP) {
        pc->want_up = true;
        conn_kick(pc);
        return false;
    }
    f->id = ++pc->next_id;
    uint8_t *buf = frame_encode(f, &n);
    if (buf == NULL)
        return false;
    bool ok = bufferevent_write(pc->bev, buf, n) == 0;
    free(buf);
    if (ok) {
        /* The answer is awaited like a job's. */
        struct timeval tv = clock_tv_ms(fw->gw->cfg.fwd_timeout_ms);
        bufferevent_set_timeouts(pc->bev, &tv, NULL);
    }
    return ok;
}

/* The lock was taken or lost (storage/lock.h). */
static void on_lock(void *arg, bool held)
{
    struct forwarder *fw = arg;

    if (fw->stopping)
        return;
    fw->progress_ms = clock_mono_ms();
    if (held) {
        log_info("event=forwarder_active");
        /* Claim now rather than a poll later. */
        event_active(fw->timer, EV_TIMEOUT, 0);
    } else {
        log_warnx("event=forwarder_standby reason=\"lost the forwarder's lock\"");
    }
}

bool forwarder_start(struct gw *gw)
{
    const struct gw_config *cfg = &gw->cfg;
    struct forwarder *fw;

    gw->fwd = NULL;
    if (cfg->n_peers == 0)
        return true;
    fw = calloc(1, sizeof(*fw));
    if (fw == NULL)
        return false;
    fw->gw = gw;
    fw->progress_ms = clock_mono_ms();
    gw->fwd = fw;
    fw->conns = calloc((size_t)cfg->n_peers, sizeof(*fw->conns));
    if (fw->conns == NULL)
        return false;
    for (int i = 0; i < cfg->n_peers; i++) {
        struct peer_conn *pc = &fw->conns[fw->n_conns++];
        pc->fw = fw;
        pc->peer = cfg->peers[i];
        fw->dests[i] = pc->peer.name;
        if (!resolve(pc) || (pc->ctx = peer_ctx(&pc->peer, "start_failed")) == NULL)
            return false;
    }
    fw->timer = event_new(gw->base, -1, EV_PERSIST, on_timer, fw);
    if (fw->timer == NULL)
        return false;
    struct timeval tv = clock_tv_ms(cfg->fwd_poll_ms);
    event_add(fw->timer, &tv);
    fw->results = results_new(gw, fw);
    if (fw->results == NULL)
        return false;
    fw->lock = store_lock_open(gw->base, cfg->db_conninfo, STORE_LOCK_FORWARDER, "forwarder",
                               cfg->fwd_poll_ms, cfg->db_query_timeout_ms,
                               FWD_LOCK_RECONNECT_MIN_MS, FWD_LOCK_RECONNECT_MAX_MS, on_lock, fw);
    if (fw->lock == NULL)
        return false;
    log_info("event=forwarder_started peers=%d", fw->n_conns);
    return true;
}

void forwarder_reload(struct gw *gw)
{
    struct forwarder *fw = gw->fwd;
    int reloaded = 0;

    if (fw == NULL || fw->stopping)
        return;
    for (int i = 0; i < fw->n_conns; i++) {
        struct peer_conn *pc = &fw->conns[i];
        const struct gw_peer *next = config_peer(&gw->cfg, pc->peer.name);
        if (next == NULL) {
            log_warnx("event=reload_partial reason=\"[peer.%s] is gone from the config; peers "
                      "are added and removed only by a restart\"", pc->peer.name);
            continue;
        }
        struct gw_peer p = pc->peer;
        snprintf(p.ca, sizeof(p.ca), "%s", next->ca);
        snprintf(p.cert, sizeof(p.cert), "%s", next->cert);
        snprintf(p.key, sizeof(p.key), "%s", next->key);
        snprintf(p.server_name, sizeof(p.server_name), "%s", next->server_name);
        SSL_CTX *ctx = peer_ctx(&p, "reload_failed");
        if (ctx == NULL)
            continue;
        if (strcmp(next->host, pc->peer.host) != 0 || next->port != pc->peer.port)
            log_warnx("event=reload_partial reason=\"[peer.%s] host and port take effect only "
                      "after a restart\"", pc->peer.name);
        /* A connection that is up keeps the SSL it was made with (which
         * holds its own reference to the old context); the next one uses
         * the new certificate. */
        SSL_CTX_free(pc->ctx);
        pc->ctx = ctx;
        pc->peer = p;
        reloaded++;
    }
    log_info("event=peers_reloaded peers=%d of=%d", reloaded, fw->n_conns);
}

void forwarder_stop(struct gw *gw)
{
    struct forwarder *fw = gw->fwd;

    if (fw == NULL || fw->stopping)
        return;
    fw->stopping = true;
    if (fw->timer != NULL)
        event_del(fw->timer);
    /* Another gateway may take over now rather than when this one exits. */
    store_lock_free(fw->lock);
    fw->lock = NULL;
    results_stop(fw->results);
    for (int i = 0; i < fw->n_conns; i++) {
        struct peer_conn *pc = &fw->conns[i];
        /* Tell the upper instance this is an orderly close (close_notify),
         * so its log does not show a truncated connection.  One
         * non-blocking attempt: the socket is closed right after anyway. */
        if (pc->state == PEER_UP) {
            SSL *ssl = bufferevent_openssl_get_ssl(pc->bev);
            if (ssl != NULL && SSL_shutdown(ssl) < 0)
                ERR_clear_error();
        }
        conn_down(pc, "stopping");
    }
}

void forwarder_free(struct gw *gw)
{
    struct forwarder *fw = gw->fwd;

    if (fw == NULL)
        return;
    fw->stopping = true;
    for (int i = 0; i < fw->n_conns; i++) {
        conn_down(&fw->conns[i], "stopping");
        SSL_CTX_free(fw->conns[i].ctx);
    }
    results_free(fw->results);
    if (fw->head != NULL)
        protobuf_c_message_free_unpacked(&fw->head->base, NULL);
    store_lock_free(fw->lock);
    if (fw->timer != NULL)
        event_free(fw->timer);
    free(fw->conns);
    free(fw);
    gw->fwd = NULL;
}

Minyi__V1__AuditHead *forwarder_audit_head(const struct forwarder *fw)
{
    return fw->head;
}

bool forwarder_progressing(const struct gw *gw, char *why, size_t whylen)
{
    const struct forwarder *fw = gw->fwd;

    if (fw == NULL || fw->stopping)
        return true;
    int64_t limit = (int64_t)FORWARDER_STALL_POLLS * gw->cfg.fwd_poll_ms;
    int64_t idle = clock_mono_ms() - fw->progress_ms;
    if (idle <= limit)
        return true;
    snprintf(why, whylen, "forwarder: no outbox claim answered for %lld ms",
             (long long)idle);
    return false;
}

bool forwarder_active(const struct gw *gw)
{
    return gw->fwd != NULL && !gw->fwd->stopping && store_lock_held(gw->fwd->lock);
}

const struct results *forwarder_results(const struct gw *gw)
{
    return gw->fwd != NULL ? gw->fwd->results : NULL;
}
