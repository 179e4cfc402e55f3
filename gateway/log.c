#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "log_syslog.h"

/* Longest line written, in bytes; a longer one is cut. */
#define LOG_LINE_MAX 2048

static enum log_level current_level = LOG_INFO;
static bool to_syslog;
static const char *level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
    current_level = level;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int log_enabled(enum log_level level)
{
    return level >= current_level;
}

void log_set_syslog(bool on, const char *ident)
{
    if (on && !to_syslog)
        log_syslog_open(ident);
    else if (!on && to_syslog)
        log_syslog_close();
    to_syslog = on;
}

/* One write per line, so lines from several processes sharing a stderr do
 * not interleave within a line.  Syslog gets the line without our time
 * stamp, since it stamps each message itself. */
static void log_emit(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int stamp = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ts.tv_nsec / 1000000);
    if (stamp < 0)
        return;
    int n = snprintf(line + stamp, sizeof(line) - (size_t)stamp, "level=%s ", level_names[level]);
    if (n < 0)
        return;
    n += stamp;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (m < 0)
        return;
    size_t len = strlen(line);
    if (suffix != NULL && len < sizeof(line) - 1)
        len += (size_t)snprintf(line + len, sizeof(line) - len, " error=\"%s\"", suffix);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    if (to_syslog) {
        line[len] = '\0';
        log_syslog_write((int)level, line + stamp);
    }
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < current_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_emit(level, NULL, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    int saved = errno;
    if (LOG_WARN < current_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_emit(LOG_WARN, strerror(saved), fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit(LOG_ERROR, "fatal", fmt, ap);
    va_end(ap);
    abort();
}
