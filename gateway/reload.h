/*
 * reload: SIGHUP.  Reads the config file again, builds a new SSL_CTX from
 * it (certificate, key, client CA, CRL) for new connections, takes over the
 * limits and deadlines, and checks every open connection again: one whose
 * client certificate the new CRL revokes, or whose principal is now
 * disabled or gone, is closed.  Healthy connections keep their TLS session
 * (an SSL object holds a reference to the context it was made from).  A
 * config or certificate that does not load leaves everything as it was.
 * The listen address, port, database, PII key and region stay as they were
 * started; changing them needs a restart (a warning says so).
 */
#ifndef MINYI_RELOAD_H
#define MINYI_RELOAD_H

#include <stdbool.h>

#include "server.h"

/* Installs the SIGHUP handler on gw->base (gw->sig_hup). */
bool reload_install(struct gw *gw) __attribute__((warn_unused_result));

/* Does what SIGHUP does; true when the new config and context were taken. */
bool reload_now(struct gw *gw);

#endif
