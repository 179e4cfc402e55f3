#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "addrlist.h"
#include "config.h"
#include "config_points.h"
#include "keyfile.h"
#include "log.h"
#include "paths.h"
#include "pii.h"
#include "validate.h"

struct load_ctx {
    struct gw_config *cfg;
    char dir[CONFIG_PATH_MAX];
    char err[512];
};

void config_defaults(struct gw_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1");
    cfg->port = 7443;
    snprintf(cfg->body_region, sizeof(cfg->body_region), "330400");
    snprintf(cfg->body_name, sizeof(cfg->body_name), "minyi");
    cfg->max_frame_bytes = 1u << 20;
    cfg->decode_budget_bytes = 8u << 20;
    cfg->max_inflight = 256;
    cfg->handshake_timeout_ms = 10000;
    cfg->frame_timeout_ms = 30000;
    cfg->idle_timeout_ms = 300000;
    cfg->max_connections = 10000;
    cfg->max_connections_per_ip = 256;
    cfg->rate_per_s = 100;
    cfg->rate_burst = 1000;
    cfg->shutdown_grace_ms = 30000;
    cfg->memory_budget_bytes = 64u << 20;
    cfg->output_high_water_bytes = 256u << 10;
    cfg->output_stall_timeout_ms = 30000;
    snprintf(cfg->db_conninfo, sizeof(cfg->db_conninfo), "dbname=minyi");
    cfg->db_pool_size = 4;
    cfg->db_batch_max = 256;
    cfg->db_queue_max = 10000;
    cfg->db_query_timeout_ms = 10000;
    paths_migrations_default(cfg->migrations_dir, sizeof(cfg->migrations_dir));
    cfg->pii_key_version = 1;
    cfg->retention_days = 0;
    cfg->retention_interval_s = 3600;
    snprintf(cfg->admin_listen, sizeof(cfg->admin_listen), "127.0.0.1");
    cfg->admin_port = 0;
    cfg->log_level = LOG_INFO;
    cfg->claim_lease_s = 1800;
    cfg->deadline_received_s = 259200;
    cfg->deadline_in_review_s = 604800;
    snprintf(cfg->destinations, sizeof(cfg->destinations), "province");
    cfg->fwd_poll_ms = 1000;
    cfg->results_interval_ms = 10000;
    cfg->fwd_lease_s = 120;
    cfg->fwd_claim_max = 64;
    cfg->fwd_max_attempts = 20;
    cfg->fwd_backoff_min_ms = 1000;
    cfg->fwd_backoff_max_ms = 600000;
    cfg->fwd_reconnect_min_ms = 1000;
    cfg->fwd_reconnect_max_ms = 60000;
    cfg->fwd_timeout_ms = 30000;
    cfg->audit_seal = 1;
    cfg->audit_seal_interval_ms = 1000;
    cfg->audit_seal_batch_max = 10000;
    cfg->audit_sign_every = 1000;
    cfg->audit_sign_interval_s = 60;
    config_points_defaults(&cfg->points);
}

/* Destination names: letters, digits, '_', '.', '-', separated by commas
 * (spaces around them allowed). */
static bool destinations_ok(const char *v)
{
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("_.-, ", *p) == NULL)
            return false;
    return true;
}

bool config_destination_known(const struct gw_config *cfg, const char *name)
{
    size_t n = strlen(name);
    const char *p = cfg->destinations;

    if (n == 0)
        return false;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t k = strcspn(p, ", ");
        if (k == n && strncmp(p, name, n) == 0)
            return true;
        p += k;
    }
    return false;
}

static bool parse_int(const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
        return false;
    *out = n;
    return true;
}

/* Copies a path, making it absolute relative to the config file's dir. */
static bool set_path(struct load_ctx *ctx, char *dst, const char *v)
{
    int n;
    if (v[0] == '\0' || v[0] == '/')
        n = snprintf(dst, CONFIG_PATH_MAX, "%s", v);
    else
        n = snprintf(dst, CONFIG_PATH_MAX, "%s/%s", ctx->dir, v);
    return n >= 0 && n < CONFIG_PATH_MAX;
}

/* "on" or "off", nothing else, so a typo is an error and not a silent off. */
static bool parse_on_off(const char *v, bool *out)
{
    if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
        return false;
    *out = strcmp(v, "on") == 0;
    return true;
}

static bool set_str(char *dst, size_t size, const char *v)
{
    int n = snprintf(dst, size, "%s", v);
    return n >= 0 && (size_t)n < size;
}

/* [privacy] old_key_files: VERSION:PATH entries separated by spaces, each
 * path relative to the config file's directory unless absolute. */
static bool old_keys_parse(struct load_ctx *ctx, struct gw_config *cfg, const char *v)
{
    char buf[CONFIG_PATH_MAX * 4], *save = NULL, *tok;

    if (!set_str(buf, sizeof buf, v))
        return false;
    cfg->n_pii_old = 0;
    for (tok = strtok_r(buf, " \t,", &save); tok != NULL; tok = strtok_r(NULL, " \t,", &save)) {
        char *colon = strchr(tok, ':'), *end;
        long ver;
        if (colon == NULL || cfg->n_pii_old == CONFIG_OLD_KEYS_MAX)
            return false;
        *colon = '\0';
        ver = strtol(tok, &end, 10);
        if (*end != '\0' || ver < 1 || ver > 1000000 || colon[1] == '\0' ||
            !set_path(ctx, cfg->pii_old_files[cfg->n_pii_old], colon + 1))
            return false;
        cfg->pii_old_versions[cfg->n_pii_old++] = (int)ver;
    }
    return true;
}

#define INT_OPT(sec, key, field, lo, hi)                                   \
    if (strcmp(section, sec) == 0 && strcmp(name, key) == 0) {             \
        long n_;                                                           \
        if (!parse_int(value, lo, hi, &n_)) goto bad;                      \
        cfg->field = n_;                                                   \
        return 1;                                                          \
    }
#define STR_OPT(sec, key, field)                                           \
    if (strcmp(section, sec) == 0 && strcmp(name, key) == 0) {             \
        if (!set_str(cfg->field, sizeof(cfg->field), value)) goto bad;     \
        return 1;                                                          \
    }
#define PATH_OPT(sec, key, field)                                          \
    if (strcmp(section, sec) == 0 && strcmp(name, key) == 0) {             \
        if (!set_path(ctx, cfg->field, value)) goto bad;                   \
        return 1;                                                          \
    }

const struct gw_peer *config_peer(const struct gw_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_peers; i++)
        if (strcmp(cfg->peers[i].name, name) == 0)
            return &cfg->peers[i];
    return NULL;
}

#define PEER_PREFIX "peer."

/* One option of a [peer.NAME] section; 1 when taken, 0 when bad. */
static int on_peer_option(struct load_ctx *ctx, const char *pname, const char *name,
                          const char *value)
{
    struct gw_config *cfg = ctx->cfg;
    struct gw_peer *p = (struct gw_peer *)config_peer(cfg, pname);
    long n;

    if (pname[0] == '\0' || strlen(pname) > CONFIG_PEER_NAME_MAX || strchr(pname, ',') ||
        strchr(pname, ' ') || !destinations_ok(pname)) {
        snprintf(ctx->err, sizeof(ctx->err), "bad peer name [peer.%s]", pname);
        return 0;
    }
    if (p == NULL) {
        if (cfg->n_peers >= CONFIG_PEERS_MAX) {
            snprintf(ctx->err, sizeof(ctx->err), "more than %d [peer.NAME] sections",
                     CONFIG_PEERS_MAX);
            return 0;
        }
        p = &cfg->peers[cfg->n_peers++];
        memset(p, 0, sizeof(*p));
        snprintf(p->name, sizeof(p->name), "%s", pname);
    }
    if (strcmp(name, "host") == 0 && value[0] && set_str(p->host, sizeof(p->host), value))
        return 1;
    if (strcmp(name, "port") == 0 && parse_int(value, 1, 65535, &n)) {
        p->port = (int)n;
        return 1;
    }
    if (strcmp(name, "server_name") == 0 && set_str(p->server_name, sizeof(p->server_name), value))
        return 1;
    if (strcmp(name, "ca") == 0 && value[0] && set_path(ctx, p->ca, value))
        return 1;
    if (strcmp(name, "cert") == 0 && value[0] && set_path(ctx, p->cert, value))
        return 1;
    if (strcmp(name, "key") == 0 && value[0] && set_path(ctx, p->key, value))
        return 1;
    if (strcmp(name, "host") != 0 && strcmp(name, "port") != 0 && strcmp(name, "ca") != 0 &&
        strcmp(name, "server_name") != 0 && strcmp(name, "cert") != 0 && strcmp(name, "key") != 0)
        snprintf(ctx->err, sizeof(ctx->err), "unknown option [peer.%s] %s", pname, name);
    else
        snprintf(ctx->err, sizeof(ctx->err), "bad value for [peer.%s] %s: \"%s\"", pname, name,
                 value);
    return 0;
}

/* A peer's host list: one to CONFIG_PEER_ADDRS_MAX well-formed addresses,
 * each with a port (its own or the section's port). */
static bool peer_addresses_ok(const struct gw_peer *p, char *err, size_t errlen)
{
    char dport[CONFIG_PORT_TEXT_MAX] = "", host[CONFIG_HOST_MAX], port[CONFIG_PORT_TEXT_MAX];
    const char *cursor = p->host, *before = cursor;
    int n = 0;
    long v;

    if (p->port > 0)
        snprintf(dport, sizeof(dport), "%d", p->port);
    while (addrlist_next(&cursor, dport, host, sizeof(host), port, sizeof(port))) {
        if (++n > CONFIG_PEER_ADDRS_MAX || !parse_int(port, 1, 65535, &v))
            break;
        before = cursor;
    }
    /* The loop ends at the end of the list, or at an address that is
     * malformed, has no port, or is one too many. */
    before += strspn(before, ", ");
    if (n == 0 || *before != '\0') {
        snprintf(err, errlen,
                 "bad value for [peer.%s] host: \"%s\" (one to %d addresses such as "
                 "a.example, a.example:7443 or [::1]:7443, separated by commas; an address "
                 "without a port needs port =)", p->name, p->host, CONFIG_PEER_ADDRS_MAX);
        return false;
    }
    return true;
}

/* Every peer needs an address, its CA and our certificate; the name its
 * certificate must carry defaults to the host it is reached at (with a
 * list of addresses, to each address as it is tried). */
static bool peers_complete(struct gw_config *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < cfg->n_peers; i++) {
        struct gw_peer *p = &cfg->peers[i];
        const char *missing = !p->host[0] ? "host" : !p->ca[0] ? "ca"
                              : !p->cert[0] ? "cert" : !p->key[0] ? "key" : NULL;
        if (missing != NULL) {
            snprintf(err, errlen, "[peer.%s] needs %s", p->name, missing);
            return false;
        }
        if (!peer_addresses_ok(p, err, errlen))
            return false;
        if (!p->server_name[0] && !addrlist_is_list(p->host))
            memcpy(p->server_name, p->host, sizeof(p->server_name));
    }
    return true;
}

static int on_option(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *ctx = user;
    struct gw_config *cfg = ctx->cfg;

    if (strncmp(section, PEER_PREFIX, strlen(PEER_PREFIX)) == 0)
        return on_peer_option(ctx, section + strlen(PEER_PREFIX), name, value);
    if (strcmp(section, "points") == 0)
        return config_points_option(&cfg->points, &cfg->points_replaced, name, value, ctx->err,
                                    sizeof(ctx->err));

    STR_OPT("gateway", "listen", listen)
    INT_OPT("gateway", "port", port, 1, 65535)
    if (strcmp(section, "gateway") == 0 && strcmp(name, "body_region") == 0) {
        if (!validate_region_code((const uint8_t *)value, strlen(value)))
            goto bad;
        memcpy(cfg->body_region, value, VALIDATE_REGION_LEN + 1);
        return 1;
    }
    STR_OPT("gateway", "body_name", body_name)
    INT_OPT("gateway", "max_frame_bytes", max_frame_bytes, 1024, 64L << 20)
    INT_OPT("gateway", "decode_budget_bytes", decode_budget_bytes, 4096, 1L << 30)
    INT_OPT("gateway", "max_inflight", max_inflight, 1, 65536)
    INT_OPT("gateway", "handshake_timeout_ms", handshake_timeout_ms, 1, 3600000)
    INT_OPT("gateway", "frame_timeout_ms", frame_timeout_ms, 1, 3600000)
    INT_OPT("gateway", "idle_timeout_ms", idle_timeout_ms, 1, 86400000)
    INT_OPT("gateway", "max_connections", max_connections, 1, 1000000)
    INT_OPT("gateway", "max_connections_per_ip", max_connections_per_ip, 1, 1000000)
    INT_OPT("gateway", "rate_per_s", rate_per_s, 0, 1000000)
    INT_OPT("gateway", "rate_burst", rate_burst, 1, 1000000)
    INT_OPT("gateway", "shutdown_grace_ms", shutdown_grace_ms, 0, 3600000)
    INT_OPT("gateway", "memory_budget_bytes", memory_budget_bytes, 1L << 20, 1L << 40)
    INT_OPT("gateway", "output_high_water_bytes", output_high_water_bytes, 1024, 1L << 30)
    INT_OPT("gateway", "output_stall_timeout_ms", output_stall_timeout_ms, 1, 3600000)
    PATH_OPT("tls", "cert", tls_cert)
    PATH_OPT("tls", "key", tls_key)
    PATH_OPT("tls", "client_ca", tls_client_ca)
    PATH_OPT("tls", "crl", tls_crl)
    STR_OPT("database", "conninfo", db_conninfo)
    INT_OPT("database", "pool_size", db_pool_size, 1, 256)
    INT_OPT("database", "batch_max", db_batch_max, 1, 10000)
    INT_OPT("database", "queue_max", db_queue_max, 1, 10000000)
    INT_OPT("database", "query_timeout_ms", db_query_timeout_ms, 1, 3600000)
    if (strcmp(section, "database") == 0 && strcmp(name, "migrations_dir") == 0) {
        if (value[0] == '\0')
            return 1;
        if (!set_path(ctx, cfg->migrations_dir, value))
            goto bad;
        return 1;
    }
    PATH_OPT("privacy", "key_file", pii_key_file)
    INT_OPT("privacy", "key_version", pii_key_version, 1, 1000000)
    if (strcmp(section, "privacy") == 0 && strcmp(name, "old_key_files") == 0) {
        if (!old_keys_parse(ctx, cfg, value))
            goto bad;
        return 1;
    }
    INT_OPT("privacy", "retention_days", retention_days, 0, 36500)
    INT_OPT("privacy", "retention_interval_s", retention_interval_s, 1, 86400)
    STR_OPT("admin", "listen", admin_listen)
    INT_OPT("admin", "port", admin_port, 0, 65535)
    if (strcmp(section, "log") == 0 && strcmp(name, "level") == 0) {
        int l = log_level_parse(value);
        if (l < 0)
            goto bad;
        cfg->log_level = l;
        return 1;
    }
    if (strcmp(section, "log") == 0 && strcmp(name, "syslog") == 0) {
        if (!parse_on_off(value, &cfg->log_syslog))
            goto bad;
        return 1;
    }
    INT_OPT("triage", "claim_lease_s", claim_lease_s, 1, 86400)
    INT_OPT("triage", "deadline_received_s", deadline_received_s, 0, 31536000)
    INT_OPT("triage", "deadline_in_review_s", deadline_in_review_s, 0, 31536000)
    if (strcmp(section, "triage") == 0 && strcmp(name, "destinations") == 0) {
        if (!destinations_ok(value) || !set_str(cfg->destinations, sizeof(cfg->destinations), value))
            goto bad;
        return 1;
    }
    INT_OPT("forward", "poll_ms", fwd_poll_ms, 10, 3600000)
    INT_OPT("forward", "results_interval_ms", results_interval_ms, 10, 3600000)
    INT_OPT("forward", "lease_s", fwd_lease_s, 1, 86400)
    INT_OPT("forward", "claim_max", fwd_claim_max, 1, 10000)
    INT_OPT("forward", "max_attempts", fwd_max_attempts, 1, 1000)
    INT_OPT("forward", "backoff_min_ms", fwd_backoff_min_ms, 1, 86400000)
    INT_OPT("forward", "backoff_max_ms", fwd_backoff_max_ms, 1, 86400000)
    INT_OPT("forward", "reconnect_min_ms", fwd_reconnect_min_ms, 1, 86400000)
    INT_OPT("forward", "reconnect_max_ms", fwd_reconnect_max_ms, 1, 86400000)
    INT_OPT("forward", "timeout_ms", fwd_timeout_ms, 1, 3600000)
    INT_OPT("audit", "seal", audit_seal, 0, 1)
    INT_OPT("audit", "seal_interval_ms", audit_seal_interval_ms, 10, 3600000)
    INT_OPT("audit", "seal_batch_max", audit_seal_batch_max, 1, 1000000)
    PATH_OPT("audit", "signing_key_file", audit_signing_key)
    INT_OPT("audit", "sign_every", audit_sign_every, 1, 100000000)
    INT_OPT("audit", "sign_interval_s", audit_sign_interval_s, 1, 86400)
    snprintf(ctx->err, sizeof(ctx->err), "unknown option [%s] %s", section, name);
    return 0;
bad:
    snprintf(ctx->err, sizeof(ctx->err), "bad value for [%s] %s: \"%s\"", section, name, value);
    return 0;
}

bool config_load(const char *path, struct gw_config *cfg, char *err, size_t errlen)
{
    struct load_ctx ctx = { .cfg = cfg };
    char resolved[PATH_MAX];

    if (realpath(path, resolved) == NULL) {
        snprintf(err, errlen, "config %s: %s", path, strerror(errno));
        return false;
    }
    char *slash = strrchr(resolved, '/');
    if (slash != NULL)
        *slash = '\0';
    if (strlen(resolved) >= sizeof(ctx.dir)) {
        snprintf(err, errlen, "config %s: directory path too long", path);
        return false;
    }
    strcpy(ctx.dir, resolved[0] ? resolved : "/");

    int rc = ini_parse(path, on_option, &ctx);
    if (rc < 0) {
        snprintf(err, errlen, "config %s: cannot read", path);
        return false;
    }
    if (rc > 0) {
        snprintf(err, errlen, "config %s line %d: %s", path, rc,
                 ctx.err[0] ? ctx.err : "syntax error");
        return false;
    }
    /* A frame is granted its whole length at once, so a budget smaller
     * than the largest frame would leave such a frame waiting for ever. */
    if (cfg->memory_budget_bytes < cfg->max_frame_bytes) {
        snprintf(err, errlen, "config %s: memory_budget_bytes (%zu) is below max_frame_bytes (%zu)",
                 path, cfg->memory_budget_bytes, cfg->max_frame_bytes);
        return false;
    }
    if (!peers_complete(cfg, ctx.err, sizeof(ctx.err))) {
        snprintf(err, errlen, "config %s: %s", path, ctx.err);
        return false;
    }
    return true;
}

bool config_read_key(const char *path, unsigned char key[32], char *err, size_t errlen)
{
    char buf[130];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
        return false;
    }
    if (!keyfile_check_private(fileno(f), path, err, errlen)) {
        fclose(f);
        return false;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    bool ok = pii_key_parse_hex(buf, key);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (!ok)
        snprintf(err, errlen, "key file %s: expected 64 hex characters", path);
    return ok;
}

bool config_read_keyring(const struct gw_config *cfg, struct pii_keyring *kr, char *err,
                         size_t errlen)
{
    struct pii_keyring old = { 0 };
    uint8_t key[PII_KEY_LEN];
    bool ok = false;

    for (int i = 0; i < cfg->n_pii_old; i++) {
        old.keys[i].version = (uint32_t)cfg->pii_old_versions[i];
        if (!config_read_key(cfg->pii_old_files[i], old.keys[i].key, err, errlen))
            goto fail;
        old.n++;
    }
    if (!config_read_key(cfg->pii_key_file, key, err, errlen))
        goto fail;
    ok = pii_keyring_build(kr, key, (uint32_t)cfg->pii_key_version, &old);
    if (!ok)
        snprintf(err, errlen, "too many personal-data keys");
fail:
    OPENSSL_cleanse(&old, sizeof old);
    OPENSSL_cleanse(key, sizeof key);
    return ok;
}
