/*
 * console_api: the console's JSON API under /api/ (proto/CONSOLE.md).
 */
#ifndef MINYI_CONSOLE_API_H
#define MINYI_CONSOLE_API_H

#include "console.h"

/* The route handler for /api/. */
void console_api_handle(struct console_req *r);

#endif
