/*
 * config_dests: see config_dests.h.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_dests.h"
#include "utf8.h"

const struct gw_external *config_external(const struct gw_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_externals; i++)
        if (strcmp(cfg->externals[i].name, name) == 0)
            return &cfg->externals[i];
    return NULL;
}

/* A display name is shown in every history line: valid UTF-8 without
 * control characters. */
static bool display_ok(const char *v)
{
    size_t len = strlen(v);

    if (!utf8_valid((const uint8_t *)v, len, NULL))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return false;
    return true;
}

bool config_dests_check(const struct gw_config *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < cfg->n_peers; i++) {
        if (!display_ok(cfg->peers[i].display_name)) {
            snprintf(err, errlen, "[peer.%s] display_name is not one line of UTF-8 text",
                     cfg->peers[i].name);
            return false;
        }
    }
    for (int i = 0; i < cfg->n_externals; i++) {
        const struct gw_external *x = &cfg->externals[i];
        if (x->display_name[0] == '\0') {
            snprintf(err, errlen, "[external.%s] needs display_name", x->name);
            return false;
        }
        if (!display_ok(x->display_name)) {
            snprintf(err, errlen, "[external.%s] display_name is not one line of UTF-8 text",
                     x->name);
            return false;
        }
        if (config_peer(cfg, x->name) != NULL || config_destination_known(cfg, x->name)) {
            snprintf(err, errlen,
                     "[external.%s]: the name is a gateway destination too ([peer.%s] or "
                     "[triage] destinations)", x->name, x->name);
            return false;
        }
    }
    return true;
}

bool config_dest_find(const struct gw_config *cfg, const char *id, const char **display,
                      bool *external)
{
    const struct gw_external *x = config_external(cfg, id);
    const struct gw_peer *p;

    if (x != NULL) {
        *display = x->display_name;
        *external = true;
        return true;
    }
    if (!config_destination_known(cfg, id))
        return false;
    p = config_peer(cfg, id);
    *display = p != NULL && p->display_name[0] != '\0' ? p->display_name : id;
    *external = false;
    return true;
}

/* Appends "id (display[, external])" to out at *n, with a separator after
 * the first; a gateway destination called by its id is just "id". */
static void describe_one(char *out, size_t len, size_t *n, const char *id, const char *display,
                         bool external)
{
    const char *sep = *n > 0 ? ", " : "";
    int k;

    if (*n >= len)
        return;
    if (!external && strcmp(id, display) == 0)
        k = snprintf(out + *n, len - *n, "%s%s", sep, id);
    else
        k = snprintf(out + *n, len - *n, "%s%s (%s%s)", sep, id, display,
                     external ? ", external" : "");
    if (k > 0)
        *n += (size_t)k;
}

void config_dests_describe(const struct gw_config *cfg, char *out, size_t len)
{
    const char *p = cfg->destinations;
    char id[CONFIG_PEER_NAME_MAX + 1];
    size_t n = 0;

    if (len == 0)
        return;
    out[0] = '\0';
    while (*p) {
        const char *display;
        bool external;
        size_t k;

        p += strspn(p, ", ");
        k = strcspn(p, ", ");
        if (k > 0 && k <= CONFIG_PEER_NAME_MAX) {
            memcpy(id, p, k);
            id[k] = '\0';
            if (config_dest_find(cfg, id, &display, &external))
                describe_one(out, len, &n, id, display, external);
        }
        p += k;
    }
    for (int i = 0; i < cfg->n_externals; i++)
        describe_one(out, len, &n, cfg->externals[i].name, cfg->externals[i].display_name, true);
    if (n == 0)
        snprintf(out, len, "(none)");
}
