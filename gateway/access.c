/*
 * access: see access.h.
 */
#include "access.h"

#include "console_events.h"
#include "log.h"

void access_deny(struct session *s, const char *reason)
{
    if (s->state == SESSION_DEAD || s->state == SESSION_CLOSING)
        return;
    log_info("event=access_denied sid=%llu principal=%lld reason=\"%s\"",
             (unsigned long long)s->sid, (long long)s->caller.principal.id, reason);
    session_send_error(s, 0, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "certificate",
                       "this certificate's principal is no longer active",
                       "证书对应的主体已停用");
    session_close_after_flush(s, reason);
}

void access_principal_gone(void *arg, int64_t principal_id)
{
    struct gw *gw = arg;
    struct session *s = gw->sessions;
    int closed = 0;

    while (s != NULL) {
        /* A close may unlink s: take the next one first. */
        struct session *after = s->next;
        if (s->state == SESSION_READY && s->caller.principal.id == principal_id) {
            access_deny(s, "principal disabled");
            closed++;
        }
        s = after;
    }
    closed += console_events_principal_gone(gw, principal_id);
    log_info("event=principal_gone principal=%lld closed=%d", (long long)principal_id, closed);
}
