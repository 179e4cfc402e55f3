/*
 * certcheck: whether a certificate may become a principal.  `principal add`
 * registers only a certificate the gateway would accept in a handshake at
 * this moment: issued by the configured client CA, within its validity
 * period, not revoked by the configured CRL.  Registering one the handshake
 * refuses would only let the operator believe someone can connect.
 */
#ifndef MINYI_CERTCHECK_H
#define MINYI_CERTCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Reads the PEM certificate at path, checks it against the trust of the
 * gateway configured by cfg and writes the SHA-256 fingerprint of its DER
 * form to fp.  False, with the reason in err, when it cannot be read or the
 * gateway would refuse it. */
bool certcheck_principal(const struct gw_config *cfg, const char *path, unsigned char fp[32],
                         char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
