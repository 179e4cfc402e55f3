#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "admin_http.h"
#include "console_events.h"
#include "forwarder.h"
#include "log.h"
#include "membudget.h"
#include "metrics.h"
#include "results.h"
#include "session.h"

struct admin_pending;

struct admin_http {
    struct gw *gw;
    struct evhttp *http;
    struct admin_pending *pending;   /* requests waiting for the store */
    int n_pending;
};

/* A request waiting for its store callback.  req becomes NULL when the
 * client's connection goes away first, ah when the listener stops. */
struct admin_pending {
    struct admin_http *ah;
    struct evhttp_request *req;
    struct admin_pending *next;
};

static void send_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *body = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    if (body != NULL)
        evbuffer_add_printf(body, "%s\n", text);
    evhttp_send_reply(req, code, reason, body);
    if (body != NULL)
        evbuffer_free(body);
}

static void on_conn_closed(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct admin_pending *p = arg;
    p->req = NULL;
}

static struct admin_pending *pending_new(struct admin_http *ah, struct evhttp_request *req)
{
    if (ah->n_pending >= ADMIN_HTTP_PENDING_MAX) {
        send_text(req, 503, "Service Unavailable", "too many requests waiting for the database");
        return NULL;
    }
    struct admin_pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        send_text(req, 503, "Service Unavailable", "out of memory");
        return NULL;
    }
    p->ah = ah;
    p->req = req;
    p->next = ah->pending;
    ah->pending = p;
    ah->n_pending++;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_closed, p);
    return p;
}

/* Unlinks p and answers whether its request can still be answered. */
static bool pending_take(struct admin_pending *p)
{
    struct admin_http *ah = p->ah;
    if (ah == NULL)
        return false;
    for (struct admin_pending **pp = &ah->pending; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    ah->n_pending--;
    if (p->req == NULL)
        return false;
    evhttp_connection_set_closecb(evhttp_request_get_connection(p->req), NULL, NULL);
    return true;
}

/* ---- /metrics ------------------------------------------------------------ */

static void write_sessions(struct evbuffer *out, const struct gw *gw)
{
    static const enum session_state shown[] = { SESSION_HANDSHAKE, SESSION_LOOKUP, SESSION_READY,
                                                SESSION_DENIED, SESSION_CLOSING };
    double by_state[SESSION_DEAD + 1] = { 0 };
    double in_bytes = 0, out_bytes = 0, inflight = 0;

    for (const struct session *s = gw->sessions; s != NULL; s = s->next) {
        by_state[s->state]++;
        inflight += s->inflight;
        if (s->bev != NULL) {
            /* A frame larger than the input window lies in its own buffer. */
            in_bytes += (double)(evbuffer_get_length(bufferevent_get_input(s->bev)) + s->frame_got);
            out_bytes += (double)evbuffer_get_length(bufferevent_get_output(s->bev));
        }
    }
    metrics_family(out, "minyi_connections", "gauge", "Open client connections, by session state.");
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
        metrics_sample(out, "minyi_connections",
                       (const char *const[]){ "state", session_state_name(shown[i]), NULL },
                       by_state[shown[i]]);
    metrics_family(out, "minyi_console_streams", "gauge",
                   "Live-queue streams (GET /api/events) open on the console.");
    metrics_sample(out, "minyi_console_streams", NULL, (double)console_events_count(gw));
    metrics_family(out, "minyi_requests_in_flight", "gauge",
                   "Requests of open connections waiting for their answer.");
    metrics_sample(out, "minyi_requests_in_flight", NULL, inflight);
    metrics_family(out, "minyi_frame_buffer_bytes", "gauge",
                   "Bytes held in the connections' buffers: partial frames read (in) and answers "
                   "not yet written (out).");
    metrics_sample(out, "minyi_frame_buffer_bytes", (const char *const[]){ "direction", "in", NULL },
                   in_bytes);
    metrics_sample(out, "minyi_frame_buffer_bytes",
                   (const char *const[]){ "direction", "out", NULL }, out_bytes);
    metrics_family(out, "minyi_memory_charged_bytes", "gauge",
                   "Bytes charged to the memory budget: buffers of frames larger than the input "
                   "window (their whole length) and answers not yet written.");
    metrics_sample(out, "minyi_memory_charged_bytes", NULL, (double)membudget_held(gw->mem));
    metrics_family(out, "minyi_memory_budget_bytes", "gauge",
                   "The memory budget (memory_budget_bytes): above it new frames wait.");
    metrics_sample(out, "minyi_memory_budget_bytes", NULL, (double)gw->cfg.memory_budget_bytes);
}

/* Every report state, with 0 for those no row is in, so a state's series
 * does not vanish when its last report leaves it. */
static void write_queue(struct evbuffer *out, const struct store_gauge *g, size_t n)
{
    const ProtobufCEnumDescriptor *d = &minyi__v1__report_state__descriptor;

    metrics_family(out, "minyi_queue_reports", "gauge", "Reports in the database, by state.");
    for (unsigned i = 0; i < d->n_values; i++) {
        const char *state = d->values[i].name;
        double v = 0;
        if (d->values[i].value == 0)
            continue;
        for (size_t k = 0; k < n; k++)
            if (strcmp(g[k].name, "queue") == 0 && strcmp(g[k].label1, state) == 0)
                v = g[k].value;
        metrics_sample(out, "minyi_queue_reports", (const char *const[]){ "state", state, NULL }, v);
    }
}

/* A gauge family with one sample per row called which, labelled by
 * label1 (and label2 when key2 is not NULL). */
static void write_rows(struct evbuffer *out, const struct store_gauge *g, size_t n,
                       const char *which, const char *family, const char *help, const char *key1,
                       const char *key2)
{
    metrics_family(out, family, "gauge", help);
    for (size_t k = 0; k < n; k++)
        if (strcmp(g[k].name, which) == 0)
            metrics_sample(out, family,
                           (const char *const[]){ key1, g[k].label1, key2, g[k].label2, NULL },
                           g[k].value);
}

static bool seen_before(const struct store_gauge *g, size_t upto, const char *name,
                        const char *label1)
{
    for (size_t k = 0; k < upto; k++)
        if (strcmp(g[k].name, name) == 0 && strcmp(g[k].label1, label1) == 0)
            return true;
    return false;
}

/* Rows of dest still to deliver: every state the query counts but dead. */
static double backlog_of(const struct store_gauge *g, size_t n, const char *dest)
{
    double v = 0;
    for (size_t k = 0; k < n; k++)
        if (strcmp(g[k].name, "outbox") == 0 && strcmp(g[k].label2, "dead") != 0 &&
            strcmp(g[k].label1, dest) == 0)
            v += g[k].value;
    return v;
}

/* The backlog of each destination (pending and in_flight rows), with 0 for
 * a configured peer that has none. */
static void write_outbox(struct evbuffer *out, const struct gw *gw, const struct store_gauge *g,
                         size_t n)
{
    write_rows(out, g, n, "outbox", "minyi_outbox_rows",
               "Outbox rows not yet delivered (pending, in_flight) or given up (dead), by "
               "destination and state.",
               "destination", "state");
    metrics_family(out, "minyi_outbox_backlog", "gauge",
                   "Outbox rows still to deliver (pending and in_flight), by destination.");
    for (int i = 0; i < gw->cfg.n_peers; i++)
        metrics_sample(out, "minyi_outbox_backlog",
                       (const char *const[]){ "destination", gw->cfg.peers[i].name, NULL },
                       backlog_of(g, n, gw->cfg.peers[i].name));
    for (size_t k = 0; k < n; k++)
        if (strcmp(g[k].name, "outbox") == 0 && config_peer(&gw->cfg, g[k].label1) == NULL &&
            !seen_before(g, k, "outbox", g[k].label1))
            metrics_sample(out, "minyi_outbox_backlog",
                           (const char *const[]){ "destination", g[k].label1, NULL },
                           backlog_of(g, n, g[k].label1));
    write_rows(out, g, n, "outbox_oldest", "minyi_outbox_oldest_age_seconds",
               "Age of the oldest outbox row still to deliver, by destination.", "destination",
               NULL);
}

static void write_results(struct evbuffer *out, const struct store_gauge *g, size_t n)
{
    write_rows(out, g, n, "results_owed", "minyi_results_owed",
               "Results kept for a lower instance that it has not acknowledged yet, by its peer "
               "principal.",
               "peer_id", "peer");
    write_rows(out, g, n, "results_owed_oldest", "minyi_results_lag_seconds",
               "Age of the oldest result a lower instance has not acknowledged, by its peer "
               "principal.",
               "peer_id", "peer");
}

static void on_gauges(void *arg, int code, const struct store_gauge *g, size_t n)
{
    struct admin_pending *p = arg;
    char why[160];

    if (!pending_take(p)) {
        free(p);
        return;
    }
    const struct gw *gw = p->ah->gw;
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        send_text(p->req, 503, "Service Unavailable", "out of memory");
        free(p);
        return;
    }
    metrics_write_registry(out);
    write_sessions(out, gw);
    metrics_family(out, "minyi_database_up", "gauge",
                   "1 when the database answered this scrape's query, else 0 (and the queue, "
                   "outbox and results families are left out).");
    metrics_sample(out, "minyi_database_up", NULL, code == 0 ? 1 : 0);
    metrics_family(out, "minyi_results_pull_age_seconds", "gauge",
                   "Seconds since the instance above last answered a pull of results (since the "
                   "start when it never has), by peer; only on the gateway that forwards.");
    /* A gateway waiting for the forwarder's lock pulls nothing; an age
     * growing there would read as a stuck puller. */
    for (int i = 0; i < gw->cfg.n_peers && forwarder_active(gw); i++) {
        int64_t age = results_pull_age_ms(forwarder_results(gw), i);
        if (age >= 0)
            metrics_sample(out, "minyi_results_pull_age_seconds",
                           (const char *const[]){ "peer", gw->cfg.peers[i].name, NULL },
                           (double)age / 1000);
    }
    metrics_family(out, "minyi_forwarder_progressing", "gauge",
                   "1 when the forwarder's claims are answered or it has nothing to do, else 0.");
    metrics_sample(out, "minyi_forwarder_progressing", NULL,
                   forwarder_progressing(gw, why, sizeof(why)) ? 1 : 0);
    metrics_family(out, "minyi_forwarder_active", "gauge",
                   "1 when this gateway is its database's forwarder (it holds the forwarder's "
                   "lock), 0 when another gateway of the database is or there is no forwarder.");
    metrics_sample(out, "minyi_forwarder_active", NULL, forwarder_active(gw) ? 1 : 0);
    if (code == 0) {
        write_queue(out, g, n);
        write_outbox(out, gw, g, n);
        write_results(out, g, n);
    }
    evhttp_add_header(evhttp_request_get_output_headers(p->req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(p->req, 200, "OK", out);
    evbuffer_free(out);
    free(p);
}

/* ---- /healthz ------------------------------------------------------------ */

static void on_ping(void *arg, int code, const struct store_gauge *g, size_t n)
{
    (void)g;
    (void)n;
    struct admin_pending *p = arg;
    if (pending_take(p)) {
        if (code == 0)
            send_text(p->req, 200, "OK", "ok");
        else
            send_text(p->req, 503, "Service Unavailable", "database: no answer");
    }
    free(p);
}

static void do_healthz(struct admin_http *ah, struct evhttp_request *req)
{
    struct gw *gw = ah->gw;
    char why[160];

    if (gw->stopping || gw->listener == NULL) {
        send_text(req, 503, "Service Unavailable", "listener: not accepting (stopping)");
        return;
    }
    if (!forwarder_progressing(gw, why, sizeof(why))) {
        send_text(req, 503, "Service Unavailable", why);
        return;
    }
    struct admin_pending *p = pending_new(ah, req);
    if (p != NULL)
        store_ping(gw->store, on_ping, p);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin_http *ah = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

    if (path == NULL) {
        send_text(req, 400, "Bad Request", "no path");
    } else if (strcmp(path, "/metrics") == 0) {
        struct admin_pending *p = pending_new(ah, req);
        if (p != NULL)
            store_gauges(ah->gw->store, on_gauges, p);
    } else if (strcmp(path, "/healthz") == 0) {
        do_healthz(ah, req);
    } else {
        send_text(req, 404, "Not Found", "not found: try /metrics or /healthz");
    }
}

bool admin_http_start(struct gw *gw, char *err, size_t errlen)
{
    const struct gw_config *cfg = &gw->cfg;
    struct admin_http *ah = NULL;

    gw->admin = NULL;
    if (cfg->admin_port == 0 || cfg->admin_listen[0] == '\0')
        return true;
    ah = calloc(1, sizeof(*ah));
    if (ah == NULL || (ah->http = evhttp_new(gw->base)) == NULL) {
        snprintf(err, errlen, "admin listener: out of memory");
        goto fail;
    }
    ah->gw = gw;
    evhttp_set_allowed_methods(ah->http, EVHTTP_REQ_GET);
    evhttp_set_timeout(ah->http, ADMIN_HTTP_TIMEOUT_S);
    evhttp_set_max_headers_size(ah->http, ADMIN_HTTP_HEADERS_MAX);
    evhttp_set_max_body_size(ah->http, 0);
    evhttp_set_gencb(ah->http, on_request, ah);
    if (evhttp_bind_socket(ah->http, cfg->admin_listen, (ev_uint16_t)cfg->admin_port) != 0) {
        snprintf(err, errlen, "admin listener: cannot listen on %s port %d", cfg->admin_listen,
                 cfg->admin_port);
        goto fail;
    }
    gw->admin = ah;
    log_info("event=admin_listening listen=%s port=%d", cfg->admin_listen, cfg->admin_port);
    return true;
fail:
    if (ah != NULL && ah->http != NULL)
        evhttp_free(ah->http);
    free(ah);
    return false;
}

void admin_http_stop(struct gw *gw)
{
    struct admin_http *ah = gw->admin;

    if (ah == NULL)
        return;
    /* Freeing the listener closes its connections, whose close callbacks
     * forget the requests; the store's answers then find no listener. */
    evhttp_free(ah->http);
    for (struct admin_pending *p = ah->pending; p != NULL; p = p->next) {
        p->ah = NULL;
        p->req = NULL;
    }
    free(ah);
    gw->admin = NULL;
}
