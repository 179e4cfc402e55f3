/*
 * log_syslog: the logger's syslog side.  A file of its own because
 * <syslog.h> defines LOG_DEBUG and LOG_INFO as macros, which would clash
 * with the logger's own level names.
 */
#ifndef MINYI_LOG_SYSLOG_H
#define MINYI_LOG_SYSLOG_H

void log_syslog_open(const char *ident);
void log_syslog_close(void);
/* Writes one line at the logger's level (0 debug .. 3 error). */
void log_syslog_write(int level, const char *line);

#endif
