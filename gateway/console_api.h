/*
 * console_api: the console's JSON API under /api/ (proto/CONSOLE.md).
 */
#ifndef MINYI_CONSOLE_API_H
#define MINYI_CONSOLE_API_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "console.h"

/* Makes the answer of r from m, an operation's successful answer (the
 * body of its answer frame), and answers r with it. */
typedef void (*console_api_render)(struct console_req *r, const ProtobufCMessage *m);

/* The route handler for /api/. */
void console_api_handle(struct console_req *r);
/* Runs the operation name (a request field of Frame that browsers may
 * send) with body, its request message as JSON, for r's principal:
 * mapped, packed and decoded again under the protocol's budget, and
 * dispatched as a protocol session's frame is.  A refusal is answered as
 * JSON {code, field, message, message_zh}; an answer by render, or as JSON
 * when render is NULL. */
void console_api_run(struct console_req *r, const char *name, const json_t *body,
                     console_api_render render);

#endif
