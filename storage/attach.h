/*
 * attach: a report's attachments as the triage functions answer them
 * (migration 0014) turned into protocol messages — the list an editor's
 * show carries, one attachment with its content, and the attachments a
 * forward carries upward.  The database gives content and SHA-256 in hex;
 * they are decoded here byte for byte and never recomputed, so what the
 * receiving instance checks is what was stored at intake.
 */
#ifndef MINYI_ATTACH_H
#define MINYI_ATTACH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "minyi.pb-c.h"

/* The "attachments" array of a show answer (index, name, media_type,
 * size, sha256) into m->attachments.  False when out of memory or when
 * the array is malformed. */
bool attach_show_list(const json_t *arr, Minyi__V1__ShowResponse *m)
    __attribute__((warn_unused_result));
/* One attachment (name, media_type, sha256, content) into a. */
bool attach_fill(const json_t *x, Minyi__V1__Attachment *a) __attribute__((warn_unused_result));
/* The "attachments" array of a claimed outbox row into r->attachments. */
bool attach_report_list(const json_t *arr, Minyi__V1__Report *r)
    __attribute__((warn_unused_result));

#endif
