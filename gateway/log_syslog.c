#include <syslog.h>

#include "log_syslog.h"

/* The logger's levels, debug to error, as syslog priorities. */
static const int priorities[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

void log_syslog_open(const char *ident)
{
    /* LOG_NDELAY connects now, so a chroot or a sandbox set up later does
     * not cut the daemon off from the log socket. */
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_syslog_close(void)
{
    closelog();
}

void log_syslog_write(int level, const char *line)
{
    if (level < 0 || level > 3)
        level = 3;
    syslog(priorities[level], "%s", line);
}
