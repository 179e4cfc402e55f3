/*
 * minyid: the minyi gateway.
 *
 *   minyid -c FILE                 run the gateway
 *   minyid -c FILE migrate [--json]          apply database migrations, report, exit
 *   minyid -c FILE migrate status [--json]   list applied and pending migrations
 *   minyid -c FILE principal add --cert CERT --kind KIND --name NAME --region CODE [--sector S]
 *   minyid -c FILE principal list [--json]
 *   minyid -c FILE principal disable|enable ID
 *   minyid --version
 *   minyid -c FILE audit verify [--witness FILE]
 *   minyid -c FILE audit export [--from SEQ] [--to SEQ]
 *   minyid -c FILE audit witness [--peer ID]
 *   minyid -c FILE erase RECEIPT [--note TEXT]
 *   minyid -c FILE pii rewrap
 */
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "admin_http.h"
#include "console.h"
#include "certcheck.h"
#include "audit.h"
#include "config.h"
#include "log.h"
#include "membudget.h"
#include "notify.h"
#include "pii.h"
#include "privacy.h"
#include "public_http.h"
#include "quota.h"
#include "validate.h"
#include "forwarder.h"
#include "reload.h"
#include "sealer.h"
#include "server.h"
#include "session.h"
#include "store.h"
#include "tls.h"
#include "watch.h"

/* Bytes of "operator:" and a unix user's name (LOGIN_NAME_MAX is 256). */
#define OPERATOR_LABEL_MAX 288

static void usage(FILE *out)
{
    fprintf(out,
            "usage: minyid -c FILE                      run the gateway\n"
            "       minyid -c FILE migrate              apply database migrations, say which, exit\n"
            "       minyid -c FILE migrate status       list applied and pending migrations\n"
            "       minyid -c FILE principal add --cert CERT.pem --kind contact|editor|peer|office|admin\n"
            "                                   --name NAME --region CODE [--sector S]\n"
            "       minyid -c FILE principal list\n"
            "       minyid -c FILE principal disable|enable ID\n"
            "       minyid -c FILE principal audit-key ID PUBKEY.pem\n"
            "                                   register a body below's audit key (a rotated\n"
            "                                   key is one more; the old ones still verify)\n"
            "       minyid config example               print every option, documented, with its\n"
            "                                           default (deploy/minyid.conf.example)\n"
            "       minyid --version\n"
            "--json after a host command prints its answer as one JSON value.\n"
            "       minyid -c FILE audit verify [--witness HEADS.jsonl]\n"
            "                                   recompute the audit chain; exit 3 when broken\n"
            "       minyid -c FILE audit export [--from SEQ] [--to SEQ]   JSON lines\n"
            "       minyid -c FILE audit witness [--peer ID]\n"
            "                                   the heads the bodies below sent, JSON lines\n"
            "       minyid -c FILE erase RECEIPT [--note TEXT]\n"
            "                                   erase a report's personal fields (phone, a\n"
            "                                   citizen's name); an event records it\n"
            "       minyid -c FILE pii rewrap      seal every personal field still under an\n"
            "                                   old key version with the current key\n"
            "Signals: SIGTERM/SIGINT stop gracefully (in-flight commits are answered);\n"
            "         SIGHUP reloads config, certificates and CRL and re-checks open connections.\n");
}

/* Removes every "--json" from argv[0..*argc) and says whether there was
 * one, so each host command takes it in any position. */
static bool take_json_flag(int *argc, char **argv)
{
    bool json = false;
    int w = 0;
    for (int r = 0; r < *argc; r++) {
        if (strcmp(argv[r], "--json") == 0)
            json = true;
        else
            argv[w++] = argv[r];
    }
    *argc = w;
    argv[w] = NULL;
    return json;
}

static int cmd_principal(const struct gw_config *cfg, int argc, char **argv)
{
    char err[512];
    bool json = take_json_flag(&argc, argv);
    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[0], "add") == 0) {
        const char *cert = NULL, *kind = NULL, *name = NULL, *region = NULL, *sector = "";
        static const struct option opts[] = {
            { "cert", required_argument, NULL, 'C' }, { "kind", required_argument, NULL, 'k' },
            { "name", required_argument, NULL, 'n' }, { "region", required_argument, NULL, 'r' },
            { "sector", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 },
        };
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
            switch (c) {
            case 'C': cert = optarg; break;
            case 'k': kind = optarg; break;
            case 'n': name = optarg; break;
            case 'r': region = optarg; break;
            case 's': sector = optarg; break;
            default: usage(stderr); return 2;
            }
        }
        if (cert == NULL || kind == NULL || name == NULL || region == NULL) {
            fprintf(stderr, "minyid: principal add needs --cert, --kind, --name and --region\n");
            return 2;
        }
        enum principal_kind k = principal_kind_parse(kind);
        if (k == PRINCIPAL_NONE) {
            fprintf(stderr, "minyid: unknown kind \"%s\" (contact, editor, peer, office, admin)\n", kind);
            return 2;
        }
        if (!validate_region_code((const uint8_t *)region, strlen(region))) {
            fprintf(stderr, "minyid: region must be a six-digit GB/T 2260 code\n");
            return 2;
        }
        unsigned char fp[32];
        int64_t id;
        if (!certcheck_principal(cfg, cert, fp, err, sizeof(err)) ||
            !store_admin_principal_add(cfg->db_conninfo, fp, k, name, region, sector, &id, err,
                                       sizeof(err))) {
            fprintf(stderr, "minyid: %s\n", err);
            return 1;
        }
        if (json)
            printf("{\"id\":%lld}\n", (long long)id);
        else
            printf("%lld\n", (long long)id);
        return 0;
    }
    if (strcmp(argv[0], "list") == 0) {
        if (!store_admin_principal_list(cfg->db_conninfo, stdout, json, err, sizeof(err))) {
            fprintf(stderr, "minyid: %s\n", err);
            return 1;
        }
        return 0;
    }
    if (strcmp(argv[0], "audit-key") == 0 && argc == 3) {
        char *end;
        uint8_t key[32];
        long long id = strtoll(argv[1], &end, 10);
        if (*end != '\0' || id <= 0) {
            fprintf(stderr, "minyid: principal id must be a positive number\n");
            return 2;
        }
        if (!audit_public_key_read(argv[2], key, err, sizeof(err)) ||
            !store_admin_principal_audit_key(cfg->db_conninfo, id, key, err, sizeof(err))) {
            fprintf(stderr, "minyid: %s\n", err);
            return 1;
        }
        return 0;
    }
    if ((strcmp(argv[0], "disable") == 0 || strcmp(argv[0], "enable") == 0) && argc == 2) {
        char *end;
        long long id = strtoll(argv[1], &end, 10);
        if (*end != '\0' || id <= 0) {
            fprintf(stderr, "minyid: principal id must be a positive number\n");
            return 2;
        }
        if (!store_admin_principal_set_active(cfg->db_conninfo, id, argv[0][0] == 'e', err,
                                              sizeof(err))) {
            fprintf(stderr, "minyid: %s\n", err);
            return 1;
        }
        if (json)
            printf("{\"id\":%lld,\"active\":%s}\n", id, argv[0][0] == 'e' ? "true" : "false");
        return 0;
    }
    usage(stderr);
    return 2;
}

/* minyid migrate [status] [--json] */
static int cmd_migrate(const struct gw_config *cfg, int argc, char **argv)
{
    char err[512];
    bool json = take_json_flag(&argc, argv);
    bool ok;
    if (argc == 0)
        ok = store_migrate(cfg->db_conninfo, cfg->migrations_dir, stdout, json, err, sizeof(err));
    else if (argc == 1 && strcmp(argv[0], "status") == 0)
        ok = store_migrate_status(cfg->db_conninfo, cfg->migrations_dir, stdout, json, err,
                                  sizeof(err));
    else {
        usage(stderr);
        return 2;
    }
    if (!ok) {
        fprintf(stderr, "minyid: %s\n", err);
        return 1;
    }
    return 0;
}

/* minyid audit verify|export|witness: the operator's view of the audit
 * chain, and of the heads of the chains below kept here. */
static int cmd_audit(const struct gw_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        { "witness", required_argument, NULL, 'w' }, { "from", required_argument, NULL, 'f' },
        { "to", required_argument, NULL, 't' }, { "peer", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    const char *witness = NULL;
    long long from = 1, to = 0, peer = 0;
    char err[512], *end;
    EVP_PKEY *key = NULL;
    PGconn *pg = NULL;
    struct audit_verdict verdict;
    bool broken = false, ok;
    int c;

    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'w': witness = optarg; break;
        case 'f':
        case 't':
            *(c == 'f' ? &from : &to) = strtoll(optarg, &end, 10);
            if (*end != '\0' || *(c == 'f' ? &from : &to) < 0) {
                fprintf(stderr, "minyid: --%s takes a sequence number\n", c == 'f' ? "from" : "to");
                return 2;
            }
            break;
        case 'p':
            peer = strtoll(optarg, &end, 10);
            if (*end != '\0' || peer <= 0) {
                fprintf(stderr, "minyid: --peer takes a principal id (minyid principal list)\n");
                return 2;
            }
            break;
        default: usage(stderr); return 2;
        }
    }
    if (strcmp(argv[0], "verify") != 0 && strcmp(argv[0], "export") != 0 &&
        strcmp(argv[0], "witness") != 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[0], "verify") == 0 && cfg->audit_signing_key[0] != '\0') {
        key = sealer_key_load(cfg->audit_signing_key, err, sizeof(err));
        if (key == NULL) {
            fprintf(stderr, "minyid: %s\n", err);
            return 1;
        }
    }
    pg = store_admin_connect(cfg->db_conninfo, err, sizeof(err));
    if (pg == NULL) {
        EVP_PKEY_free(key);
        fprintf(stderr, "minyid: %s\n", err);
        return 1;
    }
    if (strcmp(argv[0], "verify") == 0) {
        ok = audit_verify(pg, key, cfg->body_region, witness, stdout, &verdict, err, sizeof(err));
        broken = verdict.broken_seq != 0;
    } else if (strcmp(argv[0], "export") == 0)
        ok = audit_export(pg, from, to, stdout, err, sizeof(err));
    else
        ok = audit_witness_export(pg, peer, stdout, err, sizeof(err));
    PQfinish(pg);
    EVP_PKEY_free(key);
    if (!ok) {
        fprintf(stderr, "minyid: %s\n", err);
        return 1;
    }
    return broken ? 3 : 0;
}

/* Who runs this command, as an erase event records it: "operator:" and
 * the unix user's name (its uid when the system knows no name).  An
 * erasure has no principal; this is what says who did it. */
static void operator_label(char *out, size_t len)
{
    const struct passwd *pw = getpwuid(getuid());

    if (pw != NULL && pw->pw_name != NULL)
        snprintf(out, len, "operator:%s", pw->pw_name);
    else
        snprintf(out, len, "operator:uid %u", (unsigned)getuid());
}

/* minyid erase RECEIPT [--note TEXT]; argv[0] is "erase". */
static int cmd_erase(const struct gw_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        { "note", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
    };
    const char *note = "erased by the operator";
    char err[512], who[OPERATOR_LABEL_MAX];
    bool erased = false, ok;
    PGconn *pg;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'n') {
            usage(stderr);
            return 2;
        }
        note = optarg;
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    pg = store_admin_connect(cfg->db_conninfo, err, sizeof(err));
    if (pg == NULL) {
        fprintf(stderr, "minyid: %s\n", err);
        return 1;
    }
    operator_label(who, sizeof who);
    ok = privacy_erase(pg, argv[optind], who, note, &erased, err, sizeof(err));
    PQfinish(pg);
    if (!ok) {
        fprintf(stderr, "minyid: %s\n", err);
        return 1;
    }
    printf("%s: personal fields %s\n", argv[optind], erased ? "erased" : "were erased already");
    return 0;
}

/* minyid pii rewrap */
static int cmd_pii(const struct gw_config *cfg, int argc, char **argv)
{
    struct pii_keyring keys;
    char err[512];
    PGconn *pg;
    int n = 0;
    bool ok;

    if (argc != 1 || strcmp(argv[0], "rewrap") != 0) {
        usage(stderr);
        return 2;
    }
    if (!config_read_keyring(cfg, &keys, err, sizeof(err))) {
        fprintf(stderr, "minyid: %s\n", err);
        return 1;
    }
    pg = store_admin_connect(cfg->db_conninfo, err, sizeof(err));
    ok = pg != NULL && privacy_rewrap(pg, &keys, &n, err, sizeof(err));
    PQfinish(pg);
    OPENSSL_cleanse(&keys, sizeof(keys));
    if (!ok) {
        fprintf(stderr, "minyid: %s\n", err);
        return 1;
    }
    printf("rewrapped the personal fields of %d reports with key version %d\n", n,
           cfg->pii_key_version);
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct gw *gw = arg;
    log_info("event=signal signal=%d", (int)sig);
    server_stop(gw);
}

static int run_gateway(struct gw *gw)
{
    char err[512];
    struct pii_keyring keys;
    int rc = 1;

    if (!config_read_keyring(&gw->cfg, &keys, err, sizeof(err))) {
        log_error("event=start_failed reason=\"%s\"", err);
        return 1;
    }
    if (gw->cfg.public_token_key[0] != '\0') {
        if (!config_read_key(gw->cfg.public_token_key, gw->public_key, err, sizeof(err))) {
            log_error("event=start_failed reason=\"%s\"", err);
            return 1;
        }
        gw->public_on = true;
    }
    if (!store_preflight(gw->cfg.db_conninfo, gw->cfg.migrations_dir, err, sizeof(err))) {
        log_error("event=start_failed reason=\"%s\"", err);
        return 1;
    }
    gw->ssl_ctx = tls_server_ctx(&gw->cfg, TLS_DOOR_PROTOCOL, err, sizeof(err));
    if (gw->ssl_ctx == NULL) {
        log_error("event=start_failed reason=\"%s\"", err);
        return 1;
    }
    gw->base = event_base_new();
    if (gw->base == NULL)
        fatal("event_base_new failed");
    gw->mem = membudget_new(gw->base, &gw->cfg.memory_budget_bytes);
    if (gw->mem == NULL)
        fatal("out of memory for the memory budget");
    membudget_prepare_fds(gw->base, gw->cfg.max_connections + MEMBUDGET_FD_RESERVE);

    struct store_config sc = {
        .conninfo = gw->cfg.db_conninfo,
        .pool_size = gw->cfg.db_pool_size,
        .batch_max = gw->cfg.db_batch_max,
        .queue_max = gw->cfg.db_queue_max,
        .reconnect_min_ms = 100,
        .reconnect_max_ms = 5000,
        .query_timeout_ms = gw->cfg.db_query_timeout_ms,
        .body_region = gw->cfg.body_region,
        .pii_key = pii_keyring_key(&keys, keys.current),
        .pii_key_version = gw->cfg.pii_key_version,
        .pii_old_keys = &keys,
    };
    if (gw->public_on && (gw->pub = public_http_new(&gw->cfg)) == NULL) {
        log_error("event=start_failed reason=\"out of memory for the public door\"");
        goto out;
    }
    gw->store = store_open(gw->base, &sc);
    if (gw->store == NULL) {
        log_error("event=start_failed reason=\"cannot start the database pool\"");
        goto out;
    }
    if (!watch_start(gw)) {
        log_error("event=start_failed reason=\"cannot start the live queue\"");
        goto out;
    }
    if (!sealer_start(gw, err, sizeof(err))) {
        log_error("event=start_failed reason=\"%s\"", err);
        goto out;
    }
    if (!forwarder_start(gw)) {
        log_error("event=start_failed reason=\"cannot start the forwarder\"");
        goto out;
    }
    if (!server_start(gw, err, sizeof(err)) || !admin_http_start(gw, err, sizeof(err)) ||
        !console_start(gw, err, sizeof(err))) {
        log_error("event=start_failed reason=\"%s\"", err);
        goto out;
    }
    gw->sig_term = evsignal_new(gw->base, SIGTERM, on_signal, gw);
    gw->sig_int = evsignal_new(gw->base, SIGINT, on_signal, gw);
    event_add(gw->sig_term, NULL);
    event_add(gw->sig_int, NULL);
    if (!reload_install(gw)) {
        log_error("event=start_failed reason=\"cannot handle SIGHUP\"");
        goto out;
    }

    log_info("event=ready listen=%s port=%d region=%s", gw->cfg.listen, gw->cfg.port,
             gw->cfg.body_region);
    /* The line quickstart and tests wait for; plain so it is easy to match. */
    fprintf(stderr, "minyid ready listen=%s port=%d\n", gw->cfg.listen, gw->cfg.port);
    fflush(stderr);
    notify_ready(gw->cfg.listen, gw->cfg.port);

    event_base_dispatch(gw->base);
    /* A second stop signal arriving while we tidy up must not turn a clean
     * exit into death by signal. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_signals, NULL);
    rc = 0;
out:
    admin_http_stop(gw);
    console_stop(gw);
    if (gw->listener != NULL)
        evconnlistener_free(gw->listener);
    while (gw->sessions != NULL)
        session_close(gw->sessions, "exiting");
    watch_stop(gw);
    forwarder_stop(gw);
    sealer_stop(gw);
    if (gw->store != NULL)
        store_free(gw->store);
    public_http_free(gw->pub);
    gw->pub = NULL;
    forwarder_free(gw);
    if (gw->sig_term != NULL)
        event_free(gw->sig_term);
    if (gw->sig_int != NULL)
        event_free(gw->sig_int);
    if (gw->sig_hup != NULL)
        event_free(gw->sig_hup);
    if (gw->grace_ev != NULL)
        event_free(gw->grace_ev);
    quota_free(gw->lim);
    membudget_free(gw->mem);
    event_base_free(gw->base);
    SSL_CTX_free(gw->ssl_ctx);
    OPENSSL_cleanse(&keys, sizeof(keys));
    return rc;
}

int main(int argc, char **argv)
{
    static struct gw gw;
    const char *conf = NULL;
    char err[512];
    int i = 1;

    signal(SIGPIPE, SIG_IGN);
    setvbuf(stderr, NULL, _IOLBF, 0);
    for (; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            conf = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("minyid %s\n", MINYI_VERSION);
            return 0;
        } else {
            break;
        }
    }
    config_defaults(&gw.cfg);
    gw.conf_path = conf;
    /* The example file is the table of options, whatever the config. */
    if (i + 1 < argc && strcmp(argv[i], "config") == 0 && strcmp(argv[i + 1], "example") == 0)
        return config_example_write(stdout) ? 0 : 1;
    if (conf == NULL) {
        usage(stderr);
        return 2;
    }
    if (!config_load(conf, &gw.cfg, err, sizeof(err))) {
        fprintf(stderr, "minyid: %s\n", err);
        return 2;
    }
    log_set_level(gw.cfg.log_level);
    log_set_syslog(gw.cfg.log_syslog, "minyid");
    validate_limits_default(&gw.limits);

    if (i == argc) {
        membudget_tune_malloc(argv);
        return run_gateway(&gw);
    }
    if (strcmp(argv[i], "migrate") == 0)
        return cmd_migrate(&gw.cfg, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "principal") == 0)
        return cmd_principal(&gw.cfg, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "audit") == 0)
        return cmd_audit(&gw.cfg, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "pii") == 0)
        return cmd_pii(&gw.cfg, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "erase") == 0)
        return cmd_erase(&gw.cfg, argc - i, argv + i);
    usage(stderr);
    return 2;
}
