/*
 * notify: sd_notify for the service manager.  See notify.h.
 */
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

/* Bytes of one notification (a few KEY=value lines). */
#define NOTIFY_MSG_MAX 256

/* A failed notification is logged, never fatal: the gateway serves either
 * way, and systemd reports a start that never became ready by itself. */
static void send_state(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0)
        log_warnx("event=notify_failed state=\"%s\" error=\"%s\"", state, strerror(-rc));
}

void notify_ready(const char *listen, int port)
{
    char msg[NOTIFY_MSG_MAX];
    snprintf(msg, sizeof(msg), "READY=1\nSTATUS=accepting connections on %s port %d", listen,
             port);
    send_state(msg);
}

void notify_reloading(void)
{
    send_state("RELOADING=1\nSTATUS=reloading the configuration");
}

void notify_stopping(void)
{
    send_state("STOPPING=1\nSTATUS=stopping: finishing requests in flight");
}
