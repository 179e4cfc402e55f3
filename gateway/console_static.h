/*
 * console_static: the console's pages, scripts and styles — small static
 * files in [console] dir, read into memory when the console starts (and
 * again on SIGHUP), so answering them never touches the disk from the
 * event loop.  Only the directory's top level is served, only names made of
 * letters, digits, '-', '_' and '.', and only the types listed in
 * console_static.c; "/" is index.html.
 */
#ifndef MINYI_CONSOLE_STATIC_H
#define MINYI_CONSOLE_STATIC_H

#include <stdbool.h>
#include <stddef.h>

#include "console.h"

/* Files held at most, and bytes of any one and of all of them. */
#define CONSOLE_STATIC_FILES_MAX 64
#define CONSOLE_STATIC_FILE_MAX (512u << 10)
#define CONSOLE_STATIC_TOTAL_MAX (4u << 20)

struct console_static;

/* Reads the files of dir.  NULL with a reason in err when dir cannot be
 * read or holds more than the limits allow. */
struct console_static *console_static_load(const char *dir, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void console_static_free(struct console_static *st);

/* The route handler: answers GET of a held file, 404 otherwise. */
void console_static_handle(struct console_req *r);

#endif
