/*
 * server: the listener and the process-wide stop sequence.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/listener.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "quota.h"
#include "forwarder.h"
#include "server.h"
#include "session.h"

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)l;
    struct gw *gw = arg;
    if (gw->stopping) {
        evutil_closesocket(fd);
        return;
    }
    if (gw->n_sessions >= gw->cfg.max_connections) {
        metrics.connections_refused[METRICS_REFUSED_MAX_CONNECTIONS]++;
        log_warnx("event=refused reason=max_connections limit=%d", gw->cfg.max_connections);
        evutil_closesocket(fd);
        return;
    }
    char addr[QUOTA_ADDR_LEN];
    quota_addr_key(sa, addr);
    /* Only IP sources are counted; a session releases what it counted. */
    if (addr[0] != '\0' && !quota_conn_acquire(gw->lim, addr, gw->cfg.max_connections_per_ip)) {
        metrics.connections_refused[METRICS_REFUSED_PER_ADDRESS]++;
        log_warnx("event=refused reason=max_connections_per_ip addr=%s limit=%d", addr,
                  gw->cfg.max_connections_per_ip);
        evutil_closesocket(fd);
        return;
    }
    /* The session releases the count when it closes; a session that could
     * not be set up never counted. */
    if (session_accept(gw, fd, sa, salen)) {
        metrics.connections_accepted++;
        snprintf(gw->sessions->addr, sizeof(gw->sessions->addr), "%s", addr);
    } else {
        metrics.connections_refused[METRICS_REFUSED_SETUP_FAILED]++;
        if (addr[0] != '\0')
            quota_conn_release(gw->lim, addr);
    }
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    /* EMFILE and friends: the listener keeps going; the next pass may succeed. */
    log_warn("event=accept_error");
}

bool server_start(struct gw *gw, char *err, size_t errlen)
{
    struct evutil_addrinfo hints, *ai = NULL;
    char port[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST;
    snprintf(port, sizeof(port), "%d", gw->cfg.port);
    if (gw->lim == NULL && (gw->lim = quota_new()) == NULL) {
        snprintf(err, errlen, "out of memory for the connection limits");
        return false;
    }
    int rc = evutil_getaddrinfo(gw->cfg.listen, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "listen address %s: %s (a numeric address is required)",
                 gw->cfg.listen, evutil_gai_strerror(rc));
        return false;
    }
    gw->listener = evconnlistener_new_bind(gw->base, on_accept, gw,
                                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                               LEV_OPT_CLOSE_ON_EXEC,
                                           1024, ai->ai_addr, (int)ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    if (gw->listener == NULL) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", gw->cfg.listen, gw->cfg.port,
                 strerror(errno));
        return false;
    }
    evconnlistener_set_error_cb(gw->listener, on_accept_error);
    return true;
}

static void on_store_drained(void *arg)
{
    struct gw *gw = arg;
    gw->store_drained = true;
    log_info("event=stopped");
    event_base_loopexit(gw->base, NULL);
}

/* Moves the stop on once the last session is gone. */
void server_session_gone(struct gw *gw)
{
    if (gw->stopping && gw->n_sessions == 0 && !gw->store_drained && gw->store != NULL) {
        if (gw->grace_ev != NULL)
            event_del(gw->grace_ev);
        store_drain(gw->store, on_store_drained, gw);
    }
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw *gw = arg;
    log_warnx("event=stop_grace_passed sessions=%d", gw->n_sessions);
    while (gw->sessions != NULL)
        session_close(gw->sessions, "shutdown grace passed");
}

void server_stop(struct gw *gw)
{
    if (gw->stopping)
        return;
    forwarder_stop(gw);
    gw->stopping = true;
    notify_stopping();
    log_info("event=stopping sessions=%d", gw->n_sessions);
    if (gw->listener != NULL) {
        evconnlistener_free(gw->listener);
        gw->listener = NULL;
    }
    struct timeval tv = clock_tv_ms(gw->cfg.shutdown_grace_ms);
    gw->grace_ev = evtimer_new(gw->base, on_grace, gw);
    if (gw->grace_ev != NULL)
        event_add(gw->grace_ev, &tv);
    struct session *s = gw->sessions;
    while (s != NULL) {
        struct session *next = s->next;
        session_begin_stop(s);
        s = next;
    }
    server_session_gone(gw);
}
