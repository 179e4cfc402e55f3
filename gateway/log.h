/*
 * log: the one logger of minyid and of the store library it links: one line
 * per event, key=value, to stderr, and to syslog (journald) as well when
 * [log] syslog is on.  Lines below the configured level are dropped
 * everywhere, in the gateway and in the store alike.
 * log_warn appends the current errno's text; log_warnx does not.
 * Never log report text or personal data above debug level.
 */
#ifndef MINYI_LOG_H
#define MINYI_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int log_level_parse(const char *s);
int log_enabled(enum log_level level);
/* Sends every line from now on to syslog under ident as well (on), or no
 * longer (off).  ident must stay valid while syslog is on. */
void log_set_syslog(bool on, const char *ident);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A broken invariant: log and abort. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
