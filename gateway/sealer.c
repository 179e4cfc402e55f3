/*
 * sealer: a child process that holds the sealer lock and runs sealing
 * rounds; the parent restarts it when it exits.
 */
#include "sealer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>
#include <openssl/pem.h>

#include "audit.h"
#include "clock.h"
#include "keyfile.h"
#include "log.h"
#include "privacy.h"
#include "server.h"
#include "store.h"

struct sealer {
    struct gw *gw;
    pid_t pid;                       /* 0 while none runs */
    struct event *ev_chld;
    struct event *ev_restart;
    EVP_PKEY *key;
    bool stopping;
    bool reloading;                  /* stopped to start again with a reloaded config */
};

EVP_PKEY *sealer_key_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = NULL;

    if (!f) {
        snprintf(err, errlen, "signing key file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (!keyfile_check_private(fileno(f), path, err, errlen))
        goto fail;
    k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
        snprintf(err, errlen, "signing key file %s: expected an Ed25519 private key in PEM", path);
        EVP_PKEY_free(k);
        k = NULL;
    }
fail:
    fclose(f);
    return k;
}

/* ---- the child ----------------------------------------------------------- */

static volatile sig_atomic_t child_stop;

static void child_on_term(int sig)
{
    (void)sig;
    child_stop = 1;
}

/* Sleeps ms unless a stop signal arrives (which, unlike clock_sleep_ms,
 * ends the wait: the child is a process of its own, outside the event
 * loop, and must stop promptly). */
static void child_pause(int ms)
{
    struct timespec ts = clock_ts_ms(ms);

    if (!child_stop)
        nanosleep(&ts, NULL);
}

/* Connects when *pg is not a live connection; false when that fails (the
 * caller waits and tries again). */
static bool child_connect(PGconn **pg, const char *conninfo)
{
    char err[512];

    if (*pg != NULL && PQstatus(*pg) == CONNECTION_OK)
        return true;
    PQfinish(*pg);
    *pg = store_admin_connect(conninfo, err, sizeof err);
    if (*pg == NULL) {
        log_warnx("event=sealer_connect_failed reason=\"%s\"", err);
        return false;
    }
    return true;
}

/* One duty that runs once per database, under an advisory lock of its own:
 * a gateway that seals without retention, and one that runs retention
 * without sealing, share the work instead of one holding both. */
struct duty {
    const char *name;
    long long lock;
    bool wanted, held, said_waiting;
};

/* Tries d's lock on pg when d is wanted and not held yet. */
static void child_take(PGconn *pg, struct duty *d)
{
    char key[24];
    const char *v[1] = { key };
    PGresult *res;

    if (!d->wanted || d->held)
        return;
    snprintf(key, sizeof key, "%lld", d->lock);
    res = PQexecParams(pg, "SELECT pg_try_advisory_lock($1::int8)", 1, NULL, v, NULL, NULL, 0);
    d->held = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (d->held) {
        log_info("event=%s_active", d->name);
    } else if (!d->said_waiting) {
        log_info("event=%s_waiting reason=\"another gateway runs it on this database\"", d->name);
        d->said_waiting = true;
    }
}

static void child_main(const struct gw_config *cfg, EVP_PKEY *key)
{
    struct audit_seal_config sc = {
        .batch_max = cfg->audit_seal_batch_max,
        .sign_every = cfg->audit_sign_every,
        .sign_interval_ms = cfg->audit_sign_interval_s * 1000,
        .key = key,
        .body_region = cfg->body_region,
    };
    struct audit_sealer_state st = { 0 };
    struct duty seal = { "sealer", AUDIT_SEALER_LOCK, cfg->audit_seal != 0, false, false };
    struct duty retain = { "retention", PRIVACY_RETENTION_LOCK, cfg->retention_days > 0, false,
                           false };
    int64_t offset_s = clock_test_offset_s(), retained_ms = 0, checked_ms = 0;
    struct sigaction sa;
    sigset_t none;
    PGconn *pg = NULL;
    char err[512];

    /* Sockets of the gateway's clients and pool must not stay open in
     * here: a connection the gateway closes would not close. */
    close_range(3, ~0u, 0);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = child_on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (offset_s != 0)
        log_warnx("event=test_clock offset_s=%lld reason=\"%s is set\"", (long long)offset_s,
                  CLOCK_TEST_OFFSET_ENV);
    while (!child_stop) {
        int sealed = 0, pause_ms;
        if (!child_connect(&pg, cfg->db_conninfo)) {
            seal.held = retain.held = false;
            child_pause(SEALER_RESTART_MS);
            continue;
        }
        if (seal.wanted && !seal.held) {
            child_take(pg, &seal);
            /* A new holder signs its first head at once. */
            st.signed_seq = 0;
        }
        child_take(pg, &retain);
        if (retain.held && (retained_ms == 0 || clock_mono_ms() - retained_ms >=
                                                    cfg->retention_interval_s * 1000LL)) {
            int erased = 0;
            retained_ms = clock_mono_ms();
            if (!privacy_retain(pg, cfg->retention_days, offset_s, &erased, err, sizeof err))
                log_warnx("event=retention_failed reason=\"%s\"", err);
            else if (erased > 0)
                log_info("event=retention_erased reports=%d days=%d", erased, cfg->retention_days);
        }
        if (seal.held && !audit_seal_round(pg, &sc, &st, clock_mono_ms(), &sealed, err, sizeof err)) {
            log_warnx("event=seal_failed reason=\"%s\"", err);
            /* Start again from a new session: the locks go with the old one. */
            PQfinish(pg);
            pg = NULL;
            seal.held = retain.held = false;
            seal.said_waiting = retain.said_waiting = false;
            child_pause(SEALER_RESTART_MS);
            continue;
        }
        if (sealed > 0)
            log_debug("event=sealed rows=%d", sealed);
        /* The whole chain checked now and then, once sealing has caught up,
         * so the office sees how far it verifies without an operator
         * running `minyid audit verify`. */
        if (seal.held && sealed < sc.batch_max &&
            (checked_ms == 0 || clock_mono_ms() - checked_ms >= cfg->audit_check_interval_s * 1000LL)) {
            struct audit_verdict v;
            checked_ms = clock_mono_ms();
            if (!audit_check(pg, key, cfg->body_region, &v, err, sizeof err))
                log_warnx("event=audit_check_failed reason=\"%s\"", err);
            else if (v.broken_seq != 0)
                log_error("event=audit_broken seq=%lld what=\"%s\"", (long long)v.broken_seq,
                          v.what);
        }
        /* The soonest of what each duty needs: a lock another gateway
         * holds is tried again soon; a full sealing round means more is
         * waiting, so it goes on at once. */
        pause_ms = cfg->retention_interval_s * 1000;
        if (seal.held)
            pause_ms = sealed < sc.batch_max ? cfg->audit_seal_interval_ms : 0;
        if (((seal.wanted && !seal.held) || (retain.wanted && !retain.held)) &&
            pause_ms > SEALER_RESTART_MS)
            pause_ms = SEALER_RESTART_MS;
        if (pause_ms > 0)
            child_pause(pause_ms);
    }
    PQfinish(pg);
}

/* ---- the parent ------------------------------------------------------------ */

static bool spawn(struct sealer *s)
{
    pid_t parent = getpid();
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        log_warn("event=sealer_fork_failed");
        return false;
    }
    if (pid == 0) {
        /* The sealer must not outlive its gateway: the lock would stay
         * with a process nobody watches. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(0);
        child_main(&s->gw->cfg, s->key);
        _exit(0);
    }
    s->pid = pid;
    log_info("event=sealer_started pid=%d", (int)pid);
    return true;
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
    struct sealer *s = arg;
    struct timeval tv = clock_tv_ms(SEALER_RESTART_MS);

    (void)fd;
    (void)what;
    if (!s->stopping && s->pid == 0 && !spawn(s))
        evtimer_add(s->ev_restart, &tv);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
    struct sealer *s = arg;
    struct timeval tv = clock_tv_ms(SEALER_RESTART_MS);
    int status;

    (void)fd;
    (void)what;
    if (s->pid == 0 || waitpid(s->pid, &status, WNOHANG) != s->pid)
        return;
    s->pid = 0;
    if (s->stopping)
        return;
    if (s->reloading) {
        /* Stopped by sealer_reload: back at once, with the new settings. */
        s->reloading = false;
        if (spawn(s))
            return;
    } else {
        log_warnx("event=sealer_exited status=%d restart_ms=%d", status, SEALER_RESTART_MS);
    }
    evtimer_add(s->ev_restart, &tv);
}

/* The reloadable settings the child runs with: its copy of the config is
 * the one it was forked with. */
static bool child_settings_changed(const struct gw_config *a, const struct gw_config *b)
{
    return a->audit_seal_interval_ms != b->audit_seal_interval_ms ||
           a->audit_seal_batch_max != b->audit_seal_batch_max ||
           a->audit_sign_every != b->audit_sign_every ||
           a->audit_sign_interval_s != b->audit_sign_interval_s ||
           a->log_level != b->log_level || a->log_syslog != b->log_syslog;
}

void sealer_reload(struct gw *gw, const struct gw_config *prev)
{
    struct sealer *s = gw->sealer;

    if (s == NULL || s->stopping || !child_settings_changed(prev, &gw->cfg))
        return;
    if (s->pid > 0 && !s->reloading) {
        log_info("event=sealer_reload pid=%d", (int)s->pid);
        s->reloading = true;
        kill(s->pid, SIGTERM);
    }
}

bool sealer_start(struct gw *gw, char *err, size_t errlen)
{
    struct sealer *s;

    if (!gw->cfg.audit_seal && gw->cfg.retention_days == 0)
        return true;
    s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    s->gw = gw;
    gw->sealer = s;
    if (gw->cfg.audit_signing_key[0] != '\0') {
        s->key = sealer_key_load(gw->cfg.audit_signing_key, err, errlen);
        if (!s->key)
            return false;
    }
    s->ev_chld = evsignal_new(gw->base, SIGCHLD, on_sigchld, s);
    s->ev_restart = evtimer_new(gw->base, on_restart, s);
    if (!s->ev_chld || !s->ev_restart || event_add(s->ev_chld, NULL) != 0) {
        snprintf(err, errlen, "cannot watch the sealer");
        return false;
    }
    if (!spawn(s)) {
        snprintf(err, errlen, "cannot start the sealer process");
        return false;
    }
    return true;
}

void sealer_stop(struct gw *gw)
{
    struct sealer *s = gw->sealer;
    int status;

    if (!s)
        return;
    s->stopping = true;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
            ;
        s->pid = 0;
    }
    if (s->ev_chld)
        event_free(s->ev_chld);
    if (s->ev_restart)
        event_free(s->ev_restart);
    EVP_PKEY_free(s->key);
    free(s);
    gw->sealer = NULL;
}
