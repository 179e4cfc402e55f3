/*
 * dispatch_issue: 专报 issues (PROTOCOL.md §3.15).  Editors compose
 * (issue_new, issue_add, issue_remove, issue_publish) and send a published
 * issue to an external destination (issue_send); editors, offices
 * and admins read (issue_show, issue_list); anyone else is
 * PERMISSION_DENIED on "principal.kind".  Text is validated here like a
 * report's (clean UTF-8, NFC, limits); storage/issue.h does the rest.
 */
#ifndef MINYI_DISPATCH_ISSUE_H
#define MINYI_DISPATCH_ISSUE_H

#include <stdbool.h>

#include "frame.h"
#include "caller.h"
#include "server.h"

/* The years an issue may be numbered in. */
#define DISPATCH_ISSUE_YEAR_MIN 2000
#define DISPATCH_ISSUE_YEAR_MAX 2999

/* Handles f when its body is one of the issue requests and returns true
 * (the request is then answered, now or later); false for any other body. */
bool dispatch_issue_frame(struct caller *c, const Frame *f);

#endif
