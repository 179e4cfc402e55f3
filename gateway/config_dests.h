/*
 * config_dests: the destinations of a FORWARD as the config names them —
 * the gateways above ([peer.NAME], listed in [triage] destinations) and
 * the offices outside the hierarchy ([external.NAME]: 市委办公室,
 * departments), each with its id (NAME, what `forward --to` and
 * DecideRequest.destinations name) and its display name (what histories
 * and listings show).
 *
 *   [peer.province]
 *   display_name = 浙江省政协        ; optional: the id otherwise
 *
 *   [external.swb]
 *   display_name = 市委办公室        ; required
 */
#ifndef MINYI_CONFIG_DESTS_H
#define MINYI_CONFIG_DESTS_H

#include <stdbool.h>
#include <stddef.h>

struct gw_config;
struct gw_external;

/* The [external.NAME] section of name, or NULL. */
const struct gw_external *config_external(const struct gw_config *cfg, const char *name);

/* After the whole file: every [external.NAME] has a display name, every
 * display name is one line of valid UTF-8, and no id names both a gateway
 * destination and an external one.  False with why in err. */
bool config_dests_check(const struct gw_config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The destination id of this gateway: a [triage] destinations entry or an
 * [external.NAME].  Sets its display name (the id when it has none) and
 * whether it is external; false when id is not a destination here. */
bool config_dest_find(const struct gw_config *cfg, const char *id, const char **display,
                      bool *external);

/* Every destination of this gateway as "id (display name), ..." with
 * external ones marked, for an editor who named an unknown one; "(none)"
 * when there are none. */
void config_dests_describe(const struct gw_config *cfg, char *out, size_t len);

#endif
