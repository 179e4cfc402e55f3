/*
 * config: reading the INI file through the table of options
 * (config_options.c), the named sections ([peer.NAME], [external.NAME],
 * through a table of their own), and the key file.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
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


/* A kind of named section ([peer.NAME], [external.NAME]): the array of
 * gw_config its entries go to, and the options an entry takes.  An entry's
 * first member is its name. */
struct named_section {
    const char *prefix;                  /* with the dot: "peer." */
    const char *noun;                    /* what a bad name is called in the error */
    const struct config_option *options;
    size_t array, count;                 /* offsets in gw_config of the entries and their number */
    size_t size;                         /* of one entry */
    int max;
};

_Static_assert(offsetof(struct gw_peer, name) == 0, "a peer begins with its name");
_Static_assert(offsetof(struct gw_external, name) == 0, "an external begins with its name");

static const struct named_section named_sections[] = {
    { "peer.", "peer", config_peer_options, offsetof(struct gw_config, peers),
      offsetof(struct gw_config, n_peers), sizeof(struct gw_peer), CONFIG_PEERS_MAX },
    { "external.", "destination", config_external_options,
      offsetof(struct gw_config, externals), offsetof(struct gw_config, n_externals),
      sizeof(struct gw_external), CONFIG_EXTERNALS_MAX },
};

/* One option of the section sec.NAME (NAME in sname); 1 when taken, 0 when
 * bad.  The entry is made at its section's first option. */
static int on_named_option(struct load_ctx *ctx, const struct named_section *sec,
                           const char *sname, const char *name, const char *value)
{
    char *entries = (char *)ctx->cfg + sec->array;
    int *n = (int *)(void *)((char *)ctx->cfg + sec->count);
    char *entry = NULL;
    const struct config_option *o;

    if (sname[0] == '\0' || strlen(sname) > CONFIG_PEER_NAME_MAX || strchr(sname, ',') ||
        strchr(sname, ' ') || !config_names_ok(sname)) {
        snprintf(ctx->err, sizeof(ctx->err), "bad %s name [%s%s]", sec->noun, sec->prefix, sname);
        return 0;
    }
    for (int i = 0; i < *n && entry == NULL; i++)
        if (strcmp(entries + (size_t)i * sec->size, sname) == 0)
            entry = entries + (size_t)i * sec->size;
    if (entry == NULL) {
        if (*n >= sec->max) {
            snprintf(ctx->err, sizeof(ctx->err), "more than %d [%sNAME] sections", sec->max,
                     sec->prefix);
            return 0;
        }
        entry = entries + (size_t)(*n)++ * sec->size;
        memset(entry, 0, sec->size);
        snprintf(entry, CONFIG_PEER_NAME_MAX + 1, "%s", sname);
    }
    o = config_option_find(sec->options, NULL, name);
    if (o == NULL) {
        snprintf(ctx->err, sizeof(ctx->err), "unknown option [%s%s] %s", sec->prefix, sname,
                 name);
        return 0;
    }
    if (!config_option_set(o, entry, ctx->dir, value)) {
        snprintf(ctx->err, sizeof(ctx->err), "bad value for [%s%s] %s: \"%s\"", sec->prefix,
                 sname, name, value);
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

    for (size_t i = 0; i < sizeof named_sections / sizeof named_sections[0]; i++) {
        const struct named_section *sec = &named_sections[i];
        if (strncmp(section, sec->prefix, strlen(sec->prefix)) == 0)
            return on_named_option(ctx, sec, section + strlen(sec->prefix), name, value);
    }
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
