/*
 * notify: telling the service manager (systemd, Type=notify) what the
 * gateway is doing, through libsystemd's sd_notify.  Each call is a no-op
 * when minyid was not started by a service manager (no NOTIFY_SOCKET).
 */
#ifndef MINYI_NOTIFY_H
#define MINYI_NOTIFY_H

/* READY=1: the listener accepts connections (also after a reload). */
void notify_ready(const char *listen, int port);
/* RELOADING=1: SIGHUP is being handled; notify_ready follows. */
void notify_reloading(void);
/* STOPPING=1: the gateway stops accepting and finishes what is in flight. */
void notify_stopping(void);

#endif
