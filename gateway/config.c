/*
 * config: reading the INI file through the table of options
 * (config_options.c), the [peer.NAME] sections, and the key file.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "addrlist.h"
#include "config.h"
#include "config_dests.h"
#include "config_points.h"
#include "keyfile.h"
#include "log.h"
#include "pii.h"
#include "validate.h"

struct load_ctx {
    struct gw_config *cfg;
    char dir[CONFIG_PATH_MAX];
    char err[512];
};

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
    const struct config_option *o;

    if (pname[0] == '\0' || strlen(pname) > CONFIG_PEER_NAME_MAX || strchr(pname, ',') ||
        strchr(pname, ' ') || !config_names_ok(pname)) {
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
    o = config_option_find(config_peer_options, NULL, name);
    if (o == NULL) {
        snprintf(ctx->err, sizeof(ctx->err), "unknown option [peer.%s] %s", pname, name);
        return 0;
    }
    if (!config_option_set(o, p, ctx->dir, value)) {
        snprintf(ctx->err, sizeof(ctx->err), "bad value for [peer.%s] %s: \"%s\"", pname, name,
                 value);
        return 0;
    }
    return 1;
}

#define EXTERNAL_PREFIX "external."

/* One option of an [external.NAME] section; 1 when taken, 0 when bad. */
static int on_external_option(struct load_ctx *ctx, const char *xname, const char *name,
                              const char *value)
{
    struct gw_config *cfg = ctx->cfg;
    struct gw_external *x = (struct gw_external *)config_external(cfg, xname);
    const struct config_option *o;

    if (xname[0] == '\0' || strlen(xname) > CONFIG_PEER_NAME_MAX || strchr(xname, ',') ||
        strchr(xname, ' ') || !config_names_ok(xname)) {
        snprintf(ctx->err, sizeof(ctx->err), "bad destination name [external.%s]", xname);
        return 0;
    }
    if (x == NULL) {
        if (cfg->n_externals >= CONFIG_EXTERNALS_MAX) {
            snprintf(ctx->err, sizeof(ctx->err), "more than %d [external.NAME] sections",
                     CONFIG_EXTERNALS_MAX);
            return 0;
        }
        x = &cfg->externals[cfg->n_externals++];
        memset(x, 0, sizeof(*x));
        snprintf(x->name, sizeof(x->name), "%s", xname);
    }
    o = config_option_find(config_external_options, NULL, name);
    if (o == NULL) {
        snprintf(ctx->err, sizeof(ctx->err), "unknown option [external.%s] %s", xname, name);
        return 0;
    }
    if (!config_option_set(o, x, ctx->dir, value)) {
        snprintf(ctx->err, sizeof(ctx->err), "bad value for [external.%s] %s: \"%s\"", xname,
                 name, value);
        return 0;
    }
    return 1;
}

/* A peer's host list: one to CONFIG_PEER_ADDRS_MAX well-formed addresses,
 * each with a port (its own or the section's port) that the port row of
 * the table accepts. */
static bool peer_addresses_ok(const struct gw_peer *p, char *err, size_t errlen)
{
    const struct config_option *port_row = config_option_find(config_peer_options, NULL, "port");
    char dport[CONFIG_PORT_TEXT_MAX] = "", host[CONFIG_HOST_MAX], port[CONFIG_PORT_TEXT_MAX];
    const char *cursor = p->host, *before = cursor;
    struct gw_peer scratch;
    int n = 0;

    if (p->port > 0)
        snprintf(dport, sizeof(dport), "%d", p->port);
    while (addrlist_next(&cursor, dport, host, sizeof(host), port, sizeof(port))) {
        if (++n > CONFIG_PEER_ADDRS_MAX || !config_option_set(port_row, &scratch, NULL, port))
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

/* Every peer needs the options its table marks required and a well-formed
 * host list; the name its certificate must carry defaults to the host it
 * is reached at (with a list of addresses, to each address as it is
 * tried). */
static bool peers_complete(struct gw_config *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < cfg->n_peers; i++) {
        struct gw_peer *p = &cfg->peers[i];
        for (const struct config_option *o = config_peer_options; o->name != NULL; o++) {
            if ((o->flags & CONFIG_REQUIRED) && !config_option_is_set(o, p)) {
                snprintf(err, errlen, "[peer.%s] needs %s", p->name, o->name);
                return false;
            }
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
    const struct config_option *o;

    if (strncmp(section, PEER_PREFIX, strlen(PEER_PREFIX)) == 0)
        return on_peer_option(ctx, section + strlen(PEER_PREFIX), name, value);
    if (strncmp(section, EXTERNAL_PREFIX, strlen(EXTERNAL_PREFIX)) == 0)
        return on_external_option(ctx, section + strlen(EXTERNAL_PREFIX), name, value);
    o = config_option_find(config_options, section, name);
    if (o == NULL) {
        snprintf(ctx->err, sizeof(ctx->err), "unknown option [%s] %s", section, name);
        return 0;
    }
    /* A [points] key names a figure; its own parser says what is wrong. */
    if (o->type == CONFIG_POINTS)
        return config_points_option(&ctx->cfg->points, &ctx->cfg->points_replaced, name, value,
                                    ctx->err, sizeof(ctx->err));
    if (!config_option_set(o, ctx->cfg, ctx->dir, value)) {
        snprintf(ctx->err, sizeof(ctx->err), "bad value for [%s] %s: \"%s\"", section, name,
                 value);
        return 0;
    }
    return 1;
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
    if (!peers_complete(cfg, ctx.err, sizeof(ctx.err)) ||
        !config_dests_check(cfg, ctx.err, sizeof(ctx.err))) {
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
