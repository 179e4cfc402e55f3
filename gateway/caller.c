/*
 * caller: see caller.h.
 */
#include "caller.h"
#include "metrics.h"

void caller_send_error(struct caller *c, uint64_t id, int code, const char *field,
                       const char *message, const char *message_zh)
{
    Minyi__V1__Error e = MINYI__V1__ERROR__INIT;
    Frame f = MINYI__V1__FRAME__INIT;
    metrics.errors[metrics_code_slot(code)]++;
    e.code = code;
    e.field = frame_bytes(field);
    e.message = frame_bytes(message);
    e.message_zh = frame_bytes(message_zh);
    if (code == MINYI__V1__ERROR_CODE__UNAVAILABLE)
        e.retry_after_ms = 1000;
    f.id = id;
    f.body_case = MINYI__V1__FRAME__BODY_ERROR;
    f.error = &e;
    caller_send(c, &f);
}
