/*
 * dispatch_office: the office's reads — the body's figures for a period
 * (stats) and the 考核 points of a year (points).  Offices, admins and
 * editors read the whole body; a contact point reads only its own reports'
 * figures and its own points; anyone else (a peer) is PERMISSION_DENIED on
 * "principal.kind".  The figures and points come from storage/office.h,
 * which derives them from the history.
 */
#ifndef MINYI_DISPATCH_OFFICE_H
#define MINYI_DISPATCH_OFFICE_H

#include <stdbool.h>

#include "frame.h"
#include "caller.h"
#include "server.h"

/* The first and last year a points request may name. */
#define DISPATCH_OFFICE_YEAR_MIN 2000
#define DISPATCH_OFFICE_YEAR_MAX 2999
/* A 考核 year runs from 1 January to 1 January in China Standard Time
 * (UTC+8 all year), whatever the server's zone. */
#define DISPATCH_OFFICE_TZ_OFFSET_S (8 * 3600)

/* Handles f when its body is stats or points and returns true (the
 * request is then answered, now or later); false for any other body. */
bool dispatch_office_frame(struct caller *c, const Frame *f);

#endif
