/*
 * privacy: erasing the personal fields of reports (migration 0023), by the
 * operator (`minyid erase RECEIPT`) and by the retention schedule, which
 * the gateway's once-per-database worker runs (gateway/sealer.c).
 *
 * Blocking libpq: these run from the command line and in that worker
 * process, never in the gateway's event loop.
 */
#ifndef MINYI_PRIVACY_H
#define MINYI_PRIVACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* Reports erased by one retention round at most, so one round is one short
 * transaction however much is due; the next round takes the rest. */
#define PRIVACY_RETAIN_BATCH 500
/* The advisory lock of the one gateway per database that runs the retention
 * schedule; apart from the sealer's (AUDIT_SEALER_LOCK), so a gateway with
 * sealing off does not keep the others from sealing. */
#define PRIVACY_RETENTION_LOCK 0x6d696e7969a0d18LL

/* Erases the personal fields of the report with this receipt and records
 * an 'erase' event with note, made by operator (who ran the command, e.g.
 * "operator:root").  *erased is false when they were erased already.
 * False with the reason in err (also for an unknown receipt). */
bool privacy_erase(PGconn *pg, const char *receipt, const char *operator, const char *note,
                   bool *erased, char *err, size_t errlen) __attribute__((warn_unused_result));

/* One retention round: erases closed reports whose last change is more
 * than days days old, as judged at the database's time plus offset_s
 * seconds (the simulated time of tests; 0 in service).  *n is how many. */
bool privacy_retain(PGconn *pg, int days, int64_t offset_s, int *n, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Wraps every report's data key still under an older key version of kr
 * again with its current key, and gives each report sealed before data keys
 * (directly under a master key) a data key with its fields sealed again
 * under it, in transactions of PRIVACY_RETAIN_BATCH reports; *n is how many
 * reports.  A value no key of kr opens stops it with the report named in
 * err. */
struct pii_keyring;
bool privacy_rewrap(PGconn *pg, const struct pii_keyring *kr, int *n, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
