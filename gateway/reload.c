/*
 * reload: SIGHUP handling.  See reload.h.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "access.h"
#include "console.h"
#include "audit_ops.h"
#include "forwarder.h"
#include "log.h"
#include "notify.h"
#include "reload.h"
#include "sealer.h"
#include "session.h"
#include "store.h"
#include "tls.h"

/* CRLs read from one file at most: a CA publishes one, a few when rolling. */
#define RELOAD_MAX_CRLS 16
/* Bytes of the option names one reload's admin event lists. */
#define RELOAD_CHANGED_MAX 2048

/* Options the table marks fixed need a restart; a reload keeps their
 * running values, and says which ones the file changed. */
static void keep_fixed(struct gw_config *next, const struct gw_config *cur)
{
    char changed[512];

    if (config_keep_fixed(next, cur, changed, sizeof(changed)) > 0)
        log_warnx("event=reload_partial options=%s reason=\"these options take effect only "
                  "after a restart\"", changed);
}

/* Reads every CRL in a PEM file; returns how many (0 on none or error). */
static int read_crls(const char *path, X509_CRL **out, int max)
{
    int n = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (n < max) {
        X509_CRL *crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
        if (crl == NULL)
            break;
        out[n++] = crl;
    }
    fclose(f);
    return n;
}

static void on_recheck(void *arg, int code, const struct principal *p)
{
    struct session *s = arg;
    if (s->state != SESSION_DEAD) {
        if (code == 0 && p != NULL && !p->active)
            access_deny(s, "principal disabled (reload)");
        else if (code == MINYI__V1__ERROR_CODE__NOT_FOUND)
            access_deny(s, "principal removed (reload)");
        else if (code != 0)
            /* The database is down: keep the connection; the next reload
             * or the next connection checks again. */
            log_warnx("event=recheck_failed sid=%llu principal=%lld code=%d",
                      (unsigned long long)s->sid, (long long)s->caller.principal.id, code);
    }
    session_unref(s);
}

/* Closes s when a CRL lists its certificate, else looks its principal up
 * again.  Sessions still in the handshake are left to the new checks the
 * handshake itself makes (they were created with the old context, whose
 * CRL they are verified against; the deadline bounds them). */
static void recheck_session(struct session *s, X509_CRL **crls, int n_crls)
{
    if (s->state != SESSION_READY && s->state != SESSION_LOOKUP && s->state != SESSION_DENIED)
        return;
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    X509 *cert = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
    for (int i = 0; cert != NULL && i < n_crls; i++) {
        X509_REVOKED *rev = NULL;
        if (X509_CRL_get0_by_cert(crls[i], &rev, cert) == 1) {
            access_deny(s, "certificate revoked (reload)");
            return;
        }
    }
    unsigned char fp[32];
    if (s->state != SESSION_READY || !tls_peer_fingerprint(ssl, fp))
        return;
    s->refs++;
    store_principal_lookup(s->gw->store, fp, on_recheck, s);
}

static void on_noted(void *arg, struct store_reply *reply)
{
    (void)arg;
    if (reply->code != 0)
        log_warnx("event=reload_not_recorded code=%d reason=\"%s\"", reply->code,
                  reply->message);
    if (reply->msg != NULL)
        protobuf_c_message_free_unpacked(reply->msg, NULL);
}

/* A reload that changed options is an admin event in the audit chain: who
 * (the operator, who sends SIGHUP), the file, and the names of the options
 * whose values changed (those needing a restart included: the file says
 * so now), never the values.  It is noted once the reload took effect, so a
 * refused reload records nothing and the line goes out under the new [log]. */
static void note_changes(struct gw *gw, const char *changed)
{
    log_info("event=reload_changed options=\"%s\"", changed);
    audit_note(gw->store, "operator", "config_reload", gw->conf_path, changed, on_noted, NULL);
}

bool reload_now(struct gw *gw)
{
    char err[512];
    struct gw_config next;

    if (gw->stopping || gw->conf_path == NULL)
        return false;
    config_defaults(&next);
    if (!config_load(gw->conf_path, &next, err, sizeof(err))) {
        log_error("event=reload_failed reason=\"%s\"", err);
        return false;
    }
    SSL_CTX *ctx = tls_server_ctx(&next, TLS_DOOR_PROTOCOL, err, sizeof(err));
    if (ctx == NULL) {
        log_error("event=reload_failed reason=\"%s\"", err);
        return false;
    }
    char changed[RELOAD_CHANGED_MAX];
    bool any_changed = config_changed(&gw->cfg, &next, changed, sizeof changed) != 0;
    keep_fixed(&next, &gw->cfg);
    struct gw_config prev = gw->cfg;
    gw->cfg = next;
    if (!console_reload(gw, err, sizeof(err))) {
        gw->cfg = prev;
        SSL_CTX_free(ctx);
        log_error("event=reload_failed reason=\"%s\"", err);
        return false;
    }
    /* Open connections hold their own reference to the old context. */
    SSL_CTX_free(gw->ssl_ctx);
    gw->ssl_ctx = ctx;
    log_set_level(gw->cfg.log_level);
    log_set_syslog(gw->cfg.log_syslog, "minyid");
    if (any_changed)
        note_changes(gw, changed);
    forwarder_reload(gw);
    sealer_reload(gw, &prev);

    X509_CRL *crls[RELOAD_MAX_CRLS];
    int n_crls = gw->cfg.tls_crl[0] != '\0' ? read_crls(gw->cfg.tls_crl, crls, RELOAD_MAX_CRLS) : 0;
    int checked = 0;
    struct session *s = gw->sessions;
    while (s != NULL) {
        /* A close unlinks s: take the next one first. */
        struct session *after = s->next;
        recheck_session(s, crls, n_crls);
        checked++;
        s = after;
    }
    for (int i = 0; i < n_crls; i++)
        X509_CRL_free(crls[i]);
    log_info("event=reloaded config=%s sessions=%d crls=%d", gw->conf_path, checked, n_crls);
    return true;
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct gw *gw = arg;
    if (gw->stopping)
        return;
    /* Ready again afterwards whether or not the reload took: a refused
     * file leaves the running configuration serving. */
    notify_reloading();
    (void)reload_now(gw);
    notify_ready(gw->cfg.listen, gw->cfg.port);
}

bool reload_install(struct gw *gw)
{
    gw->sig_hup = evsignal_new(gw->base, SIGHUP, on_sighup, gw);
    return gw->sig_hup != NULL && event_add(gw->sig_hup, NULL) == 0;
}
