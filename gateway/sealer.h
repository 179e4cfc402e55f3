/*
 * sealer: the process of minyid that seals the audit chain (storage/audit.h).
 *
 * It is a child process, not a part of the event loop, because sealing is a
 * sequence of blocking database calls with nobody waiting on their answers;
 * in a process of its own it can never delay a request, and it dies with
 * its gateway (PR_SET_PDEATHSIG).  Every gateway on a database starts one;
 * the one that holds the advisory lock AUDIT_SEALER_LOCK seals, the others
 * retry the lock, so exactly one seals and another takes over within a
 * round when that gateway dies.
 *
 * The same process runs the other work that must run once per database on
 * the calendar: the retention schedule's rounds ([privacy] retention_days,
 * storage/privacy.h), every retention_interval_s, under a lock of its own
 * (PRIVACY_RETENTION_LOCK): a gateway with sealing off never takes the
 * sealer's lock, so it cannot keep another gateway from sealing.
 */
#ifndef MINYI_SEALER_H
#define MINYI_SEALER_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

struct gw;

/* Pause before a sealer that exited is started again, and between
 * attempts to connect or to take the lock. */
#define SEALER_RESTART_MS 1000

/* Reads the Ed25519 private key at path (PEM), refusing a file group or
 * others may access.  NULL with the reason in err. */
EVP_PKEY *sealer_key_load(const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Starts the sealer process when [audit] seal = 1 or retention is on (else
 * does nothing) and
 * watches it: one that exits is started again.  The signing key is checked
 * here, so a bad key stops the gateway's start. */
bool sealer_start(struct gw *gw, char *err, size_t errlen) __attribute__((warn_unused_result));

/* SIGHUP, once gw->cfg holds the reloaded config (prev the one before):
 * when a setting the sealer process runs with changed (seal_interval_ms,
 * seal_batch_max, sign_every, sign_interval_s, the log level or syslog),
 * the process is stopped (it finishes its round) and started again at once
 * with them.  It keeps no state of its own beyond its database: the chain's
 * progress is there, and the new process signs a head at once as any new
 * holder of the lock does. */
struct gw_config;
void sealer_reload(struct gw *gw, const struct gw_config *prev);

/* Stops the sealer (SIGTERM; it finishes its round) and waits for it. */
void sealer_stop(struct gw *gw);

#endif
