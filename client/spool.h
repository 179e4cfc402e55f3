/*
 * spool: a contact point's submissions kept on disk until the gateway has
 * them.
 *
 * The spool is one directory (the profile's `spool`), one file per
 * submission, named after its client_report_id: CRID.req while it waits,
 * CRID.refused once the gateway refused it for good.  A file holds the
 * request frame exactly as it will be sent (framed, request id 0), so a
 * report goes out later even when the files it was made from are gone.
 * Every file is written under a temporary name, synced, renamed into place
 * and the directory synced, so after a crash at any moment an entry is
 * either wholly there or not there at all.  Sending an entry twice is safe:
 * the gateway answers a repeated client_report_id with the first receipt.
 */
#ifndef MINYI_SPOOL_H
#define MINYI_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "hex.h"

#define SPOOL_CRID_LEN HEX_UUID_TEXT_LEN /* a client_report_id in text form */

struct spool_entry {
    char crid[SPOOL_CRID_LEN + 1];
    bool refused;          /* the gateway refused it; it is never sent again */
    int64_t spooled_at_ms; /* when it was written (the file's time) */
};

/* True when s[0..len) is a client_report_id in UUID form, the only names
 * the spool gives its entries. */
bool spool_crid_ok(const uint8_t *s, size_t len);

/* Writes req (a submit or resubmit frame) as the entry crid, creating the
 * directory when it does not exist; an entry of that name is replaced.
 * When this returns true the entry is on disk for good. */
bool spool_put(const char *dir, const char *crid, const Frame *req, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Reads the waiting entry crid back; free with frame_arena_free(*arena). */
Frame *spool_load(const char *dir, const char *crid, struct frame_arena **arena, char *err,
                  size_t errlen) __attribute__((warn_unused_result));
/* Removes the entry crid (waiting or refused): the gateway has it. */
bool spool_remove(const char *dir, const char *crid, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Renames the waiting entry crid to a refused one. */
bool spool_mark_refused(const char *dir, const char *crid, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Every entry, oldest first, in a malloc'd array (NULL and 0 when the
 * spool is empty or does not exist yet).  Leftover temporary files of
 * writers that died are removed on the way. */
bool spool_list(const char *dir, struct spool_entry **out, size_t *n, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The client_report_id a submission gets when its writer gave none: a
 * UUID made from the SHA-256 of the contact point's certificate, the
 * receipt being revised ("" for a new report) and the report's content, so
 * that running the same command again names the same submission and the
 * gateway answers it with the same receipt.  r's own client_report_id is
 * left out of the hash. */
bool spool_derive_crid(const struct client_profile *p, const char *receipt,
                       const Minyi__V1__Report *r, char out[SPOOL_CRID_LEN + 1], char *err,
                       size_t errlen) __attribute__((warn_unused_result));

#endif
